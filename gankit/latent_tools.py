"""Latent-space tools: paths between latents, latent arithmetic, BigGAN's truncation by resampling,
and the figures they make (a strip PNG, an animated GIF, rows of images).

Pure functions of tensors; `gankit interpolate` and `gankit arithmetic` (gankit/cli_latent.py) load a
generator and call them. Latents are `[..., D]`: `z [D]` for one sample, or a generator's W latent
(`[D]`, or `[L, D]` per layer); every function works on the last dimension.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image, ImageDraw
from torch import Tensor, nn

from gankit.errors import GankitError

MODES = ("lerp", "slerp")


def lerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Straight line: `a + t (b - a)` for each t. `a`, `b` `[..., D]`, `t` `[T]` -> `[T, ..., D]`."""
    t = t.to(a.dtype).reshape(-1, *([1] * a.dim()))
    return a.unsqueeze(0) + t * (b - a).unsqueeze(0)


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation (Shoemake 1985; White 2016 for GANs) along the last dimension.

    `sin((1-t) W) / sin W * a + sin(t W) / sin W * b`, W the angle between a and b: the path stays at
    the radius where Gaussian latents live (a lerp midpoint of two N(0, I) draws has ~0.71 of their
    norm). Endpoints are exact; for |a| = |b| every point has that norm. Where a and b are (anti)parallel
    (sin W ~ 0) the direction is undefined and the lerp is returned. `a`, `b` `[..., D]`, `t` `[T]` -> `[T, ..., D]`.
    """
    a64, b64 = a.double(), b.double()
    cos = (a64 * b64).sum(-1) / (a64.norm(dim=-1) * b64.norm(dim=-1)).clamp_min(1e-30)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))  # [...]
    sin = torch.sin(omega)
    t64 = t.double().reshape(-1, *([1] * (a.dim() - 1)))  # [T, 1...] against omega [...]
    safe = sin.abs() > 1e-6
    wa = torch.where(safe, torch.sin((1 - t64) * omega) / torch.where(safe, sin, 1.0), 1 - t64)
    wb = torch.where(safe, torch.sin(t64 * omega) / torch.where(safe, sin, 1.0), t64.expand_as(wa))
    out = wa.unsqueeze(-1) * a64.unsqueeze(0) + wb.unsqueeze(-1) * b64.unsqueeze(0)
    return out.to(a.dtype)


def interpolation_path(latents: Tensor, steps: int, mode: str = "slerp") -> Tensor:
    """`latents [K, ...]` (K >= 2 keyframes) -> `[K-1, steps, ...]`: `steps` points (both ends included)
    on each segment k -> k+1, by `mode` lerp or slerp."""
    if mode not in MODES:
        raise GankitError(f"--mode must be lerp or slerp, got {mode!r}")
    if latents.shape[0] < 2:
        raise GankitError(f"interpolation needs at least 2 seeds, got {latents.shape[0]}; e.g. --seeds 1,2")
    if steps < 2:
        raise GankitError(f"--steps must be >= 2 (both ends are included), got {steps}")
    t = torch.linspace(0.0, 1.0, steps)
    fn = lerp if mode == "lerp" else slerp
    return torch.stack([fn(latents[k], latents[k + 1], t) for k in range(latents.shape[0] - 1)])


def latent_arithmetic(a: Tensor, b: Tensor, c: Tensor) -> Tensor:
    """DCGAN's vector arithmetic (Radford et al. 2015): `mean(a) - mean(b) + mean(c)` over each group's
    first axis. `a [Ka, ...]`, `b [Kb, ...]`, `c [Kc, ...]` -> `[...]` ("smiling woman - neutral woman + neutral man")."""
    for name, group in (("a", a), ("b", b), ("c", c)):
        if group.shape[0] < 1:
            raise GankitError(f"--{name} needs at least one seed")
    return a.mean(0) - b.mean(0) + c.mean(0)


def parse_seeds(text: str, what: str = "--seeds", minimum: int = 1) -> list[int]:
    """`"1,2,7"` -> `[1, 2, 7]`; a one-line GankitError for anything else (empty parts, negatives, too few)."""
    parts = [p.strip() for p in str(text).split(",")]
    if not all(p.isdigit() for p in parts):
        raise GankitError(f"{what} must be comma-separated non-negative integers such as 1,2,3, got {text!r}")
    seeds = [int(p) for p in parts]
    if len(seeds) < minimum:
        raise GankitError(f"{what} needs at least {minimum} seeds, got {len(seeds)}; e.g. {what} 1,2")
    return seeds


def truncate_by_resampling(z: Tensor, truncation: float) -> Tensor:
    """BigGAN's truncation trick (Brock et al. 2019): `z [N, D]` -> same shape, every `|z| <= truncation`.

    Coordinates already inside `[-truncation, truncation]` are kept; each one outside is replaced by a
    fresh draw from the standard normal truncated to that range (what redrawing until it lands inside
    gives, drawn in one pass by inverting the normal CDF on a uniform). The draws come from a private
    generator seeded by each row's own bytes, so a row's result depends on that row alone (the same seed
    gives the same image, however it is batched) and the global RNG is untouched. `truncation` 0 = off.
    """
    if truncation < 0:
        raise GankitError(f"--truncation must be >= 0 (0 = off), got {truncation}")
    if truncation == 0:
        return z
    flat = z.detach().double().cpu().reshape(-1, z.shape[-1])
    out = flat.clone()
    low = torch.special.ndtr(torch.tensor(-float(truncation), dtype=torch.float64))
    for i in torch.nonzero((flat.abs() > truncation).any(dim=1)).flatten().tolist():
        row = flat[i]
        seed = int.from_bytes(hashlib.sha256(row.numpy().tobytes()).digest()[:8], "little") & (2**63 - 1)
        bad = row.abs() > truncation
        u = torch.rand(int(bad.sum()), dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
        out[i, bad] = torch.special.ndtri(low + u * (1 - 2 * low))
    out = out.clamp(-truncation, truncation)  # ndtri's rounding must not step outside the range
    return out.reshape(z.shape).to(device=z.device, dtype=z.dtype)


def truncate(G: nn.Module, z: Tensor, truncation: float) -> Tensor:
    """Truncate `z [N, z_dim]` the way `G` samples truncated: through the first of G's modules with a
    `truncate_z(z, truncation)` method (BigGAN's ResNet G: resampling; a mixture latent: per component),
    else `gankit.sample.truncate_latents` (normals squeezed into [-T, T]). `truncation` 0 returns z."""
    from gankit.sample import truncate_latents

    if truncation < 0:
        raise GankitError(f"--truncation must be >= 0 (0 = off), got {truncation}")
    if truncation == 0:
        return z
    own = next((m for m in G.modules() if callable(getattr(m, "truncate_z", None))), None)
    return own.truncate_z(z, truncation) if own is not None else truncate_latents(G, z, truncation)


def truncation_mode(G: nn.Module) -> str:
    """How `G` is truncated, for protocols and messages: "w" (towards the mean w, StyleGAN), "resample"
    (BigGAN), "mixture" (each component of a mixture latent), or "squeeze" (normals squeezed into [-T, T])."""
    if getattr(G, "truncation_space", "z") == "w":
        return "w"
    for m in G.modules():
        if callable(getattr(m, "truncate_z", None)):
            return getattr(m, "truncation_mode", "mixture")
    return "squeeze"


def w_space(G: nn.Module) -> bool:
    """True when `G` has a W space: `G.styles(z [N, z_dim]) -> ws [N, num_ws, w_dim]` and a forward that takes
    `ws` in place of z (StyleGAN's mapping and synthesis networks, `gankit.models.stylegan`)."""
    return callable(getattr(G, "styles", None)) and callable(getattr(G, "synthesis", None))


def _to_pixels(images: Tensor) -> Tensor:
    """`[N, C, H, W]` in [-1, 1] -> uint8 `[N, H, W, 3 or 1]` (an alpha channel is dropped)."""
    images = images[:, :3] if images.shape[1] == 4 else images
    return ((images.clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1)


def rows_figure(rows: Sequence[Tensor], labels: Sequence[str] | None = None, padding: int = 2,
                min_size: int = 256) -> Image.Image:
    """Rows of images (row r `[N_r, C, H, W]` in [-1, 1], rows may differ in length) as one PIL image on
    white, upscaled (nearest) so small images are visible, with an optional text label left of each row."""
    if not rows:
        raise GankitError("nothing to draw: no rows of images")
    pixels = [_to_pixels(r) for r in rows]
    _, h, w, ch = pixels[0].shape
    ncol = max(p.shape[0] for p in pixels)
    canvas = torch.full((len(rows) * (h + padding) + padding, ncol * (w + padding) + padding, ch), 255,
                        dtype=torch.uint8)
    for r, row in enumerate(pixels):
        top = r * (h + padding) + padding
        for i, image in enumerate(row):
            left = i * (w + padding) + padding
            canvas[top:top + h, left:left + w] = image
    grid = Image.fromarray(canvas.numpy()[:, :, 0] if ch == 1 else canvas.numpy())
    scale = max(1, math.ceil(min_size / max(grid.size)))
    if scale > 1:
        grid = grid.resize((grid.size[0] * scale, grid.size[1] * scale), Image.NEAREST)
    if not labels:
        return grid
    label_w = 10 + 6 * max(len(s) for s in labels)  # the default bitmap font is ~6 px a character
    figure = Image.new(grid.mode, (grid.size[0] + label_w, grid.size[1]), 255 if grid.mode == "L" else (255,) * 3)
    figure.paste(grid, (label_w, 0))
    draw = ImageDraw.Draw(figure)
    for r, text in enumerate(labels):
        draw.text((4, (r * (h + padding) + padding + h / 2) * scale - 5), text, fill=0 if grid.mode == "L" else (0,) * 3)
    return figure


def write_gif(frames: Tensor, path: str | Path, duration_ms: int = 80, min_size: int = 128) -> None:
    """Animated GIF (looping) of `frames [T, C, H, W]` in [-1, 1], each upscaled (nearest) to >= `min_size` px."""
    if duration_ms < 10:
        raise GankitError(f"GIF frame duration must be >= 10 ms, got {duration_ms}")
    pixels = _to_pixels(frames).numpy()
    scale = max(1, math.ceil(min_size / max(pixels.shape[1:3])))
    images = []
    for p in pixels:
        image = Image.fromarray(p[:, :, 0] if p.shape[2] == 1 else p)
        images.append(image.resize((image.size[0] * scale, image.size[1] * scale), Image.NEAREST))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(path, save_all=True, append_images=images[1:], duration=duration_ms, loop=0)


def write_strip(rows: Sequence[Tensor], path: str | Path, labels: Sequence[str] | None = None,
                min_size: int = 512) -> None:
    """`rows_figure(rows, labels, min_size=min_size)` saved as a PNG at `path` (parent folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows_figure(rows, labels, min_size=min_size).save(path)
