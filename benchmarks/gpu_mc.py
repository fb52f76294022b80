"""GPU Ising checkerboard speed, run by hand on a machine with an NVIDIA GPU:

    PYTHONPATH=. python benchmarks/gpu_mc.py [--json out.json] [--quick]

Measures spin-flip attempts per ns, in one run on one card, of

* ``multispin``: :class:`spinsym.mc.gpu.MultiSpinGPU`, 32 sites of one lattice per word
  (the default of ``--device cuda`` for L >= 64);
* ``bytes``: :class:`spinsym.mc.gpu.CheckerboardGPU`, four lattices per word, one byte per site;
* a naive PyTorch checkerboard (float32 spins, ``torch.roll`` neighbour sums, one
  ``torch.rand`` per site and half-sweep, ``torch.where``),

and prints the ratios.  Both spinsym kernels are exact Metropolis (each decision U < T with a
64-bit uniform U and the CPU kernels' thresholds); the PyTorch baseline is float32 and not.
Headline: all lattices at T_c = 2.269, h = 0, Metropolis; the multi-spin kernel also with
lattices spread over T = 1.5..3.5 (the setting of the byte-lane kernel's earlier figure), with
a field and with heat bath.  Several launch shapes per kernel, the best reported (they change
speed only, never the result).  Times come from CUDA events around many sweeps after a warm-up
that compiles the kernel (median of several repetitions; spread = min/median, max/median).
Without a GPU it prints one line and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np

from spinsym.hamiltonians import Couplings
from spinsym.mc import gpu

TC = 2.269185314213022


def _temperatures(R, temps):
    return np.full(R, TC) if temps == "tc" else np.linspace(1.5, 3.5, R)


def _timed(cuda, sim, sweeps, reps):
    sim.sweep(2)  # compile (first time) and warm up
    sim.synchronize()
    times = []
    for _ in range(reps):
        start, end = cuda.event(timing=True), cuda.event(timing=True)
        start.record()
        sim.sweep(sweeps)
        end.record()
        end.synchronize()
        times.append(cuda.event_elapsed_time(start, end) * 1e6)  # ns
    return times


def time_kernel(cuda, kernel, R, L, launches, sweeps, reps, algorithm="metropolis",
                couplings=Couplings(), temps="tc"):
    """flips/ns of one spinsym kernel ("multispin" or "bytes") for each launch shape."""
    rng = np.random.default_rng(0)
    spins = rng.integers(0, 2, size=(R, L, L), dtype=np.int8) * np.int8(2) - np.int8(1)
    cls = gpu.MultiSpinGPU if kernel == "multispin" else gpu.CheckerboardGPU
    sim = cls(spins, 1.0 / _temperatures(R, temps), couplings, algorithm, key=(1, 2))
    del spins
    rows = []
    for launch in launches:
        if kernel == "multispin":  # (threads per block, words per thread)
            block, sim.words_per_thread = launch
            sim.set_launch(block)
        elif isinstance(launch, tuple):  # (threads, blocks over rows): a persistent-style grid
            block, gy = launch
            sim.set_launch(block)
            sim.set_launch(block, (sim.grid[0], min(sim.grid[1], gy)))
        else:
            sim.set_launch(launch)
        times = _timed(cuda, sim, sweeps, reps)
        ns = statistics.median(times)
        rows.append(dict(kernel=kernel, R=R, L=L, algorithm=algorithm, temps=temps,
                         h=couplings.h, sweeps=sweeps, flips_per_ns=R * L * L * sweeps / ns,
                         ms_per_sweep=ns / sweeps / 1e6,
                         spread=[min(times) / ns, max(times) / ns], launch=str(launch),
                         threads=list(sim.block), grid=list(sim.grid)))
    del sim
    return rows


def time_torch(R, L, sweeps, reps):
    import torch

    dev = torch.device("cuda")
    g = torch.Generator(device=dev)
    g.manual_seed(0)
    s = (torch.randint(0, 2, (R, L, L), device=dev, generator=g).float() * 2 - 1)
    beta = (1.0 / torch.full((R,), TC, device=dev))[:, None, None]
    yy, xx = torch.meshgrid(torch.arange(L, device=dev), torch.arange(L, device=dev),
                            indexing="ij")
    masks = [((xx + yy) % 2 == c) for c in (0, 1)]

    def sweep(s):
        for m in masks:
            nb = s.roll(1, 1) + s.roll(-1, 1) + s.roll(1, 2) + s.roll(-1, 2)
            dE = 2.0 * s * nb
            acc = (torch.rand(s.shape, device=dev, generator=g) < torch.exp(-beta * dE)) & m
            s = torch.where(acc, -s, s)
        return s

    for _ in range(2):
        s = sweep(s)
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(sweeps):
            s = sweep(s)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) * 1e6)
    ns = statistics.median(times)
    name = torch.cuda.get_device_name(0)
    del s
    torch.cuda.empty_cache()
    return R * L * L * sweeps / ns, name


MSC_LAUNCHES = ((128, 1), (128, 4), (128, 8), (256, 8), (128, 32))
BYTE_LAUNCHES = (64, 128, 256, (128, 2048))


def _show(row):
    print(f"{row['kernel']:9s} {row['algorithm']:10s} T={row['temps']:6s} h={row['h']:<4g} "
          f"{row['R']:5d} x {row['L']:5d}^2  launch {row['launch']:11s} threads "
          f"{row['threads']} grid {row['grid']}: {row['flips_per_ns']:8.1f} flips/ns "
          f"({row['ms_per_sweep']:.3f} ms/sweep, spread {row['spread'][0]:.2f}-"
          f"{row['spread'][1]:.2f})", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="also write the results to this JSON file")
    ap.add_argument("--quick", action="store_true", help="smaller sizes, fewer repetitions")
    args = ap.parse_args(argv)

    if not gpu.gpu_available():
        print("gpu_mc: no CUDA GPU found (numba.cuda.is_available() is False); nothing to measure",
              file=sys.stderr)
        return 2
    from numba import cuda

    name = cuda.get_current_device().name
    card = name.decode() if isinstance(name, bytes) else str(name)
    print(f"card: {card}", flush=True)
    reps = 3 if args.quick else 5
    sweeps = 10 if args.quick else 20
    # (R lattices, L), both kernels at T_c: ~2^28 spins each except the quick run
    sizes = [(64, 1024)] if args.quick else [(16, 4096), (256, 1024), (4096, 128)]
    results = {"card": card, "rows": [], "torch": None}
    best = {}

    def run(kernel, R, L, launches, **kw):
        t0 = time.perf_counter()
        try:
            rows = time_kernel(cuda, kernel, R, L, launches, sweeps, reps, **kw)
        except Exception as exc:  # report and go on with the other measurements
            print(f"{kernel} {R} x {L}^2 {kw}: failed ({type(exc).__name__}: {exc})", flush=True)
            return None
        for row in rows:
            _show(row)
            results["rows"].append(row)
        top = max(rows, key=lambda r: r["flips_per_ns"])
        print(f"  ({time.perf_counter() - t0:.1f} s with compilation)", flush=True)
        return top

    for R, L in sizes:
        for kernel, launches in (("multispin", MSC_LAUNCHES), ("bytes", BYTE_LAUNCHES)):
            top = run(kernel, R, L, launches)
            if top and (kernel not in best or top["flips_per_ns"] > best[kernel]["flips_per_ns"]):
                best[kernel] = top
    if not args.quick and "multispin" in best:  # the general cases, at the best size and launch
        R, L, launch = best["multispin"]["R"], best["multispin"]["L"], best["multispin"]["launch"]
        launch = [x for x in MSC_LAUNCHES if str(x) == launch]
        extra = {"spread-T": run("multispin", R, L, launch, temps="spread"),
                 "field": run("multispin", R, L, launch, couplings=Couplings(1.0, 1.0, 0.0, 0.1)),
                 "heatbath": run("multispin", R, L, launch, algorithm="heatbath")}
        results["multispin_cases"] = extra
        run("multispin", 1, 16384, launch)  # one lattice (the byte lanes need four)
    trate = None
    if best:
        ref = best.get("multispin") or best.get("bytes")
        R, L = ref["R"], ref["L"]
        try:
            tsweeps = 5 if args.quick else 10
            trate, tname = time_torch(R, L, tsweeps, reps)
            results["torch"] = dict(R=R, L=L, sweeps=tsweeps, flips_per_ns=trate, card=tname)
            print(f"naive PyTorch checkerboard {R} x {L}^2 at T_c: {trate:8.2f} flips/ns "
                  f"({tname})", flush=True)
        except Exception as exc:  # keep the spinsym figures even if torch is unusable here
            print(f"naive PyTorch checkerboard: not measured ({type(exc).__name__}: {exc})")
    print()
    print(f"== {card} ==")
    labels = {"multispin": "spinsym GPU multi-spin (MultiSpinGPU)",
              "bytes": "spinsym GPU byte-lane (CheckerboardGPU)"}
    for kernel in ("multispin", "bytes"):
        if kernel in best:
            b = best[kernel]
            print(f"{labels[kernel]}, Metropolis at T_c, {b['R']} lattices of {b['L']}x{b['L']}, "
                  f"threads {b['threads']}, grid {b['grid']}: {b['flips_per_ns']:.1f} spin flips/ns")
    if trate:
        print(f"naive PyTorch checkerboard (same card): {trate:.2f} spin flips/ns")
    if "multispin" in best and "bytes" in best:
        results["ratio_multispin_bytes"] = best["multispin"]["flips_per_ns"] / \
            best["bytes"]["flips_per_ns"]
        print(f"ratio multi-spin / byte-lane: {results['ratio_multispin_bytes']:.2f}x")
    for kernel in ("multispin", "bytes"):
        if trate and kernel in best:
            results[f"ratio_{kernel}_torch"] = best[kernel]["flips_per_ns"] / trate
            print(f"ratio {kernel} / PyTorch: {results[f'ratio_{kernel}_torch']:.1f}x")
    for name_, row in (results.get("multispin_cases") or {}).items():
        if row:
            print(f"multi-spin {name_}: {row['flips_per_ns']:.1f} spin flips/ns")
    results["best"] = best
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
