"""The health watchdog: rollback on non-finite steps, the rollback limit, never a non-finite checkpoint, warnings."""

import json

import pytest
import torch

from gankit.cli import main
from gankit.config import Config
from gankit.families.gan import GANTrainer
from gankit.train.checkpoint import load_checkpoint, save_checkpoint
from gankit.train.watchdog import EXIT_DIVERGED, Watchdog, all_finite, d_wins

TINY = ["--preset", "toy-ring", "--no-progress", "--threads", "1", "--set", "train.batch_size=16",
        "--set", "model.g_width=16", "--set", "model.d_width=16", "--set", "log.every=1",
        "--set", "log.checkpoint_every=4"]


def _poison_steps(monkeypatch, bad_calls: set[int] | None):
    """Make GANTrainer.train_step put NaN into G and its stats on the given calls (all calls when None)."""
    calls = {"n": 0}
    original = GANTrainer.train_step

    def train_step(self, next_batch):
        calls["n"] += 1
        stats = original(self, next_batch)
        if bad_calls is None or calls["n"] in bad_calls:
            with torch.no_grad():
                next(self.G.parameters()).fill_(float("nan"))
            stats["g_loss"] = torch.tensor(float("nan"))
        return stats

    monkeypatch.setattr(GANTrainer, "train_step", train_step)
    return calls


def _lines(run):
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def _finite(state) -> bool:
    return all(all_finite(list(state[name].values())) for name in ("G", "D"))


def test_nan_step_rolls_back_lowers_lr_logs_and_goes_on(tmp_path, monkeypatch, capsys):
    calls = _poison_steps(monkeypatch, {6})
    run = tmp_path / "r"
    assert main(["train", *TINY, "--steps", "10", "--out", str(run)]) == 0
    events = [line for line in _lines(run) if "event" in line]
    assert [e["event"] for e in events] == ["rollback"] and events[0]["step"] == 5
    assert "rolled back" in capsys.readouterr().err
    state = load_checkpoint(run)
    assert state["step"] == 10 and _finite(state) and state["watch"] == {"rollbacks": 1, "lr_scale": 0.5}
    base = state["config"]["train"]["g_lr"]
    assert state["opt_g"]["param_groups"][0]["lr"] == pytest.approx(base * 0.5 * _ring_lr_factor(state))
    # Steps 5..6 were replayed from the step-4 checkpoint: 10 good steps plus the bad one and the replays.
    assert calls["n"] == 10 + 1 + 1
    assert all(line["step"] <= 10 for line in _lines(run))


def _ring_lr_factor(state) -> float:
    """toy-ring decays its LR linearly; the factor the schedule gives at the final step."""
    from gankit.build import lr_factor

    tr = state["config"]["tricks"]
    steps = state["config"]["train"]["steps"]
    return lr_factor(tr["lr_schedule"], steps, tr["schedule_steps"] or steps, tr["lr_decay_start"], tr["lr_final"])


def test_rollback_before_the_first_checkpoint_uses_the_start_state(tmp_path, monkeypatch):
    _poison_steps(monkeypatch, {2})
    assert main(["train", *TINY, "--steps", "4", "--out", str(tmp_path / "r")]) == 0
    assert [(e["step"], e["restored_step"]) for e in _lines(tmp_path / "r") if "event" in e] == [(1, 0)]


def test_always_nan_stops_with_exit_3_after_the_limit_and_keeps_checkpoints_finite(tmp_path, monkeypatch, capsys):
    _poison_steps(monkeypatch, None)
    run = tmp_path / "r"
    code = main(["train", *TINY, "--steps", "10", "--set", "watch.max_rollbacks=2", "--out", str(run)])
    assert code == EXIT_DIVERGED
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("gankit: error: training went non-finite") and "lower train.g_lr" in err[-1]
    assert sum(1 for e in _lines(run) if e.get("event") == "rollback") == 2
    assert not (run / "checkpoints" / "latest.pt").exists()  # nothing good yet, so nothing written


def test_log_lines_of_a_nan_run_are_strict_json(tmp_path, monkeypatch):
    _poison_steps(monkeypatch, {3})
    run = tmp_path / "r"
    assert main(["train", *TINY, "--steps", "4", "--set", "watch.enabled=false", "--out", str(run)]) == 0

    def reject(token):
        raise ValueError(f"non-standard JSON token {token}")

    lines = [json.loads(line, parse_constant=reject) for line in (run / "log.jsonl").read_text().splitlines()]
    assert any(line["g_loss"] is None for line in lines)


def test_sample_and_eval_refuse_a_checkpoint_with_non_finite_weights(tmp_path, capsys):
    run = tmp_path / "r"
    assert main(["train", *TINY, "--steps", "2", "--out", str(run)]) == 0
    path = run / "checkpoints" / "latest.pt"
    state = load_checkpoint(path)
    for name in ("G", "G_ema"):  # toy-ring keeps a G_ema, which sample and eval use
        key = next(iter(state[name]))
        state[name][key] = torch.full_like(state[name][key], float("nan"))
    save_checkpoint(path, state)
    capsys.readouterr()
    assert main(["sample", str(run), "--out", str(tmp_path / "s.npy")]) == 2
    assert main(["eval", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("non-finite" in line for line in err)
    assert not (tmp_path / "s.npy").exists()


def test_d_winning_outright_warns_once_per_stretch_with_advice():
    watch = Watchdog(Config().watch, "nonsaturating")
    winning, even = {"real_score": 9.0, "fake_score": -9.0}, {"real_score": 0.5, "fake_score": -0.5}
    kinds = [k for _ in range(25) for k, _ in watch.warnings_for_line(winning, None)]
    assert kinds == ["d_wins"]
    assert watch.warnings_for_line(even, None) == []
    messages = [m for _ in range(10) for _, m in watch.warnings_for_line(winning, None)]
    assert len(messages) == 1 and "nonsaturating" in messages[0]
    assert d_wins("hinge", 1.5, -1.5) and not d_wins("wgan", 100.0, -100.0) and not d_wins("lsgan", 0.6, 0.4)


def test_collapse_and_vanishing_gradient_warnings():
    watch = Watchdog(Config().watch, "nonsaturating")
    assert watch.collapse_warning(torch.tensor([3, 3, 3, 5]), 10) is not None
    assert watch.collapse_warning(torch.tensor([3, 3]), 10) is None  # once
    assert Watchdog(Config().watch, "lsgan").collapse_warning(torch.arange(10), 10) is None
    G = torch.nn.Linear(2, 2)
    G.weight.grad, G.bias.grad = torch.zeros(2, 2), torch.zeros(2)
    assert [k for k, _ in watch.warnings_for_line({}, G)] == ["g_grad"]


def test_watch_settings_out_of_range_are_one_line_errors():
    from gankit.config import resolve
    from gankit.errors import GankitError

    for setting in ("watch.collapse_start=2", "watch.lr_factor=1.5", "watch.max_rollbacks=-1"):
        with pytest.raises(GankitError, match=setting.split("=")[0]):
            resolve("toy-ring", None, [setting])
