"""Tests of the per-bond single-spin Ising kernels: the scalar per-bond kernel
(spinsym.mc.ising.bond_chain) and the multi-spin ±J kernel (spinsym.mc.msc.pm_chain).

* Bit for bit against plain Python reference sweeps: the scalar kernel against a loop that
  computes each site's energy change from its eight bond slots in the documented order (itself
  checked against differences of ``ising_energy``), draws with ``rng.uniform`` and flips with
  ``flip_probability``; the ±J kernel against a word-by-word walk of the packed layout whose
  lanes take the *scalar per-bond kernel's* 53-bit thresholds, so every flip probability of the
  ±J kernel is the scalar kernel's.
* Homogeneous arrays reproduce the homogeneous scalar kernel's chain, and all-plus ±J signs the
  homogeneous multi-spin kernel's, bit for bit (spins, samples, RNG state, count).
* Statistics against exact enumeration (all 2^16 states with ``ising_energy``): Gaussian
  per-bond couplings with both diagonals and a random field at L = 4 and L = 2, and a ±J
  instance at L = 4; ⟨e⟩ and ⟨m²⟩ within 4.5 τ-corrected error bars, error bars asserted
  small, and the exact values of deliberately wrong couplings asserted to be rejected.
* The driver's choice (``Kernel.stats()["kernel"]``).
"""

import math
from types import SimpleNamespace

import numpy as np
import pytest

from spinsym.couplings import BondCouplings
from spinsym.hamiltonians import Couplings, ising_energy
from spinsym.mc import ising, msc
from spinsym.mc.ising import flip_probability
from spinsym.mc.rng import next_u64, uniform
from spinsym.models import get as get_model
from spinsym.stats import mean_err
from tests.conftest import bitplane_flips, random_spins, xoshiro_state

N_SIGMA = 4.5
ALGORITHMS = ("metropolis", "heatbath")


def _gaussian(L, seed, diagonals=True, field=True):
    """Random per-bond couplings (Jx, Jy, J2p, J2m, h) as (L, L) float64 arrays."""
    rng = np.random.default_rng(seed)
    a = [rng.normal(size=(L, L)) for _ in range(5)]
    if not diagonals:
        a[2][:] = a[3][:] = 0.0
    if not field:
        a[4][:] = 0.0
    return tuple(a)


def _pm(L, seed, mags=(1.0, 1.0, 0.0, 0.0)):
    """±J couplings with magnitudes (ax, ay, a2) and a uniform field h, random signs."""
    rng = np.random.default_rng(seed)
    ax, ay, a2, h = mags
    signs = [rng.choice([-1.0, 1.0], size=(L, L)) for _ in range(4)]
    return (ax * signs[0], ay * signs[1], a2 * signs[2], a2 * signs[3], np.full((L, L), h))


def _bond_kernel(heatbath):
    return ising.heatbath_bonds_chain if heatbath else ising.metropolis_bonds_chain


# ----------------------------------------------------------------------------------------------
# the scalar per-bond kernel, bit for bit


def _local_field(J, s, y, x):
    """The eight bond slots of site (y, x) plus its field, in the kernel's documented order."""
    Jx, Jy, J2p, J2m, h = J
    L = s.shape[0]
    yp, ym, xp, xm = (y + 1) % L, (y - 1) % L, (x + 1) % L, (x - 1) % L
    f = (Jx[y, x] * s[y, xp] + Jx[y, xm] * s[y, xm]) + (Jy[y, x] * s[yp, x] + Jy[ym, x] * s[ym, x])
    if np.any(J2p != 0) or np.any(J2m != 0):
        f = f + ((J2p[y, x] * s[yp, xp] + J2p[ym, xm] * s[ym, xm])
                 + (J2m[y, x] * s[yp, xm] + J2m[ym, xp] * s[ym, xp]))
    return f + h[y, x]


def _delta_e(J, s, y, x):
    return 2.0 * float(s[y, x]) * _local_field(J, s.astype(np.float64), y, x)


def _order(L, four):
    if four:
        return [(y, x) for k in range(4) for y in range(k >> 1, L, 2) for x in range(k & 1, L, 2)]
    return [(y, x) for c in range(2) for y in range(L) for x in range((y + c) & 1, L, 2)]


def _reference_sweeps(spins, state, beta, J, nsweep, heatbath):
    """Plain Python per-bond sweep: order, ΔE, flip probability, random numbers."""
    four = bool(np.any(J[2] != 0) or np.any(J[3] != 0))
    acc = 0
    for _ in range(nsweep):
        for y, x in _order(spins.shape[0], four):
            p = flip_probability(_delta_e(J, spins, y, x), beta, heatbath)
            if p == math.inf or uniform(state) < p:  # Metropolis, ΔE <= 0: no draw
                spins[y, x] = -spins[y, x]
                acc += 1
    return acc


@pytest.mark.parametrize("L", [2, 4, 6])
def test_delta_e_is_the_energy_difference(L):
    for trial in range(20):
        J = _gaussian(L, 10 * L + trial, diagonals=trial % 2 == 0)
        s = random_spins(L, trial)
        y, x = divmod(trial * 7 % (L * L), L)
        t = s.copy()
        t[y, x] *= -1
        want = ising_energy(t, J[0], J[1], J[2], J[4], J2m=J[3]) - \
            ising_energy(s, J[0], J[1], J[2], J[4], J2m=J[3])
        assert _delta_e(J, s, y, x) == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("L,diagonals", [(2, True), (2, False), (4, True), (6, False),
                                         (6, True)])
def test_bond_kernel_matches_python_reference(algorithm, L, diagonals):
    heatbath = algorithm == "heatbath"
    J = _gaussian(L, L + 10 * diagonals, diagonals=diagonals)
    beta = 0.7
    spins = random_spins(L, L)
    ref = spins.copy()
    state = xoshiro_state(L)
    ref_state = state.copy()
    out = np.empty((2, L, L), np.int8)
    acc = _bond_kernel(heatbath)(spins, state, beta, *J, 2, out)
    ref_acc = 0
    for i in range(2):
        ref_acc += _reference_sweeps(ref, ref_state, beta, J, 2, heatbath)
        np.testing.assert_array_equal(out[i], ref)
    np.testing.assert_array_equal(spins, ref)
    np.testing.assert_array_equal(state, ref_state)
    assert acc == ref_acc and 0 < acc < 4 * L * L


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("L", [2, 4, 8])
@pytest.mark.parametrize("c", [Couplings(1.0, 0.5, 0.25, 0.125), Couplings(1.0, 0.5, 0.0, 0.125),
                               Couplings(0.7, -1.1, 0.4, 0.3), Couplings(-0.3, 0.1, 0.0, 0.0)])
def test_homogeneous_arrays_reproduce_scalar_kernel(algorithm, L, c):
    """Each pair of same-direction slots sums exactly, so ΔE, the thresholds and the chain are
    the homogeneous scalar kernel's, for any values (not only exactly representable sums)."""
    heatbath = algorithm == "heatbath"
    spins = random_spins(L, 3)
    state = xoshiro_state(4)
    spins2, state2 = spins.copy(), state.copy()
    out, out2 = np.empty((3, L, L), np.int8), np.empty((3, L, L), np.int8)
    scalar = ising.heatbath_chain if heatbath else ising.metropolis_chain
    a = scalar(spins, state, 0.6, c.Jx, c.Jy, c.J2, c.h, 2, out)
    J = BondCouplings.from_scalar(c).arrays(L)
    b = _bond_kernel(heatbath)(spins2, state2, 0.6, *J, 2, out2)
    np.testing.assert_array_equal(out, out2)
    np.testing.assert_array_equal(state, state2)
    assert a == b > 0


def test_beta_zero_flips_every_site_and_heat_bath_draws_once_per_site():
    L = 4
    J = _gaussian(L, 1)
    spins = random_spins(L, 2)
    start = spins.copy()
    out = np.empty((3, L, L), np.int8)
    assert ising.metropolis_bonds_chain(spins, xoshiro_state(1), 0.0, *J, 1, out) == 3 * L * L
    for i in range(3):
        np.testing.assert_array_equal(out[i], start * (-1) ** (i + 1))
    state = xoshiro_state(2)
    ref = state.copy()
    ising.heatbath_bonds_chain(spins, state, 0.0, *J, 1, out)
    for _ in range(3 * L * L):
        next_u64(ref)
    np.testing.assert_array_equal(state, ref)


def test_bad_shapes_raise():
    J = _gaussian(4, 0)
    with pytest.raises(ValueError):
        ising.metropolis_bonds_chain(random_spins(6, 0), xoshiro_state(0), 0.5, *J, 1,
                                     np.empty((1, 6, 6), np.int8))
    with pytest.raises(ValueError):
        ising.bond_tables(*_gaussian(3, 0))


# ----------------------------------------------------------------------------------------------
# the multi-spin ±J kernel, bit for bit


def _pm_reference_sweeps(spins, state, beta, J, nsweep, heatbath):
    """The packed layout's words, lanes' thresholds from the scalar per-bond ΔE, bit planes."""
    L = spins.shape[0]
    n = L // 2
    B, W = msc.lanes(L)
    flips = 0
    for _ in range(nsweep):
        for k in range(4):
            py, px = k >> 1, k & 1
            for i in range(n):
                for w in range(W):
                    sites = [(2 * i + py, 2 * (b * W + w) + px) for b in range(B)]
                    t = [int(ising._threshold(_delta_e(J, spins, y, x), beta, heatbath))
                         for y, x in sites]
                    flip = bitplane_flips(t, state)
                    for b, (y, x) in enumerate(sites):
                        if flip[b]:
                            spins[y, x] = -spins[y, x]
                            flips += 1
    return flips


def _pm_run(spins, state, beta, J, heatbath, every, out):
    mags = msc.pm_magnitudes(*J)
    assert mags is not None
    return msc.pm_chain(spins, state, beta, *mags, msc.sign_planes(*J[:4]), heatbath, every, out)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("L,mags,beta", [
    (2, (1.0, 1.0, 0.0, 0.0), 0.5),      # L = 2: the two slots of a pair are distinct bonds
    (2, (0.7, 1.1, 0.4, 0.3), 0.6),
    (4, (1.0, 0.5, 0.0, 0.2), 0.6),
    (8, (0.3, 0.9, 0.6, -0.1), 0.8),     # magnitudes whose sums are not exact
    (10, (1.0, 1.0, 0.5, 0.0), 0.5),
    (132, (1.0, 1.0, 0.0, 0.0), 0.6),    # W = 2: signs across word boundaries and row ends
])
def test_pm_kernel_matches_python_reference(algorithm, L, mags, beta):
    heatbath = algorithm == "heatbath"
    J = _pm(L, L, mags)
    spins = random_spins(L, L)
    ref = spins.copy()
    state = xoshiro_state(L)
    ref_state = state.copy()
    n_out, every = (1, 1) if L > 100 else (2, 2)
    out = np.empty((n_out, L, L), np.int8)
    flips = _pm_run(spins, state, beta, J, heatbath, every, out)
    ref_flips = 0
    for i in range(n_out):
        ref_flips += _pm_reference_sweeps(ref, ref_state, beta, J, every, heatbath)
        np.testing.assert_array_equal(out[i], ref)
    np.testing.assert_array_equal(state, ref_state)
    assert flips == ref_flips and 0 < flips < n_out * every * L * L


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("L", [2, 8, 16])
@pytest.mark.parametrize("c", [Couplings(1.0, 1.0, 0.0, 0.0), Couplings(1.0, 0.5, 0.25, 0.125),
                               Couplings(0.8, 1.2, 0.0, -0.3), Couplings(1.0, 1.0, 0.5, 0.0)])
def test_pm_kernel_all_plus_reproduces_homogeneous_multispin(algorithm, L, c):
    heatbath = algorithm == "heatbath"
    spins = random_spins(L, 5)
    state = xoshiro_state(6)
    spins2, state2 = spins.copy(), state.copy()
    out, out2 = np.empty((3, L, L), np.int8), np.empty((3, L, L), np.int8)
    homogeneous = msc.heatbath_chain if heatbath else msc.metropolis_chain
    a = homogeneous(spins, state, 0.55, c.Jx, c.Jy, c.J2, c.h, 2, out)
    b = _pm_run(spins2, state2, 0.55, BondCouplings.from_scalar(c).arrays(L), heatbath, 2, out2)
    np.testing.assert_array_equal(out, out2)
    np.testing.assert_array_equal(state, state2)
    assert a == b > 0


def test_pm_magnitudes():
    L = 4
    assert msc.pm_magnitudes(*_pm(L, 0, (1.0, 0.5, 0.25, -0.2))) == (1.0, 0.5, 0.25, -0.2)
    assert msc.pm_magnitudes(*_gaussian(L, 0)) is None
    Jx, Jy, J2p, J2m, h = _pm(L, 0, (1.0, 1.0, 1.0, 0.0))
    assert msc.pm_magnitudes(Jx, Jy, J2p, 0 * J2m, h) is None  # triangular: two magnitudes
    Jx2 = Jx.copy()
    Jx2[0, 0] = 0.0  # a diluted bond
    assert msc.pm_magnitudes(Jx2, Jy, J2p, J2m, h) is None
    h2 = h.copy()
    h2[1, 2] = 0.5
    assert msc.pm_magnitudes(Jx, Jy, J2p, J2m, h2) is None


# ----------------------------------------------------------------------------------------------
# the driver's choice


def _make(algorithm, L, couplings, beta=0.5):
    config = SimpleNamespace(L=L, couplings=couplings)
    return get_model("ising").algorithms[algorithm].make(config, beta)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_kernel_choice_and_same_chain_as_the_kernels(algorithm):
    heatbath = algorithm == "heatbath"
    L = 8
    cases = [(BondCouplings(*_pm(L, 1)), algorithm, "multispin-pmJ"),
             (BondCouplings(*_gaussian(L, 1)), algorithm, "scalar-bonds"),
             (BondCouplings(*_pm(L, 1)), algorithm + "-scalar", "scalar-bonds"),
             (Couplings(1.0, 1.0, 0.0, 0.0), algorithm, "multispin"),
             (Couplings(1.0, 1.0, 0.0, 0.0), algorithm + "-scalar", "scalar")]
    for couplings, name, expected in cases:
        kernel = _make(name, L, couplings)
        assert kernel.stats() == {"kernel": expected}
        if expected.endswith(("pmJ", "bonds")):
            spins, state = random_spins(L, 2), xoshiro_state(3)
            spins2, state2 = spins.copy(), state.copy()
            out, out2 = np.empty((2, L, L), np.int8), np.empty((2, L, L), np.int8)
            a = kernel(spins, state, 2, 3, out, False)
            J = couplings.arrays(L)
            b = (_pm_run(spins2, state2, 0.5, J, heatbath, 3, out2) if expected.endswith("pmJ")
                 else _bond_kernel(heatbath)(spins2, state2, 0.5, *J, 3, out2))
            np.testing.assert_array_equal(out, out2)
            np.testing.assert_array_equal(state, state2)
            assert a == b
    # ±J with diagonals and a field at L = 512: many drawn classes, the scalar kernel is faster
    J = _pm(512, 0, (1.0, 0.6, 0.7, 0.25))
    assert msc.preferred_bonds(512, *J, heatbath) is None
    assert _make(algorithm, 512, BondCouplings(*J)).stats() == {"kernel": "scalar-bonds"}


# ----------------------------------------------------------------------------------------------
# statistics against exact enumeration


def _spin_states(L):
    N = L * L
    idx = np.arange(1 << N, dtype=np.int64)
    bits = (idx[:, None] >> np.arange(N)) & 1
    return (1 - 2 * bits).astype(np.int8).reshape(-1, L, L)


def _exact(L, J, T):
    """⟨e⟩ and ⟨m²⟩ by summing over all 2^(L²) states."""
    s = _spin_states(L)
    E = ising_energy(s, J[0], J[1], J[2], J[4], J2m=J[3])
    w = np.exp(-(E - E.min()) / T)
    w /= w.sum()
    m = s.reshape(len(s), -1).mean(axis=1, dtype=np.float64)
    return {"e": float(w @ E) / (L * L), "m2": float(w @ (m * m))}


def _z_scores(out, J, T, wrong):
    """|mean − exact| / err for ⟨e⟩ and ⟨m²⟩; asserts the error bars are small, and that the
    exact values of the deliberately wrong couplings ``wrong`` are far off (the test has
    power).  Returns the z-scores for the right couplings."""
    L = out.shape[-1]
    exact, bad = _exact(L, J, T), _exact(L, wrong, T)
    series = {"e": ising_energy(out, J[0], J[1], J[2], J[4], J2m=J[3]) / (L * L),
              "m2": out.astype(np.float64).mean(axis=(1, 2)) ** 2}
    z, z_bad = {}, {}
    for name, x in series.items():
        mean, err, tau = mean_err(x)
        assert err < 0.01, (name, err, tau)
        z[name] = abs(mean - exact[name]) / err
        z_bad[name] = abs(mean - bad[name]) / err
    assert max(z_bad.values()) > 4 * N_SIGMA, (z_bad, exact, bad)
    return z


def _sample(kernel, L, n, seed, therm=500):
    spins, state = random_spins(L, seed), xoshiro_state(seed)
    kernel(spins, state, np.empty((1, L, L), np.int8), therm)
    out = np.empty((n, L, L), np.int8)
    kernel(spins, state, out, 1)
    return out


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("L,T,seed", [(4, 1.5, 0), (2, 1.5, 1)])
def test_bond_kernel_vs_enumeration(algorithm, L, T, seed):
    """Gaussian couplings on every bond (both diagonals) and a random field.  The wrong
    reference: the two diagonals swapped (J2p ↔ J2m) at L = 4; on L = 2, where both diagonals
    of a site join it to the same partner, x and y swapped."""
    heatbath = algorithm == "heatbath"
    J = _gaussian(L, 100 + seed)
    fn = _bond_kernel(heatbath)
    out = _sample(lambda s, st, o, every: fn(s, st, 1.0 / T, *J, every, o), L, 40_000,
                  seed + 10 * heatbath)
    wrong = (J[0], J[1], J[3], J[2], J[4]) if L > 2 else (J[1], J[0], J[2], J[3], J[4])
    z = _z_scores(out, J, T, wrong)
    assert max(z.values()) < N_SIGMA, z


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_pm_kernel_vs_enumeration(algorithm):
    """A frustrated ±J instance with diagonals and a field (the multi-spin kernel runs at any
    even L, so L = 4 is enumerable).  The wrong reference: one x-bond's sign flipped."""
    heatbath = algorithm == "heatbath"
    L, T = 4, 1.2
    J = _pm(L, 7, (1.0, 0.8, 0.5, 0.3))
    mags, neg = msc.pm_magnitudes(*J), msc.sign_planes(*J[:4])
    out = _sample(lambda s, st, o, every: msc.pm_chain(s, st, 1.0 / T, *mags, neg, heatbath,
                                                       every, o), L, 40_000, 20 + heatbath)
    Jx = J[0].copy()
    Jx[1, 2] = -Jx[1, 2]
    z = _z_scores(out, J, T, (Jx,) + J[1:])
    assert max(z.values()) < N_SIGMA, z
