"""Invertible preprocessing of calorimeter showers, as the calorimeter literature uses it.

Physical units: ``x`` ``(N, V)`` voxel energies in MeV (``>= 0``), flattened as the
:class:`~genhep.geometry.calorimeter.CaloGeometry` describes; the incident energy
``E_inc`` ``(N, 1)`` (or ``(N,)``) in MeV (``> 0``) is the event's condition.

Transforms (all on torch tensors, in the dtype they are given: float64 in, float64 out):

* :class:`NormalizeByIncident` — ``y = x / E_inc`` (voxel fractions of the incident energy);
  inverse ``x = y · E_inc``.
* :class:`SnapToZero` — identity forward; inverse sets every value at or below ``snap``
  (default 1e-9) to exactly 0, so that empty voxels (and negative outputs of a model) come back
  as exact zeros through a standardisation.
* :class:`Logit` — ``y = logit(α + (1 − 2α) x)`` for ``x`` in [0, 1]; inverse
  ``x = (sigmoid(y) − α) / (1 − 2α)``, clipped to [0, 1], then *snapped*: values below
  ``snap`` (default ``α / 100``) become exactly 0 and values above ``1 − snap`` exactly 1.
  The logit cannot resolve values far below α anyway (``logit(α + x) ≈ logit(α) + x/α``); the
  snap makes zeros (and ones) survive a round trip through float32 model space, where
  ``sigmoid(logit(α))`` comes back as ``α (1 ± 1e-6)``.
* :class:`LogEnergy` — ``y = log(x + ε)``; inverse ``x = exp(y) − ε``, and every value at or
  below ``zero_threshold`` (default ``ε / 100``, so also every negative one) becomes exactly 0.
  Choose ε well below the smallest non-zero value that matters (e.g. the readout threshold).
* :class:`LayerFractions` — CaloFlow's representation (Krause & Shih, arXiv:2106.05285):
  with layer energies ``E_i = Σ_{v in i} x_v`` (``i = 0 … L−1`` in the order of
  ``geometry.layer_ids``), ``E_tot = Σ_i E_i`` and the remainders ``S_i = Σ_{j ≥ i} E_j``,
  forward returns the ``(N, V + L)`` concatenation

  - ``n_v = x_v / E_{i(v)}``: voxels normalised within their layer (0 in an empty layer), V
    columns in voxel order;
  - ``u_0 = E_tot / (f · E_inc)`` and ``u_i = E_{i−1} / S_{i−1}`` for ``i = 1 … L−1``
    (0 where ``S_{i−1} = 0``), L columns — CaloFlow's u-variables, each in [0, 1] (``f`` is
    ``max_deposit``, the largest ``E_tot / E_inc`` the data may reach; CaloFlow's 2.42 / 4.65
    for dataset 1; fitted as ``1.1 · max(1, max_train(E_tot / E_inc))`` when not given).

  The inverse rebuilds the layer energies multiplicatively, ``R_0 = u_0 f E_inc``,
  ``E_{i−1} = u_i R_{i−1}``, ``R_i = (1 − u_i) R_{i−1}``, ``E_{L−1} = R_{L−1}`` (so an empty
  layer stays exactly 0), then ``x_v = E_i · n_v / Σ_{w in i} n_w`` — normalised voxels are
  renormalised per layer (as CaloFlow does with sampled showers), negative ones clipped to 0;
  a layer whose ``n`` sum to 0 gets no energy. :func:`layer_energies_to_u` and
  :func:`u_to_layer_energies` expose the u-variables alone (CaloFlow's flow I).
* :class:`LogIncidentEnergy` — the condition: ``c = log(E_inc / E_min) / log(E_max / E_min)``
  (in [0, 1] over the training range), inverse ``E_inc = E_min (E_max / E_min)^c``; ``E_min``
  and ``E_max`` (MeV) configured or fitted on the training split (with ``E_max = E_min`` the
  scale is 1: ``c = log(E_inc / E_min)``).

API: every transform has the one signature of :class:`~genhep.data.transforms.Transform`,
``fit(x, *, cond, mask)``, ``forward(x, *, cond, mask)``, ``inverse(y, *, cond, mask)``; the
data module passes ``cond`` = the incident energies in physical units (MeV, never the
log-scaled model-space condition). Those that need it (``NormalizeByIncident``,
``LayerFractions``) raise a clear error without it; the others ignore it.
:func:`make_calorimeter_transform` builds the pipelines the data module offers
(:data:`TRANSFORMS`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from genhep.data.transforms import Compose, Identity, Standardize, Transform
from genhep.geometry.calorimeter import CaloGeometry, get_geometry

__all__ = [
    "TRANSFORMS",
    "LayerFractions",
    "LogEnergy",
    "LogIncidentEnergy",
    "Logit",
    "NormalizeByIncident",
    "SnapToZero",
    "layer_energies_to_u",
    "make_calorimeter_transform",
    "model_space_width",
    "u_to_layer_energies",
]

#: Pipelines :func:`make_calorimeter_transform` builds (all but ``none`` optionally followed
#: by :class:`Standardize`).
TRANSFORMS: dict[str, str] = {
    "none": "voxel energies in MeV, unchanged",
    "voxel_fraction": "x / E_inc (the ATLAS VAE's input; in [0, 1] per voxel)",
    "log_energy": "log(x / E_inc + eps)",
    "voxel_fraction_logit": "logit(alpha + (1 - 2 alpha) x / E_inc)",
    "layer_fractions": "CaloFlow: logit of [voxels / layer energy (V), u-variables (L)]",
}


def _incident(cond: Tensor | None, x: Tensor, who: str) -> Tensor:
    """``E_inc`` as an ``(N, 1)`` tensor of ``x``'s dtype and device; checked ``> 0``."""
    if cond is None:
        raise ValueError(f"{who} needs the incident energies: pass cond=E_inc (N, 1) in MeV")
    e_inc = torch.as_tensor(cond).to(device=x.device, dtype=x.dtype)
    if e_inc.ndim == 1:
        e_inc = e_inc[:, None]
    if e_inc.shape != (x.shape[0], 1):
        raise ValueError(
            f"{who}: cond must be E_inc of shape ({x.shape[0]}, 1) to match x {tuple(x.shape)}, "
            f"got {tuple(e_inc.shape)}"
        )
    if not bool((e_inc > 0).all()):
        raise ValueError(f"{who}: incident energies must be > 0, got min {e_inc.min().item()}")
    return e_inc


def _scalar(value: float | None) -> Tensor | None:
    return None if value is None else torch.tensor(float(value), dtype=torch.float64)


def _check_nonnegative(x: Tensor, who: str) -> None:
    if x.numel() and bool((x < 0).any()):
        raise ValueError(f"{who} needs non-negative energies, got min {x.min().item()!r}")


class NormalizeByIncident(Transform):
    """``y = x / E_inc`` (fraction of the incident energy per voxel); inverse ``x = y · E_inc``."""

    def forward(
        self, x: Tensor, *, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        return x / _incident(cond, x, "NormalizeByIncident")

    def inverse(
        self, x: Tensor, *, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        return x * _incident(cond, x, "NormalizeByIncident")


class SnapToZero(Transform):
    """Identity forward; inverse: values ``<= snap`` become exactly 0 (see the module docstring).

    Args:
        snap: in the units of the values (a voxel fraction of E_inc for ``voxel_fraction``:
            1e-9 is 4 keV at 4 TeV, far below any readout threshold and above the rounding
            a standardisation in float64 leaves on a zero).
    """

    def __init__(self, snap: float = 1e-9) -> None:
        if not snap >= 0:
            raise ValueError(f"SnapToZero snap must be >= 0, got {snap}")
        self.snap = float(snap)

    def inverse(
        self, x: Tensor, *, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        return torch.where(x > self.snap, x, torch.zeros_like(x))

    def __repr__(self) -> str:
        return f"SnapToZero(snap={self.snap:g})"


class Logit(Transform):
    """``y = logit(α + (1 − 2α) x)`` for ``x`` in [0, 1]; see the module docstring.

    Args:
        alpha: the offset α that keeps 0 and 1 finite (CaloFlow: 1e-6).
        snap: on ``inverse``, values below ``snap`` become 0 and above ``1 − snap`` become 1;
            default ``alpha / 100``.
        tolerance: ``forward`` accepts values up to this far outside [0, 1] (rounding) and
            clips them; anything further out is an error.
    """

    def __init__(
        self, alpha: float = 1e-6, snap: float | None = None, tolerance: float = 1e-9
    ) -> None:
        if not 0.0 < alpha < 0.5:
            raise ValueError(f"Logit alpha must be in (0, 0.5), got {alpha}")
        self.alpha = float(alpha)
        self.snap = self.alpha / 100 if snap is None else float(snap)
        if not 0.0 <= self.snap < 0.5:
            raise ValueError(f"Logit snap must be in [0, 0.5), got {self.snap}")
        self.tolerance = float(tolerance)

    def forward(
        self, x: Tensor, *, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        if x.numel():
            low, high = x.min().item(), x.max().item()
            if low < -self.tolerance or high > 1.0 + self.tolerance:
                raise ValueError(
                    f"Logit needs values in [0, 1], got min {low!r} and max {high!r} "
                    "(for layer_fractions raise data.max_deposit above the largest E_tot / E_inc)"
                )
        p = self.alpha + (1.0 - 2.0 * self.alpha) * x.clamp(0.0, 1.0)
        return torch.log(p) - torch.log1p(-p)

    def inverse(
        self, x: Tensor, *, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        y = ((torch.sigmoid(x) - self.alpha) / (1.0 - 2.0 * self.alpha)).clamp(0.0, 1.0)
        y = torch.where(y < self.snap, torch.zeros_like(y), y)
        return torch.where(y > 1.0 - self.snap, torch.ones_like(y), y)

    def __repr__(self) -> str:
        return f"Logit(alpha={self.alpha:g})"


class LogEnergy(Transform):
    """``y = log(x + ε)``; inverse ``exp(y) − ε`` with values ``<= zero_threshold`` set to 0.

    Args:
        eps: the offset ε (units of ``x``), well below its smallest non-zero value of interest.
        zero_threshold: default ``eps / 100``; non-zero inputs at or below it do not survive a
            round trip (they come back as 0).
    """

    def __init__(self, eps: float = 1e-8, zero_threshold: float | None = None) -> None:
        if not eps > 0:
            raise ValueError(f"LogEnergy eps must be > 0, got {eps}")
        self.eps = float(eps)
        self.zero_threshold = self.eps / 100 if zero_threshold is None else float(zero_threshold)

    def forward(
        self, x: Tensor, *, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        _check_nonnegative(x, "LogEnergy")
        return torch.log(x + self.eps)

    def inverse(
        self, x: Tensor, *, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        y = torch.exp(x) - self.eps
        return torch.where(y > self.zero_threshold, y, torch.zeros_like(y))

    def __repr__(self) -> str:
        return f"LogEnergy(eps={self.eps:g})"


def _layer_sums(x: Tensor, slices: Sequence[slice]) -> Tensor:
    """(N, L) sums of ``x`` (N, V) over each layer's contiguous voxel range."""
    return torch.stack([x[:, s].sum(dim=1) for s in slices], dim=1)


def _safe_ratio(numerator: Tensor, denominator: Tensor) -> Tensor:
    """``numerator / denominator`` where the denominator is > 0, else 0 (no NaN, no inf)."""
    positive = denominator > 0
    return torch.where(
        positive, numerator / torch.where(positive, denominator, 1.0), torch.zeros_like(numerator)
    )


def layer_energies_to_u(
    layer_energies: Tensor, incident_energies: Tensor, max_deposit: float | Tensor = 1.0
) -> Tensor:
    """CaloFlow's u-variables ``(N, L)`` of layer energies ``(N, L)`` (MeV, ``>= 0``).

    ``u_0 = E_tot / (max_deposit · E_inc)``, ``u_i = E_{i−1} / Σ_{j ≥ i−1} E_j`` for
    ``i = 1 … L−1`` (0 where that remainder is 0). ``incident_energies``: (N, 1) or (N,), MeV.
    """
    e = layer_energies
    e_inc = _incident(incident_energies, e, "layer_energies_to_u")
    remainders = e.flip(1).cumsum(1).flip(1)  # S_i = Σ_{j >= i} E_j
    u0 = remainders[:, :1] / (e_inc * max_deposit)
    return torch.cat([u0, _safe_ratio(e[:, :-1], remainders[:, :-1])], dim=1)


def u_to_layer_energies(
    u: Tensor, incident_energies: Tensor, max_deposit: float | Tensor = 1.0
) -> Tensor:
    """Layer energies ``(N, L)`` (MeV) from u-variables ``(N, L)``: the inverse of
    :func:`layer_energies_to_u` (u clipped to [0, 1]; a zero remainder stays exactly 0)."""
    u = u.clamp(0.0, 1.0)
    e_inc = _incident(incident_energies, u, "u_to_layer_energies")
    remainder = u[:, :1] * max_deposit * e_inc
    energies = []
    for i in range(1, u.shape[1]):
        energies.append(u[:, i : i + 1] * remainder)
        remainder = remainder * (1.0 - u[:, i : i + 1])
    energies.append(remainder)
    return torch.cat(energies, dim=1)


class LayerFractions(Transform):
    """CaloFlow's ``[n (V), u (L)]`` representation of showers; see the module docstring.

    Args:
        geometry: the voxel layout (a :class:`CaloGeometry` or its name).
        max_deposit: ``f`` in ``u_0 = E_tot / (f · E_inc)``; ``None``: fitted on the training
            showers as ``1.1 · max(1, max E_tot / E_inc)`` (stored in the state dict).
    """

    state_keys = ("max_deposit",)

    def __init__(self, geometry: CaloGeometry | str, max_deposit: float | None = None) -> None:
        self.geometry = get_geometry(geometry) if isinstance(geometry, str) else geometry
        self.slices = self.geometry.layer_slices
        self.voxel_layer = torch.as_tensor(self.geometry.voxel_layer_index.copy())
        if max_deposit is not None and not max_deposit > 0:
            raise ValueError(f"LayerFractions max_deposit must be > 0, got {max_deposit}")
        self.max_deposit: Tensor | None = _scalar(max_deposit)

    @property
    def n_voxels(self) -> int:
        return self.geometry.n_voxels

    @property
    def n_layers(self) -> int:
        return self.geometry.n_layers

    def _check(self, x: Tensor, width: int, what: str) -> None:
        if x.ndim != 2 or x.shape[1] != width:
            raise ValueError(
                f"LayerFractions({self.geometry.name}) expects {what} of shape (N, {width}), "
                f"got {tuple(x.shape)}"
            )

    def _f(self, x: Tensor) -> Tensor:
        if self.max_deposit is None:
            raise RuntimeError("LayerFractions used before fit() or load_state_dict()")
        return self.max_deposit.to(device=x.device, dtype=x.dtype)

    def fit(
        self, x: Tensor, *, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> LayerFractions:
        if self.max_deposit is None:
            self._check(x, self.n_voxels, "showers")
            ratio = x.sum(dim=1, keepdim=True) / _incident(cond, x, "LayerFractions")
            top = max(1.0, float(ratio.max())) if ratio.numel() else 1.0
            self.max_deposit = torch.tensor(1.1 * top, dtype=torch.float64)
        return self

    def forward(
        self, x: Tensor, *, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        self._check(x, self.n_voxels, "showers")
        _check_nonnegative(x, "LayerFractions")
        e_inc = _incident(cond, x, "LayerFractions")
        layers = _layer_sums(x, self.slices)
        normalised = _safe_ratio(x, layers[:, self.voxel_layer.to(x.device)])
        return torch.cat([normalised, layer_energies_to_u(layers, e_inc, self._f(x))], dim=1)

    def inverse(
        self, x: Tensor, *, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        self._check(x, self.n_voxels + self.n_layers, "[normalised voxels, u]")
        e_inc = _incident(cond, x, "LayerFractions")
        normalised = x[:, : self.n_voxels].clamp(min=0.0)
        layers = u_to_layer_energies(x[:, self.n_voxels :], e_inc, self._f(x))
        scale = _safe_ratio(layers, _layer_sums(normalised, self.slices))
        return normalised * scale[:, self.voxel_layer.to(x.device)]

    def __repr__(self) -> str:
        return f"LayerFractions({self.geometry.name!r})"


class LogIncidentEnergy(Transform):
    """The condition: ``c = log(E_inc / E_min) / log(E_max / E_min)``; see the module docstring.

    Args:
        e_min, e_max: MeV; both ``None`` (default): fitted as the training split's range.
    """

    state_keys = ("e_min", "e_max")

    def __init__(self, e_min: float | None = None, e_max: float | None = None) -> None:
        if (e_min is None) != (e_max is None):
            raise ValueError("give both data.e_min and data.e_max (MeV), or neither")
        if e_min is not None and not 0 < e_min <= e_max:
            raise ValueError(f"need 0 < e_min <= e_max, got e_min={e_min}, e_max={e_max}")
        self.e_min: Tensor | None = _scalar(e_min)
        self.e_max: Tensor | None = _scalar(e_max)

    def fit(
        self, x: Tensor, *, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> LogIncidentEnergy:
        x = x.double()
        self.e_min, self.e_max = x.min().clone(), x.max().clone()
        if not self.e_min > 0:
            raise ValueError(f"incident energies must be > 0, got min {self.e_min.item()}")
        return self

    def _params(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.e_min is None or self.e_max is None:
            raise RuntimeError("LogIncidentEnergy used before fit() or load_state_dict()")
        log_min = torch.log(self.e_min)
        span = torch.log(self.e_max) - log_min
        span = torch.where(span > 0, span, torch.ones_like(span))
        return log_min.to(x.device, x.dtype), span.to(x.device, x.dtype)

    def forward(
        self, x: Tensor, *, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        log_min, span = self._params(x)
        return (torch.log(x) - log_min) / span

    def inverse(
        self, x: Tensor, *, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        log_min, span = self._params(x)
        return torch.exp(x * span + log_min)

    def __repr__(self) -> str:
        return "LogIncidentEnergy()"


def make_calorimeter_transform(
    name: str,
    geometry: CaloGeometry,
    alpha: float = 1e-6,
    eps: float = 1e-8,
    standardize: bool = True,
    max_deposit: float | None = None,
) -> Compose:
    """The data module's ``x`` pipeline ``name`` (a key of :data:`TRANSFORMS`).

    * ``none``: identity (MeV);
    * ``voxel_fraction``: ``NormalizeByIncident → SnapToZero`` (fractions of E_inc, what the
      ATLAS VAE's sigmoid outputs model; ``standardize=False`` keeps them in [0, 1]);
    * ``log_energy``: ``NormalizeByIncident → LogEnergy(eps)``;
    * ``voxel_fraction_logit``: ``NormalizeByIncident → Logit(alpha)``;
    * ``layer_fractions``: ``LayerFractions(geometry, max_deposit) → Logit(alpha)``
      (model space has V + L columns);

    each but ``none`` followed by a per-feature :class:`Standardize` when ``standardize``
    (``none`` stays the identity, so that zeros stay exactly zero).
    """
    steps: list[Transform]
    if name == "none":
        return Compose([Identity()])
    if name == "voxel_fraction":
        steps = [NormalizeByIncident(), SnapToZero()]
    elif name == "log_energy":
        steps = [NormalizeByIncident(), LogEnergy(eps)]
    elif name == "voxel_fraction_logit":
        steps = [NormalizeByIncident(), Logit(alpha)]
    elif name == "layer_fractions":
        steps = [LayerFractions(geometry, max_deposit), Logit(alpha)]
    else:
        raise ValueError(
            f"unknown calorimeter transform {name!r}; choose one of {list(TRANSFORMS)}"
        )
    if standardize:
        steps.append(Standardize())
    return Compose(steps)


def model_space_width(name: str, geometry: CaloGeometry) -> int:
    """Columns of ``x`` in model space for pipeline ``name``: V, or V + L for layer_fractions."""
    return geometry.n_voxels + (geometry.n_layers if name == "layer_fractions" else 0)
