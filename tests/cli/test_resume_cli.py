"""``spinsym simulate --resume``: a SIGKILLed run leaves its checkpoint OUT.partial, which
--resume completes to the bits of an uninterrupted run; resuming a finished file extends it;
SIGTERM updates the checkpoint and says where it is."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

import spinsym
from tests.conftest import assert_clean_error, run_cli

ARGS = ["ising", "--L", "8", "--T", "2.0,2.6", "--algorithm", "metropolis-scalar",
        "--sweeps", "600000", "--every", "500", "--thermalize", "10", "--seed", "4"]


def _start(*args):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "spinsym", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for(path, proc, timeout=120):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if os.path.exists(path):
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"no {path}")


def _datasets(path):
    with h5py.File(path, "r") as f:
        return {f"{g}/{d}": f[g][d][()] for g in f for d in ("configs", "energy", "magnetization")}


def _same_datasets(a, b):
    da, db = _datasets(a), _datasets(b)
    assert da.keys() == db.keys()
    for k in da:
        assert np.array_equal(da[k], db[k]), k


def test_sigkilled_run_resumes_to_the_uninterrupted_bits(tmp_path):
    out = tmp_path / "run.h5"
    proc = _start("simulate", *ARGS, "--checkpoint-every", "0.2", "--out", out)
    _wait_for(f"{out}.partial", proc)
    proc.kill()
    proc.communicate(timeout=30)
    assert not out.exists()
    p = run_cli("simulate", "--resume", f"{out}.partial")
    assert p.returncode == 0, p.stderr
    assert "resumed from" in p.stdout
    assert sorted(f for f in os.listdir(tmp_path) if not f.endswith(".tmp")) == ["run.h5"]
    ref = tmp_path / "ref.h5"
    p = run_cli("simulate", *ARGS, "--out", ref)
    assert p.returncode == 0, p.stderr
    _same_datasets(out, ref)


def test_sigterm_leaves_the_checkpoint_and_says_where(tmp_path):
    out = tmp_path / "run.h5"
    # 100 times ARGS' sweeps: the run must still be going when the signal comes (ARGS alone
    # takes about as long as the first checkpoint, so it sometimes finished first)
    long_args = [a if a != "600000" else "60000000" for a in ARGS]
    proc = _start("simulate", *long_args, "--checkpoint-every", "0.2", "--out", out)
    _wait_for(f"{out}.partial", proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    assert err.startswith("spinsym: error: terminated by SIGTERM; checkpoint ") and \
        len(err.strip().splitlines()) == 1, err
    assert f"checkpoint {out}.partial" in err and "--resume" in err
    assert sorted(os.listdir(tmp_path)) == ["run.h5.partial"]
    assert spinsym.load(f"{out}.partial").resume is not None


def test_resume_extends_a_finished_file_in_place(tmp_path):
    small = ["ising", "--L", "4", "--T", "1.5,2.5", "--every", "2", "--thermalize", "5",
             "--exchange", "--replicas", "2"]
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    assert run_cli("simulate", *small, "--sweeps", "30", "--out", a).returncode == 0
    p = run_cli("simulate", "--resume", a, "--sweeps", "50")
    assert p.returncode == 0, p.stderr
    assert run_cli("simulate", *small, "--sweeps", "80", "--out", b).returncode == 0
    _same_datasets(a, b)
    assert sorted(os.listdir(tmp_path)) == ["a.h5", "b.h5"]


def test_resume_refusals_are_one_line(tmp_path):
    a = tmp_path / "a.h5"
    assert run_cli("simulate", "ising", "--L", "4", "--T", "2", "--sweeps", "10", "--every",
                   "2", "--out", a).returncode == 0
    assert_clean_error(run_cli("simulate", "--resume", a), "complete")
    assert_clean_error(run_cli("simulate", "--resume", a, "--L", "6", "--sweeps", "4"),
                       "leave out --L")
    assert_clean_error(run_cli("simulate", "xy", "--resume", a, "--sweeps", "4"), "leave out")
    assert_clean_error(run_cli("simulate", "--resume", tmp_path / "none.h5"), "not found")
    assert_clean_error(run_cli("simulate", "ising", "--L", "4", "--T", "2", "--exchange-every",
                               "2", "--out", tmp_path / "x.h5"), "--exchange")
