"""simulate / analyze / plot from the command line: contract, bad input, atomic output."""

import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

SMALL = ["--L", "4", "--T", "2.0,3.0", "--sweeps", "200", "--thermalize", "20", "--every", "2"]


def _leftovers(folder):
    return [f for f in os.listdir(folder) if f.endswith(".tmp")]


def test_version_and_help(cli):
    proc = cli("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("spinsym ")
    proc = cli("--help")
    assert proc.returncode == 0
    for command in ("simulate", "analyze", "plot"):
        assert command in proc.stdout


def test_simulate_analyze_json(cli, tmp_path):
    out = tmp_path / "scan.h5"
    proc = cli("simulate", "ising", *SMALL, "--seed", "3", "--out", out)
    assert proc.returncode == 0, proc.stderr
    proc = cli("analyze", out, "--json")
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)["results"]
    assert [r["T"] for r in results] == [2.0, 3.0]
    for r in results:
        for key in ("energy_per_site", "m", "abs_m", "m2", "specific_heat", "susceptibility",
                    "binder"):
            assert set(r[key]) >= {"mean", "err"}
            assert np.isfinite(r[key]["mean"]) and r[key]["err"] >= 0
        assert set(r["tau_int"]) >= {"energy", "abs_m"}
        assert r["n_samples"] == 100
    table = cli("analyze", out)
    assert table.returncode == 0 and "energy_per_site" in table.stdout
    assert _leftovers(tmp_path) == []


def test_same_seed_same_file_contents(cli, tmp_path):
    a, b, c = tmp_path / "a.h5", tmp_path / "b.h5", tmp_path / "c.h5"
    for path, seed, threads in ((a, 5, 1), (b, 5, 2), (c, 6, 2)):
        assert cli("simulate", "ising", *SMALL, "--seed", seed, "--threads", threads,
                   "--out", path).returncode == 0
    with h5py.File(a) as fa, h5py.File(b) as fb, h5py.File(c) as fc:
        for g in ("T_000", "T_001"):
            assert np.array_equal(fa[g]["configs"][...], fb[g]["configs"][...])
            assert np.array_equal(fa[g]["energy"][...], fb[g]["energy"][...])
            assert not np.array_equal(fa[g]["configs"][...], fc[g]["configs"][...])
        attrs = dict(fa["T_001"].attrs)
        for key in ("model", "L", "Jx", "Jy", "J2", "h", "T", "algorithm", "sweeps",
                    "thermalize", "every", "seed", "spinsym_version"):
            assert key in attrs
        assert attrs["T"] == 3.0 and attrs["seed"] == 5 and attrs["every"] == 2


@pytest.mark.parametrize("args, words", [
    (["simulate", "potts", "--out", "{d}/x.h5"], ["unknown model"]),
    (["simulate", "ising", "--algorithm", "magic", "--out", "{d}/x.h5"], ["unknown algorithm"]),
    (["simulate", "ising", "--L", "1", "--out", "{d}/x.h5"], ["at least 2"]),
    (["simulate", "ising", "--L", "7", "--out", "{d}/x.h5"], ["even"]),
    (["simulate", "ising", "--T", "0", "--out", "{d}/x.h5"], ["positive"]),
    (["simulate", "ising", "--T", "-1.5", "--out", "{d}/x.h5"], ["positive"]),
    (["simulate", "ising", "--T", "2,abc", "--out", "{d}/x.h5"], ["not a number"]),
    (["simulate", "ising", "--sweeps", "-5", "--out", "{d}/x.h5"], ["sweeps"]),
    (["simulate", "ising", "--thermalize", "-1", "--out", "{d}/x.h5"], ["thermalize"]),
    (["simulate", "ising", "--algorithm", "wolff", "--h", "0.5", "--out", "{d}/x.h5"], ["h = 0"]),
    (["simulate", "xy", "--algorithm", "heatbath", "--out", "{d}/x.h5"], ["unknown algorithm"]),
    (["simulate", "ising", "--out", "{d}/no/such/dir/x.h5"], ["directory does not exist"]),
    (["simulate", "ising", "--device", "tpu", "--out", "{d}/x.h5"], ["unknown device"]),
    (["simulate", "ising", "--device", "cuda", "--J2", "0.5", "--out", "{d}/x.h5"], ["J2"]),
])
def test_simulate_bad_input(cli, clean_error, tmp_path, args, words):
    proc = cli(*[a.format(d=tmp_path) for a in args])
    clean_error(proc, *words)
    assert os.listdir(tmp_path) == []


def test_odd_L_allowed_for_cluster_algorithms(cli, tmp_path):
    out = tmp_path / "odd.h5"
    proc = cli("simulate", "ising", "--L", "5", "--T", "2.5", "--algorithm", "wolff",
               "--sweeps", "20", "--thermalize", "5", "--every", "1", "--out", out)
    assert proc.returncode == 0, proc.stderr


def test_analyze_bad_files(cli, clean_error, tmp_path):
    clean_error(cli("analyze", tmp_path / "missing.h5"), "no such file")
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"this is not hdf5 at all" * 10)
    clean_error(cli("analyze", junk), "not an hdf5 file")
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(3)
    clean_error(cli("analyze", foreign), "foreign")
    # a truncated spinsym file is corrupt, not a crash
    good = tmp_path / "good.h5"
    assert cli("simulate", "ising", *SMALL, "--out", good).returncode == 0
    data = good.read_bytes()
    bad = tmp_path / "truncated.h5"
    bad.write_bytes(data[: len(data) // 2])
    clean_error(cli("analyze", bad))


def test_sigint_leaves_nothing_or_valid_file(tmp_path):
    out = tmp_path / "long.h5"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "spinsym", "simulate", "ising", "--L", "64",
                             "--T", "2.0,2.3,2.6", "--sweeps", "10000000", "--thermalize", "10",
                             "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env,
                            # a test runner started in the background inherits SIGINT ignored;
                            # give the child the default disposition, as a terminal would
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(6)  # past start-up and compilation, into the sweeps
    proc.send_signal(signal.SIGINT)
    t0 = time.time()
    _, err = proc.communicate(timeout=30)
    assert time.time() - t0 < 10
    assert proc.returncode != 0
    assert "Traceback" not in err
    assert not out.exists()
    assert _leftovers(tmp_path) == []


def test_plot_observables_and_snapshots(cli, tmp_path):
    out = tmp_path / "scan.h5"
    assert cli("simulate", "ising", *SMALL, "--out", out).returncode == 0
    png, snaps = tmp_path / "fig.png", tmp_path / "snap.png"
    proc = cli("plot", "observables", out, "--out", png, "--snapshots", snaps)
    assert proc.returncode == 0, proc.stderr
    for p in (png, snaps):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args, words", [
    (["--seed", str(2**64)], ["seed must be at most 9223372036854775807"]),
    (["--seed", "-1"], ["seed must be at least 0"]),
    (["--sweeps", str(2**63)], ["sweeps must be at most"]),
    (["--sweeps", str(2**62)], ["64-bit"]),
    (["--L", str(10**6)], ["L=1000000 needs ~", "available"]),
    (["--T", "1e-300"], ["too low"]),
    (["--T", "2.0,2.5,2.0"], ["2 is given twice"]),
    (["--T", "1:2:0.3"], ["whole number of steps"]),
    (["--threads", "-3"], ["threads must be at least 0"]),
    (["--Jx", "nan"], ["--Jx must be finite"]),
    (["--h", "1e400"], ["--h must be finite"]),
])
def test_simulate_hostile_values(cli, clean_error, tmp_path, args, words):
    clean_error(cli("simulate", "ising", *args, "--out", tmp_path / "x.h5"), *words)
    assert os.listdir(tmp_path) == []


def test_temperature_range_syntax_and_summary(cli, tmp_path):
    out = tmp_path / "r.h5"
    proc = cli("simulate", "ising", "--L", "4", "--T", "1.6,1.7,...,2.0", "--sweeps", "2",
               "--every", "2", "--thermalize", "0", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (f"wrote {out}: ising L=4, 5 temperatures, 1 sample each "
                                   "(metropolis)")
    with h5py.File(out) as f:
        assert [float(f[g].attrs["T"]) for g in sorted(f)] == [1.6, 1.7, 1.8, 1.9, 2.0]
    proc = cli("simulate", "ising", "--L", "4", "--T", "2:2:0.5", "--sweeps", "2", "--every",
               "2", "--thermalize", "0", "--out", out)
    assert "1 temperature, 1 sample each" in proc.stdout


def _corrupt(path, **writes):
    """Overwrite entries of group T_000: name=(index, value); or attrs T=value."""
    with h5py.File(path, "r+") as f:
        for name, (index, value) in writes.items():
            if name == "T":
                f["T_000"].attrs["T"] = value
            else:
                f[f"T_000/{name}"][index] = value


@pytest.mark.parametrize("writes, words", [
    (dict(configs=((0, 0, 0), 3)), ["spins must be -1 or +1, found 3"]),
    (dict(energy=(1, np.nan)), ["energies must be finite"]),
    (dict(T=(None, 1e-300)), ["too low"]),
])
def test_analyze_refuses_bad_content(cli, clean_error, tmp_path, writes, words):
    path = tmp_path / "bad.h5"
    assert cli("simulate", "ising", *SMALL, "--out", path).returncode == 0
    _corrupt(path, **writes)
    clean_error(cli("analyze", path), *words)
    clean_error(cli("plot", "observables", path, "--out", tmp_path / "o.png"), *words)
    assert not os.path.exists(tmp_path / "o.png")


def test_plot_hostile_values(cli, clean_error, tmp_path):
    path = tmp_path / "s.h5"
    assert cli("simulate", "ising", *SMALL, "--out", path).returncode == 0
    before = path.read_bytes()
    clean_error(cli("plot", "snapshots", path, "--out", tmp_path / "s.png", "--per-T", "10000"),
                "--per-T must be at most 12")
    clean_error(cli("plot", "snapshots", path, "--out", tmp_path / "s.png", "--per-T", "0"),
                "--per-T must be at least 1")
    clean_error(cli("plot", "snapshots", path, "--out", path), "input")
    clean_error(cli("plot", "observables", path, "--out", tmp_path / "o.png", "--snapshots",
                    path), "input")
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["s.h5"]
