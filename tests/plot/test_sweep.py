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
