"""A tiny caption database built with the ``test-tiny`` backend."""

from __future__ import annotations

import pytest

from tests.conftest import TINY_CAPTIONS, build_tiny_db

CAPTIONS = TINY_CAPTIONS


@pytest.fixture
def tiny_db(tmp_path, tiny_model):
    return build_tiny_db(tmp_path / "db", tiny_model, CAPTIONS)
