"""ImageNet-1k class names, with synonyms, in the standard class-index order (the order of the logits).

The ConSE mapping of the ``local`` backend turns classifier probabilities into text embeddings of these
names, so the order must match the EfficientNet logits exactly. The names ship as a small JSON file
(``assets/imagenet_classes.json``: a list of 1000 lists, first entry the clean CLIP-style name, then WordNet
synonyms) so runtime needs neither WordNet nor a download; ``scripts``-free regeneration is described in
``docs/local-model.md``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

NUM_CLASSES = 1000


@lru_cache(maxsize=1)
def imagenet_synonyms() -> tuple[tuple[str, ...], ...]:
    """All names of each class, ``[index][0]`` being the preferred one. Read once from the package data."""
    text = resources.files("vocabfree.models").joinpath("assets/imagenet_classes.json").read_text("utf-8")
    rows = json.loads(text)
    if len(rows) != NUM_CLASSES or any(not row for row in rows):
        raise ValueError(f"corrupt imagenet_classes.json: {len(rows)} rows, expected {NUM_CLASSES} non-empty")
    return tuple(tuple(row) for row in rows)


def imagenet_classnames() -> tuple[str, ...]:
    """The preferred (clean) name of each of the 1000 classes, in logit order."""
    return tuple(row[0] for row in imagenet_synonyms())
