"""Sampler training / checkpoints / sampling to the HDF5 schema / exact MH correction."""


import h5py
import numpy as np
import pytest
import torch

from spinsym import exact
from spinsym.analysis import analyze_file
from spinsym.data import read
from spinsym.errors import DataError, ParameterError
from spinsym.hamiltonians import Couplings, energy
from spinsym.mc.run import SimulationConfig, simulate
from spinsym.nn.sampler import MaskedSampler
from spinsym.tasks import sampler as S

TINY = dict(steps=3, batch=8, width=1, depth=1, pe_fields=1)


@pytest.fixture(scope="module")
def ising_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("mc") / "ising.h5"
    cfg = SimulationConfig("ising", 4, (2.0, 3.0), algorithm="wolff", sweeps=200, every=2,
                           thermalize=50, seed=1, threads=1)
    return simulate(cfg, str(p))


@pytest.fixture(scope="module")
def xy_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("mc") / "xy.h5"
    cfg = SimulationConfig("xy", 4, (0.8, 1.2), algorithm="wolff", sweeps=100, every=2,
                           thermalize=20, seed=2, threads=1)
    return simulate(cfg, str(p))


@pytest.fixture(scope="module")
def ising_ckpt(ising_file, tmp_path_factory):
    cfg = S.SamplerTrainConfig(arch="sympe", seed=0, **TINY)
    ckpt = S.train(cfg, [ising_file])
    return S.save_checkpoint(ckpt, str(tmp_path_factory.mktemp("ck") / "s.pt"))


def test_checkpoint_records_config_and_is_deterministic(ising_file, ising_ckpt):
    ck = torch.load(ising_ckpt, weights_only=True)
    assert ck["kind"] == "sampler" and ck["model"] == "ising" and ck["arch"] == "sympe" and ck["L"] == 4
    assert ck["train_config"]["width"] == 1 and ck["model_config"]["kind"] == "sympe"
    assert ck["temperatures"] == [2.0, 3.0] and ck["couplings"] == [[1.0, 1.0, 0.0, 0.0]]
    again = S.train(S.SamplerTrainConfig(arch="sympe", seed=0, **TINY), [ising_file])
    for k, v in ck["state_dict"].items():
        assert torch.equal(v, again["state_dict"][k]), k


@pytest.mark.parametrize("mh", [False, True])
def test_sample_writes_the_schema_bit_for_bit(ising_ckpt, tmp_path, mh):
    model, ck = S.load_checkpoint(ising_ckpt)
    cfg = S.check_sample_config(S.SampleConfig((2.0, 2.5), 4, n=40, seed=7, mh=mh), ck)
    a = S.sample_to_file(model, ck, cfg, str(tmp_path / "a.h5"), ising_ckpt)
    b = S.sample_to_file(model, ck, cfg, str(tmp_path / "b.h5"), ising_ckpt)
    ds = read(a)
    g = ds.temperatures[1]
    assert g.T == 2.5 and g.n_samples == 40
    assert g.attrs["algorithm"] == ("sampler:sympe+mh" if mh else "sampler:sympe")
    assert g.attrs["sweeps"] == 40 and g.attrs["thermalize"] == 0 and g.attrs["seed"] == 7
    assert ("acceptance" in g.attrs) == mh and "ess" in g.attrs
    cfgs = g.configs()
    assert cfgs.dtype == np.int8 and set(np.unique(cfgs)) <= {-1, 1}
    assert np.array_equal(g.energy(), energy("ising", cfgs, Couplings()))
    with h5py.File(a) as fa, h5py.File(b) as fb:
        for name in ("T_000", "T_001"):
            assert np.array_equal(fa[name]["configs"][:], fb[name]["configs"][:])
    res = analyze_file(a)
    assert "m" in res[0] and res[0]["n_samples"] == 40
    if mh:
        assert res[0]["acceptance"] == pytest.approx(ds.temperatures[0].attrs["acceptance"])


def test_foreign_and_groundstate_checkpoints_are_refused(tmp_path):
    gs = tmp_path / "gs.pt"
    torch.save({"kind": "groundstate", "format_version": 1}, gs)
    with pytest.raises(DataError, match="ground-state"):
        S.load_checkpoint(str(gs))
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(DataError):
        S.load_checkpoint(str(junk))
    with pytest.raises(DataError):
        S.load_checkpoint(str(tmp_path / "missing.pt"))


def test_bad_sample_parameters(ising_ckpt):
    _, ck = S.load_checkpoint(ising_ckpt)
    for bad in (dict(temperatures=(2.0, -1.0), L=4), dict(temperatures=(2.0,), L=5),
                dict(temperatures=(2.0,), L=4, n=1)):
        with pytest.raises(ParameterError):
            S.check_sample_config(S.SampleConfig(**bad), ck)


def test_xy_training_and_sampling(xy_file, tmp_path):
    ckpt = S.train(S.SamplerTrainConfig(arch="gcnn", seed=1, **TINY), [xy_file])
    path = S.save_checkpoint(ckpt, str(tmp_path / "xy.pt"))
    model, ck = S.load_checkpoint(path)
    cfg = S.check_sample_config(S.SampleConfig((1.0,), 4, n=20, seed=0, mh=True), ck)
    out = S.sample_to_file(model, ck, cfg, str(tmp_path / "xy.h5"), path)
    g = read(out).temperatures[0]
    th = g.configs()
    assert th.dtype == np.float32 and th.min() >= 0 and th.max() < 2 * np.pi
    assert "helicity" in analyze_file(out)[0]


def test_training_data_mismatch_is_refused(ising_file, xy_file):
    with pytest.raises(DataError):
        S.train(S.SamplerTrainConfig(**TINY), [ising_file, xy_file])


# ---------------------------------------------------------------------------------------------
# Metropolis–Hastings on the extended space leaves the exact distribution invariant


def _all_spins(L):
    n = L * L
    idx = np.arange(2 ** n)[:, None] >> np.arange(n)[None, :] & 1
    return torch.tensor(2 * idx - 1, dtype=torch.float32).reshape(-1, L, L)


def test_mh_kernel_leaves_boltzmann_invariant_exactly():
    """2 × 2 Ising: the independence MH kernel on (frame, s) with the acceptance of
    :func:`spinsym.tasks.sampler.mh_chain` (component likelihoods only) has π(s)q(g) as an
    exact stationary distribution, and its s-marginal is the Boltzmann distribution."""
    L, beta = 2, 0.7
    torch.manual_seed(0)
    m = MaskedSampler("ising", "sympe", width=2, depth=1, pe_period=2, init_scale=1.0).eval()
    s = _all_spins(L)
    frames = m.all_frames(L)
    F, n = len(frames["d"]), len(s)
    cond = torch.tensor([[beta, 1.0, 1.0, 0.0, 0.0]] * (F * n))
    rep = {k: v.repeat_interleave(n) for k, v in frames.items()}
    with torch.no_grad():
        logP = m.component_log_prob(s.repeat(F, 1, 1), cond, rep).double().numpy()
    Q = np.exp(logP) / F  # proposal probability of each (g, s)
    assert Q.sum() == pytest.approx(1.0, abs=1e-5)
    E = np.asarray(energy("ising", s.numpy().astype(np.int8), Couplings()), dtype=np.float64)
    pi = np.exp(-beta * E)
    pi /= pi.sum()
    Pi = np.tile(pi, F) / F  # target on the extended space
    logw = np.log(Pi) - np.log(Q)  # = log π(s) − log P_g(s) + const
    acc = np.minimum(1.0, np.exp(logw[None, :] - logw[:, None]))  # from row to column
    K = Q[None, :] * acc
    K[np.diag_indices_from(K)] += 1.0 - K.sum(1)
    assert np.allclose(Pi @ K, Pi, atol=1e-12)
    # the kernel is not trivially the identity: plenty of moves are accepted
    assert (K.sum(1) - K.diagonal()).mean() > 0.2


@pytest.mark.slow
def test_mh_chain_converges_to_exact_energy_on_2x2(tmp_path):
    """End to end: an untrained sampler is biased; its MH chain reproduces the exact energy."""
    torch.manual_seed(3)
    L, T = 2, 1.5
    m = MaskedSampler("ising", "sympe", width=2, depth=1, pe_period=2, init_scale=2.0)
    m.prepare_inference()
    ck = {"model": "ising", "arch": "sympe", "couplings": [[1.0, 1.0, 0.0, 0.0]],
          "model_config": m.config()}
    ref = exact.enumerate_ising(L, Couplings(), T)["energy_per_site"]
    out = {}
    for mh in (False, True):
        cfg = S.check_sample_config(S.SampleConfig((T,), L, n=30000, seed=1, mh=mh,
                                                   batch=10000), ck)
        res = S.generate(m, "ising", cfg, T, np.random.SeedSequence(5))
        e = res["energy"] / L ** 2
        from spinsym.stats import mean_err
        out[mh] = mean_err(e)
    raw, corrected = out[False], out[True]
    assert abs(raw[0] - ref) > 10 * raw[1]  # the raw sampler is measurably wrong
    assert abs(corrected[0] - ref) < 4 * corrected[1] + 1e-3
