"""Monte Carlo speed and efficiency, run by hand: ``.venv/bin/python benchmarks/mc_speed.py``.

1. Ising Metropolis through ``spinsym simulate`` (the same code path as the command, in
   process, ``--threads 1``: one thread in all, after a warm-up that compiles the kernels) at
   L = 512, T = T_c, against a plain NumPy checkerboard Metropolis measured in the same run:
   spin-flip attempts per ns and the ratio, for ``--algorithm metropolis`` (the multi-spin
   kernel, spinsym.mc.msc) and ``metropolis-scalar`` (spinsym.mc.ising).  Also the kernels
   alone (``Chain.run``, storing every ``--every`` sweeps, no driver) and the ratio
   simulate / kernel alone (into HDF5, and in memory) with a configuration stored every 10
   and every 100 sweeps (the
   multi-spin kernel counts each sample's energy and magnetization itself), and the model's
   own energy pass and HDF5 append per stored configuration, which the driver uses where a
   kernel does not count.
2. One lattice on several threads (``--threads-L``, default 4096; skip with 0): the strip
   kernel alone and through ``simulate`` (one temperature, stored every 10 sweeps) with 1 and
   ``--threads`` threads, and the speed-up.
3. XY Metropolis site updates per ns through the same path (L = 256), in memory, and the
   kernel alone.
4. Integrated autocorrelation times at T_c, L = 64 (and 128 with --large): Wolff versus
   Metropolis, per sweep, for the energy and |m|.

The machine may be shared: every ratio is measured in the same run, each timing is the best
of ``--repeats``, CPU time (thread or process) is printed beside wall time, and the load
average is printed before and after.
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
from spinsym.data import AtomicH5Writer
from spinsym.hamiltonians import energy
from spinsym.mc.run import Chain, SimulationConfig, simulate
from spinsym.runs import RunBuilder


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


def through_simulate(model: str, L: int, T: float, sweeps: int, every: int, folder,
                     algorithm: str = "metropolis", threads: int = 1,
                     clock=time.perf_counter) -> float:
    """Seconds per sweep of ``spinsym simulate`` (one temperature, writing HDF5 into
    ``folder``; ``folder=None``: ``spinsym.simulate`` in memory); ``clock=time.process_time``:
    the CPU time of all threads."""
    cfg = SimulationConfig(model=model, L=L, temperatures=(T,), algorithm=algorithm,
                           sweeps=sweeps, thermalize=0, every=every, threads=threads)
    t0 = clock()
    if folder is None:
        simulate(cfg, None, sink=RunBuilder(model, L))
    else:
        simulate(cfg, os.path.join(folder, f"bench_{model}_{L}.h5"))
    return (clock() - t0) / sweeps


def best(fn, repeats: int) -> float:
    return min(fn() for _ in range(repeats))


def kernel_alone(model: str, L: int, T: float, sweeps: int, every: int,
                 algorithm: str = "metropolis", clock=time.perf_counter,
                 threads: int = 1) -> float:
    """Seconds per sweep of the kernel that ``simulate`` picks, without the driver (still
    storing a configuration every ``every`` sweeps).  ``clock=time.thread_time`` counts only
    the CPU time of this thread, which other jobs on a shared machine barely change;
    ``threads``: the threads the kernel may use for the lattice (the strip kernel)."""
    cfg = SimulationConfig(model=model, L=L, temperatures=(T,), algorithm=algorithm,
                           sweeps=sweeps, thermalize=0, every=every, threads=threads)
    chain = Chain(cfg, 0, np.random.SeedSequence(0))
    chain.kernel.threads = threads
    chain.run(1, 2 if L > 1024 else 20, adapt=True, measure=False)
    t0 = clock()
    chain.run(sweeps // every, every)
    return (clock() - t0) / sweeps


def writer_cost(model: str, L: int, folder: str, n: int = 6) -> float:
    """Seconds per stored configuration of the model's pass: energy, magnetization, HDF5
    (the driver's work per sample where the kernel does not count energies)."""
    rng = np.random.default_rng(0)
    if model == "ising":
        configs = (2 * rng.integers(0, 2, size=(n, L, L)) - 1).astype(np.int8)
    else:
        configs = rng.uniform(0, 2 * np.pi, size=(n, L, L)).astype(np.float32)
    path = os.path.join(folder, f"writer_{model}.h5")
    with AtomicH5Writer(path, model, L) as writer:
        writer.group(0, {"T": 1.0})
        t0 = time.perf_counter()
        for _ in range(3):
            e = np.asarray(energy(model, configs, Couplings()), dtype=np.float64)
            writer.append(0, configs, e)
        return (time.perf_counter() - t0) / (3 * n)


def load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def one_lattice_on_threads(L: int, threads: int, sweeps: int, rep: int, folder: str):
    """The strip kernel at L on 1 and ``threads`` threads: alone and through simulate."""
    T = ONSAGER_TC
    flips = lambda sec: L * L / sec / 1e9  # noqa: E731
    print(f"One lattice on threads: Ising Metropolis, L = {L}, T = Tc, one temperature, "
          f"stored every 10 sweeps, {sweeps} sweeps")
    through_simulate("ising", L, T, 10, 10, folder, threads=threads)  # compile, start threads
    res = {}
    for t in (1, threads):
        ker = best(lambda: kernel_alone("ising", L, T, sweeps, 10, threads=t), rep)
        sim = best(lambda: through_simulate("ising", L, T, sweeps, 10, folder, threads=t), rep)
        cpu = best(lambda: through_simulate("ising", L, T, sweeps, 10, folder, threads=t,
                                            clock=time.process_time), rep)
        res[t] = ker, sim
        print(f"  {t} thread(s): kernel alone {flips(ker):6.3f} flips/ns, simulate "
              f"{flips(sim):6.3f} flips/ns (CPU time of all threads: {flips(cpu):6.3f})")
    (k1, s1), (kt, st) = res[1], res[threads]
    print(f"  speed-up on {threads} threads: kernel alone {k1 / kt:5.2f}x, simulate "
          f"{s1 / st:5.2f}x")
    w1, c1 = strip_team(L, 1, sweeps, rep)
    wt, ct = strip_team(L, threads, sweeps, rep)
    print(f"  strip kernel alone, {sweeps} sweeps: 1 thread {flips(w1 / sweeps):6.3f} flips/ns "
          f"(CPU {flips(c1[0] / sweeps):6.3f}); {threads} threads {flips(wt / sweeps):6.3f} "
          f"flips/ns wall, CPU per thread " + ", ".join(f"{x:.3f} s" for x in ct))
    print(f"  speed-up on {threads} threads: wall {w1 / wt:5.2f}x; ideal (1-thread CPU / "
          f"busiest thread's CPU) {c1[0] / max(ct):5.2f}x; CPU of all threads / 1 thread "
          f"{sum(ct) / c1[0]:5.3f}")


def strip_team(L: int, threads: int, sweeps: int, rep: int):
    """The strip kernel alone at L (``msc._run_team``, the driver's kernel on ``threads``
    threads; ``msc._run_serial`` on one): (wall seconds, per-thread CPU seconds) of the best
    of ``rep`` calls of ``sweeps`` sweeps, one configuration stored at the end.  The "ideal"
    speed-up, CPU time on one thread / the busiest thread's CPU time on ``threads``, is what
    idle cores would give but for the time threads wait at barriers: on a shared machine,
    where the wall time is polluted, it tells whether the work splits evenly."""
    from spinsym.mc import msc

    cfg = SimulationConfig(model="ising", L=L, temperatures=(ONSAGER_TC,), sweeps=sweeps,
                           thermalize=0, every=sweeps, threads=threads)
    chain = Chain(cfg, 0, np.random.SeedSequence(0))
    k = chain.kernel
    out = np.empty((1, L, L), np.int8)
    best = (np.inf, [np.inf])
    for r in range(rep + 1):  # the first call packs (and compiles)
        cpu = []
        w = time.perf_counter()
        if threads == 1:
            c = time.thread_time()
            msc._run_serial(chain.state_array, k.states, *k.args, sweeps, out, k.heatbath,
                            k.neg, k.packed, k.last, None)
            cpu = [time.thread_time() - c]
        else:
            msc._run_team(chain.state_array, k.states, *k.args, sweeps, out, k.heatbath, k.neg,
                          k.packed, k.last, None, threads, cpu=cpu)
        w = time.perf_counter() - w
        if r and w < best[0]:
            best = (w, best[1])
        if r and max(cpu) < max(best[1]):
            best = (best[0], cpu)
    return best


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
    parser.add_argument("--repeats", type=int, default=3, help="best of this many timings")
    parser.add_argument("--no-tau", action="store_true", help="skip the tau_int part")
    parser.add_argument("--large", action="store_true", help="also tau_int at L = 128")
    parser.add_argument("--threads-L", type=int, default=4096,
                        help="L of the one-lattice-on-threads part (0: skip)")
    parser.add_argument("--threads", type=int, default=2, help="threads for that part")
    parser.add_argument("--threads-sweeps", type=int, default=40)
    parser.add_argument("--only-threads", action="store_true",
                        help="run only the one-lattice-on-threads part")
    args = parser.parse_args()
    L, T, ev, rep = args.L, ONSAGER_TC, args.every, args.repeats
    flips = lambda sec: L * L / sec / 1e9  # noqa: E731
    print(f"machine: {os.cpu_count()} cores, load average {load()} (before)")
    with tempfile.TemporaryDirectory() as folder:
        if args.threads_L:
            one_lattice_on_threads(args.threads_L, args.threads, args.threads_sweeps, rep, folder)
        if args.only_threads:
            print(f"load average {load()} (after)")
            return
        for algorithm in ("metropolis", "metropolis-scalar"):  # compile / load kernels
            through_simulate("ising", 16, T, 20, 10, folder, algorithm)
        through_simulate("xy", 16, 0.9, 20, 10, folder)
        base = best(lambda: numpy_checkerboard(L, 1 / T, max(5, args.sweeps // 50)), rep)
        print(f"Ising Metropolis, L = {L}, T = Tc, J = 1, one worker thread, a configuration "
              f"stored every {ev} sweeps")
        print(f"  plain NumPy checkerboard          : {flips(base):8.4f} flips/ns")
        kernel = {}
        for algorithm, label in (("metropolis", "multi-spin"), ("metropolis-scalar", "scalar")):
            sim = best(lambda: through_simulate("ising", L, T, args.sweeps, ev, folder,
                                                algorithm), rep)
            ker = kernel[algorithm] = best(
                lambda: kernel_alone("ising", L, T, args.sweeps, ev, algorithm), rep)
            cpu = best(lambda: kernel_alone("ising", L, T, args.sweeps, ev, algorithm,
                                            time.thread_time), rep)
            print(f"  spinsym simulate, {label:10s}      : {flips(sim):8.4f} flips/ns   "
                  f"ratio {base / sim:6.1f}x   (kernel alone {flips(ker):6.3f} flips/ns, "
                  f"{base / ker:6.1f}x; CPU time {flips(cpu):6.3f})")
        wc = writer_cost("ising", L, folder)
        print(f"  the model's energy pass + HDF5 append per stored configuration: "
              f"{wc * 1e3:.2f} ms (the multi-spin kernel's {ev} sweeps: "
              f"{ev * kernel['metropolis'] * 1e3:.2f} ms; it counts its samples' energies)")
        print(f"simulate / kernel alone, multi-spin, L = {L}, --threads 1 (1.00 = no cost)")
        for every in (10, 100):
            ker_w = best(lambda: kernel_alone("ising", L, T, args.sweeps, every), rep)
            sim_w = best(lambda: through_simulate("ising", L, T, args.sweeps, every, folder), rep)
            ker_c = best(lambda: kernel_alone("ising", L, T, args.sweeps, every,
                                              clock=time.process_time), rep)
            sim_c = best(lambda: through_simulate("ising", L, T, args.sweeps, every, folder,
                                                  clock=time.process_time), rep)
            print(f"  stored every {every:3d}: kernel {flips(ker_w):6.3f} flips/ns, simulate "
                  f"{flips(sim_w):6.3f}: speed ratio {ker_w / sim_w:5.3f} wall, "
                  f"{ker_c / sim_c:5.3f} CPU time (kernel {flips(ker_c):6.3f}, simulate "
                  f"{flips(sim_c):6.3f} per CPU ns)")
            mem_c = best(lambda: through_simulate("ising", L, T, args.sweeps, every, None,
                                                  clock=time.process_time), rep)
            print(f"      in memory (spinsym.simulate): {flips(mem_c):6.3f} per CPU ns, speed "
                  f"ratio {ker_c / mem_c:5.3f} CPU time")
            bg = best(lambda: through_simulate("ising", L, T, args.sweeps, every, folder,
                                               threads=2), rep)
            print(f"      with --threads 2 (appends in a background thread): simulate "
                  f"{flips(bg):6.3f} flips/ns, speed ratio {ker_w / bg:5.3f} wall")
        Lxy = min(L, 256)
        xsw = max(ev, args.sweeps // 4)
        xy = best(lambda: through_simulate("xy", Lxy, 0.9, xsw, ev, folder), rep)
        xyc = best(lambda: through_simulate("xy", Lxy, 0.9, xsw, ev, None,
                                            clock=time.process_time), rep)
        xkc = best(lambda: kernel_alone("xy", Lxy, 0.9, xsw, ev, clock=time.process_time), rep)
        xk = best(lambda: kernel_alone("xy", Lxy, 0.9, xsw, ev), rep)
        xc = best(lambda: kernel_alone("xy", Lxy, 0.9, xsw, ev, clock=time.thread_time), rep)
        xw = writer_cost("xy", Lxy, folder)
        ups = lambda sec: Lxy * Lxy / sec / 1e9  # noqa: E731
        print(f"XY Metropolis, L = {Lxy}, T = 0.9, one thread, stored every {ev} sweeps")
        print(f"  in memory: {ups(xyc):8.4f} per CPU ns, kernel alone {ups(xkc):6.3f}: speed "
              f"ratio {xkc / xyc:5.3f} CPU time (the kernel counts each sample's energy and "
              f"magnetization; each call restarts from the stored angles)")
        print(f"  spinsym simulate: {ups(xy):8.4f} site updates/ns   (kernel alone "
              f"{ups(xk):6.3f}; CPU time {ups(xc):6.3f}; writer thread {xw * 1e3:.2f} ms per "
              f"stored configuration vs {ev * xk * 1e3:.2f} ms for {ev} sweeps)")
        print(f"load average {load()} (after)")
        if args.no_tau:
            return
        sizes = [64] + ([128] if args.large else [])
        for Ls in sizes:
            met = tau_at_tc(Ls, "metropolis", 400_000 if Ls == 64 else 1_000_000,
                            10 if Ls == 64 else 50, folder)
            wol = tau_at_tc(Ls, "wolff", 20_000, 1, folder)
            print(f"tau_int at Tc, L = {Ls} (units of sweeps; Wolff sweep = N flipped spins)")
            for key in ("energy", "abs_m"):
                print(f"  {key:7s} Metropolis {met[key]:8.1f}   Wolff {wol[key]:6.2f}"
                      f"   ratio {met[key] / wol[key]:6.1f}x")


if __name__ == "__main__":
    main()
