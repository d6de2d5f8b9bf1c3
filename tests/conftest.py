import os

import pytest
import torch

# Tests run on 2-core CI machines: keep torch from oversubscribing them.
torch.set_num_threads(min(2, os.cpu_count() or 1))

HAS_FASHION = os.path.isdir("/usr/share/datasets/fashion-mnist")
needs_fashion = pytest.mark.skipif(not HAS_FASHION, reason="apt package dataset-fashion-mnist not installed")


@pytest.fixture
def tiny_digits_args() -> list[str]:
    """CLI arguments for a DCGAN small enough to train a few steps in well under a second."""
    return [
        "--preset", "dcgan-digits", "--no-progress",
        "--set", "data.resolution=16", "--set", "model.g_width=8", "--set", "model.d_width=8",
        "--set", "model.z_dim=8", "--set", "train.batch_size=16", "--set", "log.every=1",
        "--set", "log.sample_every=2", "--set", "log.checkpoint_every=2",
    ]
