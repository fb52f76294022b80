"""Sampler output against Monte Carlo data and exact curves (``spinsym plot compare``)."""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from .observables import _series, draw_references, exact_curves
from .style import SPIN_CMAP, plt, save_figure

_MARKERS = ("s", "^", "D", "v", "P", "X")


def _label(results, path) -> str:
    algos = sorted({r["algorithm"] for r in results})
    return ", ".join(algos) if algos else str(path)


def _exact_at(model, L, couplings, temps) -> dict:
    """Exact energy per site at the given temperatures (Ising, transfer matrix, L ≤ 10)."""
    from .. import exact

    if model != "ising" or L > exact.TRANSFER_MATRIX_MAX_L:
        return {}
    return {float(T): exact.transfer_matrix_ising(L, couplings, float(T)) for T in temps}


def plot_compare(mc_path: str, sample_paths, out: str) -> str:
    """Energy, order parameter, specific heat, Binder cumulant (and helicity for XY) of one or
    more sampler files against the MC file and the exact curve; relative energy errors; a row
    of snapshots per sampler file."""
    from ..analysis import analyze_dataset
    from ..data import read

    if isinstance(sample_paths, str):
        sample_paths = [sample_paths]
    mc = read(mc_path)
    samplers = [read(p) for p in sample_paths]
    for p, ds in zip(sample_paths, samplers):
        if ds.model != mc.model or ds.L != mc.L:
            raise DataError(f"{p} holds {ds.model} L={ds.L}, but {mc_path} holds "
                            f"{mc.model} L={mc.L}: nothing to compare")
    mc_res = analyze_dataset(mc)
    s_res = [analyze_dataset(ds) for ds in samplers]
    model, L = mc.model, mc.L
    couplings = mc.temperatures[0].couplings
    allT = [r["T"] for r in mc_res] + [r["T"] for rs in s_res for r in rs]
    pad = 0.05 * (max(allT) - min(allT) or 1.0)
    exact = exact_curves(model, L, couplings, max(1e-2, min(allT) - pad), max(allT) + pad)

    panels = [("energy_per_site", "energy per site e"), ("abs_m", "⟨|m|⟩"),
              ("specific_heat", "specific heat c"), ("binder", "Binder cumulant U")]
    panels.append(("helicity", "helicity modulus Υ") if model == "xy" else ("m2", "⟨m²⟩"))
    n_snap_rows = len(samplers)
    fig = plt.figure(figsize=(12, 6.6 + 1.7 * n_snap_rows))
    gs = fig.add_gridspec(2 + n_snap_rows, 6, height_ratios=[3, 3] + [1.9] * n_snap_rows)
    axes = [fig.add_subplot(gs[r, 2 * c:2 * c + 2]) for r in range(2) for c in range(3)]
    for ax, (key, label) in zip(axes, panels):
        T, mean, err = _series(mc_res, key)
        ax.errorbar(T, mean, yerr=err, fmt="o", ms=4, color="0.3", mfc="none", capsize=2,
                    label=f"MC ({_label(mc_res, mc_path)})")
        for j, (rs, p) in enumerate(zip(s_res, sample_paths)):
            T, mean, err = _series(rs, key)
            ax.errorbar(T, mean, yerr=err, fmt=_MARKERS[j % len(_MARKERS)], ms=3.5, capsize=2,
                        label=_label(rs, p))
        draw_references(ax, key, exact, L, (min(allT), max(allT)), lw=0.8)
        ax.set_xlabel("T")
        ax.set_ylabel(label)
        ax.legend(fontsize=6.5)

    # relative energy error against the exact value (Ising) or MC at the same T (XY)
    ax = axes[5]
    ex = _exact_at(model, L, couplings, sorted({r["T"] for rs in s_res for r in rs}))
    mc_e = {round(r["T"], 9): r["energy_per_site"] for r in mc_res}
    ref_name = "exact" if ex else "MC"
    for j, (rs, p) in enumerate(zip(s_res, sample_paths)):
        pts = []
        for r in sorted(rs, key=lambda r: r["T"]):
            e = r["energy_per_site"]
            if ex:
                ref, ref_err = ex[float(r["T"])]["energy_per_site"], 0.0
            elif round(r["T"], 9) in mc_e:
                ref, ref_err = mc_e[round(r["T"], 9)]["mean"], mc_e[round(r["T"], 9)]["err"]
            else:
                continue
            rel = 100 * (e["mean"] - ref) / abs(ref)
            rel_err = 100 * np.hypot(e["err"] or 0.0, ref_err or 0.0) / abs(ref)
            pts.append((r["T"], rel, rel_err))
        if pts:
            t, y, yerr = map(np.array, zip(*pts))
            ax.errorbar(t, y, yerr=yerr, fmt=_MARKERS[j % len(_MARKERS)] + "-", ms=3.5,
                        capsize=2, lw=0.8, label=_label(rs, p))
    band = 1.5 if model == "ising" else 2.0
    ax.axhspan(-band, band, color="0.85", zorder=0, label=f"±{band:g} %")
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xlabel("T")
    ax.set_ylabel(f"energy error vs {ref_name} (%)")
    ax.legend(fontsize=6.5)

    # snapshots: 3 temperatures × 2 samples per sampler file
    for row, (ds, p) in enumerate(zip(samplers, sample_paths)):
        groups = sorted(ds.temperatures, key=lambda g: g.T)
        pick = [groups[i] for i in sorted({0, len(groups) // 2, len(groups) - 1})]
        col = 0
        for g in pick:
            k = g.n_samples
            configs = g.configs(slice(max(0, k - 2), k))
            for c in configs:
                ax = fig.add_subplot(gs[2 + row, col])
                col += 1
                if model == "ising":
                    ax.imshow(c, cmap=SPIN_CMAP, vmin=-1, vmax=1, interpolation="nearest")
                else:
                    ax.imshow(c, cmap="hsv", vmin=0, vmax=2 * np.pi, interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                ax.grid(False)
                ax.set_title(f"T = {g.T:.3g}", fontsize=7)
                if col == 1:
                    ax.set_ylabel(str(g.attrs.get("algorithm", p)), fontsize=7)
    c = couplings
    fig.suptitle(f"sampler vs Monte Carlo: {model}, L = {L}, Jx = {c.Jx:g}, Jy = {c.Jy:g}, "
                 f"J2 = {c.J2:g}, h = {c.h:g}")
    fig.tight_layout()
    return save_figure(fig, out)
