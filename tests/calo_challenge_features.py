"""Deterministic toy showers, and the CaloChallenge's own FPD/KPD features of them as a fixture.

``toy_showers`` is plain arithmetic (no random stream), so the fixture's inputs are rebuilt
exactly anywhere. Run as a script, this module computes the challenge's feature arrays with the
challenge's own code (not part of genhep; nothing of it is copied here) and writes
``tests/data/calo_challenge_distance_features.json``::

    git clone https://github.com/CaloChallenge/homepage && git -C homepage checkout 9b41df7
    cd homepage/code && python /path/to/genhep/tests/calo_challenge_features.py

in an environment with numpy, h5py, matplotlib, scikit-learn and torch (``evaluate.py`` imports
them). For each dataset it does what the ``fpd``/``kpd`` mode of ``evaluate.py`` does before
calling jetnet: zero the voxels below ``args.min_energy`` (1 MeV for dataset 1),
``HighLevelFeatures.CalculateFeatures``, then ``prepare_high_data_for_classifier(...)[:, :-1]``.
The showers are passed as float64 (the challenge computes in the array's dtype; with float32
files its one-pass widths carry ~1e-4 relative rounding, which would blur the comparison).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

FIXTURE = Path(__file__).parent / "data" / "calo_challenge_distance_features.json"
CHALLENGE_COMMIT = "9b41df72a03aeecb48bfbaa946f9792f255e0ba7"
# genhep geometry name -> (challenge dataset, particle, voxels)
DATASETS = {"ds1_photons": ("1-photons", "photon", 368), "ds1_pions": ("1-pions", "pion", 533)}
N_SHOWERS = 12


def toy_showers(n_voxels: int, n: int = N_SHOWERS) -> tuple[np.ndarray, np.ndarray]:
    """(n, n_voxels) float64 showers (MeV) and (n, 1) incident energies (MeV), by formula.

    Voxel energies ``((37 i + 11 v) mod 23)^2 · 0.37 (i + 1)`` with every third voxel of a shower
    empty: zeros, values below the 1 MeV readout cut (0.37 ... 1.48 MeV, some cut, some not) and
    up to ~2 GeV. Shower 0 keeps only its first voxel (one lit voxel: widths 0), shower 1 has
    no energy in its second half (empty layers).
    """
    i = np.arange(n)[:, None]
    v = np.arange(n_voxels)[None, :]
    showers = ((37 * i + 11 * v) % 23) ** 2 * 0.37 * (i + 1.0)
    showers[(v + i) % 3 == 0] = 0.0
    showers[0, 1:] = 0.0
    showers[0, 0] = 5000.0
    showers[1, n_voxels // 2 :] = 0.0
    incident = 2.0 ** (8 + np.arange(n))[:, None]
    return showers, incident


def _challenge_features(dataset: str, particle: str, n_voxels: int) -> np.ndarray:
    """The challenge's FPD/KPD input for :func:`toy_showers`, run in its ``code/`` folder."""
    import h5py
    import HighLevelFeatures  # the challenge's module, from the working directory
    from evaluate import extract_shower_and_energy, prepare_high_data_for_classifier

    min_energy = {"1-photons": 1.0, "1-pions": 1.0}[dataset]
    showers, incident = toy_showers(n_voxels)
    path = f"toy_{dataset}.h5"
    with h5py.File(path, "w") as f:
        f["showers"], f["incident_energies"] = showers, incident
    try:
        with h5py.File(path, "r") as f:
            shower, _ = extract_shower_and_energy(f, "toy")
            shower = np.where(shower < min_energy, np.zeros_like(shower), shower)
            binning = f"binning_dataset_{dataset.replace('-', '_')}.xml"
            hlf = HighLevelFeatures.HighLevelFeatures(particle, filename=binning)
            hlf.CalculateFeatures(shower)
            return prepare_high_data_for_classifier(f, hlf, 0.0)[:, :-1]
    finally:
        os.remove(path)


def main() -> None:
    sys.path.insert(0, os.getcwd())  # the challenge's code/ folder
    fixture = {
        "source": (
            "CaloChallenge/homepage code/ at commit "
            f"{CHALLENGE_COMMIT}: evaluate.py's fpd/kpd input (prepare_high_data_for_classifier"
            "(...)[:, :-1] after zeroing voxels below args.min_energy) of toy_showers(), "
            "float64; made by running tests/calo_challenge_features.py in that code/ folder"
        ),
        "features": {name: _challenge_features(*spec).tolist() for name, spec in DATASETS.items()},
    }
    FIXTURE.parent.mkdir(exist_ok=True)
    FIXTURE.write_text(json.dumps(fixture, indent=1) + "\n")
    print(f"wrote {FIXTURE}")


if __name__ == "__main__":
    main()
