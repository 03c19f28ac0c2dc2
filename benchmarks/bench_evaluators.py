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

With ``--device cuda`` only the whole JetNet evaluation runs, its EFPs and FPND on the GPU
(:class:`~genhep.evaluation.jetnet.JetNetEvaluator`'s ``device``): the GPU figure; the
pieces, the jetnet side and the calorimeter evaluator are CPU work measured by a CPU run.

Jets are a vectorised toy (JetNet layout, 10–30 particles, a pT-ordered Dirichlet split),
realistic in size and sparsity, not in physics: the timing does not depend on it. Each
case is one call (no warm-up, 1 repeat; 500 jets or showers in quick mode).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from genhep.data.calorimeter.simulator import ShowerSimulator
from genhep.evaluation.calorimeter import CalorimeterEvaluator
from genhep.evaluation.jetnet import JetNetEvaluator, pot_available
from genhep.metrics.fpnd import FPND_NUM_SAMPLES, fpnd_unavailable_reason
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

from benchmarks.common import REPO_ROOT, Context, Entry, Timing, measure_once

NAME = "evaluators"

#: Jets per sample in full mode (default 50,000, jetnet's default and FPND's size)
JETS_VARIABLE = "GENHEP_BENCH_EVALUATOR_JETS"
#: The Python of an environment with jetnet 0.2.5 and its dependencies, which run
#: ``benchmarks/jetnet_side.py``: this variable, else ``.venv-jetnet`` (``make test-jetnet``).
JETNET_PYTHON_VARIABLE = "GENHEP_JETNET_PYTHON"
DEFAULT_JETNET_PYTHON = REPO_ROOT / ".venv-jetnet" / "bin" / "python"
#: Prepended to ``PYTHONPATH`` for the jetnet side only (where torch_geometric is, for FPND).
JETNET_PYTHONPATH_VARIABLE = "GENHEP_JETNET_PYTHONPATH"
JETNET_SIDE = Path(__file__).resolve().parent / "jetnet_side.py"
#: issue 12: genhep's whole JetNet evaluation in at most half of jetnet 0.2.5's time
TARGET_RATIO = 0.5
#: the jet type FPND is evaluated for (the toy jets are JetNet-like, not gluon jets: a timing)
FPND_JET_TYPE = "g"


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
    return cases


def jetnet_python() -> tuple[Path | None, str | None]:
    """(the jetnet environment's Python, None) or (None, why the jetnet side cannot run)."""
    configured = os.environ.get(JETNET_PYTHON_VARIABLE)
    path = Path(configured) if configured else DEFAULT_JETNET_PYTHON
    if not path.is_file():
        how = (
            f"{JETNET_PYTHON_VARIABLE}={configured}"
            if configured
            else f"{DEFAULT_JETNET_PYTHON} (make test-jetnet builds it, or set {JETNET_PYTHON_VARIABLE})"
        )
        return None, f"no Python with jetnet 0.2.5 at {how}"
    return path, None


def run_jetnet_side(
    python: str | os.PathLike[str],
    samples: dict[str, np.ndarray],
    *,
    fpnd_jet_type: str | None,
    cov_mmd: bool,
    num_batches: int = 5,
    extra_args: tuple[str, ...] = (),
    timeout: float | None = None,
) -> dict[str, Any]:
    """Run ``benchmarks/jetnet_side.py`` with ``python`` on ``samples`` (``generated``,
    ``real``, ``reference``: ``(N, n, 4)`` [etarel, phirel, ptrel, mask]); its JSON."""
    with tempfile.TemporaryDirectory(prefix="genhep-jetnet-side-") as folder:
        jets, out = Path(folder) / "jets.npz", Path(folder) / "jetnet.json"
        np.savez(jets, **samples)
        command = [str(python), str(JETNET_SIDE), "--jets", str(jets), "--out", str(out)]
        command += ["--num-batches", str(num_batches), *extra_args]
        if fpnd_jet_type:
            command += ["--fpnd-jet-type", fpnd_jet_type]
        if not cov_mmd:
            command.append("--no-cov-mmd")
        env = dict(os.environ)
        extra = os.environ.get(JETNET_PYTHONPATH_VARIABLE)
        if extra:
            env["PYTHONPATH"] = os.pathsep.join(p for p in (extra, env.get("PYTHONPATH")) if p)
        done = subprocess.run(command, env=env, timeout=timeout, stdout=subprocess.PIPE, text=True)
        if done.returncode != 0:  # its stderr went to ours
            raise RuntimeError(f"{' '.join(command)} failed with exit code {done.returncode}")
        return json.loads(out.read_text())


def _whole_evaluation(ctx: Context, n: int) -> list[Entry]:
    """genhep's whole ``JetNetEvaluator.evaluate`` and jetnet's whole evaluation (the jetnet
    side, another environment) on the same three samples; the ratio against the target."""
    samples = {"generated": toy_jets(n, 2), "real": toy_jets(n, 1), "reference": toy_jets(n, 3)}
    fpnd_reason = (
        fpnd_unavailable_reason(FPND_JET_TYPE)
        if n >= FPND_NUM_SAMPLES
        else f"FPND needs >= {FPND_NUM_SAMPLES:,} jets, got {n}"
    )
    fpnd = fpnd_reason is None
    cov_mmd = pot_available()
    python, side_reason = jetnet_python()
    theirs = None
    if ctx.quick:
        side_reason = "not run in quick mode (importing jetnet alone takes seconds)"
    elif ctx.gpu:
        side_reason = "GPU run: jetnet's side is CPU work, measured by a CPU run"
    elif python is not None:
        print(f"  jetnet side: {python} {JETNET_SIDE.name} ...", file=sys.stderr, flush=True)
        theirs = run_jetnet_side(
            python, samples, fpnd_jet_type=FPND_JET_TYPE if fpnd else None, cov_mmd=cov_mmd
        )
        if fpnd and "fpnd" not in theirs["pieces"]:  # compare like with like
            fpnd = False
            fpnd_reason = f"jetnet's FPND could not run: {theirs['skipped'].get('fpnd')}"
    if side_reason is not None:
        print(f"  jetnet side skipped: {side_reason}", file=sys.stderr, flush=True)

    evaluator = JetNetEvaluator(
        w1_batch_size=n,
        w1_num_batches=5,
        cov_mmd=cov_mmd,
        jet_type=FPND_JET_TYPE if fpnd else None,
        num_particles=samples["real"].shape[1],
        device=ctx.device,
    )
    inputs = [{"x": j[..., :3], "mask": j[..., 3] > 0} for j in samples.values()]
    scores: dict[str, Any] = {}
    timing = measure_once(lambda: scores.update(evaluator.evaluate(*inputs)), device=ctx.device)
    params: dict[str, Any] = {
        "implementation": "genhep",
        "jets": n,
        "samples": 3,
        "num_batches": 5,
        "metrics": sorted(scores),
        "skipped": dict(evaluator.skipped),
        "fpnd": fpnd,
        "fpnd_reason": fpnd_reason,
        "values": {k: [m.value, m.error, m.real_vs_real] for k, m in scores.items()},
        "jetnet_side": side_reason or "ran",
    }
    ours = ctx.entry(NAME, "jetnet_evaluate_genhep", "seconds", timing, n, params=params)
    if theirs is None:
        return [ours]
    ratio = ours.value / theirs["total_seconds"]
    comparison = {
        "genhep_over_jetnet": ratio,
        "target": TARGET_RATIO,
        "meets_target": ratio <= TARGET_RATIO,
    }
    ours = dataclasses.replace(ours, params={**ours.params, **comparison})
    other = ctx.entry(
        NAME,
        "jetnet_evaluate_jetnet",
        "seconds",
        Timing(theirs["total_seconds"], 1, 1, 0.0),
        n,
        device="cpu",
        params={"implementation": "jetnet", **theirs, **comparison},
    )
    return [ours, other]


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
    n_jets = 500 if ctx.quick else int(os.environ.get(JETS_VARIABLE, 50_000))
    if ctx.gpu:
        return _whole_evaluation(ctx, n_jets)
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
    entries += _whole_evaluation(ctx, n_jets)
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
