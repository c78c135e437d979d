"""Caption databases: streaming readers, sharded resumable build, FAISS index with exact re-ranking, import of
precomputed embeddings, verification, search, deduplication.

Nothing heavy is imported here: faiss and pyarrow load when a database is built or opened.
"""

from vocabfree.database.build import (
    BuildConfig,
    BuildPlan,
    BuildReport,
    build_database,
    build_state,
    finish_build,
    partial_dir,
    prepare_build,
)
from vocabfree.database.dedup import DEDUP_THRESHOLD, near_duplicate_mask
from vocabfree.database.index import FLAT_MAX, INDEX_KINDS, IndexConfig, parse_size
from vocabfree.database.manifest import FORMAT_VERSION, Manifest, read_manifest
from vocabfree.database.readers import (
    CorpusSource,
    StreamStats,
    corpus_from_texts,
    deduplicate,
    normalise,
    read_corpus,
    stream_unique,
)
from vocabfree.database.shards import caption_shards, embed_shard, read_shard, shard_done, write_shard
from vocabfree.database.store import VERIFY_ON_OPEN_BYTES, CaptionDatabase, SearchHits, check_model, verify_files

__all__ = [
    "DEDUP_THRESHOLD",
    "FLAT_MAX",
    "FORMAT_VERSION",
    "INDEX_KINDS",
    "VERIFY_ON_OPEN_BYTES",
    "BuildConfig",
    "BuildPlan",
    "BuildReport",
    "CaptionDatabase",
    "CorpusSource",
    "IndexConfig",
    "Manifest",
    "SearchHits",
    "StreamStats",
    "build_database",
    "build_state",
    "caption_shards",
    "check_model",
    "corpus_from_texts",
    "deduplicate",
    "embed_shard",
    "finish_build",
    "near_duplicate_mask",
    "normalise",
    "parse_size",
    "partial_dir",
    "prepare_build",
    "read_corpus",
    "read_manifest",
    "read_shard",
    "shard_done",
    "stream_unique",
    "verify_files",
    "write_shard",
]
