"""The training task end to end, in-process: results, checkpoints, determinism, failures."""

import json

import numpy as np
import pytest
import torch
import yaml
from hydra.errors import InstantiationException
from omegaconf import DictConfig

from genhep.checks import check_model_data
from genhep.models.base import IncompatibleDataError
from genhep.train import train

from conftest import compose_train


def read_results(run_dir):
    return json.loads((run_dir / "results.json").read_text())


def test_train_writes_results_checkpoint_and_figures(tmp_path):
    cfg = compose_train(tmp_path)
    metrics = train(cfg)
    run = tmp_path / "run"
    results = read_results(run)
    assert results["model"] == "mdn" and results["data"] == "gaussian_mixture"
    assert results["split"] == "test" and results["epochs_trained"] == 2
    assert results["n_samples"] == 450  # test split of 3000 events
    assert results["sampling"]["samples_per_s"] > 0
    assert results["device"].startswith("cpu")
    for name in ("nll_true", "w1_x0", "w1_x1", "w1_mean"):
        entry = results["metrics"][name]
        assert set(entry) == {"value", "error", "real_vs_real"}
        assert entry["error"] > 0
    assert metrics["test/w1_mean"] == results["metrics"]["w1_mean"]["value"]
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert sorted(p.name for p in (run / "figures" / "test").iterdir()) == [
        "x0.pdf",
        "x0.png",
        "x0_x1.pdf",
        "x0_x1.png",
        "x1.pdf",
        "x1.png",
    ]
    assert (run / "csv" / "metrics.csv").read_text().count("val/w1_mean") == 1
    assert not list(run.rglob("*.tmp"))
    observables = np.load(run / "observables" / "test.npz")
    assert sorted(observables.files) == ["generated/x0", "generated/x1", "real/x0", "real/x1"]
    assert observables["real/x0"].shape == observables["generated/x0"].shape == (450,)


def test_checkpoint_loads_with_weights_only_and_holds_plain_config(tmp_path):
    train(compose_train(tmp_path))
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["hyper_parameters"]["n_components"] == 5
    assert "optimizer" not in ckpt["hyper_parameters"]
    assert isinstance(ckpt["genhep_config"], dict)
    assert ckpt["genhep_config"]["model"]["_target_"].endswith("MixtureDensityNetwork")
    assert not isinstance(ckpt["hyper_parameters"], DictConfig)
    assert set(ckpt["GaussianMixtureDataModule"]["transform"]) == {"mean", "std"}


def test_same_seed_same_numbers(tmp_path):
    first = train(compose_train(tmp_path / "a", ["seed=7"]))
    second = train(compose_train(tmp_path / "b", ["seed=7"]))
    third = train(compose_train(tmp_path / "c", ["seed=8"]))

    def numbers(metrics):  # all but the sampling speeds, which are timings
        return {k: v for k, v in metrics.items() if not k.endswith("samples_per_s")}

    assert numbers(first) == numbers(second)
    assert first["test/loss"] != third["test/loss"]


def test_incompatible_model_and_data_fail_before_training(tmp_path):
    cfg = compose_train(tmp_path, ["data._target_=conftest.ImageLikeFamily"])
    with pytest.raises(
        IncompatibleDataError,
        match=r"model MixtureDensityNetwork cannot model data 'jet_images' \(event_shape \(1, 25, 25\).*it needs flat events",
    ):
        check_model_data(cfg)
    with pytest.raises(IncompatibleDataError):
        train(cfg)
    assert not (tmp_path / "run" / "checkpoints").exists()
    failure = json.loads((tmp_path / "run" / "failure.json").read_text())
    assert failure["error"] == "IncompatibleDataError"
    assert "it needs flat events" in failure["message"]


def test_failure_is_recorded_and_results_are_kept(tmp_path):
    train(compose_train(tmp_path))
    before = (tmp_path / "run" / "results.json").read_text()
    cfg = compose_train(tmp_path, ["data.val_fraction=0.7", "data.test_fraction=0.5"])
    with pytest.raises(
        (ValueError, InstantiationException), match="must leave events for training"
    ):
        train(cfg)
    failure = json.loads((tmp_path / "run" / "failure.json").read_text())
    assert "data.val_fraction + data.test_fraction" in failure["message"]
    assert (tmp_path / "run" / "results.json").read_text() == before


def test_composed_config_is_saved_by_the_cli(tmp_path):
    from conftest import run_cli

    proc = run_cli(["train", *TINY_CLI, "hydra.run.dir=run"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    saved = yaml.safe_load((tmp_path / "run" / ".hydra" / "config.yaml").read_text())
    assert saved["model"]["n_components"] == 5
    assert "output directory:" in proc.stdout + proc.stderr
    assert "results.json" in proc.stdout + proc.stderr


TINY_CLI = [
    "data.n_events=2000",
    "trainer.max_epochs=1",
    "callbacks.evaluation.n_samples=300",
    "~callbacks.progress_bar",
]
