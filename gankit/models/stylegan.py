"""A style-based generator (Karras et al. 2019, 2020: StyleGAN and StyleGAN2) and a residual D.

G = mapping network (z -> w, `depth` equalized dense layers at lr_mul 0.01) + synthesis network:
a learned constant at the base size, then per level (upsampling by 2, bilinear) 3x3 convolutions
whose weights are modulated by a style (an affine map of w) and demodulated (StyleGAN2; or, as an
option, plain convolutions followed by StyleGAN's adaptive instance norm), per-pixel
noise with a learned strength, and a skip toRGB at every level. Each style input has its own copy
of w (`ws [N, num_ws, w_dim]`), which is what style mixing and truncation act on.

G's forward takes z `[N, z_dim]`, or already-made styles `ws [N, num_ws, w_dim]` (what `truncate_w`
and `mix_styles` return), so sampling, style-mixing grids and truncation in W all go through `G(...)`.
In eval mode the noise inputs are fixed buffers (drawn once, from a private seed), so sampling and
evaluation are repeatable and draw nothing from the global RNG; in train mode they are fresh noise.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.models.progan import (LRELU_GAIN, EqualizedConv2d, EqualizedLinear, PixelNorm, downsample, growth_plan,
                                  level_channels, lrelu)
from gankit.models.tricks import MinibatchStdDev

NOISE_SEED = 1234  # the eval-mode noise buffers: the same in every G built, so G_ema and a reloaded G agree


def modulated_conv2d(x: Tensor, weight: Tensor, styles: Tensor, demodulate: bool = True, eps: float = 1e-8) -> Tensor:
    """StyleGAN2's weight (de)modulation, as one grouped convolution.

    w'_{n,o,i,k} = weight_{o,i,k} * s_{n,i};  demodulated: w''_{n,o,i,k} = w' / sqrt(sum_{i,k} w'^2 + eps).
    x `[N, I, H, W]`, weight `[O, I, k, k]` (already scaled), styles `[N, I]` -> `[N, O, H, W]` ('same' padding).
    """
    n, in_ch, h, w = x.shape
    out_ch, _, k, _ = weight.shape
    wts = weight[None] * styles[:, None, :, None, None]  # [N, O, I, k, k]
    if demodulate:
        wts = wts * torch.rsqrt(wts.square().sum(dim=(2, 3, 4), keepdim=True) + eps)
    out = F.conv2d(x.reshape(1, n * in_ch, h, w), wts.reshape(n * out_ch, in_ch, k, k), padding=k // 2, groups=n)
    return out.reshape(n, out_ch, h, w)


class MappingNetwork(nn.Module):
    """z `[N, z_dim]` -> w `[N, w_dim]`: pixel norm, then `depth` equalized dense layers with leaky ReLU.

    Keeps `w_avg`, a running mean of w over training (StyleGAN's tracked average), the centre of
    truncation in W."""

    def __init__(self, z_dim: int, w_dim: int, depth: int = 8, lr_mul: float = 0.01, w_avg_beta: float = 0.995) -> None:
        super().__init__()
        self.norm = PixelNorm()
        dims = [z_dim] + [w_dim] * depth
        self.layers = nn.ModuleList([EqualizedLinear(a, b, lr_mul=lr_mul) for a, b in zip(dims[:-1], dims[1:])])
        self.w_avg_beta = w_avg_beta
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: Tensor, update_w_avg: bool = False) -> Tensor:
        x = self.norm(z)
        for layer in self.layers:
            x = lrelu(layer(x))
        if update_w_avg:
            with torch.no_grad():
                self.w_avg.lerp_(x.detach().mean(dim=0).to(self.w_avg.dtype), 1.0 - self.w_avg_beta)
        return x


class NoiseInput(nn.Module):
    """x + strength * noise, one noise value per pixel shared by the channels (strength starts at 0)."""

    def __init__(self, height: int, width: int, seed: int) -> None:
        super().__init__()
        self.strength = nn.Parameter(torch.zeros(()))
        self.register_buffer("fixed", torch.randn(1, 1, height, width, generator=torch.Generator().manual_seed(seed)))

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], device=x.device, dtype=x.dtype)
        else:
            noise = self.fixed.to(x.dtype)
        return x + self.strength * noise


STYLE_MODES = ("modulate", "adain")


class StyleLayer(nn.Module):
    """One styled layer. `modulate` (StyleGAN2): modulated 3x3 conv + noise + bias + leaky ReLU, or, as toRGB,
    a modulated 1x1 conv without demodulation. `adain` (StyleGAN): plain conv + noise + bias + leaky ReLU,
    then adaptive instance norm, y_s * (x - mean) / std + y_b per channel; its toRGB is a plain 1x1 conv."""

    def __init__(self, in_ch: int, out_ch: int, w_dim: int, kernel: int, size: tuple[int, int] | None, seed: int = 0,
                 style_mode: str = "modulate"):
        super().__init__()
        if style_mode not in STYLE_MODES:
            raise GankitError(f"stylegan.style_mode '{style_mode}' is unknown; choose modulate or adain")
        self.to_rgb, self.adain = size is None, style_mode == "adain"
        self.affine = None
        if not (self.adain and self.to_rgb):
            # Styles start at scale 1 (and shift 0): at initialisation every layer is a plain conv.
            self.affine = EqualizedLinear(w_dim, 2 * out_ch if self.adain else in_ch, gain=1.0, bias_init=1.0)
            if self.adain:
                with torch.no_grad():
                    self.affine.bias[out_ch:] = 0.0
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.scale = 1.0 / math.sqrt(in_ch * kernel * kernel)
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.noise = None if self.to_rgb else NoiseInput(*size, seed)

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        bias = self.bias.view(1, -1, 1, 1)
        if self.adain:
            x = F.conv2d(x, self.weight * self.scale, padding=self.weight.shape[2] // 2)
            if self.to_rgb:
                return x + bias
            x = lrelu(self.noise(x) + bias) * LRELU_GAIN
            y_s, y_b = self.affine(w).chunk(2, dim=1)
            return F.instance_norm(x) * y_s[:, :, None, None] + y_b[:, :, None, None]
        styles = self.affine(w)
        if self.to_rgb:  # toRGB: modulated, not demodulated, scaled as in StyleGAN2
            return modulated_conv2d(x, self.weight * self.scale, styles, demodulate=False) + bias
        x = modulated_conv2d(x, self.weight * self.scale, styles)
        return lrelu(self.noise(x) + bias) * LRELU_GAIN


def upsample2(x: Tensor) -> Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def mix_styles(ws_a: Tensor, ws_b: Tensor, layers: range | slice) -> Tensor:
    """Styles `ws_a [N, num_ws, w_dim]` with the style inputs in `layers` taken from `ws_b` (same shape)."""
    out = ws_a.clone()
    sl = layers if isinstance(layers, slice) else slice(layers.start, layers.stop)
    out[:, sl] = ws_b[:, sl]
    return out


class StyleGenerator(nn.Module):
    """`G(z [N, z_dim] or ws [N, num_ws, w_dim], c=None) -> [N, C, H, W]` in [-1, 1].

    Attributes: `z_dim`, `w_dim`, `num_ws` (style inputs: two per level, the base's conv and toRGB
    counted), `ws_levels` (each style input's level: 0 = the base size, 4x4 by default),
    `truncation_cutoff` (truncation in W touches the first this-many style inputs; 0 = all),
    `truncation_space` = "w". `style_mode`: modulate (StyleGAN2's weight demodulation) or adain (StyleGAN's
    adaptive instance norm; its toRGB layers take no style). Keyword options of the forward (training only): `mixing_prob` (style
    mixing regularisation: with this probability the batch switches to the styles of a second z
    from a random style input on), `update_w_avg` (move the tracked mean w), `return_ws`.
    """

    truncation_space = "w"
    truncation_mode = "psi"  # w_avg + psi (w - w_avg), recorded in evaluation protocols

    def __init__(self, z_dim: int, out_shape: tuple[int, int, int], width: int = 128, fmap_base: int = 0,
                 w_dim: int = 0, mapping_depth: int = 8, start_resolution: int = 4, truncation_cutoff: int = 0,
                 w_avg_beta: float = 0.995, style_mode: str = "modulate") -> None:
        super().__init__()
        channels, height, width_px = out_shape
        base_h, base_w, doublings = growth_plan(height, width_px, start_resolution)
        self.z_dim, self.out_shape, self.w_dim = z_dim, tuple(out_shape), w_dim or z_dim
        self.truncation_cutoff = truncation_cutoff
        ch = [level_channels(i, width, fmap_base, start_resolution) for i in range(doublings + 1)]
        self.mapping = MappingNetwork(z_dim, self.w_dim, mapping_depth, w_avg_beta=w_avg_beta)
        self.const = nn.Parameter(torch.randn(1, ch[0], base_h, base_w))
        self.convs = nn.ModuleList()  # the base's one conv, then two per level
        self.to_rgbs = nn.ModuleList()
        levels: list[int] = []
        for i in range(doublings + 1):
            size = (base_h << i, base_w << i)
            ins = [ch[0]] if i == 0 else [ch[i - 1], ch[i]]
            for j, c_in in enumerate(ins):
                self.convs.append(StyleLayer(c_in, ch[i], self.w_dim, 3, size, NOISE_SEED + len(self.convs), style_mode))
                levels.append(i)
            self.to_rgbs.append(StyleLayer(ch[i], channels, self.w_dim, 1, None, style_mode=style_mode))
        # StyleGAN2's indexing: a level's toRGB shares the style input of the next level's first conv.
        self.num_ws = len(self.convs) + 1
        self.ws_levels = levels + [doublings]
        if truncation_cutoff < 0 or truncation_cutoff > self.num_ws:
            raise GankitError(f"stylegan.truncation_cutoff must be in 0..{self.num_ws} (0 = every layer), "
                              f"got {truncation_cutoff}")

    @property
    def w_avg(self) -> Tensor:
        return self.mapping.w_avg

    def styles(self, z: Tensor, update_w_avg: bool = False) -> Tensor:
        """z `[N, z_dim]` -> ws `[N, num_ws, w_dim]` (one w, repeated for every style input)."""
        return self.mapping(z, update_w_avg).unsqueeze(1).repeat(1, self.num_ws, 1)

    def truncate_w(self, z: Tensor, psi: float, cutoff: int | None = None) -> Tensor:
        """Truncation in W: ws = w_avg + psi * (w - w_avg) on the first `cutoff` style inputs (default:
        `truncation_cutoff`, 0 = all). psi 1 = plain, 0 = the mean w. z `[N, z_dim]` -> ws `[N, num_ws, w_dim]`."""
        ws = self.styles(z) if z.dim() == 2 else z
        cutoff = self.truncation_cutoff if cutoff is None else cutoff
        cutoff = cutoff or self.num_ws
        out = ws.clone()
        out[:, :cutoff] = torch.lerp(self.w_avg.to(ws.dtype).expand_as(ws[:, :cutoff]), ws[:, :cutoff], psi)
        return out

    def synthesis(self, ws: Tensor) -> Tensor:
        """ws `[N, num_ws, w_dim]` -> images `[N, C, H, W]` in [-1, 1]."""
        x = self.const.expand(ws.shape[0], -1, -1, -1)
        rgb = None
        idx = 0
        for level, to_rgb in enumerate(self.to_rgbs):
            if level > 0:
                x = upsample2(x)
            for _ in range(1 if level == 0 else 2):
                x = self.convs[idx](x, ws[:, idx])
                idx += 1
            y = to_rgb(x, ws[:, idx])
            rgb = y if rgb is None else upsample2(rgb) + y
        return torch.tanh(rgb)

    def _mixed(self, z: Tensor, ws: Tensor, prob: float) -> Tensor:
        """Style mixing regularisation: with probability `prob`, ws from a random cutoff on come from a second z."""
        cutoff = int(torch.randint(1, self.num_ws, (), device=z.device))
        if float(torch.rand((), device=z.device)) >= prob:
            return ws
        return mix_styles(ws, self.styles(torch.randn_like(z)), range(cutoff, self.num_ws))

    def forward(self, z: Tensor, c: Tensor | None = None, *, mixing_prob: float = 0.0, update_w_avg: bool = False,
                return_ws: bool = False):
        if c is not None:
            raise GankitError("the stylegan family is unconditional; use a preset without class labels")
        if z.dim() == 3:
            ws = z
        else:
            ws = self.styles(z, update_w_avg)
            if mixing_prob > 0:
                ws = self._mixed(z, ws, mixing_prob)
        images = self.synthesis(ws)
        return (images, ws) if return_ws else images


class StyleDiscriminator(nn.Module):
    """StyleGAN2's residual D: `D(x [N, C, H, W], c=None) -> scores [N]` (raw, higher = more real).

    fromRGB at full size; per level two 3x3 convs then average pooling, plus a pooled 1x1 skip, summed
    and scaled by 1/sqrt(2); at the base: minibatch stddev, 3x3 conv, two dense layers."""

    scores_samples_independently = False  # minibatch stddev mixes samples

    def __init__(self, in_shape: tuple[int, int, int], width: int = 128, fmap_base: int = 0,
                 start_resolution: int = 4, stddev_group: int = 4) -> None:
        super().__init__()
        channels, height, width_px = in_shape
        base_h, base_w, doublings = growth_plan(height, width_px, start_resolution)
        self.in_shape = tuple(in_shape)
        ch = [level_channels(i, width, fmap_base, start_resolution) for i in range(doublings + 1)]
        self.from_rgb = EqualizedConv2d(channels, ch[doublings], 1)
        self.blocks = nn.ModuleList()
        for i in range(doublings, 0, -1):
            self.blocks.append(nn.ModuleList([EqualizedConv2d(ch[i], ch[i], 3), EqualizedConv2d(ch[i], ch[i - 1], 3),
                                              EqualizedConv2d(ch[i], ch[i - 1], 1, gain=1.0, bias=False)]))
        self.stddev = MinibatchStdDev(stddev_group)
        self.conv = EqualizedConv2d(ch[0] + 1, ch[0], 3)
        self.dense = EqualizedLinear(ch[0] * base_h * base_w, ch[0])
        self.out = EqualizedLinear(ch[0], 1, gain=1.0)

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        h = lrelu(self.from_rgb(x))
        for conv1, conv2, skip in self.blocks:
            y = downsample(lrelu(conv2(lrelu(conv1(h)))))
            h = (y + skip(downsample(h))) / math.sqrt(2.0)
        h = lrelu(self.conv(self.stddev(h)))
        h = lrelu(self.dense(h.flatten(1)))
        return self.out(h).squeeze(1)


STYLE_BANDS = ("coarse", "middle", "fine")


def style_layers(G: StyleGenerator, spec: str) -> range:
    """The style inputs a `--layers` spec names: coarse (levels 4-8 px), middle (16-32 px), fine (64 px and
    up; below 64 px, the top level), or "I-J" (style-input indices, inclusive). One-line errors."""
    levels, top = G.ws_levels, G.ws_levels[-1]
    if spec in STYLE_BANDS:
        fine_from = max(2, min(4, top))
        lo, hi = {"coarse": (0, 1), "middle": (2, fine_from - 1), "fine": (fine_from, top)}[spec]
        picked = [i for i, lvl in enumerate(levels) if lo <= lvl <= hi]
        if not picked:
            raise GankitError(f"--layers {spec} selects no style inputs in this {G.out_shape[1]}x{G.out_shape[2]} "
                              f"generator (levels 0..{top}); give indices instead, e.g. --layers 0-{G.num_ws // 2 - 1}")
        return range(picked[0], picked[-1] + 1)
    parts = spec.split("-")
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        first, last = int(parts[0]), int(parts[1])
        if first <= last < G.num_ws:
            return range(first, last + 1)
    raise GankitError(f"--layers '{spec}' is not coarse, middle, fine or I-J with 0 <= I <= J < {G.num_ws} "
                      "(this generator's style inputs)")
