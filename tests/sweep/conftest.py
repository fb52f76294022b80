"""Helpers of the sweep tests: small specs, a dead pid, and the check that a sweep directory is
complete (every job indexed once, its file valid, no strays, no temporaries)."""

import json
import os
import subprocess
import sys

from spinsym import sweep as sw


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
