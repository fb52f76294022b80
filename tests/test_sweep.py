"""Sweeps: the TOML grid, job ids and seeds, the index, resuming, worker loss (local pool and a
Dask LocalCluster), the Binder-crossing estimate and the phase-diagram figure."""

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from spinsym import sweep as sw
from spinsym.data import read
from spinsym.errors import DataError, ParameterError


def dead_pid() -> int:
    """The id of a process that has ended (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def spec_dict(**sweep_over):
    sweep = {"model": "ising", "algorithm": "wolff", "L": [4], "T": [2.0, 3.0], "sweeps": 200,
             "thermalize": 20, "every": 2, "seeds": [1]}
    sweep.update(sweep_over)
    return {"sweep": sweep, "couplings": {"Jx": 1.0, "Jy": 1.0}}


def tiny_spec(**sweep_over):
    return sw.parse_spec(spec_dict(**sweep_over))


# Jobs long enough (~0.3-1 s each) to be killed in the middle: L = 32 Wolff, few samples.
SLOW = dict(algorithm="wolff", L=[32], T=[2.0, 2.4, 2.8, 3.2], sweeps=8000, thermalize=100,
            every=100)


def read_index_strict(out_dir):
    """The index, failing on a repeated job id (json.load would silently keep the last)."""
    def no_dups(pairs):
        keys = [k for k, _ in pairs]
        assert len(keys) == len(set(keys)), f"duplicate keys {keys}"
        return dict(pairs)

    with open(os.path.join(out_dir, sw.INDEX_NAME)) as f:
        return json.load(f, object_pairs_hook=no_dups)


def assert_complete(spec, out_dir):
    """Every job is in the index exactly once, its file validates and matches its config; there
    are no other job files and no temporary files."""
    jobs = sw.expand(spec)
    index = read_index_strict(out_dir)
    assert sorted(index["jobs"]) == sorted(j.id for j in jobs)
    files = sorted(os.listdir(os.path.join(out_dir, sw.JOBS_DIR)))
    assert files == sorted(f"{j.id}.h5" for j in jobs), files
    assert not [f for f in os.listdir(out_dir) if f.endswith(".tmp")]
    for j in jobs:
        entry = index["jobs"][j.id]
        assert entry["config_hash"] == j.config_hash and entry["file"] == j.file
        assert sw.file_matches(os.path.join(out_dir, j.file), j.config)
        assert sw.job_done(out_dir, j, index)
    return index


# --------------------------------------------------------------------------- spec and jobs


def test_spec_forms_and_expansion():
    spec = sw.parse_spec({"sweep": {"model": "ising", "algorithm": "metropolis", "L": [4, 8],
                                    "T": {"start": 2.0, "stop": 2.4, "num": 5}, "sweeps": 100,
                                    "every": 2, "seeds": [1, 2]},
                          "couplings": {"Jx": 1.0, "Jy": [-1, 1], "h": 0.5}})
    assert spec.T == (2.0, 2.1, 2.2, 2.3, 2.4)  # rounded: no 2.1000000000000001
    assert spec.couplings == {"Jx": (1.0,), "Jy": (-1.0, 1.0), "J2": (0.0,), "h": (0.5,)}
    jobs = sw.expand(spec)
    assert len(jobs) == 2 * 5 * 2 * 2
    assert len({j.id for j in jobs}) == len(jobs)
    assert len({j.config.seed for j in jobs}) == len(jobs)
    assert all(j.config.temperatures == (j.coords["T"],) for j in jobs)
    assert all(j.id.startswith(f"L{j.config.L}-") for j in jobs)
    # stable: same grid in another order, or extended, keeps ids, seeds and config hashes
    again = sw.parse_spec({"sweep": {"model": "ising", "algorithm": "metropolis", "L": [8, 4],
                                     "T": [2.4, 2.3, 2.2, 2.1, 2.0, 2.5], "sweeps": 100,
                                     "every": 2, "seeds": [2, 1]},
                           "couplings": {"Jx": 1.0, "Jy": [1, -1], "h": 0.5}})
    old = {j.id: (j.config.seed, j.config_hash) for j in jobs}
    new = {j.id: (j.config.seed, j.config_hash) for j in sw.expand(again)}
    assert set(old) < set(new) and all(new[k] == v for k, v in old.items())
    # more sweeps: the same jobs (ids, seeds) but a different configuration hash
    longer, longer2 = tiny_spec(), tiny_spec(sweeps=400)
    a = {j.id: j for j in sw.expand(longer)}
    b = {j.id: j for j in sw.expand(longer2)}
    assert a.keys() == b.keys()
    assert all(a[k].config.seed == b[k].config.seed for k in a)
    assert all(a[k].config_hash != b[k].config_hash for k in a)


@pytest.mark.parametrize("change, words", [
    (lambda d: d["sweep"].update(Lx=4), "unknown key"),
    (lambda d: d["couplings"].update(J3=1), "unknown key"),
    (lambda d: d.update(extra={}), "unknown table"),
    (lambda d: d["sweep"].pop("T"), "needs T"),
    (lambda d: d["sweep"].update(model="potts"), "unknown model"),
    (lambda d: d["sweep"].update(algorithm="glauber"), "unknown algorithm"),
    (lambda d: d["sweep"].update(T=[2.0, 2.0]), "repeated"),
    (lambda d: d["sweep"].update(T=[2.0, -1.0]), "positive"),
    (lambda d: d["sweep"].update(T={"start": 1, "stop": 2}), "start, stop and num"),
    (lambda d: d["sweep"].update(L=[4.5]), "not an integer"),
    (lambda d: d["sweep"].update(L=[3], algorithm="metropolis"), "even"),
    (lambda d: d["sweep"].update(sweeps=-5), "non-negative"),
    (lambda d: d["couplings"].update(h=0.5), "h = 0"),  # wolff in a field
    (lambda d: d["couplings"].update(Jy="one"), "not a number"),
])
def test_spec_errors(change, words):
    d = spec_dict()
    change(d)
    with pytest.raises(ParameterError, match=words):
        sw.parse_spec(d)


def test_load_spec_file(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text('[sweep]\nmodel = "ising"\nL = 4\nT = { start = 2.0, stop = 3.0, num = 3 }\n'
                 '[couplings]\nJy = [0.5, 1.0]\n')
    spec = sw.load_spec(str(p))
    assert spec.L == (4,) and spec.T == (2.0, 2.5, 3.0) and spec.couplings["Jy"] == (0.5, 1.0)
    assert spec.algorithm == "metropolis" and spec.seeds == (0,)
    p.write_text("[sweep\n")
    with pytest.raises(ParameterError, match="not valid TOML"):
        sw.load_spec(str(p))
    with pytest.raises(ParameterError, match="no such sweep file"):
        sw.load_spec(str(tmp_path / "missing.toml"))


# --------------------------------------------------------------------------- local runs


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

    monkeypatch.setattr(sw, "run_job", flaky)
    rep = sw.run_sweep(spec, out, workers=1)
    assert rep.ran == 1 and list(rep.failed.values()) == ["OSError: disk full"]
    assert "1 failed" in rep.summary()
    assert len(sw.read_index(out)["jobs"]) == 1
    monkeypatch.setattr(sw, "run_job", real)
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


def _wait_for(predicate, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def _tmp_files(out):
    folder = os.path.join(out, sw.JOBS_DIR)
    return [f for f in os.listdir(folder) if f.endswith(".tmp")] if os.path.isdir(folder) else []


def _run_in_thread(**kw):
    box = {}

    def target():
        try:
            box["report"] = sw.run_sweep(**kw)
        except BaseException as exc:  # pragma: no cover - reported by the test
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, box


def test_local_pool_survives_a_killed_worker(tmp_path):
    spec = tiny_spec(**SLOW)
    out = str(tmp_path / "killed")
    thread, box = _run_in_thread(spec=spec, out_dir=out, workers=2)
    assert _wait_for(lambda: _tmp_files(out)), "no job started"
    victims = [p for p in multiprocessing.active_children() if "Spawn" in type(p).__name__
               or p.name.startswith("SpawnProcess")]
    assert victims
    os.kill(victims[0].pid, signal.SIGKILL)
    thread.join(120)
    assert not thread.is_alive() and "error" not in box, box
    rep = box["report"]
    assert rep.failed == {} and rep.ran == len(sw.expand(spec)) and rep.resubmitted >= 1
    assert_complete(spec, out)


# --------------------------------------------------------------------------- Dask


def test_dask_local_cluster_survives_a_killed_worker(tmp_path):
    distributed = pytest.importorskip("distributed")
    spec = tiny_spec(**SLOW)
    out = str(tmp_path / "dask")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        pids = client.run(os.getpid)
        thread, box = _run_in_thread(spec=spec, out_dir=out, scheduler=cluster.scheduler_address)
        busy = {}

        def running():
            if not _tmp_files(out):
                return False
            busy.update({w: keys for w, keys in client.processing().items() if keys})
            return bool(busy)

        assert _wait_for(running), "no job started"
        worker, keys = next(iter(busy.items()))
        killed_pid = pids[worker]
        os.kill(killed_pid, signal.SIGKILL)  # abrupt: no goodbye to the scheduler
        thread.join(120)
        assert not thread.is_alive() and "error" not in box, box
    rep = box["report"]
    assert rep.failed == {} and rep.ran == len(sw.expand(spec)) and rep.backend == "dask"
    index = assert_complete(spec, out)
    # the job that was running on the killed worker was finished by another worker process
    killed_ids = {k.split("-")[2] + "-" + k.split("-")[3] for k in keys}
    assert killed_ids and killed_ids <= set(index["jobs"])
    for job_id in killed_ids:
        assert not index["jobs"][job_id]["worker"].endswith(f":{killed_pid}")


def test_dask_unreachable_scheduler(monkeypatch, tmp_path):
    pytest.importorskip("distributed")
    monkeypatch.setattr(sw, "DASK_CONNECT_TIMEOUT", "1s")
    with pytest.raises(ParameterError, match="cannot connect"):
        sw.run_sweep(tiny_spec(), str(tmp_path / "d"), scheduler="tcp://127.0.0.1:9")
    assert not (tmp_path / "d").exists()


# --------------------------------------------------------------------------- figures


def test_binder_crossing_recovers_a_known_crossing():
    """Two synthetic curves crossing at T* = 2.27 with Gaussian noise: the estimate lands within
    its error, and the errors are calibrated (spread of the estimates ≈ mean error)."""
    from spinsym.plot.sweep import binder_crossing

    T = np.linspace(2.15, 2.39, 13)
    ua = 0.61 - 1.0 * (T - 2.27) - 2.0 * (T - 2.27) ** 2
    ub = 0.61 - 3.0 * (T - 2.27) - 4.0 * (T - 2.27) ** 2
    err = np.full_like(T, 0.004)
    rng = np.random.default_rng(5)
    est, errs = [], []
    for _ in range(40):
        c = binder_crossing((T, ua + err * rng.standard_normal(13), err),
                            (T, ub + err * rng.standard_normal(13), err), n_boot=200)
        est.append(c["T"])
        errs.append(c["err"])
    est, errs = np.array(est), np.array(errs)
    assert abs(est.mean() - 2.27) < 3 * est.std() / np.sqrt(len(est)) + 1e-4
    assert 0.6 < est.std() / errs.mean() < 1.6
    # no crossing in range
    assert binder_crossing((T, ua + 1, err), (T, ub, err)) is None


@pytest.fixture(scope="module")
def small_sweeps(tmp_path_factory):
    base = tmp_path_factory.mktemp("sweeps")
    binder = sw.parse_spec({"sweep": {"model": "ising", "algorithm": "wolff", "L": [4, 8],
                                      "T": {"start": 1.9, "stop": 2.7, "num": 9}, "sweeps": 4000,
                                      "thermalize": 200, "every": 2, "seeds": [1]},
                            "couplings": {"Jx": 1.0, "Jy": 1.0}})
    phase = sw.parse_spec({"sweep": {"model": "ising", "algorithm": "wolff", "L": [4],
                                     "T": [0.5, 4.0], "sweeps": 400, "thermalize": 50,
                                     "every": 2, "seeds": [1]},
                           "couplings": {"Jx": 1.0, "Jy": [-1.0, 0.0, 1.0]}})
    dirs = {"binder": str(base / "binder"), "phase": str(base / "phase")}
    sw.run_sweep(binder, dirs["binder"], workers=1)
    sw.run_sweep(phase, dirs["phase"], workers=1)
    return dirs


def test_plot_binder(small_sweeps, tmp_path):
    from spinsym.exact import ONSAGER_TC
    from spinsym.plot.sweep import format_binder, plot_binder

    res = plot_binder(small_sweeps["binder"], str(tmp_path / "b.png"))
    assert res["Tc"] == pytest.approx(ONSAGER_TC) and res["order"] == "m"
    assert sorted(res["curves"]) == [4, 8]
    (c,) = res["crossings"]
    assert c["L"] == (4, 8) and abs(c["T"] - ONSAGER_TC) < 0.15 and c["err"] > 0
    assert "exact Tc = 2.26919" in format_binder(res)
    assert (tmp_path / "b.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ParameterError, match="needs a single Jy"):
        plot_binder(small_sweeps["phase"], str(tmp_path / "x.png"))


def test_plot_sweep_phase_diagram(small_sweeps, tmp_path):
    from spinsym.plot.sweep import phase_diagram_grid, plot_sweep_phase_diagram

    rows = sw.load_sweep(small_sweeps["phase"])
    g = phase_diagram_grid(rows)
    assert list(g["ratios"]) == [-1.0, 0.0, 1.0] and list(g["T"]) == [0.5, 4.0]
    cold, hot = g["order"]
    assert cold[0] > 0.9 and cold[2] > 0.9  # stripes and ferro at T = 0.5
    assert hot[0] < 0.6 and hot[2] < 0.6
    text = plot_sweep_phase_diagram(small_sweeps["phase"], str(tmp_path / "pd.png"))
    assert "3 Jy/Jx × 2 T" in text
    assert (tmp_path / "pd.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ParameterError, match="several Jy"):
        plot_sweep_phase_diagram(small_sweeps["binder"], str(tmp_path / "y.png"))
    with pytest.raises(ParameterError, match="no jobs with L = 6"):
        plot_sweep_phase_diagram(small_sweeps["phase"], str(tmp_path / "y.png"), L=6)
    with pytest.raises(DataError, match="no index.json"):
        sw.load_sweep(str(tmp_path))


def test_temporaries_of_live_processes_are_never_touched(tmp_path):
    """A simulate writing into the sweep's folders (a live pid) keeps its temporary."""
    out = str(tmp_path / "run")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        spec = tiny_spec()
        job = sw.expand(spec)[0]
        os.makedirs(os.path.join(out, sw.JOBS_DIR))
        live = [os.path.join(out, f".mine.h5.{sleeper.pid}.0123abcd.tmp"),
                os.path.join(out, sw.JOBS_DIR, f".{job.id}.h5.{sleeper.pid}.0123abcd.tmp"),
                os.path.join(out, f".{sw.INDEX_NAME}.{sleeper.pid}.0123abcd.tmp")]
        for path in live:
            with open(path, "w") as f:
                f.write("in progress")
        rep = sw.run_sweep(spec, out, workers=1)
        assert rep.ran == 2 and rep.cleaned == []
        for path in live:
            assert open(path).read() == "in progress"
    finally:
        sleeper.kill()
        sleeper.wait()
    # once that process is gone, the sweep removes its own (job and index) temporaries only
    rep = sw.run_sweep(tiny_spec(), out, workers=1)
    assert sorted(rep.cleaned) == sorted(os.path.relpath(p, out) for p in live[1:])
    assert os.path.exists(live[0])


def test_one_model_per_sweep_directory(tmp_path):
    out = str(tmp_path / "run")
    sw.run_sweep(tiny_spec(), out, workers=1)
    assert sw.read_index(out)["model"] == "ising"
    xy = sw.parse_spec({"sweep": {"model": "xy", "algorithm": "wolff", "L": [4], "T": [0.5],
                                  "sweeps": 20, "thermalize": 2, "every": 2}})
    with pytest.raises(ParameterError, match="holds a sweep of the ising model"):
        sw.run_sweep(xy, out, workers=1)
    with pytest.raises(ParameterError, match="holds a sweep of the ising model"):
        sw.plan(xy, out)
    assert sorted(os.listdir(os.path.join(out, sw.JOBS_DIR))) == \
        sorted(os.path.basename(j.file) for j in sw.expand(tiny_spec()))
    # a directory mixed by an older version is a clean error, for the plots too
    index = sw.read_index(out)
    entry = next(iter(index["jobs"].values()))
    index["jobs"]["L4-xy"] = {**entry, "coords": {**entry["coords"], "model": "xy"}}
    del index["model"], index["spec"]
    sw.write_index(out, index)
    with pytest.raises(DataError, match="mixes the models ising and xy"):
        sw.load_sweep(out)
    with pytest.raises(ParameterError, match="holds a sweep of the ising, xy model"):
        sw.run_sweep(tiny_spec(), out, workers=1)
    from spinsym.plot.sweep import _one_value
    with pytest.raises(ParameterError, match="single model; the sweep has model = ising, xy"):
        _one_value([{"model": "ising"}, {"model": "xy"}], "model", "the Binder plot")
