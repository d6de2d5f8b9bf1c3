"""`gankit export` and `gankit cas`: use a class-conditional checkpoint (per-class data, CAS)."""

import json
import sys
from pathlib import Path

from gankit.errors import GankitError


def add_parsers(sub) -> None:
    e = sub.add_parser("export", help="write a labelled image dataset (one folder per class) from a conditional checkpoint")
    e.add_argument("checkpoint", help="checkpoint .pt file or run directory")
    e.add_argument("--per-class", type=int, required=True, help="images per class")
    e.add_argument("--out", required=True, help="new (or empty) directory; gets one subfolder per class")
    e.add_argument("--seed", type=int, default=0, help="seed of the generated images' noise (default 0)")
    e.add_argument("--no-ema", action="store_true", help="use G instead of G_ema")
    e.add_argument("--device", default="auto", help="auto (CUDA, else Apple MPS, else CPU) | cpu | cuda | cuda:N | mps")
    c = sub.add_parser("cas", help="conditional accuracy and Classification Accuracy Score of a conditional checkpoint",
                       description="Conditional accuracy: the shipped domain classifier's accuracy on G's samples "
                                   "per class. CAS: a fresh classifier trained on G's samples only, tested on the "
                                   "dataset's real test split; beside it (unless --no-real) the same network trained "
                                   "on as many real images of the train split, tested on the same test split.")
    c.add_argument("checkpoint", help="checkpoint .pt file or run directory")
    c.add_argument("--per-class", type=int, default=1000, help="generated training images per class (default 1000)")
    c.add_argument("--epochs", type=int, default=3, help="classifier training epochs (default 3)")
    c.add_argument("--no-real", action="store_true", help="skip the real-data baseline (the same network trained on real train-split images)")
    c.add_argument("--seed", type=int, default=0, help="seed of the samples' noise, the real subset and the classifier (default 0)")
    c.add_argument("--json", action="store_true", help="print one JSON object")
    c.add_argument("--no-ema", action="store_true", help="use G instead of G_ema")
    c.add_argument("--device", default="auto", help="auto (CUDA, else Apple MPS, else CPU) | cpu | cuda | cuda:N | mps")


def cmd_export(args) -> int:
    from gankit.families import load_generator
    from gankit.export import export_per_class

    if args.per_class < 1:
        raise GankitError(f"--per-class must be >= 1, got {args.per_class}")
    G, _, state, which = load_generator(args.checkpoint, args.device, args.no_ema)
    counts = export_per_class(G, Path(args.out), args.per_class, seed=args.seed)
    print(f"wrote {sum(counts.values())} images ({args.per_class} per class, {len(counts)} classes) from {which} "
          f"at step {state['step']} to {args.out}")
    return 0


def cmd_cas(args) -> int:
    from gankit.families import load_generator
    from gankit.classify import classification_accuracy_score, conditional_accuracy
    from gankit.metrics.evaluate import domain_network

    if args.per_class < 1 or args.epochs < 1:
        raise GankitError("--per-class and --epochs must be >= 1")
    G, cfg, state, which = load_generator(args.checkpoint, args.device, args.no_ema)
    network = domain_network(cfg.data.name)
    result = conditional_accuracy(G.cpu(), network, per_class=min(args.per_class, 500), seed=args.seed)
    result.update(classification_accuracy_score(G, network, args.per_class, args.epochs, args.seed,
                                                real_baseline=not args.no_real))
    result.update({"generator": which, "step": state["step"], "network": network})
    if args.json:
        print(json.dumps(result))
        return 0
    for key, value in result.items():
        print(f"{key:>18}  {value}")
    print("cond_acc: share of samples for class c the shipped classifier calls c; cas: real test accuracy of the "
          "classifier network trained on generated images only; real_acc: same network on as many real images",
          file=sys.stderr)
    return 0
