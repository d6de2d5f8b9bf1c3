"""A mixture-of-Gaussians latent for G (DeLiGAN, Gurumurthy et al. 2017), made from ordinary z.

A continuous G fed one Gaussian blob of latents must map part of it between separate modes
of the data (Khayatkhoei et al. 2018): for data made of disconnected pieces, such as the
2-D grid of 25 Gaussians, those transition samples are the low-quality ones. With K
separated latent components, G can put the transitions in the empty latent space between
components, where no sample falls.

The mixture is a fixed, invertible-in-distribution change of the standard normal z every
other part of gankit draws, done inside G: z's first coordinate picks the component through
its normal CDF (K equal-probability bins), its position within the bin becomes a fresh
standard-normal coordinate again, so `z' = means[k] + std * e` with `e ~ N(0, I)` and `k`
uniform over K. Sampling, evaluation, reference batches and checkpoints need no change.

Where the means sit matters. Drawn at random from N(0, I) (layout "random"), many fall within one
or two component stds of each other: those components overlap, and G must put the latents of
the overlap somewhere, often between two modes. Layout "kmeans" places the means at the k-means
centroids of a large N(0, I) sample instead: they still cover the standard normal, denser where
it is denser, but their spacing is even, so neighbouring components overlap far less.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gankit.errors import GankitError

_EDGE = 1e-6  # keeps the within-bin position off 0 and 1, where the inverse normal CDF is infinite
LAYOUTS = ("random", "kmeans")
_KMEANS_POINTS_PER_MEAN = 100  # size of the N(0, I) sample the centroids quantise
_KMEANS_ITERATIONS = 30


def normal_tail(t: float) -> float:
    """Standard normal CDF at -t (0 for t <= 0): a normal truncated to [-t, t] has its uniforms on [tail, 1 - tail]."""
    return float(torch.special.ndtr(torch.tensor(-t, dtype=torch.float64))) if t > 0 else 0.0


def mixture_means(components: int, z_dim: int, layout: str, generator: torch.Generator) -> Tensor:
    """Component means `[components, z_dim]`: N(0, I) draws ("random"), or k-means centroids of N(0, I) ("kmeans").

    k-means (Lloyd's iterations from the first `components` points of the sample) is deterministic for a given
    generator state; a centroid that loses all its points keeps its place.
    """
    if layout == "random":
        return torch.randn(components, z_dim, generator=generator)
    if layout != "kmeans":
        raise GankitError(f"tricks.latent_mixture_layout '{layout}' is unknown; choose {' or '.join(LAYOUTS)}")
    points = torch.randn(components * _KMEANS_POINTS_PER_MEAN, z_dim, generator=generator, dtype=torch.float64)
    means = points[:components].clone()
    for _ in range(_KMEANS_ITERATIONS):
        nearest = torch.cdist(points, means).argmin(dim=1)
        counts = torch.bincount(nearest, minlength=components).unsqueeze(1)
        sums = torch.zeros_like(means).index_add_(0, nearest, points)
        means = torch.where(counts > 0, sums / counts.clamp(min=1), means)
    return means.float()


class LatentMixtureG(nn.Module):
    """Wraps G: `G(z [N, z_dim]) -> G_inner(means[k] + std * e)`, K components with fixed means.

    `means` `[K, z_dim]` are placed by `layout` (see `mixture_means`) from a private generator seeded
    with `seed` and kept as a buffer (saved in checkpoints), and so is `std` (a `StdAnneal` may move it).
    `truncation` T > 0 draws each coordinate of e from a standard normal truncated to [-T, T] (0 = plain
    normal) while the boolean buffer `truncating` is set: from the start when `truncate_now`, else once a
    `TruncationSwitch` sets it (it is saved in checkpoints and copied to G_ema like any buffer). Output shape
    and range are the wrapped G's.
    """

    def __init__(self, G: nn.Module, components: int, std: float, seed: int = 0, layout: str = "random",
                 truncation: float = 0.0, truncate_now: bool = True) -> None:
        super().__init__()
        if components < 2:
            raise GankitError(f"tricks.latent_mixture must be 0 (off) or >= 2 components, got {components}")
        if not std > 0:
            raise GankitError(f"tricks.latent_mixture_std must be > 0, got {std}")
        if truncation < 0:
            raise GankitError(f"tricks.latent_mixture_truncation must be >= 0 (0 = off), got {truncation}")
        self.G, self.z_dim, self.out_shape = G, G.z_dim, G.out_shape
        if hasattr(G, "num_classes"):
            self.num_classes = G.num_classes
        self.components, self.truncation = components, truncation
        # Normal CDF at -T: the truncated offsets' uniforms span [low, 1 - low]. Fixed, so computed once.
        self._low = normal_tail(truncation)
        means = mixture_means(components, G.z_dim, layout, torch.Generator().manual_seed(seed))
        self.register_buffer("means", means)
        # A buffer, so that an annealed std (`StdAnneal`) reaches G_ema, checkpoints and sampling.
        self.register_buffer("std", torch.tensor(float(std)))
        self.register_buffer("truncating", torch.tensor(truncation > 0 and truncate_now))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # Checkpoints written before `truncating` existed truncated from the start whenever T > 0.
        state_dict.setdefault(prefix + "truncating", torch.tensor(self.truncation > 0))
        # ... and before `std` was a buffer, it was the configured constant.
        state_dict.setdefault(prefix + "std", self.std.clone())
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _component(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """z's first coordinate -> (component index `[N]` as float, position within its bin `[N, 1]`, uniform on [0, 1))."""
        position = torch.special.ndtr(z[:, 0]) * self.components  # normal CDF: uniform on [0, K)
        k = position.floor().clamp(0, self.components - 1)
        return k, (position - k).unsqueeze(1)  # the position is independent of k

    def mixture_latents(self, z: Tensor) -> Tensor:
        """Standard normal `z [N, z_dim]` -> mixture latents `[N, z_dim]` (deterministic in z)."""
        k, within = self._component(z)
        if self.truncation > 0 and self.truncating:
            # Truncated normal on [-T, T] for every coordinate of e (through its uniform): a component's latents
            # stay within T stds of its mean, so the latents between components, where G must jump from one
            # mode to another, are never drawn.
            uniform = self._low + torch.cat([within, torch.special.ndtr(z[:, 1:])], dim=1) * (1 - 2 * self._low)
            e = torch.special.ndtri(uniform.clamp(_EDGE, 1 - _EDGE))
        else:
            e = torch.cat([torch.special.ndtri(within.clamp(_EDGE, 1 - _EDGE)), z[:, 1:]], dim=1)
        return self.means[k.long()] + self.std * e

    def truncate_z(self, z: Tensor, truncation: float) -> Tensor:
        """Standard normal `z [N, z_dim]` -> z' whose mixture latents have every offset within `truncation` stds.

        The truncation trick at sampling time, for a mixture: each sample keeps its component (and
        its place in the order of offsets), only the offsets shrink to a normal truncated to [-T, T].
        Truncating z itself would instead drop the components at the ends of z's first coordinate.
        A T at or above the training truncation in force changes nothing.
        """
        low = self._low if self.truncating else 0.0  # what the offsets' uniforms span in the forward: [low, 1 - low]
        target = normal_tail(truncation)
        if target <= low:
            return z
        k, within = self._component(z)
        uniform = torch.cat([within, torch.special.ndtr(z[:, 1:])], dim=1)
        # Map the uniforms so that low + u' (1 - 2 low) is uniform on [target, 1 - target].
        squeezed = (target - low + uniform * (1 - 2 * target)) / (1 - 2 * low)
        first = (k.unsqueeze(1) + squeezed[:, :1]) / self.components  # back to z's first coordinate's CDF
        return torch.special.ndtri(torch.cat([first, squeezed[:, 1:]], dim=1).clamp(_EDGE, 1 - _EDGE))

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        return self.G(self.mixture_latents(z), c)


class TruncationSwitch:
    """Turns on a `LatentMixtureG`'s truncation after `start_step` train steps (coverage first, precision later).

    Truncated components leave no latent tails between modes, so the samples that G would map between
    modes are never drawn; but a mode that no component reaches from the start then gets no samples and so
    no gradient. With untruncated components first, the tails find every mode; truncating afterwards
    sharpens. Stepped once per train step like an LR scheduler (the trainer keeps it with those), with
    the same `state_dict` / `load_state_dict`; the switch itself is G's `truncating` buffer.
    """

    def __init__(self, mixture: LatentMixtureG, start_step: int) -> None:
        if mixture.truncation <= 0:
            raise GankitError("tricks.latent_mixture_truncation_start needs tricks.latent_mixture_truncation > 0")
        self.mixture, self.start_step, self.steps = mixture, start_step, 0

    def step(self) -> None:
        self.steps += 1
        if self.steps >= self.start_step:
            self.mixture.truncating.fill_(True)

    def state_dict(self) -> dict:
        return {"steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        self.steps = int(state["steps"])


class StdAnneal:
    """Moves a `LatentMixtureG`'s component std linearly from `initial` to `final` between two train steps.

    Wide components early keep neighbouring components overlapping, so every mode of the data is
    reached and gets gradient; narrow components late leave wide empty latent gaps between them, where
    G puts its jumps from one mode to another, so fewer samples land between modes. Stepped once per
    train step like an LR scheduler (the trainer keeps it with those); the std itself is G's `std`
    buffer, so G_ema, checkpoints and sampling follow it (G_ema copies it within the train step, before
    this step: it holds the std of G's last update, G the std of its next).
    """

    def __init__(self, mixture: LatentMixtureG, initial: float, final: float, start_step: int, end_step: int) -> None:
        if not final > 0:
            raise GankitError(f"tricks.latent_mixture_std_final must be > 0, got {final}")
        self.mixture, self.initial, self.final = mixture, initial, final
        self.start_step, self.end_step, self.steps = start_step, max(end_step, start_step + 1), 0

    def std_after(self, steps: int) -> float:
        share = min(1.0, max(0.0, (steps - self.start_step) / (self.end_step - self.start_step)))
        return self.initial + share * (self.final - self.initial)

    def step(self) -> None:
        self.steps += 1
        self.mixture.std.fill_(self.std_after(self.steps))

    def state_dict(self) -> dict:
        return {"steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        self.steps = int(state["steps"])
