"""Tests of the multi-spin-coded Ising kernels (spinsym.mc.msc).

* Packing: int8 (L, L) <-> packed words round trip for every layout shape (B = 64 lanes,
  partial words, one lane per word, L = 2).
* Bit for bit against a pure-Python reference sweep that knows nothing of the bitwise class
  logic: it walks the same words, computes each lane's neighbour sums from the int8 lattice,
  takes the scalar kernel's 53-bit threshold (``ising._thresholds``), and draws the lanes'
  uniforms bit-plane by bit-plane from ``rng.next_u64``.  So the layout (neighbours through
  word boundaries and row ends), the class masks (generic and isotropic fast paths), the
  thresholds and the random stream are all pinned down.
* β = 0 and a zero-temperature quench.
* Statistics against exact enumeration (L = 2, 4) and the transfer matrix (L = 6, 8): energy
  per site and ⟨m²⟩ within 4.5 σ (σ from ``stats.mean_err``, τ-corrected, and asserted
  small), for ferro, antiferro, anisotropic, mixed-sign, frustrated (J2) and field couplings,
  Metropolis and heat bath.
* Reproducibility, and the driver's choice: ``metropolis``/``heatbath`` pick this kernel where
  it is preferred, ``*-scalar`` never, and unsupported L or many-class couplings fall back.
"""

import numpy as np
import pytest

from spinsym.exact import enumerate_ising, transfer_matrix_ising
from spinsym.hamiltonians import Couplings, ising_energy
from spinsym.mc import ising, msc
from spinsym.mc.run import Chain, SimulationConfig
from spinsym.stats import mean_err
from tests.conftest import bitplane_flips, random_spins, xoshiro_state

N_SIGMA = 4.5
KERNELS = {"metropolis": msc.metropolis_chain, "heatbath": msc.heatbath_chain}


# ----------------------------------------------------------------------------------------------
# layout


@pytest.mark.parametrize("L,B,W", [(2, 1, 1), (4, 2, 1), (6, 3, 1), (8, 4, 1), (10, 5, 1),
                                   (128, 64, 1), (132, 33, 2), (134, 1, 67), (256, 64, 2),
                                   (512, 64, 4), (1024, 64, 8)])
def test_lanes_and_round_trip(L, B, W):
    assert msc.lanes(L) == (B, W)
    s = random_spins(L, L)
    P = np.empty((4, L // 2, W), np.uint64)
    msc.pack(s, P)
    # the layout: bit b of word w of sublattice (py, px), row i is site (2i + py, 2(bW + w) + px)
    y, x = np.indices((L, L))
    j = x // 2
    ref = np.zeros((4, L // 2, W), np.uint64)
    np.bitwise_or.at(ref, (2 * (y % 2) + x % 2, y // 2, j % W),
                     (s < 0).astype(np.uint64) << (j // W).astype(np.uint64))
    np.testing.assert_array_equal(P, ref)
    back = np.empty_like(s)
    msc.unpack(P, back)
    np.testing.assert_array_equal(back, s)


def test_supported_and_preferred():
    assert msc.supported(8) and msc.supported(512) and msc.supported(2)
    assert not msc.supported(134)  # n = 67 is prime: one lane per word
    assert not msc.supported(7)
    assert msc.preferred(512, 1.0, 1.0, 0.0, 0.0)
    assert msc.preferred(512, 1.0, -0.5, 0.0, 0.3)
    assert msc.preferred(8, 1.0, 1.0, -1.0, 0.0)
    assert not msc.preferred(512, 1.0, 0.6, -0.7, 0.25)  # 45 drawn classes: scalar is faster
    assert not msc.preferred(134, 1.0, 1.0, 0.0, 0.0)


# ----------------------------------------------------------------------------------------------
# bit for bit against a plain reference


def _reference_sweeps(spins, state, beta, c, nsweep, heatbath):
    """Pure-Python multi-spin sweep from the layout definition and the scalar thresholds."""
    L = spins.shape[0]
    n = L // 2
    B, W = msc.lanes(L)
    th = ising._thresholds(beta, c.Jx, c.Jy, c.J2, c.h, heatbath)
    flips = 0
    for _ in range(nsweep):
        for k in range(4):
            py, px = k >> 1, k & 1
            for i in range(n):
                for w in range(W):
                    sites = [(2 * i + py, 2 * (b * W + w) + px) for b in range(B)]
                    t = []
                    for y, x in sites:
                        s = int(spins[y, x])
                        yp, ym, xp, xm = (y + 1) % L, (y - 1) % L, (x + 1) % L, (x - 1) % L
                        sx = int(spins[y, xp]) + int(spins[y, xm])
                        sy = int(spins[yp, x]) + int(spins[ym, x])
                        sd = (int(spins[yp, xp]) + int(spins[yp, xm]) + int(spins[ym, xp])
                              + int(spins[ym, xm]))
                        t.append(int(th[225 * s + 45 * sx + 9 * sy + sd + 337]))
                    flip = bitplane_flips(t, state)
                    for b, (y, x) in enumerate(sites):
                        if flip[b]:
                            spins[y, x] = -spins[y, x]
                            flips += 1
    return flips


@pytest.mark.parametrize("name", list(KERNELS))
@pytest.mark.parametrize("L,c,beta", [
    (2, Couplings(1.0, 1.0, 0.0, 0.0), 0.4),       # isotropic fast path, L = 2
    (2, Couplings(0.7, -1.1, 0.4, 0.3), 0.6),
    (4, Couplings(1.0, 0.5, 0.0, 0.2), 0.6),
    (6, Couplings(-1.0, -1.0, 0.0, 0.0), 0.5),     # antiferro fast path
    (8, Couplings(1.0, -0.6, -0.7, -0.25), 0.5),
    (10, Couplings(0.9, 1.2, 0.35, 0.0), 0.3),
    (132, Couplings(1.0, 1.0, 0.0, 0.0), 0.44),    # W = 2: word boundaries and row ends
    (132, Couplings(0.8, 1.1, -0.4, 0.15), 0.5),
])
def test_kernel_matches_python_reference(name, L, c, beta):
    spins = random_spins(L, L)
    ref = spins.copy()
    state = xoshiro_state(L)
    ref_state = state.copy()
    n_out, every = (1, 1) if L > 100 else (2, 2)
    out = np.empty((n_out, L, L), np.int8)
    flips = KERNELS[name](spins, state, beta, c.Jx, c.Jy, c.J2, c.h, every, out)
    ref_flips = 0
    for i in range(n_out):
        ref_flips += _reference_sweeps(ref, ref_state, beta, c, every, name == "heatbath")
        np.testing.assert_array_equal(out[i], ref)
    np.testing.assert_array_equal(spins, ref)
    np.testing.assert_array_equal(state, ref_state)
    assert flips == ref_flips
    assert 0 < flips < n_out * every * L * L


@pytest.mark.parametrize("J", [1.0, -0.8])
def test_isotropic_fast_path_equals_generic_path(J):
    """The register-mask path for isotropic J (h = J2 = 0) is the generic path, bit for bit."""
    L, beta = 16, 0.42
    n, W = L // 2, msc.lanes(L)[1]
    P = np.empty((4, n, W), np.uint64)
    msc.pack(random_spins(L, 5), P)
    Q = P.copy()
    st, st2 = xoshiro_state(5), xoshiro_state(5)
    ga, gb, iplanes = msc._iso_groups(beta, J, False)
    assert (ga, gb) in ((0, 1), (3, 4))
    f1 = msc._sweeps_iso(P, st, 6, ga, gb, iplanes)
    cx, cy, cd, cs, cg, planes, ng = msc._classes(beta, J, J, 0.0, 0.0, False)
    f2 = msc._sweeps(Q, st2, 6, cx, cy, cd, cs, cg, planes, ng, False, False)
    np.testing.assert_array_equal(P, Q)
    np.testing.assert_array_equal(st, st2)
    assert f1 == f2 > 0


@pytest.mark.parametrize("L,J2", [(2, 0.0), (2, 0.5), (8, 0.0), (6, -0.3)])
def test_beta_zero_flips_every_site_without_draws(L, J2):
    spins = random_spins(L, 7)
    start = spins.copy()
    out = np.empty((3, L, L), np.int8)
    state = xoshiro_state(7)
    ref = state.copy()
    flips = msc.metropolis_chain(spins, state, 0.0, 1.0, -0.5, J2, 0.3, 1, out)
    assert flips == 3 * L * L
    np.testing.assert_array_equal(state, ref)  # p = 1 everywhere: no random number drawn
    for i in range(3):
        np.testing.assert_array_equal(out[i], start * (-1) ** (i + 1))


@pytest.mark.parametrize("c", [Couplings(1.0, 0.7, -0.3, 0.05), Couplings(-1.0, -1.0, 0.0, 0.0)])
def test_zero_temperature_quench(c):
    L = 16
    spins = random_spins(L, 3)
    out = np.empty((100, L, L), np.int8)
    msc.metropolis_chain(spins, xoshiro_state(3), 1e6, c.Jx, c.Jy, c.J2, c.h, 1, out)
    E = ising_energy(out, c.Jx, c.Jy, c.J2, c.h)
    assert np.all(np.diff(E) <= 1e-9)
    assert E[-1] < E[0]


# ----------------------------------------------------------------------------------------------
# statistics against exact values


def _run(kernel, L, c, T, n, seed, therm=2000, every=1):
    spins = random_spins(L, seed)
    state = xoshiro_state(seed)
    beta = 1.0 / T
    kernel(spins, state, beta, c.Jx, c.Jy, c.J2, c.h, therm, np.empty((1, L, L), np.int8))
    out = np.empty((n, L, L), np.int8)
    kernel(spins, state, beta, c.Jx, c.Jy, c.J2, c.h, every, out)
    return out


def _check_against(out, c, exact, max_err=(0.01, 0.01)):
    N = out.shape[-1] ** 2
    e = ising_energy(out, c.Jx, c.Jy, c.J2, c.h) / N
    m2 = out.astype(np.float64).mean(axis=(1, 2)) ** 2
    for name, series, bound in (("energy_per_site", e, max_err[0]), ("m2", m2, max_err[1])):
        mean, err, tau = mean_err(series)
        assert err < bound, (name, mean, err, tau)  # the check has power
        assert abs(mean - exact[name]) < N_SIGMA * err, (name, mean, exact[name], err, tau)


# Not L = 2 with isotropic J, J2 = h = 0: there a fixed sweep order is not ergodic (the chain
# splits into closed classes; the scalar kernel shows it too), whatever the kernel.
EXACT_CASES = [
    (2, Couplings(1.0, 0.6, 0.0, 0.2), 1.5),
    (2, Couplings(0.7, -1.1, 0.4, 0.3), 1.0),
    (4, Couplings(1.0, 1.0, 0.0, 0.0), 2.269),
    (4, Couplings(-1.0, -1.0, 0.0, 0.0), 2.0),
    (4, Couplings(1.0, -0.6, -0.7, -0.25), 1.7),
    (4, Couplings(1.0, 1.0, -0.7, 0.0), 1.3),
    (6, Couplings(1.0, 0.4, 0.0, 0.35), 1.8),
    (8, Couplings(1.0, 1.0, 0.0, 0.0), 2.4),
    (8, Couplings(-0.8, 1.2, 0.0, 0.0), 2.0),
    (8, Couplings(1.0, 1.0, -1.0, 0.0), 2.5),
    (8, Couplings(1.0, 0.6, 0.3, -0.4), 3.0),
]


@pytest.mark.parametrize("name", list(KERNELS))
@pytest.mark.parametrize("L,c,T", EXACT_CASES)
def test_against_exact(name, L, c, T):
    exact = enumerate_ising(L, c, T) if L <= 4 else transfer_matrix_ising(L, c, T)
    n = 60000 if L <= 4 else 40000
    every = 1 if L <= 4 else 2
    out = _run(KERNELS[name], L, c, T, n, seed=L + 17, every=every)
    _check_against(out, c, exact)


# ----------------------------------------------------------------------------------------------
# reproducibility


# (reproducibility and stream continuation: tests/mc/test_ising.py covers these kernels too)


# ----------------------------------------------------------------------------------------------
# the driver's choice


@pytest.mark.parametrize("algorithm,L,c,want", [
    ("metropolis", 512, Couplings(), msc.metropolis_chain),
    ("metropolis", 8, Couplings(1.0, -0.5, 0.0, 0.3), msc.metropolis_chain),
    ("metropolis", 8, Couplings(1.0, 1.0, -1.0, 0.0), msc.metropolis_chain),
    ("heatbath", 8, Couplings(), msc.heatbath_chain),
    ("metropolis-scalar", 512, Couplings(), ising.metropolis_chain),
    ("heatbath-scalar", 8, Couplings(), ising.heatbath_chain),
    ("metropolis", 134, Couplings(), ising.metropolis_chain),               # B = 1: fallback
    ("metropolis", 8, Couplings(1.0, 0.6, -0.7, 0.25), ising.metropolis_chain),  # many classes
    ("heatbath", 8, Couplings(1.0, 1.0, -0.5, 0.2), ising.heatbath_chain),
])
def test_driver_picks_kernel(algorithm, L, c, want):
    name = "multispin" if want in (msc.metropolis_chain, msc.heatbath_chain) else "scalar"
    cfg = SimulationConfig(model="ising", L=L, temperatures=(2.0,), couplings=c,
                           algorithm=algorithm, sweeps=10, thermalize=0, every=10)
    chain = Chain(cfg, 0, np.random.SeedSequence(0))
    assert chain.kernel.fn is want and chain.kernel.name == name
    if L <= 8:
        chain.run(1, 10)
        stats = chain.statistics()
        assert stats["kernel"] == name
        assert 0 < stats["acceptance"] < 1


def test_scalar_algorithms_need_even_L():
    from spinsym.errors import ParameterError
    with pytest.raises(ParameterError):
        SimulationConfig(model="ising", L=5, temperatures=(2.0,), algorithm="metropolis-scalar")
