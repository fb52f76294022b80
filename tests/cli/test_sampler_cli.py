"""The sampler commands through the real CLI: train sampler, sample, analyze, plot compare, and
clean one-line errors with no file left behind."""

import json
import os

import pytest
import torch


def _run_cli():
    import os as _os
    import subprocess
    import sys

    def run(*args, timeout=300):
        env = dict(_os.environ, PYTHONUNBUFFERED="1")
        return subprocess.run([sys.executable, "-m", "spinsym", *map(str, args)],
                              capture_output=True, text=True, timeout=timeout, env=env)
    return run


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    run_cli = _run_cli()
    d = tmp_path_factory.mktemp("samplercli")
    p = run_cli("simulate", "ising", "--L", "4", "--T", "2.0,3.0", "--algorithm", "wolff",
                "--sweeps", "200", "--every", "2", "--thermalize", "50", "--seed", "1",
                "--threads", "1", "--out", d / "mc.h5")
    assert p.returncode == 0, p.stderr
    p = run_cli("simulate", "xy", "--L", "4", "--T", "1.0", "--algorithm", "wolff",
                "--sweeps", "20", "--every", "2", "--thermalize", "5", "--threads", "1",
                "--out", d / "xy.h5")
    assert p.returncode == 0, p.stderr
    p = run_cli("train", "sampler", "--data", d / "mc.h5", "--model", "sympe", "--seed", "0",
                "--steps", "2", "--batch", "4", "--width", "1", "--depth", "1", "--quiet",
                "--out", d / "s.pt")
    assert p.returncode == 0, p.stderr
    assert "wrote" in p.stdout
    return d


def test_train_sample_analyze_plot(workdir, cli):
    d = workdir
    p = cli("sample", d / "s.pt", "--T", "2.0,2.5", "--L", "4", "--n", "50", "--seed", "3",
            "--mh", "--quiet", "--out", d / "samples.h5")
    assert p.returncode == 0, p.stderr
    p = cli("analyze", d / "samples.h5", "--json")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)["results"]
    assert [r["T"] for r in res] == [2.0, 2.5]
    assert res[0]["algorithm"] == "sampler:sympe+mh" and "m" in res[0]
    assert 0.0 <= res[0]["acceptance"] <= 1.0
    p = cli("plot", "compare", d / "mc.h5", d / "samples.h5", "--out", d / "cmp.png")
    assert p.returncode == 0, p.stderr
    assert (d / "cmp.png").read_bytes()[:4] == b"\x89PNG"


def test_groundstate_checkpoint_is_refused(workdir, cli, clean_error):
    d = workdir
    torch.save({"kind": "groundstate", "format_version": 1, "state_dict": {}}, d / "gs.pt")
    p = cli("sample", d / "gs.pt", "--T", "2.0", "--n", "10", "--out", d / "x.h5")
    clean_error(p, "ground-state")
    assert not os.path.exists(d / "x.h5")
    (d / "junk.pt").write_text("hello")
    p = cli("sample", d / "junk.pt", "--T", "2.0", "--n", "10", "--out", d / "x.h5")
    clean_error(p, "checkpoint")
    assert not os.path.exists(d / "x.h5")


def test_bad_temperature_and_data(workdir, cli, clean_error):
    d = workdir
    p = cli("sample", d / "s.pt", "--T", "2.0,-1", "--n", "10", "--out", d / "y.h5")
    clean_error(p, "positive")
    p = cli("sample", d / "s.pt", "--T", "0", "--n", "10", "--out", d / "y.h5")
    clean_error(p, "positive")
    assert not os.path.exists(d / "y.h5")
    p = cli("train", "sampler", "--data", d / "mc.h5", "--data", d / "xy.h5", "--steps", "1",
            "--out", d / "bad.pt")
    clean_error(p, "xy")
    p = cli("train", "sampler", "--data", d / "nope.h5", "--out", d / "bad.pt")
    clean_error(p, "no such file")
    assert not os.path.exists(d / "bad.pt")
    assert not [f for f in os.listdir(d) if f.endswith(".tmp")]


@pytest.mark.parametrize("args, words", [
    (["--T", "2.0,2.0"], "given twice"),
    (["--T", "nan"], "positive and finite"),
    (["--n", "0"], "--n must be at least 1"),
    (["--seed", "-1"], "--seed must be at least 0"),
    (["--seed", str(2**64)], "--seed must be at most"),
    (["--batch", "0"], "--batch must be at least 1"),
    (["--threads", "-3"], "--threads must be at least 0"),
    (["--device", "tpu"], "unknown device"),
    (["--Jx", "inf"], "--Jx must be finite"),
    (["--L", "100000"], "needs ~"),
])
def test_sample_hostile_values(cli, clean_error, tmp_path, args, words):
    fake = tmp_path / "fake.pt"
    fake.write_bytes(b"never read: the options are checked first")
    clean_error(cli("sample", fake, "--T", "2.0", "--out", tmp_path / "x.h5", *args), words)
    assert sorted(os.listdir(tmp_path)) == ["fake.pt"]


def test_sample_inputs_and_outputs(cli, clean_error, tmp_path):
    fake = tmp_path / "fake.pt"
    fake.write_bytes(b"x")
    clean_error(cli("sample", tmp_path, "--T", "2.0", "--out", tmp_path / "x.h5"),
                "is a directory, not a checkpoint")
    clean_error(cli("sample", fake, "--T", "2.0", "--out", fake), "input")
    assert fake.read_bytes() == b"x"
    clean_error(cli("plot", "compare", fake, *[fake] * 7, "--out", tmp_path / "c.png"),
                "at most 6 sampler files")
    clean_error(cli("plot", "compare", fake, fake, "--out", fake), "input")


def test_training_refuses_bad_content(workdir, cli, clean_error, tmp_path):
    # the content check of analyze, on the training path: spins = 3 and NaN energies
    import h5py
    import shutil

    bad = tmp_path / "bad.h5"
    shutil.copy(workdir / "mc.h5", bad)
    with h5py.File(bad, "r+") as f:
        f["T_000/configs"][0, 0, 0] = 3
        f["T_000/energy"][0] = float("nan")
    clean_error(cli("train", "sampler", "--data", bad, "--steps", "1", "--quiet", "--out",
                    tmp_path / "m.pt"), "spins must be -1 or +1")
    clean_error(cli("analyze", bad), "spins must be -1 or +1")
    assert not os.path.exists(tmp_path / "m.pt")


# ---------------------------------------------------------------------------------------------
# reverse-KL training, burn-in, the free energy in analyze, sweep directories, --init


def test_reverse_training_then_free_energy_in_analyze(workdir, cli, clean_error):
    d = workdir
    p = cli("train", "sampler", "--objective", "reverse", "--L", "4", "--T", "2.0,3.0",
            "--Jy", "0.5", "--steps", "2", "--batch", "4", "--width", "1", "--depth", "1",
            "--quiet", "--out", d / "rev.pt")
    assert p.returncode == 0, p.stderr
    assert "reverse" in p.stdout and "βF_q/site" in p.stdout
    ck = torch.load(d / "rev.pt", weights_only=True)
    assert ck["couplings"] == [[1.0, 0.5, 0.0, 0.0]] and ck["data"] == []
    p = cli("sample", d / "rev.pt", "--T", "2.5", "--n", "40", "--burn-in", "10", "--seed",
            "1", "--quiet", "--out", d / "rev.h5")
    assert p.returncode == 0, p.stderr
    (r,) = json.loads(cli("analyze", d / "rev.h5", "--json").stdout)["results"]
    assert r["couplings"]["Jy"] == 0.5  # the checkpoint's couplings are the default
    f, b = r["free_energy_per_site"], r["free_energy_bound_per_site"]
    assert f["err"] > 0 and b["mean"] >= f["mean"] - 5 * f["err"]
    assert r["proposals"] == 50 and 1 <= r["ess"] <= r["distinct"] <= 40
    assert 0 < r["is_ess_fraction"] <= 1
    # resuming the finished reverse run for more steps needs neither --L nor --T
    p = cli("train", "sampler", "--resume", d / "rev.pt", "--steps", "3", "--quiet",
            "--out", d / "rev3.pt")
    assert p.returncode == 0, p.stderr
    assert torch.load(d / "rev3.pt", weights_only=True)["steps_done"] == 3


@pytest.mark.parametrize("args, words", [
    (["--objective", "reverse"], "--L and --T"),
    (["--objective", "reverse", "--L", "4"], "--L and --T"),
    (["--objective", "sideways"], "unknown objective"),
    (["--objective", "reverse", "--L", "4", "--T", "2,2"], "given twice"),
    (["--objective", "reverse", "--L", "4", "--T", "2", "--h", "nan"], "--h must be finite"),
    (["--T", "2.0"], "--objective reverse without --data"),
    (["--objective", "reverse", "--L", "4", "--T", "2", "--data", "{d}/mc.h5"],
     "without --data"),
    (["--init", "{d}/nope.pt", "--data", "{d}/mc.h5"], "not found"),
])
def test_train_sampler_reverse_refusals(workdir, cli, clean_error, tmp_path, args, words):
    args = [a.replace("{d}", str(workdir)) for a in args]
    clean_error(cli("train", "sampler", "--steps", "1", "--quiet", "--out", tmp_path / "x.pt",
                    *args), words)
    assert not os.listdir(tmp_path)


def test_burn_in_needs_mh_and_a_count(workdir, cli, clean_error, tmp_path):
    d = workdir
    clean_error(cli("sample", d / "s.pt", "--T", "2", "--n", "10", "--no-mh", "--burn-in", "5",
                    "--out", tmp_path / "x.h5"), "needs --mh")
    clean_error(cli("sample", d / "s.pt", "--T", "2", "--n", "10", "--burn-in", "-1",
                    "--out", tmp_path / "x.h5"), "--burn-in")
    assert not os.listdir(tmp_path)


def test_init_and_sweep_directory(workdir, cli, clean_error, tmp_path):
    """--data DIR trains on every finished file of a sweep; --init fine-tunes s.pt (L = 4)
    at L = 8 with the checkpoint's network."""
    from spinsym import sweep as sw
    from tests.sweep.conftest import spec_dict

    out = tmp_path / "sweep"
    sw.run_sweep(sw.parse_spec(spec_dict(T=[2.0, 3.0])), str(out), workers=1)
    p = cli("train", "sampler", "--data", out, "--steps", "1", "--batch", "4", "--width", "1",
            "--depth", "1", "--quiet", "--out", tmp_path / "sw.pt")
    assert p.returncode == 0, p.stderr
    ck = torch.load(tmp_path / "sw.pt", weights_only=True)
    assert len(ck["data"]) == 2 and ck["temperatures"] == [2.0, 3.0]
    p = cli("train", "sampler", "--objective", "reverse", "--L", "8", "--T", "2.269",
            "--init", workdir / "s.pt", "--steps", "1", "--batch", "2", "--quiet",
            "--out", tmp_path / "s8.pt")
    assert p.returncode == 0, p.stderr
    ck8 = torch.load(tmp_path / "s8.pt", weights_only=True)
    assert ck8["L"] == 8 and ck8["model_config"]["width"] == 1
    clean_error(cli("train", "sampler", "--objective", "reverse", "--L", "8", "--T", "2",
                    "--init", workdir / "s.pt", "--width", "3", "--steps", "1", "--quiet",
                    "--out", tmp_path / "w.pt"), "width")
    clean_error(cli("train", "sampler", "--data", tmp_path, "--steps", "1", "--quiet",
                    "--out", tmp_path / "w.pt"), "sweep")
    assert not os.path.exists(tmp_path / "w.pt")
