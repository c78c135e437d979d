"""``load_model(name)``: the single way to turn a model name into a ``VisionLanguageModel``."""

from __future__ import annotations

from vocabfree.models import _registry
from vocabfree.models.protocol import VisionLanguageModel

DEFAULT_MODEL = "hf:openai/clip-vit-base-patch32"


def _import_backends() -> None:
    # Importing the backend modules runs their @register_backend decorators. They import their heavy
    # libraries lazily inside the entrypoints, so this stays cheap.
    from vocabfree.models import hf, local, tiny  # noqa: F401


def load_model(name: str = DEFAULT_MODEL, **kwargs) -> VisionLanguageModel:
    """Load a backend by name: ``hf:<hub id or dir>``, ``local``, ``local-conse``, ``test-tiny``, ...

    Keyword arguments (``device``, ``precision``, ...) go to the backend; ``None`` values are dropped so
    callers can pass optional CLI flags straight through.
    """
    _import_backends()
    entry, argument = _registry.resolve(name)
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    return entry.factory(argument, **kwargs) if argument is not None else entry.factory(**kwargs)


def list_models(pattern: str = "*") -> list[_registry.BackendEntry]:
    """Registered model names (prefix entries end with ':'), filtered by an fnmatch pattern."""
    _import_backends()
    return _registry.list_backends(pattern)
