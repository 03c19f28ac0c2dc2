"""The likelihood base: models trained by maximum likelihood (or a bound of it).

A subclass defines ``log_prob`` (declaring its :attr:`~GenerativeModel.log_prob_kind`) and
``sample``; the base trains on the mean negative log-likelihood and logs, at every stage
(``train``, ``val``, ``test``), ``<stage>/loss``, any further terms the model reports, and
``<stage>/bits_per_dim`` (:func:`bits_per_dim`, the one conversion every likelihood model uses);
training values on the steps the loggers write (:meth:`GenerativeModel.logs_this_step`).

A model whose loss is not simply ``−mean log_prob`` (several named parts, a per-dimension
normalisation) overrides :meth:`LikelihoodModel.likelihood_terms` and sets
:attr:`LikelihoodModel.nll_per`. A model that trains on another objective than its negative
log-likelihood (a VAE's β-weighted loss, while ``log_prob`` is its ELBO) returns it as the
term ``objective``: that is what is minimised, and ``loss`` stays the negative log-likelihood
(or bound) that ``<stage>/loss``, bits per dimension and ``results.json`` report.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import ClassVar, TypeVar

from torch import Tensor

from genhep.models.base import GenerativeModel

T = TypeVar("T")


def bits_per_dim(nll_nats: T, n_dims: int) -> T:
    """Negative log-likelihood per event in nats → bits per dimension: ``nll / (D ln 2)``.

    ``nll_nats``: a float, array or tensor (per event, or its mean); ``n_dims``: the numbers
    per event ``D`` (pixels of an image, voxels of a shower, particles × features of a cloud).
    """
    if n_dims < 1:
        raise ValueError(f"bits_per_dim needs n_dims >= 1, got {n_dims}")
    return nll_nats / (n_dims * math.log(2.0))


class LikelihoodModel(GenerativeModel):
    """Maximum-likelihood training, per-term logging and bits per dimension."""

    log_prob_kind: ClassVar[str | None] = "exact"
    #: what ``loss`` is normalised by: ``"event"`` (nats per event) or ``"dim"`` (nats per
    #: number of the event, e.g. per pixel)
    nll_per: ClassVar[str] = "event"

    def likelihood_terms(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Scalar terms of the batch's loss: ``loss`` (the mean negative log-likelihood in nats
        per :attr:`nll_per`; what is minimised unless there is an ``objective``), optionally
        ``objective`` (what is minimised instead) and any named parts to log with it."""
        return {"loss": -self.log_prob(batch["x"], batch.get("cond")).mean()}

    def _step(self, batch: Mapping[str, Tensor], stage: str) -> Tensor:
        terms = self.likelihood_terms(batch)
        minimised = terms.get("objective", terms["loss"])
        if stage == "train" and not self.logs_this_step():
            return minimised
        dims = 1 if self.nll_per == "dim" else self.data_spec.n_dims
        terms = {**terms, "bits_per_dim": bits_per_dim(terms["loss"].detach(), dims)}
        for name, value in terms.items():
            self.log(
                f"{stage}/{name}",
                value,
                prog_bar=name == "loss",
                sync_dist=stage != "train",
                batch_size=len(batch["x"]),
            )
        return minimised

    def training_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> None:
        self._step(batch, "test")
