"""The group G = T ⋊ D4 × Z2 on fields, and the site-centred coupling inputs."""

import numpy as np
import pytest
import torch

from spinsym.hamiltonians import ising_energy
from spinsym.nn import fields as F


@pytest.fixture(scope="module")
def G6():
    return F.TorusGroup(6)


def test_group_law_matches_array_action(G6):
    enn = F.escnn().nn
    gs = F.gspace()
    ft = enn.FieldType(gs, [gs.regular_repr, gs.fibergroup.irrep(0, 2), gs.trivial_repr])
    rho = F.fiber_matrices(ft)
    x = torch.randn(2, ft.size, 6, 6, dtype=torch.float64)
    rng = np.random.default_rng(0)
    for _ in range(100):
        g1, g2 = G6.random_element(rng), G6.random_element(rng)
        a = G6.act(g1, G6.act(g2, x, rho), rho)
        b = G6.act(G6.compose(g1, g2), x, rho)
        assert torch.allclose(a, b, atol=1e-12)
        assert G6.compose(g1, G6.inverse(g1)) == (0, 0, 0, 0)
        assert G6.element(G6.index(g1)) == g1
        # left_perm indexes s·g
        P = G6.left_perm(g1)
        i = G6.index(g2)
        assert G6.element(int(P[i])) == G6.compose(g1, g2)


def test_d4_action_is_escnn_transform_up_to_a_translation(G6):
    """escnn rotates about the array centre, we rotate about site (0, 0): same group."""
    enn = F.escnn().nn
    gs = F.gspace()
    ft = enn.FieldType(gs, [gs.regular_repr, gs.fibergroup.irrep(0, 2)])
    rho = F.fiber_matrices(ft)
    x = torch.randn(1, ft.size, 6, 6)
    for d, e in enumerate(F.d4_elements()):
        ref = enn.GeometricTensor(x, ft).transform(e).tensor
        mine = G6.act((0, 0, d, 0), x, rho)
        hits = [(a, b) for a in range(6) for b in range(6)
                if torch.allclose(mine.roll((a, b), (-2, -1)), ref)]
        assert len(hits) == 1


def test_regular_representation_is_left_multiplication():
    mul, _, _, _ = F.d4_tables()
    R = F.gspace().regular_repr
    for h, eh in enumerate(F.d4_elements()):
        M = R(eh)
        for g in range(8):
            assert np.argmax(M[:, g]) == mul[h, g] and np.isclose(M[:, g].max(), 1.0)


def _rho(encoding="bonds"):
    even, odd = F.input_types(encoding=encoding)
    rho = F.fiber_matrices(even + odd).round()
    return rho, torch.tensor([False] * even.size + [True])


def test_site_fields_are_equivariant_and_energy_is_invariant(G6):
    """The older encoding: site_fields(g·J) = g·site_fields(J) for per-site Jx, Jy, h
    (constant J2), and ising_energy(g·σ, g·J) = ising_energy(σ, J)."""
    rng = np.random.default_rng(1)
    L = 6
    bonds = torch.tensor(rng.normal(size=(3, 4, L, L)))
    bonds[:, 2] = torch.tensor(rng.normal(size=(3, 1, 1)))
    spins = torch.tensor(rng.choice([-1.0, 1.0], size=(3, L, L)))
    rho, odd_mask = _rho("sites")
    x = F.site_fields(bonds)
    for _ in range(40):
        g = G6.random_element(rng)
        gb = F.transform_bonds(G6, g, bonds)
        assert torch.allclose(F.site_fields(gb), G6.act(g, x, rho, odd_mask), atol=1e-12)
        gs = G6.act(g, spins)  # spins are odd under the flip
        e0 = ising_energy(spins, *(bonds[:, i] for i in range(4)))
        e1 = ising_energy(gs, *(gb[:, i] for i in range(4)))
        assert torch.allclose(e0, e1, atol=1e-10)


@pytest.mark.parametrize("L", [4, 6])
def test_bond_input_is_exactly_equivariant_on_per_bond_couplings(L):
    """bond_input(g·J) == g·bond_input(J) bit for bit, for random per-bond couplings with
    unequal diagonals, g acting on bonds by spinsym.symmetry's act_bonds (checked by
    assert_equivariant over the generators and random elements); the energy is invariant."""
    from spinsym.symmetry import assert_equivariant, generators

    G = F.TorusGroup(L)
    rng = np.random.default_rng(L)
    bonds = torch.tensor(rng.normal(size=(3, 5, L, L)))
    rho, odd = _rho()
    elements = generators(G) + [G.random_element(rng) for _ in range(30)]
    for g in elements:
        gb = F.transform_bonds(G, g, bonds)
        assert torch.equal(F.bond_input(gb), G.act(g, F.bond_input(bonds), rho, odd))
    spins = torch.tensor(rng.choice([-1.0, 1.0], size=(3, L, L)))
    for g in elements[:10]:
        gb = F.transform_bonds(G, g, bonds)
        e0 = ising_energy(spins, bonds[:, 0], bonds[:, 1], bonds[:, 2], bonds[:, 4],
                          J2m=bonds[:, 3])
        e1 = ising_energy(G.act(g, spins), gb[:, 0], gb[:, 1], gb[:, 2], gb[:, 4],
                          J2m=gb[:, 3])
        assert torch.allclose(e0, e1, atol=1e-10)
    # and the check has power: an input that mixes up the two diagonals is not equivariant
    def bad(b):
        return F.bond_input(b[:, [0, 1, 3, 2, 4]])

    errs = [float((bad(F.transform_bonds(G, g, bonds)) - G.act(g, bad(bonds), rho, odd))
                  .abs().max()) for g in elements]
    assert max(errs) > 0.1


def test_bond_input_is_injective():
    """Random pairs of different per-bond couplings never give the same input, and each bond
    is read back from its channel; the older site sums are not injective (a dimerized
    Jx = ±2 looks like Jx = 0)."""
    rng = np.random.default_rng(3)
    L = 6
    a = torch.tensor(rng.normal(size=(200, 5, L, L)))
    b = a.clone()
    c = rng.integers(0, 5, 200)
    y, x = rng.integers(0, L, (2, 200))
    b[np.arange(200), c, y, x] += torch.tensor(rng.choice([-1.0, 1.0], 200) * rng.uniform(
        1e-6, 1, 200))
    ia, ib = F.bond_input(a), F.bond_input(b)
    assert ((ia - ib).abs().flatten(1).amax(1) > 0).all()
    # the inverse: Jx, Jy, J2p, J2m at the site itself, h
    P = F.point_group()
    k_of = {P.rotate_vec(k, 0, 1): k for k in range(8)}
    kd_of = {P.rotate_vec(k, 1, 1): k for k in range(8)}
    back = torch.stack([ia[:, k_of[(0, 1)]], ia[:, k_of[(1, 0)]], ia[:, 8 + kd_of[(1, 1)]],
                        ia[:, 8 + kd_of[(1, -1)]], ia[:, 16]], 1)
    assert torch.equal(back, a)
    # random pairs of unrelated inputs differ too
    assert ((F.bond_input(a[:100]) - F.bond_input(a[100:])).abs().flatten(1).amax(1) > 0).all()
    dimer = torch.zeros(1, 5, L, L)
    dimer[0, 0] = torch.tensor([2.0, -2.0] * (L // 2))
    dimer[0, 1] = 1.0
    plain = dimer.clone()
    plain[0, 0] = 0.0
    assert torch.equal(F.site_fields(dimer), F.site_fields(plain))
    assert not torch.equal(F.bond_input(dimer), F.bond_input(plain))


def test_constant_couplings_lose_nothing():
    x = F.site_fields(F.bond_fields([[1.5, -0.5, 0.25, 2.0]], 4, dtype=torch.float64))
    assert torch.allclose(x[0, :, 0, 0], torch.tensor([1.0, 2.0, 1.0, 2.0], dtype=torch.float64))
    assert torch.equal(x, x[..., :1, :1].expand_as(x))


@pytest.mark.parametrize("point", ["D4", "C4"])
def test_point_group_tables_are_escnns(point):
    """spinsym.symmetry's numpy tables (no escnn there) are escnn's dihedral_group(4) /
    cyclic_group(4) composition and inverse, in escnn's element order."""
    from spinsym.symmetry import point_group

    group = F.escnn().group
    G = group.dihedral_group(4) if point == "D4" else group.cyclic_group(4)
    els = list(G.elements)
    index = {e: i for i, e in enumerate(els)}
    P = point_group(point)
    assert len(P) == G.order() == len(els)
    assert np.array_equal(P.mul, [[index[a @ b] for b in els] for a in els])
    assert np.array_equal(P.inv, [index[~a] for a in els])
    if point == "D4":
        assert els == F.d4_elements()
        assert [e.to("int") for e in els] == list(zip(P.flip.tolist(), P.rot.tolist()))
