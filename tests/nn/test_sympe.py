"""SymPE: exact equivariance of f(x, g̃), the inversion kernel (uniform on the stabilizer),
distributional equivariance, gradients to the canonicalizer."""

import numpy as np
import pytest
import torch
from scipy import stats

from spinsym.nn import build_model
from spinsym.nn import fields as F

TOL = 2e-5
P_MIN = 1e-3  # fixed seeds: the statistical tests are deterministic; this is their level


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = build_model("sympe", width=3, depth=2, pe_fields=1, canon_width=2, canon_depth=1)
    return m.eval()


def _x(rng, B, L):
    return torch.tensor(rng.normal(size=(B, 4, L, L)), dtype=torch.float32)


def test_f_is_equivariant_in_both_arguments(model):
    """f(g·x, g·g̃) = g·f(x, g̃) for random g and g̃ (translations, D4, spin flip)."""
    L = 8
    G = model.group(L)
    rng = np.random.default_rng(0)
    x = _x(rng, 2, L)
    with torch.no_grad():
        for _ in range(10):
            g, gt = G.random_element(rng), G.random_element(rng)
            out = model.forward_sites(x, g=torch.tensor([[gt], [gt]]))["logits"]
            gx = G.act(g, x, model.rho_in, model.odd_in)
            out2 = model.forward_sites(gx, g=torch.tensor([[G.compose(g, gt)]] * 2))["logits"]
            assert float((out2 - G.act(g, out)).abs().max()) < TOL
    # the encoding really breaks the symmetry: translating g̃ changes the output
    with torch.no_grad():
        a = model.forward_sites(x, g=torch.tensor([[(0, 0, 0, 0)]] * 2))["logits"]
        b = model.forward_sites(x, g=torch.tensor([[(1, 0, 0, 0)]] * 2))["logits"]
    assert float((a - b).abs().max()) > 1e-3


def test_canonicalizer_logits_are_equivariant(model):
    L = 4
    G = model.group(L)
    rng = np.random.default_rng(1)
    x = _x(rng, 2, L)
    with torch.no_grad():
        ell = model.symmetrize(model.group_logits(x), x).reshape(2, -1)
        for _ in range(8):
            g = G.random_element(rng)
            gx = G.act(g, x, model.rho_in, model.odd_in)
            ell2 = model.symmetrize(model.group_logits(gx), gx).reshape(2, -1)
            # ℓ_{g·x}(g·h) = ℓ_x(h)
            assert torch.allclose(ell2[:, G.left_perm(g)], ell, atol=TOL)


def test_stabilizer_detection_and_exact_ties(model):
    L = 4
    G = model.group(L)
    const = F.site_fields(F.bond_fields([[1.0, 1.0, 0.5, 0.0], [2.0, 1.0, 0.5, 1.0]], L))
    mask = model.stabilizer_mask(const[:, :, 0, 0])
    assert mask[0].all()  # isotropic, zero field: all of D4 × Z2
    assert int(mask[1].sum()) == 4  # Jx != Jy, h != 0: {e, r², two axis mirrors}
    assert len(model.stabilizer(const[0])) == G.order
    assert len(model.stabilizer(const[1])) == 4 * L * L
    rng = np.random.default_rng(2)
    assert model.stabilizer(_x(rng, 1, L)[0]) == [(0, 0, 0, 0)]
    # a period-2, D4-symmetric, zero-field pattern (general path): translations by 2 etc.
    y, x = np.indices((L, L))
    pat = torch.zeros(1, 4, L, L)
    pat[0, 0] = torch.tensor(((x % 2) + (y % 2)) * 1.0)
    stab = model.stabilizer(pat[0])
    assert (2, 0, 0, 0) in stab and (0, 2, 3, 1) in stab and (1, 0, 0, 0) not in stab
    with torch.no_grad():
        for inp, elements in ((pat, stab), (const[:1], [G.random_element(rng)
                                                         for _ in range(20)])):
            ell = model.symmetrize(model.group_logits(inp), inp).reshape(-1)
            for s in elements:
                assert torch.equal(ell[G.left_perm(s)], ell)  # bit-exact ties


def test_constant_input_gives_uniform_draw(model):
    """Chi-square: a constant isotropic zero-field Hamiltonian gives g̃ uniform on G."""
    L = 4
    G = model.group(L)
    x = F.site_fields(F.bond_fields([[1.0, 1.0, 0.3, 0.0]], L))
    gen = torch.Generator().manual_seed(123)
    n = G.order * 40
    with torch.no_grad():
        g, _ = model.sample_group(x, n, gen)
    idx = [G.index(e) for e in g[0].tolist()]
    counts = np.bincount(idx, minlength=G.order)
    chi2, p = stats.chisquare(counts)
    assert p > P_MIN, (chi2, p)
    # marginals: spin flip and D4 separately
    assert stats.chisquare(np.bincount(g[0, :, 3].numpy(), minlength=2)).pvalue > P_MIN
    assert stats.chisquare(np.bincount(g[0, :, 2].numpy(), minlength=8)).pvalue > P_MIN
    # anisotropic, with a field: uniform over translations and within the D2 stabilizer
    x2 = F.site_fields(F.bond_fields([[2.0, -1.0, 0.3, 0.5]], L))
    with torch.no_grad():
        g2, _ = model.sample_group(x2, 8000, gen)
    t = (g2[0, :, 0] * L + g2[0, :, 1]).numpy()
    assert stats.chisquare(np.bincount(t, minlength=L * L)).pvalue > P_MIN


def test_distributional_equivariance(model):
    """Samples of g̃ for x and (transformed back) for h·x agree in distribution."""
    L = 4
    G = model.group(L)
    rng = np.random.default_rng(3)
    x = _x(rng, 1, L)
    h = (1, 3, 5, 1)
    hx = G.act(h, x, model.rho_in, model.odd_in)
    hinv = G.inverse(h)
    with torch.no_grad():
        # exact: q(h·g | h·x) = q(g | x)
        q1 = torch.softmax(model.symmetrize(model.group_logits(x), x).reshape(-1), 0)
        q2 = torch.softmax(model.symmetrize(model.group_logits(hx), hx).reshape(-1), 0)
        assert torch.allclose(q2[G.left_perm(h)], q1, atol=1e-6)
        n = 20000
        ga, _ = model.sample_group(x, n, torch.Generator().manual_seed(5), mode="gumbel")
        gb, _ = model.sample_group(hx, n, torch.Generator().manual_seed(6), mode="gumbel")
    a = np.bincount([G.index(e) for e in ga[0].tolist()], minlength=G.order)
    b = np.bincount([G.index(G.compose(hinv, e)) for e in gb[0].tolist()], minlength=G.order)
    keep = (a + b) >= 20
    table = np.stack([np.append(a[keep], a[~keep].sum()), np.append(b[keep], b[~keep].sum())])
    table = table[:, table.sum(0) > 0]
    assert table.shape[1] > 5
    assert stats.chi2_contingency(table)[1] > P_MIN
    # and the test has power: comparing without transforming back fails
    b_raw = np.bincount([G.index(e) for e in gb[0].tolist()], minlength=G.order)
    keep = (a + b_raw) >= 20
    table = np.stack([a[keep], b_raw[keep]])
    assert stats.chi2_contingency(table[:, table.sum(0) > 0])[1] < 1e-6


def test_canonical_draw_is_an_inversion_kernel(model):
    """Default (canonical) draws: uniform over the maximizers of the symmetrized logits, and
    the maximizer set moves with the input: {g̃ for h·x} = h·{g̃ for x}."""
    L = 4
    G = model.group(L)
    rng = np.random.default_rng(11)
    x = _x(rng, 1, L)
    h = (2, 1, 3, 1)
    hx = G.act(h, x, model.rho_in, model.odd_in)
    with torch.no_grad():
        ell = model.symmetrize(model.group_logits(x), x).reshape(-1)
        ga, _ = model.sample_group(x, 400, torch.Generator().manual_seed(1))
        gb, _ = model.sample_group(hx, 400, torch.Generator().manual_seed(2))
    top = set(torch.nonzero(ell == ell.max()).flatten().tolist())
    sa = {G.index(e) for e in ga[0].tolist()}
    sb = {G.index(G.compose(G.inverse(h), e)) for e in gb[0].tolist()}
    assert sa == top and sb == top


def test_outputs_equivariant_in_distribution_and_degenerate_states_balanced(model):
    """For a constant zero-field Hamiltonian the sampled configurations and their spin flips are
    equally likely: P(z = 1) = ½ exactly, so up/down ground states come in equal numbers."""
    L = 4
    x = F.site_fields(F.bond_fields([[1.0, 1.0, 0.0, 0.0]], L))
    with torch.no_grad():
        ell = model.symmetrize(model.group_logits(x), x).reshape(-1, 2)
    q = torch.softmax(ell.reshape(-1).double(), 0).reshape(-1, 2)
    assert torch.equal(ell[:, 0], ell[:, 1])
    assert abs(float(q[:, 1].sum()) - 0.5) < 1e-12


def test_gradients_reach_the_canonicalizer_and_v():
    torch.manual_seed(0)
    m = build_model("sympe", width=2, depth=1, pe_fields=1, canon_width=1, canon_depth=1).train()
    bonds = F.bond_fields([[1.0, -2.0, 0.3, 0.5], [-1.0, -1.0, 0.1, 0.0]], 4)
    out = m(bonds, samples=2, generator=torch.Generator().manual_seed(0))
    (out["logits"].tanh() * torch.randn_like(out["logits"])).sum().backward()
    canon_grad = sum(float(p.grad.abs().sum()) for p in m.canon.parameters() if p.grad is not None)
    assert canon_grad > 0
    assert float(m.v.grad.abs().sum()) > 0


def test_same_seed_same_samples(model):
    x = F.site_fields(F.bond_fields([[1.0, -1.0, 0.2, 0.0]], 8))
    with torch.no_grad():
        a = model.forward_sites(x, 5, torch.Generator().manual_seed(9))
        b = model.forward_sites(x, 5, torch.Generator().manual_seed(9))
    assert torch.equal(a["g"], b["g"]) and torch.equal(a["logits"], b["logits"])
    assert len({tuple(e) for e in a["g"][0].tolist()}) > 1
