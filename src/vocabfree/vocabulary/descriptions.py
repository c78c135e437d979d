"""Label descriptions from WordNet: "classification by description" without a language model.

A zero-shot classifier embeds each label's name; a small sentence encoder knows little about rare names
("monkshood", "globe thistle"), but WordNet defines them ("a poisonous herb ... having hooded blue-purple
flowers"). Adding the definition to the label's embedding (the idea of Menon & Vondrick, 2023, and CuPL,
with WordNet in place of an LLM) gives the encoder words it understands.

Many names have several senses ("rose" is a shrub and a colour), and the right one depends on the other
labels: in a list of flowers it is the shrub. ``WordNetDescriber`` picks, for each label, the sense whose
hypernym ancestors are shared by the senses of the most *other* labels; with no context (one label) that
is WordNet's first, most frequent, sense. Pure text: nothing here touches a model.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from vocabfree.vocabulary.wordnet import Synset, find_wordnet_dir, read_index, read_synsets


@dataclass(frozen=True)
class _NounDatabase:
    senses: dict[str, tuple[int, ...]]  # lemma (lower case, "_" joined) -> synset offsets, most frequent first
    synsets: dict[int, Synset]


@lru_cache(maxsize=4)
def _load_nouns(folder: Path) -> _NounDatabase:
    """WordNet's nouns, read once per process (~1 s)."""
    senses = {entry.lemma: entry.offsets for entry in read_index(folder, "noun")}
    return _NounDatabase(senses, {s.offset: s for s in read_synsets(folder, "noun")})


def lemma_keys(label: str) -> list[str]:
    """The WordNet lemma spellings to try for a label: "Black-eyed Susan" -> black-eyed_susan, black_eyed_susan."""
    base = "_".join(label.strip().lower().split())
    keys = [base, base.replace("-", "_"), base.replace("-", ""), base.replace("'", "")]
    return list(dict.fromkeys(k for k in keys if k))


class WordNetDescriber:
    """Definitions (WordNet glosses) of labels, one sense per label chosen to fit the whole label set.

    ``WordNetDescriber().describe(["rose", "tulip"])`` -> ``["any of many shrubs of the genus Rosa ...", ...]``;
    labels WordNet does not know get ``None``. ``path`` is a WordNet 3.0 ``dict`` folder (default: the
    usual install locations; Debian's ``wordnet-base``).
    """

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = path

    @property
    def _db(self) -> _NounDatabase:
        return _load_nouns(find_wordnet_dir(self.path))

    def senses(self, label: str) -> list[Synset]:
        """All noun senses of ``label`` (first spelling WordNet knows), most frequent first."""
        db = self._db
        for key in lemma_keys(label):
            if key in db.senses:
                return [db.synsets[o] for o in db.senses[key] if o in db.synsets]
        return []

    def _ancestors(self, synset: Synset) -> frozenset[int]:
        """The synset and all its (instance) hypernyms, transitively."""
        synsets, seen, stack = self._db.synsets, set(), [synset.offset]
        while stack:
            offset = stack.pop()
            if offset not in seen:
                seen.add(offset)
                stack.extend(h for h in synsets[offset].hypernyms if h in synsets)
        return frozenset(seen)

    def choose_senses(self, labels: Sequence[str]) -> list[Synset | None]:
        """One sense per label: the one whose ancestors the other labels' senses share most (ties: the most
        frequent sense). A shared ancestor counts once per other label that has it under any sense."""
        candidates = [self.senses(label) for label in labels]
        ancestors = [[self._ancestors(s) for s in senses] for senses in candidates]
        shared: Counter[int] = Counter()
        for per_label in ancestors:
            shared.update(frozenset().union(*per_label))
        chosen: list[Synset | None] = []
        for senses, per_sense in zip(candidates, ancestors, strict=True):
            if not senses:
                chosen.append(None)
                continue
            support = [sum(shared[a] - 1 for a in sense_ancestors) for sense_ancestors in per_sense]
            chosen.append(senses[support.index(max(support))])  # index() takes the first (most frequent) on ties
        return chosen

    def describe(self, labels: Sequence[str]) -> list[str | None]:
        """The chosen sense's definition of each label, or None where WordNet has no such noun."""
        return [s.gloss if s is not None else None for s in self.choose_senses(labels)]
