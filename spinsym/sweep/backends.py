"""Where the jobs run: one job (:func:`run_job`, the worker's side), jobs one after another in
the driver's process, a local process pool whose workers die with their driver, or a Dask
cluster.  Each backend calls ``finished(job, result)`` or ``failed(job, message)`` per job."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from collections import deque

from ..errors import ParameterError
from ..fileio import Interrupted, remove_temporaries
from .index import SUMMARY_KEYS
from .spec import config_from_dict

#: how long to try reaching a Dask scheduler
DASK_CONNECT_TIMEOUT = "20s"


# --------------------------------------------------------------------------- one job (worker)


def run_job(payload: dict) -> dict:
    """Run one job (in a worker process): simulate, then analyze the written file.

    ``payload`` = {"id", "config" (config_to_dict), "path" (absolute final HDF5 path),
    "device" ("cpu" or "cuda")}.  The file is written atomically by
    :func:`spinsym.mc.run.simulate`, or by :func:`spinsym.mc.gpu.simulate_gpu` for "cuda"."""
    from ..analysis import analyze_file

    if payload.get("device", "cpu") == "cuda":
        from ..mc.gpu import simulate_gpu as simulate
    else:
        from ..mc.run import simulate

    t0 = time.perf_counter()
    cfg = config_from_dict(payload["config"])
    simulate(cfg, payload["path"])
    wall = time.perf_counter() - t0
    (res,) = analyze_file(payload["path"])
    summary = {k: res[k] for k in SUMMARY_KEYS if k in res}
    summary["tau_int"] = res["tau_int"]
    summary["n_samples"] = res["n_samples"]
    return {"id": payload["id"], "wall_s": round(wall, 3),
            "worker": f"{socket.gethostname()}:{os.getpid()}", "observables": summary}


# --------------------------------------------------------------------------- backends


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _run_inline(todo, payloads, finished, failed):
    """``workers=1``: the jobs run one after another in this process (no pool to start)."""
    for job in todo:
        try:
            result = run_job(payloads[job.id])
        except Exception as exc:
            failed(job, _describe(exc))
        else:
            finished(job, result)


def _run_local(todo, payloads, workers, retries, finished, failed, report):
    """A spawn-context process pool; at most ``workers`` jobs in flight.  A dead worker breaks
    the pool: the jobs in flight are resubmitted on a fresh pool (up to ``retries`` times)."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    ctx = multiprocessing.get_context("spawn")
    pending = deque(todo)
    attempts: dict = {}
    workers = max(1, min(workers, len(todo)))
    while pending:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                   initializer=_worker_init, initargs=(os.getpid(),))
        inflight: dict = {}
        broken = False
        try:
            while (pending or inflight) and not broken:
                while pending and len(inflight) < workers:
                    try:
                        fut = pool.submit(_pool_job, payloads[pending[0].id])
                    except BrokenProcessPool:  # it broke since the last wait
                        broken = True
                        break
                    inflight[fut] = pending.popleft()
                if broken and not inflight:
                    break
                done, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
                for fut in done:
                    job = inflight.pop(fut)
                    try:
                        result = fut.result()
                    except BrokenProcessPool:
                        broken = True
                        inflight[fut] = job  # lost with the pool, resubmitted below
                    except Exception as exc:
                        failed(job, _describe(exc))
                    else:
                        finished(job, result)
        except BaseException:  # Ctrl-C, SIGTERM: the workers stop now, not after their jobs
            _stop_workers(pool)
            raise
        pool.shutdown(wait=True, cancel_futures=True)
        # a dead worker breaks the whole pool: every job still in flight is lost with it
        for job in reversed(list(inflight.values())):
            attempts[job.id] = attempts.get(job.id, 0) + 1
            if attempts[job.id] > retries:
                failed(job, f"worker lost {attempts[job.id]} times")
            else:
                report.resubmitted += 1
                pending.appendleft(job)


#: seconds a worker gets to delete its temporary after SIGTERM before it is killed
WORKER_STOP_TIMEOUT = 5.0
_IN_JOB = False


def _worker_init(driver_pid: int):
    """Pool worker set-up: the worker dies with its driver, even a SIGKILLed one (Linux:
    PR_SET_PDEATHSIG sends it SIGTERM), and SIGTERM stops a running job cleanly (its temporary
    is deleted).  Ctrl-C at a terminal reaches the whole process group: the driver handles it
    and stops the workers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _worker_sigterm)
    _set_parent_death_signal(signal.SIGTERM)
    if os.getppid() != driver_pid:  # the driver died before the line above
        os._exit(128 + signal.SIGTERM)


def _set_parent_death_signal(sig: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(1, int(sig), 0, 0, 0) == 0  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover
        return False


def _worker_sigterm(signum, frame):
    if not _IN_JOB:  # idle: nothing to clean but the registry
        remove_temporaries()
        os._exit(128 + signum)
    raise Interrupted(signum)


def _pool_job(payload: dict) -> dict:
    """:func:`run_job` in a pool worker: a stop signal ends the worker (the pool reports it as
    lost) after the job's temporary is deleted; it is not sent back as the job's error."""
    global _IN_JOB
    _IN_JOB = True
    try:
        return run_job(payload)
    except KeyboardInterrupt as exc:
        remove_temporaries()
        os._exit(128 + getattr(exc, "signum", signal.SIGINT))
    finally:
        _IN_JOB = False


def _stop_workers(pool):
    """SIGTERM every worker of ``pool`` (each deletes its temporary), kill the ones still alive
    after WORKER_STOP_TIMEOUT, and drop the pool without waiting for its jobs."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for p in procs:
        try:
            p.terminate()
        except (OSError, ValueError):
            pass
    deadline = time.monotonic() + WORKER_STOP_TIMEOUT
    for p in procs:
        try:
            p.join(timeout=max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join(timeout=1.0)
        except (OSError, ValueError, AssertionError):
            pass
    pool.shutdown(wait=False, cancel_futures=True)


def _dask_connect(scheduler: str):
    """A dask.distributed Client of the scheduler at ``scheduler`` (ParameterError if none)."""
    try:
        from distributed import Client
    except ImportError:
        raise ParameterError("--scheduler needs dask.distributed: pip install 'spinsym[dask]'") \
            from None
    try:
        return Client(scheduler, timeout=DASK_CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ParameterError(f"cannot connect to the Dask scheduler {scheduler}: {exc}") from None


def _run_dask(todo, payloads, client, retries, finished, failed, report):
    """Submit every job to a Dask cluster; resubmit a job whose workers kept dying."""
    import uuid

    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    token = uuid.uuid4().hex[:8]
    attempts: dict = {}

    def submit(job):
        key = f"spinsym-sweep-{job.id}-{token}-{attempts.get(job.id, 0)}"
        return client.submit(run_job, payloads[job.id], key=key, pure=False, retries=0)

    futures = {}
    try:
        for job in todo:
            futures[submit(job)] = job
        queue = as_completed(list(futures))
        for fut in queue:
            job = futures.pop(fut)
            try:
                result = fut.result()
            except KilledWorker:
                attempts[job.id] = attempts.get(job.id, 0) + 1
                if attempts[job.id] > retries:
                    failed(job, f"workers running it died {attempts[job.id]} times (KilledWorker)")
                else:
                    report.resubmitted += 1
                    new = submit(job)
                    futures[new] = job
                    queue.add(new)
            except Exception as exc:
                failed(job, _describe(exc))
            else:
                finished(job, result)
            fut.release()
    except BaseException:
        client.cancel(list(futures))
        raise
