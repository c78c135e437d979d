"""The FastAPI dependencies routes (and the lifespan) get their state from.

``get_library`` is app-scoped: the lifespan resolves it once, honouring ``app.dependency_overrides`` (see
``app.py``), so tests swap the library adapters as they would any request dependency. ``get_services`` and
``get_settings`` hand a request what the lifespan loaded. Request bodies are parsed in ``bodies.py``.
"""

from __future__ import annotations

from fastapi import Depends, Request

from vocabfree.serve.adapters import TaskLibrary
from vocabfree.serve.services import Services
from vocabfree.serve.settings import ServeSettings


def get_library() -> TaskLibrary:
    """The library calls the server makes (models, classifiers, database, captioner)."""
    return TaskLibrary()


def get_services(request: Request) -> Services:
    """The services the lifespan loaded (models, batchers, database, captioner)."""
    services: Services = request.app.state.services
    return services


def get_settings(services: Services = Depends(get_services)) -> ServeSettings:
    return services.settings
