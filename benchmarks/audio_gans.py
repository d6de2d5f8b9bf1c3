"""WaveGAN and SpecGAN on spoken-digits at equal CPU budgets, scored by the shipped spoken-digit classifier.

Prints, for the real test clips (the ceiling), the test clips through each model's audio path
(resampled to the model's rate and back; for SpecGAN also spectrogram -> Griffin-Lim), and each
trained model: the Inception-Score-style score, FID on the classifier's features, classes covered
and class KL, all against the 420 test clips (voices never heard in training). Writes 3 generated
WAVs per model to docs/audio/ (at 16 kHz). Each model trains for --budget-s seconds of this process's
CPU time (with --threads 1, one core's time: fair when the machine is shared); wall time is printed too.

    OMP_NUM_THREADS=1 python benchmarks/audio_gans.py --budget-s 600 --threads 1
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from gankit.audio import write_wav
from gankit.config import resolve
from gankit.families.wavegan import DECODE_SEED_OFFSET, load_audio, score_audio, to_scoring_rate
from gankit.metrics.audio_classifier import audio_scores
from gankit.sample import fixed_latents, generate
from gankit.train.loop import prepare_training, train_for_seconds

KEYS = ("is", "fid", "classes_covered", "class_kl")
ROOT = Path(__file__).resolve().parent.parent


def row(name: str, result: dict, extra: str = "") -> None:
    print(f"{name:<34} IS {result['is']:6.3f}  FID {result['fid']:8.2f}  classes {result['classes_covered']:2d}/10  "
          f"KL {result['class_kl']:.3f}  {extra}", flush=True)


def real_rows(cfgs: list) -> None:
    cfg = cfgs[0]
    real16, labels = load_audio(resolve(cfg.preset, None, ["audio.rate=16000", "audio.length=16384"]), "test")
    row("real test clips (16 kHz)", audio_scores(real16, real16, labels))
    for cfg in cfgs:
        real, _ = load_audio(cfg, "test")
        trained = cfg.model.family
        path = to_scoring_rate(real, cfg.audio.rate)
        row(f"test clips at {cfg.audio.rate} Hz", audio_scores(path, real16, labels), f"({trained}'s rate)")
        if trained == "specgan":
            training = prepare_training(cfg)
            codec = training.family.codec
            rebuilt = codec.decode(torch.cat([codec.encode(b) for b in real.split(100)]), seed=DECODE_SEED_OFFSET)
            row("test clips via spectrogram+GL", audio_scores(to_scoring_rate(rebuilt, cfg.audio.rate), real16, labels),
                "(SpecGAN's ceiling)")


def run(preset: str, budget: float, threads: int, n: int, docs: Path) -> dict:
    cfg = resolve(preset, None, [f"runtime.threads={threads}", "log.progress=false", "train.steps=1000000"])
    training = prepare_training(cfg)
    wall, cpu = time.perf_counter(), time.process_time()
    steps = train_for_seconds(training, budget, clock=time.process_time)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    family = training.family
    G = family.sampling_G()
    result = score_audio(G, family.codec, cfg, n, seed=0, split="test")
    extra = f"{steps} G steps, {wall:.0f} s wall, {cpu:.0f} s CPU"
    row(f"{preset}", result, extra)
    waves = family.codec.decode(generate(G, fixed_latents(3, G.z_dim, 123)), seed=123 + DECODE_SEED_OFFSET)
    for i, clip in enumerate(to_scoring_rate(waves, cfg.audio.rate)):
        write_wav(docs / f"{preset}-{i}.wav", clip)
    return {"preset": preset, "steps": steps, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            **{k: result[k] for k in KEYS}, "counts": result["counts"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-s", type=float, default=600, help="training CPU seconds per model")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--n", type=int, default=500, help="generated clips scored per model")
    parser.add_argument("--presets", default="wavegan-digits,specgan-digits")
    parser.add_argument("--docs", default=str(ROOT / "docs" / "audio"), help="where the example WAVs go")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    presets = [p for p in args.presets.split(",") if p]
    real_rows([resolve(p, None, []) for p in presets])
    figures = [run(p, args.budget_s, args.threads, args.n, Path(args.docs)) for p in presets]
    print(json.dumps(figures))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
