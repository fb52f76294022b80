"""Cluster updates for the Ising family at h = 0: Wolff and Swendsen–Wang (Numba).

Same energy convention as :func:`spinsym.hamiltonians.ising_energy` (docs/conventions.md), with
h = 0 (the caller enforces it).  The bonds are those of the energy, each counted once: site
(y, x) owns the x-bond to (y, x+1) (coupling Jx), the y-bond to (y+1, x) (Jy) and the two
diagonal bonds to (y+1, x+1) and (y+1, x-1) (J2): 4N bonds on an L × L torus.  Couplings of
any sign are allowed (Fortuin–Kasteleyn with signs): a bond i–j of coupling J is *satisfied*
when J·s_i·s_j > 0 and is activated with probability p = 1 − exp(−2β|J|) only if satisfied.

Small tori are handled bond by bond, exactly as the energy counts them: at L = 2 the +x and −x
neighbours of a site coincide and are joined by two distinct x-bonds (two independent
activations; likewise for y), and the four diagonal slots of a site all lead to the same
partner, joined by four diagonal bonds.  For L >= 3 all eight partners are distinct.

Sweeps: a Swendsen–Wang sweep is one full update.  A Wolff sweep is a *fixed* number n_c of
single-cluster flips, n_c ≈ N / <|C|> (about N flipped spins), with n_c taken from
:func:`wolff_clusters_per_sweep`, a deterministic function of (L, β, couplings) computed on an
auxiliary replica, or passed by the caller.  "Flip clusters until N spins have flipped" is
deliberately *not* used: it makes the sampling instant depend on the last cluster's size and
biases every measured average (see :func:`wolff_chain`).

Random numbers come from the chain's xoshiro256** state (:mod:`spinsym.mc.rng`).  Every
kernel consumes exactly the stream of the straightforward algorithm: Wolff draws one
``randint(N)`` for the seed, then, site by site as the cluster grows (breadth first: sites
are taken in the order they joined, first joined, first taken) and slot by slot in the order
below, one uniform for each bond from a cluster site to a satisfied site outside the cluster,
activating it iff ``uniform < p``; Swendsen–Wang draws one uniform per satisfied bond in
site order (slots 0, 2, 4, 5), then one ``next_u64 >> 63`` per cluster, at its smallest site.
The kernels work on a flat copy of the lattice (any memory layout of ``spins`` is accepted)
and write the result back into ``spins`` on return.

How the hot loops are made fast:

* no branch on a random outcome: ``uniform < p`` is the integer test
  ``(next_u64 >> 11) < ceil(p·2^53)`` (exactly equivalent), and the draws are read from a
  look-ahead buffer of the stream, ``k += due`` (:func:`_fill`, :func:`_rewind`: the state is
  put back to exactly the numbers consumed when a kernel returns);
* Wolff flips a spin when it joins and marks it by the magnitude (s = ∓2 until the cluster
  is done), so "outside the cluster and satisfied" is one comparison, s_j == sign(J)·s_i,
  with no mark array; the breadth-first queue holds (flat index, x) packed in one int64, so
  no division or modulo, and is itself the member list of the final unmarking pass; the
  next site to grow is known before the current one's draws are (a last-in first-out stack
  would make it wait on them), so the processor overlaps consecutive sites; the couplings
  sit in registers (the per-bond kernels below keep the plain loops);
* Swendsen–Wang: union–find in int32 whose root is always the smallest site of its tree
  (so the last pass relabels with one look-up per site), two-step branch-free root look-ups,
  and, without diagonal bonds, a y-bond's lower site still untouched, so it is linked by a
  plain store.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .ising import _next_regs
from .neighbours import neighbour_index
from .rng import next_u64, randint, uniform

_U = np.uint64
_TWO53 = 9007199254740992.0

# The eight bond slots of a site, as (dy, dx) of the partner: 0 (0, +1), 1 (0, -1), 2 (+1, 0),
# 3 (-1, 0), 4 (+1, +1), 5 (+1, -1), 6 (-1, -1), 7 (-1, +1).  Slots 0, 2, 4, 5 are the bonds
# the site owns; 1, 3, 6, 7 are the bonds owned by the partner (the same bonds seen from the
# other end).  Slot k has coupling Jx (k < 2), Jy (k < 4) or J2.


@njit(nogil=True, cache=True)
def _bond_params(beta, Jx, Jy, J2):
    """Activation probability 1 − exp(−2β|J|) and sign of J for (Jx, Jy, J2)."""
    prob = np.empty(3, dtype=np.float64)
    sign = np.empty(3, dtype=np.int64)
    for k in range(3):
        J = Jx if k == 0 else (Jy if k == 1 else J2)
        prob[k] = -math.expm1(-2.0 * beta * abs(J))
        sign[k] = 1 if J > 0.0 else (-1 if J < 0.0 else 0)
    return prob, sign


# ----------------------------------------------------------------------------------------------
# look-ahead buffer of the xoshiro256** stream

_RB = 1024  # numbers per buffer
_RS = 16  # a state snapshot every _RS numbers


@njit(inline="always", cache=True)
def _fill(buf, snap, st):
    """buf[m] = the m-th next number of the stream at state ``st`` (left unchanged), with the
    state before number _RS·q in snap[q], q = 0 … _RB/_RS (the last: after the buffer)."""
    s0, s1, s2, s3 = st[0], st[1], st[2], st[3]
    for q in range(_RB // _RS):
        snap[q, 0] = s0
        snap[q, 1] = s1
        snap[q, 2] = s2
        snap[q, 3] = s3
        for m in range(_RS):
            res, s0, s1, s2, s3 = _next_regs(s0, s1, s2, s3)
            buf[q * _RS + m] = res
    q = _RB // _RS
    snap[q, 0] = s0
    snap[q, 1] = s1
    snap[q, 2] = s2
    snap[q, 3] = s3


@njit(inline="always", cache=True)
def _rewind(snap, st, k):
    """Set ``st`` to the state after the first k numbers of the buffer (k <= _RB)."""
    q = k // _RS
    s0, s1, s2, s3 = snap[q, 0], snap[q, 1], snap[q, 2], snap[q, 3]
    for _ in range(k - q * _RS):
        res, s0, s1, s2, s3 = _next_regs(s0, s1, s2, s3)
    st[0] = s0
    st[1] = s1
    st[2] = s2
    st[3] = s3


@njit(nogil=True, cache=True)
def _scalar_thresholds(beta, Jx, Jy, J2):
    """(thresholds, signs) for (Jx, Jy, J2): ``uniform < p`` iff ``(next_u64 >> 11) <
    ceil(p·2^53)`` (p·2^53 is exact, and an integer is below x iff it is below ceil(x))."""
    prob, sign = _bond_params(beta, Jx, Jy, J2)
    th = np.empty(3, dtype=np.int64)
    for k in range(3):
        th[k] = np.int64(math.ceil(prob[k] * _TWO53))
    return th, sign


@njit(nogil=True, cache=True)
def _flat_copy(spins):
    L0, L1 = spins.shape
    s = np.empty(L0 * L1, dtype=np.int8)
    for y in range(L0):
        for x in range(L1):
            s[y * L1 + x] = spins[y, x]
    return s


@njit(nogil=True, cache=True)
def _unflatten(s, dst):
    L0, L1 = dst.shape
    for y in range(L0):
        for x in range(L1):
            dst[y, x] = s[y * L1 + x]


@njit(inline="always", cache=True)
def _wolff_try(s, queue, tail, gs, j, xj, t, buf, k):
    """Test the bond (threshold t) from a cluster site to site j (column xj), where gs is the
    bond's sign times the cluster site's spin before the flip: the bond is satisfied and j is
    outside the cluster iff s_j == gs (members are marked by |s| = 2), and only then a number
    is drawn; if the bond is activated, append j to the queue and set s_j to −2·s_j (flipped,
    and marked by the magnitude).  Branch-free (the queue slot and s_j are written either
    way); returns (tail, k)."""
    sj = np.int64(s[_U(j)])
    due = np.int64(sj == gs)
    join = due & np.int64(np.int64(buf[_U(k)] >> _U(11)) < t)
    s[_U(j)] = np.int8(sj - 3 * gs * join)
    queue[_U(tail)] = (np.int64(j) << 32) | xj
    return tail + join, k + due


@njit(nogil=True, cache=True)
def _wolff_clusters(s, L0, L1, nclus, budget, st, th, sign, queue, buf, snap):
    """Grow and flip ``nclus`` clusters from uniformly random seeds (or, if ``budget`` > 0,
    clusters until ``budget`` spins have flipped: the calibration replica only).  Returns
    (flipped spins, clusters).

    Every bond between a cluster site and a site outside is tested exactly once, with the
    spins before the update; bonds to sites already in the cluster are not needed (at L = 2
    a second bond to the same partner is then skipped, which is the same as testing it: the
    partner is in).  The cluster grows breadth first: ``queue`` (N + 1 entries; the slot
    after the last member is written and ignored) receives every member in the order it
    joins, so ``queue[:tail]`` is the cluster when the growth stops and no separate member
    list is kept; the site to grow next never depends on the outcome just drawn."""
    N = L0 * L1
    xp, xm = neighbour_index(L1)
    tx, ty, td = th[0], th[1], th[2]
    gx, gy, gd = sign[0], sign[1], sign[2]
    total = np.int64(0)
    clusters = np.int64(0)
    _fill(buf, snap, st)
    k = np.int64(0)
    while (budget > 0 and total < budget) or (budget <= 0 and clusters < nclus):
        if k > _RB - 1:
            _rewind(snap, st, k)
            _fill(buf, snap, st)
            k = 0
        seed = np.int64(((buf[_U(k)] >> _U(32)) * _U(N)) >> _U(32))  # rng.randint
        k += 1
        queue[0] = (seed << 32) | (seed % L1)
        s[seed] = -2 * s[seed]
        head = np.int64(0)
        tail = np.int64(1)
        while head < tail:
            if k > _RB - 8:
                _rewind(snap, st, k)
                _fill(buf, snap, st)
                k = 0
            e = queue[_U(head)]
            head += 1
            i = e >> 32
            x = e & 0xFFFFFFFF
            si = -(np.int64(s[_U(i)]) >> 1)  # the spin before the flip
            r = i - x
            u = r + L1  # row y + 1
            u -= N * np.int64(u >= N)
            d = r - L1  # row y − 1
            d += N * np.int64(d < 0)
            xa = xp[x]
            xb = xm[x]
            if gx != 0:
                gs = gx * si
                tail, k = _wolff_try(s, queue, tail, gs, r + xa, xa, tx, buf, k)
                tail, k = _wolff_try(s, queue, tail, gs, r + xb, xb, tx, buf, k)
            if gy != 0:
                gs = gy * si
                tail, k = _wolff_try(s, queue, tail, gs, u + x, x, ty, buf, k)
                tail, k = _wolff_try(s, queue, tail, gs, d + x, x, ty, buf, k)
            if gd != 0:
                gs = gd * si
                tail, k = _wolff_try(s, queue, tail, gs, u + xa, xa, td, buf, k)
                tail, k = _wolff_try(s, queue, tail, gs, u + xb, xb, td, buf, k)
                tail, k = _wolff_try(s, queue, tail, gs, d + xb, xb, td, buf, k)
                tail, k = _wolff_try(s, queue, tail, gs, d + xa, xa, td, buf, k)
        for m in range(tail):  # unmark: ±2 -> ±1
            j = queue[_U(m)] >> 32
            s[_U(j)] = s[_U(j)] >> 1
        total += tail
        clusters += 1
    _rewind(snap, st, k)
    return total, clusters


@njit(nogil=True, cache=True)
def _wolff_work(N):
    queue = np.empty(N + 1, dtype=np.int64)
    buf = np.empty(_RB, dtype=np.uint64)
    snap = np.empty((_RB // _RS + 1, 4), dtype=np.uint64)
    return queue, buf, snap


#: Calibration of the Wolff sweep (see :func:`wolff_clusters_per_sweep`): the auxiliary
#: replica is thermalized for CAL_THERM_SITES · N flipped spins, then its clusters are
#: measured over CAL_MEASURE_SITES · N flipped spins.
CAL_THERM_SITES = 3
CAL_MEASURE_SITES = 2
# fixed xoshiro256** state of the calibration (independent of every chain's stream)
_CALIBRATION_STATE = np.array([0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB,
                               0x2545F4914F6CDD1D], dtype=np.uint64)


@njit(nogil=True, cache=True)
def _clusters_per_sweep(L0, L1, beta, Jx, Jy, J2):
    """See :func:`wolff_clusters_per_sweep` (L0 × L1 torus)."""
    N = L0 * L1
    th, sign = _scalar_thresholds(beta, Jx, Jy, J2)
    # start: every nearest-neighbour bond satisfied, s = (±1)^x (±1)^y
    fx = -1 if Jx < 0.0 else 1
    fy = -1 if Jy < 0.0 else 1
    s = np.empty(N, dtype=np.int8)
    for y in range(L0):
        for x in range(L1):
            s[y * L1 + x] = (fx if x & 1 else 1) * (fy if y & 1 else 1)
    queue, buf, snap = _wolff_work(N)
    state = _CALIBRATION_STATE.copy()
    _wolff_clusters(s, L0, L1, 0, CAL_THERM_SITES * N, state, th, sign, queue, buf, snap)
    flipped, clusters = _wolff_clusters(s, L0, L1, 0, CAL_MEASURE_SITES * N, state, th, sign,
                                        queue, buf, snap)
    return max(np.int64(1), np.int64(round(N * clusters / flipped)))


@njit(nogil=True, cache=True)
def wolff_clusters_per_sweep(L, beta, Jx, Jy, J2):
    """Clusters per Wolff sweep, n_c = max(1, round(N / <|C|>)), on the L × L torus.

    <|C|> is the mean cluster size of an auxiliary Wolff replica with its own fixed random
    stream: started with every nearest-neighbour bond satisfied, thermalized for
    ``CAL_THERM_SITES`` · N flipped spins, then measured over ``CAL_MEASURE_SITES`` · N.
    A deterministic function of (L, β, Jx, Jy, J2): it never looks at a chain, so sampling
    every n_c clusters stays exactly Boltzmann.  Costs about five to six sweeps of cluster
    work.  Accuracy: over ferro / frustrated / mixed couplings, L = 8…256, T = 1.5…3.5, n_c
    was within a factor 0.36…1.8 of N/<|C|> of a well-thermalized chain (worst near T_c at
    large L, where the ordered start is not fully relaxed); that only changes the work per
    sweep, never the distribution.
    """
    return _clusters_per_sweep(L, L, beta, Jx, Jy, J2)


@njit(nogil=True, cache=True)
def wolff_chain(spins, state, beta, Jx, Jy, J2, every, out, clusters_per_sweep=0):
    """Wolff single-cluster updates (h = 0) on nearest and diagonal bonds, any coupling signs.

    One *sweep* is a fixed number n_c of single-cluster flips, about N = L² flipped spins on
    average: n_c = ``clusters_per_sweep`` if > 0, else :func:`wolff_clusters_per_sweep`
    (a deterministic function of L, β and the couplings; it costs about five sweeps, so a
    caller making many short calls should compute it once and pass it; a caller may also
    choose n_c once from its own thermalization, since one choice made before production
    only adds a thermalization-like transient).
    ``out.shape[0] * every`` sweeps are made and the configuration is copied into out[i]
    after every ``every`` sweeps.  Returns the total number of flipped spins (the sum of the
    cluster sizes; divide by sweeps · N for the flipped fraction, ≈ 1).

    Why not "flip clusters until N spins have flipped": then the instant of each sample
    depends on the cluster just flipped (a sweep tends to end right after a large cluster),
    and the samples are *not* Boltzmann distributed: at T_c the energy per site comes out
    low by ≈0.2 at L = 4 and still ≈0.02 at L = 32.  Choosing n_c from the chain's own
    configuration (at the start of a call) is biased in the same way.  With n_c fixed
    independently of the chain every sample is an equilibrium sample.
    """
    L0, L1 = spins.shape
    if out.shape[1] != L0 or out.shape[2] != L1:
        raise ValueError("out must have shape (n, L, L)")
    N = L0 * L1
    if clusters_per_sweep > 0:
        n_c = np.int64(clusters_per_sweep)
    else:
        n_c = _clusters_per_sweep(L0, L1, beta, Jx, Jy, J2)
    th, sign = _scalar_thresholds(beta, Jx, Jy, J2)
    queue, buf, snap = _wolff_work(N)
    s = _flat_copy(spins)
    total = np.int64(0)
    for n in range(out.shape[0]):
        f, _ = _wolff_clusters(s, L0, L1, every * n_c, 0, state, th, sign, queue, buf, snap)
        total += f
        _unflatten(s, out[n])
    _unflatten(s, spins)
    return total


@njit(inline="always", cache=True)
def _find(parent, i):
    # path halving
    p = parent[_U(i)]
    while p != i:
        g = parent[_U(p)]
        parent[_U(i)] = g
        i = p
        p = g
    return i


@njit(inline="always", cache=True)
def _root(parent, i):
    """Root of i: two unconditional look-ups, a loop only below depth two; i is pointed at
    its root."""
    p = parent[_U(i)]
    g = parent[_U(p)]
    h = parent[_U(g)]
    if h != g:
        g = _find(parent, h)
    parent[_U(i)] = g
    return g


@njit(inline="always", cache=True)
def _link(parent, ri, j):
    """Join the tree of j to the root ri; returns the root of the union (the smaller)."""
    rj = _find(parent, j)
    lo = min(ri, rj)
    parent[_U(max(ri, rj))] = lo
    return lo


@njit(inline="always", cache=True)
def _activate(s, si, j, g, t, buf, k):
    """1 if the bond (sign g, threshold t) from spin si to site j is activated; a number is
    drawn iff it is satisfied.  Returns (activated, k)."""
    due = np.int64(g * si * np.int64(s[_U(j)]) > 0)
    return due & np.int64(np.int64(buf[_U(k)] >> _U(11)) < t), k + due


@njit(nogil=True, cache=True)
def _sw_sweeps(s, L0, L1, nsweep, st, th, sign, parent, act, decision, buf, snap):
    """``nsweep`` Swendsen–Wang updates; returns the number of clusters formed."""
    yp, _ = neighbour_index(L0)
    xp, xm = neighbour_index(L1)
    N = L0 * L1
    tx, ty, td = th[0], th[1], th[2]
    gx, gy, gd = sign[0], sign[1], sign[2]
    total = np.int64(0)
    _fill(buf, snap, st)
    k = np.int64(0)
    for _ in range(nsweep):
        for y in range(L0):
            r = y * L1
            u = yp[y] * L1
            for x in range(L1):
                if k > _RB - 4:
                    _rewind(snap, st, k)
                    _fill(buf, snap, st)
                    k = 0
                i = r + x
                si = np.int64(s[i])
                b = np.int64(0)
                if gx != 0:
                    a, k = _activate(s, si, r + xp[x], gx, tx, buf, k)
                    b |= a
                if gy != 0:
                    a, k = _activate(s, si, u + x, gy, ty, buf, k)
                    b |= a << 1
                if gd != 0:
                    a, k = _activate(s, si, u + xp[x], gd, td, buf, k)
                    b |= a << 2
                    a, k = _activate(s, si, u + xm[x], gd, td, buf, k)
                    b |= a << 3
                act[i] = b
                parent[i] = i
        fresh = gd == 0
        for y in range(L0):
            r = y * L1
            u = yp[y] * L1
            last = y == L0 - 1 or not fresh
            for x in range(L1):
                i = r + x
                b = np.int64(act[i])
                ri = _root(parent, np.int32(i))
                jx = np.int32(r + xp[x]) if b & 1 else np.int32(i)
                rj = _root(parent, jx)
                lo = min(ri, rj)
                parent[_U(max(ri, rj))] = lo
                parent[_U(jx)] = lo
                ri = lo
                if not last:
                    j = u + x
                    parent[j] = ri if b & 2 else np.int32(j)
                else:
                    if b & 2:
                        ri = _link(parent, ri, np.int32(u + x))
                    if b & 4:
                        ri = _link(parent, ri, np.int32(u + xp[x]))
                    if b & 8:
                        ri = _link(parent, ri, np.int32(u + xm[x]))
        clusters = np.int64(0)
        for i in range(N):
            if k > _RB - 1:
                _rewind(snap, st, k)
                _fill(buf, snap, st)
                k = 0
            rt = parent[_U(parent[_U(i)])]
            parent[_U(i)] = rt
            new = np.int64(rt == i)
            bit = np.int64(buf[_U(k)] >> _U(63)) if new else np.int64(decision[_U(rt)])
            k += new
            decision[_U(i)] = bit
            clusters += new
            sv = np.int64(s[i])
            s[i] = np.int8(sv - 2 * sv * bit)
        total += clusters
    _rewind(snap, st, k)
    return total


@njit(nogil=True, cache=True)
def swendsen_wang_chain(spins, state, beta, Jx, Jy, J2, every, out):
    """Swendsen–Wang (h = 0) on nearest and diagonal bonds, any coupling signs.

    One sweep = one full update: activate every satisfied bond with 1 − exp(−2β|J|), label
    the clusters (union–find), flip each with probability 1/2.  ``out.shape[0] * every``
    sweeps; out[i] receives the configuration after every ``every`` sweeps.  Returns the
    total number of clusters formed (summed over sweeps).
    """
    L0, L1 = spins.shape
    if out.shape[1] != L0 or out.shape[2] != L1:
        raise ValueError("out must have shape (n, L, L)")
    N = L0 * L1
    th, sign = _scalar_thresholds(beta, Jx, Jy, J2)
    s = _flat_copy(spins)
    parent = np.empty(N, dtype=np.int32)
    act = np.empty(N, dtype=np.uint8)
    decision = np.empty(N, dtype=np.int8)
    buf = np.empty(_RB, dtype=np.uint64)
    snap = np.empty((_RB // _RS + 1, 4), dtype=np.uint64)
    total = np.int64(0)
    for n in range(out.shape[0]):
        total += _sw_sweeps(s, L0, L1, every, state, th, sign, parent, act, decision, buf, snap)
        _unflatten(s, out[n])
    _unflatten(s, spins)
    return total


# ----------------------------------------------------------------------------------------------
# Per-bond couplings (spinsym.couplings.BondCouplings)
#
# The same updates with one coupling per bond: Jx[y, x] to (y, x+1), Jy[y, x] to (y+1, x),
# J2p[y, x] to (y+1, x+1) and J2m[y, x] to (y+1, x−1), each of any sign or zero (h = 0).  The
# bond tables (:func:`bond_tables`) hold, per bond, the activation probability
# 1 − exp(−2β|J|) and the sign of J, computed by the very expression of :func:`_bond_params`;
# the growth and labelling code is that of the homogeneous kernels, slot for slot and in the
# same order, with the probability and sign looked up per bond.  A zero bond (sign 0) is never
# satisfied and draws no random number, as the homogeneous kernels skip a zero coupling.  So
# with homogeneous arrays the per-bond kernels make the same clusters from the same random
# numbers as the homogeneous ones, bit for bit (tests/mc/test_cluster_bonds.py).
#
# Slot k of site i = (y, x) and the row of the bond table holding its bond (rows 0 Jx, 1 Jy,
# 2 J2p, 3 J2m, column = the owning site): 0 (0, +1) Jx[i]; 1 (0, −1) Jx[partner];
# 2 (+1, 0) Jy[i]; 3 (−1, 0) Jy[partner]; 4 (+1, +1) J2p[i]; 5 (+1, −1) J2m[i];
# 6 (−1, −1) J2p[partner]; 7 (−1, +1) J2m[partner].


@njit(nogil=True, cache=True)
def bond_tables(beta, Jx, Jy, J2p, J2m):
    """Per-bond activation probabilities and signs for (L0, L1) coupling arrays.

    Returns ``prob`` (4, N) float64, 1 − exp(−2β|J|), and ``sign`` (4, N) int8, the sign of J
    (0 for a zero bond); rows Jx, Jy, J2p, J2m, column y·L1 + x the site that owns the bond.
    """
    L0, L1 = Jx.shape
    N = L0 * L1
    prob = np.empty((4, N), dtype=np.float64)
    sign = np.empty((4, N), dtype=np.int8)
    for y in range(L0):
        for x in range(L1):
            i = y * L1 + x
            for k in range(4):
                if k == 0:
                    J = Jx[y, x]
                elif k == 1:
                    J = Jy[y, x]
                elif k == 2:
                    J = J2p[y, x]
                else:
                    J = J2m[y, x]
                prob[k, i] = -math.expm1(-2.0 * beta * abs(J))
                sign[k, i] = 1 if J > 0.0 else (-1 if J < 0.0 else 0)
    return prob, sign


@njit(inline="always", cache=True)
def _wolff_try_bond(s, state, mark, gen, queue, tail, si, j, b, row, prob, sign):
    """:func:`_wolff_try` for the bond stored at (row, b) of the bond tables."""
    if mark[j] != gen and np.int64(sign[row, b]) * si * np.int64(s[j]) > 0 \
            and uniform(state) < prob[row, b]:
        mark[j] = gen
        queue[tail] = j
        tail += 1
    return tail


@njit(nogil=True, cache=True)
def _wolff_cluster_bonds(s, L1, state, yp, ym, xp, xm, prob, sign, diagonals, mark, gen,
                         queue):
    """:func:`_wolff_clusters` (one cluster, grown breadth first from ``queue``, N entries)
    with per-bond tables (slots in the same order); ``diagonals`` false skips the four
    diagonal slots (every diagonal bond zero: they would draw nothing)."""
    N = s.shape[0]
    seed = np.int64(randint(state, N))
    mark[seed] = gen
    queue[0] = seed
    tail = np.int64(1)
    size = np.int64(0)
    while size < tail:
        i = queue[size]
        y = i // L1
        x = i - y * L1
        si = np.int64(s[i])
        r = y * L1
        u = yp[y] * L1
        d = ym[y] * L1
        xa = xp[x]
        xb = xm[x]
        tail = _wolff_try_bond(s, state, mark, gen, queue, tail, si, r + xa, i, 0, prob, sign)
        tail = _wolff_try_bond(s, state, mark, gen, queue, tail, si, r + xb, r + xb, 0, prob,
                               sign)
        tail = _wolff_try_bond(s, state, mark, gen, queue, tail, si, u + x, i, 1, prob, sign)
        tail = _wolff_try_bond(s, state, mark, gen, queue, tail, si, d + x, d + x, 1, prob, sign)
        if diagonals:
            tail = _wolff_try_bond(s, state, mark, gen, queue, tail, si, u + xa, i, 2, prob,
                                   sign)
            tail = _wolff_try_bond(s, state, mark, gen, queue, tail, si, u + xb, i, 3, prob,
                                   sign)
            tail = _wolff_try_bond(s, state, mark, gen, queue, tail, si, d + xb, d + xb, 2, prob,
                                   sign)
            tail = _wolff_try_bond(s, state, mark, gen, queue, tail, si, d + xa, d + xa, 3, prob,
                                   sign)
        s[i] = -si
        size += 1
    return size


@njit(nogil=True, cache=True)
def _has_diagonals(sign):
    N = sign.shape[1]
    for i in range(N):
        if sign[2, i] != 0 or sign[3, i] != 0:
            return True
    return False


@njit(nogil=True, cache=True)
def wolff_clusters_per_sweep_tables(L0, L1, prob, sign, start_fx, start_fy):
    """:func:`wolff_clusters_per_sweep_bonds` from prepared :func:`bond_tables`."""
    N = L0 * L1
    diagonals = _has_diagonals(sign)
    yp, ym = neighbour_index(L0)
    xp, xm = neighbour_index(L1)
    s = np.empty(N, dtype=np.int8)
    for y in range(L0):
        for x in range(L1):
            s[y * L1 + x] = (start_fx if x & 1 else 1) * (start_fy if y & 1 else 1)
    state = _CALIBRATION_STATE.copy()
    mark = np.zeros(N, dtype=np.int64)
    queue = np.empty(N, dtype=np.int64)
    gen = np.int64(0)
    flipped = np.int64(0)
    while flipped < CAL_THERM_SITES * N:
        gen += 1
        flipped += _wolff_cluster_bonds(s, L1, state, yp, ym, xp, xm, prob, sign, diagonals,
                                        mark, gen, queue)
    flipped = 0
    clusters = np.int64(0)
    while flipped < CAL_MEASURE_SITES * N:
        gen += 1
        clusters += 1
        flipped += _wolff_cluster_bonds(s, L1, state, yp, ym, xp, xm, prob, sign, diagonals,
                                        mark, gen, queue)
    return max(np.int64(1), np.int64(round(N * clusters / flipped)))


@njit(nogil=True, cache=True)
def _start_signs(Jx, Jy):
    """Start of the calibration replica: s = fx^x · fy^y with fx (fy) = −1 when the x (y)
    couplings sum to a negative number, else +1 (the homogeneous rule for constant arrays)."""
    return (np.int8(-1) if Jx.sum() < 0.0 else np.int8(1),
            np.int8(-1) if Jy.sum() < 0.0 else np.int8(1))


@njit(nogil=True, cache=True)
def wolff_clusters_per_sweep_bonds(beta, Jx, Jy, J2p, J2m):
    """Clusters per Wolff sweep for per-bond couplings ((L, L) arrays), as
    :func:`wolff_clusters_per_sweep`: an auxiliary replica with its own fixed stream, started
    from s = fx^x · fy^y (fx = −1 when ΣJx < 0, likewise fy), so a deterministic function of
    (L, β, couplings); for constant arrays it equals :func:`wolff_clusters_per_sweep`."""
    L0, L1 = Jx.shape
    prob, sign = bond_tables(beta, Jx, Jy, J2p, J2m)
    fx, fy = _start_signs(Jx, Jy)
    return wolff_clusters_per_sweep_tables(L0, L1, prob, sign, fx, fy)


@njit(nogil=True, cache=True)
def wolff_chain_tables(spins, state, prob, sign, every, out, clusters_per_sweep):
    """:func:`wolff_chain_bonds` from prepared :func:`bond_tables` and a clusters-per-sweep
    count (> 0); for a kernel that prepares both once per chain."""
    L0, L1 = spins.shape
    N = L0 * L1
    if out.shape[1] != L0 or out.shape[2] != L1 or prob.shape[1] != N or sign.shape[1] != N:
        raise ValueError("out must have shape (n, L, L) and the tables (4, L * L)")
    n_c = np.int64(clusters_per_sweep)
    diagonals = _has_diagonals(sign)
    yp, ym = neighbour_index(L0)
    xp, xm = neighbour_index(L1)
    s = _flat_copy(spins)
    mark = np.zeros(N, dtype=np.int64)
    queue = np.empty(N, dtype=np.int64)
    gen = np.int64(0)
    total = np.int64(0)
    for n in range(out.shape[0]):
        for _ in range(every * n_c):
            gen += 1
            total += _wolff_cluster_bonds(s, L1, state, yp, ym, xp, xm, prob, sign, diagonals,
                                          mark, gen, queue)
        _unflatten(s, out[n])
    _unflatten(s, spins)
    return total


@njit(nogil=True, cache=True)
def wolff_chain_bonds(spins, state, beta, Jx, Jy, J2p, J2m, every, out, clusters_per_sweep=0):
    """:func:`wolff_chain` with per-bond couplings: Jx, Jy, J2p, J2m are (L, L) float64 arrays
    (site (y, x) owns Jx[y, x] to (y, x+1), Jy[y, x] to (y+1, x), J2p[y, x] to (y+1, x+1),
    J2m[y, x] to (y+1, x−1)), any signs, h = 0.  A bond is satisfied when J·s_i·s_j > 0 and
    then activated with probability 1 − exp(−2β|J|); zero bonds never.  One sweep is
    n_c = ``clusters_per_sweep`` (if > 0) or :func:`wolff_clusters_per_sweep_bonds` clusters.
    With constant arrays the chain is bit for bit that of :func:`wolff_chain`.  Returns the
    total number of flipped spins."""
    L0, L1 = spins.shape
    if Jx.shape != (L0, L1) or Jy.shape != (L0, L1) or J2p.shape != (L0, L1) \
            or J2m.shape != (L0, L1):
        raise ValueError("the coupling arrays must have the shape of spins")
    prob, sign = bond_tables(beta, Jx, Jy, J2p, J2m)
    if clusters_per_sweep > 0:
        n_c = np.int64(clusters_per_sweep)
    else:
        fx, fy = _start_signs(Jx, Jy)
        n_c = wolff_clusters_per_sweep_tables(L0, L1, prob, sign, fx, fy)
    return wolff_chain_tables(spins, state, prob, sign, every, out, n_c)


@njit(inline="always", cache=True)
def _sw_bond_table(s, state, parent, i, si, j, b, row, prob, sign):
    """Activate the bond stored at (row, b) of the bond tables if satisfied; join the clusters."""
    if np.int64(sign[row, b]) * si * np.int64(s[j]) > 0 and uniform(state) < prob[row, b]:
        a = _find(parent, i)
        c = _find(parent, j)
        if a < c:
            parent[c] = a
        elif c < a:
            parent[a] = c


@njit(nogil=True, cache=True)
def _sw_update_bonds(s, L0, L1, state, yp, xp, xm, prob, sign, diagonals, parent, decision):
    """:func:`_sw_sweeps` (one update) with per-bond tables (bonds in the same order)."""
    N = s.shape[0]
    for i in range(N):
        parent[i] = i
        decision[i] = -1
    for y in range(L0):
        r = y * L1
        u = yp[y] * L1
        for x in range(L1):
            i = r + x
            si = np.int64(s[i])
            _sw_bond_table(s, state, parent, i, si, r + xp[x], i, 0, prob, sign)
            _sw_bond_table(s, state, parent, i, si, u + x, i, 1, prob, sign)
            if diagonals:
                _sw_bond_table(s, state, parent, i, si, u + xp[x], i, 2, prob, sign)
                _sw_bond_table(s, state, parent, i, si, u + xm[x], i, 3, prob, sign)
    clusters = np.int64(0)
    for i in range(N):
        r = _find(parent, i)
        if decision[r] < 0:
            decision[r] = np.int8(next_u64(state) >> np.uint64(63))
            clusters += 1
        if decision[r] == 1:
            s[i] = -s[i]
    return clusters


@njit(nogil=True, cache=True)
def swendsen_wang_chain_tables(spins, state, prob, sign, every, out):
    """:func:`swendsen_wang_chain_bonds` from prepared :func:`bond_tables`."""
    L0, L1 = spins.shape
    N = L0 * L1
    if out.shape[1] != L0 or out.shape[2] != L1 or prob.shape[1] != N or sign.shape[1] != N:
        raise ValueError("out must have shape (n, L, L) and the tables (4, L * L)")
    diagonals = _has_diagonals(sign)
    yp, _ = neighbour_index(L0)
    xp, xm = neighbour_index(L1)
    s = _flat_copy(spins)
    parent = np.empty(N, dtype=np.int64)
    decision = np.empty(N, dtype=np.int8)
    total = np.int64(0)
    for n in range(out.shape[0]):
        for _ in range(every):
            total += _sw_update_bonds(s, L0, L1, state, yp, xp, xm, prob, sign, diagonals,
                                      parent, decision)
        _unflatten(s, out[n])
    _unflatten(s, spins)
    return total


@njit(nogil=True, cache=True)
def swendsen_wang_chain_bonds(spins, state, beta, Jx, Jy, J2p, J2m, every, out):
    """:func:`swendsen_wang_chain` with per-bond couplings ((L, L) arrays as in
    :func:`wolff_chain_bonds`), any signs, h = 0; with constant arrays bit for bit the chain
    of :func:`swendsen_wang_chain`.  Returns the total number of clusters formed."""
    L0, L1 = spins.shape
    if Jx.shape != (L0, L1) or Jy.shape != (L0, L1) or J2p.shape != (L0, L1) \
            or J2m.shape != (L0, L1):
        raise ValueError("the coupling arrays must have the shape of spins")
    prob, sign = bond_tables(beta, Jx, Jy, J2p, J2m)
    return swendsen_wang_chain_tables(spins, state, prob, sign, every, out)
