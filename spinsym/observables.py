"""Measurements on spin configurations and the summary of a run (docs/conventions.md).

Two layers, all pure numpy (the statistics of a time series, τ_int, errors and the jackknife,
are in :mod:`spinsym.stats`):

* **Per-configuration measurements**, vectorized over samples: :func:`ising_series`,
  :func:`xy_series` and :func:`vortex_map`; the correlation functions and structure factors of
  the order-parameter fields, by FFT: :func:`ising_correlations` and :func:`xy_correlations`
  (the second-moment correlation length is :func:`spinsym.exact.second_moment_xi`).
* :func:`summarize`: the JSON-ready summary of one Monte Carlo run at one temperature.

Conventions: arrays are indexed ``a[..., y, x]`` on an L × L torus, N = L²; per-site quantities
divide by N; energies handed to :func:`summarize` are TOTAL energies, as returned by
:func:`spinsym.hamiltonians.energy`.
"""

from __future__ import annotations

import math

import numpy as np

from . import models
from .errors import DataError, ParameterError
from .hamiltonians import Couplings, energy
from .stats import Estimate, estimate, jackknife_estimate

__all__ = [
    "ising_series",
    "xy_series",
    "vortex_map",
    "ising_correlations",
    "xy_correlations",
    "summarize",
]

#: Samples times sites handled at once by the per-configuration measurements (memory bound).
_CHUNK_ELEMENTS = 1 << 20

_TWO_PI = 2.0 * math.pi


# ---------------------------------------------------------------------------------------------
# Per-configuration measurements
# ---------------------------------------------------------------------------------------------


def _as_batch(configs, name: str) -> np.ndarray:
    a = np.asarray(configs)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[1] != a.shape[2] or a.shape[1] < 2:
        raise ParameterError(f"{name} must have shape (n, L, L) with L >= 2, got {np.shape(configs)}")
    return a


def _chunks(n: int, N: int):
    step = max(1, _CHUNK_ELEMENTS // N)
    for lo in range(0, n, step):
        yield slice(lo, min(n, lo + step))


def _sign_patterns(L: int) -> np.ndarray:
    """:func:`spinsym.lattice.sign_patterns` as an (N, 4) matrix, flattened as s[y, x]."""
    from .lattice import sign_patterns

    return sign_patterns(L).reshape(4, L * L).T


def ising_series(configs) -> dict[str, np.ndarray]:
    """Per-sample order parameters of Ising configurations ``configs[n, L, L]`` (spins ±1).

    Returns float64 arrays of length n:
    ``m`` = (1/N)Σ s, ``abs_m`` = |m|, ``staggered`` = (1/N)Σ(−1)^(x+y) s,
    ``stripe_x`` = (1/N)Σ(−1)^x s, ``stripe_y`` = (1/N)Σ(−1)^y s.
    (For odd L the staggered and stripe patterns are frustrated by the boundary.)
    """
    s = _as_batch(configs, "Ising configs")
    n, L, _ = s.shape
    N = L * L
    W = _sign_patterns(L)
    out = np.empty((n, 4))
    for sl in _chunks(n, N):
        out[sl] = s[sl].reshape(-1, N).astype(np.float64) @ W  # integer sums: exact
    out /= N
    return {
        "m": out[:, 0],
        "abs_m": np.abs(out[:, 0]),
        "staggered": out[:, 1],
        "stripe_x": out[:, 2],
        "stripe_y": out[:, 3],
    }


def _wrap(d: np.ndarray) -> np.ndarray:
    """Angle differences wrapped into [−π, π)."""
    return np.remainder(d + math.pi, _TWO_PI) - math.pi


def _winding(th: np.ndarray) -> np.ndarray:
    """Integer winding of each plaquette (float array), see :func:`vortex_map`."""
    wx = _wrap(np.roll(th, -1, axis=-1) - th)  # along +x from (y, x)
    wy = _wrap(np.roll(th, -1, axis=-2) - th)  # along +y from (y, x)
    circulation = wx + np.roll(wy, -1, axis=-1) - np.roll(wx, -1, axis=-2) - wy
    return np.rint(circulation / _TWO_PI)


def vortex_map(thetas) -> np.ndarray:
    """Winding number of every elementary plaquette of XY configurations ``thetas[..., L, L]``.

    Plaquette (y, x) has corners (y, x), (y, x+1), (y+1, x+1), (y+1, x) (periodic); the winding
    is the sum of the wrapped angle differences along (y,x)→(y,x+1)→(y+1,x+1)→(y+1,x)→(y,x),
    divided by 2π.  That path is counter-clockwise in the (x, y) plane, so the vortex
    θ = atan2(y − y0, x − x0) has winding +1 and its mirror image −1.  Returns int8.
    """
    th = np.asarray(thetas, dtype=np.float64)
    if th.ndim < 2 or th.shape[-1] != th.shape[-2]:
        raise ParameterError(f"thetas must have shape (..., L, L), got {th.shape}")
    return _winding(th).astype(np.int8)


def xy_series(thetas, Jx=1.0, Jy=1.0, J2=0.0, J2m=None) -> dict[str, np.ndarray]:
    """Per-sample measurements of XY configurations ``thetas[n, L, L]`` (angles in radians).

    Returns float64 arrays of length n:

    * ``mx``, ``my``: (1/N)Σ cos θ, (1/N)Σ sin θ;  ``abs_m`` = sqrt(mx² + my²).
    * ``helicity_cos_x`` = Σ_x-bonds Jx cos(θ_i − θ_{i+x}) and
      ``helicity_sin_x`` = Σ_x-bonds Jx sin(θ_i − θ_{i+x}) (totals, not per site); likewise
      ``helicity_cos_y``, ``helicity_sin_y`` with Jy.  ``helicity_cos``/``helicity_sin`` are the
      x-direction ones.  With J2 ≠ 0 the diagonal bonds contribute to both directions with
      their displacement Δ = ±1: cos terms J2 cos(θ_i − θ_j), sin terms J2·Δ·sin(θ_i − θ_j).
      Couplings may be per-bond (L, L) fields (docs/conventions.md); ``J2m`` is then the
      diagonal to (y+1, x−1) and ``J2`` the one to (y+1, x+1).
      The helicity modulus along x is (1/N)[⟨cos_x⟩ − β⟨sin_x²⟩] (docs/conventions.md).
    * ``vortex_density``: number of plaquettes with nonzero winding (vortices and
      antivortices, see :func:`vortex_map`) divided by N.
    """
    th_all = _as_batch(thetas, "XY thetas")
    n, L, _ = th_all.shape
    N = L * L
    per_bond = J2m is not None or any(np.ndim(c) for c in (Jx, Jy, J2))
    if per_bond:
        J2p = np.asarray(J2, dtype=np.float64)
        J2m = J2p if J2m is None else np.asarray(J2m, dtype=np.float64)
        Jx, Jy = np.asarray(Jx, dtype=np.float64), np.asarray(Jy, dtype=np.float64)
    else:
        Jx, Jy, J2 = float(Jx), float(Jy), float(J2)
    keys = ("mx", "my", "helicity_cos_x", "helicity_sin_x", "helicity_cos_y",
            "helicity_sin_y", "vortex_density")
    out = {k: np.empty(n) for k in keys}
    for sl in _chunks(n, N):
        th = th_all[sl].astype(np.float64)
        out["mx"][sl] = np.cos(th).mean(axis=(1, 2))
        out["my"][sl] = np.sin(th).mean(axis=(1, 2))
        right = np.roll(th, -1, axis=-1)
        down = np.roll(th, -1, axis=-2)
        dx, dy = th - right, th - down
        if per_bond:
            d_dr = th - np.roll(down, -1, axis=-1)
            d_dl = th - np.roll(down, 1, axis=-1)
            bond_sum = lambda J, a: (J * a).sum(axis=(1, 2))  # noqa: E731
            c_diag = bond_sum(J2p, np.cos(d_dr)) + bond_sum(J2m, np.cos(d_dl))
            s_dr, s_dl = bond_sum(J2p, np.sin(d_dr)), bond_sum(J2m, np.sin(d_dl))
            out["helicity_cos_x"][sl] = bond_sum(Jx, np.cos(dx)) + c_diag
            out["helicity_sin_x"][sl] = bond_sum(Jx, np.sin(dx)) + s_dr - s_dl
            out["helicity_cos_y"][sl] = bond_sum(Jy, np.cos(dy)) + c_diag
            out["helicity_sin_y"][sl] = bond_sum(Jy, np.sin(dy)) + s_dr + s_dl
            out["vortex_density"][sl] = np.count_nonzero(_winding(th), axis=(1, 2)) / N
            continue
        cos_x = Jx * np.cos(dx).sum(axis=(1, 2))
        sin_x = Jx * np.sin(dx).sum(axis=(1, 2))
        cos_y = Jy * np.cos(dy).sum(axis=(1, 2))
        sin_y = Jy * np.sin(dy).sum(axis=(1, 2))
        if J2 != 0.0:
            d_dr = th - np.roll(down, -1, axis=-1)  # bond to (y+1, x+1): Δx = +1, Δy = +1
            d_dl = th - np.roll(down, 1, axis=-1)   # bond to (y+1, x-1): Δx = −1, Δy = +1
            c_diag = J2 * (np.cos(d_dr) + np.cos(d_dl)).sum(axis=(1, 2))
            s_dr = J2 * np.sin(d_dr).sum(axis=(1, 2))
            s_dl = J2 * np.sin(d_dl).sum(axis=(1, 2))
            cos_x, cos_y = cos_x + c_diag, cos_y + c_diag
            sin_x, sin_y = sin_x + s_dr - s_dl, sin_y + s_dr + s_dl
        out["helicity_cos_x"][sl] = cos_x
        out["helicity_sin_x"][sl] = sin_x
        out["helicity_cos_y"][sl] = cos_y
        out["helicity_sin_y"][sl] = sin_y
        out["vortex_density"][sl] = np.count_nonzero(_winding(th), axis=(1, 2)) / N
    out["abs_m"] = np.hypot(out["mx"], out["my"])
    out["helicity_cos"] = out["helicity_cos_x"]
    out["helicity_sin"] = out["helicity_sin_x"]
    return out


# ---------------------------------------------------------------------------------------------
# Correlation functions, structure factors and the second-moment correlation length
# ---------------------------------------------------------------------------------------------


def _correlations(n: int, L: int, fields) -> dict:
    """Structure factors and mean correlation functions of order-parameter fields.

    ``fields(sl)`` returns {name: φ[c, L, L]} (float64 or complex128) for the samples ``sl``.
    For each name: per-sample float64 series ``S0`` = |Σφ|²/N, ``Sx`` and ``Sy`` = S at
    k_min = 2π/L along x and along y (the mean of +k_min and −k_min, equal for real φ), and
    the sample means ``Cx``, ``Cy`` (length L//2 + 1) of C(r) = (1/N)Σ_i Re(φ_i* φ_{i+r e}),
    r = 0..L//2, all from FFTs along one axis at a time."""
    N = L * L
    r = L // 2 + 1
    out: dict = {}
    for sl in _chunks(n, N):
        for name, phi in fields(sl).items():
            o = out.get(name)
            if o is None:
                o = out[name] = {"S0": np.empty(n), "Sx": np.empty(n), "Sy": np.empty(n),
                                 "Cx": np.zeros(r), "Cy": np.zeros(r)}
            real = not np.iscomplexobj(phi)
            for axis, S, C in ((-1, "Sx", "Cx"), (-2, "Sy", "Cy")):
                # along x (axis −1) or y (axis −2) in each line; half the spectrum if φ is real
                F = np.fft.rfft(phi, axis=axis) if real else np.fft.fft(phi, axis=axis)
                power = F.real ** 2 + F.imag ** 2
                # Wiener–Khinchin per line, summed over the lines and the samples
                corr = (np.fft.irfft(power, n=L, axis=axis) if real
                        else np.fft.ifft(power, axis=axis).real)
                o[C] += corr.sum(axis=(0, 1 if axis == -1 else 2))[:r]
                k = F.sum(axis=-2 if axis == -1 else -1)  # the 2-D transform at k ∥ axis
                a0, ap = (k[:, j].real ** 2 + k[:, j].imag ** 2 for j in (0, 1))
                am = ap if real else k[:, -1].real ** 2 + k[:, -1].imag ** 2  # S(−k) = S(k)
                if axis == -1:
                    o["S0"][sl] = a0 / N
                o[S][sl] = 0.5 * (ap + am) / N
    for o in out.values():
        o["Cx"] /= n * N
        o["Cy"] /= n * N
    return out


def ising_correlations(configs) -> dict:
    """Correlation functions and structure factors of the Ising order-parameter fields.

    The fields are φ = s·p for the sign patterns p of :func:`spinsym.lattice.sign_patterns`:
    ``"m"`` (ferro, p = 1), ``"staggered"`` ((−1)^(x+y)) and ``"stripe"``: the stripe field
    (−1)^x or (−1)^y whose mean S(0) = N⟨m_x²⟩ or N⟨m_y²⟩ is the larger over the samples given
    (the x one on a tie), named in its ``"pattern"`` entry.  Each entry is
    ``{"S0", "Sx", "Sy"}`` (per-sample float64 series of length n: the structure factor
    S(k) = (1/N)|Σ_j φ_j e^{−ik·r_j}|² at k = 0, at k_min = 2π/L along x and along y),
    ``{"Cx", "Cy"}`` (the sample means of C(r) = (1/N)Σ_i φ_i φ_{i+r}, displacement r along x
    or y, r = 0..L//2; C(0) = 1) and ``"pattern"``.  Computed by FFTs in chunks of samples.
    """
    s = _as_batch(configs, "Ising configs")
    n, L, _ = s.shape
    from .lattice import sign_patterns

    W = sign_patterns(L)
    names = ("m", "staggered", "stripe_x", "stripe_y")
    corr = _correlations(n, L, lambda sl: {k: s[sl] * W[i] for i, k in enumerate(names)})
    for k, p in zip(names, ("1", "(-1)^(x+y)", "(-1)^x", "(-1)^y")):
        corr[k]["pattern"] = p
    sx, sy = corr.pop("stripe_x"), corr.pop("stripe_y")
    corr["stripe"] = sx if sx["S0"].mean() >= sy["S0"].mean() else sy
    return corr


def xy_correlations(thetas) -> dict:
    """Correlation function and structure factor of XY spins, as :func:`ising_correlations`
    with the single entry ``"m"``: the field is z = e^{iθ}, so C(r) = ⟨cos(θ_i − θ_{i+r})⟩
    (vector spin correlation) and S(0) = N⟨|m|²⟩."""
    th = _as_batch(thetas, "XY thetas")
    n, L, _ = th.shape
    corr = _correlations(n, L, lambda sl: {"m": np.exp(1j * th[sl].astype(np.float64))})
    corr["m"]["pattern"] = "cos(theta_i - theta_j)"
    return corr


def _correlation_summary(corr: dict, L: int) -> dict:
    """The ``correlation_length*`` and ``correlation`` entries of :func:`summarize`."""
    from .exact import second_moment_xi

    xi = lambda a, b: second_moment_xi(a, b, L)  # noqa: E731
    out = {"correlation_length": {}, "correlation_length_x": {}, "correlation_length_y": {}}
    correlation: dict = {"r": list(range(L // 2 + 1))}
    for name, o in corr.items():
        S0, Sx, Sy = o["S0"], o["Sx"], o["Sy"]
        with np.errstate(invalid="ignore"):  # ξ = inf (S(k_min) = 0, perfect order): err NaN
            out["correlation_length"][name] = jackknife_estimate(
                lambda a, b, c: 0.5 * (xi(a, b) + xi(a, c)), S0, Sx, Sy)
            out["correlation_length_x"][name] = jackknife_estimate(xi, S0, Sx)
            out["correlation_length_y"][name] = jackknife_estimate(xi, S0, Sy)
        correlation[name] = {"x": [float(v) for v in o["Cx"]], "y": [float(v) for v in o["Cy"]],
                             "pattern": o["pattern"]}
    out["correlation"] = correlation
    return out


# ---------------------------------------------------------------------------------------------
# Summary of one run
# ---------------------------------------------------------------------------------------------


def _check_energies(model, configs, energies, couplings, max_checked: int = 16) -> None:
    """Recompute a few energies: catches per-site energies or mismatched couplings."""
    n, L, _ = configs.shape
    idx = np.unique(np.linspace(0, n - 1, min(n, max_checked)).astype(int))
    expected = np.asarray(energy(model, configs[idx], couplings), dtype=np.float64)
    c = couplings
    scale = L * L * (c.max_flip_energy() / 4 + 1.0)
    if not np.allclose(energies[idx], expected, rtol=1e-5, atol=1e-5 * scale):
        k = int(idx[np.argmax(np.abs(energies[idx] - expected))])
        raise ParameterError(
            f"energies do not match the configurations (sample {k}: given {energies[k]:.6g}, "
            f"recomputed {float(expected[list(idx).index(k)]):.6g}); pass TOTAL energies "
            "computed with the same couplings")


def summarize(model: str, configs, energies, T: float, couplings: Couplings,
              check_energies: bool = True) -> dict:
    """JSON-ready summary of a Monte Carlo run of ``model`` at temperature ``T``.

    ``configs[n, L, L]`` are the samples in simulation order (int8 spins ±1 for 'ising', angles
    for 'xy'); ``energies[n]`` their TOTAL energies (from :func:`spinsym.hamiltonians.energy`;
    a few are recomputed as a check unless ``check_energies`` is false).  β = 1/T.

    Returned keys (observables are ``{"mean": float, "err": float}``, the JSON form of a
    :class:`spinsym.stats.Estimate`: None where a value is NaN):

    * ``model``, ``T``, ``n_samples``, ``L``.
    * ``energy_per_site``, ``m``, ``abs_m``, ``m2``, ``m4``: means with τ-corrected errors
      (:func:`spinsym.stats.estimate`).  For XY, m is the 2-vector mean: ``m`` is its signed x-component
      ⟨mx⟩, ``my`` the y-component ⟨my⟩, ``abs_m`` = ⟨|m|⟩, ``m2`` = ⟨|m|²⟩, ``m4`` = ⟨|m|⁴⟩.
    * ``specific_heat`` = β²N(⟨e²⟩ − ⟨e⟩²) (e per site), ``susceptibility`` =
      βN(⟨m²⟩ − ⟨|m|⟩²), ``binder`` (Ising 1 − ⟨m⁴⟩/(3⟨m²⟩²), 0 when disordered and 2/3 when
      ordered; XY 2 − ⟨m⁴⟩/⟨m²⟩², 0 → 1): blocked jackknife
      (:func:`spinsym.stats.jackknife_estimate`).
    * Ising: ``staggered_abs`` = ⟨|m_s|⟩, ``staggered_m2`` = ⟨m_s²⟩, ``stripe_abs`` =
      ⟨sqrt(m_x² + m_y²)⟩, ``stripe_m2`` = ⟨m_x² + m_y²⟩ of the stripe parameters, and the
      susceptibility and Binder cumulant of each (``staggered_susceptibility``,
      ``staggered_binder`` as for m; ``stripe_susceptibility``, ``stripe_binder`` of the
      two-component (m_x, m_y) as for XY: 2 − ⟨|m|⁴⟩/⟨|m|²⟩²).
    * XY: ``helicity`` Υ = ½(Υ_x + Υ_y), Υ_a = (1/N)[⟨Σ_a J cos Δθ⟩ − β⟨(Σ_a J sin Δθ)²⟩]
      (jackknife error; diagonal bonds included when J2 ≠ 0, see :func:`xy_series`), and
      ``vortex_density``.
    * ``tau_int``: {"energy", "abs_m", "m2"}: integrated autocorrelation times in samples
      (:func:`spinsym.stats.tau_int`).
    * When the model's ``series`` gives ``correlations`` (Ising: :func:`ising_correlations`,
      fields ``m``, ``staggered``, ``stripe``; XY: :func:`xy_correlations`, field ``m``):
      ``correlation_length`` = {field: ξ}, the second-moment correlation length
      (:func:`spinsym.exact.second_moment_xi`; None where S(0) ≤ S(k_min)) averaged over x
      and y, ½(ξ_x + ξ_y), and
      ``correlation_length_x``, ``correlation_length_y`` = {field: ξ_x or ξ_y}, all with
      blocked-jackknife errors over the per-sample structure factors;
      ``correlation`` = {"r": [0..L//2], field: {"x": [C(r)], "y": [C(r)], "pattern": str}},
      the sample means of the correlation functions along x and y (no error bars).
    """
    from .couplings import BondCouplings

    if not isinstance(couplings, (Couplings, BondCouplings)):
        raise ParameterError("couplings must be a spinsym.hamiltonians.Couplings or a "
                             f"spinsym.couplings.BondCouplings, got {type(couplings).__name__}")
    try:
        T = float(T)
    except (TypeError, ValueError):
        raise ParameterError(f"T must be a number, got {T!r}") from None
    if not (math.isfinite(T) and T > 0):
        raise ParameterError(f"T must be finite and > 0, got {T!r}")
    configs = _as_batch(configs, "configs")
    n, L, _ = configs.shape
    N = L * L
    if n < 2:
        raise ParameterError(f"summarize needs at least 2 samples, got {n}")
    E = np.asarray(energies, dtype=np.float64)
    if E.shape != (n,):
        raise ParameterError(f"energies must have shape ({n},), got {E.shape}")
    if not np.all(np.isfinite(E)):
        raise ParameterError("energies contain non-finite values")
    spin_model = models.get(model)
    try:
        spin_model.check_configs(configs, "configs")
    except DataError as exc:
        raise ParameterError(str(exc)) from None
    if check_energies:
        _check_energies(model, configs, E, couplings)
    beta = 1.0 / T

    e = E / N
    ser = spin_model.series(configs, couplings)
    m_signed, abs_m, m2 = ser["m"], ser["abs_m"], ser["m2"]
    m4 = m2**2

    # Shift e by its mean: the variance is unchanged and e² − ⟨e⟩² loses no digits.
    de = e - e.mean()
    est = {
        "energy_per_site": estimate(e),
        "m": estimate(m_signed),
        "abs_m": estimate(abs_m),
        "m2": estimate(m2),
        "m4": estimate(m4),
        "specific_heat": jackknife_estimate(lambda a, b: beta**2 * N * (b - a * a), de, de * de),
        "susceptibility": jackknife_estimate(lambda a, b: beta * N * (b - a * a), abs_m, m2),
        "binder": jackknife_estimate(spin_model.binder, m2, m4),
    }
    est.update(spin_model.extra_observables(ser, beta, N, estimate, jackknife_estimate))
    out: dict = {"model": model, "T": T, "n_samples": int(n), "L": int(L)}
    out.update(est)
    out["tau_int"] = {
        "energy": est["energy_per_site"].tau,
        "abs_m": est["abs_m"].tau,
        "m2": est["m2"].tau,
    }
    if "correlations" in ser:  # the model's order-parameter fields (its series method)
        out.update(_correlation_summary(ser["correlations"], L))
    return json_form(out)


def json_form(obj):
    """Strict-JSON form: Estimates become ``{"mean", "err"}`` dicts
    (:meth:`spinsym.stats.Estimate.as_dict`), NaN/inf floats None, tuples lists."""
    if isinstance(obj, Estimate):
        return obj.as_dict()
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_form(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_form(v) for v in obj]
    return obj
