"""model=fastcalogan: the conditional WGAN-GP of AtlFast3 on calorimeter showers and flat vectors."""

import numpy as np
import pytest
import torch

from genhep.data.calorimeter.datamodule import CalorimeterDataModule
from genhep.models.base import IncompatibleDataError
from genhep.models.fastcalogan import FastCaloGAN
from genhep.spec import DataSpec
from genhep.train import build

from conftest import bare_trainer, compose_train


def test_gradient_penalty_of_a_linear_critic_is_the_closed_form():
    """For a critic f(x, c) = w·x + v·c + b the gradient in x is w everywhere: the penalty is
    λ(‖w‖ − 1)², whatever the interpolates."""
    torch.manual_seed(0)
    spec = {"family": "toy", "event_shape": [6], "cond_dim": 1}
    model = FastCaloGAN(spec, critic_hidden=[], gradient_penalty=10.0, latent_dim=4)
    linear = model.discriminator.net[0]
    assert isinstance(linear, torch.nn.Linear) and linear.in_features == 7
    batch = {"x": torch.randn(32, 6), "cond": torch.rand(32, 1)}
    (losses,) = list(model.discriminator_losses(batch))
    w = linear.weight.detach()[0, :6]  # the x part; the condition's weight is not penalised
    expected = (w.norm() - 1.0) ** 2
    assert float(losses["gradient_penalty"]) == pytest.approx(float(expected), rel=1e-5)
    distance = float(losses["d_loss"])
    assert float(losses["loss"].detach()) == pytest.approx(
        distance + 10.0 * float(expected), rel=1e-5
    )


def test_accepts_flat_vectors_and_refuses_the_rest():
    assert FastCaloGAN.accepts(DataSpec("calorimeter", (368,), cond_dim=1))
    assert FastCaloGAN.accepts(DataSpec("gaussian_mixture", (2,), cond_dim=0))
    with pytest.raises(IncompatibleDataError, match=r"needs flat events \(D,\)"):
        FastCaloGAN({"family": "jet_images", "event_shape": [1, 25, 25], "cond_dim": 2})
    model = FastCaloGAN({"family": "toy", "event_shape": [3], "cond_dim": 1})
    assert [m.out_features for m in model.discriminator.net if hasattr(m, "out_features")] == [
        3,
        3,
        3,
        1,
    ]  # critic D-D-D by default
    assert model.critic_steps == 5 and model.penalty_weight == 10.0
    with pytest.raises(ValueError, match="pass cond"):
        model.sample(2)


def _toy_showers(path, n=256, seed=0):
    """Shower-like events on the 266-cell ATLAS photon grid, below E_inc by construction."""
    import h5py

    from genhep.geometry.calorimeter import get_geometry

    geometry = get_geometry("atlas_photons_266")
    rng = np.random.default_rng(seed)
    e_inc = 2.0 ** rng.integers(10, 16, (n, 1))
    weights = rng.random((n, geometry.n_voxels)) * (rng.random((n, geometry.n_voxels)) < 0.5)
    showers = weights / weights.sum(axis=1, keepdims=True) * 0.5 * e_inc
    with h5py.File(path, "w") as handle:
        handle["incident_energies"] = e_inc.astype(np.float32)
        handle["showers"] = showers.astype(np.float32)
    return path


def test_trains_a_few_steps_on_tiny_showers_and_samples_them(tmp_path):
    torch.manual_seed(1)
    path = _toy_showers(tmp_path / "showers.h5")
    dm = CalorimeterDataModule(geometry="atlas_photons_266", path=str(path), batch_size=32)
    dm.setup()
    model = FastCaloGAN(dm.spec.to_dict(), generator_hidden=[16, 32], critic_hidden=[32])
    model.optimizer_factory = lambda params: torch.optim.Adam(params, lr=1e-4, betas=(0.5, 0.999))
    before = [p.detach().clone() for p in model.generator.parameters()]
    trainer = bare_trainer(max_epochs=1, limit_train_batches=5, limit_val_batches=1)
    trainer.fit(model, datamodule=dm)
    assert trainer.global_step == 1  # 5 critic steps, 1 generator step
    assert any(
        not torch.equal(a, b) for a, b in zip(before, model.generator.parameters(), strict=True)
    )
    cond_phys = dm.physical["test"]["cond"][:20]
    cond = dm.to_model_space(dm.physical["test"])["cond"][:20]
    x = model.sample(20, cond)
    assert x.shape == (20, 266) and torch.isfinite(x).all()
    showers = dm.to_physical(x, cond_phys)
    assert showers.shape == (20, 266) and (showers >= 0).all()
    # voxel_fraction_logit: each voxel <= E_inc (the total is not bounded by the transform)
    assert (showers <= cond_phys + 1e-6).all()


def test_config_composes_with_the_toy(tmp_path):
    cfg = compose_train(tmp_path, ["model=fastcalogan", "data=gaussian_mixture"])
    datamodule, model = build(cfg)
    assert isinstance(model, FastCaloGAN) and model.generator.net[0].in_features == 50 + (
        datamodule.spec.cond_dim
    )
    assert model.hparams.generator_hidden == [50, 100, 200]
