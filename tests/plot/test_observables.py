"""plot observables: the ξ/L panel (Monte Carlo points and the exact curve), per-bond files."""

import numpy as np
import pytest

import spinsym
from spinsym.data import read
from spinsym.plot import observables as plot_obs


def draw(path, out, monkeypatch):
    """plot_observables on a file; returns (figure, analyze results)."""
    figures = []
    monkeypatch.setattr(plot_obs, "save_figure", lambda fig, p: figures.append(fig) or p)
    dataset = read(str(path))
    results = spinsym.analyze(str(path))
    assert plot_obs.plot_observables(dataset, results, str(out)) == str(out)
    (fig,) = figures
    return fig, results


def panel(fig, start):
    (ax,) = [ax for ax in fig.axes if ax.get_ylabel().startswith(start)]
    return ax


def mc_points(ax):
    line = ax.containers[0].lines[0]
    return np.asarray(line.get_xdata()), np.asarray(line.get_ydata())


@pytest.mark.parametrize("kw, op, pattern", [
    ({"Jx": 1.0, "Jy": 1.0}, "m", "ferro"),
    ({"Jx": -1.0, "Jy": -1.0, "J2": -0.3}, "staggered", "staggered"),
])
def test_xi_panel_points_and_exact_curve(tmp_path, monkeypatch, kw, op, pattern):
    from spinsym import exact

    L, temps = 4, [1.8, 2.6, 3.4]
    spinsym.simulate("ising", L=L, T=temps, sweeps=4000, every=2, seed=3, **kw).save(
        str(tmp_path / "r.h5"))
    fig, results = draw(tmp_path / "r.h5", tmp_path / "o.png", monkeypatch)
    ax = panel(fig, "correlation length ξ/L")
    T, y = mc_points(ax)
    assert list(T) == temps
    assert list(y) == [r["correlation_length"][op]["mean"] / L for r in results]
    (curve,) = [ln for ln in ax.get_lines() if ln.get_label().startswith("exact")]
    Tg, xi = np.asarray(curve.get_xdata()), np.asarray(curve.get_ydata())
    ref = exact.transfer_matrix_bonds(L, spinsym.hamiltonians.Couplings(**kw), float(Tg[7]))
    assert xi[7] == pytest.approx(0.5 * (ref[f"xi_x_{pattern}"] + ref[f"xi_y_{pattern}"]) / L)
    # the points follow the curve (within 4.5 errors, read from the results)
    for r in results:
        e = np.interp(r["T"], Tg, xi)
        xi_r = r["correlation_length"][op]
        assert abs(xi_r["mean"] / L - e) < 4.5 * xi_r["err"] / L + 0.01 * e


def test_xy_and_per_bond_figures(tmp_path, monkeypatch):
    from spinsym.couplings import BondCouplings

    spinsym.simulate("xy", L=6, T=[0.7, 1.4], sweeps=1000, every=2, seed=1).save(
        str(tmp_path / "x.h5"))
    fig, results = draw(tmp_path / "x.h5", tmp_path / "x.png", monkeypatch)
    assert [ax.get_ylabel() for ax in fig.axes if ax.axison][-2:] == [
        "helicity modulus Υ", "correlation length ξ/L of m"]
    T, y = mc_points(panel(fig, "correlation length"))
    assert list(y) == [r["correlation_length"]["m"]["mean"] / 6 for r in results]
    assert y[0] > y[1]  # correlations shrink with temperature
    monkeypatch.undo()
    # per-bond couplings (honeycomb brick wall): exact curves at L = 4, none at L = 8
    for L in (4, 8):
        yy, xx = np.indices((L, L))
        c = BondCouplings(Jx=1.0, Jy=np.where((xx + yy) % 2 == 1, 0.0, 1.0))
        spinsym.simulate("ising", L=L, T=[1.5, 2.5], couplings=c, sweeps=1000, every=2,
                         seed=1).save(str(tmp_path / f"b{L}.h5"))
        fig, _ = draw(tmp_path / f"b{L}.h5", tmp_path / f"b{L}.png", monkeypatch)
        assert fig._suptitle.get_text() == f"ising, L = {L}, per-bond couplings"
        exact_lines = [ln for ax in fig.axes for ln in ax.get_lines()
                       if ln.get_label().startswith("exact")]
        assert len(exact_lines) == (6 if L == 4 else 0)
        monkeypatch.undo()
