"""Training options (TrainConfig), their errors, and device names."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from collections.abc import Sequence
from typing import Any

from designer.params import ParamSpec

log = logging.getLogger(__name__)
OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine", "onecycle")
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("fp32", "bf16", "fp16")
STATUSES = ("completed", "stopped", "diverged", "failed")
DIVERGED_RATIO = 10.0

# --------------------------------------------------------------------------- configuration


class ConfigError(ValueError):
    """A training option has a bad value; the message names the field and quotes what was received."""


class TrainingError(Exception):
    """A problem with the model or data that the user can fix; its message is shown as is."""


def _describe(value: Any) -> str:
    """A received value, quoted for an error message."""
    return f"{value!r} ({type(value).__name__})"


def _check_int(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be a whole number; received {_describe(value)}")
    if low is not None and value < low:
        raise ConfigError(f"{name} must be at least {low}; received {value}")
    if high is not None and value > high:
        raise ConfigError(f"{name} must be at most {high:,}; received {value}")
    return value


def _check_float(name: str, value: Any, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number; received {_describe(value)}")
    if low is not None and (value <= low if low_open else value < low):
        bound = "greater than" if low_open else "at least"
        raise ConfigError(f"{name} must be {bound} {low:g}; received {value}")
    if high is not None and (value >= high if high_open else value > high):
        bound = "less than" if high_open else "at most"
        raise ConfigError(f"{name} must be {bound} {high:g}; received {value}")
    return float(value)


def _check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; received {_describe(value)}")
    return value


# --------------------------------------------------------------------------- the declaration
#
# One ParamSpec per training option: name, kind, default, bounds, help, choices. Validation
# (TrainConfig), the command line's flags, the Train form, the torchrun flags and the exported
# train.py's argparse are all generated from OPTIONS, so their names, defaults and bounds agree.
# extra: label (the form), more (under the form's "More" expander), open (bounds excluded:
# "low", "high"), train_py (train.py has the option; its flag is --name-with-dashes), cli (the
# flag of `python -m designer train`, default --name-with-dashes), form (False: not in the form).


def _opt(name: str, kind: str, default: Any, help: str, label: str, *, more: bool = False,
         open: tuple[str, ...] = (), train_py: bool = True, form: bool = True, cli: str | None = None,
         **kw: Any) -> ParamSpec:
    extra = {"label": label, "more": more, "open": open, "train_py": train_py, "form": form,
             "cli": cli or "--" + name.replace("_", "-")}
    return ParamSpec(name=name, kind=kind, default=default, help=help, extra=extra, **kw)


OPTIONS: tuple[ParamSpec, ...] = (
    _opt("epochs", "int", 5, "passes over the training data", "Epochs", min=1, max=100_000),
    _opt("batch_size", "int", 64, "samples per step (per process under torchrun)", "Batch size", min=1, max=65_536),
    _opt("lr", "float", 1e-3, "learning rate (the peak of a schedule)", "Learning rate", min=0.0, open=("low",)),
    _opt("optimizer", "choice", "adam", "the optimizer (SGD uses momentum)", "Optimizer", choices=OPTIMIZERS),
    _opt("weight_decay", "float", 0.0, "weight decay (decoupled for AdamW)", "Weight decay", min=0.0),
    _opt("schedule", "choice", "constant", "learning-rate schedule: cosine anneals to 0, onecycle warms up "
         "over 30% of the steps, step multiplies by gamma every step_size epochs", "Schedule", choices=SCHEDULES),
    _opt("grad_clip", "float", None, "clip the gradients' global norm to this (none: no clipping)", "Grad clip",
         min=0.0, open=("low",), nullable=True),
    _opt("device", "choice", "auto", "where to train: auto picks cuda, then mps, then cpu", "Device",
         choices=DEVICES),
    _opt("momentum", "float", 0.9, "SGD momentum", "Momentum", min=0.0, max=1.0, open=("high",), more=True),
    _opt("step_size", "int", 1, "epochs between the decays of the 'step' schedule", "Step size", min=1, more=True),
    _opt("gamma", "float", 0.5, "the factor of each decay of the 'step' schedule", "Gamma", min=0.0, max=1.0,
         open=("low",), more=True),
    _opt("max_steps", "int", None, "stop after this many optimizer steps (none: run every epoch)", "Max steps",
         min=1, nullable=True, more=True),
    _opt("precision", "choice", "fp32", "mixed precision (CUDA only; fp32 elsewhere)", "Precision",
         choices=PRECISIONS, more=True),
    _opt("compile", "bool", False, "torch.compile the model", "torch.compile", more=True),
    _opt("seed", "int", 0, "seeds the weights, the data order and dropout", "Seed", min=0, max=2**32 - 1,
         more=True),
    _opt("stats_every", "int", 0, "every K optimizer steps, record each layer's activation mean/std, dead "
         "fraction, gradient norm and update ratio (0: off; every 50 costs about 4 % of throughput)",
         "Stats every K steps", min=0, max=1_000_000, more=True),
    _opt("checkpoint_dir", "str", None, "folder for checkpoints (best/last .safetensors)", "Checkpoints",
         nullable=True, train_py=False, form=False, cli="--out"),
)
OPTION = {o.name: o for o in OPTIONS}


def check_option(option: ParamSpec, value: Any) -> Any:
    """The value, checked against its declaration and normalised (ints stay int, floats become float);
    ConfigError naming the option and quoting what was received otherwise."""
    name, kind, opened = option.name, option.kind, option.extra["open"]
    if value is None and option.nullable:
        return None
    if kind == "int":
        return _check_int(name, value, None if option.min is None else int(option.min),
                          None if option.max is None else int(option.max))
    if kind == "float":
        return _check_float(name, value, option.min, option.max, "low" in opened, "high" in opened)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false; received {_describe(value)}")
        return value
    if name == "device":
        return _check_device_name(value)
    if kind == "choice":
        return _check_choice(name, value, option.choices)
    if not isinstance(value, (str, os.PathLike)):
        raise ConfigError(f"{name} must be a folder path; received {_describe(value)}")
    return os.fspath(value)


class _ConfigMethods:
    """The methods of TrainConfig (its fields come from OPTIONS)."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ConfigError (a ValueError) naming the first bad field; normalise numbers to their types."""
        for option in OPTIONS:
            setattr(self, option.name, check_option(option, getattr(self, option.name)))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        """Build from plain data; unknown keys and bad values raise ValueError."""
        if not isinstance(data, dict):
            raise ConfigError(f"a training configuration must be an object; received {_describe(data)}")
        unknown = sorted(set(data) - set(OPTION))
        if unknown:
            raise ConfigError(f"unknown training option(s) {', '.join(map(repr, unknown))}; "
                              f"known: {', '.join(sorted(OPTION))}")
        return cls(**data)


_TYPES = {"int": "int", "float": "float", "bool": "bool", "choice": "str", "str": "str"}

TrainConfig = dataclasses.make_dataclass(
    "TrainConfig",
    [(o.name, _TYPES[o.kind] + (" | None" if o.nullable else ""), dataclasses.field(default=o.default))
     for o in OPTIONS],
    bases=(_ConfigMethods,),
)
TrainConfig.__module__ = __name__
TrainConfig.__doc__ = """How to train: plain data that round-trips through `to_dict` / `from_dict`.

Its fields are OPTIONS (designer.train.config), each with its declared default; values are
checked on construction, and a bad one raises ValueError naming the field and quoting what was
received.
"""


# --------------------------------------------------------------------------- the command line


def add_config_flags(parser: Any) -> None:
    """Add one flag per option to an argparse parser (`python -m designer train`); defaults are OPTIONS'."""
    for o in OPTIONS:
        flag, help_text = o.extra["cli"], o.help.replace("%", "%%")
        if o.default is not None and o.kind != "bool":
            help_text += f" (default: {o.default:g})" if isinstance(o.default, float) else f" (default: {o.default})"
        if o.kind == "bool":
            parser.add_argument(flag, action="store_true", dest=o.name, help=help_text)
            continue
        kw: dict[str, Any] = {"dest": o.name, "default": o.default, "help": help_text}
        if o.kind == "choice" and o.name != "device":
            kw["choices"] = list(o.choices)
        elif o.name == "device":  # cuda:N is accepted too, so no argparse choices
            kw["metavar"] = "{" + ",".join(o.choices) + "}"
        elif o.kind == "str":
            kw["metavar"] = "DIR"
        elif o.kind in ("int", "float"):
            kw["metavar"] = "N" if o.kind == "int" else "X"  # text: config_from_args refuses it in one line
        parser.add_argument(flag, **kw)


def _from_text(option: ParamSpec, value: Any) -> Any:
    if not isinstance(value, str) or option.kind not in ("int", "float"):
        return value
    try:
        return int(value) if option.kind == "int" else float(value)
    except ValueError:
        what = "a whole number" if option.kind == "int" else "a number"
        raise ConfigError(f"{option.extra['cli']} must be {what}; received {value[:40]!r}") from None


def config_from_args(args: Any, **overrides: Any) -> Any:
    """The TrainConfig of parsed flags (see add_config_flags); ConfigError names the bad option."""
    values = {o.name: _from_text(o, getattr(args, o.name, o.default)) for o in OPTIONS}
    values.update(overrides)
    return TrainConfig(**values)


# --------------------------------------------------------------------------- the Train form


def form_options(more: bool | None = None) -> list[ParamSpec]:
    """The options the Train form shows (all but checkpoint_dir): the main ones, or those under "More"."""
    return [o for o in OPTIONS if o.extra["form"] and (more is None or o.extra["more"] == more)]


def config_from_form(values: dict[str, Any]) -> Any:
    """The TrainConfig of the form's values: a nullable number's 0 means none; missing values take
    their defaults. ConfigError names the bad option."""
    out: dict[str, Any] = {}
    for o in OPTIONS:
        if o.name not in values:
            continue
        value = values[o.name]
        if o.nullable and o.kind in ("int", "float") and value in (0, 0.0, None):
            value = None
        elif o.kind == "int" and isinstance(value, float) and value.is_integer():
            value = int(value)
        out[o.name] = value
    return TrainConfig(**out)


# --------------------------------------------------------------------------- train.py (exported, torchrun)


def train_py_flags(config: Any, device: str | None = None) -> list[str]:
    """The exported train.py's flags for a config, every declared option given (torchrun's command line);
    `device` replaces the config's (train.py takes cpu or cuda, not cuda:N)."""
    flags: list[str] = []
    for o in OPTIONS:
        if not o.extra["train_py"]:
            continue
        value = device if o.name == "device" and device is not None else getattr(config, o.name)
        flag = "--" + o.name.replace("_", "-")
        if o.kind == "bool":
            flags += [flag] if value else []
        elif value is not None:
            flags += [flag, repr(float(value)) if o.kind == "float" else str(value)]
    return flags


def _call(args: list[str], indent: int = 4, width: int = 88) -> list[str]:
    """`arg(a, b, ...)` laid out as ruff format lays it out: one line if it fits, else one argument a line."""
    one = " " * indent + "arg(" + ", ".join(args) + ")"
    if len(one) <= width and "\n" not in one:
        return [one]
    return [" " * indent + "arg(", *(" " * (indent + 4) + a + "," for a in args), " " * indent + ")"]


def _help_literal(text: str, indent: int) -> str:
    """A help string literal (argparse escapes % as %%), split over lines past 88 columns."""
    text = text.replace("%", "%%")
    room = 88 - indent - len("help=") - 2
    if len(text) <= room:
        return f'help="{text}"'
    chunks, line = [], ""
    for w in text.split(" "):
        if line and len(line) + 1 + len(w) > room - 1:
            chunks.append(line + " ")
            line = w
        else:
            line = f"{line} {w}" if line else w
    chunks.append(line)
    pad = " " * indent
    return "help=" + f"\n{pad}".join(f'"{c}"' for c in chunks)


def train_py_arguments() -> str:
    """The exported train.py's argparse lines for the declared options (inside parse_args)."""
    lines: list[str] = []
    for o in OPTIONS:
        if not o.extra["train_py"]:
            continue
        args = [f'"--{o.name.replace("_", "-")}"']
        if o.kind == "bool":
            args.append('action="store_true"')
        else:
            if o.kind in ("int", "float"):
                args.append(f"type={o.kind}")
            if o.default is not None:
                args.append(f"default={json.dumps(o.default) if isinstance(o.default, str) else repr(o.default)}")
            if o.kind == "choice":
                args.append("choices=[" + ", ".join(f'"{c}"' for c in o.choices) + "]")
        args.append(_help_literal(o.help, 8))
        lines += _call(args)
    return "\n".join(lines)


def _number(kind: str, v: float) -> str:
    return str(int(v)) if kind == "int" else repr(float(v))


def train_py_checks() -> str:
    """The exported train.py's checks of the declared options' bounds (parser.error on a bad value)."""
    lines: list[str] = []
    for o in OPTIONS:
        if not o.extra["train_py"] or o.kind not in ("int", "float") or (o.min is None and o.max is None):
            continue
        var, flag, opened = f"args.{o.name}", "--" + o.name.replace("_", "-"), o.extra["open"]
        conds, words = [], []
        if o.min is not None:
            low_open = "low" in opened
            conds.append(f"{var} {'<=' if low_open else '<'} {_number(o.kind, o.min)}")
            words.append(f"{'above' if low_open else 'at least'} {_number(o.kind, o.min)}")
        if o.max is not None:
            high_open = "high" in opened
            conds.append(f"{var} {'>=' if high_open else '>'} {_number(o.kind, o.max)}")
            words.append(f"{'below' if high_open else 'at most'} {_number(o.kind, o.max)}")
        cond = " or ".join(conds)
        if o.nullable:
            cond = f"{var} is not None and ({cond})" if len(conds) > 1 else f"{var} is not None and {cond}"
        lines.append(f"    if {cond}:")
        lines.append(f'        parser.error("{flag} must be {" and ".join(words)}")')
    return "\n".join(lines)


def _check_device_name(name: Any) -> str:
    """'auto', 'cpu', 'mps', 'cuda' or 'cuda:N'."""
    if isinstance(name, str) and (name in DEVICES or (name.startswith("cuda:") and name[5:].isdigit())):
        return name
    raise ConfigError(f"device must be one of {', '.join(DEVICES)} (or cuda:N); received {_describe(name)}")


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(name: str) -> Any:
    """The torch device for a config's device name; 'auto' picks cuda, then mps, then cpu.

    Asking for a device this machine lacks raises ValueError saying so.
    """
    import torch  # lazily: the command line's --help and the form's declarations need no torch

    name = _check_device_name(name)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} was asked for but CUDA is not available here; use 'auto' or 'cpu'")
        index = int(name[5:]) if ":" in name else None
        if index is not None and index >= torch.cuda.device_count():
            raise ConfigError(f"device {name!r} was asked for but this machine has "
                             f"{torch.cuda.device_count()} CUDA device(s)")
        return torch.device(name)
    if name == "mps" and not _mps_available():
        raise ConfigError("device 'mps' was asked for but MPS is not available here; use 'auto' or 'cpu'")
    return torch.device(name)


def device_key(device: Any) -> str:
    """A stable name for a device, used to count the runs sharing it ('cpu', 'cuda:0')."""
    import torch

    if device.type == "cuda":
        return f"cuda:{device.index if device.index is not None else torch.cuda.current_device()}"
    return device.type


