"""Single-spin-flip Ising kernels: sublattice-parallel Metropolis and heat bath (Numba).

Conventions exactly as :func:`spinsym.hamiltonians.ising_energy` (docs/conventions.md): spins
``s[y, x]`` (int8, ±1) on an L × L torus,

    H = -Jx Σ s(y,x) s(y,x+1) - Jy Σ s(y,x) s(y+1,x)
        - J2 Σ s(y,x) [s(y+1,x+1) + s(y+1,x-1)] - h Σ s,

each bond counted once.  Flipping site i changes the energy by

    ΔE = 2 s_i (Jx·sx + Jy·sy + J2·sd + h),

with sx = s(y,x+1)+s(y,x-1), sy = s(y+1,x)+s(y-1,x) and sd the sum of the four diagonal
neighbours.  This holds for every L >= 2: at L = 2 the +x and -x neighbours coincide and the
two terms are the two distinct x-bonds of the convention (likewise for y, and the four
diagonal terms are the four diagonal bonds between a site and its diagonal partner).

Sweep order (one sweep = one update attempt per site):

* J2 == 0: checkerboard, colour c = (x + y) mod 2 for c = 0 then 1;
* J2 != 0: four 2 × 2 sublattices k = 2·(y mod 2) + (x mod 2) for k = 0, 1, 2, 3
  (diagonal neighbours share a checkerboard colour, so two colours are not enough);

within a sublattice the sites are visited row by row (y, then x increasing).  Sites of one
sublattice have no bond between them, so the visiting order inside a sublattice does not
matter for the distribution (it only fixes the random stream).  Both need L even.

Acceptance is read from a table indexed by the integer neighbour sums (no ``exp`` in the hot
loop).  Metropolis draws a random number only when ΔE > 0 and accepts with exp(-βΔE); heat
bath (Glauber) draws one random number per site and flips with probability 1/(1 + exp(βΔE)).
Random numbers come from the chain's xoshiro256** state (:mod:`spinsym.mc.rng`); the state is
advanced in place, so consecutive calls continue one stream.  A flip at site i happens iff
``rng.uniform(state) < p_i`` with the same draws, in the same order, as a plain loop calling
:func:`local_delta_e` and ``rng.uniform`` would make (tests/mc/test_ising.py checks this
bit for bit).

How the hot loop is made fast (``benchmarks/mc_speed.py`` measures it):

* per row, phase 1 computes the table index of every site with plain contiguous loads
  (SIMD-vectorized by LLVM, edges peeled, no modulo), into a small int16 buffer;
* phase 2 walks the row's sites of the current sublattice: an integer threshold
  ``ceil(p·2^53)`` (exactly equivalent to ``uniform < p``), the xoshiro state held in four
  registers, and no branches: the next state is always computed but committed with a mask
  only where a draw is due, and the new spin is ``s - 2·s·accept``;
* unsigned indices where Numba would otherwise add negative-index wraparound code.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit
from numba.core import types
from numba.extending import intrinsic

from .rng import _rotl
from .neighbours import neighbour_index

_U = np.uint64
_ONES64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing of the ΔE bits

# Table index of the neighbour sums: 225·s + 45·sx + 9·sy + sd + _OFF, with s ∈ {-1, 1},
# sx, sy ∈ {-2, 0, 2}, sd ∈ {-4, -2, 0, 2, 4}: distinct for every combination.
_OFF = 337
_TSIZE = 675


@njit(inline="always", cache=True)
def _delta_e(s, sx, sy, sd, Jx, Jy, J2, h):
    """Energy change of flipping a spin s with neighbour sums (sx, sy, sd)."""
    return 2.0 * s * (Jx * sx + Jy * sy + J2 * sd + h)


@njit(cache=True)
def flip_probability(de, beta, heatbath):
    """THE flip probability of a single-spin Ising update with energy change ``de`` (every
    kernel, CPU multi-spin and GPU, and the tests' reference sweeps use this one definition).

    Metropolis: exp(-βΔE) for ΔE > 0, and ``math.inf`` for ΔE <= 0 (accept without drawing a
    random number).  Heat bath (Glauber): 1 / (1 + exp(βΔE)), evaluated without overflow.
    """
    if heatbath:
        if de > 0.0:
            e = math.exp(-beta * de)
            return e / (1.0 + e)
        return 1.0 / (1.0 + math.exp(beta * de))
    return math.exp(-beta * de) if de > 0.0 else math.inf


@njit(nogil=True, cache=True)
def local_delta_e(spins, y, x, Jx, Jy, J2, h):
    """Energy change of flipping ``spins[y, x]`` (the formula the kernels' tables use)."""
    L0, L1 = spins.shape
    y = np.int64(y)
    x = np.int64(x)
    yp = (y + 1) % L0
    ym = (y - 1 + L0) % L0
    xp = (x + 1) % L1
    xm = (x - 1 + L1) % L1
    s = np.int64(spins[y, x])
    sx = np.int64(spins[y, xp]) + np.int64(spins[y, xm])
    sy = np.int64(spins[yp, x]) + np.int64(spins[ym, x])
    sd = (np.int64(spins[yp, xp]) + np.int64(spins[yp, xm])
          + np.int64(spins[ym, xp]) + np.int64(spins[ym, xm]))
    return _delta_e(s, sx, sy, sd, Jx, Jy, J2, h)


@njit(inline="always", cache=True)
def _i(v):
    return np.int64(v)


@njit(inline="always", cache=True)
def _index(s, sx, sy, sd):
    return 225 * s + 45 * sx + 9 * sy + sd + _OFF


@njit(nogil=True, cache=True)
def _table(beta, Jx, Jy, J2, h, heatbath):
    """Flip table over all neighbour sums.

    Entries are :func:`flip_probability` (Metropolis: ``inf`` where ΔE <= 0).
    """
    t = np.zeros(_TSIZE, dtype=np.float64)
    for s in (-1, 1):
        for sx in (-2, 0, 2):
            for sy in (-2, 0, 2):
                for sd in (-4, -2, 0, 2, 4):
                    de = _delta_e(s, sx, sy, sd, Jx, Jy, J2, h)
                    t[_index(s, sx, sy, sd)] = flip_probability(de, beta, heatbath)
    return t


@njit(nogil=True, cache=True)
def _thresholds(beta, Jx, Jy, J2, h, heatbath):
    """Integer form of :func:`_table`: flip iff ``(next_u64 >> 11) < t`` for t >= 0.

    ``uniform(state) < p`` is exactly ``(next_u64 >> 11) < ceil(p·2^53)``; a negative entry
    (Metropolis, ΔE <= 0) means accept without drawing.
    """
    p = _table(beta, Jx, Jy, J2, h, heatbath)
    t = np.empty(_TSIZE, dtype=np.int64)
    for i in range(_TSIZE):
        t[i] = -1 if p[i] > 1.5 else np.int64(math.ceil(p[i] * 9007199254740992.0))
    return t


@njit(inline="always", cache=True)
def _next_regs(s0, s1, s2, s3):
    """:func:`spinsym.mc.rng.next_u64` on a state held in four scalars (registers).

    The same xoshiro256** step, bit for bit; the hot loops keep the chain's state in
    registers and write it back to the ``uint64[4]`` array when they return.
    """
    result = _rotl(s1 * _U(5), 7) * _U(9)
    t = s1 << _U(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    return result, s0, s1, s2, s3


@njit(inline="always", cache=True)
def _update_row(r, buf, x0, th, s0, s1, s2, s3):
    """Phase 2 of a row: sites x0, x0+2, ... with table indices in ``buf``.

    Branch-free: the next xoshiro state is always computed but only committed (masked)
    where the entry asks for a draw (t >= 0), so the stream is exactly one draw per site
    with t >= 0.  Returns the accepted count and the state.
    """
    n = _U(r.shape[0])
    x = _U(x0)
    acc = np.int64(0)
    while x < n:
        t = th[_U(buf[x])]
        nodraw = t < 0
        m = _U(np.int64(nodraw) - 1)  # all ones when a number is drawn
        res, n0, n1, n2, n3 = _next_regs(s0, s1, s2, s3)
        s0 ^= (s0 ^ n0) & m
        s1 ^= (s1 ^ n1) & m
        s2 ^= (s2 ^ n2) & m
        s3 ^= (s3 ^ n3) & m
        ok = np.int64(np.int64(res >> _U(11)) < t) | np.int64(nodraw)
        s = np.int64(r[x])
        r[x] = np.int8(s - 2 * s * ok)
        acc += ok
        x += _U(2)
    return acc, s0, s1, s2, s3


@njit(nogil=True, cache=True)
def _sweeps_checkerboard(spins, state, th, yp, ym, buf, nsweep):
    """``nsweep`` checkerboard sweeps (nearest-neighbour couplings only)."""
    L0, L1 = spins.shape
    e = L1 - 1
    s0 = state[0]
    s1 = state[1]
    s2 = state[2]
    s3 = state[3]
    acc = np.int64(0)
    for _ in range(nsweep):
        for c in range(2):
            for y in range(L0):
                r = spins[y]
                ru = spins[ym[y]]
                rd = spins[yp[y]]
                # phase 1 (vectorizable): table index of every site of the row
                buf[0] = _index(_i(r[0]), _i(r[e]) + _i(r[1]), _i(ru[0]) + _i(rd[0]), 0)
                for x in range(1, e):
                    buf[x] = _index(_i(r[x]), _i(r[x - 1]) + _i(r[x + 1]),
                                    _i(ru[x]) + _i(rd[x]), 0)
                buf[e] = _index(_i(r[e]), _i(r[e - 1]) + _i(r[0]), _i(ru[e]) + _i(rd[e]), 0)
                # phase 2: the sites of colour c in this row
                a, s0, s1, s2, s3 = _update_row(r, buf, (y + c) & 1, th, s0, s1, s2, s3)
                acc += a
    state[0] = s0
    state[1] = s1
    state[2] = s2
    state[3] = s3
    return acc


@njit(inline="always", cache=True)
def _sd(ru, rd, a, b):
    return _i(ru[a]) + _i(ru[b]) + _i(rd[a]) + _i(rd[b])


@njit(nogil=True, cache=True)
def _sweeps_four(spins, state, th, yp, ym, buf, nsweep):
    """``nsweep`` sweeps over the four 2 × 2 sublattices (needed when J2 != 0)."""
    L0, L1 = spins.shape
    e = L1 - 1
    s0 = state[0]
    s1 = state[1]
    s2 = state[2]
    s3 = state[3]
    acc = np.int64(0)
    for _ in range(nsweep):
        for k in range(4):
            for y in range(k >> 1, L0, 2):
                r = spins[y]
                ru = spins[ym[y]]
                rd = spins[yp[y]]
                buf[0] = _index(_i(r[0]), _i(r[e]) + _i(r[1]), _i(ru[0]) + _i(rd[0]),
                                _sd(ru, rd, e, 1))
                for x in range(1, e):
                    buf[x] = _index(_i(r[x]), _i(r[x - 1]) + _i(r[x + 1]),
                                    _i(ru[x]) + _i(rd[x]), _sd(ru, rd, x - 1, x + 1))
                buf[e] = _index(_i(r[e]), _i(r[e - 1]) + _i(r[0]), _i(ru[e]) + _i(rd[e]),
                                _sd(ru, rd, e - 1, 0))
                a, s0, s1, s2, s3 = _update_row(r, buf, k & 1, th, s0, s1, s2, s3)
                acc += a
    state[0] = s0
    state[1] = s1
    state[2] = s2
    state[3] = s3
    return acc


@njit(nogil=True, cache=True)
def _chain(spins, state, th, four, every, out):
    L0, L1 = spins.shape
    if L0 % 2 or L1 % 2 or L0 < 2 or L1 < 2:
        raise ValueError("sublattice updates need an even L >= 2")
    if out.shape[1] != L0 or out.shape[2] != L1:
        raise ValueError("out must have shape (n, L, L)")
    yp, ym = neighbour_index(L0)
    buf = np.empty(L1, dtype=np.int16)  # table indices are < 2^15
    acc = np.int64(0)
    for i in range(out.shape[0]):
        if four:
            acc += _sweeps_four(spins, state, th, yp, ym, buf, every)
        else:
            acc += _sweeps_checkerboard(spins, state, th, yp, ym, buf, every)
        out[i] = spins
    return acc


@njit(nogil=True, cache=True)
def metropolis_chain(spins, state, beta, Jx, Jy, J2, h, every, out):
    """Metropolis: ``out.shape[0] * every`` sweeps, copying ``spins`` into out[i] after each
    ``every`` sweeps.  Returns the number of accepted flips.  ``spins`` (int8, L × L, L even)
    and ``state`` (xoshiro256** uint64[4]) are updated in place."""
    th = _thresholds(beta, Jx, Jy, J2, h, False)
    return _chain(spins, state, th, J2 != 0.0, every, out)


@njit(nogil=True, cache=True)
def heatbath_chain(spins, state, beta, Jx, Jy, J2, h, every, out):
    """Heat bath (Glauber): as :func:`metropolis_chain`, flipping with 1/(1 + exp(βΔE)) and
    one random number per site.  Returns the number of accepted flips."""
    th = _thresholds(beta, Jx, Jy, J2, h, True)
    return _chain(spins, state, th, J2 != 0.0, every, out)


# ----------------------------------------------------------------------------------------------
# per-bond couplings (spinsym.couplings.BondCouplings)
#
# Site (y, x) owns Jx[y, x] to (y, x+1), Jy[y, x] to (y+1, x), J2p[y, x] to (y+1, x+1),
# J2m[y, x] to (y+1, x-1) and the field h[y, x] (docs/conventions.md).  Flipping it changes the
# energy by ΔE = 2 s (f + h) with f the sum over its eight bond slots, added in this order:
#
#     f = ((Jx[y,x] s(y,x+1) + Jx[y,x-1] s(y,x-1)) + (Jy[y,x] s(y+1,x) + Jy[y-1,x] s(y-1,x)))
#         + ((J2p[y,x] s(y+1,x+1) + J2p[y-1,x-1] s(y-1,x-1))
#            + (J2m[y,x] s(y+1,x-1) + J2m[y-1,x+1] s(y-1,x+1)))
#
# (the diagonal group only when some diagonal coupling is nonzero).  Each pair holds two bonds
# of one direction, so when the two have equal magnitudes the pair sum is exactly J·(s1 + s2)
# and f is, bit for bit, the homogeneous kernel's Jx·sx + Jy·sy + J2·sd: homogeneous arrays
# reproduce the scalar kernel's chain exactly, and ±J couplings give the multi-spin ±J kernel's
# (spinsym.mc.msc) energies exactly.  On L = 2 the two slots of a pair are distinct bonds to one
# site, as the energy convention counts them.
#
# Sweep order and random numbers are the scalar kernel's: a checkerboard when every diagonal
# coupling is zero, else the four 2 × 2 sublattices; a draw only when the flip probability needs
# one (Metropolis: ΔE > 0; heat bath: always); flip iff (next_u64 >> 11) < ceil(p·2^53).
#
# Speed: the couplings are copied once per chain into tables in visiting order (one row segment
# of L/2 sites per sublattice row, the nine slots contiguous), phase 1 computes the local fields
# of a segment, phase 2 the flips.  Thresholds come from a small direct-mapped cache keyed by the
# exact bits of ΔE (a hit needs bit equality, so it is exact); couplings with few distinct values
# (±J, diluted, homogeneous) hit almost always, and continuous disorder pays one exp per site.

_SLOTS = 9  # eight bond slots and the field
_CACHE_BITS = 10
_TWO53F = 9007199254740992.0


@intrinsic
def _f64_bits(typingctx, x):
    """The 64 bits of a float64, as a uint64."""
    sig = types.uint64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


@njit(inline="always", cache=True)
def _threshold(de, beta, heatbath):
    """Integer flip threshold of one energy change: flip iff ``(next_u64 >> 11) < t``; -1 means
    flip without drawing (Metropolis, ΔE <= 0).  As :func:`_thresholds`, entry by entry."""
    p = flip_probability(de, beta, heatbath)
    return -1 if p > 1.5 else np.int64(math.ceil(p * _TWO53F))


@njit(nogil=True, cache=True)
def bond_layout(L, four):
    """Row segments in visiting order: rows[k] = (y, x0), the sites x = x0, x0 + 2, ... of row
    y (checkerboard: colour c = 0, 1, rows y; ``four``: sublattices k = 0..3)."""
    rows = np.empty((2 * L, 2), np.int64)  # L rows per colour, L/2 per sublattice
    k = 0
    if four:
        for sub in range(4):
            for y in range(sub >> 1, L, 2):
                rows[k, 0] = y
                rows[k, 1] = sub & 1
                k += 1
    else:
        for c in range(2):
            for y in range(L):
                rows[k, 0] = y
                rows[k, 1] = (y + c) & 1
                k += 1
    return rows


@njit(nogil=True, cache=True)
def bond_tables(Jx, Jy, J2p, J2m, h):
    """The couplings of every site's nine slots in visiting order: (four, rows, T) with
    ``four`` true when some diagonal coupling is nonzero, rows from :func:`bond_layout` and
    T[k, slot, j] the slot's coupling at site (rows[k, 0], rows[k, 1] + 2j).  Slots: Jx to
    x+1, x-1; Jy to y+1, y-1; J2p to (y+1, x+1), (y-1, x-1); J2m to (y+1, x-1), (y-1, x+1); h."""
    L = Jx.shape[0]
    if L % 2 or L < 2:
        raise ValueError("per-bond sublattice updates need an even L >= 2")
    if (Jx.shape != (L, L) or Jy.shape != (L, L) or J2p.shape != (L, L) or J2m.shape != (L, L)
            or h.shape != (L, L)):
        raise ValueError("the couplings must be L x L arrays")
    four = False
    for y in range(L):
        for x in range(L):
            if J2p[y, x] != 0.0 or J2m[y, x] != 0.0:
                four = True
    rows = bond_layout(L, four)
    m = L // 2
    T = np.empty((rows.shape[0], _SLOTS, m), np.float64)
    for k in range(rows.shape[0]):
        y = rows[k, 0]
        yp = (y + 1) % L
        ym = (y - 1 + L) % L
        for j in range(m):
            x = rows[k, 1] + 2 * j
            xp = (x + 1) % L
            xm = (x - 1 + L) % L
            T[k, 0, j] = Jx[y, x]
            T[k, 1, j] = Jx[y, xm]
            T[k, 2, j] = Jy[y, x]
            T[k, 3, j] = Jy[ym, x]
            T[k, 4, j] = J2p[y, x]
            T[k, 5, j] = J2p[ym, xm]
            T[k, 6, j] = J2m[y, x]
            T[k, 7, j] = J2m[ym, xp]
            T[k, 8, j] = h[y, x]
    return four, rows, T


@njit(inline="always", cache=True)
def _f(v):
    return np.float64(v)


@njit(inline="always", cache=True)
def _field_nn(t, j, r, ru, rd, x, xp, xm):
    return (((t[0, j] * _f(r[xp]) + t[1, j] * _f(r[xm]))
             + (t[2, j] * _f(rd[x]) + t[3, j] * _f(ru[x]))) + t[8, j])


@njit(inline="always", cache=True)
def _field_four(t, j, r, ru, rd, x, xp, xm):
    return ((((t[0, j] * _f(r[xp]) + t[1, j] * _f(r[xm]))
              + (t[2, j] * _f(rd[x]) + t[3, j] * _f(ru[x])))
             + ((t[4, j] * _f(rd[xp]) + t[5, j] * _f(ru[xm]))
                + (t[6, j] * _f(rd[xm]) + t[7, j] * _f(ru[xp])))) + t[8, j])


@njit(inline="always", cache=True)
def _fields(t, r, ru, rd, x0, four, f):
    """Phase 1: the local fields (bond sum + h) of the segment's sites into f."""
    L = r.shape[0]
    m = L >> 1
    if x0 == 0:  # x - 1 wraps at j = 0
        if four:
            f[0] = _field_four(t, 0, r, ru, rd, 0, 1, L - 1)
            for j in range(1, m):
                x = 2 * j
                f[j] = _field_four(t, j, r, ru, rd, x, x + 1, x - 1)
        else:
            f[0] = _field_nn(t, 0, r, ru, rd, 0, 1, L - 1)
            for j in range(1, m):
                x = 2 * j
                f[j] = _field_nn(t, j, r, ru, rd, x, x + 1, x - 1)
    else:  # x + 1 wraps at j = m - 1
        if four:
            for j in range(m - 1):
                x = 2 * j + 1
                f[j] = _field_four(t, j, r, ru, rd, x, x + 1, x - 1)
            f[m - 1] = _field_four(t, m - 1, r, ru, rd, L - 1, 0, L - 2)
        else:
            for j in range(m - 1):
                x = 2 * j + 1
                f[j] = _field_nn(t, j, r, ru, rd, x, x + 1, x - 1)
            f[m - 1] = _field_nn(t, m - 1, r, ru, rd, L - 1, 0, L - 2)


@njit(nogil=True, cache=True)
def bond_chain(spins, state, beta, four, rows, T, heatbath, every, out):
    """Per-bond Metropolis (``heatbath`` false) or heat bath: ``out.shape[0] * every`` sweeps
    with the tables of :func:`bond_tables`, ``out[i]`` after each ``every``; spins (int8, L × L)
    and state updated in place.  Returns the number of accepted flips."""
    L0, L1 = spins.shape
    if L0 != L1 or L0 % 2 or L0 < 2:
        raise ValueError("sublattice updates need an even L >= 2 and a square lattice")
    m = L0 // 2
    if T.shape[0] != rows.shape[0] or T.shape[1] != _SLOTS or T.shape[2] != m \
            or rows.shape[0] != 2 * L0:
        raise ValueError("the coupling tables do not match the lattice")
    if out.shape[1] != L0 or out.shape[2] != L1:
        raise ValueError("out must have shape (n, L, L)")
    size = 1 << _CACHE_BITS
    keys = np.full(size, _ONES64, np.uint64)  # a NaN pattern: never the bits of a ΔE
    vals = np.zeros(size, np.int64)
    f = np.empty(m, np.float64)
    s0 = state[0]
    s1 = state[1]
    s2 = state[2]
    s3 = state[3]
    acc = np.int64(0)
    for i in range(out.shape[0]):
        for _ in range(every):
            for k in range(rows.shape[0]):
                y = rows[k, 0]
                x0 = rows[k, 1]
                r = spins[y]
                ru = spins[y - 1 if y > 0 else L0 - 1]
                rd = spins[y + 1 if y + 1 < L0 else 0]
                t = T[k]
                _fields(t, r, ru, rd, x0, four, f)
                for j in range(m):
                    x = x0 + 2 * j
                    s = np.int64(r[x])
                    de = 2.0 * s * f[j]
                    b = _f64_bits(de)
                    c = (b * _GOLDEN) >> _U(64 - _CACHE_BITS)
                    if keys[c] == b:
                        th = vals[c]
                    else:
                        th = _threshold(de, beta, heatbath)
                        keys[c] = b
                        vals[c] = th
                    # branch-free draw (as _update_row): commit the next state where t >= 0
                    nodraw = th < 0
                    msk = _U(np.int64(nodraw) - 1)
                    u, n0, n1, n2, n3 = _next_regs(s0, s1, s2, s3)
                    s0 ^= (s0 ^ n0) & msk
                    s1 ^= (s1 ^ n1) & msk
                    s2 ^= (s2 ^ n2) & msk
                    s3 ^= (s3 ^ n3) & msk
                    ok = np.int64(np.int64(u >> _U(11)) < th) | np.int64(nodraw)
                    r[x] = np.int8(s - 2 * s * ok)
                    acc += ok
        out[i] = spins
    state[0] = s0
    state[1] = s1
    state[2] = s2
    state[3] = s3
    return acc


@njit(nogil=True, cache=True)
def metropolis_bonds_chain(spins, state, beta, Jx, Jy, J2p, J2m, h, every, out):
    """Metropolis with per-bond couplings (five L × L float64 arrays, the order of
    ``BondCouplings.arrays``): the interface of :func:`metropolis_chain` otherwise."""
    four, rows, T = bond_tables(Jx, Jy, J2p, J2m, h)
    return bond_chain(spins, state, beta, four, rows, T, False, every, out)


@njit(nogil=True, cache=True)
def heatbath_bonds_chain(spins, state, beta, Jx, Jy, J2p, J2m, h, every, out):
    """Heat bath with per-bond couplings (see :func:`metropolis_bonds_chain`)."""
    four, rows, T = bond_tables(Jx, Jy, J2p, J2m, h)
    return bond_chain(spins, state, beta, four, rows, T, True, every, out)
