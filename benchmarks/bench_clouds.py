"""``clouds``: JetNet jets per second of every particle-cloud sampler and of Pythia + FastJet.

MPGAN's speed comparison (Kansal et al. 2106.11535): MPGAN 35.7 µs per jet on an A100
against about 46 ms per jet for the Monte Carlo chain, ≈ 1300× (:data:`PAPER`). Here, in one
run on one machine:

- each generator of MPGAN's Table 2 as ``experiment=mpgan_neurips2021`` configures its gluon
  row (``conf/preset/mpgan_neurips2021/g_*``: MP, MP-LFC, FC, GraphCNN; the generator from
  ``conf/model/generator/``, the batch size from ``data.batch_size``, 256 for each; 10,000
  jets per call on a GPU, where 256 would time the kernel launches), and the
  particle VAE as ``experiment=particle_vae_chamfer`` configures it (batch 100, the authors');
  untrained (speed does not depend on the weights), 30 particles × 3 features;
  ``model.sample(n, mask=...)`` in the model's space (no inverse transform), the particle
  counts those of the jets the Monte Carlo made in this run (cycled; every model gets the
  same masks);
- the Monte Carlo: :class:`~genhep.data.jets.pythia_jetnet.JetNetGenerator` making blocks of
  kept (matched) gluon jets, one core, Pythia's start-up per block included as in a
  generation job (blocks of 200: start-up a few per cent);
- each model entry's ``params.over_monte_carlo``: its jets/s over the Monte Carlo's, and
  ``params.paper``: the published row, for comparison (the published ratio is on a GPU).

Without the ``hep`` extra the Monte Carlo row is absent (no ratios) and the particle counts
are drawn uniformly in 10..30.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from typing import Any

import numpy as np
import torch
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate

from benchmarks.common import Context, Entry, Timing, measure

NAME = "clouds"
JET_TYPE = "g"
N_PARTICLES = 30

#: case -> Hydra overrides of ``train`` (the generator rows are the gluon rows of Table 2)
SAMPLERS: dict[str, list[str]] = {
    "mp": ["experiment=mpgan_neurips2021", "+preset/mpgan_neurips2021=g_mp_mp"],
    "mp_lfc": ["experiment=mpgan_neurips2021", "+preset/mpgan_neurips2021=g_mplfc_mp"],
    "fc": ["experiment=mpgan_neurips2021", "+preset/mpgan_neurips2021=g_fc_pointnet"],
    "graphcnn": ["experiment=mpgan_neurips2021", "+preset/mpgan_neurips2021=g_graphcnn_pointnet"],
    "particle_vae": ["experiment=particle_vae_chamfer"],
}
QUICK_SAMPLERS = ("mp", "fc", "particle_vae")

#: The published row: MPGAN on an A100 against the Monte Carlo chain (2106.11535).
PAPER = {
    "mpgan_seconds_per_jet": 35.7e-6,
    "monte_carlo_seconds_per_jet": 46e-3,
    "over_monte_carlo": 46e-3 / 35.7e-6,
    "device": "NVIDIA A100",
}

MC_CASE = "pythia_fastjet"


def cloud_model(case: str) -> tuple[str, int, torch.nn.Module]:
    """(row label, configured batch size, untrained model) of a :data:`SAMPLERS` case,
    composed and instantiated as ``genhep train`` would (data spec from the data module)."""
    GlobalHydra.instance().clear()
    with initialize_config_module("genhep.conf", version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                *SAMPLERS[case],
                f"data.jet_type={JET_TYPE}",
                f"data.num_particles={N_PARTICLES}",
            ],
        )
    GlobalHydra.instance().clear()
    datamodule = instantiate(cfg.data)  # reads nothing: the spec comes from the settings
    model = instantiate(cfg.model, data_spec=datamodule.spec.to_dict())
    label = str(cfg.get("label") or f"{cfg.model._target_.rsplit('.', 1)[1]} ({SAMPLERS[case][0]})")
    return label, int(cfg.data.batch_size), model


def _monte_carlo(ctx: Context) -> tuple[Timing, int, np.ndarray]:
    """Timing of one block of kept gluon jets, the block size, and the particle counts of
    every jet made (for the models' masks)."""
    from genhep.data.jets.pythia_jetnet import JetNetGenerator

    block = 3 if ctx.quick else 200
    generator = JetNetGenerator(JET_TYPE, seed=0, block_size=block, num_particles=N_PARTICLES)
    counts: list[np.ndarray] = []
    blocks = iter(range(10**6))

    def run() -> None:
        jets = generator.simulate_block(next(blocks))
        counts.append(jets["particle_features"][..., 3].sum(axis=1).astype(np.int64))

    # whole blocks are long (seconds): a few repeats, no warm-up (start-up is part of a block)
    timing = measure(run, repeats=2 if ctx.quick else 3, warmup=0, min_time=0.0)
    return timing, block, np.concatenate(counts)


def _masks(counts: np.ndarray, n: int, device: torch.device) -> torch.Tensor:
    """``(n, N)`` masks with the first ``counts[i % len(counts)]`` slots genuine."""
    per_jet = torch.as_tensor(np.resize(counts, n), device=device)
    return torch.arange(N_PARTICLES, device=device)[None] < per_jet[:, None]


def benchmarks(ctx: Context) -> list[Entry]:
    device = ctx.torch_device
    entries: list[Entry] = []
    if importlib.util.find_spec("pythia8mc") and importlib.util.find_spec("fastjet"):
        timing, block, counts = _monte_carlo(ctx)
        entries.append(
            ctx.entry(
                NAME,
                MC_CASE,
                "samples_per_s",
                timing,
                block,
                device="cpu",
                params={
                    "label": "Pythia 8 + FastJet (JetNet gluon jets, kept after matching)",
                    "jet_type": JET_TYPE,
                    "num_particles": N_PARTICLES,
                    "processes": 1,
                    "startup_included": True,
                    "mean_particles": float(counts.mean()),
                    "unit": "kept jets per second",
                },
            )
        )
    else:
        counts = np.random.default_rng(0).integers(10, N_PARTICLES + 1, 1000)
    for case in QUICK_SAMPLERS if ctx.quick else SAMPLERS:
        label, batch, model = cloud_model(case)
        n = 4 if ctx.quick else 10_000 if ctx.gpu else batch
        model = model.to(device).eval()
        mask = _masks(counts, n, device)
        torch.manual_seed(0)
        with torch.inference_mode():
            timing = ctx.measure(lambda m=model, k=mask: m.sample(len(k), mask=k))
        entries.append(
            ctx.entry(
                NAME,
                case,
                "samples_per_s",
                timing,
                n,
                params={
                    "label": label,
                    "overrides": SAMPLERS[case],
                    "model": type(model).__name__,
                    "network": type(getattr(model, "generator", model)).__name__,
                    "sampler_parameters": sum(
                        p.numel() for p in getattr(model, "generator", model).parameters()
                    ),
                    "num_particles": N_PARTICLES,
                    "configured_batch_size": batch,
                    "unit": "jets per second",
                },
            )
        )
    mc = next((e.value for e in entries if e.case == MC_CASE), None)
    return [_with_ratio(entry, mc) for entry in entries]


def _with_ratio(entry: Entry, mc_rate: float | None) -> Entry:
    """Model entries get ``seconds_per_jet``, ``over_monte_carlo`` (jets/s over the Monte
    Carlo's, this run) and the published row :data:`PAPER`."""
    params: dict[str, Any] = {**entry.params, "seconds_per_jet": 1.0 / entry.value}
    if entry.case != MC_CASE:
        if mc_rate is not None:
            params["over_monte_carlo"] = entry.value / mc_rate
        params["paper"] = PAPER
    return dataclasses.replace(entry, params=params)
