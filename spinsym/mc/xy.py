"""XY-model Monte Carlo kernels (Numba): Metropolis + over-relaxation, and Wolff embedding.

Model (docs/conventions.md, exactly :func:`spinsym.hamiltonians.xy_energy`): angles ``theta[y, x]``
in [0, 2π) on an Ly × Lx torus (Ly, Lx >= 2),

    H = -Jx Σ_x cos(θi-θj) - Jy Σ_y cos(θi-θj) - J2 Σ_diag cos(θi-θj) - h Σ_i cos θi,

each bond counted once (site (y, x) owns the bonds to (y, x+1), (y+1, x), (y+1, x+1) and
(y+1, x-1)).  The energy of site i in its environment is ``-(hx cos θi + hy sin θi)`` with the
local field (:func:`local_field`)

    (hx, hy) = Σ_j J_ij (cos θj, sin θj) + (h, 0),

the sum running over the eight neighbour *slots* (x±1, y±1 and the four diagonals), each slot a
distinct bond.  On L = 2 the +x and -x slots name the same site, and so do the four diagonal
slots: that site is then coupled by two x-bonds (four diagonal bonds), just as ``xy_energy``
counts them, and summing over slots (not over distinct sites) is what keeps the kernels
consistent with the energy convention.

Internally the float64 kernels keep the unit vectors (cos θ, sin θ) in two arrays and never
call cos/sin on θ itself: a Metropolis proposal θ -> θ + δ is a rotation by (cos δ, sin δ), an
over-relaxation step is a reflection of the vector across the local field, and a Wolff flip a
reflection across a line.  After every update the vector is renormalized with one Newton step,
so its length stays 1 to rounding.  θ = atan2(sin, cos) mapped to [0, 2π) is recomputed only
when a sample is stored and at the end of a call (``theta`` is updated in place).

Random numbers come from :mod:`spinsym.mc.rng` (xoshiro256**, state uint64[4], advanced in
place), so a call is reproducible bit for bit from ``(theta, state)`` on one machine (the
kernels allow fused multiply-add and SIMD, so another CPU may differ in the last bits).

Sweeps.  Metropolis: one pass over all sites followed by ``n_overrelax`` over-relaxation
passes.  Wolff: K single clusters per sweep, K fixed for the call and calibrated at its start
so that a sweep flips about N sites (see :func:`wolff_chain` for why the sweep is
not "clusters until N sites flipped": that rule biases the stored samples).

Metropolis without over-relaxation on an even Lx (the default) runs the float32 kernel on
integer angles (``_metropolis_pass_f32``; its section below gives the layout and the
precision): θ = u·2π/2^32 with u a uint32, proposals u -> u ± d that are exactly symmetric,
one float32 (cos, sin) of the new angle per update from a fixed polynomial, a float32 exp, in
float32 SIMD lanes (twice as many per vector as float64); samples are u·2π/2^32
exactly.  Over-relaxation needs float64 (it conserves the energy to rounding), so with
``n_overrelax > 0`` Metropolis and over-relaxation on an even Lx run on a *split layout* in
float64: the unit vectors are stored as complex numbers cos θ + i sin θ per x-parity
(``_split_vectors``), so that a half row (the sites of one parity in one row, which share no
bond) and each of its neighbour sets are contiguous slices, and each half row is updated by
one fused loop that LLVM vectorizes (AVX2/AVX-512): local field, random word, proposal, ΔE, a
table-free polynomial exp (``_exp_neg_v``), the accept/reject select.  The order of the
updates (row by row, even x then odd x) is that of the scalar pass (``_metropolis_pass``),
which odd Lx still uses.  Random numbers: one xoshiro256** word per pass keys a SplitMix64
stream, one word per site (a function of a counter, so the loop vectorizes); its high 32 bits
give a symmetric proposal, a rotation by φ = 4 atan(tan(step/4)·w) with w on a grid symmetric
about 0 (one division, no sin/cos), its low 32 bits the acceptance uniform (see
``_metropolis_pass_split``).  Angles are recomputed with a vectorized atan2 (``_angle_v``,
within 2.3e-16 of libm) only when a sample is stored.

Speed: ``benchmarks/mc_speed.py`` and ``benchmarks/xy_speed.py`` (against a git revision)
measure it: at L = 256, T = 0.9, one thread, a sample every 10 sweeps, the float32 kernel
runs 0.36 site updates/ns in CPU time, 1.64 times the float64 split kernel (0.22).
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from .rng import next_u64, randint, uniform

TWO_PI = 2.0 * math.pi
# Allow fused multiply-add (faster polynomials; results stay deterministic on one machine).
_FM = {"contract"}
_TINY_FIELD2 = 1e-200  # |local field|² below this counts as zero (over-relaxation skipped)


@njit(nogil=True, cache=True)
def _adapted_step(st, acc, N):
    """The thermalization step update toward 50 % acceptance, clipped to [1e-9, π]."""
    st *= math.exp(acc / N - 0.5)
    if st > math.pi:
        return math.pi
    if st < 1e-9:
        return 1e-9
    return st


@njit(nogil=True, cache=True, fastmath=_FM)
def _renorm(c, s):
    """One Newton step towards c² + s² = 1 (error ε -> O(ε²))."""
    f = 1.5 - 0.5 * (c * c + s * s)
    return c * f, s * f


@njit(nogil=True, cache=True, fastmath=_FM)
def _sincos(d):
    """(cos d, sin d) for |d| <= π to a few ulp (Taylor series of d/4, two doublings).

    A branch-free polynomial, cheaper in the kernels than two libm calls; wrong for |d| > π.
    """
    z = 0.25 * d
    z2 = z * z
    s = z * (1.0 + z2 * (-1.0 / 6.0 + z2 * (1.0 / 120.0 + z2 * (-1.0 / 5040.0 + z2 * (
        1.0 / 362880.0 + z2 * (-1.0 / 39916800.0 + z2 * (
            1.0 / 6227020800.0 + z2 * (-1.0 / 1307674368000.0))))))))
    c = 1.0 + z2 * (-0.5 + z2 * (1.0 / 24.0 + z2 * (-1.0 / 720.0 + z2 * (1.0 / 40320.0 + z2 * (
        -1.0 / 3628800.0 + z2 * (1.0 / 479001600.0 + z2 * (
            -1.0 / 87178291200.0 + z2 * (1.0 / 20922789888000.0))))))))
    s, c = 2.0 * s * c, (c - s) * (c + s)
    s, c = 2.0 * s * c, (c - s) * (c + s)
    return c, s


_POW2_NEG = np.ldexp(1.0, -np.arange(1100))  # 2^-k, k = 0..1099 (subnormals included)
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.4426950408889634


@njit(nogil=True, cache=True, fastmath=_FM)
def _exp_neg(x):
    """exp(x) for x <= 0 to ~2 ulp: exp(r)·2^-k, |r| <= ln2/2, Taylor degree 12 (no libm call).

    x is clamped at -700 (exp(-700) ~ 1e-304: a uniform u < that is u == 0, probability 2^-53).
    """
    x = max(x, -700.0)
    k = np.int64(-x * _INV_LN2 + 0.5)
    r = x + k * _LN2_HI + k * _LN2_LO
    p = 1.0 + r * (1.0 + r * (1.0 / 2.0 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (
        1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0 + r * (1.0 / 40320.0 + r * (
            1.0 / 362880.0 + r * (1.0 / 3628800.0 + r * (
                1.0 / 39916800.0 + r * (1.0 / 479001600.0))))))))))))
    return p * _POW2_NEG[k]


@njit(nogil=True, cache=True, fastmath=_FM)
def _wrap_angle(c, s):
    """θ = atan2(s, c) in [0, 2π)."""
    t = math.atan2(s, c)
    if t < 0.0:
        t += TWO_PI
        if t >= TWO_PI:  # -tiny + 2π rounds to 2π
            t = 0.0
    return t


@njit(nogil=True, cache=True, fastmath=_FM)
def _field_cs(c, s, y, yp, ym, x, xp, xm, Jx, Jy, J2, h):
    """Local field at (y, x) from the cos/sin arrays; yp/ym/xp/xm are the wrapped neighbours."""
    hx = (Jx * (c[y, xp] + c[y, xm]) + Jy * (c[yp, x] + c[ym, x])
          + J2 * (c[yp, xp] + c[yp, xm] + c[ym, xp] + c[ym, xm]) + h)
    hy = (Jx * (s[y, xp] + s[y, xm]) + Jy * (s[yp, x] + s[ym, x])
          + J2 * (s[yp, xp] + s[yp, xm] + s[ym, xp] + s[ym, xm]))
    return hx, hy


@njit(nogil=True, cache=True, fastmath=_FM)
def local_field(theta, y, x, Jx, Jy, J2, h):
    """Local field (hx, hy) at site (y, x): E_i = -(hx cos θi + hy sin θi) + terms without θi.

    Sums the eight neighbour slots (two per nearest-neighbour direction pair, four diagonals)
    with their couplings and adds (h, 0); on L = 2 coinciding slots are distinct bonds.  The
    kernels evaluate the same sum on their cos/sin arrays (``_field_cs``); this version takes
    angles (for callers and tests).
    """
    Ly, Lx = theta.shape
    y = np.int64(y) % Ly
    x = np.int64(x) % Lx
    yp = y + 1 if y + 1 < Ly else np.int64(0)
    ym = y - 1 if y > 0 else Ly - 1
    xp = x + 1 if x + 1 < Lx else np.int64(0)
    xm = x - 1 if x > 0 else Lx - 1
    c = math.cos
    s = math.sin
    hx = (Jx * (c(theta[y, xp]) + c(theta[y, xm])) + Jy * (c(theta[yp, x]) + c(theta[ym, x]))
          + J2 * (c(theta[yp, xp]) + c(theta[yp, xm]) + c(theta[ym, xp]) + c(theta[ym, xm]))
          + h)
    hy = (Jx * (s(theta[y, xp]) + s(theta[y, xm])) + Jy * (s(theta[yp, x]) + s(theta[ym, x]))
          + J2 * (s(theta[yp, xp]) + s(theta[yp, xm]) + s(theta[ym, xp]) + s(theta[ym, xm])))
    return hx, hy


@njit(nogil=True, cache=True, fastmath=_FM)
def _to_vectors(theta):
    Ly, Lx = theta.shape
    c = np.empty((Ly, Lx), np.float64)
    s = np.empty((Ly, Lx), np.float64)
    for y in range(Ly):
        for x in range(Lx):
            c[y, x] = math.cos(theta[y, x])
            s[y, x] = math.sin(theta[y, x])
    return c, s


@njit(nogil=True, cache=True, fastmath=_FM)
def _to_angles(c, s, dest):
    Ly, Lx = c.shape
    for y in range(Ly):
        for x in range(Lx):
            dest[y, x] = _wrap_angle(c[y, x], s[y, x])


@njit(nogil=True, cache=True, fastmath=_FM)
def _neighbour_tables(L):
    plus = np.empty(L, np.int64)
    minus = np.empty(L, np.int64)
    for i in range(L):
        plus[i] = i + 1 if i + 1 < L else 0
        minus[i] = i - 1 if i > 0 else L - 1
    return plus, minus


@njit(nogil=True, cache=True, fastmath=_FM)
def _metropolis_pass(c, s, state, beta, Jx, Jy, J2, h, step, yp_t, ym_t, xp_t, xm_t,
                     u_buf, cd_buf, sd_buf):
    """One Metropolis pass over all sites; proposal θ + step·(2u-1). Returns accepted moves.

    Order: row by row, in each row the even x then the odd x (consecutive updates are then not
    coupled for Lx >= 4 and the CPU overlaps them; any fixed order of single-site updates keeps
    the Boltzmann distribution invariant).  For each half row the state-independent part is
    done first, off the dependency chain: the uniforms are drawn and the rotations
    (cos δ, sin δ) computed.  The sites are then updated one after the other as usual (each
    reads the current neighbours), with a branch-free test: accept iff u < exp(-β max(ΔE, 0)).
    """
    Ly, Lx = c.shape
    acc = 0
    small = step <= math.pi
    for y in range(Ly):
        yp = yp_t[y]
        ym = ym_t[y]
        for parity in range(2):
            nk = (Lx - parity + 1) // 2
            for k in range(nk):
                cd_buf[k] = step * (2.0 * uniform(state) - 1.0)
                u_buf[k] = uniform(state)
            if small:
                for k in range(nk):
                    cd_buf[k], sd_buf[k] = _sincos(cd_buf[k])
            else:
                for k in range(nk):
                    d = cd_buf[k]
                    cd_buf[k] = math.cos(d)
                    sd_buf[k] = math.sin(d)
            for k in range(nk):
                x = parity + 2 * k
                xp = xp_t[x]
                xm = xm_t[x]
                hx, hy = _field_cs(c, s, y, yp, ym, x, xp, xm, Jx, Jy, J2, h)
                cd = cd_buf[k]
                sd = sd_buf[k]
                ci = c[y, x]
                si = s[y, x]
                cn, sn = _renorm(ci * cd - si * sd, si * cd + ci * sd)
                dE = -(hx * (cn - ci) + hy * (sn - si))
                ok = u_buf[k] < _exp_neg(-beta * max(dE, 0.0))
                c[y, x] = cn if ok else ci
                s[y, x] = sn if ok else si
                acc += ok
    return acc


@njit(nogil=True, cache=True, fastmath=_FM)
def _overrelax_pass(c, s, Jx, Jy, J2, h, yp_t, ym_t, xp_t, xm_t):
    """One over-relaxation pass (same order as the Metropolis pass): reflect each spin across
    its local field; energy conserving; skipped where the field vanishes."""
    Ly, Lx = c.shape
    for y in range(Ly):
        yp = yp_t[y]
        ym = ym_t[y]
        for parity in range(2):
            for x in range(parity, Lx, 2):
                xp = xp_t[x]
                xm = xm_t[x]
                hx, hy = _field_cs(c, s, y, yp, ym, x, xp, xm, Jx, Jy, J2, h)
                n2 = hx * hx + hy * hy
                ci = c[y, x]
                si = s[y, x]
                if n2 > _TINY_FIELD2:
                    p = 2.0 * (ci * hx + si * hy) / n2
                    cn, sn = _renorm(p * hx - ci, p * hy - si)
                    c[y, x] = cn
                    s[y, x] = sn


_EXP_CLAMP = -40.0
_U32 = np.uint64(32)
_LOW32 = np.uint64(0xFFFFFFFF)
_INV_2_32 = 1.0 / 4294967296.0
_INV_2_31 = 1.0 / 2147483648.0
_TWO_M62 = 2.0 ** -62


@njit(nogil=True, cache=True, fastmath=_FM)
def _exp_neg_v(x):
    """exp(x) for x <= 0 to ~2 ulp, SIMD-vectorizable (no table, no libm call).

    exp(r)·2^-k with |r| <= ln2/2 (Taylor degree 12, as :func:`_exp_neg`) and
    2^-k = float(1 << (62 - k))·2^-62, exact.  x is clamped at -40: below that both exp(x)
    and exp(-40) ≈ 4e-18 are under 2^-53, finer than any uniform the kernels draw, so
    ``u < exp(x)`` has the same outcome (u == 0) either way.
    """
    x = max(x, _EXP_CLAMP)
    k = np.int64(-x * _INV_LN2 + 0.5)
    r = x + k * _LN2_HI + k * _LN2_LO
    p = 1.0 + r * (1.0 + r * (1.0 / 2.0 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (
        1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0 + r * (1.0 / 40320.0 + r * (
            1.0 / 362880.0 + r * (1.0 / 3628800.0 + r * (
                1.0 / 39916800.0 + r * (1.0 / 479001600.0))))))))))))
    return p * (float(np.int64(1) << np.int64(62 - k)) * _TWO_M62)


# atan(t) = t + t·z·P(z), z = t², for |t| <= tan(π/8): P a degree-10 least-squares fit on
# Chebyshev nodes to 40-digit values (max error 0.5 ulp of atan there; tests/mc/test_xy.py)
_ATAN_P = (-0.33333333333333365, 0.19999999999996038, -0.14285714284818316,
           0.11111111028019015, -0.0909090510541214, 0.07692195495698995,
           -0.06664684431046133, 0.05859643469880576, -0.05093214242734622,
           0.03945416861006479, -0.019447145010297692)
_TAN_PI_8 = 0.41421356237309503
_PI = math.pi


@njit(inline="always", cache=True)
def _atan_small(t):
    z = t * t
    c = _ATAN_P
    p = c[0] + z * (c[1] + z * (c[2] + z * (c[3] + z * (c[4] + z * (c[5] + z * (
        c[6] + z * (c[7] + z * (c[8] + z * (c[9] + z * c[10])))))))))
    return t + t * z * p


@njit(nogil=True, cache=True, fastmath=_FM, error_model="numpy")
def _angle_v(c, s):
    """θ = atan2(s, c) in [0, 2π), branch-free (vectorizable), within ~2e-16 of math.atan2.

    Octant reduction to t = min/max in [0, 1], then t > tan(π/8) -> π/4 + atan((t-1)/(t+1)),
    and the polynomial :func:`_atan_small`.
    """
    ax = abs(c)
    ay = abs(s)
    mx = max(ax, ay)
    mn = min(ax, ay)
    t = mn / mx if mx > 0.0 else 0.0
    big = t > _TAN_PI_8
    tr = (t - 1.0) / (t + 1.0) if big else t
    a = _atan_small(tr) + (0.25 * _PI if big else 0.0)
    a = 0.5 * _PI - a if ay > ax else a
    a = _PI - a if c < 0.0 else a
    a = -a if s < 0.0 else a
    a = a + 2.0 * _PI if a < 0.0 else a
    return 0.0 if a >= 2.0 * _PI else a


# Split layout (even Lx): Z[p, y, k + 1] = cos θ(y, 2k + p) + i sin θ(y, 2k + p) (complex128:
# cos and sin of a site side by side), with one ghost column at each end of every half row
# (Z[p, y, 0] = Z[p, y, nk] and Z[p, y, nk + 1] = Z[p, y, 1], nk = Lx / 2) so that every
# neighbour set of a half row is a contiguous slice: site k of parity p has its x-neighbours
# at (1 - p, y, k + 1 + p) and (1 - p, y, k + p), its y-neighbours at (p, y ± 1, k + 1) and its
# diagonal neighbours at (1 - p, y ± 1, k + 1 + p) and (1 - p, y ± 1, k + p).
#
# One array for both components keeps the number of distinct arrays a half-row loop touches
# small: LLVM vectorizes a loop only if it can rule out, with at most 8 runtime address
# checks, that the arrays it writes overlap those it reads.  The Metropolis and
# over-relaxation updates of a half row are therefore each one fused loop (field, random
# numbers, proposal, test, store) that writes one array and reads at most five.


@njit(nogil=True, cache=True, fastmath=_FM)
def _split_vectors(theta):
    """The split layout Z (2, Ly, Lx/2 + 2) complex128 of the angles theta (even Lx)."""
    Ly, Lx = theta.shape
    nk = Lx // 2
    Z = np.empty((2, Ly, nk + 2), np.complex128)
    for y in range(Ly):
        for x in range(Lx):
            Z[x & 1, y, (x >> 1) + 1] = complex(math.cos(theta[y, x]), math.sin(theta[y, x]))
    for p in range(2):
        for y in range(Ly):
            _ghosts(Z[p, y], nk)
    return Z


@njit(inline="always", cache=True)
def _ghosts(z, nk):
    z[0] = z[nk]
    z[nk + 1] = z[1]


@njit(nogil=True, cache=True, fastmath=_FM, error_model="numpy")
def _angles_of(z, out):
    for k in range(out.shape[0]):
        out[k] = _angle_v(z[k].real, z[k].imag)


@njit(nogil=True, cache=True, fastmath=_FM)
def _split_to_angles(Z, dest):
    """dest[y, x] = θ(y, x) in [0, 2π) from the split layout (vectorized :func:`_angle_v`)."""
    Ly, Lx = dest.shape
    nk = Lx // 2
    a0 = np.empty(nk, np.float64)
    a1 = np.empty(nk, np.float64)
    for y in range(Ly):
        _angles_of(Z[0, y, 1:nk + 1], a0)
        _angles_of(Z[1, y, 1:nk + 1], a1)
        row = dest[y]
        for k in range(nk):
            row[2 * k] = a0[k]
            row[2 * k + 1] = a1[k]


_GAMMA = np.uint64(0x9E3779B97F4A7C15)  # SplitMix64 increment (2^64 / golden ratio)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)


@njit(inline="always", cache=True)
def _splitmix(z):
    """The SplitMix64 output function (Steele, Lea & Flood 2014): word i of the stream seeded
    with ``key`` is ``_splitmix(key + (i + 1)·γ)``; a function of the counter, so a loop that
    draws one word per site vectorizes."""
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@njit(inline="always", cache=True)
def _rotation(a, w):
    """The proposed rotation (cos φ, sin φ), φ = 4 atan(a·w), for w in (-1, 1).

    With t = a·w, (cos φ/2, sin φ/2) = ((1 - t²), 2t)/(1 + t²) (unit to rounding), doubled
    once.  φ is an odd function of w, so a w symmetric about 0 gives a symmetric proposal;
    |φ| <= 4 atan(a)."""
    t = a * w
    t2 = t * t
    inv = 1.0 / (1.0 + t2)
    c1 = (1.0 - t2) * inv
    s1 = 2.0 * t * inv
    return (c1 - s1) * (c1 + s1), 2.0 * c1 * s1


@njit(inline="always", cache=True)
def _metropolis_site(zi, hx, hy, r, beta, a):
    """One Metropolis update of a site with vector zi in the local field (hx, hy), with the
    random word r (high 32 bits: the proposal, low 32 bits: the acceptance uniform).
    Returns (new vector, accepted)."""
    w = (float(np.int64(r >> _U32)) + 0.5) * _INV_2_31 - 1.0
    cd, sd = _rotation(a, w)
    u = float(np.int64(r & _LOW32)) * _INV_2_32
    ci = zi.real
    si = zi.imag
    cn, sn = _renorm(ci * cd - si * sd, si * cd + ci * sd)
    dE = -(hx * (cn - ci) + hy * (sn - si))
    ok = u < _exp_neg_v(-beta * max(dE, 0.0))
    return (complex(cn, sn) if ok else zi), ok


@njit(nogil=True, cache=True, fastmath=_FM, error_model="numpy")
def _metropolis_half_row(z, xr, xl, up, dn, g, use_g, key, beta, Jx, Jy, h, a):
    """Metropolis updates of one half row z (no two of its sites are coupled, so updating them
    at once equals updating them one by one): xr, xl, up, dn its x+1, x-1, y+1, y-1
    neighbours (aligned slices of the split layout), g the diagonal part of the field if
    ``use_g``.  Site k draws SplitMix64 word ``_splitmix(key + (k + 1)·γ)``.  Returns the
    number of accepted moves."""
    acc = 0
    if use_g:
        for k in range(z.shape[0]):
            f = Jx * (xr[k] + xl[k]) + Jy * (up[k] + dn[k]) + g[k]
            r = _splitmix(key + np.uint64(k + 1) * _GAMMA)
            zn, ok = _metropolis_site(z[k], f.real + h, f.imag, r, beta, a)
            z[k] = zn
            acc += ok
    else:
        for k in range(z.shape[0]):
            f = Jx * (xr[k] + xl[k]) + Jy * (up[k] + dn[k])
            r = _splitmix(key + np.uint64(k + 1) * _GAMMA)
            zn, ok = _metropolis_site(z[k], f.real + h, f.imag, r, beta, a)
            z[k] = zn
            acc += ok
    return acc


@njit(nogil=True, cache=True, fastmath=_FM, error_model="numpy")
def _diagonal_field(g, ur, ul, dr, dl, J2):
    """g = J2·(sum of the four diagonal neighbours) of a half row."""
    for k in range(g.shape[0]):
        g[k] = J2 * (ur[k] + ul[k] + dr[k] + dl[k])


@njit(inline="always", cache=True)
def _half_row_diagonals(Z, g, p, y, yp, ym, nk, J2):
    q = 1 - p
    r = 1 + p  # x+1 neighbours start at column 1 + p of the other parity, x-1 at p
    _diagonal_field(g, Z[q, yp, r:r + nk], Z[q, yp, p:p + nk], Z[q, ym, r:r + nk],
                    Z[q, ym, p:p + nk], J2)


@njit(nogil=True, cache=True, fastmath=_FM)
def _metropolis_pass_split(Z, state, beta, Jx, Jy, J2, h, step, yp_t, ym_t, g):
    """One Metropolis pass on the split layout (even Lx), in the order of
    :func:`_metropolis_pass` (row by row, even x then odd x), each half row at once by
    :func:`_metropolis_half_row`.

    Random numbers: one xoshiro256** word per pass is the key of a SplitMix64 stream, whose
    words are taken one per site in pass order.  Of a site's word, the high 32 bits give
    w = (k + 1/2)/2^31 - 1, a grid symmetric about 0, and the proposal is the rotation by
    φ = 4 atan(tan(step/4)·w) (:func:`_rotation`; |φ| <= step, step taken as π when larger):
    an odd function of w, so the proposal is symmetric.  The low 32 bits give the acceptance
    uniform u = k'/2^32, and a move is accepted iff u < exp(-β max(ΔE, 0)) (:func:`_exp_neg_v`),
    with probability min(1, e^{-βΔE}) rounded up to a multiple of 2^-32."""
    Ly = Z.shape[1]
    nk = Z.shape[2] - 2
    a = math.tan(0.25 * min(step, math.pi))
    use_g = J2 != 0.0
    key = next_u64(state)
    acc = 0
    e = nk + 1
    for y in range(Ly):
        yp = yp_t[y]
        ym = ym_t[y]
        for p in range(2):
            q = 1 - p
            r = 1 + p
            if use_g:
                _half_row_diagonals(Z, g, p, y, yp, ym, nk, J2)
            acc += _metropolis_half_row(
                Z[p, y, 1:e], Z[q, y, r:r + nk], Z[q, y, p:p + nk], Z[p, yp, 1:e],
                Z[p, ym, 1:e], g, use_g, key, beta, Jx, Jy, h, a)
            key += np.uint64(nk) * _GAMMA
            _ghosts(Z[p, y], nk)
    return acc


@njit(inline="always", cache=True)
def _reflect(zi, hx, hy):
    """zi reflected across the field (hx, hy); unchanged where the field vanishes."""
    n2 = hx * hx + hy * hy
    ci = zi.real
    si = zi.imag
    big = n2 > _TINY_FIELD2
    pr = 2.0 * (ci * hx + si * hy) / (n2 if big else 1.0)
    cn, sn = _renorm(pr * hx - ci, pr * hy - si)
    return complex(cn, sn) if big else zi


@njit(nogil=True, cache=True, fastmath=_FM, error_model="numpy")
def _overrelax_half_row(z, xr, xl, up, dn, g, use_g, Jx, Jy, h):
    """Reflect each site of a half row across its local field (neighbours as in
    :func:`_metropolis_half_row`)."""
    if use_g:
        for k in range(z.shape[0]):
            f = Jx * (xr[k] + xl[k]) + Jy * (up[k] + dn[k]) + g[k]
            z[k] = _reflect(z[k], f.real + h, f.imag)
    else:
        for k in range(z.shape[0]):
            f = Jx * (xr[k] + xl[k]) + Jy * (up[k] + dn[k])
            z[k] = _reflect(z[k], f.real + h, f.imag)


@njit(nogil=True, cache=True, fastmath=_FM)
def _overrelax_pass_split(Z, Jx, Jy, J2, h, yp_t, ym_t, g):
    """:func:`_overrelax_pass` on the split layout (same order; the field summed per half row
    as in the Metropolis pass)."""
    Ly = Z.shape[1]
    nk = Z.shape[2] - 2
    use_g = J2 != 0.0
    e = nk + 1
    for y in range(Ly):
        yp = yp_t[y]
        ym = ym_t[y]
        for p in range(2):
            q = 1 - p
            r = 1 + p
            if use_g:
                _half_row_diagonals(Z, g, p, y, yp, ym, nk, J2)
            _overrelax_half_row(Z[p, y, 1:e], Z[q, y, r:r + nk], Z[q, y, p:p + nk],
                                Z[p, yp, 1:e], Z[p, ym, 1:e], g, use_g, Jx, Jy, h)
            _ghosts(Z[p, y], nk)


# --------------------------------------------------------------------------------------------
# Float32 Metropolis on integer angles (even Lx, no over-relaxation: the default path)
#
# The state is the angle as a uint32 fixed-point number, θ = u·2π/2^32, in U[p, y, k] (the
# site (y, 2k + p)), together with its unit vector (c, s) = sc32(u) in float32, in the split
# layout of the float64 kernel with the two components side by side:
# Zf[p, y, 2(k + 1)] = c, Zf[p, y, 2(k + 1) + 1] = s, one ghost site at each end of every
# half row (Zf[p, y, 0:2] = Zf[p, y, 2nk:2nk + 2], Zf[p, y, 2nk + 2:2nk + 4] = Zf[p, y, 2:4]).
# sc32 (:func:`_sincos_u32`) is a fixed float32 function of u (quadrant from the top bits,
# Cephes' sinf/cosf polynomials on [-π/4, π/4), within 1.3e-7 of cos and sin), and the
# stored vector of every site is always exactly sc32 of its angle.
#
# A proposal adds a signed integer d to u modulo 2^32: exactly reversible (u + d - d = u) and,
# since d and -d are equally likely, exactly symmetric.  It needs one new (c, s) = sc32(u + d)
# and no renormalization; the sample is u·2π/2^32, exact in float64, no atan2.
#
# Each half row takes three SIMD loops, each writing at most two arrays so that LLVM's runtime
# alias checks stay few: the local field of all its sites (float32, from the neighbour rows),
# the random words (SplitMix64, as in the float64 kernel), and the fused update (proposal,
# sc32, ΔE, exp, test, select).  The integer steps that Numba would widen to 64 bits (it
# promotes uint32 arithmetic) are written as LLVM intrinsics (:func:`_reduce_u32`,
# :func:`_pow2_neg_f32`), so that the update loop runs in 32-bit lanes.
#
# Precision.  The chain samples exp(-βẼ) where Ẽ is the energy of the float32 vectors sc32(u)
# with the couplings rounded to float32 (|sc32 - (cos, sin)| <= 1.3e-7 per component), and
# each ΔE is evaluated in float32 from the float32 local field; the acceptance probability
# min(1, e^{-βΔE}) is computed with a float32 exp (relative error <= 1.3e-7, see
# :func:`_exp_neg_f32`) and compared with a 32-bit uniform, so it is exact to about 2e-7
# relative plus 2^-32 absolute; a move with βΔE <= 0 is always accepted.

_F32 = np.float32
_U64 = np.uint64
_RAD32 = 2.0 * math.pi / 2.0 ** 32  # radians per unit of u
_INV_RAD32 = 2.0 ** 32 / (2.0 * math.pi)
_MASK32 = np.uint64(0xFFFFFFFF)
_MASK31 = np.uint64(0x7FFFFFFF)
_TWO32 = np.uint64(1 << 32)
# sin x = x + x·z·P(z), cos x = 1 - z/2 + z²·Q(z), z = x², |x| <= π/4 (Cephes sinf/cosf)
_SP0, _SP1, _SP2 = _F32(-1.6666654611e-1), _F32(8.3321608736e-3), _F32(-1.9515295891e-4)
_CQ0, _CQ1, _CQ2 = _F32(4.166664568298827e-2), _F32(-1.388731625493765e-3), \
    _F32(2.443315711809948e-5)
# exp r = 1 + r + r²·E(r), |r| <= ln2/2 (Cephes expf); Cody-Waite ln 2 = HI + LO
_EP = tuple(_F32(v) for v in (5.0000001201e-1, 1.6666665459e-1, 4.1665795894e-2,
                               8.3334519073e-3, 1.3981999507e-3, 1.9875691500e-4))
_LN2_HI32, _LN2_LO32 = _F32(0.693359375), _F32(-2.12194440e-4)
_INV_LN2_32 = _F32(1.4426950408889634)
_ZERO32, _HALF32, _ONE32 = _F32(0.0), _F32(0.5), _F32(1.0)
_CLAMP32 = _F32(-40.0)
_TWO_P32_F = _F32(2.0 ** 32)
_T_MAX = _F32(4294967040.0)  # the largest float32 below 2^32


@intrinsic
def _reduce_u32(typingctx, u):
    """u (uint32, 2π = 2^32) -> (x, odd, negc, negs): u·2π/2^32 = x + q·π/2 with q the nearest
    quadrant, x = (u - q·2^30)·2π/2^32 in [-π/4, π/4) as float32, and three flags of q: odd
    (q = 1, 3: cos and sin swap), negc (q = 1, 2: cos negated), negs (q = 2, 3: sin
    negated).  32-bit integer operations only (an LLVM intrinsic: Numba would widen them)."""
    rt = types.Tuple((types.float32, types.boolean, types.boolean, types.boolean))

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)

        def c(v):
            return ir.Constant(i32, v)

        v = builder.add(args[0], c(1 << 29))
        q = builder.lshr(v, c(30))
        r = builder.sub(builder.and_(v, c((1 << 30) - 1)), c(1 << 29))
        x = builder.fmul(builder.sitofp(r, ir.FloatType()), ir.Constant(ir.FloatType(), _RAD32))
        odd = builder.icmp_unsigned("!=", builder.and_(q, c(1)), c(0))
        negc = builder.icmp_unsigned("!=", builder.and_(builder.add(q, c(1)), c(2)), c(0))
        negs = builder.icmp_unsigned("!=", builder.and_(q, c(2)), c(0))
        return context.make_tuple(builder, rt, [x, odd, negc, negs])

    return rt(types.uint32), codegen


@intrinsic
def _pow2_neg_f32(typingctx, k):
    """2^-k as float32 for an integral float32 k in [0, 126], from its exponent bits."""

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        e = builder.sub(ir.Constant(i32, 127), builder.fptosi(args[0], i32))
        return builder.bitcast(builder.shl(e, ir.Constant(i32, 23)), ir.FloatType())

    return types.float32(types.float32), codegen


@njit(inline="always", cache=True)
def _sincos_u32(u):
    """sc32(u) = (cos, sin) of u·2π/2^32 in float32 (u uint32), within 1.3e-7 of libm (1.23e-7
    at worst over all 2^32 angles, checked once by a full scan): the Cephes sinf/cosf
    polynomials on the reduced angle (:func:`_reduce_u32`).  The one definition of a site's
    stored vector; every caller is compiled with ``fastmath=_FM`` (the FMA contraction
    changes the last bit)."""
    x, odd, negc, negs = _reduce_u32(u)
    z = x * x
    s = x + x * z * (_SP0 + z * (_SP1 + z * _SP2))
    c = _ONE32 - _HALF32 * z + z * z * (_CQ0 + z * (_CQ1 + z * _CQ2))
    a = s if odd else c
    b = c if odd else s
    return (-a if negc else a), (-b if negs else b)


@njit(inline="always", cache=True)
def _exp_neg_f32(x):
    """exp(x) in float32 for x <= 0, relative error <= 1.3e-7 (tests/mc/test_xy_fast.py):
    exp(r)·2^-k, |r| <= ln2/2, Cephes' expf polynomial, 2^-k from exponent bits.  Clamped at
    -40: exp(-40)·2^32 < 2e-8, so a 32-bit uniform compares with it as with exp(x)."""
    x = max(x, _CLAMP32)
    k = _F32(np.int32(-x * _INV_LN2_32 + _HALF32))
    r = x + k * _LN2_HI32 + k * _LN2_LO32
    e = _EP
    p = _ONE32 + r + r * r * (e[0] + r * (e[1] + r * (e[2] + r * (e[3] + r * (
        e[4] + r * e[5])))))
    return p * _pow2_neg_f32(k)


@njit(nogil=True, cache=True, fastmath=_FM, error_model="numpy")
def _field_row_f32(f, xr, xl, up, dn, Jx, Jy):
    """f = Jx·(xr + xl) + Jy·(up + dn), component by component (float32, interleaved)."""
    for j in range(f.shape[0]):
        f[j] = Jx * (xr[j] + xl[j]) + Jy * (up[j] + dn[j])


@njit(nogil=True, cache=True, fastmath=_FM, error_model="numpy")
def _diagonal_row_f32(f, ur, ul, dr, dl, J2):
    """f += J2·(ur + ul + dr + dl) (the four diagonal neighbours, float32, interleaved)."""
    for j in range(f.shape[0]):
        f[j] = f[j] + J2 * (ur[j] + ul[j] + dr[j] + dl[j])


@njit(inline="always", cache=True)
def _proposal_u32(r, a):
    """The proposal and uniform of a random word r (uint64): d = ±floor(m·a/2^31) mod 2^32
    (sign: bit 63 of r, m: bits 32-62), w = the low 32 bits.  Flipping bit 63 maps d to -d
    and keeps w, so d and -d are equally likely: the proposal is exactly symmetric."""
    hi = r >> _U32
    mag = ((hi & _MASK31) * a) >> _S31
    d = np.uint32(((_TWO32 - mag) if (hi >> _S31) != _U64(0) else mag) & _MASK32)
    return d, np.uint32(r & _MASK32)


@njit(nogil=True, cache=True, fastmath=_FM, error_model="numpy")
def _random_row(d, w, key, a):
    """Site k's SplitMix64 word ``_splitmix(key + (k + 1)·γ)`` -> d[k], w[k]
    (:func:`_proposal_u32`)."""
    for k in range(d.shape[0]):
        d[k], w[k] = _proposal_u32(_splitmix(key + np.uint64(k + 1) * _GAMMA), a)


@njit(nogil=True, cache=True, fastmath=_FM, error_model="numpy")
def _update_row_f32(z, u, f, d, w, beta, h):
    """Metropolis updates of one half row: angles u, vectors z (interleaved, with its ghost
    sites), local fields f (without h), proposals d and uniforms w.  Returns the accepted
    count."""
    acc = 0
    for k in range(u.shape[0]):
        ui = u[k]
        un = np.uint32(ui + d[k])
        cn, sn = _sincos_u32(un)
        ci = z[2 * k + 2]
        si = z[2 * k + 3]
        x = -beta * max(-((f[2 * k] + h) * (cn - ci) + f[2 * k + 1] * (sn - si)), _ZERO32)
        t = np.uint32(min(_exp_neg_f32(x) * _TWO_P32_F, _T_MAX))
        ok = (x >= _ZERO32) or (w[k] < t)
        z[2 * k + 2] = cn if ok else ci
        z[2 * k + 3] = sn if ok else si
        u[k] = un if ok else ui
        acc += ok
    return acc


@njit(nogil=True, cache=True, fastmath=_FM)
def _metropolis_pass_f32(Zf, U, f, d, w, state, beta, Jx, Jy, J2, h, a, yp_t, ym_t):
    """One Metropolis pass on integer angles (even Lx), in the order of the other passes (row
    by row, even x then odd x, each half row at once).  One xoshiro256** word per pass keys
    the SplitMix64 stream, word i for the i-th site in pass order (as the float64 split
    pass); a site's proposal is u -> u + d with d = ±floor(m·a/2^31), m uniform on
    [0, 2^31) and the sign a separate bit (a = round(step/2π · 2^32) <= 2^31: |d|·2π/2^32 <
    step, exactly symmetric); accept iff βΔE <= 0 or w < min(e^{-βΔE}·2^32, 2^32 - 256)
    (w the 32-bit uniform, the exp in float32)."""
    Ly = Zf.shape[1]
    nk = U.shape[2]
    diag = J2 != _ZERO32
    key = next_u64(state)
    acc = 0
    for y in range(Ly):
        yp = yp_t[y]
        ym = ym_t[y]
        for p in range(2):
            q = 1 - p
            o = 2 * p
            _field_row_f32(f, Zf[q, y, 2 + o:], Zf[q, y, o:], Zf[p, yp, 2:], Zf[p, ym, 2:],
                           Jx, Jy)
            if diag:
                _diagonal_row_f32(f, Zf[q, yp, 2 + o:], Zf[q, yp, o:], Zf[q, ym, 2 + o:],
                                  Zf[q, ym, o:], J2)
            _random_row(d, w, key, a)
            acc += _update_row_f32(Zf[p, y], U[p, y], f, d, w, beta, h)
            key += np.uint64(nk) * _GAMMA
            _ghosts_f32(Zf[p, y], nk)
    return acc


@njit(inline="always", cache=True)
def _ghosts_f32(z, nk):
    z[0] = z[2 * nk]
    z[1] = z[2 * nk + 1]
    z[2 * nk + 2] = z[2]
    z[2 * nk + 3] = z[3]


@njit(nogil=True, cache=True, fastmath=_FM, error_model="numpy")
def _vectors_u32(z, u):
    """z[2k + 2], z[2k + 3] = sc32(u[k]) for a half row."""
    for k in range(u.shape[0]):
        c, s = _sincos_u32(u[k])
        z[2 * k + 2] = c
        z[2 * k + 3] = s


@njit(nogil=True, cache=True, fastmath=_FM)
def _u32_layout(theta):
    """(Zf, U) of the angles theta (even Lx): u = round(θ mod 2π · 2^32/2π) mod 2^32 and its
    vectors sc32(u).  An angle u·2π/2^32 written by the kernel gives back u exactly."""
    Ly, Lx = theta.shape
    nk = Lx // 2
    U = np.empty((2, Ly, nk), np.uint32)
    Zf = np.empty((2, Ly, 2 * nk + 4), np.float32)
    for y in range(Ly):
        for x in range(Lx):
            t = theta[y, x] % TWO_PI
            U[x & 1, y, x >> 1] = np.uint32(np.int64(round(t * _INV_RAD32)) & 0xFFFFFFFF)
    for p in range(2):
        for y in range(Ly):
            _vectors_u32(Zf[p, y], U[p, y])
            _ghosts_f32(Zf[p, y], nk)
    return Zf, U


@njit(nogil=True, cache=True, fastmath=_FM)
def _u32_to_angles(U, dest):
    """dest[y, x] = u·2π/2^32 (in [0, 2π), exact to float64 rounding)."""
    Ly, Lx = dest.shape
    nk = Lx // 2
    for y in range(Ly):
        row = dest[y]
        u0 = U[0, y]
        u1 = U[1, y]
        for k in range(nk):
            row[2 * k] = u0[k] * _RAD32
            row[2 * k + 1] = u1[k] * _RAD32


@njit(nogil=True, cache=True)
def _proposal_scale(step):
    """a = round(min(step, π)/2π · 2^32) (<= 2^31): the proposal's largest |d|, in units of u."""
    return np.uint64(round(min(max(step, 0.0), math.pi) * _INV_RAD32))


@njit(nogil=True, cache=True, fastmath=_FM)
def _metropolis_chain_f32(theta, state, beta, Jx, Jy, J2, h, every, out, step, adapt, yp_t,
                          ym_t):
    """:func:`metropolis_chain` for even Lx without over-relaxation (float32, integer
    angles): the same arguments, step adaptation and return value."""
    Ly, Lx = theta.shape
    N = Ly * Lx
    Zf, U = _u32_layout(theta)
    f = np.empty(Lx, np.float32)
    d = np.empty(Lx // 2, np.uint32)
    w = np.empty(Lx // 2, np.uint32)
    b32, jx, jy, j2, h32 = _F32(beta), _F32(Jx), _F32(Jy), _F32(J2), _F32(h)
    total = 0
    st = step[0]
    for i in range(out.shape[0]):
        for _ in range(every):
            acc = _metropolis_pass_f32(Zf, U, f, d, w, state, b32, jx, jy, j2, h32,
                                       _proposal_scale(st), yp_t, ym_t)
            total += acc
            if adapt:
                st = _adapted_step(st, acc, N)
        _u32_to_angles(U, out[i])
    step[0] = st
    _u32_to_angles(U, theta)
    return total


@njit(nogil=True, cache=True, fastmath=_FM)
def metropolis_chain(theta, state, beta, Jx, Jy, J2, h, every, out, step, n_overrelax, adapt):
    """Run ``out.shape[0] * every`` sweeps, storing θ into ``out[i]`` after every ``every``.

    theta : float64 (Ly, Lx), updated in place (returned to [0, 2π)).
    state : uint64[4] xoshiro256** state, advanced in place.
    out   : float64 (n, Ly, Lx) receives the samples (angles in [0, 2π)).
    step  : float64[1], in/out.  The largest proposed rotation, symmetric in every case: for
            odd Lx θ' = θ + step·(2v-1), v uniform with 53 bits; for even Lx with
            over-relaxation θ' = θ + φ with φ = 4 atan(tan(step/4)·w), w uniform on a 32-bit
            grid symmetric about 0; for even Lx without it (the float32 kernel on integer
            angles, :func:`_metropolis_pass_f32`) θ' = θ ± 2π·floor(m·a/2^31)/2^32, m
            uniform on 31 bits, a = round(step/2π · 2^32), i.e. uniform on (-step, step) to
            2^-31.  A step above π counts as π.  step = 0 makes the Metropolis pass the
            identity (so a sweep is then pure over-relaxation).
    n_overrelax : over-relaxation passes after each Metropolis pass (θ -> 2φ - θ with φ the
            direction of the local field including (h, 0); energy conserving; skipped where the
            field vanishes).
    adapt : if True, after each sweep step *= exp(acceptance - 1/2), clipped to [1e-9, π]
            (moves the acceptance towards 50%).  Use only during thermalization: an adapting
            step breaks detailed balance.

    One sweep = one Metropolis pass over all sites in typewriter order, then ``n_overrelax``
    over-relaxation passes.  Returns the number of accepted Metropolis moves.

    Kernels: odd Lx, the scalar float64 pass; even Lx with over-relaxation, the float64 split
    layout (over-relaxation conserves the energy to float64 rounding); even Lx without it,
    the float32 kernel on integer angles (see the section above :func:`_reduce_u32` for its
    precision), whose samples are exactly u·2π/2^32, so that a chain restarted from them
    (``theta``) continues from the same integer angles.
    """
    Ly, Lx = theta.shape
    N = Ly * Lx
    yp_t, ym_t = _neighbour_tables(Ly)
    if Lx % 2 == 0 and n_overrelax == 0:
        return _metropolis_chain_f32(theta, state, beta, Jx, Jy, J2, h, every, out, step,
                                     adapt, yp_t, ym_t)
    xp_t, xm_t = _neighbour_tables(Lx)
    split = Lx % 2 == 0
    if split:
        Z = _split_vectors(theta)
        c = np.empty((1, 1))  # unused
        s = c
    else:
        c, s = _to_vectors(theta)
        Z = np.empty((2, 1, 1), np.complex128)
    u_buf = np.empty(Lx, np.float64)
    cd_buf = np.empty(Lx, np.float64)
    sd_buf = np.empty(Lx, np.float64)
    g = np.empty(Lx // 2, np.complex128)
    n = out.shape[0]
    total = 0
    st = step[0]
    for i in range(n):
        for _ in range(every):
            if split:
                acc = _metropolis_pass_split(Z, state, beta, Jx, Jy, J2, h, st, yp_t, ym_t, g)
            else:
                acc = _metropolis_pass(c, s, state, beta, Jx, Jy, J2, h, st,
                                       yp_t, ym_t, xp_t, xm_t, u_buf, cd_buf, sd_buf)
            total += acc
            for _k in range(n_overrelax):
                if split:
                    _overrelax_pass_split(Z, Jx, Jy, J2, h, yp_t, ym_t, g)
                else:
                    _overrelax_pass(c, s, Jx, Jy, J2, h, yp_t, ym_t, xp_t, xm_t)
            if adapt:
                st = _adapted_step(st, acc, N)
        if split:
            _split_to_angles(Z, out[i])
        else:
            _to_angles(c, s, out[i])
    step[0] = st
    if split:
        _split_to_angles(Z, theta)
    else:
        _to_angles(c, s, theta)
    return total


@njit(nogil=True, cache=True, fastmath=_FM)
def _wolff_try(c, s, mark, tag, stack, sp, j, K, pi, rx, ry, state):
    """Bond i-j (coupling factor K = 2βJ): add j to the cluster with 1 - exp(min(0, -K pi pj))."""
    if mark[j] != tag:
        pj = rx * c[j] + ry * s[j]
        a = K * pi * pj
        if a > 0.0 and uniform(state) < -math.expm1(-a):
            cn, sn = _renorm(c[j] - 2.0 * pj * rx, s[j] - 2.0 * pj * ry)
            c[j] = cn
            s[j] = sn
            mark[j] = tag
            stack[sp] = j
            sp += 1
    return sp


@njit(nogil=True, cache=True, fastmath=_FM)
def _wolff_cluster(c, s, Ly, Lx, mark, tag, stack, state, Kx, Ky, K2):
    """Grow and reflect one Wolff cluster (flat cos/sin arrays); returns its size."""
    N = Ly * Lx
    alpha = TWO_PI * uniform(state)
    rx = math.cos(alpha)
    ry = math.sin(alpha)
    seed = np.int64(randint(state, N))
    p0 = rx * c[seed] + ry * s[seed]
    cn, sn = _renorm(c[seed] - 2.0 * p0 * rx, s[seed] - 2.0 * p0 * ry)
    c[seed] = cn
    s[seed] = sn
    mark[seed] = tag
    stack[0] = seed
    sp = 1
    size = 1
    while sp > 0:
        sp -= 1
        k = stack[sp]
        y = k // Lx
        x = k - y * Lx
        # projection before the flip (the reflection negated it)
        pi = -(rx * c[k] + ry * s[k])
        yp = (y + 1 if y + 1 < Ly else 0) * Lx
        ym = (y - 1 if y > 0 else Ly - 1) * Lx
        y0 = y * Lx
        xp = x + 1 if x + 1 < Lx else 0
        xm = x - 1 if x > 0 else Lx - 1
        sp0 = sp
        # one try per bond slot: on L = 2 the slots x+1 and x-1 (and the four diagonal
        # slots) are distinct bonds to the same site, each tried once
        sp = _wolff_try(c, s, mark, tag, stack, sp, y0 + xp, Kx, pi, rx, ry, state)
        sp = _wolff_try(c, s, mark, tag, stack, sp, y0 + xm, Kx, pi, rx, ry, state)
        sp = _wolff_try(c, s, mark, tag, stack, sp, yp + x, Ky, pi, rx, ry, state)
        sp = _wolff_try(c, s, mark, tag, stack, sp, ym + x, Ky, pi, rx, ry, state)
        if K2 != 0.0:
            sp = _wolff_try(c, s, mark, tag, stack, sp, yp + xp, K2, pi, rx, ry, state)
            sp = _wolff_try(c, s, mark, tag, stack, sp, yp + xm, K2, pi, rx, ry, state)
            sp = _wolff_try(c, s, mark, tag, stack, sp, ym + xp, K2, pi, rx, ry, state)
            sp = _wolff_try(c, s, mark, tag, stack, sp, ym + xm, K2, pi, rx, ry, state)
        size += sp - sp0
    return size


#: calibration replica of :func:`wolff_clusters_per_sweep`: thermalize, then measure, for
#: this many N flipped sites, with a fixed random stream
CAL_THERM_SITES = 4
CAL_MEASURE_SITES = 4
_CALIBRATION_STATE = np.array([0x243F6A8885A308D3, 0x13198A2E03707344, 0xA4093822299F31D0,
                               0x082EFA98EC4E6C89], dtype=np.uint64)


@njit(nogil=True, cache=True, fastmath=_FM)
def wolff_clusters_per_sweep(L, beta, Jx, Jy, J2):
    """Clusters per XY Wolff sweep, K = max(1, round(N / <|C|>)), on the L × L torus.

    <|C|> is the mean cluster size of an auxiliary replica with its own fixed random stream,
    started from the uniform state, thermalized for ``CAL_THERM_SITES``·N flipped sites and
    measured over ``CAL_MEASURE_SITES``·N.  A deterministic function of (L, β, Jx, Jy, J2): it
    never looks at a chain, so storing a sample every K clusters stays exactly Boltzmann.
    """
    N = L * L
    c = np.ones(N)
    s = np.zeros(N)
    mark = np.zeros(N, np.int64)
    stack = np.empty(N, np.int64)
    state = _CALIBRATION_STATE.copy()
    Kx = 2.0 * beta * Jx
    Ky = 2.0 * beta * Jy
    K2 = 2.0 * beta * J2
    tag = 0
    flipped = 0
    while flipped < CAL_THERM_SITES * N:
        tag += 1
        flipped += _wolff_cluster(c, s, L, L, mark, tag, stack, state, Kx, Ky, K2)
    flipped = 0
    clusters = 0
    while flipped < CAL_MEASURE_SITES * N:
        tag += 1
        clusters += 1
        flipped += _wolff_cluster(c, s, L, L, mark, tag, stack, state, Kx, Ky, K2)
    return max(1, np.int64(np.round(N * clusters / flipped)))


@njit(nogil=True, cache=True, fastmath=_FM)
def wolff_chain(theta, state, beta, Jx, Jy, J2, every, out, clusters_per_sweep=0):
    """Wolff single-cluster (embedding) updates, h = 0; stores θ into out[i] every ``every`` sweeps.

    Each cluster: a random direction r = (cos α, sin α), α uniform; a uniform random seed site;
    the embedded Ising variables are the projections p_i = r·s_i and each of the eight bond slots
    of a cluster site i to a site j outside the cluster is activated with probability
    1 - exp(min(0, -2βJ_ij p_i p_j)) (any sign of J_ij; on L = 2 coinciding slots are distinct
    bonds, each tried once).  Cluster sites are reflected, s -> s - 2(r·s) r.  Growth uses an
    explicit stack.

    Sweeps.  A sweep is a *fixed* number K of single clusters: ``clusters_per_sweep`` if > 0,
    else :func:`wolff_clusters_per_sweep` (a function of L, β and the couplings only, computed
    on an auxiliary replica), so that a sweep flips about N sites on average.

    Why not "clusters until >= N sites flipped": that ends each sweep at a stopping time that
    depends on the cluster sizes, which correlate with the state (inspection paradox: the
    sweep-ending cluster is size-biased), so the stored configurations are not Boltzmann
    distributed.  On L = 2 that rule misses the exact <e> by 15-40 standard errors, and on
    L = 16 at T = 0.9 it shifts e by -0.002 (5 sigma in 1e5 samples).  Choosing K from the
    chain's own state is biased too (more weakly), hence the auxiliary replica.

    Returns the total number of flipped sites in the stored sweeps (sum of cluster sizes, a
    site counted again each time a later cluster contains it), so that
    flipped / (sweeps·N) ≈ 1.
    """
    Ly, Lx = theta.shape
    N = Ly * Lx
    c2, s2 = _to_vectors(theta)
    c = c2.reshape(N)
    s = s2.reshape(N)
    mark = np.zeros(N, np.int64)
    stack = np.empty(N, np.int64)
    Kx = 2.0 * beta * Jx
    Ky = 2.0 * beta * Jy
    K2 = 2.0 * beta * J2
    n = out.shape[0]
    tag = 0
    total = 0
    if n > 0 and every > 0:
        if clusters_per_sweep > 0:
            K = np.int64(clusters_per_sweep)
        else:
            K = wolff_clusters_per_sweep(Ly, beta, Jx, Jy, J2)
        for i in range(n):
            for _ in range(every):
                for _k in range(K):
                    tag += 1
                    total += _wolff_cluster(c, s, Ly, Lx, mark, tag, stack, state, Kx, Ky, K2)
            _to_angles(c2, s2, out[i])
    _to_angles(c2, s2, theta)
    return total


# --------------------------------------------------------------------------------------------
# Per-bond couplings (spinsym.couplings.BondCouplings)
#
# Jx[y, x] couples (y, x) to (y, x+1), Jy[y, x] to (y+1, x), J2p[y, x] to (y+1, x+1) and
# J2m[y, x] to (y+1, x-1); h[y, x] is the field at (y, x): all (Ly, Lx) float64 arrays, any
# signs.  The local field of site i sums its eight bond slots, each with its own coupling:
#
#     (hx, hy) = Σ_slots J_slot (cos θj, sin θj) + (h_i, 0),
#
# slot (0, +1) Jx[y, x], (0, -1) Jx[y, x-1], (+1, 0) Jy[y, x], (-1, 0) Jy[y-1, x],
# (+1, +1) J2p[y, x], (+1, -1) J2m[y, x], (-1, +1) J2m[y-1, x+1], (-1, -1) J2p[y-1, x-1].
#
# The per-bond kernels use the plain (scalar) passes on every L, in the order of
# :func:`_metropolis_pass` and with its random numbers; only the field is summed bond by
# bond (J_slot times the neighbour vector, slot by slot) instead of as the homogeneous
# J·(sum of neighbour vectors).  With constant arrays the per-bond pass is therefore the
# homogeneous scalar pass up to rounding in the last bits of the local field (the same
# moves, accepted or rejected alike, except where a rounding decides an acceptance, with
# probability ~1e-16 per move).  Making it bit-identical instead (summing each group of
# equal couplings as the homogeneous field does) was measured at 2-3 times the cost of the
# plain sum, so it is not done.


@njit(nogil=True, cache=True, fastmath=_FM)
def _field_cs_bonds(c, s, y, yp, ym, x, xp, xm, Jx, Jy, J2p, J2m, h):
    """Local field at (y, x) from the cos/sin arrays with per-bond couplings: the eight slots
    (see above), each with its own coupling, plus (h[y, x], 0)."""
    ax = Jx[y, x]
    bx = Jx[y, xm]
    ay = Jy[y, x]
    by = Jy[ym, x]
    d0 = J2p[y, x]   # (+1, +1)
    d1 = J2m[y, x]   # (+1, -1)
    d2 = J2m[ym, xp]  # (-1, +1)
    d3 = J2p[ym, xm]  # (-1, -1)
    hx = (ax * c[y, xp] + bx * c[y, xm] + ay * c[yp, x] + by * c[ym, x]
          + d0 * c[yp, xp] + d1 * c[yp, xm] + d2 * c[ym, xp] + d3 * c[ym, xm] + h[y, x])
    hy = (ax * s[y, xp] + bx * s[y, xm] + ay * s[yp, x] + by * s[ym, x]
          + d0 * s[yp, xp] + d1 * s[yp, xm] + d2 * s[ym, xp] + d3 * s[ym, xm])
    return hx, hy


@njit(nogil=True, cache=True, fastmath=_FM)
def local_field_bonds(theta, y, x, Jx, Jy, J2p, J2m, h):
    """Local field (hx, hy) at site (y, x) for per-bond couplings, from angles (cos/sin by
    libm; for callers and tests): Σ over the eight slots of J_slot (cos θj, sin θj) + (h, 0)."""
    Ly, Lx = theta.shape
    y = np.int64(y) % Ly
    x = np.int64(x) % Lx
    yp = y + 1 if y + 1 < Ly else np.int64(0)
    ym = y - 1 if y > 0 else Ly - 1
    xp = x + 1 if x + 1 < Lx else np.int64(0)
    xm = x - 1 if x > 0 else Lx - 1
    slots = ((y, xp, Jx[y, x]), (y, xm, Jx[y, xm]), (yp, x, Jy[y, x]), (ym, x, Jy[ym, x]),
             (yp, xp, J2p[y, x]), (yp, xm, J2m[y, x]), (ym, xp, J2m[ym, xp]),
             (ym, xm, J2p[ym, xm]))
    hx = h[y, x]
    hy = 0.0
    for k in range(8):
        yy, xx, J = slots[k]
        hx += J * math.cos(theta[yy, xx])
        hy += J * math.sin(theta[yy, xx])
    return hx, hy


@njit(nogil=True, cache=True, fastmath=_FM)
def _metropolis_pass_bonds(c, s, state, beta, Jx, Jy, J2p, J2m, h, step, yp_t, ym_t, xp_t,
                           xm_t, u_buf, cd_buf, sd_buf):
    """:func:`_metropolis_pass` with per-bond couplings (same order, random numbers and
    per-site arithmetic; the field from :func:`_field_cs_bonds`)."""
    Ly, Lx = c.shape
    acc = 0
    small = step <= math.pi
    for y in range(Ly):
        yp = yp_t[y]
        ym = ym_t[y]
        for parity in range(2):
            nk = (Lx - parity + 1) // 2
            for k in range(nk):
                cd_buf[k] = step * (2.0 * uniform(state) - 1.0)
                u_buf[k] = uniform(state)
            if small:
                for k in range(nk):
                    cd_buf[k], sd_buf[k] = _sincos(cd_buf[k])
            else:
                for k in range(nk):
                    d = cd_buf[k]
                    cd_buf[k] = math.cos(d)
                    sd_buf[k] = math.sin(d)
            for k in range(nk):
                x = parity + 2 * k
                xp = xp_t[x]
                xm = xm_t[x]
                hx, hy = _field_cs_bonds(c, s, y, yp, ym, x, xp, xm, Jx, Jy, J2p, J2m, h)
                cd = cd_buf[k]
                sd = sd_buf[k]
                ci = c[y, x]
                si = s[y, x]
                cn, sn = _renorm(ci * cd - si * sd, si * cd + ci * sd)
                dE = -(hx * (cn - ci) + hy * (sn - si))
                ok = u_buf[k] < _exp_neg(-beta * max(dE, 0.0))
                c[y, x] = cn if ok else ci
                s[y, x] = sn if ok else si
                acc += ok
    return acc


@njit(nogil=True, cache=True, fastmath=_FM)
def _overrelax_pass_bonds(c, s, Jx, Jy, J2p, J2m, h, yp_t, ym_t, xp_t, xm_t):
    """:func:`_overrelax_pass` with per-bond couplings."""
    Ly, Lx = c.shape
    for y in range(Ly):
        yp = yp_t[y]
        ym = ym_t[y]
        for parity in range(2):
            for x in range(parity, Lx, 2):
                xp = xp_t[x]
                xm = xm_t[x]
                hx, hy = _field_cs_bonds(c, s, y, yp, ym, x, xp, xm, Jx, Jy, J2p, J2m, h)
                n2 = hx * hx + hy * hy
                ci = c[y, x]
                si = s[y, x]
                if n2 > _TINY_FIELD2:
                    p = 2.0 * (ci * hx + si * hy) / n2
                    cn, sn = _renorm(p * hx - ci, p * hy - si)
                    c[y, x] = cn
                    s[y, x] = sn


@njit(nogil=True, cache=True)
def _check_bond_shapes(theta, Jx, Jy, J2p, J2m):
    shape = theta.shape
    if Jx.shape != shape or Jy.shape != shape or J2p.shape != shape or J2m.shape != shape:
        raise ValueError("the coupling arrays must have the shape of theta")


@njit(nogil=True, cache=True, fastmath=_FM)
def metropolis_chain_bonds(theta, state, beta, Jx, Jy, J2p, J2m, h, every, out, step,
                           n_overrelax, adapt):
    """:func:`metropolis_chain` with per-bond couplings: Jx, Jy, J2p, J2m and the field h
    are (Ly, Lx) float64 arrays (site (y, x) owns Jx[y, x] to (y, x+1), Jy[y, x] to
    (y+1, x), J2p[y, x] to (y+1, x+1), J2m[y, x] to (y+1, x-1) and the field h[y, x]).

    The same sweep (a Metropolis pass in the order of :func:`_metropolis_pass`, proposals
    θ + step·(2u - 1) with 53-bit uniforms, then ``n_overrelax`` reflections about the local
    field), step adaptation (``adapt``) and return value (accepted moves), on every L; with
    constant arrays, the scalar pass of the homogeneous kernel up to rounding of the field.
    """
    Ly, Lx = theta.shape
    _check_bond_shapes(theta, Jx, Jy, J2p, J2m)
    if h.shape != theta.shape:
        raise ValueError("h must have the shape of theta")
    N = Ly * Lx
    yp_t, ym_t = _neighbour_tables(Ly)
    xp_t, xm_t = _neighbour_tables(Lx)
    c, s = _to_vectors(theta)
    u_buf = np.empty(Lx, np.float64)
    cd_buf = np.empty(Lx, np.float64)
    sd_buf = np.empty(Lx, np.float64)
    total = 0
    st = step[0]
    for i in range(out.shape[0]):
        for _ in range(every):
            acc = _metropolis_pass_bonds(c, s, state, beta, Jx, Jy, J2p, J2m, h, st,
                                         yp_t, ym_t, xp_t, xm_t, u_buf, cd_buf, sd_buf)
            total += acc
            for _k in range(n_overrelax):
                _overrelax_pass_bonds(c, s, Jx, Jy, J2p, J2m, h, yp_t, ym_t, xp_t, xm_t)
            if adapt:
                st = _adapted_step(st, acc, N)
        _to_angles(c, s, out[i])
    step[0] = st
    _to_angles(c, s, theta)
    return total


@njit(nogil=True, cache=True, fastmath=_FM)
def _coupling_factors(beta, Jx, Jy, J2p, J2m):
    """K = 2βJ per bond, (4, N): rows Jx, Jy, J2p, J2m, column the owning site y·Lx + x;
    and whether any diagonal bond is nonzero."""
    Ly, Lx = Jx.shape
    K = np.empty((4, Ly * Lx), np.float64)
    diagonals = False
    for y in range(Ly):
        for x in range(Lx):
            i = y * Lx + x
            K[0, i] = 2.0 * beta * Jx[y, x]
            K[1, i] = 2.0 * beta * Jy[y, x]
            K[2, i] = 2.0 * beta * J2p[y, x]
            K[3, i] = 2.0 * beta * J2m[y, x]
            diagonals = diagonals or K[2, i] != 0.0 or K[3, i] != 0.0
    return K, diagonals


@njit(nogil=True, cache=True, fastmath=_FM)
def _wolff_cluster_bonds(c, s, Ly, Lx, mark, tag, stack, state, K, diagonals):
    """:func:`_wolff_cluster` with per-bond factors K (:func:`_coupling_factors`): the same
    slots in the same order, each with the K of its bond; a zero bond is never activated and
    draws nothing, so ``diagonals`` false (every diagonal zero) may skip those slots."""
    N = Ly * Lx
    alpha = TWO_PI * uniform(state)
    rx = math.cos(alpha)
    ry = math.sin(alpha)
    seed = np.int64(randint(state, N))
    p0 = rx * c[seed] + ry * s[seed]
    cn, sn = _renorm(c[seed] - 2.0 * p0 * rx, s[seed] - 2.0 * p0 * ry)
    c[seed] = cn
    s[seed] = sn
    mark[seed] = tag
    stack[0] = seed
    sp = 1
    size = 1
    while sp > 0:
        sp -= 1
        k = stack[sp]
        y = k // Lx
        x = k - y * Lx
        pi = -(rx * c[k] + ry * s[k])
        yp = (y + 1 if y + 1 < Ly else 0) * Lx
        ym = (y - 1 if y > 0 else Ly - 1) * Lx
        y0 = y * Lx
        xp = x + 1 if x + 1 < Lx else 0
        xm = x - 1 if x > 0 else Lx - 1
        sp0 = sp
        sp = _wolff_try(c, s, mark, tag, stack, sp, y0 + xp, K[0, k], pi, rx, ry, state)
        sp = _wolff_try(c, s, mark, tag, stack, sp, y0 + xm, K[0, y0 + xm], pi, rx, ry, state)
        sp = _wolff_try(c, s, mark, tag, stack, sp, yp + x, K[1, k], pi, rx, ry, state)
        sp = _wolff_try(c, s, mark, tag, stack, sp, ym + x, K[1, ym + x], pi, rx, ry, state)
        if diagonals:
            sp = _wolff_try(c, s, mark, tag, stack, sp, yp + xp, K[2, k], pi, rx, ry, state)
            sp = _wolff_try(c, s, mark, tag, stack, sp, yp + xm, K[3, k], pi, rx, ry, state)
            sp = _wolff_try(c, s, mark, tag, stack, sp, ym + xp, K[3, ym + xp], pi, rx, ry,
                            state)
            sp = _wolff_try(c, s, mark, tag, stack, sp, ym + xm, K[2, ym + xm], pi, rx, ry,
                            state)
        size += sp - sp0
    return size


@njit(nogil=True, cache=True, fastmath=_FM)
def wolff_clusters_per_sweep_bonds(beta, Jx, Jy, J2p, J2m):
    """:func:`wolff_clusters_per_sweep` for per-bond couplings ((L, L) arrays): the same
    auxiliary replica (uniform start, fixed stream), so a deterministic function of
    (L, β, couplings), equal to the homogeneous count for constant arrays."""
    Ly, Lx = Jx.shape
    N = Ly * Lx
    K, diagonals = _coupling_factors(beta, Jx, Jy, J2p, J2m)
    c = np.ones(N)
    s = np.zeros(N)
    mark = np.zeros(N, np.int64)
    stack = np.empty(N, np.int64)
    state = _CALIBRATION_STATE.copy()
    tag = 0
    flipped = 0
    while flipped < CAL_THERM_SITES * N:
        tag += 1
        flipped += _wolff_cluster_bonds(c, s, Ly, Lx, mark, tag, stack, state, K, diagonals)
    flipped = 0
    clusters = 0
    while flipped < CAL_MEASURE_SITES * N:
        tag += 1
        clusters += 1
        flipped += _wolff_cluster_bonds(c, s, Ly, Lx, mark, tag, stack, state, K, diagonals)
    return max(1, np.int64(np.round(N * clusters / flipped)))


@njit(nogil=True, cache=True, fastmath=_FM)
def wolff_chain_bonds(theta, state, beta, Jx, Jy, J2p, J2m, every, out, clusters_per_sweep=0):
    """:func:`wolff_chain` with per-bond couplings ((L, L) arrays as in
    :func:`metropolis_chain_bonds`), any signs, h = 0: the bond i-j of a cluster site is
    activated with probability 1 - exp(min(0, -2βJ_ij p_i p_j)).  A sweep is
    ``clusters_per_sweep`` (if > 0) or :func:`wolff_clusters_per_sweep_bonds` clusters.  With
    constant arrays the chain is bit for bit that of :func:`wolff_chain`.  Returns the total
    number of flipped sites."""
    Ly, Lx = theta.shape
    _check_bond_shapes(theta, Jx, Jy, J2p, J2m)
    N = Ly * Lx
    c2, s2 = _to_vectors(theta)
    c = c2.reshape(N)
    s = s2.reshape(N)
    mark = np.zeros(N, np.int64)
    stack = np.empty(N, np.int64)
    K, diagonals = _coupling_factors(beta, Jx, Jy, J2p, J2m)
    n = out.shape[0]
    tag = 0
    total = 0
    if n > 0 and every > 0:
        if clusters_per_sweep > 0:
            nc = np.int64(clusters_per_sweep)
        else:
            nc = wolff_clusters_per_sweep_bonds(beta, Jx, Jy, J2p, J2m)
        for i in range(n):
            for _ in range(every):
                for _k in range(nc):
                    tag += 1
                    total += _wolff_cluster_bonds(c, s, Ly, Lx, mark, tag, stack, state, K,
                                                  diagonals)
            _to_angles(c2, s2, out[i])
    _to_angles(c2, s2, theta)
    return total


# --------------------------------------------------------------------------- stored samples
#
# The energy and magnetization stored beside each sample are those of the stored float32
# angles, computed with the arithmetic of hamiltonians.xy_energy and XYModel.magnetization
# (NumPy): the same float64 operations in the same order, libm cos and sin (which NumPy's
# float64 cos and sin call), and NumPy's pairwise summation (_numpy_sum).  No fastmath here:
# a fused multiply-add or a reordered sum would change the last bits.


@njit(nogil=True, cache=True)
def _pairwise_leaf(a, lo, n):
    """NumPy's pairwise sum of a[lo:lo + n] for n <= 128: below 8 terms a plain loop, else
    eight accumulators, their tree, then the rest."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    m = n - n % 8
    while i < m:
        j = lo + i
        r0 += a[j]
        r1 += a[j + 1]
        r2 += a[j + 2]
        r3 += a[j + 3]
        r4 += a[j + 4]
        r5 += a[j + 5]
        r6 += a[j + 6]
        r7 += a[j + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@njit(nogil=True, cache=True)
def _pairwise(a, lo, n):
    """NumPy's pairwise sum of a[lo:lo + n] (``pairwise_sum`` in NumPy's loops_utils.h): up to
    128 terms :func:`_pairwise_leaf`, else the sum of two halves, the first a multiple of 8
    (the recursion kept on an explicit stack)."""
    if n <= 128:
        return _pairwise_leaf(a, lo, n)
    los = np.empty(64, np.int64)
    ns = np.empty(64, np.int64)
    stage = np.zeros(64, np.int64)
    vals = np.empty(64, np.float64)
    nv = 0
    los[0], ns[0], stage[0] = lo, n, 0
    sp = 1
    while sp:
        top = sp - 1
        m = ns[top]
        if m <= 128:
            vals[nv] = _pairwise_leaf(a, los[top], m)
            nv += 1
            sp -= 1
            continue
        n2 = m // 2
        n2 -= n2 % 8
        if stage[top] == 0:
            stage[top] = 1
            los[sp], ns[sp], stage[sp] = los[top], n2, 0
            sp += 1
        elif stage[top] == 1:
            stage[top] = 2
            los[sp], ns[sp], stage[sp] = los[top] + n2, m - n2, 0
            sp += 1
        else:
            nv -= 1
            vals[nv - 1] = vals[nv - 1] + vals[nv]
            sp -= 1
    return vals[0]


@njit(nogil=True, cache=True)
def _numpy_sum(a, n, bufsize):
    """``a[:n].sum()`` as NumPy computes it for float64: the identity 0.0, plus the pairwise
    sum of each run of ``bufsize`` terms (NumPy's reduction hands its loop at most a buffer,
    :func:`numpy.getbufsize`, at a time)."""
    res = 0.0
    for lo in range(0, n, bufsize):
        res = res + _pairwise(a, lo, min(bufsize, n - lo))
    return res


@njit(nogil=True, cache=True)
def stored_observables(samples, Jx, Jy, J2, h, obs, bufsize=8192):
    """For each sample ``samples[i]`` (angles (n, Ly, Lx), any float dtype), stored as
    float32: ``obs[i] = (E, mx, my)`` with E = :func:`spinsym.hamiltonians.xy_energy` and
    (mx, my) the model's stored magnetization (:meth:`spinsym.models.xy.XYModel.magnetization`)
    of the stored angles, equal to them bit for bit (homogeneous couplings); ``bufsize``:
    NumPy's :func:`numpy.getbufsize`, which sets how NumPy splits long sums.

    The diagonal term ``J2 * (cos + cos)`` is evaluated only where it can change the site's
    sum: with J2 = 0 it is a signed zero, which leaves a nonzero sum as it is (and is then
    computed where the rest is zero, for its sign)."""
    n, Ly, Lx = samples.shape
    N = Ly * Lx
    t = np.empty((Ly, Lx), np.float64)
    cs = np.empty(N, np.float64)
    sn = np.empty(N, np.float64)
    row = np.empty(Lx, np.float64)
    rows = np.empty(Ly, np.float64)
    lazy = J2 == 0.0
    for i in range(n):
        for y in range(Ly):
            for x in range(Lx):
                t[y, x] = np.float64(np.float32(samples[i, y, x]))
        for y in range(Ly):
            yd = y + 1 if y + 1 < Ly else 0
            for x in range(Lx):
                xr = x + 1 if x + 1 < Lx else 0
                xl = x - 1 if x > 0 else Lx - 1
                ti = t[y, x]
                c0 = math.cos(ti)
                cs[y * Lx + x] = c0
                sn[y * Lx + x] = math.sin(ti)
                a = Jx * math.cos(ti - t[y, xr]) + Jy * math.cos(ti - t[yd, x])
                if not lazy or a == 0.0:
                    a = a + J2 * (math.cos(ti - t[yd, xr]) + math.cos(ti - t[yd, xl]))
                row[x] = a + h * c0
            rows[y] = _numpy_sum(row, Lx, bufsize)
        obs[i, 0] = -_numpy_sum(rows, Ly, bufsize)
        obs[i, 1] = _numpy_sum(cs, N, bufsize) / N
        obs[i, 2] = _numpy_sum(sn, N, bufsize) / N
