"""Calorimeter geometries: voxel counts, the XML binning, the challenge's flattening and centres."""

import dataclasses
import math
import xml.etree.ElementTree as ET
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest

from genhep.data.calorimeter import (
    GEOMETRIES,
    CaloGeometry,
    geometry_for_voxels,
    get_geometry,
)

SHARED_XML = Path(__file__).resolve().parents[2] / "shared" / "data" / "calochallenge"

COUNTS = {
    "ds1_photons": 368,
    "ds1_pions": 533,
    "atlas_photons_266": 266,
    "ds2_electrons": 6480,
    "ds3_electrons": 40500,
}

# r_edges as written in the challenge's binning_dataset_*.xml files.
XML_EDGES = {
    ("ds1_photons", 1): [0, 2, 4, 6, 8, 10, 12, 15, 20, 30, 40, 50, 70, 90, 120, 150, 200],
    ("ds1_photons", 12): [0, 100, 200, 400, 1000, 2000],
    ("ds1_pions", 1): [0, 1, 4, 7, 10, 15, 30, 50, 90, 150, 200],
    ("ds1_pions", 13): [0, 10, 20, 30, 50, 80, 100, 130, 160, 200, 250, 300, 350, 400, 600, 1000,
                        2000],
    ("ds1_pions", 14): [0, 50, 100, 150, 200, 250, 300, 400, 600, 1000, 2000],
    ("ds2_electrons", 44): [0, 4.65, 9.3, 13.95, 18.6, 23.25, 27.9, 32.55, 37.2, 41.85],
    ("ds3_electrons", 0): [0, 2.325, 4.65, 6.975, 9.3, 11.625, 13.95, 16.275, 18.6, 20.925, 23.25,
                           25.575, 27.9, 30.225, 32.55, 34.875, 37.2, 39.525, 41.85],
}  # fmt: skip


def challenge_centres(geometry):
    """The challenge's XMLHandler procedure, spelled out: per layer, loop α (outer) then r."""
    eta, phi, r_all, a_all = [], [], [], []
    for edges, n_alpha in zip(geometry.r_edges, geometry.n_alpha, strict=True):
        mids = [edges[i] + (edges[i + 1] - edges[i]) / 2 for i in range(len(edges) - 1)]
        a_edges = np.linspace(-math.pi, math.pi, n_alpha + 1)
        a_mids = [a_edges[i] + (a_edges[i + 1] - a_edges[i]) / 2 for i in range(n_alpha)]
        for j in range(n_alpha):
            for i in range(len(mids)):
                r_all.append(mids[i])
                a_all.append(a_mids[j])
                eta.append(mids[i] * np.cos(a_mids[j]))
                phi.append(mids[i] * np.sin(a_mids[j]))
    return np.array(r_all), np.array(a_all), np.array(eta), np.array(phi)


@pytest.mark.parametrize(("name", "count"), COUNTS.items())
def test_voxel_counts_and_lookup(name, count):
    geometry = get_geometry(name)
    assert geometry.n_voxels == count
    assert geometry_for_voxels(count) is geometry
    for array in (geometry.voxel_layer, geometry.voxel_r, geometry.voxel_alpha):
        assert array.shape == (count,)
    assert set(GEOMETRIES) == set(COUNTS)


def test_layer_ids_and_aliases():
    assert get_geometry("ds1_photons").layer_ids == (0, 1, 2, 3, 12)
    assert get_geometry("ds1_pions").layer_ids == (0, 1, 2, 3, 12, 13, 14)
    assert get_geometry("ds2_electrons").layer_ids == tuple(range(45))
    assert get_geometry("ds3_electrons").layer_shapes[7] == (50, 18)
    assert get_geometry("1-pions") is get_geometry("ds1_pions")
    assert get_geometry("3") is get_geometry("ds3_electrons")
    with pytest.raises(ValueError, match="ds1_photons"):
        get_geometry("ds4")


@pytest.mark.parametrize(("key", "edges"), XML_EDGES.items())
def test_radial_edges_are_the_xml_values(key, edges):
    name, layer_id = key
    geometry = get_geometry(name)
    assert geometry.r_edges[geometry.layer_index(layer_id)] == tuple(float(e) for e in edges)


def test_alpha_bins_from_the_xml():
    assert get_geometry("ds1_photons").n_alpha == (1, 10, 10, 1, 1)
    assert get_geometry("ds1_pions").n_alpha == (1, 10, 10, 1, 10, 10, 1)
    assert get_geometry("ds1_pions").alpha_binned_layers == (1, 2, 12, 13)
    assert set(get_geometry("ds2_electrons").n_alpha) == {16}


def test_unknown_voxel_count_names_the_accepted_ones():
    with pytest.raises(ValueError, match="367") as info:
        geometry_for_voxels(367)
    message = str(info.value)
    for name, count in COUNTS.items():
        assert f"{count} ({name})" in message


@pytest.mark.parametrize("name", ["ds1_photons", "ds1_pions", "ds2_electrons"])
def test_flattening_and_centres_match_the_challenge(name):
    geometry = get_geometry(name)
    r, alpha, eta, phi = challenge_centres(geometry)
    np.testing.assert_array_equal(geometry.voxel_r, r)
    np.testing.assert_array_equal(geometry.voxel_alpha, alpha)
    np.testing.assert_allclose(geometry.voxel_eta, eta, rtol=0, atol=1e-12)
    np.testing.assert_allclose(geometry.voxel_phi, phi, rtol=0, atol=1e-12)


def test_alpha_slow_r_fast_by_hand():
    geometry = get_geometry("ds1_photons")
    layer = geometry.layer_slice(1)  # 10 α bins x 16 r bins, after the 8 voxels of layer 0
    assert layer == slice(8, 168)
    voxel = layer.start + 3 * 16 + 5  # α bin 3, r bin 5 (edges 10-12 mm)
    assert geometry.voxel_r[voxel] == 11.0
    assert geometry.voxel_alpha[voxel] == pytest.approx(-math.pi + 3.5 * 2 * math.pi / 10)
    assert geometry.voxel_eta[voxel] == pytest.approx(11.0 * math.cos(-0.3 * math.pi))
    # one α bin: α = 0 (the midpoint of [-π, π]), so eta = r and phi = 0
    layer12 = geometry.layer_slice(12)
    np.testing.assert_array_equal(geometry.voxel_alpha[layer12], 0.0)
    np.testing.assert_array_equal(geometry.voxel_eta[layer12], [50, 150, 300, 700, 1500])
    np.testing.assert_array_equal(geometry.voxel_phi[layer12], 0.0)
    grid = geometry.layer_grid(np.arange(geometry.n_voxels), 1)
    assert grid.shape == (10, 16) and grid[3, 5] == voxel


@pytest.mark.parametrize("name", COUNTS)
def test_layer_slices_are_contiguous_and_cover_all_voxels(name):
    geometry = get_geometry(name)
    stops = [0] + [s.stop for s in geometry.layer_slices]
    assert [s.start for s in geometry.layer_slices] == stops[:-1]
    assert stops[-1] == geometry.n_voxels
    for layer_id, s, size in zip(
        geometry.layer_ids, geometry.layer_slices, geometry.layer_sizes, strict=True
    ):
        assert s.stop - s.start == size
        assert set(geometry.voxel_layer[s]) == {layer_id}
        assert set(geometry.voxel_layer_index[s]) == {geometry.layer_index(layer_id)}


def test_atlas_266_cartesian_grid():
    geometry = get_geometry("atlas_photons_266")
    assert geometry.cartesian and geometry.particle == "photon"
    assert geometry.layer_names == ("presampler", "strips", "middle", "back")
    assert geometry.layer_shapes == ((7, 3), (56, 3), (7, 7), (4, 7))
    assert geometry.layer_sizes == (21, 168, 49, 28)
    cell = {0: (0.025, 2 * math.pi / 64), 1: (0.025 / 8, 2 * math.pi / 64)}
    cell |= {2: (0.025, 2 * math.pi / 256), 3: (0.05, 2 * math.pi / 256)}
    for i, layer_id in enumerate(geometry.layer_ids):
        np.testing.assert_allclose(np.diff(geometry.eta_edges[i]), cell[layer_id][0])
        np.testing.assert_allclose(np.diff(geometry.phi_edges[i]), cell[layer_id][1])
        s = geometry.layer_slices[i]
        # centred on the photon direction
        assert geometry.eta_edges[i][0] == pytest.approx(-geometry.eta_edges[i][-1])
        assert (
            abs(geometry.voxel_eta[s].mean()) < 1e-12 and abs(geometry.voxel_phi[s].mean()) < 1e-12
        )
    # η slow, φ fast: the first two presampler cells share η and differ in φ
    assert geometry.voxel_eta[0] == geometry.voxel_eta[1] == pytest.approx(-3 * 0.025)
    assert geometry.voxel_phi[1] - geometry.voxel_phi[0] == pytest.approx(2 * math.pi / 64)
    middle = geometry.layer_slice(2)
    assert geometry.voxel_eta[middle.start + 24] == pytest.approx(0.0)  # centre of the 7x7
    assert geometry.voxel_phi[middle.start + 24] == pytest.approx(0.0)
    np.testing.assert_allclose(
        geometry.voxel_r, np.hypot(geometry.voxel_eta, geometry.voxel_phi), rtol=0, atol=0
    )


def test_frozen_and_read_only():
    geometry = get_geometry("ds1_pions")
    with pytest.raises(dataclasses.FrozenInstanceError):
        geometry.name = "other"
    with pytest.raises(ValueError, match="read-only"):
        geometry.voxel_eta[0] = 1.0
    assert hash(geometry) == hash(get_geometry("ds1_pions"))


def test_dict_round_trip_and_validation():
    for geometry in GEOMETRIES.values():
        assert CaloGeometry.from_dict(geometry.to_dict()) == geometry
    with pytest.raises(ValueError, match="strictly increasing"):
        CaloGeometry("bad", "photon", (0,), r_edges=((0.0, 5.0, 5.0),), n_alpha=(1,))
    with pytest.raises(ValueError, match="n_alpha"):
        CaloGeometry("bad", "photon", (0, 1), r_edges=((0.0, 5.0), (0.0, 1.0)), n_alpha=(1,))
    with pytest.raises(ValueError, match="no layer 5"):
        get_geometry("ds1_photons").layer_index(5)


def test_from_xml_skips_empty_layers_and_selects_the_particle(tmp_path):
    path = tmp_path / "binning.xml"
    path.write_text(
        "<Bins>\n"
        ' <Bin pid="22" name="photon">\n'
        '  <Layer id="0" r_edges="0,5,10" n_bin_alpha="1"/>\n'
        '  <Layer id="1" r_edges="0" n_bin_alpha="1"/>\n'
        '  <Layer id="2" r_edges="0,2,4,8" n_bin_alpha="4"/>\n'
        " </Bin>\n"
        ' <Bin pid="211" name="pion"><Layer id="0" r_edges="0,1" n_bin_alpha="1"/></Bin>\n'
        "</Bins>\n"
    )
    geometry = CaloGeometry.from_xml(path, particle="photon")
    assert geometry.layer_ids == (0, 2) and geometry.n_voxels == 2 + 12
    assert geometry.pid == 22 and geometry.name == "binning"
    with pytest.raises(ValueError, match="photon"):
        CaloGeometry.from_xml(path)  # two <Bin>s, none chosen


@pytest.mark.skipif(not SHARED_XML.is_dir(), reason="the challenge's XML copies are not here")
@pytest.mark.parametrize(("particle", "name"), [("photons", "photon"), ("pions", "pion")])
def test_package_data_equals_the_published_xml(particle, name):
    path = SHARED_XML / f"binning_dataset_1_{particle}.xml"
    from_xml = CaloGeometry.from_xml(path, particle=name)
    shipped = get_geometry(f"ds1_{particle}")
    for field in ("layer_ids", "r_edges", "n_alpha", "pid", "particle"):
        assert getattr(from_xml, field) == getattr(shipped, field)
    # and every layer of the XML with voxels is there
    layers = [e for e in ET.parse(path).getroot().iter("Layer") if "," in e.attrib["r_edges"]]
    assert len(layers) == shipped.n_layers


def test_binning_is_package_data():
    binning = files("genhep.geometry") / "binning"
    assert sorted(e.name for e in binning.iterdir() if e.name.endswith(".json")) == sorted(
        f"{name}.json" for name in COUNTS
    )
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert '"genhep.geometry" = ["binning/*.json"]' in pyproject
