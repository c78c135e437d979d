"""Registry of backend entrypoints, looked up by name.

A backend registers either an exact name (``local``) or a prefix ending in ``:`` (``hf:``) whose remainder
is passed to the entrypoint (a hub id or a local directory). Registering a name twice warns instead of
silently replacing the first (timm's rule).
"""

from __future__ import annotations

import fnmatch
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vocabfree.errors import UnknownBackendError


@dataclass(frozen=True)
class BackendEntry:
    name: str  # exact name, or a prefix such as "hf:"
    factory: Callable[..., Any]
    description: str


_ENTRIES: dict[str, BackendEntry] = {}


def register_backend(name: str, description: str = "") -> Callable:
    """Decorator: file ``factory`` under ``name``. A name ending in ':' is a prefix taking an argument."""

    def decorator(factory: Callable) -> Callable:
        if name in _ENTRIES:
            warnings.warn(f"backend '{name}' registered twice; the later one wins", stacklevel=2)
        doc = description or (factory.__doc__ or "").strip().splitlines()[0:1]
        _ENTRIES[name] = BackendEntry(name, factory, doc if isinstance(doc, str) else "".join(doc))
        return factory

    return decorator


def list_backends(pattern: str = "*") -> list[BackendEntry]:
    """Registered entries whose name matches an fnmatch ``pattern``, sorted by name."""
    return [e for n, e in sorted(_ENTRIES.items()) if fnmatch.fnmatch(n, pattern)]


def resolve(model_name: str) -> tuple[BackendEntry, str | None]:
    """Find the entry for ``model_name``; returns it with the prefix argument (None for exact names)."""
    if model_name in _ENTRIES and not model_name.endswith(":"):
        return _ENTRIES[model_name], None
    prefix, sep, rest = model_name.partition(":")
    if sep and f"{prefix}:" in _ENTRIES:
        if not rest:
            raise UnknownBackendError(f"model name '{model_name}' is missing the part after '{prefix}:'")
        return _ENTRIES[f"{prefix}:"], rest
    known = ", ".join(e.name + ("<hub id or directory>" if e.name.endswith(":") else "") for e in list_backends())
    raise UnknownBackendError(f"unknown model '{model_name}'. Known models: {known}")
