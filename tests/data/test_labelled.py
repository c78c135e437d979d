import pytest
from PIL import Image

from tests.conftest import SHARED_DATA
from vocabfree.data import read_image_folder, read_labelled, read_labelled_csv
from vocabfree.errors import InvalidInputError


def make_csv(tmp_path, rows, header="path,label"):
    images = tmp_path / "images"
    images.mkdir(exist_ok=True)
    for p, _ in rows:
        Image.new("RGB", (2, 2)).save(tmp_path / p)
    csv = tmp_path / "test.csv"
    csv.write_text(header + "\n" + "\n".join(f"{p},{label}" for p, label in rows) + "\n")
    return csv


def test_csv_paths_are_relative_to_the_csv(tmp_path):
    csv = make_csv(tmp_path, [("images/a.png", "cat"), ("images/b.png", "dog"), ("images/c.png", "cat")])
    data = read_labelled_csv(csv)
    assert len(data) == 3 and data.labels == ("cat", "dog", "cat")
    assert data.paths[0] == (tmp_path / "images" / "a.png").resolve()
    assert data.classes == ["cat", "dog"]
    assert data.subset(per_class=1).labels == ("cat", "dog")
    assert data.subset(limit=1).labels == ("cat",)
    assert read_labelled(csv) == data  # a file is read as a path,label CSV


def test_csv_errors(tmp_path):
    with pytest.raises(InvalidInputError, match="missing column"):
        read_labelled_csv(make_csv(tmp_path, [("images/a.png", "cat")], header="file,label"))
    csv = make_csv(tmp_path, [("images/a.png", "cat")])
    csv.write_text("path,label\nimages/missing.png,cat\n")
    with pytest.raises(InvalidInputError, match="1 image file"):
        read_labelled_csv(csv)
    with pytest.raises(InvalidInputError, match="not found"):
        read_labelled_csv(tmp_path / "nope.csv")


def test_image_folder(tmp_path):
    for cls in ("golden_retriever", "cat"):
        (tmp_path / cls).mkdir()
        Image.new("RGB", (2, 2)).save(tmp_path / cls / "1.jpg")
    data = read_image_folder(tmp_path)
    assert data.labels == ("cat", "golden retriever")
    assert read_labelled(tmp_path) == data  # a directory is read as a folder per class


@pytest.mark.skipif(not (SHARED_DATA / "caltech101").is_dir(), reason="shared data not present")
def test_real_caltech_split_reads():
    data = read_labelled_csv(SHARED_DATA / "caltech101" / "test.csv")
    assert len(data) == 2465 and len(data.classes) == 100
