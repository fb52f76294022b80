"""SIGTERM and SIGKILL: a stopped run leaves no temporary file, an old output stays whole, and
sweep workers end with their driver."""

import os
import signal
import subprocess
import sys
import time

LONG_SIMULATE = ["simulate", "ising", "--L", "64", "--T", "2.0,2.3", "--sweeps", "10000000",
                 "--thermalize", "10", "--every", "1000"]
LONG_SWEEP = """[sweep]
model = "ising"
algorithm = "metropolis"
L = [64]
T = [2.0, 2.2, 2.4, 2.6]
sweeps = 5000000
thermalize = 10
every = 1000
"""


def _start(*args, cwd=None):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "spinsym", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=cwd, preexec_fn=lambda: signal.signal(signal.SIGINT,
                                                                      signal.SIG_DFL))


def _temporaries(folder):
    return sorted(f for f in os.listdir(folder) if f.endswith(".tmp"))


def _wait_for(condition, timeout, proc=None):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if condition():
            return True
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"exited early ({proc.returncode}): {proc.communicate()}")
        time.sleep(0.1)
    return False


def _children(pid):
    """Ids of the live processes whose parent is ``pid`` (from /proc)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(entry))
    return out


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_sigterm_mid_simulate_keeps_the_old_file(tmp_path):
    """Without checkpoints (--checkpoint-every 0) nothing is left but the old file; with them,
    see test_sigterm_mid_simulate_leaves_a_resumable_checkpoint."""
    out = tmp_path / "run.h5"
    out.write_bytes(b"the previous result")
    proc = _start(*LONG_SIMULATE, "--checkpoint-every", "0", "--out", out)
    # mid-way: the sweeps run and the temporary is growing
    assert _wait_for(lambda: any(os.path.getsize(tmp_path / t) > 100_000
                                 for t in _temporaries(tmp_path)), 60, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2, err
    assert err.strip() == "spinsym: error: terminated by SIGTERM; nothing was written"
    assert out.read_bytes() == b"the previous result"
    assert _temporaries(tmp_path) == []


def test_sigterm_mid_simulate_leaves_a_resumable_checkpoint(tmp_path):
    out = tmp_path / "run.h5"
    out.write_bytes(b"the previous result")
    proc = _start(*LONG_SIMULATE, "--checkpoint-every", "0.5", "--out", out)
    partial = tmp_path / "run.h5.partial"
    assert _wait_for(partial.exists, 60, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("spinsym: error: terminated by SIGTERM; "
                                                   "checkpoint "), err
    assert f"--resume {partial}" in err
    assert out.read_bytes() == b"the previous result"
    assert _temporaries(tmp_path) == []
    from spinsym.data import read
    read(str(partial))  # a whole, valid file


def test_sigterm_before_the_work_removes_the_reservation(tmp_path):
    out = tmp_path / "early.h5"
    proc = _start(*LONG_SIMULATE, "--out", out)
    assert _wait_for(lambda: _temporaries(tmp_path), 60, proc)  # reserved up front
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "Traceback" not in err, err
    assert os.listdir(tmp_path) == []


def _sweep_running(tmp_path):
    spec = tmp_path / "long.toml"
    spec.write_text(LONG_SWEEP)
    out = tmp_path / "sweep"
    proc = _start("sweep", spec, "--out", out, "--workers", "2")
    jobs = out / "jobs"
    # both workers are inside a job: two job temporaries exist
    assert _wait_for(lambda: jobs.is_dir() and len(_temporaries(jobs)) >= 2, 120, proc)
    children = _children(proc.pid)
    assert len(children) >= 2  # two workers (and the resource tracker)
    return proc, out, children


def test_sweep_workers_die_with_a_killed_driver(tmp_path):
    proc, out, children = _sweep_running(tmp_path)
    proc.kill()
    proc.communicate(timeout=30)
    assert _wait_for(lambda: not any(_alive(p) for p in children), 15), \
        [p for p in children if _alive(p)]
    # each worker deleted its temporary on the way out (parent-death signal = SIGTERM)
    assert _temporaries(out / "jobs") == []


def test_sweep_sigterm_stops_workers_and_leaves_no_temporary(tmp_path):
    proc, out, children = _sweep_running(tmp_path)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2, err
    assert "Traceback" not in err and err.strip().endswith(
        "spinsym: error: terminated by SIGTERM; nothing was written"), err
    assert _wait_for(lambda: not any(_alive(p) for p in children), 10)
    assert _temporaries(out / "jobs") == [] and _temporaries(out) == []
