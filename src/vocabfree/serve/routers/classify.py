"""``POST /v1/classify``: zero-shot when labels are given, vocabulary-free otherwise."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from vocabfree.classify.results import Prediction
from vocabfree.serve.bodies import ClassifyInput, classify_input, request_body_openapi
from vocabfree.serve.dependencies import get_services
from vocabfree.serve.schemas import ERROR_RESPONSES, ClassifyResponse
from vocabfree.serve.services import Services

router = APIRouter(prefix="/v1", tags=["classify"], responses=ERROR_RESPONSES)

_FORM: dict[str, dict] = {
    "file": {"type": "string", "format": "binary", "description": "the image file"},
    "labels": {"type": "string", "description": "comma- or newline-separated labels; empty: vocabulary-free"},
    "top_k": {"type": "integer", "default": 5},
    "model": {"type": "string"},
}


@router.post(
    "/classify",
    response_model=ClassifyResponse,
    summary="Classify an image",
    openapi_extra=request_body_openapi("ClassifyRequest", _FORM, ["file"]),
)
async def classify(
    body: ClassifyInput = Depends(classify_input), services: Services = Depends(get_services)
) -> ClassifyResponse:
    """With ``labels``: the top-k of those labels (zero-shot). Without: names found in the caption database
    (vocabulary-free), with the retrieved captions as evidence. Send JSON (image as base64 or URL) or a
    multipart form (image as ``file``)."""
    engine = services.engine(body.model)
    image = await services.load_image(body.image, engine)
    prediction: Prediction
    if body.labels is None:
        prediction = await engine.classify_open(image, body.top_k)
    else:
        prediction = await engine.classify(image, body.labels, body.top_k)
    return ClassifyResponse.from_prediction(engine.name, prediction)
