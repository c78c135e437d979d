"""Everything routes depend on: the library adapters, the loaded services, and parsed request inputs.

Adapters. The service calls other packages' APIs only through the small functions at the top of this file
(``fit_zero_shot``, ``open_database``, ``load_captioner``, ...), so a renamed library API is one edit here
and tests can swap a piece (``monkeypatch.setattr(dependencies, "load_captioner", ...)``).

Inputs. ``classify_input`` and friends accept both JSON bodies (``schemas.*Request``) and multipart forms
(an uploaded ``file`` plus the same fields), so a browser form, ``curl -F`` and a JSON client all work; the
routes receive one checked ``*Input`` either way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pydantic
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import FormData, UploadFile

from vocabfree.classify.results import Prediction, VocabularyFreePrediction
from vocabfree.errors import InvalidInputError
from vocabfree.serve import inputs
from vocabfree.serve.errors import PayloadTooLargeError, UnsupportedMediaTypeError
from vocabfree.serve.schemas import CaptionRequest, ClassifyRequest, EmbedRequest, ImagePayload
from vocabfree.serve.settings import ServeSettings

if TYPE_CHECKING:
    from vocabfree.models import VisionLanguageModel
    from vocabfree.serve.services import Services


# ----------------------------------------------------------------------------------------------------------
# Library adapters: the only place that names other packages' task APIs.


def load_vlm(name: str, device: str | None) -> VisionLanguageModel:
    from vocabfree.models import load_model

    return load_model(name, device=device)


def fit_zero_shot(model: VisionLanguageModel, labels: Sequence[str], templates: str) -> Any:
    from vocabfree.classify.zero_shot import ZeroShotClassifier

    return ZeroShotClassifier(model, templates=templates).fit(None, list(labels))


def predict_zero_shot(classifier: Any, embeddings: np.ndarray, top_k: int) -> list[Prediction]:
    """``embeddings``: (N, D) image embeddings from the same model the classifier was fitted with."""
    return classifier.predict_topk(embeddings, k=top_k)


def open_database(path: str, model: VisionLanguageModel) -> Any:
    from vocabfree.database import CaptionDatabase

    # A server answers from this database for a long time: check every file's checksum once at start, so
    # same-size corruption is refused here instead of being served (``vocabfree db verify`` does the same).
    return CaptionDatabase.open(path, model=model, verify="all")


def build_vocabulary_free(model: VisionLanguageModel, database: Any) -> Any:
    from vocabfree.classify.vocabulary_free import VocabularyFreeClassifier

    return VocabularyFreeClassifier(model, database)


def predict_vocabulary_free(classifier: Any, embeddings: np.ndarray, top_k: int) -> list[VocabularyFreePrediction]:
    return classifier.predict_embeddings(embeddings, top_k=top_k)


def load_captioner(checkpoint: str | None, model: VisionLanguageModel) -> Any:
    """A trained checkpoint (for ``model``), or with ``None`` the captioner shipped in the package, which runs
    on the offline image model it was trained with (shared with ``model`` when that is the same one)."""
    from vocabfree.caption.captioner import Captioner

    if checkpoint is None:
        from vocabfree.caption.checkpoint import read_meta
        from vocabfree.caption.shipped import shipped_checkpoint

        trained_on = read_meta(shipped_checkpoint())["image_model"]
        return Captioner.load(None, model=model if model.name == trained_on else None)
    return Captioner.load(checkpoint, model=model)


def offers_shipped_captioner(model: VisionLanguageModel) -> bool:
    """The shipped captioner needs the offline ``local`` weights; a server of a ``local*`` model has them."""
    return model.name.startswith("local")


def generate_captions(captioner: Any, images: list) -> list[str]:
    return list(captioner.generate(images, beam_size=1))


# ----------------------------------------------------------------------------------------------------------
# FastAPI dependencies.


def get_services(request: Request) -> Services:
    """The services the lifespan loaded (models, batchers, database, captioner)."""
    return request.app.state.services


def get_settings(request: Request) -> ServeSettings:
    return request.app.state.services.settings


@dataclass(frozen=True)
class ImageRef:
    """Where a request's image is: already-read bytes (upload, base64) or a URL still to fetch."""

    data: inputs.ImageBytes | None = None
    url: str | None = None


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


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def _json_body(request: Request, schema: type[pydantic.BaseModel]) -> Any:
    body = await request.body()
    try:
        return schema.model_validate_json(body)
    except pydantic.ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_context=False)) from None


@asynccontextmanager
async def _form(request: Request, settings: ServeSettings) -> AsyncIterator[FormData]:
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


async def _form_image(form: FormData, settings: ServeSettings) -> ImageRef:
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


def _payload_image(payload: ImagePayload, settings: ServeSettings) -> ImageRef:
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


async def classify_input(request: Request) -> ClassifyInput:
    settings = get_settings(request)
    media = _media_type(request)
    if media == "application/json":
        body: ClassifyRequest = await _json_body(request, ClassifyRequest)
        return ClassifyInput(
            image=_payload_image(body.image, settings),
            labels=inputs.clean_labels(body.labels, settings),
            top_k=inputs.check_top_k(body.top_k, settings),
            model=body.model,
        )
    if media in ("multipart/form-data", "application/x-www-form-urlencoded"):
        async with _form(request, settings) as form:
            labels = inputs.split_label_field([str(v) for v in form.getlist("labels")])
            return ClassifyInput(
                image=await _form_image(form, settings),
                labels=inputs.clean_labels(labels, settings),
                top_k=inputs.check_top_k(_form_int(form, "top_k", 5), settings),
                model=_form_model(form),
            )
    raise _unsupported(media)


async def caption_input(request: Request) -> CaptionInput:
    settings = get_settings(request)
    media = _media_type(request)
    if media == "application/json":
        body: CaptionRequest = await _json_body(request, CaptionRequest)
        return CaptionInput(image=_payload_image(body.image, settings), model=body.model)
    if media in ("multipart/form-data", "application/x-www-form-urlencoded"):
        async with _form(request, settings) as form:
            return CaptionInput(image=await _form_image(form, settings), model=_form_model(form))
    raise _unsupported(media)


async def embed_input(request: Request) -> EmbedInput:
    settings = get_settings(request)
    media = _media_type(request)
    if media == "application/json":
        body: EmbedRequest = await _json_body(request, EmbedRequest)
        if body.texts is not None:
            return EmbedInput(image=None, texts=inputs.clean_texts(body.texts, settings), model=body.model)
        assert body.image is not None  # the schema requires exactly one
        return EmbedInput(image=_payload_image(body.image, settings), texts=None, model=body.model)
    if media in ("multipart/form-data", "application/x-www-form-urlencoded"):
        async with _form(request, settings) as form:
            texts = [str(v) for v in form.getlist("texts")]
            if texts and form.get("file") is not None:
                raise InvalidInputError("give either a 'file' or 'texts', not both")
            if texts:
                return EmbedInput(image=None, texts=inputs.clean_texts(texts, settings), model=_form_model(form))
            return EmbedInput(image=await _form_image(form, settings), texts=None, model=_form_model(form))
    raise _unsupported(media)


def _unsupported(media: str) -> UnsupportedMediaTypeError:
    return UnsupportedMediaTypeError(
        f"content type {media or '(none)'!r} is not supported: send application/json or multipart/form-data"
    )


def request_body_openapi(schema_name: str, form_fields: dict[str, dict], required: list[str]) -> dict:
    """``openapi_extra`` documenting a body that may be JSON (``schema_name``) or a multipart form."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}},
                "multipart/form-data": {"schema": {"type": "object", "properties": form_fields, "required": required}},
            },
        }
    }
