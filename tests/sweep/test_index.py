"""The sweep directory: temporaries of live and dead processes, one model per directory."""

import os
import subprocess
import sys

import pytest

from spinsym import sweep as sw
from spinsym.errors import DataError, ParameterError
from tests.sweep.conftest import tiny_spec


def test_temporaries_of_live_processes_are_never_touched(tmp_path):
    """A simulate writing into the sweep's folders (a live pid) keeps its temporary."""
    out = str(tmp_path / "run")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        spec = tiny_spec()
        job = sw.expand(spec)[0]
        os.makedirs(os.path.join(out, sw.JOBS_DIR))
        live = [os.path.join(out, f".mine.h5.{sleeper.pid}.0123abcd.tmp"),
                os.path.join(out, sw.JOBS_DIR, f".{job.id}.h5.{sleeper.pid}.0123abcd.tmp"),
                os.path.join(out, f".{sw.INDEX_NAME}.{sleeper.pid}.0123abcd.tmp")]
        for path in live:
            with open(path, "w") as f:
                f.write("in progress")
        rep = sw.run_sweep(spec, out, workers=1)
        assert rep.ran == 2 and rep.cleaned == []
        for path in live:
            assert open(path).read() == "in progress"
    finally:
        sleeper.kill()
        sleeper.wait()
    # once that process is gone, the sweep removes its own (job and index) temporaries only
    rep = sw.run_sweep(tiny_spec(), out, workers=1)
    assert sorted(rep.cleaned) == sorted(os.path.relpath(p, out) for p in live[1:])
    assert os.path.exists(live[0])


def test_one_model_per_sweep_directory(tmp_path):
    out = str(tmp_path / "run")
    sw.run_sweep(tiny_spec(), out, workers=1)
    assert sw.read_index(out)["model"] == "ising"
    xy = sw.parse_spec({"sweep": {"model": "xy", "algorithm": "wolff", "L": [4], "T": [0.5],
                                  "sweeps": 20, "thermalize": 2, "every": 2}})
    with pytest.raises(ParameterError, match="holds a sweep of the ising model"):
        sw.run_sweep(xy, out, workers=1)
    with pytest.raises(ParameterError, match="holds a sweep of the ising model"):
        sw.plan(xy, out)
    assert sorted(os.listdir(os.path.join(out, sw.JOBS_DIR))) == \
        sorted(os.path.basename(j.file) for j in sw.expand(tiny_spec()))
    # a directory mixed by an older version is a clean error, for the plots too
    index = sw.read_index(out)
    entry = next(iter(index["jobs"].values()))
    index["jobs"]["L4-xy"] = {**entry, "coords": {**entry["coords"], "model": "xy"}}
    del index["model"], index["spec"]
    sw.write_index(out, index)
    with pytest.raises(DataError, match="mixes the models ising and xy"):
        sw.load_sweep(out)
    with pytest.raises(ParameterError, match="holds a sweep of the ising, xy model"):
        sw.run_sweep(tiny_spec(), out, workers=1)
    from spinsym.plot.sweep import _one_value
    with pytest.raises(ParameterError, match="single model; the sweep has model = ising, xy"):
        _one_value([{"model": "ising"}, {"model": "xy"}], "model", "the Binder plot")
