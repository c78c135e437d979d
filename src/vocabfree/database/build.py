"""Building a caption database: stream, deduplicate, embed shard by shard (resumable), index, publish.

While building, everything lives next to the target folder ``DIR``::

    DIR.partial/build.json     what is being built (model, dims, shard size, corpora fingerprints)
    DIR.partial/shards/...     finished shards (see ``shards.py``), each written atomically
    DIR.partial/index.faiss    then the index, then manifest.json

When the index and ``manifest.json`` are written, ``DIR.partial`` is renamed to ``DIR`` in one step. A
killed build leaves only ``DIR.partial``; rerunning with ``resume=True`` re-reads the corpora, checks that
``build.json`` still describes them (in every phase, also after the manifest exists), skips every shard
whose files match their checksums and hold the same captions, and embeds the rest. An existing ``DIR`` is
never touched unless ``overwrite=True``, and then only replaced after the new one is complete.

Engines: ``build_database`` embeds locally, or hands the shards still to do to ``embed(shards, folder)``
(the Ray engine), which writes them with ``shards.write_shard``; everything else (dedup, resume checks, index,
manifest, publication) is the same.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from vocabfree.atomic import atomic_path, atomic_write_text, remove_stale_temporaries
from vocabfree.database.files import check_files, file_entry
from vocabfree.database.index import IndexConfig, build_index
from vocabfree.database.manifest import INDEX, MANIFEST, Manifest, read_manifest, write_manifest
from vocabfree.database.readers import NORMALISATION, CorpusSource, StreamStats, stream_unique
from vocabfree.database.shards import (
    SHARDS,
    ShardSet,
    captions_sha256,
    embed_shard,
    read_shard_info,
    shard_done,
    shard_name,
    split_shards,
    write_shard,
)
from vocabfree.errors import DatabaseError, InvalidInputError

if TYPE_CHECKING:
    from vocabfree.models.protocol import VisionLanguageModel

# An engine that embeds and writes the ``(k, captions)`` shards it is handed into a folder (``write_shard``).
EmbedEngine = Callable[[Iterator[tuple[int, list[str]]], Path], object]

BUILD_STATE = "build.json"


@dataclass(frozen=True)
class BuildConfig:
    """How a database is built. ``shard_size`` is the unit of resumption (captions per shard)."""

    shard_size: int = 65536
    batch_size: int = 256  # texts per forward pass of the text encoder
    index: IndexConfig = field(default_factory=IndexConfig)


@dataclass(frozen=True)
class BuildReport:
    """What a build did: ``encoded`` counts captions embedded in this run (fewer than ``count`` on resume)."""

    path: Path
    count: int
    encoded: int
    shards_reused: int
    seconds: float
    encode_seconds: float
    index: dict = field(default_factory=dict)
    duplicates: int = 0

    @property
    def captions_per_second(self) -> float:
        """Text-embedding throughput of this run (captions encoded / time spent encoding)."""
        return self.encoded / self.encode_seconds if self.encode_seconds > 0 else float("nan")


@dataclass(frozen=True)
class BuildPlan:
    """A prepared build: the work folder, where shards go, and the state it was checked against."""

    out: Path
    work: Path
    state: dict

    @property
    def shards(self) -> Path:
        return self.work / SHARDS


def partial_dir(out: Path) -> Path:
    """The temporary folder a build of ``out`` works in."""
    return out.parent / f"{out.name}.partial"


def build_state(model_name: str, dim: int, sources: Sequence[CorpusSource], shard_size: int, **extra) -> dict:
    """What must not change between a build and its resumption."""
    return {
        "format_version": 2,
        "model": model_name,
        "embed_dim": int(dim),
        "shard_size": int(shard_size),
        "normalisation": NORMALISATION,
        "corpora": [{"name": s.name, "sha256": s.sha256} for s in sources],
        **extra,
    }


def _check_state(work: Path, state: dict) -> None:
    try:
        old = json.loads((work / BUILD_STATE).read_text(encoding="utf-8"))
        if not isinstance(old, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        raise DatabaseError(f"cannot resume from {work}: {BUILD_STATE} unreadable ({exc}); delete the folder") from exc
    changed = [key for key in sorted(set(state) | set(old)) if old.get(key) != state.get(key)]
    if changed:
        raise DatabaseError(
            f"cannot resume the build in {work}: {', '.join(changed)} changed since it started (the same corpora, "
            "model and shard size are needed); delete that folder to start over"
        )


def prepare_build(state: dict, out: str | os.PathLike, *, resume: bool = False, overwrite: bool = False) -> BuildPlan:
    """Check ``out`` and any interrupted build of it against ``state``; create the work folder if new."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise InvalidInputError(f"{out} already exists; pass --overwrite to replace it")
    work = partial_dir(out)
    if work.exists():
        if not resume:
            raise DatabaseError(
                f"an interrupted build exists at {work}; pass --resume to continue it, or delete that folder"
            )
        _check_state(work, state)
        for folder in (work, work / SHARDS):  # temporary files of writes a kill interrupted
            if folder.is_dir():
                remove_stale_temporaries(folder)
    else:
        (work / SHARDS).mkdir(parents=True)
        atomic_write_text(work / BUILD_STATE, json.dumps(state, indent=2))
    return BuildPlan(out, work, state)


def build_database(
    model: VisionLanguageModel,
    sources: Sequence[CorpusSource],
    out: str | os.PathLike,
    *,
    config: BuildConfig | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = False,
    embed: EmbedEngine | None = None,
) -> BuildReport:
    """Embed the captions of ``sources`` with ``model`` and write a database folder at ``out``.

    Captions are streamed, normalised and deduplicated across all sources (first occurrence wins). Raises
    ``InvalidInputError`` if ``out`` exists (without ``overwrite``) or there are no captions, and
    ``DatabaseError`` if an interrupted build is found without ``resume`` or cannot be resumed.

    ``embed``: another engine, ``embed(shards, folder)``, given the ``(k, captions)`` shards still to do
    (streamed) and the folder to ``write_shard`` them into; by default they are embedded here, one by one.
    ``encode_seconds`` then times the streaming and embedding together.
    """
    config = config or BuildConfig()
    if config.shard_size < 1 or config.batch_size < 1:
        raise InvalidInputError("shard_size and batch_size must be >= 1")
    started = time.perf_counter()
    dim = int(model.embed_dim)
    plan = prepare_build(
        build_state(model.name, dim, sources, config.shard_size), out, resume=resume, overwrite=overwrite
    )
    if (plan.work / MANIFEST).is_file():  # killed after the manifest was written: state checked above
        manifest = publish(plan)
        return BuildReport(
            plan.out, manifest.count, 0, len(manifest.shards), time.perf_counter() - started, 0.0, manifest.index
        )

    from tqdm.auto import tqdm

    stats = StreamStats()
    counts: list[int] = []
    done = {"encoded": 0, "reused": 0}

    def pending() -> Iterator[
        tuple[int, list[str]]
    ]:  # every shard of the plan, counted; finished ones are skipped here
        with tqdm(desc=f"embed captions ({model.name})", unit="cap", disable=not progress, smoothing=0.1) as bar:
            for k, captions in split_shards(stream_unique(sources, stats), config.shard_size):
                counts.append(len(captions))
                if shard_done(plan.shards, k, captions_sha256=captions_sha256(captions), model=model.name, dims=dim):
                    done["reused"] += 1
                else:
                    done["encoded"] += len(captions)
                    yield k, captions
                bar.update(len(captions))

    t0 = time.perf_counter()
    if embed is None:
        for k, captions in pending():
            write_shard(
                plan.shards, k, captions, embed_shard(model, captions, config.batch_size), {"model": model.name}
            )
    else:
        embed(pending(), plan.shards)
    encode_seconds = time.perf_counter() - t0
    if not counts:
        raise InvalidInputError("the corpora contain no captions (after dropping empty lines)")
    corpora = [{"name": s.name, "sha256": s.sha256, "texts": stats.raw.get(s.name, 0)} for s in sources]
    manifest = finish_build(plan, counts, corpora, config.index, progress=progress)
    return BuildReport(
        plan.out,
        manifest.count,
        done["encoded"],
        done["reused"],
        time.perf_counter() - started,
        encode_seconds,
        manifest.index,
        stats.duplicates,
    )


def finish_build(
    plan: BuildPlan,
    counts: Sequence[int],
    corpora: Sequence[dict],
    index_config: IndexConfig,
    *,
    progress: bool = False,
) -> Manifest:
    """Check every shard, build the index, write the manifest and publish ``plan.out``."""
    import faiss

    files = {}
    for k, count in enumerate(counts):
        info = read_shard_info(plan.shards, k)
        if info.count != count or info.model != plan.state["model"] or info.dims != plan.state["embed_dim"]:
            raise DatabaseError(f"shard {k} in {plan.shards} does not belong to this build; delete {plan.work}")
        check_files(plan.shards, info.files, checksums=False)  # publish() re-reads every checksum
        files.update({f"{SHARDS}/{name}": entry for name, entry in info.files.items()})
        files[f"{SHARDS}/{shard_name(k)}.json"] = file_entry(plan.shards / f"{shard_name(k)}.json")
    for stray in plan.shards.iterdir():  # shards of a longer earlier plan, temporary files of a killed write
        if f"{SHARDS}/{stray.name}" not in files:
            stray.unlink()
    vectors = ShardSet(plan.shards, counts)
    index, params = build_index(vectors, index_config, progress=progress)
    (plan.work / INDEX).unlink(missing_ok=True)
    if index is not None:
        with atomic_path(plan.work / INDEX) as tmp:
            faiss.write_index(index, str(tmp))
        files[INDEX] = file_entry(plan.work / INDEX)
    manifest = Manifest(
        model=plan.state["model"],
        embed_dim=plan.state["embed_dim"],
        count=int(sum(counts)),
        index=params,
        normalisation=NORMALISATION,
        corpora=tuple(corpora),
        shards=tuple({"shard": k, "count": int(c)} for k, c in enumerate(counts)),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        files=files,
    )
    write_manifest(plan.work, manifest)
    return publish(plan)


def publish(plan: BuildPlan) -> Manifest:
    """Verify the finished work folder completely, then rename it to ``plan.out``; an old ``out`` is moved
    aside first and deleted last, so some complete database is always in place."""
    work, out = plan.work, plan.out
    manifest = read_manifest(work)  # internal invariant: only finished, intact builds are published
    if manifest.model != plan.state["model"] or [c["sha256"] for c in manifest.corpora] != [
        c["sha256"] for c in plan.state["corpora"]
    ]:
        raise DatabaseError(
            f"refusing to publish {work}: it was built from other corpora or another model; "
            "delete that folder to start over"
        )
    check_files(work, manifest.files)
    (work / BUILD_STATE).unlink(missing_ok=True)
    replace_folder(work, out)
    return manifest


def replace_folder(src: Path, dst: Path, *, aside: str = "old") -> None:
    """Rename the finished folder ``src`` to ``dst`` through ``atomic_path`` (fsync'ed, renamed, parent
    fsync'ed). An existing ``dst`` is first renamed to ``dst.<aside>-PID`` (restored if the publication fails)
    and deleted last, so some complete database is always in place."""
    old = None
    if dst.exists():
        old = dst.parent / f"{dst.name}.{aside}-{os.getpid()}"
        dst.replace(old)
    try:
        with atomic_path(dst) as tmp:
            src.replace(tmp)
    except BaseException:
        if old is not None and not dst.exists():
            old.replace(dst)
        raise
    if old is not None:
        shutil.rmtree(old) if old.is_dir() else old.unlink()
