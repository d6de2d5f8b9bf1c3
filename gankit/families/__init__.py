"""Training families: name -> module. Each module reads top to bottom as its paper (see `base.py`).

`model.family` in the config picks one; `gankit.config.FAMILY_NAMES` lists the same names
(config knows no builder, so it keeps the names alone; a test keeps the two equal).
"""

from types import ModuleType

from gankit.errors import GankitError
from gankit.families import cyclegan, discogan, gan, srgan

FAMILIES: dict[str, ModuleType] = {
    "gan": gan,
    "cyclegan": cyclegan,
    "discogan": discogan,
    "srgan": srgan,
}


def get_family(name: str) -> ModuleType:
    """The family module for `model.family`, or a one-line error listing the known ones."""
    if name not in FAMILIES:
        raise GankitError(f"model.family '{name}' is not available; choose one of: {', '.join(FAMILIES)}")
    return FAMILIES[name]
