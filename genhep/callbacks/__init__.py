"""Lightning callbacks: evaluation of a model against its data family, the progress bar."""

from genhep.callbacks.evaluation import EvaluationCallback
from genhep.callbacks.progress import ProgressBar

__all__ = ["EvaluationCallback", "ProgressBar"]
