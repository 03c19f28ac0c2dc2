"""Energy scale and resolution of a calorimeter response in bins of the incident energy.

Pure functions on arrays: ``response`` ``(N,)`` (e.g. ``E_tot / E_inc``) and the incident
energies ``e_inc`` ``(N,)`` (MeV). In each bin of ``e_inc``: the scale (mean response) and the
relative resolution ``σ/E = std / mean`` with their statistical errors for a Gaussian sample of
``n`` events (``σ_mean = s/√n``; ``σ_s = s/√(2(n−1))``; the ratio's errors added in quadrature).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["ResponseCurve", "energy_bins", "resolution_deviation", "response_curve"]


@dataclass(frozen=True)
class ResponseCurve:
    """Per-bin statistics (arrays of the number of bins; NaN in bins with < 2 events).

    Attributes:
        energy: the bin's mean incident energy (MeV).
        n: events in the bin.
        scale, scale_error: mean response and its error.
        resolution, resolution_error: ``std / mean`` and its error.
    """

    energy: np.ndarray
    n: np.ndarray
    scale: np.ndarray
    scale_error: np.ndarray
    resolution: np.ndarray
    resolution_error: np.ndarray

    def to_dict(self) -> dict[str, list[float]]:
        return {k: np.asarray(v, dtype=float).tolist() for k, v in self.__dict__.items()}


def energy_bins(e_inc: ArrayLike, max_discrete: int = 30, n_bins: int = 12) -> np.ndarray:
    """Bin edges over ``e_inc``: one bin per value when there are at most ``max_discrete``
    distinct values (CaloChallenge dataset 1's 15 energies), else ``n_bins`` log-spaced bins."""
    e = np.asarray(e_inc, dtype=np.float64).reshape(-1)
    values = np.unique(e)
    if values.size == 0:
        raise ValueError("energy_bins needs at least one incident energy")
    if values.size <= max_discrete:
        middle = np.sqrt(values[1:] * values[:-1])
        return np.concatenate([[values[0] * 0.99], middle, [values[-1] * 1.01]])
    edges = np.geomspace(values[0], values[-1], n_bins + 1)
    edges[-1] *= 1.0 + 1e-9
    return edges


def response_curve(response: ArrayLike, e_inc: ArrayLike, edges: ArrayLike) -> ResponseCurve:
    """Scale and relative resolution of ``response`` in the ``e_inc`` bins ``edges``."""
    r = np.asarray(response, dtype=np.float64).reshape(-1)
    e = np.asarray(e_inc, dtype=np.float64).reshape(-1)
    if r.shape != e.shape:
        raise ValueError(f"response {r.shape} and e_inc {e.shape} differ in length")
    edges = np.asarray(edges, dtype=np.float64)
    which = np.digitize(e, edges) - 1
    columns: dict[str, list[float]] = {k: [] for k in ResponseCurve.__dataclass_fields__}
    for b in range(len(edges) - 1):
        values, energies = r[which == b], e[which == b]
        n = values.size
        columns["n"].append(n)
        if n < 2:
            for key in ("energy", "scale", "scale_error", "resolution", "resolution_error"):
                columns[key].append(np.nan)
            continue
        mean, std = values.mean(), values.std(ddof=1)
        rel = std / mean
        columns["energy"].append(energies.mean())
        columns["scale"].append(mean)
        columns["scale_error"].append(std / np.sqrt(n))
        columns["resolution"].append(rel)
        columns["resolution_error"].append(abs(rel) * np.sqrt(1 / (2 * (n - 1)) + rel**2 / n))
    return ResponseCurve(**{k: np.asarray(v, dtype=np.float64) for k, v in columns.items()})


def resolution_deviation(curve: ResponseCurve, target: ArrayLike) -> float:
    """Mean over bins of ``|σ/E − target| / target`` (bins where either is NaN are left out)."""
    target = np.asarray(target, dtype=np.float64)
    relative = np.abs(curve.resolution - target) / target
    relative = relative[np.isfinite(relative)]
    return float(relative.mean()) if relative.size else float("nan")
