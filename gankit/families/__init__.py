"""Training families: name -> module. Each module reads top to bottom as its paper (see `base.py`).

`model.family` in the config picks one; `gankit.config.FAMILY_NAMES` lists the same names
(config knows no builder, so it keeps the names alone; a test keeps the two equal).
"""

from pathlib import Path
from types import ModuleType

import torch
from torch import nn

from gankit.config import Config
from gankit.errors import GankitError
from gankit.families import (began, biggan, cyclegan, discogan, ebgan, gan, pix2pix, progan, specgan, srgan,
                             stylegan, wavegan)

FAMILIES: dict[str, ModuleType] = {
    "gan": gan,
    "pix2pix": pix2pix,
    "cyclegan": cyclegan,
    "discogan": discogan,
    "srgan": srgan,
    "wavegan": wavegan,
    "specgan": specgan,
    "ebgan": ebgan,
    "began": began,
    "biggan": biggan,
    "progan": progan,
    "stylegan": stylegan,
}


def get_family(name: str) -> ModuleType:
    """The family module for `model.family`, or a one-line error listing the known ones."""
    if name not in FAMILIES:
        raise GankitError(f"model.family '{name}' is not available; choose one of: {', '.join(FAMILIES)}")
    return FAMILIES[name]


def validate_family(cfg) -> None:
    """The family's own range checks (`validate(cfg)` in its module, where it has one): one-line errors."""
    check = getattr(get_family(cfg.model.family), "validate", None)
    if check is not None:
        check(cfg)


def build_generator(cfg) -> nn.Module:
    """Only G of a generation family (for sampling from a checkpoint), from the config alone.

    A translation family's checkpoint is a one-line error that points to `gankit translate`."""
    family = get_family(cfg.model.family)
    if family.KIND != "generation":
        raise GankitError(f"this checkpoint is a {cfg.model.family} run, which maps images to images rather than "
                          "sampling noise; use: gankit translate CKPT --input FILE_OR_DIR --out DIR")
    return family.build_generator(cfg)


def check_finite_state(state_dict: dict, what: str, path) -> None:
    """A one-line error when a saved network holds NaN or infinite values (a diverged run)."""
    for key, value in state_dict.items():
        if torch.is_tensor(value) and value.is_floating_point() and not torch.isfinite(value).all():
            raise GankitError(f"checkpoint {path} holds non-finite values in the {what} ({key}): the run diverged; "
                              "sample an earlier checkpoint (checkpoints/best.pt or step-*.pt) or retrain with a lower LR")


def load_generator(checkpoint: str | Path, device_name: str, no_ema: bool) -> tuple[nn.Module, Config, dict, str]:
    """G_ema (or G when `no_ema` or the run kept no EMA) from a checkpoint, on its device.

    Returns (G, the run's config, the checkpoint state, "G_ema" or "G"). G_ema gets its own
    batch-norm statistics first (`standing_statistics`), as it does when sampled during training.
    """
    from gankit.build import place_model, resolve_device
    from gankit.config import from_dict
    from gankit.train.checkpoint import load_checkpoint, load_model_state
    from gankit.train.ema import standing_statistics

    state = load_checkpoint(checkpoint)
    cfg = from_dict(state["config"])
    G = build_generator(cfg)
    use_ema = state.get("G_ema") is not None and not no_ema
    check_finite_state(state["G_ema"] if use_ema else state["G"], "generator", checkpoint)
    load_model_state(G, state["G_ema"] if use_ema else state["G"], "generator", checkpoint)
    place_model(G, resolve_device(device_name), G.out_shape)
    if use_ema:
        standing_statistics(G)
    return G, cfg, state, "G_ema" if use_ema else "G"
