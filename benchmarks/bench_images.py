"""``images``: jet images per second of each image model's sampler and of Pythia + FastJet.

The SARM paper's speed comparison (Lu et al., PRD 103, 036012; 4 TITAN X): SARM-2 (D+C)
≈ 50× PixelCNN++ and ≈ 73× Pythia, LAGAN ≈ 300× Pythia. Here, in one run on one machine:

- each model of ``experiment=sarm_prd2021`` (the ``conf/preset/sarm_prd2021/`` rows, their default
  sizes, untrained: speed does not depend on the weights), ``sample(n, cond)`` of 28×28
  images at one batch size for all (100, which PixelCNN++ on a CPU core still takes minutes
  for; quick: 4), half signal and half background;
- the Monte Carlo: :class:`~genhep.data.jets.pythia_images.JetImageGenerator` making a signal
  and a background block of kept images (LAGAN recipe, one core), images per second of the
  two together (the 50/50 mix the models sample);
- each model entry's ``params.over_monte_carlo``: its images/s over the Monte Carlo's, and
  SARM-2 (D+C)'s ``params.over_pixelcnn``, so the paper's targets read off one file.

PixelCNN++ runs H·W = 784 full network passes per batch; it is timed once (no warm-up).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import time

import torch
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate

from genhep.spec import DataSpec

from benchmarks.common import Context, Entry, Timing, measure_once

NAME = "images"
PRESETS = ("lagan", "pixelcnn", "sarm1_dc", "sarm2_dc", "sarm1_dd", "sarm2_dd")
SIZE = 28
SPEC = DataSpec("jet_images", (1, SIZE, SIZE), cond_dim=2)
#: what an untrained model would otherwise fit on the training images
UNTRAINED = {"pixelcnn": ["model.x_max=0.73"]}


def image_model(preset: str) -> tuple[str, torch.nn.Module]:
    """(row label, untrained model) of a ``conf/preset/sarm_prd2021`` row."""
    GlobalHydra.instance().clear()
    with initialize_config_module("genhep.conf", version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                "data=jet_images",
                f"+preset/sarm_prd2021={preset}",
                f"data.image_size={SIZE}",
                *UNTRAINED.get(preset, []),
            ],
        )
    GlobalHydra.instance().clear()
    return str(cfg.label), instantiate(cfg.model, data_spec=SPEC.to_dict())


def _classes(n: int, device: torch.device) -> torch.Tensor:
    """One-hot [background, signal], half of each."""
    signal = (torch.arange(n, device=device) % 2).long()
    return torch.nn.functional.one_hot(signal, 2).float()


def _monte_carlo(ctx: Context) -> tuple[Timing, int]:
    """Time one signal and one background block of kept images (one core)."""
    from genhep.data.jets.pythia_images import JetImageGenerator

    block = 2 if ctx.quick else 20
    generator = JetImageGenerator("both", seed=0, block_size=block)
    generator.simulate_block(0)  # Pythia initialisation is not the rate
    began = time.perf_counter()
    generator.simulate_block(2)  # both: even blocks signal, odd background
    generator.simulate_block(3)
    seconds = time.perf_counter() - began
    return Timing(seconds, 1, 1, 0.0), 2 * block


def benchmarks(ctx: Context) -> list[Entry]:
    device = ctx.torch_device
    n = 4 if ctx.quick else 100
    cond = _classes(n, device)
    entries, rates = [], {}
    for preset in PRESETS[:2] + PRESETS[3:4] if ctx.quick else PRESETS:
        label, model = image_model(preset)
        model = model.to(device).eval()
        torch.manual_seed(0)
        with torch.inference_mode():
            if preset == "pixelcnn":
                timing = measure_once(lambda m=model: m.sample(n, cond=cond), device)
            else:
                timing = ctx.measure(lambda m=model: m.sample(n, cond=cond))
        entry = ctx.entry(
            NAME, preset, "samples_per_s", timing, n, params={"label": label, "size": SIZE}
        )
        entries.append(entry)
        rates[preset] = entry.value
    if importlib.util.find_spec("pythia8mc") and importlib.util.find_spec("fastjet"):
        timing, kept = _monte_carlo(ctx)
        mc = ctx.entry(
            NAME,
            "pythia_fastjet",
            "samples_per_s",
            timing,
            kept,
            device="cpu",
            params={"label": "Pythia 8 + FastJet (LAGAN recipe)", "processes": 1},
        )
        entries.append(mc)
        rates["pythia_fastjet"] = mc.value
    return [_with_ratios(entry, rates) for entry in entries]


def _with_ratios(entry: Entry, rates: dict[str, float]) -> Entry:
    """``params.over_monte_carlo`` (images/s over Pythia's) and, for SARM-2 (D+C),
    ``params.over_pixelcnn``: the paper's speed targets, from this one run."""
    params = dict(entry.params)
    if entry.case in PRESETS and "pythia_fastjet" in rates:
        params["over_monte_carlo"] = entry.value / rates["pythia_fastjet"]
    if entry.case == "sarm2_dc" and "pixelcnn" in rates:
        params["over_pixelcnn"] = entry.value / rates["pixelcnn"]
    return dataclasses.replace(entry, params=params)
