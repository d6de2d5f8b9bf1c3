"""What happens to a batch on its way into D: DiffAugment and annealed instance noise.

DiffAugment (Zhao et al. 2020): random translation, cutout and colour changes applied to
real AND fake images before D, in both D's and G's steps. Every op is differentiable in
its input, so G's gradients pass through. Each op draws per-sample parameters from the
global torch RNG (saved in checkpoints, so resume stays exact); the same policy applies
to the real and the fake batch.

Instance noise (Sønderby et al. 2016; Arjovsky & Bottou 2017): Gaussian noise added to
every D input, its std annealed linearly to 0, so the real and fake distributions overlap
early on and D cannot separate them perfectly.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from gankit.errors import GankitError


def translation(x: Tensor, ratio: float = 0.125) -> Tensor:
    """Shift each image `[N, C, H, W]` by up to `ratio` of its size in x and y, filling with 0."""
    n, _, h, w = x.shape
    sh, sw = max(1, int(h * ratio + 0.5)), max(1, int(w * ratio + 0.5))
    dy = torch.randint(-sh, sh + 1, (n, 1, 1), device=x.device)
    dx = torch.randint(-sw, sw + 1, (n, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1) + dy + sh  # indices into the padded image
    cols = torch.arange(w, device=x.device).view(1, 1, w) + dx + sw
    padded = F.pad(x, [sw, sw, sh, sh])  # zeros = mid-grey in [-1, 1]
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    # Advanced indexing with (batch, rows, cols) on an NHWC view gathers pixels: differentiable in x.
    out = padded.permute(0, 2, 3, 1)[batch, rows.expand(n, h, w), cols.expand(n, h, w)]
    return out.permute(0, 3, 1, 2)


def cutout(x: Tensor, ratio: float = 0.5) -> Tensor:
    """Zero one random rectangle of `ratio` x the image size per image `[N, C, H, W]`."""
    n, _, h, w = x.shape
    ch, cw = max(1, int(h * ratio + 0.5)), max(1, int(w * ratio + 0.5))
    top = torch.randint(0, h - ch + 1, (n, 1, 1), device=x.device)
    left = torch.randint(0, w - cw + 1, (n, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (rows >= top) & (rows < top + ch) & (cols >= left) & (cols < left + cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


def colour(x: Tensor) -> Tensor:
    """Random brightness (+U(-0.5, 0.5)), saturation (x U(0, 2)) and contrast (x U(0.5, 1.5)) per image."""
    n = x.shape[0]
    shape = (n, 1, 1, 1)
    x = x + (torch.rand(shape, device=x.device, dtype=x.dtype) - 0.5)
    mean_c = x.mean(dim=1, keepdim=True)
    x = (x - mean_c) * (torch.rand(shape, device=x.device, dtype=x.dtype) * 2.0) + mean_c
    mean_all = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean_all) * (torch.rand(shape, device=x.device, dtype=x.dtype) + 0.5) + mean_all


AUGMENTS: dict[str, Callable[[Tensor], Tensor]] = {"color": colour, "translation": translation, "cutout": cutout}


def parse_policy(policy: str) -> list[str]:
    """'translation,cutout' -> ['translation', 'cutout']; '' -> []; unknown names raise GankitError."""
    names = [p.strip() for p in policy.split(",") if p.strip()]
    for name in names:
        if name not in AUGMENTS:
            raise GankitError(f"tricks.augment '{name}' is unknown; use a comma list of: {', '.join(AUGMENTS)}")
    return names


def diff_augment(x: Tensor, policy: str) -> Tensor:
    """Apply the ops in `policy` (comma list, fixed order colour -> translation -> cutout) to `x` `[N, C, H, W]`."""
    names = parse_policy(policy)
    if names and x.dim() != 4:
        raise GankitError(f"DiffAugment needs images [N, C, H, W], got shape {tuple(x.shape)}")
    for name in AUGMENTS:  # fixed order whatever the user wrote
        if name in names:
            x = AUGMENTS[name](x)
    return x


def instance_noise_std(start: float, anneal_steps: int, step: int) -> float:
    """Std of instance noise at G step `step`: `start` falling linearly to 0 at `anneal_steps`."""
    if start <= 0 or anneal_steps <= 0:
        return 0.0
    return start * max(0.0, 1.0 - step / anneal_steps)


class DInput:
    """The transform every D input goes through: DiffAugment then instance noise of the current std.

    Call as `d_input(x)` (`x` any shape); `noise_std` is set by the trainer at each step.
    """

    def __init__(self, policy: str = "", noise_start: float = 0.0, noise_anneal_steps: int = 0) -> None:
        parse_policy(policy)
        self.policy = policy
        self.noise_start, self.noise_anneal_steps = noise_start, noise_anneal_steps
        self.noise_std = noise_start

    @property
    def active(self) -> bool:
        return bool(self.policy) or self.noise_start > 0

    def set_step(self, step: int) -> None:
        self.noise_std = instance_noise_std(self.noise_start, self.noise_anneal_steps, step)

    def __call__(self, x: Tensor) -> Tensor:
        if self.policy:
            x = diff_augment(x, self.policy)
        if self.noise_std > 0:
            x = x + self.noise_std * torch.randn_like(x)
        return x
