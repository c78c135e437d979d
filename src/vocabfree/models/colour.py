"""Basic colour names of images and texts: an explicit colour channel for the ``local`` backend.

ConSE describes an image only through ImageNet class names, which say almost nothing about colour, yet
colour is what captions mention most ("a man in a red shirt", a third of Flickr8k captions) and what
separates many fine-grained categories ("yellow iris", "orange dahlia"). So the ``local`` model appends
a small block to both embeddings: for images, how much of the (centre-weighted) picture falls into each
of eleven basic colour terms (Berlin & Kay); for texts, which of those terms the text names. The dot
product of the two blocks rewards a caption or label whose colours the image shows.

Both sides are written by hand on purpose: colour naming needs a dozen thresholds in HSV space and no
maintained library maps pixels to probabilistic colour names (``webcolors`` only finds the nearest CSS name
of one RGB value). The thresholds follow the usual hue wheel; the block's weight is chosen on held-out
caption retrieval (docs/local-model.md), not on the classification benchmarks.
"""

from __future__ import annotations

import re

import numpy as np

BASIC_COLOURS: tuple[str, ...] = (
    "black", "white", "gray", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown",
)  # fmt: skip

#: Words that name each basic colour (lower case). "dark"/"light" are left out: they modify, not name.
COLOUR_WORDS: dict[str, tuple[str, ...]] = {
    "black": ("black",),
    "white": ("white", "silver", "silvery", "cream", "ivory"),
    "gray": ("gray", "grey", "greyish", "grayish"),
    "red": ("red", "scarlet", "crimson", "ruby", "reddish"),
    "orange": ("orange", "apricot"),
    "yellow": ("yellow", "golden", "gold", "yellowish"),
    "green": ("green", "greenish"),
    "blue": ("blue", "bluish", "navy"),
    "purple": ("purple", "violet", "lilac", "lavender", "mauve", "purplish"),
    "pink": ("pink", "pinkish"),
    "brown": ("brown", "brownish", "maroon", "tan"),
}
_WORD_TO_INDEX = {word: BASIC_COLOURS.index(colour) for colour, words in COLOUR_WORDS.items() for word in words}
_TOKEN = re.compile(r"[a-z]+")

COLOUR_VERSION = 1  # bump when the colour rules change: it is part of the cache keys of colour shares
THUMBNAIL = 64  # colour statistics need no detail: a 64 x 64 thumbnail of the centre square is plenty


def text_colours(text: str) -> np.ndarray:
    """(11,) share of each basic colour among the colour words of ``text``; zeros if it names none."""
    counts = np.zeros(len(BASIC_COLOURS), np.float32)
    for token in _TOKEN.findall(text.lower()):
        index = _WORD_TO_INDEX.get(token)
        if index is not None:
            counts[index] += 1
    total = counts.sum()
    return counts / total if total else counts


def texts_colours(texts) -> np.ndarray:
    """(N, 11) ``text_colours`` of each text."""
    rows = [text_colours(t) for t in texts]
    return np.stack(rows) if rows else np.zeros((0, len(BASIC_COLOURS)), np.float32)


def _centre_weights(size: int) -> np.ndarray:
    """Gaussian weights (size, size), sigma a quarter of the side: the object is usually in the middle."""
    yy, xx = np.mgrid[:size, :size] + 0.5 - size / 2
    return np.exp(-(xx**2 + yy**2) / (2 * (size / 4) ** 2)).astype(np.float32)


def hsv_colours(hsv: np.ndarray) -> np.ndarray:
    """(N, 11) colour-name distribution of HSV thumbnails (N, S, S, 3) uint8 (PIL's HSV: all channels 0-255).

    Each pixel gets one basic colour by fixed hue/saturation/value rules; pixels are weighted by a centred
    Gaussian and by saturation (vivid pixels are what people name), then shares are normalised to sum to 1.
    """
    hsv = np.asarray(hsv)
    hue = hsv[..., 0].astype(np.float32) * (360.0 / 255.0)
    sat = hsv[..., 1].astype(np.float32) / 255.0
    val = hsv[..., 2].astype(np.float32) / 255.0
    black = val < 0.2
    achromatic = (sat < 0.2) & ~black
    white = achromatic & (val > 0.75)
    chromatic = ~black & ~achromatic
    red = chromatic & ((hue < 15) | (hue >= 340))
    orange = chromatic & (hue >= 15) & (hue < 45)
    yellow = chromatic & (hue >= 45) & (hue < 70)
    green = chromatic & (hue >= 70) & (hue < 165)
    blue = chromatic & (hue >= 165) & (hue < 255)
    purple = chromatic & (hue >= 255) & (hue < 290)
    magenta = chromatic & (hue >= 290) & (hue < 340)
    pale = (red | purple) & (sat < 0.5) & (val > 0.7)  # pale reds and purples read as pink
    brown = (red | orange) & (val < 0.55)  # dark oranges and reds read as brown
    masks = (
        black,
        white,
        achromatic & ~white,
        red & ~pale & ~brown,
        orange & ~brown,
        yellow,
        green,
        blue,
        purple & ~pale,
        magenta | pale,
        brown,
    )
    weight = (0.3 + sat) * _centre_weights(hsv.shape[1])
    shares = np.stack([(mask * weight).sum(axis=(1, 2)) for mask in masks], axis=1)
    return (shares / np.maximum(shares.sum(axis=1, keepdims=True), 1e-12)).astype(np.float32)


def colour_thumbnail(image) -> np.ndarray:
    """(S, S, 3) uint8 HSV thumbnail of the centre square of an RGB PIL image."""
    from PIL import Image

    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    square = image.crop((left, top, left + side, top + side))
    thumb = square.resize((THUMBNAIL, THUMBNAIL), Image.Resampling.BILINEAR)
    return np.asarray(thumb.convert("HSV"), dtype=np.uint8)


def image_colours(images) -> np.ndarray:
    """(N, 11) colour-name distributions of RGB PIL images."""
    if not images:
        return np.zeros((0, len(BASIC_COLOURS)), np.float32)
    return hsv_colours(np.stack([colour_thumbnail(image) for image in images]))
