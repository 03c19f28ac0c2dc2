"""``diffusion``: samples/s of the diffusion / flow-matching sampler against its steps.

For each family's default network (and the PC-JeDi transformer for clouds), each sampler
(Euler, Heun, midpoint, DDIM, Euler–Maruyama) and each number of steps, one
``Diffusion.sample`` call (untrained weights: the speed does not depend on them). Beside
them, in the same run: the parametric shower simulator (the calorimeter's Monte Carlo) and
the fastest other model of each family (the FastCaloGAN-style generator on showers, the FC
cloud generator on jets), so that ratios come from one machine at one time. The Pythia
JetNet generator's jets/s is the ``pythia`` benchmark of the same ``make bench`` run.
"""

from __future__ import annotations

import numpy as np
import torch

from genhep.data.calorimeter.simulator import DS1_ENERGIES_MEV, ShowerSimulator
from genhep.diffusion.paths import VariancePreserving
from genhep.models.diffusion import Diffusion
from genhep.models.fastcalogan import FastCaloGAN
from genhep.nn.cloud_generators import FCGenerator
from genhep.nn.cloud_transformer import CloudTransformer

from benchmarks.common import Context, Entry

NAME = "diffusion"
FAMILIES = {
    "calorimeter": {
        "family": "calorimeter",
        "event_shape": [368],
        "cond_dim": 1,
        "has_mask": False,
    },
    "jetnet": {"family": "jetnet", "event_shape": [30, 3], "cond_dim": 0, "has_mask": True},
    "jet_images": {
        "family": "jet_images",
        "event_shape": [1, 25, 25],
        "cond_dim": 2,
        "has_mask": False,
    },
}


def _grid(ctx: Context) -> tuple[dict[str, int], list[str], list[int]]:
    """Events per call by family, samplers, steps."""
    if ctx.quick:
        return {"calorimeter": 8}, ["euler"], [2]
    return (
        (
            {"calorimeter": 10_000, "jetnet": 10_000, "jet_images": 2_000}
            if ctx.gpu
            else {"calorimeter": 1000, "jetnet": 500, "jet_images": 200}
        ),
        ["euler", "heun", "midpoint", "ddim", "euler_maruyama"],
        [10, 50, 200],
    )


def _inputs(family: str, n: int, device: torch.device) -> dict[str, torch.Tensor]:
    spec = FAMILIES[family]
    out = {}
    if spec["cond_dim"]:
        out["cond"] = torch.rand(n, spec["cond_dim"], device=device)
    if spec["has_mask"]:
        counts = torch.randint(10, 31, (n,), device=device)
        out["mask"] = torch.arange(30, device=device)[None] < counts[:, None]
    return out


def benchmarks(ctx: Context) -> list[Entry]:
    torch.manual_seed(0)
    device = ctx.torch_device
    sizes, samplers, steps = _grid(ctx)
    entries = []
    networks = {family: {"default": None} for family in sizes}
    if "jetnet" in networks:
        networks["jetnet"]["transformer"] = lambda features, cond_dim: CloudTransformer(
            features, cond_dim
        )
    for family, n in sizes.items():
        inputs = _inputs(family, n, device)
        for net_name, network in networks[family].items():
            for sampler in samplers:
                for n_steps in steps:
                    model = Diffusion(
                        FAMILIES[family],
                        VariancePreserving(),
                        network=network,
                        sampler={"name": sampler, "steps": n_steps},
                        ema=None,
                    ).to(device)
                    model.eval()
                    timing = ctx.measure(lambda m=model, i=inputs, k=n: m.sample(k, **i))
                    params = {
                        "family": family,
                        "network": net_name,
                        "sampler": sampler,
                        "steps": n_steps,
                    }
                    entries.append(
                        ctx.entry(
                            NAME,
                            f"{family}_{net_name}_{sampler}_{n_steps}",
                            "samples_per_s",
                            timing,
                            n,
                            params=params,
                        )
                    )
    entries += _baselines(ctx, sizes, device)
    return entries


def _baselines(ctx: Context, sizes: dict[str, int], device: torch.device) -> list[Entry]:
    """The simulator and the fastest other model of each family, same run."""
    entries = []
    n = sizes["calorimeter"]
    rng = np.random.default_rng(0)
    simulator = ShowerSimulator("ds1_photons", "photon")
    energies = rng.choice(np.asarray(DS1_ENERGIES_MEV, dtype=float), min(n, 100))
    timing = ctx.measure(lambda: simulator.simulate(energies, rng), device="cpu")
    params = {
        "family": "calorimeter",
        "baseline": "monte_carlo (parametric, not Geant4)",
        "energy": "ds1 mix",
    }
    entries.append(
        ctx.entry(
            NAME,
            "calorimeter_simulator",
            "events_per_s",
            timing,
            len(energies),
            device="cpu",
            params=params,
        )
    )
    gan = FastCaloGAN(FAMILIES["calorimeter"]).to(device).eval()
    cond = torch.rand(n, 1, device=device)
    timing = ctx.measure(lambda: gan.sample(n, cond))
    params = {"family": "calorimeter", "baseline": "fastest other model (model=fastcalogan)"}
    entries.append(
        ctx.entry(NAME, "calorimeter_fastcalogan", "samples_per_s", timing, n, params=params)
    )
    if "jetnet" in sizes:
        n = sizes["jetnet"]
        fc = FCGenerator(30, 3).to(device).eval()
        counts = torch.randint(10, 31, (n,), device=device)
        with torch.no_grad():
            timing = ctx.measure(lambda: fc(counts))
        params = {
            "family": "jetnet",
            "baseline": "fastest other model (the FC generator of model=mpgan)",
        }
        entries.append(
            ctx.entry(NAME, "jetnet_fc_generator", "samples_per_s", timing, n, params=params)
        )
    return entries
