"""Decoding strategies shared by every caption decoder: greedy, beam search and nucleus sampling.

Both decoders (the own transformer and the prefix LM) expose the same three-method ``Stepper`` protocol, so
each strategy is written once. A stepper owns whatever state makes the next step cheap (the prefix LM keeps
a KV cache; the small own decoder simply re-runs the sequence), and ``select`` re-indexes that state when
beams are expanded or reordered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import torch

from vocabfree.errors import InvalidInputError


class Stepper(Protocol):
    """What a decoder provides to the decoding loops."""

    def start(self, prefix: torch.Tensor) -> Any:
        """State for a batch of image features ``prefix`` (B, F)."""

    def step(self, state: Any, tokens: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """Next-token log-probabilities (B, V) given all tokens so far (B, t), and the new state."""

    def select(self, state: Any, index: torch.Tensor) -> Any:
        """The state re-indexed along the batch dimension (beam expansion and reordering)."""


DEFAULT_MAX_LEN = 30  # longest caption in tokens when neither the caller nor the checkpoint says


@dataclass(frozen=True)
class DecodeConfig:
    """How captions are decoded: greedy (the default), beam search (``beam_size`` > 1) or nucleus sampling
    (``top_p``). Validated here, once, for every caller (library, CLI, service)."""

    beam_size: int = 1  # 1 = greedy; > 1 = beam search
    length_penalty: float = 1.0  # beams are ranked by logprob / length ** length_penalty
    top_p: float | None = None  # nucleus sampling with this probability mass (only with beam_size 1)
    temperature: float = 1.0  # sampling temperature (with top_p)
    seed: int | None = None  # seeds sampling; None: torch's global generator
    max_len: int | None = None  # longest caption in tokens; None: the checkpoint's (else DEFAULT_MAX_LEN)

    def __post_init__(self) -> None:
        if self.max_len is not None and self.max_len < 1:
            raise InvalidInputError(f"max_len must be >= 1, got {self.max_len}")
        if self.beam_size < 1:
            raise InvalidInputError(f"beam_size must be >= 1, got {self.beam_size}")
        if self.top_p is not None and not 0.0 < self.top_p <= 1.0:
            raise InvalidInputError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.temperature <= 0.0:
            raise InvalidInputError(f"temperature must be > 0, got {self.temperature}")
        if self.top_p is not None and self.beam_size > 1:
            raise InvalidInputError(
                f"beam_size={self.beam_size} and top_p={self.top_p} conflict: nucleus sampling draws one caption "
                "token by token; give beam_size 1 with top_p, or no top_p for beam search"
            )

    @property
    def strategy(self) -> Literal["greedy", "beam", "sample"]:
        if self.top_p is not None:
            return "sample"
        return "greedy" if self.beam_size == 1 else "beam"

    def generator(self) -> torch.Generator | None:
        """A fresh generator seeded with ``seed`` (None without a seed): make one per call, share it over
        that call's batches."""
        return torch.Generator().manual_seed(self.seed) if self.seed is not None else None


@dataclass(frozen=True)
class Hypothesis:
    """One decoded caption: its token ids (no BOS/EOS) and its length-penalised score."""

    tokens: tuple[int, ...]
    logprob: float  # sum of token log-probabilities, EOS included when it was generated
    score: float  # logprob / length ** length_penalty: what beams are ranked by


def _strip(row: list[int], eos_id: int) -> tuple[int, ...]:
    return tuple(row[: row.index(eos_id)] if eos_id in row else row)


def _token_by_token(
    stepper: Stepper, prefix: torch.Tensor, choose, *, bos_id: int, eos_id: int, max_len: int
) -> list[Hypothesis]:
    """The loop greedy decoding and sampling share: ``choose(logp (B, V)) -> (B,)`` picks each next token.

    Stops when every row has produced EOS or after ``max_len`` tokens; finished rows keep emitting EOS and
    add nothing to their log-probability.
    """
    batch = prefix.shape[0]
    tokens = torch.full((batch, 1), bos_id, dtype=torch.long, device=prefix.device)
    logprob = torch.zeros(batch, device=prefix.device)
    done = torch.zeros(batch, dtype=torch.bool, device=prefix.device)
    state = stepper.start(prefix)
    for _ in range(max_len):
        logp, state = stepper.step(state, tokens)  # (B, V)
        token = choose(logp)
        logprob += torch.where(done, 0.0, logp.gather(1, token[:, None])[:, 0].float())
        token = torch.where(done, eos_id, token)
        tokens = torch.cat([tokens, token[:, None]], dim=1)
        done |= token == eos_id
        if bool(done.all()):
            break
    out = []
    for row, lp in zip(tokens[:, 1:].tolist(), logprob.tolist(), strict=True):
        ids = _strip(row, eos_id)
        length = min(len(ids) + 1, len(row))  # EOS counts as a generated token when present
        out.append(Hypothesis(ids, lp, lp / max(length, 1)))
    return out


@torch.no_grad()
def greedy(stepper: Stepper, prefix: torch.Tensor, *, bos_id: int, eos_id: int, max_len: int) -> list[Hypothesis]:
    """Argmax decoding for a batch; stops when every row has produced EOS or after ``max_len`` tokens."""
    DecodeConfig(max_len=max_len)  # validates
    return _token_by_token(
        stepper, prefix, lambda logp: logp.argmax(dim=-1), bos_id=bos_id, eos_id=eos_id, max_len=max_len
    )


@torch.no_grad()
def beam_search(
    stepper: Stepper,
    prefix: torch.Tensor,
    *,
    bos_id: int,
    eos_id: int,
    max_len: int,
    beam_size: int = 5,
    length_penalty: float = 1.0,
) -> list[list[Hypothesis]]:
    """Beam search for a batch; returns, per image, ``beam_size`` hypotheses best-first.

    Hypotheses are ranked by ``logprob / length ** length_penalty`` (0 = raw log-probability, which favours
    short captions; 1 = per-token average). Only EOS candidates ranked inside the top ``beam_size`` may
    finish a hypothesis (as in Hugging Face's implementation), so ``beam_size=1`` equals greedy decoding.
    An image stops once it holds ``beam_size`` finished hypotheses; live beams are finished at ``max_len``.
    """
    DecodeConfig(beam_size=beam_size, length_penalty=length_penalty, max_len=max_len)  # validates
    batch, k, device = prefix.shape[0], beam_size, prefix.device

    def penalised(logprob: float, length: int) -> float:
        return logprob / (max(length, 1) ** length_penalty)

    state = stepper.select(stepper.start(prefix), torch.arange(batch, device=device).repeat_interleave(k))
    tokens = torch.full((batch * k, 1), bos_id, dtype=torch.long, device=device)
    scores = torch.full((batch, k), -math.inf, device=device)
    scores[:, 0] = 0.0  # all beams start identical: keep only one alive so the first step isn't k-fold
    finished: list[list[Hypothesis]] = [[] for _ in range(batch)]
    closed = [False] * batch

    for _ in range(max_len):
        logp, state = stepper.step(state, tokens)  # (B*k, V)
        vocab = logp.shape[-1]
        cand = (scores[:, :, None] + logp.float().view(batch, k, vocab)).view(batch, k * vocab)
        top_scores, top_idx = cand.topk(2 * k, dim=1)  # (B, 2k): enough to refill k beams after EOS hits
        next_beam = torch.zeros(batch, k, dtype=torch.long, device=device)
        next_token = torch.full((batch, k), eos_id, dtype=torch.long, device=device)
        next_scores = torch.full((batch, k), -math.inf, device=device)
        rows = tokens.view(batch, k, -1)[:, :, 1:].tolist()
        for b in range(batch):
            if closed[b]:
                continue
            filled = 0
            for rank, (s, idx) in enumerate(zip(top_scores[b].tolist(), top_idx[b].tolist(), strict=True)):
                if s == -math.inf or filled == k:
                    break
                beam, token = divmod(idx, vocab)
                if token == eos_id:
                    if rank < k:
                        ids = tuple(rows[b][beam])
                        finished[b].append(Hypothesis(ids, s, penalised(s, len(ids) + 1)))
                    continue
                next_beam[b, filled], next_token[b, filled], next_scores[b, filled] = beam, token, s
                filled += 1
            if len(finished[b]) >= k:
                closed[b] = True
        if all(closed):
            break
        flat = (torch.arange(batch, device=device)[:, None] * k + next_beam).view(-1)
        tokens = torch.cat([tokens[flat], next_token.view(-1, 1)], dim=1)
        state = stepper.select(state, flat)
        scores = torch.where(torch.tensor(closed, device=device)[:, None], -math.inf, next_scores)

    rows = tokens.view(batch, k, -1)[:, :, 1:].tolist()
    out = []
    for b in range(batch):
        hyps = list(finished[b])
        if len(hyps) < k:  # ran out of length: live beams count as finished, without EOS
            for beam in range(k):
                s = float(scores[b, beam])
                if s > -math.inf:
                    ids = tuple(rows[b][beam])
                    hyps.append(Hypothesis(ids, s, penalised(s, len(ids))))
        hyps.sort(key=lambda h: h.score, reverse=True)
        out.append(hyps[:k])
    return out


@torch.no_grad()
def sample(
    stepper: Stepper,
    prefix: torch.Tensor,
    *,
    bos_id: int,
    eos_id: int,
    max_len: int,
    top_p: float = 0.9,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> list[Hypothesis]:
    """Nucleus (top-p) sampling: draw each token from the smallest set holding ``top_p`` of the mass."""
    DecodeConfig(top_p=top_p, temperature=temperature, max_len=max_len)  # validates

    def choose(logp: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(logp.float() / temperature, dim=-1)
        sorted_p, order = probs.sort(dim=-1, descending=True)
        outside = sorted_p.cumsum(dim=-1) - sorted_p > top_p  # keep tokens until the mass reaches top_p
        sorted_p = sorted_p.masked_fill(outside, 0.0)
        choice = torch.multinomial(sorted_p.cpu(), 1, generator=generator).to(prefix.device)
        return order.gather(1, choice)[:, 0]

    return _token_by_token(stepper, prefix, choose, bos_id=bos_id, eos_id=eos_id, max_len=max_len)


def decode(
    stepper: Stepper,
    prefix: torch.Tensor,
    config: DecodeConfig,
    *,
    bos_id: int,
    eos_id: int,
    generator: torch.Generator | None = None,
) -> list[Hypothesis]:
    """The best hypothesis per image with ``config``'s strategy. Shared by both decoders.

    ``generator`` (sampling only): pass one from ``config.generator()`` to share it over several batches.
    """
    common = dict(bos_id=bos_id, eos_id=eos_id, max_len=config.max_len or DEFAULT_MAX_LEN)
    if config.strategy == "sample":
        assert config.top_p is not None
        return sample(
            stepper, prefix, top_p=config.top_p, temperature=config.temperature, generator=generator, **common
        )
    if config.strategy == "greedy":
        return greedy(stepper, prefix, **common)
    beams = beam_search(stepper, prefix, beam_size=config.beam_size, length_penalty=config.length_penalty, **common)
    return [b[0] for b in beams]
