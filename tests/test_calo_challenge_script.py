"""genhep's calorimeter sample files through the CaloChallenge's own ``evaluate.py``.

For every model of ``experiment=calochallenge_ds1_photons``: train eight batches, write showers
with ``genhep sample`` (the challenge's file format), run the challenge's script in its
``fpd`` mode (which computes FPD and KPD) on that file against a reference file of genhep's
simulator, and compare its numbers with genhep's FPD and KPD of the same two files (the
challenge's features, :func:`~genhep.metrics.shower_features.challenge_distance_features`,
and its settings: ``fpd(min_samples=10000)``, ``kpd(batch_size=10000)``).

The challenge's code is not part of genhep and is never fetched by it; this test runs where
it is at hand (``make test-jetnet`` with the variable set; a few minutes), and is skipped
elsewhere at once:

- ``GENHEP_CALOCHALLENGE_CODE``: the ``code/`` folder of CaloChallenge/homepage (commit
  9b41df7: ``git clone https://github.com/CaloChallenge/homepage``);
- a Python with the script's imports (jetnet 0.2.5 with energyflow, scikit-learn, h5py,
  matplotlib, torch): ``GENHEP_JETNET_PYTHON``, else ``.venv-jetnet`` (``make test-jetnet``
  builds it; add ``scikit-learn``).
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from genhep.data.calorimeter import get_geometry
from genhep.metrics.frechet import fpd
from genhep.metrics.kernel import kpd
from genhep.metrics.shower_features import challenge_distance_features

REPO = Path(__file__).resolve().parents[1]
CODE_VARIABLE = "GENHEP_CALOCHALLENGE_CODE"
PYTHON_VARIABLE = "GENHEP_JETNET_PYTHON"
ROWS = ("caloflow", "calo_vae", "fastcalogan", "diffusion")
N_TRAIN, N_SAMPLE = 2000, 3000
RESULT = re.compile(r"FPD \(x10\^3\): (\S+) ± (\S+)\nKPD \(x10\^3\): (\S+) ± (\S+)")


def challenge_code() -> Path | None:
    code = os.environ.get(CODE_VARIABLE)
    return Path(code) if code and (Path(code) / "evaluate.py").is_file() else None


@functools.cache
def challenge_python() -> Path | None:
    python = Path(os.environ.get(PYTHON_VARIABLE, REPO / ".venv-jetnet" / "bin" / "python"))
    if not python.is_file():
        return None
    probe = "import jetnet.evaluation, sklearn, h5py, matplotlib, torch"
    return python if subprocess.run([python, "-c", probe]).returncode == 0 else None


def run_challenge(code: Path, python: Path, sample: Path, reference: Path, out: Path) -> dict:
    """``evaluate.py -m fpd -d 1-photons`` (in its folder: it reads its binning there) ->
    ``{"fpd": (value, error), "kpd": (value, error)}`` as the script reports them (raw, not
    ×10³). The script caches the reference's features in a ``.pkl`` beside ``reference``."""
    command = [str(python), "evaluate.py", "-i", str(sample), "-r", str(reference)]
    command += ["-m", "fpd", "-d", "1-photons", "--output_dir", str(out)]
    done = subprocess.run(command, cwd=code, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout[-2000:]}{done.stderr[-3000:]}"
    match = RESULT.search((out / "fpd_kpd_1-photons.txt").read_text())
    assert match, (out / "fpd_kpd_1-photons.txt").read_text()
    f, f_err, k, k_err = (float(v) * 1e-3 for v in match.groups())
    return {"fpd": (f, f_err), "kpd": (k, k_err)}


def genhep_fpd_kpd(sample: Path, reference: Path) -> dict:
    """genhep's FPD and KPD of ``sample`` against ``reference`` with the script's settings."""
    geometry = get_geometry("ds1_photons")
    features = []
    for path in (reference, sample):
        with h5py.File(path, "r") as f:
            features.append(
                challenge_distance_features(f["showers"][:], f["incident_energies"][:], geometry)
            )
    real, generated = features
    return {
        "fpd": fpd(real, generated, min_samples=10_000),
        "kpd": kpd(real, generated, batch_size=10_000),
    }


def genhep(*args: str, cwd: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "genhep", *args], cwd=cwd, capture_output=True, text=True
    )
    assert done.returncode == 0, f"genhep {' '.join(args)}:\n{done.stderr[-4000:]}"


@pytest.fixture(scope="module")
def sample_files(tmp_path_factory) -> dict[str, Path]:
    """Row -> a ``genhep sample`` file of a model trained eight batches (the GAN's critic
    steps five times per generator step); ``"reference"`` -> the simulator file they trained on."""
    if challenge_code() is None:
        pytest.skip(f"{CODE_VARIABLE} does not name the CaloChallenge's code/ folder")
    if challenge_python() is None:
        pytest.skip(f"no Python with jetnet and scikit-learn ({PYTHON_VARIABLE}, .venv-jetnet)")
    tmp = tmp_path_factory.mktemp("calo_challenge")
    files = {}
    for row in ROWS:
        genhep(
            "train",
            "experiment=calochallenge_ds1_photons",
            f"+preset/calochallenge_ds1_photons={row}",
            f"data.n_events={N_TRAIN}",
            f"data.generator.n_events={N_TRAIN}",
            "trainer.max_epochs=1",
            "++trainer.limit_train_batches=8",
            "trainer.max_time=null",
            "test=false",
            "~callbacks/evaluation",
            "~callbacks/progress_bar",
            f"paths.data_dir={tmp / 'data'}",
            f"hydra.run.dir={tmp / row}",
            cwd=tmp,
        )
        files[row] = tmp / f"{row}.h5"
        genhep(
            "sample",
            f"ckpt_path={tmp / row}",
            f"n_events={N_SAMPLE}",
            f"out={files[row]}",
            "progress=false",
            f"hydra.run.dir={tmp / row / 'sample'}",
            cwd=tmp,
        )
    (files["reference"],) = (tmp / "data").glob("calo_ds1_photons_*.h5")
    return files


@pytest.mark.parametrize("row", ROWS)
def test_challenge_script_accepts_the_file_and_agrees(sample_files, row, tmp_path):
    code, python = challenge_code(), challenge_python()
    sample, reference = sample_files[row], sample_files["reference"]
    with h5py.File(sample, "r") as f:  # the format the script's check_file asserts
        assert f["showers"].shape == (N_SAMPLE, 368)
        assert f["incident_energies"].shape == (N_SAMPLE, 1)
        assert np.all(f["showers"][:] >= 0)
    theirs = run_challenge(code, python, sample, reference, tmp_path)
    ours = genhep_fpd_kpd(sample, reference)
    for name in ("fpd", "kpd"):
        (value, error), (their_value, their_error) = ours[name], theirs[name]
        # the script prints 4 decimals of ×10³ (5e-8 absolute) and computes its features in
        # the file's float32: agreement to rounding, far inside either error
        tolerance = 1e-4 * abs(their_value) + 1e-7 + 0.01 * their_error
        assert abs(value - their_value) <= tolerance, (name, ours[name], theirs[name])
        assert error == pytest.approx(their_error, rel=1e-2, abs=1e-7), (name, error, their_error)
