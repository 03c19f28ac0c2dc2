"""Bad JetNet files: particles beyond their mask, masks that are not 0/1 (issue 12's checks).

Every error names the file, the key, the first offending jet and what was expected.
"""

from __future__ import annotations

import numpy as np
import pytest
from jetnet_files import make_jets, write_file

from genhep.data.jets.jetnet import JetNetDataModule
from genhep.data.jets.jetnet_format import read_jetnet_file
from genhep.data.schema import SchemaError


def _padded_jets(pf: np.ndarray, k: int = 2) -> list[int]:
    """The first ``k`` jets with at least one padded (mask 0) particle slot."""
    return [int(i) for i in np.flatnonzero((pf[..., 3] == 0).any(axis=1))[:k]]


def _first_pad(pf: np.ndarray, jet: int) -> int:
    return int(np.flatnonzero(pf[jet, :, 3] == 0)[0])


def _error(path) -> str:
    with pytest.raises(SchemaError) as err:
        read_jetnet_file(path)
    return str(err.value)


def _assert_names(message: str, path, *words: str) -> None:
    assert str(path) in message, message
    assert "key 'particle_features'" in message, message
    assert "expected shape (N, *, 4)" in message and "zero where mask is 0" in message, message
    for word in words:
        assert word in message, message


def test_valid_file_passes_with_signed_zero_padding(tmp_path):
    pf, jf = make_jets(40, seed=1)
    pf[pf[..., 3] == 0, :3] = -0.0  # a negative zero is still zero
    arrays = read_jetnet_file(write_file(tmp_path / "g.hdf5", pf, jf))
    np.testing.assert_array_equal(arrays["particle_features"], pf)


@pytest.mark.parametrize(("feature", "name"), [(0, "etarel"), (1, "phirel"), (2, "ptrel")])
def test_features_beyond_the_mask_are_named(tmp_path, feature, name):
    pf, jf = make_jets(40, seed=2)
    first, second = _padded_jets(pf)
    for jet in (second, first):
        pf[jet, _first_pad(pf, jet), feature] = 0.25
    path = write_file(tmp_path / "g.hdf5", pf, jf)
    message = _error(path)
    _assert_names(
        message,
        path,
        "beyond the mask",
        f"{name} 0.25",
        f"first at jet {first} (particle {_first_pad(pf, first)};",
        "2 jets affected",
        "padded particles must be all zero",
    )


def test_a_genuine_particle_after_the_padding_is_not_flagged_as_beyond(tmp_path):
    """Only features under mask 0 count: a mask-1 particle anywhere is a particle."""
    pf, jf = make_jets(20, seed=3)
    jet = _padded_jets(pf, 1)[0]
    pf[jet, -1] = [0.01, -0.02, 0.001, 1.0]
    read_jetnet_file(write_file(tmp_path / "g.hdf5", pf, jf))


@pytest.mark.parametrize("value", [0.5, 2.0, -1.0])
def test_mask_not_zero_or_one_is_named(tmp_path, value):
    pf, jf = make_jets(30, seed=4)
    pf[9, 0, 3] = value
    pf[17, 1, 3] = value
    path = write_file(tmp_path / "q.hdf5", pf, jf)
    message = _error(path)
    _assert_names(
        message,
        path,
        f"mask (feature 3) holds {value!r}, not 0 or 1",
        "first at jet 9 (particle 0;",
        "2 jets affected",
    )


def test_mask_error_comes_before_the_padding_error(tmp_path):
    """A mask of 0.5 is reported as a bad mask, not as a particle beyond its mask."""
    pf, jf = make_jets(20, seed=5)
    jet = _padded_jets(pf, 1)[0]
    pf[jet, _first_pad(pf, jet)] = [0.1, 0.1, 0.1, 0.5]
    message = _error(write_file(tmp_path / "g.hdf5", pf, jf))
    assert "not 0 or 1" in message and "beyond the mask" not in message


def test_data_module_and_read_samples_refuse_padding_with_features(tmp_path):
    pf, jf = make_jets(50, seed=6)
    jet = _padded_jets(pf, 1)[0]
    pf[jet, _first_pad(pf, jet), 0] = -0.3
    path = write_file(tmp_path / "t.hdf5", pf, jf)
    dm = JetNetDataModule(path=str(tmp_path), jet_type="t")
    for load in (dm.load_arrays, lambda: dm.read_samples(path)):
        with pytest.raises(SchemaError, match=rf"t\.hdf5: key 'particle_features'.*jet {jet} "):
            load()
