"""Typed request and response bodies of the HTTP API (pydantic), and their conversion from library results.

Requests with an image accept either JSON (these models; the image as base64 or a URL) or a multipart form
(the same fields, the image as a ``file`` part); both arrive at the routes as the same ``*Input`` dataclasses
built in ``bodies.py``. Limits that are configurable (label count, text length) are checked there
against ``ServeSettings``; the bounds here are only the hard ones that no configuration changes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from vocabfree.classify.results import Prediction, VocabularyFreePrediction


class ImagePayload(BaseModel):
    """One image, given inline as base64 (a ``data:`` URL works too) or as an http(s) URL to fetch."""

    model_config = ConfigDict(extra="forbid")

    base64: str | None = Field(None, description="image file bytes, base64-encoded (or a data: URL)")
    url: str | None = Field(None, description="http(s) URL the server downloads the image from")
    filename: str | None = Field(None, max_length=255, description="a name used in error messages")

    @model_validator(mode="after")
    def _exactly_one(self) -> ImagePayload:
        if (self.base64 is None) == (self.url is None):
            raise ValueError("give exactly one of image.base64 or image.url")
        return self


class ClassifyRequest(BaseModel):
    """Classify one image. With ``labels``: zero-shot over them; else: vocabulary-free (needs a database)."""

    model_config = ConfigDict(extra="forbid")

    image: ImagePayload
    labels: list[str] | None = Field(None, description="candidate class names; omit for vocabulary-free classification")
    top_k: int = Field(5, ge=1, description="how many labels to return, best first")
    model: str | None = Field(None, description="a loaded model's name; default: the server's first model")


class CaptionRequest(BaseModel):
    """Describe one image in a sentence."""

    model_config = ConfigDict(extra="forbid")

    image: ImagePayload
    model: str | None = None


class EmbedRequest(BaseModel):
    """Embed one image or a list of texts into the model's shared space (L2-normalised rows)."""

    model_config = ConfigDict(extra="forbid")

    image: ImagePayload | None = None
    texts: list[str] | None = None
    model: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> EmbedRequest:
        if (self.image is None) == (self.texts is None):
            raise ValueError("give exactly one of 'image' or 'texts'")
        return self


class LabelScore(BaseModel):
    label: str
    score: float = Field(description="probability over the candidate labels, in [0, 1]")


class EvidenceCaption(BaseModel):
    text: str
    similarity: float = Field(description="cosine similarity between the caption and the image")


class CandidateScore(BaseModel):
    name: str
    image_score: float
    text_score: float
    score: float


class ClassifyResponse(BaseModel):
    model: str
    mode: Literal["zero-shot", "vocabulary-free"]
    predictions: list[LabelScore] = Field(description="best first")
    captions: list[EvidenceCaption] = Field(
        default_factory=list, description="vocabulary-free only: the retrieved captions the labels came from"
    )
    candidates: list[CandidateScore] = Field(
        default_factory=list, description="vocabulary-free only: every candidate name with both scores"
    )

    @classmethod
    def from_prediction(cls, model: str, prediction: Prediction) -> ClassifyResponse:
        predictions = [
            LabelScore(label=lb, score=float(s)) for lb, s in zip(prediction.labels, prediction.scores, strict=True)
        ]
        if isinstance(prediction, VocabularyFreePrediction):
            return cls(
                model=model,
                mode="vocabulary-free",
                predictions=predictions,
                captions=[EvidenceCaption(text=c.text, similarity=float(c.similarity)) for c in prediction.captions],
                candidates=[
                    CandidateScore(
                        name=c.name,
                        image_score=float(c.image_score),
                        text_score=float(c.text_score),
                        score=float(c.score),
                    )
                    for c in prediction.candidates
                ],
            )
        return cls(model=model, mode="zero-shot", predictions=predictions)


class CaptionResponse(BaseModel):
    model: str
    caption: str
    method: Literal["generated", "retrieved"] = Field(
        description="'generated' by the captioner, or 'retrieved': the caption database's nearest caption "
        "(used when no captioner checkpoint is configured)"
    )


class EmbedResponse(BaseModel):
    model: str
    kind: Literal["image", "text"]
    embed_dim: int
    embeddings: list[list[float]] = Field(description="(N, embed_dim), rows L2-normalised")


class ModelInfo(BaseModel):
    name: str
    embed_dim: int
    default: bool
    zero_shot: bool = True
    vocabulary_free: bool = Field(description="a caption database is loaded for this model")
    caption: Literal["generated", "retrieved", "none"] = Field(description="how /v1/caption answers")


class ModelsResponse(BaseModel):
    models: list[ModelInfo]


class BatchingInfo(BaseModel):
    max_batch: int
    max_wait_ms: float
    batches: int
    items: int
    mean_batch: float
    pending: int
    pending_bytes: int = Field(0, description="memory held by images waiting for (or in) a batch")
    text_jobs: int = Field(0, description="label sets / text lists encoded since start")
    text_cancelled: int = Field(0, description="text jobs dropped because every request waiting on them left")
    text_refused: int = Field(0, description="text jobs refused (429) because the text queue was full")
    text_queued_chars: int = Field(0, description="label/text characters waiting to be encoded now")
    label_cache_hits: int = 0


class HealthResponse(BaseModel):
    status: Literal["ok"]
    version: str
    models: list[str]
    uptime_s: float
    batching: dict[str, BatchingInfo] = Field(description="per model: image-encoder batch statistics")


class ErrorResponse(BaseModel):
    """The body of every non-2xx answer."""

    error: str = Field(description="machine-readable code, e.g. invalid_image, unknown_model, not_configured")
    detail: str = Field(description="what was wrong and what would be valid")


ERROR_RESPONSES: dict[int | str, dict] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in {
        400: "invalid input (empty labels, too many labels, bad base64, ...) or a feature this server "
        "is not configured for (error 'not_configured': no database for vocabulary-free, no captioner)",
        404: "unknown model",
        413: "upload or image over the size limits",
        415: "body neither JSON nor multipart",
        422: "not an image, corrupt image, or a malformed request",
        503: "server overloaded or inference timeout (retry later)",
    }.items()
}
