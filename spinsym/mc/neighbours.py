"""Periodic neighbour indices shared by the Numba kernels."""

import numpy as np
from numba import njit


@njit(nogil=True, cache=True)
def neighbour_index(L):
    """(plus, minus): i+1 and i-1 modulo L, as int64 arrays (no modulo in the hot loops)."""
    plus = np.empty(L, dtype=np.int64)
    minus = np.empty(L, dtype=np.int64)
    for i in range(L):
        plus[i] = i + 1 if i + 1 < L else 0
        minus[i] = i - 1 if i > 0 else L - 1
    return plus, minus
