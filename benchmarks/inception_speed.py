"""Inception feature extraction speed on the CPU: plain path vs fast path, against the matmul peak.

    OMP_NUM_THREADS=2 python benchmarks/inception_speed.py [--threads 1,2] [--images 32] [--rounds 3]

Needs the `inception` extra (pip install -e '.[inception]'). For each thread count, the fp32 matmul
peak (best of 512/1024/2048 square products) and the two paths are measured interleaved in one run
(plain, fast, plain, fast, ...), so a busy machine slows both alike; the best round of each is kept.
FLOPs per image are counted by torch's FlopCounterMode on the network itself (2 per multiply-add,
as in the matmul peak). Prints img/s, achieved GFLOP/s, the ratio to the peak, and the largest
difference between the two paths' features. Input: 28x28 grey images (Fashion-MNIST's shape),
so the resize to 299x299 is included in the timing.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from gankit.bench import matmul_gflops
from gankit.metrics.features import INCEPTION_RESOLUTION, load_inception


def flops_per_image(model) -> float:
    x = torch.zeros(1, 3, INCEPTION_RESOLUTION, INCEPTION_RESOLUTION)
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model.net(x) if model.kind == "fid-helper" else model.net(x, return_features=True)
    return counter.get_total_flops()


def images_per_second(model, images: torch.Tensor, fast: bool) -> float:
    model.fast = fast
    with torch.inference_mode():
        start = time.perf_counter()
        model(images)
        return len(images) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2", help="comma list of thread counts (default 1,2)")
    parser.add_argument("--images", type=int, default=32, help="images per timed call (default 32)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per path (default 3)")
    args = parser.parse_args()
    model, info = load_inception(download=False)
    flops = flops_per_image(model)
    images = torch.rand(args.images, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    model.fast = False
    plain_features = model(images[:4])[0]
    model.fast = True
    diff = float((model(images[:4])[0] - plain_features).abs().max())
    print(f"network: {info['path']} (sha256 {info['sha256'][:12]}...), {flops / 1e9:.2f} GFLOP per image "
          f"(2 per multiply-add); fast - plain features: max |diff| {diff:.2e} (max |feature| "
          f"{float(plain_features.abs().max()):.2f})")
    print("| threads | matmul peak GFLOP/s | plain img/s | fast img/s | fast / plain | fast GFLOP/s | fast / peak |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        for fast in (False, True):  # warm-up: the first fast call freezes the network
            images_per_second(model, images[:4], fast)
        peak, plain, fast = 0.0, 0.0, 0.0
        for _ in range(args.rounds):
            peak = max([peak] + [matmul_gflops(size, 0.5)[0] for size in (512, 1024, 2048)])
            plain = max(plain, images_per_second(model, images, fast=False))
            fast = max(fast, images_per_second(model, images, fast=True))
        achieved = fast * flops / 1e9
        print(f"| {threads} | {peak:.0f} | {plain:.2f} | {fast:.2f} | {fast / plain:.2f} | {achieved:.0f} | "
              f"{achieved / peak:.2f} |", flush=True)


if __name__ == "__main__":
    main()
