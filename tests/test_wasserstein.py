import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from genhep.metrics.jet_clouds import w1_batched
from genhep.metrics.wasserstein import wasserstein_1d, wasserstein_1d_with_error


@pytest.mark.parametrize("seed", range(5))
def test_agrees_with_scipy_and_the_cdf_integral(seed):
    rng = np.random.default_rng(seed)
    n_u, n_v = rng.integers(1, 2000, size=2)
    u, v = rng.gamma(2.0, size=n_u), rng.normal(1.0, 2.0, size=n_v)
    # ties and a second (2-D) layout of the same values
    u[: n_u // 3] = np.round(u[: n_u // 3], 1)
    assert wasserstein_1d(u, v) == wasserstein_distance(u, v)
    assert wasserstein_1d(u.reshape(-1, 1), v) == wasserstein_distance(u, v)
    # independent of scipy: ∫ |F_u − F_v| over the merged support
    support = np.sort(np.concatenate([u, v]))
    cdf_u = np.searchsorted(np.sort(u), support[:-1], side="right") / n_u
    cdf_v = np.searchsorted(np.sort(v), support[:-1], side="right") / n_v
    integral = np.sum(np.abs(cdf_u - cdf_v) * np.diff(support))
    assert wasserstein_1d(u, v) == pytest.approx(integral, rel=1e-10, abs=1e-12)


def test_batched_jetnet_protocol_uses_the_same_w1():
    """MPGAN's batched W1 (w1_batched) is scipy's W1 on rng.choice batches of each sample."""
    rng = np.random.default_rng(3)
    u, v = rng.normal(size=(900, 2)), rng.normal(0.2, 1.0, size=(700, 2))
    mean, std = w1_batched(u, v, batch_size=400, num_batches=4, seed=11)
    draw, w1s = np.random.default_rng(11), []
    for _ in range(4):
        a, b = u[draw.choice(900, size=400)], v[draw.choice(700, size=400)]
        w1s.append([wasserstein_distance(a[:, i], b[:, i]) for i in range(2)])
    np.testing.assert_allclose(mean, np.mean(w1s, axis=0), rtol=1e-12)
    np.testing.assert_allclose(std, np.std(w1s, axis=0), rtol=1e-12)


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
