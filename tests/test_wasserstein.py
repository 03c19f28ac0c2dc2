import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from genhep.metrics.wasserstein import wasserstein_1d, wasserstein_1d_with_error


@pytest.mark.parametrize(("n_u", "n_v"), [(1000, 1000), (700, 1300), (1, 5)])
def test_agrees_with_scipy(n_u, n_v):
    rng = np.random.default_rng(0)
    u, v = rng.gamma(2.0, size=n_u), rng.normal(1.0, 2.0, size=n_v)
    assert wasserstein_1d(u, v) == pytest.approx(wasserstein_distance(u, v), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("mu", [0.3, 1.0, -2.5])
def test_shifted_gaussians_give_the_shift(mu):
    # W1(N(0,1), N(mu,1)) = |mu| exactly; the sample estimate converges to it.
    rng = np.random.default_rng(1)
    u, v = rng.normal(0, 1, 200_000), rng.normal(mu, 1, 200_000)
    value, error = wasserstein_1d_with_error(u, v, n_bootstrap=10)
    assert value == pytest.approx(abs(mu), abs=0.02)
    assert 0 < error < 0.02


def test_identical_samples_and_bootstrap_error_scale():
    rng = np.random.default_rng(2)
    u = rng.normal(size=1000)
    assert wasserstein_1d(u, u) == 0.0
    _, error_small = wasserstein_1d_with_error(u, rng.normal(size=1000), n_bootstrap=30)
    _, error_large = wasserstein_1d_with_error(
        rng.normal(size=100_000), rng.normal(size=100_000), n_bootstrap=30
    )
    assert error_large < error_small


def test_empty_sample_is_an_error():
    with pytest.raises(ValueError, match="non-empty"):
        wasserstein_1d([], [1.0])
