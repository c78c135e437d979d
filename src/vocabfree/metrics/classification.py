"""Classification metrics, including the vocabulary-free metrics of the CaSED paper.

In the vocabulary-free setting predictions are free-form names, so accuracy is replaced by
- cluster accuracy: predicted names are treated as cluster ids and matched one-to-one to the true classes
  by the Hungarian algorithm over the (predicted name x true class) contingency matrix; matched count / N.
- semantic similarity: cosine between sentence embeddings (all-MiniLM-L6-v2) of prediction and truth, x100.
- semantic IoU: word-set intersection over union of the normalised strings, x100.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from vocabfree.errors import InvalidInputError


def _check_lengths(preds: Sequence, targets: Sequence) -> None:
    if len(preds) != len(targets):
        raise InvalidInputError(f"{len(preds)} predictions but {len(targets)} targets")
    if len(preds) == 0:
        raise InvalidInputError("no predictions to score")


def topk_accuracy(ranked: Sequence[Sequence[str]], targets: Sequence[str], k: int = 1) -> float:
    """Fraction of samples whose target is among the first ``k`` ranked labels."""
    _check_lengths(ranked, targets)
    return float(np.mean([t in list(r)[:k] for r, t in zip(ranked, targets, strict=True)]))


def cluster_accuracy(preds: Sequence[str], targets: Sequence[str]) -> float:
    """Best one-to-one matching of predicted names to true classes (Hungarian), as a fraction of N.

    A predicted name can be credited to at most one class, so naming every image "object" scores at most the
    largest class's share, however often it would be right under a many-to-one mapping.
    """
    from scipy.optimize import linear_sum_assignment

    _check_lengths(preds, targets)
    pred_names, pred_ids = np.unique(np.asarray(preds, dtype=object).astype(str), return_inverse=True)
    true_names, true_ids = np.unique(np.asarray(targets, dtype=object).astype(str), return_inverse=True)
    contingency = np.zeros((len(pred_names), len(true_names)), dtype=np.int64)
    np.add.at(contingency, (pred_ids, true_ids), 1)
    rows, cols = linear_sum_assignment(contingency, maximize=True)
    return float(contingency[rows, cols].sum() / len(preds))


_NON_ALNUM = re.compile(r"[^a-z0-9 ]")


def word_set(text: str) -> set[str]:
    """Lower-case, keep letters, digits and spaces, split on whitespace."""
    return set(_NON_ALNUM.sub("", text.lower()).split())


def semantic_iou(preds: Sequence[str], targets: Sequence[str]) -> float:
    """Mean word-set IoU between each prediction and its target, x100 (0 when both sets are empty)."""
    _check_lengths(preds, targets)
    scores = []
    for p, t in zip(preds, targets, strict=True):
        a, b = word_set(p), word_set(t)
        union = a | b
        scores.append(len(a & b) / len(union) if union else 0.0)
    return 100.0 * float(np.mean(scores))


def semantic_similarity(preds: Sequence[str], targets: Sequence[str], encoder) -> float:
    """Mean cosine similarity of sentence embeddings of prediction and target, x100.

    ``encoder`` is any object with ``encode(texts) -> (N, D)`` L2-normalised rows, normally
    ``vocabfree.models.sentence.load_sentence_encoder()`` (all-MiniLM-L6-v2, mean pooling, as in CaSED).
    Unique strings are encoded once.
    """
    _check_lengths(preds, targets)
    vocab = list(dict.fromkeys([*map(str, preds), *map(str, targets)]))
    emb = np.asarray(encoder.encode(vocab), dtype=np.float32)
    emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    index = {text: i for i, text in enumerate(vocab)}
    p = emb[[index[str(x)] for x in preds]]
    t = emb[[index[str(x)] for x in targets]]
    return 100.0 * float(np.mean(np.sum(p * t, axis=1)))
