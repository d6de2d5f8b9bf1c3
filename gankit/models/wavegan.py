"""WaveGAN (Donahue, McAuley & Puckette 2019, "Adversarial Audio Synthesis"): DCGAN in 1-D on raw audio.

Generator: a linear projection of z to a `[16 * width, 16]`-shaped map (for 16,384 samples; in
general `width * 2**(k-1)` channels), ReLU, then `k` transposed 1-D convolutions of kernel 25 and
stride 4, each making the signal 4x longer and halving the channels (ReLU after each), the last
one to C channels followed by tanh. No batch norm, as in the paper.

Discriminator (mirrors G): `k` 1-D convolutions of kernel 25 and stride 4 with LeakyReLU(0.2),
phase shuffle after each but the last (so D cannot key on the exact sample phase of G's
upsampling artefacts), then a linear score over the flattened `[width * 2**(k-1), 16]` map.
No normalisation, so WGAN-GP's per-sample penalty is exact.

Length rule: clips must be `16 * 4**k` samples with `1 <= k <= 6` (64, 256, 1,024, 4,096,
16,384 or 65,536); k = 5 for the paper's 16,384. Other lengths raise GankitError.
Constructors follow gankit's model contract (`gankit.models`): `out_shape`/`in_shape` are
`(C, L)`; a plain int L means `(1, L)`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.models.layers import as_shape, check_int, reject_labels

KERNEL = 25
STRIDE = 4
BASE_LENGTH = 16
MAX_STAGES = 6
SUPPORTED_LENGTHS = tuple(BASE_LENGTH * STRIDE**k for k in range(1, MAX_STAGES + 1))


def wavegan_stages(shape: Sequence[int] | int) -> tuple[tuple[int, int], int]:
    """Return `((C, L), k)` for clips of `shape` `(C, L)` (or an int L, mono): k stride-4 stages.

    Raises GankitError, listing the lengths that work, if WaveGAN cannot build `shape`.
    """
    items = (1, shape) if isinstance(shape, int) and not isinstance(shape, bool) else as_shape(shape, "clip shape")
    items = as_shape(items, "clip shape")
    if len(items) != 2:
        raise GankitError(f"wavegan builds audio of shape (channels, length), got {items}; "
                          "for images use the dcgan model")
    length = items[1]
    if length not in SUPPORTED_LENGTHS:
        raise GankitError(f"wavegan cannot build clips of {length} samples: the length must be 16 * 4**k "
                          f"(k = 1..{MAX_STAGES}), i.e. one of {', '.join(map(str, SUPPORTED_LENGTHS))}; "
                          "set the data clip length to one of these")
    stages = SUPPORTED_LENGTHS.index(length) + 1
    return (items[0], length), stages


class PhaseShuffle(nn.Module):
    """Shift each example of `[N, C, L]` in time by its own random k in [-n, n] (training only).

    Samples shifted in at either end are filled by reflection, so the length stays L and no
    zeros mark the edge. The shifts come from torch's global RNG (a checkpoint that saves it
    resumes exactly). In eval mode, or with n = 0, it is the identity.
    """

    def __init__(self, n: int) -> None:
        super().__init__()
        check_int("phase_shuffle", n, 0)
        self.n = n

    def forward(self, x: Tensor) -> Tensor:
        if self.n == 0 or not self.training:
            return x
        if x.shape[-1] <= self.n:
            raise GankitError(f"phase shuffle of {self.n} needs feature maps longer than {self.n}, got {x.shape[-1]}")
        n, length = self.n, x.shape[-1]
        shifts = torch.randint(-n, n + 1, (x.shape[0],), device=x.device)
        padded = F.pad(x, (n, n), mode="reflect")
        # out[t] = x[t - k]: read the padded signal from position t + n - k.
        index = torch.arange(length, device=x.device)[None, :] + (n - shifts)[:, None]
        return padded.gather(2, index[:, None, :].expand(-1, x.shape[1], -1))

    def extra_repr(self) -> str:
        return f"n={self.n}"


def _widths(width: int, stages: int) -> list[int]:
    check_int("width", width, 1)
    return [width * 2**i for i in range(stages)]


class WaveGANGenerator(nn.Module):
    """`G(z [N, z_dim]) -> clips [N, C, L]` in [-1, 1] (L = 16 * 4**k; 16,384 by default)."""

    def __init__(self, z_dim: int = 100, out_shape: Sequence[int] | int = (1, 16384), width: int = 64) -> None:
        super().__init__()
        check_int("z_dim", z_dim, 1)
        self.out_shape, stages = wavegan_stages(out_shape)
        widths = _widths(width, stages)
        self.z_dim = z_dim
        self.base_channels = widths[-1]
        self.project = nn.Linear(z_dim, widths[-1] * BASE_LENGTH)
        layers: list[nn.Module] = [nn.ReLU()]
        fan_in = widths[-1]
        for fan_out in widths[::-1][1:] + [self.out_shape[0]]:
            # padding 11 + output_padding 1 make each layer exactly 4x longer: 4 * (L - 1) - 22 + 25 + 1.
            layers.append(nn.ConvTranspose1d(fan_in, fan_out, KERNEL, STRIDE, padding=11, output_padding=1))
            layers.append(nn.ReLU())
            fan_in = fan_out
        layers[-1] = nn.Tanh()
        self.body = nn.Sequential(*layers)

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        reject_labels(c, "wavegan")
        x = self.project(z).view(z.shape[0], self.base_channels, BASE_LENGTH)
        return self.body(x)


class WaveGANDiscriminator(nn.Module):
    """`D(x [N, C, L] in [-1, 1]) -> raw scores [N]`, higher = more real."""

    def __init__(self, in_shape: Sequence[int] | int = (1, 16384), width: int = 64, phase_shuffle: int = 2) -> None:
        super().__init__()
        self.in_shape, stages = wavegan_stages(in_shape)
        check_int("phase_shuffle", phase_shuffle, 0)
        widths = _widths(width, stages)
        layers: list[nn.Module] = []
        fan_in = self.in_shape[0]
        for i, fan_out in enumerate(widths):
            # padding 11 makes each layer exactly 4x shorter: floor((L + 22 - 25) / 4) + 1 = L / 4.
            layers += [nn.Conv1d(fan_in, fan_out, KERNEL, STRIDE, padding=11), nn.LeakyReLU(0.2)]
            if i < stages - 1 and phase_shuffle > 0:
                layers.append(PhaseShuffle(phase_shuffle))
            fan_in = fan_out
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(widths[-1] * BASE_LENGTH, 1)

    def features(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        """The last feature map flattened: `[N, width * 2**(k-1) * 16]`."""
        reject_labels(c, "wavegan")
        if x.ndim != 3 or tuple(x.shape[1:]) != self.in_shape:
            raise GankitError(f"wavegan D takes clips [N, {self.in_shape[0]}, {self.in_shape[1]}], got {tuple(x.shape)}")
        return self.body(x).flatten(1)

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        return self.head(self.features(x, c)).squeeze(1)
