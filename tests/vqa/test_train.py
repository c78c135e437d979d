import json

import torch

from tests.vqa.conftest import tiny_train_config
from vocabfree.vqa import checkpoint as ckpt
from vocabfree.vqa.train import batch_indices, encode_example, split_holdout, train


def test_resume_is_exact(tiny_vqa_root, tmp_path):
    straight = tmp_path / "straight"
    train(tiny_train_config(tiny_vqa_root, straight, total_steps=24, eval_every=8))
    split = tmp_path / "split"
    first = train(tiny_train_config(tiny_vqa_root, split, total_steps=24, eval_every=8, max_steps=10))
    assert first["step"] == 10
    second = train(tiny_train_config(tiny_vqa_root, split, total_steps=24, eval_every=8), resume=True)
    assert second["step"] == 24
    a, b = ckpt.load_state(straight), ckpt.load_state(split)
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    assert a["history"] == [{**r, "seconds": a["history"][i]["seconds"]} for i, r in enumerate(b["history"])]
    assert json.loads((split / ckpt.CONFIG_FILE).read_text())["best"] == a["best"]


def test_batches_cover_each_epoch_once():
    seen = [i for step in range(5) for i in batch_indices(23, 4, seed=1, step=step)]
    assert sorted(seen) == sorted(set(seen)) and len(seen) == 20  # 5 full batches of one epoch, no repeats
    assert list(batch_indices(23, 4, seed=1, step=7)) == list(batch_indices(23, 4, seed=1, step=7))


def test_holdout_is_by_image():
    from vocabfree.vqa.data import VQAQuestion

    qs = [VQAQuestion(i, f"img{i % 5}.jpg", "q?", {"a": 1.0}) for i in range(20)]
    train_q, held = split_holdout(qs, 0.4, seed=0)
    assert len({q.image for q in held}) == 2
    assert not {q.image for q in train_q} & {q.image for q in held}


def test_targets_cover_answer_and_eos_only(tiny_vqa_checkpoint):
    tok = ckpt.load_tokenizer(tiny_vqa_checkpoint)
    ids, targets = encode_example(tok, "what color is the picture?", "red", max_text=40, max_answer=6)
    bos = ids.index(tok.bos_id)
    assert all(t == -100 for t in targets[:bos])
    assert targets[bos:-1] == ids[bos + 1 :] and ids[-1] == tok.eos_id and targets[-1] == -100


def test_tiny_model_learns_colours_and_the_image_helps(tiny_vqa_checkpoint, tiny_vqa_root):
    from vocabfree.vqa import VQAModel
    from vocabfree.vqa.evaluate import evaluate_model

    model = VQAModel.load(tiny_vqa_checkpoint)
    seeing, blind = evaluate_model(model, tiny_vqa_root / "questions.jsonl", "test", token_cache=None)
    assert seeing.scores.accuracy > blind.scores.accuracy + 0.2
    assert seeing.scores.by_answer_type["other"] >= 0.75  # colour questions on unseen images


def test_without_holdout_the_final_weights_are_kept(tiny_vqa_root, tmp_path):
    from vocabfree.vqa.checkpoint import load_generator

    out = tmp_path / "all"
    result = train(tiny_train_config(tiny_vqa_root, out, total_steps=10, eval_every=4, holdout_fraction=0.0))
    assert result["best"] == {"step": 10, "holdout_accuracy": None}
    final = ckpt.load_state(out)["model"]
    for key, value in load_generator(out).state_dict().items():
        assert torch.equal(value, final[key]), key
