"""scikit-learn's bundled 8x8 handwritten digits (1,797 images), available offline.

A tiny real image set: good for fast tests and CPU demos of conditional models. Its splits are
fixed and disjoint: "train" (train on it), "val" (held out of the training images; evaluation during
training and best.pt use it) and "test" (scored once at the end); see `load_digits`.
"""

from __future__ import annotations

import numpy as np
import torch

from gankit.data import ImageData, resize_images, scale_to_unit
from gankit.errors import GankitError

_SPLITS = ("train", "val", "test", "trainval", "all")
_TRAIN_FRACTION = 0.8  # of each class: train + val; the rest is test
_VAL_FRACTION = 0.1  # of each class's train + val share: held out as val (about 144 images)
_SPLIT_SEED = 0  # the one fixed permutation every split is cut from
_SOURCE: dict[str, np.ndarray] = {}  # the decoded sklearn arrays, loaded once per process


def _source() -> tuple[np.ndarray, np.ndarray]:
    """(pixels `[1797, 8, 8]` float32 in 0..16, labels `[1797]` int64), cached."""
    if not _SOURCE:
        # Imported here so that importing gankit.data does not pay for importing sklearn.
        from sklearn.datasets import load_digits as sklearn_load_digits

        bunch = sklearn_load_digits()
        _SOURCE["pixels"] = np.asarray(bunch.images, dtype=np.float32)
        _SOURCE["labels"] = np.asarray(bunch.target, dtype=np.int64)
    return _SOURCE["pixels"], _SOURCE["labels"]


def _split_indices(labels: np.ndarray, split: str) -> np.ndarray:
    """Stratified, deterministic split; returns sorted indices.

    Within each class, in one fixed RandomState(0) permutation: the first 80% are "trainval",
    the rest "test". The last 10% of the trainval share are "val" (held out for choosing
    best.pt), the others "train". So train, val and test are disjoint, trainval = train + val
    and "all" is every image.
    """
    if split == "all":
        return np.arange(len(labels))
    order = np.random.RandomState(_SPLIT_SEED).permutation(len(labels))
    chosen = []
    for cls in np.unique(labels):
        members = order[labels[order] == cls]  # this class, in permutation order
        n_trainval = int(round(_TRAIN_FRACTION * len(members)))
        n_train = n_trainval - int(round(_VAL_FRACTION * n_trainval))
        parts = {"train": members[:n_train], "val": members[n_train:n_trainval],
                 "trainval": members[:n_trainval], "test": members[n_trainval:]}
        chosen.append(parts[split])
    return np.sort(np.concatenate(chosen))


def load_digits(split: str = "train", resolution: int = 32) -> ImageData:
    """Load the sklearn digits as `ImageData`.

    Returns images `[N, 1, R, R]` float32 in `[-1, 1]` (pixel values 0..16 mapped linearly,
    then bilinear resize to R = `resolution`), labels `[N]` int64 in 0..9, class names "0".."9".
    Splits (disjoint, stratified, fixed): "train" 1,295 images, "val" 143 (held out of the
    training images, for choosing best.pt), "test" 359; "trainval" = train + val (1,438) and
    "all" = all 1,797. Train on "train"; evaluate on "val" during training and on "test" once.
    """
    if split not in _SPLITS:
        raise GankitError(f"unknown digits split {split!r}; use 'train', 'val', 'test', 'trainval' or 'all'")
    if not isinstance(resolution, int) or resolution < 1:
        raise GankitError(f"resolution must be a positive int, got {resolution!r}")
    pixels_np, labels_np = _source()
    index = _split_indices(labels_np, split)
    pixels = torch.from_numpy(pixels_np[index]).unsqueeze(1)
    images = resize_images(scale_to_unit(pixels, 16.0), (resolution, resolution))
    labels = torch.from_numpy(labels_np[index])
    return ImageData(images=images, labels=labels, class_names=[str(d) for d in range(10)])
