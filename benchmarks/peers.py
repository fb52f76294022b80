"""spinsym against the peer package mcising, side by side in one run, by hand:

    .venv/bin/python benchmarks/peers.py [--quick] [--repeats N] [--target SECONDS]

spinsym runs in this process; mcising (PyPI, a Rust core; it needs numpy >= 2.2, so it lives
in its own venv, ``.venv-peers``, made with ``python3 -m venv .venv-peers &&
.venv-peers/bin/pip install mcising``) runs in one subprocess of ``.venv-peers/bin/python``
that executes the small script ``CHILD`` below and imports nothing of spinsym.  Rows (square
lattice, J = 1, h = 0, T = T_c unless said otherwise):

* Metropolis kernel, L = 64 and 512: spin-flip attempts per ns; spinsym's kernel as the
  driver makes it (the multi-spin kernel, ``Chain.run``, one call of n sweeps) against
  ``IsingSimulation.sweep(n)`` (a sequential scan);
* the same kernel at L = 512 storing a configuration every 10 sweeps (``Chain.run(n, 10)``,
  no driver), against the same mcising sweep;
* Metropolis through simulate, L = 512, a configuration stored every 10 sweeps, one thread:
  ``spinsym.simulate`` in memory and the ``simulate`` command's path into an HDF5 file
  (``run_config(..., out=FILE)``), against mcising's Metropolis sweep as above;
* Wolff, L = 64 and 512: ns per flipped spin (n single clusters; mcising's ``attempted`` is
  the sum of its cluster sizes);
* Swendsen–Wang, L = 64 and 512: ns per site and sweep;
* ±J spin glass, L = 512, T = 1, through ``spinsym.simulate`` (stored every 10 sweeps; the
  couplings of benchmarks/spin_glass.py): flips per ns, against issue 12's target 0.3
  (mcising has no per-bond couplings);
* XY Metropolis, L = 256, T = 0.9: site updates per ns, kernel alone (step adapted, then
  frozen) and through ``spinsym.simulate`` (mcising has no XY model).

Every cluster row starts both programs from the same configuration, thermalized by spinsym's
Swendsen–Wang (mcising's ``set_spins``); the Metropolis kernel rows too.  Each side's work
per timing is calibrated to about ``--target`` seconds (spinsym: of CPU time; mcising: wall); the two sides alternate, timing after
timing, and each keeps the best of ``--repeats`` by wall time and by CPU time
(``time.process_time``, all threads of its process, which other jobs on a shared machine
barely change).  Everything is pinned to one thread (NUMBA_NUM_THREADS, OMP_NUM_THREADS,
RAYON_NUM_THREADS = 1, spinsym ``threads=1``).  The load average is printed before and after.
"""

from __future__ import annotations

import os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
             "RAYON_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEER_PYTHON = os.path.join(ROOT, ".venv-peers", "bin", "python")
TC = 2.0 / np.log(1.0 + np.sqrt(2.0))

# The peer side: JSON commands on stdin, one JSON answer per line on stdout.
CHILD = r"""
import json, sys, time
import numpy as np
import mcising
from mcising._core import IsingSimulation

sims = {}

def timed(sim, n, T):
    w, c = time.perf_counter(), time.process_time()
    _, attempted, _ = sim.sweep(n, temperature=T)
    return time.perf_counter() - w, time.process_time() - c, attempted

print(json.dumps({"version": getattr(mcising, "__version__", "?")}), flush=True)
for line in sys.stdin:
    q = json.loads(line)
    if q["cmd"] == "setup":
        sim = IsingSimulation(q["L"], 1.0, 0.0, 0.0, 0.0, 1, q["alg"], "square")
        sim.set_spins(np.load(q["spins"]).astype(np.int8))
        sim.sweep(q["warm"], temperature=q["T"])
        sims[q["key"]] = (sim, q["T"])
        print(json.dumps({}), flush=True)
    elif q["cmd"] == "calibrate":
        sim, T = sims[q["key"]]
        n = 1
        while True:
            wall, _, _ = timed(sim, n, T)
            if wall >= q["target"] / 5 or n >= 1 << 40:
                break
            n *= max(2, min(64, int(q["target"] / 5 / max(wall, 1e-6)) + 1))
        print(json.dumps({"n": max(1, int(n * q["target"] / wall))}), flush=True)
    elif q["cmd"] == "time":
        sim, T = sims[q["key"]]
        wall, cpu, units = timed(sim, q["n"], T)
        print(json.dumps({"wall": wall, "cpu": cpu, "units": units}), flush=True)
"""


class Peer:
    """The mcising subprocess."""

    def __init__(self):
        env = dict(os.environ, PYTHONNOUSERSITE="1")
        env.pop("PYTHONPATH", None)
        self.proc = subprocess.Popen([PEER_PYTHON, "-c", CHILD], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env, cwd=HERE)
        self.version = self._read()["version"]

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"peers.py: the mcising subprocess stopped (exit status "
                             f"{self.proc.wait()})")
        return json.loads(line)

    def ask(self, **q):
        self.proc.stdin.write(json.dumps(q) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def timed(fn, n):
    """(wall, CPU, work units) of fn(n), which returns its work units; ``fn.prepare()``, where
    fn has it, runs first, untimed."""
    prepare = getattr(fn, "prepare", None)
    if prepare is not None:
        prepare()
    w, c = time.perf_counter(), time.process_time()
    units = fn(n)
    return time.perf_counter() - w, time.process_time() - c, units


def calibrate(fn, target, least=1):
    """n >= ``least`` such that fn(n) takes about ``target`` seconds of CPU time (not wall
    time: on a loaded machine the work per timing, and so the share of a run's fixed costs,
    stays what it is on an idle one)."""
    n = least
    while True:
        _, cpu, _ = timed(fn, n)
        if cpu >= target / 5 or n >= 1 << 40:
            return max(least, int(n * target / max(cpu, 1e-6)))
        n *= max(2, min(64, int(target / 5 / max(cpu, 1e-6)) + 1))


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# -- spinsym side: each maker returns fn(n) -> work units ------------------------------------

def _state(seed):
    from spinsym.mc.rng import state_from_seedsequence

    return state_from_seedsequence(np.random.SeedSequence(seed))


def thermalized(L, T, sweeps, folder):
    """A configuration thermalized by spinsym's Swendsen–Wang at T, and the file the peer
    reads it from."""
    from spinsym.mc.cluster import swendsen_wang_chain

    spins = np.random.default_rng(L).choice(np.array([-1, 1], np.int8), size=(L, L))
    swendsen_wang_chain(spins, _state(L), 1.0 / T, 1.0, 1.0, 0.0, sweeps,
                        np.empty((1, L, L), np.int8))
    path = os.path.join(folder, f"start_{L}.npy")
    np.save(path, spins)
    return spins, path


def metropolis_kernel(L, T, start, every=0):
    """The kernel ``simulate`` runs (multi-spin), one call of n sweeps, or with ``every``
    one call of n samples stored every ``every`` sweeps (no driver); units: attempts."""
    from spinsym.mc.run import Chain, SimulationConfig

    cfg = SimulationConfig(model="ising", L=L, temperatures=(T,), algorithm="metropolis",
                           sweeps=10, thermalize=0, every=10, threads=1)
    chain = Chain(cfg, 0, np.random.SeedSequence(1))
    chain.state_array[...] = start
    chain.run(1, 10, measure=False)  # compile, pack

    def fn(n):
        if every:
            chain.run(n, every, measure=False)
            return n * every * L * L
        chain.run(1, n, measure=False)
        return n * L * L

    return fn, chain.kernel.stats()["kernel"]


def wolff(L, T, start):
    """n single clusters (wolff_chain with one cluster per sweep); units: flipped spins."""
    from spinsym.mc.cluster import wolff_chain

    spins, state, out = start.copy(), _state(2), np.empty((1, L, L), np.int8)
    wolff_chain(spins, state, 1.0 / T, 1.0, 1.0, 0.0, 10, out, 1)
    return lambda n: int(wolff_chain(spins, state, 1.0 / T, 1.0, 1.0, 0.0, n, out, 1))


def swendsen_wang(L, T, start):
    """n sweeps; units: site-sweeps."""
    from spinsym.mc.cluster import swendsen_wang_chain

    spins, state, out = start.copy(), _state(3), np.empty((1, L, L), np.int8)
    swendsen_wang_chain(spins, state, 1.0 / T, 1.0, 1.0, 0.0, 2, out)

    def fn(n):
        swendsen_wang_chain(spins, state, 1.0 / T, 1.0, 1.0, 0.0, n, out)
        return n * L * L

    return fn


SIM_LEAST = 50  # at least 500 sweeps per timing through simulate (its setup is amortized)


def through_simulate(model, L, T, folder=None, **kw):
    """10·n sweeps through ``spinsym.simulate`` (in memory) or, with ``folder``, the simulate
    command's path into an HDF5 file; one thread, stored every 10, no thermalization.  Each
    timing makes a new file (or Run); the previous timing's result is deleted (or released)
    untimed, in ``fn.prepare``: replacing an old 100 MB file, or freeing an old Run, is the
    operating system's work on the last output, not the simulation's."""
    import spinsym
    from spinsym.api import run_config, simulation_config

    kept = []  # the last result: a Run, or a file's path

    def fn(n):
        args = dict(L=L, T=[T], sweeps=10 * n, thermalize=0, every=10, threads=1, seed=1, **kw)
        if folder is None:
            kept.append(spinsym.simulate(model, **args))
        else:
            path = os.path.join(folder, "sim.h5")
            run_config(simulation_config(model, **args), out=path)
            kept.append(path)
        return 10 * n * L * L

    def prepare():
        while kept:
            old = kept.pop()
            if isinstance(old, str) and os.path.exists(old):
                os.unlink(old)

    fn.prepare = prepare
    fn(1)  # compile
    return fn


def xy_kernel(L, T):
    """XY Metropolis as ``simulate`` runs it: step adapted first, then frozen; n sweeps."""
    from spinsym.mc.run import Chain, SimulationConfig

    cfg = SimulationConfig(model="xy", L=L, temperatures=(T,), algorithm="metropolis",
                           sweeps=10, thermalize=0, every=10, threads=1)
    chain = Chain(cfg, 0, np.random.SeedSequence(1))
    chain.run(1, 200, adapt=True, measure=False)

    def fn(n):
        chain.run(1, n, measure=False)
        return n * L * L

    return fn


# -- the table ---------------------------------------------------------------------------------

class Table:
    def __init__(self, repeats, target, peer):
        self.repeats, self.target, self.peer = repeats, target, peer
        self.rows = []

    def row(self, label, unit, fn, peer_key=None, note="", least=1):
        """Time fn (and the peer row ``peer_key``, set up already) alternately; ``unit`` is
        "per_ns" (units per ns, higher is better) or "ns_per" (ns per unit, lower is better);
        fn(n) with n >= ``least``."""
        n = calibrate(fn, self.target, least)
        m = self.peer.ask(cmd="calibrate", key=peer_key, target=self.target)["n"] \
            if peer_key else 0
        best = {"s": [np.inf, np.inf], "p": [np.inf, np.inf]}  # seconds per unit: wall, CPU
        for _ in range(self.repeats):
            wall, cpu, units = timed(fn, n)
            best["s"] = [min(best["s"][0], wall / units), min(best["s"][1], cpu / units)]
            if peer_key:
                r = self.peer.ask(cmd="time", key=peer_key, n=m)
                best["p"] = [min(best["p"][0], r["wall"] / r["units"]),
                             min(best["p"][1], r["cpu"] / r["units"])]
        res = {"label": label, "unit": unit, "note": note,
               "spinsym": [x * 1e9 for x in best["s"]],  # ns per unit
               "peer": [x * 1e9 for x in best["p"]] if peer_key else None}
        self.rows.append(res)
        print(self.format(res), flush=True)
        return res

    @staticmethod
    def value(ns, unit):
        return 1.0 / ns if unit == "per_ns" else ns

    def format(self, r):
        u = r["unit"]
        s = [self.value(x, u) for x in r["spinsym"]]
        text = f"{r['label']:<52s} {s[0]:8.3f} {s[1]:8.3f}"
        if r["peer"] is None:
            text += f"  {'—':>8s} {'—':>8s}  {'—':>7s} {'—':>7s}"
        else:
            p = [self.value(x, u) for x in r["peer"]]
            speed = [pn / sn for pn, sn in zip(r["peer"], r["spinsym"])]
            text += f"  {p[0]:8.3f} {p[1]:8.3f}  {speed[0]:6.2f}x {speed[1]:6.2f}x"
        return text + (f"  {r['note']}" if r["note"] else "")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="2 repeats of about 0.1 s each (a check that everything runs)")
    ap.add_argument("--repeats", type=int, default=None, help="best of this many (default 5)")
    ap.add_argument("--target", type=float, default=None,
                    help="seconds per timing and side (default 0.4)")
    ap.add_argument("--only", choices=("metropolis",), default=None,
                    help="metropolis: only the Metropolis rows at L = 512 (kernel, kernel "
                         "stored every 10, simulate in memory and into a file; ~1 min)")
    a = ap.parse_args(argv)
    repeats = a.repeats or (2 if a.quick else 5)
    target = a.target or (0.1 if a.quick else 0.4)
    if not os.path.exists(PEER_PYTHON):
        print("peers.py: error: no .venv-peers; make it with: python3 -m venv .venv-peers && "
              ".venv-peers/bin/pip install mcising", file=sys.stderr)
        return 2
    sys.path.insert(0, ROOT)
    sys.path.insert(0, HERE)
    import numba

    import spinsym
    from spin_glass import glass

    peer = Peer()
    print(f"spinsym {getattr(spinsym, '__version__', '?')} (git {_git_head()}) vs mcising "
          f"{peer.version}; numba {numba.__version__}, {numba.config.NUMBA_NUM_THREADS} "
          f"thread(s); {os.cpu_count()} cores; best of {repeats}, ~{target} s per timing")
    print(f"load average {load()} (before)")
    print(f"{'':52s} {'spinsym':>17s}  {'mcising':>17s}  {'spinsym speed-up':>15s}")
    print(f"{'row (unit)':<52s} {'wall':>8s} {'CPU':>8s}  {'wall':>8s} {'CPU':>8s}  "
          f"{'wall':>7s} {'CPU':>7s}")
    table = Table(repeats, target, peer)
    res = {}
    with tempfile.TemporaryDirectory() as folder:
        starts = {L: thermalized(L, TC, sw, folder) for L, sw in ((64, 1000), (512, 200))
                  if L == 512 or not a.only}

        def setup(key, alg, L, warm):
            peer.ask(cmd="setup", key=key, alg=alg, L=L, T=TC, spins=starts[L][1], warm=warm)
            return key

        for L in ((512,) if a.only else (64, 512)):
            fn, name = metropolis_kernel(L, TC, starts[L][0])
            res[f"met{L}"] = table.row(f"Metropolis kernel L={L} (flips/ns)", "per_ns", fn,
                                       setup(f"met{L}", "metropolis", L, 10), name)
        fn, name = metropolis_kernel(512, TC, starts[512][0], every=10)
        table.row("Metropolis kernel L=512 stored every 10 (flips/ns)", "per_ns", fn, "met512",
                  name)
        res["sim"] = table.row("Metropolis simulate L=512 every 10 (flips/ns)", "per_ns",
                               through_simulate("ising", 512, TC), "met512", "in memory",
                               SIM_LEAST)
        res["sim_file"] = table.row("Metropolis simulate L=512 every 10 (flips/ns)", "per_ns",
                                    through_simulate("ising", 512, TC, folder), "met512",
                                    "HDF5 file", SIM_LEAST)
        if a.only:
            peer.close()
            print(f"load average {load()} (after)")
            _acceptance_simulate(res)
            return 0
        for L in (64, 512):
            res[f"wolff{L}"] = table.row(f"Wolff L={L} (ns per flipped spin)", "ns_per",
                                         wolff(L, TC, starts[L][0]),
                                         setup(f"wolff{L}", "wolff", L, 20))
        for L in (64, 512):
            res[f"sw{L}"] = table.row(f"Swendsen-Wang L={L} (ns per site-sweep)", "ns_per",
                                      swendsen_wang(L, TC, starts[L][0]),
                                      setup(f"sw{L}", "swendsen_wang", L, 2))
        glass_row = table.row("±J glass L=512 T=1 simulate (flips/ns)", "per_ns",
                              through_simulate("ising", 512, 1.0, couplings=glass(512, 1)),
                              note="target >= 0.3", least=SIM_LEAST)
        table.row("XY Metropolis L=256 T=0.9 kernel (updates/ns)", "per_ns",
                  xy_kernel(256, 0.9))
        table.row("XY Metropolis L=256 T=0.9 simulate (updates/ns)", "per_ns",
                  through_simulate("xy", 256, 0.9), least=SIM_LEAST)
    peer.close()
    print(f"load average {load()} (after)")

    def speedup(r, k):
        return r["peer"][k] / r["spinsym"][k]

    _acceptance_simulate(res)
    w, c = 1 / speedup(res["wolff64"], 0), 1 / speedup(res["wolff64"], 1)
    print(f"  Wolff L=64 time per flipped spin <= 0.8x mcising: {w:.2f}x / {c:.2f}x: "
          f"{'met' if max(w, c) <= 0.8 else 'NOT met'}")
    g = [1 / x for x in glass_row["spinsym"]]
    print(f"  (issue 12) ±J glass through simulate >= 0.3 flips/ns: {g[0]:.3f} / {g[1]:.3f}: "
          f"{'met' if min(g) >= 0.3 else 'NOT met'}")
    return 0


def _acceptance_simulate(res):
    print("acceptance (issue 13), wall / CPU:")
    for key, what in (("sim", "in memory"), ("sim_file", "HDF5 file")):
        r = res[key]
        w, c = (p / s for p, s in zip(r["peer"], r["spinsym"]))
        print(f"  Metropolis through simulate ({what}) >= 13x mcising Metropolis: "
              f"{w:.1f}x / {c:.1f}x: {'met' if min(w, c) >= 13 else 'NOT met'}")
    k, f = res["met512"], res["sim_file"]
    w, c = (a / b for a, b in zip(k["spinsym"], f["spinsym"]))
    print(f"  simulate into a file / kernel alone, L = 512 (speed ratio): {w:.3f} / {c:.3f}")


def _git_head():
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip() or "?"
    except OSError:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
