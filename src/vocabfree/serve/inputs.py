"""Turn untrusted request data into checked library inputs: image bytes, label lists, texts.

Everything here enforces a limit from ``ServeSettings`` and raises a ``VocabfreeError`` whose message names
the offending field and the limit, which the error handler turns into a 4xx. Image *decoding* (the part that
costs CPU) happens later, off the event loop, in ``load_image``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from vocabfree.errors import ImageLoadError, InvalidInputError
from vocabfree.serve.errors import PayloadTooLargeError
from vocabfree.serve.settings import ServeSettings


@dataclass(frozen=True)
class ImageBytes:
    """An image file's raw bytes and a name for messages (upload filename, URL, or 'base64 image')."""

    data: bytes
    name: str


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


async def _check_host_allowed(url: str, settings: ServeSettings) -> None:
    """SSRF guard: refuse URLs that resolve to loopback/private/link-local addresses unless allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(f"image URL {url!r}: only absolute http:// and https:// URLs are accepted")
    if settings.allow_private_urls:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, parts.port or 80)
    except socket.gaierror as exc:
        raise ImageLoadError(f"image URL {url!r}: cannot resolve host {parts.hostname!r}") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise InvalidInputError(
                f"image URL {url!r}: host resolves to non-public address {address}; "
                "this server only fetches public URLs (setting allow_private_urls)"
            )


async def fetch_url(client: httpx.AsyncClient, url: str, settings: ServeSettings) -> ImageBytes:
    """Download an image with a timeout and a size cap, following (and re-checking) a few redirects."""
    if not settings.allow_urls:
        raise InvalidInputError("image URLs are disabled on this server; upload the image or send base64")
    current = url
    for _ in range(settings.url_max_redirects + 1):
        await _check_host_allowed(current, settings)
        try:
            async with asyncio.timeout(settings.url_timeout_s):
                async with client.stream("GET", current, follow_redirects=False) as response:
                    if response.is_redirect and "location" in response.headers:
                        current = urljoin(current, response.headers["location"])
                        continue
                    if response.status_code != 200:
                        raise ImageLoadError(f"image URL {url!r}: the server answered HTTP {response.status_code}")
                    declared = response.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > settings.max_upload_bytes:
                        raise PayloadTooLargeError(
                            f"image URL {url!r}: {int(declared):,} bytes exceeds the upload limit of "
                            f"{settings.max_upload_bytes:,} bytes"
                        )
                    chunks, size = [], 0
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > settings.max_upload_bytes:
                            raise PayloadTooLargeError(
                                f"image URL {url!r}: more than {settings.max_upload_bytes:,} bytes (the upload limit)"
                            )
                        chunks.append(chunk)
                    return check_image_size(b"".join(chunks), f"image URL {url!r}", settings)
        except TimeoutError as exc:
            raise ImageLoadError(f"image URL {url!r}: no complete answer within {settings.url_timeout_s:g} s") from exc
        except httpx.HTTPError as exc:
            raise ImageLoadError(f"image URL {url!r}: download failed ({type(exc).__name__}: {exc})") from exc
    raise ImageLoadError(f"image URL {url!r}: more than {settings.url_max_redirects} redirects")


def clean_labels(raw: list[str] | None, settings: ServeSettings) -> tuple[str, ...] | None:
    """Strip, drop duplicates (keeping the first), and check count/length. ``None`` means 'not given'."""
    if raw is None:
        return None
    labels: list[str] = []
    for label in raw:
        label = " ".join(label.split())
        if len(label) > settings.max_label_chars:
            raise InvalidInputError(
                f"label {label[:40]!r}... is {len(label)} characters; the limit is {settings.max_label_chars}"
            )
        if label and label not in labels:
            labels.append(label)
    if not labels:
        raise InvalidInputError(
            "labels is empty: give at least one non-blank label, or omit 'labels' for vocabulary-free classification"
        )
    if len(labels) > settings.max_labels:
        raise InvalidInputError(f"{len(labels)} labels given; the limit is {settings.max_labels}")
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
