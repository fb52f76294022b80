"""Shared matplotlib setup: Agg backend, consistent look, atomic figure saving."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..errors import ParameterError  # noqa: E402
from ..fileio import atomic_path, check_out_path  # noqa: E402

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


#: figure formats by file suffix (no suffix: PNG)
FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg", ".eps": "eps", ".ps": "ps",
           ".jpg": "jpeg", ".jpeg": "jpeg", ".tif": "tiff", ".tiff": "tiff", ".webp": "webp"}


def figure_format(path) -> str:
    """The format that the suffix of ``path`` names (png when it has none); ParameterError for
    a suffix that is no figure format, so a .pdf is never a PNG in disguise."""
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if not suffix:
        return "png"
    if suffix not in FORMATS:
        raise ParameterError(f"unknown figure format {suffix!r} in {os.fspath(path)}; use one of "
                             f"{', '.join(sorted(FORMATS))}")
    return FORMATS[suffix]


def check_figure_path(path, inputs=()) -> str:
    """The destination check of a figure (:func:`spinsym.fileio.check_out_path` and a known
    suffix), to run before the work starts."""
    figure_format(path)
    return check_out_path(path, inputs)


def save_figure(fig, path: str) -> str:
    """Save ``fig`` to ``path`` atomically (temporary name in the same folder, then rename), in
    the format its suffix names."""
    try:
        fmt = figure_format(path)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path
