"""HTTP service: ``create_app(settings)`` builds the FastAPI app; ``vocabfree serve`` runs it with uvicorn.

A thin face over the library: routes translate HTTP to task calls (``classify``, ``caption``, model
embeddings) and back. Requires the ``serve`` extra (fastapi, uvicorn, python-multipart, httpx).
"""

from vocabfree.serve.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]


def create_app(settings: ServeSettings | None = None):
    """See ``vocabfree.serve.app.create_app`` (imported lazily: fastapi is an optional dependency)."""
    from vocabfree.serve.app import create_app as _create_app

    return _create_app(settings)
