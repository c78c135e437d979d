import json

import pytest

from vocabfree.caption.data import group_by_image, read_caption_csv, read_karpathy_json, read_pairs
from vocabfree.errors import InvalidInputError


def test_csv_paths_are_resolved_against_the_csv_and_splits_filter(colour_csv):
    pairs = read_caption_csv(colour_csv, ["train"])
    assert len(pairs) == 8
    assert all(p.split == "train" for p in pairs)
    assert pairs[0].image == str((colour_csv.parent / "images" / "red.png").resolve())
    assert pairs[0].caption == "a red square"


def test_group_by_image_keeps_first_seen_order(colour_csv):
    images, refs = group_by_image(read_caption_csv(colour_csv))
    assert [i.rsplit("/", 1)[1] for i in images] == [
        "red.png",
        "green.png",
        "blue.png",
        "yellow.png",
        "white.png",
        "black.png",
    ]
    assert refs[0] == ["a red square", "a bright red block"]


def test_csv_missing_columns_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("file,text\na.jpg,hello\n")
    with pytest.raises(InvalidInputError, match="missing column"):
        read_caption_csv(bad)


def test_karpathy_json_joins_filepath_and_maps_restval_to_train(tmp_path):
    data = {
        "dataset": "coco",
        "images": [
            {"filepath": "val2014", "filename": "a.jpg", "split": "restval", "sentences": [{"raw": "A cat. "}]},
            {
                "filepath": "val2014",
                "filename": "b.jpg",
                "split": "test",
                "sentences": [{"raw": "A dog."}, {"raw": "Two dogs."}],
            },
        ],
    }
    path = tmp_path / "dataset_karpathy.json"
    path.write_text(json.dumps(data))
    train = read_karpathy_json(path, tmp_path / "coco", ["train"])
    assert [(p.caption, p.split, p.source) for p in train] == [("A cat.", "train", "coco")]
    assert train[0].image == str((tmp_path / "coco" / "val2014" / "a.jpg").resolve())
    assert len(read_pairs(path, ["test"], image_root=tmp_path)) == 2
    with pytest.raises(InvalidInputError, match="image_root"):
        read_pairs(path)
