"""What three of gankit's stabilisers cost in time, measured rather than assumed.

    PYTHONPATH=$PWD python benchmarks/trick_costs.py [--rounds 5]

- Minibatch discrimination (batch 256, 16 kernels of 8): forward + backward of gankit's layer
  (L1 distances with `torch.cdist`) against the textbook broadcast formula, which builds the
  `[N, N, K, Dk]` differences; the two agree to float rounding (printed).
- The mixture latent (`tricks.latent_mixture=50`): ms per training step of the `toy-grid` preset
  with and without it, alternated round by round so machine noise hits both alike.
- Standing batch-norm statistics for G_ema (`gankit.train.ema.standing_statistics`): seconds per
  refresh of the `dcgan-fashion` G, which every sample grid and checkpoint command pays.

One thread unless --threads says otherwise; medians over --rounds.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from gankit.build import build_models
from gankit.config import resolve
from gankit.models.tricks import MinibatchDiscrimination
from gankit.train.ema import standing_statistics
from gankit.train.loop import prepare_training, train_for_seconds


def broadcast_mbd(layer: MinibatchDiscrimination, x: torch.Tensor) -> torch.Tensor:
    """The same layer computed the textbook way (reference for the speed comparison)."""
    m = (x @ layer.T).view(-1, layer.kernels, layer.kernel_dim)
    dist = (m[:, None] - m[None, :]).abs().sum(dim=3)  # [N, N, K]
    return torch.cat([x, torch.exp(-dist).sum(dim=1) - 1.0], dim=1)


def seconds_per_call(fn, repeats: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def mbd_costs(rounds: int) -> None:
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(128, kernels=16, kernel_dim=8)
    x = torch.randn(256, 128, requires_grad=True)
    gap = (layer(x) - broadcast_mbd(layer, x)).abs().max().item()
    ours, textbook = [], []
    for _ in range(rounds):
        ours.append(seconds_per_call(lambda: layer(x).sum().backward(), 10))
        textbook.append(seconds_per_call(lambda: broadcast_mbd(layer, x).sum().backward(), 10))
    a, b = statistics.median(ours) * 1000, statistics.median(textbook) * 1000
    print(f"minibatch discrimination fwd+bwd, N=256 K=16 Dk=8: cdist {a:.1f} ms, broadcast {b:.1f} ms "
          f"({b / a:.1f}x); max difference {gap:.1e}")


def step_ms(sets: list[str], seconds: float) -> float:
    cfg = resolve("toy-grid", None, ["log.progress=false", "train.steps=100000000", *sets])
    training = prepare_training(cfg)
    train_for_seconds(training, 1.0)  # warm-up
    return 1000 * seconds / train_for_seconds(training, seconds)


def latent_mixture_costs(rounds: int) -> None:
    plain, mixed = [], []
    for _ in range(rounds):
        plain.append(step_ms(["tricks.latent_mixture=0"], 6.0))
        mixed.append(step_ms(["tricks.latent_mixture=50"], 6.0))
    print(f"toy-grid ms/step: without mixture latent {statistics.median(plain):.2f}, "
          f"with 50 components {statistics.median(mixed):.2f} (medians of {rounds}, alternated)")


def standing_statistics_cost(rounds: int) -> None:
    G, _ = build_models(resolve("dcgan-fashion", None, []))
    cost = statistics.median(seconds_per_call(lambda: standing_statistics(G), 1) for _ in range(rounds))
    print(f"standing statistics for the dcgan-fashion G (16 x 256 latents): {cost:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads: {torch.get_num_threads()}")
    mbd_costs(args.rounds)
    latent_mixture_costs(args.rounds)
    standing_statistics_cost(args.rounds)


if __name__ == "__main__":
    main()
