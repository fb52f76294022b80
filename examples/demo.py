"""The end-to-end demo on small defaults: simulate, analyze, plot (and train, where available).

Run with ``./dev demo`` (or ``python examples/demo.py --out demo_out``).  Steps 1–6 are
``spinsym`` commands, so this file doubles as a worked example of the command line; step 7
uses the Python API (``import spinsym``) on per-bond couplings.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from spinsym.cli import main as spinsym


def step(title: str, *args) -> None:
    print(f"\n$ spinsym {' '.join(map(str, args))}", flush=True)
    t0 = time.time()
    code = spinsym([str(a) for a in args])
    if code:
        sys.exit(f"demo step failed ({title}): exit {code}")
    print(f"  [{title}: {time.time() - t0:.1f} s]", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="demo_out", help="folder for the demo's files")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    out = args.out
    os.makedirs(out, exist_ok=True)
    p = lambda name: os.path.join(out, name)  # noqa: E731

    # 1. Ising, L = 8: a temperature scan against the exact transfer-matrix curves.
    temps8 = ",".join(f"{t:.2f}" for t in (1.5, 1.8, 2.0, 2.15, 2.27, 2.4, 2.6, 3.0, 3.5))
    step("Ising L=8 scan (Wolff)", "simulate", "ising", "--L", 8, "--T", temps8,
         "--algorithm", "wolff", "--sweeps", 20000, "--thermalize", 500, "--every", 10,
         "--seed", args.seed, "--out", p("ising_L8.h5"))
    step("analyze", "analyze", p("ising_L8.h5"))
    step("plot", "plot", "observables", p("ising_L8.h5"), "--out", p("ising_L8.png"),
         "--snapshots", p("ising_L8_snapshots.png"))

    # 2. Ising, L = 32: Kaufman's exact torus curves for the energy and specific heat.
    temps32 = ",".join(f"{t:.2f}" for t in (1.8, 2.0, 2.1, 2.2, 2.25, 2.3, 2.35, 2.45, 2.6, 3.0))
    step("Ising L=32 scan (Wolff)", "simulate", "ising", "--L", 32, "--T", temps32,
         "--algorithm", "wolff", "--sweeps", 4000, "--thermalize", 300, "--every", 2,
         "--seed", args.seed, "--out", p("ising_L32.h5"))
    step("plot", "plot", "observables", p("ising_L32.h5"), "--out", p("ising_L32.png"),
         "--snapshots", p("ising_L32_snapshots.png"))

    # 3. Frustrated Ising (J2 = -1): stripe order, checked against the transfer matrix.
    step("frustrated Ising L=8 (Metropolis)", "simulate", "ising", "--L", 8, "--J2", -1,
         "--T", "1.0,1.5,2.0,2.5,3.0,4.0", "--algorithm", "metropolis", "--sweeps", 20000,
         "--thermalize", 1000, "--every", 10, "--seed", args.seed, "--out", p("stripes_L8.h5"))
    step("plot", "plot", "observables", p("stripes_L8.h5"), "--out", p("stripes_L8.png"),
         "--snapshots", p("stripes_L8_snapshots.png"))

    # 4. XY, L = 16 across the BKT region.
    temps_xy = ",".join(f"{t:.2f}" for t in (0.3, 0.5, 0.7, 0.8, 0.9, 1.0, 1.1, 1.3, 1.6, 2.0))
    step("XY L=16 scan (Wolff)", "simulate", "xy", "--L", 16, "--T", temps_xy,
         "--algorithm", "wolff", "--sweeps", 4000, "--thermalize", 300, "--every", 2,
         "--seed", args.seed, "--out", p("xy_L16.h5"))
    step("analyze", "analyze", p("xy_L16.h5"))
    step("plot", "plot", "observables", p("xy_L16.h5"), "--out", p("xy_L16.png"),
         "--snapshots", p("xy_L16_snapshots.png"))

    # 5. SymPE ground states: train SymPE and the plain G-CNN briefly, evaluate them on the
    #    held-out Hamiltonians against the exact 4 x 4-periodic ground states, draw the
    #    predicted phase diagram beside the exact one.
    #    The demo trains on the homogeneous family with the period-4 encoding, which folds the
    #    L = 8 computation onto 4 x 4 and takes seconds; the defaults (all per-bond families,
    #    a full-lattice v, the annealing teacher) take a few CPU-minutes (see the README).
    brief = ["--families", "homogeneous", "--pe-period", 4, "--seed", args.seed, "--quiet"]
    step("train SymPE (brief)", "train", "groundstate", "--model", "sympe", "--L", 8,
         "--steps", 400, *brief, "--out", p("sympe.pt"))
    step("train plain G-CNN (brief)", "train", "groundstate", "--model", "gcnn", "--L", 8,
         "--steps", 100, "--families", "homogeneous", "--seed", args.seed, "--quiet",
         "--out", p("gcnn.pt"))
    for model in ("sympe", "gcnn"):
        step(f"evaluate {model}", "evaluate", "groundstate", p(f"{model}.pt"),
             "--params", "data/heldout_hamiltonians.json", "--L", 8, "--samples", 4)
    step("phase diagram", "plot", "phase-diagram", p("sympe.pt"), "--baseline", p("gcnn.pt"),
         "--n", 21, "--out", p("phase_diagram.png"))

    # 6. An equivariant sampler trained (briefly) on the L = 8 Wolff scan of step 1, sampled at
    #    a temperature inside the data range that the data do not contain, with and without
    #    the exact Metropolis-Hastings correction, and compared with the Monte Carlo data.
    step("train sampler (brief)", "train", "sampler", "--data", p("ising_L8.h5"),
         "--model", "sympe", "--steps", 150, "--seed", args.seed, "--quiet",
         "--out", p("sampler.pt"))
    step("sample (raw network)", "sample", p("sampler.pt"), "--T", "1.8,2.3,2.8", "--n", 400,
         "--no-mh", "--seed", args.seed, "--quiet", "--out", p("samples.h5"))
    step("sample (with the exact MH correction)", "sample", p("sampler.pt"), "--T",
         "1.8,2.3,2.8", "--n", 400, "--seed", args.seed, "--quiet", "--out", p("samples_mh.h5"))
    step("analyze samples", "analyze", p("samples_mh.h5"))
    step("compare", "plot", "compare", p("ising_L8.h5"), p("samples.h5"), p("samples_mh.h5"),
         "--out", p("sampler_compare.png"))

    # 7. The Python API: a ±J spin glass (per-bond couplings) in memory, with replica exchange,
    #    against the exact transfer matrix; then saved in the same HDF5 schema.
    api_glass(p("glass_L8.h5"), args.seed)

    print(f"\ndemo finished: files in {out}/")


def api_glass(path: str, seed: int) -> None:
    import spinsym
    from spinsym.couplings import BondCouplings
    from spinsym.exact import transfer_matrix_bonds

    print("\n>>> spinsym.simulate('ising', L=8, couplings=<±J glass>, exchange=True, ...)")
    t0 = time.time()
    here = os.path.dirname(os.path.abspath(__file__))
    glass = BondCouplings.load(os.path.join(here, "couplings", "pm_j_glass_L8.json"), L=8)
    run = spinsym.simulate("ising", L=8, T=[0.8, 1.0, 1.3, 2.0], couplings=glass,
                           exchange=True, sweeps=20000, thermalize=2000, every=10, seed=seed)
    print("   T   e (Monte Carlo)       e (exact)   exchange acceptance")
    for r in spinsym.analyze(run):
        e, exact = r["energy_per_site"], transfer_matrix_bonds(8, glass, r["T"])
        acc = r.get("exchange_acceptance")
        print(f"  {r['T']:.1f}  {e['mean']:.4f} ± {e['err']:.4f}   {exact['energy_per_site']:.4f}"
              f"    {'' if acc is None else f'{acc:.2f}'}")
    print(f"  wrote {run.save(path)}  [{time.time() - t0:.1f} s]")


if __name__ == "__main__":
    main()
