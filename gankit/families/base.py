"""What every family gives the shared run loop: the contract, in one place.

A family is one module, `gankit/families/<name>.py`, that reads top to bottom as its paper:
the networks it builds from the config, its optimizers, one `train_step` that reads like the
paper's algorithm box, the extra state it checkpoints, and how it produces output. Its module
exposes:

    KIND: str                      "generation" (noise -> sample) or "translation" (input -> output)
    build(cfg, device, env) -> Family
        networks on `device`, optimizers, data stream; freshly initialised (the loop seeds first).
    build_generator(cfg) -> nn.Module                                        (generation families)
        G alone, from the config, for `gankit sample` / `eval` / `interpolate`: `G(z [N, G.z_dim], c=None)
        -> x [N, *G.out_shape]`; the checkpoint's "G_ema" (else "G") state dict is loaded into it.
    load_output_network(cfg, state, device, direction) -> nn.Module          (translation families)
        the network `gankit translate` runs, rebuilt from the checkpoint's config alone:
        `net(x [N, C, H, W] in [-1, 1]) -> y [N, C', H', W'] in [-1, 1]`.
    evaluate_checkpoint(cfg, state, device, args) -> dict                   (translation families)
        `gankit eval` on the family's checkpoint: flat numbers plus a `protocol` dict.

The loop (`gankit.train.loop`) knows nothing else of a family's insides: it checkpoints every
network in `networks`, every optimizer in `optimizers` (as `opt_<name>`), every scaler, the
family's own `state_dict()` and the data stream's position; it logs what `train_step` returns,
writes `write_samples` grids and calls `evaluate` when `eval.every` asks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import torch
from torch import Tensor, nn


class BatchStream(Protocol):
    """A resumable batch stream: `next()` returns the family's batch; state rides in checkpoints."""

    def next(self): ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


class Family(Protocol):
    """One family's training state, as the run loop sees it."""

    sampler: BatchStream  # the data stream (its position is checkpointed per rank)
    networks: dict[str, nn.Module]  # every module to save and restore, by name ("G", "D", "G_ema", "G_AB", ...)
    optimizers: dict[str, torch.optim.Optimizer]  # by name ("g", "d", ...), saved as "opt_<name>"
    scalers: dict[str, object]  # fp16 GradScalers by name (None where not used)
    images_per_step: int  # real images one train_step consumes on this process (nimg counts them)

    def train_step(self) -> dict[str, Tensor]:
        """One step of the family's algorithm; returns detached scalar statistics for the log."""
        ...

    def state_dict(self) -> dict:
        """Everything beyond networks, optimizers and scalers: counters, schedulers, k_t, pools, fixed inputs."""
        ...

    def load_state_dict(self, state: dict) -> None: ...

    def write_samples(self, path: Path) -> None:
        """Write one PNG of the run's fixed inputs (noise, or test images) to `path`."""
        ...

    def evaluate(self, seed: int) -> tuple[dict, str, bool]:
        """Score the current networks: (result with its `protocol`, primary key, lower_is_better)."""
        ...

    def wrap(self, wrap_module) -> None:
        """Under DDP: run the forwards that need gradient sync through `wrap_module(module)`
        (`wrap_module(module, find_unused_parameters=True)` where some parameters get no gradient in a step)."""
        ...


class PairFamily:
    """The runtime a family with one G, one D and an optional EMA of G shares (ProGAN, StyleGAN, EBGAN, BEGAN).

    Not the algorithm: each subclass writes its own `train_step`, `state_dict` and `load_state_dict`,
    and its `__init__` adds `opt_g`, `opt_d` and `scalers` to what this one sets (`fixed_z` is
    `[n, G.z_dim]`); `G_run` / `D_run` are what its steps call (DDP wrappers after `wrap`).
    `D_scores_accuracy` is False where D is no classifier (an autoencoder), so the 'accuracy' metric
    gets a clear error instead of a wrong head."""

    D_scores_accuracy = True

    def __init__(self, cfg, G: nn.Module, D: nn.Module, data, fixed_z: Tensor, device: torch.device,
                 world_size: int = 1):
        from gankit.train.ema import EMA, ema_beta

        t = cfg.train
        self.cfg, self.G, self.D, self.data, self.fixed_z, self.device = cfg, G, D, data, fixed_z, device
        self.sampler = data.sampler
        self.images_per_step = t.batch_size  # per process; a family that reads more per step says so
        # EMA's per-image half-life counts every rank's images (the global batch).
        self.ema = EMA(G, ema_beta(t.ema_kimg, t.batch_size * world_size)) if t.ema_kimg > 0 else None
        self.G_run, self.D_run = G, D  # DDP wrappers after wrap()

    @property
    def networks(self) -> dict[str, nn.Module]:
        nets = {"G": self.G, "D": self.D}
        if self.ema is not None:
            nets["G_ema"] = self.ema.G_ema
        return nets

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"g": self.opt_g, "d": self.opt_d}

    def sampling_G(self) -> nn.Module:
        """What the run samples from: G_ema when the run keeps one, else G."""
        return self.ema.G_ema if self.ema is not None else self.G

    def write_samples(self, path: Path) -> None:
        """A grid of the fixed noise from `sampling_G()`, truncated as `tricks.sample_truncation` says (0 = off)."""
        from gankit.sample import generate, save_samples, truncate_latents

        G = self.sampling_G()
        save_samples(generate(G, truncate_latents(G, self.fixed_z, self.cfg.tricks.sample_truncation)), path)

    def evaluate(self, seed: int) -> tuple[dict, str, bool]:
        """Score `sampling_G()` as `eval.*` says, truncated as the run samples (the protocol records how)."""
        from gankit.metrics.evaluate import default_metrics, evaluate_run, primary_key

        cfg = self.cfg
        result = evaluate_run(self.sampling_G(), self.D if self.D_scores_accuracy else None, cfg, seed=seed,
                              which="G_ema" if self.ema is not None else "G", device=self.device,
                              truncation=cfg.tricks.sample_truncation)
        key, lower_is_better = primary_key(cfg.eval.metrics or default_metrics(cfg.data), cfg.data)
        return result, key, lower_is_better

    def wrap(self, wrap_module) -> None:
        """Under DDP: the steps' forwards run through the wrappers (G's step scores with the bare D)."""
        self.G_run, self.D_run = wrap_module(self.G), wrap_module(self.D)
