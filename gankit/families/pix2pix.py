"""pix2pix (Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial Networks").

Paired translation A -> B: a U-Net G (`gankit.models.unet`, dropout its only noise) and a
PatchGAN D (`gankit.models.patchgan`) that scores patches of the pair (input, output)
concatenated on channels. One `train_step` is the paper's alternation:

    fake = G(a)
    D step:  loss_D = 1/2 * d_loss(D(a, b), D(a, fake))             ; update D   (the paper halves D's objective)
    G step:  loss_G = g_loss(D(a, fake)) + l1_weight * |fake - b|_1  ; update G

`pix2pix.adversarial=false` drops D and trains the same U-Net on the L1 term alone: the
paper's "L1 only" row, the baseline of benchmarks/pix2pix_fashion.py.

Data: `data.name=fashion-edges` (built in: Sobel edge map of each Fashion-MNIST garment ->
the garment) or `data.name=paired` with `data.path` (A/ + B/ folders or A|B images,
`data.layout`). A fixed validation subset of the training pairs (500, or 10% of fewer than
5,000; chosen by `cfg.seed`) is held out of training: `evaluate` and the sample grids use it.
`gankit eval` scores the test split (`evaluate_checkpoint`).

Evaluation runs G in eval mode (dropout off, batch-norm running statistics): deterministic
outputs, one per input. The paper kept dropout and batch statistics at test time; a
deterministic G is what per-image L1/PSNR/SSIM compare and what `gankit translate` serves.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from gankit import __version__
from gankit.build import lr_factor, make_optimizer, place_model
from gankit.config import Config, resolution_hw
from gankit.data.paired import PairedData, PairedSampler, load_paired, make_fashion_edges
from gankit.errors import GankitError
from gankit.losses import NEEDS_REAL_SCORES_FOR_G, get_loss
from gankit.metrics.translation import SSIM_WINDOW, l1_per_image, mean_finite, psnr, ssim
from gankit.models.patchgan import MAX_LAYERS, PatchDiscriminator, min_input_side
from gankit.models.unet import UNetGenerator
from gankit.penalties import penalty_name
from gankit.train.distributed import DistEnv
from gankit.train.speed import autocast

KIND = "translation"
DATA_NAMES = ("fashion-edges", "paired")
VAL_PAIRS = 500  # validation pairs held out of training ...
VAL_SHARE = 0.1  # ... or this share of them when there are fewer than VAL_PAIRS / VAL_SHARE
VAL_SEED_OFFSET = 4_000_037  # the validation split has its own seeded permutation
MAX_GRID_PAIRS = 16  # (input | output | target) triples in a sample grid
GRID_TRIPLES_PER_ROW = 4
EVAL_BATCH = 250


def validate_pix2pix(cfg: Config) -> None:
    """Range and combination checks of the pix2pix section and the data it trains on (one-line errors)."""
    p = cfg.pix2pix
    if cfg.data.name not in DATA_NAMES:
        raise GankitError(f"pix2pix trains on paired data: set data.name to fashion-edges or paired, not '{cfg.data.name}'")
    if cfg.data.name == "paired" and not cfg.data.path:
        raise GankitError("data.name=paired needs data.path: a folder with A/ and B/, or of A|B images (or a .zip)")
    if cfg.data.layout not in ("auto", "folders", "side-by-side"):
        raise GankitError(f"data.layout '{cfg.data.layout}' is unknown; choose auto, folders or side-by-side")
    if isinstance(p.l1_weight, bool) or not isinstance(p.l1_weight, (int, float)) or p.l1_weight < 0:
        raise GankitError(f"pix2pix.l1_weight must be a number >= 0, got {p.l1_weight!r}")
    if isinstance(p.d_layers, bool) or not isinstance(p.d_layers, int) or not 0 <= p.d_layers <= MAX_LAYERS:
        raise GankitError(f"pix2pix.d_layers must be an integer in 0..{MAX_LAYERS}, got {p.d_layers!r}")
    if not 0 <= p.g_dropout < 1:
        raise GankitError(f"pix2pix.g_dropout must be in [0, 1), got {p.g_dropout}")
    if not p.adversarial and p.l1_weight == 0:
        raise GankitError("pix2pix.adversarial=false trains on L1 alone, so pix2pix.l1_weight must be > 0")
    side = min(resolution_hw(cfg.data.resolution))
    if p.adversarial and side < min_input_side(p.d_layers):
        raise GankitError(f"pix2pix.d_layers={p.d_layers} needs images of at least {min_input_side(p.d_layers)} px a "
                          f"side, got {side}; lower pix2pix.d_layers or raise data.resolution")
    if penalty_name(cfg) is not None:
        raise GankitError(f"pix2pix does not apply gradient penalties ('{penalty_name(cfg)}'); set loss.penalty=none "
                          "and a loss without one (nonsaturating, lsgan, hinge)")
    if cfg.train.ema_kimg:
        raise GankitError("pix2pix keeps no G_ema; set train.ema_kimg=0")
    if cfg.runtime.precision == "fp16":
        raise GankitError("pix2pix does not support runtime.precision=fp16 (no loss scaling); use bf16 or fp32")


def l1_term(fake: Tensor, target: Tensor) -> Tensor:
    """pix2pix's L1 distance: mean |fake - target| over every value (scalar; the paper's ||y - G(x)||_1)."""
    return (fake.float() - target.float()).abs().mean()


def d_objective(d_loss, real_scores: Tensor, fake_scores: Tensor, real_label: float = 1.0) -> Tensor:
    """D's pix2pix loss: half the adversarial `d_loss` over the patch-score maps (the paper halves it
    "to slow down the rate at which D learns relative to G")."""
    return 0.5 * d_loss(real_scores, fake_scores, real_label)


def domain_channels(cfg: Config) -> tuple[int, int]:
    """(channels of A, channels of B): 1 and 1 for fashion-edges, data.channels for both of a paired folder."""
    return (1, 1) if cfg.data.name == "fashion-edges" else (cfg.data.channels, cfg.data.channels)


def load_pairs(cfg: Config, split: str) -> PairedData:
    """The pairs of `split` ("train" or "test") that `cfg.data` names."""
    d = cfg.data
    if d.name == "fashion-edges":
        height, width = resolution_hw(d.resolution)
        if height != width:
            raise GankitError(f"fashion-edges images are square; set data.resolution to one int, got {d.resolution}")
        return make_fashion_edges(split, height, root=d.path or None)
    return load_paired(d.path, resolution_hw(d.resolution), d.channels, d.layout, d.crop, split)


def split_validation(n: int, seed: int) -> tuple[Tensor, Tensor]:
    """(train indices, validation indices) of `n` pairs, fixed by `seed`: VAL_PAIRS held out, or
    VAL_SHARE of them (at least 1) when n < VAL_PAIRS / VAL_SHARE."""
    if n < 2:
        raise GankitError(f"pix2pix needs at least 2 training pairs (one is held out for validation), got {n}")
    n_val = VAL_PAIRS if n * VAL_SHARE >= VAL_PAIRS else max(1, int(n * VAL_SHARE))
    order = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed) + VAL_SEED_OFFSET))
    return order[n_val:].sort().values, order[:n_val].sort().values


def build_generator(cfg: Config) -> UNetGenerator:
    """The U-Net of `cfg`, from the config alone (no data): depth from data.resolution."""
    ca, cb = domain_channels(cfg)
    return UNetGenerator(ca, cb, cfg.model.g_width, None, cfg.pix2pix.g_dropout, size=resolution_hw(cfg.data.resolution))


def translate(G: nn.Module, a: Tensor, batch_size: int = EVAL_BATCH) -> Tensor:
    """G(a) in eval mode, in batches, without gradients: `[N, Cb, H, W]` float32 in [-1, 1] on a's device."""
    was_training = G.training
    G.eval()
    try:
        with torch.no_grad():
            return torch.cat([G(batch).float() for batch in a.split(batch_size)])
    finally:
        G.train(was_training)


def score_pairs(G: nn.Module, pairs: PairedData, device: torch.device, with_fid: bool) -> dict:
    """Mean per-image L1, PSNR (dB) and SSIM of G(a) against b; domain FID of G(a) vs b when `with_fid`."""
    fake = torch.cat([translate(G, a.to(device)).cpu() for a in pairs.a.split(EVAL_BATCH)])
    real = pairs.b
    result = {"l1": float(l1_per_image(fake, real).mean()), "psnr": mean_finite(psnr(fake, real))}
    if min(real.shape[-2:]) >= SSIM_WINDOW:
        result["ssim"] = float(ssim(fake, real).mean())
    if with_fid:
        from gankit.metrics import extract_features
        from gankit.metrics.fid import fid_from_features

        real_f, _ = extract_features(real, "fashion-mnist", device=device, with_logits=False)
        fake_f, _ = extract_features(fake.clamp(-1, 1), "fashion-mnist", device=device, with_logits=False)
        result["fid"] = fid_from_features(real_f, fake_f)
    return result


def _protocol(cfg: Config, split: str, n: int, seed: int, with_fid: bool) -> dict:
    protocol = {"compared": "G(A) vs B, per image, G in eval mode", "data": cfg.data.name, "split": split, "n": n,
                "network": "G", "seed": seed, "gankit_version": __version__,
                "psnr": "dB on [0, 1], data range 1, mean over finite values",
                "ssim": "Wang 2004, Gaussian 11/1.5, valid window, channel mean"}
    if with_fid:
        from gankit.metrics.features import feature_protocol

        protocol["fid_features"] = feature_protocol("fashion-mnist")
        protocol["fid_real"] = f"the {n} B images of the same pairs"
    return protocol


class Pix2Pix:
    """pix2pix's training state: G (and D unless L1-only), their optimizers, the pair stream, the
    validation pairs and the fixed grid inputs. See the module docstring for the step."""

    def __init__(self, cfg: Config, device: torch.device, env: DistEnv, pairs: PairedData) -> None:
        validate_pix2pix(cfg)
        self.cfg, self.device, p, t = cfg, device, cfg.pix2pix, cfg.train
        ca, cb = domain_channels(cfg)
        if (pairs.a.shape[1], pairs.b.shape[1]) != (ca, cb):
            raise GankitError(f"pairs have {pairs.a.shape[1]} and {pairs.b.shape[1]} channels, the config {ca} and {cb}")
        if cfg.data.limit:
            pairs = pairs.subset(torch.arange(min(cfg.data.limit, len(pairs))))
        train_idx, val_idx = split_validation(len(pairs), cfg.seed)
        self.val = pairs.subset(val_idx)
        self.sampler = PairedSampler(pairs.subset(train_idx), t.batch_size, cfg.seed, device, env.rank, env.world_size)
        shape = tuple(pairs.b.shape[1:])
        self.G = place_model(build_generator(cfg), device, shape)
        self.networks: dict[str, nn.Module] = {"G": self.G}
        self.optimizers = {"g": make_optimizer(t.optimizer, list(self.G.parameters()), t.g_lr, t.g_betas)}
        self.adversarial = bool(p.adversarial)
        self.D: PatchDiscriminator | None = None
        if self.adversarial:
            self.D = place_model(PatchDiscriminator(ca + cb, cfg.model.d_width, p.d_layers, "batch"), device, shape)
            self.networks["D"] = self.D
            self.optimizers["d"] = make_optimizer(t.optimizer, list(self.D.parameters()), t.d_lr, t.d_betas)
            self.d_loss, self.g_loss = get_loss(cfg.loss.name)
            self.g_needs_real = cfg.loss.name in NEEDS_REAL_SCORES_FOR_G
        self.real_label = 1.0 - cfg.loss.label_smoothing
        self.l1_weight = float(p.l1_weight)
        self.scalers: dict = {}
        self.images_per_step = t.batch_size
        self.precision = cfg.runtime.precision
        self.G_run, self.D_run = self.G, self.D  # DDP wrappers after wrap()
        tr = cfg.tricks
        horizon = tr.schedule_steps or t.steps
        self.schedulers = []
        if tr.lr_schedule != "constant":
            def factor(step: int) -> float:
                return lr_factor(tr.lr_schedule, step, horizon, tr.lr_decay_start, tr.lr_final)

            self.schedulers = [torch.optim.lr_scheduler.LambdaLR(opt, factor) for opt in self.optimizers.values()]
        n_grid = min(cfg.log.n_samples, MAX_GRID_PAIRS, len(self.val))
        self.fixed_a, self.fixed_b = self.val.a[:n_grid].to(device), self.val.b[:n_grid].to(device)
        self.g_updates = 0

    def train_step(self) -> dict[str, Tensor]:
        """One D update (unless L1-only), then one G update, on the next batch of pairs."""
        a, b = self.sampler.next()
        with autocast(self.device, self.precision):
            fake = self.G_run(a)
        stats: dict[str, Tensor] = {}
        real_scores = None
        if self.adversarial:
            # D step: real pairs (a, b) against fake pairs (a, G(a)); G gets no gradient from it.
            with autocast(self.device, self.precision):
                real_scores = self.D_run(torch.cat([a, b], dim=1)).float()
                fake_scores = self.D_run(torch.cat([a, fake.detach()], dim=1)).float()
                d_loss = d_objective(self.d_loss, real_scores, fake_scores, self.real_label)
            self._update(d_loss, "d")
            stats.update(d_loss=d_loss.detach(), real_score=real_scores.detach().mean(),
                         fake_score=fake_scores.detach().mean())
        # G step: fool the updated D on (a, G(a)) and stay close to b in L1. The bare D scores here
        # (no DDP sync needed: D's parameters are frozen for this backward).
        l1 = l1_term(fake, b)
        g_loss = self.l1_weight * l1
        if self.adversarial:
            self.D.requires_grad_(False)
            with autocast(self.device, self.precision):
                g_scores = self.D(torch.cat([a, fake], dim=1)).float()
            g_adv = self.g_loss(g_scores, real_scores.detach() if self.g_needs_real else None)
            g_loss = g_adv + g_loss
            stats["g_adv"] = g_adv.detach()
        self._update(g_loss, "g")
        if self.D is not None:
            self.D.requires_grad_(True)
        self.g_updates += 1
        for scheduler in self.schedulers:
            scheduler.step()
        stats.update(g_loss=g_loss.detach(), l1=l1.detach())
        return stats

    def _update(self, loss: Tensor, which: str) -> None:
        opt = self.optimizers[which]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def state_dict(self) -> dict:
        """G-update counter, LR schedulers and the fixed grid inputs (the validation pairs they come from)."""
        return {"g_updates": self.g_updates, "schedulers": [s.state_dict() for s in self.schedulers],
                "fixed_a": self.fixed_a.cpu(), "fixed_b": self.fixed_b.cpu()}

    def load_state_dict(self, state: dict) -> None:
        self.g_updates = int(state["g_updates"])
        for scheduler, saved in zip(self.schedulers, state["schedulers"]):
            scheduler.load_state_dict(saved)
        self.fixed_a, self.fixed_b = state["fixed_a"].to(self.device), state["fixed_b"].to(self.device)

    def write_samples(self, path: Path) -> None:
        """One PNG: rows of (input | output | target) triples of the fixed validation pairs."""
        write_triples(self.fixed_a, translate(self.G, self.fixed_a), self.fixed_b, path)

    def evaluate(self, seed: int) -> tuple[dict, str, bool]:
        """L1, PSNR, SSIM (and domain FID on fashion-edges) on the held-out validation pairs."""
        with_fid = self.cfg.data.name == "fashion-edges" and len(self.val) >= 2
        result = score_pairs(self.G, self.val, self.device, with_fid)
        result["protocol"] = _protocol(self.cfg, "validation (held out of train)", len(self.val), seed, with_fid)
        return result, ("fid" if with_fid else "l1"), True

    def wrap(self, wrap_module) -> None:
        """Run the training forwards of G, and D's in its own step, through `wrap_module` (DDP)."""
        self.G_run = wrap_module(self.G)
        if self.D is not None:
            self.D_run = wrap_module(self.D)


def write_triples(a: Tensor, fake: Tensor, b: Tensor, path: Path) -> None:
    """Save a grid of (a | fake | b) triples, GRID_TRIPLES_PER_ROW per row; grey is repeated to RGB
    when the domains differ in channels."""
    from gankit.sample import image_grid

    images = [a.float().cpu(), fake.float().cpu(), b.float().cpu()]
    channels = max(x.shape[1] for x in images)
    images = [x.expand(-1, channels, -1, -1) if x.shape[1] == 1 else x[:, :channels] for x in images]
    triples = torch.stack(images, dim=1).flatten(0, 1)  # a0, fake0, b0, a1, ...
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image_grid(triples, nrow=3 * min(GRID_TRIPLES_PER_ROW, len(a))).save(path)


def build(cfg: Config, device: torch.device, env: DistEnv = DistEnv()) -> Pix2Pix:
    """pix2pix for `cfg` on `device`: loads the training pairs, holds out the validation pairs."""
    validate_pix2pix(cfg)
    return Pix2Pix(cfg, device, env, load_pairs(cfg, "train"))


def load_output_network(cfg: Config, state: dict, device: torch.device, direction: str | None = None) -> nn.Module:
    """The trained U-Net G (A -> B) from a checkpoint, in eval mode: `G(a [N, Ca, H, W]) -> [N, Cb, H, W]`."""
    if direction not in (None, "AtoB", "AB", "A2B", "forward"):
        raise GankitError(f"pix2pix translates A -> B only; drop the direction '{direction}'")
    if "G" not in state:
        raise GankitError("the checkpoint holds no 'G'; it is not from a pix2pix run")
    G = build_generator(cfg)
    G.load_state_dict(state["G"])
    return G.to(device).eval()


def evaluate_checkpoint(cfg: Config, state: dict, device: torch.device, args) -> dict:
    """`gankit eval` on a pix2pix checkpoint: L1, PSNR, SSIM (+ domain FID on fashion-edges) on the test split.

    args.split: "test" (default) or "val" (the held-out validation pairs of the training data);
    args.n: score the first n pairs only (None or 0 = all)."""
    split = getattr(args, "split", "test") or "test"
    if split not in ("test", "val"):
        raise GankitError(f"pix2pix checkpoints are scored on --split test or val, not '{split}'")
    G = load_output_network(cfg, state, device)
    if split == "test":
        pairs = load_pairs(cfg, "test")
    else:
        pairs = load_pairs(cfg, "train")
        pairs = pairs.subset(torch.arange(min(cfg.data.limit, len(pairs)))) if cfg.data.limit else pairs
        pairs = pairs.subset(split_validation(len(pairs), cfg.seed)[1])
    n = getattr(args, "n", None)
    if n:
        pairs = pairs.subset(torch.arange(min(int(n), len(pairs))))
    with_fid = cfg.data.name == "fashion-edges" and len(pairs) >= 2
    result = score_pairs(G, pairs, device, with_fid)
    result["protocol"] = _protocol(cfg, split, len(pairs), int(getattr(args, "seed", 0) or 0), with_fid)
    return result


validate = validate_pix2pix  # the name the family registry calls


def input_shape(cfg: Config) -> tuple[int, int, int]:
    """(C, H, W) of the A images G was trained on (`gankit translate` fits its inputs to it)."""
    return (domain_channels(cfg)[0], *resolution_hw(cfg.data.resolution))
