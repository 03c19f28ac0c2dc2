"""Shared Pythia 8 + FastJet helpers of the jet generators (needs the ``hep`` extra).

* :func:`make_pythia`: pp collisions at ``sqrt_s`` GeV with a list of settings (processes,
  decays, a pTHat window), seeded with ``Random:setSeed = on`` / ``Random:seed`` and silenced
  (``Print:quiet = on``). A new :class:`pythia8mc.Pythia` per seed: reseeding a used instance
  would make the events depend on its history (Pythia adapts its phase-space maxima).
* :func:`visible_final_state`: the final-state particles of the event a detector could see --
  ``isFinal() and isVisible()``, i.e. neutrinos (and other invisible particles, e.g. a
  neutralino) are excluded -- as ``(n, 4)`` float64 ``[px, py, pz, E]`` GeV.
* :func:`hard_process`: the outgoing particles of the hard process (Pythia's ``process``
  record, ``|status|`` 22 = intermediate resonances such as t, W, Z; 23 = outgoing partons and
  resonance decay products) as id, status, pT, η, φ arrays -- what jets are matched to.
* :func:`cluster`: inclusive anti-kt jets (FastJet classic bindings), pT-ordered.
* :func:`trim`: trimming (Krohn, Thaler, Wang 0912.1342): the jet's constituents are
  reclustered with kt, ``R_sub`` = :data:`TRIM_RSUB` (0.2), and subjets with
  ``pT < f_cut · pT_jet`` (``f_cut`` = :data:`TRIM_FCUT`, 0.05; ``pT_jet`` the *untrimmed*
  jet's pT) are dropped; the trimmed jet is the sum of the kept subjets.
* :func:`nsubjettiness`: τ_N (Thaler, Van Tilburg 1011.2268) with β = 1 and exclusive-kT axes:
  the constituents are reclustered with the kt algorithm (R = 1000, i.e. no beam distance)
  and ``exclusive_jets(N)`` are the axes;
  ``τ_N = Σ_k pT_k min_a ΔR(k, a) / (Σ_k pT_k R0)``, ``R0`` = the jet radius, ``ΔR`` in
  (rapidity, φ) as FastJet's ``Nsubjettiness`` measures it. With fewer than ``N``
  constituents every constituent is an axis and ``τ_N = 0``. Axes are not minimised further
  (no "one-pass" optimisation), as in LAGAN's files.

FastJet's Python objects keep their ``ClusterSequence`` alive only while it is referenced:
the :class:`Jet` records returned here hold plain numpy arrays, nothing of FastJet's.

FastJet's banner (its version and the papers to cite) shows once per command, not once per
worker: :func:`show_fastjet_banner` prints it in the process that starts a generation, and
:func:`load_fastjet` silences it in worker processes (multiprocessing children).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "TRIM_FCUT",
    "TRIM_RSUB",
    "Jet",
    "cluster",
    "four_vector_kinematics",
    "hard_process",
    "make_pythia",
    "load_fastjet",
    "nsubjettiness",
    "show_fastjet_banner",
    "trim",
    "visible_final_state",
]

#: Trimming subjet radius and pT fraction (LAGAN's values).
TRIM_RSUB = 0.2
TRIM_FCUT = 0.05
#: Pythia's largest allowed ``Random:seed``.
MAX_PYTHIA_SEED = 900_000_000


def pythia_seed(seed_sequence: np.random.SeedSequence) -> int:
    """A ``Random:seed`` in ``[1, 900000000]`` from a numpy seed sequence."""
    return int(seed_sequence.generate_state(1, np.uint32)[0]) % MAX_PYTHIA_SEED + 1


def make_pythia(settings: Iterable[str], seed: int, sqrt_s: float = 14_000.0):
    """An initialised, quiet :class:`pythia8mc.Pythia` for pp at ``sqrt_s`` GeV."""
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    lines = [
        "Print:quiet = on",
        "Beams:idA = 2212",
        "Beams:idB = 2212",
        f"Beams:eCM = {float(sqrt_s)}",
        "Random:setSeed = on",
        f"Random:seed = {int(seed)}",
        *settings,
    ]
    for line in lines:
        if not pythia.readString(line):
            raise ValueError(f"Pythia rejected the setting {line!r}")
    if not pythia.init():
        raise RuntimeError(f"Pythia failed to initialise with {lines}")
    return pythia


def visible_final_state(event) -> np.ndarray:
    """``(n, 4)`` ``[px, py, pz, E]`` of the event's visible final-state particles."""
    rows = [(p.px(), p.py(), p.pz(), p.e()) for p in event if p.isFinal() and p.isVisible()]
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4)


def hard_process(process) -> dict[str, np.ndarray]:
    """``id``, ``status`` (absolute), ``pt``, ``eta``, ``phi`` of the particles of Pythia's
    ``process`` record with ``|status|`` 22 or 23 (see the module docstring)."""
    rows = [
        (p.id(), abs(p.status()), p.pT(), p.eta(), p.phi())
        for p in process
        if abs(p.status()) in (22, 23)
    ]
    array = np.asarray(rows, dtype=np.float64).reshape(-1, 5)
    return {
        "id": array[:, 0].astype(int),
        "status": array[:, 1].astype(int),
        "pt": array[:, 2],
        "eta": array[:, 3],
        "phi": array[:, 4],
    }


def wrap_phi(phi: np.ndarray | float) -> np.ndarray:
    """Azimuthal angles (rad) wrapped to (−π, π], same shape as ``phi``."""
    return np.pi - (np.pi - np.asarray(phi)) % (2 * np.pi)


def four_vector_kinematics(p: np.ndarray) -> dict[str, np.ndarray]:
    """pT, η, φ, rapidity and mass of ``(..., 4)`` four-vectors ``[px, py, pz, E]``."""
    p = np.asarray(p, dtype=np.float64)
    px, py, pz, e = p[..., 0], p[..., 1], p[..., 2], p[..., 3]
    pt = np.hypot(px, py)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.arcsinh(np.where(pt > 0, pz / np.where(pt > 0, pt, 1.0), 0.0))
        rap = 0.5 * np.log(np.maximum(e + pz, 1e-300) / np.maximum(e - pz, 1e-300))
    phi = np.arctan2(py, px)
    mass = np.sqrt(np.maximum(e**2 - px**2 - py**2 - pz**2, 0.0))
    return {"pt": pt, "eta": eta, "phi": phi, "rap": rap, "mass": mass}


@dataclass
class Jet:
    """A jet as plain arrays: its four-momentum and its constituents' ``[px, py, pz, E]``."""

    p4: np.ndarray  # (4,)
    constituents: np.ndarray  # (n, 4)
    subjets: np.ndarray | None = None  # (k, 4) pT-ordered kept subjets (trimmed jets)

    @property
    def pt(self) -> float:
        return float(np.hypot(self.p4[0], self.p4[1]))

    @property
    def mass(self) -> float:
        return float(four_vector_kinematics(self.p4)["mass"])

    @property
    def eta(self) -> float:
        return float(four_vector_kinematics(self.p4)["eta"])

    @property
    def phi(self) -> float:
        return float(np.arctan2(self.p4[1], self.p4[0]))


_fastjet_loaded_in: int | None = None  # the process that ran load_fastjet's set-up


def _classic_cluster_sequence(fastjet):
    """FastJet's C++ ``ClusterSequence`` class, whose statics hold the banner state (the
    scikit-hep package wraps it for awkward arrays; its classic SWIG class is in ``_swig``)."""
    return getattr(fastjet, "_swig", fastjet).ClusterSequence


def load_fastjet():
    """The ``fastjet`` module; in a worker process its banner is silenced first (the process
    that started the workers shows it: :func:`show_fastjet_banner`)."""
    global _fastjet_loaded_in
    import fastjet

    if _fastjet_loaded_in != os.getpid():
        _fastjet_loaded_in = os.getpid()
        if multiprocessing.parent_process() is not None:
            _classic_cluster_sequence(fastjet).set_fastjet_banner_stream(None)
    return fastjet


def show_fastjet_banner() -> None:
    """Print FastJet's banner now unless this process did already (FastJet prints it once
    per process, at the first clustering); FastJet asks its users to cite it."""
    import fastjet

    sys.stdout.flush()
    _classic_cluster_sequence(fastjet).print_banner()
    try:  # the banner goes through C's stdout: flush it before Python writes more
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):
        pass


def _pseudojets(particles: np.ndarray) -> list:
    fastjet = load_fastjet()

    jets = []
    for index, (px, py, pz, e) in enumerate(np.asarray(particles, dtype=np.float64)):
        jet = fastjet.PseudoJet(float(px), float(py), float(pz), float(e))
        jet.set_user_index(index)
        jets.append(jet)
    return jets


def _p4(jet) -> np.ndarray:
    return np.array([jet.px(), jet.py(), jet.pz(), jet.E()])


def _inclusive(particles: np.ndarray, algorithm: str, radius: float, ptmin: float):
    """pT-ordered ``[(four-momentum, constituent indices)]`` of inclusive jets."""
    fastjet = load_fastjet()

    if len(particles) == 0:
        return []
    algo = {"antikt": fastjet.antikt_algorithm, "kt": fastjet.kt_algorithm}[algorithm]
    sequence = fastjet.ClusterSequence(_pseudojets(particles), fastjet.JetDefinition(algo, radius))
    jets = fastjet.sorted_by_pt(sequence.inclusive_jets(float(ptmin)))
    out = [(_p4(j), np.array([c.user_index() for c in j.constituents()], int)) for j in jets]
    del sequence
    return out


def cluster(particles: np.ndarray, radius: float, ptmin: float = 0.0) -> list[Jet]:
    """Inclusive anti-kt jets of ``particles`` ``(n, 4)``, pT-ordered, with ``pT >= ptmin``."""
    particles = np.asarray(particles, dtype=np.float64)
    return [Jet(p4, particles[idx]) for p4, idx in _inclusive(particles, "antikt", radius, ptmin)]


def trim(jet: Jet, r_sub: float = TRIM_RSUB, f_cut: float = TRIM_FCUT) -> Jet:
    """The trimmed ``jet`` (see the module docstring); ``subjets`` holds the kept subjets."""
    threshold = f_cut * jet.pt
    kept = [
        (p4, idx)
        for p4, idx in _inclusive(jet.constituents, "kt", r_sub, 0.0)
        if np.hypot(p4[0], p4[1]) >= threshold
    ]
    if not kept:
        return Jet(np.zeros(4), jet.constituents[:0], np.zeros((0, 4)))
    index = np.concatenate([idx for _, idx in kept])
    subjets = np.stack([p4 for p4, _ in kept])
    return Jet(subjets.sum(axis=0), jet.constituents[np.sort(index)], subjets)


def nsubjettiness(
    constituents: np.ndarray, n_values: Sequence[int] = (1, 2, 3), r0: float = 1.0
) -> np.ndarray:
    """τ_N for each ``N`` in ``n_values`` (β = 1, exclusive-kT axes; module docstring)."""
    fastjet = load_fastjet()

    constituents = np.asarray(constituents, dtype=np.float64)
    kin = four_vector_kinematics(constituents)
    total = kin["pt"].sum()
    out = np.zeros(len(n_values))
    if len(constituents) == 0 or total <= 0:
        return out
    sequence = fastjet.ClusterSequence(
        _pseudojets(constituents), fastjet.JetDefinition(fastjet.kt_algorithm, 1000.0)
    )
    for i, n in enumerate(n_values):
        if len(constituents) <= n:
            continue  # every constituent is an axis: tau_N = 0
        axes = np.stack([_p4(j) for j in sequence.exclusive_jets(int(n))])
        akin = four_vector_kinematics(axes)
        drap = kin["rap"][:, None] - akin["rap"][None, :]
        dphi = np.angle(np.exp(1j * (kin["phi"][:, None] - akin["phi"][None, :])))
        distance = np.sqrt(drap**2 + dphi**2).min(axis=1)
        out[i] = float((kin["pt"] * distance).sum() / (total * r0))
    del sequence
    return out
