"""The sweep driver with local workers: resuming, reproducing, failing jobs, the lock, and
devices."""

import os

import numpy as np
import pytest

from spinsym import sweep as sw
from spinsym.data import read
from spinsym.errors import DataError, ParameterError
from spinsym.mc.gpu import gpu_available
from tests.sweep.conftest import assert_complete, dead_pid, tiny_spec


def test_local_sweep_resume_and_reproduce(tmp_path):
    spec = tiny_spec(L=[4, 6], T=[2.0, 2.5, 3.0])
    out = str(tmp_path / "run")
    rep = sw.run_sweep(spec, out, workers=2)
    assert (rep.total, rep.skipped, rep.ran, rep.failed) == (6, 0, 6, {})
    index = assert_complete(spec, out)
    entry = next(iter(index["jobs"].values()))
    assert entry["observables"]["binder"]["mean"] is not None
    assert index["grid"] == [j.id for j in sw.expand(spec)]

    rep = sw.run_sweep(spec, out, workers=1)
    assert (rep.skipped, rep.ran) == (6, 0)

    jobs = sw.expand(spec)
    jobs_dir = os.path.join(out, sw.JOBS_DIR)
    lost, corrupt, unindexed = jobs[0], jobs[1], jobs[2]
    before = read(os.path.join(out, lost.file)).temperatures[0].configs()
    os.unlink(os.path.join(out, lost.file))
    with open(os.path.join(out, corrupt.file), "r+b") as f:
        f.truncate(100)
    index = sw.read_index(out)
    del index["jobs"][unindexed.id]
    sw.write_index(out, index)
    # left by a crashed job (its process is gone) / by some other process that died
    stale = os.path.join(jobs_dir, f".{lost.id}.h5.{dead_pid()}.abc123.tmp")
    other = os.path.join(jobs_dir, f".notes.txt.{dead_pid()}.abc123.tmp")
    for path in (stale, other):
        open(path, "w").close()
    untouched = {j.id: os.stat(os.path.join(out, j.file)).st_mtime_ns for j in jobs[3:]}

    rep = sw.run_sweep(spec, out, workers=1)
    assert (rep.skipped, rep.ran) == (3, 3)
    assert rep.cleaned == [os.path.join(sw.JOBS_DIR, os.path.basename(stale))]
    assert not os.path.exists(stale) and os.path.exists(other)  # reported, not deleted
    os.unlink(other)
    assert_complete(spec, out)
    assert {j.id: os.stat(os.path.join(out, j.file)).st_mtime_ns for j in jobs[3:]} == untouched
    # the rerun job reproduces its configurations bit for bit (seed derived from coordinates)
    after = read(os.path.join(out, lost.file)).temperatures[0].configs()
    assert np.array_equal(before, after)

    # a changed configuration (more sweeps) reruns every job; extending T runs only new points
    rep = sw.run_sweep(tiny_spec(L=[4, 6], T=[2.0, 2.5, 3.0, 3.5]), out, workers=1)
    assert (rep.skipped, rep.ran) == (6, 2)
    rep = sw.run_sweep(tiny_spec(L=[4], T=[2.0], sweeps=300), out, workers=1)
    assert (rep.skipped, rep.ran) == (0, 1)
    assert len(sw.load_sweep(out)) == 8


def test_failing_job_is_reported_and_rerun(tmp_path, monkeypatch):
    spec = tiny_spec(T=[2.0, 3.0])
    out = str(tmp_path / "fail")
    real = sw.run_job

    def flaky(payload):
        if payload["config"]["temperatures"] == [3.0]:
            raise OSError("disk full")
        return real(payload)

    monkeypatch.setattr(sw.backends, "run_job", flaky)
    rep = sw.run_sweep(spec, out, workers=1)
    assert rep.ran == 1 and list(rep.failed.values()) == ["OSError: disk full"]
    assert "1 failed" in rep.summary()
    assert len(sw.read_index(out)["jobs"]) == 1
    monkeypatch.setattr(sw.backends, "run_job", real)
    rep = sw.run_sweep(spec, out, workers=1)
    assert (rep.skipped, rep.ran, rep.failed) == (1, 1, {})
    assert_complete(spec, out)


def test_directory_lock_and_bad_out(tmp_path):
    out = tmp_path / "locked"
    out.mkdir()
    with sw._Lock(str(out)):
        with pytest.raises(ParameterError, match="another sweep"):
            sw.run_sweep(tiny_spec(), str(out), workers=1)
    with pytest.raises(ParameterError, match="parent does not exist"):
        sw.run_sweep(tiny_spec(), str(tmp_path / "no" / "dir"), workers=1)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ParameterError, match="not a directory"):
        sw.run_sweep(tiny_spec(), str(tmp_path / "file"), workers=1)
    (out / sw.INDEX_NAME).write_text("{not json")
    with pytest.raises(DataError, match="corrupt sweep index"):
        sw.run_sweep(tiny_spec(), str(out), workers=1)


@pytest.mark.skipif(gpu_available(), reason="this machine has a GPU")
def test_cuda_sweep_without_a_gpu_stops_before_anything(tmp_path, monkeypatch):
    monkeypatch.delenv("NUMBA_ENABLE_CUDASIM", raising=False)
    spec = tiny_spec(algorithm="metropolis", device="cuda")
    out = tmp_path / "cuda"
    with pytest.raises(ParameterError, match="needs an NVIDIA GPU"):
        sw.run_sweep(spec, str(out), workers=1)
    assert not out.exists()
    assert sw.plan(spec, str(out))[1] == sw.expand(spec)  # planning needs no GPU
