"""The end of a run on the Train page: what it reached against a trivial baseline, and validation samples
with their predicted and true labels. Draws only; the numbers come from designer.run_report."""

from __future__ import annotations

import streamlit as st


def render_sample_grid(job, result: dict) -> None:
    """For image datasets: validation samples with their predicted and true labels."""
    ds = job.dataset
    if len(ds.input_shape) != 3 or not result.get("last_path"):
        return
    predictions = _predictions(job.job_id, result["last_path"], job)
    if predictions is None:
        return
    images, predicted, truth = predictions
    classes = ds.classes or [str(i) for i in range(ds.task.get("num_classes", 0))]
    cols = st.columns(8)
    for i in range(len(images)):
        ok = "✓" if predicted[i] == truth[i] else "✗"
        cols[i % 8].image(images[i], caption=f"{ok} {classes[predicted[i]]}", clamp=True, width="stretch")


@st.cache_data(max_entries=4, show_spinner=False)
def _predictions(job_id: str, weights: str, _job):
    import torch

    from designer.training import load_checkpoint

    job = _job
    if job is None:
        return None

    model = load_checkpoint(job.model_factory(), weights).eval()
    x = job.dataset.x_val[:16]
    with torch.no_grad():
        predicted = model(x).argmax(dim=1).tolist()
    images = x.permute(0, 2, 3, 1).numpy() if x.shape[1] == 3 else x[:, 0].numpy()
    return images, predicted, job.dataset.y_val[:16].tolist()
