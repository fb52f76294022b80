"""XY Metropolis kernel speed against a baseline revision, run by hand:

    .venv/bin/python benchmarks/xy_speed.py [--baseline REV] [--L 256] [--T 0.9] [--rounds 5]

Times ``spinsym.mc.xy.metropolis_chain`` (one thread, no over-relaxation, a sample stored every
10 sweeps, the step adapted first and then frozen, as ``simulate`` runs it) in this checkout
and in the package as it was at ``--baseline`` (default HEAD; extracted with ``git archive``
into a temporary folder).  Each version runs in its own subprocess, the two alternate for
``--rounds`` rounds, and each reports the best of its rounds: site updates per ns by CPU time
of the kernel thread (``time.thread_time``, which other jobs on a shared machine barely
change) and by wall time.  The load average is printed before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r"""
import json, sys, time
import numpy as np
from spinsym.mc import xy
from spinsym.mc.rng import state_from_seedsequence
L, T, sweeps, repeats = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
beta = 1.0 / T
theta = np.random.default_rng(0).uniform(0.0, 2.0 * np.pi, (L, L))
state = state_from_seedsequence(np.random.SeedSequence(0))
step = np.array([1.0])
xy.metropolis_chain(theta, state, beta, 1.0, 1.0, 0.0, 0.0, 50, np.empty((1, L, L)), step, 0, True)
every = 10
out = np.empty((sweeps // every, L, L))
cpu = wall = float("inf")
acc = 0
for _ in range(repeats):
    t0, c0 = time.perf_counter(), time.thread_time()
    acc = xy.metropolis_chain(theta, state, beta, 1.0, 1.0, 0.0, 0.0, every, out, step, 0, False)
    cpu = min(cpu, time.thread_time() - c0)
    wall = min(wall, time.perf_counter() - t0)
n = out.shape[0] * every * L * L
print(json.dumps({"cpu": n / cpu / 1e9, "wall": n / wall / 1e9, "acceptance": acc / n,
                  "step": float(step[0])}))
"""


def run(path: str, L: int, T: float, sweeps: int, repeats: int) -> dict:
    env = dict(os.environ, PYTHONPATH=path, NUMBA_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", CHILD, str(L), str(T), str(sweeps),
                           str(repeats)], capture_output=True, text=True, env=env, cwd=path,
                          check=True)
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
    args = ap.parse_args()
    print(f"XY Metropolis, L = {args.L}, T = {args.T}, one thread, stored every 10 sweeps; "
          f"load average before: {load()}")
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", ROOT, "archive", args.baseline, "spinsym"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        best = {"baseline": None, "this checkout": None}
        for _ in range(args.rounds):
            for name, path in (("baseline", tmp), ("this checkout", ROOT)):
                r = run(path, args.L, args.T, args.sweeps, args.repeats)
                b = best[name]
                best[name] = r if b is None else {**r, "cpu": max(b["cpu"], r["cpu"]),
                                                  "wall": max(b["wall"], r["wall"])}
    for name, r in best.items():
        print(f"  {name:14s} {r['cpu']:.3f} site updates/ns (CPU time), {r['wall']:.3f} (wall);"
              f" acceptance {r['acceptance']:.3f} at step {r['step']:.3f}")
    b, n = best["baseline"], best["this checkout"]
    print(f"  ratio          {n['cpu'] / b['cpu']:.2f}x (CPU time), {n['wall'] / b['wall']:.2f}x "
          f"(wall); baseline {args.baseline}; load average after: {load()}")


if __name__ == "__main__":
    main()
