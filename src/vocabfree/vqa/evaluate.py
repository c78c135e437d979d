"""VQA evaluation: a model (and its blind self) beside the priors, on one split of a question file."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vocabfree.vqa.answerer import VQAModel, generate_answers
from vocabfree.vqa.baselines import ConstantAnswer, PrefixPrior
from vocabfree.vqa.data import VQAQuestion, read_questions
from vocabfree.vqa.features import pool_tokens, tokens_by_image
from vocabfree.vqa.scoring import VQAScores, score_predictions


@dataclass(frozen=True)
class VQAReport:
    name: str
    split: str
    scores: VQAScores
    predictions: tuple[str, ...]
    seconds: float

    def as_dict(self, *, with_predictions: bool = False, questions: Sequence[VQAQuestion] = ()) -> dict:
        row = {
            "name": self.name,
            "split": self.split,
            "accuracy": self.scores.accuracy,
            "by_answer_type": self.scores.by_answer_type,
            "count": self.scores.count,
            "answer_type_counts": self.scores.answer_type_counts,
            "seconds": round(self.seconds, 2),
        }
        if with_predictions:
            row["predictions"] = [
                {"question_id": q.question_id, "question": q.question, "answer": p, "score": s}
                for q, p, s in zip(questions, self.predictions, self.scores.per_question, strict=True)
            ]
        return row


def _report(name: str, split: str, predictions: list[str], questions, started: float) -> VQAReport:
    return VQAReport(
        name, split, score_predictions(predictions, questions), tuple(predictions), time.perf_counter() - started
    )


def evaluate_baselines(data: str | Path, split: str, *, prior_split: str = "train") -> list[VQAReport]:
    """Always "yes" and the first-two-words prior fitted on ``prior_split`` of the same file."""
    questions = read_questions(data, split)
    texts = [q.question for q in questions]
    started = time.perf_counter()
    reports = [_report('always "yes"', split, ConstantAnswer("yes").predict(texts), questions, started)]
    started = time.perf_counter()
    prior = PrefixPrior().fit(read_questions(data, prior_split))
    reports.append(_report(f"prefix prior ({prior_split})", split, prior.predict(texts), questions, started))
    return reports


def evaluate_model(
    model: VQAModel,
    data: str | Path,
    split: str,
    *,
    blind: bool | None = None,
    token_cache: str | Path | None = "artifacts/vqa/tokens",
) -> list[VQAReport]:
    """The model on ``split`` (tokens cached per image); with ``blind=None`` both seeing and blind."""
    questions = read_questions(data, split)
    started = time.perf_counter()
    raw, index = tokens_by_image(
        model.image_model,
        [q.image for q in questions],
        token_cache,
        layer=model.spec.layer,
        keep_cls=model.spec.keep_cls,
        progress=True,
    )
    model.spec.check(raw)
    tokens = pool_tokens(raw, model.pool_grid, has_cls=model.spec.keep_cls)[[index[q.image] for q in questions]]
    encode_seconds = time.perf_counter() - started
    reports = []
    for is_blind in [False, True] if blind is None else [blind]:
        started = time.perf_counter() - encode_seconds * (not is_blind)
        answers = generate_answers(
            model.generator, model.tokenizer, tokens, [q.question for q in questions], blind=is_blind
        )
        reports.append(_report(f"{model.name} (blind)" if is_blind else model.name, split, answers, questions, started))
    return reports
