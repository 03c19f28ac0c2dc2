"""Two CPU processes (gloo): a single ddp run, and ddp_spawn inside a multirun."""

import json

from conftest import run_cli

TINY = [
    "trainer.accelerator=cpu",
    "trainer.devices=2",
    "trainer.max_epochs=1",
    "data.n_events=2000",
    "callbacks.evaluation.n_samples=300",
    "callbacks.evaluation.progress=false",
    "~callbacks.progress_bar",
]


def test_ddp_single_run_gives_one_directory_and_one_results_file(tmp_path):
    proc = run_cli(["train", "trainer=ddp", *TINY, "hydra.run.dir=run"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (
        "world_size: 2" in proc.stderr + proc.stdout or "MEMBER: 2/2" in proc.stderr + proc.stdout
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert len(list(tmp_path.rglob("results.json"))) == 1
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["split"] == "test" and results["metrics"]["w1_mean"]["value"] > 0


def test_ddp_spawn_inside_a_multirun(tmp_path):
    proc = run_cli(
        ["train", "-m", "trainer=ddp_spawn", "seed=5", *TINY, "hydra.sweep.dir=sweep"], tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "MEMBER: 2/2" in proc.stderr + proc.stdout
    assert [p.parent.name for p in (tmp_path / "sweep").rglob("results.json")] == ["0"]
