"""The two quick checks before a long run: overfit one batch, and the LR range test."""

from __future__ import annotations

import copy

import pytest
import torch

from designer import build_model
from designer.datasets import load_dataset
from designer.probes import NEAR_ZERO, lr_find, overfit_one_batch
from designer.templates import list_templates, load_template
from designer.training import TrainConfig, Trainer


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.mark.parametrize("template", [t["id"] for t in list_templates()])
def test_every_template_memorises_one_batch(template):
    result = overfit_one_batch(load_template(template), batch_size=4, max_steps=300)
    assert result["passed"], result["causes"]
    assert result["final_loss"] <= NEAR_ZERO * result["initial_loss"]
    assert result["causes"] == [] and result["steps"] == len(result["losses"]) <= 300


def test_a_sigmoid_before_the_cross_entropy_fails_and_says_why():
    design = load_template("cnn_shapes")
    design["layers"].append({"type": "Sigmoid"})
    result = overfit_one_batch(design, batch_size=4, max_steps=150)
    assert not result["passed"] and result["steps"] == 150
    # scores squashed into (0, 1) cannot make one class certain: the loss stays far from zero
    assert result["final_loss"] > 0.5
    last = f"layers[{len(design['layers']) - 1}]"
    assert any("Sigmoid" in c and last in c and "logits" in c for c in result["causes"]), result["causes"]


def test_frozen_layers_are_named_as_the_cause():
    design = load_template("cnn_shapes")
    model = build_model(design)
    for p in model.parameters():
        p.requires_grad_(False)
    result = overfit_one_batch(design, model=model, batch_size=4, max_steps=20)
    assert not result["passed"] and "frozen" in result["causes"][0]
    for p in list(model.parameters())[-2:]:  # only the last layer learns: it cannot memorise the batch alone
        p.requires_grad_(True)
    result = overfit_one_batch(design, model=model, batch_size=16, max_steps=30)
    assert not result["passed"]
    assert any("frozen" in c for c in result["causes"]), result["causes"]


def test_lr_find_restores_the_model_and_optimizer_and_its_suggestion_trains_well():
    design = load_template("cnn_shapes")
    data = load_dataset("shapes", seed=0)
    model = build_model(design)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    before = copy.deepcopy(model.state_dict())
    found = lr_find(design, data.x_train, data.y_train, steps=100, batch_size=32, model=model, opt=opt)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert opt.param_groups[0]["lr"] == 1e-3 and not opt.state  # a fresh Adam again
    lrs, losses = found["lrs"], found["losses"]
    assert len(lrs) == len(losses) >= 10 and lrs == sorted(lrs)
    assert lrs[0] <= found["suggested_lr"] <= lrs[-1]
    # The suggestion trains at least as well as the default lr (one epoch each, same seed and data).
    default = TrainConfig().lr
    results = {lr: Trainer(lambda: build_model(design), data, TrainConfig(epochs=1, lr=lr, seed=0)).run()
               for lr in (default, found["suggested_lr"])}
    assert results[found["suggested_lr"]].val_loss <= results[default].val_loss
