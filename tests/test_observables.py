"""Tests of spinsym.observables: per-configuration measurements and summaries (the statistics
of a time series are tested in tests/test_stats.py).

Statistical checks use fixed seeds and tolerances of several standard deviations of the check
itself (quoted next to each), so they are deterministic and not flaky.
"""

import json
import math

import numpy as np
import pytest
from scipy.special import comb

from spinsym.errors import ParameterError
from spinsym.hamiltonians import Couplings, energy, xy_energy
from spinsym.exact import second_moment_xi
from spinsym.observables import (ising_correlations, ising_series, summarize, vortex_map,
                                 xy_correlations, xy_series)
from spinsym.stats import estimate, jackknife_estimate, tau_int
from tests.conftest import random_spins


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
        elif isinstance(v, list):  # the correlation functions C(r)
            for w in v:
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
    tau_m, tau_e = ((1 + f) / (2 * (1 - f)) for f in (phi, phi**2))  # AR(1): (1 + φ)/(2(1 − φ))
    assert out["tau_int"]["energy"] == pytest.approx(tau_e, rel=0.15)
    assert out["tau_int"]["m2"] == pytest.approx(tau_e, rel=0.15)
    assert out["m"]["err"] == pytest.approx(math.sqrt(1 / N / n * 2 * tau_m), rel=0.15)
    var_e = (1.0 + 0.25) / N
    assert out["energy_per_site"]["err"] == pytest.approx(
        math.sqrt(var_e / n * 2 * tau_e), rel=0.15)
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


def test_summarize_entries_are_the_json_form_of_stats_estimates():
    # Every entry, the model's own (extra_observables) included, is Estimate.as_dict() of the
    # spinsym.stats helper on the per-sample series, bit for bit; τ_int comes with the means.
    L, n, T = 6, 400, 2.5
    N, beta = L * L, 1 / T
    c = Couplings(Jx=1.0, Jy=0.7, J2=0.1)
    rng = np.random.default_rng(17)
    s = np.cumprod(np.where(rng.random((n, L, L)) < 0.1, -1, 1), axis=0).astype(np.int8)
    out = summarize("ising", s, energy("ising", s, c), T, c)
    e = energy("ising", s, c) / N
    ser = ising_series(s)
    m2, stag = ser["m"] ** 2, ser["staggered"]
    assert out["energy_per_site"] == estimate(e).as_dict()
    assert out["m4"] == estimate(m2**2).as_dict()
    assert out["binder"] == jackknife_estimate(lambda b, q: 1.0 - q / (3.0 * b * b), m2, m2**2).as_dict()
    assert out["staggered_abs"] == estimate(np.abs(stag)).as_dict()
    assert out["staggered_susceptibility"] == jackknife_estimate(
        lambda a, b: beta * N * (b - a * a), np.abs(stag), stag**2).as_dict()
    assert out["tau_int"] == {"energy": tau_int(e)[0], "abs_m": tau_int(ser["abs_m"])[0],
                              "m2": tau_int(m2)[0]}
    th = rng.uniform(0, 2 * np.pi, (n, L, L))
    out = summarize("xy", th, energy("xy", th, c), T, c)
    ser = xy_series(th, c.Jx, c.Jy, c.J2)
    assert out["my"] == estimate(ser["my"]).as_dict()
    assert out["vortex_density"] == estimate(ser["vortex_density"]).as_dict()


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


# ---------------------------------------------------------------------------------------------
# Correlation functions, structure factors, correlation lengths
# ---------------------------------------------------------------------------------------------


def direct_correlations(phi):
    """O(N²) reference: mean C(r) along x and y and per-sample S(0), S(±k_min) of fields
    phi[n, L, L] (real or complex), from explicit sums over pairs and phases."""
    n, L, _ = phi.shape
    N = L * L
    Cx, Cy = np.zeros(L // 2 + 1), np.zeros(L // 2 + 1)
    for r in range(L // 2 + 1):
        for y in range(L):
            for x in range(L):
                Cx[r] += np.sum((np.conj(phi[:, y, x]) * phi[:, y, (x + r) % L]).real)
                Cy[r] += np.sum((np.conj(phi[:, y, x]) * phi[:, (y + r) % L, x]).real)
    y, x = np.indices((L, L))

    def S(phase):
        return np.abs((phi * phase).sum(axis=(1, 2))) ** 2 / N

    k = 2 * np.pi / L
    Sx = 0.5 * (S(np.exp(1j * k * x)) + S(np.exp(-1j * k * x)))
    Sy = 0.5 * (S(np.exp(1j * k * y)) + S(np.exp(-1j * k * y)))
    return {"Cx": Cx / (n * N), "Cy": Cy / (n * N), "S0": S(1.0), "Sx": Sx, "Sy": Sy}


@pytest.mark.parametrize("L", [2, 5, 6])
def test_ising_correlations_match_direct_sums(L, monkeypatch):
    from spinsym import observables
    from spinsym.lattice import sign_patterns

    s = random_spins(L, 21, R=9)
    s[:3] = s[:3] * sign_patterns(L)[3].astype(np.int8)  # favour the y-stripe field
    monkeypatch.setattr(observables, "_CHUNK_ELEMENTS", 4 * L * L)  # several chunks
    got = ising_correlations(s)
    assert set(got) == {"m", "staggered", "stripe"}
    W = dict(zip(("1", "(-1)^(x+y)", "(-1)^x", "(-1)^y"), sign_patterns(L)))
    stripes = {p: direct_correlations(s * W[p]) for p in ("(-1)^x", "(-1)^y")}
    larger = max(stripes, key=lambda p: stripes[p]["S0"].mean())
    assert got["stripe"]["pattern"] == larger
    for name, entry in got.items():
        ref = direct_correlations(s * W[entry["pattern"]])
        for key in ("Cx", "Cy", "S0", "Sx", "Sy"):
            np.testing.assert_allclose(entry[key], ref[key], rtol=0, atol=1e-12,
                                       err_msg=f"{name} {key}")
        assert entry["Cx"][0] == pytest.approx(1.0, abs=1e-14)
        np.testing.assert_allclose(entry["S0"], L * L * (s * W[entry["pattern"]]).mean(
            axis=(1, 2)) ** 2, rtol=1e-13)


@pytest.mark.parametrize("L", [3, 6])
def test_xy_correlations_match_direct_sums(L):
    th = np.random.default_rng(22).uniform(0, 2 * np.pi, (7, L, L)).astype(np.float32)
    th[:4] = th[:4] * 0.2  # partly aligned: S(k) ≠ S(−k) per sample
    (got,) = xy_correlations(th).values()
    ref = direct_correlations(np.exp(1j * th.astype(np.float64)))
    for key in ("Cx", "Cy", "S0", "Sx", "Sy"):
        np.testing.assert_allclose(got[key], ref[key], rtol=0, atol=1e-12, err_msg=key)
    # C(r) is the mean of cos(θ_i − θ_{i+r}): the x-bond terms of the helicity at r = 1
    ser = xy_series(th)
    assert got["Cx"][1] == pytest.approx(ser["helicity_cos_x"].mean() / L**2, abs=1e-12)


#: the sign pattern named in ``correlation[field]["pattern"]`` -> spinsym.exact's name
EXACT_NAME = {"1": "ferro", "(-1)^(x+y)": "staggered", "(-1)^x": "stripe_x",
              "(-1)^y": "stripe_y"}


def exact_lengths(L, couplings, T):
    """{pattern: (ξ, ξ_x, ξ_y)} exact: enumeration of all states for L ≤ 4, the per-bond
    transfer matrix above."""
    from spinsym import exact

    r = (exact.enumerate_ising if L <= 4 else exact.transfer_matrix_bonds)(L, couplings, T)
    out = {}
    for p, name in EXACT_NAME.items():
        xx, xy = r[f"xi_x_{name}"], r[f"xi_y_{name}"]
        out[p] = (0.5 * (xx + xy), xx, xy)
    return out


def _brick(L):
    from spinsym.couplings import BondCouplings

    y, x = np.indices((L, L))
    return BondCouplings(Jx=1.0, Jy=np.where((x + y) % 2 == 1, 0.0, 1.0))


# name, simulate keywords, T, the order parameter whose ξ is finite, a deliberately wrong model
XI_CASES = [
    ("ferro-2.5", {"Jx": 1.0, "Jy": 1.0}, 2.5, "m", Couplings(Jx=0.9, Jy=0.9)),
    ("ferro-3.0", {"Jx": 1.0, "Jy": 1.0}, 3.0, "m", Couplings(Jx=1.1, Jy=1.1)),
    ("frustrated-neel", {"Jx": -1.0, "Jy": -1.0, "J2": -0.3}, 2.0, "staggered",
     Couplings(Jx=-1.0, Jy=-1.0, J2=-0.45)),
    ("honeycomb", {"couplings": "brick"}, 1.5, "m", Couplings(Jx=1.0, Jy=0.5)),
]


@pytest.mark.parametrize("L, every", [(4, 5), (8, 10)], ids=["L4-enumeration",
                                                           "L8-transfer-matrix"])
@pytest.mark.parametrize("case", XI_CASES, ids=[c[0] for c in XI_CASES])
def test_correlation_length_matches_exact(case, L, every):
    """Monte Carlo ξ (mean, x, y) of every order parameter with a finite exact ξ lies within
    4.5 jackknife errors of the exact value (L = 4: all 2^16 states; L = 8: the per-bond
    transfer matrix); the ξ of the ordering field computed with a deliberately wrong coupling
    is many errors away (the check can fail)."""
    import spinsym
    from spinsym.couplings import as_couplings

    name, kw, T, order, wrong = case
    if kw.get("couplings") == "brick":
        kw = {"couplings": _brick(L)}
        couplings = as_couplings(kw["couplings"])
    else:
        couplings = Couplings(**kw)
    run = spinsym.simulate("ising", L=L, T=[T], algorithm="metropolis", sweeps=50000,
                           every=every, thermalize=1000, seed=11, **kw)
    (res,) = spinsym.analyze(run)
    exact = exact_lengths(L, couplings, T)
    checked = 0
    for field in ("m", "staggered", "stripe"):
        pattern = res["correlation"][field]["pattern"]
        for k, key in enumerate(("correlation_length", "correlation_length_x",
                                 "correlation_length_y")):
            mc, ex = res[key][field], exact[pattern][k]
            if not np.isfinite(ex):  # S(0) < S(k_min): ξ undefined, and so is the estimate
                continue
            assert mc["mean"] is not None and mc["err"] > 0, (field, key, mc)
            z = (mc["mean"] - ex) / mc["err"]
            assert abs(z) < 4.5, (name, field, key, mc, ex, z)
            checked += 1
    assert checked >= 3
    mc = res["correlation_length"][order]
    assert mc["err"] < 0.03 * mc["mean"]
    wrong_xi = exact_lengths(L, wrong, T)[res["correlation"][order]["pattern"]][0]
    assert abs(mc["mean"] - wrong_xi) / mc["err"] > 8, (mc, wrong_xi)


def test_summarize_correlation_entries():
    L, n, T = 6, 400, 2.5
    c = Couplings(Jx=1.0, Jy=0.7, J2=0.1)
    rng = np.random.default_rng(17)
    s = np.cumprod(np.where(rng.random((n, L, L)) < 0.1, -1, 1), axis=0).astype(np.int8)
    out = summarize("ising", s, energy("ising", s, c), T, c)
    assert_json_ready(out)
    assert list(out)[-4:] == ["correlation_length", "correlation_length_x",
                              "correlation_length_y", "correlation"]
    corr = ising_correlations(s)
    xi = lambda a, b: second_moment_xi(a, b, L)  # noqa: E731
    for field, f in corr.items():
        S0, Sx, Sy = f["S0"], f["Sx"], f["Sy"]
        assert out["correlation_length_x"][field] == jackknife_estimate(xi, S0, Sx).as_dict()
        assert out["correlation_length_y"][field] == jackknife_estimate(xi, S0, Sy).as_dict()
        assert out["correlation_length"][field] == jackknife_estimate(
            lambda a, b, q: 0.5 * (xi(a, b) + xi(a, q)), S0, Sx, Sy).as_dict()
        assert out["correlation"][field] == {"x": f["Cx"].tolist(), "y": f["Cy"].tolist(),
                                             "pattern": f["pattern"]}
    assert out["correlation"]["r"] == [0, 1, 2, 3]
    # ordered states: C(r) = 1 for the ordering field, ξ infinite (None) with S(k_min) = 0
    p = patterns(L)
    s = np.stack([p["neel"], -p["neel"]] * 4)
    out = summarize("ising", s, energy("ising", s, c), T, c)
    assert out["correlation"]["staggered"]["x"] == [1.0] * 4
    assert out["correlation"]["m"]["y"] == [1.0, -1.0, 1.0, -1.0]
    assert out["correlation_length"]["staggered"]["mean"] is None
    th = rng.uniform(0, 2 * np.pi, (n, L, L))
    out = summarize("xy", th, energy("xy", th, c), T, c)
    assert_json_ready(out)
    assert set(out["correlation_length"]) == {"m"} and out["correlation"]["m"]["x"][0] == 1.0
    # independent angles: C(r ≥ 1) = 0 within 5 standard errors sqrt(½/(nN))
    for d in ("x", "y"):
        assert np.all(np.abs(out["correlation"]["m"][d][1:]) < 5 * math.sqrt(0.5 / (n * L * L)))
