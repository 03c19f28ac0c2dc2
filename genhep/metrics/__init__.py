"""Pure metric functions: numpy arrays in, ``(value, error)`` out. No Lightning, no I/O."""

from genhep.metrics.wasserstein import wasserstein_1d, wasserstein_1d_with_error

__all__ = ["wasserstein_1d", "wasserstein_1d_with_error"]
