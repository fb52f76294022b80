"""Hostile command lines, one explicit case at a time (issue 11, "Reliability").

The contract, for every command of ``spinsym``:

* the exit status is 0 or 2 (click usage errors are 2 too), never a traceback;
* on failure, stderr is exactly one line ``spinsym: error: ...`` (or click's usage block);
* on failure, no file is left at an output path that did not exist, and an existing output
  file is unchanged;
* every input file is unchanged, and no temporary (``*.tmp``) is left behind.

:class:`Tree` checks all of that for a folder; :func:`spinsym` runs a command in its own
process group with a timeout (a hang is a failure, never a stuck test run);
:func:`build_inputs` makes the small input files once per session.  ``test_fuzz.py`` uses the
same helpers.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
TIMEOUT = 60  # seconds for one command on the shared 2-core machine; a hang is a failure
TINY_SIM = ["--L", "4", "--T", "2.0,3.0", "--sweeps", "20", "--thermalize", "5", "--every", "2",
            "--threads", "1", "--seed", "1"]
TINY_GS = ["--model", "sympe", "--L", "4", "--steps", "2", "--batch", "4", "--width", "2",
           "--depth", "1", "--pe-fields", "1", "--quiet"]
TINY_SAMPLER = ["--model", "sympe", "--steps", "2", "--batch", "4", "--width", "1", "--depth",
                "1", "--quiet"]
SWEEP_TOML = """
[sweep]
model = "ising"
algorithm = "wolff"
L = [4, 6]
T = [2.0, 3.0]
sweeps = 20
thermalize = 5
every = 2
seeds = [1]
[couplings]
Jx = 1.0
Jy = [0.5, 1.0]
"""
PARAMS = [{"Jx": 1, "Jy": 1, "J2": 0, "h": 0}, {"Jx": -1, "Jy": -1.5, "J2": 0.2, "h": 0.5}]
# params files (name -> text): the valid one and every malformed kind
PARAMS_FILES = {
    "params.json": json.dumps(PARAMS),
    "p_empty.json": "",
    "p_notjson.json": "{nope",
    "p_object.json": json.dumps(PARAMS[0]),
    "p_missing.json": json.dumps([{"Jx": 1, "Jy": 1, "J2": 0}]),
    "p_bool.json": json.dumps([{"Jx": True, "Jy": 1, "J2": 0, "h": 0}]),
    "p_huge.json": json.dumps([{"Jx": 1e300, "Jy": 1, "J2": 0, "h": 0}]),
    "p_nested.json": json.dumps([[1, 2, 3, 4]]),
    "p_string.json": json.dumps([{"Jx": "1", "Jy": 1, "J2": 0, "h": 0}]),
    "p_nan.json": '[{"Jx": NaN, "Jy": 1, "J2": 0, "h": 0}]',
    "p_emptylist.json": "[]",
}
SWEEP_FILES = {
    "sweep.toml": SWEEP_TOML,
    "sweep_huge.toml": SWEEP_TOML.replace("T = [2.0, 3.0]",
                                          "T = { start = 1.0, stop = 3.0, num = 1e7 }"),
    "sweep_huge_int.toml": SWEEP_TOML.replace("T = [2.0, 3.0]",
                                              "T = { start = 1.0, stop = 3.0, num = 10000000 }"),
    "sweep_bigL.toml": SWEEP_TOML.replace("L = [4, 6]", "L = 1000000"),
    "sweep_negative.toml": SWEEP_TOML.replace("sweeps = 20", "sweeps = -5"),
    "sweep_nan.toml": SWEEP_TOML.replace("T = [2.0, 3.0]", "T = [2.0, nan]"),
    "sweep_broken.toml": "[sweep\nmodel = ",
    "sweep_empty.toml": "",
}
UNICODE_H5 = "ünï cødé ☃.h5"


# --------------------------------------------------------------------------- running


@dataclass
class Result:
    args: list
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool
    seconds: float

    def __str__(self):
        return (f"spinsym {' '.join(map(repr, self.args))}\n  exit {self.returncode}"
                f"{' (TIMED OUT)' if self.timed_out else ''} after {self.seconds:.1f} s\n"
                f"  stderr: {self.stderr.strip()[-2000:]!r}")


def _env():
    return dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", COLUMNS="80")


def start(*args, **kw) -> subprocess.Popen:
    """``spinsym ARGS`` in the background, in its own process group."""
    return subprocess.Popen([sys.executable, "-m", "spinsym", *map(str, args)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, errors="replace", env=_env(),
                            start_new_session=True, **kw)


def finish(proc: subprocess.Popen, args, timeout=TIMEOUT, t0=None) -> Result:
    """Wait for a :func:`start`-ed command; past ``timeout`` kill its whole process group."""
    t0 = time.monotonic() if t0 is None else t0
    try:
        out, err = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        out, err = proc.communicate()
        timed_out = True
    _kill_group(proc.pid)  # sweep workers, if any survived the driver
    return Result(list(map(str, args)), proc.returncode, out, err, timed_out,
                  time.monotonic() - t0)


def _kill_group(pgid: int):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def spinsym(*args, timeout=TIMEOUT, cwd=None) -> Result:
    """Run ``python -m spinsym ARGS`` to the end (or ``timeout``), in folder ``cwd``."""
    t0 = time.monotonic()
    return finish(start(*args, cwd=cwd), args, timeout, t0)


# --------------------------------------------------------------------------- invariants


def _entry(path: str):
    st = os.lstat(path)
    if stat.S_ISREG(st.st_mode):
        with open(path, "rb") as f:
            return ("file", hashlib.sha256(f.read()).hexdigest())
    if stat.S_ISLNK(st.st_mode):
        return ("symlink", os.readlink(path))
    if stat.S_ISDIR(st.st_mode):
        return ("dir", None)
    if stat.S_ISFIFO(st.st_mode):
        return ("fifo", None)
    return ("other", stat.S_IFMT(st.st_mode))


def clean_failure(stderr: str) -> bool:
    """One ``spinsym: error:`` line, or click's usage-error block."""
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    if len(lines) == 1 and lines[0].startswith("spinsym: error:") \
            and lines[0][len("spinsym: error:"):].strip():
        return True
    return bool(lines) and lines[0].startswith("Usage: ") and "Error" in stderr


def dev_full_ok() -> bool:
    try:
        return stat.S_ISCHR(os.lstat("/dev/full").st_mode)
    except FileNotFoundError:
        return False


def restore_dev_full():
    """Put the /dev/full device node back (root only) if a command replaced it."""
    if dev_full_ok() or not IS_ROOT:
        return
    if os.path.lexists("/dev/full"):
        os.unlink("/dev/full")
    os.mknod("/dev/full", 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    os.chmod("/dev/full", 0o666)


def _outside_leftovers():
    """Temporaries a command may have left beside outputs outside the work folder."""
    return [f"/dev/{n}" for n in os.listdir("/dev") if n.startswith(".") and n.endswith(".tmp")]


class Tree:
    """The files under ``root`` (kinds and SHA-256) before a command, checked after it."""

    def __init__(self, root):
        self.root = os.path.abspath(root)
        self.before = self.scan()
        self.outside_before = set(_outside_leftovers())

    def scan(self) -> dict:
        found = {}
        for folder, dirs, files in os.walk(self.root):
            for name in dirs + files:
                path = os.path.join(folder, name)
                found[os.path.relpath(path, self.root)] = _entry(path)
        return found

    def _rel(self, path):
        path = os.path.abspath(os.fspath(path))
        if path == self.root or not path.startswith(self.root + os.sep):
            return None  # outside the tree (/dev/full, /proc/x, "/"): checked globally
        return os.path.relpath(path, self.root)

    def check(self, res: Result, outputs=(), output_dirs=(), expect=None):
        """Assert the contract for ``res``; ``expect`` (0 or 2) also pins the exit status.

        ``outputs`` are the command's output files; ``output_dirs`` folders it may fill
        (a sweep directory: partial results of a failed sweep are kept for resuming).
        """
        problems = []
        if res.timed_out:
            problems.append("did not finish (hang)")
        if "Traceback" in res.stderr:
            problems.append("traceback on stderr")
        if res.returncode not in (0, 2):
            problems.append(f"exit status {res.returncode}, not 0 or 2")
        elif res.returncode == 2 and not clean_failure(res.stderr):
            problems.append("failure without exactly one 'spinsym: error:' line")
        if expect is not None and res.returncode != expect and not res.timed_out:
            problems.append(f"exit status {res.returncode}, expected {expect}")
        after = self.scan()
        outs = {r for r in map(self._rel, outputs) if r is not None}
        dirs = [r for r in map(self._rel, output_dirs) if r is not None]

        def in_dirs(rel):
            return any(rel == d or rel.startswith(d + os.sep) for d in dirs)

        for rel in sorted(after):
            if os.path.basename(rel).endswith(".tmp"):
                problems.append(f"temporary left: {rel}")
        for rel, entry in self.before.items():
            if rel in outs and res.returncode == 0 or in_dirs(rel):
                continue
            if after.get(rel) != entry:
                what = "an input" if rel not in outs else "an existing output (on failure)"
                problems.append(f"{what} changed or removed: {rel} {entry} -> {after.get(rel)}")
        if res.returncode != 0:
            for rel in sorted(set(after) - set(self.before)):
                if not in_dirs(rel):
                    problems.append(f"file left on failure: {rel}")
        if not dev_full_ok():
            restore_dev_full()
            problems.append("/dev/full is no longer a character device (restored)")
        for tmp in set(_outside_leftovers()) - self.outside_before:
            problems.append(f"temporary left: {tmp}")
            os.unlink(tmp)
        assert not problems, f"{res}\n  " + "\n  ".join(problems)


# --------------------------------------------------------------------------- inputs


def _write_bad_content(good: Path, bad: Path):
    """A file in the configs-v1 schema whose content is wrong: spins = 3, NaN energies."""
    shutil.copyfile(good, bad)
    with h5py.File(bad, "r+") as f:
        for name in (k for k in f if k.startswith("T_")):
            f[name]["configs"][...] = 3
            f[name]["energy"][...] = np.nan


def build_inputs(base) -> Path:
    """Small valid and invalid inputs, built once per session (reused across modules)."""
    d = Path(base) / "spinsym-cli-inputs"
    if (d / ".complete").exists():
        return d
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    for args in (["simulate", "ising", *TINY_SIM, "--out", d / "ising.h5"],
                 ["simulate", "xy", "--algorithm", "wolff", *TINY_SIM, "--out", d / "xy.h5"],
                 ["train", "groundstate", *TINY_GS, "--seed", "3", "--out", d / "gs.pt"],
                 ["train", "sampler", "--data", d / "ising.h5", *TINY_SAMPLER,
                  "--out", d / "s.pt"]):
        res = spinsym(*args, timeout=300)
        assert res.returncode == 0 and not res.timed_out, str(res)
    for name, text in {**PARAMS_FILES, **SWEEP_FILES}.items():
        (d / name).write_text(text)
    res = spinsym("sweep", d / "sweep.toml", "--out", d / "sweepdir", "--workers", "1",
                  timeout=300)
    assert res.returncode == 0 and not res.timed_out, str(res)
    good = (d / "ising.h5").read_bytes()
    (d / "corrupt.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 8)
    (d / "truncated.h5").write_bytes(good[: len(good) // 2])
    with h5py.File(d / "foreign.h5", "w") as f:
        f["x"] = np.arange(3)
    _write_bad_content(d / "ising.h5", d / "badspins.h5")
    shutil.copyfile(d / "ising.h5", d / UNICODE_H5)
    (d / "target.dat").write_bytes(b"the target of a symlink: must never change\n")
    (d / ".complete").write_text("")
    return d


def workdir(inputs: Path, dest: Path) -> Path:
    """A fresh copy of the inputs plus the hostile file kinds: a FIFO, a symlink, a folder."""
    shutil.copytree(inputs, dest, symlinks=True)
    os.unlink(dest / ".complete")
    os.mkfifo(dest / "fifo")
    os.symlink("target.dat", dest / "link")
    (dest / "adir").mkdir()
    return dest


@pytest.fixture(scope="session")
def inputs(tmp_path_factory):
    return build_inputs(tmp_path_factory.getbasetemp())


@pytest.fixture
def wd(inputs, tmp_path):
    return workdir(inputs, tmp_path / "w")


# --------------------------------------------------------------------------- cases

# (command line, outputs); {d} is the work folder.  Each writes onto one of its inputs.
OUT_ON_INPUT = [
    (["plot", "observables", "{d}/ising.h5", "--out", "{d}/ising.h5"], ["{d}/ising.h5"]),
    (["plot", "observables", "{d}/ising.h5", "--out", "{d}/o.png", "--snapshots",
      "{d}/ising.h5"], ["{d}/o.png", "{d}/ising.h5"]),
    (["plot", "snapshots", "{d}/ising.h5", "--out", "{d}/ising.h5"], ["{d}/ising.h5"]),
    (["plot", "compare", "{d}/ising.h5", "{d}/xy.h5", "--out", "{d}/xy.h5"], ["{d}/xy.h5"]),
    (["train", "sampler", "--data", "{d}/ising.h5", *TINY_SAMPLER, "--out", "{d}/ising.h5"],
     ["{d}/ising.h5"]),
    (["sample", "{d}/s.pt", "--T", "2.0", "--n", "4", "--quiet", "--out", "{d}/s.pt"],
     ["{d}/s.pt"]),
    (["predict", "{d}/gs.pt", "--params", "{d}/params.json", "--L", "4", "--out",
      "{d}/params.json"], ["{d}/params.json"]),
    (["predict", "{d}/gs.pt", "--params", "{d}/params.json", "--L", "4", "--out", "{d}/gs.pt"],
     ["{d}/gs.pt"]),
    (["plot", "phase-diagram", "{d}/gs.pt", "--n", "2", "--L", "4", "--out", "{d}/gs.pt"],
     ["{d}/gs.pt"]),
    (["plot", "binder", "{d}/sweepdir", "--out", "{d}/sweepdir/index.json"],
     ["{d}/sweepdir/index.json"]),
]


def _fmt(items, d):
    return [str(a).format(d=d) for a in items]


@pytest.mark.parametrize("args, outputs", OUT_ON_INPUT, ids=lambda x: " ".join(x)[:60])
def test_output_onto_an_input_is_refused(wd, args, outputs):
    tree = Tree(wd)
    tree.check(spinsym(*_fmt(args, wd)), outputs=_fmt(outputs, wd), expect=2)


def test_analyze_leaves_everything_as_it_was(wd):
    tree = Tree(wd)
    tree.check(spinsym("analyze", wd / "ising.h5", "--json"), expect=0)


# hostile --out values: (name, path template, only as root)
HOSTILE_OUT = [
    ("symlink", "{d}/link", False),
    ("fifo", "{d}/fifo", False),
    ("directory", "{d}/adir", False),
    ("empty", "", False),
    ("proc", "/proc/x", False),
    ("devfull", "/dev/full", True),
]
OUT_COMMANDS = {
    "simulate": ["simulate", "ising", *TINY_SIM],
    "plot snapshots": ["plot", "snapshots", "{d}/ising.h5"],
    "sample": ["sample", "{d}/s.pt", "--T", "2.0", "--n", "4", "--quiet"],
    "predict": ["predict", "{d}/gs.pt", "--params", "{d}/params.json", "--L", "4"],
}
CASES = [(c, k) for c in OUT_COMMANDS for k in HOSTILE_OUT
         if c == "simulate" or k[0] in ("symlink", "fifo")]


@pytest.mark.parametrize("command, kind", CASES, ids=[f"{c}-{k[0]}" for c, k in CASES])
def test_hostile_output_path(wd, command, kind):
    name, template, root_only = kind
    if root_only and not IS_ROOT:
        pytest.skip("a device output is only dangerous (and testable) as root")
    out = template.format(d=wd)
    tree = Tree(wd)
    res = spinsym(*_fmt(OUT_COMMANDS[command], wd), "--out", out, cwd=wd)  # "" is relative
    tree.check(res, outputs=[out], expect=2)
    if name == "symlink":
        assert os.path.islink(wd / "link") and (wd / "target.dat").read_bytes().startswith(b"the")
    if name == "fifo":
        assert stat.S_ISFIFO(os.lstat(wd / "fifo").st_mode)


def _wait_for_temporary(folder: Path, proc, limit=60.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit and proc.poll() is None:
        if any(n.endswith(".tmp") for n in os.listdir(folder)):
            return True
        time.sleep(0.05)
    return False


LONG_SIM = ["simulate", "ising", "--L", "64", "--T", "2.0,2.3,2.6", "--sweeps", "10000000",
            "--thermalize", "10", "--every", "100000", "--threads", "1"]


def test_sigterm_mid_simulate_keeps_the_older_file(wd):
    out = wd / "old.h5"
    shutil.copyfile(wd / "ising.h5", out)
    tree = Tree(wd)
    args = [*LONG_SIM, "--out", out]
    t0 = time.monotonic()
    proc = start(*args)
    assert _wait_for_temporary(wd, proc), "simulate never started writing"
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    t1 = time.monotonic()
    res = finish(proc, args, timeout=30, t0=t0)
    assert time.monotonic() - t1 < 15, f"SIGTERM took too long\n{res}"
    assert res.returncode == 2 and not res.timed_out, str(res)
    assert "Traceback" not in res.stderr, str(res)
    tree.check(res, outputs=[out])


NUMBERS = [
    ("seed 2**64", ["simulate", "ising", *TINY_SIM, "--seed", "18446744073709551616"], 2),
    ("sweeps 2**63", ["simulate", "ising", *TINY_SIM, "--sweeps", "9223372036854775808"], 2),
    ("L 10**6", ["simulate", "ising", *TINY_SIM, "--L", "1000000"], 2),
    ("L 2**31 train", ["train", "groundstate", *TINY_GS, "--L", str(2**31)], 2),
    ("T nan", ["simulate", "ising", *TINY_SIM, "--T", "nan"], 2),
    ("T inf", ["simulate", "ising", *TINY_SIM, "--T", "inf"], 2),
    ("T 1,,2", ["simulate", "ising", *TINY_SIM, "--T", "1,,2"], 2),
    ("Jx nan", ["simulate", "ising", *TINY_SIM, "--Jx", "nan"], 2),
    ("h 1e300", ["simulate", "ising", *TINY_SIM, "--h", "1e300"], None),
    ("T 2,2", ["simulate", "ising", *TINY_SIM, "--T", "2,2"], None),
    ("every 2**31", ["simulate", "ising", *TINY_SIM, "--every", str(2**31)], None),
    ("threads -3 simulate", ["simulate", "ising", *TINY_SIM, "--threads", "-3"], 2),
    ("threads 2**31 simulate", ["simulate", "ising", *TINY_SIM, "--threads", str(2**31)], None),
    ("threads -3 train", ["train", "groundstate", *TINY_GS, "--threads", "-3"], 2),
    ("threads -3 sample", ["sample", "{d}/s.pt", "--T", "2", "--n", "4", "--quiet",
                           "--threads", "-3"], 2),
    ("time-limit -1 groundstate", ["train", "groundstate", *TINY_GS, "--time-limit", "-1"], 2),
    ("time-limit nan groundstate", ["train", "groundstate", *TINY_GS, "--time-limit", "nan"], 2),
    ("time-limit -1 sampler", ["train", "sampler", "--data", "{d}/ising.h5", *TINY_SAMPLER,
                               "--time-limit", "-1"], 2),
    ("time-limit nan sampler", ["train", "sampler", "--data", "{d}/ising.h5", *TINY_SAMPLER,
                                "--time-limit", "nan"], 2),
    ("lr nan", ["train", "groundstate", *TINY_GS, "--lr", "nan"], 2),
    ("sample n 2**31", ["sample", "{d}/s.pt", "--T", "2", "--n", str(2**31), "--quiet"], 2),
    ("predict samples 10**30", ["predict", "{d}/gs.pt", "--params", "{d}/params.json",
                                "--samples", str(10**30)], 2),
]


@pytest.mark.parametrize("args, expect", [(a, e) for _, a, e in NUMBERS],
                         ids=[n for n, _, _ in NUMBERS])
def test_huge_and_malformed_numbers(wd, args, expect):
    out = wd / "out.bin"
    tree = Tree(wd)
    tree.check(spinsym(*_fmt(args, wd), "--out", out, cwd=wd), outputs=[out], expect=expect)


def test_tiny_temperature_then_analyze(wd):
    out = wd / "cold.h5"
    tree = Tree(wd)
    res = spinsym("simulate", "ising", *TINY_SIM, "--T", "1e-300", "--out", out)
    tree.check(res, outputs=[out])
    if res.returncode == 0:
        tree = Tree(wd)
        res = spinsym("analyze", out, "--json")
        tree.check(res, expect=0)
        json.loads(res.stdout)


def test_invalid_training_data(wd):
    out = wd / "s2.pt"
    tree = Tree(wd)
    tree.check(spinsym("train", "sampler", "--data", wd / "badspins.h5", *TINY_SAMPLER,
                       "--out", out), outputs=[out], expect=2)
    tree.check(spinsym("analyze", wd / "badspins.h5"))


@pytest.mark.parametrize("name", ["p_missing.json", "p_bool.json", "p_huge.json",
                                  "p_nested.json", "p_empty.json"])
def test_bad_params_json(wd, name):
    out = wd / "pred.npz"
    tree = Tree(wd)
    tree.check(spinsym("predict", wd / "gs.pt", "--params", wd / name, "--L", "4",
                       "--out", out), outputs=[out], expect=2)
    if name == "p_missing.json":
        tree.check(spinsym("evaluate", "groundstate", wd / "gs.pt", "--params", wd / name,
                           "--L", "4", "--samples", "1"), expect=2)


@pytest.mark.parametrize("spec", ["sweep_huge.toml", "sweep_huge_int.toml", "sweep_bigL.toml"])
def test_huge_sweep_grid_dry_run_fails_fast(wd, spec):
    out = wd / "run"
    tree = Tree(wd)
    res = spinsym("sweep", wd / spec, "--out", out, "--dry-run", timeout=20)
    tree.check(res, outputs=[out], output_dirs=[out], expect=2)
    assert res.seconds < 20


def test_plot_snapshots_many_per_temperature_finishes(wd):
    out = wd / "snap.png"
    tree = Tree(wd)
    res = spinsym("plot", "snapshots", wd / "ising.h5", "--per-T", "10000", "--out", out,
                  timeout=30)
    tree.check(res, outputs=[out])


ONE_JOB_TOML = SWEEP_TOML.replace("L = [4, 6]", "L = 4").replace("T = [2.0, 3.0]", "T = 2.0") \
    .replace("Jy = [0.5, 1.0]", "Jy = 1.0")


def test_sweep_beside_a_live_simulate(wd):
    """A sweep started in the folder of a running simulate must not touch its temporary."""
    folder = wd / "shared"
    folder.mkdir()
    target = folder / "x.h5"
    spec = wd / "one.toml"
    spec.write_text(ONE_JOB_TOML)
    tree = Tree(wd)
    args = ["simulate", "ising", "--L", "64", "--T", "2.3", "--sweeps", "20000",
            "--thermalize", "10", "--every", "1000", "--threads", "1", "--out", target]
    proc = start(*args)
    assert _wait_for_temporary(folder, proc), "simulate never started writing"
    # Freeze simulate (SIGSTOP) while the sweep runs: it stays a live process holding its
    # temporary however fast the machine is, then resumes and must finish normally.
    os.killpg(proc.pid, signal.SIGSTOP)
    try:
        res = spinsym("sweep", spec, "--out", folder, "--workers", "1")
        alive = proc.poll() is None
    finally:
        os.killpg(proc.pid, signal.SIGCONT)
    sim = finish(proc, args, timeout=120)
    assert sim.returncode == 0 and not sim.timed_out, str(sim)
    assert alive, "simulate ended before the sweep did: the test proves nothing"
    tree.check(res, outputs=[target], output_dirs=[folder], expect=0)
    check = spinsym("analyze", target, "--json")
    assert check.returncode == 0, str(check)
    assert len(json.loads(check.stdout)["results"]) == 1
