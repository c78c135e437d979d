import pytest

from vocabfree.errors import UnknownBackendError, VocabfreeError
from vocabfree.models import _registry, list_models, load_model


def test_unknown_model_lists_known_names():
    with pytest.raises(UnknownBackendError) as info:
        load_model("no-such-model")
    message = str(info.value)
    assert "no-such-model" in message and "test-tiny" in message and "hf:" in message
    assert isinstance(info.value, KeyError) and isinstance(info.value, VocabfreeError)


def test_prefix_without_argument_is_rejected():
    with pytest.raises(UnknownBackendError, match="missing the part after 'hf:'"):
        load_model("hf:")


def test_list_models_filters_with_wildcards():
    # "test-t*", not "test-*": other tests register backends of their own (e.g. test-vqa-tokens) in this process.
    names = [e.name for e in list_models("test-t*")]
    assert names == ["test-tiny"]
    assert {"hf:", "test-tiny"} <= {e.name for e in list_models()}


def test_registering_twice_warns_and_later_wins():
    name = "dup-test-backend"
    try:
        _registry.register_backend(name)(lambda **_: "first")
        with pytest.warns(UserWarning, match="registered twice"):
            _registry.register_backend(name)(lambda **_: "second")
        assert load_model(name) == "second"
    finally:
        _registry._ENTRIES.pop(name, None)


def test_none_kwargs_are_dropped():
    model = load_model("test-tiny", device=None, embed_dim=8)
    assert model.embed_dim == 8
