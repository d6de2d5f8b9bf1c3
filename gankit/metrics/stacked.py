"""Image-level mode collapse on stacked Fashion-MNIST (1,000 modes).

Each channel of a generated 3-channel 28x28 image is classified by gankit's shipped Fashion-MNIST
classifier; the three predicted classes give the mode (`gankit.metrics.modes.stacked_labels`).
The unrolled-GAN / PacGAN protocol: 26,000 samples, report the modes covered (>= 1 sample) and
KL(mode histogram || uniform over 1,000 modes).
"""

from __future__ import annotations

import math

import torch

from gankit.errors import GankitError
from gankit.metrics.features import load_domain_classifier
from gankit.metrics.modes import stacked_labels

NUM_MODES = 1000
PROTOCOL_N = 26_000
PROTOCOL = ("stacked Fashion-MNIST: each channel classified by the shipped fashion-mnist classifier; "
            "mode = 100*c_R + 10*c_G + c_B; covered = >= 1 sample; kl = KL(histogram || uniform 1,000)")


@torch.inference_mode()
def stacked_channel_classes(images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Predicted Fashion-MNIST class `[N, 3]` (0..9) of each channel of `images` `[N, 3, 28, 28]` in [-1, 1]."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or tuple(images.shape[1:]) != (3, 28, 28):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise GankitError(f"stacked-modes needs images [N, 3, 28, 28] (data.name=stacked-fashion), got {shape}")
    model, _ = load_domain_classifier("fashion-mnist")
    # Each channel is one grey image: fold channels into the batch, [N*3, 1, 28, 28].
    # channels_last and batches of 256 run this small CNN 4x faster on one CPU thread than NCHW batches of 6,000.
    flat = images.float().reshape(-1, 1, 28, 28)
    preds = [model(chunk.contiguous(memory_format=torch.channels_last)).argmax(1) for chunk in flat.split(batch_size)]
    return torch.cat(preds).reshape(-1, 3)


def stacked_mode_metrics(images: torch.Tensor) -> dict:
    """Mode coverage of stacked images `[N, 3, 28, 28]` in [-1, 1] (N >= 1; the protocol uses 26,000).

    Returns dict(modes: modes with >= 1 sample (0..1000), num_modes: 1000, n: N,
    kl: KL(q || uniform) in nats, q the normalised mode histogram (0 = perfectly even,
    log 1000 = 6.908 when every sample is one mode), counts: list of 1,000 ints).
    """
    if len(images) == 0:
        raise GankitError("stacked-modes needs at least one image")
    modes = stacked_labels(stacked_channel_classes(images))
    counts = torch.bincount(modes, minlength=NUM_MODES).double()
    q = counts / counts.sum()
    seen = q > 0
    kl = float((q[seen] * (q[seen].log() + math.log(NUM_MODES))).sum())
    return {"modes": int(seen.sum()), "num_modes": NUM_MODES, "n": len(images), "kl": kl,
            "counts": [int(c) for c in counts]}
