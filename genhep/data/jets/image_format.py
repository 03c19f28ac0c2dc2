"""The LAGAN jet-image file format (de Oliveira, Paganini, Nachman 1701.05927): schema, reader,
padding, class names. Shared by the data family (:mod:`genhep.data.jets.images`) and the Monte
Carlo generator (:mod:`genhep.data.jets.pythia_images`).

On disk (the public file, Zenodo record 269622,
``jet-images_Mass60-100_pT250-300_R1.25_Pix25.hdf5``, and genhep's own generated or sampled
files alike): HDF5 with one dataset per key, all sharing the first axis N (keys from LAGAN's
``generation/jetconverter.py`` record layout, hep-lbdl/adversarial-jets):

* ``image`` ``(N, 25, 25)`` float32, pixel pT in GeV, ``>= 0``, finite — required;
* ``signal`` ``(N,)`` 0/1 (1: W′ → WZ signal, 0: QCD background; float32 in LAGAN) — required;
* ``jet_pt``, ``jet_eta``, ``jet_phi``, ``jet_mass``, ``jet_delta_R`` (ΔR of the two leading
  subjets), ``tau_1``, ``tau_2``, ``tau_3``, ``tau_21``, ``tau_32`` ``(N,)`` float — optional:
  genhep reads them when present and does not need them (generated samples carry only
  pixel-level ``jet_pt``, ``jet_mass``, ``tau_21``). The N-subjettiness ratios are allowed to be
  NaN (0 / 0 for one-constituent jets).

Pixel grid: 25×25 over (η, φ) ∈ [−1.25, 1.25]² (jet frame, after LAGAN's translation, rotation
and flip), 0.1 pitch, pixel centres −1.2 … 1.2; columns (last axis) are η increasing, rows are φ
decreasing — see :mod:`genhep.geometry.jet_image`.

Physical samples: ``x`` ``(N, 1, S, S)`` float64 GeV, ``S`` = ``image_size``: 25, or 28 with the
25×25 image zero-padded by :data:`~genhep.geometry.jet_image.PAD_28` = (1, 2) pixels (1 before,
2 after, on both axes), so the original pixel ``(i, j)`` sits at ``(i + 1, j + 1)``. The SARM
paper (Lu, Collado, Whiteson, Baldi 2009.14017) pads to 28×28; its exact offsets were not
verified against its code. ``cond`` (``classes="both"`` only) ``(N, 2)`` one-hot
``[background, signal]``. Model space: ``x`` through
:func:`~genhep.data.jets.image_transforms.make_image_transform` (zeros stay exactly zero).
"""

from __future__ import annotations

import os

import h5py
import numpy as np

from genhep.data.schema import ArraySpec, SchemaError, open_hdf5, validate_arrays
from genhep.geometry.jet_image import N_PIXELS, PAD_28

__all__ = [
    "CLASSES",
    "CLASS_NAMES",
    "IMAGE_SIZES",
    "LAGAN_FILENAME",
    "crop_images",
    "lagan_schema",
    "pad_images",
    "read_jet_images",
]

#: The public LAGAN file's name (Zenodo record 269622).
LAGAN_FILENAME = "jet-images_Mass60-100_pT250-300_R1.25_Pix25.hdf5"
#: ``data.classes`` choices.
CLASSES = ("signal", "background", "both")
#: The classes of two-class data, in the order of the one-hot ``cond`` ``[background, signal]``.
CLASS_NAMES = ("background", "signal")
#: ``data.image_size`` choices.
IMAGE_SIZES = (N_PIXELS, N_PIXELS + sum(PAD_28))

_OPTIONAL = {
    "jet_pt": "leading trimmed jet pT, GeV",
    "jet_eta": "jet pseudorapidity",
    "jet_phi": "jet azimuth, rad",
    "jet_mass": "jet mass, GeV",
    "jet_delta_R": "ΔR of the two leading subjets",
    "tau_1": "N-subjettiness τ1",
    "tau_2": "N-subjettiness τ2",
    "tau_3": "N-subjettiness τ3",
    "tau_21": "τ2 / τ1",
    "tau_32": "τ3 / τ2",
}


def lagan_schema() -> list[ArraySpec]:
    """The arrays of a LAGAN jet-image file (see the module docstring)."""
    return [
        ArraySpec(
            "image",
            ("N", N_PIXELS, N_PIXELS),
            "f",
            min_value=0.0,
            description="pixel pT in GeV, >= 0, 25x25 over (eta, phi) in [-1.25, 1.25]^2",
        ),
        ArraySpec("signal", ("N",), "fiub", description="1 signal (W'), 0 background (QCD)"),
        *(
            ArraySpec(
                key,
                ("N",),
                "f",
                finite=not key.startswith("tau_"),
                required=False,
                description=text,
            )
            for key, text in _OPTIONAL.items()
        ),
    ]


def pad_images(images: np.ndarray, size: int) -> np.ndarray:
    """``(..., 25, 25)`` → ``(..., size, size)``: unchanged for 25, zero-padded by
    :data:`PAD_28` for 28."""
    if size == N_PIXELS:
        return images
    if size != IMAGE_SIZES[1]:
        raise ValueError(f"data.image_size must be one of {IMAGE_SIZES}, got {size}")
    widths = [(0, 0)] * (images.ndim - 2) + [PAD_28, PAD_28]
    return np.pad(images, widths)


def crop_images(images: np.ndarray) -> np.ndarray:
    """Inverse of :func:`pad_images`: ``(..., S, S)`` → ``(..., 25, 25)`` (pad pixels dropped)."""
    size = images.shape[-1]
    if size == N_PIXELS:
        return images
    if size != IMAGE_SIZES[1]:
        raise ValueError(f"jet images must be {IMAGE_SIZES} pixels per side, got {size}")
    before = PAD_28[0]
    return images[..., before : before + N_PIXELS, before : before + N_PIXELS]


def _select(signal: np.ndarray, classes: str, n_events: int | None) -> np.ndarray:
    """Sorted indices of the events to read; ``both`` takes the first ⌈n/2⌉ signal and first
    ⌊n/2⌋ background events (the rest from the other class if one runs short), so that a
    file ordered by class still gives both classes."""
    is_signal = signal.astype(bool)
    if classes == "signal":
        return np.flatnonzero(is_signal)[:n_events]
    if classes == "background":
        return np.flatnonzero(~is_signal)[:n_events]
    if n_events is None or n_events >= len(signal):
        return np.arange(len(signal))
    sig, bkg = np.flatnonzero(is_signal), np.flatnonzero(~is_signal)
    n_sig = min(len(sig), max(n_events - len(bkg), -(-n_events // 2)))
    return np.sort(np.concatenate([sig[:n_sig], bkg[: n_events - n_sig]]))


def _read_rows(dataset: h5py.Dataset, index: np.ndarray) -> np.ndarray:
    """``dataset[index]`` for sorted ``index``: a slice when the rows are dense enough."""
    if len(index) == 0:
        return dataset[0:0]
    start, stop = int(index[0]), int(index[-1]) + 1
    if stop - start <= 4 * len(index):
        return dataset[start:stop][index - start]
    return dataset[index]


def read_jet_images(
    path: str | os.PathLike[str], classes: str = "both", n_events: int | None = None
) -> dict[str, np.ndarray]:
    """Read and validate a LAGAN-format file: every schema key present, for the chosen classes.

    At most ``n_events`` events are read (see :func:`_select` for ``both``); arrays keep the
    file's dtype. ``signal`` is validated to hold only 0 and 1.

    Raises:
        FileNotFoundError: no such file.
        SchemaError: a key is missing, has the wrong shape or dtype, holds NaN/inf or negative
            pixels, or ``signal`` is not 0/1 (the error names the file and the key).
    """
    if classes not in CLASSES:
        raise ValueError(f"data.classes must be one of {CLASSES}, got {classes!r}")
    specs = lagan_schema()
    with open_hdf5(path, specs) as handle:
        present = [s.key for s in specs if s.key in handle]
        signal = handle["signal"][()]
        validate_arrays({"signal": signal}, [specs[1]], source=str(path))
        labels = np.unique(signal)
        if not np.isin(labels, (0, 1)).all():
            raise SchemaError(
                f"{path}: key 'signal': holds the values {labels[:10].tolist()}; expected "
                f"{specs[1].expected()} with values 0 or 1"
            )
        index = _select(signal, classes, n_events)
        arrays = {k: _read_rows(handle[k], index) for k in present if k != "signal"}
        arrays["signal"] = signal[index]
    validate_arrays(arrays, specs, source=str(path))
    return arrays
