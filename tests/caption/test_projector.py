"""LLaVA-style projector from image tokens into the input embeddings of any HF causal LM (tiny random GPT-NeoX
and GPT-2 saved locally, loaded by directory like a hub id)."""

import pytest
import torch

from tests.caption.test_prefix_lm import WORDS, NoCache
from vocabfree.caption import generation
from vocabfree.caption.checkpoint import load_weights, save_weights
from vocabfree.caption.prefix_lm import (
    LlavaProjector,
    PrefixLM,
    PrefixLMConfig,
    load_language_model,
    pool_token_grid,
)
from vocabfree.errors import InvalidInputError


def _save_lm(directory, family: str):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, GPTNeoXConfig, GPTNeoXForCausalLM, PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(["<unk>", "<|endoftext|>", *WORDS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    # GPT-2 and Pythia have one special token that is both BOS and EOS
    PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", bos_token="<|endoftext|>", eos_token="<|endoftext|>"
    ).save_pretrained(directory)
    torch.manual_seed(0)
    if family == "gpt2":
        model = GPT2LMHeadModel(
            GPT2Config(
                vocab_size=len(vocab), n_embd=32, n_layer=2, n_head=4, n_positions=128, bos_token_id=1, eos_token_id=1
            )
        )
    else:  # EleutherAI/pythia-160m's architecture, shrunk
        model = GPTNeoXForCausalLM(
            GPTNeoXConfig(
                vocab_size=len(vocab),
                hidden_size=32,
                num_hidden_layers=2,
                num_attention_heads=4,
                intermediate_size=64,
                max_position_embeddings=128,
                bos_token_id=1,
                eos_token_id=1,
            )
        )
    model.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module", params=["gpt2", "gpt_neox"])
def lm_dir(request, tmp_path_factory):
    return _save_lm(tmp_path_factory.mktemp(request.param), request.param)


def _model(lm_dir, token_pool=0):
    torch.manual_seed(0)
    lm, tokenizer = load_language_model(str(lm_dir))
    config = PrefixLMConfig(lm=str(lm_dir), feature_dim=8, mapper="llava", token_pool=token_pool)
    return PrefixLM(config, lm), tokenizer


def test_pool_token_grid_keeps_special_tokens_and_averages_patches():
    grid = torch.arange(16, dtype=torch.float32).view(1, 16, 1)  # 4x4 grid, values 0..15 row-major
    tokens = torch.cat([torch.full((1, 1, 1), -1.0), grid], dim=1)  # CLS + grid
    pooled = pool_token_grid(tokens, 2)
    assert pooled.shape == (1, 5, 1)
    assert pooled[0, :, 0].tolist() == [-1.0, 2.5, 4.5, 10.5, 12.5]  # CLS, then 2x2 block means
    assert pool_token_grid(tokens, 0) is tokens and pool_token_grid(tokens, 4) is tokens


@pytest.mark.parametrize("pool,expected", [(0, 17), (2, 5)])
def test_projector_maps_each_token_to_one_lm_embedding(pool, expected):
    projector = LlavaProjector(8, 32, token_pool=pool)
    assert projector(torch.randn(3, 17, 8)).shape == (3, expected, 32)
    with pytest.raises(InvalidInputError, match=r"\(B, T, F\)"):
        projector(torch.randn(3, 8))


def test_llava_prefix_lm_trains_projector_only_on_any_causal_lm(lm_dir):
    model, tokenizer = _model(lm_dir)
    assert tokenizer.eos_token_id == 1
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(n.startswith("mapper.") for n in trainable)
    image, tokens = torch.randn(2, 17, 8), torch.randint(2, 10, (2, 5))
    logits, loss = model(image, tokens, tokens)
    assert logits.shape == (2, 5, model.lm.config.vocab_size)
    loss.backward()
    assert all(p.grad is not None for p in model.mapper.parameters())
    assert all(p.grad is None for p in model.lm.parameters())
    index = torch.tensor([0, 1, 1])  # a caption-to-image map gives what repeating the images gives
    more = torch.randint(2, 10, (3, 5))
    assert torch.allclose(model(image, more, image_index=index)[0], model(image[index], more)[0], atol=1e-5)
    other = model(torch.randn(2, 17, 8), tokens)[0]
    assert not torch.allclose(logits, other, atol=1e-4)  # the image tokens reach the LM


def test_llava_kv_cache_generation_and_weights_round_trip(lm_dir, tmp_path):
    model, _ = _model(lm_dir, token_pool=2)
    model.eval()
    image = torch.randn(2, 17, 8)
    kwargs = dict(bos_id=1, eos_id=1, max_len=5)
    cached = generation.beam_search(model, image, beam_size=2, **kwargs)
    full = generation.beam_search(NoCache(model), image, beam_size=2, **kwargs)
    assert [[h.tokens for h in b] for b in cached] == [[h.tokens for h in b] for b in full]
    save_weights(model, tmp_path)
    fresh, _ = _model(lm_dir, token_pool=2)
    load_weights(fresh, tmp_path)
    tokens = torch.randint(2, 10, (2, 4))
    assert torch.allclose(fresh.eval()(image, tokens)[0], model(image, tokens)[0], atol=1e-6)
