"""Fréchet distance, FPD, unbiased MMD and KPD against closed forms and slow references."""

import warnings

import numpy as np
import pytest
from scipy import linalg
from scipy.stats import iqr

from genhep.metrics.frechet import (
    fpd,
    fpd_batch_sizes,
    frechet_distance,
    frechet_distance_samples,
    normalise_by_real_max,
)
from genhep.metrics.kernel import kernel_matrix, kpd, mmd_unbiased


def _random_spd(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def _closed_form(mu1, cov1, mu2, cov2):
    # The textbook formula with a general (non-symmetric) matrix square root.
    covmean = linalg.sqrtm(cov1 @ cov2)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(cov1 + cov2 - 2 * covmean.real))


# --- Fréchet distance -------------------------------------------------------------------------


@pytest.mark.parametrize("d", [1, 3, 8])
def test_frechet_matches_closed_form(d):
    rng = np.random.default_rng(d)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    cov1, cov2 = _random_spd(rng, d), _random_spd(rng, d)
    assert frechet_distance(mu1, cov1, mu2, cov2) == pytest.approx(
        _closed_form(mu1, cov1, mu2, cov2), rel=1e-9, abs=1e-12
    )


def test_frechet_diagonal_covariances_and_scalars():
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([0.5, 1.0, 0.0])
    s1, s2 = np.array([1.0, 2.0, 0.5]), np.array([3.0, 2.0, 0.1])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((s1 - s2) ** 2)
    value = frechet_distance(mu1, np.diag(s1**2), mu2, np.diag(s2**2))
    assert value == pytest.approx(expected, rel=1e-12)
    # 1-D with scalars: (0 - 1)^2 + (1 - 2)^2.
    assert frechet_distance(0.0, 1.0, 1.0, 4.0) == pytest.approx(2.0, rel=1e-12)


def test_frechet_is_symmetric_and_zero_on_itself():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    cov1, cov2 = _random_spd(rng, 5), _random_spd(rng, 5)
    assert frechet_distance(mu1, cov1, mu2, cov2) == pytest.approx(
        frechet_distance(mu2, cov2, mu1, cov1), rel=1e-10
    )
    assert frechet_distance(mu1, cov1, mu1, cov1) == pytest.approx(0.0, abs=1e-12)


def test_frechet_stable_for_singular_covariances():
    rng = np.random.default_rng(1)
    rot, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    # Rank-1 covariances along the same axis: FD = (sqrt(1) - sqrt(4))^2 = 1.
    cov1 = rot @ np.diag([1.0, 0.0, 0.0, 0.0]) @ rot.T
    cov2 = rot @ np.diag([4.0, 0.0, 0.0, 0.0]) @ rot.T
    value = frechet_distance(np.zeros(4), cov1, np.zeros(4), cov2)
    assert isinstance(value, float) and np.isfinite(value)
    assert value == pytest.approx(1.0, abs=1e-7)
    # Nearly collinear features (condition number ~1e15) in both fits.
    x = rng.normal(size=(500, 1)) @ np.ones((1, 6)) + 1e-8 * rng.normal(size=(500, 6))
    y = 1.1 * rng.normal(size=(500, 1)) @ np.ones((1, 6)) + 1e-8 * rng.normal(size=(500, 6))
    value = frechet_distance_samples(x, y)
    assert np.isfinite(value) and not isinstance(value, complex)
    sx, sy = np.std(x[:, 0], ddof=1), np.std(y[:, 0], ddof=1)
    mean_term = np.sum((x.mean(0) - y.mean(0)) ** 2)
    assert value == pytest.approx(mean_term + 6 * (sx - sy) ** 2, rel=1e-3)


def test_frechet_samples_uses_mean_and_unbiased_covariance():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(300, 3)), rng.gamma(2.0, size=(200, 3))
    expected = _closed_form(x.mean(0), np.cov(x.T), y.mean(0), np.cov(y.T))
    assert frechet_distance_samples(x, y) == pytest.approx(expected, rel=1e-9)


def test_frechet_rejects_bad_shapes():
    with pytest.raises(ValueError, match="covariance"):
        frechet_distance(np.zeros(3), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="different"):
        frechet_distance_samples(np.zeros((10, 2)), np.zeros((10, 3)))


# --- FPD -------------------------------------------------------------------------------------


def test_fpd_batch_sizes_are_even_in_inverse_n():
    sizes = fpd_batch_sizes(20_000, 50_000, 10)
    # Truncation, as jetnet: 1 / (1 / 50_000) lands just below 50_000 in floating point.
    assert sizes[0] == 20_000 and sizes[-1] in (49_999, 50_000) and len(sizes) == 10
    # int truncation moves 1/N by less than 1/N^2 relative to an exact grid.
    steps = np.diff(1.0 / sizes)
    assert np.allclose(steps, steps[0], rtol=1e-3)


def _fpd_floor(d, n):
    # E[FD] between Gaussian fits of two independent n-row samples of N(0, I_d):
    # E|Δμ|² = 2d/n, plus ¼ E|ΔΣ|_F² = d(d+1)/(2n) to leading order.
    return (2 * d + d * (d + 1) / 2) / n


FPD_KW = {"min_samples": 2_000, "max_samples": 10_000, "num_batches": 5, "num_points": 5}


def test_fpd_of_one_distribution_is_at_the_finite_sample_floor():
    d, n = 4, 50_000
    for seed in range(3):
        rng = np.random.default_rng(seed)
        real, gen = rng.normal(size=(n, d)), rng.normal(size=(n, d))
        value, error = fpd(real, gen, normalise=False, seed=seed, **FPD_KW)
        assert 0.0 <= value <= 3 * error + 3 * _fpd_floor(d, n)
        assert 0.0 < error < 0.01


def test_fpd_grows_with_shift_and_approaches_closed_form():
    d, n = 4, 50_000
    rng = np.random.default_rng(3)
    real, base = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    values = []
    for delta in [0.0, 0.1, 0.2, 0.4, 0.8]:
        value, error = fpd(real, base + delta, normalise=False, **FPD_KW)
        closed = d * delta**2  # same covariance: FD = |Δμ|²
        # Sample-mean fluctuation of |Δμ|² around dδ²: std 2δ sqrt(2d/n).
        tolerance = 3 * error + 3 * (_fpd_floor(d, n) + 2 * delta * np.sqrt(2 * d / n))
        assert abs(value - closed) <= tolerance, (delta, value, error, closed)
        values.append(value)
    assert np.all(np.diff(values) > 0)


def test_fpd_normalises_by_the_real_maximum():
    rng = np.random.default_rng(4)
    real = rng.normal(size=(20_000, 3)) * [1.0, 10.0, 100.0]
    gen = rng.normal(size=(20_000, 3)) * [1.0, 10.0, 100.0] + [0.3, 3.0, 30.0]
    value, error = fpd(real, gen, **FPD_KW)
    # Same as running the unnormalised algorithm on max|real|-scaled features.
    x, y = normalise_by_real_max(real, gen)
    assert (value, error) == pytest.approx(fpd(x, y, normalise=False, **FPD_KW), rel=1e-9)
    # Every feature is shifted by 0.3 of its scale, so after normalisation the three
    # contribute equally: FD = 3 (0.3 s_i / max_i)².
    scale = np.array([1.0, 10.0, 100.0]) / np.max(np.abs(real), axis=0)
    assert value == pytest.approx(np.sum((0.3 * scale) ** 2), rel=0.15)


def test_fpd_warns_when_batches_exceed_the_sample():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(1000, 2)), rng.normal(size=(1000, 2))
    with pytest.warns(RuntimeWarning, match="with replacement"):
        fpd(x, y, min_samples=500, max_samples=2000, num_batches=2, num_points=3)


# --- MMD and KPD -----------------------------------------------------------------------------


def _mmd_loop(x, y, k):
    n, m = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(n) for j in range(m)) / (n * m)
    return xx + yy - 2 * xy


@pytest.mark.parametrize("degree", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("chunk_size", [1, 3, 1024])
def test_mmd_poly_matches_double_loop(degree, chunk_size):
    rng = np.random.default_rng(degree)
    x, y = rng.normal(size=(7, 3)), rng.normal(0.5, 1.2, size=(9, 3))

    def k(a, b):
        return (a @ b / 3 + 1.0) ** degree

    expected = _mmd_loop(x, y, k)
    value = mmd_unbiased(x, y, degree=degree, chunk_size=chunk_size)
    assert value == pytest.approx(expected, rel=1e-10, abs=1e-12)


def test_mmd_rbf_matches_double_loop():
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(8, 2)), rng.normal(size=(5, 2))

    def k(a, b):
        return np.exp(-0.7 * np.sum((a - b) ** 2))

    assert mmd_unbiased(x, y, kernel="rbf", gamma=0.7, chunk_size=3) == pytest.approx(
        _mmd_loop(x, y, k), rel=1e-10
    )
    with pytest.raises(ValueError, match="unknown kernel"):
        mmd_unbiased(x, y, kernel="laplace")


def test_kernel_matrix_poly_formula():
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(4, 5)), rng.normal(size=(6, 5))
    assert np.allclose(kernel_matrix(x, y, degree=4), (x @ y.T / 5 + 1) ** 4, rtol=1e-12)
    assert np.allclose(kernel_matrix(x, y, degree=2.5, coef0=3.0), (x @ y.T / 5 + 3) ** 2.5)


def test_mmd_unbiased_has_zero_mean_on_one_distribution():
    rng = np.random.default_rng(9)
    values = np.array(
        [mmd_unbiased(rng.normal(size=(40, 3)), rng.normal(size=(40, 3))) for _ in range(300)]
    )
    assert (values < 0).any()  # unbiased: single estimates go below zero
    assert abs(values.mean()) < 3 * values.std(ddof=1) / np.sqrt(len(values))
    # A real shift is far above that scatter.
    shifted = [
        mmd_unbiased(rng.normal(size=(40, 3)), rng.normal(1.0, size=(40, 3))) for _ in range(50)
    ]
    assert np.mean(shifted) > 10 * values.std(ddof=1) / np.sqrt(len(values))


def test_kpd_batches_median_and_error_definition():
    rng = np.random.default_rng(10)
    real, gen = rng.normal(size=(3000, 3)), rng.normal(0.1, 1.0, size=(2000, 3)) + 2.0
    value, error = kpd(real, gen, num_batches=5, batch_size=500, seed=7)
    # Rebuild the batch values by hand: per-batch generators seed + 1000 i, real then generated.
    x, y = normalise_by_real_max(real, gen)
    batch_values = []
    for i in range(5):
        batch_rng = np.random.default_rng(7 + 1000 * i)
        ix, iy = batch_rng.choice(len(x), size=500), batch_rng.choice(len(y), size=500)
        batch_values.append(mmd_unbiased(x[ix], y[iy], degree=4))
    assert value == pytest.approx(np.median(batch_values), rel=1e-10)
    assert error == pytest.approx(iqr(batch_values, rng=(16.275, 83.725)) / 2, rel=1e-10)


def test_kpd_near_zero_on_one_distribution_and_grows_with_shift():
    rng = np.random.default_rng(11)
    real, base = rng.normal(size=(20_000, 4)), rng.normal(size=(20_000, 4))
    value, error = kpd(real, base, num_batches=10, batch_size=1000)
    assert abs(value) < 3 * error + 1e-5
    values = [kpd(real, base + s, num_batches=10, batch_size=1000)[0] for s in (0.1, 0.3, 1.0)]
    assert value < values[0] < values[1] < values[2]


# --- agreement with jetnet (optional extra) -------------------------------------------------


def test_fpd_kpd_agree_with_jetnet():
    # jetnet may be installed without its dependencies (FPND's files): its evaluation module
    # then fails to import (energyflow), and the comparison belongs to `make test-jetnet`
    pytest.importorskip(
        "jetnet.evaluation", reason="jetnet.evaluation needs energyflow (make test-jetnet)"
    )
    import jetnet
    from jetnet.evaluation import fpd as jetnet_fpd
    from jetnet.evaluation import kpd as jetnet_kpd

    rng = np.random.default_rng(12)
    real = rng.lognormal(0.0, 1.0, size=(20_000, 6))
    gen = rng.lognormal(0.05, 1.05, size=(20_000, 6))
    fpd_kw = {"min_samples": 5_000, "max_samples": 20_000, "num_batches": 5, "num_points": 5}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ours_f, theirs_f = fpd(real, gen, **fpd_kw), jetnet_fpd(real, gen, **fpd_kw)
        ours_k = kpd(real, gen, num_batches=5, batch_size=2000)
        theirs_k = jetnet_kpd(real, gen, num_batches=5, batch_size=2000)
    for ours, theirs in [(ours_f, theirs_f), (ours_k, theirs_k)]:
        assert abs(ours[0] - theirs[0]) <= 2 * np.hypot(ours[1], theirs[1])
        if jetnet.__version__ == "0.2.5":  # same algorithm and random stream: equal numbers
            assert ours == pytest.approx(tuple(map(float, theirs)), rel=1e-6)
