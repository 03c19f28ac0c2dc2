"""Numbers as the report prints them: measurements, plain numbers, rates."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

MISSING = "—"
"""The cell of a number that does not exist (a failed run, a metric a run lacks)."""


def is_finite(x: Any) -> bool:
    """Whether ``x`` is a real, finite int or float (not a bool, None, NaN or a string)."""
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def error_decimals(error: float, digits: int = 2) -> int:
    """Decimal places that show ``error`` to ``digits`` significant digits.

    Negative for errors of 10 and more (round to tens, hundreds, ...). Rounding can
    carry into the next digit (0.0996 -> 0.10): the places are taken after it.
    """
    decimals = digits - 1 - math.floor(math.log10(error))
    rounded = float(_rounded(error, decimals))
    return digits - 1 - math.floor(math.log10(rounded))


def _rounded(x: float, decimals: int) -> Decimal:
    """``x`` as printed (shortest repr), rounded half to even: 0.0285 -> 0.028."""
    rounded = Decimal(repr(float(x))).quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_EVEN)
    return abs(rounded) if rounded == 0 else rounded  # no "-0.00"


def _fixed(x: float, decimals: int) -> str:
    return f"{_rounded(x, decimals):f}"


def format_number(value: Any, decimals: int | None = None, digits: int = 3) -> str:
    """``value`` to ``decimals`` places, or to ``digits`` significant digits if None."""
    if not is_finite(value):
        return "n/a"
    if decimals is not None and abs(value) < 1e6 and decimals <= 6:
        return _fixed(value, decimals)
    return f"{value:.{digits}g}"


def format_measurement(value: Any, error: Any, digits: int = 2) -> str:
    """``value ± error`` with ``digits`` significant digits of the error.

    The value is rounded to the same decimal place as the error, half to even
    (``0.10767, 0.0285`` -> ``0.108 ± 0.028``). Very large or small numbers share one power of ten
    (``(3.10 ± 0.12)e-06``). Without a usable error (none, or one at the level of float
    rounding: below 1e-9 of the value, e.g. the spread of ten equal batch results) the value
    gets 4 significant digits.
    """
    if not is_finite(value):
        return "n/a"
    if not is_finite(error) or error <= 1e-9 * abs(value):
        return f"{value:.4g}"
    decimals = error_decimals(error, digits)
    scale = math.floor(math.log10(max(abs(value), error)))
    if -4 <= scale < 6:
        return f"{_fixed(value, decimals)} ± {_fixed(error, decimals)}"
    shifted = decimals + scale
    factor = 10.0**scale
    return f"({value / factor:.{shifted}f} ± {error / factor:.{shifted}f})e{scale:+03d}"


def format_published(value: float | None, error: float | None) -> str:
    """A reference table's cell: the number as published, or ``value ± error`` with the
    error as published (to 6 significant digits, hiding the noise of a unit conversion) and
    the value to the error's decimal place: ``12 ± 8``, ``0.69 ± 0.07``, ``200 ± 1000``."""
    if value is None:
        return MISSING
    if error is None:
        return f"{value:g}"
    text = f"{error:g}"
    if "e" in text or not is_finite(error) or not is_finite(value):
        return format_measurement(value, error)
    decimals = len(text.split(".", 1)[1]) if "." in text else 0
    return f"{_fixed(value, decimals)} ± {text}"


def format_rate(value: Any) -> str:
    """Samples per second to 3 significant digits, thousands separated (``561,000``)."""
    if not is_finite(value):
        return "n/a"
    if value >= 1000:
        return f"{float(f'{value:.3g}'):,.0f}"
    return f"{value:.3g}"
