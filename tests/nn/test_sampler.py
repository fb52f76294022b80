"""The masked multi-scale sampler: partition, local fields against THE energy functions, exact
normalization by enumeration / quadrature, exact distributional invariance of the SymPE mixture
(translations, D4, spin flip; XY: O(2)), equivariance of the network, sampling = likelihood."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from spinsym.hamiltonians import ising_energy, xy_energy
from spinsym.nn import fields as F
from spinsym.nn.sampler import (Frames, MaskedSampler, hierarchy, neighbour_sum, von_mises)

TOL = 2e-4  # float32 log-likelihoods summed over ≤ 64 sites


def _model(spin="ising", kind="sympe", L=4, seed=0, **kw):
    torch.manual_seed(seed)
    cfg = dict(width=2, depth=2, pe_fields=1, pe_period=min(4, L), init_scale=1.0)
    cfg.update(kw)
    m = MaskedSampler(spin, kind, **cfg).eval()
    with torch.no_grad():  # a non-trivial FiLM (it starts at the identity)
        m.body.film[-1].weight.normal_(0, 0.3)
    return m


def _all_spins(L):
    n = L * L
    idx = np.arange(2 ** n)[:, None] >> np.arange(n)[None, :] & 1
    return torch.tensor(2 * idx - 1, dtype=torch.float32).reshape(-1, L, L)


def _cond(B, beta=0.45, Jx=1.0, Jy=1.0, J2=0.0, h=0.0):
    return torch.tensor([[beta, Jx, Jy, J2, h]] * B, dtype=torch.float32)


def test_hierarchy_partitions_the_lattice():
    order, K = hierarchy(8)
    assert K == 9
    sizes = [int((order == k).sum()) for k in range(K)]
    assert sizes == [1, 1, 2, 2, 2, 8, 8, 8, 32]
    # the last set has no two nearest neighbours (its Boltzmann conditional is a product)
    last = order == K - 1
    assert not (last & np.roll(last, 1, 0)).any() and not (last & np.roll(last, 1, 1)).any()
    assert hierarchy(2)[1] == 3 and hierarchy(4)[1] == 6


def test_neighbour_sum_is_the_local_field_of_the_energy():
    """Flipping s_i changes ising_energy by 2 s_i (Σ_j J_ij s_j + h); the XY energy is
    −(hx cos θ_i + hy sin θ_i) + const in θ_i.  Checked against hamiltonians directly."""
    rng = np.random.default_rng(0)
    L = 6
    Jx, Jy, J2, h = 0.7, -1.3, 0.4, 0.25
    s = torch.tensor(rng.choice([-1.0, 1.0], size=(L, L)), dtype=torch.float64)
    hloc = neighbour_sum(s, Jx, Jy, J2) + h
    for (y, x) in [(0, 0), (2, 5), (5, 3)]:
        t = s.clone()
        t[y, x] = -t[y, x]
        dE = float(ising_energy(t, Jx, Jy, J2, h) - ising_energy(s, Jx, Jy, J2, h))
        assert dE == pytest.approx(float(2 * s[y, x] * hloc[y, x]), abs=1e-12)
    th = torch.tensor(rng.uniform(0, 2 * np.pi, size=(L, L)), dtype=torch.float64)
    hx = neighbour_sum(torch.cos(th), Jx, Jy, J2)
    hy = neighbour_sum(torch.sin(th), Jx, Jy, J2)
    for (y, x) in [(1, 1), (4, 0)]:
        es = []
        for a in (0.3, 2.1):
            t = th.clone()
            t[y, x] = a
            es.append(float(xy_energy(t, Jx, Jy, J2, 0.0)) + float(hx[y, x] * math.cos(a)
                                                                  + hy[y, x] * math.sin(a)))
        assert es[0] == pytest.approx(es[1], abs=1e-12)


def test_frames_match_the_torus_group():
    L = 4
    fr = Frames(L)
    G = F.TorusGroup(L)
    rng = np.random.default_rng(1)
    a = torch.randn(6, L, L)
    els = [G.random_element(rng) for _ in range(6)]
    ty, tx, d = (torch.tensor([g[i] for g in els]) for i in range(3))
    out = fr.act(a, ty, tx, d)
    for b, g in enumerate(els):
        assert torch.equal(out[b], G.act((g[0], g[1], g[2], 0), a[b]))
    assert torch.equal(fr.act(out, ty, tx, d, inverse=True), a)


@pytest.mark.parametrize("kind", ["sympe", "gcnn", "noise"])
def test_ising_likelihood_normalizes_2x2(kind):
    m = _model(kind=kind, L=2)
    s = _all_spins(2)
    B = s.shape[0]
    noise = m.draw_noise(1, 2, torch.Generator().manual_seed(0))
    noise = noise.expand(B, -1, -1, -1) if noise is not None else None
    for cond in (_cond(B, 0.7), _cond(B, 0.3, 1.0, -0.5, 0.2, 0.4)):
        with torch.no_grad():
            lp = m.log_prob(s, cond, noise).double()
        assert float(torch.logsumexp(lp, 0)) == pytest.approx(0.0, abs=1e-5)
        # the frame mixture is a normalized distribution too
        if kind == "sympe":
            lm = m.mixture_log_prob(s, cond).double()
            assert float(torch.logsumexp(lm, 0)) == pytest.approx(0.0, abs=1e-5)


@pytest.mark.slow
def test_ising_likelihood_normalizes_4x4_by_enumeration():
    m = _model(kind="sympe", L=4, width=1).prepare_inference()
    s = _all_spins(4)
    with torch.no_grad():
        lp = torch.cat([m.log_prob(c, _cond(len(c), 0.44)) for c in s.split(16384)]).double()
    assert float(torch.logsumexp(lp, 0)) == pytest.approx(0.0, abs=1e-5)


def test_sampling_reports_the_likelihood_it_samples_from():
    L = 8
    for spin in ("ising", "xy"):
        m = _model(spin=spin, L=L, pe_period=4).prepare_inference()
        gen = torch.Generator().manual_seed(3)
        rng = np.random.default_rng(3)
        cond = _cond(16, 0.6)
        frames = m.draw_frames(16, L, rng)
        x, lq = m.sample(cond, L, gen, frames)
        m.train(False)
        m._plain = None  # evaluate with the escnn body: the export must agree
        lq2 = m.component_log_prob(x.float() if spin == "ising" else x, cond, frames)
        assert torch.allclose(lq, lq2.double(), atol=5e-3 if spin == "xy" else TOL)


def _rand_ising(rng, B, L):
    return torch.tensor(rng.choice([-1.0, 1.0], size=(B, L, L)), dtype=torch.float32)


def test_sympe_mixture_is_exactly_invariant():
    """P(g·s | g·x) = P(s | x) for translations, D4 (Jx ↔ Jy) and the spin flip (h → −h),
    evaluated exactly (sum over all 256 frames of a 4 × 4 lattice)."""
    L = 4
    m = _model(kind="sympe", L=L)
    fr = Frames(L)
    rng = np.random.default_rng(4)
    s = _rand_ising(rng, 3, L)
    cond = _cond(3, 0.5, 1.2, 0.7, 0.1, 0.3)
    ref = m.mixture_log_prob(s, cond)
    G = F.TorusGroup(L)
    for g in [(1, 0, 0, 0), (0, 0, 1, 0), (0, 0, 4, 0), (0, 0, 0, 1)] + \
            [G.random_element(rng) for _ in range(3)]:
        ty, tx, d, z = (torch.full((3,), g[i]) for i in range(4))
        gs = fr.act(s, ty, tx, d) * (1 - 2 * g[3])
        gc = fr.transform_couplings(cond, d, z)
        assert torch.allclose(m.mixture_log_prob(gs, gc), ref, atol=TOL), g
    # the test can fail: the fixed-partition gcnn baseline is not translation invariant
    b = _model(kind="gcnn", L=L)
    one = torch.ones(3, dtype=torch.long)
    lp = b.mixture_log_prob(s, cond)
    lt = b.mixture_log_prob(fr.act(s, one, 0 * one, 0 * one), cond)
    assert float((lp - lt).abs().max()) > 1e-2
    # ... but it is exactly flip-invariant at h = 0 (antisymmetric network)
    c0 = _cond(3, 0.5)
    assert torch.allclose(b.mixture_log_prob(-s, c0), b.mixture_log_prob(s, c0), atol=TOL)


def test_sympe_samples_follow_the_invariant_mixture():
    """Frequencies of 20000 draws on 2 × 2 against the exact mixture probabilities (χ²), and
    the symmetric pairs s, −s appear equally often."""
    L = 2
    m = _model(kind="sympe", L=L, pe_period=2).prepare_inference()
    n = 20000
    cond = _cond(n, 0.8)
    x, _ = m.sample(cond, L, torch.Generator().manual_seed(5),
                    m.draw_frames(n, L, np.random.default_rng(5)))
    code = ((x.reshape(n, -1) > 0).long() * (1 << torch.arange(4))).sum(1)
    counts = np.bincount(code.numpy(), minlength=16)
    p = torch.exp(m.mixture_log_prob(_all_spins(2), _cond(16, 0.8))).double().numpy()
    assert p.sum() == pytest.approx(1.0, abs=1e-5)
    chi2 = float(((counts - n * p) ** 2 / (n * p)).sum())
    assert stats.chi2.sf(chi2, 15) > 1e-3
    # the mixture is flip symmetric while the canonical component is not
    flip = 15 - np.arange(16)
    assert np.allclose(p, p[flip], atol=1e-6)
    with torch.no_grad():
        lp = m.log_prob(_all_spins(2), _cond(16, 0.8)).exp().numpy()
    assert np.abs(lp - lp[flip]).max() > 1e-3


def test_network_is_equivariant_so_frames_equal_transformed_encodings():
    """net(g·input) = g·net(input) for D4 elements, translations and the odd-channel flip: the
    canonical-frame computation equals feeding g̃·v (and the moved partition) to the network."""
    m = _model(kind="sympe", L=8, width=3, depth=2)
    enn = F.escnn().nn
    x = torch.randn(2, m.in_type.size, 8, 8)
    cond = torch.tensor([[0.4, 1.0, 0.5, 0.1, 0.2], [1.0, 1.0, 1.0, 0.0, -0.3]])
    with torch.no_grad():
        y = m._net(x, cond)
        for el in m.in_type.gspace.fibergroup.elements:
            gx = enn.GeometricTensor(x, m.in_type).transform(el).tensor
            gy = enn.GeometricTensor(y, enn.FieldType(m.in_type.gspace,
                                                       [m.in_type.gspace.trivial_repr])
                                     ).transform(el).tensor
            assert torch.allclose(m._net(gx, cond), gy, atol=1e-4)
        assert torch.allclose(m._net(x.roll((2, 3), (-2, -1)), cond),
                              y.roll((2, 3), (-2, -1)), atol=1e-4)
        xm = torch.cat([x[:, :6], -x[:, 6:]], 1)
        assert torch.allclose(m._net(xm, cond), -y, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# XY


def test_xy_density_normalizes_on_2x2():
    """∫ P_e(θ_rest | θ_00 = 0) dθ_rest = 1 by a periodic trapezoid rule (spectrally exact)."""
    m = _model(spin="xy", kind="sympe", L=2, pe_period=2)
    n = 24
    grid = torch.arange(n, dtype=torch.float64) * 2 * math.pi / n
    a, b, c = torch.meshgrid(grid, grid, grid, indexing="ij")
    th = torch.zeros(n ** 3, 2, 2, dtype=torch.float64)
    th[:, 0, 1], th[:, 1, 0], th[:, 1, 1] = a.reshape(-1), b.reshape(-1), c.reshape(-1)
    for beta in (0.5, 1.2):
        with torch.no_grad():
            lp = m.log_prob(th, _cond(n ** 3, beta)).double()
        total = float(torch.exp(lp).sum()) * (2 * math.pi / n) ** 3
        assert total == pytest.approx(1.0, abs=1e-4)


def test_xy_mixture_is_o2_and_lattice_invariant():
    L = 4
    m = _model(spin="xy", kind="sympe", L=L)
    fr = Frames(L)
    rng = np.random.default_rng(7)
    th = torch.tensor(rng.uniform(0, 2 * np.pi, size=(2, L, L)), dtype=torch.float64)
    cond = _cond(2, 1.1, 1.0, 0.6)
    ref = m.mixture_log_prob(th, cond)
    for alpha, refl in ((1.234, False), (4.0, True), (0.0, True)):
        t = torch.remainder((-th if refl else th) + alpha, 2 * math.pi)
        assert torch.allclose(m.mixture_log_prob(t, cond), ref, atol=TOL)
    G = F.TorusGroup(L)
    for g in [G.random_element(rng) for _ in range(3)]:
        ty, tx, d = (torch.full((2,), g[i]) for i in range(3))
        gt = fr.act(th, ty, tx, d)
        assert torch.allclose(m.mixture_log_prob(gt, fr.transform_couplings(cond, d)), ref,
                              atol=TOL)


def test_von_mises_draws():
    gen = torch.Generator().manual_seed(11)
    for kappa in (0.05, 1.0, 8.0):
        n = 20000
        x = von_mises(torch.full((n,), 0.7), torch.full((n,), kappa), gen).numpy()
        x = np.remainder(x - 0.7 + np.pi, 2 * np.pi) - np.pi
        ks = stats.kstest(x, stats.vonmises(kappa).cdf)
        assert ks.pvalue > 1e-3, (kappa, ks)
