"""The L × L torus: size checks, sublattices and the p4m / spin-flip actions on numpy arrays.

Arrays are indexed ``a[..., y, x]``.  Group actions act on the last two axes.
"""

from __future__ import annotations

import numpy as np

from .errors import ParameterError


def check_size(L, *, even: bool = False, minimum: int = 2) -> int:
    """Validate a linear lattice size; ``even`` where sublattice updates need it."""
    try:
        L_int = int(L)
    except (TypeError, ValueError):
        raise ParameterError(f"L must be an integer, got {L!r}") from None
    if L_int != L:
        raise ParameterError(f"L must be an integer, got {L!r}")
    if L_int < minimum:
        raise ParameterError(f"L must be at least {minimum}, got {L_int}")
    if even and L_int % 2:
        raise ParameterError(f"L must be even for this algorithm (sublattice updates), got {L_int}")
    return L_int


def checkerboard(L: int) -> np.ndarray:
    """Colour (x + y) mod 2 of each site: 0/1 checkerboard (valid for nearest neighbours only)."""
    y, x = np.indices((L, L))
    return ((x + y) % 2).astype(np.int8)


def four_sublattices(L: int) -> np.ndarray:
    """Index 2·(y mod 2) + (x mod 2): no two sites of one class are nearest or diagonal neighbours."""
    y, x = np.indices((L, L))
    return (2 * (y % 2) + (x % 2)).astype(np.int8)


def translate(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Translate a site field by (dy, dx): the value at (y, x) moves to (y+dy, x+dx)."""
    return np.roll(a, (dy, dx), axis=(-2, -1))


def rotate90(a: np.ndarray, k: int = 1) -> np.ndarray:
    """Rotate a site field by k·90° (counter-clockwise in the (x, y) plane drawn with y down)."""
    return np.rot90(a, k, axes=(-2, -1))


def reflect_x(a: np.ndarray) -> np.ndarray:
    """Mirror x -> -x (mod L) of a site field."""
    return np.flip(a, axis=-1)
