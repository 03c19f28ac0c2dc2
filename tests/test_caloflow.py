"""``model=caloflow``: data it accepts, the u-variables, the exact density as flow I + flow II,
staged training (``init_from``), and physical showers from sampling."""

import json

import h5py
import numpy as np
import pytest
import torch

from genhep.data.calorimeter import get_geometry
from genhep.data.calorimeter.datamodule import CalorimeterDataModule
from genhep.data.calorimeter.transforms import (
    layer_energies_to_u,
    make_calorimeter_transform,
    u_to_layer_energies,
)
from genhep.models.base import IncompatibleDataError
from genhep.models.caloflow import CaloFlow
from genhep.spec import DataSpec
from genhep.train import train

from conftest import compose_train

PHOTONS = get_geometry("ds1_photons")
# flows small enough for seconds (the authors' sizes are the config's defaults)
SMALL = {
    "energy_blocks": 2,
    "energy_hidden": 16,
    "shower_blocks": 1,
    "shower_hidden": 16,
    "dequantize": 0.1,
}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_showers(n, seed=0):
    """Shower-like events on the dataset-1 photon geometry: E_inc from the 15 ds1 energies,
    E_tot / E_inc ~ N(0.8, 0.03), Dirichlet layer shares with the last layer empty in 30% of
    events, ~40% of voxels lit with weights falling with the radius."""
    rng = np.random.default_rng(seed)
    e_inc = 2.0 ** rng.integers(8, 23, (n, 1))
    ratio = np.clip(rng.normal(0.8, 0.03, (n, 1)), 0.5, 0.99)
    shares = rng.dirichlet(np.linspace(4.0, 1.0, PHOTONS.n_layers), n)
    shares[rng.random(n) < 0.3, -1] = 0.0
    shares /= shares.sum(axis=1, keepdims=True)
    radius = PHOTONS.voxel_r / PHOTONS.voxel_r.max()
    lit = rng.random((n, PHOTONS.n_voxels)) < 0.4
    weights = lit * np.exp(-4 * radius) * rng.uniform(0.5, 1.5, lit.shape)
    showers = np.zeros((n, PHOTONS.n_voxels))
    for i, s in enumerate(PHOTONS.layer_slices):
        total = weights[:, s].sum(axis=1, keepdims=True)
        fraction = np.where(total > 0, weights[:, s] / np.where(total > 0, total, 1), 0)
        showers[:, s] = fraction * shares[:, i : i + 1] * ratio * e_inc
    return e_inc, showers


@pytest.fixture(scope="module")
def shower_file(tmp_path_factory):
    e_inc, showers = tiny_showers(600)
    path = tmp_path_factory.mktemp("caloflow") / "showers.hdf5"
    with h5py.File(path, "w") as handle:
        handle["incident_energies"] = e_inc.astype(np.float32)
        handle["showers"] = showers.astype(np.float32)
    return path


@pytest.fixture(scope="module")
def datamodule(shower_file):
    dm = CalorimeterDataModule(
        path=str(shower_file), transform="layer_fractions", max_deposit=2.42, batch_size=100
    )
    dm.setup()
    return dm


# ------------------------------------------------------------------------ what it accepts


def test_accepts_the_caloflow_representation_only():
    layers = {"layers": {"0": (0, 8), "1": (8, 10)}}
    fractions = DataSpec(
        "calorimeter", (12,), cond_dim=1, layout={**layers, "layer_energies": {"u": (10, 12)}}
    )
    assert CaloFlow.accepts(fractions)
    voxels = DataSpec("calorimeter", (10,), cond_dim=1, layout=layers)
    assert "data.transform=layer_fractions" in CaloFlow.incompatibility(voxels)
    cloud = DataSpec("jetnet", (30, 3), cond_dim=2, has_mask=True)
    assert not CaloFlow.accepts(cloud)
    with pytest.raises(IncompatibleDataError, match="masked particle clouds|flat events"):
        CaloFlow(cloud.to_dict())
    unconditional = DataSpec("calorimeter", (12,), layout=fractions.layout)
    assert "incident energy" in CaloFlow.incompatibility(unconditional)
    with pytest.raises(ValueError, match="model.stage must be one of"):
        CaloFlow(fractions.to_dict(), stage="student")


# ------------------------------------------------------------------------ u-variables


def test_u_variables_round_trip_exactly_with_empty_layers():
    rng = np.random.default_rng(3)
    energies = torch.tensor(rng.exponential(1000.0, (500, 5)))
    energies[rng.random((500, 5)) < 0.2] = 0.0  # empty layers, the last ones too
    e_inc = torch.tensor(2.0 ** rng.integers(8, 23, (500, 1)), dtype=torch.float64)
    energies = energies * (e_inc / energies.sum(1, keepdim=True).clamp(min=1.0)) * 0.8
    u = layer_energies_to_u(energies, e_inc, 2.42)
    assert ((u >= 0) & (u <= 1)).all()
    torch.testing.assert_close(u_to_layer_energies(u, e_inc, 2.42), energies, rtol=1e-12, atol=0)
    back = u_to_layer_energies(u, e_inc, 2.42)
    assert (back[energies == 0] == 0).all()  # empty layers stay exactly empty


def test_the_caloflow_representation_round_trips_showers():
    e_inc, showers = (torch.tensor(a) for a in tiny_showers(300, seed=1))
    transform = make_calorimeter_transform("layer_fractions", PHOTONS, alpha=1e-6, max_deposit=2.42)
    transform.fit(showers, cond=e_inc)
    x = transform.forward(showers, cond=e_inc)
    assert x.shape == (300, PHOTONS.n_voxels + PHOTONS.n_layers) and torch.isfinite(x).all()
    torch.testing.assert_close(transform.inverse(x, cond=e_inc), showers, rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------------ the density


def test_log_prob_is_flow_one_plus_flow_two_with_columns_anywhere():
    torch.manual_seed(0)
    # u-variables in the middle of x: the model takes the layout's columns, wherever they are
    spec = DataSpec(
        "calorimeter",
        (9,),
        cond_dim=1,
        layout={"layers": {"0": (0, 3), "1": (6, 9)}, "layer_energies": {"u": (3, 6)}},
    )
    model = CaloFlow(spec.to_dict(), **SMALL).eval()
    x, c = torch.randn(20, 9), torch.rand(20, 1)
    u, voxels = model.split(x)
    torch.testing.assert_close(u, x[:, 3:6])
    torch.testing.assert_close(voxels, torch.cat([x[:, :3], x[:, 6:]], dim=1))
    torch.testing.assert_close(model.join(u, voxels), x)
    with torch.no_grad():
        expected = model.flow_energy.log_prob(u, c) + model.flow_shower.log_prob(
            voxels, torch.cat([c, u], dim=1)
        )
        torch.testing.assert_close(model.log_prob(x, c), expected)
        samples = model.sample(20, c)
    assert samples.shape == (20, 9) and torch.isfinite(samples).all()
    with pytest.raises(ValueError, match="CaloFlow is conditional"):
        model.sample(3)
    assert model.log_prob_kind == "exact"


def test_stages_train_their_own_flow(datamodule):
    spec = datamodule.spec.to_dict()
    energy = {id(p) for p in CaloFlow(spec, stage="energy", **SMALL).flow_energy.parameters()}
    model = CaloFlow(spec, stage="energy", **SMALL)
    assert {id(p) for p in model.trained_parameters()} == {
        id(p) for p in model.flow_energy.parameters()
    }
    assert energy  # (a fresh model's ids differ; the sets above are of one model)
    model = CaloFlow(spec, stage="shower", **SMALL)
    assert {id(p) for p in model.trained_parameters()} == {
        id(p) for p in model.flow_shower.parameters()
    }
    model = CaloFlow(spec, stage="both", **SMALL)
    assert len(list(model.trained_parameters())) == len(list(model.parameters()))
    batch = next(iter(datamodule.train_dataloader()))
    terms = model.likelihood_terms(batch)
    torch.testing.assert_close(terms["loss"], terms["nll_energy"] + terms["nll_shower"])
    assert "objective" not in terms
    assert CaloFlow(spec, stage="shower", **SMALL).likelihood_terms(batch)["objective"].ndim == 0


# ------------------------------------------------------------------------ sampling


def test_samples_are_physical_showers_with_the_sampled_layer_energies(datamodule):
    torch.manual_seed(1)
    model = CaloFlow(datamodule.spec.to_dict(), **SMALL).eval()
    physical = datamodule.physical["test"]
    n = 40
    e_inc = physical["cond"][:n]
    cond = datamodule.to_model_space({"x": physical["x"][:n], "cond": e_inc})["cond"]
    samples = model.sample(n, cond)
    assert samples.shape == (n, PHOTONS.n_voxels + PHOTONS.n_layers)
    showers = datamodule.to_physical(samples, e_inc)
    assert showers.shape == (n, PHOTONS.n_voxels) and np.isfinite(showers).all()
    assert (showers >= 0).all()
    # the layer energies flow I sampled, through the transform's (Standardize, Logit) inverse
    fractions, logit, standardize = datamodule.transform.transforms
    u = samples.double()
    u = logit.inverse(standardize.inverse(u))[:, PHOTONS.n_voxels :]
    layers = u_to_layer_energies(u, torch.as_tensor(e_inc, dtype=torch.float64), 2.42).numpy()
    sums = np.stack([showers[:, s].sum(axis=1) for s in PHOTONS.layer_slices], axis=1)
    # a layer whose sampled voxels are all empty gets no energy; every other one gets its own
    lit = sums > 0
    np.testing.assert_allclose(sums[lit], layers[lit], rtol=1e-9)
    assert (showers.sum(axis=1) <= 2.42 * np.asarray(e_inc)[:, 0] * (1 + 1e-9)).all()


# ------------------------------------------------------------------------ training runs


def run_overrides(shower_file, *extra):
    return [
        "model=caloflow",
        "data=calorimeter",
        f"data.path={shower_file}",
        "data.transform=layer_fractions",
        "data.max_deposit=2.42",
        "data.batch_size=100",
        "data.n_events=null",
        "trainer.max_epochs=1",
        *(f"model.{k}={v}" for k, v in SMALL.items()),
        "model.optimizer.lr=0.001",
        *extra,
    ]


def test_a_run_trains_both_flows_and_evaluates_showers(tmp_path, shower_file):
    overrides = run_overrides(
        shower_file,
        "callbacks.evaluation.n_samples=100",
        "callbacks.evaluation.figures=false",
        "callbacks.evaluation.on_validation=false",
        "data.evaluator.classifier=false",
        "data.evaluator.distances=false",
        "data.evaluator.n_bootstrap=0",
    )
    metrics = train(compose_train(tmp_path, overrides))
    for key in ("val/loss", "val/nll_energy", "val/nll_shower", "test/loss"):
        assert np.isfinite(metrics[key]), key
    assert metrics["val/loss"] == pytest.approx(
        metrics["val/nll_energy"] + metrics["val/nll_shower"], rel=1e-4
    )
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["model"] == "caloflow" and 0 < results["n_samples"] <= 100
    assert results["sampling"]["samples_per_s"] > 0


def test_flow_two_trains_after_flow_one_through_init_from(tmp_path, shower_file):
    quiet = ["~callbacks.evaluation", "test=false"]
    first = compose_train(
        tmp_path / "energy", run_overrides(shower_file, "model.stage=energy", *quiet)
    )
    train(first)
    ckpt = tmp_path / "energy" / "run" / "checkpoints" / "last.ckpt"
    state = torch.load(ckpt, weights_only=True)["state_dict"]
    second = compose_train(
        tmp_path / "shower",
        run_overrides(shower_file, "model.stage=shower", f"init_from={ckpt}", *quiet),
    )
    train(second)
    after = torch.load(tmp_path / "shower" / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    after = after["state_dict"]
    energy_keys = [k for k in state if k.startswith("flow_energy.")]
    shower_keys = [k for k in state if k.startswith("flow_shower.") and "weight" in k]
    assert energy_keys and shower_keys
    for key in energy_keys:  # flow I: frozen at the first run's weights
        torch.testing.assert_close(after[key], state[key])
    assert any(not torch.equal(after[k], state[k]) for k in shower_keys)  # flow II trained


def test_the_optuna_search_composes_and_builds(tmp_path):
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from genhep.train import build

    GlobalHydra.instance().clear()
    with initialize_config_module("genhep.conf", version_base="1.3"):
        cfg = compose(
            "train", overrides=["hparams_search=caloflow_optuna"], return_hydra_config=True
        )
    sweeper = cfg.hydra.sweeper
    assert sweeper.storage.endswith("/optuna_caloflow.db") and sweeper.study_name
    assert set(sweeper.params) == {
        "model.optimizer.lr",
        "model.energy_blocks",
        "model.shower_blocks",
        "model.shower_hidden",
    }
    assert cfg.optimized_metric == "val/loss" and cfg.test is False
    cfg = compose_train(
        tmp_path,
        ["hparams_search=caloflow_optuna", "model.shower_blocks=2", "model.shower_hidden=128"],
        tiny=False,
    )
    _, model = build(cfg)
    assert isinstance(model, CaloFlow) and model.data_spec.layout["layer_energies"]
