"""Family evaluators: physical-unit samples in, named scores with uncertainties out."""

from genhep.evaluation.base import Evaluator, Metric, Sample

__all__ = ["Evaluator", "Metric", "Sample"]
