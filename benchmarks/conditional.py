"""Train each conditional preset for a wall-clock budget, then print conditional accuracy and CAS.

    PYTHONPATH=. python benchmarks/conditional.py --budget-s 900            # the issue's 15 minutes each
    PYTHONPATH=. python benchmarks/conditional.py --budget-s 240 --per-class 300 --epochs 2   # quick look

cond_acc: share of samples generated for class c that gankit's shipped Fashion-MNIST classifier
calls c (500 per class). CAS: real test accuracy of the classifier network trained only on
`--per-class` generated images per class; real_acc: the same network, recipe and image count on
real training images (computed once). Timings are wall clock on whatever machine runs this.
"""

import argparse

import torch

from gankit.classify import classification_accuracy_score, conditional_accuracy
from gankit.config import resolve
from gankit.train.loop import prepare_training, train_for_seconds


def train_for(preset: str, budget_s: float, sets: list[str]):
    """Train `preset` until `budget_s` seconds pass; returns (G_ema or G, steps done)."""
    cfg = resolve(preset, None, ["device=cpu", "train.steps=1000000", *sets])
    training = prepare_training(cfg)
    trainer = training.family.trainer
    steps = train_for_seconds(training, budget_s)
    # The weight average when the preset keeps one: it is what `gankit sample` and `gankit cas` use.
    return (trainer.ema.G_ema if trainer.ema is not None else trainer.G), steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="cgan-fashion,acgan-fashion,projection-fashion")
    parser.add_argument("--budget-s", type=float, default=900.0)
    parser.add_argument("--per-class", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], help="config override for every preset")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    real_acc = None
    print(f"budget {args.budget_s:.0f} s per preset, CAS on {args.per_class}/class x {args.epochs} epochs", flush=True)
    for preset in args.presets.split(","):
        G, steps = train_for(preset, args.budget_s, args.set)
        network = preset.split("-")[-1].replace("fashion", "fashion-mnist")
        acc = conditional_accuracy(G, network, per_class=500)
        cas = classification_accuracy_score(G, network, args.per_class, args.epochs, real_baseline=real_acc is None)
        real_acc = cas.get("real_acc", real_acc)
        print(f"{preset:>20}  steps {steps:6d}  cond_acc {acc['cond_acc']:.4f}  cas {cas['cas']:.4f}  "
              f"real_acc {real_acc:.4f}  (cas {cas['time_s']:.0f} s)  per-class cond_acc {acc['cond_acc_per_class']}",
              flush=True)


if __name__ == "__main__":
    main()
