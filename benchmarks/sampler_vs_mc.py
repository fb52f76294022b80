"""Effective independent samples per CPU-second: the trained sampler with MH against Monte Carlo.

    .venv/bin/python benchmarks/sampler_vs_mc.py [--L 16,32,64] [--cases tc,j2,field]
        [--checkpoint CKPT [--checkpoint CKPT ...]] [--n 1000] [--sweeps 20000] [--json OUT]

At the same (L, T, couplings) for each case

* ``tc``: Jx = Jy = 1, J2 = 0, h = 0 at Onsager's T_c = 2/ln(1 + √2);
* ``j2``: the frustrated J2 = −0.45 (antiferromagnetic diagonals; the stripe boundary is at
  J2 = −0.5 for Jx = Jy = 1 in the sign convention of docs/conventions.md) at T = 0.64, where
  the ferromagnet orders (Binder cumulants of L = 16 and 32 cross near T = 0.62–0.66);
* ``field``: h = 0.1 at T = 2.269;

this runs Wolff and multi-spin Metropolis (``spinsym.simulate(..., algorithm=...)``, one
thread, a configuration stored every sweep) and the sampler with MH
(``spinsym.Sampler.sample(..., mh=True)``, one torch thread), and prints for each the
effective number of independent samples

    ESS = n / (2 max(τ_E, τ_|m|)),  capped at the number of distinct configurations in the chain,

(τ_int from :func:`spinsym.stats.tau_int`, floored at 1/2; the cap matters for an MH chain that
rejects everything) per CPU-second and per wall-second of the whole call: thermalization included
for Monte Carlo, the sampling alone for the sampler (its training time is printed separately, from
the checkpoint).  Wolff needs h = 0: the field case says "n/a" for it.  spinsym's Wolff does
run with J2 (clusters on frustrated bonds too, docs/conventions.md), but near the stripe
boundary its clusters span the lattice and it mixes worse than Metropolis: the j2 rows show it.
A chain shorter than 50 τ is marked: its τ, ESS and error bar are unreliable (Sokal's window
fails), and the sampler's mean energy is compared with the Monte Carlo one (a chain whose energy
is off by more than 4 σ counts effective samples of the wrong distribution).

``--checkpoint``: one checkpoint used at every L, or one per L (in the order of ``--L``).
Without one, a tiny SymPE sampler is trained here first (on short Metropolis runs of the three
cases at L = 16; about a minute) and the output says so: it shows the method, not a good sampler.
Ratios are measured side by side in one run; on a shared machine repeat the run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time

import numpy as np

T_C = 2.0 / math.log(1.0 + math.sqrt(2.0))
CASES = {
    "tc": dict(T=T_C, Jx=1.0, Jy=1.0, J2=0.0, h=0.0),
    "j2": dict(T=0.64, Jx=1.0, Jy=1.0, J2=-0.45, h=0.0),
    "field": dict(T=2.269, Jx=1.0, Jy=1.0, J2=0.0, h=0.1),
}
ALGORITHMS = ("wolff", "metropolis")
#: a chain shorter than this many τ_int gives unreliable τ (Sokal's window) and error bars
SHORT_RUN = 50


def ess(energy, configs) -> tuple[float, float, float, int]:
    """(ESS, τ_E, τ_|m|, distinct): n / (2 max(τ_E, τ_|m|)), τ floored at 1/2, capped at the
    number of distinct consecutive states of the chain."""
    from spinsym.stats import tau_int

    n = len(energy)
    m = np.abs(configs.sum(axis=(1, 2), dtype=np.int64)) / configs[0].size
    tau_e, tau_m = tau_int(np.asarray(energy, dtype=np.float64))[0], tau_int(m)[0]
    distinct = 1
    for lo in range(1, n, 4096):
        hi = min(n, lo + 4096)
        distinct += int(np.count_nonzero(np.any(configs[lo:hi] != configs[lo - 1:hi - 1],
                                                axis=(1, 2))))
    value = min(n / (2.0 * max(tau_e, tau_m, 0.5)), float(distinct))
    return value, tau_e, tau_m, distinct


def timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def mc_row(case: dict, L: int, algorithm: str, sweeps: int, thermalize: int, seed: int) -> dict:
    import spinsym
    from spinsym.errors import SpinsymError

    kw = {k: v for k, v in case.items()}
    try:
        run, wall, cpu = timed(lambda: spinsym.simulate(
            "ising", L=L, algorithm=algorithm, sweeps=sweeps, thermalize=thermalize, every=1,
            seed=seed, threads=1, **kw))
    except SpinsymError as exc:
        return {"method": algorithm, "skipped": str(exc)}
    g = run[0]
    value, te, tm, distinct = ess(g.energy, g.configs)
    return {"method": f"{algorithm} ({g.attrs.get('kernel', algorithm)})", "n": g.n_samples,
            "ess": value, "tau_e": te, "tau_m": tm, "wall": wall, "cpu": cpu,
            **energy_estimate(g.energy, L)}


def energy_estimate(energy, L: int) -> dict:
    from spinsym.stats import mean_err

    mean, err, _ = mean_err(np.asarray(energy, dtype=np.float64) / (L * L))
    return {"e": mean, "e_err": err}


def sampler_row(sampler, case: dict, L: int, n: int, seed: int) -> dict:
    from spinsym.errors import SpinsymError

    c = {k: case[k] for k in ("Jx", "Jy", "J2", "h")}
    try:
        run, wall, cpu = timed(lambda: sampler.sample(T=case["T"], L=L, n=n, seed=seed, mh=True,
                                                      couplings=c, threads=1))
    except SpinsymError as exc:
        return {"method": "sampler+mh", "skipped": str(exc)}
    g = run[0]
    value, te, tm, distinct = ess(g.energy, g.configs)
    row = {"method": f"sampler:{sampler.ckpt['arch']}+mh", "n": g.n_samples, "ess": value,
           "tau_e": te, "tau_m": tm, "wall": wall, "cpu": cpu, "distinct": distinct,
           **energy_estimate(g.energy, L)}
    for key in ("acceptance", "ess", "is_ess_fraction"):
        if key in g.attrs:
            row["run_" + key] = float(g.attrs[key])
    return row


def train_tiny(workdir: str, seed: int, steps: int, log) -> str:
    """A small SymPE sampler trained on short Metropolis runs of every case at L = 16."""
    import spinsym
    from spinsym.tasks import sampler as S

    paths = []
    for name, case in CASES.items():
        run = spinsym.simulate("ising", L=16, algorithm="metropolis", sweeps=4000, every=20,
                               thermalize=1000, seed=seed, threads=1, **case)
        paths.append(run.save(os.path.join(workdir, f"train_{name}.h5")))
    cfg = S.SamplerTrainConfig(arch="sympe", seed=seed, steps=steps, batch=16, width=2, depth=2,
                               threads=1, checkpoint_every=0)
    ckpt = S.train(cfg, paths)
    out = S.save_checkpoint(ckpt, os.path.join(workdir, "tiny_sampler.pt"))
    log(f"no --checkpoint: trained a tiny SymPE sampler here ({steps} steps, batch 16, width 2, "
        f"depth 2, on Metropolis data at L = 16 of the three cases) in "
        f"{ckpt.get('train_seconds', float('nan')):.0f} s; it shows the method, not a good "
        f"sampler")
    return out


def fmt_row(r: dict) -> str:
    if "skipped" in r:
        return f"  {r['method']:<28} n/a: {r['skipped']}"
    line = (f"  {r['method']:<24} n {r['n']:6d}  τ_E {r['tau_e']:6.2f}  τ_|m| {r['tau_m']:6.2f}"
            f"  ESS {r['ess']:7.1f}  cpu {r['cpu']:6.2f}s  wall {r['wall']:6.2f}s"
            f"  ESS/cpu-s {r['ess'] / max(r['cpu'], 1e-9):9.1f}  e {r['e']:+.4f}({r['e_err']:.4f})")
    if r["n"] < SHORT_RUN * max(r["tau_e"], r["tau_m"]):
        line += f"  [run < {SHORT_RUN} τ: τ, ESS and error unreliable]"
    if "run_acceptance" in r:
        line += (f"\n  {'':<24} acceptance {r['run_acceptance']:.3f}, distinct states "
                 f"{r['distinct']}, the run's own ess {r.get('run_ess', float('nan')):.1f}, "
                 f"IS-ESS/n {r.get('run_is_ess_fraction', float('nan')):.3f}")
    return line


def summary(block: list, train_cpu: float) -> list:
    """The ratio lines of one (L, case): ESS per CPU-second of each Monte Carlo method over the
    sampler's, the sampler's energy bias against the best Monte Carlo estimate, and what Monte
    Carlo makes in the sampler's training time."""
    ok = [r for r in block if "skipped" not in r]
    samp = [r for r in ok if r["method"].startswith("sampler")]
    mc = [r for r in ok if not r["method"].startswith("sampler")]
    if not samp or not mc:
        return []
    rate = lambda r: r["ess"] / max(r["cpu"], 1e-9)  # noqa: E731
    s = samp[0]
    best = min(mc, key=lambda r: r["e_err"])
    z = abs(s["e"] - best["e"]) / math.hypot(s["e_err"], best["e_err"])
    out = ["  ESS per CPU-second, Monte Carlo / sampler: "
           + "; ".join(f"{r['method'].split(' ')[0]} {rate(r) / max(rate(s), 1e-300):.3g}x"
                       for r in mc)]
    note = ("  (a biased chain: its ESS counts samples of the wrong distribution)"
            if z > 4 else "")
    out.append(f"  sampler energy vs {best['method'].split(' ')[0]}: {s['e'] - best['e']:+.4f} "
               f"per site ({z:.1f} sigma){note}")
    if train_cpu == train_cpu:  # not NaN
        fastest = max(mc, key=rate)
        out.append(f"  in the sampler's {train_cpu:.0f} CPU-s of training, "
                   f"{fastest['method'].split(' ')[0]} makes {rate(fastest) * train_cpu:.3g} "
                   f"effective samples")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--L", default="16,32,64", help="lattice sizes (powers of two for the sampler)")
    p.add_argument("--cases", default=",".join(CASES), help=f"of {', '.join(CASES)}")
    p.add_argument("--checkpoint", action="append", default=[],
                   help="sampler checkpoint: one for every L, or one per L")
    p.add_argument("--n", type=int, default=0,
                   help="sampler proposals per point (default: 1000 at L = 16, 400 at 32, "
                        "100 at 64)")
    p.add_argument("--sweeps", type=int, default=0,
                   help="Monte Carlo sweeps, each stored (default: 100000 at L = 16, 40000 at "
                        "32, 20000 at 64 and above)")
    p.add_argument("--thermalize", type=int, default=2000)
    p.add_argument("--train-steps", type=int, default=150, help="steps of the tiny sampler")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="also write the rows as JSON here")
    a = p.parse_args(argv)
    try:
        sizes = [int(v) for v in a.L.split(",")]
        cases = [c.strip() for c in a.cases.split(",")]
    except ValueError:
        p.error("--L takes comma-separated integers")
    bad = [c for c in cases if c not in CASES]
    if bad:
        p.error(f"unknown case(s) {', '.join(bad)}; choose from {', '.join(CASES)}")
    if len(a.checkpoint) not in (0, 1, len(sizes)):
        p.error("give one --checkpoint for every L, or one per L")

    import torch

    import spinsym
    from spinsym.errors import SpinsymError

    torch.set_num_threads(1)
    log = lambda s: print(s, flush=True)  # noqa: E731
    log(f"sampler vs Monte Carlo: L = {sizes}, cases {cases}; one thread each; "
        f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            ckpts = a.checkpoint or [train_tiny(tmp, a.seed, a.train_steps, log)]
            samplers = [spinsym.Sampler.load(c) for c in ckpts]
        except SpinsymError as exc:
            print(f"sampler_vs_mc: error: {exc}", file=sys.stderr)
            return 2
        for s, path in zip(samplers, ckpts):
            ck = s.ckpt
            log(f"checkpoint {os.path.basename(path)}: {ck['arch']}, trained at L = {ck['L']}, "
                f"{ck.get('steps', '?')} steps, {ck.get('train_seconds', float('nan')):.0f} s "
                f"wall / {ck.get('train_cpu_seconds', float('nan')):.0f} s CPU of training "
                f"(not counted below)")
        # warm-up: compile the kernels and load torch before anything is timed
        for alg in ALGORITHMS:
            spinsym.simulate("ising", L=8, T=2.5, algorithm=alg, sweeps=20, thermalize=5, every=1,
                             threads=1)
        samplers[0].sample(T=2.5, L=samplers[0].ckpt["L"], n=4, seed=0,
                           couplings=dict(Jx=1, Jy=1, J2=0, h=0), threads=1)
        for i, L in enumerate(sizes):
            sampler = samplers[i if len(samplers) > 1 else 0]
            n = a.n or {16: 1000, 32: 400}.get(L, 100)
            for name in cases:
                case = CASES[name]
                log(f"\nL = {L}, {name}: T = {case['T']:.4f}, Jx = Jy = {case['Jx']:g}, "
                    f"J2 = {case['J2']:g}, h = {case['h']:g}")
                sweeps = a.sweeps or {16: 100000, 32: 40000}.get(L, 20000)
                block = [mc_row(case, L, alg, sweeps, a.thermalize, a.seed)
                         for alg in ALGORITHMS]
                block.append(sampler_row(sampler, case, L, n, a.seed))
                for r in block:
                    r.update(L=L, case=name)
                    log(fmt_row(r))
                train_cpu = float(sampler.ckpt.get("train_cpu_seconds", float("nan")))
                for line in summary(block, train_cpu):
                    log(line)
                rows.extend(block)
    if a.json:
        from spinsym.fileio import atomic_path

        with atomic_path(a.json) as tmp, open(tmp, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
