"""LAGAN-style jet images from first principles: Pythia 8 + FastJet (needs the ``hep`` extra).

The recipe of de Oliveira, Paganini, Nachman (1701.05927; code hep-lbdl/adversarial-jets,
``generation/``), written in LAGAN's format (:func:`~genhep.data.jets.image_format.lagan_schema`):

* **Collisions**: pp at √s = 14 TeV (``sqrt_s``).
* **Signal** (``signal = 1``): W′ → WZ with W → qq′ (``24:onIfAny = 1 2 3 4 5``) and Z → νν
  (``23:onIfAny = 12 14 16``), ``NewGaugeBoson:ffbar2Wprime = on``, ``Wprime:coup2WZ = 1``,
  ``34:onIfAny = 23 24``. W′ mass :data:`DEFAULTS` ``wprime_mass`` = **600 GeV** (LAGAN's code
  defaults to 800): the two-body decay gives the W a momentum
  p* = (m² − m_W² − m_Z²) / 2m ≈ 287 GeV, so the Jacobian peak of the W pT sits at the top of
  the 250–300 GeV window. Measured here (200 events): 600 GeV keeps ~33% of the events
  (leading trimmed jet in both windows), 650 GeV ~30%, 800 GeV ~9% (STACK.md). ``ffbar → W′``
  is a 2 → 1 process, so no pTHat cut applies to it.
* **Background** (``signal = 0``): ``HardQCD:all = on`` with ``PhaseSpace:pTHatMin/Max`` =
  **250 / 310 GeV** (``qcd_pthat_min``/``qcd_pthat_max``): ~56% of the events have the leading
  trimmed jet in 250–300 GeV and ~11% also in 60–100 GeV of mass. The window shapes the pT
  spectrum near the edges (jets from pTHat < 250 GeV that end up above 250 GeV are missing);
  widen it for a less biased but slower sample.
* **Jets**: visible final-state particles (no neutrinos) clustered anti-kt R = 1.0, every jet
  trimmed (kt subjets R_sub = 0.2, f_cut = 0.05 of the untrimmed jet pT;
  :mod:`genhep.data.jets.pythia`); the leading *trimmed* jet is kept when
  250 < pT < 300 GeV and 60 < m < 100 GeV (``pt_min``, ``pt_max``, ``mass_min``, ``mass_max``);
  otherwise the event is rejected and the next one generated.
* **Image** (25×25 over (η, φ) ∈ [−1.25, 1.25]², pixel = Σ constituent pT in GeV, the grid of
  :mod:`genhep.geometry.jet_image`: columns η increasing, rows φ decreasing from +1.2): the
  trimmed jet's constituents, in pseudorapidity η and azimuth φ, are
  1. translated so that the leading (kt R = 0.2) subjet is at (0, 0) (φ wrapped to (−π, π] by :func:`~genhep.data.jets.pythia.wrap_phi`);
  2. rotated exactly (a rotation of the (η, φ) plane about the origin, applied to each
     constituent before pixelisation: no interpolation, no negative pixels) so that the second
     subjet lies directly *below* the centre, i.e. at φ < 0, η = 0 (towards higher row numbers
     in genhep's grid). With one subjet, the principal axis of the pT-weighted constituent
     distribution is turned that way instead (LAGAN's ``PCEta``/``PCPhi``);
  3. flipped η → −η when the columns left of the central one (η < −0.05) hold more pT than
     those right of it (η > 0.05), so the harder side is always on the right (LAGAN's
     ``flip_jet(..., side='r')``, which compares image halves).
  Constituents outside the 2.5 × 2.5 window (rare for trimmed R = 1 jets) are dropped.
* **Features**: ``jet_pt``, ``jet_eta``, ``jet_phi``, ``jet_mass`` of the trimmed jet,
  ``jet_delta_R`` = ΔR(η, φ) of its two leading subjets (0 with one subjet), ``tau_1..3``
  (β = 1, exclusive-kT axes, R0 = 1.0), ``tau_21``, ``tau_32`` (0 where the denominator is 0).

Events are made through :mod:`genhep.data.generation`: blocks of ``block_size`` kept jets,
each from a fresh Pythia seeded from ``SeedSequence(seed, spawn_key=(block,))``; with
``classes="both"`` even blocks are signal and odd blocks background. Files are cached under a
data directory as ``jet_images_<classes>_<hash>.h5``.

The pixel sum is the *scalar* Σ pT of the constituents, the jet pT the *vector* sum: they agree
to ~1% for these boosted jets. Image-derived pT and mass (:mod:`genhep.metrics.jet_images`,
every pixel a massless particle at its centre) differ from the constituent-level ones by the
pixelisation (≤ 0.05 in η and φ per particle) and, for the mass, by the (η, φ) rotation, which
is not a Lorentz transformation: typically a few % in mass.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from genhep.data.generation import (
    RUN_OPTIONS,
    block_seed,
    cached_file,
    generate_file,
    split_run_options,
)
from genhep.data.jets.image_format import CLASSES, read_jet_images
from genhep.data.jets.pythia import (
    TRIM_FCUT,
    TRIM_RSUB,
    cluster,
    four_vector_kinematics,
    make_pythia,
    nsubjettiness,
    pythia_seed,
    show_fastjet_banner,
    trim,
    visible_final_state,
    wrap_phi,
)
from genhep.data.schema import SchemaError
from genhep.geometry.jet_image import HALF_WIDTH, N_PIXELS, PITCH

__all__ = [
    "CLASSES",
    "DEFAULTS",
    "FORMAT_VERSION",
    "JetImageGenerator",
    "cached_jet_images",
    "generate_jet_images",
    "jet_image",
]

FORMAT_VERSION = 1

#: Physics settings (all part of the configuration hash).
DEFAULTS: dict[str, Any] = {
    "sqrt_s": 14_000.0,
    "wprime_mass": 600.0,
    "qcd_pthat_min": 250.0,
    "qcd_pthat_max": 310.0,
    "jet_radius": 1.0,
    "r_sub": TRIM_RSUB,
    "f_cut": TRIM_FCUT,
    "pt_min": 250.0,
    "pt_max": 300.0,
    "mass_min": 60.0,
    "mass_max": 100.0,
    "block_size": 50,
}
#: A block gives up after this many generated events per requested jet.
MAX_EVENTS_PER_JET = 2000

KEYS = (
    "jet_pt",
    "jet_eta",
    "jet_phi",
    "jet_mass",
    "jet_delta_R",
    "tau_1",
    "tau_2",
    "tau_3",
    "tau_21",
    "tau_32",
)

WPRIME_SETTINGS = (
    "NewGaugeBoson:ffbar2Wprime = on",
    "Wprime:coup2WZ = 1",
    "34:onMode = off",
    "34:onIfAny = 23 24",
    "24:onMode = off",
    "24:onIfAny = 1 2 3 4 5",
    "23:onMode = off",
    "23:onIfAny = 12 14 16",
)


def jet_image(
    constituents: np.ndarray, subjets: np.ndarray, n_pixels: int = N_PIXELS
) -> np.ndarray:
    """The preprocessed ``(n_pixels, n_pixels)`` image of a jet (module docstring, steps 1-3).

    ``constituents`` ``(n, 4)`` and pT-ordered ``subjets`` ``(k >= 1, 4)`` ``[px, py, pz, E]``.
    """
    kin = four_vector_kinematics(constituents)
    sub = four_vector_kinematics(subjets)
    pt = kin["pt"]
    eta = kin["eta"] - sub["eta"][0]
    phi = wrap_phi(kin["phi"] - sub["phi"][0])
    if len(subjets) >= 2:
        e, p = sub["eta"][1] - sub["eta"][0], float(wrap_phi(sub["phi"][1] - sub["phi"][0]))
    else:  # principal axis of the pT-weighted constituent spread
        weights = pt / max(pt.sum(), 1e-300)
        centred = np.stack([eta, phi]) - (np.stack([eta, phi]) @ weights)[:, None]
        cov = (centred * weights) @ centred.T
        values, vectors = np.linalg.eigh(cov)
        e, p = vectors[:, -1] if values[-1] > 0 else (0.0, 0.0)
    if e != 0 or p != 0:
        angle = -0.5 * math.pi - math.atan2(p, e)  # (e, p) -> (0, -r): straight down
        c, s = math.cos(angle), math.sin(angle)
        eta, phi = c * eta - s * phi, s * eta + c * phi
    edge = 0.5 * PITCH  # the central column is on neither side
    if pt[eta < -edge].sum() > pt[eta > edge].sum():
        eta = -eta
    half = HALF_WIDTH if n_pixels == N_PIXELS else n_pixels * PITCH / 2
    col = np.floor((eta + half) / PITCH).astype(int)
    row = np.floor((half - phi) / PITCH).astype(int)
    inside = (col >= 0) & (col < n_pixels) & (row >= 0) & (row < n_pixels)
    image = np.zeros(n_pixels * n_pixels)
    np.add.at(image, row[inside] * n_pixels + col[inside], pt[inside])
    return image.reshape(n_pixels, n_pixels)


class JetImageGenerator:
    """The :class:`~genhep.data.generation.BlockGenerator` of LAGAN-style jet images."""

    announce = staticmethod(show_fastjet_banner)  # before the workers: once per command

    def __init__(self, classes: str = "both", seed: int = 0, **settings: Any) -> None:
        if classes not in CLASSES:
            raise ValueError(f"classes must be one of {CLASSES}, got {classes!r}")
        unknown = set(settings) - set(DEFAULTS)
        if unknown:
            raise TypeError(
                f"unknown jet-image generator options {sorted(unknown)}; known: "
                f"{sorted([*DEFAULTS, 'seed', *RUN_OPTIONS])}"
            )
        self.classes, self.seed = classes, int(seed)
        self.settings = {
            k: (int(v) if k == "block_size" else float(v))
            for k, v in {**DEFAULTS, **settings}.items()
        }
        if self.settings["block_size"] < 1:
            raise ValueError("block_size must be >= 1")
        self.block_size = int(self.settings["block_size"])
        self.label = f"jet images ({classes})"
        self.name_prefix = f"jet_images_{classes}"
        self.layout = {
            "image": ((N_PIXELS, N_PIXELS), np.float32),
            "signal": ((), np.float32),
            **{key: ((), np.float32) for key in KEYS},
        }

    # -- BlockGenerator ---------------------------------------------------------------------

    def config_content(self) -> dict[str, Any]:
        s = self.settings
        return {
            "generator": "genhep Pythia 8 + FastJet jet images (LAGAN recipe)",
            "format_version": FORMAT_VERSION,
            "classes": self.classes,
            "seed": self.seed,
            **s,
            "signal_settings": [*WPRIME_SETTINGS, f"34:m0 = {s['wprime_mass']}"],
            "background_settings": self._settings(False),
        }

    def file_attrs(self) -> dict[str, Any]:
        return {"units": "GeV"}

    def validate(self, path: Path, n_events: int) -> None:
        n = len(read_jet_images(path)["signal"])
        if n != n_events:
            raise SchemaError(f"{path}: holds {n} jets, expected {n_events}")

    def block_class(self, block: int) -> int:
        """1 (signal) or 0 (background) for block ``block``."""
        if self.classes == "both":
            return int(block % 2 == 0)
        return int(self.classes == "signal")

    def simulate_block(self, block: int) -> dict[str, np.ndarray]:
        signal = self.block_class(block)
        pythia = make_pythia(
            self._settings(bool(signal)),
            pythia_seed(block_seed(self.seed, block)),
            self.settings["sqrt_s"],
        )
        rows: list[dict[str, Any]] = []
        tries = 0
        while len(rows) < self.block_size:
            tries += 1
            if tries > MAX_EVENTS_PER_JET * self.block_size:
                raise RuntimeError(
                    f"{self.label}: {tries - 1} events gave only {len(rows)} jets in the "
                    "windows; widen pt/mass windows or check the settings"
                )
            if not pythia.next():
                continue
            row = self.process(visible_final_state(pythia.event))
            if row is not None:
                rows.append(row)
        out = {key: np.array([r[key] for r in rows], np.float32) for key in KEYS}
        out["image"] = np.stack([r["image"] for r in rows]).astype(np.float32)
        out["signal"] = np.full(self.block_size, signal, np.float32)
        return out

    # -- physics ----------------------------------------------------------------------------

    def _settings(self, signal: bool) -> list[str]:
        s = self.settings
        if signal:
            return [*WPRIME_SETTINGS, f"34:m0 = {s['wprime_mass']}"]
        return [
            "HardQCD:all = on",
            f"PhaseSpace:pTHatMin = {s['qcd_pthat_min']}",
            f"PhaseSpace:pTHatMax = {s['qcd_pthat_max']}",
        ]

    def process(self, particles: np.ndarray) -> dict[str, Any] | None:
        """The record of an event's leading trimmed jet, or ``None`` outside the windows."""
        s = self.settings
        best = None
        for jet in cluster(particles, s["jet_radius"], ptmin=s["pt_min"]):
            trimmed = trim(jet, s["r_sub"], s["f_cut"])
            if best is None or trimmed.pt > best.pt:
                best = trimmed
        if best is None or not s["pt_min"] < best.pt < s["pt_max"]:
            return None
        if not s["mass_min"] < best.mass < s["mass_max"]:
            return None
        sub = four_vector_kinematics(best.subjets)
        delta_r = 0.0
        if len(best.subjets) >= 2:
            dphi = float(wrap_phi(sub["phi"][1] - sub["phi"][0]))
            delta_r = math.hypot(sub["eta"][1] - sub["eta"][0], dphi)
        tau = nsubjettiness(best.constituents, (1, 2, 3), r0=s["jet_radius"])
        return {
            "image": jet_image(best.constituents, best.subjets),
            "jet_pt": best.pt,
            "jet_eta": best.eta,
            "jet_phi": best.phi,
            "jet_mass": best.mass,
            "jet_delta_R": delta_r,
            "tau_1": tau[0],
            "tau_2": tau[1],
            "tau_3": tau[2],
            "tau_21": tau[1] / tau[0] if tau[0] > 0 else 0.0,
            "tau_32": tau[2] / tau[1] if tau[1] > 0 else 0.0,
        }


def generate_jet_images(
    path: str | os.PathLike[str],
    n_events: int,
    classes: str = "both",
    seed: int = 0,
    chunk_size: int = 200,
    n_workers: int = 1,
    progress: bool = True,
    overwrite: bool = False,
    **settings: Any,
) -> Path:
    """Write ``n_events`` LAGAN-format jet images to ``path`` (settings: :data:`DEFAULTS`)."""
    generator = JetImageGenerator(classes, seed, **settings)
    return generate_file(path, generator, n_events, chunk_size, n_workers, progress, overwrite)


def cached_jet_images(
    data_dir: str | os.PathLike[str], config: Mapping[str, Any], classes: str = "both"
) -> Path:
    """The cached file of ``config`` (``n_events``, ``seed``, :data:`DEFAULTS` keys and the
    content-neutral ``chunk_size``, ``n_workers``, ``progress``) under ``data_dir``."""
    settings, run = split_run_options(config)
    seed = settings.pop("seed", 0)
    return cached_file(data_dir, JetImageGenerator(classes, seed, **settings), **run)
