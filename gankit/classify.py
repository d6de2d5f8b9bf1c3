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
from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.export import num_classes_of
from gankit.metrics.features import (DOMAIN_NETWORKS, DomainClassifier, classifier_accuracy, extract_features,
                                     fit_domain_classifier, load_split)
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


def train_classifier(images: Tensor, labels: Tensor, network: str, epochs: int, seed: int = 0) -> DomainClassifier:
    """A fresh `network` classifier trained on `images` `[N, C, H, W]` in [-1, 1] with `labels` `[N]`.

    The shipped classifier's own recipe (`fit_domain_classifier`), so the real-data baseline and CAS
    differ only in the training images.
    """
    return fit_domain_classifier(network, images, labels, epochs, seed).eval()


def classification_accuracy_score(G: nn.Module, network: str, per_class: int = 1000, epochs: int = 3,
                                  seed: int = 0, real_baseline: bool = True) -> dict:
    """CAS: test accuracy on the real test split of the domain network trained on G's samples only.

    With `real_baseline`, also trains the same network on `K * per_class` real training images
    (a fixed random subset) for the same epochs: `real_acc`. Returns
    {"cas", "real_acc" (optional), "train_images", "epochs", "time_s"}.
    """
    k = _check_conditional(G, network)
    start = time.perf_counter()
    test = load_split(network, "test")
    fake, fake_labels = generate_per_class(G, per_class, seed)
    result = {"cas": round(classifier_accuracy(train_classifier(fake, fake_labels, network, epochs, seed),
                                         test.images, test.labels), 4)}
    if real_baseline:
        train = load_split(network, "train")
        n = min(k * per_class, len(train.images))
        pick = torch.randperm(len(train.images), generator=torch.Generator().manual_seed(seed))[:n]
        model = train_classifier(train.images[pick], train.labels[pick], network, epochs, seed)
        result["real_acc"] = round(classifier_accuracy(model, test.images, test.labels), 4)
    result.update({"train_images": k * per_class, "epochs": epochs, "time_s": round(time.perf_counter() - start, 1)})
    return result
