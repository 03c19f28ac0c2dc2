"""The CaloChallenge's FPD/KPD feature representation, and the evaluator's fpd/kpd built on it."""

import json
import math

import h5py
import numpy as np
import pytest
from calo_challenge_features import DATASETS, FIXTURE, toy_showers
from test_calo_datamodule import toy_showers as datamodule_toy_showers

from genhep.data.calorimeter import get_geometry
from genhep.evaluation.calorimeter import CalorimeterEvaluator
from genhep.metrics.frechet import fpd
from genhep.metrics.kernel import kpd
from genhep.metrics.shower_features import (
    challenge_distance_feature_names,
    challenge_distance_features,
    high_level_features,
)

PHOTONS = get_geometry("ds1_photons")


def test_columns_and_their_order():
    names = challenge_distance_feature_names(PHOTONS)
    expected = (
        ["log10(e_inc)"]
        + [f"log10(e_layer_{i} + 1e-08)" for i in (0, 1, 2, 3, 12)]
        + [
            f"{p}_layer_{i} / 100"
            for p in ("ec_eta", "ec_phi", "width_eta", "width_phi")
            for i in (1, 2)
        ]
        + ["log10(e_total + 1e-08)"]
        + [f"sparsity_layer_{i}" for i in (0, 1, 2, 3, 12)]
        + [f"{p}_layer_{i} / 100" for p in ("ec_r", "width_r") for i in (0, 1, 2, 3, 12)]
    )
    assert names == expected
    assert len(challenge_distance_feature_names(get_geometry("ds1_pions"))) == 46
    assert len(challenge_distance_feature_names(get_geometry("ds2_electrons"))) == 362


def test_one_lit_voxel_closed_form():
    """Layer 1 of ds1_photons: 16 r bins (edges 0, 2, ..., 15, 20, ...) × 10 α bins. One voxel at
    α bin 3, r bin 7 (15-20 mm, centre 17.5 mm; α = -π + 3.5 · 2π/10 = -0.3π), 1000 MeV; a
    1 MeV voxel (at the cut: kept) in layer 0's r bin 2 (10-30 mm); a 0.9 MeV voxel (cut) in
    layer 2."""
    shower = np.zeros((1, PHOTONS.n_voxels))
    shower[0, 8 + 3 * 16 + 7] = 1000.0  # layer 0 has 8 voxels; layer 1: α slow, r fast
    shower[0, 2] = 1.0
    shower[0, 8 + 160 + 5] = 0.9
    got = dict(
        zip(
            challenge_distance_feature_names(PHOTONS),
            challenge_distance_features(shower, [[2048.0]], PHOTONS)[0],
            strict=True,
        )
    )
    alpha = -0.3 * math.pi
    expected = {
        "log10(e_inc)": math.log10(2048.0),
        "log10(e_layer_0 + 1e-08)": math.log10(1.0 + 1e-8),
        "log10(e_layer_1 + 1e-08)": math.log10(1000.0 + 1e-8),
        "log10(e_total + 1e-08)": math.log10(1001.0 + 1e-8),
        "ec_eta_layer_1 / 100": 17.5 * math.cos(alpha) / 100,
        "ec_phi_layer_1 / 100": 17.5 * math.sin(alpha) / 100,
        "sparsity_layer_0": 1 - 1 / 8,
        "sparsity_layer_1": 1 - 1 / 160,
        "ec_r_layer_0 / 100": 20.0 / 100,
        "ec_r_layer_1 / 100": 17.5 / 100,
    }
    for name, value in got.items():
        # the other layers are empty: log10(0 + 1e-8), sparsity 1, centres and widths 0
        empty = -8.0 if name.startswith("log10") else float(name.startswith("sparsity"))
        assert value == pytest.approx(expected.get(name, empty), rel=1e-12, abs=1e-12), name


def test_equals_the_challenge_code_on_toy_showers():
    """Against the challenge's own evaluate.py + HighLevelFeatures.py output (the fixture's
    ``source``; see tests/calo_challenge_features.py for how it was made)."""
    fixture = json.loads(FIXTURE.read_text())
    for name, (_, _, n_voxels) in DATASETS.items():
        theirs = np.asarray(fixture["features"][name])
        ours = challenge_distance_features(*toy_showers(n_voxels), get_geometry(name))
        assert ours.shape == theirs.shape
        # widths: the challenge's one-pass variance vs the centred one, ~1e-8 of a coordinate
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-8, err_msg=name)


def test_energy_scale_shifts_only_the_log_energies():
    showers, incident = toy_showers(PHOTONS.n_voxels)
    showers[showers < 1.0] = 0.0  # nothing crosses the cut when scaled
    names = challenge_distance_feature_names(PHOTONS)
    base = challenge_distance_features(showers, incident, PHOTONS)
    scaled = challenge_distance_features(1.06 * showers, incident, PHOTONS)
    shift = scaled - base
    for j, name in enumerate(names):
        if name.startswith("log10(e_") and name != "log10(e_inc)":
            lit = base[:, j] > -8  # an empty layer stays at log10(1e-8)
            assert np.allclose(shift[lit, j], math.log10(1.06), rtol=0, atol=1e-9), name
            assert np.all(shift[~lit, j] == 0), name
        else:  # E_inc, centres, widths, sparsities
            assert np.allclose(shift[:, j], 0, atol=1e-12), name


def test_cartesian_geometry_keeps_its_units_and_has_no_r():
    atlas = get_geometry("atlas_photons_266")
    showers, incident = toy_showers(atlas.n_voxels)
    names = challenge_distance_feature_names(atlas)
    assert not any("_r_" in n or "/ 100" in n for n in names)
    got = challenge_distance_features(showers, incident, atlas)
    hlf = high_level_features(np.where(showers < 0, 0, showers), incident, atlas)
    layer = atlas.layer_ids[1]
    np.testing.assert_array_equal(
        got[:, names.index(f"ec_eta_layer_{layer}")], hlf[f"ec_eta_layer_{layer}"]
    )


def test_min_energy_and_input_errors():
    showers, incident = toy_showers(PHOTONS.n_voxels)
    cut = challenge_distance_features(showers, incident, PHOTONS)
    assert np.array_equal(cut, challenge_distance_features(showers, incident, PHOTONS, 1.0))
    assert not np.array_equal(cut, challenge_distance_features(showers, incident, PHOTONS, 0.0))
    with pytest.raises(ValueError, match="positive"):
        challenge_distance_features(showers, 0 * incident, PHOTONS)
    with pytest.raises(ValueError, match="368"):
        challenge_distance_features(showers[:, :-1], incident, PHOTONS)


def test_evaluator_fpd_kpd_are_the_metrics_on_these_features():
    def sample(seed, scale=1.0):
        arrays = datamodule_toy_showers(600, PHOTONS, seed=seed, scale=scale)
        return {"x": arrays["showers"], "cond": arrays["incident_energies"]}

    real, reference, generated = sample(1), sample(2), sample(3, scale=1.3)
    evaluator = CalorimeterEvaluator(PHOTONS, n_bootstrap=2, classifier=False)
    metrics = evaluator.evaluate(generated, real, reference)
    f_real, f_ref, f_gen = (
        challenge_distance_features(s["x"], s["cond"], PHOTONS)
        for s in (real, reference, generated)
    )
    # n = 600: FPD batches of 300..600 rows, KPD batches of 600, seeded with jetnet's 42
    sizes = {"min_samples": 300, "max_samples": 600, "seed": 42}
    assert (metrics["fpd"].value, metrics["fpd"].error) == fpd(f_real, f_gen, **sizes)
    assert metrics["fpd"].real_vs_real == fpd(f_real, f_ref, **sizes)[0]
    assert (metrics["kpd"].value, metrics["kpd"].error) == kpd(
        f_real, f_gen, batch_size=600, seed=42
    )
    assert metrics["kpd"].real_vs_real == kpd(f_real, f_ref, batch_size=600, seed=42)[0]


@pytest.mark.slow
def test_evaluator_prints_what_the_challenge_script_prints(tmp_path):
    """fpd and kpd of a seeded pair of generated ds1_photons files, against the numbers the
    challenge's own script printed for the same files (an independent implementation's output).

    Files (genhep's parametric simulator, 50,000 showers each, 256 MeV-16 GeV)::

        genhep data generate data=calorimeter data.generator.n_events=50000 \\
            data.generator.e_max=16384 data.generator.seed=0     # ref.h5 (real)
        ... data.generator.seed=1                                # nominal.h5
        scaled.h5 = nominal.h5 with showers × float32(1.06)      # 6 % energy scale

    Challenge (CaloChallenge/homepage code/ at 9b41df72a03aeecb48bfbaa946f9792f255e0ba7, with
    jetnet 0.2.5, numpy 1.26.4)::

        python evaluate.py -i scaled.h5 -r ref.h5 -m fpd -d 1-photons
            FPD (x10^3): 0.3218 ± 0.0530
            KPD (x10^3): 0.0143 ± 0.0508
        python evaluate.py -i nominal.h5 -r ref.h5 -m fpd -d 1-photons
            FPD (x10^3): 0.2304 ± 0.0566
            KPD (x10^3): -0.0013 ± 0.0483
    """
    from genhep.data.calorimeter.generate import generate_showers

    def load(seed):
        path = generate_showers(
            tmp_path / f"seed{seed}.h5",
            "ds1_photons",
            n_events=50_000,
            e_max=16384.0,
            seed=seed,
            progress=False,
        )
        with h5py.File(path) as f:
            return {"x": f["showers"][:], "cond": f["incident_energies"][:]}

    real, nominal = load(0), load(1)
    scaled = {"x": nominal["x"] * np.float32(1.06), "cond": nominal["cond"]}
    evaluator = CalorimeterEvaluator(PHOTONS, n_bootstrap=2, classifier=False)
    metrics = evaluator.evaluate(scaled, real, nominal)
    printed = 0.5e-7  # half the last digit the script prints (× 1e-3)
    assert metrics["fpd"].value == pytest.approx(0.3218e-3, abs=printed)
    assert metrics["fpd"].error == pytest.approx(0.0530e-3, abs=printed)
    assert metrics["kpd"].value == pytest.approx(0.0143e-3, abs=printed)
    assert metrics["kpd"].error == pytest.approx(0.0508e-3, abs=printed)
    assert metrics["fpd"].real_vs_real == pytest.approx(0.2304e-3, abs=printed)
    assert metrics["kpd"].real_vs_real == pytest.approx(-0.0013e-3, abs=printed)
