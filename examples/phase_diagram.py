"""Reproduce the README figure: predicted vs exact phase diagram over (Jy, h), and sampled
configurations of SymPE beside the plain G-CNN.

    python examples/phase_diagram.py [--outdir runs/groundstate] [--quick]

Uses the checkpoints of examples/groundstate_table.py when present (else trains SymPE and the
G-CNN with the defaults; --quick trains briefly, as the README demo does), then runs

    spinsym plot phase-diagram sympe.pt --baseline gcnn.pt --out phase_diagram.png
    spinsym plot phase-diagram sympe.pt --baseline gcnn.pt --Jx -1 --J2 0.3 --out ...
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def spinsym(*args):
    proc = subprocess.run([sys.executable, "-m", "spinsym", *map(str, args)], text=True,
                          capture_output=True)
    if proc.returncode:
        sys.exit(f"spinsym {' '.join(map(str, args))} failed:\n{proc.stderr}")
    print(proc.stdout.strip())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--outdir", default=os.path.join(ROOT, "runs", "groundstate"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="train briefly (300 steps)")
    ap.add_argument("--n", type=int, default=41)
    a = ap.parse_args(argv)
    os.makedirs(a.outdir, exist_ok=True)
    ck = {}
    for m in ("sympe", "gcnn"):
        ck[m] = os.path.join(a.outdir, f"{m}{'-quick' if a.quick else ''}.pt")
        if not os.path.exists(ck[m]):
            extra = ["--steps", 300] if a.quick else []
            spinsym("train", "groundstate", "--model", m, "--L", 8, "--seed", a.seed,
                    "--out", ck[m], "--quiet", *extra)
    spinsym("plot", "phase-diagram", ck["sympe"], "--baseline", ck["gcnn"], "--n", a.n,
            "--out", os.path.join(a.outdir, "phase_diagram.png"))
    spinsym("plot", "phase-diagram", ck["sympe"], "--baseline", ck["gcnn"], "--n", a.n,
            "--Jx", -1, "--J2", 0.3, "--out", os.path.join(a.outdir, "phase_diagram_afm.png"))


if __name__ == "__main__":
    main()
