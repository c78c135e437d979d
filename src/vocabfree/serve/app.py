"""``create_app(settings)``: the FastAPI application (routers, error handlers, limits, the web page).

Nothing is loaded at import or in ``create_app``: the lifespan loads models, database and captioner once at
startup (off the event loop) and keeps them on ``app.state.services``; two apps in one process share nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic.json_schema import models_json_schema

from vocabfree import __version__
from vocabfree.serve.dependencies import get_library
from vocabfree.serve.errors import install_error_handlers
from vocabfree.serve.middleware import ApiKeyMiddleware, BodyLimitMiddleware, BodyTimeoutMiddleware
from vocabfree.serve.routers import caption, classify, embed, health, vqa
from vocabfree.serve.schemas import CaptionRequest, ClassifyRequest, EmbedRequest
from vocabfree.serve.services import Services
from vocabfree.serve.settings import ServeSettings

STATIC_DIR = Path(__file__).parent / "static"
# A new resource: one module in routers/ with a ``router``, listed here.
ROUTERS = (health, classify, caption, embed, vqa)
log = logging.getLogger("vocabfree.serve")


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
        if services is None:
            # get_library is app-scoped: resolved here, once, honouring app.dependency_overrides (tests).
            library = app.dependency_overrides.get(get_library, get_library)()
            loaded = await asyncio.to_thread(Services.build, settings, library)  # slow: off the loop
        else:
            loaded = services
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
    # Outermost last: keys are checked first, then the body's time and size limits apply while it is read.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(BodyTimeoutMiddleware, timeout_s=settings.body_timeout_s)
    app.add_middleware(ApiKeyMiddleware, keys=settings.api_keys)
    install_error_handlers(app)
    for module in ROUTERS:
        app.include_router(module.router)
    _add_request_schemas(app)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
