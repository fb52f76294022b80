"""Tests of the float32 XY Metropolis kernel on integer angles (spinsym.mc.xy, even L without
over-relaxation: ``_metropolis_pass_f32`` and the functions it calls).

The kernel is also covered by the exact L = 2 comparisons and the limits of
tests/mc/test_xy.py (every Metropolis case there without over-relaxation runs it).  Here:
its float32 math against libm, the exact symmetry of its proposals, the consistency of its
stored vectors with its angles, a plain-Python reference of one pass, restarts, and two
statistical checks at L = 16 without over-relaxation.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from numba import njit

from spinsym.hamiltonians import xy_energy
from spinsym.mc import xy
from spinsym.mc.rng import next_u64
from spinsym.stats import mean_err
from tests.conftest import xoshiro_state

TWO_PI = 2.0 * math.pi
RAD = TWO_PI / 2.0**32
NSIG = 4.0
SC32_ERR = 1.3e-7  # documented bound of |sc32 - (cos, sin)| (spinsym/mc/xy.py)
EXP32_ERR = 1.3e-7  # documented relative error bound of the float32 exp


@njit(fastmath=xy._FM)  # the kernel's flags (FMA contraction), so the same bits
def _sc32(u):
    c = np.empty(u.shape, np.float32)
    s = np.empty(u.shape, np.float32)
    for i in range(u.size):
        c.flat[i], s.flat[i] = xy._sincos_u32(u.flat[i])
    return c, s


@njit(fastmath=xy._FM)
def _exp32(x):
    out = np.empty(x.shape, np.float32)
    for i in range(x.size):
        out[i] = xy._exp_neg_f32(x[i])
    return out


@njit
def _proposals(r, a):
    d = np.empty(r.size, np.uint32)
    w = np.empty(r.size, np.uint32)
    for i in range(r.size):
        d[i], w[i] = xy._proposal_u32(r[i], a)
    return d, w


# --------------------------------------------------------------------------------------------
# float32 math
# --------------------------------------------------------------------------------------------

EDGES = [0, 1, 2**29 - 1, 2**29, 2**29 + 1, 2**30 - 1, 2**30, 2**31 - 1, 2**31, 3 * 2**30,
         7 * 2**29, 2**32 - 1]


@settings(max_examples=50, deadline=None)
@given(u=st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=200))
def test_sincos_u32_matches_libm(u):
    """sc32(u) is within SC32_ERR of cos and sin of u·2π/2^32, at quadrant edges too."""
    u = np.array(u + EDGES, np.uint32)
    c, s = _sc32(u)
    th = u.astype(np.float64) * RAD
    np.testing.assert_array_less(np.abs(c - np.cos(th)), SC32_ERR)
    np.testing.assert_array_less(np.abs(s - np.sin(th)), SC32_ERR)
    assert c.dtype == s.dtype == np.float32


def test_sincos_u32_dense_and_exact_points():
    u = (np.arange(2**20, dtype=np.uint64) * 4093 + 11).astype(np.uint32)  # spread over 2^32
    c, s = _sc32(u)
    th = u.astype(np.float64) * RAD
    assert max(np.abs(c - np.cos(th)).max(), np.abs(s - np.sin(th)).max()) < SC32_ERR
    # the four axes exactly
    c, s = _sc32(np.array([0, 2**30, 2**31, 3 * 2**30], np.uint32))
    np.testing.assert_array_equal(c, [1, 0, -1, 0])
    np.testing.assert_array_equal(s, [0, 1, 0, -1])


def test_exp_neg_f32():
    x = -np.concatenate([np.linspace(0.0, 3.0, 100001), np.geomspace(1e-9, 40.0, 100000)])
    x = x.astype(np.float32)
    rel = np.abs(_exp32(x) / np.exp(x.astype(np.float64)) - 1.0)
    assert rel.max() < EXP32_ERR
    assert _exp32(np.array([0.0, -0.0], np.float32)).tolist() == [1.0, 1.0]
    # clamped at -40: far below a 32-bit uniform's resolution either way
    big = _exp32(np.array([-40.0, -1e4, -np.inf], np.float32))
    assert big[0] == big[1] == big[2] and 0.0 < big[0] * 2.0**32 < 2e-8


# --------------------------------------------------------------------------------------------
# proposals
# --------------------------------------------------------------------------------------------

@settings(max_examples=100, deadline=None)
@given(r=st.integers(0, 2**64 - 1), step=st.floats(0.0, 4.0))
def test_proposal_is_exactly_symmetric(r, step):
    """Flipping bit 63 of the word (an equally likely word) maps d to -d mod 2^32 and keeps
    the uniform; |d| < a, a the scale of the step (a step above π counts as π)."""
    a = xy._proposal_scale(step)
    assert a == round(min(step, math.pi) / RAD) and a <= 2**31
    words = np.array([r, r ^ (1 << 63)], np.uint64)
    d, w = _proposals(words, np.uint64(a))
    assert (int(d[0]) + int(d[1])) % 2**32 == 0
    assert w[0] == w[1] == r & 0xFFFFFFFF
    signed = int(d[0]) if d[0] < 2**31 else int(d[0]) - 2**32
    assert abs(signed) < max(a, 1)


def test_proposal_distribution_is_uniform_on_the_step():
    rng = np.random.default_rng(3)
    r = rng.integers(0, 2**63, 200_000, dtype=np.int64).astype(np.uint64) * np.uint64(2) \
        + rng.integers(0, 2, 200_000).astype(np.uint64)
    step = 1.3
    d, _ = _proposals(r, np.uint64(xy._proposal_scale(step)))
    phi = d.astype(np.int64)
    phi = np.where(phi >= 2**31, phi - 2**32, phi) * RAD
    assert np.abs(phi).max() < step
    hist, _ = np.histogram(phi, bins=10, range=(-step, step))
    expected = phi.size / 10
    assert np.all(np.abs(hist - expected) < 5 * math.sqrt(expected))
    assert abs(phi.mean()) < 5 * step / math.sqrt(3 * phi.size)


# --------------------------------------------------------------------------------------------
# the layout and one pass against a plain-Python reference
# --------------------------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(half=st.integers(1, 6), Ly=st.integers(2, 7), seed=st.integers(0, 2**32 - 1))
def test_layout_round_trip(half, Ly, seed):
    """Angles written by the kernel (u·2π/2^32) give back u exactly; any input angle lands
    in [0, 2π) within half a unit of u."""
    Lx = 2 * half
    rng = np.random.default_rng(seed)
    U = rng.integers(0, 2**32, (2, Ly, half), dtype=np.uint64).astype(np.uint32)
    theta = np.empty((Ly, Lx))
    xy._u32_to_angles(U, theta)
    assert theta.min() >= 0.0 and theta.max() < TWO_PI
    Zf, U2 = xy._u32_layout(theta)
    np.testing.assert_array_equal(U2, U)
    raw = rng.uniform(-20.0, 20.0, (Ly, Lx))
    _, U3 = xy._u32_layout(raw)
    back = np.empty((Ly, Lx))
    xy._u32_to_angles(U3, back)
    diff = np.abs(back - np.mod(raw, TWO_PI))
    np.testing.assert_array_less(np.minimum(diff, TWO_PI - diff), RAD)


def _assert_consistent(Zf, U):
    """The stored vectors are exactly sc32 of the angles, and the ghost sites are copies."""
    nk = U.shape[2]
    c, s = _sc32(U)
    np.testing.assert_array_equal(Zf[:, :, 2:2 * nk + 2:2], c)
    np.testing.assert_array_equal(Zf[:, :, 3:2 * nk + 3:2], s)
    np.testing.assert_array_equal(Zf[:, :, 0:2], Zf[:, :, 2 * nk:2 * nk + 2])
    np.testing.assert_array_equal(Zf[:, :, 2 * nk + 2:], Zf[:, :, 2:4])


def _reference_pass(U, state, beta, Jx, Jy, J2, h, step):
    """Plain-Python pass with the kernel's order, random words, proposals and float32
    vectors; the field, ΔE and exp in float64 (decisions can then differ from the kernel's
    only within ~1e-6 of the threshold)."""
    Jx, Jy, J2, h = (float(np.float32(v)) for v in (Jx, Jy, J2, h))
    beta = float(np.float32(beta))
    _, Ly, nk = U.shape
    Lx = 2 * nk
    U = U.copy()
    key = int(next_u64(state))
    a = np.uint64(xy._proposal_scale(step))
    i = acc = 0
    for y in range(Ly):
        for p in range(2):
            c, s = (v.astype(np.float64) for v in _sc32(U))

            def vec(yy, xx):
                yy, xx = yy % Ly, xx % Lx
                return c[xx & 1, yy, xx >> 1], s[xx & 1, yy, xx >> 1]

            new = []
            for k in range(nk):
                x = 2 * k + p
                i += 1
                r = xy._splitmix(np.uint64((key + i * 0x9E3779B97F4A7C15) % 2**64))
                d, w = _proposals(np.array([r], np.uint64), a)
                un = np.uint32((int(U[p, y, k]) + int(d[0])) % 2**32)
                cn, sn = (float(v[0]) for v in _sc32(np.array([un])))
                hx, hy = h, 0.0
                for (dy, dx), J in [((0, 1), Jx), ((0, -1), Jx), ((1, 0), Jy), ((-1, 0), Jy),
                                    ((1, 1), J2), ((1, -1), J2), ((-1, 1), J2),
                                    ((-1, -1), J2)]:
                    cj, sj = vec(y + dy, x + dx)
                    hx += J * cj
                    hy += J * sj
                ci, si = vec(y, x)
                bde = beta * -(hx * (cn - ci) + hy * (sn - si))
                ok = bde <= 0.0 or int(w[0]) < min(math.exp(-bde), 1.0) * 2.0**32
                acc += ok
                if ok:
                    new.append((k, un))
            for k, un in new:  # a half row shares no bond
                U[p, y, k] = un
    return U, acc


@pytest.mark.parametrize("L,J", [(2, (1.0, 1.0, 0.0, 0.0)), (4, (1.0, -0.6, 0.0, 0.3)),
                                 (6, (0.8, 1.1, 0.35, 0.2)), (8, (1.0, 0.7, -0.4, 0.0))])
def test_pass_matches_python_reference(L, J):
    theta = np.random.default_rng(L).uniform(0, TWO_PI, (L, L))
    Zf, U = xy._u32_layout(theta)
    _assert_consistent(Zf, U)
    state = xoshiro_state(L)
    yp, ym = xy._neighbour_tables(L)
    buffers = (np.empty(L, np.float32), np.empty(L // 2, np.uint32), np.empty(L // 2, np.uint32))
    total = 0
    for beta, step in [(1.3, 2.0), (0.4, 0.5), (3.0, 5.0), (1.0, 1.0)]:
        ref_state = state.copy()
        ref, ref_acc = _reference_pass(U, ref_state, beta, *J, step)
        args = tuple(np.float32(v) for v in (beta, *J))
        acc = xy._metropolis_pass_f32(Zf, U, *buffers, state, *args, xy._proposal_scale(step),
                                      yp, ym)
        np.testing.assert_array_equal(state, ref_state)
        assert acc == ref_acc
        np.testing.assert_array_equal(U, ref)
        _assert_consistent(Zf, U)
        total += acc
    assert 0 < total < 4 * L * L  # moves accepted and moves rejected


# --------------------------------------------------------------------------------------------
# through metropolis_chain
# --------------------------------------------------------------------------------------------

def test_restart_from_stored_angles_is_the_same_chain():
    """Samples are exactly u·2π/2^32, so two calls of n sweeps equal one of 2n, bit for bit
    (the driver restarts the XY kernels from their angles)."""
    L = 6
    theta0 = np.random.default_rng(1).uniform(0, TWO_PI, (L, L))
    J = (1.0, 0.8, 0.2, 0.3)
    one, st1, s1 = theta0.copy(), xoshiro_state(5), np.array([0.9])
    out1 = np.empty((2, L, L))
    a1 = xy.metropolis_chain(one, st1, 1.1, *J, 3, out1, s1, 0, True)
    two, st2, s2 = theta0.copy(), xoshiro_state(5), np.array([0.9])
    out2 = np.empty((1, L, L))
    a2 = xy.metropolis_chain(two, st2, 1.1, *J, 3, out2, s2, 0, True)
    np.testing.assert_array_equal(out2[0], out1[0])
    a2 += xy.metropolis_chain(two, st2, 1.1, *J, 3, out2, s2, 0, True)
    np.testing.assert_array_equal(out2[0], out1[1])
    np.testing.assert_array_equal(two, one)
    np.testing.assert_array_equal(st2, st1)
    assert a1 == a2 and s1[0] == s2[0] != 0.9
    np.testing.assert_array_equal(np.round(out1 / RAD) * RAD, out1)  # integer angles
    assert out1.min() >= 0.0 and out1.max() < TWO_PI


def test_infinite_temperature_accepts_everything():
    """β = 0: βΔE = 0 for every move, always accepted (no float32 threshold involved)."""
    L = 8
    out = np.empty((3, L, L))
    theta = np.random.default_rng(2).uniform(-9.0, 9.0, (L, L))
    acc = xy.metropolis_chain(theta, xoshiro_state(3), 0.0, 1.0, 1.0, 0.5, 0.3, 4, out,
                              np.array([2.0]), 0, False)
    assert acc == 3 * 4 * L * L


def _run(L, T, J, n, every, seed, therm, h=0.0):
    state = xoshiro_state(seed)
    theta = np.zeros((L, L))
    step = np.array([1.0])
    xy.metropolis_chain(theta, state, 1.0 / T, *J, h, therm, np.empty((1, L, L)), step, 0, True)
    out = np.empty((n, L, L))
    xy.metropolis_chain(theta, state, 1.0 / T, *J, h, every, out, step, 0, False)
    N = L * L
    return xy_energy(out, *J, h) / N, np.cos(out).mean((1, 2)), np.sin(out).mean((1, 2))


def test_low_temperature_spin_waves_without_overrelaxation():
    """tests/mc/test_xy.py's T = 0.1 spin-wave limit, for the float32 kernel: resolves the T²
    term of e (5e-4 here), far above the float32 energy's error (~1e-7 per bond)."""
    L, T = 16, 0.1
    e, _, _ = _run(L, T, (1.0, 1.0, 0.0), 20_000, 4, seed=51, therm=2000)
    N = L * L
    ref = -2.0 + 0.5 * T * (1.0 - 1.0 / N) + T * T / 16.0
    mean, err, tau = mean_err(e)
    assert abs(mean - ref) <= NSIG * err + 0.1 * T**3, (mean, err, tau, ref)
    assert abs(mean - (-2.0 + T / 2.0)) > NSIG * err


def test_against_wolff_L16():
    """L = 16, T = 0.9 (near the BKT crossover): e and |m| agree with Wolff."""
    L, T = 16, 0.9
    J = (1.0, 1.0, 0.0)
    e, mx, my = _run(L, T, J, 20_000, 4, seed=61, therm=2000)
    theta = np.zeros((L, L))
    state = xoshiro_state(62)
    xy.wolff_chain(theta, state, 1.0 / T, *J, 200, np.empty((1, L, L)))
    out = np.empty((20_000, L, L))
    xy.wolff_chain(theta, state, 1.0 / T, *J, 1, out)
    ew = xy_energy(out, *J, 0.0) / (L * L)
    mw = np.hypot(np.cos(out).mean((1, 2)), np.sin(out).mean((1, 2)))
    for name, a, b in [("e", e, ew), ("|m|", np.hypot(mx, my), mw)]:
        ma, ea, _ = mean_err(a)
        mb, eb, _ = mean_err(b)
        assert abs(ma - mb) <= NSIG * math.hypot(ea, eb), (name, ma, ea, mb, eb)
