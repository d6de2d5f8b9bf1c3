"""Images from a folder (searched recursively) or a .zip file, loaded into memory.

Layout rules:
- only class subfolders at the top level (no images directly there): each immediate
  subfolder is a class, sorted names -> labels 0..K-1;
- otherwise (images at the top, with or without subfolders): unlabelled.
A .zip whose entries all sit inside one folder is read as that folder (zipping a folder
adds that wrapper). Hidden files and `__MACOSX` entries are ignored.
"""

from __future__ import annotations

import io
import os
import threading
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image, ImageOps

from gankit.data import ImageData, scale_to_unit
from gankit.errors import GankitError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
_MODES = {1: "L", 3: "RGB", 4: "RGBA"}
_CROPS = ("center", "none")


def _is_image_name(rel: str) -> bool:
    parts = rel.split("/")
    if any(p.startswith(".") or p == "__MACOSX" for p in parts):
        return False
    return os.path.splitext(parts[-1])[1].lower() in IMAGE_SUFFIXES


def _list_images(path: Path) -> tuple[list[str], Callable[[str], bytes], Callable[[], None]]:
    """Sorted relative POSIX paths of image files, a reader `rel -> bytes`, and a closer."""
    if path.is_dir():
        rels = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())
        return [r for r in rels if _is_image_name(r)], lambda rel: (path / rel).read_bytes(), lambda: None
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise GankitError(f"data path {path} is neither a directory nor a readable .zip file") from exc
    names = sorted(n for n in archive.namelist() if not n.endswith("/") and _is_image_name(n))
    prefix = _common_wrapper(names)
    lock = threading.Lock()  # reads of one ZipFile from several threads must not interleave

    def read(rel: str) -> bytes:
        with lock:
            return archive.read(prefix + rel)

    return [n[len(prefix):] for n in names], read, archive.close


def _common_wrapper(names: list[str]) -> str:
    """The folder prefix (e.g. "faces/") that every zip entry sits under, or ""."""
    prefix = ""
    while names and all("/" in n[len(prefix):] for n in names):
        tops = {n[len(prefix):].split("/", 1)[0] for n in names}
        if len(tops) != 1:
            break
        prefix += tops.pop() + "/"
    return prefix


def _labels_for(rels: list[str]) -> tuple[list[int] | None, list[str] | None]:
    """Class index per image and class names, or (None, None) when unlabelled."""
    if not rels or any("/" not in r for r in rels):
        return None, None
    class_names = sorted({r.split("/", 1)[0] for r in rels})
    index = {name: i for i, name in enumerate(class_names)}
    return [index[r.split("/", 1)[0]] for r in rels], class_names


def _to_8bit(img: Image.Image) -> Image.Image:
    """16/32-bit integer greyscale -> 8-bit by scaling, since PIL's convert("L") clips at 255."""
    if img.mode.startswith("I;16") or (img.mode == "I" and np.asarray(img).max() > 255):
        arr = np.asarray(img).astype(np.float64) / 257.0
        return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), mode="L")
    if img.mode == "P":
        return img.convert("RGBA")  # keeps palette transparency instead of a PIL warning
    return img


def _fit(img: Image.Image, size: tuple[int, int], crop: str) -> Image.Image:
    """Resize to (H, W): shorter side fits then center crop, or plain resize when crop="none"."""
    h, w = size
    if crop == "none":
        return img.resize((w, h), Image.Resampling.BICUBIC)
    scale = max(h / img.height, w / img.width)
    new_w = max(w, round(img.width * scale))
    new_h = max(h, round(img.height * scale))
    img = img.resize((new_w, new_h), Image.Resampling.BICUBIC)
    left, top = (new_w - w) // 2, (new_h - h) // 2
    return img.crop((left, top, left + w, top + h))


def _decode(data: bytes, size: tuple[int, int], mode: str, crop: str) -> np.ndarray:
    """Bytes -> uint8 `[H, W, C]`; raises on unreadable or truncated data."""
    with Image.open(io.BytesIO(data)) as img:
        img.load()  # forces a full decode, so truncated files fail here
        img = ImageOps.exif_transpose(img)  # photos: respect the camera's orientation tag
        img = _to_8bit(img).convert(mode)
        arr = np.asarray(_fit(img, size, crop), dtype=np.uint8)
    return arr.reshape(size[0], size[1], -1)


def _check_args(resolution: int | tuple[int, int], channels: int, crop: str) -> tuple[int, int]:
    if isinstance(resolution, int):
        resolution = (resolution, resolution)
    if (not isinstance(resolution, (tuple, list)) or len(resolution) != 2
            or not all(isinstance(v, int) and v > 0 for v in resolution)):
        raise GankitError(f"resolution must be a positive int or (height, width), got {resolution!r}")
    if channels not in _MODES:
        raise GankitError(f"channels must be 1, 3 or 4, got {channels!r}")
    if crop not in _CROPS:
        raise GankitError(f"crop must be 'center' or 'none', got {crop!r}")
    return int(resolution[0]), int(resolution[1])


def load_folder(
    path: str | Path,
    resolution: int | tuple[int, int],
    channels: int = 3,
    crop: str = "center",
) -> ImageData:
    """Load every image under `path` (a directory, recursively, or a .zip) as `ImageData`.

    Returns images `[N, channels, H, W]` float32 in `[-1, 1]` with `(H, W) = resolution`
    (an int means square), labels `[N]` int64 when the top level holds only class
    subfolders (else None). Unreadable files are skipped with one warning.
    """
    size = _check_args(resolution, channels, crop)
    path = Path(path).expanduser()
    if not path.exists():
        raise GankitError(f"data path {path} does not exist; pass a directory of images or a .zip file")
    rels, read, close = _list_images(path)
    try:
        def work(rel: str) -> np.ndarray | None:
            try:
                return _decode(read(rel), size, _MODES[channels], crop)
            except Exception:  # any decode failure means "unreadable": skip it, count it
                return None

        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            arrays = list(pool.map(work, rels))
    finally:
        close()
    skipped = [rel for rel, arr in zip(rels, arrays) if arr is None]
    if skipped:
        warnings.warn(f"skipped {len(skipped)} unreadable image(s) in {path}, e.g. {skipped[0]}", stacklevel=2)
    kept = [i for i, arr in enumerate(arrays) if arr is not None]
    if not kept:
        suffixes = " ".join(sorted(IMAGE_SUFFIXES))
        raise GankitError(f"no usable image in {path}; accepted suffixes: {suffixes}")
    labels, class_names = _labels_for(rels)
    stacked = torch.from_numpy(np.stack([arrays[i] for i in kept]))
    images = scale_to_unit(stacked.permute(0, 3, 1, 2).contiguous(), 255.0)
    label_tensor = None if labels is None else torch.tensor([labels[i] for i in kept], dtype=torch.int64)
    return ImageData(images=images, labels=label_tensor, class_names=class_names)


def folder_image_size(path: str | Path) -> tuple[int, int, int]:
    """The common `(channels, height, width)` of the images under `path` (directory or .zip).

    channels is 1 when every readable image is greyscale, else 3. For comparing sample
    folders, where resizing would change what is measured: images of different sizes,
    a missing path or no readable image raise GankitError.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise GankitError(f"image folder {path} does not exist; pass a directory of images or a .zip file")
    rels, read, close = _list_images(path)
    sizes: dict[tuple[int, int], str] = {}
    grey = True
    try:
        for rel in rels:
            try:
                with Image.open(io.BytesIO(read(rel))) as img:
                    sizes.setdefault((img.height, img.width), rel)
                    grey = grey and img.mode in ("L", "I;16", "I", "1")
            except Exception:
                continue  # load_folder skips (and counts) it
    finally:
        close()
    if not sizes:
        raise GankitError(f"no usable image in {path}; accepted suffixes: {', '.join(sorted(IMAGE_SUFFIXES))}")
    if len(sizes) > 1:
        (a, first), (b, second) = list(sizes.items())[:2]
        raise GankitError(
            f"images in {path} differ in size ({first}: {a[1]}x{a[0]}, {second}: {b[1]}x{b[0]}); "
            "resize them to one size first"
        )
    (height, width), = sizes
    return (1 if grey else 3), height, width
