"""Toy LAGAN-format jet-image files for tests (a hard core, a second prong for signal)."""

import h5py
import numpy as np

OPTIONAL = ["jet_pt", "jet_eta", "jet_phi", "jet_mass", "jet_delta_R"]
OPTIONAL += ["tau_1", "tau_2", "tau_3", "tau_21", "tau_32"]


def make_images(n: int, signal: bool, rng: np.random.Generator) -> np.ndarray:
    """Toy LAGAN-like images: a hard core at the centre (+ a second prong below for signal)
    and a few soft pixels; pT sums near 250-300 GeV."""
    images = np.zeros((n, 25, 25), dtype=np.float32)
    total = rng.uniform(250, 300, n)
    lead = total * (0.5 if signal else 0.85)
    images[:, 12, 12] = lead
    if signal:
        rows = rng.integers(16, 20, n)
        images[np.arange(n), rows, 12] = total * 0.4
    soft = total - images.sum(axis=(1, 2))
    for _ in range(5):
        i, j = rng.integers(8, 17, n), rng.integers(8, 17, n)
        images[np.arange(n), i, j] += soft / 5
    return images


def write_lagan(path, n_signal=60, n_background=60, seed=0, **overrides) -> dict:
    """Write a LAGAN-format file (image + signal + the optional keys) to ``path``; return its arrays."""
    rng = np.random.default_rng(seed)
    images = np.concatenate(
        [make_images(n_signal, True, rng), make_images(n_background, False, rng)]
    )
    signal = np.concatenate([np.ones(n_signal), np.zeros(n_background)]).astype(np.float32)
    arrays = {"image": images, "signal": signal}
    arrays.update({k: rng.uniform(0, 1, len(images)).astype(np.float32) for k in OPTIONAL})
    arrays.update(overrides)
    with h5py.File(path, "w") as f:
        for key, value in arrays.items():
            if value is not None:
                f.create_dataset(key, data=value)
    return arrays
