"""TensorBoardWriter: events written beside log.jsonl read back with TensorBoard's own reader."""

import importlib.util
import math
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.errors import GankitError
from gankit.train.tensorboard import TensorBoardWriter

HAVE_TENSORBOARD = importlib.util.find_spec("tensorboard") is not None
needs_tensorboard = pytest.mark.skipif(not HAVE_TENSORBOARD,
                                       reason="tensorboard is not installed (pip install -e '.[tensorboard]')")


def _read_back(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "images": 0, "audio": 0})
    accumulator.Reload()
    return accumulator


@needs_tensorboard
def test_scalars_images_and_audio_round_trip(tmp_path):
    png = tmp_path / "step-0000010.png"
    Image.fromarray(np.arange(12 * 20 * 3, dtype=np.uint8).reshape(12, 20, 3)).save(png)
    writer = TensorBoardWriter(tmp_path)
    writer.scalars(10, {"step": 10, "nimg": 640, "d_loss": 0.5, "g_loss": 2.0, "note": "text", "ok": True})
    writer.scalars(20, {"step": 20, "d_loss": float("nan"), "g_loss": 1.5})
    writer.image(10, "samples", png)
    writer.image(20, "tensor", torch.full((1, 4, 6), 1.0))
    writer.audio(10, "clip", torch.sin(torch.arange(800.0) / 5.0).view(1, 1, 800), rate=8000)
    writer.close()
    assert (tmp_path / "tensorboard").is_dir()
    events = _read_back(tmp_path / "tensorboard")
    tags = events.Tags()
    assert sorted(tags["scalars"]) == ["d_loss", "g_loss"]  # step, nimg, strings and bools skipped
    d_loss = events.Scalars("d_loss")
    assert [e.step for e in d_loss] == [10, 20] and d_loss[0].value == 0.5 and math.isnan(d_loss[1].value)
    assert [e.value for e in events.Scalars("g_loss")] == [2.0, 1.5]
    image = events.Images("samples")[0]
    assert (image.step, image.width, image.height) == (10, 20, 12)
    assert (events.Images("tensor")[0].width, events.Images("tensor")[0].height) == (6, 4)
    clip = events.Audio("clip")[0]
    assert clip.step == 10 and clip.sample_rate == 8000 and clip.length_frames == 800


def test_missing_package_is_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # makes the import fail as if not installed
    with pytest.raises(GankitError, match=r"pip install -e '\.\[tensorboard\]'") as info:
        TensorBoardWriter(tmp_path)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "tensorboard").exists()
