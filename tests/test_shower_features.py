"""High-level shower features against hand-built showers and a slow per-shower reference."""

import time

import numpy as np
import pytest

from genhep.data.calorimeter import get_geometry
from genhep.metrics.shower_features import (
    centre_of_energy,
    energy_ratio,
    high_level_features,
    layer_energies,
    radial_centre_and_width,
    shower_width,
    sparsity,
    total_energy,
)

NAMES = ["ds1_photons", "ds1_pions", "atlas_photons_266", "ds2_electrons"]
WIDTH_ATOL = 1e-9  # mm (or eta, rad); the centred variance of one lit voxel is exactly 0


def random_showers(geometry, n, seed=0, occupancy=0.3):
    """Sparse showers (MeV) with some empty showers and some empty layers."""
    rng = np.random.default_rng(seed)
    lit = rng.random((n, geometry.n_voxels)) < occupancy
    showers = (lit * rng.exponential(50.0, (n, geometry.n_voxels))).astype(np.float32)
    showers[0] = 0.0
    showers[1 : n // 4, geometry.layer_slices[0]] = 0.0
    showers[2, :] = 0.0
    showers[2, geometry.layer_slices[-1].start] = 7.0  # one lit voxel in the whole shower
    return showers, rng.uniform(256.0, 4.2e6, n)


def slow_features(showers, incident, geometry, threshold=0.0):
    """Explicit per-shower, per-layer loop; empty layer: centre 0, width 0 (the challenge)."""
    out = {"e_total": [], "e_ratio": []}
    coordinates = {"eta": geometry.voxel_eta, "phi": geometry.voxel_phi}
    if not geometry.cartesian:
        coordinates["r"] = geometry.voxel_r
    for shower, e_inc in zip(showers.astype(np.float64), incident, strict=True):
        total = sum(float(e) for e in shower)
        out["e_total"].append(total)
        out["e_ratio"].append(total / e_inc)
        for layer_id, s in zip(geometry.layer_ids, geometry.layer_slices, strict=True):
            energies = shower[s]
            out.setdefault(f"e_layer_{layer_id}", []).append(energies.sum())
            lit = sum(1 for e in energies if e > threshold)
            out.setdefault(f"sparsity_layer_{layer_id}", []).append(1 - lit / energies.size)
            for axis, values in coordinates.items():
                if axis != "r" and layer_id not in geometry.alpha_binned_layers:
                    continue
                if energies.sum() > 0:
                    mean = np.average(values[s], weights=energies)
                    width = np.sqrt(np.average((values[s] - mean) ** 2, weights=energies))
                else:
                    mean = width = 0.0
                out.setdefault(f"ec_{axis}_layer_{layer_id}", []).append(mean)
                out.setdefault(f"width_{axis}_layer_{layer_id}", []).append(width)
    return {key: np.array(values) for key, values in out.items()}


@pytest.mark.parametrize("name", NAMES)
def test_features_equal_the_slow_loop(name):
    geometry = get_geometry(name)
    showers, incident = random_showers(geometry, 60 if name != "ds2_electrons" else 12)
    for threshold in (0.0, 20.0):
        fast = high_level_features(showers, incident[:, None], geometry, threshold=threshold)
        slow = slow_features(showers, incident, geometry, threshold=threshold)
        assert set(fast) == set(slow)
        for key, expected in slow.items():
            atol = WIDTH_ATOL if key.startswith("width") else 1e-9
            np.testing.assert_allclose(fast[key], expected, rtol=1e-10, atol=atol, err_msg=key)
            assert fast[key].shape == (len(showers),) and fast[key].dtype == np.float64


def test_feature_names_for_dataset_1_photons():
    geometry = get_geometry("ds1_photons")
    showers, incident = random_showers(geometry, 5)
    names = set(high_level_features(showers, incident, geometry))
    expected = {"e_total", "e_ratio"}
    for prefix in ("e", "ec_r", "width_r", "sparsity"):
        expected |= {f"{prefix}_layer_{i}" for i in (0, 1, 2, 3, 12)}
    for prefix in ("ec_eta", "ec_phi", "width_eta", "width_phi"):
        expected |= {f"{prefix}_layer_{i}" for i in (1, 2)}
    assert names == expected


@pytest.mark.parametrize("name", NAMES)
def test_one_lit_voxel(name):
    geometry = get_geometry(name)
    rng = np.random.default_rng(1)
    for voxel in rng.choice(geometry.n_voxels, size=6, replace=False):
        shower = np.zeros((1, geometry.n_voxels))
        shower[0, voxel] = 123.4
        i = geometry.voxel_layer_index[voxel]
        n_in_layer = geometry.layer_sizes[i]
        energies = layer_energies(shower, geometry)
        assert energies[0, i] == pytest.approx(123.4) and energies.sum() == pytest.approx(123.4)
        assert energies[0, i] / total_energy(shower)[0] == pytest.approx(1.0)
        ec_eta, ec_phi = centre_of_energy(shower, geometry)
        assert ec_eta[0, i] == pytest.approx(geometry.voxel_eta[voxel], abs=1e-12)
        assert ec_phi[0, i] == pytest.approx(geometry.voxel_phi[voxel], abs=1e-12)
        width_eta, width_phi = shower_width(shower, geometry)
        assert width_eta[0, i] == pytest.approx(0.0, abs=WIDTH_ATOL)
        assert width_phi[0, i] == pytest.approx(0.0, abs=WIDTH_ATOL)
        occupancy = 1.0 - sparsity(shower, geometry)
        assert occupancy[0, i] == pytest.approx(1.0 / n_in_layer)
        others = np.arange(geometry.n_layers) != i
        # every other layer is empty: centre 0, width 0, sparsity 1, no NaN
        assert np.all(ec_eta[0, others] == 0) and np.all(width_eta[0, others] == 0)
        assert np.all(occupancy[0, others] == 0)
        if not geometry.cartesian:
            ec_r, width_r = radial_centre_and_width(shower, geometry)
            assert ec_r[0, i] == pytest.approx(geometry.voxel_r[voxel])
            assert width_r[0, i] == pytest.approx(0.0, abs=WIDTH_ATOL)


@pytest.mark.parametrize("name", ["ds1_pions", "atlas_photons_266"])
def test_two_lit_voxels_give_the_analytic_mean_and_width(name):
    geometry = get_geometry(name)
    layer_id = geometry.alpha_binned_layers[-1]
    i, s = geometry.layer_index(layer_id), geometry.layer_slice(layer_id)
    a, b = s.start + 1, s.stop - 2
    e_a, e_b = 30.0, 90.0
    shower = np.zeros((1, geometry.n_voxels))
    shower[0, [a, b]] = e_a, e_b
    ec_eta, ec_phi = centre_of_energy(shower, geometry)
    width_eta, width_phi = shower_width(shower, geometry)
    for ec, width, x in (
        (ec_eta, width_eta, geometry.voxel_eta),
        (ec_phi, width_phi, geometry.voxel_phi),
    ):
        # weighted mean; σ = |x_a − x_b| √(E_a E_b) / (E_a + E_b)
        assert ec[0, i] == pytest.approx(
            (e_a * x[a] + e_b * x[b]) / (e_a + e_b), rel=1e-12, abs=1e-12
        )
        expected = abs(x[a] - x[b]) * np.sqrt(e_a * e_b) / (e_a + e_b)
        assert width[0, i] == pytest.approx(expected, rel=1e-9, abs=WIDTH_ATOL)
    assert sparsity(shower, geometry)[0, i] == pytest.approx(1 - 2 / geometry.layer_sizes[i])


def test_layer_energies_sum_to_total_and_ratio():
    geometry = get_geometry("ds1_pions")
    showers, incident = random_showers(geometry, 200, seed=4)
    np.testing.assert_allclose(
        layer_energies(showers, geometry).sum(axis=1), total_energy(showers), rtol=1e-12
    )
    np.testing.assert_allclose(energy_ratio(showers, incident), total_energy(showers) / incident)
    np.testing.assert_array_equal(
        energy_ratio(showers, incident[:, None]), energy_ratio(showers, incident)
    )


def test_empty_showers_follow_the_challenge_convention():
    geometry = get_geometry("ds1_photons")
    empty = np.zeros((3, geometry.n_voxels), dtype=np.float32)
    features = high_level_features(empty, np.full(3, 1024.0), geometry)
    for key, values in features.items():
        assert np.all(np.isfinite(values)), key
        expected = 1.0 if key.startswith("sparsity") else 0.0
        np.testing.assert_array_equal(values, expected, err_msg=key)


def test_threshold_counts_a_voxel_at_the_threshold_as_empty():
    geometry = get_geometry("ds1_photons")
    shower = np.zeros((1, geometry.n_voxels))
    shower[0, :3] = [5.0, 10.0, 10.5]  # layer 0 has 8 voxels
    assert sparsity(shower, geometry, threshold=10.0)[0, 0] == pytest.approx(1 - 1 / 8)
    assert sparsity(shower, geometry)[0, 0] == pytest.approx(1 - 3 / 8)


def test_shape_errors_name_what_was_expected():
    geometry = get_geometry("ds1_pions")
    with pytest.raises(ValueError, match=r"\(N, 533\).*ds1_pions"):
        layer_energies(np.zeros((4, 368)), geometry)
    with pytest.raises(ValueError, match=r"incident_energies must be \(4,\)"):
        high_level_features(np.zeros((4, 533)), np.ones(5), geometry)


def test_hundred_thousand_showers_are_fast():
    geometry = get_geometry("ds1_pions")
    rng = np.random.default_rng(5)
    showers = rng.random((100_000, geometry.n_voxels), dtype=np.float32)
    showers[showers < 0.6] = 0.0
    start = time.perf_counter()
    features = high_level_features(showers, np.full(100_000, 65536.0), geometry)
    elapsed = time.perf_counter() - start
    assert features["e_total"].shape == (100_000,)
    assert elapsed < 5.0, f"{elapsed:.2f} s for 100k showers of 533 voxels"
