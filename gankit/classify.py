"""How well a conditional generator follows its class: conditional accuracy and CAS.

- Conditional accuracy: the fraction of samples generated for class c that gankit's shipped
  domain classifier (gankit.metrics.features) assigns to c. Measures "is class c drawn as c".
- Classification Accuracy Score (CAS, Ravuri & Vinyals 2019): train the domain classifier
  *network* (same architecture, fresh weights) on generated data only, then test it on the
  real test split. Reported beside the accuracy of the same network trained on the same
  number of real training images with the same recipe, so the gap says how much of the
  real data's class information the generator captured (diversity, not just fidelity).
"""

import time

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.export import num_classes_of
from gankit.metrics.features import DOMAIN_NETWORKS, DomainClassifier, _augment, extract_features
from gankit.sample import fixed_latents, generate


def _check_conditional(G: nn.Module, network: str) -> int:
    k = num_classes_of(G)
    if k == 0:
        raise GankitError("conditional accuracy and CAS need a class-conditional generator; this one is unconditional")
    if network not in DOMAIN_NETWORKS:
        raise GankitError(f"no domain classifier for '{network}' data; CAS and conditional accuracy need "
                          f"one of: {', '.join(DOMAIN_NETWORKS)}")
    if DOMAIN_NETWORKS[network]["num_classes"] != k:
        raise GankitError(f"the generator has {k} classes but the {network} classifier has "
                          f"{DOMAIN_NETWORKS[network]['num_classes']}")
    return k


def generate_per_class(G: nn.Module, per_class: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """`(images [K * per_class, C, H, W], labels [K * per_class])`, classes in blocks 0, 0, ..., 1, ..."""
    k = num_classes_of(G)
    labels = torch.arange(k).repeat_interleave(per_class)
    images = generate(G, fixed_latents(len(labels), G.z_dim, seed), labels)
    return images, labels


def conditional_accuracy(G: nn.Module, network: str, per_class: int = 500, seed: int = 0,
                         device: str | torch.device = "cpu") -> dict:
    """Fraction of generated samples classified as the class they were generated for.

    Returns {"cond_acc": overall, "cond_acc_per_class": [K floats]}.
    """
    k = _check_conditional(G, network)
    images, labels = generate_per_class(G, per_class, seed)
    _, logits = extract_features(images, network, device=device)
    hits = (logits.argmax(1) == labels).float()
    per_class_acc = hits.view(k, per_class).mean(1)
    return {"cond_acc": round(float(hits.mean()), 4), "cond_acc_per_class": [round(float(a), 4) for a in per_class_acc]}


def _load_split(network: str, split: str):
    from gankit.metrics.features import _load_split as load

    return load(network, split)


def train_classifier(images: Tensor, labels: Tensor, network: str, epochs: int, seed: int = 0) -> DomainClassifier:
    """Train a fresh domain-classifier network on `images` `[N, C, H, W]` in [-1, 1] with `labels` `[N]`.

    Same recipe as the shipped classifier (Adam, one-cycle schedule, its augmentation), so the
    real-data baseline and CAS differ only in the training images.
    """
    from gankit.data import resize_images

    spec = DOMAIN_NETWORKS[network]
    arch = {k: spec[k] for k in ("in_channels", "num_classes", "resolution", "width")}
    images = resize_images(images, (spec["resolution"], spec["resolution"]))
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = DomainClassifier(**arch)
    opt = torch.optim.Adam(model.parameters(), lr=spec["lr"])
    steps = epochs * -(-len(images) // spec["batch_size"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, spec["lr"], total_steps=steps)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(images), generator=gen).split(spec["batch_size"]):
            x = _augment(images[idx], spec["flip"], spec["shift"], gen)
            loss = F.cross_entropy(model(x), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()


@torch.inference_mode()
def accuracy_on(model: DomainClassifier, images: Tensor, labels: Tensor) -> float:
    """Accuracy of `model` on `images` `[N, C, H, W]` (resized to its resolution) with `labels` `[N]`."""
    from gankit.data import resize_images

    images = resize_images(images, (model.resolution, model.resolution))
    correct = sum(int((model(x).argmax(1) == y).sum()) for x, y in zip(images.split(1000), labels.split(1000)))
    return correct / len(labels)


def classification_accuracy_score(G: nn.Module, network: str, per_class: int = 1000, epochs: int = 3,
                                  seed: int = 0, real_baseline: bool = True) -> dict:
    """CAS: test accuracy on the real test split of the domain network trained on G's samples only.

    With `real_baseline`, also trains the same network on `K * per_class` real training images
    (a fixed random subset) for the same epochs: `real_acc`. Returns
    {"cas", "real_acc" (optional), "train_images", "epochs", "time_s"}.
    """
    k = _check_conditional(G, network)
    start = time.perf_counter()
    test = _load_split(network, "test")
    fake, fake_labels = generate_per_class(G, per_class, seed)
    result = {"cas": round(accuracy_on(train_classifier(fake, fake_labels, network, epochs, seed),
                                         test.images, test.labels), 4)}
    if real_baseline:
        train = _load_split(network, "train")
        n = min(k * per_class, len(train.images))
        pick = torch.randperm(len(train.images), generator=torch.Generator().manual_seed(seed))[:n]
        model = train_classifier(train.images[pick], train.labels[pick], network, epochs, seed)
        result["real_acc"] = round(accuracy_on(model, test.images, test.labels), 4)
    result.update({"train_images": k * per_class, "epochs": epochs, "time_s": round(time.perf_counter() - start, 1)})
    return result
