"""Evaluation hygiene (issue 19): no training on evaluation data, no model selection on the test split,
shipped feature networks never overwritten, the leak flag and warning, complete CLI help, a LICENSE."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import gankit.data.loading
from gankit.cli import main, make_parser
from gankit.config import list_presets, resolve
from gankit.data import digits as digits_module
from gankit.data import fashion_mnist as fm
from gankit.errors import GankitError
from gankit.metrics import features as feat
from gankit.metrics.evaluate import SPLIT_DATASETS, split_protocol
from gankit.train.loop import final_test_evaluation

from conftest import needs_fashion

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Reference statistics and retrained networks go to a per-test directory, not the user's."""
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "gankit-data"))
    monkeypatch.delenv("GANKIT_FEATURES_DIR", raising=False)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- splits

@pytest.mark.parametrize("name", list(list_presets()))
def test_no_preset_trains_on_a_split_it_is_evaluated_on(name):
    cfg = resolve(name, None, [])
    if cfg.data.name not in SPLIT_DATASETS:
        pytest.skip(f"{cfg.data.name} data has no splits")
    assert cfg.data.split != cfg.eval.split
    # Neither the evaluations during training (eval.split) nor `gankit eval`'s default (test) share an image
    # with the training split ("all" and "trainval" would).
    for split in (cfg.eval.split, "test"):
        assert split_protocol(cfg.data, split) == {"train_split": cfg.data.split, "leak": False}, split
    assert cfg.eval.split != "test"  # best.pt is never chosen on test data


def test_digits_splits_are_disjoint_and_val_is_held_out_of_train():
    labels = digits_module._source()[1]
    parts = {s: set(digits_module._split_indices(labels, s).tolist()) for s in ("train", "val", "test", "trainval")}
    assert not parts["train"] & parts["val"] and not parts["train"] & parts["test"] and not parts["val"] & parts["test"]
    assert parts["train"] | parts["val"] == parts["trainval"]
    assert parts["trainval"] | parts["test"] == set(range(len(labels)))
    assert len(parts["val"]) == 143 and len(parts["train"]) == 1295


def test_fashion_val_is_a_fixed_stratified_share_of_the_training_file():
    labels = np.repeat(np.arange(10), 120)  # 1,200 images, 120 per class: 10 per class go to val
    val, train = fm.split_indices(labels, "val"), fm.split_indices(labels, "train")
    assert len(val) == 100 and np.bincount(labels[val]).tolist() == [10] * 10
    assert not set(val.tolist()) & set(train.tolist()) and len(val) + len(train) == len(labels)
    assert np.array_equal(fm.split_indices(labels, "val"), val)  # fixed by its seed


@needs_fashion
def test_fashion_val_holds_5000_images_disjoint_from_train():
    train, val = fm.load_fashion_mnist("train"), fm.load_fashion_mnist("val")
    assert len(train) == 55000 and len(val) == 5000
    train_rows = {hashlib.sha1(r.numpy().tobytes()).digest() for r in train.images[:, 0]}
    shared = sum(hashlib.sha1(r.numpy().tobytes()).digest() in train_rows for r in val.images[:, 0])
    assert shared < 10  # a few duplicate images exist inside Fashion-MNIST's own training file


def test_split_protocol_flags_overlaps():
    cfg = resolve("dcgan-digits", None, [])
    for train_split, eval_split, leak in (("train", "val", False), ("train", "test", False), ("all", "test", True),
                                          ("trainval", "val", True), ("train", "trainval", True),
                                          ("val", "val", True), ("train", "all", True)):
        cfg.data.split = train_split
        assert split_protocol(cfg.data, eval_split)["leak"] is leak, (train_split, eval_split)
    assert split_protocol(resolve("toy-ring", None, []).data, "val") == {"leak": False}


# ---------------------------------------------------------------- leak warning and flag

def test_evaluating_on_training_images_warns_and_records_leak(tmp_path, capsys, tiny_digits_args):
    leaky, clean = tmp_path / "leaky", tmp_path / "clean"
    assert main(["train", *tiny_digits_args, "--set", "data.split=all", "--out", str(leaky), "--steps", "2"]) == 0
    assert main(["train", *tiny_digits_args, "--out", str(clean), "--steps", "2"]) == 0
    capsys.readouterr()
    assert main(["eval", str(leaky), "--n", "50", "--json"]) == 0
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert result["protocol"]["leak"] is True and result["protocol"]["train_split"] == "all"
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "'test'" in warnings[0] and "'all'" in warnings[0]
    assert main(["eval", str(clean), "--n", "50", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["protocol"]["leak"] is False and "warning:" not in err


# ---------------------------------------------------------------- selection never reads test data

@pytest.fixture
def recorded_splits(monkeypatch):
    """Every real split loaded through gankit.data.loading.load_images, with the number of metrics.jsonl lines
    written when it was loaded (so a read after the last evaluation during training can be told apart)."""
    calls: list[tuple[str, int]] = []
    original = gankit.data.loading.load_images
    state = {"metrics": None}

    def recording(data):
        path = state["metrics"]
        lines = len(path.read_text().splitlines()) if path is not None and path.is_file() else 0
        calls.append((data.split, lines))
        return original(data)

    monkeypatch.setattr(gankit.data.loading, "load_images", recording)
    return calls, state


@pytest.mark.parametrize("kind", ["fid", "accuracy"])
def test_evaluation_during_training_selects_on_val_and_reads_test_only_at_the_end(tmp_path, recorded_splits, kind,
                                                                                tiny_digits_args):
    calls, state = recorded_splits
    run = tmp_path / "run"
    state["metrics"] = run / "metrics.jsonl"
    if kind == "fid":
        args = [*tiny_digits_args, "--set", "eval.n=40"]
    else:
        args = ["--preset", "ssgan-digits", "--no-progress", "--set", "data.resolution=8", "--set", "model.g_width=16",
                "--set", "model.d_width=16", "--set", "model.z_dim=8", "--set", "train.batch_size=16",
                "--set", "semi.labelled_batch=8", "--set", "log.every=1"]
    assert main(["train", *args, "--set", "eval.every=2", "--out", str(run), "--steps", "4"]) == 0
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    during = [x for x in lines if x.get("protocol", {}).get("split") != "test"]
    assert [x["step"] for x in during] == [2, 4]
    for line in during:
        protocol = line["protocol"]
        assert protocol["split"] == "val" and protocol["train_split"] == "train" and protocol["leak"] is False
    assert calls and all(lines_then >= len(during) for split, lines_then in calls if split == "test")
    assert "val" in {split for split, _ in calls}
    # The one look at test data: best.pt, scored after training.
    final = final_test_evaluation(run / "checkpoints" / "best.pt")
    protocol = final["protocol"]
    assert protocol["split"] == "test" and protocol["selected_on"] == "val" and protocol["leak"] is False
    assert protocol["checkpoint_step"] in (2, 4)
    assert ("fid" if kind == "fid" else "accuracy") in final


def test_choosing_best_pt_on_test_data_is_refused(capsys, tmp_path, tiny_digits_args):
    capsys.readouterr()
    assert main(["train", *tiny_digits_args, "--set", "eval.every=2", "--set", "eval.split=test",
                 "--out", str(tmp_path / "r"), "--steps", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "eval.split=val" in err, err
    with pytest.raises(GankitError, match="eval.split 'valid' is unknown"):
        resolve("dcgan-digits", None, ["eval.split=valid"])
    resolve("dcgan-digits", None, ["eval.split=test"])  # test without eval.every (no selection) is fine


def test_final_test_evaluation_is_none_without_selection(tmp_path, tiny_digits_args):
    assert main(["train", *tiny_digits_args, "--out", str(tmp_path / "r"), "--steps", "2"]) == 0
    assert final_test_evaluation(tmp_path / "r" / "checkpoints" / "latest.pt") is None


# ---------------------------------------------------------------- shipped feature networks

def test_features_train_never_touches_the_shipped_weights(tmp_path, monkeypatch, capsys):
    shipped = {p.name: _sha256(p) for p in sorted(feat.WEIGHTS_DIR.iterdir()) if p.is_file()}
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert main(["features", "train", "digits", "--epochs", "1"]) == 0
    assert {p.name: _sha256(p) for p in sorted(feat.WEIGHTS_DIR.iterdir()) if p.is_file()} == shipped
    retrained = tmp_path / "gankit-data" / "features"
    info = json.loads((retrained / "digits.json").read_text())
    assert info["sha256"] == _sha256(retrained / "digits.pt") != shipped["digits.pt"]
    assert str(retrained) in capsys.readouterr().err
    monkeypatch.delenv("GANKIT_DATA")  # without $GANKIT_DATA: the user's cache under HOME
    assert feat.user_features_dir() == tmp_path / "home" / ".cache" / "gankit" / "features"
    with pytest.raises(GankitError, match="never overwritten"):
        feat.train_domain_classifier("digits", 1, out=feat.WEIGHTS_DIR)
    assert main(["features", "train", "digits", "--epochs", "1", "--out", str(feat.WEIGHTS_DIR / ".")]) == 2


def test_evaluation_uses_a_retrained_network_only_when_asked(tmp_path, capsys, tiny_digits_args):
    out = tmp_path / "mine"
    retrained = feat.train_domain_classifier("digits", 1, seed=5, out=out)["sha256"]
    run = tmp_path / "run"
    assert main(["train", *tiny_digits_args, "--out", str(run), "--steps", "2"]) == 0

    def features_of(*extra):
        capsys.readouterr()
        assert main(["eval", str(run), "--n", "50", "--json", *extra]) == 0
        return json.loads(capsys.readouterr().out)["protocol"]["features"]

    default = features_of()
    assert default["weights"] == "shipped" and default["weights_sha256"] == _sha256(feat.WEIGHTS_DIR / "digits.pt")
    mine = features_of("--features-dir", str(out))
    assert mine["weights_sha256"] == retrained != default["weights_sha256"] and mine["weights"] == str(out.resolve())
    assert features_of()["weights"] == "shipped"  # the flag does not outlive its command


# ---------------------------------------------------------------- help and packaging

def _subparsers(parser):
    return next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices


def test_every_option_and_positional_of_every_subcommand_has_help():
    for name, sub in _subparsers(make_parser()).items():
        for action in sub._actions:
            if action.dest == "help":
                continue
            text = (action.help or "").strip()
            assert text and text.lower() not in ("which benchmark",), f"gankit {name}: {action.option_strings or action.dest}"
    commands = _subparsers(make_parser())
    assert "--dry-run" in (commands["train"].description or "")
    assert commands["presets"].description
    assert "test split" in commands["cas"].description


def test_license_file_matches_pyproject():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "the gankit authors" in text
    assert 'license = { text = "MIT" }' in (ROOT / "pyproject.toml").read_text()
