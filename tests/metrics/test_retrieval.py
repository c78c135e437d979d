"""Retrieval recall on hand-made score matrices with answers worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from vocabfree.metrics import recall_from_scores, retrieval_recall

# 4 captions (rows) x 3 images (columns); captions 0 and 1 describe image 0, caption 2 image 1, caption 3 image 2.
SIM = np.array(
    [
        [0.9, 0.1, 0.2],  # true image 0 ranks 1st
        [0.3, 0.5, 0.4],  # true image 0 ranks 3rd
        [0.2, 0.6, 0.7],  # true image 1 ranks 2nd
        [0.1, 0.8, 0.0],  # true image 2 ranks 3rd
    ],
    np.float32,
)
OWNER = np.array([0, 0, 1, 2])


def test_recall_known_answer():
    # text->image hits: R@1 caption 0 only (1/4); R@2 captions 0 and 2 (2/4).
    # image->text, best rank among an image's captions: image 0 -> caption 0 first (rank 0); image 1 -> its
    # caption 2 is second in [0.1, 0.5, 0.6, 0.8] (rank 1); image 2 -> caption 3 last in [0.2, 0.4, 0.7, 0.0].
    out = recall_from_scores(SIM, OWNER, ks=(1, 2))
    assert out == pytest.approx(
        {
            "t2i_r1": 25.0,
            "i2t_r1": 100 / 3,
            "t2i_r2": 50.0,
            "i2t_r2": 200 / 3,
            "mean_recall": (25.0 + 100 / 3 + 50.0 + 200 / 3) / 4,
        }
    )
    assert list(out) == ["t2i_r1", "i2t_r1", "t2i_r2", "i2t_r2", "mean_recall"]


def test_embeddings_give_the_same_recall_as_their_dot_products():
    image = np.eye(3, dtype=np.float32)  # text @ image.T is then SIM itself
    assert retrieval_recall(image, SIM, OWNER) == recall_from_scores(SIM, OWNER)
    assert retrieval_recall(image, SIM, OWNER)["t2i_r5"] == 100.0  # k beyond the number of images


def test_ties_and_images_without_captions():
    # text->image counts only strictly higher scores, so a tie with the true image is still a hit
    tie = np.array([[0.5, 0.5], [0.5, 0.5]], np.float32)
    out = recall_from_scores(tie, np.array([1, 0]), ks=(1,))
    assert out["t2i_r1"] == 100.0
    # image->text sorts stably: on a tie the earlier caption comes first (image 0 -> caption 0 is its own,
    # image 1's caption 0 is not: caption 1 ranks second)
    out = recall_from_scores(tie, np.array([0, 1]), ks=(1,))
    assert out["i2t_r1"] == 50.0
    # an image nobody describes (column 3) is left out of image->text, not counted as a miss
    extra = np.hstack([SIM, np.full((4, 1), -1.0, np.float32)])
    assert recall_from_scores(extra, OWNER, ks=(1, 2))["i2t_r2"] == pytest.approx(200 / 3)


def test_perfect_and_reversed_embeddings():
    emb = np.eye(6, 8, dtype=np.float32)
    owner = np.arange(6)
    perfect = retrieval_recall(emb, emb, owner)
    assert perfect["t2i_r1"] == perfect["i2t_r1"] == perfect["mean_recall"] == 100.0
    wrong = retrieval_recall(emb, emb[::-1], owner)
    assert wrong["t2i_r1"] == 0.0 and wrong["i2t_r1"] == 0.0
