"""Resumable chains (spinsym.mc.run.resume): a run continued from its file, or from a
checkpoint written mid-run, equals one uninterrupted run bit for bit."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

import spinsym
from spinsym.mc.run import SimulationConfig, resume, simulate


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert np.array_equal(x.configs, y.configs)
        assert np.array_equal(x.energy, y.energy)
        assert np.array_equal(x.magnetization, y.magnetization)
        assert repr(sorted(x.attrs.items())) == repr(sorted(y.attrs.items()))  # NaN too


CASES = [
    ("ising", "metropolis", 8, 0),      # multi-spin kernel
    ("ising", "metropolis", 8, 3),
    ("ising", "wolff", 5, 0),
    ("ising", "wolff", 5, 2),
    ("xy", "metropolis", 4, 0),         # adaptive step
    ("xy", "metropolis", 4, 1),
]


@pytest.mark.parametrize("model, algorithm, L, K", CASES)
def test_resume_equals_one_long_run(model, algorithm, L, K):
    args = dict(L=L, T=[0.9, 1.4, 2.2], algorithm=algorithm, thermalize=30, every=3, seed=8,
                exchange=bool(K), exchange_every=max(K, 1))
    full = spinsym.simulate(model, sweeps=240, **args)
    part = spinsym.simulate(model, sweeps=120, **args)
    _same(spinsym.simulate(resume=part, sweeps=120), full)
    # twice in a row, with an odd split, and through a file
    part = spinsym.simulate(model, sweeps=45, **args)
    step = spinsym.simulate(resume=part, sweeps=90)
    _same(spinsym.simulate(resume=step, sweeps=105), full)


def test_resume_through_files_with_replicas(tmp_path):
    args = dict(L=4, T=[1.5, 2.5], thermalize=20, every=2, seed=1, exchange=True,
                replicas=2)
    full = spinsym.simulate("ising", sweeps=100, **args)
    spinsym.simulate("ising", sweeps=40, **args).save(tmp_path / "part.h5")
    out = spinsym.api.resume_run(tmp_path / "part.h5", sweeps=60, out=tmp_path / "all.h5")
    _same(spinsym.load(out), full)
    assert spinsym.load(out).resume is not None


def test_checkpoint_mid_run_completes_to_the_same_bits(tmp_path):
    """A checkpoint taken while thermalizing and one taken mid-measurement, both with
    exchange, each complete to the uninterrupted run."""
    cfg = SimulationConfig(model="ising", L=4, temperatures=(1.2, 2.0, 3.0), sweeps=400,
                           thermalize=100, every=4, seed=3, exchange_every=3, threads=1)
    out = str(tmp_path / "run.h5")
    kept, calls = [], [0]

    def progress(n):  # the checkpoint of the previous step exists now
        calls[0] += 1
        partial = out + ".partial"
        if calls[0] in (20, 120) and os.path.exists(partial):
            kept.append(str(shutil.copy(partial, tmp_path / f"ck{calls[0]}.h5.partial")))

    simulate(cfg, out, progress=progress, checkpoint_seconds=1e-9)
    assert sorted(os.listdir(tmp_path)) == ["ck120.h5.partial", "ck20.h5.partial", "run.h5"]
    full = spinsym.load(out)
    for ck in kept:
        _same(spinsym.load(resume(ck, 0, ck[:-len(".partial")])), full)


def test_resume_refuses_complete_runs_and_tampered_states(tmp_path):
    run = spinsym.simulate("ising", L=4, T=[2.0], sweeps=20, every=2, thermalize=5)
    with pytest.raises(spinsym.ParameterError, match="complete"):
        spinsym.simulate(resume=run, sweeps=0)
    with pytest.raises(spinsym.ParameterError, match="only sweeps"):
        spinsym.simulate("ising", resume=run, sweeps=10)
    run.resume["arrays"]["T_000/resume/state"] = -run.resume["arrays"]["T_000/resume/state"]
    with pytest.raises(spinsym.DataError, match="does not match"):
        spinsym.simulate(resume=run, sweeps=10)
    bare = spinsym.Run(run.model, run.L, run.groups)
    with pytest.raises(spinsym.DataError, match="no resume state"):
        spinsym.simulate(resume=bare, sweeps=10)
