"""Fuzzing every ``spinsym`` command with hypothesis (issue 11, "Reliability").

For each command, hypothesis draws a command line that mixes valid values with hostile ones
(0, -1, 2**31, 2**63, 10**30, huge strings; nan, inf, 1e-300, 1e300, -0.0, "1e", "";
"", "/", "/proc/x", "/dev/full", an input as the output, a symlink, a FIFO, a folder, unicode;
temperature lists with duplicates or empty items; broken params JSON, sweep specs and HDF5
files).  Each line runs in a subprocess with a timeout, and the contract of ``test_hostile``'s
:class:`Tree` must hold: exit 0 or 2, one ``spinsym: error:`` line on failure, inputs
unchanged, no temporary left, no output left on failure, no hang.

Profiles: ``spinsym-ci`` (the default: a few examples per command, derandomized so CI is
reproducible, no shrinking: a failing example is reported as drawn) and ``spinsym-deep``
(many more examples), used by the slow test (``pytest -m slow``) or by both tests when
``SPINSYM_FUZZ=deep``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings, strategies as st


def _load_helpers():
    """The invariant checker and input builders of test_hostile.py (one copy of them)."""
    path = Path(__file__).with_name("test_hostile.py")
    spec = importlib.util.spec_from_file_location("spinsym_cli_hostile_helpers", path)
    module = sys.modules.get(spec.name)
    if module is None:
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return module


H = _load_helpers()

_COMMON = dict(deadline=None, derandomize=True, database=None, print_blob=False,
               phases=[Phase.explicit, Phase.generate],
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                      HealthCheck.function_scoped_fixture])
settings.register_profile("spinsym-ci", max_examples=3, **_COMMON)
settings.register_profile("spinsym-deep", max_examples=60, **_COMMON)
DEEP = os.environ.get("SPINSYM_FUZZ", "") == "deep"
FUZZ_TIMEOUT = 45  # seconds per command line; valid lines here take a few seconds

# ---------------------------------------------------------------------------- value pools
# Templates: "{d}" is the example's work folder (a fresh copy of the inputs, see
# test_hostile.workdir).  Each option is (valid values, hostile values).

HUGE = "9" * 400
INTS = ["0", "-1", str(2**31), str(2**63), str(10**30), HUGE, "", "abc", "1.5", "1e3", " 1"]
NO_BIG = [v for v in INTS if v != str(2**31)]  # work amounts: 2**31 sweeps is legitimately long
FLOATS = ["nan", "inf", "-inf", "1e-300", "1e300", "-0.0", "1e", "", "NaN", "1e309", "0x10"]
TEMPS = FLOATS + ["0", "-1", "2,2", "1,,2", ",", "2.0,", "2,nan", "1e-300,2", "2;3",
                  ",".join(["2.5"] * 50)]
DEVFULL = ["/dev/full"] if H.IS_ROOT else []
OUT_HOSTILE = ["", "/", "/proc/x", "{d}/adir", "{d}/fifo", "{d}/link", "{d}/nodir/x.out",
               "{d}/ising.h5", "{d}/gs.pt", "{d}/params.json", *DEVFULL]
H5_VALID = ["{d}/ising.h5", "{d}/xy.h5", "{d}/" + H.UNICODE_H5]
H5_HOSTILE = ["{d}/corrupt.h5", "{d}/foreign.h5", "{d}/truncated.h5", "{d}/badspins.h5",
              "{d}/missing.h5", "{d}/adir", "{d}/fifo", "{d}/link", "", "/", "/proc/x",
              "/dev/full", "{d}/gs.pt"]
CKPT_HOSTILE = ["{d}/ising.h5", "{d}/corrupt.h5", "{d}/missing.pt", "{d}/adir", "{d}/fifo",
                "{d}/link", "", "/dev/full"]
PARAMS_HOSTILE = ["{d}/" + n for n in H.PARAMS_FILES if n != "params.json"] + [
    "{d}/missing.json", "{d}/adir", "{d}/fifo", "{d}/ising.h5", ""]
DEVICE = (["cpu"], ["cuda", "tpu", "", "CPU"])
THREADS = (["1", "0"], ["-3", str(2**31), str(2**63), "", "x"])
TIME_LIMIT = (["0", "60"], ["-1", "nan", "inf", "-inf", "1e300", "", "1e"])
COUPLING = (["1", "0", "-0.5"], FLOATS)
CONFIG_HOSTILE = ["{d}/sweep_broken.toml", "{d}/sweep.toml", "{d}/sweep_empty.toml",
                  "{d}/missing.toml", "{d}/adir", "{d}/fifo", "{d}/ising.h5", ""]


def opt(valid, hostile, required=False, flag=None):
    return {"valid": list(valid), "hostile": list(hostile), "required": required, "flag": flag}


def out(valid, hostile=OUT_HOSTILE):
    return opt(valid, hostile, required=True)


def switch(*names):
    """A boolean flag pair: draws one of the names, or leaves it out."""
    return {"switch": list(names)}


# name -> (fixed words, positionals [(valid, hostile)], options {flag: spec}, outputs,
#          output folders); options listed in "always" are never left out (work sizes).
COMMANDS = {
    "simulate": (["simulate"], [(["ising", "xy"], ["potts", "", "ISING"])], {
        "--L": opt(["4", "3", "2"], INTS + ["1000000", "7"], required=True),
        "--T": opt(["2.0", "2.0,3.0", "0.8"], TEMPS, required=True),
        "--Jx": opt(*COUPLING), "--Jy": opt(*COUPLING), "--J2": opt(*COUPLING),
        "--h": opt(*COUPLING),
        "--couplings": opt([], PARAMS_HOSTILE + ["{d}/params.json"]),
        "--algorithm": opt(["metropolis", "wolff", "heatbath", "swendsen-wang"],
                           ["", "magic", "METROPOLIS"]),
        "--sweeps": opt(["20", "4"], NO_BIG, required=True),
        "--thermalize": opt(["5", "0"], NO_BIG, required=True),
        "--every": opt(["2", "1"], INTS),
        "--seed": opt(["0", "7"], INTS + [str(2**64)]),
        "--overrelax": opt(["0", "1"], NO_BIG),
        "--threads": opt(*THREADS), "--device": opt(*DEVICE),
        "--exchange": switch("--exchange"),
        "--exchange-every": opt(["1", "2"], INTS),
        "--replicas": opt(["1", "2"], INTS + ["3"]),
        "--resume": opt([], H5_HOSTILE),
        "--checkpoint-every": opt(["0", "10"], FLOATS),
        "--out": out(["{d}/new.h5", "{d}/ünï ☃ new.h5"]),
    }, ["--out"], []),
    "analyze": (["analyze"], [(H5_VALID, H5_HOSTILE)], {"--json": switch("--json")}, [], []),
    "plot observables": (["plot", "observables"], [(H5_VALID, H5_HOSTILE)], {
        "--out": out(["{d}/obs.png"]),
        "--snapshots": opt(["{d}/snap.png"], OUT_HOSTILE),
    }, ["--out", "--snapshots"], []),
    "plot snapshots": (["plot", "snapshots"], [(H5_VALID, H5_HOSTILE)], {
        "--out": out(["{d}/snap.png"]),
        "--per-T": opt(["1", "3"], INTS + ["10000"]),
    }, ["--out"], []),
    "plot phase-diagram": (["plot", "phase-diagram"],
                           [(["{d}/gs.pt", "{d}/sweepdir"], CKPT_HOSTILE + ["{d}/s.pt"])], {
        "--out": out(["{d}/pd.png"]),
        "--baseline": opt(["{d}/gs.pt"], CKPT_HOSTILE + ["{d}/s.pt"]),
        "--Jx": opt(*COUPLING), "--J2": opt(*COUPLING),
        "--jy-min": opt(["-1"], FLOATS), "--jy-max": opt(["1"], FLOATS),
        "--h-min": opt(["-1"], FLOATS), "--h-max": opt(["1"], FLOATS),
        "--n": opt(["2", "3"], INTS, required=True),
        "--L": opt(["4"], INTS + ["6", "1000000"], required=True),
        "--seed": opt(["0"], INTS),
    }, ["--out"], []),
    "plot binder": (["plot", "binder"], [(["{d}/sweepdir"], H5_HOSTILE + ["{d}/ising.h5"])], {
        "--out": out(["{d}/binder.png"]),
        "--order": opt(["m", "staggered", "stripe"], ["", "x", "M"]),
        "--json": switch("--json"),
    }, ["--out"], []),
    "plot compare": (["plot", "compare"], [(H5_VALID, H5_HOSTILE), (H5_VALID, H5_HOSTILE)], {
        "--out": out(["{d}/cmp.png"]),
    }, ["--out"], []),
    "sweep": (["sweep"], [(["{d}/sweep.toml"], ["{d}/" + n for n in H.SWEEP_FILES
                                                 if n != "sweep.toml"]
                           + ["{d}/missing.toml", "{d}/adir", "{d}/fifo", "{d}/ising.h5", ""])], {
        "--out": out(["{d}/run", "{d}/sweepdir", "{d}/adir"],
                     ["", "/proc/x", "{d}/ising.h5", "{d}/fifo", "{d}/link", "{d}/nodir/run",
                      *DEVFULL]),
        "--workers": opt(["1"], ["-1", str(2**31), str(2**63), "", "x"], required=True),
        "--scheduler": opt([], ["", "notaurl", "tcp://"]),
        "--retries": opt(["0", "1"], ["-1", str(2**63), ""]),
        "--dry-run": switch("--dry-run"),
    }, [], ["--out"]),
    # a sweep file is no experiment spec: every line ends in a clean refusal (a real
    # experiment runs in tests/cli/test_experiment_cli.py)
    "experiment groundstate": (["experiment", "groundstate", "--quiet"],
                               [(["{d}/sweep.toml"], ["{d}/missing.toml", "{d}/adir",
                                                      "{d}/fifo", "{d}/ising.h5", ""])], {
        "--out": out(["{d}/exprun", "{d}/adir"],
                     ["", "/proc/x", "{d}/ising.h5", "{d}/fifo", "{d}/link", "{d}/nodir/run",
                      *DEVFULL]),
    }, [], ["--out"]),
    "train groundstate": (["train", "groundstate", "--quiet"], [], {
        "--model": opt(["sympe", "gcnn", "noise", "cnn"], ["", "x"]),
        "--L": opt(["4"], INTS + ["6", "1000000"], required=True),
        "--seed": opt(["0"], INTS),
        "--out": out(["{d}/g2.pt"]),
        "--steps": opt(["1", "2"], NO_BIG, required=True),
        "--batch": opt(["2"], INTS, required=True),
        "--lr": opt(["0.01"], FLOATS + ["0", "-1"]),
        "--width": opt(["1", "2"], INTS, required=True),
        "--depth": opt(["1"], INTS, required=True),
        "--pe-fields": opt(["1"], INTS, required=True),
        "--T0": opt(["0.5"], FLOATS), "--canon-depth": opt(["0", "1"], INTS),
        "--canon-scale": opt(["1"], FLOATS),
        "--time-limit": opt(*TIME_LIMIT), "--device": opt(*DEVICE),
        "--threads": opt(*THREADS), "--fold": switch("--fold", "--no-fold"),
        "--families": opt(["homogeneous", "defect,pm_j"], ["", "x", "homogeneous,,x"]),
        "--pe-period": opt(["0", "4"], INTS + ["3"]),
        "--encoding": opt(["bonds", "sites"], ["", "x"]),
        "--v": opt(["learned", "fixed", "none"], ["", "x"]),
        "--canonicalizer": opt(["learned", "uniform"], ["", "x"]),
        "--group": opt(["p4m", "p4"], ["", "x", "P4"]),
        "--teacher": opt(["none", "anneal"], ["", "x"]),
        "--teacher-sweeps": opt(["1", "4"], INTS),
        "--checkpoint-every": opt(["0", "1"], INTS),
        "--config": opt([], CONFIG_HOSTILE),
        "--resume": opt(["{d}/gs.pt"], CKPT_HOSTILE + ["{d}/s.pt"]),
    }, ["--out"], []),
    "train sampler": (["train", "sampler", "--quiet"], [], {
        "--data": opt(["{d}/ising.h5", "{d}/xy.h5"], H5_HOSTILE, required=True),
        "--model": opt(["sympe", "gcnn", "noise"], ["", "cnn"]),
        "--seed": opt(["0"], INTS),
        "--out": out(["{d}/s2.pt"]),
        "--steps": opt(["1", "2"], NO_BIG, required=True),
        "--batch": opt(["2", "4"], INTS, required=True),
        "--lr": opt(["0.01"], FLOATS + ["0", "-1"]),
        "--width": opt(["1"], INTS, required=True),
        "--depth": opt(["1"], INTS, required=True),
        "--pe-fields": opt(["1"], INTS),
        "--time-limit": opt(*TIME_LIMIT), "--device": opt(*DEVICE),
        "--threads": opt(*THREADS),
        "--checkpoint-every": opt(["0", "1"], INTS),
        "--config": opt([], CONFIG_HOSTILE),
        "--resume": opt(["{d}/s.pt"], CKPT_HOSTILE + ["{d}/gs.pt"]),
        "--objective": opt(["forward", "reverse", "mix"], ["", "x", "REVERSE"]),
        "--init": opt(["{d}/s.pt"], CKPT_HOSTILE + ["{d}/gs.pt"]),
        "--L": opt(["4"], INTS + ["6", "1000000"]), "--T": opt(["2.0", "2.0,3.0"], TEMPS),
        "--Jx": opt(*COUPLING), "--Jy": opt(*COUPLING), "--J2": opt(*COUPLING),
        "--h": opt(*COUPLING),
    }, ["--out"], []),
    "predict": (["predict"], [(["{d}/gs.pt"], CKPT_HOSTILE + ["{d}/s.pt"])], {
        "--params": opt(["{d}/params.json"], PARAMS_HOSTILE, required=True),
        "--L": opt(["4", "8"], INTS + ["6", "1000000"], required=True),
        "--samples": opt(["1", "2"], INTS),
        "--seed": opt(["0"], INTS),
        "--out": out(["{d}/pred.npz"]),
        "--refine": switch("--refine", "--no-refine"),
        "--refine-pairs": switch("--refine-pairs", "--single-flips"),
        "--refine-lines": switch("--refine-lines", "--no-refine-lines"),
        "--best-of": opt(["1", "2"], NO_BIG),
        "--sampling": opt(["uniform", "canonical"], ["bogus", "", "Uniform"]),
        "--decode": opt(["sample", "sign"], ["bogus", "", "Sign"]),
        "--device": opt(*DEVICE),
    }, ["--out"], []),
    "evaluate groundstate": (["evaluate", "groundstate"],
                             [(["{d}/gs.pt"], CKPT_HOSTILE + ["{d}/s.pt"])], {
        "--params": opt(["{d}/params.json"], PARAMS_HOSTILE, required=True),
        "--L": opt(["4"], INTS + ["6", "1000000"], required=True),
        "--samples": opt(["1", "2"], INTS, required=True),
        "--seed": opt(["0"], INTS),
        "--json": switch("--json"),
        "--refine": switch("--refine", "--no-refine"),
        "--refine-pairs": switch("--refine-pairs", "--single-flips"),
        "--refine-lines": switch("--refine-lines", "--no-refine-lines"),
        "--best-of": opt(["1"], NO_BIG),
        "--sampling": opt(["gumbel"], ["bogus", ""]),
        "--decode": opt(["sign"], ["bogus"]),
        "--device": opt(*DEVICE),
    }, [], []),
    "evaluate descent": (["evaluate", "descent"], [], {
        "--params": opt(["{d}/params.json"], PARAMS_HOSTILE, required=True),
        "--L": opt(["4"], INTS + ["6", "1000000"], required=True),
        "--samples": opt(["1", "2"], INTS),
        "--seed": opt(["0"], INTS),
        "--restarts": opt(["1", "2"], NO_BIG),
        "--json": switch("--json"),
        "--refine-pairs": switch("--refine-pairs", "--single-flips"),
        "--refine-lines": switch("--refine-lines", "--no-refine-lines"),
    }, [], []),
    "sample": (["sample", "--quiet"], [(["{d}/s.pt"], CKPT_HOSTILE + ["{d}/gs.pt"])], {
        "--T": opt(["2.0", "2.0,2.5"], TEMPS, required=True),
        "--L": opt(["4"], INTS + ["6", "1000000"]),
        "--n": opt(["4", "10"], INTS, required=True),
        "--seed": opt(["0"], INTS),
        "--out": out(["{d}/samples.h5"]),
        "--mh": switch("--mh", "--no-mh"),
        "--Jx": opt(*COUPLING), "--Jy": opt(*COUPLING), "--J2": opt(*COUPLING),
        "--h": opt(*COUPLING),
        "--batch": opt(["8"], INTS),
        "--burn-in": opt(["0", "3"], INTS),
        "--device": opt(*DEVICE), "--threads": opt(*THREADS),
    }, ["--out"], []),
}


@st.composite
def command_line(draw, name):
    """(argv templates, output templates, output-folder templates) for one command."""
    words, positionals, options, outputs, output_dirs = COMMANDS[name]
    slots = [f"#{i}" for i in range(len(positionals))] + list(options)
    # at most two hostile slots per line, so most lines get past the first check
    hostile = draw(st.sets(st.sampled_from(slots), max_size=2))
    argv, outs, dirs = list(words), [], []
    for i, (valid, bad) in enumerate(positionals):
        pool = bad if f"#{i}" in hostile and bad else valid
        argv.append(draw(st.sampled_from(pool)))
    for flag, spec in options.items():
        if "switch" in spec:
            choice = draw(st.sampled_from([None, *spec["switch"]]))
            if choice:
                argv.append(choice)
            continue
        use_bad = flag in hostile and spec["hostile"]
        if not use_bad and (not spec["valid"] or not (spec["required"] or draw(st.booleans()))):
            continue
        value = draw(st.sampled_from(spec["hostile"] if use_bad else spec["valid"]))
        argv += [flag, value]
        if flag in outputs:
            outs.append(value)
        if flag in output_dirs:
            dirs.append(value)
    return argv, outs, dirs


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return H.build_inputs(tmp_path_factory.getbasetemp())


def _run_example(inputs, line):
    argv, outs, dirs = line
    base = Path(tempfile.mkdtemp(prefix="fuzz-", dir=inputs.parent))
    try:
        d = H.workdir(inputs, base / "w")
        fmt = [a.format(d=d) for a in argv]
        tree = H.Tree(d)
        res = H.spinsym(*fmt, timeout=FUZZ_TIMEOUT, cwd=d)  # relative paths ("") land in d
        tree.check(res, outputs=[o.format(d=d) for o in outs],
                   output_dirs=[o.format(d=d) for o in dirs])
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("name", list(COMMANDS))
@settings(settings.get_profile("spinsym-deep" if DEEP else "spinsym-ci"))
@given(data=st.data())
def test_fuzz_command(inputs, name, data):
    _run_example(inputs, data.draw(command_line(name), label="command line"))


def _deep_selected(config) -> bool:
    expr = config.getoption("markexpr", "") or ""
    return DEEP or ("slow" in expr and "not slow" not in expr)


@pytest.fixture
def deep_only(request):
    if not _deep_selected(request.config):
        pytest.skip("deep fuzzing: run with -m slow or SPINSYM_FUZZ=deep")


@pytest.mark.slow
@pytest.mark.parametrize("name", list(COMMANDS))
@settings(settings.get_profile("spinsym-deep"))
@given(data=st.data())
def test_fuzz_command_deep(deep_only, inputs, name, data):
    _run_example(inputs, data.draw(command_line(name), label="command line"))


def test_command_table_covers_every_command():
    """Each command of the CLI (and each of its options) has a fuzzing entry."""
    import typer.main

    from spinsym.cli import app

    root = typer.main.get_command(app)
    found = {}

    def walk(cmd, prefix):
        if hasattr(cmd, "commands"):  # a group (typer may vendor its own click)
            for sub_name, sub in cmd.commands.items():
                walk(sub, prefix + [sub_name])
        else:
            found[" ".join(prefix)] = {o for p in cmd.params if p.param_type_name == "option"
                                       for o in p.opts if o != "--help"}
    walk(root, [])
    assert set(found) == set(COMMANDS)
    for name, flags in found.items():
        words, _, options, _, _ = COMMANDS[name]
        covered = set(options) | {s for spec in options.values() for s in spec.get("switch", [])}
        covered |= {w for w in words if w.startswith("--")}
        assert flags <= covered, (name, sorted(flags - covered))
