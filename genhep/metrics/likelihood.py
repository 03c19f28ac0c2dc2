"""Likelihood bookkeeping shared by every likelihood model."""

from __future__ import annotations

import math
from typing import TypeVar

T = TypeVar("T")


def bits_per_dim(nll_nats: T, n_dims: int) -> T:
    """Negative log-likelihood per event in nats → bits per dimension: ``nll / (D ln 2)``.

    ``nll_nats``: a float, array or tensor (per event, or its mean); ``n_dims``: the numbers
    per event ``D`` (pixels of an image, voxels of a shower, particles × features of a cloud).
    """
    if n_dims < 1:
        raise ValueError(f"bits_per_dim needs n_dims >= 1, got {n_dims}")
    return nll_nats / (n_dims * math.log(2.0))
