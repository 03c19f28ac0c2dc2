"""On-disk schemas: what an HDF5 file of a data family must hold, checked on load.

A :class:`ArraySpec` states one dataset's key, shape, dtype and value range. Shapes use
integers for fixed sizes, ``None`` for "any size" and strings for sizes shared between
keys (``"N"``: the number of events, the same for every key). Every error names the
file, the key and what was expected.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from genhep.utils.io import atomic_open

Dim = int | str | None

_DTYPE_KINDS = {
    "f": "floating point",
    "i": "signed integer",
    "u": "unsigned integer",
    "b": "boolean",
}


class SchemaError(ValueError):
    """A file or array that does not match its family's schema."""


@dataclass(frozen=True)
class ArraySpec:
    """One array of a schema.

    Args:
        key: HDF5 dataset name (or dict key for in-memory arrays).
        shape: expected shape; ``int`` fixed, ``None`` any, ``str`` a named size shared across keys.
        dtype_kinds: accepted numpy dtype kinds, e.g. ``"f"`` or ``"fiu"``.
        finite: reject NaN and inf.
        min_value: smallest allowed value (inclusive unless ``exclusive_min``).
        exclusive_min: require values strictly greater than ``min_value``.
        required: a missing optional key is simply absent from the loaded dict.
        description: what the array holds, with units; used in error messages.
    """

    key: str
    shape: tuple[Dim, ...]
    dtype_kinds: str = "f"
    finite: bool = True
    min_value: float | None = None
    exclusive_min: bool = False
    required: bool = True
    description: str = ""

    def expected(self) -> str:
        dims = ", ".join("*" if d is None else str(d) for d in self.shape)
        kinds = " or ".join(_DTYPE_KINDS.get(k, k) for k in self.dtype_kinds)
        text = f"shape ({dims}) of {kinds}"
        if self.description:
            text += f" ({self.description})"
        return text


def _fail(source: str, key: str, problem: str, spec: ArraySpec) -> SchemaError:
    return SchemaError(f"{source}: key '{key}': {problem}; expected {spec.expected()}")


def _check_shape(
    array_shape: tuple[int, ...], spec: ArraySpec, sizes: dict[str, int], source: str
) -> None:
    if len(array_shape) != len(spec.shape):
        raise _fail(source, spec.key, f"has {len(array_shape)} dimensions {array_shape}", spec)
    for axis, (got, want) in enumerate(zip(array_shape, spec.shape, strict=True)):
        if want is None:
            continue
        if isinstance(want, str):
            if sizes.setdefault(want, got) != got:
                raise _fail(
                    source,
                    spec.key,
                    f"axis {axis} has size {got} but '{want}' = {sizes[want]} from another key",
                    spec,
                )
        elif got != want:
            raise _fail(source, spec.key, f"axis {axis} has size {got}, not {want}", spec)


def _check_values(array: np.ndarray, spec: ArraySpec, source: str) -> None:
    if array.dtype.kind not in spec.dtype_kinds:
        raise _fail(source, spec.key, f"has dtype {array.dtype}", spec)
    if array.size == 0 or array.dtype.kind == "b":
        return
    if spec.finite and array.dtype.kind == "f":
        bad = ~np.isfinite(array)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise _fail(
                source,
                spec.key,
                f"holds {int(bad.sum())} NaN/inf values (first at index {first})",
                spec,
            )
    if spec.min_value is not None:
        low = array.min()
        too_low = low <= spec.min_value if spec.exclusive_min else low < spec.min_value
        if too_low:
            relation = ">" if spec.exclusive_min else ">="
            first = tuple(int(i) for i in np.argwhere(array == low)[0])
            raise _fail(
                source,
                spec.key,
                f"holds the value {low.item()!r} at index {first}; all values must be {relation} {spec.min_value}",
                spec,
            )


def validate_arrays(
    arrays: Mapping[str, np.ndarray], specs: Sequence[ArraySpec], source: str = "<arrays>"
) -> dict[str, int]:
    """Check in-memory arrays against ``specs``; return the named sizes (e.g. ``{"N": 1000}``)."""
    sizes: dict[str, int] = {}
    for spec in specs:
        if spec.key not in arrays:
            if spec.required:
                raise SchemaError(
                    f"{source}: missing key '{spec.key}'; expected {spec.expected()}. "
                    f"Keys present: {sorted(arrays)}"
                )
            continue
        array = np.asarray(arrays[spec.key])
        _check_shape(array.shape, spec, sizes, source)
        _check_values(array, spec, source)
    return sizes


@contextmanager
def open_hdf5(path: str | os.PathLike[str], specs: Sequence[ArraySpec]) -> Iterator[h5py.File]:
    """Open an HDF5 file after checking its keys, shapes and dtypes against ``specs``.

    Nothing is read but the metadata, so a wrong file fails at once however large it is;
    the values (NaN, ranges) are the caller's to check with :func:`validate_arrays` on what
    it reads.

    Raises:
        FileNotFoundError: the file does not exist.
        SchemaError: not HDF5, a key is missing or a group, or a shape or dtype is wrong.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        handle = h5py.File(path, "r")
    except OSError as err:
        raise SchemaError(f"{path}: not a readable HDF5 file ({err})") from err
    with handle:
        missing = [s for s in specs if s.required and s.key not in handle]
        if missing:  # reported first: the most basic mismatch
            raise SchemaError(
                f"{path}: missing key '{missing[0].key}'; expected {missing[0].expected()}. "
                f"Keys present: {sorted(handle.keys())}"
            )
        sizes: dict[str, int] = {}
        for spec in (s for s in specs if s.key in handle):
            dataset = handle[spec.key]
            if not isinstance(dataset, h5py.Dataset):
                raise _fail(str(path), spec.key, "is a group, not a dataset", spec)
            _check_shape(dataset.shape, spec, sizes, str(path))
            if dataset.dtype.kind not in spec.dtype_kinds:
                raise _fail(str(path), spec.key, f"has dtype {dataset.dtype}", spec)
        yield handle


def read_hdf5(
    path: str | os.PathLike[str], specs: Sequence[ArraySpec], keys: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """Read and validate the datasets of ``specs`` (or only ``keys``) from an HDF5 file.

    Raises:
        FileNotFoundError: the file does not exist.
        SchemaError: a key is missing or has the wrong shape, dtype or values.
    """
    wanted = [s for s in specs if keys is None or s.key in keys]
    with open_hdf5(path, wanted) as handle:
        arrays = {s.key: handle[s.key][()] for s in wanted if s.key in handle}
    validate_arrays(arrays, wanted, source=str(path))
    return arrays


def write_hdf5(
    path: str | os.PathLike[str],
    arrays: Mapping[str, np.ndarray],
    specs: Sequence[ArraySpec],
    compression: str | None = "gzip",
) -> Path:
    """Validate ``arrays`` against ``specs`` and write them atomically (temp file + rename)."""
    path = Path(path)
    validate_arrays(arrays, specs, source=str(path))
    with atomic_open(path, "w+b") as handle, h5py.File(handle, "w") as hdf5:
        for key, array in arrays.items():
            hdf5.create_dataset(key, data=np.asarray(array), compression=compression)
    return path
