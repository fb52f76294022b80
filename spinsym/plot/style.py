"""Shared matplotlib setup: Agg backend, consistent look, atomic PNG saving."""

from __future__ import annotations

import os
import tempfile

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..errors import ParameterError  # noqa: E402

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


def check_out_path(path: str) -> str:
    """The output directory must exist (we never create directories silently)."""
    directory = os.path.dirname(os.path.abspath(path)) or "."
    if not os.path.isdir(directory):
        raise ParameterError(f"output directory does not exist: {directory}")
    return path


def save_figure(fig, path: str) -> str:
    """Save ``fig`` as PNG to ``path`` atomically (temporary name in the same folder, then rename)."""
    check_out_path(path)
    directory = os.path.dirname(os.path.abspath(path)) or "."
    fd, tmp = tempfile.mkstemp(prefix=".spinsym-", suffix=".png.tmp", dir=directory)
    os.close(fd)
    try:
        fig.savefig(tmp, format="png", bbox_inches="tight")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    finally:
        plt.close(fig)
    return path
