"""Ising checkerboard Metropolis and heat bath on an NVIDIA GPU (Numba CUDA), many lattices at once.

Why Numba CUDA: the same kernel source runs under Numba's CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1``), so CI without a GPU checks the real kernel bit for bit against
the NumPy reference below; and Numba is already a dependency.  Integer code is written with
explicit ``np.uint32`` casts so that NVVM narrows every operation to 32 bits (checked in the
PTX: ``add.s32``/``xor.b32``/``mul.wide.u32``, no 64-bit logic in the hot loop).

Model and conventions: exactly :func:`spinsym.hamiltonians.ising_energy` with J2 = 0, i.e.
any Jx, Jy (either sign) and field h, L even (L >= 2).  The flip energy of a site is the CPU
kernels' ``ΔE = 2 s (Jx·sx + Jy·sy + h)`` (:mod:`spinsym.mc.ising`), evaluated in float64 on
the host into a table; Metropolis flips with min(1, exp(-βΔE)), heat bath with
1/(1 + exp(βΔE)).  J2 != 0 needs four sublattices and is not supported here.

Storage ("byte-lane SWAR").  Lattices are processed in *groups of four*: one ``uint32`` word
holds the same site of four lattices, one byte each (byte b = lattice 4g + b, value 1 for
s = +1, 0 for s = -1).  Every lattice of a group may have its own temperature.  Each
checkerboard colour c (sites with (x + y) mod 2 = c) is a separate array ``[G, L, W]`` with
W = L/2: word (g, y, i) is site (y, x = 2i + ((y + c) & 1)).  The neighbours of a colour-c word
are words of the other colour: (y±1, i) vertically and (y, i), (y, i ± 1) horizontally
(``+`` when (y + c) is odd), so neighbour sums of all four lattices are formed by plain adds
of whole words (a byte never exceeds 21, no carries).  This works for every even L, L = 2
included (the two x-bonds of a pair are distinct bonds, as in the energy convention).

Per byte lane the table index is ``code = s + 2·xs + 8·ys`` (xs, ys = number of up
neighbours along x, y).  A half-sweep updates all sites of one colour of all lattices.

Random numbers: Philox4x32-10 (Salmon et al. 2011; checked against Random123's known
answers), counter based, so nothing is stored per thread and the result does not depend on
the launch configuration, the card or the number of lattices in flight.  Word i of global
row r = g·L + y in half-sweep t (t = 2·sweep + colour, counted from 0 by the caller) takes
32 bits from Philox(counter = (i mod Q, r, t mod 2^32, t >> 32), key) output component
i div Q, Q = ceil(W/4): one call serves four words (16 site updates) and consecutive threads
read consecutive words.

Exact decisions with 8 random bits per site.  A site flips iff U < T with U a uniform 64-bit
integer and T = ceil(p·2^64) (p as a double; exact for p >= 2^-11, within 2^-64 below).  U is
drawn lazily, most significant byte first: the site's byte of the random word decides unless
it equals T's top byte (probability 1/256); then 56 more bits come from a separate Philox
call with counter (4i + b, r, t mod 2^32, (t >> 32) | 2^31), which no other draw uses.  This
is the same comparison as drawing all 64 bits at once, so the chain is exactly Metropolis
(heat bath) with the double-precision acceptance probability.  Metropolis moves with ΔE <= 0
are accepted without looking at the random byte.

:func:`reference_half_sweep` is a NumPy implementation of the same update, random stream
included; tests/mc/test_gpu.py checks the kernel against it bit for bit (under the simulator
on CPU, natively on a GPU) and the reference against exact results.
"""

from __future__ import annotations

import math
import os

import numpy as np

from ..errors import ParameterError

LANES = 4  # lattices per uint32 word
TABLE = 32  # table entries per lattice: code = s + 2 xs + 8 ys < 32
ALWAYS = 256  # top-byte threshold meaning "accept without a random number"
TIE_FLAG = 0x80000000
PHILOX_M0, PHILOX_M1 = 0xD2511F53, 0xCD9E8D57
PHILOX_W0, PHILOX_W1 = 0x9E3779B9, 0xBB67AE85
PHILOX_ROUNDS = 10
#: spawn key of the SeedSequence child that gives the Philox key (never used by run.py's spawn)
KEY_STREAM = 0x6770755F
GPU_ALGORITHMS = ("metropolis", "heatbath")

_M32 = np.uint64(0xFFFFFFFF)


# ----------------------------------------------------------------------------------------------
# host side: Philox, tables, layout


def philox4x32(c0, c1, c2, c3, k0, k1, rounds: int = PHILOX_ROUNDS):
    """Philox4x32-R on uint32 arrays (broadcast); returns the four output words (uint32)."""
    c = [np.asarray(v, dtype=np.uint64) & _M32 for v in (c0, c1, c2, c3)]
    k0 = np.uint64(int(k0) & 0xFFFFFFFF)
    k1 = np.uint64(int(k1) & 0xFFFFFFFF)
    m0, m1 = np.uint64(PHILOX_M0), np.uint64(PHILOX_M1)
    w0, w1 = np.uint64(PHILOX_W0), np.uint64(PHILOX_W1)
    s32 = np.uint64(32)
    for _ in range(rounds):
        p0 = m0 * c[0]
        p1 = m1 * c[2]
        c = [(p1 >> s32) ^ c[1] ^ k0, p1 & _M32, (p0 >> s32) ^ c[3] ^ k1, p0 & _M32]
        k0 = (k0 + w0) & _M32
        k1 = (k1 + w1) & _M32
    return tuple(v.astype(np.uint32) for v in c)


def philox_key(seed: int) -> tuple:
    """The (k0, k1) Philox key of a run, from ``SeedSequence(seed)`` (a dedicated child)."""
    state = np.random.SeedSequence(seed, spawn_key=(KEY_STREAM,)).generate_state(2, np.uint32)
    return int(state[0]), int(state[1])


def flip_probabilities(beta: float, Jx: float, Jy: float, h: float, heatbath: bool) -> np.ndarray:
    """Flip probability for each table code (float64, 32 entries; unused codes 0).

    ΔE and the probability are the CPU kernels' own functions
    (:func:`spinsym.mc.ising._delta_e` with J2 = sd = 0, :func:`spinsym.mc.ising.flip_probability`),
    so the probabilities equal the CPU tables' to the last bit.  Metropolis entries with
    ΔE <= 0 are ``inf`` (accept without a random number).
    """
    from .ising import _delta_e, flip_probability

    p = np.zeros(TABLE)
    for sb in (0, 1):
        for xs in (0, 1, 2):
            for ys in (0, 1, 2):
                s, sx, sy = 2 * sb - 1, 2 * xs - 2, 2 * ys - 2
                de = _delta_e(s, sx, sy, 0, float(Jx), float(Jy), 0.0, float(h))
                p[sb + 2 * xs + 8 * ys] = flip_probability(de, float(beta), bool(heatbath))
    return p


def threshold_parts(p: float) -> tuple:
    """(top byte, middle 32 bits, low 24 bits) of T = ceil(p·2^64); top = ALWAYS for p >= 1."""
    if not p < 1.0:
        return ALWAYS, 0, 0
    if not p > 0.0:
        return 0, 0, 0
    T = int(math.ceil(math.ldexp(p, 64)))  # exact: scaling by 2^64 is exact in binary
    return T >> 56, (T >> 24) & 0xFFFFFFFF, T & 0xFFFFFF


def thresholds(betas, couplings, algorithm: str):
    """Tables for lattices 0..R-1 (R = len(betas), padded to a multiple of 4 with lattice 0's).

    ``couplings`` is one :class:`~spinsym.hamiltonians.Couplings` or one per lattice.
    Returns ``top, mid, low`` as flat uint32 arrays of G·4·32 entries, index (4g + b)·32 + code.
    """
    betas = [float(b) for b in np.atleast_1d(betas)]
    R = len(betas)
    if not isinstance(couplings, (list, tuple)):
        couplings = [couplings] * R
    if len(couplings) != R:
        raise ParameterError("one Couplings per lattice expected")
    G = -(-R // LANES)
    heatbath = _check_algorithm(algorithm) == "heatbath"
    top = np.zeros((G * LANES, TABLE), np.uint32)
    mid = np.zeros_like(top)
    low = np.zeros_like(top)
    for r in range(G * LANES):
        src = r if r < R else 0
        c = couplings[src]
        if c.J2 != 0.0:
            raise ParameterError("--device cuda supports nearest-neighbour couplings only "
                                 f"(J2 = 0), got J2 = {c.J2:g}")
        p = flip_probabilities(betas[src], c.Jx, c.Jy, c.h, heatbath)
        for code in range(TABLE):
            top[r, code], mid[r, code], low[r, code] = threshold_parts(p[code])
    return top.ravel(), mid.ravel(), low.ravel()


def _check_algorithm(algorithm: str) -> str:
    if algorithm not in GPU_ALGORITHMS:
        raise ParameterError(f"--device cuda supports {', '.join(GPU_ALGORITHMS)} for ising, "
                             f"not {algorithm!r}")
    return algorithm


def to_colours(spins) -> np.ndarray:
    """int8 ±1 spins ``(R, L, L)`` -> packed words ``(2, G, L, L/2)`` uint32 (colour, group, y, i).

    R is padded to a multiple of 4 with copies of lattice 0.
    """
    spins = np.asarray(spins)
    if spins.ndim == 2:
        spins = spins[None]
    R, L, L1 = spins.shape
    if L != L1 or L % 2 or L < 2:
        raise ParameterError(f"GPU lattices must be L × L with L even and >= 2, got {L} × {L1}")
    G = -(-R // LANES)
    bits = np.empty((G * LANES, L, L), np.uint32)
    bits[:R] = spins > 0
    bits[R:] = spins[0] > 0
    bits = bits.reshape(G, LANES, L, L)
    words = bits[:, 0] | (bits[:, 1] << 8) | (bits[:, 2] << 16) | (bits[:, 3] << 24)  # (G, L, L)
    out = np.empty((2, G, L, L // 2), np.uint32)
    for c in (0, 1):
        out[c][:, 0::2] = words[:, 0::2, c::2]
        out[c][:, 1::2] = words[:, 1::2, 1 - c::2]
    return out


def from_colours(words, R: int | None = None) -> np.ndarray:
    """Inverse of :func:`to_colours`: ``(2, G, L, W)`` uint32 -> int8 ±1 spins ``(R, L, L)``."""
    words = np.asarray(words)
    _, G, L, W = words.shape
    nat = np.empty((G, L, L), np.uint32)
    for c in (0, 1):
        nat[:, 0::2, c::2] = words[c][:, 0::2]
        nat[:, 1::2, 1 - c::2] = words[c][:, 1::2]
    lanes = np.stack([(nat >> np.uint32(8 * b)) & np.uint32(1) for b in range(LANES)], axis=1)
    spins = (2 * lanes.reshape(G * LANES, L, L).astype(np.int8) - 1).astype(np.int8)
    return spins if R is None else spins[:R]


# ----------------------------------------------------------------------------------------------
# the NumPy reference of one half-sweep (same random stream as the kernel)


def reference_half_sweep(words, top, mid, low, key, t: int, colour: int, counts=None) -> int:
    """Update colour ``colour`` of ``words`` (2, G, L, W) in place, exactly as the kernel does.

    ``counts`` (int64, G·4), if given, is incremented by the accepted flips of each lattice.
    Returns the number of ties (sites whose decision needed the second Philox call).
    """
    S, O = words[colour], words[1 - colour]
    G, L, W = S.shape
    Q = (W + 3) // 4
    k0, k1 = key
    t_lo, t_hi = t & 0xFFFFFFFF, t >> 32
    rows = (np.arange(G)[:, None] * L + np.arange(L)[None, :]).astype(np.uint32)  # (G, L)
    p = ((np.arange(L) + colour) & 1).astype(bool)[None, :, None]  # right neighbour is i+1
    h1 = np.where(p, np.roll(O, -1, axis=2), np.roll(O, 1, axis=2))
    xs = O + h1
    ys = np.roll(O, 1, axis=1) + np.roll(O, -1, axis=1)
    code = S + (xs << np.uint32(1)) + (ys << np.uint32(3))
    qs = np.arange(Q, dtype=np.uint32)
    R4 = philox4x32(qs[None, None, :], rows[:, :, None], t_lo, t_hi, k0, k1)
    i = np.arange(W)
    rnd = np.stack(R4)[i // Q, :, :, i % Q]  # (W, G, L)
    rnd = np.moveaxis(rnd, 0, -1)  # (G, L, W)
    flips = np.zeros_like(S)
    ties = 0
    base = (np.arange(G) * LANES)[:, None, None]
    for b in range(LANES):
        sh = np.uint32(8 * b)
        cb = (code >> sh) & np.uint32(0xFF)
        idx = (base + b) * TABLE + cb
        tb = top[idx]
        rb = (rnd >> sh) & np.uint32(0xFF)
        acc = rb < tb
        tie = rb == tb
        if tie.any():
            g_, y_, i_ = np.nonzero(tie)
            ties += len(g_)
            x0, x1, _, _ = philox4x32((4 * i_ + b).astype(np.uint32), rows[g_, y_], t_lo,
                                      t_hi | TIE_FLAG, k0, k1)
            m, lo = mid[idx[tie]], low[idx[tie]]
            acc[tie] = (x0 < m) | ((x0 == m) & ((x1 >> np.uint32(8)) < lo))
        flips |= acc.astype(np.uint32) << sh
        if counts is not None:
            counts[np.arange(G) * LANES + b] += acc.sum(axis=(1, 2))
    S ^= flips
    return ties


# ----------------------------------------------------------------------------------------------
# the CUDA kernel (compiled on first use; importing this module does not import numba.cuda)

_KERNELS = {}
cuda = None  # numba.cuda, bound on first use (a module global, as the CUDA simulator requires)


def _build(count: bool):
    global cuda
    from numba import cuda

    u32 = np.uint32

    @cuda.jit(device=True)
    def philox(c0, c1, c2, c3, k0, k1):
        for _ in range(PHILOX_ROUNDS):
            p0 = np.uint64(c0) * np.uint64(PHILOX_M0)
            p1 = np.uint64(c2) * np.uint64(PHILOX_M1)
            n0 = u32(u32(p1 >> np.uint64(32)) ^ c1 ^ k0)
            n2 = u32(u32(p0 >> np.uint64(32)) ^ c3 ^ k1)
            c1 = u32(p1 & np.uint64(0xFFFFFFFF))
            c3 = u32(p0 & np.uint64(0xFFFFFFFF))
            c0 = n0
            c2 = n2
            k0 = u32((np.uint64(k0) + np.uint64(PHILOX_W0)) & np.uint64(0xFFFFFFFF))
            k1 = u32((np.uint64(k1) + np.uint64(PHILOX_W1)) & np.uint64(0xFFFFFFFF))
        return c0, c1, c2, c3

    @cuda.jit(device=True)
    def code_of(S, O, rowW, upW, dnW, i, W, p):
        """Spin word and table-code word of word i of a row (all indices uint32: no
        negative-index wraparound code in the address arithmetic)."""
        s = S[u32(rowW + i)]
        if p:
            ih = u32(i + u32(1)) if u32(i + u32(1)) < W else u32(0)
        else:
            ih = u32(i - u32(1)) if i > u32(0) else u32(W - u32(1))
        xs = u32(O[u32(rowW + i)] + O[u32(rowW + ih)])
        ys = u32(O[u32(upW + i)] + O[u32(dnW + i)])
        return s, u32(s + u32(xs << u32(1)) + u32(ys << u32(3)))

    @cuda.jit(device=True)
    def lane(code, rnd, top, off, b):
        sh = u32(8 * b)
        cb = u32(u32(code >> sh) & u32(0xFF))
        tb = top[u32(off + u32(b * TABLE) + cb)]
        rb = u32(u32(rnd >> sh) & u32(0xFF))
        return u32(u32(rb < tb) << sh), u32(u32(rb == tb) << u32(b))

    @cuda.jit(device=True)
    def word(S, O, rowW, upW, dnW, i, W, p, rnd, top, off):
        """Update word i with random word rnd; returns (flips, tie bits of its 4 lanes)."""
        if i >= W:
            return u32(0), u32(0)
        s, code = code_of(S, O, rowW, upW, dnW, i, W, p)
        f0, t0 = lane(code, rnd, top, off, 0)
        f1, t1 = lane(code, rnd, top, off, 1)
        f2, t2 = lane(code, rnd, top, off, 2)
        f3, t3 = lane(code, rnd, top, off, 3)
        flips = u32(f0 | f1 | f2 | f3)
        S[u32(rowW + i)] = u32(s ^ flips)
        return flips, u32(t0 | t1 | t2 | t3)

    @cuda.jit
    def half_sweep(S, O, L, W, rows, top, mid, low, k0, k1, t_lo, t_hi, colour, counts):
        # L, W, rows, colour: uint32 scalars; S, O: the two colours, flat (G, L, W)
        Q = u32(u32(W + u32(3)) >> u32(2))
        tx = u32(cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x)
        stride = u32(cuda.gridDim.x * cuda.blockDim.x)
        row = u32(cuda.blockIdx.y * cuda.blockDim.y + cuda.threadIdx.y)
        row_stride = u32(cuda.gridDim.y * cuda.blockDim.y)
        while row < rows:
            g = u32(row // L)
            y = u32(row - u32(g * L))
            up = u32(row - u32(1)) if y > u32(0) else u32(row + L - u32(1))
            dn = u32(row + u32(1)) if u32(y + u32(1)) < L else u32(row + u32(1) - L)
            p = u32(u32(y + colour) & u32(1))
            rowW = u32(row * W)
            upW = u32(up * W)
            dnW = u32(dn * W)
            off = u32(g * u32(LANES * TABLE))
            acc = u32(0)  # accepted flips of one q, one byte per lane (<= 4)
            a0 = 0
            a1 = 0
            a2 = 0
            a3 = 0
            q = tx
            while q < Q:
                r0, r1, r2, r3 = philox(q, row, t_lo, t_hi, k0, k1)
                f0, t0 = word(S, O, rowW, upW, dnW, q, W, p, r0, top, off)
                f1, t1 = word(S, O, rowW, upW, dnW, u32(q + Q), W, p, r1, top, off)
                f2, t2 = word(S, O, rowW, upW, dnW, u32(q + u32(2) * Q), W, p, r2, top, off)
                f3, t3 = word(S, O, rowW, upW, dnW, u32(q + u32(3) * Q), W, p, r3, top, off)
                ties = u32(t0 | u32(t1 << u32(4)) | u32(t2 << u32(8)) | u32(t3 << u32(12)))
                if count:
                    acc = u32(f0 + f1 + f2 + f3)
                if ties != u32(0):  # rare (1/256 per site): finish those decisions with 56 more bits
                    for k in range(16):
                        if u32(ties >> u32(k)) & u32(1):
                            b = k & 3
                            i = u32(q + u32(k >> 2) * Q)
                            s, code = code_of(S, O, rowW, upW, dnW, i, W, p)
                            e = u32(off + u32(b * TABLE) + u32(u32(code >> u32(8 * b)) & u32(0xFF)))
                            x0, x1, x2, x3 = philox(u32(u32(4) * i + u32(b)), row, t_lo,
                                                    u32(t_hi | u32(TIE_FLAG)), k0, k1)
                            m = mid[e]
                            if x0 < m or (x0 == m and u32(x1 >> u32(8)) < low[e]):
                                bit = u32(u32(1) << u32(8 * b))
                                S[u32(rowW + i)] = u32(s ^ bit)
                                if count:
                                    acc = u32(acc + bit)
                if count:
                    a0 += acc & u32(0xFF)
                    a1 += u32(acc >> u32(8)) & u32(0xFF)
                    a2 += u32(acc >> u32(16)) & u32(0xFF)
                    a3 += u32(acc >> u32(24))
                q = u32(q + stride)
            if count:
                base = g * LANES
                if a0:
                    cuda.atomic.add(counts, base, a0)
                if a1:
                    cuda.atomic.add(counts, base + 1, a1)
                if a2:
                    cuda.atomic.add(counts, base + 2, a2)
                if a3:
                    cuda.atomic.add(counts, base + 3, a3)
            row = u32(row + row_stride)

    return half_sweep


def kernel(count: bool = False):
    """The half-sweep kernel (``count``: also accumulate accepted flips per lattice)."""
    if count not in _KERNELS:
        _KERNELS[count] = _build(bool(count))
    return _KERNELS[count]


def gpu_available() -> bool:
    """True when numba.cuda imports and sees a real GPU (the simulator does not count)."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        return False
    try:
        from numba import cuda
        return bool(cuda.is_available())
    except Exception:
        return False


def require_gpu():
    """numba.cuda, or a ParameterError with one clear line when there is no usable GPU."""
    simulator = os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")
    try:
        from numba import cuda
    except Exception as exc:  # numba-cuda missing or broken
        raise ParameterError(f"--device cuda: numba.cuda cannot be imported ({exc})") from None
    if simulator:
        return cuda
    try:
        ok = cuda.is_available()
    except Exception:
        ok = False
    if not ok:
        raise ParameterError("--device cuda needs an NVIDIA GPU with a working CUDA driver, "
                             "and none was found (numba.cuda.is_available() is False)")
    return cuda


class CheckerboardGPU:
    """R Ising lattices (any temperatures, one couplings set each) updated together on the GPU.

    ``spins``: int8 ±1 array (R, L, L), L even.  ``sweep(n)`` runs n sweeps (colour 0, then 1)
    of every lattice; ``spins()`` copies them back.  ``block`` and ``grid`` (threads along a
    row, and blocks along x and rows) only change speed, never the result.
    """

    def __init__(self, spins, betas, couplings, algorithm: str = "metropolis", key=(0, 0),
                 t0: int = 0, count: bool = False, block: int | None = None, grid=None):
        self.cuda = cuda = require_gpu()
        spins = np.asarray(spins)
        if spins.ndim == 2:
            spins = spins[None]
        self.R, self.L = spins.shape[0], spins.shape[-1]
        words = to_colours(spins)
        _, self.G, _, self.W = words.shape
        if self.G * self.L * self.W >= 1 << 31:
            raise ParameterError("too many spins for one CheckerboardGPU (2^31 words at most)")
        self.algorithm = _check_algorithm(algorithm)
        self.key = (int(key[0]) & 0xFFFFFFFF, int(key[1]) & 0xFFFFFFFF)
        self.t = int(t0)
        self.count = bool(count)
        top, mid, low = thresholds(betas, couplings, algorithm)
        self.tables = tuple(cuda.to_device(a) for a in (top, mid, low))
        self.words = [cuda.to_device(np.ascontiguousarray(words[c]).ravel()) for c in (0, 1)]
        self.counts = cuda.to_device(np.zeros(self.G * LANES, np.int64))
        self.kernel = kernel(self.count)
        self.set_launch(block, grid)

    def set_launch(self, block: int | None = None, grid=None):
        """Threads per block and blocks per launch; they change the speed, never the result.

        A block is (bx, by) threads: bx along a row (each thread takes one Philox call, four
        words, per step), by over rows, bx = the smallest power of two >= Q = ceil(W/4), at
        most ``block`` (default 128), and by = block // bx.  ``grid`` defaults to enough
        blocks for one step per thread (at most 65535 along rows; threads then loop).
        """
        Q = (self.W + 3) // 4
        rows = self.G * self.L
        threads = 128 if block is None else int(block)
        bx = 1
        while bx < Q and bx < threads:
            bx *= 2
        by = max(1, threads // bx)
        self.block = (bx, by)
        if grid is None:
            grid = (-(-Q // bx), min(-(-rows // by), 65535))
        self.grid = (int(grid[0]), int(grid[1]))

    def half_sweep(self, colour: int):
        t = self.t
        top, mid, low = self.tables
        self.kernel[self.grid, self.block](
            self.words[colour], self.words[1 - colour], np.uint32(self.L), np.uint32(self.W),
            np.uint32(self.G * self.L), top, mid, low, np.uint32(self.key[0]),
            np.uint32(self.key[1]), np.uint32(t & 0xFFFFFFFF), np.uint32(t >> 32),
            np.uint32(colour), self.counts)
        self.t = t + 1

    def sweep(self, n: int = 1):
        for _ in range(int(n)):
            self.half_sweep(0)
            self.half_sweep(1)

    def synchronize(self):
        self.cuda.synchronize()

    def packed(self) -> np.ndarray:
        G, L, W = self.G, self.L, self.W
        return np.stack([w.copy_to_host().reshape(G, L, W) for w in self.words])

    def spins(self) -> np.ndarray:
        return from_colours(self.packed(), self.R)

    def accepted(self) -> np.ndarray:
        """Accepted flips per lattice since the last ``reset_counts`` (needs count=True)."""
        return self.counts.copy_to_host()[:self.R]

    def reset_counts(self):
        self.counts.copy_to_device(np.zeros(self.G * LANES, np.int64))


# ----------------------------------------------------------------------------------------------
# the driver behind `spinsym simulate ising ... --device cuda`


def check_config(config):
    """ParameterError unless the GPU path supports ``config`` (a run.SimulationConfig)."""
    if config.model != "ising":
        raise ParameterError(f"--device cuda supports the ising model only, not {config.model!r}")
    _check_algorithm(config.algorithm)
    if not hasattr(config.couplings, "J2"):
        raise ParameterError("--device cuda supports homogeneous couplings only; run per-bond "
                             "couplings on the CPU")
    if config.couplings.J2 != 0.0:
        raise ParameterError("--device cuda supports nearest-neighbour couplings only "
                             f"(J2 = 0), got J2 = {config.couplings.J2:g}")
    if config.L % 2:
        raise ParameterError(f"--device cuda needs an even L, got {config.L}")


def simulate_gpu(config, out_path: str | None, progress=None, block_sweeps: int | None = None,
                 sink=None):
    """Run every temperature of ``config`` in one set of GPU launches; write ``out_path``.

    Same HDF5 schema and attributes as :func:`spinsym.mc.run.simulate` (plus ``device`` and
    ``rng``); initial configurations are the CPU driver's (stream i of SeedSequence(seed)),
    the Philox key comes from a dedicated child of SeedSequence(seed).  Energies are computed
    on the host from the stored configurations with :func:`spinsym.hamiltonians.energy`.
    ``progress(n_sweeps)`` counts sweeps summed over temperatures, as the CPU driver does.
    ``sink``: a writer to fill instead of ``out_path`` (as in :func:`spinsym.mc.run.simulate`).
    """
    from ..hamiltonians import energy

    check_config(config)
    require_gpu()  # before the writer, which reserves the output's temporary
    if sink is None:
        from ..data import AtomicH5Writer

        sink = AtomicH5Writer(out_path, "ising", config.L)
    L, nT = config.L, len(config.temperatures)
    children = np.random.SeedSequence(config.seed).spawn(nT)
    spins = np.empty((nT, L, L), np.int8)
    for i, ss in enumerate(children):
        init_ss, _ = ss.spawn(2)
        rng = np.random.default_rng(init_ss)
        spins[i] = (2 * rng.integers(0, 2, size=(L, L)) - 1).astype(np.int8)
    betas = [1.0 / T for T in config.temperatures]
    sim = CheckerboardGPU(spins, betas, config.couplings, config.algorithm,
                          key=philox_key(config.seed), count=True)
    N = L * L
    if block_sweeps is None:
        block_sweeps = max(1, (1 << 26) // max(1, nT * N))  # ~0.1 s of GPU work per block

    def report(n):
        if progress is not None and n:
            progress(n * nT)

    with sink as writer:
        for i in range(nT):
            writer.group(i, {**config.group_attrs(i), "device": "cuda", "rng": "philox4x32-10"})
        left = config.thermalize
        while left > 0:
            n = min(left, block_sweeps)
            sim.sweep(n)
            sim.synchronize()
            left -= n
            report(n)
        sim.reset_counts()
        per_block = max(1, block_sweeps // config.every)
        left = config.n_samples
        while left > 0:
            nb = min(left, per_block)
            batch = np.empty((nb, nT, L, L), np.int8)
            for k in range(nb):
                sim.sweep(config.every)
                batch[k] = sim.spins()
            for i in range(nT):
                configs = np.ascontiguousarray(batch[:, i])
                energies = np.asarray(energy("ising", configs, config.couplings), np.float64)
                writer.append(i, configs, energies)
            left -= nb
            report(nb * config.every)
        accepted = sim.accepted()
        done = config.n_samples * config.every
        for i in range(nT):
            writer.set_attrs(i, acceptance=float(accepted[i]) / max(1, done * N), kernel="cuda")
        return writer.commit()
