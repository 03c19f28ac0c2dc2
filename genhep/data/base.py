"""The data-family contract: a LightningDataModule that yields dict batches.

A family subclasses :class:`GenerativeDataModule` and provides

- ``family``: its name (:attr:`DataSpec.family`);
- :meth:`spec`: event shape, condition size, whether batches carry a mask and the named
  column groups (:class:`~genhep.spec.DataSpec`), known from the configuration alone (before
  any data is read);
- :meth:`load_arrays`: every event in physical units (validated against its schema);
- :meth:`make_transform` / :meth:`make_cond_transform`: invertible preprocessing;
- :meth:`evaluator`: the family's physics scores;
- :attr:`schema`: the arrays of its public on-disk format, which
  :meth:`read_samples` / :meth:`write_samples` use (``genhep evaluate samples=...``,
  ``genhep sample``). Families whose public keys differ from the sample's keys
  override those two methods.

- :meth:`generate` and :meth:`needs_generation`, for families with a Monte Carlo generator:
  Lightning's :meth:`prepare_data` (rank 0 of each node) makes missing data before any rank
  reads it, so a DDP job never runs the generator twice.

The ``x`` transform always receives the events' *physical* condition and mask as keywords
(``fit(x, cond=..., mask=...)``, :mod:`genhep.data.transforms`): calorimeter showers are
divided by their incident energy, clouds standardised over their real particles. A transform
that changes the event shape (``spec.event_shape`` is the model-space shape) overrides
:attr:`physical_event_shape`.

The base class splits the events (fractions + seed), fits the transforms on the training
split, serves batches ``{"x", "mask"?, "cond"?}`` in model space (float32, transformed in
float64 chunks of :data:`TRANSFORM_CHUNK` events, so a large file never exists in float64 at
once) and hands the evaluation callback real samples in physical units (float64).
"""

from __future__ import annotations

import os
from abc import abstractmethod
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from genhep.data.generation import generation_speed
from genhep.data.schema import ArraySpec, read_hdf5, write_hdf5
from genhep.data.transforms import Identity, Transform
from genhep.evaluation.base import Evaluator, Sample, as_float64
from genhep.spec import DataSpec

SPLITS = ("train", "val", "test")
#: Events transformed at once into model space (float64 work, float32 result).
TRANSFORM_CHUNK = 65536


def split_indices(
    n: int, val_fraction: float, test_fraction: float, seed: int
) -> dict[str, np.ndarray]:
    """Disjoint train/val/test index arrays from a seeded permutation of ``range(n)``."""
    for name, fraction in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= fraction < 1.0:
            raise ValueError(f"data.{name} must be in [0, 1), got {fraction}")
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"data.val_fraction + data.test_fraction must leave events for training, "
            f"got {val_fraction} + {test_fraction}"
        )
    order = np.random.default_rng(seed).permutation(n)
    n_val, n_test = int(round(n * val_fraction)), int(round(n * test_fraction))
    return {
        "train": np.sort(order[n_val + n_test :]),
        "val": np.sort(order[:n_val]),
        "test": np.sort(order[n_val : n_val + n_test]),
    }


class DictDataset(Dataset):
    """Tensors sharing a first axis, served as dict batches in one indexing operation."""

    def __init__(self, tensors: Mapping[str, Tensor]) -> None:
        lengths = {len(t) for t in tensors.values()}
        if len(lengths) != 1:
            raise ValueError(
                f"tensors differ in length: { {k: len(t) for k, t in tensors.items()} }"
            )
        self.tensors = dict(tensors)
        self.length = lengths.pop()

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return {k: t[index] for k, t in self.tensors.items()}

    def __getitems__(self, indices: list[int]) -> dict[str, Tensor]:
        index = torch.as_tensor(indices, dtype=torch.long)
        return {k: t[index] for k, t in self.tensors.items()}


def collate_batch(batch: dict[str, Tensor]) -> dict[str, Tensor]:
    """The dataset already returns a stacked batch (see ``DictDataset.__getitems__``)."""
    return batch


class EpochSeededSampler(Sampler[int]):
    """Random order that depends only on ``(seed, epoch)``.

    A resumed run therefore sees exactly the batches an uninterrupted run would, and
    nothing draws from the global random state. Lightning calls ``set_epoch``.
    """

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.n, generator=generator).tolist())

    def __len__(self) -> int:
        return self.n


class GenerativeDataModule(pl.LightningDataModule):
    """Base class of every data family (see the module docstring).

    Args:
        batch_size: training batch size.
        val_fraction, test_fraction: shares of events held out; the rest trains.
        split_seed: seed of the split permutation (and of the shuffling order).
        num_workers: DataLoader worker processes.
        eval_batch_size: batch size for validation/test; defaults to ``batch_size``.
        evaluator: settings of the family's evaluator (``data.evaluator``), passed by
            :meth:`evaluator` to its constructor, which rejects unknown keys.
    """

    family: ClassVar[str] = ""

    def __init__(
        self,
        batch_size: int = 256,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        split_seed: int = 42,
        num_workers: int = 0,
        eval_batch_size: int | None = None,
        evaluator: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.evaluator_settings = dict(evaluator or {})
        self.batch_size = batch_size
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.split_seed = split_seed
        self.num_workers = num_workers
        self.eval_batch_size = eval_batch_size or batch_size
        self.transform = self.make_transform()
        self.cond_transform = self.make_cond_transform()
        self.physical: dict[str, Sample] = {}
        self.datasets: dict[str, DictDataset] = {}
        #: the files ``load_arrays`` read (families that read files fill it)
        self.source_files: list[Path] = []

    # -- what a family provides -------------------------------------------------------

    @property
    @abstractmethod
    def spec(self) -> DataSpec:
        """Event shape and condition size, from the configuration alone."""

    @abstractmethod
    def load_arrays(self) -> Sample:
        """All events in physical units: ``x`` and, if the family has them, ``cond``, ``mask``."""

    @abstractmethod
    def evaluator(self, **changes: Any) -> Evaluator:
        """The family's evaluator, built from ``data.evaluator`` with ``changes`` on top
        (e.g. ``cov_mmd=False``: what an evaluation at validation leaves out)."""

    def make_transform(self) -> Transform:
        """Preprocessing of ``x``; the identity unless a family overrides it."""
        return Identity()

    def make_cond_transform(self) -> Transform:
        """Preprocessing of ``cond``; the identity unless a family overrides it."""
        return Identity()

    @property
    def physical_event_shape(self) -> tuple[int, ...]:
        """Shape of one event's ``x`` in physical units; ``spec.event_shape`` unless the
        transform changes it (then ``spec.event_shape`` is the model-space shape)."""
        return self.spec.event_shape

    @property
    def schema(self) -> list[ArraySpec]:
        """The arrays of the family's public file format (keys, shapes, dtypes)."""
        raise NotImplementedError(f"{type(self).__name__} declares no on-disk schema")

    def read_samples(self, path: str | os.PathLike[str]) -> Sample:
        """Events in physical units from a file in the family's public format, validated.

        Raises:
            FileNotFoundError: no such file.
            SchemaError: the file does not match :attr:`schema` (names file and key).
        """
        return read_hdf5(path, self.schema)

    def write_samples(self, path: str | os.PathLike[str], sample: Sample) -> Path:
        """Write events in physical units in the family's public format, atomically."""
        arrays = {spec.key: sample[spec.key] for spec in self.schema if spec.key in sample}
        return write_hdf5(path, arrays, self.schema)

    def generate(self) -> Path:
        """Make the family's data from first principles in its public format; return the file.

        Families with a Monte Carlo generator write into a cache under their ``data_dir``
        named by the generator configuration, and return the cached file on a rerun.
        """
        raise NotImplementedError(
            f"data family '{self.family}' has no generator (its events are made in memory "
            "or read from data.path)"
        )

    def needs_generation(self) -> bool:
        """Whether :meth:`prepare_data` must make data with :meth:`generate` (no ``path`` given
        and the generated file not yet cached); ``False`` for families without a generator."""
        return False

    def prepare_data(self) -> None:
        """Make missing data once, before any rank reads it (Lightning calls this on rank 0
        of each node only); :meth:`setup` then finds the cached files."""
        if self.needs_generation():
            self.generate()

    def monte_carlo_speed(self) -> dict[str, Any] | None:
        """How fast genhep's Monte Carlo made the data read (events per CPU-second, one core;
        :func:`genhep.data.generation.generation_speed`), or ``None`` (public files, data
        made in memory)."""
        return generation_speed(self.source_files) if self.source_files else None

    def split_indices(self, n: int) -> dict[str, np.ndarray]:
        """Train/val/test indices; families with a canonical split override this."""
        return split_indices(n, self.val_fraction, self.test_fraction, self.split_seed)

    # -- Lightning hooks -----------------------------------------------------------------

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        arrays = self.load_arrays()
        self._check_against_spec(arrays)
        indices = self.split_indices(len(arrays["x"]))
        self.physical = {
            split: {key: value[idx] for key, value in arrays.items()}
            for split, idx in indices.items()
        }
        train = {k: torch.as_tensor(v) for k, v in self.physical["train"].items()}
        if not self.transform.fitted:
            self.transform.fit(
                train["x"].double(), cond=_double(train.get("cond")), mask=train.get("mask")
            )
        if "cond" in train and not self.cond_transform.fitted:
            self.cond_transform.fit(train["cond"].double())
        self.datasets = {split: self._model_space(self.physical[split]) for split in SPLITS}

    def _check_against_spec(self, arrays: Sample) -> None:
        spec, name = self.spec, type(self).__name__
        if tuple(arrays["x"].shape[1:]) != self.physical_event_shape:
            raise ValueError(
                f"{name}: events have shape {tuple(arrays['x'].shape[1:])}, "
                f"but the configuration implies {self.physical_event_shape}"
            )
        cond_dim = arrays["cond"].shape[1] if "cond" in arrays else 0
        if cond_dim != spec.cond_dim:
            raise ValueError(f"{name}: condition has {cond_dim} columns, expected {spec.cond_dim}")

    def _model_space(self, sample: Sample) -> DictDataset:
        """Physical events -> model-space tensors (float32), in float64 chunks."""
        n = len(sample["x"])
        chunks: dict[str, list[Tensor]] = {key: [] for key in sample}
        for start in range(0, max(n, 1), TRANSFORM_CHUNK):
            part = {
                k: torch.as_tensor(v[start : start + TRANSFORM_CHUNK]) for k, v in sample.items()
            }
            cond, mask = _double(part.get("cond")), part.get("mask")
            mask = None if mask is None else mask.bool()
            chunks["x"].append(
                self.transform.forward(part["x"].double(), cond=cond, mask=mask).float()
            )
            if cond is not None:
                chunks["cond"].append(self.cond_transform.forward(cond).float())
            if mask is not None:
                chunks["mask"].append(mask)
        return DictDataset({key: torch.cat(parts) for key, parts in chunks.items()})

    def _loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader:
        if not self.datasets:
            self.setup()
        dataset = self.datasets[split]
        sampler = EpochSeededSampler(len(dataset), self.split_seed) if shuffle else None
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            collate_fn=collate_batch,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            generator=torch.Generator().manual_seed(self.split_seed),
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size, shuffle=False)

    def state_dict(self) -> dict[str, Any]:
        """Fitted transform parameters, stored in every checkpoint."""
        return {
            "transform": self.transform.state_dict(),
            "cond_transform": self.cond_transform.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.transform.load_state_dict(state["transform"])
        self.cond_transform.load_state_dict(state["cond_transform"])

    # -- what the evaluation callback uses ---------------------------------------------

    def evaluation_samples(self, stage: str, n: int) -> tuple[Sample, Sample]:
        """Two disjoint real samples in physical units, at most ``n`` events each.

        ``real`` comes from the split being evaluated (``"val"`` or ``"test"``);
        ``reference`` from the training split, for the real-vs-real baseline.
        """
        if not self.physical:
            self.setup()
        real = as_float64({k: v[:n] for k, v in self.physical[stage].items()})
        reference = as_float64({k: v[:n] for k, v in self.physical["train"].items()})
        return real, reference

    def to_model_space(self, sample: Sample) -> dict[str, Tensor]:
        """Transform ``cond`` (and keep ``mask``) of a physical sample for ``model.sample``."""
        return self._model_space(sample).tensors

    def to_physical(
        self,
        x: Tensor,
        cond: np.ndarray | Tensor | None = None,
        mask: np.ndarray | Tensor | None = None,
    ) -> np.ndarray:
        """Inverse-transform model-space events to physical units (numpy, float64).

        ``cond``: the events' condition in *physical* units and ``mask`` their real particles
        (the model's own mask where it generates one); a transform uses what it needs.
        """
        return self.transform.inverse(
            x.detach().cpu().double(),
            cond=_double(None if cond is None else torch.as_tensor(cond)),
            mask=None if mask is None else torch.as_tensor(mask).bool(),
        ).numpy()


def _double(value: Tensor | None) -> Tensor | None:
    return None if value is None else value.detach().cpu().double()
