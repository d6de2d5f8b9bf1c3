"""Speed options that change more than the layout: mixed precision and torch.compile.

The exact fast paths (reused fake batch, no D parameter gradients in G's step, fused
Adam, channels_last on CPU) are defaults; these are options because they are not the
same maths (bf16/fp16 round differently) or are not always faster (compile: measured
0.8-1.1x on this project's CPU presets, plus compile time). See benchmarks/throughput.py.
"""

import warnings
from contextlib import nullcontext

import torch

from gankit.errors import GankitError

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(precision: str, device: torch.device) -> None:
    """Refuse fp16 off CUDA (one line); warn that bf16 autocast on a CPU is slow."""
    if precision not in PRECISIONS:
        raise GankitError(f"runtime.precision '{precision}' is unknown; choose one of: {', '.join(PRECISIONS)}")
    if precision == "fp16" and device.type != "cuda":
        raise GankitError(
            f"runtime.precision fp16 needs a CUDA GPU (loss scaling), not {device.type}; use fp32, or bf16"
        )
    if precision == "bf16" and device.type == "cpu":
        warnings.warn("bf16 autocast on a CPU is usually much slower than fp32 (13x measured here); "
                      "it is meant for GPUs", stacklevel=2)


def autocast(device: torch.device, precision: str):
    """A context that runs forwards in `precision` (a no-op for fp32)."""
    dtype = PRECISIONS[precision]
    if dtype is None:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def make_scaler(device: torch.device, precision: str) -> "torch.amp.GradScaler | None":
    """A loss scaler for fp16 (gradients would underflow without it); None otherwise."""
    if precision != "fp16":
        return None
    return torch.amp.GradScaler(device.type)


def scaled_update(loss: torch.Tensor, opt: torch.optim.Optimizer, scaler) -> None:
    """Backward and one optimizer step, through the fp16 loss scaler when there is one (else plain)."""
    opt.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        opt.step()
        return
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
