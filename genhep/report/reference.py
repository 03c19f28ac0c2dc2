"""Reference tables: published numbers to print beside ours.

A reference is a YAML (or JSON) file of this schema::

    source: "Lu et al., PRD 103, 036012 (2021), Table II"   # where the numbers come from
    note: "optional free text"                                # optional
    scales:                        # optional: metric -> the unit its numbers are given in
      w1_mass: 1.0e-3              #   (the paper's "×10⁻³"): 1.07 here means 1.07e-3
    rows:                                                     # label -> metric -> number
      SARM-2 (D+D):
        w1_mass: [1.07, 0.05]      # value and error
        w1_pt: 2.3                 # value only
      LAGAN:
        w1_mass: {value: 3.1, error: 0.2}
      real vs real:                # optional: the published real-vs-real numbers
        w1_mass: [0.31, 0.02]
    speed:                         # optional: label -> generation speed (samples/s)
      LAGAN: 10176
      Pythia: 34                   # "Monte Carlo" or "Pythia": the simulation's own speed
    speed_note: "images/s on 4 TITAN X"   # optional: units and hardware of `speed`

Metric names are those of ``results.json`` (``w1m``, ``fpd``, ``w1_mass``, ...). A row
whose label equals a run's label is printed under that run's row. A row labelled ``real
vs real`` is printed under the report's real-vs-real row; in a report in sections
(``report.sections``) the row ``<section> · real vs real`` is printed under that section's
(``<section>`` as the report titles it, e.g. ``gluon · real vs real``).

**Units.** A metric's numbers are in units of the reference's ``scales`` entry (1 where it
has none), so they can be copied from the paper as printed. The report shows every number
of a metric in one unit -- the report's ``report.scales`` entry for it, else the
reference's, else 1 -- and converts the reference's numbers to it (value × reference scale
/ report scale); scales are never mixed. ``report.csv`` holds raw numbers (unit 1), the
reference's converted too.

``genhep report --reference`` and the config key ``report.reference`` take a file path or
the name of a table shipped in :mod:`genhep.references` (``sarm_prd2021`` for
``genhep/references/sarm_prd2021.yaml``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from genhep.report.errors import ReportError
from genhep.report.formatting import is_finite
from genhep.report.settings import check_scales

PACKAGE = "genhep.references"
MONTE_CARLO = ("Monte Carlo", "Pythia")
"""Labels of a reference's ``speed`` entry for the Monte Carlo simulation itself."""

Entry = tuple[float | None, float | None]


@dataclass
class Reference:
    """A table of published numbers: label -> metric -> (value, error or None)."""

    source: str
    rows: dict[str, dict[str, Entry]]
    note: str | None = None
    origin: str = ""
    """Where the table was read from (a path, or ``genhep.references/<name>.yaml``)."""
    speed: dict[str, float] = field(default_factory=dict)
    """Label -> published samples/s (``speed_note`` says of what, on what)."""
    speed_note: str | None = None
    scales: dict[str, float] = field(default_factory=dict)
    """Metric -> the unit the table's numbers of it are given in (1 where absent)."""

    def entry(self, label: str, name: str, unit: float = 1.0) -> Entry:
        """The published ``(value, error)`` of ``name`` in row ``label``, in units of ``unit``
        (converted from the table's own unit); ``(None, None)`` where the table has none."""
        value, error = self.rows.get(label, {}).get(name, (None, None))
        factor = self.scales.get(name, 1.0) / unit
        return (
            None if value is None else value * factor,
            None if error is None else error * factor,
        )

    @property
    def monte_carlo_speed(self) -> float | None:
        """The published speed of the Monte Carlo simulation, if the table has one."""
        return next((self.speed[k] for k in MONTE_CARLO if k in self.speed), None)


def reference_names() -> list[str]:
    """The reference tables shipped with genhep, by name."""
    return sorted(
        p.name.removesuffix(".yaml") for p in files(PACKAGE).iterdir() if p.name.endswith(".yaml")
    )


def _read(spec: str | os.PathLike[str]) -> tuple[str, str]:
    """The text of a reference and where it came from: a packaged name wins over a path."""
    name = os.fspath(spec)
    if name in reference_names():
        return (files(PACKAGE) / f"{name}.yaml").read_text(), f"{PACKAGE}/{name}.yaml"
    path = Path(name)
    if not path.is_file():
        raise ReportError(
            f"reference file {path} does not exist (nor is it a packaged reference: "
            f"{', '.join(reference_names())})"
        )
    return path.read_text(), str(path)


def _entry(origin: str, where: str, entry: Any) -> Entry:
    if isinstance(entry, dict):
        entry = [entry.get("value"), entry.get("error")]
    if entry is None or is_finite(entry):
        return (None if entry is None else float(entry), None)
    if isinstance(entry, list | tuple) and len(entry) == 2:
        value, error = entry
        if all(x is None or is_finite(x) for x in entry):
            return (
                None if value is None else float(value),
                None if error is None else float(error),
            )
    raise ReportError(
        f"{origin}: rows.{where} is {entry!r}; expected a number, [value, error] "
        "or {value: ..., error: ...}"
    )


def _speed(origin: str, speed: Any) -> dict[str, float]:
    if speed is None:
        return {}
    if not isinstance(speed, dict):
        raise ReportError(f"{origin}: 'speed' must map labels to samples/s")
    for label, value in speed.items():
        if not is_finite(value):
            raise ReportError(f"{origin}: speed.{label} is {value!r}; expected a number")
    return {str(label): float(value) for label, value in speed.items()}


def load_reference(spec: str | os.PathLike[str]) -> Reference:
    """Read a reference table: a packaged name or a YAML/JSON file (schema above)."""
    text, origin = _read(spec)
    try:
        data = yaml.safe_load(text)  # YAML is a superset of JSON
    except yaml.YAMLError as err:
        raise ReportError(f"cannot parse reference file {origin}: {err}") from err
    if not isinstance(data, dict) or not isinstance(data.get("rows"), dict) or not data["rows"]:
        raise ReportError(
            f"{origin}: a reference file needs 'rows', a mapping label -> metric -> value "
            "or [value, error], and should name its 'source' (schema: genhep/report/reference.py)"
        )
    rows: dict[str, dict[str, Entry]] = {}
    for label, metrics in data["rows"].items():
        if not isinstance(metrics, dict):
            raise ReportError(f"{origin}: rows.{label} must map metric names to values")
        rows[str(label)] = {
            str(name): _entry(origin, f"{label}.{name}", entry) for name, entry in metrics.items()
        }
    return Reference(
        source=str(data.get("source") or Path(origin).name),
        rows=rows,
        note=None if data.get("note") is None else str(data["note"]),
        origin=origin,
        speed=_speed(origin, data.get("speed")),
        speed_note=None if data.get("speed_note") is None else str(data["speed_note"]),
        scales=check_scales(f"{origin}: scales", data.get("scales")),
    )
