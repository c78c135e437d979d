"""Reading VQA question files: one JSON object per line (VQAv2 fields, soft answer scores).

Each line holds ``question_id, image, question, answers, split`` and optionally ``answer_type`` and
``question_type``. ``answers`` maps an answer to its VQA accuracy (0.3/0.6/0.9/1.0 for 1/2/3/>=4 of the ten
annotators, LXMERT's processing); it may be empty when no annotator answer is in the answer vocabulary.
Image paths are relative to the file's folder unless absolute.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vocabfree.data.jsonl import iter_jsonl
from vocabfree.errors import InvalidInputError

REQUIRED = ("question_id", "image", "question", "answers")


@dataclass(frozen=True)
class VQAQuestion:
    """One question about one image, with its soft ground-truth scores."""

    question_id: int | str
    image: str  # resolved path
    question: str
    answers: dict[str, float] = field(default_factory=dict)  # answer -> VQA score in [0, 1]
    split: str = ""
    answer_type: str = ""  # "yes/no", "number" or "other" (VQAv2's field)
    question_type: str = ""

    @property
    def top_answer(self) -> str | None:
        """The highest-scoring answer (ties: alphabetical), or None when no answer is given."""
        if not self.answers:
            return None
        return min(self.answers, key=lambda a: (-self.answers[a], a))


def read_questions(path: str | Path, split: str | None = None) -> list[VQAQuestion]:
    """All questions of a JSONL file (only ``split`` when given), in file order."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"VQA question file {path} does not exist")
    root = path.parent
    out: list[VQAQuestion] = []
    splits: set[str] = set()
    with path.open(encoding="utf-8") as handle:
        for lineno, row in iter_jsonl(handle, path):
            if not isinstance(row, dict):
                raise InvalidInputError(f"{path}:{lineno}: not a JSON object")
            missing = [k for k in REQUIRED if k not in row]
            if missing:
                raise InvalidInputError(f"{path}:{lineno}: missing field(s) {', '.join(missing)}")
            answers = row["answers"]
            if not isinstance(answers, dict) or not all(0.0 <= float(s) <= 1.0 for s in answers.values()):
                raise InvalidInputError(f"{path}:{lineno}: 'answers' must map answer -> score in [0, 1]")
            row_split = str(row.get("split", ""))
            splits.add(row_split)
            if split is not None and row_split != split:
                continue
            image = Path(row["image"])
            out.append(
                VQAQuestion(
                    question_id=row["question_id"],
                    image=str(image if image.is_absolute() else (root / image).resolve()),
                    question=str(row["question"]),
                    answers={str(a): float(s) for a, s in answers.items()},
                    split=row_split,
                    answer_type=str(row.get("answer_type", "")),
                    question_type=str(row.get("question_type", "")),
                )
            )
    if split is not None and not out:
        raise InvalidInputError(f"{path} has no questions in split '{split}'; splits: {', '.join(sorted(splits))}")
    return out
