"""Small fixed training runs whose numbers are pinned in tests/data/regression.json.

The numbers were made by the models *before* they were ported onto the likelihood and
adversarial bases (genhep commit 66df3ef, `python tests/regression_runs.py tests/data/regression.json`
run from a checkout of that commit, one torch thread); tests/test_regression.py reruns them
with the current code. A port that changes what a model computes changes them.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from jet_image_files import write_lagan  # noqa: E402

from conftest import compose_train  # noqa: E402

#: name -> Hydra overrides of the run (data files are made in the run's folder).
RUNS = {
    "mdn": ["model=mdn", "data=gaussian_mixture"],
    "sarm_dc": ["model=sarm", "model.likelihood=dc", "model.hidden=16", "model.head_hidden=[16]"],
    "sarm_dd": ["model=sarm", "model.likelihood=dd", "model.hidden=16", "model.head_hidden=[16]"],
    "lagan": ["model=lagan", "data.transform=scale", "data.scale=100", "trainer.max_epochs=1"],
}
IMAGE_RUN = [
    "data=jet_images",
    "data.batch_size=40",
    "callbacks.evaluation.n_samples=36",
    "callbacks.evaluation.batch_size=36",
]


def run(name: str, folder: Path) -> dict[str, float]:
    """Train run ``name`` in ``folder``; its test loss and evaluation metric values."""
    from genhep.train import train

    overrides = list(RUNS[name])
    if name != "mdn":
        write_lagan(folder / "images.h5", n_signal=120, n_background=120)
        overrides += [*IMAGE_RUN, f"data.path={folder / 'images.h5'}"]
    metrics = train(compose_train(folder, overrides))
    results = json.loads((folder / "run" / "results.json").read_text())
    values = {"test/loss": metrics["test/loss"]}
    values.update({k: v["value"] for k, v in results["metrics"].items()})
    return values


def main() -> None:
    torch.set_num_threads(1)
    out = {}
    for name in RUNS:
        with tempfile.TemporaryDirectory() as tmp:
            out[name] = run(name, Path(tmp))
    Path(sys.argv[1]).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
