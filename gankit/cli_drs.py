"""`gankit refine-d` and the `--filter drs` of `gankit sample` / `gankit eval` (discriminator rejection sampling)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from gankit.errors import GankitError

DRS_FILE = "drs.pt"
FILTER_HELP = ("drs: keep samples by discriminator rejection sampling (Azadi et al. 2019) with the D that "
               "`gankit refine-d` trained; default: none")


def add_parsers(sub) -> None:
    p = sub.add_parser("refine-d", help="train D alone against the frozen G, for `--filter drs` sampling")
    p.add_argument("checkpoint", help="checkpoint .pt or run directory of a noise -> image GAN run")
    p.add_argument("--steps", type=int, default=2000, help="D updates (default 2000)")
    p.add_argument("--quantile", type=float, default=0.8,
                   help="gamma = this quantile of F over the burn-in samples: higher keeps fewer (default 0.8)")
    p.add_argument("--out", help=f"where to write the refined checkpoint (default: checkpoints/{DRS_FILE} of the run)")
    p.add_argument("--seed", type=int, default=0, help="RNG seed of the refinement (default 0)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps (default auto)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0 = torch's default)")


def _conditional_labels(G, n: int, device) -> torch.Tensor | None:
    from gankit.models.conditional import balanced_labels

    k = int(getattr(G, "num_classes", 0))
    return balanced_labels(n, k, device) if k else None


def cmd_refine_d(args) -> int:
    from gankit.build import build_data, build_models, place_model
    from gankit.drs import BURN_IN, calibrate, d_logits, drs_summary, refine_discriminator
    from gankit.families import load_generator
    from gankit.sample import fixed_latents, generate
    from gankit.train.checkpoint import find_checkpoint, load_model_state, save_checkpoint

    if args.steps < 1:
        raise GankitError(f"--steps must be >= 1, got {args.steps}")
    if not 0 < args.quantile < 1:
        raise GankitError(f"--quantile must be in (0, 1), got {args.quantile}")
    if args.threads:
        torch.set_num_threads(args.threads)
    source = find_checkpoint(args.checkpoint)
    G, cfg, state, which = load_generator(source, args.device, False)
    if cfg.model.family != "gan":
        raise GankitError(f"refine-d needs a noise -> image GAN run with one D; this is a {cfg.model.family} run")
    device = next(G.parameters()).device
    torch.manual_seed(args.seed)
    D = build_models(cfg)[1]
    load_model_state(D, state["D"], "discriminator", source)
    place_model(D, device, G.out_shape)
    data = build_data(cfg, device)
    losses = refine_discriminator(G, D, data.next_batch, args.steps, cfg.train.d_lr, tuple(cfg.train.d_betas))
    z = fixed_latents(BURN_IN, G.z_dim, args.seed + 1)
    c = _conditional_labels(G, BURN_IN, "cpu")
    logits = d_logits(D, generate(G, z, c).to(device), None if c is None else c.to(device)).cpu()
    calibration = calibrate(logits, args.quantile)
    calibration.update(steps=args.steps, generator=which, source=str(source), final_d_loss=losses[-1],
                       **drs_summary(logits, calibration))
    out = Path(args.out) if args.out else source.parent / DRS_FILE
    save_checkpoint(out, {**state, "D_drs": D.state_dict(), "drs": calibration})
    print(f"refined D for {args.steps} steps (loss {losses[0]:.3f} -> {losses[-1]:.3f}); DRS keeps "
          f"~{calibration['mean_acceptance']:.0%} of {which}'s samples; wrote {out}", file=sys.stderr)
    return 0


def drs_generator(checkpoint: str, G, cfg, device, seed: int):
    """G wrapped in rejection sampling with the refined D of `checkpoint` (or of its run's drs.pt)."""
    from gankit.build import build_models, place_model
    from gankit.drs import DRSGenerator
    from gankit.train.checkpoint import find_checkpoint, load_checkpoint, load_model_state

    path = find_checkpoint(checkpoint)
    state = load_checkpoint(path)
    if "D_drs" not in state:
        sibling = path.parent / DRS_FILE
        if not sibling.is_file():
            raise GankitError(f"--filter drs needs a refined D: run `gankit refine-d {checkpoint}` first")
        path, state = sibling, load_checkpoint(sibling)
    D = build_models(cfg)[1]
    load_model_state(D, state["D_drs"], "refined discriminator", path)
    place_model(D, device, G.out_shape)
    calibration = state["drs"]
    return DRSGenerator(G, D.eval(), calibration["max_logit"], calibration["gamma"], seed=seed), calibration
