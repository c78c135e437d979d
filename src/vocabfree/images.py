"""Image input: turn whatever a user has (paths, folders, globs, PIL images, arrays, bytes) into RGB images.

Every model sees the same normalised input: EXIF orientation applied, transparency composited on white,
grayscale/palette/CMYK/16-bit converted to 8-bit RGB. Decoding is guarded against decompression bombs by
checking the header's size before any pixel is decoded, and every failure names the offending input.
"""

from __future__ import annotations

import glob
import io
import math
import os
import warnings
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from vocabfree.errors import ImageLoadError, ImageTooLargeError, InvalidInputError

ImageInput = str | Path | bytes | np.ndarray | Image.Image

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"})
DEFAULT_MAX_PIXELS = 64_000_000  # 8000 x 8000; a user with bigger scans raises it explicitly
# Pillow decoders the HTTP service allows by default: the formats browsers and cameras produce. (MPO is
# the format Pillow reports for many phone JPEGs.) Everything else, EPS included, is never tried.
WEB_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP", "TIFF"})


def describe(item: ImageInput) -> str:
    """A short human name for an input, used in error messages."""
    if isinstance(item, str | Path):
        return str(item)
    if isinstance(item, bytes):
        return f"<{len(item)} bytes>"
    if isinstance(item, np.ndarray):
        return f"<array {item.shape} {item.dtype}>"
    if isinstance(item, Image.Image):
        return f"<PIL {item.mode} {item.size[0]}x{item.size[1]}>"
    return f"<{type(item).__name__}>"


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB; transparent pixels become white (as a viewer on a page shows them)."""
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit grayscale: scale to 8 bits instead of clipping (PIL's convert("L") clips at 255).
        arr = np.asarray(image, dtype=np.float64)
        hi = arr.max() if arr.size and arr.max() > 0 else 1.0
        image = Image.fromarray((arr / hi * 255.0).astype(np.uint8), mode="L")
    return image.convert("RGB")


def _array_to_image(arr: np.ndarray) -> Image.Image:
    if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[-1] not in (1, 3, 4):
        arr = np.moveaxis(arr, 0, -1)  # CHW -> HWC
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (3, 4)):
        raise ImageLoadError(f"array of shape {arr.shape} is not an image (expected HxW, HxWx3 or HxWx4)")
    if arr.dtype != np.uint8:
        arr = np.asarray(arr, dtype=np.float64)
        if arr.size and arr.max() <= 1.0:  # float images in [0, 1]
            arr = arr * 255.0
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    return Image.fromarray(arr)


def _open(item: str | Path | bytes | bytearray, name: str, formats: Collection[str] | None) -> Image.Image:
    """Open (not decode) a path or bytes; only the decoders in ``formats`` are tried when it is given."""
    source = io.BytesIO(item) if isinstance(item, bytes | bytearray) else Path(item)
    if isinstance(source, Path) and not source.is_file():
        raise ImageLoadError(f"{name}: no such file")
    try:
        # Pillow's ``Image.open(formats=...)`` raises KeyError for a name without an opener of its own: MPO
        # files (phone JPEGs) are opened by the JPEG plugin, so "MPO" means "JPEG" here.
        openers = sorted({"JPEG" if f.upper() == "MPO" else f.upper() for f in formats}) if formats else None
        return Image.open(source, formats=openers)
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"{name}: {exc}") from exc
    except UnidentifiedImageError as exc:
        allowed = f" (allowed formats: {', '.join(sorted(formats))})" if formats else ""
        raise ImageLoadError(f"{name}: not a readable image{allowed}") from exc
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow's plugins raise many types; this is the one boundary
        raise ImageLoadError(f"{name}: not a readable image ({_why(exc)})") from exc


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = text[:200]
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


def reduce_for(image: Image.Image, min_side: int) -> Image.Image:
    """Shrink a decoded image by an integer box factor so that its shorter side stays >= 2 * ``min_side``.

    Models resize to ``min_side`` anyway; keeping at least twice that before their own (antialiased) resize
    leaves their input practically unchanged while a 40-megapixel upload shrinks to well under a megabyte.
    """
    factor = min(image.size) // (2 * min_side)
    return image.reduce(factor) if factor >= 2 else image


def load_image(
    item: ImageInput,
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    formats: Collection[str] | None = None,
    min_side: int | None = None,
    name: str | None = None,
) -> Image.Image:
    """Load one input as an RGB PIL image, or raise ``ImageLoadError`` naming it (``name``, else a description).

    This is the one image-decoding boundary: whatever a Pillow decoder raises while opening or decoding
    (``OSError``, ``ValueError``, ``NotImplementedError``, ``AttributeError``, ...) becomes an
    ``ImageLoadError`` naming the input. ``formats`` restricts which Pillow decoders may be tried (the
    service passes a whitelist so an upload never reaches EPS, say). ``min_side``, when given, decodes JPEGs
    at a reduced DCT scale (PIL ``draft``) and box-reduces other images so their shorter side stays at least
    twice ``min_side``: the right size for a model whose input is ``min_side`` pixels, at a fraction of the
    memory and time of a full decode.
    """
    name = name or describe(item)
    if isinstance(item, Image.Image):
        image = item
    elif isinstance(item, np.ndarray):
        image = _array_to_image(item)
    elif isinstance(item, bytes | bytearray | str | Path):
        image = _open(item, name, formats)
    else:
        raise InvalidInputError(f"unsupported image input of type {type(item).__name__}: {name}")

    try:
        width, height = image.size
    except Exception as exc:  # noqa: BLE001 - a plugin that failed to parse its header
        raise ImageLoadError(f"{name}: corrupt image header ({_why(exc)})") from exc
    if width <= 0 or height <= 0:
        raise ImageLoadError(f"{name}: corrupt image header (size {width}x{height})")
    if max_pixels is not None and width * height > max_pixels:
        raise ImageTooLargeError(
            f"{name}: {width}x{height} = {width * height:,} pixels exceeds the limit of {max_pixels:,}"
            " (raise it with --max-pixels)"
        )
    try:
        with warnings.catch_warnings():
            # We check the size ourselves (above) against the caller's limit; Pillow's own warning is noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            if min_side and image.format in ("JPEG", "MPO") and min(width, height) > 2 * min_side:
                scale = 2 * min_side / min(width, height)
                image.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
            image.load()  # decode now so truncated files fail here, with the file's name
            if min_side:
                image = reduce_for(image, min_side)
            image = ImageOps.exif_transpose(image) or image
            return to_rgb(image)
    except MemoryError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"{name}: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - see the docstring: the one decode boundary
        raise ImageLoadError(f"{name}: corrupt image data ({_why(exc)})") from exc


@dataclass(frozen=True)
class Skipped:
    """An input that was skipped under ``skip_errors`` and why."""

    source: str
    reason: str  # the ImageLoadError message, which already names the source
    index: int = -1  # position in the inputs given to load_images / iter_image_batches


def load_images(
    items: Sequence[ImageInput],
    *,
    skip_errors: bool = False,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    min_side: int | None = None,
) -> tuple[list[Image.Image], list[int], list[Skipped]]:
    """Load many inputs. Returns (images, indices of the loaded inputs, skipped inputs).

    Without ``skip_errors`` the first bad input raises; with it, bad inputs are reported and left out.
    """
    images, kept, skipped = [], [], []
    for i, item in enumerate(items):
        try:
            images.append(load_image(item, max_pixels=max_pixels, min_side=min_side))
            kept.append(i)
        except ImageLoadError as exc:
            if not skip_errors:
                raise
            skipped.append(Skipped(describe(item), str(exc), i))
    return images, kept, skipped


@dataclass(frozen=True)
class ImageBatch:
    """One chunk of ``iter_image_batches``: the decoded images, their input positions and the inputs skipped."""

    images: list[Image.Image]
    indices: list[int]  # positions of ``images`` in the inputs
    skipped: list[Skipped]


def iter_image_batches(
    items: Sequence[ImageInput],
    *,
    batch_size: int = 32,
    skip_errors: bool = False,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    min_side: int | None = None,
) -> Iterator[ImageBatch]:
    """Decode ``items`` ``batch_size`` at a time, so a caller that drops each batch after using it holds at most
    one batch of images in memory however many inputs there are. Pass ``min_side`` (the model's input size)
    so big photos are decoded small (see ``load_image``). Errors behave as in ``load_images``."""
    if batch_size < 1:
        raise InvalidInputError(f"batch_size must be >= 1, got {batch_size}")
    for start in range(0, len(items), batch_size):
        images, kept, skipped = load_images(
            items[start : start + batch_size], skip_errors=skip_errors, max_pixels=max_pixels, min_side=min_side
        )
        yield ImageBatch(
            images, [start + i for i in kept], [Skipped(s.source, s.reason, start + s.index) for s in skipped]
        )


def expand_paths(specs: Iterable[str | os.PathLike[str]], *, recursive: bool = True) -> list[Path]:
    """Expand files, directories (recursively, image extensions only) and glob patterns into paths.

    Order is deterministic: each spec in the order given, its matches sorted; a file matched by several specs
    (a folder and an overlapping glob) is kept once, where it first appears. A spec matching nothing is an
    error rather than a silent empty result.
    """
    out: list[Path] = []
    seen: set[Path] = set()
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            found = sorted(p for p in path.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        elif path.exists():
            found = [path]
        elif glob.has_magic(str(spec)):
            found = sorted(Path(p) for p in glob.glob(str(spec), recursive=True) if Path(p).is_file())
        else:
            raise ImageLoadError(f"{spec}: no such file, directory or matching pattern")
        if not found:
            raise ImageLoadError(f"{spec}: contains no images ({', '.join(sorted(IMAGE_EXTENSIONS))})")
        for p in found:
            key = p.resolve()
            if key not in seen:
                seen.add(key)
                out.append(p)
    return out
