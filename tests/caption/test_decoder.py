"""The own decoder learns: a tiny model overfits four captions and regenerates them."""

import pytest
import torch

from vocabfree.caption.decoder import IGNORE_INDEX, CaptionDecoder, DecoderConfig
from vocabfree.caption.generation import DecodeConfig
from vocabfree.caption.tokenizer import WordPieceTokenizer
from vocabfree.errors import InvalidInputError

CAPTIONS = [
    "a red car parked on the street",
    "two dogs play in the snow",
    "a man rides a horse",
    "a child eats an apple on the grass",
]


def encode(tokenizer, captions):
    seqs = [tokenizer.encode(c) for c in captions]
    width = max(len(s) for s in seqs) + 1
    inputs = torch.full((len(seqs), width), tokenizer.pad_id)
    targets = torch.full((len(seqs), width), IGNORE_INDEX)
    for n, s in enumerate(seqs):
        inputs[n, : len(s) + 1] = torch.tensor([tokenizer.bos_id, *s])
        targets[n, : len(s) + 1] = torch.tensor([*s, tokenizer.eos_id])
    return inputs, targets


@pytest.mark.parametrize("cross", [False, True])
def test_tiny_decoder_overfits_four_pairs_and_regenerates_them(cross):
    torch.manual_seed(0)
    tokenizer = WordPieceTokenizer.train(CAPTIONS, vocab_size=200, min_frequency=1)
    config = DecoderConfig(
        vocab_size=tokenizer.vocab_size,
        feature_dim=8,
        prefix_len=2,
        block_size=16,
        n_layer=2,
        n_head=2,
        n_embd=64,
        dropout=0.0,
        feature_dropout=0.0,
        cross_attention=cross,
        num_tokens=5 if cross else 0,
    )
    model = CaptionDecoder(config)
    features = torch.randn(4, 5, 8) if cross else torch.randn(4, 8)
    inputs, targets = encode(tokenizer, CAPTIONS)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(150):
        _, loss = model(features, inputs, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05
    model.eval()
    for beam in (1, 3):
        config = DecodeConfig(beam_size=beam, max_len=15)
        hyps = model.generate(features, config, bos_id=tokenizer.bos_id, eos_id=tokenizer.eos_id)
        assert [tokenizer.decode(h.tokens) for h in hyps] == CAPTIONS


def test_forward_shapes_and_padding_is_ignored():
    torch.manual_seed(0)
    model = CaptionDecoder(
        DecoderConfig(vocab_size=50, feature_dim=4, n_layer=1, n_head=2, n_embd=16, dropout=0.0, feature_dropout=0.0)
    ).eval()
    feats, tokens = torch.randn(2, 4), torch.randint(4, 50, (2, 5))
    targets = torch.randint(4, 50, (2, 5))
    logits, loss = model(feats, tokens, targets)
    assert logits.shape == (2, 5, 50)
    padded = targets.clone()
    padded[:, 3:] = IGNORE_INDEX
    _, loss_padded = model(feats, tokens, padded)
    manual = torch.nn.functional.cross_entropy(logits[:, :3].reshape(-1, 50), targets[:, :3].reshape(-1))
    assert loss_padded.item() == pytest.approx(manual.item(), rel=1e-5)
    assert model(feats, tokens)[1] is None


def test_causal_future_tokens_do_not_change_past_logits():
    torch.manual_seed(0)
    model = CaptionDecoder(DecoderConfig(vocab_size=40, feature_dim=4, n_layer=2, n_head=2, n_embd=16)).eval()
    feats, tokens = torch.randn(1, 4), torch.randint(4, 40, (1, 6))
    changed = tokens.clone()
    changed[0, 4:] = 5
    a, _ = model(feats, tokens)
    b, _ = model(feats, changed)
    assert torch.allclose(a[:, :4], b[:, :4], atol=1e-6)


def test_too_long_sequence_and_bad_heads_are_clear_errors():
    with pytest.raises(InvalidInputError, match="divisible"):
        DecoderConfig(n_embd=30, n_head=4)
    model = CaptionDecoder(DecoderConfig(vocab_size=20, feature_dim=4, n_layer=1, n_head=2, n_embd=16, block_size=4))
    with pytest.raises(InvalidInputError, match="block_size"):
        model(torch.randn(1, 4), torch.zeros(1, 5, dtype=torch.long))


def cross_model(**kw):
    torch.manual_seed(0)
    config = dict(
        vocab_size=40,
        feature_dim=6,
        n_layer=2,
        n_head=2,
        n_embd=16,
        dropout=0.0,
        feature_dropout=0.0,
        cross_attention=True,
        num_tokens=8,
    )
    return CaptionDecoder(DecoderConfig(**{**config, **kw})).eval()


def test_cross_attention_is_causal_over_caption_tokens():
    model = cross_model()
    image, tokens = torch.randn(2, 5, 6), torch.randint(4, 40, (2, 7))
    changed = tokens.clone()
    changed[:, 4:] = 5
    a, _ = model(image, tokens)
    b, _ = model(image, changed)
    assert torch.allclose(a[:, :4], b[:, :4], atol=1e-6)  # no position sees a later token
    assert not torch.allclose(a[:, 4:], b[:, 4:], atol=1e-3)
    padded = torch.cat([tokens, torch.zeros(2, 3, dtype=torch.long)], dim=1)  # right padding with [PAD]
    assert torch.allclose(model(image, padded)[0][:, :7], a, atol=1e-6)


def test_memory_mask_hides_padded_image_tokens():
    model = cross_model()
    image, tokens = torch.randn(2, 5, 6), torch.randint(4, 40, (2, 6))
    garbage = torch.cat([image, 100 * torch.randn(2, 3, 6)], dim=1)  # 3 padding tokens of junk
    mask = torch.tensor([[True] * 5 + [False] * 3] * 2)
    a, _ = model(image, tokens)
    b, _ = model(garbage, tokens, memory_mask=mask)
    assert torch.allclose(a, b, atol=1e-5)
    c, _ = model(garbage, tokens)  # unmasked, the junk changes the logits
    assert not torch.allclose(a, c, atol=1e-3)
    other = model(torch.randn(2, 5, 6), tokens)[0]  # and the image matters at all
    assert not torch.allclose(a, other, atol=1e-3)


@pytest.mark.parametrize("cross", [False, True])
def test_image_index_encodes_each_image_once_with_the_same_result(cross):
    model = cross_model() if cross else cross_model(cross_attention=False, num_tokens=0)
    image = torch.randn(3, 5, 6) if cross else torch.randn(3, 6)
    index = torch.tensor([0, 0, 1, 2, 2, 2])
    tokens, targets = torch.randint(4, 40, (6, 5)), torch.randint(4, 40, (6, 5))
    a, loss_a = model(image, tokens, targets, image_index=index)
    b, loss_b = model(image[index], tokens, targets)
    assert torch.allclose(a, b, atol=1e-5) and loss_a.item() == pytest.approx(loss_b.item(), rel=1e-5)


def test_cross_decoder_rejects_pooled_vectors_and_too_many_tokens():
    model = cross_model()
    with pytest.raises(InvalidInputError, match=r"\(B, M, F\)"):
        model(torch.randn(1, 6), torch.zeros(1, 3, dtype=torch.long))
    with pytest.raises(InvalidInputError, match="num_tokens"):
        model(torch.randn(1, 9, 6), torch.zeros(1, 3, dtype=torch.long))
