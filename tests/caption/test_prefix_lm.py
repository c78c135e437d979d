"""Prefix LM on a tiny randomly initialised Llama saved to tmp with an in-process tokenizer (no downloads)."""

import pytest
import torch

from vocabfree.caption import generation
from vocabfree.caption.checkpoint import load_weights, save_weights
from vocabfree.caption.prefix_lm import PrefixLM, PrefixLMConfig, load_language_model, resolve_lm
from vocabfree.caption.tokenizer import PretrainedTokenizer
from vocabfree.errors import InvalidInputError

WORDS = [
    "a",
    "the",
    "dog",
    "cat",
    "man",
    "woman",
    "runs",
    "sits",
    "on",
    "in",
    "grass",
    "snow",
    "street",
    "red",
    "blue",
    "two",
    "play",
]


@pytest.fixture(scope="module")
def tiny_lm_dir(tmp_path_factory):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    directory = tmp_path_factory.mktemp("tiny-llama")
    vocab = {t: i for i, t in enumerate(["<unk>", "<s>", "</s>", *WORDS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>")
    hf_tok.save_pretrained(directory)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        bos_token_id=1,
        eos_token_id=2,
    )
    LlamaForCausalLM(config).save_pretrained(directory)
    return directory


@pytest.fixture(params=["mlp", "transformer"])
def prefix_lm(request, tiny_lm_dir):
    torch.manual_seed(0)
    lm, _ = load_language_model(str(tiny_lm_dir))
    config = PrefixLMConfig(
        lm=str(tiny_lm_dir),
        feature_dim=8,
        prefix_len=3,
        mapper=request.param,
        mapper_dim=16,
        mapper_heads=2,
        mapper_layers=1,
    )
    return PrefixLM(config, lm)


def test_only_the_mapper_is_trainable(prefix_lm):
    trainable = [n for n, p in prefix_lm.named_parameters() if p.requires_grad]
    assert trainable and all(n.startswith("mapper.") for n in trainable)
    assert all(not p.requires_grad for p in prefix_lm.lm.parameters())
    assert set(prefix_lm.trainable_state_dict()) == set(trainable)


def test_loss_backpropagates_into_the_mapper_only(prefix_lm):
    feats = torch.randn(2, 8)
    tokens = torch.randint(3, 10, (2, 5))
    logits, loss = prefix_lm(feats, tokens, tokens)
    assert logits.shape == (2, 5, prefix_lm.lm.config.vocab_size)
    loss.backward()
    assert all(p.grad is not None for p in prefix_lm.mapper.parameters())
    assert all(p.grad is None for p in prefix_lm.lm.parameters())
    prefix_lm.train()
    assert not prefix_lm.lm.training  # frozen LM keeps dropout off


class NoCache:
    """The same model stepped without a KV cache: re-runs prefix + all tokens each step."""

    def __init__(self, model):
        self.model = model

    def start(self, prefix):
        return prefix

    def step(self, state, tokens):
        logits, _ = self.model(state, tokens)
        return torch.log_softmax(logits[:, -1].float(), dim=-1), state

    def select(self, state, index):
        return state[index]


def test_kv_cache_decoding_matches_full_recomputation(prefix_lm):
    prefix_lm.eval()
    feats = torch.randn(3, 8)
    kwargs = dict(bos_id=1, eos_id=2, max_len=6)
    assert [h.tokens for h in generation.greedy(prefix_lm, feats, **kwargs)] == [
        h.tokens for h in generation.greedy(NoCache(prefix_lm), feats, **kwargs)
    ]
    cached = generation.beam_search(prefix_lm, feats, beam_size=3, **kwargs)
    full = generation.beam_search(NoCache(prefix_lm), feats, beam_size=3, **kwargs)
    assert [[h.tokens for h in b] for b in cached] == [[h.tokens for h in b] for b in full]
    for bc, bf in zip(cached, full, strict=True):
        assert [h.score for h in bc] == pytest.approx([h.score for h in bf], abs=1e-4)
    beam1 = generation.beam_search(prefix_lm, feats, beam_size=1, **kwargs)
    assert [b[0].tokens for b in beam1] == [h.tokens for h in generation.greedy(prefix_lm, feats, **kwargs)]


def test_weights_file_holds_only_the_mapper(prefix_lm, tiny_lm_dir, tmp_path):
    from safetensors.torch import load_file

    save_weights(prefix_lm, tmp_path)
    assert set(load_file(str(tmp_path / "model.safetensors"))) == set(prefix_lm.trainable_state_dict())
    lm, _ = load_language_model(str(tiny_lm_dir))
    fresh = PrefixLM(prefix_lm.config, lm)
    load_weights(fresh, tmp_path)
    feats = torch.randn(2, 8)
    tokens = torch.randint(3, 10, (2, 4))
    assert torch.allclose(fresh.eval()(feats, tokens)[0], prefix_lm.eval()(feats, tokens)[0], atol=1e-6)


def test_lora_adds_trainable_adapters_but_keeps_base_weights_frozen(tiny_lm_dir):
    pytest.importorskip("peft")
    lm, _ = load_language_model(str(tiny_lm_dir))
    model = PrefixLM(PrefixLMConfig(lm=str(tiny_lm_dir), feature_dim=8, prefix_len=2, lora=True, lora_r=2), lm)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert any("lora_" in n for n in trainable)
    assert all(n.startswith("mapper.") or "lora_" in n for n in trainable)


def test_tokenizer_adapter_roundtrip_and_special_ids(tiny_lm_dir):
    from transformers import AutoTokenizer

    tok = PretrainedTokenizer(AutoTokenizer.from_pretrained(str(tiny_lm_dir)))
    assert (tok.bos_id, tok.eos_id) == (1, 2)
    ids = tok.encode("two dog play on the grass")
    assert tok.decode([tok.bos_id, *ids, tok.eos_id]) == "two dog play on the grass"


def test_lm_names_resolve_clearly(tmp_path):
    assert resolve_lm("gpt2") == ("gpt2", None)
    with pytest.raises(InvalidInputError, match="does not exist"):
        resolve_lm(str(tmp_path / "missing.gguf"))
    with pytest.raises(InvalidInputError, match="mapper"):
        PrefixLMConfig(mapper="lstm")  # type: ignore[arg-type]
