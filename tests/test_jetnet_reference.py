"""genhep against the field's reference implementation, the jetnet package (optional extra).

Runs where ``jetnet`` is installed (``make test-jetnet``: its own .venv-jetnet, numpy < 2);
skipped in the default environment.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

jetnet = pytest.importorskip("jetnet", reason="jetnet is not installed (make test-jetnet)")

from jetnet import evaluation as reference  # noqa: E402
from jetnet.datasets import JetNet  # noqa: E402
from jetnet_files import make_jets, write_file  # noqa: E402

from genhep.data.jets.jetnet import JetNetDataModule, read_jetnet_file  # noqa: E402
from genhep.evaluation.jetnet import JetNetEvaluator  # noqa: E402
from genhep.metrics.emd import cov_mmd, emd_matrix  # noqa: E402

N_JETS = 6_000


def _agree(ours: tuple[float, float], theirs: tuple[float, float], floor: float) -> None:
    """Two batched estimates agree within twice their combined batch spread (+ a floor for
    spreads that happen to be tiny)."""
    bound = 2 * np.hypot(ours[1], theirs[1]) + floor
    assert abs(ours[0] - theirs[0]) <= bound, (ours, theirs, bound)


@pytest.fixture(scope="module")
def jets():
    real_pf, _ = make_jets(N_JETS, seed=1)
    other_pf, _ = make_jets(N_JETS, seed=2)
    # a generator that is a little off: wider angles, softer leading particles
    gen_pf, _ = make_jets(N_JETS, seed=3)
    gen_pf[..., :2] *= 1.15
    gen_pf[..., 2] = np.where(gen_pf[..., 3] > 0, gen_pf[..., 2] ** 1.1, 0.0)
    return {"real": real_pf, "reference": other_pf, "gen": gen_pf}


@pytest.fixture(scope="module")
def genhep_scores(jets):
    evaluator = JetNetEvaluator(w1_batch_size=N_JETS, w1_num_batches=5, use_efps=True)
    sample = {k: {"x": v[..., :3], "mask": v[..., 3] > 0} for k, v in jets.items()}
    return evaluator.evaluate(sample["gen"], sample["real"], sample["reference"])


def test_w1m_w1p_w1efp_agree_with_jetnet(jets, genhep_scores):
    real, gen = jets["real"], jets["gen"]
    kw = {"num_eval_samples": N_JETS, "num_batches": 5}
    np.random.seed(0)
    theirs = {
        "w1m": reference.w1m(real[..., :3], gen[..., :3], **kw),
        "w1p": reference.w1p(real[..., :3], gen[..., :3], real[..., 3], gen[..., 3], **kw),
        "w1efp": reference.w1efp(real[..., :3], gen[..., :3], **kw),
    }
    for name, (mean, std) in theirs.items():
        ours = genhep_scores[name]
        # jetnet returns one value per particle feature / EFP; genhep their average
        _agree((ours.value, ours.error), (float(np.mean(mean)), float(np.mean(std))), 1e-4)
        assert ours.value > 3 * ours.real_vs_real, (name, ours)  # the shift is visible


def test_fpd_kpd_on_efps_agree_with_jetnet(jets, genhep_scores):
    real = reference.get_fpd_kpd_jet_features(jets["real"][..., :3])
    gen = reference.get_fpd_kpd_jet_features(jets["gen"][..., :3])
    n = len(real)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fpd = reference.fpd(real, gen, min_samples=(2 * n) // 5, max_samples=n)
    kpd = reference.kpd(real, gen, batch_size=min(5_000, n))
    ours_fpd, ours_kpd = genhep_scores["fpd"], genhep_scores["kpd"]
    # same algorithms, features and seeds: the same numbers
    assert ours_fpd.value == pytest.approx(float(fpd[0]), rel=1e-5, abs=1e-7)
    assert ours_kpd.value == pytest.approx(float(kpd[0]), rel=1e-5, abs=1e-8)
    assert ours_fpd.error == pytest.approx(float(fpd[1]), rel=1e-4, abs=1e-7)


def test_emd_matrix_equals_energyflows_emds(jets):
    from energyflow.emd import emds

    real, gen = jets["real"][:40], jets["gen"][:30].copy()
    gen[::2, :, 2] *= 1.3  # unequal total pT: energyflow's |ΔE| term
    theirs = emds(gen[..., [2, 0, 1]], real[..., [2, 0, 1]], n_jobs=1)
    ours = emd_matrix(gen[..., :3], gen[..., 3] > 0, real[..., :3], real[..., 3] > 0)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-12)
    assert (ours > 0).all()


def test_cov_mmd_equals_jetnets_with_the_same_batches(jets, genhep_scores, monkeypatch):
    from jetnet.evaluation import gen_metrics

    real, gen = jets["real"], jets["gen"]
    # jetnet draws its batches from the module's generator: seed it like ours
    monkeypatch.setattr(gen_metrics, "rng", np.random.default_rng(11))
    cov, mmd = reference.cov_mmd(real[..., :3], gen[..., :3], use_tqdm=False)
    ours = cov_mmd(real[..., :3], real[..., 3] > 0, gen[..., :3], gen[..., 3] > 0, seed=11)
    assert ours[0] == pytest.approx(cov, abs=1e-12)
    assert ours[2] == pytest.approx(mmd, rel=1e-6)
    # the evaluator (other batches): within the batch spread
    _agree((genhep_scores["cov"].value, genhep_scores["cov"].error), (cov, 0.0), 0.01)
    _agree((genhep_scores["mmd"].value, genhep_scores["mmd"].error), (mmd, 0.0), 1e-4)
    assert genhep_scores["cov"].real_vs_real > cov  # the generator is a little off
    assert genhep_scores["mmd"].real_vs_real < mmd


@pytest.fixture
def no_zenodo_check(monkeypatch):
    """jetnet 0.2.5's reader asks Zenodo for the official files' MD5 hashes (network) and
    refuses any other file: bypass that check, keep its reader."""
    import jetnet.datasets.jetnet as reader

    def local_file(data_dir, dataset_name, record_id, key, download):
        return str(Path(data_dir) / key)

    monkeypatch.setattr(reader, "checkDownloadZenodoDataset", local_file)


def test_jetnet_reads_a_genhep_directory_unchanged(tmp_path, no_zenodo_check):
    pytest.importorskip("pythia8mc")
    pytest.importorskip("fastjet")
    from genhep.data.jets.pythia_jetnet import cached_jetnet

    config = {"n_events": 10, "seed": 4, "n_workers": 1, "progress": False, "block_size": 5}
    folder = cached_jetnet(tmp_path, config, ("g", "t"))
    pf, jf = JetNet.getData(jet_type=["g", "t"], data_dir=str(folder), split="all")
    ours = [read_jetnet_file(folder / f"{t}.hdf5") for t in ("g", "t")]
    our_pf = np.concatenate([o["particle_features"] for o in ours])
    # jetnet prepends the type label (g: 0, t: 2) to the jet features and shuffles
    our_jf = np.concatenate(
        [
            np.insert(o["jet_features"], 0, label, axis=1)
            for o, label in zip(ours, (0, 2), strict=True)
        ]
    )
    our_jf[:, 4] = np.minimum(our_jf[:, 4], 30)  # jetnet clips num_particles to its 30
    theirs, mine = np.argsort(jf[:, 1]), np.argsort(our_jf[:, 1])  # by jet pT
    assert len(jf) == 20
    np.testing.assert_array_equal(jf[theirs], our_jf[mine])
    np.testing.assert_array_equal(pf[theirs], our_pf[mine])


def test_genhep_split_is_jetnets_split(tmp_path, no_zenodo_check):
    pf, jf = make_jets(200, seed=5)
    write_file(tmp_path / "q.hdf5", pf, jf)
    dm = JetNetDataModule(path=str(tmp_path), jet_type="q", transform="none")
    dm.setup("fit")
    for split in ("train", "valid", "test"):
        theirs, _ = JetNet.getData(jet_type="q", data_dir=str(tmp_path), split=split)
        ours = dm.physical["val" if split == "valid" else split]["x"]
        np.testing.assert_array_equal(ours, theirs[..., :3])
