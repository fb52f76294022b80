"""Monte Carlo speed and efficiency, run by hand: ``.venv/bin/python benchmarks/mc_speed.py``.

1. Ising Metropolis through ``spinsym simulate`` (the same code path as the command, in
   process, one thread, after a warm-up that compiles the kernels) at L = 512, against a plain
   NumPy checkerboard Metropolis measured in the same run: spin-flip attempts per ns and ratio.
2. XY Metropolis site updates per ns through the same path (L = 256).
3. Integrated autocorrelation times at T_c, L = 64 (and 128 with --large): Wolff versus
   Metropolis, per sweep, for the energy and |m|.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from spinsym.analysis import analyze_file
from spinsym.exact import ONSAGER_TC
from spinsym.hamiltonians import Couplings
from spinsym.lattice import checkerboard
from spinsym.mc.run import SimulationConfig, simulate


def numpy_checkerboard(L: int, beta: float, sweeps: int, seed: int = 0) -> float:
    """A plain vectorized NumPy checkerboard Metropolis; returns seconds per sweep."""
    rng = np.random.default_rng(seed)
    s = rng.choice(np.array([-1, 1], dtype=np.int8), size=(L, L)).astype(np.int64)
    colours = [checkerboard(L) == c for c in (0, 1)]
    t0 = time.perf_counter()
    for _ in range(sweeps):
        for mask in colours:
            nb = np.roll(s, 1, 0) + np.roll(s, -1, 0) + np.roll(s, 1, 1) + np.roll(s, -1, 1)
            flip = mask & (rng.random((L, L)) < np.exp(-2.0 * beta * s * nb))
            s[flip] *= -1
    return (time.perf_counter() - t0) / sweeps


def through_simulate(model: str, L: int, T: float, sweeps: int, every: int, folder: str,
                     algorithm: str = "metropolis") -> float:
    """Seconds per sweep of ``spinsym simulate`` (one temperature, one thread, writing HDF5)."""
    cfg = SimulationConfig(model=model, L=L, temperatures=(T,), algorithm=algorithm,
                           sweeps=sweeps, thermalize=0, every=every, threads=1)
    path = os.path.join(folder, f"bench_{model}_{L}.h5")
    t0 = time.perf_counter()
    simulate(cfg, path)
    return (time.perf_counter() - t0) / sweeps


def tau_at_tc(L: int, algorithm: str, sweeps: int, every: int, folder: str) -> dict:
    """tau_int in sweeps (tau in samples times the measurement interval)."""
    cfg = SimulationConfig(model="ising", L=L, temperatures=(ONSAGER_TC,), algorithm=algorithm,
                           sweeps=sweeps, thermalize=max(1000, sweeps // 20), every=every,
                           seed=7, couplings=Couplings())
    path = os.path.join(folder, f"tau_{algorithm}_{L}.h5")
    simulate(cfg, path)
    tau = analyze_file(path)[0]["tau_int"]
    return {k: v * every for k, v in tau.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--L", type=int, default=512)
    parser.add_argument("--sweeps", type=int, default=1000)
    parser.add_argument("--every", type=int, default=10, help="measurement interval (sweeps)")
    parser.add_argument("--large", action="store_true", help="also tau_int at L = 128")
    args = parser.parse_args()
    L, T = args.L, ONSAGER_TC
    with tempfile.TemporaryDirectory() as folder:
        through_simulate("ising", 16, T, 20, 10, folder)  # compile / load kernels
        through_simulate("xy", 16, 0.9, 20, 10, folder)
        base = numpy_checkerboard(L, 1 / T, max(5, args.sweeps // 20))
        fast = through_simulate("ising", L, T, args.sweeps, args.every, folder)
        print(f"Ising Metropolis, L = {L}, T = Tc, one worker thread, a configuration stored "
              f"every {args.every} sweeps")
        print(f"  plain NumPy checkerboard: {L * L / base / 1e9:8.4f} flips/ns")
        print(f"  spinsym simulate        : {L * L / fast / 1e9:8.4f} flips/ns"
              f"   ratio {base / fast:6.1f}x")
        Lxy = min(L, 256)
        xy = through_simulate("xy", Lxy, 0.9, max(args.every, args.sweeps // 4), args.every, folder)
        print(f"XY Metropolis, L = {Lxy}, T = 0.9: {Lxy * Lxy / xy / 1e9:8.4f} site updates/ns")
        sizes = [64] + ([128] if args.large else [])
        for Ls in sizes:
            met = tau_at_tc(Ls, "metropolis", 400_000 if Ls == 64 else 1_000_000, 10, folder)
            wol = tau_at_tc(Ls, "wolff", 20_000, 1, folder)
            print(f"tau_int at Tc, L = {Ls} (units of sweeps; Wolff sweep = N flipped spins)")
            for key in ("energy", "abs_m"):
                print(f"  {key:7s} Metropolis {met[key]:8.1f}   Wolff {wol[key]:6.2f}"
                      f"   ratio {met[key] / wol[key]:6.1f}x")


if __name__ == "__main__":
    main()
