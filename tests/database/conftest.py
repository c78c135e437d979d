"""A tiny caption database built with the ``test-tiny`` backend."""

from __future__ import annotations

import pytest

from tests.conftest import build_tiny_db

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
    return build_tiny_db(tmp_path / "db", tiny_model, CAPTIONS)
