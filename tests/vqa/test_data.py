import json
from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA
from vocabfree.errors import InvalidInputError
from vocabfree.vqa.data import read_questions

VQA_FILE = SHARED_DATA / "vqa" / "questions.jsonl"


@pytest.mark.skipif(not VQA_FILE.is_file(), reason="shared VQA data not present")
def test_reads_the_shared_vqa_file():
    train, test = read_questions(VQA_FILE, "train"), read_questions(VQA_FILE, "test")
    assert (len(train), len(test)) == (1053, 1053)
    assert not {q.image for q in train} & {q.image for q in test}  # split by image
    assert all(Path(q.image).is_absolute() and Path(q.image).is_file() for q in train[:20])
    assert {q.answer_type for q in test} == {"yes/no", "number", "other"}
    assert all(0.0 < s <= 1.0 for q in test for s in q.answers.values())
    assert sum(not q.answers for q in test) == 13  # README: 13 test questions without an in-vocabulary answer


def test_top_answer_ties_are_alphabetical(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text(
        json.dumps(
            {
                "question_id": 1,
                "image": "a.jpg",
                "question": "q?",
                "answers": {"red": 0.6, "blue": 0.6, "green": 0.3},
                "split": "train",
            }
        )
        + "\n"
    )
    (q,) = read_questions(path)
    assert q.top_answer == "blue"
    assert q.image == str((tmp_path / "a.jpg").resolve())


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"question_id": 1, "image": "a.jpg", "answers": {}}), "missing field"),
        (json.dumps({"question_id": 1, "image": "a.jpg", "question": "q", "answers": {"a": 3}}), "score in"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "q.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(InvalidInputError, match=f"q.jsonl:1: .*{message}"):
        read_questions(path)


def test_unknown_split_lists_the_splits(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text(
        json.dumps({"question_id": 1, "image": "a.jpg", "question": "q", "answers": {}, "split": "train"}) + "\n"
    )
    with pytest.raises(InvalidInputError, match="no questions in split 'val'; splits: train"):
        read_questions(path, "val")
    with pytest.raises(InvalidInputError, match="does not exist"):
        read_questions(tmp_path / "missing.jsonl")
