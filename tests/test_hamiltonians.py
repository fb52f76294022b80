"""THE energy functions: conventions, symmetries, numpy/torch agreement, per-site fields."""

import itertools

import numpy as np
import pytest

from spinsym.errors import ParameterError
from spinsym.hamiltonians import Couplings, check_model, energy, ising_energy, xy_energy
from spinsym.lattice import reflect_x, rotate90, translate


def brute_ising(s, Jx, Jy, J2, h):
    """docs/conventions.md with explicit loops: each site owns its +x, +y and two lower diagonal bonds."""
    L = s.shape[0]
    E = 0.0
    for y, x in itertools.product(range(L), range(L)):
        E -= Jx * s[y, x] * s[y, (x + 1) % L]
        E -= Jy * s[y, x] * s[(y + 1) % L, x]
        E -= J2 * s[y, x] * (s[(y + 1) % L, (x + 1) % L] + s[(y + 1) % L, (x - 1) % L])
        E -= h * s[y, x]
    return E


def brute_xy(t, Jx, Jy, J2, h):
    L = t.shape[0]
    E = 0.0
    for y, x in itertools.product(range(L), range(L)):
        E -= Jx * np.cos(t[y, x] - t[y, (x + 1) % L]) + Jy * np.cos(t[y, x] - t[(y + 1) % L, x])
        E -= J2 * (np.cos(t[y, x] - t[(y + 1) % L, (x + 1) % L])
                   + np.cos(t[y, x] - t[(y + 1) % L, (x - 1) % L]))
        E -= h * np.cos(t[y, x])
    return E


COUPLINGS = [(1, 1, 0, 0), (1.3, -0.7, 0.4, 0.25), (-1, 2, -0.9, -1.5)]


@pytest.mark.parametrize("L", [2, 3, 4, 6])
@pytest.mark.parametrize("c", COUPLINGS)
def test_ising_energy_matches_loops(L, c):
    rng = np.random.default_rng(L)
    s = rng.choice(np.array([-1, 1], dtype=np.int8), size=(5, L, L))
    got = ising_energy(s, *c)
    want = [brute_ising(si.astype(float), *c) for si in s]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("L", [2, 3, 5])
@pytest.mark.parametrize("c", COUPLINGS)
def test_xy_energy_matches_loops(L, c):
    rng = np.random.default_rng(10 + L)
    t = rng.uniform(0, 2 * np.pi, size=(4, L, L))
    np.testing.assert_allclose(xy_energy(t, *c), [brute_xy(ti, *c) for ti in t], atol=1e-12)


def test_ground_state_energies_per_site():
    L = 4
    up = np.ones((L, L), np.int8)
    y, x = np.indices((L, L))
    neel = np.where((x + y) % 2, 1, -1).astype(np.int8)
    stripe = np.where(x % 2, 1, -1).astype(np.int8)
    J1, J2 = 1.0, 0.3
    assert ising_energy(up, J1, J1, J2, 0) / L**2 == pytest.approx(-2 * J1 - 2 * J2)
    assert ising_energy(neel, J1, J1, J2, 0) / L**2 == pytest.approx(2 * J1 - 2 * J2)
    assert ising_energy(stripe, J1, J1, J2, 0) / L**2 == pytest.approx(2 * J2)


def test_symmetries_of_the_energy():
    rng = np.random.default_rng(0)
    s = rng.choice(np.array([-1, 1], dtype=np.int8), size=(6, 6))
    c = Couplings(1.2, -0.4, 0.7, 0.3)
    e = energy("ising", s, c)
    assert energy("ising", translate(s, 2, -1), c) == pytest.approx(e)
    assert energy("ising", reflect_x(s), c) == pytest.approx(e)
    assert energy("ising", rotate90(s), c.rotated90()) == pytest.approx(e)
    assert energy("ising", -s, c.spin_flipped()) == pytest.approx(e)
    assert energy("ising", rotate90(s), c) != pytest.approx(e)  # the rotation matters


def test_torch_and_numpy_agree_and_fields_broadcast():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    m = rng.uniform(-1, 1, size=(3, 4, 4))
    Jx = rng.normal(size=(4, 4))
    h = rng.normal(size=(3, 1, 1))
    a = ising_energy(m, Jx, 0.5, -0.2, h)
    b = ising_energy(torch.tensor(m), torch.tensor(Jx), 0.5, -0.2, torch.tensor(h))
    np.testing.assert_allclose(a, b.numpy(), atol=1e-12)
    t = rng.uniform(0, 6, size=(2, 3, 3))
    np.testing.assert_allclose(xy_energy(t, 1, 2, 0.1, 0.3),
                               xy_energy(torch.tensor(t), 1, 2, 0.1, 0.3).numpy(), atol=1e-12)


def test_per_site_fields_reduce_to_scalars():
    rng = np.random.default_rng(2)
    s = rng.choice([-1, 1], size=(5, 5))
    ones = np.ones((5, 5))
    assert ising_energy(s, 0.7 * ones, -1.1 * ones, 0.3 * ones, 0.2 * ones) == \
        pytest.approx(ising_energy(s, 0.7, -1.1, 0.3, 0.2))


def test_bad_parameters():
    with pytest.raises(ParameterError):
        Couplings(Jx=float("nan"))
    with pytest.raises(ParameterError):
        Couplings(h="abc")
    with pytest.raises(ParameterError):
        check_model("potts")
