"""Pixel generation orders: permutations, spiral geometry, closed forms, causal neighbours."""

import numpy as np
import pytest

from genhep.nn.orders import ORDERS, causal_neighbours, pixel_order, spiral_order

CENTRE_3 = 4  # flat index of (1, 1) on a 3x3 grid


@pytest.mark.parametrize("size", [1, 2, 3, 5, 25, 28])
@pytest.mark.parametrize("name", ORDERS)
def test_every_order_is_a_permutation(name, size):
    order = pixel_order(name, size, seed=3)
    assert order.dtype == np.int64 and order.shape == (size * size,)
    assert np.array_equal(np.sort(order), np.arange(size * size))


def test_spirals_on_3x3_by_hand():
    # 0 1 2
    # 3 4 5
    # 6 7 8   (rows top to bottom); first step to the right, then up (ccw) or down (cw)
    assert spiral_order(3).tolist() == [4, 5, 2, 1, 0, 3, 6, 7, 8]
    assert spiral_order(3, clockwise=True).tolist() == [4, 5, 8, 7, 6, 3, 0, 1, 2]
    assert spiral_order(3, inward=True).tolist() == [2, 1, 0, 3, 6, 7, 8, 5, 4]
    assert spiral_order(3, inward=True, clockwise=True).tolist() == [8, 7, 6, 3, 0, 1, 2, 5, 4]
    assert pixel_order("spiral_in_ccw", 3).tolist() == spiral_order(3, inward=True).tolist()


@pytest.mark.parametrize("size", [3, 25, 28])
def test_spiral_out_starts_and_spiral_in_ends_at_the_centre(size):
    centre = (size - 1) // 2 * (size + 1)
    for name in ("spiral_out_ccw", "spiral_out_cw"):
        assert pixel_order(name, size)[0] == centre
    for name in ("spiral_in_ccw", "spiral_in_cw"):
        assert pixel_order(name, size)[-1] == centre


@pytest.mark.parametrize("size", [25, 28])
@pytest.mark.parametrize("side", [1, 3, 11])
def test_spiral_out_covers_the_central_square_first(size, side):
    lo = (size - 1) // 2 - side // 2
    first = np.sort(pixel_order("spiral_out_cw", size)[: side * side])
    square = np.sort([r * size + c for r in range(lo, lo + side) for c in range(lo, lo + side)])
    assert np.array_equal(first, square)


@pytest.mark.parametrize("size", [3, 5, 25])
@pytest.mark.parametrize("direction", ["out", "in"])
def test_clockwise_is_the_mirror_image_of_counter_clockwise(size, direction):
    ccw = pixel_order(f"spiral_{direction}_ccw", size)
    cw = pixel_order(f"spiral_{direction}_cw", size)
    rows, cols = np.divmod(ccw, size)
    assert np.array_equal(cw, (size - 1 - rows) * size + cols)


@pytest.mark.parametrize("size", [3, 25])
def test_spiral_steps_are_between_neighbours(size):
    for name in ("spiral_out_ccw", "spiral_in_cw"):
        rows, cols = np.divmod(pixel_order(name, size), size)
        assert np.all(np.abs(np.diff(rows)) + np.abs(np.diff(cols)) == 1)


def test_row_and_column_closed_forms():
    size = 4
    t = np.arange(size * size)
    assert np.array_equal(pixel_order("row", size), t)
    assert np.array_equal(pixel_order("column", size), (t % size) * size + t // size)
    assert pixel_order("column", 3).tolist() == [0, 3, 6, 1, 4, 7, 2, 5, 8]


def test_random_order_is_fixed_by_its_seed():
    first, again = pixel_order("random", 25, seed=5), pixel_order("random", 25, seed=5)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, pixel_order("random", 25, seed=6))
    assert not np.array_equal(first, np.arange(625))


def test_unknown_order_names_the_choices():
    with pytest.raises(ValueError, match="spiral_out_ccw"):
        pixel_order("diagonal", 5)


def test_causal_neighbours_only_point_back():
    size = 5
    order = pixel_order("random", size, seed=1)
    context = causal_neighbours(order, size, radius=1)
    n = size * size
    assert context.shape == (n, 9)
    step_of = np.argsort(order)
    assert np.all(context[0] == n)
    assert np.array_equal(context[1:, 0], order[:-1])
    for t in range(n):
        known = context[t][context[t] < n]
        assert np.all(step_of[known] < t)
    # raster order: the 3 pixels above and the one to the left (plus the previous pixel)
    raster = causal_neighbours(pixel_order("row", 3), 3)
    assert sorted(raster[CENTRE_3][raster[CENTRE_3] < 9].tolist()) == [0, 1, 2, 3, 3]
