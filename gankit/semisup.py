"""Semi-supervised GAN (Salimans et al. 2016): D as a classifier, and the supervised baseline it is judged by.

A semi-supervised run (`model.conditioning=semi-supervised`, presets `ssgan-*`) trains D on
every training image without its label, on G's fakes, and on `semi.labels_per_class`
labelled images per class. What it produces that matters is D's class head. During training
(`eval.every`) its accuracy on the "val" split (held out of the training images, never seen by D)
picks best.pt; its accuracy on the real test split, measured once at the end
(`gankit.metrics.evaluate.final_test_evaluation`, or `gankit eval RUN --metrics accuracy`), is the
run's score. Model selection never looks at the test split.

The honest comparison is the same D network trained on the same labelled images alone, for
the same number of D updates, with the same optimizer: `train_supervised_baseline`.
"""

from __future__ import annotations

import time
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.config import Config
from gankit.errors import GankitError
from gankit.metrics.accuracy import check_semi_supervised, d_accuracy, evaluate_classifier  # noqa: F401 (API)


def supervised_step(D: nn.Module, opt: torch.optim.Optimizer, images: Tensor, labels: Tensor) -> Tensor:
    """One update of D's class head and body on a labelled batch; returns the detached cross-entropy."""
    loss = F.cross_entropy(D(images)[1], labels)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach()


def train_supervised_baseline(cfg: Config, steps: int | None = None, device: str = "cpu") -> tuple[nn.Module, dict]:
    """The semi-supervised run's D network trained on its labelled images alone.

    Same seed, network, labelled subset, labelled batch size, optimizer and learning rate as
    `cfg`'s GAN; `steps` D updates (default: the GAN's, `train.steps * train.n_critic`).
    Returns (D, {"steps", "time_s"}).
    """
    from gankit.build import build_data, build_models, build_optimizers, place_model, resolve_num_classes
    from gankit.train.loop import seed_everything

    if cfg.model.conditioning != "semi-supervised":
        raise GankitError("the supervised baseline needs a semi-supervised config (a ssgan-* preset)")
    steps = steps or cfg.train.steps * cfg.train.n_critic
    seed_everything(cfg.seed)
    data = build_data(cfg, torch.device(device))
    resolve_num_classes(cfg, data.num_classes)
    G, D = build_models(cfg)
    place_model(D, torch.device(device), G.out_shape)
    _, opt = build_optimizers(cfg, G, D)
    start = time.perf_counter()
    for _ in range(steps):
        supervised_step(D, opt, *data.labelled_batches())
    return D, {"steps": steps, "time_s": round(time.perf_counter() - start, 2)}
