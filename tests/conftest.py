"""Shared test helpers: run the CLI, check one-line errors, random spin states and RNG states.

Plain functions are imported by the test modules as ``from tests.conftest import ...`` (pytest
registers this file under that name); the fixtures wrap the CLI helpers.
"""

import os
import subprocess
import sys

import numpy as np
import pytest


def random_spins(L: int, seed, R: int | None = None) -> np.ndarray:
    """Random int8 ±1 spins of shape (L, L), or (R, L, L), from ``numpy.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    size = (L, L) if R is None else (R, L, L)
    return rng.choice(np.array([-1, 1], dtype=np.int8), size=size)


def xoshiro_state(seed) -> np.ndarray:
    """A fresh xoshiro256** state (uint64[4]) for the Numba kernels, from ``SeedSequence(seed)``."""
    from spinsym.mc.rng import state_from_seedsequence

    return state_from_seedsequence(np.random.SeedSequence(seed))


def run_cli(*args, timeout=300, **kw):
    """Run ``python -m spinsym ARGS`` in a subprocess; returns CompletedProcess (text)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "spinsym", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=env, **kw)


@pytest.fixture
def cli():
    return run_cli


def assert_clean_error(proc, *words):
    """Nonzero exit, one short message on stderr, no traceback."""
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    text = proc.stderr.lower()
    for w in words:
        assert w.lower() in text, (w, proc.stderr)


@pytest.fixture
def clean_error():
    return assert_clean_error


@pytest.fixture
def small_disk(tmp_path):
    """A folder on a real 1 MiB tmpfs, to run out of disk space (needs root to mount)."""
    import shutil

    folder = tmp_path / "small_disk"
    folder.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0 or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)],
            capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs is not permitted here")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def bitplane_flips(thresholds, state):
    """The multi-spin kernels' coin flips for the B lanes of one word, as a plain reference:
    lane b flips iff its 53-bit uniform is below ``thresholds[b]`` (negative or >= 2^53:
    always), decided bit plane by bit plane from the top, one ``next_u64`` per plane (bit b
    of the word is lane b's bit): if any lane is open, the first floor(log2 B) + 3 planes
    whatever happens, then one more while any lane is still open."""
    from spinsym.mc.rng import next_u64

    two53 = 1 << 53
    flip = [t < 0 or t >= two53 for t in thresholds]
    open_ = [not f for f in flip]
    first = (len(thresholds).bit_length() - 1) + 3 if any(open_) else 0
    q = 0
    while (any(open_) or q < first) and q < 53:
        u = int(next_u64(state))
        for b, t in enumerate(thresholds):
            if open_[b]:
                ub, tb = (u >> b) & 1, (t >> (52 - q)) & 1
                if ub != tb:
                    open_[b] = False
                    flip[b] = tb == 1
        q += 1
    return flip


@pytest.fixture(autouse=True)
def _signal_handlers_come_back():
    """Every test leaves SIGINT and SIGTERM as it found them (a command run in-process that
    left Ctrl-C ignored once made later interrupt tests pass vacuously or fail)."""
    import signal

    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    after = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    assert after == before, f"signal handlers changed: {before} -> {after}"


@pytest.fixture
def default_sigint():
    """Ctrl-C raises KeyboardInterrupt during the test, even where pytest runs with SIGINT
    ignored (a background job of a non-interactive shell); the old handler comes back after."""
    import signal

    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


def load_example(name: str):
    """The module of ``examples/<name>.py`` (the example scripts are not a package)."""
    import importlib.util

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(root, "examples", f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"{name}_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
