"""DDP via torchrun: 2 CPU processes with gloo (tests/ddp_worker.py), plus the one-line errors."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gankit.cli import main
from gankit.errors import GankitError
from gankit.train.checkpoint import load_checkpoint
from gankit.train.distributed import DistEnv, convert_sync_bn, env_from_torchrun, setup

WORKER = Path(__file__).with_name("ddp_worker.py")


def _params(state: dict) -> dict:
    """Parameters only: batch-norm running statistics and StyleGAN's tracked mean w are per-rank buffers
    (each rank's batches move them; rank 0's are the ones saved)."""
    return {k: v for k, v in state.items() if "running" not in k and "num_batches" not in k and "w_avg" not in k}


def _torchrun(tmp_path: Path, *args: str) -> dict:
    """Run tests/ddp_worker.py on 2 gloo ranks; each rank's final {G, D} of the straight and resumed runs."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(WORKER),
           str(tmp_path), *args]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    return {(run, r): torch.load(tmp_path / f"{run}-rank{r}.pt") for run in ("full", "half") for r in (0, 1)}


def _assert_ranks_equal_and_resume_exact(ranks: dict) -> None:
    for run in ("full", "half"):
        for net in ("G", "D"):
            a, b = _params(ranks[run, 0][net]), _params(ranks[run, 1][net])
            assert all(torch.equal(a[k], b[k]) for k in a), f"{run}: ranks' {net} weights differ"
    for r in (0, 1):  # DDP resume (2 + 2 steps) is bit-exact on every rank
        for net in ("G", "D"):
            full, half = ranks["full", r][net], ranks["half", r][net]
            assert all(torch.equal(full[k], half[k]) for k in full), f"rank {r} {net} differs after resume"


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without distributed")
def test_two_gloo_ranks_stay_equal_resume_exactly_and_checkpoint_loads_alone(tmp_path):
    ranks = _torchrun(tmp_path)
    _assert_ranks_equal_and_resume_exact(ranks)
    state = load_checkpoint(tmp_path / "full")
    assert state["nimg"] == 4 * 8 * 2 and len(state["ranks"]) == 2
    assert all(torch.equal(v, ranks["full", 0]["G"][k]) for k, v in state["G"].items())
    assert main(["sample", str(tmp_path / "full"), "--n", "4", "--out", str(tmp_path / "s.npy"), "--device", "cpu"]) == 0


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without distributed")
@pytest.mark.parametrize("preset, sets", [
    # 16 images a step over both ranks, 16-image phases: the 4 steps fade in and stabilise 8x8, then fade 16x16
    ("progan-fashion", ["progan.fade_kimg=0.016", "progan.stable_kimg=0.016", "progan.fmap_base=0"]),
    ("stylegan-fashion", ["stylegan.mapping_depth=2", "stylegan.fmap_base=0", "tricks.penalty_every=2",
                          "stylegan.pl_every=2"]),
    ("began-fashion", ["began.lambda_k=0.5"]),  # k_t moves every step, from both ranks' losses
])
def test_the_new_families_train_under_ddp(tmp_path, preset, sets):
    """ProGAN (levels without gradients until grown), StyleGAN (lazy R1 and path length, two G forwards a
    step) and BEGAN (k_t from all ranks) keep every rank's weights equal and resume bit-exactly."""
    _assert_ranks_equal_and_resume_exact(_torchrun(tmp_path, preset, "data.name=digits", *sets))


def test_torchrun_env_is_read_and_checked(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert env_from_torchrun() == DistEnv(2, 4, 0)
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(GankitError, match="RANK < WORLD_SIZE"):
        env_from_torchrun()
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(GankitError, match="integers"):
        env_from_torchrun()


def test_single_process_needs_no_process_group():
    assert setup("cpu", DistEnv()) is None and not torch.distributed.is_initialized()


def test_sync_bn_on_cpu_is_a_one_line_error():
    with pytest.raises(GankitError, match="sync_bn needs CUDA"):
        convert_sync_bn(torch.nn.BatchNorm2d(4), torch.device("cpu"))


def test_mps_cannot_be_shared_by_ranks():
    with pytest.raises(GankitError, match="MPS"):
        setup("mps", DistEnv(0, 2, 0))
