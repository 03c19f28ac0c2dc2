"""The nflows flow builder (genhep/nn/flows.py) and ``model=flow``: exact densities against
closed forms, invertibility, the fast sampler, one sample per condition, data acceptance."""

import functools

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from scipy.stats import multivariate_normal, norm

from genhep.data.gaussian_mixture import GaussianMixtureDataModule
from genhep.models.base import IncompatibleDataError, TrainingData
from genhep.models.flow import NormalizingFlow
from genhep.nn.flows import EdgeDequantizer, build_flow
from genhep.spec import DataSpec

STEPS, STEPS_LR = 600, 1e-2
EPOCHS, LR = 20, 5e-3
SPEC = {"family": "gaussian_mixture", "event_shape": [2], "cond_dim": 1, "has_mask": False}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_affine_block_with_set_parameters_is_the_gaussian_it_implies():
    """One MAF block whose MADE outputs constants: z = s·x + t per feature, so x ~ N(−t/s, 1/s²)
    and the flow's log-density is scipy's."""
    torch.manual_seed(0)
    flow = build_flow(3, kind="affine", n_blocks=1, permutation=None)
    made = flow.transform._transforms[0].autoregressive_net
    raw_scale, shift = torch.tensor([0.3, -1.2, 2.0]), torch.tensor([0.5, -2.0, 1.5])
    with torch.no_grad():
        for parameter in made.parameters():
            parameter.zero_()
        made.final_layer.bias.copy_(torch.stack([raw_scale, shift], dim=1).reshape(-1))
    scale = torch.nn.functional.softplus(raw_scale) + 1e-3  # nflows' MaskedAffine scale
    x = torch.randn(200, 3, dtype=torch.float32) * 3
    expected = norm(loc=(-shift / scale).numpy(), scale=(1 / scale).numpy()).logpdf(x.numpy())
    with torch.no_grad():
        np.testing.assert_allclose(flow.log_prob(x).numpy(), expected.sum(1), rtol=1e-5)


def test_trained_conditional_flow_has_the_true_conditional_gaussian_density():
    """x | c ~ N(m(c), S(c)) with a correlated covariance depending on c: after training, the
    flow's log p(x | c) is scipy's within 0.08 nats per point on average and 0.02 nats in the
    mean (its KL divergence from the truth; a flow blind to c, as nflows' MADE leaves a
    block's first feature, is ~0.25 nats off)."""
    torch.manual_seed(1)
    rng = np.random.default_rng(1)

    def truth(c):
        mean = np.stack([2 * c - 1, -c], axis=1)
        sd = np.stack([0.5 + 0.5 * c, 0.8 - 0.4 * c], axis=1)
        return mean, sd

    def draw(n):
        c = rng.uniform(0, 1, n)
        mean, sd = truth(c)
        e = rng.normal(size=(n, 2))
        x = mean + sd * np.stack([e[:, 0], 0.6 * e[:, 0] + 0.8 * e[:, 1]], axis=1)
        return torch.tensor(x, dtype=torch.float32), torch.tensor(c[:, None], dtype=torch.float32)

    flow = build_flow(2, 1, n_blocks=2, hidden=32, n_hidden=2, kind="affine")
    optimizer = torch.optim.Adam(flow.parameters(), lr=STEPS_LR)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, STEPS)
    for _ in range(STEPS):
        x, c = draw(512)
        optimizer.zero_grad()
        (-flow.log_prob(x, c).mean()).backward()
        optimizer.step()
        schedule.step()
    x, c = draw(2000)
    mean, sd = truth(c[:, 0].numpy())
    expected = np.array(
        [
            multivariate_normal(
                m, [[s[0] ** 2, 0.6 * s[0] * s[1]], [0.6 * s[0] * s[1], s[1] ** 2]]
            ).logpdf(xi)
            for m, s, xi in zip(mean, sd, x.numpy(), strict=True)
        ]
    )
    with torch.no_grad():
        got = flow.log_prob(x, c).numpy()
    assert np.mean(np.abs(got - expected)) < 0.08
    assert abs(np.mean(got - expected)) < 0.02


@pytest.mark.parametrize("kind", ["affine", "rqs"])
def test_density_integrates_to_one_for_each_context(kind):
    torch.manual_seed(2)
    flow = build_flow(2, 1, n_blocks=2, hidden=16, kind=kind, tail_bound=3.0)
    with torch.no_grad():  # random outputs, not an identity
        for parameter in flow.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    grid = torch.linspace(-12, 12, 481)
    points = torch.cartesian_prod(grid, grid)
    for c in (-1.0, 0.7):
        with torch.no_grad():
            density = flow.log_prob(points, torch.full((len(points), 1), c)).exp()
        assert float(density.sum() * (grid[1] - grid[0]) ** 2) == pytest.approx(1.0, abs=5e-3)


@pytest.mark.parametrize(
    ("kind", "residual", "n_hidden"),
    [("affine", False, 2), ("rqs", False, 1), ("rqs", False, 2), ("rqs", True, 2)],
)
def test_inverse_of_forward_is_identity_and_the_fast_inverse_agrees(kind, residual, n_hidden):
    torch.manual_seed(3)
    flow = build_flow(12, 3, n_blocks=3, hidden=24, n_hidden=n_hidden, kind=kind, residual=residual)
    flow.eval()
    x, c = torch.randn(64, 12) * 2, torch.randn(64, 3)
    with torch.no_grad():
        z, logabsdet = flow(x, c)
        back, inverse_logabsdet = flow.inverse(z, c)
        fast = flow.invert(z, c)
    torch.testing.assert_close(back, x, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(fast, x, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(inverse_logabsdet, -logabsdet, atol=1e-3, rtol=1e-4)


def test_gradients_reach_every_parameter():
    flow = build_flow(4, 2, n_blocks=2, hidden=8, kind="rqs")
    (-flow.log_prob(torch.randn(16, 4), torch.randn(16, 2)).mean()).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in flow.parameters())


def test_one_sample_per_context_row_and_context_checks():
    flow = build_flow(3, 2, n_blocks=2, hidden=8)
    with torch.no_grad():
        assert flow.sample(5, torch.randn(5, 2)).shape == (5, 3)
    with pytest.raises(ValueError, match=r"pass a context of shape \(n, 2\)"):
        flow.sample(5)
    with pytest.raises(ValueError, match=r"context must have shape \(5, 2\)"):
        flow.sample(5, torch.randn(4, 2))
    with pytest.raises(ValueError, match="unknown flow kind"):
        build_flow(3, kind="glow")


def test_samples_have_the_moments_of_a_trained_gaussian():
    torch.manual_seed(4)
    flow = build_flow(2, n_blocks=2, hidden=16, kind="affine")
    optimizer = torch.optim.Adam(flow.parameters(), lr=1e-2)
    mean, scale = torch.tensor([1.0, -2.0]), torch.tensor([0.5, 2.0])
    for _ in range(300):
        optimizer.zero_grad()
        (-flow.log_prob(mean + scale * torch.randn(256, 2)).mean()).backward()
        optimizer.step()
    with torch.no_grad():
        samples = flow.sample(20000)
    torch.testing.assert_close(samples.mean(0), mean, atol=0.06, rtol=0)
    torch.testing.assert_close(samples.std(0), scale, atol=0.06, rtol=0)


def test_edge_dequantizer_spreads_edges_outward_only():
    x = torch.tensor([[0.0, 1.0], [0.0, 3.0], [0.5, 3.0], [1.0, 2.0]])
    deq = EdgeDequantizer(2, width=0.1)
    torch.testing.assert_close(deq(x), x)  # not fitted: edges at ±inf
    deq.fit(x)
    out = deq(x)
    low, high = torch.tensor([0.0, 1.0]), torch.tensor([1.0, 3.0])
    at_low, at_high = x == low, x == high
    assert (
        (out[at_low] < low.expand_as(x)[at_low]) & (out[at_low] > -0.1 + low.expand_as(x)[at_low])
    ).all()
    assert (out[at_high] > high.expand_as(x)[at_high]).all()
    inside = ~(at_low | at_high)
    torch.testing.assert_close(out[inside], x[inside])
    torch.testing.assert_close(EdgeDequantizer(2, 0.0).fit(x)(x), x)


def test_flow_model_accepts_flat_vectors_only_and_needs_its_condition():
    assert NormalizingFlow.accepts(DataSpec("calorimeter", (368,), cond_dim=1))
    assert NormalizingFlow.accepts(DataSpec("gaussian_mixture", (2,)))
    with pytest.raises(IncompatibleDataError, match=r"needs flat events \(D,\)"):
        NormalizingFlow({**SPEC, "family": "jetnet", "event_shape": [30, 3], "has_mask": True})
    model = NormalizingFlow(SPEC, n_blocks=1, hidden=8)
    with pytest.raises(ValueError, match=r"pass cond of shape \(n, 1\)"):
        model.sample(3)
    assert model.sample(3, torch.zeros(3, 1)).shape == (3, 2)
    assert model.log_prob_kind == "exact"


def test_flow_model_trains_on_the_toy_towards_the_true_likelihood():
    pl.seed_everything(0)
    dm = GaussianMixtureDataModule(n_events=4000, batch_size=256)
    dm.setup()
    model = NormalizingFlow(
        dm.spec.to_dict(),
        n_blocks=3,
        hidden=32,
        optimizer=functools.partial(torch.optim.Adam, lr=LR),
        dequantize=0.0,
    )
    model.fit_to_data(TrainingData(x=dm.datasets["train"].tensors["x"]))
    test = dm.datasets["test"].tensors

    def mean_log_lik():
        with torch.no_grad():
            return float(model.log_prob(test["x"], test["cond"]).mean())

    before = mean_log_lik()
    trainer = pl.Trainer(
        max_epochs=EPOCHS,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=dm)
    after = mean_log_lik()
    # model-space truth: physical log-likelihood + sum log std of the standardisation
    raw = dm.physical["test"]
    truth = float(dm.truth.log_prob(raw["x"], raw["cond"]).mean()) + float(
        torch.log(dm.transform.std).sum()
    )
    assert after > before + 0.5
    assert after == pytest.approx(truth, abs=0.15)
    samples = model.sample(len(test["x"]), test["cond"])
    assert samples.shape == test["x"].shape and torch.isfinite(samples).all()


@pytest.mark.parametrize("features", [1, 3])
def test_the_context_reaches_every_feature(features):
    """nflows' MADE alone gives a block's first feature no path from the context."""
    torch.manual_seed(5)
    flow = build_flow(features, 2, n_blocks=1, hidden=8, kind="rqs", permutation=None)
    x = torch.randn(4, features)
    context = torch.randn(4, 2, requires_grad=True)
    z, _ = flow(x, context)
    for i in range(features):
        (gradient,) = torch.autograd.grad(z[:, i].sum(), context, retain_graph=True)
        assert gradient.abs().sum() > 0, f"feature {i} ignores the context"
