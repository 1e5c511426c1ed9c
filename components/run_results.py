"""The end of a run on the Train page: what it reached against the dataset's own baseline (chance, or
predicting the mean), and validation samples it got wrong with their true and predicted class.
Draws only; the numbers come from designer.run_report."""

from __future__ import annotations

import html

import streamlit as st

from components.text import md_text
from designer import run_report

WRONG_SHOWN = 8
PREDICTED_SAMPLES = 256  # validation samples looked at for the wrong ones


def render_headline(snap: dict, dataset) -> None:
    """After a run: its final accuracy against chance (or MAE against predicting the mean)."""
    result = snap.get("result") or {}
    if snap.get("status") in ("queued", "running") or not result or dataset is None:
        return
    line = run_report.headline(result, run_report.baseline_of_dataset(dataset))
    if line is None:
        return
    show = st.success if line["learned"] else st.warning
    with st.container(key="nw-headline"):
        show(f"**{md_text(line['title'])}**  \n{md_text(line['detail'])}",
             icon=":material/emoji_events:" if line["learned"] else ":material/info:")


def label_html(text: str) -> str:
    """A class name that wraps between words only: each word is kept whole (never "Snea-ker")."""
    return " ".join(f'<span class="nw-word" style="white-space:nowrap">{html.escape(w)}</span>'
                    for w in str(text).split()) or "&nbsp;"


def render_wrong_predictions(job, result: dict) -> None:
    """Validation samples the model got wrong: the sample (an image, where the data is images), its true
    class and the class the model gave."""
    ds = job.dataset
    if ds.task.get("kind") != "classification" or not result.get("last_path") or not getattr(job, "model_factory", None):
        return
    try:
        predictions = _predictions(job.job_id, result["last_path"], job)
    except (OSError, RuntimeError, ValueError, KeyError) as exc:  # a checkpoint gone or not this model's
        st.caption(md_text(f"Could not look at the validation samples: {exc}"))
        return
    if predictions is None:
        return
    predicted, truth = predictions
    classes = ds.classes or [str(i) for i in range(ds.task.get("num_classes", 0))]
    wrong = run_report.wrong_predictions(predicted, truth, classes, limit=WRONG_SHOWN)
    looked = len(predicted)
    missed = sum(p != t for p, t in zip(predicted, truth, strict=False))
    st.markdown(f"**Wrong predictions**: {missed} of the first {looked} validation samples")
    if not wrong:
        st.caption("None wrong among them.")
        return
    images = len(ds.input_shape) == 3
    cols = st.columns(4)
    for i, w in enumerate(wrong):
        with cols[i % 4].container(key=f"nw-wrong-{i}"):
            if images:
                x = ds.x_val[w["index"]]
                st.image(x.permute(1, 2, 0).numpy() if x.shape[0] == 3 else x[0].numpy(), clamp=True, width="stretch")
            else:
                st.caption(f"validation sample {w['index']}")
            st.html(f'<div class="nw-pred" style="font-size:0.85rem;line-height:1.3">'
                    f'<div>true: <b class="nw-true">{label_html(w["true"])}</b></div>'
                    f'<div style="color:#b91c1c">predicted: <b class="nw-predicted">{label_html(w["predicted"])}</b>'
                    f'</div></div>')


@st.cache_data(max_entries=4, show_spinner="Looking at the validation samples…")
def _predictions(job_id: str, weights: str, _job):
    from designer.training import load_checkpoint

    job = _job
    if job is None:
        return None
    model = load_checkpoint(job.model_factory(), weights)
    predicted = run_report.predict_classes(model, job.dataset.x_val[:PREDICTED_SAMPLES])
    return predicted, job.dataset.y_val[:PREDICTED_SAMPLES].tolist()
