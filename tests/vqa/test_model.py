import numpy as np
import pytest
import torch

from vocabfree.vqa.features import pool_tokens
from vocabfree.vqa.model import IGNORE, VQAGenerator, VQAModelConfig


def _model(**kw):
    torch.manual_seed(0)
    cfg = VQAModelConfig(
        vocab_size=50,
        token_dim=6,
        num_image_tokens=5,
        d_model=16,
        n_layers=2,
        n_heads=2,
        dropout=0.0,
        max_text=12,
        **kw,
    )
    return VQAGenerator(cfg).eval()


def test_text_is_causal_and_sees_every_image_token():
    model = _model()
    images = torch.randn(2, 5, 6)
    text = torch.randint(4, 50, (2, 8))
    logits, _ = model(images, text)
    changed = text.clone()
    changed[:, 5:] = 7  # later tokens must not change earlier predictions
    logits2, _ = model(images, changed)
    assert torch.allclose(logits[:, :5], logits2[:, :5], atol=1e-5)
    assert not torch.allclose(logits[:, 5:], logits2[:, 5:])
    moved = images.clone()
    moved[:, -1] = torch.randn(2, 6)  # the last image token reaches even the first text position
    logits3, _ = model(moved, text)
    assert not torch.allclose(logits[:, 0], logits3[:, 0])


def test_loss_only_where_targets_are_given():
    model = _model()
    images, text = torch.randn(2, 5, 6), torch.randint(4, 50, (2, 6))
    targets = torch.full_like(text, IGNORE)
    targets[0, 3], targets[1, 4] = 9, 11
    logits, loss = model(images, text, targets)
    assert logits.shape == (2, 50)
    full, _ = model(images, text)
    expected = torch.nn.functional.cross_entropy(torch.stack([full[0, 3], full[1, 4]]), torch.tensor([9, 11]))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_generate_is_greedy_and_stops_at_eos():
    model = _model()
    images = torch.randn(3, 5, 6)
    prompts = [[5, 6, 2], [7, 2], [8, 9, 10, 2]]
    out = model.generate(images, prompts, eos_id=3, pad_id=0, max_new_tokens=4)
    assert len(out) == 3 and all(len(o) <= 4 and 3 not in o for o in out)
    # the first generated token of each row is the argmax after its own prompt, whatever the others are
    for row, p in enumerate(prompts):
        logits, _ = model(images[row : row + 1], torch.tensor([p]))
        if out[row]:
            assert out[row][0] == int(logits[0, -1].argmax())


def test_pool_tokens_keeps_cls_and_averages_the_grid():
    grid = np.arange(2 * 16 * 3, dtype=np.float32).reshape(2, 16, 3)
    cls = np.ones((2, 1, 3), np.float32)
    pooled = pool_tokens(np.concatenate([cls, grid], axis=1), 2)
    assert pooled.shape == (2, 5, 3)
    np.testing.assert_array_equal(pooled[:, 0], cls[:, 0])
    fmap = grid.reshape(2, 4, 4, 3)
    np.testing.assert_allclose(pooled[:, 1], fmap[:, :2, :2].mean(axis=(1, 2)))  # top-left cell
    np.testing.assert_allclose(pooled[:, 4], fmap[:, 2:, 2:].mean(axis=(1, 2)))  # bottom-right cell
