"""The model and data contracts: accepts(spec), generated masks, likelihood kinds, bits per
dimension, abstract methods, DataSpec layouts, the gradient penalty and the adversarial step
count."""

import json
import math
from collections.abc import Iterator, Mapping

import numpy as np
import pytest
import torch
from jetnet_files import N_PART, make_jets, write_file
from torch import Tensor, nn

from genhep.checks import check_model_data
from genhep.data.jets.jetnet import JetNetDataModule
from genhep.evaluation.jetnet import JetNetEvaluator
from genhep.models.adversarial import AdversarialModel
from genhep.models.base import Generated, GenerativeModel, IncompatibleDataError
from genhep.nn import gradient_penalty
from genhep.sampling import sample_like
from genhep.spec import DataSpec, cloud_problem, flat_vector_problem
from genhep.train import build, train

from conftest import bare_trainer, compose_train

# ---------------------------------------------------------------- accepts(spec)


@pytest.mark.parametrize("data", ["gaussian_mixture", "calorimeter"])
def test_a_flat_vector_model_composes_with_every_flat_family(tmp_path, data):
    datamodule, model = build(compose_train(tmp_path, ["model=mdn", f"data={data}"]))
    assert model.data_spec == datamodule.spec
    assert model.dim == datamodule.spec.event_shape[0]


def test_an_image_model_is_refused_at_compose_time_with_the_reason(tmp_path):
    cfg = compose_train(tmp_path, ["model=sarm", "data=gaussian_mixture"])
    with pytest.raises(IncompatibleDataError) as err:
        check_model_data(cfg)
    message = str(err.value)
    assert "SparseAutoregressiveModel cannot model data 'gaussian_mixture'" in message
    assert "event_shape (2,)" in message and "it models jet_images data" in message
    assert "model=" in message  # what to do about it


def test_spec_helpers_say_why():
    flat = DataSpec("toy", (4,))
    cloud = DataSpec("jetnet", (30, 3), has_mask=True)
    assert flat_vector_problem(flat) is None and cloud_problem(cloud) is None
    assert "flat events" in flat_vector_problem(cloud)
    assert "particle clouds" in cloud_problem(flat)


# ---------------------------------------------------------------- DataSpec.layout


def test_layout_round_trips_and_is_checked():
    spec = DataSpec(
        "calorimeter", (10,), cond_dim=1, layout={"layers": {"0": (0, 4), "1": (4, 10)}}
    )
    assert DataSpec.from_dict(spec.to_dict()) == spec
    assert spec.columns("layers") == {"0": slice(0, 4), "1": slice(4, 10)}
    with pytest.raises(KeyError, match="its groups: \\['layers'\\]"):
        spec.columns("features")
    with pytest.raises(ValueError, match=r"\[8, 12\) lies outside the 10 columns"):
        DataSpec("calorimeter", (10,), layout={"layers": {"0": (8, 12)}})


@pytest.mark.parametrize("transform", ["voxel_fraction_logit", "layer_fractions"])
def test_calorimeter_layout_names_every_layer_and_the_u_variables(tmp_path, transform):
    from genhep.data.calorimeter.datamodule import CalorimeterDataModule

    dm = CalorimeterDataModule(geometry="ds1_photons", transform=transform, data_dir=str(tmp_path))
    spec, geometry = dm.spec, dm.geometry
    layers = spec.columns("layers")
    assert list(layers) == [str(i) for i in geometry.layer_ids]
    covered = np.concatenate([np.arange(s.start, s.stop) for s in layers.values()])
    assert np.array_equal(covered, np.arange(geometry.n_voxels))  # contiguous, in order
    for layer, s in zip(geometry.layer_ids, layers.values(), strict=True):
        assert (geometry.voxel_layer_index[s] == geometry.layer_ids.index(layer)).all()
    if transform == "layer_fractions":
        u = spec.columns("layer_energies")["u"]
        assert (u.start, u.stop) == (geometry.n_voxels, geometry.n_voxels + geometry.n_layers)
    else:
        assert "layer_energies" not in spec.layout


def test_cloud_layout_names_the_particle_features(tmp_path):
    dm = JetNetDataModule(path=str(tmp_path), particle_features=["ptrel", "etarel"])
    assert dm.spec.columns("features") == {"ptrel": slice(0, 1), "etarel": slice(1, 2)}


# ---------------------------------------------------------------- masks from sample()


class MaskMakingCloudModel(GenerativeModel):
    """Test double: particles at a fixed point, the first ``k`` of each jet real (its own mask)."""

    def __init__(self, data_spec: Mapping, k: int = 4) -> None:
        super().__init__(data_spec)
        self.k = k
        self.dummy = nn.Parameter(torch.zeros(()))

    @classmethod
    def incompatibility(cls, spec: DataSpec) -> str | None:
        return cloud_problem(spec)

    def sample(self, n: int, cond: Tensor | None = None, mask: Tensor | None = None) -> Generated:
        n_part, n_features = self.data_spec.event_shape
        own = torch.zeros(n, n_part, dtype=torch.bool)
        own[:, : self.k] = True
        return Generated(torch.ones(n, n_part, n_features), own)


def test_a_model_that_makes_its_masks_is_evaluated_with_them(tmp_path):
    write_file(tmp_path / "g.hdf5", *make_jets(300, seed=0))
    dm = JetNetDataModule(path=str(tmp_path), jet_type="g")
    dm.setup()
    model = MaskMakingCloudModel(dm.spec.to_dict(), k=4)
    real, reference = dm.evaluation_samples("test", 40)
    assert len(set(real["mask"].sum(axis=1))) > 1  # the real multiplicities vary
    generated, _ = sample_like(model, dm, real, batch_size=16, progress=False)
    assert (generated["mask"].sum(axis=1) == 4).all()
    # the inverse transform used the model's mask: its padding is exactly zero
    assert (generated["x"][:, 4:] == 0).all() and (generated["x"][:, :4] != 0).all()
    evaluator = JetNetEvaluator(particle_features=dm.particle_features, num_particles=N_PART)
    observables = evaluator.observables(generated)
    assert len(observables["etarel"]) == 4 * 40  # real particles by the model's mask


# ---------------------------------------------------------------- abstract methods, kinds


def test_abstract_methods_are_enforced():
    class NoSample(GenerativeModel):
        @classmethod
        def incompatibility(cls, spec):
            return None

    with pytest.raises(TypeError, match="abstract method.*sample"):
        NoSample({"family": "toy", "event_shape": [2]})


def test_a_log_prob_needs_its_kind():
    with pytest.raises(TypeError, match="defines log_prob but no log_prob_kind"):

        class Unlabelled(GenerativeModel):
            def log_prob(self, x, cond=None):
                return x

    with pytest.raises(TypeError, match="must be one of"):

        class Misnamed(GenerativeModel):
            log_prob_kind = "approximate"


def test_likelihood_kind_and_bits_per_dim_reach_results(tmp_path):
    metrics = train(compose_train(tmp_path))
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    likelihood = results["likelihood"]
    assert likelihood["kind"] == "exact" and "density" in likelihood["meaning"]
    assert likelihood["loss"] == pytest.approx(metrics["test/loss"])
    assert likelihood["bits_per_dim"] == pytest.approx(metrics["test/loss"] / (2 * math.log(2)))
    assert metrics["val/bits_per_dim"] == pytest.approx(metrics["val/loss"] / (2 * math.log(2)))


# ---------------------------------------------------------------- the adversarial base


def test_gradient_penalty_of_a_linear_critic_is_closed_form():
    w = torch.tensor([0.6, -1.2, 2.0])
    real, fake = torch.randn(64, 3), torch.randn(64, 3)
    penalty = gradient_penalty(lambda x: x @ w, real, fake)
    assert penalty.item() == pytest.approx((w.norm().item() - 1.0) ** 2, rel=1e-6)
    # differentiable in the critic's parameters
    weight = w.clone().requires_grad_(True)
    gradient_penalty(lambda x: x @ weight, real, fake).backward()
    expected = 2 * (weight.norm() - 1) * weight / weight.norm()
    torch.testing.assert_close(weight.grad, expected.detach())


class ToyGAN(AdversarialModel):
    """Test double on the toy: a linear generator and critic, WGAN losses."""

    def __init__(self, data_spec: Mapping, critic_steps: int = 1, **kwargs) -> None:
        super().__init__(data_spec, critic_steps=critic_steps, **kwargs)
        dim = self.data_spec.event_shape[0]
        self.generator = nn.Linear(dim, dim)
        self.discriminator = nn.Linear(dim, 1)

    @classmethod
    def incompatibility(cls, spec: DataSpec) -> str | None:
        return flat_vector_problem(spec)

    def sample(self, n: int, cond: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        return self.generator(torch.randn(n, self.data_spec.event_shape[0]))

    def discriminator_losses(self, batch) -> Iterator[dict[str, Tensor]]:
        fake = self.sample(len(batch["x"])).detach()
        loss = self.discriminator(fake).mean() - self.discriminator(batch["x"]).mean()
        yield {"loss": loss, "d_loss": loss}

    def generator_losses(self, batch) -> Iterator[dict[str, Tensor]]:
        loss = -self.discriminator(self.sample(len(batch["x"]))).mean()
        yield {"loss": loss, "g_loss": loss}


@pytest.mark.parametrize("critic_steps", [1, 3])
def test_global_step_counts_generator_updates_only(critic_steps):
    from functools import partial

    from genhep.callbacks.framework import FrameworkCallback

    spec = {"family": "toy", "event_shape": [2], "cond_dim": 0, "has_mask": False}
    model = ToyGAN(spec, critic_steps=critic_steps, optimizer=partial(torch.optim.SGD, lr=0.01))
    x = torch.randn(10 * 16, 2)
    loader = torch.utils.data.DataLoader([{"x": row} for row in x], batch_size=16)
    trainer = bare_trainer(FrameworkCallback(), log_every_n_steps=1)
    trainer.fit(model, train_dataloaders=loader)
    assert trainer.global_step == 10 // critic_steps
    assert {"train/d_loss", "train/g_loss"} <= set(trainer.callback_metrics)


def _learning_rates(model: GenerativeModel, epochs: int) -> list[list[float]]:
    """Each optimizer's learning rate at the start of every batch of a short fit (10 batches
    per epoch of a 2-d toy)."""
    import pytorch_lightning as pl

    from genhep.callbacks.framework import FrameworkCallback

    seen: list[list[float]] = []

    class Record(pl.Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            seen.append([o.param_groups[0]["lr"] for o in trainer.optimizers])

    x = torch.randn(10 * 16, 2)
    loader = torch.utils.data.DataLoader([{"x": row} for row in x], batch_size=16)
    bare_trainer(FrameworkCallback(), Record(), max_epochs=epochs).fit(model, loader)
    return seen


def _torch_schedule(factory, n: int) -> list[float]:
    """The learning rates torch's own scheduler gives over ``n`` steps (the reference)."""
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.01)
    scheduler, rates = factory(optimizer=optimizer), []
    for _ in range(n):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def test_one_cycle_and_cyclic_schedules_step_per_batch_others_per_epoch():
    from functools import partial

    from genhep.models.mdn import MixtureDensityNetwork

    sgd = partial(torch.optim.SGD, lr=0.01)
    spec = {"family": "toy", "event_shape": [2], "cond_dim": 0, "has_mask": False}
    # OneCycleLR without total_steps spans the fit's 2 x 10 optimizer steps, one per batch
    one_cycle = partial(torch.optim.lr_scheduler.OneCycleLR, max_lr=0.1)
    mdn = MixtureDensityNetwork(spec, n_components=1, optimizer=sgd, scheduler=one_cycle)
    rates = [r[0] for r in _learning_rates(mdn, epochs=2)]
    expected = _torch_schedule(partial(one_cycle, total_steps=20), 20)
    np.testing.assert_allclose(rates, expected, rtol=1e-12)
    assert len(set(rates)) == 20  # a new rate every batch
    # StepLR stays an epoch scheduler
    step = partial(torch.optim.lr_scheduler.StepLR, step_size=1, gamma=0.5)
    mdn = MixtureDensityNetwork(spec, n_components=1, optimizer=sgd, scheduler=step)
    rates = [r[0] for r in _learning_rates(mdn, epochs=2)]
    np.testing.assert_allclose(rates, [0.01] * 10 + [0.005] * 10)
    # manual optimisation (the GANs): per batch for CyclicLR, for both networks
    cyclic = partial(torch.optim.lr_scheduler.CyclicLR, base_lr=0.001, max_lr=0.1, step_size_up=3)
    gan = ToyGAN(spec, optimizer=sgd, scheduler=cyclic)
    rates = _learning_rates(gan, epochs=1)
    expected = _torch_schedule(cyclic, 10)
    for network in (0, 1):
        np.testing.assert_allclose([r[network] for r in rates], expected, rtol=1e-12)
