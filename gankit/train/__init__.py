"""Training: the D/G step (GANTrainer), weight averaging, checkpoints and the run loop."""

from gankit.train.ema import EMA, ema_beta
from gankit.train.trainer import GANTrainer

__all__ = ["EMA", "GANTrainer", "ema_beta"]
