"""xoshiro256** random numbers inside Numba kernels.

Each chain owns a ``uint64[4]`` state seeded from a :class:`numpy.random.SeedSequence`
(``state_from_seedsequence``), so runs are reproducible bit for bit and independent streams
come from ``SeedSequence.spawn``.  Kernels call :func:`next_u64` / :func:`uniform` on it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_U = np.uint64


@njit(inline="always", cache=True)
def _rotl(x, k):
    return (x << _U(k)) | (x >> _U(64 - k))


@njit(inline="always", cache=True)
def next_u64(s):
    """Advance the state ``s`` (uint64[4]) and return 64 random bits."""
    result = _rotl(s[1] * _U(5), 7) * _U(9)
    t = s[1] << _U(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], 45)
    return result


@njit(inline="always", cache=True)
def uniform(s):
    """A float64 uniform on [0, 1) with 53 random bits."""
    return float(next_u64(s) >> _U(11)) * (1.0 / 9007199254740992.0)


@njit(inline="always", cache=True)
def randint(s, n):
    """An integer uniform on 0..n-1 (n < 2**32; bias below 2**-32)."""
    return int(((next_u64(s) >> _U(32)) * _U(n)) >> _U(32))


def state_from_seedsequence(ss: np.random.SeedSequence) -> np.ndarray:
    state = ss.generate_state(4, np.uint64)
    if not state.any():  # the all-zero state is a fixed point of xoshiro
        state[0] = np.uint64(0x9E3779B97F4A7C15)
    return state
