"""Paired image data for image-to-image translation (pix2pix): each input A has its target B.

Two folder layouts (a directory or a .zip, as `load_folder` reads them):
- folders: `A/` and `B/` subfolders whose images match by name (the suffix may differ:
  `A/0001.png` pairs with `B/0001.jpg`); subfolders inside A/ and B/ match by path too;
- side-by-side: every image holds A | B, A the left half and B the right half (the layout of
  the public pix2pix datasets: facades, maps, edges2shoes, ...); widths must be even.
`layout="auto"` picks folders when both `A/` and `B/` exist, else side-by-side.
Splits: a `train/` subfolder, if present, is the training split (else the top level minus any
`test/` and `val/` subfolders); the test split is the `test/` subfolder.

`make_fashion_edges` builds the built-in benchmark pairs from Fashion-MNIST: a deterministic
edge map of each garment -> the garment.
"""

from __future__ import annotations

import io
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from gankit.data import ImageData, scale_to_unit
from gankit.data.fashion_mnist import load_fashion_mnist
from gankit.data.folder import _MODES, IMAGE_SUFFIXES, _check_args, _decode, _fit, _list_images, _to_8bit
from gankit.data.sampler import TensorSampler
from gankit.errors import GankitError

LAYOUTS = ("auto", "folders", "side-by-side")
SPLITS = ("train", "test")
# Sobel gradient magnitude (on the [0, 1] scale, kernels / 4 so a full black-white step is 1)
# above this is an edge pixel. 0.3 keeps the outline and the main seams, not the fabric texture.
EDGE_THRESHOLD = 0.3


@dataclass
class PairedData:
    """Aligned image pairs in memory.

    a: inputs `[N, Ca, H, W]` float32 in [-1, 1]; b: targets `[N, Cb, H, W]` float32 in [-1, 1];
    names: one name per pair (the file's path without suffix, or "fashion-<split>-<index>").
    """

    a: torch.Tensor
    b: torch.Tensor
    names: list[str]

    def __len__(self) -> int:
        return int(self.a.shape[0])

    def subset(self, index: torch.Tensor) -> "PairedData":
        """The pairs at `index` (int64 `[M]`), in that order."""
        return PairedData(self.a[index], self.b[index], [self.names[i] for i in index.tolist()])


def _channel_pair(channels: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(channels, int):
        return channels, channels
    if isinstance(channels, (tuple, list)) and len(channels) == 2:
        return int(channels[0]), int(channels[1])
    raise GankitError(f"channels must be 1, 3 or 4, or a pair (A, B) of them, got {channels!r}")


def _split_rels(rels: list[str], split: str, path: Path) -> tuple[list[str], str]:
    """The relative names in `split` (prefix stripped) and the prefix they sat under."""
    tops = {r.split("/", 1)[0] for r in rels if "/" in r}
    if split == "test":
        if "test" not in tops:
            raise GankitError(f"{path} has no test/ subfolder; put held-out pairs in {path}/test "
                              "(same layout as the training pairs) to score the test split")
        prefix = "test/"
    elif "train" in tops:
        prefix = "train/"
    else:
        kept = [r for r in rels if r.split("/", 1)[0] not in ("test", "val") or "/" not in r]
        return kept, ""
    return [r[len(prefix):] for r in rels if r.startswith(prefix)], prefix


def _stem(rel: str) -> str:
    return os.path.splitext(rel)[0]


def _decode_all(rels: list[str], work) -> list:
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        return list(pool.map(work, rels))


def _no_image(where: str, what: str) -> GankitError:
    suffixes = " ".join(sorted(IMAGE_SUFFIXES))
    return GankitError(f"no usable image in {where}; put the {what} images there (accepted suffixes: {suffixes})")


def _match_folders(rels: list[str], where: str) -> list[tuple[str, str]]:
    """(A rel, B rel) pairs matched by name without suffix; raises on empty domains or strays."""
    a = {_stem(r[2:]): r for r in rels if r.startswith("A/")}
    b = {_stem(r[2:]): r for r in rels if r.startswith("B/")}
    if not a:
        raise _no_image(f"{where}/A", "input (A)")
    if not b:
        raise _no_image(f"{where}/B", "target (B)")
    for mine, other, me, them in ((a, b, "A", "B"), (b, a, "B", "A")):
        strays = sorted(set(mine) - set(other))
        if strays:
            raise GankitError(
                f"{len(strays)} image(s) in {where}/{me} have no image of the same name in {where}/{them}, "
                f"e.g. {mine[strays[0]]}; give every {me}/ image a {them}/ partner with the same name "
                "(the suffix may differ) or remove it"
            )
    return [(a[k], b[k]) for k in sorted(a)]


def _decode_side_by_side(data: bytes, size: tuple[int, int], modes: tuple[str, str], crop: str):
    """Bytes of one A|B image -> (A uint8 [H, W, Ca], B uint8 [H, W, Cb]), or the odd width as an int."""
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        img = _to_8bit(ImageOps.exif_transpose(img))
        if img.width % 2:
            return img.width
        half = img.width // 2
        halves = (img.crop((0, 0, half, img.height)), img.crop((half, 0, img.width, img.height)))
        arrays = [np.asarray(_fit(h.convert(m), size, crop), dtype=np.uint8).reshape(size[0], size[1], -1)
                  for h, m in zip(halves, modes)]
    return arrays[0], arrays[1]


def _to_images(arrays: list[np.ndarray]) -> torch.Tensor:
    stacked = torch.from_numpy(np.stack(arrays))
    return scale_to_unit(stacked.permute(0, 3, 1, 2).contiguous(), 255.0)


def _warn_skipped(skipped: list[str], where: str) -> None:
    if skipped:
        warnings.warn(f"skipped {len(skipped)} unreadable pair(s) in {where}, e.g. {skipped[0]}", stacklevel=3)


def load_paired(
    path: str | Path,
    resolution: int | tuple[int, int],
    channels: int | tuple[int, int] = 3,
    layout: str = "auto",
    crop: str = "center",
    split: str = "train",
) -> PairedData:
    """Load the image pairs of `split` under `path` (directory or .zip) as `PairedData`.

    Both domains come out at `resolution` (int = square; shorter side fitted then center
    crop, or a plain resize with crop="none"), with `channels` (one int for both, or (Ca, Cb)).
    Unreadable files are skipped with one warning; a domain with no usable image, names that
    do not pair up, or an odd-width side-by-side image raise a one-line GankitError.
    """
    ca, cb = _channel_pair(channels)
    size = _check_args(resolution, ca, crop)
    _check_args(resolution, cb, crop)
    if layout not in LAYOUTS:
        raise GankitError(f"paired layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if split not in SPLITS:
        raise GankitError(f"paired split must be train or test, got {split!r}")
    path = Path(path).expanduser()
    if not path.exists():
        raise GankitError(f"data path {path} does not exist; pass a folder (A/ and B/, or A|B images) or a .zip")
    all_rels, read, close = _list_images(path)
    try:
        rels, prefix = _split_rels(all_rels, split, path)
        where = f"{path}/{prefix.rstrip('/')}" if prefix else str(path)
        has_a, has_b = (any(r.startswith(d + "/") for r in rels) for d in ("A", "B"))
        if layout == "folders" or (layout == "auto" and has_a and has_b):
            return _load_folders(rels, prefix, read, where, size, (ca, cb), crop)
        return _load_side_by_side(rels, prefix, read, where, size, (ca, cb), crop)
    finally:
        close()


def _load_folders(rels, prefix, read, where, size, channels, crop) -> PairedData:
    pairs = _match_folders(rels, where)
    modes = (_MODES[channels[0]], _MODES[channels[1]])

    def work(pair: tuple[str, str]):
        try:
            return tuple(_decode(read(prefix + rel), size, mode, crop) for rel, mode in zip(pair, modes))
        except Exception:  # any decode failure means "unreadable": skip the pair, count it
            return None

    decoded = _decode_all(pairs, work)
    _warn_skipped([p[0] for p, d in zip(pairs, decoded) if d is None], where)
    kept = [i for i, d in enumerate(decoded) if d is not None]
    if not kept:
        raise _no_image(f"{where}/A and {where}/B", "paired")
    return PairedData(_to_images([decoded[i][0] for i in kept]), _to_images([decoded[i][1] for i in kept]),
                      [_stem(pairs[i][0][2:]) for i in kept])


def _load_side_by_side(rels, prefix, read, where, size, channels, crop) -> PairedData:
    if not rels:
        raise _no_image(where, "side-by-side A|B")
    modes = (_MODES[channels[0]], _MODES[channels[1]])

    def work(rel: str):
        try:
            return _decode_side_by_side(read(prefix + rel), size, modes, crop)
        except Exception:
            return None

    decoded = _decode_all(rels, work)
    odd = [(rel, d) for rel, d in zip(rels, decoded) if isinstance(d, int)]
    if odd:
        rel, width = odd[0]
        raise GankitError(
            f"{where}/{rel} is {width} px wide: a side-by-side image must have an even width (A the left half, "
            "B the right); crop it by one pixel, or use data.layout=folders with A/ and B/ subfolders"
        )
    _warn_skipped([rel for rel, d in zip(rels, decoded) if d is None], where)
    kept = [i for i, d in enumerate(decoded) if d is not None]
    if not kept:
        raise _no_image(where, "side-by-side A|B")
    return PairedData(_to_images([decoded[i][0] for i in kept]), _to_images([decoded[i][1] for i in kept]),
                      [_stem(rels[i]) for i in kept])


def edge_map(images: torch.Tensor, threshold: float = EDGE_THRESHOLD) -> torch.Tensor:
    """Binary edges of `[N, 1, H, W]` images in [-1, 1]: +1 where the Sobel gradient magnitude
    (on the [0, 1] scale) exceeds `threshold`, else -1. Pure float32 maths on the CPU: deterministic."""
    x = (images.to("cpu", torch.float32) + 1.0) / 2.0
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 4.0
    kernels = torch.stack([kx, kx.T]).unsqueeze(1)  # [2, 1, 3, 3]: d/dx and d/dy
    grad = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernels)
    magnitude = grad.pow(2).sum(dim=1, keepdim=True).sqrt()
    return torch.where(magnitude > threshold, 1.0, -1.0)


def make_fashion_edges(split: str, resolution: int = 28, root: str | Path | None = None) -> PairedData:
    """The built-in `fashion-edges` pairs: A = `edge_map` of each Fashion-MNIST garment of `split`
    (train: 60,000, test: 10,000), B = the garment; `[N, 1, R, R]` in [-1, 1]. Edges are taken at
    the requested resolution, so they line up with B exactly."""
    garments = load_fashion_mnist(split, resolution, root=root)
    return PairedData(edge_map(garments.images), garments.images,
                      [f"fashion-{split}-{i}" for i in range(len(garments))])


class PairedSampler:
    """Shuffled epochs over aligned pairs: `next() -> (a [B, Ca, H, W], b [B, Cb, H, W])` on `device`.

    The order is exactly a `TensorSampler`'s (per-epoch seeded permutation, rank shards, drop_last),
    drawn over pair indices, so the two domains stay aligned and the state dict is the same.
    """

    def __init__(self, data: PairedData, batch_size: int, seed: int, device: torch.device | str = "cpu",
                 rank: int = 0, world_size: int = 1) -> None:
        self.device = torch.device(device)
        self.a = data.a.to(self.device)
        self.b = data.b.to(self.device)
        indices = ImageData(torch.arange(len(data)), None, None)
        self.order = TensorSampler(indices, batch_size, seed, self.device, rank, world_size)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        index, _ = self.order.next()
        return self.a[index], self.b[index]

    def state_dict(self) -> dict:
        """`{"epoch", "position", "seed"}` as plain ints (a TensorSampler's)."""
        return self.order.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.order.load_state_dict(state)
