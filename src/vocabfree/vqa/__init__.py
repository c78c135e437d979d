"""Visual question answering: a small answer generator over frozen image tokens, VQA scoring, baselines.

- ``VQAModel.load(checkpoint).answer(images, questions)``: the Python API (``answerer.py``);
- ``read_questions``: VQAv2-style JSONL with soft scores (``data.py``); ``score_predictions``: standard VQA
  accuracy overall and per answer type (``scoring.py``); ``ConstantAnswer``/``PrefixPrior``: the priors;
- ``train``/``VQATrainConfig`` (``train.py``) and ``evaluate`` (``evaluate.py``).
"""

from vocabfree.vqa.answerer import VQAAnswer, VQAModel
from vocabfree.vqa.baselines import ConstantAnswer, PrefixPrior
from vocabfree.vqa.data import VQAQuestion, read_questions
from vocabfree.vqa.scoring import VQAScores, normalize_answer, score_predictions, vqa_score

__all__ = [
    "ConstantAnswer",
    "PrefixPrior",
    "VQAAnswer",
    "VQAModel",
    "VQAQuestion",
    "VQAScores",
    "normalize_answer",
    "read_questions",
    "score_predictions",
    "vqa_score",
]
