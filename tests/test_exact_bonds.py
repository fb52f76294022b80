"""Tests of the per-bond exact references in spinsym.exact: enumeration with per-bond couplings,
transfer_matrix_bonds (thermal averages, spin correlations, structure factors, ξ) and
ground_state_bonds, and the triangular and honeycomb lattices of docs/lattices.md.

Runtime: a few seconds (the L = 8 transfer matrices and ground states dominate; L = 10 is slow).
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from spinsym.couplings import BondCouplings
from spinsym.errors import ParameterError
from spinsym.exact import (
    ORDER_PARAMETERS,
    enumerate_ising,
    ground_state_bonds,
    ground_state_energy_per_site,
    second_moment_xi,
    transfer_matrix_bonds,
    transfer_matrix_ising,
)
from spinsym.hamiltonians import Couplings, ising_energy

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "couplings"

SCALAR_KEYS = ("log_z", "energy_per_site", "e2", "specific_heat", "m", "abs_m", "m2", "m4",
               "binder", "susceptibility", "staggered_m2", "stripe_x_m2", "stripe_y_m2") + tuple(
    f"{k}_{o}" for o in ORDER_PARAMETERS for k in ("S0", "Skx", "Sky", "xi_x", "xi_y"))


def random_bonds(L: int, seed, field: bool = True) -> BondCouplings:
    """Independent Gaussian couplings on every bond (both diagonals) and, optionally, fields."""
    rng = np.random.default_rng(seed)
    Jx, Jy, J2p, J2m, h = rng.normal(size=(5, L, L))
    return BondCouplings(Jx, Jy, 0.6 * J2p, 0.6 * J2m, 0.5 * h if field else 0.0)


def triangular_af(L: int) -> BondCouplings:
    return BondCouplings(-1.0, -1.0, -1.0, 0.0, 0.0)


def honeycomb(L: int, J: float = 1.0) -> BondCouplings:
    y, x = np.indices((L, L))
    return BondCouplings(J, np.where((x + y) % 2 == 0, J, 0.0), 0.0, 0.0, 0.0)


def assert_results_close(got: dict, ref: dict, rel=1e-9, abs_=1e-13, keys=SCALAR_KEYS):
    """Scalar keys to rel/abs_; the structure factors are sums of ±⟨s_i s_j⟩ (absolute accuracy
    ~1e-14), so ξ, from S(0)/S(k) − 1, gets the tolerance that error propagates to."""
    for key in keys:
        a, b = got[key], ref[key]
        if key.startswith("xi_"):
            o = key[5:]
            S0, Sk = ref[f"S0_{o}"], ref[f"Sk{key[3]}_{o}"]
            r = S0 / Sk - 1.0
            tol_r = (S0 / Sk) * (abs_ / S0 + abs_ / Sk) + rel * abs(r)
            if abs(r) <= tol_r:
                continue                # ξ undetermined at this precision (nan or not)
            if math.isnan(b):
                assert math.isnan(a), key
            else:
                assert a == pytest.approx(b, rel=tol_r / abs(r) + rel), (key, a, b)
            continue
        if math.isnan(b):
            assert math.isnan(a), key
        else:
            assert a == pytest.approx(b, rel=rel, abs=abs_), (key, a, b)
    for key in ("spin_mean", "spin_corr"):
        if key in got and key in ref:
            np.testing.assert_allclose(got[key], ref[key], rtol=0, atol=1e-12, err_msg=key)


# ----------------------------------------------------------------------------------------------
# brute force with explicit bond loops (independent of hamiltonians.ising_energy)


def _loop_energy(s, arrays) -> float:
    Jx, Jy, J2p, J2m, h = arrays
    L = s.shape[0]
    E = 0.0
    for y in range(L):
        for x in range(L):
            si = s[y, x]
            E -= Jx[y, x] * si * s[y, (x + 1) % L]
            E -= Jy[y, x] * si * s[(y + 1) % L, x]
            E -= J2p[y, x] * si * s[(y + 1) % L, (x + 1) % L]
            E -= J2m[y, x] * si * s[(y + 1) % L, (x - 1) % L]
            E -= h[y, x] * si
    return E


def _loop_brute_force(L: int, c: BondCouplings, T: float) -> dict:
    """log Z, ⟨e⟩, ⟨s_i s_j⟩ and the structure factors ⟨|Σ σ s e^{ik·r}|²⟩/N, state by state."""
    arrays = c.arrays(L)
    N = L * L
    states = [np.array(b, dtype=float).reshape(L, L)
              for b in itertools.product((1.0, -1.0), repeat=N)]
    E = np.array([_loop_energy(s, arrays) for s in states])
    w = np.exp(-(E - E.min()) / T)
    p = w / w.sum()
    y, x = np.indices((L, L))
    k = 2 * math.pi / L
    out = {"log_z": math.log(w.sum()) - E.min() / T, "energy_per_site": p @ E / N,
           "spin_corr": sum(pi * np.multiply.outer(s, s) for pi, s in zip(p, states))}
    for name, sigma in zip(ORDER_PARAMETERS, [np.ones((L, L)), (-1.0) ** (x + y),
                                              (-1.0) ** x, (-1.0) ** y]):
        for key, wave in (("S0", 1.0), ("Skx", np.exp(1j * k * x)), ("Sky", np.exp(1j * k * y))):
            out[f"{key}_{name}"] = sum(pi * abs((sigma * wave * s).sum()) ** 2
                                       for pi, s in zip(p, states)) / N
    return out


@pytest.mark.parametrize("L", [2, 3])
def test_enumeration_per_bond_matches_loops(L):
    c = random_bonds(L, 11 + L)
    ref = _loop_brute_force(L, c, 1.1)
    got = enumerate_ising(L, c, 1.1)
    for key, value in ref.items():
        np.testing.assert_allclose(got[key], value, rtol=1e-11, atol=1e-13, err_msg=key)


# ----------------------------------------------------------------------------------------------
# transfer matrix against enumeration


@settings(derandomize=True, max_examples=12, deadline=None)
@given(L=st.integers(2, 3), seed=st.integers(0, 2**32 - 1), T=st.sampled_from([0.4, 1.0, 3.0]),
       field=st.booleans())
def test_transfer_matrix_bonds_matches_enumeration_small(L, seed, T, field):
    c = random_bonds(L, seed, field)
    assert_results_close(transfer_matrix_bonds(L, c, T), enumerate_ising(L, c, T))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("T", [0.5, 2.0])
def test_transfer_matrix_bonds_matches_enumeration_L4(seed, T):
    c = random_bonds(4, seed)
    assert_results_close(transfer_matrix_bonds(4, c, T), enumerate_ising(4, c, T))


def test_misplaced_bonds_are_detected():
    """The comparisons can fail: the same couplings on the wrong bonds give other results."""
    c = random_bonds(4, 5)
    ref = enumerate_ising(4, c, 1.0)
    Jx, Jy, J2p, J2m, h = c.arrays()
    for wrong in (BondCouplings(Jx, Jy, J2m, J2p, h), BondCouplings(Jx, Jy.T, J2p, J2m, h),
                  BondCouplings(np.roll(Jx, 1, 1), Jy, J2p, J2m, h)):
        got = transfer_matrix_bonds(4, wrong, 1.0)
        assert abs(got["log_z"] - ref["log_z"]) > 1e-3
        assert np.abs(got["spin_corr"] - ref["spin_corr"]).max() > 1e-3


@pytest.mark.parametrize("L", [5, 6])
@pytest.mark.parametrize("c", [Couplings(1.0, 1.0, 0.0, 0.0), Couplings(-1.0, -1.0, 0.0, 0.0),
                               Couplings(1.0, 1.0, -0.7, 0.0), Couplings(0.8, 1.2, 0.25, 0.4),
                               Couplings(1.0, -0.6, 0.0, -0.3), Couplings(-0.5, 1.3, -0.8, 0.45)])
def test_homogeneous_matches_transfer_matrix_ising(L, c):
    keys = SCALAR_KEYS[:13]
    for T in (0.8, 2.4):
        got = transfer_matrix_bonds(L, BondCouplings.from_scalar(c), T)
        # ⟨m_O²⟩ are sums that can cancel in both solvers: ~1e-14 absolute
        assert_results_close(got, transfer_matrix_ising(L, c, T), rel=1e-11, abs_=2e-14, keys=keys)


def test_homogeneous_matches_transfer_matrix_ising_L8():
    c = Couplings(0.8, 1.2, 0.25, 0.4)
    got = transfer_matrix_bonds(8, c, 1.7)
    assert_results_close(got, transfer_matrix_ising(8, c, 1.7), rel=1e-11, abs_=2e-14,
                         keys=SCALAR_KEYS[:13])


def test_correlations_and_structure_factors_are_consistent_L6():
    """Beyond enumeration: ⟨m²⟩ two ways, the translation-invariant ferromagnet's ξ_x = ξ_y,
    and the transposed lattice swapping x and y (with per-bond couplings)."""
    L, T = 6, 2.6
    ferro = transfer_matrix_bonds(L, Couplings(1.0, 1.0, 0.0, 0.0), T)
    assert ferro["m2"] == pytest.approx(ferro["S0_ferro"] / L**2, rel=1e-12)
    assert ferro["xi_x_ferro"] == pytest.approx(ferro["xi_y_ferro"], rel=1e-12)
    assert 0.5 < ferro["xi_x_ferro"] < L
    assert np.allclose(np.einsum("yxyx->yx", ferro["spin_corr"]), 1.0, rtol=0, atol=1e-13)

    n = np.random.default_rng(3).normal(size=(5, L, L))      # a disordered ferromagnet
    c = BondCouplings(1 + 0.4 * n[0], 1 + 0.4 * n[1], 0.3 * n[2], 0.3 * n[3], 0.2 * n[4])
    Jx, Jy, J2p, J2m, h = c.arrays()
    # (y, x) -> (x, y): x-bonds become y-bonds; the bond (y, x)-(y+1, x−1) becomes
    # (x, y)-(x−1, y+1), owned by (x−1, y+1) as its J2m bond
    a, b = np.indices((L, L))
    t = BondCouplings(Jy.T, Jx.T, J2p.T, J2m[(b - 1) % L, (a + 1) % L], h.T)
    r, s = transfer_matrix_bonds(L, c, T), transfer_matrix_bonds(L, t, T)
    assert s["log_z"] == pytest.approx(r["log_z"], rel=1e-12)
    assert s["m2"] == pytest.approx(r["m2"], rel=1e-11)
    assert s["m2"] == pytest.approx(s["S0_ferro"] / L**2, rel=1e-11)
    for o in ("ferro", "staggered"):
        assert s[f"xi_x_{o}"] == pytest.approx(r[f"xi_y_{o}"], rel=1e-10, nan_ok=True)
        assert s[f"xi_y_{o}"] == pytest.approx(r[f"xi_x_{o}"], rel=1e-10, nan_ok=True)
        assert s[f"Skx_{o}"] == pytest.approx(r[f"Sky_{o}"], rel=1e-10)
    assert not math.isnan(s["xi_x_ferro"] + s["xi_y_ferro"])
    assert s["stripe_x_m2"] == pytest.approx(r["stripe_y_m2"], rel=1e-10)
    np.testing.assert_allclose(s["spin_corr"], r["spin_corr"].transpose(1, 0, 3, 2),
                               rtol=0, atol=1e-13)


def test_second_moment_xi_formula():
    L = 8
    k = 2 * math.pi / L
    # S(k) = S0 / (1 + ξ² (2 sin(k/2))²) is inverted exactly
    for xi in (0.3, 2.0, 7.5):
        assert second_moment_xi(10.0, 10.0 / (1 + (xi * 2 * math.sin(k / 2)) ** 2), L) == \
            pytest.approx(xi, rel=1e-13)
    assert math.isnan(second_moment_xi(1.0, 1.5, L))
    np.testing.assert_allclose(second_moment_xi([4.0, 1.0], [1.0, 2.0], L)[:1],
                               [math.sqrt(3) / (2 * math.sin(k / 2))])


def test_glass_beta_derivatives_L6():
    """A ±J glass with both diagonals at T = 0.5: ⟨e⟩ and c are the β-derivatives of ln Z."""
    L = 6
    c = BondCouplings(*np.random.default_rng(6).choice([-1.0, 1.0], size=(4, L, L)), 0.0)
    N = L * L
    beta, d = 2.0, 1e-4

    def log_z(b):
        return transfer_matrix_bonds(L, c, 1 / b)["log_z"]

    r = transfer_matrix_bonds(L, c, 1 / beta)
    lo, mid, hi = log_z(beta - d), log_z(beta), log_z(beta + d)
    assert r["energy_per_site"] == pytest.approx(-(hi - lo) / (2 * d) / N, rel=1e-6)
    assert r["specific_heat"] == pytest.approx(beta**2 * (hi - 2 * mid + lo) / d**2 / N,
                                               rel=1e-3, abs=1e-6)


def test_glass_L8_low_temperature():
    """A ±J glass with both diagonals on L = 8 down to T = 0.05, where ⟨e⟩ is the exact ground
    state (gaps are multiples of 2: corrections ~e^(−40))."""
    L = 8
    c = BondCouplings(*np.random.default_rng(8).choice([-1.0, 1.0], size=(4, L, L)), 0.0)
    gs = ground_state_bonds(c)
    r = transfer_matrix_bonds(L, c, 0.5)
    assert gs["energy_per_site"] < r["energy_per_site"] < gs["energy_per_site"] + 0.05
    assert 0.0 < r["m2"] < 1.0 and r["specific_heat"] > 0.0
    cold = transfer_matrix_bonds(L, c, 0.05)
    assert cold["energy_per_site"] == pytest.approx(gs["energy_per_site"], abs=1e-9)
    assert cold["specific_heat"] == pytest.approx(0.0, abs=1e-9)


# ----------------------------------------------------------------------------------------------
# ground states


def _enumerated_minimum(L: int, c: BondCouplings) -> float:
    Jx, Jy, J2p, J2m, h = c.arrays(L)
    N = L * L
    idx = np.arange(1 << N)
    s = (1 - 2 * ((idx[:, None] >> np.arange(N)) & 1)).reshape(-1, L, L).astype(np.int8)
    return float(ising_energy(s, Jx, Jy, J2p, h, J2m=J2m).min())


@pytest.mark.parametrize("L", [2, 3, 4])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ground_state_bonds_matches_enumeration(L, seed):
    c = random_bonds(L, 100 * L + seed)
    g = ground_state_bonds(c)
    assert g["energy"] == pytest.approx(_enumerated_minimum(L, c), abs=1e-12)
    assert g["config"].shape == (L, L) and g["config"].dtype == np.int8
    Jx, Jy, J2p, J2m, h = c.arrays()
    assert float(ising_energy(g["config"], Jx, Jy, J2p, h, J2m=J2m)) == \
        pytest.approx(g["energy"], abs=1e-12)
    assert g["energy_per_site"] == pytest.approx(g["energy"] / L**2, rel=1e-15)


def test_ground_state_bonds_detects_misplaced_bonds():
    c = random_bonds(4, 7)
    Jx, Jy, J2p, J2m, h = c.arrays()
    wrong = BondCouplings(Jx, Jy, J2m, J2p, h)
    assert abs(ground_state_bonds(wrong)["energy"] - _enumerated_minimum(4, c)) > 1e-3


@pytest.mark.parametrize("c", [Couplings(1.0, 1.0, 0.0, 0.0), Couplings(1.0, 1.0, -0.8, 0.0),
                               Couplings(-1.0, -1.0, 0.2, 1.0), Couplings(-0.5, -0.5, -0.25, 1.5),
                               Couplings(1.0, -2.0, 0.0, 0.5), Couplings(0.3, -1.1, 0.7, -0.2)])
def test_ground_state_bonds_homogeneous_L8(c):
    g = ground_state_bonds(c, 8)
    assert g["energy_per_site"] == pytest.approx(ground_state_energy_per_site(c, 8), abs=1e-12)


def test_ground_state_bonds_random_homogeneous_is_at_most_periodic():
    rng = np.random.default_rng(4)
    for p in rng.uniform(-2, 2, size=(4, 4)):
        c = Couplings(*p)
        assert ground_state_bonds(c, 8)["energy_per_site"] <= \
            ground_state_energy_per_site(c, 8) + 1e-12


@pytest.mark.parametrize("L", [5, 7])
def test_ground_state_bonds_odd_sizes_config_energy(L):
    c = random_bonds(L, L)
    g = ground_state_bonds(c)
    Jx, Jy, J2p, J2m, h = c.arrays()
    assert float(ising_energy(g["config"], Jx, Jy, J2p, h, J2m=J2m)) == \
        pytest.approx(g["energy"], abs=1e-12)
    # no single flip lowers the energy
    for y, x in itertools.product(range(L), range(L)):
        s = g["config"].copy()
        s[y, x] *= -1
        assert float(ising_energy(s, Jx, Jy, J2p, h, J2m=J2m)) >= g["energy"] - 1e-12


@pytest.mark.slow
def test_ground_state_bonds_L10():
    c = random_bonds(10, 10)
    g = ground_state_bonds(c)
    Jx, Jy, J2p, J2m, h = c.arrays()
    assert float(ising_energy(g["config"], Jx, Jy, J2p, h, J2m=J2m)) == \
        pytest.approx(g["energy"], abs=1e-11)
    hom = ground_state_bonds(Couplings(1.0, 1.0, -0.8, 0.0), 10)
    assert hom["energy_per_site"] == pytest.approx(-1.6, abs=1e-12)   # stripes: 2 J2


# ----------------------------------------------------------------------------------------------
# the two lattices that are coupling choices (docs/lattices.md)


@pytest.mark.parametrize("L", [2, 3, 4, 5, 6, 7, 8])
def test_triangular_antiferromagnet_ground_state(L):
    """At best one frustrated bond per triangle: −1 per site, reached on every torus size."""
    g = ground_state_bonds(triangular_af(L), L)
    assert g["energy_per_site"] == pytest.approx(-1.0, abs=1e-12)
    if L == 3:
        assert g["energy"] == pytest.approx(_enumerated_minimum(3, BondCouplings.from_mapping(
            {"Jx": -1, "Jy": -1, "J2p": -1, "J2m": 0, "h": 0}, 3)), abs=1e-12)


def test_triangular_antiferromagnet_residual_entropy_L8():
    """S/N = ln Z/N + ⟨e⟩/T at T -> 0 is close to Wannier's 0.3230659 (infinite lattice) on the
    8 × 8 torus (0.3223), and the energy is the ground state's."""
    r = transfer_matrix_bonds(8, triangular_af(8), 0.1)
    assert r["energy_per_site"] == pytest.approx(-1.0, abs=1e-12)
    entropy = r["log_z"] / 64 + r["energy_per_site"] / 0.1
    assert entropy == pytest.approx(0.3230659, abs=2e-3)


@pytest.mark.parametrize("L", [2, 4, 6, 8])
def test_honeycomb_ferromagnet_ground_state(L):
    g = ground_state_bonds(honeycomb(L), L)
    assert g["energy_per_site"] == pytest.approx(-1.5, abs=1e-12)
    assert abs(int(g["config"].sum())) == L * L


@pytest.mark.parametrize("T", [0.8, 1.5, 3.0])
def test_lattices_transfer_matrix_matches_enumeration_L4(T):
    for c in (triangular_af(4), honeycomb(4)):
        assert_results_close(transfer_matrix_bonds(4, c, T), enumerate_ising(4, c, T))


def test_honeycomb_is_bipartite_and_translation_invariant():
    """The antiferromagnet is gauge-equivalent (s -> (−1)^(x+y) s), and the other brick
    pattern (x + y odd) is a translate."""
    L, T = 6, 1.5
    a = transfer_matrix_bonds(L, honeycomb(L), T)
    b = transfer_matrix_bonds(L, honeycomb(L, -1.0), T)
    assert b["log_z"] == pytest.approx(a["log_z"], rel=1e-13)
    assert b["S0_staggered"] == pytest.approx(a["S0_ferro"], rel=1e-11)
    y, x = np.indices((L, L))
    other = transfer_matrix_bonds(L, BondCouplings(1.0, np.where((x + y) % 2 == 1, 1.0, 0.0),
                                                   0.0, 0.0, 0.0), T)
    for key in ("log_z", "energy_per_site", "specific_heat", "m2", "xi_x_ferro", "xi_y_ferro"):
        assert other[key] == pytest.approx(a[key], rel=1e-11), key


# Values of docs/lattices.md (computed by transfer_matrix_bonds, which the tests above check
# against enumeration at L ≤ 4, transfer_matrix_ising and β-derivatives at L = 8).
DOC_VALUES = {
    "triangular_af_L8.json": (1.0, -1.0, {
        "log_z": 86.0594417085, "energy_per_site": -0.928081538534,
        "specific_heat": 0.200351002608, "m2": 0.00235715122526}),
    "honeycomb_L8.json": (1.5, -1.5, {
        "log_z": 66.9195729273, "energy_per_site": -1.21878678812,
        "specific_heat": 1.05508118478, "m2": 0.682874367186, "binder": 0.610651023731,
        "xi_x_ferro": 9.80555385489, "xi_y_ferro": 5.95905045763}),
}


@pytest.mark.parametrize("name", sorted(DOC_VALUES))
def test_example_couplings_files(name):
    T, e0, values = DOC_VALUES[name]
    c = BondCouplings.load(EXAMPLES / name, L=8)
    assert c.L in (None, 8)   # the triangular file is all numbers (any L)
    assert set(json.loads((EXAMPLES / name).read_text())) == {"Jx", "Jy", "J2p", "J2m", "h"}
    assert ground_state_bonds(c, 8)["energy_per_site"] == pytest.approx(e0, abs=1e-12)
    r = transfer_matrix_bonds(8, c, T)
    for key, value in values.items():
        assert r[key] == pytest.approx(value, rel=1e-9), key


# ----------------------------------------------------------------------------------------------
# input checks


@pytest.mark.parametrize("call", [
    lambda: transfer_matrix_bonds(9, Couplings(), 1.0),
    lambda: transfer_matrix_bonds(1, Couplings(), 1.0),
    lambda: transfer_matrix_bonds(4, random_bonds(3, 0), 1.0),
    lambda: transfer_matrix_bonds(3, random_bonds(3, 0), 0.0),
    lambda: transfer_matrix_bonds(3, "ferro", 1.0),
    lambda: ground_state_bonds(Couplings()),
    lambda: ground_state_bonds(random_bonds(3, 0), 4),
    lambda: ground_state_bonds(Couplings(), 11),
    lambda: enumerate_ising(3, random_bonds(4, 0), 1.0),
])
def test_bad_input_raises_parameter_error(call):
    with pytest.raises(ParameterError):
        call()


def test_mapping_input():
    m = {"Jx": 1.0, "Jy": [[1.0, 0.0], [0.0, 1.0]], "J2p": 0.3, "J2m": 0.0, "h": 0.1}
    a = transfer_matrix_bonds(2, m, 1.2)
    b = transfer_matrix_bonds(2, BondCouplings.from_mapping(m), 1.2)
    assert a["log_z"] == b["log_z"] and a["m2"] == b["m2"]
