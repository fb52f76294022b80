"""The one torus group (spinsym.symmetry): group laws, the actions on site and bond fields
(numpy and torch), energy invariance E(g·s; g·J) = E(s; J) for per-bond couplings, and the
equivariance check itself."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spinsym import symmetry as S
from spinsym.hamiltonians import Couplings, energy, ising_energy
from spinsym.lattice import reflect_x, rotate90, sign_patterns, translate

POINTS = ("D4", "C4")


def brute_energy(s, J, h):
    """Ising energy from an explicit bond list: site (y, x) owns bond b to (y, x) + BOND_VECTORS[b]
    with coupling J[b, y, x] (docs/conventions.md), plus −h[y, x] s[y, x]."""
    L = s.shape[-1]
    E = 0.0
    for y in range(L):
        for x in range(L):
            for b, (ey, ex) in enumerate(S.BOND_VECTORS):
                E -= J[b, y, x] * s[y, x] * s[(y + ey) % L, (x + ex) % L]
            E -= h[y, x] * s[y, x]
    return E


def elements(L, point):
    n = 8 if point == "D4" else 4
    return st.tuples(st.integers(0, L - 1), st.integers(0, L - 1), st.integers(0, n - 1),
                     st.integers(0, 1))


@st.composite
def group_and_elements(draw, k=2):
    L = draw(st.integers(2, 6))
    point = draw(st.sampled_from(POINTS))
    return (S.torus_group(L, point),) + tuple(draw(elements(L, point)) for _ in range(k))


# ---------------------------------------------------------------------------------------------
# the point group and the group law


@pytest.mark.parametrize("point", POINTS)
def test_point_group_axioms(point):
    P = S.PointGroup(point)
    n = len(P)
    assert n == P.order == (8 if point == "D4" else 4)
    r = range(n)
    assert all(P.mul[0, a] == a == P.mul[a, 0] for a in r)
    assert all(P.mul[a, P.inv[a]] == 0 for a in r)
    assert all(P.mul[P.mul[a, b], c] == P.mul[a, P.mul[b, c]] for a in r for b in r for c in r)
    # the multiplication table is the composition of the maps on displacements
    v = (np.array([2, -1, 0, 3]), np.array([1, 5, -2, 0]))
    for a in r:
        for b in r:
            lhs = P.rotate_vec(a, *P.rotate_vec(b, *v))
            assert all(np.array_equal(x, y) for x, y in zip(lhs, P.rotate_vec(P.mul[a, b], *v)))


def test_c4_is_the_rotation_subgroup_of_d4():
    D, C = S.PointGroup("D4"), S.PointGroup("C4")
    assert np.array_equal(D.mul[:4, :4], C.mul) and np.array_equal(D.inv[:4], C.inv)
    assert [D.swaps_axes(d) for d in range(8)] == [False, True] * 4
    with pytest.raises(S.ParameterError):
        S.PointGroup("D6")


@settings(max_examples=60, deadline=None)
@given(group_and_elements(3))
def test_group_law_and_indexing(args):
    G, g1, g2, g3 = args
    assert G.compose(G.compose(g1, g2), g3) == G.compose(g1, G.compose(g2, g3))
    assert G.compose(g1, G.inverse(g1)) == (0, 0, 0, 0) == G.compose(G.inverse(g1), g1)
    assert G.element(G.index(g1)) == g1
    assert G.left_perm(g1)[G.index(g2)] == G.index(G.compose(g1, g2))
    lm = G.left_mult_table()
    n = S.N_FLIP
    assert lm[g1[2] * n + g1[3], g2[2] * n + g2[3]] == (G.compose(g1, g2)[2] * n
                                                        + G.compose(g1, g2)[3])


@pytest.mark.parametrize("L,point", [(3, "D4"), (4, "C4")])
def test_indices_cover_the_group_once(L, point):
    G = S.TorusGroup(L, point)
    assert G.order == len(G) == L * L * len(G.point_group) * 2
    idx = np.arange(G.order)
    assert [G.index(g) for g in G.elements()] == list(idx)
    ty, tx, d, z = G.decompose(idx)
    assert [tuple(e) for e in zip(ty, tx, d, z)] == G.elements()


# ---------------------------------------------------------------------------------------------
# actions


@settings(max_examples=60, deadline=None)
@given(group_and_elements(2), st.integers(0, 2**32 - 1))
def test_site_action_is_a_homomorphism_numpy_and_torch(args, seed):
    G, g1, g2 = args
    a = np.random.default_rng(seed).normal(size=(2, G.L, G.L))
    lhs = G.act(g1, G.act(g2, a))
    assert np.array_equal(lhs, G.act(G.compose(g1, g2), a))
    assert np.array_equal(G.act(G.inverse(g1), G.act(g1, a)), a)
    assert torch.equal(G.act(g1, torch.tensor(a)), torch.tensor(G.act(g1, a)))
    # the spin flip only signs the odd channels
    ch = np.stack([a, a], 1)  # (2, 2 channels, L, L)
    out = G.act(g1, ch, odd=np.array([False, True]))
    assert np.array_equal(out[:, 0], G.act(g1, a, odd=False))
    assert np.array_equal(out[:, 1], G.act(g1, a))


def test_site_action_moves_the_site_as_documented():
    """(g·a)(p) = a(R⁻¹(p − t)): the value at site q moves to R q + t."""
    L = 5
    G = S.TorusGroup(L)
    for d in range(8):
        a = np.zeros((L, L))
        a[1, 2] = 1.0
        ry, rx = G.rotate_vec(d, 1, 2)
        out = G.act((3, 1, d, 0), a, odd=False)
        assert out[(ry + 3) % L, (rx + 1) % L] == 1.0 and out.sum() == 1.0


def test_bond_action_on_single_bonds():
    """A quarter turn about site 0 takes the x-bond (0,0)–(0,1) to the y-bond (−1,0)–(0,0),
    owned by (L−1, 0), and swaps the diagonals; the mirror x → −x keeps x-bonds and y-bonds
    (moving the x-bond's owner) and swaps the diagonals."""
    L = 4
    G = S.TorusGroup(L)

    def one(b, y=0, x=0):
        J = np.zeros((4, L, L))
        J[b, y, x] = 1.0
        return J

    def where(J):
        return [tuple(int(v) for v in i) for i in zip(*np.nonzero(J))]

    assert where(G.act_bonds((0, 0, 1, 0), one(0))) == [(1, L - 1, 0)]
    assert where(G.act_bonds((0, 0, 1, 0), one(1))) == [(0, 0, 0)]  # y-bond -> x-bond at (0, 0)
    assert where(G.act_bonds((0, 0, 1, 0), one(2))) == [(3, L - 1, 1)]  # d+ -> d− of (−1, 1)
    assert where(G.act_bonds((0, 0, 4, 0), one(0))) == [(0, 0, L - 1)]
    assert where(G.act_bonds((0, 0, 4, 0), one(1))) == [(1, 0, 0)]
    assert where(G.act_bonds((0, 0, 4, 0), one(2))) == [(3, 0, 0)]
    assert where(G.act_bonds((0, 0, 4, 0), one(3))) == [(2, 0, 0)]
    assert where(G.act_bonds((2, 1, 0, 1), one(3))) == [(3, 2, 1)]  # translations; flip: even


@settings(max_examples=40, deadline=None)
@given(group_and_elements(1), st.integers(0, 2**32 - 1))
def test_energy_is_invariant_for_per_bond_couplings(args, seed):
    """E(g·s; g·J, g·h) = E(s; J, h) with independent random couplings on every bond."""
    G, g = args
    L = G.L
    rng = np.random.default_rng(seed)
    s = rng.choice([-1.0, 1.0], size=(L, L))
    J = rng.normal(size=(4, L, L))
    h = rng.normal(size=(L, L))
    e0 = brute_energy(s, J, h)
    e1 = brute_energy(G.act(g, s), G.act_bonds(g, J), G.act(g, h))
    assert e1 == pytest.approx(e0, abs=1e-10)
    # and with THE energy function: per-site Jx, Jy, a scalar J2, a per-site field
    J2 = rng.normal()
    nn = J[:2]
    e0 = ising_energy(s, nn[0], nn[1], J2, h)
    gnn = G.act_bonds(g, nn)
    assert ising_energy(G.act(g, s), gnn[0], gnn[1], J2, G.act(g, h)) == pytest.approx(e0,
                                                                                     abs=1e-10)
    assert brute_energy(s, np.concatenate([nn, np.full((2, L, L), J2)]), h) == pytest.approx(
        e0, abs=1e-10)


def test_energy_invariance_has_power():
    """Had the bond action forgotten to move the owner, the energy would change."""
    L = 4
    G = S.TorusGroup(L)
    rng = np.random.default_rng(0)
    s = rng.choice([-1.0, 1.0], size=(L, L))
    J = rng.normal(size=(4, L, L))
    h = np.zeros((L, L))
    g = (0, 0, 1, 0)
    wrong = np.stack([G.act(g, J[1], odd=False), G.act(g, J[0], odd=False),
                      G.act(g, J[3], odd=False), G.act(g, J[2], odd=False)])
    assert abs(brute_energy(G.act(g, s), wrong, h) - brute_energy(s, J, h)) > 1e-3


@settings(max_examples=40, deadline=None)
@given(group_and_elements(2), st.integers(0, 2**32 - 1))
def test_bond_action_is_a_homomorphism_numpy_and_torch(args, seed):
    G, g1, g2 = args
    J = np.random.default_rng(seed).normal(size=(3, 4, G.L, G.L))
    assert np.array_equal(G.act_bonds(g1, G.act_bonds(g2, J)), G.act_bonds(G.compose(g1, g2), J))
    assert torch.equal(G.act_bonds(g1, torch.tensor(J)), torch.tensor(G.act_bonds(g1, J)))


def test_bond_fields_need_two_or_four_channels():
    with pytest.raises(S.ParameterError):
        S.TorusGroup(4).act_bonds((0, 0, 1, 0), np.zeros((3, 4, 4)))


@pytest.mark.parametrize("point", POINTS)
def test_homogeneous_couplings_action(point):
    G = S.TorusGroup(4, point)
    rng = np.random.default_rng(1)
    s = rng.choice(np.array([-1, 1], dtype=np.int8), size=(4, 4))
    c = Couplings(1.3, -0.4, 0.25, 0.6)
    for g in G.elements()[:: 7]:
        assert energy("ising", G.act(g, s), G.act_couplings(g, c)) == pytest.approx(
            energy("ising", s, c))


def test_lattice_views_are_the_array_centred_group_elements():
    a = np.random.default_rng(2).normal(size=(3, 5, 5))
    for k in range(-4, 5):
        assert np.array_equal(rotate90(a, k), np.rot90(a, k, axes=(-2, -1)))
    assert np.array_equal(reflect_x(a), np.flip(a, -1))
    assert np.array_equal(translate(a, 2, -1), np.roll(a, (2, -1), axis=(-2, -1)))


def test_sign_patterns():
    P = sign_patterns(4)
    assert P.shape == (4, 4, 4) and set(np.unique(P)) == {-1.0, 1.0}
    y, x = np.indices((4, 4))
    neel = np.where((x + y) % 2 == 0, 1, -1)
    stripe_x = np.where(x % 2 == 0, 1, -1)
    assert [float((P[i] * neel).mean()) for i in range(4)] == [0.0, 1.0, 0.0, 0.0]
    assert [float((P[i] * stripe_x).mean()) for i in range(4)] == [0.0, 0.0, 1.0, 0.0]
    assert [float((P[i] * stripe_x.T).mean()) for i in range(4)] == [0.0, 0.0, 0.0, 1.0]


# ---------------------------------------------------------------------------------------------
# the equivariance check


def _local_field(s):
    """s_i·(sum of the four nearest neighbours): equivariant under the whole group."""
    return s * (np.roll(s, 1, -1) + np.roll(s, -1, -1) + np.roll(s, 1, -2) + np.roll(s, -1, -2))


def test_assert_equivariant_accepts_equivariant_and_catches_the_rest():
    G = S.TorusGroup(6)
    x = np.random.default_rng(3).choice([-1.0, 1.0], size=(2, 6, 6))
    assert S.assert_equivariant(_local_field, x, G, odd_out=False) == 0.0
    assert S.assert_equivariant(lambda s: s ** 3, x, G) == 0.0  # odd output
    with pytest.raises(AssertionError, match="not equivariant"):
        S.assert_equivariant(_local_field, x, G)  # the output is even, not odd: caught
    ramp = np.arange(6.0)
    with pytest.raises(AssertionError, match="not equivariant"):
        S.assert_equivariant(lambda s: s + ramp, x, G, elements=[(0, 1, 0, 0)])
    with pytest.raises(AssertionError):  # only the x-neighbour: breaks the point group
        S.assert_equivariant(lambda s: s * np.roll(s, 1, -1), x, G, odd_out=False,
                             elements=[(0, 0, 1, 0)])
    assert S.assert_equivariant(lambda s: s * np.roll(s, 1, -1), x, G, odd_out=False,
                                elements=[(1, 2, 0, 1), (0, 3, 0, 0)]) == 0.0
