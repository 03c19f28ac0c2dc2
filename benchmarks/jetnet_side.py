"""jetnet 0.2.5's whole JetNet evaluation, timed: the other side of the ``evaluators`` benchmark.

Runs in the environment where jetnet and its dependencies are installed (``make test-jetnet``'s
``.venv-jetnet``: jetnet needs numpy < 2), not genhep's; it imports neither genhep nor the
harness. ``benchmarks/bench_evaluators.py`` writes the jets, runs this script with that
environment's Python and reads its JSON::

    .venv-jetnet/bin/python benchmarks/jetnet_side.py --jets jets.npz --out jetnet.json \\
        [--fpnd-jet-type g] [--no-cov-mmd] [--efp-jobs N] [--num-batches 5]

``jets.npz`` holds ``generated``, ``real`` and ``reference``, each ``(N, 30, 4)``
``[etarel, phirel, ptrel, mask]``. What is timed is what genhep's
:class:`~genhep.evaluation.jetnet.JetNetEvaluator` computes, the model's value and the
real-vs-real one (``reference`` against ``real``), with jetnet's public functions as a jetnet
user calls them, at jetnet's defaults unless stated:

- ``w1m``, ``w1p`` (with the masks), ``w1efp``: ``num_eval_samples = N``, ``num_batches``
  (5); ``w1efp`` computes the 5 EFPs of both of its inputs on every call (jetnet's API has no
  way to reuse them), so the real jets' are computed twice;
- ``get_fpd_kpd_jet_features`` (the 36 d <= 4 EFPs) once per sample, then ``fpd`` and ``kpd``
  on them, twice each;
- ``cov_mmd`` (energyflow's EMD, 100 × 100 jets × 10 batches), twice (``--no-cov-mmd``: not);
- ``fpnd`` of the generated and the reference jets (``--fpnd-jet-type``), if jetnet's
  ParticleNet can be built: it needs ``torch_geometric`` (e.g. ``pip install --no-deps
  --target /tmp/pyg torch_geometric`` and ``PYTHONPATH=/tmp/pyg``); ``torch_cluster``, when
  absent, is replaced by a brute-force pure-torch ``knn_graph`` (as
  ``tests/test_fpnd_reference.py``). Otherwise it is skipped, with the reason in the output.

EFPs use ``efp_jobs`` energyflow processes (jetnet's default ``None``: one per CPU).
The output JSON: versions, ``pieces`` (seconds per call, in order), ``total_seconds`` (their
sum), ``import_seconds``, ``metrics`` (the values, for a sanity check) and ``skipped``.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import json
import os
import platform
import sys
import time
import types
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def knn_graph(x, k, batch=None, loop=False, flow="source_to_target", **_):
    """``torch_cluster.knn_graph`` in plain torch: exact distances within each graph (graphs
    of equal size, as ParticleNet's jets of 30 particles, as one batched block), the ``k``
    nearest other points (``k + 1`` with ``loop``), edges ``[source, target]``."""
    import torch

    if batch is None:
        batch = torch.zeros(len(x), dtype=torch.long, device=x.device)
    sizes = torch.bincount(batch)
    size = int(sizes.min())
    if int(sizes.max()) != size or not bool((batch[1:] >= batch[:-1]).all()):
        raise NotImplementedError("knn_graph stand-in: graphs of equal size, sorted by batch")
    points = x.reshape(len(sizes), size, -1)
    d = ((points[:, :, None, :] - points[:, None, :, :]) ** 2).sum(-1)
    if not loop:  # a point is never its own neighbour
        d = d + torch.diag(torch.full((size,), float("inf"), device=x.device))
    nearest = d.topk(min(k, size if loop else size - 1), dim=2, largest=False).indices
    offset = (torch.arange(len(sizes), device=x.device) * size)[:, None, None]
    source = (nearest + offset).reshape(-1)
    target = (torch.arange(len(x), device=x.device).reshape(len(sizes), size, 1)).expand_as(nearest)
    target = target.reshape(-1)
    pair = (source, target) if flow == "source_to_target" else (target, source)
    return torch.stack(pair)


def fpnd_unavailable() -> str | None:
    """Why jetnet's FPND cannot run here (``None``: it can; a ``torch_cluster`` stand-in is
    installed if needed)."""
    if importlib.util.find_spec("torch_geometric") is None:
        return (
            "jetnet's ParticleNet needs torch_geometric (pip install --no-deps --target "
            "/tmp/pyg torch_geometric; PYTHONPATH=/tmp/pyg)"
        )
    if importlib.util.find_spec("torch_cluster") is None:
        stub = types.ModuleType("torch_cluster")
        stub.__spec__ = importlib.machinery.ModuleSpec("torch_cluster", None)
        stub.knn_graph = knn_graph
        sys.modules["torch_cluster"] = stub
    try:
        from jetnet.evaluation.particlenet import _ParticleNet  # noqa: F401
    except Exception as err:  # an incompatible torch_geometric, ...
        return f"jetnet's ParticleNet does not build: {type(err).__name__}: {err}"
    return None


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Time jetnet 0.2.5's whole JetNet evaluation.")
    parser.add_argument("--jets", type=Path, required=True, help="npz: generated, real, reference")
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--num-batches", type=int, default=5, help="W1 batches (default 5)")
    parser.add_argument("--efp-jobs", type=int, default=None, help="energyflow processes")
    parser.add_argument("--fpnd-jet-type", default=None, help="g, q or t: run FPND (else not)")
    parser.add_argument("--no-cov-mmd", action="store_true", help="skip COV and MMD")
    parser.add_argument(
        "--kpd-batch-size", type=int, default=None, help="KPD batch (default jetnet's, 5000)"
    )
    parser.add_argument(
        "--fpd-max-samples",
        type=int,
        default=None,
        help="FPD's largest batch, the smallest half of it (default jetnet's, 50000 and 20000)",
    )
    return parser.parse_args(argv)


def evaluate(args: argparse.Namespace) -> dict[str, Any]:
    began = time.perf_counter()
    import jetnet
    import numpy as np
    from jetnet.evaluation import gen_metrics as jm

    import_seconds = time.perf_counter() - began

    with np.load(args.jets) as data:
        gen, real, ref = (
            np.asarray(data[k], dtype=np.float64) for k in ("generated", "real", "reference")
        )
    n = len(gen)
    pieces: dict[str, float] = {}
    metrics: dict[str, Any] = {}
    skipped: dict[str, str] = {}

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        out = fn()
        pieces[name] = time.perf_counter() - start
        print(f"  jetnet {name}: {pieces[name]:.2f} s", file=sys.stderr, flush=True)
        return out

    w1 = {"num_eval_samples": n, "num_batches": args.num_batches}
    efp = {"efp_jobs": args.efp_jobs}
    kpd = {} if args.kpd_batch_size is None else {"batch_size": args.kpd_batch_size}
    fpd = (
        {}
        if args.fpd_max_samples is None
        else {"max_samples": args.fpd_max_samples, "min_samples": args.fpd_max_samples // 2}
    )
    pairs = {"": gen, "_real_vs_real": ref}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "recommended 50,000 jets"
        for suffix, other in pairs.items():
            metrics[f"w1m{suffix}"] = timed(
                f"w1m{suffix}", lambda o=other: jm.w1m(real[..., :3], o[..., :3], **w1)
            )
            metrics[f"w1p{suffix}"] = timed(
                f"w1p{suffix}",
                lambda o=other: jm.w1p(real[..., :3], o[..., :3], real[..., 3], o[..., 3], **w1),
            )
            metrics[f"w1efp{suffix}"] = timed(
                f"w1efp{suffix}",
                lambda o=other: jm.w1efp(real[..., :3], o[..., :3], **w1, **efp),
            )
        features = {
            label: timed(
                f"efps_{label}", lambda j=jets: jm.get_fpd_kpd_jet_features(j[..., :3], **efp)
            )
            for label, jets in (("real", real), ("generated", gen), ("reference", ref))
        }
        for suffix, label in (("", "generated"), ("_real_vs_real", "reference")):
            metrics[f"fpd{suffix}"] = timed(
                f"fpd{suffix}", lambda lab=label: jm.fpd(features["real"], features[lab], **fpd)
            )
            metrics[f"kpd{suffix}"] = timed(
                f"kpd{suffix}", lambda lab=label: jm.kpd(features["real"], features[lab], **kpd)
            )
        if args.no_cov_mmd:
            skipped["cov_mmd"] = "turned off (--no-cov-mmd)"
        else:
            for suffix, other in pairs.items():
                metrics[f"cov_mmd{suffix}"] = timed(
                    f"cov_mmd{suffix}",
                    lambda o=other: jm.cov_mmd(real[..., :3], o[..., :3], use_tqdm=False),
                )
        reason = None if args.fpnd_jet_type else "not asked for (--fpnd-jet-type)"
        reason = reason or fpnd_unavailable()
        if reason is None:
            for suffix, other in pairs.items():
                metrics[f"fpnd{suffix}"] = timed(
                    f"fpnd{suffix}",
                    lambda o=other: jm.fpnd(
                        o[..., :3], args.fpnd_jet_type, device="cpu", use_tqdm=False
                    ),
                )
        else:
            skipped["fpnd"] = reason

    return {
        "jetnet": jetnet.__version__,
        "numpy": np.__version__,
        "energyflow": _version("energyflow"),
        "torch": _version("torch"),
        "python": platform.python_version(),
        "executable": sys.executable,
        "cpu_count": os.cpu_count(),
        "efp_jobs": args.efp_jobs,
        "jets": n,
        "num_batches": args.num_batches,
        "import_seconds": import_seconds,
        "pieces": pieces,
        "total_seconds": sum(pieces.values()),
        "metrics": _plain(metrics),
        "skipped": skipped,
    }


def _version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _plain(value: Any) -> Any:
    """Numbers, tuples and arrays of numbers as JSON-ready floats and lists."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    return float(value) if isinstance(value, int | float) else value


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    result = evaluate(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
