"""The own caption decoder: a compact GPT-style transformer conditioned on image features by prefix tokens.

One file, read top to bottom (nanoGPT's shape): attention, MLP, block, ``DecoderConfig``, ``CaptionDecoder``.
The image feature vector (B, F) is projected to ``prefix_len`` embeddings that sit in front of the caption
tokens; causal self-attention then lets every word look at the image. Prefix conditioning was chosen over
cross-attention because it needs no extra block type and, with a single pooled feature vector, gives the
decoder the same information.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from vocabfree.caption import generation
from vocabfree.errors import InvalidInputError

IGNORE_INDEX = -100  # target value that contributes no loss (padding)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: DecoderConfig):
        super().__init__()
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.n_head = config.n_head
        self.dropout = config.dropout
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        dropout = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True)  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.proj(y))


class MLP(nn.Module):
    def __init__(self, config: DecoderConfig):
        super().__init__()
        self.fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    def __init__(self, config: DecoderConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


@dataclass(frozen=True)
class DecoderConfig:
    vocab_size: int = 4096  # size of the word-piece vocabulary (set from the trained tokenizer)
    feature_dim: int = 1280  # length of the image feature vector the decoder is conditioned on
    prefix_len: int = 4  # the feature vector becomes this many prefix embeddings
    block_size: int = 32  # longest caption in tokens, BOS included
    n_layer: int = 3
    n_head: int = 4
    n_embd: int = 256
    dropout: float = 0.1
    feature_dropout: float = 0.1  # dropout on the image features: regularises the tiny training sets
    bias: bool = True

    def __post_init__(self):
        if self.n_embd % self.n_head:
            raise InvalidInputError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")


class CaptionDecoder(nn.Module):
    """Image features (B, F) + caption tokens (B, T) -> next-token logits (B, T, V)."""

    def __init__(self, config: DecoderConfig):
        super().__init__()
        self.config = config
        self.prefix = nn.Sequential(  # LayerNorm first: raw CNN features and unit-norm embeddings both work
            nn.LayerNorm(config.feature_dim),
            nn.Dropout(config.feature_dropout),
            nn.Linear(config.feature_dim, config.prefix_len * config.n_embd),
        )
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.prefix_len + config.block_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.wte.weight = self.lm_head.weight  # weight tying, as in GPT-2
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2's scaled init of the residual projections
            if name.endswith("proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(
        self, prefix: torch.Tensor, tokens: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits for every caption position (B, T, V); the loss too when ``targets`` (B, T) are given.

        ``targets`` are the tokens shifted left (caption + EOS), padded with ``IGNORE_INDEX``.
        """
        B, T = tokens.shape
        K, C = self.config.prefix_len, self.config.n_embd
        if self.config.block_size < T:
            raise InvalidInputError(f"sequence of {T} tokens exceeds block_size {self.config.block_size}")
        p = self.prefix(prefix.float()).view(B, K, C)  # (B, K, C)
        x = torch.cat([p, self.wte(tokens)], dim=1)  # (B, K+T, C)
        x = self.drop(x + self.wpe(torch.arange(K + T, device=tokens.device)))
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.ln_f(x[:, K:]))  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(
                logits.float().reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=IGNORE_INDEX
            )
        return logits, loss

    # The Stepper protocol (see generation.py). The model is small, so each step re-runs the whole
    # sequence instead of keeping a KV cache: simpler, and the cost is negligible at caption lengths.
    def start(self, prefix: torch.Tensor) -> Any:
        return prefix

    def step(self, state: Any, tokens: torch.Tensor) -> tuple[torch.Tensor, Any]:
        tokens = tokens[:, -self.config.block_size :]
        logits, _ = self(state, tokens)
        return F.log_softmax(logits[:, -1].float(), dim=-1), state

    def select(self, state: Any, index: torch.Tensor) -> Any:
        return state[index]

    @torch.no_grad()
    def generate(
        self,
        prefix: torch.Tensor,
        *,
        bos_id: int,
        eos_id: int,
        max_len: int = 30,
        beam_size: int = 1,
        length_penalty: float = 1.0,
        top_p: float | None = None,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> list[generation.Hypothesis]:
        """Best caption per image: greedy (beam_size 1), beam search, or nucleus sampling when ``top_p``."""
        return generation.decode(
            self, prefix, bos_id=bos_id, eos_id=eos_id, max_len=min(max_len, self.config.block_size - 1),
            beam_size=beam_size, length_penalty=length_penalty, top_p=top_p, temperature=temperature,
            generator=generator,
        )

