"""The answer generator: a small prefix language model over image tokens and the question.

One sequence per example, nanoGPT-style in one file::

    [image tokens (T) | question tokens | BOS | answer tokens | EOS | PAD ...]

Image tokens go through a LLaVA-style projector (LayerNorm, Linear, GELU, Linear) to the model width and
see each other fully; text positions are causal (each sees all image tokens and the text before it), and
each text embedding also has the projected first (global) image token added.
The loss is on the answer tokens and EOS only, so the model learns to *generate* the answer given the
image and the question. Zeroing the image tokens gives the same model "blind", the baseline that says how
much the image helps.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

IGNORE = -100


@dataclass(frozen=True)
class VQAModelConfig:
    vocab_size: int  # word pieces of the question/answer tokenizer
    token_dim: int = 1280  # D of the image tokens
    num_image_tokens: int = 82  # T of the image tokens (positions are learned per token)
    d_model: int = 128  # model width
    n_layers: int = 3  # transformer blocks
    n_heads: int = 4  # attention heads
    dropout: float = 0.1
    max_text: int = 40  # question + BOS + answer + EOS tokens


class VQAGenerator(nn.Module):
    def __init__(self, config: VQAModelConfig):
        super().__init__()
        c = self.config = config
        self.projector = nn.Sequential(
            nn.LayerNorm(c.token_dim), nn.Linear(c.token_dim, c.d_model), nn.GELU(), nn.Linear(c.d_model, c.d_model)
        )
        self.image_pos = nn.Parameter(torch.zeros(1, c.num_image_tokens, c.d_model))
        self.tok_emb = nn.Embedding(c.vocab_size, c.d_model)
        self.txt_pos = nn.Embedding(c.max_text, c.d_model)
        layer = nn.TransformerEncoderLayer(
            c.d_model, c.n_heads, 4 * c.d_model, c.dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, c.n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(c.d_model)
        self.head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight  # tied input/output embeddings
        nn.init.normal_(self.image_pos, std=0.02)
        nn.init.normal_(self.tok_emb.weight, std=0.02)  # tied with the head: keeps the first logits small

    def _mask(self, t_img: int, t_txt: int, device) -> torch.Tensor:
        """(S, S) bool, True = blocked: image keys always visible, text keys causally."""
        s = t_img + t_txt
        i = torch.arange(s, device=device)[:, None]
        j = torch.arange(s, device=device)[None, :]
        return (j >= t_img) & (j > i)

    def forward(self, image_tokens: torch.Tensor, text: torch.Tensor, targets: torch.Tensor | None = None):
        """image_tokens (B, T, D) float, text (B, L) long, targets (B, L) long (IGNORE where no loss).

        Returns ``(logits (B, L, V) at the text positions, None)`` without targets; with targets, only the
        positions that have one go through the output layer (a few per row; most of the cost otherwise) and
        ``(logits (K, V) of those positions, loss)`` is returned. logits at position i predict text[:, i+1].
        """
        b, t_img, _ = image_tokens.shape
        t_txt = text.shape[1]
        if t_img != self.config.num_image_tokens:
            raise ValueError(f"expected {self.config.num_image_tokens} image tokens, got {t_img}")
        if t_txt > self.config.max_text:
            raise ValueError(f"text of {t_txt} tokens exceeds max_text={self.config.max_text}")
        img = self.projector(image_tokens.float()) + self.image_pos  # (B, T, d)
        pos = torch.arange(t_txt, device=text.device)
        # every text position also gets the first (global / CLS) image token: a short path from the image to
        # the answer, without which small models settle on the blind answer prior early in training
        txt = self.tok_emb(text) + self.txt_pos(pos)[None] + img[:, :1]  # (B, L, d)
        x = self.blocks(torch.cat([img, txt], dim=1), mask=self._mask(t_img, t_txt, text.device))
        hidden = x[:, t_img:]  # (B, L, d)
        if targets is None:
            return self.head(self.norm(hidden)), None
        keep = targets != IGNORE  # (B, L)
        logits = self.head(self.norm(hidden[keep]))  # (K, V)
        return logits, F.cross_entropy(logits, targets[keep])

    @torch.no_grad()
    def generate(
        self, image_tokens: torch.Tensor, prompts: list[list[int]], *, eos_id: int, pad_id: int, max_new_tokens: int = 6
    ) -> list[list[int]]:
        """Greedy answers: ``prompts[b]`` is the question's ids ending in BOS; returns the new ids (no EOS)."""
        b = len(prompts)
        length = min(max(len(p) for p in prompts) + max_new_tokens, self.config.max_text)
        text = torch.full((b, length), pad_id, dtype=torch.long, device=image_tokens.device)
        for row, p in enumerate(prompts):
            text[row, : len(p)] = torch.tensor(p, dtype=torch.long)
        cur = torch.tensor([len(p) - 1 for p in prompts], device=text.device)  # last filled position
        done = torch.zeros(b, dtype=torch.bool, device=text.device)
        out: list[list[int]] = [[] for _ in range(b)]
        rows = torch.arange(b, device=text.device)
        for _ in range(max_new_tokens):
            if bool(done.all()) or int(cur.max()) + 1 >= length:
                break
            logits, _ = self(image_tokens, text)
            nxt = logits[rows, cur].argmax(-1)  # (B,)
            for row in range(b):
                if not done[row]:
                    token = int(nxt[row])
                    if token == eos_id:
                        done[row] = True
                    else:
                        out[row].append(token)
            cur = cur + 1
            text[rows, cur] = torch.where(done, torch.full_like(nxt, pad_id), nxt)
        return out
