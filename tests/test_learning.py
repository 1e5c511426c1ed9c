"""The templates learn their matching built-in datasets: thresholds that mean real learning."""

from __future__ import annotations

import pytest
import torch

from designer.build import build_model
from designer.datasets import load_dataset
from designer.templates import load_template
from designer.training import TrainConfig, Trainer

# template, dataset, config, (metric, threshold): chance is 0.1 for shapes, 0.25 for tokens/sequences
CASES = [
    ("cnn_shapes", "shapes", dict(epochs=3, batch_size=32, lr=3e-3), ("val_accuracy", 0.8)),
    ("transformer_classifier", "tokens", dict(epochs=2, batch_size=64, lr=1e-3), ("val_accuracy", 0.6)),
    ("lstm_classifier", "sequences", dict(epochs=6, batch_size=64, lr=3e-3), ("val_accuracy", 0.6)),
    # today's architectures (measured: gpt 0.73, llama 0.86, vit 0.40, efficientnet 0.96)
    ("gpt_decoder", "tokens", dict(epochs=2, batch_size=64, lr=1e-3), ("val_accuracy", 0.55)),
    ("llama_decoder", "tokens", dict(epochs=2, batch_size=64, lr=2e-3), ("val_accuracy", 0.6)),
    ("vit_small", "shapes-rgb", dict(epochs=3, batch_size=64, lr=1e-3), ("val_accuracy", 0.25)),
    ("efficientnet_cifar", "shapes-rgb", dict(epochs=2, batch_size=64, lr=3e-3), ("val_accuracy", 0.6)),
]


@pytest.mark.parametrize("template,dataset,config,goal", CASES, ids=[c[0] for c in CASES])
def test_template_learns_its_dataset(template, dataset, config, goal):
    torch.set_num_threads(1)
    design = load_template(template)
    data = load_dataset(dataset, seed=0)
    result = Trainer(lambda: build_model(design), data, TrainConfig(device="cpu", seed=0, **config)).run()
    assert result.status == "completed", result.message
    metric, threshold = goal
    assert getattr(result, metric) >= threshold, (metric, getattr(result, metric))


def test_mlp_forecasts_signals_better_than_the_mean():
    torch.set_num_threads(1)
    data = load_dataset("signals", seed=0)
    baseline = ((data.y_val - data.y_train.mean(dim=0)) ** 2).mean().item()
    design = load_template("mlp_signals")
    result = Trainer(lambda: build_model(design), data, TrainConfig(device="cpu", epochs=4, batch_size=64, lr=2e-3)).run()
    assert result.status == "completed", result.message
    assert result.val_loss < 0.6 * baseline, (result.val_loss, baseline)


def test_wavenet_forecasts_signals_better_than_the_mean():
    """The gated causal stack (measured: val loss 0.27 against 0.58 for the mean)."""
    torch.set_num_threads(1)
    data = load_dataset("signals", seed=0)
    baseline = ((data.y_val - data.y_train.mean(dim=0)) ** 2).mean().item()
    design = load_template("wavenet_signals")
    result = Trainer(lambda: build_model(design), data,
                     TrainConfig(device="cpu", seed=0, epochs=3, batch_size=64, lr=3e-3)).run()
    assert result.status == "completed", result.message
    assert result.val_loss < 0.7 * baseline, (result.val_loss, baseline)


def test_mobilenetv2_learns_shapes_rgb_above_chance():
    """The inverted-residual stack at CIFAR size, on half of shapes-rgb for two epochs (the whole set
    takes minutes on 2 cores). Measured: 0.27 validation accuracy against 0.10 by chance."""
    import dataclasses

    torch.set_num_threads(1)
    data = load_dataset("shapes-rgb", seed=0)
    half = dataclasses.replace(data, x_train=data.x_train[:3000], y_train=data.y_train[:3000],
                               x_val=data.x_val[:500], y_val=data.y_val[:500])
    design = load_template("mobilenetv2_cifar")
    result = Trainer(lambda: build_model(design), half,
                     TrainConfig(device="cpu", seed=0, epochs=2, batch_size=64, lr=1e-2)).run()
    assert result.status == "completed", result.message
    assert result.val_accuracy >= 0.18, result.val_accuracy
