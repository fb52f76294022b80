"""GPU Ising checkerboard speed, run by hand on a machine with an NVIDIA GPU:

    PYTHONPATH=. python benchmarks/gpu_mc.py [--json out.json] [--quick]

Measures spin-flip attempts per ns of :class:`spinsym.mc.gpu.CheckerboardGPU` (Metropolis,
many lattices at once, each at its own temperature) and, in the same run on the same card, of
a naive PyTorch checkerboard (float32 spins, ``torch.roll`` neighbour sums, one
``torch.rand`` per site and half-sweep, ``torch.where``), and prints the ratio.  Times come
from CUDA events around many sweeps after a warm-up that compiles the kernel (median of
several repetitions).  Without a GPU it prints one line and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

import numpy as np

from spinsym.hamiltonians import Couplings
from spinsym.mc import gpu


def time_spinsym(cuda, R, L, blocks, sweeps, reps, algorithm="metropolis"):
    """flips/ns of CheckerboardGPU for each block size (one set of lattices, reused)."""
    rng = np.random.default_rng(0)
    spins = rng.integers(0, 2, size=(R, L, L), dtype=np.int8) * np.int8(2) - np.int8(1)
    temps = np.linspace(1.5, 3.5, R)
    rows = []
    sim = gpu.CheckerboardGPU(spins, 1.0 / temps, Couplings(), algorithm, key=(1, 2))
    del spins
    for block in blocks:
        grid = None
        if isinstance(block, tuple):  # (threads, blocks over rows): a persistent-style grid
            block, gy = block
            sim.set_launch(block)
            grid = (sim.grid[0], min(sim.grid[1], gy))
        sim.set_launch(block, grid)
        sim.sweep(2)  # compile and warm up
        sim.synchronize()
        times = []
        for _ in range(reps):
            start, end = cuda.event(timing=True), cuda.event(timing=True)
            start.record()
            sim.sweep(sweeps)
            end.record()
            end.synchronize()
            times.append(cuda.event_elapsed_time(start, end) * 1e6)  # ns
        ns = statistics.median(times)
        # the words still hold 0/1 bytes only (nothing written out of place)
        w = sim.words[0][:1 << 16].copy_to_host()
        ok = bool(np.all((w & np.uint32(0xFEFEFEFE)) == 0))
        rows.append(dict(R=R, L=L, block=block, sweeps=sweeps, flips_per_ns=R * L * L * sweeps / ns,
                         ms_per_sweep=ns / sweeps / 1e6, spread=[min(times) / ns, max(times) / ns],
                         words_ok=ok, threads=list(sim.block), grid=list(sim.grid)))
    del sim
    return rows


def time_torch(R, L, sweeps, reps):
    import torch

    dev = torch.device("cuda")
    g = torch.Generator(device=dev)
    g.manual_seed(0)
    s = (torch.randint(0, 2, (R, L, L), device=dev, generator=g).float() * 2 - 1)
    beta = (1.0 / torch.linspace(1.5, 3.5, R, device=dev))[:, None, None]
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
    # (R lattices, L): all ~2^28 spins except the quick run
    sizes = [(64, 1024)] if args.quick else [(256, 1024), (16, 4096), (4096, 128)]
    results = {"card": card, "spinsym": [], "torch": None}
    best = None
    for R, L in sizes:
        sweeps = 10 if args.quick else 20
        try:
            rows = time_spinsym(cuda, R, L, (64, 128, 256, (128, 2048)), sweeps, reps)
        except Exception as exc:  # report and go on with the other sizes
            print(f"spinsym  {R:5d} x {L:5d}^2: failed ({type(exc).__name__}: {exc})", flush=True)
            continue
        for row in rows:
            results["spinsym"].append(row)
            print(f"spinsym  {R:5d} x {L:5d}^2  block {row['threads']} grid {row['grid']}: "
                  f"{row['flips_per_ns']:8.1f} flips/ns ({row['ms_per_sweep']:.3f} ms/sweep, "
                  f"words ok: {row['words_ok']})", flush=True)
            if best is None or row["flips_per_ns"] > best["flips_per_ns"]:
                best = row
    R, L = best["R"], best["L"]
    try:
        sweeps = 5 if args.quick else 10
        trate, tname = time_torch(R, L, sweeps, reps)
        results["torch"] = dict(R=R, L=L, sweeps=sweeps, flips_per_ns=trate, card=tname)
        print(f"naive PyTorch checkerboard {R} x {L}^2: {trate:8.2f} flips/ns ({tname})",
              flush=True)
    except Exception as exc:  # keep the spinsym figure even if torch is unusable here
        print(f"naive PyTorch checkerboard: not measured ({type(exc).__name__}: {exc})")
        trate = None
    print()
    print(f"== {card} ==")
    print(f"spinsym GPU checkerboard (Metropolis, {R} lattices of {L}x{L}, threads "
          f"{best['threads']}, grid {best['grid']}): {best['flips_per_ns']:.1f} spin flips/ns")
    if trate:
        print(f"naive PyTorch checkerboard (same lattices, same card): {trate:.2f} spin flips/ns")
        print(f"ratio: {best['flips_per_ns'] / trate:.1f}x")
        results["ratio"] = best["flips_per_ns"] / trate
    results["best"] = best
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
