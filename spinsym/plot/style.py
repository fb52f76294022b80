"""Shared matplotlib setup: Agg backend, consistent look, atomic PNG saving."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..fileio import atomic_path  # noqa: E402

SPIN_CMAP = "coolwarm"
PHASE_CMAP = "twilight"

plt.rcParams.update({
    "figure.dpi": 110,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "font.size": 9,
})


def save_figure(fig, path: str) -> str:
    """Save ``fig`` as PNG to ``path`` atomically (temporary name in the same folder, then rename)."""
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", bbox_inches="tight")
    finally:
        plt.close(fig)
    return path
