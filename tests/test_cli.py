"""The ``genhep`` command as a person runs it: sweeps, resume, errors."""

import csv
import json

import pytest

from conftest import run_cli

TINY = [
    "data.n_events=2000",
    "callbacks.evaluation.n_samples=300",
    "callbacks.evaluation.progress=false",
    "~callbacks.progress_bar",
]


def results(run_dir):
    return json.loads((run_dir / "results.json").read_text())


def test_help_lists_commands():
    from genhep.cli import USAGE, main

    main(["--help"])
    for command in ("train", "evaluate", "sample", "report", "data"):
        assert f"  {command} " in USAGE


def test_unknown_command_and_unknown_model(tmp_path, capsys):
    from genhep.cli import main

    with pytest.raises(SystemExit) as info:
        main(["fly"])
    assert info.value.code == 2
    assert "unknown command 'fly'" in capsys.readouterr().err
    proc = run_cli(["train", "model=nosuchmodel"], tmp_path)
    assert proc.returncode != 0
    assert "Could not find 'model/nosuchmodel'" in proc.stderr
    assert "mdn" in proc.stderr  # Hydra lists the available options


def test_multirun_gives_one_directory_per_job(tmp_path):
    # default sweep directory, under the working directory when GENHEP_ROOT is unset:
    # outputs/train/multiruns/<date_time>/<job number>
    proc = run_cli(
        ["train", "-m", "model.n_components=2,5", "trainer.max_epochs=1", *TINY],
        tmp_path,
        extra_env={"GENHEP_ROOT": None},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    [sweep] = (tmp_path / "outputs" / "train" / "multiruns").iterdir()
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [p.name for p in jobs] == ["0", "1"]
    assert [results(p)["overrides"][0] for p in jobs] == [
        "model.n_components=2",
        "model.n_components=5",
    ]
    assert all(results(p)["epochs_trained"] == 1 for p in jobs)


def test_multirun_with_ddp_is_refused_with_the_alternatives(tmp_path):
    proc = run_cli(
        [
            "train",
            "-m",
            "seed=1,2",
            "trainer=ddp",
            "trainer.accelerator=cpu",
            "trainer.devices=2",
            *TINY,
            "hydra.sweep.dir=sweep",
        ],
        tmp_path,
    )
    assert proc.returncode != 0
    assert "trainer=ddp_spawn" in proc.stderr and "launcher=slurm" in proc.stderr
    assert not list((tmp_path / "sweep").rglob("*.ckpt"))


def epochs_logged(run_dir):
    with open(run_dir / "csv" / "metrics.csv") as handle:
        return sorted({int(row["epoch"]) for row in csv.DictReader(handle) if row.get("val/loss")})


def test_resume_in_place_continues_and_matches_an_uninterrupted_run(tmp_path):
    straight = run_cli(
        ["train", "seed=3", "trainer.max_epochs=4", *TINY, "hydra.run.dir=straight"], tmp_path
    )
    assert straight.returncode == 0, straight.stderr[-3000:]
    first = run_cli(
        ["train", "seed=3", "trainer.max_epochs=2", *TINY, "hydra.run.dir=resumed"], tmp_path
    )
    assert first.returncode == 0, first.stderr[-3000:]
    # only the checkpoint and the new epoch count are given: the rest comes from the run
    again = run_cli(
        ["train", f"ckpt_path={tmp_path / 'resumed'}", "trainer.max_epochs=4"], tmp_path
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert not (tmp_path / "outputs").exists()  # no new run directory
    resumed, uninterrupted = results(tmp_path / "resumed"), results(tmp_path / "straight")
    assert resumed["epochs_trained"] == 4 and resumed["global_step"] == uninterrupted["global_step"]
    assert resumed["metrics"] == uninterrupted["metrics"]
    assert epochs_logged(tmp_path / "resumed") == [0, 1, 2, 3]


def test_data_generate_makes_a_cached_calorimeter_file_once(tmp_path):
    args = [
        "data",
        "generate",
        "data=calorimeter",
        "data.generator.n_events=200",
        "data.generator.e_max=4096",
        "data.generator.n_workers=1",
    ]
    first = run_cli(args, tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    [made] = (tmp_path / "data").glob("calo_ds1_photons_photon_*.h5")
    assert str(made) in first.stdout + first.stderr
    stamp = made.stat().st_mtime_ns
    again = run_cli(args, tmp_path)
    assert again.returncode == 0 and made.stat().st_mtime_ns == stamp
    toy = run_cli(["data", "generate", "data=gaussian_mixture"], tmp_path)
    assert toy.returncode != 0 and "has no generator" in toy.stderr
    assert run_cli(["data", "inspect"], tmp_path).returncode == 2


# -- user errors: one line, no traceback (genhep/utils/errors.py) --------------------------


def test_incompatible_model_and_data_is_one_line_without_traceback(tmp_path):
    args = ["train", "model=sarm", "data=gaussian_mixture", "hydra.run.dir=run"]
    line = (
        "IncompatibleDataError: model SparseAutoregressiveModel cannot model data "
        "'gaussian_mixture' (event_shape (2,), cond_dim 1): it models jet_images data, not "
        "'gaussian_mixture'. "
        "Choose another model=... or data=..."
    )
    proc = run_cli(args, tmp_path, extra_env={"HYDRA_FULL_ERROR": None})
    assert proc.returncode == 1
    assert line in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.count("cannot model data") == 1
    assert "Traceback" in json.loads((tmp_path / "run" / "failure.json").read_text())["traceback"]
    full = run_cli(args, tmp_path, extra_env={"HYDRA_FULL_ERROR": "1"})
    assert full.returncode == 1
    assert "Traceback" in full.stderr and "checks.py" in full.stderr


def test_missing_files_are_named_without_traceback(tmp_path, capsys, monkeypatch):
    from genhep.cli import main

    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    missing = tmp_path / "nowhere" / "toy.h5"
    proc = run_cli(
        ["train", f"data.path={missing}"], tmp_path, extra_env={"HYDRA_FULL_ERROR": None}
    )
    assert proc.returncode == 1
    assert f"FileNotFoundError: {missing}" in proc.stderr and "Traceback" not in proc.stderr
    with pytest.raises(SystemExit) as info:  # ckpt_path is resolved before Hydra starts
        main(["train", f"ckpt_path={missing}"])
    assert info.value.code == 1
    assert capsys.readouterr().err.startswith(f"FileNotFoundError: ckpt_path={missing}: ")


def _raise(error):
    raise error


def test_user_errors_are_the_listed_types_and_genhep_raise_statements(monkeypatch):
    import importlib

    from hydra.errors import InstantiationException
    from omegaconf import OmegaConf
    from omegaconf.errors import MissingMandatoryValue

    from genhep.checks import RunConfigError
    from genhep.utils.errors import GENHEP_ERRORS, UserError, as_user_error, user_error

    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    for name in GENHEP_ERRORS:  # the list names classes that exist
        module, _, cls = name.rpartition(".")
        assert issubclass(getattr(importlib.import_module(module), cls), Exception)

    def caught(fn, *args):
        try:
            fn(*args)
        except Exception as err:
            return err
        raise AssertionError("no error")

    # genhep's classes (raised anywhere), config and path errors: user errors
    assert user_error(caught(_raise, RunConfigError("bad"))) is not None
    missing = caught(lambda: OmegaConf.create({"n": "???"}).n)
    assert isinstance(missing, MissingMandatoryValue)
    assert str(as_user_error(missing)) == "MissingMandatoryValue: Missing mandatory value: n"
    assert user_error(caught(open, "/no/such/file")) is not None
    # a ValueError from a raise statement in genhep: a user error; from elsewhere: a bug
    from genhep.data.generation import generate_file

    explicit = caught(generate_file, "x.h5", None, 0)
    assert str(as_user_error(explicit)) == "ValueError: n_events must be >= 1, got 0"
    assert user_error(caught(int, "abc")) is None
    assert user_error(caught(lambda: {}["key"])) is None
    assert user_error(caught(lambda: 1 / 0)) is None
    # Hydra's instantiate: judged by its cause; an argument the target does not take is the
    # config's fault
    try:
        try:
            _raise(TypeError("__init__() got an unexpected keyword argument 'foo'"))
        except TypeError as cause:
            raise InstantiationException("Error in call...\nfull_key: data") from cause
    except InstantiationException as err:
        wrapped = as_user_error(err)
    assert isinstance(wrapped, UserError)
    assert str(wrapped) == (
        "TypeError: __init__() got an unexpected keyword argument 'foo' (config node: data)"
    )


def _without_installed_configs(monkeypatch):
    """``genhep.conf`` not importable: a source tree on PYTHONPATH, never pip-installed."""
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "genhep.conf" else find_spec(name, *a),
    )


def test_a_source_tree_that_is_not_installed_reads_its_own_conf(monkeypatch, tmp_path):
    from hydra import compose, initialize_config_dir

    from genhep import cli
    from genhep.utils.errors import UserError

    assert cli.config_path() == cli.CONFIG_PACKAGE
    _without_installed_configs(monkeypatch)
    path = cli.config_path()
    assert path == str(cli.SOURCE_CONFIGS)
    with initialize_config_dir(config_dir=path, version_base="1.3"):
        cfg = compose(
            "train", ["experiment=mpgan_neurips2021", "+preset/mpgan_neurips2021=t_mp_mp"]
        )
    assert cfg.data.jet_type == "t"
    assert cfg.model.generator._target_.endswith("MPGenerator")
    monkeypatch.setattr(cli, "SOURCE_CONFIGS", tmp_path / "conf")
    with pytest.raises(UserError, match=r"conf/train\.yaml"):
        cli.config_path()
