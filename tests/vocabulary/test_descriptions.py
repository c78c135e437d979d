"""WordNet label descriptions: sense choice from the label set, spellings, unknown labels."""

from __future__ import annotations

import pytest

from tests.conftest import needs_wordnet
from vocabfree.errors import MissingDependencyError
from vocabfree.vocabulary.descriptions import WordNetDescriber, lemma_keys

# A tiny WordNet: "rose" is first a colour (its most frequent sense here), second a shrub.
_INDEX = """  licence line
crimson n 1 1 @ 1 0 00000006
rose n 2 1 @ 2 0 00000005 00000002
tulip n 1 1 @ 1 0 00000003
black-eyed_susan n 1 1 @ 1 0 00000007
"""
_DATA = """  licence line
00000001 03 n 01 plant 0 000 | a living organism lacking locomotion
00000002 20 n 02 rose 0 rosebush 0 001 @ 00000001 n 0000 | any of many shrubs of the genus Rosa
00000003 20 n 01 tulip 0 001 @ 00000001 n 0000 | any of numerous perennial bulbous herbs
00000004 07 n 01 color 0 000 | a visual attribute of things
00000005 07 n 01 rose 0 001 @ 00000004 n 0000 | a dusty pink color
00000006 07 n 01 crimson 0 001 @ 00000004 n 0000 | a deep and vivid red color; "a crimson sky"
00000007 20 n 01 black-eyed_Susan 0 001 @ 00000001 n 0000 | a daisylike flower with a dark centre
"""


@pytest.fixture
def tiny_wordnet(tmp_path):
    (tmp_path / "index.noun").write_text(_INDEX)
    (tmp_path / "data.noun").write_text(_DATA)
    return WordNetDescriber(tmp_path)


def test_sense_follows_the_other_labels(tiny_wordnet):
    assert tiny_wordnet.describe(["rose"]) == ["a dusty pink color"]  # no context: most frequent sense
    assert tiny_wordnet.describe(["rose", "tulip"]) == [
        "any of many shrubs of the genus Rosa",
        "any of numerous perennial bulbous herbs",
    ]
    assert tiny_wordnet.describe(["crimson", "rose"]) == ["a deep and vivid red color", "a dusty pink color"]


def test_spellings_and_unknown_labels(tiny_wordnet):
    assert lemma_keys("Black-eyed Susan") == ["black-eyed_susan", "black_eyed_susan", "blackeyed_susan"]
    assert tiny_wordnet.describe(["Black-eyed Susan", "no such flower"]) == [
        "a daisylike flower with a dark centre",
        None,
    ]
    assert tiny_wordnet.describe([]) == []


def test_missing_wordnet_is_a_clear_error(tmp_path):
    with pytest.raises(MissingDependencyError, match="wordnet-base"):
        WordNetDescriber(tmp_path / "nowhere").describe(["rose"])


@needs_wordnet
def test_real_wordnet_picks_the_plant_sense_among_flowers():
    rose, carnation, _ = WordNetDescriber().describe(["rose", "carnation", "tulip"])
    assert "Rosa" in rose and carnation.startswith("Eurasian plant")
    assert "color" in WordNetDescriber().describe(["rose", "crimson", "scarlet", "turquoise"])[0]
