"""Fashion-MNIST (Zalando): 70,000 greyscale 28x28 clothing images in 10 classes.

The IDX files are parsed here with numpy (gzip or raw), so no torchvision is needed.
Decoded uint8 arrays are cached per process, so a second load is instant.

Splits: the 60,000-image training file is cut once, by a fixed seed, into "train" (55,000) and
"val" (5,000, 500 per class: held out for choosing best.pt during training); "trainval" is the
whole training file and "test" the 10,000-image test file. Train on "train", evaluate on "val"
during training and on "test" once at the end.
"""

from __future__ import annotations

import gzip
import os
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import torch

from gankit.data import ImageData, resize_images, scale_to_unit
from gankit.errors import GankitError

FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]

# Debian/Ubuntu package `dataset-fashion-mnist` installs the files here.
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
BASE_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
DOWNLOAD_TIMEOUT_S = 20.0

# split -> (images file stem, labels file stem); each may exist as STEM or STEM.gz.
_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# split -> the file it is cut from; "train" and "val" are disjoint parts of the training file.
_SPLIT_FILE = {"train": "train", "val": "train", "trainval": "train", "test": "test"}
VAL_FRACTION = 1 / 12  # of each class of the training file: 500 of 6,000, 5,000 images in all
VAL_SEED = 0  # the fixed permutation val is drawn from
_IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dims
_LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dim

# (resolved dir, split) -> (uint8 images [N, 28, 28], uint8 labels [N])
_CACHE: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}


def _all_stems() -> list[str]:
    return [stem for pair in _FILES.values() for stem in pair]


def _find_file(directory: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (directory / name).is_file():
            return directory / name
    return None


def _has_all_files(directory: Path) -> bool:
    return all(_find_file(directory, stem) is not None for stem in _all_stems())


def _user_dir() -> Path:
    """Where downloads go: `$GANKIT_DATA/fashion-mnist`, else `~/.cache/gankit/fashion-mnist`."""
    env = os.environ.get("GANKIT_DATA")
    if env:
        return Path(env).expanduser() / "fashion-mnist"
    return Path.home() / ".cache" / "gankit" / "fashion-mnist"


def fashion_mnist_dir() -> Path | None:
    """First directory holding all 4 IDX files (.gz or raw), or None.

    Searched in order: the system dir, `$GANKIT_DATA/fashion-mnist`, `~/.cache/gankit/fashion-mnist`.
    """
    candidates = [SYSTEM_DIR]
    env = os.environ.get("GANKIT_DATA")
    if env:
        candidates.append(Path(env).expanduser() / "fashion-mnist")
    candidates.append(Path.home() / ".cache" / "gankit" / "fashion-mnist")
    for directory in candidates:
        if _has_all_files(directory):
            return directory
    return None


def _fetch(url: str, dest: Path) -> None:
    """Download `url` to `dest` atomically (temp file + rename), so a failed download leaves nothing."""
    tmp = dest.with_name(dest.name + ".part")
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, open(tmp, "wb") as f:
        f.write(response.read())
    os.replace(tmp, dest)


def _download(directory: Path) -> None:
    """Fetch the 4 gzipped IDX files into `directory`; raises GankitError if any fails."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for stem in _all_stems():
            if _find_file(directory, stem) is None:
                _fetch(BASE_URL + stem + ".gz", directory / (stem + ".gz"))
    except Exception as exc:  # network, permission, disk: all end in the same advice
        raise GankitError(
            f"Fashion-MNIST not found and download failed ({type(exc).__name__}); install it with "
            "`apt-get install dataset-fashion-mnist` or put the 4 IDX files in $GANKIT_DATA/fashion-mnist"
        ) from exc


def _read_bytes(path: Path) -> bytes:
    """Whole file contents, gunzipped when the file starts with the gzip magic bytes."""
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise GankitError(f"{path} is a corrupt or truncated gzip file; delete it and get it again") from exc


def read_idx(path: str | Path, expected_magic: int) -> np.ndarray:
    """Parse an unsigned-byte IDX file into a uint8 array shaped as its header says."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise GankitError(f"{path} is too short to be an IDX file; delete it and get it again")
    magic = int.from_bytes(data[:4], "big")
    if magic != expected_magic:
        raise GankitError(
            f"{path} has IDX magic number {magic:#010x}, expected {expected_magic:#010x}; "
            "it is not the right Fashion-MNIST file"
        )
    ndim = magic & 0xFF
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise GankitError(f"{path} has a truncated IDX header; delete it and get it again")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    count = int(np.prod(dims))
    if len(data) - header_len != count:
        raise GankitError(
            f"{path} holds {len(data) - header_len} data bytes but its header says {count}; "
            "the file is truncated or corrupt, delete it and get it again"
        )
    # A writable copy, so torch.from_numpy can share it without a warning or a second copy.
    return np.frombuffer(data, dtype=np.uint8, offset=header_len).reshape(dims).copy()


def _load_arrays(directory: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    key = (str(directory.resolve()), split)
    if key not in _CACHE:
        images_stem, labels_stem = _FILES[split]
        images = read_idx(_find_file(directory, images_stem), _IMAGES_MAGIC)
        labels = read_idx(_find_file(directory, labels_stem), _LABELS_MAGIC)
        if images.shape[0] != labels.shape[0]:
            raise GankitError(
                f"{directory}: {images.shape[0]} images but {labels.shape[0]} labels for split {split!r}; "
                "the files do not belong together"
            )
        if labels.size and labels.max() >= len(FASHION_MNIST_CLASSES):
            raise GankitError(f"{directory}: label {labels.max()} out of range 0..9; the labels file is corrupt")
        _CACHE[key] = (images, labels)
    return _CACHE[key]


def split_indices(labels: np.ndarray, split: str) -> np.ndarray:
    """Sorted indices of `split` ("train", "val", "trainval") into the training file's `labels` `[N]`.

    val: within each class, the first round(N_class / 12) images of one fixed RandomState(0)
    permutation (500 per class for the real file); train: the rest of the file.
    """
    if split == "trainval":
        return np.arange(len(labels))
    order = np.random.RandomState(VAL_SEED).permutation(len(labels))
    val = []
    for cls in np.unique(labels):
        members = order[labels[order] == cls]  # this class, in permutation order
        val.append(members[:int(round(VAL_FRACTION * len(members)))])
    in_val = np.zeros(len(labels), dtype=bool)
    in_val[np.concatenate(val) if val else []] = True
    return np.flatnonzero(in_val if split == "val" else ~in_val)


def _resolve_dir(root: str | Path | None, download: bool) -> Path:
    if root is not None:
        directory = Path(root).expanduser()
        if not _has_all_files(directory):
            if not download:
                raise GankitError(
                    f"{directory} does not hold the 4 Fashion-MNIST IDX files; add them or pass download=True"
                )
            _download(directory)
        return directory
    directory = fashion_mnist_dir()
    if directory is not None:
        return directory
    if not download:
        raise GankitError(
            "Fashion-MNIST not found; install it with `apt-get install dataset-fashion-mnist` "
            "or put the 4 IDX files in $GANKIT_DATA/fashion-mnist"
        )
    directory = _user_dir()
    _download(directory)
    return directory


def load_fashion_mnist(
    split: str = "train",
    resolution: int = 28,
    root: str | Path | None = None,
    download: bool = True,
) -> ImageData:
    """Load a Fashion-MNIST split as `ImageData`.

    Returns images `[N, 1, R, R]` float32 in `[-1, 1]` (N = 55,000 train, 5,000 val, 60,000
    trainval, 10,000 test; see the module docstring; R = `resolution`, R != 28 is a bilinear
    antialiased resize), labels `[N]` int64 in 0..9.
    `root` pins the directory (else the standard places are searched); if the files are
    missing and `download` is True they are fetched from Zalando's site.
    """
    if split not in _SPLIT_FILE:
        raise GankitError(f"unknown Fashion-MNIST split {split!r}; use 'train', 'val', 'test' or 'trainval'")
    if not isinstance(resolution, int) or resolution < 1:
        raise GankitError(f"resolution must be a positive int, got {resolution!r}")
    directory = _resolve_dir(root, download)
    images_u8, labels_u8 = _load_arrays(directory, _SPLIT_FILE[split])
    if split in ("train", "val"):
        index = split_indices(labels_u8, split)
        images_u8, labels_u8 = images_u8[index], labels_u8[index]
    images = scale_to_unit(torch.from_numpy(images_u8).unsqueeze(1), 255.0)
    images = resize_images(images, (resolution, resolution))
    labels = torch.from_numpy(labels_u8.astype(np.int64))
    return ImageData(images=images, labels=labels, class_names=list(FASHION_MNIST_CLASSES))
