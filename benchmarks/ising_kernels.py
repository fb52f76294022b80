"""Scratch benchmark: Numba checkerboard Metropolis vs a plain NumPy checkerboard.

    python benchmarks/ising_kernels.py [L] [sweeps]

Isotropic J = 1, T = 2.269, one thread.  Prints spin-flip attempts per ns and the ratio.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from spinsym.mc.cluster import swendsen_wang_chain, wolff_chain, wolff_clusters_per_sweep
from spinsym.mc.ising import heatbath_chain, metropolis_chain
from spinsym.mc.rng import state_from_seedsequence

T = 2.269
BETA = 1.0 / T


def numpy_checkerboard(spins, rng, beta, sweeps):
    """Plain NumPy checkerboard Metropolis (J = 1, h = 0)."""
    L = spins.shape[0]
    y, x = np.indices((L, L))
    masks = [((x + y) % 2) == c for c in range(2)]
    s = spins.astype(np.int64)
    for _ in range(sweeps):
        for m in masks:
            nb = (np.roll(s, 1, 0) + np.roll(s, -1, 0) + np.roll(s, 1, 1) + np.roll(s, -1, 1))
            de = 2 * s * nb
            flip = m & ((de <= 0) | (rng.random(s.shape) < np.exp(-beta * de)))
            s[flip] *= -1
    return s


def best_of(fn, repeats):
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    L = int(sys.argv[1]) if len(sys.argv) > 1 else 512
    sweeps = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    N = L * L
    rng = np.random.default_rng(1)
    spins = rng.choice(np.array([-1, 1], dtype=np.int8), size=(L, L))
    state = state_from_seedsequence(np.random.SeedSequence(1))
    out = np.empty((1, L, L), dtype=np.int8)

    # compile + thermalize a little
    metropolis_chain(spins, state, BETA, 1.0, 1.0, 0.0, 0.0, 20, out)
    heatbath_chain(spins, state, BETA, 1.0, 1.0, 0.0, 0.0, 1, out)
    metropolis_chain(spins, state, BETA, 1.0, 1.0, 0.3, 0.0, 1, out)

    res = {}
    for name, fn, J2 in [("metropolis", metropolis_chain, 0.0),
                         ("heatbath", heatbath_chain, 0.0),
                         ("metropolis J2", metropolis_chain, 0.3)]:
        t = best_of(lambda: fn(spins, state, BETA, 1.0, 1.0, J2, 0.0, sweeps, out), 3)
        res[name] = N * sweeps / t / 1e9
        print(f"{name:15s} L={L}: {res[name]:.3f} flips/ns")

    np_sweeps = max(2, sweeps // 20)
    t = best_of(lambda: numpy_checkerboard(spins, rng, BETA, np_sweeps), 2)
    np_rate = N * np_sweeps / t / 1e9
    print(f"{'numpy':15s} L={L}: {np_rate:.4f} flips/ns")
    print(f"ratio metropolis / numpy: {res['metropolis'] / np_rate:.1f}x")

    # cluster kernels (per spin flipped / per site visited)
    Lc = min(L, 256)
    sc = np.ones((Lc, Lc), dtype=np.int8)
    outc = np.empty((1, Lc, Lc), dtype=np.int8)
    t0 = time.perf_counter()
    n_c = wolff_clusters_per_sweep(Lc, BETA, 1.0, 1.0, 0.0)
    print(f"wolff calibration L={Lc}: n_c = {n_c} clusters/sweep, "
          f"{(time.perf_counter() - t0) * 1e3:.1f} ms (first call includes compilation)")
    wolff_chain(sc, state, BETA, 1.0, 1.0, 0.0, 5, outc, n_c)
    swendsen_wang_chain(sc, state, BETA, 1.0, 1.0, 0.0, 5, outc)
    n_sw = 20
    t0 = time.perf_counter()
    flipped = wolff_chain(sc, state, BETA, 1.0, 1.0, 0.0, n_sw, outc, n_c)
    t = time.perf_counter() - t0
    print(f"{'wolff':15s} L={Lc}: {t / n_sw * 1e3:.2f} ms/sweep, {flipped / t / 1e9:.3f} "
          f"flipped spins/ns, flipped fraction {flipped / (n_sw * Lc * Lc):.2f}")
    t = best_of(lambda: swendsen_wang_chain(sc, state, BETA, 1.0, 1.0, 0.0, n_sw, outc), 2)
    print(f"{'swendsen-wang':15s} L={Lc}: {t / n_sw * 1e3:.2f} ms/sweep "
          f"({Lc * Lc * n_sw / t / 1e9:.3f} sites/ns)")


if __name__ == "__main__":
    main()
