"""The report's settings: given on the command line, else agreed by the runs' configs.

``conf/train.yaml`` holds them under ``report``: ``reference`` (a packaged table's name
or a path), ``columns`` (metrics shown first, in order), ``average_over`` (config keys
whose runs share a row), ``sections`` (a config key: one block of rows per value, each with
its own real-vs-real row), ``section_labels`` (value -> the block's title) and ``scales``
(metric -> the unit it is shown in, e.g. ``{w1m: 1.0e-3}``). A setting the runs' configs
disagree on is left at its default, with a warning; runs without a config have no say.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from genhep.report.errors import ReportError
from genhep.report.formatting import is_finite
from genhep.report.runs import CONFIG, Run


@dataclass(frozen=True)
class Settings:
    """What the report shows: the reference table, the main columns, the averaged keys,
    the sections and the metrics' units."""

    reference: str | None = None
    columns: list[str] | None = None
    average_over: list[str] = field(default_factory=list)
    sections: str | None = None
    """A config key (``data.jet_type``): rows are grouped by its value, None: one block."""
    section_labels: dict[str, str] = field(default_factory=dict)
    """A section's value (as a string) -> its title; the value itself where absent."""
    scales: dict[str, float] = field(default_factory=dict)
    """Metric -> the unit it is shown in (values and errors divided by it); 1 where absent."""


def positive_number(value: Any) -> float | None:
    """``value`` as a positive finite float, or None if it is not one.

    A string that reads as a number is accepted: YAML 1.1 (PyYAML) reads ``1e-3`` -- without
    a dot -- as the string ``"1e-3"``.
    """
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    return float(value) if is_finite(value) and value > 0 else None


def check_scales(where: str, scales: Any) -> dict[str, float]:
    """``scales`` (metric -> positive number) checked; an error names ``where`` and the key."""
    if scales is None:
        return {}
    if not isinstance(scales, Mapping):
        raise ReportError(
            f"{where} is {scales!r}; expected a mapping metric -> unit (e.g. {{w1m: 1.0e-3}})"
        )
    checked = {}
    for name, value in scales.items():
        scale = positive_number(value)
        if scale is None:
            raise ReportError(
                f"{where}.{name} is {value!r}; expected a positive number, the unit the "
                "metric is shown in (e.g. 1.0e-3)"
            )
        checked[str(name)] = scale
    return checked


def _check(run: Run, key: str, value: Any, kind: str) -> Any:
    """``value`` if it has the ``kind`` ``key`` needs: ``names`` (a list of names),
    ``name`` (a string), ``labels`` (a mapping to strings) or ``scales``."""
    if value is None:
        return None
    where = f"{run.path / CONFIG}: {key}"
    if kind == "scales":
        return check_scales(where, value)
    if kind == "names" and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    if kind == "name" and isinstance(value, str):
        return value
    if kind == "labels" and isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    expected = {
        "names": "a list of names",
        "name": "a name or a path",
        "labels": "a mapping value -> label",
    }[kind]
    raise ReportError(f"{where} is {value!r}; expected {expected} or null")


def _agreed(runs: Sequence[Run], key: str, kind: str, warnings: list[str]) -> Any:
    """The value of ``key`` the configs of ``runs`` agree on (None if absent or disputed)."""
    values: dict[str, Any] = {}
    for run in runs:
        if run.config is not None:
            value = _check(run, key, run.setting(key), kind)
            values.setdefault(json.dumps(value, sort_keys=True), value)
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
    sections: str | None = None,
    section_labels: Mapping[str, str] | None = None,
    scales: Mapping[str, Any] | None = None,
) -> Settings:
    """The settings given (not None), else those the runs' configs agree on."""
    if reference is None:
        reference = _agreed(runs, "report.reference", "name", warnings)
    if columns is None:
        columns = _agreed(runs, "report.columns", "names", warnings)
    if average_over is None:
        average_over = _agreed(runs, "report.average_over", "names", warnings) or []
    if sections is None:
        sections = _agreed(runs, "report.sections", "name", warnings)
    if section_labels is None:
        section_labels = _agreed(runs, "report.section_labels", "labels", warnings) or {}
    if scales is None:
        scales = _agreed(runs, "report.scales", "scales", warnings) or {}
    else:
        scales = check_scales("scales", scales)
    if sections is not None and any(
        sections == key or sections.startswith(f"{key}.") for key in average_over
    ):
        raise ReportError(
            f"sections by {sections!r}, a key that average_over averages over: a row would "
            "mix sections"
        )
    return Settings(
        reference=reference,
        columns=None if columns is None else list(columns),
        average_over=list(average_over),
        sections=sections,
        section_labels={str(k): str(v) for k, v in section_labels.items()},
        scales=dict(scales),
    )


def unit_label(scale: float) -> str:
    """The column-header suffix of a metric shown in units of ``scale``: ``" (×10⁻³)"``;
    empty for 1."""
    if scale == 1:
        return ""
    exponent = math.log10(scale)
    if abs(exponent - round(exponent)) < 1e-9:
        digits = str(round(exponent)).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))
        return f" (×10{digits})"
    return f" (×{scale:g})"
