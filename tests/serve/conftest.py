"""Fixtures for the HTTP service tests: started TestClients over the ``test-tiny`` model."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

fastapi = pytest.importorskip("fastapi", reason="the serve extra (fastapi) is not installed")
from fastapi.testclient import TestClient  # noqa: E402

from tests.serve.serve_helpers import ColourCaptioner, TinyVocabularyFree  # noqa: E402
from vocabfree.serve import dependencies  # noqa: E402
from vocabfree.serve.app import create_app  # noqa: E402
from vocabfree.serve.settings import ServeSettings  # noqa: E402


@pytest.fixture
def make_client(monkeypatch) -> Iterator[Callable[..., TestClient]]:
    """Build a started TestClient for ``ServeSettings(models=("test-tiny",), **changes)``.

    ``captioner=`` swaps in a captioner object (and configures a checkpoint); ``database=True`` swaps in
    the tiny vocabulary-free classifier.
    """
    clients: list[TestClient] = []

    def make(*, captioner=None, database: bool = False, **changes) -> TestClient:
        base = {"models": ("test-tiny",), "warmup": False, "allow_private_urls": True}
        if captioner is not None:
            monkeypatch.setattr(dependencies, "load_captioner", lambda checkpoint, model: captioner)
            base["caption_checkpoint"] = "stand-in-checkpoint"
        if database:
            monkeypatch.setattr(dependencies, "open_database", lambda path, model: "stand-in-database")
            monkeypatch.setattr(dependencies, "build_vocabulary_free", lambda model, db: TinyVocabularyFree(model))
            base["database"] = "stand-in-database"
        client = TestClient(create_app(ServeSettings(**{**base, **changes})), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client) -> TestClient:
    """test-tiny with a stand-in captioner and caption database: every endpoint configured."""
    return make_client(captioner=ColourCaptioner(), database=True)


@pytest.fixture
def bare_client(make_client) -> TestClient:
    """test-tiny only: no captioner, no database."""
    return make_client()
