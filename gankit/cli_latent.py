"""Latent-space commands for every noise -> image checkpoint: `gankit interpolate` and `gankit arithmetic`
(and the style-mixing grid, `gankit mix`, where the generator has a W space).

Latents come from seeds (`gankit.sample.fixed_latents(1, z_dim, seed)`, as `gankit sample --seed`),
so a figure is reproducible from its command line. `--truncation PSI` truncates them the way the
generator samples truncated (`gankit.latent_tools.truncate`: resampling for BigGAN, towards the mean
w for StyleGAN, squeezed normals otherwise); the command says which.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from gankit.errors import GankitError

SPACES = ("z", "w")


def _common_options(p) -> None:
    p.add_argument("checkpoint", help="checkpoint .pt file or run directory of a noise -> image run")
    p.add_argument("--space", choices=SPACES, default="z",
                   help="z (the input noise) or w (the mapped latent, StyleGAN only); default z")
    p.add_argument("--truncation", type=float, default=None, metavar="PSI",
                   help="truncate every latent as the generator does (BigGAN: z resampled into [-PSI, PSI]; "
                        "StyleGAN: w pulled towards its mean); default: the run's tricks.sample_truncation")
    p.add_argument("--class", dest="class_index", type=int, default=None,
                   help="class-conditional G: the class of every image (default 0)")
    p.add_argument("--no-ema", action="store_true", help="use G instead of the weight-averaged G_ema")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps (default auto)")


def add_parsers(sub) -> None:
    """Register the latent-space subcommands on the `gankit` subparsers `sub`."""
    p = sub.add_parser("interpolate", help="images along a path between seeds' latents (strip PNG or animated GIF)",
                       description="Walk from the latent of each seed to the next (--seeds A,B[,C...]), --steps "
                                   "images per segment, both ends included: one row per segment in a PNG, or every "
                                   "frame of the path in an animated GIF when --out ends in .gif.")
    _common_options(p)
    p.add_argument("--seeds", required=True, help="comma-separated seeds, at least two, e.g. 1,2,3")
    p.add_argument("--steps", type=int, default=8, help="images per segment, both ends included (default 8)")
    p.add_argument("--mode", choices=("lerp", "slerp"), default=None,
                   help="lerp (straight line) or slerp (great circle, keeps a Gaussian latent's norm); default: "
                        "slerp in z, lerp in w (as StyleGAN's path-length measure: w is not Gaussian)")
    p.add_argument("--out", required=True, help="output file: .png (strip, a row per segment) or .gif (animation)")
    p.add_argument("--frame-ms", type=int, default=100, help="GIF: milliseconds per frame (default 100)")
    p = sub.add_parser("arithmetic", help="latent vector arithmetic: mean(a) - mean(b) + mean(c) (DCGAN)",
                       description="DCGAN's 'smiling woman - neutral woman + neutral man': the mean latent of the "
                                   "--a seeds minus that of --b plus that of --c. The PNG shows each group (its "
                                   "images, then the image of its mean latent) and the result in the last row.")
    _common_options(p)
    for name in ("a", "b", "c"):
        p.add_argument(f"--{name}", required=True, metavar="SEEDS", help=f"comma-separated seeds of group {name}")
    p.add_argument("--out", required=True, help="output PNG file")
    _mix_parser(sub)


def _load(args) -> tuple[nn.Module, object, str, float]:
    """(G in eval mode, its config, "G_ema" or "G", the truncation to use), with one-line errors for what cannot work."""
    from gankit.families import load_generator
    from gankit.sample import sampling_truncation

    G, cfg, _, which = load_generator(args.checkpoint, args.device, args.no_ema)
    if len(G.out_shape) != 3:
        raise GankitError("this generator makes 2-D points, not images; interpolate and arithmetic draw images")
    if args.space == "w":
        from gankit.latent_tools import w_space

        if not w_space(G):
            raise GankitError(f"this {cfg.model.family} generator has no W space (only StyleGAN maps z to w); "
                              "use --space z")
    return G.eval(), cfg, which, sampling_truncation(cfg, args.truncation)


def _labels(G: nn.Module, class_index: int | None, n: int) -> Tensor | None:
    """One class for every image of a conditional G (default 0: a path must not change class); None otherwise."""
    from gankit.export import class_labels, num_classes_of

    if class_index is None and num_classes_of(G):
        class_index = 0
    return class_labels(G, class_index, n)


@torch.no_grad()
def seed_latents(G: nn.Module, seeds: list[int], space: str, truncation: float) -> Tensor:
    """The latent of each seed in `space`: z `[K, z_dim]` (truncated as G truncates in z), or ws
    `[K, num_ws, w_dim]` (truncated towards the mean w when G truncates in W). For a G that truncates
    in W, z latents are left whole here and truncated when rendered."""
    from gankit.latent_tools import truncate, truncation_mode
    from gankit.sample import fixed_latents

    device = next(G.parameters()).device
    z = torch.cat([fixed_latents(1, G.z_dim, s) for s in seeds]).to(device)
    if space == "w":
        return G.truncate_w(z, truncation) if truncation else G.styles(z)
    return z if truncation_mode(G) == "w" else truncate(G, z, truncation)


@torch.no_grad()
def render(G: nn.Module, latents: Tensor, space: str, truncation: float, c: Tensor | None) -> Tensor:
    """Images `[N, C, H, W]` in [-1, 1] (CPU) of latents made by `seed_latents` (or paths between them)."""
    from gankit.latent_tools import truncation_mode
    from gankit.sample import generate

    if space == "z" and truncation and truncation_mode(G) == "w":
        latents = G.truncate_w(latents.to(next(G.parameters()).device), truncation)
    return generate(G, latents, c)


def _truncation_note(G: nn.Module, truncation: float) -> str:
    from gankit.latent_tools import truncation_mode

    if not truncation:
        return ""
    how = {"w": "towards the mean w", "resample": "by resampling z", "mixture": "per mixture component",
           "squeeze": "by squeezing z"}[truncation_mode(G)]
    return f", truncated at {truncation:g} {how}"


def _check_out(out: Path, suffixes: tuple[str, ...]) -> None:
    if out.suffix.lower() not in suffixes:
        raise GankitError(f"--out {out} must end in {' or '.join(suffixes)}")
    if out.is_dir():
        raise GankitError(f"--out {out} is a directory; give a file name")


def cmd_interpolate(args) -> int:
    """`gankit interpolate CKPT --seeds A,B[,C...] --steps N --mode lerp|slerp [--space z|w] --out FILE`."""
    from gankit.latent_tools import interpolation_path, parse_seeds, write_gif, write_strip

    out = Path(args.out)
    _check_out(out, (".png", ".gif"))
    seeds = parse_seeds(args.seeds, "--seeds", minimum=2)
    if args.steps < 2:
        raise GankitError(f"--steps must be >= 2 (both ends are included), got {args.steps}")
    mode = args.mode or ("lerp" if args.space == "w" else "slerp")
    G, cfg, which, truncation = _load(args)
    keys = seed_latents(G, seeds, args.space, truncation)
    path = interpolation_path(keys.cpu(), args.steps, mode)  # [K-1, steps, ...]
    flat = path.flatten(0, 1)
    images = render(G, flat, args.space, truncation, _labels(G, args.class_index, flat.shape[0]))
    rows = list(images.view(len(seeds) - 1, args.steps, *images.shape[1:]))
    if out.suffix.lower() == ".gif":
        # Each segment's first frame repeats the previous segment's last one; drop the repeats.
        frames = torch.cat([rows[0]] + [r[1:] for r in rows[1:]])
        write_gif(frames, out, duration_ms=args.frame_ms)
    else:
        write_strip(rows, out)
    print(f"wrote {out}: {mode} in {args.space} through seeds {args.seeds}, {args.steps} steps a segment, "
          f"from {which}{_truncation_note(G, truncation)}")
    return 0


def cmd_arithmetic(args) -> int:
    """`gankit arithmetic CKPT --a SEEDS --b SEEDS --c SEEDS --out FILE`: mean(a) - mean(b) + mean(c)."""
    from gankit.latent_tools import latent_arithmetic, parse_seeds, write_strip

    out = Path(args.out)
    _check_out(out, (".png",))
    groups = {name: parse_seeds(getattr(args, name), f"--{name}") for name in ("a", "b", "c")}
    G, cfg, which, truncation = _load(args)
    latents = {name: seed_latents(G, seeds, args.space, truncation).cpu() for name, seeds in groups.items()}
    means = {name: group.mean(0, keepdim=True) for name, group in latents.items()}
    result = latent_arithmetic(latents["a"], latents["b"], latents["c"]).unsqueeze(0)
    rows, labels = [], []
    for name in ("a", "b", "c"):
        batch = torch.cat([latents[name], means[name]])  # the group's images, then its mean's image
        rows.append(render(G, batch, args.space, truncation, _labels(G, args.class_index, batch.shape[0])))
        labels.append(name)
    rows.append(render(G, result, args.space, truncation, _labels(G, args.class_index, 1)))
    labels.append("a-b+c")
    write_strip(rows, out, labels=labels)
    print(f"wrote {out}: rows a, b, c (each group's images, then its mean latent's image) and a-b+c, in "
          f"{args.space}, from {which}{_truncation_note(G, truncation)}")
    return 0


# --- gankit mix: StyleGAN's style-mixing grid ------------------------------------------------------------

def _mix_parser(sub) -> None:
    p = sub.add_parser("mix", help="style-mixing grid of a StyleGAN checkpoint: rows' styles on --layers, "
                                   "columns' on the rest",
                       description="StyleGAN's style-mixing figure: the top row shows the --cols seeds' images, the "
                                   "left column the --rows seeds'; each cell is its column's styles with the style "
                                   "inputs of --layers taken from its row (default coarse: the rows set pose and "
                                   "shape, the columns the finer detail).")
    p.add_argument("checkpoint", help="checkpoint .pt file or run directory of a stylegan run")
    p.add_argument("--rows", required=True, metavar="SEEDS", help="comma-separated row seeds: they give --layers")
    p.add_argument("--cols", required=True, metavar="SEEDS", help="comma-separated column seeds: every other style input")
    p.add_argument("--layers", default="coarse", metavar="coarse|middle|fine|I-J",
                   help="style inputs taken from the rows: coarse (4-8 px), middle (16-32 px), fine (64 px and up; "
                        "below 64 px, the top level) or I-J (indices, inclusive); default coarse")
    p.add_argument("--out", default="mix.png", help="output PNG (default mix.png)")
    p.add_argument("--truncation", type=float, default=None, metavar="PSI",
                   help="truncation in W towards the tracked mean w (psi; 0 = off); default: the run's "
                        "tricks.sample_truncation")
    p.add_argument("--no-ema", action="store_true", help="use G instead of the weight-averaged G_ema")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps (default auto)")


@torch.no_grad()
def style_mixing_grid(G: nn.Module, row_seeds: list[int], col_seeds: list[int], layers: str = "coarse",
                      truncation: float = 0.0) -> Tensor:
    """StyleGAN's style-mixing figure as images `[(R + 1) * (C + 1), C, H, W]` in [-1, 1], row-major.

    Top row: the column seeds' own images; left column: the row seeds'; cell (r, c): the column seed's
    styles with the style inputs `layers` names (coarse | middle | fine | I-J) taken from row seed r.
    The corner is blank (grey). `truncation` psi > 0 truncates every seed's styles in W first."""
    from gankit.models.stylegan import mix_styles, style_layers
    from gankit.sample import generate

    picked = style_layers(G, layers)
    rows, cols = (seed_latents(G, seeds, "w", truncation) for seeds in (row_seeds, col_seeds))
    cells = [mix_styles(cols, rows[r:r + 1].expand_as(cols), picked) for r in range(len(row_seeds))]
    images = generate(G, torch.cat([cols, rows, *cells]))
    n_rows, n_cols = len(row_seeds), len(col_seeds)
    top, left, body = images[:n_cols], images[n_cols:n_cols + n_rows], images[n_cols + n_rows:]
    grid = [torch.zeros_like(images[:1]), top]
    for r in range(n_rows):
        grid += [left[r:r + 1], body[r * n_cols:(r + 1) * n_cols]]
    return torch.cat(grid)


def cmd_mix(args) -> int:
    """`gankit mix CKPT --rows SEEDS --cols SEEDS [--layers coarse|middle|fine|I-J] --out FILE`."""
    from gankit.families import load_generator
    from gankit.latent_tools import parse_seeds, w_space
    from gankit.sample import image_grid, sampling_truncation

    out = Path(args.out)
    _check_out(out, (".png",))
    rows, cols = parse_seeds(args.rows, "--rows"), parse_seeds(args.cols, "--cols")
    G, cfg, state, which = load_generator(args.checkpoint, args.device, args.no_ema)
    if not w_space(G):
        raise GankitError(f"gankit mix needs a style-based generator (model.family=stylegan); this checkpoint is a "
                          f"{cfg.model.family} run, whose G has no per-layer styles")
    psi = sampling_truncation(cfg, args.truncation)
    if psi < 0:
        raise GankitError(f"--truncation must be >= 0 (psi; 0 = off), got {psi}")
    images = style_mixing_grid(G.eval(), rows, cols, args.layers, psi)
    out.parent.mkdir(parents=True, exist_ok=True)
    image_grid(images, nrow=len(cols) + 1).save(out)
    print(f"wrote {out}: {len(rows)} x {len(cols)} style mixes ({args.layers} styles from the rows) from {which} "
          f"at step {state['step']}" + (f", truncated in W at psi={psi:g}" if psi else ""))
    return 0
