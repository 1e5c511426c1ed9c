"""The trainer: one plain loop over a dataset held on the device, with plain callbacks."""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from designer.train.callbacks import Callback, RunResult
from designer.train.checkpoints import save_checkpoint
from designer.train.config import (
    DIVERGED_RATIO,
    ConfigError,
    TrainConfig,
    TrainingError,
    resolve_device,
)
from designer.train.memory import InsufficientMemory, _tensor_bytes, _torch_dtype, check_memory, estimate_memory
from designer.train.schedules import schedule_lr

log = logging.getLogger(__name__)

ModelOrFactory = nn.Module | Callable[[], nn.Module]

# --------------------------------------------------------------------------- the trainer


def task_loss(task: dict | None, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The training loss of a task: cross-entropy on class ids, (N, K) against (N,) or per token (N, L, K)
    against (N, L) (the mean over labels); else mean squared error against targets of the output's shape."""
    if isinstance(task, dict) and task.get("kind") == "classification":
        return F.cross_entropy(out.float().reshape(-1, out.shape[-1]), y.reshape(-1))
    return F.mse_loss(out.float(), y.reshape(out.shape).float())


def make_optimizer(name: str, params: list, lr: float, momentum: float = 0.9,
                   weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """The optimizer a config names (SGD with momentum; AdamW's decay decoupled)."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


@dataclass
class _Progress:
    """What the loop has counted so far; becomes the RunResult."""

    status: str = "completed"
    message: str = ""
    step: int = 0
    epochs_done: int = 0
    train_time: float = 0.0  # whole steps after the first
    train_samples: int = 0
    first_time: float = 0.0  # the first step, apart: warm-up
    first_samples: int = 0
    train_loss: float | None = None
    val_loss: float | None = None
    val_accuracy: float | None = None
    val_mae: float | None = None
    confusion: list[list[int]] | None = None
    best_val: float = math.inf
    best_path: str | None = None
    last_path: str | None = None
    suggested_batch_size: int | None = None
    first_loss: float | None = None  # the first step's loss: where the run started
    warnings: list[str] = field(default_factory=list)


class Trainer:
    """Trains one model on one dataset: `run()` once, `stop()` from any thread, `predict()` after.

    `model` is an nn.Module or a zero-argument factory (called inside `run` after seeding
    torch's global generator with `config.seed`, so the same seed gives the same initial
    weights, dropout masks and batch order: runs on the CPU repeat exactly). `dataset` has the attributes of
    `designer.datasets.Dataset`. `memory_available` overrides the device's free memory for
    the check before training (tests use it).
    """

    def __init__(self, model: ModelOrFactory, dataset: Any, config: TrainConfig | None = None,
                 callbacks: Iterable[Callback] = (), *, memory_available: int | None = None,
                 layer_table: list[tuple[str, str, str]] | None = None) -> None:
        self.config = config or TrainConfig()
        self.dataset = dataset
        self.callbacks = list(callbacks)
        if self.config.stats_every:
            # Per-layer statistics (designer.layer_stats) every K steps, named by the design's paths when
            # the caller gives its layer table (designer.layer_stats.layer_table), else by module names.
            from designer.train.stats import StatsCallback

            if layer_table is None and hasattr(model, "layer_table"):  # a design's factory knows its paths
                layer_table = model.layer_table()
            self.callbacks.append(StatsCallback(self.config.stats_every, layer_table, sinks=list(self.callbacks)))
        self.memory_available = memory_available
        self._model_or_factory = model
        self.model: nn.Module | None = model if isinstance(model, nn.Module) else None
        self.device: torch.device | None = None
        self._stop = threading.Event()
        self._task = dict(dataset.task)
        self._classify = self._task.get("kind") == "classification"

    # ---- control

    def stop(self) -> None:
        """Ask the loop to stop; it notices before the next step (or validation batch)."""
        self._stop.set()

    @property
    def should_stop(self) -> bool:
        return self._stop.is_set()

    # ---- the run

    def run(self) -> RunResult:
        """Train; never raises for a training problem (see RunResult.status and .message).

        Ctrl-C (KeyboardInterrupt) ends the run as "stopped", so callbacks still see the end.
        """
        started = time.perf_counter()
        p = _Progress()
        try:
            info = self._setup(p)
            self._emit("on_start", info)
            self._fit(p)
        except InsufficientMemory as exc:
            p.status, p.message, p.suggested_batch_size = "failed", str(exc), exc.suggested_batch_size
        except (TrainingError, ConfigError) as exc:
            p.status, p.message = "failed", str(exc)
        except KeyboardInterrupt:  # Ctrl-C on the command line: a stop, reported like one
            p.status, p.message = "stopped", f"interrupted after {p.step} step(s)"
        except Exception as exc:  # report every training problem as a result
            p.status, p.message = "failed", self._failure_message(exc)
            if self.device is not None and self.device.type == "cuda":
                torch.cuda.empty_cache()
        result = self._result(p, time.perf_counter() - started)
        for cb in self.callbacks:
            try:
                cb.on_end(result)
            except Exception:  # one broken callback must not hide the result
                log.exception("callback %r failed in on_end", cb)
        return result

    def _failure_message(self, exc: BaseException) -> str:
        if _is_oom(exc):
            return (f"out of memory on {self.device} at batch size {self.config.batch_size}: "
                    f"try a smaller batch size or a smaller model ({type(exc).__name__})")
        log.exception("training failed")
        return f"training failed: {type(exc).__name__}: {exc}"

    def _emit(self, method: str, *args: Any) -> None:
        for cb in self.callbacks:
            getattr(cb, method)(*args)

    def _emit_optional(self, method: str, *args: Any) -> None:
        """Hooks a callback need not have (on_setup, on_after_step, on_phase: newer than some callbacks)."""
        for cb in self.callbacks:
            hook = getattr(cb, method, None)
            if hook is not None:
                hook(*args)

    def _setup(self, p: _Progress) -> dict[str, Any]:
        """Seed, build, check memory, place data and model, make the optimizer."""
        cfg = self.config
        torch.manual_seed(cfg.seed)
        self.device = device = resolve_device(cfg.device)
        ds = self.dataset
        self._emit_optional("on_phase", "checking memory and building the model")
        if self.model is None:
            # The estimate comes first, from the network built on `meta` (no memory): a model that would not
            # fit is refused before a byte of it is allocated.
            with torch.device("meta"):
                shadow = self._model_or_factory()
            if not isinstance(shadow, nn.Module):
                raise TrainingError(f"the model factory returned {type(shadow).__name__}, not an nn.Module")
            check_memory(estimate_memory(shadow, ds.input_shape, ds.dtype, cfg.batch_size, cfg.optimizer,
                                         momentum=cfg.momentum, device=device, available=self.memory_available))
            del shadow
            torch.manual_seed(cfg.seed)
            self.model = self._model_or_factory()
        model = self.model
        data_bytes = sum(_tensor_bytes(t) for t in (ds.x_train, ds.y_train, ds.x_val, ds.y_val))
        estimate = estimate_memory(model, ds.input_shape, ds.dtype, cfg.batch_size, cfg.optimizer,
                                   momentum=cfg.momentum, device=device, available=self.memory_available)
        check_memory(estimate)
        # Data goes to the device once when it fits beside the run (on the CPU it is already there).
        self._data_on_device = device.type == "cpu" or estimate["available"] is None or (
            estimate["total"] + data_bytes <= estimate["available"])
        if device.type != "cpu":
            estimate["data"] = data_bytes if self._data_on_device else 0
            estimate["total"] += estimate["data"]
        self._emit_optional("on_phase", f"moving the data and the model to {device}")
        place = device if self._data_on_device else torch.device("cpu")
        x_dtype = _torch_dtype(ds.dtype)
        y_dtype = torch.long if self._classify else torch.float32
        self._x_train, self._y_train = ds.x_train.to(place, x_dtype), ds.y_train.to(place, y_dtype)
        self._x_val, self._y_val = ds.x_val.to(place, x_dtype), ds.y_val.to(place, y_dtype)
        model.to(device)
        self._check_output(model)
        self._forward = torch.compile(model) if cfg.compile else model
        self._optimizer = self._make_optimizer(model)
        self._emit_optional("on_setup", model, self._optimizer)
        self._amp_dtype = self._precision(device, p)
        self._scaler = torch.amp.GradScaler("cuda") if self._amp_dtype == torch.float16 else None
        # Only callbacks that override on_after_step cost a call per step.
        self._after_step = any(type(cb).on_after_step is not Callback.on_after_step for cb in self.callbacks
                               if hasattr(type(cb), "on_after_step"))
        n = len(self._x_train)
        self._steps_per_epoch = len(self._batch_bounds(n))
        total = cfg.epochs * self._steps_per_epoch
        self._total_steps = min(total, cfg.max_steps) if cfg.max_steps else total
        if cfg.checkpoint_dir:
            Path(cfg.checkpoint_dir).mkdir(parents=True, exist_ok=True)
        return {
            "device": str(device), "total_steps": self._total_steps, "steps_per_epoch": self._steps_per_epoch,
            "epochs": cfg.epochs, "batch_size": cfg.batch_size,
            "params": sum(t.numel() for t in model.parameters()),
            "trainable_params": sum(t.numel() for t in model.parameters() if t.requires_grad),
            "train_size": n, "val_size": len(self._x_val), "task": dict(self._task),
            "precision": "fp32" if self._amp_dtype is None else cfg.precision,
            "data_on_device": self._data_on_device, "memory": estimate, "notes": list(p.warnings),
            "config": cfg.to_dict(),
        }

    def _precision(self, device: torch.device, p: _Progress) -> torch.dtype | None:
        """The autocast dtype, or None for fp32; mixed precision runs on CUDA only."""
        want = self.config.precision
        if want == "fp32":
            return None
        if device.type != "cuda":
            p.warnings.append(f"{want} mixed precision needs CUDA; trained in fp32 on {device.type}")
            return None
        if want == "bf16" and not torch.cuda.is_bf16_supported():
            p.warnings.append("this GPU does not support bf16; trained in fp32")
            return None
        return torch.bfloat16 if want == "bf16" else torch.float16

    def _make_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        cfg = self.config
        params = [t for t in model.parameters() if t.requires_grad]
        if not params:
            raise TrainingError("the model has no trainable parameters")
        return make_optimizer(cfg.optimizer, params, cfg.lr, cfg.momentum, cfg.weight_decay)

    def _check_output(self, model: nn.Module) -> None:
        """Run two samples through the model and say plainly if its output does not fit the task."""
        x = self._x_train[:2].to(self.device)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                try:
                    out = model(x)
                except Exception as exc:
                    raise TrainingError(f"the model does not accept this dataset's input "
                                     f"(N, {', '.join(map(str, self.dataset.input_shape))}): {exc}") from exc
        finally:
            model.train(was_training)
        if not isinstance(out, torch.Tensor):
            raise TrainingError(f"the model must return one tensor; it returned {type(out).__name__}")
        got = f"(N, {', '.join(map(str, out.shape[1:]))})"
        if self._classify:
            k = self._task["num_classes"]
            labels = tuple(self._y_train.shape[1:])  # (): one class per sample; (L,): one per position
            if tuple(out.shape[1:]) != (*labels, k):
                want = ", ".join(map(str, (*labels, k)))
                what = f"{k} classes" if not labels else f"{k} tags at each of {', '.join(map(str, labels))} positions"
                raise TrainingError(f"for classification into {what} the model must output (N, {want}) logits; "
                                    f"it outputs {got}. Make the last layer Linear with out_features={k}"
                                    + (" and keep the sequence (no pooling)" if labels else ""))
        else:
            per_sample = self._y_train[:1].numel()
            if out[:1].numel() != per_sample:
                want = ", ".join(map(str, self._y_train.shape[1:])) or "1"
                raise TrainingError(f"the regression targets are (N, {want}) but the model outputs {got}")

    # ---- the loop

    def _batch_bounds(self, n: int) -> list[tuple[int, int]]:
        """Batch slices of one epoch; a trailing batch of one sample is dropped (BatchNorm needs two)."""
        bs = self.config.batch_size
        bounds = [(i, min(i + bs, n)) for i in range(0, n, bs)]
        if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
            bounds.pop()
        return bounds

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self._amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda", dtype=self._amp_dtype)

    def _loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return task_loss(self._task, out, y)

    def _fit(self, p: _Progress) -> None:
        cfg, model = self.config, self.model
        assert model is not None
        gen = torch.Generator().manual_seed(cfg.seed)
        n = len(self._x_train)
        bounds = self._batch_bounds(n)
        for epoch in range(1, cfg.epochs + 1):
            if self._stop.is_set():
                p.status = "stopped"
                break
            if p.step >= self._total_steps:
                break
            model.train()
            order = torch.randperm(n, generator=gen).to(self._x_train.device)
            loss_sum, loss_count = 0.0, 0
            for lo, hi in bounds:
                if self._stop.is_set():
                    p.status = "stopped"
                    break
                if p.step >= self._total_steps:
                    break
                loss = self._train_step(p, order[lo:hi], epoch)
                if not math.isfinite(loss):
                    p.status = "diverged"
                    p.message = (f"the loss became {loss} at step {p.step} (epoch {epoch}); "
                                 f"try a lower learning rate (it was {self._lr:g}) or gradient clipping")
                    return
                loss_sum += loss * (hi - lo)
                loss_count += hi - lo
            if p.status == "stopped" or self._stop.is_set():
                p.status = "stopped"
                break
            if loss_count == 0:
                break
            p.train_loss = loss_sum / loss_count
            if not self._evaluate(p):
                p.status = "stopped"
                break
            p.epochs_done = epoch
            self._emit("on_epoch", epoch, p.train_loss, p.val_loss, p.val_accuracy, p.val_mae)
            self._checkpoint(p, epoch)
        if p.status == "completed" and self._ended_far_above_start(p):
            p.status = "diverged"
            p.message = (f"the loss ended at {p.train_loss:.4g}, more than {DIVERGED_RATIO:g}× where it started "
                         f"({p.first_loss:.4g} at step 1); try a lower learning rate (it was {self._lr:g}) "
                         f"or gradient clipping")
        if p.status == "stopped" and p.step > 0:
            self._save(p, "last", p.epochs_done)
        if p.status == "completed" and p.step == 0:
            p.message = "no training steps were run (is the training set empty?)"

    @staticmethod
    def _ended_far_above_start(p: _Progress) -> bool:
        """Whether the last epoch's mean loss ends more than DIVERGED_RATIO times the first step's loss: a run
        that blew up without reaching inf or NaN (Adam at lr 1e6) has not learned, whatever it "completed"."""
        first, last = p.first_loss, p.train_loss
        return (first is not None and last is not None and math.isfinite(first) and first > 0
                and last > DIVERGED_RATIO * first)

    def _train_step(self, p: _Progress, idx: torch.Tensor, epoch: int) -> float:
        """One optimizer step on the batch at `idx`; returns its loss (one sync: .item())."""
        t0 = time.perf_counter()
        xb, yb = self._x_train[idx], self._y_train[idx]
        if not self._data_on_device:
            xb, yb = xb.to(self.device, non_blocking=True), yb.to(self.device, non_blocking=True)
        self._lr = lr = schedule_lr(self.config, p.step, epoch, self._total_steps)
        if self.config.schedule != "constant":
            for group in self._optimizer.param_groups:
                group["lr"] = lr
        opt, scaler, clip = self._optimizer, self._scaler, self.config.grad_clip
        opt.zero_grad(set_to_none=True)
        with self._autocast():
            loss = self._loss(self._forward(xb), yb)
        if scaler is not None:
            scaler.scale(loss).backward()
            if clip:
                scaler.unscale_(opt)
                nn.utils.clip_grad_norm_(self.model.parameters(), clip)
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            if clip:
                nn.utils.clip_grad_norm_(self.model.parameters(), clip)
            opt.step()
        value = loss.item()
        p.step += 1
        self._emit("on_step", p.step, epoch, value, lr)
        if self._after_step:
            self._emit_optional("on_after_step", p.step, self.model, self._optimizer)
        # Throughput counts whole steps, callbacks included; the first step (warm-up,
        # compilation) is left out when there are others.
        elapsed = time.perf_counter() - t0
        if p.step == 1:
            p.first_time, p.first_samples, p.first_loss = elapsed, len(idx), value
        else:
            p.train_time += elapsed
            p.train_samples += len(idx)
        return value

    def _evaluate(self, p: _Progress) -> bool:
        """Validation loss and accuracy/MAE (and the confusion matrix); False if stopped meanwhile."""
        model = self.model
        assert model is not None
        n = len(self._x_val)
        if n == 0:
            p.val_loss = p.val_accuracy = p.val_mae = None
            return True
        model.eval()
        bs = self.config.batch_size
        acc_dtype = torch.float32 if self.device.type == "mps" else torch.float64  # MPS has no float64
        loss_sum = torch.zeros((), device=self.device, dtype=acc_dtype)
        metric_sum = torch.zeros((), device=self.device, dtype=acc_dtype)
        k = self._task.get("num_classes", 0)
        confusion = torch.zeros(k * k, device=self.device, dtype=torch.long) if self._classify else None
        try:
            with torch.no_grad(), self._autocast():
                for lo in range(0, n, bs):
                    if self._stop.is_set():
                        return False
                    xb = self._x_val[lo:lo + bs].to(self.device, non_blocking=True)
                    yb = self._y_val[lo:lo + bs].to(self.device, non_blocking=True)
                    out = self._forward(xb).float()
                    if self._classify:  # per label: a sample's class, or each token's tag
                        logits, labels = out.reshape(-1, out.shape[-1]), yb.reshape(-1)
                        loss_sum += F.cross_entropy(logits, labels, reduction="sum")
                        pred = logits.argmax(dim=1)
                        metric_sum += (pred == labels).sum()
                        confusion += torch.bincount(labels * k + pred, minlength=k * k)
                    else:
                        target = yb.reshape(out.shape).float()
                        loss_sum += F.mse_loss(out, target, reduction="sum")
                        metric_sum += (out - target).abs().sum()
        finally:
            model.train()
        if self._classify:
            labels = n * max(self._y_val[:1].numel(), 1)
            p.val_loss, p.val_accuracy, p.val_mae = loss_sum.item() / labels, metric_sum.item() / labels, None
            p.confusion = confusion.view(k, k).tolist()
        else:  # mean over every target value, as the training loss is
            values = n * max(self._y_val[:1].numel(), 1)
            p.val_loss, p.val_accuracy, p.val_mae = loss_sum.item() / values, None, metric_sum.item() / values
        return True

    # ---- checkpoints

    def _checkpoint(self, p: _Progress, epoch: int) -> None:
        if not self.config.checkpoint_dir:
            return
        improved = p.val_loss is not None and math.isfinite(p.val_loss) and p.val_loss < p.best_val
        if improved and self._save(p, "best", epoch):
            p.best_val = p.val_loss
        self._save(p, "last", epoch)

    def _save(self, p: _Progress, which: str, epoch: int) -> bool:
        """Write best/last.safetensors; a failed write (a full disk) is a warning, not a crash."""
        if not self.config.checkpoint_dir:
            return False
        path = Path(self.config.checkpoint_dir) / f"{which}.safetensors"
        meta = {"format": "netwright.checkpoint", "epoch": str(epoch), "step": str(p.step),
                "val_loss": str(p.val_loss)}
        try:
            save_checkpoint(self.model, path, meta)
        except OSError as exc:
            reason = "the disk is full" if exc.errno == errno.ENOSPC else str(exc)
            warning = f"could not save the {which} checkpoint ({reason}); training went on"
            if warning not in p.warnings:
                p.warnings.append(warning)
            log.warning("%s: %s", path, exc)
            return False
        setattr(p, f"{which}_path", str(path))
        return True

    def _result(self, p: _Progress, duration: float) -> RunResult:
        samples_per_s = None
        if p.train_samples and p.train_time > 0:
            samples_per_s = p.train_samples / p.train_time
        elif p.first_samples and p.first_time > 0:
            samples_per_s = p.first_samples / p.first_time
        message = p.message or {
            "completed": f"completed {p.epochs_done} epoch(s), {p.step} step(s)",
            "stopped": f"stopped after {p.step} step(s)",
        }.get(p.status, "")
        if p.warnings:
            message = "; ".join([message, *p.warnings]) if message else "; ".join(p.warnings)
        return RunResult(
            status=p.status, message=message, epochs_done=p.epochs_done, steps=p.step,
            samples_per_s=samples_per_s, train_loss=p.train_loss, val_loss=p.val_loss,
            val_accuracy=p.val_accuracy, val_mae=p.val_mae, best_path=p.best_path, last_path=p.last_path,
            duration_s=duration, confusion=p.confusion if self._classify else None,
            device=str(self.device) if self.device else None,
            suggested_batch_size=p.suggested_batch_size, warnings=list(p.warnings))

    # ---- inference

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The model's outputs for a batch of inputs (N, *input_shape), on the CPU."""
        if self.model is None:
            torch.manual_seed(self.config.seed)
            self.model = self._model_or_factory()
        model = self.model
        device = self.device or next(iter(model.parameters()), torch.empty(0)).device
        was_training = model.training
        model.eval()
        outs = []
        try:
            with torch.no_grad():
                for lo in range(0, len(x), self.config.batch_size):
                    outs.append(model(x[lo:lo + self.config.batch_size].to(device)).float().cpu())
        finally:
            model.train(was_training)
        return torch.cat(outs) if outs else torch.empty(0)


