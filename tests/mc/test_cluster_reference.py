"""The homogeneous Ising cluster kernels (spinsym.mc.cluster) against a plain-Python reference.

The reference is the straightforward algorithm of the module docstring, written without any
of the kernels' speed-ups (no look-ahead buffer, no integer thresholds, no flip-on-push marks,
no smallest-root union–find), with its own xoshiro256** in Python integers:

* Wolff: one ``randint(N)`` for the seed; a first-in first-out queue (breadth first: sites
  are grown in the order they joined); for each site taken from the queue, slot by slot
  (x+1, x−1, y+1, y−1, then the diagonals (+1,+1), (+1,−1), (−1,−1), (−1,+1)), one uniform
  for every bond to a site outside the cluster that is satisfied (J·s_i·s_j > 0, spins
  before the update), joining iff ``uniform < 1 − exp(−2β|J|)`` (the float test, so the
  kernels' integer thresholds are checked to be the same test); the cluster is flipped when
  done.  A sweep is n_c clusters, n_c from the reference calibration replica.
* Swendsen–Wang: one uniform per satisfied owned bond (x+1, y+1, (+1,+1), (+1,−1)) in site
  order, the clusters of the active bonds, then one ``next_u64 >> 63`` per cluster at the
  first (smallest) site met in site order.

Checked bit for bit: every stored configuration, the returned count (flipped spins, clusters)
and the final random state, on L = 2, 3, 4, 6 (and one L = 16 run that crosses many refills
of the kernels' buffer), with ferro, antiferro, diagonal and mixed couplings, and on random
couplings, temperatures and seeds (hypothesis).
"""

import math
from collections import deque

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spinsym.mc.cluster import (CAL_MEASURE_SITES, CAL_THERM_SITES, _CALIBRATION_STATE,
                                swendsen_wang_chain, wolff_chain, wolff_clusters_per_sweep)
from tests.conftest import random_spins, xoshiro_state

M64 = (1 << 64) - 1


class Xoshiro:
    """xoshiro256** on Python integers."""

    def __init__(self, state):
        self.s = [int(v) for v in state]

    def next(self):
        s = self.s
        rotl = lambda x, k: ((x << k) | (x >> (64 - k))) & M64  # noqa: E731
        result = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def uniform(self):
        return float(self.next() >> 11) * (1.0 / 9007199254740992.0)

    def randint(self, n):
        return ((self.next() >> 32) * n) >> 32

    def array(self):
        return np.array(self.s, dtype=np.uint64)


# slot k: (dy, dx) of the partner and the coupling index (0 Jx, 1 Jy, 2 J2)
WOLFF_SLOTS = [(0, 1, 0), (0, -1, 0), (1, 0, 1), (-1, 0, 1),
               (1, 1, 2), (1, -1, 2), (-1, -1, 2), (-1, 1, 2)]
SW_SLOTS = [(0, 1, 0), (1, 0, 1), (1, 1, 2), (1, -1, 2)]  # the bonds a site owns


def _bonds(beta, J):
    return [(-math.expm1(-2.0 * beta * abs(j)), (j > 0) - (j < 0)) for j in J]


def _wolff_cluster(s, L, rng, bonds):
    """Grow and flip one cluster on the flat list s; returns its size."""
    seed = rng.randint(L * L)
    inside = {seed}
    queue = deque([seed])
    while queue:
        i = queue.popleft()
        y, x = divmod(i, L)
        for dy, dx, c in WOLFF_SLOTS:
            j = ((y + dy) % L) * L + (x + dx) % L
            p, g = bonds[c]
            if j not in inside and g * s[i] * s[j] > 0 and rng.uniform() < p:
                inside.add(j)
                queue.append(j)
    for i in inside:
        s[i] = -s[i]
    return len(inside)


def ref_clusters_per_sweep(L, beta, Jx, Jy, J2):
    """n_c: the calibration replica (fixed stream, start with every nearest bond satisfied)."""
    bonds = _bonds(beta, (Jx, Jy, J2))
    fx = -1 if Jx < 0 else 1
    fy = -1 if Jy < 0 else 1
    s = [(fx if x & 1 else 1) * (fy if y & 1 else 1) for y in range(L) for x in range(L)]
    rng = Xoshiro(_CALIBRATION_STATE)
    N = L * L
    flipped = 0
    while flipped < CAL_THERM_SITES * N:
        flipped += _wolff_cluster(s, L, rng, bonds)
    flipped = clusters = 0
    while flipped < CAL_MEASURE_SITES * N:
        flipped += _wolff_cluster(s, L, rng, bonds)
        clusters += 1
    return max(1, round(N * clusters / flipped))


def ref_wolff(spins, state, beta, Jx, Jy, J2, every, n, n_c):
    """(configurations, flipped spins, final state) of n samples every ``every`` sweeps."""
    L = spins.shape[0]
    s = [int(v) for v in spins.ravel()]
    rng = Xoshiro(state)
    bonds = _bonds(beta, (Jx, Jy, J2))
    out, total = [], 0
    for _ in range(n):
        for _ in range(every * n_c):
            total += _wolff_cluster(s, L, rng, bonds)
        out.append(np.array(s, dtype=np.int8).reshape(L, L))
    return np.array(out), total, rng.array()


def ref_swendsen_wang(spins, state, beta, Jx, Jy, J2, every, n):
    """(configurations, clusters formed, final state) of n samples every ``every`` sweeps."""
    L = spins.shape[0]
    N = L * L
    s = [int(v) for v in spins.ravel()]
    rng = Xoshiro(state)
    bonds = _bonds(beta, (Jx, Jy, J2))
    out, total = [], 0
    for _ in range(n):
        for _ in range(every):
            neighbours = [[] for _ in range(N)]
            for i in range(N):
                y, x = divmod(i, L)
                for dy, dx, c in SW_SLOTS:
                    j = ((y + dy) % L) * L + (x + dx) % L
                    p, g = bonds[c]
                    if g * s[i] * s[j] > 0 and rng.uniform() < p:
                        neighbours[i].append(j)
                        neighbours[j].append(i)
            label = [-1] * N
            flip = []
            for i in range(N):  # site order: a cluster is first met at its smallest site
                if label[i] < 0:
                    label[i] = len(flip)
                    todo = [i]
                    while todo:
                        a = todo.pop()
                        for b in neighbours[a]:
                            if label[b] < 0:
                                label[b] = label[i]
                                todo.append(b)
                    flip.append(rng.next() >> 63)
                if flip[label[i]]:
                    s[i] = -s[i]
            total += len(flip)
        out.append(np.array(s, dtype=np.int8).reshape(L, L))
    return np.array(out), total, rng.array()


COUPLINGS = {
    "ferro": (1.0, 1.0, 0.0),
    "antiferro": (-1.0, -1.0, 0.0),
    "anisotropic": (1.0, 0.4, 0.0),
    "diagonal-frustrated": (1.0, 1.0, -0.7),
    "diagonal-ferro": (0.5, 0.8, 0.45),
    "mixed": (-0.8, 1.0, -0.4),
    "only-x": (1.0, 0.0, 0.0),
}


def _check_wolff(L, J, T, seed, every, n, n_c=0):
    spins, state = random_spins(L, seed), xoshiro_state(seed)
    beta = 1.0 / T
    expected_nc = ref_clusters_per_sweep(L, beta, *J)
    assert wolff_clusters_per_sweep(L, beta, *J) == expected_nc
    ref = ref_wolff(spins, state, beta, *J, every, n, n_c or expected_nc)
    out = np.empty((n, L, L), np.int8)
    total = wolff_chain(spins, state, beta, *J, every, out, n_c)
    np.testing.assert_array_equal(out, ref[0])
    np.testing.assert_array_equal(spins, ref[0][-1])
    assert total == ref[1]
    np.testing.assert_array_equal(state, ref[2])


def _check_sw(L, J, T, seed, every, n):
    spins, state = random_spins(L, seed), xoshiro_state(seed)
    ref = ref_swendsen_wang(spins, state, 1.0 / T, *J, every, n)
    out = np.empty((n, L, L), np.int8)
    total = swendsen_wang_chain(spins, state, 1.0 / T, *J, every, out)
    np.testing.assert_array_equal(out, ref[0])
    np.testing.assert_array_equal(spins, ref[0][-1])
    assert total == ref[1]
    np.testing.assert_array_equal(state, ref[2])


@pytest.mark.parametrize("L", [2, 3, 4, 6])
@pytest.mark.parametrize("name", list(COUPLINGS))
@pytest.mark.parametrize("T", [1.2, 2.269, 4.0])
def test_wolff_bit_for_bit(L, name, T):
    # 30 samples of 2 sweeps: over a thousand numbers at L = 6 (buffer refills and rewinds)
    _check_wolff(L, COUPLINGS[name], T, seed=L * 100 + int(T * 10), every=2, n=30)


@pytest.mark.parametrize("L", [2, 3, 4, 6])
@pytest.mark.parametrize("name", list(COUPLINGS))
@pytest.mark.parametrize("T", [1.2, 2.269, 4.0])
def test_swendsen_wang_bit_for_bit(L, name, T):
    _check_sw(L, COUPLINGS[name], T, seed=L * 100 + int(T * 10), every=2, n=30)


@pytest.mark.parametrize("name", ["ferro", "diagonal-frustrated", "mixed"])
def test_larger_lattice_many_buffer_refills(name):
    """L = 16: thousands of numbers per call, so the kernels' buffer is refilled and the state
    rewound many times, at cluster and site boundaries that fall anywhere in it."""
    _check_wolff(16, COUPLINGS[name], 2.269, seed=5, every=1, n=6)
    _check_sw(16, COUPLINGS[name], 2.269, seed=5, every=1, n=6)


def test_wolff_explicit_clusters_per_sweep():
    _check_wolff(6, COUPLINGS["ferro"], 2.269, seed=9, every=1, n=20, n_c=3)


@pytest.mark.parametrize("kernel", ["wolff", "sw"])
def test_comparison_has_power(kernel):
    """One number of the stream skipped is told apart (the kernels read a look-ahead buffer:
    an off-by-one in it would be seen)."""
    L, J, T = 4, COUPLINGS["diagonal-ferro"], 2.269
    spins, state = random_spins(L, 1), xoshiro_state(1)
    skipped = Xoshiro(state)
    skipped.next()
    out = np.empty((10, L, L), np.int8)
    if kernel == "sw":
        ref = ref_swendsen_wang(spins, state, 1.0 / T, *J, 1, 10)
        swendsen_wang_chain(spins, skipped.array(), 1.0 / T, *J, 1, out)
    else:
        n_c = ref_clusters_per_sweep(L, 1.0 / T, *J)
        ref = ref_wolff(spins, state, 1.0 / T, *J, 1, 10, n_c)
        wolff_chain(spins, skipped.array(), 1.0 / T, *J, 1, out, n_c)
    assert not np.array_equal(out, ref[0])


couplings = st.floats(-1.5, 1.5).map(lambda v: 0.0 if abs(v) < 0.1 else v)


@settings(max_examples=40, deadline=None)
@given(L=st.sampled_from([2, 3, 4, 5, 6]), Jx=couplings, Jy=couplings, J2=couplings,
       T=st.floats(0.3, 6.0), seed=st.integers(0, 2**32 - 1))
def test_random_couplings_bit_for_bit(L, Jx, Jy, J2, T, seed):
    _check_sw(L, (Jx, Jy, J2), T, seed, every=1, n=8)
    _check_wolff(L, (Jx, Jy, J2), T, seed, every=1, n=8)
