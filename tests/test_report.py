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
    load_reference,
    make_report,
    reference_names,
)

from conftest import run_cli

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_config(overrides: list[str], **changes: object) -> dict[str, object]:
    """A run's composed config, as Hydra saves it: the defaults, the overrides applied
    (``a.b=c`` sets ``{"a": {"b": c}}``), then ``changes`` (dotted keys)."""
    config: dict[str, object] = {
        "seed": 42,
        "label": None,
        "report": {"reference": None, "columns": None, "average_over": []},
    }
    settings = [o.lstrip("+") for o in overrides if "=" in o and not o.startswith("hydra.")]
    pairs = [(k, yaml.safe_load(v)) for k, v in (o.split("=", 1) for o in settings)]
    for key, value in [*pairs, *changes.items()]:
        *parents, leaf = key.split(".")
        node = config
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return config


def write_run(
    folder: Path,
    overrides: list[str],
    metrics: dict[str, tuple[float, float, float | None]],
    samples_per_s: float = 812.0,
    data: str = "gaussian_mixture",
    split: str = "test",
    observables: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    config: dict[str, object] | None = None,
    monte_carlo: dict[str, object] | None = None,
    likelihood: dict[str, object] | None = None,
) -> Path:
    """A run directory as the evaluation callback leaves it (no training); ``config``
    defaults to :func:`run_config` of the overrides."""
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    config = run_config(overrides) if config is None else config
    (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
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
    if monte_carlo is not None:
        results["monte_carlo"] = monte_carlo
    if likelihood is not None:
        results["likelihood"] = likelihood
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
    # an error at float rounding's level (equal batches' spread) is no error
    assert format_measurement(0.009999999999999998, 1.7e-18) == "0.01"
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
    assert list(rows[0])[:11] == [
        "label",
        "kind",
        "run_dir",
        "model",
        "data",
        "split",
        "section",
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
        assert "| LAGAN | 0.31 ± 0.02 | — | 1.5 |" in text  # as published
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
        assert (sweep / "figures" / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
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
    main_table = (sweep / "report.md").read_text().split("\n### ")[0]
    header, _, *rows = table_lines(main_table)
    assert [r[0] for r in rows] == ["model.n_components=1", "model.n_components=3", "real vs real"]
    assert header[0] == "run" and header[-1] == "samples/s" and "w1_mean" in header
    assert all("±" in cell for cell in rows[0][1:-1])
    assert "| model.n_components=3 |" in capsys.readouterr().out
    # the two jobs' saved configs differ in the swept key only: averaging over it merges them
    report = make_report(
        [sweep], out=tmp_path / "averaged", figures=False, average_over=["model.n_components"]
    )
    assert [row.n for row in report.rows] == [2] and report.warnings == []
    observables = np.load(sweep / "0" / "observables" / "test.npz").files
    names = sorted(k.split("/", 1)[1] for k in observables if k.startswith("generated/"))
    assert names and sorted(p.stem for p in (sweep / "figures").glob("*.png")) == names


# --------------------------------------------------------------------------- config-driven

PAPER_COLUMNS = ["w1_pt_signal", "w1_pt_background", "w1_mass_signal", "w1_mass_background"]
MC = {"samples_per_s": 40.0, "cores": 16, "source": "Pythia 8.317 + FastJet 3.4"}


def image_metrics(shift: float) -> dict[str, tuple[float, float, float | None]]:
    """The metrics a jet-image run writes, the classification test first (as results.json)."""
    metrics = {"auc_classification": (0.6 + shift, 0.01, 0.5), "w1_tau21": (0.02, 0.001, 0.01)}
    for i, name in enumerate(PAPER_COLUMNS):
        metrics[name] = (1.0 + i + shift, 0.05, 0.3)
    return metrics


def write_image_run(folder: Path, label: str, shift: float, **config: object) -> Path:
    """A jet-image run labelled ``label`` in its config (``config``: more dotted settings)."""
    overrides = [f"model={label.split()[0].lower()}", f"trainer.max_epochs={int(shift * 10)}"]
    return write_run(
        folder,
        overrides,
        image_metrics(shift),
        samples_per_s=1000.0 * (1 + shift),
        data="jet_images",
        config=run_config(overrides, label=label, **config),
        monte_carlo=MC,
    )


def test_label_from_the_config(tmp_path):
    write_run(
        tmp_path / "0",
        ["model=sarm"],
        {"w1": (1.0, 0.1, 0.5)},
        config=run_config(["model=sarm"], label="SARM-2 (D+D)"),
    )
    write_run(tmp_path / "1", ["model=lagan"], {"w1": (2.0, 0.1, 0.5)})
    # an interpolation in the label is resolved against the run's config
    config = run_config(
        ["model=pixelcnn"], label="${network.name}++", **{"network.name": "PixelCNN"}
    )
    write_run(tmp_path / "2", ["model=pixelcnn"], {"w1": (3.0, 0.1, 0.5)}, config=config)
    # equal labels stay apart by their folders
    for job in (3, 4):
        config = run_config([f"seed={job}"], label="LAGAN")
        write_run(tmp_path / str(job), [f"seed={job}"], {"w1": (2.0, 0.1, 0.5)}, config=config)
    report = make_report([tmp_path], figures=False)
    assert [r.label for r in report.runs] == [
        "SARM-2 (D+D)",
        "model=lagan",
        "PixelCNN++",
        "LAGAN [3]",
        "LAGAN [4]",
    ]
    rows = table_lines((tmp_path / "report.md").read_text())[2:]
    assert rows[0][:2] == ["SARM-2 (D+D)", "1.00 ± 0.10"]


@pytest.fixture
def images(tmp_path: Path) -> Path:
    """LAGAN and SARM-2 (D+D) runs whose configs name the packaged reference and columns."""
    report = {"report.reference": "sarm_prd2021", "report.columns": PAPER_COLUMNS}
    write_image_run(tmp_path / "0", "LAGAN", 0.0, **report)
    write_image_run(tmp_path / "1", "SARM-2 (D+D)", 0.1, **report)
    return tmp_path


def test_paper_layout_from_the_configs(images, capsys):
    command([str(images), "--no-figures"])
    captured = capsys.readouterr()
    markdown = (images / "report.md").read_text()
    assert "Other metrics" in captured.out and "Generation speed" in captured.out
    # the main table: the configs' columns in their order, each paper row under ours
    main = markdown.split("### ")[0]
    header, _, *rows = table_lines(main)
    assert header == ["run", *PAPER_COLUMNS]
    assert rows == [
        ["LAGAN", "1.000 ± 0.050", "2.000 ± 0.050", "3.000 ± 0.050", "4.000 ± 0.050"],
        ["LAGAN (reference)", "3.15", "3.29", "1.45", "1.39"],
        ["SARM-2 (D+D)", "1.100 ± 0.050", "2.100 ± 0.050", "3.100 ± 0.050", "4.100 ± 0.050"],
        ["SARM-2 (D+D) (reference)", "1.44", "1.66", "0.94", "0.92"],
        ["real vs real", "0.300", "0.300", "0.300", "0.300"],
    ]
    assert "rows '… (reference)': Lu, Collado, Whiteson, Baldi" in main
    # the classification test and the rest in the second table, in results.json order
    other = markdown.split("### Other metrics")[1].split("### ")[0]
    header, _, *rows = table_lines(other)
    assert header == ["run", "auc_classification", "w1_tau21"]
    assert [r[0] for r in rows] == ["LAGAN", "SARM-2 (D+D)", "real vs real"]
    assert rows[1][1] == "0.700 ± 0.010"
    # the whole paper table too
    assert "### Reference: Lu, Collado, Whiteson, Baldi, Phys. Rev. D 103, 036012" in markdown
    assert "| SARM-1 (D+C) | 2.33 | 2.46 | 1.07 | 1.54 |" in markdown
    assert "warning" not in captured.err


def test_columns_option_wins_over_the_configs(images):
    make_report([images], figures=False, columns=["w1_mass_signal", "auc_classification"])
    header = table_lines((images / "report.md").read_text())[0]
    assert header == ["run", "w1_mass_signal", "auc_classification"]
    other = (images / "report.md").read_text().split("### Other metrics")[1]
    assert table_lines(other)[0] == [
        "run",
        "w1_tau21",
        "w1_pt_signal",
        "w1_pt_background",
        "w1_mass_background",
    ]


def test_reference_option_wins_and_disagreement_warns(images, tmp_path, capsys):
    mine = tmp_path / "mine.yaml"
    mine.write_text(yaml.safe_dump({"source": "my notes", "rows": {"LAGAN": {"w1_tau21": 9.0}}}))
    report = make_report([images], reference=mine, figures=False)
    assert report.reference is not None and report.reference.source == "my notes"
    assert ["LAGAN (reference)", "—", "9"] in table_lines((images / "report.md").read_text())
    # a packaged name on the command line
    assert make_report([images], reference="sarm_orders", figures=False).reference.rows["row-wise"][
        "w1_pt"
    ] == (3.06, 0.30)
    # runs whose configs disagree: no reference, a warning naming both
    write_image_run(images / "2", "SARM-1 (D+D)", 0.2, **{"report.reference": "sarm_orders"})
    command([str(images), "--no-figures"])
    captured = capsys.readouterr()
    assert "configs disagree on report.reference" in captured.err
    assert '"sarm_prd2021"' in captured.err and '"sarm_orders"' in captured.err
    assert "Reference:" not in (images / "report.md").read_text()
    with pytest.raises(
        ReportError,
        match="packaged reference: calochallenge_ds1_photons, jetnet_diffusion_unchecked, "
        "mpgan_neurips2021, sarm_orders, sarm_prd2021",
    ):
        make_report([images], reference="sarm_prd2022", figures=False)


def test_average_over_seeds_is_mean_and_std(tmp_path):
    values = {"A": [0.31, 0.27, 0.35], "B": [0.52, 0.61, 0.55]}
    speeds = {"A": [100.0, 110.0, 120.0], "B": [50.0, 70.0, 60.0]}
    job = 0
    for model, per_seed in values.items():
        for seed, (value, speed) in enumerate(zip(per_seed, speeds[model], strict=True)):
            overrides = [f"model.name={model}", f"seed={seed}"]
            config = run_config(overrides, **{"report.average_over": ["seed"]})
            metrics = {"w1": (value, 0.01, 0.1), "kpd": (value / 10, 0.001, 0.01)}
            write_run(tmp_path / str(job), overrides, metrics, speed, config=config)
            job += 1
    write_failed_run(tmp_path / str(job), ["model.name=B", "seed=3"], "loss is nan")
    report = make_report([tmp_path], figures=False)
    header, _, *rows = table_lines((tmp_path / "report.md").read_text())
    assert header == ["run", "runs", "w1", "kpd", "samples/s"]
    assert [r.label for r in report.rows] == ["model.name=A", "model.name=B", "model.name=B seed=3"]
    for row, model in zip(rows, values, strict=False):
        mean, std = np.mean(values[model]), np.std(values[model], ddof=1)
        assert row[:3] == [f"model.name={model}", "3", format_measurement(mean, std)]
        assert row[3] == format_measurement(mean / 10, std / 10)
        assert row[4] == format_rate(np.mean(speeds[model]))
    assert rows[2][:2] == ["model.name=B seed=3 (failed)", "1"]
    assert "- averaged over: seed" in (tmp_path / "report.md").read_text()
    lines = list(csv.DictReader((tmp_path / "report.csv").open()))
    [mean_b] = [r for r in lines if r["kind"] == "mean" and r["label"] == "model.name=B"]
    assert float(mean_b["w1"]) == pytest.approx(np.mean(values["B"]), rel=1e-12)
    assert float(mean_b["w1_error"]) == pytest.approx(np.std(values["B"], ddof=1), rel=1e-12)
    assert mean_b["n_runs"] == "3" and float(mean_b["samples_per_s"]) == 60.0
    # the option wins over the configs: no averaging asked, one row per run
    report = make_report([tmp_path], figures=False, average_over=[])
    assert [r.n for r in report.rows] == [1] * 7 and "runs" not in table_lines(
        (tmp_path / "report.md").read_text()
    )[0]


def test_average_over_keeps_runs_with_other_differences_apart(tmp_path):
    for job, (seed, lr) in enumerate([(1, 0.1), (2, 0.1), (1, 0.2)]):
        overrides = [f"seed={seed}"]
        config = run_config(overrides, **{"model.lr": lr})
        write_run(
            tmp_path / str(job), overrides, {"w1": (0.1 * (job + 1), 0.01, 0.1)}, config=config
        )
    report = make_report([tmp_path], figures=False, average_over=["seed"])
    assert [[r.path.name for r in row.runs] for row in report.rows] == [["0", "1"], ["2"]]
    # no override tells the rows apart: their folders do
    assert [row.label for row in report.rows] == ["0, 1", "2"]


def test_speed_table_with_monte_carlo_and_reference(images, capsys):
    command([str(images), "--no-figures"])
    printed = capsys.readouterr().out
    speed = printed.split("### Generation speed")[1].split("### ")[0]
    header, _, *rows = table_lines(speed)
    assert header == ["run", "samples/s", "device", "batch size", "× Monte Carlo", "reference"]
    assert rows == [
        ["LAGAN", "1,000", "cpu (2 cores)", "1000", "25", "10,200"],
        ["SARM-2 (D+D)", "1,100", "cpu (2 cores)", "1000", "27.5", "1,610"],
        ["PixelCNN++", "—", "—", "—", "—", "50"],
        ["SARM-2 (D+C)", "—", "—", "—", "—", "2,480"],
        ["Monte Carlo (Pythia 8.317 + FastJet 3.4)", "40", "cpu (16 cores)", "—", "1", "34"],
    ]
    assert "reference: images/s, neural networks on 4 TITAN X (12 GB each); Pythia on CPU" in speed
    # the speed column left the main table
    assert table_lines(printed)[0] == ["run", *PAPER_COLUMNS]
    lines = list(csv.DictReader((images / "report.csv").open()))
    [mc] = [r for r in lines if r["kind"] == "monte_carlo"]
    assert float(mc["samples_per_s"]) == 40.0 and mc["note"] == MC["source"]
    pythia = next(r for r in lines if r["label"] == "Pythia")
    assert pythia["kind"] == "reference" and float(pythia["samples_per_s"]) == 34.0


def test_runs_disagreeing_on_monte_carlo_list_each(tmp_path):
    for job, cores in enumerate((16, 8)):
        mc = {**MC, "cores": cores, "samples_per_s": 40.0 * cores / 16}
        write_run(
            tmp_path / str(job), [f"x={job}"], {"w1": (0.1, 0.01, 0.05)}, 100.0, monte_carlo=mc
        )
    markdown = (make_report([tmp_path], figures=False).out / "report.md").read_text()
    header, _, *rows = table_lines(markdown.split("### Generation speed")[1])
    assert header == ["run", "samples/s", "device", "batch size", "× Monte Carlo"]
    assert [r[-1] for r in rows] == ["2.5", "5", "1", "1"]  # each run over its own Monte Carlo
    assert [r[2] for r in rows[2:]] == ["cpu (16 cores)", "cpu (8 cores)"]
    assert "different Monte Carlo speeds" in markdown


def test_packaged_references_hold_the_papers_numbers():
    assert {"sarm_prd2021", "sarm_orders", "mpgan_neurips2021"} <= set(reference_names())
    paper = load_reference("sarm_prd2021")
    assert list(paper.rows) == [
        "LAGAN",
        "PixelCNN++",
        "SARM-1 (D+C)",
        "SARM-2 (D+C)",
        "SARM-1 (D+D)",
        "SARM-2 (D+D)",
    ]
    assert all(list(row) == PAPER_COLUMNS for row in paper.rows.values())
    assert paper.rows["LAGAN"]["w1_pt_signal"] == (3.15, None)
    assert paper.rows["PixelCNN++"]["w1_mass_background"] == (1.56, None)
    assert paper.rows["SARM-2 (D+C)"]["w1_pt_background"] == (2.71, None)
    assert paper.rows["SARM-1 (D+D)"]["w1_mass_background"] == (2.45, None)
    assert paper.rows["SARM-2 (D+D)"]["w1_mass_signal"] == (0.94, None)
    assert all(error is None for row in paper.rows.values() for _, error in row.values())
    assert paper.speed == {
        "Pythia": 34,
        "PixelCNN++": 50,
        "SARM-2 (D+D)": 1612,
        "SARM-2 (D+C)": 2480,
        "LAGAN": 10176,
    }
    assert paper.monte_carlo_speed == 34
    assert "4 TITAN X" in paper.speed_note and "400k" in paper.note
    orders = load_reference("sarm_orders")
    assert list(orders.rows) == [
        "spiral-out CCW",
        "spiral-out CW",
        "spiral-in CCW",
        "spiral-in CW",
        "row-wise",
        "column-wise",
        "random I",
        "random II",
    ]
    assert orders.rows["spiral-out CCW"] == {"w1_pt": (1.94, 0.09), "w1_mass": (1.38, 0.10)}
    assert orders.rows["spiral-in CCW"]["w1_pt"] == (3.64, 0.32)
    assert orders.rows["column-wise"]["w1_mass"] == (1.90, 0.08)
    assert orders.rows["random I"] == {"w1_pt": (4.05, None), "w1_mass": (1.74, 0.53)}
    assert orders.rows["random II"]["w1_pt"] == (3.41, 0.33)
    assert "not legible" in orders.note


def test_a_setting_of_the_wrong_type_names_the_config(tmp_path):
    config = run_config(["x=1"], **{"report.columns": "w1,kpd"})
    write_run(tmp_path / "0", ["x=1"], {"w1": (0.1, 0.01, 0.05)}, config=config)
    with pytest.raises(ReportError, match=r"0/.hydra/config.yaml: report.columns is 'w1,kpd'"):
        make_report([tmp_path], figures=False)
    # a setting the configs disagree on is dropped with a warning
    config = run_config(["x=2"], **{"report.columns": ["w1"]})
    write_run(tmp_path / "1", ["x=2"], {"w1": (0.2, 0.01, 0.05)}, config=config)
    (tmp_path / "0" / ".hydra" / "config.yaml").write_text(yaml.safe_dump(run_config(["x=1"])))
    report = make_report([tmp_path], figures=False)
    assert report.columns == ["w1"] and report.others == []
    assert any('disagree on report.columns (null, ["w1"])' in w for w in report.warnings)


def test_likelihood_table_labels_the_kind_of_log_prob(tmp_path):
    exact = {"kind": "exact", "meaning": "exact log-density", "loss": 2.0, "bits_per_dim": 1.4427}
    bound = {"kind": "bound", "meaning": "lower bound of the log-likelihood (ELBO)"}
    write_run(tmp_path / "0", ["model=mdn"], {"w1": (0.2, 0.01, 0.1)}, likelihood=exact)
    write_run(
        tmp_path / "1",
        ["model=vae"],
        {"w1": (0.3, 0.01, 0.1)},
        likelihood={**bound, "loss": 3.0, "bits_per_dim": 2.1640},
    )
    write_run(tmp_path / "2", ["model=gan"], {"w1": (0.4, 0.01, 0.1)})
    command([str(tmp_path)])
    markdown = (tmp_path / "report.md").read_text()
    section = markdown[markdown.index("Likelihood") :]
    rows = table_lines(section)
    assert rows[0] == ["run", "log p", "bits/dim (test)"]
    assert rows[2:4] == [["model=mdn", "exact", "1.44"], ["model=vae", "bound", "2.16"]]
    assert "bound: lower bound of the log-likelihood (ELBO)." in section
    assert "not comparable" in section


# --------------------------------------------------------------------------- MPGAN's Table 2

JETS = {"g": "gluon", "q": "light quark", "t": "top"}
MPGAN_REPORT = {
    "report.reference": "mpgan_neurips2021",
    "report.columns": ["w1m", "w1p", "w1efp", "fpnd", "cov", "mmd"],
    "report.sections": "data.jet_type",
    "report.section_labels": JETS,
    "report.scales": {"w1m": 1.0e-3, "w1p": 1.0e-3, "w1efp": 1.0e-5},
}


def write_jet_run(
    folder: Path, jet: str, pair: str, w1m: float, rvr: float, **report: object
) -> Path:
    """A JetNet run of generator/discriminator ``pair`` on ``jet`` jets: W1M ``w1m`` ±
    ``w1m / 10`` against the real-vs-real ``rvr`` (the jet type's), labelled as MPGAN's rows."""
    overrides = [f"data.jet_type={jet}", f"model.pair={pair.replace(' / ', '-')}"]
    metrics = {
        "w1m": (w1m, w1m / 10, rvr),
        "w1p": (2 * w1m, 0.2 * w1m, 2 * rvr),
        "w1efp": (w1m / 100, w1m / 1000, rvr / 100),
        "fpnd": (0.12, float("nan"), 0.01),
        "cov": (0.56, 0.01, 0.6),
        "mmd": (0.037, 0.001, 0.03),
        "fpd": (0.3e-3, 0.06e-3, 0.08e-3),
        "kpd": (-0.001e-3, 0.004e-3, -0.006e-3),
    }
    config = run_config(overrides, label=f"{JETS[jet]} · {pair}", **report)
    return write_run(folder, overrides, metrics, data="jetnet", config=config)


@pytest.fixture
def jets(tmp_path: Path) -> Path:
    """MP / MP and FC / PointNet on gluon, top and light-quark jets (in that order), each
    jet type with its own real-vs-real W1M; and a failed top job (no config)."""
    rvr = {"g": 0.7e-3, "q": 0.5e-3, "t": 0.51e-3}
    job = 0
    for jet in ("g", "t", "q"):
        for pair, w1m in (("MP / MP", 0.8e-3), ("FC / PointNet", 2.0e-3)):
            write_jet_run(tmp_path / str(job), jet, pair, w1m, rvr[jet], **MPGAN_REPORT)
            job += 1
    write_failed_run(tmp_path / str(job), ["data.jet_type=t", "model.pair=MP-PointNet"], "nan")
    return tmp_path


def test_sections_have_their_own_real_vs_real_rows(jets, capsys):
    command([str(jets), "--no-figures"])
    captured = capsys.readouterr()
    assert "warning" not in captured.err
    markdown = (jets / "report.md").read_text()
    main = markdown.split("### ")[0]
    header, _, *rows = table_lines(main)
    assert header == ["run", "w1m (×10⁻³)", "w1p (×10⁻³)", "w1efp (×10⁻⁵)", "fpnd", "cov", "mmd"]
    firsts = [r[0] for r in rows]
    # blocks in order of first appearance, the failed job (no config) by its override
    assert firsts == [
        "**gluon**",
        "gluon · MP / MP",
        "gluon · MP / MP (reference)",
        "gluon · FC / PointNet",
        "gluon · FC / PointNet (reference)",
        "real vs real",
        "real vs real (reference)",
        "**top**",
        "top · MP / MP",
        "top · MP / MP (reference)",
        "top · FC / PointNet",
        "top · FC / PointNet (reference)",
        "data.jet_type=t model.pair=MP-PointNet (failed)",
        "real vs real",
        "real vs real (reference)",
        "**light quark**",
        "light quark · MP / MP",
        "light quark · MP / MP (reference)",
        "light quark · FC / PointNet",
        "light quark · FC / PointNet (reference)",
        "real vs real",
        "real vs real (reference)",
    ]
    by_block = {}
    for row in rows:
        if row[0].startswith("**"):
            block = row[0].strip("*")
        by_block.setdefault(block, []).append(row)
    # each section's real-vs-real row is its own runs' value, without a dagger
    rvr = [r for r in by_block["gluon"] if r[0] == "real vs real"][0]
    assert rvr[1:4] == ["0.700", "1.40", "0.700"]  # to the errors' decimals
    assert [r for r in by_block["top"] if r[0] == "real vs real"][0][1] == "0.510"
    assert [r for r in by_block["light quark"] if r[0] == "real vs real"][0][1] == "0.500"
    assert "†" not in main and "disagree" not in main
    # the published real-vs-real numbers of the section under ours
    published = [r for r in by_block["top"] if r[0] == "real vs real (reference)"][0]
    assert published[1:4] == ["0.51 ± 0.07", "0.55 ± 0.07", "1.1 ± 0.1"]
    # values and errors in the columns' units; the paper's numbers as published
    assert by_block["gluon"][1][1:4] == ["0.800 ± 0.080", "1.60 ± 0.16", "0.800 ± 0.080"]
    assert by_block["gluon"][2][1:7] == [
        "0.7 ± 0.2",
        "0.9 ± 0.3",
        "0.7 ± 0.2",
        "0.12",
        "0.56",
        "0.037",
    ]
    assert "- sections by data.jet_type: gluon, top, light quark" in markdown
    # the CSV: a section column, one real-vs-real line per section, raw numbers
    lines = list(csv.DictReader((jets / "report.csv").open()))
    rvr_lines = [r for r in lines if r["kind"] == "real_vs_real"]
    assert [r["section"] for r in rvr_lines] == ["gluon", "top", "light quark"]
    assert [float(r["w1m"]) for r in rvr_lines] == pytest.approx([0.7e-3, 0.51e-3, 0.5e-3])
    first = next(r for r in lines if r["label"] == "gluon · MP / MP")
    assert first["section"] == "gluon" and float(first["w1m"]) == 0.8e-3
    assert float(first["w1m_error"]) == pytest.approx(0.8e-4, rel=1e-12)
    failed = next(r for r in lines if r["kind"] == "failed")
    assert failed["section"] == "top"
    paper = next(r for r in lines if r["label"] == "top · real vs real")
    assert paper["kind"] == "reference" and paper["section"] == "top"
    assert float(paper["w1m"]) == pytest.approx(0.51e-3) and float(paper["w1efp"]) == (
        pytest.approx(1.1e-5)
    )


def test_sections_option_and_labels_from_the_command_line(tmp_path):
    for job, (jet, rvr) in enumerate([("g", 0.1), ("g", 0.1), ("q", 0.3)]):
        overrides = [f"data.jet_type={jet}", f"seed={job}"]
        write_run(tmp_path / str(job), overrides, {"w1": (0.2 + job, 0.01, rvr)})
    # one real-vs-real row for all: the runs disagree
    report = make_report([tmp_path], figures=False)
    assert report.sections == [] and "w1" in report.real_vs_real_spread
    command([str(tmp_path), "--no-figures", "--sections", "data.jet_type"])
    rows = table_lines((tmp_path / "report.md").read_text())[2:]
    assert [r[0] for r in rows] == [
        "**g**",
        "data.jet_type=g seed=0",
        "data.jet_type=g seed=1",
        "real vs real",
        "**q**",
        "data.jet_type=q seed=2",
        "real vs real",
    ]
    assert [r[1] for r in rows if r[0] == "real vs real"] == ["0.100", "0.300"]
    command([str(tmp_path), "--no-figures", "--sections=data.jet_type", "--section-labels=g=gluon"])
    rows = table_lines((tmp_path / "report.md").read_text())[2:]
    assert [r[0] for r in rows if r[0].startswith("**")] == ["**gluon**", "**q**"]
    # a section key that is averaged over would mix the sections in one row
    with pytest.raises(ReportError, match="average_over"):
        make_report([tmp_path], sections="data.jet_type", average_over=["data"], figures=False)


def test_sections_draw_figures_per_section(tmp_path):
    rng = np.random.default_rng(1)
    for job, jet in enumerate(("g", "t")):
        real = rng.normal(loc=job, size=500)
        write_run(
            tmp_path / str(job),
            [f"data.jet_type={jet}"],
            {"w1": (0.1, 0.01, 0.05)},
            observables={"mass": (real + 0.1, real)},
        )
    report = make_report([tmp_path], sections="data.jet_type")
    assert [p.relative_to(tmp_path).as_posix() for p in report.figures] == [
        "figures/g/mass.png",
        "figures/t/mass.png",
    ]
    assert "![g/mass](figures/g/mass.png)" in (tmp_path / "report.md").read_text()


def test_scales_divide_values_errors_and_real_vs_real(tmp_path):
    write_run(tmp_path / "0", ["x=1"], {"w1m": (7.5e-4, 2.5e-5, 3.1e-4), "cov": (0.5, 0.01, 0.6)})
    write_run(tmp_path / "1", ["x=2"], {"w1m": (1.25e-3, 5e-5, 3.1e-4), "cov": (0.4, 0.01, 0.6)})
    command([str(tmp_path), "--no-figures", "--scales", "w1m=1e-3"])
    header, _, *rows = table_lines((tmp_path / "report.md").read_text())
    assert header == ["run", "w1m (×10⁻³)", "cov", "samples/s"]
    assert rows[0][:3] == ["x=1", "0.750 ± 0.025", "0.500 ± 0.010"]
    assert rows[1][:2] == ["x=2", "1.250 ± 0.050"]
    assert rows[2][:2] == ["real vs real", "0.310"]
    # the CSV keeps the raw numbers
    lines = list(csv.DictReader((tmp_path / "report.csv").open()))
    assert float(lines[0]["w1m"]) == 7.5e-4 and float(lines[0]["w1m_error"]) == 2.5e-5
    # scales from the configs; a unit that is no power of ten is written out
    for job in (0, 1):
        path = tmp_path / str(job) / ".hydra" / "config.yaml"
        path.write_text(
            yaml.safe_dump(run_config([f"x={job + 1}"], **{"report.scales": {"w1m": 2.5e-4}}))
        )
    make_report([tmp_path], figures=False)
    header, _, *rows = table_lines((tmp_path / "report.md").read_text())
    assert header[1] == "w1m (×0.00025)" and rows[0][1] == "3.00 ± 0.10"


def test_reference_scales_are_converted_to_the_reports(tmp_path):
    write_run(
        tmp_path / "0",
        ["x=1"],
        {"w1m": (7.5e-4, 2.5e-5, 3.1e-4)},
        config=run_config(["x=1"], label="MP / MP"),
    )
    reference = tmp_path / "paper.yaml"
    reference.write_text(
        yaml.safe_dump(
            {
                "source": "paper",
                "scales": {"w1m": 1.0e-3},
                "rows": {"MP / MP": {"w1m": [0.7, 0.2]}, "real vs real": {"w1m": [0.5, 0.1]}},
            }
        )
    )
    # no scale of its own: the report shows the reference's unit
    make_report([tmp_path / "0"], out=tmp_path, reference=reference, figures=False)
    markdown = (tmp_path / "report.md").read_text()
    header, _, *rows = table_lines(markdown.split("### ")[0])
    assert header == ["run", "w1m (×10⁻³)", "samples/s"]
    assert rows == [
        ["MP / MP", "0.750 ± 0.025", "812"],
        ["MP / MP (reference)", "0.7 ± 0.2", "—"],
        ["real vs real", "0.310", "—"],
        ["real vs real (reference)", "0.5 ± 0.1", "—"],
    ]
    assert "converted" not in markdown
    # the report in ×10⁻⁴: the reference's ×10⁻³ numbers are converted, never mixed
    make_report(
        [tmp_path / "0"], out=tmp_path, reference=reference, figures=False, scales={"w1m": 1e-4}
    )
    markdown = (tmp_path / "report.md").read_text()
    header, _, *rows = table_lines(markdown.split("### ")[0])
    assert header[1] == "w1m (×10⁻⁴)"
    assert [r[1] for r in rows] == ["7.50 ± 0.25", "7 ± 2", "3.10", "5 ± 1"]
    assert "converted to the columns' units from the reference's: w1m (×10⁻³)" in markdown
    paper = markdown.split("### Reference: paper")[1]
    assert table_lines(paper)[0] == ["row", "w1m (×10⁻⁴)"]
    assert table_lines(paper)[2] == ["MP / MP", "7 ± 2"]
    # the CSV holds the reference in raw units
    lines = list(csv.DictReader((tmp_path / "report.csv").open()))
    published = next(r for r in lines if r["label"] == "MP / MP" and r["kind"] == "reference")
    assert float(published["w1m"]) == pytest.approx(7e-4) and float(
        published["w1m_error"]
    ) == pytest.approx(2e-4)


@pytest.mark.parametrize("bad", [0, -1.0e-3, "small", [1.0e-3], True])
def test_a_bad_scale_names_the_key(tmp_path, bad):
    config = run_config(["x=1"], **{"report.scales": {"w1m": 1e-3, "w1p": bad}})
    write_run(tmp_path / "0", ["x=1"], {"w1m": (0.1, 0.01, 0.05)}, config=config)
    with pytest.raises(ReportError, match=r"config.yaml: report.scales.w1p is .*positive number"):
        make_report([tmp_path], figures=False)
    reference = tmp_path / "paper.yaml"
    reference.write_text(yaml.safe_dump({"scales": {"w1m": bad}, "rows": {"a": {"w1m": 1.0}}}))
    with pytest.raises(ReportError, match=r"paper.yaml: scales.w1m is .*positive number"):
        make_report([tmp_path], figures=False, scales={}, reference=reference)


def test_bad_scales_on_the_command_line(tmp_path, capsys):
    write_run(tmp_path / "0", ["x=1"], {"w1m": (0.1, 0.01, 0.05)})
    with pytest.raises(SystemExit) as info:
        command([str(tmp_path), "--scales", "w1m=0"])
    assert info.value.code == 2
    assert "w1m=0 is not a positive number" in capsys.readouterr().err
    with pytest.raises(ReportError, match=r"scales.w1m is -1"):
        make_report([tmp_path], scales={"w1m": -1}, figures=False)
    # "1e-3" (a string to YAML 1.1) is a number
    report = make_report([tmp_path], scales={"w1m": "1e-3"}, figures=False)
    assert report.settings.scales == {"w1m": 1e-3}


def test_mpgan_reference_holds_table_2():
    paper = load_reference("mpgan_neurips2021")
    jets = [label for label in paper.rows if "real vs real" not in label]
    assert jets == [
        "gluon · FC / FC",
        "gluon · GraphCNN / FC",
        "gluon · FC / PointNet",
        "gluon · GraphCNN / PointNet",
        "gluon · MP / MP",
        "gluon · MP-LFC / MP",
        "gluon · MP / PointNet",
        "light quark · FC / PointNet",
        "light quark · MP / MP",
        "light quark · MP-LFC / MP",
        "top · FC / PointNet",
        "top · MP / MP",
        "top · MP / PointNet",
    ]
    for label in jets:
        assert {"w1m", "w1p", "w1efp", "fpnd", "cov", "mmd"} <= set(paper.rows[label])
        assert all(paper.rows[label][m][1] is not None for m in ("w1m", "w1p", "w1efp"))
    assert paper.rows["gluon · FC / FC"]["w1m"] == (18.3, 0.2)
    assert paper.rows["gluon · GraphCNN / PointNet"]["w1efp"] == (200, 1000)
    assert paper.rows["gluon · GraphCNN / PointNet"]["fpnd"] == (7000, None)
    assert paper.rows["light quark · MP-LFC / MP"]["fpnd"] == (0.08, None)
    assert paper.rows["top · MP / PointNet"] == {
        "w1m": (0.76, 0.08),
        "w1p": (1.6, 0.4),
        "w1efp": (4, 1),
        "fpnd": (3.7, None),
        "cov": (0.59, None),
        "mmd": (0.072, None),
    }
    # the paper's units: W1M ×10⁻³, W1EFP ×10⁻⁵; FPD/KPD ×10⁻³ (2211.10295)
    assert paper.entry("gluon · MP / MP", "w1m") == pytest.approx((0.7e-3, 0.2e-3))
    assert paper.entry("gluon · MP / MP", "w1efp") == pytest.approx((0.7e-5, 0.2e-5))
    assert paper.entry("gluon · MP / MP", "fpd") == pytest.approx((0.30e-3, 0.06e-3))
    assert paper.entry("gluon · real vs real", "kpd") == pytest.approx((-0.006e-3, 0.005e-3))
    assert paper.rows["top · real vs real"] == {
        "w1m": (0.51, 0.07),
        "w1p": (0.55, 0.07),
        "w1efp": (1.1, 0.1),
    }
    assert paper.rows["light quark · real vs real"]["w1efp"] == (0.46, 0.04)
    assert paper.speed["gluon · MP / MP"] == 28000 and paper.monte_carlo_speed == 21.7
    assert "35.7 µs/jet" in paper.speed_note and "46 ms/jet" in paper.speed_note
