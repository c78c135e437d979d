"""``POST /v1/embed``: an image or texts as vectors in the model's shared embedding space."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends

from vocabfree.serve.bodies import EmbedInput, embed_input, request_body_openapi
from vocabfree.serve.dependencies import get_services
from vocabfree.serve.schemas import ERROR_RESPONSES, EmbedResponse
from vocabfree.serve.services import Services

router = APIRouter(prefix="/v1", tags=["embed"], responses=ERROR_RESPONSES)

_FORM: dict[str, dict] = {
    "file": {"type": "string", "format": "binary", "description": "an image file (or give texts)"},
    "texts": {
        "type": "array",
        "items": {"type": "string"},
        "description": "texts to embed (repeat the field)",
    },
    "model": {"type": "string"},
}


@router.post(
    "/embed",
    response_model=EmbedResponse,
    summary="Embed an image or texts",
    openapi_extra=request_body_openapi("EmbedRequest", _FORM, []),
)
async def embed(body: EmbedInput = Depends(embed_input), services: Services = Depends(get_services)) -> EmbedResponse:
    """L2-normalised rows, so a dot product between an image's and a text's embedding is their cosine."""
    engine = services.engine(body.model)
    kind: Literal["image", "text"]
    if body.texts is not None:
        vectors = await engine.embed_texts(body.texts)
        kind = "text"
    else:
        assert body.image is not None  # embed_input guarantees one of the two
        vectors = (await engine.embed_image(await services.load_image(body.image, engine)))[None]
        kind = "image"
    return EmbedResponse(model=engine.name, kind=kind, embed_dim=int(vectors.shape[1]), embeddings=vectors.tolist())
