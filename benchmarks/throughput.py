"""Training-step throughput: gankit's trainer against a plain hand-written loop.

    PYTHONPATH=$PWD python benchmarks/throughput.py [--rounds 7] [--iters 15] [--cases dcgan-fashion dcgan-digits]

For each case (a preset: DCGAN-28 = dcgan-fashion on Fashion-MNIST, DCGAN-32 = dcgan-digits), one
process builds G and D once through gankit (`prepare_training`, exactly as `gankit train` does),
then deep-copies the same initial weights into a plain loop, so both train the identical networks
from the identical start on the identical in-memory data with the identical loss. Loops are
interleaved step by step (plain, gankit, plain, ... with the order flipped every round) so that
machine noise hits both alike; the script prints medians over rounds.

The plain loop is the textbook formulation a user writes by hand (Goodfellow et al. 2014,
Algorithm 1, with the non-saturating G loss): NCHW tensors, `torch.optim.Adam` with its default
(foreach) implementation, a D step on `G(z).detach()`, then a G step on a fresh `G(z')` scored by
D with D's parameter gradients left on (and zeroed later).

Also printed: GFLOP per iteration of each loop (counted with `torch.utils.flop_counter`), the
achieved GFLOP/s as a fraction of an fp32 matmul peak measured in this same process, and the peak
RSS of a real `gankit train --preset dcgan-fashion` run (a child process).
"""

from __future__ import annotations

import argparse
import copy
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from gankit.config import resolve
from gankit.train.loop import prepare_training
from gankit.families.gan import GANTrainer

# Each ablation turns one default fast path off in a copy of gankit's trainer (--ablate).
ABLATIONS = ("no-reuse", "no-freeze-d", "no-channels-last", "no-fused-adam")

LABELS = {"dcgan-fashion": "DCGAN-28 (Fashion-MNIST)", "dcgan-digits": "DCGAN-32 (digits)"}


def matmul_peak(n: int = 2048, repeats: int = 5) -> float:
    """Best-of-`repeats` fp32 GFLOP/s of an n x n matmul (2 n^3 FLOP each)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


class PlainLoop:
    """The hand-written reference: one D step and one G step per iteration, nothing clever."""

    def __init__(self, G: torch.nn.Module, D: torch.nn.Module, lr: float, betas: tuple, images: torch.Tensor,
                 batch_size: int, seed: int):
        # Plain NCHW layout, whatever gankit did to its own copies.
        self.G = copy.deepcopy(G).to(memory_format=torch.contiguous_format)
        self.D = copy.deepcopy(D).to(memory_format=torch.contiguous_format)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=lr, betas=betas)
        self.images, self.batch_size = images.contiguous(), batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.perm, self.pos = torch.randperm(len(images), generator=self.generator), 0

    def next_batch(self) -> torch.Tensor:
        if self.pos + self.batch_size > len(self.perm):
            self.perm, self.pos = torch.randperm(len(self.images), generator=self.generator), 0
        index = self.perm[self.pos:self.pos + self.batch_size]
        self.pos += self.batch_size
        return self.images[index]

    def step(self) -> None:
        real = self.next_batch()
        n = real.shape[0]
        ones, zeros = torch.ones(n), torch.zeros(n)
        fake = self.G(torch.randn(n, self.G.z_dim))
        d_loss = (F.binary_cross_entropy_with_logits(self.D(real), ones)
                  + F.binary_cross_entropy_with_logits(self.D(fake.detach()), zeros))
        self.opt_d.zero_grad()
        d_loss.backward()
        self.opt_d.step()
        fake = self.G(torch.randn(n, self.G.z_dim))
        g_loss = F.binary_cross_entropy_with_logits(self.D(fake), ones)
        self.opt_g.zero_grad()
        g_loss.backward()
        self.opt_g.step()


def ablated(trainer: GANTrainer, name: str, lr: float, betas: tuple) -> GANTrainer:
    """A copy of `trainer` (same weights) with the fast path `name` switched off."""
    G, D = copy.deepcopy(trainer.G), copy.deepcopy(trainer.D)
    if name == "no-channels-last":
        G.to(memory_format=torch.contiguous_format)
        D.to(memory_format=torch.contiguous_format)
    fused = None if name == "no-fused-adam" else True
    variant = GANTrainer(G, D, torch.optim.Adam(G.parameters(), lr, betas, fused=fused),
                         torch.optim.Adam(D.parameters(), lr, betas, fused=fused), "nonsaturating",
                         reuse_fake=name != "no-reuse")
    if name == "no-freeze-d":
        variant._d_trainable = []  # G's step then also computes D's gradients (discarded by D's zero_grad)
    return variant


def count_gflop(step) -> float:
    """GFLOP of one call of `step` (forward + backward; optimizer arithmetic is not counted)."""
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops() / 1e9


def time_iters(step, iters: int) -> float:
    """Seconds for `iters` calls of `step`."""
    start = time.perf_counter()
    for _ in range(iters):
        step()
    return time.perf_counter() - start


def bench_case(preset: str, rounds: int, iters: int, peak: float, ablate: bool = False) -> dict:
    cfg = resolve(preset, None, ["log.progress=false"])
    training = prepare_training(cfg)
    trainer, data = training.family.trainer, training.family.data
    t = cfg.train
    plain = PlainLoop(trainer.G, trainer.D, t.d_lr, tuple(t.d_betas), data.sampler.images, t.batch_size, cfg.seed)
    gankit_step = lambda: trainer.train_step(data.next_batch)  # noqa: E731
    flops = {"plain": count_gflop(plain.step), "gankit": count_gflop(gankit_step)}
    steps = {"plain": plain.step, "gankit": gankit_step}
    for name in ABLATIONS if ablate else ():
        variant = ablated(trainer, name, t.d_lr, tuple(t.d_betas))
        steps[name] = lambda v=variant: v.train_step(data.next_batch)
        flops[name] = count_gflop(steps[name])
    for step in steps.values():  # warm-up: allocator, oneDNN primitive caches
        time_iters(step, 3)
    rates: dict[str, list[float]] = {name: [] for name in steps}
    ratios: dict[str, list[float]] = {name: [] for name in steps}
    for r in range(rounds):
        # Interleaved step by step (order flipped every round), so a load spike from other
        # processes hits every loop alike; a round's rate is its iterations over their summed time.
        order = list(steps) if r % 2 == 0 else list(steps)[::-1]
        seconds = dict.fromkeys(steps, 0.0)
        for _ in range(iters):
            for name in order:
                seconds[name] += time_iters(steps[name], 1)
        for name in steps:
            rates[name].append(iters * t.batch_size / seconds[name])
        for name in steps:
            ratios[name].append(rates[name][-1] / rates["plain"][-1])
    out = {"case": LABELS.get(preset, preset), "ratio": statistics.median(ratios["gankit"]), "loops": list(steps)}
    for name in steps:
        out.setdefault("ratios", {})[name] = statistics.median(ratios[name])
        ips = statistics.median(rates[name])
        gflops = flops[name] * ips / t.batch_size
        out[name] = {"images_per_s": ips, "gflop_per_iter": flops[name], "gflop_s": gflops, "of_peak": gflops / peak}
    return out


def cli_peak_rss_mib(steps: int) -> float:
    """Peak RSS (MiB) of a child `gankit train --preset dcgan-fashion --steps N` run."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "gankit", "train", "--preset", "dcgan-fashion", "--steps", str(steps),
               "--no-progress", "--out", str(Path(tmp) / "run")]
        subprocess.run(cmd, check=True, capture_output=True)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--iters", type=int, default=15, help="iterations per loop per round")
    parser.add_argument("--cases", nargs="+", default=["dcgan-fashion", "dcgan-digits"])
    parser.add_argument("--rss-steps", type=int, default=100, help="steps of the peak-RSS run (0 = skip)")
    parser.add_argument("--ablate", action="store_true", help="also time gankit with each fast path off")
    args = parser.parse_args()
    peak = matmul_peak()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; fp32 matmul peak {peak:.1f} GFLOP/s")
    print(f"{args.rounds} interleaved rounds x {args.iters} iterations per loop; medians over rounds\n")
    header = (f"{'case':26s} {'loop':16s} {'img/s':>8s} {'GFLOP/it':>9s} {'GFLOP/s':>8s} {'of peak':>8s} "
              f"{'/plain':>7s}")
    print(header)
    for preset in args.cases:
        result = bench_case(preset, args.rounds, args.iters, peak, args.ablate)
        for name in result["loops"]:
            r = result[name]
            print(f"{result['case']:26s} {name:16s} {r['images_per_s']:8.1f} {r['gflop_per_iter']:9.2f} "
                  f"{r['gflop_s']:8.1f} {r['of_peak']:8.0%} {result['ratios'][name]:6.2f}x")
        print(f"{'':26s} ratio gankit/plain (median of per-round ratios): {result['ratio']:.2f}x\n")
    if args.rss_steps > 0:
        print(f"peak RSS of `gankit train --preset dcgan-fashion --steps {args.rss_steps}`: "
              f"{cli_peak_rss_mib(args.rss_steps):.0f} MiB")


if __name__ == "__main__":
    main()
