"""Run configuration: dataclass defaults, presets, YAML files and `--set` overrides.

Order of precedence (later wins): dataclass defaults -> preset -> `--config FILE`
-> `--set a.b=v`. Every layer goes through `apply_overrides`, which rejects unknown
keys and values of the wrong type with a one-line `GankitError`; `validate`
then checks ranges. The resolved config is a plain dict (`to_dict`) that is written
into the run directory and every checkpoint, and `from_dict` rebuilds it exactly.
"""

import dataclasses
import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from gankit.errors import GankitError

PRESET_DIR = Path(__file__).parent / "presets"


@dataclass
class DataConfig:
    name: str = "toy"  # toy | fashion-mnist | digits | folder
    toy: str = "ring"  # ring | grid (toy data only)
    path: str = ""  # folder of images or .zip (folder); IDX directory (fashion-mnist, optional)
    resolution: Any = 28  # int (square) or [height, width]
    channels: int = 1  # folder data only; fashion-mnist and digits are greyscale
    split: str = "train"
    crop: str = "center"  # center | none (folder data only)
    limit: int = 0  # train on the first N images only (small-data experiments); 0 = all
    # Image-to-image data (translation families): fashion-mnist classes [A, B] as two unpaired domains,
    # and how a paired folder is laid out (auto | folders: A/ + B/ with matching names | side-by-side: A|B images).
    domains: list = field(default_factory=list)
    layout: str = "auto"


@dataclass
class ModelConfig:
    family: str = "gan"  # the training algorithm: a key of gankit.families.FAMILIES (see FAMILY_NAMES)
    name: str = "mlp"  # a key of gankit.models.MODELS (the gan family's backbone)
    z_dim: int = 64
    g_width: int = 128
    d_width: int = 128
    g_options: dict = field(default_factory=dict)  # extra keyword arguments of the G constructor
    d_options: dict = field(default_factory=dict)  # extra keyword arguments of the D constructor
    conditioning: str = "none"  # none | cgan | projection | acgan | semi-supervised (gankit.models.conditional)
    num_classes: int = 0  # classes of a conditional model; 0 = taken from the data's labels
    embed_dim: int = 32  # class embedding width (G's input; cgan D's extra channels)


@dataclass
class LossConfig:
    name: str = "nonsaturating"  # a key of gankit.losses.LOSSES
    label_smoothing: float = 0.0  # one-sided: real target = 1 - label_smoothing
    penalty: str = "auto"  # auto (wgan-gp for the wgan-gp loss, else none) | none | wgan-gp | r1
    penalty_weight: float = 10.0
    clip: float = 0.0  # WGAN weight clipping: D's weights clamped to [-clip, clip] after each step; 0 = off


@dataclass
class TrainConfig:
    steps: int = 2000  # G updates
    batch_size: int = 64
    n_critic: int = 1  # D steps per G step
    g_steps: int = 1  # G steps per D step
    optimizer: str = "adam"  # adam | rmsprop | sgd
    g_lr: float = 2e-4
    d_lr: float = 2e-4
    g_betas: list = field(default_factory=lambda: [0.5, 0.999])  # adam betas; sgd/rmsprop use betas[0] as momentum
    d_betas: list = field(default_factory=lambda: [0.5, 0.999])
    ema_kimg: float = 0.0  # half-life of the G weight average in thousands of images; 0 = no EMA


@dataclass
class LogConfig:
    every: int = 50  # steps between lines in log.jsonl
    sample_every: int = 500  # steps between sample grids
    checkpoint_every: int = 1000  # steps between checkpoints (latest.pt, plus step-N.pt)
    keep_checkpoints: bool = False  # keep every periodic step-N.pt besides latest.pt
    n_samples: int = 64  # images in each sample grid (points in each toy scatter: 1000)
    progress: bool = True  # show the progress bar
    report: bool = True  # rewrite report.html at each sample interval and at the end
    tensorboard: bool = False  # also write TensorBoard event files to tensorboard/ (pip install -e '.[tensorboard]')


@dataclass
class WatchConfig:
    """The health watchdog (gankit.train.watchdog); `--set watch.enabled=false` turns it off."""

    enabled: bool = True  # roll back non-finite steps and warn about stalls
    lr_factor: float = 0.5  # both learning rates are multiplied by this at each rollback
    max_rollbacks: int = 3  # then the run stops with exit code 3
    d_win_lines: int = 10  # warn after this many log lines in a row where D wins outright
    min_g_grad: float = 1e-6  # warn when G's gradient norm at a log line falls below this
    min_class_share: float = 0.3  # warn when the fixed-noise samples cover at most this share of the classes
    collapse_start: float = 0.25  # ... checked from this share of train.steps on (an untrained G covers few classes)


@dataclass
class EvalConfig:
    every: int = 0  # steps between evaluations during training (metrics.jsonl, best.pt); 0 = off
    metrics: list = field(default_factory=list)  # fid | kid | is | prdc | modes | accuracy; [] = modes (toy), fid (images)
    n: int = 0  # generated samples per evaluation; 0 = protocol default: 2,500 for toy data, 2,000 images
    features: str = "domain"  # domain (gankit's classifier for the dataset) | inception
    # Real split evaluations during training compare with (and best.pt is chosen on): "val", held out of the
    # training images (digits 143, Fashion-MNIST 5,000), never "test"; the test split is scored once at the end.
    # `gankit eval` compares with test unless --split says otherwise.
    split: str = "val"
    patience: int = 0  # stop training after this many evaluations without a new best; 0 = never


@dataclass
class TricksConfig:
    """Stabilisers (issue 4); every default is off, so a config without this section trains as before."""

    spectral_norm_d: bool = False  # spectral norm on every linear/conv weight of D
    spectral_norm_g: bool = False  # ... and of G
    minibatch: str = "none"  # none | stddev (ProGAN) | mbd (minibatch discrimination): a layer before D's score
    mbd_kernels: int = 16  # minibatch discrimination: kernels (features added)
    stddev_group: int = 4  # minibatch stddev: group size
    pack: int = 1  # PacGAN: D scores this many samples concatenated; 1 = off
    g_norm: str = "batch"  # batch | reference | virtual: how G's batch-norm layers get their statistics
    ref_batch: int = 64  # reference batch size for g_norm reference/virtual
    latent_mixture: int = 0  # G's latent is a mixture of this many Gaussians (DeLiGAN); 0 = one Gaussian
    latent_mixture_std: float = 0.1  # std of each mixture component
    latent_mixture_layout: str = "random"  # component means: random (N(0, I) draws) | kmeans (evenly spread over N(0, I))
    latent_mixture_truncation: float = 0.0  # > 0: each component's offsets are normals truncated to [-T, T] stds
    latent_mixture_truncation_start: float = 0.0  # share of the schedule (schedule_steps) trained before truncating
    # The truncation trick when this run's G is sampled or evaluated (its sample grids and evaluations during
    # training, `gankit sample`, `gankit eval`, `gankit bench modes`), as G_ema is used; a --truncation flag overrides.
    sample_truncation: float = 0.0  # > 0: latents within this many stds (mixture latents: each component's offsets); 0 = off
    latent_mixture_std_final: float = 0.0  # > 0: the std anneals linearly to this value; 0 = constant std
    latent_mixture_anneal_start: float = 0.3  # share of the schedule where the std anneal starts ...
    latent_mixture_anneal_end: float = 0.8  # ... and where it reaches latent_mixture_std_final
    feature_matching: float = 0.0  # weight of the feature-matching term in G's loss; 0 = off
    feature_matching_only: bool = False  # G's loss is feature matching alone, no adversarial term (Salimans' SSL recipe)
    unrolled_steps: int = 0  # unrolled GAN: D steps unrolled for G's update; 0 = off
    augment: str = ""  # DiffAugment policy, comma list of color, translation, cutout; "" = off
    instance_noise: float = 0.0  # std of Gaussian noise on D inputs at step 0, annealed linearly to 0
    label_flip: float = 0.0  # probability of swapping a real/fake pair's targets in D's loss
    penalty_every: int = 1  # lazy regularisation: apply loss.penalty every k D steps, weighted by k
    lr_schedule: str = "constant"  # constant | linear (both nets; linear decay after lr_decay_start)
    lr_decay_start: float = 0.5  # fraction of the schedule where linear decay starts
    lr_final: float = 0.0  # LR factor reached at the end of the schedule
    schedule_steps: int = 0  # horizon (G steps) of the LR schedule and the noise annealing; 0 = train.steps
    # Top-k training of G (Sinha et al. 2020): only the fakes D scores highest enter G's loss, so G is
    # not pulled by samples it has already placed badly. The kept share starts at 1, is multiplied by
    # topk_decay every topk_every G steps, and stops at topk_min.
    topk_min: float = 1.0  # smallest share of the batch kept (paper: 0.5); 1.0 = off
    topk_decay: float = 0.99  # factor on the kept share per interval
    topk_every: int = 100  # G steps per interval (the paper's "epoch")


@dataclass
class RuntimeConfig:
    """How the step runs (speed and scale), not what is trained."""

    precision: str = "fp32"  # fp32 | bf16 | fp16 (autocast; fp16 adds loss scaling and needs CUDA)
    compile: bool = False  # torch.compile G and D (measured, not assumed: see benchmarks/throughput.py)
    sync_bn: bool = False  # under torchrun with several processes: batch norm statistics over all ranks (CUDA)
    threads: int = 0  # CPU threads for torch; 0 = torch's default (one per core)


@dataclass
class CondConfig:
    aux_weight: float = 1.0  # weight of the ACGAN class loss (cross-entropy) in both D's and G's loss


@dataclass
class SemiConfig:
    """Semi-supervised GAN (model.conditioning=semi-supervised): which labels D may learn from."""

    labels_per_class: int = 10  # training images per class that keep their label; the rest are used unlabelled
    labelled_batch: int = 100  # labelled images in each D step's supervised term (capped at the labelled count)
    sup_weight: float = 1.0  # weight of the supervised cross-entropy in D's loss
    label_seed: int = 0  # picks which images keep their labels; fixed, so a run and its baseline share them


@dataclass
class Pix2PixConfig:
    """pix2pix (Isola et al. 2017): U-Net G, PatchGAN D on (input, output) pairs, adversarial + L1."""

    l1_weight: float = 100.0  # weight of the L1 distance to the target in G's loss
    d_layers: int = 3  # PatchGAN stride-2 layers: 3 = the paper's 70x70 receptive field at 256 px
    g_dropout: float = 0.5  # dropout in the U-Net's innermost decoder blocks (pix2pix's only noise)
    adversarial: bool = True  # false = the same U-Net trained with L1 alone (the benchmark's baseline)


@dataclass
class CycleConfig:
    """CycleGAN (Zhu et al. 2017) and DiscoGAN (Kim et al. 2017): two generators, two discriminators."""

    lambda_cycle: float = 10.0  # weight of the cycle-consistency L1 (CycleGAN); DiscoGAN's reconstruction weight
    lambda_identity: float = 0.5  # identity loss weight as a share of lambda_cycle (CycleGAN only; 0 = off)
    pool_size: int = 50  # fakes kept in each D's history pool; 0 = no pool
    resnet_blocks: int = 6  # residual blocks in a CycleGAN generator
    d_layers: int = 3  # PatchGAN stride-2 layers of each D


@dataclass
class SRConfig:
    """SRGAN (Ledig et al. 2017): low-res -> high-res with a residual, pixel-shuffle G."""

    scale: int = 4  # upsampling factor: 2 or 4
    residual_blocks: int = 8  # residual blocks in G
    mse_weight: float = 1.0  # pixel MSE weight in G's loss
    content_weight: float = 1.0  # weight of the feature-space (content) MSE; 0 = off
    adversarial_weight: float = 1e-3  # weight of the adversarial term; 0 = the MSE-only baseline (SRResNet)
    feature_network: str = "auto"  # auto (the dataset's shipped domain classifier) | none | path of a TorchScript file


@dataclass
class BigGANConfig:
    """BigGAN (Brock et al. 2019) / SNGAN ResNet (Miyato et al. 2018): model.family=biggan."""

    shared_dim: int = 128  # width of G's shared class embedding (one for every block's conditional batch norm)
    hierarchical_z: bool = True  # split z across G's input and every block's batch norms (skip-z)
    orthogonal: float = 1e-4  # weight of the orthogonal regulariser on G's weights (paper: 1e-4); 0 = off


@dataclass
class AudioConfig:
    """Audio data and the WaveGAN / SpecGAN families (Donahue et al. 2019); data.name spoken-digits | audio-folder."""

    length: int = 16384  # samples per clip at audio.rate; WaveGAN needs 16 * 4**k (1024, 4096, 16384, ...)
    rate: int = 16000  # Hz the model works at: clips are resampled to it; outputs are written at it, scored at 16 kHz
    phase_shuffle: int = 2  # WaveGAN D: random time shift of +-n samples after each conv but the last; 0 = off
    n_fft: int = 256  # SpecGAN STFT window; the spectrogram is (n_fft / 2) x (length / hop)
    hop: int = 128  # SpecGAN STFT hop in samples
    clip_std: float = 3.0  # SpecGAN: per-bin standardised log-magnitudes clipped at this many stds, then scaled to [-1, 1]
    griffin_lim_iterations: int = 32  # SpecGAN: Griffin-Lim iterations when a spectrogram is turned into audio
    wav_samples: int = 4  # clips in each samples/step-XXXXXXX.wav written next to a sample grid


@dataclass
class ProGANConfig:
    """ProGAN (Karras et al. 2018): G and D grow from start_resolution to data.resolution, doubling, each new level faded in."""

    start_resolution: int = 4  # shorter side of the first level; data.resolution's shorter side must be start * 2^k
    fade_kimg: float = 600.0  # thousands of real images over which each new level fades in (alpha 0 -> 1)
    stable_kimg: float = 600.0  # thousands of real images each level trains at alpha 1 (the first level too)
    fmap_base: int = 0  # > 0: a level of resolution R has min(width, fmap_base / R) feature maps; 0 = the width everywhere
    drift: float = 0.001  # weight of the drift penalty E[D(real)^2] in D's loss (keeps WGAN scores near 0)
    reset_optimizer: bool = True  # clear both Adam states when a new level starts fading in (as the paper's code does)
    stddev_group: int = 4  # group size of D's minibatch standard deviation


@dataclass
class StyleGANConfig:
    """StyleGAN2-style G (Karras et al. 2019, 2020): mapping network, learned constant, modulated convs, noise inputs.

    R1 is loss.penalty=r1 (weight loss.penalty_weight = gamma, lazy every tricks.penalty_every D steps);
    truncation in W is tricks.sample_truncation (psi; 0 = off) or --truncation."""

    start_resolution: int = 4  # shorter side of the learned constant; data.resolution's shorter side must be start * 2^k
    mapping_depth: int = 8  # dense layers of the mapping network z -> w
    w_dim: int = 0  # width of w; 0 = model.z_dim
    fmap_base: int = 0  # > 0: a level of resolution R has min(width, fmap_base / R) feature maps; 0 = the width everywhere
    mixing_prob: float = 0.9  # style mixing regularisation: share of G batches that switch to a second z's styles
    w_avg_beta: float = 0.995  # decay per G step of the tracked mean w (the centre of truncation in W)
    truncation_cutoff: int = 0  # truncation in W touches the first this many style inputs; 0 = all of them
    pl_weight: float = 0.0  # path-length regularisation weight (StyleGAN2 uses 2); 0 = off
    pl_every: int = 4  # lazy path-length regularisation: every this many G steps, weighted by it
    pl_decay: float = 0.01  # rate of the running mean of path lengths
    pl_batch_shrink: int = 2  # the path-length batch is train.batch_size divided by this
    style_mode: str = "modulate"  # modulate (StyleGAN2 weight modulation/demodulation) | adain (StyleGAN's AdaIN)
    stddev_group: int = 4  # group size of D's minibatch standard deviation


@dataclass
class EBGANConfig:
    """EBGAN (Zhao et al. 2017): D is an autoencoder whose energy is its mean squared reconstruction error."""

    margin: float = 1.0  # m in D's loss D(x) + max(0, m - D(G(z))) (energies: per-pixel MSE on [-1, 1] images)
    pullaway_weight: float = 0.1  # weight of the pull-away term on D's codes of the fake batch in G's loss; 0 = off
    code_dim: int = 64  # width of the autoencoder's code (the pull-away term's representation)
    convs: int = 2  # 3x3 convs per scale in the autoencoder D (the paper: 2; the Fashion-MNIST preset: 1, for CPU speed)


@dataclass
class BEGANConfig:
    """BEGAN (Berthelot et al. 2017): autoencoder D, L1 reconstruction loss, equilibrium control by k_t."""

    gamma: float = 0.5  # diversity ratio E[L(G(z))] / E[L(x)] the controller holds (lower = sharper, less diverse)
    lambda_k: float = 0.001  # gain of the k_t update (k's learning rate)
    k_init: float = 0.0  # k_0, in [0, 1]
    clip_k: bool = True  # keep k_t in [0, 1] (the BEGAN paper); false: unbounded, as Lucic et al.'s code has it
    code_dim: int = 64  # width of the autoencoder's code
    convs: int = 2  # 3x3 convs per scale in the autoencoder D and in G (the paper: 2; began-fashion: 1, for CPU speed)
    # began: BEGAN's own networks (model.g_width / d_width, began.convs); infogan: Lucic et al.'s (28x28 only): the
    # shared InfoGAN G (model.g_width) and an autoencoder D of the shared D's convs (model.d_width, began.code_dim)
    networks: str = "began"


@dataclass
class Config:
    description: str = ""
    preset: str = ""
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    log: LogConfig = field(default_factory=LogConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    watch: WatchConfig = field(default_factory=WatchConfig)
    tricks: TricksConfig = field(default_factory=TricksConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    cond: CondConfig = field(default_factory=CondConfig)
    semi: SemiConfig = field(default_factory=SemiConfig)
    pix2pix: Pix2PixConfig = field(default_factory=Pix2PixConfig)
    cycle: CycleConfig = field(default_factory=CycleConfig)
    sr: SRConfig = field(default_factory=SRConfig)
    ebgan: EBGANConfig = field(default_factory=EBGANConfig)
    began: BEGANConfig = field(default_factory=BEGANConfig)
    progan: ProGANConfig = field(default_factory=ProGANConfig)
    stylegan: StyleGANConfig = field(default_factory=StyleGANConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    biggan: BigGANConfig = field(default_factory=BigGANConfig)


def to_dict(cfg: Config) -> dict:
    """Plain nested dict of the config (YAML- and checkpoint-safe)."""
    return dataclasses.asdict(cfg)


def from_dict(values: dict) -> Config:
    """Rebuild a Config from `to_dict` output (or any partial nested dict)."""
    cfg = Config()
    apply_overrides(cfg, values, source="saved config")
    return cfg


def _type_ok(expected: Any, value: Any) -> bool:
    if expected is Any:
        return True
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def _yaml11_float(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def _suggest(key: str, options: list[str]) -> str:
    close = difflib.get_close_matches(key, options, n=1)
    return f" (did you mean '{close[0]}'?)" if close else f" (known keys: {', '.join(options)})"


def apply_overrides(obj: Any, values: dict, source: str, prefix: str = "") -> None:
    """Set fields of the dataclass `obj` from a nested dict, checking keys and types.

    Unknown keys and wrong types raise GankitError naming the key and `source`.
    """
    if not isinstance(values, dict):
        raise GankitError(f"{source}: expected a mapping for '{prefix or 'config'}', got {values!r}")
    hints = get_type_hints(type(obj))
    for key, value in values.items():
        name = f"{prefix}{key}"
        if key not in hints:
            raise GankitError(f"{source}: unknown config key '{name}'{_suggest(key, list(hints))}")
        expected = hints[key]
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            apply_overrides(current, value, source, prefix=f"{name}.")
            continue
        if expected is float and isinstance(value, str):
            value = _yaml11_float(value)  # YAML 1.1 reads '1e-4' (no dot) as a string
        if not _type_ok(expected, value):
            raise GankitError(
                f"{source}: '{name}' must be of type {expected.__name__}, got {value!r}; "
                f"e.g. --set {name}={current!r}"
            )
        if expected is float:
            value = float(value)
        setattr(obj, key, value)


def parse_set(assignment: str) -> dict:
    """Turn 'a.b=v' into {'a': {'b': v}}; v is parsed as YAML (so 3, 1e-4, true, [1, 2] work)."""
    if "=" not in assignment:
        raise GankitError(f"--set expects key=value, got '{assignment}'; e.g. --set train.steps=500")
    key, raw = assignment.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if isinstance(value, str):
        value = _yaml11_float(value) if re.fullmatch(r"[-+]?\d+(\.\d*)?[eE][-+]?\d+", value) else value
    nested: dict = {}
    node = nested
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return nested


def read_yaml(path: str | Path, what: str = "config file") -> dict:
    """Load a YAML mapping, turning I/O and syntax problems into one-line errors."""
    path = Path(path)
    if not path.is_file():
        raise GankitError(f"{what} {path} does not exist; check the path")
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        first = str(err).splitlines()[0]
        raise GankitError(f"{what} {path} is not valid YAML ({first}); fix the syntax") from None
    if not isinstance(values, dict):
        raise GankitError(f"{what} {path} must hold a mapping of config keys")
    return values


def list_presets() -> dict[str, str]:
    """Preset name -> one-line description, sorted by name."""
    out = {}
    for path in sorted(PRESET_DIR.glob("*.yaml")):
        out[path.stem] = str(read_yaml(path, "preset").get("description", ""))
    return out


def load_preset(name: str) -> dict:
    path = PRESET_DIR / f"{name}.yaml"
    if not path.is_file():
        names = list(list_presets())
        raise GankitError(f"unknown preset '{name}'{_suggest(name, names)}; `gankit presets` lists them")
    values = read_yaml(path, "preset")
    values["preset"] = name
    return values


def resolve(preset: str | None, config_file: str | None, sets: list[str]) -> Config:
    """Build the resolved config from the layers, then validate it."""
    cfg = Config()
    if preset:
        apply_overrides(cfg, load_preset(preset), source=f"preset {preset}")
    if config_file:
        apply_overrides(cfg, read_yaml(config_file), source=str(config_file))
    for assignment in sets:
        apply_overrides(cfg, parse_set(assignment), source=f"--set {assignment}")
    validate(cfg)
    return cfg


DATA_NAMES = ("toy", "fashion-mnist", "digits", "folder", "paired", "unpaired", "fashion-edges", "spoken-digits", "audio-folder",
              "stacked-fashion")
# Metric names of eval.metrics and `gankit eval --metrics` (scored by gankit.metrics.evaluate);
# accuracy: a semi-supervised D's class head.
METRIC_NAMES = ("fid", "kid", "is", "prdc", "modes", "accuracy", "stacked-modes")
# The training algorithms; gankit.families.FAMILIES holds one module for each (a test keeps the two equal).
FAMILY_NAMES = ("gan", "pix2pix", "cyclegan", "discogan", "srgan", "ebgan", "began", "progan", "stylegan", "biggan", "wavegan", "specgan")
OPTIMIZERS = ("adam", "rmsprop", "sgd")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise GankitError(message)


def resolution_hw(resolution: Any) -> tuple[int, int]:
    """`data.resolution` as (height, width); int means square."""
    if isinstance(resolution, int) and not isinstance(resolution, bool):
        return resolution, resolution
    if isinstance(resolution, (list, tuple)) and len(resolution) == 2 and all(
        isinstance(v, int) and not isinstance(v, bool) for v in resolution
    ):
        return int(resolution[0]), int(resolution[1])
    raise GankitError(f"data.resolution must be an int or [height, width], got {resolution!r}; e.g. --set data.resolution=32")


def _validate_choices(cfg: Config) -> None:
    from gankit.losses import LOSSES  # local: keeps config importable without torch for --help
    from gankit.models import MODELS
    from gankit.penalties import PENALTIES

    d, m, lo, t = cfg.data, cfg.model, cfg.loss, cfg.train
    _require(d.name in DATA_NAMES, f"data.name '{d.name}' is unknown; choose one of: {', '.join(DATA_NAMES)}")
    _require(d.name != "toy" or d.toy in ("ring", "grid"), f"data.toy '{d.toy}' is unknown; choose ring or grid")
    _require(d.crop in ("center", "none"), f"data.crop '{d.crop}' is unknown; choose center or none")
    _require(m.name in MODELS, f"model.name '{m.name}' is unknown; choose one of: {', '.join(MODELS)}")
    _require(lo.name in LOSSES, f"loss.name '{lo.name}' is unknown; choose one of: {', '.join(LOSSES)}")
    penalties = ("auto", "none") + tuple(PENALTIES)
    _require(lo.penalty in penalties, f"loss.penalty '{lo.penalty}' is unknown; choose one of: {', '.join(penalties)}")
    _require(t.optimizer in OPTIMIZERS, f"train.optimizer '{t.optimizer}' is unknown; choose one of: {', '.join(OPTIMIZERS)}")
    dev = cfg.device
    _require(
        dev in ("auto", "cpu", "cuda", "mps") or dev.startswith("cuda:"),
        f"device '{dev}' is unknown; choose auto, cpu, cuda, cuda:N or mps",
    )


def _validate_ranges(cfg: Config) -> None:
    d, m, lo, t, lg = cfg.data, cfg.model, cfg.loss, cfg.train, cfg.log
    h, w = resolution_hw(d.resolution)
    _require(h >= 4 and w >= 4, f"data.resolution {d.resolution} is too small; use at least 4 pixels a side")
    _require(d.channels in (1, 3, 4), f"data.channels must be 1, 3 or 4, got {d.channels}")
    _require(d.limit >= 0, f"data.limit must be >= 0 (0 = every image), got {d.limit}")
    _require(d.limit == 0 or d.name != "toy", "data.limit applies to image datasets; toy data is drawn without end")
    _require(m.z_dim >= 1, f"model.z_dim must be >= 1, got {m.z_dim}")
    _require(m.g_width >= 1 and m.d_width >= 1, "model.g_width and model.d_width must be >= 1")
    _require(t.steps >= 1, f"train.steps must be >= 1, got {t.steps}; e.g. --steps 1000")
    _require(t.batch_size >= 1, f"train.batch_size must be >= 1, got {t.batch_size}")
    _require(t.n_critic >= 1 and t.g_steps >= 1, "train.n_critic and train.g_steps must be >= 1")
    _require(t.g_lr > 0 and t.d_lr > 0, f"learning rates must be > 0, got g_lr={t.g_lr} d_lr={t.d_lr}")
    for name, betas in (("g_betas", t.g_betas), ("d_betas", t.d_betas)):
        _require(
            len(betas) == 2 and all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas),
            f"train.{name} must be two numbers in [0, 1), got {betas}",
        )
    _require(t.ema_kimg >= 0, f"train.ema_kimg must be >= 0, got {t.ema_kimg}")
    _require(0 <= lo.label_smoothing < 1, f"loss.label_smoothing must be in [0, 1), got {lo.label_smoothing}")
    _require(lo.penalty_weight >= 0, f"loss.penalty_weight must be >= 0, got {lo.penalty_weight}")
    _require(lo.clip >= 0, f"loss.clip must be >= 0, got {lo.clip}")
    for key in ("every", "sample_every", "checkpoint_every", "n_samples"):
        _require(getattr(lg, key) >= 1, f"log.{key} must be >= 1, got {getattr(lg, key)}")
    w = cfg.watch
    _require(0 < w.lr_factor < 1, f"watch.lr_factor must be in (0, 1), got {w.lr_factor}")
    _require(w.max_rollbacks >= 0, f"watch.max_rollbacks must be >= 0, got {w.max_rollbacks}")
    _require(w.d_win_lines >= 1, f"watch.d_win_lines must be >= 1, got {w.d_win_lines}")
    _require(w.min_g_grad >= 0, f"watch.min_g_grad must be >= 0, got {w.min_g_grad}")
    _require(0 <= w.min_class_share < 1, f"watch.min_class_share must be in [0, 1), got {w.min_class_share}")
    _require(0 <= w.collapse_start <= 1, f"watch.collapse_start must be in [0, 1], got {w.collapse_start}")


def _validate_eval(cfg: Config) -> None:
    e = cfg.eval
    _require(e.every >= 0, f"eval.every must be >= 0 (0 = off), got {e.every}")
    _require(e.n == 0 or e.n >= 2, f"eval.n must be 0 (protocol default) or >= 2, got {e.n}")
    _require(e.patience >= 0, f"eval.patience must be >= 0, got {e.patience}")
    _require(e.features in ("domain", "inception"), f"eval.features '{e.features}' is unknown; choose domain or inception")
    for name in e.metrics:
        _require(name in METRIC_NAMES, f"eval.metrics: '{name}' is unknown; choose from {', '.join(METRIC_NAMES)}")
    if cfg.data.name == "toy":
        _require(all(m == "modes" for m in e.metrics), "2-D toy data is evaluated with eval.metrics=[modes] only")
    if cfg.data.name in ("fashion-mnist", "digits"):
        splits = ("val", "train", "test", "trainval") + (("all",) if cfg.data.name == "digits" else ())
        _require(e.split in splits, f"eval.split '{e.split}' is unknown; choose {', '.join(splits)} (val is held out of train)")
        _require(not (e.every and e.split in ("test", "all")),
                 f"eval.split={e.split} with eval.every > 0 would choose best.pt on test data; use eval.split=val "
                 "(held out of the training images; test is scored once at the end)")
    _require("accuracy" not in e.metrics or cfg.model.conditioning == "semi-supervised",
             "eval.metrics 'accuracy' scores a semi-supervised D; use it with model.conditioning=semi-supervised")


def validate(cfg: Config) -> None:
    """Check names and ranges; the first problem raises a one-line GankitError."""
    _validate_choices(cfg)
    _validate_ranges(cfg)
    _validate_eval(cfg)
    validate_tricks(cfg)
    _validate_runtime(cfg)
    _validate_cond(cfg)
    if cfg.loss.label_smoothing > 0:
        from gankit.losses import SUPPORTS_LABEL_SMOOTHING

        _require(
            cfg.loss.name in SUPPORTS_LABEL_SMOOTHING,
            f"loss.label_smoothing needs a loss with a real target ({', '.join(sorted(SUPPORTS_LABEL_SMOOTHING))}), "
            f"not '{cfg.loss.name}'",
        )


def validate_tricks(cfg: Config) -> None:
    """The `tricks` section: choices, ranges, and combinations that cannot work."""
    tr = cfg.tricks
    _require(tr.minibatch in ("none", "stddev", "mbd"), f"tricks.minibatch '{tr.minibatch}' is unknown; choose none, stddev or mbd")
    _require(tr.g_norm in ("batch", "reference", "virtual"), f"tricks.g_norm '{tr.g_norm}' is unknown; choose batch, reference or virtual")
    _require(tr.lr_schedule in ("constant", "linear"), f"tricks.lr_schedule '{tr.lr_schedule}' is unknown; choose constant or linear")
    for key in ("mbd_kernels", "ref_batch", "pack", "penalty_every", "topk_every"):
        _require(getattr(tr, key) >= 1, f"tricks.{key} must be >= 1, got {getattr(tr, key)}")
    _require(tr.stddev_group >= 2, f"tricks.stddev_group must be >= 2, got {tr.stddev_group}")
    _require(tr.latent_mixture == 0 or tr.latent_mixture >= 2,
             f"tricks.latent_mixture must be 0 (off) or >= 2 components, got {tr.latent_mixture}")
    _require(tr.latent_mixture_std > 0, f"tricks.latent_mixture_std must be > 0, got {tr.latent_mixture_std}")
    _require(tr.latent_mixture_truncation >= 0,
             f"tricks.latent_mixture_truncation must be >= 0 (0 = off), got {tr.latent_mixture_truncation}")
    _require(0 <= tr.latent_mixture_truncation_start < 1,
             f"tricks.latent_mixture_truncation_start must be in [0, 1), got {tr.latent_mixture_truncation_start}")
    _require(tr.latent_mixture_truncation_start == 0 or (tr.latent_mixture and tr.latent_mixture_truncation > 0),
             "tricks.latent_mixture_truncation_start needs tricks.latent_mixture >= 2 and "
             "tricks.latent_mixture_truncation > 0; set both or drop the start")
    _require(tr.sample_truncation >= 0, f"tricks.sample_truncation must be >= 0 (0 = off), got {tr.sample_truncation}")
    _require(tr.latent_mixture_std_final >= 0,
             f"tricks.latent_mixture_std_final must be >= 0 (0 = constant std), got {tr.latent_mixture_std_final}")
    _require(tr.latent_mixture_std_final == 0 or tr.latent_mixture,
             "tricks.latent_mixture_std_final needs tricks.latent_mixture >= 2; set it or drop the final std")
    _require(0 <= tr.latent_mixture_anneal_start < tr.latent_mixture_anneal_end <= 1,
             "tricks.latent_mixture_anneal_start and _end must satisfy 0 <= start < end <= 1, got "
             f"{tr.latent_mixture_anneal_start} and {tr.latent_mixture_anneal_end}")
    _require(tr.latent_mixture_layout in ("random", "kmeans"),
             f"tricks.latent_mixture_layout '{tr.latent_mixture_layout}' is unknown; choose random or kmeans")
    for key in ("feature_matching", "instance_noise", "unrolled_steps", "schedule_steps"):
        _require(getattr(tr, key) >= 0, f"tricks.{key} must be >= 0, got {getattr(tr, key)}")
    _require(0 <= tr.label_flip < 0.5, f"tricks.label_flip must be in [0, 0.5), got {tr.label_flip}")
    _require(0 <= tr.lr_decay_start <= 1, f"tricks.lr_decay_start must be in [0, 1], got {tr.lr_decay_start}")
    _require(0 <= tr.lr_final <= 1, f"tricks.lr_final must be in [0, 1], got {tr.lr_final}")
    _require(0 < tr.topk_min <= 1, f"tricks.topk_min must be in (0, 1], got {tr.topk_min}")
    _require(0 < tr.topk_decay <= 1, f"tricks.topk_decay must be in (0, 1], got {tr.topk_decay}")
    _require(
        cfg.train.batch_size % tr.pack == 0,
        f"tricks.pack={tr.pack} must divide train.batch_size={cfg.train.batch_size}; e.g. --set train.batch_size={tr.pack * 64}",
    )
    _require(
        not tr.augment or cfg.data.name != "toy",
        "tricks.augment (DiffAugment) needs image data; 2-D toy points cannot be translated or cut out",
    )
    from gankit.augment import parse_policy

    parse_policy(tr.augment)


def _validate_runtime(cfg: Config) -> None:
    """The runtime section; device-dependent checks (fp16 needs CUDA) happen once the device is known."""
    r = cfg.runtime
    precisions = ("fp32", "bf16", "fp16")
    _require(r.precision in precisions, f"runtime.precision '{r.precision}' is unknown; choose one of: {', '.join(precisions)}")
    _require(r.threads >= 0, f"runtime.threads must be >= 0 (0 = torch's default), got {r.threads}")
    if r.compile:
        from gankit.penalties import penalty_name

        _require(
            penalty_name(cfg) is None,
            f"runtime.compile cannot train with the '{penalty_name(cfg)}' gradient penalty (torch.compile has no "
            "double backward); drop --compile or set loss.penalty=none",
        )


def _validate_cond(cfg: Config) -> None:
    from gankit.models.conditional import CONDITIONINGS

    m = cfg.model
    _require(m.conditioning in CONDITIONINGS,
             f"model.conditioning '{m.conditioning}' is unknown; choose one of: {', '.join(CONDITIONINGS)}")
    _require(m.num_classes == 0 or m.num_classes >= 2, f"model.num_classes must be 0 (from the data) or >= 2, got {m.num_classes}")
    _require(m.embed_dim >= 1, f"model.embed_dim must be >= 1, got {m.embed_dim}")
    _require(cfg.cond.aux_weight >= 0, f"cond.aux_weight must be >= 0, got {cfg.cond.aux_weight}")
    if m.conditioning != "none":
        _require(cfg.data.name != "toy", f"model.conditioning={m.conditioning} needs labelled data; toy data has no labels")
        tr = cfg.tricks
        # These wrappers change what D or G sees per sample; they do not (yet) carry the class through.
        for key, off in (("pack", 1), ("minibatch", "none"), ("g_norm", "batch"), ("unrolled_steps", 0)):
            _require(getattr(tr, key) == off,
                     f"tricks.{key} does not combine with model.conditioning={m.conditioning}; set tricks.{key}={off}")
        penalty = cfg.loss.penalty
        two_heads = m.conditioning in ("acgan", "semi-supervised")
        _require(not two_heads or penalty in ("none",) or (penalty == "auto" and cfg.loss.name != "wgan-gp"),
                 f"gradient penalties are not supported with model.conditioning={m.conditioning}; use --set loss.penalty=none")
    s = cfg.semi
    _require(s.labels_per_class >= 1, f"semi.labels_per_class must be >= 1, got {s.labels_per_class}")
    _require(s.labelled_batch >= 1, f"semi.labelled_batch must be >= 1, got {s.labelled_batch}")
    _require(s.sup_weight >= 0, f"semi.sup_weight must be >= 0, got {s.sup_weight}")
    _require(not cfg.tricks.feature_matching_only or cfg.tricks.feature_matching > 0,
             "tricks.feature_matching_only needs a feature-matching weight; e.g. --set tricks.feature_matching=1")
