"""The image dataset a config names, loaded: the one place evaluation and training read image data from."""

from __future__ import annotations

from gankit.config import DataConfig, resolution_hw
from gankit.errors import GankitError


def load_images(data: DataConfig):
    """Load an image dataset named by the config, as `gankit.data.ImageData`."""
    from gankit import data as datasets

    height, width = resolution_hw(data.resolution)
    if data.name == "fashion-mnist":
        if height != width:
            raise GankitError("fashion-mnist needs a square data.resolution; e.g. --set data.resolution=28")
        return datasets.load_fashion_mnist(split=data.split, resolution=height, root=data.path or None)
    if data.name == "stacked-fashion":
        from gankit.data.stacked import load_stacked_fashion

        if (height, width) != (28, 28):
            raise GankitError("stacked-fashion is 28x28 (three Fashion-MNIST images as RGB); set data.resolution=28")
        return load_stacked_fashion(split=data.split, seed=0, root=data.path or None)
    if data.name == "digits":
        if height != width:
            raise GankitError("digits needs a square data.resolution; e.g. --set data.resolution=32")
        return datasets.load_digits(split=data.split, resolution=height)
    if not data.path:
        raise GankitError("the folder dataset needs a path; pass --data PATH (a directory or .zip of images)")
    return datasets.load_folder(data.path, (height, width), channels=data.channels, crop=data.crop)
