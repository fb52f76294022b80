"""Exact reference results for the Ising family and limiting forms for the XY model.

Everything here follows docs/conventions.md: an L × L torus indexed ``s[y, x]``, N = L², k_B = 1,

    H = -Jx Σ_x-bonds s_i s_j - Jy Σ_y-bonds s_i s_j - J2 Σ_diag-bonds s_i s_j - h Σ_i s_i,

and every configuration (or row-pair) energy is evaluated by
:func:`spinsym.hamiltonians.ising_energy`; no second copy of the Hamiltonian lives here.

Finite tori, any (Jx, Jy, J2, h):

* :func:`enumerate_ising` – all 2^N states, N ≤ 16 (also per-bond couplings).
* :func:`transfer_matrix_ising` – row-to-row transfer matrix, 2 ≤ L ≤ 10.

Finite tori, per-bond couplings (:class:`spinsym.couplings.BondCouplings`: any Jx, Jy, J2p, J2m,
h on every bond and site, e.g. the triangular and honeycomb lattices of docs/lattices.md):

* :func:`transfer_matrix_bonds` – one transfer matrix per row, 2 ≤ L ≤ 8, with the full spin
  correlations, structure factors and second-moment correlation lengths
  (:func:`second_moment_xi`, :data:`ORDER_PARAMETERS`).
* :func:`ground_state_bonds` – the exact ground state, 2 ≤ L ≤ 10 (min-plus transfer).

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
from collections.abc import Mapping, Sequence

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
    "transfer_matrix_bonds",
    "ground_state_bonds",
    "second_moment_xi",
    "ORDER_PARAMETERS",
    "TRANSFER_MATRIX_BONDS_MAX_L",
    "GROUND_STATE_BONDS_MAX_L",
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

    ``couplings``: a :class:`Couplings`, (Jx, Jy, J2, h), a mapping or a
    :class:`spinsym.couplings.BondCouplings` (per-bond arrays).  Energies come from
    :func:`ising_energy` in chunks; weights are exp(−β(E − E_min)) so nothing overflows, and
    variances are computed as centred sums.  Returns the keys listed in the module docstring
    and, as :func:`transfer_matrix_bonds`, ``spin_mean``, ``spin_corr`` and the structure
    factors and correlation lengths of every order parameter.
    """
    from .couplings import BondCouplings

    L = check_size(L)
    if L * L > ENUMERATION_MAX_SITES:
        raise ParameterError(
            f"full enumeration needs L*L <= {ENUMERATION_MAX_SITES}, got L = {L}; "
            "use transfer_matrix_ising for L <= 10")
    if isinstance(couplings, (BondCouplings, Mapping)):
        Jx, Jy, J2p, J2m, h = _bond_arrays(couplings, L)

        def energy(s):
            return ising_energy(s, Jx, Jy, J2p, h, J2m=J2m)
    else:
        c = _as_couplings(couplings)

        def energy(s):
            return ising_energy(s, c.Jx, c.Jy, c.J2, c.h)
    beta = 1.0 / _check_temperature(T)
    N = L * L
    n_states = 1 << N

    E = np.empty(n_states)
    M = np.empty(n_states)
    for start in range(0, n_states, _ENUM_CHUNK):
        stop = min(start + _ENUM_CHUNK, n_states)
        flat = _spin_rows(N, start, stop)
        E[start:stop] = energy(flat.reshape(-1, L, L))
        M[start:stop] = flat.sum(axis=1, dtype=np.float64)

    E_min = E.min()
    w = np.exp(-beta * (E - E_min))
    z = w.sum()
    p = w / z
    mean_E = float(p @ E)
    var_E = float(p @ (E - mean_E) ** 2)
    out = _observables(beta, N, -beta * E_min + math.log(z), mean_E, var_E, p, M / N)
    corr = np.zeros((N, N))
    mean = np.zeros(N)
    for start in range(0, n_states, _ENUM_CHUNK):
        stop = min(start + _ENUM_CHUNK, n_states)
        f = _spin_rows(N, start, stop).astype(np.float64)
        pf = p[start:stop, None] * f
        corr += f.T @ pf
        mean += pf.sum(axis=0)
    out.update(_correlation_keys(corr.reshape(L, L, L, L), L))
    out["spin_mean"] = mean.reshape(L, L)
    out["spin_corr"] = corr.reshape(L, L, L, L)
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
# per-bond couplings: transfer matrix with row-dependent matrices


def _bond_arrays(couplings, L: int) -> tuple:
    """(Jx, Jy, J2p, J2m, h) as (L, L) float64 arrays from a BondCouplings, a Couplings, a mapping
    (:func:`spinsym.couplings.as_couplings`) or a sequence (Jx, Jy, J2, h)."""
    from .couplings import BondCouplings, as_couplings

    if isinstance(couplings, Mapping):
        couplings = as_couplings(couplings, L)
    if isinstance(couplings, BondCouplings):
        return couplings.arrays(L)
    return BondCouplings.from_scalar(_as_couplings(couplings)).arrays(L)


def _row_energies(L: int, arrays) -> tuple[np.ndarray, np.ndarray]:
    """The Hamiltonian row by row, read off :func:`ising_energy`.

    Returns ``E_row`` (L, 2^L), the energy of row y's own bonds (Jx[y, :]) and fields (h[y, :])
    for every row state, and ``K`` (L, L, L), the bilinear form of the bonds from row y to row
    y+1: E_inter(a, b) = −Σ_{x,x'} a_x K[y, x, x'] b_x'.  Both are ising_energy of a 2 × L strip
    (row y's couplings on its first row, zero couplings on the second): with the second row all
    zero (mean spins) only row y's own terms remain; with one unit spin per row and Jx = h = 0
    the energy is one entry of the bilinear form.
    """
    Jx, Jy, J2p, J2m, h = arrays
    rows = _spin_rows(L).astype(np.float64)
    n = rows.shape[0]
    zero = np.zeros(L)
    strip = np.zeros((n, 2, L))
    strip[:, 0] = rows
    E_row = np.stack([ising_energy(strip, np.stack([Jx[y], zero]), 0.0, 0.0,
                                   np.stack([h[y], zero]), J2m=0.0) for y in range(L)])
    idx = np.arange(L)
    basis = np.zeros((L, L, 2, L))
    basis[idx, :, 0, idx] = 1.0         # row 0 of basis[x, x'] is the unit vector e_x
    basis[:, idx, 1, idx] = 1.0         # row 1 of basis[x, x'] is e_x'
    K = np.stack([-ising_energy(basis, 0.0, np.stack([Jy[y], zero]), np.stack([J2p[y], zero]),
                                0.0, J2m=np.stack([J2m[y], zero])) for y in range(L)])
    return E_row, K


def _bond_pair_energies(L: int, arrays) -> np.ndarray:
    """E_pair[y, a, b]: energy of row y's own bonds and field in state a plus its bonds to row
    y+1 in state b.  Σ_y E_pair[y, row_y, row_{y+1}] is ising_energy of the configuration."""
    E_row, K = _row_energies(L, arrays)
    rows = _spin_rows(L).astype(np.float64)
    return E_row[:, :, None] - np.einsum("ax,yxz,bz->yab", rows, K, rows, optimize=True)


# Entries below this fraction of a (renormalized) product's largest entry are set to zero, to
# keep clear of subnormal numbers (which slow BLAS down 10-100×).  Products are renormalized to
# a largest entry of 1 after each step, so what is dropped is below 1e-200 of the largest term
# of every trace it enters, times at most the Boltzmann factor of one row boundary's bonds.
_FLUSH_REL = 1e-200


def _normalized(C: np.ndarray) -> tuple[np.ndarray, float]:
    s = float(C.max())
    if not s > 0.0:
        raise ArithmeticError("transfer matrix: a product of row matrices underflowed")
    C /= s
    C[C < _FLUSH_REL] = 0.0
    return C, math.log(s)


#: Names of the order parameters of :func:`transfer_matrix_bonds` and :func:`enumerate_ising`,
#: in the order of :func:`spinsym.lattice.sign_patterns`: uniform, (−1)^(x+y), (−1)^x, (−1)^y.
ORDER_PARAMETERS = ("ferro", "staggered", "stripe_x", "stripe_y")

#: Largest linear size :func:`transfer_matrix_bonds` accepts.
TRANSFER_MATRIX_BONDS_MAX_L = 8


def second_moment_xi(S0, Sk, L: int):
    """Second-moment correlation length ξ = sqrt(S(0)/S(k_min) − 1) / (2 sin(k_min/2)),
    k_min = 2π/L, from the structure factor at k = 0 and at the smallest nonzero wave vector
    along one axis.  nan where S(0) ≤ S(k_min) (no correlations in that channel)."""
    S0 = np.asarray(S0, dtype=np.float64)
    Sk = np.asarray(Sk, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = S0 / Sk - 1.0
        xi = np.where(r > 0.0, np.sqrt(np.where(r > 0.0, r, 0.0)), np.nan) \
            / (2.0 * math.sin(math.pi / L))
    return _scalar(xi)


def _correlation_keys(corr: np.ndarray, L: int) -> dict:
    """Structure factors, order-parameter moments and ξ from the (L, L, L, L) spin correlations.

    S_O(k) = (1/N) Σ_ij ⟨s_i s_j⟩ σ_i σ_j e^{ik·(r_i − r_j)} with σ the order parameter's sign
    pattern, at k = 0, k = (0, 2π/L) along x and (2π/L, 0) along y (r = (y, x)).
    """
    N = L * L
    C = corr.reshape(N, N)
    y, x = np.indices((L, L))
    k = 2.0 * math.pi / L
    waves = {"S0": np.ones((L, L)), "Skx": np.exp(1j * k * x), "Sky": np.exp(1j * k * y)}
    out = {}
    for name, sigma in zip(ORDER_PARAMETERS, sign_patterns(L)):
        for key, w in waves.items():
            v = (sigma * w).ravel()
            out[f"{key}_{name}"] = float(np.real(v @ C @ np.conj(v))) / N
        out[f"xi_x_{name}"] = float(second_moment_xi(out[f"S0_{name}"], out[f"Skx_{name}"], L))
        out[f"xi_y_{name}"] = float(second_moment_xi(out[f"S0_{name}"], out[f"Sky_{name}"], L))
    out["staggered_m2"] = out["S0_staggered"] / N
    out["stripe_x_m2"] = out["S0_stripe_x"] / N
    out["stripe_y_m2"] = out["S0_stripe_y"] / N
    return out


def _bond_up_count_histogram(Ts: list, scales: list, L: int) -> np.ndarray:
    """Z_u (u = 0..N up spins) of Tr Π_y Ts[y] / Π scales, by positive arithmetic.

    As :func:`_up_count_histogram`, with a different matrix per row and every row state as a
    starting row (no row symmetry in general).  ``scales[y]`` are the factors that keep the
    running product of the plain matrices at a largest entry of 1, so every partial sum here is
    ≤ 1 and the chunks over starting rows add up directly.
    """
    n = 1 << L
    N = L * L
    up = L - np.array([bin(a).count("1") for a in range(n)])  # bit 1 means spin −1
    order = np.argsort(up, kind="stable")
    up_sorted = up[order]
    bounds = np.searchsorted(up_sorted, np.arange(L + 2))
    S = [T[np.ix_(order, order)] for T in Ts]
    z_u = np.zeros(N + 1)
    chunk = max(1, (1 << 22) // (n * (N + 1)))
    for r0 in range(0, n, chunk):
        r = np.arange(r0, min(r0 + chunk, n))
        R = r.size
        V = np.zeros((L + 1, R, n))
        for k in range(L + 1):
            lo, hi = bounds[k], bounds[k + 1]
            V[k, :, lo:hi] = S[0][r, lo:hi]
        width = L + 1
        for yy in range(1, L - 1):
            W = np.zeros((width + L, R, n))
            flat = V.reshape(width * R, n)
            for k in range(L + 1):
                lo, hi = bounds[k], bounds[k + 1]
                W[k:k + width, :, lo:hi] = (flat @ S[yy][:, lo:hi]).reshape(width, R, hi - lo)
            W /= scales[yy]
            W[W < _FLUSH_REL] = 0.0
            width += L
            V = W
        last = np.einsum("urb,br->ru", V, S[L - 1][:, r]) / scales[L - 1]
        for i in range(R):
            u_r = up_sorted[r[i]]
            z_u[u_r:u_r + width] += last[i]
    return z_u


def transfer_matrix_bonds(L: int, couplings, T: float) -> dict:
    """Exact thermal averages on the L × L torus for per-bond couplings, 2 ≤ L ≤ 8.

    ``couplings``: a :class:`spinsym.couplings.BondCouplings` (any Jx, Jy, J2p, J2m, h, numbers
    or L × L arrays), a :class:`Couplings`, a mapping or (Jx, Jy, J2, h).  Row y's matrix is
    𝒯_y[a, b] = exp(−β E_pair[y, a, b]) (row y's own bonds and field in state a, its bonds to
    row y+1 in state b, read off :func:`ising_energy`) and Z = Tr Π_y 𝒯_y.  Each 𝒯_y is
    scaled to a largest entry of 1 and every product is renormalized as it is formed, so
    nothing overflows and low temperatures (a ±J glass at T = 0.5) stay accurate.

    Returns the keys of :func:`transfer_matrix_ising` (``log_z``, ``energy_per_site``, ``e2``,
    ``specific_heat``, ``m``, ``abs_m``, ``m2``, ``m4``, ``binder``, ``susceptibility``,
    ``staggered_m2``, ``stripe_x_m2``, ``stripe_y_m2``; the m moments from the exact
    distribution of the magnetization, the energy variance from exact β-derivatives), and

    * ``spin_mean``: (L, L) array ⟨s_(y,x)⟩; ``spin_corr``: (L, L, L, L) array
      ⟨s_(y,x) s_(y',x')⟩ (full, not connected), from the joint distributions of pairs of rows;
    * for each order parameter O in :data:`ORDER_PARAMETERS` (``ferro``, ``staggered``,
      ``stripe_x``, ``stripe_y``, sign pattern σ from :func:`spinsym.lattice.sign_patterns`),
      the structure factor S_O(k) = (1/N) Σ_ij ⟨s_i s_j⟩ σ_i σ_j e^{ik·(r_i − r_j)} =
      ⟨|Σ_j σ_j s_j e^{ik·r_j}|²⟩/N at ``S0_O`` (k = 0, = N ⟨m_O²⟩), ``Skx_O`` (k = 2π/L
      along x) and ``Sky_O`` (along y), and the second-moment correlation lengths
      ``xi_x_O``, ``xi_y_O`` (:func:`second_moment_xi`; nan where S(0) ≤ S(k_min)).

    Runtime on one core: L = 6 a few hundredths of a second, L = 8 about a second.
    """
    L = check_size(L)
    if L > TRANSFER_MATRIX_BONDS_MAX_L:
        raise ParameterError(f"the per-bond transfer matrix supports L <= "
                             f"{TRANSFER_MATRIX_BONDS_MAX_L}, got L = {L}")
    arrays = _bond_arrays(couplings, L)
    beta = 1.0 / _check_temperature(T)
    N = L * L
    rows = _spin_rows(L).astype(np.float64)

    E_pair = _bond_pair_energies(L, arrays)
    E0 = E_pair.min(axis=(1, 2))
    Ts = [np.exp(-beta * (E_pair[y] - E0[y])) for y in range(L)]   # largest entry 1 each
    for Tm in Ts:
        Tm[Tm < _FLUSH_REL] = 0.0

    # intervals I[y][d] = 𝒯_y 𝒯_{y+1} ⋯ 𝒯_{y+d−1} (rows mod L), renormalized, d = 1..L−1
    I = [[None, Ts[y]] for y in range(L)]
    for y in range(L):
        for d in range(2, L):
            I[y].append(_normalized(I[y][d - 1] @ Ts[(y + d - 1) % L])[0])

    def joint(y, d):
        """Joint distribution of (row y, row y+d), d = 1..L−1, normalized."""
        Jm = I[y][d] * I[(y + d) % L][L - d].T
        return Jm / Jm.sum()

    # the plain cycle 𝒯_0 ⋯ 𝒯_{L−1} with the energy insertions (truncated power series in ε of
    # Π_y (𝒯_y + ε W_y + ε² V_y): W inserts the centred pair energy, V half its square)
    pair = [joint(y, 1) for y in range(L)]
    c = np.array([float((pair[y] * E_pair[y]).sum()) for y in range(L)])   # ⟨e_y⟩
    A0, A1, A2 = Ts[0].copy(), (E_pair[0] - c[0]) * Ts[0], 0.5 * (E_pair[0] - c[0]) ** 2 * Ts[0]
    log_scale = 0.0
    scales = [1.0]
    for y in range(1, L):
        Tm = Ts[y]
        ec = E_pair[y] - c[y]
        W = ec * Tm
        V = 0.5 * ec * W
        A0, A1, A2 = A0 @ Tm, A0 @ W + A1 @ Tm, A0 @ V + A1 @ W + A2 @ Tm
        s = float(A0.max())
        if not s > 0.0:
            raise ArithmeticError("transfer matrix: partition function underflowed")
        A0 /= s
        A1 /= s
        A2 /= s
        A0[A0 < _FLUSH_REL] = 0.0
        log_scale += math.log(s)
        scales.append(s)
    z = float(np.trace(A0))
    if not z > 0.0:
        raise ArithmeticError("transfer matrix: partition function underflowed")
    shift = float(np.trace(A1)) / z                 # ⟨E⟩ − Σ c_y (zero up to rounding)
    mean_E = float(c.sum()) + shift
    var_E = 2.0 * float(np.trace(A2)) / z - shift**2
    log_z = -beta * float(E0.sum()) + log_scale + math.log(z)

    z_u = _bond_up_count_histogram(Ts, scales, L)
    if abs(z_u.sum() - z) > 1e-10 * z:
        raise ArithmeticError(f"transfer matrix: P(M) normalization {z_u.sum()} != Z {z}")
    p_m = z_u / z_u.sum()
    m_values = (2.0 * np.arange(N + 1) - N) / N
    out = _observables(beta, N, log_z, mean_E, var_E, p_m, m_values)

    # spin correlations from the distributions of single rows and pairs of rows
    corr = np.empty((L, L, L, L))
    mean = np.empty((L, L))
    for y in range(L):
        p_row = pair[y].sum(axis=1)
        mean[y] = rows.T @ p_row
        corr[y, :, y, :] = rows.T @ (p_row[:, None] * rows)
        for d in range(1, L):
            corr[y, :, (y + d) % L, :] = rows.T @ joint(y, d) @ rows
    out.update(_correlation_keys(corr, L))
    out["spin_mean"] = mean
    out["spin_corr"] = corr
    return out


# ----------------------------------------------------------------------------------------------
# per-bond couplings: exact ground states


#: Largest linear size :func:`ground_state_bonds` accepts.
GROUND_STATE_BONDS_MAX_L = 10

_SPIN = np.array([1.0, -1.0])   # bit 0 -> +1, bit 1 -> −1 (as _spin_rows)


def _spin_on(axis: int, ndim: int) -> np.ndarray:
    shape = [1] * ndim
    shape[axis] = 2
    return _SPIN.reshape(shape)


def _gs_increment(arrays, L: int, y: int, x: int, t) -> np.ndarray:
    """Energy of the bonds that end at site (y+1, x) when it is set to spin ``t``.

    Candidate axes: (t, R, F, P, b_0 .. b_{L−1}).  The state word b holds row y+1 at x' < x and
    row y at x' ≥ x; P is s(y, x−1) (read from x = 2 on) and F is s(y, 0) (from x = 1 on).
    Counted here (docs/conventions.md ownership): Jy[y, x], J2p[y, x−1], J2m[y, x+1] from row y
    and, unless row y+1 is row 0 (closing the torus: its own bonds are in the start cost),
    Jx[y+1, x−1] (and Jx[y+1, L−1] to s(y+1, 0) at x = L−1) and h[y+1, x].
    """
    Jx, Jy, J2p, J2m, h = arrays
    nd = 4 + L
    yt = (y + 1) % L
    b = [_spin_on(4 + j, nd) for j in range(L)]
    left = b[L - 1] if x == 0 else (_spin_on(2, nd) if x == 1 else _spin_on(3, nd))
    right = _spin_on(2, nd) if x == L - 1 else b[x + 1]
    local = Jy[y, x] * b[x] + J2p[y, (x - 1) % L] * left + J2m[y, (x + 1) % L] * right
    if yt != 0:
        if x >= 1:
            local = local + Jx[yt, x - 1] * b[x - 1]
        if x == L - 1:
            local = local + Jx[yt, L - 1] * b[0]
        local = local + h[yt, x]
    return -t * local


def _gs_step(C: np.ndarray, dE: np.ndarray, x: int, L: int) -> tuple[np.ndarray, np.ndarray]:
    """One site of the min-plus transfer: returns (new cost, candidate).

    C has axes (R, F, P, b_0 .. b_{L−1}); the new state puts the old b_x in P (the old b_0 in F
    when x = 0) and the new spin t in b_x.  Axes that no later step reads have size 1.
    """
    cand = C[None] + dE
    if x == 0:
        red = cand.min(axis=(2, 3))                         # (t, R, b_0 .. b_{L−1})
        new = red.transpose([1, 2, 0] + [2 + j for j in range(1, L)])[:, :, None]
    else:
        red = cand.min(axis=3)                              # (t, R, F, b_0 .. b_{L−1})
        new = red.transpose([1, 2, 3 + x] + [0 if j == x else 3 + j for j in range(L)])
    return np.ascontiguousarray(new), cand


def _gs_run(arrays, L: int, r: np.ndarray, E_row0: np.ndarray, keep: bool = False):
    """Min-plus transfer for first rows ``r`` (state indices): the minimum energy per first
    row, and (keep=True) the candidates of every step for the traceback."""
    R = r.size
    n = 1 << L
    C = np.full((R, n), np.inf)
    C[np.arange(R), r] = E_row0[r]
    # index bit j is site x = j: the C-order reshape puts bit L−1 first, so reverse the axes
    C = C.reshape((R, 1, 1) + (2,) * L).transpose([0, 1, 2] + [3 + L - 1 - j for j in range(L)])
    C = np.ascontiguousarray(C)
    t_free = _spin_on(0, 4 + L)
    bits_r = (r[:, None] >> np.arange(L)) & 1
    steps = []
    for y in range(L):
        for x in range(L):
            if y == L - 1:   # closing: row 0 is the fixed first row
                t = _SPIN[bits_r[:, x]].reshape((1, R) + (1,) * (2 + L))
            else:
                t = t_free
            C, cand = _gs_step(C, _gs_increment(arrays, L, y, x, t), x, L)
            if keep:
                steps.append((y, x, cand))
    best = C.reshape(R, -1).min(axis=1)
    return best, C, steps


def _gs_traceback(C_final: np.ndarray, steps: list, r: int, L: int) -> np.ndarray:
    """One minimizing configuration of a single-first-row run, from its step candidates."""
    s = np.empty((L, L), dtype=np.int8)
    s[0] = _SPIN[(r >> np.arange(L)) & 1].astype(np.int8)
    flat = C_final.reshape(-1)
    state = list(np.unravel_index(int(np.argmin(flat)), C_final.shape))   # (R, F, P, b...)
    for y, x, cand in reversed(steps):
        # new state (R, F', P', b') came from old (F, P, b) with b_x = P' (x ≥ 1; at x = 0,
        # b_0 = F'), other b equal, the new spin t = b'_x, minimum over the dropped F/P
        t = 0 if cand.shape[0] == 1 else state[3 + x]
        b_old = list(state[3:])
        if x == 0:
            b_old[0] = state[1]
            sub = cand[(t, 0, slice(None), slice(None)) + tuple(
                0 if cand.shape[4 + j] == 1 else b_old[j] for j in range(L))]
            F, P = np.unravel_index(int(np.argmin(sub)), sub.shape)
        else:
            b_old[x] = state[2]
            F = state[1]
            sub = cand[(t, 0, 0 if cand.shape[2] == 1 else F, slice(None)) + tuple(
                0 if cand.shape[4 + j] == 1 else b_old[j] for j in range(L))]
            P = int(np.argmin(sub))
        if y < L - 1:
            s[y + 1, x] = 1 - 2 * t
        state = [0, F, P] + b_old
    return s


def ground_state_bonds(couplings, L: int | None = None) -> dict:
    """Exact ground state of any per-bond Ising Hamiltonian on the L × L torus, 2 ≤ L ≤ 10.

    ``couplings`` as in :func:`transfer_matrix_bonds`; L defaults to the size of its arrays.
    The minimum over all 2^(L²) configurations by a min-plus transfer that adds one site at a
    time (a broken row of L + 2 spins), vectorized over the 2^L fixed first rows: about
    L² · 2^(2L+3) additions (L = 8 a few tenths of a second, L = 10 some seconds).  One
    minimizer is traced back from a rerun with its first row.

    Returns ``energy`` (the minimum, as :func:`ising_energy` of ``config``, which agrees with
    the transfer's minimum to rounding), ``energy_per_site`` and ``config``, an int8 (L, L)
    minimizing configuration.
    """
    from .couplings import BondCouplings

    if L is None:
        L = couplings.L if isinstance(couplings, BondCouplings) else None
        if L is None:
            raise ParameterError("ground_state_bonds: give L (the couplings are all numbers)")
    L = check_size(L)
    if L > GROUND_STATE_BONDS_MAX_L:
        raise ParameterError(f"ground_state_bonds supports L <= {GROUND_STATE_BONDS_MAX_L}, "
                             f"got L = {L}")
    arrays = _bond_arrays(couplings, L)
    n = 1 << L
    E_row0 = _row_energies(L, arrays)[0][0]
    chunk = max(1, (1 << 19) // n)
    best = np.empty(n)
    for r0 in range(0, n, chunk):
        r = np.arange(r0, min(r0 + chunk, n))
        best[r] = _gs_run(arrays, L, r, E_row0)[0]
    r_best = int(np.argmin(best))
    e_min, C, steps = _gs_run(arrays, L, np.array([r_best]), E_row0, keep=True)
    config = _gs_traceback(C, steps, r_best, L)
    Jx, Jy, J2p, J2m, h = arrays
    energy = float(ising_energy(config.astype(np.float64), Jx, Jy, J2p, h, J2m=J2m))
    scale = sum(float(np.abs(a).sum()) for a in arrays)
    if abs(energy - e_min[0]) > 1e-9 * (1.0 + scale):
        raise ArithmeticError(f"ground_state_bonds: traceback energy {energy} != minimum "
                              f"{e_min[0]}")
    return {"energy": energy, "energy_per_site": energy / (L * L), "config": config}


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
