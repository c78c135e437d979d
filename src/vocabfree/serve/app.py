"""``create_app(settings)``: the FastAPI application (routers, error handlers, limits, the web page).

Nothing is loaded at import or in ``create_app``: the lifespan loads models, database and captioner once at
startup (off the event loop) and keeps them on ``app.state.services``; two apps in one process share nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic.json_schema import models_json_schema
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vocabfree import __version__
from vocabfree.serve.errors import PayloadTooLargeError, install_error_handlers
from vocabfree.serve.routers import caption, classify, embed, health, vqa
from vocabfree.serve.schemas import CaptionRequest, ClassifyRequest, EmbedRequest
from vocabfree.serve.services import Services
from vocabfree.serve.settings import ServeSettings

STATIC_DIR = Path(__file__).parent / "static"
log = logging.getLogger("vocabfree.serve")


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` (413) before they are buffered, declared size or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            body = json.dumps(
                {
                    "error": "payload_too_large",
                    "detail": f"request body of {int(declared):,} bytes exceeds the limit of {self.max_bytes:,} bytes",
                }
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise PayloadTooLargeError(f"request body exceeds the limit of {self.max_bytes:,} bytes")
            return message

        await self.app(scope, limited_receive, send)


def _add_request_schemas(app: FastAPI) -> None:
    """Publish the JSON request models in the OpenAPI components (the routes reference them by name).

    The routes parse their bodies themselves (JSON or multipart), so FastAPI does not see these models.
    """
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = generate()
            _, defs = models_json_schema(
                [(m, "validation") for m in (ClassifyRequest, CaptionRequest, EmbedRequest)],
                ref_template="#/components/schemas/{model}",
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(defs.get("$defs", {}))
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: ServeSettings | None = None, *, services: Services | None = None) -> FastAPI:
    """Build the app for ``settings`` (default ``ServeSettings()``: the ``local`` model, no database).

    The lifespan loads the models. ``services`` passes ones already loaded instead (the CLI loads first so
    a bad model name or database fails with a one-line message before the port is bound); the app then
    owns and closes them.
    """
    settings = services.settings if services is not None else (settings or ServeSettings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loaded = services or await asyncio.to_thread(Services.build, settings)  # slow: off the loop
        app.state.services = loaded
        log.info("vocabfree serving models %s", ", ".join(settings.models))
        try:
            yield
        finally:
            await loaded.aclose()

    app = FastAPI(
        title="vocabfree",
        version=__version__,
        description="Open-world image understanding: zero-shot and vocabulary-free classification, "
        "captioning and embeddings with frozen vision-language models. Web page at `/`.",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    install_error_handlers(app)
    for module in (health, classify, caption, embed, vqa):
        app.include_router(module.router)
    _add_request_schemas(app)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
