"""Alignment heads: training reduces the loss and improves retrieval, save/load is exact, inputs are checked."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from vocabfree.errors import IndexMismatchError, InvalidInputError
from vocabfree.metrics.retrieval import retrieval_recall
from vocabfree.models.align_train import PairFeatures, TrainConfig, cached_image_outputs, train_head
from vocabfree.models.alignment import AlignmentHead, HeadConfig, HeadNet
from vocabfree.models.efficientnet_lite import FEATURE_DIM, ImageOutputs
from vocabfree.models.protocol import l2_normalize

D = 384


def synthetic_pairs(n_images: int, seed: int, captions_per_image: int = 2) -> PairFeatures:
    """Images whose pooled features determine their captions through a hidden linear map (+ noise); the
    ConSE input is uninformative noise, so any retrieval skill must be learned by the head."""
    rng = np.random.default_rng(1234)  # the hidden map is shared by train and val
    hidden = rng.standard_normal((FEATURE_DIM, D)).astype(np.float32) / np.sqrt(FEATURE_DIM)
    rng = np.random.default_rng(seed)
    pooled = rng.standard_normal((n_images, FEATURE_DIM)).astype(np.float32)
    owner = np.repeat(np.arange(n_images), captions_per_image)
    text = l2_normalize(pooled[owner] @ hidden + 0.3 * rng.standard_normal((len(owner), D)).astype(np.float32))
    conse = l2_normalize(rng.standard_normal((n_images, D)).astype(np.float32))
    return PairFeatures(conse=conse, pooled=pooled, text=text, image_of_text=owner)


def test_training_reduces_loss_and_improves_recall():
    train, val = synthetic_pairs(256, seed=0), synthetic_pairs(64, seed=1)
    config = HeadConfig(kind="linear", residual=True, text_adapter=True)
    head, report = train_head(
        train, val, config=config, train_config=TrainConfig(epochs=15, batch_size=64, lr=3e-3, seed=0)
    )
    history = report["history"]
    start, best = history[0], max(history[1:], key=lambda r: r["val_mean_recall"])
    assert history[-1]["train_loss"] < 0.5 * history[1]["train_loss"]
    assert best["val_loss"] < start["val_loss"]
    assert start["val_t2i_r1"] < 10  # chance level: 1/64
    assert best["val_t2i_r1"] > 50 and best["val_i2t_r5"] > 80
    # the returned head is the best epoch, and its numpy API reproduces that recall
    recall = retrieval_recall(head.embed_images(val.conse, val.pooled), head.embed_texts(val.text), val.image_of_text)
    assert recall["t2i_r1"] == pytest.approx(best["val_t2i_r1"])


def test_training_is_seeded():
    train = synthetic_pairs(64, seed=0)
    cfg = TrainConfig(epochs=2, batch_size=32, seed=7)
    a, _ = train_head(train, config=HeadConfig(), train_config=cfg)
    b, _ = train_head(train, config=HeadConfig(), train_config=cfg)
    for (k, va), (_, vb) in zip(a.net.state_dict().items(), b.net.state_dict().items(), strict=True):
        assert torch.equal(va, vb), k


def test_residual_head_starts_at_conse():
    data = synthetic_pairs(8, seed=3)
    head = AlignmentHead(HeadNet(HeadConfig(kind="mlp", residual=True, text_adapter=True)))
    np.testing.assert_allclose(head.embed_images(data.conse, data.pooled), data.conse, atol=1e-6)
    np.testing.assert_allclose(head.embed_texts(data.text), data.text, atol=1e-6)


def test_save_load_round_trip_is_exact(tmp_path):
    train = synthetic_pairs(64, seed=0)
    head, _ = train_head(
        train, config=HeadConfig(kind="mlp", hidden_dim=64), train_config=TrainConfig(epochs=2, batch_size=32)
    )
    head.card = {"name": "unit", "metrics": {"x": 1.5}}
    weights, card = head.save(tmp_path / "head")
    assert weights.name == "head.safetensors" and card.name == "head.json"
    assert json.loads(card.read_text())["config"]["hidden_dim"] == 64
    loaded = AlignmentHead.load(tmp_path / "head")
    assert loaded.config == head.config
    assert loaded.card == head.card
    assert loaded.logit_scale == head.logit_scale
    for (k, va), (_, vb) in zip(head.net.state_dict().items(), loaded.net.state_dict().items(), strict=True):
        assert torch.equal(va, vb), k
    np.testing.assert_array_equal(
        loaded.embed_images(train.conse, train.pooled), head.embed_images(train.conse, train.pooled)
    )
    np.testing.assert_array_equal(loaded.embed_texts(train.text), head.embed_texts(train.text))


def test_load_rejects_missing_and_foreign_files(tmp_path):
    with pytest.raises(InvalidInputError, match="no such head"):
        AlignmentHead.load(tmp_path / "nothing")
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"), metadata={"format_version": "99"})
    with pytest.raises(IndexMismatchError, match="format"):
        AlignmentHead.load(tmp_path / "other")


def test_training_checks_dimensions():
    data = synthetic_pairs(8, seed=0)
    with pytest.raises(IndexMismatchError):
        train_head(data, config=HeadConfig(text_dim=128))
    with pytest.raises(InvalidInputError):
        dataclasses.replace(HeadConfig(), kind="transformer")


class _FakeEncoder:
    tag = "fake@8"

    class runtime:  # noqa: N801 (mimics the Runtime dataclass)
        precision = "fp32"


class _CountingModel:
    """Stands in for LocalModel: records how many images the 'network' saw."""

    image_encoder = _FakeEncoder()

    def __init__(self):
        self.seen = 0

    def image_outputs(self, paths, *, batch_size=32, progress=False):
        self.seen += len(paths)
        idx = np.asarray([float(p.split("_")[-1]) for p in paths], np.float32)[:, None]
        return ImageOutputs(np.repeat(idx, FEATURE_DIM, 1), np.repeat(-idx, 1000, 1), np.repeat(idx / 10, 11, 1))


def test_cached_image_outputs_runs_the_network_once(tmp_path):
    model = _CountingModel()
    paths = [f"img_{i}" for i in range(5)]
    first = cached_image_outputs(model, paths, tmp_path)
    again = cached_image_outputs(model, paths, tmp_path)
    assert model.seen == 5
    np.testing.assert_array_equal(first.pooled, again.pooled)
    assert first.pooled.shape == (5, FEATURE_DIM) and first.logits.shape == (5, 1000)
    assert first.pooled[3, 0] == 3.0 and first.logits[4, 0] == -4.0
    np.testing.assert_allclose(first.colours[:, 0], np.arange(5) / 10)
    cached_image_outputs(model, paths[:2], tmp_path)  # other inputs, other key
    assert model.seen == 7


# ------------------------------------------------------------------------------ align(): the saved card


def _pairs_csv(path, n_train: int, n_val: int):
    rows = [f"train_{i}.jpg,caption {i},train" for i in range(n_train)]
    rows += [f"val_{i}.jpg,caption {i},val" for i in range(n_val)]
    path.write_text("path,caption,split\n" + "\n".join(rows) + "\n")
    return path


class _FakeLocal:
    """What ``align`` reads from the model it builds (the features themselves are patched in)."""

    image_encoder = _FakeEncoder()


def _val_starts_perfect(n_images: int, seed: int) -> PairFeatures:
    """Validation pairs whose captions equal their ConSE embeddings: the untrained head (which starts exactly
    at ConSE) retrieves them all, and training on unrelated pairs can only make that worse."""
    rng = np.random.default_rng(seed)
    conse = l2_normalize(rng.standard_normal((n_images, D)).astype(np.float32))
    pooled = rng.standard_normal((n_images, FEATURE_DIM)).astype(np.float32)
    return PairFeatures(conse=conse, pooled=pooled, text=conse.copy(), image_of_text=np.arange(n_images))


@pytest.mark.parametrize("select_best", [True, False])
def test_card_metrics_are_those_of_the_saved_weights(tmp_path, monkeypatch, select_best):
    """The untrained epoch 0 scores best here: the card must still describe the weights that were saved (the
    best trained epoch, or the last one without select_best), not epoch 0."""
    from vocabfree.models import align_train

    train, val = synthetic_pairs(64, seed=0), _val_starts_perfect(32, seed=5)
    monkeypatch.setattr(align_train, "build_local", lambda *a, **k: _FakeLocal())
    monkeypatch.setattr(
        align_train, "pair_features", lambda model, pairs, *a, **k: train if len(pairs.paths) == 64 else val
    )
    config = align_train.AlignConfig(
        train_csv=_pairs_csv(tmp_path / "pairs.csv", 64, 32),
        out=tmp_path / "head",
        train=TrainConfig(epochs=4, batch_size=32, lr=3e-2, seed=0, select_best=select_best),
    )
    card = align_train.align(config)
    curve = card["loss_curve"]
    assert curve["val_at_start"]["val_mean_recall"] == 100.0 and curve["val_best"]["epoch"] == 0  # epoch 0 wins
    written = json.loads((tmp_path / "head.json").read_text())["metrics"]["val"]
    assert written == card["metrics"]["val"]
    # ...but the saved weights are a trained epoch: the best one, or the last without select_best
    assert written["epoch"] == (4 if not select_best else written["epoch"]) and written["epoch"] >= 1
    assert written["val_mean_recall"] < 100.0
    saved = AlignmentHead.load(tmp_path / "head")
    recall = retrieval_recall(saved.embed_images(val.conse, val.pooled), saved.embed_texts(val.text), val.image_of_text)
    for k in ("t2i_r1", "t2i_r5", "i2t_r1", "i2t_r5", "mean_recall"):
        assert written[f"val_{k}"] == pytest.approx(recall[k]), k
