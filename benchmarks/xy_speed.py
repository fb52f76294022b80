"""XY Metropolis kernel speed against a baseline revision, run by hand:

    .venv/bin/python benchmarks/xy_speed.py [--baseline REV] [--L 256] [--T 0.9] [--rounds 5]

Times ``spinsym.mc.xy.metropolis_chain`` (one thread, no over-relaxation, a sample stored every
10 sweeps, the step adapted first and then frozen, as ``simulate`` runs it) in this checkout
and in the package as it was at ``--baseline`` (default HEAD; extracted with ``git archive``
into a temporary folder).  Each version runs in its own subprocess, the two alternate for
``--rounds`` rounds, and each reports the best and the median of its rounds: site updates per
ns by CPU time of the kernel thread (``time.thread_time``, which other jobs on a shared machine
change less than the wall time) and by wall time.  The load average is printed before and
after.  ``--overrelax K`` times sweeps with K over-relaxation passes (the float64 split kernel)
instead of the default pure Metropolis sweeps (on even L the float32 kernel on integer angles
since commit ea2fa5e; ``--baseline 0eb8f34`` is the float64 kernel before it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r"""
import json, sys, time
import numpy as np
from spinsym.mc import xy
from spinsym.mc.rng import state_from_seedsequence
L, T, sweeps, repeats, n_or = (int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]),
                               int(sys.argv[4]), int(sys.argv[5]))
beta = 1.0 / T
theta = np.random.default_rng(0).uniform(0.0, 2.0 * np.pi, (L, L))
state = state_from_seedsequence(np.random.SeedSequence(0))
step = np.array([1.0])
xy.metropolis_chain(theta, state, beta, 1.0, 1.0, 0.0, 0.0, 50, np.empty((1, L, L)), step, n_or,
                    True)
every = 10
out = np.empty((sweeps // every, L, L))
cpu = wall = float("inf")
acc = 0
for _ in range(repeats):
    t0, c0 = time.perf_counter(), time.thread_time()
    acc = xy.metropolis_chain(theta, state, beta, 1.0, 1.0, 0.0, 0.0, every, out, step, n_or,
                              False)
    cpu = min(cpu, time.thread_time() - c0)
    wall = min(wall, time.perf_counter() - t0)
n = out.shape[0] * every * L * L
print(json.dumps({"cpu": n / cpu / 1e9, "wall": n / wall / 1e9, "acceptance": acc / n,
                  "step": float(step[0])}))
"""


def run(path: str, L: int, T: float, sweeps: int, repeats: int, n_or: int) -> dict:
    env = dict(os.environ, PYTHONPATH=path, NUMBA_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", CHILD, str(L), str(T), str(sweeps),
                           str(repeats), str(n_or)], capture_output=True, text=True, env=env,
                          cwd=path, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", default="HEAD", help="git revision to compare with")
    ap.add_argument("--L", type=int, default=256)
    ap.add_argument("--T", type=float, default=0.9)
    ap.add_argument("--sweeps", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--overrelax", type=int, default=0)
    args = ap.parse_args()
    print(f"XY Metropolis, L = {args.L}, T = {args.T}, one thread, stored every 10 sweeps, "
          f"{args.overrelax} over-relaxation passes per sweep; load average before: {load()}")
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", ROOT, "archive", args.baseline, "spinsym"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        runs: dict[str, list[dict]] = {"baseline": [], "this checkout": []}
        for _ in range(args.rounds):
            for name, path in (("baseline", tmp), ("this checkout", ROOT)):
                runs[name].append(run(path, args.L, args.T, args.sweeps, args.repeats,
                                      args.overrelax))
    best = {}
    for name, rs in runs.items():
        cpu = [r["cpu"] for r in rs]
        wall = [r["wall"] for r in rs]
        best[name] = (max(cpu), max(wall))
        print(f"  {name:14s} best {max(cpu):.3f}, median {statistics.median(cpu):.3f} site "
              f"updates/ns (CPU time); best {max(wall):.3f}, median "
              f"{statistics.median(wall):.3f} (wall); acceptance {rs[-1]['acceptance']:.3f} at "
              f"step {rs[-1]['step']:.3f}")
    (bc, bw), (nc, nw) = best["baseline"], best["this checkout"]
    ratios = [n["cpu"] / b["cpu"] for b, n in zip(runs["baseline"], runs["this checkout"])]
    print(f"  ratio          best {nc / bc:.2f}x, median of the rounds "
          f"{statistics.median(ratios):.2f}x (CPU time); best {nw / bw:.2f}x (wall); baseline "
          f"{args.baseline}; load average after: {load()}")

if __name__ == "__main__":
    main()
