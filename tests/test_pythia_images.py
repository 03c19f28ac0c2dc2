"""The Pythia 8 + FastJet jet-image generator (LAGAN recipe): file, reproducibility, physics."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

pytest.importorskip("pythia8mc")
pytest.importorskip("fastjet")

from genhep.data.jets.images import JetImageDataModule, read_jet_images  # noqa: E402
from genhep.data.jets.pythia_images import (  # noqa: E402
    cached_jet_images,
    generate_jet_images,
    jet_image,
)
from genhep.metrics.jet_images import jet_mass_from_image, jet_pt_from_image  # noqa: E402

#: Widened windows so that a smoke sample takes seconds (the schema and bookkeeping are what
#: is checked; the physics test below uses the LAGAN windows).
WIDE = {"pt_min": 150.0, "pt_max": 450.0, "mass_min": 0.0, "mass_max": 400.0, "block_size": 10}
N_SMOKE = 40  # 20 signal + 20 background (alternating blocks of 10)


def _arrays(path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as handle:
        return {key: handle[key][()] for key in handle}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pythia_images")
    one = generate_jet_images(
        folder / "one.h5", N_SMOKE, seed=3, chunk_size=20, n_workers=1, progress=False, **WIDE
    )
    two = generate_jet_images(
        folder / "two.h5", N_SMOKE, seed=3, chunk_size=20, n_workers=2, progress=False, **WIDE
    )
    return one, two


def test_generated_file_has_the_lagan_schema(smoke):
    path, _ = smoke
    arrays = read_jet_images(path)  # validates every LAGAN key
    assert set(arrays) == {
        "image",
        "signal",
        "jet_pt",
        "jet_eta",
        "jet_phi",
        "jet_mass",
        "jet_delta_R",
        "tau_1",
        "tau_2",
        "tau_3",
        "tau_21",
        "tau_32",
    }
    assert arrays["image"].shape == (N_SMOKE, 25, 25) and arrays["image"].dtype == np.float32
    assert arrays["signal"].sum() == N_SMOKE // 2
    assert np.all((arrays["jet_pt"] > WIDE["pt_min"]) & (arrays["jet_pt"] < WIDE["pt_max"]))
    taus = np.stack([arrays["tau_1"], arrays["tau_2"], arrays["tau_3"]])
    # exclusive-kT axes are not minimised, so tau_2 > tau_1 can happen, but rarely
    assert np.all(taus >= 0) and np.mean(taus[1] <= taus[0]) > 0.8
    with h5py.File(path, "r") as handle:
        assert handle.attrs["units"] == "GeV" and handle.attrs["n_events"] == N_SMOKE


def test_images_are_sparse_non_negative_and_sum_to_the_jet_pt(smoke):
    arrays = read_jet_images(smoke[0])
    images, pt = arrays["image"].astype(np.float64), arrays["jet_pt"].astype(np.float64)
    assert images.min() >= 0
    ratio = images.sum(axis=(1, 2)) / pt
    # scalar sum of constituent pT >= vector sum (the jet pT); equal up to a few % here
    assert np.all(ratio > 0.97) and np.all(ratio < 1.10), ratio
    assert abs(np.median(ratio) - 1) < 0.03
    zeros = float((images == 0).mean())
    print(f"sparsity: {zeros:.1%} zero pixels")  # SARM quotes ~93% for the public file
    assert zeros > 0.85
    # preprocessing: the leading subjet is central, the harder side on the right
    mean = images.mean(axis=0)
    assert np.unravel_index(mean.argmax(), mean.shape) == (12, 12)
    assert np.all(images[:, :, 13:].sum(axis=(1, 2)) >= images[:, :, :12].sum(axis=(1, 2)))
    two_prong = arrays["jet_delta_R"] > 0.3
    below = images[two_prong, 13:, 12].sum(axis=1)
    above = images[two_prong, :12, 12].sum(axis=1)
    assert np.mean(below > above) > 0.8  # the second subjet sits straight below


def test_same_seed_same_arrays_for_any_worker_count_and_cache_reuse(smoke, tmp_path):
    one, two = smoke
    a, b = _arrays(one), _arrays(two)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    config = {"n_events": 10, "seed": 4, "n_workers": 1, "progress": False, **WIDE}
    path = cached_jet_images(tmp_path, config, classes="signal")
    assert path.parent == tmp_path and path.name.startswith("jet_images_signal_")
    stamp = os.stat(path).st_mtime_ns
    assert cached_jet_images(tmp_path, {**config, "n_events": 5}, classes="signal") == path
    assert os.stat(path).st_mtime_ns == stamp
    assert _arrays(path)["signal"].tolist() == [1.0] * 10
    # the data module finds the same cached file
    dm = JetImageDataModule(
        data_dir=str(tmp_path), classes="signal", generator=config, batch_size=4
    )
    assert dm.generate() == path and os.stat(path).st_mtime_ns == stamp
    assert dm.load_arrays()["x"].shape == (10, 1, 25, 25)
    with pytest.raises(TypeError, match="unknown jet-image generator options"):
        cached_jet_images(tmp_path, {**config, "pt_minimum": 3})


def test_rotation_is_exact_on_constituents():
    # two massless subjets 0.4 apart along a diagonal end up straight below, no pT lost
    def p4(pt, eta, phi):
        return [pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), pt * np.cosh(eta)]

    lead, second = p4(200.0, 0.3, 1.0), p4(80.0, 0.3 + 0.28, 1.0 + 0.28)
    image = jet_image(np.array([lead, second]), np.array([lead, second]))
    assert image.min() == 0 and np.isclose(image.sum(), 280.0)
    assert image[12, 12] == pytest.approx(200.0)
    assert image[16, 12] == pytest.approx(80.0)  # ΔR = 0.396: four rows below the centre


@pytest.mark.slow
def test_physics_of_w_and_qcd_jets(tmp_path):
    path = generate_jet_images(
        tmp_path / "lagan.h5", 400, seed=11, n_workers=os.cpu_count() or 1, progress=False
    )
    arrays = read_jet_images(path)
    signal = arrays["signal"].astype(bool)
    mass, tau21 = arrays["jet_mass"], arrays["tau_21"]
    assert np.all((mass > 60) & (mass < 100))
    assert np.all((arrays["jet_pt"] > 250) & (arrays["jet_pt"] < 300))
    # W' jets peak at the W mass; QCD jets fall towards low mass within the window
    counts, edges = np.histogram(mass[signal], bins=8, range=(60, 100))
    peak = 0.5 * (edges[counts.argmax()] + edges[counts.argmax() + 1])
    assert 65 < peak < 95
    assert abs(np.median(mass[signal]) - 80.4) < 6
    assert np.std(mass[~signal]) > np.std(mass[signal])
    assert np.median(mass[~signal]) < np.median(mass[signal])
    assert np.median(tau21[signal]) < np.median(tau21[~signal]) - 0.1
    # image-derived pT and mass agree with the constituent-level ones within the
    # pixelisation error documented in genhep.data.jets.pythia_images
    images = arrays["image"].astype(np.float64)
    pt_ratio = jet_pt_from_image(images) / arrays["jet_pt"]
    m_ratio = jet_mass_from_image(images) / mass
    assert abs(np.median(pt_ratio) - 1) < 0.02 and np.quantile(abs(pt_ratio - 1), 0.9) < 0.05
    assert abs(np.median(m_ratio) - 1) < 0.08 and np.quantile(abs(m_ratio - 1), 0.8) < 0.15


def test_fastjet_banner_shows_once_per_command_not_per_worker(tmp_path):
    import subprocess
    import sys

    from conftest import REPO_ROOT

    script = (
        "from genhep.data.jets.pythia_images import generate_jet_images as g\n"
        f"g({str(tmp_path / 'a.h5')!r}, 40, chunk_size=10, n_workers=2, progress=False, **{WIDE})\n"
        f"g({str(tmp_path / 'b.h5')!r}, 20, n_workers=1, progress=False, **{WIDE})\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (proc.stdout + proc.stderr).count("FastJet release") == 1
