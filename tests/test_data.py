"""Tests for gankit.data: toy mixtures, Fashion-MNIST IDX parsing, digits, folders, samplers."""

from __future__ import annotations

import gzip
import io
import math
import struct
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.data import (
    FASHION_MNIST_CLASSES,
    ImageData,
    TensorSampler,
    ToySampler,
    fashion_mnist_dir,
    load_digits,
    load_fashion_mnist,
    load_folder,
    make_toy,
)
from gankit.data import fashion_mnist as fm
from gankit.errors import GankitError

REAL_FASHION = Path("/usr/share/datasets/fashion-mnist")


# ---------------------------------------------------------------- toy

def test_ring_definition():
    ring = make_toy("ring")
    assert ring.centers.shape == (8, 2) and ring.centers.dtype == torch.float32
    assert ring.std == 0.01
    assert torch.allclose(ring.centers[0], torch.tensor([1.0, 0.0]))
    assert torch.allclose(ring.centers.norm(dim=1), torch.ones(8))
    angles = torch.atan2(ring.centers[:, 1], ring.centers[:, 0]) % (2 * math.pi)
    assert torch.allclose(angles, torch.arange(8) * (2 * math.pi / 8), atol=1e-5)


def test_grid_definition():
    grid = make_toy("grid")
    assert grid.centers.shape == (25, 2) and grid.std == 0.05
    expected = {(float(x), float(y)) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)}
    assert {tuple(c) for c in grid.centers.tolist()} == expected


@pytest.mark.parametrize("name", ["ring", "grid"])
def test_toy_samples_lie_near_their_mode(name):
    mixture = make_toy(name)
    points, modes = mixture.sample(4000, torch.Generator().manual_seed(0))
    assert points.shape == (4000, 2) and points.dtype == torch.float32 and modes.dtype == torch.int64
    dist = torch.cdist(points, mixture.centers)
    assert torch.equal(dist.argmin(dim=1), modes)  # nearest center is the drawn mode
    assert dist.min(dim=1).values.max() < 6 * mixture.std
    per_point_std = (points - mixture.centers[modes]).std()
    assert abs(per_point_std.item() - mixture.std) < 0.1 * mixture.std
    counts = torch.bincount(modes, minlength=len(mixture.centers)).float()
    assert counts.min() > 0.5 * counts.mean()  # uniform over modes


def test_unknown_toy_lists_valid_names():
    with pytest.raises(GankitError, match="grid, ring"):
        make_toy("spiral")


# ---------------------------------------------------------------- Fashion-MNIST

def _idx_bytes(array: np.ndarray, magic: int) -> bytes:
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_tiny_fashion(root: Path, n_train: int = 6, n_test: int = 4, gz: bool = True) -> dict:
    rng = np.random.RandomState(1)
    arrays = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        images = rng.randint(0, 256, size=(n, 28, 28)).astype(np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        arrays[split] = (images, labels)
        for kind, arr, magic in (("images-idx3", images, 0x803), ("labels-idx1", labels, 0x801)):
            data = _idx_bytes(arr, magic)
            name = f"{prefix}-{kind}-ubyte"
            if gz:
                (root / (name + ".gz")).write_bytes(gzip.compress(data))
            else:
                (root / name).write_bytes(data)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_tiny_idx_files_parse_exactly(tmp_path, gz):
    arrays = _write_tiny_fashion(tmp_path, gz=gz)
    data = load_fashion_mnist("test", root=tmp_path, download=False)
    images, labels = arrays["test"]
    assert data.images.shape == (4, 1, 28, 28) and data.images.dtype == torch.float32
    expected = torch.from_numpy(images).float().unsqueeze(1) / 127.5 - 1
    assert torch.allclose(data.images, expected, atol=1e-6)
    assert data.labels.tolist() == labels.tolist() and data.labels.dtype == torch.int64
    assert data.class_names == FASHION_MNIST_CLASSES and data.num_classes == 10
    data.images.zero_()  # editing a result must not corrupt the per-process cache
    assert torch.allclose(load_fashion_mnist("test", root=tmp_path, download=False).images, expected, atol=1e-6)
    small = load_fashion_mnist("train", resolution=14, root=tmp_path, download=False)
    assert small.images.shape == (6, 1, 14, 14) and small.shape == (1, 14, 14)
    assert small.images.min() >= -1 and small.images.max() <= 1


def test_corrupt_idx_raises(tmp_path):
    _write_tiny_fashion(tmp_path, gz=False)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])  # truncated
    with pytest.raises(GankitError, match="truncated"):
        load_fashion_mnist("test", root=tmp_path, download=False)
    path.write_bytes(_idx_bytes(np.zeros((4, 28, 28)), 0x801))  # wrong magic
    with pytest.raises(GankitError, match="magic"):
        load_fashion_mnist("test", root=tmp_path, download=False)


def test_corrupt_gzip_raises(tmp_path):
    _write_tiny_fashion(tmp_path, gz=True)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:15])
    with pytest.raises(GankitError, match="gzip"):
        load_fashion_mnist("test", root=tmp_path, download=False)


def test_missing_fashion_with_failing_download(tmp_path, monkeypatch):
    calls = []

    def fail(url, dest):
        calls.append(url)
        raise OSError("no network")

    monkeypatch.setattr(fm, "_fetch", fail)
    monkeypatch.setattr(fm, "SYSTEM_DIR", tmp_path / "nowhere")
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert fashion_mnist_dir() is None
    with pytest.raises(GankitError, match="apt-get install dataset-fashion-mnist") as info:
        load_fashion_mnist()
    assert "GANKIT_DATA" in str(info.value) and "\n" not in str(info.value)
    assert calls and calls[0].startswith(fm.BASE_URL)
    with pytest.raises(GankitError, match="apt-get install"):
        load_fashion_mnist(download=False)


def test_fashion_dir_search_order(tmp_path, monkeypatch):
    monkeypatch.setattr(fm, "SYSTEM_DIR", tmp_path / "nowhere")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "data"))
    home_dir = tmp_path / "home" / ".cache" / "gankit" / "fashion-mnist"
    home_dir.mkdir(parents=True)
    _write_tiny_fashion(home_dir)
    assert fashion_mnist_dir() == home_dir
    env_dir = tmp_path / "data" / "fashion-mnist"
    env_dir.mkdir(parents=True)
    _write_tiny_fashion(env_dir, gz=False)
    assert fashion_mnist_dir() == env_dir


def test_bad_split_raises():
    with pytest.raises(GankitError, match="split"):
        load_fashion_mnist("valid")


@pytest.mark.skipif(not REAL_FASHION.is_dir(), reason="Fashion-MNIST files not installed")
def test_real_fashion_mnist():
    train = load_fashion_mnist("train")  # the training file less its 5,000-image val share
    assert train.images.shape == (55000, 1, 28, 28) and train.images.is_contiguous()
    assert train.images.min() == -1 and train.images.max() == 1
    assert torch.bincount(train.labels).tolist() == [5500] * 10
    val, whole = load_fashion_mnist("val"), load_fashion_mnist("trainval")
    assert torch.bincount(val.labels).tolist() == [500] * 10
    assert torch.bincount(whole.labels).tolist() == [6000] * 10
    test = load_fashion_mnist("test")
    assert test.images.shape == (10000, 1, 28, 28) and len(test.labels) == 10000


# ---------------------------------------------------------------- digits

def test_digits_splits():
    train, test, full = load_digits("train"), load_digits("test"), load_digits("all", resolution=8)
    assert full.images.shape == (1797, 1, 8, 8)
    assert train.images.shape[1:] == (1, 32, 32)
    val, trainval = load_digits("val"), load_digits("trainval")
    assert len(train.labels) + len(val.labels) == len(trainval.labels)
    assert len(trainval.labels) + len(test.labels) == 1797
    assert abs(len(trainval.labels) / 1797 - 0.8) < 0.01 and abs(len(val.labels) / len(trainval.labels) - 0.1) < 0.01
    for labels in (train.labels, val.labels, test.labels):
        assert sorted(labels.unique().tolist()) == list(range(10))  # every class in both splits
    assert full.images.min() == -1 and full.images.max() == 1
    assert train.class_names == [str(d) for d in range(10)]
    again = load_digits("train")
    assert torch.equal(again.images, train.images)  # deterministic
    again.images.zero_()  # must not corrupt the cached source arrays
    assert torch.equal(load_digits("train").images, train.images)
    # train and test are disjoint: no test image appears in train
    train8, test8 = load_digits("train", 8), load_digits("test", 8)
    train_rows = {tuple(r) for r in train8.images.flatten(1).tolist()}
    overlap = sum(tuple(r) in train_rows for r in test8.images.flatten(1).tolist())
    assert overlap < 5  # a few exact duplicate digits exist in the source data
    with pytest.raises(GankitError):
        load_digits("validation")


# ---------------------------------------------------------------- folder

def _png(path: Path, size: tuple[int, int], mode: str, value: int = 128) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fill = value if mode in ("L", "P") else (value,) * len(mode)
    Image.new(mode, size, fill).save(path)


def test_folder_mixed_sizes_and_modes(tmp_path):
    _png(tmp_path / "a.png", (40, 30), "RGB", 255)
    _png(tmp_path / "b.png", (16, 64), "L", 0)
    _png(tmp_path / "sub" / "c.png", (33, 33), "RGBA", 128)
    _png(tmp_path / "d.gif", (20, 10), "P", 3)
    data = load_folder(tmp_path, 16)
    assert data.images.shape == (4, 3, 16, 16) and data.labels is None and data.num_classes == 0
    assert data.images.dtype == torch.float32 and data.images.is_contiguous()
    assert torch.allclose(data.images[0], torch.ones(3, 16, 16))  # white RGB -> 1
    assert torch.allclose(data.images[1], -torch.ones(3, 16, 16))  # black L -> -1


def test_folder_class_subfolders_give_labels(tmp_path):
    for name, count in (("cat", 2), ("dog", 3)):
        for i in range(count):
            _png(tmp_path / name / f"{i}.png", (8, 8), "RGB")
    _png(tmp_path / "dog" / "nested" / "x.png", (8, 8), "RGB")
    data = load_folder(tmp_path, 8)
    assert data.class_names == ["cat", "dog"] and data.num_classes == 2
    assert data.labels.tolist() == [0, 0, 1, 1, 1, 1]
    _png(tmp_path / "top.png", (8, 8), "RGB")  # an image at the top level: unlabelled
    assert load_folder(tmp_path, 8).labels is None


def test_folder_truncated_file_skipped_with_one_warning(tmp_path):
    for i in range(3):
        _png(tmp_path / f"{i}.png", (12, 12), "RGB")
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(buf, "PNG")
    (tmp_path / "broken.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    (tmp_path / "notes.txt").write_text("not an image")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_folder(tmp_path, 12)
    assert data.images.shape[0] == 3
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and "skipped 1 unreadable image(s)" in messages[0] and "broken.png" in messages[0]


def test_folder_errors(tmp_path):
    with pytest.raises(GankitError, match="does not exist"):
        load_folder(tmp_path / "missing", 8)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    with pytest.raises(GankitError, match=r"empty.*\.png"):
        load_folder(tmp_path / "empty", 8)
    with pytest.raises(GankitError, match="channels"):
        load_folder(tmp_path, 8, channels=2)
    with pytest.raises(GankitError, match="crop"):
        load_folder(tmp_path, 8, crop="random")


def test_folder_zip(tmp_path):
    archive = tmp_path / "faces.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for cls in ("a", "b"):
            for i in range(2):
                buf = io.BytesIO()
                Image.new("RGB", (10, 14), (200, 0, 0)).save(buf, "PNG")
                zf.writestr(f"faces/{cls}/{i}.png", buf.getvalue())
        zf.writestr("__MACOSX/faces/a/._0.png", b"junk")
    data = load_folder(archive, 8)
    assert data.images.shape == (4, 3, 8, 8)
    assert data.class_names == ["a", "b"] and data.labels.tolist() == [0, 0, 1, 1]
    red = data.images[:, 0]
    assert torch.allclose(red, torch.full_like(red, 200 / 127.5 - 1), atol=1e-6)


def test_folder_non_square_center_crop_and_greyscale(tmp_path):
    # Left half black, right half white, 100x50 (W x H): a center crop to (24, 32) keeps both halves.
    arr = np.zeros((50, 100), dtype=np.uint8)
    arr[:, 50:] = 255
    Image.fromarray(arr).convert("RGB").save(tmp_path / "half.png")
    data = load_folder(tmp_path, (24, 32), channels=1)
    assert data.images.shape == (1, 1, 24, 32) and data.shape == (1, 24, 32)
    img = data.images[0, 0]
    assert img[:, :8].max() < -0.9 and img[:, -8:].min() > 0.9
    # A tall crop of a wide image keeps only the middle: the seam sits in the center.
    tall = load_folder(tmp_path, (32, 8), channels=1, crop="center").images[0, 0]
    assert tall[:, 0].mean() < 0 and tall[:, -1].mean() > 0
    stretched = load_folder(tmp_path, (32, 8), channels=1, crop="none").images[0, 0]
    assert stretched[:, :3].max() < -0.9 and stretched[:, -3:].min() > 0.9


def test_folder_16bit_png_is_scaled_not_clipped(tmp_path):
    Image.fromarray(np.full((8, 8), 32896, dtype=np.uint16)).save(tmp_path / "deep.png")
    value = load_folder(tmp_path, 8, channels=1).images[0, 0, 0, 0].item()
    assert abs(value - (128 / 127.5 - 1)) < 0.01


# ---------------------------------------------------------------- samplers

def _tiny_images(n: int = 10, labelled: bool = True) -> ImageData:
    images = torch.linspace(-1, 1, n).view(n, 1, 1, 1).expand(n, 1, 2, 2).contiguous()
    labels = torch.arange(n) % 3 if labelled else None
    return ImageData(images=images, labels=labels, class_names=["a", "b", "c"] if labelled else None)


def _same_batches(a, b) -> bool:
    return all(
        torch.equal(x, y) if isinstance(x, torch.Tensor) else x is y is None
        for ba, bb in zip(a, b) for x, y in zip(ba, bb)
    )


def _roundtrip(state: dict, tmp_path: Path) -> dict:
    torch.save(state, tmp_path / "state.pt")
    return torch.load(tmp_path / "state.pt", weights_only=True)


def test_tensor_sampler_resume_is_exact(tmp_path):
    data = _tiny_images(10)
    sampler = TensorSampler(data, batch_size=3, seed=7)
    for _ in range(3):  # 3 batches of 3 from 10: the 4th crosses into epoch 1
        sampler.next()
    saved = _roundtrip(sampler.state_dict(), tmp_path)
    continued = [sampler.next() for _ in range(2)]
    fresh = TensorSampler(data, batch_size=3, seed=999)
    fresh.load_state_dict(saved)
    resumed = [fresh.next() for _ in range(2)]
    assert _same_batches(continued, resumed)
    assert set(saved) == {"epoch", "position", "seed"}


def test_tensor_sampler_epochs_cover_data_once():
    data = _tiny_images(10)
    sampler = TensorSampler(data, batch_size=3, seed=0)
    assert sampler.batches_per_epoch == 3
    epoch0 = torch.cat([sampler.next()[0].flatten(1)[:, 0] for _ in range(3)])
    assert len(set(epoch0.tolist())) == 9  # without replacement, one dropped
    perm = torch.randperm(10, generator=torch.Generator().manual_seed(0))
    assert torch.equal(epoch0, data.images[perm[:9], 0, 0, 0])
    images, labels = sampler.next()  # next epoch uses seed + 1
    perm1 = torch.randperm(10, generator=torch.Generator().manual_seed(1))
    assert torch.equal(labels, data.labels[perm1[:3]]) and sampler.epoch == 1
    unlabelled = TensorSampler(_tiny_images(10, labelled=False), 4, seed=0)
    assert unlabelled.next()[1] is None


def test_tensor_sampler_shards_are_disjoint():
    data = _tiny_images(10)
    seen = []
    for rank in range(2):
        sampler = TensorSampler(data, batch_size=5, seed=3, rank=rank, world_size=2)
        seen.append(set(sampler.next()[0][:, 0, 0, 0].tolist()))
    assert not (seen[0] & seen[1]) and len(seen[0] | seen[1]) == 10
    with pytest.raises(GankitError, match="batch_size"):
        TensorSampler(data, batch_size=6, seed=0, rank=0, world_size=2)
    with pytest.raises(GankitError, match="rank"):
        TensorSampler(data, batch_size=2, seed=0, rank=2, world_size=2)


def test_toy_sampler_resume_is_exact(tmp_path):
    mixture = make_toy("grid")
    sampler = ToySampler(mixture, batch_size=16, seed=5)
    for _ in range(3):
        sampler.next()
    saved = _roundtrip(sampler.state_dict(), tmp_path)
    continued = [sampler.next() for _ in range(2)]
    fresh = ToySampler(mixture, batch_size=16, seed=123)
    fresh.load_state_dict(saved)
    resumed = [fresh.next() for _ in range(2)]
    assert _same_batches(continued, resumed)
    points, modes = resumed[0]
    assert points.shape == (16, 2) and modes.shape == (16,) and modes.dtype == torch.int64


def test_toy_sampler_ranks_differ():
    mixture = make_toy("ring")
    a = ToySampler(mixture, 8, seed=0, rank=0, world_size=2).next()[0]
    b = ToySampler(mixture, 8, seed=0, rank=1, world_size=2).next()[0]
    assert not torch.equal(a, b)


def test_data_limit_cuts_the_training_stream_only():
    from gankit.build import build_data
    from gankit.config import resolve

    cfg = resolve("dcgan-digits", None, ["data.limit=100", "data.resolution=8", "train.batch_size=16"])
    data = build_data(cfg, torch.device("cpu"))
    assert data.sampler.num_items == 100
    assert torch.equal(data.sampler.images, load_digits("train", resolution=8).images[:100])  # the preset trains on train
    with pytest.raises(GankitError, match="data.limit must be >= 0"):
        resolve("dcgan-digits", None, ["data.limit=-1"])
    with pytest.raises(GankitError, match="toy data"):
        resolve("toy-ring", None, ["data.limit=10"])
