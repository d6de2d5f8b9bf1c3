"""Model families: name -> (Generator class, Discriminator class).

Every family obeys one contract so a single builder can construct any of them:

- `Generator(z_dim, out_shape, width, **family_kwargs)`;
  `G(z [N, z_dim], c=None) -> x [N, *out_shape]`, images in [-1, 1], vectors
  unbounded; attributes `G.z_dim`, `G.out_shape`.
- `Discriminator(in_shape, width, **family_kwargs)`;
  `D(x [N, *in_shape], c=None) -> raw scores [N]` (logits, higher = more real);
  `D.features(x, c=None) -> [N, F]`, the representation D's score layer reads;
  attribute `D.in_shape`.
- `width` is the family's base width: hidden units for MLPs, the first layer's
  channel count for conv nets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn

from gankit.errors import GankitError
from gankit.models.dcgan import DCGANDiscriminator, DCGANGenerator, dcgan_stages
from gankit.models.gan2014 import GAN2014Discriminator, GAN2014Generator
from gankit.models.layers import check_flat_or_image_shape
from gankit.models.infogan import InfoGANDiscriminator, InfoGANGenerator, infogan_shape
from gankit.models.mlp import MLPDiscriminator, MLPGenerator
from gankit.models.wavegan import WaveGANDiscriminator, WaveGANGenerator, wavegan_stages

MODELS: dict[str, tuple[type[nn.Module], type[nn.Module]]] = {
    "gan2014": (GAN2014Generator, GAN2014Discriminator),
    "mlp": (MLPGenerator, MLPDiscriminator),
    "dcgan": (DCGANGenerator, DCGANDiscriminator),
    "infogan": (InfoGANGenerator, InfoGANDiscriminator),  # Lucic et al. 2018's shared 28x28 networks
    "wavegan": (WaveGANGenerator, WaveGANDiscriminator),  # 1-D audio: [N, 1, L]
}

# Each raises GankitError (one line, naming the supported shapes) for a shape it can't build.
_SHAPE_CHECKS: dict[str, Callable[[Sequence[int]], object]] = {
    "gan2014": lambda shape: check_flat_or_image_shape(shape, "gan2014"),
    "mlp": lambda shape: check_flat_or_image_shape(shape, "mlp"),
    "dcgan": dcgan_stages,
    "infogan": infogan_shape,
    "wavegan": wavegan_stages,
}


def check_model_shape(name: str, shape: tuple[int, ...]) -> None:
    """Raise GankitError if model family `name` cannot build data of `shape` ((C, H, W) or (D,))."""
    if name not in MODELS:
        raise GankitError(f"unknown model {name!r}; choose one of {', '.join(sorted(MODELS))}")
    _SHAPE_CHECKS[name](shape)


__all__ = [
    "MODELS",
    "check_model_shape",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "GAN2014Discriminator",
    "GAN2014Generator",
    "MLPDiscriminator",
    "MLPGenerator",
    "WaveGANDiscriminator",
    "WaveGANGenerator",
]
