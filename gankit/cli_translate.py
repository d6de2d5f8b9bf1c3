"""`gankit translate`: run an image-to-image checkpoint (pix2pix, CycleGAN, DiscoGAN, SRGAN) on your images.

No training data is needed: the network is rebuilt from the checkpoint's config. Every input image
is decoded, fitted to the size the network was trained on (`family.input_shape(cfg)`: resized,
centre-cropped), translated, and written as one PNG with the input's name.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gankit.errors import GankitError

DIRECTION_CHOICES = ("AtoB", "BtoA")


def add_parsers(sub) -> None:
    p = sub.add_parser("translate", help="translate images with a pix2pix, CycleGAN, DiscoGAN or SRGAN checkpoint")
    p.add_argument("checkpoint", help="checkpoint .pt file or run directory of an image-to-image run")
    p.add_argument("--input", required=True, help="an image file, or a directory (recursive) of images")
    p.add_argument("--out", required=True, help="directory for the outputs: one PNG per input, same names")
    p.add_argument("--direction", choices=DIRECTION_CHOICES, default="AtoB",
                   help="CycleGAN/DiscoGAN: which generator (default AtoB); pix2pix and SRGAN have AtoB only")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps (default auto)")
    p.add_argument("--batch-size", type=int, default=64, help="images per forward pass (default 64)")


def _input_files(path: Path) -> tuple[list[Path], Path]:
    from gankit.data.folder import IMAGE_SUFFIXES

    if path.is_file():
        return [path], path.parent
    if not path.is_dir():
        raise GankitError(f"--input {path} does not exist; give an image file or a directory of images")
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                   and not any(part.startswith(".") for part in p.relative_to(path).parts))
    if not files:
        raise GankitError(f"--input {path} holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return files, path


def _read(files: list[Path], shape: tuple[int, int, int]) -> tuple[torch.Tensor, list[Path]]:
    """Images `[N, C, H, W]` in [-1, 1] fitted to `shape`; unreadable files are skipped (returned too)."""
    from gankit.data.folder import _MODES, _decode

    channels, height, width = shape
    arrays, skipped = [], []
    for f in files:
        try:
            arrays.append(_decode(f.read_bytes(), (height, width), _MODES[channels], "center"))
        except Exception:  # PIL raises many types for corrupt files
            skipped.append(f)
    if not arrays:
        raise GankitError(f"none of the {len(files)} input files could be read as an image; check --input")
    pixels = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float()
    return pixels.div(127.5).sub(1.0), skipped


def cmd_translate(args) -> int:
    import sys

    from gankit.build import resolve_device
    from gankit.config import from_dict
    from gankit.families import check_finite_state, get_family
    from gankit.sample import to_pil, to_uint8
    from gankit.train.checkpoint import load_checkpoint

    if args.batch_size < 1:
        raise GankitError(f"--batch-size must be >= 1, got {args.batch_size}")
    state = load_checkpoint(args.checkpoint)
    cfg = from_dict(state["config"])
    family = get_family(cfg.model.family)
    if family.KIND != "translation":
        raise GankitError(f"this checkpoint is a {cfg.model.family} run, which samples from noise rather than "
                          "translating images; use: gankit sample CKPT --out FILE")
    files, root = _input_files(Path(args.input))
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise GankitError(f"--out {out} is a file; give a directory")
    device = resolve_device(args.device)
    net = family.load_output_network(cfg, state, device, args.direction)
    check_finite_state(net.state_dict(), "translation network", args.checkpoint)
    x, skipped = _read(files, family.input_shape(cfg))
    kept = [f for f in files if f not in set(skipped)]
    out.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        for start in range(0, len(kept), args.batch_size):
            y = net(x[start:start + args.batch_size].to(device)).float().cpu()
            for f, pixels in zip(kept[start:start + args.batch_size], to_uint8(y)):
                target = out / f.relative_to(root).with_suffix(".png")
                target.parent.mkdir(parents=True, exist_ok=True)
                to_pil(pixels).save(target)
    if skipped:
        print(f"gankit: warning: skipped {len(skipped)} unreadable file(s), e.g. {skipped[0]}", file=sys.stderr)
    print(f"translated {len(kept)} image(s) {args.direction if cfg.model.family in ('cyclegan', 'discogan') else ''}"
          f" with the {cfg.model.family} network at step {state['step']} into {out}".replace("  ", " "))
    return 0
