"""The public Python API (``import spinsym``) on its own: in-memory simulate against the exact
transfer matrix, save/load round trips, CLI files, the learning classes and clean errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import spinsym
from spinsym.exact import transfer_matrix_ising
from spinsym.hamiltonians import Couplings


def test_import_is_light():
    code = ("import sys, spinsym; print(any(m in sys.modules for m in "
            "('torch', 'escnn', 'numba', 'h5py')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_public_names():
    for name in ("simulate", "analyze", "load", "Run", "SpinConfigs", "GroundStatePredictor",
                 "Sampler", "SpinsymError", "ParameterError", "DataError"):
        assert name in spinsym.__all__ and getattr(spinsym, name) is not None
    assert issubclass(spinsym.ParameterError, spinsym.SpinsymError)


def test_simulate_in_memory_agrees_with_exact_transfer_matrix():
    couplings = dict(Jx=0.7, Jy=-1.2, J2=0.15, h=0.3)
    T = [1.8, 3.1]
    run = spinsym.simulate("ising", L=8, T=T, **couplings, sweeps=40000, every=10,
                           thermalize=2000, seed=11)
    assert run.temperatures == T and len(run) == 2
    assert run[0].configs.shape == (4000, 8, 8) and run[0].configs.dtype == np.int8
    assert run[0].energy.shape == (4000,) and run[0].magnetization.shape == (4000,)
    res = spinsym.analyze(run)
    for r, t in zip(res, T):
        ex = transfer_matrix_ising(8, Couplings(**couplings), t)
        for key in ("energy_per_site", "m2"):
            est = r[key]
            assert est["err"] < 0.01, (key, est)
            assert abs(est["mean"] - ex[key]) < 4.5 * est["err"], (t, key, est, ex[key])


def test_api_and_cli_give_the_same_bits_and_load_reads_cli_files(cli, tmp_path):
    args = dict(L=6, T=[2.0, 2.5], Jx=1.0, Jy=0.5, sweeps=300, every=3, thermalize=30, seed=5)
    out = tmp_path / "cli.h5"
    p = cli("simulate", "ising", "--L", "6", "--T", "2.0,2.5", "--Jy", "0.5", "--sweeps", "300",
            "--every", "3", "--thermalize", "30", "--seed", "5", "--out", out)
    assert p.returncode == 0, p.stderr
    from_cli = spinsym.load(out)
    run = spinsym.simulate("ising", **args)
    assert from_cli.model == "ising" and from_cli.L == 6
    for a, b in zip(run, from_cli):
        assert np.array_equal(a.configs, b.configs)
        assert np.array_equal(a.energy, b.energy)
        assert np.array_equal(a.magnetization, b.magnetization)
    assert spinsym.analyze(run) == spinsym.analyze(out)


@pytest.mark.parametrize("model,algorithm", [("ising", "wolff"), ("xy", "metropolis")])
def test_save_load_round_trip_bit_for_bit(tmp_path, model, algorithm):
    run = spinsym.simulate(model, L=4, T=[0.9, 1.4], algorithm=algorithm, sweeps=40, every=2,
                           thermalize=5, seed=2)
    path = run.save(tmp_path / "r.h5")
    back = spinsym.load(path)
    assert back.temperatures == run.temperatures
    for a, b in zip(run, back):
        for name in ("configs", "energy", "magnetization"):
            x, y = getattr(a, name), getattr(b, name)
            assert x.dtype == y.dtype and np.array_equal(x, y)
        assert a.attrs == b.attrs
    again = tmp_path / "again.h5"
    back.save(again)
    assert all(np.array_equal(a.configs, b.configs) for a, b in zip(back, spinsym.load(again)))


def test_errors_are_spinsym_errors(tmp_path):
    with pytest.raises(spinsym.ParameterError, match="model"):
        spinsym.simulate("potts", L=4, T=1.0)
    with pytest.raises(spinsym.ParameterError):
        spinsym.simulate("ising", L=4, T=-1.0)
    with pytest.raises(spinsym.DataError):
        spinsym.load(tmp_path / "missing.h5")
    with pytest.raises(spinsym.ParameterError):
        spinsym.analyze(42)


def test_cuda_without_gpu_raises_spinsym_error():
    pytest.importorskip("numba")
    from numba import cuda

    if cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(spinsym.SpinsymError, match="GPU"):
        spinsym.simulate("ising", L=8, T=2.0, sweeps=10, every=1, device="cuda")


TINY_GS = ["--steps", "3", "--batch", "4", "--width", "2", "--depth", "1", "--pe-fields", "1",
           "--quiet"]


def test_learning_classes_from_cli_checkpoints(cli, tmp_path):
    torch = pytest.importorskip("torch")  # noqa: F841
    gs = tmp_path / "gs.pt"
    p = cli("train", "groundstate", "--model", "sympe", "--L", "4", "--seed", "1", "--out", gs,
            *TINY_GS)
    assert p.returncode == 0, p.stderr
    predictor = spinsym.GroundStatePredictor.load(gs)
    H = [{"Jx": 1, "Jy": -1, "J2": 0, "h": 0}, {"Jx": -1, "Jy": -1, "J2": 0.1, "h": 0.5}]
    a = predictor.predict(H, L=8, samples=3, seed=4)
    b = predictor.predict(H, L=8, samples=3, seed=4)
    assert a.shape == (2, 3, 8, 8) and a.dtype == np.int8 and np.array_equal(a, b)
    # the defaults are the CLI's: best of 4 draws, g̃ uniform on G, spins drawn from the output,
    # descent by single, pair and line-block flips
    assert np.array_equal(a, predictor.predict(H, L=8, samples=3, seed=4, best_of=4,
                                               sampling="uniform", decode="sample",
                                               refine_pairs=True, refine_lines=True))
    with pytest.raises(spinsym.ParameterError, match="sampling must be one of"):
        predictor.predict(H, L=8, sampling="argmax")
    with pytest.raises(spinsym.ParameterError, match="decode must be one of sign, sample"):
        predictor.predict(H, L=8, decode="argmax")
    # pair refinement (the default) never ends higher than single flips of the same draws
    from spinsym.hamiltonians import Couplings, energy

    single = predictor.predict(H, L=8, samples=3, seed=4, refine_pairs=False)
    for i, h in enumerate(H):
        c = Couplings(**h)
        assert np.all(np.asarray(energy("ising", a[i], c))
                      <= np.asarray(energy("ising", single[i], c)) + 1e-9)
    # the CLI's predict gives the same spins for the same seed
    params = tmp_path / "h.json"
    params.write_text(json.dumps(H))
    pred = tmp_path / "pred.npz"
    p = cli("predict", gs, "--params", params, "--L", "8", "--samples", "3", "--seed", "4",
            "--out", pred)
    assert p.returncode == 0, p.stderr
    assert np.array_equal(np.load(pred)["spins"], a)
    # per-bond Hamiltonians: a BondCouplings object and its JSON form give the same spins
    from spinsym.couplings import BondCouplings

    rng = np.random.default_rng(0)
    glass = BondCouplings(Jx=np.where(rng.random((8, 8)) < 0.5, -1.0, 1.0), Jy=1.0, J2p=0.0,
                          J2m=0.0, h=0.0)
    c = predictor.predict(glass, L=8, samples=2, seed=5)
    assert c.shape == (1, 2, 8, 8)
    assert np.array_equal(c, predictor.predict([glass.as_json()], L=8, samples=2, seed=5))
    with pytest.raises(spinsym.ParameterError, match="ragged"):
        predictor.predict([{"Jx": [[1, 2], [3]], "Jy": 1, "J2": 0, "h": 0}], L=8)

    data = spinsym.simulate("ising", L=4, T=[2.0, 3.0], algorithm="wolff", sweeps=200, every=2,
                            thermalize=50, seed=1)
    mc = data.save(tmp_path / "mc.h5")
    ds = spinsym.SpinConfigs(data)
    assert len(ds) == 200 and ds[0]["config"].shape == (4, 4)
    assert len(spinsym.SpinConfigs(mc)) == 200
    sp = tmp_path / "s.pt"
    p = cli("train", "sampler", "--data", mc, "--model", "sympe", "--seed", "0", "--steps", "2",
            "--batch", "4", "--width", "1", "--depth", "1", "--quiet", "--out", sp)
    assert p.returncode == 0, p.stderr
    sampler = spinsym.Sampler.load(sp)
    r1 = sampler.sample(T=[2.269], n=50, seed=7)
    r2 = sampler.sample(T=[2.269], n=50, seed=7)
    assert isinstance(r1, spinsym.Run) and r1[0].configs.shape == (50, 4, 4)
    assert np.array_equal(r1[0].configs, r2[0].configs)
    assert 0.0 <= r1[0].attrs["acceptance"] <= 1.0
    # the CLI's sample gives the same file contents
    out = tmp_path / "samples.h5"
    p = cli("sample", sp, "--T", "2.269", "--n", "50", "--seed", "7", "--quiet", "--out", out)
    assert p.returncode == 0, p.stderr
    assert np.array_equal(spinsym.load(out)[0].configs, r1[0].configs)
    # the free energy: the same from the file, from load(file) and from the in-memory Run
    f_file = spinsym.analyze(out)[0]["free_energy_per_site"]
    f_loaded = spinsym.analyze(spinsym.load(out))[0]["free_energy_per_site"]
    f_mem = spinsym.analyze(r1)[0]["free_energy_per_site"]
    assert f_file == f_loaded == f_mem and np.isfinite(f_file["mean"])
    # burn-in: the chain's first proposals are discarded, n samples are kept
    r3 = sampler.sample(T=[2.269], n=50, seed=7, burn_in=20)
    assert r3[0].configs.shape == (50, 4, 4) and r3[0].attrs["burn_in"] == 20
    with pytest.raises(spinsym.DataError):
        spinsym.Sampler.load(gs)  # a ground-state checkpoint is not a sampler
