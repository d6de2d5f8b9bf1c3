"""The `gankit` command: train, sample, presets.

User mistakes (GankitError) print one line on stderr and exit with code 2;
anything else is a gankit bug and exits 1 with its traceback.
"""

import argparse
import re
import sys
import warnings
from pathlib import Path

from gankit import (__version__, bench, cli_cond, cli_data, cli_drs, cli_eval, cli_latent, cli_report,
                    cli_translate)
from gankit.errors import GankitError

EXIT_USER_ERROR = 2
RESUME_CHANGEABLE = ("train.steps", "tricks.schedule_steps", "log.", "watch.", "eval.split", "device", "runtime.compile",
                     "runtime.threads")  # keys that may differ from the checkpoint's config


def _train_parser(sub) -> None:
    p = sub.add_parser("train", help="train a GAN from a preset and/or config file",
                       description="Train a GAN. The config is built as: dataclass defaults, then --preset, then "
                                   "--config, then each --set (and the shortcuts below). Check what a command "
                                   "will run with --dry-run (prints the resolved config, trains nothing); "
                                   "list the presets with `gankit presets`.")
    p.add_argument("--preset", help="preset name (see `gankit presets`)")
    p.add_argument("--config", help="YAML file of config keys, applied after the preset")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one key, e.g. train.steps=500")
    p.add_argument("--out", help="run directory (default: a new runs/NNNNN-PRESET)")
    p.add_argument("--resume", metavar="RUN_DIR_OR_CKPT", help="continue a run from its latest checkpoint")
    p.add_argument("--steps", type=int, help="shortcut for --set train.steps=N")
    p.add_argument("--seed", type=int, help="seed of weights, data order and noise (shortcut for --set seed=S)")
    p.add_argument("--data", help="shortcut for --set data.path=PATH (image folder/zip, or Fashion-MNIST IDX dir)")
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N | mps (shortcut for --set device=...)")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit without training")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--threads", type=int, help="CPU threads (shortcut for --set runtime.threads=N); use 1 per job "
                   "when several jobs share a small CPU")
    p.add_argument("--compile", action="store_true", help="torch.compile G and D (shortcut for --set runtime.compile=true)")
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16"),
                   help="autocast precision; fp16 needs CUDA (shortcut for --set runtime.precision=...)")


def _sample_parser(sub) -> None:
    p = sub.add_parser("sample", help="generate samples from a checkpoint (no dataset needed)")
    p.add_argument("checkpoint", help="checkpoint .pt file or run directory")
    p.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    p.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    p.add_argument("--out", default="samples.png", help="output file (png, npy) or directory (png-dir)")
    p.add_argument("--format", choices=("png", "npy", "png-dir", "wav", "wav-concat"), default=None,
                   help="default: from --out's suffix (.wav = wav-concat); wav / wav-concat: a folder of WAV files or "
                        "one file with 0.25 s gaps (wavegan, specgan runs)")
    p.add_argument("--no-ema", action="store_true", help="use G instead of the weight-averaged G_ema")
    p.add_argument("--truncation", type=float, default=None, metavar="T",
                   help=cli_eval.TRUNCATION_HELP)
    p.add_argument("--device", default="auto", help="auto (CUDA, else Apple MPS, else CPU) | cpu | cuda | cuda:N | mps")
    p.add_argument("--filter", choices=("none", "drs"), default="none", help=cli_drs.FILTER_HELP)
    p.add_argument("--class", dest="class_index", type=int, default=None, help="conditional G: every sample of this class")
    p.add_argument("--grid", choices=("classes",), default=None,
                   help="classes: one row per class, --n per row (conditional G)")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gankit", description="Train, sample and evaluate GANs.")
    parser.add_argument("--version", action="version", version=f"gankit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub)
    _sample_parser(sub)
    sub.add_parser("presets", help="list the presets with a one-line description each",
                   description="List gankit's presets (gankit/presets/*.yaml), one line each; use one with "
                               "`gankit train --preset NAME` (add --dry-run to see its full config).")
    cli_eval.add_parsers(sub)
    bench.add_parser(sub)
    cli_cond.add_parsers(sub)
    cli_translate.add_parsers(sub)
    cli_report.add_parsers(sub)
    cli_data.add_parsers(sub)
    cli_drs.add_parsers(sub)
    cli_latent.add_parsers(sub)
    return parser


def _shortcut_sets(args) -> list[str]:
    sets = []
    shortcuts = (("steps", "train.steps"), ("seed", "seed"), ("data", "data.path"), ("device", "device"),
                 ("threads", "runtime.threads"))
    for flag, key in shortcuts:
        value = getattr(args, flag, None)
        if value is not None:
            sets.append(f"{key}={value}" if flag != "data" else f"{key}='{value}'")
    if args.no_progress:
        sets.append("log.progress=false")
    if getattr(args, "compile", False):
        sets.append("runtime.compile=true")
    if getattr(args, "precision", None):
        sets.append(f"runtime.precision={args.precision}")
    return sets


def _next_run_dir(root: Path, preset: str) -> Path:
    numbers = [int(m.group(1)) for p in root.glob("*") if (m := re.match(r"(\d{5})-", p.name))] if root.is_dir() else []
    return root / f"{max(numbers, default=-1) + 1:05d}-{preset or 'custom'}"


def _holds_run(run_dir: Path) -> bool:
    """True once a run has left results there (a checkpoint, a log line or a sample)."""
    log = run_dir / "log.jsonl"
    return (
        any(run_dir.glob("checkpoints/*.pt"))
        or any(run_dir.glob("samples/*"))
        or (log.is_file() and log.stat().st_size > 0)
    )


def _check_run_dir(run_dir: Path) -> None:
    if run_dir.exists() and not run_dir.is_dir():
        raise GankitError(f"--out {run_dir} is a file, not a directory; choose another --out")
    if _holds_run(run_dir):
        raise GankitError(f"{run_dir} already holds a run; continue it with --resume {run_dir} or choose another --out")


def _prepare_run_dir(out: str | None, preset: str) -> Path:
    run_dir = Path(out) if out else _next_run_dir(Path("runs"), preset)
    _check_run_dir(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise GankitError(f"cannot write to run directory {run_dir} ({err.strerror}); choose another --out") from None
    return run_dir


def _prepare_run_dir_ranks(out: str | None, preset: str, env) -> Path:
    """`_prepare_run_dir` on rank 0 only; under torchrun the other ranks receive its path (or its error)."""
    if not env.enabled:
        return _prepare_run_dir(out, preset)
    import torch.distributed as dist

    message = [None]
    if env.is_main:
        try:
            message[0] = ("ok", str(_prepare_run_dir(out, preset)))
        except GankitError as err:
            message[0] = ("error", str(err))
    dist.broadcast_object_list(message, src=0)
    kind, text = message[0]
    if kind == "error":
        raise GankitError(text)
    return Path(text)


def _resume_config(args, state: dict) -> tuple:
    """The checkpoint's config, with only the keys that may change on resume overridden."""
    from gankit.config import apply_overrides, from_dict, parse_set, validate

    if args.preset or args.config:
        saved = state["config"].get("preset", "")
        if args.preset and args.preset != saved:
            raise GankitError(
                f"checkpoint is from preset '{saved}', not '{args.preset}'; drop --preset when resuming"
            )
        if args.config:
            raise GankitError("--config cannot change a run being resumed; use --steps or --set log.* only")
    cfg = from_dict(state["config"])
    for assignment in args.set + _shortcut_sets(args):
        key = assignment.split("=", 1)[0]
        if not any(key == k or (k.endswith(".") and key.startswith(k)) for k in RESUME_CHANGEABLE):
            raise GankitError(f"'{key}' cannot change when resuming (only train.steps, tricks.schedule_steps, log.*, "
                              "device, runtime.threads, runtime.compile); start a new run")
        apply_overrides(cfg, parse_set(assignment), source=f"--set {assignment}")
    note = _keep_schedule_horizon(cfg, state["config"])
    validate(cfg)
    return cfg, note


def _keep_schedule_horizon(cfg, saved: dict) -> str:
    """Extending a run keeps the horizon its LR decay and annealing started with, and says so.

    With `tricks.schedule_steps: 0` the horizon is `train.steps`; a new --steps would re-stretch
    every schedule (the LR would jump back up), so the saved horizon is written in unless the
    user set a new one."""
    saved_steps = saved.get("train", {}).get("steps")
    saved_horizon = saved.get("tricks", {}).get("schedule_steps", 0) or saved_steps
    if cfg.train.steps == saved_steps:
        return ""
    if cfg.tricks.schedule_steps == 0:
        cfg.tricks.schedule_steps = saved_horizon
    horizon = cfg.tricks.schedule_steps
    kept = "kept" if horizon == saved_horizon else "changed"
    return (f"resuming to step {cfg.train.steps}: schedules (LR decay, annealing) {kept} at a horizon of {horizon} "
            "steps; set a new one with --set tricks.schedule_steps=M")


def cmd_train(args) -> int:
    import yaml

    from gankit.config import resolve, to_dict
    from gankit.train.checkpoint import find_checkpoint, load_checkpoint
    from gankit.train import distributed
    from gankit.train.loop import StopRequested, prepare_training, run_training
    from gankit.families import validate_family
    from gankit.train.watchdog import EXIT_DIVERGED, Diverged

    if args.resume:
        ckpt_path = find_checkpoint(args.resume)
        state = load_checkpoint(ckpt_path)
        cfg, note = _resume_config(args, state)
        run_dir = Path(args.out) if args.out else ckpt_path.parent.parent
        if cfg.train.steps <= state["step"]:
            raise GankitError(
                f"the checkpoint is already at step {state['step']} of train.steps={cfg.train.steps}; "
                f"pass --steps N with N > {state['step']} to train further"
            )
    else:
        if not args.preset and not args.config:
            raise GankitError("choose what to train: --preset NAME (see `gankit presets`) or --config FILE")
        cfg = resolve(args.preset, args.config, args.set + _shortcut_sets(args))
        state, ckpt_path, note = None, None, ""
    validate_family(cfg)
    if args.dry_run:
        print(yaml.safe_dump(to_dict(cfg), sort_keys=False), end="")
        return 0
    if state is None and args.out:
        _check_run_dir(Path(args.out))  # fail before the (possibly slow) data loading
    env = distributed.env_from_torchrun()  # several processes when launched by torchrun
    try:
        training = prepare_training(cfg, resume=state, resume_path=ckpt_path, env=env)  # errors before any write
        if state is None:
            run_dir = _prepare_run_dir_ranks(args.out, cfg.preset, env)
        if env.is_main and note:
            print(note, file=sys.stderr)
        if env.is_main:
            print(f"run directory: {run_dir}" + (f" ({env.world_size} processes)" if env.enabled else ""),
                  file=sys.stderr)
        last = run_training(training, run_dir)
    except StopRequested as stop:
        return 128 + stop.signum  # the shell's convention for "ended by signal N"
    except Diverged as err:
        print(f"gankit: error: {err}", file=sys.stderr)
        return EXIT_DIVERGED
    finally:
        distributed.teardown()
    if not env.is_main:
        return 0
    print(f"done: step {last['step']}, samples in {run_dir / 'samples'}, checkpoint {run_dir / 'checkpoints' / 'latest.pt'}",
          file=sys.stderr)
    return 0


def cmd_sample(args) -> int:
    from gankit.families import load_generator
    from gankit.export import sample_labels
    from gankit.sample import export_samples, fixed_latents, generate, sampling_truncation, truncate_latents

    if args.n < 1:
        raise GankitError(f"--n must be >= 1, got {args.n}")
    fmt = args.format or {".npy": "npy", ".png": "png", ".wav": "wav-concat"}.get(Path(args.out).suffix.lower(), "png-dir")
    out = Path(args.out)
    if fmt in ("wav", "wav-concat"):  # audio runs: WaveGAN clips, or SpecGAN spectrograms through Griffin-Lim
        from gankit.audio_export import export_audio

        paths = export_audio(args.checkpoint, args.n, args.seed, out, fmt, args.device, args.no_ema)
        print(f"wrote {args.n} clips to {out} ({len(paths)} WAV file{'s' if len(paths) > 1 else ''})")
        return 0
    if out.exists() and fmt != "png-dir" and out.is_dir():
        raise GankitError(f"--out {out} is a directory; give a file name or use --format png-dir")
    G, cfg, state, which = load_generator(args.checkpoint, args.device, args.no_ema)
    labels, nrow = sample_labels(G, args)
    truncation = sampling_truncation(cfg, args.truncation)
    if args.filter == "drs":
        G, which, labels = _with_drs(args, G, cfg, which, labels, truncation)
    z = fixed_latents(len(labels) if labels is not None else args.n, G.z_dim, args.seed)
    samples = generate(G, truncate_latents(G, z, truncation), labels)
    if samples.dim() == 3:  # WaveGAN clips [N, 1, L]: pictures of their spectrograms (WAV files: --format wav)
        from gankit.audio import spectrogram_images

        samples = spectrogram_images(samples)
    paths = export_samples(samples, out, fmt, nrow=nrow)
    print(f"wrote {len(samples)} samples from {which} at step {state['step']}"
          + (f", truncated at {truncation:g}" + (" (psi, in W)" if hasattr(G, "truncate_w") else " stds")
             if truncation else "")
          + f" to {out if fmt != 'png-dir' else paths[0].parent}")
    return 0


def _with_drs(args, G, cfg, which: str, labels, truncation: float):
    """G behind discriminator rejection sampling; a conditional G gets explicit balanced labels for D."""
    from gankit.models.conditional import balanced_labels

    if truncation:
        raise GankitError("--filter drs and the truncation trick both reshape G's samples; use one "
                          "(add --truncation 0 for a run that truncates by default)")
    G, _ = cli_drs.drs_generator(args.checkpoint, G, cfg, next(G.parameters()).device, args.seed)
    if labels is None and getattr(G, "num_classes", 0):
        labels = balanced_labels(args.n, G.num_classes)
    return G, f"{which} + DRS", labels


def cmd_presets(args) -> int:
    from gankit.config import list_presets, load_preset

    presets = list_presets()
    width = max(len(name) for name in presets)
    families = {name: load_preset(name).get("model", {}).get("family", "gan") for name in presets}
    family_width = max(len(f) for f in families.values())
    for name, description in presets.items():
        print(f"{name.ljust(width)}  {families[name].ljust(family_width)}  {description}")
    return 0


COMMANDS = {
    "train": cmd_train,
    "sample": cmd_sample,
    "presets": cmd_presets,
    "eval": cli_eval.cmd_eval,
    "features": cli_eval.cmd_features,
    "bench": bench.cmd_bench,
    "export": cli_cond.cmd_export,
    "cas": cli_cond.cmd_cas,
    "translate": cli_translate.cmd_translate,
    "report": cli_report.cmd_report,
    "doctor": cli_report.cmd_doctor,
    "data": cli_data.cmd_data,
    "refine-d": cli_drs.cmd_refine_d,
    "interpolate": cli_latent.cmd_interpolate,
    "arithmetic": cli_latent.cmd_arithmetic,
    "mix": cli_latent.cmd_mix,
}


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"gankit: warning: {message}", file=file or sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    previous_showwarning, warnings.showwarning = warnings.showwarning, _one_line_warning
    try:
        return COMMANDS[args.command](args)
    except GankitError as err:
        print(f"gankit: error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    finally:
        warnings.showwarning = previous_showwarning


def entry_point() -> None:
    sys.exit(main())
