"""``load_model(name)``: the single way to turn a model name into a ``VisionLanguageModel``."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

from vocabfree.errors import IndexMismatchError, InvalidInputError, UnknownBackendError
from vocabfree.models import _registry
from vocabfree.models.protocol import VisionLanguageModel

DEFAULT_MODEL = "hf:openai/clip-vit-base-patch32"  # what --model means when nothing else says (users have internet)
OFFLINE_MODEL = "local"  # the model that needs no download: demo, service and training defaults
HUB_PROBE_TIMEOUT_S = 3.0


def _import_backends() -> None:
    # Importing the backend modules runs their @register_backend decorators. They import their heavy
    # libraries lazily inside the entrypoints, so this stays cheap.
    from vocabfree.models import hf, local, tiny  # noqa: F401


def _hub_offline_reason() -> str | None:
    """Why the Hugging Face hub cannot be reached right now, or None if it (probably) can.

    ``HF_HUB_OFFLINE`` is respected. Otherwise one TCP connection to the hub's host with a short timeout: an
    offline machine then fails in well under a second instead of after transformers' ~50 s of retries.
    Behind an HTTP(S) proxy a direct connection says nothing, so the check is left to the hub client.
    """
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None
    import socket
    from urllib.parse import urlsplit

    endpoint = urlsplit(constants.ENDPOINT)
    host, port = endpoint.hostname or "huggingface.co", endpoint.port or (80 if endpoint.scheme == "http" else 443)
    try:
        socket.create_connection((host, port), timeout=HUB_PROBE_TIMEOUT_S).close()
    except OSError as exc:
        return f"{host} cannot be reached ({exc.strerror or exc.__class__.__name__})"
    return None


def check_hub_model_available(model_id: str) -> None:
    """Raise a one-line ``UnknownBackendError`` if hub model ``model_id`` is neither cached nor downloadable.

    A local directory or a model already in the hub cache passes without touching the network.
    """
    if Path(model_id).expanduser().exists():
        return
    from huggingface_hub import try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(model_id, "config.json")
    except Exception:  # noqa: BLE001 - a malformed repo id: let the hub client report it properly
        return
    if isinstance(cached, str):
        return
    reason = _hub_offline_reason()
    if reason:
        raise UnknownBackendError(
            f"model 'hf:{model_id}' is not in the Hugging Face cache and {reason}: download it where there is "
            f"internet ('hf download {model_id}') and copy ~/.cache/huggingface here, pass a local directory "
            "(--model hf:DIR), or use the offline model (--model local)"
        )


def backend_arguments(entry: _registry.BackendEntry) -> list[str] | None:
    """The keyword arguments ``entry``'s entrypoint takes (without a prefix entry's hub id), or None when it
    takes any (``**kwargs``)."""
    params = list(inspect.signature(entry.factory).parameters.values())
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    if entry.name.endswith(":"):
        params = params[1:]  # the part after the prefix
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def check_backend_arguments(name: str, entry: _registry.BackendEntry, kwargs: dict[str, object]) -> None:
    """Raise ``InvalidInputError`` naming the arguments in ``kwargs`` that model ``name`` does not take."""
    accepted = backend_arguments(entry)
    unknown = [k for k in kwargs if accepted is not None and k not in accepted]
    if unknown:
        what = "argument" if len(unknown) == 1 else "arguments"
        takes = ", ".join(accepted or ()) or "no arguments"
        raise InvalidInputError(
            f"model '{name}' does not take {what} {', '.join(repr(k) for k in unknown)} (it takes: {takes})"
        )


def load_model(name: str = DEFAULT_MODEL, **kwargs: object) -> VisionLanguageModel:
    """Load a backend by name: ``hf:<hub id or dir>``, ``local``, ``local-conse``, ``test-tiny``, ...

    Keyword arguments (``device``, ``precision``, ...) go to the backend; ``None`` values are dropped so
    callers can pass optional CLI flags straight through, and an argument the backend does not take is an
    ``InvalidInputError`` naming it (a typo is never ignored). A hub model that is not cached on an offline
    machine fails at once with a message saying how to get it.
    """
    _import_backends()
    entry, argument = _registry.resolve(name)
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    check_backend_arguments(name, entry, kwargs)
    if entry.name == "hf:" and argument is not None:
        check_hub_model_available(argument)
    return entry.factory(argument, **kwargs) if argument is not None else entry.factory(**kwargs)


def model_for_artefact(requested: str | None, recorded: str | None, artefact: str) -> str:
    """The model to load for an artefact (database, probe, checkpoint) that records the model it was made with.

    ``requested`` (``--model``) may be omitted: the recorded model is used. Giving another model is an
    ``IndexMismatchError`` (embeddings of different models are not comparable). With nothing recorded, the
    requested model or ``DEFAULT_MODEL``.
    """
    if not recorded:
        return requested or DEFAULT_MODEL
    if requested is None or requested == recorded:
        return recorded
    raise IndexMismatchError(
        f"{artefact} was made with model '{recorded}', not '{requested}': drop --model to use '{recorded}'"
    )


def list_models(pattern: str = "*") -> list[_registry.BackendEntry]:
    """Registered model names (prefix entries end with ':'), filtered by an fnmatch pattern."""
    _import_backends()
    return _registry.list_backends(pattern)
