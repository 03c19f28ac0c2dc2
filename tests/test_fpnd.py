"""genhep.metrics.fpnd in the default environment (no jetnet): k-NN, ParticleNet symmetries,
the FPND plumbing on stand-in files, and FPND's absence with its reason.

Agreement with jetnet's own FPND on its trained weights: tests/test_fpnd_reference.py.
"""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
import torch
from jetnet_files import make_jets

import genhep.evaluation.jetnet as jetnet_evaluation
from genhep.evaluation.jetnet import JetNetEvaluator
from genhep.metrics import fpnd as F


def _random_particlenet(seed: int) -> F.ParticleNet:
    torch.manual_seed(seed)
    model = F.ParticleNet()
    for module in model.modules():  # non-trivial batch-norm statistics
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.5, 0.5)
    return model.eval()


def _jets(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    pf, _ = make_jets(n, seed=seed)
    return pf[..., :3], pf[..., 3] > 0


def test_knn_equals_brute_force():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(4, 30, 5))
    points[:, 20:] = 0.0  # padded points: ties among themselves
    k = 16
    got = F.knn(torch.tensor(points), k).numpy()
    assert got.shape == (4, 30, k)
    for b in range(4):
        d = np.sqrt(((points[b, :, None] - points[b, None]) ** 2).sum(-1))
        np.fill_diagonal(d, np.inf)
        for i in range(30):
            assert i not in got[b, i]
            assert len(set(got[b, i])) == k
            # the same distances as the k smallest (identical sets where there are no ties)
            np.testing.assert_allclose(np.sort(d[i, got[b, i]]), np.sort(d[i])[:k], atol=1e-12)
            real = set(range(20))  # distinct points: the same neighbours exactly
            assert set(got[b, i]) & real == set(np.argsort(d[i], kind="stable")[:k]) & real
    with pytest.raises(ValueError, match="k must be"):
        F.knn(torch.tensor(points), 30)


def test_particlenet_state_dict_names_match_jetnets_layout():
    names = F.ParticleNet().state_dict()
    assert names["edge_nets.0.model.0.weight"].shape == (64, 6)
    assert names["edge_convs.1.nn.model.0.weight"].shape == (128, 134)
    assert names["edge_convs.2.nn.model.7.running_var"].shape == (256,)
    assert names["fc1.0.weight"].shape == (256, 451) and names["fc2.weight"].shape == (5, 256)
    assert len(names) == 2 * 3 * 3 * 7 + 4  # 3 blocks × 3 layers × (2 + 5), twice; fc1, fc2


def test_particlenet_is_permutation_invariant_and_ignores_masked_values():
    model = _random_particlenet(1)
    jets, mask = _jets(8, seed=3)
    x = F.fpnd_preprocess(jets, mask)
    perm = np.random.default_rng(4).permutation(30)
    x_perm = F.fpnd_preprocess(jets[:, perm], mask[:, perm])
    garbage = np.where(mask[..., None], jets, 7.0)  # values of masked particles never matter
    x_garbage = F.fpnd_preprocess(garbage, mask)
    with torch.no_grad():
        a, b, c = (model.activations(v) for v in (x, x_perm, x_garbage))
        logits = model(x)
    assert a.shape == (8, 256) and logits.shape == (8, 5)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(a, c, rtol=0, atol=0)
    # padded particles sit at (0, 0, -0.5) after jetnet's fpnd_norm
    assert torch.all(x[~torch.as_tensor(mask)] == torch.tensor([0.0, 0.0, -0.5]))


def test_preprocess_is_jetnets_fpnd_norm():
    jets, mask = _jets(5, seed=5)
    x = F.fpnd_preprocess(jets, mask).numpy()
    expected = jets / np.array(F.FPND_FEATURE_MAXES) + np.array(F.FPND_FEATURE_SHIFTS)
    np.testing.assert_allclose(x, expected, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match=r"\(N, 30, 3\)"):
        F.fpnd_preprocess(jets[:, :20], mask[:, :20])


@pytest.fixture
def stand_in_resources(tmp_path):
    """A folder laid out as jetnet's, with random weights and the statistics of seed-6 jets."""
    model = _random_particlenet(2)
    torch.save(model.state_dict(), tmp_path / F.STATE_DICT_FILE)
    jets, mask = _jets(300, seed=6)
    act = F.particlenet_activations(model, F.fpnd_preprocess(jets, mask), device="cpu")
    for jet_type in F.FPND_JET_TYPES:
        np.savetxt(tmp_path / f"{jet_type}_mu.txt", act.mean(axis=0))
        np.savetxt(tmp_path / f"{jet_type}_sigma.txt", np.cov(act, rowvar=False))
    return tmp_path


def test_fpnd_on_stand_in_files(stand_in_resources):
    same = F.fpnd(*_jets(300, seed=6), "g", device="cpu", resources=stand_in_resources)
    assert same == pytest.approx(0.0, abs=1e-4)
    other = F.fpnd(*_jets(300, seed=8), "g", device="cpu", resources=stand_in_resources)
    wider_jets, wider_mask = _jets(300, seed=8)
    wider_jets = wider_jets * np.array([1.5, 1.5, 1.0])
    wider = F.fpnd(wider_jets, wider_mask, "g", device="cpu", resources=stand_in_resources)
    assert 0 < other < wider


def test_evaluator_reports_fpnd_with_files(monkeypatch, stand_in_resources):
    monkeypatch.setattr(F, "fpnd_resources", lambda jet_type=None: stand_in_resources)
    monkeypatch.setattr(jetnet_evaluation, "FPND_NUM_SAMPLES", 300)
    sample = dict(zip(("x", "mask"), _jets(300, seed=6), strict=True))
    reference = dict(zip(("x", "mask"), _jets(300, seed=8), strict=True))
    ev = JetNetEvaluator(
        w1_batch_size=100, w1_num_batches=2, use_efps=False, distances=False, jet_type="g"
    )
    scores = ev.evaluate(sample, sample, reference)
    assert "fpnd" not in ev.skipped
    assert scores["fpnd"].value == pytest.approx(0.0, abs=1e-4)
    assert scores["fpnd"].real_vs_real > 0


def test_fpnd_absent_with_reason_without_jetnet(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    reason = F.fpnd_unavailable_reason("g")
    assert reason is not None and "jetnet package, which is not installed" in reason
    with pytest.raises(FileNotFoundError, match="not installed"):
        F.fpnd(*_jets(10, seed=1), "g")
    ev = JetNetEvaluator(w1_batch_size=50, w1_num_batches=2, use_efps=False, distances=False)
    ev.jet_type = "g"
    sample = dict(zip(("x", "mask"), _jets(60, seed=1), strict=True))
    ev.evaluate(sample, sample, sample)
    assert ev.skipped["fpnd"] == reason


def test_fpnd_absent_when_the_installed_jetnet_lacks_the_files(monkeypatch, tmp_path):
    (tmp_path / "jetnet").mkdir()
    (tmp_path / "jetnet" / "__init__.py").write_text("raise ImportError('never imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "jetnet", raising=False)
    reason = F.fpnd_unavailable_reason("t")
    assert reason is not None and "pnet_state_dict.pt" in reason and "t_sigma.txt" in reason
    assert "jet types" in F.fpnd_unavailable_reason("w")


def test_evaluation_edge_conv_equals_the_edge_network_on_the_edges():
    """The folded, per-particle fast path of EdgeConv (evaluation) is the edge network applied
    to every edge ``[x_i, x_j − x_i]`` with the batch norms' running statistics."""
    torch.manual_seed(0)
    model = F.ParticleNet().eval()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.normal_()
            module.bias.data.normal_()
    x = torch.randn(6, 30, 3)
    with torch.no_grad():
        for i, conv in enumerate(model.edge_convs):
            neighbours = F.knn(x[..., :2] if i == 0 else x, 16)
            rows = torch.arange(6)[:, None, None]
            x_j, x_i = x[rows, neighbours], x[:, :, None, :].expand(-1, -1, 16, -1)
            edges = torch.cat([x_i, x_j - x_i], dim=-1)
            expected = conv.nn(edges).mean(dim=2)
            got = conv(x, neighbours)
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
            x = torch.cat([got, x], dim=-1)
