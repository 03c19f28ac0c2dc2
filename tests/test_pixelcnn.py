"""PixelCNN++: causality, an exactly normalised discrete likelihood, a sampler that draws
from it, and training, sampling and checkpoints through ``genhep.train``."""

import itertools
import math

import numpy as np
import pytest
import torch
from jet_image_files import write_lagan
from scipy.stats import chisquare, logistic

import genhep.train
from genhep.evaluate import restore_checkpoint
from genhep.models.pixelcnn import PixelCNNNetwork, PixelCNNPlusPlus
from genhep.nn.logistic_mixture import DiscretizedLogisticMixture, bin_centres
from genhep.train import train

from conftest import compose_train


@pytest.fixture(autouse=True)
def _one_thread():
    """Sampling is hundreds of tiny forward passes: on a shared CPU, OpenMP synchronisation
    between threads costs more than it gains."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_model(size: tuple[int, int], cond_dim: int = 0, **kwargs) -> PixelCNNPlusPlus:
    """A small random-weight model in eval mode."""
    spec = {"family": "jet_images", "event_shape": [1, *size], "cond_dim": cond_dim}
    options = {"n_filters": 8, "n_components": 3, "x_max": 1.0, **kwargs}
    return PixelCNNPlusPlus({**spec, "has_mask": False}, **options).eval()


def random_mixture(shape, n_components, n_bins, seed, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)

    def uniform(low, high):
        return low + (high - low) * torch.rand(*shape, n_components, generator=g, dtype=dtype)

    return DiscretizedLogisticMixture(
        3 * torch.randn(*shape, n_components, generator=g, dtype=dtype),
        uniform(-1.5, 1.5),
        uniform(-7.0, 1.0),
        n_bins,
    )


# -- causality -------------------------------------------------------------------------


@pytest.mark.parametrize("height, width", [(7, 6), (25, 25)])
def test_outputs_depend_only_on_earlier_pixels(height, width):
    torch.manual_seed(0)
    net = PixelCNNNetwork(out_channels=9, n_filters=8, n_resnet=1, cond_dim=2).eval()
    x = torch.rand(1, 1, height, width, requires_grad=True)
    out = net(2 * x - 1, torch.tensor([[0.0, 1.0]])).flatten(2)
    n = height * width
    for j in sorted({0, 1, width - 1, width, n // 2, n - width, n - 1}):
        (grad,) = torch.autograd.grad(out[..., j].sum(), x, retain_graph=True)
        grad = grad.flatten()
        assert torch.all(grad[j:] == 0), f"output {j} sees pixels {grad[j:].nonzero().ravel()}"
        if j % width:  # the left neighbour
            assert grad[j - 1] != 0
        if j >= width:  # the pixel above
            assert grad[j - width] != 0


def test_changing_a_pixel_never_changes_earlier_mixture_parameters():
    torch.manual_seed(1)
    model = tiny_model((25, 25), cond_dim=2)
    x = torch.rand(3, 1, 25, 25) * (torch.rand(3, 1, 25, 25) > 0.5)
    cond = torch.eye(2)[[0, 1, 1]]
    before = model.conditionals(x, cond)
    for j in (0, 24, 25, 312, 624):
        changed = x.clone()
        changed.view(3, -1)[:, j] = 1.0 - changed.view(3, -1)[:, j]
        after = model.conditionals(changed, cond)
        for name in ("logits", "means", "log_scales"):
            old, new = (getattr(d, name).reshape(3, 625, -1) for d in (before, after))
            assert torch.equal(old[:, : j + 1], new[:, : j + 1]), (name, j)
            if j < 624:
                assert not torch.equal(old[:, j + 1 :], new[:, j + 1 :]), (name, j)


def test_the_network_on_the_first_rows_gives_their_outputs():
    """What the sampler relies on: rows below row i do not change rows 0..i."""
    torch.manual_seed(2)
    net = PixelCNNNetwork(out_channels=6, n_filters=8).eval()
    x = torch.rand(2, 1, 25, 25) * 2 - 1
    with torch.no_grad():
        full = net(x)
        for rows in (1, 4, 5, 13, 24):
            torch.testing.assert_close(net(x[:, :, :rows]), full[:, :, :rows])


# -- the discretised logistic mixture ----------------------------------------------------


@pytest.mark.parametrize("n_bins", [2, 16, 4096])
def test_bin_probabilities_sum_to_one(n_bins):
    mixture = random_mixture((200, 1), 4, n_bins, seed=n_bins)
    bins = torch.arange(n_bins).expand(200, n_bins)
    total = mixture.log_prob(bins).exp().sum(dim=1)
    torch.testing.assert_close(total, torch.ones(200), rtol=0, atol=1e-5)


def test_log_prob_matches_scipy_logistic_cdf_differences():
    n_bins = 256
    mixture = random_mixture((500,), 3, n_bins, seed=3, dtype=torch.float64)
    bins = torch.randint(0, n_bins, (500,), generator=torch.Generator().manual_seed(4))
    bins[:20], bins[20:40] = 0, n_bins - 1
    centre = bin_centres(bins, n_bins, torch.float64).numpy()[:, None]
    upper = np.where(bins.numpy()[:, None] == n_bins - 1, np.inf, centre + 1 / (n_bins - 1))
    lower = np.where(bins.numpy()[:, None] == 0, -np.inf, centre - 1 / (n_bins - 1))
    loc, scale = mixture.means.numpy(), np.exp(mixture.log_scales.numpy())
    weights = torch.softmax(mixture.logits, dim=-1).numpy()
    expected = (weights * (logistic.cdf(upper, loc, scale) - logistic.cdf(lower, loc, scale))).sum(
        1
    )
    np.testing.assert_allclose(
        mixture.log_prob(bins).exp().numpy(), expected, rtol=1e-9, atol=1e-14
    )


def test_sampler_draws_bins_with_their_probabilities():
    torch.manual_seed(5)
    n, n_bins = 200_000, 8
    mixture = DiscretizedLogisticMixture(
        torch.tensor([0.0, 1.0, -0.5]).expand(n, 3),
        torch.tensor([-0.9, 0.2, 1.1]).expand(n, 3),
        torch.tensor([-1.5, -0.7, -2.0]).expand(n, 3),
        n_bins,
    )
    probs = mixture.log_prob(torch.arange(n_bins)[:, None]).exp()[:, 0].double().numpy()
    counts = np.bincount(mixture.sample().numpy(), minlength=n_bins)
    assert (probs * n > 100).all()
    assert chisquare(counts, probs / probs.sum() * n).pvalue > 1e-3


# -- the model's likelihood and sampler on a 2x2 image with 4 intensity bins ----------


def all_tiny_images(model: PixelCNNPlusPlus) -> torch.Tensor:
    """The 4**4 = 256 binned 2x2 images."""
    bins = torch.tensor(list(itertools.product(range(model.n_bins), repeat=4))).reshape(-1, 2, 2)
    return model.from_bins(bins)


@pytest.mark.parametrize("cond_dim", [0, 2])
def test_probabilities_of_all_tiny_images_sum_to_one(cond_dim):
    torch.manual_seed(6)
    model = tiny_model((2, 2), cond_dim=cond_dim, bits=2).double()
    images = all_tiny_images(model)
    for label in range(max(cond_dim, 1)):
        cond = torch.eye(2, dtype=torch.float64)[[label] * len(images)] if cond_dim else None
        with torch.no_grad():
            total = torch.logsumexp(model.log_prob(images, cond), dim=0)
        assert float(total) == pytest.approx(0.0, abs=1e-6)


def test_samples_have_the_exact_entropy():
    torch.manual_seed(7)
    model = tiny_model((2, 2), bits=2).double()
    with torch.no_grad():
        log_p = model.log_prob(all_tiny_images(model))
        entropy = -(log_p.exp() * log_p).sum()
        spread = ((log_p.exp() * log_p**2).sum() - entropy**2).sqrt()
        samples = model.sample(4000)
        surprise = -model.log_prob(samples)
    assert samples.shape == (4000, 1, 2, 2)
    assert abs(float(surprise.mean() - entropy)) < 4 * float(spread) / math.sqrt(4000)


def test_inputs_are_checked():
    model = tiny_model((2, 2), cond_dim=2)
    with pytest.raises(ValueError, match=r"pass cond of shape \(n, 2\)"):
        model.sample(3)
    with pytest.raises(ValueError, match=r"expects images of shape \(B, 1, 2, 2\)"):
        model.log_prob(torch.zeros(3, 1, 3, 3), torch.eye(2)[[0, 1, 1]])
    with pytest.raises(RuntimeError, match="x_max is not set"):
        tiny_model((2, 2), x_max=None).sample(1)


# -- training through genhep.train ----------------------------------------------------


@pytest.mark.parametrize("classes, evaluate", [("both", True), ("signal", False)])
def test_trains_samples_and_restores_from_its_checkpoint(tmp_path, monkeypatch, classes, evaluate):
    """Each sampling call is 625 forward passes: the evaluation callback samples only once,
    at test time, in one of the two runs."""
    path = tmp_path / "jets.h5"
    write_lagan(path, n_signal=40, n_background=40)
    built, original_build = {}, genhep.train.build

    def build(cfg):  # keep the trained model to compare with the restored one
        built["datamodule"], built["model"] = original_build(cfg)
        return built["datamodule"], built["model"]

    monkeypatch.setattr(genhep.train, "build", build)
    cfg = compose_train(
        tmp_path,
        [
            "model=pixelcnn",
            "data=jet_images",
            f"data.path={path}",
            f"data.classes={classes}",
            "data.batch_size=16",
            "trainer.max_epochs=1",
            "model.n_filters=8",
            "model.n_resnet=0",
            "callbacks.evaluation.n_samples=4",
            "callbacks.evaluation.figures=false",
            "callbacks.evaluation.on_validation=false",
            f"callbacks.evaluation.on_test={evaluate}",
        ],
    )
    metrics = train(cfg)
    assert math.isfinite(metrics["test/loss"]) and math.isfinite(metrics["val/bits_per_dim"])
    assert (tmp_path / "run" / "results.json").is_file() == evaluate

    restored = restore_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")
    restored.datamodule.setup()
    test = restored.datamodule.datasets["test"].tensors
    x, cond = test["x"], test.get("cond")
    assert (cond is None) == (classes == "signal")
    assert float(restored.model.x_max) == pytest.approx(1.05 * math.log(2), rel=1e-6)
    with torch.no_grad():
        log_prob = restored.model.log_prob(x, cond)
        assert torch.equal(log_prob, built["model"].log_prob(x, cond))
    assert float(-log_prob.mean()) == pytest.approx(metrics["test/loss"], rel=1e-5)

    samples = restored.model.sample(4, None if cond is None else cond[:4])
    assert samples.shape == (4, 1, 25, 25)
    assert (samples >= 0).all() and (samples == 0).any() and (samples > 0).any()
    physical = restored.datamodule.to_physical(samples)
    assert (physical >= 0).all() and (physical == 0).any()
