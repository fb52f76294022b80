"""The sweep driver: :func:`run_sweep` expands the spec, takes the directory's lock, decides
what is done, hands the rest to a backend and records every finished job in the index."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from ..errors import ParameterError
from .backends import _dask_connect, _run_dask, _run_inline, _run_local
from .index import (check_compatible, check_out_dir, clean_temporary, file_matches, job_done,
                    prepare_out_dir, read_index, write_index, _Lock)
from .spec import Job, SweepSpec, expand

#: seconds between index rewrites while jobs finish (always written at the end)
INDEX_WRITE_INTERVAL = 0.5


@dataclass
class SweepReport:
    out_dir: str
    total: int
    skipped: int = 0
    ran: int = 0
    failed: dict = field(default_factory=dict)  # job id -> message
    resubmitted: int = 0  # jobs resubmitted after a worker was lost
    cleaned: list = field(default_factory=list)  # temporary files removed
    wall_s: float = 0.0
    backend: str = "local"

    def summary(self) -> str:
        text = (f"sweep {self.out_dir}: {self.total} jobs, {self.skipped} already done, "
                f"{self.ran} ran, {len(self.failed)} failed ({self.backend}, {self.wall_s:.1f} s)")
        if self.resubmitted:
            text += f"; {self.resubmitted} resubmitted after a lost worker"
        if self.cleaned:
            text += f"; removed {len(self.cleaned)} temporary file(s) of crashed jobs"
        return text


def run_sweep(spec: SweepSpec, out_dir: str, workers: int = 0, scheduler: str | None = None,
              retries: int = 2, progress=None) -> SweepReport:
    """Run every job of ``spec`` that is not done yet in ``out_dir``; return a report.

    ``workers``: local processes (0: one per core; 1: run the jobs in this process, no pool;
    ignored with a scheduler).  ``scheduler``: address of a Dask scheduler
    (``tcp://HOST:PORT``).  ``retries``: resubmissions of a job whose worker died.
    ``progress(n_finished, n_to_run)`` is called as jobs finish.

    A ``device = "cuda"`` sweep run by local workers needs a GPU here: without one it is a
    ParameterError before anything is created.  With a scheduler, the Dask workers need the
    GPU (a job on a worker without one fails with that message).
    """
    if retries < 0:
        raise ParameterError(f"retries must be >= 0, got {retries}")
    if workers < 0:
        raise ParameterError(f"workers must be >= 0, got {workers}")
    t0 = time.perf_counter()
    jobs = expand(spec)
    check_out_dir(out_dir)
    if spec.device == "cuda" and not scheduler:
        from ..mc.gpu import require_gpu

        require_gpu()
    client = _dask_connect(scheduler) if scheduler else None  # before creating anything
    try:
        return _drive(spec, jobs, out_dir, workers, client, retries, progress, t0)
    finally:
        if client is not None:
            client.close()


def _drive(spec, jobs, out_dir, workers, client, retries, progress, t0) -> SweepReport:
    out_dir = prepare_out_dir(out_dir)
    with _Lock(out_dir):
        report = SweepReport(out_dir, len(jobs), backend="local" if client is None else "dask")
        ids = [j.id for j in jobs]
        index = read_index(out_dir)
        check_compatible(index, spec, out_dir)
        report.cleaned, foreign = clean_temporary(out_dir, ids)
        if foreign:
            print(f"spinsym: note: {len(foreign)} stale temporary file(s) in {out_dir} not "
                  f"written by this sweep, left alone: {', '.join(foreign[:3])}"
                  + (", ..." if len(foreign) > 3 else ""), file=sys.stderr)
        index["model"] = spec.model
        index["spec"] = spec.as_dict()
        index["grid"] = [j.id for j in jobs]
        todo = [j for j in jobs if not job_done(out_dir, j, index)]
        report.skipped = len(jobs) - len(todo)
        for j in todo:  # stale entries (changed config, missing or corrupt file) are forgotten
            index["jobs"].pop(j.id, None)
        write_index(out_dir, index)
        state = {"last_write": time.monotonic(), "dirty": False}

        def finished(job: Job, result: dict):
            path = os.path.join(out_dir, job.file)
            if not file_matches(path, job.config, job.device):
                report.failed[job.id] = "the job returned but its file does not validate"
                return
            index["jobs"][job.id] = {
                "file": job.file, "config_hash": job.config_hash, "coords": job.coords,
                "config": job.config_dict(), "device": job.device,
                "worker": result.get("worker"),
                "wall_s": result.get("wall_s"),
                "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "observables": result.get("observables"),
            }
            report.ran += 1
            state["dirty"] = True
            if time.monotonic() - state["last_write"] >= INDEX_WRITE_INTERVAL:
                write_index(out_dir, index)
                state["last_write"], state["dirty"] = time.monotonic(), False
            if progress is not None:
                progress(report.ran + len(report.failed), len(todo))

        def failed(job: Job, message: str):
            report.failed[job.id] = message
            if progress is not None:
                progress(report.ran + len(report.failed), len(todo))

        try:
            if todo:
                payloads = {j.id: {"id": j.id, "config": j.config_dict(), "device": j.device,
                                   "path": os.path.join(out_dir, j.file)} for j in todo}
                if client is not None:
                    _run_dask(todo, payloads, client, retries, finished, failed, report)
                elif workers == 1:
                    _run_inline(todo, payloads, finished, failed)
                else:
                    _run_local(todo, payloads, workers or os.cpu_count() or 1, retries,
                               finished, failed, report)
        finally:
            if state["dirty"]:
                write_index(out_dir, index)
            report.cleaned += clean_temporary(out_dir, ids)[0]
        report.wall_s = time.perf_counter() - t0
    return report
