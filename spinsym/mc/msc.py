"""Multi-spin-coded Ising Metropolis and heat bath: 64 sites of ONE lattice per uint64 word.

Exactly the Markov chain family of :mod:`spinsym.mc.ising` (same energy convention, same
acceptance probabilities to the last bit), only faster: a word holds up to 64 sites of one
2 × 2 sublattice, the neighbour classes of all of them are computed with bitwise logic, and the
Metropolis / heat-bath coin flips of the whole word are drawn together, bit-plane by bit-plane.

Storage (packed, only inside a call; the interface is the scalar kernels' int8 (L, L) array).
L even, n = L/2.  Sublattice k = 2·(y mod 2) + (x mod 2) is an n × n array of sites
(i, j) = (y // 2, x // 2).  Each sublattice row of n sites is stored in W words of B lanes,
B = the largest divisor of n that is at most 64 and W = n / B, *strided*: lane b of word w is
column j = b·W + w.  Then column j ± 1 of the partner sublattice is the same lane of word
w ± 1, except at the row ends, where it is word 0 (word W-1) rotated by one lane within the B
lanes: no shuffles and no gathers, for every even L (L = 512: B = 64, W = 4; L = 8: B = 4,
W = 1; L = 2: B = W = 1, where x+1 and x-1 name the same site, two distinct bonds, as in the
energy convention).  Bit value 1 means s = -1.  Unused lanes (b >= B) stay 0 and are masked
out of every update.

Sweep: the four sublattices k = 0, 1, 2, 3 in turn (valid for any J2; with J2 = 0 the pairs
{0, 3} and {1, 2} are the two checkerboard colours), rows i increasing, words w increasing.
Sites of one sublattice share no bond, so updating the 64 lanes of a word at once is the same
as updating them one after the other.

Local class of each lane, bitwise: with a = s XOR s_neighbour (1 on an unsatisfied bond), the
number of unsatisfied x-bonds bx ∈ {0, 1, 2}, y-bonds by ∈ {0, 1, 2}, diagonal bonds
bd ∈ {0..4} (only when J2 != 0) and the spin s (only when h != 0), as one-hot masks.  The flip
energy of a class is computed with the scalar kernel's own formula and table
(:func:`spinsym.mc.ising._thresholds`): the neighbour sums are sx = s·(2 - 2bx),
sy = s·(2 - 2by), sd = s·(4 - 2bd), so every class gets *the same* 53-bit integer threshold t
as the scalar kernel: flip with probability exactly t / 2^53 (Metropolis: t = -1 means
ΔE <= 0, flip without a draw; t >= 2^53, i.e. p rounded to 1, also flips without a draw).
Classes with equal t are merged into groups.

Coin flips (exact, 53-bit): every lane that needs a draw compares its own uniform 53-bit
number U with its own threshold t, most significant bit first.  Plane q draws one xoshiro256**
word (one fresh random bit per lane) and forms the lanes' q-th threshold bit from the group
masks; a lane is decided at the first plane where its random bit differs from its threshold
bit (flip iff that bit of t is 1, i.e. U < t); lanes equal on all 53 planes have U = t and do
not flip.  When any lane of a word needs a draw, the first Q0 = floor(log2 B) + 3 planes
(B = 64: 9) are drawn unconditionally (:func:`_first_planes`: no data-dependent branch in the
common case), then one plane at a time while any lane is undecided; a lane's decision depends
only on its own bits up to its first differing plane, so the planes drawn after it is decided
do not change the law.  Lanes never share a random bit, so the 64 coin flips are
independent, each with probability exactly t/2^53, as in the scalar kernel (whose
test ``(next_u64 >> 11) < t`` has the same law).  The random stream differs from the scalar
kernel's, so the two give different (equally distributed) chains for one seed.

Two code paths share the classes, thresholds and random stream (so they give identical
chains): isotropic nearest-neighbour couplings with h = 0 (``_sweeps_iso``: the class is the
number b of unsatisfied bonds, two values of b need a draw, masks in registers) and everything
else (``_sweeps``: one-hot feature masks, classes merged into groups of equal threshold).

Speed (``benchmarks/mc_speed.py`` measures it against the scalar kernel): the fewer local
classes need a random draw, the faster; isotropic nearest-neighbour couplings are fastest.  With
J2 != 0 and h != 0 (45 classes need draws) the scalar kernel is faster, so the driver keeps it
there (:func:`preferred`: at most ``MAX_DRAWN_CLASSES`` classes that need a draw; heat bath
draws for every class, so it runs here when J2 = 0).  Packing and unpacking (only when a
configuration is stored) are 8 × 8 bit transposes.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.core import types
from numba.extending import intrinsic

from .ising import _delta_e, _index, _next_regs, _thresholds

_U = np.uint64
_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)
_PLANES = 53  # thresholds are 53-bit integers (as the scalar kernels' uniform)
_TWO53 = np.int64(1) << np.int64(53)
_ALL = 5  # index of the all-ones mask in the one-hot tables (feature not used)


@intrinsic
def _popcount(typingctx, x):
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen


def lanes(L: int) -> tuple:
    """(B, W): lanes used per word and words per sublattice row for an even L."""
    n = L // 2
    B = max(b for b in range(1, min(n, 64) + 1) if n % b == 0)
    return B, n // B


def supported(L: int) -> bool:
    """Whether the multi-spin kernel is used (the driver's choice) at this even L.

    Every even L works; only where a word would hold fewer than 16 sites of a long row
    (n = L/2 > 64 with no divisor in 16..64, e.g. L = 2·67) is the scalar kernel faster.
    """
    if L < 2 or L % 2:
        return False
    B, _ = lanes(L)
    return B == L // 2 or B >= 16


#: the multi-spin kernel is preferred while at most this many local classes need a draw
MAX_DRAWN_CLASSES = 24


def drawn_classes(Jx: float, Jy: float, J2: float, h: float, heatbath: bool = False) -> int:
    """Number of local classes (bx, by[, bd][, s]) whose flip needs a random draw at a
    generic temperature: those with ΔE > 0 for Metropolis, all of them for heat bath."""
    count = 0
    for bx in range(3):
        for by in range(3):
            for bd in (range(5) if J2 != 0.0 else (2,)):
                for s in ((1, -1) if h != 0.0 else (1,)):
                    de = _delta_e(s, s * (2 - 2 * bx), s * (2 - 2 * by), s * (4 - 2 * bd),
                                  float(Jx), float(Jy), float(J2), float(h))
                    count += heatbath or de > 0.0
    return count


def preferred(L: int, Jx: float, Jy: float, J2: float, h: float, heatbath: bool = False) -> bool:
    """Whether ``--algorithm metropolis`` / ``heatbath`` use the multi-spin kernel.

    It needs an even L with at least 16 sites per word (or a whole row in a word), and it
    is faster than the scalar kernel unless many local classes need a draw (anisotropic
    couplings with J2 != 0 and a field, or heat bath with J2 != 0): see
    ``MAX_DRAWN_CLASSES`` and benchmarks/mc_speed.py.
    """
    return supported(L) and drawn_classes(Jx, Jy, J2, h, heatbath) <= MAX_DRAWN_CLASSES


@njit(nogil=True, cache=True)
def _layout(L):
    n = L // 2
    B = 1
    for b in range(1, min(n, 64) + 1):
        if n % b == 0:
            B = b
    return n, B, n // B


@njit(inline="always", cache=True)
def _transpose8(x):
    """Transpose the 8 × 8 bit matrix in x (row i = byte i, column j = bit j of the byte)."""
    x = ((x & _U(0xAA55AA55AA55AA55)) | ((x & _U(0x00AA00AA00AA00AA)) << _U(7))
         | ((x >> _U(7)) & _U(0x00AA00AA00AA00AA)))
    x = ((x & _U(0xCCCC3333CCCC3333)) | ((x & _U(0x0000CCCC0000CCCC)) << _U(14))
         | ((x >> _U(14)) & _U(0x0000CCCC0000CCCC)))
    x = ((x & _U(0xF0F0F0F00F0F0F0F)) | ((x & _U(0x00000000F0F0F0F0)) << _U(28))
         | ((x >> _U(28)) & _U(0x00000000F0F0F0F0)))
    return x


_LOW_BITS = np.uint64(0x0101010101010101)
_GATHER = np.uint64(0x0102040810204080)  # (t * _GATHER) >> 56 packs bits 0, 8, .., 56 of t


@njit(nogil=True, cache=True)
def _fast_layout(L):
    """Whether pack/unpack can use the 8 × 8 bit-transpose path (B and 2W multiples of 8)."""
    n, B, W = _layout(L)
    return B % 8 == 0 and (2 * W) % 8 == 0


@njit(nogil=True, cache=True)
def pack(spins, packed):
    """int8 (L, L) spins -> packed uint64 (4, n, W) (bit 1 for s = -1); see :func:`unpack`."""
    _pack_rows(spins, packed, 0, spins.shape[0])


@njit(nogil=True, cache=True)
def _pack_rows(spins, packed, y0, y1):
    """:func:`pack` of the lattice rows y0 .. y1-1 (each fills its own packed rows)."""
    L = spins.shape[0]
    n, B, W = _layout(L)
    stride = 2 * W
    flat = spins.reshape(L * L)
    if _fast_layout(L):
        words = flat.view(np.uint64)
        G = stride // 8  # groups of 8 columns of the (B, 2W) view of a row
        for y in range(y0, y1):
            i = y >> 1
            base = y * (L // 8)
            k0 = 2 * (y & 1)
            for g in range(G):
                for c in range(8):
                    cc = 8 * g + c
                    packed[k0 + (cc & 1), i, cc >> 1] = 0
                for j in range(B // 8):
                    m = _U(0)
                    for b in range(8):
                        v = (words[base + (8 * j + b) * G + g] >> _U(7)) & _LOW_BITS
                        m |= ((v * _GATHER) >> _U(56)) << _U(8 * b)
                    m = _transpose8(m)
                    for c in range(8):
                        cc = 8 * g + c
                        byte = (m >> _U(8 * c)) & _U(0xFF)
                        packed[k0 + (cc & 1), i, cc >> 1] |= byte << _U(8 * j)
        return
    for y in range(y0, y1):
        i = y >> 1
        base = y * L
        for px in range(2):
            r = packed[2 * (y & 1) + px, i]
            for w in range(W):
                o = base + 2 * w + px
                v = _U(0)
                for b in range(B):
                    v |= _U(flat[o + stride * b] < 0) << _U(b)
                r[w] = v


@njit(nogil=True, cache=True)
def _spread_lanes(words, o, G, B, s0, s1, s2, s3, s4, s5, s6, s7):
    """words[o + b·G] (8 int8 spins) for b < B: byte c is lane b of s_c, as +1 (bit 0) or
    -1 (bit 1): 0x01 + 0xFE·bit, byte by byte (no carries).  Loads only scalars, so the loop
    over b vectorizes (variable shifts)."""
    one = _U(1)
    for b in range(B):
        q = _U(b)
        x = (((s0 >> q) & one) | (((s1 >> q) & one) << _U(8)) | (((s2 >> q) & one) << _U(16))
             | (((s3 >> q) & one) << _U(24)) | (((s4 >> q) & one) << _U(32))
             | (((s5 >> q) & one) << _U(40)) | (((s6 >> q) & one) << _U(48))
             | (((s7 >> q) & one) << _U(56)))
        words[o + b * G] = _LOW_BITS + x * _U(0xFE)


@njit(nogil=True, cache=True)
def unpack(packed, spins):
    """packed uint64 (4, n, W) -> int8 (L, L) spins.

    Lane b of word w of sublattice (py, px), row i, is column x = 2W·b + 2w + px of row
    y = 2i + py: each word fills one column of the row seen as a (B, 2W) byte matrix.  When
    B and 2W are multiples of 8 (L = 512: B = 64, 2W = 8), each group of 8 consecutive columns
    (8 words) gives one 8-spin word per lane, written 8 spins at a time (:func:`_spread_lanes`).
    """
    _unpack_rows(packed, spins, 0, spins.shape[0])


@njit(nogil=True, cache=True)
def _unpack_rows(packed, spins, y0, y1):
    """:func:`unpack` of the lattice rows y0 .. y1-1."""
    L = spins.shape[0]
    n, B, W = _layout(L)
    stride = 2 * W
    flat = spins.reshape(L * L)
    if _fast_layout(L):
        words = flat.view(np.uint64)
        G = stride // 8
        for y in range(y0, y1):
            i = y >> 1
            base = y * (L // 8)
            r0 = packed[2 * (y & 1), i]
            r1 = packed[2 * (y & 1) + 1, i]
            for g in range(G):
                w = 4 * g  # columns cc = 8g .. 8g+7: word cc >> 1 of sublattice cc & 1
                _spread_lanes(words, base + g, G, B, r0[w], r1[w], r0[w + 1], r1[w + 1],
                              r0[w + 2], r1[w + 2], r0[w + 3], r1[w + 3])
        return
    for y in range(y0, y1):
        i = y >> 1
        base = y * L
        for px in range(2):
            r = packed[2 * (y & 1) + px, i]
            for w in range(W):
                v = r[w]
                o = base + 2 * w + px
                for b in range(B):
                    flat[o + stride * b] = np.int8(1 - 2 * np.int64((v >> _U(b)) & _U(1)))


@njit(nogil=True, cache=True)
def _classes(beta, Jx, Jy, J2, h, heatbath):
    """Classes that need a draw, their groups, and the groups' threshold bit planes.

    Returns (cx, cy, cd, cs, cg, planes): class c is the lanes with one-hot indices
    (bx, by, bd, s) = (cx[c], cy[c], cd[c], cs[c]) (``_ALL``: feature unused) and belongs to
    group cg[c]; planes[g, q] is all ones iff bit 52 - q of group g's threshold is 1.
    """
    th = _thresholds(beta, Jx, Jy, J2, h, heatbath)
    dlist = np.arange(5) if J2 != 0.0 else np.full(1, _ALL)
    slist = np.arange(2) if h != 0.0 else np.full(1, _ALL)
    ncls = 3 * 3 * len(dlist) * len(slist)
    cx = np.empty(ncls, np.int64)
    cy = np.empty(ncls, np.int64)
    cd = np.empty(ncls, np.int64)
    cs = np.empty(ncls, np.int64)
    cg = np.empty(ncls, np.int64)
    tg = np.empty(ncls, np.int64)
    nc = 0
    ng = 0
    for bx in range(3):
        for by in range(3):
            for bd in dlist:
                for si in slist:
                    s = -1 if si == 1 else 1  # one-hot 0: s = +1 (bit 0); 1: s = -1
                    nbd = 2 if bd == _ALL else bd  # J2 = 0: sd plays no role
                    t = th[_index(s, s * (2 - 2 * bx), s * (2 - 2 * by), s * (4 - 2 * nbd))]
                    if t < 0 or t >= _TWO53:
                        continue  # flips without a draw
                    g = -1
                    for k in range(ng):
                        if tg[k] == t:
                            g = k
                    if g < 0:
                        g = ng
                        tg[ng] = t
                        ng += 1
                    cx[nc] = bx
                    cy[nc] = by
                    cd[nc] = bd
                    cs[nc] = si
                    cg[nc] = g
                    nc += 1
    planes = np.zeros((max(ng, 1), _PLANES), np.uint64)
    for g in range(ng):
        for q in range(_PLANES):
            if (tg[g] >> np.int64(_PLANES - 1 - q)) & np.int64(1):
                planes[g, q] = _ONES
    return cx[:nc], cy[:nc], cd[:nc], cs[:nc], cg[:nc], planes, ng


@njit(inline="always", cache=True)
def _plane(pk, acc, und, s0, s1, s2, s3):
    """One bit plane of the coin flips: ``pk`` holds each lane's threshold bit of this plane;
    a fresh random word decides the open lanes (``und``) whose bit differs from it (flip,
    into ``acc``, where the threshold bit is 1).  Returns (acc, und, s0, s1, s2, s3)."""
    u, s0, s1, s2, s3 = _next_regs(s0, s1, s2, s3)
    return acc | (und & pk & ~u), und & ~(u ^ pk), s0, s1, s2, s3


@njit(inline="always", cache=True)
def _plane_bits(M, planes, ng, q):
    """The lanes' threshold bits of plane q: the union over groups g of M[g] & planes[g, q]."""
    pk = _U(0)
    for g in range(ng):
        pk |= M[g] & planes[g, q]
    return pk


@njit(inline="always", cache=True)
def _first_planes(B):
    """Bit planes drawn without a test once any of the B lanes of a word needs a draw:
    floor(log2 B) + 3 (B = 64: 9), about the planes it takes to decide every open lane.
    Drawing them unconditionally removes the data-dependent loop exit (a mispredicted branch
    per word); it changes only which random words are drawn, not the law (see the module
    docstring)."""
    q = 3
    while B > 1:
        B >>= 1
        q += 1
    return q


@njit(inline="always", cache=True)
def _right(r, w, W, B):
    """Lanes of column j + 1 for word w of row array r (strided layout)."""
    if w + 1 < W:
        return r[w + 1]
    v = r[0]
    return (v >> _U(1)) | ((v & _U(1)) << _U(B - 1))


@njit(inline="always", cache=True)
def _left(r, w, W, B, maskB):
    """Lanes of column j - 1 for word w of row array r."""
    if w > 0:
        return r[w - 1]
    v = r[W - 1]
    return ((v << _U(1)) & maskB) | (v >> _U(B - 1))


@njit(nogil=True, cache=True)
def _pass(P, k, lo, hi, st, cx, cy, cd, cs, cg, planes, ng, use_d, use_s, neg=None):
    """Update rows ``lo .. hi-1`` of sublattice k (one colour: their sites share no bond) with
    the random stream ``st`` (uint64[4], advanced in place); returns the number of flips.

    ``neg``: None (homogeneous couplings; Numba compiles the sign code away), or the ±J sign
    planes (8, 4, n, W) of :func:`sign_planes`, XORed into every bond's "unsatisfied" bit."""
    n = P.shape[1]
    W = P.shape[2]
    B = n // W
    maskB = _ONES if B == 64 else (_U(1) << _U(B)) - _U(1)
    Q0 = _first_planes(B)
    X = np.empty(6, np.uint64)
    Y = np.empty(6, np.uint64)
    D = np.empty(6, np.uint64)
    S = np.empty(6, np.uint64)
    X[_ALL] = _ONES
    Y[_ALL] = _ONES
    D[_ALL] = _ONES
    S[_ALL] = _ONES
    M = np.zeros(max(ng, 1), np.uint64)
    nc = cx.shape[0]
    s0 = st[0]
    s1 = st[1]
    s2 = st[2]
    s3 = st[3]
    flips = np.int64(0)
    py = k >> 1
    px = k & 1
    kx = 2 * py + (1 - px)  # x partners
    ky = 2 * (1 - py) + px  # y partners
    kd = 2 * (1 - py) + (1 - px)  # diagonal partners
    for i in range(lo, hi):
        iu = i + py if i + py < n else 0  # partner row of y + 1
        idn = i - (1 - py) if i - (1 - py) >= 0 else n - 1  # partner row of y - 1
        row = P[k, i]
        rx = P[kx, i]
        ryu = P[ky, iu]
        ryd = P[ky, idn]
        rdu = P[kd, iu]
        rdd = P[kd, idn]
        if neg is not None:
            sg = neg[:, k, i]
        for w in range(W):
            s = row[w]
            if px == 0:
                xr = rx[w]
                xl = _left(rx, w, W, B, maskB)
            else:
                xr = _right(rx, w, W, B)
                xl = rx[w]
            a1 = s ^ xr
            a2 = s ^ xl
            if neg is not None:
                a1 ^= sg[0, w]
                a2 ^= sg[1, w]
            X[0] = ~(a1 | a2) & maskB
            X[1] = a1 ^ a2
            X[2] = a1 & a2
            a1 = s ^ ryu[w]
            a2 = s ^ ryd[w]
            if neg is not None:
                a1 ^= sg[2, w]
                a2 ^= sg[3, w]
            Y[0] = ~(a1 | a2) & maskB
            Y[1] = a1 ^ a2
            Y[2] = a1 & a2
            if use_d:
                if px == 0:
                    d1 = s ^ rdu[w]
                    d2 = s ^ _left(rdu, w, W, B, maskB)
                    d3 = s ^ rdd[w]
                    d4 = s ^ _left(rdd, w, W, B, maskB)
                else:
                    d1 = s ^ _right(rdu, w, W, B)
                    d2 = s ^ rdu[w]
                    d3 = s ^ _right(rdd, w, W, B)
                    d4 = s ^ rdd[w]
                if neg is not None:
                    d1 ^= sg[4, w]  # (y+1, x+1)
                    d2 ^= sg[6, w]  # (y+1, x-1)
                    d3 ^= sg[7, w]  # (y-1, x+1)
                    d4 ^= sg[5, w]  # (y-1, x-1)
                p0 = ~(d1 | d2) & maskB
                p1 = d1 ^ d2
                p2 = d1 & d2
                q0 = ~(d3 | d4) & maskB
                q1 = d3 ^ d4
                q2 = d3 & d4
                D[0] = p0 & q0
                D[1] = (p1 & q0) | (p0 & q1)
                D[2] = (p2 & q0) | (p1 & q1) | (p0 & q2)
                D[3] = (p2 & q1) | (p1 & q2)
                D[4] = p2 & q2
            if use_s:
                S[0] = ~s & maskB
                S[1] = s
            for g in range(ng):
                M[g] = 0
            for c in range(nc):
                M[cg[c]] |= X[cx[c]] & Y[cy[c]] & D[cd[c]] & S[cs[c]]
            und = _U(0)
            for g in range(ng):
                und |= M[g]
            acc = maskB & ~und
            q = 0
            if und != _U(0):  # the first Q0 planes without a test (see _first_planes)
                for q in range(Q0):
                    acc, und, s0, s1, s2, s3 = _plane(_plane_bits(M, planes, ng, q), acc, und,
                                                      s0, s1, s2, s3)
                q = Q0
            while und != _U(0) and q < _PLANES:
                acc, und, s0, s1, s2, s3 = _plane(_plane_bits(M, planes, ng, q), acc, und,
                                                  s0, s1, s2, s3)
                q += 1
            row[w] = s ^ acc
            flips += np.int64(_popcount(acc))
    st[0] = s0
    st[1] = s1
    st[2] = s2
    st[3] = s3
    return flips


@njit(nogil=True, cache=True)
def _sweeps(P, state, nsweep, cx, cy, cd, cs, cg, planes, ng, use_d, use_s, neg=None):
    """``nsweep`` sweeps of the packed lattice P (4, n, W) with one random stream ``state``:
    the four sublattices in turn, each a :func:`_pass` over all its rows; returns the number
    of flips.  ``neg``: the ±J sign planes or None (see :func:`_pass`)."""
    n = P.shape[1]
    flips = np.int64(0)
    for _ in range(nsweep):
        for k in range(4):
            flips += _pass(P, k, 0, n, state, cx, cy, cd, cs, cg, planes, ng, use_d, use_s, neg)
    return flips


@njit(nogil=True, cache=True)
def _iso_groups(beta, J, heatbath):
    """Isotropic nearest-neighbour couplings (Jx = Jy = J, J2 = 0, h = 0): the class of a lane
    is b, its number of unsatisfied bonds (0..4).  Returns (ga, gb, planes) with ga, gb the
    (at most two) values of b that need a draw (-1: none) and planes[0/1, q] their threshold
    bits; None-equivalent (-2, ...) if more than two values of b need a draw (heat bath)."""
    th = _thresholds(beta, J, J, 0.0, 0.0, heatbath)
    planes = np.zeros((2, _PLANES), np.uint64)
    g = np.full(2, -1, np.int64)
    ng = 0
    for b in range(5):
        t = th[_index(1, 2 - 2 * min(b, 2), 2 - 2 * max(b - 2, 0), 0)]
        if t < 0 or t >= _TWO53:
            continue
        if ng == 2:
            return -2, -2, planes
        g[ng] = b
        for q in range(_PLANES):
            if (t >> np.int64(_PLANES - 1 - q)) & np.int64(1):
                planes[ng, q] = _ONES
        ng += 1
    return g[0], g[1], planes


@njit(nogil=True, cache=True)
def _pass_iso(P, k, lo, hi, st, ga, gb, planes, neg=None):
    """:func:`_pass` for isotropic nearest-neighbour couplings with h = 0 and at most two
    values of b (unsatisfied bonds) that need a draw, b in {0, 1} (J > 0) or {3, 4} (J < 0):
    the same classes, thresholds and random stream as the generic path, with the class masks
    kept in registers.  ``neg``: the ±J sign planes, as in :func:`_pass`."""
    n = P.shape[1]
    W = P.shape[2]
    B = n // W
    maskB = _ONES if B == 64 else (_U(1) << _U(B)) - _U(1)
    Q0 = _first_planes(B)
    ferro = ga == 0
    pa = planes[0]
    pb = planes[1]
    s0 = st[0]
    s1 = st[1]
    s2 = st[2]
    s3 = st[3]
    flips = np.int64(0)
    py = k >> 1
    px = k & 1
    kx = 2 * py + (1 - px)
    ky = 2 * (1 - py) + px
    for i in range(lo, hi):
        iu = i + py if i + py < n else 0
        idn = i - (1 - py) if i - (1 - py) >= 0 else n - 1
        row = P[k, i]
        rx = P[kx, i]
        ryu = P[ky, iu]
        ryd = P[ky, idn]
        if neg is not None:
            sg = neg[:, k, i]
        for w in range(W):
            s = row[w]
            if px == 0:
                xr = rx[w]
                xl = _left(rx, w, W, B, maskB)
            else:
                xr = _right(rx, w, W, B)
                xl = rx[w]
            a1 = s ^ xr
            a2 = s ^ xl
            a3 = s ^ ryu[w]
            a4 = s ^ ryd[w]
            if neg is not None:
                a1 ^= sg[0, w]
                a2 ^= sg[1, w]
                a3 ^= sg[2, w]
                a4 ^= sg[3, w]
            if ferro:  # b = 0 and b = 1 need a draw
                ma = ~(a1 | a2 | a3 | a4) & maskB
                mb = (a1 ^ a2 ^ a3 ^ a4) & ~((a1 & a2) | (a3 & a4))
            else:  # b = 3 and b = 4
                c1 = a1 & a2
                c2 = a3 & a4
                ma = (a1 ^ a2 ^ a3 ^ a4) & (c1 | c2)
                mb = c1 & c2
            und = ma | mb
            acc = maskB & ~und
            q = 0
            if und != _U(0):  # the first Q0 planes without a test (see _first_planes)
                for q in range(Q0):
                    acc, und, s0, s1, s2, s3 = _plane(ma & pa[q] | mb & pb[q], acc, und,
                                                      s0, s1, s2, s3)
                q = Q0
            while und != _U(0) and q < _PLANES:
                acc, und, s0, s1, s2, s3 = _plane(ma & pa[q] | mb & pb[q], acc, und,
                                                  s0, s1, s2, s3)
                q += 1
            row[w] = s ^ acc
            flips += np.int64(_popcount(acc))
    st[0] = s0
    st[1] = s1
    st[2] = s2
    st[3] = s3
    return flips


@njit(nogil=True, cache=True)
def _sweeps_iso(P, state, nsweep, ga, gb, planes, neg=None):
    """:func:`_sweeps` on the isotropic fast path (:func:`_pass_iso`)."""
    n = P.shape[1]
    flips = np.int64(0)
    for _ in range(nsweep):
        for k in range(4):
            flips += _pass_iso(P, k, 0, n, state, ga, gb, planes, neg)
    return flips


@njit(nogil=True, cache=True)
def _chain(spins, state, beta, Jx, Jy, J2, h, every, out, heatbath, neg):
    L0, L1 = spins.shape
    if L0 != L1 or L0 % 2 or L0 < 2:
        raise ValueError("the multi-spin kernel needs an even L >= 2 and a square lattice")
    if out.shape[1] != L0 or out.shape[2] != L1:
        raise ValueError("out must have shape (n, L, L)")
    n, B, W = _layout(L0)
    cx, cy, cd, cs, cg, planes, ng = _classes(beta, Jx, Jy, J2, h, heatbath)
    ga, gb, iplanes = _iso_groups(beta, Jx, heatbath)
    if neg is not None and (neg.shape[0] != 8 or neg.shape[1] != 4 or neg.shape[2] != n
                            or neg.shape[3] != W):
        raise ValueError("the sign planes do not match the lattice")
    iso = (Jx == Jy and J2 == 0.0 and h == 0.0
           and ((ga == 0 and gb == 1) or (ga == 3 and gb == 4)))
    P = np.empty((4, n, W), np.uint64)
    pack(spins, P)
    flips = np.int64(0)
    for i in range(out.shape[0]):
        if iso:
            flips += _sweeps_iso(P, state, every, ga, gb, iplanes, neg)
        else:
            flips += _sweeps(P, state, every, cx, cy, cd, cs, cg, planes, ng, J2 != 0.0,
                             h != 0.0, neg)
        unpack(P, out[i])
    unpack(P, spins)
    return flips


@njit(nogil=True, cache=True)
def metropolis_chain(spins, state, beta, Jx, Jy, J2, h, every, out):
    """Metropolis, multi-spin coded: the interface of :func:`spinsym.mc.ising.metropolis_chain`
    (``out.shape[0] * every`` sweeps, ``out[i]`` after each ``every``; spins and state updated
    in place; returns the number of accepted flips).  Any couplings and field; even L."""
    return _chain(spins, state, beta, Jx, Jy, J2, h, every, out, False, None)


@njit(nogil=True, cache=True)
def heatbath_chain(spins, state, beta, Jx, Jy, J2, h, every, out):
    """Heat bath (Glauber), multi-spin coded: flip with 1/(1 + exp(βΔE)), the same 53-bit
    thresholds as :func:`spinsym.mc.ising.heatbath_chain`."""
    return _chain(spins, state, beta, Jx, Jy, J2, h, every, out, True, None)


# ----------------------------------------------------------------------------------------------
# The driver's entry point: a packed lattice kept between calls, per-sample bond counts, and
# one lattice split over threads (strips of rows with random streams of their own)
#
# Within one sublattice (one colour) no two sites share a bond, so any set of its rows can be
# updated at the same time.  The strip kernel cuts the n rows of each sublattice into
# S = strips(L) strips (rows s·n//S .. (s+1)·n//S - 1) and gives strip s its own xoshiro256**
# stream; a sweep is the four sublattices in turn, and within a sublattice the strips run in
# parallel (a team of threads, :func:`_run_team`) or one after the other: the same bits
# either way, since each strip draws only from its own stream in a fixed order.  S depends on L only, so
# the chain is the same whatever the number of threads.  It is a different chain from the
# single-stream kernel (one stream walks all rows), equally distributed; the driver uses it
# from L = STRIP_MIN_L on (see :func:`strips`), where a sublattice pass is long enough
# (>= 260 000 sites) for the threads to pay.

#: the smallest L at which the driver runs the strip kernel
STRIP_MIN_L = 1024
#: strips per sublattice (at most): enough for 64 threads, each strip >= 8 rows at L = 1024
MAX_STRIPS = 64


def strips(L: int) -> int:
    """Strips of the kernel the driver runs at this L: 1 (the single-stream kernel) below
    ``STRIP_MIN_L``, else ``min(L // 2, MAX_STRIPS)``."""
    return 1 if L < STRIP_MIN_L else min(L // 2, MAX_STRIPS)


def strip_states(ss, S: int) -> np.ndarray:
    """(S, 4) uint64 xoshiro256** states, strip s from ``ss.spawn(S)[s]`` (a SeedSequence)."""
    from .rng import state_from_seedsequence

    return np.stack([state_from_seedsequence(child) for child in ss.spawn(S)])


@njit(nogil=True, cache=True)
def _strip_pass(P, k, s, states, iso, ga, gb, iplanes, cx, cy, cd, cs, cg, planes, ng, use_d,
                use_s, neg):
    n = P.shape[1]
    S = states.shape[0]
    lo = s * n // S
    hi = (s + 1) * n // S
    if iso:
        return _pass_iso(P, k, lo, hi, states[s], ga, gb, iplanes, neg)
    return _pass(P, k, lo, hi, states[s], cx, cy, cd, cs, cg, planes, ng, use_d, use_s, neg)


@njit(nogil=True, cache=True)
def _sweeps_strips(P, states, nsweep, iso, ga, gb, iplanes, cx, cy, cd, cs, cg, planes, ng,
                   use_d, use_s, neg, flips):
    """``nsweep`` sweeps of the strip kernel, strips one after the other; flips[s] counts."""
    for _ in range(nsweep):
        for k in range(4):
            for s in range(states.shape[0]):
                flips[s] += _strip_pass(P, k, s, states, iso, ga, gb, iplanes, cx, cy, cd, cs,
                                        cg, planes, ng, use_d, use_s, neg)


@njit(nogil=True, cache=True)
def _pass_strips(P, k, s0, s1, states, iso, ga, gb, iplanes, cx, cy, cd, cs, cg, planes, ng,
                 use_d, use_s, neg, flips):
    """Sublattice k of strips s0 .. s1-1 (one thread's share of a pass)."""
    for s in range(s0, s1):
        flips[s] += _strip_pass(P, k, s, states, iso, ga, gb, iplanes, cx, cy, cd, cs, cg,
                                planes, ng, use_d, use_s, neg)


@njit(nogil=True, cache=True)
def _count_rows(P, lo, hi, c):
    """Add the bond counts of sublattice rows lo .. hi-1 to c (int64[4]): unsatisfied x-bonds,
    y-bonds and diagonal bonds, and down spins (bit 1).  Every x-bond has one end with even x
    (sublattices 0 and 2: both its x-bonds are counted there), every y-bond and diagonal bond
    one end with even y (sublattices 0 and 1)."""
    n = P.shape[1]
    W = P.shape[2]
    B = n // W
    maskB = _ONES if B == 64 else (_U(1) << _U(B)) - _U(1)
    ux = np.int64(0)
    uy = np.int64(0)
    ud = np.int64(0)
    dn = np.int64(0)
    for i in range(lo, hi):
        idn = i - 1 if i > 0 else n - 1
        for k in range(4):
            row = P[k, i]
            for w in range(W):
                dn += np.int64(_popcount(row[w]))
        for k in (0, 2):
            row = P[k, i]
            rx = P[k + 1, i]
            for w in range(W):
                s = row[w]
                ux += np.int64(_popcount(s ^ rx[w])) + np.int64(
                    _popcount(s ^ _left(rx, w, W, B, maskB)))
        for k in (0, 1):
            row = P[k, i]
            ru = P[k + 2, i]
            rd = P[k + 2, idn]
            du = P[3 - k, i]
            dd = P[3 - k, idn]
            for w in range(W):
                s = row[w]
                uy += np.int64(_popcount(s ^ ru[w])) + np.int64(_popcount(s ^ rd[w]))
                if k == 0:
                    ud += (np.int64(_popcount(s ^ du[w]))
                           + np.int64(_popcount(s ^ _left(du, w, W, B, maskB)))
                           + np.int64(_popcount(s ^ dd[w]))
                           + np.int64(_popcount(s ^ _left(dd, w, W, B, maskB))))
                else:
                    ud += (np.int64(_popcount(s ^ _right(du, w, W, B)))
                           + np.int64(_popcount(s ^ du[w]))
                           + np.int64(_popcount(s ^ _right(dd, w, W, B)))
                           + np.int64(_popcount(s ^ dd[w])))
    c[0] += ux
    c[1] += uy
    c[2] += ud
    c[3] += dn


@njit(nogil=True, cache=True)
def _finish_sums(c, n, sums):
    """sums (int64[4]) from the counts c (unsatisfied x, y, diagonal bonds, down spins) of a
    lattice of N = 4n² sites: the integer sums of THE energy (:func:`spinsym.hamiltonians.
    ising_energy`), Σ_x-bonds s_i s_j = N − 2·(unsatisfied x-bonds), Σ_y-bonds likewise,
    Σ_diagonal-bonds = 2N − 2·(unsatisfied diagonal bonds) and Σ s_i = N − 2·(down spins)."""
    N = np.int64(4) * n * n
    sums[0] = N - 2 * c[0]
    sums[1] = N - 2 * c[1]
    sums[2] = 2 * N - 2 * c[2]
    sums[3] = N - 2 * c[3]


@njit(nogil=True, cache=True)
def _bond_sums(P, sums):
    """:func:`_finish_sums` of the packed lattice P, counted in one thread."""
    c = np.zeros(4, np.int64)
    _count_rows(P, 0, P.shape[1], c)
    _finish_sums(c, P.shape[1], sums)


def bond_sums(spins: np.ndarray) -> np.ndarray:
    """int64 (4,): the bond and spin sums that :func:`_bond_sums` counts, of an int8 (L, L)
    lattice (for tests and checks)."""
    L = spins.shape[0]
    n, _, W = _layout(L)
    P = np.empty((4, n, W), np.uint64)
    pack(np.ascontiguousarray(spins, dtype=np.int8), P)
    sums = np.empty(4, np.int64)
    _bond_sums(P, sums)
    return sums


@njit(nogil=True, cache=True)
def _same(a, b):
    """Whether two int8 (L, L) arrays are equal (no early exit: vectorizable)."""
    fa = a.reshape(a.size)
    fb = b.reshape(b.size)
    d = np.int8(0)
    for j in range(fa.size):
        d |= fa[j] ^ fb[j]
    return d == 0


@njit(nogil=True, cache=True)
def _copy2(src, a, b):
    """a[...] = b[...] = src for C-contiguous (L, L) arrays, as one flat loop (Numba's 2-D
    slice assignment takes ten times as long)."""
    fs = src.reshape(src.size)
    fa = a.reshape(a.size)
    fb = b.reshape(b.size)
    for j in range(fs.size):
        v = fs[j]
        fa[j] = v
        fb[j] = v


@njit(nogil=True, cache=True)
def _setup(spins, states, beta, Jx, Jy, J2, h, out, heatbath, neg, P, last, sums):
    """Check the arguments of :func:`run_chain`; the classes, groups and path to take."""
    L0, L1 = spins.shape
    if L0 != L1 or L0 % 2 or L0 < 2:
        raise ValueError("the multi-spin kernel needs an even L >= 2 and a square lattice")
    if out.shape[1] != L0 or out.shape[2] != L1:
        raise ValueError("out must have shape (n, L, L)")
    n, B, W = _layout(L0)
    if P.shape[0] != 4 or P.shape[1] != n or P.shape[2] != W or last.shape != spins.shape:
        raise ValueError("the packed cache does not match the lattice")
    if sums is not None and (sums.shape[0] != out.shape[0] or sums.shape[1] != 4):
        raise ValueError("sums must have shape (n, 4)")
    if states.shape[0] < 1 or states.shape[0] > n or states.shape[1] != 4:
        raise ValueError("states must have shape (S, 4) with 1 <= S <= L/2")
    if neg is not None and (neg.shape[0] != 8 or neg.shape[1] != 4 or neg.shape[2] != n
                            or neg.shape[3] != W):
        raise ValueError("the sign planes do not match the lattice")
    cx, cy, cd, cs, cg, planes, ng = _classes(beta, Jx, Jy, J2, h, heatbath)
    ga, gb, iplanes = _iso_groups(beta, Jx, heatbath)
    iso = (Jx == Jy and J2 == 0.0 and h == 0.0
           and ((ga == 0 and gb == 1) or (ga == 3 and gb == 4)))
    return cx, cy, cd, cs, cg, planes, ng, ga, gb, iplanes, iso


@njit(nogil=True, cache=True)
def _run_serial(spins, states, beta, Jx, Jy, J2, h, every, out, heatbath, neg, P, last, sums):
    """:func:`run_chain` in the calling thread."""
    cx, cy, cd, cs, cg, planes, ng, ga, gb, iplanes, iso = _setup(
        spins, states, beta, Jx, Jy, J2, h, out, heatbath, neg, P, last, sums)
    use_d = J2 != 0.0
    use_s = h != 0.0
    S = states.shape[0]
    if not _same(spins, last):
        pack(spins, P)
    flips = np.zeros(S, np.int64)
    for i in range(out.shape[0]):
        if S > 1:
            _sweeps_strips(P, states, every, iso, ga, gb, iplanes, cx, cy, cd, cs, cg, planes,
                           ng, use_d, use_s, neg, flips)
        elif iso:
            flips[0] += _sweeps_iso(P, states[0], every, ga, gb, iplanes, neg)
        else:
            flips[0] += _sweeps(P, states[0], every, cx, cy, cd, cs, cg, planes, ng, use_d,
                                use_s, neg)
        unpack(P, out[i])
        if sums is not None:
            _bond_sums(P, sums[i])
    if out.shape[0]:
        _copy2(out[out.shape[0] - 1], spins, last)
    else:
        unpack(P, spins)
        _copy2(spins, last, last)
    return flips.sum()


def run_chain(spins, states, beta, Jx, Jy, J2, h, every, out, heatbath, neg, P, last, sums,
              threads=1):
    """The driver's multi-spin kernel: ``out.shape[0] * every`` sweeps, ``out[i]`` after each
    ``every`` (spins updated in place); returns the number of flips.

    ``states``: (S, 4) uint64 random streams, advanced in place.  S = 1 is the single-stream
    kernel (bit for bit :func:`metropolis_chain` / :func:`heatbath_chain` / :func:`pm_chain`
    with ``state = states[0]``); S > 1 the strip kernel (rows cut into S strips per
    sublattice, strip s drawing from ``states[s]``), on ``threads`` threads (same bits for
    any number: :func:`_run_team`).  ``neg``: the ±J sign planes or None.  ``P`` (4, n, W)
    and ``last`` (L, L) int8 are the caller's cache: when ``spins`` equals ``last`` (the state
    this function left), P still holds it and is not packed again.  ``sums``: None, or int64
    (n_out, 4) that receives the bond and spin sums (:func:`_finish_sums`) of every stored
    configuration."""
    if threads <= 1 or states.shape[0] == 1:
        return _run_serial(spins, states, beta, Jx, Jy, J2, h, every, out, heatbath, neg, P,
                           last, sums)
    return _run_team(spins, states, beta, Jx, Jy, J2, h, every, out, heatbath, neg, P, last,
                     sums, threads)


def _run_team(spins, states, beta, Jx, Jy, J2, h, every, out, heatbath, neg, P, last, sums,
              threads, cpu=None):
    """:func:`run_chain` on a team of threads (the caller's and threads - 1 more): thread w
    owns a contiguous range of strips, packs, unpacks and counts its share of rows, and the
    team meets at a barrier (a blocking wait: on a busy machine a descheduled thread costs the
    others its delay, not spinning CPU) where a pass reads what the previous one wrote.  The
    kernels release the GIL, so the passes run in parallel.

    Without diagonal couplings a pass reads its x and y partners only: pass 1 (sublattice 1)
    reads 0 and 3, pass 2 reads 3 and 0, so passes 1 and 2 neither read nor write what the
    other writes, and neither do pass 3 (reads 2, 1) and the next sweep's pass 0 (reads 1, 2).
    The team then meets after passes 0 and 2 only (and before a sample is unpacked): two
    barriers a sweep instead of four, the same bits (each strip still draws from its own
    stream in the same order).  ``cpu``: a list that receives each thread's CPU time
    (``time.thread_time``) for the benchmarks."""
    import threading
    import time

    cx, cy, cd, cs, cg, planes, ng, ga, gb, iplanes, iso = _setup(
        spins, states, beta, Jx, Jy, J2, h, out, heatbath, neg, P, last, sums)
    use_d, use_s = J2 != 0.0, h != 0.0
    L, S = spins.shape[0], states.shape[0]
    n = L // 2
    T = max(1, min(int(threads), S))
    strip = [w * S // T for w in range(T + 1)]
    row = [w * L // T for w in range(T + 1)]
    crow = [w * n // T for w in range(T + 1)]
    repack = not _same(spins, last)
    flips = np.zeros(S, np.int64)
    parts = np.zeros((T, 4), np.int64)
    barrier = threading.Barrier(T)
    errors = []

    # after which passes of a sweep the team meets (see above); always after the last pass
    # of a sample
    meet = (True, True, True, True) if use_d else (True, False, True, False)

    def work(w):
        try:
            t0 = time.thread_time()
            if repack:
                _pack_rows(spins, P, row[w], row[w + 1])
                barrier.wait()
            for i in range(out.shape[0]):
                for sweep in range(every):
                    for k in range(4):
                        _pass_strips(P, k, strip[w], strip[w + 1], states, iso, ga, gb,
                                     iplanes, cx, cy, cd, cs, cg, planes, ng, use_d, use_s,
                                     neg, flips)
                        if meet[k] or (k == 3 and sweep == every - 1):
                            barrier.wait()
                _unpack_rows(P, out[i], row[w], row[w + 1])
                if sums is not None:
                    parts[w] = 0
                    _count_rows(P, crow[w], crow[w + 1], parts[w])
                barrier.wait()
                if w == 0 and sums is not None:
                    _finish_sums(parts.sum(axis=0), n, sums[i])
            if cpu is not None:
                cpu.append(time.thread_time() - t0)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            errors.append(exc)
            barrier.abort()

    team = [threading.Thread(target=work, args=(w,), daemon=True) for w in range(1, T)]
    for t in team:
        t.start()
    work(0)
    for t in team:
        t.join()
    if errors:
        real = [e for e in errors if not isinstance(e, threading.BrokenBarrierError)]
        raise (real or errors)[0]
    if out.shape[0]:
        spins[...] = out[-1]
    else:
        unpack(P, spins)
    last[...] = spins
    return int(flips.sum())

# ----------------------------------------------------------------------------------------------
# ±J couplings (spinsym.couplings.BondCouplings)
#
# When every |Jx| is one number ax, every |Jy| one number ay, every diagonal coupling (both
# J2p and J2m) has one magnitude a2 (each of them may be 0) and the field is uniform, a bond
# (i, j) with coupling σ·a is unsatisfied iff σ s_i s_j = -1, i.e. iff s_i XOR s_j XOR neg = 1
# with neg the sign bit of the coupling.  The flip energy of a site is then the homogeneous
# formula with (ax, ay, a2, h) and the numbers of unsatisfied bonds: the classes, groups and
# 53-bit thresholds of the homogeneous kernel with those magnitudes, and nothing else changes.
# The kernel keeps one sign plane per bond slot in the packed layout (:func:`sign_planes`) and
# XORs it in.  Its energies are bit for bit those of the scalar per-bond kernel
# (:func:`spinsym.mc.ising.bond_chain` adds each pair of same-direction bonds first, and
# a·s1 + a·s2 is exact), so every flip probability is the scalar kernel's; with every sign +
# it is the homogeneous kernel, chain for chain.


def pm_magnitudes(Jx, Jy, J2p, J2m, h):
    """(ax, ay, a2, h) when the per-bond couplings (L × L arrays) are ±J in the sense above,
    else None."""
    arrays = [np.asarray(a, dtype=np.float64) for a in (Jx, Jy, J2p, J2m, h)]
    ax, ay = (float(abs(a.flat[0])) for a in arrays[:2])
    a2 = float(abs(arrays[2].flat[0]))
    h0 = float(arrays[4].flat[0])
    if not (np.all(np.abs(arrays[0]) == ax) and np.all(np.abs(arrays[1]) == ay)
            and np.all(np.abs(arrays[2]) == a2) and np.all(np.abs(arrays[3]) == a2)
            and np.all(arrays[4] == h0)):
        return None
    return ax, ay, a2, h0


def preferred_bonds(L: int, Jx, Jy, J2p, J2m, h, heatbath: bool = False):
    """The magnitudes (ax, ay, a2, h) when ``metropolis`` / ``heatbath`` with these per-bond
    couplings use the multi-spin ±J kernel (±J couplings and :func:`preferred` for the
    magnitudes), else None (the scalar per-bond kernel runs)."""
    mags = pm_magnitudes(Jx, Jy, J2p, J2m, h)
    if mags is None or not preferred(L, *mags, heatbath):
        return None
    return mags


@njit(nogil=True, cache=True)
def sign_planes(Jx, Jy, J2p, J2m):
    """The packed sign planes (8, 4, n, W): bit b of word w of slot q, sublattice k, row i is 1
    where the coupling of that lane's site on slot q is negative.  Slots as in
    :func:`spinsym.mc.ising.bond_tables`: Jx to x+1, x-1; Jy to y+1, y-1; J2p to (y+1, x+1),
    (y-1, x-1); J2m to (y+1, x-1), (y-1, x+1)."""
    L = Jx.shape[0]
    if L % 2 or L < 2:
        raise ValueError("the multi-spin kernel needs an even L >= 2")
    n, B, W = _layout(L)
    neg = np.zeros((8, 4, n, W), np.uint64)
    for y in range(L):
        ym = (y - 1 + L) % L
        for x in range(L):
            xp = (x + 1) % L
            xm = (x - 1 + L) % L
            k = 2 * (y & 1) + (x & 1)
            i = y >> 1
            j = x >> 1
            w = j % W
            bit = _U(1) << _U(j // W)
            vals = (Jx[y, x], Jx[y, xm], Jy[y, x], Jy[ym, x], J2p[y, x], J2p[ym, xm], J2m[y, x],
                    J2m[ym, xp])
            for q in range(8):
                if vals[q] < 0.0:
                    neg[q, k, i, w] |= bit
    return neg


@njit(nogil=True, cache=True)
def pm_chain(spins, state, beta, ax, ay, a2, h, neg, heatbath, every, out):
    """Metropolis (``heatbath`` false) or heat bath for ±J couplings: magnitudes (ax, ay, a2),
    uniform field h, sign planes ``neg`` from :func:`sign_planes`; the interface of
    :func:`metropolis_chain` otherwise.  Returns the number of accepted flips."""
    return _chain(spins, state, beta, ax, ay, a2, h, every, out, heatbath, neg)
