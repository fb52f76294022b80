"""Exact G-equivariance of the G-CNN (translations, rotations, mirrors, spin flip), any even L,
and the circular-padding export."""

import numpy as np
import pytest
import torch

from spinsym.nn import build_model
from spinsym.nn import fields as F
from spinsym.nn.gcnn import GCNN, ExportedGCNN, fix_circular
from spinsym.symmetry import assert_equivariant

TOL = 2e-5  # float32, logits of order 1


def _elements(G, rng, n=12):
    """Random translations, rotations, mirrors and spin flips, plus each generator alone."""
    L = G.L
    fixed = [(1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0), (0, 0, 4, 0), (0, 0, 0, 1),
             (L - 1, 2, 5, 1)]
    return fixed + [G.random_element(rng) for _ in range(n)]


@pytest.fixture(scope="module", params=["bonds", "sites"])
def net(request):
    torch.manual_seed(0)
    return GCNN(n_odd_regular=1, width=3, depth=2, encoding=request.param).eval()


def _n_even(net):
    return net.even_type.size


@pytest.mark.parametrize("L", [6, 8])
def test_gcnn_is_exactly_equivariant(net, L):
    G = F.TorusGroup(L)
    rng = np.random.default_rng(L)
    rho = F.fiber_matrices(net.in_type)
    E = _n_even(net)
    odd = torch.tensor([False] * E + [True] * (net.in_type.size - E))
    x = torch.randn(3, net.in_type.size, L, L)
    fn = lambda t: net(t[:, :E], t[:, E:])  # noqa: E731
    err = F.equivariance_error(fn, x, G, _elements(G, rng), rho, odd, None, None)
    assert err < TOL
    # and the check can fail: a non-equivariant function is caught
    bad = lambda t: net(t[:, :E], t[:, E:]) + torch.arange(L, dtype=t.dtype)  # noqa: E731
    assert F.equivariance_error(bad, x, G, [(0, 1, 0, 0)], rho, odd, None, None) > 0.1


def test_gcnn_passes_the_shared_equivariance_check(net):
    """spinsym.symmetry.assert_equivariant: the generators and random elements of G."""
    L = 6
    G = F.TorusGroup(L)
    rho = F.fiber_matrices(net.in_type)
    E = _n_even(net)
    odd = torch.tensor([False] * E + [True] * (net.in_type.size - E))
    x = torch.randn(2, net.in_type.size, L, L)
    fn = lambda t: net(t[:, :E], t[:, E:])  # noqa: E731
    assert_equivariant(fn, x, G, rho_in=rho, odd_in=odd, n=6, rng=np.random.default_rng(5),
                       atol=TOL)
    with pytest.raises(AssertionError, match="not equivariant"):  # the spin flip matters
        assert_equivariant(fn, x, G, rho_in=rho, odd_in=odd, odd_out=False, atol=TOL)


def test_gcnn_train_mode_is_equivariant_too(net):
    net.train()
    try:
        G = F.TorusGroup(4)
        rho = F.fiber_matrices(net.in_type)
        E = _n_even(net)
        odd = torch.tensor([False] * E + [True] * (net.in_type.size - E))
        x = torch.randn(2, net.in_type.size, 4, 4)
        fn = lambda t: net(t[:, :E], t[:, E:])  # noqa: E731
        assert F.equivariance_error(fn, x, G, _elements(G, np.random.default_rng(3), 4),
                                    rho, odd) < TOL
    finally:
        net.eval()


def test_plain_gcnn_maps_constant_input_to_constant_output():
    torch.manual_seed(1)
    m = build_model("gcnn", width=3, depth=2).eval()
    bonds = F.bond_fields([[1.0, -2.0, 0.3, 0.7], [-1.0, -1.0, 0.0, 0.5]], 8)
    logits = m(bonds, samples=3)["logits"]
    assert logits.shape == (2, 3, 8, 8)
    flat = logits.reshape(2, 3, -1)
    assert torch.allclose(flat, flat[..., :1].expand_as(flat), atol=1e-5)
    # zero field: the antisymmetrized logit is exactly 0 (no way to choose up or down)
    z = m(F.bond_fields([[1.0, 1.0, 0.0, 0.0]], 8))["logits"]
    assert torch.equal(z, torch.zeros_like(z))


def test_export_keeps_circular_padding(net):
    L = 6
    x = torch.randn(2, net.in_type.size, L, L)
    E = _n_even(net)
    u, w = x[:, :E], x[:, E:]
    ex = net.export()
    assert isinstance(ex, ExportedGCNN)
    convs = [m for m in ex.modules() if isinstance(m, torch.nn.Conv2d) and m.padding[0] > 0]
    assert convs and all(c.padding_mode == "circular" for c in convs)
    with torch.no_grad():
        ref = net(u, w)
        out = ex(u, w)
        assert torch.allclose(out, ref, atol=1e-5)
        # translation equivariance survives the export
        shifted = ex(u.roll((1, 2), (-2, -1)), w.roll((1, 2), (-2, -1)))
        assert torch.allclose(shifted, out.roll((1, 2), (-2, -1)), atol=1e-5)
        # the raw escnn export pads with zeros: our fix is what makes it right
        raw = net.body.export()
        xb = torch.cat([torch.cat([u, w], 1), torch.cat([u, -w], 1)], 0)
        r = raw(xb)
        raw_out = (r[:2] - r[2:])[:, 0]
        assert not torch.allclose(raw_out, ref, atol=1e-3)
        assert torch.allclose((lambda y: (y[:2] - y[2:])[:, 0])(fix_circular(raw)(xb)), ref,
                              atol=1e-5)


def test_p4_gcnn_reads_the_bond_input_as_c4_regular_fields():
    """group = "p4": the 16 bond channels are four C4-regular fields (a D4-regular field
    restricted to C4 is two C4-regular ones, in escnn's order), so ρ_C4(r) equals ρ_D4(r) on
    the rotations; the network is exactly equivariant under p4 × Z2; p4 needs the bond
    encoding (one-line ParameterError otherwise)."""
    from spinsym.errors import ParameterError
    from spinsym.nn.gcnn import group_fiber_matrices

    torch.manual_seed(0)
    p4 = GCNN(n_odd_regular=1, width=3, depth=2, group="p4").eval()
    d4 = GCNN(n_odd_regular=1, width=3, depth=2).eval()
    r4, r8 = group_fiber_matrices(p4.in_type).round(), F.fiber_matrices(d4.in_type).round()
    assert r4.shape[0] == 4 and r8.shape[0] == 8
    # the even channels (16 bonds + h) coincide on rotations; v is one C4- vs D4-regular field
    assert torch.equal(r4[:, :17, :17], r8[:4, :17, :17])
    L = 6
    G = F.TorusGroup(L, "C4")
    E = p4.even_type.size
    odd = torch.tensor([False] * E + [True] * (p4.in_type.size - E))
    x = torch.randn(2, p4.in_type.size, L, L)
    fn = lambda t: p4(t[:, :E], t[:, E:])  # noqa: E731
    assert_equivariant(fn, x, G, rho_in=r4, odd_in=odd, n=6, rng=np.random.default_rng(1),
                       atol=TOL)
    with pytest.raises(ParameterError, match="bonds encoding"):
        GCNN(group="p4", encoding="sites")
    with pytest.raises(ParameterError, match="unknown group"):
        GCNN(group="p6")
