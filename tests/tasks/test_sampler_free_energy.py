"""Sampler statistics: the MH chain's ESS and distinct states, and the importance-sampling free
energy of the proposals against the exact finite-torus free energy."""

import h5py
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from spinsym import exact
from spinsym.analysis import analyze_dataset, analyze_file, importance_free_energy
from spinsym.errors import DataError
from spinsym.hamiltonians import Couplings
from spinsym.nn.sampler import MaskedSampler
from spinsym.runs import RunBuilder
from spinsym.tasks import sampler as S

# ---------------------------------------------------------------------------------------------
# the MH chain's statistics


def _series(chain, seed=0):
    """Energy-like and |m|-like series of a chain of proposal indices (one value per
    proposal, as a real chain's series are)."""
    rng = np.random.default_rng(seed)
    e, m = rng.normal(size=chain.max() + 1), rng.random(chain.max() + 1)
    return [e[chain], m[chain]]


def test_all_rejected_chain_has_ess_one():
    logw = np.full(500, -50.0)
    logw[0] = 0.0  # the first proposal outweighs every other by e^50
    chain, accepted = S.mh_chain(logw, np.random.default_rng(0).random(500))
    assert accepted == 0 and (chain == 0).all()
    st_ = S.mh_statistics(chain, _series(chain), accepted, 500)
    assert st_["distinct"] == 1 and st_["ess"] == pytest.approx(1.0)
    assert st_["acceptance"] == 0.0
    # without the cap, τ_int of the constant series would claim n independent draws
    assert 500 / max(2 * st_["tau_int_energy"], 1.0) == 500


def test_five_distinct_states_give_ess_at_most_five():
    n = 400
    logw = np.full(n, -80.0)
    ups = [0, 7, 90, 200, 350]  # each is accepted for sure, every other proposal never
    for k, j in enumerate(ups):
        logw[j] = 10.0 * k
    chain, accepted = S.mh_chain(logw, np.random.default_rng(1).random(n))
    assert accepted == 4 and np.unique(chain).tolist() == ups
    st_ = S.mh_statistics(chain, _series(chain), accepted, n)
    assert st_["distinct"] == 5 and st_["ess"] <= 5.0
    assert st_["acceptance"] == pytest.approx(4 / (n - 1))


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.lists(st.floats(-5.0, 5.0), min_size=2, max_size=60), st.integers(0, 2**32 - 1))
def test_ess_never_exceeds_distinct_states_or_chain_length(logw, seed):
    logw = np.asarray(logw)
    chain, accepted = S.mh_chain(logw, np.random.default_rng(seed).random(len(logw)))
    st_ = S.mh_statistics(chain, _series(chain, seed), accepted, len(logw))
    assert 1.0 <= st_["ess"] <= min(st_["distinct"], len(logw))
    assert st_["distinct"] <= accepted + 1


def test_burn_in_discards_the_start_of_the_chain():
    torch.manual_seed(0)
    m = MaskedSampler("ising", "sympe", width=1, depth=1, pe_period=2).prepare_inference()
    ck = {"model": "ising", "arch": "sympe", "couplings": [[1.0, 1.0, 0.0, 0.0]],
          "model_config": m.config()}
    base = S.check_sample_config(S.SampleConfig((2.0,), 4, n=30, seed=3, mh=True, batch=10),
                                 ck)
    a = S.generate(m, "ising", base, 2.0, np.random.SeedSequence(9))
    burned = S.check_sample_config(S.SampleConfig((2.0,), 4, n=30, seed=3, mh=True, batch=10,
                                                  burn_in=20), ck)
    b = S.generate(m, "ising", burned, 2.0, np.random.SeedSequence(9))
    assert a["stats"]["burn_in"] == 0 and b["stats"]["burn_in"] == 20
    assert len(a["log_weight"]) == 30 and len(b["log_weight"]) == 50
    assert b["configs"].shape == (30, 4, 4) and b["stats"]["proposals"] == 50
    # the same proposals and uniforms come first, so the longer chain starts as the shorter
    # one; burn-in keeps its states 20..49: states 20..29 are the short chain's last ten
    assert np.array_equal(a["log_weight"], b["log_weight"][:30])
    assert np.array_equal(a["configs"][20:], b["configs"][:10])
    assert np.array_equal(a["energy"][20:], b["energy"][:10])
    with pytest.raises(Exception, match="burn-in"):
        S.check_sample_config(S.SampleConfig((2.0,), 4, n=30, mh=False, burn_in=5), ck)


# ---------------------------------------------------------------------------------------------
# the free energy of the proposals


def test_importance_free_energy_is_stable_and_checks_its_input():
    rng = np.random.default_rng(0)
    lw = rng.normal(size=1000) + 5000.0  # exp overflows without the log-sum-exp
    fe = importance_free_energy(lw, 2.0, 16)
    assert np.isfinite(fe["free_energy_per_site"]["mean"])
    ln_mean = 5000.0 + np.log(np.mean(np.exp(lw - 5000.0)))
    assert fe["log_z"] == pytest.approx(ln_mean, rel=1e-12)
    assert fe["free_energy_bound_per_site"]["mean"] >= fe["free_energy_per_site"]["mean"]
    for bad in (lw[:1], np.array([1.0, np.nan]), np.ones((2, 2))):
        with pytest.raises(DataError):
            importance_free_energy(bad, 2.0, 16)


@pytest.fixture(scope="module")
def random_sampler():
    """An untrained (random-weight) sampler: a poor proposal, but the estimator is unbiased
    for Z whatever the network."""
    torch.manual_seed(0)
    m = MaskedSampler("ising", "sympe", width=2, depth=1, pe_period=4).prepare_inference()
    ck = {"model": "ising", "arch": "sympe", "couplings": [[1.0, 1.0, 0.0, 0.0]],
          "model_config": m.config(), "L": 4}
    return m, ck


def _within(fe: dict, exact_f: float, k: float = 4.5) -> bool:
    f, b = fe["free_energy_per_site"], fe["free_energy_bound_per_site"]
    return abs(f["mean"] - exact_f) <= k * f["err"] and b["mean"] >= exact_f - k * b["err"]


def test_free_energy_matches_kaufman_at_L4(random_sampler, tmp_path):
    m, ck = random_sampler
    L, T = 4, 3.0
    cfg = S.check_sample_config(S.SampleConfig((T,), L, n=3000, seed=1, mh=True, batch=1500),
                                ck)
    out = S.sample_to_file(m, ck, cfg, str(tmp_path / "s.h5"))
    with h5py.File(out) as f:
        lw = f["T_000/log_weight"][()]
    assert lw.shape == (3000,) and lw.dtype == np.float64
    (res,) = analyze_file(out)
    f_exact = -T * exact.kaufman_ising(L, T)["log_z"] / L ** 2
    tm = -T * exact.transfer_matrix_ising(L, Couplings(), T)["log_z"] / L ** 2
    assert f_exact == pytest.approx(tm, rel=1e-12)
    fe = {k: res[k] for k in ("free_energy_per_site", "free_energy_bound_per_site")}
    assert _within(fe, f_exact), (fe, f_exact)
    assert res["free_energy_per_site"]["err"] < 0.02  # the check has teeth
    # the bound is a real bound, and the random network leaves a visible gap
    assert res["free_energy_bound_per_site"]["mean"] > f_exact + 0.02
    assert res["proposals"] == 3000 and res["ess"] <= res["distinct"]
    assert res["is_ess"] == pytest.approx(res["is_ess_fraction"] * 3000, rel=1e-9)
    # an intentionally wrong weight (log q off by one nat per proposal) fails the check
    shifted = importance_free_energy(lw + 1.0, T, L * L)
    assert not _within(shifted, f_exact)
    # a weight that forgets the frame's flip sum (log 2 on a 16-site lattice) fails too
    assert not _within(importance_free_energy(lw - np.log(2.0), T, L * L), f_exact)


@pytest.mark.parametrize("L,T,c,reference", [
    (8, 3.0, Couplings(1.0, 0.5, 0.0, 0.1), "transfer matrix"),  # anisotropic, in a field
    (16, 6.0, Couplings(), "Kaufman"),
])
def test_free_energy_matches_exact_at_L8_and_L16(random_sampler, L, T, c, reference):
    """The importance-sampling free energy at larger L, against the transfer matrix (any
    couplings, L <= 10) and Kaufman's finite-torus solution (isotropic, any L).  The random
    network still makes usable proposals here (the exact local field is the logits' leading
    term), so the estimate is within its error bar; shifting log q by one nat fails."""
    m, ck = random_sampler
    cfg = S.check_sample_config(S.SampleConfig((T,), L, n=2000, seed=1, mh=True, couplings=c,
                                               batch=1000), ck)
    run = S.sample_into(m, ck, cfg, RunBuilder("ising", L))
    (res,) = analyze_dataset(run)
    if reference == "Kaufman":
        log_z = exact.kaufman_ising(L, T)["log_z"]
    else:
        log_z = exact.transfer_matrix_ising(L, c, T)["log_z"]
    f_exact = -T * log_z / L ** 2
    fe = {k: res[k] for k in ("free_energy_per_site", "free_energy_bound_per_site")}
    assert _within(fe, f_exact), (fe, f_exact)
    assert res["free_energy_per_site"]["err"] < 0.005  # the check has teeth
    lw = run.resume["arrays"]["T_000/log_weight"]
    assert not _within(importance_free_energy(lw + 1.0, T, L * L), f_exact)


def test_free_energy_in_memory_and_after_save(random_sampler, tmp_path):
    m, ck = random_sampler
    cfg = S.check_sample_config(S.SampleConfig((2.5, 3.5), 4, n=50, seed=2, mh=True), ck)
    run = S.sample_into(m, ck, cfg, RunBuilder("ising", 4))
    mem = analyze_dataset(run)
    path = run.save(tmp_path / "r.h5")
    disk = analyze_file(path)
    for a, b in zip(mem, disk):
        assert a["free_energy_per_site"] == b["free_energy_per_site"]
        assert a["free_energy_bound_per_site"] == b["free_energy_bound_per_site"]
    # Monte Carlo output has no weights and no free energy
    from spinsym.mc.run import SimulationConfig, simulate

    mc = simulate(SimulationConfig("ising", 4, (2.0,), sweeps=20, thermalize=5, seed=0,
                                   threads=1), str(tmp_path / "mc.h5"))
    assert "free_energy_per_site" not in analyze_file(mc)[0]
