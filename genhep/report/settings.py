"""The report's settings: given on the command line, else agreed by the runs' configs.

``conf/train.yaml`` holds them under ``report``: ``reference`` (a packaged table's name
or a path), ``columns`` (metrics shown first, in order) and ``average_over`` (config keys
whose runs share a row). A setting the runs' configs disagree on is left at its default,
with a warning; runs without a config have no say.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from genhep.report.errors import ReportError
from genhep.report.runs import CONFIG, Run


@dataclass(frozen=True)
class Settings:
    """What the report shows: the reference table, the main columns, the averaged keys."""

    reference: str | None = None
    columns: list[str] | None = None
    average_over: list[str] = field(default_factory=list)


def _check(run: Run, key: str, value: Any, names: bool) -> Any:
    """``value`` if it has the type ``key`` needs (a list of names, or a string)."""
    if value is None:
        return None
    if names and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    if not names and isinstance(value, str):
        return value
    expected = "a list of names" if names else "a name or a path"
    raise ReportError(f"{run.path / CONFIG}: {key} is {value!r}; expected {expected} or null")


def _agreed(runs: Sequence[Run], key: str, names: bool, warnings: list[str]) -> Any:
    """The value of ``key`` the configs of ``runs`` agree on (None if absent or disputed)."""
    values: dict[str, Any] = {}
    for run in runs:
        if run.config is not None:
            value = _check(run, key, run.setting(key), names)
            values.setdefault(json.dumps(value), value)
    if len(values) > 1:
        shown = ", ".join(values)
        warnings.append(f"the runs' configs disagree on {key} ({shown}); not using it")
        return None
    return next(iter(values.values()), None)


def resolve_settings(
    runs: Sequence[Run],
    warnings: list[str],
    reference: str | None = None,
    columns: Sequence[str] | None = None,
    average_over: Sequence[str] | None = None,
) -> Settings:
    """The settings given (not None), else those the runs' configs agree on."""
    if reference is None:
        reference = _agreed(runs, "report.reference", False, warnings)
    if columns is None:
        columns = _agreed(runs, "report.columns", True, warnings)
    if average_over is None:
        average_over = _agreed(runs, "report.average_over", True, warnings) or []
    return Settings(
        reference=reference,
        columns=None if columns is None else list(columns),
        average_over=list(average_over),
    )
