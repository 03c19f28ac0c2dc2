"""``genhep evaluate`` and ``genhep sample`` on a tiny trained toy run."""

import json
import math

import h5py
import numpy as np
import pytest
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra

from genhep.data.gaussian_mixture import GaussianMixtureDataModule
from genhep.data.schema import SchemaError, read_hdf5
from genhep.evaluate import EvaluateConfigError, checkpoint_overrides, evaluate
from genhep.sample import sample

from conftest import run_cli

TRAIN = [
    "train",
    "trainer.max_epochs=2",
    "data.n_events=2000",
    "callbacks.evaluation.n_samples=300",
    "callbacks.evaluation.progress=false",
    "~callbacks.progress_bar",
    "hydra.run.dir=run",
]


def results(run_dir):
    return json.loads((run_dir / "results.json").read_text())


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A working directory holding ``run/``, a 2-epoch toy run with its test evaluation."""
    root = tmp_path_factory.mktemp("evaluate")
    proc = run_cli(TRAIN, root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root


def compose_config(name, tmp_path, overrides):
    """The composed ``name`` config, writing into ``tmp_path/out`` (no Hydra run)."""
    GlobalHydra.instance().clear()
    with initialize_config_module("genhep.conf", version_base="1.3"):
        return compose(name, overrides=[*overrides, f"paths.output_dir={tmp_path / 'out'}"])


def compose_evaluate(tmp_path, overrides):
    return compose_config("evaluate", tmp_path, overrides)


def test_evaluate_checkpoint_reproduces_the_training_evaluation(trained):
    proc = run_cli(
        ["evaluate", "ckpt_path=run", "progress=false", "hydra.run.dir=evaluated"], trained
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out, run = trained / "evaluated", trained / "run"
    assert str(out / "results.json") in proc.stdout + proc.stderr  # says where
    again, original = results(out), results(run)
    # same weights, split, number of events and sampling seed: the same numbers
    assert again["metrics"] == original["metrics"]
    # the likelihood of the whole test split, computed again: the training's test loss
    for key in ("loss", "bits_per_dim"):
        assert again["likelihood"][key] == pytest.approx(original["likelihood"][key], rel=1e-5)
    assert again["likelihood"]["kind"] == original["likelihood"]["kind"] == "exact"
    for key in ("model", "data", "overrides", "seed", "split", "n_samples", "global_step"):
        assert again[key] == original[key], key
    assert again["epochs_trained"] == original["epochs_trained"] == 2
    assert again["ckpt_path"] == str(run / "checkpoints" / "last.ckpt")
    assert again["sampling"]["samples_per_s"] > 0
    assert sorted(p.name for p in (out / "figures" / "test").iterdir()) == [
        "x0.pdf",
        "x0.png",
        "x0_x1.pdf",
        "x0_x1.png",
        "x1.pdf",
        "x1.png",
    ]
    observables = np.load(out / "observables" / "test.npz")
    assert observables["generated/x0"].shape == (300,)


def test_sample_writes_the_public_format_and_evaluating_it_agrees(trained):
    proc = run_cli(
        ["sample", "ckpt_path=run", "n_events=500", "out=s.h5", "progress=false"],
        trained,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "samples/s" in proc.stdout + proc.stderr
    family = GaussianMixtureDataModule(n_events=2000)
    events = read_hdf5(trained / "s.h5", family.schema)  # the toy family's schema accepts it
    assert events["x"].shape == (500, 2) and events["cond"].shape == (500, 1)
    # conditions of the 300-event test split, in order, cycled
    family.setup()
    np.testing.assert_array_equal(events["cond"][:300], family.physical["test"]["cond"])
    np.testing.assert_array_equal(events["cond"][300:], events["cond"][:200])
    assert not list(trained.glob("*.tmp"))

    proc = run_cli(
        [
            "evaluate",
            "samples=s.h5",
            "data=gaussian_mixture",
            "progress=false",
            "hydra.run.dir=judged",
        ],
        trained,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    judged, checkpoint = results(trained / "judged"), results(trained / "run")
    assert judged["sampling"] is None and judged["device"] is None
    assert judged["n_samples"] == 500 and judged["samples"] == str(trained / "s.h5")
    assert set(judged["metrics"]) == set(checkpoint["metrics"])
    for name in ("w1_x0", "w1_x1", "w1_mean"):
        a, b = judged["metrics"][name], checkpoint["metrics"][name]
        assert abs(a["value"] - b["value"]) < 4 * math.hypot(a["error"], b["error"]), name


def test_missing_checkpoint_fails_naming_the_path(tmp_path):
    missing = tmp_path / "no" / "such" / "run"
    with pytest.raises(FileNotFoundError, match=f"ckpt_path={missing}: no such file or directory"):
        evaluate(compose_evaluate(tmp_path, [f"ckpt_path={missing}"]))
    cfg = compose_config("sample", tmp_path, [f"ckpt_path={missing}", "n_events=10"])
    with pytest.raises(FileNotFoundError, match=f"ckpt_path={missing}: no such file or directory"):
        sample(cfg)


def test_sample_names_the_number_of_events_n_events(capsys):
    from genhep.cli import main

    with pytest.raises(SystemExit) as info:
        main(["sample", "ckpt_path=run", "n=500", "out=s.h5"])
    assert info.value.code == 2
    assert "n_events=500" in capsys.readouterr().err  # the old n= is refused with the new name


def test_sample_file_errors_name_the_file_and_key(tmp_path):
    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as handle:
        handle["y"] = np.zeros((10, 2))
        handle["cond"] = np.zeros((10, 1))
    cfg = compose_evaluate(tmp_path, [f"samples={bad}", "data=gaussian_mixture"])
    with pytest.raises(SchemaError, match=rf"{bad}: missing key 'x'; expected shape \(N, 2\)"):
        evaluate(cfg)
    missing = tmp_path / "nothing.h5"
    cfg = compose_evaluate(tmp_path, [f"samples={missing}", "data=gaussian_mixture"])
    with pytest.raises(FileNotFoundError, match=f"samples={missing}: no such file"):
        evaluate(cfg)
    with pytest.raises(EvaluateConfigError, match="needs the data family"):
        evaluate(compose_evaluate(tmp_path, [f"samples={bad}"]))
    with pytest.raises(EvaluateConfigError, match="exactly one of"):
        evaluate(compose_evaluate(tmp_path, []))
    assert json.loads((tmp_path / "out" / "failure.json").read_text())["error"] == (
        "EvaluateConfigError"
    )


def test_checkpoint_keeps_its_data_config_but_single_keys_can_change(trained, tmp_path):
    assert checkpoint_overrides(["ckpt_path=run", "data.path=x.h5", "split=val"]) == [
        "ckpt_path=run",
        "++data.path=x.h5",
        "split=val",
    ]
    assert checkpoint_overrides(["samples=s.h5", "data.path=x.h5"]) == [
        "samples=s.h5",
        "data.path=x.h5",
    ]
    run = trained / "run"
    with pytest.raises(EvaluateConfigError, match="data=<family> goes with samples="):
        evaluate(compose_evaluate(tmp_path, [f"ckpt_path={run}", "data=gaussian_mixture"]))
    bad = tmp_path / "real.h5"
    with h5py.File(bad, "w") as handle:
        handle["x"] = np.zeros((10, 3))
    # the checkpoint's (conditional) data config reads the new file
    with pytest.raises(SchemaError, match=rf"{bad}: missing key 'cond'"):
        evaluate(compose_evaluate(tmp_path, [f"ckpt_path={run}", f"++data.path={bad}"]))
    # val split, fewer events, another seed: runs in process too
    record = evaluate(
        compose_evaluate(
            tmp_path, [f"ckpt_path={run}", "split=val", "n_samples=100", "seed=5", "figures=false"]
        )
    )
    assert record["split"] == "val" and record["n_samples"] == 100
    assert record["sampling_seed"] == 5 and record["figures"] is None


def test_evaluator_settings_change_from_the_evaluate_command_line(trained, tmp_path):
    """``genhep evaluate ckpt_path=... data.evaluator.n_bootstrap=5``: a nested data key
    reaches the evaluator; the checkpoint's other evaluator settings stay."""
    from genhep.evaluate import data_overrides, restore_checkpoint
    from genhep.evaluation.base import EvaluatorSettingError

    run = trained / "run"
    args = checkpoint_overrides([f"ckpt_path={run}", "data.evaluator.n_bootstrap=5"])
    assert args[1] == "++data.evaluator.n_bootstrap=5"
    cfg = compose_evaluate(tmp_path, args)
    evaluator = restore_checkpoint(run, data_overrides(cfg)).datamodule.evaluator()
    assert evaluator.n_bootstrap == 5 and evaluator.seed == 20211
    record = evaluate(compose_evaluate(tmp_path, [*args, "figures=false", "progress=false"]))
    assert record["skipped"] == {} and "w1_x0" in record["metrics"]

    typo = checkpoint_overrides([f"ckpt_path={run}", "data.evaluator.n_boostrap=5"])
    with pytest.raises(EvaluatorSettingError, match="data.evaluator.n_boostrap"):
        evaluate(compose_evaluate(tmp_path, typo))


def test_n_generated_repeats_the_real_conditions_to_reach_its_size(trained, tmp_path):
    """``genhep evaluate ... n_generated=N`` (FPND's 50,000 jets from a smaller split): N events
    are generated and scored against the unchanged real split."""
    args = checkpoint_overrides([f"ckpt_path={trained / 'run'}"])
    record = evaluate(
        compose_evaluate(tmp_path, [*args, "n_generated=750", "figures=false", "progress=false"])
    )
    assert record["n_generated"] == 750 and record["n_samples"] == 300
    assert record["metrics"]["w1_x0"]["value"] < 1.0
    assert results(trained / "run")["n_generated"] == 300


def test_report_reads_an_evaluation_as_its_run_with_the_changed_settings_in_the_label(trained):
    """``genhep report`` of a ``genhep evaluate`` output: the evaluated run's config (label,
    report settings) and overrides, the evaluation's model/data overrides added."""
    import yaml

    from genhep.report.command import make_report
    from genhep.report.runs import EVALUATED_CONFIG, load_run

    args = ["evaluate", "ckpt_path=run", "progress=false", "figures=false"]
    proc = run_cli([*args, "data.evaluator.n_bootstrap=5", "hydra.run.dir=again"], trained)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = trained / "again"
    run = load_run(out)
    assert run.ok and run.setting("data.evaluator.n_bootstrap") == 5
    assert run.setting("model._target_") == load_run(trained / "run").setting("model._target_")
    assert run.overrides == [*results(trained / "run")["overrides"], "data.evaluator.n_bootstrap=5"]
    report = make_report([trained / "run", out], figures=False)
    # the two runs differ by the evaluation's override only: it labels them
    assert [r.label for r in report.rows] == ["run", "data.evaluator.n_bootstrap=5"]
    config = yaml.safe_load((out / EVALUATED_CONFIG).read_text())
    (out / EVALUATED_CONFIG).write_text(yaml.safe_dump({**config, "label": "toy MDN"}))
    assert load_run(out).setting("label") == "toy MDN (data.evaluator.n_bootstrap=5)"
