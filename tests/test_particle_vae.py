"""The VAE base (ELBO against a linear-Gaussian model's exact likelihood), the masked chamfer
distance, and the particle VAE: its objective, jet terms, masks, training through genhep train."""

import json

import numpy as np
import pytest
import torch
from jetnet_files import N_PART, make_jets, train_overrides, write_file
from scipy.stats import multivariate_normal
from torch import nn

from genhep.data.jets.jetnet import JetNetDataModule
from genhep.evaluate import restore_checkpoint
from genhep.metrics.jet_clouds import jet_mass, jet_pt
from genhep.models.base import Generated, TrainingData
from genhep.models.particle_vae import ParticleVAE, jet_pt_mass
from genhep.models.vae import VariationalAutoencoder
from genhep.nn.chamfer import chamfer_distance
from genhep.spec import DataSpec
from genhep.train import train

from conftest import compose_train

SPEC = {
    "family": "jetnet",
    "event_shape": [N_PART, 3],
    "has_mask": True,
    "layout": {"features": {"etarel": [0, 1], "phirel": [1, 2], "ptrel": [2, 3]}},
}
SMALL = {"channels": [4, 4, 4], "hidden": 16, "latent_dim": 4}


def masks(n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """Random masks ``(n, size)`` with at least one genuine particle per event."""
    mask = torch.rand(n, size, generator=generator) > 0.4
    mask[:, 0] = True
    return mask


# -- chamfer distance -------------------------------------------------------------------------


def brute_force_chamfer(a, b, mask_a, mask_b) -> list[float]:
    out = []
    for k in range(len(a)):
        pa = [a[k, i] for i in range(a.shape[1]) if mask_a[k, i]]
        pb = [b[k, j] for j in range(b.shape[1]) if mask_b[k, j]]
        total = 0.0
        for p in pa:
            total += min(float(((p - q) ** 2).sum()) for q in pb)
        for q in pb:
            total += min(float(((p - q) ** 2).sum()) for p in pa)
        out.append(total)
    return out


@pytest.mark.parametrize(("n", "m", "f"), [(7, 7, 3), (5, 9, 2), (12, 3, 4)])
def test_chamfer_equals_a_double_loop(n, m, f):
    g = torch.Generator().manual_seed(n * m * f)
    a, b = torch.randn(6, n, f, generator=g), torch.randn(6, m, f, generator=g)
    mask_a, mask_b = masks(6, n, g), masks(6, m, g)
    got = chamfer_distance(a.double(), b.double(), mask_a, mask_b)
    expected = brute_force_chamfer(a.double(), b.double(), mask_a, mask_b)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)


def test_chamfer_is_permutation_invariant_and_ignores_padding():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(4, 10, 3, generator=g), torch.randn(4, 10, 3, generator=g)
    mask_a, mask_b = masks(4, 10, g), masks(4, 10, g)
    reference = chamfer_distance(a, b, mask_a, mask_b)
    perm = torch.randperm(10, generator=g)
    permuted = chamfer_distance(a[:, perm], b, mask_a[:, perm], mask_b)
    torch.testing.assert_close(permuted, reference)
    noisy_a = torch.where(mask_a[..., None], a, 100 * torch.randn_like(a))
    noisy_b = torch.where(mask_b[..., None], b, torch.zeros_like(b))
    torch.testing.assert_close(chamfer_distance(noisy_a, noisy_b, mask_a, mask_b), reference)
    assert (chamfer_distance(a, a, mask_a, mask_a) == 0).all()


# -- the VAE base: ELBO of a linear-Gaussian model --------------------------------------------


class LinearGaussianVAE(VariationalAutoencoder):
    """Decoder x = W z + b (+ N(0, σ² I)); encoder mean A x + c, log-variance ``log_var``."""

    @classmethod
    def incompatibility(cls, spec):
        return None

    def __init__(self, w, b, sigma, a, c, log_var, elbo_samples):
        spec = {"family": "toy", "event_shape": [w.shape[0]]}
        super().__init__(spec, w.shape[1], decoder_std=sigma, elbo_samples=elbo_samples)
        for name, value in dict(w=w, b=b, a=a, c=c, log_var=log_var).items():
            setattr(self, name, nn.Parameter(value))

    def encode(self, x, cond, mask):
        return x @ self.a.T + self.c, self.log_var.expand(len(x), -1)

    def decode(self, z, cond, mask):
        return z @ self.w.T + self.b


def linear_gaussian(seed: int):
    """W with orthogonal columns (so the exact posterior is diagonal), b, σ, events."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(4, 4, generator=g, dtype=torch.float64))
    w = q[:, :2] * torch.tensor([1.5, 0.7], dtype=torch.float64)
    b = torch.randn(4, generator=g, dtype=torch.float64)
    sigma = 0.5
    cov = (w @ w.T + sigma**2 * torch.eye(4, dtype=torch.float64)).numpy()
    x = torch.as_tensor(
        multivariate_normal(b.numpy(), cov).rvs(12, random_state=seed), dtype=torch.float64
    )
    exact = multivariate_normal(b.numpy(), cov).logpdf(x.numpy())
    return w, b, sigma, x, exact


def test_elbo_bounds_the_exact_log_likelihood_and_reaches_it_at_the_exact_posterior():
    torch.manual_seed(0)
    w, b, sigma, x, exact = linear_gaussian(3)
    # exact posterior: S = (I + WᵀW / σ²)⁻¹ (diagonal), mean S Wᵀ (x − b) / σ²
    s = 1.0 / (1.0 + (w * w).sum(0) / sigma**2)
    a_exact = s[:, None] * w.T / sigma**2
    model = LinearGaussianVAE(w, b, sigma, a_exact, -a_exact @ b, s.log(), 4000).double()
    with torch.no_grad():
        elbo = model.log_prob(x).numpy()
    np.testing.assert_allclose(elbo, exact, atol=0.05)

    g = torch.Generator().manual_seed(5)
    a_off = torch.randn(2, 4, generator=g, dtype=torch.float64)
    log_var = torch.full((2,), -1.0, dtype=torch.float64)
    model = LinearGaussianVAE(w, b, sigma, a_off, torch.zeros(2).double(), log_var, 4000)
    with torch.no_grad():
        elbo = model.double().log_prob(x).numpy()
    assert (elbo <= exact + 0.05).all()
    assert (exact - elbo).mean() > 1.0  # a real gap, not the noise of the estimate


# -- the particle VAE -------------------------------------------------------------------------


def test_mse_objective_is_beta_times_minus_elbo_up_to_a_constant():
    torch.manual_seed(0)
    model = ParticleVAE(SPEC, beta=0.8, **SMALL)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(5, N_PART, 3, generator=g)
    mask = masks(5, N_PART, g)
    x = torch.where(mask[..., None], x, torch.zeros_like(x))
    torch.manual_seed(1)
    terms = model.likelihood_terms({"x": x, "mask": mask})
    std = model.decoder_std
    constant = -0.8 * 3 * mask.sum(1).double().mean() * (std.log() + 0.5 * np.log(2 * np.pi))
    torch.testing.assert_close(
        terms["objective"].double() - 0.8 * terms["loss"].double(),
        constant.squeeze().double(),
        rtol=1e-5,
        atol=1e-5,
    )
    torch.testing.assert_close(std, torch.tensor([np.sqrt(0.8 / 0.4)], dtype=torch.float32))


def test_jet_pt_and_mass_equal_the_metrics_and_the_affine_map_is_fitted():
    pf, _ = make_jets(50, seed=4)
    x, mask = torch.as_tensor(pf[..., :3]).double(), torch.as_tensor(pf[..., 3] > 0)
    pt, mass = jet_pt_mass(x, mask)
    np.testing.assert_allclose(pt.numpy(), jet_pt(pf[..., :3], mask.numpy()), rtol=1e-9)
    np.testing.assert_allclose(mass.numpy(), jet_mass(pf[..., :3], mask.numpy()), rtol=1e-9)

    model = ParticleVAE(SPEC, jet_mass_weight=10.0, **SMALL)
    scale, shift = torch.tensor([0.1, 0.2, 0.05]), torch.tensor([0.0, 0.01, 0.03])
    standardised = torch.where(mask[..., None], (x.float() - shift) / scale, 0.0)
    model.fit_to_data(
        TrainingData(standardised, mask=mask, to_physical=lambda y, mask: y * scale + shift)
    )
    torch.testing.assert_close(model.physical_scale, scale)
    torch.testing.assert_close(model.physical_shift, shift, atol=1e-6, rtol=0)
    terms = model.extra_terms(standardised, standardised, mask)
    assert list(terms) == ["jet_mass"] and (terms["jet_mass"] == 0).all()


def test_samples_the_multiplicities_it_is_given_with_padding_zero():
    torch.manual_seed(0)
    model = ParticleVAE(SPEC, **SMALL).eval()
    real_mask = torch.zeros(6, N_PART, dtype=torch.bool)
    for i, k in enumerate([1, 5, 10, 20, 29, 30]):
        real_mask[i, N_PART - k :] = True  # where they are does not matter, only how many
    out = model.sample(6, mask=real_mask)
    assert isinstance(out, Generated) and out.x.shape == (6, N_PART, 3)
    assert out.mask.sum(1).tolist() == [1, 5, 10, 20, 29, 30]
    assert out.mask[:, 0].all() and (out.x[~out.mask] == 0).all()


def test_refuses_conditional_data_and_short_clouds():
    assert not ParticleVAE.accepts(DataSpec.from_dict({**SPEC, "cond_dim": 1}))
    with pytest.raises(ValueError, match="model.kernel_width"):
        ParticleVAE({**SPEC, "event_shape": [12, 3]}, **SMALL)
    with pytest.raises(ValueError, match="model.reconstruction"):
        ParticleVAE(SPEC, reconstruction="emd", **SMALL)


def test_trains_through_genhep_train_draws_reconstructions_and_samples_valid_clouds(tmp_path):
    write_file(tmp_path / "g.hdf5", *make_jets(400, seed=2))
    cfg = compose_train(
        tmp_path,
        [
            *train_overrides(tmp_path),
            "model=particle_vae",
            "model.channels=[4,4,4]",
            "model.hidden=16",
            "model.latent_dim=4",
            "model.beta=0.5",
            "model.reconstruction=chamfer",
            "model.jet_mass_weight=10",
            "+callbacks/reconstruction=default",
            "callbacks.reconstruction.n_events=50",
        ],
    )
    metrics = train(cfg)
    assert np.isfinite(metrics["test/w1m"]) and np.isfinite(metrics["test/loss"])
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["likelihood"]["kind"] == "bound"
    figures = tmp_path / "run" / "figures" / "reconstruction"
    assert {"jet_mass.png", "jet_pt.png", "etarel.pdf", "phirel.pdf"} <= {
        f.name for f in figures.iterdir()
    }

    restored = restore_checkpoint(tmp_path / "run")
    model, dm = restored.model, restored.datamodule
    dm.setup()
    assert model.physical_scale.ne(1).any()  # fitted before training, kept in the checkpoint
    real_mask = dm.datasets["test"].tensors["mask"][:40]
    out = model.sample(40, mask=real_mask)
    assert (out.mask.sum(1) == real_mask.sum(1)).all()
    physical = dm.to_physical(out.x, mask=out.mask)
    assert (physical[~out.mask.numpy()] == 0).all() and np.isfinite(physical).all()
    assert (physical[..., 2] >= 0).all()  # the JetNet inverse clamps ptrel at zero


@pytest.mark.parametrize("transform", ["standardize", "max_abs", "none"])
def test_jetnet_inverse_clamps_ptrel_at_zero_and_stays_exact_on_data(tmp_path, transform):
    write_file(tmp_path / "g.hdf5", *make_jets(200, seed=3))
    dm = JetNetDataModule(path=str(tmp_path), transform=transform)
    dm.setup()
    x, mask = dm.datasets["train"].tensors["x"], dm.datasets["train"].tensors["mask"]
    np.testing.assert_allclose(dm.to_physical(x, mask=mask), dm.physical["train"]["x"], atol=1e-6)
    below = x.clone()
    below[..., 2] = -100.0
    physical = dm.to_physical(below, mask=mask)
    assert (physical[mask.numpy()][:, 2] == 0).all() and (physical[~mask.numpy()] == 0).all()
