import pytest

from vocabfree.errors import InvalidInputError
from vocabfree.vqa.data import VQAQuestion
from vocabfree.vqa.scoring import normalize_answer, score_from_count, score_predictions, vqa_score


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("Yes", "yes"),
        ("  Two\t", "2"),
        ("the dog.", "dog"),
        ("A tennis racket", "tennis racket"),
        ("dont know", "don't know"),
        ("can't tell", "can't tell"),
        ("1,000", "1000"),
        ("3.5", "3.5"),
        ("black/white", "black white"),
        ("none", "0"),
        ("an apple?", "apple"),
        ("Ten", "10"),
    ],
)
def test_normalize_answer(raw, normal):
    assert normalize_answer(raw) == normal


def test_normalize_is_idempotent():
    for text in ("The two dogs, playing.", "isnt it", "1:00", "mcdonald's"):
        once = normalize_answer(text)
        assert normalize_answer(once) == once


def test_soft_scores_of_the_file_are_used():
    answers = {"tennis racket": 1.0, "racket": 0.3, "pole": 0.3}
    assert vqa_score("Tennis racket", answers) == 1.0
    assert vqa_score("a racket.", answers) == 0.3
    assert vqa_score("ball", answers) == 0.0
    assert vqa_score("two", {"2": 0.6}) == 0.6
    assert vqa_score("yes", {}) == 0.0


def test_answers_equal_after_normalisation_take_the_higher_score():
    assert vqa_score("dog", {"the dog": 0.3, "dog": 0.9}) == 0.9


def test_score_from_count_is_min_humans_over_3_averaged_over_leave_one_out_subsets():
    # k of 10 annotators gave the answer: in the 10 subsets of 9, k subsets lose one match.
    assert [score_from_count(k) for k in range(0, 6)] == pytest.approx([0.0, 0.3, 0.6, 0.9, 1.0, 1.0])
    # by hand for k=2: 8 subsets keep 2 (2/3), 2 keep 1 (1/3) -> (8*2/3 + 2/3) / 10 = 0.6
    assert score_from_count(2) == pytest.approx((8 * 2 / 3 + 2 * 1 / 3) / 10)


def _q(qid, answers, kind):
    return VQAQuestion(qid, "img.jpg", "q?", answers, "test", kind, "what")


def test_score_predictions_overall_and_by_answer_type():
    questions = [
        _q(1, {"yes": 1.0}, "yes/no"),
        _q(2, {"no": 0.6, "yes": 0.3}, "yes/no"),
        _q(3, {"2": 1.0, "3": 0.3}, "number"),
        _q(4, {}, "other"),
    ]
    scores = score_predictions(["yes", "yes", "three", "cat"], questions)
    assert scores.per_question == pytest.approx((1.0, 0.3, 0.3, 0.0))
    assert scores.accuracy == pytest.approx(1.6 / 4)  # the question with no answer counts as 0
    assert scores.by_answer_type == pytest.approx({"number": 0.3, "other": 0.0, "yes/no": 0.65})
    assert scores.answer_type_counts == {"number": 1, "other": 1, "yes/no": 2}


def test_score_predictions_checks_lengths():
    with pytest.raises(InvalidInputError, match="2 predictions for 1 questions"):
        score_predictions(["a", "b"], [_q(1, {"a": 1.0}, "other")])
