"""Mode-collapse benchmark on the 2-D ring and grid mixtures (issue 4); prints the table.

Same as `gankit bench modes`; run from the repository root:

    PYTHONPATH=. python benchmarks/modes.py --seeds 10 --presets toy-grid,toy-ring --out bench-modes

Each run trains one preset for its own step count on one CPU thread (the machine is shared), draws
2,500 samples from G_ema and scores them with the PacGAN protocol (gankit.metrics.modes). Writes
modes.md, modes.json and modes.png (a row of scatter plots per preset) into --out.
"""

import sys

import torch

from gankit.cli import main

if __name__ == "__main__":
    torch.set_num_threads(1)  # small MLPs: one thread is as fast, and leaves the other core to others
    sys.exit(main(["bench", "modes", *sys.argv[1:]]))
