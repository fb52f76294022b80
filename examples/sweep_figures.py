"""Make the sweep figures shown in the README (docs/figures/): the Binder-cumulant and ξ/L
crossings for L = 8, 16, 32, and the (Jy/Jx, T) phase diagram of the anisotropic Ising model.

    .venv/bin/python examples/sweep_figures.py                 # about 2 minutes on 2 cores
    .venv/bin/python examples/sweep_figures.py --scheduler tcp://HOST:8786   # on a Dask cluster

Each figure is a ``spinsym sweep`` of a documented example (examples/sweeps/*.toml) followed by
a plot command.  The sweeps are resumable: run it again and only missing jobs run.
"""

from __future__ import annotations

import argparse
import os
import sys

from spinsym.cli import main as spinsym

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run(*args):
    code = spinsym([str(a) for a in args])
    if code:
        sys.exit(f"failed: spinsym {' '.join(map(str, args))}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default=os.path.join(ROOT, "out", "sweeps"),
                    help="where the sweep directories go (default: out/sweeps)")
    ap.add_argument("--figures", default=os.path.join(ROOT, "docs", "figures"),
                    help="where the PNGs go (default: docs/figures)")
    ap.add_argument("--scheduler", default=None, help="Dask scheduler address (optional)")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    extra = ["--scheduler", args.scheduler] if args.scheduler else []

    binder = os.path.join(args.work, "binder")
    run("sweep", os.path.join(HERE, "sweeps", "binder.toml"), "--out", binder, *extra)
    # top row the Binder cumulant, bottom row the second-moment ξ/L; both crossings printed
    run("plot", "binder", binder, "--out", os.path.join(args.figures, "sweep_binder.png"))

    aniso = os.path.join(args.work, "anisotropic")
    run("sweep", os.path.join(HERE, "sweeps", "anisotropic.toml"), "--out", aniso, *extra)
    run("plot", "phase-diagram", aniso, "--out",
        os.path.join(args.figures, "sweep_phase_diagram.png"))


if __name__ == "__main__":  # the local process pool re-imports this module (spawn)
    main()
