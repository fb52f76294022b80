"""Per-bond XY kernels (spinsym.mc.xy ``*_bonds``): Metropolis + over-relaxation in a per-site
field, and the Wolff embedding at h = 0.

* Exact L = 2 references by periodic trapezoid quadrature over the angles (3 angles at h = 0,
  the global rotation removed; 4 in a field), convergence checked against a finer grid; the
  Monte Carlo ⟨e⟩, ⟨m²⟩ (and ⟨m_x⟩ in a field) within 4.5 τ-corrected error bars, and the
  misplaced couplings (diagonals swapped, x-bonds shifted) told apart.
* Gauge invariance: θ → θ + π on a sublattice maps J_ij → ε_i ε_j J_ij and h_i → ε_i h_i and
  leaves the energy distribution unchanged; chains of the unfrustrated and of the transformed
  couplings agree on ⟨e⟩ and ⟨e²⟩, and a sign change that is not a gauge is detected.
* Constant arrays: the per-bond Metropolis and over-relaxation passes are the homogeneous
  scalar passes (the same random numbers, the same accepted moves, states equal to
  rounding: the per-bond field is summed bond by bond, see spinsym/mc/xy.py), compared as
  passes for every L and as whole chains for odd L (for even L the homogeneous kernel runs
  the split SIMD pass, with other random numbers); the Wolff chain is the homogeneous one
  bit for bit.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from spinsym.couplings import BondCouplings
from spinsym.hamiltonians import Couplings, xy_energy
from spinsym.mc import xy
from spinsym.models import get as get_model
from spinsym.stats import mean_err
from tests.conftest import xoshiro_state

NSIG = 4.5
TWO_PI = 2.0 * math.pi


def _energy(theta, J):
    Jx, Jy, J2p, J2m, h = J
    return xy_energy(theta, Jx, Jy, J2p, h, J2m=J2m)


def l2_exact_bonds(beta, J, n):
    """Exact ⟨e⟩, ⟨m²⟩, ⟨m_x⟩ of the 2 × 2 torus with per-bond couplings J = (Jx, Jy, J2p,
    J2m, h), (2, 2) arrays each, by the trapezoid rule on n points per angle (exponentially
    convergent for these smooth periodic integrands).  At h = 0 the global rotation fixes
    θ(0, 0) = 0 (3 angles; ⟨m_x⟩ is then in that frame and not used)."""
    g = TWO_PI * np.arange(n) / n
    t1, t2, t3 = (a.ravel() for a in np.meshgrid(g, g, g, indexing="ij"))
    first = [0.0] if not np.any(J[4]) else g
    shift = sum(np.abs(a).sum() for a in J)  # >= -E_min: no overflow
    Z = se = sm2 = smx = 0.0
    for t0 in first:
        th = np.stack([np.full_like(t1, t0), t1, t2, t3], -1).reshape(-1, 2, 2)
        E = _energy(th, J)
        w = np.exp(-beta * (E + shift))
        mx = np.cos(th).mean((1, 2))
        my = np.sin(th).mean((1, 2))
        Z += w.sum()
        se += (w * E).sum()
        sm2 += (w * (mx * mx + my * my)).sum()
        smx += (w * mx).sum()
    return np.array([se / Z / 4.0, sm2 / Z, smx / Z])


def _random_couplings(L, seed, field):
    rng = np.random.default_rng(seed)
    J = [rng.normal(0.0, s, (L, L)) for s in (1.0, 1.0, 0.5, 0.5)]
    h = rng.normal(0.0, 0.6, (L, L)) if field else np.zeros((L, L))
    return J + [h]


def _series(out, J):
    N = out.shape[-1] * out.shape[-2]
    return (_energy(out, J) / N, np.cos(out).mean((-2, -1)), np.sin(out).mean((-2, -1)))


def _metropolis(L, beta, J, n, n_or, seed, therm=500, every=1):
    state = xoshiro_state(seed)
    theta = np.zeros((L, L))
    step = np.array([1.0])
    xy.metropolis_chain_bonds(theta, state, beta, *J, therm, np.empty((1, L, L)), step, n_or,
                              True)
    out = np.empty((n, L, L))
    xy.metropolis_chain_bonds(theta, state, beta, *J, every, out, step, n_or, False)
    return _series(out, J)


def _wolff(L, beta, J, n, seed, therm=200, every=1):
    state = xoshiro_state(seed)
    theta = np.zeros((L, L))
    xy.wolff_chain_bonds(theta, state, beta, *J[:4], therm, np.empty((1, L, L)))
    out = np.empty((n, L, L))
    xy.wolff_chain_bonds(theta, state, beta, *J[:4], every, out)
    return _series(out, J)


def _z(x, ref):
    mean, err, _ = mean_err(x)
    return (mean - ref) / err, err


# --------------------------------------------------------------------------------------------
# exact L = 2


def test_quadrature_reference():
    """Free spins in per-site fields: ⟨cos θ_i⟩ = I1(βh_i)/I0(βh_i); and the 3-angle reduction
    equals the 4-angle integral at h = 0."""
    from scipy.special import i0, i1

    beta = 1.3
    h = np.array([[0.5, -0.3], [0.9, 0.1]])
    zero = np.zeros((2, 2))
    e, _, mx = l2_exact_bonds(beta, [zero, zero, zero, zero, h], 24)
    r = i1(beta * h) / i0(beta * h)
    assert mx == pytest.approx(r.mean(), abs=1e-13)
    assert e == pytest.approx(-(h * r).sum() / 4, abs=1e-13)
    J = _random_couplings(2, 1, field=False)
    J_tiny = J[:4] + [np.full((2, 2), 1e-300)]  # forces the full 4-angle integral
    np.testing.assert_allclose(l2_exact_bonds(beta, J, 24)[:2],
                               l2_exact_bonds(beta, J_tiny, 24)[:2], atol=1e-13)


def _wrong(J):
    Jx, Jy, J2p, J2m, h = J
    return {"x and y swapped": [Jy, Jx, J2p, J2m, h],
            "diagonals swapped": [Jx, Jy, J2m, J2p, h],
            "field transposed": [Jx, Jy, J2p, J2m, h.T],
            "J2p shifted": [Jx, Jy, np.roll(J2p, 1, 1), J2m, h]}


def _check_l2(series, J, beta, with_mx):
    ref = l2_exact_bonds(beta, J, 24)
    np.testing.assert_allclose(ref, l2_exact_bonds(beta, J, 32), atol=1e-12)  # converged
    e, mx, my = series
    obs = {"e": (e, 0), "m2": (mx * mx + my * my, 1)}
    if with_mx:
        obs["mx"] = (mx, 2)
    errs = {}
    for name, (x, k) in obs.items():
        z, err = _z(x, ref[k])
        assert abs(z) < NSIG, (name, z, err)
        errs[name] = err
    # the check has power: couplings on the wrong bonds give another reference, told apart
    z = {label: max(abs(_z(x, wrong[k])[0]) for x, k in obs.values())
         for label, wrong in ((label, l2_exact_bonds(beta, W, 24))
                              for label, W in _wrong(J).items())}
    assert max(z.values()) > 2 * NSIG, z
    return z


@pytest.mark.parametrize("n_or", [0, 2])
@pytest.mark.parametrize("seed,T", [(1, 0.7), (2, 1.5)])
def test_l2_metropolis_in_field(seed, T, n_or):
    J = _random_couplings(2, seed, field=True)
    series = _metropolis(2, 1.0 / T, J, 150_000, n_or, seed=10 * seed + n_or)
    _check_l2(series, J, 1.0 / T, with_mx=True)


@pytest.mark.parametrize("seed,T", [(3, 0.7), (4, 1.5)])
def test_l2_wolff(seed, T):
    J = _random_couplings(2, seed, field=False)
    series = _wolff(2, 1.0 / T, J, 150_000, seed=seed)
    _check_l2(series, J, 1.0 / T, with_mx=False)


# --------------------------------------------------------------------------------------------
# gauge invariance


def _gauge(J, eps):
    """Couplings after θ → θ + π where eps = -1: J_ij → ε_i ε_j J_ij, h_i → ε_i h_i."""
    Jx, Jy, J2p, J2m, h = J
    right = np.roll(eps, -1, 1)
    down = np.roll(eps, -1, 0)
    return [Jx * eps * right, Jy * eps * down, J2p * eps * np.roll(down, -1, 1),
            J2m * eps * np.roll(down, 1, 1), h * eps]


@pytest.mark.parametrize("sublattice", ["checkerboard", "columns"])
@pytest.mark.parametrize("algorithm", ["metropolis", "wolff"])
def test_gauge_transformation(algorithm, sublattice):
    L, T = 4, 0.8
    rng = np.random.default_rng(5)
    J = [np.abs(rng.normal(0.0, 1.0, (L, L))) + 0.2 for _ in range(2)] + \
        [np.abs(rng.normal(0.0, 0.3, (L, L))) for _ in range(2)]  # unfrustrated
    J += [np.abs(rng.normal(0.0, 0.5, (L, L))) if algorithm == "metropolis" else np.zeros((L, L))]
    y, x = np.indices((L, L))
    odd = (x + y) % 2 == 1 if sublattice == "checkerboard" else x % 2 == 1
    eps = np.where(odd, -1.0, 1.0)
    G = _gauge(J, eps)
    # THE energy is invariant: E_G(θ + π on the sublattice) = E(θ)
    theta = rng.uniform(0.0, TWO_PI, (3, L, L))
    np.testing.assert_allclose(_energy(theta + np.pi * odd, G), _energy(theta, J), atol=1e-12)
    not_gauge = [-J[0]] + J[1:]  # only the x-bonds flipped: frustrated, not a gauge
    if algorithm == "metropolis":  # with over-relaxation: reflections about the local field
        def run(*args, **kw):
            return _metropolis(*args, n_or=1, **kw)
    else:
        run = _wolff
    n = 40_000
    res = {}
    for label, C, seed in [("plain", J, 1), ("gauge", G, 2), ("not a gauge", not_gauge, 3)]:
        e = run(L, 1.0 / T, C, n, seed=seed, every=2)[0]
        res[label] = [mean_err(e)[:2], mean_err(e * e)[:2]]

    def z(a, b):
        return max(abs(p[0] - q[0]) / math.hypot(p[1], q[1]) for p, q in zip(res[a], res[b]))

    assert z("plain", "gauge") < NSIG, res
    assert z("plain", "not a gauge") > 2 * NSIG, res


# --------------------------------------------------------------------------------------------
# constant arrays: the homogeneous kernels bit for bit

_VALUES = st.sampled_from([-1.0, -0.6, 0.0, 0.35, 1.0])


def _constant(L, Jx, Jy, J2, h):
    return [np.full((L, L), v) for v in (Jx, Jy, J2, J2, h)]


@settings(derandomize=True, max_examples=20, deadline=None)
@given(L=st.integers(2, 7), Jx=_VALUES, Jy=_VALUES, J2=_VALUES, h=_VALUES,
       beta=st.sampled_from([0.3, 1.1, 3.0]), step=st.sampled_from([0.4, 2.0, 5.0]))
def test_constant_arrays_are_the_scalar_pass(L, Jx, Jy, J2, h, beta, step):
    """Same random numbers and accepted moves; the states agree to rounding (grown a little
    by the reflections of the over-relaxation)."""
    A = _constant(L, Jx, Jy, J2, h)
    theta = np.random.default_rng(L).uniform(0.0, TWO_PI, (L, L))
    c1, s1 = xy._to_vectors(theta)
    c2, s2 = c1.copy(), s1.copy()
    yp, ym = xy._neighbour_tables(L)
    st1, st2 = xoshiro_state(L), xoshiro_state(L)
    bufs = [np.empty(L) for _ in range(6)]
    for _ in range(3):
        a1 = xy._metropolis_pass(c1, s1, st1, beta, Jx, Jy, J2, h, step, yp, ym, yp, ym,
                                 *bufs[:3])
        a2 = xy._metropolis_pass_bonds(c2, s2, st2, beta, *A, step, yp, ym, yp, ym, *bufs[3:])
        assert a1 == a2
        xy._overrelax_pass(c1, s1, Jx, Jy, J2, h, yp, ym, yp, ym)
        xy._overrelax_pass_bonds(c2, s2, *A, yp, ym, yp, ym)
    np.testing.assert_allclose(c1, c2, rtol=0, atol=1e-9)
    np.testing.assert_allclose(s1, s2, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(st1, st2)


@pytest.mark.parametrize("L", [3, 5])
def test_constant_arrays_odd_L_metropolis_chain(L):
    J, h = (1.0, -0.6, 0.3), 0.4
    theta = np.random.default_rng(L).uniform(0.0, TWO_PI, (L, L))
    o1, o2 = np.empty((10, L, L)), np.empty((10, L, L))
    s1, s2 = np.array([1.0]), np.array([1.0])
    t1, t2 = theta.copy(), theta.copy()
    # no over-relaxation here: its reflections amplify the rounding differences over many
    # sweeps (the passes, over-relaxation included, are compared above)
    r1 = xy.metropolis_chain(t1, xoshiro_state(2), 0.9, *J, h, 2, o1, s1, 0, True)
    r2 = xy.metropolis_chain_bonds(t2, xoshiro_state(2), 0.9, *_constant(L, *J, h), 2, o2, s2, 0,
                                   True)
    assert r1 == r2 and s1[0] == s2[0]
    np.testing.assert_allclose(o1, o2, rtol=0, atol=1e-9)
    np.testing.assert_allclose(t1, t2, rtol=0, atol=1e-9)


@settings(derandomize=True, max_examples=15, deadline=None)
@given(L=st.integers(2, 6), Jx=_VALUES, Jy=_VALUES, J2=_VALUES,
       beta=st.sampled_from([0.3, 1.1, 3.0]))
def test_constant_arrays_wolff_chain(L, Jx, Jy, J2, beta):
    A = _constant(L, Jx, Jy, J2, 0.0)[:4]
    assert xy.wolff_clusters_per_sweep_bonds(beta, *A) == \
        xy.wolff_clusters_per_sweep(L, beta, Jx, Jy, J2)
    theta = np.random.default_rng(L).uniform(0.0, TWO_PI, (L, L))
    o1, o2 = np.empty((8, L, L)), np.empty((8, L, L))
    r1 = xy.wolff_chain(theta.copy(), xoshiro_state(3), beta, Jx, Jy, J2, 2, o1)
    r2 = xy.wolff_chain_bonds(theta.copy(), xoshiro_state(3), beta, *A, 2, o2)
    assert r1 == r2
    np.testing.assert_array_equal(o1, o2)


def test_local_field_bonds_matches_kernel_field():
    """The libm-angle local field equals the kernels' field (to rounding) and is the energy's
    derivative: E = -(hx cos θ_i + hy sin θ_i) + terms without θ_i."""
    L = 3
    J = _random_couplings(L, 7, field=True)
    theta = np.random.default_rng(7).uniform(0.0, TWO_PI, (L, L))
    c, s = xy._to_vectors(theta)
    yp, ym = xy._neighbour_tables(L)
    for y in range(L):
        for x in range(L):
            hx, hy = xy.local_field_bonds(theta, y, x, *J)
            fx, fy = xy._field_cs_bonds(c, s, y, yp[y], ym[y], x, yp[x], ym[x], *J)
            assert hx == pytest.approx(fx, abs=1e-12) and hy == pytest.approx(fy, abs=1e-12)
            # energy change of rotating θ_i alone
            t2 = theta.copy()
            t2[y, x] += 0.7
            dE = _energy(t2, J) - _energy(theta, J)
            expect = -(hx * (math.cos(t2[y, x]) - math.cos(theta[y, x]))
                       + hy * (math.sin(t2[y, x]) - math.sin(theta[y, x])))
            assert dE == pytest.approx(expect, abs=1e-12)


@pytest.mark.parametrize("algorithm", ["metropolis", "wolff"])
def test_model_dispatch(algorithm):
    """Couplings -> the homogeneous kernel, BondCouplings -> the per-bond one (a constant
    BondCouplings at odd L reproduces the Couplings chain: bit for bit for Wolff, to rounding
    for Metropolis)."""
    L, beta = 3, 0.9
    c = Couplings(1.0, -0.6, 0.3, 0.4 if algorithm == "metropolis" else 0.0)
    model = get_model("xy")
    runs = {}
    for label, cp in [("scalar", c), ("constant bonds", BondCouplings.from_scalar(c))]:
        config = SimpleNamespace(L=L, couplings=cp, overrelax=0)
        k = model.algorithms[algorithm].make(config, beta)
        theta = np.random.default_rng(1).uniform(0.0, TWO_PI, (L, L))
        out = np.empty((10, L, L))
        runs[label] = out, k(theta, xoshiro_state(4), 10, 2, out, True), k.stats()
    if algorithm == "wolff":
        np.testing.assert_array_equal(runs["scalar"][0], runs["constant bonds"][0])
    np.testing.assert_allclose(runs["scalar"][0], runs["constant bonds"][0], rtol=0, atol=1e-9)
    assert runs["scalar"][1] == runs["constant bonds"][1]
    assert runs["scalar"][2] == pytest.approx(runs["constant bonds"][2], rel=1e-12)
