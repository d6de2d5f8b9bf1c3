"""Sampling from a generator: latents, batches, grids, scatter plots and export.

Works from a checkpoint alone: G is rebuilt from the saved config, no dataset needed.
"""

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor, nn

from gankit.errors import GankitError


def fixed_latents(n: int, z_dim: int, seed: int) -> Tensor:
    """`[n, z_dim]` standard normal latents from a private generator (the global RNG is untouched)."""
    return torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed))


def truncate_latents(G: nn.Module, z: Tensor, truncation: float) -> Tensor:
    """The truncation trick (Brock et al. 2019): standard normal `z [N, z_dim]` -> latents of the same shape
    whose coordinates are normals truncated to [-T, T] (deterministic in z: the normal CDF is squeezed).

    Trades variety for quality. A style-based G (StyleGAN) truncates in W instead: `truncation` is psi,
    w = w_avg + psi (w - w_avg), and the latents returned are its per-layer styles. A G with a mixture latent (`tricks.latent_mixture`) truncates each
    component's offsets instead, so every component is still drawn. `truncation` 0 returns z unchanged.
    """
    if truncation < 0:
        raise GankitError(f"--truncation must be >= 0 (0 = off), got {truncation}")
    if truncation == 0:
        return z
    if callable(getattr(G, "truncate_w", None)):  # style-based G: psi towards the tracked mean w, in W
        with torch.no_grad():
            return G.truncate_w(z.to(G.w_avg.device), truncation)
    if callable(getattr(G, "truncate_z", None)):  # a G with its own rule (BigGAN: redraw values outside [-T, T])
        return G.truncate_z(z, truncation)
    from gankit.models.latent import LatentMixtureG, normal_tail

    mixture = next((m for m in G.modules() if isinstance(m, LatentMixtureG)), None)
    if mixture is not None:
        return mixture.truncate_z(z, truncation)
    low = normal_tail(truncation)
    return torch.special.ndtri((low + torch.special.ndtr(z) * (1 - 2 * low)).clamp(1e-7, 1 - 1e-7))


def sampling_truncation(cfg, override: float | None = None) -> float:
    """The truncation a run's G samples with: `override` (a --truncation flag) when given, else `tricks.sample_truncation`."""
    return cfg.tricks.sample_truncation if override is None else override


@torch.no_grad()
def generate(G: nn.Module, z: Tensor, c: Tensor | None = None, batch_size: int = 256) -> Tensor:
    """Run G in eval mode over `z` `[N, z_dim]` in batches; returns `[N, ...]` float32 on CPU.

    G's train/eval mode is restored afterwards, so this can run in the middle of training.
    """
    device = next(G.parameters()).device
    was_training = G.training
    G.eval()
    try:
        chunks = []
        for start in range(0, z.shape[0], batch_size):
            cc = None if c is None else c[start : start + batch_size].to(device)
            chunks.append(G(z[start : start + batch_size].to(device), cc).float().cpu())
    finally:
        G.train(was_training)
    return torch.cat(chunks)


def to_uint8(images: Tensor) -> np.ndarray:
    """`[N, C, H, W]` in [-1, 1] -> uint8 `[N, H, W, C]` (values outside are clipped)."""
    pixels = ((images.clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return pixels.permute(0, 2, 3, 1).numpy()


def to_pil(pixels: np.ndarray) -> Image.Image:
    """uint8 `[H, W, C]` (C = 1, 3 or 4) as a PIL image: greyscale, RGB or RGBA."""
    return Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels)


def save_png_dir(images: Tensor, folder: str | Path) -> list[Path]:
    """One PNG per image of `[N, C, H, W]` in [-1, 1], named 000000.png, 000001.png, ... in `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, pixels in enumerate(to_uint8(images)):
        paths.append(folder / f"{i:06d}.png")
        to_pil(pixels).save(paths[-1])
    return paths


def image_grid(images: Tensor, nrow: int | None = None, padding: int = 2, min_size: int = 256) -> Image.Image:
    """Tile `[N, C, H, W]` images in [-1, 1] into one PIL image (upscaled, nearest, so small images are visible)."""
    n, c, h, w = images.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    ncol = math.ceil(n / nrow)
    pixels = to_uint8(images)
    canvas = np.zeros((ncol * (h + padding) + padding, nrow * (w + padding) + padding, c), dtype=np.uint8)
    for i in range(n):
        top = (i // nrow) * (h + padding) + padding
        left = (i % nrow) * (w + padding) + padding
        canvas[top : top + h, left : left + w] = pixels[i]
    grid = to_pil(canvas)
    scale = max(1, math.ceil(min_size / max(grid.size)))
    if scale > 1:
        grid = grid.resize((grid.size[0] * scale, grid.size[1] * scale), Image.NEAREST)
    return grid


def scatter_plot(samples: Tensor, reference: Tensor | None = None, size: int = 512, extent: float | None = None) -> Image.Image:
    """2-D points `[N, 2]` as blue dots over grey reference points `[M, 2]`, as a PIL image."""
    points = samples.detach().float().cpu()
    if extent is None:
        ref = reference if reference is not None else points
        extent = float(ref.abs().max()) * 1.3 + 1e-6
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    draw.line([(size // 2, 0), (size // 2, size)], fill=(230, 230, 230))
    draw.line([(0, size // 2), (size, size // 2)], fill=(230, 230, 230))

    def to_pixels(p: Tensor) -> np.ndarray:
        return ((p.numpy() / extent + 1.0) * 0.5 * (size - 1)).round()

    if reference is not None:
        for x, y in to_pixels(reference.float().cpu()):
            draw.ellipse([x - 1, size - 1 - y - 1, x + 1, size - 1 - y + 1], fill=(170, 170, 170))
    for x, y in to_pixels(points):
        draw.ellipse([x - 2, size - 1 - y - 2, x + 2, size - 1 - y + 2], fill=(30, 90, 200))
    return image


def save_samples(samples: Tensor, path: str | Path, reference: Tensor | None = None) -> None:
    """A grid PNG for images `[N, C, H, W]`, a scatter PNG for 2-D points `[N, 2]`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    picture = scatter_plot(samples, reference) if samples.dim() == 2 else image_grid(samples)
    picture.save(path)


def export_samples(samples: Tensor, out: str | Path, fmt: str, nrow: int | None = None) -> list[Path]:
    """Write samples as one grid PNG (`png`, `nrow` images a row), one PNG per image (`png-dir`) or raw float32 (`npy`)."""
    out = Path(out)
    if fmt == "npy":
        out.parent.mkdir(parents=True, exist_ok=True)
        np.save(out, samples.numpy().astype(np.float32))
        return [out]
    if fmt == "png":
        if nrow is not None and samples.dim() == 4:
            out.parent.mkdir(parents=True, exist_ok=True)
            image_grid(samples, nrow=nrow).save(out)
            return [out]
        save_samples(samples, out)
        return [out]
    if samples.dim() != 4:
        raise GankitError("--format png-dir writes images, but this generator makes 2-D points; use png or npy")
    return save_png_dir(samples, out)
