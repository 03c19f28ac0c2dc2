"""JetNet reader (genhep/data/jets/jetnet.py), cloud observables and the JetNet evaluator."""

from __future__ import annotations

import logging
import sys

import h5py
import numpy as np
import pytest
import torch
from jetnet_files import N_PART, make_jets, write_file

from genhep.callbacks.evaluation import results_record, score_and_save
from genhep.data.jets.jetnet import JetNetDataModule, MaskedStandardize
from genhep.data.schema import SchemaError
from genhep.evaluation.jetnet import JetNetEvaluator
from genhep.metrics.jet_clouds import (
    FPD_EFPSET_ARGS,
    W1EFP_EFPSET_ARGS,
    efp_columns,
    efps,
    jet_mass,
    jet_pt,
    particle_features,
)


@pytest.fixture
def jetnet_dir(tmp_path):
    for i, jet_type in enumerate(("g", "t")):
        write_file(tmp_path / f"{jet_type}.hdf5", *make_jets(200 + 50 * i, seed=i))
    return tmp_path


def jetnet_reference_split(length, split, split_fraction=(0.7, 0.15, 0.15), seed=42):
    """jetnet 0.2.5 ``JetNet.getData`` + ``datasets.utils.getSplitting``, re-implemented
    line by line from the installed package (the package itself is compared in
    tests/test_jetnet_reference.py where it is installed)."""
    splits = ["train", "valid", "test"]
    cuts = (np.cumsum(np.insert(split_fraction, 0, 0)) * length).astype(int)
    lcut, rcut = cuts[splits.index(split)], cuts[splits.index(split) + 1]
    rng = np.random.default_rng(seed)
    randperm = rng.permutation(length)
    return randperm[lcut:rcut]


def test_reads_batches_mask_and_cond(jetnet_dir):
    dm = JetNetDataModule(
        path=str(jetnet_dir), jet_type=["t", "g"], cond=["jet_pt", "num_particles"], batch_size=32
    )
    assert dm.spec.has_mask and dm.spec.event_shape == (N_PART, 3) and dm.spec.cond_dim == 2
    dm.setup()
    assert sum(len(v["x"]) for v in dm.physical.values()) == 450
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"x", "mask", "cond"}
    assert batch["x"].shape == (32, N_PART, 3) and batch["mask"].shape == (32, N_PART)
    assert batch["mask"].dtype == torch.bool and batch["cond"].shape == (32, 2)
    assert torch.all(batch["x"][~batch["mask"]] == 0)
    # physical: g rows first (canonical order g, q, t, w, z), mask from the file
    pf_g, jf_g = make_jets(200, seed=0)
    arrays = dm.load_arrays()
    np.testing.assert_array_equal(arrays["mask"][:200], pf_g[..., 3] > 0)
    np.testing.assert_allclose(arrays["x"][:200], pf_g[..., :3])
    np.testing.assert_allclose(arrays["cond"][:200, 0], jf_g[:, 0])


def test_feature_subset_order_and_150(tmp_path):
    pf, jf = make_jets(40, seed=3, n_part=150)
    write_file(tmp_path / "q150.hdf5", pf, jf)
    dm = JetNetDataModule(
        path=str(tmp_path), jet_type="q", num_particles=60, particle_features=["ptrel", "etarel"]
    )
    arrays = dm.load_arrays()
    assert arrays["x"].shape == (40, 60, 2)
    np.testing.assert_allclose(arrays["x"][..., 0], pf[:, :60, 2])
    np.testing.assert_allclose(arrays["x"][..., 1], pf[:, :60, 0])


@pytest.mark.parametrize("n", [1000, 451, 7])
def test_split_equals_jetnet(n):
    dm = JetNetDataModule(path="unused")
    ours = dm.split_indices(n)
    for split, theirs in (("train", "train"), ("val", "valid"), ("test", "test")):
        np.testing.assert_array_equal(ours[split], jetnet_reference_split(n, theirs))
    assert sum(len(v) for v in ours.values()) == n


def test_split_of_loaded_data_matches_jetnet_order(jetnet_dir):
    dm = JetNetDataModule(path=str(jetnet_dir), jet_type="g", transform="none")
    dm.setup()
    pf, _ = make_jets(200, seed=0)
    idx = jetnet_reference_split(200, "valid")
    np.testing.assert_allclose(dm.physical["val"]["x"], pf[idx, :, :3])


def test_normalisation_round_trip_keeps_padding_zero(jetnet_dir):
    dm = JetNetDataModule(path=str(jetnet_dir), jet_type="g")
    dm.setup()
    assert isinstance(dm.transform, MaskedStandardize)
    x = dm.datasets["train"].tensors["x"]
    mask = dm.datasets["train"].tensors["mask"]
    assert torch.all(x[~mask] == 0)
    real = x[mask]
    assert torch.allclose(real.mean(0), torch.zeros(3), atol=1e-5)
    assert torch.allclose(real.std(0), torch.ones(3), atol=1e-3)
    back = dm.to_physical(x)
    np.testing.assert_allclose(back, dm.physical["train"]["x"], atol=1e-6)
    assert np.all(back[~mask.numpy()] == 0)
    # the fitted state restores an identical transform
    other = JetNetDataModule(path=str(jetnet_dir), jet_type="g")
    other.load_state_dict(dm.state_dict())
    physical = torch.as_tensor(dm.physical["train"]["x"]).double()
    assert torch.equal(other.transform.forward(physical).float(), x)
    # with the mask, particles outside it are zero whatever their features
    noisy = torch.where(mask[..., None], x, torch.ones_like(x)).double()
    assert torch.all(dm.transform.inverse(noisy, mask=mask)[~mask] == 0)


@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        (lambda pf, jf: (pf[..., :3], jf), ["particle_features", "axis 2"]),
        (lambda pf, jf: (pf, None), ["jet_features", "missing"]),
        (lambda pf, jf: (np.where(pf == pf.max(), np.nan, pf), jf), ["particle_features", "NaN"]),
        (lambda pf, jf: (pf * np.array([1, 1, -1, 1], np.float32), jf), ["ptrel", "negative"]),
        (lambda pf, jf: (pf * np.array([1, 1, 1, 2], np.float32), jf), ["mask", "not 0 or 1"]),
        (lambda pf, jf: (pf, jf[:-1]), ["jet_features", "axis 0"]),
    ],
)
def test_schema_errors_name_file_and_key(tmp_path, mutate, words):
    pf, jf = mutate(*make_jets(20, seed=5))
    with h5py.File(tmp_path / "g.hdf5", "w") as f:
        f.create_dataset("particle_features", data=pf)
        if jf is not None:
            f.create_dataset("jet_features", data=jf)
    with pytest.raises(SchemaError) as err:
        JetNetDataModule(path=str(tmp_path)).load_arrays()
    message = str(err.value)
    assert "g.hdf5" in message and "expected" in message
    for word in words:
        assert word in message


def test_missing_files_point_to_generation(tmp_path):
    dm = JetNetDataModule(path=None, data_dir=str(tmp_path / "cache"), jet_type="w")
    with pytest.raises(FileNotFoundError, match="genhep data generate data=jetnet"):
        dm.setup()
    with pytest.raises(FileNotFoundError, match="w.hdf5"):
        JetNetDataModule(path=str(tmp_path), jet_type="w").load_arrays()


def test_write_read_samples_round_trip(jetnet_dir, tmp_path):
    dm = JetNetDataModule(path=str(jetnet_dir), cond="jet_pt")
    sample = dm.load_arrays()
    out = dm.write_samples(tmp_path / "out" / "gen.hdf5", sample)
    back = dm.read_samples(out)
    np.testing.assert_allclose(back["x"], sample["x"])
    np.testing.assert_array_equal(back["mask"], sample["mask"])
    np.testing.assert_allclose(back["cond"], sample["cond"])
    with h5py.File(out) as f:
        _, jf = make_jets(200, seed=0)
        np.testing.assert_allclose(f["jet_features"][:, 2], jf[:, 2], rtol=1e-4)


def test_jet_mass_closed_form_two_massless_particles():
    pt1, pt2, eta1, eta2, phi1, phi2 = 0.6, 0.3, 0.2, -0.15, 0.1, -0.25
    clouds = np.array([[[eta1, phi1, pt1], [eta2, phi2, pt2], [0, 0, 0]]])
    m2 = 2 * pt1 * pt2 * (np.cosh(eta1 - eta2) - np.cos(phi1 - phi2))
    np.testing.assert_allclose(jet_mass(clouds), np.sqrt(m2), rtol=1e-12)
    np.testing.assert_allclose(jet_mass(clouds, jet_pt=[1000.0]), 1000 * np.sqrt(m2))
    # a masked particle is ignored whatever its features
    noisy = clouds.copy()
    noisy[0, 2] = [0.5, 0.5, 0.5]
    np.testing.assert_allclose(jet_mass(noisy, mask=[[1, 1, 0]]), np.sqrt(m2), rtol=1e-12)
    px = pt1 * np.cos(phi1) + pt2 * np.cos(phi2)
    py = pt1 * np.sin(phi1) + pt2 * np.sin(phi2)
    np.testing.assert_allclose(jet_pt(clouds), np.hypot(px, py), rtol=1e-12)


def test_jet_mass_from_particles_matches_jet_features(jetnet_dir):
    with h5py.File(jetnet_dir / "t.hdf5") as f:
        pf, jf = f["particle_features"][()], f["jet_features"][()]
    mass = jet_mass(pf[..., :3], pf[..., 3], jet_pt=jf[:, 0])
    np.testing.assert_allclose(mass, jf[:, 2], rtol=1e-4)
    assert len(particle_features(pf, pf[..., 3])) == int(jf[:, 3].sum())


def test_w1m_real_vs_real_and_scaled():
    real = dict(zip(("x", "mask"), _split(make_jets(3000, seed=10)), strict=True))
    fresh = dict(zip(("x", "mask"), _split(make_jets(3000, seed=11)), strict=True))
    ref = dict(zip(("x", "mask"), _split(make_jets(3000, seed=12)), strict=True))
    scaled = {"x": fresh["x"] * np.array([1.0, 1.0, 1.5]), "mask": fresh["mask"]}
    ev = JetNetEvaluator(w1_batch_size=2000, w1_num_batches=5, use_efps=False, distances=False)
    good = ev.evaluate(fresh, real, ref)
    bad = ev.evaluate(scaled, real, ref)
    assert {"w1m", "w1p", "w1p_ptrel"} <= set(good) and "fpnd" in ev.skipped
    assert good["w1m"].value < 3 * good["w1m"].real_vs_real + 3 * good["w1m"].error
    assert bad["w1m"].value > 10 * good["w1m"].value
    assert bad["w1p"].value > 5 * good["w1p"].value
    assert good["w1p"].real_vs_real == bad["w1p"].real_vs_real


def test_without_efps_fpd_kpd_are_absent_and_the_fallback_has_its_own_name():
    real = dict(zip(("x", "mask"), _split(make_jets(600, seed=20)), strict=True))
    ref = dict(zip(("x", "mask"), _split(make_jets(600, seed=21)), strict=True))
    shifted = {"x": real["x"] * np.array([2.0, 1.0, 1.0]), "mask": real["mask"]}
    ev = JetNetEvaluator(w1_batch_size=500, w1_num_batches=3, use_efps=False)
    metrics = ev.evaluate(shifted, real, ref)
    # fpd/kpd mean "on the 36 EFPs": never another feature set under those names
    assert not {"fpd", "kpd", "w1efp"} & set(metrics)
    assert {"fpd", "kpd", "w1efp"} <= set(ev.skipped) and "use_efps=false" in ev.skipped["fpd"]
    assert metrics["fpd_hlf"].value > metrics["fpd_hlf"].real_vs_real
    assert metrics["kpd_hlf"].value > metrics["kpd_hlf"].real_vs_real
    obs = ev.observables(real)
    assert obs["jet_mass"].shape == (600,) and obs["ptrel"].shape == (int(real["mask"].sum()),)
    assert set(ev.figures(shifted, real)) == {"jet_mass", "jet_pt", "etarel", "phirel", "ptrel"}


def test_efp_metrics_need_no_energyflow_and_can_be_switched_off(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "energyflow", None)  # import energyflow -> ImportError
    real = dict(zip(("x", "mask"), _split(make_jets(300, seed=22)), strict=True))
    ref = dict(zip(("x", "mask"), _split(make_jets(300, seed=23)), strict=True))
    ev = JetNetEvaluator(w1_batch_size=300, w1_num_batches=2)  # use_efps=None: on
    assert ev.use_efps is True
    metrics = ev.evaluate(real, real, ref)
    assert {"fpd", "kpd", "w1efp", "w1m", "w1p"} <= set(metrics)
    assert "fpd_hlf" not in metrics
    off = JetNetEvaluator(w1_batch_size=300, w1_num_batches=2, use_efps=False)
    with caplog.at_level(logging.WARNING, logger="genhep.evaluation.jetnet"):
        metrics = off.evaluate(real, real, ref)
    assert "fpd" not in metrics and "kpd" not in metrics and "w1efp" not in metrics
    assert {"fpd_hlf", "kpd_hlf", "w1m", "w1p"} <= set(metrics)
    assert "use_efps=false" in off.skipped["fpd"]
    assert "fpd not computed" in caplog.text and "use_efps" in caplog.text


def test_skipped_metrics_reach_results_json(tmp_path, monkeypatch):
    real = dict(zip(("x", "mask"), _split(make_jets(300, seed=24)), strict=True))
    ref = dict(zip(("x", "mask"), _split(make_jets(300, seed=25)), strict=True))
    ev = JetNetEvaluator(w1_batch_size=300, w1_num_batches=2, use_efps=False)
    scores = score_and_save(ev, real, real, ref, "test", tmp_path, make_figures=False)
    record = results_record(
        model=None, data="jetnet", experiment=None, overrides=[], seed=None, split="test",
        epochs_trained=None, global_step=None, n_samples=300, speed=None, scores=scores,
    )  # fmt: skip
    assert "fpd" not in record["metrics"] and "fpd_hlf" in record["metrics"]
    assert set(record["skipped"]) >= {"fpd", "kpd", "w1efp", "fpnd"}


def test_efps_match_jet_count_without_energyflow(monkeypatch):
    monkeypatch.setitem(sys.modules, "energyflow", None)
    pf, _ = make_jets(5, seed=30)
    assert efps(pf[..., :3], pf[..., 3]).shape == (5, 5)


def test_w1efp_set_is_a_slice_of_the_fpd_set():
    """The evaluator computes the 36 d <= 4 EFPs once and takes W1EFP's 5 from them."""
    pf, _ = make_jets(40, seed=31)
    full = efps(pf[..., :3], pf[..., 3], FPD_EFPSET_ARGS)
    columns = efp_columns(FPD_EFPSET_ARGS, W1EFP_EFPSET_ARGS)
    assert full.shape == (40, 36) and len(columns) == 5
    direct = efps(pf[..., :3], pf[..., 3], W1EFP_EFPSET_ARGS)
    np.testing.assert_allclose(full[:, columns], direct, rtol=1e-10)


def _split(arrays):
    pf, _ = arrays
    return pf[..., :3].astype(np.float64), pf[..., 3] > 0
