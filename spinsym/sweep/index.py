"""The sweep directory: ``index.json`` (reading, atomic writing), which jobs are done (the
resume rule), the temporaries of the sweep's own crashed jobs, the directory lock, and reading
a finished sweep back (:func:`load_sweep`)."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone

from .. import __version__
from ..errors import DataError, ParameterError, SpinsymError
from ..fileio import discard, finish, is_disk_full, parse_temporary, pid_alive, temporary_name
from ..mc.run import SimulationConfig
from .spec import JOBS_DIR, Job, SweepSpec, config_from_dict, expand

INDEX_NAME = "index.json"
INDEX_SCHEMA = "spinsym/sweep-index-v1"
LOCK_NAME = ".sweep.lock"
#: observables of analyze_file kept in the index (the plots read them from there)
SUMMARY_KEYS = ("energy_per_site", "abs_m", "m2", "specific_heat", "susceptibility", "binder",
                "staggered_abs", "staggered_m2", "staggered_binder", "stripe_abs", "stripe_m2",
                "stripe_binder", "helicity", "vortex_density", "correlation_length")


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


def file_matches(path: str, cfg: SimulationConfig, device: str = "cpu") -> bool:
    """The file exists, validates (:func:`spinsym.data.read`) and holds exactly ``cfg``'s run,
    written on ``device`` (the GPU path records ``device = "cuda"`` in each group; the CPU
    driver records no device)."""
    from ..data import read

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
        if group.attrs.get("device", "cpu") != device:
            return False
        if group.n_samples != cfg.n_samples:
            return False
    return True


def job_done(out_dir: str, job: Job, index: dict) -> bool:
    entry = index.get("jobs", {}).get(job.id)
    return (entry is not None and entry.get("config_hash") == job.config_hash
            and file_matches(os.path.join(out_dir, job.file), job.config, job.device))


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
            if not file_matches(path, cfg, entry.get("device", "cpu")):
                continue
        obs = entry.get("observables")
        if not obs:
            from ..analysis import analyze_file

            (res,) = analyze_file(path)
            obs = {k: res[k] for k in SUMMARY_KEYS if k in res}
        rows.append({**entry["coords"], "id": job_id, "algorithm": entry["config"]["algorithm"],
                     "file": path, "observables": obs})
    if not rows:
        raise DataError(f"the sweep in {out_dir} has no finished jobs")
    return rows
