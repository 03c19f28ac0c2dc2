"""genhep's EFPs (genhep/metrics/efp.py): closed forms, masks, symmetry, the d <= 4 set.

Equality with energyflow's EFPSet is checked in tests/test_efp_reference.py (make test-jetnet).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genhep.metrics import efp
from genhep.metrics.jet_clouds import FPD_EFPSET_ARGS, W1EFP_EFPSET_ARGS, efp_columns, efps


def _jets(n_jets: int, m: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    pt = torch.rand(n_jets, m, generator=g, dtype=torch.float64)
    y = 0.3 * torch.randn(n_jets, m, generator=g, dtype=torch.float64)
    phi = 0.3 * torch.randn(n_jets, m, generator=g, dtype=torch.float64)
    return pt, y, phi


def _by_index(pt, y, phi, mask=None) -> np.ndarray:
    return efp.efp_values(pt, y, phi, mask).numpy()


def test_the_d4_set_has_energyflows_36_graphs_and_specs():
    assert len(efp.GRAPHS) == len(efp.SPECS) == 36
    for edges, spec in zip(efp.GRAPHS, efp.SPECS, strict=True):
        n_vertices = 1 + max((max(e) for e in edges), default=0)
        assert spec[0] == n_vertices and spec[2] == len(edges)  # n and d
        assert spec[1] == len(set(edges))  # simple edges
    assert efp.SPECS[: efp.N_CONNECTED, 6].tolist() == [1] * efp.N_CONNECTED  # prime
    for parts, edges in zip(efp.DISCONNECTED, efp.GRAPHS[efp.N_CONNECTED :], strict=True):
        assert sum(len(efp.GRAPHS[p]) for p in parts) == len(edges)
    assert efp.select(*FPD_EFPSET_ARGS).sum() == 36
    assert np.flatnonzero(efp.select(*W1EFP_EFPSET_ARGS)).tolist() == [12, 14, 15, 16, 17]
    assert efp_columns(FPD_EFPSET_ARGS, W1EFP_EFPSET_ARGS).tolist() == [12, 14, 15, 16, 17]
    assert efp.select("d<=2").sum() == 3 + 2  # dot, edge, double edge, 2-path, 2 edges


def test_selections_beyond_d4_or_malformed_fail_clearly():
    with pytest.raises(ValueError, match="d <= 4"):
        efp.select(("n==", 4))
    with pytest.raises(ValueError, match="d <= 4"):
        efp.select(("d<=", 5))
    with pytest.raises(ValueError, match="spec 'x'"):
        efp.select(("d<=", 4), ("x==", 1))
    with pytest.raises(ValueError, match="expected"):
        efp.select(("d<=",))


def test_two_particles_closed_forms():
    """z = (a, b), theta_12 = t: a graph with N vertices and d edges, all between two
    particles, sums over the 2^N assignments; only those using both ends of every edge
    count."""
    a, b, dy, dphi = 0.7, 0.2, 0.3, 0.4
    t = math.hypot(dy, dphi)
    pt = torch.tensor([[a, b]], dtype=torch.float64)
    f64 = torch.float64
    v = _by_index(pt, torch.tensor([[0.0, dy]], dtype=f64), torch.tensor([[0.0, dphi]], dtype=f64))[
        0
    ]
    np.testing.assert_allclose(v[0], a + b, rtol=1e-14)  # dot
    for d in (1, 2, 3, 4):  # edge of multiplicity d: 2 a b t^d
        np.testing.assert_allclose(v[d], 2 * a * b * t**d, rtol=1e-14)
    # two edges at vertex 0 (graph 5): sum_i z_i (sum_j z_j t_ij)^2 = a b^2 t^2 + b a^2 t^2
    np.testing.assert_allclose(v[5], a * b * (a + b) * t**2, rtol=1e-14)
    np.testing.assert_allclose(v[9], 0.0, atol=1e-15)  # a triangle needs three particles
    np.testing.assert_allclose(v[21], (2 * a * b * t) ** 2, rtol=1e-14)  # edge x edge


def test_triangle_on_three_particles():
    y = torch.tensor([[0.0, 0.3, 0.0]], dtype=torch.float64)
    phi = torch.tensor([[0.0, 0.0, 0.4]], dtype=torch.float64)
    pt = torch.tensor([[0.5, 0.3, 0.2]], dtype=torch.float64)
    v = _by_index(pt, y, phi)[0]
    # 3! assignments of distinct particles, sides 0.3, 0.4, 0.5
    np.testing.assert_allclose(v[9], 6 * 0.5 * 0.3 * 0.2 * 0.3 * 0.4 * 0.5, rtol=1e-14)


def test_phi_is_folded_like_energyflow():
    """dphi = pi - ||dphi| - pi|: particles at phi = +-3 are 2 pi - 6 apart, not 6."""
    pt = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
    v = _by_index(
        pt, torch.zeros(1, 2, dtype=torch.float64), torch.tensor([[3.0, -3.0]], dtype=torch.float64)
    )[0]
    np.testing.assert_allclose(v[1], 2 * (2 * math.pi - 6), rtol=1e-14)


def test_every_connected_graph_matches_the_definition():
    pt, y, phi = _jets(3, 5, seed=1)
    values = _by_index(pt, y, phi)
    for b in range(3):
        z = pt[b].numpy()
        yphi = torch.stack([y, phi], dim=-1)[b : b + 1]
        theta = efp.thetas(yphi)[0].numpy()
        for g, edges in enumerate(efp.GRAPHS):
            expected = efp.efp_bruteforce(edges, z, theta)
            np.testing.assert_allclose(values[b, g], expected, rtol=1e-12, err_msg=f"graph {g}")


def test_padded_particles_change_nothing_and_order_does_not_matter():
    pt, y, phi = _jets(4, 6, seed=2)
    base = _by_index(pt, y, phi)
    pad = torch.full((4, 3), 123.0, dtype=torch.float64)  # garbage in padded slots
    mask = torch.cat([torch.ones(4, 6, dtype=torch.bool), torch.zeros(4, 3, dtype=torch.bool)], 1)
    padded = _by_index(
        torch.cat([pt, pad], 1), torch.cat([y, pad], 1), torch.cat([phi, pad], 1), mask
    )
    np.testing.assert_allclose(padded, base, rtol=1e-12)
    perm = torch.randperm(6, generator=torch.Generator().manual_seed(3))
    np.testing.assert_allclose(_by_index(pt[:, perm], y[:, perm], phi[:, perm]), base, rtol=1e-12)


def test_chunks_and_columns():
    pt, y, phi = _jets(7, 4, seed=4)
    full = efp.efp_values(pt, y, phi)
    chunked = efp.efp_values(pt, y, phi, max_elements=2 * 16)  # 2 jets per chunk
    torch.testing.assert_close(chunked, full, rtol=1e-14, atol=0)
    cols = efp.efp_values(pt, y, phi, columns=[17, 0, 35])
    torch.testing.assert_close(cols, full[:, [17, 0, 35]], rtol=0, atol=0)


def test_efps_on_jetnet_clouds_uses_pt_eta_phi_and_the_mask():
    pt, y, phi = _jets(3, 5, seed=5)
    clouds = torch.stack([y, phi, pt], dim=-1).numpy()  # [eta_rel, phi_rel, pt_rel]
    mask = np.ones((3, 5), dtype=bool)
    mask[:, 3:] = False
    out = efps(clouds, mask, FPD_EFPSET_ARGS)
    expected = _by_index(pt[:, :3], y[:, :3], phi[:, :3])
    assert out.dtype == np.float64 and out.shape == (3, 36)
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    np.testing.assert_allclose(efps(clouds, mask), expected[:, [12, 14, 15, 16, 17]], rtol=1e-12)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    pt, y, phi = _jets(50, 30, seed=6)
    cpu = efp.efp_values(pt, y, phi)
    gpu = efp.efp_values(pt.cuda(), y.cuda(), phi.cuda())
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-10, atol=0)
