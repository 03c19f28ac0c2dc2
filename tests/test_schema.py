import h5py
import numpy as np
import pytest

from genhep.data.schema import ArraySpec, SchemaError, read_hdf5, validate_arrays, write_hdf5

SPECS = [
    ArraySpec("showers", ("N", 4), min_value=0.0, description="voxel energies in MeV"),
    ArraySpec("incident_energies", ("N", 1), min_value=0.0, exclusive_min=True),
    ArraySpec("label", ("N",), dtype_kinds="iu", required=False),
]


def good():
    return {"showers": np.ones((5, 4), np.float32), "incident_energies": np.full((5, 1), 10.0)}


def write_raw(path, arrays):
    with h5py.File(path, "w") as f:
        for k, v in arrays.items():
            f.create_dataset(k, data=v)


def test_valid_file_round_trips(tmp_path):
    path = write_hdf5(tmp_path / "ok.h5", good(), SPECS)
    arrays = read_hdf5(path, SPECS)
    assert set(arrays) == {"showers", "incident_energies"}
    np.testing.assert_array_equal(arrays["showers"], good()["showers"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda a: a.pop("incident_energies"),
            r"missing key 'incident_energies'.*Keys present: \['showers'\]",
        ),
        (lambda a: a.update(showers=np.ones((5, 3))), r"key 'showers': axis 1 has size 3, not 4"),
        (lambda a: a.update(showers=np.ones(5)), r"key 'showers': has 1 dimensions"),
        (lambda a: a.update(incident_energies=np.ones((4, 1))), r"'N' = 5 from another key"),
        (
            lambda a: a.update(showers=np.ones((5, 4), dtype=np.int32)),
            r"key 'showers': has dtype int32",
        ),
        (
            lambda a: a["showers"].__setitem__((2, 1), np.nan),
            r"key 'showers': holds 1 NaN/inf values \(first at index \(2, 1\)\)",
        ),
        (
            lambda a: a["showers"].__setitem__((3, 0), -1.0),
            r"key 'showers': holds the value -1.0 at index \(3, 0\); all values must be >= 0",
        ),
        (lambda a: a["incident_energies"].__setitem__((0, 0), 0.0), r"all values must be > 0"),
    ],
)
def test_schema_errors_name_file_key_and_expectation(tmp_path, change, message):
    arrays = good()
    change(arrays)
    path = tmp_path / "bad.h5"
    write_raw(path, arrays)
    with pytest.raises(SchemaError, match=message) as info:
        read_hdf5(path, SPECS)
    assert str(path) in str(info.value)
    assert "expected shape" in str(info.value)


def test_not_hdf5_and_missing_file(tmp_path):
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(SchemaError, match="not a readable HDF5 file"):
        read_hdf5(tmp_path / "text.h5", SPECS)
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_hdf5(tmp_path / "absent.h5", SPECS)


def test_write_refuses_invalid_arrays_and_keeps_existing_file(tmp_path):
    path = write_hdf5(tmp_path / "out.h5", good(), SPECS)
    before = path.read_bytes()
    bad = good()
    bad["showers"][0, 0] = np.inf
    with pytest.raises(SchemaError):
        write_hdf5(path, bad, SPECS)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.h5"]


def test_validate_arrays_returns_named_sizes():
    assert validate_arrays(good(), SPECS) == {"N": 5}
