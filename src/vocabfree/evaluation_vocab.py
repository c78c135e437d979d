"""Vocabulary-free benchmark runner (the CaSED paper's protocol): a labelled dataset, a model, a method
(``cased`` or a baseline) and a caption database in; cluster accuracy, semantic similarity, semantic IoU and
the average number of candidates out.

Like ``vocabfree.evaluation`` it ties Tasks (classify) to Measure (metrics), for the CLI's
``eval vocab-free`` command and ``benchmarks/vocab_free.py``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from vocabfree.classify.methods import DEFAULT_METHOD, make_classifier, method_spec
from vocabfree.data import LabelledImages
from vocabfree.database.store import CaptionDatabase
from vocabfree.metrics import cluster_accuracy, semantic_iou, semantic_similarity
from vocabfree.models.cache import encode_images_cached
from vocabfree.models.protocol import VisionLanguageModel


def evaluate_vocabulary_free(
    model: VisionLanguageModel,
    dataset: LabelledImages,
    method: str = DEFAULT_METHOD,
    database: CaptionDatabase | None = None,
    *,
    image_embeddings: np.ndarray | None = None,
    cache_dir: str | Path | None = None,
    vocab_cache_dir: str | os.PathLike | None = None,
    sentence_encoder=None,
    batch_size: int = 32,
    progress: bool = False,
    **params,
) -> dict:
    """Run ``method`` (a name of ``classify.methods.METHODS``) on every image and score the top-1 names
    against the labels.

    ``image_embeddings`` (N, D) skip image encoding (else they are computed, cached under ``cache_dir``).
    ``sentence_encoder`` defaults to all-MiniLM-L6-v2 (CaSED's semantic-similarity encoder).
    ``params`` go to the classifier (``k``, ``alpha``, ``lexicon``, ...).
    """
    spec = method_spec(method)  # an unknown name fails here, before any image is encoded
    start = time.perf_counter()
    if image_embeddings is None:
        image_embeddings = encode_images_cached(
            model, dataset.paths, cache_dir, batch_size=batch_size, progress=progress
        )
    encode_seconds = time.perf_counter() - start
    classifier = make_classifier(method, model, database, cache_dir=vocab_cache_dir, **params)
    classifier.fit(progress=progress)  # one-time setup (vocabulary embeddings, lexicon): not per-image time
    t0 = time.perf_counter()
    predictions = classifier.predict_embeddings(image_embeddings, top_k=1, sources=[str(p) for p in dataset.paths])
    classify_seconds = time.perf_counter() - t0
    preds = [p.label for p in predictions]
    targets = list(dataset.labels)
    if sentence_encoder is None:
        from vocabfree.models.sentence import load_sentence_encoder

        sentence_encoder = load_sentence_encoder()
    n_candidates = (
        [len(p.candidates) for p in predictions]  # CaSED: names; closest caption: captions
        if classifier.num_candidates is None
        else [classifier.num_candidates] * len(preds)
    )
    return {
        "dataset": dataset.name,
        "model": model.name,
        "method": method,
        "database": str(database.path) if database is not None and spec.needs_database else None,
        "n_images": len(preds),
        "cluster_accuracy": 100.0 * cluster_accuracy(preds, targets),
        "semantic_similarity": semantic_similarity(preds, targets, sentence_encoder),
        "semantic_iou": semantic_iou(preds, targets),
        "avg_candidates": float(np.mean(n_candidates)),
        "unique_predictions": len(set(preds)),
        "classify_seconds": round(classify_seconds, 2),
        "images_per_second_from_embeddings": round(len(preds) / classify_seconds, 1) if classify_seconds else None,
        "encode_seconds": round(encode_seconds, 2),
        "examples": [{"label": t, "prediction": p} for t, p in list(zip(targets, preds, strict=True))[:5]],
    }
