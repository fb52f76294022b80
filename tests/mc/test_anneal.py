"""Simulated annealing (spinsym.mc.anneal): exact minima of small instances, honest energies,
reproducibility, budgets and bad input."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from spinsym.couplings import BondCouplings
from spinsym.errors import ParameterError
from spinsym.exact import ground_state_bonds
from spinsym.hamiltonians import Couplings, ising_energy
from spinsym.mc.anneal import anneal, anneal_many, bond_arrays, default_temperatures, schedule


def _instances(L=4):
    """Small hard-ish instances: Gaussian glass in a random field with both diagonals, ±J glass,
    a triangular antiferromagnet (one diagonal), a frustrated homogeneous model in a field."""
    rng = np.random.default_rng(7)
    g = lambda s=1.0: s * rng.normal(size=(L, L))  # noqa: E731
    pm = lambda: rng.choice([-1.0, 1.0], size=(L, L))  # noqa: E731
    return [BondCouplings(g(), g(), g(0.5), g(0.5), g(0.3)),
            BondCouplings(pm(), pm(), 0.0, 0.0, 0.0),
            BondCouplings(-1.0, -1.0, -1.0, 0.0, 0.0),
            Couplings(1.0, -0.7, -0.6, 0.4)]


@pytest.mark.parametrize("index", range(4))
def test_reaches_exact_minimum_L4(index):
    c = _instances()[index]
    exact = ground_state_bonds(c, 4)["energy"]
    res = anneal(c, 4, sweeps=400, restarts=8, seed=index)
    assert res.energy == pytest.approx(exact, abs=1e-9)


def test_reaches_exact_minimum_L6_glass():
    rng = np.random.default_rng(3)
    c = BondCouplings(rng.normal(size=(6, 6)), rng.normal(size=(6, 6)), 0.0, 0.0,
                      0.2 * rng.normal(size=(6, 6)))
    exact = ground_state_bonds(c, 6)["energy"]
    assert anneal(c, 6, sweeps=2000, restarts=8, seed=0).energy == pytest.approx(exact, abs=1e-9)


def test_tiny_budget_misses_the_minimum():
    """The exact-minimum tests can fail: a quench of one sweep stays above the minimum."""
    rng = np.random.default_rng(11)
    L = 8
    c = BondCouplings(rng.normal(size=(L, L)), rng.normal(size=(L, L)), 0.0, 0.0, 0.0)
    exact = ground_state_bonds(c, L)["energy"]
    res = anneal(c, L, sweeps=1, restarts=1, seed=0)
    assert res.energy > exact + 1.0


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2 ** 63 - 1), sweeps=st.integers(1, 30), restarts=st.integers(1, 4))
def test_reported_energy_is_the_energy_function(seed, sweeps, restarts):
    c = _instances()[0]
    res = anneal(c, 4, sweeps=sweeps, restarts=restarts, seed=seed)
    Jx, Jy, J2p, J2m, h = bond_arrays(c, 4)
    assert res.spins.dtype == np.int8 and set(np.unique(res.spins)) <= {-1, 1}
    assert res.energy == ising_energy(res.spins, Jx, Jy, J2p, h, J2m=J2m)
    assert res.energy == min(res.restart_energies)
    assert res.restarts == restarts and res.sweeps == sweeps * restarts
    assert res.energy_per_site == res.energy / 16


def test_same_seed_same_bits_and_seeds_matter():
    c = _instances()[0]
    a = anneal(c, 4, sweeps=3, restarts=3, seed=5)
    b = anneal(c, 4, sweeps=3, restarts=3, seed=5)
    assert np.array_equal(a.spins, b.spins) and a.restart_energies == b.restart_energies
    others = {anneal(c, 4, sweeps=3, restarts=3, seed=s).restart_energies for s in range(6)}
    assert len(others) > 1


def test_homogeneous_forms_agree():
    """Couplings, a (Jx, Jy, J2, h) tuple and constant per-bond arrays take the same path."""
    kw = dict(sweeps=20, restarts=2, seed=1)
    a = anneal(Couplings(1.0, -0.5, 0.3, 0.2), 6, **kw)
    b = anneal((1.0, -0.5, 0.3, 0.2), 6, **kw)
    c = anneal(BondCouplings(np.full((6, 6), 1.0), -0.5, 0.3, 0.3, 0.2), 6, **kw)
    assert a.restart_energies == b.restart_energies == c.restart_energies
    assert np.array_equal(a.spins, c.spins)


def test_anneal_many_seeds_by_index():
    hs = _instances()[:3]
    many = anneal_many(hs, 4, sweeps=5, restarts=1, seed=2)
    again = anneal_many(hs[:2], 4, sweeps=5, restarts=1, seed=2)
    assert [r.energy for r in many[:2]] == [r.energy for r in again]


def test_time_budget():
    c = _instances()[0]
    res = anneal(c, 4, sweeps=50, restarts=0, seconds=0.05, seed=0)
    assert res.restarts >= 2 and res.seconds >= 0.05
    capped = anneal(c, 4, sweeps=50, restarts=3, seconds=60.0, seed=0)
    assert capped.restarts == 3  # the restart count binds first
    one = anneal(c, 4, sweeps=50, restarts=0, seconds=1e-9, seed=0)
    assert one.restarts == 1  # the first restart always runs


def test_schedule_and_default_temperatures():
    b = schedule(4.0, 0.04, 5)
    assert b[0] == pytest.approx(0.25) and b[-1] == pytest.approx(25.0)
    assert np.allclose(np.diff(np.log(b)), np.log(100.0) / 4)
    assert schedule(4.0, 0.04, 1).tolist() == [25.0]
    t0, t1 = default_temperatures(bond_arrays(Couplings(1.0, 1.0, 0.0, 0.0), 4))
    assert t0 == 4.0 and t1 == pytest.approx(0.04)


@pytest.mark.parametrize("kw, words", [
    (dict(L=5), "even"), (dict(sweeps=0), "sweeps"), (dict(restarts=0), "time budget"),
    (dict(seconds=float("nan")), "seconds"), (dict(T_end=-1.0), "T_end"),
    (dict(seed=-1), "seed"), (dict(restarts=1.5), "restarts")])
def test_bad_input(kw, words):
    args = dict(L=4, sweeps=10, restarts=1)
    args.update(kw)
    with pytest.raises(ParameterError, match=words):
        anneal(Couplings(), **args)


def test_couplings_of_the_wrong_size():
    with pytest.raises(ParameterError):
        anneal(BondCouplings(np.ones((6, 6))), 4, sweeps=2, restarts=1)
