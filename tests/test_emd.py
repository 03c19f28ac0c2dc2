"""genhep.metrics.emd: closed forms of energyflow's EMD and of MPGAN's COV and MMD."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ot", reason="POT is not installed")

from jetnet_files import make_jets  # noqa: E402

from genhep.metrics.emd import cov_mmd, coverage_mmd, emd_matrix, jet_emd  # noqa: E402


def _jet(*particles):
    return np.array(particles, dtype=np.float64)


@pytest.mark.parametrize("R", [0.4, 1.0])
def test_two_single_particles_equal_pt(R):
    a, b = _jet([0.0, 0.0, 0.7]), _jet([0.3, 0.4, 0.7])
    assert jet_emd(a, b, R=R) == pytest.approx(0.7 * 0.5 / R)
    assert jet_emd(a, b, R=R, beta=2) == pytest.approx(0.7 * (0.5 / R) ** 2)
    assert jet_emd(a, b, norm=True) == pytest.approx(0.5)


def test_identical_jets_and_symmetry():
    pf, _ = make_jets(6, seed=0)
    x, m = pf[..., :3], pf[..., 3] > 0
    assert jet_emd(x[0], x[0], m[0], m[0]) == pytest.approx(0.0, abs=1e-12)
    d = emd_matrix(x, m, x, m)
    assert d.shape == (6, 6)
    np.testing.assert_allclose(np.diag(d), 0.0, atol=1e-12)
    np.testing.assert_allclose(d, d.T, rtol=1e-12, atol=1e-15)
    assert np.all(d[~np.eye(6, dtype=bool)] > 0)


def test_unequal_total_pt_adds_the_difference():
    # energyflow: min Σ f θ/R + |Σ pT − Σ pT'|; the lighter jet's pT moves to the nearest
    a = _jet([0.0, 0.0, 1.0])
    b = _jet([0.3, 0.4, 1.5], [2.0, 0.0, 0.5])
    assert jet_emd(a, b) == pytest.approx(0.5 + 1.0)
    assert jet_emd(b, a) == pytest.approx(0.5 + 1.0)
    # beyond R the matched pT still pays θ/R (no cap at 1)
    assert jet_emd(_jet([0, 0, 1.0]), _jet([3.0, 0, 2.0])) == pytest.approx(3.0 + 1.0)
    # an empty jet: the other jet's pT
    assert jet_emd(a, b, mask_a=[False]) == pytest.approx(2.0)


def test_masked_particles_are_ignored():
    a = _jet([0.0, 0.0, 1.0], [5.0, 5.0, 3.0])
    b = _jet([0.3, 0.4, 1.0], [-1.0, 2.0, 0.0])
    assert jet_emd(a, b, [True, False], [True, True]) == pytest.approx(0.5)
    d = emd_matrix(a[None], np.array([[True, False]]), b[None, :1], None)
    assert d[0, 0] == pytest.approx(0.5)


def test_coverage_mmd_closed_forms():
    pf, _ = make_jets(20, seed=1)
    x, m = pf[..., :3], pf[..., 3] > 0
    # generated set equal to the real set: every real jet is covered, MMD 0
    cov, mmd = coverage_mmd(emd_matrix(x, m, x, m))
    assert cov == 1.0 and mmd == pytest.approx(0.0, abs=1e-12)
    # generated jets all identical to one real jet: one real jet covered
    gen = np.repeat(x[3:4], 20, axis=0)
    cov, mmd = coverage_mmd(emd_matrix(gen, np.repeat(m[3:4], 20, 0), x, m))
    assert cov == 1 / 20 and mmd > 0


def test_cov_mmd_batches():
    pf, _ = make_jets(60, seed=2)
    x, m = pf[..., :3], pf[..., 3] > 0
    gen = np.repeat(x[:1], 60, axis=0)
    cov, cov_err, mmd, mmd_err = cov_mmd(x, m, gen, np.repeat(m[:1], 60, 0), 10, 3, seed=0)
    assert cov == pytest.approx(1 / 10) and cov_err < 1e-12 and mmd > 0 and mmd_err > 0
    # reproducible, and jetnet's draws: real then generated indices from one generator
    again = cov_mmd(x, m, x, m, n_eval=10, n_batches=3, seed=5)
    assert again == cov_mmd(x, m, x, m, n_eval=10, n_batches=3, seed=5)
    rng = np.random.default_rng(5)
    covs, mmds = [], []
    for _ in range(3):
        r, g = rng.choice(60, size=10), rng.choice(60, size=10)
        c, d = coverage_mmd(emd_matrix(x[g], m[g], x[r], m[r]))
        covs.append(c)
        mmds.append(d)
    assert again == pytest.approx((np.mean(covs), np.std(covs), np.mean(mmds), np.std(mmds)))


def test_jetnet_evaluator_reports_cov_and_mmd():
    from genhep.evaluation.jetnet import JetNetEvaluator

    pf = {k: make_jets(80, seed=s)[0] for k, s in (("gen", 1), ("real", 2), ("ref", 3))}
    sample = {k: {"x": v[..., :3], "mask": v[..., 3] > 0} for k, v in pf.items()}
    settings = {"w1_batch_size": 50, "w1_num_batches": 2, "use_efps": False, "distances": False}
    ev = JetNetEvaluator(**settings, cov_mmd_n_eval=10, cov_mmd_batches=3)
    scores = ev.evaluate(sample["gen"], sample["real"], sample["ref"])
    expected = cov_mmd(
        sample["real"]["x"], sample["real"]["mask"], sample["gen"]["x"], sample["gen"]["mask"],
        n_eval=10, n_batches=3, seed=np.random.default_rng(ev.seed + 6),
    )  # fmt: skip
    assert (scores["cov"].value, scores["cov"].error) == pytest.approx(expected[:2])
    assert (scores["mmd"].value, scores["mmd"].error) == pytest.approx(expected[2:])
    assert 0 < scores["cov"].real_vs_real <= 1 and scores["mmd"].real_vs_real > 0
    off = JetNetEvaluator(**settings, cov_mmd=False)
    assert "cov" not in off.evaluate(sample["gen"], sample["real"], sample["ref"])
    assert set(off.skipped) >= {"cov", "mmd"}
