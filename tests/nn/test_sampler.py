"""The masked multi-scale sampler: partition at every even L, local fields against THE energy
functions, exact normalization by enumeration / quadrature / causal structure, exact
distributional invariance of the SymPE mixture under the inversion kernel (translations, D4,
spin flip; XY: O(2)), the kernel's frames, an encoding that breaks every lattice symmetry at
every L, equivariance of the network, sampling = likelihood, one set of weights at every L."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from spinsym.errors import ParameterError
from spinsym.hamiltonians import ising_energy, xy_energy
from spinsym.nn import fields as F
from spinsym.nn.sampler import (D2, Frames, MaskedSampler, check_L, hierarchy, neighbour_sum,
                                von_mises)

TOL = 2e-4  # float32 log-likelihoods summed over ≤ 64 sites


def _model(spin="ising", kind="sympe", L=4, seed=0, **kw):
    torch.manual_seed(seed)
    cfg = dict(width=2, depth=2, pe_fields=1, pe_period=2, init_scale=1.0)
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


@pytest.mark.parametrize("L", range(2, 22, 2))
def test_hierarchy_partitions_every_even_L(L):
    """Every site in exactly one set, site (0, 0) alone first, few sets, the last set the odd
    checkerboard colour (every nearest neighbour of it generated earlier: the exact Boltzmann
    conditional), and the generated density at the final stage the same at every L (the step
    feature means the same thing on every lattice)."""
    order, K = hierarchy(L)
    assert order.shape == (L, L) and order.min() == 0 and order.max() == K - 1
    sizes = np.bincount(order.reshape(-1), minlength=K)
    assert (sizes > 0).all() and sizes.sum() == L * L
    assert order[0, 0] == 0 and sizes[0] == 1
    assert K <= 3 * math.ceil(math.log2(L)) + 1
    ys, xs = np.indices((L, L))
    last = order == K - 1
    assert np.array_equal(last, (xs + ys) % 2 == 1)
    for ax in (0, 1):
        for sh in (1, -1):
            assert (np.roll(order, sh, ax)[last] < K - 1).all()
    # (odd, odd) sites are the final stage's centres: 1/4 of the lattice done before them
    centres = (ys % 2 == 1) & (xs % 2 == 1)
    first = order[centres].min()
    assert (order[~centres & ~last] < first).all() and 2 * (order < first).sum() / L ** 2 == 0.5
    assert 2 * (order < K - 1).sum() / L ** 2 == 1.0


def test_check_L_takes_every_even_L():
    for L in (2, 4, 6, 10, 12, 18):
        assert check_L(L) == L
    for bad in (0, 1, 3, 7, -4, "x"):
        with pytest.raises(ParameterError):
            check_L(bad)
    with pytest.raises(ParameterError, match="period 4"):
        check_L(6, 4)


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
        cond = _cond(16, 0.6, 1.0, 0.7)
        frames = m.draw_frames(16, L, rng, cond=cond)
        x, lq = m.sample(cond, L, gen, frames)
        m.train(False)
        m._plain = None  # evaluate with the escnn body: the export must agree
        lq2 = m.component_log_prob(x.float() if spin == "ising" else x, cond, frames)
        assert torch.allclose(lq, lq2.double(), atol=5e-3 if spin == "xy" else TOL)


def _rand_ising(rng, B, L):
    return torch.tensor(rng.choice([-1.0, 1.0], size=(B, L, L)), dtype=torch.float32)


def test_gcnn_mixture_is_flip_but_not_translation_invariant():
    """The fixed-partition gcnn baseline (no frames) is not translation invariant (so the
    invariance tests of the framed kinds below can fail), but exactly flip invariant at h = 0
    (antisymmetric network)."""
    L = 4
    fr = Frames(L)
    rng = np.random.default_rng(4)
    s = _rand_ising(rng, 3, L)
    cond = _cond(3, 0.5, 1.2, 0.7, 0.1, 0.3)
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


# ---------------------------------------------------------------------------------------------
# exact likelihood at L = 6 (2^36 configurations: the causal structure, not enumeration)


@pytest.mark.parametrize("spin", ["ising", "xy"])
def test_step_conditionals_see_only_earlier_sets_L6(spin):
    """P_e normalizes exactly iff each step's factor is a normalized product over its set that
    depends on the earlier sets only.  At L = 6: changing the later sets leaves step k's factor
    bit for bit unchanged; within a set, changing several sites adds up the single-site
    changes (no coupling inside a set); a set of ≤ 5 Ising sites sums to probability 1."""
    L = 6
    order, K = hierarchy(L)
    m = _model(spin=spin, L=L)
    rng = np.random.default_rng(2)
    B = 3
    cond = _cond(B, 0.6, 1.2, 0.7, 0.2, 0.3 if spin == "ising" else 0.0)

    def draw():
        if spin == "ising":
            return _rand_ising(rng, B, L)
        th = torch.tensor(rng.uniform(0, 2 * np.pi, (B, L, L)))
        th[:, 0, 0] = 0
        return th

    s = draw()
    with torch.no_grad():
        ref = m.step_log_probs(s, cond)
        assert torch.allclose(ref.sum(1), m.log_prob(s, cond), atol=1e-5)
        for k in range(K):
            later = torch.as_tensor(order > k)
            t = torch.where(later, draw(), s)
            assert torch.equal(m.step_log_probs(t, cond)[:, k], ref[:, k]), k
        for k in range(1, K):
            sites = np.argwhere(order == k)
            moved = []
            for (y, x) in sites[:3]:
                t = s.clone()
                t[:, y, x] = -t[:, y, x] if spin == "ising" else t[:, y, x] + 1.0
                moved.append(m.step_log_probs(t, cond)[:, k] - ref[:, k])
            t = s.clone()
            for (y, x) in sites[:3]:
                t[:, y, x] = -t[:, y, x] if spin == "ising" else t[:, y, x] + 1.0
            both = m.step_log_probs(t, cond)[:, k] - ref[:, k]
            assert torch.allclose(both, sum(moved), atol=1e-4), k
            if spin == "ising" and len(sites) <= 5:
                n = len(sites)
                pats = torch.tensor(2 * ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1) - 1,
                                    dtype=torch.float32)
                t = s[:1].repeat(2 ** n, 1, 1)
                t[:, sites[:, 0], sites[:, 1]] = pats
                lp = m.step_log_probs(t, cond[:1].repeat(2 ** n, 1))[:, k].double()
                assert float(torch.logsumexp(lp, 0)) == pytest.approx(0.0, abs=1e-5), k


def test_sampled_prefix_frequencies_match_the_likelihood_L6():
    """The marginal of the first sets of an autoregressive model is the product of their
    factors: 6000 canonical draws at L = 6, tallied on the 5 sites of steps 0–3, against
    exp(Σ_{k<4} step_log_probs) (χ²)."""
    L = 6
    order, K = hierarchy(L)
    m = _model(L=L, width=1).prepare_inference()
    n = 6000
    cond = _cond(n, 0.5, 1.0, 0.8, 0.0, 0.2)
    s, _ = m.sample_canonical(cond, L, torch.Generator().manual_seed(8))
    pre = np.argwhere(order < 4)
    assert len(pre) == 5
    bits = (s[:, pre[:, 0], pre[:, 1]] > 0).long()
    code = (bits * (1 << torch.arange(5))).sum(1).numpy()
    counts = np.bincount(code, minlength=32)
    reps = torch.tensor(2 * ((np.arange(32)[:, None] >> np.arange(5)) & 1) - 1,
                        dtype=torch.float32)
    t = torch.ones(32, L, L)
    t[:, pre[:, 0], pre[:, 1]] = reps
    with torch.no_grad():
        p = m.step_log_probs(t, cond[:32])[:, :4].double().sum(1).exp().numpy()
    assert p.sum() == pytest.approx(1.0, abs=1e-5)
    rare = n * p < 5  # pooled into one cell
    counts = np.append(counts[~rare], counts[rare].sum())
    p = np.append(p[~rare], p[rare].sum())
    assert len(p) > 10
    chi2 = float(((counts - n * p) ** 2 / (n * p)).sum())
    assert stats.chi2.sf(chi2, len(p) - 1) > 1e-3


def test_one_set_of_weights_samples_at_every_even_L():
    """A model built (and, in use, trained) at L = 8 keeps its weights through a state dict
    and samples at L = 6, 10, 12: ±1 configurations whose reported log q is the component
    likelihood, for sympe and for frames."""
    for kind in ("sympe", "frames"):
        src = _model(kind=kind, L=8)
        m = MaskedSampler("ising", kind, width=2, depth=2, pe_fields=1, pe_period=2,
                          init_scale=1.0)
        m.load_state_dict(src.state_dict())
        m.eval()
        for L in (6, 10, 12):
            cond = _cond(4, 0.45, 1.0, 0.5, 0.1, 0.0)
            frames = m.draw_frames(4, L, np.random.default_rng(L), cond=cond)
            x, lq = m.sample(cond, L, torch.Generator().manual_seed(L), frames)
            assert x.shape == (4, L, L) and set(x.unique().tolist()) <= {-1.0, 1.0}
            assert torch.isfinite(lq).all()
            lq2 = m.component_log_prob(x.float(), cond, frames)
            assert torch.allclose(lq, lq2.double(), atol=TOL), (kind, L)


# ---------------------------------------------------------------------------------------------
# the inversion kernel, the kinds and the encoding


def _conds(n):
    """n rows of each type: (Jx < Jy, h < 0), (Jx > Jy, h > 0), isotropic h = 0, isotropic
    h > 0."""
    rows = [[0.5, 0.4, 1.1, 0.1, -0.3], [0.5, 1.1, 0.4, 0.0, 0.2], [0.5, 1.0, 1.0, 0.2, 0.0],
            [0.5, 1.0, 1.0, 0.0, 0.5]]
    return torch.tensor([r for r in rows for _ in range(n)], dtype=torch.float32)


@pytest.mark.parametrize("kind", ["sympe", "frames"])
def test_frames_follow_the_inversion_kernel(kind):
    """g̃ = c(x)·u: the network input c(x)⁻¹·x is canonical (Jx ≥ Jy, h ≥ 0); for Jx ≠ Jy, u
    has no odd quarter turn or diagonal mirror (u ∈ D2); u is uniform on the stabilizer
    (χ² on the point-group part, the translations and the flip)."""
    L, n = 4, 4000
    m = _model(kind=kind, L=L)
    P = F.point_group()
    cond = _conds(n)
    f = m.draw_frames(len(cond), L, np.random.default_rng(9), cond=cond)
    plain = m.draw_frames(len(cond), L, np.random.default_rng(9))
    assert torch.equal(f["ty"], plain["ty"]) and torch.equal(f["tx"], plain["tx"])
    dc, zc = m.canonicalizer(cond)
    u = P.mul[P.inv[dc], f["d"].numpy()]
    z = m.flip_frame(cond, f["z"]).numpy()
    x0 = Frames(L).transform_couplings(cond, f["d"], torch.as_tensor(z))
    assert (x0[:, 1] >= x0[:, 2]).all() and (x0[:, 4] >= 0).all()
    for r in range(4):
        sl = slice(r * n, (r + 1) * n)
        stab = list(D2) if r < 2 else list(range(8))
        assert set(np.unique(u[sl])) <= set(stab)
        counts = np.array([(u[sl] == e).sum() for e in stab])
        assert stats.chisquare(counts).pvalue > 1e-3, r
        t = (f["ty"][sl] * L + f["tx"][sl]).numpy()
        assert stats.chisquare(np.bincount(t, minlength=L * L)).pvalue > 1e-3
        if r == 2:  # the flip is in the stabilizer only at h = 0
            assert stats.chisquare(np.bincount(z[sl], minlength=2)).pvalue > 1e-3
        else:
            assert (z[sl] == zc[sl]).all()
    # without couplings: the uniform kernel, odd quarter turns included for Jx != Jy
    assert set(np.unique(plain["d"][:n].numpy())) == set(range(8))


@pytest.mark.parametrize("kind", ["sympe", "frames"])
def test_inversion_kernel_mixture_is_exactly_invariant(kind):
    """P(g·s | g·x) = P(s | x) exactly (all 128 lattice frames of a 4 × 4 torus, masked to
    the kernel's support) for every D4 element, translations and the flip, at Jx ≠ Jy with
    h ≠ 0 (stabilizer: translations × D2) and isotropic h = 0 (all of G).  The test can fail:
    drawing u ∈ D2 without the canonicalizer is not invariant, and the kernel matters (its
    mixture is not the uniform one where x has a partial stabilizer).  (Without v, the 4 × 4
    partition is symmetric under a diagonal mirror, so the ``frames`` kind is equivariant under
    it and its mixtures under the three kernels coincide there: those checks are sympe's.)"""
    L = 4
    m = _model(kind=kind, L=L)
    fr = Frames(L)
    rng = np.random.default_rng(4)
    s = _rand_ising(rng, 2, L)
    G = F.TorusGroup(L)
    els = [(0, 0, 1, 0), (0, 0, 4, 0), (0, 0, 7, 0), (1, 3, 0, 0), (0, 0, 0, 1), (2, 1, 5, 1)]
    for cond in (_cond(2, 0.5, 1.2, 0.7, 0.1, 0.3), _cond(2, 0.5, 1.0, 1.0, 0.1, 0.0)):
        ref = m.mixture_log_prob(s, cond)
        for g in els + [G.random_element(rng)]:
            ty, tx, d, z = (torch.full((2,), g[i]) for i in range(4))
            gs = fr.act(s, ty, tx, d) * (1 - 2 * g[3])
            gc = fr.transform_couplings(cond, d, z)
            assert torch.allclose(m.mixture_log_prob(gs, gc), ref, atol=TOL), g
        uni = m.mixture_log_prob(s, cond, uniform=True)
        if cond[0, 1] == cond[0, 2]:
            assert torch.allclose(uni, ref, atol=1e-6)
        elif kind == "sympe":
            assert float((uni - ref).abs().max()) > 1e-2
    if kind != "sympe":
        return
    # u ∈ D2 with no canonicalizer (the network would see Jx < Jy for the turned input)
    cond = _cond(2, 0.5, 1.2, 0.7, 0.1, 0.3)
    fa = m.all_frames(L)
    keep = torch.as_tensor(np.isin(fa["d"].numpy(), D2))
    sub = {k: v[keep] for k, v in fa.items()}

    def wrong(x, c):
        n = len(sub["d"])
        lp = m.component_log_prob(x.repeat_interleave(n, 0), c.repeat_interleave(n, 0),
                                  {k: v.repeat(len(x)) for k, v in sub.items()})
        return torch.logsumexp(lp.reshape(len(x), n), 1)
    one = torch.ones(2, dtype=torch.long)
    with torch.no_grad():
        turned = wrong(fr.act(s, 0 * one, 0 * one, one), fr.transform_couplings(cond, one))
        assert float((turned - wrong(s, cond)).abs().max()) > 1e-2


def test_encoding_breaks_every_lattice_symmetry_at_every_L():
    """v (canonical frame) differs from g·v for every lattice element g ≠ e (all translations
    × D4, v moving as D4-regular fields) at every even L; a period-P tile alone (the encoding
    of format 1) is invariant under the translations by P, so this test catches it."""
    m = _model(kind="sympe", L=8)
    enn = F.escnn().nn
    gs = F.gspace()
    ftype = enn.FieldType(gs, [gs.regular_repr] * m.pe_fields)
    with torch.no_grad():
        for L in range(4, 18, 2):
            v = m.encoding(L)
            gap = math.inf
            for el in gs.fibergroup.elements:
                w = enn.GeometricTensor(v[None], ftype).transform(el).tensor[0]
                for ty in range(L):
                    for tx in range(L):
                        if el == gs.fibergroup.identity and ty == 0 and tx == 0:
                            continue
                        gap = min(gap, float((w.roll((ty, tx), (-2, -1)) - v).abs().max()))
            assert gap > 1e-2, L
        m.v_modes.zero_()
        v = m.encoding(8)
        assert torch.equal(v.roll(2, -1), v)


def test_sympe_sees_v_and_frames_matter_at_isotropic_h0():
    """v enters sympe's likelihood (frames has no v); with random v at isotropic h = 0 the
    samples of one random stream are not bit for bit the same under identity and drawn frames
    (energies and log q; they were when the noise belonged to the canonical sites), while the
    frames do not change the distribution (that is the invariance tests)."""
    L, B = 8, 16
    m = _model(kind="sympe", L=L).prepare_inference()
    f = _model(kind="frames", L=L)
    assert not any("v" in k.split(".")[0] for k in f.state_dict())
    assert m.in_type.size - f.in_type.size == 8
    rng = np.random.default_rng(0)
    s, cond = _rand_ising(rng, 4, L), _cond(4, 0.44, 1.0, 0.6, 0.1, 0.2)
    with torch.no_grad():
        a = m.log_prob(s, cond)
        m.v_modes.mul_(-1.0)
        assert float((m.log_prob(s, cond) - a).abs().min()) > 1e-4
        m.v_modes.mul_(-1.0)
    cond = _cond(B, 0.44)
    frames = m.draw_frames(B, L, np.random.default_rng(1), cond=cond)
    assert (frames["ty"] != 0).any() and (frames["d"] != 0).any()
    ident = {k: torch.zeros_like(v) for k, v in frames.items()}
    x1, l1 = m.sample(cond, L, torch.Generator().manual_seed(5), frames)
    x2, l2 = m.sample(cond, L, torch.Generator().manual_seed(5), ident)
    e1 = ising_energy(x1.double(), 1.0, 1.0, 0.0, 0.0)
    e2 = ising_energy(x2.double(), 1.0, 1.0, 0.0, 0.0)
    assert not torch.equal(e1, e2) and not torch.equal(l1, l2)
    # the same frames and stream: the same samples, bit for bit
    x3, l3 = m.sample(cond, L, torch.Generator().manual_seed(5), frames)
    assert torch.equal(x1, x3) and torch.equal(l1, l3)


def test_weights_of_format_1_are_refused():
    m = _model(kind="sympe", L=4)
    sd = m.state_dict()
    assert int(sd["net_format"]) == 2
    old = {k: v for k, v in sd.items() if k not in ("net_format", "v_modes")}
    with pytest.raises(ParameterError, match="format 1"):
        MaskedSampler("ising", "sympe", width=2, depth=2, pe_period=2).load_state_dict(old)
    with pytest.raises(ParameterError):
        MaskedSampler("ising", "bogus")
