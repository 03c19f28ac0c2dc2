"""The benchmark harness in quick mode: it writes a complete, parseable result file."""

from __future__ import annotations

import json
import math

import pytest

# benchmarks/ is a top-level folder of the checkout (pytest's pythonpath), not in the package
from benchmarks import run
from benchmarks.common import METRICS, REQUIRED_FIELDS


@pytest.mark.parametrize("name", list(run.REGISTRY))
def test_quick_run_writes_complete_entries(name, tmp_path):
    """Every registered benchmark, in quick mode: one parseable file of complete entries."""
    assert run.main(["--quick", "--only", name, "--out", str(tmp_path)]) == 0
    files = sorted(p.name for p in tmp_path.iterdir())
    if not files:
        pytest.skip(f"benchmark {name} skipped itself here (see its BenchmarkSkipped message)")
    assert files == [f"{name}.json"]
    document = json.loads((tmp_path / f"{name}.json").read_text())
    assert document["benchmark"] == name
    assert document["quick"] is True
    assert document["entries"]
    for entry in document["entries"]:
        missing = [field for field in REQUIRED_FIELDS if field not in entry]
        assert not missing, f"{entry.get('case')}: missing {missing}"
        assert entry["benchmark"] == name
        assert entry["metric"] in METRICS
        for field in ("value", "batch_size", "threads", "seconds_per_call"):
            value = entry[field]
            assert isinstance(value, int | float) and not isinstance(value, bool), field
            assert math.isfinite(value) and value > 0, f"{entry['case']}: {field} = {value}"
        assert entry["device"] and entry["commit"] and entry["torch"]
        assert entry["date"].endswith("+00:00")
        assert entry["background_cpu"] is None or entry["background_cpu"] >= 0


def test_mdn_measures_model_training_and_monte_carlo(tmp_path):
    assert run.main(["--quick", "--only", "mdn", "--out", str(tmp_path)]) == 0
    entries = json.loads((tmp_path / "mdn.json").read_text())["entries"]
    assert {(e["case"], e["metric"]) for e in entries} == {
        ("sample", "samples_per_s"),
        ("train_step", "steps_per_s"),
        ("truth_sample", "events_per_s"),
    }
    assert all(e["device"].startswith("cpu") for e in entries)


def test_unknown_benchmark_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="unknown benchmark"):
        run.main(["--quick", "--only", "nope", "--out", str(tmp_path)])
    assert not any(tmp_path.iterdir())


def test_failing_benchmark_writes_no_file_and_returns_1(tmp_path, monkeypatch):
    monkeypatch.setitem(run.REGISTRY, "broken", "benchmarks.no_such_module")
    assert run.main(["--quick", "--only", "broken", "--out", str(tmp_path)]) == 1
    assert not any(tmp_path.iterdir())


def test_overhead_times_genhep_and_bare_steps_of_both_models(tmp_path):
    assert run.main(["--quick", "--only", "overhead", "--out", str(tmp_path)]) == 0
    entries = {
        e["case"]: e for e in json.loads((tmp_path / "overhead.json").read_text())["entries"]
    }
    parts = ("genhep_step", "bare_step", "loader_batch", "fit_startup")
    assert set(entries) == {f"{model}_{part}" for model in ("mdn", "sarm") for part in parts}
    for model in ("mdn", "sarm"):
        genhep, bare = entries[f"{model}_genhep_step"], entries[f"{model}_bare_step"]
        for entry in (genhep, bare):
            assert entry["metric"] == "seconds" and entry["threads"] == 1
            assert math.isfinite(entry["value"]) and entry["value"] > 0
        params = genhep["params"]
        assert params == bare["params"]
        assert len(params["overhead_per_epoch"]) == params["measured_epochs"] == genhep["repeats"]
        assert math.isfinite(params["overhead"]) and params["overhead"] > -1
        # what `genhep train` adds by default, the evaluation callback included
        assert {"ModelCheckpoint", "EvaluationCallback"} <= set(params["callbacks"])
        assert any(name.endswith("ProgressBar") for name in params["callbacks"])
        assert params["loggers"] == ["ResumableCSVLogger"]


def test_clouds_times_samplers_beside_the_monte_carlo(tmp_path):
    assert run.main(["--quick", "--only", "clouds", "--out", str(tmp_path)]) == 0
    entries = {e["case"]: e for e in json.loads((tmp_path / "clouds.json").read_text())["entries"]}
    assert {"mp", "fc", "particle_vae"} <= set(entries)
    monte_carlo = entries.get("pythia_fastjet")
    for case in ("mp", "fc", "particle_vae"):
        params = entries[case]["params"]
        assert params["paper"]["over_monte_carlo"] == pytest.approx(1288.5, abs=0.1)
        assert params["seconds_per_jet"] == pytest.approx(1 / entries[case]["value"])
        if monte_carlo is not None:
            ratio = entries[case]["value"] / monte_carlo["value"]
            assert params["over_monte_carlo"] == pytest.approx(ratio)
    assert entries["mp"]["params"]["network"] == "MPGenerator"
    assert entries["mp"]["params"]["configured_batch_size"] == 256
