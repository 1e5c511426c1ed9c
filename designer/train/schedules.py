"""Learning-rate schedules: the learning rate of each optimizer step."""

from __future__ import annotations

import math

from designer.train.config import TrainConfig

# --------------------------------------------------------------------------- learning-rate schedules


def _cos_anneal(start: float, end: float, pct: float) -> float:
    return end + (start - end) / 2.0 * (1.0 + math.cos(math.pi * pct))


def schedule_lr(config: TrainConfig, step_index: int, epoch: int, total_steps: int) -> float:
    """The learning rate for one optimizer step.

    `step_index` counts from 0, `epoch` from 1. "step" decays by `gamma` every `step_size`
    epochs; "cosine" anneals from lr to 0 over the run; "onecycle" follows
    torch.optim.lr_scheduler.OneCycleLR (cosine, 30% warm-up from lr/25, ending at lr/25e4).
    """
    lr = config.lr
    if config.schedule == "constant":
        return lr
    if config.schedule == "step":
        return lr * config.gamma ** ((epoch - 1) // config.step_size)
    if config.schedule == "cosine":
        return lr * 0.5 * (1.0 + math.cos(math.pi * step_index / max(total_steps, 1)))
    # onecycle
    initial, final = lr / 25.0, lr / 25.0 / 1e4
    warm_end = 0.3 * total_steps - 1
    if total_steps <= 1:
        return lr
    if step_index <= warm_end:
        return _cos_anneal(initial, lr, step_index / warm_end if warm_end > 0 else 1.0)
    return _cos_anneal(lr, final, (step_index - warm_end) / (total_steps - 1 - warm_end))


