"""Evaluation end to end: `gankit eval`, evaluation during training, best.pt, early stopping, the cache."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.cli import main
from gankit.train.checkpoint import load_checkpoint

TOY = ["--preset", "toy-ring", "--no-progress", "--set", "train.batch_size=16",
       "--set", "model.g_width=8", "--set", "model.d_width=8"]


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Reference statistics go to a per-test cache, not the user's."""
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "gankit-data"))


def eval_json(capsys, argv: list[str]) -> dict:
    capsys.readouterr()
    assert main(["eval", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def digits_run(tmp_path, tiny_digits_args):
    run = tmp_path / "digits-run"
    assert main(["train", *tiny_digits_args, "--out", str(run), "--steps", "2"]) == 0
    return run


def test_toy_checkpoint_eval_reports_mode_metrics_and_protocol(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *TOY, "--out", str(run), "--steps", "2"]) == 0
    result = eval_json(capsys, [str(run)])
    assert {"modes", "num_modes", "hq_fraction", "reverse_kl", "protocol"} <= set(result)
    assert result["num_modes"] == 8 and result["protocol"]["n_fake"] == 2500
    assert result["protocol"]["rule"] and result["protocol"]["gankit_version"]
    assert result["protocol"]["truncation"] is None
    truncated = eval_json(capsys, [str(run), "--truncation", "1.5"])
    assert truncated["protocol"]["truncation"] == 1.5 and truncated["hq_fraction"] != result["hq_fraction"]


def test_a_runs_sample_truncation_is_what_its_evaluations_use(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *TOY, "--set", "tricks.sample_truncation=1.5", "--set", "eval.every=2",
                 "--out", str(run), "--steps", "2"]) == 0
    during = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    after = eval_json(capsys, [str(run)])
    assert during["protocol"]["truncation"] == after["protocol"]["truncation"] == 1.5
    assert during["hq_fraction"] == after["hq_fraction"]  # same G_ema, latents and truncation
    assert eval_json(capsys, [str(run), "--truncation", "0"])["protocol"]["truncation"] is None


def test_image_checkpoint_eval_all_metrics(digits_run, capsys):
    result = eval_json(capsys, [str(digits_run), "--metrics", "fid,kid,is,prdc,modes", "--n", "300"])
    for key in ("fid", "kid", "is", "precision", "recall", "density", "coverage", "classes_covered", "class_kl"):
        assert np.isfinite(result[key]), key
    protocol = result["protocol"]
    assert protocol["n_fake"] == 300 and protocol["n_real"] == 300 and protocol["split"] == "test"
    assert protocol["features"]["network"] == "digits" and len(protocol["features"]["weights_sha256"]) == 64
    assert protocol["generator"] == "G" and protocol["seed"] == 0 and "time_s" in protocol


def test_reference_cache_hit_gives_same_number_without_reloading(digits_run, capsys, monkeypatch):
    first = eval_json(capsys, [str(digits_run), "--n", "200"])
    import gankit.data.loading

    def no_loading(*args, **kwargs):
        raise AssertionError("real images were loaded again despite the cache")

    monkeypatch.setattr(gankit.data.loading, "load_images", no_loading)
    second = eval_json(capsys, [str(digits_run), "--n", "200"])
    assert second["fid"] == first["fid"]


def test_eval_during_training_writes_metrics_and_best(tmp_path):
    run = tmp_path / "run"
    assert main(["train", *TOY, "--out", str(run), "--steps", "6", "--set", "eval.every=3",
                 "--set", "eval.n=500"]) == 0
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [3, 6]
    assert all("reverse_kl" in x and x["protocol"]["n_fake"] == 500 for x in lines)
    best = load_checkpoint(run / "checkpoints" / "best.pt")
    latest = load_checkpoint(run)
    assert latest["best"]["key"] == "reverse_kl"
    assert best["step"] == latest["best"]["step"]
    assert latest["best"]["value"] == min(x["reverse_kl"] for x in lines)


def test_early_stopping_after_patience(tmp_path, monkeypatch):
    import gankit.metrics.evaluate as evaluate

    values = iter([1.0, 0.5, 0.7, 0.6, 0.9, 0.1])  # best at the 2nd evaluation, then 2 without improvement

    def fake_eval(G, cfg, **kwargs):
        return {"reverse_kl": next(values), "protocol": {}}

    monkeypatch.setattr(evaluate, "evaluate_generator", fake_eval)
    run = tmp_path / "run"
    assert main(["train", *TOY, "--out", str(run), "--steps", "100", "--set", "eval.every=1",
                 "--set", "eval.patience=2"]) == 0
    state = load_checkpoint(run)
    assert state["step"] == 4 and state["best"]["step"] == 2
    assert load_checkpoint(run / "checkpoints" / "best.pt")["step"] == 2


def test_evaluation_does_not_change_the_training_stream(tmp_path):
    """Same seed, with and without evaluations: identical weights (evaluation uses no global RNG)."""
    assert main(["train", *TOY, "--out", str(tmp_path / "a"), "--steps", "6"]) == 0
    assert main(["train", *TOY, "--out", str(tmp_path / "b"), "--steps", "6", "--set", "eval.every=2",
                 "--set", "eval.n=100"]) == 0
    a, b = load_checkpoint(tmp_path / "a")["G"], load_checkpoint(tmp_path / "b")["G"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def _write_pngs(folder, sizes, mode="L"):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate(sizes):
        channels = (h, w) if mode == "L" else (h, w, 3)
        Image.fromarray(rng.integers(0, 255, channels, dtype=np.uint8), mode).save(folder / f"{i}.png")


def test_compare_folder_with_dataset(tmp_path, capsys):
    _write_pngs(tmp_path / "fake", [(8, 8)] * 20)
    result = eval_json(capsys, ["--real", "digits", "--fake", str(tmp_path / "fake"), "--metrics", "fid,prdc"])
    assert result["fid"] > 0 and result["protocol"]["n_fake"] == 20 and result["protocol"]["n_real"] == 20


def user_error(capsys, argv, pattern):
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and pattern in err, err


def test_eval_bad_inputs(tmp_path, capsys, digits_run):
    (tmp_path / "empty").mkdir()
    user_error(capsys, ["eval", "--real", "digits", "--fake", str(tmp_path / "empty")], "no usable image")
    _write_pngs(tmp_path / "mixed", [(8, 8), (10, 12)])
    user_error(capsys, ["eval", "--real", "digits", "--fake", str(tmp_path / "mixed")], "differ in size")
    _write_pngs(tmp_path / "few", [(8, 8)] * 3)
    user_error(capsys, ["eval", "--real", "digits", "--fake", str(tmp_path / "few"), "--n", "10"], "more than the 3")
    user_error(capsys, ["eval", "--real", str(tmp_path / "few"), "--fake", str(tmp_path / "few")], "--features")
    user_error(capsys, ["eval", str(digits_run), "--features", "inception", "--inception",
                        str(tmp_path / "missing.pt")], "nception")
    user_error(capsys, ["eval", str(digits_run), "--metrics", "fid,bogus"], "'bogus' is unknown")
    user_error(capsys, ["eval"], "nothing to evaluate")
    user_error(capsys, ["eval", "--real", "digits", "--fake", str(tmp_path / "few"), "--truncation", "1"],
               "give a CHECKPOINT")
    user_error(capsys, ["eval", str(digits_run), "--truncation", "-2"], "--truncation must be >= 0")
    user_error(capsys, ["eval", str(digits_run), "--threads", "-1"], "--threads must be >= 1")
    user_error(capsys, ["train", *TOY, "--set", "eval.metrics=[fid]", "--out", str(tmp_path / "r")],
               "toy data is evaluated with eval.metrics=[modes]")


def test_eval_threads_sets_torch_threads(digits_run, capsys):
    """`--threads 1` (one job per core beside training) reaches torch; the scores do not depend on it."""
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        two = eval_json(capsys, [str(digits_run), "--n", "64"])
        one = eval_json(capsys, [str(digits_run), "--n", "64", "--threads", "1"])
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert one["fid"] == pytest.approx(two["fid"], rel=1e-4)


def test_fid_bootstrap_interval_on_request(digits_run, capsys):
    result = eval_json(capsys, [str(digits_run), "--n", "300", "--bootstrap", "20"])
    assert result["fid_ci_low"] <= result["fid"] <= result["fid_ci_high"]  # contains the point estimate
    assert result["protocol"]["fid_bootstrap_rounds"] == 20
    user_error(capsys, ["eval", str(digits_run), "--bootstrap", "1"], "--bootstrap takes 0")


def test_fid_bootstrap_interval_contains_the_estimate_and_shrinks_with_more_samples():
    from gankit.metrics.fid import fid_bootstrap, fid_from_features

    rng = np.random.default_rng(0)
    # Two 16-D Gaussians one unit apart in every coordinate (FID about 16): far enough that the resampling
    # bias (duplicated rows inflate each bootstrap FID a little) stays inside the spread.
    a, b = rng.normal(size=(2000, 16)), rng.normal(size=(2000, 16)) + 1.0
    widths = {}
    for n in (200, 2000):
        low, high = fid_bootstrap(a[:n], b[:n], n_boot=50)
        assert low <= fid_from_features(a[:n], b[:n]) <= high
        widths[n] = high - low
    assert widths[2000] < widths[200] / 2  # 10x the samples: about 1/sqrt(10) the width (measured 0.34x)
