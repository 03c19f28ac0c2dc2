"""Family-independent machinery of genhep's Monte Carlo generators: seeded blocks, part files,
merging, a process pool, a progress bar and a hash-keyed cache.

A family plugs in a :class:`BlockGenerator` -- an object (picklable: it travels to the worker
processes) with

* ``label``: text of the progress bar; ``name_prefix``: start of cached file names;
* ``block_size``: events per independently seeded block (part of the configuration hash);
* ``layout``: ``{key: (row_shape, dtype)}`` of the HDF5 datasets, all sharing the first axis;
* ``config_content() -> dict``: JSON-ready description of everything that determines the
  events except their number (hashed into the file's key and stored in its attributes);
* ``simulate_block(block) -> {key: array}``: block ``block``'s exactly ``block_size`` events,
  a pure function of the configuration and ``block`` -- derive its randomness from
  :func:`block_seed` (``SeedSequence(seed, spawn_key=(block,))``);
* ``file_attrs() -> dict``: extra HDF5 attributes of the final file (e.g. units);
* ``validate(path, n_events)``: check a written file against the family's schema (raises
  :class:`~genhep.data.schema.SchemaError`);
* optionally ``announce()``: called once in the calling process before any event is made
  (not for a cache hit), e.g. to print a Monte Carlo's citation banner once, not per worker.

**Reproducibility.** A file's content depends only on the configuration, its seed and
``n_events`` -- not on ``chunk_size`` or ``n_workers`` -- and the first ``n`` events of a larger
file are the ``n`` events of a smaller one (prefix-stable). Datasets are written in fixed row
chunks without timestamps, so the same content gives the same bytes.

**Chunks, interruption, continuation.** Work is cut on a global grid of ``chunk_size`` events
(rounded up to whole blocks). Each chunk is made by one process and written atomically as its
own part file in ``.<name>.parts/`` next to the output; when every part is there they are merged
into the output (temporary file + rename), the result is validated, and the parts are removed.
An interrupted run leaves its finished parts; a rerun with the same configuration reuses them.
Asking an existing file for more events keeps its events and makes only the rest.

**Speed.** Each part records the CPU seconds it took; the merged file gets a sidecar
``<file>.speed.json`` (events, CPU seconds, generator) -- the Monte Carlo row of speed
comparisons (:func:`generation_speed`: events per CPU-second, one core).

**Cache.** :func:`cached_file` names the file ``<name_prefix>_<hash[:12]>.h5`` under a data
directory and reuses it when it holds at least the requested number of events (untouched: same
mtime); a file with more events than asked is returned as it is.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any, Protocol

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

from genhep.utils.io import atomic_write_json

__all__ = [
    "BlockGenerator",
    "block_seed",
    "cached_file",
    "cached_path",
    "config_key",
    "generate_file",
    "split_run_options",
    "stored_key",
]

_PART_COMPRESSION = 1  # gzip level of the temporary part files
_CHUNK_BYTES = 1 << 20  # target size of one HDF5 chunk of the widest dataset


class BlockGenerator(Protocol):
    label: str
    name_prefix: str
    block_size: int
    layout: Mapping[str, tuple[tuple[int, ...], Any]]

    def config_content(self) -> dict[str, Any]: ...

    def simulate_block(self, block: int) -> dict[str, np.ndarray]: ...

    def file_attrs(self) -> dict[str, Any]: ...

    def validate(self, path: Path, n_events: int) -> None: ...


def block_seed(seed: int, block: int) -> np.random.SeedSequence:
    """The seed sequence of block ``block`` of a file made with ``seed``."""
    return np.random.SeedSequence(int(seed), spawn_key=(int(block),))


def config_key(generator: BlockGenerator) -> str:
    """SHA-256 of ``generator.config_content()`` (canonical JSON)."""
    text = json.dumps(generator.config_content(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# -------------------------------------------------------------------- events and parts


def _events(generator: BlockGenerator, start: int, stop: int) -> dict[str, np.ndarray]:
    """Events ``[start, stop)`` of the generator's infinite event sequence."""
    size = generator.block_size
    pieces: dict[str, list[np.ndarray]] = {key: [] for key in generator.layout}
    for block in range(start // size, (stop - 1) // size + 1):
        arrays = generator.simulate_block(block)
        lo, hi = max(start - block * size, 0), min(stop - block * size, size)
        for key, (shape, dtype) in generator.layout.items():
            array = np.asarray(arrays[key], dtype=dtype)
            if array.shape != (size, *shape):
                raise ValueError(
                    f"{generator.label}: block {block} key '{key}' has shape {array.shape}, "
                    f"expected {(size, *shape)}"
                )
            pieces[key].append(array[lo:hi])
    return {key: np.concatenate(value) for key, value in pieces.items()}


def _make_part(generator: BlockGenerator, key: str, start: int, stop: int, path: str) -> int:
    """Make events ``[start, stop)`` and write them atomically to the part file ``path``
    (with the CPU seconds they took, attribute ``cpu_seconds``)."""
    began = time.process_time()
    arrays = _events(generator, start, stop)
    cpu_seconds = time.process_time() - began
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with h5py.File(tmp, "w") as handle:
            opts = {"compression": "gzip", "compression_opts": _PART_COMPRESSION}
            for name, array in arrays.items():
                handle.create_dataset(name, data=array, **opts)
            handle.attrs.update(genhep_key=key, start=start, stop=stop, cpu_seconds=cpu_seconds)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return stop - start


def _part_ok(generator: BlockGenerator, path: Path, key: str, start: int, stop: int) -> bool:
    try:
        with h5py.File(path, "r") as handle:
            return (
                handle.attrs.get("genhep_key") == key
                and int(handle.attrs["start"]) == start
                and int(handle.attrs["stop"]) == stop
                and all(
                    handle[name].shape == (stop - start, *shape)
                    for name, (shape, _) in generator.layout.items()
                )
            )
    except (OSError, KeyError, ValueError):
        return False


# -------------------------------------------------------------------- files


def stored_key(path: str | os.PathLike[str], first_key: str) -> tuple[str | None, int]:
    """(genhep_key, n_events) of an existing output file; (None, 0) when unreadable/foreign."""
    try:
        with h5py.File(path, "r") as handle:
            key = handle.attrs.get("genhep_key")
            n = int(handle[first_key].shape[0])
            return (str(key) if key is not None else None), n
    except (OSError, KeyError, ValueError):
        return None, 0


def _rows_per_chunk(layout: Mapping[str, tuple[tuple[int, ...], Any]]) -> int:
    widest = max(np.dtype(dtype).itemsize * math.prod(shape) for shape, dtype in layout.values())
    return max(1, _CHUNK_BYTES // max(widest, 1))


class _ChunkedWriter:
    """Writes rows in order, one whole HDF5 chunk at a time (same content -> same bytes)."""

    def __init__(self, handle: h5py.File, n: int, layout) -> None:
        self.rows = min(_rows_per_chunk(layout), max(n, 1))
        opts = {"compression": "gzip", "shuffle": True, "track_times": False}
        self.datasets = {
            name: handle.create_dataset(
                name, (n, *shape), dtype, chunks=(self.rows, *shape), **opts
            )
            for name, (shape, dtype) in layout.items()
        }
        self.layout = layout
        self.n, self.written = n, 0
        self._buffer: list[dict[str, np.ndarray]] = []
        self._buffered = 0

    def add(self, arrays: Mapping[str, np.ndarray]) -> None:
        rows = {k: np.asarray(arrays[k], dtype=dt) for k, (_, dt) in self.layout.items()}
        self._buffer.append(rows)
        self._buffered += len(next(iter(rows.values())))
        while self._buffered >= self.rows or (
            self._buffered and self.written + self._buffered >= self.n
        ):
            self._flush()

    def _flush(self) -> None:
        if self.written >= self.n:
            raise ValueError(f"more than the declared {self.n} rows")
        arrays = {k: np.concatenate([b[k] for b in self._buffer]) for k in self.layout}
        total = len(next(iter(arrays.values())))
        take = min(self.rows, total, self.n - self.written)
        rows = slice(self.written, self.written + take)
        for name, array in arrays.items():
            self.datasets[name][rows] = array[:take]
        self.written += take
        rest = total - take
        self._buffer = [{k: v[take:] for k, v in arrays.items()}] if rest else []
        self._buffered = rest


def _read_rows(path: Path, keys: Sequence[str], start: int, stop: int, step: int):
    with h5py.File(path, "r") as handle:
        for lo in range(start, stop, step):
            hi = min(lo + step, stop)
            yield {k: handle[k][lo:hi] for k in keys}


def _merge(
    path: Path,
    generator: BlockGenerator,
    key: str,
    n_events: int,
    keep_from: Path | None,
    n_keep: int,
    parts: Sequence[tuple[int, int, Path]],
) -> None:
    """Write ``path`` from the first ``n_keep`` events of ``keep_from`` and the ``parts``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    step = _rows_per_chunk(generator.layout) * 4
    keys = list(generator.layout)
    try:
        with h5py.File(tmp, "w", track_order=False) as handle:
            writer = _ChunkedWriter(handle, n_events, generator.layout)
            if keep_from is not None and n_keep:
                for arrays in _read_rows(keep_from, keys, 0, n_keep, step):
                    writer.add(arrays)
            for start, stop, part in parts:
                for arrays in _read_rows(part, keys, 0, stop - start, step):
                    writer.add(arrays)
            if writer.written != n_events:
                raise RuntimeError(f"{path}: merged {writer.written} events, expected {n_events}")
            handle.attrs["genhep_key"] = key
            handle.attrs["genhep_config"] = json.dumps(generator.config_content(), sort_keys=True)
            handle.attrs["n_events"] = n_events
            for name, value in generator.file_attrs().items():
                handle.attrs[name] = value
        generator.validate(tmp, n_events)
        cpu = _cpu_seconds(keep_from, n_keep, [part for _, _, part in parts])
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    record = None if cpu is None else {"events": n_events, "cpu_seconds": cpu}
    if record is not None:
        record["generator"] = generator.config_content().get("generator", generator.label)
        atomic_write_json(speed_file(path), record)
    else:
        speed_file(path).unlink(missing_ok=True)


def speed_file(path: str | os.PathLike[str]) -> Path:
    """``<file>.speed.json``: the CPU time that made a generated file (kept beside it, so
    the file's bytes depend on its content only)."""
    path = Path(path)
    return path.with_name(path.name + ".speed.json")


def _cpu_seconds(keep_from: Path | None, n_keep: int, parts: Sequence[Path]) -> float | None:
    """CPU seconds that made a merged file: its parts' plus the kept events' share of the
    old file's (``None`` if any piece did not record it)."""
    total = 0.0
    for part in parts:
        with h5py.File(part, "r") as handle:
            if "cpu_seconds" not in handle.attrs:
                return None
            total += float(handle.attrs["cpu_seconds"])
    if keep_from is not None and n_keep:
        old = _read_speed(keep_from)
        if old is None:
            return None
        total += old["cpu_seconds"] * n_keep / old["events"]
    return total


def _read_speed(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    try:
        record = json.loads(speed_file(path).read_text())
        return record if float(record["cpu_seconds"]) > 0 and int(record["events"]) > 0 else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def generation_speed(paths: Sequence[str | os.PathLike[str]]) -> dict[str, Any] | None:
    """The Monte Carlo speed of genhep-generated files: events per CPU-second (one core)
    over all of them, and what made them; ``None`` if any file lacks its
    :func:`speed_file` (files genhep did not generate, or made before speeds were recorded).

    Returns ``{"samples_per_s", "cores": 1, "events", "cpu_seconds", "source"}``.
    """
    records = [_read_speed(path) for path in paths]
    if not records or any(r is None for r in records):
        return None
    events = sum(int(r["events"]) for r in records)
    seconds = sum(float(r["cpu_seconds"]) for r in records)
    return {
        "samples_per_s": events / seconds,
        "cores": 1,
        "events": events,
        "cpu_seconds": seconds,
        "source": "; ".join(dict.fromkeys(str(r.get("generator", "")) for r in records)),
    }


def _pool_context() -> multiprocessing.context.BaseContext:
    # fork: workers need no re-import (genhep.data imports torch/Lightning, seconds per process)
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def generate_file(
    path: str | os.PathLike[str],
    generator: BlockGenerator,
    n_events: int,
    chunk_size: int = 1000,
    n_workers: int = 1,
    progress: bool = True,
    overwrite: bool = False,
) -> Path:
    """Write ``n_events`` events of ``generator`` to ``path`` (see the module docstring).

    Args:
        chunk_size: events per part file and per worker task (rounded up to whole blocks).
        n_workers: processes; the content does not depend on it.
        progress: show a rich progress bar.
        overwrite: replace an existing ``path`` made with another configuration (otherwise
            that is an error). A file of the same configuration is kept and extended or cut.
    """
    path = Path(path)
    if n_events < 1:
        raise ValueError(f"n_events must be >= 1, got {n_events}")
    if n_workers < 1:
        raise ValueError(f"n_workers must be >= 1, got {n_workers}")
    key = config_key(generator)
    first_key = next(iter(generator.layout))

    n_keep, keep_from = 0, None
    if path.exists():
        old_key, n_stored = stored_key(path, first_key)
        if old_key == key:
            if n_stored == n_events:
                return path
            n_keep, keep_from = min(n_stored, n_events), path
        elif not overwrite:
            raise FileExistsError(
                f"{path} exists and was not made with this configuration (stored key "
                f"{old_key}, wanted {key[:12]}...); pass overwrite=True or another path"
            )

    size = generator.block_size
    chunk = max(size, math.ceil(chunk_size / size) * size)
    parts_dir = path.with_name(f".{path.name}.parts")
    parts_dir.mkdir(parents=True, exist_ok=True)
    tasks: list[tuple[int, int, Path]] = []
    for k in range(n_keep // chunk, math.ceil(n_events / chunk)):
        start, stop = max(k * chunk, n_keep), min((k + 1) * chunk, n_events)
        if start < stop:
            tasks.append((start, stop, parts_dir / f"part_{start:012d}_{stop:012d}.h5"))
    todo = [t for t in tasks if not _part_ok(generator, t[2], key, t[0], t[1])]

    columns = (
        TextColumn(generator.label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    if todo and hasattr(generator, "announce"):
        generator.announce()
    with Progress(*columns, disable=not progress) as bar:
        task = bar.add_task("generate", total=n_events)
        bar.advance(task, n_events - sum(stop - start for start, stop, _ in todo))
        if n_workers == 1 or len(todo) <= 1:
            for start, stop, part in todo:
                bar.advance(task, _make_part(generator, key, start, stop, str(part)))
        else:
            workers = min(n_workers, len(todo))
            with ProcessPoolExecutor(workers, mp_context=_pool_context()) as pool:
                pending = {
                    pool.submit(_make_part, generator, key, start, stop, str(part))
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

    _merge(path, generator, key, n_events, keep_from, n_keep, tasks)
    shutil.rmtree(parts_dir, ignore_errors=True)
    return path


#: Generator options that change how a file is made, not what it holds.
RUN_OPTIONS = ("n_events", "chunk_size", "n_workers", "progress")


def split_run_options(
    config: Mapping[str, Any], chunk_size: int = 200
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a generator config into its content settings and the keyword arguments of
    :func:`cached_file` / :func:`cached_path` (``n_events`` default 10000, ``n_workers``
    default every core, ``progress`` default on)."""
    settings = dict(config)
    run = {k: settings.pop(k) for k in RUN_OPTIONS if k in settings}
    return settings, {
        "n_events": int(run.get("n_events") or 10_000),
        "chunk_size": int(run.get("chunk_size") or chunk_size),
        "n_workers": int(run.get("n_workers") or os.cpu_count() or 1),
        "progress": bool(run.get("progress", True)),
    }


def cached_file(
    data_dir: str | os.PathLike[str],
    generator: BlockGenerator,
    n_events: int,
    chunk_size: int = 1000,
    n_workers: int = 1,
    progress: bool = True,
) -> Path:
    """``<data_dir>/<name_prefix>_<hash[:12]>.h5`` holding at least ``n_events`` events of
    ``generator``, made (or extended) only when needed."""
    path = Path(data_dir) / f"{generator.name_prefix}_{config_key(generator)[:12]}.h5"
    return cached_path(path, generator, n_events, chunk_size, n_workers, progress)


def is_cached(path: str | os.PathLike[str], generator: BlockGenerator, n_events: int) -> bool:
    """``path`` exists with ``generator``'s configuration key and at least ``n_events`` events
    (what :func:`cached_path` reuses untouched; checking it runs no generator code)."""
    path = Path(path)
    if not path.exists():
        return False
    old_key, n_stored = stored_key(path, next(iter(generator.layout)))
    return old_key == config_key(generator) and n_stored >= n_events


def cached_path(
    path: str | os.PathLike[str],
    generator: BlockGenerator,
    n_events: int,
    chunk_size: int = 1000,
    n_workers: int = 1,
    progress: bool = True,
) -> Path:
    """``path`` holding at least ``n_events`` events of ``generator``: reused untouched when it
    does (same configuration key), else made, extended or replaced. For caches whose file
    names are fixed by a public format (e.g. JetNet's ``g.hdf5`` in a hash-named folder)."""
    path = Path(path)
    if is_cached(path, generator, n_events):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    return generate_file(path, generator, n_events, chunk_size, n_workers, progress, True)
