"""Per-layer statistics during training: the Trainer adds a StatsCallback when config.stats_every > 0.

It arms designer.layer_stats' hooks before a sampled step's forward pass (on_setup for step 1,
else after the step before) and collects after its optimizer step, then hands the "stats" event
to the other callbacks' on_stats: the JSON-lines log, the run store, the page's progress.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from designer.train.callbacks import Callback


def leaf_layers(model: Any) -> list[tuple[str, str, Any]]:
    """(dotted name, family, module) of a model's leaf modules: the table when no design is known. The
    family is the catalogue's for a module of a catalogue type (ReLU: "activation"), else "layer"."""
    from designer.registry import get_spec

    out = []
    for name, m in model.named_modules():
        if name and not any(True for _ in m.children()):
            spec = get_spec(type(m).__name__)
            out.append((name, spec.family if spec is not None else "layer", m))
    return out


class StatsCallback(Callback):
    def __init__(self, every: int, table: list[tuple[str, str, str]] | None, sinks: Iterable[Any]) -> None:
        self.every = every
        self.table = table
        self.sinks = list(sinks)
        self.stats = None

    def on_setup(self, model: Any, optimizer: Any) -> None:
        from designer.layer_stats import LayerStats

        layers = ([(path, family, model.get_submodule(dotted)) for path, family, dotted in self.table]
                  if self.table else leaf_layers(model))
        self.stats = LayerStats(layers, self.every)
        if self.stats.sampled(1):
            self.stats.arm()

    def on_after_step(self, step: int, model: Any, optimizer: Any) -> None:
        if self.stats is None:
            return
        event = self.stats.collect(step)
        if self.stats.sampled(step + 1):
            self.stats.arm()
        if event is not None:
            for cb in self.sinks:
                if hasattr(cb, "on_stats"):
                    cb.on_stats(event)

    def on_end(self, result: Any) -> None:
        if self.stats is not None:
            self.stats.close()
