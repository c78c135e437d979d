"""Colour names of images and texts (the colour channel of ``local``): known answers."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vocabfree.models.colour import BASIC_COLOURS, image_colours, text_colours, texts_colours


def share(vector: np.ndarray, colour: str) -> float:
    return float(vector[BASIC_COLOURS.index(colour)])


def test_text_colours_count_colour_words_and_synonyms():
    assert share(text_colours("A red car under a BLUE sky"), "red") == pytest.approx(0.5)
    assert share(text_colours("crimson petals, golden centre"), "yellow") == pytest.approx(0.5)
    assert share(text_colours("crimson petals, golden centre"), "red") == pytest.approx(0.5)
    assert not text_colours("a dog runs on the beach").any()
    assert not text_colours("redwood").any()  # whole words only
    assert texts_colours([]).shape == (0, len(BASIC_COLOURS))


@pytest.mark.parametrize(
    "rgb, colour",
    [
        ((230, 20, 20), "red"),
        ((250, 140, 10), "orange"),
        ((240, 220, 20), "yellow"),
        ((30, 180, 40), "green"),
        ((20, 60, 220), "blue"),
        ((120, 30, 200), "purple"),
        ((250, 180, 200), "pink"),
        ((120, 60, 20), "brown"),
        ((250, 250, 250), "white"),
        ((128, 128, 128), "gray"),
        ((10, 10, 10), "black"),
    ],
)
def test_solid_images_get_their_colour_name(rgb, colour):
    shares = image_colours([Image.new("RGB", (50, 40), rgb)])
    assert shares.shape == (1, len(BASIC_COLOURS))
    assert share(shares[0], colour) == pytest.approx(1.0)


def test_the_centre_counts_more_than_its_area():
    image = Image.new("RGB", (64, 64), (20, 60, 220))
    image.paste((230, 20, 20), (12, 12, 52, 52))  # a red 40 x 40 centre: 39% of the pixels
    shares = image_colours([image])[0]
    assert share(shares, "red") > share(shares, "blue") and shares.sum() == pytest.approx(1.0)
    assert image_colours([]).shape == (0, len(BASIC_COLOURS))
