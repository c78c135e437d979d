"""Training loop on the test-tiny backend: schedule, checkpoint layout, exact resume, Captioner API."""

import json

import pytest

from vocabfree.caption.captioner import Captioner
from vocabfree.caption.generation import DecodeConfig
from vocabfree.caption.train import TrainConfig, load_train_config, lr_at, train
from vocabfree.errors import IndexMismatchError, InvalidInputError
from vocabfree.models import load_model


def test_lr_schedule_warms_up_then_decays_to_min():
    kw = dict(lr=1.0, min_lr=0.1, warmup_steps=10, total_steps=110)
    assert lr_at(0, **kw) == pytest.approx(0.1)
    assert lr_at(9, **kw) == pytest.approx(1.0)
    assert lr_at(10, **kw) == pytest.approx(1.0)
    assert lr_at(60, **kw) == pytest.approx(0.55)
    assert lr_at(110, **kw) == pytest.approx(0.1)
    decay = [lr_at(s, **kw) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(decay, decay[1:], strict=False))


def config(colour_csv, tmp_path, name, **kw):
    base = dict(
        data=str(colour_csv),
        out_dir=str(tmp_path / name),
        decoder="own",
        image_model="test-tiny",
        feature_cache=str(tmp_path / "cache"),
        val_split="",
        vocab_size=60,
        epochs=3,
        batch_size=3,
        lr=3e-3,
        warmup_steps=2,
        checkpoint_every=2,
        max_len=6,
        device="cpu",
        precision="fp32",
        model={"n_layer": 1, "n_head": 2, "n_embd": 32, "prefix_len": 2, "block_size": 8},
    )
    base.update(kw)
    return TrainConfig(**base)


def test_resume_continues_with_exactly_the_same_losses(colour_csv, tmp_path):
    tiny = load_model("test-tiny")
    straight = train(config(colour_csv, tmp_path, "straight", max_steps=7), image_model=tiny, progress=False)
    train(config(colour_csv, tmp_path, "split", max_steps=4), image_model=tiny, progress=False)
    resumed = train(config(colour_csv, tmp_path, "split", max_steps=7), resume=True, image_model=tiny, progress=False)
    import torch

    a = torch.load(straight.out_dir / "state.pt", weights_only=False)["losses"]
    b = torch.load(resumed.out_dir / "state.pt", weights_only=False)["losses"]
    assert len(a) == len(b) == 7
    assert b == pytest.approx(a, abs=1e-6)


def test_checkpoint_directory_and_captioner_api(colour_csv, tmp_path):
    tiny = load_model("test-tiny")
    result = train(config(colour_csv, tmp_path, "run", epochs=2), image_model=tiny, progress=False)
    out = result.out_dir
    for name in ("config.json", "model.safetensors", "state.pt", "tokenizer/tokenizer.json"):
        assert (out / name).is_file(), name
    meta = json.loads((out / "config.json").read_text())
    assert meta["image_model"] == "test-tiny"
    assert meta["feature_kind"] == "embedding"
    assert meta["model_config"]["feature_dim"] == tiny.embed_dim
    assert len(result.history) == 2 and "train_loss" in result.history[0]

    captioner = Captioner.load(out, tiny, device="cpu", precision="fp32")
    images = [str(colour_csv.parent / "images" / "red.png"), str(colour_csv.parent / "images" / "blue.png")]
    captions = captioner.generate(images)
    assert len(captions) == 2 and all(captions)
    # greedy is beam search with one beam; options and a DecodeConfig are the same request
    assert captions == captioner.generate(images, DecodeConfig(beam_size=1)) == captioner.generate(images, beam_size=1)
    assert captioner.generate(images, beam_size=3) == captioner.generate(images, DecodeConfig(beam_size=3))
    feats = captioner.features(images)
    scored = captioner.generate_from_features(feats, DecodeConfig(beam_size=3))
    assert [c.text for c in scored] == captioner.generate(images, beam_size=3)
    # max_len cuts the caption: one token is at most one word piece
    one = captioner.generate_from_features(feats, max_len=1)
    assert all(len(captioner.tokenizer.encode(c.text)) <= 1 for c in one)
    sampled = captioner.generate(images, top_p=0.9, seed=3)
    assert sampled == captioner.generate(images, DecodeConfig(top_p=0.9, seed=3))  # seeded: reproducible
    assert captioner.generate([]) == []
    with pytest.raises(InvalidInputError, match="^beam_size=2 and top_p=0.5 conflict"):
        captioner.generate(images, beam_size=2, top_p=0.5)
    with pytest.raises(InvalidInputError, match="^beam_size=2 and top_p=0.5 conflict"):
        captioner.generate([], DecodeConfig(top_p=0.5), beam_size=2)  # checked even with no images

    class Other:
        name = "hf:other"

    with pytest.raises(IndexMismatchError, match="test-tiny"):
        Captioner.load(out, Other())
    with pytest.raises(InvalidInputError, match="already holds"):
        train(config(colour_csv, tmp_path, "run"), image_model=tiny, progress=False)


def test_config_file_plus_overrides(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"data": "x.csv", "epochs": 3, "model": {"n_layer": 1}}))
    cfg = load_train_config(path, epochs=5, lr=None)
    assert (cfg.data, cfg.epochs, cfg.model, cfg.lr) == ("x.csv", 5, {"n_layer": 1}, TrainConfig.lr)
    with pytest.raises(InvalidInputError, match="unknown training option"):
        load_train_config(path, learning_rate=1.0)


def test_export_for_shipping_keeps_captions_in_float16(colour_csv, tmp_path):
    from safetensors.torch import load_file

    from vocabfree.caption.shipped import CARD_FILE, export_checkpoint

    tiny = load_model("test-tiny")
    out = train(config(colour_csv, tmp_path, "run", epochs=2), image_model=tiny, progress=False).out_dir
    shipped = export_checkpoint(out, tmp_path / "shipped", {"licence": "x"})
    assert not (shipped / "state.pt").exists() and json.loads((shipped / CARD_FILE).read_text()) == {"licence": "x"}
    assert {str(t.dtype) for t in load_file(str(shipped / "model.safetensors")).values()} == {"torch.float16"}
    images = [str(colour_csv.parent / "images" / f"{c}.png") for c in ("red", "blue", "green")]
    full = Captioner.load(out, tiny, device="cpu", precision="fp32").generate(images)
    half = Captioner.load(shipped, tiny, device="cpu", precision="fp32").generate(images)
    assert half == full
