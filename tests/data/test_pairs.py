"""Image-caption pair CSVs: known answers on tiny files, and one-line errors for unusable ones."""

from __future__ import annotations

import pytest

from vocabfree.data import PairData, read_pairs
from vocabfree.data.pairs import CAPTION_TEMPLATES, has_split_column
from vocabfree.errors import InvalidInputError


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def test_caption_csv_with_splits(tmp_path):
    csv = write(
        tmp_path / "captions.csv",
        "path,caption,split\na.jpg,a dog runs,train\nsub/b.jpg,a cat,val\na.jpg,a brown dog,train\nc.jpg,a car,train\n",
    )
    train = read_pairs(csv, split="train")
    assert isinstance(train, PairData)
    assert train.paths == (str(tmp_path / "a.jpg"), str(tmp_path / "c.jpg"))  # distinct, in first-seen order
    assert train.captions == ("a dog runs", "a brown dog", "a car")
    assert train.image_of_caption.tolist() == [0, 0, 1] and train.image_of_caption.dtype.name == "int64"
    assert train.source == f"{csv} (split train)"
    everything = read_pairs(csv)
    assert everything.paths == tuple(str(tmp_path / p) for p in ("a.jpg", "sub/b.jpg", "c.jpg"))
    assert everything.image_of_caption.tolist() == [0, 1, 0, 2] and everything.source == str(csv)


def test_label_csv_writes_each_label_into_every_template(tmp_path):
    csv = write(tmp_path / "labels.csv", "path,label\na.jpg,dog\nb.jpg,cat\n")
    pairs = read_pairs(csv, templates=("a photo of a {}.", "{}"))
    assert pairs.captions == ("a photo of a dog.", "dog", "a photo of a cat.", "cat")
    assert pairs.image_of_caption.tolist() == [0, 0, 1, 1]
    default = read_pairs(csv)
    assert len(CAPTION_TEMPLATES) == 5 and default.captions[:5] == tuple(t.format("dog") for t in CAPTION_TEMPLATES)
    assert default.image_of_caption.tolist() == [0] * 5 + [1] * 5


def test_has_split_column(tmp_path):
    assert has_split_column(write(tmp_path / "a.csv", "path,caption,split\nx.jpg,x,train\n")) is True
    assert has_split_column(write(tmp_path / "b.csv", "path,caption\nx.jpg,x\n")) is False
    assert has_split_column(tmp_path / "missing.csv") is False


def test_unusable_csvs_raise_one_line_errors(tmp_path):
    missing = tmp_path / "missing.csv"
    with pytest.raises(InvalidInputError, match=f"^{missing}: no such CSV file$"):
        read_pairs(missing)
    bad = write(tmp_path / "bad.csv", "file,text\na.jpg,x\n")
    with pytest.raises(InvalidInputError) as info:
        read_pairs(bad)
    assert str(info.value) == f"{bad}: needs columns path and caption (or path and label), has ['file', 'text']"
    labels = write(tmp_path / "labels.csv", "path,label\na.jpg,dog\n")
    with pytest.raises(InvalidInputError) as info:
        read_pairs(labels, split="train")
    assert str(info.value) == f"{labels}: split 'train' requested but the CSV has no split column"
    captions = write(tmp_path / "captions.csv", "path,caption,split\na.jpg,a dog,train\n")
    with pytest.raises(InvalidInputError) as info:
        read_pairs(captions, split="test")
    assert str(info.value) == f"{captions}: no rows in split 'test'"
    empty = write(tmp_path / "empty.csv", "path,caption\n")
    with pytest.raises(InvalidInputError) as info:
        read_pairs(empty)
    assert str(info.value) == f"{empty}: no rows"
