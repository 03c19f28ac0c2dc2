"""Loggers: wandb offline without credentials, closed after failures; TensorBoard."""

import json

import pytest

from genhep.train import train

from conftest import compose_train, run_cli

NO_CREDENTIALS = {"WANDB_API_KEY": None, "WANDB_MODE": None, "NETRC": "/nonexistent"}


def offline_runs(run_dir):
    return sorted((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))


def test_wandb_offline_run_holds_the_logged_metrics(tmp_path):
    proc = run_cli(
        [
            "train",
            "logger=wandb",
            "trainer.max_epochs=1",
            "data.n_events=2000",
            "callbacks.evaluation.n_samples=300",
            "~callbacks.progress_bar",
            "hydra.run.dir=run",
        ],
        tmp_path,
        extra_env={**NO_CREDENTIALS, "HOME": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    [run_file] = offline_runs(tmp_path / "run")
    content = run_file.read_bytes()
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    w1 = results["metrics"]["w1_mean"]["value"]
    for key in (b"train/loss", b"val/loss", b"test/w1_mean", b"test/nll_true"):
        assert key in content
    assert json.dumps(w1).encode() in content  # the value itself, not only the key
    assert b"logger=wandb,trainer.max_epochs=1" in content  # run named after its overrides


def test_wandb_is_closed_after_a_failed_job_so_the_next_starts_fresh(tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("NETRC", "/nonexistent")
    failing = compose_train(
        tmp_path / "a", ["logger=wandb", "data.val_fraction=0.6", "data.test_fraction=0.6"]
    )
    with pytest.raises(Exception, match="must leave events for training"):
        train(failing)
    assert wandb.run is None
    assert (tmp_path / "a" / "run" / "failure.json").is_file()
    train(compose_train(tmp_path / "b", ["logger=wandb"]))
    assert wandb.run is None
    assert len(offline_runs(tmp_path / "a" / "run")) == 1
    assert len(offline_runs(tmp_path / "b" / "run")) == 1


def test_tensorboard_logger_writes_events_and_figures(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train(compose_train(tmp_path, ["logger=tensorboard"]))
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard")).Reload()
    assert "test/w1_mean" in events.Tags()["scalars"]
    assert "test/x0_x1" in events.Tags()["images"]
