"""Training on image tokens (cross-attention and the LLaVA projector): exact resume, checkpoint records, API."""

import json

import numpy as np
import pytest
import torch

from tests.caption.test_projector import _save_lm
from vocabfree.caption.captioner import Captioner
from vocabfree.caption.prepare import Split, batch_rows
from vocabfree.caption.train import TrainConfig, train
from vocabfree.errors import IndexMismatchError, InvalidInputError
from vocabfree.models import load_model


@pytest.fixture(scope="module")
def clip(tiny_clip_dir):
    return load_model(f"hf:{tiny_clip_dir}", precision="fp32", device="cpu")


def config(colour_csv, tmp_path, name, **kw):
    base = dict(
        data=str(colour_csv),
        out_dir=str(tmp_path / name),
        decoder="own",
        image_model="unused",
        feature_cache=str(tmp_path / "cache"),
        vocab_size=60,
        epochs=4,
        batch_size=3,
        images_per_batch=2,
        tokens=True,
        token_layer=-2,
        keep_cls=False,
        lr=3e-3,
        warmup_steps=2,
        checkpoint_every=2,
        max_len=6,
        device="cpu",
        precision="fp32",
        model={"n_layer": 1, "n_head": 2, "n_embd": 32, "block_size": 8},
    )
    base.update(kw)
    return TrainConfig(**base)


def test_batches_by_image_cover_every_caption_once_per_epoch():
    image_of = np.array([0, 0, 1, 1, 1, 2, 3, 3])
    split = Split(np.zeros((4, 2)), image_of, np.zeros((8, 3)), np.zeros((8, 3)), list("abcd"), [[]] * 4)
    rows = [batch_rows(split, s, seed=1, batch_size=3, images_per_batch=3) for s in range(2)]
    assert sorted(np.concatenate(rows).tolist()) == list(range(8))
    for r in rows:  # whole images only: every caption of an image is in the same batch
        assert sorted(np.flatnonzero(np.isin(image_of, image_of[r])).tolist()) == sorted(r.tolist())
    assert np.array_equal(
        batch_rows(split, 2, seed=1, batch_size=3, images_per_batch=3),
        batch_rows(split, 2, seed=1, batch_size=3, images_per_batch=3),
    )


def test_token_decoder_resumes_exactly_and_records_its_tokens(colour_csv, tmp_path, clip):
    straight = train(config(colour_csv, tmp_path, "straight", max_steps=7), image_model=clip, progress=False)
    train(config(colour_csv, tmp_path, "split", max_steps=3), image_model=clip, progress=False)
    resumed = train(config(colour_csv, tmp_path, "split", max_steps=7), resume=True, image_model=clip, progress=False)
    a = torch.load(straight.out_dir / "state.pt", weights_only=False)
    b = torch.load(resumed.out_dir / "state.pt", weights_only=False)
    assert len(a["losses"]) == len(b["losses"]) == 7
    assert b["losses"] == pytest.approx(a["losses"], abs=1e-6)
    for name, tensor in a["model"].items():
        assert torch.allclose(tensor, b["model"][name], atol=1e-6), name

    meta = json.loads((straight.out_dir / "config.json").read_text())
    assert meta["feature_kind"] == "tokens"
    assert meta["tokens"] == {"layer": -2, "keep_cls": False, "num_tokens": 16, "token_dim": 32}
    assert meta["model_config"]["cross_attention"] and meta["model_config"]["num_tokens"] == 16

    captioner = Captioner.load(straight.out_dir, clip, device="cpu", precision="fp32")
    images = [str(colour_csv.parent / "images" / f"{c}.png") for c in ("red", "blue")]
    assert captioner.features(images).shape == (2, 16, 32)
    captions = captioner.generate(images, beam_size=2)
    assert len(captions) == 2 and captions == captioner.generate(images, beam_size=2)
    with pytest.raises(IndexMismatchError, match="image tokens"):
        captioner.generate_from_features(np.zeros((2, 32), np.float32))


def test_prefix_lm_with_llava_projector_trains_and_captions(colour_csv, tmp_path, clip):
    lm_dir = _save_lm(tmp_path / "gpt2", "gpt2")
    cfg = config(
        colour_csv,
        tmp_path,
        "llava",
        decoder="prefix_lm",
        max_steps=3,
        epochs=1,
        model={"lm": str(lm_dir), "token_pool": 2, "block_size": 8},
    )
    result = train(cfg, image_model=clip, progress=False)
    meta = json.loads((result.out_dir / "config.json").read_text())
    assert meta["model_config"]["mapper"] == "llava" and meta["feature_kind"] == "tokens"
    captioner = Captioner.load(result.out_dir, clip, device="cpu", precision="fp32")
    assert len(captioner.generate([str(colour_csv.parent / "images" / "red.png")])) == 1
    bad = config(colour_csv, tmp_path, "bad", decoder="prefix_lm", model={"lm": str(lm_dir), "mapper": "mlp"})
    with pytest.raises(InvalidInputError, match="llava"):
        train(bad, image_model=clip, progress=False)
