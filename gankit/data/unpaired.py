"""Two unpaired image domains A and B (CycleGAN, DiscoGAN) and a resumable stream over both.

Sources:
- a folder (or .zip... any path `load_folder` reads) holding `trainA/`, `trainB/` and, for
  evaluation, `testA/`, `testB/` (CycleGAN's dataset layout); images of any size and channels,
  resized to one resolution as the folder loader does;
- two Fashion-MNIST classes, e.g. 7 (sneaker) and 9 (ankle boot), each a domain; the train and
  test splits come from Fashion-MNIST's own splits.
"""

from __future__ import annotations

from pathlib import Path

import torch

from gankit.data import ImageData
from gankit.data.fashion_mnist import FASHION_MNIST_CLASSES, load_fashion_mnist
from gankit.data.folder import load_folder
from gankit.data.sampler import TensorSampler
from gankit.errors import GankitError

SPLITS = ("train", "test")
B_SEED_OFFSET = 1_000_003  # domain B's stream has its own shuffle seeds, never one of A's epochs


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise GankitError(f"unknown split {split!r} for unpaired data; use 'train' or 'test'")


def load_unpaired(path: str | Path, resolution: int | tuple[int, int], channels: int = 3,
                  split: str = "train", crop: str = "center") -> tuple[ImageData, ImageData]:
    """Domains A and B from `path/{split}A` and `path/{split}B` (unlabelled, whatever their subfolders).

    Returns two ImageData with images `[N_A, channels, H, W]` / `[N_B, channels, H, W]` float32 in
    [-1, 1] and labels None. A missing or empty domain folder raises one GankitError naming it.
    """
    _check_split(split)
    root = Path(path).expanduser()
    if not root.is_dir():
        raise GankitError(f"unpaired data path {root} is not a directory; pass a folder holding "
                          f"{split}A/ and {split}B/ (CycleGAN's layout)")
    domains = []
    for side in ("A", "B"):
        folder = root / f"{split}{side}"
        if not folder.is_dir():
            raise GankitError(f"unpaired data needs the folder {folder}; put domain {side}'s {split} images there")
        try:
            data = load_folder(folder, resolution, channels, crop)
        except GankitError as exc:
            if "no usable image" not in str(exc):
                raise
            raise GankitError(f"no usable image in {folder}; put domain {side}'s {split} images there "
                              "(.png, .jpg, .bmp, .gif, .webp, .tif)") from None
        # Subfolders inside a domain are not classes here: drop the labels load_folder may infer.
        domains.append(ImageData(data.images, None, None))
    return domains[0], domains[1]


def check_fashion_domains(classes: list) -> tuple[int, int]:
    """Two distinct Fashion-MNIST class indices in 0..9, or a one-line GankitError."""
    if (not isinstance(classes, (list, tuple)) or len(classes) != 2
            or not all(isinstance(c, int) and not isinstance(c, bool) for c in classes)):
        raise GankitError(f"data.domains must be two Fashion-MNIST class indices such as [7, 9] "
                          f"(sneaker, ankle boot), got {classes!r}")
    a, b = classes
    if not (0 <= a <= 9 and 0 <= b <= 9):
        raise GankitError(f"data.domains classes must be in 0..9 ({', '.join(FASHION_MNIST_CLASSES)}), got {classes!r}")
    if a == b:
        raise GankitError(f"data.domains needs two different classes, got {classes!r}; e.g. [7, 9]")
    return a, b


def load_fashion_domains(classes: list, split: str = "train", resolution: int = 28,
                         root: str | Path | None = None) -> tuple[ImageData, ImageData]:
    """Fashion-MNIST class `classes[0]` as domain A and `classes[1]` as domain B, from `split`.

    Returns two ImageData with images `[N, 1, R, R]` in [-1, 1] (6,000 per class in train, 1,000 in
    test) and labels `[N]` holding the class index (every label of A is classes[0]).
    """
    _check_split(split)
    a, b = check_fashion_domains(classes)
    data = load_fashion_mnist(split, resolution=resolution, root=root or None)
    out = []
    for k in (a, b):
        keep = data.labels == k
        out.append(ImageData(data.images[keep].contiguous(), data.labels[keep].clone(), data.class_names))
    return out[0], out[1]


class UnpairedSampler:
    """Two independent, resumable shuffled streams, one per domain (no pairing between them).

    Domain A's stream is a TensorSampler with `seed`, B's with `seed + B_SEED_OFFSET`; with several
    ranks each stream shards its domain as TensorSampler does. `batch_size` is per rank and per domain.
    """

    def __init__(self, a: ImageData, b: ImageData, batch_size: int, seed: int,
                 device: torch.device | str = "cpu", rank: int = 0, world_size: int = 1) -> None:
        for name, data in (("A", a), ("B", b)):
            if len(data) < batch_size * world_size:
                raise GankitError(f"domain {name} has {len(data)} training images, fewer than train.batch_size="
                                  f"{batch_size} x {world_size} process(es); lower train.batch_size or add images")
        self.a = TensorSampler(ImageData(a.images, None, None), batch_size, seed, device, rank, world_size)
        self.b = TensorSampler(ImageData(b.images, None, None), batch_size, seed + B_SEED_OFFSET, device, rank,
                               world_size)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Next batches: (a `[B, C, H, W]`, b `[B, C, H, W]`), on the sampler's device."""
        return self.a.next()[0], self.b.next()[0]

    def state_dict(self) -> dict:
        return {"a": self.a.state_dict(), "b": self.b.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if "a" not in state or "b" not in state:
            raise GankitError("sampler state lacks 'a'/'b'; the checkpoint is not from an unpaired (CycleGAN) run")
        self.a.load_state_dict(state["a"])
        self.b.load_state_dict(state["b"])
