"""Mode-collapse benchmark on the 2-D ring and grid mixtures (issue 4) or stacked Fashion-MNIST (issue 18).

Same as `gankit bench modes`; run from the repository root:

    PYTHONPATH=. python benchmarks/modes.py --seeds 10 --presets toy-grid,toy-ring --out bench-modes
    PYTHONPATH=. python benchmarks/modes.py --seeds 3 --budget-s 90 --out bench-stacked --presets \
        stacked-dcgan,stacked-recommended,stacked-pacgan2,stacked-pacgan4,stacked-mbd,stacked-unrolled,stacked-wgan-gp

Each run trains one preset on one CPU thread (the machine is shared), for its own step count or, with
--budget-s, for that many CPU seconds; then the 2-D runs draw 2,500 samples from G_ema and are scored
with the PacGAN protocol (gankit.metrics.modes), the stacked runs 26,000 (modes of 1,000, KL to uniform;
gankit.metrics.stacked). Writes modes.md, modes.json and modes.png (a row of scatter plots or sample
grids per preset) into --out.
"""

import sys

import torch

from gankit.cli import main

if __name__ == "__main__":
    torch.set_num_threads(1)  # small MLPs: one thread is as fast, and leaves the other core to others
    sys.exit(main(["bench", "modes", *sys.argv[1:]]))
