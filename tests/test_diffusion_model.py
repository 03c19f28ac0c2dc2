"""The diffusion / flow-matching model: a trained score against the analytic one, the cloud
networks' symmetry and masking, exact zeros on images, and a few training steps on every
family it accepts through ``genhep train``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from jet_image_files import write_lagan
from jetnet_files import N_PART, make_jets, write_file
from test_diffusion_paths import exact_denoiser, mixture_log_prob, mixture_sample, sliced_w1

from genhep.callbacks.evaluation import likelihood_record
from genhep.diffusion.paths import FlowMatching, VariancePreserving
from genhep.models.diffusion import Diffusion
from genhep.nn.cloud_transformer import CloudTransformer
from genhep.nn.epic import EPiCNetwork
from genhep.nn.residual_mlp import ResidualMLP
from genhep.nn.unet import UNet
from genhep.spec import DataSpec
from genhep.train import train

from conftest import compose_train

TOY = {"family": "toy", "event_shape": [2], "cond_dim": 0, "has_mask": False}


def fit(process, steps: int = 1500, seed: int = 0) -> Diffusion:
    """A small diffusion model trained directly on the mixture of test_diffusion_paths."""
    torch.manual_seed(seed)
    model = Diffusion(
        TOY,
        process,
        network=lambda dim, cond_dim: ResidualMLP(dim, cond_dim, width=64, blocks=3),
        ema=None,
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    data = mixture_sample(60_000, seed).float()
    for _ in range(steps):
        batch = data[torch.randint(0, len(data), (256,))]
        loss = process.training_loss(model.network, batch).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return model.eval()


@pytest.fixture(scope="module")
def trained_fm():
    return fit(FlowMatching())


def test_trained_score_is_close_to_the_analytic_one_where_the_data_live(trained_fm):
    process = trained_fm.process
    x0 = mixture_sample(2000, 7)
    exact = exact_denoiser(process)
    errors, spreads = [], []
    for t in (0.3, 0.6, 0.9):
        tt = torch.full((len(x0),), t, dtype=torch.float64)
        x = process.noisy(x0, tt, torch.randn_like(x0))
        truth = exact(x, tt).eps  # score = -eps / s
        with torch.no_grad():
            learned = trained_fm.denoiser(None, None)(x.float(), tt.float()).eps.double()
        errors.append(float((learned - truth).pow(2).sum(1).mean().sqrt()))
        spreads.append(float(truth.pow(2).sum(1).mean().sqrt()))
    # the learned noise estimate within 15 % (rms) of the exact one at every time
    assert all(e < 0.15 * s for e, s in zip(errors, spreads, strict=True)), (errors, spreads)


def test_samples_of_the_trained_model_match_the_mixture(trained_fm):
    torch.manual_seed(0)
    generated = trained_fm.sample(4000).double()
    truth, fresh = mixture_sample(4000, 1), mixture_sample(4000, 2)
    assert sliced_w1(generated, truth) < 2.5 * sliced_w1(truth, fresh) + 0.03
    assert float((generated[:, 0] < 0).double().mean()) == pytest.approx(0.3, abs=0.04)


def test_an_untrained_model_fails_the_same_check():
    model = Diffusion(
        TOY,
        FlowMatching(),
        network=lambda dim, cond_dim: ResidualMLP(dim, cond_dim, width=64, blocks=3),
        ema=None,
    ).eval()
    generated = model.sample(4000).double()
    truth, fresh = mixture_sample(4000, 1), mixture_sample(4000, 2)
    assert sliced_w1(generated, truth) > 3 * sliced_w1(truth, fresh) + 0.03


def test_sampler_settings_change_without_retraining(trained_fm):
    """The same weights sample with another sampler and step count (evaluate/sample time)."""
    torch.manual_seed(0)
    euler = trained_fm.sample(500)
    trained_fm.sampler = {"name": "midpoint", "steps": 25}
    torch.manual_seed(0)
    midpoint = trained_fm.sample(500)
    trained_fm.sampler = {"name": "euler", "steps": 50}
    assert not torch.equal(euler, midpoint)
    assert float((euler - midpoint).abs().mean()) < 0.1  # same ODE, same noise


CLOUD_NETWORKS = {
    "epic": lambda: EPiCNetwork(3, cond_dim=2, hidden=16, layers=2, latent=4, context=8),
    "transformer": lambda: CloudTransformer(
        3, cond_dim=2, dim=16, layers=2, heads=2, feedforward=32
    ),
}


@pytest.mark.parametrize("name", CLOUD_NETWORKS)
def test_cloud_networks_are_permutation_equivariant_and_ignore_padding(name):
    torch.manual_seed(0)
    net = CLOUD_NETWORKS[name]().eval()
    x, t, cond = torch.randn(4, 10, 3), torch.rand(4), torch.randn(4, 2)
    mask = torch.arange(10)[None] < torch.tensor([[10], [7], [3], [1]])
    x = x * mask[..., None]
    out = net(x, t, cond, mask)
    assert (out[~mask] == 0).all()
    perm = torch.randperm(10)
    torch.testing.assert_close(
        net(x[:, perm], t, cond, mask[:, perm]), out[:, perm], atol=1e-5, rtol=1e-5
    )
    changed = x.clone()
    changed[~mask] = 5.0  # whatever sits in the padding
    torch.testing.assert_close(net(changed, t, cond, mask), out, atol=1e-5, rtol=1e-5)


def test_unet_keeps_the_image_shape_and_the_model_restores_exact_zeros():
    spec = {"family": "jet_images", "event_shape": [1, 25, 25], "cond_dim": 2, "has_mask": False}
    net = UNet(25, cond_dim=2, channels=(8, 8, 8), context=16)
    assert net(torch.randn(3, 1, 25, 25), torch.rand(3), torch.randn(3, 2)).shape == (3, 1, 25, 25)
    model = Diffusion(
        spec,
        VariancePreserving(),
        network=lambda size, cond_dim: UNet(size, cond_dim, channels=(8, 8, 8), context=16),
        sampler={"name": "euler", "steps": 3},
        image_threshold=0.5,
        ema=None,
    )
    images = model.sample(4, cond=torch.eye(2)[[0, 1, 0, 1]])
    assert images.shape == (4, 1, 25, 25)
    assert bool(((images == 0) | (images >= 0.5)).all()) and bool((images == 0).any())


def test_accepts_flat_clouds_and_images_only_and_validates_its_options():
    assert Diffusion.accepts(spec_of((5,)))
    assert Diffusion.accepts(spec_of((30, 3), has_mask=True))
    assert not Diffusion.accepts(spec_of((2, 5, 7)))
    with pytest.raises(ValueError, match="model.sampler.name"):
        Diffusion(TOY, FlowMatching(), sampler={"name": "rk45", "steps": 5})
    with pytest.raises(ValueError, match="flat events"):
        Diffusion(
            {"family": "jetnet", "event_shape": [30, 3], "cond_dim": 0, "has_mask": True},
            FlowMatching(),
            likelihood={"estimator": "exact"},
        )


def test_clip_x0_bounds_the_denoised_estimate_and_keeps_x_its_noisy_version():
    """An untrained eps-predicting VP model overshoots (the first steps divide by the small
    signal rate); clip_x0 keeps every estimate, and so the samples, within [-c, c]."""
    torch.manual_seed(3)
    model = Diffusion(TOY, VariancePreserving(prediction="eps"), ema=None).eval()
    model.sampler = {"name": "euler", "steps": 20, "clip_x0": 0.3}
    clipped = model.sample(2000)
    model.sampler = {"name": "euler", "steps": 20}
    free = model.sample(2000)
    assert float(free.abs().max()) > 1.0
    assert float(clipped.abs().max()) < 0.31  # the last Euler step lands near, not on, x̂₀
    x, t = torch.randn(64, 2), torch.rand(64) * 0.9 + 0.05
    with torch.no_grad():
        estimate = model.denoiser(None, None, clip_x0=0.3)(x, t)
    alpha, s = (v[:, None] for v in model.process.scales(t)[:2])
    assert float(estimate.x0.abs().max()) <= np.float32(0.3)
    torch.testing.assert_close(alpha * estimate.x0 + s * estimate.eps, x)
    with pytest.raises(ValueError, match="clip_x0"):
        Diffusion(TOY, FlowMatching(), sampler={"name": "euler", "steps": 5, "clip_x0": 0})


def spec_of(shape, has_mask=False):
    return DataSpec("x", tuple(shape), 0, has_mask)


def test_log_prob_through_the_ode_matches_the_mixture_density(trained_fm):
    """The trained model's probability-flow log-density against the true one: the mean
    absolute difference on data points within 0.1 nat (the training's residual error)."""
    trained_fm.likelihood = {"estimator": "exact", "method": "rk4", "steps": 20}
    x = mixture_sample(300, 9)
    ours = trained_fm.log_prob(x.float()).double().numpy()
    # results.json names the estimator beside the kind
    record = likelihood_record(trained_fm, {"test/loss": 1.0}, "test")
    assert (
        record["kind"] == "exact"
        and record["method"] == "probability-flow ODE (rk4), exact divergence"
    )
    trained_fm.likelihood = {}
    assert np.abs(ours - mixture_log_prob(x)).mean() < 0.1
    assert trained_fm.log_prob_kind is None  # off again: no likelihood claimed
    assert likelihood_record(trained_fm, {}, "test") is None


FAMILIES = {
    "toy": lambda tmp: ["data=gaussian_mixture", "data.n_events=600"],
    "jetnet": lambda tmp: [
        "data=jetnet",
        f"data.path={tmp}",
        "data.n_events=null",
        "data.evaluator.distances=false",
        "data.evaluator.cov_mmd=false",
        "model/network=transformer",
        "model.network.dim=16",
        "model.network.layers=1",
        "model.network.heads=2",
        "model.network.feedforward=16",
    ],
    "jet_images": lambda tmp: [
        "data=jet_images",
        f"data.path={tmp / 'jets.h5'}",
        "data.transform=scale",
        "data.scale=100",
        "model/network=unet",
        "model.network.channels=[8,8,8]",
        "model.network.context=16",
        "model.image_threshold=0.05",
    ],
}


@pytest.mark.parametrize(
    ("family", "process"), [("toy", "edm"), ("jetnet", "fm"), ("jet_images", "vp")]
)
def test_trains_through_genhep_train_on_each_family(tmp_path, family, process):
    write_file(tmp_path / "g.hdf5", *make_jets(200, seed=2))
    write_lagan(tmp_path / "jets.h5", n_signal=30, n_background=30)
    cfg = compose_train(
        tmp_path,
        [
            "model=diffusion",
            f"model/process={process}",
            "model.sampler.steps=3",
            "model.sampler.name=" + ("heun" if process == "edm" else "euler"),
            "data.batch_size=32",
            "trainer.max_epochs=1",
            "callbacks.evaluation.n_samples=40",
            "callbacks.evaluation.figures=false",
            *FAMILIES[family](tmp_path),
        ],
    )
    metrics = train(cfg)
    assert np.isfinite(metrics["train/loss"]) and np.isfinite(metrics["val/loss"])
    assert any(k.startswith("test/w1") for k in metrics)


def test_jetnet_samples_keep_the_given_multiplicities_with_zero_padding():
    spec = {"family": "jetnet", "event_shape": [N_PART, 3], "cond_dim": 0, "has_mask": True}
    model = Diffusion(
        spec,
        FlowMatching(),
        network=lambda features, cond_dim: EPiCNetwork(
            features, cond_dim, hidden=8, layers=1, latent=2, context=8
        ),
        sampler={"name": "midpoint", "steps": 2},
        ema=None,
    )
    counts = [1, 5, 17, N_PART]
    mask = torch.arange(N_PART)[None] < torch.tensor(counts)[:, None]
    x = model.sample(4, mask=mask)
    assert (x[~mask] == 0).all() and (x[mask] != 0).all()
    with pytest.raises(ValueError, match="pass mask"):
        model.sample(4)


def test_ema_warms_up_then_decays_at_its_rate():
    """Decay min(0.999, (1 + n) / (10 + n)) after n updates (the first update copies)."""
    model = Diffusion(
        TOY, FlowMatching(), network=lambda dim, cond_dim: torch.nn.Linear(dim, dim), ema=0.999
    )
    model.attach_ema()
    weight = model.network.weight
    expected = None
    for n in range(30):
        with torch.no_grad():
            weight.normal_()
        model.update_ema()
        if expected is None:
            expected = weight.detach().clone()
        else:
            decay = min(0.999, (1.0 + n) / (10.0 + n))  # n earlier updates
            expected = decay * expected + (1 - decay) * weight.detach()
    torch.testing.assert_close(model.averaged.module.weight, expected)


def test_steps_study_scores_every_sampler_and_step_count(tmp_path):
    from genhep.diffusion import steps_study

    cfg = compose_train(
        tmp_path,
        [
            "model=diffusion",
            "model/process=fm",
            "model/network=mlp",
            "model.network.width=32",
            "model.network.blocks=1",
            "data=gaussian_mixture",
            "data.n_events=600",
            "trainer.max_epochs=1",
            "callbacks.evaluation.n_samples=100",
            "callbacks.evaluation.figures=false",
        ],
    )
    train(cfg)
    out = tmp_path / "study"
    args = [
        str(tmp_path / "run"),
        "--out",
        str(out),
        "--samplers",
        "euler,midpoint",
        "--steps",
        "2,8",
    ]
    assert steps_study.main([*args, "--checkpoint", "last", "--n-events", "100"]) == 0
    rows = json.loads((out / "steps.json").read_text())["rows"]
    assert [(r["sampler"], r["steps"]) for r in rows] == [
        ("euler", 2),
        ("euler", 8),
        ("midpoint", 2),
        ("midpoint", 8),
    ]
    assert [r["network_evaluations"] for r in rows] == [2, 8, 4, 16]
    assert all(r["clip_x0"] is None for r in rows)
    clipped = tmp_path / "clipped"
    args_clipped = [str(tmp_path / "run"), "--out", str(clipped), "--samplers", "euler"]
    args_clipped += [
        "--steps",
        "8",
        "--checkpoint",
        "last",
        "--n-events",
        "100",
        "--clip-x0",
        "1e-3",
    ]
    assert steps_study.main(args_clipped) == 0
    [row] = json.loads((clipped / "steps.json").read_text())["rows"]
    # every sample within 1e-3 of the standardised data's mean: far from the mixture
    assert row["clip_x0"] == 1e-3 and row["value"] > rows[1]["value"] + 0.1
    assert all(r["metric"] == "w1_mean" and r["samples_per_s"] > 0 for r in rows)
    assert len({r["value"] for r in rows}) == 4  # each setting sampled anew
    assert (out / "steps.png").exists() and "| midpoint | 8 | 16 |" in (
        out / "steps.md"
    ).read_text()
