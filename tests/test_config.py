"""Config layering, type checks and the one-line errors for bad values."""

import pytest

from gankit.config import Config, from_dict, list_presets, parse_set, resolve, to_dict
from gankit.errors import GankitError

REQUIRED_PRESETS = [
    "toy-ring", "toy-grid", "gan2014-fashion", "dcgan-fashion", "lsgan-fashion", "wgan-fashion",
    "wgan-gp-fashion", "hinge-fashion", "dcgan-digits", "dcgan-folder",
]


def test_required_presets_exist_with_descriptions():
    presets = list_presets()
    for name in REQUIRED_PRESETS:
        assert name in presets and presets[name].strip()


@pytest.mark.parametrize("name", sorted(list_presets()))
def test_every_preset_resolves_validates_and_builds(name):
    from gankit.families import build_generator, get_family, validate_family

    cfg = resolve(name, None, [])
    assert cfg.preset == name
    if cfg.data.name in ("folder", "paired", "unpaired", "audio-folder") and not cfg.data.path:
        cfg.data.path = "/data/given/with/--data"  # the user's folder: validation only needs it named
    validate_family(cfg)
    if get_family(cfg.model.family).KIND != "generation":
        return  # translation networks are built from their data's channels; their tests build every preset
    if cfg.model.conditioning != "none" and cfg.model.num_classes == 0:
        cfg.model.num_classes = 10  # resolved from the data's labels when training
    G = build_generator(cfg)
    assert G.z_dim == cfg.model.z_dim


def test_layers_apply_in_order(tmp_path):
    config_file = tmp_path / "c.yaml"
    config_file.write_text("train: {steps: 77, batch_size: 8}\n")
    cfg = resolve("dcgan-fashion", str(config_file), ["train.steps=99", "loss.name=hinge"])
    assert cfg.train.steps == 99 and cfg.train.batch_size == 8 and cfg.loss.name == "hinge"
    assert cfg.data.name == "fashion-mnist"  # from the preset


def test_round_trip_through_dict():
    cfg = resolve("wgan-gp-fashion", None, ["model.d_options={norm: layer}"])
    again = from_dict(to_dict(cfg))
    assert again == cfg and again.model.d_options == {"norm": "layer"}


def test_parse_set_types():
    assert parse_set("train.g_lr=1e-4") == {"train": {"g_lr": 1e-4}}
    assert parse_set("data.resolution=[24, 32]") == {"data": {"resolution": [24, 32]}}
    assert parse_set("log.progress=false") == {"log": {"progress": False}}


def test_int_is_accepted_for_float_field():
    cfg = resolve("toy-ring", None, ["train.g_lr=1"])
    assert cfg.train.g_lr == 1.0 and isinstance(cfg.train.g_lr, float)


@pytest.mark.parametrize(
    "assignment, message",
    [
        ("train.stepz=5", "unknown config key 'train.stepz' \\(did you mean 'steps'\\?\\)"),
        ("nope=1", "unknown config key 'nope'"),
        ("train.steps=abc", "'train.steps' must be of type int"),
        ("train.steps=1.5", "'train.steps' must be of type int"),
        ("train.g_lr=0", "learning rates must be > 0"),
        ("train.d_lr=-1e-4", "learning rates must be > 0"),
        ("train.batch_size=0", "train.batch_size must be >= 1"),
        ("train.steps=0", "train.steps must be >= 1"),
        ("loss.name=bogus", "loss.name 'bogus' is unknown"),
        ("model.name=bogus", "model.name 'bogus' is unknown"),
        ("data.name=bogus", "data.name 'bogus' is unknown"),
        ("device=tpu", "device 'tpu' is unknown"),
        ("loss.label_smoothing=1.5", "label_smoothing must be in"),
        ("train.g_betas=[0.5]", "train.g_betas must be two numbers"),
        ("data.resolution=abc", "data.resolution must be an int or"),
        ("noequals", "--set expects key=value"),
        ("runtime.threads=-1", "runtime.threads must be >= 0"),
    ],
)
def test_bad_values_are_one_line_errors(assignment, message):
    with pytest.raises(GankitError, match=message) as info:
        resolve("dcgan-fashion", None, [assignment])
    assert "\n" not in str(info.value)


def test_unknown_preset_suggests():
    with pytest.raises(GankitError, match="unknown preset 'dcgan-fashon' \\(did you mean 'dcgan-fashion'\\?\\)"):
        resolve("dcgan-fashon", None, [])


def test_unbuildable_resolution_is_user_error():
    from gankit.build import build_models

    cfg = resolve("dcgan-fashion", None, ["data.resolution=30"])
    with pytest.raises(GankitError, match="dcgan cannot build 30x30"):
        build_models(cfg)


def test_unknown_model_option_is_user_error():
    from gankit.build import build_models

    cfg = resolve("dcgan-fashion", None, ["model.d_options={kernal_size: 5}"])
    with pytest.raises(GankitError, match="has no option 'kernal_size'"):
        build_models(cfg)


def test_missing_and_invalid_config_files(tmp_path):
    with pytest.raises(GankitError, match="does not exist"):
        resolve("toy-ring", str(tmp_path / "missing.yaml"), [])
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(GankitError, match="not valid YAML"):
        resolve("toy-ring", str(bad), [])


def test_defaults_are_valid():
    from gankit.config import validate

    validate(Config())
