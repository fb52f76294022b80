"""Measurements on spin configurations and honest error bars (docs/conventions.md).

Three layers, all pure numpy:

* **Statistics of a time series** (Monte Carlo samples in the order they were produced):
  :func:`autocorrelation`, :func:`tau_int` (Sokal's automatic window), :func:`mean_err`
  (τ-corrected standard error of a mean), :func:`jackknife` (blocked jackknife for nonlinear
  functions of means) and :func:`blocking_error` (Flyvbjerg–Petersen blocking with Jonsson's
  automatic stopping rule).
* **Per-configuration measurements**, vectorized over samples: :func:`ising_series`,
  :func:`xy_series` and :func:`vortex_map`.
* :func:`summarize`: the JSON-ready summary of one Monte Carlo run at one temperature.

Conventions: arrays are indexed ``a[..., y, x]`` on an L × L torus, N = L²; per-site quantities
divide by N; energies handed to :func:`summarize` are TOTAL energies, as returned by
:func:`spinsym.hamiltonians.energy`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import fft as _fft
from scipy import stats as _stats

from . import models
from .errors import DataError, ParameterError
from .hamiltonians import Couplings, energy

__all__ = [
    "autocorrelation",
    "tau_int",
    "mean_err",
    "jackknife",
    "blocking_error",
    "ising_series",
    "xy_series",
    "vortex_map",
    "summarize",
]

#: Sokal's window constant: the window is the smallest M with M >= SOKAL_C * tau(M).
SOKAL_C = 5.0
#: Automatic jackknife blocks are at least this many integrated autocorrelation times long ...
BLOCK_TAUS = 20.0
#: ... unless that would leave fewer than this many blocks (a run that is too short).
MIN_BLOCKS = 10
#: Samples times sites handled at once by the per-configuration measurements (memory bound).
_CHUNK_ELEMENTS = 1 << 20

_TWO_PI = 2.0 * math.pi


# ---------------------------------------------------------------------------------------------
# Statistics of a time series
# ---------------------------------------------------------------------------------------------


def _series(x, name: str = "series") -> np.ndarray:
    """A finite 1-D float64 array, or ParameterError."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1:
        raise ParameterError(f"{name} must be one-dimensional, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ParameterError(f"{name} contains non-finite values")
    return a


def autocorrelation(x) -> np.ndarray:
    """Normalized autocorrelation ρ(t), t = 0 … n−1, of a 1-D series, via FFT.

    Uses the standard (biased, 1/n) estimator of the autocovariance, normalized so that
    ρ(0) = 1.  A constant series gives ρ = (1, 0, 0, …).
    """
    a = _series(x)
    n = a.size
    if n == 0:
        return np.zeros(0)
    d = a - a.mean()
    size = _fft.next_fast_len(2 * n, real=True)  # zero padding: no circular wrap-around
    f = _fft.rfft(d, n=size)
    acov = _fft.irfft(f.real**2 + f.imag**2, n=size)[:n]
    rho = np.zeros(n)
    if acov[0] > 0.0:
        rho = acov / acov[0]
    else:
        rho[0] = 1.0
    return rho


def tau_int(x, c: float = SOKAL_C) -> tuple[float, int]:
    """Integrated autocorrelation time with Sokal's automatic window.

    τ(M) = 1/2 + Σ_{t=1}^{M} ρ(t); the window is the smallest M with M ≥ c·τ(M) (c = 5).
    Uncorrelated data give τ ≈ 0.5; for an AR(1) process with coefficient φ the exact value is
    (1 + φ) / (2 (1 − φ)).  The variance of the mean is var(x)/n · 2τ.

    Returns ``(tau, window)``.  A constant series (or one shorter than 2) gives ``(0.5, 0)``.
    If no window satisfies the criterion (the series is far too short compared to τ), the
    largest possible window is used and τ is an underestimate.  Anticorrelated data may give
    τ < 0.5 (never below 0).
    """
    a = _series(x)
    n = a.size
    if n < 2 or np.ptp(a) == 0.0:
        return 0.5, 0
    rho = autocorrelation(a)
    taus = 0.5 + np.cumsum(rho[1:])  # taus[M - 1] = τ(M), M = 1 … n−1
    windows = np.arange(1, n)
    ok = windows >= c * taus
    idx = int(np.argmax(ok)) if ok.any() else n - 2
    return max(float(taus[idx]), 0.0), idx + 1


def mean_err(x) -> tuple[float, float, float]:
    """Mean of a correlated series, its standard error and τ_int.

    err = sqrt(var(x)/n · 2τ) with the sample variance (ddof = 1) and τ from :func:`tau_int`.
    Returns ``(mean, err, tau)``; the error is NaN for fewer than two samples.
    """
    a = _series(x)
    n = a.size
    if n == 0:
        raise ParameterError("mean_err needs at least one sample")
    mean = float(a.mean())
    if n < 2:
        return mean, float("nan"), 0.5
    tau, _ = tau_int(a)
    err = math.sqrt(float(a.var(ddof=1)) / n * 2.0 * tau)
    return mean, err, tau


def _choose_block(arrays, n: int, n_blocks: int) -> int:
    """Automatic block size: ≥ BLOCK_TAUS·τ_max and ≥ n/n_blocks, but at least MIN_BLOCKS blocks."""
    tau = max(tau_int(a)[0] for a in arrays)
    block = max(math.ceil(BLOCK_TAUS * tau), math.ceil(n / n_blocks), 1)
    return max(1, min(block, n // MIN_BLOCKS))


def _apply_to_rows(func, means: list[np.ndarray]) -> np.ndarray:
    """func applied to the leave-one-out means of every block: vectorized when func allows."""
    nb = means[0].size
    try:
        with np.errstate(all="ignore"):
            out = np.asarray(func(*means), dtype=np.float64)
        if out.shape == (nb,):
            return out
    except Exception:  # noqa: BLE001 - func is not vectorized; fall back to the loop below
        pass
    return np.array([float(func(*(m[i] for m in means))) for i in range(nb)])


def jackknife(func, *series, n_blocks: int = 100, block: int | None = None,
              bias_correct: bool = False) -> tuple[float, float]:
    """Blocked jackknife estimate and error of ``func(⟨x1⟩, ⟨x2⟩, …)``.

    ``series`` are 1-D series of equal length n, sampled at the same times (e.g. e and e²).
    ``func`` takes one mean per series and returns a scalar; a vectorized func (plain
    arithmetic) is called once on arrays of leave-one-block-out means, anything else once per
    block.

    Block size: ``block`` if given; otherwise the larger of 20·τ_int (largest τ_int of the
    series) and n / ``n_blocks`` (so at most ``n_blocks`` blocks), reduced where necessary to
    keep at least 10 blocks — for runs shorter than ~200 τ the error is then an underestimate.
    When n is not a multiple of the block size, the leading remainder is left out of the
    blocks (not of the plain estimate).

    Returns ``(value, err)``: value is the plain estimate f(means of all data), or the
    bias-corrected jackknife estimate n_b·f(all) − (n_b − 1)·mean_i f(leave-out i) when
    ``bias_correct`` is true.  Constant series give err = 0.
    """
    if not series:
        raise ParameterError("jackknife needs at least one series")
    arrays = [_series(s, f"series {k}") for k, s in enumerate(series)]
    n = arrays[0].size
    if any(a.size != n for a in arrays):
        raise ParameterError("jackknife series must all have the same length")
    if n < 2:
        raise ParameterError("jackknife needs at least two samples")
    if block is None:
        if int(n_blocks) < 2:
            raise ParameterError(f"n_blocks must be at least 2, got {n_blocks!r}")
        block = _choose_block(arrays, n, int(n_blocks))
    else:
        if int(block) != block or not 1 <= int(block) <= n // 2:
            raise ParameterError(f"block must be an integer in [1, n/2] = [1, {n // 2}], got {block!r}")
        block = int(block)
    nb = n // block
    start = n - nb * block
    constant = all(np.ptp(a) == 0.0 for a in arrays)

    with np.errstate(all="ignore"):
        value = float(func(*(a.mean() for a in arrays)))
    sums = [a[start:].reshape(nb, block).sum(axis=1) for a in arrays]
    loo = [(s.sum() - s) / ((nb - 1) * block) for s in sums]
    f_i = _apply_to_rows(func, loo)
    f_bar = f_i.mean()
    err = 0.0 if constant else math.sqrt((nb - 1) / nb * float(np.sum((f_i - f_bar) ** 2)))
    if bias_correct:
        with np.errstate(all="ignore"):
            f_used = float(func(*(s.sum() / (nb * block) for s in sums)))
        value = nb * f_used - (nb - 1) * float(f_bar)
    return value, err


def blocking_error(x, confidence: float = 0.99) -> tuple[float, float, int]:
    """Standard error of the mean by Flyvbjerg–Petersen blocking, stopped automatically.

    The series is repeatedly replaced by means of neighbouring pairs; the blocking level is
    chosen with Jonsson's test (Phys. Rev. E 98, 043304 (2018)): the first level k whose
    statistic M_k = Σ_{j≥k} n_j (γ_j/σ²_j)² (γ the lag-1 autocovariance) is below the
    χ²(d−k) quantile ``confidence``.  Only the last 2^⌊log2 n⌋ samples are used.

    Returns ``(mean, err, level)`` with the mean of all data and block size 2^level.
    """
    a = _series(x)
    n_all = a.size
    if n_all < 4:
        raise ParameterError("blocking_error needs at least 4 samples")
    mean = float(a.mean())
    d = int(math.floor(math.log2(n_all)))
    y = a[n_all - 2**d:]
    if np.ptp(y) == 0.0:
        return mean, 0.0, 0
    mu = y.mean()
    s = np.zeros(d)
    gamma = np.zeros(d)
    for i in range(d):
        m = y.size
        s[i] = y.var()
        gamma[i] = np.sum((y[:-1] - mu) * (y[1:] - mu)) / m
        y = 0.5 * (y[0::2] + y[1::2])
    sizes = 2.0 ** np.arange(d, 0, -1)  # n_k = 2^(d-k)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(s > 0, sizes * (gamma / np.where(s > 0, s, 1.0)) ** 2, 0.0)
    M = np.cumsum(terms[::-1])[::-1]
    q = _stats.chi2.ppf(confidence, np.arange(d, 0, -1))
    below = M < q
    k = int(np.argmax(below)) if below.any() else d - 1
    return mean, math.sqrt(s[k] / sizes[k]), k


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


def xy_series(thetas, Jx: float = 1.0, Jy: float = 1.0, J2: float = 0.0) -> dict[str, np.ndarray]:
    """Per-sample measurements of XY configurations ``thetas[n, L, L]`` (angles in radians).

    Returns float64 arrays of length n:

    * ``mx``, ``my``: (1/N)Σ cos θ, (1/N)Σ sin θ;  ``abs_m`` = sqrt(mx² + my²).
    * ``helicity_cos_x`` = Σ_x-bonds Jx cos(θ_i − θ_{i+x}) and
      ``helicity_sin_x`` = Σ_x-bonds Jx sin(θ_i − θ_{i+x}) (totals, not per site); likewise
      ``helicity_cos_y``, ``helicity_sin_y`` with Jy.  ``helicity_cos``/``helicity_sin`` are the
      x-direction ones.  With J2 ≠ 0 the diagonal bonds contribute to both directions with
      their displacement Δ = ±1: cos terms J2 cos(θ_i − θ_j), sin terms J2·Δ·sin(θ_i − θ_j).
      The helicity modulus along x is (1/N)[⟨cos_x⟩ − β⟨sin_x²⟩] (docs/conventions.md).
    * ``vortex_density``: number of plaquettes with nonzero winding (vortices and
      antivortices, see :func:`vortex_map`) divided by N.
    """
    th_all = _as_batch(thetas, "XY thetas")
    n, L, _ = th_all.shape
    N = L * L
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
# Summary of one run
# ---------------------------------------------------------------------------------------------


def _me(x) -> dict:
    mean, err, _ = mean_err(x)
    return {"mean": float(mean), "err": float(err)}


def _jk(func, *series) -> dict:
    value, err = jackknife(func, *series)
    return {"mean": float(value), "err": float(err)}


def _check_energies(model, configs, energies, couplings, max_checked: int = 16) -> None:
    """Recompute a few energies: catches per-site energies or mismatched couplings."""
    n, L, _ = configs.shape
    idx = np.unique(np.linspace(0, n - 1, min(n, max_checked)).astype(int))
    expected = np.asarray(energy(model, configs[idx], couplings), dtype=np.float64)
    c = couplings
    scale = L * L * (abs(c.Jx) + abs(c.Jy) + 2 * abs(c.J2) + abs(c.h) + 1.0)
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

    Returned keys (observables are ``{"mean": float, "err": float}``):

    * ``model``, ``T``, ``n_samples``, ``L``.
    * ``energy_per_site``, ``m``, ``abs_m``, ``m2``, ``m4``: means with τ-corrected errors
      (:func:`mean_err`).  For XY, m is the 2-vector mean: ``m`` is its signed x-component
      ⟨mx⟩, ``my`` the y-component ⟨my⟩, ``abs_m`` = ⟨|m|⟩, ``m2`` = ⟨|m|²⟩, ``m4`` = ⟨|m|⁴⟩.
    * ``specific_heat`` = β²N(⟨e²⟩ − ⟨e⟩²) (e per site), ``susceptibility`` =
      βN(⟨m²⟩ − ⟨|m|⟩²), ``binder`` (Ising 1 − ⟨m⁴⟩/(3⟨m²⟩²), 0 when disordered and 2/3 when
      ordered; XY 2 − ⟨m⁴⟩/⟨m²⟩², 0 → 1): blocked jackknife (:func:`jackknife`).
    * Ising: ``staggered_abs`` = ⟨|m_s|⟩, ``staggered_m2`` = ⟨m_s²⟩, ``stripe_abs`` =
      ⟨sqrt(m_x² + m_y²)⟩, ``stripe_m2`` = ⟨m_x² + m_y²⟩ of the stripe parameters, and the
      susceptibility and Binder cumulant of each (``staggered_susceptibility``,
      ``staggered_binder`` as for m; ``stripe_susceptibility``, ``stripe_binder`` of the
      two-component (m_x, m_y) as for XY: 2 − ⟨|m|⁴⟩/⟨|m|²⟩²).
    * XY: ``helicity`` Υ = ½(Υ_x + Υ_y), Υ_a = (1/N)[⟨Σ_a J cos Δθ⟩ − β⟨(Σ_a J sin Δθ)²⟩]
      (jackknife error; diagonal bonds included when J2 ≠ 0, see :func:`xy_series`), and
      ``vortex_density``.
    * ``tau_int``: {"energy", "abs_m", "m2"}: integrated autocorrelation times in samples.
    """
    if not isinstance(couplings, Couplings):
        raise ParameterError(f"couplings must be a spinsym.hamiltonians.Couplings, got {type(couplings).__name__}")
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
    out: dict = {"model": model, "T": T, "n_samples": int(n), "L": int(L)}
    out["energy_per_site"] = _me(e)
    out["m"] = _me(m_signed)
    out["abs_m"] = _me(abs_m)
    out["m2"] = _me(m2)
    out["m4"] = _me(m4)
    out["specific_heat"] = _jk(lambda a, b: beta**2 * N * (b - a * a), de, de * de)
    out["susceptibility"] = _jk(lambda a, b: beta * N * (b - a * a), abs_m, m2)
    out["binder"] = _jk(spin_model.binder, m2, m4)
    out.update(spin_model.extra_observables(ser, beta, N, _me, _jk))
    out["tau_int"] = {
        "energy": float(tau_int(e)[0]),
        "abs_m": float(tau_int(abs_m)[0]),
        "m2": float(tau_int(m2)[0]),
    }
    return _json_safe(out)


def _json_safe(obj):
    """NaN/inf (a Binder cumulant of an order parameter that is exactly 0 in every sample)
    become None, so the summary is strict JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    return obj
