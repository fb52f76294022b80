"""Reproduce the sampler results of the README through the command line.

    python examples/sampler_pipeline.py ising --out-dir runs/ [--models sympe,gcnn,noise]
    python examples/sampler_pipeline.py xy --out-dir runs/

Ising (L = 8): a Wolff scan T = 1.6 … 3.5 (training data), a second Wolff scan at temperatures
that are not in the training data, ``train sampler`` with defaults for each model, ``sample``
at the training and the in-between temperatures (plain and ``--mh``), accuracy against the
exact transfer-matrix values, and ``plot compare``.

XY (L = 8): a Wolff scan T = 0.3 … 1.9 (training data), long Wolff runs at T = 0.5, 0.9, 1.5
(reference), the same train / sample / compare steps.

Every step is a ``spinsym`` command (printed before it runs); existing outputs are reused.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "benchmarks"))

ISING_TRAIN_T = "1.6,1.8,2.0,2.2,2.3,2.4,2.6,2.8,3.0,3.2,3.5"
ISING_BETWEEN_T = "1.7,1.9,2.1,2.5,2.7,3.3"
XY_TRAIN_T = "0.3,0.4,0.5,0.6,0.7,0.8,0.9,1.0,1.1,1.2,1.3,1.5,1.7,1.9"
XY_REF_T = "0.5,0.9,1.5"


def spinsym(*args) -> float:
    cmd = [sys.executable, "-m", "spinsym", *map(str, args)]
    print("$ spinsym " + " ".join(map(str, args)), flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t0


def once(path, *args):
    if not os.path.exists(path):
        spinsym(*args)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", choices=["ising", "xy"])
    ap.add_argument("--out-dir", default="sampler_runs")
    ap.add_argument("--models", default="sympe,gcnn,noise")
    ap.add_argument("--n", type=int, default=2000, help="samples per temperature")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    os.makedirs(a.out_dir, exist_ok=True)
    j = lambda name: os.path.join(a.out_dir, name)  # noqa: E731
    from sampler_accuracy import main as accuracy

    if a.model == "ising":
        data = once(j("ising_wolff_L8.h5"), "simulate", "ising", "--L", 8, "--T",
                    ISING_TRAIN_T, "--algorithm", "wolff", "--sweeps", 20000, "--every", 2,
                    "--thermalize", 1000, "--seed", 1, "--out", j("ising_wolff_L8.h5"))
        temps = ",".join(sorted(ISING_TRAIN_T.split(",") + ISING_BETWEEN_T.split(","),
                                key=float))
        ref = None
    else:
        data = once(j("xy_wolff_L8.h5"), "simulate", "xy", "--L", 8, "--T", XY_TRAIN_T,
                    "--algorithm", "wolff", "--sweeps", 20000, "--every", 2, "--thermalize",
                    1000, "--seed", 3, "--out", j("xy_wolff_L8.h5"))
        ref = once(j("xy_long_L8.h5"), "simulate", "xy", "--L", 8, "--T", XY_REF_T,
                   "--algorithm", "wolff", "--sweeps", 400000, "--every", 4, "--thermalize",
                   2000, "--seed", 4, "--out", j("xy_long_L8.h5"))
        temps = "0.4,0.5,0.7,0.9,1.1,1.3,1.5,1.7"
    outs = []
    for kind in a.models.split(","):
        ckpt = j(f"{a.model}_{kind}.pt")
        once(ckpt, "train", "sampler", "--data", data, "--model", kind, "--seed", a.seed,
             "--out", ckpt)
        for mh in (False, True):
            out = j(f"{a.model}_{kind}{'_mh' if mh else ''}_samples.h5")
            once(out, "sample", ckpt, "--T", temps, "--n", a.n, "--seed", a.seed, "--out", out,
                 "--mh" if mh else "--no-mh")
            print(f"\n== {kind}{' + MH' if mh else ''} ==")
            accuracy([out] + (["--ref", ref] if ref else []))
            outs.append(out)
    spinsym("plot", "compare", ref or data, *[o for o in outs if "_mh" not in o],
            "--out", j(f"{a.model}_compare.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
