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
    device = "cpu"                                 # or "cuda" (default "cpu")
    [couplings]
    Jx = 1.0
    Jy = [1.0]                                     # any of Jx, Jy, J2, h may be an axis
    J2 = 0.0
    h = 0.0

``device = "cuda"`` runs every job through :func:`spinsym.mc.gpu.simulate_gpu` (Ising
Metropolis or heat bath, J2 = 0, even L; checked when the spec is read).  A cuda sweep with
local workers needs a GPU on the driver's machine: without one it stops with one line before
anything is created; with Dask, the workers need the GPU.

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
every, overrelax and the derived seed, and the device when it is not the CPU: a GPU chain is
another chain).  The device is not a coordinate: it never changes a job's id or seed.

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

The package: :mod:`.spec` (the grid, jobs, ids, seeds, hashes), :mod:`.index` (the directory:
index, resume rule, temporaries, lock, reading a sweep back), :mod:`.backends` (one job, the
local pool, Dask) and :mod:`.run` (the driver, :func:`run_sweep`).
"""

from .backends import DASK_CONNECT_TIMEOUT, run_job
from .index import (INDEX_NAME, INDEX_SCHEMA, LOCK_NAME, SUMMARY_KEYS, check_compatible,
                    check_out_dir, clean_temporary, file_matches, index_model, index_path,
                    job_done, load_sweep, plan, prepare_out_dir, read_index, write_index, _Lock)
from .run import INDEX_WRITE_INTERVAL, SweepReport, run_sweep
from .spec import (COUPLING_KEYS, DEVICES, JOBS_DIR, SWEEP_KEYS, Job, SweepSpec, config_from_dict,
                   config_to_dict, expand, job_seed, load_spec, parse_spec)

__all__ = ["COUPLING_KEYS", "DASK_CONNECT_TIMEOUT", "DEVICES", "INDEX_NAME", "INDEX_SCHEMA",
           "INDEX_WRITE_INTERVAL", "JOBS_DIR", "LOCK_NAME", "SUMMARY_KEYS", "SWEEP_KEYS", "Job",
           "SweepReport", "SweepSpec", "check_compatible", "check_out_dir", "clean_temporary",
           "config_from_dict", "config_to_dict", "expand", "file_matches", "index_model",
           "index_path", "job_done", "job_seed", "load_spec", "load_sweep", "parse_spec", "plan",
           "prepare_out_dir", "read_index", "run_job", "run_sweep", "write_index"]
