"""What the driver stores beside each configuration, and how (spinsym.mc.run).

* The multi-spin kernel's per-sample counts (spinsym.mc.msc bond and spin sums, combined by
  spinsym.models.ising.energy_from_sums) give THE energy and magnetization bit for bit:
  checked against ``hamiltonians.energy`` and the model's ``magnetization`` on random lattices
  and couplings (hypothesis), every coupling class the kernel runs, and through ``simulate``.
* ``threads = 1`` runs everything in the calling thread: no thread is started.
* Samples reach the writer in few, large appends.
"""

import os
import threading

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import spinsym
from spinsym import models
from spinsym.hamiltonians import Couplings, energy
from spinsym.mc import msc
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
