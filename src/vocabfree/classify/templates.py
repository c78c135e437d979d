"""Prompt templates for zero-shot classification, as data.

``openai`` is the 80-template ImageNet ensemble published with CLIP; ``openai-7`` the 7-template subset the
CLIP authors found almost as good; ``photo`` the single "a photo of a {}." and ``none`` the bare name "{}".
Users can pass their own list or a text file with one template per line (each containing ``{}``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vocabfree.errors import InvalidInputError

OPENAI_IMAGENET_TEMPLATES: tuple[str, ...] = (
    "a bad photo of a {}.", "a photo of many {}.", "a sculpture of a {}.", "a photo of the hard to see {}.",
    "a low resolution photo of the {}.", "a rendering of a {}.", "graffiti of a {}.", "a bad photo of the {}.",
    "a cropped photo of the {}.", "a tattoo of a {}.", "the embroidered {}.", "a photo of a hard to see {}.",
    "a bright photo of a {}.", "a photo of a clean {}.", "a photo of a dirty {}.", "a dark photo of the {}.",
    "a drawing of a {}.", "a photo of my {}.", "the plastic {}.", "a photo of the cool {}.",
    "a close-up photo of a {}.", "a black and white photo of the {}.", "a painting of the {}.",
    "a painting of a {}.", "a pixelated photo of the {}.", "a sculpture of the {}.", "a bright photo of the {}.",
    "a cropped photo of a {}.", "a plastic {}.", "a photo of the dirty {}.", "a jpeg corrupted photo of a {}.",
    "a blurry photo of the {}.", "a photo of the {}.", "a good photo of the {}.", "a rendering of the {}.",
    "a {} in a video game.", "a photo of one {}.", "a doodle of a {}.", "a close-up photo of the {}.",
    "a photo of a {}.", "the origami {}.", "the {} in a video game.", "a sketch of a {}.", "a doodle of the {}.",
    "a origami {}.", "a low resolution photo of a {}.", "the toy {}.", "a rendition of the {}.",
    "a photo of the clean {}.", "a photo of a large {}.", "a rendition of a {}.", "a photo of a nice {}.",
    "a photo of a weird {}.", "a blurry photo of a {}.", "a cartoon {}.", "art of a {}.", "a sketch of the {}.",
    "a embroidered {}.", "a pixelated photo of a {}.", "itap of the {}.", "a jpeg corrupted photo of the {}.",
    "a good photo of a {}.", "a plushie {}.", "a photo of the nice {}.", "a photo of the small {}.",
    "a photo of the weird {}.", "the cartoon {}.", "art of the {}.", "a drawing of the {}.",
    "a photo of the large {}.", "a black and white photo of a {}.", "the plushie {}.", "a dark photo of a {}.",
    "itap of a {}.", "graffiti of the {}.", "a toy {}.", "itap of my {}.", "a photo of a cool {}.",
    "a photo of a small {}.", "a tattoo of the {}.",
)  # fmt: skip

OPENAI_7_TEMPLATES: tuple[str, ...] = (
    "itap of a {}.",
    "a bad photo of the {}.",
    "a origami {}.",
    "a photo of the large {}.",
    "a {} in a video game.",
    "art of the {}.",
    "a photo of the small {}.",
)

TEMPLATE_SETS: dict[str, tuple[str, ...]] = {
    "openai": OPENAI_IMAGENET_TEMPLATES,
    "openai-7": OPENAI_7_TEMPLATES,
    "photo": ("a photo of a {}.",),
    "none": ("{}",),
}


def resolve_templates(spec: str | Sequence[str]) -> tuple[str, ...]:
    """A template-set name, a path to a file (one template per line), or a sequence of templates."""
    if isinstance(spec, str):
        if spec in TEMPLATE_SETS:
            return TEMPLATE_SETS[spec]
        path = Path(spec)
        if not path.is_file():
            names = ", ".join(TEMPLATE_SETS)
            raise InvalidInputError(f"unknown templates '{spec}': use one of {names}, or a file path")
        templates = tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    else:
        templates = tuple(spec)
    if not templates:
        raise InvalidInputError("no prompt templates given")
    bad = [t for t in templates if t.count("{}") != 1]
    if bad:
        raise InvalidInputError(f"each template needs exactly one '{{}}' placeholder; bad: {bad[:3]}")
    return templates
