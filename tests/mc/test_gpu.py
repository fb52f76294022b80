"""Tests of the GPU checkerboard path (spinsym.mc.gpu).

Everywhere (CI has no GPU):

* Philox4x32-10 against Random123's known-answer vectors; the packed layout; the threshold
  tables (exact probabilities, the CPU kernels' ΔE convention); configuration errors.
* The NumPy reference of the kernel (:func:`spinsym.mc.gpu.reference_half_sweep`, the same
  update and the same random stream) against exact results: enumeration at L = 4 and the row
  transfer matrix at L = 8, isotropic, anisotropic, antiferromagnetic, Jx·Jy < 0, in a field,
  Metropolis and heat bath.  Error bars come from R independent lattices (distinct Philox
  streams): σ = std of the R per-lattice means / √R, no autocorrelation estimate needed.
* The CUDA kernel itself, run by Numba's CUDA simulator in a subprocess
  (NUMBA_ENABLE_CUDASIM=1), bit for bit against the reference (spins, accepted counts), with
  tie decisions (the second Philox call) exercised; and simulate_gpu end to end.

With a GPU (skipped cleanly without one): the compiled kernel bit for bit against the
reference, independence of the launch configuration, large statistics against the exact
results, and simulate_gpu end to end.

The multi-spin-coded kernel (:class:`spinsym.mc.gpu.MultiSpinGPU`, 32 sites of one lattice
per word) has the same three layers: its layout and class tables; its NumPy reference
(:func:`spinsym.mc.gpu.reference_msc_half_sweep`, site by site in the natural layout, from the
byte-lane tables, so it shares neither the class tables nor the bitwise logic of the kernel)
against the transfer matrix at L = 8; the kernel bit for bit against that reference under the
simulator (L = 2, 8, 64, 70, 130: part-filled, full and several words per half row) and, on a
GPU, at large L with several launch shapes, plus statistics and simulate_gpu on the GPU.

Only numpy, numba, h5py and spinsym's hamiltonians/exact/data are imported (no scipy), so the
file also runs on the GPU machine with a carried numpy 1.26.
"""

import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from spinsym.errors import ParameterError
from spinsym.exact import enumerate_ising, transfer_matrix_ising
from spinsym.hamiltonians import Couplings, ising_energy
from spinsym.mc import gpu
from tests.conftest import random_spins

N_SIGMA = 4.5
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HAS_GPU = gpu.gpu_available()
needs_gpu = pytest.mark.skipif(not HAS_GPU, reason="needs an NVIDIA GPU (numba.cuda)")


# ----------------------------------------------------------------------------------------------
# building blocks


def test_philox_known_answers():
    """Random123's kat_vectors for philox4x32-10."""
    cases = [
        ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
        ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
        ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
         (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
    ]
    for ctr, key, want in cases:
        got = gpu.philox4x32(*ctr, *key)
        assert tuple(int(v) for v in got) == want
    # vectorized == scalar
    c0 = np.arange(5, dtype=np.uint32)
    vec = gpu.philox4x32(c0, 7, 8, 9, 10, 11)
    for k in range(5):
        one = gpu.philox4x32(k, 7, 8, 9, 10, 11)
        assert tuple(int(v[k]) for v in vec) == tuple(int(v) for v in one)


@pytest.mark.parametrize("L,R", [(2, 1), (4, 3), (6, 4), (8, 9)])
def test_layout_round_trip(L, R):
    s = random_spins(L, L + R, R)
    w = gpu.to_colours(s)
    assert w.shape == (2, -(-R // 4), L, L // 2) and w.dtype == np.uint32
    np.testing.assert_array_equal(gpu.from_colours(w, R), s)
    # colour c, row y, word i holds site x = 2i + ((y + c) & 1); byte b holds lattice 4g + b
    y, i, c = 1, L // 2 - 1, 0
    x = 2 * i + ((y + c) & 1)
    assert (int(w[c, 0, y, i]) & 0xFF) == (s[0, y, x] > 0)


def test_thresholds_are_exact_and_match_cpu_convention():
    from spinsym.mc.ising import _index, _table

    rng = np.random.default_rng(1)
    for heatbath in (False, True):
        for _ in range(5):
            beta = rng.uniform(0.05, 2.0)
            Jx, Jy, h = rng.normal(size=3)
            p = gpu.flip_probabilities(beta, Jx, Jy, h, heatbath)
            cpu = _table(beta, Jx, Jy, 0.0, h, heatbath)
            for sb in (0, 1):
                for xs in (0, 1, 2):
                    for ys in (0, 1, 2):
                        want = cpu[_index(2 * sb - 1, 2 * xs - 2, 2 * ys - 2, 0)]
                        got = p[sb + 2 * xs + 8 * ys]
                        if want > 1.5:  # CPU: accept without a random number
                            assert got == math.inf
                        else:
                            assert got == want  # bit for bit
                            top, mid, low = gpu.threshold_parts(got)
                            T = (top << 56) | (mid << 24) | low
                            assert T == math.ceil(math.ldexp(got, 64))
                            if got >= 2.0 ** -11:
                                assert math.ldexp(T, -64) == got  # P(U < T) is exactly p
    assert gpu.threshold_parts(math.inf) == (gpu.ALWAYS, 0, 0)
    assert gpu.threshold_parts(0.0) == (0, 0, 0)


@pytest.mark.parametrize("bad", [
    dict(model="xy", algorithm="metropolis"),
    dict(algorithm="wolff"),
    dict(couplings=Couplings(1.0, 1.0, 0.5, 0.0)),
])
def test_unsupported_configurations(bad):
    from spinsym.mc.run import SimulationConfig

    kw = dict(model="ising", L=8, temperatures="2.0", algorithm="metropolis", sweeps=10, every=1)
    kw.update(bad)
    cfg = SimulationConfig(**kw)
    with pytest.raises(ParameterError, match="--device cuda"):
        gpu.check_config(cfg)


@pytest.mark.skipif(HAS_GPU, reason="checks the no-GPU message")
def test_no_gpu_gives_one_clear_error(tmp_path):
    from spinsym.mc.run import SimulationConfig

    cfg = SimulationConfig(model="ising", L=8, temperatures="2.0", sweeps=10, every=1)
    with pytest.raises(ParameterError) as info:
        gpu.simulate_gpu(cfg, str(tmp_path / "x.h5"))
    msg = str(info.value)
    assert "--device cuda" in msg and "\n" not in msg
    assert not list(tmp_path.iterdir())


# ----------------------------------------------------------------------------------------------
# the NumPy reference: dynamics and statistics


def _reference_run(L, couplings, T, algorithm, R, sweeps, therm, seed, key=(5, 6)):
    """R independent lattices; per-lattice means of e (per site) and m² after ``therm``."""
    w = gpu.to_colours(random_spins(L, seed, R))
    top, mid, low = gpu.thresholds([1.0 / T] * R, couplings, algorithm)
    key = (key[0] + seed, key[1])
    c = couplings
    e_sum = np.zeros(R)
    m2_sum = np.zeros(R)
    t = 0
    for sweep in range(therm + sweeps):
        for colour in (0, 1):
            gpu.reference_half_sweep(w, top, mid, low, key, t, colour)
            t += 1
        if sweep >= therm:
            s = gpu.from_colours(w, R)
            e_sum += ising_energy(s, c.Jx, c.Jy, c.J2, c.h) / L ** 2
            m2_sum += s.mean(axis=(1, 2), dtype=np.float64) ** 2
    return e_sum / sweeps, m2_sum / sweeps


def _check(per_lattice, exact, max_err=0.01):
    for name, values in zip(("energy_per_site", "m2"), per_lattice):
        values = np.asarray(values)
        mean = values.mean()
        err = values.std(ddof=1) / math.sqrt(len(values))
        assert err < max_err, (name, mean, err)  # the check has power
        assert abs(mean - exact[name]) < N_SIGMA * err, (name, mean, exact[name], err)


def test_reference_beta_zero_flips_every_site():
    L, R = 6, 5
    s = random_spins(L, 3, R)
    w = gpu.to_colours(s)
    top, mid, low = gpu.thresholds([0.0] * R, Couplings(1.0, -0.5, 0.0, 0.3), "metropolis")
    counts = np.zeros(w.shape[1] * 4, np.int64)
    for t in range(4):
        gpu.reference_half_sweep(w, top, mid, low, (1, 2), t, t & 1, counts)
    np.testing.assert_array_equal(gpu.from_colours(w, R), s)  # flipped twice
    assert np.all(counts[:R] == 2 * L * L)


@pytest.mark.parametrize("c", [Couplings(1.0, 0.7, 0.0, 0.05), Couplings(-1.0, 0.45, 0.0, 0.05)])
def test_reference_zero_temperature_quench(c):
    L, R = 16, 4
    w = gpu.to_colours(random_spins(L, 4, R))
    top, mid, low = gpu.thresholds([1e6] * R, c, "metropolis")
    E = [ising_energy(gpu.from_colours(w, R), c.Jx, c.Jy, c.J2, c.h)]
    for t in range(200):
        gpu.reference_half_sweep(w, top, mid, low, (3, 4), t, t & 1)
        E.append(ising_energy(gpu.from_colours(w, R), c.Jx, c.Jy, c.J2, c.h))
    E = np.array(E)
    assert np.all(np.diff(E, axis=0) <= 1e-9)
    assert np.all(E[-1] < E[0])


SMALL_CASES = {  # L = 4, against enumeration
    "antiferro-field": (Couplings(-1.0, -0.5, 0.0, 0.8), 1.5, "metropolis"),
    "JxJy<0": (Couplings(1.0, -0.6, 0.0, 0.0), 1.5, "heatbath"),
}
LARGE_CASES = {  # L = 8, against the transfer matrix
    "ferro-Tc": (Couplings(1.0, 1.0, 0.0, 0.0), 2.269185314213022, "metropolis"),
    "anisotropic-field": (Couplings(1.0, 0.4, 0.0, 0.3), 1.8, "heatbath"),
    "mixed-field": (Couplings(1.0, -0.5, 0.0, 0.3), 2.0, "metropolis"),
}


@pytest.mark.parametrize("case", list(SMALL_CASES))
def test_reference_vs_enumeration_L4(case):
    c, T, algorithm = SMALL_CASES[case]
    out = _reference_run(4, c, T, algorithm, R=128, sweeps=1000, therm=100,
                         seed=sorted(SMALL_CASES).index(case))
    _check(out, enumerate_ising(4, c, T))


@pytest.mark.parametrize("case", list(LARGE_CASES))
def test_reference_vs_transfer_matrix_L8(case):
    c, T, algorithm = LARGE_CASES[case]
    out = _reference_run(8, c, T, algorithm, R=128, sweeps=800, therm=200,
                         seed=10 + sorted(LARGE_CASES).index(case))
    _check(out, transfer_matrix_ising(8, c, T))


# ----------------------------------------------------------------------------------------------
# the CUDA kernel under Numba's CUDA simulator (no GPU needed)

SIMULATOR_SCRIPT = textwrap.dedent("""
    import numpy as np
    from spinsym.hamiltonians import Couplings
    from spinsym.mc import gpu

    ties = 0
    cases = [(2, 3, "metropolis"), (4, 5, "heatbath"), (6, 8, "metropolis"),
             (8, 4, "heatbath"), (10, 2, "metropolis")]
    for L, R, algorithm in cases:
        rng = np.random.default_rng(L)
        spins = rng.choice(np.array([-1, 1], np.int8), size=(R, L, L))
        betas = rng.uniform(0.2, 1.0, R)
        cs = [Couplings(*rng.normal(size=2), 0.0, rng.normal()) for _ in range(R)]
        key = (123 + L, 456)
        sim = gpu.CheckerboardGPU(spins, betas, cs, algorithm, key=key, count=True,
                                  block=4, grid=(1, 3))
        ref = gpu.to_colours(spins)
        top, mid, low = gpu.thresholds(betas, cs, algorithm)
        counts = np.zeros(ref.shape[1] * 4, np.int64)
        for t in range(6):
            ties += gpu.reference_half_sweep(ref, top, mid, low, key, t, t & 1, counts)
        sim.sweep(3)
        assert np.array_equal(sim.packed(), ref), (L, R, algorithm)
        assert np.array_equal(sim.counts.copy_to_host(), counts), (L, R, algorithm)
        assert np.array_equal(sim.spins(), gpu.from_colours(ref, R))
    assert ties > 0, "no tie decision was exercised"

    # simulate_gpu end to end
    import sys
    from spinsym.data import read
    from spinsym.hamiltonians import energy
    from spinsym.mc.run import SimulationConfig
    cfg = SimulationConfig(model="ising", L=4, temperatures="1.5,2.5,3.5", sweeps=6,
                           thermalize=2, every=2, seed=7,
                           couplings=Couplings(1.0, 0.5, 0.0, 0.2), algorithm="heatbath")
    done = []
    path = gpu.simulate_gpu(cfg, sys.argv[1], progress=done.append, block_sweeps=3)
    ds = read(path)
    assert len(ds) == 3 and sum(done) == 3 * (2 + 6)
    for i, td in enumerate(ds):
        assert td.n_samples == 3 and td.T == cfg.temperatures[i]
        assert td.attrs["device"] == "cuda" and 0 < td.attrs["acceptance"] < 1
        conf = td.configs()
        assert np.array_equal(td.energy(), energy("ising", conf, cfg.couplings))
    print("SIMULATOR-OK", ties)
""")


def test_kernel_under_cuda_simulator_matches_reference(tmp_path):
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", SIMULATOR_SCRIPT, str(tmp_path / "sim.h5")],
                          capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SIMULATOR-OK" in proc.stdout


# ----------------------------------------------------------------------------------------------
# the multi-spin-coded kernel: layout, tables, reference (CPU) and the kernel under the simulator


@pytest.mark.parametrize("L,R", [(2, 1), (8, 3), (64, 2), (70, 2), (130, 1)])
def test_msc_layout_round_trip(L, R):
    s = random_spins(L, L + R, R)
    w = gpu.to_msc(s)
    H, W = L // 2, -(-L // 64)
    assert w.shape == (2, R, L, W) and w.dtype == np.uint32
    np.testing.assert_array_equal(gpu.from_msc(w), s)
    # colour c, row y, bit b of word j is site x = 2(32j + b) + ((y + c) & 1)
    for c, y, i in [(0, 1, H - 1), (1, 0, 0), (1, L - 1, H // 2)]:
        x = 2 * i + ((y + c) & 1)
        assert ((int(w[c, R - 1, y, i // 32]) >> (i % 32)) & 1) == (s[R - 1, y, x] > 0)
    if H % 32:  # padding bits are 0
        assert np.all(w[..., -1] >> np.uint32(H % 32) == 0)


def test_msc_tables_follow_the_byte_lane_tables():
    rng = np.random.default_rng(3)
    for algorithm in ("metropolis", "heatbath"):
        betas = np.concatenate([rng.uniform(0.1, 2.0, 5), [0.0, 1e6]])
        cs = [Couplings(*rng.normal(size=2), 0.0, h) for h in (0.0, 0.4, -1.0, 0.0, 0.2, 0.3,
                                                                0.0)]
        info, mid, low = gpu.msc_tables(betas, cs, algorithm)
        top, bmid, blow = gpu.thresholds(betas, cs, algorithm)
        for r in range(len(betas)):
            for sb in (0, 1):
                for ax in range(3):
                    for ay in range(3):
                        xs, ys = (ax, ay) if sb else (2 - ax, 2 - ay)
                        src = r * gpu.TABLE + sb + 2 * xs + 8 * ys
                        e = r * gpu.MSC_STRIDE + gpu.msc_code(sb, ax, ay)
                        kind, t = int(info[e]) >> 8, int(info[e]) & 0xFF
                        if top[src] == gpu.ALWAYS:
                            assert kind == gpu.KIND_ALWAYS
                        elif top[src] == bmid[src] == blow[src] == 0:
                            assert kind == gpu.KIND_NEVER
                        else:
                            assert kind == gpu.KIND_RANDOM and t == top[src]
                            assert (mid[e], low[e]) == (bmid[src], blow[src])
            # merged (9 class masks) exactly when the two spin values are equivalent: h = 0
            merged = int(info[r * gpu.MSC_STRIDE + gpu.MSC_FLAGS])
            assert merged == (cs[r].h == 0.0 or betas[r] == 0.0), (r, algorithm)


def test_msc_groups_partition_the_random_classes():
    rng = np.random.default_rng(4)
    betas = [0.44, 0.44, 1e6, 0.0, 0.7, 0.3]
    cs = [Couplings(1.0, 1.0, 0.0, 0.0), Couplings(1.0, 1.0, 0.0, 0.1),
          Couplings(1.0, 0.5, 0.0, 0.0)] + [Couplings(*rng.normal(size=3)) for _ in range(3)]
    cs = [Couplings(c.Jx, c.Jy, 0.0, c.h) for c in cs]
    for algorithm in ("metropolis", "heatbath"):
        info, _, _ = gpu.msc_tables(betas, cs, algorithm)
        info = info.reshape(-1, gpu.MSC_STRIDE)
        groups = gpu.msc_groups(info).reshape(-1, gpu.MSC_STRIDE)
        for r, row in enumerate(groups):
            G, merged = int(row[gpu.MSC_FLAGS]) & 0xFF, int(row[gpu.MSC_FLAGS]) >> 8
            assert merged == int(info[r, gpu.MSC_FLAGS])
            n = 9 if merged else gpu.MSC_CODES
            entry = [int(info[r, 2 * k + 1 if merged else k]) for k in range(n)]
            seen = 0
            tops = []
            for e in row[:G]:
                members, top = int(e) & gpu.MSC_SET, int(e) >> 24
                assert members and not members & seen and members >> n == 0
                seen |= members
                tops.append(top)
                for k in range(n):  # a group holds exactly the random classes of its top byte
                    in_group = (entry[k] >> 8 == gpu.KIND_RANDOM and entry[k] & 0xFF == top)
                    assert bool(members >> k & 1) == in_group
            assert tops == sorted(set(tops))
            never = sum(1 << k for k in range(n) if entry[k] >> 8 == gpu.KIND_NEVER)
            assert int(row[gpu.MSC_NEVER]) == never and not never & seen
        # Metropolis at h = 0, isotropic: ΔE = 4 and 8 need a random number, two top bytes
        if algorithm == "metropolis":
            assert int(groups[0, gpu.MSC_FLAGS]) == 2 | 1 << 8


def _msc_reference_run(L, couplings, T, algorithm, R, sweeps, therm, seed, key=(7, 8)):
    """R independent lattices through the multi-spin reference; per-lattice means."""
    w = gpu.to_msc(random_spins(L, seed, R))
    top, mid, low = gpu.thresholds([1.0 / T] * R, couplings, algorithm)
    key = (key[0] + seed, key[1])
    c = couplings
    e_sum = np.zeros(R)
    m2_sum = np.zeros(R)
    t = 0
    for sweep in range(therm + sweeps):
        for colour in (0, 1):
            gpu.reference_msc_half_sweep(w, top, mid, low, key, t, colour)
            t += 1
        if sweep >= therm:
            s = gpu.from_msc(w)
            e_sum += ising_energy(s, c.Jx, c.Jy, c.J2, c.h) / L ** 2
            m2_sum += s.mean(axis=(1, 2), dtype=np.float64) ** 2
    return e_sum / sweeps, m2_sum / sweeps


def test_msc_reference_beta_zero_and_quench():
    L, R = 10, 3  # H = 5: a part-filled word
    s = random_spins(L, 5, R)
    w = gpu.to_msc(s)
    c = Couplings(1.0, -0.5, 0.0, 0.3)
    top, mid, low = gpu.thresholds([0.0] * R, c, "metropolis")
    counts = np.zeros(R, np.int64)
    for t in range(4):
        assert gpu.reference_msc_half_sweep(w, top, mid, low, (1, 2), t, t & 1, counts) == 0
    np.testing.assert_array_equal(gpu.from_msc(w), s)  # every site flipped twice
    assert np.all(counts == 2 * L * L)
    top, mid, low = gpu.thresholds([1e6] * R, c, "metropolis")  # p = 0 or 1: no draw decides
    E = [ising_energy(gpu.from_msc(w), c.Jx, c.Jy, c.J2, c.h)]
    for t in range(60):
        gpu.reference_msc_half_sweep(w, top, mid, low, (3, 4), t, t & 1)
        E.append(ising_energy(gpu.from_msc(w), c.Jx, c.Jy, c.J2, c.h))
    E = np.array(E)
    assert np.all(np.diff(E, axis=0) <= 1e-9) and np.all(E[-1] < E[0])


@pytest.mark.parametrize("case", list(LARGE_CASES))
def test_msc_reference_vs_transfer_matrix_L8(case):
    c, T, algorithm = LARGE_CASES[case]
    out = _msc_reference_run(8, c, T, algorithm, R=128, sweeps=800, therm=200,
                             seed=20 + sorted(LARGE_CASES).index(case))
    _check(out, transfer_matrix_ising(8, c, T))


def test_msc_reference_is_not_the_byte_lane_chain():
    """The two kernels draw different random numbers (each its own documented stream)."""
    L, R = 8, 4
    s = random_spins(L, 9, R)
    top, mid, low = gpu.thresholds([0.4] * R, Couplings(), "heatbath")
    a, b = gpu.to_msc(s), gpu.to_colours(s)
    for t in range(2):
        gpu.reference_msc_half_sweep(a, top, mid, low, (1, 1), t, t & 1)
        gpu.reference_half_sweep(b, top, mid, low, (1, 1), t, t & 1)
    assert not np.array_equal(gpu.from_msc(a), gpu.from_colours(b, R))


def test_gpu_kernel_choice():
    assert gpu.gpu_kernel_class(62) is gpu.CheckerboardGPU
    assert gpu.gpu_kernel_class(64) is gpu.MultiSpinGPU
    assert gpu.gpu_kernel_class(8, "multispin") is gpu.MultiSpinGPU
    assert gpu.gpu_kernel_class(4096, "bytes") is gpu.CheckerboardGPU
    with pytest.raises(ParameterError, match="GPU kernel"):
        gpu.gpu_kernel_class(64, "fast")


MSC_SIMULATOR_SCRIPT = textwrap.dedent("""
    import numpy as np
    from spinsym.hamiltonians import Couplings
    from spinsym.mc import gpu

    ties = 0
    cases = [(2, 3, "metropolis", 1), (8, 3, "heatbath", 2), (64, 1, "metropolis", 1),
             (70, 1, "heatbath", 1), (130, 1, "metropolis", 1), (10, 4, "heatbath", 1),
             (12, 4, "metropolis", 1)]
    for L, R, algorithm, sweeps in cases:
        rng = np.random.default_rng(L)
        spins = rng.choice(np.array([-1, 1], np.int8), size=(R, L, L))
        betas = rng.uniform(0.2, 1.0, R)
        if R == 4:  # classes that never (p = 0) or always (p = 1) flip
            betas[:2] = (1e6, 0.0)
        cs = [Couplings(*rng.normal(size=2), 0.0, rng.normal() if r % 2 else 0.0)
              for r in range(R)]  # h = 0 (9 class masks) and h != 0 (18)
        key = (321 + L, 654)
        ref = gpu.to_msc(spins)
        top, mid, low = gpu.thresholds(betas, cs, algorithm)
        counts = np.zeros(R, np.int64)
        for t in range(2 * sweeps):
            ties += gpu.reference_msc_half_sweep(ref, top, mid, low, key, t, t & 1, counts)
        for block, grid in [(8, (2, 2)), (32, None)]:
            sim = gpu.MultiSpinGPU(spins, betas, cs, algorithm, key=key, count=True,
                                   block=block, grid=grid)
            sim.sweep(sweeps)
            assert np.array_equal(sim.packed(), ref), (L, R, algorithm, block)
            assert np.array_equal(sim.accepted(), counts), (L, R, algorithm, block)
            assert np.array_equal(sim.spins(), gpu.from_msc(ref))
            if L > 8:
                break  # one launch shape is enough for the larger (slower) cases
    assert ties > 0, "no tie decision was exercised"

    import sys
    from spinsym.data import read
    from spinsym.hamiltonians import energy
    from spinsym.mc.run import SimulationConfig
    cfg = SimulationConfig(model="ising", L=8, temperatures="1.5,3.5", sweeps=4, thermalize=1,
                           every=2, seed=5, couplings=Couplings(1.0, 0.5, 0.0, 0.2))
    done = []
    path = gpu.simulate_gpu(cfg, sys.argv[1], progress=done.append, block_sweeps=2,
                            kernel="multispin")
    ds = read(path)
    assert len(ds) == 2 and sum(done) == 2 * (1 + 4)
    for i, td in enumerate(ds):
        assert td.n_samples == 2 and td.attrs["kernel"] == "cuda-multispin"
        assert 0 < td.attrs["acceptance"] < 1
        assert np.array_equal(td.energy(), energy("ising", td.configs(), cfg.couplings))
    print("MSC-SIMULATOR-OK", ties)
""")


def test_msc_kernel_under_cuda_simulator_matches_reference(tmp_path):
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", MSC_SIMULATOR_SCRIPT, str(tmp_path / "m.h5")],
                          capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "MSC-SIMULATOR-OK" in proc.stdout


# ----------------------------------------------------------------------------------------------
# on a GPU


@needs_gpu
@pytest.mark.parametrize("L,R", [(2, 3), (6, 7), (16, 4), (34, 9), (64, 16)])
@pytest.mark.parametrize("algorithm", ["metropolis", "heatbath"])
def test_gpu_kernel_matches_reference(L, R, algorithm):
    rng = np.random.default_rng(L * R)
    spins = random_spins(L, L, R)
    betas = rng.uniform(0.2, 1.0, R)
    cs = [Couplings(*rng.normal(size=2), 0.0, rng.normal()) for _ in range(R)]
    key = (2024 + L, 77)
    ref = gpu.to_colours(spins)
    top, mid, low = gpu.thresholds(betas, cs, algorithm)
    counts = np.zeros(ref.shape[1] * 4, np.int64)
    ties = 0
    for t in range(16):
        ties += gpu.reference_half_sweep(ref, top, mid, low, key, t, t & 1, counts)
    for block, grid in [(None, None), (32, (1, 1)), (64, (3, 5))]:
        sim = gpu.CheckerboardGPU(spins, betas, cs, algorithm, key=key, count=True,
                                  block=block, grid=grid)
        sim.sweep(8)
        np.testing.assert_array_equal(sim.packed(), ref)
        np.testing.assert_array_equal(sim.accepted(), counts[:R])
    if L >= 16:
        assert ties > 0


def _gpu_statistics(L, cases, R_each, sweeps, therm, seed, every=2, cls=gpu.CheckerboardGPU):
    """All cases (and R_each lattices of each) in one ``cls`` simulator; per-lattice means of
    ``sweeps`` measurements, one every ``every`` sweeps."""
    betas, cs = [], []
    for c, T, _ in cases:
        betas += [1.0 / T] * R_each
        cs += [c] * R_each
    R = len(betas)
    algorithm = cases[0][2]
    sim = cls(random_spins(L, seed, R), betas, cs, algorithm, key=(seed, 99))
    sim.sweep(therm)
    e_sum = np.zeros(R)
    m2_sum = np.zeros(R)
    for _ in range(sweeps):
        sim.sweep(every)
        s = sim.spins()
        for k, (c, _, _) in enumerate(cases):  # scalar couplings per case (ising_energy's
            part = slice(k * R_each, (k + 1) * R_each)  # coupling arrays are per bond)
            e_sum[part] += ising_energy(s[part], c.Jx, c.Jy, 0.0, c.h) / L ** 2
        m2_sum += s.mean(axis=(1, 2), dtype=np.float64) ** 2
    e, m2 = e_sum / sweeps, m2_sum / sweeps
    return [(e[k * R_each:(k + 1) * R_each], m2[k * R_each:(k + 1) * R_each])
            for k in range(len(cases))]


GPU_CASES = {
    8: [(Couplings(1.0, 1.0, 0.0, 0.0), 2.269185314213022),
        (Couplings(1.0, 0.4, 0.0, 0.3), 1.8),
        (Couplings(1.0, -0.5, 0.0, 0.3), 2.0),
        (Couplings(-1.0, -1.0, 0.0, 0.0), 2.0),
        (Couplings(0.5, 1.5, 0.0, -0.2), 2.5)],
    4: [(Couplings(-1.0, -0.5, 0.0, 0.8), 1.5),
        (Couplings(1.0, -0.6, 0.0, 0.0), 1.5),
        (Couplings(1.0, 1.0, 0.0, 0.4), 2.5)],
    2: [(Couplings(1.0, 0.6, 0.0, 0.2), 2.0)],
}


@needs_gpu
@pytest.mark.parametrize("algorithm", ["metropolis", "heatbath"])
@pytest.mark.parametrize("L", [8, 4, 2])
def test_gpu_statistics_vs_exact(L, algorithm):
    cases = [(c, T, algorithm) for c, T in GPU_CASES[L]]
    results = _gpu_statistics(L, cases, R_each=512, sweeps=1000, therm=200,
                              seed=L + (1 if algorithm == "heatbath" else 0))
    for (c, T, _), per_lattice in zip(cases, results):
        exact = transfer_matrix_ising(L, c, T) if L > 4 else enumerate_ising(L, c, T)
        _check(per_lattice, exact, max_err=0.003)


@needs_gpu
def test_gpu_simulate_end_to_end(tmp_path):
    pytest.importorskip("h5py")
    from spinsym.data import read
    from spinsym.hamiltonians import energy
    from spinsym.mc.run import SimulationConfig

    cfg = SimulationConfig(model="ising", L=16, temperatures="1.8,2.269,3.0,4.0,5.0",
                           sweeps=400, thermalize=100, every=4, seed=3)
    done = []
    path = gpu.simulate_gpu(cfg, str(tmp_path / "gpu.h5"), progress=done.append)
    ds = read(path)
    assert len(ds) == 5 and sum(done) == 5 * (100 + 400)
    for i, td in enumerate(ds):
        assert td.n_samples == 100 and td.T == cfg.temperatures[i]
        assert td.attrs["device"] == "cuda" and 0 < td.attrs["acceptance"] < 1
        conf = td.configs()
        assert conf.dtype == np.int8 and set(np.unique(conf)) <= {-1, 1}
        np.testing.assert_array_equal(td.energy(), energy("ising", conf, cfg.couplings))
    # same seed, same bits
    again = gpu.simulate_gpu(cfg, str(tmp_path / "again.h5"))
    for a, b in zip(ds, read(again)):
        np.testing.assert_array_equal(a.configs(), b.configs())


@needs_gpu
@pytest.mark.parametrize("L,R", [(2, 3), (8, 5), (64, 2), (70, 3), (130, 2), (514, 1)])
@pytest.mark.parametrize("algorithm", ["metropolis", "heatbath"])
def test_gpu_msc_kernel_matches_reference(L, R, algorithm):
    rng = np.random.default_rng(L * R + 1)
    spins = random_spins(L, L + 1, R)
    betas = rng.uniform(0.2, 1.0, R)
    if R >= 3:  # classes that never (p = 0) or always (p = 1) flip
        betas[:2] = (1e6, 0.0)
    cs = [Couplings(*rng.normal(size=2), 0.0, rng.normal() if r % 2 else 0.0) for r in range(R)]
    key = (4048 + L, 78)
    ref = gpu.to_msc(spins)
    top, mid, low = gpu.thresholds(betas, cs, algorithm)
    counts = np.zeros(R, np.int64)
    ties = 0
    for t in range(8):
        ties += gpu.reference_msc_half_sweep(ref, top, mid, low, key, t, t & 1, counts)
    for block, grid in [(None, None), (32, (1, 1)), (64, (3, 5)), (256, (2, 1))]:
        sim = gpu.MultiSpinGPU(spins, betas, cs, algorithm, key=key, count=True,
                               block=block, grid=grid)
        sim.sweep(4)
        np.testing.assert_array_equal(sim.packed(), ref)
        np.testing.assert_array_equal(sim.accepted(), counts)
    if L >= 64:
        assert ties > 0


@needs_gpu
@pytest.mark.parametrize("algorithm", ["metropolis", "heatbath"])
@pytest.mark.parametrize("L", [8, 4, 2])
def test_gpu_msc_statistics_vs_exact(L, algorithm):
    cases = [(c, T, algorithm) for c, T in GPU_CASES[L]]
    results = _gpu_statistics(L, cases, R_each=512, sweeps=1000, therm=200,
                              seed=100 + L + (1 if algorithm == "heatbath" else 0),
                              cls=gpu.MultiSpinGPU)
    for (c, T, _), per_lattice in zip(cases, results):
        exact = transfer_matrix_ising(L, c, T) if L > 4 else enumerate_ising(L, c, T)
        _check(per_lattice, exact, max_err=0.003)


@needs_gpu
def test_gpu_msc_simulate_end_to_end(tmp_path):
    pytest.importorskip("h5py")
    from spinsym.data import read
    from spinsym.hamiltonians import energy
    from spinsym.mc.run import SimulationConfig

    cfg = SimulationConfig(model="ising", L=64, temperatures="1.8,2.269,3.0",
                           sweeps=200, thermalize=50, every=4, seed=4)
    path = gpu.simulate_gpu(cfg, str(tmp_path / "gpu.h5"))
    ds = read(path)
    for i, td in enumerate(ds):
        assert td.attrs["kernel"] == "cuda-multispin" and td.attrs["device"] == "cuda"
        assert 0 < td.attrs["acceptance"] < 1
        conf = td.configs()
        np.testing.assert_array_equal(td.energy(), energy("ising", conf, cfg.couplings))
    assert ds[0].energy().mean() < ds[1].energy().mean() < ds[2].energy().mean()
    again = gpu.simulate_gpu(cfg, str(tmp_path / "again.h5"))
    for a, b in zip(ds, read(again)):
        np.testing.assert_array_equal(a.configs(), b.configs())
