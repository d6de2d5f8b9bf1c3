"""Datasets for gankit: 2-D toy mixtures and in-memory image sets.

Every image loader returns an `ImageData`: float32 images `[N, C, H, W]` in `[-1, 1]`
plus optional int64 labels `[N]`. Toy mixtures are raw 2-D coordinates (not scaled).

`ImageData` and the two shared image helpers are defined here, before the submodules
are imported, so every loader can import them from `gankit.data` without a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class ImageData:
    """An in-memory image set.

    images: `[N, C, H, W]` float32 in `[-1, 1]`, contiguous.
    labels: `[N]` int64 class indices in `0..K-1`, or None when unlabelled.
    class_names: names of classes `0..K-1`, or None.
    """

    images: torch.Tensor
    labels: torch.Tensor | None
    class_names: list[str] | None

    @property
    def num_classes(self) -> int:
        """Number of classes K; 0 when the data has no labels."""
        if self.labels is None:
            return 0
        if self.class_names is not None:
            return len(self.class_names)
        return int(self.labels.max().item()) + 1 if len(self.labels) else 0

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape of one image, `(C, H, W)`."""
        c, h, w = self.images.shape[1:]
        return int(c), int(h), int(w)

    def __len__(self) -> int:
        return int(self.images.shape[0])


def scale_to_unit(images: torch.Tensor, max_value: float) -> torch.Tensor:
    """Map `[N, C, H, W]` values in `[0, max_value]` to a new float32 tensor in `[-1, 1]`.

    Always copies (never edits `images` in place), so cached source arrays stay intact.
    """
    return images.to(torch.float32, copy=True).mul_(2.0 / max_value).sub_(1.0)


def resize_images(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear antialiased resize of float `[N, C, H, W]` to `(H, W)`; clamps to `[-1, 1]`.

    Antialias matters when shrinking (no aliasing); bilinear overshoot is impossible, but
    the clamp keeps the `[-1, 1]` contract exact after float rounding.
    """
    if tuple(images.shape[-2:]) == tuple(size):
        return images.contiguous()
    out = F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)
    return out.clamp_(-1.0, 1.0).contiguous()


from gankit.data.toy import TOY_MIXTURES, ToyMixture, make_toy  # noqa: E402
from gankit.data.fashion_mnist import (  # noqa: E402
    FASHION_MNIST_CLASSES,
    fashion_mnist_dir,
    load_fashion_mnist,
)
from gankit.data.digits import load_digits  # noqa: E402
from gankit.data.folder import IMAGE_SUFFIXES, folder_image_size, load_folder  # noqa: E402
from gankit.data.sampler import SemiSupervisedSampler, TensorSampler, ToySampler, labelled_subset  # noqa: E402

__all__ = [
    "ImageData",
    "scale_to_unit",
    "resize_images",
    "TOY_MIXTURES",
    "ToyMixture",
    "make_toy",
    "FASHION_MNIST_CLASSES",
    "fashion_mnist_dir",
    "load_fashion_mnist",
    "load_digits",
    "IMAGE_SUFFIXES",
    "load_folder",
    "folder_image_size",
    "TensorSampler",
    "ToySampler",
    "SemiSupervisedSampler",
    "labelled_subset",
]
