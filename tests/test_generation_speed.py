"""The Monte Carlo speed record of generated files (the speed comparisons' Monte Carlo row)."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from genhep.data.calorimeter.datamodule import CalorimeterDataModule
from genhep.data.calorimeter.generate import generate_showers
from genhep.data.generation import generation_speed, speed_file

FAST = {"energies": "log_uniform", "e_min": 256.0, "e_max": 2048.0, "progress": False}


def _record(path):
    return json.loads(speed_file(path).read_text())


def test_a_generated_file_records_its_cpu_time_beside_it(tmp_path):
    path = generate_showers(tmp_path / "s.h5", "ds1_photons", "photon", 300, chunk_size=100, **FAST)
    record = _record(path)
    assert record["events"] == 300 and record["cpu_seconds"] > 0
    assert "parametric shower simulator" in record["generator"]
    speed = generation_speed([path])
    assert speed["samples_per_s"] == pytest.approx(300 / record["cpu_seconds"])
    assert speed["cores"] == 1 and speed["source"] == record["generator"]
    with h5py.File(path, "r") as handle:  # the file itself holds no timing: same bytes
        assert not any("cpu" in name for name in handle.attrs)
    # two files: events and seconds add up
    other = generate_showers(tmp_path / "t.h5", "ds1_photons", "photon", 100, seed=3, **FAST)
    both = generation_speed([path, other])
    total = record["cpu_seconds"] + _record(other)["cpu_seconds"]
    assert both["events"] == 400 and both["cpu_seconds"] == pytest.approx(total)


def test_extending_and_cutting_keep_the_old_events_share(tmp_path):
    path = generate_showers(tmp_path / "s.h5", "ds1_photons", "photon", 200, chunk_size=100, **FAST)
    first = _record(path)["cpu_seconds"]
    generate_showers(path, "ds1_photons", "photon", 300, chunk_size=100, **FAST)
    extended = _record(path)
    assert extended["events"] == 300 and extended["cpu_seconds"] > first
    generate_showers(path, "ds1_photons", "photon", 150, chunk_size=100, **FAST)
    cut = _record(path)
    assert cut["events"] == 150
    assert cut["cpu_seconds"] == pytest.approx(extended["cpu_seconds"] * 150 / 300)


def test_files_without_a_record_have_no_speed(tmp_path):
    path = generate_showers(tmp_path / "s.h5", "ds1_photons", "photon", 100, **FAST)
    speed_file(path).unlink()
    assert generation_speed([path]) is None
    speed_file(path).write_text("{broken")
    assert generation_speed([path]) is None
    assert generation_speed([]) is None


def test_data_module_reports_the_speed_of_the_data_it_read(tmp_path):
    generator = {"n_events": 200, "n_workers": 1, **FAST}
    dm = CalorimeterDataModule(data_dir=str(tmp_path), generator=generator, n_events=200)
    dm.setup()
    speed = dm.monte_carlo_speed()
    assert speed is not None and speed["events"] == 200 and np.isfinite(speed["samples_per_s"])
    # a file genhep did not make (no record): no Monte Carlo speed
    public = CalorimeterDataModule(path=str(dm.source_files[0]), n_events=100)
    speed_file(dm.source_files[0]).unlink()
    public.setup()
    assert public.monte_carlo_speed() is None
