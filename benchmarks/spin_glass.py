"""±J spin-glass Metropolis speed, run by hand: ``.venv/bin/python benchmarks/spin_glass.py``.

A two-dimensional ±J Edwards–Anderson glass (random signs of Jx and Jy on every bond, no
diagonals, h = 0) at L = 512, T = 1.0, one thread.  Timed in the same run, each the best of
``--repeats``, in spin-flip attempts (site updates) per ns:

1. ``spinsym.simulate(..., couplings=BondCouplings(...), algorithm="metropolis", threads=1,
   every=10)``: the whole driver (the multi-spin ±J kernel, spinsym.mc.msc.pm_chain, plus
   energies and magnetizations of every stored configuration), in memory;
2. the same kernel alone, as the driver makes it (``IsingModel.algorithms["metropolis"]``),
   storing every ``--every`` sweeps;
3. ``metropolis-scalar``: the scalar per-bond kernel (spinsym.mc.ising.bond_chain) alone;
4. baselines: the homogeneous multi-spin kernel (Jx = Jy = 1) at the same T, and a plain NumPy
   checkerboard Metropolis with the same per-bond couplings.

The machine may be shared: compare the ratios, which are measured in the same run.
"""

from __future__ import annotations

import argparse
import time
from types import SimpleNamespace

import numpy as np

import spinsym
from spinsym.couplings import BondCouplings
from spinsym.hamiltonians import Couplings
from spinsym.lattice import checkerboard
from spinsym.mc.rng import state_from_seedsequence
from spinsym.models import get as get_model


def glass(L: int, seed: int) -> BondCouplings:
    rng = np.random.default_rng(seed)
    return BondCouplings(Jx=rng.choice([-1.0, 1.0], size=(L, L)),
                         Jy=rng.choice([-1.0, 1.0], size=(L, L)), J2p=0.0, J2m=0.0, h=0.0)


def best(fn, repeats: int) -> float:
    """The shortest of ``repeats`` timings of fn() (seconds)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def kernel_timer(algorithm: str, L: int, T: float, couplings, sweeps: int, every: int, seed: int):
    """fn() running ``sweeps`` sweeps of the driver's kernel, storing every ``every``; and the
    kernel (for its ``stats()``).  The chain continues from call to call (after a warm-up)."""
    model = get_model("ising")
    kernel = model.algorithms[algorithm].make(SimpleNamespace(L=L, couplings=couplings), 1.0 / T)
    state = model.random_state(np.random.default_rng(seed), L)
    rng_state = state_from_seedsequence(np.random.SeedSequence(seed))
    out = np.empty((max(1, sweeps // every), L, L), np.int8)
    kernel(state, rng_state, 1, every, out[:1], False)  # compile and warm up
    counts = []

    def run():
        counts.append(kernel(state, rng_state, out.shape[0], every, out, False))

    return run, kernel, counts


def numpy_checkerboard(L: int, T: float, c: BondCouplings, sweeps: int, seed: int) -> float:
    """Plain vectorized NumPy checkerboard Metropolis with per-bond Jx, Jy; seconds per sweep."""
    rng = np.random.default_rng(seed)
    s = rng.choice(np.array([-1.0, 1.0]), size=(L, L))
    Jx, Jy = c.arrays(L)[:2]
    Jx_left, Jy_up = np.roll(Jx, 1, 1), np.roll(Jy, 1, 0)
    colours = [checkerboard(L) == k for k in (0, 1)]
    beta = 1.0 / T
    t0 = time.perf_counter()
    for _ in range(sweeps):
        for mask in colours:
            f = (Jx * np.roll(s, -1, 1) + Jx_left * np.roll(s, 1, 1) + Jy * np.roll(s, -1, 0)
                 + Jy_up * np.roll(s, 1, 0))
            flip = mask & (rng.random((L, L)) < np.exp(-2.0 * beta * s * f))
            s[flip] *= -1
    return (time.perf_counter() - t0) / sweeps


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--L", type=int, default=512)
    p.add_argument("--T", type=float, default=1.0)
    p.add_argument("--sweeps", type=int, default=2000, help="sweeps per timing (multi-spin)")
    p.add_argument("--every", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    L, T, N = a.L, a.T, a.L * a.L
    c = glass(L, a.seed)
    rate = {}  # spin-flip attempts per ns

    print(f"±J glass, L = {L}, T = {T}, one thread, storing every {a.every} sweeps")
    try:
        def through_simulate():
            return spinsym.simulate("ising", L=L, T=[T], couplings=c, algorithm="metropolis",
                                    threads=1, sweeps=a.sweeps, thermalize=0, every=a.every,
                                    seed=a.seed)
        run = through_simulate()  # warm-up: compiles the kernel and the observables
        t = best(through_simulate, a.repeats)
        rate["simulate"] = N * a.sweeps / t * 1e-9
        print(f"  simulate (kernel {run[0].attrs.get('kernel')!r}): "
              f"{rate['simulate']:.3f} flips/ns")
    except Exception as exc:  # the driver may not take per-bond couplings yet
        print(f"  simulate: not available ({type(exc).__name__}: {exc})")

    for label, algorithm, couplings, sweeps in (
            ("kernel alone", "metropolis", c, a.sweeps),
            ("scalar per-bond kernel", "metropolis-scalar", c, max(a.every, a.sweeps // 10)),
            ("homogeneous multi-spin (J = 1)", "metropolis", Couplings(1.0, 1.0, 0.0, 0.0),
             a.sweeps)):
        fn, kernel, counts = kernel_timer(algorithm, L, T, couplings, sweeps, a.every, a.seed)
        t = best(fn, a.repeats)
        rate[label] = N * sweeps / t * 1e-9
        acc = counts[-1] / (N * sweeps)
        print(f"  {label} ({kernel.stats()['kernel']}): {rate[label]:.3f} flips/ns, "
              f"acceptance {acc:.3f}")

    sweeps_np = max(2, a.sweeps // 200)
    t = min(numpy_checkerboard(L, T, c, sweeps_np, a.seed) for _ in range(a.repeats))
    rate["numpy"] = N / t * 1e-9
    print(f"  NumPy checkerboard: {rate['numpy']:.4f} flips/ns")

    print("ratios (same run):")
    for label in rate:
        if label != "numpy":
            print(f"  {label}: {rate[label] / rate['numpy']:.1f} × NumPy")
    glass_rate = rate.get("simulate", rate["kernel alone"])
    print(f"  ±J glass / homogeneous multi-spin: "
          f"{glass_rate / rate['homogeneous multi-spin (J = 1)']:.2f}")
    print(f"target >= 0.3 flips/ns through simulate: "
          f"{'met' if rate.get('simulate', 0.0) >= 0.3 else 'not met or not measured'}")


if __name__ == "__main__":
    main()
