"""The shared training layer: configs (TOML), checkpoints (kind, format, stored config), and
periodic checkpoints with exact resumption, for both tasks."""

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from spinsym import training
from spinsym.errors import DataError, ParameterError, SpinsymError
from spinsym.mc.run import SimulationConfig, simulate
from spinsym.tasks import groundstate as gs
from spinsym.tasks import sampler as S

GS_TINY = dict(L=4, seed=7, steps=6, batch=4, width=2, depth=1, checkpoint_every=2)
S_TINY = dict(seed=0, steps=5, batch=8, width=1, depth=1, checkpoint_every=2)


@pytest.fixture(scope="module")
def ising_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("mc") / "ising.h5"
    cfg = SimulationConfig("ising", 4, (2.0, 3.0), algorithm="wolff", sweeps=100, every=2,
                           thermalize=20, seed=1, threads=1)
    return simulate(cfg, str(p))


def _same(a: dict, b: dict):
    """Bit-identical weights, optimizer state, RNG states and history (up to wall times)."""
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for k in a["state_dict"]:
        assert torch.equal(a["state_dict"][k], b["state_dict"][k]), k
    oa, ob = a["training"]["optimizer"]["state"], b["training"]["optimizer"]["state"]
    for i in oa:
        for k in oa[i]:
            assert torch.equal(torch.as_tensor(oa[i][k]), torch.as_tensor(ob[i][k])), (i, k)
    ra, rb = a["training"]["rng"], b["training"]["rng"]
    assert torch.equal(ra["torch"], rb["torch"]) and ra["numpy"] == rb["numpy"]
    for k in ra["generators"]:
        assert torch.equal(ra["generators"][k], rb["generators"][k])
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert strip(a["history"]) == strip(b["history"])
    assert a["steps_done"] == b["steps_done"] and a["complete"] and b["complete"]


def _copy_when(path, copy, at_step):
    """A log callback that copies the checkpoint on disk when step ``at_step`` is logged."""
    def log(line):
        if line.split()[1] == str(at_step):
            shutil.copy(path, copy)
    return log


def _interrupt_at(at_step):
    def log(line):
        if line.split()[1] == str(at_step):
            signal.raise_signal(signal.SIGINT)
    return log


# ---------------------------------------------------------------------------------------------
# exact resumption


def test_groundstate_resume_is_bit_identical(tmp_path, default_sigint):
    cfg = gs.TrainConfig(**GS_TINY)
    out = str(tmp_path / "a.pt")
    # the last step (5) is logged; the periodic checkpoint of step 4 is then on disk
    full = gs.train(cfg, out=out, log=_copy_when(out, tmp_path / "p.pt", 5))
    part = torch.load(tmp_path / "p.pt", weights_only=True)
    assert not part["complete"] and part["steps_done"] == 4 and part["steps"] == 6
    resumed = gs.train(cfg, resume=str(tmp_path / "p.pt"), out=str(tmp_path / "b.pt"))
    _same(full, resumed)
    _same(full, torch.load(out, weights_only=True))
    # interrupted by a signal after step 0: the step is saved, then the signal goes on
    with pytest.raises(KeyboardInterrupt):
        gs.train(cfg, out=str(tmp_path / "c.pt"), log=_interrupt_at(0))
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    cut = torch.load(tmp_path / "c.pt", weights_only=True)
    assert not cut["complete"] and cut["steps_done"] == 1
    _same(full, gs.train(cfg, resume=str(tmp_path / "c.pt")))


def test_sampler_resume_is_bit_identical(ising_file, tmp_path, default_sigint):
    cfg = S.SamplerTrainConfig(**S_TINY)
    out = str(tmp_path / "a.pt")
    full = S.train(cfg, [ising_file], out=out, log=_copy_when(out, tmp_path / "p.pt", 4))
    part = torch.load(tmp_path / "p.pt", weights_only=True)
    assert not part["complete"] and part["steps_done"] == 4
    assert part["training"]["extra"]["running"] is not None  # the running average goes along
    _same(full, S.train(cfg, [ising_file], resume=str(tmp_path / "p.pt")))
    with pytest.raises(KeyboardInterrupt):
        S.train(cfg, [ising_file], out=str(tmp_path / "c.pt"), log=_interrupt_at(0))
    _same(full, S.train(cfg, [ising_file], resume=str(tmp_path / "c.pt")))


def test_resume_refuses_a_different_run(tmp_path):
    cfg = gs.TrainConfig(**GS_TINY)
    out = str(tmp_path / "a.pt")
    gs.train(cfg, out=out, log=_copy_when(out, tmp_path / "p.pt", 5))
    p = str(tmp_path / "p.pt")
    with pytest.raises(ParameterError, match="width = 2"):
        gs.train(cfg.override(width=3), resume=p)
    with pytest.raises(ParameterError, match="--steps 6"):
        gs.train(cfg.override(steps=9), resume=p)
    with pytest.raises(ParameterError, match="complete after 6 steps"):
        gs.train(cfg, resume=out)
    # a finished run extends with a new one-cycle run (warm restart of the schedule)
    more = gs.train(cfg.override(steps=8), resume=out)
    assert more["complete"] and more["steps_done"] == 8
    assert more["training"]["schedule"] == [[0, 6], [6, 2]]
    with pytest.raises(DataError, match="ground-state checkpoint, not a sampler"):
        S.train(S.SamplerTrainConfig(**S_TINY), [], resume=out)


# ---------------------------------------------------------------------------------------------
# checkpoints: kind, format, stored config, partial


@pytest.fixture(scope="module")
def gs_ckpt(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("gs") / "g.pt")
    gs.train(gs.TrainConfig(**{**GS_TINY, "steps": 2}), out=path)
    return path


def test_kind_mismatch_is_one_line(gs_ckpt, tmp_path):
    with pytest.raises(DataError, match=r"is a ground-state checkpoint, not a sampler") as e:
        S.load_checkpoint(gs_ckpt)
    assert "\n" not in str(e.value)
    fake = tmp_path / "s.pt"
    torch.save({"kind": "sampler", "format_version": 2}, fake)
    with pytest.raises(DataError, match="is a sampler checkpoint, not a ground-state"):
        gs.load_checkpoint(str(fake))
    torch.save({"kind": "groundstate", "format_version": 99}, fake)
    with pytest.raises(DataError, match="unsupported ground-state checkpoint format 99"):
        gs.load_checkpoint(str(fake))
    with pytest.raises(DataError, match="is a directory"):
        gs.load_checkpoint(str(tmp_path))


def _v1_groundstate(ck: dict) -> dict:
    """A checkpoint as format 1 wrote it: ``model`` = the network, no resume state."""
    tc = dict(ck["train_config"])
    tc["model"] = tc.pop("arch")
    tc.pop("checkpoint_every")
    return {"kind": "groundstate", "format_version": 1, "spinsym_version": "0.1.0",
            "model": ck["arch"], "model_config": ck["model_config"], "train_config": tc,
            "state_dict": ck["state_dict"], "history": ck["history"], "train_seconds": 1.0,
            "steps_done": ck["steps_done"], "compute_L": 4, "torch_version": "2"}


def test_old_format_checkpoints_still_load(gs_ckpt, ising_file, tmp_path):
    ck = torch.load(gs_ckpt, weights_only=True)
    old = tmp_path / "old.pt"
    torch.save(_v1_groundstate(ck), old)
    m, meta = gs.load_checkpoint(str(old))
    assert meta["arch"] == "sympe" and meta["model"] == "ising" and meta["complete"]
    assert meta["train_config"]["arch"] == "sympe"
    import numpy as np
    P = np.array([[1.0, -1.0, 0.0, 0.2]])
    m_new, _ = gs.load_checkpoint(gs_ckpt)
    assert np.array_equal(gs.predict(m, P, 4, samples=2)["spins"],
                          gs.predict(m_new, P, 4, samples=2)["spins"])
    with pytest.raises(DataError, match="no resume state"):
        gs.train(gs.TrainConfig(**{**GS_TINY, "steps": 4}), resume=str(old))
    # a format-1 sampler checkpoint: model = network, spin_model = the spin model
    sk = S.train(S.SamplerTrainConfig(**{**S_TINY, "steps": 1}), [ising_file])
    tc = dict(sk["train_config"])
    tc["model"] = tc.pop("arch")
    tc.pop("checkpoint_every")
    v1 = {"kind": "sampler", "format_version": 1, "spinsym_version": "0.1.0",
          "spin_model": "ising", "L": 4, "model": "sympe", "model_config": sk["model_config"],
          "train_config": tc, "data": sk["data"], "temperatures": sk["temperatures"],
          "couplings": sk["couplings"], "n_train_configs": sk["n_train_configs"],
          "state_dict": sk["state_dict"], "history": sk["history"], "train_seconds": 1.0,
          "train_cpu_seconds": 1.0, "steps_done": 1, "torch_version": "2"}
    torch.save(v1, tmp_path / "s1.pt")
    model, meta = S.load_checkpoint(str(tmp_path / "s1.pt"))
    assert meta["model"] == "ising" and meta["arch"] == "sympe" and "spin_model" not in meta
    cfg = S.check_sample_config(S.SampleConfig((2.0,), 4, n=10, seed=1), meta)
    assert S.sample_to_file(model, meta, cfg, str(tmp_path / "x.h5"))


def test_tampered_config_is_refused_before_building(gs_ckpt, tmp_path, monkeypatch):
    import spinsym.nn

    def boom(*a, **k):
        raise AssertionError("a network was built")
    monkeypatch.setattr(spinsym.nn, "build_model", boom)
    ck = torch.load(gs_ckpt, weights_only=True)
    ck["train_config"]["width"] = 100000
    ck["model_config"]["width"] = 100000
    bad = tmp_path / "bad.pt"
    torch.save(ck, bad)
    with pytest.raises(DataError, match=r"invalid stored training config: --width must be at "
                                        r"most 256, got 100000") as e:
        gs.load_checkpoint(str(bad))
    assert "\n" not in str(e.value)
    ck = torch.load(gs_ckpt, weights_only=True)
    ck["model_config"]["width"] = 64  # the network config alone edited
    torch.save(ck, bad)
    with pytest.raises(DataError, match="does not match its training config"):
        gs.load_checkpoint(str(bad))
    ck = torch.load(gs_ckpt, weights_only=True)
    ck["train_config"]["colour"] = "red"
    torch.save(ck, bad)
    with pytest.raises(DataError, match="unknown key"):
        gs.load_checkpoint(str(bad))


def test_partial_checkpoint_loads_with_one_warning(tmp_path, capsys):
    cfg = gs.TrainConfig(**GS_TINY)
    out = str(tmp_path / "a.pt")
    gs.train(cfg, out=out, log=_copy_when(out, tmp_path / "p.pt", 5))
    capsys.readouterr()
    gs.load_checkpoint(str(tmp_path / "p.pt"))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "partial checkpoint (step 4 of 6)" in err[0] and "--resume" in err[0]
    gs.load_checkpoint(out)
    assert capsys.readouterr().err == ""


# ---------------------------------------------------------------------------------------------
# configs, outputs, devices


def test_configs_are_frozen_and_validated():
    cfg = gs.TrainConfig()
    with pytest.raises(Exception):
        cfg.width = 3
    assert cfg.override(width=3, steps=None).width == 3 and cfg.width == 12
    for bad, word in ((dict(time_limit=float("nan")), "--time-limit"),
                      (dict(time_limit=-1.0), "--time-limit"), (dict(threads=-3), "--threads"),
                      (dict(lr=float("inf")), "--lr"), (dict(tau=0.0), r"tau \(config key\)"),
                      (dict(arch="transformer"), "unknown model"),
                      (dict(L=6, pe_period=4), "divisible by"),
                      (dict(kernel=4), "odd"), (dict(width=True), "--width")):
        with pytest.raises(ParameterError, match=word):
            cfg.override(**bad).validate()
    with pytest.raises(ParameterError, match="--pe-fields"):
        S.SamplerTrainConfig(pe_fields=0).validate()


def test_toml_config(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('arch = "gcnn"\nwidth = 3\nlr = 1\nfold = false\n')
    cfg = training.build_config(gs.TrainConfig, "groundstate", {"width": 5}, str(p))
    assert (cfg.arch, cfg.width, cfg.lr, cfg.fold) == ("gcnn", 5, 1.0, False)
    p.write_text('arch = "gcnn"\nwidht = 3\n')
    with pytest.raises(ParameterError, match="unknown key.*widht"):
        training.build_config(gs.TrainConfig, "groundstate", {}, str(p))
    p.write_text('width = "wide"\n')
    with pytest.raises(ParameterError, match="width must be a int"):
        training.build_config(gs.TrainConfig, "groundstate", {}, str(p))
    p.write_text("width = \n")
    with pytest.raises(ParameterError, match="malformed TOML"):
        training.build_config(gs.TrainConfig, "groundstate", {}, str(p))


def test_bad_output_is_refused_before_any_work(ising_file, tmp_path, monkeypatch):
    import spinsym.nn
    import spinsym.torchdata

    def boom(*a, **k):
        raise AssertionError("training started")
    monkeypatch.setattr(spinsym.nn, "build_model", boom)
    monkeypatch.setattr(spinsym.torchdata, "SpinConfigs", boom)
    cfg = gs.TrainConfig(**GS_TINY)
    for out in (tmp_path / "missing" / "a.pt", tmp_path, "/proc/spinsym.pt"):
        with pytest.raises(ParameterError):
            gs.train(cfg, out=str(out))
        with pytest.raises(ParameterError):
            S.train(S.SamplerTrainConfig(**S_TINY), [ising_file], out=str(out))
    with pytest.raises(ParameterError, match="is the input"):
        S.train(S.SamplerTrainConfig(**S_TINY), [ising_file], out=ising_file)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_gpu_is_one_line():
    with pytest.raises(SpinsymError, match="no CUDA GPU available"):
        training.resolve_device("cuda")
    with pytest.raises(ParameterError, match="cpu or cuda"):
        training.resolve_device("tpu")


def test_sigterm_keeps_a_resumable_checkpoint(tmp_path):
    """The command line: SIGTERM mid-run saves the current step, says how to resume, and
    exits 2 with one error line and no temporary left; --resume then finishes the run."""
    out = tmp_path / "a.pt"
    args = [sys.executable, "-m", "spinsym", "train", "groundstate", "--L", "4", "--steps",
            "100000", "--batch", "2", "--width", "1", "--depth", "1", "--checkpoint-every", "1",
            "--quiet", "--out", str(out)]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not out.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 2, err
    assert "Traceback" not in err and f"--resume {out}" in err
    assert len(err.strip().splitlines()) == 1 and err.startswith("spinsym: error: terminated")
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    ck = torch.load(out, weights_only=True)
    assert not ck["complete"] and ck["steps_done"] >= 1
    done = ck["steps_done"]
    res = subprocess.run([sys.executable, "-m", "spinsym", "train", "groundstate", "--resume",
                          str(out), "--steps", "100000", "--time-limit", "0.5", "--quiet",
                          "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert torch.load(out, weights_only=True)["steps_done"] > done


@pytest.mark.parametrize("steps", [1, 2, 3, 9, 10, 11, 19, 20, 21])
def test_one_cycle_runs_for_any_number_of_steps(steps):
    """torch's one-cycle divides by (warm-up fraction × steps − 1): 10 steps at 10 % crashed."""
    cfg = gs.TrainConfig(**{**GS_TINY, "steps": steps}).validate()
    model = torch.nn.Linear(2, 1)
    tr = training.Trainer("test", cfg, model, np_rngs={}, torch_gens={})
    lrs = []
    for _ in range(steps):
        tr.opt.step()
        lrs.append(tr.opt.param_groups[0]["lr"])
        tr.sched.step()
    assert all(0 < lr <= cfg.lr * (1 + 1e-12) for lr in lrs)
    if steps >= 3:
        assert max(lrs) > lrs[0] and lrs[-1] < max(lrs)


_FAULTS = """
import resource
import numpy as np
from spinsym.training import reuse_freed_memory
applied = reuse_freed_memory()
assert reuse_freed_memory() == applied  # once per process, same answer
def step():  # eight 4 MiB blocks alive at once, as a step's activations, then all freed
    keep = [np.ones(1 << 22, np.uint8) for _ in range(8)]
    del keep
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    step()
print(int(applied), resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(env_extra):
    import platform

    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        pytest.skip("glibc's malloc only")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.pop("SPINSYM_MALLOC", None)
    out = subprocess.run([sys.executable, "-c", _FAULTS], env={**env, **env_extra},
                         capture_output=True, text=True, check=True).stdout.split()
    return bool(int(out[0])), int(out[1])


def test_reuse_freed_memory_stops_page_faults_of_reallocated_blocks():
    """Blocks of a few MiB allocated and freed step after step: glibc's default returns the
    memory at free and faults it in again next step (about 20 000 page faults in 5 steps here);
    tuned, the heap keeps it and the steps fault almost nothing.  SPINSYM_MALLOC=default
    leaves malloc as it is."""
    applied, faults = _faults({})
    assert applied
    assert faults < 1000, faults
    applied, faults = _faults({"SPINSYM_MALLOC": "default"})
    assert not applied
    assert faults > 5000, faults


def test_a_signal_swallowed_before_training_stops_it_at_the_first_step(monkeypatch):
    """A SIGTERM whose exception a callback swallowed before the loop started (recorded by the
    command line in Interrupted.pending) stops the run at its first safe point, as simulate
    does, instead of being lost."""
    from spinsym.fileio import Interrupted

    monkeypatch.setattr(Interrupted, "pending", int(signal.SIGTERM))
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with training._StopOnSignal() as stop:
        assert stop.signum == signal.SIGTERM
        with pytest.raises(Interrupted) as info:
            stop.stop("a note")
    assert info.value.signum == signal.SIGTERM
    assert {s: signal.getsignal(s) for s in before} == before
    monkeypatch.setattr(Interrupted, "pending", None)
    with training._StopOnSignal() as stop:
        assert stop.signum is None
