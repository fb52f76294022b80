"""Exact reference results for the Ising family and limiting forms for the XY model.

Everything here follows docs/conventions.md: an L × L torus indexed ``s[y, x]``, N = L², k_B = 1,

    H = -Jx Σ_x-bonds s_i s_j - Jy Σ_y-bonds s_i s_j - J2 Σ_diag-bonds s_i s_j - h Σ_i s_i,

and every configuration (or row-pair) energy is evaluated by
:func:`spinsym.hamiltonians.ising_energy`; no second copy of the Hamiltonian lives here.

Finite tori, any (Jx, Jy, J2, h):

* :func:`enumerate_ising` – all 2^N states, N ≤ 16.
* :func:`transfer_matrix_ising` – row-to-row transfer matrix, 2 ≤ L ≤ 10.

Isotropic zero-field torus, any L: :func:`kaufman_ising` (Kaufman 1949, Ferdinand & Fisher 1969).

Ground states: :func:`ground_state_ising`, :func:`ground_state_energy_per_site`,
:func:`ground_state_energies` (minimum over all 4 × 4-periodic configurations), :func:`tile`.

Infinite lattice: :data:`ONSAGER_TC`, :func:`critical_temperature`,
:func:`onsager_magnetization`, :func:`onsager_energy_per_site`.

XY (approximations valid only in their limits): :func:`xy_energy_low_T`, :func:`xy_energy_high_T`.

Observables returned by the finite-torus solvers (all Python floats; e is the energy per site):

``log_z``, ``energy_per_site`` ⟨e⟩, ``e2`` ⟨e²⟩, ``specific_heat`` β² N (⟨e²⟩ − ⟨e⟩²),
``m`` ⟨m⟩, ``abs_m`` ⟨|m|⟩, ``m2``, ``m4``, ``binder`` 1 − ⟨m⁴⟩/(3⟨m²⟩²),
``susceptibility`` β N (⟨m²⟩ − ⟨|m|⟩²), ``staggered_m2`` ⟨m_s²⟩, ``stripe_x_m2`` ⟨m_x²⟩,
``stripe_y_m2`` ⟨m_y²⟩ with m_s = (1/N) Σ (−1)^(x+y) s, m_x = (1/N) Σ (−1)^x s,
m_y = (1/N) Σ (−1)^y s.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

from .errors import ParameterError
from .hamiltonians import Couplings, ising_energy
from .lattice import check_size, sign_patterns

__all__ = [
    "ONSAGER_TC",
    "ENUMERATION_MAX_SITES",
    "TRANSFER_MATRIX_MAX_L",
    "enumerate_ising",
    "transfer_matrix_ising",
    "kaufman_ising",
    "ground_state_ising",
    "ground_state_energy_per_site",
    "ground_state_energies",
    "ground_state_bond_sums",
    "tile",
    "critical_temperature",
    "onsager_magnetization",
    "onsager_energy_per_site",
    "xy_energy_low_T",
    "xy_energy_high_T",
]

#: Onsager's critical temperature of the isotropic square-lattice Ising model (J = 1).
ONSAGER_TC = 2.0 / math.log(1.0 + math.sqrt(2.0))

#: Largest number of sites :func:`enumerate_ising` accepts (2^16 states).
ENUMERATION_MAX_SITES = 16
#: Largest linear size :func:`transfer_matrix_ising` accepts (2^10 row states).
TRANSFER_MATRIX_MAX_L = 10
#: Largest period :func:`ground_state_ising` accepts (2^16 configurations).
GROUND_STATE_MAX_PERIOD = 4

_ENUM_CHUNK = 1 << 13


# ----------------------------------------------------------------------------------------------
# input checks


def _check_temperature(T) -> float:
    try:
        t = float(T)
    except (TypeError, ValueError):
        raise ParameterError(f"temperature must be a number, got {T!r}") from None
    if not math.isfinite(t) or t <= 0.0:
        raise ParameterError(f"temperature must be finite and > 0, got {T!r}")
    return t


def _check_temperatures(T) -> np.ndarray:
    """Array version of :func:`_check_temperature` (for the vectorized closed forms)."""
    try:
        t = np.asarray(T, dtype=np.float64)
    except (TypeError, ValueError):
        raise ParameterError(f"temperature must be numeric, got {T!r}") from None
    if not np.all(np.isfinite(t)) or np.any(t <= 0.0):
        raise ParameterError(f"temperatures must be finite and > 0, got {T!r}")
    return t


def _check_coupling(J, name="J") -> float:
    try:
        j = float(J)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a number, got {J!r}") from None
    if not math.isfinite(j):
        raise ParameterError(f"{name} must be finite, got {J!r}")
    return j


def _as_couplings(couplings) -> Couplings:
    """Accept a :class:`Couplings` or a sequence (Jx, Jy, J2, h)."""
    if isinstance(couplings, Couplings):
        return couplings
    if isinstance(couplings, Sequence) and not isinstance(couplings, str) and len(couplings) == 4:
        return Couplings(*couplings)
    if isinstance(couplings, np.ndarray) and couplings.shape == (4,):
        return Couplings(*couplings.tolist())
    raise ParameterError(
        f"couplings must be a Couplings(Jx, Jy, J2, h) or a sequence of 4 numbers, got {couplings!r}")


def _scalar(x):
    return float(x) if np.ndim(x) == 0 else x


# ----------------------------------------------------------------------------------------------
# shared helpers


def _spin_rows(n_sites: int, start: int = 0, stop: int | None = None) -> np.ndarray:
    """States ``start..stop-1`` as ±1 spins (int8), bit k of the index giving site k (1 -> −1)."""
    stop = (1 << n_sites) if stop is None else stop
    idx = np.arange(start, stop, dtype=np.int64)
    bits = (idx[:, None] >> np.arange(n_sites, dtype=np.int64)) & 1
    return (1 - 2 * bits).astype(np.int8)


def _observables(beta: float, N: int, log_z: float, mean_E: float, var_E: float,
                 p_m: np.ndarray, m_values: np.ndarray) -> dict:
    """Assemble the common dictionary from energy moments and the distribution of m."""
    mean_m = float(p_m @ m_values)
    abs_m = float(p_m @ np.abs(m_values))
    m2 = float(p_m @ m_values**2)
    m4 = float(p_m @ m_values**4)
    var_abs_m = float(p_m @ (np.abs(m_values) - abs_m) ** 2)  # = ⟨m²⟩ − ⟨|m|⟩², centred
    e = mean_E / N
    return {
        "log_z": float(log_z),
        "energy_per_site": float(e),
        "e2": float(var_E / N**2 + e * e),
        "specific_heat": float(beta**2 * var_E / N),
        "m": mean_m,
        "abs_m": abs_m,
        "m2": m2,
        "m4": m4,
        # (m4 / m2) / m2: m2² may underflow deep in an m = 0 phase; nan if ⟨m²⟩ = 0 exactly
        "binder": float(1.0 - (m4 / m2) / m2 / 3.0) if m2 > 0 else float("nan"),
        "susceptibility": float(beta * N * var_abs_m),
    }


# ----------------------------------------------------------------------------------------------
# full enumeration


def enumerate_ising(L: int, couplings, T: float) -> dict:
    """Exact thermal averages on the L × L torus by summing over all 2^(L²) states (L² ≤ 16).

    Energies come from :func:`ising_energy` in chunks; weights are exp(−β(E − E_min)) so nothing
    overflows, and variances are computed as centred sums.  Returns the keys listed in the
    module docstring (including ``staggered_m2``, ``stripe_x_m2``, ``stripe_y_m2``).
    """
    L = check_size(L)
    if L * L > ENUMERATION_MAX_SITES:
        raise ParameterError(
            f"full enumeration needs L*L <= {ENUMERATION_MAX_SITES}, got L = {L}; "
            "use transfer_matrix_ising for L <= 10")
    c = _as_couplings(couplings)
    beta = 1.0 / _check_temperature(T)
    N = L * L
    n_states = 1 << N

    _, sign_s, sign_x, sign_y = sign_patterns(L).reshape(4, -1)

    E = np.empty(n_states)
    M = np.empty(n_states)
    Ms = np.empty(n_states)
    Mx = np.empty(n_states)
    My = np.empty(n_states)
    for start in range(0, n_states, _ENUM_CHUNK):
        stop = min(start + _ENUM_CHUNK, n_states)
        flat = _spin_rows(N, start, stop)
        E[start:stop] = ising_energy(flat.reshape(-1, L, L), c.Jx, c.Jy, c.J2, c.h)
        f = flat.astype(np.float64)
        M[start:stop] = f.sum(axis=1)
        Ms[start:stop] = f @ sign_s
        Mx[start:stop] = f @ sign_x
        My[start:stop] = f @ sign_y

    E_min = E.min()
    w = np.exp(-beta * (E - E_min))
    z = w.sum()
    p = w / z
    mean_E = float(p @ E)
    var_E = float(p @ (E - mean_E) ** 2)
    out = _observables(beta, N, -beta * E_min + math.log(z), mean_E, var_E, p, M / N)
    out["staggered_m2"] = float(p @ (Ms / N) ** 2)
    out["stripe_x_m2"] = float(p @ (Mx / N) ** 2)
    out["stripe_y_m2"] = float(p @ (My / N) ** 2)
    return out


# ----------------------------------------------------------------------------------------------
# transfer matrix


def _row_pair_energies(L: int, c: Couplings) -> np.ndarray:
    """E_pair[a, b] = ½E_row(a) + ½E_row(b) + E_bonds(a -> b), for all pairs of row states.

    A 2 × L torus holding rows (a, b) has energy E_row(a) + E_row(b) + 2 E_bonds(a -> b) (each
    vertical and diagonal bond between the two rows appears once going down from a and once
    going down, through the wrap, from b; the two are equal), so E_pair is half of
    :func:`ising_energy` of that 2 × L configuration.  Summed around the L rows of the L × L
    torus, the E_pair reproduce ising_energy of the whole configuration (tested).
    """
    rows = _spin_rows(L)
    n = rows.shape[0]
    E = np.empty((n, n))
    chunk = max(1, (1 << 16) // n)
    for a0 in range(0, n, chunk):
        a1 = min(a0 + chunk, n)
        pair = np.empty((a1 - a0, n, 2, L), dtype=np.int8)
        pair[:, :, 0, :] = rows[a0:a1, None, :]
        pair[:, :, 1, :] = rows[None, :, :]
        E[a0:a1] = 0.5 * ising_energy(pair, c.Jx, c.Jy, c.J2, c.h)
    return E


@functools.lru_cache(maxsize=None)
def _row_orbits(L: int):
    """Orbits of the row symmetries (cyclic shifts and the mirror x -> −x) on the 2^L row
    states: (representatives, orbit sizes)."""
    n = 1 << L
    a = np.arange(n, dtype=np.int64)
    j = np.arange(L, dtype=np.int64)
    mirrored = (((a[:, None] >> j) & 1) << (L - 1 - j)).sum(axis=1)
    rots = np.stack([((b >> k) | (b << (L - k))) & (n - 1) for b in (a, mirrored) for k in range(L)])
    rep = rots.min(axis=0)
    reps = np.flatnonzero(rep == a)
    sizes = np.bincount(np.searchsorted(reps, rep), minlength=reps.size)
    reps.setflags(write=False)
    sizes.setflags(write=False)
    return reps, sizes


def _up_count_histogram(Tm: np.ndarray, L: int) -> np.ndarray:
    """Z_u = Σ over configurations with u up spins of Π 𝒯 (u = 0..N), by positive arithmetic.

    The transfer is run with the accumulated up-count as an extra index: V[u, r, b] is the
    weight of row sequences that start in row state r, end in b and have u up spins on the rows
    after the first.  𝒯 commutes with the cyclic row shift and the row mirror, so [𝒯^L]_{a,a}
    (resolved by u) is the same for all a in an orbit: only orbit representatives are started,
    weighted by the orbit size.  Nothing cancels, so every Z_u keeps full relative precision.
    """
    n = 1 << L
    N = L * L
    up = L - np.array([bin(a).count("1") for a in range(n)])  # bit 1 means spin −1
    order = np.argsort(up, kind="stable")
    up_sorted = up[order]
    bounds = np.searchsorted(up_sorted, np.arange(L + 2))     # rows with u = k: bounds[k]:bounds[k+1]
    Ts = Tm[np.ix_(order, order)]                             # row states sorted by up-count
    blocks = [(k, bounds[k], bounds[k + 1], np.ascontiguousarray(Ts[:, bounds[k]:bounds[k + 1]]))
              for k in range(L + 1)]
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    reps, sizes = _row_orbits(L)
    z_u = np.zeros(N + 1)
    chunk = max(1, (1 << 22) // (n * (N + 1)))
    for c0 in range(0, reps.size, chunk):
        r = pos[reps[c0:c0 + chunk]]
        R = r.size
        V = np.zeros((N + 1, R, n))
        for k, lo, hi, _ in blocks:                           # first step: row r -> b
            V[k, :, lo:hi] = Ts[r, lo:hi]
        width = L + 1
        for _ in range(L - 2):
            W = np.empty_like(V)                              # only u < width + L is read later
            flat = V[:width].reshape(width * R, n)            # contiguous: no copy
            for k, lo, hi, Tk in blocks:                      # destination rows with k up spins
                W[:k, :, lo:hi] = 0.0
                W[k:k + width, :, lo:hi] = (flat @ Tk).reshape(width, R, hi - lo)
                W[k + width:width + L, :, lo:hi] = 0.0
            width += L
            _flush(W[:width])
            V = W
        # last step back to the starting row r, which adds its own up-count
        last = np.einsum("urb,br->ru", V[:width], Ts[:, r])
        for i in range(R):
            u_r = up_sorted[r[i]]
            z_u[u_r:u_r + width] += sizes[c0 + i] * last[i]
    return z_u


# Weights below this (relative to the normalized transfer matrix, whose powers are O(1)) are set
# to zero: their products would fall into the subnormal range, which slows BLAS down by 10-100×,
# and what they could contribute is below 1e-120 of Z even after L ≤ 10 products of 2^L terms.
_FLUSH = 1e-150


def _flush(A: np.ndarray) -> np.ndarray:
    """Zero the entries of a nonnegative array below :data:`_FLUSH` (in place)."""
    A[A < _FLUSH] = 0.0
    return A


def _dominant_scale(T: np.ndarray) -> float:
    """‖T v‖/‖v‖ after power iteration from a positive vector: ≤ λ_max, close to it."""
    v = np.ones(T.shape[0])
    s = 1.0
    for _ in range(60):
        w = T @ v
        nw = np.linalg.norm(w)
        if nw == 0.0:
            break
        s = nw / np.linalg.norm(v)
        v = w / nw
    return max(s, np.finfo(float).tiny)


def _trace_prod(A: np.ndarray, B: np.ndarray) -> float:
    """Tr(A B) without forming the product."""
    return float(np.einsum("ij,ji->", A, B))


def transfer_matrix_ising(L: int, couplings, T: float) -> dict:
    """Exact thermal averages on the L × L torus, any (Jx, Jy, J2, h), 2 ≤ L ≤ 10.

    Row-to-row transfer matrix 𝒯[a, b] = exp(−β E_pair(a, b)) over the 2^L row states (the
    diagonal J2 bonds join consecutive rows only), with Z = Tr 𝒯^L.  𝒯 is divided by (nearly)
    its largest eigenvalue so that all powers stay O(1); all products of the positive matrix are
    then free of cancellation.

    * Energy: ⟨E⟩ and the centred ⟨(E − ⟨E⟩)²⟩ from exact β-derivatives of Tr 𝒯^L, written as
      traces of 𝒯 powers with pair-energy insertions (no finite differences).
    * Magnetization: the exact distribution P(M), by a transfer that carries the accumulated
      number of up spins as an extra index (positive arithmetic, so even tiny P(M) keep full
      relative precision); only one starting row per orbit of the row symmetries is needed.
    * ``staggered_m2``, ``stripe_x_m2``, ``stripe_y_m2``: row-row correlation functions
      Tr(O 𝒯^d O 𝒯^(L−d)) of O = Σ_x s_x and Σ_x (−1)^x s_x.  Their sums over rows can cancel
      (e.g. ⟨m_y²⟩ in the Néel or y-stripe phase), so these three are accurate to ~1e-14
      absolute rather than relative.

    Weights below 1e-150 of the leading ones are dropped (to keep clear of subnormal numbers),
    so only quantities smaller than that lose their relative precision.

    Returns the keys listed in the module docstring.  Runtime on one or two cores: L = 8 about
    0.1 s, L = 10 a few seconds (most of it in the magnetization histogram).
    """
    L = check_size(L)
    if L > TRANSFER_MATRIX_MAX_L:
        raise ParameterError(f"transfer matrix supports L <= {TRANSFER_MATRIX_MAX_L}, got L = {L}")
    c = _as_couplings(couplings)
    beta = 1.0 / _check_temperature(T)
    N = L * L
    n = 1 << L

    E_pair = _row_pair_energies(L, c)
    E0 = E_pair.min()
    Tm = np.exp(-beta * (E_pair - E0))
    s = _dominant_scale(Tm)
    Tm /= s
    _flush(Tm)
    log_scale = L * (-beta * E0 + math.log(s))  # Z = exp(log_scale) · Tr(Tm^L)

    # powers P[d] = Tm^d, d = 0..L
    P = [np.eye(n), Tm]
    for _ in range(2, L + 1):
        P.append(_flush(P[-1] @ Tm))
    z = float(np.trace(P[L]))
    if not z > 0.0:
        raise ArithmeticError("transfer matrix: partition function underflowed")

    # energy: d/dβ of the pair weights inserts −E_pair; centre at c0 = ⟨E⟩/L per row pair
    mean_E = L * _trace_prod(E_pair * Tm, P[L - 1]) / z
    e_c = E_pair - mean_E / L
    Wc = e_c * Tm
    Q = [Wc]                                  # Q[d] = Wc Tm^d
    for d in range(1, L - 1):
        Q.append(Wc @ P[d])
    second = _trace_prod(e_c * Wc, P[L - 1])  # Σ_p ⟨e_p²⟩ · Z / L
    for d in range(1, L):                      # Σ_{p≠q} ⟨e_p e_q⟩ · Z / L
        second += _trace_prod(Q[d - 1], Q[L - 1 - d])
    shift = L * _trace_prod(Wc, P[L - 1]) / z  # ⟨E⟩ − L c0 (zero up to rounding)
    var_E = L * second / z - shift**2
    mean_E += shift

    # magnetization distribution over the number of up spins u = 0..N
    z_u = _up_count_histogram(Tm, L)
    if abs(z_u.sum() - z) > 1e-10 * z:
        raise ArithmeticError(f"transfer matrix: P(M) normalization {z_u.sum()} != Z {z}")
    p_m = z_u / z_u.sum()
    m_values = (2.0 * np.arange(N + 1) - N) / N

    out = _observables(beta, N, log_scale + math.log(z), mean_E, var_E, p_m, m_values)

    # staggered / stripe order parameters from row-row correlations C_O(d) = ⟨O_0 O_d⟩
    rows = _spin_rows(L).astype(np.float64)
    M_row = rows.sum(axis=1)
    X_row = rows @ ((-1.0) ** np.arange(L))

    def corr(O):
        return np.array([O @ ((P[d] * P[L - d].T) @ O) for d in range(L)]) / z

    yy = np.arange(L)
    dist = (yy[None, :] - yy[:, None]) % L
    alt = np.outer((-1.0) ** yy, (-1.0) ** yy)
    C_M, C_X = corr(M_row), corr(X_row)
    out["staggered_m2"] = float((alt * C_X[dist]).sum() / N**2)
    out["stripe_x_m2"] = float(C_X[dist].sum() / N**2)
    out["stripe_y_m2"] = float((alt * C_M[dist]).sum() / N**2)
    return out


# ----------------------------------------------------------------------------------------------
# Kaufman / Ferdinand–Fisher


def _kaufman_log_z(K, L: int):
    """ln Z of the isotropic zero-field L × L torus at coupling K = βJ > 0 (mpmath number).

    Z = ½ (2 sinh 2K)^(N/2) (Z1 + Z2 + Z3 + Z4) with
    Z1 = Π_r 2 cosh(L γ_{2r+1}/2), Z2 = Π_r 2 sinh(L γ_{2r+1}/2),
    Z3 = Π_r 2 cosh(L γ_{2r}/2),   Z4 = Π_r 2 sinh(L γ_{2r}/2),   r = 0..L−1,
    cosh γ_l = cosh 2K coth 2K − cos(π l / L) (γ_l > 0 for l ≥ 1) and the signed
    γ_0 = 2K + ln tanh K (negative above Tc, which makes Z4 negative there).
    """
    import mpmath as mp

    c = mp.cosh(2 * K) * mp.coth(2 * K)
    gam = [2 * K + mp.log(mp.tanh(K))]
    gam += [mp.acosh(c - mp.cospi(mp.mpf(l) / L)) for l in range(1, 2 * L)]
    half = [L * g / 2 for g in gam]
    z1 = mp.fprod(2 * mp.cosh(half[l]) for l in range(1, 2 * L, 2))
    z2 = mp.fprod(2 * mp.sinh(half[l]) for l in range(1, 2 * L, 2))
    z3 = mp.fprod(2 * mp.cosh(half[l]) for l in range(0, 2 * L, 2))
    z4 = mp.fprod(2 * mp.sinh(half[l]) for l in range(0, 2 * L, 2))
    return (mp.log(mp.mpf(1) / 2) + mp.mpf(L * L) / 2 * mp.log(2 * mp.sinh(2 * K))
            + mp.log(z1 + z2 + z3 + z4))


def kaufman_ising(L: int, T: float, J: float = 1.0, *, dps: int = 50) -> dict:
    """Exact ``log_z``, ``energy_per_site`` and ``specific_heat`` of the isotropic (Jx = Jy = J,
    J2 = h = 0) L × L torus from Kaufman's closed form (docs/conventions.md), for any L ≥ 2.

    Evaluated in mpmath at ``dps`` decimal digits; ⟨e⟩ = −(J/N) ∂ln Z/∂K and
    c = (K²/N) ∂²ln Z/∂K² (K = J/T) by mpmath's high-precision numerical differentiation,
    accurate far beyond double precision.  J < 0 is accepted for even L (the antiferromagnet is
    gauge-equivalent to the ferromagnet on a bipartite torus).
    """
    import mpmath as mp

    L = check_size(L)
    t = _check_temperature(T)
    J = _check_coupling(J)
    if J == 0.0:
        raise ParameterError("kaufman_ising needs J != 0 (J = 0 is a free spin: ln Z = N ln 2)")
    if J < 0 and L % 2:
        raise ParameterError(f"the antiferromagnet on an odd L = {L} torus is frustrated; "
                             "kaufman_ising handles J < 0 only for even L")
    if dps < 30:
        raise ParameterError(f"dps must be >= 30, got {dps}")
    J = abs(J)
    N = L * L
    with mp.workdps(dps):
        K = mp.mpf(J) / mp.mpf(t)

        def f(k):
            return _kaufman_log_z(k, L)

        log_z = f(K)
        d1 = mp.diff(f, K, 1)
        d2 = mp.diff(f, K, 2)
        return {
            "log_z": float(log_z),
            "energy_per_site": float(-J * d1 / N),
            "specific_heat": float(K * K * d2 / N),
        }


# ----------------------------------------------------------------------------------------------
# ground states over periodic configurations

_GS_CACHE: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}


def _check_period(period) -> int:
    try:
        p = int(period)
    except (TypeError, ValueError):
        raise ParameterError(f"period must be an integer, got {period!r}") from None
    if p != period or not 1 <= p <= GROUND_STATE_MAX_PERIOD:
        raise ParameterError(f"period must be an integer in 1..{GROUND_STATE_MAX_PERIOD}, "
                             f"got {period!r}")
    return p


def _gs_tables(period: int):
    """(configs, sums, unique_sums, inverse) for all period × period configurations (cached).

    ``sums[k] = (Sx, Sy, Sd, Sm)`` with Sx = −ising_energy(s, 1, 0, 0, 0) and so on, so that
    ising_energy(s, Jx, Jy, J2, h) = −(Jx Sx + Jy Sy + J2 Sd + h Sm) exactly (tested).
    """
    if period not in _GS_CACHE:
        configs = _spin_rows(period * period).reshape(-1, period, period)
        unit = np.eye(4)
        sums = np.stack([-ising_energy(configs, *unit[i]) for i in range(4)], axis=1)
        uniq, inverse = np.unique(sums, axis=0, return_inverse=True)
        for a in (configs, sums, uniq, inverse):
            a.setflags(write=False)
        _GS_CACHE[period] = (configs, sums, uniq, inverse.reshape(-1))
    return _GS_CACHE[period]


def ground_state_bond_sums(period: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """All period × period configurations (int8, (2^(p²), p, p)) and their bond sums
    (float, (2^(p²), 4): Σ s s_x, Σ s s_y, Σ diagonal s s', Σ s), read-only."""
    configs, sums, _, _ = _gs_tables(_check_period(period))
    return configs, sums


def _coupling_scale(c: np.ndarray) -> np.ndarray:
    return np.abs(c[..., 0]) + np.abs(c[..., 1]) + 2 * np.abs(c[..., 2]) + np.abs(c[..., 3])


def ground_state_ising(couplings, period: int = 4) -> dict:
    """Minimum of :func:`ising_energy` over all period × period-periodic configurations.

    Returns ``energy_per_site`` (min energy / period²; the energy per site of the tiled state on
    any L × L torus with L % period == 0) and ``configs``, an int8 array (k, period, period) of
    every minimizing configuration (translates, rotations and flips included).  With
    period = 4 this finds the ferro, Néel, stripe and m = ½ phases of the family; it is an upper
    bound on the true ground-state energy for states of other periods.
    """
    c = _as_couplings(couplings)
    p = _check_period(period)
    configs, _, uniq, inverse = _gs_tables(p)
    cv = np.array([c.Jx, c.Jy, c.J2, c.h])
    e = -(uniq @ cv)
    e_min = e.min()
    tol = 1e-10 * (1.0 + _coupling_scale(cv)) * p * p
    winners = np.flatnonzero(e <= e_min + tol)
    mask = np.isin(inverse, winners)
    return {"energy_per_site": float(e_min / (p * p)), "configs": configs[mask].copy()}


def ground_state_energies(params, period: int = 4) -> np.ndarray:
    """Per-site ground-state energies (minimum over period-periodic states) for a batch of
    couplings ``params`` of shape (n, 4), columns (Jx, Jy, J2, h).  One matrix product against
    the cached distinct bond-sum vectors (537 of them for period 4), chunked over n."""
    p = _check_period(period)
    try:
        P = np.asarray(params, dtype=np.float64)
    except (TypeError, ValueError):
        raise ParameterError("params must be a numeric array of shape (n, 4)") from None
    if P.ndim != 2 or P.shape[1] != 4:
        raise ParameterError(f"params must have shape (n, 4) = (Jx, Jy, J2, h), got {P.shape}")
    if not np.all(np.isfinite(P)):
        raise ParameterError("params must be finite")
    _, _, uniq, _ = _gs_tables(p)
    out = np.empty(P.shape[0])
    step = 4096
    for i in range(0, P.shape[0], step):
        out[i:i + step] = (-(P[i:i + step] @ uniq.T)).min(axis=1)
    return out / (p * p)


def ground_state_energy_per_site(couplings, L: int) -> float:
    """Ground-state energy per site on an L × L torus, L % 4 == 0, as the minimum over all
    4 × 4-periodic configurations (which tile any such torus)."""
    L = check_size(L)
    if L % GROUND_STATE_MAX_PERIOD:
        raise ParameterError(f"L must be divisible by 4 for the 4 x 4-periodic ground state, got {L}")
    c = _as_couplings(couplings)
    return float(ground_state_energies(np.array([[c.Jx, c.Jy, c.J2, c.h]]))[0])


def tile(config, L: int) -> np.ndarray:
    """Tile a period × period configuration ``config[..., p, p]`` onto the L × L torus."""
    a = np.asarray(config)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ParameterError(f"config must be square in its last two axes, got shape {a.shape}")
    L = check_size(L, minimum=1)
    p = a.shape[-1]
    if L % p:
        raise ParameterError(f"L = {L} is not a multiple of the period {p}")
    reps = (1,) * (a.ndim - 2) + (L // p, L // p)
    return np.tile(a, reps)


# ----------------------------------------------------------------------------------------------
# infinite lattice (Onsager)


def critical_temperature(Jx: float = 1.0, Jy: float | None = None) -> float:
    """Critical temperature of the anisotropic nearest-neighbour Ising model (J2 = h = 0):
    the root of sinh(2|Jx|/T) sinh(2|Jy|/T) = 1 (signs are gauged away).  Jy defaults to Jx.
    Returns 0.0 when either coupling vanishes (decoupled chains)."""
    from scipy.optimize import brentq

    jx = abs(_check_coupling(Jx, "Jx"))
    jy = jx if Jy is None else abs(_check_coupling(Jy, "Jy"))
    if jx == 0.0 or jy == 0.0:
        return 0.0

    def log_sinh(x):
        return x - math.log(2.0) + math.log1p(-math.exp(-2.0 * x)) if x > 20 else math.log(math.sinh(x))

    def g(beta):  # increasing in β, −∞ at 0
        return log_sinh(2 * jx * beta) + log_sinh(2 * jy * beta)

    hi = 1.0 / max(jx, jy)
    while g(hi) < 0.0:
        hi *= 2.0
    lo = hi / 2.0
    while g(lo) > 0.0:
        lo /= 2.0
    beta_c = brentq(g, lo, hi, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500)
    return 1.0 / beta_c


def onsager_magnetization(T, J: float = 1.0):
    """Spontaneous magnetization of the infinite isotropic lattice,
    (1 − sinh⁻⁴(2|J|/T))^(1/8) below Tc and 0 above (T scalar or array)."""
    t = _check_temperatures(T)
    j = abs(_check_coupling(J))
    with np.errstate(over="ignore", divide="ignore"):
        x = 1.0 - np.sinh(2.0 * j / t) ** -4.0
    m = np.where(x > 0.0, np.clip(x, 0.0, None) ** 0.125, 0.0)
    return _scalar(m)


def onsager_energy_per_site(T, J: float = 1.0):
    """Energy per site of the infinite isotropic lattice (Onsager):
    u = −J coth 2K [1 + (2/π)(2 tanh² 2K − 1) K(k)], k = 2 sinh 2K / cosh² 2K, K = J/T
    (K(k) the complete elliptic integral of the first kind).  −√2 J at Tc."""
    from scipy.special import ellipk

    t = _check_temperatures(T)
    j = _check_coupling(J)
    if j == 0.0:
        return _scalar(np.zeros_like(t))
    ja = abs(j)  # bipartite lattice: the antiferromagnet has the same energy
    K2 = 2.0 * ja / t
    k = 2.0 * np.sinh(K2) / np.cosh(K2) ** 2
    a = 2.0 * np.tanh(K2) ** 2 - 1.0
    with np.errstate(invalid="ignore"):
        # at Tc, k = 1 and K(k) diverges only logarithmically while a vanishes linearly
        aK = np.where((a == 0.0) | (k >= 1.0), 0.0, a * ellipk(np.minimum(k * k, 1.0)))
    u = -ja / np.tanh(K2) * (1.0 + 2.0 / np.pi * aK)
    return _scalar(u)


# ----------------------------------------------------------------------------------------------
# XY limits (approximations)


def xy_energy_low_T(T, J: float = 1.0):
    """Spin-wave (harmonic) energy per site of the isotropic zero-field XY ferromagnet,
    e ≈ −2J + T/2 (equipartition, one angle per site).  Valid only for T ≪ J, J > 0."""
    t = _check_temperatures(T)
    j = _check_coupling(J)
    if j <= 0:
        raise ParameterError(f"xy_energy_low_T needs a ferromagnetic J > 0, got {J!r}")
    return _scalar(-2.0 * j + 0.5 * t)


def xy_energy_high_T(T, J: float = 1.0):
    """Leading high-temperature energy per site of the isotropic zero-field XY model,
    e ≈ −2J I1(J/T)/I0(J/T) (independent bonds).  Valid only for T ≫ |J|."""
    from scipy.special import i0e, i1e

    t = _check_temperatures(T)
    j = _check_coupling(J)
    K = j / t
    return _scalar(-2.0 * j * i1e(K) / i0e(K))
