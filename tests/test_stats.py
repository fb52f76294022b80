"""Tests of spinsym.stats: error-bar statistics of a time series and the Estimate type.

Statistical checks use fixed seeds and tolerances of several standard deviations of the check
itself (quoted next to each), so they are deterministic and not flaky.
"""

import dataclasses
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.signal import lfilter

from spinsym.errors import ParameterError
from spinsym.stats import (
    Estimate,
    autocorrelation,
    blocking_error,
    estimate,
    jackknife,
    jackknife_estimate,
    mean_err,
    tau_int,
)


def ar1(rng, phi, n, replicas=None):
    """Stationary AR(1) series x_t = φ x_{t-1} + ε_t, unit innovations; shape (replicas, n)."""
    shape = (1 if replicas is None else replicas, n)
    eps = rng.standard_normal(shape)
    x0 = rng.standard_normal((shape[0], 1)) / math.sqrt(1 - phi**2)
    x, _ = lfilter([1.0], [1.0, -phi], eps, axis=-1, zi=phi * x0)
    return x[0] if replicas is None else x


def ar1_exact_sem(phi, n):
    """Exact standard error of the mean of n consecutive samples of the stationary AR(1)."""
    t = np.arange(1, n)
    var_x = 1.0 / (1 - phi**2)
    return math.sqrt(var_x / n * (1 + 2 * np.sum((1 - t / n) * phi**t)))


def exact_tau(phi):
    return (1 + phi) / (2 * (1 - phi))


# ---------------------------------------------------------------------------------------------
# tau_int, mean_err
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("phi", [0.5, 0.9])
def test_tau_int_ar1(phi):
    # n = 2^20: statistical error of τ ≈ τ·sqrt(2(2M+1)/n) ≈ 1.4 % for φ = 0.9.
    x = ar1(np.random.default_rng(11), phi, 2**20)
    tau, window = tau_int(x)
    assert tau == pytest.approx(exact_tau(phi), rel=0.05)
    assert window >= 5 * tau and window < 10 * tau + 5


def test_tau_int_white_noise_and_degenerate_series():
    x = np.random.default_rng(1).standard_normal(2**16)
    tau, _ = tau_int(x)
    assert tau == pytest.approx(0.5, abs=0.03)
    assert tau_int(np.full(1000, 3.7)) == (0.5, 0)
    assert tau_int([1.0]) == (0.5, 0)
    assert np.isfinite(tau_int([1.0, 2.0])[0])
    with pytest.raises(ParameterError):
        tau_int([1.0, np.nan, 2.0])
    with pytest.raises(ParameterError):
        tau_int(np.zeros((3, 3)))


def test_autocorrelation_matches_direct_sum():
    x = np.random.default_rng(2).standard_normal(300)
    d = x - x.mean()
    direct = np.array([np.dot(d[: len(d) - t], d[t:]) for t in range(len(d))]) / np.dot(d, d)
    np.testing.assert_allclose(autocorrelation(x), direct, atol=1e-12)


def test_mean_err_constant_and_short():
    mean, err, tau = mean_err(np.full(500, -2.0))
    assert (mean, err, tau) == (-2.0, 0.0, 0.5)
    mean, err, tau = mean_err([4.0])
    assert mean == 4.0 and math.isnan(err)


def test_mean_err_white_noise_is_naive_error():
    x = np.random.default_rng(3).standard_normal(10_000)
    mean, err, tau = mean_err(x)
    naive = x.std(ddof=1) / math.sqrt(x.size)
    assert err == pytest.approx(naive * math.sqrt(2 * tau))
    assert err == pytest.approx(naive, rel=0.05)


def test_mean_err_calibrated_on_correlated_ar1():
    # 400 independent AR(1) series, φ = 0.9 (τ = 9.5), n = 16384 ≈ 1700 τ each.
    phi, n, R = 0.9, 2**14, 400
    xs = ar1(np.random.default_rng(4), phi, n, R)
    res = np.array([mean_err(x) for x in xs])
    means, errs, taus = res.T
    exact = ar1_exact_sem(phi, n)
    # The reported error matches the true standard error of the mean ...
    assert errs.mean() == pytest.approx(exact, rel=0.10)
    # ... and the actual spread of the means (relative uncertainty 1/sqrt(2R) ≈ 3.5 %).
    assert means.std(ddof=1) == pytest.approx(errs.mean(), rel=0.12)
    assert taus.mean() == pytest.approx(exact_tau(phi), rel=0.05)
    # The naive error would be wrong by a factor sqrt(2τ) ≈ 4.4.
    naive = xs.std(axis=1, ddof=1).mean() / math.sqrt(n)
    assert means.std(ddof=1) > 3.5 * naive
    # One-sigma coverage ≈ 68 % (binomial sd over 400 replicas ≈ 2.3 %).
    coverage = np.mean(np.abs(means) <= errs)
    assert 0.60 <= coverage <= 0.76


# ---------------------------------------------------------------------------------------------
# jackknife, blocking
# ---------------------------------------------------------------------------------------------


def test_jackknife_of_mean_with_unit_blocks_is_standard_error():
    x = np.random.default_rng(5).standard_normal(1000)
    value, err = jackknife(lambda a: a, x, block=1)
    assert value == pytest.approx(x.mean())
    assert err == pytest.approx(x.std(ddof=1) / math.sqrt(x.size), rel=1e-10)


def test_jackknife_vectorized_and_scalar_funcs_agree():
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal(2000) + 3, rng.standard_normal(2000) + 5
    v1 = jackknife(lambda a, b: a / b, x, y, block=40)
    v2 = jackknife(lambda a, b: math.exp(math.log(a) - math.log(b)), x, y, block=40)
    assert v1 == pytest.approx(v2, rel=1e-10)
    # Bias correction only moves the value by O(err).
    vb, eb = jackknife(lambda a, b: a / b, x, y, block=40, bias_correct=True)
    assert eb == v1[1] and abs(vb - v1[0]) < v1[1]


def test_jackknife_constant_and_validation():
    assert jackknife(lambda a, b: b - a * a, np.ones(100), np.ones(100)) == (0.0, 0.0)
    with pytest.raises(ParameterError):
        jackknife(lambda a, b: a, np.ones(10), np.ones(11))
    with pytest.raises(ParameterError):
        jackknife(lambda a: a, np.ones(10), block=6)
    with pytest.raises(ParameterError):
        jackknife(lambda a: a, np.ones(1))


@pytest.mark.parametrize("which", ["variance", "ratio"])
def test_jackknife_calibrated_on_correlated_ar1(which):
    # Nonlinear functions of means of a correlated series (φ = 0.8, τ = 4.5): the automatic
    # blocked jackknife error matches the spread over 300 replicas (uncertainty ≈ 4 %).
    phi, n, R = 0.8, 8192, 300
    xs = ar1(np.random.default_rng(7 if which == "variance" else 8), phi, n, R)
    if which == "variance":
        def f(a, b):
            return b - a * a
        series = [(x, x * x) for x in xs]
    else:
        def f(a, b):
            return b / (a * a)  # ⟨x⁴⟩/⟨x²⟩², a Binder-like ratio
        series = [(x * x, x**4) for x in xs]
    res = np.array([jackknife(f, *s) for s in series])
    values, errs = res.T
    assert values.std(ddof=1) == pytest.approx(errs.mean(), rel=0.15)
    # The blocks really are needed: unit blocks underestimate the error badly.
    naive = np.mean([jackknife(f, *s, block=1)[1] for s in series[:20]])
    assert naive < 0.75 * errs.mean()


def test_blocking_error_matches_exact_ar1():
    phi, n = 0.9, 2**18
    x = ar1(np.random.default_rng(9), phi, n)
    mean, err, level = blocking_error(x)
    assert mean == pytest.approx(x.mean())
    assert err == pytest.approx(ar1_exact_sem(phi, n), rel=0.12)
    assert 2**level >= 5 * exact_tau(phi)
    assert blocking_error(np.ones(64)) == (1.0, 0.0, 0)


# ---------------------------------------------------------------------------------------------
# Estimate
# ---------------------------------------------------------------------------------------------


def test_estimate_json_form_has_none_for_non_finite_values():
    est = Estimate(np.float64(1.5), 0.25, tau=3.0)
    assert type(est.mean) is float and est.as_dict() == {"mean": 1.5, "err": 0.25}
    assert Estimate(float("nan"), float("nan")).as_dict() == {"mean": None, "err": None}
    assert Estimate(float("inf"), 0.0).as_dict() == {"mean": None, "err": 0.0}
    assert Estimate(2, -math.inf).as_dict() == {"mean": 2.0, "err": None}
    assert Estimate(0.0, 1.0).tau is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        est.mean = 2.0
    for bad in ({"mean": None, "err": 0.0}, {"mean": "1", "err": 0.0},
                {"mean": 1.0, "err": True}, {"mean": 1.0, "err": 0.0, "tau": [1.0]}):
        with pytest.raises(ParameterError):
            Estimate(**bad)


@settings(derandomize=True, max_examples=200, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True), st.floats(allow_nan=True, allow_infinity=True))
def test_estimate_as_dict_is_strict_json_and_keeps_finite_values(mean, err):
    d = Estimate(mean, err).as_dict()
    assert list(d) == ["mean", "err"]
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    for key, v in (("mean", mean), ("err", err)):
        assert d[key] == (v if math.isfinite(v) else None)


def test_estimate_helpers_match_the_tuple_functions_bit_for_bit():
    rng = np.random.default_rng(16)
    x = rng.standard_normal(3000).cumsum() * 1e-2
    y = x * x + rng.standard_normal(3000)
    mean, err, tau = mean_err(x)
    assert estimate(x) == Estimate(mean, err, tau)
    assert estimate(x).tau == tau_int(x)[0]

    def f(a, b):
        return b - a * a

    assert jackknife_estimate(f, x, y) == Estimate(*jackknife(f, x, y))
    assert jackknife_estimate(f, x, y, block=30, bias_correct=True) == Estimate(
        *jackknife(f, x, y, block=30, bias_correct=True))
    assert jackknife_estimate(f, x, y).tau is None
    one = estimate([4.0])
    assert one.mean == 4.0 and math.isnan(one.err) and one.as_dict() == {"mean": 4.0, "err": None}
    with pytest.raises(ParameterError):
        estimate([])
    with pytest.raises(ParameterError):
        jackknife_estimate(f, x, y, block=0)
