"""Decoding strategies against a toy Markov "decoder" whose probabilities are known exactly."""

import math
import re

import pytest
import torch

from vocabfree.caption import generation
from vocabfree.caption.decoder import CaptionDecoder, DecoderConfig
from vocabfree.caption.generation import DecodeConfig
from vocabfree.errors import InvalidInputError

BOS, EOS, V = 0, 1, 7


class MarkovStepper:
    """Next-token log-probabilities depend on the last token and on the prefix vector (B, V)."""

    def __init__(self, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.table = torch.randn(V, V, generator=g) * 2.0
        self.table[:, BOS] = -1e9  # never emit BOS

    def start(self, prefix):
        return prefix

    def step(self, state, tokens):
        logits = self.table[tokens[:, -1]] + state
        return torch.log_softmax(logits, dim=-1), state

    def select(self, state, index):
        return state[index]


def sequence_logprob(stepper, prefix_row, tokens, finished):
    """Log-probability of ``tokens`` (+ EOS when finished) under the stepper, recomputed step by step."""
    seq = [BOS, *tokens] + ([EOS] if finished else [])
    total = 0.0
    for t in range(1, len(seq)):
        logp, _ = stepper.step(prefix_row[None], torch.tensor([seq[:t]]))
        total += float(logp[0, seq[t]])
    return total


@pytest.fixture
def prefix():
    return torch.randn(4, V, generator=torch.Generator().manual_seed(1))


def test_beam_one_equals_greedy(prefix):
    stepper = MarkovStepper()
    greedy = generation.greedy(stepper, prefix, bos_id=BOS, eos_id=EOS, max_len=12)
    beams = generation.beam_search(stepper, prefix, bos_id=BOS, eos_id=EOS, max_len=12, beam_size=1)
    assert [b[0].tokens for b in beams] == [g.tokens for g in greedy]
    for b, g in zip(beams, greedy, strict=True):
        assert b[0].logprob == pytest.approx(g.logprob, abs=1e-5)


@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_beams_are_sorted_by_score_and_scores_are_true_logprobs(prefix, length_penalty):
    stepper = MarkovStepper()
    beams = generation.beam_search(
        stepper, prefix, bos_id=BOS, eos_id=EOS, max_len=10, beam_size=4, length_penalty=length_penalty
    )
    for row, hyps in zip(prefix, beams, strict=True):
        assert len(hyps) == 4
        scores = [h.score for h in hyps]
        assert scores == sorted(scores, reverse=True)
        assert len({h.tokens for h in hyps}) == len(hyps)  # distinct hypotheses
        for h in hyps:
            finished = len(h.tokens) < 10
            true = sequence_logprob(stepper, row, h.tokens, finished)
            assert h.logprob == pytest.approx(true, abs=1e-4)
            length = len(h.tokens) + (1 if finished else 0)
            assert h.score == pytest.approx(true / length**length_penalty, abs=1e-4)


def test_beam_search_finds_at_least_greedys_probability_without_length_penalty(prefix):
    stepper = MarkovStepper(seed=3)
    greedy = generation.greedy(stepper, prefix, bos_id=BOS, eos_id=EOS, max_len=8)
    beams = generation.beam_search(stepper, prefix, bos_id=BOS, eos_id=EOS, max_len=8, beam_size=5, length_penalty=0.0)
    for g, b in zip(greedy, beams, strict=True):
        if len(g.tokens) < 8:  # greedy finished: its hypothesis competes inside the beam
            assert b[0].logprob >= g.logprob - 1e-5


def test_nucleus_sampling_is_seeded_and_tiny_top_p_is_greedy(prefix):
    stepper = MarkovStepper()
    kwargs = dict(bos_id=BOS, eos_id=EOS, max_len=10)
    a = generation.sample(stepper, prefix, top_p=0.9, generator=torch.Generator().manual_seed(5), **kwargs)
    b = generation.sample(stepper, prefix, top_p=0.9, generator=torch.Generator().manual_seed(5), **kwargs)
    assert [h.tokens for h in a] == [h.tokens for h in b]
    nearly_greedy = generation.sample(stepper, prefix, top_p=1e-6, **kwargs)
    greedy = generation.greedy(stepper, prefix, **kwargs)
    assert [h.tokens for h in nearly_greedy] == [h.tokens for h in greedy]


def test_decoder_generate_beam_one_equals_greedy():
    torch.manual_seed(0)
    model = CaptionDecoder(
        DecoderConfig(vocab_size=30, feature_dim=6, n_layer=1, n_embd=32, n_head=2, block_size=12)
    ).eval()
    prefix = torch.randn(3, 6)
    greedy = model.generate(prefix, DecodeConfig(max_len=10), bos_id=2, eos_id=3)
    beam = generation.beam_search(model, prefix, bos_id=2, eos_id=3, max_len=10, beam_size=1)
    assert [h.tokens for h in greedy] == [b[0].tokens for b in beam]
    assert all(math.isfinite(h.score) for h in greedy)


def test_decode_config_defaults_are_greedy_with_the_checkpoints_length():
    config = DecodeConfig()
    assert (config.beam_size, config.length_penalty, config.top_p, config.temperature) == (1, 1.0, None, 1.0)
    assert (config.seed, config.max_len, config.strategy) == (None, None, "greedy")
    assert DecodeConfig(beam_size=4).strategy == "beam"
    assert DecodeConfig(top_p=0.9).strategy == "sample"
    assert DecodeConfig().generator() is None
    assert DecodeConfig(seed=3).generator().initial_seed() == 3


def test_decode_config_refuses_beam_search_with_nucleus_sampling():
    with pytest.raises(InvalidInputError) as info:
        DecodeConfig(beam_size=3, top_p=0.9)
    message = str(info.value)
    assert message.startswith("beam_size=3 and top_p=0.9 conflict:")
    assert isinstance(info.value, ValueError)  # InvalidInputError is a ValueError too


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"beam_size": 0}, "beam_size must be >= 1, got 0"),
        ({"max_len": 0}, "max_len must be >= 1, got 0"),
        ({"top_p": 0.0}, "top_p must be in (0, 1], got 0.0"),
        ({"top_p": 1.5}, "top_p must be in (0, 1], got 1.5"),
        ({"temperature": 0.0}, "temperature must be > 0, got 0.0"),
    ],
)
def test_decode_config_names_the_bad_value(options, message):
    with pytest.raises(InvalidInputError, match=f"^{re.escape(message)}$"):
        DecodeConfig(**options)


def test_strategy_functions_validate_through_decode_config(prefix):
    stepper = MarkovStepper()
    with pytest.raises(InvalidInputError, match="max_len must be >= 1, got 0"):
        generation.greedy(stepper, prefix, bos_id=BOS, eos_id=EOS, max_len=0)
    with pytest.raises(InvalidInputError, match="beam_size must be >= 1, got 0"):
        generation.beam_search(stepper, prefix, bos_id=BOS, eos_id=EOS, max_len=5, beam_size=0)
    with pytest.raises(InvalidInputError, match="temperature must be > 0"):
        generation.sample(stepper, prefix, bos_id=BOS, eos_id=EOS, max_len=5, temperature=-1.0)


def test_decode_dispatches_on_the_config(prefix):
    stepper = MarkovStepper()
    kwargs = dict(bos_id=BOS, eos_id=EOS)
    greedy = generation.greedy(stepper, prefix, max_len=9, **kwargs)
    assert generation.decode(stepper, prefix, DecodeConfig(max_len=9), **kwargs) == greedy
    beams = generation.beam_search(stepper, prefix, max_len=9, beam_size=3, length_penalty=0.5, **kwargs)
    config = DecodeConfig(beam_size=3, length_penalty=0.5, max_len=9)
    assert generation.decode(stepper, prefix, config, **kwargs) == [b[0] for b in beams]
    sampled = generation.sample(
        stepper, prefix, max_len=9, top_p=0.8, temperature=0.7, generator=torch.Generator().manual_seed(4), **kwargs
    )
    config = DecodeConfig(top_p=0.8, temperature=0.7, seed=4, max_len=9)
    assert generation.decode(stepper, prefix, config, generator=config.generator(), **kwargs) == sampled
    # no max_len: DEFAULT_MAX_LEN tokens at most
    unbounded = generation.decode(stepper, prefix, DecodeConfig(), **kwargs)
    assert unbounded == generation.greedy(stepper, prefix, max_len=generation.DEFAULT_MAX_LEN, **kwargs)
    assert all(len(h.tokens) <= generation.DEFAULT_MAX_LEN for h in unbounded)


def test_decoder_generate_cuts_captions_at_max_len_and_block_size():
    torch.manual_seed(0)
    model = CaptionDecoder(DecoderConfig(vocab_size=30, feature_dim=6, n_layer=1, n_embd=32, n_head=2, block_size=8))
    model.eval()
    prefix = torch.randn(3, 6)
    eos_never = 29  # an id the untrained model does not pick, so captions run to the limit
    short = model.generate(prefix, DecodeConfig(max_len=3), bos_id=2, eos_id=eos_never)
    assert [len(h.tokens) for h in short] == [3, 3, 3]
    long = model.generate(prefix, DecodeConfig(max_len=50), bos_id=2, eos_id=eos_never)
    assert max(len(h.tokens) for h in long) == 7  # block_size - 1, not 50
    assert [h.tokens[:3] for h in long] == [h.tokens for h in short]  # greedy: the short run is a prefix
