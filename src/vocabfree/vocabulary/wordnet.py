"""A minimal reader of the WordNet 3.0 database files (Debian ``wordnet-base``, or NLTK's ``wordnet`` corpus).

We parse the plain-text ``index.<pos>`` and ``data.<pos>`` files directly instead of going through NLTK's
reader: it is a few dozen lines, needs no NLTK data path configuration (NLTK >= 3.9 refuses paths outside
its data roots), and loads the ~150k lemmas in well under a second.

File formats (``man 5 wndb``):
- ``index.<pos>``: ``lemma pos synset_cnt p_cnt [ptr_symbol...] sense_cnt tagsense_cnt offset...``
- ``data.<pos>``: ``offset lex_filenum ss_type w_cnt(hex) [word lex_id]... p_cnt [ptr...] | gloss``
License lines start with two spaces and are skipped.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vocabfree.errors import MissingDependencyError

_EXAMPLES = re.compile(r';?\s*"')  # usage examples follow the definition in double quotes
_MARKER = re.compile(r"\([a-z]+\)$")  # adjective position markers: big(a), galore(ip)
POS_FILES = {"noun": "noun", "verb": "verb", "adj": "adj", "adv": "adv"}

#: Where WordNet's database files are usually installed, most specific first.
CANDIDATE_DIRS = (
    "/usr/share/wordnet",  # Debian/Ubuntu: apt-get install wordnet-base
    "/usr/local/share/wordnet",
    "/opt/homebrew/share/wordnet",
    "/usr/local/opt/wordnet/dict",
)


def find_wordnet_dir(path: str | os.PathLike | None = None) -> Path:
    """The directory holding ``index.noun`` etc.: ``path`` if given, else the usual install locations and
    NLTK's data directories. Raises ``MissingDependencyError`` saying how to install it."""
    candidates: list[Path] = []
    if path is not None:
        candidates.append(Path(path))
    else:
        candidates += [Path(p) for p in CANDIDATE_DIRS]
        nltk_roots = [
            os.environ.get("NLTK_DATA", ""),
            str(Path.home() / "nltk_data"),
            "/usr/share/nltk_data",
            "/usr/local/share/nltk_data",
        ]
        candidates += [Path(r) / "corpora" / "wordnet" for r in nltk_roots if r]
    for folder in candidates:
        if (folder / "index.noun").is_file() and (folder / "data.noun").is_file():
            return folder
    where = str(path) if path is not None else ", ".join(str(c) for c in candidates)
    raise MissingDependencyError(
        f"WordNet database files (index.noun, data.noun) not found in {where}; install them with "
        "'apt-get install wordnet-base' (Debian/Ubuntu) or point to a WordNet 3.0 'dict' folder"
    )


@dataclass(frozen=True)
class IndexEntry:
    """One lemma in one part of speech: how many senses it has and how many were seen in tagged text."""

    lemma: str  # lower-case, words joined by "_"
    pos: str  # noun, verb, adj, adv
    sense_count: int
    tagged_count: int  # SemCor frequency of its senses: a proxy for how common this use is
    offsets: tuple[int, ...] = ()  # its synsets in data.<pos>, most frequent sense first


def read_index(folder: Path, pos: str) -> Iterator[IndexEntry]:
    """Yield the entries of ``index.<pos>``."""
    with open(folder / f"index.{POS_FILES[pos]}", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith(" "):
                continue
            fields = line.split()
            p_cnt = int(fields[3])
            sense_cnt, tagsense_cnt = int(fields[4 + p_cnt]), int(fields[5 + p_cnt])
            offsets = tuple(int(f) for f in fields[6 + p_cnt : 6 + p_cnt + sense_cnt])
            yield IndexEntry(fields[0], pos, sense_cnt, tagsense_cnt, offsets)


@dataclass(frozen=True)
class Synset:
    """One synset of ``data.<pos>``: its lemmas (first is the head word), gloss and hypernym offsets."""

    offset: int
    pos: str
    lemmas: tuple[str, ...]  # as written in WordNet, words joined by "_", case preserved
    gloss: str  # definition only, usage examples removed
    hypernyms: tuple[int, ...]  # "@" (hypernym) and "@i" (instance hypernym) pointers


def read_synsets(folder: Path, pos: str = "noun") -> Iterator[Synset]:
    """Yield the synsets of ``data.<pos>``."""
    with open(folder / f"data.{POS_FILES[pos]}", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith(" "):
                continue
            head, _, gloss = line.partition(" | ")
            fields = head.split()
            w_cnt = int(fields[3], 16)
            lemmas = tuple(_MARKER.sub("", fields[4 + 2 * i]) for i in range(w_cnt))
            at = 4 + 2 * w_cnt
            p_cnt = int(fields[at])
            hypernyms = tuple(
                int(fields[at + 1 + 4 * i + 1]) for i in range(p_cnt) if fields[at + 1 + 4 * i] in ("@", "@i")
            )
            definition = _EXAMPLES.split(gloss, maxsplit=1)[0].strip().rstrip(";").strip()
            yield Synset(int(fields[0]), pos, lemmas, definition, hypernyms)
