"""Print how long the metrics take on this machine (median of 3 runs each).

    python benchmarks/metrics_speed.py [--skip-inception]

Covers: FID maths on 10k x 10k domain-sized (256-d) and Inception-sized (2048-d) features,
KID and PRDC on 10k x 10k 256-d features, domain-feature extraction of 10k 28x28 images,
2-D mode metrics on 2,500 samples (target < 1 s), and Inception images/s when a network
is installed. Timings, not assertions: compare them only on the same machine.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from gankit.errors import GankitError
from gankit.metrics import (
    extract_features,
    fid_from_features,
    kid_from_features,
    load_domain_classifier,
    load_inception,
    mode_metrics,
    prdc,
)


def median_time(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def fashion_or_random(n: int) -> tuple[torch.Tensor, str]:
    try:
        from gankit.data import load_fashion_mnist

        return load_fashion_mnist("test").images[:n], "Fashion-MNIST test"
    except GankitError:
        return torch.rand(n, 1, 28, 28) * 2 - 1, "uniform noise"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-inception", action="store_true")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    rng = np.random.default_rng(0)

    for dim in (256, 2048):
        a, b = rng.normal(size=(10_000, dim)), rng.normal(size=(10_000, dim)) + 0.1
        print(f"FID maths, 10k x 10k, {dim}-d:        {median_time(lambda: fid_from_features(a, b)):8.3f} s")
    a, b = rng.normal(size=(10_000, 256)), rng.normal(size=(10_000, 256)) + 0.1
    print(f"KID (100 x 1000 subsets), 256-d:     {median_time(lambda: kid_from_features(a, b)):8.3f} s")
    print(f"PRDC k=5, 10k x 10k, 256-d:          {median_time(lambda: prdc(a, b)):8.3f} s")

    images, source = fashion_or_random(10_000)
    load_domain_classifier("fashion-mnist")  # load once, outside the timing
    t = median_time(lambda: extract_features(images, "fashion-mnist"))
    print(f"domain features, 10k 28x28 ({source}): {t:8.3f} s = {len(images) / t:,.0f} images/s")

    end_to_end_fid()

    from gankit.data import make_toy

    grid = make_toy("grid")
    samples, _ = grid.sample(2_500, torch.Generator().manual_seed(0))
    t = median_time(lambda: mode_metrics(samples, grid.centers, grid.std))
    print(f"mode metrics, 2,500 samples, 25 modes: {t * 1000:8.2f} ms (target < 1 s)")

    if args.skip_inception:
        return
    try:
        _, info = load_inception(download=False)
    except GankitError as exc:
        print(f"Inception: not available ({exc})")
        return
    batch = images[:32]
    t = median_time(lambda: extract_features(batch, "inception", batch_size=32, with_logits=False))
    print(f"Inception features ({info['kind']}, sha256 {info['sha256'][:12]}): {len(batch) / t:8.1f} images/s")


def end_to_end_fid() -> None:
    """`gankit eval`'s path for a dcgan-fashion G: generate 10k, domain features, FID vs 10k real test images.

    The real statistics are computed once (then cached on disk, as in normal use); the timing
    covers generation + fake features + FID, which is what every later evaluation costs.
    """
    from gankit.families import build_generator
    from gankit.config import resolve
    from gankit.data import fashion_mnist_dir
    from gankit.metrics.evaluate import evaluate_generator

    if fashion_mnist_dir() is None:
        print("end-to-end FID: Fashion-MNIST not installed, skipped")
        return
    cfg = resolve("dcgan-fashion", None, [])
    torch.manual_seed(0)
    G = build_generator(cfg).to(memory_format=torch.channels_last)
    evaluate_generator(G, cfg, n=10_000, split="test")  # fills the reference cache
    t = median_time(lambda: evaluate_generator(G, cfg, n=10_000, split="test"))
    print(f"FID 10k generated vs 10k real (dcgan-fashion G, domain features, incl. generation): {t:8.3f} s "
          "(target < 10 s)")


if __name__ == "__main__":
    main()
