import json

import pytest

from genhep.utils.io import atomic_write_json


def test_writes_and_replaces(tmp_path):
    path = atomic_write_json(tmp_path / "sub" / "results.json", {"a": 1})
    atomic_write_json(path, {"a": 2, "nan": float("nan")})
    assert json.loads(path.read_text())["a"] == 2
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]


def test_unserialisable_object_leaves_the_old_file_intact(tmp_path):
    path = atomic_write_json(tmp_path / "results.json", {"metrics": {"w1": 0.5}})
    with pytest.raises(TypeError):
        atomic_write_json(path, {"metrics": {"w1": object()}})
    assert json.loads(path.read_text()) == {"metrics": {"w1": 0.5}}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_interrupted_write_leaves_no_partial_file(tmp_path, monkeypatch):
    path = atomic_write_json(tmp_path / "results.json", {"old": True})

    def broken_replace(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr("genhep.utils.io.os.replace", broken_replace)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_json(path, {"new": True})
    assert json.loads(path.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_written_files_are_readable_by_others(tmp_path):
    import os
    import stat

    mask = os.umask(0o022)
    try:
        path = atomic_write_json(tmp_path / "results.json", {})
    finally:
        os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
