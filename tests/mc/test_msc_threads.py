"""The driver's multi-spin entry point (spinsym.mc.msc.run_chain): one lattice over threads.

* One stream (S = 1) is the single-stream kernel bit for bit, however the sweeps are split
  into calls and whatever happens to the state between calls (the packed lattice is kept
  only while the state is the one the kernel left).
* The strip kernel (S > 1 strips of rows, each with its own stream) gives the same bits on
  one thread and on several, and through ``simulate`` with ``threads = 1`` and ``2``.
* Its statistics match the transfer matrix at L = 8 (S = 4 strips of one row), for
  Metropolis and heat bath, isotropic and generic couplings.
* The driver's choice: the strip kernel from L = STRIP_MIN_L on ("multispin-strips"), its
  streams in the resume state (a resumed run equals one long run).
"""

import numpy as np
import pytest

import spinsym
from spinsym.exact import transfer_matrix_ising
from spinsym.hamiltonians import Couplings, ising_energy
from spinsym.mc import msc
from spinsym.mc.run import Chain, SimulationConfig
from spinsym.stats import mean_err
from tests.conftest import random_spins, xoshiro_state

COUPLINGS = [Couplings(1.0, 1.0, 0.0, 0.0), Couplings(-1.0, -1.0, 0.0, 0.0),
             Couplings(1.0, 0.6, 0.0, 0.2), Couplings(1.0, 1.0, -0.5, 0.0)]


def _cache(L):
    return np.empty((4, L // 2, msc.lanes(L)[1]), np.uint64), np.zeros((L, L), np.int8)


@pytest.mark.parametrize("heatbath", [False, True])
@pytest.mark.parametrize("c", COUPLINGS)
@pytest.mark.parametrize("L", [2, 8, 16, 132])
def test_one_stream_is_the_single_stream_kernel(L, c, heatbath):
    spins, state = random_spins(L, L), xoshiro_state(L)
    ref_out = np.empty((6, L, L), np.int8)
    ref_spins, ref_state = spins.copy(), state.copy()
    kernel = msc.heatbath_chain if heatbath else msc.metropolis_chain
    ref_flips = kernel(ref_spins, ref_state, 0.45, c.Jx, c.Jy, c.J2, c.h, 3, ref_out)
    P, last = _cache(L)
    states = state.copy()[None]
    out = np.empty((6, L, L), np.int8)
    flips = 0
    for a, b in ((0, 1), (1, 4), (4, 6)):  # the packed lattice carried between calls
        flips += msc.run_chain(spins, states, 0.45, c.Jx, c.Jy, c.J2, c.h, 3, out[a:b],
                               heatbath, None, P, last, None)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(spins, ref_spins)
    np.testing.assert_array_equal(states[0], ref_state)
    assert flips == ref_flips


def test_state_changed_between_calls_is_packed_again():
    L, c = 16, Couplings(1.0, 0.6, 0.0, 0.2)
    P, last = _cache(L)
    spins, states = random_spins(L, 1), xoshiro_state(1)[None].copy()
    out = np.empty((1, L, L), np.int8)
    msc.run_chain(spins, states, 0.4, c.Jx, c.Jy, c.J2, c.h, 2, out, False, None, P, last, None)
    spins[3, 5] *= -1  # changed in place (as an exchange or a restore might)
    ref_spins, ref_state = spins.copy(), states[0].copy()
    msc.metropolis_chain(ref_spins, ref_state, 0.4, c.Jx, c.Jy, c.J2, c.h, 2,
                         np.empty((1, L, L), np.int8))
    msc.run_chain(spins, states, 0.4, c.Jx, c.Jy, c.J2, c.h, 2, out, False, None, P, last, None)
    np.testing.assert_array_equal(spins, ref_spins)
    np.testing.assert_array_equal(states[0], ref_state)


@pytest.mark.parametrize("heatbath", [False, True])
@pytest.mark.parametrize("c", COUPLINGS[:3])
def test_strips_same_bits_on_one_thread_and_on_two(c, heatbath):
    L, S = 64, 16
    results = []
    for threads in (1, 2, 3):
        spins = random_spins(L, 9)
        states = msc.strip_states(np.random.SeedSequence(4), S)
        P, last = _cache(L)
        out, sums = np.empty((3, L, L), np.int8), np.empty((3, 4), np.int64)
        flips = msc.run_chain(spins, states, 0.44, c.Jx, c.Jy, c.J2, c.h, 2, out, heatbath,
                              None, P, last, sums, threads)
        results.append((flips, spins, states, out, sums))
    for a, b, d in zip(*results):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, d)
    assert results[0][0] > 0
    # the strip kernel is its own chain (other streams), not the single-stream one
    one = random_spins(L, 9)
    msc.metropolis_chain(one, xoshiro_state(4), 0.44, c.Jx, c.Jy, c.J2, c.h, 6,
                         np.empty((1, L, L), np.int8))
    assert not np.array_equal(one, results[0][1])


def _strip_run(L, c, T, n, seed, heatbath, every=2, therm=2000):
    S = L // 2
    spins, states = random_spins(L, seed), msc.strip_states(np.random.SeedSequence(seed), S)
    P, last = _cache(L)
    beta = 1.0 / T
    msc.run_chain(spins, states, beta, c.Jx, c.Jy, c.J2, c.h, therm,
                  np.empty((1, L, L), np.int8), heatbath, None, P, last, None)
    out = np.empty((n, L, L), np.int8)
    msc.run_chain(spins, states, beta, c.Jx, c.Jy, c.J2, c.h, every, out, heatbath, None, P,
                  last, None)
    return out


@pytest.mark.parametrize("heatbath", [False, True])
@pytest.mark.parametrize("c,T", [(Couplings(1.0, 1.0, 0.0, 0.0), 2.4),
                                 (Couplings(-0.8, 1.2, 0.0, 0.0), 2.0),
                                 (Couplings(1.0, 0.6, 0.0, -0.3), 2.2),
                                 (Couplings(1.0, 1.0, -1.0, 0.0), 2.5)])
def test_strip_kernel_against_transfer_matrix(c, T, heatbath):
    L = 8  # four strips of one row per sublattice
    exact = transfer_matrix_ising(L, c, T)
    out = _strip_run(L, c, T, 40000, seed=11, heatbath=heatbath)
    N = L * L
    e = ising_energy(out, c.Jx, c.Jy, c.J2, c.h) / N
    m2 = out.astype(np.float64).mean(axis=(1, 2)) ** 2
    for name, series in (("energy_per_site", e), ("m2", m2)):
        mean, err, tau = mean_err(series)
        assert err < 0.01, (name, mean, err, tau)  # the check has power
        assert abs(mean - exact[name]) < 4.5 * err, (name, mean, exact[name], err, tau)


def test_strips_depend_on_L_only():
    assert msc.strips(msc.STRIP_MIN_L - 2) == 1 and msc.strips(8) == 1
    assert msc.strips(msc.STRIP_MIN_L) == msc.MAX_STRIPS
    assert msc.strips(4096) == msc.MAX_STRIPS


def test_driver_runs_strips_from_strip_min_L():
    below = SimulationConfig(model="ising", L=msc.STRIP_MIN_L - 32, temperatures=(2.0,),
                             sweeps=2, thermalize=0, every=2)
    assert Chain(below, 0, np.random.SeedSequence(0)).kernel.stats() == {"kernel": "multispin"}
    at = SimulationConfig(model="ising", L=msc.STRIP_MIN_L, temperatures=(2.0,), sweeps=2,
                          thermalize=0, every=2)
    kernel = Chain(at, 0, np.random.SeedSequence(0)).kernel
    assert kernel.stats() == {"kernel": "multispin-strips"}
    assert kernel.states.shape == (msc.MAX_STRIPS, 4)


def _same_runs(a, b):
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.configs, y.configs)
        assert x.energy.tobytes() == y.energy.tobytes()
        assert x.magnetization.tobytes() == y.magnetization.tobytes()
        assert x.attrs == y.attrs


def test_simulate_strips_same_bits_whatever_the_threads_and_resumable():
    L = msc.STRIP_MIN_L
    args = dict(L=L, T=[2.269], thermalize=2, every=2, seed=5)
    one = spinsym.simulate("ising", sweeps=4, threads=1, **args)
    two = spinsym.simulate("ising", sweeps=4, threads=2, **args)
    assert one[0].attrs["kernel"] == "multispin-strips"
    _same_runs(one, two)
    E = ising_energy(one[0].configs, 1.0, 1.0, 0.0, 0.0)
    assert E.tobytes() == one[0].energy.tobytes()
    part = spinsym.simulate("ising", sweeps=2, threads=2, **args)
    _same_runs(spinsym.simulate(resume=part, sweeps=2, threads=1), one)


@pytest.mark.parametrize("c", [COUPLINGS[0], COUPLINGS[3], Couplings(0.7, -1.1, 0.4, 0.25)])
def test_team_meets_only_where_a_pass_reads_the_last_one(c):
    """Without diagonal couplings the team meets after passes 0 and 2 only (passes 1 and 2,
    and 3 and the next 0, are independent); with them after every pass.  Strips of two rows
    (the most boundary rows) and many sweeps: the same bits on 1, 2 and 4 threads, and the
    one-thread bits are those of the strips run one after the other (_run_serial)."""
    L, S = 256, 64
    results = []
    for threads in (1, 2, 4):
        spins = random_spins(L, 3)
        states = msc.strip_states(np.random.SeedSequence(8), S)
        P, last = _cache(L)
        out, sums = np.empty((2, L, L), np.int8), np.empty((2, 4), np.int64)
        if threads == 1:
            flips = msc._run_serial(spins, states, 0.45, c.Jx, c.Jy, c.J2, c.h, 7, out, False,
                                    None, P, last, sums)
        else:
            cpu = []
            flips = msc._run_team(spins, states, 0.45, c.Jx, c.Jy, c.J2, c.h, 7, out, False,
                                  None, P, last, sums, threads, cpu=cpu)
            assert len(cpu) == threads and min(cpu) > 0
        results.append((flips, spins, states, out, sums))
    for a, b, d in zip(*results):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, d)
