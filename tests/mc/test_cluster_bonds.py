"""Per-bond Ising cluster kernels (spinsym.mc.cluster ``*_bonds`` / ``*_tables``), h = 0.

* Statistics against exact enumeration (L = 2, 3, 4) for random ±J and Gaussian couplings
  with both diagonals, the triangular lattice (J2m = 0) and the brick wall (honeycomb, zero
  y-bonds): ⟨e⟩ and ⟨m²⟩ within 4.5 τ-corrected error bars (``stats.mean_err``).  Each case
  also checks that misplaced couplings (the diagonals swapped, the x-bonds or the J2p bonds
  shifted by one site) would have been detected.
* Homogeneous arrays reproduce the homogeneous kernels bit for bit (same clusters, same
  random numbers, same Wolff sweep length), through the kernels and through the model's
  kernel dispatch.
* Zero bonds are never activated: with only x-bonds every Wolff cluster stays in one row.
"""

import itertools
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from spinsym.couplings import BondCouplings
from spinsym.hamiltonians import Couplings, ising_energy
from spinsym.mc import cluster
from spinsym.models import get as get_model
from spinsym.stats import mean_err
from tests.conftest import random_spins, xoshiro_state

KERNELS = {"wolff": cluster.wolff_chain_bonds, "sw": cluster.swendsen_wang_chain_bonds}
SCALAR = {"wolff": cluster.wolff_chain, "sw": cluster.swendsen_wang_chain}
N_SIGMA = 4.5


def _exact(L, J, T):
    """Exact ⟨e⟩ (per site) and ⟨m²⟩ by enumerating the 2^(L²) states with THE energy."""
    states = np.array(list(itertools.product([-1, 1], repeat=L * L)),
                      dtype=np.int8).reshape(-1, L, L)
    E = ising_energy(states, J[0], J[1], J[2], 0.0, J2m=J[3])
    w = np.exp(-(E - E.min()) / T)
    w /= w.sum()
    m2 = states.reshape(len(states), -1).mean(axis=1, dtype=np.float64) ** 2
    return {"energy_per_site": float(w @ E) / (L * L), "m2": float(w @ m2)}


def _couplings(L, kind, seed):
    """(Jx, Jy, J2p, J2m) as (L, L) float64 arrays."""
    rng = np.random.default_rng(seed)
    if kind == "pmJ":
        return [rng.choice([-1.0, 1.0], (L, L)) * a for a in (1.0, 0.8, 0.5, 0.4)]
    gauss = [rng.normal(0.0, s, (L, L)) for s in (1.0, 1.0, 0.5, 0.5)]
    if kind == "gauss":
        return gauss
    if kind == "triangular":  # one diagonal
        return gauss[:3] + [np.zeros((L, L))]
    if kind == "brick-wall":  # honeycomb: no y-bond where x + y is odd, no diagonals
        y, x = np.indices((L, L))
        pm = [rng.choice([-1.0, 1.0], (L, L)) for _ in range(2)]
        return [pm[0], np.where((x + y) % 2 == 1, 0.0, pm[1]), np.zeros((L, L)),
                np.zeros((L, L))]
    raise ValueError(kind)


def _wrong(J):
    """Couplings placed on the wrong bonds: what a slot-to-bond mix-up would simulate."""
    Jx, Jy, J2p, J2m = J
    return {"diagonals swapped": [Jx, Jy, J2m, J2p],
            "x-bonds shifted": [np.roll(Jx, 1, 1), Jy, J2p, J2m],
            "J2p shifted": [Jx, Jy, np.roll(J2p, 1, 1), J2m]}


def _series(out, J):
    L = out.shape[-1]
    e = ising_energy(out, J[0], J[1], J[2], 0.0, J2m=J[3]) / (L * L)
    m2 = out.reshape(len(out), -1).mean(axis=1, dtype=np.float64) ** 2
    return {"energy_per_site": e, "m2": m2}


CASES = {  # L, kind, T, samples
    "L4-pmJ": (4, "pmJ", 1.5, 200_000),
    "L4-gauss": (4, "gauss", 1.5, 50_000),
    "L4-triangular": (4, "triangular", 1.2, 50_000),
    "L4-brick-wall": (4, "brick-wall", 1.2, 100_000),
    "L3-pmJ": (3, "pmJ", 1.5, 200_000),
    "L3-gauss": (3, "gauss", 1.5, 50_000),
    "L2-gauss": (2, "gauss", 1.0, 200_000),
}


@pytest.mark.parametrize("name", list(KERNELS))
@pytest.mark.parametrize("case", list(CASES))
def test_vs_enumeration(name, case):
    L, kind, T, n = CASES[case]
    seed = sorted(CASES).index(case) + (100 if name == "sw" else 0)
    J = _couplings(L, kind, seed)
    spins = random_spins(L, seed)
    state = xoshiro_state(seed)
    KERNELS[name](spins, state, 1.0 / T, *J, 200, np.empty((1, L, L), np.int8))
    out = np.empty((n, L, L), np.int8)
    KERNELS[name](spins, state, 1.0 / T, *J, 1, out)
    series = _series(out, J)
    exact = _exact(L, J, T)
    est = {}
    for obs, x in series.items():
        mean, err, tau = mean_err(x)
        assert err < 0.01, (obs, mean, err, tau)
        assert abs(mean - exact[obs]) < N_SIGMA * err, (obs, mean, exact[obs], err, tau)
        est[obs] = mean, err
    # the check has power: couplings on the wrong bonds are told apart (at least two of the
    # three misplacements; one where the others are symmetries: L = 2, where J2p and J2m
    # join the same sites and so do Jx[y, x] and Jx[y, x - 1], and the brick wall, which has
    # no diagonals)
    z = {}
    for label, W in _wrong(J).items():
        wrong = _exact(L, W, T)
        z[label] = max(abs(est[o][0] - wrong[o]) / est[o][1] for o in est)
    detected = [label for label in z if z[label] > 2 * N_SIGMA]
    assert len(detected) >= (1 if L == 2 or kind == "brick-wall" else 2), z


# ----------------------------------------------------------------------------------------------
# homogeneous arrays: the homogeneous kernels, bit for bit

_VALUES = st.sampled_from([-1.0, -0.6, 0.0, 0.3, 1.0])


@settings(derandomize=True, max_examples=25, deadline=None)
@given(L=st.integers(2, 6), Jx=_VALUES, Jy=_VALUES, J2=_VALUES,
       T=st.sampled_from([0.5, 1.5, 2.269, 4.0]), name=st.sampled_from(list(KERNELS)))
def test_homogeneous_arrays_are_the_scalar_kernel(L, Jx, Jy, J2, T, name):
    beta = 1.0 / T
    arrays = [np.full((L, L), v) for v in (Jx, Jy, J2, J2)]
    if name == "wolff":
        n_c = cluster.wolff_clusters_per_sweep(L, beta, Jx, Jy, J2)
        assert cluster.wolff_clusters_per_sweep_bonds(beta, *arrays) == n_c
    spins = random_spins(L, L)
    a = np.empty((20, L, L), np.int8)
    b = np.empty_like(a)
    sa, sb = spins.copy(), spins.copy()
    sta, stb = xoshiro_state(L), xoshiro_state(L)
    ra = SCALAR[name](sa, sta, beta, Jx, Jy, J2, 2, a)
    rb = KERNELS[name](sb, stb, beta, *arrays, 2, b)
    assert ra == rb
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(sa, sb)
    np.testing.assert_array_equal(sta, stb)


def _kernel(algorithm, L, couplings, beta):
    config = SimpleNamespace(L=L, couplings=couplings, overrelax=0)
    return get_model("ising").algorithms[algorithm].make(config, beta)


@pytest.mark.parametrize("algorithm", ["wolff", "swendsen-wang"])
def test_model_dispatch(algorithm):
    """Couplings -> the homogeneous kernel, BondCouplings -> the per-bond tables; a constant
    BondCouplings gives the chain of the equal Couplings."""
    L, beta = 5, 0.6
    c = Couplings(1.0, -0.6, 0.3)
    runs = {}
    for label, cp in [("scalar", c), ("constant bonds", BondCouplings.from_scalar(c)),
                      ("arrays", BondCouplings(*_couplings(L, "gauss", 3)))]:
        k = _kernel(algorithm, L, cp, beta)
        state, rng = random_spins(L, 9), xoshiro_state(9)
        out = np.empty((30, L, L), np.int8)
        count = k(state, rng, 30, 2, out, False)
        runs[label] = out, count, k.stats()
    np.testing.assert_array_equal(runs["scalar"][0], runs["constant bonds"][0])
    assert runs["scalar"][1:] == runs["constant bonds"][1:]
    # the per-bond kernel of the varying couplings is the per-bond chain function
    J = _couplings(L, "gauss", 3)
    out = np.empty((30, L, L), np.int8)
    name = "wolff" if algorithm == "wolff" else "sw"
    count = KERNELS[name](random_spins(L, 9), xoshiro_state(9), beta, *J, 2, out)
    np.testing.assert_array_equal(runs["arrays"][0], out)
    assert runs["arrays"][1] == count
    if algorithm == "wolff":
        assert runs["arrays"][2] == {
            "clusters_per_sweep": cluster.wolff_clusters_per_sweep_bonds(beta, *J)}


# ----------------------------------------------------------------------------------------------
# zero bonds, limits


def test_zero_bonds_never_join():
    """Only x-bonds (rows decoupled): every single cluster stays in one row, at any β."""
    L = 6
    rng = np.random.default_rng(4)
    Jx = rng.normal(0.0, 1.0, (L, L))
    zero = np.zeros((L, L))
    spins = random_spins(L, 4)
    out = np.empty((200, L, L), np.int8)
    cluster.wolff_chain_bonds(spins.copy(), xoshiro_state(4), 5.0, Jx, zero, zero, zero, 1, out,
                              1)
    prev = np.concatenate([spins[None], out[:-1]])
    rows = (out != prev).any(axis=2).sum(axis=1)
    assert np.all(rows == 1)  # one cluster per sweep, always inside one row
    # and Swendsen–Wang's clusters: at least one per row
    sw = cluster.swendsen_wang_chain_bonds(spins.copy(), xoshiro_state(5), 5.0, Jx, zero, zero,
                                           zero, 1, out)
    assert sw >= 200 * L


@pytest.mark.parametrize("name", list(KERNELS))
def test_zero_temperature_from_ground_state(name):
    """β → ∞ from a state that satisfies every bond (gauge-transformed ferromagnet: J_ij =
    |J_ij| t_i t_j for a random ±1 field t): the whole lattice is one cluster."""
    L = 4
    rng = np.random.default_rng(6)
    t = rng.choice(np.array([-1, 1], dtype=np.int8), (L, L))
    mag = [np.abs(rng.normal(0.0, 1.0, (L, L))) + 0.1 for _ in range(4)]
    tf = t.astype(np.float64)
    J = [mag[0] * tf * np.roll(tf, -1, 1), mag[1] * tf * np.roll(tf, -1, 0),
         mag[2] * tf * np.roll(np.roll(tf, -1, 0), -1, 1),
         mag[3] * tf * np.roll(np.roll(tf, -1, 0), 1, 1)]
    bonds = sum(m.sum() for m in mag)
    assert ising_energy(t, J[0], J[1], J[2], 0.0, J2m=J[3]) == pytest.approx(-bonds)
    out = np.empty((4, L, L), np.int8)
    count = KERNELS[name](t.copy(), xoshiro_state(7), 1e6, *J, 1, out)
    for o in out:
        assert np.array_equal(o, t) or np.array_equal(o, -t)
    assert count == (4 * L * L if name == "wolff" else 4)


@pytest.mark.parametrize("name", list(KERNELS))
def test_reproducible_and_stream_continues(name):
    L = 5
    J = _couplings(L, "pmJ", 8)
    extra = [3] if name == "wolff" else []  # Wolff: 3 clusters per sweep
    one = np.empty((10, L, L), np.int8)
    st1 = xoshiro_state(1)
    r = KERNELS[name](random_spins(L, 1), st1, 0.7, *J, 2, one, *extra)
    spins, st2 = random_spins(L, 1), xoshiro_state(1)
    a, b = np.empty((4, L, L), np.int8), np.empty((6, L, L), np.int8)
    r2 = KERNELS[name](spins, st2, 0.7, *J, 2, a, *extra) + KERNELS[name](spins, st2, 0.7, *J, 2,
                                                                           b, *extra)
    np.testing.assert_array_equal(np.concatenate([a, b]), one)
    np.testing.assert_array_equal(st1, st2)
    assert r == r2
