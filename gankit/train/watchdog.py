"""The health watchdog: roll back a diverged step, lower the learning rates, warn about stalls.

On by default (`watch.enabled`). After every step it checks that the step's statistics
(losses, scores) are finite; before every checkpoint and at every log line it checks every
network's parameters and buffers too. A non-finite value means the step is not kept: the run
goes back to its last good checkpoint (networks, optimizers, RNG, counters, data position),
both learning rates are multiplied by `watch.lr_factor`, the event is logged (log.jsonl, the
progress bar and one line on stderr) and training goes on. After `watch.max_rollbacks`
rollbacks the run stops with exit code 3. A checkpoint with non-finite values is never
written, so latest.pt and best.pt always hold a usable state.

It also warns (once per stretch, never stops) when D wins outright for `watch.d_win_lines`
log lines in a row, when G's gradient norm falls under `watch.min_g_grad`, and when the fixed
noise's samples collapse onto few classes of the dataset's domain classifier.
"""

from __future__ import annotations

import io
import math
import sys

import torch
from torch import nn

from gankit.errors import GankitError

EXIT_DIVERGED = 3


class Diverged(GankitError):
    """The run went non-finite more often than `watch.max_rollbacks` allows; the CLI exits with code 3."""


def all_finite(values) -> bool:
    """True when every tensor in `values` (a dict of stats or an iterable of tensors) is finite."""
    tensors = list(values.values()) if isinstance(values, dict) else list(values)
    floats = [t.detach().float().reshape(-1) for t in tensors if torch.is_tensor(t) and t.is_floating_point()]
    return not floats or bool(torch.isfinite(torch.cat([f.to(floats[0].device) for f in floats])).all())


def networks_finite(networks: dict[str, nn.Module]) -> bool:
    """Every parameter and floating buffer of every network is finite."""
    return all(all_finite(list(net.parameters()) + list(net.buffers())) for net in networks.values())


def d_wins(loss: str, real_score: float, fake_score: float) -> bool:
    """D separates real from fake completely: its mean scores sit past where its loss saturates.

    Judged per loss, since scores mean different things: logits (>= 0.99 / <= 0.01 as
    probabilities) for the cross-entropy losses, targets for LSGAN, margins for hinge; WGAN
    critics' scores are unbounded, so they are never judged."""
    if loss in ("minimax", "nonsaturating", "relativistic"):
        return real_score > 4.6 and fake_score < -4.6
    if loss == "lsgan":
        return real_score > 0.9 and fake_score < 0.1
    if loss == "hinge":
        return real_score > 1.0 and fake_score < -1.0
    return False


def g_grad_norm(G: nn.Module) -> float | None:
    """L2 norm of G's gradients as left by its last update (None when G has none)."""
    grads = [p.grad.detach().float().reshape(-1) for p in G.parameters() if p.grad is not None]
    return float(torch.cat(grads).norm()) if grads else None


class Watchdog:
    """Decides what to do after each step; the loop carries it out (see `gankit.train.loop`)."""

    def __init__(self, watch, loss_name: str):
        self.cfg, self.loss_name = watch, loss_name
        self.rollbacks = 0
        self.lr_scale = 1.0  # product of the LR cuts so far (saved with each checkpoint)
        self.d_win_streak = 0
        self.warned: set[str] = set()
        self.start_snapshot: bytes | None = None  # the state before the first step, until latest.pt exists

    def state_dict(self) -> dict:
        return {"rollbacks": self.rollbacks, "lr_scale": self.lr_scale}

    def load_state_dict(self, state: dict | None) -> None:
        if state:
            self.rollbacks, self.lr_scale = int(state["rollbacks"]), float(state["lr_scale"])

    def snapshot(self, state: dict) -> None:
        """Keep `state` (a checkpoint dict) in memory as the rollback target before latest.pt exists."""
        buffer = io.BytesIO()
        torch.save(state, buffer)
        self.start_snapshot = buffer.getvalue()

    def load_snapshot(self) -> dict:
        return torch.load(io.BytesIO(self.start_snapshot), map_location="cpu", weights_only=True)

    def next_rollback(self, step: int) -> str:
        """Count one rollback; raise `Diverged` past the limit. Returns the event's message."""
        self.rollbacks += 1
        if self.rollbacks > self.cfg.max_rollbacks:
            raise Diverged(f"training went non-finite at step {step} after {self.cfg.max_rollbacks} rollbacks; "
                           f"lower train.g_lr / train.d_lr (or set watch.max_rollbacks) and start again")
        self.lr_scale *= self.cfg.lr_factor
        return (f"non-finite values at step {step}: rolled back to the last good checkpoint, learning rates x "
                f"{self.cfg.lr_factor:g} (now x {self.lr_scale:.3g} of the configured); rollback "
                f"{self.rollbacks} of at most {self.cfg.max_rollbacks}")

    def warnings_for_line(self, line: dict, G: nn.Module | None) -> list[tuple[str, str]]:
        """(kind, message) warnings a log line gives rise to, each once per stretch."""
        found = []
        if "real_score" in line and "fake_score" in line:
            winning = d_wins(self.loss_name, line["real_score"], line["fake_score"])
            self.d_win_streak = self.d_win_streak + 1 if winning else 0
            if winning and self.d_win_streak == self.cfg.d_win_lines:
                found.append(("d_wins", f"D has beaten G outright for {self.d_win_streak} log lines (D(real) "
                              f"{line['real_score']:.3g}, D(fake) {line['fake_score']:.3g}): G's gradient vanishes; "
                              "try the nonsaturating loss, a lower train.d_lr, tricks.label_smoothing=0.1, "
                              "tricks.instance_noise=0.1 or tricks.augment=color,translation"))
        norm = g_grad_norm(G) if G is not None else None
        if norm is not None and norm < self.cfg.min_g_grad and "g_grad" not in self.warned:
            self.warned.add("g_grad")
            found.append(("g_grad", f"G's gradient norm is {norm:.2g} (< watch.min_g_grad={self.cfg.min_g_grad:g}): "
                          "G has stopped learning; D may saturate (see above) or the LR decayed to 0"))
        return found

    def collapse_warning(self, labels: torch.Tensor, num_classes: int) -> str | None:
        """A warning when the fixed noise's samples cover few classes (mode collapse), once."""
        covered = int(torch.unique(labels).numel())
        if covered > max(1, math.floor(self.cfg.min_class_share * num_classes)) or "collapse" in self.warned:
            return None
        self.warned.add("collapse")
        return (f"the fixed-noise samples fall into only {covered} of {num_classes} classes: G is collapsing onto "
                "few modes; try tricks.minibatch=stddev, tricks.pack=2, train.ema_kimg=10 or a lower LR")


def scale_learning_rates(optimizers: dict, schedulers: list, factor: float) -> None:
    """Multiply every optimizer's LR (and the base LR its scheduler decays from) by `factor`."""
    for opt in optimizers.values():
        for group in opt.param_groups:
            group["lr"] *= factor
            if "initial_lr" in group:
                group["initial_lr"] *= factor
    for scheduler in schedulers:
        if hasattr(scheduler, "base_lrs"):
            scheduler.base_lrs = [lr * factor for lr in scheduler.base_lrs]


def say(message: str) -> None:
    print(f"gankit: watchdog: {message}", file=sys.stderr)
