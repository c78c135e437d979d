"""Caption databases: build (embed, chunk, resume, atomic finish), FAISS index, search, deduplication.

Nothing heavy is imported here: faiss and pyarrow load when a database is built or opened.
"""

from vocabfree.database.build import BuildConfig, BuildReport, build_database, partial_dir
from vocabfree.database.corpus import CorpusSource, corpus_from_texts, deduplicate, normalise, read_corpus
from vocabfree.database.dedup import DEDUP_THRESHOLD, near_duplicate_mask
from vocabfree.database.index import INDEX_KINDS, IndexConfig
from vocabfree.database.manifest import FORMAT_VERSION, Manifest, read_manifest
from vocabfree.database.store import CaptionDatabase, SearchHits, check_model

__all__ = [
    "DEDUP_THRESHOLD",
    "FORMAT_VERSION",
    "INDEX_KINDS",
    "BuildConfig",
    "BuildReport",
    "CaptionDatabase",
    "CorpusSource",
    "IndexConfig",
    "Manifest",
    "SearchHits",
    "build_database",
    "check_model",
    "corpus_from_texts",
    "deduplicate",
    "near_duplicate_mask",
    "normalise",
    "partial_dir",
    "read_corpus",
    "read_manifest",
]
