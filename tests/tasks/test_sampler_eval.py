"""Sampler metrics: site map and C_x/C_y flag broken sample sets and pass exact Monte Carlo;
the exact KL by enumeration (closed forms, orbits against the full sum, random samplers)."""

import functools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import spinsym
from spinsym import exact
from spinsym.errors import DataError, ParameterError
from spinsym.hamiltonians import Couplings
from spinsym.tasks import sampler_eval as E


@pytest.fixture(scope="module")
def mc8():
    """Exact Monte Carlo at L = 8: ordered, critical and disordered."""
    return spinsym.simulate("ising", L=8, T=[2.0, 2.269, 3.0], algorithm="wolff", sweeps=3000,
                            every=1, thermalize=200, seed=1, threads=1)


def test_metrics_pass_on_exact_monte_carlo(mc8):
    for g in mc8:
        site = E.site_magnetization(g.configs)
        corr = E.correlation_anisotropy(g.configs)
        assert not site["flagged"] and not corr["flagged"], (g.T, site["max_z"], corr["max_z"])
        assert site["map"].shape == (1, 8, 8) and corr["Cx"].shape == (4,)
        # the correlations decay with r and C_x, C_y agree to a few errors
        assert np.all(np.diff(corr["Cx"]) <= 0.02)
    rep = E.symmetry_report(mc8)
    assert [r["T"] for r in rep] == [2.0, 2.269, 3.0]
    assert not any(r["site_flagged"] or r["corr_flagged"] for r in rep)


def test_pinned_row_is_flagged_by_the_site_map(mc8):
    for g in mc8:
        c = g.configs.copy()
        c[:, 3, :] = 1
        site = E.site_magnetization(c)
        assert site["flagged"], g.T
        worst = np.unravel_index(np.argmax(site["z"][0]), (8, 8))
        assert worst[0] == 3
        # C_x sees the pinned row (more order along x), C_y does not in the same way
        assert E.correlation_anisotropy(c)["flagged"]


def test_horizontal_stripes_are_flagged_by_cx_cy():
    rng = np.random.default_rng(0)
    rows = rng.choice(np.array([-1, 1], dtype=np.int8), size=(400, 8, 1))
    stripes = np.repeat(rows, 8, axis=2)  # s[y, x] = σ_y: ordered along x only
    corr = E.correlation_anisotropy(stripes)
    assert corr["flagged"] and np.allclose(corr["Cx"], 1.0)
    assert corr["max_abs_diff"] > 0.8
    assert not E.site_magnetization(stripes)["flagged"]  # translation invariant on average


def test_anisotropic_couplings_are_flagged_isotropic_not():
    """Real data of Jx ≠ Jy fails the isotropy check that Jx = Jy data passes."""
    kw = dict(L=8, T=[3.0], algorithm="wolff", sweeps=3000, every=1, thermalize=200, seed=2,
              threads=1)
    aniso = spinsym.simulate("ising", Jy=0.7, **kw)
    iso = spinsym.simulate("ising", **kw)
    assert E.correlation_anisotropy(aniso[0].configs)["flagged"]
    assert not E.correlation_anisotropy(iso[0].configs)["flagged"]


@functools.lru_cache(maxsize=None)
def _random_sampler(kind, seed=0):
    """A random-weight width-1 sampler (built once per kind and seed: escnn takes seconds)."""
    import torch

    from spinsym.nn.sampler import MaskedSampler

    torch.manual_seed(seed)
    return MaskedSampler("ising", kind, width=1, depth=1, pe_period=2,
                         init_scale=1.0).prepare_inference()


def _raw_draws(kind, n, L=4, T=2.5, h=0.3, seed=0):
    """Independent draws of a random-weight sampler (no MH)."""
    import torch

    m = _random_sampler(kind, seed)
    cond = torch.tensor([[1 / T, 1.0, 1.0, 0.0, h]] * n, dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)
    x, _ = m.sample(cond, L, gen, m.draw_frames(n, L, np.random.default_rng(seed)))
    return x.numpy().astype(np.int8)


def test_site_map_flags_the_fixed_partition_sampler_and_passes_sympe():
    """In a field, the gcnn baseline (one fixed coarse-to-fine partition, no frames) gives the
    sites different magnetizations; the SymPE mixture over frames is translation invariant."""
    gcnn = E.site_magnetization(_raw_draws("gcnn", 8000))
    sympe = E.site_magnetization(_raw_draws("sympe", 8000))
    assert gcnn["flagged"] and gcnn["max_z"] > 1.2 * gcnn["z_crit"]
    assert not sympe["flagged"]


def test_xy_metrics():
    run = spinsym.simulate("xy", L=8, T=[0.9], algorithm="wolff", sweeps=1500, every=1,
                           thermalize=200, seed=3, threads=1)
    th = run[0].configs
    assert not E.site_magnetization(th, "xy")["flagged"]
    assert not E.correlation_anisotropy(th, "xy")["flagged"]
    bent = th.copy()
    bent[:, :, 0] = 0.0  # one column pointing along x
    assert E.site_magnetization(bent, "xy")["flagged"]


@settings(max_examples=20, deadline=None)
@given(L=st.integers(2, 9), n=st.integers(2, 6), seed=st.integers(0, 2 ** 32 - 1),
       model=st.sampled_from(["ising", "xy"]))
def test_correlation_series_is_the_plain_sum(L, n, seed, model):
    """The FFT per line equals (1/N) Σ_i s_i s_{i + r e_a} written out with rolls."""
    rng = np.random.default_rng(seed)
    if model == "ising":
        a = rng.choice(np.array([-1, 1], dtype=np.int8), size=(n, L, L))
        comps = [a.astype(np.float64)]
    else:
        a = rng.uniform(0, 2 * np.pi, (n, L, L)).astype(np.float32)
        comps = [np.cos(a.astype(np.float64)), np.sin(a.astype(np.float64))]
    cx, cy = E.correlation_series(a, model)
    for axis, got in ((-1, cx), (-2, cy)):
        want = np.stack([sum((c * np.roll(c, -r, axis)).mean((-2, -1)) for c in comps)
                         for r in range(1, L // 2 + 1)], 1)
        assert got.shape == (n, L // 2) and np.allclose(got, want, atol=1e-12)


def test_metric_input_errors():
    with pytest.raises(ParameterError, match="shape"):
        E.site_magnetization(np.ones((5, 4, 3), dtype=np.int8))
    with pytest.raises(ParameterError, match="at least 2"):
        E.correlation_anisotropy(np.ones((1, 4, 4), dtype=np.int8))
    with pytest.raises(ParameterError, match="spin model"):
        E.site_magnetization(np.ones((5, 4, 4)), "potts")


def test_threshold_is_a_bonferroni_bound():
    assert E.z_threshold(1) == pytest.approx(3.2905, abs=1e-3)  # two-sided 1e-3
    assert E.z_threshold(64) > E.z_threshold(4)


# ---------------------------------------------------------------------------------------------
# exact KL


@pytest.mark.parametrize("L", [2, 3, 4])
def test_configuration_indexing_and_orbits(L):
    configs = E.all_configs(L)
    assert np.array_equal(E.config_index(configs), np.arange(2 ** (L * L)))
    for c in (Couplings(), Couplings(1, 0.5, 0.2, 0.1)):
        reps, sizes = E.orbits(L, c)
        assert sizes.sum() == 2 ** (L * L)
        assert len(E.stabilizer(L, c)) == L * L * (16 if c == Couplings() else 4)


def test_orbit_counts_at_L4():
    # translations x D4 x flip: 433 orbits of the 4 x 4 torus (Burnside)
    assert len(E.orbits(4, Couplings())[0]) == 433
    assert len(E.orbits(4, Couplings(1, 0.5, 0, 0))[0]) == 787


def test_boltzmann_log_prob_against_exact():
    for c, T in ((Couplings(), 2.269), (Couplings(1, 0.5, -0.3, 0.2), 1.3)):
        lp = E.boltzmann_log_prob(4, c, T)
        ex = exact.enumerate_ising(4, c, T)
        assert np.exp(lp).sum() == pytest.approx(1.0, abs=1e-12)
        E_ = np.asarray(spinsym.hamiltonians.energy("ising", E.all_configs(4), c))
        assert np.allclose(lp, -E_ / T - ex["log_z"], atol=1e-10)


@pytest.mark.parametrize("use_orbits", [False, True])
def test_kl_of_pi_to_itself_is_zero(use_orbits):
    c, T = Couplings(1, 1, -0.3, 0.0), 2.0
    lp = E.boltzmann_log_prob(4, c, T)
    res = E.kl_divergences(lambda x: lp[E.config_index(x)], 4, c, T, use_orbits=use_orbits)
    assert abs(res["kl_q_pi"]) < 1e-12 and abs(res["kl_pi_q"]) < 1e-12
    assert res["q_total"] == pytest.approx(1.0, abs=1e-12)


@settings(max_examples=5, deadline=None)
@given(T1=st.floats(1.0, 4.0), T2=st.floats(1.0, 4.0), h=st.sampled_from([0.0, 0.4]),
       Jy=st.sampled_from([1.0, 0.6]))
def test_kl_between_two_temperatures_matches_the_closed_form(T1, T2, h, Jy):
    """KL(π_2‖π_1) = (β1 − β2)⟨E⟩_2 + log Z_1 − log Z_2, and the reverse, from
    spinsym.exact; the orbit sum equals the full sum."""
    c = Couplings(1.0, Jy, 0.0, h)
    q = E.boltzmann_log_prob(4, c, T2)
    fn = lambda x: q[E.config_index(x)]  # noqa: E731
    full = E.kl_divergences(fn, 4, c, T1)
    orb = E.kl_divergences(fn, 4, c, T1, use_orbits=True)
    e1, e2 = exact.enumerate_ising(4, c, T1), exact.enumerate_ising(4, c, T2)
    b1, b2 = 1 / T1, 1 / T2
    kl_21 = (b1 - b2) * 16 * e2["energy_per_site"] + e1["log_z"] - e2["log_z"]
    kl_12 = (b2 - b1) * 16 * e1["energy_per_site"] + e2["log_z"] - e1["log_z"]
    for r in (full, orb):
        assert r["kl_q_pi"] == pytest.approx(kl_21, abs=1e-10)
        assert r["kl_pi_q"] == pytest.approx(kl_12, abs=1e-10)
    assert orb["evaluated"] < full["evaluated"] / 20


def test_orbits_refuse_a_q_that_is_not_invariant():
    """A product distribution with a site-dependent field is normalized but not translation
    invariant: the orbit sum would be wrong, and the spot check says so."""
    field = np.linspace(-1, 1, 16).reshape(4, 4)

    def log_q(x):
        s = x.astype(np.float64)
        return (s * field).sum((-2, -1)) - np.log(2 * np.cosh(field)).sum()

    res = E.kl_divergences(log_q, 4, Couplings(), 2.5)
    assert res["q_total"] == pytest.approx(1.0, abs=1e-12) and res["kl_q_pi"] > 0
    with pytest.raises(DataError, match="not invariant"):
        E.kl_divergences(log_q, 4, Couplings(), 2.5, use_orbits=True)


def test_kl_input_errors():
    with pytest.raises(ParameterError, match="L\\*L <= 16"):
        E.all_configs(5)
    with pytest.raises(ParameterError, match="returned"):
        E.kl_divergences(lambda x: np.zeros(3), 2, Couplings(), 2.0)
    with pytest.raises(ParameterError, match="positive"):
        E.boltzmann_log_prob(2, Couplings(), -1.0)


@pytest.mark.parametrize("c", [Couplings(), Couplings(1, 0.5, 0, 0.3)])
def test_random_sampler_kl_is_positive_and_normalized_L2(c):
    m = _random_sampler("sympe")
    orb = E.sampler_kl(m, 2.5, c, L=2)
    full = E.sampler_kl(m, 2.5, c, L=2, use_orbits=False)
    assert orb["kl_q_pi"] > 0.01 and orb["kl_pi_q"] > 0.01
    assert orb["q_total"] == pytest.approx(1.0, abs=1e-5)
    assert orb["invariance_error"] < 1e-5
    assert orb["kl_q_pi"] == pytest.approx(full["kl_q_pi"], abs=1e-5)
    assert orb["kl_pi_q"] == pytest.approx(full["kl_pi_q"], abs=1e-5)


def test_sampler_kl_refuses_noise_and_xy():
    from spinsym.nn.sampler import MaskedSampler

    with pytest.raises(ParameterError, match="noise"):
        E.sampler_kl(_random_sampler("noise"), 2.0, Couplings(), L=2)
    with pytest.raises(ParameterError, match="Ising"):
        E.sampler_kl(MaskedSampler("xy", "sympe", width=1, depth=1, pe_period=2), 1.0,
                     Couplings(), L=2)
    with pytest.raises(ParameterError, match="positive"):
        E.sampler_kl(_random_sampler("sympe"), 0.0, Couplings(), L=2)
    with pytest.raises(ParameterError, match="couplings must be"):
        E.sampler_kl(_random_sampler("sympe"), 1.0, 3.0, L=2)


@pytest.mark.slow
def test_random_sampler_kl_at_L4():
    """The L = 4 sum (433 orbits x 128 frames, ~15 s): positive, q normalized, and the gcnn
    baseline (no frames, not translation invariant) summed over all 65 536 configurations."""
    res = E.sampler_kl(_random_sampler("sympe"), 2.5, Couplings(), L=4)
    assert res["kl_q_pi"] > 0.1 and res["kl_pi_q"] > 0.1
    assert res["q_total"] == pytest.approx(1.0, abs=1e-5)
    g = E.sampler_kl(_random_sampler("gcnn"), 2.5, Couplings(), L=4)
    assert g["evaluated"] == 2 ** 16 and g["kl_q_pi"] > 0.1
    assert g["q_total"] == pytest.approx(1.0, abs=1e-5)
