"""The response curves of an ``experiment=mdn_response`` run, as a table and JSON.

    python experiments/mdn_response/curve.py <run dir> [<out dir>]

Per incident energy of the test split: the data's scale and σ/E (its test showers), the
model's from its generated sample (``observables/test.npz``, what the evaluator scored), the
MDN's closed-form ``moments()`` mapped to physical units (the standardisation is affine), and
the simulator's stated ``a/√E ⊕ b``; and ``a/√E ⊕ b`` fitted to each curve between 1 GeV and
1.1 TeV (weighted by the data's errors; below, the readout threshold broadens the showers; above,
leakage). Writes ``curve.json`` and ``curve.md`` in ``<out dir>``
(default: the run directory).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import curve_fit

from genhep.evaluate import restore_checkpoint
from genhep.metrics.response import energy_bins, response_curve

FIT_RANGE_GEV = (1.0, 1100.0)


def _stochastic_constant(e_gev, a, b):
    return np.sqrt(a * a / e_gev + b * b)


def fit_terms(energy_mev: np.ndarray, resolution: np.ndarray, error: np.ndarray) -> dict:
    """``a`` (√GeV) and ``b`` of ``a/√E ⊕ b`` fitted in :data:`FIT_RANGE_GEV`, with errors."""
    e = energy_mev / 1000.0
    rows = (e >= FIT_RANGE_GEV[0]) & (e <= FIT_RANGE_GEV[1])
    p, cov = curve_fit(
        _stochastic_constant, e[rows], resolution[rows], (0.1, 0.01), error[rows], True
    )
    chi2 = float(
        (((resolution[rows] - _stochastic_constant(e[rows], *p)) / error[rows]) ** 2).sum()
    )
    errors = np.sqrt(np.diag(cov))
    return {
        "a": p[0],
        "a_error": errors[0],
        "b": p[1],
        "b_error": errors[1],
        "chi2": chi2,
        "ndf": int(rows.sum()) - 2,
    }


def main(run_dir: Path, out_dir: Path) -> None:
    observables = np.load(run_dir / "observables" / "test.npz")
    e_real, r_real = observables["real/e_inc"], observables["real/response"]
    edges = energy_bins(e_real)
    data = response_curve(r_real, e_real, edges)
    model = response_curve(observables["generated/response"], observables["generated/e_inc"], edges)
    restored = restore_checkpoint(run_dir)
    dm, mdn = restored.datamodule, restored.model
    energies = torch.as_tensor(data.energy, dtype=torch.float64)[:, None]
    mean, std = mdn.moments(dm.cond_transform.forward(energies).float())
    low = dm.to_physical(mean, energies)[:, 0]
    closed_resolution = (dm.to_physical(mean + std, energies)[:, 0] - low) / low
    stated = dm.evaluator().stated_resolution
    stated = None if stated is None else stated(data.energy)
    fits = {
        name: fit_terms(data.energy, values, data.resolution_error)
        for name, values in (
            ("data", data.resolution),
            ("mdn_sampled", model.resolution),
            ("mdn_moments", closed_resolution),
        )
    }
    result = {
        "energy_mev": data.energy.tolist(),
        "data": data.to_dict(),
        "model_sampled": model.to_dict(),
        "mdn_moments": {"scale": low.tolist(), "resolution": closed_resolution.tolist()},
        "stated_resolution": None if stated is None else np.asarray(stated).tolist(),
        "fit_1gev_1tev": {k: {q: float(v) for q, v in f.items()} for k, f in fits.items()},
    }
    (out_dir / "curve.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = [
        "| E_inc (GeV) | n test | data σ/E (%) | MDN sampled σ/E (%) | MDN moments σ/E (%) "
        "| simulator a/√E ⊕ b (%) | data scale | MDN scale |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for i, e in enumerate(data.energy):
        stated_text = "—" if stated is None else f"{100 * stated[i]:.3f}"
        lines.append(
            f"| {e / 1000:.3g} | {int(data.n[i])} "
            f"| {100 * data.resolution[i]:.3f} ± {100 * data.resolution_error[i]:.3f} "
            f"| {100 * model.resolution[i]:.3f} ± {100 * model.resolution_error[i]:.3f} "
            f"| {100 * closed_resolution[i]:.3f} | {stated_text} "
            f"| {data.scale[i]:.4f} | {low[i]:.4f} |"
        )
    lines += ["", "a/√E ⊕ b fitted between 1 GeV and 1.1 TeV:", ""]
    for name, f in fits.items():
        lines.append(
            f"- {name}: a = {100 * f['a']:.2f} ± {100 * f['a_error']:.2f} % √GeV, "
            f"b = {100 * f['b']:.3f} ± {100 * f['b_error']:.3f} %, χ²/ndf = {f['chi2']:.1f}/{f['ndf']}"
        )
    (out_dir / "curve.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    run = Path(sys.argv[1])
    main(run, Path(sys.argv[2]) if len(sys.argv) > 2 else run)
