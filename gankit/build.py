"""The one place that turns a resolved Config into objects.

Models are rebuilt from the saved config alone (no dataset needed), which is how
`gankit sample` and `gankit eval` work from a checkpoint file.
"""

import inspect
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from gankit.config import Config, DataConfig, resolution_hw
from gankit.errors import GankitError
from gankit.models.latent import LatentMixtureG, StdAnneal, TruncationSwitch
from gankit.models.refbn import RefBatchG
from gankit.models.tricks import MinibatchHeadD, PackedD, packed_shape, spectral_norm_all
from gankit.models.conditional import conditional_shapes, wrap_conditional


REF_BATCH_SEED_OFFSET = 2_000_003  # the reference batch of G's norm layers has its own noise stream
LATENT_MIXTURE_SEED_OFFSET = 3_000_017  # and so do the means of a mixture latent


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA, then Apple MPS, then CPU; asking for a missing accelerator is a user error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise GankitError(f"device '{name}' was asked for but CUDA is not available here; use --device auto or cpu")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise GankitError("device 'mps' was asked for but Apple MPS is not available here; use --device auto or cpu")
    return torch.device(name)


def place_model(model: nn.Module, device: torch.device, shape: tuple[int, ...]) -> nn.Module:
    """Move `model` to `device`; image models on CPU go channels_last (NHWC convolutions are
    markedly faster there, and gankit's models keep their reshapes consistent with it)."""
    model.to(device)
    if len(shape) == 3 and device.type == "cpu":
        model.to(memory_format=torch.channels_last)
    return model


def data_shape(data: DataConfig, audio_length: int | None = None) -> tuple[int, ...]:
    """The shape of one sample, known from the config without loading any data
    (`audio_length`: raw audio clips `[1, L]`, WaveGAN's data)."""
    if audio_length is not None:
        return (1, audio_length)
    if data.name == "toy":
        return (2,)
    height, width = resolution_hw(data.resolution)
    channels = data.channels if data.name == "folder" else 3 if data.name == "stacked-fashion" else 1
    return (channels, height, width)


def _construct(cls: type, what: str, args: tuple, options: dict) -> nn.Module:
    """Call a model constructor, turning an unknown option into a one-line error."""
    params = inspect.signature(cls.__init__).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for key in options:
        if key not in params and not takes_any:
            valid = [n for n in params if n not in ("self", "z_dim", "out_shape", "in_shape", "width")]
            raise GankitError(f"model.{what}_options: {cls.__name__} has no option '{key}'; valid: {', '.join(valid)}")
    return cls(*args, **options)


def build_models(cfg: Config) -> tuple[nn.Module, nn.Module]:
    """G and D from the registry, with freshly initialised weights (seed the RNG first)."""
    from gankit.models import MODELS, check_model_shape

    shape = data_shape(cfg.data, cfg.audio.length if cfg.model.name == "wavegan" else None)
    check_model_shape(cfg.model.name, shape)
    g_cls, d_cls = MODELS[cfg.model.name]
    m = cfg.model
    if m.conditioning == "none":
        G = _construct(g_cls, "g", (m.z_dim, shape, m.g_width), m.g_options)
        # PacGAN's D reads `pack` samples stacked along the first axis.
        D = _construct(d_cls, "d", (packed_shape(shape, cfg.tricks.pack), m.d_width), m.d_options)
    else:
        G, D = _build_conditional(cfg, g_cls, d_cls, shape)
    return apply_model_tricks(cfg, G, D, shape)


def apply_model_tricks(cfg: Config, G: nn.Module, D: nn.Module, shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
    """Wrap / edit G and D as `cfg.tricks` says, through the family contract only.

    Spectral norm is applied here (not as a constructor option of each family) so that it
    reaches every weight of any family, including the layers the wrappers add.
    """
    tr = cfg.tricks
    if tr.latent_mixture:
        # Innermost, so a reference batch of z (below) passes through the same latent mixture.
        G = LatentMixtureG(G, tr.latent_mixture, tr.latent_mixture_std, seed=cfg.seed + LATENT_MIXTURE_SEED_OFFSET,
                           layout=tr.latent_mixture_layout, truncation=tr.latent_mixture_truncation,
                           truncate_now=tr.latent_mixture_truncation_start == 0)
    if tr.g_norm != "batch":
        G = RefBatchG(G, tr.g_norm, tr.ref_batch, seed=cfg.seed + REF_BATCH_SEED_OFFSET)
    if tr.minibatch != "none":
        D = MinibatchHeadD(D, tr.minibatch, kernels=tr.mbd_kernels, group_size=tr.stddev_group)
    if tr.pack > 1:
        D = PackedD(D, shape, tr.pack)
    if tr.spectral_norm_d:
        spectral_norm_all(D)
    if tr.spectral_norm_g:
        spectral_norm_all(G)
    return G, D


def _build_conditional(cfg: Config, g_cls: type, d_cls: type, shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
    """Backbones sized for the class embedding, wrapped by `gankit.models.conditional`."""
    m = cfg.model
    if m.num_classes < 2:
        raise GankitError(f"model.conditioning={m.conditioning} needs model.num_classes >= 2 (0 is resolved from the "
                          "data's labels when training); set --set model.num_classes=K")
    g_z, d_shape = conditional_shapes(m.conditioning, m.z_dim, shape, m.embed_dim)
    G = _construct(g_cls, "g", (g_z, shape, m.g_width), m.g_options)
    D = _construct(d_cls, "d", (d_shape, m.d_width), m.d_options)
    return wrap_conditional(m.conditioning, G, D, m.z_dim, shape, m.num_classes, m.embed_dim)


def resolve_num_classes(cfg: Config, num_classes: int) -> None:
    """Fill `cfg.model.num_classes` from the data's class count for a conditional model, in place.

    Raises GankitError when a conditional model meets data without labels, or a set count disagrees.
    """
    m = cfg.model
    if m.conditioning == "none":
        return
    if num_classes < 2:
        raise GankitError(f"model.conditioning={m.conditioning} needs labelled data, but {cfg.data.name} data "
                          f"{'at ' + cfg.data.path + ' ' if cfg.data.path else ''}has no labels (a folder needs one "
                          "subfolder per class); use an unconditional preset or labelled data")
    if m.num_classes not in (0, num_classes):
        raise GankitError(f"model.num_classes={m.num_classes} but the data has {num_classes} classes; "
                          "set model.num_classes=0 to take it from the data")
    m.num_classes = num_classes


def make_optimizer(name: str, params, lr: float, betas: list) -> torch.optim.Optimizer:
    """adam (fused where possible) | rmsprop | sgd over `params`; rmsprop and sgd use betas[0] as momentum."""
    if name == "adam":
        # The fused kernel does the same maths as the per-tensor loop in one pass (it needs >= 1 parameter).
        return torch.optim.Adam(params, lr=lr, betas=tuple(betas), fused=True if params else None)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=betas[0])
    return torch.optim.SGD(params, lr=lr, momentum=betas[0])


def build_optimizers(cfg: Config, G: nn.Module, D: nn.Module) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    t = cfg.train
    opt_g = make_optimizer(t.optimizer, list(G.parameters()), t.g_lr, t.g_betas)
    opt_d = make_optimizer(t.optimizer, list(D.parameters()), t.d_lr, t.d_betas)
    return opt_g, opt_d


def lr_factor(schedule: str, step: int, horizon: int, decay_start: float, final: float) -> float:
    """LR multiplier after `step` G steps: constant 1, or 1 until `decay_start * horizon`, then linear to `final`."""
    if schedule == "constant":
        return 1.0
    start = decay_start * horizon
    if step <= start:
        return 1.0
    progress = min(1.0, (step - start) / max(horizon - start, 1e-9))
    return 1.0 + (final - 1.0) * progress


def build_schedulers(cfg: Config, opt_g, opt_d, G: nn.Module) -> list:
    """What changes with the step, stepped once per train step, state saved in checkpoints: one LambdaLR per
    optimizer (none for a constant LR), the switch that turns on a latent mixture's delayed truncation, and
    the anneal of its std."""
    tr = cfg.tricks
    horizon = tr.schedule_steps or cfg.train.steps
    schedulers: list = []
    if tr.lr_schedule != "constant":
        def factor(step: int) -> float:
            return lr_factor(tr.lr_schedule, step, horizon, tr.lr_decay_start, tr.lr_final)

        schedulers += [torch.optim.lr_scheduler.LambdaLR(opt, factor) for opt in (opt_g, opt_d)]
    mixture = next((m for m in G.modules() if isinstance(m, LatentMixtureG)), None)
    if tr.latent_mixture_truncation_start > 0:
        schedulers.append(TruncationSwitch(mixture, round(tr.latent_mixture_truncation_start * horizon)))
    if tr.latent_mixture_std_final > 0:
        schedulers.append(StdAnneal(mixture, tr.latent_mixture_std, tr.latent_mixture_std_final,
                                    round(tr.latent_mixture_anneal_start * horizon),
                                    round(tr.latent_mixture_anneal_end * horizon)))
    return schedulers


@dataclass
class TrainingData:
    """What the loop needs from the data: a resumable batch stream and a real reference for plots."""

    sampler: object  # TensorSampler or ToySampler: .next() -> (x, labels), .state_dict(), .load_state_dict()
    reference: torch.Tensor  # real samples for scatter plots / comparisons, [M, ...] on CPU
    num_classes: int
    conditional: bool = False  # pass labels on to G and D

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(real `[B, ...]`, labels `[B]` for conditional models, else None)."""
        real, labels = self.sampler.next()
        return real, labels if self.conditional else None

    @property
    def labelled_batches(self):
        """A semi-supervised run's labelled stream (`() -> (x [M, ...], labels [M])`), else None."""
        return getattr(self.sampler, "next_labelled", None)


def build_data(cfg: Config, device: torch.device, rank: int = 0, world_size: int = 1) -> TrainingData:
    """The training batch stream for the config, seeded from cfg.seed."""
    from gankit import data as datasets
    from gankit.data import loading

    batch = cfg.train.batch_size
    if cfg.data.name == "toy":
        mixture = datasets.make_toy(cfg.data.toy)
        sampler = datasets.ToySampler(mixture, batch, cfg.seed, device=device, rank=rank, world_size=world_size)
        reference, _ = mixture.sample(2000, torch.Generator().manual_seed(12345))
        return TrainingData(sampler, reference, 0)
    images = loading.load_images(cfg.data)
    if cfg.data.limit:  # only the training stream is cut; evaluation still compares with the whole real split
        labels = images.labels[:cfg.data.limit] if images.labels is not None else None
        images = datasets.ImageData(images.images[:cfg.data.limit], labels, images.class_names)
    if images.images.shape[0] < batch:
        raise GankitError(
            f"the dataset has {images.images.shape[0]} images, fewer than train.batch_size={batch}; lower the batch size"
        )
    if cfg.model.conditioning == "semi-supervised":
        # Every training image without its label, plus a few labelled ones for D's class head.
        labelled = datasets.labelled_subset(images, cfg.semi.labels_per_class, cfg.semi.label_seed)
        sampler = datasets.SemiSupervisedSampler(images, labelled, batch, cfg.semi.labelled_batch, cfg.seed,
                                                 device=device, rank=rank, world_size=world_size)
        return TrainingData(sampler, images.images[:64], images.num_classes, conditional=False)
    sampler = datasets.TensorSampler(images, batch, cfg.seed, device=device, rank=rank, world_size=world_size)
    conditional = cfg.model.conditioning != "none"
    return TrainingData(sampler, images.images[:64], images.num_classes, conditional=conditional)
