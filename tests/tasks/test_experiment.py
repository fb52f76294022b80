"""The ground-state experiment's spec, sets, references and statistics
(spinsym.tasks.experiment); the end-to-end run is in tests/cli/test_experiment_cli.py."""

import copy
import json
import math
import os
import tomllib

import numpy as np
import pytest

from spinsym.couplings import BondCouplings
from spinsym.errors import DataError, ParameterError
from spinsym.hamiltonians import Couplings
from spinsym.tasks import experiment as X

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMALL = os.path.join(ROOT, "examples", "experiments", "groundstate_small.toml")
SHIPPED = os.path.join(ROOT, "examples", "experiments", "groundstate.toml")


def _small():
    with open(SMALL, "rb") as f:
        return tomllib.load(f)


@pytest.mark.parametrize("path", [SMALL, SHIPPED])
def test_shipped_specs_parse(path):
    spec = X.load_spec(path)
    assert len(spec.seeds) >= 2 and spec.models and spec.sets
    steps = {spec.configs[m.name].steps for m in spec.models}
    assert len(steps) == 1  # equal budgets
    assert spec.refine_pairs and spec.descent.restarts >= 1  # pair descent, the control
    # the networks are evaluated with the inference defaults of `evaluate groundstate`
    from spinsym.tasks.groundstate import PREDICT_BEST_OF, PREDICT_DECODE, PREDICT_SAMPLING
    if path == SHIPPED:
        assert (spec.best_of, spec.sampling, spec.decode, spec.refine_lines) == (
            PREDICT_BEST_OF, PREDICT_SAMPLING, PREDICT_DECODE, True)
    assert spec.sampling_for(spec.models[0]) == (spec.sampling if spec.models[0].arch == "sympe"
                                                 else None)
    assert all(spec.sampling_for(m) is None for m in spec.models if m.arch != "sympe")
    if path == SHIPPED:
        assert len(spec.seeds) >= 3
        X.prepare(spec)  # every set loads and fits every network
        # the SymPE ablations: v fixed / absent, uniform canonicalizer, p4 x Z2, period-4 v
        over = {m.name: m.overrides for m in spec.models if m.arch == "sympe"}
        assert {"v": "fixed"} in over.values() and {"v": "none"} in over.values()
        assert {"canonicalizer": "uniform"} in over.values()
        assert {"group": "p4"} in over.values() and {"pe_period": 4} in over.values()
        assert {"gcnn", "noise", "cnn"} <= {m.arch for m in spec.models}


def _edit(fn):
    d = _small()
    fn(d)
    return d


@pytest.mark.parametrize("edit, words", [
    (lambda d: d.update(extra=1), "unknown key(s) extra"),
    (lambda d: d["experiment"].update(sed=[1]), "unknown key(s) sed"),
    (lambda d: d["train"].update(stepz=3), "unknown key(s) stepz"),
    (lambda d: d["train"].update(arch="gcnn"), "unknown key(s) arch"),
    (lambda d: d["models"][0].update(note="x"), "unknown key(s) note"),
    (lambda d: d["models"][0].update(overrides={"widht": 3}), "unknown override(s) widht"),
    (lambda d: d["models"][0].update(overrides={"steps": 9}), "may not override steps"),
    (lambda d: d["models"][0].update(overrides={"v": "frozen"}), "--v"),
    (lambda d: d["models"][0].update(overrides={"group": "p6"}), "--group"),
    (lambda d: d["models"][0].update(arch="transformer"), "arch"),
    (lambda d: d["models"][1].update(name="sympe"), "repeated"),
    (lambda d: d["models"][1].update(name="sa"), "reserved"),
    (lambda d: d["models"][1].update(name="descent"), "reserved"),
    (lambda d: d.update(descent={"restarts": -1}), "descent.restarts"),
    (lambda d: d.update(descent={"starts": 2}), "unknown key(s) starts"),
    (lambda d: d["experiment"].update(refine_pairs="yes"), "refine_pairs must be true"),
    (lambda d: d["experiment"].update(best_of=0), "experiment.best_of must be at least 1"),
    (lambda d: d["experiment"].update(sampling="argmax"), "experiment.sampling must be one of"),
    (lambda d: d["experiment"].update(refine_lines=1), "refine_lines must be true or false"),
    (lambda d: d["experiment"].update(decode="argmax"), "experiment.decode must be one of"),
    (lambda d: d["anneal"].update(temperature=1), "unknown key(s) temperature"),
    (lambda d: d["anneal"].update(curve=[4, 4]), "repeats"),
    (lambda d: d["anneal"].update(sweeps=0), "anneal.sweeps"),
    (lambda d: d["sets"][0].update(colour="red"), "unknown key(s) colour"),
    (lambda d: d["sets"][0].update(source="web"), "source"),
    (lambda d: d["sets"][0].update(L=5), "even"),
    (lambda d: d["sets"][0].update(source="file"), "params"),
    (lambda d: d["sets"][0].update(source="family", n=None) or d["sets"][0].pop("n"), "give n"),
    (lambda d: d["sets"][0].update(seed=3), "seed is for"),
    (lambda d: d["sets"].append(dict(d["sets"][0])), "repeated"),
    (lambda d: d["experiment"].update(seeds=[0]), "at least 2"),
    (lambda d: d["experiment"].update(seeds=[0, 0]), "repeats"),
    (lambda d: d["experiment"].update(seeds=[0, -1]), "seeds"),
    (lambda d: d["experiment"].update(samples=2.5), "integer"),
    (lambda d: d["train"].update(width=0), "width"),
    (lambda d: d.pop("models"), "needs models"),
    (lambda d: d.update(models=[]), "at least one"),
])
def test_bad_specs(edit, words):
    with pytest.raises(ParameterError) as e:
        X.parse_spec(_edit(edit), "spec.toml")
    assert words in str(e.value) and "\n" not in str(e.value)


def test_network_that_cannot_run_on_a_set_is_refused_before_work():
    d = _small()
    d["sets"].append({"name": "L6", "L": 6, "source": "family", "n": 2, "seed": 1})
    spec = X.parse_spec(d, "spec.toml")
    with pytest.raises(ParameterError, match="'L6', model 'sympe'"):
        X.prepare(spec)


def test_t_interval():
    m, h = X.t_interval([1.0, 2.0, 3.0])
    assert m == 2.0 and h == pytest.approx(4.302652729911275 / math.sqrt(3))
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(2000):
        x = rng.normal(size=3)
        m, h = X.t_interval(x)
        hits += abs(m) <= h
    assert 0.93 <= hits / 2000 <= 0.97  # 95 % coverage at n = 3 (σ of the rate ~ 0.005)
    assert math.isnan(X.t_interval([1.0])[1])


def test_sets_heldout_family_and_file(tmp_path):
    e = X.SetEntry("a", 8, "heldout", n=5)
    s = X.build_set(e)
    assert len(s.couplings) == 5 and s.homogeneous and s.families == ["homogeneous"] * 5
    f1 = X.build_set(X.SetEntry("b", 8, "family", n=4, seed=3))
    f2 = X.build_set(X.SetEntry("b", 8, "family", n=4, seed=3))
    assert f1.key() == f2.key() and f1.key() != X.build_set(X.SetEntry("b", 8, "family", n=4,
                                                                          seed=4)).key()
    rng = np.random.default_rng(1)
    J = rng.normal(size=(4, 4))
    path = tmp_path / "h.json"
    path.write_text(json.dumps([{"Jx": 1, "Jy": 1, "J2": 0, "h": 0},
                                {"Jx": J.tolist(), "Jy": 1.0, "J2p": 0.5, "J2m": 0.0, "h": 0.0,
                                 "family": "glass"}]))
    e = X.SetEntry("c", 4, "file", params=str(path), disorder=2.0)
    s = X.build_set(e)
    assert s.families == ["file", "glass"] and isinstance(s.couplings[0], Couplings)
    Jx = s.couplings[1].Jx
    assert np.allclose(Jx - Jx.mean(), 2 * (J - J.mean())) and Jx.mean() == pytest.approx(J.mean())
    assert not s.homogeneous


@pytest.mark.parametrize("entry, words", [
    ({"Jx": [[1.0, 2.0], [3.0, 4.0]], "Jy": 1, "J2": 0, "h": 0}, "shape"),
    ({"Jx": 1, "Jy": 1, "J2": 0, "h": 0, "family": 3}, "family"),
    ({"Jx": 1, "Jy": 1, "J2": 0}, "missing"),
    ({"Jx": 1, "Jy": 1, "J2": 0, "h": 0, "K": 1}, "unknown"),
])
def test_bad_hamiltonian_files(tmp_path, entry, words):
    path = tmp_path / "h.json"
    path.write_text(json.dumps([entry]))
    with pytest.raises(DataError, match=words):
        X.build_set(X.SetEntry("c", 4, "file", params=str(path)))
    path.write_text('[{"Jx": NaN, "Jy": 1, "J2": 0, "h": 0}]')
    with pytest.raises(DataError):
        X.build_set(X.SetEntry("c", 4, "file", params=str(path)))


def test_exact_references_and_kinds():
    from spinsym.exact import ground_state_energies
    from spinsym.mc.anneal import anneal

    s = X.build_set(X.SetEntry("a", 4, "heldout", n=3))
    assert X.exact_kind(s) == "exact-periodic"
    e = X.exact_energies(s)
    p = np.array([[c.Jx, c.Jy, c.J2, c.h] for c in s.couplings])
    assert np.allclose(e, ground_state_energies(p) * 16)
    s6 = X.build_set(X.SetEntry("a", 6, "heldout", n=3))
    assert X.exact_kind(s6) == "exact"  # ground_state_bonds
    for c, ei in zip(s6.couplings, X.exact_energies(s6)):
        assert anneal(c, 6, sweeps=300, restarts=4).energy == pytest.approx(ei)
    for c, ei in zip(s.couplings, e):  # SA with a generous budget agrees
        assert anneal(c, 4, sweeps=300, restarts=4).energy == pytest.approx(ei)
    big = X.build_set(X.SetEntry("b", 12, "heldout", n=2))
    assert X.exact_kind(big) == "exact-periodic"
    glass = X.HamiltonianSet(X.SetEntry("g", 12, "file", params="x"),
                             [BondCouplings(np.ones((12, 12)) * np.arange(12), 1.0)], ["g"])
    assert X.exact_kind(glass) is None


def test_best_known_reference_and_gaps():
    """Without an exact minimum the reference is the lowest energy anything found, so the
    best output has gap 0 and no gap is negative."""
    spec = X.load_spec(SMALL)
    spec = copy.replace(spec, seeds=(0, 1)) if hasattr(copy, "replace") else spec
    rng = np.random.default_rng(0)
    hs = X.HamiltonianSet(X.SetEntry("g", 12, "file", params="x"),
                          [BondCouplings(rng.normal(size=(12, 12)), 1.0) for _ in range(3)],
                          ["glass", "glass", "ferro"])
    E = {k: -100.0 - rng.random((3, spec.samples)) for k in range(8)}
    net = {}
    i = 0
    for m in spec.models:
        for s in spec.seeds:
            net[(m.name, s, "g")] = {"raw": {"energies": E[i].tolist(),
                                             "seconds_per_hamiltonian": 0.01,
                                             "cpu_seconds_per_hamiltonian": 0.01},
                                     "refined": {"energies": (E[i] - 0.5).tolist(),
                                                 "seconds_per_hamiltonian": 0.02,
                                                 "cpu_seconds_per_hamiltonian": 0.02}}
            i += 1
    sa = {(s, "g"): {"energies": [-100.2, -100.0, -101.9], "seconds": [0.1] * 3,
                     "cpu_seconds": [0.1] * 3} for s in spec.seeds}
    curves = {"g": {"restarts": 2, "points": [{"sweeps": 1, "energies": [-90.0] * 3,
                                                "seconds": [0.001] * 3}]}}
    refs = {"g": {"kind": "best-known", "sa_energies": [-102.0, -99.0, -99.0]}}
    timings = {(m.name, s): {"steps": 3, "train_seconds": 1.0, "train_cpu_seconds": 1.0}
               for m in spec.models for s in spec.seeds}
    out = X.summarize(spec, [hs], net, sa, curves, refs, timings)
    best = np.min(np.stack([np.array(refs["g"]["sa_energies"]), [-100.2, -100.0, -101.9]]
                           + [np.array(v["refined"]["energies"]).min(1) for v in net.values()]),
                  axis=0)
    assert out["sets"]["g"]["reference"] == "best-known"
    rows = out["results"]
    assert {r["model"] for r in rows} == {"sympe", "gcnn", "sa"}
    for r in rows:
        assert set(r["families"]) == {"all", "glass", "ferro"}
        for f in r["families"].values():
            assert all(g >= 0 for g in f["per_seed"])
    sa_row = [r for r in rows if r["model"] == "sa"][0]
    want = np.mean((np.array([-100.2, -100.0, -101.9]) - best) / np.abs(best))
    assert sa_row["families"]["all"]["mean_gap"] == pytest.approx(want)
    assert out["curves"]["g"][0]["mean_gap"] > 0.05
    text = X.markdown(out)
    assert "BEST-KNOWN" in text and "| sa |" in text
    # the descent control's samples join the best-known reference and get their own row
    desc = {(s, "g"): {"energies": [[-103.0] * spec.samples, [-100.0] * spec.samples,
                                    [-99.0] * spec.samples],
                       "seconds_per_hamiltonian": 0.05, "cpu_seconds_per_hamiltonian": 0.05}
            for s in spec.seeds}
    out = X.summarize(spec, [hs], net, sa, curves, refs, timings, desc)
    row = [r for r in out["results"] if r["model"] == "descent"][0]
    assert row["variant"] == f"best of {spec.descent.restarts}"
    assert row["families"]["glass"]["per_seed"][0] == pytest.approx(
        np.mean([0.0, (-100.0 - best[1]) / abs(best[1])]))
    assert "| descent |" in X.markdown(out)


def test_unknown_family_is_refused():
    e = X.SetEntry("f", 8, "family", n=2, families=("homogeneous", "nonsense"))
    with pytest.raises(ParameterError, match="unknown family 'nonsense'"):
        X.build_set(e)
    fams = X.training_families()
    s = X.build_set(X.SetEntry("f", 8, "family", n=6, seed=1, families=(fams[0],)))
    assert s.families == [fams[0]] * 6
