import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from genhep.data.gaussian_mixture import GaussianMixture, GaussianMixtureDataModule
from genhep.data.schema import SchemaError, write_hdf5


def scipy_density(truth: GaussianMixture, x: np.ndarray, c: float) -> np.ndarray:
    """Independent evaluation of p(x | c) with scipy's multivariate normal."""
    logits = truth.logits + c * truth.logit_slope
    weights = np.exp(logits - logits.max())
    weights /= weights.sum()
    total = np.zeros(len(x))
    for k in range(truth.n_modes):
        cov = truth.scale_tril[k] @ truth.scale_tril[k].T
        total += weights[k] * multivariate_normal(
            truth.means[k] + c * truth.mean_slope[k], cov
        ).pdf(x)
    return total


@pytest.mark.parametrize("c", [-0.7, 0.0, 0.9])
def test_log_prob_matches_scipy(c):
    truth = GaussianMixture(dim=3, n_modes=4, conditional=True, truth_seed=5)
    x = np.random.default_rng(0).normal(0, 3, (500, 3))
    cond = np.full((500, 1), c)
    np.testing.assert_allclose(
        np.exp(truth.log_prob(x, cond)), scipy_density(truth, x, c), rtol=1e-10
    )


def test_density_integrates_to_one():
    truth = GaussianMixture(dim=2, n_modes=3, conditional=True)
    grid = np.linspace(-9, 9, 601)
    xx, yy = np.meshgrid(grid, grid)
    points = np.stack([xx.ravel(), yy.ravel()], axis=1)
    density = np.exp(truth.log_prob(points, np.full((len(points), 1), 0.4)))
    assert density.sum() * (grid[1] - grid[0]) ** 2 == pytest.approx(1.0, abs=1e-4)


def test_samples_follow_the_density():
    # The sample mean matches the analytic mean sum_k w_k(c) mu_k(c) at a fixed condition.
    truth = GaussianMixture(dim=2, n_modes=3, conditional=True)
    c = 0.5
    sample = truth.sample(200_000, np.random.default_rng(3), cond=np.full((200_000, 1), c))
    logits = truth.logits + c * truth.logit_slope
    weights = np.exp(logits) / np.exp(logits).sum()
    expected = (weights[:, None] * (truth.means + c * truth.mean_slope)).sum(axis=0)
    np.testing.assert_allclose(sample["x"].mean(axis=0), expected, atol=0.02)


def test_unconditional_mixture_has_no_cond():
    truth = GaussianMixture(dim=2, conditional=False)
    sample = truth.sample(10, np.random.default_rng(0))
    assert set(sample) == {"x"}
    with pytest.raises(ValueError, match="conditional"):
        GaussianMixture(conditional=True).log_prob(sample["x"])


def test_datamodule_splits_batches_and_transform():
    dm = GaussianMixtureDataModule(
        n_events=1000, batch_size=64, val_fraction=0.2, test_fraction=0.1
    )
    dm.setup()
    sizes = {k: len(v["x"]) for k, v in dm.physical.items()}
    assert sizes == {"train": 700, "val": 200, "test": 100}
    all_x = np.concatenate([dm.physical[k]["x"] for k in ("train", "val", "test")])
    assert len(np.unique(all_x[:, 0])) == 1000  # disjoint splits covering every event
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"x", "cond"}
    assert batch["x"].shape == (64, 2) and batch["cond"].shape == (64, 1)
    assert batch["x"].dtype == torch.float32
    train_x = dm.datasets["train"].tensors["x"]
    assert torch.allclose(train_x.mean(0), torch.zeros(2), atol=1e-5)
    np.testing.assert_allclose(dm.to_physical(train_x), dm.physical["train"]["x"], atol=1e-5)


def test_shuffling_depends_only_on_seed_and_epoch():
    def order(epoch):
        dm = GaussianMixtureDataModule(n_events=500, batch_size=500)
        loader = dm.train_dataloader()
        loader.sampler.set_epoch(epoch)
        torch.manual_seed(epoch * 17)  # the global state must not matter
        return next(iter(loader))["x"]

    assert torch.equal(order(0), order(0))
    assert not torch.equal(order(0), order(1))


def test_reads_its_hdf5_format_and_rejects_bad_files(tmp_path):
    truth = GaussianMixture()
    events = truth.sample(400, np.random.default_rng(0))
    dm_mem = GaussianMixtureDataModule(n_events=400)
    path = write_hdf5(tmp_path / "toy.h5", events, dm_mem.schema)
    dm = GaussianMixtureDataModule(path=str(path))
    dm.setup()
    assert sum(len(v["x"]) for v in dm.physical.values()) == 400

    del events["cond"]
    bad = tmp_path / "no_cond.h5"
    import h5py

    with h5py.File(bad, "w") as f:
        f["x"] = events["x"]
    with pytest.raises(SchemaError, match=r"no_cond.h5: missing key 'cond'"):
        GaussianMixtureDataModule(path=str(bad)).setup()


def test_evaluator_tells_truth_from_a_shifted_model():
    truth = GaussianMixture()
    rng = np.random.default_rng(7)
    real, reference = truth.sample(3000, rng), truth.sample(3000, rng)
    good = truth.sample(3000, rng, cond=real["cond"])
    shifted = {"x": good["x"] + 0.5, "cond": real["cond"]}
    evaluator = GaussianMixtureDataModule().evaluator()
    scores_good = evaluator.evaluate(good, real, reference)
    scores_bad = evaluator.evaluate(shifted, real, reference)
    # a perfect model sits at the real-vs-real baseline; a shift by 0.5 shows in every W1
    assert scores_good["nll_true"].value == pytest.approx(
        scores_good["nll_true"].real_vs_real, abs=0.1
    )
    assert scores_good["w1_mean"].value < 0.1
    for i in range(2):
        assert scores_bad[f"w1_x{i}"].value == pytest.approx(0.5, abs=0.1)
    assert scores_bad["nll_true"].value > scores_good["nll_true"].value + 0.1
