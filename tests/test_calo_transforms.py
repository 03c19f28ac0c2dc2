"""Calorimeter transforms: exact round trips, zeros kept, CaloFlow u-variables, state dicts."""

import numpy as np
import pytest
import torch

from genhep.data.calorimeter import get_geometry
from genhep.data.calorimeter.transforms import (
    TRANSFORMS,
    LayerFractions,
    LogEnergy,
    LogIncidentEnergy,
    Logit,
    NormalizeByIncident,
    layer_energies_to_u,
    make_calorimeter_transform,
    u_to_layer_energies,
)
from genhep.data.transforms import Compose, Standardize
from genhep.metrics.shower_features import layer_energies

GEOMETRIES = ("ds1_photons", "ds1_pions", "atlas_photons_266")


def sparse_showers(geometry, n=400, seed=0, occupancy=0.3):
    """Random sparse showers (float64 MeV) and incident energies (N, 1).

    About ``occupancy`` of the voxels are lit, with energies bounded away from 0 relative to
    their layer; some layers and some whole showers are empty; E_tot / E_inc in [0.5, 0.95].
    """
    rng = np.random.default_rng(seed)
    e_inc = 2.0 ** rng.integers(8, 23, (n, 1))  # 256 MeV .. 4 TeV, as dataset 1
    lit = rng.random((n, geometry.n_voxels)) < occupancy
    weights = lit * (0.05 + rng.exponential(1.0, lit.shape))
    empty_layer = rng.random((n, geometry.n_layers)) < 0.15
    weights[empty_layer[:, geometry.voxel_layer_index]] = 0.0
    weights[:5] = 0.0  # whole showers empty
    weights[5, geometry.layer_slices[-1]] = 0.0  # an empty last layer
    weights[6, geometry.layer_slices[0]] = 0.0  # an empty first layer
    total = weights.sum(axis=1, keepdims=True)
    ratio = rng.uniform(0.5, 0.95, (n, 1))
    showers = np.where(total > 0, weights / np.where(total > 0, total, 1.0), 0.0) * ratio * e_inc
    return torch.from_numpy(showers), torch.from_numpy(e_inc)


def assert_round_trip(back, x, rtol=1e-10):
    """Equal to float precision, zeros exactly zero and non-zeros non-zero."""
    assert back.dtype == torch.float64
    torch.testing.assert_close(back, x, rtol=rtol, atol=0.0)
    assert torch.equal(back == 0, x == 0)


# -------------------------------------------------------------------- round trips


@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_pipelines_round_trip_exactly_and_keep_zeros(geometry, name):
    geo = get_geometry(geometry)
    x, e_inc = sparse_showers(geo)
    assert (x == 0).float().mean() > 0.6  # mostly exact zeros
    transform = make_calorimeter_transform(name, geo).fit(x, cond=e_inc)
    y = transform.forward(x, cond=e_inc)
    width = geo.n_voxels + (geo.n_layers if name == "layer_fractions" else 0)
    assert y.shape == (len(x), width) and y.dtype == torch.float64
    assert torch.isfinite(y).all()
    assert_round_trip(transform.inverse(y, cond=e_inc), x)


@pytest.mark.parametrize("name", ["log_energy", "voxel_fraction_logit", "layer_fractions"])
def test_round_trip_through_float32_model_space_keeps_zeros(name):
    # what the data module does: model space is stored as float32
    geo = get_geometry("ds1_photons")
    x, e_inc = sparse_showers(geo, seed=3)
    transform = make_calorimeter_transform(name, geo).fit(x, cond=e_inc)
    y32 = transform.forward(x, cond=e_inc).float()
    back = transform.inverse(y32.double(), cond=e_inc)
    assert torch.equal(back == 0, x == 0)
    torch.testing.assert_close(back, x, rtol=2e-5, atol=0.0)


def test_normalize_by_incident():
    x, e_inc = sparse_showers(get_geometry("ds1_photons"))
    t = NormalizeByIncident()
    y = t.forward(x, cond=e_inc)
    torch.testing.assert_close(y.sum(1, keepdim=True) * e_inc, x.sum(1, keepdim=True))
    assert_round_trip(t.inverse(y, cond=e_inc[:, 0]), x)  # (N,) accepted too


def test_conditional_transforms_need_positive_cond():
    x, e_inc = sparse_showers(get_geometry("ds1_photons"), n=10)
    for t in (NormalizeByIncident(), LayerFractions("ds1_photons", max_deposit=1.0)):
        with pytest.raises(ValueError, match="pass cond=E_inc"):
            t.forward(x)
        with pytest.raises(ValueError, match="must be > 0"):
            t.forward(x, cond=torch.zeros_like(e_inc))
        with pytest.raises(ValueError, match=r"shape \(10, 1\)"):
            t.forward(x, cond=e_inc[:5])


# -------------------------------------------------------------------- logit and log


def test_logit_definition_and_exact_inverse():
    x = torch.tensor([[0.0, 1e-4, 0.3, 0.5, 0.999, 1.0]], dtype=torch.float64)
    t = Logit(alpha=1e-6)
    y = t.forward(x)
    p = 1e-6 + (1 - 2e-6) * x
    torch.testing.assert_close(y, torch.log(p / (1 - p)), rtol=1e-14, atol=1e-14)
    back = t.inverse(y)
    torch.testing.assert_close(back, x, rtol=1e-10, atol=1e-15)
    assert back[0, 0] == 0.0 and back[0, -1] == 1.0


def test_logit_snaps_below_resolution_and_rejects_out_of_range():
    t = Logit(alpha=1e-6)
    # zeros and ones survive float32 model space exactly
    y32 = t.forward(torch.tensor([0.0, 1.0], dtype=torch.float64)).float().double()
    assert t.inverse(y32).tolist() == [0.0, 1.0]
    # documented rule: values below alpha / 100 come back as 0, above 1 - alpha / 100 as 1
    tiny = torch.tensor([5e-9, 2e-8, 1 - 5e-9], dtype=torch.float64)
    assert t.inverse(t.forward(tiny)).tolist() == pytest.approx([0.0, 2e-8, 1.0], rel=1e-6)
    # rounding just outside [0, 1] is clipped; real excursions are errors
    assert torch.isfinite(t.forward(torch.tensor([-1e-12, 1 + 1e-12]))).all()
    with pytest.raises(ValueError, match=r"values in \[0, 1\].*max 1.2"):
        t.forward(torch.tensor([0.5, 1.2]))
    with pytest.raises(ValueError, match="alpha"):
        Logit(alpha=0.0)


def test_log_energy_definition_and_zero_rule():
    t = LogEnergy(eps=1e-6)
    x = torch.tensor([[0.0, 1e-5, 0.25, 3e3]], dtype=torch.float64)
    y = t.forward(x)
    torch.testing.assert_close(y, torch.log(x + 1e-6), rtol=0, atol=0)
    back = t.inverse(y)
    assert back[0, 0] == 0.0
    torch.testing.assert_close(back, x, rtol=1e-10, atol=0.0)
    # documented rule: anything at or below eps / 100 (negatives included) is 0 on inverse
    assert t.inverse(torch.log(torch.tensor([1e-6 + 5e-9, 1e-6 - 1e-7, 1e-6 + 1e-7]))).tolist() == (
        pytest.approx([0.0, 0.0, 1e-7], rel=1e-8)
    )
    with pytest.raises(ValueError, match="non-negative"):
        t.forward(torch.tensor([[-1.0]]))


# -------------------------------------------------------------------- CaloFlow u-variables


def test_u_variables_by_hand():
    e = torch.tensor([[1.0, 2.0, 3.0], [0.0, 4.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    e_inc = torch.tensor([[10.0], [8.0], [5.0]], dtype=torch.float64)
    u = layer_energies_to_u(e, e_inc)
    # u_0 = E_tot / E_inc, u_1 = E_0 / (E_0 + E_1 + E_2), u_2 = E_1 / (E_1 + E_2)
    expected = [[0.6, 1 / 6, 2 / 5], [0.5, 0.0, 1.0], [0.0, 0.0, 0.0]]
    torch.testing.assert_close(u, torch.tensor(expected, dtype=torch.float64))
    assert torch.equal(u_to_layer_energies(u, e_inc) == 0, e == 0)
    torch.testing.assert_close(u_to_layer_energies(u, e_inc), e, rtol=1e-15, atol=0.0)
    # with max_deposit f: u_0 = E_tot / (f E_inc)
    torch.testing.assert_close(layer_energies_to_u(e, e_inc, 2.0)[:, 0], u[:, 0] / 2)


@pytest.mark.parametrize("geometry", ["ds1_pions", "ds2_electrons"])
def test_u_variables_reproduce_layer_energies(geometry):
    geo = get_geometry(geometry)
    x, e_inc = sparse_showers(geo, n=200, seed=1)
    e = torch.from_numpy(layer_energies(x.numpy(), geo))
    u = layer_energies_to_u(e, e_inc)
    assert u.shape == e.shape and (u >= 0).all() and (u <= 1).all()
    # the brief's recursion: E_i = u_{i+1} (E_tot - sum_{j<i} E_j), E_tot = u_0 E_inc
    e_tot = u[:, 0] * e_inc[:, 0]
    torch.testing.assert_close(e_tot, e.sum(1), rtol=1e-13, atol=0.0)
    for i in range(geo.n_layers - 1):
        rebuilt = u[:, i + 1] * (e_tot - e[:, :i].sum(1))
        torch.testing.assert_close(rebuilt, e[:, i], rtol=1e-9, atol=1e-9 * e_tot.max().item())
    back = u_to_layer_energies(u, e_inc)
    assert torch.equal(back == 0, e == 0)
    torch.testing.assert_close(back, e, rtol=1e-10, atol=0.0)


def test_layer_fractions_layout():
    geo = get_geometry("ds1_photons")
    x, e_inc = sparse_showers(geo, n=100, seed=2)
    t = LayerFractions(geo, max_deposit=1.0)
    y = t.forward(x, cond=e_inc)
    normalised, u = y[:, : geo.n_voxels], y[:, geo.n_voxels :]
    e = torch.from_numpy(layer_energies(x.numpy(), geo))
    torch.testing.assert_close(u, layer_energies_to_u(e, e_inc))
    for i, s in enumerate(geo.layer_slices):
        sums = normalised[:, s].sum(1)
        torch.testing.assert_close(sums, (e[:, i] > 0).double())  # 1, or 0 for an empty layer
    # inverse renormalises each layer's voxels (as CaloFlow does with sampled showers)
    scaled = y.clone()
    scaled[:, geo.layer_slices[2]] *= 1.7
    torch.testing.assert_close(t.inverse(scaled, cond=e_inc), x, rtol=1e-12, atol=0.0)


def test_layer_fractions_fits_max_deposit_and_round_trips_state():
    geo = get_geometry("ds1_pions")
    x, e_inc = sparse_showers(geo, n=100, seed=4)
    x[7] *= 3.0  # one shower deposits more than its incident energy (calibrated cells)
    ratio = (x.sum(1) / e_inc[:, 0]).max().item()
    assert ratio > 1
    t = LayerFractions(geo).fit(x, cond=e_inc)
    assert t.max_deposit.item() == pytest.approx(1.1 * ratio)
    y = t.forward(x, cond=e_inc)
    assert (y >= 0).all() and (y <= 1).all()
    fresh = LayerFractions(geo)
    assert not fresh.fitted
    fresh.load_state_dict(t.state_dict())
    assert torch.equal(fresh.forward(x, cond=e_inc), y)
    assert_round_trip(fresh.inverse(y, cond=e_inc), x)


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_pipeline_state_dict_round_trip(name):
    geo = get_geometry("ds1_photons")
    x, e_inc = sparse_showers(geo, seed=5)
    fitted = make_calorimeter_transform(name, geo).fit(x, cond=e_inc)
    fresh = make_calorimeter_transform(name, geo)
    state = fitted.state_dict()
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    fresh.load_state_dict(state)
    assert fresh.fitted
    torch.testing.assert_close(fresh.forward(x, cond=e_inc), fitted.forward(x, cond=e_inc))


def test_one_signature_composes_conditional_and_plain_transforms():
    geo = get_geometry("ds1_photons")
    x, e_inc = sparse_showers(geo, n=50)
    compose = Compose([NormalizeByIncident(), Logit(), Standardize()])
    y = compose.fit(x, cond=e_inc).forward(x, cond=e_inc)
    assert_round_trip(compose.inverse(y, cond=e_inc), x)
    # the steps that ignore cond give the same with or without it
    torch.testing.assert_close(Logit().forward(x / e_inc, cond=e_inc), Logit().forward(x / e_inc))
    with pytest.raises(ValueError, match="needs the incident energies"):
        compose.forward(x)


def test_unknown_pipeline_is_rejected():
    with pytest.raises(ValueError, match="choose one of"):
        make_calorimeter_transform("sqrt", get_geometry("ds1_photons"))


# -------------------------------------------------------------------- the condition


def test_log_incident_energy():
    e = torch.tensor([[256.0], [2048.0], [4194304.0]], dtype=torch.float64)
    t = LogIncidentEnergy().fit(e)
    c = t.forward(e)
    torch.testing.assert_close(c[:, 0], torch.tensor([0.0, 3 / 14, 1.0], dtype=torch.float64))
    torch.testing.assert_close(t.inverse(c), e, rtol=1e-14, atol=0.0)
    fixed = LogIncidentEnergy(e_min=1000.0, e_max=10000.0)
    assert fixed.fitted
    torch.testing.assert_close(
        fixed.forward(torch.tensor([[1e5]], dtype=torch.float64)), e[:1] * 0 + 2
    )
    single = LogIncidentEnergy().fit(torch.full((4, 1), 500.0, dtype=torch.float64))
    assert single.forward(torch.tensor([[500.0]], dtype=torch.float64)).item() == 0.0
    with pytest.raises(ValueError, match="both"):
        LogIncidentEnergy(e_min=1.0)
