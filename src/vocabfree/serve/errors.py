"""HTTP status for every error, in one place, and the service's own error types.

Library errors (``vocabfree.errors``) say what went wrong; this module decides which HTTP status that is.
Every error answer has the same JSON shape, ``{"error": <code>, "detail": <message>}``, whether it came from
the library, from request validation, from Starlette (404/405) or from an unexpected bug (500, logged).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from vocabfree.errors import (
    DatabaseError,
    ImageLoadError,
    ImageTooLargeError,
    IndexMismatchError,
    InvalidInputError,
    MissingDependencyError,
    NotFittedError,
    UnknownBackendError,
    VocabfreeError,
)

log = logging.getLogger("vocabfree.serve")


class ServeError(VocabfreeError):
    """An error of the service itself (not of the library); carries its HTTP status."""

    status_code = 400
    code = "bad_request"
    headers: dict[str, str] | None = None


class PayloadTooLargeError(ServeError):
    """The request body (or the image in it) is over the configured upload limit."""

    status_code, code = 413, "payload_too_large"


class LabelBudgetError(ServeError):
    """A request's labels add up to more characters than one request may have encoded."""

    status_code, code = 413, "label_budget_exceeded"


class BusyError(ServeError):
    """Too much label encoding is already waiting; this client should retry later (or reuse labels)."""

    status_code, code, headers = 429, "busy", {"Retry-After": "2"}


class UnauthorizedError(ServeError):
    """No API key, or an unknown one."""

    status_code, code, headers = 401, "unauthorized", {"WWW-Authenticate": 'Bearer realm="vocabfree"'}


class RequestTimeoutError(ServeError):
    """The client did not send its request body within ``body_timeout_s``."""

    status_code, code, headers = 408, "request_timeout", {"Connection": "close"}


class UnsupportedMediaTypeError(ServeError):
    """A body that is neither JSON nor multipart form data."""

    status_code, code = 415, "unsupported_media_type"


class NotConfiguredError(ServeError):
    """A feature this server was started without (no captioner checkpoint, no caption database).

    A 4xx, not a 503: the server is healthy and retrying will not help; the client must ask differently
    (send labels) or use a server configured for it.
    """

    status_code, code = 400, "not_configured"


class OverloadedError(ServeError):
    """The inference queue is full; the client should retry later."""

    status_code, code, headers = 503, "overloaded", {"Retry-After": "1"}


class InferenceTimeoutError(ServeError):
    """Inference did not finish within ``request_timeout_s``."""

    status_code, code, headers = 503, "timeout", {"Retry-After": "1"}


# Most specific first: the first matching class decides.
_LIBRARY_STATUS: tuple[tuple[type[BaseException], int, str], ...] = (
    (ImageTooLargeError, 413, "image_too_large"),
    (ImageLoadError, 422, "invalid_image"),
    (UnknownBackendError, 404, "unknown_model"),
    (IndexMismatchError, 409, "index_mismatch"),
    (DatabaseError, 503, "database_error"),
    (MissingDependencyError, 503, "missing_dependency"),
    (NotFittedError, 400, "not_fitted"),
    (InvalidInputError, 400, "invalid_input"),
    (VocabfreeError, 400, "bad_request"),
)


def status_of(exc: VocabfreeError) -> tuple[int, str]:
    """(HTTP status, error code) for a library or service error."""
    if isinstance(exc, ServeError):
        return exc.status_code, exc.code
    for cls, status, code in _LIBRARY_STATUS:
        if isinstance(exc, cls):
            return status, code
    return 400, "bad_request"  # pragma: no cover - VocabfreeError is the last row


def error_response(status: int, code: str, detail: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def _http_code(status: int) -> str:
    names = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
    return names.get(status, f"http_{status}")


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every failure the same JSON shape and a 4xx where the client erred."""

    @app.exception_handler(VocabfreeError)
    async def _vocabfree(request: Request, exc: VocabfreeError) -> JSONResponse:
        status, code = status_of(exc)
        log.info("%s %s -> %d %s: %s", request.method, request.url.path, status, code, exc)
        return error_response(status, code, str(exc), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = _describe_validation(exc)
        log.info("%s %s -> 422 invalid_request: %s", request.method, request.url.path, detail)
        return error_response(422, "invalid_request", detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        log.info("%s %s -> %d: %s", request.method, request.url.path, exc.status_code, detail)
        return error_response(exc.status_code, _http_code(exc.status_code), detail, exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        name = re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()
        return error_response(500, "internal_error", f"internal error ({name}); see the server log")
