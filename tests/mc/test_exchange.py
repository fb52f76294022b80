"""Replica exchange (parallel tempering) and two-replica overlaps (spinsym.mc.run, analysis):
detailed balance against the exact joint distribution, reproducibility, and the overlap
against exact enumeration."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats as sps

import spinsym
from spinsym.hamiltonians import Couplings, ising_energy


def _states(L):
    """All 2^(L²) Ising configurations (n, L, L) int8, and their index weights 2^k."""
    bits = np.array(list(itertools.product((1, -1), repeat=L * L)), dtype=np.int8)
    return bits.reshape(-1, L, L)


def _index(configs):
    """The enumeration index of each configuration (the order of _states)."""
    n, L = configs.shape[0], configs.shape[-1]
    bits = (configs.reshape(n, -1) < 0).astype(np.int64)
    return bits @ (1 << np.arange(L * L - 1, -1, -1))


def _boltzmann(L, c: Couplings, T):
    E = ising_energy(_states(L), c.Jx, c.Jy, c.J2, c.h)
    w = np.exp(-(E - E.min()) / T)
    return w / w.sum()


def _chi2(counts, p):
    """Pearson χ² of counts against probabilities p, bins with expectation < 5 pooled;
    returns (statistic, degrees of freedom)."""
    n = counts.sum()
    expected = n * p
    small = expected < 5
    obs = np.append(counts[~small], counts[small].sum())
    exp = np.append(expected[~small], expected[small].sum())
    keep = exp > 0
    stat = float((((obs - exp) ** 2)[keep] / exp[keep]).sum())
    return stat, int(keep.sum() - 1)


def test_exchange_samples_the_product_of_boltzmann_distributions():
    """L = 2, two temperatures: the joint (T_0 configuration, T_1 configuration) over the
    16 × 16 states against p_0 ⊗ p_1.  Stored every 4 sweeps (τ ≲ 1 sweep here), so the
    samples are practically independent and Pearson's χ² has its χ²(df) law; the threshold
    is its 1e-6 upper quantile.  A wrong coupling in the reference must be rejected."""
    L, T, c = 2, (2.5, 4.0), Couplings(1.0, 0.8, 0.0, 0.2)
    run = spinsym.simulate("ising", L=L, T=list(T), Jx=c.Jx, Jy=c.Jy, h=c.h, sweeps=16000,
                           every=4, thermalize=200, seed=4, exchange=True, exchange_every=2)
    assert 0.2 < run[0].attrs["exchange_acceptance"] <= 1.0
    assert np.isnan(run[1].attrs["exchange_acceptance"])
    assert run[0].attrs["round_trips"] > 50
    joint = _index(run[0].configs) * 16 + _index(run[1].configs)
    counts = np.bincount(joint, minlength=256)

    def statistic(c_ref):
        p = np.outer(_boltzmann(L, c_ref, T[0]), _boltzmann(L, c_ref, T[1])).ravel()
        stat, df = _chi2(counts, p)
        return stat, sps.chi2.isf(1e-6, df)

    stat, threshold = statistic(c)
    assert stat < threshold, (stat, threshold)
    wrong, threshold = statistic(Couplings(1.0, 0.8, 0.0, 0.0))  # the field left out
    assert wrong > 3 * threshold, (wrong, threshold)


@pytest.mark.parametrize("algorithm", ["metropolis", "heatbath-scalar", "wolff"])
def test_exchange_is_reproducible_whatever_the_threads(algorithm):
    args = dict(L=16, T=[2.0, 2.3, 2.6], sweeps=400, every=20, thermalize=200, seed=9,
                exchange=True, exchange_every=200, algorithm=algorithm)
    a = spinsym.simulate("ising", threads=1, **args)
    b = spinsym.simulate("ising", threads=3, **args)
    c = spinsym.simulate("ising", threads=2, **{**args, "seed": 10})
    for x, y in zip(a, b):
        assert np.array_equal(x.configs, y.configs) and np.array_equal(x.energy, y.energy)
        assert repr(sorted(x.attrs.items())) == repr(sorted(y.attrs.items()))  # NaN too
    assert not np.array_equal(a[0].configs, c[0].configs)


def test_xy_exchange_runs_and_keeps_temperatures_apart():
    run = spinsym.simulate("xy", L=3, T=[0.5, 0.9, 1.5], sweeps=2000, every=5, thermalize=200,
                           seed=2, exchange=True)
    e = [g.energy.mean() / 9 for g in run]
    assert e[0] < e[1] < e[2]
    assert all(0 < g.attrs["exchange_acceptance"] <= 1 for g in run[:2])


def _exact_q2(L, c: Couplings, T):
    """⟨q²⟩ of two independent replicas = Σ_ij ⟨s_i s_j⟩² / N² (full enumeration)."""
    s = _states(L).reshape(-1, L * L).astype(np.float64)
    p = _boltzmann(L, c, T)
    C = (s * p[:, None]).T @ s
    return float((C ** 2).sum()) / (L * L) ** 2


def test_overlap_against_enumeration():
    """Two replicas with exchange at L = 4 (2^16 states): ⟨q²⟩ within 4.5 τ-corrected errors
    of the exact value; the value at a wrong temperature is many errors away."""
    L, T, c = 4, (2.4, 3.2), Couplings(1.0, 1.0, 0.0, 0.0)
    run = spinsym.simulate("ising", L=L, T=list(T), sweeps=24000, every=4, thermalize=500,
                           seed=6, exchange=True, exchange_every=4, replicas=2)
    assert len(run) == 4 and [g.attrs["replica"] for g in run] == [0, 0, 1, 1]
    res = spinsym.analyze(run)
    for i, t in enumerate(T):
        ov = res[i]["overlap"]
        assert res[i + 2]["overlap"] == ov and res[i]["replica"] == 0
        assert res[i + 2]["replica"] == 1
        q2 = ov["q2"]
        assert 0 < q2["err"] < 0.01
        assert abs(q2["mean"] - _exact_q2(L, c, t)) < 4.5 * q2["err"], (t, q2, _exact_q2(L, c, t))
        assert abs(q2["mean"] - _exact_q2(L, c, t + 0.4)) > 6 * q2["err"]
        assert ov["chi_sg"]["mean"] == pytest.approx(16 * q2["mean"])
        assert sum(ov["q_histogram"]["count"]) == run[i].n_samples
        assert len(ov["q_histogram"]["q"]) == L * L + 1


def test_overlap_of_identical_configurations_is_one():
    from spinsym.analysis import overlap, overlap_summary

    rng = np.random.default_rng(0)
    a = rng.choice(np.array([-1, 1], np.int8), size=(50, 4, 4))
    assert np.all(overlap(a, a) == 1.0) and np.all(overlap(a, -a) == -1.0)
    s = overlap_summary(overlap(a, a), 16)
    assert s["q2"]["mean"] == 1.0 and s["binder_q"]["mean"] == pytest.approx(2 / 3)


@pytest.mark.parametrize("kw, words", [
    (dict(model="ising", T=[2.0], exchange=True), "two temperatures"),
    (dict(model="xy", T=[1.0, 2.0], replicas=2), "ising model only"),
    (dict(model="ising", T=[1.0, 2.0], replicas=3), "replicas"),
    (dict(model="ising", T=[1.0, 2.0], exchange=True, exchange_every=0), "exchange_every"),
])
def test_bad_exchange_settings_are_refused(kw, words):
    with pytest.raises(spinsym.ParameterError, match=words):
        spinsym.simulate(L=4, sweeps=10, every=1, **kw)
