"""Training: the run loop shared by every family, weight averaging, checkpoints, DDP and speed options.

The GAN family's D/G steps live in `gankit.families.gan` (`GANTrainer`)."""

from gankit.train.ema import EMA, ema_beta

__all__ = ["EMA", "ema_beta"]
