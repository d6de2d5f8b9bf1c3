"""Class-conditional GANs: model contracts, the ACGAN class loss, per-class sampling/export, CAS, bad inputs."""

import pytest
import torch
from PIL import Image

from gankit.classify import classification_accuracy_score, conditional_accuracy
from gankit.cli import main
from gankit.config import Config, resolve
from gankit.build import build_models, resolve_num_classes
from gankit.data import load_digits, load_folder
from gankit.errors import GankitError
from gankit.export import export_per_class
from gankit.models.conditional import CLASS_CONDITIONED
from gankit.families.gan import GANTrainer, split_d_output
from gankit.families.gan_tricks import ACGANClassLoss, aux_class_loss

K = 4


def tiny(conditioning: str, name: str = "dcgan", shape=(1, 16, 16)) -> Config:
    cfg = Config()
    cfg.data.name, cfg.data.resolution = "digits", shape[1]
    m = cfg.model
    m.name, m.z_dim, m.g_width, m.d_width = name, 8, 8, 8
    m.conditioning, m.num_classes, m.embed_dim = conditioning, K, 4
    return cfg


@pytest.mark.parametrize("name", ["dcgan", "mlp"])
@pytest.mark.parametrize("conditioning", CLASS_CONDITIONED)
def test_shape_contracts_with_labels(name, conditioning):
    torch.manual_seed(0)
    G, D = build_models(tiny(conditioning, name))
    z, c = torch.randn(6, 8), torch.tensor([0, 1, 2, 3, 0, 1])
    x = G(z, c)
    assert x.shape == (6, 1, 16, 16) and x.min() >= -1 and x.max() <= 1
    out = D(x, c)
    scores, logits = split_d_output(out)
    assert scores.shape == (6,)
    assert (logits is not None) == (conditioning == "acgan")
    if logits is not None:
        assert logits.shape == (6, K)
    assert D.features(x, c).shape[0] == 6
    assert G(z).shape == x.shape  # c=None: balanced classes, so unconditional sampling code works


@pytest.mark.parametrize("conditioning", CLASS_CONDITIONED)
def test_generator_depends_on_class(conditioning):
    torch.manual_seed(0)
    G, _ = build_models(tiny(conditioning))
    G.eval()
    z = torch.randn(1, 8).repeat(K, 1)
    x = G(z, torch.arange(K))
    assert torch.allclose(G(z[:1], torch.tensor([0])), x[:1], rtol=0, atol=1e-8)  # same z and class: same image
    for i in range(1, K):
        assert not torch.allclose(x[0], x[i], rtol=0, atol=1e-6)  # DCGAN's N(0, 0.02) init keeps outputs small


def test_projection_score_changes_with_class():
    torch.manual_seed(0)
    _, D = build_models(tiny("projection"))
    torch.nn.init.normal_(D.embed.weight, 0.0, 1.0)
    x = torch.randn(1, 1, 16, 16).clamp(-1, 1).repeat(K, 1, 1, 1)
    D.eval()
    scores = D(x, torch.arange(K))
    assert scores.unique().numel() == K
    # psi(h) + <e_c, h> exactly:
    h = D.features(x)
    assert torch.allclose(scores, D.backbone.head(h).squeeze(1) + (D.embed.weight * h).sum(1), atol=1e-5)


def test_aux_class_loss_is_cross_entropy():
    logits = torch.tensor([[2.0, 0.0], [0.0, 0.0]])
    expected = (torch.log(1 + torch.exp(torch.tensor(-2.0))) + torch.log(torch.tensor(2.0))) / 2
    assert torch.isclose(aux_class_loss(logits, torch.tensor([0, 1])), expected)
    with pytest.raises(GankitError, match="no labels"):
        aux_class_loss(logits, None)


def test_acgan_class_loss_decreases_on_separable_data():
    torch.manual_seed(0)
    cfg = tiny("acgan", "mlp")
    cfg.model.g_width = cfg.model.d_width = 32
    G, D = build_models(cfg)
    trainer = GANTrainer(G, D, torch.optim.Adam(G.parameters(), 2e-3), torch.optim.Adam(D.parameters(), 2e-3),
                         tricks=[ACGANClassLoss(1.0)])
    labels = torch.arange(32) % K  # class k = images of constant grey level k: separable
    real = (labels.float()[:, None, None, None] / (K - 1) * 2 - 1).expand(-1, 1, 16, 16).contiguous()
    # d_class_loss = CE(real) + CE(fake); G also learns to make its fakes classifiable, so both fall.
    losses = [trainer.train_step(lambda: (real, labels))["d_class_loss"].item() for _ in range(40)]
    assert losses[0] > 2.5  # ~2 ln 4 at the start
    assert sum(losses[-5:]) / 5 < 0.6 * losses[0]


def test_num_classes_from_data_and_unlabelled_error():
    cfg = tiny("cgan")
    cfg.model.num_classes = 0
    resolve_num_classes(cfg, 10)
    assert cfg.model.num_classes == 10
    with pytest.raises(GankitError, match="needs labelled data"):
        resolve_num_classes(tiny("acgan"), 0)
    with pytest.raises(GankitError, match="model.num_classes=4 but the data has 10"):
        resolve_num_classes(tiny("acgan"), 10)


def test_config_rejects_bad_conditioning():
    with pytest.raises(GankitError, match="model.conditioning 'foo' is unknown"):
        resolve("cgan-digits", None, ["model.conditioning=foo"])
    with pytest.raises(GankitError, match="needs labelled data; toy"):
        resolve("toy-ring", None, ["model.conditioning=cgan"])
    for preset in ("cgan", "acgan", "projection"):
        for data in ("fashion", "digits"):
            assert resolve(f"{preset}-{data}", None, []).model.conditioning == preset


def test_export_writes_per_class_and_reads_back(tmp_path):
    torch.manual_seed(0)
    G, _ = build_models(tiny("cgan"))
    counts = export_per_class(G, tmp_path / "out", per_class=3, seed=1)
    assert counts == {str(i): 3 for i in range(K)}
    data = load_folder(tmp_path / "out", (16, 16), channels=1)
    assert data.num_classes == K
    assert torch.equal(torch.bincount(data.labels), torch.full((K,), 3))
    with pytest.raises(GankitError, match="not empty"):
        export_per_class(G, tmp_path / "out", per_class=1)


class RealImagesG(torch.nn.Module):
    """A stand-in 'perfect' conditional G: returns real digits of the requested class (from the train split,
    as a G trained on it would; CAS tests on the test split). `shift` draws class c + shift instead."""

    def __init__(self, shift: int = 0):
        super().__init__()
        self.shift = shift
        data = load_digits("train", resolution=16)
        self.by_class = [data.images[data.labels == k] for k in range(10)]
        self.num_classes, self.z_dim, self.out_shape = 10, 2, (1, 16, 16)
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, z, c=None):
        c = (c + self.shift) % 10
        return torch.stack([self.by_class[int(k)][i % len(self.by_class[int(k)])] for i, k in enumerate(c)])


def test_conditional_accuracy_and_cas_of_real_images():
    G = RealImagesG()
    acc = conditional_accuracy(G, "digits", per_class=20)
    assert acc["cond_acc"] > 0.9 and len(acc["cond_acc_per_class"]) == 10
    cas = classification_accuracy_score(G, "digits", per_class=50, epochs=4)
    assert cas["train_images"] == 500
    # Real images per class train the classifier about as well as the real-data baseline (measured 0.91 vs 0.94).
    assert cas["cas"] > 0.8 and abs(cas["cas"] - cas["real_acc"]) < 0.1
    # ... and a G that draws the wrong class scores far below chance (measured 0.006).
    wrong = classification_accuracy_score(RealImagesG(shift=1), "digits", per_class=50, epochs=4, real_baseline=False)
    assert wrong["cas"] < 0.1


@pytest.fixture
def cond_run(tmp_path, tiny_digits_args):
    run = tmp_path / "run"
    assert main(["train", *tiny_digits_args, "--set", "model.conditioning=acgan", "--out", str(run),
                 "--steps", "2"]) == 0
    return run


def test_cli_sample_class_grid_and_export(tmp_path, cond_run):
    assert main(["sample", str(cond_run), "--class", "3", "--n", "4", "--format", "npy",
                 "--out", str(tmp_path / "c3.npy")]) == 0
    assert main(["sample", str(cond_run), "--grid", "classes", "--n", "5", "--out", str(tmp_path / "g.png"),
                 "--format", "png-dir"]) == 0
    assert len(list((tmp_path / "g.png").glob("*.png"))) == 50
    assert main(["export", str(cond_run), "--per-class", "2", "--out", str(tmp_path / "ds")]) == 0
    assert len(list((tmp_path / "ds").rglob("*.png"))) == 20


def test_cli_bad_inputs(tmp_path, cond_run, capsys, tiny_digits_args):
    from tests.test_cli import user_error

    user_error(capsys, ["sample", str(cond_run), "--class", "10"], "class index 10 is out of range")
    user_error(capsys, ["sample", str(cond_run), "--class", "-1"], "out of range")
    plain = tmp_path / "plain"
    assert main(["train", *tiny_digits_args, "--out", str(plain), "--steps", "1"]) == 0
    user_error(capsys, ["sample", str(plain), "--class", "3"], "--class needs a class-conditional checkpoint")
    user_error(capsys, ["export", str(plain), "--per-class", "2", "--out", str(tmp_path / "x")], "unconditional")
    folder = tmp_path / "flat"
    folder.mkdir()
    for i in range(20):
        Image.new("L", (16, 16), color=i * 10).save(folder / f"{i}.png")
    user_error(capsys, ["train", "--preset", "cgan-digits", "--set", "data.name=folder", "--data", str(folder),
                        "--set", "data.resolution=16", "--set", "train.batch_size=8", "--out", str(tmp_path / "r")],
               "needs labelled data")


@pytest.mark.parametrize("assignment", ["tricks.pack=2", "tricks.minibatch=stddev", "tricks.g_norm=reference"])
def test_conditional_rejects_per_sample_wrappers(assignment):
    from gankit.config import resolve
    from gankit.errors import GankitError

    with pytest.raises(GankitError, match="does not combine with model.conditioning"):
        resolve("projection-digits", None, [assignment])


def test_projection_preset_spectral_norm_reaches_the_class_embedding():
    from gankit.build import build_models
    from gankit.config import resolve

    G, D = build_models(resolve("projection-digits", None, []))
    embeddings = [m for m in D.modules() if isinstance(m, torch.nn.Embedding)]
    assert embeddings and all(hasattr(m, "parametrizations") for m in embeddings)
