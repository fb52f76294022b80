"""Reverse-KL (variational free energy) training, --init, and sweep directories as data."""

import signal

import numpy as np
import pytest
import torch

from spinsym import exact
from spinsym import sweep as sw
from spinsym.analysis import importance_free_energy
from spinsym.errors import DataError, ParameterError
from spinsym.tasks import sampler as S
from tests.sweep.conftest import spec_dict

TINY = dict(seed=0, batch=8, width=1, depth=1, pe_period=2, checkpoint_every=2)
TARGET = S.Target("ising", 4, (2.0, 3.0))


def _same_weights(a: dict, b: dict):
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for k in a["state_dict"]:
        assert torch.equal(a["state_dict"][k], b["state_dict"][k]), k
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert strip(a["history"]) == strip(b["history"])


def _estimates(model, T: float, n: int, seed: int, L: int = 4) -> dict:
    """Importance-sampling free energy and variational bound of a network at T (per site)."""
    model.prepare_inference()
    ck = {"model": "ising", "arch": model.kind, "couplings": [[1.0, 1.0, 0.0, 0.0]],
          "model_config": model.config()}
    cfg = S.check_sample_config(S.SampleConfig((T,), L, n=n, seed=seed, batch=n), ck)
    res = S.generate(model, "ising", cfg, T, np.random.SeedSequence(seed))
    return importance_free_energy(res["log_weight"], T, L * L)


def test_reverse_training_is_deterministic_and_resumes_bit_for_bit(tmp_path, default_sigint):
    cfg = S.SamplerTrainConfig(objective="reverse", steps=3, **TINY)
    full = S.train(cfg, target=TARGET, out=str(tmp_path / "a.pt"))
    assert full["data"] == [] and full["n_train_configs"] == 0 and full["L"] == 4
    assert full["temperatures"] == [2.0, 3.0] and full["couplings"] == [[1.0, 1.0, 0.0, 0.0]]
    rec = full["history"][-1]
    assert "beta_f_per_site" in rec and "nll_per_site" not in rec
    _same_weights(full, S.train(cfg, target=TARGET))

    def interrupt(line):
        if line.split()[1] == "0":
            signal.raise_signal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        S.train(cfg, target=TARGET, out=str(tmp_path / "c.pt"), log=interrupt)
    cut = torch.load(tmp_path / "c.pt", weights_only=True)
    assert not cut["complete"] and cut["steps_done"] == 1
    _same_weights(full, S.train(cfg, target=TARGET, resume=str(tmp_path / "c.pt")))
    with pytest.raises(DataError, match="temperatures or couplings"):
        S.train(cfg, target=S.Target("ising", 4, (2.0, 2.5)), resume=str(tmp_path / "c.pt"))


def test_reverse_training_refusals(tmp_path):
    cfg = S.SamplerTrainConfig(objective="reverse", steps=1, **TINY)
    with pytest.raises(ParameterError, match="--L and --T"):
        S.train(cfg)
    with pytest.raises(ParameterError, match="give --data"):
        S.train(S.SamplerTrainConfig(steps=1, **TINY), target=TARGET)
    with pytest.raises(ParameterError, match="even|power of two|multiple"):
        S.train(cfg, target=S.Target("ising", 3, (2.0,)))
    with pytest.raises(ParameterError, match="objective"):
        S.SamplerTrainConfig(objective="backward").validate()
    with pytest.raises(ParameterError):
        S.train(cfg, target=S.Target("ising", 4, (-1.0,)))


def test_init_starts_from_a_checkpoint_at_another_L(tmp_path):
    small = S.train(S.SamplerTrainConfig(objective="reverse", steps=2, **TINY), target=TARGET,
                    out=str(tmp_path / "s4.pt"))
    cfg = S.SamplerTrainConfig(objective="reverse", steps=1, **{**TINY, "seed": 5})
    big = S.train(cfg, target=S.Target("ising", 8, (2.0,)), init=str(tmp_path / "s4.pt"))
    assert big["L"] == 8 and big["init"].endswith("s4.pt")
    fresh = S.train(cfg, target=S.Target("ising", 8, (2.0,)))
    # one step from the L = 4 weights, not from seed 5's initialization
    moved = [k for k in small["state_dict"]
             if not torch.equal(fresh["state_dict"][k], big["state_dict"][k])]
    assert moved
    with pytest.raises(ParameterError, match="width"):
        S.train(S.SamplerTrainConfig(objective="reverse", steps=1, **{**TINY, "width": 2}),
                target=TARGET, init=str(tmp_path / "s4.pt"))
    with pytest.raises(ParameterError, match="--resume"):
        S.train(cfg, target=TARGET, init=str(tmp_path / "s4.pt"), resume=str(tmp_path / "s4.pt"))


def test_forward_training_on_a_sweep_directory(tmp_path):
    """A sweep over Jy: every finished file trains one sampler, each group with its own
    couplings and T; the checkpoint records them all."""
    from spinsym.cli.sampler import expand_data

    spec = sw.parse_spec({**spec_dict(T=[2.0, 3.0]), "couplings": {"Jx": 1.0, "Jy": [0.5, 1.0]}})
    out = str(tmp_path / "sweep")
    sw.run_sweep(spec, out, workers=1)
    paths = expand_data([out])
    assert len(paths) == 4  # one job (file) per (Jy, T)
    ck = S.train(S.SamplerTrainConfig(steps=2, **TINY), paths)
    assert ck["couplings"] == [[1.0, 0.5, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]]
    assert ck["temperatures"] == [2.0, 3.0] and len(ck["targets"]) == 4
    assert sorted(d["path"] for d in ck["data"]) == sorted(paths)
    mix = S.train(S.SamplerTrainConfig(objective="mix", steps=2, **TINY), paths)
    assert {"nll_per_site", "beta_f_per_site"} <= set(mix["history"][-1])
    with pytest.raises(DataError):
        expand_data([str(tmp_path)])  # a folder that is no sweep


@pytest.mark.slow
def test_reverse_training_lowers_the_variational_bound_toward_kaufman():
    """100 reverse-KL steps at L = 4, T = 2.5 (about a minute on a loaded 2-core machine): the
    variational bound −(T/N)·mean(log w) drops toward the exact F and stays above it."""
    L, T = 4, 2.5
    cfg = S.SamplerTrainConfig(objective="reverse", steps=100, batch=64, width=2, depth=2,
                               pe_period=4, seed=0, lr=1e-2)
    f_exact = -T * exact.kaufman_ising(L, T)["log_z"] / L ** 2
    before = _estimates(S.initial_model(cfg, "ising"), T, 4000, 1)
    ck = S.train(cfg, target=S.Target("ising", L, (T,)))
    model = S.initial_model(cfg, "ising")
    model.load_state_dict(ck["state_dict"])
    after = _estimates(model, T, 4000, 1)
    b0, b1 = before["free_energy_bound_per_site"], after["free_energy_bound_per_site"]
    gap0, gap1 = b0["mean"] - f_exact, b1["mean"] - f_exact
    assert gap1 < 0.5 * gap0, (b0, b1, f_exact)
    assert b1["mean"] >= f_exact - 4.5 * b1["err"]
    f1 = after["free_energy_per_site"]
    assert abs(f1["mean"] - f_exact) <= 4.5 * f1["err"]
    assert f1["err"] < before["free_energy_per_site"]["err"]  # a better proposal
