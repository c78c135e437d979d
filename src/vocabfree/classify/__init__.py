"""Classification tasks: zero-shot over given labels, few-shot linear probe, vocabulary-free (CaSED)."""

from vocabfree.classify.results import Candidate, Prediction, RetrievedCaption, VocabularyFreePrediction

__all__ = ["Candidate", "Prediction", "RetrievedCaption", "VocabularyFreePrediction"]
