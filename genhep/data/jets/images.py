"""``data=jet_images``: LAGAN-format jet images (de Oliveira, Paganini, Nachman 1701.05927).

The file format (keys, shapes, the pixel grid, the 28×28 padding) is documented in
:mod:`genhep.data.jets.image_format`.

Physical samples: ``x`` ``(N, 1, S, S)`` float64 GeV, ``S`` = ``image_size`` (25, or 28 zero-padded
by :data:`~genhep.geometry.jet_image.PAD_28`); ``cond`` (``classes="both"`` only) ``(N, 2)``
one-hot ``[background, signal]``. Model space: ``x`` through
:func:`~genhep.data.jets.image_transforms.make_image_transform` (zeros stay exactly zero).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from genhep.data.base import GenerativeDataModule
from genhep.data.jets.image_format import (
    CLASS_NAMES,
    CLASSES,
    IMAGE_SIZES,
    LAGAN_FILENAME,
    crop_images,
    lagan_schema,
    pad_images,
    read_jet_images,
)
from genhep.data.jets.image_transforms import INTENSITY_TRANSFORMS, make_image_transform
from genhep.data.schema import ArraySpec, write_hdf5
from genhep.data.transforms import Transform
from genhep.evaluation.base import Sample
from genhep.evaluation.jet_images import JetImageEvaluator
from genhep.metrics.jet_images import jet_mass_from_image, jet_pt_from_image, tau21_from_image
from genhep.spec import DataSpec

__all__ = ["JetImageDataModule"]


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

    def evaluator(self, **changes: Any) -> JetImageEvaluator:
        return JetImageEvaluator(**{**self.evaluator_settings, **changes})

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

    def needs_generation(self) -> bool:
        """Pythia images are made (or found in the cache) when no ``path`` is given."""
        return self.path is None

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
