"""PC-JeDi-style sampling with the denoised estimate clamped (``model.sampler.clip_x0``).

For one trained JetNet diffusion checkpoint and each clamp value, generate as many jets as
the split holds (its multiplicities and jet conditions), score them with the JetNet evaluator
(COV/MMD left out) and count the jets that no real jet resembles: sum of pT_rel above 1.1
(real jets: at most 1.02) and the largest |η_rel|. Writes ``clip_x0.json`` and ``clip_x0.md``::

    python experiments/jetnet_diffusion/clip_study.py <checkpoint.ckpt> --out <folder> \\
        --clips none,25,15,10,5 --split val --n 2000
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from genhep.callbacks.evaluation import generate_like
from genhep.evaluate import restore_checkpoint
from genhep.utils.io import atomic_write_json, atomic_write_text

METRICS = {"w1m": 1e-3, "w1p": 1e-3, "w1efp": 1e-5, "fpd": 1e-3}


def study(ckpt: Path, clips: list[float | None], split: str, n: int) -> dict:
    restored = restore_checkpoint(ckpt)
    datamodule, model = restored.datamodule, restored.model
    datamodule.setup()
    train = datamodule.datasets["train"].tensors
    genuine = train["x"][train["mask"].bool()]
    real, reference = datamodule.evaluation_samples(split, n)
    evaluator = datamodule.evaluator(cov_mmd=False)
    rows = []
    for clip in clips:
        model.sampler = {**model.sampler, "clip_x0": clip}
        began = time.perf_counter()
        generated, _ = generate_like(model, datamodule, real, 500, 1234, False)
        mask = generated["mask"].astype(bool)
        sum_pt = (generated["x"][..., 2] * mask).sum(1)
        scores = evaluator.evaluate(generated, real, reference)
        rows.append(
            {
                "clip_x0": clip,
                "seconds": time.perf_counter() - began,
                "jets_sum_ptrel_above_1.1": float((sum_pt > 1.1).mean()),
                "max_abs_etarel": float(np.abs(generated["x"][..., 0][mask]).max()),
                **{k: scores[k].value for k in METRICS},
                "real_values_beyond": None
                if clip is None
                else float((genuine.abs() > clip).float().mean()),
            }
        )
        print(rows[-1], flush=True)
    return {"checkpoint": str(ckpt), "split": split, "n_jets": len(real["x"]), "rows": rows}


def markdown(result: dict) -> str:
    head = "| clip_x0 | " + " | ".join(f"{k} (×{v:.0e})" for k, v in METRICS.items())
    head += " | jets with Σ pT_rel > 1.1 | max abs(η_rel) | real values beyond the clamp |"
    lines = [head, "|" + " --- |" * (len(METRICS) + 4)]
    for row in result["rows"]:
        cells = [f"{row[k] / v:.3g}" for k, v in METRICS.items()]
        beyond = "—" if row["real_values_beyond"] is None else f"{row['real_values_beyond']:.2%}"
        lines.append(
            f"| {row['clip_x0'] or 'none'} | "
            + " | ".join(cells)
            + f" | {row['jets_sum_ptrel_above_1.1']:.2%} | {row['max_abs_etarel']:.2f} | {beyond} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--clips", default="none,25,15,10,5")
    parser.add_argument("--split", default="val")
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    clips = [None if c == "none" else float(c) for c in args.clips.split(",")]
    result = study(args.checkpoint, clips, args.split, args.n)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out / "clip_x0.json", result)
    atomic_write_text(args.out / "clip_x0.md", markdown(result))


if __name__ == "__main__":
    main()
