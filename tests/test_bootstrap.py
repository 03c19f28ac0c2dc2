"""The one bootstrap helper (genhep/metrics/bootstrap.py) and the metrics that use it."""

import numpy as np
import pytest
from scipy import stats

from genhep.metrics.bootstrap import (
    bootstrap,
    bootstrap_replicates,
    bootstrap_std,
    resample_indices,
)
from genhep.metrics.separation import separation_power
from genhep.metrics.wasserstein import wasserstein_1d, wasserstein_1d_with_error


def test_error_of_the_mean_is_sigma_over_sqrt_n():
    sigma, n = 2.0, 400
    x = np.random.default_rng(0).normal(1.0, sigma, n)
    value, error = bootstrap(np.mean, x, n_bootstrap=2000, seed=1)
    assert value == np.mean(x)
    assert error == pytest.approx(sigma / np.sqrt(n), rel=0.1)
    # the plug-in estimate on the same data: s * sqrt((n - 1) / n) / sqrt(n), within the
    # Monte Carlo error of 2000 resamples (1 / sqrt(2 * 2000) ≈ 1.6 %)
    plug_in = np.std(x) / np.sqrt(n)
    assert error == pytest.approx(plug_in, rel=0.05)
    theirs = stats.bootstrap((x,), np.mean, n_resamples=2000, rng=2).standard_error
    assert error == pytest.approx(theirs, rel=0.05)


def test_two_samples_are_resampled_independently_errors_add_in_quadrature():
    rng = np.random.default_rng(3)
    u, v = rng.normal(0, 1, 500), rng.normal(0, 3, 2000)

    def difference(a, b):
        return np.mean(a) - np.mean(b)

    _, error = bootstrap(difference, u, v, n_bootstrap=2000, seed=4)
    expected = np.hypot(1 / np.sqrt(500), 3 / np.sqrt(2000))
    assert error == pytest.approx(expected, rel=0.1)


def test_paired_samples_share_rows():
    x = np.arange(50.0)
    for a, b in resample_indices([50, 50], 5, seed=0, paired=True):
        assert np.array_equal(a, b)
    # the difference of a sample with itself never varies when rows are shared
    assert bootstrap_std(lambda a, b: np.mean(a - b), x, x, n_bootstrap=20, paired=True) == 0.0
    assert bootstrap_std(lambda a, b: np.mean(a - b), x, x, n_bootstrap=20) > 0.0
    with pytest.raises(ValueError, match="one length"):
        next(resample_indices([3, 4], 1, paired=True))


def test_draws_are_those_of_rng_choice_in_argument_order():
    """Code that resampled with ``rng.choice(n, n)`` per sample gets the same resamples."""
    u, v = np.arange(7.0), np.arange(11.0) * 10
    rng = np.random.default_rng(5)
    expected = []
    for _ in range(4):
        expected.append((u[rng.choice(7, 7)].sum(), v[rng.choice(11, 11)].sum()))
    got = bootstrap_replicates(lambda a, b: (a.sum(), b.sum()), u, v, n_resamples=4, seed=5)
    np.testing.assert_array_equal(got, expected)
    # fixed-size batches (MPGAN's W1 protocol)
    sized = next(resample_indices([7], 1, seed=5, size=3))[0]
    np.testing.assert_array_equal(sized, np.random.default_rng(5).choice(7, 3))


def test_dropped_resamples_and_too_few_resamples():
    x = np.array([0.0, 1.0])
    kept = bootstrap_replicates(
        lambda a: None if a.min() == a.max() else a.mean(), x, n_resamples=50, seed=0
    )
    assert 0 < len(kept) < 50 and set(kept) == {0.5}
    assert np.isnan(bootstrap_std(np.mean, x, n_bootstrap=1))
    value, error = bootstrap(lambda a: (a.mean(), a.std()), x, n_bootstrap=0)
    assert value == (0.5, 0.5) and error.shape == (2,) and np.all(np.isnan(error))
    _, error = bootstrap(lambda a: None, x, n_bootstrap=5)  # nothing kept
    assert np.isnan(error)


def test_w1_and_separation_errors_are_unchanged_by_the_shared_helper():
    """The loops the helper replaced (rng.choice / rng.integers per sample, u then v) give
    the same errors from the same seeds."""
    rng = np.random.default_rng(6)
    u, v = rng.gamma(2.0, size=300), rng.normal(1.0, 1.5, 400)
    draw = np.random.default_rng(9)
    old = [wasserstein_1d(draw.choice(u, u.size), draw.choice(v, v.size)) for _ in range(15)]
    _, error = wasserstein_1d_with_error(u, v, n_bootstrap=15, seed=9)
    assert error == pytest.approx(np.std(old, ddof=1), rel=1e-12)

    edges = np.linspace(-2, 8, 21)
    draw = np.random.default_rng(9)
    old = []
    for _ in range(15):
        a, b = u[draw.integers(0, u.size, u.size)], v[draw.integers(0, v.size, v.size)]
        old.append(separation_power(a, b, edges, n_bootstrap=0)[0])
    _, error = separation_power(u, v, edges, n_bootstrap=15, seed=9)
    assert error == pytest.approx(np.std(old, ddof=1), rel=1e-12)
