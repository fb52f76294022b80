"""Statistics of a Monte Carlo time series: honest error bars (docs/conventions.md).

All pure numpy, for samples in the order they were produced:

* :func:`autocorrelation`, :func:`tau_int` (Sokal's automatic window), :func:`mean_err`
  (τ-corrected standard error of a mean), :func:`jackknife` (blocked jackknife for nonlinear
  functions of means) and :func:`blocking_error` (Flyvbjerg–Petersen blocking with Jonsson's
  automatic stopping rule): plain tuples.
* :class:`Estimate`, a value with its error, and the helpers that return one:
  :func:`estimate` (a mean, :func:`mean_err`) and :func:`jackknife_estimate`
  (:func:`jackknife`).  ``Estimate.as_dict()`` is the ``{"mean": .., "err": ..}`` form of
  :func:`spinsym.observables.summarize` and ``spinsym analyze --json``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import fft as _fft
from scipy import stats as _stats

from .errors import ParameterError

__all__ = [
    "autocorrelation",
    "tau_int",
    "mean_err",
    "jackknife",
    "blocking_error",
    "Estimate",
    "estimate",
    "jackknife_estimate",
]

#: Sokal's window constant: the window is the smallest M with M >= SOKAL_C * tau(M).
SOKAL_C = 5.0
#: Automatic jackknife blocks are at least this many integrated autocorrelation times long ...
BLOCK_TAUS = 20.0
#: ... unless that would leave fewer than this many blocks (a run that is too short).
MIN_BLOCKS = 10


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
# Estimates: a value with its error
# ---------------------------------------------------------------------------------------------


def _finite_or_none(v: float | None) -> float | None:
    return v if v is not None and math.isfinite(v) else None


@dataclass(frozen=True)
class Estimate:
    """A value with its standard error: ``mean`` ± ``err``.

    ``tau`` is the integrated autocorrelation time (in samples) behind the error when the
    estimate is a plain mean (:func:`estimate`), None otherwise.  NaN is allowed (e.g. the
    error of a single sample, or a Binder cumulant of an order parameter that is exactly 0 in
    every sample); :meth:`as_dict` turns it into None.
    """

    mean: float
    err: float
    tau: float | None = None

    def __post_init__(self):
        for name in ("mean", "err", "tau"):
            v = getattr(self, name)
            if v is None and name == "tau":
                continue
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer,
                                                                       np.floating)):
                raise ParameterError(f"Estimate.{name} must be a real number, got {v!r}")
            object.__setattr__(self, name, float(v))

    def as_dict(self) -> dict:
        """The JSON form ``{"mean": float | None, "err": float | None}``: NaN and ±inf become
        None (strict JSON); ``tau`` is left out (summaries report it under ``tau_int``)."""
        return {"mean": _finite_or_none(self.mean), "err": _finite_or_none(self.err)}


def estimate(x) -> Estimate:
    """The mean of a correlated series with its τ-corrected error and τ_int (:func:`mean_err`)."""
    mean, err, tau = mean_err(x)
    return Estimate(mean, err, tau)


def jackknife_estimate(func, *series, **options) -> Estimate:
    """``func(⟨x1⟩, ⟨x2⟩, …)`` with its blocked-jackknife error (:func:`jackknife`; the
    keyword ``options`` are its ``n_blocks``, ``block`` and ``bias_correct``)."""
    value, err = jackknife(func, *series, **options)
    return Estimate(value, err)
