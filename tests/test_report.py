"""``genhep report``: run directories in, table (markdown + CSV) and overlay figures out."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from genhep.report import (
    ReportError,
    command,
    error_decimals,
    format_measurement,
    format_rate,
    make_report,
)

from conftest import run_cli

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_run(
    folder: Path,
    overrides: list[str],
    metrics: dict[str, tuple[float, float, float | None]],
    samples_per_s: float = 812.0,
    data: str = "gaussian_mixture",
    split: str = "test",
    observables: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> Path:
    """A run directory as the evaluation callback leaves it (no training)."""
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    results = {
        "model": "mdn",
        "data": data,
        "overrides": [o for o in overrides if not o.startswith("hydra.")],
        "split": split,
        "n_samples": 1000,
        "device": "cpu (2 cores)",
        "sampling": {"samples_per_s": samples_per_s, "batch_size": 1000, "device": "cpu (2 cores)"},
        "metrics": {
            name: {"value": v, "error": e, "real_vs_real": r} for name, (v, e, r) in metrics.items()
        },
    }
    (folder / "results.json").write_text(json.dumps(results))
    if observables:
        arrays = {f"generated/{k}": g for k, (g, _) in observables.items()}
        arrays.update({f"real/{k}": r for k, (_, r) in observables.items()})
        (folder / "observables").mkdir()
        np.savez(folder / "observables" / f"{split}.npz", **arrays)
    return folder


def write_failed_run(folder: Path, overrides: list[str], message: str) -> Path:
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    failure = {"error": "ValueError", "message": message, "traceback": "Traceback ..."}
    (folder / "failure.json").write_text(json.dumps(failure))
    return folder


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """Three finished jobs (n_components 1, 5, 10) and one failed job (n_components 7)."""
    root = tmp_path / "multiruns" / "2026-01-01_00-00-00"
    rng = np.random.default_rng(0)
    real = {"x0": rng.normal(size=2000), "x1": rng.exponential(size=2000)}
    for job, (n, w1, speed) in enumerate(
        [(1, 0.10767, 1234.5), (5, 0.05, 2000.0), (10, 0.04, 99.0)]
    ):
        observables = {k: (v + w1 * rng.normal(size=v.size), v) for k, v in real.items()}
        write_run(
            root / str(job),
            [f"model.n_components={n}", "trainer.max_epochs=3", "hydra.job.chdir=false"],
            {"w1_x0": (w1, 0.0285, 0.0331), "nll_true": (2.7333, 0.0227, 2.6305)},
            samples_per_s=speed,
            observables=observables,
        )
    write_failed_run(
        root / "3",
        ["model.n_components=7", "trainer.max_epochs=3"],
        "loss is nan at step 12\nmore detail",
    )
    return root


def table_lines(markdown: str) -> list[list[str]]:
    rows = [line for line in markdown.splitlines() if line.startswith("| ")]
    return [[c.strip() for c in line.strip("|").split(" | ")] for line in rows]


def test_measurement_formatting():
    assert format_measurement(0.10767, 0.0285) == "0.108 ± 0.028"
    assert format_measurement(11.268261, 0.198719) == "11.27 ± 0.20"
    assert format_measurement(0.5, 0.0996) == "0.50 ± 0.10"  # rounding carries a digit
    assert format_measurement(4567.0, 123.0) == "4570 ± 120"
    assert format_measurement(3.1e-6, 1.2e-7) == "(3.10 ± 0.12)e-06"
    assert format_measurement(-0.0001, 0.02) == "0.000 ± 0.020"
    assert format_measurement(1.23456, None) == "1.235"
    assert format_measurement(1.23456, 0.0) == "1.235"
    assert format_measurement(float("nan"), 0.1) == "n/a"
    assert format_measurement(None, None) == "n/a"
    assert error_decimals(0.0285) == 3 and error_decimals(123.0) == -1
    assert format_rate(561265.7) == "561,000" and format_rate(81.234) == "81.2"


def test_table_rows_columns_and_labels(sweep, capsys):
    command([str(sweep)])
    printed = capsys.readouterr().out
    markdown = (sweep / "report.md").read_text()
    header, _, *rows = table_lines(markdown)
    assert header == ["run", "w1_x0", "nll_true", "samples/s"]
    # only the differing override labels the rows; common and hydra.* ones are dropped
    assert [r[0] for r in rows] == [
        "model.n_components=1",
        "model.n_components=5",
        "model.n_components=10",
        "model.n_components=7 (failed)",
        "real vs real",
    ]
    assert rows[0] == ["model.n_components=1", "0.108 ± 0.028", "2.733 ± 0.023", "1,230"]
    assert rows[2][-1] == "99"
    assert rows[3][1:] == ["—"] * 3
    assert rows[4] == ["real vs real", "0.033", "2.630", "—"]  # 2.6305, half to even
    assert "common overrides: `trainer.max_epochs=3`" in markdown
    assert "hydra.job.chdir" not in markdown
    # the failed job's error is named, with where to read more
    assert "model.n_components=7 failed: ValueError: loss is nan at step 12" in markdown
    assert str(sweep / "3" / "failure.json") in markdown
    # the terminal shows the same table
    assert "| model.n_components=5 | 0.050 ± 0.028 | 2.733 ± 0.023 | 2,000 |" in printed
    assert f"to {sweep}" in printed


def test_real_vs_real_disagreement_is_a_footnoted_mean(tmp_path):
    write_run(tmp_path / "0", ["seed=1"], {"w1": (0.2, 0.01, 0.10)})
    write_run(tmp_path / "1", ["seed=2"], {"w1": (0.3, 0.01, 0.12)})
    report = make_report([tmp_path], figures=False)
    assert report.real_vs_real["w1"] == pytest.approx(0.11)
    markdown = (tmp_path / "report.md").read_text()
    assert table_lines(markdown)[-1] == ["real vs real", "0.110 †", "—"]
    assert "the runs disagree on the real-vs-real value (0.1 to 0.12)" in markdown
    assert "mean of 2 runs" in markdown


def test_csv_parses_back_to_the_numbers(sweep):
    make_report([sweep], figures=False)
    rows = list(csv.DictReader((sweep / "report.csv").open()))
    assert list(rows[0])[:10] == [
        "label",
        "kind",
        "run_dir",
        "model",
        "data",
        "split",
        "w1_x0",
        "w1_x0_error",
        "nll_true",
        "nll_true_error",
    ]
    assert [r["kind"] for r in rows] == ["ok", "ok", "ok", "failed", "real_vs_real"]
    first = json.loads((sweep / "0" / "results.json").read_text())
    assert float(rows[0]["w1_x0"]) == first["metrics"]["w1_x0"]["value"]
    assert float(rows[0]["w1_x0_error"]) == first["metrics"]["w1_x0"]["error"]
    assert float(rows[0]["samples_per_s"]) == first["sampling"]["samples_per_s"]
    assert rows[0]["run_dir"] == str(sweep / "0")
    assert rows[3]["w1_x0"] == "" and "loss is nan at step 12" in rows[3]["note"]
    assert float(rows[4]["nll_true"]) == 2.6305 and rows[4]["nll_true_error"] == ""


def test_reference_table_is_written_beside_ours(sweep, tmp_path, capsys):
    reference = tmp_path / "paper.yaml"
    reference.write_text(
        yaml.safe_dump(
            {
                "source": "Lu et al. PRD 103 036012 (2021), Table II",
                "rows": {
                    "SARM": {"w1_x0": [0.0912, 0.0049], "nll_true": 2.7},
                    "LAGAN": {"w1_x0": {"value": 0.31, "error": 0.02}, "w1_mass": 1.5},
                },
            }
        )
    )
    command([str(sweep), "--reference", str(reference)])
    captured = capsys.readouterr()
    for text in (captured.out, (sweep / "report.md").read_text()):
        assert "Reference: Lu et al. PRD 103 036012 (2021), Table II" in text
        assert "| SARM | 0.0912 ± 0.0049 | 2.7 | — |" in text
        assert "| LAGAN | 0.310 ± 0.020 | — | 1.5 |" in text
    assert "reference metrics not in the runs' results: w1_mass" in captured.err
    rows = list(csv.DictReader((sweep / "report.csv").open()))
    sarm = next(r for r in rows if r["label"] == "SARM")
    assert sarm["kind"] == "reference" and float(sarm["w1_x0_error"]) == 0.0049
    assert float(next(r for r in rows if r["label"] == "LAGAN")["w1_mass"]) == 1.5


def test_bad_reference_file_names_the_entry(sweep, tmp_path, capsys):
    reference = tmp_path / "paper.json"
    reference.write_text(json.dumps({"source": "x", "rows": {"SARM": {"w1_x0": "small"}}}))
    with pytest.raises(SystemExit) as info:
        command([str(sweep), "--reference", str(reference)])
    assert info.value.code == 2
    assert "rows.SARM.w1_x0 is 'small'" in capsys.readouterr().err


def test_overlay_figures_and_no_temporary_files(sweep):
    report = make_report([sweep])
    assert sorted(p.name for p in report.figures) == ["x0.png", "x1.png"]
    for name in ("x0", "x1"):
        assert (sweep / "figures" / f"{name}.png").read_bytes()[:8] == PNG_MAGIC
    assert "![x0](figures/x0.png)" in (sweep / "report.md").read_text()
    leftovers = [p for p in sweep.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_run_dirs_given_one_by_one_and_out(tmp_path):
    a = write_run(
        tmp_path / "a" / "run", ["model=mdn", "data.n_events=100"], {"w1": (1.0, 0.1, 0.5)}
    )
    b = write_run(
        tmp_path / "b" / "run", ["model=mdn", "data.n_events=900"], {"w1": (2.0, 0.1, 0.5)}
    )
    report = make_report([a, b], figures=False)
    assert report.out == tmp_path  # the common parent
    assert [r.label for r in report.runs] == ["data.n_events=100", "data.n_events=900"]
    make_report([a, b], out=tmp_path / "elsewhere", figures=False)
    assert (tmp_path / "elsewhere" / "report.md").is_file()
    # identical overrides: folder names tell the rows apart
    c = write_run(tmp_path / "c", ["model=mdn"], {"w1": (1.0, 0.1, 0.5)})
    d = write_run(tmp_path / "d", ["model=mdn"], {"w1": (1.0, 0.1, 0.5)})
    assert [r.label for r in make_report([c, d], figures=False).runs] == ["c", "d"]


def test_clear_errors(tmp_path, capsys):
    (tmp_path / "empty" / "0").mkdir(parents=True)
    with pytest.raises(ReportError, match=r"no results.json in or below .*empty.*expected a run"):
        make_report([tmp_path / "empty"])
    with pytest.raises(SystemExit) as info:
        command([str(tmp_path / "nowhere")])
    assert info.value.code == 2
    assert f"{tmp_path / 'nowhere'} does not exist" in capsys.readouterr().err


def test_mixed_families_warn_but_share_one_table(tmp_path, capsys):
    write_run(tmp_path / "0", ["data=gaussian_mixture"], {"w1_x0": (0.1, 0.01, 0.05)})
    write_run(tmp_path / "1", ["data=jet_images"], {"w1_mass": (1.0, 0.1, 0.3)}, data="jet_images")
    command([str(tmp_path), "--no-figures"])
    err = capsys.readouterr().err
    assert "different data families (gaussian_mixture: 1 run, jet_images: 1 run)" in err
    header, _, *rows = table_lines((tmp_path / "report.md").read_text())
    assert header == ["run", "w1_x0", "w1_mass", "samples/s"]
    assert rows[0][:3] == ["data=gaussian_mixture", "0.100 ± 0.010", "—"]
    assert rows[1][:3] == ["data=jet_images", "—", "1.00 ± 0.10"]


def test_split_choice(tmp_path):
    write_run(tmp_path / "0", ["x=1"], {"w1": (0.1, 0.01, 0.05)}, split="val")
    write_run(tmp_path / "1", ["x=2"], {"w1": (0.2, 0.01, 0.05)}, split="test")
    report = make_report([tmp_path], split="val", figures=False)
    assert [r.status for r in report.runs] == ["ok", "missing"]
    assert "no val results: its results.json holds the test evaluation" in report.runs[1].problem
    report = make_report([tmp_path], figures=False)
    assert report.split == "test" and any("different splits" in w for w in report.warnings)


def test_cli_report_of_a_real_two_job_sweep(tmp_path, capsys):
    proc = run_cli(
        [
            "train",
            "-m",
            "model.n_components=1,3",
            "trainer.max_epochs=1",
            "data.n_events=2000",
            "callbacks.evaluation.n_samples=300",
            "callbacks.evaluation.progress=false",
            "~callbacks.progress_bar",
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    [sweep] = [p.parent for p in tmp_path.rglob("multirun.yaml")]
    from genhep.cli import main as genhep

    genhep(["report", str(sweep)])  # in process: the same command, without a second start-up
    header, _, *rows = table_lines((sweep / "report.md").read_text())
    assert [r[0] for r in rows] == ["model.n_components=1", "model.n_components=3", "real vs real"]
    assert header[0] == "run" and header[-1] == "samples/s" and "w1_mean" in header
    assert all("±" in cell for cell in rows[0][1:-1])
    assert "| model.n_components=3 |" in capsys.readouterr().out
    observables = np.load(sweep / "0" / "observables" / "test.npz").files
    names = sorted(k.split("/", 1)[1] for k in observables if k.startswith("generated/"))
    assert names and sorted(p.stem for p in (sweep / "figures").glob("*.png")) == names
