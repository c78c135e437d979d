import pytest

from vocabfree.classify.templates import TEMPLATE_SETS, resolve_templates
from vocabfree.errors import InvalidInputError


def test_named_sets():
    assert len(TEMPLATE_SETS["openai"]) == 80 and len(set(TEMPLATE_SETS["openai"])) == 80
    assert set(TEMPLATE_SETS["openai-7"]) <= set(TEMPLATE_SETS["openai"])
    assert resolve_templates("none") == ("{}",)
    assert resolve_templates("photo") == ("a photo of a {}.",)


def test_file_and_list(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("a {}\n\n  an image of a {}.  \n")
    assert resolve_templates(str(path)) == ("a {}", "an image of a {}.")
    assert resolve_templates(["x {}"]) == ("x {}",)


@pytest.mark.parametrize("spec", [[], ["no placeholder"], ["{} and {}"], "unknown-set"])
def test_bad_templates(spec):
    with pytest.raises(InvalidInputError):
        resolve_templates(spec)
