"""Training options are declared once (designer.train.config.OPTIONS): validation, the command line's flags,
the Train form, the torchrun flags and the exported train.py's argparse all follow it, defaults included."""

from __future__ import annotations

import argparse
import sys
import types
from pathlib import Path

import pytest

from designer import load_design
from designer.codegen import generate_train_py
from designer.train.config import (
    OPTIONS,
    ConfigError,
    TrainConfig,
    add_config_flags,
    config_from_args,
    config_from_form,
    form_options,
    train_py_flags,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULTS = {o.name: o.default for o in OPTIONS}


def test_the_config_has_exactly_the_declared_options_and_defaults():
    assert TrainConfig().to_dict() == DEFAULTS
    assert DEFAULTS["epochs"] == 5 and DEFAULTS["optimizer"] == "adam"


def test_the_command_line_flags_follow_the_declaration():
    parser = argparse.ArgumentParser()
    add_config_flags(parser)
    assert config_from_args(parser.parse_args([])) == TrainConfig()
    args = parser.parse_args(["--epochs", "2", "--momentum", "0.5", "--step-size", "2", "--gamma", "0.1",
                              "--max-steps", "9", "--compile", "--out", "ckpt", "--grad-clip", "1.5"])
    config = config_from_args(args)
    assert (config.epochs, config.momentum, config.step_size, config.gamma, config.max_steps, config.compile,
            config.checkpoint_dir, config.grad_clip) == (2, 0.5, 2, 0.1, 9, True, "ckpt", 1.5)
    with pytest.raises(ConfigError, match="gamma must be at most 1"):
        config_from_args(parser.parse_args(["--gamma", "2"]))


def _train_py_parse_args():
    """The exported train.py's own parse_args, run from its text (it is standalone: no designer import)."""
    source = generate_train_py(load_design(ROOT / "assets/templates/lenet5.json"))
    assert "designer" not in "".join(line for line in source.splitlines() if line.startswith(("import", "from")))
    model = types.ModuleType("model")
    model.Model = object  # train.py imports the exported model.py beside it; parse_args needs none of it
    saved = sys.modules.get("model")
    sys.modules["model"] = model
    module = types.ModuleType("exported_train")
    try:
        exec(compile(source, "train.py", "exec"), module.__dict__)
    finally:
        if saved is None:
            sys.modules.pop("model", None)
        else:
            sys.modules["model"] = saved
    return module.parse_args


def test_the_exported_train_py_takes_the_same_options_with_the_same_defaults():
    args = _train_py_parse_args()([])
    for o in OPTIONS:
        if o.extra["train_py"]:
            assert getattr(args, o.name) == o.default, o.name


def test_train_py_accepts_the_torchrun_flags_of_any_config_and_refuses_what_the_config_refuses():
    parse = _train_py_parse_args()
    config = TrainConfig(epochs=2, optimizer="sgd", momentum=0.5, schedule="step", step_size=2, gamma=0.25,
                         grad_clip=1.0, max_steps=4, precision="bf16", compile=True, seed=7)
    args = parse(train_py_flags(config))
    assert {o.name: getattr(args, o.name) for o in OPTIONS if o.extra["train_py"]} == {
        k: v for k, v in config.to_dict().items() if k != "checkpoint_dir"}
    for bad in (["--gamma", "0"], ["--momentum", "1"], ["--epochs", "0"], ["--lr", "0"]):
        with pytest.raises(SystemExit):
            parse(bad)


def test_the_form_reaches_every_option_and_its_zero_means_none():
    shown = {o.name for o in form_options()}
    assert shown == set(DEFAULTS) - {"checkpoint_dir"}
    assert {"momentum", "step_size", "gamma", "max_steps"} <= {o.name for o in form_options(more=True)}
    config = config_from_form({"epochs": 3.0, "grad_clip": 0.0, "max_steps": 0, "momentum": 0.8})
    assert (config.epochs, config.grad_clip, config.max_steps, config.momentum) == (3, None, None, 0.8)
    with pytest.raises(ConfigError, match="momentum"):
        config_from_form({"momentum": 1.0})
