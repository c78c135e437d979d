"""Turning retrieved captions into candidate class names: small text transforms, composed.

CaSED's candidate extraction is a fixed chain of tiny string operations (vic's ``default_vocab_transform``).
Each step here is a callable ``str -> str`` with a ``__repr__``, so the chain prints as the recipe it is,
and each step can be tested alone. ``TextCompose`` joins the captions of one image into one text, runs the
chain, and splits the result into words. ``default_transform()`` documents the published steps in order.

Two deliberate differences from vic, both for determinism or correctness:
- ``RemoveDuplicates`` keeps first-seen order (vic uses a ``set``, so its output depends on the hash seed).
- ``ToSingular`` also singularises ``-ies``/``-oes`` plurals ("puppies" -> "puppy"); vic skips them.
- Parts of speech come from a context-free lexicon (``FilterLexicon``), not a neural POS tagger.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import cached_property

from vocabfree.vocabulary.lexicon import Lexicon

#: Words CaSED drops because they describe the medium, not the content of an image.
MEDIUM_WORDS: tuple[str, ...] = (
    "image",
    "photo",
    "picture",
    "thumbnail",
    "logo",
    "symbol",
    "clipart",
    "portrait",
    "painting",
    "illustration",
    "icon",
    "profile",
)


class TextTransform:
    """Base class: a ``str -> str`` step. Subclasses set their parameters in ``__init__`` only."""

    def __call__(self, text: str) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({params})"

    def _params(self) -> dict:
        return {}


class DropTokens(TextTransform):
    """Remove tokens in angle brackets (``<PERSON>``, ``<br>``) left by caption scrapers."""

    def __call__(self, text: str) -> str:
        return re.sub(r"<[^>]*>", " ", text)


class DropURLs(TextTransform):
    """Remove URLs (``http...`` and ``www....``), which are never class names."""

    def __call__(self, text: str) -> str:
        return re.sub(r"(?:https?://|www\.)\S*|http\S*", " ", text)


class DropSpecialCharacters(TextTransform):
    """Remove characters other than word characters, whitespace, ``-``, ``.``, ``'`` and ``&``.

    Dots and dashes survive this step on purpose: the next steps need them to find file extensions and
    compound separators.
    """

    def __call__(self, text: str) -> str:
        return re.sub(r"[^\w\s\-.'&]", " ", text)


class DropFileExtensions(TextTransform):
    """Remove a dot and the word characters after it (``dog.jpg`` -> ``dog``)."""

    def __call__(self, text: str) -> str:
        return re.sub(r"\.\w+", "", text)


class ReplaceSeparators(TextTransform):
    """Turn ``_`` and ``-`` into spaces, so ``golden_retriever`` and ``t-shirt`` split into words."""

    def __call__(self, text: str) -> str:
        return re.sub(r"[_\-]", " ", text)


class DropShortWords(TextTransform):
    """Drop words shorter than ``min_length`` characters (articles, prepositions, initials)."""

    def __init__(self, min_length: int = 3):
        self.min_length = min_length

    def _params(self) -> dict:
        return {"min_length": self.min_length}

    def __call__(self, text: str) -> str:
        return " ".join(w for w in text.split() if len(w) >= self.min_length)


class DropNonAlpha(TextTransform):
    """Drop words that are not purely ASCII letters (numbers, ``3d``, leftovers such as ``&``).

    Apostrophes are removed first, so a possessive becomes a plural-looking word (``dog's`` -> ``dogs``)
    that ``ToSingular`` then maps back to the noun, and sentence punctuation around a word is stripped
    (``grass.`` -> ``grass``).
    """

    _WORD = re.compile(r"[A-Za-z]+")

    def __call__(self, text: str) -> str:
        words = (w.replace("'", "").strip(".&") for w in text.split())
        return " ".join(w for w in words if self._WORD.fullmatch(w))


class ToLowercase(TextTransform):
    """Lower-case everything, so counting and deduplication see one form per word."""

    def __call__(self, text: str) -> str:
        return text.lower()


class ToSingular(TextTransform):
    """Singularise plural nouns with ``inflect`` so "dogs" and "dog" count as one candidate.

    Words ending in ``ss``, ``us`` or ``is`` are left alone: inflect would turn "glass" into "glas" and
    "bus" into "bu".
    """

    _KEEP_ENDINGS = ("ss", "us", "is")

    @cached_property
    def _engine(self):
        import inflect  # imported on first use: ~0.3 s, and only the candidate extraction needs it

        return inflect.engine()

    @cached_property
    def _known(self) -> dict[str, str]:
        # inflect's type-checked rule search costs ~0.3 ms a word (a third of CaSED's time after the model and
        # search); captions repeat their words, so each plural is looked up once. Bounded: cleared when full.
        return {}

    def _singular(self, word: str) -> str:
        if not word.endswith("s") or word.endswith(self._KEEP_ENDINGS):
            return word
        known = self._known
        if word not in known:
            if len(known) >= 100_000:
                known.clear()
            known[word] = self._engine.singular_noun(word) or word
        return known[word]

    def __call__(self, text: str) -> str:
        return " ".join(self._singular(w) for w in text.split())


class DropWords(TextTransform):
    """Drop the given whole words (case-insensitive)."""

    def __init__(self, words: Iterable[str] = MEDIUM_WORDS):
        self.words = tuple(words)
        self._drop = frozenset(w.lower() for w in self.words)

    def _params(self) -> dict:
        return {"words": self.words}

    def __call__(self, text: str) -> str:
        return " ".join(w for w in text.split() if w.lower() not in self._drop)


class MinWordCount(TextTransform):
    """Keep words seen at least ``min_count`` times across the text (all retrieved captions joined).

    When no word reaches ``min_count``, the threshold drops to the highest count present, so the most
    frequent words survive instead of nothing (CaSED's fallback).
    """

    def __init__(self, min_count: int = 2):
        self.min_count = min_count

    def _params(self) -> dict:
        return {"min_count": self.min_count}

    def __call__(self, text: str) -> str:
        words = text.split()
        if self.min_count <= 1 or not words:
            return text
        counts = Counter(words)
        threshold = min(self.min_count, max(counts.values()))
        return " ".join(w for w in words if counts[w] >= threshold)


class FilterLexicon(TextTransform):
    """Keep words whose part of speech, per ``lexicon``, is one of ``keep_tags`` (default nouns, adjectives).

    This stands in for CaSED's POS tagger: a lexicon knows which parts of speech a word can have, not which
    one it has in this sentence. ``keep_tags`` means the same for every lexicon.
    """

    def __init__(self, lexicon: Lexicon, keep_tags: Sequence[str] = ("noun", "adj")):
        self.lexicon = lexicon
        self.keep_tags = tuple(keep_tags)
        self._keep = frozenset(self.keep_tags)

    def _params(self) -> dict:
        return {"lexicon": self.lexicon, "keep_tags": self.keep_tags}

    def __call__(self, text: str) -> str:
        return " ".join(w for w in text.split() if self.lexicon.tags(w) & self._keep)


class RemoveDuplicates(TextTransform):
    """Keep the first occurrence of each word, preserving order (deterministic, unlike a ``set``)."""

    def __call__(self, text: str) -> str:
        return " ".join(dict.fromkeys(text.split()))


class TextCompose:
    """Run transforms in order over one or more texts; returns the resulting words.

    A list of texts (the captions retrieved for one image) is joined into one text first, so counting
    steps see words across all captions.
    """

    def __init__(self, transforms: Sequence[TextTransform]):
        self.transforms = tuple(transforms)

    def __call__(self, texts: str | Sequence[str]) -> list[str]:
        text = texts if isinstance(texts, str) else "\n".join(texts)
        for transform in self.transforms:
            text = transform(text)
        return text.split()

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"{type(self).__name__}([{inner}\n])"


def default_transform(lexicon: Lexicon | None = None, *, min_count: int = 2) -> TextCompose:
    """CaSED's candidate extraction, step by step (the order matters).

    1. ``DropTokens``: remove ``<...>`` tokens.
    2. ``DropURLs``: remove URLs.
    3. ``DropSpecialCharacters``: keep only word characters, whitespace and ``- . ' &``.
    4. ``DropFileExtensions``: ``dog.jpg`` -> ``dog``.
    5. ``ReplaceSeparators``: ``_`` and ``-`` become spaces.
    6. ``DropShortWords(3)``: drop words of fewer than 3 characters.
    7. ``DropNonAlpha``: drop words that are not purely letters (after removing apostrophes).
    8. ``ToLowercase``.
    9. ``ToSingular``: plural -> singular with inflect.
    10. ``DropWords(MEDIUM_WORDS)``: drop image, photo, picture, thumbnail, logo, symbol, clipart,
        portrait, painting, illustration, icon, profile.
    11. ``MinWordCount(2)``: keep words seen at least twice across the captions (or the most frequent).
    12. ``FilterLexicon(keep_tags=("noun", "adj"))``: keep nouns and adjectives (skipped when ``lexicon``
        is None, e.g. where WordNet is not installed).
    13. ``RemoveDuplicates``: one copy of each word, first-seen order.

    An empty result is replaced by ``"object"`` by the caller (``classify.steps.extract_candidates``).
    """
    steps: list[TextTransform] = [
        DropTokens(),
        DropURLs(),
        DropSpecialCharacters(),
        DropFileExtensions(),
        ReplaceSeparators(),
        DropShortWords(min_length=3),
        DropNonAlpha(),
        ToLowercase(),
        ToSingular(),
        DropWords(MEDIUM_WORDS),
        MinWordCount(min_count=min_count),
    ]
    if lexicon is not None:
        steps.append(FilterLexicon(lexicon, keep_tags=("noun", "adj")))
    steps.append(RemoveDuplicates())
    return TextCompose(steps)
