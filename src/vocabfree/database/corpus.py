"""Reading caption corpora: .txt, .csv/.tsv, .jsonl, .parquet, or texts already in memory.

Every source becomes a ``CorpusSource`` (name, content hash, texts). The hash goes into the database
manifest, so a database records exactly which corpus files it was built from, and a resumed build can
refuse to continue over changed inputs.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from vocabfree.errors import InvalidInputError

#: Column names tried, in order, when a table's caption column is not given.
DEFAULT_COLUMNS = ("caption", "text", "sentence", "title")
NORMALISATION = "unicode whitespace collapsed to single spaces, stripped; empty lines and exact duplicates dropped"


@dataclass(frozen=True)
class CorpusSource:
    """One corpus: where it came from, a SHA-256 of its bytes (or of its texts), and the raw texts."""

    name: str
    sha256: str
    texts: tuple[str, ...]


def normalise(text: str) -> str:
    """Collapse all whitespace (tabs, newlines, non-breaking spaces) to single spaces and strip."""
    return " ".join(str(text).split())


def deduplicate(texts: Iterable[str]) -> list[str]:
    """Normalise, drop empties and exact duplicates, keep first-seen order."""
    return list(dict.fromkeys(t for t in (normalise(x) for x in texts) if t))


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _pick_column(columns: Sequence[str], column: str | None, path: Path) -> str:
    if column is not None:
        if column not in columns:
            raise InvalidInputError(f"{path}: no column '{column}'; columns are {list(columns)}")
        return column
    for name in DEFAULT_COLUMNS:
        if name in columns:
            return name
    if len(columns) == 1:
        return columns[0]
    raise InvalidInputError(
        f"{path}: cannot tell which column holds the captions (columns {list(columns)}); pass --column NAME"
    )


def _read_table(path: Path, column: str | None, delimiter: str) -> list[str]:
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh, delimiter=delimiter)
        name = _pick_column(reader.fieldnames or [], column, path)
        return [row[name] or "" for row in reader]


def _read_jsonl(path: Path, column: str | None) -> list[str]:
    texts = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInputError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from exc
            if isinstance(record, str):
                texts.append(record)
                continue
            if not isinstance(record, dict):
                raise InvalidInputError(f"{path}:{lineno}: expected an object or a string")
            texts.append(str(record.get(_pick_column(list(record), column, path), "")))
    return texts


def _read_parquet(path: Path, column: str | None) -> list[str]:
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    name = _pick_column(schema.names, column, path)
    return [t or "" for t in pq.read_table(path, columns=[name]).column(name).to_pylist()]


def read_corpus(path: str | Path, *, column: str | None = None) -> CorpusSource:
    """Read one corpus file by extension; texts are returned raw (``build_database`` normalises them)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"corpus file not found: {path}")
    suffix = "".join(path.suffixes[-1:]).lower()
    if suffix == ".txt":
        texts = path.read_text(encoding="utf-8").splitlines()
    elif suffix in (".csv", ".tsv"):
        texts = _read_table(path, column, "\t" if suffix == ".tsv" else ",")
    elif suffix == ".jsonl":
        texts = _read_jsonl(path, column)
    elif suffix == ".parquet":
        texts = _read_parquet(path, column)
    else:
        raise InvalidInputError(
            f"{path}: unsupported corpus format '{suffix}'; use .txt, .csv, .tsv, .jsonl or .parquet"
        )
    return CorpusSource(name=str(path), sha256=_file_sha256(path), texts=tuple(texts))


def corpus_from_texts(name: str, texts: Iterable[str]) -> CorpusSource:
    """Wrap in-memory texts (a built-in corpus, a test) as a source; the hash covers the texts."""
    texts = tuple(texts)
    digest = hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()
    return CorpusSource(name=name, sha256=digest, texts=texts)
