"""Training families: name -> module. Each module reads top to bottom as its paper (see `base.py`).

`model.family` in the config picks one; `gankit.config.FAMILY_NAMES` lists the same names
(config knows no builder, so it keeps the names alone; a test keeps the two equal).
"""

from types import ModuleType

from gankit.errors import GankitError
from gankit.families import cyclegan, discogan, gan, pix2pix, srgan

FAMILIES: dict[str, ModuleType] = {
    "gan": gan,
    "pix2pix": pix2pix,
    "cyclegan": cyclegan,
    "discogan": discogan,
    "srgan": srgan,
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
