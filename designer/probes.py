"""Two quick checks before a long run: an LR range test and "overfit one batch".

lr_find (design-format.md `lr-find`): the lr grows exponentially over a few hundred steps while the
training loss is recorded; the suggestion is a tenth of the lr where the smoothed loss was lowest
(past that point the loss turns up). A model and optimizer given to it get their state back after.

overfit_one_batch: a network that is wired right memorises a single small batch (regularisation
off). If the loss does not reach near zero in N steps, something between the model, the loss and
the data is wrong; the result says what is likely, from the design and from the run itself.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn

from designer.train.trainer import make_optimizer, task_loss

NEAR_ZERO = 0.05  # overfit passes when the loss falls to this share of where it started
SQUASHING = ("Sigmoid", "Softmax", "Tanh", "ReLU", "ReLU6", "Hardtanh", "Hardsigmoid", "Softplus")


def synthetic_batch(design: dict, batch_size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A random batch that fits the design: inputs of its shape and dtype, targets for its task."""
    from designer.analysis import analyze

    analysis = analyze(design)
    if not analysis.valid:
        raise ValueError(f"the design has {len(analysis.errors)} error(s); fix them first: {analysis.errors[0].message}")
    gen = torch.Generator().manual_seed(seed)
    shape = (batch_size, *analysis.input_shape)
    if analysis.input_dtype == "int64":
        vocab = _vocabulary(design)
        x = torch.randint(0, vocab, shape, generator=gen)
    else:
        x = torch.randn(shape, generator=gen)
    task = design.get("task") or {}
    out = tuple(analysis.output_shape)
    if task.get("kind") == "classification":
        k = int(task.get("num_classes") or out[-1])
        y = torch.randint(0, k, (batch_size, *out[:-1]), generator=gen)
    else:
        y = torch.randn((batch_size, *out), generator=gen)
    return x, y


def _vocabulary(design: dict) -> int:
    """The smallest Embedding's table size (token ids must fit every table)."""
    from designer.design import iter_nodes

    sizes = [n.get("num_embeddings") for _, n, _ in iter_nodes(design.get("layers", []))
             if isinstance(n, dict) and n.get("type") == "Embedding" and isinstance(n.get("num_embeddings"), int)]
    return max(1, min(sizes)) if sizes else 2


def _regularisation_off(model: nn.Module) -> None:
    model.train()
    for m in model.modules():
        if isinstance(m, nn.modules.dropout._DropoutNd):
            m.eval()


def overfit_one_batch(design: dict, batch: tuple[torch.Tensor, torch.Tensor] | None = None, *,
                      batch_size: int = 8, max_steps: int = 200, lr: float = 3e-3, seed: int = 0,
                      model: nn.Module | None = None) -> dict[str, Any]:
    """Train on one batch for up to `max_steps` Adam steps (Dropout off); pass when the loss falls to
    NEAR_ZERO of its start. Returns {"passed", "steps", "initial_loss", "final_loss", "losses", "causes",
    "batch_size"}."""
    from designer.build import build_model
    from designer.layer_stats import design_stats, layer_warnings

    torch.manual_seed(seed)
    model = model if model is not None else build_model(design)
    x, y = batch if batch is not None else synthetic_batch(design, batch_size, seed)
    task = design.get("task")
    _regularisation_off(model)
    params = [p for p in model.parameters() if p.requires_grad]
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    losses: list[float] = []
    causes: list[str] = []
    if not params:
        why = f"every parameter is frozen ({frozen:,}, requires_grad is off): unfreeze some" if frozen \
            else "the model has no trainable parameters: add a layer with weights (Linear, Conv2d, …)"
        return _verdict(False, losses, [why], len(x))
    opt = torch.optim.Adam(params, lr=lr)
    stats = design_stats(model, design, every=1)
    warnings: list[dict] = []
    for step in range(1, max_steps + 1):
        sample = step == 1
        if sample:
            stats.step(1)
        opt.zero_grad(set_to_none=True)
        loss = task_loss(task, model(x), y)
        loss.backward()
        opt.step()
        if sample:
            event = stats.done(1)
            warnings = layer_warnings(event["layers"]) if event else []
        value = float(loss.detach())
        losses.append(value)
        if not math.isfinite(value):
            causes.append(f"the loss became {value} at step {step}: lower the lr")
            break
        if value <= NEAR_ZERO * losses[0]:
            return _verdict(True, losses, [], len(x))
    stats.close()
    causes += _likely_causes(design, losses, warnings, frozen)
    return _verdict(False, losses, causes, len(x))


def _verdict(passed: bool, losses: list[float], causes: list[str], batch_size: int) -> dict[str, Any]:
    finite = [v if math.isfinite(v) else None for v in losses]
    return {"passed": passed, "steps": len(losses), "batch_size": batch_size,
            "initial_loss": finite[0] if finite else None, "final_loss": finite[-1] if finite else None,
            "target_loss": NEAR_ZERO * losses[0] if losses and math.isfinite(losses[0]) else None,
            "losses": finite, "causes": causes}


def _likely_causes(design: dict, losses: list[float], warnings: list[dict], frozen: int) -> list[str]:
    causes = []
    layers = design.get("layers") or []
    last = layers[-1] if layers and isinstance(layers[-1], dict) else {}
    task = design.get("task") or {}
    if task.get("kind") == "classification" and last.get("type") in SQUASHING:
        causes.append(f"the output goes through {last['type']} (layers[{len(layers) - 1}]) before the cross-entropy, "
                      "which expects raw scores (logits): remove it")
    elif last.get("type") in ("Sigmoid", "Tanh", "Softmax", "Hardtanh", "ReLU6") and task.get("kind") != "classification":
        causes.append(f"the output goes through {last['type']} (layers[{len(layers) - 1}]), which bounds what the "
                      "network can predict: remove it unless the targets lie in its range")
    if frozen:
        causes.append(f"{frozen:,} parameters are frozen (requires_grad is off): unfreeze them")
    for w in warnings:
        causes.append(f"{w['path']}: {w['message']} ({w['fix']})")
    if losses and math.isfinite(losses[-1]) and losses[-1] > 0.9 * losses[0] and not causes:
        causes.append("the loss hardly moved: try a higher lr, or check that the layers are connected as intended")
    if not causes:
        causes.append(f"the loss fell from {losses[0]:.3g} to {losses[-1]:.3g} but not to near zero: the network may be "
                      "too small for this batch, or it needs more steps or a different lr")
    return causes


def lr_find(design: dict, x: torch.Tensor, y: torch.Tensor, *, start_lr: float = 1e-6, end_lr: float = 1.0,
            steps: int = 200, batch_size: int = 32, optimizer: str = "adam", seed: int = 0,
            model: nn.Module | None = None, opt: torch.optim.Optimizer | None = None,
            smoothing: float = 0.9) -> dict[str, Any]:
    """The LR range test on training data (x, y). Returns {"suggested_lr", "lrs", "losses"} (smoothed
    losses; the test stops early once the loss has grown past 4× its best)."""
    from designer.build import build_model

    if not (0 < start_lr < end_lr) or steps < 10:
        raise ValueError("lr-find needs 0 < start_lr < end_lr and at least 10 steps")
    torch.manual_seed(seed)
    model = model if model is not None else build_model(design)
    saved_model = copy.deepcopy(model.state_dict())
    opt = opt if opt is not None else make_optimizer(optimizer, [p for p in model.parameters() if p.requires_grad],
                                                     start_lr)
    saved_opt = copy.deepcopy(opt.state_dict())
    task = design.get("task")
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(x), generator=gen)
    model.train()
    lrs, losses = [], []
    avg, best = 0.0, math.inf
    try:
        for i in range(steps):
            lr = start_lr * (end_lr / start_lr) ** (i / (steps - 1))
            for group in opt.param_groups:
                group["lr"] = lr
            lo = (i * batch_size) % len(x)
            idx = order[lo:lo + batch_size]
            if len(idx) < min(batch_size, len(x)):
                idx = torch.cat([idx, order[:batch_size - len(idx)]])
            opt.zero_grad(set_to_none=True)
            loss = task_loss(task, model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            value = float(loss.detach())
            if not math.isfinite(value):
                break
            avg = smoothing * avg + (1 - smoothing) * value
            smoothed = avg / (1 - smoothing ** (i + 1))
            lrs.append(lr)
            losses.append(smoothed)
            best = min(best, smoothed)
            if i > steps // 10 and smoothed > 4 * best:
                break
    finally:
        model.load_state_dict(saved_model)
        opt.load_state_dict(saved_opt)
    if not losses:
        raise ValueError("the loss was not finite from the first step: check the data and the design")
    at_min = min(range(len(losses)), key=losses.__getitem__)
    return {"suggested_lr": lrs[at_min] / 10, "lrs": lrs, "losses": losses}
