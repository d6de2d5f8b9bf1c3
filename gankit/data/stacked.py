"""Stacked Fashion-MNIST: three random Fashion-MNIST images stacked as the R, G and B channels.

The image-level mode-collapse benchmark of the unrolled-GAN and PacGAN papers (stacked MNIST), with
Fashion-MNIST in place of digits: 10 classes per channel give 1,000 modes, and a mode is the triple
of classes (label = 100 * class_R + 10 * class_G + class_B). Channels are drawn independently and
uniformly with replacement from the same Fashion-MNIST split, so every mode is about equally likely
(the split's classes are balanced). A seed fixes the stacks, so a split's stacked set is the same
in every run; different splits draw from disjoint Fashion-MNIST images.
"""

from __future__ import annotations

import torch

from gankit.data import ImageData
from gankit.data.fashion_mnist import load_fashion_mnist
from gankit.errors import GankitError

STACKED_CHANNELS = 3
NUM_MODES = 10**STACKED_CHANNELS
# Stacks per split when `n` is not given: a fixed, large training set, and the 26k-sample evaluation
# protocol (the size PacGAN and the unrolled-GAN paper score generated samples at) for the others.
DEFAULT_N = {"train": 60_000, "trainval": 60_000}
PROTOCOL_N = 26_000
_SPLIT_STREAMS = {"train": 1, "val": 2, "trainval": 3, "test": 4, "all": 5}


def load_stacked_fashion(split: str = "train", n: int | None = None, seed: int = 0,
                         root=None) -> ImageData:
    """`n` stacked images from Fashion-MNIST's `split`, as ImageData.

    Returns images `[n, 3, 28, 28]` float32 in [-1, 1] (channel k is one Fashion-MNIST image) and
    labels `[n]` int64, the mode index 100 * c_R + 10 * c_G + c_B in 0..999 from the true classes;
    class_names are the 1,000 three-digit strings "000".."999". `n` defaults to 60,000 for
    "train"/"trainval" and 26,000 for the other splits. Deterministic for a given (split, n, seed).
    """
    if split not in _SPLIT_STREAMS:
        raise GankitError(f"unknown split {split!r} for stacked-fashion; choose one of: {', '.join(_SPLIT_STREAMS)}")
    n = DEFAULT_N.get(split, PROTOCOL_N) if n is None else n
    if n < 1:
        raise GankitError(f"stacked-fashion needs n >= 1 stacks, got {n}")
    base = load_fashion_mnist(split, root=root)
    # One private generator per (seed, split): the global RNG and so training streams stay untouched.
    gen = torch.Generator().manual_seed(seed * 1009 + _SPLIT_STREAMS[split])
    index = torch.randint(0, len(base.images), (n, STACKED_CHANNELS), generator=gen)
    images = base.images[index, 0].contiguous()  # [n, 3, 28, 28]: channel k from image index[:, k]
    classes = base.labels[index]  # [n, 3]
    labels = classes[:, 0] * 100 + classes[:, 1] * 10 + classes[:, 2]
    names = [f"{m:03d}" for m in range(NUM_MODES)]
    return ImageData(images=images, labels=labels, class_names=names)
