"""Run directories: finding them, reading them, and what the report needs of each."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from genhep.report.errors import ReportError
from genhep.report.formatting import is_finite

RESULTS = "results.json"
#: ``genhep evaluate`` of a checkpoint: the evaluated run's config (its overrides applied)
EVALUATED_CONFIG = "evaluated_config.yaml"
FAILURE = "failure.json"
CONFIG = Path(".hydra") / "config.yaml"
OVERRIDES = Path(".hydra") / "overrides.yaml"


@dataclass
class Run:
    """One run directory as the report sees it."""

    path: Path
    results: dict[str, Any] | None = None
    failure: dict[str, Any] | None = None
    overrides: list[str] = field(default_factory=list)
    config: dict[str, Any] | None = None
    """The composed config (``.hydra/config.yaml``), None for a run without one."""
    label: str = ""
    problem: str | None = None
    """Why the run has no metrics in this report (failed, other split), else None."""

    @property
    def ok(self) -> bool:
        return self.problem is None and self.results is not None

    @property
    def status(self) -> str:
        if self.ok:
            return "ok"
        return "failed" if self.failure is not None else "missing"

    @property
    def metrics(self) -> dict[str, dict[str, Any]]:
        if not self.ok:
            return {}
        return (self.results or {}).get("metrics") or {}

    @property
    def sampling(self) -> dict[str, Any]:
        """The sampling-speed entry of ``results.json`` (empty for a run without results)."""
        return ((self.results or {}).get("sampling") or {}) if self.ok else {}

    @property
    def samples_per_s(self) -> float | None:
        return self.sampling.get("samples_per_s")

    @property
    def device(self) -> str | None:
        if not self.ok:
            return None
        return self.sampling.get("device") or (self.results or {}).get("device")

    @property
    def likelihood(self) -> dict[str, Any] | None:
        """``{"kind", "meaning", "loss", "bits_per_dim"}`` of a likelihood model, else None."""
        entry = (self.results or {}).get("likelihood") if self.ok else None
        return entry if isinstance(entry, dict) and entry.get("kind") else None

    @property
    def monte_carlo(self) -> dict[str, Any] | None:
        """``{"samples_per_s", "cores", "source"}``: the speed of the Monte Carlo that made the data."""
        entry = (self.results or {}).get("monte_carlo") if self.ok else None
        return entry if isinstance(entry, dict) and is_finite(entry.get("samples_per_s")) else None

    def setting(self, key: str) -> Any:
        """The config's value at the dotted ``key``, None where absent.

        An interpolation (``${model.name}``) is resolved where it can be without Hydra's
        runtime, and returned as written otherwise.
        """
        node: Any = self.config
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        if isinstance(node, str) and "${" in node:
            try:
                return OmegaConf.select(OmegaConf.create(self.config), key)
            except OmegaConfBaseException:
                return node
        return node


def _is_run_dir(path: Path) -> bool:
    return (path / RESULTS).is_file() or (path / FAILURE).is_file()


def _natural_key(path: Path) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(path))]


def find_run_dirs(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Every run directory given or found below a given directory, in natural order.

    A run directory holds ``results.json`` or (for a failed job) ``failure.json``;
    the search does not descend into run directories nor hidden folders.
    """
    found: list[Path] = []
    for given in paths:
        root = Path(given)
        if not root.exists():
            raise ReportError(f"{root} does not exist")
        if not root.is_dir():
            raise ReportError(
                f"{root} is not a directory; give a run directory (holding {RESULTS}) "
                "or a sweep directory holding run directories"
            )
        if _is_run_dir(root):
            found.append(root)
            continue
        below = []
        for folder, subdirs, _ in os.walk(root):
            here = Path(folder)
            if here != root and _is_run_dir(here):
                below.append(here)
                subdirs.clear()
                continue
            subdirs[:] = [d for d in subdirs if not d.startswith(".")]
        if not below:
            raise ReportError(
                f"no {RESULTS} in or below {root}: expected a run directory holding "
                f"{RESULTS} (written by the evaluation callback at the end of a run) or a "
                f"sweep directory holding run directories such as {root / '0' / RESULTS}"
            )
        found.extend(sorted(below, key=_natural_key))
    return list(dict.fromkeys(p.resolve() for p in found))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ReportError(f"cannot read {path}: {err}") from err
    if not isinstance(data, dict):
        raise ReportError(f"{path} holds {type(data).__name__}, expected a JSON object")
    return data


def _read_config(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ReportError(f"cannot read {path}: {err}") from err
    if not isinstance(config, dict):
        raise ReportError(f"{path} holds {type(config).__name__}, expected a config mapping")
    return config


def load_run(path: Path) -> Run:
    """Read a run directory. A ``failure.json`` newer than ``results.json`` marks it failed.

    An output directory of ``genhep evaluate ckpt_path=...`` reads as the evaluated run: its
    config (label, ``report.*``) and overrides, with the evaluation's own ``model.*`` and
    ``data.*`` overrides added to both (e.g. ``label (model.sampler.clip_x0=10)``).
    """
    evaluated = _read_config(path / EVALUATED_CONFIG)
    run = Run(path, config=evaluated or _read_config(path / CONFIG))
    results_file, failure_file = path / RESULTS, path / FAILURE
    if results_file.is_file():
        run.results = _read_json(results_file)
    if failure_file.is_file() and (
        run.results is None or failure_file.stat().st_mtime >= results_file.stat().st_mtime
    ):
        run.failure = _read_json(failure_file)
        error = run.failure.get("error", "error")
        message = str(run.failure.get("message", "")).strip().splitlines()
        run.problem = f"{error}: {message[0]}" if message else str(error)
    overrides = (run.results or {}).get("overrides")
    if overrides is None and (path / OVERRIDES).is_file():
        overrides = yaml.safe_load((path / OVERRIDES).read_text()) or []
    run.overrides = [str(o) for o in overrides or [] if not str(o).startswith("hydra.")]
    if evaluated is not None:
        given = [str(o).lstrip("+~") for o in (run.results or {}).get("evaluate_overrides") or []]
        changed = [o for o in given if o.startswith(("model.", "data."))]
        run.overrides += changed
        if changed and evaluated.get("label"):
            evaluated["label"] = f"{evaluated['label']} ({', '.join(changed)})"
    return run
