"""Request bodies: each route's input, parsed from JSON (``schemas.*Request``) or a multipart form (an
uploaded ``file`` plus the same fields), so a browser form, ``curl -F`` and a JSON client all work; the
routes receive one checked ``*Input`` either way (FastAPI dependencies: ``Depends(classify_input)``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

import pydantic
from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import FormData, UploadFile

from vocabfree.errors import InvalidInputError
from vocabfree.serve import inputs
from vocabfree.serve.dependencies import get_settings
from vocabfree.serve.errors import PayloadTooLargeError, UnsupportedMediaTypeError
from vocabfree.serve.inputs import ImageRef
from vocabfree.serve.schemas import CaptionRequest, ClassifyRequest, EmbedRequest, ImagePayload
from vocabfree.serve.settings import ServeSettings

FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
Body = TypeVar("Body", bound=pydantic.BaseModel)


@dataclass(frozen=True)
class ClassifyInput:
    image: ImageRef
    labels: tuple[str, ...] | None  # None: vocabulary-free
    top_k: int
    model: str | None


@dataclass(frozen=True)
class CaptionInput:
    image: ImageRef
    model: str | None


@dataclass(frozen=True)
class EmbedInput:
    image: ImageRef | None
    texts: list[str] | None
    model: str | None


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def json_body(request: Request, schema: type[Body]) -> Body:
    body = await request.body()
    try:
        return schema.model_validate_json(body)
    except pydantic.ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_context=False)) from None


@asynccontextmanager
async def form_fields(request: Request, settings: ServeSettings) -> AsyncIterator[FormData]:
    """The parsed form, closed (spooled upload files deleted) as soon as its fields have been read."""
    try:
        form = await request.form(
            max_files=1, max_fields=settings.max_labels + 16, max_part_size=settings.max_body_bytes
        )
    except PayloadTooLargeError:
        raise
    except Exception as exc:  # starlette raises HTTPException(400) for malformed multipart
        detail = getattr(exc, "detail", None) or str(exc)
        raise InvalidInputError(f"malformed multipart form: {detail}") from exc
    try:
        yield form
    finally:
        await form.close()


async def form_image(form: FormData, settings: ServeSettings) -> ImageRef:
    upload = form.get("file")
    if isinstance(upload, UploadFile):
        name = f"upload {upload.filename!r}" if upload.filename else "uploaded file"
        data = await upload.read(settings.max_upload_bytes + 1)
        return ImageRef(data=inputs.check_image_size(data, name, settings))
    if isinstance(upload, str):
        raise InvalidInputError("form field 'file' must be a file upload, not text")
    if form.get("image_url"):
        return ImageRef(url=str(form.get("image_url")))
    if form.get("image_base64"):
        return ImageRef(data=inputs.decode_base64(str(form.get("image_base64")), "base64 image", settings))
    raise InvalidInputError("no image: upload it as form field 'file' (or give 'image_url' / 'image_base64')")


def payload_image(payload: ImagePayload, settings: ServeSettings) -> ImageRef:
    if payload.url is not None:
        return ImageRef(url=payload.url)
    name = f"base64 image {payload.filename!r}" if payload.filename else "base64 image"
    return ImageRef(data=inputs.decode_base64(payload.base64 or "", name, settings))


def _form_int(form: FormData, key: str, default: int) -> int:
    value = form.get(key)
    if value in (None, ""):
        return default
    try:
        return int(str(value))
    except ValueError:
        raise InvalidInputError(f"form field '{key}' must be an integer, got {str(value)[:40]!r}") from None


def _form_model(form: FormData) -> str | None:
    value = form.get("model")
    return str(value) if value else None


async def classify_input(request: Request, settings: ServeSettings = Depends(get_settings)) -> ClassifyInput:
    media = media_type(request)
    if media == "application/json":
        body = await json_body(request, ClassifyRequest)
        return ClassifyInput(
            image=payload_image(body.image, settings),
            labels=inputs.clean_labels(body.labels, settings),
            top_k=inputs.check_top_k(body.top_k, settings),
            model=body.model,
        )
    if media in FORM_TYPES:
        async with form_fields(request, settings) as form:
            labels = inputs.split_label_field([str(v) for v in form.getlist("labels")])
            return ClassifyInput(
                image=await form_image(form, settings),
                labels=inputs.clean_labels(labels, settings),
                top_k=inputs.check_top_k(_form_int(form, "top_k", 5), settings),
                model=_form_model(form),
            )
    raise unsupported(media)


async def caption_input(request: Request, settings: ServeSettings = Depends(get_settings)) -> CaptionInput:
    media = media_type(request)
    if media == "application/json":
        body = await json_body(request, CaptionRequest)
        return CaptionInput(image=payload_image(body.image, settings), model=body.model)
    if media in FORM_TYPES:
        async with form_fields(request, settings) as form:
            return CaptionInput(image=await form_image(form, settings), model=_form_model(form))
    raise unsupported(media)


async def embed_input(request: Request, settings: ServeSettings = Depends(get_settings)) -> EmbedInput:
    media = media_type(request)
    if media == "application/json":
        body = await json_body(request, EmbedRequest)
        if body.texts is not None:
            return EmbedInput(image=None, texts=inputs.clean_texts(body.texts, settings), model=body.model)
        assert body.image is not None  # the schema requires exactly one
        return EmbedInput(image=payload_image(body.image, settings), texts=None, model=body.model)
    if media in FORM_TYPES:
        async with form_fields(request, settings) as form:
            texts = [str(v) for v in form.getlist("texts")]
            if texts and form.get("file") is not None:
                raise InvalidInputError("give either a 'file' or 'texts', not both")
            if texts:
                return EmbedInput(image=None, texts=inputs.clean_texts(texts, settings), model=_form_model(form))
            return EmbedInput(image=await form_image(form, settings), texts=None, model=_form_model(form))
    raise unsupported(media)


def unsupported(media: str) -> UnsupportedMediaTypeError:
    return UnsupportedMediaTypeError(
        f"content type {media or '(none)'!r} is not supported: send application/json or multipart/form-data"
    )


def request_body_openapi(schema_name: str, fields: dict[str, dict], required: list[str]) -> dict:
    """``openapi_extra`` documenting a body that may be JSON (``schema_name``) or a multipart form."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}},
                "multipart/form-data": {"schema": {"type": "object", "properties": fields, "required": required}},
            },
        }
    }
