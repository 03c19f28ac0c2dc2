"""Calorimeter data module (CaloChallenge files, schema errors, batches, units) and evaluator."""

import h5py
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from genhep.data.calorimeter import get_geometry
from genhep.data.calorimeter.datamodule import CalorimeterDataModule, read_showers
from genhep.data.schema import SchemaError
from genhep.evaluation.calorimeter import CalorimeterEvaluator
from genhep.metrics.shower_features import high_level_features

from conftest import compose_train

PHOTONS = get_geometry("ds1_photons")


def toy_showers(n, geometry=PHOTONS, seed=0, scale=1.0, e_inc=None):
    """Shower-like toy events: ``{"incident_energies" (n, 1), "showers" (n, V)}`` in MeV.

    E_inc from the 15 dataset-1 energies (unless given); E_tot / E_inc ~ N(0.8, 0.03); layer shares from a
    Dirichlet; within a layer, lit voxels (about 40%) share the layer energy with weights
    falling with the voxel's radius. ``scale`` multiplies every voxel (a mis-modelled shower).
    """
    rng = np.random.default_rng(seed)
    e_inc = 2.0 ** rng.integers(8, 23, (n, 1)) if e_inc is None else np.asarray(e_inc)
    ratio = np.clip(rng.normal(0.8, 0.03, (n, 1)), 0.5, 0.99)
    shares = rng.dirichlet(np.linspace(4.0, 1.0, geometry.n_layers), n)
    radius = geometry.voxel_r / geometry.voxel_r.max()
    lit = rng.random((n, geometry.n_voxels)) < 0.4
    weights = lit * np.exp(-4 * radius) * rng.uniform(0.5, 1.5, lit.shape)
    showers = np.zeros((n, geometry.n_voxels))
    for i, s in enumerate(geometry.layer_slices):
        total = weights[:, s].sum(axis=1, keepdims=True)
        fraction = np.where(total > 0, weights[:, s] / np.where(total > 0, total, 1), 0)
        showers[:, s] = fraction * shares[:, i : i + 1] * ratio * e_inc
    return {"incident_energies": e_inc, "showers": scale * showers}


def write_file(path, arrays, dtype=np.float32):
    """A file as CaloChallenge ships them (float32, gzip), written by hand with h5py."""
    with h5py.File(path, "w") as handle:
        for key, value in arrays.items():
            handle.create_dataset(key, data=np.asarray(value, dtype=dtype), compression="gzip")
    return path


@pytest.fixture(scope="module")
def photon_file(tmp_path_factory):
    return write_file(tmp_path_factory.mktemp("calo") / "photons.hdf5", toy_showers(1200))


def make_module(path, **kwargs):
    return CalorimeterDataModule(path=str(path), batch_size=64, **kwargs)


# -------------------------------------------------------------------- reading and batches


@pytest.mark.parametrize("transform", ["voxel_fraction_logit", "log_energy", "layer_fractions"])
def test_reads_calochallenge_file_into_dict_batches(photon_file, transform):
    dm = make_module(photon_file, transform=transform)
    width = 368 + (5 if transform == "layer_fractions" else 0)
    assert dm.spec.family == "calorimeter"
    assert dm.spec.event_shape == (width,) and dm.spec.cond_dim == 1
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"x", "cond"}
    assert batch["x"].shape == (64, width) and batch["cond"].shape == (64, 1)
    assert batch["x"].dtype == torch.float32 and torch.isfinite(batch["x"]).all()
    assert {k: len(v["x"]) for k, v in dm.physical.items()} == {
        "train": 840,
        "val": 180,
        "test": 180,
    }
    # physical samples: showers and incident energies in MeV, held in float32 (dataset 3 would
    # be ~16 GB in float64), handed to the evaluation in float64
    train = dm.physical["train"]
    assert train["x"].shape == (840, 368) and train["x"].dtype == np.float32
    real, _ = dm.evaluation_samples("val", 10)
    assert real["x"].dtype == real["cond"].dtype == np.float64
    assert train["cond"].shape == (840, 1)
    # model-space condition: log(E / E_min) / log(E_max / E_min) over the training range
    cond = dm.datasets["train"].tensors["cond"].double()
    expected = np.log(train["cond"] / train["cond"].min()) / np.log(
        train["cond"].max() / train["cond"].min()
    )
    np.testing.assert_allclose(cond.numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(dm.cond_transform.inverse(cond).numpy(), train["cond"], rtol=1e-5)


@pytest.mark.parametrize("transform", ["voxel_fraction_logit", "log_energy", "layer_fractions"])
def test_to_physical_recovers_mev(photon_file, transform):
    dm = make_module(photon_file, transform=transform)
    dm.setup()
    model_x = dm.datasets["val"].tensors["x"]  # float32, as a model would produce
    physical = dm.physical["val"]
    back = dm.to_physical(model_x, physical["cond"])
    assert back.dtype == np.float64 and back.shape == physical["x"].shape
    assert np.array_equal(back == 0, physical["x"] == 0)  # zeros stay zero
    np.testing.assert_allclose(back, physical["x"], rtol=2e-5)
    np.testing.assert_allclose(back.sum(1), physical["x"].sum(1), rtol=2e-5)
    with pytest.raises(ValueError, match="needs the incident energies"):
        dm.to_physical(model_x)


def test_transform_state_round_trips_through_checkpoint(photon_file, tmp_path):
    dm = make_module(photon_file, transform="layer_fractions")
    dm.setup()
    path = tmp_path / "state.pt"
    torch.save(dm.state_dict(), path)
    state = torch.load(path, weights_only=True)
    # a restored run gets the stored state, not a refit on (here: other) training events
    other = make_module(photon_file, transform="layer_fractions", split_seed=7)
    other.load_state_dict(state)
    assert other.transform.fitted and other.cond_transform.fitted
    other.setup()
    for key, value in dm.state_dict()["transform"].items():
        assert torch.equal(other.state_dict()["transform"][key], value), key
    for key, value in dm.state_dict()["cond_transform"].items():
        assert torch.equal(other.state_dict()["cond_transform"][key], value), key
    x, cond = dm.physical["test"]["x"][:50], dm.physical["test"]["cond"][:50]
    sample = {"x": x, "cond": cond}
    assert torch.equal(dm.to_model_space(sample)["x"], other.to_model_space(sample)["x"])


def test_real_and_generated_files_read_identically(tmp_path):
    arrays = toy_showers(50, seed=3)
    real = write_file(tmp_path / "real.hdf5", arrays)
    generated = write_file(tmp_path / "generated.h5", arrays, dtype=np.float64)
    with h5py.File(generated, "a") as handle:  # extra keys are ignored
        handle.create_dataset("label", data=np.zeros(50))
    a, b = read_showers(real, "ds1_photons"), read_showers(generated, "1-photons")
    assert set(a) == set(b) == {"incident_energies", "showers"}
    np.testing.assert_allclose(a["showers"], b["showers"], rtol=1e-6)
    assert len(read_showers(real, PHOTONS, n_events=20)["showers"]) == 20
    dm = make_module(generated, n_events=30)
    assert len(dm.load_arrays()["x"]) == 30


def test_written_samples_read_back(tmp_path):
    dm = CalorimeterDataModule(geometry="ds1_pions")
    arrays = toy_showers(20, get_geometry("ds1_pions"), seed=4)
    events = {"x": arrays["showers"], "cond": arrays["incident_energies"]}
    path = dm.write_samples(tmp_path / "generated.h5", events)
    with h5py.File(path) as handle:  # the challenge's own keys, shapes and dtype
        assert {k: (v.shape, v.dtype) for k, v in handle.items()} == {
            "incident_energies": ((20, 1), np.float32),
            "showers": ((20, 533), np.float32),
        }
    back = dm.read_samples(path)
    np.testing.assert_allclose(back["x"], events["x"], rtol=1e-6)
    np.testing.assert_array_equal(back["cond"], events["cond"])
    with pytest.raises(SchemaError, match="key 'showers'"):
        dm.write_samples(tmp_path / "bad.h5", {**events, "x": -events["x"] - 1})


def test_other_geometries(tmp_path):
    for name in ("ds1_pions", "atlas_photons_266"):
        geometry = get_geometry(name)
        path = write_file(tmp_path / f"{name}.h5", toy_showers(300, geometry))
        dm = make_module(path, geometry=name)
        dm.setup()
        assert next(iter(dm.train_dataloader()))["x"].shape == (64, geometry.n_voxels)


def test_config_composes_and_instantiates(tmp_path, photon_file):
    cfg = compose_train(tmp_path, ["data=calorimeter", f"data.path={photon_file}"])
    dm = instantiate(cfg.data)
    assert isinstance(dm, CalorimeterDataModule) and dm.geometry.name == "ds1_photons"
    assert dm.n_events == 3000 and dm.transform_name == "voxel_fraction_logit"
    dm.setup()
    assert next(iter(dm.train_dataloader()))["x"].shape == (128, 368)


def test_no_path_makes_parametric_showers_once_and_reuses_them(tmp_path):
    generator = {"n_events": 300, "e_max": 8192, "seed": 3, "n_workers": 1, "progress": False}
    dm = CalorimeterDataModule(data_dir=str(tmp_path), generator=generator)
    assert dm.particle == "photon" and dm.spec.event_shape == (368,)
    dm.prepare_data()
    [made] = tmp_path.glob("calo_ds1_photons_photon_*.h5")
    stamp = made.stat().st_mtime_ns
    dm.setup()
    assert sum(len(split["x"]) for split in dm.physical.values()) == 300
    assert set(np.unique(dm.physical["train"]["cond"])) <= {2.0**k for k in range(8, 14)}
    again = CalorimeterDataModule(data_dir=str(tmp_path), generator=generator)
    again.setup()
    assert made.stat().st_mtime_ns == stamp and list(tmp_path.glob("calo_*.h5")) == [made]
    np.testing.assert_array_equal(again.physical["test"]["x"], dm.physical["test"]["x"])
    with pytest.raises(ValueError, match="data.data_dir is null"):
        CalorimeterDataModule().setup()


def test_bad_options_are_rejected():
    with pytest.raises(ValueError, match="data.transform='sqrt'"):
        CalorimeterDataModule(transform="sqrt")
    with pytest.raises(ValueError, match="unknown calorimeter geometry"):
        CalorimeterDataModule(geometry="ds9")


# -------------------------------------------------------------------- schema errors


def _set(key, index, value):
    def change(arrays):
        arrays[key][index] = value

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda a: a.pop("incident_energies"),
            r"missing key 'incident_energies'; expected shape \(N, 1\).*Keys present: \['showers'\]",
        ),
        (
            lambda a: a.pop("showers"),
            r"missing key 'showers'; expected shape \(N, 368\)",
        ),
        (
            lambda a: a.update(incident_energies=np.ones((40, 2))),
            r"key 'incident_energies': axis 1 has size 2, not 1; expected shape \(N, 1\)",
        ),
        (
            lambda a: a.update(incident_energies=np.ones((39, 1))),
            r"key 'showers': axis 0 has size 40 but 'N' = 39",
        ),
        (
            lambda a: a.update(showers=np.ones(40)),
            r"key 'showers': has 1 dimensions",
        ),
        (
            _set("showers", (3, 7), np.nan),
            r"key 'showers': holds 1 NaN/inf values \(first at index \(3, 7\)\); expected .*MeV",
        ),
        (
            _set("incident_energies", (5, 0), np.inf),
            r"key 'incident_energies': holds 1 NaN/inf values",
        ),
        (
            _set("showers", (2, 100), -0.5),
            r"key 'showers': holds the value -0.5 at index \(2, 100\); all values must be >= 0",
        ),
        (
            _set("incident_energies", (4, 0), 0.0),
            r"key 'incident_energies': holds the value 0.0 at index \(4, 0\); all values must be > 0",
        ),
        (
            _set("incident_energies", (6, 0), -1000.0),
            r"key 'incident_energies': .*all values must be > 0",
        ),
        (
            lambda a: a.update(showers=np.ones((40, 100))),
            r"key 'showers': 100 voxels per shower, but data.geometry=ds1_photons has 368\. "
            r"Accepted voxel counts: 266 \(atlas_photons_266\), 368 \(ds1_photons\), "
            r"533 \(ds1_pions\), 6480 \(ds2_electrons\), 40500 \(ds3_electrons\)",
        ),
        (
            lambda a: a.update(showers=np.ones((40, 533))),
            r"533 voxels per shower, but data.geometry=ds1_photons has 368; 533 is the voxel "
            r"count of ds1_pions: set data.geometry=ds1_pions\. Accepted voxel counts: 266",
        ),
    ],
)
def test_schema_errors_name_file_key_and_expectation(tmp_path, change, message):
    arrays = {k: np.array(v, dtype=np.float64) for k, v in toy_showers(40).items()}
    change(arrays)
    path = write_file(tmp_path / "bad.hdf5", arrays, dtype=np.float64)
    with pytest.raises(SchemaError, match=message) as error:
        make_module(path).setup()
    assert str(error.value).startswith(str(path))


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.h5"):
        make_module(tmp_path / "nope.h5").setup()
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(SchemaError, match="text.h5: not a readable HDF5 file"):
        make_module(tmp_path / "text.h5").setup()


# -------------------------------------------------------------------- evaluator


def sample(n, seed, scale=1.0, geometry=PHOTONS, e_inc=None):
    arrays = toy_showers(n, geometry, seed=seed, scale=scale, e_inc=e_inc)
    return {"x": arrays["showers"], "cond": arrays["incident_energies"]}


@pytest.fixture(scope="module")
def evaluation():
    real, reference = sample(3000, seed=10), sample(3000, seed=11)
    # the W1 metrics only; the other metrics are tested in test_calo_evaluator.py
    evaluator = CalorimeterEvaluator(PHOTONS, n_bootstrap=10, distances=False, classifier=False)
    # generated at the real events' incident energies, as the evaluation callback does
    same = evaluator.evaluate(sample(3000, 12, e_inc=real["cond"]), real, reference)
    scaled = evaluator.evaluate(sample(3000, 12, 1.2, e_inc=real["cond"]), real, reference)
    w1 = [{k: v for k, v in m.items() if k.startswith("w1_")} for m in (same, scaled)]
    return real, *w1


def test_evaluator_metric_names(evaluation):
    real, same, _ = evaluation
    features = high_level_features(real["x"], real["cond"], PHOTONS)
    assert set(same) == {f"w1_{name}" for name in features} | {"w1_longitudinal_centre"}
    assert next(iter(same)) == "w1_e_ratio"
    for layer in PHOTONS.layer_ids:
        assert f"w1_e_layer_{layer}" in same and f"w1_sparsity_layer_{layer}" in same
    assert "w1_width_eta_layer_1" in same and "w1_ec_phi_layer_2" in same
    for name, metric in same.items():
        assert np.isfinite(metric.value) and metric.error >= 0, name
        assert metric.real_vs_real is not None and metric.real_vs_real >= 0, name


def test_evaluator_same_distribution_is_at_real_vs_real_level(evaluation):
    _, same, _ = evaluation
    for name, metric in same.items():
        if metric.real_vs_real == 0:  # e.g. sparsity of a layer that is never empty
            assert metric.value == 0, name
            continue
        assert metric.value < 2.5 * metric.real_vs_real + 2 * metric.error, (name, metric)
    ratio = same["w1_e_ratio"]
    assert ratio.value < 2 * ratio.real_vs_real


def test_evaluator_detects_scaled_showers(evaluation):
    real, same, scaled = evaluation
    mean_ratio = (real["x"].sum(1) / real["cond"][:, 0]).mean()
    w1 = scaled["w1_e_ratio"]
    # W1(R, 1.2 R) = 0.2 E[R] for a non-negative R
    assert w1.value == pytest.approx(0.2 * mean_ratio, rel=0.05)
    assert w1.value > 20 * w1.real_vs_real and w1.value > 20 * same["w1_e_ratio"].value
    # energies in MeV: W1 is dominated by the spread of E_inc (256 MeV .. 4 TeV)
    assert scaled["w1_e_total"].value > 2 * scaled["w1_e_total"].real_vs_real
    for layer in PHOTONS.layer_ids:
        name = f"w1_e_layer_{layer}"
        assert scaled[name].value > 1.5 * same[name].value, name
    # centres and widths do not depend on the overall scale
    assert scaled["w1_width_eta_layer_2"].value == pytest.approx(
        same["w1_width_eta_layer_2"].value, rel=1e-6
    )


def test_evaluator_figures():
    evaluator = CalorimeterEvaluator("ds1_photons")
    figures = evaluator.figures(sample(300, seed=1), sample(300, seed=2))
    assert set(figures) == {"e_ratio", "e_layers", "mean_showers", "longitudinal_centre"}
    images = [ax for ax in figures["mean_showers"].axes if ax.images]
    assert len(images) == 2 * PHOTONS.n_layers
    for fig in figures.values():
        plt.close(fig)
    # geometries with many layers show a selection of them
    ds2 = get_geometry("ds2_electrons")
    figures = CalorimeterEvaluator(ds2).figures(
        sample(50, 1, geometry=ds2), sample(50, 2, geometry=ds2)
    )
    assert len([ax for ax in figures["mean_showers"].axes if ax.images]) == 16
    for fig in figures.values():
        plt.close(fig)


def test_evaluator_needs_incident_energies():
    with pytest.raises(ValueError, match="generated sample needs cond"):
        CalorimeterEvaluator(PHOTONS).evaluate(
            {"x": sample(10, 1)["x"]}, sample(10, 2), sample(10, 3)
        )
