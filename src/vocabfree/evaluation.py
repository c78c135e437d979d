"""Benchmark runners: a labelled dataset and a model in, a dict of metrics out.

These tie Tasks (classify) to Measure (metrics); the CLI's ``eval`` commands and ``benchmarks/`` call them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from vocabfree.classify.zero_shot import ZeroShotClassifier
from vocabfree.data import LabelledImages
from vocabfree.metrics import cluster_accuracy, topk_accuracy
from vocabfree.models.cache import encode_images_cached
from vocabfree.models.protocol import VisionLanguageModel


def evaluate_zero_shot(
    model: VisionLanguageModel,
    dataset: LabelledImages,
    *,
    templates: str | Sequence[str] = "openai",
    descriptions: str | Mapping | None = "auto",
    calibrate: bool | str = "auto",
    batch_size: int = 32,
    cache_dir: str | Path | None = None,
    progress: bool = False,
) -> dict:
    """Top-1/top-5 accuracy and cluster accuracy of zero-shot classification over the dataset's classes."""
    start = time.perf_counter()
    embeddings = encode_images_cached(model, dataset.paths, cache_dir, batch_size=batch_size, progress=progress)
    encode_seconds = time.perf_counter() - start
    classifier = ZeroShotClassifier(model, templates=templates, descriptions=descriptions, calibrate=calibrate)
    classifier.fit(None, dataset.classes)
    ranked = [p.labels for p in classifier.predict_topk(embeddings, k=5)]
    targets = list(dataset.labels)
    return {
        "dataset": dataset.name,
        "model": model.name,
        "templates": templates if isinstance(templates, str) else f"{len(templates)} custom",
        "described_labels": len(classifier.descriptions_),
        "calibrated": classifier.calibrated_,
        "n_images": len(dataset),
        "n_classes": len(dataset.classes),
        "top1": 100 * topk_accuracy(ranked, targets, 1),
        "top5": 100 * topk_accuracy(ranked, targets, 5),
        "cluster_accuracy": 100 * cluster_accuracy([r[0] for r in ranked], targets),
        "encode_seconds": round(encode_seconds, 2),
        "images_per_second": round(len(dataset) / encode_seconds, 2) if encode_seconds > 0 else None,
        "seconds": round(time.perf_counter() - start, 2),
    }
