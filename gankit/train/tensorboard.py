"""Optional TensorBoard event files beside log.jsonl (`pip install -e '.[tensorboard]'`).

`TensorBoardWriter(run_dir)` writes to `run_dir/tensorboard/`; view with
`tensorboard --logdir RUN_DIR/tensorboard`. Scalars take the same dict as a log.jsonl
line (non-numeric values are skipped), images come from the sample PNGs the loop
already writes (or from a tensor), audio from a waveform tensor.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from gankit.errors import GankitError

INSTALL_HINT = "TensorBoard logging needs the tensorboard package; install it with: pip install -e '.[tensorboard]'"
SKIPPED_KEYS = ("step", "nimg", "event")


class TensorBoardWriter:
    """Writes scalars, images and audio as TensorBoard events under `run_dir/tensorboard/`."""

    def __init__(self, run_dir: Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # torch raises this when the tensorboard package is absent
            raise GankitError(INSTALL_HINT) from None
        self.log_dir = Path(run_dir) / "tensorboard"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._writer = SummaryWriter(log_dir=str(self.log_dir))

    def scalars(self, step: int, values: dict[str, float]) -> None:
        """One scalar per numeric key (e.g. a log.jsonl line); NaN and inf are written as they are
        (TensorBoard shows them), bools, strings, step and nimg are skipped."""
        for key, value in values.items():
            if key in SKIPPED_KEYS or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            self._writer.add_scalar(key, float(value), global_step=step)

    def image(self, step: int, tag: str, image: Path | Tensor) -> None:
        """A PNG file (e.g. samples/step-N.png), or a tensor `[C, H, W]` / `[H, W]` in [-1, 1]."""
        if isinstance(image, Tensor):
            pixels = image.detach().float().cpu().clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)
            if pixels.dim() == 2:
                pixels = pixels.unsqueeze(0)
            if pixels.dim() != 3:
                raise GankitError(f"TensorBoard image must be [C, H, W] or [H, W], got shape {list(image.shape)}")
            self._writer.add_image(tag, pixels.numpy(), global_step=step, dataformats="CHW")
            return
        from PIL import Image

        with Image.open(image) as img:
            array = np.asarray(img.convert("RGB"))
        self._writer.add_image(tag, array, global_step=step, dataformats="HWC")

    def audio(self, step: int, tag: str, samples: Tensor, rate: int) -> None:
        """A waveform: `[T]`, `[1, T]` or `[N, 1, T]` (the first clip is written) in [-1, 1] at `rate` Hz."""
        wave = samples.detach().float().cpu()
        while wave.dim() > 1:
            wave = wave[0]
        wave = torch.nan_to_num(wave, nan=0.0, posinf=1.0, neginf=-1.0)  # a diverged G must not break the writer
        self._writer.add_audio(tag, wave.clamp(-1, 1).unsqueeze(0), global_step=step, sample_rate=int(rate))

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
