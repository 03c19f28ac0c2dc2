"""Calorimeter geometries: what each entry of a flat shower vector ``(N, V)`` is.

Two kinds of layout, both flattened layer after layer in increasing layer id:

**Polar (CaloChallenge 2022, datasets 1-3).** Each layer is binned in radius ``r`` (mm, distance
from the particle's axis, given by bin edges) and in ``n_alpha`` equal bins of the polar angle
``α``. Within a layer ``α`` is the slow index and ``r`` the fast one::

    voxel = layer_offset + i_alpha * n_r + i_r

as in the challenge's ``XMLHandler.fill_r_a_lists`` (outer loop over α bins, inner loop over r
bins) and ``HighLevelFeatures._DrawShower`` (``layer.reshape(n_alpha, -1)``). Voxel centres follow
``XMLHandler`` exactly:

* radial centre: the arithmetic midpoint ``(r_i + r_{i+1}) / 2`` of the bin (``get_midpoint``);
* angular centre: the midpoints of ``linspace(-π, π, n_alpha + 1)``, i.e.
  ``α_k = -π + (k + ½)·2π/n_alpha``; a layer with one α bin has ``α = 0``;
* the Cartesian-like centres the challenge calls ``eta`` and ``phi`` (mm, in the layer plane):
  ``eta = r cos α``, ``phi = r sin α`` (``SetEtaAndPhiFromPolar``).

**Cartesian η×φ grid (the 266-cell ATLAS photon geometry).** Each layer is a rectangular grid of
``n_eta × n_phi`` cells centred on the photon direction; η is the slow index and φ the fast one
(row-major ``(n_eta, n_phi)`` images). Cell centres are Δη (dimensionless) and Δφ (rad) from the
photon direction; ``voxel_r = hypot(Δη, Δφ)`` and ``voxel_alpha = atan2(Δφ, Δη)`` are given for
convenience.

The geometries genhep knows ship as JSON package data in ``binning/`` (one file per geometry,
converted once from the challenge's binning XML files with :meth:`CaloGeometry.from_xml`); nothing
is read from outside the package at run time. :data:`GEOMETRIES` holds them by name,
:func:`get_geometry` looks one up and :func:`geometry_for_voxels` finds the one a file's voxel
count belongs to.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "ALIASES",
    "GEOMETRIES",
    "CaloGeometry",
    "geometry_for_voxels",
    "get_geometry",
]


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


def _edges(values: Sequence[float], what: str) -> tuple[float, ...]:
    edges = tuple(float(v) for v in values)
    if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
        raise ValueError(f"{what} must be at least two strictly increasing values, got {edges}")
    return edges


def _centred_edges(n: int, width: float) -> tuple[float, ...]:
    """Edges of ``n`` cells of ``width``, symmetric about 0."""
    return tuple(float((k - n / 2) * width) for k in range(n + 1))


@dataclass(frozen=True)
class CaloGeometry:
    """Voxel layout of one calorimeter data set; see the module docstring for the conventions.

    Fields (per layer, in the order of ``layer_ids``):

    * ``r_edges`` (mm) and ``n_alpha``: radial bin edges and number of α bins (polar layout);
    * ``eta_edges`` and ``phi_edges``: Δη and Δφ (rad) cell edges (``cartesian=True`` layout);
    * ``layer_names``: optional human names (e.g. ``"strips"``).

    Derived per-voxel arrays (length ``n_voxels``, read-only): ``voxel_layer`` (layer id),
    ``voxel_layer_index`` (position in ``layer_ids``), ``voxel_r``, ``voxel_alpha``,
    ``voxel_eta``, ``voxel_phi``; per layer: ``layer_shapes`` ((slow, fast) = (n_alpha, n_r) or
    (n_eta, n_phi)), ``layer_sizes`` and ``layer_slices`` (contiguous voxel ranges).
    """

    name: str
    particle: str
    layer_ids: tuple[int, ...]
    r_edges: tuple[tuple[float, ...], ...] = ()
    n_alpha: tuple[int, ...] = ()
    cartesian: bool = False
    eta_edges: tuple[tuple[float, ...], ...] = ()
    phi_edges: tuple[tuple[float, ...], ...] = ()
    layer_names: tuple[str, ...] = ()
    pid: int | None = None
    source: str = ""

    def __post_init__(self) -> None:
        ids = tuple(int(i) for i in self.layer_ids)
        if not ids or any(b <= a for a, b in zip(ids, ids[1:], strict=False)):
            raise ValueError(f"{self.name}: layer_ids must be strictly increasing, got {ids}")
        n = len(ids)
        set_ = object.__setattr__
        set_(self, "layer_ids", ids)
        set_(self, "layer_names", tuple(str(s) for s in self.layer_names))
        if self.layer_names and len(self.layer_names) != n:
            raise ValueError(f"{self.name}: {len(self.layer_names)} layer names for {n} layers")
        if self.cartesian:
            if self.r_edges or self.n_alpha:
                raise ValueError(f"{self.name}: a Cartesian geometry has no r_edges / n_alpha")
            eta = tuple(_edges(e, f"{self.name} eta_edges") for e in self.eta_edges)
            phi = tuple(_edges(e, f"{self.name} phi_edges") for e in self.phi_edges)
            if len(eta) != n or len(phi) != n:
                raise ValueError(
                    f"{self.name}: need eta_edges and phi_edges for each of the {n} layers, "
                    f"got {len(eta)} and {len(phi)}"
                )
            set_(self, "eta_edges", eta)
            set_(self, "phi_edges", phi)
        else:
            if self.eta_edges or self.phi_edges:
                raise ValueError(f"{self.name}: a polar geometry has no eta_edges / phi_edges")
            r = tuple(_edges(e, f"{self.name} r_edges") for e in self.r_edges)
            alpha = tuple(int(a) for a in self.n_alpha)
            if len(r) != n or len(alpha) != n:
                raise ValueError(
                    f"{self.name}: need r_edges and n_alpha for each of the {n} layers, "
                    f"got {len(r)} and {len(alpha)}"
                )
            if any(a < 1 for a in alpha):
                raise ValueError(f"{self.name}: n_alpha must be >= 1, got {alpha}")
            set_(self, "r_edges", r)
            set_(self, "n_alpha", alpha)

    # ---------------------------------------------------------------- per layer

    @property
    def n_layers(self) -> int:
        return len(self.layer_ids)

    @cached_property
    def layer_shapes(self) -> tuple[tuple[int, int], ...]:
        """(slow, fast) voxel counts per layer: (n_alpha, n_r) polar, (n_eta, n_phi) Cartesian."""
        if self.cartesian:
            return tuple(
                (len(e) - 1, len(p) - 1)
                for e, p in zip(self.eta_edges, self.phi_edges, strict=True)
            )
        return tuple((a, len(r) - 1) for a, r in zip(self.n_alpha, self.r_edges, strict=True))

    @cached_property
    def layer_sizes(self) -> tuple[int, ...]:
        return tuple(slow * fast for slow, fast in self.layer_shapes)

    @cached_property
    def layer_slices(self) -> tuple[slice, ...]:
        """Contiguous voxel index range of each layer, in the order of ``layer_ids``."""
        stops = np.cumsum(self.layer_sizes)
        return tuple(
            slice(int(stop - size), int(stop))
            for stop, size in zip(stops, self.layer_sizes, strict=True)
        )

    @property
    def n_voxels(self) -> int:
        return int(sum(self.layer_sizes))

    @cached_property
    def alpha_binned_layers(self) -> tuple[int, ...]:
        """Layer ids with a 2-D transverse binning: those the challenge computes η/φ features for.

        Polar: layers with ``n_alpha > 1`` (``XMLHandler.layerWithBinningInAlpha``); in a layer
        with a single α bin every voxel sits at α = 0, so its φ-like coordinate is identically 0
        and its η-like one equals r. Cartesian: every layer.
        """
        if self.cartesian:
            return self.layer_ids
        return tuple(i for i, a in zip(self.layer_ids, self.n_alpha, strict=True) if a > 1)

    @property
    def coordinate_unit(self) -> str:
        """Unit of ``voxel_eta`` / ``voxel_phi`` / ``voxel_r``: mm (polar) or Δη / rad (Cartesian)."""
        return "eta, rad" if self.cartesian else "mm"

    def layer_index(self, layer_id: int) -> int:
        """Position of ``layer_id`` in ``layer_ids``."""
        try:
            return self.layer_ids.index(int(layer_id))
        except ValueError:
            raise ValueError(
                f"{self.name} has no layer {layer_id}; its layers are {list(self.layer_ids)}"
            ) from None

    def layer_slice(self, layer_id: int) -> slice:
        return self.layer_slices[self.layer_index(layer_id)]

    def layer_grid(self, showers: np.ndarray, layer_id: int) -> np.ndarray:
        """One layer of ``showers (..., V)`` as ``(..., slow, fast)``: (α, r) or (η, φ)."""
        showers = np.asarray(showers)
        if showers.shape[-1] != self.n_voxels:
            raise ValueError(
                f"{self.name} expects {self.n_voxels} voxels, got shape {showers.shape}"
            )
        i = self.layer_index(layer_id)
        return showers[..., self.layer_slices[i]].reshape(
            *showers.shape[:-1], *self.layer_shapes[i]
        )

    # ---------------------------------------------------------------- per voxel

    @cached_property
    def voxel_layer_index(self) -> np.ndarray:
        """(V,) position in ``layer_ids`` of each voxel's layer."""
        return _readonly(np.repeat(np.arange(self.n_layers), self.layer_sizes))

    @cached_property
    def voxel_layer(self) -> np.ndarray:
        """(V,) layer id of each voxel."""
        return _readonly(np.repeat(np.asarray(self.layer_ids), self.layer_sizes))

    @cached_property
    def _polar_centres(self) -> tuple[np.ndarray, np.ndarray]:
        r_parts, a_parts = [], []
        for edges, n_alpha in zip(self.r_edges, self.n_alpha, strict=True):
            e = np.asarray(edges)
            r_mid = e[:-1] + (e[1:] - e[:-1]) / 2  # XMLHandler.get_midpoint
            a_edges = np.linspace(-math.pi, math.pi, n_alpha + 1)
            a_mid = a_edges[:-1] + (a_edges[1:] - a_edges[:-1]) / 2
            # α slow, r fast: np.repeat / np.tile give (α_0, r_0), (α_0, r_1), ...
            r_parts.append(np.tile(r_mid, n_alpha))
            a_parts.append(np.repeat(a_mid, r_mid.size))
        return np.concatenate(r_parts), np.concatenate(a_parts)

    @cached_property
    def _cartesian_centres(self) -> tuple[np.ndarray, np.ndarray]:
        eta_parts, phi_parts = [], []
        for eta_edges, phi_edges in zip(self.eta_edges, self.phi_edges, strict=True):
            e, p = np.asarray(eta_edges), np.asarray(phi_edges)
            e_mid, p_mid = (e[:-1] + e[1:]) / 2, (p[:-1] + p[1:]) / 2
            eta_parts.append(np.repeat(e_mid, p_mid.size))  # η slow
            phi_parts.append(np.tile(p_mid, e_mid.size))  # φ fast
        return np.concatenate(eta_parts), np.concatenate(phi_parts)

    @cached_property
    def voxel_r(self) -> np.ndarray:
        """(V,) radial centre: bin midpoint in mm (polar); hypot(Δη, Δφ) (Cartesian)."""
        if self.cartesian:
            return _readonly(np.hypot(*self._cartesian_centres))
        return _readonly(self._polar_centres[0].copy())

    @cached_property
    def voxel_alpha(self) -> np.ndarray:
        """(V,) angular centre in rad: α-bin midpoint in (-π, π) (polar); atan2(Δφ, Δη)."""
        if self.cartesian:
            eta, phi = self._cartesian_centres
            return _readonly(np.arctan2(phi, eta))
        return _readonly(self._polar_centres[1].copy())

    @cached_property
    def voxel_eta(self) -> np.ndarray:
        """(V,) η-like centre: ``r cos α`` in mm (polar, as the challenge); Δη (Cartesian)."""
        if self.cartesian:
            return _readonly(self._cartesian_centres[0].copy())
        r, alpha = self._polar_centres
        return _readonly(r * np.cos(alpha))

    @cached_property
    def voxel_phi(self) -> np.ndarray:
        """(V,) φ-like centre: ``r sin α`` in mm (polar, as the challenge); Δφ in rad (Cartesian)."""
        if self.cartesian:
            return _readonly(self._cartesian_centres[1].copy())
        r, alpha = self._polar_centres
        return _readonly(r * np.sin(alpha))

    # ---------------------------------------------------------------- (de)serialisation

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (the package-data format; see :meth:`from_dict`)."""
        layers: list[dict[str, Any]] = []
        for i, layer_id in enumerate(self.layer_ids):
            layer: dict[str, Any] = {"id": layer_id}
            if self.layer_names:
                layer["name"] = self.layer_names[i]
            if self.cartesian:
                layer["eta_edges"] = list(self.eta_edges[i])
                layer["phi_edges"] = list(self.phi_edges[i])
            else:
                layer["r_edges"] = list(self.r_edges[i])
                layer["n_alpha"] = self.n_alpha[i]
            layers.append(layer)
        return {
            "name": self.name,
            "particle": self.particle,
            "pid": self.pid,
            "cartesian": self.cartesian,
            "source": self.source,
            "layers": layers,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CaloGeometry:
        """Build from the package-data format.

        ``layers`` is a list of ``{"id", "r_edges", "n_alpha"}`` (polar) or, with
        ``"cartesian": true``, of ``{"id", "eta_edges", "phi_edges"}`` or
        ``{"id", "n_eta", "deta", "n_phi", "dphi"}`` (a grid of equal cells centred on 0).
        Each layer may carry a ``"name"``.
        """
        cartesian = bool(data.get("cartesian", False))
        layers = list(data["layers"])
        kwargs: dict[str, Any] = {}
        if cartesian:
            eta, phi = [], []
            for layer in layers:
                if "eta_edges" in layer:
                    eta.append(layer["eta_edges"])
                    phi.append(layer["phi_edges"])
                else:
                    eta.append(_centred_edges(int(layer["n_eta"]), float(layer["deta"])))
                    phi.append(_centred_edges(int(layer["n_phi"]), float(layer["dphi"])))
            kwargs.update(eta_edges=eta, phi_edges=phi)
        else:
            kwargs.update(
                r_edges=[layer["r_edges"] for layer in layers],
                n_alpha=[layer["n_alpha"] for layer in layers],
            )
        names = [layer.get("name") for layer in layers]
        return cls(
            name=str(data["name"]),
            particle=str(data["particle"]),
            layer_ids=tuple(int(layer["id"]) for layer in layers),
            cartesian=cartesian,
            layer_names=tuple(names) if all(n is not None for n in names) else (),
            pid=None if data.get("pid") is None else int(data["pid"]),
            source=str(data.get("source", "")),
            **kwargs,
        )

    @classmethod
    def from_xml(
        cls, path: str | Path, particle: str | None = None, name: str | None = None
    ) -> CaloGeometry:
        """Read a CaloChallenge binning XML file (``<Bins><Bin name=... pid=...><Layer .../>``).

        ``particle`` selects the ``<Bin>`` by its ``name`` attribute (needed when the file has
        several). Layers whose ``r_edges`` hold a single value have no voxels and are skipped,
        as in the challenge's ``XMLHandler`` (they are not in ``GetRelevantLayers``).
        """
        root = ET.parse(path).getroot()
        bins = [b for b in root if particle is None or b.attrib.get("name") == particle]
        if len(bins) != 1:
            found = [b.attrib.get("name") for b in root]
            raise ValueError(
                f"{path}: need exactly one <Bin> for particle={particle!r}, found {found}"
            )
        (bin_,) = bins
        ids, r_edges, n_alpha = [], [], []
        for layer in bin_:
            edges = [float(s) for s in layer.attrib["r_edges"].split(",")]
            if len(edges) < 2:
                continue
            ids.append(int(layer.attrib["id"]))
            r_edges.append(edges)
            n_alpha.append(int(layer.attrib["n_bin_alpha"]))
        part = bin_.attrib.get("name", particle or "")
        pid = bin_.attrib.get("pid")
        return cls(
            name=name or Path(path).stem,
            particle=part,
            layer_ids=tuple(ids),
            r_edges=tuple(r_edges),
            n_alpha=tuple(n_alpha),
            pid=None if pid is None else int(pid),
            source=Path(path).name,
        )


# -------------------------------------------------------------------- registry

_BINNING_DIR = files(__package__) / "binning"

#: The challenge's own dataset names (``evaluate.py --dataset``) mapped to genhep's.
ALIASES: dict[str, str] = {
    "1-photons": "ds1_photons",
    "1-pions": "ds1_pions",
    "2": "ds2_electrons",
    "3": "ds3_electrons",
}


def _load_registry() -> dict[str, CaloGeometry]:
    registry: dict[str, CaloGeometry] = {}
    for entry in sorted(_BINNING_DIR.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        geometry = CaloGeometry.from_dict(json.loads(entry.read_text(encoding="utf-8")))
        stem = entry.name[: -len(".json")]
        if geometry.name != stem:
            raise RuntimeError(f"binning/{entry.name} describes geometry {geometry.name!r}")
        registry[geometry.name] = geometry
    return registry


#: Every geometry genhep ships, by name.
GEOMETRIES: dict[str, CaloGeometry] = _load_registry()


def get_geometry(name: str) -> CaloGeometry:
    """The geometry called ``name`` (a key of :data:`GEOMETRIES` or of :data:`ALIASES`)."""
    key = ALIASES.get(str(name), str(name))
    try:
        return GEOMETRIES[key]
    except KeyError:
        raise ValueError(
            f"unknown calorimeter geometry {name!r}; known: {sorted(GEOMETRIES)} "
            f"(aliases: {sorted(ALIASES)})"
        ) from None


def geometry_for_voxels(n_voxels: int) -> CaloGeometry:
    """The shipped geometry with ``n_voxels`` voxels; ValueError naming the accepted counts."""
    matches = [g for g in GEOMETRIES.values() if g.n_voxels == int(n_voxels)]
    if len(matches) == 1:
        return matches[0]
    accepted = ", ".join(
        f"{g.n_voxels} ({g.name})" for g in sorted(GEOMETRIES.values(), key=lambda g: g.n_voxels)
    )
    if not matches:
        raise ValueError(
            f"no calorimeter geometry has {n_voxels} voxels; accepted voxel counts: {accepted}"
        )
    raise ValueError(
        f"{n_voxels} voxels matches several geometries ({[g.name for g in matches]}); "
        "choose one by name"
    )
