"""Class-conditional GANs built around any backbone family (dcgan, mlp, ...).

Conditioning is a wrapper, not a new family: `model.name` still picks the backbone
networks and `model.conditioning` says how the class label `c` reaches them. This
keeps one registry entry per architecture (a cGAN, a projection D and an ACGAN all
reuse DCGAN's layers unchanged) instead of one per architecture x conditioning.

- cgan (Mirza & Osindero 2014): G sees `[z, embed_g(c)]`; D sees the image with
  `embed_d(c)` appended as extra constant channels (or extra features for vectors).
- projection (Miyato & Koyama 2018): D's score is `psi(h) + <embed(c), h>` with
  `h = D.features(x)`; G as in cgan.
- acgan (Odena et al. 2017): D sees only the image and returns
  `(scores [N], class_logits [N, K])`; the trainer adds a cross-entropy class loss
  to both nets. G as in cgan.
- semi-supervised (Salimans et al. 2016): G is unconditional; D is a K+1-class
  classifier whose "fake" logit is fixed at 0, so it returns K logits and the
  real/fake score `log sum_k exp(l_k)` (see SemiSupervisedDiscriminator). Only a few
  training images keep their labels; the trainer adds their cross-entropy to D's loss.

A conditional G called with `c=None` draws balanced classes `0, 1, ..., K-1, 0, ...`,
so code written for unconditional G (sample grids, FID during training) still works.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.models.layers import check_int

CONDITIONINGS = ("none", "cgan", "projection", "acgan", "semi-supervised")
CLASS_CONDITIONED = ("cgan", "projection", "acgan")  # G takes a class label (semi-supervised G does not)


def check_labels(c: Tensor | None, num_classes: int, n: int, what: str) -> Tensor:
    """Return `c` as int64 `[n]`, or raise naming the problem (None, wrong size, out of range)."""
    if c is None:
        raise GankitError(f"the class-conditional {what} needs class labels c; pass c as int64 [N]")
    if c.dim() != 1 or c.shape[0] != n:
        raise GankitError(f"class labels must have shape [{n}], got {list(c.shape)}")
    if c.numel() and (int(c.min()) < 0 or int(c.max()) >= num_classes):
        raise GankitError(f"class index out of range: labels must be in 0..{num_classes - 1}, got "
                          f"{int(c.min())}..{int(c.max())}")
    return c.long()


def balanced_labels(n: int, num_classes: int, device: torch.device | str = "cpu") -> Tensor:
    """`[n]` int64 labels `0, 1, ..., K-1, 0, 1, ...` (every class equally often, up to one)."""
    return torch.arange(n, device=device) % num_classes


class ConditionalGenerator(nn.Module):
    """`G(z [N, z_dim], c [N] or None) -> x [N, *out_shape]`: the backbone G fed `[z, embed(c)]`.

    `backbone` must have been built with `z_dim + embed_dim` inputs.
    """

    def __init__(self, backbone: nn.Module, z_dim: int, num_classes: int, embed_dim: int) -> None:
        super().__init__()
        check_int("num_classes", num_classes, 2)
        check_int("embed_dim", embed_dim, 1)
        if backbone.z_dim != z_dim + embed_dim:
            raise GankitError(f"the backbone G takes {backbone.z_dim} inputs, expected z_dim + embed_dim = "
                              f"{z_dim + embed_dim}")
        self.backbone = backbone
        self.z_dim, self.num_classes = z_dim, num_classes
        self.out_shape = backbone.out_shape
        self.embed = nn.Embedding(num_classes, embed_dim)
        nn.init.normal_(self.embed.weight, 0.0, 1.0)  # same scale as z, so neither swamps the other

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        if c is None:
            c = balanced_labels(z.shape[0], self.num_classes, z.device)
        c = check_labels(c, self.num_classes, z.shape[0], "generator")
        return self.backbone(torch.cat([z, self.embed(c)], dim=1))


class ConcatDiscriminator(nn.Module):
    """cGAN D: `D(x, c) -> scores [N]`; `embed(c)` joins x as extra channels (images) or features (vectors).

    `backbone` must have been built for in_shape `(C + embed_dim, H, W)` (images) or `(D + embed_dim,)`.
    """

    def __init__(self, backbone: nn.Module, in_shape: Sequence[int], num_classes: int, embed_dim: int) -> None:
        super().__init__()
        check_int("num_classes", num_classes, 2)
        check_int("embed_dim", embed_dim, 1)
        self.backbone = backbone
        self.in_shape = tuple(in_shape)
        self.num_classes = num_classes
        self.embed = nn.Embedding(num_classes, embed_dim)

    def _joined(self, x: Tensor, c: Tensor | None) -> Tensor:
        c = check_labels(c, self.num_classes, x.shape[0], "discriminator")
        e = self.embed(c)  # [N, E]
        if x.dim() == 4:
            # Constant class maps [N, E, H, W]; made in x's memory format so the convs stay NHWC on CPU.
            maps = e[:, :, None, None].expand(-1, -1, *x.shape[2:])
            fmt = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
            return torch.cat([x, maps], dim=1).contiguous(memory_format=fmt)
        return torch.cat([x.reshape(x.shape[0], -1), e], dim=1)

    def features(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        """The backbone's features of `[x, embed(c)]`: `[N, F]`."""
        return self.backbone.features(self._joined(x, c))

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        return self.backbone(self._joined(x, c))


class ProjectionDiscriminator(nn.Module):
    """Projection D: `D(x, c) = psi(h) + <embed(c), h>`, `h = backbone.features(x)` `[N, F]` -> scores `[N]`."""

    def __init__(self, backbone: nn.Module, num_classes: int, feature_dim: int) -> None:
        super().__init__()
        check_int("num_classes", num_classes, 2)
        self.backbone = backbone
        self.in_shape = backbone.in_shape
        self.num_classes = num_classes
        self.embed = nn.Embedding(num_classes, feature_dim)
        nn.init.normal_(self.embed.weight, 0.0, 0.02)  # start near the unconditional score

    def features(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        return self.backbone.features(x)

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        c = check_labels(c, self.num_classes, x.shape[0], "discriminator")
        h = self.backbone.features(x)
        return self.backbone.head(h).squeeze(1) + (self.embed(c) * h).sum(dim=1)


class ACGANDiscriminator(nn.Module):
    """ACGAN D: `D(x, c=None) -> (scores [N], class_logits [N, K])`; labels are not an input."""

    def __init__(self, backbone: nn.Module, num_classes: int, feature_dim: int) -> None:
        super().__init__()
        check_int("num_classes", num_classes, 2)
        self.backbone = backbone
        self.in_shape = backbone.in_shape
        self.num_classes = num_classes
        self.classify = nn.Linear(feature_dim, num_classes)

    def features(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        return self.backbone.features(x)

    def forward(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        h = self.backbone.features(x)
        return self.backbone.head(h).squeeze(1), self.classify(h)


class SemiSupervisedDiscriminator(ACGANDiscriminator):
    """K+1-class D: `D(x, c=None) -> (scores [N], class_logits [N, K])`; labels are not an input.

    ACGAN's D with its separate real/fake head dropped: the K+1-th ("fake") logit is fixed
    at 0, which loses nothing (softmax is unchanged by shifting every logit) and turns the
    K+1 softmax into a real/fake score: with `Z = sum_k exp(l_k)`, p(real) = Z / (Z + 1) =
    sigmoid(log Z). So the score is `logsumexp(logits)`, and the usual nonsaturating loss on
    it is the paper's unsupervised loss. `class_logits.argmax(1)` is the classifier's prediction.
    """

    def forward(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        logits = self.classify(self.backbone.features(x))
        return torch.logsumexp(logits, dim=1), logits


def k_plus_one_logits(class_logits: Tensor) -> Tensor:
    """`[N, K]` -> `[N, K+1]`: the K class logits and the fixed fake-class logit 0 (last column)."""
    return torch.cat([class_logits, class_logits.new_zeros(class_logits.shape[0], 1)], dim=1)


def feature_dim(backbone_d: nn.Module) -> int:
    """Width F of `backbone_d.features(x)`, read from its score layer `head: Linear(F, 1)`."""
    head = getattr(backbone_d, "head", None)
    if not isinstance(head, nn.Linear):
        raise GankitError(f"{type(backbone_d).__name__} has no linear score layer 'head'; "
                          "projection and acgan need one (use the dcgan or mlp model)")
    return head.in_features


def conditional_shapes(conditioning: str, z_dim: int, shape: tuple[int, ...], embed_dim: int
                       ) -> tuple[int, tuple[int, ...]]:
    """(z_dim, data shape) the backbone G and D must be built with for `conditioning`."""
    if conditioning == "semi-supervised":  # G is unconditional, D reads plain images
        return z_dim, shape
    d_shape = shape
    if conditioning == "cgan":
        d_shape = (shape[0] + embed_dim, *shape[1:])
    return z_dim + embed_dim, d_shape


def wrap_conditional(conditioning: str, G: nn.Module, D: nn.Module, z_dim: int, shape: tuple[int, ...],
                     num_classes: int, embed_dim: int) -> tuple[nn.Module, nn.Module]:
    """Wrap backbones built with `conditional_shapes(...)` into the conditional G and D."""
    if conditioning not in CONDITIONINGS[1:]:
        raise GankitError(f"model.conditioning '{conditioning}' is unknown; choose one of: {', '.join(CONDITIONINGS)}")
    if conditioning == "semi-supervised":
        return G, SemiSupervisedDiscriminator(D, num_classes, feature_dim(D))
    G = ConditionalGenerator(G, z_dim, num_classes, embed_dim)
    if conditioning == "cgan":
        return G, ConcatDiscriminator(D, shape, num_classes, embed_dim)
    if conditioning == "projection":
        return G, ProjectionDiscriminator(D, num_classes, feature_dim(D))
    return G, ACGANDiscriminator(D, num_classes, feature_dim(D))
