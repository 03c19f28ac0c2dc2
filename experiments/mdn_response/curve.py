"""The response curves of an ``experiment=mdn_response`` run, as a table and JSON.

    python experiments/mdn_response/curve.py <run dir> [<out dir>]

Per incident energy of the test split: the data's scale and σ/E (its test showers), the
model's from its generated sample (``observables/test.npz``, what the evaluator scored), the
MDN's closed-form ``moments()`` mapped to physical units (the standardisation is affine), and
the simulator's stated ``a/√E ⊕ b``. Writes ``curve.json`` and ``curve.md`` in ``<out dir>``
(default: the run directory).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

from genhep.evaluate import restore_checkpoint
from genhep.metrics.response import energy_bins, response_curve


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
    result = {
        "energy_mev": data.energy.tolist(),
        "data": data.to_dict(),
        "model_sampled": model.to_dict(),
        "mdn_moments": {"scale": low.tolist(), "resolution": closed_resolution.tolist()},
        "stated_resolution": None if stated is None else np.asarray(stated).tolist(),
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
    (out_dir / "curve.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    run = Path(sys.argv[1])
    main(run, Path(sys.argv[2]) if len(sys.argv) > 2 else run)
