"""The ``genhep`` command: ``train``, ``evaluate``, ``sample``, ``report``, ``data``.

Hydra-driven subcommands take Hydra's own arguments after the subcommand name
(``genhep train -m model.n_components=2,5``, ``genhep train --cfg job``). ``sys.argv``
is left untouched, so Lightning's ``ddp`` launcher re-runs exactly this command for
every rank.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml
from hydra._internal.utils import _run_hydra, get_args_parser
from hydra.types import TaskFunction

from genhep.utils.errors import UserError, exit_on_user_error, reporting_user_errors

#: The installed configs: setup.py maps the repository's ``conf/`` to the package ``genhep.conf``.
CONFIG_PACKAGE = "pkg://genhep.conf"
#: The repository's ``conf/`` beside the ``genhep`` package of a source tree.
SOURCE_CONFIGS = Path(__file__).resolve().parent.parent / "conf"

USAGE = """usage: genhep <command> [hydra overrides ...]

commands:
  train      train a model:            genhep train model=mdn data=gaussian_mixture
             a sweep:                  genhep train -m model.n_components=2,5
             resume a run in place:    genhep train ckpt_path=<run dir or .ckpt>
  evaluate   evaluate a checkpoint:    genhep evaluate ckpt_path=<run dir or .ckpt> [split=test]
             a sample file:            genhep evaluate samples=<file.h5> data=<family>
  sample     write samples:            genhep sample ckpt_path=<run dir> n_events=<N> out=<file.h5>
  report     table + figures:          genhep report <sweep dir or run dirs> [--reference NAME|FILE] [--columns a,b] [--average-over seed] [--sections data.jet_type] [--scales w1m=1e-3]
  data       make a dataset:           genhep data generate data=calorimeter data.generator.n_events=100000

'genhep train --help' lists the config groups and their options.
"""


def config_path() -> str:
    """Where Hydra reads genhep's configs.

    The installed package ``genhep.conf``; in a source tree that was never pip-installed
    (``PYTHONPATH=<checkout>``, e.g. a bare GPU machine given the repository and wheels)
    that package does not exist, and the checkout's ``conf/`` is read instead.
    """
    if importlib.util.find_spec("genhep.conf") is not None:
        return CONFIG_PACKAGE
    if (SOURCE_CONFIGS / "train.yaml").is_file():
        return str(SOURCE_CONFIGS)
    raise UserError(
        f"genhep's configs were not found: no installed package 'genhep.conf' and no "
        f"{SOURCE_CONFIGS / 'train.yaml'}; install genhep (pip install -e .) or run it "
        "from a checkout that has its conf/ folder"
    )


def run_hydra(task: TaskFunction, config_name: str, args: Sequence[str]) -> None:
    """Run a Hydra task function with ``args`` as its command line.

    A user error prints one line, a bug its traceback (:mod:`genhep.utils.errors`).
    """
    from hydra import version

    version.setbase("1.3")
    parser = get_args_parser()
    _run_hydra(
        args=parser.parse_args(list(args)),
        args_parser=parser,
        task_function=reporting_user_errors(task),
        config_path=config_path(),
        config_name=config_name,
    )


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def resume_overrides(args: Sequence[str]) -> list[str]:
    """For ``ckpt_path=<run>`` (single run), reuse that run's overrides and directory.

    The original run's ``.hydra/overrides.yaml`` comes first, the new arguments after it
    (so they win), and ``hydra.run.dir`` points at the original run: the run resumes in
    place. Checkpoints outside a Hydra run directory start a new run from the weights.
    """
    from genhep.checkpoints import resolve_checkpoint, run_dir_of

    if any(a in ("-m", "--multirun") for a in args):
        return list(args)
    given = [a.split("=", 1)[1] for a in args if _key(a) == "ckpt_path" and "=" in a]
    if not given or given[-1] in ("null", ""):
        return list(args)
    run_dir = run_dir_of(resolve_checkpoint(given[-1]))
    if run_dir is None:
        return list(args)
    previous = yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text()) or []
    new_keys = {_key(a) for a in args if "=" in a}
    kept = [o for o in previous if _key(o) not in new_keys and _key(o) != "ckpt_path"]
    return [*kept, f"hydra.run.dir={run_dir}", *args]


def command(args: Sequence[str]) -> None:
    """``genhep train ...``: the training task under Hydra, resuming in place if asked."""
    from genhep.train import main as train_main

    run_hydra(train_main, "train", resume_overrides(args))


# Each command lives in its own module as ``command(args)``, imported only when used.
COMMANDS: dict[str, str] = {
    "train": "genhep.cli",
    "evaluate": "genhep.evaluate",
    "sample": "genhep.sample",
    "report": "genhep.report",
    "data": "genhep.generate",
}


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``genhep`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        sys.stderr.write(f"genhep: unknown command '{name}'\n\n{USAGE}")
        raise SystemExit(2)
    try:
        importlib.import_module(COMMANDS[name]).command(rest)
    except Exception as err:  # Hydra reports errors inside it; these came before it started
        exit_on_user_error(err)
        raise


if __name__ == "__main__":
    main()
