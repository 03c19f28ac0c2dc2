"""``data=jetnet``: JetNet particle clouds (Kansal et al. 2106.11535; Zenodo 6975118 / 6975117).

On disk: the public files read unchanged, one per jet type (:mod:`genhep.data.jets.jetnet_format`).

What is read follows ``jetnet.datasets.JetNet.getData`` (jetnet 0.2.5): the 150-particle
files are used when ``num_particles > 30``; particles are cut to the first ``num_particles``;
``num_particles`` is clipped to ``num_particles``; jet types are concatenated in the order
g, q, t, w, z (jetnet's ``"all"`` order; for a *subset* jetnet iterates a Python ``set``,
whose order depends on string hashing, so only single types and "all" are reproducible
there); padded particles' features are set to zero (``gen_jet_corrections``).

Split: JetNet's default, reproduced exactly (see :meth:`JetNetDataModule.split_indices`):
``randperm = np.random.default_rng(seed).permutation(N)`` (jetnet 0.2.5); cut points
``(cumsum([0, train, valid, test]) * N).astype(int)``; train / valid / test are consecutive
slices of ``randperm`` (not sorted, the same order as jetnet's). genhep's ``val`` is jetnet's
``valid``. Fractions: train = 1 − val_fraction − test_fraction (default 0.7 / 0.15 / 0.15),
seed = ``split_seed`` (default 42).

Batches: ``x`` (B, n, F) with the chosen ``particle_features`` (default etarel, phirel,
ptrel), ``mask`` (B, n) bool, and optionally ``cond`` (B, C) with jet features (``pt``/
``jet_pt``, ``eta``/``jet_eta``, ``mass``/``jet_mass``, ``num_particles``, ``type`` = jet-type
index in g, q, t, w, z).

Transform (``transform: standardize``): :class:`MaskedStandardize`, per-feature
``(x − mean) / std`` with statistics over real particles of the training split; particles
outside the mask (padding) are exactly zero in model space and map back to zero, with the
mask the data gives or, at sampling, the one the model generates. ``none`` trains on the raw
features (padding kept at zero too). Every inverse clamps ``ptrel`` at zero: a model's output
below it (an identity or tanh output layer has no floor) maps onto the physical range, where
the EMD of COV/MMD needs it; on the data's own range forward and inverse stay exact inverses.
``spec.layout["features"]`` names the particle-feature columns.
``cond`` is standardised per column (``Standardize``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genhep.data.base import GenerativeDataModule
from genhep.data.jets.jetnet_format import (
    JET_TYPES,
    PARTICLE_FEATURES,
    jetnet_file_name,
    jetnet_schema,
    read_jetnet_file,
)
from genhep.data.jets.pythia_jetnet import cached_jetnet
from genhep.data.schema import ArraySpec, write_hdf5
from genhep.data.transforms import Identity, MaxAbs, Standardize, Transform
from genhep.evaluation.base import Sample
from genhep.evaluation.jetnet import JetNetEvaluator
from genhep.metrics.jet_clouds import jet_mass, jet_pt
from genhep.spec import DataSpec

GENERATE_HINT = "genhep data generate data=jetnet"
COND_ALIASES = {
    "jet_pt": "pt",
    "jet_eta": "eta",
    "jet_mass": "mass",
    "pt": "pt",
    "eta": "eta",
    "mass": "mass",
    "num_particles": "num_particles",
    "type": "type",
    "jet_type": "type",
}


def jetnet_split(n: int, fractions: Sequence[float], seed: int) -> dict[str, np.ndarray]:
    """JetNet's split (``JetNet.getData`` + ``getSplitting``, jetnet 0.2.5): consecutive
    slices of ``np.random.default_rng(seed).permutation(n)`` (checked against jetnet in
    tests/test_jetnet_reference.py)."""
    if np.sum(fractions) > 1.0:
        raise ValueError(f"split fractions must sum to <= 1, got {list(fractions)}")
    randperm = np.random.default_rng(seed).permutation(n)
    cuts = (np.cumsum(np.insert(np.asarray(fractions, dtype=np.float64), 0, 0)) * n).astype(int)
    return {
        split: randperm[cuts[i] : cuts[i + 1]] for i, split in enumerate(("train", "val", "test"))
    }


class KeepsPaddingZero(Transform):
    """Mixin for particle-cloud transforms (alone: the identity): ``forward`` and ``inverse``
    set every particle outside ``mask`` ``(N, n)`` to zero; without a mask, padding is
    recognised as in JetNet's files: a particle whose features are all exactly zero (a real
    particle never is: ``ptrel > 0``). Fitting uses the real particles (``mask``).
    ``inverse`` clamps the ``nonnegative`` columns (``ptrel``) at zero."""

    def __init__(self, *args, nonnegative: Sequence[int] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.nonnegative = list(nonnegative)

    @staticmethod
    def _padding(x: Tensor, mask: Tensor | None) -> Tensor:
        if mask is None:
            return (x == 0).all(dim=-1, keepdim=True)
        return ~mask.to(device=x.device, dtype=torch.bool)[..., None]

    def forward(
        self, x: Tensor, *, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        return torch.where(self._padding(x, mask), torch.zeros_like(x), super().forward(x))

    def inverse(
        self, x: Tensor, *, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        out = super().inverse(x)
        floor = torch.full((out.shape[-1],), -torch.inf, dtype=out.dtype, device=out.device)
        floor[self.nonnegative] = 0.0
        return torch.where(self._padding(x, mask), torch.zeros_like(out), out.clamp(min=floor))


class MaskedStandardize(KeepsPaddingZero, Standardize):
    """Per-feature standardisation over the real particles; padding stays zero."""


class MaskedMaxAbs(KeepsPaddingZero, MaxAbs):
    """MPGAN's per-feature ``x / max|x|`` (``ptrel`` then −0.5) over the real particles;
    padding stays zero."""


#: ``data.transform`` choices of the JetNet family.
JETNET_TRANSFORMS = ("standardize", "max_abs", "none")


class JetNetDataModule(GenerativeDataModule):
    """``data=jetnet``: JetNet clouds read from the public files (see the module docstring).

    Args:
        path: folder holding the JetNet files (real or generated); ``None``: ``data_dir``
            when it holds them, else the Monte Carlo generator (:meth:`generate`).
        data_dir: genhep's data cache for generated files, used when ``path`` is ``None``.
        generator: options of the Monte Carlo generator
            (:mod:`genhep.data.jets.pythia_jetnet`); ``None`` disables generation (missing
            files are then an error pointing at ``genhep data generate data=jetnet``).
        jet_type: ``"g"``, ``"q"``, ``"t"``, ``"w"``, ``"z"``, a list of them, or ``"all"``.
        num_particles: particles per jet, <= 150 (the 150-particle files above 30).
        particle_features: features in ``x`` and their order (subset of etarel, phirel, ptrel).
        cond: ``None`` or jet features for ``cond`` (a name or list; see module docstring).
        n_events: read at most this many jets per type (first rows, before the split).
        transform: ``standardize`` (:class:`MaskedStandardize`), ``max_abs`` (MPGAN's:
            :class:`MaskedMaxAbs`, features in [−1, 1] for a tanh output) or ``none``.
        **kwargs: split and loader settings of :class:`GenerativeDataModule`
            (``val_fraction``/``test_fraction`` default 0.15/0.15, ``split_seed`` 42).
    """

    family = "jetnet"

    def __init__(
        self,
        path: str | None = None,
        data_dir: str | None = None,
        jet_type: str | Sequence[str] = "g",
        num_particles: int = 30,
        particle_features: Sequence[str] = ("etarel", "phirel", "ptrel"),
        cond: str | Sequence[str] | None = None,
        n_events: int | None = None,
        transform: str = "standardize",
        generator: dict | None = None,
        **kwargs,
    ) -> None:
        if transform not in JETNET_TRANSFORMS:
            raise ValueError(
                f"data.transform must be one of {JETNET_TRANSFORMS}, got {transform!r}"
            )
        self.transform_name = transform
        self.cond_names = self._parse_cond(cond)
        features = [str(f) for f in particle_features]
        unknown = [f for f in features if f not in PARTICLE_FEATURES[:3]]
        if unknown or not features or len(set(features)) != len(features):
            raise ValueError(
                f"data.particle_features must be distinct names out of "
                f"{list(PARTICLE_FEATURES[:3])}, got {features}"
            )
        self.particle_features = features
        super().__init__(**kwargs)
        self.path = None if path is None else Path(path)
        self.data_dir = None if data_dir is None else Path(data_dir)
        self.jet_types = self._parse_jet_types(jet_type)
        if not 1 <= int(num_particles) <= 150:
            raise ValueError(f"data.num_particles must be in 1..150, got {num_particles}")
        self.num_particles = int(num_particles)
        self.n_events = n_events
        self.generator = None if generator is None else dict(generator)

    # -- configuration ---------------------------------------------------------------------

    @staticmethod
    def _parse_jet_types(jet_type: str | Sequence[str]) -> list[str]:
        types = (
            list(JET_TYPES)
            if jet_type == "all"
            else [jet_type]
            if isinstance(jet_type, str)
            else list(jet_type)
        )
        bad = [t for t in types if t not in JET_TYPES]
        if bad or not types:
            raise ValueError(
                f"data.jet_type must be 'all' or out of {list(JET_TYPES)}, got {jet_type!r}"
            )
        # jetnet's canonical ("all") order, whatever order the user listed them in
        return [t for t in JET_TYPES if t in types]

    @staticmethod
    def _parse_cond(cond: str | Sequence[str] | None) -> list[str]:
        if cond is None or cond == "none":
            return []
        names = [cond] if isinstance(cond, str) else list(cond)
        bad = [c for c in names if c not in COND_ALIASES]
        if bad:
            raise ValueError(
                f"data.cond: unknown jet features {bad}; choose from {sorted(COND_ALIASES)}"
            )
        return [COND_ALIASES[c] for c in names]

    @property
    def spec(self) -> DataSpec:
        return DataSpec(
            self.family,
            (self.num_particles, len(self.particle_features)),
            cond_dim=len(self.cond_names),
            has_mask=True,
            layout={
                "features": {name: (i, i + 1) for i, name in enumerate(self.particle_features)}
            },
        )

    @property
    def schema(self) -> list[ArraySpec]:
        return jetnet_schema()

    def file_name(self, jet_type: str) -> str:
        """JetNet's file name for a jet type: ``g.hdf5`` or ``g150.hdf5`` above 30 particles."""
        return jetnet_file_name(jet_type, self.num_particles)

    def make_transform(self) -> Transform:
        nonnegative = [i for i, f in enumerate(self.particle_features) if f == "ptrel"]
        if self.transform_name == "standardize":
            return MaskedStandardize(nonnegative=nonnegative)
        if self.transform_name == "max_abs":
            shift = [-0.5 if f == "ptrel" else 0.0 for f in self.particle_features]
            return MaskedMaxAbs(shift, nonnegative=nonnegative)
        return KeepsPaddingZero(nonnegative=nonnegative)

    def make_cond_transform(self) -> Transform:
        return Standardize() if self.cond_names else Identity()

    # -- reading -------------------------------------------------------------------------

    def _has_files(self, folder: Path | None) -> bool:
        return folder is not None and all(
            (folder / self.file_name(t)).is_file() for t in self.jet_types
        )

    def needs_generation(self) -> bool:
        """No ``path``, ``data_dir`` lacks the files and a generator is configured."""
        return (
            self.path is None and self.generator is not None and not self._has_files(self.data_dir)
        )

    def _folder(self) -> Path:
        if self.path is not None:
            return self.path
        folder = self.data_dir
        if not self._has_files(folder):
            try:
                made = Path(self.generate())
            except NotImplementedError as err:
                where = "data.data_dir is not set" if folder is None else f"not found in {folder}"
                raise FileNotFoundError(
                    f"JetNet files {[self.file_name(t) for t in self.jet_types]}: {where}. "
                    f"Point data.path at a folder with the public JetNet files (Zenodo 6975118 "
                    f"for 30 particles, 6975117 for 150), or make them with "
                    f"`{GENERATE_HINT}` ({err})"
                ) from err
            folder = made if made.is_dir() else made.parent
        return folder

    def generate(self) -> Path:
        """Pythia 8 + FastJet JetNet clouds of ``data.jet_type`` for ``data.generator``, in a
        folder ``<data.data_dir>/jetnet<n>_<hash>/`` holding ``g.hdf5`` etc. (JetNet's names;
        :mod:`genhep.data.jets.pythia_jetnet`; needs the ``hep`` extra); returns the folder.

        ``data.generator`` holds ``n_events`` per jet type (default ``data.n_events``, else
        10000), ``seed``, the physics settings and ``chunk_size``, ``n_workers`` (default: all
        cores), ``progress``; ``num_particles`` is 150 when ``data.num_particles > 30``,
        else 30. A rerun reuses the files, a larger ``n_events`` extends them.
        """
        if self.generator is None:
            raise NotImplementedError("data.generator is null (generation disabled)")
        if self.data_dir is None:
            raise NotImplementedError("data.data_dir is null: nowhere to write generated files")
        config = dict(self.generator)
        if config.get("n_events") is None:
            config["n_events"] = self.n_events or 10_000
        config["num_particles"] = 150 if self.num_particles > 30 else 30
        return cached_jetnet(self.data_dir, config, self.jet_types)

    def _from_arrays(self, arrays: dict[str, np.ndarray], type_index: int | None) -> Sample:
        """JetNet file arrays -> genhep sample (``x``, ``mask``, ``cond``) in physical units."""
        pf = np.asarray(arrays["particle_features"])[:, : self.num_particles]
        jf = np.asarray(arrays["jet_features"], dtype=np.float64)
        mask = pf[..., 3] >= 0.5
        x = np.where(mask[..., None], pf[..., :3], 0.0).astype(np.float32)
        order = [PARTICLE_FEATURES.index(f) for f in self.particle_features]
        sample: Sample = {"x": x[..., order], "mask": mask}
        if self.cond_names:
            columns = {
                "pt": jf[:, 0],
                "eta": jf[:, 1],
                "mass": jf[:, 2],
                "num_particles": np.minimum(jf[:, 3], self.num_particles),
                "type": np.full(len(jf), -1.0 if type_index is None else float(type_index)),
            }
            sample["cond"] = np.stack([columns[c] for c in self.cond_names], axis=1).astype(
                np.float32
            )
        return sample

    def load_arrays(self) -> Sample:
        folder = self._folder()
        parts, self.source_files = [], []
        for jet_type in self.jet_types:
            path = folder / self.file_name(jet_type)
            if not path.is_file():
                raise FileNotFoundError(
                    f"{path}: no such file (JetNet jet type '{jet_type}', "
                    f"{self.num_particles} particles); make it with `{GENERATE_HINT}`"
                )
            arrays = read_jetnet_file(path, self.num_particles)
            self.source_files.append(path)
            if self.n_events is not None:
                arrays = {k: v[: self.n_events] for k, v in arrays.items()}
            parts.append(self._from_arrays(arrays, JET_TYPES.index(jet_type)))
        return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}

    def split_indices(self, n: int) -> dict[str, np.ndarray]:
        """JetNet's split: consecutive slices of ``default_rng(split_seed).permutation(n)``."""
        fractions = [
            1.0 - self.val_fraction - self.test_fraction,
            self.val_fraction,
            self.test_fraction,
        ]
        if fractions[0] <= 0:
            raise ValueError(
                f"data.val_fraction + data.test_fraction must leave events for training, "
                f"got {self.val_fraction} + {self.test_fraction}"
            )
        return jetnet_split(n, fractions, self.split_seed)

    def read_samples(self, path: str | os.PathLike[str]) -> Sample:
        """A JetNet-format file (e.g. samples written by another tool) as a genhep sample.

        ``cond`` column ``type`` is unknown for a single file and set to −1.
        """
        return self._from_arrays(read_jetnet_file(path, self.num_particles), None)

    def write_samples(self, path: str | os.PathLike[str], sample: Sample) -> Path:
        """Write a sample in JetNet's layout.

        ``particle_features`` = [etarel, phirel, ptrel, mask] (masked particles zeroed);
        ``jet_features`` = [pt, eta, mass, num_particles]: pt and eta from ``cond`` where it
        holds them, else the jet pT is unknown and the relative values are written (pt = pT of
        the particle sum in units of the jet pT, eta = 0, mass relative).
        """
        missing = [f for f in PARTICLE_FEATURES[:3] if f not in self.particle_features]
        if missing:
            raise ValueError(f"writing JetNet files needs all particle features; missing {missing}")
        x = np.asarray(sample["x"], dtype=np.float64)
        n_jets, n = x.shape[:2]
        mask = (
            np.asarray(sample["mask"]).astype(bool)
            if "mask" in sample
            else np.ones((n_jets, n), dtype=bool)
        )
        ordered = x[..., [self.particle_features.index(f) for f in PARTICLE_FEATURES[:3]]]
        ordered = np.where(mask[..., None], ordered, 0.0)
        ordered[..., 2] = np.clip(ordered[..., 2], 0.0, None)
        pf = np.concatenate([ordered, mask[..., None]], axis=-1).astype(np.float32)
        cond = (
            dict(zip(self.cond_names, np.asarray(sample["cond"]).T, strict=True))
            if self.cond_names and "cond" in sample
            else {}
        )
        pt = np.asarray(cond["pt"], dtype=np.float64) if "pt" in cond else jet_pt(ordered, mask)
        eta = np.asarray(cond["eta"], dtype=np.float64) if "eta" in cond else np.zeros(n_jets)
        mass = jet_mass(ordered, mask, pt if "pt" in cond else None)
        jf = np.stack([pt, eta, mass, mask.sum(axis=1)], axis=1).astype(np.float32)
        return write_hdf5(path, {"particle_features": pf, "jet_features": jf}, self.schema)

    def evaluator(self, **changes: Any) -> JetNetEvaluator:
        return JetNetEvaluator(
            particle_features=self.particle_features,
            jet_type=self.jet_types[0] if len(self.jet_types) == 1 else None,
            num_particles=self.num_particles,
            **{**self.evaluator_settings, **changes},
        )
