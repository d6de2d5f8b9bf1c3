"""Generating data per class from a conditional generator: labels for sampling, class grids,
and export as a labelled image folder (one subfolder per class) that `gankit.data.load_folder`
reads back with the same labels.
"""

from pathlib import Path

import torch
from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.sample import fixed_latents, generate, save_png_dir


def num_classes_of(G: nn.Module) -> int:
    """Classes a generator is conditioned on; 0 for an unconditional one."""
    return int(getattr(G, "num_classes", 0))


def class_labels(G: nn.Module, class_index: int | None, n: int) -> Tensor | None:
    """Labels `[n]` all equal to `class_index` for a conditional G (None when no class was asked for).

    Raises GankitError for a class on an unconditional G or an index out of range.
    """
    if class_index is None:
        return None
    k = num_classes_of(G)
    if k == 0:
        raise GankitError("--class needs a class-conditional checkpoint, but this generator is unconditional; "
                          "drop --class or train with model.conditioning=cgan|projection|acgan")
    if not 0 <= class_index < k:
        raise GankitError(f"class index {class_index} is out of range: this generator has classes 0..{k - 1}")
    return torch.full((n,), class_index, dtype=torch.long)


def class_grid_labels(G: nn.Module, per_class: int) -> Tensor:
    """Labels `[K * per_class]`: `per_class` of class 0, then of class 1, ... (one grid row per class)."""
    k = num_classes_of(G)
    if k == 0:
        raise GankitError("--grid classes needs a class-conditional checkpoint; this generator is unconditional")
    return torch.arange(k).repeat_interleave(per_class)


def export_per_class(G: nn.Module, out: str | Path, per_class: int, seed: int = 0,
                     class_names: list[str] | None = None) -> dict[str, int]:
    """Write `per_class` PNGs for each class of conditional `G` into `out/<class>/NNNNNN.png`.

    Folder names are `class_names` when given (must be K names), else zero-padded indices
    `00`, `01`, ... so that sorted order is label order (what `load_folder` uses). Latents come
    from `seed`, a different slice per class. Returns {folder name: count}.
    """
    k = num_classes_of(G)
    if k == 0:
        raise GankitError("export --per-class needs a class-conditional checkpoint; this generator is unconditional")
    if per_class < 1:
        raise GankitError(f"--per-class must be >= 1, got {per_class}")
    if len(G.out_shape) != 3:
        raise GankitError("export writes images, but this generator makes vectors")
    width = len(str(k - 1))
    names = class_names if class_names is not None else [str(i).zfill(width) for i in range(k)]
    if len(names) != k or sorted(names) != list(names):
        raise GankitError(f"class_names must be {k} names in sorted order (folder order is label order)")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise GankitError(f"--out {out} is not empty; choose a new directory")
    z = fixed_latents(k * per_class, G.z_dim, seed)
    counts = {}
    for label, name in enumerate(names):
        rows = slice(label * per_class, (label + 1) * per_class)
        images = generate(G, z[rows], torch.full((per_class,), label, dtype=torch.long))
        save_png_dir(images, out / name)
        counts[name] = per_class
    return counts


def sample_labels(G: nn.Module, args) -> tuple[Tensor | None, int | None]:
    """Labels and grid row length for `gankit sample` from `--class`, `--grid` and `--n`.

    `--grid classes`: `--n` samples of each class, one row per class; `--class k`: `--n` of class k.
    """
    if args.grid == "classes":
        if args.class_index is not None:
            raise GankitError("--grid classes draws every class; drop --class")
        return class_grid_labels(G, args.n), args.n
    return class_labels(G, args.class_index, args.n), None
