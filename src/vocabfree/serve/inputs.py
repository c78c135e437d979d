"""Turn untrusted request data into checked library inputs: image bytes, label lists, texts.

Everything here enforces a limit from ``ServeSettings`` and raises a ``VocabfreeError`` whose message names
the offending field and the limit, which the error handler turns into a 4xx. Image *decoding* (the part that
costs CPU) happens later, off the event loop, in ``load_image``; URLs are checked and fetched in ``fetch``.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from vocabfree.errors import ImageLoadError, InvalidInputError
from vocabfree.serve.errors import LabelBudgetError, PayloadTooLargeError
from vocabfree.serve.settings import ServeSettings


@dataclass(frozen=True)
class ImageBytes:
    """An image file's raw bytes and a name for messages (upload filename, URL, or 'base64 image')."""

    data: bytes
    name: str


@dataclass(frozen=True)
class ImageRef:
    """Where a request's image is: already-read bytes (upload, base64) or a URL still to fetch."""

    data: ImageBytes | None = None
    url: str | None = None


def check_image_size(data: bytes, name: str, settings: ServeSettings) -> ImageBytes:
    if not data:
        raise ImageLoadError(f"{name}: the image is empty (0 bytes)")
    if len(data) > settings.max_upload_bytes:
        raise PayloadTooLargeError(
            f"{name}: {len(data):,} bytes exceeds the upload limit of {settings.max_upload_bytes:,} bytes"
        )
    return ImageBytes(data, name)


def decode_base64(text: str, name: str, settings: ServeSettings) -> ImageBytes:
    """Decode base64 (optionally a ``data:image/...;base64,`` URL), checking the size before decoding."""
    if text.startswith("data:"):
        header, sep, text = text.partition(",")
        if not sep or ";base64" not in header:
            raise InvalidInputError(f"{name}: a data: URL must be base64-encoded ('data:<type>;base64,...')")
    text = "".join(text.split())  # tolerate line-wrapped base64
    if len(text) * 3 // 4 > settings.max_upload_bytes + 3:
        raise PayloadTooLargeError(
            f"{name}: about {len(text) * 3 // 4:,} bytes exceeds the upload limit of "
            f"{settings.max_upload_bytes:,} bytes"
        )
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInputError(f"{name}: not valid base64 ({exc})") from exc
    return check_image_size(data, name, settings)


def clean_labels(raw: list[str] | None, settings: ServeSettings) -> tuple[str, ...] | None:
    """Strip, drop duplicates (keeping the first), and check count/length. ``None`` means 'not given'."""
    if raw is None:
        return None
    if len(raw) > 2 * settings.max_labels:  # before any per-label work
        raise InvalidInputError(f"{len(raw)} labels given; the limit is {settings.max_labels}")
    labels: dict[str, None] = {}  # ordered set
    for label in raw:
        label = " ".join(label.split())
        if len(label) > settings.max_label_chars:
            raise InvalidInputError(
                f"label {label[:40]!r}... is {len(label)} characters; the limit is {settings.max_label_chars}"
            )
        if label:
            labels[label] = None
    if not labels:
        raise InvalidInputError(
            "labels is empty: give at least one non-blank label, or omit 'labels' for vocabulary-free classification"
        )
    if len(labels) > settings.max_labels:
        raise InvalidInputError(f"{len(labels)} labels given; the limit is {settings.max_labels}")
    total = sum(len(label) for label in labels)
    if total > settings.max_label_budget:
        raise LabelBudgetError(
            f"{len(labels)} labels of {total:,} characters in all exceed the per-request budget of "
            f"{settings.max_label_budget:,} characters (setting max_label_budget): send fewer or shorter labels"
        )
    return tuple(labels)


def split_label_field(values: list[str]) -> list[str] | None:
    """Form fields: each ``labels`` value may hold several labels separated by commas or newlines.

    All-blank fields (an empty text box) count as 'not given'; separators with nothing between them do not.
    """
    if not values or all(not v.strip() for v in values):
        return None
    out: list[str] = []
    for value in values:
        out.extend(part for line in value.splitlines() for part in line.split(","))
    return out


def clean_texts(raw: list[str], settings: ServeSettings) -> list[str]:
    if not raw:
        raise InvalidInputError("texts is empty: give at least one text to embed")
    if len(raw) > settings.max_texts:
        raise InvalidInputError(f"{len(raw)} texts given; the limit is {settings.max_texts}")
    for i, text in enumerate(raw):
        if len(text) > settings.max_text_chars:
            raise InvalidInputError(f"texts[{i}] is {len(text)} characters; the limit is {settings.max_text_chars}")
        if not text.strip():
            raise InvalidInputError(f"texts[{i}] is blank")
    return list(raw)


def check_top_k(top_k: int, settings: ServeSettings) -> int:
    if top_k < 1 or top_k > settings.max_top_k:
        raise InvalidInputError(f"top_k={top_k} is out of range; use 1..{settings.max_top_k}")
    return top_k
