"""SRGAN (Ledig et al. 2017): learn low-resolution -> high-resolution with a residual G and a GAN.

Data: high-resolution (HR) images from `cfg.data` (fashion-mnist, digits or a folder). The
low-resolution (LR) input is made here, by antialiased bicubic downsampling by `cfg.sr.scale`
(`downsample`), so the LR images are a fixed function of the HR ones.

One training step (the paper's algorithm, with the SRResNet baseline as a special case):

    hr        <- a batch of HR images;  lr <- downsample(hr);  sr <- G(lr)
    D step    (skipped when sr.adversarial_weight == 0):  minimise d_loss(D(hr), D(sr))
    G step    minimise  mse_weight         * MSE(sr, hr)
                      + content_weight     * MSE(phi(sr), phi(hr))     phi = the feature network
                      + adversarial_weight * g_loss(D(sr))

The feature network phi (`sr.feature_network`): "auto" = gankit's shipped domain classifier for
fashion-mnist / digits data (its penultimate features, input resized to its resolution); a
path = a TorchScript file you provide (phi(x) = its output for x `[N, C, H, W]` in [-1, 1];
gankit downloads nothing); "none" = pixel loss only. Folder data with "auto" has no shipped
network, so it falls back to pixel loss with a warning.

Validation during training uses a fixed held-out share of the training images (never the test
split); `gankit eval` scores the test split: PSNR / SSIM (and FID on domain features for
fashion-mnist / digits) of G beside bicubic upsampling of the same LR input.
"""

from __future__ import annotations

import copy
import math
import warnings
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.config import Config, resolution_hw
from gankit.errors import GankitError
from gankit.metrics.translation import l1_per_image, mean_finite, psnr, ssim
from gankit.models.srgan import SR_SCALES, SRDiscriminator, SRGenerator

KIND = "translation"
VALIDATION_MAX = 1000  # held-out training images scored by `evaluate` (at most; 10% of small sets)
VALIDATION_SEED = 2017  # picks the held-out images: a property of the data, the same for every run seed
SAMPLE_PAIRS = 16  # (input, output, target) triplets in each sample grid
SR_DATA = ("fashion-mnist", "digits", "folder")
EVAL_BATCH = 256


def validate_sr(cfg: Config) -> None:
    """Range checks of the `sr` section and what SRGAN needs from the rest of the config (one-line errors)."""
    s = cfg.sr
    if s.scale not in SR_SCALES:
        raise GankitError(f"sr.scale must be 2 or 4, got {s.scale}; e.g. --set sr.scale=4")
    if s.residual_blocks < 1:
        raise GankitError(f"sr.residual_blocks must be >= 1, got {s.residual_blocks}")
    for key in ("mse_weight", "content_weight", "adversarial_weight"):
        if getattr(s, key) < 0:
            raise GankitError(f"sr.{key} must be >= 0, got {getattr(s, key)}")
    if s.mse_weight == 0 and s.content_weight == 0 and s.adversarial_weight == 0:
        raise GankitError("sr.mse_weight, sr.content_weight and sr.adversarial_weight are all 0; set at least one > 0")
    if cfg.data.name not in SR_DATA:
        raise GankitError(f"srgan trains on image data ({', '.join(SR_DATA)}), not data.name={cfg.data.name}")
    h, w = resolution_hw(cfg.data.resolution)
    if h % s.scale or w % s.scale:
        raise GankitError(f"data.resolution {h}x{w} is not divisible by sr.scale={s.scale}; "
                          f"e.g. --set data.resolution={max(s.scale, h - h % s.scale)}")
    if cfg.loss.penalty not in ("auto", "none") or cfg.loss.name == "wgan-gp":
        raise GankitError("srgan does not apply gradient penalties; use another loss.name and loss.penalty=none")
    fn = s.feature_network
    if fn not in ("auto", "none") and not Path(fn).expanduser().is_file():
        raise GankitError(f"sr.feature_network {fn!r} is not a file; give a TorchScript file, or auto, or none")


def downsample(hr: Tensor, scale: int) -> Tensor:
    """LR input of SRGAN: antialiased bicubic downsampling of `[N, C, H, W]` in [-1, 1] by `scale`
    -> `[N, C, H/scale, W/scale]` in [-1, 1] (clamped: bicubic can overshoot). Deterministic."""
    h, w = hr.shape[-2:]
    lr = F.interpolate(hr, size=(h // scale, w // scale), mode="bicubic", align_corners=False, antialias=True)
    return lr.clamp(-1.0, 1.0)


def bicubic_upsample(lr: Tensor, scale: int) -> Tensor:
    """The classical baseline: bicubic upsampling of `[N, C, h, w]` by `scale`, clamped to [-1, 1]."""
    h, w = lr.shape[-2:]
    return F.interpolate(lr, size=(h * scale, w * scale), mode="bicubic", align_corners=False).clamp(-1.0, 1.0)


def hr_channels(cfg: Config) -> int:
    return cfg.data.channels if cfg.data.name == "folder" else 1


def build_sr_generator(cfg: Config) -> SRGenerator:
    """G from the config alone (no data): LR `[N, C, h, w]` -> HR `[N, C, h*scale, w*scale]`."""
    return SRGenerator(hr_channels(cfg), cfg.sr.scale, cfg.model.g_width, cfg.sr.residual_blocks)


def build_sr_discriminator(cfg: Config) -> SRDiscriminator:
    """D for the HR resolution: stride-2 stages until the map is 2-4 pixels (3 at 28x28, 4 at 96x96 and up)."""
    h, w = resolution_hw(cfg.data.resolution)
    stages = max(1, min(4, int(math.log2(min(h, w))) - 1))
    return SRDiscriminator(hr_channels(cfg), cfg.model.d_width, n_stages=stages)


# ---------------------------------------------------------------- data


def folder_split_dirs(path: str) -> tuple[Path, Path, bool]:
    """(train dir, test dir, held_out): `path/train` + `path/test` when both exist, else `path` for both."""
    root = Path(path).expanduser()
    if (root / "train").is_dir() and (root / "test").is_dir():
        return root / "train", root / "test", True
    return root, root, False


def load_hr(cfg: Config, split: str) -> tuple[Tensor, bool]:
    """HR images `[N, C, H, W]` in [-1, 1] of `split` ("train" | "test"), and whether that split is held out."""
    from gankit import data as datasets

    d = cfg.data
    h, w = resolution_hw(d.resolution)
    if d.name in ("fashion-mnist", "digits") and h != w:
        raise GankitError(f"{d.name} needs a square data.resolution; e.g. --set data.resolution=28")
    if d.name == "fashion-mnist":
        return datasets.load_fashion_mnist(split, resolution=h, root=d.path or None).images, True
    if d.name == "digits":
        return datasets.load_digits(split, resolution=h).images, True
    if not d.path:
        raise GankitError("srgan on folder data needs a path; pass --data PATH (a directory of images)")
    train_dir, test_dir, held_out = folder_split_dirs(d.path)
    folder = train_dir if split == "train" else test_dir
    return datasets.load_folder(folder, (h, w), channels=d.channels, crop=d.crop).images, held_out or split == "train"


def split_validation(images: Tensor) -> tuple[Tensor, Tensor]:
    """(train, validation): a fixed random 10% of `images` (at most VALIDATION_MAX, at least 1) held out."""
    n = images.shape[0]
    if n < 2:
        raise GankitError(f"srgan needs at least 2 training images (one is held out for validation), got {n}")
    n_val = max(1, min(VALIDATION_MAX, n // 10))
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(VALIDATION_SEED))
    return images[perm[n_val:]].contiguous(), images[perm[:n_val]].contiguous()


# ---------------------------------------------------------------- feature network (content loss)


class DomainFeatures(nn.Module):
    """phi(x) of a domain classifier: `[N, C, H, W]` in [-1, 1] -> penultimate features `[N, 256]`.

    Resizes to the classifier's resolution (bilinear, antialiased, differentiable) and averages RGB to grey."""

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        self.classifier = classifier
        self.resolution = int(classifier.resolution)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[1] == 3:
            x = x.mean(dim=1, keepdim=True)
        if tuple(x.shape[-2:]) != (self.resolution, self.resolution):
            x = F.interpolate(x, size=(self.resolution, self.resolution), mode="bilinear",
                              align_corners=False, antialias=True)
        return self.classifier.features(x)


def load_feature_network(cfg: Config, device: torch.device) -> tuple[nn.Module | None, dict]:
    """(phi frozen in eval mode or None for pixel loss only, its protocol record) for `cfg.sr.feature_network`."""
    name = cfg.sr.feature_network
    if cfg.sr.content_weight == 0 or name == "none":
        return None, {"network": "none"}
    if name == "auto":
        if cfg.data.name not in ("fashion-mnist", "digits"):
            warnings.warn(f"sr.feature_network=auto: gankit ships no feature network for {cfg.data.name} data, so "
                          "the content loss is off (pixel loss only); give a TorchScript file with "
                          "--set sr.feature_network=PATH", stacklevel=2)
            return None, {"network": "none", "fallback": "auto on folder data: pixel loss only"}
        from gankit.metrics import load_domain_classifier

        shared, info = load_domain_classifier(cfg.data.name, device)
        # A private copy: the loaded classifier is cached and shared with the metrics.
        phi = DomainFeatures(copy.deepcopy(shared))
        record = {"network": cfg.data.name, "weights_sha256": info["sha256"], "layer": "penultimate features"}
    else:
        path = Path(name).expanduser()
        try:
            with warnings.catch_warnings():  # torch >= 2.9 marks TorchScript deprecated; it is our documented format
                warnings.simplefilter("ignore", FutureWarning)
                phi = torch.jit.load(str(path), map_location=device)
        except Exception as exc:  # a bad file is the user's to fix; say which and why in one line
            raise GankitError(f"sr.feature_network {path} is not a loadable TorchScript file "
                              f"({type(exc).__name__}); save one with torch.jit.save") from None
        from gankit.metrics.features import _sha256

        record = {"network": str(path), "weights_sha256": _sha256(path), "layer": "output"}
    phi = phi.to(device).eval()
    for p in phi.parameters():  # (ScriptModules have no requires_grad_)
        p.requires_grad_(False)
    return phi, record


# ---------------------------------------------------------------- losses


def content_loss(phi: nn.Module | None, sr: Tensor, hr: Tensor) -> Tensor:
    """MSE between phi(sr) and phi(hr) (the target's features carry no gradient); 0 without phi."""
    if phi is None:
        return sr.new_zeros(())
    with torch.no_grad():
        target = phi(hr)
    return F.mse_loss(phi(sr).float(), target.float())


def generator_loss(cfg: Config, pixel: Tensor, content: Tensor, adversarial: Tensor) -> Tensor:
    """G's objective: mse_weight * pixel + content_weight * content + adversarial_weight * adversarial."""
    s = cfg.sr
    return s.mse_weight * pixel + s.content_weight * content + s.adversarial_weight * adversarial


@contextmanager
def eval_mode(module: nn.Module):
    """Run `module` in eval mode (BN running statistics), restoring its previous mode afterwards."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


@torch.no_grad()
def super_resolve(G: nn.Module, lr: Tensor, device: torch.device, batch_size: int = EVAL_BATCH) -> Tensor:
    """G's output for every LR image `[N, C, h, w]`, in eval mode, batch by batch, on CPU."""
    with eval_mode(G):
        return torch.cat([G(x.to(device)).float().cpu() for x in lr.split(batch_size)])


def sr_scores(G: nn.Module, hr: Tensor, scale: int, device: torch.device) -> tuple[dict, Tensor, Tensor]:
    """PSNR / SSIM / L1 means of G(downsample(hr)) and of bicubic upsampling, both against `hr`.

    Returns (scores, G's outputs, bicubic outputs), outputs `[N, C, H, W]` in [-1, 1] on CPU."""
    hr = hr.cpu()
    lr = downsample(hr, scale)
    out, bic = super_resolve(G, lr, device), bicubic_upsample(lr, scale)
    scores = {}
    for prefix, images in (("", out), ("bicubic_", bic)):
        scores[prefix + "psnr"] = mean_finite(psnr(images, hr))
        scores[prefix + "ssim"] = float(ssim(images, hr).mean())
        scores[prefix + "l1"] = float(l1_per_image(images, hr).mean())
    return scores, out, bic


# ---------------------------------------------------------------- the family


class SRGANFamily:
    """SRGAN's training state for the run loop (see gankit/families/base.py for the contract)."""

    def __init__(self, cfg: Config, device: torch.device, env) -> None:
        from gankit import data as datasets
        from gankit.build import lr_factor, make_optimizer, place_model
        from gankit.losses import NEEDS_REAL_SCORES_FOR_G, get_loss
        from gankit.train.ema import EMA, ema_beta

        validate_sr(cfg)
        if cfg.runtime.precision == "fp16":
            raise GankitError("srgan does not use fp16 loss scaling; use --set runtime.precision=bf16 or fp32")
        self.cfg, self.device, self.scale = cfg, device, cfg.sr.scale
        t = cfg.train
        train_hr, self.val_hr = split_validation(load_hr(cfg, "train")[0])
        if cfg.data.limit:
            train_hr = train_hr[:cfg.data.limit]
        self.sampler = datasets.TensorSampler(datasets.ImageData(train_hr, None, None), t.batch_size, cfg.seed,
                                              device=device, rank=env.rank, world_size=env.world_size)
        self.images_per_step = t.batch_size
        c, h, w = train_hr.shape[1:]
        self.G = place_model(build_sr_generator(cfg), device, (c, h // self.scale, w // self.scale))
        self.D = place_model(build_sr_discriminator(cfg), device, (c, h, w))
        self.networks: dict[str, nn.Module] = {"G": self.G, "D": self.D}
        self.ema = None
        if t.ema_kimg > 0:
            self.ema = EMA(self.G, ema_beta(t.ema_kimg, t.batch_size * env.world_size))
            self.networks["G_ema"] = self.ema.G_ema
        self.optimizers = {"g": make_optimizer(t.optimizer, list(self.G.parameters()), t.g_lr, t.g_betas),
                           "d": make_optimizer(t.optimizer, list(self.D.parameters()), t.d_lr, t.d_betas)}
        self.scalers: dict = {}
        tr = cfg.tricks
        horizon = tr.schedule_steps or t.steps
        self.schedulers = [] if tr.lr_schedule == "constant" else [
            torch.optim.lr_scheduler.LambdaLR(
                opt, lambda step: lr_factor(tr.lr_schedule, step, horizon, tr.lr_decay_start, tr.lr_final))
            for opt in self.optimizers.values()]
        self.d_loss_fn, self.g_loss_fn = get_loss(cfg.loss.name)
        self.g_needs_real = cfg.loss.name in NEEDS_REAL_SCORES_FOR_G
        self.real_label = 1.0 - cfg.loss.label_smoothing
        self.phi, self.phi_record = load_feature_network(cfg, device)
        self.fixed_hr = self.val_hr[:SAMPLE_PAIRS].clone()
        self.fixed_lr = downsample(self.fixed_hr, self.scale)
        self.step = 0
        self._G, self._D = self.G, self.D  # the modules training forwards run through (DDP wrappers after wrap())

    def wrap(self, wrap_module) -> None:
        """Under DDP: run training forwards through `wrap_module(G)` and `wrap_module(D)`."""
        self._G, self._D = wrap_module(self.G), wrap_module(self.D)

    def _autocast(self):
        from gankit.train.speed import autocast

        return autocast(self.device, self.cfg.runtime.precision)

    def train_step(self) -> dict[str, Tensor]:
        """One SRGAN step: D step on (hr, G(lr)) unless adversarial_weight == 0, then G step."""
        hr, _ = self.sampler.next()
        lr = downsample(hr, self.scale)
        adversarial = self.cfg.sr.adversarial_weight > 0
        with self._autocast():
            sr = self._G(lr)
        stats: dict[str, Tensor] = {}

        # D step: real HR images against G's detached outputs.
        if adversarial:
            with self._autocast():
                real_scores, fake_scores = self._D(hr).float(), self._D(sr.detach()).float()
            d_loss = self.d_loss_fn(real_scores, fake_scores, self.real_label)
            self.optimizers["d"].zero_grad(set_to_none=True)
            d_loss.backward()
            self.optimizers["d"].step()
            stats.update(d_loss=d_loss.detach(), real_score=real_scores.detach().mean(),
                         fake_score=fake_scores.detach().mean())

        # G step: pixel MSE + content MSE on phi's features + the adversarial term.
        with self._autocast():
            pixel = F.mse_loss(sr.float(), hr)
            content = content_loss(self.phi, sr, hr)
            adv = sr.new_zeros((), dtype=torch.float32)
            if adversarial:
                real_for_g = None
                if self.g_needs_real:  # the relativistic G loss compares with real scores (no gradient needed)
                    with torch.no_grad():
                        real_for_g = self._D(hr).float()
                adv = self.g_loss_fn(self._D(sr).float(), real_for_g)
        g_loss = generator_loss(self.cfg, pixel, content, adv)
        self.optimizers["g"].zero_grad(set_to_none=True)
        g_loss.backward()
        self.optimizers["g"].step()
        if self.ema is not None:
            self.ema.update(self.G)
        for scheduler in self.schedulers:
            scheduler.step()
        self.step += 1
        # The batch's PSNR from its MSE: on the [0, 1] scale the MSE is a quarter of the [-1, 1] one.
        stats.update(g_loss=g_loss.detach(), mse=pixel.detach(),
                     psnr=10.0 * torch.log10(4.0 / pixel.detach().clamp_min(1e-12)))
        if self.phi is not None:
            stats["content"] = content.detach()
        if adversarial:
            stats["g_adv"] = adv.detach()
        return stats

    def state_dict(self) -> dict:
        return {"step": self.step, "schedulers": [s.state_dict() for s in self.schedulers],
                "fixed_lr": self.fixed_lr, "fixed_hr": self.fixed_hr}

    def load_state_dict(self, state: dict) -> None:
        self.step = int(state["step"])
        for scheduler, saved in zip(self.schedulers, state["schedulers"]):
            scheduler.load_state_dict(saved)
        self.fixed_lr, self.fixed_hr = state["fixed_lr"].cpu(), state["fixed_hr"].cpu()

    def output_network(self) -> nn.Module:
        """The G that samples and evaluations use: G_ema when the run keeps one, else G."""
        return self.ema.G_ema if self.ema is not None else self.G

    def write_samples(self, path: Path) -> None:
        """PNG of the fixed validation images: triplets (LR input, enlarged | G's output | HR target), 4 per row."""
        from gankit.sample import image_grid

        out = super_resolve(self.output_network(), self.fixed_lr, self.device)
        shown = F.interpolate(self.fixed_lr, scale_factor=self.scale, mode="nearest")
        triplets = torch.stack([shown, out, self.fixed_hr], dim=1).flatten(0, 1)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        image_grid(triplets, nrow=3 * min(4, len(self.fixed_hr))).save(path)

    def evaluate(self, seed: int) -> tuple[dict, str, bool]:
        """PSNR / SSIM / L1 of G and of bicubic on the held-out training images (primary: psnr, higher is better)."""
        from gankit import __version__

        n = min(self.cfg.eval.n or len(self.val_hr), len(self.val_hr))
        scores, _, _ = sr_scores(self.output_network(), self.val_hr[:n], self.scale, self.device)
        protocol = {"family": "srgan", "split": "validation (held out of the training images)", "n": n,
                    "network": "G_ema" if self.ema is not None else "G", "scale": self.scale,
                    "downsample": "bicubic, antialiased", "content_features": self.phi_record, "seed": seed,
                    "gankit_version": __version__}
        return {**scores, "protocol": protocol}, "psnr", False


def build(cfg: Config, device: torch.device, env) -> SRGANFamily:
    """SRGAN's networks, optimizers and data stream for `cfg` on `device` (freshly initialised)."""
    return SRGANFamily(cfg, device, env)


def input_shape(cfg: Config) -> tuple[int, int, int]:
    """`(C, h, w)` of G's input: the LR size, data.resolution / sr.scale (`gankit translate` fits inputs to it)."""
    h, w = resolution_hw(cfg.data.resolution)
    return hr_channels(cfg), h // cfg.sr.scale, w // cfg.sr.scale


def load_output_network(cfg: Config, state: dict, device: torch.device, direction: str | None = None,
                        use_ema: bool = True) -> nn.Module:
    """G rebuilt from the checkpoint's config (G_ema when saved and `use_ema`), in eval mode on `device`:
    LR `[N, C, h, w]` in [-1, 1] -> HR `[N, C, h*scale, w*scale]` in [-1, 1] (fully convolutional: any
    h, w). SR has one direction: `direction` may be None or "AtoB"."""
    if direction not in (None, "AtoB"):
        raise GankitError(f"an SRGAN checkpoint has one direction (low-res -> high-res); drop --direction {direction}")
    key = "G_ema" if use_ema and "G_ema" in state else "G"
    G = build_sr_generator(cfg)
    G.load_state_dict(state[key])
    G.network_name = key  # recorded in evaluation protocols
    return G.to(device).eval()


def evaluate_checkpoint(cfg: Config, state: dict, device: torch.device, args) -> dict:
    """`gankit eval` on an SRGAN checkpoint: the test split's HR images x, LR = downsample(x);
    PSNR / SSIM / L1 of G(LR) and of bicubic(LR) against x, and (fashion-mnist, digits) FID on
    the domain classifier's features of each output set against x."""
    from gankit import __version__

    validate_sr(cfg)
    split = getattr(args, "split", None) or "test"
    if split not in ("train", "test"):
        raise GankitError(f"srgan eval --split must be train or test, got {split!r}")
    G = load_output_network(cfg, state, device, use_ema=not getattr(args, "no_ema", False))
    hr, held_out = load_hr(cfg, split)
    n = min(getattr(args, "n", None) or len(hr), len(hr))
    hr = hr[:n]
    result, out, bic = sr_scores(G, hr, cfg.sr.scale, device)
    protocol = {"family": "srgan", "compared": "G(downsample(x)) and bicubic(downsample(x)) against x",
                "split": split, "n": n, "network": G.network_name, "scale": cfg.sr.scale,
                "downsample": "bicubic, antialiased", "seed": getattr(args, "seed", 0), "gankit_version": __version__}
    if not held_out:
        protocol["note"] = ("folder data without train/ and test/ subfolders: these images were trained on "
                            "(not held out)")
    if cfg.data.name in ("fashion-mnist", "digits"):
        from gankit.metrics import extract_features, feature_protocol, fid_from_features

        real = extract_features(hr, cfg.data.name, device=device, with_logits=False)[0]
        result["fid"] = fid_from_features(real, extract_features(out, cfg.data.name, device=device, with_logits=False)[0])
        result["bicubic_fid"] = fid_from_features(
            real, extract_features(bic, cfg.data.name, device=device, with_logits=False)[0])
        protocol["fid_features"] = feature_protocol(cfg.data.name)
    return {**result, "protocol": protocol}


validate = validate_sr  # the name the family registry calls before training
