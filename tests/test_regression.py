"""The models' numbers before and after their port onto the likelihood and adversarial bases.

tests/data/regression.json holds what the small fixed runs of tests/regression_runs.py gave
with the models as they were before the port (genhep 66df3ef: MDN, SARM and LAGAN on their own
training steps). The same runs with today's code must give the same numbers: test loss and every
evaluation metric, to float rounding (one torch thread, as they were made).
"""

import json
from pathlib import Path

import pytest
from regression_runs import RUNS, run

EXPECTED = json.loads((Path(__file__).parent / "data" / "regression.json").read_text())


@pytest.mark.parametrize("name", sorted(RUNS))
def test_ported_model_reproduces_its_numbers(tmp_path, one_thread, name):
    got = run(name, tmp_path)
    expected = EXPECTED[name]
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-6), key
