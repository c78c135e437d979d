"""``GET /health`` (for load balancers and systemd checks) and ``GET /v1/models``."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends

from vocabfree import __version__
from vocabfree.serve.dependencies import get_services
from vocabfree.serve.schemas import BatchingInfo, HealthResponse, ModelInfo, ModelsResponse
from vocabfree.serve.services import Services

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthResponse, summary="Liveness and readiness")
async def health(services: Services = Depends(get_services)) -> HealthResponse:
    """Answers 200 once the models are loaded (the server only accepts requests after that)."""
    batching = {}
    for name in services.settings.models:
        engine = services.engine(name)
        batcher, texts = engine.image_batcher, engine.texts
        batching[name] = BatchingInfo(
            max_batch=batcher.max_batch,
            max_wait_ms=batcher.max_wait_s * 1000,
            batches=batcher.stats.batches,
            items=batcher.stats.items,
            mean_batch=round(batcher.stats.mean_batch, 3),
            pending=batcher.pending,
            pending_bytes=batcher.queued_weight,
            text_jobs=texts.stats.jobs,
            text_cancelled=texts.stats.cancelled,
            text_refused=texts.stats.refused,
            text_queued_chars=texts.queued_chars,
            label_cache_hits=texts.stats.cache_hits,
        )
    return HealthResponse(
        status="ok",
        version=__version__,
        models=list(services.settings.models),
        uptime_s=round(time.monotonic() - services.started, 3),
        batching=batching,
    )


@router.get("/v1/models", response_model=ModelsResponse, tags=["models"], summary="Loaded models")
async def models(services: Services = Depends(get_services)) -> ModelsResponse:
    """The models this server loaded, the first being the default, and which tasks each supports."""
    out = []
    for i, name in enumerate(services.settings.models):
        engine = services.engine(name)
        out.append(
            ModelInfo(
                name=name,
                embed_dim=engine.model.embed_dim,
                default=i == 0,
                vocabulary_free=engine.vocabulary_free is not None,
                caption=engine.caption_method,
            )
        )
    return ModelsResponse(models=out)
