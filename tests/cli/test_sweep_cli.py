"""spinsym sweep / plot binder / plot phase-diagram (sweep directory) from the command line."""

import json
import os

import numpy as np
import pytest

from spinsym import sweep as sw
from spinsym.data import read
from spinsym.mc.gpu import gpu_available

TOML = """
[sweep]
model = "ising"
algorithm = "wolff"
L = [4, 6]
T = { start = 1.9, stop = 2.7, num = 5 }
sweeps = 1000
thermalize = 50
every = 2
seeds = [1]
[couplings]
Jx = 1.0
Jy = 1.0
"""

PHASE_TOML = """
[sweep]
model = "ising"
algorithm = "wolff"
L = 4
T = [0.5, 4.0]
sweeps = 200
thermalize = 20
every = 2
[couplings]
Jx = 1.0
Jy = { start = -1.0, stop = 1.0, num = 3 }
"""

XY_TOML = """
[sweep]
model = "xy"
algorithm = "wolff"
L = 4
T = [0.5]
sweeps = 20
thermalize = 2
every = 2
"""

CUDA_TOML = """
[sweep]
model = "ising"
algorithm = "metropolis"
device = "cuda"
L = 4
T = [2.0, 3.0]
sweeps = 20
thermalize = 4
every = 2
seeds = [1]
[couplings]
h = [0.0, 0.2]
"""

PNG = b"\x89PNG\r\n\x1a\n"


def _write(tmp_path, text, name="sweep.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_sweep_resume_and_plot_binder(cli, clean_error, tmp_path):
    spec = _write(tmp_path, TOML)
    out = tmp_path / "run"
    proc = cli("sweep", spec, "--out", out, "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    assert "10 jobs, 0 already done, 10 ran, 0 failed" in proc.stdout
    assert len(os.listdir(out / "jobs")) == 10 and (out / "index.json").exists()

    os.unlink(next(p for p in (out / "jobs").iterdir()))
    proc = cli("sweep", spec, "--out", out, "--dry-run")
    assert proc.returncode == 0, proc.stderr
    status = [line.split()[-1] for line in proc.stdout.splitlines()[:-1]]
    assert sorted(status) == ["done"] * 9 + ["todo"]
    assert "10 jobs, 9 done, 1 to run" in proc.stdout
    proc = cli("sweep", spec, "--out", out, "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    assert "9 already done, 1 ran" in proc.stdout

    fig = tmp_path / "binder.png"
    proc = cli("plot", "binder", out, "--out", fig, "--json")
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert res["order"] == "m" and res["Tc"] == pytest.approx(2.269185314213022)
    (c,) = res["crossings"]
    assert c["L"] == [4, 6] and (c["T"] is None or 1.9 <= c["T"] <= 2.7)
    assert fig.read_bytes()[:8] == PNG
    proc = cli("plot", "binder", out, "--out", fig)
    assert proc.returncode == 0 and "exact Tc = 2.26919" in proc.stdout

    # the figure format is the one the suffix names; an unknown suffix is refused
    for suffix, magic in ((".pdf", b"%PDF"), (".svg", b"<?xml")):
        proc = cli("plot", "binder", out, "--out", tmp_path / f"binder{suffix}")
        assert proc.returncode == 0, proc.stderr
        assert (tmp_path / f"binder{suffix}").read_bytes().startswith(magic)
    clean_error(cli("plot", "binder", out, "--out", tmp_path / "binder.xyz"),
                "unknown figure format")
    assert not (tmp_path / "binder.xyz").exists()
    # an output named like the index it reads (no figure suffix) or a FIFO is refused
    index = (out / "index.json").read_bytes()
    clean_error(cli("plot", "binder", out, "--out", out / "index.json"))
    assert (out / "index.json").read_bytes() == index
    os.mkfifo(tmp_path / "pipe.png")
    clean_error(cli("plot", "binder", out, "--out", tmp_path / "pipe.png"), "FIFO")

    # one model per directory: an xy sweep into it is refused before anything runs
    xy = _write(tmp_path, XY_TOML, "xy.toml")
    clean_error(cli("sweep", xy, "--out", out, "--workers", "1"),
                "holds a sweep of the ising model")
    assert len(os.listdir(out / "jobs")) == 10


def test_plot_phase_diagram_of_a_sweep_directory(cli, tmp_path):
    spec = _write(tmp_path, PHASE_TOML)
    out = tmp_path / "pd"
    proc = cli("sweep", spec, "--out", out, "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    fig = tmp_path / "pd.png"
    proc = cli("plot", "phase-diagram", out, "--out", fig)
    assert proc.returncode == 0, proc.stderr
    assert "3 Jy/Jx × 2 T" in proc.stdout
    assert fig.read_bytes()[:8] == PNG


@pytest.mark.parametrize("text, words", [
    ("[sweep\n", ["not valid toml"]),
    (TOML.replace("sweeps = 1000", "sweep = 1000"), ["unknown key", "sweep"]),
    (TOML.replace('"wolff"', '"glauber"'), ["unknown algorithm", "glauber"]),
    (TOML.replace("Jy = 1.0", "Jy = 1.0\nh = 0.2"), ["h = 0"]),
    (TOML.replace("L = [4, 6]", "L = [4, 4]"), ["repeated"]),
    (TOML.replace("seeds = [1]", 'seeds = [1]\ndevice = "gpu"'), ["unknown device 'gpu'"]),
    (TOML.replace("seeds = [1]", 'seeds = [1]\ndevice = "cuda"'), ["device cuda", "wolff"]),
])
def test_sweep_bad_spec(cli, clean_error, tmp_path, text, words):
    proc = cli("sweep", _write(tmp_path, text), "--out", tmp_path / "x")
    clean_error(proc, *words)
    assert proc.returncode == 2 and not (tmp_path / "x").exists()


def test_sweep_and_plot_bad_paths(cli, clean_error, tmp_path):
    spec = _write(tmp_path, TOML)
    clean_error(cli("sweep", tmp_path / "missing.toml", "--out", tmp_path / "x"),
                "sweep file", "missing.toml")
    clean_error(cli("sweep", spec, "--out", tmp_path / "no" / "dir"), "does not exist")
    clean_error(cli("sweep", spec, "--out", spec), "directory")
    clean_error(cli("plot", "binder", spec, "--out", tmp_path / "b.png"), "sweep directory")
    clean_error(cli("plot", "binder", tmp_path, "--out", tmp_path / "b.png"), "no index.json")
    assert not (tmp_path / "b.png").exists()


@pytest.mark.skipif(gpu_available(), reason="this machine has a GPU")
def test_cuda_sweep_without_a_gpu(cli, clean_error, tmp_path, monkeypatch):
    monkeypatch.delenv("NUMBA_ENABLE_CUDASIM", raising=False)
    spec, out = _write(tmp_path, CUDA_TOML), tmp_path / "cuda"
    proc = cli("sweep", spec, "--out", out, "--workers", "2")
    clean_error(proc, "needs an NVIDIA GPU")
    assert proc.returncode == 2 and not out.exists()
    proc = cli("sweep", spec, "--out", out, "--dry-run")  # planning needs no GPU
    assert proc.returncode == 0 and "4 jobs, 0 done, 4 to run" in proc.stdout, proc.stderr


def test_cuda_sweep_under_the_cuda_simulator(cli, tmp_path, monkeypatch):
    """device = "cuda" through simulate_gpu (Numba's CUDA simulator): the job files validate as
    GPU runs, a rerun skips them, a lost job is reproduced bit for bit, and the same grid on
    the CPU has the same job ids but none of them is done."""
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "1")
    spec, out = _write(tmp_path, CUDA_TOML), tmp_path / "cuda"
    proc = cli("sweep", spec, "--out", out, "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    assert "4 jobs, 0 already done, 4 ran, 0 failed" in proc.stdout
    jobs = sw.expand(sw.load_spec(str(spec)))
    index = sw.read_index(str(out))
    assert index["spec"]["device"] == "cuda" and sorted(index["jobs"]) == sorted(j.id for j in jobs)
    assert sorted(os.listdir(out / "jobs")) == sorted(f"{j.id}.h5" for j in jobs)
    for j in jobs:
        assert index["jobs"][j.id]["device"] == "cuda"
        assert sw.job_done(str(out), j, index)
        assert sw.file_matches(str(out / j.file), j.config, "cuda")
        assert not sw.file_matches(str(out / j.file), j.config, "cpu")
        (group,) = read(str(out / j.file)).temperatures
        assert group.attrs["device"] == "cuda" and group.n_samples == 10
    lost = out / jobs[0].file
    before = read(str(lost)).temperatures[0].configs()
    os.unlink(lost)
    proc = cli("sweep", spec, "--out", out, "--workers", "1")
    assert proc.returncode == 0 and "3 already done, 1 ran" in proc.stdout, proc.stderr
    assert np.array_equal(read(str(lost)).temperatures[0].configs(), before)

    cpu = _write(tmp_path, CUDA_TOML.replace('device = "cuda"\n', ""), "cpu.toml")
    proc = cli("sweep", cpu, "--out", out, "--dry-run")
    assert proc.returncode == 0 and "4 jobs, 0 done, 4 to run" in proc.stdout, proc.stderr
    assert sorted(line.split()[0] for line in proc.stdout.splitlines()[:-1]) == \
        sorted(j.id for j in jobs)
