"""`gankit data make NAME`: build a dataset that gankit makes on this machine (today: spoken-digits)."""

from __future__ import annotations

import argparse
import json
import sys
import time

MADE_DATASETS = ("spoken-digits",)


def add_parsers(sub) -> None:
    p = sub.add_parser("data", help="make the datasets gankit generates itself (spoken-digits, with espeak-ng)")
    p.add_argument("action", choices=("make",), help="make: generate the dataset once and cache it")
    p.add_argument("name", choices=MADE_DATASETS, help="spoken-digits: zero..nine in 56 espeak-ng voices, 16 kHz")
    p.add_argument("--out", help="folder to write (default: $GANKIT_DATA/spoken-digits, else ~/.cache/gankit/spoken-digits)")
    p.add_argument("--seed", type=int, default=0, help="seed of the clips' gain/onset and the test-voice choice (default 0)")
    p.add_argument("--force", action="store_true", help="regenerate even when the folder holds this recipe already")


def cmd_data(args: argparse.Namespace) -> int:
    from gankit.data.audio import make_spoken_digits

    start = time.perf_counter()
    folder = make_spoken_digits(args.out, seed=args.seed, force=args.force)
    recipe = json.loads((folder / "recipe.json").read_text())
    print(f"{args.name}: {recipe['clips']} clips ({len(recipe['test_voices'])} of {len(recipe['voices'])} voices "
          f"held out for test) in {folder} ({time.perf_counter() - start:.0f} s; recipe in recipe.json)",
          file=sys.stderr)
    print(folder)
    return 0
