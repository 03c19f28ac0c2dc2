"""Write parametric showers (:mod:`~genhep.data.calorimeter.simulator`) as CaloChallenge files.

The output is what the challenge's own scripts read: HDF5 with ``incident_energies`` ``(N, 1)``
float64 and ``showers`` ``(N, V)`` float32, both MeV, gzip-compressed, voxels flattened as the
geometry describes. The file's attributes record the generator configuration (``genhep_config``,
JSON), its hash (``genhep_key``) and ``n_events``. These are **parametric showers, not Geant4**.

The blocks, part files, merging, process pool, progress bar and cache are the family-independent
machinery of :mod:`genhep.data.generation`; this module supplies its
:class:`CaloBlockGenerator`.

**Reproducibility.** Events are made in blocks of :data:`BLOCK_SIZE`; block ``b`` draws its
incident energies and showers from its own generator seeded by
``SeedSequence(seed, spawn_key=(b,))``. A file's content therefore depends only on the
configuration, the seed and ``n_events`` -- not on ``chunk_size`` or ``n_workers`` -- and the first
``n`` events of a larger file are the ``n`` events of a smaller one (prefix-stable). The HDF5
layout is written in fixed row chunks without timestamps, so the same content gives the same
bytes.

**Chunks, interruption, continuation.** Work is cut on a global grid of ``chunk_size`` events
(rounded up to whole blocks). Each chunk is simulated by one process and written atomically as
its own part file in ``.<name>.parts/`` next to the output; when every part is there they are
merged into the output (temporary file + rename), the result is validated with
:mod:`genhep.data.schema`, and the parts are removed. An interrupted run leaves its finished parts;
a rerun with the same configuration reuses them. Asking an existing file for more events keeps
its events and generates only the rest (the output is replaced at the end, in one rename).

**Cache.** :func:`cached_dataset` names the file by a hash of everything that determines its
content except ``n_events`` (``calo_<geometry>_<particle>_<hash>.h5``) and reuses it when it holds
at least the requested number of events (it is not touched then: same mtime); a file with more
events than asked is returned as it is -- its first ``n_events`` are the requested ones.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from genhep.data.calorimeter.schema import calorimeter_schema
from genhep.data.calorimeter.simulator import DS1_ENERGIES_MEV, ShowerSimulator
from genhep.data.generation import cached_file, generate_file
from genhep.data.schema import SchemaError, validate_arrays
from genhep.geometry.calorimeter import geometry_for_voxels

__all__ = [
    "BLOCK_SIZE",
    "ENERGY_MODES",
    "FORMAT_VERSION",
    "GeneratorConfig",
    "cached_dataset",
    "generate_showers",
    "validate_shower_file",
]

#: Events per independently seeded block (part of every file's identity: changing it changes
#: what a seed produces, so it is in the configuration hash).
BLOCK_SIZE = 100
#: Version of the file layout and of the block/seed scheme.
FORMAT_VERSION = 1
#: Incident-energy modes: the 15 dataset-1 values, or log-uniform in ``[e_min, e_max]``.
ENERGY_MODES = ("ds1", "log_uniform")

_CHUNK_BYTES = 1 << 20  # target size of one HDF5 chunk of showers


# -------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class GeneratorConfig:
    """Everything that determines a generated file's content, except ``n_events``."""

    geometry: str
    particle: str = "photon"
    energies: str = "ds1"
    e_min: float = DS1_ENERGIES_MEV[0]
    e_max: float = DS1_ENERGIES_MEV[-1]
    seed: int = 0
    params: tuple[tuple[str, Any], ...] = ()  # simulator overrides, sorted (key, value) pairs

    @classmethod
    def create(
        cls,
        geometry: str,
        particle: str = "photon",
        energies: str = "ds1",
        e_min: float | None = None,
        e_max: float | None = None,
        seed: int = 0,
        params: Mapping[str, Any] | None = None,
    ) -> GeneratorConfig:
        if energies not in ENERGY_MODES:
            raise ValueError(f"energies must be one of {ENERGY_MODES}, got {energies!r}")
        e_min = float(DS1_ENERGIES_MEV[0] if e_min is None else e_min)
        e_max = float(DS1_ENERGIES_MEV[-1] if e_max is None else e_max)
        if not 0 < e_min <= e_max or not math.isfinite(e_max):
            raise ValueError(f"need 0 < e_min <= e_max (MeV), got {e_min}, {e_max}")
        items = tuple(sorted((str(k), _frozen(v)) for k, v in dict(params or {}).items()))
        config = cls(str(geometry), str(particle), energies, e_min, e_max, int(seed), items)
        if energies == "ds1" and not config.energy_values():
            raise ValueError(f"no dataset-1 energy lies in [{e_min}, {e_max}] MeV")
        return config

    def simulator(self) -> ShowerSimulator:
        return ShowerSimulator(self.geometry, self.particle, **dict(self.params))

    def energy_values(self) -> tuple[float, ...]:
        """The discrete incident energies of ``energies="ds1"`` within ``[e_min, e_max]``."""
        return tuple(e for e in DS1_ENERGIES_MEV if self.e_min <= e <= self.e_max)

    def content(self) -> dict[str, Any]:
        """JSON-ready description of everything that determines the events."""
        incident: dict[str, Any] = {"mode": self.energies}
        if self.energies == "ds1":
            incident["values_mev"] = list(self.energy_values())
        else:
            incident.update(e_min_mev=self.e_min, e_max_mev=self.e_max)
        return {
            "generator": "genhep parametric shower simulator (not Geant4)",
            "format_version": FORMAT_VERSION,
            "block_size": BLOCK_SIZE,
            "seed": self.seed,
            "incident_energies": incident,
            "simulator": self.simulator().config_dict(),
        }

    def key(self) -> str:
        """SHA-256 of :meth:`content` (canonical JSON)."""
        text = json.dumps(self.content(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def file_name(self) -> str:
        sim = self.simulator()
        return f"calo_{sim.geometry.name}_{sim.particle}_{self.key()[:12]}.h5"


def _frozen(value: Any) -> Any:
    """A simulator parameter as a hashable plain value (lists, OmegaConf lists -> tuples)."""
    if isinstance(value, Mapping):
        raise TypeError(f"simulator parameters are numbers or pairs of numbers, got {value!r}")
    if isinstance(value, Sequence) and not isinstance(value, str):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


# -------------------------------------------------------------------- events


def _simulate_block(
    config: GeneratorConfig, simulator: ShowerSimulator, block: int
) -> tuple[np.ndarray, np.ndarray]:
    """Block ``block``'s :data:`BLOCK_SIZE` incident energies (MeV) and showers."""
    rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(block,)))
    if config.energies == "ds1":
        energies = rng.choice(np.asarray(config.energy_values()), BLOCK_SIZE)
    else:
        low, high = math.log(config.e_min), math.log(config.e_max)
        energies = np.exp(rng.uniform(low, high, BLOCK_SIZE))
    return energies, simulator.simulate(energies, rng)


class CaloBlockGenerator:
    """The :class:`~genhep.data.generation.BlockGenerator` of a :class:`GeneratorConfig`."""

    block_size = BLOCK_SIZE
    label: str
    name_prefix: str

    def __init__(self, config: GeneratorConfig) -> None:
        self.config = config
        sim = _simulator(config)
        self.n_voxels = sim.geometry.n_voxels
        self.label = f"showers {sim.geometry.name} {sim.particle}"
        self.name_prefix = f"calo_{sim.geometry.name}_{sim.particle}"
        self.layout = {
            "incident_energies": ((1,), np.float64),
            "showers": ((self.n_voxels,), np.float32),
        }

    def config_content(self) -> dict[str, Any]:
        return self.config.content()

    def simulate_block(self, block: int) -> dict[str, np.ndarray]:
        energies, showers = _simulate_block(self.config, _simulator(self.config), block)
        return {"incident_energies": energies[:, None], "showers": showers}

    def file_attrs(self) -> dict[str, Any]:
        return {"units": "MeV"}

    def validate(self, path: Path, n_events: int) -> None:
        validate_shower_file(path, self.n_voxels, n_events)


_WORKER_SIMULATORS: dict[GeneratorConfig, ShowerSimulator] = {}


def _simulator(config: GeneratorConfig) -> ShowerSimulator:
    """One simulator per configuration and process."""
    simulator = _WORKER_SIMULATORS.get(config)
    if simulator is None:
        simulator = _WORKER_SIMULATORS.setdefault(config, config.simulator())
    return simulator


# -------------------------------------------------------------------- files


def validate_shower_file(
    path: str | os.PathLike[str], n_voxels: int, n_events: int | None = None
) -> int:
    """Check a CaloChallenge-style file against its geometry's schema in row slices.

    Returns the number of events; raises :class:`~genhep.data.schema.SchemaError` naming the
    file, key and expectation (memory stays bounded for large files).
    """
    path = Path(path)
    specs = calorimeter_schema(geometry_for_voxels(n_voxels))
    with h5py.File(path, "r") as handle:
        missing = [s.key for s in specs if s.key not in handle]
        if missing:
            raise SchemaError(
                f"{path}: missing key '{missing[0]}'; keys present: {sorted(handle.keys())}"
            )
        n = int(handle["showers"].shape[0])
        # shapes and dtypes (also of an empty file), then the values slice by slice
        step = max(1, (_CHUNK_BYTES // (4 * n_voxels)) * 8)
        for lo in range(0, max(n, 1), step):
            hi = min(lo + step, n)
            arrays = {s.key: handle[s.key][lo:hi] for s in specs}
            sizes = validate_arrays(arrays, specs, source=str(path))
            if sizes.get("N", 0) != hi - lo:
                raise SchemaError(f"{path}: 'incident_energies' and 'showers' differ in length")
        if handle["incident_energies"].shape[0] != n:
            raise SchemaError(
                f"{path}: key 'incident_energies' has {handle['incident_energies'].shape[0]} rows "
                f"but 'showers' has {n}"
            )
    if n_events is not None and n != n_events:
        raise SchemaError(f"{path}: holds {n} events, expected {n_events}")
    return n


def generate_showers(
    path: str | os.PathLike[str],
    geometry_name: str,
    particle: str = "photon",
    n_events: int = 10_000,
    energies: str = "ds1",
    e_min: float | None = None,
    e_max: float | None = None,
    seed: int = 0,
    chunk_size: int = 1000,
    n_workers: int = 1,
    params: Mapping[str, Any] | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> Path:
    """Write ``n_events`` parametric showers to ``path`` (CaloChallenge HDF5); return the path.

    Args:
        path: output file (``.h5``/``.hdf5``).
        geometry_name: a shipped geometry (``"ds1_photons"``, ``"ds1_pions"``,
            ``"atlas_photons_266"``, ...).
        particle: ``"photon"``, ``"electron"`` or ``"pion"``.
        n_events: number of showers.
        energies: ``"ds1"`` (the 15 dataset-1 energies within ``[e_min, e_max]``, drawn uniformly)
            or ``"log_uniform"`` (continuous in ``[e_min, e_max]``); MeV, default 256 MeV-4 TeV.
        seed: the file's content is a function of the configuration, ``seed`` and ``n_events``.
        chunk_size: events per part file and per worker task (rounded up to whole blocks).
        n_workers: processes; the content does not depend on it.
        params: :class:`~genhep.data.calorimeter.simulator.ShowerParams` overrides.
        progress: show a rich progress bar.
        overwrite: replace an existing ``path`` made with another configuration (otherwise
            that is an error). A file of the same configuration is kept and extended or cut.
    """
    config = GeneratorConfig.create(geometry_name, particle, energies, e_min, e_max, seed, params)
    return generate_file(
        path,
        CaloBlockGenerator(config),
        n_events,
        chunk_size=chunk_size,
        n_workers=n_workers,
        progress=progress,
        overwrite=overwrite,
    )


def cached_dataset(data_dir: str | os.PathLike[str], config: Mapping[str, Any]) -> Path:
    """The generated file for ``config`` under ``data_dir``, made only if it is not there yet.

    ``config`` holds :func:`generate_showers`'s arguments (``geometry`` or ``geometry_name``,
    ``particle``, ``n_events``, ``energies``, ``e_min``, ``e_max``, ``seed``, ``params``, and the
    content-neutral ``chunk_size``, ``n_workers``, ``progress``). The file is named by the hash
    of the content-determining part (not ``n_events``): a file with at least ``n_events`` events
    is returned untouched; one with fewer is extended.
    """
    options = dict(config)
    geometry = options.pop("geometry", None) or options.pop("geometry_name", None)
    if geometry is None:
        raise ValueError("config needs 'geometry' (e.g. 'ds1_photons')")
    options.pop("geometry_name", None)
    n_events = int(options.pop("n_events", 10_000))
    known = {
        "particle",
        "energies",
        "e_min",
        "e_max",
        "seed",
        "params",
        "chunk_size",
        "n_workers",
        "progress",
    }
    unknown = set(options) - known
    if unknown:
        raise TypeError(f"unknown generator options {sorted(unknown)}; known: {sorted(known)}")
    generator = GeneratorConfig.create(
        geometry,
        options.get("particle", "photon"),
        options.get("energies", "ds1"),
        options.get("e_min"),
        options.get("e_max"),
        options.get("seed", 0),
        options.get("params"),
    )
    return cached_file(
        data_dir,
        CaloBlockGenerator(generator),
        n_events,
        chunk_size=int(options.get("chunk_size", 1000)),
        n_workers=int(options.get("n_workers", 1)),
        progress=bool(options.get("progress", True)),
    )
