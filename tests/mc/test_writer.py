"""What the driver stores beside each configuration, and how (spinsym.mc.run).

* The multi-spin kernel's per-sample counts (spinsym.mc.msc bond and spin sums, combined by
  spinsym.models.ising.energy_from_sums) give THE energy and magnetization bit for bit:
  checked against ``hamiltonians.energy`` and the model's ``magnetization`` on random lattices
  and couplings (hypothesis), every coupling class the kernel runs, and through ``simulate``.
* The XY kernels' stored-sample energies and magnetizations (spinsym.mc.xy.stored_observables)
  are ``hamiltonians.xy_energy`` and the model's ``magnetization`` of the stored float32 angles,
  bit for bit (hypothesis over sizes, couplings and signed zeros; through ``simulate``).
* Kernels that declare ``batches`` give the same bits in one call as in one call per sample.
* ``threads = 1`` runs everything in the calling thread: no thread is started.
* Samples reach the writer in few, large appends; a run in memory is filled in place.
"""

import os
import threading

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import spinsym
from spinsym import models
from spinsym.hamiltonians import Couplings, energy
from spinsym.hamiltonians import xy_energy
from spinsym.mc import msc, xy
from spinsym.mc.run import SimulationConfig, simulate
from spinsym.models.ising import energy_from_sums
from spinsym.runs import RunBuilder
from tests.conftest import random_spins

ISING = models.get("ising")
coupling = st.one_of(st.sampled_from([0.0, 1.0, -1.0, 0.5, -0.25]),
                     st.floats(-3.0, 3.0, allow_nan=False, allow_subnormal=False))


@settings(max_examples=60, deadline=None)
@given(half=st.integers(1, 40), seed=st.integers(0, 2**32 - 1), Jx=coupling, Jy=coupling,
       J2=coupling, h=coupling, bias=st.floats(0.0, 1.0))
def test_counted_energy_is_the_energy_bit_for_bit(half, seed, Jx, Jy, J2, h, bias):
    L = 2 * half
    rng = np.random.default_rng(seed)
    spins = np.where(rng.random((L, L)) < bias, 1, -1).astype(np.int8)
    c = Couplings(Jx, Jy, J2, h)
    sums = msc.bond_sums(spins)[None]
    want = np.asarray(energy("ising", spins[None], c), dtype=np.float64)
    assert energy_from_sums(sums, c).tobytes() == want.tobytes()
    m = sums[:, 3].astype(np.float64) / (L * L)
    assert m.tobytes() == ISING.magnetization(spins[None]).tobytes()


@pytest.mark.parametrize("L", [2, 4, 6, 132, 134, 512])
def test_counted_sums_at_special_layouts(L):
    """One lane per word (L = 134), partial words (132), L = 2 (x+1 = x-1), B = 64 (512)."""
    spins = random_spins(L, L)
    c = Couplings(0.7, -1.3, 0.3, 0.11)
    want = energy("ising", spins[None], c)
    assert energy_from_sums(msc.bond_sums(spins)[None], c).tobytes() == want.tobytes()


CLASSES = [  # (algorithm, couplings): every class the multi-spin kernel runs
    ("metropolis", Couplings(1.0, 1.0, 0.0, 0.0)),      # isotropic fast path
    ("metropolis", Couplings(-1.0, -1.0, 0.0, 0.0)),    # antiferromagnet, fast path
    ("metropolis", Couplings(1.0, 0.4, 0.0, 0.3)),      # anisotropic, field
    ("metropolis", Couplings(1.0, 1.0, -0.6, 0.0)),     # diagonals
    ("metropolis", Couplings(0.0, 1.0, 0.0, 0.0)),      # a zero coupling (signed zeros)
    ("heatbath", Couplings(1.0, -0.7, 0.0, -0.2)),
    ("metropolis-scalar", Couplings(1.0, 0.6, -0.7, 0.25)),  # energy from the model
]


@pytest.mark.parametrize("algorithm,c", CLASSES)
def test_stored_energy_and_magnetization_are_the_models(algorithm, c):
    run = spinsym.simulate("ising", L=12, T=[1.5, 3.0], couplings=c, algorithm=algorithm,
                           sweeps=60, thermalize=5, every=3, seed=2)
    for g in run:
        assert g.attrs["kernel"] == ("scalar" if algorithm.endswith("scalar") else "multispin")
        E = np.asarray(energy("ising", g.configs, c), dtype=np.float64)
        assert g.energy.tobytes() == E.tobytes()
        assert g.magnetization.tobytes() == ISING.magnetization(g.configs).tobytes()


def _os_threads():
    return len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else None


@pytest.mark.parametrize("L,T", [(16, [2.0, 2.5, 3.0]), (msc.STRIP_MIN_L, [2.269])])
def test_one_thread_means_no_thread_started(tmp_path, L, T):
    seen = []

    def progress(n):
        seen.append((threading.current_thread() is threading.main_thread(),
                     threading.active_count(), _os_threads()))

    for t in threading.enumerate():  # worker threads of earlier runs, closed but still exiting
        if t.daemon and t is not threading.current_thread():
            t.join(timeout=2.0)
    before = (True, threading.active_count(), _os_threads())
    cfg = SimulationConfig(model="ising", L=L, temperatures=tuple(T), sweeps=4, thermalize=2,
                           every=2, threads=1)
    simulate(cfg, str(tmp_path / "one.h5"), progress=progress)
    assert seen and all(s == before for s in seen), (before, seen)


class _CountingSink(RunBuilder):
    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.appends = []

    def append(self, index, configs, energy, magnetization=None):
        self.appends.append((index, len(configs)))
        return super().append(index, configs, energy, magnetization=magnetization)


def test_samples_are_appended_in_blocks():
    cfg = SimulationConfig(model="ising", L=16, temperatures=(2.0, 2.5), sweeps=600,
                           thermalize=10, every=1, threads=1)
    sink = _CountingSink("ising", 16)
    run = simulate(cfg, None, sink=sink)
    assert sorted(sink.appends) == [(0, 600), (1, 600)]  # one append per group
    assert [g.n_samples for g in run] == [600, 600]


@pytest.mark.parametrize("model", ["ising", "xy"])
def test_background_appends_give_the_same_bits(monkeypatch, model):
    """With more than one thread the appends (and the model's energy pass) run in a
    background thread, one flush in flight, while the chain goes on."""
    from spinsym.mc import run as mc_run

    monkeypatch.setattr(mc_run, "BLOCK_UPDATES", 12 * 12 * 20)  # steps of 20 sweeps
    monkeypatch.setattr(mc_run, "FLUSH_SITES", 12 * 12 * 7)  # many flushes
    cfg = dict(model=model, L=12, temperatures=(1.0,), sweeps=300, thermalize=10, every=2)
    runs = []
    for threads in (1, 2):
        sink = _CountingSink(model, 12)
        sink.threads = set()
        append = sink.append

        def recording(*a, _append=append, _sink=sink, **kw):
            _sink.threads.add(threading.current_thread() is threading.main_thread())
            return _append(*a, **kw)

        sink.append = recording
        runs.append((simulate(SimulationConfig(**cfg, threads=threads), None, sink=sink),
                     sink))
    (one, s1), (two, s2) = runs
    assert s1.threads == {True} and s2.threads == {False}  # in line / in the background
    assert len(s2.appends) > 5
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a.configs, b.configs)
        assert a.energy.tobytes() == b.energy.tobytes()
        assert a.magnetization.tobytes() == b.magnetization.tobytes()


def test_background_append_error_is_raised(monkeypatch):
    from spinsym.errors import DataError
    from spinsym.mc import run as mc_run

    monkeypatch.setattr(mc_run, "BLOCK_UPDATES", 16 * 16 * 4)
    monkeypatch.setattr(mc_run, "FLUSH_SITES", 16 * 16 * 3)

    class Failing(RunBuilder):
        calls = 0

        def append(self, *a, **kw):
            Failing.calls += 1
            if Failing.calls == 3:
                raise DataError("disk full writing x.h5")
            return super().append(*a, **kw)

    cfg = SimulationConfig(model="ising", L=16, temperatures=(2.0,), sweeps=200, thermalize=0,
                           every=1, threads=2)
    with pytest.raises(DataError, match="disk full"):
        simulate(cfg, None, sink=Failing("ising", 16))


XY = models.get("xy")


def _xy_observables(theta, c):
    obs = np.empty((theta.shape[0], 3))
    xy.stored_observables(theta, c.Jx, c.Jy, c.J2, c.h, obs, np.getbufsize())
    return obs


def _assert_xy_observables(theta, c):
    obs = _xy_observables(theta, c)
    stored = theta.astype(np.float32)
    want = np.asarray(xy_energy(stored, c.Jx, c.Jy, c.J2, c.h), dtype=np.float64)
    assert obs[:, 0].copy().tobytes() == want.tobytes()
    assert obs[:, 1:].copy().tobytes() == XY.magnetization(stored).tobytes()


@settings(max_examples=80, deadline=None)
@given(L=st.integers(2, 40), n=st.integers(1, 3), seed=st.integers(0, 2**32 - 1),
       Jx=coupling, Jy=coupling, J2=st.one_of(coupling, st.just(-0.0)), h=coupling,
       ordered=st.booleans())
def test_xy_counted_energy_is_the_energy_bit_for_bit(L, n, seed, Jx, Jy, J2, h, ordered):
    rng = np.random.default_rng(seed)
    theta = rng.uniform(0.0, 2 * np.pi, size=(n, L, L))
    if ordered:  # equal angles: bond cosines of exactly 1, sums with many equal terms
        theta[:] = theta[:, :1, :1]
    _assert_xy_observables(theta, Couplings(Jx, Jy, J2, h))


@pytest.mark.parametrize("L", [129, 130, 257])
def test_xy_counted_energy_long_sums(L):
    """Rows longer than NumPy's pairwise block (128) and lattices of more than one NumPy
    buffer (8192 sites): the split sums."""
    theta = np.random.default_rng(L).uniform(0.0, 2 * np.pi, size=(2, L, L))
    _assert_xy_observables(theta, Couplings(1.0, 0.5, 0.0, 0.3))
    _assert_xy_observables(theta, Couplings(-1.0, 1.0, 0.25, 0.0))


@pytest.mark.parametrize("algorithm,c,overrelax", [
    ("metropolis", Couplings(1.0, 1.0, 0.0, 0.0), 0),
    ("metropolis", Couplings(1.0, -0.5, 0.3, 0.2), 2),
    ("wolff", Couplings(1.0, 0.7, -0.2, 0.0), 0),
])
@pytest.mark.parametrize("L", [6, 7])
def test_xy_stored_energy_and_magnetization_are_the_models(algorithm, c, overrelax, L):
    run = spinsym.simulate("xy", L=L, T=[0.5, 1.5], couplings=c, algorithm=algorithm,
                           overrelax=overrelax, sweeps=40, thermalize=5, every=4, seed=3)
    for g in run:
        E = np.asarray(energy("xy", g.configs, c), dtype=np.float64)
        assert g.energy.tobytes() == E.tobytes()
        assert g.magnetization.tobytes() == XY.magnetization(g.configs).tobytes()


def _kernels_that_batch():
    for model in ("ising", "xy"):
        for name, algorithm in models.get(model).algorithms.items():
            yield model, name, algorithm


@pytest.mark.parametrize("model,name,algorithm", list(_kernels_that_batch()),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_batching_kernels_give_the_same_bits_in_one_call(model, name, algorithm):
    """``Kernel.batches``: one call storing n samples equals n calls storing one (samples,
    state, random stream, count); the driver relies on it."""
    L = 8
    cfg = SimulationConfig(model=model, L=L, temperatures=(1.0 if model == "xy" else 2.3,),
                           algorithm=name, sweeps=10, thermalize=0, every=1)
    kernels = [algorithm.make(cfg, 0.5) for _ in range(2)]
    if not kernels[0].batches:
        assert model == "xy" and name != "metropolis"  # restart from the stored angles
        return
    rng = np.random.default_rng(4)
    start = models.get(model).random_state(rng, L)
    seed = np.array([1, 2, 3, 4], dtype=np.uint64)
    n, every = 5, 3
    states = [np.array(start), np.array(start)]
    rngs = [seed.copy(), seed.copy()]
    one = np.empty((n, L, L), states[0].dtype)
    count1 = kernels[0](states[0], rngs[0], n, every, one, False)
    many = np.empty_like(one)
    count2 = sum(int(kernels[1](states[1], rngs[1], 1, every, many[i:i + 1], False))
                 for i in range(n))
    assert one.tobytes() == many.tobytes()
    assert states[0].tobytes() == states[1].tobytes() and rngs[0].tobytes() == rngs[1].tobytes()
    assert int(count1) == count2


def test_run_in_memory_is_filled_in_place():
    """The kernels write into the run's own arrays (RunBuilder.reserve): appending that room
    copies nothing, and a room filled in pieces, after earlier appends, commits in order."""
    sink = RunBuilder("ising", 4)
    sink.group(0, {"T": 1.0})
    first = random_spins(4, 1, R=2)
    sink.append(0, first, np.zeros(2))
    room = sink.reserve(0, 5)
    room[:] = random_spins(4, 2, R=5)
    sink.append(0, room[:3], np.arange(3.0))
    sink.append(0, room[3:], np.arange(3.0, 5.0))
    run = sink.commit()
    g = run[0]
    assert g.n_samples == 7 and g.attrs["n_samples"] == 7
    np.testing.assert_array_equal(g.configs, np.concatenate([first, room]))
    assert g.energy.tolist() == [0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0]
    assert g.magnetization.tobytes() == ISING.magnetization(g.configs).tobytes()

    cfg = SimulationConfig(model="ising", L=16, temperatures=(2.0,), sweeps=50, thermalize=5,
                           every=1, threads=1)

    class Reserving(RunBuilder):
        def reserve(self, index, n):
            self.room = super().reserve(index, n)
            return self.room

    sink = Reserving("ising", 16)
    run = simulate(cfg, None, sink=sink)
    assert np.shares_memory(run[0].configs, sink.room)  # no copy: the kernel wrote there
