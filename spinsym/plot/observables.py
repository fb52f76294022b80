"""Order parameters and thermodynamics versus temperature, with exact curves; snapshots."""

from __future__ import annotations

import numpy as np

from .style import SPIN_CMAP, plt, save_figure

# exact curves are drawn on this many temperatures
_GRID = 40
#: snapshots per temperature in a panel (a larger panel is unreadable and slow to draw)
MAX_SNAPSHOTS_PER_T = 12


def check_per_temperature(n) -> int:
    """--per-T: an integer in 1..MAX_SNAPSHOTS_PER_T."""
    from ..validate import positive_int
    return positive_int(n, "--per-T", maximum=MAX_SNAPSHOTS_PER_T)


def _series(results, key):
    T = np.array([r["T"] for r in results])
    mean = np.array([r[key]["mean"] for r in results], dtype=float)  # None (NaN) -> nan
    err = np.array([r[key]["err"] for r in results], dtype=float)
    order = np.argsort(T)
    return T[order], mean[order], err[order]


def xi_over_L(results, op: str):
    """(T, ξ/L, error) sorted by T: the second-moment correlation length of order parameter
    ``op`` ('m', 'staggered' or 'stripe'; ``correlation_length`` of the analyze results)
    divided by L; NaN where ξ is undefined."""
    T = np.array([r["T"] for r in results])
    L = np.array([r["L"] for r in results], dtype=float)
    xi = [r.get("correlation_length", {}).get(op) or {} for r in results]
    mean = np.array([x.get("mean") for x in xi], dtype=float) / L
    err = np.array([x.get("err") for x in xi], dtype=float) / L
    order = np.argsort(T)
    return T[order], mean[order], err[order]


def order_parameter(results) -> str:
    """The order parameter to show: 'm', 'staggered' or 'stripe', whichever has the largest
    ⟨·²⟩ at the lowest temperature (always 'm' for XY)."""
    if "helicity" in results[0]:
        return "m"
    low = min(results, key=lambda r: r["T"])
    return max(("m", "staggered", "stripe"),
               key=lambda o: low["m2" if o == "m" else f"{o}_m2"]["mean"] or 0.0)


_OP_LABEL = {"m": "|m|", "staggered": "|m_s| (Néel)", "stripe": "|m_stripe|"}
_OP_NAME = {"m": "m", "staggered": "m_s", "stripe": "m_stripe"}


#: up to this L the exact curves come from the per-bond transfer matrix (any couplings; it
#: also gives ξ), which takes about a second per temperature at L = 8
_BONDS_MAX_L = 6
#: the sign pattern of ``correlation[...]["pattern"]`` -> its name in spinsym.exact
_EXACT_PATTERN = {"1": "ferro", "(-1)^(x+y)": "staggered", "(-1)^x": "stripe_x",
                  "(-1)^y": "stripe_y"}


def exact_curves(model, L, couplings, T_min, T_max, pattern: str = "1") -> dict:
    """Exact finite-lattice curves where we have them: Ising per-bond transfer matrix (any
    couplings, L ≤ 6, with ``xi_over_L``: the second-moment ξ/L of the order parameter with
    sign pattern ``pattern``, ``correlation[op]["pattern"]`` of the analyze results), transfer
    matrix (homogeneous, L ≤ 8), Kaufman (isotropic zero-field Ising, any even L); XY:
    spin-wave and high-temperature limits."""
    from .. import exact
    from ..couplings import BondCouplings

    grid = np.linspace(T_min, T_max, _GRID)
    c = couplings
    keys = ("energy_per_site", "specific_heat", "abs_m", "m2", "binder", "susceptibility")
    if model == "ising" and L <= _BONDS_MAX_L:
        rows = [exact.transfer_matrix_bonds(L, c, T) for T in grid]
        name = _EXACT_PATTERN.get(pattern, "ferro")
        xi = np.array([0.5 * (r[f"xi_x_{name}"] + r[f"xi_y_{name}"]) for r in rows])
        return {"source": "transfer matrix", "T": grid, "xi_over_L": xi / L,
                **{k: np.array([r[k] for r in rows]) for k in keys if k in rows[0]}}
    if isinstance(c, BondCouplings):
        return {}
    if model == "ising":
        if L <= 8:
            rows = [exact.transfer_matrix_ising(L, c, T) for T in grid]
            return {"source": "transfer matrix", "T": grid,
                    **{k: np.array([r[k] for r in rows]) for k in
                       ("energy_per_site", "specific_heat", "abs_m", "m2", "binder",
                        "susceptibility") if k in rows[0]}}
        if c.Jx == c.Jy and c.J2 == 0 and c.h == 0 and c.Jx > 0 and L % 2 == 0:
            rows = [exact.kaufman_ising(L, T, c.Jx) for T in grid]
            return {"source": "Kaufman", "T": grid,
                    "energy_per_site": np.array([r["energy_per_site"] for r in rows]),
                    "specific_heat": np.array([r["specific_heat"] for r in rows])}
        return {}
    if c.Jx == c.Jy == 1 and c.J2 == 0 and c.h == 0:
        low = grid[grid <= 0.6]
        high = grid[grid >= 1.5]
        return {"source": "limits", "xy_low": (low, [exact.xy_energy_low_T(T) for T in low]),
                "xy_high": (high, [exact.xy_energy_high_T(T) for T in high])}
    return {}


def draw_references(ax, key: str, exact: dict, L: int, T_range: tuple, lw: float = 1.0):
    """Overlay on panel ``key`` what :func:`exact_curves` found, and the 2T/π line on Υ."""
    if exact.get("source") in ("transfer matrix", "Kaufman") and key in exact:
        ax.plot(exact["T"], exact[key], "k-", lw=lw, label=f"exact ({exact['source']}, L={L})")
    if key == "energy_per_site" and "xy_low" in exact:
        ax.plot(*exact["xy_low"], "k--", lw=lw, label="spin waves −2+T/2")
        ax.plot(*exact["xy_high"], "k:", lw=lw, label="high T −2I₁/I₀")
    if key == "helicity":
        grid = np.linspace(T_range[0], T_range[1], 50)
        ax.plot(grid, 2 * grid / np.pi, "k:", lw=lw, label="2T/π (BKT jump)")


def plot_observables(dataset, results, out: str) -> str:
    """Energy, order parameter, specific heat, susceptibility, Binder cumulant (XY: and the
    helicity modulus) and the correlation length ξ/L versus T."""
    from ..couplings import BondCouplings

    model, L = dataset.model, dataset.L
    couplings = dataset.temperatures[0].couplings
    per_bond = isinstance(couplings, BondCouplings)
    Ts = [r["T"] for r in results]
    pad = 0.05 * (max(Ts) - min(Ts) or 1.0)
    op = order_parameter(results)
    pattern = min(results, key=lambda r: r["T"]).get("correlation", {}).get(op, {}).get("pattern")
    exact = exact_curves(model, L, couplings, max(1e-2, min(Ts) - pad), max(Ts) + pad,
                         pattern or "1")
    prefix = "" if op == "m" else f"{op}_"
    panels = [("energy_per_site", "energy per site e"),
              ("abs_m" if op == "m" else f"{op}_abs", _OP_LABEL[op]),
              ("specific_heat", "specific heat c"),
              (f"{prefix}susceptibility", f"susceptibility χ of {_OP_LABEL[op]}"),
              (f"{prefix}binder", f"Binder cumulant of {_OP_LABEL[op]}")]
    if model == "xy":
        panels.append(("helicity", "helicity modulus Υ"))
    panels.append(("xi_over_L", f"correlation length ξ/L of {_OP_NAME[op]}"))
    cols = 3 if len(panels) <= 6 else 4
    fig, axes = plt.subplots(2, cols, figsize=(11 * cols / 3, 6.2))
    axes = axes.ravel()
    algos = sorted({r["algorithm"] for r in results})
    for ax, (key, label) in zip(axes, panels):
        T, mean, err = xi_over_L(results, op) if key == "xi_over_L" else _series(results, key)
        ax.errorbar(T, mean, yerr=err, fmt="o", ms=3.5, capsize=2, label=f"MC ({', '.join(algos)})")
        draw_references(ax, key, exact, L, (min(T), max(T)))
        if model == "ising" and not per_bond and couplings.Jx == couplings.Jy > 0 \
                and couplings.J2 == 0 and couplings.h == 0:
            from ..exact import ONSAGER_TC
            ax.axvline(ONSAGER_TC * couplings.Jx, color="0.6", lw=0.8, ls="--")
        ax.set_xlabel("T")
        ax.set_ylabel(label)
        ax.legend(fontsize=7)
    for ax in axes[len(panels):]:
        ax.axis("off")
    c = couplings
    fig.suptitle(f"{model}, L = {L}, per-bond couplings" if per_bond else
                 f"{model}, L = {L}, Jx = {c.Jx:g}, Jy = {c.Jy:g}, J2 = {c.J2:g}, h = {c.h:g}")
    fig.tight_layout()
    return save_figure(fig, out)


def plot_snapshots(dataset, out: str, per_temperature: int = 3) -> str:
    """The last ``per_temperature`` configurations of each temperature (rows: temperatures)."""
    groups = sorted(dataset.temperatures, key=lambda g: g.T)
    if len(groups) > 8:  # keep the panel readable: evenly spaced temperatures
        groups = [groups[i] for i in np.linspace(0, len(groups) - 1, 8).round().astype(int)]
    n = check_per_temperature(per_temperature)
    fig, axes = plt.subplots(len(groups), n, figsize=(1.8 * n + 0.6, 1.8 * len(groups)),
                             squeeze=False)
    for row, g in zip(axes, groups):
        k = g.n_samples
        configs = g.configs(slice(max(0, k - n), k))
        for j, ax in enumerate(row):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            for spine in ax.spines.values():
                spine.set_visible(True)
            if j >= len(configs):
                ax.axis("off")
                continue
            if dataset.model == "ising":
                ax.imshow(configs[j], cmap=SPIN_CMAP, vmin=-1, vmax=1, interpolation="nearest")
            else:
                ax.imshow(configs[j], cmap="hsv", vmin=0, vmax=2 * np.pi,
                          interpolation="nearest")
            if j == 0:
                ax.set_ylabel(f"T = {g.T:.3g}")
    fig.suptitle(f"{dataset.model} snapshots, L = {dataset.L}"
                 + (" (colour: angle)" if dataset.model == "xy" else " (red +1, blue −1)"))
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return save_figure(fig, out)
