"""Tests of spinsym.observables: error-bar statistics, per-configuration measurements, summaries.

Statistical checks use fixed seeds and tolerances of several standard deviations of the check
itself (quoted next to each), so they are deterministic and not flaky.
"""

import json
import math

import numpy as np
import pytest
from scipy.signal import lfilter
from scipy.special import comb

from spinsym.errors import ParameterError
from spinsym.hamiltonians import Couplings, energy, xy_energy
from spinsym.observables import (
    autocorrelation,
    blocking_error,
    ising_series,
    jackknife,
    mean_err,
    summarize,
    tau_int,
    vortex_map,
    xy_series,
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
# Ising measurements
# ---------------------------------------------------------------------------------------------


def patterns(L):
    y, x = np.indices((L, L))
    return {
        "up": np.ones((L, L), np.int8),
        "down": -np.ones((L, L), np.int8),
        "neel": ((-1) ** (x + y)).astype(np.int8),
        "stripe_x": ((-1) ** x).astype(np.int8),  # columns alternate: s[y, x] = (-1)^x
        "stripe_y": (-((-1) ** y)).astype(np.int8),  # rows alternate, other sign
    }


@pytest.mark.parametrize("L", [4, 6])
def test_ising_series_on_hand_built_configurations(L):
    p = patterns(L)
    names = list(p)
    ser = ising_series(np.stack([p[k] for k in names]))
    expected = {  # name: (m, staggered, stripe_x, stripe_y)
        "up": (1, 0, 0, 0),
        "down": (-1, 0, 0, 0),
        "neel": (0, 1, 0, 0),
        "stripe_x": (0, 0, 1, 0),
        "stripe_y": (0, 0, 0, -1),
    }
    for i, k in enumerate(names):
        got = [ser[q][i] for q in ("m", "staggered", "stripe_x", "stripe_y")]
        np.testing.assert_allclose(got, expected[k], atol=1e-12, err_msg=k)
        assert ser["abs_m"][i] == abs(expected[k][0])
    assert ser["m"].dtype == np.float64 and ser["m"].shape == (len(names),)
    # A single (L, L) configuration counts as one sample.
    assert ising_series(p["neel"])["staggered"].tolist() == [1.0]


def test_ising_series_random_matches_direct_sums():
    s = np.random.default_rng(10).choice(np.array([-1, 1], np.int8), size=(7, 5, 5))
    y, x = np.indices((5, 5))
    ser = ising_series(s)
    np.testing.assert_allclose(ser["m"], s.mean(axis=(1, 2)))
    np.testing.assert_allclose(ser["staggered"], (s * (-1.0) ** (x + y)).mean(axis=(1, 2)))
    np.testing.assert_allclose(ser["stripe_y"], (s * (-1.0) ** y).mean(axis=(1, 2)))


# ---------------------------------------------------------------------------------------------
# XY measurements
# ---------------------------------------------------------------------------------------------


def vortex_pair(L=16, a=(3.5, 7.5), b=(11.5, 7.5)):
    """Vortex at plaquette centre a = (x, y), antivortex at b."""
    y, x = np.indices((L, L), dtype=float)
    th = np.arctan2(y - a[1], x - a[0]) - np.arctan2(y - b[1], x - b[0])
    return np.mod(th, 2 * np.pi)


def test_vortex_pair_and_uniform_state():
    L = 16
    th = vortex_pair(L)
    w = vortex_map(th)
    assert w.shape == (L, L) and w.dtype == np.int8
    assert w[7, 3] == 1 and w[7, 11] == -1  # plaquette (y, x) has lower-left corner (y, x)
    assert np.count_nonzero(w) == 2
    ser = xy_series(np.stack([th, np.full((L, L), 1.234), np.zeros((L, L))]))
    np.testing.assert_allclose(ser["vortex_density"], [2 / L**2, 0.0, 0.0])
    # Mirror image (θ -> -θ) swaps vortex and antivortex.
    assert vortex_map(-th)[7, 3] == -1


def test_vortex_density_of_random_angles_is_one_third():
    # I.i.d. uniform angles: a plaquette carries a (anti)vortex with probability 1/3.
    th = np.random.default_rng(12).uniform(0, 2 * np.pi, (200, 16, 16))
    d = xy_series(th)["vortex_density"]
    assert d.mean() == pytest.approx(1 / 3, abs=0.01)  # sd of the mean ≈ 0.002


def test_xy_magnetization_and_uniform_helicity_terms():
    L, Jx, Jy, J2 = 5, 1.3, 0.4, -0.2
    N = L * L
    ser = xy_series(np.full((2, L, L), 0.7), Jx, Jy, J2)
    np.testing.assert_allclose(ser["mx"], math.cos(0.7))
    np.testing.assert_allclose(ser["my"], math.sin(0.7))
    np.testing.assert_allclose(ser["abs_m"], 1.0)
    np.testing.assert_allclose(ser["helicity_cos_x"], (Jx + 2 * J2) * N)
    np.testing.assert_allclose(ser["helicity_cos_y"], (Jy + 2 * J2) * N)
    np.testing.assert_allclose(ser["helicity_sin_x"], 0.0, atol=1e-12)
    np.testing.assert_allclose(ser["helicity_sin_y"], 0.0, atol=1e-12)
    assert ser["helicity_cos"] is ser["helicity_cos_x"]


@pytest.mark.parametrize("J2", [0.0, 0.3])
def test_xy_helicity_terms_on_twisted_states(J2):
    # θ = q·x (periodic for q = 2πk/L): every bond difference θ_i − θ_j is −qΔx.
    L, k, Jx, Jy = 8, 1, 1.0, 0.6
    N, q = L * L, 2 * np.pi * k / L
    y, x = np.indices((L, L))
    ser = xy_series(np.stack([q * x, q * y]).astype(float), Jx, Jy, J2)
    np.testing.assert_allclose(ser["helicity_sin_x"], [-(Jx + 2 * J2) * N * math.sin(q), 0.0], atol=1e-10)
    np.testing.assert_allclose(ser["helicity_sin_y"], [0.0, -(Jy + 2 * J2) * N * math.sin(q)], atol=1e-10)
    np.testing.assert_allclose(ser["helicity_cos_x"][0], (Jx + 2 * J2) * N * math.cos(q))


def test_xy_helicity_cos_terms_match_energy():
    # Σ_x J cos + Σ_y J cos counts the diagonal bonds twice: −E(Jx, Jy, J2) − J2·E(0, 0, 1).
    th = np.random.default_rng(13).uniform(0, 2 * np.pi, (4, 6, 6))
    Jx, Jy, J2 = 0.9, -0.5, 0.25
    ser = xy_series(th, Jx, Jy, J2)
    expected = -xy_energy(th, Jx, Jy, J2) - J2 * xy_energy(th, 0.0, 0.0, 1.0)
    np.testing.assert_allclose(ser["helicity_cos_x"] + ser["helicity_cos_y"], expected)


# ---------------------------------------------------------------------------------------------
# summarize
# ---------------------------------------------------------------------------------------------


def within(obs, exact, k=4.0):
    return abs(obs["mean"] - exact) <= k * obs["err"]


def assert_json_ready(d):
    json.dumps(d, allow_nan=False)

    def walk(v):
        if isinstance(v, dict):
            for w in v.values():
                walk(w)
        else:
            # None stands for an undefined value (e.g. a Binder cumulant when <m^2> = 0)
            assert v is None or type(v) in (float, int, str), (v, type(v))

    walk(d)


def test_summarize_ising_infinite_temperature():
    L, n, T = 8, 4000, 2.0
    N, beta = L * L, 1 / T
    c = Couplings(Jx=1.0, Jy=1.0)
    s = np.random.default_rng(14).choice(np.array([-1, 1], np.int8), size=(n, L, L))
    out = summarize("ising", s, energy("ising", s, c), T, c)
    assert_json_ready(out)
    assert (out["T"], out["n_samples"], out["L"]) == (T, n, L)
    # Exact moments of the sum of N independent ±1 spins.
    k = np.arange(N + 1)
    weights = comb(N, k) / 2.0**N
    abs_m = float(np.sum(weights * np.abs(2 * k - N))) / N
    m4 = (3 * N**2 - 2 * N) / N**4
    assert within(out["energy_per_site"], 0.0)
    assert within(out["m"], 0.0)
    assert within(out["abs_m"], abs_m)
    assert within(out["m2"], 1 / N)
    assert within(out["m4"], m4)
    assert within(out["specific_heat"], beta**2 * (1.0 + 1.0))  # Var(E) = (Jx² + Jy²) N
    assert within(out["susceptibility"], beta * N * (1 / N - abs_m**2))
    assert within(out["binder"], 1 - m4 / (3 / N**2))  # = 2/(3N)
    assert within(out["staggered_m2"], 1 / N)
    assert within(out["stripe_m2"], 2 / N)
    assert within(out["staggered_abs"], abs_m)
    for name, tau in out["tau_int"].items():
        assert tau == pytest.approx(0.5, abs=0.1), name
    # Error sizes are the naive ones for i.i.d. samples.
    assert out["m2"]["err"] == pytest.approx(math.sqrt(2 / N**2 / n), rel=0.15)


def test_summarize_ising_correlated_chain_errors():
    # Independent spins, each flipped with probability p per sample: m is AR(1)-like with
    # φ = 1 − 2p (τ_m = 9.5 for p = 0.05); bond products, hence E and m², have φ².
    L, n, p, T = 8, 20_000, 0.05, 3.0
    N, phi = L * L, 1 - 2 * p
    rng = np.random.default_rng(15)
    flips = np.where(rng.random((n, L, L)) < p, -1, 1).astype(np.int8)
    flips[0] = rng.choice(np.array([-1, 1], np.int8), size=(L, L))
    s = np.cumprod(flips, axis=0, dtype=np.int8)
    c = Couplings(Jx=1.0, Jy=-0.5)
    out = summarize("ising", s, energy("ising", s, c), T, c)
    assert out["tau_int"]["energy"] == pytest.approx(exact_tau(phi**2), rel=0.15)
    assert out["tau_int"]["m2"] == pytest.approx(exact_tau(phi**2), rel=0.15)
    tau_m = exact_tau(phi)
    assert out["m"]["err"] == pytest.approx(math.sqrt(1 / N / n * 2 * tau_m), rel=0.15)
    var_e = (1.0 + 0.25) / N
    assert out["energy_per_site"]["err"] == pytest.approx(
        math.sqrt(var_e / n * 2 * exact_tau(phi**2)), rel=0.15)
    assert within(out["specific_heat"], (1 / T) ** 2 * 1.25)


def test_summarize_ising_ordered_states():
    L = 4
    p = patterns(L)
    s = np.stack([p["up"], p["down"]] * 10)
    c = Couplings()
    out = summarize("ising", s, energy("ising", s, c), 1.0, c)
    assert_json_ready(out)
    assert out["abs_m"] == {"mean": 1.0, "err": 0.0}
    assert out["binder"]["mean"] == pytest.approx(2 / 3)
    assert out["m"]["mean"] == 0.0
    assert out["susceptibility"]["mean"] == pytest.approx(0.0)
    assert out["staggered_binder"]["mean"] is None  # m_s = 0 in every sample: undefined
    s = np.stack([p["neel"]] * 5 + [-p["neel"]] * 5)
    out = summarize("ising", s, energy("ising", s, c), 1.0, c)
    assert out["staggered_abs"]["mean"] == 1.0 and out["stripe_abs"]["mean"] == 0.0
    assert out["staggered_binder"]["mean"] == pytest.approx(2 / 3)
    assert out["staggered_susceptibility"]["mean"] == pytest.approx(0.0)
    s = np.stack([p["stripe_x"], p["stripe_y"]] * 5)
    out = summarize("ising", s, energy("ising", s, c), 1.0, c)
    assert out["stripe_abs"]["mean"] == 1.0 and out["stripe_m2"]["mean"] == 1.0
    assert out["stripe_binder"]["mean"] == pytest.approx(1.0)


@pytest.mark.parametrize("T", [0.3, 1.0, 7.0])
def test_summarize_xy_uniform_state_helicity_is_J(T):
    L, n = 6, 12
    c = Couplings(Jx=1.3, Jy=1.3)
    th = np.full((n, L, L), 2.1)
    out = summarize("xy", th, energy("xy", th, c), T, c)
    assert_json_ready(out)
    assert out["helicity"]["mean"] == pytest.approx(1.3)
    assert out["helicity"]["err"] == 0.0
    assert out["vortex_density"] == {"mean": 0.0, "err": 0.0}
    assert out["binder"]["mean"] == pytest.approx(1.0)
    assert out["m"]["mean"] == pytest.approx(math.cos(2.1))
    assert out["my"]["mean"] == pytest.approx(math.sin(2.1))
    assert out["tau_int"] == {"energy": 0.5, "abs_m": 0.5, "m2": 0.5}


def test_summarize_xy_infinite_temperature():
    L, n, T = 6, 3000, 1.5
    N, beta = L * L, 1 / T
    c = Couplings(Jx=1.0, Jy=0.5)
    th = np.random.default_rng(16).uniform(0, 2 * np.pi, (n, L, L))
    out = summarize("xy", th, energy("xy", th, c), T, c)
    assert_json_ready(out)
    assert within(out["energy_per_site"], 0.0)
    assert within(out["m"], 0.0) and within(out["my"], 0.0)
    assert within(out["m2"], 1 / N)
    assert within(out["m4"], (2 * N**2 - N) / N**4)
    assert within(out["binder"], 1 / N)
    assert within(out["specific_heat"], beta**2 * (1.0 + 0.25) / 2)
    # ⟨cos⟩ = 0 and ⟨(Σ J sin)²⟩ = J² N/2 per direction (L ≥ 3).
    assert within(out["helicity"], -beta * (1.0 + 0.25) / 4)
    assert within(out["vortex_density"], 1 / 3)


def test_summarize_validation():
    c = Couplings()
    s = np.ones((5, 4, 4), np.int8)
    E = energy("ising", s, c)
    with pytest.raises(ParameterError, match="TOTAL"):
        summarize("ising", s, E / 16, 1.0, c)  # per-site energies
    with pytest.raises(ParameterError, match="TOTAL"):
        summarize("ising", s, E, 1.0, Couplings(Jx=2.0))  # other couplings
    summarize("ising", s, E / 16, 1.0, c, check_energies=False)
    with pytest.raises(ParameterError):
        summarize("ising", s, E, 0.0, c)
    with pytest.raises(ParameterError):
        summarize("ising", s, E[:4], 1.0, c)
    with pytest.raises(ParameterError):
        summarize("ising", s[:1], E[:1], 1.0, c)
    with pytest.raises(ParameterError):
        summarize("ising", 2 * s, E, 1.0, c)
    with pytest.raises(ParameterError):
        summarize("potts", s, E, 1.0, c)
    with pytest.raises(ParameterError):
        summarize("ising", s, E, 1.0, {"Jx": 1.0})
