"""Write parametric showers (:mod:`~genhep.data.calorimeter.simulator`) as CaloChallenge files.

The output is what the challenge's own scripts read: HDF5 with ``incident_energies`` ``(N, 1)``
float64 and ``showers`` ``(N, V)`` float32, both MeV, gzip-compressed, voxels flattened as the
geometry describes. The file's attributes record the generator configuration (``genhep_config``,
JSON), its hash (``genhep_key``) and ``n_events``. These are **parametric showers, not Geant4**.

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
import multiprocessing
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from genhep.data.calorimeter.geometry import geometry_for_voxels
from genhep.data.calorimeter.schema import calorimeter_schema
from genhep.data.calorimeter.simulator import DS1_ENERGIES_MEV, ShowerSimulator
from genhep.data.schema import SchemaError, validate_arrays

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

_PART_COMPRESSION = 1  # gzip level of the temporary part files
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


def _events(
    config: GeneratorConfig, simulator: ShowerSimulator, start: int, stop: int
) -> tuple[np.ndarray, np.ndarray]:
    """Events ``[start, stop)`` of the configuration's infinite event sequence."""
    energies, showers = [], []
    for block in range(start // BLOCK_SIZE, (stop - 1) // BLOCK_SIZE + 1):
        e, x = _simulate_block(config, simulator, block)
        lo = max(start - block * BLOCK_SIZE, 0)
        hi = min(stop - block * BLOCK_SIZE, BLOCK_SIZE)
        energies.append(e[lo:hi])
        showers.append(x[lo:hi])
    return np.concatenate(energies)[:, None], np.concatenate(showers)


_WORKER_SIMULATORS: dict[GeneratorConfig, ShowerSimulator] = {}


def _make_part(config: GeneratorConfig, key: str, start: int, stop: int, path: str) -> int:
    """Simulate events ``[start, stop)`` and write them atomically to the part file ``path``."""
    simulator = _WORKER_SIMULATORS.get(config)
    if simulator is None:
        simulator = _WORKER_SIMULATORS.setdefault(config, config.simulator())
    energies, showers = _events(config, simulator, start, stop)
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with h5py.File(tmp, "w") as handle:
            opts = {"compression": "gzip", "compression_opts": _PART_COMPRESSION}
            handle.create_dataset("incident_energies", data=energies, **opts)
            handle.create_dataset("showers", data=showers, **opts)
            handle.attrs.update(genhep_key=key, start=start, stop=stop)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return stop - start


def _part_ok(path: Path, key: str, start: int, stop: int, n_voxels: int) -> bool:
    try:
        with h5py.File(path, "r") as handle:
            return (
                handle.attrs.get("genhep_key") == key
                and int(handle.attrs["start"]) == start
                and int(handle.attrs["stop"]) == stop
                and handle["incident_energies"].shape == (stop - start, 1)
                and handle["showers"].shape == (stop - start, n_voxels)
            )
    except (OSError, KeyError, ValueError):
        return False


# -------------------------------------------------------------------- files


def _stored(path: Path) -> tuple[str | None, int]:
    """(genhep_key, n_events) of an existing output file; (None, 0) when unreadable/foreign."""
    try:
        with h5py.File(path, "r") as handle:
            key = handle.attrs.get("genhep_key")
            n = int(handle["showers"].shape[0])
            return (str(key) if key is not None else None), n
    except (OSError, KeyError, ValueError):
        return None, 0


def _rows_per_chunk(n_voxels: int) -> int:
    return max(1, _CHUNK_BYTES // (4 * n_voxels))


class _ChunkedWriter:
    """Writes rows in order, one whole HDF5 chunk at a time (same content -> same bytes)."""

    def __init__(self, handle: h5py.File, n: int, n_voxels: int) -> None:
        self.rows = min(_rows_per_chunk(n_voxels), max(n, 1))
        opts = {"compression": "gzip", "shuffle": True, "track_times": False}
        self.energies = handle.create_dataset(
            "incident_energies", (n, 1), np.float64, chunks=(self.rows, 1), **opts
        )
        self.showers = handle.create_dataset(
            "showers", (n, n_voxels), np.float32, chunks=(self.rows, n_voxels), **opts
        )
        self.n, self.written = n, 0
        self._buffer: list[tuple[np.ndarray, np.ndarray]] = []
        self._buffered = 0

    def add(self, energies: np.ndarray, showers: np.ndarray) -> None:
        self._buffer.append((np.asarray(energies, np.float64), np.asarray(showers, np.float32)))
        self._buffered += len(energies)
        while self._buffered >= self.rows or (
            self._buffered and self.written + self._buffered >= self.n
        ):
            self._flush()

    def _flush(self) -> None:
        if self.written >= self.n:
            raise ValueError(f"more than the declared {self.n} rows")
        energies = np.concatenate([e for e, _ in self._buffer])
        showers = np.concatenate([x for _, x in self._buffer])
        take = min(self.rows, len(energies), self.n - self.written)
        rows = slice(self.written, self.written + take)
        self.energies[rows] = energies[:take]
        self.showers[rows] = showers[:take]
        self.written += take
        rest = len(energies) - take
        self._buffer = [(energies[take:], showers[take:])] if rest else []
        self._buffered = rest


def _read_rows(path: Path, start: int, stop: int, step: int):
    with h5py.File(path, "r") as handle:
        for lo in range(start, stop, step):
            hi = min(lo + step, stop)
            yield handle["incident_energies"][lo:hi], handle["showers"][lo:hi]


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
        step = max(1, _rows_per_chunk(n_voxels) * 8)
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


def _merge(
    path: Path,
    config: GeneratorConfig,
    key: str,
    n_voxels: int,
    n_events: int,
    keep_from: Path | None,
    n_keep: int,
    parts: Sequence[tuple[int, int, Path]],
) -> None:
    """Write ``path`` from the first ``n_keep`` events of ``keep_from`` and the ``parts``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    step = _rows_per_chunk(n_voxels) * 4
    try:
        with h5py.File(tmp, "w", track_order=False) as handle:
            writer = _ChunkedWriter(handle, n_events, n_voxels)
            if keep_from is not None and n_keep:
                for energies, showers in _read_rows(keep_from, 0, n_keep, step):
                    writer.add(energies, showers)
            for start, stop, part in parts:
                for energies, showers in _read_rows(part, 0, stop - start, step):
                    writer.add(energies, showers)
            if writer.written != n_events:
                raise RuntimeError(f"{path}: merged {writer.written} events, expected {n_events}")
            handle.attrs["genhep_key"] = key
            handle.attrs["genhep_config"] = json.dumps(config.content(), sort_keys=True)
            handle.attrs["n_events"] = n_events
            handle.attrs["units"] = "MeV"
        validate_shower_file(tmp, n_voxels, n_events)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _pool_context() -> multiprocessing.context.BaseContext:
    # fork: workers need no re-import (genhep.data imports torch/Lightning, seconds per process)
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


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
    path = Path(path)
    if n_events < 1:
        raise ValueError(f"n_events must be >= 1, got {n_events}")
    if n_workers < 1:
        raise ValueError(f"n_workers must be >= 1, got {n_workers}")
    config = GeneratorConfig.create(geometry_name, particle, energies, e_min, e_max, seed, params)
    simulator = config.simulator()
    key, n_voxels = config.key(), simulator.geometry.n_voxels

    n_keep, keep_from = 0, None
    if path.exists():
        stored_key, n_stored = _stored(path)
        if stored_key == key:
            if n_stored == n_events:
                return path
            n_keep, keep_from = min(n_stored, n_events), path
        elif not overwrite:
            raise FileExistsError(
                f"{path} exists and was not made with this configuration (stored key "
                f"{stored_key}, wanted {key[:12]}...); pass overwrite=True or another path"
            )

    chunk = max(BLOCK_SIZE, math.ceil(chunk_size / BLOCK_SIZE) * BLOCK_SIZE)
    parts_dir = path.with_name(f".{path.name}.parts")
    parts_dir.mkdir(parents=True, exist_ok=True)
    tasks: list[tuple[int, int, Path]] = []
    first = n_keep // chunk
    for k in range(first, math.ceil(n_events / chunk)):
        start, stop = max(k * chunk, n_keep), min((k + 1) * chunk, n_events)
        if start < stop:
            tasks.append((start, stop, parts_dir / f"part_{start:012d}_{stop:012d}.h5"))
    todo = [t for t in tasks if not _part_ok(t[2], key, t[0], t[1], n_voxels)]

    columns = (
        TextColumn(f"showers {simulator.geometry.name} {simulator.particle}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, disable=not progress) as bar:
        task = bar.add_task("generate", total=n_events)
        bar.advance(task, n_events - sum(stop - start for start, stop, _ in todo))
        if n_workers == 1 or len(todo) <= 1:
            _WORKER_SIMULATORS.setdefault(config, simulator)
            for start, stop, part in todo:
                bar.advance(task, _make_part(config, key, start, stop, str(part)))
        else:
            workers = min(n_workers, len(todo))
            with ProcessPoolExecutor(workers, mp_context=_pool_context()) as pool:
                pending = {
                    pool.submit(_make_part, config, key, start, stop, str(part))
                    for start, stop, part in todo
                }
                try:
                    while pending:
                        done, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for future in done:
                            bar.advance(task, future.result())
                except BaseException:
                    for future in pending:
                        future.cancel()
                    raise

    _merge(path, config, key, n_voxels, n_events, keep_from, n_keep, tasks)
    shutil.rmtree(parts_dir, ignore_errors=True)
    return path


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
    path = Path(data_dir) / generator.file_name()
    stored_key, n_stored = _stored(path) if path.exists() else (None, 0)
    if stored_key == generator.key() and n_stored >= n_events:
        return path
    return generate_showers(
        path,
        geometry,
        generator.particle,
        n_events,
        generator.energies,
        generator.e_min,
        generator.e_max,
        generator.seed,
        chunk_size=int(options.get("chunk_size", 1000)),
        n_workers=int(options.get("n_workers", 1)),
        params=dict(generator.params),
        progress=bool(options.get("progress", True)),
        overwrite=True,
    )
