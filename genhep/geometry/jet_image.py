"""The jet-image pixel grid, shared by the jet-image data family, its generator and its metrics.

Pixel grid (the LAGAN convention, de Oliveira et al. 1701.05927; code: hep-lbdl/adversarial-jets,
``analysis/plots.ipynb`` helpers ``discrete_mass`` / ``discrete_pt``): a 25×25 image covers
(η, φ) ∈ [−1.25, 1.25]² in the jet frame with a 0.1 pitch, pixel centres −1.2 … 1.2.

* the **last axis** (columns, ``j``) is η, increasing: ``η_j = −1.2 + 0.1 j``;
* the **second-to-last axis** (rows, ``i``) is φ, *decreasing*: ``φ_i = +1.2 − 0.1 i``
  (LAGAN's ``phi = np.tile(grid[::-1].reshape(-1, 1), (1, 25))``, so that ``imshow`` with its
  default ``origin="upper"`` shows φ growing upwards). LAGAN's older ``models/mass.py`` used φ
  increasing with the row; pT, mass and τ21 are invariant under φ → −φ, so both agree.

Padded images (28×28, :data:`PAD_28`): the 25×25 grid sits at rows/columns 1 … 25, and the pad
pixels continue the grid (``η_j = −1.2 + 0.1 (j − 1)``); they are normally zero.
"""

from __future__ import annotations

import numpy as np

#: Pixels per side of the LAGAN images.
N_PIXELS = 25
#: Pixel pitch in η and φ.
PITCH = 0.1
#: Half-width of the 25×25 image in η and φ.
HALF_WIDTH = 1.25
#: Zero-padding of the 28×28 (SARM) images: (before, after) on both axes.
PAD_28 = (1, 2)


def pad_offset(n_pixels: int) -> int:
    """Pixels of padding before the 25×25 grid in an image with ``n_pixels`` per side."""
    if n_pixels == N_PIXELS:
        return 0
    if n_pixels == N_PIXELS + sum(PAD_28):
        return PAD_28[0]
    if n_pixels > N_PIXELS:
        return (n_pixels - N_PIXELS) // 2
    raise ValueError(f"jet images need at least {N_PIXELS} pixels per side, got {n_pixels}")


def pixel_centres(
    height: int = N_PIXELS, width: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(eta, phi)``: η of every column ``(width,)`` and φ of every row ``(height,)``."""
    width = height if width is None else width
    eta = -1.2 + PITCH * (np.arange(width) - pad_offset(width))
    phi = 1.2 - PITCH * (np.arange(height) - pad_offset(height))
    return eta, phi
