"""``evaluators``: wall time of the family evaluators at the sample sizes the field uses.

- **JetNet** on 50,000 jets (jetnet's default ``num_eval_samples``): every piece of
  :class:`~genhep.evaluation.jetnet.JetNetEvaluator` (W1M, W1P, W1EFP with 5 batches of
  50,000; the 36 d <= 4 EFPs; FPD; KPD) and, where the ``jetnet`` package is installed
  (``make test-jetnet``'s .venv-jetnet), jetnet's own function on the same input, so the
  ratio comes from one run; then the whole ``evaluate`` (model *and* real-vs-real values).
  EFPs are genhep's own (torch, :mod:`genhep.metrics.efp`); jetnet's side uses energyflow.
- **Calorimeter** on 100,000 showers per sample (dataset-1 photon geometry, parametric
  simulator at 1, 2 and 4 GeV): :class:`~genhep.evaluation.calorimeter.CalorimeterEvaluator`
  with its default settings (classifiers on at most 20,000 events per sample).

Jets are a vectorised toy (JetNet layout, 10–30 particles, a pT-ordered Dirichlet split),
realistic in size and sparsity, not in physics: the timing does not depend on it. Each
case is one call (no warm-up, 1 repeat; 500 jets or showers in quick mode).
"""

from __future__ import annotations

import warnings

import numpy as np

from genhep.data.calorimeter.simulator import ShowerSimulator
from genhep.evaluation.calorimeter import CalorimeterEvaluator
from genhep.evaluation.jetnet import JetNetEvaluator
from genhep.metrics.frechet import fpd
from genhep.metrics.jet_clouds import (
    FPD_EFPSET_ARGS,
    W1EFP_EFPSET_ARGS,
    efps,
    jet_mass,
    w1_batched,
    w1p_batched,
)
from genhep.metrics.kernel import kpd

from benchmarks.common import Context, Entry, measure_once

NAME = "evaluators"


def toy_jets(n: int, seed: int, n_particles: int = 30) -> np.ndarray:
    """``(n, n_particles, 4)`` JetNet-layout clouds [etarel, phirel, ptrel, mask]."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(10, n_particles + 1, n)
    mask = np.arange(n_particles)[None] < counts[:, None]
    pt = -np.sort(-rng.gamma(1.0, size=(n, n_particles)) * mask, axis=1)
    pt /= pt.sum(axis=1, keepdims=True)
    jets = np.zeros((n, n_particles, 4))
    jets[..., :2] = rng.normal(0, 0.1, (n, n_particles, 2)) * mask[..., None]
    jets[..., 2], jets[..., 3] = pt, mask
    return jets


def _jetnet_cases(n: int) -> dict[str, tuple]:
    """Case -> (genhep call, jetnet call or None) on the same ``n`` jets."""
    real, gen = toy_jets(n, 1), toy_jets(n, 2)
    x, m = (real[..., :3], real[..., 3] > 0), (gen[..., :3], gen[..., 3] > 0)
    kw = {"batch_size": n, "num_batches": 5, "seed": 0}
    try:  # jetnet installed with its dependencies (make test-jetnet's .venv-jetnet)
        from jetnet import evaluation as reference
    except ImportError:  # absent, or installed --no-deps for FPND's files (no energyflow)
        reference = None
    jkw = {"num_eval_samples": n, "num_batches": 5}
    cases: dict[str, tuple] = {
        "w1m": (
            lambda: w1_batched(jet_mass(*m), jet_mass(*x), **kw),
            reference and (lambda: reference.w1m(real[..., :3], gen[..., :3], **jkw)),
        ),
        "w1p": (
            lambda: w1p_batched(m[0], x[0], m[1], x[1], **kw),
            reference
            and (
                lambda: reference.w1p(real[..., :3], gen[..., :3], real[..., 3], gen[..., 3], **jkw)
            ),
        ),
    }
    features = {"real": efps(*x, FPD_EFPSET_ARGS), "gen": efps(*m, FPD_EFPSET_ARGS)}
    cases["w1efp"] = (
        lambda: w1_batched(efps(*m, W1EFP_EFPSET_ARGS), efps(*x, W1EFP_EFPSET_ARGS), **kw),
        reference and (lambda: reference.w1efp(real[..., :3], gen[..., :3], **jkw)),
    )
    cases["fpd_kpd_features"] = (
        lambda: efps(*m, FPD_EFPSET_ARGS),
        reference and (lambda: reference.get_fpd_kpd_jet_features(gen[..., :3])),
    )
    cases["fpd"] = (
        lambda: fpd(features["real"], features["gen"]),
        reference and (lambda: reference.fpd(features["real"], features["gen"])),
    )
    cases["kpd"] = (
        lambda: kpd(features["real"], features["gen"]),
        reference and (lambda: reference.kpd(features["real"], features["gen"])),
    )
    evaluator = JetNetEvaluator(w1_batch_size=n, w1_num_batches=5)
    samples = [{"x": j[..., :3], "mask": j[..., 3] > 0} for j in (gen, real, toy_jets(n, 3))]
    cases["evaluate"] = (lambda: evaluator.evaluate(*samples), None)
    return cases


def _calorimeter_samples(n: int) -> list[dict[str, np.ndarray]]:
    simulator = ShowerSimulator("ds1_photons", "photon")
    samples = []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        energies = rng.choice([1024.0, 2048.0, 4096.0], n)
        samples.append({"x": simulator.simulate(energies, rng), "cond": energies[:, None]})
    return samples


def benchmarks(ctx: Context) -> list[Entry]:
    entries = []
    n_jets = 500 if ctx.quick else 50_000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # jetnet: "recommended 50,000 jets"
        for case, (ours, theirs) in _jetnet_cases(n_jets).items():
            for who, fn in (("genhep", ours), ("jetnet", theirs)):
                if fn is None:
                    continue
                entries.append(
                    ctx.entry(
                        NAME,
                        f"jetnet_{case}_{who}",
                        "seconds",
                        measure_once(fn),
                        n_jets,
                        device="cpu",
                        params={"implementation": who, "jets": n_jets, "num_batches": 5},
                    )
                )
    n_showers = 500 if ctx.quick else 100_000
    samples = _calorimeter_samples(n_showers)
    evaluator = CalorimeterEvaluator("ds1_photons")
    entries.append(
        ctx.entry(
            NAME,
            "calorimeter_evaluate",
            "seconds",
            measure_once(lambda: evaluator.evaluate(*samples)),
            n_showers,
            device="cpu",
            params={
                "geometry": "ds1_photons",
                "showers": n_showers,
                "energies_mev": [1024, 2048, 4096],
            },
        )
    )
    return entries
