"""SARM: autoregressive masks, exact normalisation, sampling vs likelihood, training end to end."""

import itertools

import numpy as np
import pytest
import torch
from jet_image_files import write_lagan

from genhep.evaluate import restore_checkpoint
from genhep.models.base import IncompatibleDataError
from genhep.models.sarm import SparseAutoregressiveModel, weighted_quantiles
from genhep.train import train

from conftest import compose_train

TINY_NET = {"hidden": 16, "embed_dim": 4, "head_hidden": [16]}


def sarm(size, cond_dim=0, seed=0, noise=0.3, **kwargs):
    """A small SARM with randomised weights (so that every output depends on its inputs)."""
    torch.manual_seed(seed)
    spec = {"family": "jet_images", "event_shape": [1, size, size], "cond_dim": cond_dim}
    model = SparseAutoregressiveModel({**spec, "has_mask": False}, **{**TINY_NET, **kwargs})
    with torch.no_grad():
        for p in model.parameters():
            p.add_(noise * torch.randn_like(p))
    return model.eval()


def one_hot(n, seed=0):
    return torch.eye(2)[torch.randint(0, 2, (n,), generator=torch.Generator().manual_seed(seed))]


def sparse_images(n, size, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, size, size, generator=g)
    return torch.where(torch.rand(x.shape, generator=g) < 0.5, 0.0, x)


CASES = [("dc", 1), ("dc", 2), ("dd", 1), ("dd", 2)]


@pytest.mark.parametrize(("likelihood", "stages"), CASES)
def test_a_pixel_never_changes_the_distribution_of_earlier_pixels(likelihood, stages):
    size = 5
    model = sarm(
        size,
        2,
        likelihood=likelihood,
        stages=stages,
        order="spiral_in_cw",
        central_size=3,
        n_levels=4,
        radius=1,
    )
    x, cond = sparse_images(1, size), one_hot(1)
    order = model.net.order
    # copy k has the pixel generated at step k changed (zero <-> non-zero, another level)
    changed = x.repeat(size * size, 1, 1, 1).reshape(size * size, -1)
    steps = torch.arange(size * size)
    old = changed[steps, order]
    changed[steps, order] = torch.where(old > 0, 0.0, 0.9)
    images = torch.cat([x, changed.reshape(-1, 1, size, size)])  # row 0: unchanged
    with torch.no_grad():
        params = model.pixel_params(images, cond.expand(len(images), 2))[0]
    base, params = params[0], params[1:]
    for k in range(size * size):
        assert torch.equal(params[k, : k + 1], base[: k + 1]), f"step {k} leaked backwards"
        if k < size * size - 1:
            assert not torch.allclose(params[k, k + 1 :], base[k + 1 :]), f"step {k} unused"


@pytest.mark.parametrize(("stages", "order"), [(1, "random"), (2, "spiral_out_cw")])
def test_dd_probabilities_of_all_images_sum_to_one(stages, order):
    size, n_levels = 3, 2
    model = sarm(
        size, 2, likelihood="dd", stages=stages, order=order, central_size=1, n_levels=n_levels
    )
    values = [0.0, *model.likelihood.levels.tolist()]
    images = torch.tensor(list(itertools.product(values, repeat=size * size)))
    images = images.reshape(-1, 1, size, size)
    assert len(images) == 3**9
    for label in (0, 1):
        cond = torch.eye(2)[label].expand(len(images), 2)
        with torch.no_grad():
            log_p = model.log_prob(images, cond)
        assert torch.logsumexp(log_p.double(), 0).exp().item() == pytest.approx(1.0, abs=1e-4)


def _continuous_grid(model, n=200_001):
    """log-intensities u from far below the data to the truncation point, and y = e^u."""
    u = torch.linspace(-80.0, float(model.likelihood.log_max), n, dtype=torch.float64)
    return u, u.exp().float()


def test_dc_density_integrates_to_one_and_its_samples_have_its_entropy():
    model = sarm(1, likelihood="dc", n_mixture=4, noise=0.4)
    model.likelihood.fit(torch.exp(0.5 * torch.randn(1000) - 3.0))
    u, y = _continuous_grid(model)
    with torch.no_grad():
        log_zero = model.log_prob(torch.zeros(1, 1, 1, 1)).double()
        log_p = model.log_prob(y.reshape(-1, 1, 1, 1)).double()
    density_u = log_p.exp() * u.exp()  # p(y) dy = p(y) y du
    mass = log_zero.exp() + torch.trapezoid(density_u, u)
    assert mass.item() == pytest.approx(1.0, abs=1e-4)
    entropy = -(log_zero.exp() * log_zero) - torch.trapezoid(density_u * log_p, u)

    torch.manual_seed(1)
    samples = model.sample(20_000)
    assert samples.min() >= 0 and samples.max() <= float(model.likelihood.log_max.exp())
    nll = -model.log_prob(samples).double()
    error = nll.std() / len(nll) ** 0.5
    assert abs(nll.mean() - entropy).item() < 4 * error.item()
    zero_fraction = (samples == 0).double().mean()
    assert zero_fraction.item() == pytest.approx(log_zero.exp().item(), abs=4 * 0.5 / 141)
    above = torch.full((1, 1, 1, 1), float(model.likelihood.log_max.exp()) * 1.01)
    assert model.log_prob(above).item() == -np.inf


def test_dc_conditional_of_the_last_pixel_integrates_to_one():
    model = sarm(2, 2, likelihood="dc", stages=2, central_size=1, noise=0.5)
    model.likelihood.fit(torch.exp(0.5 * torch.randn(1000) - 3.0))
    u, y = _continuous_grid(model)
    last = int(model.net.order[-1])
    images = torch.tensor([0.0, 0.02, 0.0, 0.3]).repeat(len(y) + 1, 1)
    images[:, last] = torch.cat([torch.zeros(1), y])
    with torch.no_grad():
        log_p = model.pixel_log_probs(
            images.reshape(-1, 1, 2, 2), one_hot(1).expand(len(images), 2)
        )
    log_p = log_p[:, -1].double()
    mass = log_p[0].exp() + torch.trapezoid(log_p[1:].exp() * u.exp(), u)
    assert mass.item() == pytest.approx(1.0, abs=1e-4)


def test_dd_samples_have_the_exact_entropy_and_zero_fraction():
    size = 2
    model = sarm(size, likelihood="dd", n_levels=3, noise=1.0, order="column")
    values = [0.0, *model.likelihood.levels.tolist()]
    images = torch.tensor(list(itertools.product(values, repeat=size * size))).reshape(-1, 1, 2, 2)
    with torch.no_grad():
        log_p = model.log_prob(images).double()
    entropy = -(log_p.exp() * log_p).sum()
    p_zero = sum(log_p.exp()[(images.reshape(-1, 4)[:, i] == 0)].sum() for i in range(4)) / 4

    torch.manual_seed(2)
    samples = model.sample(20_000)
    nll = -model.log_prob(samples).double()
    assert abs(nll.mean() - entropy).item() < 4 * (nll.std() / len(nll) ** 0.5).item()
    zero_fraction = (samples == 0).double().mean()
    assert zero_fraction.item() == pytest.approx(p_zero.item(), abs=4 * 0.5 / 20_000**0.5)


@pytest.mark.parametrize(("likelihood", "stages"), CASES)
def test_zero_fraction_of_samples_matches_the_model_gamma(likelihood, stages):
    size, n = 5, 2000
    model = sarm(size, 2, likelihood=likelihood, stages=stages, central_size=3, noise=0.5)
    torch.manual_seed(3)
    cond = one_hot(n)
    samples = model.sample(n, cond)
    with torch.no_grad():
        params, _ = model.pixel_params(samples, cond)
        gamma = model.likelihood.zero_log_probs(params)[0].exp().double()
    zero_fraction = (samples == 0).double().mean()
    error = (gamma * (1 - gamma)).sum().sqrt() / gamma.numel()
    assert abs(zero_fraction - gamma.mean()).item() < 4 * error.item()


@pytest.mark.parametrize(
    ("likelihood", "stages", "num_layers"), [*[(*c, 1) for c in CASES], ("dc", 2, 2)]
)
def test_cached_sampling_equals_full_recomputation(likelihood, stages, num_layers):
    size = 6
    model = sarm(
        size,
        2,
        likelihood=likelihood,
        stages=stages,
        central_size=3,
        num_layers=num_layers,
        order="spiral_out_ccw",
        radius=2,
    )
    torch.manual_seed(4)
    cond = one_hot(64)
    x, sampled_params = model.sample_with_params(64, cond)
    assert x.shape == (64, 1, size, size) and x.min() >= 0 and (x == 0).any()
    with torch.no_grad():
        params, _ = model.pixel_params(x, cond)
    torch.testing.assert_close(sampled_params, params, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("likelihood", ["dc", "dd"])
def test_state_dict_carries_the_fitted_intensity_statistics(likelihood):
    model = sarm(4, likelihood=likelihood, n_levels=5)
    model.likelihood.fit(torch.rand(1000) + 0.1)
    fresh = sarm(4, likelihood=likelihood, n_levels=5, seed=9)
    assert not fresh.likelihood.fitted
    fresh.load_state_dict(model.state_dict())
    x = sparse_images(8, 4)
    assert fresh.likelihood.fitted
    assert torch.equal(fresh.log_prob(x), model.log_prob(x))


def test_contract_errors():
    with pytest.raises(ValueError, match=r"pass cond of shape \(n, 2\)"):
        sarm(3, 2).sample(2)
    with pytest.raises(ValueError, match="square one-channel"):
        SparseAutoregressiveModel({"family": "jet_images", "event_shape": [25, 25], "cond_dim": 0})
    with pytest.raises(IncompatibleDataError, match="it models jet_images data"):
        SparseAutoregressiveModel({"family": "gaussian_mixture", "event_shape": [2], "cond_dim": 0})
    with pytest.raises(ValueError, match="central_size"):
        sarm(5, stages=2, central_size=5)


@pytest.mark.parametrize(
    ("likelihood", "stages", "classes"), [("dc", 1, "both"), ("dd", 2, "signal")]
)
def test_trains_samples_and_restores_from_its_checkpoint(tmp_path, likelihood, stages, classes):
    path = tmp_path / "jets.h5"
    write_lagan(path, n_signal=90, n_background=90)
    cfg = compose_train(
        tmp_path,
        [
            "model=sarm",
            "data=jet_images",
            f"data.path={path}",
            f"data.classes={classes}",
            "data.n_events=null",
            "data.batch_size=32",
            "trainer.max_epochs=1",
            "callbacks.evaluation.n_samples=20",
            f"model.likelihood={likelihood}",
            f"model.stages={stages}",
            "model.n_levels=8",
            "model.hidden=16",
            "model.embed_dim=4",
            "model.head_hidden=[16]",
        ],
    )
    metrics = train(cfg)
    for name in ("train/loss", "val/loss", "test/loss", "val/zero_nll", "test/intensity_nll"):
        assert np.isfinite(metrics[name]), name

    restored = restore_checkpoint(tmp_path / "run")
    model, datamodule = restored.model, restored.datamodule
    assert bool(model.likelihood.fitted)
    datamodule.setup()
    if likelihood == "dd":  # 4 count and 4 pT-weighted mid-quantiles of the non-zero pixels
        train_x = datamodule.datasets["train"].tensors["x"]
        values = np.sort(train_x[train_x > 0].double().numpy())
        pt = datamodule.to_physical(torch.from_numpy(values))
        probs = (np.arange(4) + 0.5) / 4
        weighted = values[np.searchsorted(np.cumsum(pt) / pt.sum(), probs)]
        expected = np.sort(np.concatenate([np.quantile(values, probs), weighted]))
        np.testing.assert_allclose(model.likelihood.levels.numpy(), expected, rtol=1e-6)
    test = datamodule.datasets["test"].tensors
    with torch.no_grad():
        nll = -model.log_prob(test["x"], test.get("cond")).double().sum() / test["x"][0].numel()
    assert nll.item() / len(test["x"]) == pytest.approx(metrics["test/loss"], rel=1e-5)

    cond = test["cond"][:7] if classes == "both" else None
    x = model.sample(7, cond)
    assert x.shape == (7, 1, 25, 25) and x.min() >= 0
    assert (x == 0).any() and (x > 0).any()


def test_weighted_quantiles_closed_form():
    """Uniform values on (0, 1) weighted by themselves have CDF x², so quantile p is √p."""
    values = torch.rand(200_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    probs = torch.tensor([0.01, 0.25, 0.5, 0.9, 0.999], dtype=torch.float64)
    got = weighted_quantiles(values, values, probs)
    torch.testing.assert_close(got, probs.sqrt(), atol=3e-3, rtol=0)
    # unit weights: the ordinary quantiles
    torch.testing.assert_close(
        weighted_quantiles(values, torch.ones_like(values), probs), probs, atol=3e-3, rtol=0
    )
