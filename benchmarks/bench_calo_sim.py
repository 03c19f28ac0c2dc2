"""``calo_sim``: the parametric shower simulator (not Geant4), showers per second on one core.

The Monte Carlo baseline calorimeter models are compared with. Cases: photons on the
dataset-1 photon geometry, pions on the pion geometry and photons on the 266-cell ATLAS
grid, each at fixed incident energies (1, 65 GeV) and for the dataset-1 energy mix (the
15 powers of two, 256 MeV - 4 TeV, drawn uniformly); the cost grows with the energy.
"""

from __future__ import annotations

import numpy as np

from genhep.data.calorimeter.simulator import DS1_ENERGIES_MEV, ShowerSimulator

from benchmarks.common import Context, Entry

NAME = "calo_sim"
SETUPS = (("ds1_photons", "photon"), ("ds1_pions", "pion"), ("atlas_photons_266", "photon"))


def _energies(ctx: Context) -> dict[str, tuple[float | None, int]]:
    """Case name -> (fixed energy in MeV or None for the ds1 mix, showers per call)."""
    if ctx.quick:
        return {"1GeV": (1024.0, 20)}
    return {"1GeV": (1024.0, 2000), "65GeV": (65536.0, 100), "ds1_mix": (None, 100)}


def benchmarks(ctx: Context) -> list[Entry]:
    entries = []
    for geometry, particle in SETUPS[:1] if ctx.quick else SETUPS:
        simulator = ShowerSimulator(geometry, particle)
        for case, (energy, n) in _energies(ctx).items():
            rng = np.random.default_rng(0)
            if energy is None:
                energies = rng.choice(np.asarray(DS1_ENERGIES_MEV, dtype=float), n)
            else:
                energies = np.full(n, energy)
            timing = ctx.measure(
                lambda s=simulator, e=energies, r=rng: s.simulate(e, r), device="cpu"
            )
            entries.append(
                ctx.entry(
                    NAME,
                    f"{geometry}_{case}",
                    "events_per_s",
                    timing,
                    n,
                    device="cpu",
                    params={
                        "geometry": geometry,
                        "particle": particle,
                        "energy_mev": energy if energy is not None else "ds1 mix",
                        "baseline": "monte_carlo (parametric, not Geant4)",
                        "processes": 1,
                    },
                )
            )
    return entries
