"""Classifier two-sample test: AUC and JSD, and the pieces they are built from."""

import importlib.util
import math

import numpy as np
import pytest
import torch

from genhep.metrics.classifier import (
    IsotonicCalibrator,
    binary_cross_entropy,
    classifier_two_sample_test,
    fit_classifier,
    jsd_from_bce,
    roc_auc,
)


def _auc_pairwise(labels, scores):
    pos, neg = scores[labels == 1], scores[labels == 0]
    diff = pos[:, None] - neg[None, :]
    return ((diff > 0).sum() + 0.5 * (diff == 0).sum()) / (len(pos) * len(neg))


@pytest.mark.parametrize("n", [2, 17, 500])
def test_auc_matches_pairwise_count(n):
    rng = np.random.default_rng(n)
    labels = np.r_[0, 1, rng.integers(0, 2, n - 2)]
    scores = rng.normal(size=n) + labels
    assert roc_auc(labels, scores) == pytest.approx(_auc_pairwise(labels, scores), abs=1e-12)
    ties = np.round(scores)  # heavy ties
    assert roc_auc(labels, ties) == pytest.approx(_auc_pairwise(labels, ties), abs=1e-12)


@pytest.mark.skipif(importlib.util.find_spec("sklearn") is None, reason="sklearn not installed")
def test_auc_matches_sklearn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 1000)
    scores = np.round(rng.normal(size=1000) + 0.7 * labels, 1)
    assert roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_auc_edge_cases():
    assert roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert roc_auc([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]) == 0.0
    assert roc_auc([0, 1], [0.5, 0.5]) == 0.5
    with pytest.raises(ValueError, match="both classes"):
        roc_auc([1, 1], [0.1, 0.2])


def test_jsd_from_bce():
    labels = np.array([0, 1, 0, 1])
    assert jsd_from_bce(binary_cross_entropy(labels, np.full(4, 0.5))) == pytest.approx(0.0)
    assert jsd_from_bce(binary_cross_entropy(labels, labels.astype(float))) == pytest.approx(1.0)
    p = np.array([0.2, 0.7, 0.4, 0.9])
    bce = -np.mean([math.log(0.8), math.log(0.7), math.log(0.6), math.log(0.9)])
    assert binary_cross_entropy(labels, p) == pytest.approx(bce, rel=1e-12)
    assert jsd_from_bce(bce) == pytest.approx((math.log(2) - bce) / math.log(2))


def test_isotonic_calibrator_is_a_monotone_least_squares_fit():
    rng = np.random.default_rng(2)
    scores = rng.random(400)
    labels = (rng.random(400) < scores).astype(float)
    cal = IsotonicCalibrator().fit(scores, labels)
    fitted = cal.predict(np.sort(scores))
    assert np.all(np.diff(fitted) >= -1e-15)
    assert fitted.min() >= 1e-6 and fitted.max() <= 1 - 1e-6
    # Pooling keeps the mean: a least-squares isotonic fit preserves Σ y.
    assert cal.predict(scores).sum() == pytest.approx(labels.sum(), rel=1e-6)
    # Out-of-range scores take the end values (sklearn's out_of_bounds="clip").
    assert cal.predict([-1.0, 2.0]) == pytest.approx([fitted[0], fitted[-1]])
    # Already monotone data is returned as is; a violation is pooled to its mean.
    exact = IsotonicCalibrator(0.0, 1.0).fit([1, 2, 3, 4], [0.1, 0.2, 0.6, 0.4])
    assert exact.predict([1, 2, 3, 4]) == pytest.approx([0.1, 0.2, 0.5, 0.5])


@pytest.mark.skipif(importlib.util.find_spec("sklearn") is None, reason="sklearn not installed")
def test_isotonic_calibrator_matches_sklearn():
    from sklearn.isotonic import IsotonicRegression

    rng = np.random.default_rng(3)
    scores = np.round(rng.random(500), 2)
    labels = (rng.random(500) < scores).astype(float)
    ref = IsotonicRegression(out_of_bounds="clip", y_min=1e-6, y_max=1 - 1e-6)
    ref.fit(scores, labels)
    grid = np.linspace(-0.1, 1.1, 301)
    assert IsotonicCalibrator().fit(scores, labels).predict(grid) == pytest.approx(
        ref.predict(grid), abs=1e-12
    )


def test_identical_distributions_give_auc_half_and_jsd_zero():
    rng = np.random.default_rng(4)
    real, gen = rng.normal(size=(10_000, 10)), rng.normal(size=(10_000, 10))
    result = classifier_two_sample_test(real, gen, seed=0)
    assert set(result) == {"auc", "jsd"}
    (auc, auc_err), (jsd, jsd_err) = result["auc"], result["jsd"]
    assert abs(auc - 0.5) < 0.05
    assert abs(auc - 0.5) < 4 * auc_err  # the bootstrap error is of the size of the scatter
    assert 0.003 < auc_err < 0.02
    assert abs(jsd) < 0.02 and 0 < jsd_err < 0.02


def test_separated_distributions_give_auc_near_one():
    rng = np.random.default_rng(5)
    real = rng.normal(size=(5_000, 10))
    gen = rng.normal(size=(5_000, 10))
    gen[:, 0] += 4.0  # optimal AUC = Φ(4/√2) ≈ 0.998
    result = classifier_two_sample_test(real, gen, seed=1)
    assert result["auc"][0] > 0.95
    assert result["jsd"][0] > 0.7


def test_small_shift_is_detected_at_the_optimal_auc():
    # N(0,1) vs N(0.5,1) in one of 5 features: the Bayes AUC is Φ(0.5/√2) = 0.638.
    rng = np.random.default_rng(6)
    real, gen = rng.normal(size=(8_000, 5)), rng.normal(size=(8_000, 5))
    gen[:, 2] += 0.5
    (auc, auc_err), (jsd, _) = classifier_two_sample_test(real, gen, seed=2).values()
    assert abs(auc - 0.638) < 0.02 + 3 * auc_err
    # True JSD in bits ≈ δ²/(8 ln 2) = 0.045; the classifier's is a lower bound.
    assert 0.01 < jsd < 0.06


def test_unequal_sizes_repeats_and_calibration_options():
    rng = np.random.default_rng(7)
    real, gen = rng.normal(size=(3_000, 3)), rng.normal(size=(1_200, 3)) + [2.0, 0, 0]
    repeated = classifier_two_sample_test(real, gen, n_repeats=3, seed=3)
    assert repeated["auc"][0] > 0.8 and repeated["auc"][1] > 0
    calibrated = classifier_two_sample_test(real, gen, calibrate=True, seed=3)
    assert calibrated["auc"][0] > 0.8 and calibrated["jsd"][0] > 0.2
    # Deterministic for a seed.
    assert classifier_two_sample_test(real, gen, seed=3) == classifier_two_sample_test(
        real, gen, seed=3
    )
    with pytest.raises(ValueError, match="same d"):
        classifier_two_sample_test(real, gen[:, :2])


def test_transfer_auc_reflects_what_the_training_sample_taught():
    from genhep.metrics.classifier import transfer_auc

    rng = np.random.default_rng(5)

    def sample(n, shift):
        x = np.concatenate([rng.normal(0, 1, (n, 4)), rng.normal(shift, 1, (n, 4))])
        return x, np.concatenate([np.zeros(n), np.ones(n)])

    test_x, test_y = sample(1500, 1.5)
    good_x, good_y = sample(1500, 1.5)
    auc_good, err = transfer_auc(good_x, good_y, test_x, test_y, epochs=20)
    # the Bayes-optimal AUC for two unit Gaussians 1.5 apart in each of 4 dims
    from scipy.stats import norm

    optimal = norm.cdf(1.5 * np.sqrt(4) / np.sqrt(2))
    assert auc_good == pytest.approx(optimal, abs=0.02) and 0 < err < 0.02
    flipped_auc, _ = transfer_auc(good_x, 1 - good_y, test_x, test_y, epochs=20)
    assert flipped_auc == pytest.approx(1 - optimal, abs=0.02)


def test_classifier_trains_inside_inference_mode():
    # the evaluation callback runs inside Lightning's test loop (torch.inference_mode)
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(0, 1, (300, 2)), rng.normal(3, 1, (300, 2))])
    y = np.repeat([0.0, 1.0], 300)
    with torch.inference_mode():
        predict = fit_classifier(x, y, epochs=5, seed=0)
        p = predict(x)
    assert roc_auc(y, p) > 0.95
