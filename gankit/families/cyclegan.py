"""CycleGAN (Zhu et al. 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks").

Two generators, G_AB: A -> B and G_BA: B -> A (ResNet generators with instance norm), and two
PatchGAN discriminators, D_A (real A vs G_BA's fakes) and D_B (real B vs G_AB's fakes). One step:

    a, b          <- a batch of each domain (unpaired)
    fake_b, fake_a = G_AB(a), G_BA(b)
    D step:  d_loss(D_A(a), D_A(pool_A(fake_a))) + d_loss(D_B(b), D_B(pool_B(fake_b)))
             (each D sees a history of 50 past fakes, half the time an old one)
    G step:  g_loss(D_B(fake_b)) + g_loss(D_A(fake_a))
             + lambda_cycle * (|G_BA(fake_b) - a|_1 + |G_AB(fake_a) - b|_1)             cycle consistency
             + lambda_identity * lambda_cycle * (|G_BA(a) - a|_1 + |G_AB(b) - b|_1)    identity

The adversarial loss is cfg.loss.name (the preset's lsgan: D 1/2 E(D(real)-1)^2 + 1/2 E D(fake)^2,
as the paper's code; gankit's G side is 1/2 E(D(fake)-1)^2, half the paper's MSE, so lambda_cycle=10
here weighs cycle consistency twice as much against the adversarial term as the paper does).
Both Gs share one Adam, both Ds another (as the paper's code). LR constant, then linear decay
(cfg.tricks.lr_schedule=linear, lr_decay_start=0.5: the paper's 100 + 100 epochs).
The D step comes first and the G step reuses the same fakes (the gankit order; the paper's
code updates G first).

Data: two Fashion-MNIST classes (data.name fashion-mnist, data.domains [A, B]) or a folder with
trainA/ trainB/ testA/ testB/ (data.name unpaired). Up to 500 images (10%) of each training
domain are held out for `evaluate`; the test split is only read by `evaluate_checkpoint`.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit import __version__
from gankit.build import lr_factor, make_optimizer, place_model
from gankit.config import Config, from_dict, resolution_hw
from gankit.data import ImageData
from gankit.data.unpaired import UnpairedSampler, check_fashion_domains, load_fashion_domains, load_unpaired
from gankit.errors import GankitError
from gankit.losses import get_loss
from gankit.metrics import extract_features, feature_protocol, fid_from_features
from gankit.models.patchgan import PatchDiscriminator, min_input_side
from gankit.models.resnet_gen import ResnetGenerator
from gankit.sample import image_grid
from gankit.train.distributed import DistEnv
from gankit.train.speed import autocast, check_precision

KIND = "translation"
DATA_NAMES = ("fashion-mnist", "unpaired")
VAL_MAX = 500  # validation images held out of each training domain (at most 10% of it)
VAL_SEED = 20_170_330  # fixed: every run of a dataset holds out the same validation images
SAMPLE_ROWS = 8  # rows of a sample grid (each row: a | G_AB(a) | rec a | b | G_BA(b) | rec b)
DIRECTIONS = {"AtoB": "G_AB", "BtoA": "G_BA"}


class ImagePool:
    """A history of past fakes for a discriminator (Shrivastava et al. 2017; CycleGAN's 50-image buffer).

    `query(fakes [B, C, H, W]) -> [B, C, H, W]`: while the pool holds fewer than `size` images each
    fake is stored and returned as is; once full, each fake is, with probability 1/2, swapped for a
    random stored one (which is returned, the new fake taking its slot), else returned as is.
    Random choices come from torch's global RNG; the stored images are in `state_dict()`.
    `size=0` returns the fakes unchanged.
    """

    def __init__(self, size: int) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise GankitError(f"image pool size must be an integer >= 0, got {size!r}")
        self.size = size
        self.images: Tensor | None = None  # [size, C, H, W] once the first fake arrives
        self.count = 0  # slots filled

    def query(self, fakes: Tensor) -> Tensor:
        fakes = fakes.detach()
        if self.size == 0:
            return fakes
        if self.images is None:
            self.images = torch.empty((self.size, *fakes.shape[1:]), dtype=fakes.dtype, device=fakes.device)
        out = []
        for fake in fakes:
            if self.count < self.size:
                self.images[self.count] = fake
                self.count += 1
                out.append(fake)
            elif torch.rand(()).item() < 0.5:
                slot = int(torch.randint(self.size, ()).item())
                out.append(self.images[slot].clone())
                self.images[slot] = fake
            else:
                out.append(fake)
        return torch.stack(out)

    def state_dict(self) -> dict:
        images = self.images[:self.count].clone() if self.images is not None else torch.empty(0)
        return {"size": self.size, "count": self.count, "images": images}

    def load_state_dict(self, state: dict) -> None:
        if int(state["size"]) != self.size:
            raise GankitError(f"the checkpoint's image pool holds {state['size']} images, this run's "
                              f"cycle.pool_size is {self.size}; resume with the same pool_size")
        self.count = int(state["count"])
        self.images = None
        if self.count > 0:
            stored = state["images"]
            self.images = torch.empty((self.size, *stored.shape[1:]), dtype=stored.dtype, device=stored.device)
            self.images[:self.count] = stored


# ---------------------------------------------------------------- config and data


def validate_cycle(cfg: Config) -> None:
    """Range checks of cfg.cycle and the data a CycleGAN/DiscoGAN run needs; one-line GankitError."""
    c, d = cfg.cycle, cfg.data
    for name in ("lambda_cycle", "lambda_identity"):
        value = getattr(c, name)
        if not isinstance(value, (int, float)) or value < 0:
            raise GankitError(f"cycle.{name} must be a number >= 0, got {value!r}")
    for name, low, high in (("pool_size", 0, 100_000), ("resnet_blocks", 0, 64), ("d_layers", 1, 6)):
        value = getattr(c, name)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise GankitError(f"cycle.{name} must be an integer in {low}..{high}, got {value!r}")
    if d.name not in DATA_NAMES:
        raise GankitError(f"{cfg.model.family} trains on two unpaired domains: set data.name to fashion-mnist "
                          f"(with data.domains [A, B]) or unpaired (with --data FOLDER), not {d.name!r}")
    if d.name == "fashion-mnist":
        check_fashion_domains(d.domains)
        height, width = resolution_hw(d.resolution)
        if height != width:
            raise GankitError(f"fashion-mnist domains are square; set data.resolution to one int, got {d.resolution!r}")
    elif not d.path:
        raise GankitError("data.name unpaired needs a folder with trainA/ and trainB/; pass --data FOLDER")
    height, width = resolution_hw(d.resolution)
    need = min_input_side(c.d_layers) if cfg.model.family == "cyclegan" else 2**c.d_layers
    if min(height, width) < need:
        raise GankitError(f"cycle.d_layers={c.d_layers} needs images of at least {need}x{need}, "
                          f"got {height}x{width}; lower cycle.d_layers")


def image_channels(cfg: Config) -> int:
    """Channels of both domains' images: 1 for Fashion-MNIST, data.channels for folders."""
    return 1 if cfg.data.name == "fashion-mnist" else cfg.data.channels


def load_domains(cfg: Config, split: str) -> tuple[ImageData, ImageData]:
    """Domains A and B of `split` ("train" or "test") as the config names them."""
    d = cfg.data
    if d.name == "fashion-mnist":
        return load_fashion_domains(d.domains, split, resolution_hw(d.resolution)[0], root=d.path or None)
    return load_unpaired(d.path, resolution_hw(d.resolution), d.channels, split, d.crop)


def hold_out(data: ImageData, limit: int = 0) -> tuple[ImageData, ImageData]:
    """(train, validation): min(500, 10%) images (at least 1) picked by a fixed seed go to validation;
    `limit > 0` keeps only the first `limit` of the remaining training images."""
    if len(data) < 2:
        raise GankitError(f"a domain has {len(data)} image(s); CycleGAN needs at least 2 per domain "
                          "(one is held out for validation)")
    n_val = max(1, min(VAL_MAX, len(data) // 10))
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(VAL_SEED))
    val_index, train_index = order[:n_val].sort().values, order[n_val:].sort().values
    if limit > 0:
        train_index = train_index[:limit]

    def pick(index: Tensor) -> ImageData:
        labels = None if data.labels is None else data.labels[index]
        return ImageData(data.images[index].contiguous(), labels, data.class_names)

    return pick(train_index), pick(val_index)


def build_networks(cfg: Config) -> dict[str, nn.Module]:
    """G_AB, G_BA (ResNet, instance norm) and D_A, D_B (PatchGAN, instance norm), freshly initialised."""
    ch, c, m = image_channels(cfg), cfg.cycle, cfg.model
    return {
        "G_AB": ResnetGenerator(ch, ch, m.g_width, c.resnet_blocks),
        "G_BA": ResnetGenerator(ch, ch, m.g_width, c.resnet_blocks),
        "D_A": PatchDiscriminator(ch, m.d_width, c.d_layers, norm="instance"),
        "D_B": PatchDiscriminator(ch, m.d_width, c.d_layers, norm="instance"),
    }


# ---------------------------------------------------------------- scores


@torch.no_grad()
def translate_all(G: nn.Module, x: Tensor, device: torch.device, batch: int = 250) -> Tensor:
    """`G` over `x [N, C, H, W]` in batches, in eval mode (restored after); result on CPU."""
    was_training = G.training
    G.eval()
    try:
        return torch.cat([G(part.to(device)).float().cpu() for part in x.split(batch)])
    finally:
        G.train(was_training)


def translation_scores(G_AB: nn.Module, G_BA: nn.Module, a: ImageData, b: ImageData, classes: tuple | None,
                       device: torch.device) -> dict:
    """Scores of both directions on domains `a`, `b` (images [N, C, H, W] in [-1, 1]).

    cycle_l1_A = mean |G_BA(G_AB(a)) - a| on the [-1, 1] scale (likewise B; cycle_l1 their mean).
    With `classes` (Fashion-MNIST class of A, of B): target_share_AtoB = share of G_AB(a) the shipped
    Fashion classifier labels class B (likewise BtoA; target_share their mean), and fid_AtoB = FID of
    G_AB(a) against the real b on the classifier's 256-d features (likewise BtoA).
    """
    fake_b, fake_a = translate_all(G_AB, a.images, device), translate_all(G_BA, b.images, device)
    rec_a, rec_b = translate_all(G_BA, fake_b, device), translate_all(G_AB, fake_a, device)
    out = {"cycle_l1_A": (rec_a - a.images).abs().mean().item(), "cycle_l1_B": (rec_b - b.images).abs().mean().item()}
    out["cycle_l1"] = (out["cycle_l1_A"] + out["cycle_l1_B"]) / 2
    if classes is not None:
        for name, fake, real, target in (("AtoB", fake_b, b, classes[1]), ("BtoA", fake_a, a, classes[0])):
            fake_features, logits = extract_features(fake, "fashion-mnist", device=device)
            real_features, _ = extract_features(real.images, "fashion-mnist", device=device, with_logits=False)
            out[f"target_share_{name}"] = (logits.argmax(dim=1) == target).float().mean().item()
            out[f"fid_{name}"] = fid_from_features(real_features, fake_features)
        out["target_share"] = (out["target_share_AtoB"] + out["target_share_BtoA"]) / 2
    return out


def score_protocol(cfg: Config, n_a: int, n_b: int, split: str, seed: int) -> dict:
    """What a `translation_scores` result depends on, recorded beside it."""
    protocol = {"compared": "G_AB(A) vs real B and G_BA(B) vs real A; cycle L1 on [-1, 1]",
                "n_A": n_a, "n_B": n_b, "split": split, "networks": ["G_AB", "G_BA"], "seed": seed,
                "data": cfg.data.name, "gankit_version": __version__}
    if cfg.data.name == "fashion-mnist":
        protocol["domains"] = list(cfg.data.domains)
        protocol["features"] = feature_protocol("fashion-mnist")
    return protocol


# ---------------------------------------------------------------- the family


class CycleGAN:
    """CycleGAN's training state for the run loop (see gankit/families/base.py for the contract)."""

    def __init__(self, cfg: Config, device: torch.device, env: DistEnv) -> None:
        validate_cycle(cfg)
        if cfg.runtime.precision == "fp16":
            raise GankitError(f"{cfg.model.family} does not support runtime.precision fp16; use bf16 or fp32")
        check_precision(cfg.runtime.precision, device)
        self.cfg, self.device, self.env = cfg, device, env
        self.d_loss, self.g_loss = get_loss(cfg.loss.name)
        domain_a, domain_b = load_domains(cfg, "train")
        train_a, self.val_a = hold_out(domain_a, cfg.data.limit)
        train_b, self.val_b = hold_out(domain_b, cfg.data.limit)
        self.classes = tuple(cfg.data.domains) if cfg.data.name == "fashion-mnist" else None
        self.sampler = UnpairedSampler(train_a, train_b, cfg.train.batch_size, cfg.seed, device,
                                       env.rank, env.world_size)
        shape = tuple(train_a.images.shape[1:])
        self.networks = {name: place_model(net, device, shape) for name, net in self.make_networks().items()}
        self.run = dict(self.networks)  # what the forwards go through (DDP wrappers after wrap())
        t = cfg.train
        g_params = [p for name in ("G_AB", "G_BA") for p in self.networks[name].parameters()]
        d_params = [p for name in ("D_A", "D_B") for p in self.networks[name].parameters()]
        self.optimizers = {"g": make_optimizer(t.optimizer, g_params, t.g_lr, t.g_betas),
                           "d": make_optimizer(t.optimizer, d_params, t.d_lr, t.d_betas)}
        tr = cfg.tricks
        horizon = tr.schedule_steps or t.steps

        def factor(step: int) -> float:
            return lr_factor(tr.lr_schedule, step, horizon, tr.lr_decay_start, tr.lr_final)

        self.schedulers = {k: torch.optim.lr_scheduler.LambdaLR(opt, factor) for k, opt in self.optimizers.items()}
        self.scalers: dict = {}
        self.images_per_step = 2 * t.batch_size  # one batch of each domain
        self.pools = {"A": ImagePool(cfg.cycle.pool_size), "B": ImagePool(cfg.cycle.pool_size)}
        rows = max(1, min(SAMPLE_ROWS, cfg.log.n_samples // 6 or 1, len(self.val_a), len(self.val_b)))
        self.fixed_a, self.fixed_b = self.val_a.images[:rows].clone(), self.val_b.images[:rows].clone()
        self.step = 0

    def make_networks(self) -> dict[str, nn.Module]:
        return build_networks(self.cfg)

    def wrap(self, wrap_module) -> None:
        """Run the training forwards through `wrap_module(net)` (DDP); G's step scores with the bare Ds."""
        self.run = {name: wrap_module(net) for name, net in self.networks.items()}

    def train_step(self) -> dict[str, Tensor]:
        """One CycleGAN step: both Ds on real vs pooled fakes, then both Gs (adversarial + cycle + identity)."""
        cfg, run = self.cfg.cycle, self.run
        a, b = self.sampler.next()
        with autocast(self.device, self.cfg.runtime.precision):
            fake_b, fake_a = run["G_AB"](a), run["G_BA"](b)
            # D step: real images vs fakes from the history pools.
            d_a = self.d_loss(run["D_A"](a), run["D_A"](self.pools["A"].query(fake_a)))
            d_b = self.d_loss(run["D_B"](b), run["D_B"](self.pools["B"].query(fake_b)))
        self._update("d", d_a + d_b)
        # G step: the updated Ds judge the same fakes; their weights are frozen so only G gets gradients.
        discriminators = [self.networks["D_A"], self.networks["D_B"]]
        for D in discriminators:
            D.requires_grad_(False)
        try:
            with autocast(self.device, self.cfg.runtime.precision):
                adversarial = self.g_loss(self.networks["D_B"](fake_b)) + self.g_loss(self.networks["D_A"](fake_a))
                cycle = F.l1_loss(run["G_BA"](fake_b), a) + F.l1_loss(run["G_AB"](fake_a), b)
                g_total = adversarial + cfg.lambda_cycle * cycle
                identity = torch.zeros((), device=a.device)
                if cfg.lambda_identity > 0:
                    identity = F.l1_loss(run["G_BA"](a), a) + F.l1_loss(run["G_AB"](b), b)
                    g_total = g_total + cfg.lambda_identity * cfg.lambda_cycle * identity
            self._update("g", g_total)
        finally:
            for D in discriminators:
                D.requires_grad_(True)
        self._end_step()
        return {"d_loss": (d_a + d_b).detach(), "d_loss_A": d_a.detach(), "d_loss_B": d_b.detach(),
                "g_loss": adversarial.detach(), "cycle_l1": cycle.detach(), "identity_l1": identity.detach()}

    def _update(self, name: str, loss: Tensor) -> None:
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def _end_step(self) -> None:
        for scheduler in self.schedulers.values():
            scheduler.step()
        self.step += 1

    def state_dict(self) -> dict:
        return {"step": self.step, "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
                "pools": {k: p.state_dict() for k, p in self.pools.items()},
                "fixed_a": self.fixed_a.clone(), "fixed_b": self.fixed_b.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.step = int(state["step"])
        for k, s in self.schedulers.items():
            s.load_state_dict(state["schedulers"][k])
        for k, p in self.pools.items():
            p.load_state_dict(state["pools"][k])
        self.fixed_a, self.fixed_b = state["fixed_a"].clone(), state["fixed_b"].clone()

    def write_samples(self, path: Path) -> None:
        """One PNG: each row a | G_AB(a) | G_BA(G_AB(a)) | b | G_BA(b) | G_AB(G_BA(b)) on held-out images."""
        G_AB, G_BA = self.networks["G_AB"], self.networks["G_BA"]
        ab = translate_all(G_AB, self.fixed_a, self.device)
        ba = translate_all(G_BA, self.fixed_b, self.device)
        aba, bab = translate_all(G_BA, ab, self.device), translate_all(G_AB, ba, self.device)
        rows = torch.stack([self.fixed_a.cpu(), ab, aba, self.fixed_b.cpu(), ba, bab], dim=1)  # [R, 6, C, H, W]
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        image_grid(rows.flatten(0, 1), nrow=6).save(path)

    def evaluate(self, seed: int) -> tuple[dict, str, bool]:
        """Scores on the validation images held out of training (never the test split).

        Primary: target_share (higher is better) for Fashion-MNIST domains, else cycle_l1 (lower)."""
        n = self.cfg.eval.n or VAL_MAX
        val_a, val_b = _first(self.val_a, n), _first(self.val_b, n)
        result = translation_scores(self.networks["G_AB"], self.networks["G_BA"], val_a, val_b, self.classes,
                                    self.device)
        result["protocol"] = score_protocol(self.cfg, len(val_a), len(val_b), "validation (held out of train)", seed)
        if self.classes is not None:
            return result, "target_share", False
        return result, "cycle_l1", True


def _first(data: ImageData, n: int) -> ImageData:
    labels = None if data.labels is None else data.labels[:n]
    return ImageData(data.images[:n], labels, data.class_names)


def build(cfg: Config, device: torch.device, env: DistEnv) -> CycleGAN:
    """A freshly initialised CycleGAN for `cfg` (the loop seeds torch first)."""
    return CycleGAN(cfg, device, env)


def input_shape(cfg: Config) -> tuple[int, int, int]:
    """`(C, H, W)` both generators take (`gankit translate` fits inputs to it): the training resolution."""
    return (image_channels(cfg), *resolution_hw(cfg.data.resolution))


def load_output_network(cfg: Config, state: dict, device: torch.device, direction: str,
                        make_networks=build_networks) -> nn.Module:
    """G_AB for direction "AtoB", G_BA for "BtoA", rebuilt from the config and loaded from `state`, in eval mode."""
    if direction not in DIRECTIONS:
        raise GankitError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    name = DIRECTIONS[direction]
    if name not in state:
        raise GankitError(f"the checkpoint has no {name}; it is not from a {cfg.model.family} run")
    G = make_networks(cfg)[name]
    G.load_state_dict(state[name])
    return G.to(device).eval()


def evaluate_checkpoint(cfg: Config, state: dict, device: torch.device, args, make_networks=build_networks) -> dict:
    """`gankit eval`: both directions on the `args.split` (default test) images of each domain.

    Returns cycle_l1(_A, _B) and, for Fashion-MNIST domains, target_share(_AtoB, _BtoA) and
    fid_AtoB / fid_BtoA (against the real test images of the target domain), plus `protocol`.
    `args.n` > 0 caps the images per domain (the first n)."""
    if not isinstance(cfg, Config):
        cfg = from_dict(cfg)
    split = getattr(args, "split", None) or "test"
    n = int(getattr(args, "n", 0) or 0)
    a, b = load_domains(cfg, split)
    if n > 0:
        a, b = _first(a, n), _first(b, n)
    G_AB = load_output_network(cfg, state, device, "AtoB", make_networks)
    G_BA = load_output_network(cfg, state, device, "BtoA", make_networks)
    classes = tuple(cfg.data.domains) if cfg.data.name == "fashion-mnist" else None
    result = translation_scores(G_AB, G_BA, a, b, classes, device)
    result["protocol"] = score_protocol(cfg, len(a), len(b), split, int(getattr(args, "seed", 0) or 0))
    return result
