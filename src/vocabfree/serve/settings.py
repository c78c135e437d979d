"""``ServeSettings``: every knob of the HTTP service in one frozen dataclass.

Configuration enters only here, from three sources in increasing priority: a TOML config file, environment
variables (``VOCABFREE_<FIELD>``, e.g. ``VOCABFREE_MODEL=local``) and explicit overrides (CLI flags). The
rest of the service reads the frozen result from ``app.state``; nothing else looks at the environment, so a
test builds a ``ServeSettings(...)`` directly and gets exactly what it asked for.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from vocabfree.errors import InvalidInputError
from vocabfree.images import WEB_FORMATS
from vocabfree.models import OFFLINE_MODEL

ENV_PREFIX = "VOCABFREE_"
MiB = 1024 * 1024


@dataclass(frozen=True)
class ServeSettings:
    """What to load and how to guard it. Limits apply per request; defaults suit a small public demo."""

    # What to serve. The first model is the default; requests may name any other loaded one.
    models: tuple[str, ...] = (OFFLINE_MODEL,)
    database: str | None = None  # caption database folder: enables vocabulary-free classification
    caption_checkpoint: str | None = None  # captioner checkpoint folder: enables generated captions
    device: str | None = None  # None: the backend's own choice
    templates: str = "openai"  # prompt template set for zero-shot labels
    warmup: bool = True  # encode one image at start so the first request does not pay torch's lazy init

    # Where to listen (used by ``vocabfree serve``; the app itself does not bind).
    host: str = "127.0.0.1"
    port: int = 8000
    root_path: str = ""  # sub-path a reverse proxy serves the app under, e.g. "/vocabfree" (uvicorn applies it)
    log_level: str = "info"

    # Micro-batching: requests arriving within ``max_wait_ms`` of each other share one forward pass.
    max_batch: int = 32  # 1 turns batching off; batches grow with load up to this
    max_wait_ms: float = 5.0
    incoming_wait_ms: float = 20.0  # ... or up to this while more requests' images are still being decoded
    max_queue: int = 256  # requests waiting beyond this answer 503 instead of piling up
    max_queue_bytes: int = 256 * MiB  # decoded pixels waiting for the model; beyond it new images answer 503

    # Input limits (each violation is a 4xx naming the limit).
    max_upload_bytes: int = 10 * MiB  # one image, after base64 decoding
    max_pixels: int = 40_000_000
    max_labels: int = 1000
    max_label_chars: int = 200
    max_texts: int = 256  # texts per /v1/embed request
    max_text_chars: int = 1000
    max_top_k: int = 100
    max_label_budget: int = 20_000  # characters over all of a request's labels (labels x length); 413 beyond
    label_queue_chars: int = 100_000  # label characters waiting to be encoded, all requests; 429 beyond
    label_cache_size: int = 64  # label sets kept encoded per model (least recently used dropped first)
    request_timeout_s: float = 30.0  # inference wait per request; past it the request answers 503
    image_formats: tuple[str, ...] = tuple(sorted(WEB_FORMATS))  # Pillow decoders uploads may reach

    # Access control: with keys set, every route but /health needs one (Authorization: Bearer / X-API-Key).
    api_keys: tuple[str, ...] = field(default=(), repr=False)

    # HTTP server (uvicorn) guards against slow or abusive clients.
    header_timeout_s: float = 10.0  # a request's headers must arrive within this (slowloris)
    body_timeout_s: float = 30.0  # ... and its body within this; else 408
    keep_alive_s: int = 5  # idle keep-alive connections close after this
    max_connections: int = 512  # concurrent connections + requests; beyond it uvicorn answers 503
    max_header_bytes: int = 16_384  # largest request head (line + headers)
    access_log_per_s: float = 20.0  # access-log lines per second; beyond it lines are counted, not written

    # Fetching images by URL.
    allow_urls: bool = True
    allow_private_urls: bool = False  # loopback/private/link-local targets (SSRF guard); tests turn it on
    url_timeout_s: float = 10.0
    url_max_redirects: int = 3

    def __post_init__(self) -> None:
        if not self.models:
            raise InvalidInputError(f"ServeSettings.models is empty: name at least one model, e.g. '{OFFLINE_MODEL}'")
        for name in (
            "max_batch",
            "max_queue",
            "max_upload_bytes",
            "max_pixels",
            "max_labels",
            "max_label_chars",
            "max_texts",
            "max_text_chars",
            "max_top_k",
            "url_max_redirects",
            "max_queue_bytes",
            "max_label_budget",
            "label_queue_chars",
            "label_cache_size",
            "keep_alive_s",
            "max_connections",
            "max_header_bytes",
        ):
            value = getattr(self, name)
            minimum = 0 if name == "url_max_redirects" else 1
            if not isinstance(value, int) or value < minimum:
                raise InvalidInputError(f"ServeSettings.{name} must be an integer >= {minimum}, got {value!r}")
        positive = ("request_timeout_s", "url_timeout_s", "header_timeout_s", "body_timeout_s", "access_log_per_s")
        for name in ("max_wait_ms", "incoming_wait_ms", *positive):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value < 0 or (not name.endswith("wait_ms") and value == 0):
                raise InvalidInputError(f"ServeSettings.{name} must be a positive number, got {value!r}")
        if not 0 < self.port < 65536:
            raise InvalidInputError(f"ServeSettings.port must be in 1..65535, got {self.port}")
        _check_formats(self.image_formats)
        if any(not key or not key.isprintable() or any(c.isspace() for c in key) for key in self.api_keys):
            raise InvalidInputError("ServeSettings.api_keys: keys must be non-empty printable text without spaces")

    @property
    def default_model(self) -> str:
        return self.models[0]

    @property
    def batching(self) -> bool:
        return self.max_batch > 1

    @property
    def max_body_bytes(self) -> int:
        """Whole-request cap: one base64-encoded image (4/3 larger) plus room for labels and form fields."""
        return self.max_upload_bytes * 4 // 3 + 4 + self.max_labels * (self.max_label_chars + 8) + 64 * 1024

    @classmethod
    def load(
        cls,
        config: str | Path | None = None,
        *,
        env: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> ServeSettings:
        """Merge defaults < config file < ``VOCABFREE_*`` environment < ``overrides`` (``None`` means unset).

        ``config`` is a TOML file whose keys are field names, at top level or under a ``[serve]`` table.
        Pass ``env={}`` to ignore the environment (the CLI passes ``os.environ``).
        """
        values: dict[str, Any] = {}
        if config is not None:
            values.update(_read_config(Path(config)))
        values.update(_from_env(os.environ if env is None else env))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_mapping(values)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ServeSettings:
        """Build from loosely typed values (strings from env/TOML), converting each to its field's type."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise InvalidInputError(
                f"unknown serve setting(s): {', '.join(unknown)}. Known: {', '.join(sorted(known))}"
            )
        kwargs = {name: _coerce(name, known[name].type, value) for name, value in values.items()}
        return cls(**kwargs)

    def replace(self, **changes: Any) -> ServeSettings:
        return replace(self, **changes)


def _check_formats(formats: tuple[str, ...]) -> None:
    from PIL import Image

    Image.init()  # registers every plugin Pillow has
    known = set(Image.OPEN) | {"MPO"}  # MPO (phone JPEGs) is opened by the JPEG plugin, not an opener of its own
    unknown = sorted(set(formats) - known)
    if not formats or unknown:
        raise InvalidInputError(
            f"ServeSettings.image_formats: unknown Pillow format(s) {', '.join(unknown) or '(none given)'}; "
            f"known: {', '.join(sorted(known))}"
        )


def _read_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InvalidInputError(f"config file {path} does not exist")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"config file {path} is not valid TOML: {exc}") from exc
    return dict(data.get("serve", data))


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    names = {f.name for f in fields(ServeSettings)}
    aliases = {"MODEL": "models", "DB": "database"}  # the spellings a systemd unit naturally uses
    out: dict[str, Any] = {}
    for key, value in env.items():
        if not key.startswith(ENV_PREFIX):
            continue
        suffix = key[len(ENV_PREFIX) :]
        name = aliases.get(suffix, suffix.lower())
        if name in names:
            out[name] = value
    return out


def _coerce(name: str, annotation: Any, value: Any) -> Any:
    """Turn an env/TOML value into the field's type; the error names the setting and what was expected."""
    kind = str(annotation)
    try:
        if "tuple" in kind:
            items = value.split(",") if isinstance(value, str) else list(value)
            items = [str(v).strip() for v in items if str(v).strip()]
            return tuple(v.upper() for v in items) if name == "image_formats" else tuple(items)
        if value is None or (isinstance(value, str) and value == "" and "None" in kind):
            return None
        if kind.startswith("bool"):
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if kind.startswith("int"):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if kind.startswith("float"):
            return float(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"serve setting {name}={value!r} is not a valid {kind}") from exc
