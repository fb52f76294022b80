"""Ising checkerboard Metropolis and heat bath on an NVIDIA GPU (Numba CUDA), many lattices at once.

Two kernels with the same thresholds and the same exactness (each decision U < T with a 64-bit
uniform U drawn lazily from Philox): the byte-lane kernel (:class:`CheckerboardGPU`, four
lattices per word, described below) and the multi-spin-coded kernel (:class:`MultiSpinGPU`,
32 sites of one lattice per word, one bit per spin; described before its code), which
:func:`simulate_gpu` uses once a half row fills a word (L >= 64).  Each has a NumPy reference
of its own random stream.

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


def _device_philox():
    """Philox4x32-10 as a CUDA device function (built once, shared by both kernels)."""
    global cuda
    if "philox" in _KERNELS:
        return _KERNELS["philox"]
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

    _KERNELS["philox"] = philox
    return philox


def _build(count: bool):
    global cuda
    from numba import cuda

    u32 = np.uint32
    philox = _device_philox()

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
    The byte-lane kernel: four lattices per word (``kernel_name`` "cuda").

    ``spins``: int8 ±1 array (R, L, L), L even.  ``sweep(n)`` runs n sweeps (colour 0, then 1)
    of every lattice; ``spins()`` copies them back.  ``block`` and ``grid`` (threads along a
    row, and blocks along x and rows) only change speed, never the result.
    """

    kernel_name = "cuda"

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
# the multi-spin-coded kernel: 32 sites of ONE lattice per word, one bit per spin
#
# Layout.  Colour c of lattice r is an array (L, W) of uint32, W = ceil(H/32), H = L/2: bit b of
# word (y, j) is site (y, x = 2i + ((y + c) & 1)) with i = 32j + b, for i < H; the bits of the
# last word above i = H - 1 ("padding", only when 32 does not divide H) are always 0.  The
# neighbours of a colour-c word are words of the other colour: (y ± 1, j) vertically, and
# horizontally (y, j) itself and the word shifted by one site (i + 1 when (y + c) is odd, else
# i - 1), built from (y, j) and one bit of the next (previous) word, wrapping from the last valid
# bit of the row to bit 0 of its first word.
#
# Classes.  With a = 1 where a neighbour equals the spin, the flip energy of a site depends on
# (s, ax, ay), ax, ay = aligned neighbours along x, y (0..2); code = sb + 2·(ax + 3·ay), sb = 1
# for s = +1.  The kernel forms the 18 class masks with bitwise logic (9 when h = 0 makes the
# two spin values equivalent, which the host checks entry by entry).  The host groups the
# classes that need a random number by the top byte of their threshold (:func:`msc_groups`;
# Metropolis at h = 0 has two groups), and per word the kernel ORs each group's classes into
# one mask and that into the "needs a random number" mask and the 8 bit planes of the top
# bytes; every other class flips always, except those that never do (p = 0).  In SASS the
# group loop is one LOP3 per class and per plane (the bit tests run on the uniform datapath).
# The thresholds are the byte-lane kernel's (:func:`thresholds`, the CPU kernels' own
# probabilities), T = ceil(p·2^64).
#
# Random numbers.  The top byte of U for all 32 sites of word (y, j) of lattice r in half-sweep
# t comes as 8 bit planes, most significant first: plane k is output component k mod 4 of
# Philox(counter = (2j + k div 4, r·L + y, t mod 2^32, t >> 32), key), bit b for site b.  The
# planes are compared bitwise with the threshold planes; a site whose byte equals T's top byte
# (probability 1/256) is finished with 56 more bits from Philox(counter = (32j + b, r·L + y,
# t mod 2^32, (t >> 32) | 2^31)): U's next 32 bits are its component 0 and the last 24 the top
# 24 bits of component 1, exactly as in the byte-lane kernel.  So each decision is U < T with a
# 64-bit uniform U, and no draw depends on the launch shape.

MSC_CODES = 18  # (sb, ax, ay) classes
MSC_STRIDE = 32  # table entries per lattice (entry 31: flags)
MSC_FLAGS = 31
KIND_NEVER, KIND_ALWAYS, KIND_RANDOM = 0, 1, 2
MSC_PENDING = 4  # words per thread between two passes over the tie decisions
MSC_MIN_L = 64  # simulate_gpu's default: the multi-spin kernel once a half row fills a word


def msc_code(sb, ax, ay):
    """Class index of a site: spin bit sb, aligned neighbours ax (x) and ay (y)."""
    return sb + 2 * (ax + 3 * ay)


def msc_tables(betas, couplings, algorithm: str):
    """Per-lattice class tables of the multi-spin kernel: ``info, mid, low``, flat uint32 arrays
    of R·32 entries, index r·32 + code.  ``info`` = top byte | kind << 8 (kind: 0 never flips,
    1 always, 2 compare with T); entry 31 of ``info`` is 1 when the sb = 0 and sb = 1 entries are
    equal (the kernel then forms 9 class masks instead of 18; see :func:`msc_groups`).  Derived entry by entry from
    :func:`thresholds`, so the thresholds are those of the byte-lane and CPU kernels."""
    R = len(np.atleast_1d(betas))
    top, mid, low = (a.reshape(-1, TABLE) for a in thresholds(betas, couplings, algorithm))
    info = np.zeros((R, MSC_STRIDE), np.uint32)
    mid_m = np.zeros_like(info)
    low_m = np.zeros_like(info)
    for sb in (0, 1):
        for ax in range(3):
            for ay in range(3):
                xs, ys = (ax, ay) if sb else (2 - ax, 2 - ay)  # up-neighbour counts
                src = sb + 2 * xs + 8 * ys
                dst = msc_code(sb, ax, ay)
                t_, m_, l_ = top[:R, src], mid[:R, src], low[:R, src]
                kind = np.where(t_ == ALWAYS, KIND_ALWAYS,
                                np.where((t_ | m_ | l_) == 0, KIND_NEVER, KIND_RANDOM))
                info[:, dst] = np.where(kind == KIND_RANDOM, t_, 0) | (kind << 8)
                mid_m[:, dst], low_m[:, dst] = m_, l_
    same = np.ones(R, bool)
    for a in (info, mid_m, low_m):
        same &= np.all(a[:, 0:MSC_CODES:2] == a[:, 1:MSC_CODES:2], axis=1)
    info[:, MSC_FLAGS] = same
    return info.ravel(), mid_m.ravel(), low_m.ravel()


MSC_NEVER = 30  # entry of the group table: the classes that never flip
MSC_SET = 0x3FFFF  # class-set bits of a group entry (top byte in bits 24..31)


def msc_groups(info) -> np.ndarray:
    """The kernel's per-lattice group table (R·32 uint32) from :func:`msc_tables`' ``info``.

    The classes that need a random number are grouped by the top byte of their threshold
    (Metropolis at h = 0: two groups), so the kernel forms one mask per group, not per class.
    Entry g < G: class set | top byte << 24; the class set has bit k = ax + 3·ay when the
    lattice's two spin values are equivalent (9 classes), else bit code (18 classes).  Entry 30:
    the set of classes that never flip; entry 31: G | merged << 8.  Every other class always
    flips.
    """
    info = np.asarray(info, np.uint32).reshape(-1, MSC_STRIDE)
    out = np.zeros_like(info)
    for r, row in enumerate(info):
        merged = int(row[MSC_FLAGS]) & 1
        classes = [(k, int(row[2 * k + 1])) for k in range(9)] if merged else \
            [(c, int(row[c])) for c in range(MSC_CODES)]
        tops = {}
        never = 0
        for k, e in classes:
            if e >> 8 == KIND_RANDOM:
                tops[e & 0xFF] = tops.get(e & 0xFF, 0) | (1 << k)
            elif e >> 8 == KIND_NEVER:
                never |= 1 << k
        for g, (top, members) in enumerate(sorted(tops.items())):
            out[r, g] = members | (top << 24)
        out[r, MSC_NEVER] = never
        out[r, MSC_FLAGS] = len(tops) | (merged << 8)
    return out.ravel()


def to_msc(spins) -> np.ndarray:
    """int8 ±1 spins ``(R, L, L)`` -> multi-spin words ``(2, R, L, W)`` uint32 (colour, lattice,
    y, word), W = ceil(L/64); padding bits 0."""
    spins = np.asarray(spins)
    if spins.ndim == 2:
        spins = spins[None]
    R, L, L1 = spins.shape
    if L != L1 or L % 2 or L < 2:
        raise ParameterError(f"GPU lattices must be L × L with L even and >= 2, got {L} × {L1}")
    H = L // 2
    W = -(-H // 32)
    up = spins > 0
    out = np.empty((2, R, L, W), np.uint32)
    for c in (0, 1):
        half = np.zeros((R, L, 32 * W), bool)
        half[:, 0::2, :H] = up[:, 0::2, c::2]
        half[:, 1::2, :H] = up[:, 1::2, 1 - c::2]
        out[c] = np.packbits(half, axis=-1, bitorder="little").view("<u4")
    return out


def from_msc(words) -> np.ndarray:
    """Inverse of :func:`to_msc`: ``(2, R, L, W)`` uint32 -> int8 ±1 spins ``(R, L, L)``."""
    words = np.ascontiguousarray(words, dtype="<u4")
    _, R, L, W = words.shape
    H = L // 2
    spins = np.empty((R, L, L), np.int8)
    for c in (0, 1):
        bits = np.unpackbits(words[c].view(np.uint8), axis=-1, bitorder="little")[..., :H]
        s = (2 * bits.astype(np.int8) - 1).astype(np.int8)
        spins[:, 0::2, c::2] = s[:, 0::2]
        spins[:, 1::2, 1 - c::2] = s[:, 1::2]
    return spins


def reference_msc_half_sweep(words, top, mid, low, key, t: int, colour: int, counts=None) -> int:
    """Update colour ``colour`` of the multi-spin words ``(2, R, L, W)`` in place, as the
    multi-spin kernel does, site by site in the natural layout.

    ``top, mid, low``: the byte-lane tables of :func:`thresholds` (up-neighbour codes), so this
    reference shares neither the class tables nor the bitwise logic of the kernel.  ``counts``
    (int64, R), if given, is incremented by the accepted flips.  Returns the number of sites
    whose decision needed the 56 further bits.
    """
    _, R, L, W = words.shape
    H = L // 2
    spins = from_msc(words)
    k0, k1 = key
    t_lo, t_hi = t & 0xFFFFFFFF, t >> 32
    r_, y_, i_ = np.meshgrid(np.arange(R), np.arange(L), np.arange(H), indexing="ij")
    x_ = 2 * i_ + ((y_ + colour) & 1)
    s = spins[r_, y_, x_]
    xs = (spins[r_, y_, (x_ + 1) % L] > 0).astype(int) + (spins[r_, y_, (x_ - 1) % L] > 0)
    ys = (spins[r_, (y_ + 1) % L, x_] > 0).astype(int) + (spins[r_, (y_ - 1) % L, x_] > 0)
    entry = r_ * TABLE + (s > 0) + 2 * xs + 8 * ys
    T_top, T_mid, T_low = top[entry].astype(np.int64), mid[entry], low[entry]
    j_, b_ = i_ // 32, (i_ % 32).astype(np.uint32)
    row = (r_ * L + y_).astype(np.uint32)
    byte = np.zeros(s.shape, np.int64)
    for half in (0, 1):
        planes = philox4x32((2 * j_ + half).astype(np.uint32), row, t_lo, t_hi, k0, k1)
        for comp in range(4):
            k = 4 * half + comp
            byte |= ((planes[comp] >> b_) & np.uint32(1)).astype(np.int64) << (7 - k)
    flip = byte < T_top  # T_top = 256: always (no random number needed)
    tie = (byte == T_top) & ((T_top | T_mid | T_low) != 0)
    if tie.any():
        x0, x1, _, _ = philox4x32((32 * j_[tie] + b_[tie]).astype(np.uint32), row[tie], t_lo,
                                  t_hi | TIE_FLAG, k0, k1)
        m, lo = T_mid[tie], T_low[tie]
        flip[tie] = (x0 < m) | ((x0 == m) & ((x1 >> np.uint32(8)) < lo))
    bits = np.zeros((R, L, 32 * W), bool)
    bits[..., :H] = flip
    words[colour] ^= np.packbits(bits, axis=-1, bitorder="little").view("<u4")
    if counts is not None:
        counts[:R] += flip.sum(axis=(1, 2))
    return int(tie.sum())


def _build_msc(count: bool):
    global cuda
    from numba import cuda

    u32 = np.uint32
    FULL = u32(0xFFFFFFFF)
    philox = _device_philox()

    @cuda.jit(device=True)
    def pick(M, members, k, m):
        return u32(M | m) if u32(members >> u32(k)) & u32(1) else M

    @cuda.jit(device=True)
    def union(members, ms, merged):
        """OR of the class masks ms (18-tuple) of the classes in ``members``."""
        M = u32(0)
        M = pick(M, members, 0, ms[0])
        M = pick(M, members, 1, ms[1])
        M = pick(M, members, 2, ms[2])
        M = pick(M, members, 3, ms[3])
        M = pick(M, members, 4, ms[4])
        M = pick(M, members, 5, ms[5])
        M = pick(M, members, 6, ms[6])
        M = pick(M, members, 7, ms[7])
        M = pick(M, members, 8, ms[8])
        if not merged:
            M = pick(M, members, 9, ms[9])
            M = pick(M, members, 10, ms[10])
            M = pick(M, members, 11, ms[11])
            M = pick(M, members, 12, ms[12])
            M = pick(M, members, 13, ms[13])
            M = pick(M, members, 14, ms[14])
            M = pick(M, members, 15, ms[15])
            M = pick(M, members, 16, ms[16])
            M = pick(M, members, 17, ms[17])
        return M

    @cuda.jit(device=True)
    def classes(a1, a2, b1, b2, s, merged):
        """The class masks from the aligned-neighbour words: index ax + 3·ay (merged), else
        code = sb + 2·(ax + 3·ay)."""
        x2 = u32(a1 & a2)
        x1 = u32(a1 ^ a2)
        x0 = u32(~u32(a1 | a2))
        y2 = u32(b1 & b2)
        y1 = u32(b1 ^ b2)
        y0 = u32(~u32(b1 | b2))
        m0 = u32(x0 & y0)
        m1 = u32(x1 & y0)
        m2 = u32(x2 & y0)
        m3 = u32(x0 & y1)
        m4 = u32(x1 & y1)
        m5 = u32(x2 & y1)
        m6 = u32(x0 & y2)
        m7 = u32(x1 & y2)
        m8 = u32(x2 & y2)
        if merged:
            z = u32(0)
            return (m0, m1, m2, m3, m4, m5, m6, m7, m8, z, z, z, z, z, z, z, z, z)
        n = u32(~s)
        return (u32(m0 & n), u32(m0 & s), u32(m1 & n), u32(m1 & s), u32(m2 & n), u32(m2 & s),
                u32(m3 & n), u32(m3 & s), u32(m4 & n), u32(m4 & s), u32(m5 & n), u32(m5 & s),
                u32(m6 & n), u32(m6 & s), u32(m7 & n), u32(m7 & s), u32(m8 & n), u32(m8 & s))

    @cuda.jit(device=True)
    def plane(r, tk, und, lt):
        """One bit plane of the comparison U < T for the undecided sites und."""
        lt = u32(lt | u32(und & u32(u32(~r) & tk)))
        und = u32(und & u32(~u32(r ^ tk)))
        return und, lt

    @cuda.jit(device=True)
    def aligned(S, O, base, y, j, L, W, r_last, colour):
        """Spin word of (y, j) and its four aligned-neighbour words (x, x, y, y)."""
        row = u32(base + u32(y * W))
        s = S[u32(row + j)]
        o = O[u32(row + j)]
        if u32(y + colour) & u32(1):  # the second x-neighbour is at i + 1
            if u32(j + u32(1)) < W:
                h2 = u32(u32(o >> u32(1)) | u32(O[u32(row + j + u32(1))] << u32(31)))
            else:
                h2 = u32(u32(o >> u32(1)) | u32(u32(O[row] & u32(1)) << r_last))
        else:  # ... at i - 1
            if j > u32(0):
                h2 = u32(u32(o << u32(1)) | u32(O[u32(row + j - u32(1))] >> u32(31)))
            else:
                h2 = u32(u32(o << u32(1)) | u32(u32(O[u32(row + W - u32(1))] >> r_last)
                                                & u32(1)))
        up = u32(y - u32(1)) if y > u32(0) else u32(L - u32(1))
        dn = u32(y + u32(1)) if u32(y + u32(1)) < L else u32(0)
        u = O[u32(u32(base + u32(up * W)) + j)]
        d = O[u32(u32(base + u32(dn * W)) + j)]
        return (s, u32(~u32(s ^ o)), u32(~u32(s ^ h2)), u32(~u32(s ^ u)),
                u32(~u32(s ^ d)))

    @cuda.jit(device=True)
    def resolve(S, O, base, L, W, r_last, colour, rowbase, o, mid, low, k0, k1, t_lo, t_hi,
                pend_y, pend_j, pend_m, npend):
        """Finish the tie decisions of the pending words with 56 more bits per site."""
        accepted = u32(0)
        for k in range(npend):
            y = pend_y[k]
            j = pend_j[k]
            m = pend_m[k]
            s, a1, a2, b1, b2 = aligned(S, O, base, y, j, L, W, r_last, colour)
            row = u32(rowbase + y)
            idx = u32(u32(base + u32(y * W)) + j)
            while m != u32(0):
                rest = u32(m & u32(m - u32(1)))
                bit = u32(m ^ rest)
                m = rest
                b = u32(cuda.popc(u32(bit - u32(1))))
                ax = u32(u32(u32(a1 >> b) & u32(1)) + u32(u32(a2 >> b) & u32(1)))
                ay = u32(u32(u32(b1 >> b) & u32(1)) + u32(u32(b2 >> b) & u32(1)))
                e = u32(o + u32(u32(u32(s >> b) & u32(1)) + u32(u32(2) * u32(ax + u32(3) * ay))))
                x0, x1, x2, x3 = philox(u32(u32(32) * j + b), row, t_lo,
                                        u32(t_hi | u32(TIE_FLAG)), k0, k1)
                mm = mid[e]
                if x0 < mm or (x0 == mm and u32(x1 >> u32(8)) < low[e]):
                    S[idx] = u32(S[idx] ^ bit)
                    accepted = u32(accepted + u32(1))
        return accepted

    @cuda.jit
    def half_sweep(S, O, L, W, r_last, R, groups, mid, low, k0, k1, t_lo, t_hi, colour, counts):
        # L, W, r_last (= (H - 1) mod 32), R, colour: uint32; S, O: the two colours, flat (R, L, W)
        tid = u32(cuda.threadIdx.x)
        g0 = u32(u32(cuda.blockIdx.x * cuda.blockDim.x) + tid)
        stride = u32(cuda.gridDim.x * cuda.blockDim.x)
        dy = u32(stride // W)
        dj = u32(stride - u32(dy * W))
        y0 = u32(g0 // W)
        j0 = u32(g0 - u32(y0 * W))
        last = FULL if r_last == u32(31) else u32(u32(u32(1) << u32(r_last + u32(1))) - u32(1))
        pend_y = cuda.local.array(MSC_PENDING, np.uint32)
        pend_j = cuda.local.array(MSC_PENDING, np.uint32)
        pend_m = cuda.local.array(MSC_PENDING, np.uint32)
        total = cuda.shared.array(1, np.int64)
        if count:
            if tid == u32(0):
                total[0] = 0
            cuda.syncthreads()
        lat = u32(cuda.blockIdx.y)
        while lat < R:
            o = u32(lat * u32(MSC_STRIDE))
            flags = groups[o + u32(MSC_FLAGS)]
            G = u32(flags & u32(0xFF))
            merged = u32(flags >> u32(8)) & u32(1)
            never = groups[o + u32(MSC_NEVER)]
            rowbase = u32(lat * L)
            base = u32(rowbase * W)
            mine = u32(0)
            npend = 0
            nw = 0
            y = y0
            j = j0
            while y < L:
                s, a1, a2, b1, b2 = aligned(S, O, base, y, j, L, W, r_last, colour)
                ms = classes(a1, a2, b1, b2, s, merged)
                need = u32(0)
                t0 = t1 = t2 = t3 = t4 = t5 = t6 = t7 = u32(0)
                for g in range(G):
                    e = groups[u32(o + u32(g))]
                    M = union(u32(e & u32(MSC_SET)), ms, merged)
                    need = u32(need | M)
                    if e & u32(0x80000000):
                        t0 = u32(t0 | M)
                    if e & u32(0x40000000):
                        t1 = u32(t1 | M)
                    if e & u32(0x20000000):
                        t2 = u32(t2 | M)
                    if e & u32(0x10000000):
                        t3 = u32(t3 | M)
                    if e & u32(0x08000000):
                        t4 = u32(t4 | M)
                    if e & u32(0x04000000):
                        t5 = u32(t5 | M)
                    if e & u32(0x02000000):
                        t6 = u32(t6 | M)
                    if e & u32(0x01000000):
                        t7 = u32(t7 | M)
                acc = u32(~need)
                if never != u32(0):
                    acc = u32(acc & u32(~union(never, ms, merged)))
                valid = FULL if u32(j + u32(1)) < W else last
                flips = u32(acc & valid)
                und = u32(need & valid)
                if und != u32(0):
                    row = u32(rowbase + y)
                    lt = u32(0)
                    r0, r1, r2, r3 = philox(u32(u32(2) * j), row, t_lo, t_hi, k0, k1)
                    und, lt = plane(r0, t0, und, lt)
                    und, lt = plane(r1, t1, und, lt)
                    und, lt = plane(r2, t2, und, lt)
                    und, lt = plane(r3, t3, und, lt)
                    if und != u32(0):
                        r4, r5, r6, r7 = philox(u32(u32(2) * j + u32(1)), row, t_lo, t_hi, k0, k1)
                        und, lt = plane(r4, t4, und, lt)
                        und, lt = plane(r5, t5, und, lt)
                        und, lt = plane(r6, t6, und, lt)
                        und, lt = plane(r7, t7, und, lt)
                    flips = u32(flips | lt)
                    if und != u32(0):
                        pend_y[npend] = y
                        pend_j[npend] = j
                        pend_m[npend] = und
                        npend += 1
                if flips != u32(0):
                    S[u32(u32(base + u32(y * W)) + j)] = u32(s ^ flips)
                    if count:
                        mine = u32(mine + u32(cuda.popc(flips)))
                nw += 1
                if nw == MSC_PENDING:
                    if npend:
                        mine = u32(mine + resolve(S, O, base, L, W, r_last, colour, rowbase, o,
                                                  mid, low, k0, k1, t_lo, t_hi, pend_y, pend_j,
                                                  pend_m, npend))
                    npend = 0
                    nw = 0
                j = u32(j + dj)
                y = u32(y + dy)
                if j >= W:
                    j = u32(j - W)
                    y = u32(y + u32(1))
            if npend:
                mine = u32(mine + resolve(S, O, base, L, W, r_last, colour, rowbase, o, mid, low,
                                          k0, k1, t_lo, t_hi, pend_y, pend_j, pend_m, npend))
            if count:  # one global atomic per block and lattice
                if mine != u32(0):
                    cuda.atomic.add(total, 0, np.int64(mine))
                cuda.syncthreads()
                if tid == u32(0):
                    if total[0] != 0:
                        cuda.atomic.add(counts, lat, total[0])
                    total[0] = 0
                cuda.syncthreads()
            lat = u32(lat + u32(cuda.gridDim.y))

    return half_sweep


def msc_kernel(count: bool = False):
    """The multi-spin half-sweep kernel (``count``: also accumulate accepted flips)."""
    name = ("msc", bool(count))
    if name not in _KERNELS:
        _KERNELS[name] = _build_msc(bool(count))
    return _KERNELS[name]


class MultiSpinGPU:
    """R Ising lattices updated on the GPU by the multi-spin-coded kernel (32 sites of one
    lattice per word); the same interface as :class:`CheckerboardGPU`.

    ``block`` (threads per block) and ``grid`` (blocks over the words of a lattice, blocks over
    lattices) only change speed, never the result.  ``words_per_thread`` sets the default grid.
    """

    kernel_name = "cuda-multispin"

    def __init__(self, spins, betas, couplings, algorithm: str = "metropolis", key=(0, 0),
                 t0: int = 0, count: bool = False, block: int | None = None, grid=None,
                 words_per_thread: int = 8):
        self.cuda = cuda = require_gpu()
        spins = np.asarray(spins)
        if spins.ndim == 2:
            spins = spins[None]
        self.R, self.L = spins.shape[0], spins.shape[-1]
        words = to_msc(spins)
        self.W = words.shape[-1]
        self.r_last = (self.L // 2 - 1) % 32
        if self.R * self.L * self.W >= 1 << 31:
            raise ParameterError("too many spins for one MultiSpinGPU (2^31 words at most)")
        self.algorithm = _check_algorithm(algorithm)
        self.key = (int(key[0]) & 0xFFFFFFFF, int(key[1]) & 0xFFFFFFFF)
        self.t = int(t0)
        self.count = bool(count)
        info, mid, low = msc_tables(betas, couplings, algorithm)
        self.tables = tuple(cuda.to_device(a) for a in (msc_groups(info), mid, low))
        self.words = [cuda.to_device(np.ascontiguousarray(words[c]).ravel()) for c in (0, 1)]
        self.counts = cuda.to_device(np.zeros(self.R, np.int64))
        self.kernel = msc_kernel(self.count)
        self.words_per_thread = max(1, int(words_per_thread))
        self.set_launch(block, grid)

    def set_launch(self, block: int | None = None, grid=None):
        """``block`` threads per block (default 128); ``grid`` = (blocks over the L·W words of
        a lattice, blocks over lattices), by default enough for ``words_per_thread`` words per
        thread and one lattice per block row (at most 65535; blocks then loop)."""
        bx = 128 if block is None else max(1, int(block))
        self.block = (bx,)
        if grid is None:
            words = self.L * self.W
            grid = (max(1, -(-words // (bx * self.words_per_thread))), min(self.R, 65535))
        self.grid = (int(grid[0]), int(grid[1]))

    def half_sweep(self, colour: int):
        t = self.t
        groups, mid, low = self.tables
        self.kernel[self.grid, self.block](
            self.words[colour], self.words[1 - colour], np.uint32(self.L), np.uint32(self.W),
            np.uint32(self.r_last), np.uint32(self.R), groups, mid, low, np.uint32(self.key[0]),
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
        """The words, (2, R, L, W) uint32."""
        R, L, W = self.R, self.L, self.W
        return np.stack([w.copy_to_host().reshape(R, L, W) for w in self.words])

    def spins(self) -> np.ndarray:
        return from_msc(self.packed())

    def accepted(self) -> np.ndarray:
        """Accepted flips per lattice since the last ``reset_counts`` (needs count=True)."""
        return self.counts.copy_to_host()

    def reset_counts(self):
        self.counts.copy_to_device(np.zeros(self.R, np.int64))


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


GPU_KERNELS = ("auto", "multispin", "bytes")


def gpu_kernel_class(L: int, kernel: str = "auto"):
    """The simulator class for lattices of side L: :class:`MultiSpinGPU` ("multispin", the
    default once a half row fills a 32-bit word, L >= 64) or :class:`CheckerboardGPU` ("bytes",
    four lattices per word, the default below, where multi-spin words would be part empty)."""
    if kernel not in GPU_KERNELS:
        raise ParameterError(f"GPU kernel must be one of {', '.join(GPU_KERNELS)}, not {kernel!r}")
    if kernel == "auto":
        kernel = "multispin" if L >= MSC_MIN_L else "bytes"
    return MultiSpinGPU if kernel == "multispin" else CheckerboardGPU


def simulate_gpu(config, out_path: str | None, progress=None, block_sweeps: int | None = None,
                 sink=None, kernel: str = "auto"):
    """Run every temperature of ``config`` in one set of GPU launches; write ``out_path``.

    Same HDF5 schema and attributes as :func:`spinsym.mc.run.simulate` (plus ``device`` and
    ``rng``); initial configurations are the CPU driver's (stream i of SeedSequence(seed)),
    the Philox key comes from a dedicated child of SeedSequence(seed).  Energies are computed
    on the host from the stored configurations with :func:`spinsym.hamiltonians.energy`.
    ``progress(n_sweeps)`` counts sweeps summed over temperatures, as the CPU driver does.
    ``sink``: a writer to fill instead of ``out_path`` (as in :func:`spinsym.mc.run.simulate`).
    ``kernel``: see :func:`gpu_kernel_class`; the group attribute ``kernel`` records which ran
    ("cuda-multispin" or "cuda", the byte-lane kernel).
    """
    from ..hamiltonians import energy

    check_config(config)
    cls = gpu_kernel_class(config.L, kernel)
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
    sim = cls(spins, betas, config.couplings, config.algorithm, key=philox_key(config.seed),
              count=True)
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
            writer.set_attrs(i, acceptance=float(accepted[i]) / max(1, done * N),
                             kernel=sim.kernel_name)
        return writer.commit()
