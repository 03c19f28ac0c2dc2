"""Every ``genhep`` command the documentation shows works as written.

The commands are the lines starting with ``genhep`` or ``.venv/bin/genhep`` in the fenced
blocks of ``README.md`` and ``experiments/*/README.md`` (a trailing ``\\`` continues a line),
and the comment lines ``#   genhep ...`` (two or more spaces after ``#``) of
``conf/**/*.yaml``; ``&&`` separates two commands, ``# ...`` ends one.

Each is checked in process, in a scratch folder that is also ``GENHEP_ROOT``:

- ``train``, ``evaluate``, ``sample``, ``data generate``: composed through ``genhep``'s own
  entry point with ``--cfg job --resolve`` appended (a command with its own ``--cfg`` or
  ``--help`` runs as written). Nothing trains, samples or generates, so a command naming
  the public data files only needs to compose.
- ``train -m``: jobs of the sweep (the experiment's ``hydra.sweeper.params`` and the
  command line's sweeps, expanded as Hydra's basic sweeper does) that hold every swept
  value at least once are composed and resolved as a job sees them; other sweepers
  (Optuna) compose their base config.
- ``report``: runs on copies of the committed runs of ``experiments/sarm_prd2021/cpu_medium``,
  laid out where genhep writes a sweep (``outputs/train/multiruns/<date>_<time>/<job>``)
  and a quickstart run (``outputs/quickstart/<time>``).

Placeholders are replaced before the line is split into words (:data:`PLACEHOLDERS`);
``[optional]`` words are kept without their brackets; a ``...`` word (options of the
user's choice) is dropped. A placeholder missing from the table fails its command.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import shutil
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf, open_dict

from conftest import REPO_ROOT

STAMP = "2026-01-01_12-00-00"
SWEEP = f"outputs/train/multiruns/{STAMP}"
RUN = f"outputs/train/runs/{STAMP}"
COMMITTED_RUNS = REPO_ROOT / "experiments" / "sarm_prd2021" / "cpu_medium" / "runs"

#: placeholder -> what the check puts in its place (paths relative to the scratch folder)
PLACEHOLDERS = {
    # a run folder as `genhep train` writes one (.hydra/overrides.yaml, checkpoints/last.ckpt)
    "<run dir or .ckpt>": RUN,
    "<run directory or .ckpt>": RUN,
    "<run dir>": RUN,
    # a sweep folder (six runs) and its timestamp
    "<sweep dir>": SWEEP,
    "<the six run directories>": " ".join(f"{SWEEP}/{i}" for i in range(6)),
    "<date>_<time>": STAMP,
    "<date_time>": STAMP,
    "<time>": STAMP,
    # values that only need to compose
    "<N>": "1000",
    "<S>": "7",
    "<B>": "100",
    "<file.h5>": "samples.h5",
    "<family>": "gaussian_mixture",
    "<image model>": "sarm",
    "<LAGAN file>": "/data/jet-images_Mass60-100_pT250-300_R1.25_Pix25.hdf5",
    "<real file>": "/data/real.h5",
}

PROGRAM = re.compile(r"^(?:\.venv/bin/)?genhep(?=\s|$)")
CONF_COMMAND = re.compile(r"^#\s{2,}((?:\.venv/bin/)?genhep\s.*)$")
HYDRA_COMMANDS = ("train", "evaluate", "sample", "data")
BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


def fenced_commands(path: Path) -> list[tuple[str, str]]:
    """``(where, line)`` for each genhep command line of the fenced blocks of a markdown file."""
    found, fenced, pending, start = [], False, "", 0
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if line.startswith("```"):
            fenced, pending = not fenced, ""
            continue
        if not fenced:
            continue
        if pending:
            line = f"{pending} {line}"
        else:
            start = number
        if line.endswith("\\"):
            pending = line[:-1].rstrip()
            continue
        pending = ""
        if PROGRAM.match(line):
            found.append((f"{path.relative_to(REPO_ROOT)}:{start}", line))
    return found


def conf_commands() -> list[tuple[str, str]]:
    """``(where, line)`` for each ``#   genhep ...`` comment line of the config tree."""
    found = []
    for path in sorted((REPO_ROOT / "conf").rglob("*.yaml")):
        for number, raw in enumerate(path.read_text().splitlines(), 1):
            match = CONF_COMMAND.match(raw.strip())
            if match:
                found.append((f"{path.relative_to(REPO_ROOT)}:{number}", match.group(1)))
    return found


def documented_commands() -> list[tuple[str, str]]:
    readmes = [REPO_ROOT / "README.md", *sorted(REPO_ROOT.glob("experiments/*/README.md"))]
    return [c for readme in readmes for c in fenced_commands(readme)] + conf_commands()


def split_commands(line: str) -> list[list[str]]:
    """The argument lists (after ``genhep``) of a documented line."""
    for placeholder, value in PLACEHOLDERS.items():
        line = line.replace(placeholder, value)
    words = shlex.split(line, comments=True)
    commands, current = [], []
    for word in [*words, "&&"]:
        if word == "&&":
            commands.append(current)
            current = []
        elif word != "...":
            current.append(word[1:-1] if word.startswith("[") and word.endswith("]") else word)
    for command in commands:
        assert command and PROGRAM.match(command[0]), f"not a genhep command: {command}"
        unknown = [w for w in command if re.search(r"<[^>]*>", w)]
        assert not unknown, (
            f"a placeholder missing from PLACEHOLDERS ({list(PLACEHOLDERS)}): {unknown}"
        )
    return [command[1:] for command in commands]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    """A folder with a sweep, a quickstart run and a training run where genhep puts them."""
    root = tmp_path_factory.mktemp("commands")
    no_images = shutil.ignore_patterns("*.png")
    for job, run in enumerate(sorted(COMMITTED_RUNS.iterdir())):
        shutil.copytree(run, root / SWEEP / str(job), ignore=no_images)
    shutil.copytree(
        COMMITTED_RUNS / "sarm1_dc", root / "outputs" / "quickstart" / STAMP, ignore=no_images
    )
    run = root / RUN
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text("- model=mdn\n- seed=3\n")
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "last.ckpt").write_bytes(b"")  # composed, never read
    return root


def sweep_jobs(overrides: list[str]) -> list[list[str]]:
    """Jobs of ``genhep train -m <overrides>`` that hold every swept value at least once
    (a sweep of 8 x 3 values composes 10 jobs, not 24; ``test_configs`` builds every value
    of every experiment's sweep)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    parser = OverridesParser.create()
    parsed = parser.parse_overrides(overrides)
    fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
    cfg = compose("train", [*fixed, "hydra.mode=MULTIRUN"], return_hydra_config=True)
    if cfg.hydra.sweeper._target_ != BASIC_SWEEPER:
        return [fixed]
    # as the basic sweeper does: the config's sweep, then the command line (which wins)
    params = [f"{key}={value}" for key, value in (cfg.hydra.sweeper.params or {}).items()]
    batches = BasicSweeper.split_arguments(parser.parse_overrides([*params, *overrides]), None)
    jobs, seen = [], set()
    for job in (job for batch in batches for job in batch):
        if not seen.issuperset(job):
            jobs.append(list(job))
            seen.update(job)
    return jobs


def compose_multirun(args: list[str]) -> None:
    """Compose and resolve every job of a ``genhep train -m`` command."""
    assert args[0] == "train", "only `genhep train` sweeps"
    overrides = [a for a in args[1:] if a not in ("-m", "--multirun")]
    with initialize_config_module("genhep.conf", version_base="1.3"):
        jobs = sweep_jobs(overrides)
        for number, job in enumerate(jobs):
            cfg = compose("train", [*job, "hydra.mode=MULTIRUN"], return_hydra_config=True)
            with open_dict(cfg):  # what Hydra sets when it launches the job
                cfg.hydra.job.num = number
                cfg.hydra.runtime.output_dir = f"{cfg.hydra.sweep.dir}/{number}"
            HydraConfig.instance().set_config(cfg)
            with open_dict(cfg):
                del cfg.hydra
            OmegaConf.to_container(cfg, resolve=True)
    assert jobs


def run_in_process(args: list[str]) -> str:
    """``genhep <args>`` in this process; its standard output (a failure raises)."""
    from genhep.cli import main

    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main(args)
    except SystemExit as exit:
        if exit.code not in (0, None):
            pytest.fail(f"genhep {shlex.join(args)} exited with {exit.code}:\n{err.getvalue()}")
    finally:
        GlobalHydra.instance().clear()
    return out.getvalue()


def check(args: list[str]) -> None:
    if args[0] in HYDRA_COMMANDS and ("-m" in args or "--multirun" in args):
        compose_multirun(args)
    elif args[0] in HYDRA_COMMANDS:
        shown = any(a in ("--cfg", "-c", "--help", "-h", "--info", "-i") for a in args)
        out = run_in_process(args if shown else [*args, "--cfg", "job", "--resolve"])
        if not shown:
            assert "task_name" in yaml.safe_load(out)  # the composed job config
    else:
        run_in_process(args)


COMMANDS = documented_commands()


def test_the_documentation_shows_commands():
    where = {w.split(":")[0] for w, _ in COMMANDS}
    assert {"README.md", "conf/train.yaml", "conf/data/jet_images.yaml"} <= where
    assert len(COMMANDS) > 30


@pytest.mark.parametrize(("where", "line"), COMMANDS, ids=[f"{w} {c}" for w, c in COMMANDS])
def test_documented_command_works_as_written(where, line, scratch, monkeypatch):
    monkeypatch.chdir(scratch)
    monkeypatch.setenv("GENHEP_ROOT", str(scratch))
    monkeypatch.setenv("WANDB_MODE", "offline")
    for args in split_commands(line):
        check(args)
