"""``VQAModel``: answer questions about images with a trained generator (the Python API).

    from vocabfree.vqa import VQAModel
    vqa = VQAModel.load("runs/vqa")              # or VQAModel.load() for the shipped model
    vqa.answer(["photo.jpg"], ["What color is the car?"])   # -> [VQAAnswer(question=..., answer="red")]

A question is asked of the image at the same position; one question string is asked of every image.
``blind=True`` zeroes the image tokens (the model's own no-image baseline).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vocabfree.errors import InvalidInputError, MissingDependencyError
from vocabfree.images import ImageInput
from vocabfree.models.tokens import TokenSpec, encode_image_tokens
from vocabfree.vqa import checkpoint as ckpt
from vocabfree.vqa.features import pool_tokens
from vocabfree.vqa.model import VQAGenerator

SHIPPED = Path(__file__).parent / "assets" / "vqa-local-small"
MAX_QUESTION_CHARS = 500


@dataclass(frozen=True)
class VQAAnswer:
    question: str
    answer: str


def prompt_ids(tokenizer, question: str, max_text: int, max_answer: int) -> list[int]:
    """Question ids then BOS, truncated so the answer still fits in ``max_text``."""
    ids = tokenizer.encode(question)[: max(1, max_text - max_answer - 2)]
    return [*ids, tokenizer.bos_id]


def generate_answers(
    generator: VQAGenerator,
    tokenizer,
    tokens: np.ndarray,
    questions: Sequence[str],
    *,
    blind: bool = False,
    batch_size: int = 64,
    max_answer_tokens: int = 6,
) -> list[str]:
    """Answers for pooled image tokens ``tokens`` (N, T, D) and their questions, greedy, in order."""
    if len(tokens) != len(questions):
        raise InvalidInputError(f"{len(questions)} questions for {len(tokens)} images")
    generator.eval()
    out: list[str] = []
    max_text = generator.config.max_text
    for start in range(0, len(questions), batch_size):
        chunk = torch.from_numpy(np.asarray(tokens[start : start + batch_size], np.float32))
        if blind:
            chunk = torch.zeros_like(chunk)
        prompts = [prompt_ids(tokenizer, q, max_text, max_answer_tokens) for q in questions[start : start + batch_size]]
        ids = generator.generate(
            chunk, prompts, eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id, max_new_tokens=max_answer_tokens
        )
        # a continuation piece generated first decodes as "##x"; the word it continues is absent, keep "x"
        out.extend(tokenizer.decode(row).replace("##", "").strip() for row in ids)
    return out


class VQAModel:
    """A trained answer generator with the image model whose tokens it reads."""

    def __init__(
        self,
        generator: VQAGenerator,
        tokenizer,
        image_model,
        spec: TokenSpec,
        pool_grid: int | None,
        *,
        name: str = "vqa",
    ):
        self.generator = generator.eval()
        self.tokenizer = tokenizer
        self.image_model = image_model
        self.spec = spec
        self.pool_grid = pool_grid
        self.name = name

    @classmethod
    def load(cls, checkpoint: str | Path | None = None, *, image_model=None, device: str | None = None) -> VQAModel:
        """Load a checkpoint directory (None: the model shipped in the package) and its image model.

        ``image_model`` may be passed already loaded (it must be the one named in the checkpoint).
        """
        from vocabfree.models import load_model

        folder = Path(checkpoint) if checkpoint is not None else SHIPPED
        if checkpoint is None and not (folder / ckpt.CONFIG_FILE).is_file():
            raise MissingDependencyError(
                f"the shipped VQA model is missing from {folder}; reinstall vocabfree or pass --checkpoint DIR"
            )
        meta = ckpt.read_meta(folder)
        spec = TokenSpec(**meta["tokens"])
        if image_model is None:
            image_model = load_model(spec.image_model, device=device)
        elif image_model.name != spec.image_model:
            raise InvalidInputError(
                f"checkpoint {folder} reads tokens of '{spec.image_model}', not '{image_model.name}'"
            )
        name = meta.get("name") or (folder.name if checkpoint is not None else "vqa-local-small")
        return cls(
            ckpt.load_generator(folder, meta),
            ckpt.load_tokenizer(folder),
            image_model,
            spec,
            meta.get("pool_grid"),
            name=name,
        )

    def image_tokens(self, images: Sequence[ImageInput], *, batch_size: int = 32) -> np.ndarray:
        """The pooled tokens (N, T, D) this model reads."""
        raw = encode_image_tokens(
            self.image_model, images, layer=self.spec.layer, keep_cls=self.spec.keep_cls, batch_size=batch_size
        )
        self.spec.check(raw)
        return pool_tokens(raw, self.pool_grid, has_cls=self.spec.keep_cls)

    def answer(
        self, images: Sequence[ImageInput], questions: Sequence[str] | str, *, blind: bool = False, batch_size: int = 32
    ) -> list[VQAAnswer]:
        """One answer per (image, question) pair; a single question string is asked of every image."""
        images = list(images)
        questions = [questions] * len(images) if isinstance(questions, str) else list(questions)
        if len(questions) != len(images):
            raise InvalidInputError(
                f"{len(questions)} questions for {len(images)} images; give one per image or a single question for all"
            )
        for q in questions:
            if not q.strip():
                raise InvalidInputError("empty question")
            if len(q) > MAX_QUESTION_CHARS:
                raise InvalidInputError(f"question longer than {MAX_QUESTION_CHARS} characters")
        if not images:
            return []
        tokens = self.image_tokens(images, batch_size=batch_size)
        answers = generate_answers(self.generator, self.tokenizer, tokens, questions, blind=blind)
        return [VQAAnswer(q, a) for q, a in zip(questions, answers, strict=True)]
