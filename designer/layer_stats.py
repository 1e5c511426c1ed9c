"""Per-layer statistics while training (the log's "stats" event, design-format.md `--stats-every K`).

Every K optimizer steps, for each layer of the design (path as in the design):
- act_mean, act_std: of the layer's output on that step's batch;
- dead_fraction: the share of outputs exactly 0, for activations (null for other layers);
- grad_norm: the L2 norm of the gradients of the layer's own parameters (null without parameters);
- update_ratio: |Δw| / |w| of that step, over the layer's own parameters (null without parameters).

A collector only holds hooks during the steps it samples: the other steps run as if it were not
there. `layer_warnings` turns the rows into the advice the design shows on a card.

    stats = design_stats(model, design, every=50)
    ...
    stats.step(step)                  # step about to run (1-based): arms the hooks on sampled steps
    loss.backward()
    optimizer.step()
    event = stats.done(step)          # the event, or None on the steps not sampled
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

VANISHING_RELATIVE = 1e-7  # |grad| / |w| below this: the layer has stopped learning
EXPLODING_RELATIVE = 1e3  # |grad| / |w| above this (or not finite): gradients explode
DEAD_FRACTION = 0.9  # more than this share of an activation's outputs exactly 0


def _number(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _first_tensor(out: Any) -> torch.Tensor | None:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    return None


def layer_table(design: dict) -> list[tuple[str, str, str]]:
    """(path, family, dotted module name in the built model) of every layer (not block) of a design, in
    design order. A layer inside a Repeat appears once per copy, its path followed by " copy k"."""
    from designer.analysis import analyze
    from designer.build import attribute_names, placed

    analysis = analyze(design)
    if analysis.tree is None:
        return []
    names = attribute_names(analysis.tree)
    rows = [
        (inst.path, inst.spec.family, ".".join(str(s) for s in steps))
        for inst, steps in placed(analysis.tree, names)
        if not inst.spec.is_block
    ]
    counts: dict[str, int] = {}
    for path, _, _ in rows:
        counts[path] = counts.get(path, 0) + 1
    numbered: dict[str, int] = {}
    out = []
    for path, family, dotted in rows:
        if counts[path] > 1:
            numbered[path] = numbered.get(path, 0) + 1
            path = f"{path} copy {numbered[path]}"
        out.append((path, family, dotted))
    return out


def layer_modules(design: dict, model: nn.Module) -> list[tuple[str, str, nn.Module]]:
    """(path, family, module) of every layer of a model built from `design` (see layer_table)."""
    return [
        (path, family, model.get_submodule(dotted))
        for path, family, dotted in layer_table(design)
    ]


def design_stats(model: nn.Module, design: dict, every: int) -> LayerStats:
    """A collector for `model`, built from `design`, named by the design's paths."""
    return LayerStats(layer_modules(design, model), every)


class _Layer:
    """One layer the collector watches, and what it caught on the sampled step."""

    def __init__(
        self, path: str, family: str, module: nn.Module, params: list[nn.Parameter]
    ) -> None:
        self.path, self.family, self.module, self.params = path, family, module, params
        self.output: torch.Tensor | None = None
        self.before: list[torch.Tensor] | None = None
        self.grad_norm: float | None = None


class LayerStats:
    """Samples every `every`-th step; see the module's docstring for the calls."""

    def __init__(self, layers: list[tuple[str, str, nn.Module]], every: int) -> None:
        """`layers`: (path, family, module) in design order (design_stats makes them from a design; the
        exported train.py carries its own table, as it cannot analyse a design)."""
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ValueError(
                f"stats every must be a whole number of steps ≥ 1, got {every!r}"
            )
        self.every = every
        self.layers = [
            _Layer(p, f, m, [q for q in m.parameters() if q.requires_grad])
            for p, f, m in layers
        ]
        self._hooks: list[Any] = []
        self._armed = False

    def sampled(self, step: int) -> bool:
        return step % self.every == 0

    @property
    def armed(self) -> bool:
        return self._armed

    def arm(self) -> None:
        """Before the forward pass of a sampled step: hooks on every layer, and the weights as they are
        (the update ratio compares them with the weights after the step)."""
        self._drop_hooks()
        with torch.no_grad():
            for layer in self.layers:
                layer.output = None
                layer.before = (
                    [q.detach().clone() for q in layer.params] if layer.params else None
                )
                self._hooks.append(
                    layer.module.register_forward_hook(self._keeper(layer))
                )
        self._armed = True

    @staticmethod
    def _keeper(layer: _Layer):
        def hook(module, inputs, output):
            t = _first_tensor(output)
            layer.output = t.detach() if t is not None else None

        return hook

    def collect(self, step: int) -> dict[str, Any] | None:
        """After the optimizer step (gradients still set): the "stats" event of an armed step, else None."""
        if not self._armed:
            return None
        self._drop_hooks()
        self._armed = False
        with torch.no_grad():
            rows = []
            for layer in self.layers:
                grads = [q.grad for q in layer.params if q.grad is not None]
                layer.grad_norm = (
                    float(
                        torch.linalg.vector_norm(
                            torch.stack(
                                [torch.linalg.vector_norm(g.float()) for g in grads]
                            )
                        )
                    )
                    if grads
                    else None
                )
                rows.append(self._row(layer))
                layer.output, layer.before, layer.grad_norm = None, None, None
        return {"event": "stats", "step": step, "layers": rows}

    # A plain loop's calls: step() before the forward pass, done() after optimizer.step().
    def step(self, step: int) -> None:
        if self.sampled(step):
            self.arm()

    def done(self, step: int) -> dict[str, Any] | None:
        return self.collect(step)

    def _row(self, layer: _Layer) -> dict[str, Any]:
        row: dict[str, Any] = {
            "path": layer.path,
            "act_mean": None,
            "act_std": None,
            "grad_norm": None,
            "update_ratio": None,
            "dead_fraction": None,
        }
        out = layer.output
        if out is not None and out.numel() and out.is_floating_point():
            x = out.float()
            row["act_mean"] = _number(x.mean().item())
            row["act_std"] = _number(x.std(unbiased=False).item())
            if layer.family == "activation":
                row["dead_fraction"] = _number((x == 0).float().mean().item())
        if layer.params:
            if layer.grad_norm is not None:
                row["grad_norm"] = _number(layer.grad_norm)
                if row["grad_norm"] is None:
                    row["grad_finite"] = (
                        False  # inf or nan: the JSON log can only say null
                    )
            if layer.before is not None:
                delta = math.sqrt(
                    sum(
                        float(((q.detach() - b) ** 2).sum())
                        for q, b in zip(layer.params, layer.before, strict=True)
                    )
                )
                norm = math.sqrt(sum(float((b**2).sum()) for b in layer.before))
                row["update_ratio"] = _number(delta / norm) if norm > 0 else None
            row["weight_norm"] = _number(
                math.sqrt(sum(float((q.detach() ** 2).sum()) for q in layer.params))
            )
        return row

    def _drop_hooks(self) -> None:
        for h in self._hooks:
            h.remove()
        self._hooks.clear()

    def close(self) -> None:
        self._drop_hooks()


def layer_warnings(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Advice for the layers whose statistics look wrong: [{"path", "message", "fix"}]."""
    out = []
    for row in rows:
        path = design_path(row.get("path", ""))
        dead = row.get("dead_fraction")
        if dead is not None and dead > DEAD_FRACTION:
            out.append(
                {
                    "path": path,
                    "message": f"dead activation: {dead:.0%} of its outputs are exactly 0",
                    "fix": "dead ReLU: try LeakyReLU, lower lr or BatchNorm",
                }
            )
        grad, weight = row.get("grad_norm"), row.get("weight_norm")
        explode_fix = (
            "lower lr, add grad clipping or normalisation (BatchNorm, LayerNorm)"
        )
        if row.get("grad_finite") is False:
            out.append(
                {
                    "path": path,
                    "message": "exploding gradients: |grad| is not finite",
                    "fix": explode_fix,
                }
            )
        elif grad is not None and weight:
            if grad / weight > EXPLODING_RELATIVE:
                out.append(
                    {
                        "path": path,
                        "message": f"exploding gradients: |grad| is {grad / weight:.3g}× |w|",
                        "fix": explode_fix,
                    }
                )
            elif grad / weight < VANISHING_RELATIVE:
                out.append(
                    {
                        "path": path,
                        "message": f"vanishing gradients: |grad| is {grad / weight:.1e} of |w|",
                        "fix": "use ReLU-family activations instead of Sigmoid/Tanh stacks, add residual connections "
                        "or normalisation",
                    }
                )
    return out


# --- on the design: one statistic at one step, per design path ---------------------------------------

# name -> (label, drawn on a log scale)
STATISTICS: dict[str, tuple[str, bool]] = {  # the first is what the design is coloured by at first
    "grad_norm": ("gradient norm", True),
    "update_ratio": ("update / weight", True),
    "act_mean": ("activation mean", False),
    "act_std": ("activation std", False),
    "dead_fraction": ("dead fraction", False),
}


def design_path(path: str) -> str:
    """A stats row's path without its Repeat copy ("layers[2].body[0] copy 3" -> "layers[2].body[0])."""
    return str(path).split(" copy ")[0]


def event_at(
    events: list[dict[str, Any]], step: int | None = None
) -> dict[str, Any] | None:
    """The last stats event at or before `step` (the last of all without one)."""
    chosen = None
    for event in events:
        if step is None or event["step"] <= step:
            chosen = event
    return chosen


def overlay(
    events: list[dict[str, Any]], metric: str, step: int | None = None
) -> dict[str, Any] | None:
    """One statistic on the design: {"metric", "label", "log", "step", "steps", "values": {path: v}, "lo",
    "hi"}; copies of a Repeat are averaged onto their one path. None without an event."""
    if metric not in STATISTICS:
        raise ValueError(
            f"unknown statistic {metric!r}; one of {', '.join(STATISTICS)}"
        )
    event = event_at(events, step)
    if event is None:
        return None
    label, log = STATISTICS[metric]
    sums: dict[str, list[float]] = {}
    for row in event["layers"]:
        v = row.get(metric)
        if v is None or not math.isfinite(v) or (log and v <= 0):
            continue
        sums.setdefault(design_path(row["path"]), []).append(float(v))
    values = {p: sum(vs) / len(vs) for p, vs in sums.items()}
    lo, hi = (min(values.values()), max(values.values())) if values else (None, None)
    return {
        "metric": metric,
        "label": label,
        "log": log,
        "step": event["step"],
        "steps": [e["step"] for e in events],
        "values": values,
        "lo": lo,
        "hi": hi,
    }


def series(
    events: list[dict[str, Any]], path: str, metric: str
) -> list[tuple[int, float]]:
    """(step, value) of one layer's statistic over the run (copies averaged)."""
    out = []
    for event in events:
        vs = [r.get(metric) for r in event["layers"] if design_path(r["path"]) == path]
        vs = [float(v) for v in vs if v is not None and math.isfinite(v)]
        if vs:
            out.append((event["step"], sum(vs) / len(vs)))
    return out
