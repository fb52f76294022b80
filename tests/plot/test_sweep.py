"""Sweep figures: the Binder-crossing estimate and the phase diagram of a sweep directory."""

import numpy as np
import pytest

from spinsym import sweep as sw
from spinsym.errors import DataError, ParameterError


def test_binder_crossing_recovers_a_known_crossing():
    """Two synthetic curves crossing at T* = 2.27 with Gaussian noise: the estimate lands within
    its error, and the errors are calibrated (spread of the estimates ≈ mean error)."""
    from spinsym.plot.sweep import binder_crossing

    T = np.linspace(2.15, 2.39, 13)
    ua = 0.61 - 1.0 * (T - 2.27) - 2.0 * (T - 2.27) ** 2
    ub = 0.61 - 3.0 * (T - 2.27) - 4.0 * (T - 2.27) ** 2
    err = np.full_like(T, 0.004)
    rng = np.random.default_rng(5)
    est, errs = [], []
    for _ in range(40):
        c = binder_crossing((T, ua + err * rng.standard_normal(13), err),
                            (T, ub + err * rng.standard_normal(13), err), n_boot=200)
        est.append(c["T"])
        errs.append(c["err"])
    est, errs = np.array(est), np.array(errs)
    assert abs(est.mean() - 2.27) < 3 * est.std() / np.sqrt(len(est)) + 1e-4
    assert 0.6 < est.std() / errs.mean() < 1.6
    # no crossing in range
    assert binder_crossing((T, ua + 1, err), (T, ub, err)) is None


@pytest.fixture(scope="module")
def small_sweeps(tmp_path_factory):
    base = tmp_path_factory.mktemp("sweeps")
    binder = sw.parse_spec({"sweep": {"model": "ising", "algorithm": "wolff", "L": [4, 8],
                                      "T": {"start": 1.9, "stop": 2.7, "num": 9}, "sweeps": 4000,
                                      "thermalize": 200, "every": 2, "seeds": [1]},
                            "couplings": {"Jx": 1.0, "Jy": 1.0}})
    phase = sw.parse_spec({"sweep": {"model": "ising", "algorithm": "wolff", "L": [4],
                                     "T": [0.5, 4.0], "sweeps": 400, "thermalize": 50,
                                     "every": 2, "seeds": [1]},
                           "couplings": {"Jx": 1.0, "Jy": [-1.0, 0.0, 1.0]}})
    dirs = {"binder": str(base / "binder"), "phase": str(base / "phase")}
    sw.run_sweep(binder, dirs["binder"], workers=1)
    sw.run_sweep(phase, dirs["phase"], workers=1)
    return dirs


def test_plot_binder(small_sweeps, tmp_path):
    from spinsym.exact import ONSAGER_TC
    from spinsym.plot.sweep import format_binder, plot_binder

    res = plot_binder(small_sweeps["binder"], str(tmp_path / "b.png"))
    assert res["Tc"] == pytest.approx(ONSAGER_TC) and res["order"] == "m"
    assert sorted(res["curves"]) == [4, 8]
    (c,) = res["crossings"]
    assert c["L"] == (4, 8) and abs(c["T"] - ONSAGER_TC) < 0.15 and c["err"] > 0
    assert "exact Tc = 2.26919" in format_binder(res)
    assert (tmp_path / "b.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ParameterError, match="needs a single Jy"):
        plot_binder(small_sweeps["phase"], str(tmp_path / "x.png"))


def test_plot_sweep_phase_diagram(small_sweeps, tmp_path):
    from spinsym.plot.sweep import phase_diagram_grid, plot_sweep_phase_diagram

    rows = sw.load_sweep(small_sweeps["phase"])
    g = phase_diagram_grid(rows)
    assert list(g["ratios"]) == [-1.0, 0.0, 1.0] and list(g["T"]) == [0.5, 4.0]
    cold, hot = g["order"]
    assert cold[0] > 0.9 and cold[2] > 0.9  # stripes and ferro at T = 0.5
    assert hot[0] < 0.6 and hot[2] < 0.6
    text = plot_sweep_phase_diagram(small_sweeps["phase"], str(tmp_path / "pd.png"))
    assert "3 Jy/Jx × 2 T" in text
    assert (tmp_path / "pd.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ParameterError, match="several Jy"):
        plot_sweep_phase_diagram(small_sweeps["binder"], str(tmp_path / "y.png"))
    with pytest.raises(ParameterError, match="no jobs with L = 6"):
        plot_sweep_phase_diagram(small_sweeps["phase"], str(tmp_path / "y.png"), L=6)
    with pytest.raises(DataError, match="no index.json"):
        sw.load_sweep(str(tmp_path))


# --------------------------------------------------------------------------- ξ/L crossings


def synthetic_rows(T_star=2.27, sizes=(8, 16, 32), seed=3, err=0.004):
    """A sweep's rows without files: U and ξ/L of each L cross at T_star (finite-size scaling
    form with ν = 1), with Gaussian noise of the given error bars."""
    rng = np.random.default_rng(seed)
    rows = []
    for L in sizes:
        for T in np.linspace(2.15, 2.39, 13):
            x = (T - T_star) * L
            U = 0.61 - 0.05 * x
            xi_L = 0.9 * np.exp(-0.12 * x)
            rows.append({"model": "ising", "L": L, "T": float(T), "Jx": 1.0, "Jy": 1.0,
                         "J2": 0.0, "h": 0.0, "seed": 1, "file": "/nonexistent",
                         "observables": {
                             "binder": {"mean": U + err * rng.standard_normal(), "err": err},
                             "correlation_length": {"m": {
                                 "mean": L * (xi_L + err * rng.standard_normal()),
                                 "err": L * err}}}})
    return rows


def test_xi_crossings_of_a_synthetic_sweep():
    """ξ/L curves that cross at T* = 2.27: every consecutive pair's crossing is found within
    4 of its bootstrap errors, the errors are of the size of the noise, and a shifted curve
    moves the crossing (the check can fail)."""
    from spinsym.plot.sweep import binder_analysis, format_binder, xi_curves

    res = binder_analysis(synthetic_rows(), "m")
    assert sorted(res["xi_curves"]) == [8, 16, 32]
    T, xi, err = res["xi_curves"][16]
    assert T.size == 13 and np.allclose(err, 0.004)
    assert [c["L"] for c in res["xi_crossings"]] == [(8, 16), (16, 32)]
    for c in res["xi_crossings"]:
        assert 0 < c["err"] < 0.02
        assert abs(c["T"] - 2.27) < 4 * c["err"], c
        assert c["xi_over_L"] == pytest.approx(0.9, abs=0.03)
    assert res["xi_best"] is res["xi_crossings"][-1]
    text = format_binder(res)
    assert "xi/L L=16/32: crossing T = " in text and "L=16/32: crossing T = " in text
    assert "xi/L exact Tc = 2.26919; largest-pair crossing (L=16/32)" in text
    shifted = binder_analysis(synthetic_rows(T_star=2.31), "m")
    assert abs(shifted["xi_best"]["T"] - 2.31) < 4 * shifted["xi_best"]["err"]
    assert abs(shifted["xi_best"]["T"] - 2.27) > 4 * shifted["xi_best"]["err"]
    # undefined ξ (None) is left out of the curves
    rows = synthetic_rows()
    rows[0]["observables"]["correlation_length"]["m"] = {"mean": None, "err": None}
    assert xi_curves(rows)[8][0].size == 12


def test_plot_binder_xi_panels(tmp_path, monkeypatch, cli):
    """A real tiny Metropolis sweep: the figure has the Binder and the ξ/L rows, the ξ/L
    curves are the index's correlation lengths over L, an index written without them falls
    back to the files, and --json reports the ξ/L crossings beside the Binder ones."""
    import json

    from spinsym.plot import sweep as plot_sweep

    spec = sw.parse_spec({"sweep": {"model": "ising", "algorithm": "metropolis", "L": [4, 8],
                                    "T": {"start": 1.9, "stop": 2.9, "num": 6}, "sweeps": 3000,
                                    "thermalize": 300, "every": 2, "seeds": [1]},
                          "couplings": {"Jx": 1.0, "Jy": 1.0}})
    out_dir = str(tmp_path / "s")
    sw.run_sweep(spec, out_dir, workers=1)
    figures = []
    monkeypatch.setattr(plot_sweep, "save_figure", lambda fig, path: figures.append(fig) or path)
    res = plot_sweep.plot_binder(out_dir, str(tmp_path / "b.png"))
    rows = sw.load_sweep(out_dir)
    for L, (T, xi, err) in res["xi_curves"].items():
        for t, v, e in zip(T, xi, err):
            (r,) = [r for r in rows if r["L"] == L and r["T"] == t]
            assert v == r["observables"]["correlation_length"]["m"]["mean"] / L
            assert e == r["observables"]["correlation_length"]["m"]["err"] / L
    (fig,) = figures
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert labels[:2] == ["Binder cumulant U"] * 2 and labels[2:] == [
        "ξ/L of m (second moment)"] * 2
    (xc,) = res["xi_crossings"]
    assert xc["L"] == (4, 8) and abs(xc["T"] - 2.269) < 0.3 and xc["err"] > 0
    # an index without correlation lengths: they are computed from the job files
    index_file = tmp_path / "s" / "index.json"
    index = json.loads(index_file.read_text())
    for entry in index["jobs"].values():
        entry["observables"].pop("correlation_length")
    index_file.write_text(json.dumps(index))
    again = plot_sweep.binder_analysis(sw.load_sweep(out_dir))
    for L in res["xi_curves"]:
        for a, b in zip(res["xi_curves"][L], again["xi_curves"][L]):
            np.testing.assert_array_equal(a, b)
    monkeypatch.undo()
    proc = cli("plot", "binder", out_dir, "--out", str(tmp_path / "b.png"), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [c["L"] for c in data["xi_crossings"]] == [[4, 8]]
    assert data["xi_crossings"][0]["T"] == pytest.approx(xc["T"])
    assert (tmp_path / "b.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
