"""Reference and virtual batch normalisation for G (Salimans et al. 2016, "Improved Techniques").

Plain batch norm makes each generated sample depend on the rest of its batch, and on the
batch size at sampling time. Here the statistics come from a fixed reference batch of
latents `z_ref` that runs through G together with every batch:

- reference BN: every sample is normalised with the reference batch's mean and variance;
- virtual BN: sample i is normalised with the statistics of the reference batch plus i itself.

Either way a sample's output no longer depends on the other samples it is generated with,
in training and in eval alike (no running statistics are used).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gankit.errors import GankitError

G_NORMS = ("batch", "reference", "virtual")


class RefBatchNorm(nn.Module):
    """Drop-in for BatchNorm1d/2d. Input `[R + N, C, ...]`: the first `n_ref` rows are the reference batch.

    Output has the input's shape; the reference rows are normalised with their own statistics
    (so the next layer's reference statistics are right), the others as `virtual` says.
    """

    def __init__(self, num_features: int, n_ref: int, virtual: bool, eps: float = 1e-5) -> None:
        super().__init__()
        self.n_ref, self.virtual, self.eps = n_ref, virtual, eps
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))

    def forward(self, x: Tensor) -> Tensor:
        if self.virtual:
            return self._virtual(x)
        return _ReferenceNorm.apply(x, self.weight, self.bias, self.n_ref, self.eps)

    def _virtual(self, x: Tensor) -> Tensor:
        """Reference rows normalised with their own statistics, each other row with those of reference + itself."""
        r = self.n_ref
        dims = [0] + list(range(2, x.dim()))
        shape = [1, -1] + [1] * (x.dim() - 2)
        ref, rest = x[:r], x[r:]
        per_row = int(x[0, 0].numel())  # values per channel a single sample contributes
        ref_sum, ref_sq = ref.sum(dims), (ref * ref).sum(dims)  # [C]
        ref_mean = ref_sum / (r * per_row)
        ref_var = ref_sq / (r * per_row) - ref_mean**2
        out_ref = (ref - ref_mean.view(shape)) * torch.rsqrt(ref_var.view(shape) + self.eps)
        # Statistics of reference + this one sample, per sample: [N, C].
        spatial = list(range(2, x.dim()))
        s = rest.sum(spatial) if spatial else rest
        sq = (rest * rest).sum(spatial) if spatial else rest * rest
        count = (r + 1) * per_row
        mean = (ref_sum + s) / count
        var = (ref_sq + sq) / count - mean**2
        view = list(mean.shape) + [1] * (x.dim() - 2)
        out_rest = (rest - mean.view(view)) * torch.rsqrt(var.view(view) + self.eps)
        out = torch.cat([out_ref, out_rest])
        return out * self.weight.view(shape) + self.bias.view(shape)


class _ReferenceNorm(torch.autograd.Function):
    """Reference BN as one op: `y = (x - m) * w / sqrt(v + eps) + b`, with `m`, `v` (biased) per channel
    over the first `n_ref` rows (and spatial axes) of `x`; gradients reach those rows through `m` and `v`.

    Written out by hand because this runs in every layer of every toy G forward and backward, where
    PyTorch's per-op cost, not arithmetic, sets the step time: autograd of the same formula records
    about 14 nodes per layer (and a full-size zero tensor for the slice's gradient); this is one.
    The test suite checks it against autograd of the formula (gradcheck, float64).
    """

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor, n_ref: int, eps: float) -> Tensor:
        dims = [0] + list(range(2, x.dim()))  # every axis but channels
        shape = [1, -1] + [1] * (x.dim() - 2)
        ref = x[:n_ref]
        # E[x^2] - E[x]^2 rather than torch.var_mean, whose reduction over rows is several times slower on CPU.
        mean = ref.mean(dims)  # [C]
        inv_std = torch.rsqrt((ref * ref).mean(dims) - mean * mean + eps)
        scale = weight * inv_std
        ctx.save_for_backward(x, weight, mean, inv_std)
        ctx.n_ref, ctx.dims, ctx.shape = n_ref, dims, shape
        return torch.addcmul((bias - mean * scale).view(shape), x, scale.view(shape))

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: Tensor):
        x, weight, mean, inv_std = ctx.saved_tensors
        r, dims, shape = ctx.n_ref, ctx.dims, ctx.shape
        grad_bias = grad_out.sum(dims)  # [C]
        grad_centred = (grad_out * x).sum(dims) - mean * grad_bias  # sum of grad * (x - m), [C]
        grad_weight = grad_centred * inv_std
        scale = weight * inv_std
        grad_x = grad_out * scale.view(shape)
        # Through the statistics, reference rows only: dL/dm = -scale * sum(grad), dL/dv = -w/2 inv^3 sum(grad (x - m)),
        # and each reference value moves m by 1/count and v by 2 (x - m)/count.
        count = r * (x[0, 0].numel())
        d_mean = -scale * grad_bias / count
        d_var = -weight * grad_centred * inv_std**3 / count  # already times 2 (from dv/dx) / 2 (from dinv/dv)
        grad_x[:r] += d_mean.view(shape) + d_var.view(shape) * (x[:r] - mean.view(shape))
        return grad_x, grad_weight, grad_bias, None, None


class RefBatchG(nn.Module):
    """Wraps G: its batch norms become `RefBatchNorm`s and a fixed `z_ref` `[n_ref, z_dim]` runs with every batch.

    `G(z [N, z_dim]) -> x [N, *out_shape]`, independent of the other rows of z. `z_ref` is drawn
    from a private generator seeded with `seed` and kept as a buffer (saved in checkpoints).
    """

    def __init__(self, G: nn.Module, norm: str, n_ref: int = 64, seed: int = 0) -> None:
        super().__init__()
        if norm not in ("reference", "virtual"):
            raise GankitError(f"G norm '{norm}' is unknown here; choose reference or virtual")
        swapped = _swap_batchnorms(G, n_ref, norm == "virtual")
        if swapped == 0:
            raise GankitError(f"tricks.g_norm={norm} needs a G with batch norm layers; this G has none")
        self.G, self.z_dim, self.out_shape = G, G.z_dim, G.out_shape
        z_ref = torch.randn(n_ref, G.z_dim, generator=torch.Generator().manual_seed(seed))
        self.register_buffer("z_ref", z_ref)

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        if c is not None:
            raise GankitError("reference/virtual batch norm does not support class-conditional G; use tricks.g_norm=batch")
        out = self.G(torch.cat([self.z_ref.to(z.dtype), z]))
        return out[self.z_ref.shape[0]:]


def _swap_batchnorms(module: nn.Module, n_ref: int, virtual: bool) -> int:
    """Replace every BatchNorm1d/2d below `module` by a RefBatchNorm (same affine start). Returns the count."""
    count = 0
    for name, child in module.named_children():
        if isinstance(child, (nn.BatchNorm1d, nn.BatchNorm2d)):
            new = RefBatchNorm(child.num_features, n_ref, virtual, child.eps)
            if child.affine:
                with torch.no_grad():
                    new.weight.copy_(child.weight)
                    new.bias.copy_(child.bias)
            setattr(module, name, new)
            count += 1
        else:
            count += _swap_batchnorms(child, n_ref, virtual)
    return count
