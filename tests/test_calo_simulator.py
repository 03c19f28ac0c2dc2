"""Physics and bookkeeping checks of the parametric shower simulator and its file generator."""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from genhep.data.calorimeter import generate
from genhep.data.calorimeter.generate import (
    BLOCK_SIZE,
    cached_dataset,
    generate_showers,
    validate_shower_file,
)
from genhep.data.calorimeter.schema import calorimeter_schema
from genhep.data.calorimeter.simulator import (
    DS1_ENERGIES_MEV,
    ShowerSimulator,
    _Binner,
)
from genhep.data.schema import SchemaError, read_hdf5
from genhep.geometry.calorimeter import get_geometry
from genhep.metrics.shower_features import layer_energies, radial_centre_and_width

GEV = 1000.0


def _simulate(geometry: str, particle: str, energy_mev: float, n: int, seed: int = 0, **params):
    sim = ShowerSimulator(geometry, particle, **params)
    energies = np.full(n, energy_mev)
    return sim, sim.simulate(energies, np.random.default_rng(seed))


def _ratio(showers: np.ndarray, energy_mev: float) -> np.ndarray:
    return showers.sum(axis=1, dtype=np.float64) / energy_mev


# -------------------------------------------------------------------- simulator


def test_output_format_and_reproducibility():
    sim = ShowerSimulator("ds1_photons", "photon")
    energies = np.array([256.0, 4096.0, 65536.0])
    a = sim.simulate(energies, np.random.default_rng(7))
    b = sim.simulate(energies, np.random.default_rng(7))
    c = sim.simulate(energies, np.random.default_rng(8))
    assert a.shape == (3, 368) and a.dtype == np.float32
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.all(a >= 0) and np.all(np.isfinite(a))
    assert ShowerSimulator("ds1_pions", "pion").simulate(energies, 0).shape == (3, 533)
    with pytest.raises(ValueError, match="> 0"):
        sim.simulate(np.array([0.0]), 0)
    with pytest.raises(TypeError, match="unknown simulator parameters"):
        ShowerSimulator("ds1_photons", "photon", sampling_fractoin=0.4)
    with pytest.raises(ValueError, match="unknown particle"):
        ShowerSimulator("ds1_photons", "muon")


@pytest.mark.parametrize(
    "particle, geometry, params, top",
    [
        ("photon", "ds1_photons", {}, 10),
        ("pion", "ds1_pions", {}, 10),
        # responses close to 1 at low energy: only the bounded response keeps Σ ≤ E_inc
        ("photon", "ds1_photons", {"sampling_fraction": 0.95}, 4),
        ("pion", "ds1_pions", {"sampling_fraction": 0.95, "e_over_h": 1.0}, 4),
    ],
)
def test_visible_energy_never_exceeds_incident(particle, geometry, params, top):
    sim = ShowerSimulator(geometry, particle, **params)
    rng = np.random.default_rng(1)
    energies = rng.choice(np.asarray(DS1_ENERGIES_MEV[:top]), 2000)  # up to 131 GeV or 2 GeV
    ratio = sim.simulate(energies, rng).sum(axis=1, dtype=np.float64) / energies
    assert np.all(ratio <= 1.0)
    if params:
        assert ratio.max() > 0.99  # the bound is actually approached


@pytest.mark.parametrize("fraction", [0.5, 0.3])
def test_photon_response_is_the_sampling_fraction(fraction):
    for energy in (4 * GEV, 16 * GEV, 64 * GEV):
        _, showers = _simulate("ds1_photons", "photon", energy, 400, sampling_fraction=fraction)
        mean = _ratio(showers, energy).mean()
        assert mean == pytest.approx(fraction, rel=0.03), (energy, mean)


def test_photon_resolution_shrinks_as_one_over_sqrt_e():
    sim, low = _simulate("ds1_photons", "photon", 1 * GEV, 3000, seed=2)
    _, high = _simulate("ds1_photons", "photon", 64 * GEV, 600, seed=3)
    spread = [r.std() / r.mean() for r in (_ratio(low, 1 * GEV), _ratio(high, 64 * GEV))]
    a, b = sim.params.stochastic_term, sim.params.constant_term
    expected = math.hypot(a / 1.0, b) / math.hypot(a / 8.0, b)  # 6.8 with b = 0.7%: ≈ 8 for b = 0
    assert spread[0] == pytest.approx(a, rel=0.15)  # 10% at 1 GeV
    assert spread[0] / spread[1] == pytest.approx(expected, rel=0.25)
    assert spread[0] / spread[1] > 5.0


def test_shower_maximum_deepens_with_log_energy():
    geometry = get_geometry("ds1_photons")
    energies = [1 * GEV, 4 * GEV, 16 * GEV, 64 * GEV]
    depths = []
    for i, energy in enumerate(energies):
        _, showers = _simulate(
            "ds1_photons", "photon", energy, 300 if energy < 50 * GEV else 150, i
        )
        per_layer = layer_energies(showers, geometry)
        depth = per_layer @ np.arange(geometry.n_layers) / per_layer.sum(axis=1)
        depths.append(depth.mean())
    assert np.all(np.diff(depths) > 0), depths
    slope = np.polyfit(np.log(energies), depths, 1)[0]
    assert slope > 0.05, (slope, depths)


def test_pions_fluctuate_more_and_are_broader_than_photons():
    geometry = get_geometry("ds1_pions")
    energy = 16 * GEV
    _, photons = _simulate("ds1_pions", "photon", energy, 600, seed=4)
    _, pions = _simulate("ds1_pions", "pion", energy, 600, seed=5)
    spread = {
        k: (r.std() / r.mean())
        for k, r in (("photon", _ratio(photons, energy)), ("pion", _ratio(pions, energy)))
    }
    assert spread["pion"] > 2.0 * spread["photon"], spread

    def mean_width(showers: np.ndarray, layer_id: int) -> float:
        i = geometry.layer_index(layer_id)
        energy_l = layer_energies(showers, geometry)[:, i]
        width = radial_centre_and_width(showers, geometry)[1][:, i]
        lit = energy_l > 10.0
        return float(np.average(width[lit], weights=energy_l[lit]))

    for layer_id in (2, 12):  # EM middle layer and first tile layer
        assert mean_width(pions, layer_id) > 1.3 * mean_width(photons, layer_id), layer_id


@pytest.mark.parametrize("threshold", [None, 5.0])
def test_no_voxel_below_the_readout_threshold(threshold):
    params = {} if threshold is None else {"readout_threshold_mev": threshold}
    for particle, geometry in (("photon", "ds1_photons"), ("pion", "ds1_pions")):
        sim, showers = _simulate(geometry, particle, 2 * GEV, 500, **params)
        lit = showers[showers > 0]
        assert lit.size > 0
        assert lit.min() >= sim.params.readout_threshold_mev


def test_cartesian_atlas_geometry():
    geometry = get_geometry("atlas_photons_266")
    _, showers = _simulate("atlas_photons_266", "photon", 32 * GEV, 200)
    assert showers.shape == (200, 266)
    per_layer = layer_energies(showers, geometry).mean(axis=0)
    assert per_layer.argmax() == geometry.layer_index(2)  # the middle layer
    middle = geometry.layer_grid(showers, 2).mean(axis=0)  # (η 7, φ 7)
    assert np.unravel_index(middle.argmax(), middle.shape) == (3, 3)  # centred on the photon
    assert _ratio(showers, 32 * GEV).mean() == pytest.approx(0.5, rel=0.05)


def test_binner_matches_searchsorted():
    rng = np.random.default_rng(0)
    for name in ("ds1_photons", "ds1_pions", "ds2_electrons"):
        edges = get_geometry(name).r_edges
        binner = _Binner(edges)
        layer = rng.integers(0, len(edges), 20000)
        high = np.array([e[-1] for e in edges])[layer]
        values = rng.uniform(-5.0, 1.1 * high)
        values[:500] = [edges[i][rng.integers(len(edges[i]))] for i in layer[:500]]  # on edges
        got = binner(layer, values)
        want = [
            np.searchsorted(edges[i], v, side="right") - 1
            if edges[i][0] <= v < edges[i][-1]
            else -1
            for i, v in zip(layer, values, strict=True)
        ]
        assert np.array_equal(got, want), name


# -------------------------------------------------------------------- generator

FAST = {"energies": "log_uniform", "e_min": 256.0, "e_max": 4096.0, "progress": False}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _arrays(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as handle:
        return {k: handle[k][()] for k in ("incident_energies", "showers")}


def test_generated_file_follows_the_schema(tmp_path):
    path = generate_showers(tmp_path / "g.h5", "ds1_pions", "pion", 230, seed=1, **FAST)
    arrays = read_hdf5(path, calorimeter_schema(get_geometry("ds1_pions")))
    assert arrays["incident_energies"].shape == (230, 1)
    assert arrays["incident_energies"].dtype == np.float64
    assert arrays["showers"].shape == (230, 533) and arrays["showers"].dtype == np.float32
    energies = arrays["incident_energies"][:, 0]
    assert energies.min() >= 256.0 and energies.max() <= 4096.0
    assert np.all(arrays["showers"].sum(axis=1) <= energies)
    with h5py.File(path, "r") as handle:
        assert handle["showers"].compression == "gzip"
        assert handle.attrs["n_events"] == 230
    assert validate_shower_file(path, 533, 230) == 230
    assert not (tmp_path / ".g.h5.parts").exists()
    with pytest.raises(SchemaError, match="showers"):
        validate_shower_file(path, 368)
    # dataset-1 energies: only the 15 powers of two (here those up to 2 GeV)
    ds1 = generate_showers(
        tmp_path / "d.h5", "ds1_photons", "photon", 150, e_max=2048.0, progress=False
    )
    assert set(np.unique(_arrays(ds1)["incident_energies"])) <= {256.0, 512.0, 1024.0, 2048.0}


def test_same_seed_same_file_for_any_worker_count(tmp_path):
    kwargs = dict(n_events=3 * BLOCK_SIZE + 40, seed=5, chunk_size=BLOCK_SIZE, **FAST)
    one = generate_showers(tmp_path / "one.h5", "ds1_photons", "photon", n_workers=1, **kwargs)
    two = generate_showers(tmp_path / "two.h5", "ds1_photons", "photon", n_workers=2, **kwargs)
    a, b = _arrays(one), _arrays(two)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert _digest(one) == _digest(two)
    # the chunking does not matter either, and another seed gives other showers
    big = generate_showers(
        tmp_path / "big.h5", "ds1_photons", "photon", **{**kwargs, "chunk_size": 1000}
    )
    assert _digest(big) == _digest(one)
    other = generate_showers(tmp_path / "o.h5", "ds1_photons", "photon", **{**kwargs, "seed": 6})
    assert not np.array_equal(_arrays(other)["showers"], a["showers"])


def test_asking_for_more_events_continues_the_file(tmp_path):
    fresh = generate_showers(tmp_path / "fresh.h5", "ds1_photons", "photon", 420, seed=2, **FAST)
    path = tmp_path / "grown.h5"
    generate_showers(path, "ds1_photons", "photon", 150, seed=2, **FAST)
    small = _arrays(path)
    assert np.array_equal(small["showers"], _arrays(fresh)["showers"][:150])  # prefix-stable
    generate_showers(path, "ds1_photons", "photon", 420, seed=2, **FAST)
    assert _digest(path) == _digest(fresh)
    generate_showers(path, "ds1_photons", "photon", 100, seed=2, **FAST)  # fewer: cut
    assert np.array_equal(_arrays(path)["showers"], _arrays(fresh)["showers"][:100])
    with h5py.File(path, "r") as handle:
        stored = json.loads(handle.attrs["genhep_config"])
    assert stored["seed"] == 2 and stored["simulator"]["geometry"] == "ds1_photons"
    with pytest.raises(FileExistsError, match="configuration"):
        generate_showers(path, "ds1_photons", "photon", 420, seed=3, **FAST)


def test_interrupted_generation_resumes_from_its_parts(tmp_path, monkeypatch):
    fresh = generate_showers(tmp_path / "fresh.h5", "ds1_photons", "photon", 400, seed=4, **FAST)
    path = tmp_path / "run.h5"
    real = generate._simulate_block
    calls = {"n": 0}

    def dying(config, simulator, block):
        calls["n"] += 1
        if calls["n"] > 2:  # the first chunk (two blocks) gets written, then the run dies
            raise KeyboardInterrupt
        return real(config, simulator, block)

    monkeypatch.setattr(generate, "_simulate_block", dying)
    with pytest.raises(KeyboardInterrupt):
        generate_showers(path, "ds1_photons", "photon", 400, seed=4, chunk_size=200, **FAST)
    parts = sorted((tmp_path / ".run.h5.parts").glob("part_*.h5"))
    assert [p.name for p in parts] == ["part_000000000000_000000000200.h5"]
    assert not path.exists()

    counted = {"n": 0}

    def counting(config, simulator, block):
        counted["n"] += 1
        return real(config, simulator, block)

    monkeypatch.setattr(generate, "_simulate_block", counting)
    generate_showers(path, "ds1_photons", "photon", 400, seed=4, chunk_size=200, **FAST)
    assert counted["n"] == 2  # only the missing chunk was simulated
    assert _digest(path) == _digest(fresh)
    assert not (tmp_path / ".run.h5.parts").exists()


def test_cache_reuses_the_file(tmp_path):
    config = {"geometry": "ds1_photons", "particle": "photon", "n_events": 120, "seed": 9, **FAST}
    path = cached_dataset(tmp_path, config)
    assert path.parent == tmp_path and path.name.startswith("calo_ds1_photons_photon_")
    stamp = os.stat(path).st_mtime_ns
    assert cached_dataset(tmp_path, config) == path
    assert cached_dataset(tmp_path, {**config, "n_events": 50, "n_workers": 2}) == path
    assert os.stat(path).st_mtime_ns == stamp
    # another configuration -> another file; more events -> the same file, extended
    other = cached_dataset(tmp_path, {**config, "params": {"sampling_fraction": 0.4}})
    assert other != path
    assert cached_dataset(tmp_path, {**config, "n_events": 230}) == path
    assert _arrays(path)["showers"].shape == (230, 368)
    with pytest.raises(TypeError, match="unknown generator options"):
        cached_dataset(tmp_path, {**config, "n_event": 3})
