"""Pixel generation orders of autoregressive image models (SARM, Lu et al. 2009.14017).

An order of a ``size × size`` image is a permutation ``order`` of the flat pixel indices
``row * size + col`` (row-major, as ``x.reshape(B, -1)``): ``order[t]`` is the pixel generated
at step ``t``. Rows are drawn top to bottom, so "up" is row − 1 and "clockwise" is as seen on the
drawn image (for jet images: φ decreasing down the rows, η increasing along the columns).

``model.order`` choices (:data:`ORDERS`):

* ``spiral_out_ccw`` / ``spiral_out_cw`` — a square spiral from the centre pixel
  ``((size − 1) // 2, (size − 1) // 2)`` (the jet axis of 25×25 and of 28×28 LAGAN images)
  outwards, first step to the right, then turning counter-clockwise (up) or clockwise (down).
  The first ``c²`` pixels of a spiral-out order are the central ``c × c`` square for odd ``c``.
  On an even-sized image the spiral's rings are cut by the border: out-of-image steps are
  skipped.
* ``spiral_in_ccw`` / ``spiral_in_cw`` — a spiral from a corner inwards, ending at the centre;
  ``spiral_in_ccw`` is ``spiral_out_cw`` reversed (reversing a path reverses its sense of turn).
* ``row`` — row by row (raster order, ``arange``); ``column`` — column by column.
* ``random`` — a uniformly random permutation, fixed by ``seed``
  (``numpy.random.default_rng(seed).permutation``).

For odd sizes the clockwise orders are the counter-clockwise ones mirrored top to bottom.
``experiment=sarm_orders`` runs the eight orders of the SARM paper's comparison as these seven,
``random`` with two seeds.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ORDERS", "causal_neighbours", "pixel_order", "spiral_order"]

#: ``model.order`` choices.
ORDERS = (
    "spiral_out_ccw",
    "spiral_out_cw",
    "spiral_in_ccw",
    "spiral_in_cw",
    "row",
    "column",
    "random",
)

# (row, col) steps: right, then up (counter-clockwise) or down (clockwise), left, ...
_TURNS = {False: ((0, 1), (-1, 0), (0, -1), (1, 0)), True: ((0, 1), (1, 0), (0, -1), (-1, 0))}


def _spiral_out(size: int, clockwise: bool) -> np.ndarray:
    row = col = (size - 1) // 2
    visited = [row * size + col]
    turn, length = 0, 1
    while len(visited) < size * size:
        for _ in range(2):  # step lengths 1, 1, 2, 2, 3, 3, ...
            d_row, d_col = _TURNS[clockwise][turn % 4]
            for _ in range(length):
                row, col = row + d_row, col + d_col
                if 0 <= row < size and 0 <= col < size:
                    visited.append(row * size + col)
            turn += 1
        length += 1
    return np.asarray(visited, dtype=np.int64)


def spiral_order(size: int, inward: bool = False, clockwise: bool = False) -> np.ndarray:
    """A square spiral over a ``size × size`` image, ``(size²,)`` flat pixel indices.

    Outward spirals start at the centre, inward ones end there (see the module docstring).
    """
    if size < 1:
        raise ValueError(f"image size must be >= 1, got {size}")
    if inward:
        return _spiral_out(size, not clockwise)[::-1].copy()
    return _spiral_out(size, clockwise)


def pixel_order(name: str, size: int, seed: int = 0) -> np.ndarray:
    """The order ``name`` (one of :data:`ORDERS`) of a ``size × size`` image, ``(size²,)``
    int64 flat pixel indices; ``seed`` fixes ``random`` only."""
    n = size * size
    if name.startswith("spiral_") and name in ORDERS:
        return spiral_order(size, inward="_in_" in name, clockwise=name.endswith("_cw"))
    if name == "row":
        return np.arange(n, dtype=np.int64)
    if name == "column":
        return np.arange(n, dtype=np.int64).reshape(size, size).T.ravel()
    if name == "random":
        return np.random.default_rng(seed).permutation(n).astype(np.int64)
    raise ValueError(f"unknown pixel order {name!r}; choose one of {list(ORDERS)}")


def causal_neighbours(order: np.ndarray, size: int, radius: int = 1) -> np.ndarray:
    """For each step ``t``: the pixel generated at ``t − 1`` and the pixels of the
    ``(2 radius + 1)²`` window around ``order[t]`` (centre excluded, row-major) that come
    before ``order[t]`` in the order; ``(size², (2 radius + 1)²)`` flat indices, ``size²``
    where there is no such pixel (step 0, outside the image, or not yet generated).
    """
    n = size * size
    step_of = np.empty(n, dtype=np.int64)
    step_of[order] = np.arange(n)
    rows, cols = np.divmod(order, size)
    offsets = [
        (dr, dc)
        for dr in range(-radius, radius + 1)
        for dc in range(-radius, radius + 1)
        if (dr, dc) != (0, 0)
    ]
    context = np.full((n, 1 + len(offsets)), n, dtype=np.int64)
    context[1:, 0] = order[:-1]
    for k, (dr, dc) in enumerate(offsets, start=1):
        r, c = rows + dr, cols + dc
        inside = (r >= 0) & (r < size) & (c >= 0) & (c < size)
        pixel = np.where(inside, r * size + c, 0)
        earlier = inside & (step_of[pixel] < np.arange(n))
        context[:, k] = np.where(earlier, pixel, n)
    return context
