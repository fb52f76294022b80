"""Tests of spinsym.exact: enumeration, transfer matrix, Kaufman, ground states, limits.

Runtime: a few seconds (the single L = 10 transfer-matrix run dominates).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from spinsym import exact
from spinsym.errors import ParameterError
from spinsym.exact import (
    ONSAGER_TC,
    critical_temperature,
    enumerate_ising,
    ground_state_energies,
    ground_state_energy_per_site,
    ground_state_ising,
    kaufman_ising,
    onsager_energy_per_site,
    onsager_magnetization,
    tile,
    transfer_matrix_ising,
    xy_energy_high_T,
    xy_energy_low_T,
)
from spinsym.hamiltonians import Couplings, ising_energy

TC = ONSAGER_TC

COUPLING_SETS = {
    "ferro": Couplings(1.0, 1.0, 0.0, 0.0),
    "anisotropic": Couplings(1.0, 0.35, 0.0, 0.0),
    "antiferro": Couplings(-1.0, -1.0, 0.0, 0.0),
    "frustrated_j2": Couplings(1.0, 1.0, -0.7, 0.0),
    "field": Couplings(0.8, 1.2, 0.25, 0.4),
    "jx_jy_opposite": Couplings(1.0, -0.6, 0.0, -0.3),
    "everything": Couplings(-0.5, 1.3, -0.8, 0.45),
}

ALL_KEYS = ("log_z", "energy_per_site", "e2", "specific_heat", "m", "abs_m", "m2", "m4",
            "binder", "susceptibility", "staggered_m2", "stripe_x_m2", "stripe_y_m2")


def close(a, b, rel=1e-9, abs_=1e-14):
    return a == pytest.approx(b, rel=rel, abs=abs_)


# ----------------------------------------------------------------------------------------------
# brute force with explicit neighbour loops (independent of hamiltonians.ising_energy)


def _reference_energy(s, c: Couplings) -> float:
    """The Hamiltonian of docs/conventions.md, each site owning its right, down and two down-diagonal bonds."""
    L = s.shape[0]
    E = 0.0
    for y in range(L):
        for x in range(L):
            si = s[y, x]
            E -= c.Jx * si * s[y, (x + 1) % L]
            E -= c.Jy * si * s[(y + 1) % L, x]
            E -= c.J2 * si * s[(y + 1) % L, (x + 1) % L]
            E -= c.J2 * si * s[(y + 1) % L, (x - 1) % L]
            E -= c.h * si
    return E


def _brute_force(L: int, c: Couplings, T: float) -> dict:
    N = L * L
    states = [np.array(bits, dtype=float).reshape(L, L)
              for bits in itertools.product((1.0, -1.0), repeat=N)]
    E = np.array([_reference_energy(s, c) for s in states])
    M = np.array([s.sum() for s in states]) / N
    y, x = np.indices((L, L))
    Ms = np.array([((-1.0) ** (x + y) * s).sum() for s in states]) / N
    Mx = np.array([((-1.0) ** x * s).sum() for s in states]) / N
    My = np.array([((-1.0) ** y * s).sum() for s in states]) / N
    w = np.exp(-(E - E.min()) / T)
    Z = w.sum()
    p = w / Z
    e = E / N
    return {"log_z": math.log(Z) - E.min() / T, "energy_per_site": p @ e, "e2": p @ e**2,
            "m": p @ M, "abs_m": p @ np.abs(M), "m2": p @ M**2, "m4": p @ M**4,
            "staggered_m2": p @ Ms**2, "stripe_x_m2": p @ Mx**2, "stripe_y_m2": p @ My**2}


@pytest.mark.parametrize("L", [2, 3])
@pytest.mark.parametrize("T", [0.7, 2.5])
def test_enumeration_matches_hand_written_hamiltonian(L, T):
    c = Couplings(0.9, -0.4, 0.3, 0.2)  # all terms on, no symmetry to hide a wrong bond
    got = enumerate_ising(L, c, T)
    ref = _brute_force(L, c, T)
    for key, value in ref.items():
        assert close(got[key], value, rel=1e-11), key


def test_enumeration_derived_quantities_consistent():
    T = 1.7
    r = enumerate_ising(3, COUPLING_SETS["field"], T)
    N = 9
    assert close(r["specific_heat"], N / T**2 * (r["e2"] - r["energy_per_site"] ** 2), rel=1e-8)
    assert close(r["binder"], 1 - r["m4"] / (3 * r["m2"] ** 2))
    assert close(r["susceptibility"], N / T * (r["m2"] - r["abs_m"] ** 2), rel=1e-8)
    # the field h = 0.4 > 0 polarizes up
    assert r["m"] > 0.1


# ----------------------------------------------------------------------------------------------
# transfer matrix against enumeration


@pytest.fixture(scope="module")
def enumerated():
    cache = {}

    def get(L, name, T):
        if (L, name, T) not in cache:
            cache[L, name, T] = enumerate_ising(L, COUPLING_SETS[name], T)
        return cache[L, name, T]

    return get


@pytest.mark.parametrize("L", [2, 3, 4])
@pytest.mark.parametrize("name", list(COUPLING_SETS))
@pytest.mark.parametrize("T", [0.6, TC, 4.0])
def test_transfer_matrix_matches_enumeration(enumerated, L, name, T):
    ref = enumerated(L, name, T)
    got = transfer_matrix_ising(L, COUPLING_SETS[name], T)
    for key in ALL_KEYS:
        assert close(got[key], ref[key]), (key, got[key], ref[key])


def test_transfer_matrix_resolves_tiny_magnetization_moments():
    """Deep in the y-stripe phase ⟨m²⟩ ~ 1e-11: still relative precision (no cancellation)."""
    c = COUPLING_SETS["jx_jy_opposite"]
    ref = enumerate_ising(4, c, 0.3)
    got = transfer_matrix_ising(4, c, 0.3)
    assert 0 < ref["m2"] < 1e-6
    for key in ("m", "abs_m", "m2", "m4", "binder", "susceptibility", "specific_heat"):
        assert close(got[key], ref[key], rel=1e-9, abs_=0.0), key


def test_transfer_matrix_symmetries_L6():
    """Checks beyond enumeration sizes: lattice rotation, spin flip and sublattice gauges."""
    L, T = 6, 2.1
    c = Couplings(0.7, 1.3, -0.35, 0.3)
    base = transfer_matrix_ising(L, c, T)
    rot = transfer_matrix_ising(L, c.rotated90(), T)  # swaps the row and column roles
    for key in ("log_z", "energy_per_site", "specific_heat", "m", "abs_m", "m2", "m4",
                "staggered_m2"):
        assert close(rot[key], base[key], rel=1e-10), key
    assert close(rot["stripe_x_m2"], base["stripe_y_m2"], rel=1e-10)
    flip = transfer_matrix_ising(L, c.spin_flipped(), T)
    assert close(flip["m"], -base["m"], rel=1e-10)
    assert close(flip["energy_per_site"], base["energy_per_site"], rel=1e-10)
    # s -> (−1)^(x+y) s flips Jx, Jy and keeps J2 (h = 0): m² <-> staggered m²
    c0 = Couplings(0.7, 1.3, -0.35, 0.0)
    a = transfer_matrix_ising(L, c0, T)
    b = transfer_matrix_ising(L, Couplings(-0.7, -1.3, -0.35, 0.0), T)
    assert close(b["log_z"], a["log_z"], rel=1e-12)
    assert close(b["staggered_m2"], a["m2"], rel=1e-10)
    assert close(b["m2"], a["staggered_m2"], rel=1e-10)
    # s -> (−1)^x s flips Jx and J2, keeps Jy: m² <-> stripe_x m²
    d = transfer_matrix_ising(L, Couplings(-0.7, 1.3, 0.35, 0.0), T)
    assert close(d["log_z"], a["log_z"], rel=1e-12)
    assert close(d["stripe_x_m2"], a["m2"], rel=1e-10)
    assert close(d["stripe_y_m2"], a["staggered_m2"], rel=1e-10)


# ----------------------------------------------------------------------------------------------
# Kaufman


@pytest.mark.parametrize("L", [4, 5, 6, 8])
@pytest.mark.parametrize("T", [1.5, TC, 3.5])
def test_kaufman_matches_transfer_matrix(L, T):
    k = kaufman_ising(L, T)
    tm = transfer_matrix_ising(L, Couplings(1.0, 1.0, 0.0, 0.0), T)
    for key in ("log_z", "energy_per_site", "specific_heat"):
        assert close(k[key], tm[key], rel=1e-10), key


def test_kaufman_and_transfer_matrix_at_L10():
    k = kaufman_ising(10, TC)
    tm = transfer_matrix_ising(10, Couplings(1.0, 1.0, 0.0, 0.0), TC)
    for key in ("log_z", "energy_per_site", "specific_heat"):
        assert close(k[key], tm[key], rel=1e-10), key


@pytest.mark.parametrize("L, energy", [
    (4, -1.56562378763832), (8, -1.49158910743971), (16, -1.45306485281348),
    (32, -1.43365846614625), (64, -1.42393838983301)])
def test_kaufman_reference_energies_at_tc(L, energy):
    assert kaufman_ising(L, TC)["energy_per_site"] == pytest.approx(energy, abs=1e-12)


@pytest.mark.parametrize("L, c", [(16, 1.49870495940003), (32, 1.84676759003956)])
def test_kaufman_reference_specific_heat_at_tc(L, c):
    assert kaufman_ising(L, TC)["specific_heat"] == pytest.approx(c, abs=1e-11)


def test_kaufman_antiferromagnet_and_scaling():
    a = kaufman_ising(6, 2.0, J=1.0)
    b = kaufman_ising(6, 2.0, J=-1.0)
    assert b == pytest.approx(a, rel=1e-14)
    # J = 2 at T = 4 has the same K as J = 1 at T = 2: energy scales with J, c is unchanged
    d = kaufman_ising(6, 4.0, J=2.0)
    assert d["energy_per_site"] == pytest.approx(2 * a["energy_per_site"], rel=1e-12)
    assert d["specific_heat"] == pytest.approx(a["specific_heat"], rel=1e-12)


@pytest.mark.parametrize("T", [1.5, 3.5])
def test_onsager_energy_is_large_L_limit_of_kaufman(T):
    assert onsager_energy_per_site(T) == pytest.approx(
        kaufman_ising(64, T)["energy_per_site"], abs=1e-10)


def test_onsager_energy_at_tc():
    assert onsager_energy_per_site(TC) == pytest.approx(-math.sqrt(2), abs=1e-12)
    Ts = np.linspace(0.5, 6.0, 40)
    u = onsager_energy_per_site(Ts)
    assert np.all(np.diff(u) > 0)  # c > 0
    assert u[0] == pytest.approx(-2.0, abs=1e-3)


# ----------------------------------------------------------------------------------------------
# ground states


def test_bond_sums_reproduce_ising_energy():
    configs, sums = exact.ground_state_bond_sums(4)
    assert configs.shape == (65536, 4, 4) and configs.dtype == np.int8
    assert len({c.tobytes() for c in configs[::97]}) == configs[::97].shape[0]
    rng = np.random.default_rng(1)
    for cv in rng.normal(size=(3, 4)):
        direct = ising_energy(configs, *cv)
        assert np.allclose(-(sums @ cv), direct, rtol=0, atol=1e-12)


def test_ground_states_isotropic_phases():
    for J1, J2, phase in [(1.0, 0.3, "ferro"), (1.0, -0.3, "ferro"), (-1.0, 0.3, "neel"),
                          (-1.0, -0.4, "neel"), (1.0, -0.8, "stripe"), (-1.0, -0.8, "stripe"),
                          (0.5, -1.5, "stripe")]:
        candidates = {"ferro": -2 * J1 - 2 * J2, "neel": 2 * J1 - 2 * J2, "stripe": 2 * J2}
        assert min(candidates, key=candidates.get) == phase
        g = ground_state_ising(Couplings(J1, J1, J2, 0.0))
        assert g["energy_per_site"] == pytest.approx(candidates[phase], abs=1e-12)
        cfg = g["configs"].astype(float)
        y, x = np.indices((4, 4))
        order = {"ferro": [cfg.mean(axis=(1, 2)) ** 2],
                 "neel": [(cfg * (-1.0) ** (x + y)).mean(axis=(1, 2)) ** 2],
                 "stripe": [(cfg * (-1.0) ** x).mean(axis=(1, 2)) ** 2,
                            (cfg * (-1.0) ** y).mean(axis=(1, 2)) ** 2]}[phase]
        assert np.all(np.max(order, axis=0) == 1.0), phase


def test_ground_state_ferro_minimizers_are_the_two_uniform_states():
    g = ground_state_ising(Couplings(1.0, 1.0, 0.0, 0.0))
    assert g["configs"].shape == (2, 4, 4)
    assert sorted(int(c.sum()) for c in g["configs"]) == [-16, 16]
    # stripes (J2 < −|J1|/2): 2 orientations × 2 phases... × translations = 4 states
    assert ground_state_ising(Couplings(1.0, 1.0, -0.8, 0.0))["configs"].shape[0] == 4


def test_ground_state_anisotropic_and_field():
    for Jy in (-0.5, -2.0):
        e = ground_state_ising(Couplings(1.0, Jy, 0.0, 0.0))["energy_per_site"]
        assert e == pytest.approx(-1.0 - abs(Jy), abs=1e-12)
    # Jx = 1, Jy = −2, a small field keeps the stripe; a large one polarizes: −1 + |Jy| − h
    assert ground_state_energy_per_site(Couplings(1.0, -2.0, 0.0, 0.5), 8) == pytest.approx(-3.0)
    g = ground_state_ising(Couplings(1.0, -2.0, 0.0, 5.0))
    assert g["energy_per_site"] == pytest.approx(-1.0 + 2.0 - 5.0, abs=1e-12)
    assert g["configs"].shape == (1, 4, 4) and np.all(g["configs"] == 1)
    g = ground_state_ising(Couplings(-1.0, -1.0, 0.0, -4.5))  # Néel loses to field (h > 4)
    assert g["configs"].shape == (1, 4, 4) and np.all(g["configs"] == -1)
    assert g["energy_per_site"] == pytest.approx(2.0 - 4.5, abs=1e-12)


def test_ground_state_half_magnetization_phase():
    """Weak frustrated antiferromagnet in a field: the m = 1/2 phase (all bond sums zero)."""
    c = Couplings(-0.5, -0.5, -0.25, 1.5)
    phases = {"ferro": -(c.Jx + c.Jy + 2 * c.J2 + c.h), "neel": c.Jx + c.Jy - 2 * c.J2,
              "stripe": -(c.Jx - c.Jy - 2 * c.J2), "half": -c.h / 2}
    assert min(phases, key=phases.get) == "half"
    g = ground_state_ising(c)
    assert g["energy_per_site"] == pytest.approx(phases["half"], abs=1e-12)
    assert g["energy_per_site"] < min(phases["ferro"], phases["neel"], phases["stripe"]) - 0.1
    m = g["configs"].astype(float).mean(axis=(1, 2))
    assert len(m) == 12 and np.all(m == 0.5)


def test_ground_state_batch_matches_single_calls():
    rng = np.random.default_rng(7)
    params = rng.uniform(-3, 3, size=(300, 4))
    batch = ground_state_energies(params)
    single = [ground_state_ising(Couplings(*p))["energy_per_site"] for p in params]
    assert np.allclose(batch, single, rtol=0, atol=1e-12)
    # each minimizer tiles to an 8 × 8 torus with the same energy per site
    for p in params[:5]:
        g = ground_state_ising(Couplings(*p))
        e = ising_energy(tile(g["configs"], 8), *p) / 64
        assert np.allclose(e, g["energy_per_site"], rtol=0, atol=1e-12)


@pytest.mark.parametrize("c", [Couplings(1.0, 1.0, -0.8, 0.0), Couplings(1.0, -2.0, 0.0, 0.5),
                               Couplings(-1.0, -1.0, 0.2, 1.0), Couplings(-0.5, -0.5, -0.25, 1.5)])
def test_ground_state_is_low_temperature_limit_of_enumeration(c):
    r = enumerate_ising(4, c, 0.02)  # smallest gap here is 1: corrections ~ e^(−50)
    assert r["energy_per_site"] == pytest.approx(ground_state_energy_per_site(c, 4), abs=1e-9)


def test_ground_state_bad_input():
    with pytest.raises(ParameterError):
        ground_state_energy_per_site(Couplings(), 6)
    with pytest.raises(ParameterError):
        ground_state_ising(Couplings(), period=5)
    with pytest.raises(ParameterError):
        ground_state_energies(np.zeros((3, 3)))
    with pytest.raises(ParameterError):
        tile(np.ones((4, 4), dtype=np.int8), 6)


# ----------------------------------------------------------------------------------------------
# Onsager, XY limits, input checks


def test_critical_temperature():
    assert critical_temperature(1.0, 1.0) == pytest.approx(ONSAGER_TC, rel=1e-14)
    assert ONSAGER_TC == pytest.approx(2.269185314213022, rel=1e-15)
    for jx, jy in [(1.0, 0.5), (2.0, 0.1), (-1.0, 3.0)]:
        t = critical_temperature(jx, jy)
        assert math.sinh(2 * abs(jx) / t) * math.sinh(2 * abs(jy) / t) == pytest.approx(1, rel=1e-12)
        assert t == pytest.approx(critical_temperature(jy, jx), rel=1e-14)
    assert critical_temperature(1.0, 0.0) == 0.0
    assert critical_temperature(2.0, 2.0) == pytest.approx(2 * ONSAGER_TC, rel=1e-14)


def test_onsager_magnetization():
    Ts = np.linspace(0.3, 0.999 * TC, 50)
    m = onsager_magnetization(Ts)
    assert np.all(np.diff(m) < 0) and np.all(m > 0)
    x = math.exp(-2 / 0.5)  # low-T series 1 − 2x⁴ − 8x⁶ − 34x⁸, x = e^(−2K)
    assert onsager_magnetization(0.5) == pytest.approx(1 - 2 * x**4 - 8 * x**6, abs=1e-12)
    assert onsager_magnetization(TC * 1.0001) == 0.0
    assert onsager_magnetization(5.0) == 0.0
    assert onsager_magnetization(TC * 0.9999) < 0.5  # β = 1/8 makes the drop steep


def test_xy_limits():
    assert xy_energy_low_T(0.2) == pytest.approx(-1.9)
    assert xy_energy_low_T(0.2, J=2.0) == pytest.approx(-3.9)
    Ts = np.geomspace(0.05, 100, 60)
    hi = xy_energy_high_T(Ts)
    assert np.all(np.diff(hi) > 0) and np.all(hi < 0)
    assert hi[0] == pytest.approx(-2.0, abs=0.06)          # I1/I0 -> 1 as T -> 0
    assert xy_energy_high_T(1e3) * 1e3 == pytest.approx(-1.0, rel=1e-5)  # −J²/T at high T
    import scipy.special as sp
    assert xy_energy_high_T(0.7) == pytest.approx(-2 * sp.iv(1, 1 / 0.7) / sp.iv(0, 1 / 0.7),
                                                  rel=1e-13)
    # the two limits approach each other from their own sides at low T
    assert abs(xy_energy_low_T(0.05) - xy_energy_high_T(0.05)) < 0.05


@pytest.mark.parametrize("call", [
    lambda: enumerate_ising(5, Couplings(), 1.0),
    lambda: enumerate_ising(3, Couplings(), 0.0),
    lambda: transfer_matrix_ising(11, Couplings(), 1.0),
    lambda: transfer_matrix_ising(1, Couplings(), 1.0),
    lambda: transfer_matrix_ising(4, Couplings(), -1.0),
    lambda: transfer_matrix_ising(4, Couplings(), float("nan")),
    lambda: transfer_matrix_ising(4, "ferro", 1.0),
    lambda: kaufman_ising(5, 2.0, J=-1.0),
    lambda: kaufman_ising(4, float("inf")),
    lambda: xy_energy_low_T(-0.1),
    lambda: xy_energy_high_T(0.0),
    lambda: onsager_magnetization([1.0, -1.0]),
])
def test_bad_input_raises_parameter_error(call):
    with pytest.raises(ParameterError):
        call()


def test_couplings_as_tuple():
    a = transfer_matrix_ising(3, (1.0, 0.5, 0.1, 0.2), 1.3)
    b = transfer_matrix_ising(3, Couplings(1.0, 0.5, 0.1, 0.2), 1.3)
    assert a == b
