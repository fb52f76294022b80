import os
import subprocess
import sys

import pytest


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
