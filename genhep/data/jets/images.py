"""``data=jet_images``: LAGAN-format jet images (de Oliveira, Paganini, Nachman 1701.05927).

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
decreasing — see :mod:`genhep.metrics.jet_images`.

Physical samples: ``x`` ``(N, 1, S, S)`` float64 GeV, ``S`` = ``image_size``: 25, or 28 with the
25×25 image zero-padded by :data:`~genhep.metrics.jet_images.PAD_28` = (1, 2) pixels (1 before,
2 after, on both axes), so the original pixel ``(i, j)`` sits at ``(i + 1, j + 1)``. The SARM
paper (Lu, Collado, Whiteson, Baldi 2009.14017) pads to 28×28; its exact offsets were not
verified against its code. ``cond`` (``classes="both"`` only) ``(N, 2)`` one-hot
``[background, signal]``. Model space: ``x`` through
:func:`~genhep.data.jets.image_transforms.make_image_transform` (zeros stay exactly zero).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from genhep.data.base import DataSpec, GenerativeDataModule
from genhep.data.jets.image_evaluator import CLASS_NAMES, JetImageEvaluator
from genhep.data.jets.image_transforms import INTENSITY_TRANSFORMS, make_image_transform
from genhep.data.schema import ArraySpec, SchemaError, open_hdf5, validate_arrays, write_hdf5
from genhep.data.transforms import Transform
from genhep.evaluation.base import Sample
from genhep.metrics.jet_images import (
    N_PIXELS,
    PAD_28,
    jet_mass_from_image,
    jet_pt_from_image,
    tau21_from_image,
)

__all__ = [
    "CLASSES",
    "LAGAN_FILENAME",
    "JetImageDataModule",
    "crop_images",
    "lagan_schema",
    "pad_images",
    "read_jet_images",
]

#: The public LAGAN file's name (Zenodo record 269622).
LAGAN_FILENAME = "jet-images_Mass60-100_pT250-300_R1.25_Pix25.hdf5"
#: ``data.classes`` choices.
CLASSES = ("signal", "background", "both")
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


class JetImageDataModule(GenerativeDataModule):
    """``data=jet_images``: LAGAN-style jet images, one or both classes.

    Args:
        path: a LAGAN-format HDF5 file (the public file or a generated one); ``None``: the
            family's generator (:meth:`generate`).
        classes: ``signal``, ``background`` or ``both`` (then ``cond`` is the one-hot
            ``[background, signal]``).
        image_size: 25, or 28 (zero-padded as the SARM paper; see the module docstring).
        n_events: read at most this many events (``None``: all).
        transform: ``log`` (``log(1 + x / s)``), ``scale`` (``x / s``) or ``none``.
        scale: ``s`` in GeV; ``None``: fitted on the training split.
        scale_percentile: percentile of the non-zero training pixels that ``s`` is fitted to.
        data_dir: cache folder of generated files (``${paths.data_dir}``).
        generator: options of the Monte Carlo generator.
        **kwargs: split and loader settings of :class:`GenerativeDataModule`.
    """

    family = "jet_images"

    def __init__(
        self,
        path: str | None = None,
        classes: str = "both",
        image_size: int = 25,
        n_events: int | None = None,
        transform: str = "log",
        scale: float | None = None,
        scale_percentile: float = 100.0,
        data_dir: str | None = None,
        generator: Mapping[str, Any] | None = None,
        **kwargs,
    ) -> None:
        if classes not in CLASSES:
            raise ValueError(f"data.classes must be one of {CLASSES}, got {classes!r}")
        if image_size not in IMAGE_SIZES:
            raise ValueError(f"data.image_size must be one of {IMAGE_SIZES}, got {image_size}")
        if transform not in INTENSITY_TRANSFORMS:
            raise ValueError(
                f"unknown data.transform={transform!r}; choose one of {list(INTENSITY_TRANSFORMS)}"
            )
        if n_events is not None and n_events < 1:
            raise ValueError(f"data.n_events must be >= 1 or null, got {n_events}")
        self.path = None if path is None else Path(path)
        self.classes, self.image_size, self.n_events = classes, image_size, n_events
        self.transform_name, self.scale, self.scale_percentile = (
            transform,
            scale,
            scale_percentile,
        )
        self.data_dir = None if data_dir is None else Path(data_dir)
        self.generator = dict(generator or {})
        super().__init__(**kwargs)

    @property
    def spec(self) -> DataSpec:
        cond_dim = len(CLASS_NAMES) if self.classes == "both" else 0
        return DataSpec(self.family, (1, self.image_size, self.image_size), cond_dim=cond_dim)

    @property
    def schema(self) -> list[ArraySpec]:
        return lagan_schema()

    def make_transform(self) -> Transform:
        return make_image_transform(self.transform_name, self.scale, self.scale_percentile)

    def evaluator(self) -> JetImageEvaluator:
        return JetImageEvaluator()

    def load_arrays(self) -> Sample:
        if self.path is not None:
            self.source_files = [self.path]
            return self.read_samples(self.path, self.n_events)
        try:
            path = self.generate()
        except NotImplementedError as err:
            raise NotImplementedError(
                "data.path is null and the jet-image Monte Carlo generator is not available: "
                "set data.path to a LAGAN-format HDF5 file (e.g. the public "
                f"{LAGAN_FILENAME}, Zenodo record 269622), or install the hep extra "
                "(pip install -e '.[hep]') for `genhep data generate data=jet_images`"
            ) from err
        self.source_files = [path]
        return self.read_samples(path, self.n_events)

    def generate(self) -> Path:
        """Pythia 8 + FastJet jet images (LAGAN recipe) for ``data.generator``, cached under
        ``data.data_dir`` (:mod:`genhep.data.jets.pythia_images`; needs the ``hep`` extra).

        ``data.classes`` picks the processes (``both``: alternating signal and background
        blocks); ``data.generator`` holds ``n_events`` (default ``data.n_events``, else
        10000), ``seed``, the physics settings and ``chunk_size``, ``n_workers`` (default: all
        cores), ``progress``. The file is named by a hash of the configuration: a rerun reuses
        it, a larger ``n_events`` extends it.
        """
        if self.data_dir is None:
            raise ValueError(
                "data.path is null and data.data_dir is null: set data.path to a LAGAN-format "
                f"file (e.g. the public {LAGAN_FILENAME}) or data.data_dir, where "
                "`genhep data generate data=jet_images` makes one"
            )
        try:
            from genhep.data.jets.pythia_images import cached_jet_images
        except ImportError as err:  # pragma: no cover - the module itself imports no extra
            raise NotImplementedError(f"the jet-image generator is unavailable: {err}") from err
        config = dict(self.generator)
        if config.get("n_events") is None:
            config["n_events"] = self.n_events or 10_000
        return cached_jet_images(self.data_dir, config, self.classes)

    def read_samples(self, path: str | os.PathLike[str], n_events: int | None = None) -> Sample:
        """``{"x": (N, 1, S, S) GeV[, "cond": (N, 2) one-hot]}`` (float64) from a LAGAN-format
        file, validated (see :func:`read_jet_images`)."""
        arrays = read_jet_images(path, self.classes, n_events)
        images = pad_images(np.asarray(arrays["image"], dtype=np.float64), self.image_size)
        sample = {"x": images[:, None]}
        if self.classes == "both":
            sample["cond"] = np.eye(len(CLASS_NAMES))[arrays["signal"].astype(int)]
        return sample

    def write_samples(self, path: str | os.PathLike[str], sample: Sample) -> Path:
        """Write ``{"x"[, "cond"]}`` as a LAGAN-format file: ``image`` (float32 GeV, cropped to
        25×25 — pT in the padding of 28×28 images is dropped), ``signal`` (from ``cond``'s
        argmax, or the configured class) and the pixel-level ``jet_pt``, ``jet_mass``,
        ``tau_21`` (:mod:`genhep.metrics.jet_images`)."""
        x = np.asarray(sample["x"], dtype=np.float64)
        images = crop_images(x[:, 0] if x.ndim == 4 else x)
        cond = sample.get("cond")
        if cond is not None:
            signal = np.asarray(cond).argmax(axis=1)
        else:
            signal = np.full(len(images), int(self.classes == "signal"))
        arrays = {
            "image": images.astype(np.float32),
            "signal": signal.astype(np.float32),
            "jet_pt": jet_pt_from_image(images).astype(np.float32),
            "jet_mass": jet_mass_from_image(images).astype(np.float32),
            "tau_21": tau21_from_image(images).astype(np.float32),
        }
        return write_hdf5(path, arrays, self.schema)
