"""Parameter sweeps: a TOML grid of independent Monte Carlo jobs, one HDF5 file each, plus an index.

A sweep file (``SWEEP.toml``) names a grid::

    [sweep]
    model = "ising"
    algorithm = "wolff"
    L = [8, 16, 32]
    T = { start = 2.1, stop = 2.45, num = 15 }   # or a list, or one number
    sweeps = 20000
    thermalize = 1000
    every = 5
    seeds = [1]                                    # replicas
    [couplings]
    Jx = 1.0
    Jy = [1.0]                                     # any of Jx, Jy, J2, h may be an axis
    J2 = 0.0
    h = 0.0

Every point of the product L × T × Jx × Jy × J2 × h × seeds is one **job**: one temperature of
one chain, written by :func:`spinsym.mc.run.simulate` to ``DIR/jobs/<job id>.h5`` (the ordinary
``spinsym/configs-v1`` schema with a single temperature group).  One job per temperature, rather
than one T scan per job, because

* the jobs are many and equal-sized, so they spread over any number of workers (a scan would
  make the L = 32 scan the critical path and leave most of a cluster idle);
* a lost worker costs one temperature, not a whole scan;
* a job's identity and seed depend only on its own coordinates, so adding temperatures (or sizes
  or couplings) to a finished sweep reruns nothing: only the new points run;
* the chains are independent, so the errors at different temperatures are independent (the
  Binder-crossing bootstrap relies on it).

**Job ids** are ``L<L>-<12 hex digits>``, a SHA-256 of the job's coordinates (model, L, T, Jx,
Jy, J2, h, replica seed), stable across runs and orderings of the grid.  **Seeds**: a job's
simulation seed is derived from the replica seed and its coordinates (SHA-256 again), so reruns
reproduce every file bit for bit and no two jobs share a stream.  The **config hash** covers
everything that changes a file's contents (the coordinates, algorithm, sweeps, thermalize,
every, overrelax and the derived seed).

**Index** ``DIR/index.json`` (schema ``spinsym/sweep-index-v1``), written atomically (temporary
file and rename) by the driver only, never by workers: the sweep spec of the latest run, the ids
of its grid, and one entry per finished job (file, config hash, coordinates, configuration,
worker, wall time and a summary of :func:`spinsym.analysis.analyze_file`, computed by the worker).

**Resuming**: a job is done iff its file exists, validates with :func:`spinsym.data.read`, holds
the configuration's attributes and sample count, AND is recorded in the index with the same
config hash.  Everything else runs (again).  Temporary files of the sweep's own crashed jobs
(``jobs/.<id>.h5.<pid>.<token>.tmp`` of a job of the grid, written by a process that is gone)
are removed at the start and at the end of a sweep; other temporaries are reported, and those of
live processes never touched.  A lock file keeps two drivers off one directory, and the index
records the model: a sweep of another model into the same directory is refused.

**Stopping**: Ctrl-C or SIGTERM of the driver stops the local workers at once (each deletes its
temporary); the workers also die with a driver that is killed outright (SIGKILL), through the
parent-death signal (Linux).

**Backends**: a local process pool (``ProcessPoolExecutor``, one process per core by default;
``workers=1`` runs the jobs in the driver's own process),
or a Dask distributed cluster (``scheduler="tcp://HOST:PORT"``; the optional extra
``spinsym[dask]``).  With Dask, the workers need spinsym installed and must see ``DIR`` on a
shared filesystem.  A job whose worker dies is resubmitted (the Dask scheduler first reschedules
it by itself); after ``retries`` resubmissions it is reported as failed.  Exceptions raised by a
job (bad input, a full disk) are reported, not retried.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import os
import signal
import socket
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone

from . import __version__
from .errors import DataError, ParameterError, SpinsymError
from .fileio import (Interrupted, discard, finish, is_disk_full, parse_temporary, pid_alive,
                     remove_temporaries, temporary_name)
from .hamiltonians import Couplings
from . import models
from .mc.run import SimulationConfig

INDEX_NAME = "index.json"
INDEX_SCHEMA = "spinsym/sweep-index-v1"
JOBS_DIR = "jobs"
LOCK_NAME = ".sweep.lock"
COUPLING_KEYS = ("Jx", "Jy", "J2", "h")
SWEEP_KEYS = ("model", "algorithm", "L", "T", "sweeps", "thermalize", "every", "overrelax",
              "seeds")
#: observables of analyze_file kept in the index (the plots read them from there)
SUMMARY_KEYS = ("energy_per_site", "abs_m", "m2", "specific_heat", "susceptibility", "binder",
                "staggered_abs", "staggered_m2", "staggered_binder", "stripe_abs", "stripe_m2",
                "stripe_binder", "helicity", "vortex_density")
#: seconds between index rewrites while jobs finish (always written at the end)
INDEX_WRITE_INTERVAL = 0.5
#: how long to try reaching a Dask scheduler
DASK_CONNECT_TIMEOUT = "20s"


# --------------------------------------------------------------------------- the spec


def _round(x: float) -> float:
    """12 significant digits: linspace values become the numbers one would type (2.2, not
    2.2000000000000006), so ids do not depend on the last bit of an arithmetic."""
    return float(f"{x:.12g}")


def _axis(value, name: str, kind=float) -> tuple:
    """A number, a list, or {start, stop, num} (inclusive) -> tuple of values."""
    if isinstance(value, dict):
        unknown = set(value) - {"start", "stop", "num"}
        if unknown or not {"start", "stop", "num"} <= set(value):
            raise ParameterError(f"{name}: a range needs exactly start, stop and num, "
                                 f"got {', '.join(sorted(value))}")
        try:
            start, stop, num = float(value["start"]), float(value["stop"]), value["num"]
        except (TypeError, ValueError):
            raise ParameterError(f"{name}: start and stop must be numbers") from None
        if isinstance(num, bool) or not isinstance(num, int) or num < 1:
            raise ParameterError(f"{name}: num must be a positive integer, got {num!r}")
        if kind is int:
            raise ParameterError(f"{name} must be an integer or a list of integers")
        items = [start] if num == 1 else [start + (stop - start) * i / (num - 1)
                                          for i in range(num)]
    elif isinstance(value, list):
        items = value
    else:
        items = [value]
    if not items:
        raise ParameterError(f"{name}: empty list")
    out = []
    for item in items:
        if isinstance(item, bool):
            raise ParameterError(f"{name}: {item!r} is not a number")
        if kind is int:
            if not isinstance(item, int):
                raise ParameterError(f"{name}: {item!r} is not an integer")
            out.append(int(item))
        else:
            if not isinstance(item, (int, float)):
                raise ParameterError(f"{name}: {item!r} is not a number")
            if not math.isfinite(item):
                raise ParameterError(f"{name}: {item!r} is not finite")
            out.append(_round(float(item)))
    if len(set(out)) != len(out):
        raise ParameterError(f"{name}: repeated values {out}")
    return tuple(out)


def _integer(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ParameterError(f"{name} must be a non-negative integer, got {value!r}")
    return value


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep grid (see the module docstring for the TOML form)."""

    model: str
    L: tuple
    T: tuple
    couplings: dict  # name -> tuple of values
    algorithm: str = "metropolis"
    sweeps: int = 10000
    thermalize: int = 1000
    every: int = 10
    overrelax: int = 0
    seeds: tuple = (0,)

    def as_dict(self) -> dict:
        return {"model": self.model, "algorithm": self.algorithm, "L": list(self.L),
                "T": list(self.T), "couplings": {k: list(v) for k, v in self.couplings.items()},
                "sweeps": self.sweeps, "thermalize": self.thermalize, "every": self.every,
                "overrelax": self.overrelax, "seeds": list(self.seeds)}


def parse_spec(data: dict, source: str = "sweep spec") -> SweepSpec:
    """Validate the parsed TOML (a dict with tables ``sweep`` and ``couplings``)."""
    if not isinstance(data, dict):
        raise ParameterError(f"{source}: expected tables [sweep] and [couplings]")
    unknown = set(data) - {"sweep", "couplings"}
    if unknown:
        raise ParameterError(f"{source}: unknown table(s) {', '.join(sorted(unknown))}; "
                             "expected [sweep] and [couplings]")
    sweep = data.get("sweep")
    if not isinstance(sweep, dict):
        raise ParameterError(f"{source}: missing [sweep] table")
    couplings = data.get("couplings", {})
    if not isinstance(couplings, dict):
        raise ParameterError(f"{source}: [couplings] must be a table")
    unknown = set(sweep) - set(SWEEP_KEYS)
    if unknown:
        raise ParameterError(f"{source}: unknown key(s) in [sweep]: {', '.join(sorted(unknown))}"
                             f" (known: {', '.join(SWEEP_KEYS)})")
    unknown = set(couplings) - set(COUPLING_KEYS)
    if unknown:
        raise ParameterError(f"{source}: unknown key(s) in [couplings]: "
                             f"{', '.join(sorted(unknown))} (known: {', '.join(COUPLING_KEYS)})")
    for key in ("model", "L", "T"):
        if key not in sweep:
            raise ParameterError(f"{source}: [sweep] needs {key}")
    model = sweep["model"]
    if model not in models.names():
        raise ParameterError(f"{source}: unknown model {model!r}; choose one of "
                             f"{', '.join(models.names())}")
    algorithm = sweep.get("algorithm", "metropolis")
    algorithms = tuple(models.get(model).algorithms)
    if algorithm not in algorithms:
        raise ParameterError(f"{source}: unknown algorithm {algorithm!r} for {model}; choose one "
                             f"of {', '.join(algorithms)}")
    defaults = Couplings()
    coupling_axes = {k: _axis(couplings.get(k, getattr(defaults, k)), k) for k in COUPLING_KEYS}
    T = _axis(sweep["T"], "T")
    if any(t <= 0 for t in T):
        raise ParameterError(f"{source}: temperatures must be positive, got {list(T)}")
    spec = SweepSpec(model=model, algorithm=algorithm, L=_axis(sweep["L"], "L", int), T=T,
                     couplings=coupling_axes,
                     sweeps=_integer(sweep.get("sweeps", 10000), "sweeps"),
                     thermalize=_integer(sweep.get("thermalize", 1000), "thermalize"),
                     every=_integer(sweep.get("every", 10), "every"),
                     overrelax=_integer(sweep.get("overrelax", 0), "overrelax"),
                     seeds=_axis(sweep.get("seeds", [0]), "seeds", int))
    for s in spec.seeds:
        _integer(s, "seeds")
    expand(spec)  # every job's configuration is validated up front
    return spec


def load_spec(path: str) -> SweepSpec:
    """Read and validate a SWEEP.toml file."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise ParameterError("reading a sweep file needs Python >= 3.11 "
                                 "(or the tomli package)") from None
    if not os.path.isfile(path):
        raise ParameterError(f"no such sweep file: {path}")
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ParameterError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ParameterError(f"cannot read {path}: {exc}") from None
    return parse_spec(data, source=path)


# --------------------------------------------------------------------------- jobs


def _digest(obj) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def job_seed(replica_seed: int, coords: dict) -> int:
    """The simulation seed of a job: SHA-256 of the replica seed and the job's coordinates,
    reduced to 63 bits (stored as an HDF5 int64 attribute)."""
    d = _digest({"seed": int(replica_seed), "coords": {k: v for k, v in coords.items()
                                                        if k != "seed"}})
    return int(d[:16], 16) & ((1 << 63) - 1)


@dataclass(frozen=True)
class Job:
    id: str
    coords: dict  # model, L, T, Jx, Jy, J2, h, seed (the replica seed)
    config: SimulationConfig
    config_hash: str = field(default="")

    @property
    def file(self) -> str:
        """Path of the job's HDF5 file relative to the sweep directory."""
        return f"{JOBS_DIR}/{self.id}.h5"

    def config_dict(self) -> dict:
        return config_to_dict(self.config)


def config_to_dict(cfg: SimulationConfig) -> dict:
    """Every field of the configuration except ``threads`` (which never changes a file), the
    couplings flattened: the input of the config hash, and what a worker receives."""
    out = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name == "threads":
            continue
        if f.name == "couplings":
            out.update(value.as_dict())
        elif f.name == "temperatures":
            out["temperatures"] = list(value)
        else:
            out[f.name] = value
    return out


def config_from_dict(d: dict) -> SimulationConfig:
    d = dict(d)
    couplings = Couplings(*(d.pop(k) for k in COUPLING_KEYS))
    return SimulationConfig(**{**d, "temperatures": tuple(d["temperatures"]),
                               "couplings": couplings, "threads": 1})


def expand(spec: SweepSpec) -> list:
    """All jobs of the grid, in a fixed order (L, couplings, seed, T); ids are unique."""
    jobs, seen = [], set()
    cx = spec.couplings
    for L, Jx, Jy, J2, h, seed, T in itertools.product(spec.L, cx["Jx"], cx["Jy"], cx["J2"],
                                                       cx["h"], spec.seeds, spec.T):
        coords = {"model": spec.model, "L": L, "T": T, "Jx": Jx, "Jy": Jy, "J2": J2, "h": h,
                  "seed": seed}
        job_id = f"L{L}-{_digest(coords)[:12]}"
        if job_id in seen:  # pragma: no cover - needs a SHA-256 prefix collision
            raise ParameterError(f"two jobs share the id {job_id}")
        seen.add(job_id)
        cfg = SimulationConfig(model=spec.model, L=L, temperatures=(T,),
                               couplings=Couplings(Jx, Jy, J2, h), algorithm=spec.algorithm,
                               sweeps=spec.sweeps, thermalize=spec.thermalize, every=spec.every,
                               seed=job_seed(seed, coords), overrelax=spec.overrelax, threads=1)
        chash = _digest({"schema": "spinsym/configs-v1", "config": config_to_dict(cfg)})
        jobs.append(Job(job_id, coords, cfg, chash))
    return jobs


# --------------------------------------------------------------------------- the index


def index_path(out_dir: str) -> str:
    return os.path.join(out_dir, INDEX_NAME)


def read_index(out_dir: str) -> dict:
    """The index of a sweep directory (an empty index if there is none yet)."""
    path = index_path(out_dir)
    if not os.path.exists(path):
        return {"schema": INDEX_SCHEMA, "jobs": {}}
    try:
        with open(path) as f:
            index = json.load(f)
    except (OSError, ValueError) as exc:
        raise DataError(f"corrupt sweep index {path}: {exc}") from None
    if not isinstance(index, dict) or index.get("schema") != INDEX_SCHEMA \
            or not isinstance(index.get("jobs"), dict):
        raise DataError(f"not a spinsym sweep index ({INDEX_SCHEMA}): {path}")
    return index


def write_index(out_dir: str, index: dict) -> str:
    """Write the index atomically (temporary file in the same folder, fsync, rename)."""
    path = index_path(out_dir)
    index = dict(index, schema=INDEX_SCHEMA, spinsym_version=__version__,
                 updated=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    index["jobs"] = dict(sorted(index["jobs"].items()))
    tmp = temporary_name(path)
    try:
        with open(tmp, "w") as f:
            json.dump(index, f, indent=1, allow_nan=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        finish(tmp, path)
    except OSError as exc:
        discard(tmp)
        if is_disk_full(exc):
            raise DataError(f"disk full writing {path}") from None
        raise DataError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        discard(tmp)
    return path


_ATTR_CHECKS = ("model", "L", "T", "Jx", "Jy", "J2", "h", "algorithm", "sweeps", "thermalize",
                "every", "seed", "overrelax")


def file_matches(path: str, cfg: SimulationConfig) -> bool:
    """The file exists, validates (:func:`spinsym.data.read`) and holds exactly ``cfg``'s run."""
    from .data import read

    try:
        ds = read(path)
    except SpinsymError:
        return False
    if ds.model != cfg.model or ds.L != cfg.L or len(ds) != len(cfg.temperatures):
        return False
    for i, group in enumerate(ds):
        want = cfg.group_attrs(i)
        if any(group.attrs.get(k) != want[k] for k in _ATTR_CHECKS):
            return False
        if group.n_samples != cfg.n_samples:
            return False
    return True


def job_done(out_dir: str, job: Job, index: dict) -> bool:
    entry = index.get("jobs", {}).get(job.id)
    return (entry is not None and entry.get("config_hash") == job.config_hash
            and file_matches(os.path.join(out_dir, job.file), job.config))


def clean_temporary(out_dir: str, job_ids=()) -> tuple:
    """Remove the sweep's own stale temporaries; return (removed, foreign) names.

    Its own: ``jobs/.<id>.h5.<pid>.<token>.tmp`` of a job id in ``job_ids`` and
    ``.index.json.<pid>.<token>.tmp``, left by a process that no longer runs (a crashed worker
    or driver).  A temporary of a live process is never touched (it may be a ``simulate``
    writing into this folder); ``foreign`` lists the stale temporaries that are not the
    sweep's own, which are reported, not deleted."""
    own_files = {f"{job_id}.h5" for job_id in job_ids}
    removed, foreign = [], []
    for folder, own in ((os.path.join(out_dir, JOBS_DIR), own_files), (out_dir, {INDEX_NAME})):
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            if not (name.startswith(".") and name.endswith(".tmp")):
                continue
            parsed = parse_temporary(name)
            if parsed is not None and (parsed[1] == os.getpid() or pid_alive(parsed[1])):
                continue  # a live process's (this one's own are removed by fileio)
            rel = os.path.relpath(os.path.join(folder, name), out_dir)
            if parsed is None or parsed[0] not in own:
                foreign.append(rel)
                continue
            try:
                os.unlink(os.path.join(folder, name))
                removed.append(rel)
            except FileNotFoundError:
                pass
    return removed, foreign


class _Lock:
    """An exclusive, non-blocking flock on DIR/.sweep.lock (released when the process ends)."""

    def __init__(self, out_dir: str):
        self.path = os.path.join(out_dir, LOCK_NAME)
        self.fd = None

    def __enter__(self):
        import fcntl

        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self.fd)
            raise ParameterError(f"another sweep is running in {os.path.dirname(self.path)}") \
                from None
        return self

    def __exit__(self, *exc):
        os.close(self.fd)
        return False


# --------------------------------------------------------------------------- one job (worker)


def run_job(payload: dict) -> dict:
    """Run one job (in a worker process): simulate, then analyze the written file.

    ``payload`` = {"id", "config" (config_to_dict), "path" (absolute final HDF5 path)}.
    The file is written atomically by :func:`spinsym.mc.run.simulate`."""
    from .analysis import analyze_file
    from .mc.run import simulate

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


# --------------------------------------------------------------------------- the driver


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


def check_out_dir(out_dir: str) -> str:
    """DIR as an absolute path; its parent must exist and DIR must not be a file."""
    out_dir = os.path.abspath(out_dir)
    parent = os.path.dirname(out_dir)
    if not os.path.isdir(parent):
        raise ParameterError(f"output directory's parent does not exist: {parent}")
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ParameterError(f"output path exists and is not a directory: {out_dir}")
    return out_dir


def prepare_out_dir(out_dir: str) -> str:
    """Create DIR (its parent must exist) and DIR/jobs."""
    out_dir = check_out_dir(out_dir)
    os.makedirs(os.path.join(out_dir, JOBS_DIR), exist_ok=True)
    return out_dir


def index_model(index: dict):
    """The model of the sweep an index records (None for an empty index)."""
    model = index.get("model") or (index.get("spec") or {}).get("model")
    if model:
        return model
    models = {(e.get("coords") or {}).get("model") for e in index.get("jobs", {}).values()
              if isinstance(e, dict)} - {None}
    return sorted(models)[0] if len(models) == 1 else (", ".join(sorted(models)) or None)


def check_compatible(index: dict, spec: SweepSpec, out_dir: str):
    """One model per sweep directory: a sweep of another model is refused (its jobs would mix
    with the others in the index and the plots)."""
    model = index_model(index)
    if model is not None and model != spec.model:
        raise ParameterError(f"{out_dir} holds a sweep of the {model} model; a {spec.model} "
                             "sweep needs its own directory")


def plan(spec: SweepSpec, out_dir: str) -> tuple:
    """(all jobs, jobs still to run) for ``spec`` in ``out_dir`` (which may not exist yet)."""
    jobs = expand(spec)
    if not os.path.isdir(out_dir):
        return jobs, list(jobs)
    index = read_index(out_dir)
    check_compatible(index, spec, out_dir)
    return jobs, [j for j in jobs if not job_done(out_dir, j, index)]


def run_sweep(spec: SweepSpec, out_dir: str, workers: int = 0, scheduler: str | None = None,
              retries: int = 2, progress=None) -> SweepReport:
    """Run every job of ``spec`` that is not done yet in ``out_dir``; return a report.

    ``workers``: local processes (0: one per core; 1: run the jobs in this process, no pool;
    ignored with a scheduler).  ``scheduler``: address of a Dask scheduler
    (``tcp://HOST:PORT``).  ``retries``: resubmissions of a job whose worker died.
    ``progress(n_finished, n_to_run)`` is called as jobs finish.
    """
    if retries < 0:
        raise ParameterError(f"retries must be >= 0, got {retries}")
    if workers < 0:
        raise ParameterError(f"workers must be >= 0, got {workers}")
    t0 = time.perf_counter()
    jobs = expand(spec)
    check_out_dir(out_dir)
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
            if not file_matches(path, job.config):
                report.failed[job.id] = "the job returned but its file does not validate"
                return
            index["jobs"][job.id] = {
                "file": job.file, "config_hash": job.config_hash, "coords": job.coords,
                "config": job.config_dict(), "worker": result.get("worker"),
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
                payloads = {j.id: {"id": j.id, "config": j.config_dict(),
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


# --------------------------------------------------------------------------- reading a sweep


def load_sweep(out_dir: str, validate: bool = True) -> list:
    """The finished jobs of a sweep directory: one dict per job with its coordinates
    (model, L, T, Jx, Jy, J2, h, seed), ``algorithm``, ``file`` (absolute) and ``observables``
    ({name: {"mean", "err"}}, as from :func:`spinsym.analysis.analyze_file`).

    Jobs whose file is missing or does not validate are left out (``validate``); observables
    missing from the index are computed from the file."""
    if not os.path.isdir(out_dir):
        raise ParameterError(f"not a sweep directory: {out_dir}")
    if not os.path.exists(index_path(out_dir)):
        raise DataError(f"not a sweep directory (no {INDEX_NAME}): {out_dir}")
    index = read_index(out_dir)
    models = sorted({str((e.get("coords") or {}).get("model")) for e in index["jobs"].values()
                     if isinstance(e, dict)})
    if len(models) > 1:
        raise DataError(f"the sweep in {out_dir} mixes the models {' and '.join(models)}; "
                        "run one model per directory")
    rows = []
    for job_id, entry in index["jobs"].items():
        path = os.path.join(out_dir, entry["file"])
        if validate:
            try:
                cfg = config_from_dict(entry["config"])
            except (KeyError, TypeError, SpinsymError):
                continue
            if not file_matches(path, cfg):
                continue
        obs = entry.get("observables")
        if not obs:
            from .analysis import analyze_file

            (res,) = analyze_file(path)
            obs = {k: res[k] for k in SUMMARY_KEYS if k in res}
        rows.append({**entry["coords"], "id": job_id, "algorithm": entry["config"]["algorithm"],
                     "file": path, "observables": obs})
    if not rows:
        raise DataError(f"the sweep in {out_dir} has no finished jobs")
    return rows
