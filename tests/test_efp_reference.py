"""genhep's EFPs (genhep/metrics/efp.py) against energyflow's EFPSet and jetnet.utils.efps.

Runs where ``energyflow`` and ``jetnet`` are installed (``make test-jetnet``: .venv-jetnet,
numpy < 2); skipped in the default environment.
"""

from __future__ import annotations

import numpy as np
import pytest

energyflow = pytest.importorskip("energyflow", reason="energyflow is not installed")
jetnet = pytest.importorskip("jetnet", reason="jetnet is not installed (make test-jetnet)")

from jetnet.utils import efps as jetnet_efps  # noqa: E402
from jetnet_files import make_jets  # noqa: E402

from genhep.metrics import efp  # noqa: E402
from genhep.metrics.jet_clouds import (  # noqa: E402
    FPD_EFPSET_ARGS,
    W1EFP_EFPSET_ARGS,
    efp_columns,
    efps,
)

RTOL = 1e-6


def _efpset(args):
    return energyflow.EFPSet(*args, measure="hadr", beta=1, normed=None, coords="ptyphim")


@pytest.fixture(scope="module")
def clouds():
    pf, _ = make_jets(400, seed=41)
    wide, _ = make_jets(100, seed=42)  # wide jets near the phi = +-pi seam
    wide[..., :2] *= 8.0
    phi = wide[..., 1]  # particles on both sides of the seam: |dphi| up to ~2 pi, folded
    wide[..., 1] = np.where(wide[..., 3] > 0, np.sign(phi) * (np.pi - np.abs(phi) / 8), 0.0)
    pf = np.concatenate([pf, wide])
    x, mask = pf[..., :3].astype(np.float64), pf[..., 3] > 0
    return np.where(mask[..., None], x, 0.0), mask


def test_the_graphs_and_specs_are_energyflows():
    s = _efpset(FPD_EFPSET_ARGS)
    assert [tuple(map(tuple, g)) for g in s.graphs()] == [tuple(g) for g in efp.GRAPHS]
    np.testing.assert_array_equal(s.specs, efp.SPECS)
    for args in (W1EFP_EFPSET_ARGS, (("d<=", 3),), (("d==", 4), ("p>=", 2)), ("d<=4", "n<=3")):
        np.testing.assert_array_equal(efp.select(*args), s.sel(*args), err_msg=str(args))
    np.testing.assert_array_equal(
        efp_columns(FPD_EFPSET_ARGS, W1EFP_EFPSET_ARGS),
        np.flatnonzero(s.sel(*W1EFP_EFPSET_ARGS)),
    )


@pytest.mark.parametrize("args", [FPD_EFPSET_ARGS, W1EFP_EFPSET_ARGS], ids=["d<=4", "w1efp"])
def test_values_equal_energyflow(clouds, args):
    x, mask = clouds
    ours = efps(x, mask, args)
    theirs = _efpset(args).batch_compute(x[:, :, [2, 0, 1]], 1)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=0)


def test_values_equal_jetnet_utils_efps(clouds):
    x, mask = clouds
    theirs = jetnet_efps(x, efpset_args=list(W1EFP_EFPSET_ARGS), efp_jobs=1)
    np.testing.assert_allclose(efps(x, mask), theirs, rtol=RTOL, atol=0)
