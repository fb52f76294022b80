"""train groundstate / predict / evaluate groundstate / plot phase-diagram from the command line."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

TINY = ["--steps", "3", "--batch", "4", "--width", "2", "--depth", "1", "--pe-fields", "1",
        "--quiet"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("gs")
    ckpt = d / "sympe.pt"
    proc = subprocess.run([sys.executable, "-m", "spinsym", "train", "groundstate", "--model",
                           "sympe", "--L", "4", "--seed", "3", "--out", str(ckpt), *TINY],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    params = d / "h.json"
    params.write_text(json.dumps([{"Jx": 1, "Jy": 1, "J2": 0, "h": 0},
                                  {"Jx": -1, "Jy": -1.5, "J2": 0.2, "h": 0.5}]))
    return d, ckpt, params


def test_help_does_not_import_torch():
    code = ("import sys; from spinsym.cli import main; "
            "print('torch' in sys.modules or 'escnn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False"


def test_train_predict_evaluate_plot(cli, trained):
    d, ckpt, params = trained
    ck = torch.load(ckpt, weights_only=True)
    assert ck["kind"] == "groundstate" and ck["train_config"]["seed"] == 3
    out = d / "pred.npz"
    proc = cli("predict", ckpt, "--params", params, "--L", "8", "--samples", "5", "--seed", "1",
               "--out", out)
    assert proc.returncode == 0, proc.stderr
    z = np.load(out)
    assert z["spins"].dtype == np.int8 and z["spins"].shape == (2, 5, 8, 8)
    proc2 = cli("predict", ckpt, "--params", params, "--L", "8", "--samples", "5", "--seed", "1",
                "--out", d / "pred2.npz")
    assert np.array_equal(np.load(d / "pred2.npz")["spins"], z["spins"])
    assert proc2.returncode == 0
    proc = cli("evaluate", "groundstate", ckpt, "--params", params, "--L", "8", "--samples", "4",
               "--json")
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    assert rep["n_hamiltonians"] == 2 and rep["mean_gap"] >= 0
    proc = cli("evaluate", "groundstate", ckpt, "--params", params, "--L", "8", "--samples", "2")
    assert proc.returncode == 0 and "mean relative gap" in proc.stdout
    png = d / "pd.png"
    proc = cli("plot", "phase-diagram", ckpt, "--out", png, "--n", "4", "--baseline", ckpt)
    assert proc.returncode == 0, proc.stderr
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_per_bond_params_predict_and_evaluate(cli, trained):
    """A params file mixing scalar and per-bond entries (8 x 8 lists, J2p != J2m, family
    tags): predict writes the bond fields; evaluate reports per family against the exact
    per-bond minimum, and the spin-flip balance of the h = 0 entries."""
    d, ckpt, _ = trained
    rng = np.random.default_rng(0)
    glass = rng.choice([-1.0, 1.0], size=(2, 8, 8)).tolist()
    params = d / "bonds.json"
    params.write_text(json.dumps([
        {"Jx": 1, "Jy": 1, "J2": 0, "h": 0},
        {"Jx": glass[0], "Jy": glass[1], "J2p": 0, "J2m": 0, "h": 0, "family": "pm_j"},
        {"Jx": -1, "Jy": -1, "J2p": -1, "J2m": 0, "h": 0, "family": "unequal_diagonals"}]))
    out = d / "bonds.npz"
    proc = cli("predict", ckpt, "--params", params, "--L", "8", "--samples", "3", "--out", out)
    assert proc.returncode == 0, proc.stderr
    z = np.load(out)
    assert z["spins"].shape == (3, 3, 8, 8) and z["bonds"].shape == (3, 5, 8, 8)
    assert z["bonds"][1, 0].tolist() == glass[0] and "params" not in z
    proc = cli("evaluate", "groundstate", ckpt, "--params", params, "--L", "8", "--samples",
               "4", "--json")
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    assert set(rep["per_family"]) == {"homogeneous", "pm_j", "unequal_diagonals"}
    assert rep["z2"]["n_hamiltonians"] == 3
    assert rep["z2"]["plus"] + rep["z2"]["minus"] + rep["z2"]["zero"] == 12
    assert all(r["gap_mean"] >= -1e-12 for r in rep["per_hamiltonian"])
    proc = cli("evaluate", "groundstate", ckpt, "--params", params, "--L", "8", "--samples", "2")
    assert proc.returncode == 0 and "pm_j" in proc.stdout and "spin-flip pairs" in proc.stdout


def test_bad_input_is_one_clear_line(cli, clean_error, trained, tmp_path):
    d, ckpt, params = trained
    clean_error(cli("predict", tmp_path / "nope.pt", "--params", params, "--out",
                    tmp_path / "p.npz"), "checkpoint not found")
    foreign = tmp_path / "foreign.pt"
    torch.save({"kind": "sampler"}, foreign)
    clean_error(cli("predict", foreign, "--params", params, "--out", tmp_path / "p.npz"),
                "not a ground-state checkpoint")
    bad = tmp_path / "bad.json"
    bad.write_text('[{"Jx": 1,')
    clean_error(cli("evaluate", "groundstate", ckpt, "--params", bad), "malformed json")
    clean_error(cli("predict", ckpt, "--params", params, "--L", "7", "--out",
                    tmp_path / "p.npz"), "even")
    clean_error(cli("predict", ckpt, "--params", params, "--L", "6", "--out",
                    tmp_path / "p.npz"), "divisible by 4")
    clean_error(cli("train", "groundstate", "--model", "transformer", "--out",
                    tmp_path / "m.pt"), "unknown model")
    clean_error(cli("train", "groundstate", "--families", "homogeneous,glass", "--out",
                    tmp_path / "m.pt"), "unknown family 'glass'")
    clean_error(cli("train", "groundstate", "--encoding", "pixels", "--out",
                    tmp_path / "m.pt"), "--encoding")
    clean_error(cli("train", "groundstate", "--L", "8", "--pe-period", "3", "--out",
                    tmp_path / "m.pt"), "period 3")
    clean_error(cli("train", "groundstate", "--v", "frozen", "--out", tmp_path / "m.pt"),
                "unknown --v 'frozen'")
    clean_error(cli("train", "groundstate", "--canonicalizer", "argmax", "--out",
                    tmp_path / "m.pt"), "--canonicalizer")
    clean_error(cli("train", "groundstate", "--group", "p6m", "--out", tmp_path / "m.pt"),
                "unknown --group 'p6m'")
    clean_error(cli("train", "groundstate", "--model", "gcnn", "--v", "fixed", "--out",
                    tmp_path / "m.pt"), "sympe ablation")
    clean_error(cli("train", "groundstate", "--model", "cnn", "--group", "p4", "--out",
                    tmp_path / "m.pt"), "no group")
    clean_error(cli("train", "groundstate", "--group", "p4", "--encoding", "sites", "--out",
                    tmp_path / "m.pt"), "--encoding bonds")
    grid = [[1.0] * 12 for _ in range(12)]
    grid[0][0] = -1.0
    big = tmp_path / "big.json"
    big.write_text(json.dumps([{"Jx": grid, "Jy": 1, "J2": 0, "h": 0}]))
    clean_error(cli("evaluate", "groundstate", ckpt, "--params", big, "--L", "12"),
                "exact reference needs L <= 10")
    assert not os.path.exists(tmp_path / "p.npz")


def test_inference_defaults_and_sampling(cli, clean_error, trained, tmp_path):
    """predict records its inference settings (best of 4 uniform draws by default); an
    explicit --sampling canonical --best-of 1 is the plain canonical sampler; --sampling is
    refused for a model that draws no g̃.  The defaults also draw the spins from the network's
    output (--decode sample) and refine by single, pair and line-block flips."""
    from spinsym.tasks.groundstate import PREDICT_BEST_OF, PREDICT_DECODE, PREDICT_SAMPLING

    d, ckpt, params = trained
    outs = {}
    for name, extra in (("def", []), ("can", ["--sampling", "canonical", "--best-of", "1"])):
        out = tmp_path / f"{name}.npz"
        proc = cli("predict", ckpt, "--params", params, "--L", "8", "--samples", "3",
                   "--seed", "1", "--out", out, *extra)
        assert proc.returncode == 0, proc.stderr
        outs[name] = np.load(out)
    assert int(outs["def"]["best_of"]) == PREDICT_BEST_OF == 4
    assert str(outs["def"]["sampling"]) == PREDICT_SAMPLING == "uniform"
    assert str(outs["def"]["decode"]) == PREDICT_DECODE == "sample"
    assert bool(outs["def"]["refine_pairs"]) and bool(outs["def"]["refine_lines"])
    assert int(outs["can"]["best_of"]) == 1 and str(outs["can"]["sampling"]) == "canonical"
    proc = cli("evaluate", "groundstate", ckpt, "--params", params, "--L", "8", "--samples",
               "2", "--json", "--sampling", "gumbel")
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    assert rep["sampling"] == "gumbel" and rep["best_of"] == 4 and rep["decode"] == "sample"
    assert rep["refine_pairs"] and rep["refine_lines"]
    gc = tmp_path / "gcnn.pt"
    proc = cli("train", "groundstate", "--model", "gcnn", "--L", "4", "--seed", "0", "--out", gc,
               *TINY)
    assert proc.returncode == 0, proc.stderr
    clean_error(cli("evaluate", "groundstate", gc, "--params", params, "--L", "8", "--samples",
                    "2", "--sampling", "uniform"),
                "sampling applies to models that draw g̃ (sympe), not gcnn")
    proc = cli("evaluate", "groundstate", gc, "--params", params, "--L", "8", "--samples", "2",
               "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["sampling"] is None


@pytest.fixture
def fake(tmp_path):
    """A checkpoint path that exists (option checks come before it is read) and good params."""
    ck = tmp_path / "fake.pt"
    ck.write_bytes(b"not read")
    params = tmp_path / "h.json"
    params.write_text(json.dumps([{"Jx": 1, "Jy": 1, "J2": 0, "h": 0}]))
    return ck, params


@pytest.mark.parametrize("args, words", [
    (["--L", "100000"], "L=100000 with 1 Hamiltonian x 1 sample needs ~"),
    (["--seed", str(2**64)], "--seed must be at most 9223372036854775807"),
    (["--seed", "-1"], "--seed must be at least 0"),
    (["--samples", "0"], "--samples must be at least 1"),
    (["--best-of", "100000"], "--best-of must be at most 1000"),
    (["--sampling", "argmax"], "unknown --sampling 'argmax'; choose one of canonical, gumbel"),
    (["--decode", "argmax"], "unknown --decode 'argmax'; choose one of sign, sample"),
    (["--no-refine", "--refine-lines"], "--refine-lines needs the refinement: drop --no-refine"),
    (["--device", "tpu"], "unknown device 'tpu'; choose one of cpu, cuda"),
])
def test_hostile_predict_options(cli, clean_error, fake, tmp_path, args, words):
    ck, params = fake
    out = tmp_path / "p.npz"
    clean_error(cli("predict", ck, "--params", params, "--out", out, *args), words)
    assert not os.path.exists(out) and not [f for f in os.listdir(tmp_path) if ".tmp" in f]


@pytest.mark.parametrize("text, words", [
    ('[{"Jx": 1, "Jy": 1, "J2": 0}]', "entry 0: missing key(s) h"),
    ('[{"Jx": true, "Jy": 1, "J2": 0, "h": 0}]', "Jx must be a number, got True"),
    ('[{"Jx": 1e300, "Jy": 1, "J2": 0, "h": 0}]', "|Jx| <= 1e+06"),
    ('[{"Jx": NaN, "Jy": 1, "J2": 0, "h": 0}]', "malformed json"),
    ('[{"Jx": 1, "Jy": 1, "J2": 0, "h": 0, "T": 1}]', "unknown key(s) T"),
    ('[{"Jx": [[1, 2], [3, 4]], "Jy": 1, "J2": 0, "h": 0}]', "has shape (2, 2), expected (8, 8)"),
    ('[{"Jx": [[1, 2], [3]], "Jy": 1, "J2": 0, "h": 0}]', "ragged"),
    ('[{"Jx": [[1, "a"], [3, 4]], "Jy": 1, "J2": 0, "h": 0}]', "jx"),
    ('[{"Jx": 1, "Jy": 1, "J2p": 0, "h": 0}]', "missing key(s) j2m"),
    ('[{"Jx": 1, "Jy": 1, "J2": 0, "h": 0, "family": []}]', "family must be a short string"),
    ("[]", "non-empty json list"),
])
def test_hostile_params_files(cli, clean_error, fake, tmp_path, text, words):
    ck, _ = fake
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    clean_error(cli("evaluate", "groundstate", ck, "--params", bad), words)


def test_directories_and_inputs_as_outputs(cli, clean_error, fake, tmp_path):
    ck, params = fake
    clean_error(cli("predict", tmp_path, "--params", params, "--out", tmp_path / "p.npz"),
                "is a directory, not a checkpoint")
    clean_error(cli("predict", ck, "--params", tmp_path, "--out", tmp_path / "p.npz"),
                "is a directory")
    clean_error(cli("predict", ck, "--params", params, "--out", params), "input")
    assert json.loads(params.read_text())[0]["Jx"] == 1  # the input is untouched
    clean_error(cli("plot", "phase-diagram", ck, "--out", tmp_path / "pd.png", "--n", "1000"),
                "--n must be at most 201")
    clean_error(cli("plot", "phase-diagram", ck, "--out", tmp_path / "pd.png", "--Jx", "inf"),
                "--Jx must be")
    clean_error(cli("plot", "phase-diagram", ck, "--out", tmp_path / "pd.png", "--L", "6"),
                "divisible by 4")


def test_ablation_options_train_predict_and_evaluate(cli, tmp_path):
    """--v, --canonicalizer, --group as flags and as --config keys: stored in the checkpoint's
    training and model configs, and the checkpoint predicts and evaluates."""
    params = tmp_path / "h.json"
    params.write_text(json.dumps([{"Jx": 1, "Jy": -1, "J2": 0.2, "h": 0},
                                  {"Jx": -1, "Jy": -1.5, "J2": 0.2, "h": 0.5}]))
    a = tmp_path / "a.pt"
    proc = cli("train", "groundstate", "--L", "4", "--v", "fixed", "--canonicalizer", "uniform",
               "--group", "p4", "--out", a, *TINY)
    assert proc.returncode == 0, proc.stderr
    conf = tmp_path / "c.toml"
    conf.write_text('v = "none"\ngroup = "p4m"\n')
    b = tmp_path / "b.pt"
    proc = cli("train", "groundstate", "--L", "4", "--config", conf, "--out", b, *TINY)
    assert proc.returncode == 0, proc.stderr
    ca, cb = torch.load(a, weights_only=True), torch.load(b, weights_only=True)
    assert (ca["train_config"]["v"], ca["train_config"]["canonicalizer"],
            ca["train_config"]["group"]) == ("fixed", "uniform", "p4")
    assert ca["model_config"]["group"] == "p4" and ca["model_config"]["v"] == "fixed"
    assert "canon.body.0.weights" not in ca["state_dict"] and "v" in ca["state_dict"]
    assert cb["train_config"]["v"] == "none" and "v" not in cb["state_dict"]
    for ck in (a, b):
        proc = cli("evaluate", "groundstate", ck, "--params", params, "--L", "4", "--samples",
                   "3", "--json")
        assert proc.returncode == 0, proc.stderr
        rep = json.loads(proc.stdout)
        assert rep["n_hamiltonians"] == 2 and rep["mean_gap"] >= 0
    assert rep["canonical_ties"] is not None  # b: a learned canonicalizer


def test_evaluate_descent_the_model_free_control(cli, clean_error, trained):
    """evaluate descent: random starts through the networks' refinement, the same report as
    evaluate groundstate against the exact reference; same seed, same report; bad options
    are one clear line."""
    d, _, params = trained
    args = ("evaluate", "descent", "--params", params, "--L", "8", "--samples", "3",
            "--seed", "2", "--json")
    a = cli(*args, "--restarts", "3")
    assert a.returncode == 0, a.stderr
    rep = json.loads(a.stdout)
    assert rep["model"] == "descent" and rep["restarts"] == 3 and rep["refine_pairs"]
    assert rep["n_hamiltonians"] == 2 and rep["samples"] == 3 and rep["mean_gap"] >= 0
    assert json.loads(cli(*args, "--restarts", "3").stdout)["mean_gap"] == rep["mean_gap"]
    single = cli(*args, "--single-flips")
    assert single.returncode == 0 and not json.loads(single.stdout)["refine_pairs"]
    text = cli("evaluate", "descent", "--params", params, "--L", "8")
    assert text.returncode == 0 and "mean relative gap" in text.stdout
    clean_error(cli("evaluate", "descent", "--params", params, "--L", "8", "--restarts", "0"),
                "--restarts")
    clean_error(cli("evaluate", "descent", "--params", params, "--L", "7"), "even")
    clean_error(cli("evaluate", "descent", "--params", d / "missing.json", "--L", "8"),
                "missing.json")


def test_refine_pairs_without_refinement_is_refused(cli, clean_error, trained, tmp_path):
    """--refine-pairs once implied --refine; with --no-refine it is now a clear error, not a
    silent run without refinement (and nothing is written)."""
    d, ckpt, params = trained
    out = tmp_path / "p.npz"
    clean_error(cli("predict", ckpt, "--params", params, "--L", "8", "--no-refine",
                    "--refine-pairs", "--out", out), "--refine-pairs", "--no-refine")
    assert not out.exists()
    clean_error(cli("evaluate", "groundstate", ckpt, "--params", params, "--L", "8",
                    "--no-refine", "--refine-pairs"), "--refine-pairs")
    rep = json.loads(cli("evaluate", "groundstate", ckpt, "--params", params, "--L", "8",
                         "--samples", "2", "--no-refine", "--json").stdout)
    assert rep["refine"] is False and rep["refine_pairs"] is False
