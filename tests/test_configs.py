"""Every config option composes, and everything it names instantiates on this machine."""

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from hydra.utils import get_class, instantiate

from genhep.data.base import GenerativeDataModule
from genhep.models.base import GenerativeModel
from genhep.train import build, instantiate_group

from conftest import REPO_ROOT, compose_train

CONF = REPO_ROOT / "conf"


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def test_every_group_has_options():
    for group in (
        "model",
        "data",
        "trainer",
        "logger",
        "callbacks",
        "paths",
        "experiment",
        "debug",
    ):
        assert options(group), group


@pytest.mark.parametrize("data", options("data"))
@pytest.mark.parametrize("model", options("model"))
def test_model_and_data_build_when_compatible(tmp_path, model, data):
    cfg = compose_train(tmp_path, [f"model={model}", f"data={data}"])
    spec = instantiate(cfg.data).spec
    if not get_class(cfg.model._target_).accepts(spec):
        pytest.skip(f"{model} does not accept {data}")
    datamodule, net = build(cfg)
    assert isinstance(datamodule, GenerativeDataModule) and isinstance(net, GenerativeModel)
    assert net.data_spec == datamodule.spec
    configured = net.configure_optimizers()  # one, a dict, or a list (GANs: G and D)
    optimizers = configured if isinstance(configured, (list, tuple)) else [configured]
    for optimizer in optimizers:
        optimizer = (
            optimizer if isinstance(optimizer, torch.optim.Optimizer) else optimizer["optimizer"]
        )
        assert isinstance(optimizer, torch.optim.Optimizer)


@pytest.mark.parametrize("trainer", options("trainer"))
def test_trainers_instantiate(tmp_path, trainer):
    # GPU configs are checked for composition, then built on the CPU of this machine
    overrides = [f"trainer={trainer}"]
    if trainer in ("gpu", "ddp") and not torch.cuda.is_available():
        overrides += ["trainer.accelerator=cpu", "trainer.devices=1", "trainer.strategy=auto"]
    cfg = compose_train(tmp_path, overrides)
    assert isinstance(instantiate(cfg.trainer), pl.Trainer)


@pytest.mark.parametrize("logger", options("logger"))
def test_loggers_instantiate(tmp_path, logger, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = compose_train(tmp_path, [f"logger={logger}"])
    loggers = instantiate_group(cfg.logger)
    assert loggers and all(isinstance(lg, pl.loggers.Logger) for lg in loggers)


@pytest.mark.parametrize("callbacks", options("callbacks"))
def test_callbacks_instantiate(tmp_path, callbacks):
    cfg = compose_train(tmp_path, [f"callbacks={callbacks}"], tiny=False)
    assert all(isinstance(cb, pl.Callback) for cb in instantiate_group(cfg.get("callbacks")))


def callback_options() -> list[str]:
    """``<name>=<option>`` of every callback group (conf/callbacks/<name>/<option>.yaml)."""
    return sorted(f"{p.parent.name}={p.stem}" for p in (CONF / "callbacks").glob("*/*.yaml"))


def test_default_callbacks(tmp_path):
    callbacks = compose_train(tmp_path, tiny=False).callbacks
    assert list(callbacks) == ["model_checkpoint", "last_checkpoint", "evaluation", "progress_bar"]
    assert callbacks.model_checkpoint.monitor == "val/loss"
    assert (
        callbacks.last_checkpoint.filename == "last" and callbacks.last_checkpoint.monitor is None
    )
    assert not compose_train(tmp_path, ["callbacks=none"], tiny=False).get("callbacks")


@pytest.mark.parametrize("choice", callback_options())
def test_each_callback_option_swaps_in_or_adds_and_instantiates(tmp_path, choice):
    name = choice.split("=")[0]
    on = name in compose_train(tmp_path, tiny=False).callbacks  # else: +callbacks/<name>=...
    cfg = compose_train(tmp_path, [f"{'' if on else '+'}callbacks/{choice}"], tiny=False)
    assert isinstance(instantiate(cfg.callbacks[name]), pl.Callback)
    assert set(cfg.callbacks) == {
        "last_checkpoint",
        "model_checkpoint",
        "evaluation",
        "progress_bar",
        name,
    }


def test_best_metric_checkpoint_monitors_a_physics_metric(tmp_path):
    overrides = ["callbacks/model_checkpoint=best_metric"]
    kept = compose_train(tmp_path, overrides, tiny=False).callbacks.model_checkpoint
    assert (kept.monitor, kept.mode) == ("val/w1_mean", "min")
    overrides.append("callbacks.model_checkpoint.monitor=val/w1m")
    assert compose_train(tmp_path, overrides).callbacks.model_checkpoint.monitor == "val/w1m"


@pytest.mark.parametrize("experiment", options("experiment"))
def test_experiments_compose_and_build(tmp_path, experiment):
    cfg = compose_train(tmp_path, [f"experiment={experiment}"], tiny=False)
    build(cfg)
    instantiate(cfg.trainer)
    instantiate_group(cfg.callbacks)


@pytest.mark.parametrize("debug", options("debug"))
def test_debug_configs_run(tmp_path, debug):
    from genhep.train import train

    metrics = train(compose_train(tmp_path, [f"debug={debug}", "data.n_events=2000"], tiny=False))
    assert metrics["test/loss"] > 0


def test_paths_default_to_the_working_directory(tmp_path):
    cfg = compose_train(tmp_path)
    assert Path(cfg.paths.data_dir) == tmp_path / "data"


def sweep_values() -> list[tuple[str, str]]:
    """(experiment, "key=value") for every value of every swept key of every experiment."""
    import yaml

    out = []
    for experiment in options("experiment"):
        config = yaml.safe_load((CONF / "experiment" / f"{experiment}.yaml").read_text())
        params = (((config or {}).get("hydra") or {}).get("sweeper") or {}).get("params") or {}
        for key, values in params.items():
            if isinstance(values, str) and "(" not in values:  # plain lists, not interval(...)
                out += [(experiment, f"{key}={v.strip()}") for v in values.split(",")]
    return out


@pytest.mark.parametrize(("experiment", "override"), sweep_values())
def test_every_sweep_job_composes_and_builds(tmp_path, experiment, override):
    cfg = compose_train(tmp_path, [f"experiment={experiment}", override], tiny=False)
    build(cfg)
    if override.startswith("+"):  # presets name their row in the report
        assert cfg.get("label"), override


def test_presets_are_the_rows_of_their_experiment():
    # conf/preset/<experiment>/<row>.yaml: every row is a job of that experiment's sweep
    folders = sorted(p for p in (CONF / "preset").iterdir() if p.is_dir())
    assert folders
    swept = sweep_values()
    for folder in folders:
        assert folder.name in options("experiment"), folder
        rows = {p.stem for p in folder.glob("*.yaml")}
        key = f"+preset/{folder.name}="
        assert rows == {o[len(key) :] for e, o in swept if e == folder.name and o.startswith(key)}
