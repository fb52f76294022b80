"""Make the Monte Carlo figures shown in the README (docs/figures/).

    .venv/bin/python examples/foundation_figures.py            # about 2 minutes on 2 cores

Each figure is a ``spinsym simulate`` scan followed by ``spinsym plot observables``; the exact
curves (transfer matrix at L = 8, Kaufman at L = 32, XY limits) are drawn by the plot command.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

from spinsym.cli import main as spinsym

SCANS = {
    # name: (simulate arguments, snapshots?)
    "ising_L8": (["ising", "--L", 8, "--T", "1.5,1.8,2.0,2.15,2.27,2.4,2.6,3.0,3.5",
                  "--algorithm", "wolff", "--sweeps", 100000, "--thermalize", 1000,
                  "--every", 10], True),
    "ising_L32": (["ising", "--L", 32, "--T", "1.8,2.0,2.1,2.2,2.25,2.3,2.35,2.45,2.6,3.0",
                   "--algorithm", "wolff", "--sweeps", 20000, "--thermalize", 1000,
                   "--every", 5], True),
    "stripes_L8": (["ising", "--L", 8, "--J2", -1, "--T", "1.0,1.5,2.0,2.5,3.0,3.5,4.0,5.0",
                    "--algorithm", "metropolis", "--sweeps", 100000, "--thermalize", 2000,
                    "--every", 10], True),
    "xy_L16": (["xy", "--L", 16, "--T", "0.3,0.5,0.7,0.8,0.9,1.0,1.1,1.3,1.6,2.0",
                "--algorithm", "wolff", "--sweeps", 20000, "--thermalize", 1000,
                "--every", 5], True),
}


def run(*args):
    code = spinsym([str(a) for a in args])
    if code:
        sys.exit(f"failed: spinsym {' '.join(map(str, args))}")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="docs/figures")
    parser.add_argument("--only", nargs="*", default=None, help="subset of: " + ", ".join(SCANS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name, (sim, snaps) in SCANS.items():
            if args.only and name not in args.only:
                continue
            h5 = os.path.join(tmp, f"{name}.h5")
            run("simulate", *sim, "--seed", 2026, "--out", h5)
            extra = ["--snapshots", os.path.join(args.out, f"{name}_snapshots.png")] if snaps else []
            run("plot", "observables", h5, "--out", os.path.join(args.out, f"{name}.png"), *extra)


if __name__ == "__main__":
    main()
