"""``load_model``'s arguments: each backend takes the ones its entrypoint names, and a typo is an error."""

from __future__ import annotations

import pytest

from vocabfree.errors import InvalidInputError
from vocabfree.models import _registry, load_model
from vocabfree.models._factory import backend_arguments


def test_tiny_takes_embed_dim_and_the_runtime_arguments():
    model = load_model("test-tiny", embed_dim=8, device="cpu", precision="fp32")
    assert model.embed_dim == 8 and model.encode_texts(["red"]).shape == (1, 8)
    with pytest.raises(InvalidInputError) as info:
        load_model("test-tiny", embed_dims=8)
    assert (
        str(info.value)
        == "model 'test-tiny' does not take argument 'embed_dims' (it takes: embed_dim, device, precision)"
    )


def test_none_values_are_dropped_before_the_check():
    assert load_model("test-tiny", devcie=None, embed_dim=None).embed_dim == 32


def test_hf_refuses_a_typo_before_touching_the_hub(tmp_path):
    # the directory does not exist: had the check come later, this would fail with "cannot load" instead
    with pytest.raises(InvalidInputError) as info:
        load_model(f"hf:{tmp_path / 'nope'}", devcie="cpu", compiled=True)
    assert str(info.value) == (
        f"model 'hf:{tmp_path / 'nope'}' does not take arguments 'devcie', 'compiled' "
        "(it takes: device, precision, fast_forward, compile)"
    )


def test_entrypoints_with_var_keywords_take_anything(monkeypatch):
    monkeypatch.setattr(_registry, "_ENTRIES", dict(_registry._ENTRIES))
    _registry.register_backend("test-anything")(lambda **kwargs: kwargs)
    _registry.register_backend("test-nothing")(lambda: "nothing")
    assert load_model("test-anything", colour="red", size=None) == {"colour": "red"}
    assert backend_arguments(_registry._ENTRIES["test-anything"]) is None
    assert load_model("test-nothing") == "nothing"
    with pytest.raises(
        InvalidInputError, match=r"^model 'test-nothing' does not take argument 'x' \(it takes: no arguments\)$"
    ):
        load_model("test-nothing", x=1)
