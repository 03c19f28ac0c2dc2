"""The calorimeter VAE, its IAF posterior and the latent diagnostic (genhep/models/calo_vae.py,
genhep/nn/iaf.py, genhep/metrics/latent.py, genhep/callbacks/latent_diagnostic.py)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.autograd.functional import jacobian

from genhep.data.calorimeter.simulator import ShowerSimulator
from genhep.geometry.calorimeter import get_geometry
from genhep.metrics.latent import (
    latent_gaussianity,
    normality_table,
    posterior_activity,
    qq_points,
)
from genhep.metrics.shower_features import layer_energies, longitudinal_centre
from genhep.models.calo_vae import CaloVAE, SalamaniVAE
from genhep.nn.iaf import InverseAutoregressiveFlow, diagonal_normal_log_prob
from genhep.spec import DataSpec

from conftest import compose_train

GEOMETRY = get_geometry("atlas_photons_266")


def calo_spec() -> dict:
    layers = {
        str(k): (s.start, s.stop)
        for k, s in zip(GEOMETRY.layer_ids, GEOMETRY.layer_slices, strict=True)
    }
    return DataSpec("calorimeter", (GEOMETRY.n_voxels,), 1, layout={"layers": layers}).to_dict()


def optimizer(params):
    return torch.optim.Adam(params, lr=2e-3)


@pytest.fixture(scope="module")
def showers() -> tuple[torch.Tensor, torch.Tensor]:
    """400 parametric 266-cell photon showers, 1-260 GeV: voxel fractions of E_inc, and the
    log-scaled condition in [0, 1]."""
    rng = np.random.default_rng(0)
    e_inc = np.exp(rng.uniform(np.log(1e3), np.log(2.6e5), 400))
    x = ShowerSimulator("atlas_photons_266", "photon").simulate(e_inc, rng)
    fractions = torch.as_tensor(x / e_inc[:, None], dtype=torch.float32)
    cond = torch.as_tensor(np.log(e_inc / 1e3) / np.log(260.0), dtype=torch.float32)[:, None]
    return fractions, cond


# -------------------------------------------------------------------- ELBO is a bound


@pytest.mark.parametrize("posterior", ["gaussian", "iaf"])
def test_elbo_is_below_the_exact_log_likelihood_of_a_linear_gaussian_decoder(posterior):
    # decoder x = W z + b + N(0, s^2 I), z ~ N(0, I): log p(x) = log N(x; b, W W^T + s^2 I)
    torch.manual_seed(0)
    d, latent, s = 5, 2, 0.3
    spec = DataSpec("toy", (d,)).to_dict()
    model = CaloVAE(
        spec, latent, hidden=[16], head="identity", posterior=posterior, iaf_context=4,
        iaf_hidden=8, decoder_std=s, elbo_samples=400,
    )  # fmt: skip
    model.decoder = nn.Linear(latent, d).requires_grad_(False)
    w, b = model.decoder.weight.double(), model.decoder.bias.double()
    exact_model = torch.distributions.MultivariateNormal(b, w @ w.T + s**2 * torch.eye(d))
    x = exact_model.sample((64,))
    exact = exact_model.log_prob(x)
    with torch.no_grad():
        elbo = model.log_prob(x.float()).double()
    assert model.log_prob_kind == "bound"
    # per event, up to the Monte Carlo error of 400 draws; the untrained encoder leaves a gap
    assert (elbo <= exact + 0.05 * exact.abs() + 0.2).all()
    assert elbo.mean() < exact.mean() - 0.5


def test_gaussian_posterior_kl_is_the_closed_form():
    torch.manual_seed(1)
    model = CaloVAE(DataSpec("toy", (4,)).to_dict(), 3, hidden=[8], head="identity", beta=0.1)
    x = torch.randn(6, 4)
    mean, log_var = model.encode(x, None, None)
    closed = 0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var).sum(1)
    torch.testing.assert_close(model.posterior_sample(x, None, None).kl, closed)


# -------------------------------------------------------------------- IAF change of variables


def test_iaf_log_density_is_base_density_minus_log_det_jacobian():
    torch.manual_seed(2)
    dim, ctx = 4, 3
    iaf = InverseAutoregressiveFlow(dim, ctx, n_flows=3, hidden_features=16).double()
    mean, log_var = torch.randn(1, dim).double(), 0.3 * torch.randn(1, dim).double()
    context = torch.randn(1, ctx).double()
    torch.manual_seed(7)
    z, log_q = iaf.sample(mean, log_var, context)
    torch.manual_seed(7)
    z0 = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)

    def flow(v):
        return iaf(v[None], context)[0][0]

    torch.testing.assert_close(flow(z0[0]), z[0])
    jac = jacobian(flow, z0[0])
    sign, log_det = torch.linalg.slogdet(jac)
    assert sign != 0
    expected = diagonal_normal_log_prob(z0, mean, log_var) - log_det
    torch.testing.assert_close(log_q, expected)
    # an autoregressive map in the last step's order: one triangular Jacobian per step, and
    # z_K depends on every z_0 dimension after three reversed steps
    assert (jac.abs() > 0).sum() > dim


def test_iaf_vae_kl_is_log_q_minus_log_prior():
    torch.manual_seed(3)
    model = CaloVAE(
        DataSpec("toy", (4,)).to_dict(), 2, hidden=[8], head="identity", posterior="iaf",
        iaf_context=3, iaf_hidden=8,
    )  # fmt: skip
    x = torch.randn(5, 4)
    torch.manual_seed(11)
    z, kl = model.posterior_sample(x, None, None)
    mean, log_var, context = model._encode(x, None)
    torch.manual_seed(11)
    z_again, log_q = model.iaf.sample(mean, log_var, context)
    torch.testing.assert_close(z, z_again)
    log_prior = -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(1)
    torch.testing.assert_close(kl, log_q - log_prior)


# -------------------------------------------------------------------- latent diagnostic


def test_diagnostic_accepts_gaussian_and_rejects_non_gaussian_latents():
    rng = np.random.default_rng(5)
    n = 3000
    gauss = rng.standard_normal((n, 6))
    result = latent_gaussianity(gauss, seed=5)
    assert result["summary"]["gaussian_fraction"] >= 5 / 6
    assert result["summary"]["ks_max"] < 0.04
    uniform = rng.uniform(-math.sqrt(3), math.sqrt(3), (n, 3))  # mean 0, variance 1
    bimodal = rng.choice([-1.2, 1.2], (n, 3)) + 0.45 * rng.standard_normal((n, 3))
    shifted = 0.3 + rng.standard_normal((n, 2))  # Gaussian shape, not the prior
    for z in (uniform, bimodal):
        rows = normality_table(z)
        assert not any(r["gaussian"] for r in rows)
        assert all(not r["ad_normal"] and r["shapiro_p"] < 1e-3 for r in rows)
    rows = normality_table(shifted)
    assert all(r["ad_normal"] and r["ks_p"] < 0.05 and not r["gaussian"] for r in rows)
    # a collapsed dimension (posterior = prior for every event) is Gaussian but inactive
    centres = np.column_stack([np.zeros(n), rng.standard_normal(n), 0.5 * uniform[:, 0]])
    spread = np.array([1.0, 0.3, 0.2])
    draws = centres + spread * rng.standard_normal((16, n, 3))
    activity = posterior_activity(draws)
    np.testing.assert_allclose(activity, [0.0, 1.0, 0.25], atol=0.06)
    latents = np.column_stack([gauss[:, 0], gauss[:, 1], uniform[:, 0]])
    record = latent_gaussianity(latents, seed=5, activity=activity)
    assert [r["active"] for r in record["table"]] == [False, True, True]
    assert record["summary"]["active_dims"] == 2
    assert record["summary"]["gaussian_fraction_active"] == 0.5
    assert record["baseline"]["active_dims"] == 3
    theory, sample = qq_points(gauss, 9)
    assert theory.shape == (9,) and sample.shape == (9, 6)
    np.testing.assert_allclose(sample, theory[:, None].repeat(6, 1), atol=0.1)


# -------------------------------------------------------------------- training on showers


@pytest.mark.parametrize(
    ("overrides"),
    [
        {"posterior": "gaussian"},
        {"posterior": "iaf"},
        {"head": "salamani", "hidden": [64, 32], "latent_dim": 6, "batch_norm": True,
         "activation": "leaky_relu", "reconstruction": "bce", "beta": 0.02,
         "total_energy_weight": 0.0, "layer_weights": 0.0},
    ],
    ids=["vae", "iaf_vae", "salamani"],
)  # fmt: skip
def test_few_training_steps_on_showers_and_samples(showers, overrides):
    torch.manual_seed(4)
    x, cond = showers
    settings = {
        "total_energy_weight": 1e-2,
        "layer_weights": {"0": 0.08, "1": 0.08, "2": 0.6, "3": 0.2},
        **overrides,
    }
    model = CaloVAE(calo_spec(), optimizer=optimizer, **settings)
    opt = model.configure_optimizers()
    losses = []
    for step in range(40):
        rows = slice((step % 4) * 100, (step % 4 + 1) * 100)
        terms = model.likelihood_terms({"x": x[rows], "cond": cond[rows]})
        opt.zero_grad()
        terms["objective"].backward()
        opt.step()
        losses.append(float(terms["objective"]))
        assert all(torch.isfinite(v) for v in terms.values())
    assert np.mean(losses[-4:]) < np.mean(losses[:4])
    model.eval()
    generated = model.sample(50, cond[:50])
    assert generated.shape == (50, GEOMETRY.n_voxels)
    assert (generated >= 0).all() and (generated <= 1).all()
    assert torch.isfinite(model.log_prob(x[:20], cond[:20])).all()
    z = model.latent(x[:20], cond[:20], sample=False)
    assert z.shape == (20, model.latent_dim)
    assert model.reconstruct(x[:20], cond[:20]).shape == (20, GEOMETRY.n_voxels)


def test_salamani_layer_sums_equal_its_predicted_layer_energies():
    torch.manual_seed(6)
    model = SalamaniVAE(calo_spec(), latent_dim=5, hidden=[32, 16], batch_norm=True).eval()
    z, cond = torch.randn(30, 5), torch.rand(30, 1)
    x, total, layers = model.energy_heads(z, cond)
    sums = torch.stack([x[:, s].sum(1) for s in model.layer_slices], dim=1)
    torch.testing.assert_close(sums, layers, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(layers.sum(1), total, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(x.sum(1), total, rtol=1e-5, atol=1e-7)
    assert (x >= 0).all() and (total < 1).all()


def test_configuration_errors_are_clear():
    with pytest.raises(ValueError, match="layers"):
        CaloVAE(calo_spec(), layer_weights={"7": 1.0})
    with pytest.raises(ValueError, match="salamani"):
        CaloVAE(DataSpec("toy", (5,)).to_dict(), head="salamani")
    with pytest.raises(ValueError, match="posterior"):
        CaloVAE(calo_spec(), posterior="nf")
    assert not CaloVAE.accepts(DataSpec("jetnet", (30, 3), has_mask=True))
    assert CaloVAE.accepts(DataSpec("gaussian_mixture", (2,)))
    assert not SalamaniVAE.accepts(DataSpec("gaussian_mixture", (2,)))
    assert SalamaniVAE.accepts(DataSpec.from_dict(calo_spec()))


def test_longitudinal_centre_is_the_energy_weighted_layer_index():
    x = np.zeros((3, GEOMETRY.n_voxels))
    slices = GEOMETRY.layer_slices
    x[0, slices[2].start] = 5.0  # all in layer index 2
    x[1, slices[0].start], x[1, slices[3].start] = 1.0, 3.0  # (0·1 + 3·3) / 4
    assert longitudinal_centre(x, GEOMETRY) == pytest.approx([2.0, 2.25, 0.0])
    assert layer_energies(x, GEOMETRY).sum(1) == pytest.approx([5.0, 4.0, 0.0])


# -------------------------------------------------------------------- the experiment end to end


def test_experiment_trains_and_writes_the_latent_table(tmp_path):
    from genhep.train import train

    cfg = compose_train(
        tmp_path,
        [
            "experiment=atlas_vae_iaf",
            "+preset/atlas_vae_iaf=iaf_energies",
            "data.generator.n_events=600",
            "trainer.max_epochs=1",
            "callbacks.evaluation.n_samples=200",
            "callbacks.latent_diagnostic.n_events=100",
            "~callbacks.progress_bar",
            "~callbacks.reconstruction",
        ],
        tiny=False,
    )
    train(cfg)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert "w1_longitudinal_centre" in results["metrics"]
    assert 0 <= results["metrics"]["latent_gaussian_fraction"]["value"] <= 1
    assert 0 <= results["metrics"]["latent_active_dims"]["value"] <= cfg.model.latent_dim
    assert len(results["latent"]["table"]) == cfg.model.latent_dim
    assert results["likelihood"]["kind"] == "bound"
    assert (tmp_path / "run" / "figures" / "latent" / "qq.png").is_file()
    assert (tmp_path / "run" / "figures" / "test" / "longitudinal_centre.png").is_file()
