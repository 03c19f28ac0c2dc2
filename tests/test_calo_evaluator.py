"""Separation power and the CaloChallenge metrics of the calorimeter evaluator."""

import logging

import numpy as np
import pytest
from test_calo_datamodule import PHOTONS, toy_showers

from genhep.evaluation.calorimeter import CalorimeterEvaluator
from genhep.metrics.separation import (
    separation_bins,
    separation_from_histograms,
    separation_power,
)

# -------------------------------------------------------------------- separation power


def challenge_separation(real, generated, bins):
    """CaloChallenge's recipe, written out: density histograms times bin widths."""
    h1 = np.histogram(real, bins=bins, density=True)[0] * np.diff(bins)
    h2 = np.histogram(generated, bins=bins, density=True)[0] * np.diff(bins)
    return 0.5 * np.sum((h1 - h2) ** 2 / (h1 + h2 + 1e-16))


def test_separation_identical_histograms_is_zero():
    x = np.random.default_rng(0).normal(size=1000)
    value, error = separation_power(x, x.copy(), 20, n_bootstrap=10)
    assert value == 0.0 and error >= 0
    assert separation_from_histograms([1, 2, 0, 3], [2, 4, 0, 6]) == 0.0


def test_separation_disjoint_histograms_is_one():
    bins = np.linspace(0, 2, 11)
    value, _ = separation_power(np.full(50, 0.25), np.full(70, 1.75), bins, n_bootstrap=0)
    assert value == pytest.approx(1.0)
    assert separation_from_histograms([3, 1, 0, 0], [0, 0, 5, 2]) == pytest.approx(1.0)


def test_separation_closed_form():
    # h_real = (3/4, 1/4), h_gen = (1/2, 1/2): ½ (1/16 / (5/4) + 1/16 / (3/4)) = 1/15
    bins = [0.0, 0.5, 1.0]
    value, error = separation_power([0.1, 0.2, 0.3, 0.9], [0.1, 0.9], bins, n_bootstrap=0)
    assert value == pytest.approx(1 / 15, rel=1e-12)
    assert np.isnan(error)


def test_separation_matches_the_challenge_recipe():
    rng = np.random.default_rng(1)
    real, gen = rng.normal(size=5000), rng.normal(0.2, 1.1, size=4000)
    edges = separation_bins(real, 40)
    assert edges[0] == real.min() and edges[-1] == real.max() and len(edges) == 41
    value, error = separation_power(real, gen, 40, n_bootstrap=20)
    # generated events outside the real range are dropped and the rest renormalised
    assert value == pytest.approx(challenge_separation(real, gen, edges), rel=1e-12)
    assert 0 < error < value


def test_separation_edge_cases():
    # no generated event in range: taken as an empty histogram (0.5), not NaN
    assert separation_power([0.0, 1.0], [5.0, 6.0], n_bootstrap=0)[0] == pytest.approx(0.5)
    # a constant real sample gets a unit-wide range
    assert separation_power(np.ones(10), np.ones(5), 4, n_bootstrap=0)[0] == 0.0
    with pytest.raises(ValueError, match="increasing edges"):
        separation_power([1.0], [1.0], [1.0, 0.0])


# -------------------------------------------------------------------- evaluator

N = 2000


def sample(n, seed, scale=1.0, e_inc=None, zero_layer=None):
    arrays = toy_showers(n, PHOTONS, seed=seed, scale=scale, e_inc=e_inc)
    if zero_layer is not None:
        arrays["showers"][:, PHOTONS.layer_slices[zero_layer]] = 0.0
    return {"x": arrays["showers"], "cond": arrays["incident_energies"]}


@pytest.fixture(scope="module")
def evaluation():
    real, reference = sample(N, seed=10), sample(N, seed=11)
    evaluator = CalorimeterEvaluator(PHOTONS, n_bootstrap=10)
    e_inc = real["cond"]  # generated at the real incident energies, as the callback does
    results = {
        "same": evaluator.evaluate(sample(N, 12, e_inc=e_inc), real, reference),
        "scaled": evaluator.evaluate(sample(N, 12, 1.3, e_inc=e_inc), real, reference),
        "zeroed": evaluator.evaluate(sample(N, 12, e_inc=e_inc, zero_layer=1), real, reference),
    }
    return evaluator, results


def test_metric_names(evaluation):
    evaluator, results = evaluation
    same = results["same"]
    features = evaluator.features(sample(10, 1))
    expected = {f"{kind}_{f}" for f in features for kind in ("w1", "sep")}
    expected |= {"sep_mean", "e_ratio_mean", "e_ratio_std", "fpd", "kpd", "w1_longitudinal_centre"}
    expected |= {f"{k}_{level}" for k in ("auc", "jsd") for level in ("low", "high")}
    assert set(same) == expected
    for name, metric in same.items():
        assert np.isfinite(metric.value) and np.isfinite(metric.error), name
        assert metric.error >= 0 and metric.real_vs_real is not None, name
        if name.startswith("sep_"):
            assert 0 <= metric.value <= 1 and 0 <= metric.real_vs_real <= 1, name


def test_same_distribution_is_at_real_vs_real_level(evaluation):
    same = evaluation[1]["same"]
    mean = same["sep_mean"]
    assert mean.value < 1.5 * mean.real_vs_real
    for name, metric in same.items():
        if name.startswith("sep_"):
            assert metric.value < 3 * metric.real_vs_real + 3 * metric.error + 1e-3, name
    for name in ("auc_low", "auc_high"):
        assert abs(same[name].value - 0.5) < 0.06, name
        assert abs(same[name].real_vs_real - 0.5) < 0.06, name
    for name in ("jsd_low", "jsd_high"):
        assert abs(same[name].value) < 0.05, name
    for name in ("e_ratio_mean", "e_ratio_std"):
        assert abs(same[name].value) < 3 * same[name].error + 0.02, name
    for name in ("fpd", "kpd"):
        assert same[name].value < 3 * same[name].real_vs_real + 3 * same[name].error, name


@pytest.mark.parametrize("case", ["scaled", "zeroed"])
def test_mismodelled_showers_are_detected(evaluation, case):
    results = evaluation[1]
    same, bad = results["same"], results[case]
    assert bad["sep_mean"].value > 3 * same["sep_mean"].value
    assert bad["sep_mean"].value > 3 * bad["sep_mean"].real_vs_real
    for level in ("low", "high"):
        assert bad[f"auc_{level}"].value > 0.8, level
        assert bad[f"jsd_{level}"].value > 0.1, level
    if case == "zeroed":
        for name in ("fpd", "kpd"):
            assert bad[name].value > 5 * same[name].value + 3 * bad[name].error, name
            assert bad[name].value > 5 * bad[name].real_vs_real, name
    else:
        # fpd and kpd see the challenge's features, energies as log10: × 1.3 is a shift of 0.11
        # against columns divided by max |log10 E| (up to 8, an empty layer's log10(1e-8)), so
        # at 2000 events it stands out from the same-distribution value by ~5σ (fpd), ~3σ (kpd)
        for name, n_sigma in (("fpd", 4), ("kpd", 2)):
            excess = bad[name].value - same[name].value
            assert excess > n_sigma * np.hypot(bad[name].error, same[name].error), name


def test_scaled_energy_ratio(evaluation):
    scaled = evaluation[1]["scaled"]
    # every voxel × 1.3: the mean and the width of E_tot / E_inc grow by 30 %
    assert scaled["e_ratio_mean"].value == pytest.approx(0.3, abs=0.01)
    assert scaled["e_ratio_std"].value == pytest.approx(0.3, abs=0.15)
    assert scaled["sep_e_ratio"].value > 10 * scaled["sep_e_ratio"].real_vs_real


def test_zeroed_layer(evaluation):
    zeroed = evaluation[1]["zeroed"]
    layer = PHOTONS.layer_ids[1]
    # every generated layer energy (0) falls below the real (log) range and every sparsity (1)
    # above the real one: an empty in-range histogram, S = 0.5 (the challenge drops out-of-range
    # events); W1 sees the full difference
    for name in (f"e_layer_{layer}", f"sparsity_layer_{layer}"):
        assert zeroed[f"sep_{name}"].value == pytest.approx(0.5), name
        assert zeroed[f"sep_{name}"].real_vs_real < 0.05, name
        assert zeroed[f"w1_{name}"].value > 10 * zeroed[f"w1_{name}"].real_vs_real, name


def test_options_skip_metrics(caplog):
    real, reference, gen = sample(200, 1), sample(200, 2), sample(200, 3)
    evaluator = CalorimeterEvaluator(PHOTONS, n_bootstrap=2, classifier=False)
    with caplog.at_level(logging.WARNING, logger="genhep.evaluation.calorimeter"):
        metrics = evaluator.evaluate(gen, real, reference)
    assert "fpd not computed: 200 events, below min_distance_events = 500" in caplog.text
    assert not {"fpd", "kpd", "auc_low", "auc_high", "jsd_low", "jsd_high"} & set(metrics)
    assert "below min_distance_events" in evaluator.skipped["kpd"]
    assert evaluator.skipped["auc_low"] == "turned off (classifier=false)"
    assert "sep_mean" in metrics and "e_ratio_mean" in metrics
    # the classifier sees at most max_classifier_events per sample
    small = CalorimeterEvaluator(
        PHOTONS,
        n_bootstrap=2,
        distances=False,
        max_classifier_events=150,
        classifier_kwargs={"epochs": 2, "n_bootstrap": 2},
    )
    metrics = small.evaluate(gen, real, reference)
    assert {"auc_low", "auc_high", "jsd_low", "jsd_high"} <= set(metrics)
