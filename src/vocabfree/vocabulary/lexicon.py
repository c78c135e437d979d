"""Parts of speech for single words: the pluggable stand-in for CaSED's POS tagger.

CaSED keeps nouns and adjectives of the retrieved captions with a neural tagger (flair). Running one needs
a model download, so here a *lexicon* answers "which parts of speech can this word have?" instead. The
interface is one method, ``tags(word) -> frozenset`` of ``{"noun", "adj", "verb", "adv", "other"}``, so a
real tagger or another word list can be plugged in.

``WordNetLexicon`` reads WordNet 3.0 (Debian ``wordnet-base``). WordNet lists a noun sense for nearly every
word ("two", "sit" are nouns there), so by default a word gets only its *dominant* parts of speech, the one(s)
whose senses are most frequent in WordNet's tagged corpus (``tagsense_cnt``), and closed-class words that a
tagger would label determiner, pronoun, numeral or preposition are ``"other"``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from functools import cached_property
from typing import Protocol, runtime_checkable

TAGS = frozenset({"noun", "adj", "verb", "adv", "other"})

#: Function words and numerals a POS tagger never tags noun/adjective in a caption, although WordNet has
#: a (rare) noun or adjective sense for some of them ("two", "one", "many", "there", "other").
_CLOSED_CLASS_WORDS = """
    the and but nor for yet its his her hers him our ours their theirs them they this that these those
    there here then than with without within into onto upon from about above below under over near
    while when where which who whom whose what why how all any both each either neither every few many
    much more most other another some such only own same very also just too not one two three four five six
    seven eight nine ten eleven twelve twenty thirty forty fifty hundred thousand million dozen several
    first second third next last are was were been being has have had does did can could should would
    will shall may might must itself himself herself themselves yourself myself something someone
    nothing anything everything along across around behind beside between beyond through toward towards
    against among amongst during before after since until via per like unlike off out down
"""
CLOSED_CLASS = frozenset(_CLOSED_CLASS_WORDS.split())


@runtime_checkable
class Lexicon(Protocol):
    """Answers which parts of speech a lower-case word can have."""

    def tags(self, word: str) -> frozenset[str]: ...


class SetLexicon:
    """A lexicon from explicit word lists, e.g. ``SetLexicon(noun=["dog"], adj=["red"])`` (tests, custom domains)."""

    def __init__(self, **words_by_tag: Iterable[str]):
        unknown = set(words_by_tag) - TAGS
        if unknown:
            raise ValueError(f"unknown tags {sorted(unknown)}; valid tags are {sorted(TAGS)}")
        self._tags: dict[str, frozenset[str]] = {}
        for tag, words in words_by_tag.items():
            for word in words:
                self._tags[word] = self._tags.get(word, frozenset()) | {tag}

    def tags(self, word: str) -> frozenset[str]:
        return self._tags.get(word, frozenset())

    def __repr__(self) -> str:
        return f"SetLexicon({len(self._tags)} words)"


class WordNetLexicon:
    """Parts of speech from WordNet 3.0 index files, read lazily on first use (~0.5 s).

    ``dominant=True`` (default) keeps only the most frequent part(s) of speech of a word (ties keep all;
    words never seen in WordNet's tagged corpus keep every part of speech they have);
    ``dominant=False`` returns every part of speech WordNet lists. Plural forms are not looked up:
    candidates are singularised before this filter runs.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, dominant: bool = True):
        self.path = path
        self.dominant = dominant

    @cached_property
    def _table(self) -> dict[str, frozenset[str]]:
        from vocabfree.vocabulary.wordnet import find_wordnet_dir, read_index

        folder = find_wordnet_dir(self.path)
        counts: dict[str, dict[str, int]] = {}
        for pos in ("noun", "verb", "adj", "adv"):
            for entry in read_index(folder, pos):
                if "_" in entry.lemma:
                    continue  # candidates are single words
                counts.setdefault(entry.lemma, {})[pos] = entry.tagged_count
        table = {}
        for word, by_pos in counts.items():
            if self.dominant and max(by_pos.values()) > 0:
                top = max(by_pos.values())
                table[word] = frozenset(p for p, c in by_pos.items() if c == top)
            else:
                table[word] = frozenset(by_pos)
        return table

    def tags(self, word: str) -> frozenset[str]:
        if word in CLOSED_CLASS:
            return frozenset({"other"})
        return self._table.get(word, frozenset())

    def __repr__(self) -> str:
        return f"WordNetLexicon(path={self.path!r}, dominant={self.dominant})"
