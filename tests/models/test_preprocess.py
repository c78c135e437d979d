"""uint8 torch preprocessing equals the Hugging Face image processors (CLIP, SigLIP, ViT) on real photos."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import SHARED_DATA
from vocabfree.images import load_image
from vocabfree.models.pipeline import collate
from vocabfree.models.preprocess import HFImageTransform, ProcessorTransform, from_processor, shortest_edge_size

CALTECH = SHARED_DATA / "caltech101"
needs_photos = pytest.mark.skipif(not (CALTECH / "test.csv").is_file(), reason="shared Caltech-101 data not present")


def photos(n: int = 6) -> list[str]:
    """Every 50th test photo: faces, animals, objects of different sizes and aspect ratios (some grey)."""
    with open(CALTECH / "test.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [str(CALTECH / r["path"]) for r in rows[::50][:n]]


def processors():
    from transformers import CLIPImageProcessor, SiglipImageProcessor, ViTImageProcessor

    return {
        "clip": CLIPImageProcessor(),  # shortest edge 224 bicubic, centre crop 224, OpenAI mean/std
        "clip-336": CLIPImageProcessor(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336}),
        "siglip": SiglipImageProcessor(),  # 224 x 224, mean/std 0.5
        "vit": ViTImageProcessor(),  # 224 x 224 bilinear, mean/std 0.5
    }


@needs_photos
@pytest.mark.parametrize("kind", ["clip", "clip-336", "siglip", "vit"])
def test_fast_transform_equals_the_processor(kind):
    processor = processors()[kind]
    transform = from_processor(processor)
    assert isinstance(transform, HFImageTransform)
    images = [load_image(p) for p in photos()]
    reference = processor(images=images, return_tensors="pt")["pixel_values"]
    ours = transform.to_pixels(collate([transform.prepare(im) for im in images]))
    assert ours.shape == reference.shape and ours.dtype == torch.float32
    # Same PIL resize, same crop: only the float rounding of rescale + normalise differs.
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-5)
    assert transform.image_size == reference.shape[-1]


def test_shortest_edge_size_truncates_like_transformers():
    assert shortest_edge_size(500, 333, 224) == (336, 224)  # int(224 * 500 / 333) = 336
    assert shortest_edge_size(333, 500, 224) == (224, 336)
    assert shortest_edge_size(224, 224, 224) == (224, 224)


def test_unknown_or_padding_processors_fall_back_to_the_processor():
    from transformers import CLIPImageProcessor

    class OtherProcessor(CLIPImageProcessor):
        pass

    padded = CLIPImageProcessor(size={"shortest_edge": 100}, crop_size={"height": 128, "width": 128})
    for processor in (OtherProcessor(), padded):
        transform = from_processor(processor)
        assert isinstance(transform, ProcessorTransform)
        image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (90, 140, 3), dtype=np.uint8))
        reference = processor(images=[image], return_tensors="pt")["pixel_values"]
        ours = transform.to_pixels(collate([transform.prepare(image)]))
        torch.testing.assert_close(ours, reference)
