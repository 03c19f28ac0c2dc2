"""JetNet particle clouds from first principles: Pythia 8 + FastJet (needs the ``hep`` extra).

The recipe of JetNet (Kansal et al. 2106.11535), written in JetNet's layout
(:func:`~genhep.data.jets.jetnet_format.jetnet_schema`), one file per jet type named as JetNet names them
(``g.hdf5`` ... ``z.hdf5``; ``g150.hdf5`` ... with 150 particles):

* **Collisions**: pp at √s = 13 TeV (``sqrt_s``), ``PhaseSpace:pTHatMin/Max`` =
  **900 / 1200 GeV** (``pthat_min``/``pthat_max``) so that the jets have pT ≈ 1 TeV; the
  window shapes the jet pT spectrum near its edges (JetNet's jets spread over roughly
  0.8–1.6 TeV; widen the window for a broader, slower sample).
* **Processes** per jet type (:data:`PROCESSES`), each jet matched to the hard-process
  particle of its kind:

  - ``g``: ``HardQCD:gg2gg``, ``HardQCD:qqbar2gg``; jets matched to an outgoing gluon;
  - ``q``: ``HardQCD:qq2qq``, ``HardQCD:qg2qg``, ``HardQCD:qqbar2qqbarNew``; jets matched to an
    outgoing *light* quark (|id| ∈ :data:`LIGHT_QUARKS` = u, d, s; the gluon of ``qg → qg``
    and c/b quarks are not kept);
  - ``t``: ``Top:gg2ttbar``, ``Top:qqbar2ttbar``, hadronic W decays
    (``24:onMode = off``, ``24:onIfAny = 1 2 3 4 5``); jets matched to a top;
  - ``w``: ``WeakBosonAndParton:qqbar2Wg``, ``WeakBosonAndParton:qg2Wq``, W → qq′; matched to
    the W;
  - ``z``: ``WeakBosonAndParton:qqbar2gmZg``, ``WeakBosonAndParton:qg2gmZq`` with the Z part
    only (``WeakZ0:gmZmode = 2``) and Z → qq (``23:onMode = off``,
    ``23:onIfAny = 1 2 3 4 5``); matched to the Z.

  The hard-process particles are read from Pythia's ``process`` record
  (:func:`~genhep.data.jets.pythia.hard_process`: ``|status|`` 22 for t/W/Z, 23 for outgoing
  partons), by ``|id|`` and status.
* **Underlying event**: on (``underlying_event``; Pythia's default Monash 2013 tune with
  multiparton interactions), as in JetNet ("including the contribution from the underlying
  event"). At pT ≈ 1 TeV and R = 0.8 it adds ~10 GeV to the jet mass: seen here (60 jets,
  seed 3) W jets' median mass 94 GeV with it, 82 GeV with ``underlying_event=false``
  (``PartonLevel:MPI = off``), 81 GeV without ISR too; top jets 188 / 179 / 175 GeV.
* **Jets**: visible final-state particles (no neutrinos) clustered anti-kt R = 0.8
  (``jet_radius``), jets above ``jet_pt_min`` = 200 GeV considered; a jet is kept when
  |η_jet| < **2.5** (``eta_max``, the tracker acceptance) and a hard-process particle of the
  right kind lies within ΔR(η, φ) < **0.4** (``match_radius``, half the jet radius) of its axis;
  each hard-process particle matches at most one jet (the hardest). Every matched jet of an
  event is kept (two per event are possible for g and q).
* **Features** (float32): the ``num_particles`` (30 or 150) highest-pT constituents,
  zero-padded: ``etarel = η − η_jet``, ``phirel = φ − φ_jet`` wrapped to (−π, π],
  ``ptrel = pT / pT_jet``, ``mask = 1`` (pseudorapidity η, as JetNet);
  ``jet_features = [pT_jet, η_jet, m_jet, n_constituents]`` with the jet four-momentum the
  E-scheme sum of *all* constituents and ``n_constituents`` their full number (JetNet's
  reader clips it to ``num_particles``). Σ ptrel is the *scalar* pT sum of the kept
  particles over the jet's *vector* pT: median ~0.9 (t, g) and ~0.98 (q) with 30 particles,
  and for broad jets it can exceed 1 slightly (seen: up to 1.006; 12% of q jets above 1).

A mass recomputed from the stored particles (massless, from ``ptrel``, ``etarel``,
``phirel`` and the jet pT) is at most the stored mass: the mass of a sum of future-pointing
four-vectors grows with every added vector, and dropping hadron masses lowers it. With all
constituents kept (150 particles) it is 94–99% of the stored mass here (the hadron masses of
the soft constituents: each lowers m² by ~ E_jet m_h² / p_h); with 30 of ~50–100
constituents it is typically 50–90% (top) and 30–75% (gluon jets, whose mass comes from
wide-angle soft radiation) -- JetNet's ``mass`` is the full jet's.

Events are made through :mod:`genhep.data.generation`: blocks of ``block_size`` kept jets,
each from a fresh Pythia seeded from ``SeedSequence((seed, type index), spawn_key=(block,))``
(every jet type its own random streams). Files are cached in a folder
``<data_dir>/jetnet<n>_<hash>/`` keyed by the settings shared by the jet types (the jet type
enters each file's own key), holding ``g.hdf5`` etc.; a rerun reuses them, a larger
``n_events`` extends them.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from genhep.data.generation import (
    RUN_OPTIONS,
    cached_path,
    generate_file,
    is_cached,
    split_run_options,
)
from genhep.data.jets.jetnet_format import JET_TYPES, jetnet_file_name, read_jetnet_file
from genhep.data.jets.pythia import (
    cluster,
    four_vector_kinematics,
    hard_process,
    make_pythia,
    pythia_seed,
    show_fastjet_banner,
    visible_final_state,
    wrap_phi,
)
from genhep.data.schema import SchemaError

__all__ = [
    "DEFAULTS",
    "FORMAT_VERSION",
    "JET_TYPES",
    "PROCESSES",
    "JetNetGenerator",
    "cached_jetnet",
    "generate_jetnet",
    "jetnet_file_name",
    "jetnet_folder",
]

FORMAT_VERSION = 1
LIGHT_QUARKS = (1, 2, 3)

_HADRONIC_W = ("24:onMode = off", "24:onIfAny = 1 2 3 4 5")
_HADRONIC_Z = ("WeakZ0:gmZmode = 2", "23:onMode = off", "23:onIfAny = 1 2 3 4 5")

#: Pythia settings of each jet type.
PROCESSES: dict[str, tuple[str, ...]] = {
    "g": ("HardQCD:gg2gg = on", "HardQCD:qqbar2gg = on"),
    "q": ("HardQCD:qq2qq = on", "HardQCD:qg2qg = on", "HardQCD:qqbar2qqbarNew = on"),
    "t": ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on", *_HADRONIC_W),
    "w": ("WeakBosonAndParton:qqbar2Wg = on", "WeakBosonAndParton:qg2Wq = on", *_HADRONIC_W),
    "z": (
        "WeakBosonAndParton:qqbar2gmZg = on",
        "WeakBosonAndParton:qg2gmZq = on",
        *_HADRONIC_Z,
    ),
}
#: (|pdgId|s, |status|) of the hard-process particle a jet of each type is matched to.
MATCH: dict[str, tuple[tuple[int, ...], int]] = {
    "g": ((21,), 23),
    "q": (LIGHT_QUARKS, 23),
    "t": ((6,), 22),
    "w": ((24,), 22),
    "z": ((23,), 22),
}

#: Physics settings (all part of the configuration hash).
DEFAULTS: dict[str, Any] = {
    "sqrt_s": 13_000.0,
    "pthat_min": 900.0,
    "pthat_max": 1200.0,
    "jet_radius": 0.8,
    "jet_pt_min": 200.0,
    "eta_max": 2.5,
    "match_radius": 0.4,
    "num_particles": 30,
    "block_size": 50,
    "underlying_event": True,
}
_INTEGER = ("num_particles", "block_size")
_BOOLEAN = ("underlying_event",)
#: Options that do not change the content.
#: A block gives up after this many generated events per requested jet.
MAX_EVENTS_PER_JET = 200


def _settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(settings) - set(DEFAULTS)
    if unknown:
        raise TypeError(
            f"unknown JetNet generator options {sorted(unknown)}; known: "
            f"{sorted([*DEFAULTS, 'seed', 'jet_types', *RUN_OPTIONS])}"
        )
    out = {k: _setting_type(k)(v) for k, v in {**DEFAULTS, **settings}.items()}
    if out["block_size"] < 1:
        raise ValueError("block_size must be >= 1")
    if not 1 <= out["num_particles"] <= 150:
        raise ValueError(f"num_particles must be in 1..150, got {out['num_particles']}")
    return out


def _setting_type(key: str) -> type:
    return int if key in _INTEGER else bool if key in _BOOLEAN else float


class JetNetGenerator:
    """The :class:`~genhep.data.generation.BlockGenerator` of one JetNet jet type."""

    announce = staticmethod(show_fastjet_banner)  # before the workers: once per command

    def __init__(self, jet_type: str = "g", seed: int = 0, **settings: Any) -> None:
        if jet_type not in JET_TYPES:
            raise ValueError(f"jet_type must be one of {JET_TYPES}, got {jet_type!r}")
        self.jet_type, self.seed = jet_type, int(seed)
        self.settings = _settings(settings)
        self.block_size = int(self.settings["block_size"])
        n = self.settings["num_particles"]
        self.label = f"JetNet {jet_type} jets"
        self.name_prefix = f"jetnet_{jet_type}"
        self.layout = {
            "particle_features": ((n, 4), np.float32),
            "jet_features": ((4,), np.float32),
        }

    # -- BlockGenerator ---------------------------------------------------------------------

    def config_content(self) -> dict[str, Any]:
        return {
            **shared_content(self.seed, self.settings),
            "jet_type": self.jet_type,
            "pythia_settings": list(self.pythia_settings()),
            "match": list(MATCH[self.jet_type][0]) + [MATCH[self.jet_type][1]],
        }

    def file_attrs(self) -> dict[str, Any]:
        return {"units": "GeV", "jet_type": self.jet_type}

    def validate(self, path: Path, n_events: int) -> None:
        n = len(read_jetnet_file(path, self.settings["num_particles"])["jet_features"])
        if n != n_events:
            raise SchemaError(f"{path}: holds {n} jets, expected {n_events}")

    def simulate_block(self, block: int) -> dict[str, np.ndarray]:
        sequence = np.random.SeedSequence(
            (self.seed, JET_TYPES.index(self.jet_type)), spawn_key=(int(block),)
        )
        pythia = make_pythia(self.pythia_settings(), pythia_seed(sequence), self.settings["sqrt_s"])
        rows: list[tuple[np.ndarray, np.ndarray]] = []
        tries = 0
        while len(rows) < self.block_size:
            tries += 1
            if tries > MAX_EVENTS_PER_JET * self.block_size:
                raise RuntimeError(
                    f"{self.label}: {tries - 1} events gave only {len(rows)} matched jets; "
                    "check the settings"
                )
            if not pythia.next():
                continue
            rows.extend(self.process(visible_final_state(pythia.event), pythia.process))
        rows = rows[: self.block_size]
        return {
            "particle_features": np.stack([r[0] for r in rows]).astype(np.float32),
            "jet_features": np.stack([r[1] for r in rows]).astype(np.float32),
        }

    # -- physics ----------------------------------------------------------------------------

    def pythia_settings(self) -> tuple[str, ...]:
        s = self.settings
        return (
            *PROCESSES[self.jet_type],
            f"PhaseSpace:pTHatMin = {s['pthat_min']}",
            f"PhaseSpace:pTHatMax = {s['pthat_max']}",
            *(() if s["underlying_event"] else ("PartonLevel:MPI = off",)),
        )

    def targets(self, process) -> dict[str, np.ndarray]:
        """η, φ of the hard-process particles the jets are matched to."""
        hard = hard_process(process)
        ids, status = MATCH[self.jet_type]
        keep = np.isin(np.abs(hard["id"]), ids) & (hard["status"] == status)
        return {"eta": hard["eta"][keep], "phi": hard["phi"][keep]}

    def process(self, particles: np.ndarray, process) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(particle_features, jet_features)`` of the event's matched jets, pT-ordered."""
        s = self.settings
        targets = self.targets(process)
        free = np.ones(len(targets["eta"]), dtype=bool)
        out = []
        for jet in cluster(particles, s["jet_radius"], ptmin=s["jet_pt_min"]):
            if not free.any():
                break
            eta, phi = jet.eta, jet.phi
            if abs(eta) >= s["eta_max"]:
                continue
            distance = np.hypot(targets["eta"] - eta, wrap_phi(targets["phi"] - phi))
            distance[~free] = np.inf
            best = int(np.argmin(distance))
            if distance[best] >= s["match_radius"]:
                continue
            free[best] = False
            out.append(self.features(jet))
        return out

    def features(self, jet) -> tuple[np.ndarray, np.ndarray]:
        """JetNet's ``particle_features`` ``(n, 4)`` and ``jet_features`` ``(4,)`` of a jet."""
        n = self.settings["num_particles"]
        kin = four_vector_kinematics(jet.constituents)
        order = np.argsort(-kin["pt"], kind="stable")[:n]
        pt, eta, phi = jet.pt, jet.eta, jet.phi
        pf = np.zeros((n, 4))
        k = len(order)
        pf[:k, 0] = kin["eta"][order] - eta
        pf[:k, 1] = wrap_phi(kin["phi"][order] - phi)
        pf[:k, 2] = kin["pt"][order] / pt
        pf[:k, 3] = 1.0
        return pf, np.array([pt, eta, jet.mass, len(jet.constituents)])


def shared_content(seed: int, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration shared by the jet types of one folder (hashed into its name)."""
    return {
        "generator": "genhep Pythia 8 + FastJet JetNet clouds (Kansal et al. 2106.11535)",
        "format_version": FORMAT_VERSION,
        "seed": int(seed),
        **settings,
    }


def jetnet_folder(data_dir: str | os.PathLike[str], seed: int = 0, **settings: Any) -> Path:
    """``<data_dir>/jetnet<n>_<hash[:12]>``: the cache folder of a configuration."""
    s = _settings(settings)
    text = json.dumps(shared_content(seed, s), sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return Path(data_dir) / f"jetnet{s['num_particles']}_{digest}"


def generate_jetnet(
    path: str | os.PathLike[str],
    n_events: int,
    jet_type: str = "g",
    seed: int = 0,
    chunk_size: int = 200,
    n_workers: int = 1,
    progress: bool = True,
    overwrite: bool = False,
    **settings: Any,
) -> Path:
    """Write ``n_events`` JetNet-format jets of ``jet_type`` to ``path`` (:data:`DEFAULTS`)."""
    generator = JetNetGenerator(jet_type, seed, **settings)
    return generate_file(path, generator, n_events, chunk_size, n_workers, progress, overwrite)


def cached_jetnet(
    data_dir: str | os.PathLike[str],
    config: Mapping[str, Any],
    jet_types: Iterable[str] = ("g",),
) -> Path:
    """The cache folder (:func:`jetnet_folder`) holding ``jet_types``' files with at least
    ``config["n_events"]`` jets each, made when needed. ``config``: ``n_events`` (default
    10000), ``seed``, :data:`DEFAULTS` keys and the content-neutral ``chunk_size``,
    ``n_workers`` (default: all cores), ``progress``."""
    settings, run = split_run_options(config)
    seed = int(settings.pop("seed", 0) or 0)
    folder = jetnet_folder(data_dir, seed, **settings)
    files = {}
    for jet_type in jet_types:
        generator = JetNetGenerator(jet_type, seed, **settings)
        path = folder / jetnet_file_name(jet_type, generator.settings["num_particles"])
        files[path] = generator
    if all(is_cached(path, generator, run["n_events"]) for path, generator in files.items()):
        return folder  # reading a complete cache needs neither Pythia nor FastJet
    try:
        import fastjet  # noqa: F401
        import pythia8mc  # noqa: F401
    except ImportError as err:
        raise NotImplementedError(
            f"the JetNet generator needs the hep extra (pip install -e '.[hep]'): {err}"
        ) from err
    for path, generator in files.items():
        cached_path(path, generator, **run)
    return folder
