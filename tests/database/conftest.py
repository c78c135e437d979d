"""A tiny caption database built with the ``test-tiny`` backend."""

from __future__ import annotations

import pytest

CAPTIONS = [
    "a red car parked on the street",
    "red apples in a bowl",
    "a red door",
    "a blue sky over the sea",
    "blue water in the lake",
    "green grass in a field",
    "green leaves on a tree",
    "a black cat sleeping",
    "a white dog running",
    "a yellow taxi in the city",
]


@pytest.fixture
def tiny_db(tmp_path, tiny_model):
    from vocabfree.database import CaptionDatabase, build_database, corpus_from_texts

    path = tmp_path / "db"
    build_database(tiny_model, [corpus_from_texts("tiny", CAPTIONS)], path)
    return CaptionDatabase.open(path, model=tiny_model)
