"""`spinsym experiment groundstate`: end to end on the small spec, resuming, and clean errors."""

import json
import os
import shutil

import numpy as np
import pytest

from tests.conftest import assert_clean_error, run_cli

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMALL = os.path.join(ROOT, "examples", "experiments", "groundstate_small.toml")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("exp") / "run"
    proc = run_cli("experiment", "groundstate", SMALL, "--out", out)
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_end_to_end(finished):
    out, proc = finished
    for name in ("experiment.json", "table.md", "gap_per_family.png", "gap_vs_time.png",
                 "spec.json"):
        assert (out / name).is_file(), name
    with open(out / "gap_per_family.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    res = json.loads((out / "experiment.json").read_text())
    rows = {(r["model"], r["variant"]) for r in res["results"]}
    assert rows == {("sympe", "raw"), ("sympe", "refined"), ("gcnn", "raw"),
                    ("gcnn", "refined"), ("descent", "best of 2"), ("sa", "20x2")}
    assert res["sets"]["heldout"]["reference"] == "exact-periodic"
    for r in res["results"]:
        a = r["families"]["all"]
        assert len(a["per_seed"]) == 2 and all(g >= 0 for g in a["per_seed"])
        assert a["mean_gap"] == pytest.approx(np.mean(a["per_seed"]))
        if r["model"] not in ("sa", "descent"):
            assert r["steps"] == [3, 3]
    assert [p["sweeps"] for p in res["curves"]["heldout"]] == [1, 8]
    assert res["spec"]["best_of"] == 2 and res["spec"]["sampling"] == "uniform"
    table = (out / "table.md").read_text()
    assert "lowest-energy of 2 draws; SymPE draws g̃ uniform" in table
    assert "| sympe | refined |" in table and "| sa | 20x2 |" in table
    assert "| descent | best of 2 |" in table
    assert sorted(os.listdir(out / "checkpoints")) == [
        "gcnn-seed0.pt", "gcnn-seed1.pt", "sympe-seed0.pt", "sympe-seed1.pt"]
    assert not [n for n in os.listdir(out) if n.endswith(".tmp")]


def test_rerun_skips_and_reproduces(finished, tmp_path):
    out, _ = finished
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    before = json.loads((copy / "experiment.json").read_text())
    proc = run_cli("experiment", "groundstate", SMALL, "--out", copy)
    assert proc.returncode == 0, proc.stderr
    assert "training" not in proc.stderr and proc.stderr.count("(skipped)") == 4
    assert json.loads((copy / "experiment.json").read_text())["results"] == before["results"]


def test_partial_checkpoint_is_resumed_bit_for_bit(finished, tmp_path):
    """A partial checkpoint (a run stopped after one step) is continued with the training
    layer's resume; the result equals the uninterrupted run's."""
    import dataclasses

    import torch

    from spinsym.tasks import experiment as X
    from spinsym.tasks.groundstate import train

    out, _ = finished
    spec = X.load_spec(SMALL)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    ck = run / "checkpoints" / "sympe-seed1.pt"
    cfg = spec.config(spec.models[0], 1)
    train(dataclasses.replace(cfg, time_limit=1e-9), out=str(ck))
    assert not torch.load(ck, weights_only=True)["complete"]
    proc = run_cli("experiment", "groundstate", SMALL, "--out", run)
    assert proc.returncode == 0, proc.stderr
    assert "sympe seed 1: resuming at step 1" in proc.stderr
    a = torch.load(ck, weights_only=True)
    b = torch.load(out / "checkpoints" / "sympe-seed1.pt", weights_only=True)
    assert a["complete"] and a["steps_done"] == 3
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in b["state_dict"])
    ra = json.loads((run / "evals" / "sympe-seed1-heldout.json").read_text())
    rb = json.loads((out / "evals" / "sympe-seed1-heldout.json").read_text())
    assert ra["refined"]["energies"] == rb["refined"]["energies"]


def test_checkpoint_with_other_settings_is_refused(finished, tmp_path):
    out, _ = finished
    spec_text = open(SMALL).read().replace("width = 2", "width = 3")
    spec = tmp_path / "spec.toml"
    spec.write_text(spec_text)
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    proc = run_cli("experiment", "groundstate", spec, "--out", copy)
    assert_clean_error(proc, "other settings", "width")
    assert proc.returncode == 2


def test_bad_spec_one_line_and_nothing_created(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(open(SMALL).read() + "\n[extra]\nx = 1\n")
    out = tmp_path / "run"
    proc = run_cli("experiment", "groundstate", spec, "--out", out)
    assert_clean_error(proc, "unknown key(s) extra")
    assert proc.returncode == 2 and not out.exists()
    spec.write_text("[experiment\n")
    proc = run_cli("experiment", "groundstate", spec, "--out", out)
    assert_clean_error(proc, "malformed TOML")
    proc = run_cli("experiment", "groundstate", tmp_path / "missing.toml", "--out", out)
    assert_clean_error(proc, "not found")
    assert not out.exists()


def test_bad_outputs(tmp_path):
    f = tmp_path / "file"
    f.write_text("keep")
    proc = run_cli("experiment", "groundstate", SMALL, "--out", f)
    assert_clean_error(proc, "not a directory")
    assert f.read_text() == "keep"
    proc = run_cli("experiment", "groundstate", SMALL, "--out", tmp_path / "no" / "run")
    assert_clean_error(proc, "parent does not exist")
    link = tmp_path / "link"
    link.symlink_to(tmp_path)
    proc = run_cli("experiment", "groundstate", SMALL, "--out", link)
    assert_clean_error(proc, "symbolic link")


def test_sigterm_saves_the_checkpoint_and_says_how_to_continue(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    import torch

    spec = tmp_path / "spec.toml"
    spec.write_text(open(SMALL).read().replace("steps = 3", "steps = 100000")
                    .replace("checkpoint_every = 0", "checkpoint_every = 1"))
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "spinsym", "experiment", "groundstate",
                             str(spec), "--out", str(out), "--quiet"], stderr=subprocess.PIPE,
                            text=True)
    ck_path = out / "checkpoints" / "sympe-seed0.pt"
    t0 = time.time()
    while not ck_path.exists() and time.time() - t0 < 120:  # training has started
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 2
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("spinsym: error: terminated by SIGTERM; stopped at step")
    assert "model sympe, seed 0" in lines[0] and "experiment groundstate" in lines[0]
    ck = torch.load(ck_path, weights_only=True)
    assert not ck["complete"] and ck["steps_done"] >= 1
    assert not [n for n in os.listdir(out / "checkpoints") if n.endswith(".tmp")]
