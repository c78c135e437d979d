"""Static vocabularies for the baselines of the CaSED paper: every WordNet noun, every English word.

A static vocabulary is a fixed, ordered tuple of names; the classifier scores an image against all of
them. Names are lower-case with spaces (``golden retriever``), deduplicated in first-seen order so the
result (and any embedding cache keyed on it) is the same on every run.
"""

from __future__ import annotations

import os
from functools import lru_cache

from vocabfree.errors import MissingDependencyError


def _clean(names) -> tuple[str, ...]:
    out = (" ".join(n.replace("_", " ").split()).lower() for n in names)
    return tuple(dict.fromkeys(n for n in out if n))


@lru_cache(maxsize=4)
def wordnet_nouns(path: str | os.PathLike | None = None, *, multiword: bool = True) -> tuple[str, ...]:
    """All noun lemmas of WordNet 3.0 (117,798 with multi-word lemmas, 57,506 single words), sorted."""
    from vocabfree.vocabulary.wordnet import find_wordnet_dir, read_index

    folder = find_wordnet_dir(path)
    lemmas = sorted(e.lemma for e in read_index(folder, "noun") if multiword or "_" not in e.lemma)
    return _clean(lemmas)


@lru_cache(maxsize=2)
def english_words(source: str = "web2") -> tuple[str, ...]:
    """The English-words list of PyPI ``english-words`` (``web2``: Webster's 2nd, ~235k words), lower-case,
    alphabetic only, sorted."""
    try:
        from english_words import get_english_words_set
    except ImportError as exc:
        raise MissingDependencyError("the English-words vocabulary needs 'pip install english-words'") from exc
    words = get_english_words_set([source], lower=True, alpha=True)
    return _clean(sorted(words))


def clean_names(names) -> tuple[str, ...]:
    """Normalise a user-given class-name list the same way (underscores to spaces, lower-case, dedup)."""
    return _clean(names)
