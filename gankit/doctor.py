"""`gankit doctor`: look at a dataset before training on it.

`diagnose(path_or_dataset)` reads a folder / .zip of images (listed exactly as
`gankit.data.folder` lists them: recursive, hidden files and __MACOSX skipped, immediate
subfolders as classes) or a built-in dataset (fashion-mnist, digits) and returns a plain
dict: image count, sizes and aspect ratios, channel modes, unreadable files, exact
duplicates (by content hash), class balance, and a recommendation (preset, resolution,
crop, DiffAugment and EMA for small sets). `print_diagnosis` prints it for people.
"""

from __future__ import annotations

import hashlib
import io
import os
import shlex
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TextIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from gankit.data.folder import IMAGE_SUFFIXES, _labels_for, _list_images
from gankit.errors import GankitError

BUILTIN = ("fashion-mnist", "digits")
BUILTIN_RESOLUTION = {"fashion-mnist": 28, "digits": 32}  # what their presets train at
SMALL_SET = 5000  # below this many images, DiffAugment and EMA usually help (Zhao et al. 2020; Karras et al. 2020)
TINY_SET = 100
RESOLUTIONS = (16, 32, 64, 128, 256)  # sides every DCGAN-style model here builds
EMA_KIMG = 10.0  # suggested G weight-average half-life (thousands of images) for small sets
_SWAPPED_ORIENTATIONS = (5, 6, 7, 8)  # EXIF orientations that rotate by 90 degrees (the loader applies them)


def _inspect(data: bytes) -> dict:
    """Width, height (after EXIF rotation, as the loader sees it), PIL mode, content hash; or an error."""
    digest = hashlib.sha256(data).hexdigest()
    try:
        with Image.open(io.BytesIO(data)) as img:
            mode, (width, height) = img.mode, img.size
            orientation = img.getexif().get(0x0112)
            img.load()  # a full decode, so truncated files are caught as the loader would catch them
    except UnidentifiedImageError:
        return {"error": "not an image format PIL can read", "sha256": digest}
    except Exception as exc:  # anything PIL raises means the loader would skip this file
        return {"error": f"{type(exc).__name__}: {exc}"[:160], "sha256": digest}
    if orientation in _SWAPPED_ORIENTATIONS:
        width, height = height, width
    return {"width": width, "height": height, "mode": mode, "sha256": digest}


def _scan_files(path: Path) -> tuple[list[str], list[dict]]:
    rels, read, close = _list_images(path)
    try:
        def work(rel: str) -> dict:
            try:
                return _inspect(read(rel))
            except OSError as exc:
                return {"error": f"cannot read: {exc}"[:160], "sha256": ""}

        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            infos = list(pool.map(work, rels))
    finally:
        close()
    return rels, infos


def _scan_builtin(name: str) -> tuple[list[str], list[dict], list[int] | None, list[str] | None]:
    """The images a built-in preset trains on (digits: all; Fashion-MNIST: train), at native size, as uint8."""
    if name == "digits":
        from gankit.data import load_digits

        sets = [("all", load_digits(split="all", resolution=8))]
    else:
        from gankit.data import load_fashion_mnist

        sets = [("train", load_fashion_mnist(split="train", download=False))]
    rels, infos, labels = [], [], []
    for split, data in sets:
        pixels = ((data.images + 1.0) * 127.5).round().clamp(0, 255).numpy().astype(np.uint8)
        _, c, h, w = pixels.shape
        for i, image in enumerate(pixels):
            rels.append(f"{split}/{i}")
            infos.append({"width": w, "height": h, "mode": "L" if c == 1 else "RGB",
                          "sha256": hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()})
        labels += data.labels.tolist() if data.labels is not None else []
    class_names = sets[0][1].class_names
    return rels, infos, (labels or None), class_names


def _size_summary(good: list[dict]) -> dict:
    sizes = Counter((i["width"], i["height"]) for i in good)
    ratios = Counter(round(i["width"] / i["height"], 3) for i in good)
    widths, heights = [i["width"] for i in good], [i["height"] for i in good]
    shorter = sorted(min(i["width"], i["height"]) for i in good)
    return {
        "sizes": [{"width": w, "height": h, "count": n} for (w, h), n in sizes.most_common()],
        "width": {"min": min(widths), "max": max(widths)},
        "height": {"min": min(heights), "max": max(heights)},
        "median_shorter_side": shorter[len(shorter) // 2],
        "aspect_ratios": [{"ratio": r, "count": n} for r, n in ratios.most_common()],
    }


def _classes(rels: list[str], labels: list[int] | None, names: list[str] | None, ok: list[bool]) -> dict | None:
    """Usable images per class (None when unlabelled), with the largest / smallest class ratio."""
    if labels is None or names is None:
        return None
    counts = Counter(label for label, good in zip(labels, ok) if good)
    per_class = {name: counts.get(i, 0) for i, name in enumerate(names)}
    smallest, largest = min(per_class.values()), max(per_class.values())
    return {"count": len(names), "images": per_class,
            "imbalance": round(largest / smallest, 3) if smallest else None}


def _recommend(n: int, sizes: dict, modes: Counter, classes: dict | None, source: str, builtin: bool) -> dict:
    notes: list[str] = []
    side = sizes["median_shorter_side"]
    fits = [r for r in RESOLUTIONS if r <= side]
    resolution = BUILTIN_RESOLUTION[source] if builtin else (fits[-1] if fits else RESOLUTIONS[0])
    if not fits and not builtin:
        notes.append(f"images are small (median shorter side {side} px): they will be upsampled to {resolution}")
    crop = len(sizes["aspect_ratios"]) > 1 or sizes["aspect_ratios"][0]["ratio"] != 1.0
    grey = set(modes) <= {"L", "1", "I", "I;16", "LA"}
    conditional = classes is not None and classes["count"] >= 2
    if builtin:
        prefix = "fashion" if source == "fashion-mnist" else "digits"
        preset = f"{'acgan' if conditional else 'dcgan'}-{prefix}"
        sets = []
    else:
        preset = "dcgan-folder"
        sets = [f"data.resolution={resolution}", f"data.channels={1 if grey else 3}",
                f"data.crop={'center' if crop else 'none'}"]
        if conditional:
            sets.append("model.conditioning=acgan")
    small = n < SMALL_SET
    if small:
        sets += ["tricks.augment=color,translation,cutout", f"train.ema_kimg={EMA_KIMG:g}"]
        notes.append(f"{n} images is a small set (< {SMALL_SET}): DiffAugment and a G weight average (EMA) "
                     "reduce D's overfitting and sample noise")
    if n < TINY_SET:
        notes.append(f"only {n} images: expect G to memorise them")
    if conditional and classes["imbalance"] and classes["imbalance"] > 2:
        notes.append(f"classes are imbalanced (largest/smallest = {classes['imbalance']}): rare classes will look worse")
    if crop and not builtin:
        notes.append("aspect ratios differ from square: images are center-cropped to the shorter side "
                     "(data.crop=none would stretch them)")
    if set(modes) & {"RGBA", "LA", "PA"}:
        notes.append("some images have an alpha channel; data.channels=3 drops it (data.channels=4 keeps it)")
    data_arg = "" if builtin else f" --data {shlex.quote(source)}"
    command = f"gankit train --preset {preset}{data_arg}" + "".join(f" --set {s}" for s in sets)
    return {"preset": preset, "resolution": resolution, "crop": crop, "conditional": conditional,
            "augment": small, "ema": small, "sets": sets, "command": command, "notes": notes}


def diagnose(path_or_dataset: str) -> dict:
    """Describe a folder / .zip of images or a built-in dataset ("fashion-mnist", "digits").

    Returns a JSON-ready dict with keys: source, kind (folder | zip | builtin), files, images
    (readable), usable, unreadable [{name, error}], modes {mode: count}, duplicates (groups of
    names with identical content), classes (None or {count, images, imbalance}), and, when usable,
    sizes/width/height/median_shorter_side/aspect_ratios and recommendation.
    Raises GankitError when the path does not exist and is no built-in dataset name.
    """
    source = str(path_or_dataset)
    path = Path(source).expanduser()
    if path.exists():
        if not path.is_dir() and not path.is_file():
            raise GankitError(f"{path} is neither a folder nor a .zip file")
        kind = "folder" if path.is_dir() else "zip"
        rels, infos = _scan_files(path)
        labels, class_names = _labels_for(rels)
    elif source in BUILTIN:
        kind = "builtin"
        rels, infos, labels, class_names = _scan_builtin(source)
    else:
        raise GankitError(f"{source} does not exist; pass a folder of images, a .zip, or one of: {', '.join(BUILTIN)}")
    ok = ["error" not in info for info in infos]
    good = [info for info, fine in zip(infos, ok) if fine]
    groups: dict[str, list[str]] = {}
    for rel, info, fine in zip(rels, infos, ok):
        if fine:
            groups.setdefault(info["sha256"], []).append(rel)
    report = {
        "source": source, "kind": kind, "files": len(rels), "images": len(good), "usable": bool(good),
        "unreadable": [{"name": rel, "error": info["error"]} for rel, info in zip(rels, infos) if "error" in info],
        "modes": dict(Counter(info["mode"] for info in good).most_common()),
        "duplicates": sorted((names for names in groups.values() if len(names) > 1), key=lambda g: (-len(g), g)),
        "classes": _classes(rels, labels, class_names, ok),
    }
    if good:
        report.update(_size_summary(good))
        report["recommendation"] = _recommend(len(good), report, Counter(report["modes"]), report["classes"],
                                              source, kind == "builtin")
    return report


def _print_list(title: str, items: list[str], out: TextIO, limit: int = 10) -> None:
    print(f"{title}:", file=out)
    for item in items[:limit]:
        print(f"  {item}", file=out)
    if len(items) > limit:
        print(f"  ... and {len(items) - limit} more (see --json)", file=out)


def print_diagnosis(report: dict, out: TextIO | None = None) -> None:
    """Print `diagnose`'s dict as a short human-readable summary (to stdout unless `out` is given)."""
    out = out or sys.stdout
    print(f"{report['source']} ({report['kind']}): {report['images']} readable image(s) of {report['files']} "
          "image file(s)", file=out)
    if not report["usable"]:
        print(f"not usable: no readable image (accepted suffixes: {' '.join(sorted(IMAGE_SUFFIXES))})", file=out)
    if report.get("sizes"):
        sizes = [f"{s['width']}x{s['height']}: {s['count']}" for s in report["sizes"]]
        w, h = report["width"], report["height"]
        _print_list(f"sizes ({len(sizes)} distinct; width {w['min']}..{w['max']}, height {h['min']}..{h['max']})",
                    sizes, out, limit=6)
        ratios = ", ".join(f"{r['ratio']:g}: {r['count']}" for r in report["aspect_ratios"][:6])
        print(f"aspect ratios (width/height): {ratios}", file=out)
    if report["modes"]:
        print("channel modes: " + ", ".join(f"{m}: {n}" for m, n in report["modes"].items()), file=out)
    if report["unreadable"]:
        _print_list(f"unreadable or truncated ({len(report['unreadable'])}, skipped by training)",
                    [f"{u['name']}  ({u['error']})" for u in report["unreadable"]], out)
    if report["duplicates"]:
        _print_list(f"exact duplicates ({len(report['duplicates'])} group(s))",
                    [", ".join(group) for group in report["duplicates"]], out)
    classes = report["classes"]
    if classes:
        per = ", ".join(f"{k}: {v}" for k, v in list(classes["images"].items())[:20])
        print(f"classes ({classes['count']}, largest/smallest {classes['imbalance']}): {per}", file=out)
    else:
        print("classes: none (unlabelled; class subfolders at the top level would make labels)", file=out)
    rec = report.get("recommendation")
    if rec:
        print(f"recommended: {rec['command']}", file=out)
        for note in rec["notes"]:
            print(f"  - {note}", file=out)
