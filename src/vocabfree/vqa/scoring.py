"""Standard VQA accuracy with the soft scores a question file gives.

The score of a prediction is the ground-truth score of its normalised form (0 when absent): with VQAv2's
ten annotators that is min(#humans who gave it / 3, 1) averaged over the ten leave-one-out subsets, i.e.
0.3/0.6/0.9/1.0 for 1/2/3/>=4 humans, which the file already holds. Both the prediction and the file's
answers go through the same normalisation as the official evaluation: lower case, punctuation removed
(a comma inside a number and a decimal point kept), number words to digits, articles dropped, contractions
given back their apostrophe ("dont" -> "don't").

Hand-written rather than imported: the official script is a Python 2 class bound to its own JSON loader,
and no maintained package on PyPI provides it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from vocabfree.errors import InvalidInputError
from vocabfree.vqa.data import VQAQuestion

NUMBER_WORDS = {
    "none": "0",
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
}
ARTICLES = {"a", "an", "the"}
# Contractions written without their apostrophe -> with it (the official evaluation's list, abridged to
# the forms that occur in answers; both sides are normalised, so this only has to be consistent).
_CONTRACTED = [
    "ain't",
    "aren't",
    "can't",
    "couldn't",
    "could've",
    "didn't",
    "doesn't",
    "don't",
    "hadn't",
    "hasn't",
    "haven't",
    "he's",
    "i'm",
    "i've",
    "isn't",
    "it'd",
    "it'll",
    "let's",
    "ma'am",
    "mightn't",
    "might've",
    "mustn't",
    "must've",
    "o'clock",
    "shouldn't",
    "should've",
    "that's",
    "there's",
    "they'd",
    "they'll",
    "they're",
    "they've",
    "wasn't",
    "weren't",
    "what's",
    "where's",
    "who's",
    "won't",
    "wouldn't",
    "would've",
    "you'd",
    "you'll",
    "you're",
    "you've",
    "y'all",
]
CONTRACTIONS = {c.replace("'", ""): c for c in _CONTRACTED}
_PUNCT = re.compile(r"[;:/\[\]\"()=+\\_><@`,?!*#%&{}|~^$]")
_COMMA_IN_NUMBER = re.compile(r"(?<=\d),(?=\d)")
_PERIOD = re.compile(r"(?<!\d)\.|\.(?!\d)")  # a period that is not a decimal point


def normalize_answer(text: str) -> str:
    """The normal form under which a prediction and a ground-truth answer are compared."""
    text = " ".join(text.replace("\n", " ").replace("\t", " ").split()).lower()
    text = _COMMA_IN_NUMBER.sub("", text)
    text = _PUNCT.sub(" ", text)
    text = _PERIOD.sub("", text)
    text = text.replace("'", "").replace("\u2019", "")  # contractions are restored below
    words = [NUMBER_WORDS.get(w, w) for w in text.split()]
    return " ".join(CONTRACTIONS.get(w, w) for w in words if w not in ARTICLES)


def vqa_score(prediction: str, answers: dict[str, float]) -> float:
    """VQA accuracy of one prediction: the score of its normal form among the normalised answers."""
    scores: dict[str, float] = {}
    for answer, score in answers.items():
        key = normalize_answer(answer)
        scores[key] = max(scores.get(key, 0.0), float(score))
    return scores.get(normalize_answer(prediction), 0.0)


@dataclass(frozen=True)
class VQAScores:
    """Mean VQA accuracy overall and per answer type (and per question type), with counts."""

    accuracy: float
    count: int
    by_answer_type: dict[str, float] = field(default_factory=dict)
    answer_type_counts: dict[str, int] = field(default_factory=dict)
    by_question_type: dict[str, float] = field(default_factory=dict)
    per_question: tuple[float, ...] = ()


def score_predictions(predictions: Sequence[str], questions: Sequence[VQAQuestion]) -> VQAScores:
    """Score ``predictions[i]`` against ``questions[i]``; every question counts, even one with no answers."""
    if len(predictions) != len(questions):
        raise InvalidInputError(f"{len(predictions)} predictions for {len(questions)} questions")
    if not questions:
        raise InvalidInputError("no questions to score")
    per = [vqa_score(p, q.answers) for p, q in zip(predictions, questions, strict=True)]
    by_a: dict[str, list[float]] = defaultdict(list)
    by_q: dict[str, list[float]] = defaultdict(list)
    for s, q in zip(per, questions, strict=True):
        by_a[q.answer_type or "unknown"].append(s)
        by_q[q.question_type or "unknown"].append(s)
    return VQAScores(
        accuracy=sum(per) / len(per),
        count=len(per),
        by_answer_type={k: sum(v) / len(v) for k, v in sorted(by_a.items())},
        answer_type_counts={k: len(v) for k, v in sorted(by_a.items())},
        by_question_type={k: sum(v) / len(v) for k, v in sorted(by_q.items())},
        per_question=tuple(per),
    )


def score_from_count(humans: int, annotators: int = 10) -> float:
    """VQA accuracy of an answer ``humans`` of ``annotators`` gave: min(matches / 3, 1) averaged over the
    leave-one-annotator-out subsets (how the official evaluation turns raw annotations into 0.3/0.6/0.9/1)."""
    if not 0 <= humans <= annotators:
        raise InvalidInputError(f"{humans} matching answers out of {annotators} annotators")
    with_all = min(humans / 3, 1.0) * (annotators - humans)  # subsets leaving out a non-matching annotator
    minus_one = min((humans - 1) / 3, 1.0) * humans if humans else 0.0
    return round((with_all + minus_one) / annotators, 10)
