"""Noise processes, samplers and the probability-flow likelihood against closed forms.

The data are a 2-D Gaussian mixture, whose exact denoiser ``E[x₀ | x_t]`` is known for every
Gaussian path: with it the samplers must reproduce the mixture, agree with each other as their
steps grow, and the probability-flow log-likelihood must equal the mixture's log-density.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal, wasserstein_distance

from genhep.diffusion.likelihood import ode_log_prob
from genhep.diffusion.paths import EDM, Estimate, FlowMatching, VariancePreserving
from genhep.diffusion.samplers import SAMPLERS

MEANS = torch.tensor([[-2.0, 0.0], [2.0, 1.0]], dtype=torch.float64)
STDS = torch.tensor([0.5, 0.8], dtype=torch.float64)
WEIGHTS = torch.tensor([0.3, 0.7], dtype=torch.float64)


def mixture_sample(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    k = torch.multinomial(WEIGHTS, n, replacement=True, generator=g)
    return MEANS[k] + STDS[k, None] * torch.randn(n, 2, generator=g, dtype=torch.float64)


def mixture_log_prob(x: torch.Tensor) -> np.ndarray:
    dens = sum(
        w * multivariate_normal(m.numpy(), s**2 * np.eye(2)).pdf(x.numpy())
        for w, m, s in zip(WEIGHTS.numpy(), MEANS, STDS.numpy(), strict=True)
    )
    return np.log(dens)


def exact_denoiser(path):
    """``E[x₀ | x_t]`` and ``E[ε | x_t]`` of the mixture under ``path``."""

    def denoise(x: torch.Tensor, t: torch.Tensor) -> Estimate:
        alpha, s = (v[:, None] for v in path.scales(t)[:2])
        var = alpha[..., None] ** 2 * STDS**2 + s[..., None] ** 2  # (B, 1, K)
        diff = x[:, None, :] - alpha[..., None] * MEANS  # (B, K, 2)
        var = var.transpose(1, 2)  # (B, K, 1)
        log_r = WEIGHTS.log() - (diff**2).sum(-1) / (2 * var[..., 0]) - torch.log(var[..., 0])
        r = torch.softmax(log_r, dim=1)[..., None]
        x0_k = MEANS + alpha[..., None] * STDS[:, None] ** 2 / var * diff
        x0 = (r * x0_k).sum(1)
        return Estimate(x0, (x - alpha * x0) / s)

    return denoise


PATHS = {
    "vp": lambda: VariancePreserving(prediction="eps"),
    "edm": lambda: EDM(),
    "fm": lambda: FlowMatching(),
}


def run(sampler: str, path, steps: int, n: int = 4000, seed: int = 0, **options) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = path.prior_std() * torch.randn(n, 2, generator=g, dtype=torch.float64)
    times = path.time_grid(steps).double()
    return SAMPLERS[sampler](exact_denoiser(path), path, x, times, generator=g, **options)


def sliced_w1(a: torch.Tensor, b: torch.Tensor) -> float:
    return max(wasserstein_distance(a[:, i], b[:, i]) for i in range(a.shape[1]))


@pytest.mark.parametrize(
    ("process", "sampler", "steps"),
    [
        ("vp", "euler", 100),
        ("vp", "ddim", 100),
        ("vp", "euler_maruyama", 400),
        ("vp", "heun", 50),
        ("edm", "heun", 40),
        ("edm", "euler", 100),
        ("fm", "midpoint", 50),
        ("fm", "euler", 100),
        ("fm", "ode", 20),
    ],
)
def test_samplers_with_the_exact_denoiser_reproduce_the_mixture(process, sampler, steps):
    path = PATHS[process]()
    generated = run(sampler, path, steps)
    truth, fresh = mixture_sample(4000, 1), mixture_sample(4000, 2)
    baseline = sliced_w1(truth, fresh)
    assert sliced_w1(generated, truth) < 2.5 * baseline + 0.02
    # and the mixture's weights: the fraction in the left mode
    assert float((generated[:, 0] < 0).double().mean()) == pytest.approx(0.3, abs=0.03)


def test_a_wrong_denoiser_is_detected():
    """The check above can fail: shifting x̂₀ by 0.3 moves the samples."""
    path = VariancePreserving()
    exact = exact_denoiser(path)

    def shifted(x, t):
        est = exact(x, t)
        return Estimate(est.x0 + 0.3, est.eps)

    g = torch.Generator().manual_seed(0)
    x = torch.randn(4000, 2, generator=g, dtype=torch.float64)
    generated = SAMPLERS["euler"](shifted, path, x, path.time_grid(100).double())
    truth, fresh = mixture_sample(4000, 1), mixture_sample(4000, 2)
    assert sliced_w1(generated, truth) > 3 * sliced_w1(truth, fresh) + 0.02


@pytest.mark.parametrize("process", ["vp", "fm", "edm"])
def test_ode_samplers_agree_as_steps_grow(process):
    """Same noise, same denoiser: Euler, Heun and midpoint converge to one ODE solution."""
    path = PATHS[process]()
    first, second = [], []  # mean |Euler - Heun| (first order), |Heun - midpoint| (second)
    for steps in (8, 32, 128):
        a, b, c = (run(name, path, steps, n=500) for name in ("euler", "heun", "midpoint"))
        first.append(float((a - b).abs().mean()))
        second.append(float((b - c).abs().mean()))
    # 4x the steps: the first-order gap shrinks ~4x, the second-order one ~16x
    assert first[1] < first[0] / 3 and first[2] < first[1] / 3
    assert second[1] < second[0] / 8 and second[2] < second[1] / 8


@pytest.mark.parametrize("process", ["vp", "fm"])
def test_probability_flow_log_likelihood_equals_the_mixture_density(process):
    # VP ends at signal rate 1e-3 here: PC-JeDi's 0.02 leaves ~0.02 x0 in x_T, which the
    # N(0, 1) prior ignores (errors up to ~0.1 nat for x0 ~ 2; ode_log_prob's docstring)
    path = VariancePreserving(min_signal=1e-3) if process == "vp" else PATHS[process]()
    x = mixture_sample(200, 5)
    ours = ode_log_prob(exact_denoiser(path), path, x, estimator="exact", rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(ours.numpy(), mixture_log_prob(x), atol=0.02)


def test_hutchinson_estimate_is_unbiased_around_the_exact_divergence():
    path = PATHS["fm"]()
    x = mixture_sample(20, 6).repeat(200, 1)
    estimate = ode_log_prob(
        exact_denoiser(path),
        path,
        x,
        estimator="hutchinson",
        method="rk4",
        steps=40,
        generator=torch.Generator().manual_seed(0),
    )
    draws = estimate.reshape(200, 20).numpy()
    error = draws.std(0, ddof=1) / np.sqrt(200)
    deviation = np.abs(draws.mean(0) - mixture_log_prob(x[:20]))
    assert np.all(deviation < 4 * error + 0.01), (deviation / error).round(1)
    assert np.all(draws.std(0) > 0)  # an estimate, not the exact trace


def test_vp_cosine_schedule_matches_its_definition():
    path = VariancePreserving(max_signal=1.0, min_signal=0.02)
    t = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    alpha, s, d_alpha, d_s = path.scales(t)
    np.testing.assert_allclose(alpha.numpy(), np.cos(t.numpy() * math.acos(0.02)))
    np.testing.assert_allclose((alpha**2 + s**2).numpy(), 1.0)
    eps = 1e-6
    numeric = (path.scales(t + eps)[0] - path.scales(t - eps)[0]) / (2 * eps)
    np.testing.assert_allclose(d_alpha.numpy(), numeric.numpy(), rtol=1e-6)
    assert float(path.scales(torch.tensor(1.0))[0]) == pytest.approx(0.02, rel=1e-5)


@pytest.mark.parametrize("prediction", ["eps", "x0", "velocity"])
def test_each_prediction_recovers_x0_and_eps_from_its_exact_target(prediction):
    path = VariancePreserving(prediction=prediction)
    g = torch.Generator().manual_seed(3)
    x0, eps = torch.randn(64, 5, generator=g), torch.randn(64, 5, generator=g)
    t = torch.rand(64, generator=g) * 0.98 + 0.01
    est = path.from_output(path.target(x0, eps, t), path.noisy(x0, t, eps), t)
    torch.testing.assert_close(est.x0, x0, atol=2e-4, rtol=1e-4)
    torch.testing.assert_close(est.eps, eps, atol=2e-4, rtol=1e-4)


def test_edm_target_makes_the_denoiser_exact_and_its_grid_is_karras():
    path = EDM()
    g = torch.Generator().manual_seed(4)
    x0, eps = torch.randn(32, 3, generator=g), torch.randn(32, 3, generator=g)
    sigma = torch.rand(32, generator=g) * 5 + 0.01
    est = path.from_output(path.target(x0, eps, sigma), path.noisy(x0, sigma, eps), sigma)
    torch.testing.assert_close(est.x0, x0, atol=1e-4, rtol=1e-4)
    grid = path.time_grid(18)
    assert float(grid[0]) == pytest.approx(80.0) and float(grid[-2]) == pytest.approx(0.002)
    assert float(grid[-1]) == 0.0 and bool((grid[1:] < grid[:-1]).all())


def test_flow_matching_ot_coupling_pairs_with_less_transport():
    path = FlowMatching(coupling="ot")
    g = torch.Generator().manual_seed(5)
    x0, eps = torch.randn(128, 2, generator=g) + 3.0, torch.randn(128, 2, generator=g)
    paired = path.couple(x0, eps, None)
    assert sorted(paired[:, 0].tolist()) == sorted(eps[:, 0].tolist())  # a permutation
    assert (x0 - paired).pow(2).sum() < (x0 - eps).pow(2).sum()


def test_euler_maruyama_refuses_flow_matching():
    with pytest.raises(ValueError, match="ODE sampler"):
        run("euler_maruyama", FlowMatching(), 10, n=10)
