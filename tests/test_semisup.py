"""Semi-supervised GAN: K+1 logits and loss by hand, labelled subset, training, resume, eval, errors."""

import json
import math

import pytest
import torch
from torch import nn

from gankit.build import build_models
from gankit.cli import main
from gankit.config import Config, from_dict, resolve
from gankit.data import ImageData, SemiSupervisedSampler, labelled_subset, load_digits
from gankit.errors import GankitError
from gankit.models.conditional import SemiSupervisedDiscriminator, k_plus_one_logits
from gankit.models.mlp import MLPDiscriminator, MLPGenerator
from gankit.semisup import d_accuracy, train_supervised_baseline
from gankit.train.checkpoint import load_checkpoint
from gankit.families.gan import GANTrainer
from gankit.families.gan_tricks import FeatureMatching, SemiSupervisedLoss

TINY_SSGAN = [
    "--preset", "ssgan-digits", "--no-progress", "--set", "data.resolution=8", "--set", "model.g_width=16",
    "--set", "model.d_width=16", "--set", "model.z_dim=8", "--set", "train.batch_size=16",
    "--set", "semi.labelled_batch=8", "--set", "log.every=1", "--set", "log.sample_every=2",
    "--set", "log.checkpoint_every=2", "--set", "eval.every=0",
    "--set", "tricks.schedule_steps=8",  # the preset decays its LR over the run: pin the horizon for resume tests
]


class IdentityBody(nn.Module):
    """A backbone whose features are its 2-D input, so D's class logits are whatever we feed it."""

    in_shape = (2,)

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(2, 1)

    def features(self, x, c=None):
        return x


def identity_d() -> SemiSupervisedDiscriminator:
    D = SemiSupervisedDiscriminator(IdentityBody(), num_classes=2, feature_dim=2)
    with torch.no_grad():
        D.classify.weight.copy_(torch.eye(2))
        D.classify.bias.zero_()
    return D


def test_k_plus_one_logits_and_score_match_the_hand_computed_softmax():
    D = identity_d()
    logits = torch.tensor([[0.0, math.log(3.0)]])  # exp: 1 and 3, so Z = 4
    scores, class_logits = D(logits)
    assert torch.allclose(class_logits, logits)
    assert scores.item() == pytest.approx(math.log(4.0))
    probs = k_plus_one_logits(class_logits).softmax(1)  # [1/5, 3/5, fake 1/5]
    assert torch.allclose(probs, torch.tensor([[0.2, 0.6, 0.2]]))
    assert torch.sigmoid(scores).item() == pytest.approx(1 - probs[0, 2].item())  # p(real) = 1 - p(fake)


def test_d_loss_is_unsupervised_plus_supervised_by_hand():
    D = identity_d()
    real = torch.tensor([[0.0, math.log(3.0)]])  # Z = 4: -log(4/5)
    fake = torch.tensor([[0.0, 0.0]])  # Z = 2: -log(1 - 2/3) = log 3
    labelled, labels = torch.tensor([[math.log(3.0), 0.0]]), torch.tensor([0])  # -log(3/4) over the K classes
    G = MLPGenerator(2, (2,), 4)
    trainer = GANTrainer(G, D, torch.optim.SGD(G.parameters(), 0.1), torch.optim.SGD(D.parameters(), 0.1),
                         tricks=[SemiSupervisedLoss(lambda: (labelled, labels), 1.0)])
    loss, stats = trainer.d_objective(D, real, fake, None)
    assert loss.item() == pytest.approx(math.log(5 / 4) + math.log(3) + math.log(4 / 3))  # = log 5
    assert stats["d_sup_loss"].item() == pytest.approx(math.log(4 / 3))
    assert "d_class_loss" not in stats  # no ACGAN class loss on unlabelled reals and fakes


def test_feature_matching_only_drops_the_adversarial_term():
    torch.manual_seed(0)
    G, D = MLPGenerator(4, (2,), 8), MLPDiscriminator((2,), 8)
    opts = torch.optim.SGD(G.parameters(), 0.1), torch.optim.SGD(D.parameters(), 0.1)
    trainer = GANTrainer(G, D, *opts, tricks=[FeatureMatching(2.0, only=True)])
    fake, real = G(torch.randn(8, 4)), torch.randn(8, 2)
    loss, stats = trainer.g_objective(D, fake, real, None)
    assert loss.item() == pytest.approx(2.0 * stats["feature_matching"].item())
    assert stats["g_loss"].item() != pytest.approx(0.0)  # still reported, not trained on
    with pytest.raises(GankitError, match="feature_matching"):
        FeatureMatching(0.0, only=True)


def test_labelled_subset_is_balanced_fixed_and_checked():
    data = load_digits("train", resolution=8)
    subset = labelled_subset(data, 5, seed=0)
    assert subset.images.shape == (50, 1, 8, 8)
    assert torch.equal(torch.bincount(subset.labels), torch.full((10,), 5))
    assert torch.equal(subset.images, labelled_subset(data, 5, seed=0).images)
    assert not torch.equal(subset.images, labelled_subset(data, 5, seed=1).images)
    with pytest.raises(GankitError, match="fewer than semi.labels_per_class"):
        labelled_subset(data, 10_000, seed=0)
    with pytest.raises(GankitError, match="labelled data"):
        labelled_subset(ImageData(data.images, None, None), 5, seed=0)


def test_semi_supervised_sampler_hides_labels_and_resumes():
    data = load_digits("train", resolution=8)
    make = lambda: SemiSupervisedSampler(data, labelled_subset(data, 3, 0), 16, 8, seed=0)  # noqa: E731
    sampler = make()
    x, labels = sampler.next()
    assert x.shape == (16, 1, 8, 8) and labels is None
    xl, yl = sampler.next_labelled()
    assert xl.shape == (8, 1, 8, 8) and yl.shape == (8,)
    state = sampler.state_dict()
    again = make()
    again.load_state_dict(state)
    assert torch.equal(sampler.next()[0], again.next()[0])
    assert torch.equal(sampler.next_labelled()[1], again.next_labelled()[1])


def test_mlp_noise_layers_are_on_in_training_and_off_in_eval():
    torch.manual_seed(0)
    D = MLPDiscriminator((1, 8, 8), 16, input_noise=0.3, noise=0.5)
    x = torch.randn(4, 1, 8, 8)
    assert not torch.equal(D(x), D(x))
    D.eval()
    assert torch.equal(D(x), D(x))


def test_shapes_of_the_semi_supervised_models():
    cfg = resolve("ssgan-digits", None, ["data.resolution=8", "model.g_width=16", "model.d_width=16", "model.z_dim=8"])
    G, D = build_models(cfg)
    assert G.z_dim == 8 and not hasattr(G, "num_classes")  # G is unconditional
    scores, logits = D(G(torch.randn(5, 8)))
    assert scores.shape == (5,) and logits.shape == (5, 10)


def test_training_improves_d_accuracy_and_resume_is_exact(tmp_path, capsys):
    assert main(["train", *TINY_SSGAN, "--out", str(tmp_path / "full"), "--steps", "4"]) == 0
    assert main(["train", *TINY_SSGAN, "--out", str(tmp_path / "half"), "--steps", "2"]) == 0
    assert main(["train", "--resume", str(tmp_path / "half"), "--steps", "4", "--no-progress"]) == 0
    full, resumed = load_checkpoint(tmp_path / "full"), load_checkpoint(tmp_path / "half")
    for key in ("G", "D"):
        for name, tensor in full[key].items():
            assert torch.equal(tensor, resumed[key][name]), f"{key}.{name} differs after resume"
    assert "d_sup_loss" in json.loads((tmp_path / "full" / "log.jsonl").read_text().splitlines()[-1])
    # Training improves D's accuracy: a wider D, 100 steps (under a second), against the same D untrained.
    wider = ["--set", "model.d_width=64", "--set", "semi.labelled_batch=32", "--set", "tricks.schedule_steps=100",
             "--set", "log.checkpoint_every=100", "--set", "log.sample_every=100"]
    assert main(["train", *TINY_SSGAN, *wider, "--out", str(tmp_path / "long"), "--steps", "100"]) == 0
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "long"), "--metrics", "accuracy", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["protocol"]["classifier"]["split"] == "test"
    cfg = from_dict(load_checkpoint(tmp_path / "long")["config"])
    torch.manual_seed(cfg.seed)
    test = load_digits("test", resolution=8)
    untrained = d_accuracy(build_models(cfg)[1], test.images, test.labels)
    # Chance is 0.1; measured 0.79 after training (10 labels per class), 0.10 untrained.
    assert result["accuracy"] > 0.5 and result["accuracy"] > untrained + 0.3


def test_supervised_baseline_learns_the_labelled_digits():
    cfg = resolve("ssgan-digits", None, ["device=cpu", "data.resolution=8", "model.d_width=64"])
    D, info = train_supervised_baseline(cfg, steps=100)
    test = load_digits("test", resolution=8)
    assert info["steps"] == 100
    accuracy = d_accuracy(D, test.images, test.labels)
    assert accuracy > 0.6  # 10 labels per class; chance is 0.1 (measured 0.74)
    assert D.training  # d_accuracy restores the mode it found


def test_bad_inputs_are_one_line_errors(tmp_path, capsys, tiny_digits_args):
    assert main(["train", *TINY_SSGAN, "--out", str(tmp_path / "ss"), "--steps", "2"]) == 0
    capsys.readouterr()
    assert main(["sample", str(tmp_path / "ss"), "--class", "3", "--out", str(tmp_path / "s.png")]) == 2
    assert "unconditional" in capsys.readouterr().err
    assert main(["train", *tiny_digits_args, "--out", str(tmp_path / "plain"), "--steps", "2"]) == 0
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "plain"), "--metrics", "accuracy"]) == 2
    err = capsys.readouterr().err.strip()
    assert "semi-supervised" in err and len(err.splitlines()) == 1
    for bad in (["--set", "eval.metrics=[accuracy]", "--preset", "dcgan-digits"],
                ["--preset", "ssgan-digits", "--set", "tricks.feature_matching=0"],
                ["--preset", "ssgan-digits", "--set", "data.name=toy"],
                ["--preset", "ssgan-digits", "--set", "semi.labels_per_class=1000"]):
        assert main(["train", *bad, "--out", str(tmp_path / "bad"), "--steps", "1", "--no-progress"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
    assert not (tmp_path / "bad" / "checkpoints" / "latest.pt").exists()
