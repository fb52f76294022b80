"""Tests of the single-spin-flip Ising kernels (spinsym.mc.ising).

* The energy change the kernels use: ``local_delta_e`` against differences of
  ``hamiltonians.ising_energy``, and the compiled sweeps against a pure-Python reference sweep
  built on ``local_delta_e`` and ``rng.uniform`` (bit-identical spins, accepted count and RNG
  state), so sweep order, table index, thresholds and the "draw only when ΔE > 0" rule are
  all pinned down.
* β = 0 (every site visited once per sweep) and a zero-temperature quench (energy never rises,
  ends in a true local minimum of ising_energy).
* Statistics against exact enumeration (L = 2, 4) and the transfer matrix (L = 8): energy per
  site and ⟨m²⟩ within 4.5 σ, σ from ``stats.mean_err`` (τ-corrected).  Fixed seeds,
  so deterministic; each check also asserts σ is small enough to be meaningful.
"""

import math

import numpy as np
import pytest

from spinsym.exact import enumerate_ising, transfer_matrix_ising
from spinsym.hamiltonians import Couplings, ising_energy
from spinsym.mc import msc
from spinsym.mc.ising import flip_probability, heatbath_chain, local_delta_e, metropolis_chain
from spinsym.mc.rng import next_u64, uniform
from spinsym.stats import mean_err
from tests.conftest import random_spins, xoshiro_state

KERNELS = {"metropolis": metropolis_chain, "heatbath": heatbath_chain}
N_SIGMA = 4.5


def _run(kernel, L, c, T, n, seed, therm, every=1):
    spins = random_spins(L, seed)
    state = xoshiro_state(seed)
    beta = 1.0 / T
    kernel(spins, state, beta, c.Jx, c.Jy, c.J2, c.h, therm, np.empty((1, L, L), np.int8))
    out = np.empty((n, L, L), np.int8)
    kernel(spins, state, beta, c.Jx, c.Jy, c.J2, c.h, every, out)
    return out


def _check_against(out, c, exact, max_err=(0.02, 0.02)):
    N = out.shape[-1] ** 2
    e = ising_energy(out, c.Jx, c.Jy, c.J2, c.h) / N
    m2 = out.astype(np.float64).mean(axis=(1, 2)) ** 2
    for name, series, bound in (("energy_per_site", e, max_err[0]), ("m2", m2, max_err[1])):
        mean, err, tau = mean_err(series)
        assert err < bound, (name, mean, err, tau)  # the check has power
        assert abs(mean - exact[name]) < N_SIGMA * err, (name, mean, exact[name], err, tau)


# ----------------------------------------------------------------------------------------------
# the energy change


@pytest.mark.parametrize("L", [2, 3, 4, 5, 6])
def test_local_delta_e_matches_ising_energy(L):
    rng = np.random.default_rng(L)
    for trial in range(30):
        Jx, Jy, J2, h = rng.normal(size=4)
        s = random_spins(L, 100 * L + trial)
        y, x = rng.integers(L, size=2)
        t = s.copy()
        t[y, x] = -t[y, x]
        want = ising_energy(t, Jx, Jy, J2, h) - ising_energy(s, Jx, Jy, J2, h)
        got = local_delta_e(s, y, x, Jx, Jy, J2, h)
        assert got == pytest.approx(want, abs=1e-12)


def test_flip_probability_is_metropolis_and_heat_bath():
    """The one flip-probability definition against the textbook formulas (and the Metropolis
    ΔE <= 0 marker: accept without a random number)."""
    rng = np.random.default_rng(5)
    for de, beta in zip(rng.normal(scale=8.0, size=200), rng.uniform(0.0, 3.0, size=200)):
        assert flip_probability(de, beta, True) == pytest.approx(1.0 / (1.0 + np.exp(beta * de)),
                                                                 rel=1e-12, abs=1e-300)
        met = flip_probability(de, beta, False)
        if de > 0.0:
            assert met == pytest.approx(np.exp(-beta * de), rel=1e-12)
        else:
            assert met == math.inf
    # no overflow in the tails
    assert flip_probability(1e4, 10.0, True) == 0.0 and flip_probability(-1e4, 10.0, True) == 1.0


def _reference_sweeps(spins, state, beta, c, nsweep, heatbath):
    """Pure-Python version of the kernels' sweep (order, ΔE, acceptance, random stream)."""
    L = spins.shape[0]
    if c.J2 == 0.0:
        order = [(y, x) for col in range(2) for y in range(L) for x in range((y + col) & 1, L, 2)]
    else:
        order = [(y, x) for k in range(4) for y in range(k >> 1, L, 2) for x in range(k & 1, L, 2)]
    assert sorted(order) == [(y, x) for y in range(L) for x in range(L)]
    acc = 0
    for _ in range(nsweep):
        for y, x in order:
            de = local_delta_e(spins, y, x, c.Jx, c.Jy, c.J2, c.h)
            p = flip_probability(de, beta, heatbath)
            flip = p == math.inf or uniform(state) < p  # Metropolis, ΔE <= 0: no draw
            if flip:
                spins[y, x] = -spins[y, x]
                acc += 1
    return acc


@pytest.mark.parametrize("name", list(KERNELS))
@pytest.mark.parametrize("L,c", [
    (2, Couplings(1.0, 1.0, 0.0, 0.0)),
    (2, Couplings(0.7, -1.1, 0.4, 0.3)),
    (4, Couplings(1.0, 0.5, 0.0, 0.2)),
    (4, Couplings(1.0, -0.6, -0.7, -0.25)),
    (6, Couplings(-1.0, 0.8, 0.0, 0.1)),
    (6, Couplings(0.9, 1.2, 0.35, 0.0)),
])
def test_kernel_matches_python_reference(name, L, c):
    beta = 0.6
    spins = random_spins(L, L)
    ref_spins = spins.copy()
    state = xoshiro_state(L)
    ref_state = state.copy()
    nsweep = 4
    out = np.empty((2, L, L), np.int8)
    acc = KERNELS[name](spins, state, beta, c.Jx, c.Jy, c.J2, c.h, nsweep // 2, out)
    ref_out = []
    ref_acc = 0
    for _ in range(2):
        ref_acc += _reference_sweeps(ref_spins, ref_state, beta, c, nsweep // 2, name == "heatbath")
        ref_out.append(ref_spins.copy())
    np.testing.assert_array_equal(out, np.array(ref_out))
    np.testing.assert_array_equal(spins, ref_spins)
    np.testing.assert_array_equal(state, ref_state)
    assert acc == ref_acc
    assert 0 < acc < nsweep * L * L


@pytest.mark.parametrize("L,J2", [(2, 0.0), (2, 0.5), (4, 0.0), (6, -0.3)])
def test_beta_zero_visits_every_site_once_per_sweep(L, J2):
    spins = random_spins(L, 7)
    start = spins.copy()
    out = np.empty((3, L, L), np.int8)
    acc = metropolis_chain(spins, xoshiro_state(7), 0.0, 1.0, -0.5, J2, 0.3, 1, out)
    assert acc == 3 * L * L
    for i in range(3):
        np.testing.assert_array_equal(out[i], start * (-1) ** (i + 1))
    # heat bath at β = 0 draws exactly one number per site
    state = xoshiro_state(8)
    ref = state.copy()
    heatbath_chain(spins, state, 0.0, 1.0, -0.5, J2, 0.3, 1, out)
    for _ in range(3 * L * L):
        next_u64(ref)
    np.testing.assert_array_equal(state, ref)


@pytest.mark.parametrize("c", [Couplings(1.0, 0.7, -0.3, 0.05), Couplings(-1.0, 0.45, 0.0, 0.05)])
def test_zero_temperature_quench_reaches_local_minimum(c):
    L = 16
    spins = random_spins(L, 3)
    out = np.empty((200, L, L), np.int8)
    metropolis_chain(spins, xoshiro_state(3), 1e6, c.Jx, c.Jy, c.J2, c.h, 1, out)
    E = ising_energy(out, c.Jx, c.Jy, c.J2, c.h)
    assert np.all(np.diff(E) <= 1e-9)
    assert E[-1] < E[0]
    # every single flip of the final state raises the energy (couplings are non-degenerate)
    flips = np.repeat(out[-1][None], L * L, axis=0)
    idx = np.arange(L * L)
    flips[idx, idx // L, idx % L] *= -1
    assert np.all(ising_energy(flips, c.Jx, c.Jy, c.J2, c.h) > E[-1])


# ----------------------------------------------------------------------------------------------
# reproducibility


# the scalar kernels here and the multi-spin kernels of spinsym.mc.msc share this contract
REPRO_KERNELS = {**KERNELS, "msc-metropolis": msc.metropolis_chain,
                 "msc-heatbath": msc.heatbath_chain}


@pytest.mark.parametrize("name", list(REPRO_KERNELS))
@pytest.mark.parametrize("J2", [0.0, -0.4])
def test_reproducible_and_stream_continues(name, J2):
    kernel = REPRO_KERNELS[name]
    L = 8
    args = (0.5, 1.0, 0.8, J2, 0.1)

    def run(seed, n):
        spins = random_spins(L, 1)
        state = xoshiro_state(seed)
        out = np.empty((n, L, L), np.int8)
        acc = kernel(spins, state, *args, 2, out)
        return out, acc, state

    a, acc_a, st_a = run(11, 10)
    b, acc_b, st_b = run(11, 10)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(st_a, st_b)
    assert acc_a == acc_b
    c, _, _ = run(12, 10)
    assert not np.array_equal(a, c)
    # two calls continue one stream: same as one call of twice the length
    spins = random_spins(L, 1)
    state = xoshiro_state(11)
    first = np.empty((5, L, L), np.int8)
    second = np.empty((5, L, L), np.int8)
    acc1 = kernel(spins, state, *args, 2, first)
    acc2 = kernel(spins, state, *args, 2, second)
    np.testing.assert_array_equal(np.concatenate([first, second]), a)
    np.testing.assert_array_equal(state, st_a)
    assert acc1 + acc2 == acc_a


# ----------------------------------------------------------------------------------------------
# statistics against exact results

SMALL_CASES = {
    "ferro-Tc": (4, Couplings(1.0, 1.0, 0.0, 0.0), 2.269),
    "anisotropic": (4, Couplings(1.0, 0.4, 0.0, 0.0), 1.6),
    "antiferro": (4, Couplings(-1.0, -1.0, 0.0, 0.0), 2.0),
    "frustrated-J2": (4, Couplings(1.0, 1.0, -0.7, 0.0), 1.5),
    "JxJy<0": (4, Couplings(1.0, -0.6, 0.0, 0.0), 1.5),
    "JxJy<0+J2": (4, Couplings(0.8, -1.0, 0.3, 0.0), 1.8),
    "field": (4, Couplings(1.0, 1.0, 0.0, 0.4), 2.5),
    "antiferro-field": (4, Couplings(-1.0, -0.5, 0.2, 0.8), 1.5),
    "L2": (2, Couplings(1.0, 0.6, 0.0, 0.2), 2.0),
    "L2-J2": (2, Couplings(0.5, -0.8, 0.45, 0.3), 2.0),
}


@pytest.mark.parametrize("name", list(KERNELS))
@pytest.mark.parametrize("case", list(SMALL_CASES))
def test_small_lattice_vs_enumeration(name, case):
    L, c, T = SMALL_CASES[case]
    seed = sorted(SMALL_CASES).index(case) + (100 if name == "heatbath" else 0)
    out = _run(KERNELS[name], L, c, T, 40_000, seed, therm=500)
    _check_against(out, c, enumerate_ising(L, c, T), max_err=(0.01, 0.01))


LARGE_CASES = {
    "ferro-Tc": (Couplings(1.0, 1.0, 0.0, 0.0), 2.269185314213022),
    "frustrated-J2": (Couplings(1.0, 1.0, -0.7, 0.0), 2.0),
    "mixed-field": (Couplings(1.0, -0.5, 0.25, 0.3), 2.0),
}


@pytest.mark.parametrize("name", list(KERNELS))
@pytest.mark.parametrize("case", list(LARGE_CASES))
def test_L8_vs_transfer_matrix(name, case):
    c, T = LARGE_CASES[case]
    seed = 20 + sorted(LARGE_CASES).index(case) + (100 if name == "heatbath" else 0)
    out = _run(KERNELS[name], 8, c, T, 30_000, seed, therm=1000)
    _check_against(out, c, transfer_matrix_ising(8, c, T), max_err=(0.01, 0.01))


def test_odd_size_or_wrong_out_shape_raise():
    with pytest.raises(ValueError):
        metropolis_chain(np.ones((3, 3), np.int8), xoshiro_state(0), 0.5, 1.0, 1.0, 0.0, 0.0, 1,
                         np.empty((1, 3, 3), np.int8))
    with pytest.raises(ValueError):
        heatbath_chain(np.ones((4, 4), np.int8), xoshiro_state(0), 0.5, 1.0, 1.0, 0.0, 0.0, 1,
                       np.empty((1, 2, 2), np.int8))
