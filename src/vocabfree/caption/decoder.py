"""The own caption decoder: a compact GPT-style transformer conditioned on the image.

One file, read top to bottom (nanoGPT's shape): attention, MLP, block, ``DecoderConfig``, ``CaptionDecoder``.
Two ways to condition on the image, chosen by ``DecoderConfig.cross_attention``:

- **cross-attention** (BLIP / the original Transformer decoder): the encoder's token sequence (B, T, F) is
  projected to the decoder width and every block attends to it after its causal self-attention. The
  projected tokens (and each layer's keys and values) are computed once per image: at training time once per
  image of a batch however many of its captions the batch holds (``image_index``), at generation time once
  per caption instead of once per step.
- **prefix** (ClipCap): one pooled feature vector (B, F) is projected to ``prefix_len`` embeddings in front of
  the caption tokens; causal self-attention lets every word look at them. This is the older, pooled-vector
  decoder, kept so its checkpoints load and so it can be compared.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, cast

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


class CrossAttention(nn.Module):
    """Queries from the caption, keys and values from the image tokens; ``memory_mask`` (B, M) True = real."""

    def __init__(self, config: DecoderConfig):
        super().__init__()
        self.q = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.kv_proj = nn.Linear(config.n_embd, 2 * config.n_embd, bias=config.bias)
        self.proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.n_head = config.n_head
        self.dropout = config.dropout
        self.resid_dropout = nn.Dropout(config.dropout)

    def kv(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values (B, nh, M, hs) of projected image tokens (B, M, C): computed once per image."""
        B, M, C = memory.shape
        k, v = self.kv_proj(memory).split(C, dim=2)
        return (
            k.view(B, M, self.n_head, C // self.n_head).transpose(1, 2),
            v.view(B, M, self.n_head, C // self.n_head).transpose(1, 2),
        )

    def forward(
        self, x: torch.Tensor, kv: tuple[torch.Tensor, torch.Tensor], memory_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        B, T, C = x.shape
        q = self.q(x).view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        mask = memory_mask[:, None, None, :].bool() if memory_mask is not None else None  # (B, 1, 1, M)
        dropout = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, kv[0], kv[1], attn_mask=mask, dropout_p=dropout)
        return self.resid_dropout(self.proj(y.transpose(1, 2).contiguous().view(B, T, C)))


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
        if config.cross_attention:
            self.ln_x = nn.LayerNorm(config.n_embd, bias=config.bias)
            self.cross = CrossAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, kv=None, memory_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        if kv is not None:
            x = x + self.cross(self.ln_x(x), kv, memory_mask)
        return x + self.mlp(self.ln_2(x))


@dataclass(frozen=True)
class DecoderConfig:
    vocab_size: int = 4096  # size of the word-piece vocabulary (set from the trained tokenizer)
    feature_dim: int = 1280  # width F of the image feature vector, or of each image token
    prefix_len: int = 4  # prefix mode: the feature vector becomes this many prefix embeddings
    cross_attention: bool = False  # True: attend to image tokens (B, T, F); False: pooled-vector prefix
    num_tokens: int = 0  # cross mode: learned position embeddings for this many image tokens (0: none)
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
    """Image (B, F) pooled or (B, M, F) tokens + caption tokens (B, T) -> next-token logits (B, T, V)."""

    def __init__(self, config: DecoderConfig):
        super().__init__()
        self.config = config
        if config.cross_attention:
            self.memory = nn.Sequential(  # LayerNorm first: raw CNN activations and ViT states both work
                nn.LayerNorm(config.feature_dim),
                nn.Dropout(config.feature_dropout),
                nn.Linear(config.feature_dim, config.n_embd),
            )
            self.mpe = nn.Embedding(config.num_tokens, config.n_embd) if config.num_tokens else None
            self.ln_m = nn.LayerNorm(config.n_embd, bias=config.bias)
            n_pos = config.block_size
        else:
            self.prefix = nn.Sequential(
                nn.LayerNorm(config.feature_dim),
                nn.Dropout(config.feature_dropout),
                nn.Linear(config.feature_dim, config.prefix_len * config.n_embd),
            )
            n_pos = config.prefix_len + config.block_size
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(n_pos, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.wte.weight = self.lm_head.weight  # weight tying, as in GPT-2
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2's scaled init of the residual projections
            if name.endswith("proj.weight") and "kv_proj" not in name:
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def encode_image(self, image: torch.Tensor) -> list:
        """Cross mode: each block's keys and values of the projected image tokens (B, M, F)."""
        if image.dim() != 3:
            raise InvalidInputError(f"this decoder attends to image tokens (B, M, F), got shape {tuple(image.shape)}")
        memory = self.memory(image.float())  # (B, M, C)
        if self.mpe is not None:
            if memory.shape[1] > self.config.num_tokens:
                raise InvalidInputError(f"{memory.shape[1]} image tokens exceed num_tokens {self.config.num_tokens}")
            memory = memory + self.mpe(torch.arange(memory.shape[1], device=memory.device))
        memory = self.ln_m(memory)
        return [cast(CrossAttention, block.cross).kv(memory) for block in self.blocks]

    def _check_len(self, T: int) -> None:
        if self.config.block_size < T:
            raise InvalidInputError(f"sequence of {T} tokens exceeds block_size {self.config.block_size}")

    def _decode(self, kvs: list, tokens: torch.Tensor, memory_mask: torch.Tensor | None) -> torch.Tensor:
        """Cross mode: logits (B, T, V) given precomputed keys/values (B rows, already per caption)."""
        T = tokens.shape[1]
        self._check_len(T)
        x = self.drop(self.wte(tokens) + self.wpe(torch.arange(T, device=tokens.device)))
        for block, kv in zip(self.blocks, kvs, strict=True):
            x = block(x, kv, memory_mask)
        return self.lm_head(self.ln_f(x))

    def forward(
        self,
        image: torch.Tensor,
        tokens: torch.Tensor,
        targets: torch.Tensor | None = None,
        *,
        image_index: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits for every caption position (B, T, V); the loss too when ``targets`` (B, T) are given.

        ``targets`` are the tokens shifted left (caption + EOS), padded with ``IGNORE_INDEX``. ``image_index``
        (B,) maps each caption to its row of ``image`` when a batch holds several captions per image (each image
        is then encoded once); ``memory_mask`` (rows of ``image``, M) marks real image tokens (True) and padding.
        """
        B, T = tokens.shape
        if self.config.cross_attention:
            kvs = self.encode_image(image)
            if image_index is not None:
                kvs = [(k[image_index], v[image_index]) for k, v in kvs]
                memory_mask = memory_mask[image_index] if memory_mask is not None else None
            logits = self._decode(kvs, tokens, memory_mask)
        else:
            self._check_len(T)
            image = image[image_index] if image_index is not None else image
            K, C = self.config.prefix_len, self.config.n_embd
            p = self.prefix(image.float()).view(B, K, C)  # (B, K, C)
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

    # The Stepper protocol (see generation.py). The model is small, so each step re-runs the caption so far
    # instead of keeping a self-attention KV cache; the image's keys and values are computed once, in start.
    def start(self, image: torch.Tensor) -> Any:
        if self.config.cross_attention:
            return {"kv": self.encode_image(image)}
        return {"image": image}

    def step(self, state: Any, tokens: torch.Tensor) -> tuple[torch.Tensor, Any]:
        tokens = tokens[:, -self.config.block_size :]
        if self.config.cross_attention:
            logits = self._decode(state["kv"], tokens, None)
        else:
            logits, _ = self(state["image"], tokens)
        return F.log_softmax(logits[:, -1].float(), dim=-1), state

    def select(self, state: Any, index: torch.Tensor) -> Any:
        if "kv" in state:
            return {"kv": [(k[index], v[index]) for k, v in state["kv"]]}
        return {"image": state["image"][index]}

    @torch.no_grad()
    def generate(
        self,
        prefix: torch.Tensor,
        config: generation.DecodeConfig | None = None,
        *,
        bos_id: int,
        eos_id: int,
        generator: torch.Generator | None = None,
    ) -> list[generation.Hypothesis]:
        """Best caption per image (``prefix``: the pooled vector or the tokens) with ``config``'s strategy
        (default: greedy); captions are cut at the decoder's context (``block_size - 1`` tokens)."""
        config = config or generation.DecodeConfig()
        max_len = min(config.max_len or generation.DEFAULT_MAX_LEN, self.config.block_size - 1)
        return generation.decode(
            self, prefix, replace(config, max_len=max_len), bos_id=bos_id, eos_id=eos_id, generator=generator
        )
