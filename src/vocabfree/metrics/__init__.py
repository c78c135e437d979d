"""Measure: classification metrics (incl. CaSED's vocabulary-free metrics) and caption metrics."""

from vocabfree.metrics.classification import (
    cluster_accuracy,
    semantic_iou,
    semantic_similarity,
    topk_accuracy,
    word_set,
)

__all__ = ["cluster_accuracy", "semantic_iou", "semantic_similarity", "topk_accuracy", "word_set"]
