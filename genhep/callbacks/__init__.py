"""Lightning callbacks: evaluation of a model against its data family."""

from genhep.callbacks.evaluation import EvaluationCallback

__all__ = ["EvaluationCallback"]
