"""Backends: worker loss in the local process pool and in a Dask LocalCluster, an unreachable
scheduler."""

import multiprocessing
import os
import signal
import threading
import time

import pytest

from spinsym import sweep as sw
from spinsym.errors import ParameterError
from tests.sweep.conftest import SLOW, assert_complete, tiny_spec


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
    monkeypatch.setattr(sw.backends, "DASK_CONNECT_TIMEOUT", "1s")
    with pytest.raises(ParameterError, match="cannot connect"):
        sw.run_sweep(tiny_spec(), str(tmp_path / "d"), scheduler="tcp://127.0.0.1:9")
    assert not (tmp_path / "d").exists()
