"""Training loss, checkpoints, prediction and evaluation of the ground-state predictors."""

import json
import os

import numpy as np
import pytest
import torch

from spinsym.errors import DataError, ParameterError
from spinsym.exact import ground_state_ising, tile
from spinsym.hamiltonians import Couplings, ising_energy
from spinsym.tasks import groundstate as gs

TINY = dict(steps=3, batch=4, width=2, depth=1, pe_fields=1, canon_width=1, canon_depth=1)


def _cfg(arch="sympe", **kw):
    return gs.TrainConfig(arch=arch, L=4, seed=7, **TINY).override(**kw)


def test_family_sampler_ranges_and_determinism():
    a = gs.sample_family(np.random.default_rng(1), 2000, special=0.3)
    b = gs.sample_family(np.random.default_rng(1), 2000, special=0.3)
    assert np.array_equal(a, b)
    assert (np.abs(a[:, :2]) <= 3).all() and (np.abs(a[:, 2]) <= 1).all()
    assert (np.abs(a[:, 3]) <= 3).all()
    assert (a[:, 3] == 0).mean() > 0.05 and (a[:, 0] == a[:, 1]).mean() > 0.05


def test_loss_is_the_energy_at_the_mean_spins():
    """The loss calls ising_energy; E over independent spins equals H at the means."""
    rng = np.random.default_rng(0)
    logits = torch.tensor(rng.normal(size=(2, 1, 4, 4)))
    p = torch.tensor([[1.0, -2.0, 0.5, 0.3], [-1.0, 0.5, -0.2, 1.0]], dtype=torch.float64)
    loss = gs.expected_energy_loss(logits, p, T=0.0)
    m = torch.tanh(logits)
    cols = [p[:, i].reshape(-1, 1, 1, 1) for i in range(4)]
    scale = torch.tensor(gs.coupling_scale(p.numpy()))
    ref = (ising_energy(m, *cols)[:, 0] / 16 / scale).mean()
    assert torch.allclose(loss, ref)
    # Monte Carlo over independent spins agrees with H(m) (multilinearity)
    prob = (1 + m[0, 0]) / 2
    s = torch.where(torch.rand((20000, 4, 4), generator=torch.Generator().manual_seed(0),
                               dtype=torch.float64) < prob, 1.0, -1.0)
    mc = ising_energy(s, *(float(v) for v in p[0])).mean()
    exact = ising_energy(m[0, 0], *(float(v) for v in p[0]))
    assert abs(float(mc - exact)) < 5 * float(ising_energy(s, *(float(v) for v in p[0])).std()
                                              / np.sqrt(20000))


@pytest.mark.parametrize("model", ["sympe", "gcnn", "noise", "cnn"])
def test_train_checkpoint_predict_roundtrip(tmp_path, model):
    ck = gs.train(_cfg(model))
    assert ck["kind"] == "groundstate" and ck["train_config"]["arch"] == model
    assert ck["arch"] == model and ck["model"] == "ising" and ck["complete"]
    path = str(tmp_path / "m.pt")
    gs.save_checkpoint(ck, path)
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    m, meta = gs.load_checkpoint(path)
    P = np.array([[1.0, 1.0, 0.0, 0.0], [-1.0, 2.0, 0.3, -0.5]])
    r = gs.predict(m, P, 8, samples=3, seed=4)
    assert r["spins"].dtype == np.int8 and r["spins"].shape == (2, 3, 8, 8)
    assert set(np.unique(r["spins"])) <= {-1, 1}
    r2 = gs.predict(m, P, 8, samples=3, seed=4)
    assert np.array_equal(r["spins"], r2["spins"])
    if model == "sympe":
        assert r["g"].shape == (2, 3, 4)
    if model in ("gcnn", "noise"):  # any even L
        assert gs.predict(m, P, 6, samples=1)["spins"].shape == (2, 1, 6, 6)
    else:
        with pytest.raises(ParameterError, match="divisible by 4"):
            gs.predict(m, P, 6)
    with pytest.raises(ParameterError, match="even"):
        gs.predict(m, P, 5)


def test_same_seed_same_checkpoint():
    a = gs.train(_cfg("sympe"))
    b = gs.train(_cfg("sympe"))
    for k in a["state_dict"]:
        assert torch.equal(a["state_dict"][k], b["state_dict"][k]), k
    c = gs.train(_cfg("sympe", seed=8))
    assert any(not torch.equal(a["state_dict"][k], c["state_dict"][k]) for k in a["state_dict"])


def test_load_checkpoint_refuses_bad_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        gs.load_checkpoint(str(tmp_path / "missing.pt"))
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="cannot read"):
        gs.load_checkpoint(str(junk))
    foreign = tmp_path / "foreign.pt"
    torch.save({"kind": "sampler", "state_dict": {}}, foreign)
    with pytest.raises(DataError, match="not a ground-state checkpoint"):
        gs.load_checkpoint(str(foreign))


def test_params_parsing(tmp_path):
    p = tmp_path / "h.json"
    p.write_text(json.dumps([{"Jx": 1, "Jy": -1, "J2": 0.5, "h": 0}]))
    assert gs.load_params(str(p)).tolist() == [[1.0, -1.0, 0.5, 0.0]]
    p.write_text("[{")
    with pytest.raises(DataError, match="malformed JSON"):
        gs.load_params(str(p))
    p.write_text(json.dumps([{"Jx": "a"}]))
    with pytest.raises(DataError):
        gs.load_params(str(p))
    p.write_text(json.dumps([{"Jz": 1}]))
    with pytest.raises(DataError, match="unknown keys"):
        gs.load_params(str(p))


def test_exact_ground_states_have_zero_gap_and_right_phase():
    P = np.array([[1.0, 1.0, 0.0, 0.0], [-1.0, -1.0, 0.2, 0.0], [1.0, -2.0, 0.0, 0.5],
                  [0.5, 0.5, -1.0, 0.0], [-1.0, -1.0, -0.5, 2.5]])
    spins = np.stack([tile(ground_state_ising(Couplings(*p))["configs"][:2], 8) for p in P])
    rep = gs.evaluate(spins, P)
    assert rep["max_gap"] < 1e-12
    assert [r["exact_phase"] for r in rep["per_hamiltonian"]] == \
        ["ferro", "neel", "stripe", "stripe", "m1/2"]
    assert rep["phase_accuracy"] == 1.0
    # a wrong state has a positive gap
    bad = spins.copy()
    bad[0, :, 0, 0] *= -1
    assert gs.evaluate(bad, P)["per_hamiltonian"][0]["gap_mean"] > 0


def test_shipped_heldout_set_matches_its_generator():
    path = os.path.join(os.path.dirname(__file__), "..", "..", "data",
                        "heldout_hamiltonians.json")
    P = gs.load_params(path)
    assert np.allclose(P, gs.heldout_set())


@pytest.mark.parametrize("model", ["sympe", "cnn", "gcnn"])
def test_training_on_the_4x4_torus_is_exact(model):
    """compute_size: for constant couplings and a period-4 encoding, the L = 8 computation is
    the tiling of the L = 4 one (same logits, same loss, same gradients)."""
    from spinsym.nn import build_model
    from spinsym.nn.fields import bond_fields

    torch.manual_seed(0)
    hom = dict(families="homogeneous", pe_period=4)
    m = build_model(model, **gs.model_config(_cfg(model, **hom))).train()
    assert gs.compute_size(_cfg(model, L=8, **hom)) == 4
    assert gs.compute_size(_cfg("noise", L=8, **hom)) == 8
    assert gs.compute_size(_cfg(model, L=8)) == 8  # per-bond families: never folded
    P = gs.sample_family(np.random.default_rng(0), 3, 0.3)
    pt = torch.tensor(P, dtype=torch.float32)
    g = torch.tensor([[[1, 2, 5, 1]], [[0, 3, 2, 0]], [[3, 3, 7, 1]]])
    grads, outs = [], []
    for L, gg in ((4, g), (8, g + torch.tensor([4, 0, 0, 0]))):
        m.zero_grad()
        kw = {"g": gg} if model == "sympe" else {}
        out = m(bond_fields(P, L), samples=1, **kw)["logits"]
        gs.expected_energy_loss(out, pt, T=0.1).backward()
        outs.append(out.detach())
        grads.append(torch.cat([p.grad.reshape(-1) for p in m.parameters()
                                if p.grad is not None]))
    assert torch.allclose(outs[1], outs[0].repeat(1, 1, 2, 2), atol=1e-5)
    assert torch.allclose(grads[0], grads[1], atol=1e-4, rtol=1e-3)


def test_best_of_keeps_the_lowest_energy_draw():
    ck = gs.train(_cfg("sympe"))
    from spinsym.nn import build_model

    m = build_model("sympe", **ck["model_config"])
    m.load_state_dict(ck["state_dict"])
    m.eval()
    P = np.array([[1.0, -2.0, 0.3, 0.5], [-1.0, -1.0, 0.1, 0.2]])
    one = gs.predict(m, P, 8, samples=12, seed=2)
    best = gs.predict(m, P, 8, samples=12, seed=2, best_of=4)
    assert best["spins"].shape == one["spins"].shape and best["g"].shape == (2, 12, 4)
    assert np.array_equal(best["spins"], gs.predict(m, P, 8, samples=12, seed=2,
                                                    best_of=4)["spins"])
    # the 4 candidates of sample k are draws 4k..4k+3 of a 48-sample run with the same seed
    all48 = gs.predict(m, P, 8, samples=48, seed=2)
    e48 = gs.energies_per_site(all48["spins"], P).reshape(2, 12, 4).min(-1)
    assert np.allclose(gs.energies_per_site(best["spins"], P), e48)


def test_best_of_treats_symmetric_images_as_ties():
    """The energy of a configuration and of its translate can differ in the last bit (the sum
    over bonds runs in site order); best-of must still pick the first of them, or it would
    prefer some images of a configuration over others."""
    rng = np.random.default_rng(0)
    b = np.round(gs._constant_bonds(np.array([rng.normal(size=4)]), 8)[0], 6)
    s = rng.choice(np.array([-1, 1], np.int8), size=(8, 8))
    tr = np.stack([np.roll(s, (dy, dx), (0, 1)) for dy in range(8) for dx in range(8)])
    e = gs.energies_per_site(tr[None], b[None])[0]
    assert np.ptp(e) > 0  # the round-off this test is about
    order = np.argsort(-e, kind="stable")  # the slightly higher images first
    g = np.arange(64 * 4).reshape(1, 64, 4)  # stands for each draw's g̃: the same pick
    picked, g_picked = gs._best_of(tr[order][None], b[None], 1, 64, g)
    assert np.array_equal(picked[0, 0], tr[order[0]]) and g_picked.tolist() == [[[0, 1, 2, 3]]]
    assert gs._best_of(tr[order][None], b[None], 1, 64)[1] is None


def test_sampling_modes_of_predict():
    """canonical is the model's own draw; uniform spreads g̃ over G where the canonical draw
    keeps one stabilizer coset; models without g̃ and unknown modes are refused."""
    ck = gs.train(_cfg("sympe"))
    from spinsym.nn import build_model

    m = build_model("sympe", **ck["model_config"])
    m.load_state_dict(ck["state_dict"])
    m.eval()
    H = gs.heldout_bonds()
    P = H.bonds[[H.family.index("gaussian_glass")]]  # a trivial stabilizer
    own = gs.predict(m, P, 8, samples=16, seed=3)
    can = gs.predict(m, P, 8, samples=16, seed=3, sampling="canonical")
    assert np.array_equal(own["spins"], can["spins"]) and np.array_equal(own["g"], can["g"])
    assert len({tuple(g) for g in can["g"][0]}) == 1
    uni = gs.predict(m, P, 8, samples=16, seed=3, sampling="uniform")
    assert len({tuple(g) for g in uni["g"][0]}) > 8
    assert np.array_equal(uni["spins"], gs.predict(m, P, 8, samples=16, seed=3,
                                                   sampling="uniform")["spins"])
    with pytest.raises(ParameterError, match="sampling must be one of"):
        gs.predict(m, P, 8, sampling="argmax")
    gc = build_model("gcnn", width=2, depth=1, kernel=3)
    with pytest.raises(ParameterError, match="models that draw g̃"):
        gs.predict(gc, P, 8, sampling="uniform")
    uc = build_model("sympe", **{**ck["model_config"], "canonicalizer": "uniform"})
    uc.eval()
    assert gs.predict(uc, P, 8, samples=2, sampling="uniform")["spins"].shape == (1, 2, 8, 8)
    with pytest.raises(ParameterError, match="trained without one"):
        gs.predict(uc, P, 8, sampling="canonical")


def test_validation_file_matches_its_generator_and_is_disjoint_from_the_heldout_set():
    path = os.path.join(os.path.dirname(__file__), "..", "..", "data",
                        "validation_bonds_L8.json")
    V = gs.load_hamiltonians(path, 8)
    ref = gs.validation_bonds()
    assert np.array_equal(V.bonds, ref.bonds) and V.family == ref.family
    assert set(V.family) == set(gs.FAMILIES)
    H = gs.heldout_bonds()
    flat = {b.tobytes() for b in H.bonds}
    assert not any(b.tobytes() in flat for b in V.bonds)


def test_refine_is_equivariant_monotone_and_cannot_break_symmetry():
    """The deterministic rule (no priorities): equivariant, monotone, and ties block."""
    from spinsym.hamiltonians import ising_energy
    from spinsym.lattice import rotate90, translate

    rng = np.random.default_rng(4)
    P = np.array([[-1.8, 0.45, 0.6, 2.9], [1.0, -2.0, 0.3, 0.5], [-1.0, -1.0, 0.2, 0.0]])
    s = rng.choice(np.array([-1, 1], np.int8), size=(3, 2, 8, 8))
    r = gs.refine(s, P)
    e0 = np.array([[ising_energy(s[i, k], *P[i]) for k in range(2)] for i in range(3)])
    e1 = np.array([[ising_energy(r[i, k], *P[i]) for k in range(2)] for i in range(3)])
    assert np.all(e1 <= e0 + 1e-9) and np.any(e1 < e0 - 1e-9)
    assert np.array_equal(gs.refine(r, P), r)
    assert np.array_equal(gs.refine(translate(s, 3, -2), P), translate(r, 3, -2))
    Prot = P[:, [1, 0, 2, 3]]
    assert np.array_equal(gs.refine(rotate90(s), Prot), rotate90(r))
    Pflip = P * np.array([1, 1, 1, -1])
    assert np.array_equal(gs.refine(-s, Pflip), -r)
    # a constant state under antiferromagnetic couplings stays constant (ties: nobody flips)
    up = np.ones((1, 1, 8, 8), np.int8)
    assert np.array_equal(gs.refine(up, np.array([[-1.0, -1.0, 0.0, 0.0]])), up)


def test_refine_with_priorities_reaches_single_flip_minima():
    """The tie case: all-up under (−1, −1, 0, 0) has 64 sites whose flip lowers E and the
    deterministic rule flips none; with priorities every output is a single-flip local
    minimum, reached by monotone descent, on per-bond Hamiltonians too."""
    up = np.ones((1, 16, 8, 8), np.int8)
    P = np.array([[-1.0, -1.0, 0.0, 0.0]])
    assert (gs.flip_gains(gs.refine(up, P), P) > 0).sum() == up.size  # all 16 x 64 sites
    r = gs.refine(up, P, rng=np.random.default_rng(0))
    assert (gs.flip_gains(r, P) <= 0).all()
    e = gs.energies_per_site(r, P)
    assert (e < 0).all()
    assert len({c.tobytes() for c in r[0]}) > 1  # the priorities break the symmetry
    H = gs.heldout_bonds()
    rng = np.random.default_rng(1)
    s = rng.choice(np.array([-1, 1], np.int8), size=(10, 2, 8, 8))
    r = gs.refine(s, H.bonds[:10], rng=np.random.default_rng(2))
    assert (gs.flip_gains(r, H.bonds[:10]) <= 0).all()
    assert (gs.energies_per_site(r, H.bonds[:10])
            <= gs.energies_per_site(s, H.bonds[:10]) + 1e-12).all()


def test_refine_with_priorities_is_exactly_equivariant():
    """refine(g·s, g·J, g·π) = g·refine(s, J, π) for per-bond J and elements of G (the law
    of i.i.d. priorities is G-invariant, so the output distribution is equivariant)."""
    from spinsym.nn import fields as F

    L = 8
    G = F.TorusGroup(L)
    rng = np.random.default_rng(3)
    H = gs.heldout_bonds()
    bonds = H.bonds[[20, 50, 70, 100]]
    s = rng.choice(np.array([-1, 1], np.int8), size=(4, 2, L, L))
    prio = rng.random((4, 2, L, L))
    r = gs.refine(s, bonds, priority=prio)
    for g in [(1, 0, 0, 0), (0, 0, 1, 0), (0, 0, 4, 0), (0, 0, 0, 1), (3, 5, 6, 1)]:
        gb = np.stack([F.transform_bonds(G, g, b) for b in bonds])
        gs_ = G.act(g, s)
        gp = G.act(g[:3] + (0,), prio)
        assert np.array_equal(gs.refine(gs_, gb, priority=gp), G.act(g, r))


def test_family_generator_covers_every_family():
    a, fa = gs.sample_bonds(np.random.default_rng(1), 400, 8)
    b, fb = gs.sample_bonds(np.random.default_rng(1), 400, 8)
    assert np.array_equal(a, b) and fa == fb
    assert a.shape == (400, 5, 8, 8) and set(fa) == set(gs.FAMILIES)
    rows = gs.scalar_rows(a)
    per_bond = np.isnan(rows[:, 0])
    assert per_bond.sum() > 250  # everything but the homogeneous family varies
    assert (np.all(a[:, 4] == 0, axis=(1, 2))).mean() > 0.2  # Z2-symmetric inputs
    tri = [i for i, f in enumerate(fa) if f == "unequal_diagonals"]
    assert any((a[i, 2] != a[i, 3]).any() for i in tri)
    c, fc = gs.sample_bonds(np.random.default_rng(2), 50, 8, ("pm_j",))
    assert set(fc) == {"pm_j"} and set(np.unique(np.abs(c[:, 0]))) != {0.0}
    assert gs.parse_families("defect, pm_j") == ("defect", "pm_j")
    with pytest.raises(ParameterError, match="unknown family 'glass'"):
        gs.parse_families("glass")
    with pytest.raises(ParameterError, match="families"):
        gs.TrainConfig(families="ferro").validate()


def test_family_weights():
    """name:k draws a family k times as often; "all" alone is the older equal draw."""
    assert gs.parse_families("all") == gs.FAMILIES
    assert gs.parse_families("defect:2, pm_j") == ("defect", "defect", "pm_j")
    assert gs.parse_families("pm_j,pm_j:2") == ("pm_j", "pm_j")  # the last weight counts
    table = gs.parse_families("all,superlattice:3")
    assert set(table) == set(gs.FAMILIES) and table.count("superlattice") == 3
    assert len(table) == len(gs.FAMILIES) + 2
    gs.TrainConfig(families="all,superlattice:3").validate()
    n = 4000
    _, fam = gs.sample_bonds(np.random.default_rng(5), n, 4, table)
    p = 3 / len(table)
    k = fam.count("superlattice")
    assert abs(k - n * p) < 5 * np.sqrt(n * p * (1 - p))
    for text, words in (("superlattice:0", "from 1 to 100, got '0'"),
                        ("superlattice:x", "got 'x'"), ("superlattice:101", "got '101'"),
                        ("superlattice:-1", "got '-1'"),
                        ("glass:2", "unknown family 'glass'"), ("", "unknown family ''"),
                        ("all:2", "all takes no weight"), ("superlattice:²", "got '²'")):
        with pytest.raises(ParameterError, match=words.replace("(", "\\(")):
            gs.parse_families(text)


def test_shipped_per_bond_heldout_file_matches_its_generator():
    path = os.path.join(os.path.dirname(__file__), "..", "..", "data", "heldout_bonds_L8.json")
    H = gs.load_hamiltonians(path, 8)
    ref = gs.heldout_bonds()
    assert np.array_equal(H.bonds, ref.bonds) and H.family == ref.family
    assert set(H.family) == set(gs.FAMILIES)
    with pytest.raises(DataError, match="expected \\(6, 6\\)"):
        gs.load_hamiltonians(path, 6)


def test_per_bond_params_files(tmp_path):
    L = 4
    p = tmp_path / "h.json"
    grid = np.arange(16.0).reshape(4, 4).tolist()
    p.write_text(json.dumps([{"Jx": 1, "Jy": -1, "J2": 0.5, "h": 0},
                             {"Jx": grid, "Jy": 1, "J2p": 0.5, "J2m": -0.5, "h": 0,
                              "family": "mine"}]))
    H = gs.load_hamiltonians(str(p), L)
    assert H.family == ["homogeneous", "mine"]
    assert np.array_equal(H.bonds[1, 0], np.array(grid)) and (H.bonds[1, 3] == -0.5).all()
    assert np.isnan(gs.scalar_rows(H.bonds)[1]).all()
    assert gs.scalar_rows(H.bonds)[0].tolist() == [1.0, -1.0, 0.5, 0.0]
    for text, words in (
            (json.dumps([{"Jx": grid, "Jy": 1, "J2": 0, "h": 0}]), "(4, 4), expected (6, 6)"),
            ('[{"Jx": [[1, NaN], [1, 1]], "Jy": 1, "J2": 0, "h": 0}]', "not a number"),
            (json.dumps([{"Jx": [[1, 2], [1]], "Jy": 1, "J2": 0, "h": 0}]), "ragged"),
            (json.dumps([{"Jx": 1, "Jy": 1, "J2": 0, "J2p": 1, "h": 0}]), "not both"),
            (json.dumps([{"Jx": 1, "Jy": 1, "J2": 0, "h": 0, "family": 3}]), "family")):
        p.write_text(text)
        with pytest.raises(DataError, match=words.replace("(", "\\(").replace(")", "\\)")):
            gs.load_hamiltonians(str(p), 6)


def test_evaluate_per_bond_against_the_exact_minimum():
    H = gs.heldout_bonds()
    sel = [0, 10, 30, 60, 80, 90, 110, 112]
    sub = gs.HamiltonianSet(H.bonds[sel], [H.family[i] for i in sel], [])
    ref = gs.exact_bonds_reference(sub.bonds)
    spins = np.stack([ref["config"], -ref["config"]], 1)
    flip_ok = np.all(sub.bonds[:, 4] == 0, axis=(1, 2))
    rep = gs.evaluate(spins[flip_ok], gs.HamiltonianSet(sub.bonds[flip_ok],
                                                        [sub.family[i] for i in
                                                         np.flatnonzero(flip_ok)], []))
    assert rep["max_gap"] < 1e-12
    assert rep["z2"]["plus"] == rep["z2"]["minus"] == int(flip_ok.sum())
    assert rep["z2"]["both_seen"] == int(flip_ok.sum())
    bad = ref["config"][:, None].copy()
    bad[:, 0, 0, 0] *= -1
    rep = gs.evaluate(bad, sub)
    assert set(rep["per_family"]) == set(sub.family)
    assert rep["mean_gap"] > 0 and all(r["gap_mean"] >= -1e-12 for r in rep["per_hamiltonian"])


def test_older_checkpoints_load_with_the_site_encoding(tmp_path):
    """A checkpoint written before per-bond input (no encoding in its configs) loads with the
    "sites" encoding and period 4, and predicts as before."""
    ck = gs.train(_cfg("sympe", encoding="sites", pe_period=4, families="homogeneous"))
    old = dict(ck)
    old["train_config"] = {k: v for k, v in ck["train_config"].items()
                           if k not in gs.LEGACY_FIELDS}
    old["model_config"] = {k: v for k, v in ck["model_config"].items() if k != "encoding"}
    assert "encoding" not in ck["model_config"]  # "sites" is not stored: old and new agree
    path = str(tmp_path / "old.pt")
    torch.save(old, path)
    m, meta = gs.load_checkpoint(path)
    assert m.encoding == "sites" and m.period == 4
    P = np.array([[1.0, -2.0, 0.3, 0.5]])
    gs.save_checkpoint(ck, str(tmp_path / "new.pt"))
    m2, _ = gs.load_checkpoint(str(tmp_path / "new.pt"))
    assert np.array_equal(gs.predict(m, P, 8, samples=4, seed=1)["spins"],
                          gs.predict(m2, P, 8, samples=4, seed=1)["spins"])


# ---------------------------------------------------------------------------------------------
# the ablation fields and the annealing teacher


@pytest.mark.parametrize("over", [dict(v="fixed"), dict(v="none"),
                                  dict(canonicalizer="uniform"), dict(group="p4")])
def test_ablation_fields_reach_the_network_and_its_checkpoint(tmp_path, over):
    ck = gs.train(_cfg("sympe", **over))
    key, value = next(iter(over.items()))
    assert ck["train_config"][key] == value and ck["model_config"][key] == value
    path = str(tmp_path / "m.pt")
    gs.save_checkpoint(ck, path)
    m, _ = gs.load_checkpoint(path)
    got = {"v": m.v_mode, "canonicalizer": m.canonicalizer, "group": m.group_name}[key]
    assert got == value
    r = gs.predict(m, np.array([[1.0, -1.0, 0.3, 0.0]]), 4, samples=2, seed=1)
    assert r["spins"].shape == (1, 2, 4, 4) and r["g"].shape == (1, 2, 4)
    if key == "group":  # G = T ⋊ C4 × Z2: the drawn point-group index is a rotation
        assert (r["g"][..., 2] < 4).all()


def test_defaults_store_no_ablation_keys():
    """Checkpoints of the default model config are those of before the ablations (older ones
    stay loadable and resumable)."""
    mc = gs.model_config(gs.TrainConfig())
    assert not {"v", "canonicalizer", "group"} & set(mc)


@pytest.mark.parametrize("over, words", [
    (dict(v="frozen"), "unknown --v"),
    (dict(canonicalizer="max"), "unknown --canonicalizer"),
    (dict(group="p6"), "unknown --group"),
    (dict(arch="gcnn", v="none"), "sympe ablation"),
    (dict(arch="noise", canonicalizer="uniform"), "sympe ablation"),
    (dict(arch="cnn", group="p4"), "no group"),
    (dict(group="p4", encoding="sites"), "--encoding bonds"),
    (dict(teacher="sa"), "unknown --teacher"),
    (dict(teacher_sweeps=0), "--teacher-sweeps"),
])
def test_bad_ablation_and_teacher_fields(over, words):
    with pytest.raises(ParameterError, match=words.replace("-", r"\-")):
        _cfg(**over).validate()


def test_align_to_moves_the_state_within_the_stabilizer_only():
    """align_to picks, from Stab(x), the image of the state with the largest overlap with the
    network's means: the energy is unchanged, and on a constant zero-field input (Stab = G)
    a translated, rotated, flipped copy of a stripe state is moved back onto the means; on an
    input with a field (no flip in Stab) the flip is never used."""
    from spinsym.nn import build_model

    torch.manual_seed(0)
    m = build_model("sympe", width=2, depth=1, pe_fields=1, canon_width=1, canon_depth=1,
                    pe_period=4)
    L = 4
    G = m.group(L)
    yy, xx = np.indices((L, L))
    stripe = np.where(xx % 2 == 0, 1, -1).astype(np.int8)  # alternating along x
    moved = G.act((1, 3, 1, 1), stripe)  # rotated: a y-stripe, translated, flipped
    bonds = gs.as_bonds(np.array([[-1.0, 1.0, 0.0, 0.0]]), L)
    x = m.encode_input(torch.tensor(bonds, dtype=torch.float32)).numpy()
    # Jx = -1, Jy = 1: Stab contains the translations, the flip and the D2 mirrors, not the
    # quarter turn: the y-stripe cannot become an x-stripe; the x-stripe is aligned exactly
    xs = G.act((1, 3, 0, 1), stripe)
    out = gs.align_to(xs[None], stripe[None].astype(float), x, G, m.rho_in.numpy(),
                      m.odd_in.numpy())
    assert np.array_equal(out[0], stripe)
    e = gs.energies_per_site(np.stack([xs, out[0]])[:, None], np.repeat(bonds, 2, 0))
    assert e[0, 0] == e[1, 0]
    out2 = gs.align_to(moved[None], stripe[None].astype(float), x, G, m.rho_in.numpy(),
                       m.odd_in.numpy())
    assert not np.array_equal(out2[0], stripe)  # a quarter turn is no symmetry here
    # with a uniform field the flip is not in Stab: a flipped target stays flipped
    bh = gs.as_bonds(np.array([[1.0, 1.0, 0.0, 0.5]]), L)
    xh = m.encode_input(torch.tensor(bh, dtype=torch.float32)).numpy()
    up = np.ones((1, L, L), np.int8)
    assert np.array_equal(gs.align_to(up, -up.astype(float), xh, G, m.rho_in.numpy(),
                                      m.odd_in.numpy()), up)
    x0 = m.encode_input(torch.tensor(gs.as_bonds(np.array([[1.0, 1.0, 0.0, 0.0]]), L),
                                     dtype=torch.float32)).numpy()
    assert np.array_equal(gs.align_to(up, -up.astype(float), x0, G, m.rho_in.numpy(),
                                      m.odd_in.numpy()), -up)


def test_teacher_training_is_deterministic_resumable_and_uses_the_teacher(tmp_path):
    """teacher = "anneal": the teacher's term is reported (fraction of the batch it improved
    on), the same seed gives the same weights, and a run resumed halfway is bit for bit the
    uninterrupted one (the teacher's stream is checkpointed)."""
    import shutil

    cfg = _cfg("sympe", teacher="anneal", teacher_sweeps=8, steps=6, checkpoint_every=4)
    out, half = str(tmp_path / "a.pt"), str(tmp_path / "half.pt")

    def log(line):  # the last step (5) is logged; the checkpoint of step 4 is then on disk
        if line.split()[1] == "5":
            shutil.copy(out, half)

    a = gs.train(cfg, out=out, log=log)
    assert a["history"] and all(0.0 <= h["taught"] <= 1.0 for h in a["history"])
    assert not torch.load(half, weights_only=True)["complete"]
    b = gs.train(cfg, resume=half)
    for k in a["state_dict"]:
        assert torch.equal(a["state_dict"][k], b["state_dict"][k]), k
    assert gs.train(cfg)["history"][-1]["taught"] == a["history"][-1]["taught"]
    plain = gs.train(_cfg("sympe", steps=6, checkpoint_every=4))
    assert any(not torch.equal(a["state_dict"][k], plain["state_dict"][k])
               for k in a["state_dict"])


def test_teacher_loss_is_zero_where_the_network_is_already_optimal():
    """A network whose sample is an exact ground state gets no teacher term; one whose sample
    is the worst state gets a positive one, with a gradient towards the annealed state."""
    from spinsym.nn import build_model

    torch.manual_seed(0)
    m = build_model("gcnn", width=2, depth=1)
    L = 4
    bonds = gs.as_bonds(np.array([[1.0, 1.0, 0.0, 0.5]]), L)  # ground state: all up
    x = m.encode_input(torch.tensor(bonds, dtype=torch.float32))
    good = torch.full((1, 1, L, L), 3.0, requires_grad=True)
    loss, frac = gs.teacher_loss(good, bonds, x, m, 16, np.random.default_rng(0))
    assert float(loss.detach()) == 0.0 and frac == 0.0
    bad = torch.full((1, 1, L, L), -3.0, requires_grad=True)
    loss, frac = gs.teacher_loss(bad, bonds, x, m, 16, np.random.default_rng(0))
    assert float(loss.detach()) > 1.0 and frac == 1.0
    loss.backward()
    assert (bad.grad < 0).all()  # raising the logits (towards +1) lowers the loss


def _pair_gains(s, bonds):
    """Energy decrease of flipping both ends of every bond, by brute force through
    energies_per_site (the reference of the pair rule)."""
    from itertools import product

    L = s.shape[-1]
    n, K = s.shape[:2]
    e0 = gs.energies_per_site(s, bonds)
    out = []
    for (y, x), (dy, dx) in product(np.ndindex(L, L), ((0, 1), (1, 0), (1, 1), (1, -1))):
        t = s.copy()
        t[..., y, x] *= -1
        t[..., (y + dy) % L, (x + dx) % L] *= -1
        out.append((e0 - gs.energies_per_site(t, bonds)) * L * L)
    return np.stack(out, -1)


def test_refine_pairs_reaches_pair_minima_monotonically_and_equivariantly():
    """pairs = True: every output is a minimum under single and pair flips (brute force), its
    energy is at most the single-flip refinement's, some ±J / glass configurations go lower,
    and refine(g·s, g·J, g·π) = g·refine(s, J, π) exactly."""
    from spinsym.nn import fields as F

    L = 4
    H = gs.sample_bonds(np.random.default_rng(5), 6, L, ("pm_j", "gaussian_glass"))[0]
    rng = np.random.default_rng(6)
    s = rng.choice(np.array([-1, 1], np.int8), size=(6, 3, L, L))
    prio = rng.random((6, 3, L, L))
    single = gs.refine(s, H, priority=prio)
    pair = gs.refine(s, H, priority=prio, pairs=True)
    assert (gs.flip_gains(pair, H) <= 0).all()
    assert (_pair_gains(pair, H) <= 1e-9).all()
    e1, e2 = gs.energies_per_site(single, H), gs.energies_per_site(pair, H)
    assert (e2 <= e1 + 1e-12).all() and (e2 < e1 - 1e-9).any()
    assert (_pair_gains(single, H) > 1e-9).any()  # the single-flip minima were not all
    G = F.TorusGroup(L)
    for g in [(1, 0, 0, 0), (0, 0, 1, 0), (0, 0, 4, 0), (0, 0, 0, 1), (3, 1, 6, 1)]:
        gb = np.stack([F.transform_bonds(G, g, b) for b in H])
        gp = G.act(g[:3] + (0,), prio)
        assert np.array_equal(gs.refine(G.act(g, s), gb, priority=gp, pairs=True),
                              G.act(g, pair))
    # predict: pair refinement is the default; refine_pairs=False is the single-flip descent
    torch.manual_seed(0)
    from spinsym.nn import build_model

    m = build_model("gcnn", width=2, depth=1).eval()
    raw = gs.predict(m, H, L, samples=2, seed=3, refine_output=False)["spins"]
    a = gs.predict(m, H, L, samples=2, seed=3, refine_pairs=False, refine_lines=False)["spins"]
    b = gs.predict(m, H, L, samples=2, seed=3, refine_lines=False)["spins"]
    assert np.array_equal(a, gs.refine(raw, H, rng=gs._priority_rng(3)))
    assert np.array_equal(b, gs.refine(raw, H, rng=gs._priority_rng(3), pairs=True))
    assert (gs.energies_per_site(b, H) <= gs.energies_per_site(a, H) + 1e-12).all()
    # the default refinement also makes line-block flips
    c = gs.predict(m, H, L, samples=2, seed=3)["spins"]
    assert np.array_equal(c, gs.refine(raw, H, rng=gs._priority_rng(3), pairs=True, lines=True))


def test_predict_decode_sample_draws_spins_from_the_output_distribution():
    """decode = "sample": each spin is +1 with probability (1 + tanh l) / 2 for the network's
    logit l (binomial bounds per site over 3000 draws of a deterministic G-CNN); same seed,
    same spins; sign is the old decoding; an unknown mode is a ParameterError."""
    from spinsym.nn import build_model

    torch.manual_seed(1)
    m = build_model("gcnn", width=2, depth=1).eval()
    L, n = 4, 3000
    H = gs.sample_bonds(np.random.default_rng(9), 2, L, ("gaussian_glass",))[0]
    with torch.no_grad():
        logit = m(torch.tensor(H, dtype=torch.float32), samples=1)["logits"][:, 0].double()
    p = ((1 + torch.tanh(logit)) / 2).numpy()
    assert ((p > 0.05) & (p < 0.95)).sum() >= 8  # an untrained net: many uncertain sites
    s = gs.predict(m, H, L, samples=n, seed=2, refine_output=False, decode="sample")["spins"]
    assert np.array_equal(s, gs.predict(m, H, L, samples=n, seed=2, refine_output=False,
                                        decode="sample")["spins"])
    f = (s == 1).mean(1)
    assert (np.abs(f - p) <= 5 * np.sqrt(p * (1 - p) / n) + 1e-3).all()
    sign = gs.predict(m, H, L, samples=2, seed=2, refine_output=False)["spins"]
    assert np.array_equal(sign, np.broadcast_to(np.where(logit.numpy()[:, None] >= 0, 1, -1),
                                                sign.shape))
    with pytest.raises(ParameterError, match="decode must be one of sign, sample"):
        gs.predict(m, H, L, decode="argmax")


def _line_gains(s: np.ndarray, bonds) -> np.ndarray:
    """Brute force: −ΔE (total) of flipping each cyclic block of 1 … L − 1 whole rows, and of
    whole columns, for spins (n, K, L, L): (n, K, 2·L·(L − 1))."""
    L = s.shape[-1]
    e0 = gs.energies_per_site(s, bonds)
    out = []
    for axis in (-2, -1):
        for a in range(L):
            for k in range(1, L):
                t = s.copy()
                idx = [(a + j) % L for j in range(k)]
                if axis == -2:
                    t[..., idx, :] *= -1
                else:
                    t[..., :, idx] *= -1
                out.append((e0 - gs.energies_per_site(t, bonds)) * L * L)
    return np.stack(out, -1)


def _stacked_superlattice(L: int = 8) -> np.ndarray:
    """An antiferromagnetic-x superlattice whose y bonds alternate −1.70 / +0.85 (diagonals
    −0.51): rows are Néel, and the best relative sign of neighbouring rows alternates too, so
    the ground state has period 4 along y (E = −2.395 per site), while the state whose rows
    are all equal (−1.715) is a minimum under single and pair flips (gap 28 %)."""
    b = np.zeros((1, 5, L, L))
    b[0, 0] = -1.12
    b[0, 1] = np.where(np.arange(L) % 2 == 0, 0.85, -1.70)[:, None]
    b[0, 2:4] = -0.51
    return b


def test_refine_lines_reaches_line_block_minima_monotonically_and_equivariantly():
    """lines = True: every output is a minimum under single, pair and row / column block flips
    (brute force), never above the pair refinement's energy, lower on some superlattices and
    defects, and refine(g·s, g·J, g·π) = g·refine(s, J, π) exactly for elements of G (the
    block priorities move with the site priorities)."""
    from spinsym.nn import fields as F

    L = 6
    H = gs.sample_bonds(np.random.default_rng(15), 8, L, ("superlattice", "defect", "pm_j"))[0]
    rng = np.random.default_rng(16)
    s = rng.choice(np.array([-1, 1], np.int8), size=(8, 3, L, L))
    prio = rng.random((8, 3, L, L))
    pair = gs.refine(s, H, priority=prio, pairs=True)
    line = gs.refine(s, H, priority=prio, pairs=True, lines=True)
    assert (gs.flip_gains(line, H) <= 0).all() and (_pair_gains(line, H) <= 1e-9).all()
    assert (_line_gains(line, H) <= 1e-9).all()
    assert (_line_gains(pair, H) > 1e-9).any()  # the pair minima were not all line minima
    e1, e2 = gs.energies_per_site(pair, H), gs.energies_per_site(line, H)
    assert (e2 <= e1 + 1e-12).all() and (e2 < e1 - 1e-9).any()
    only = gs.refine(s, H, priority=prio, lines=True)  # lines without pairs: single + lines
    assert (gs.flip_gains(only, H) <= 0).all() and (_line_gains(only, H) <= 1e-9).all()
    G = F.TorusGroup(L)
    for g in [(1, 0, 0, 0), (0, 2, 0, 0), (0, 0, 1, 0), (0, 0, 4, 0), (0, 0, 5, 0),
              (0, 0, 0, 1), (3, 1, 6, 1)]:
        gb = np.stack([F.transform_bonds(G, g, b) for b in H])
        gp = G.act(g[:3] + (0,), prio)
        assert np.array_equal(gs.refine(G.act(g, s), gb, priority=gp, pairs=True, lines=True),
                              G.act(g, line))


def test_refine_lines_repairs_the_stacking_of_a_period_4_superlattice():
    """The all-rows-equal state of :func:`_stacked_superlattice` is a single- and pair-flip
    minimum 28 % above the exact ground state; flipping blocks of rows reaches the exact
    minimum (exact.ground_state_bonds).  The descent control gains the same move."""
    from spinsym.couplings import BondCouplings
    from spinsym.exact import ground_state_bonds

    L = 8
    b = _stacked_superlattice(L)
    e_exact = ground_state_bonds(BondCouplings(*b[0]), L)["energy_per_site"]
    assert e_exact == pytest.approx(-1.12 - (1.70 - 1.02 + 0.85 + 1.02) / 2, abs=1e-12)
    neel = np.where(np.arange(L) % 2 == 0, 1, -1).astype(np.int8)
    s = np.broadcast_to(neel[None, :], (L, L))[None, None].copy()
    e_rows = -1.12 - (0.85 + 1.02 - 1.70 + 1.02) / 2  # every row pair with the same sign
    assert gs.energies_per_site(s, b)[0, 0] == pytest.approx(e_rows, abs=1e-12)
    rng = np.random.default_rng(0)
    stuck = gs.refine(s, b, rng=rng, pairs=True)
    assert np.array_equal(stuck, s)  # no single or pair flip improves it
    fixed = gs.refine(s, b, rng=rng, pairs=True, lines=True)
    assert gs.energies_per_site(fixed, b)[0, 0] == pytest.approx(e_exact, abs=1e-12)
    d_lines = gs.descent(b, L, samples=16, seed=0)
    d_pairs = gs.descent(b, L, samples=16, seed=0, lines=False)
    assert gs.energies_per_site(d_lines, b).mean() < gs.energies_per_site(d_pairs, b).mean()


def test_line_round_breaks_ties_uniformly_and_blocks_them_without_priorities():
    """From the all-rows-equal state of the period-4 superlattice, 12 row blocks have the best
    gain: 2, 4 or 6 rows starting below a +0.85 bond (both of their edges are −1.70 bonds).
    With random priorities each is chosen with equal probability, whatever its size
    (chi-square); with all priorities equal they tie and nothing flips."""
    from scipy.stats import chisquare

    L = 8
    b = torch.tensor(_stacked_superlattice(L))
    neel = np.where(np.arange(L) % 2 == 0, 1.0, -1.0)
    s = torch.tensor(np.broadcast_to(neel[None, :], (L, L))[None, None].copy())
    n = 1600
    rng = np.random.default_rng(3)
    prio = torch.tensor(rng.random((1, n, L * L)).argsort(-1).reshape(1, n, L, L),
                        dtype=torch.float64)
    out, moved = gs._line_round(s.expand(1, n, L, L), b, prio)
    assert moved
    rows = (out != s).all(-1)[0]  # (n, L): which rows flipped (whole rows only)
    assert bool(((out != s).any(-1) == (out != s).all(-1)).all())
    counts = {}
    for r in rows.numpy():
        counts[tuple(np.flatnonzero(r))] = counts.get(tuple(np.flatnonzero(r)), 0) + 1
    assert len(counts) == 12
    assert all(len(k) in (2, 4, 6) and k[0] % 2 == 0 for k in counts)
    assert chisquare(list(counts.values())).pvalue > 1e-3
    assert not gs._line_round(s, b, torch.zeros_like(s))[1]
    # with h = 0 a block and its complement (another size) always tie: without priorities
    # that tie blocks too (brute force: a configuration moves only if its best gain is unique)
    L = 5
    H = gs.sample_bonds(np.random.default_rng(21), 40, L, ("gaussian_glass",))[0]
    H[:, 4] = 0.0
    s = np.random.default_rng(22).choice(np.array([-1, 1], np.int8), size=(40, 1, L, L))
    out, _ = gs._line_round(torch.tensor(s, dtype=torch.float64), torch.tensor(H),
                            torch.zeros((40, 1, L, L), dtype=torch.float64))
    moved = (out.numpy() != s).any((-2, -1))[:, 0]
    g = _line_gains(s, H)[:, 0]
    unique = (np.isclose(g, g.max(-1, keepdims=True), atol=1e-9).sum(-1) == 1) & (g.max(-1) > 0)
    assert not moved.any() and not unique.any()  # every best gain has its complement's twin


def test_descent_control_is_seeded_local_minima_and_keeps_the_best_start():
    """groundstate.descent, the model-free control: uniformly random spins through the same
    refinement; same seed → same spins; outputs are single-, pair- and line-flip minima; with R
    restarts each sample is the lowest-energy one of R such descents (brute force: the R = 1
    outputs of the same starts are never lower)."""
    L = 4
    H = gs.sample_bonds(np.random.default_rng(7), 5, L, ("pm_j", "gaussian_glass"))[0]
    a = gs.descent(H, L, samples=3, seed=2, restarts=4)
    assert a.shape == (5, 3, L, L) and a.dtype == np.int8
    assert np.array_equal(a, gs.descent(H, L, samples=3, seed=2, restarts=4))
    assert not np.array_equal(a, gs.descent(H, L, samples=3, seed=5, restarts=4))
    assert (gs.flip_gains(a, H) <= 0).all() and (_pair_gains(a, H) <= 1e-9).all()
    assert (_line_gains(a, H) <= 1e-9).all()  # and line-block minima (the default)
    single = gs.descent(H, L, samples=3, seed=2, restarts=4, pairs=False, lines=False)
    assert (gs.flip_gains(single, H) <= 0).all()
    # the same starts and priorities as restarts=4, each kept: the best of each 4 is a's
    rng = np.random.default_rng(np.random.SeedSequence([2, 5]))
    starts = rng.choice(np.array([-1, 1], np.int8), size=(5, 12, L, L))
    every = gs.refine(starts, H, rng=gs._priority_rng(2), pairs=True, lines=True)
    e = gs.energies_per_site(every, H).reshape(5, 3, 4)
    assert np.allclose(gs.energies_per_site(a, H), e.min(-1))
    with pytest.raises(ParameterError, match="restarts"):
        gs.descent(H, L, restarts=0)


def test_stored_configs_without_a_teacher_load_as_trained_without_one(tmp_path):
    """The annealing teacher is on by default; a checkpoint written before the teacher existed
    (no teacher keys in its stored config) is read as teacher = "none", not as the default."""
    assert gs.TrainConfig().teacher == "anneal"
    old = {k: v for k, v in gs.TrainConfig().to_dict().items()
           if k not in ("teacher", "teacher_sweeps", "teacher_weight")}
    cfg = gs.TrainConfig.from_dict(old, where="stored training config")
    assert cfg.teacher == "none" and cfg.teacher_sweeps == 64
    assert gs.TrainConfig.from_dict(old).teacher == "anneal"  # a user's config: the default


def test_pair_round_flips_distant_pairs_at_once_and_drops_by_their_gains():
    """One pair round flips, in parallel, improving pairs that are at least two steps apart
    (Chebyshev distance on the torus, so they do not interact): the energy drops by exactly
    the sum of their gains (brute force), the best pair of each configuration is among them,
    and with all priorities equal, bonds with tied keys block."""
    import torch

    L = 8
    H = gs.sample_bonds(np.random.default_rng(11), 4, L, ("pm_j", "gaussian_glass"))[0]
    rng = np.random.default_rng(12)
    s = rng.choice(np.array([-1, 1], np.int8), size=(4, 2, L, L))
    prio = torch.tensor(rng.random((4, 2, L * L)).argsort(-1).reshape(4, 2, L, L),
                        dtype=torch.float64)
    b = torch.tensor(gs.as_bonds(H, L))
    s0 = torch.tensor(s, dtype=torch.float64)
    s1, moved = gs._pair_round(s0, b, prio)
    assert moved
    # the int64-key path (distinct priority ranks) selects the same pairs as the sorted one
    assert gs._all_distinct(prio) and not gs._all_distinct(torch.zeros_like(prio))
    assert torch.equal(gs._pair_round(s0, b, prio, distinct=True)[0], s1)
    flipped = (s1 != s0).numpy()
    e0, e1 = gs.energies_per_site(s, H), gs.energies_per_site(s1.numpy().astype(np.int8), H)
    pg = _pair_gains(s, H).reshape(4, 2, L, L, 4)  # (y, x, bond vector) as in _pair_gains
    for i in range(4):
        for k in range(2):
            sites = np.argwhere(flipped[i, k])
            assert len(sites) % 2 == 0 and len(sites) >= 4  # several pairs in one round
            # which bonds flipped: both ends flipped, and every flipped site is in one of them
            vec = ((0, 1), (1, 0), (1, 1), (1, -1))
            pairs = [(y, x, c) for y, x in sites for c, (dy, dx) in enumerate(vec)
                     if flipped[i, k, (y + dy) % L, (x + dx) % L]]
            ends = {(y, x) for y, x, _ in pairs} | {
                ((y + vec[c][0]) % L, (x + vec[c][1]) % L) for y, x, c in pairs}
            assert ends == {tuple(p) for p in sites} and len(pairs) == len(sites) // 2
            drop = sum(pg[i, k, y, x, c] for y, x, c in pairs) / (L * L)
            assert e0[i, k] - e1[i, k] == pytest.approx(drop, abs=1e-9)
            assert pg[i, k].max() in [pg[i, k, y, x, c] for y, x, c in pairs]
    # a homogeneous input in a field against all-down spins: every pair of a bond direction
    # has the same gain, so with equal priorities the best keys tie and nothing flips; with
    # distinct priorities pairs flip
    down = -torch.ones((1, 1, L, L), dtype=torch.float64)
    for h in (5.0, -5.0):
        hom = torch.tensor(gs.as_bonds(np.array([[1.0, 1.0, 0.0, h]]), L))
        if gs._pair_round(down, hom, prio[:1, :1])[1]:
            break
    else:
        raise AssertionError("no field direction made a pair flip improve")
    assert not gs._pair_round(down, hom, torch.zeros_like(down))[1]


def test_refine_at_L2_makes_no_pair_flips_and_priorities_act_by_rank():
    """At L = 2 two bonds join the same two sites (the one-bond pair gain would be wrong):
    pairs=True is the single-flip descent there.  Priorities act only through their order
    within a configuration: float priorities give the result of their ranks."""
    H = gs.sample_bonds(np.random.default_rng(3), 3, 2, ("gaussian_glass",))[0]
    s = np.random.default_rng(4).choice(np.array([-1, 1], np.int8), size=(3, 4, 2, 2))
    prio = np.random.default_rng(5).random((3, 4, 2, 2))
    assert np.array_equal(gs.refine(s, H, priority=prio, pairs=True),
                          gs.refine(s, H, priority=prio))
    L = 6
    H = gs.sample_bonds(np.random.default_rng(6), 3, L, ("pm_j",))[0]
    s = np.random.default_rng(7).choice(np.array([-1, 1], np.int8), size=(3, 2, L, L))
    prio = np.random.default_rng(8).random((3, 2, L, L)) * 0.37 + 0.01
    ranks = prio.reshape(3, 2, -1).argsort(-1).argsort(-1).reshape(prio.shape)
    assert np.array_equal(gs.refine(s, H, priority=prio, pairs=True),
                          gs.refine(s, H, priority=ranks, pairs=True))
