"""Toy JetNet-format jets for tests: varying particle counts, zero padding, pT order."""

import h5py
import numpy as np

from genhep.metrics.jet_clouds import jet_mass

N_PART = 30


def make_jets(n: int, seed: int, n_part: int = N_PART) -> tuple[np.ndarray, np.ndarray]:
    """Physically consistent JetNet-format arrays: varying particle counts, zero padding,
    pT-ordered particles, jet_features mass = relative mass × jet pT."""
    rng = np.random.default_rng(seed)
    pf = np.zeros((n, n_part, 4), dtype=np.float32)
    counts = rng.integers(3, n_part + 1, n)
    for i, k in enumerate(counts):
        pt = np.sort(rng.dirichlet(np.ones(k)))[::-1] * rng.uniform(0.9, 1.0)
        pf[i, :k, 0] = rng.normal(0, 0.1, k)
        pf[i, :k, 1] = rng.normal(0, 0.1, k)
        pf[i, :k, 2] = pt
        pf[i, :k, 3] = 1.0
    jet_pt_gev = rng.uniform(900, 1100, n)
    mass = jet_mass(pf[..., :3], pf[..., 3] > 0) * jet_pt_gev
    jf = np.stack([jet_pt_gev, rng.normal(0, 1, n), mass, counts], axis=1).astype(np.float32)
    return pf, jf


def write_file(path, pf: np.ndarray, jf: np.ndarray):
    """Write JetNet's two keys to ``path``."""
    with h5py.File(path, "w") as f:
        f.create_dataset("particle_features", data=pf)
        f.create_dataset("jet_features", data=jf)
    return path


def train_overrides(folder) -> list[str]:
    """``genhep train`` overrides for a quick run on the toy files in ``folder``: 2 epochs of
    batch 64, 60 evaluated jets, no FPD/KPD and no COV/MMD (the slow metrics)."""
    return [
        "data=jetnet",
        f"data.path={folder}",
        "data.n_events=null",
        "data.batch_size=64",
        "data.evaluator.distances=false",
        "data.evaluator.cov_mmd=false",
        "trainer.max_epochs=2",
        "callbacks.evaluation.n_samples=60",
    ]
