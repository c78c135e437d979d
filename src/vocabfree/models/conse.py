"""ConSE (Norouzi et al., 2014): an image embedded as the probability-weighted mean of the *text* embeddings
of its top-T ImageNet classes, so it lives in the sentence encoder's space.

Shared by the ``local`` backends (``vocabfree.models.local``) and the alignment heads trained on top of them
(``vocabfree.models.alignment``), so neither has to import the other for these types. Pure numpy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vocabfree.errors import InvalidInputError
from vocabfree.models.protocol import l2_normalize


@dataclass(frozen=True)
class ConseConfig:
    """How classifier probabilities become a text-space embedding."""

    top_t: int = 10  # number of most probable ImageNet classes mixed (Norouzi et al. use T=10)
    name_prompt: str = "{}"  # how each class name is written before text encoding, e.g. "a photo of a {}."
    synonyms: bool = False  # average the embeddings of all WordNet synonyms of a class, not only its name
    center: bool = False  # subtract the mean class embedding on both sides (reduces hubness)
    temperature: float = 1.0  # softmax temperature on the ImageNet logits (>1 spreads mass over more classes)

    def __post_init__(self):
        if self.top_t < 1:
            raise InvalidInputError(f"top_t must be >= 1, got {self.top_t}")
        if self.temperature <= 0:
            raise InvalidInputError(f"temperature must be > 0, got {self.temperature}")
        if "{}" not in self.name_prompt:
            raise InvalidInputError(f"name_prompt must contain '{{}}', got {self.name_prompt!r}")


def class_text_embeddings(encode_texts: Callable[[list[str]], np.ndarray], config: ConseConfig) -> np.ndarray:
    """Text embedding of each ImageNet class, in logit order: (1000, D), normalised.

    ``encode_texts`` is a plain function ``list[str] -> (N, D)`` (the sentence encoder), kept as an argument
    so this stays testable without MiniLM.
    """
    from vocabfree.models.imagenet import imagenet_synonyms

    rows = imagenet_synonyms()
    names = [list(row) if config.synonyms else [row[0]] for row in rows]
    flat = [config.name_prompt.format(n) for group in names for n in group]
    emb = np.asarray(encode_texts(flat), dtype=np.float32)
    owner = np.repeat(np.arange(len(rows)), [len(g) for g in names])
    summed = np.zeros((len(rows), emb.shape[1]), np.float32)
    np.add.at(summed, owner, emb)
    return l2_normalize(summed)


def conse_embed(
    logits: np.ndarray, class_emb: np.ndarray, top_t: int, center: np.ndarray | None = None, temperature: float = 1.0
) -> np.ndarray:
    """ConSE: normalised sum over each row's top-T classes of p(class) x class embedding. (N, D).

    Probabilities come from a softmax over all classes, so confident images keep a dominant class and unsure
    ones mix several. Ties are broken by class index, so the result does not depend on input order.
    """
    logits = np.asarray(logits, dtype=np.float64) / temperature
    if logits.ndim != 2 or logits.shape[1] != class_emb.shape[0]:
        raise InvalidInputError(f"logits of shape {logits.shape} do not match {class_emb.shape[0]} classes")
    top_t = min(top_t, logits.shape[1])
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    top = np.argsort(-probs, axis=1, kind="stable")[:, :top_t]  # (N, T)
    weights = np.take_along_axis(probs, top, axis=1)  # (N, T)
    targets = class_emb if center is None else class_emb - center
    emb = np.einsum("nt,ntd->nd", weights, targets[top].astype(np.float64))
    return l2_normalize(emb)
