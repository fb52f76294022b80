"""The L × L torus: size checks, sublattices, the order-parameter sign patterns, and the
array-centred views of the lattice symmetries.

Arrays are indexed ``a[..., y, x]``.  Group actions act on the last two axes; they are those of
the one torus group, :class:`spinsym.symmetry.TorusGroup` (conventions: docs/conventions.md).
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


def sign_patterns(L: int) -> np.ndarray:
    """The four order-parameter patterns (4, L, L) float64 (entries ±1): uniform 1, staggered
    (−1)^(x+y), x-stripe (−1)^x and y-stripe (−1)^y, so that m = mean(s), m_s = mean(s·(−1)^(x+y)),
    m_x = mean(s·(−1)^x) and m_y = mean(s·(−1)^y).  (For odd L the last three are frustrated by
    the boundary.)"""
    y, x = np.indices((L, L))
    return np.stack([np.ones((L, L)), (-1.0) ** (x + y), (-1.0) ** x, (-1.0) ** y])


def _centred(a: np.ndarray, d: int) -> np.ndarray:
    G = torus_group(a.shape[-1])
    return G.act(G.centred(d), a, odd=False)


def translate(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Translate a site field by (dy, dx): the value at (y, x) moves to (y+dy, x+dx)."""
    return torus_group(a.shape[-1]).act((dy, dx, 0, 0), a, odd=False)


def rotate90(a: np.ndarray, k: int = 1) -> np.ndarray:
    """Rotate a site field by k·90° about the array centre (counter-clockwise in the (x, y)
    plane drawn with y down; ``np.rot90``).  It is the group's quarter turn about site (0, 0)
    followed by a translation, also a symmetry of the torus."""
    return _centred(a, int(k) % 4)


def reflect_x(a: np.ndarray) -> np.ndarray:
    """Mirror x -> L−1−x of a site field (``np.flip`` along x): the group's mirror x -> −x
    followed by a translation."""
    return _centred(a, 4)


from .symmetry import torus_group  # noqa: E402  (symmetry imports check_size from here)
