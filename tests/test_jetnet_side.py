"""The jetnet side of the ``evaluators`` benchmark (``benchmarks/jetnet_side.py``).

Its ``knn_graph`` stand-in and the lookup of the jetnet environment run everywhere; the script
itself runs where jetnet 0.2.5 imports with its dependencies (``make test-jetnet``).
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from benchmarks import bench_evaluators, jetnet_side


def _brute_force_knn(x: torch.Tensor, k: int, batch: torch.Tensor) -> set[tuple[int, int]]:
    """(source, target) edges: each point's k nearest other points of its own graph."""
    edges = set()
    for i in range(len(x)):
        same = torch.nonzero(batch == batch[i]).flatten()
        same = same[same != i]
        d = ((x[same] - x[i]) ** 2).sum(-1)
        edges |= {(int(same[j]), i) for j in d.argsort()[:k]}
    return edges


@pytest.mark.parametrize("features", [2, 16])
def test_knn_graph_stand_in_is_the_brute_force_graph(features):
    torch.manual_seed(features)
    x = torch.randn(4 * 30, features)
    batch = torch.arange(4).repeat_interleave(30)
    edges = jetnet_side.knn_graph(x, 16, batch)
    assert edges.shape == (2, 4 * 30 * 16)
    assert set(zip(edges[0].tolist(), edges[1].tolist(), strict=True)) == _brute_force_knn(
        x, 16, batch
    )
    flipped = jetnet_side.knn_graph(x, 16, batch, flow="target_to_source")
    assert torch.equal(flipped, edges.flip(0))


def test_knn_graph_stand_in_refuses_unequal_graphs():
    with pytest.raises(NotImplementedError, match="equal size"):
        jetnet_side.knn_graph(torch.randn(5, 2), 2, torch.tensor([0, 0, 0, 1, 1]))


def test_jetnet_python_is_configurable_and_a_missing_one_says_how(tmp_path, monkeypatch):
    monkeypatch.setenv(bench_evaluators.JETNET_PYTHON_VARIABLE, str(tmp_path / "nope"))
    python, reason = bench_evaluators.jetnet_python()
    assert python is None and str(tmp_path / "nope") in reason
    monkeypatch.setenv(bench_evaluators.JETNET_PYTHON_VARIABLE, sys.executable)
    python, reason = bench_evaluators.jetnet_python()
    assert str(python) == sys.executable and reason is None
    monkeypatch.delenv(bench_evaluators.JETNET_PYTHON_VARIABLE)
    python, reason = bench_evaluators.jetnet_python()
    if python is None:
        assert "make test-jetnet" in reason


def test_jetnet_side_times_jetnets_whole_evaluation():
    """Run by the harness's own function with this Python, where jetnet imports."""
    pytest.importorskip("jetnet.evaluation", reason="jetnet with its dependencies (.venv-jetnet)")
    samples = {
        "generated": bench_evaluators.toy_jets(80, 2),
        "real": bench_evaluators.toy_jets(80, 1),
        "reference": bench_evaluators.toy_jets(80, 3),
    }
    out = bench_evaluators.run_jetnet_side(
        sys.executable,
        samples,
        fpnd_jet_type=None,
        cov_mmd=False,
        num_batches=2,
        extra_args=("--kpd-batch-size", "50", "--fpd-max-samples", "200", "--efp-jobs", "1"),
        timeout=300,
    )
    assert out["jetnet"] == "0.2.5" and out["jets"] == 80 and out["efp_jobs"] == 1
    expected = [
        *(f"{m}{s}" for s in ("", "_real_vs_real") for m in ("w1m", "w1p", "w1efp")),
        *(f"efps_{label}" for label in ("real", "generated", "reference")),
        *(f"{m}{s}" for s in ("", "_real_vs_real") for m in ("fpd", "kpd")),
    ]
    assert list(out["pieces"]) == expected
    assert all(seconds > 0 for seconds in out["pieces"].values())
    assert out["total_seconds"] == pytest.approx(sum(out["pieces"].values()))
    assert set(out["skipped"]) == {"cov_mmd", "fpnd"}
    value, error = out["metrics"]["w1m"]
    assert np.isfinite(value) and value > 0 and error >= 0
