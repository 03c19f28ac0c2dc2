import functools

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from scipy.stats import multivariate_normal

from genhep.data.gaussian_mixture import GaussianMixtureDataModule
from genhep.metrics.wasserstein import wasserstein_1d
from genhep.models.base import IncompatibleDataError
from genhep.models.mdn import MixtureDensityNetwork
from genhep.spec import DataSpec

SPEC = {"family": "gaussian_mixture", "event_shape": [2], "cond_dim": 1, "has_mask": False}


def test_single_component_log_prob_matches_scipy():
    torch.manual_seed(0)
    mdn = MixtureDensityNetwork({**SPEC, "cond_dim": 0}, n_components=1)
    dist = mdn.mixture(None, 1).component_distribution
    mean = dist.loc[0, 0].detach().numpy()
    cov = dist.covariance_matrix[0, 0].detach().numpy()
    x = torch.randn(100, 2) * 2
    expected = multivariate_normal(mean, cov).logpdf(x.numpy())
    np.testing.assert_allclose(mdn.log_prob(x).detach().numpy(), expected, rtol=1e-5)


def test_density_is_normalised_for_every_condition():
    torch.manual_seed(1)
    mdn = MixtureDensityNetwork(SPEC, n_components=4)
    grid = torch.linspace(-12, 12, 401)
    points = torch.cartesian_prod(grid, grid)
    for c in (-1.0, 0.3):
        with torch.no_grad():
            density = mdn.log_prob(points, torch.full((len(points), 1), c)).exp()
        assert float(density.sum() * (grid[1] - grid[0]) ** 2) == pytest.approx(1.0, abs=2e-3)


def test_samples_have_the_mixture_mean():
    torch.manual_seed(2)
    mdn = MixtureDensityNetwork(SPEC, n_components=3)
    cond = torch.full((100_000, 1), 0.5)
    samples = mdn.sample(100_000, cond)
    assert samples.shape == (100_000, 2)
    assert torch.allclose(samples.mean(0), mdn.mixture(cond[:1], 1).mean[0], atol=0.03)


def test_conditional_mdn_needs_cond_and_takes_any_flat_vector():
    mdn = MixtureDensityNetwork(SPEC)
    with pytest.raises(ValueError, match=r"pass cond of shape \(n, 1\)"):
        mdn.sample(3)
    assert MixtureDensityNetwork.accepts(DataSpec("calorimeter", (368,), cond_dim=1))
    with pytest.raises(IncompatibleDataError, match=r"needs flat events \(D,\)"):
        MixtureDensityNetwork({**SPEC, "family": "jet_images", "event_shape": [1, 25, 25]})
    with pytest.raises(IncompatibleDataError, match="without a mask"):
        MixtureDensityNetwork({**SPEC, "family": "jetnet", "event_shape": [3], "has_mask": True})


def test_trained_mdn_matches_the_true_density():
    """Mean test log-likelihood within 0.05 nats of the truth's; W1 far below an untrained model's."""
    pl.seed_everything(0)
    dm = GaussianMixtureDataModule(n_events=12000, batch_size=256)
    dm.setup()
    mdn = MixtureDensityNetwork(
        dm.spec.to_dict(), n_components=5, optimizer=functools.partial(torch.optim.Adam, lr=3e-3)
    )
    test = dm.physical["test"]
    cond = dm.to_model_space(test)["cond"]
    many_cond = dm.truth.sample_cond(20000, np.random.default_rng(8))  # W1 noise ~0.02 at this size

    def scores():
        with torch.no_grad():
            z = dm.datasets["test"].tensors["x"]
            # physical-space log-likelihood: model space minus log|d(phys)/d(model)| = sum log std
            log_lik = mdn.log_prob(z, cond).double() - torch.log(dm.transform.std).sum()
            x = dm.to_physical(
                mdn.sample(len(many_cond), dm.cond_transform(torch.as_tensor(many_cond)))
            )
        fresh = dm.truth.sample(len(many_cond), np.random.default_rng(9), cond=many_cond)["x"]
        w1 = np.mean([wasserstein_1d(x[:, i], fresh[:, i]) for i in range(2)])
        return float(log_lik.mean()), w1

    untrained_ll, untrained_w1 = scores()
    trainer = pl.Trainer(
        max_epochs=25,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        deterministic=True,
    )
    trainer.fit(mdn, datamodule=dm)
    trained_ll, trained_w1 = scores()
    true_ll = float(dm.truth.log_prob(test["x"], test["cond"]).mean())
    assert trained_ll == pytest.approx(true_ll, abs=0.05)
    assert untrained_ll < true_ll - 1.0
    assert trained_w1 < 0.12 < untrained_w1
