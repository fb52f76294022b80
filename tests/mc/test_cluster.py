"""Tests of the Ising cluster kernels (spinsym.mc.cluster): Wolff and Swendsen–Wang, h = 0.

* Statistics against exact enumeration (L = 2, 3, 4) and the transfer matrix (L = 8) for
  ferro, antiferro, frustrated J2 and mixed-sign couplings: energy per site and ⟨m²⟩ within
  4.5 σ (σ from ``stats.mean_err``, τ-corrected).  Fixed seeds, so deterministic.
* L = 2 has two x-bonds, two y-bonds and four diagonal bonds between the same pairs of sites;
  those tests also check that treating each pair as one bond would have been detected.
* Deterministic limits: β = 0 (single-site clusters), β → ∞ from a ground state (one cluster,
  the whole lattice, for every sign pattern), reproducibility and stream continuation.
* Memory safety: every kernel compiled with Numba's bounds checking stays inside its arrays.
"""

import itertools
import os
import subprocess
import sys

import numpy as np
import pytest

from spinsym.exact import enumerate_ising, transfer_matrix_ising
from spinsym.hamiltonians import Couplings, ising_energy
from spinsym.mc.cluster import swendsen_wang_chain, wolff_chain, wolff_clusters_per_sweep
from spinsym.stats import mean_err
from tests.conftest import random_spins, xoshiro_state

KERNELS = {"wolff": wolff_chain, "sw": swendsen_wang_chain}
N_SIGMA = 4.5


def _run(kernel, L, c, T, n, seed, therm):
    spins = random_spins(L, seed)
    state = xoshiro_state(seed)
    beta = 1.0 / T
    kernel(spins, state, beta, c.Jx, c.Jy, c.J2, therm, np.empty((1, L, L), np.int8))
    out = np.empty((n, L, L), np.int8)
    kernel(spins, state, beta, c.Jx, c.Jy, c.J2, 1, out)
    return out


def _series(out, c):
    N = out.shape[-1] ** 2
    e = ising_energy(out, c.Jx, c.Jy, c.J2, 0.0) / N
    m2 = out.astype(np.float64).mean(axis=(1, 2)) ** 2
    return {"energy_per_site": e, "m2": m2}


def _check(series, exact, max_err=0.01):
    errs = {}
    for name, x in series.items():
        mean, err, tau = mean_err(x)
        assert err < max_err, (name, mean, err, tau)  # the check has power
        assert abs(mean - exact[name]) < N_SIGMA * err, (name, mean, exact[name], err, tau)
        errs[name] = err
    return errs


def _single_bond_energy_L2(c, T):
    """⟨e⟩ (true couplings) if each pair of sites at L = 2 got ONE bond instead of 2 / 2 / 4."""
    states = np.array(list(itertools.product([-1, 1], repeat=4)), dtype=np.int8).reshape(-1, 2, 2)
    wrong = ising_energy(states, c.Jx / 2, c.Jy / 2, c.J2 / 4, 0.0)
    w = np.exp(-(wrong - wrong.min()) / T)
    return float(w @ ising_energy(states, c.Jx, c.Jy, c.J2, 0.0) / w.sum() / 4)


SMALL_CASES = {
    "ferro-Tc": (4, Couplings(1.0, 1.0, 0.0), 2.269),
    "antiferro": (4, Couplings(-1.0, -1.0, 0.0), 2.0),
    "frustrated-J2": (4, Couplings(1.0, 1.0, -0.7), 2.0),
    "mixed": (4, Couplings(1.0, -0.6, 0.3), 1.8),
    "mixed-2": (4, Couplings(-0.8, 1.0, -0.4), 1.8),
    "L3-frustrated-J2": (3, Couplings(1.0, 1.0, -0.7), 2.0),
    "L3-antiferro": (3, Couplings(-1.0, -1.0, 0.0), 1.5),
    "L3-mixed": (3, Couplings(1.0, -0.6, 0.3), 1.8),
}

L2_CASES = {
    "L2-ferro": (Couplings(1.0, 0.6, 0.0), 3.0),
    "L2-mixed": (Couplings(0.5, -0.8, 0.45), 3.0),
    "L2-frustrated-J2": (Couplings(1.0, 1.0, -0.7), 4.0),
}


@pytest.mark.parametrize("name", list(KERNELS))
@pytest.mark.parametrize("case", list(SMALL_CASES))
def test_small_lattice_vs_enumeration(name, case):
    L, c, T = SMALL_CASES[case]
    seed = sorted(SMALL_CASES).index(case) + (100 if name == "sw" else 0)
    n = 200_000 if case == "frustrated-J2" else 50_000  # τ ≈ 30 sweeps there
    out = _run(KERNELS[name], L, c, T, n, seed, therm=200)
    _check(_series(out, c), enumerate_ising(L, c, T))


@pytest.mark.parametrize("name", list(KERNELS))
@pytest.mark.parametrize("case", list(L2_CASES))
def test_L2_multiple_bonds_vs_enumeration(name, case):
    c, T = L2_CASES[case]
    seed = 50 + sorted(L2_CASES).index(case) + (100 if name == "sw" else 0)
    out = _run(KERNELS[name], 2, c, T, 20_000, seed, therm=200)
    exact = enumerate_ising(2, c, T)
    errs = _check(_series(out, c), exact)
    # one bond per pair of sites would have been told apart
    wrong = _single_bond_energy_L2(c, T)
    assert abs(wrong - exact["energy_per_site"]) > 2 * N_SIGMA * errs["energy_per_site"]


LARGE_CASES = {
    "ferro-Tc": (Couplings(1.0, 1.0, 0.0), 2.269185314213022),
    "antiferro-J2": (Couplings(-1.0, -1.0, 0.3), 2.5),
    "frustrated-J2": (Couplings(1.0, 1.0, -0.7), 2.0),
    "mixed": (Couplings(1.0, -0.6, 0.3), 1.8),
}


@pytest.mark.parametrize("name", list(KERNELS))
@pytest.mark.parametrize("case", list(LARGE_CASES))
def test_L8_vs_transfer_matrix(name, case):
    c, T = LARGE_CASES[case]
    seed = 20 + sorted(LARGE_CASES).index(case) + (100 if name == "sw" else 0)
    out = _run(KERNELS[name], 8, c, T, 10_000, seed, therm=200)
    _check(_series(out, c), transfer_matrix_ising(8, c, T))


# ----------------------------------------------------------------------------------------------
# deterministic limits


@pytest.mark.parametrize("L", [2, 3, 5])
def test_beta_zero_single_site_clusters(L):
    N = L * L
    out = np.empty((4, L, L), np.int8)
    spins = random_spins(L, 1)
    assert wolff_chain(spins, xoshiro_state(1), 0.0, 1.0, -1.0, 0.5, 3, out) == 4 * 3 * N
    assert swendsen_wang_chain(spins, xoshiro_state(2), 0.0, 1.0, -1.0, 0.5, 3, out) == 4 * 3 * N
    # all couplings zero: the same at any β
    assert wolff_chain(spins, xoshiro_state(3), 1.0, 0.0, 0.0, 0.0, 3, out) == 4 * 3 * N


def _ground_state(L, c):
    y, x = np.indices((L, L))
    # x-bonds satisfied by (±1)^x, y-bonds by (±1)^y; the diagonals follow
    sx = 1 if c.Jx > 0 else -1
    sy = 1 if c.Jy > 0 else -1
    return (sx ** x * sy ** y).astype(np.int8)


@pytest.mark.parametrize("L", [2, 4, 6])
@pytest.mark.parametrize("c", [Couplings(1.0, 0.5, 0.3), Couplings(-1.0, -1.0, 0.2),
                               Couplings(1.0, -1.0, -0.5), Couplings(-0.7, 1.0, -0.2)])
def test_zero_temperature_from_ground_state_is_one_cluster(L, c):
    N = L * L
    gs = _ground_state(L, c)
    # every bond is satisfied: a true ground state
    bonds = N * (abs(c.Jx) + abs(c.Jy) + 2 * abs(c.J2))
    assert ising_energy(gs, c.Jx, c.Jy, c.J2, 0.0) == pytest.approx(-bonds)
    beta = 1e6  # activation probability 1 on satisfied bonds
    out = np.empty((5, L, L), np.int8)
    spins = gs.copy()
    assert wolff_chain(spins, xoshiro_state(4), beta, c.Jx, c.Jy, c.J2, 1, out) == 5 * N
    for i in range(5):
        np.testing.assert_array_equal(out[i], gs * (-1) ** (i + 1))
    spins = gs.copy()
    assert swendsen_wang_chain(spins, xoshiro_state(5), beta, c.Jx, c.Jy, c.J2, 1, out) == 5
    flips = [np.array_equal(o, -gs) for o in out]
    assert all(f or np.array_equal(o, gs) for f, o in zip(flips, out))


@pytest.mark.parametrize("name", list(KERNELS))
def test_reproducible_and_stream_continues(name):
    kernel = KERNELS[name]
    L = 6
    args = (0.45, 1.0, -0.8, 0.3)

    def run(seed, n):
        spins = random_spins(L, 1)
        state = xoshiro_state(seed)
        out = np.empty((n, L, L), np.int8)
        r = kernel(spins, state, *args, 2, out)
        return out, r, state, spins

    a, r_a, st_a, sp_a = run(11, 10)
    b, r_b, st_b, sp_b = run(11, 10)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(st_a, st_b)
    np.testing.assert_array_equal(sp_a, a[-1])  # spins hold the final configuration
    assert r_a == r_b
    c, _, _, _ = run(12, 10)
    assert not np.array_equal(a, c)
    spins = random_spins(L, 1)
    state = xoshiro_state(11)
    first = np.empty((5, L, L), np.int8)
    second = np.empty((5, L, L), np.int8)
    r1 = kernel(spins, state, *args, 2, first)
    r2 = kernel(spins, state, *args, 2, second)
    np.testing.assert_array_equal(np.concatenate([first, second]), a)
    np.testing.assert_array_equal(state, st_a)
    assert r1 + r2 == r_a


@pytest.mark.parametrize("L,T,c", [(8, 2.269, Couplings(1.0, 1.0, 0.0)),
                                   (16, 3.5, Couplings(1.0, 1.0, 0.0)),
                                   (16, 1.5, Couplings(-1.0, 0.5, 0.3)),
                                   (12, 2.0, Couplings(1.0, 1.0, -0.7))])
def test_wolff_sweep_is_fixed_clusters_about_N_spins(L, T, c):
    beta = 1.0 / T
    n_c = wolff_clusters_per_sweep(L, beta, c.Jx, c.Jy, c.J2)
    assert n_c == wolff_clusters_per_sweep(L, beta, c.Jx, c.Jy, c.J2)  # deterministic
    assert 1 <= n_c <= L * L
    spins = random_spins(L, 2)
    sweeps = 200
    out = np.empty((sweeps, L, L), np.int8)
    flipped = wolff_chain(spins.copy(), xoshiro_state(2), beta, c.Jx, c.Jy, c.J2, 1, out)
    assert 0.4 < flipped / (sweeps * L * L) < 2.5
    # the default is n_c from wolff_clusters_per_sweep (no random numbers of the chain used)
    out2 = np.empty_like(out)
    assert wolff_chain(spins.copy(), xoshiro_state(2), beta, c.Jx, c.Jy, c.J2, 1, out2, n_c) == flipped
    np.testing.assert_array_equal(out, out2)
    # an explicit count is honoured: one cluster per sweep
    one = wolff_chain(spins.copy(), xoshiro_state(2), beta, c.Jx, c.Jy, c.J2, 1, out2, 1)
    assert one < flipped or n_c == 1


def test_wolff_call_boundaries_do_not_matter():
    """Sampling in many short calls is the same chain as one long call (the sweep length is
    never chosen from the chain's own configuration: that would bias the samples)."""
    L, beta = 6, 1 / 2.269
    spins = random_spins(L, 3)
    state = xoshiro_state(3)
    out = np.empty((30, L, L), np.int8)
    total = wolff_chain(spins.copy(), state.copy(), beta, 1.0, 1.0, 0.0, 1, out)
    s2, st2 = spins.copy(), state.copy()
    parts = [np.empty((1, L, L), np.int8) for _ in range(30)]
    assert sum(wolff_chain(s2, st2, beta, 1.0, 1.0, 0.0, 1, p) for p in parts) == total
    np.testing.assert_array_equal(np.concatenate(parts), out)


def test_wolff_many_short_calls_vs_enumeration():
    """Worst case for a sweep length tied to the configuration: one sample per call."""
    L, c, T = 4, Couplings(1.0, 1.0, 0.0), 2.269
    spins = random_spins(L, 4)
    state = xoshiro_state(4)
    n_c = wolff_clusters_per_sweep(L, 1 / T, 1.0, 1.0, 0.0)
    out = np.empty((20_000, L, L), np.int8)
    for i in range(out.shape[0]):
        wolff_chain(spins, state, 1 / T, 1.0, 1.0, 0.0, 1, out[i:i + 1], n_c)
    _check(_series(out, c), enumerate_ising(L, c, T))


def test_swendsen_wang_cluster_count_range():
    L, sweeps = 8, 50
    out = np.empty((sweeps, L, L), np.int8)
    sw = swendsen_wang_chain(random_spins(L, 2), xoshiro_state(2), 1 / 2.269, 1.0, 1.0, 0.0, 1, out)
    assert sweeps <= sw <= sweeps * L * L


BOUNDSCHECK_SCRIPT = r"""
import numpy as np
from spinsym.mc import cluster

for L in (2, 3, 4, 5):
    for T, (Jx, Jy, J2) in ((0.05, (1.0, 1.0, 0.0)), (0.05, (1.0, -1.0, 0.5)),
                            (2.0, (1.0, 1.0, 0.0)), (2.0, (-1.0, 0.5, -0.3))):
        out = np.empty((2, L, L), np.int8)
        J = [np.full((L, L), v) for v in (Jx, Jy, J2, J2)]
        for n_c in (1, 3, 0):
            cluster.wolff_chain(np.ones((L, L), np.int8), np.array([1, 2, 3, 4], np.uint64),
                                1 / T, Jx, Jy, J2, 2, out, n_c)
            cluster.wolff_chain_bonds(np.ones((L, L), np.int8),
                                      np.array([1, 2, 3, 4], np.uint64), 1 / T, *J, 2, out, n_c)
        cluster.swendsen_wang_chain(np.ones((L, L), np.int8), np.array([1, 2, 3, 4], np.uint64),
                                    1 / T, Jx, Jy, J2, 2, out)
print("ok")
"""


@pytest.mark.slow
def test_kernels_stay_inside_their_arrays(tmp_path):
    """The kernels index without bounds checks; compiled with Numba's bounds checking (a fresh
    cache), no access may leave its array, also when one cluster is the whole lattice (T → 0,
    the branch-free growth writes one queue slot past the last member) and at L = 2, 3."""
    env = dict(os.environ, NUMBA_BOUNDSCHECK="1", NUMBA_CACHE_DIR=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", BOUNDSCHECK_SCRIPT], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
