"""Hyperparameter searches and cluster launches: the `sweep` and `slurm` extras.

The Optuna search runs as a person runs it (a subprocess of ``python -m genhep``): a
study stored in sqlite, then a second invocation that resumes it. The SLURM launcher is
checked on its composed config, on the multirun strategy check, and on the sbatch file
it writes (a stand-in ``sbatch`` keeps the file and refuses the job).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import pytest
import yaml
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from genhep.checks import RunConfigError, check_multirun_strategy

from conftest import run_cli

SLURM_LAUNCHER = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"

# One short epoch on a small toy: a trial takes about a second.
TINY = (
    "trainer.max_epochs=1",
    "data.n_events=1000",
    "callbacks.evaluation.n_samples=300",
    "~callbacks.progress_bar",
    "logger=csv",
)


@pytest.fixture
def hydra_clean():
    GlobalHydra.instance().clear()
    yield
    GlobalHydra.instance().clear()
    HydraConfig.instance().cfg = None


def compose_multirun(overrides: Sequence[str], mode: str = "MULTIRUN") -> DictConfig:
    """The composed ``train`` config as a job of a multirun sees it (HydraConfig set)."""
    with initialize_config_module("genhep.conf", version_base="1.3"):
        cfg = compose(
            "train", overrides=[*overrides, f"hydra.mode={mode}"], return_hydra_config=True
        )
    HydraConfig.instance().set_config(cfg)
    return cfg


# --------------------------------------------------------------------- Optuna search


def test_optuna_search_stores_its_study_in_sqlite_and_resumes(tmp_path):
    optuna = pytest.importorskip("optuna")
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    root, cwd = tmp_path / "root", tmp_path / "cwd"
    root.mkdir()
    cwd.mkdir()
    search = ["train", "-m", "hparams_search=mdn_optuna", *TINY]

    first = run_cli([*search, "hydra.sweeper.n_trials=2"], cwd, root=root)
    assert first.returncode == 0, first.stderr[-3000:]
    # the config's own sweep folder, under GENHEP_ROOT (not the current directory)
    sweeps = sorted((root / "outputs" / "train" / "multiruns").iterdir())
    assert len(sweeps) == 1
    second = run_cli(
        [*search, "hydra.sweeper.n_trials=1", f"hydra.sweep.dir={tmp_path / 'resumed'}"],
        cwd,
        root=root,
    )
    assert second.returncode == 0, second.stderr[-3000:]
    assert not list(cwd.iterdir()), "nothing belongs in the current directory"

    db = root / "optuna_mdn.db"
    assert db.is_file()
    study = optuna.load_study(study_name="mdn_toy", storage=f"sqlite:///{db}")
    trials = study.trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 3
    assert all(math.isfinite(t.value) for t in trials)
    assert set(trials[0].params) == {"model.n_components", "model.optimizer.lr", "data.batch_size"}
    # the resumed trial is a new point of the search, not a replay of the first ones
    assert trials[2].params not in (trials[0].params, trials[1].params)

    run_dirs = [sweeps[0] / "0", sweeps[0] / "1", tmp_path / "resumed" / "0"]
    for trial, run in zip(trials, run_dirs, strict=True):
        overrides = yaml.safe_load((run / ".hydra" / "overrides.yaml").read_text())
        for name, value in trial.params.items():
            assert any(
                o.startswith(f"{name}=") and yaml.safe_load(o.split("=", 1)[1]) == value
                for o in overrides
            )
        results = yaml.safe_load((run / "results.json").read_text())
        assert results["split"] == "val"  # trials are scored on validation data
        assert math.isfinite(results["metrics"]["w1_mean"]["value"])
        # the trial's value is the run's last logged val/loss (optimized_metric)
        rows = (run / "csv" / "metrics.csv").read_text().splitlines()
        column = rows[0].split(",").index("val/loss")
        logged = [float(r.split(",")[column]) for r in rows[1:] if r.split(",")[column]]
        assert trial.value == pytest.approx(logged[-1], rel=1e-6)
    assert (sweeps[0] / "optimization_results.yaml").is_file()


# ----------------------------------------------------------------- multirun strategy


def test_multirun_with_ddp_on_the_basic_launcher_is_refused(hydra_clean):
    cfg = compose_multirun(["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"])
    assert HydraConfig.get().launcher._target_.endswith("BasicLauncher")
    with pytest.raises(RunConfigError, match="trainer=ddp_spawn"):
        check_multirun_strategy(cfg)


def test_multirun_with_several_devices_and_auto_strategy_is_refused(hydra_clean):
    # Lightning turns strategy=auto with 2 devices into ddp, which re-launches sys.argv
    cfg = compose_multirun(["trainer.devices=2"])
    assert cfg.trainer.get("strategy", "auto") == "auto"
    with pytest.raises(RunConfigError, match="ddp"):
        check_multirun_strategy(cfg)


@pytest.mark.parametrize(
    ("overrides", "mode"),
    [
        (["trainer=ddp_spawn", "trainer.accelerator=cpu"], "MULTIRUN"),  # forks inside the job
        (["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"], "RUN"),  # one run: fine
        (["trainer.devices=1"], "MULTIRUN"),
    ],
)
def test_multirun_strategy_check_accepts(hydra_clean, overrides, mode):
    check_multirun_strategy(compose_multirun(overrides, mode))


# ------------------------------------------------------------------- SLURM launcher


@pytest.mark.parametrize("devices", [None, 2])
def test_slurm_launcher_starts_one_task_per_device_and_passes_the_check(hydra_clean, devices):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    extra = [] if devices is None else [f"trainer.devices={devices}"]
    cfg = compose_multirun(["launcher=slurm", *extra])
    launcher = HydraConfig.get().launcher
    assert launcher._target_ == SLURM_LAUNCHER
    assert cfg.trainer.strategy == "ddp"
    assert launcher.tasks_per_node == cfg.trainer.devices == (devices or 4)
    assert launcher.nodes == cfg.trainer.num_nodes
    check_multirun_strategy(cfg)


def test_slurm_launcher_with_fewer_tasks_than_devices_is_refused(hydra_clean):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    cfg = compose_multirun(
        ["launcher=slurm", "trainer.devices=4", "hydra.launcher.tasks_per_node=1"]
    )
    with pytest.raises(RunConfigError, match="tasks_per_node"):
        check_multirun_strategy(cfg)


def test_slurm_launcher_config_prints_and_submits_one_task_per_device(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    shown = run_cli(["train", "launcher=slurm", "--cfg", "hydra"], tmp_path)
    assert shown.returncode == 0, shown.stderr[-3000:]
    hydra_cfg = yaml.safe_load(shown.stdout)["hydra"]
    assert hydra_cfg["mode"] == "MULTIRUN"
    assert hydra_cfg["launcher"]["_target_"] == SLURM_LAUNCHER
    assert hydra_cfg["launcher"]["tasks_per_node"] == "${trainer.devices}"

    # a stand-in SLURM: `srun` exists, `sbatch` keeps the submission file and refuses
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kept = tmp_path / "submission.sh"
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "sbatch").write_text(
        f'#!/bin/sh\ncp "$1" "{kept}"\necho "sbatch: refused" >&2\nexit 1\n'
    )
    for tool in ("srun", "sbatch"):
        (bin_dir / tool).chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    submitted = run_cli(
        ["train", "launcher=slurm", "trainer.devices=3", "seed=1"], tmp_path, extra_env=env
    )
    assert submitted.returncode != 0
    assert "sbatch: refused" in submitted.stderr + submitted.stdout
    script = kept.read_text()
    assert "#SBATCH --ntasks-per-node=3" in script
    assert "#SBATCH --gpus-per-node=3" in script
    assert "#SBATCH --nodes=1" in script
    # submitted from the sweep folder under GENHEP_ROOT
    assert list((tmp_path / "outputs" / "train" / "multiruns").iterdir())
