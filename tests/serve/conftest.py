"""Fixtures for the HTTP service tests: started TestClients over the ``test-tiny`` model."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

fastapi = pytest.importorskip("fastapi", reason="the serve extra (fastapi) is not installed")
from fastapi.testclient import TestClient  # noqa: E402

from tests.serve.serve_helpers import ColourCaptioner, StandInLibrary  # noqa: E402
from vocabfree.serve.app import create_app  # noqa: E402
from vocabfree.serve.dependencies import get_library  # noqa: E402
from vocabfree.serve.settings import ServeSettings  # noqa: E402


@pytest.fixture
def make_client() -> Iterator[Callable[..., TestClient]]:
    """Build a started TestClient for ``ServeSettings(models=("test-tiny",), **changes)``.

    ``captioner=`` swaps in a captioner object (and configures a checkpoint); ``database=True`` swaps in
    the tiny vocabulary-free classifier; ``library=`` gives a whole ``TaskLibrary`` instead. The stand-ins
    enter through ``app.dependency_overrides[get_library]``.
    """
    clients: list[TestClient] = []

    def make(*, captioner=None, database: bool = False, library=None, **changes) -> TestClient:
        base = {"models": ("test-tiny",), "warmup": False, "allow_private_urls": True}
        if captioner is not None:
            base["caption_checkpoint"] = "stand-in-checkpoint"
        if database:
            base["database"] = "stand-in-database"
        library = library or StandInLibrary(captioner, database=database)
        app = create_app(ServeSettings(**{**base, **changes}))
        app.dependency_overrides[get_library] = lambda: library
        client = TestClient(app, raise_server_exceptions=False)
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
