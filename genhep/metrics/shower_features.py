"""High-level calorimeter shower features, as the CaloChallenge 2022 evaluation defines them.

Pure numpy functions of ``showers (N, V)`` (voxel energies, MeV, flattened as the
:class:`~genhep.geometry.calorimeter.CaloGeometry` describes) and, for the energy ratio, the
incident energies ``(N,)`` or ``(N, 1)`` (MeV). Every per-layer result is ``(N, L)`` with columns
in the order of ``geometry.layer_ids``. Computation is in float64, in cache-sized row chunks,
with one small matrix product per layer and chunk; 100k showers of 533 voxels take well under a
second.

Definitions follow ``code/HighLevelFeatures.py`` of CaloChallenge/homepage (``CalculateFeatures``
and the ``_calculate_*`` helpers); with ``E_v`` the energy of voxel ``v`` of layer ``l`` and
``x_v`` its centre coordinate (``geometry.voxel_eta`` / ``voxel_phi`` / ``voxel_r``):

* layer energy ``E_l = Σ_v E_v`` (MeV); total energy ``E_tot = Σ_all E_v`` (MeV);
  energy ratio ``E_tot / E_inc`` (dimensionless; ``E_inc`` is never zero in a valid file);
* centre of energy ``⟨x⟩_l = Σ_v E_v x_v / (E_l + ε)``;
* width ``σ_l = sqrt(max(Σ_v E_v x_v² / (E_l + ε) − ⟨x⟩_l², 0))``, the energy-weighted standard
  deviation — computed here in the centred form ``Σ_v E_v (x_v − ⟨x⟩_l)² / (E_l + ε)``, which
  is the same quantity up to ``⟨x⟩² ε / E_l`` (far below float64 rounding) but does not lose
  digits to cancellation: the challenge's one-pass form leaves ~1e-8 of the coordinate
  (e.g. 4e-6 mm at r = 1.5 m) where the width is exactly 0 (one lit voxel);
* sparsity ``1 − (number of voxels of l with E_v > threshold) / (number of voxels of l)``:
  the fraction of the layer's voxels that are *empty* (at or below ``threshold``, default 0).

``ε = 1e-16`` MeV is the challenge's guard: a layer with no energy has centre 0 and width 0, not
NaN, and its sparsity is 1; a layer with one lit voxel has width 0. The ``max(·, 0)`` follows
the challenge (it only matters for negative voxel energies here). Coordinates and hence centres and widths are in mm for the polar
CaloChallenge geometries (the challenge's ``eta = r cos α``, ``phi = r sin α``), and in Δη and
Δφ (rad) for the Cartesian ATLAS geometry. Negative voxel energies are not rejected here (the
data schema does that); they enter the sums as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:  # annotations only
    from genhep.geometry.calorimeter import CaloGeometry

__all__ = [
    "CHALLENGE_EPS",
    "CHALLENGE_MIN_ENERGY",
    "centre_of_energy",
    "challenge_distance_feature_names",
    "challenge_distance_features",
    "energy_ratio",
    "high_level_features",
    "layer_energies",
    "longitudinal_centre",
    "radial_centre_and_width",
    "shower_width",
    "sparsity",
    "total_energy",
]

#: Added to the layer energy in every energy-weighted mean (MeV), as in the challenge.
CHALLENGE_EPS = 1e-16

# Row chunk: about this many voxel values are converted to float64 at once (2 MB, cache-sized).
_CHUNK_VALUES = 1 << 18


def _check_showers(showers: ArrayLike, geometry: CaloGeometry) -> np.ndarray:
    showers = np.asarray(showers)
    if showers.ndim != 2 or showers.shape[1] != geometry.n_voxels:
        raise ValueError(
            f"showers must be (N, {geometry.n_voxels}) for geometry {geometry.name!r}, "
            f"got shape {showers.shape}"
        )
    return showers


class _Moments(NamedTuple):
    energy: np.ndarray  # (N, L) Σ E_v, MeV
    centre: np.ndarray  # (N, L, K) Σ E_v x_v / (E_l + ε) per coordinate k
    width: np.ndarray | None  # (N, L, K) sqrt(max(Σ E_v (x_v − centre)² / (E_l + ε), 0))
    lit: np.ndarray | None  # (N, L) number of voxels with E_v > threshold


def _moments(
    showers: np.ndarray,
    geometry: CaloGeometry,
    coordinates: Sequence[np.ndarray] = (),
    widths: bool = False,
    threshold: float | None = None,
) -> _Moments:
    """Per-layer energy, centres and widths along each of ``coordinates`` (each (V,)), counts.

    The width uses the centred (two-pass) second moment ``Σ E_v (x_v − ⟨x⟩)² / (E_l + ε)``,
    which equals the challenge's ``Σ E_v x_v² / (E_l + ε) − ⟨x⟩²`` up to a term ``⟨x⟩² ε / E_l``
    but does not lose digits to cancellation: one lit voxel gives exactly 0.
    """
    n, n_layers, k = showers.shape[0], geometry.n_layers, len(coordinates)
    # per layer: (V_l, 1 + K) columns [1, x_1, ..., x_K]
    columns = [np.ones(geometry.n_voxels), *(np.asarray(c, np.float64) for c in coordinates)]
    design = [np.stack([c[s] for c in columns], axis=1) for s in geometry.layer_slices]
    energy = np.empty((n, n_layers))
    centre = np.empty((n, n_layers, k))
    width = np.empty((n, n_layers, k)) if widths else None
    lit = None if threshold is None else np.empty((n, n_layers), dtype=np.int64)
    step = max(64, _CHUNK_VALUES // geometry.n_voxels)
    for start in range(0, n, step):
        rows = slice(start, min(n, start + step))
        chunk = np.asarray(showers[rows], dtype=np.float64)
        for i, s in enumerate(geometry.layer_slices):
            e = chunk[:, s]  # (n_rows, V_l)
            sums = e @ design[i]  # (n_rows, 1 + K)
            denominator = sums[:, :1] + CHALLENGE_EPS
            energy[rows, i] = sums[:, 0]
            centre[rows, i] = sums[:, 1:] / denominator
            if width is not None:
                for j in range(k):
                    # (n_rows, V_l): E_v (x_v − ⟨x⟩)², summed over the layer's voxels
                    spread = design[i][:, 1 + j] - centre[rows, i, j, None]
                    spread *= spread
                    spread *= e
                    second = spread.sum(axis=1) / denominator[:, 0]
                    width[rows, i, j] = np.sqrt(np.clip(second, 0.0, None))
            if lit is not None:
                lit[rows, i] = np.count_nonzero(e > threshold, axis=1)
    return _Moments(energy, centre, width, lit)


def layer_energies(showers: ArrayLike, geometry: CaloGeometry) -> np.ndarray:
    """(N, L) energy deposited in each layer, MeV: ``E_l = Σ_{v in l} E_v``."""
    return _moments(_check_showers(showers, geometry), geometry).energy


def longitudinal_centre(showers: ArrayLike, geometry: CaloGeometry) -> np.ndarray:
    """(N,) longitudinal centre of the shower: the energy-weighted mean layer *index*
    ``Σ_l l · E_l / (E_tot + ε)``, ``l = 0 … L−1`` the position of the layer in
    ``geometry.layer_ids`` (front to back; not the layer id, which skips numbers in dataset 1);
    0 for an empty shower (the challenge's ε guard)."""
    energies = layer_energies(showers, geometry)
    index = np.arange(energies.shape[1], dtype=np.float64)
    return energies @ index / (energies.sum(axis=1) + CHALLENGE_EPS)


def total_energy(showers: ArrayLike) -> np.ndarray:
    """(N,) total deposited energy, MeV: the sum over all voxels."""
    showers = np.asarray(showers)
    if showers.ndim != 2:
        raise ValueError(f"showers must be (N, V), got shape {showers.shape}")
    return showers.sum(axis=1, dtype=np.float64)


def energy_ratio(showers: ArrayLike, incident_energies: ArrayLike) -> np.ndarray:
    """(N,) ``E_tot / E_inc`` (dimensionless); ``incident_energies`` (N,) or (N, 1), MeV."""
    e_tot = total_energy(showers)
    return e_tot / _incident(incident_energies, e_tot.shape[0])


def _incident(incident_energies: ArrayLike, n: int) -> np.ndarray:
    e_inc = np.asarray(incident_energies, dtype=np.float64)
    if e_inc.ndim == 2 and e_inc.shape[1] == 1:
        e_inc = e_inc[:, 0]
    if e_inc.shape != (n,):
        raise ValueError(
            f"incident_energies must be ({n},) or ({n}, 1) to match the showers, "
            f"got shape {e_inc.shape}"
        )
    return e_inc


def centre_of_energy(showers: ArrayLike, geometry: CaloGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Per-layer centre of energy ``(ec_eta, ec_phi)``, each (N, L).

    ``⟨η⟩_l = Σ E_v η_v / (E_l + 1e-16)`` and likewise for φ, with the voxel centres
    ``geometry.voxel_eta`` / ``voxel_phi`` (mm for polar geometries: ``r cos α``, ``r sin α``;
    Δη and rad for Cartesian ones). An empty layer gives 0.
    """
    showers = _check_showers(showers, geometry)
    centre = _moments(showers, geometry, [geometry.voxel_eta, geometry.voxel_phi]).centre
    return centre[..., 0], centre[..., 1]


def shower_width(showers: ArrayLike, geometry: CaloGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Per-layer energy-weighted standard deviation ``(width_eta, width_phi)``, each (N, L).

    ``σ_η = sqrt(max(Σ E_v (η_v − ⟨η⟩_l)² / (E_l + 1e-16), 0))``, the challenge's
    ``Σ E_v η_v² / (E_l + 1e-16) − ⟨η⟩_l²`` in centred form (see the module docstring); same
    units as the voxel centres: mm polar, Δη / rad Cartesian. An empty layer, or one with a
    single lit voxel, gives 0.
    """
    showers = _check_showers(showers, geometry)
    coordinates = [geometry.voxel_eta, geometry.voxel_phi]
    width = _moments(showers, geometry, coordinates, widths=True).width
    return width[..., 0], width[..., 1]


def radial_centre_and_width(
    showers: ArrayLike, geometry: CaloGeometry
) -> tuple[np.ndarray, np.ndarray]:
    """Per-layer centre of energy and width in the radial bin centre ``r`` (mm), each (N, L).

    The challenge's ``EC_r`` / ``width_r`` (its later ``HighLevelFeatures``): the same
    formulas as :func:`centre_of_energy` / :func:`shower_width` with ``x_v = geometry.voxel_r``.
    """
    moments = _moments(_check_showers(showers, geometry), geometry, [geometry.voxel_r], True)
    return moments.centre[..., 0], moments.width[..., 0]


def sparsity(showers: ArrayLike, geometry: CaloGeometry, threshold: float = 0.0) -> np.ndarray:
    """(N, L) fraction of each layer's voxels that are empty: ``1 − mean(E_v > threshold)``.

    This is the challenge's definition (``_calculate_sparsity``): 1 for an empty layer,
    ``1 − 1/n_l`` for a layer of ``n_l`` voxels with one lit voxel. A voxel exactly at
    ``threshold`` (MeV) counts as empty. The occupancy (fraction lit) is ``1 − sparsity``.
    """
    showers = _check_showers(showers, geometry)
    lit = _moments(showers, geometry, threshold=float(threshold)).lit
    return 1.0 - lit / np.asarray(geometry.layer_sizes, dtype=np.float64)


def high_level_features(
    showers: ArrayLike,
    incident_energies: ArrayLike,
    geometry: CaloGeometry,
    threshold: float = 0.0,
) -> dict[str, np.ndarray]:
    """All high-level features of the challenge, each an (N,) float64 array, in one pass.

    Keys (``{l}`` is the layer id, e.g. ``e_layer_12``):

    * ``e_total`` (MeV), ``e_ratio`` = E_tot / E_inc;
    * ``e_layer_{l}`` (MeV) for every layer;
    * ``ec_eta_layer_{l}``, ``ec_phi_layer_{l}``, ``width_eta_layer_{l}``,
      ``width_phi_layer_{l}`` for the layers the challenge computes them for,
      ``geometry.alpha_binned_layers`` (polar layers with more than one α bin — in the others
      φ is identically 0 and η equals r; every layer of a Cartesian geometry);
    * ``ec_r_layer_{l}``, ``width_r_layer_{l}`` (mm) for every layer of a polar geometry;
    * ``sparsity_layer_{l}`` for every layer (fraction of empty voxels, see :func:`sparsity`).
    """
    showers = _check_showers(showers, geometry)
    e_inc = _incident(incident_energies, showers.shape[0])
    coordinates = [geometry.voxel_eta, geometry.voxel_phi]
    if not geometry.cartesian:
        coordinates.append(geometry.voxel_r)
    moments = _moments(showers, geometry, coordinates, widths=True, threshold=float(threshold))
    energy, centre, width = moments.energy, moments.centre, moments.width
    layer_sparsity = 1.0 - moments.lit / np.asarray(geometry.layer_sizes, dtype=np.float64)

    e_total = total_energy(showers)
    features: dict[str, np.ndarray] = {"e_total": e_total, "e_ratio": e_total / e_inc}
    ids = geometry.layer_ids
    binned = [geometry.layer_index(i) for i in geometry.alpha_binned_layers]
    per_layer: list[tuple[str, np.ndarray, Sequence[int]]] = [
        ("e_layer", energy, range(len(ids))),
        ("ec_eta_layer", centre[..., 0], binned),
        ("ec_phi_layer", centre[..., 1], binned),
        ("width_eta_layer", width[..., 0], binned),
        ("width_phi_layer", width[..., 1], binned),
    ]
    if not geometry.cartesian:
        per_layer += [
            ("ec_r_layer", centre[..., 2], range(len(ids))),
            ("width_r_layer", width[..., 2], range(len(ids))),
        ]
    per_layer.append(("sparsity_layer", layer_sparsity, range(len(ids))))
    for prefix, values, columns in per_layer:
        for i in columns:
            features[f"{prefix}_{ids[i]}"] = np.ascontiguousarray(values[:, i])
    return features


# ------------------------------------------------------------ the challenge's FPD/KPD features

#: The challenge's readout cut (MeV): voxels *below* it are set to 0 before any feature is
#: computed (``args.min_energy`` in ``evaluate.py``: 1 MeV for dataset 1, 0.5 keV / 0.033 — the
#: sampling fraction — for datasets 2 and 3), keyed by genhep's geometry names.
CHALLENGE_MIN_ENERGY = {
    "ds1_photons": 1.0,
    "ds1_pions": 1.0,
    "ds2_electrons": 0.5e-3 / 0.033,
    "ds3_electrons": 0.5e-3 / 0.033,
}

#: Offset inside log10 of layer and total energies (MeV), as in the challenge.
CHALLENGE_LOG_OFFSET = 1e-8

#: Centres and widths in mm are divided by this (the challenge's ``/1e2``).
CHALLENGE_LENGTH_SCALE = 100.0


def _challenge_layout(geometry: CaloGeometry) -> list[tuple[str, str]]:
    """``(feature, preprocessing)`` per column, in the challenge's order; preprocessing is
    ``log`` (log10), ``log_offset`` (log10 of value + 1e-8), ``length`` (/ 100 for polar
    geometries, as is for Cartesian ones) or ``none``."""
    layers = geometry.layer_ids
    binned = geometry.alpha_binned_layers
    layout = [("e_inc", "log")]
    layout += [(f"e_layer_{i}", "log_offset") for i in layers]
    for prefix in ("ec_eta", "ec_phi", "width_eta", "width_phi"):
        layout += [(f"{prefix}_layer_{i}", "length") for i in binned]
    layout.append(("e_total", "log_offset"))
    layout += [(f"sparsity_layer_{i}", "none") for i in layers]
    if not geometry.cartesian:
        for prefix in ("ec_r", "width_r"):
            layout += [(f"{prefix}_layer_{i}", "length") for i in layers]
    return layout


def challenge_distance_feature_names(geometry: CaloGeometry) -> list[str]:
    """Column names of :func:`challenge_distance_features`, e.g. ``log10(e_inc)``,
    ``log10(e_layer_0 + 1e-8)``, ``ec_eta_layer_1 / 100``, ``sparsity_layer_0``."""
    length = "" if geometry.cartesian else f" / {CHALLENGE_LENGTH_SCALE:g}"
    formats = {
        "log": "log10({})",
        "log_offset": f"log10({{}} + {CHALLENGE_LOG_OFFSET:g})",
        "length": "{}" + length,
        "none": "{}",
    }
    return [formats[kind].format(name) for name, kind in _challenge_layout(geometry)]


def challenge_distance_features(
    showers: ArrayLike,
    incident_energies: ArrayLike,
    geometry: CaloGeometry,
    min_energy: float | None = None,
) -> np.ndarray:
    """(N, D) float64: the CaloChallenge's feature representation for FPD and KPD.

    Source: CaloChallenge/homepage, ``code/evaluate.py`` at commit ``9b41df7``: the ``fpd`` /
    ``kpd`` mode (lines 674-703) passes ``prepare_high_data_for_classifier(...)[:, :-1]``
    (lines 188-225, label column dropped) to ``jetnet.evaluation.fpd`` / ``kpd``; the features
    come from ``HighLevelFeatures.CalculateFeatures`` (default threshold 0) on showers whose
    voxels below ``args.min_energy`` were set to 0 (lines 463-485).

    Preprocessing, as there: every voxel with ``E < min_energy`` (MeV) is set to 0, in the
    showers only (``None``: :data:`CHALLENGE_MIN_ENERGY` of the geometry, 1 MeV for dataset 1,
    0.5 keV / 0.033 ≈ 0.01515 MeV for datasets 2 and 3; 0 for a geometry the challenge does not
    have, which still zeroes negative voxels). Then the high-level features of
    :func:`high_level_features` (threshold 0, so a voxel is lit iff ``E >= min_energy``) are
    put in this order (``L`` = ``geometry.layer_ids``, ``A`` = ``geometry.alpha_binned_layers``):

    1. ``log10(E_inc)``, E_inc in MeV, no offset (1 column);
    2. ``log10(E_l + 1e-8)``, layer energies in MeV, for l in L;
    3. ``ec_eta / 100``, 4. ``ec_phi / 100``, 5. ``width_eta / 100``, 6. ``width_phi / 100``,
       each for l in A, mm / 100 (i.e. in units of 10 cm);
    7. ``log10(E_tot + 1e-8)``, MeV (1 column);
    8. sparsity (fraction of empty voxels) for l in L;
    9. ``ec_r / 100``, 10. ``width_r / 100``, mm / 100, for l in L.

    ``D = 2 + 4 |L| + 4 |A|``: 30 for ``ds1_photons`` (L = 0, 1, 2, 3, 12; A = 1, 2), 46 for
    ``ds1_pions`` (7 layers, 4 binned in α), 362 for datasets 2 and 3 (45 layers). Column names:
    :func:`challenge_distance_feature_names`. The challenge computes in the file's dtype
    (float32) and widths in the one-pass form; here float64 and the centred form, which differ
    by rounding only. A Cartesian geometry (not the challenge's) has no columns 9-10 and keeps
    its centres and widths in Δη and rad (no ``/ 100``). Scale factors do not change FPD or KPD
    (both divide every column by the real sample's max ``|value|``); the logarithms, the
    ``E_inc`` column and the readout cut do.

    Args:
        showers: (N, V) voxel energies, MeV.
        incident_energies: (N,) or (N, 1), MeV, positive.
        geometry: the voxel layout.
        min_energy: readout cut (MeV); ``None``: the challenge's for ``geometry.name``.
    """
    showers = _check_showers(showers, geometry)
    e_inc = _incident(incident_energies, showers.shape[0])
    if not np.all(e_inc > 0):
        raise ValueError("incident_energies must be positive (MeV): log10(E_inc) is a feature")
    if min_energy is None:
        min_energy = CHALLENGE_MIN_ENERGY.get(geometry.name, 0.0)
    showers = np.where(showers < min_energy, 0.0, showers)
    features = high_level_features(showers, e_inc, geometry, threshold=0.0)
    features["e_inc"] = e_inc
    length = 1.0 if geometry.cartesian else 1.0 / CHALLENGE_LENGTH_SCALE
    columns = []
    for name, kind in _challenge_layout(geometry):
        values = features[name]
        if kind == "log":
            values = np.log10(values)
        elif kind == "log_offset":
            values = np.log10(values + CHALLENGE_LOG_OFFSET)
        elif kind == "length":
            values = values * length
        columns.append(values)
    return np.column_stack(columns)
