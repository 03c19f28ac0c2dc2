"""The MDN of the calorimeter's energy response: data.representation=response, MDN.moments,
the response evaluator, and the learned σ/E against the simulator's stated a/√E ⊕ b."""

import numpy as np
import pytest
import torch

from genhep.data.calorimeter.datamodule import CalorimeterDataModule
from genhep.data.calorimeter.simulator import ShowerSimulator
from genhep.evaluation.calorimeter_response import ResponseEvaluator
from genhep.metrics.response import energy_bins, response_curve
from genhep.models.mdn import MixtureDensityNetwork

# a contained calorimeter: showers squeezed laterally (lateral_scale 0.2) so that no energy
# leaks out of the voxels, and few spots per shower for speed; E_tot / E_inc then carries the
# simulator's input resolution alone (with the default lateral size, leakage adds ~3-10 % to
# σ/E above 30 GeV at this spot cap: experiments/mdn_response)
CONTAINED = {"lateral_scale": 0.2, "max_spots_per_shower": 200}
LOW, HIGH = 2.0**11, 2.0**17  # 2 GeV and 131 GeV


@pytest.fixture(scope="module")
def response_data(tmp_path_factory):
    dm = CalorimeterDataModule(
        geometry="ds1_photons",
        representation="response",
        data_dir=str(tmp_path_factory.mktemp("response")),
        generator={
            "n_events": 13_500,
            "energies": "ds1",
            "e_min": 2.0**10,
            "e_max": 2.0**18,
            "n_workers": 1,
            "params": CONTAINED,
        },
        batch_size=512,
    )
    dm.prepare_data()
    dm.setup()
    return dm


def test_response_representation_and_files(response_data, tmp_path):
    dm = response_data
    assert dm.spec.event_shape == (1,) and dm.spec.columns("response") == {"total": slice(0, 1)}
    physical = dm.physical["train"]
    assert physical["x"].shape[1] == 1 and 0.3 < physical["x"].mean() < 0.6
    x = dm.datasets["train"].tensors["x"]
    assert abs(float(x.mean())) < 1e-4 and float(x.std()) == pytest.approx(1.0, abs=1e-3)
    np.testing.assert_allclose(
        dm.to_physical(x[:50], physical["cond"][:50])[:, 0], physical["x"][:50, 0], rtol=1e-5
    )
    path = dm.write_samples(tmp_path / "response.h5", dm.physical["test"])
    back = dm.read_samples(path)
    np.testing.assert_array_equal(back["x"], dm.physical["test"]["x"])
    layers = CalorimeterDataModule(geometry="ds1_photons", representation="response_layers")
    assert layers.spec.event_shape == (5,)  # E_tot and 4 of the 5 dataset-1 photon layers
    with pytest.raises(ValueError, match="data.representation"):
        CalorimeterDataModule(representation="energy")


def test_moments_are_the_closed_form_mixture_mean_and_std():
    torch.manual_seed(3)
    spec = {"family": "toy", "event_shape": [2], "cond_dim": 1}
    mdn = MixtureDensityNetwork(spec, n_components=3)
    cond = torch.randn(7, 1)
    mean, std = mdn.moments(cond)
    mixture = mdn.mixture(cond, 7)
    pi = mixture.mixture_distribution.probs.detach().numpy()  # (7, K)
    mu = mixture.component_distribution.loc.detach().numpy()  # (7, K, 2)
    tril = mixture.component_distribution.scale_tril.detach().numpy()
    cov = tril @ np.swapaxes(tril, -1, -2)
    expected_mean = np.einsum("nk,nkd->nd", pi, mu)
    # law of total covariance: Σ π (Σ_k + μ_k μ_kᵀ) − m mᵀ, its diagonal
    second = np.einsum("nk,nkde->nde", pi, cov + mu[..., :, None] * mu[..., None, :])
    full = second - expected_mean[:, :, None] * expected_mean[:, None, :]
    np.testing.assert_allclose(mean.numpy(), expected_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std.numpy(), np.sqrt(np.diagonal(full, axis1=1, axis2=2)), rtol=1e-4)
    # and the samples agree
    samples = mdn.sample(200_000, cond[:1].expand(200_000, 1))
    np.testing.assert_allclose(samples.std(0).numpy(), std[0].numpy(), rtol=0.02)


def _train_mdn(dm, steps=500):
    torch.manual_seed(0)
    data = dm.datasets["train"].tensors
    mdn = MixtureDensityNetwork(dm.spec.to_dict(), n_components=2, hidden=[32, 32])
    optimizer = torch.optim.Adam(mdn.parameters(), lr=5e-3)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = -mdn.log_prob(data["x"], data["cond"]).mean()
        loss.backward()
        optimizer.step()
        scheduler.step()
    return mdn


def test_learned_resolution_recovers_the_simulator_input_at_low_and_high_energy(response_data):
    """σ/E of the trained MDN (closed-form moments, mapped to physical units) equals
    a/√E ⊕ b at 2 GeV (7.0 %) and 131 GeV (1.1 %) within 3 statistical errors of σ/E measured
    on the ~1000 training showers of that energy. (Measured: 7.36 % and 1.176 %, 2.2 errors
    above; the training showers themselves show 7.24 % and 1.162 %, 1.5 errors above: the MDN
    follows its sample.)"""
    dm = response_data
    mdn = _train_mdn(dm)
    energies = torch.tensor([[LOW], [HIGH]], dtype=torch.float64)
    cond = dm.cond_transform.forward(energies).float()
    mean, std = mdn.moments(cond)
    low_phys = dm.to_physical(mean, energies)[:, 0]
    high_phys = dm.to_physical(mean + std, energies)[:, 0]
    learned = (high_phys - low_phys) / low_phys  # the standardisation is affine
    stated = ShowerSimulator("ds1_photons", "photon", **CONTAINED).stated_resolution(
        energies.numpy()[:, 0]
    )
    e_train = dm.physical["train"]["cond"][:, 0]
    n = np.array([np.sum(e_train == e) for e in (LOW, HIGH)])
    error = stated * np.sqrt(1 / (2 * (n - 1)) + stated**2 / n)
    assert np.all(n > 800)
    assert np.all(np.abs(learned - stated) < 3 * error), (learned, stated, error)
    # and the scale: the sampling fraction 0.5
    np.testing.assert_allclose(low_phys, 0.5, atol=0.01)


def test_response_evaluator_scores_and_draws(response_data):
    dm = response_data
    evaluator = dm.evaluator()
    assert isinstance(evaluator, ResponseEvaluator) and evaluator.stated_resolution is not None
    real, reference = dm.evaluation_samples("test", 2000)
    metrics = evaluator.evaluate(real, real, reference)
    assert metrics["resolution_dev"].value == pytest.approx(0.0, abs=1e-12)
    assert metrics["resolution_dev"].real_vs_real < 0.15
    assert metrics["resolution_dev_stated"].real_vs_real < 0.15  # the data follows a/√E ⊕ b
    # twice the spread around the same mean: resolution_dev ≈ 1, scale unchanged
    broad = {**real, "x": 2 * real["x"] - real["x"].mean()}
    e_inc = real["cond"][:, 0]
    for e in np.unique(e_inc):
        rows = e_inc == e
        broad["x"][rows] = 2 * real["x"][rows] - real["x"][rows].mean()
    worse = evaluator.evaluate(broad, real, reference)
    assert worse["resolution_dev"].value == pytest.approx(1.0, rel=0.05)
    assert worse["scale_dev"].value < 1e-6
    figures = evaluator.figures(broad, real)
    assert set(figures) == {"resolution", "scale", "response"}
    assert len(figures["resolution"].axes[0].lines) >= 1  # the stated curve
    # the curve itself: one bin per dataset-1 energy, numpy's statistics
    edges = energy_bins(e_inc)
    curve = response_curve(real["x"][:, 0], e_inc, edges)
    assert len(curve.n) == len(np.unique(e_inc))
    rows = e_inc == e_inc[0]
    i = int(np.flatnonzero(np.unique(e_inc) == e_inc[0])[0])
    values = real["x"][rows, 0]
    assert curve.resolution[i] == pytest.approx(values.std(ddof=1) / values.mean())


def test_stated_resolution_is_the_simulator_input():
    photons = ShowerSimulator("ds1_photons", "photon")
    assert photons.stated_resolution(1000.0) == pytest.approx(np.hypot(0.10, 0.007))
    np.testing.assert_allclose(
        photons.stated_resolution(np.array([4000.0, 2.5e5])),
        np.hypot(0.10 / np.array([2.0, 5.0 * np.sqrt(10.0)]), 0.007),
    )
    pions = ShowerSimulator("ds1_pions", "pion")
    assert pions.stated_resolution(1000.0) == pytest.approx(np.hypot(0.45, 0.03))
    with pytest.raises(ValueError, match="kind"):
        photons.stated_resolution(1000.0, kind="muon")
