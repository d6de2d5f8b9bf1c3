"""Checkpoints: one `.pt` file holding everything needed to resume exactly.

Contents (all plain types and tensors, so `torch.load(path, weights_only=True)` works
and no code is unpickled): format version, gankit version, resolved config, state
dicts of G, D, G_ema and both optimizers, every RNG state (python, numpy, torch,
cuda), the data sampler's position, fixed sample noise, `step`, `nimg`, best metric.
Writes are atomic: temp file in the same directory, fsync, rename.
"""

import json
import math
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit import __version__
from gankit.errors import GankitError

FORMAT_VERSION = 1
REQUIRED_KEYS = ("format", "config", "step")


def capture_rng() -> dict[str, Any]:
    """Every global RNG state, as checkpoint-safe values."""
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Inverse of `capture_rng`."""
    python_state = state["python"]
    random.setstate((python_state[0], tuple(python_state[1]), python_state[2]))
    np_state = state["numpy"]
    keys = np_state["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, np_state["pos"], np_state["has_gauss"], np_state["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write `state` (plus format and version tags) atomically to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT_VERSION, "gankit_version": __version__, **state}
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def find_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or a run directory's `checkpoints/latest.pt`."""
    path = Path(path)
    if path.is_dir():
        latest = path / "checkpoints" / "latest.pt"
        if not latest.is_file():
            raise GankitError(f"{path} holds no checkpoints/latest.pt; pass a run directory or a .pt file")
        return latest
    if not path.is_file():
        raise GankitError(f"checkpoint {path} does not exist; pass a run directory or a .pt file")
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and sanity-check a checkpoint; a missing, corrupt or foreign file is a GankitError."""
    path = find_checkpoint(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many types for truncated or foreign files
        reason = str(err).strip().splitlines()[0][:120] if str(err).strip() else type(err).__name__
        raise GankitError(f"checkpoint {path} is corrupt or not a gankit checkpoint ({reason})") from None
    if not isinstance(state, dict) or any(key not in state for key in REQUIRED_KEYS):
        raise GankitError(f"checkpoint {path} is not a gankit checkpoint (missing config or step)")
    if state["format"] > FORMAT_VERSION:
        raise GankitError(
            f"checkpoint {path} has format {state['format']}, newer than this gankit ({__version__}); upgrade gankit"
        )
    return state


def load_model_state(module: torch.nn.Module, state_dict: dict, what: str, path: str | Path) -> None:
    """`module.load_state_dict` that reports a model mismatch as a one-line GankitError."""
    try:
        module.load_state_dict(state_dict)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0][:160]
        raise GankitError(
            f"checkpoint {path} holds a {what} of a different architecture than its config builds ({first})"
        ) from None


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(v) for v in value]
    return value


def finite_json(obj: Any) -> str:
    """`json.dumps` that writes NaN and +-inf as null: strict JSON readers reject bare NaN tokens
    (the watchdog's own log event says what went wrong)."""
    return json.dumps(_finite_or_none(obj), allow_nan=False)
