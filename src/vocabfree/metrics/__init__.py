"""Measure: classification metrics (incl. CaSED's vocabulary-free metrics), retrieval recall and caption metrics."""

from vocabfree.metrics.classification import (
    cluster_accuracy,
    semantic_iou,
    semantic_similarity,
    topk_accuracy,
    word_set,
)
from vocabfree.metrics.retrieval import recall_from_scores, retrieval_recall

__all__ = [
    "cluster_accuracy",
    "recall_from_scores",
    "retrieval_recall",
    "semantic_iou",
    "semantic_similarity",
    "topk_accuracy",
    "word_set",
]
