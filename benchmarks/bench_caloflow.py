"""``caloflow``: showers per second of CaloFlow's sampler beside the parametric simulator.

CaloFlow (``model=caloflow``) at the authors' dataset-1 photon sizes (conf/model/caloflow.yaml:
flow I 6 RQS blocks of 2 × 64, flow II 8 RQS blocks of one hidden layer of 378, 368 voxels),
untrained (the time does not depend on the weights), conditions from the dataset-1 energy
mix (the 15 powers of two, 256 MeV – 4 TeV, drawn uniformly), in model space.

- ``flow1_sample``: flow I alone (the layer energies).
- ``sample``: flow I then flow II (a full shower in model space; genhep's sampler, which
  inverts each spline block one feature at a time, :meth:`ConditionalFlow.invert`).
- ``sample_nflows_inverse``: the same shower with nflows' own inverse (every feature's
  spline at each of the 368 passes), on a small batch: the speed-up of genhep's sampler.
- ``sim_ds1_mix`` / ``sim_65GeV``: the parametric shower simulator (not Geant4, one core) on
  the same geometry and energies: the Monte Carlo baseline.

A MAF samples feature by feature (368 sequential passes per block): the calls take
seconds to minutes, so the flow cases are timed once (:func:`measure_once`). Everything runs
on one thread, as the simulator does on one core (and two torch threads on a busy 2-core
machine slow the many small operations of a MAF inverse down by several times).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from genhep.data.calorimeter.simulator import DS1_ENERGIES_MEV, ShowerSimulator
from genhep.geometry.calorimeter import get_geometry
from genhep.models.caloflow import CaloFlow

from benchmarks.common import Context, Entry, measure_once

NAME = "caloflow"
GEOMETRY, PARTICLE = "ds1_photons", "photon"
#: conf/model/caloflow.yaml (the authors' dataset-1 photon model)
MODEL_PARAMS = {
    "energy_blocks": 6,
    "energy_hidden": 64,
    "energy_n_hidden": 2,
    "shower_blocks": 8,
    "shower_hidden": 378,
    "shower_n_hidden": 1,
}
QUICK_PARAMS = {**MODEL_PARAMS, "energy_blocks": 1, "shower_blocks": 1, "shower_hidden": 16}
E_MIN, E_MAX = min(DS1_ENERGIES_MEV), max(DS1_ENERGIES_MEV)


def _sizes(ctx: Context) -> tuple[int, int, int]:
    """Showers per call: full sampler, nflows' inverse, simulator."""
    if ctx.quick:
        return 8, 4, 10
    return (10_000, 4, 50) if ctx.gpu else (500, 4, 200)


def _spec() -> dict:
    geometry = get_geometry(GEOMETRY)
    v, n_layers = geometry.n_voxels, geometry.n_layers
    layers = {
        str(i): [s.start, s.stop]
        for i, s in zip(geometry.layer_ids, geometry.layer_slices, strict=True)
    }
    return {
        "family": "calorimeter",
        "event_shape": [v + n_layers],
        "cond_dim": 1,
        "has_mask": False,
        "layout": {"layers": layers, "layer_energies": {"u": [v, v + n_layers]}},
    }


def _model_cond(energies: np.ndarray, device: torch.device) -> torch.Tensor:
    """The data module's log-scaled condition of incident energies (MeV)."""
    c = np.log(energies / E_MIN) / math.log(E_MAX / E_MIN)
    return torch.as_tensor(c[:, None], dtype=torch.float32, device=device)


def benchmarks(ctx: Context) -> list[Entry]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _benchmarks(ctx)
    finally:
        torch.set_num_threads(threads)


def _benchmarks(ctx: Context) -> list[Entry]:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    device = ctx.torch_device
    n_sample, n_nflows, n_sim = _sizes(ctx)
    params = QUICK_PARAMS if ctx.quick else MODEL_PARAMS
    model = CaloFlow(_spec(), **params).to(device).eval()
    described = {**params, "geometry": GEOMETRY, "energies": "ds1 mix", "weights": "untrained"}
    entries = []

    energies = rng.choice(np.asarray(DS1_ENERGIES_MEV), n_sample)
    cond = _model_cond(energies, device)
    timing = ctx.measure(lambda: model.sample_layer_energies(n_sample, cond))
    entries.append(
        ctx.entry(NAME, "flow1_sample", "samples_per_s", timing, n_sample, params=described)
    )
    with torch.no_grad():
        model.sample(2, cond[:2])  # warm-up
    timing = measure_once(lambda: model.sample(n_sample, cond), device=device)
    entries.append(ctx.entry(NAME, "sample", "samples_per_s", timing, n_sample, params=described))

    small = cond[:n_nflows]

    @torch.no_grad()
    def nflows_inverse() -> torch.Tensor:
        u = model.flow_energy.sample(n_nflows, small)
        z = torch.randn(n_nflows, model.n_shower, device=device)
        return model.flow_shower.inverse(z, torch.cat([small, u], dim=1))[0]

    timing = measure_once(nflows_inverse, device=device)
    entries.append(
        ctx.entry(
            NAME,
            "sample_nflows_inverse",
            "samples_per_s",
            timing,
            n_nflows,
            params={**described, "inverse": "nflows MaskedAutoregressiveTransform.inverse"},
        )
    )

    simulator = ShowerSimulator(GEOMETRY, PARTICLE)
    for case, fixed in (("sim_ds1_mix", None), ("sim_65GeV", 65536.0)):
        sim_energies = (
            rng.choice(np.asarray(DS1_ENERGIES_MEV), n_sim)
            if fixed is None
            else np.full(n_sim, fixed)
        )
        timing = ctx.measure(lambda e=sim_energies: simulator.simulate(e, rng), device="cpu")
        entries.append(
            ctx.entry(
                NAME,
                case,
                "events_per_s",
                timing,
                n_sim,
                device="cpu",
                params={
                    "geometry": GEOMETRY,
                    "particle": PARTICLE,
                    "energy_mev": "ds1 mix" if fixed is None else fixed,
                    "baseline": "monte_carlo (parametric, not Geant4)",
                    "processes": 1,
                },
            )
        )
    return entries
