"""Inception Score (Salimans et al., 2016): exp( E_x KL( p(y|x) || p(y) ) ).

It is high when each sample is classified confidently (sharp p(y|x)) and the classes are
used evenly (flat p(y)). It ranges from 1 (every sample gets the same prediction) to K.
It only means "Inception Score" with Inception logits; with a domain classifier's logits it
is a domain score on the same 1..K scale, comparable only with that classifier.
"""

from __future__ import annotations

import numpy as np
import torch

from gankit.errors import GankitError
from gankit.metrics.fid import ArrayLike


def inception_score_from_logits(logits: ArrayLike, splits: int = 10) -> tuple[float, float]:
    """Inception Score of `logits` `[N, K]` (numpy or torch; log-probabilities work too).

    The N rows are cut in order into `splits` near-equal parts (as in the original code);
    in each part p(y) is the mean of the softmax rows and the score is exp(mean KL).
    Returns `(mean, std)` of the per-split scores. Computed in float64.
    """
    x = torch.as_tensor(np.asarray(logits) if not isinstance(logits, torch.Tensor) else logits)
    x = x.detach().to("cpu", torch.float64)
    if x.ndim != 2 or x.shape[1] < 2:
        raise GankitError(f"logits must be [N, K] with K >= 2 classes, got shape {tuple(x.shape)}")
    if splits < 1 or x.shape[0] < splits:
        raise GankitError(f"need at least `splits` ({splits}) rows and splits >= 1, got {x.shape[0]} rows")
    if not torch.isfinite(x).all():
        raise GankitError("logits contain NaN or inf; check the classifier input")
    log_p = torch.log_softmax(x, dim=1)
    scores = []
    for part in torch.tensor_split(log_p, splits):
        # log p(y) = log mean_i p(y|x_i), computed stably with logsumexp.
        log_py = torch.logsumexp(part, dim=0) - np.log(part.shape[0])
        kl = (part.exp() * (part - log_py)).sum(dim=1)
        scores.append(float(torch.exp(kl.mean())))
    return float(np.mean(scores)), float(np.std(scores))
