"""Figures from a sweep directory: Binder-cumulant crossing, and the (Jy/Jx, T) phase diagram.

Both read the finished jobs with :func:`spinsym.sweep.load_sweep` (observables from
:func:`spinsym.analysis.analyze_file`, computed by the workers and kept in the index).
"""

from __future__ import annotations

import math
import os
from collections import defaultdict

import numpy as np

from ..errors import ParameterError
from .style import save_figure, plt

#: bootstrap resamples for the crossing errors
N_BOOT = 2000
_ORDER_KEYS = {"m": ("abs_m", "binder", "|m|", "U"),
               "staggered": ("staggered_abs", "staggered_binder", "|m_s|", "U_s"),
               "stripe": ("stripe_abs", "stripe_binder", "|m_stripe|", "U_stripe")}


def _mean_err(values):
    """Inverse-variance mean of replica (mean, err) pairs (plain mean if an error is 0)."""
    vals = [(v["mean"], v["err"]) for v in values if v and v.get("mean") is not None]
    if not vals:
        return float("nan"), float("nan")
    m = np.array([a for a, _ in vals], dtype=float)
    e = np.array([b if b is not None else np.nan for _, b in vals], dtype=float)
    if len(vals) == 1:
        return float(m[0]), float(e[0])
    if np.all(np.isfinite(e)) and np.all(e > 0):
        w = 1.0 / e**2
        return float((w * m).sum() / w.sum()), float(1.0 / math.sqrt(w.sum()))
    return float(m.mean()), float(m.std(ddof=1) / math.sqrt(len(m)))


def _one_value(rows, key, what):
    values = sorted({r[key] for r in rows})
    if len(values) != 1:
        raise ParameterError(f"{what} needs a single {key}; the sweep has {key} = "
                             f"{', '.join(_fmt(v) for v in values)}")
    return values[0]


def _fmt(value) -> str:
    """Numbers as %g, anything else (a model name) as it is: this is an error path."""
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def _default_order(rows) -> str:
    """'m', 'staggered' or 'stripe': the largest order parameter at the lowest temperature."""
    low = min(r["T"] for r in rows)
    obs = [r["observables"] for r in rows if r["T"] == low]
    best, value = "m", -1.0
    for name, (key, *_rest) in _ORDER_KEYS.items():
        v = np.nanmean([o[key]["mean"] if o.get(key) and o[key]["mean"] is not None else np.nan
                        for o in obs])
        if np.isfinite(v) and v > value:
            best, value = name, v
    return best


# --------------------------------------------------------------------------- Binder crossing


def _curves(rows, value) -> dict:
    """{L: (T, mean, err)} sorted by T, replicas combined, of ``value(observables)`` (a
    {"mean", "err"} dict or None)."""
    by = defaultdict(list)
    for r in rows:
        by[(r["L"], r["T"])].append(value(r["observables"]))
    curves = {}
    for L in sorted({L for L, _ in by}):
        Ts = sorted(T for (LL, T) in by if LL == L)
        stats = [_mean_err(by[(L, T)]) for T in Ts]
        curves[L] = (np.array(Ts), np.array([s[0] for s in stats]),
                     np.array([s[1] for s in stats]))
    return curves


def binder_curves(rows, order: str = "m") -> dict:
    """{L: (T, U, dU)} sorted by T, replicas combined."""
    key = _ORDER_KEYS[order][1]
    return _curves(rows, lambda obs: obs.get(key))


def _scaled(v, L):
    if not v or v.get("mean") is None or v.get("err") is None:
        return None
    return {"mean": v["mean"] / L, "err": v["err"] / L}


def xi_curves(rows, order: str = "m") -> dict:
    """{L: (T, ξ/L, d(ξ/L))} sorted by T, replicas combined: the second-moment correlation
    length of the order parameter (``correlation_length`` of the analyze results) over L.
    Temperatures where ξ is undefined (S(0) < S(k_min)) are left out."""
    curves = {}
    for L in sorted({r["L"] for r in rows}):
        T, xi, err = _curves([r for r in rows if r["L"] == L], lambda obs: _scaled(
            (obs.get("correlation_length") or {}).get(order), L))[L]
        ok = np.isfinite(xi) & np.isfinite(err)
        curves[L] = (T[ok], xi[ok], err[ok])
    return curves


def _with_correlation_lengths(rows) -> list:
    """Rows whose observables lack ``correlation_length`` (an index written before it was
    recorded) get it from their file (:func:`spinsym.analysis.analyze_file`)."""
    from ..analysis import analyze_file

    out = []
    for r in rows:
        if "correlation_length" not in r["observables"]:
            (res,) = analyze_file(r["file"])
            r = {**r, "observables": {**r["observables"],
                                      "correlation_length": res.get("correlation_length", {})}}
        out.append(r)
    return out


def _crude_crossing(Ta, Ua, Tb, Ub):
    """Where Ua − Ub changes sign (linear interpolation on the common range), or None."""
    lo, hi = max(Ta[0], Tb[0]), min(Ta[-1], Tb[-1])
    grid = np.union1d(Ta, Tb)
    grid = grid[(grid >= lo) & (grid <= hi)]
    if grid.size < 2:
        return None
    d = np.interp(grid, Ta, Ua) - np.interp(grid, Tb, Ub)
    ok = np.isfinite(d)
    grid, d = grid[ok], d[ok]
    signs = np.flatnonzero(np.sign(d[:-1]) * np.sign(d[1:]) <= 0)
    if signs.size == 0:
        return None
    # several sign changes (noise far from the crossing): take the one with the steepest slope
    i = max(signs, key=lambda k: abs(d[k + 1] - d[k]))
    if d[i + 1] == d[i]:
        return float(grid[i])
    return float(grid[i] - d[i] * (grid[i + 1] - grid[i]) / (d[i + 1] - d[i]))


def _local_fit_root(Ta, Ua, wa, Tb, Ub, wb, T0, half_width):
    """Root near T0 of the difference of weighted local quadratic fits of the two curves."""
    fits = []
    for T, U, w in ((Ta, Ua, wa), (Tb, Ub, wb)):
        sel = np.abs(T - T0) <= half_width
        deg = min(2, int(sel.sum()) - 1)
        if deg < 1:
            return None
        fits.append(np.polyfit(T[sel] - T0, U[sel], deg, w=w[sel]))
    diff = np.polysub(fits[0], fits[1])
    roots = np.roots(diff) if np.any(diff[:-1]) else np.array([])
    roots = roots[np.isreal(roots)].real
    roots = roots[np.abs(roots) <= half_width]
    if roots.size == 0:
        return None
    return float(T0 + roots[np.argmin(np.abs(roots))])


def binder_crossing(curve_a, curve_b, n_boot: int = N_BOOT, seed: int = 0):
    """Crossing temperature of two Binder curves ± its bootstrap error, or None.

    Each curve is fitted by a weighted quadratic on the points within 2.5 grid spacings of the
    crude (linear) crossing; the crossing is the root of the difference of the fits.  The error
    is the standard deviation over parametric bootstrap resamples of every point within its
    error bar (points at different temperatures are independent jobs, hence independent)."""
    (Ta, Ua, Ea), (Tb, Ub, Eb) = curve_a, curve_b
    T0 = _crude_crossing(Ta, Ua, Tb, Ub)
    if T0 is None:
        return None
    spacing = np.median(np.diff(np.union1d(Ta, Tb)))
    half = 2.5 * spacing
    floor = 1e-12
    wa, wb = 1.0 / np.maximum(Ea, floor), 1.0 / np.maximum(Eb, floor)
    est = _local_fit_root(Ta, Ua, wa, Tb, Ub, wb, T0, half)
    if est is None:
        return None
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        ua = Ua + rng.standard_normal(Ua.shape) * Ea
        ub = Ub + rng.standard_normal(Ub.shape) * Eb
        r = _local_fit_root(Ta, ua, wa, Tb, ub, wb, T0, half)
        if r is not None:
            boots.append(r)
    if len(boots) < n_boot // 2:
        return {"T": est, "err": float("nan"), "U": float(np.interp(est, Ta, Ua))}
    return {"T": est, "err": float(np.std(boots, ddof=1)), "U": float(np.interp(est, Ta, Ua))}


def binder_analysis(rows, order: str | None = None) -> dict:
    """Curves, pairwise crossings of consecutive sizes, and the exact Tc where known."""
    from ..exact import critical_temperature

    model = _one_value(rows, "model", "the Binder plot")
    Jx, Jy, J2, h = (_one_value(rows, k, "the Binder plot") for k in ("Jx", "Jy", "J2", "h"))
    order = order or ("m" if model == "xy" else _default_order(rows))
    if order not in _ORDER_KEYS:
        raise ParameterError(f"unknown order parameter {order!r}; choose one of "
                             f"{', '.join(_ORDER_KEYS)}")
    curves = binder_curves(rows, order)
    if len(curves) < 2:
        raise ParameterError(f"a Binder crossing needs at least two sizes L; the sweep has "
                             f"L = {', '.join(map(str, curves))}")
    crossings = _pair_crossings(curves, "U")
    xi = xi_curves(_with_correlation_lengths(rows), order)
    xi_crossings = _pair_crossings(xi, "xi_over_L")
    Tc = None
    if model == "ising" and J2 == 0 and h == 0 and Jx != 0 and Jy != 0:
        Tc = critical_temperature(Jx, Jy)
    best = next((c for c in reversed(crossings) if c["T"] is not None), None)
    xi_best = next((c for c in reversed(xi_crossings) if c["T"] is not None), None)
    return {"model": model, "couplings": {"Jx": Jx, "Jy": Jy, "J2": J2, "h": h},
            "order": order, "curves": curves, "crossings": crossings, "best": best, "Tc": Tc,
            "xi_curves": xi, "xi_crossings": xi_crossings, "xi_best": xi_best}


def _pair_crossings(curves: dict, value: str) -> list:
    """Crossings of the curves of consecutive sizes (:func:`binder_crossing`), the crossing's
    curve value under ``value``; T, err and the value are None where there is none."""
    sizes = sorted(curves)
    out = []
    for La, Lb in zip(sizes[:-1], sizes[1:]):
        c = None
        if curves[La][0].size >= 2 and curves[Lb][0].size >= 2:
            c = binder_crossing(curves[La], curves[Lb])
        c = c or {"T": None, "err": None, "U": None}
        out.append({"L": (La, Lb), "T": c["T"], "err": c["err"], value: c["U"]})
    return out


def format_binder(result: dict) -> str:
    """The Binder crossings and their distance from the exact Tc where known, then the same
    for the ξ/L crossings (lines starting with ``xi/L``)."""
    lines = []
    Tc = result["Tc"]
    for what, key, crossings, best in (
            ("", "U", result["crossings"], result["best"]),
            ("xi/L ", "xi_over_L", result.get("xi_crossings", []), result.get("xi_best"))):
        for c in crossings:
            La, Lb = c["L"]
            if c["T"] is None:
                lines.append(f"{what}L={La}/{Lb}: no crossing in the scanned range")
            else:
                lines.append(f"{what}L={La}/{Lb}: crossing T = {c['T']:.5f} ± {c['err']:.5f} "
                             f"({what or 'U '}= {c[key]:.3f})")
        if Tc is not None and (key == "U" or best is not None):
            text = f"{what}exact Tc = {Tc:.5f}"
            if best is not None and best["err"] and math.isfinite(best["err"]):
                z = (best["T"] - Tc) / best["err"]
                La, Lb = best["L"]
                text += (f"; largest-pair crossing (L={La}/{Lb}) {best['T']:.5f} ± "
                         f"{best['err']:.5f} is {best['T'] - Tc:+.5f} = {z:+.2f} sigma from it")
            lines.append(text)
    return "\n".join(lines)


def _crossing_panels(axes, curves, crossings, best, Tc, key, ylabel):
    """One quantity versus T for every L (left) and zoomed on the largest pair's crossing
    (right), with the crossings of consecutive sizes and the exact Tc."""
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, zoom in zip(axes, (False, True)):
        for k, (L, (T, U, E)) in enumerate(sorted(curves.items())):
            ax.errorbar(T, U, yerr=E, fmt="o-", ms=3, lw=1, capsize=2,
                        color=colors[k % len(colors)], label=f"L = {L}")
        if Tc is not None:
            ax.axvline(Tc, color="k", ls="--", lw=1, label=f"exact Tc = {Tc:.4f}")
        for c in crossings:
            if c["T"] is None:
                continue
            La, Lb = c["L"]
            is_best = c is best
            ax.errorbar([c["T"]], [c[key]], xerr=[c["err"]], fmt="D" if is_best else "s",
                        color="crimson" if is_best else "gray", ms=6 if is_best else 4,
                        capsize=3, zorder=5,
                        label=f"crossing {La}/{Lb}: {c['T']:.4f} ± {c['err']:.4f}")
        ax.set_xlabel("T")
        ax.set_ylabel(ylabel)
    centre = best["T"] if best else (Tc or None)
    T_all = np.concatenate([c[0] for c in curves.values()])
    if centre is not None and T_all.size:
        spacing = np.median(np.diff(np.unique(T_all))) if np.unique(T_all).size > 1 else 0.05
        half = max(3 * spacing, 4 * (best["err"] if best and best["err"] else 0))
        axes[1].set_xlim(centre - half, centre + half)
        sel = [(c[1][np.abs(c[0] - centre) <= half]) for c in curves.values()]
        vals = np.concatenate(sel) if sel else np.array([])
        vals = vals[np.isfinite(vals)]
        if vals.size:
            pad = 0.1 * (vals.max() - vals.min() + 1e-3)
            axes[1].set_ylim(vals.min() - pad, vals.max() + pad)
        axes[1].set_title("zoom on the crossing")
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=7)


def plot_binder(out_dir: str, out: str, order: str | None = None) -> dict:
    """U(T) (top) and the second-moment ξ/L (bottom) with error bars for every L, each in full
    and zoomed on its crossing, the crossings marked, exact Tc dashed; returns
    :func:`binder_analysis`'s result (with ``path``)."""
    from ..sweep import load_sweep

    result = binder_analysis(load_sweep(out_dir), order)
    _, _, name, ulabel = _ORDER_KEYS[result["order"]]
    fig, axes = plt.subplots(2, 2, figsize=(10, 8))
    _crossing_panels(axes[0], result["curves"], result["crossings"], result["best"],
                     result["Tc"], "U", f"Binder cumulant {ulabel}")
    _crossing_panels(axes[1], result["xi_curves"], result["xi_crossings"], result["xi_best"],
                     result["Tc"], "xi_over_L", f"ξ/L of {name.strip('|')} (second moment)")
    c = result["couplings"]
    axes[0][0].set_title(f"{result['model']} Jx={c['Jx']:g} Jy={c['Jy']:g} J2={c['J2']:g} "
                         f"h={c['h']:g}: Binder cumulant of {name}", fontsize=9)
    axes[1][0].set_title(f"second-moment correlation length ξ/L of {name.strip('|')}",
                         fontsize=9)
    fig.tight_layout()
    result["path"] = save_figure(fig, out)
    return result


# --------------------------------------------------------------------------- phase diagram


def phase_diagram_grid(rows, L: int | None = None) -> dict:
    """Order parameter on the (Jy/Jx, T) grid: ⟨|m|⟩ where Jy/Jx ≥ 0 (ferro side), the stripe
    ⟨|m_stripe|⟩ where Jy/Jx < 0 (for Jx > 0 the ordered state there alternates along y)."""
    models = {r["model"] for r in rows}
    if models != {"ising"}:
        raise ParameterError(f"the sweep phase diagram is for the ising model, got "
                             f"{', '.join(sorted(models))}")
    sizes = sorted({r["L"] for r in rows})
    if L is None:
        L = sizes[-1]
    elif L not in sizes:
        raise ParameterError(f"the sweep has no jobs with L = {L} (it has {sizes})")
    rows = [r for r in rows if r["L"] == L]
    Jx = _one_value(rows, "Jx", "the phase diagram")
    J2 = _one_value(rows, "J2", "the phase diagram")
    h = _one_value(rows, "h", "the phase diagram")
    if Jx == 0:
        raise ParameterError("the phase diagram is drawn against Jy/Jx: Jx must not be 0")
    ratios = sorted({r["Jy"] / Jx for r in rows})
    temps = sorted({r["T"] for r in rows})
    if len(ratios) < 2 or len(temps) < 2:
        raise ParameterError(f"the phase diagram needs several Jy and T values; the sweep has "
                             f"{len(ratios)} Jy and {len(temps)} T at L = {L}")
    by = defaultdict(list)
    for r in rows:
        by[(r["Jy"] / Jx, r["T"])].append(r)
    grid = np.full((len(temps), len(ratios)), np.nan)
    # Jx > 0: ferro for Jy > 0, stripes alternating along y for Jy < 0.  Jx < 0: Néel for
    # Jy < 0 (q > 0), stripes alternating along x for Jy > 0 (q < 0).
    same_sign = "abs_m" if Jx > 0 else "staggered_abs"
    for i, T in enumerate(temps):
        for j, q in enumerate(ratios):
            cell = by.get((q, T))
            if not cell:
                continue
            key = same_sign if q >= 0 else "stripe_abs"
            grid[i, j] = _mean_err([r["observables"].get(key) for r in cell])[0]
    return {"L": L, "Jx": Jx, "J2": J2, "h": h, "ratios": np.array(ratios),
            "T": np.array(temps), "order": grid}


def exact_critical_line(Jx: float, ratios) -> np.ndarray:
    """T_c(Jy = q·Jx) from sinh(2|Jx|/T)·sinh(2|Jy|/T) = 1 (0 at q = 0)."""
    from ..exact import critical_temperature

    return np.array([critical_temperature(Jx, q * Jx) for q in ratios])


def plot_sweep_phase_diagram(out_dir: str, out: str, L: int | None = None) -> str:
    """The finite-temperature phase diagram of a sweep over Jy (Jx fixed) and T: the order
    parameter as colour, the exact critical line overlaid on the ferro (Jy > 0) and stripe
    (Jy < 0) sides.  Returns a one-line summary (including the PNG path)."""
    from ..sweep import load_sweep

    g = phase_diagram_grid(load_sweep(out_dir), L)
    fig, ax = plt.subplots(figsize=(7, 4.6))
    mesh = ax.pcolormesh(g["ratios"], g["T"], g["order"], shading="nearest", cmap="viridis",
                         vmin=0.0, vmax=1.0)
    cb = fig.colorbar(mesh, ax=ax)
    same = "⟨|m|⟩" if g["Jx"] > 0 else "⟨|m_s|⟩"
    cb.set_label(f"order parameter: {same} (Jy/Jx > 0), ⟨|m_stripe|⟩ (Jy/Jx < 0)")
    exact = g["J2"] == 0 and g["h"] == 0
    if exact:
        near0 = np.geomspace(1e-6, 0.05, 60)  # T_c ~ 2|Jx|/ln(1/q) falls to 0 only slowly
        q = np.union1d(np.linspace(g["ratios"][0], g["ratios"][-1], 401),
                       np.concatenate([-near0, near0]))
        q = q[(q >= g["ratios"][0]) & (q <= g["ratios"][-1])]
        Tc = exact_critical_line(g["Jx"], q)
        for side in (q < 0, q > 0):
            ax.plot(q[side], Tc[side], color="white", lw=2.2)
            ax.plot(q[side], Tc[side], color="crimson", lw=1.2, ls="--")
        ax.plot([], [], color="crimson", ls="--",
                label="exact: sinh(2|Jx|/T)·sinh(2|Jy|/T) = 1")
        ax.legend(loc="upper center", fontsize=8, framealpha=0.85)
    T_top = g["T"][-1]
    ax.set_ylim(g["T"][0] - 0.5 * (g["T"][1] - g["T"][0]),
                g["T"][-1] + 0.5 * (g["T"][-1] - g["T"][-2]))
    lo, hi = g["ratios"][0], g["ratios"][-1]
    if lo < 0:
        ax.text(0.5 * lo, 0.25 * T_top, "stripe", color="white", ha="center", fontsize=11)
    if hi > 0:
        ax.text(0.5 * hi, 0.25 * T_top, "ferro" if g["Jx"] > 0 else "Néel", color="white",
                ha="center", fontsize=11)
    ax.text(0.0, 0.85 * T_top, "paramagnet", color="white", ha="center", fontsize=10)
    ax.set_xlabel("Jy / Jx")
    ax.set_ylabel("T / |Jx|" if abs(g["Jx"]) == 1 else "T")
    ax.set_title(f"anisotropic Ising, L = {g['L']}, Jx = {g['Jx']:g}"
                 + (f", J2 = {g['J2']:g}, h = {g['h']:g} (no exact line)" if not exact else ""))
    ax.grid(False)
    path = save_figure(fig, out)
    n = int(np.isfinite(g["order"]).sum())
    return (f"wrote {path}: L = {g['L']}, {len(g['ratios'])} Jy/Jx × {len(g['T'])} T "
            f"({n} points)")


def check_sweep_dir(path: str) -> str:
    """A sweep directory, or a ParameterError saying what was expected."""
    if not os.path.isdir(path):
        raise ParameterError(f"expected a sweep directory (from spinsym sweep), got {path}")
    return path


__all__ = ["binder_analysis", "binder_crossing", "binder_curves", "xi_curves", "format_binder",
           "plot_binder",
           "phase_diagram_grid", "exact_critical_line", "plot_sweep_phase_diagram",
           "check_sweep_dir"]
