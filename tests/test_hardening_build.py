"""Layer names that are module attributes, the memory estimate before building, and a run that ends far
above where it started (issue 16)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from designer.build import _RESERVED, build_model
from designer.codegen import generate_model_py
from designer.datasets import load_dataset
from designer.design import new_design
from designer.training import TrainConfig, Trainer

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]


def _instance_attributes() -> set[str]:
    """Every attribute a live module has, found independently of designer.build: the instance's own and its
    class's, for the exported Model (nn.Module) and the live network (nn.Sequential)."""
    names: set[str] = set()
    for module in (nn.Module(), nn.Sequential(), nn.Sequential(nn.ReLU())):
        names |= set(vars(module)) | set(dir(module))
    return names


def test_every_attribute_of_a_live_module_is_reserved():
    missing = sorted(_instance_attributes() - _RESERVED)
    assert not missing, missing
    assert "training" in _RESERVED and "append" in _RESERVED


def test_layers_named_like_module_attributes_build_export_and_switch_modes():
    names = sorted(n for n in _instance_attributes() if not n.startswith("__"))
    assert len(names) > 80
    layers = [{"type": "Identity", "name": name} for name in names] + [{"type": "Linear", "out_features": 3,
                                                                         "name": "training"}]
    design = new_design("attributes", [4], layers=layers)
    model = build_model(design)
    model.eval()
    assert not model.training
    model.train()
    assert model.training
    attributes = [n for n, _ in model.named_children()]
    assert not set(attributes) & _instance_attributes()
    namespace: dict = {}
    exec(compile(generate_model_py(design), "model.py", "exec"), namespace)  # our generated code, not user code
    exported = namespace["Model"]()
    assert exported.eval() is exported and not exported.training
    assert exported(torch.zeros(2, 4)).shape == (2, 3)
    assert list(exported.state_dict()) == list(model.state_dict())


def test_a_design_with_a_layer_named_training_trains():
    design = json.loads((ROOT / "assets/templates/mlp_signals.json").read_text())
    design["layers"][0]["name"] = "training"
    design["layers"][2]["name"] = "eval"
    result = Trainer(lambda: build_model(design), load_dataset("signals"),
                     TrainConfig(epochs=1, batch_size=256, max_steps=5, device="cpu")).run()
    assert result.status == "completed", result.message


def test_the_memory_estimate_comes_before_the_model_is_built():
    design = json.loads((ROOT / "assets/templates/mlp_signals.json").read_text())
    built: list[str] = []

    def factory():
        model = build_model(design)
        built.append(next(model.parameters()).device.type)
        return model

    result = Trainer(factory, load_dataset("signals"), TrainConfig(epochs=1, device="cpu"),
                     memory_available=1000).run()
    assert result.status == "failed" and "memory" in result.message
    assert built == ["meta"]  # the refusal came from the estimate; no real weight was made
    built.clear()
    result = Trainer(factory, load_dataset("signals"), TrainConfig(epochs=1, max_steps=2, device="cpu")).run()
    assert result.status == "completed" and built == ["meta", "cpu"]


def mlp_sequences() -> dict:
    return new_design("mlp", [32, 4], task={"kind": "classification", "num_classes": 4},
                      layers=[{"type": "Flatten"}, {"type": "Linear", "out_features": 64}, {"type": "ReLU"},
                              {"type": "Linear", "out_features": 4}])


def test_a_loss_that_ends_far_above_its_start_is_diverged():
    design, data = mlp_sequences(), load_dataset("sequences")
    # Adam at lr 1e6: the cross-entropy stays finite (no inf, no NaN) but ends orders of magnitude above its start
    result = Trainer(lambda: build_model(design), data,
                     TrainConfig(epochs=2, batch_size=128, lr=1e6, optimizer="adam", device="cpu")).run()
    assert result.status == "diverged", result.message
    assert "more than 10× where it started" in result.message and "lower learning rate" in result.message
    sane = Trainer(lambda: build_model(design), data, TrainConfig(epochs=2, batch_size=128, lr=1e-3, device="cpu")).run()
    assert sane.status == "completed", sane.message
