"""``data=calorimeter``: voxelised showers in the CaloChallenge 2022 file format.

On disk (real CaloChallenge files, ATLAS-style photon files and genhep's own generated or
sampled showers alike, read by the same code): HDF5 with

* ``incident_energies`` ``(N, 1)`` float, MeV, ``> 0``;
* ``showers`` ``(N, V)`` float, MeV, ``>= 0``, finite, ``V`` the configured geometry's voxel
  count (368 for dataset-1 photons, 533 for pions, 266 for the ATLAS photon grid, ...), voxels
  flattened as :mod:`genhep.geometry.calorimeter` describes.

Other keys are ignored. A file breaking the schema raises :class:`SchemaError` naming the
file, the key and what was expected; a file with another geometry's voxel count is rejected
naming its count and the accepted ones.

Physical samples: ``x`` = showers (MeV), ``cond`` = incident energies ``(N, 1)`` (MeV), held in
float32 and handed to metrics in float64. Model space: ``x`` through the configured transform
(:func:`~genhep.data.calorimeter.transforms.make_calorimeter_transform`), ``cond`` through
:class:`~genhep.data.calorimeter.transforms.LogIncidentEnergy`,
``c = log(E_inc / E_min) / log(E_max / E_min)`` in [0, 1] over the training range (or the
configured ``e_min`` / ``e_max``). The ``x`` transforms need the incident energy: the base class passes
the physical ``cond`` to them (and :meth:`to_physical` needs it).

Representations (``data.representation``): ``voxels`` (the showers, above), or the energy
response for models of the response alone (the MDN of ``experiment=mdn_response``):
``response`` -- physical ``x`` = ``(N, 1)`` ``E_tot / E_inc``; ``response_layers`` -- ``(N, L)``
``[E_tot / E_inc, E_l / E_inc for the first L − 1 layers]`` (the last layer's is their
difference, left out so that the density is not degenerate). Model space: standardised
(``data.standardize``; ``data.transform`` does not apply). The evaluator is then
:class:`~genhep.evaluation.calorimeter_response.ResponseEvaluator` (scale and σ/E vs E, beside
the simulator's stated ``a/√E ⊕ b`` when the showers are generated); settings of the voxel
evaluator in ``data.evaluator`` are ignored there. Response samples are written as HDF5
``incident_energies`` ``(N, 1)`` and ``response`` ``(N, K)``; a showers file is read as its
response.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from genhep.data.base import GenerativeDataModule
from genhep.data.calorimeter.generate import cached_dataset
from genhep.data.calorimeter.schema import INCIDENT_ENERGIES, calorimeter_schema
from genhep.data.calorimeter.simulator import ShowerSimulator
from genhep.data.calorimeter.transforms import (
    TRANSFORMS,
    LogIncidentEnergy,
    make_calorimeter_transform,
    model_space_width,
)
from genhep.data.schema import ArraySpec, SchemaError, read_hdf5, write_hdf5
from genhep.data.transforms import Compose, Identity, Standardize, Transform
from genhep.evaluation.base import Evaluator, Sample
from genhep.evaluation.calorimeter import CalorimeterEvaluator
from genhep.evaluation.calorimeter_response import ResponseEvaluator
from genhep.geometry.calorimeter import GEOMETRIES, CaloGeometry, get_geometry
from genhep.metrics.shower_features import layer_energies
from genhep.spec import DataSpec

#: ``data.representation`` values: what ``x`` is (see the module docstring).
REPRESENTATIONS = ("voxels", "response", "response_layers")

__all__ = ["CalorimeterDataModule", "calorimeter_schema", "read_showers"]


def _accepted_counts() -> str:
    return ", ".join(
        f"{g.n_voxels} ({g.name})" for g in sorted(GEOMETRIES.values(), key=lambda g: g.n_voxels)
    )


def _check_voxel_count(path: Path, geometry: CaloGeometry) -> None:
    """Reject a file whose ``showers`` have another voxel count, naming the accepted ones.

    Files that are missing, unreadable or lack a 2-D ``showers`` are left to
    :func:`read_hdf5`, which reports them.
    """
    try:
        with h5py.File(path, "r") as handle:
            dataset = handle.get("showers")
            shape = dataset.shape if isinstance(dataset, h5py.Dataset) else None
    except OSError:
        return
    if shape is None or len(shape) != 2 or shape[1] == geometry.n_voxels:
        return
    count = shape[1]
    matches = [g.name for g in GEOMETRIES.values() if g.n_voxels == count]
    hint = (
        f"; {count} is the voxel count of {' / '.join(matches)}: set data.geometry={matches[0]}"
        if matches
        else ""
    )
    raise SchemaError(
        f"{path}: key 'showers': {count} voxels per shower, but data.geometry={geometry.name} "
        f"has {geometry.n_voxels}{hint}. Accepted voxel counts: {_accepted_counts()}"
    )


def read_showers(
    path: str | os.PathLike[str], geometry: CaloGeometry | str, n_events: int | None = None
) -> dict[str, np.ndarray]:
    """Read and validate a CaloChallenge-format file: ``{"incident_energies", "showers"}``.

    Arrays keep the file's dtype; at most the first ``n_events`` showers are returned.

    Raises:
        FileNotFoundError: no such file.
        SchemaError: a key is missing, has the wrong shape or dtype, holds NaN/inf, negative
            voxel energies or incident energies ``<= 0``, or the voxel count is another
            geometry's.
    """
    geometry = get_geometry(geometry) if isinstance(geometry, str) else geometry
    path = Path(path)
    if path.is_file():
        _check_voxel_count(path, geometry)
    arrays = read_hdf5(path, calorimeter_schema(geometry))
    if n_events is not None:
        arrays = {k: v[:n_events] for k, v in arrays.items()}
    return arrays


class CalorimeterDataModule(GenerativeDataModule):
    """``data=calorimeter``: showers of one geometry, conditioned on the incident energy.

    Args:
        geometry: name of a shipped geometry (``ds1_photons``, ``ds1_pions``,
            ``atlas_photons_266``, ``ds2_electrons``, ``ds3_electrons``, or the challenge's
            ``1-photons``, ``1-pions``, ``2``, ``3``).
        particle: the incident particle; defaults to the geometry's (what the parametric
            simulator makes; a label when reading files).
        path: a CaloChallenge-format HDF5 file (real or generated) to read; ``None``:
            parametric showers made by :meth:`generate`.
        n_events: read at most this many showers (``None``: all).
        transform: the ``x`` pipeline, a key of
            :data:`~genhep.data.calorimeter.transforms.TRANSFORMS`.
        standardize: append a per-feature standardisation to the pipeline.
        alpha: logit offset α (``voxel_fraction_logit``, ``layer_fractions``).
        eps: log offset ε, in units of E_inc (``log_energy``).
        max_deposit: ``layer_fractions``' bound on ``E_tot / E_inc``; ``None``: fitted.
        e_min, e_max: MeV range of the log-scaled condition; ``None``: the training range.
        data_dir: cache folder of generated files (``${paths.data_dir}``).
        generator: options of :func:`~genhep.data.calorimeter.generate.generate_showers`
            (``n_events``, ``energies``, ``e_min``, ``e_max``, ``seed``, ``n_workers``
            (``None``: every core), ``params``: simulator overrides).
        representation: ``voxels``, ``response`` or ``response_layers`` (module docstring).
        **kwargs: split and loader settings of :class:`GenerativeDataModule`.
    """

    family = "calorimeter"

    def __init__(
        self,
        geometry: str = "ds1_photons",
        particle: str | None = None,
        path: str | None = None,
        n_events: int | None = None,
        transform: str = "voxel_fraction_logit",
        standardize: bool = True,
        alpha: float = 1e-6,
        eps: float = 1e-8,
        max_deposit: float | None = None,
        e_min: float | None = None,
        e_max: float | None = None,
        data_dir: str | None = None,
        generator: Mapping[str, Any] | None = None,
        representation: str = "voxels",
        **kwargs,
    ) -> None:
        if representation not in REPRESENTATIONS:
            raise ValueError(
                f"unknown data.representation={representation!r}; choose one of {REPRESENTATIONS}"
            )
        self.representation = representation
        if transform not in TRANSFORMS:
            raise ValueError(
                f"unknown data.transform={transform!r}; choose one of {list(TRANSFORMS)}"
            )
        if n_events is not None and n_events < 1:
            raise ValueError(f"data.n_events must be >= 1 or null, got {n_events}")
        self.geometry = get_geometry(geometry)
        self.particle = particle or self.geometry.particle
        self.path = None if path is None else Path(path)
        self.n_events = n_events
        self.transform_name, self.standardize = transform, standardize
        self.alpha, self.eps, self.max_deposit = alpha, eps, max_deposit
        self.e_min, self.e_max = e_min, e_max
        self.data_dir = None if data_dir is None else Path(data_dir)
        self.generator = dict(generator or {})
        super().__init__(**kwargs)

    @property
    def spec(self) -> DataSpec:
        """Flat model-space showers conditioned on ``E_inc``; ``layout["layers"]`` names each
        layer's voxel columns (``"0"``, ``"1"``, ... by layer id) and, for ``layer_fractions``,
        ``layout["layer_energies"]["u"]`` the L u-variable columns after the voxels. Response
        representations: ``layout["response"]`` names ``"total"`` and ``"layer_<id>"``."""
        if self.representation != "voxels":
            names = ["total"]
            if self.representation == "response_layers":
                names += [f"layer_{i}" for i in self.geometry.layer_ids[:-1]]
            columns = {name: (i, i + 1) for i, name in enumerate(names)}
            return DataSpec(self.family, (len(names),), cond_dim=1, layout={"response": columns})
        width = model_space_width(self.transform_name, self.geometry)
        layers = {
            str(layer): (s.start, s.stop)
            for layer, s in zip(self.geometry.layer_ids, self.geometry.layer_slices, strict=True)
        }
        layout: dict[str, dict[str, tuple[int, int]]] = {"layers": layers}
        if width > self.geometry.n_voxels:
            layout["layer_energies"] = {"u": (self.geometry.n_voxels, width)}
        return DataSpec(self.family, (width,), cond_dim=1, layout=layout)

    @property
    def physical_event_shape(self) -> tuple[int, ...]:
        if self.representation != "voxels":
            return self.spec.event_shape
        return (self.geometry.n_voxels,)

    @property
    def schema(self) -> list[ArraySpec]:
        if self.representation != "voxels":
            return response_schema(self.spec.event_shape[0])
        return calorimeter_schema(self.geometry)

    def response(self, showers: np.ndarray, incident: np.ndarray) -> np.ndarray:
        """``(N, K)`` float32 response columns of showers (MeV) for this representation."""
        e_inc = np.asarray(incident, dtype=np.float64).reshape(-1, 1)
        layers = layer_energies(np.asarray(showers, dtype=np.float64), self.geometry) / e_inc
        columns = [layers.sum(axis=1, keepdims=True)]
        if self.representation == "response_layers":
            columns.append(layers[:, :-1])
        return np.concatenate(columns, axis=1).astype(np.float32)

    def load_arrays(self) -> Sample:
        path = self.path or self.generate()
        self.source_files = [Path(path)]
        return self.read_samples(path, self.n_events)

    def read_samples(self, path: str | os.PathLike[str], n_events: int | None = None) -> Sample:
        """``{"x": showers, "cond": incident_energies}`` (MeV, float32: dataset 3 would be
        ~16 GB in float64) from a file in the CaloChallenge format, validated (see
        :func:`read_showers`). Transforms and metrics work on float64 copies of chunks."""
        if self.representation != "voxels":
            is_response = False
            if Path(path).is_file():
                with h5py.File(path, "r") as handle:
                    is_response = "response" in handle
            if is_response:
                arrays = read_hdf5(path, self.schema)
                arrays = {k: v[:n_events] for k, v in arrays.items()}
                return {
                    "x": np.asarray(arrays["response"], dtype=np.float32),
                    "cond": np.asarray(arrays["incident_energies"], dtype=np.float32),
                }
        arrays = read_showers(path, self.geometry, n_events)
        if self.representation != "voxels":
            return {
                "x": self.response(arrays["showers"], arrays["incident_energies"]),
                "cond": np.asarray(arrays["incident_energies"], dtype=np.float32),
            }
        return {
            "x": np.asarray(arrays["showers"], dtype=np.float32),
            "cond": np.asarray(arrays["incident_energies"], dtype=np.float32),
        }

    def write_samples(self, path: str | os.PathLike[str], sample: Sample) -> Path:
        """Write ``{"x", "cond"}`` (MeV) as ``showers`` / ``incident_energies`` (float32, gzip),
        the format the CaloChallenge evaluation script reads, validated and atomically."""
        key = "showers" if self.representation == "voxels" else "response"
        arrays = {
            "incident_energies": np.asarray(sample["cond"], dtype=np.float32).reshape(-1, 1),
            key: np.asarray(sample["x"], dtype=np.float32),
        }
        return write_hdf5(path, arrays, self.schema)

    def needs_generation(self) -> bool:
        """Parametric showers are made (or found in the cache) when no ``path`` is given."""
        return self.path is None

    def generate(self) -> Path:
        """Parametric showers (not Geant4) for ``data.generator``, cached under ``data.data_dir``.

        The file is named by a hash of the generator configuration: a rerun, or another
        rank, reuses it; a larger ``n_events`` extends it.
        """
        if self.data_dir is None:
            raise ValueError("data.path is null and data.data_dir is null: nothing to read or make")
        config = {"geometry": self.geometry.name, "particle": self.particle, **self.generator}
        if config.get("n_workers") is None:
            config["n_workers"] = os.cpu_count() or 1
        return cached_dataset(self.data_dir, config)

    def make_transform(self) -> Transform:
        if self.representation != "voxels":
            return Compose([Standardize() if self.standardize else Identity()])
        return make_calorimeter_transform(
            self.transform_name,
            self.geometry,
            alpha=self.alpha,
            eps=self.eps,
            standardize=self.standardize,
            max_deposit=self.max_deposit,
        )

    def make_cond_transform(self) -> Transform:
        return LogIncidentEnergy(self.e_min, self.e_max)

    def evaluator(self, **changes: Any) -> Evaluator:
        settings = {**self.evaluator_settings, **changes}
        if self.representation == "voxels":
            return CalorimeterEvaluator(self.geometry, **settings)
        # the voxel evaluator's settings (conf/data/calorimeter.yaml) do not apply here
        voxel_only = set(CalorimeterEvaluator.settings()) - set(ResponseEvaluator.settings())
        settings = {k: v for k, v in settings.items() if k not in voxel_only}
        stated = None
        if self.path is None:
            simulator = ShowerSimulator(
                self.geometry, self.particle, **dict(self.generator.get("params") or {})
            )
            stated = simulator.stated_resolution
        return ResponseEvaluator(stated, **settings)


def response_schema(width: int) -> list[ArraySpec]:
    """A response file: ``incident_energies`` ``(N, 1)`` MeV and ``response`` ``(N, width)``."""
    return [
        INCIDENT_ENERGIES,
        ArraySpec(
            "response",
            ("N", width),
            description="E_tot / E_inc (and layer energies / E_inc), dimensionless",
        ),
    ]
