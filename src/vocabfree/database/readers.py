"""Streaming caption corpora and streaming exact deduplication.

A corpus is a file, a directory (every supported file inside, recursively, in sorted order: the layout of
Hugging Face dataset snapshots of CC3M/CC12M/RedCaps) or a glob (``data/train-*.parquet``). Supported:
``.txt`` (one caption per line), ``.csv``/``.tsv``, ``.jsonl``, each optionally gzip'd (``.gz``);
``.parquet`` (read in record batches, one column); webdataset ``.tar`` shards (caption from each sample's
``.txt``, else from its ``.json``). Nothing is read until the source is iterated, and only a batch at a
time is held, so corpora far larger than memory stream through.

Exact deduplication (after whitespace normalisation) keeps a set of 64-bit BLAKE2b hashes, 8 bytes per
unique caption (the chance of any collision among 100M captions is ~3e-4; a collision drops one caption).
"""

from __future__ import annotations

import csv
import glob as globlib
import gzip
import hashlib
import json
import os
import tarfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from vocabfree.data.jsonl import iter_jsonl
from vocabfree.database.files import file_sha256
from vocabfree.errors import InvalidInputError

#: Column names tried, in order, when a table's caption column is not given.
DEFAULT_COLUMNS = ("caption", "text", "sentence", "title")
NORMALISATION = "unicode whitespace collapsed to single spaces, stripped; empty lines and exact duplicates dropped"
FORMATS = (".txt", ".csv", ".tsv", ".jsonl", ".parquet", ".tar")
_BATCH = 8192


def normalise(text: str) -> str:
    """Collapse all whitespace (tabs, newlines, non-breaking spaces) to single spaces and strip."""
    return " ".join(str(text).split())


def _kind(path: Path) -> str:
    """The format of ``path`` by suffix (``.gz`` looks at the suffix before it)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
        if suffixes and suffixes[-1] in (".parquet", ".tar"):
            return "unsupported"
    return suffixes[-1] if suffixes and suffixes[-1] in FORMATS else "unsupported"


def _pick_column(columns: Sequence[str], column: str | None, where: str | Path) -> str:
    if column is not None:
        if column not in columns:
            raise InvalidInputError(f"{where}: no column '{column}'; columns are {list(columns)}")
        return column
    for name in DEFAULT_COLUMNS:
        if name in columns:
            return name
    if len(columns) == 1:
        return columns[0]
    raise InvalidInputError(
        f"{where}: cannot tell which column holds the captions (columns {list(columns)}); pass --caption-column NAME"
    )


def _open_text(path: Path):
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _iter_lines(path: Path) -> Iterator[str]:
    with _open_text(path) as fh:
        for line in fh:
            yield line.rstrip("\r\n")


def _iter_table(path: Path, column: str | None, delimiter: str) -> Iterator[str]:
    with _open_text(path) as fh:
        reader = csv.DictReader(fh, delimiter=delimiter)
        name = _pick_column(reader.fieldnames or [], column, path)
        for row in reader:
            yield row[name] or ""


def _record_text(record, column: str | None, where: str) -> str:
    if isinstance(record, str):
        return record
    if not isinstance(record, dict):
        raise InvalidInputError(f"{where}: expected an object or a string")
    value = record.get(_pick_column(list(record), column, where))
    return "" if value is None else str(value)


def _iter_jsonl(path: Path, column: str | None) -> Iterator[str]:
    with _open_text(path) as fh:
        for lineno, record in iter_jsonl(fh, path):
            yield _record_text(record, column, f"{path}:{lineno}")


def _iter_parquet(path: Path, column: str | None) -> Iterator[str]:
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid/OSError for non-parquet bytes
        raise InvalidInputError(f"{path}: not a readable parquet file ({exc})") from exc
    name = _pick_column(file.schema_arrow.names, column, path)
    for batch in file.iter_batches(batch_size=_BATCH, columns=[name]):
        for text in batch.column(0).to_pylist():
            yield "" if text is None else str(text)


def _iter_webdataset(path: Path, column: str | None) -> Iterator[str]:
    """Samples of a webdataset tar shard in file order: members sharing a key (the name up to the first dot
    of its base name) form one sample; its ``.txt`` member is the caption, else its ``.json``'s column.
    The stdlib's streaming tar reader is enough here: webdataset's pipeline adds decoding and shuffling
    for training, which captions do not need (and it would be one more dependency)."""

    def caption(sample: dict[str, bytes], key: str) -> str | None:
        if "txt" in sample:
            return sample["txt"].decode("utf-8")
        if "json" in sample:
            return _record_text(json.loads(sample["json"]), column, f"{path}:{key}.json")
        return None  # an image-only sample: no caption

    try:
        with tarfile.open(path, mode="r|*") as tar:
            key = ""  # the base name of the sample being collected
            sample: dict[str, bytes] = {}  # its members by extension
            for member in tar:
                if not member.isfile():
                    continue
                base = member.name.rsplit("/", 1)
                stem, _, ext = base[-1].partition(".")
                name = (base[0] + "/" if len(base) == 2 else "") + stem
                if name != key:
                    if sample and (text := caption(sample, key)) is not None:
                        yield text
                    key, sample = name, {}
                if ext.lower() in ("txt", "json"):
                    data = tar.extractfile(member)
                    assert data is not None  # a regular file (checked above)
                    sample[ext.lower()] = data.read()
            if sample and (text := caption(sample, key)) is not None:
                yield text
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise InvalidInputError(f"{path}: not a readable tar shard ({exc})") from exc


def iter_file(path: Path, column: str | None = None) -> Iterator[str]:
    """The raw texts of one corpus file, streamed."""
    kind = _kind(path)
    if kind == ".txt":
        return _iter_lines(path)
    if kind in (".csv", ".tsv"):
        return _iter_table(path, column, "\t" if kind == ".tsv" else ",")
    if kind == ".jsonl":
        return _iter_jsonl(path, column)
    if kind == ".parquet":
        return _iter_parquet(path, column)
    if kind == ".tar":
        return _iter_webdataset(path, column)
    raise InvalidInputError(
        f"{path}: unsupported corpus format; use .txt, .csv, .tsv, .jsonl (each optionally .gz), .parquet or "
        "webdataset .tar"
    )


@dataclass(frozen=True, eq=False)
class CorpusSource:
    """One corpus: a name, its files (or in-memory texts), and a SHA-256 fingerprint of its content.

    Iterating yields the raw texts (``build_database`` normalises and deduplicates them), streaming.
    """

    name: str
    files: tuple[Path, ...] = ()
    column: str | None = None
    memory: tuple[str, ...] | None = field(default=None, repr=False)

    def __iter__(self) -> Iterator[str]:
        if self.memory is not None:
            return iter(self.memory)
        return (text for path in self.files for text in iter_file(path, self.column))

    @cached_property
    def sha256(self) -> str:
        """Of the texts for in-memory sources; else of the files' names, sizes and bytes (one read pass)."""
        digest = hashlib.sha256()
        if self.memory is not None:
            digest.update("\n".join(self.memory).encode("utf-8"))
            return digest.hexdigest()
        if len(self.files) == 1:
            return file_sha256(self.files[0])
        for path in self.files:
            digest.update(f"{path.name}\0{path.stat().st_size}\0{file_sha256(path)}\n".encode())
        return digest.hexdigest()

    @property
    def texts(self) -> tuple[str, ...]:
        """All raw texts in memory (small corpora and tests only; builds stream)."""
        return self.memory if self.memory is not None else tuple(self)


def _expand(path: str | os.PathLike[str]) -> tuple[Path, ...]:
    text = str(path)
    if any(ch in text for ch in "*?["):
        files = sorted(Path(p) for p in globlib.glob(text, recursive=True) if Path(p).is_file())
        if not files:
            raise InvalidInputError(f"no corpus files match {text}")
        return tuple(files)
    path = Path(path)
    if path.is_dir():
        files = sorted(
            p
            for p in path.rglob("*")
            if p.is_file()
            and _kind(p) != "unsupported"
            and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        if not files:
            raise InvalidInputError(f"{path}: no corpus files inside (looked for {', '.join(FORMATS)}, and .gz)")
        return tuple(files)
    if not path.is_file():
        raise InvalidInputError(f"corpus file not found: {path}")
    return (path,)


def read_corpus(path: str | Path, *, column: str | None = None) -> CorpusSource:
    """A streaming source over a corpus file, directory or glob. Formats and the caption column are checked
    now (one row is read from the first file), so a bad corpus fails before hours of embedding."""
    files = _expand(path)
    for file in files:
        if _kind(file) == "unsupported":
            raise InvalidInputError(
                f"{file}: unsupported corpus format '{''.join(file.suffixes)}'; use .txt, .csv, .tsv, .jsonl "
                "(each optionally .gz), .parquet or webdataset .tar"
            )
    next(iter_file(files[0], column), None)  # fail fast on an unreadable file or a missing column
    return CorpusSource(name=str(path), files=files, column=column)


def corpus_from_texts(name: str, texts: Iterable[str]) -> CorpusSource:
    """Wrap in-memory texts (a built-in corpus, a test) as a source; the fingerprint covers the texts."""
    return CorpusSource(name=name, memory=tuple(texts))


def text_hashes(texts: Sequence[str]) -> np.ndarray:
    """64-bit BLAKE2b of each text's UTF-8 bytes, as uint64."""
    return np.fromiter(
        (int.from_bytes(hashlib.blake2b(t.encode("utf-8"), digest_size=8).digest(), "little") for t in texts),
        dtype=np.uint64,
        count=len(texts),
    )


class HashSet64:
    """A growing set of uint64 hashes in sorted runs merged like a binary counter (log-structured), so memory
    is ~8 bytes per hash and inserting N hashes costs O(N log N). Hand-written because neither numpy nor
    the standard library has a compact integer set (a Python ``set`` of ints costs ~70 bytes per entry)."""

    def __init__(self) -> None:
        self._runs: list[np.ndarray] = []

    def __len__(self) -> int:
        return sum(len(r) for r in self._runs)

    def add_new(self, hashes: np.ndarray) -> np.ndarray:
        """Insert ``hashes``; return a mask, True where a hash is new (not in the set, first in the batch)."""
        hashes = np.asarray(hashes, dtype=np.uint64)
        uniq, first = np.unique(hashes, return_index=True)
        new = np.ones(len(uniq), dtype=bool)
        for run in self._runs:
            pos = np.minimum(np.searchsorted(run, uniq), len(run) - 1)
            new &= run[pos] != uniq
        mask = np.zeros(len(hashes), dtype=bool)
        mask[first[new]] = True
        if new.any():
            self._runs.append(uniq[new])
            while len(self._runs) > 1 and len(self._runs[-2]) <= 2 * len(self._runs[-1]):
                top = self._runs.pop()
                self._runs[-1] = np.sort(np.concatenate([self._runs[-1], top]), kind="stable")
        return mask


@dataclass
class StreamStats:
    """Counts of a deduplicated stream, filled in as it is consumed."""

    raw: dict[str, int] = field(default_factory=dict)  # source name -> texts read
    empty: int = 0
    duplicates: int = 0
    unique: int = 0


def _batched(texts: Iterable[str], size: int) -> Iterator[list[str]]:
    block: list[str] = []
    for text in texts:
        block.append(text)
        if len(block) == size:
            yield block
            block = []
    if block:
        yield block


def stream_unique(sources: Iterable[CorpusSource], stats: StreamStats | None = None) -> Iterator[str]:
    """Normalised, non-empty captions of ``sources`` in order, each exact duplicate dropped (first wins)."""
    stats = stats if stats is not None else StreamStats()
    seen = HashSet64()
    for source in sources:
        stats.raw.setdefault(source.name, 0)
        for block in _batched(iter(source), _BATCH):
            stats.raw[source.name] += len(block)
            texts = [t for t in (normalise(x) for x in block) if t]
            stats.empty += len(block) - len(texts)
            mask = seen.add_new(text_hashes(texts))
            stats.duplicates += len(texts) - int(mask.sum())
            for text, keep in zip(texts, mask, strict=True):
                if keep:
                    stats.unique += 1
                    yield text


def deduplicate(texts: Iterable[str]) -> list[str]:
    """Normalise, drop empties and exact duplicates, keep first-seen order (in memory; see ``stream_unique``)."""
    return list(stream_unique([corpus_from_texts("texts", texts)]))
