"""A classifier's accuracy on a real split: how a semi-supervised GAN's D is scored (its class head).

Kept with the metrics (not the semi-supervised family) so evaluation needs no family module."""

from __future__ import annotations

import time
from dataclasses import replace

import torch
from torch import Tensor, nn

from gankit.config import Config
from gankit.errors import GankitError


def check_semi_supervised(D: nn.Module) -> None:
    """Raise a one-line error unless `D` is a semi-supervised (K+1-class) discriminator."""
    from gankit.models.conditional import SemiSupervisedDiscriminator

    if not isinstance(D, SemiSupervisedDiscriminator):
        raise GankitError("'accuracy' scores the class head of a semi-supervised D; this run has none "
                          "(train with a ssgan-* preset or model.conditioning=semi-supervised)")


@torch.no_grad()
def d_accuracy(D: nn.Module, images: Tensor, labels: Tensor, batch_size: int = 1000) -> float:
    """Share of `images` `[N, C, H, W]` whose argmax class logit of `D` equals `labels` `[N]`.

    D runs in eval mode (no noise or dropout) and is put back in its previous mode.
    """
    was_training = D.training
    D.eval()
    device = next(D.parameters()).device
    correct = 0
    try:
        for xb, yb in zip(images.split(batch_size), labels.split(batch_size)):
            logits = D(xb.to(device))[1]
            correct += int((logits.argmax(1).cpu() == yb).sum())
    finally:
        D.train(was_training)
    return correct / len(labels)


def evaluate_classifier(D: nn.Module, cfg: Config, split: str = "test") -> dict:
    """D's classification accuracy on the real `split` of `cfg.data`, with its protocol."""
    from gankit.data import loading

    check_semi_supervised(D)
    start = time.perf_counter()
    data = loading.load_images(replace(cfg.data, split=split))
    accuracy = d_accuracy(D, data.images, data.labels)
    protocol = {"data": cfg.data.name, "split": split, "train_split": cfg.data.split, "n": len(data), "labels_per_class": cfg.semi.labels_per_class,
                "label_seed": cfg.semi.label_seed, "rule": "argmax of D's K class logits",
                "time_s": round(time.perf_counter() - start, 3)}
    return {"accuracy": accuracy, "protocol": protocol}
