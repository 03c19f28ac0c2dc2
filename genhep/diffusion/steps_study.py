"""Quality against steps: one trained diffusion model, every sampler, several step counts.

For each (sampler, steps) the model samples as many events as the test split (its conditions
and masks), the family's evaluator scores them, and the family's headline metric and the
samples/s are kept: W1M for clouds, W1 of the jet mass for images, FPD for showers, the mean
W1 for the toy. Writes ``steps.json``, ``steps.md`` and ``steps.png``/``.pdf`` (metric and speed
against steps, one line per sampler)::

    python -m genhep.diffusion.steps_study <run dir> --out <folder> \\
        --samplers euler,heun,midpoint,ddim,euler_maruyama --steps 5,10,25,50,100 \\
        [--checkpoint best] [--n-events 3000] [--data evaluator.cov_mmd=false ...]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import yaml

from genhep.callbacks.evaluation import generate_like
from genhep.diffusion.samplers import SAMPLERS, network_evaluations
from genhep.evaluate import restore_checkpoint
from genhep.plotting import hep_style, save_figure
from genhep.utils.io import atomic_write_json, atomic_write_text

#: the headline metric of each data family (first found in the evaluator's scores)
HEADLINE = {
    "jetnet": ("w1m",),
    "jet_images": ("w1_mass", "w1_mass_signal"),
    "calorimeter": ("fpd",),
    "gaussian_mixture": ("w1_mean",),
}


def headline(family: str, metrics: dict[str, Any]) -> str:
    """The name of ``family``'s headline metric among ``metrics``."""
    for name in HEADLINE.get(family, ()):
        if name in metrics:
            return name
    raise KeyError(f"no headline metric of family '{family}' among {sorted(metrics)}")


def study(
    run: str | Path,
    samplers: Sequence[str],
    steps: Sequence[int],
    checkpoint: str = "best",
    n_events: int = 3000,
    data_overrides: dict[str, Any] | None = None,
    seed: int = 1234,
    batch_size: int = 1000,
    clip_x0: float | None = None,
) -> list[dict[str, Any]]:
    """One row per (sampler, steps): metric value, error, samples/s, network evaluations.
    ``clip_x0``: the samplers' clamp of the denoised estimate (None: the checkpoint's own)."""
    rows = []
    for name in samplers:
        if name not in SAMPLERS:
            raise ValueError(f"unknown sampler '{name}', choose from {sorted(SAMPLERS)}")
        for n_steps in steps:
            sampler = {"name": name, "steps": int(n_steps)}
            if clip_x0 is not None:
                sampler["clip_x0"] = clip_x0
            restored = restore_checkpoint(run, data_overrides, {"sampler": sampler}, checkpoint)
            model, datamodule = restored.model, restored.datamodule
            real, reference = datamodule.evaluation_samples("test", n_events)
            generated, speed = generate_like(
                model, datamodule, real, batch_size, seed, progress=False
            )
            scores = datamodule.evaluator().evaluate(generated, real, reference)
            metric = headline(datamodule.family, scores)
            rows.append(
                {
                    "sampler": name,
                    "steps": int(n_steps),
                    "network_evaluations": network_evaluations(name, int(n_steps)),
                    "clip_x0": model.sampler.get("clip_x0"),
                    "metric": metric,
                    "value": scores[metric].value,
                    "error": scores[metric].error,
                    "real_vs_real": scores[metric].real_vs_real,
                    "samples_per_s": speed.samples_per_s,
                    "device": speed.device,
                }
            )
    return rows


def table(rows: Sequence[dict[str, Any]]) -> str:
    """A markdown table of the study."""
    lines = [
        "| sampler | steps | network evaluations | metric | value | real vs real | samples/s |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for r in rows:
        evals = r["network_evaluations"] if r["network_evaluations"] > 0 else "adaptive"
        lines.append(
            f"| {r['sampler']} | {r['steps']} | {evals} | {r['metric']} | {r['value']:.4g} ± "
            f"{r['error']:.2g} | {r['real_vs_real']:.3g} | {r['samples_per_s']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def figure(rows: Sequence[dict[str, Any]]):
    """Metric (log) and samples/s against steps, one line per sampler."""
    with hep_style():
        fig, (ax_q, ax_s) = plt.subplots(1, 2, figsize=(11, 4.2))
        for name in dict.fromkeys(r["sampler"] for r in rows):
            mine = sorted((r for r in rows if r["sampler"] == name), key=lambda r: r["steps"])
            x = [r["steps"] for r in mine]
            ax_q.errorbar(
                x, [r["value"] for r in mine], [r["error"] for r in mine], marker="o", label=name
            )
            ax_s.plot(x, [r["samples_per_s"] for r in mine], marker="o", label=name)
        baseline = rows[0]["real_vs_real"]
        ax_q.axhline(baseline, color="grey", ls="--", label="real vs real")
        ax_q.set(xscale="log", yscale="log", xlabel="steps", ylabel=rows[0]["metric"])
        ax_s.set(xscale="log", yscale="log", xlabel="steps", ylabel="samples / s")
        ax_q.legend(fontsize="small")
        fig.tight_layout()
    return fig


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m genhep.diffusion.steps_study", description=__doc__
    )
    parser.add_argument("run", help="a diffusion run directory or .ckpt")
    parser.add_argument("--out", required=True, help="folder for steps.json, steps.md, steps.png")
    parser.add_argument("--samplers", default="euler,heun,midpoint")
    parser.add_argument("--steps", default="5,10,25,50")
    parser.add_argument("--checkpoint", default="best", choices=["best", "last"])
    parser.add_argument("--n-events", type=int, default=3000)
    parser.add_argument(
        "--clip-x0", type=float, default=None, help="model.sampler.clip_x0 (default: the run's)"
    )
    parser.add_argument(
        "--data",
        nargs="*",
        default=[],
        help="data.<key>=<value> overrides, e.g. evaluator.cov_mmd=false",
    )
    args = parser.parse_args(argv)
    overrides = {}
    for item in args.data:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--data takes key=value, got '{item}'")
        overrides[key] = yaml.safe_load(value)
    rows = study(
        args.run,
        args.samplers.split(","),
        [int(s) for s in args.steps.split(",")],
        args.checkpoint,
        args.n_events,
        overrides,
        clip_x0=args.clip_x0,
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "steps.json", {"run": str(args.run), "rows": rows})
    atomic_write_text(out / "steps.md", table(rows))
    save_figure(figure(rows), out / "steps")
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
