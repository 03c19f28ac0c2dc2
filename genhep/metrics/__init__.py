"""Pure metric functions: numpy arrays in, ``(value, error)`` out. No Lightning, no I/O."""

from genhep.metrics.classifier import classifier_two_sample_test, roc_auc
from genhep.metrics.emd import cov_mmd, emd_matrix, jet_emd
from genhep.metrics.frechet import fpd, frechet_distance, frechet_distance_samples
from genhep.metrics.kernel import kpd, mmd_unbiased
from genhep.metrics.wasserstein import wasserstein_1d, wasserstein_1d_with_error

__all__ = [
    "wasserstein_1d",
    "wasserstein_1d_with_error",
    "frechet_distance",
    "frechet_distance_samples",
    "fpd",
    "mmd_unbiased",
    "kpd",
    "classifier_two_sample_test",
    "roc_auc",
    "jet_emd",
    "emd_matrix",
    "cov_mmd",
]
