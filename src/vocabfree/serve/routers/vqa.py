"""``POST /v1/vqa``: answer a question about an image (self-contained: schemas and model loading live here).

The VQA model (``VQAModel``: the shipped one, or ``app.state.vqa_checkpoint`` when set) is loaded on first
use, off the event loop, and kept on ``app.state.vqa_model``; tests override ``get_vqa_model``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from vocabfree.errors import InvalidInputError
from vocabfree.serve.bodies import (
    FORM_TYPES,
    form_fields,
    form_image,
    json_body,
    media_type,
    payload_image,
    request_body_openapi,
    unsupported,
)
from vocabfree.serve.dependencies import get_services, get_settings
from vocabfree.serve.inputs import ImageRef
from vocabfree.serve.schemas import ERROR_RESPONSES, ImagePayload
from vocabfree.serve.services import Services
from vocabfree.serve.settings import ServeSettings

if TYPE_CHECKING:
    from vocabfree.vqa import VQAModel

router = APIRouter(prefix="/v1", tags=["vqa"], responses=ERROR_RESPONSES)
MAX_QUESTION_CHARS = 500
_LOCK = asyncio.Lock()


class VQARequest(BaseModel):
    """Ask one question about one image."""

    model_config = ConfigDict(extra="forbid")

    image: ImagePayload
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)


class VQAResponse(BaseModel):
    model: str
    question: str
    answer: str


async def get_vqa_model(request: Request) -> VQAModel:
    state = request.app.state
    if getattr(state, "vqa_model", None) is None:
        async with _LOCK:
            if getattr(state, "vqa_model", None) is None:
                from vocabfree.vqa import VQAModel

                checkpoint = getattr(state, "vqa_checkpoint", None)
                state.vqa_model = await asyncio.to_thread(VQAModel.load, checkpoint)
    return state.vqa_model


def _question(text: object) -> str:
    question = str(text or "").strip()
    if not question:
        raise InvalidInputError("no question: give a non-empty 'question'")
    if len(question) > MAX_QUESTION_CHARS:
        raise InvalidInputError(f"question longer than {MAX_QUESTION_CHARS} characters")
    return question


async def vqa_input(request: Request, settings: ServeSettings = Depends(get_settings)) -> tuple[ImageRef, str]:
    media = media_type(request)
    if media == "application/json":
        body = await json_body(request, VQARequest)
        return payload_image(body.image, settings), _question(body.question)
    if media in FORM_TYPES:
        async with form_fields(request, settings) as form:
            return await form_image(form, settings), _question(form.get("question"))
    raise unsupported(media)


_FORM: dict[str, dict] = {
    "file": {"type": "string", "format": "binary", "description": "the image file"},
    "question": {"type": "string", "description": "e.g. What color is the car?"},
}


def _openapi_body() -> dict:
    """The shared JSON-or-form body description, with this route's JSON schema inline (ImagePayload by ref:
    the app already publishes it), so app.py's list of published request models needs no entry."""
    extra = request_body_openapi("VQARequest", _FORM, ["file", "question"])
    schema = VQARequest.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    extra["requestBody"]["content"]["application/json"]["schema"] = schema
    return extra


@router.post(
    "/vqa", response_model=VQAResponse, summary="Answer a question about an image", openapi_extra=_openapi_body()
)
async def vqa(
    body: tuple[ImageRef, str] = Depends(vqa_input),
    services: Services = Depends(get_services),
    model: VQAModel = Depends(get_vqa_model),
) -> VQAResponse:
    """A short answer generated from the image tokens and the question ("yes", "2", "red", "surfing")."""
    ref, question = body
    image = await services.load_image(ref)
    (answer,) = await asyncio.to_thread(model.answer, [image], [question])
    return VQAResponse(model=model.name, question=question, answer=answer.answer)
