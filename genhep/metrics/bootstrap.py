"""Bootstrap resampling: the one loop behind every ``± error`` that resamples events.

A statistic ``statistic(*samples)`` of one or more samples (arrays sharing nothing but
their role) is recomputed on ``n_bootstrap`` resamples drawn *with replacement*:

* independent samples (``paired=False``, e.g. generated and real events): each sample gets
  its own draw, in argument order, ``rng.integers(0, len(sample), size)`` per resample;
* paired samples (``paired=True``, e.g. labels and classifier outputs of the same test
  events): one draw of rows shared by all of them.

``size`` is the length of each resample (default: the sample's own length, the bootstrap
proper; MPGAN's W1 protocol draws fixed-size batches instead). A statistic may return
``None`` to drop a resample on which it is undefined (e.g. an AUC of a one-class resample).

The draws are those of ``numpy.random.Generator.choice(n, size)`` (which calls
``integers(0, n, size)``), so code that resampled with ``rng.choice`` or ``rng.integers``
gets the same resamples from the same seed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

__all__ = ["bootstrap", "bootstrap_replicates", "bootstrap_std", "resample_indices"]

Seed = int | Sequence[int] | np.random.Generator


def _generator(seed: Seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def resample_indices(
    lengths: Sequence[int],
    n_resamples: int,
    seed: Seed = 0,
    size: int | None = None,
    paired: bool = False,
) -> Iterator[tuple[np.ndarray, ...]]:
    """Row indices of ``n_resamples`` resamples (with replacement) of samples of ``lengths``.

    Yields one tuple of index arrays per resample, one array per sample: independent draws in
    the order of ``lengths``, or one draw repeated when ``paired`` (all lengths equal).
    """
    lengths = [int(n) for n in lengths]
    if any(n < 1 for n in lengths):
        raise ValueError(f"cannot resample an empty sample (lengths {lengths})")
    if paired and len(set(lengths)) > 1:
        raise ValueError(f"paired samples must have one length, got {lengths}")
    rng = _generator(seed)
    for _ in range(n_resamples):
        if paired:
            rows = rng.integers(0, lengths[0], size or lengths[0])
            yield (rows,) * len(lengths)
        else:
            yield tuple(rng.integers(0, n, size or n) for n in lengths)


def bootstrap_replicates(
    statistic: Callable[..., Any],
    *samples: np.ndarray,
    n_resamples: int,
    seed: Seed = 0,
    size: int | None = None,
    paired: bool = False,
) -> np.ndarray:
    """``statistic`` on each resample, stacked: ``(n_kept, *statistic_shape)`` float64.

    Resamples on which ``statistic`` returns ``None`` are dropped (an empty ``(0,)`` array
    when all are).
    """
    arrays = [np.asarray(s) for s in samples]
    values = []
    for rows in resample_indices([len(a) for a in arrays], n_resamples, seed, size, paired):
        value = statistic(*(a[r] for a, r in zip(arrays, rows, strict=True)))
        if value is not None:
            values.append(np.asarray(value, dtype=np.float64))
    return np.stack(values) if values else np.empty((0,))


def bootstrap_std(
    statistic: Callable[..., Any],
    *samples: np.ndarray,
    n_bootstrap: int = 20,
    seed: Seed = 0,
    paired: bool = False,
    shape: tuple[int, ...] = (),
) -> float | np.ndarray:
    """Standard deviation (ddof = 1) of ``statistic`` over ``n_bootstrap`` resamples.

    NaN (an array of ``shape``, the statistic's, if not scalar) when fewer than two
    resamples are kept; with ``n_bootstrap < 2`` no draw is made.
    """
    replicates = np.empty((0,))
    if n_bootstrap >= 2:
        replicates = bootstrap_replicates(
            statistic,
            *samples,
            n_resamples=n_bootstrap,
            seed=seed,
            paired=paired,
        )
    error = replicates.std(axis=0, ddof=1) if len(replicates) >= 2 else np.full(shape, np.nan)
    return float(error) if error.ndim == 0 else error


def bootstrap(
    statistic: Callable[..., Any],
    *samples: np.ndarray,
    n_bootstrap: int = 20,
    seed: Seed = 0,
    paired: bool = False,
) -> tuple[Any, float | np.ndarray]:
    """``(statistic(*samples), error)``: the value on the full samples and its
    :func:`bootstrap_std` (NaN of the value's shape when it cannot be estimated)."""
    value = statistic(*samples)
    error = bootstrap_std(
        statistic,
        *samples,
        n_bootstrap=n_bootstrap,
        seed=seed,
        paired=paired,
        shape=np.shape(value),
    )
    return value, error
