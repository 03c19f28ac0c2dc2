"""The Pythia 8 + FastJet JetNet-cloud generator: file, reproducibility, cache, physics."""

from __future__ import annotations

import os
import sys

import h5py
import numpy as np
import pytest

pytest.importorskip("pythia8mc")
pytest.importorskip("fastjet")

from genhep.data.jets.jetnet import JetNetDataModule, read_jetnet_file  # noqa: E402
from genhep.data.jets.pythia_jetnet import (  # noqa: E402
    cached_jetnet,
    generate_jetnet,
    jetnet_folder,
)
from genhep.metrics.jet_clouds import jet_mass  # noqa: E402

N_SMOKE = 16
SMALL = {"block_size": 8}


def _arrays(path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as handle:
        return {key: handle[key][()] for key in ("particle_features", "jet_features")}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pythia_jetnet")
    common = {"seed": 5, "chunk_size": 8, "progress": False, **SMALL}
    return {
        "t": generate_jetnet(folder / "t.hdf5", N_SMOKE, "t", n_workers=1, **common),
        "g": generate_jetnet(folder / "g.hdf5", N_SMOKE, "g", n_workers=1, **common),
        "t2": generate_jetnet(folder / "t2.hdf5", N_SMOKE, "t", n_workers=2, **common),
        "t150": generate_jetnet(
            folder / "t150.hdf5", 8, "t", n_workers=1, num_particles=150, **common
        ),
    }


@pytest.mark.parametrize("jet_type", ["t", "g"])
def test_generated_file_has_the_jetnet_schema_and_sane_values(smoke, jet_type):
    arrays = read_jetnet_file(smoke[jet_type], 30)  # validates keys, shapes, ptrel, mask
    pf, jf = arrays["particle_features"], arrays["jet_features"]
    assert pf.shape == (N_SMOKE, 30, 4) and jf.shape == (N_SMOKE, 4)
    assert pf.dtype == np.float32 and jf.dtype == np.float32
    mask = pf[..., 3] == 1
    assert np.all((pf[..., 3] == 0) | mask)
    # zero padding: masked particles are all-zero, real ones come first and have ptrel > 0
    assert np.all(pf[~mask] == 0) and np.all(pf[..., 2][mask] > 0)
    assert np.all(np.diff(mask.astype(int), axis=1) <= 0)
    np.testing.assert_array_equal(mask.sum(axis=1), np.minimum(jf[:, 3], 30))
    # pT-ordered, inside the jet radius, sum of ptrel <= 1 (vector vs scalar sums)
    assert np.all(np.diff(pf[..., 2], axis=1)[mask[:, 1:]] <= 0)
    assert np.all(np.abs(pf[..., 0][mask]) < 0.8) and np.all(np.abs(pf[..., 1][mask]) < 0.8)
    # the *scalar* pT sum of the 30 leading particles can exceed the jet's *vector* pT by
    # < 1% for broad jets (seen: 1.7% of top, 12% of quark jets above 1; max 1.006)
    total = pf[..., 2].sum(axis=1)
    assert np.all(total <= 1.01)
    assert np.all(total > 0.5)
    assert np.all((jf[:, 0] > 300) & (jf[:, 0] < 2000)) and np.all(np.abs(jf[:, 1]) < 2.5)
    with h5py.File(smoke[jet_type], "r") as handle:
        assert handle.attrs["units"] == "GeV" and handle.attrs["jet_type"] == jet_type


def test_jet_mass_from_the_particles_agrees_with_jet_features(smoke):
    # massless particles from (ptrel, etarel, phirel) x jet pT: never above the stored mass
    # (mass grows with every added future-pointing four-vector; hadron masses dropped)
    # with 30 of ~90 constituents the recomputed mass is typically 50-90% of the full one
    for key, low in (("t", 0.25), ("g", 0.2), ("t150", 0.9)):
        arrays = read_jetnet_file(smoke[key])
        pf, jf = arrays["particle_features"], arrays["jet_features"]
        mass = jet_mass(pf[..., :3], pf[..., 3] == 1, jf[:, 0])
        ratio = mass / jf[:, 2]
        assert np.all(ratio <= 1 + 1e-3), (key, ratio)
        assert np.all(ratio > low), (key, ratio)
        print(key, "recomputed / stored mass: median", np.median(ratio), "min", ratio.min())
        complete = jf[:, 3] <= pf.shape[1]  # every constituent stored
        if key == "t150":
            assert complete.all()
        # all constituents stored: only the dropped hadron masses differ (a few %: each
        # lowers m^2 by ~ E_jet m_h^2 / p_h, and soft protons, kaons, pions add up)
        assert np.all(ratio[complete] > 0.9), (key, ratio[complete])
        if key == "t150":
            assert np.median(ratio) > 0.95


def test_same_seed_same_arrays_cache_reuse_and_data_module(smoke, tmp_path):
    a, b = _arrays(smoke["t"]), _arrays(smoke["t2"])
    assert all(np.array_equal(a[k], b[k]) for k in a)  # 1 or 2 workers: same content
    config = {"n_events": 8, "seed": 1, "n_workers": 1, "progress": False, **SMALL}
    folder = cached_jetnet(tmp_path, config, ("t", "g"))
    assert folder == jetnet_folder(tmp_path, 1, **SMALL) and folder.parent == tmp_path
    assert sorted(p.name for p in folder.glob("*.hdf5")) == ["g.hdf5", "t.hdf5"]
    assert sorted(p.name for p in folder.glob("*.speed.json")) == [
        "g.hdf5.speed.json",
        "t.hdf5.speed.json",
    ]
    stamps = {p.name: os.stat(p).st_mtime_ns for p in folder.iterdir()}
    assert cached_jetnet(tmp_path, {**config, "n_events": 4}, ("g", "t")) == folder
    assert {p.name: os.stat(p).st_mtime_ns for p in folder.iterdir()} == stamps
    # without the hep extra (a GPU node, say) a complete cache still reads; more jets need it
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "fastjet", None)
        assert cached_jetnet(tmp_path, config, ("g", "t")) == folder
        with pytest.raises(NotImplementedError, match="needs the hep extra"):
            cached_jetnet(tmp_path, {**config, "n_events": 9}, ("t",))
    # the data module generates into (and then finds) the same folder, and reads it
    generator = {k: v for k, v in config.items() if k != "n_events"}
    dm = JetNetDataModule(
        data_dir=str(tmp_path), jet_type="t", generator=generator, n_events=8, batch_size=4
    )
    assert dm.generate() == folder
    assert {p.name: os.stat(p).st_mtime_ns for p in folder.iterdir()} == stamps
    sample = dm.load_arrays()
    assert sample["x"].shape == (8, 30, 3) and sample["mask"].shape == (8, 30)
    np.testing.assert_allclose(
        sample["x"][..., 2], _arrays(folder / "t.hdf5")["particle_features"][..., 2]
    )
    # generation disabled: missing files are an error naming the generate command
    with pytest.raises(FileNotFoundError, match="genhep data generate data=jetnet"):
        JetNetDataModule(data_dir=str(tmp_path / "empty"), jet_type="w").load_arrays()
    with pytest.raises(TypeError, match="unknown JetNet generator options"):
        cached_jetnet(tmp_path, {**config, "pthat_minimum": 3}, ("t",))


@pytest.mark.slow
def test_physics_of_top_gluon_and_quark_jets(tmp_path):
    workers = os.cpu_count() or 1
    common = {"seed": 11, "n_workers": workers, "progress": False, "block_size": 25}
    top = read_jetnet_file(generate_jetnet(tmp_path / "t.hdf5", 300, "t", **common))
    gluon = read_jetnet_file(generate_jetnet(tmp_path / "g.hdf5", 300, "g", **common))
    quark = read_jetnet_file(generate_jetnet(tmp_path / "q.hdf5", 300, "q", **common))
    mass = top["jet_features"][:, 2]
    assert 150 < np.median(mass) < 195, np.median(mass)
    n_g, n_q = gluon["jet_features"][:, 3].mean(), quark["jet_features"][:, 3].mean()
    assert n_g > n_q, (n_g, n_q)
    # gluon jets: the 30 leading particles carry most of the jet pT
    assert np.median(gluon["particle_features"][..., 2].sum(axis=1)) > 0.85
    for arrays in (top, gluon, quark):
        total = arrays["particle_features"][..., 2].sum(axis=1)
        assert np.all(total <= 1.01) and np.mean(total <= 1 + 1e-6) > 0.8


def test_underlying_event_switch_is_a_pythia_setting_and_part_of_the_cache_key(tmp_path):
    from genhep.data.jets.pythia_jetnet import JetNetGenerator

    assert "PartonLevel:MPI = off" not in JetNetGenerator("w").pythia_settings()
    assert "PartonLevel:MPI = off" in JetNetGenerator("w", underlying_event=False).pythia_settings()
    assert jetnet_folder(tmp_path) != jetnet_folder(tmp_path, underlying_event=False)


@pytest.mark.slow
def test_w_jet_mass_peaks_at_the_w_mass_without_the_underlying_event(tmp_path):
    # the underlying event (on by default, as in JetNet) adds ~10 GeV at pT ~ 1 TeV, R = 0.8
    common = {"seed": 12, "n_workers": os.cpu_count() or 1, "progress": False, "block_size": 25}
    median = {}
    for ue in (True, False):
        path = tmp_path / f"w_{ue}.hdf5"
        jets = generate_jetnet(path, 200, "w", underlying_event=ue, **common)
        median[ue] = np.median(read_jetnet_file(jets)["jet_features"][:, 2])
    assert 75 < median[False] < 90, median
    assert median[True] > median[False] + 3, median
