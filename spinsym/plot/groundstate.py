"""Ground-state figures: predicted vs exact phase diagram, and predicted configurations."""

from __future__ import annotations

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

from .style import SPIN_CMAP, plt, save_figure

PHASE_COLORS = {"ferro": "#d9a441", "neel": "#3b6ea8", "stripe": "#5aa469", "m1/2": "#b55d9c",
                "other": "#8c8c8c"}

# representative Hamiltonians for the configuration panel (Jx, Jy, J2, h)
EXAMPLES = [
    ("ferro, h = 0", (1.0, 1.0, 0.0, 0.0)),
    ("Néel", (-1.0, -1.0, 0.2, 0.0)),
    ("stripe (JxJy < 0)", (1.0, -2.0, 0.0, 0.5)),
    ("stripe (J2 < 0)", (0.5, 0.5, -1.0, 0.0)),
    ("m = ½", (-1.0, -1.0, -0.5, 2.5)),
]


def _phase_grid(labels, n):
    from ..tasks.groundstate import PHASES

    idx = np.array([PHASES.index(p) for p in labels]).reshape(n, n)
    return idx


def phase_diagram(ckpt: str, out: str, *, baseline: str | None = None, Jx: float = 1.0,
                  J2: float = 0.0, jy=(-3.0, 3.0), h=(-3.0, 3.0), n: int = 31, L: int = 8,
                  seed: int = 0, log=None) -> str:
    """``log(line)``: called once per stage (the whole figure takes seconds to tens of)."""
    import time

    from ..tasks.groundstate import PHASES, classify, exact_reference, load_checkpoint, predict

    t0 = time.perf_counter()

    def stage(text):
        if log is not None:
            log(f"[{time.perf_counter() - t0:5.1f} s] {text}")

    stage(f"loading {ckpt}" + (f" and {baseline}" if baseline else ""))
    model, meta = load_checkpoint(ckpt)
    models = [(meta["arch"], model)]
    if baseline:
        bmodel, bmeta = load_checkpoint(baseline)
        models.append((bmeta["arch"], bmodel))
    jys = np.linspace(jy[0], jy[1], n)
    hs = np.linspace(h[0], h[1], n)
    HH, JY = np.meshgrid(hs, jys, indexing="ij")  # rows: h, columns: Jy
    P = np.stack([np.full(n * n, Jx), JY.ravel(), np.full(n * n, J2), HH.ravel()], 1)
    stage(f"predicting {n} x {n} Hamiltonians at L={L}")
    pred = predict(model, P, L, samples=1, seed=seed)["spins"][:, 0]
    pred_phase = _phase_grid(classify(pred), n)
    stage("exact phases")
    exact_phase = _phase_grid(exact_reference(P)["phase"], n)
    stage("example configurations")

    ex_params = np.array([p for _, p in EXAMPLES])
    ex_rows = []
    for name, m in models:
        k = 2 if name in ("sympe", "noise") else 1
        s = predict(m, ex_params, L, samples=k, seed=seed)["spins"]
        for j in range(k):
            ex_rows.append((f"{name}" + (f" #{j + 1}" if k > 1 else ""), s[:, j]))

    ncol = len(EXAMPLES)
    fig = plt.figure(figsize=(2.1 * ncol, 4.2 + 1.9 * len(ex_rows)))
    gs = fig.add_gridspec(1 + len(ex_rows), ncol, height_ratios=[4.0] + [1.6] * len(ex_rows),
                          hspace=0.5)
    cmap = ListedColormap([PHASE_COLORS[p] for p in PHASES])
    extent = (jys[0], jys[-1], hs[0], hs[-1])
    half = ncol // 2
    for k, (grid, title) in enumerate(((pred_phase, f"predicted ({meta['arch']}, L={L})"),
                                       (exact_phase, "exact (4×4-periodic minimum)"))):
        ax = fig.add_subplot(gs[0, k * half:(k + 1) * half] if k == 0 else gs[0, half:2 * half])
        ax.imshow(grid, origin="lower", extent=extent, aspect="auto", cmap=cmap,
                  vmin=-0.5, vmax=len(PHASES) - 0.5, interpolation="nearest")
        ax.set_xlabel("Jy")
        ax.set_ylabel("h")
        ax.set_title(title)
        ax.grid(False)
    agree = float((pred_phase == exact_phase).mean())
    lax = fig.add_subplot(gs[0, 2 * half:])
    lax.axis("off")
    lax.legend(handles=[Patch(color=PHASE_COLORS[p], label=p) for p in PHASES], loc="center",
               title=f"Jx = {Jx:g}, J2 = {J2:g}\nagreement {agree:.1%}")
    for r, (name, spins) in enumerate(ex_rows):
        for c in range(ncol):
            ax = fig.add_subplot(gs[1 + r, c])
            ax.imshow(spins[c], cmap=SPIN_CMAP, vmin=-1, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            if r == 0:
                ax.set_title(EXAMPLES[c][0] + "\n" + "(%g, %g, %g, %g)" % EXAMPLES[c][1],
                             fontsize=7)
            if c == 0:
                ax.set_ylabel(name)
    fig.suptitle("Ising ground states: (Jx, Jy, J2, h)")
    stage("drawing")
    return save_figure(fig, out)
