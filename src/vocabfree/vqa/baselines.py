"""Answer priors that never look at the image: the floor any VQA model must clear.

``ConstantAnswer("yes")`` answers the same thing to everything; ``PrefixPrior`` answers each question with
the most common training answer among questions sharing its first words (VQA's "question prior").
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

from vocabfree.errors import NotFittedError
from vocabfree.vqa.data import VQAQuestion


def question_prefix(question: str, n_words: int = 2) -> str:
    """The first ``n_words`` lower-cased words of a question, punctuation stripped ("what color")."""
    words = "".join(c if c.isalnum() or c.isspace() else " " for c in question.lower()).split()
    return " ".join(words[:n_words])


class ConstantAnswer:
    """Always the same answer."""

    def __init__(self, answer: str = "yes"):
        self.answer = answer

    def predict(self, questions: Sequence[str]) -> list[str]:
        return [self.answer for _ in questions]


class PrefixPrior:
    """Most common top answer per first-``n_words`` prefix of the training questions, else ``fallback``.

    Ties are broken alphabetically so the prior does not depend on file order.
    """

    def __init__(self, n_words: int = 2, fallback: str = "no"):
        self.n_words = n_words
        self.fallback = fallback

    def fit(self, questions: Sequence[VQAQuestion]) -> PrefixPrior:
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        for q in questions:
            if q.top_answer is not None:
                counts[question_prefix(q.question, self.n_words)][q.top_answer] += 1
        self.answers_ = {p: min(c, key=lambda a: (-c[a], a)) for p, c in counts.items()}
        return self

    def predict(self, questions: Sequence[str]) -> list[str]:
        if not hasattr(self, "answers_"):
            raise NotFittedError("PrefixPrior is not fitted; call fit(train_questions) first")
        return [self.answers_.get(question_prefix(q, self.n_words), self.fallback) for q in questions]
