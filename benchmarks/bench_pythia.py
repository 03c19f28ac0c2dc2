"""``pythia``: the Pythia 8 + FastJet jet generators, events/s and kept jets/s on one core.

The Monte Carlo baseline jet models are compared with. Each case times whole events: Pythia's
``next()``, the visible final state, anti-kt clustering, trimming and -- for events whose
leading trimmed jet passes the LAGAN windows -- N-subjettiness and the image. ``events_per_s``
counts generated events; the ``*_kept_jets`` entries count the jets that pass (events/s times
the measured acceptance, which is in ``params``). Needs the ``hep`` extra.
"""

from __future__ import annotations

import dataclasses

from benchmarks.common import BenchmarkSkipped, Context, Entry

NAME = "pythia"


def benchmarks(ctx: Context) -> list[Entry]:
    try:
        import fastjet  # noqa: F401
        import pythia8mc  # noqa: F401
    except ImportError as err:
        raise BenchmarkSkipped("needs the hep extra (pip install -e '.[hep]')") from err
    from genhep.data.jets.pythia import make_pythia, visible_final_state
    from genhep.data.jets.pythia_images import JetImageGenerator

    generator = JetImageGenerator("both", seed=0)
    n = 5 if ctx.quick else 200
    entries = []
    for process, signal in (("wprime_to_wz", True), ("qcd", False)):
        pythia = make_pythia(generator._settings(signal), 12345, generator.settings["sqrt_s"])
        counts = {"events": 0, "kept": 0}

        def run(pythia=pythia, counts=counts) -> None:
            for _ in range(n):
                if not pythia.next():
                    continue
                counts["events"] += 1
                if generator.process(visible_final_state(pythia.event)) is not None:
                    counts["kept"] += 1

        timing = ctx.measure(run, device="cpu")
        acceptance = counts["kept"] / max(counts["events"], 1)
        params = {
            "process": process,
            "sqrt_s": generator.settings["sqrt_s"],
            "settings": generator._settings(signal),
            "jet_pt_window": [generator.settings["pt_min"], generator.settings["pt_max"]],
            "jet_mass_window": [generator.settings["mass_min"], generator.settings["mass_max"]],
            "acceptance": acceptance,
            "events_counted": counts["events"],
            "baseline": "monte_carlo (Pythia 8 + FastJet, LAGAN jet images)",
            "processes": 1,
        }
        events = ctx.entry(NAME, process, "events_per_s", timing, n, device="cpu", params=params)
        entries.append(events)
        entries.append(
            dataclasses.replace(
                events,
                case=f"{process}_kept_jets",
                value=events.value * acceptance,
                params={**params, "unit": "kept jets per second"},
            )
        )
    entries += _jetnet(ctx)
    return entries


def _jetnet(ctx: Context) -> list[Entry]:
    """JetNet clouds: kept (matched) jets/s per jet type, one block of jets per call,
    Pythia's start-up included (as in a generation job: one Pythia per block)."""
    from genhep.data.jets.pythia_jetnet import JetNetGenerator

    entries = []
    for jet_type in ("t",) if ctx.quick else ("g", "q", "t", "w", "z"):
        generator = JetNetGenerator(jet_type, seed=0, block_size=5 if ctx.quick else 50)
        blocks = iter(range(10**6))
        timing = ctx.measure(lambda g=generator, b=blocks: g.simulate_block(next(b)), device="cpu")
        params = {
            "jet_type": jet_type,
            "num_particles": generator.settings["num_particles"],
            "baseline": "monte_carlo (Pythia 8 + FastJet, JetNet clouds)",
            "processes": 1,
            "unit": "kept jets per second",
        }
        entries.append(
            ctx.entry(
                NAME,
                f"jetnet_{jet_type}_kept_jets",
                "events_per_s",
                timing,
                generator.block_size,
                device="cpu",
                params=params,
            )  # fmt: skip
        )
    return entries
