"""One sampler amortized over couplings, checked on held-out couplings (issue 9, item 6).

    python examples/sampler_amortized.py --out-dir runs/amortized [--steps 4000] [--n 2000]
        [--seed 0] [--spec examples/sweeps/sampler_family.toml] [--workers 1] [--threads 1]
        [--continue-from K] [--only 'iso;h=0.1']

The protocol, every step a ``spinsym`` command printed before it runs:

1. ``spinsym sweep`` of the training family (default ``examples/sweeps/sampler_family.toml``:
   Ising, L = 8, Metropolis, Jx = 1, Jy ∈ {0.4, 0.7, 1.3}, J2 ∈ {−0.8, …, 0.2} (both signs,
   both sides of the stripe boundary J2 = −0.5), h ∈ {0, 0.2, 0.5}, 11 temperatures 0.55–3.55;
   594 jobs);
2. ``spinsym train sampler --data SWEEPDIR``: ONE sampler (the default model, sympe) on every
   finished file of the sweep, each group with its own T and couplings;
3. for each held-out point (couplings off the grid, temperature not trained on),
   ``spinsym sample`` with Metropolis–Hastings (the default) and ``spinsym analyze --json``,
   compared with the exact transfer matrix at L = 8 (:func:`spinsym.exact.transfer_matrix_ising`:
   e = ``energy_per_site``, F/site = −T ``log_z`` / N).

Held-out points (Jx = 1): the isotropic model at Onsager's T_c; Jy = 0.5 at its T_c
(:func:`spinsym.exact.critical_temperature`); the frustrated J2 = −0.3; J2 = −0.45 and
−0.55 on either side of the stripe boundary; a field h = 0.1 (where the Wolff algorithm does
not apply); and J2 = −0.3 with h = 0.1.  Where no exact T_c is known, T is the maximum of the
exact L = 8 specific heat (a 0.1 grid over 0.3–4, refined by bounded Brent, rounded to
0.001).  The script refuses a held-out point whose couplings are on the grid or whose T is a
training T.

Criteria, per point (issue 9's acceptance criteria at L = 16, applied here at L = 8 as a
yardstick): energy per site within 1 % and within 4.5 error bars of the exact value; free
energy per site (importance sampling, ``free_energy_per_site``) within 0.1 % and within 4.5
error bars.  Also printed: MH acceptance, ESS/n of the chain, IS-ESS/n of the proposals.
Before training, every job of the sweep is compared with the transfer matrix too (its energy
per site from the sweep index), and the jobs off by more than 4.5 error bars are listed: a
Metropolis chain started at random can stay in a metastable state at low T (ordered against
the field, or with a domain wall), and the sampler then trains on those configurations.

Torch commands run with OMP_NUM_THREADS = MKL_NUM_THREADS = ``--threads`` (and ``--threads``);
the sweep with ``--workers`` processes.  Existing outputs in ``--out-dir`` are reused (a
finished sweep, the checkpoint, the sample files; their CPU and wall time, kept in
``timing.json`` when this script made them, are reported); a sweep with jobs missing is
resumed, and a partial checkpoint (interrupted training) is finished with ``train sampler
--resume``.  ``--continue-from K`` makes the ``--steps`` checkpoint from the finished K-step
one of the same seed (``train sampler --resume CKPT_K --steps STEPS``: a warm restart, a new
one-cycle learning-rate run over the remaining steps).  The exit status is 0 when every
criterion passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from sampler_acceptance import Timings, spinsym  # noqa: E402
from sampler_acceptance import analyze as acceptance_analyze  # noqa: E402

SPEC = os.path.join(HERE, "sweeps", "sampler_family.toml")
L = 8

#: (label, description, (Jx, Jy, J2, h), "tc": exact T_c | "peak": L = 8 specific-heat maximum)
HELD_OUT = [
    ("iso", "isotropic, at T_c", (1.0, 1.0, 0.0, 0.0), "tc"),
    ("aniso", "Jy = 0.5, at its T_c", (1.0, 0.5, 0.0, 0.0), "tc"),
    ("J2=-0.3", "frustrated J2 = -0.3", (1.0, 1.0, -0.3, 0.0), "peak"),
    ("J2=-0.45", "J2 = -0.45, ferro side of the stripe boundary", (1.0, 1.0, -0.45, 0.0), "peak"),
    ("J2=-0.55", "J2 = -0.55, stripe side of the boundary", (1.0, 1.0, -0.55, 0.0), "peak"),
    ("h=0.1", "field h = 0.1 (no Wolff)", (1.0, 1.0, 0.0, 0.1), "peak"),
    ("J2=-0.3,h=0.1", "frustrated J2 = -0.3 in a field h = 0.1", (1.0, 1.0, -0.3, 0.1), "peak"),
]

#: the criteria (short name: what it checks)
CRITERIA = {"e 1 %": "|e - exact| < 1 %", "e 4.5σ": "|e - exact| < 4.5 err",
            "F 0.1 %": "|F - exact| < 0.1 %", "F 4.5σ": "|F - exact| < 4.5 err"}


class Runner(Timings):
    """:class:`sampler_acceptance.Timings` (each output run once and timed in ``timing.json``)
    plus the training sweep."""

    def sweep(self, spec_path: str, out_dir: str, workers: int) -> dict | None:
        """Run (or resume) the sweep unless all its jobs are done."""
        from spinsym.sweep import load_spec, plan

        jobs, todo = plan(load_spec(spec_path), out_dir)
        key = "sweep:" + os.path.basename(os.path.normpath(out_dir))
        if not todo:
            print(f"(reusing {out_dir}: {len(jobs)} jobs done)", flush=True)
            return self.data.get(key)
        _, wall, cpu = spinsym("sweep", spec_path, "--out", out_dir, "--workers", workers)
        return self.record(key, wall, cpu, resumed=len(todo) < len(jobs))


def _t(timing) -> str:
    if timing is None:
        return "not timed (reused output)"
    part = " (only the resumed part)" if timing.get("resumed") else ""
    return f"CPU {timing['cpu_s']:.0f} s, wall {timing['wall_s']:.0f} s{part}"


def peak_temperature(couplings) -> float:
    """T of the maximum of the exact L = 8 specific heat (0.1 grid, then bounded Brent)."""
    import numpy as np
    from scipy.optimize import minimize_scalar

    from spinsym.exact import transfer_matrix_ising

    def c(T):
        return transfer_matrix_ising(L, couplings, float(T))["specific_heat"]

    grid = np.round(np.arange(0.3, 4.0001, 0.1), 10)
    T0 = float(grid[int(np.argmax([c(T) for T in grid]))])
    res = minimize_scalar(lambda T: -c(T), bounds=(max(T0 - 0.1, 0.2), T0 + 0.1),
                          method="bounded", options={"xatol": 1e-4})
    return round(float(res.x), 3)


def held_out_points(spec, only=None) -> list:
    """[(label, description, couplings, T, how T was chosen)] of HELD_OUT (those labelled in
    ``only``, if given), checked off the training grid."""
    from spinsym.exact import critical_temperature

    grid = spec.couplings
    train_T = set(spec.T)
    points = []
    for label, text, c, how in HELD_OUT:
        if only is not None and label not in only:
            continue
        if all(v in grid[k] for k, v in zip(("Jx", "Jy", "J2", "h"), c)):
            raise SystemExit(f"held-out point {label} {c} is on the training grid")
        if how == "tc":
            T, why = round(critical_temperature(c[0], c[1]), 6), "exact T_c (infinite lattice)"
        else:
            T, why = peak_temperature(c), "maximum of the exact L = 8 specific heat"
        if T in train_T:
            raise SystemExit(f"held-out point {label}: T = {T} is a training temperature")
        points.append((label, text, c, T, why))
    return points


def check_training_data(sweep_dir: str, show: int = 12) -> list:
    """Each sweep job's energy per site (from the sweep index) against the transfer matrix;
    prints the jobs off by more than 4.5 error bars (a chain frozen in one state, error bar 0,
    counts as off when it is off by more than 1e-4) and returns them."""
    from spinsym.exact import transfer_matrix_ising
    from spinsym.sweep import load_sweep

    off = []
    jobs = load_sweep(sweep_dir, validate=False)
    for job in jobs:
        c = tuple(job[k] for k in ("Jx", "Jy", "J2", "h"))
        est = job["observables"]["energy_per_site"]
        exact = transfer_matrix_ising(L, c, job["T"])["energy_per_site"]
        d = est["mean"] - exact
        if abs(d) > 1e-4 and (not est["err"] or abs(d) > 4.5 * est["err"]):
            off.append((abs(d), job["T"], c, est["mean"], est["err"] or 0.0, exact))
    off.sort(reverse=True)
    print(f"training data: {len(off)} of {len(jobs)} jobs have an energy per site more than "
          "4.5 error bars from the exact L = 8 value" + (":" if off else ""))
    for d, T, c, e, err, exact in off[:show]:
        print(f"  T = {T:g} {_fmt_c(c)}: e = {e:.5f} ± {err:.5f}, exact {exact:.5f} "
              f"({(e - exact) / err if err else math.inf:+.0f} err)")
    if len(off) > show:
        print(f"  ... and {len(off) - show} more")
    return off


def analyze(path: str) -> dict:
    (row,) = acceptance_analyze(path)
    return row


def check(row: dict, c, T: float, n: int) -> dict:
    """One sample file's numbers against the transfer matrix, with the four criteria."""
    from spinsym.exact import transfer_matrix_ising

    ex = transfer_matrix_ising(L, c, T)
    e, de = row["energy_per_site"]["mean"], row["energy_per_site"]["err"]
    f, df = row["free_energy_per_site"]["mean"], row["free_energy_per_site"]["err"]
    e_ex, f_ex = ex["energy_per_site"], -T * ex["log_z"] / (L * L)
    e_rel, f_rel = (e - e_ex) / abs(e_ex), (f - f_ex) / abs(f_ex)
    e_z = (e - e_ex) / de if de > 0 else math.inf
    f_z = (f - f_ex) / df if df > 0 else math.inf
    crit = {"e 1 %": abs(e_rel) < 0.01, "e 4.5σ": abs(e_z) < 4.5,
            "F 0.1 %": abs(f_rel) < 0.001, "F 4.5σ": abs(f_z) < 4.5}
    return dict(e=e, de=de, e_ex=e_ex, e_rel=e_rel, e_z=e_z, f=f, df=df, f_ex=f_ex,
                f_rel=f_rel, f_z=f_z, bound=row["free_energy_bound_per_site"]["mean"],
                acc=row.get("acceptance", float("nan")), ess=row.get("ess", float("nan")) / n,
                is_ess=row.get("is_ess_fraction", float("nan")), crit=crit)


def _fmt_c(c) -> str:
    return f"Jy={c[1]:g} J2={c[2]:g} h={c[3]:g}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", default="sampler_amortized")
    ap.add_argument("--spec", default=SPEC, help="sweep spec of the training family (L = 8)")
    ap.add_argument("--steps", type=int, default=4000, help="training steps")
    ap.add_argument("--continue-from", type=int, default=0, metavar="K",
                    help="train the --steps checkpoint by continuing the finished K-step one "
                         "(train sampler --resume: a new one-cycle run of the other steps)")
    ap.add_argument("--n", type=int, default=2000, help="MH samples per held-out point")
    ap.add_argument("--seed", type=int, default=0, help="training and sampling seed")
    ap.add_argument("--workers", type=int, default=1, help="sweep worker processes")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (train, sample)")
    ap.add_argument("--skip-data-check", action="store_true",
                    help="do not compare the sweep's energies with the transfer matrix")
    ap.add_argument("--only", default=None,
                    help="held-out labels to check, separated by ';' (default: all)")
    a = ap.parse_args(argv)
    if a.continue_from and not 0 < a.continue_from < a.steps:
        ap.error("--continue-from K needs 0 < K < --steps")
    only = None
    if a.only:
        only = set(a.only.split(";"))
        unknown = only - {p[0] for p in HELD_OUT}
        if unknown:
            ap.error(f"unknown held-out label(s) {', '.join(sorted(unknown))}")
    from spinsym.sweep import load_spec

    spec = load_spec(a.spec)
    if spec.model != "ising" or spec.L != (L,):
        ap.error(f"the training sweep must be Ising at L = {L} (the transfer matrix's reach)")
    print(f"$ {os.path.basename(sys.executable)} {' '.join(sys.argv)}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average "
          f"{os.getloadavg()[0]:.1f}; torch threads {a.threads} (OMP_NUM_THREADS="
          f"MKL_NUM_THREADS={a.threads}); sweep workers {a.workers}")
    axes = ", ".join(f"{k} {list(v)}" for k, v in spec.couplings.items())
    print(f"training family ({a.spec}): {spec.algorithm}, L = {L}, T {list(spec.T)}; {axes}; "
          f"{spec.sweeps // spec.every} configurations per job", flush=True)
    points = held_out_points(spec, only)
    os.makedirs(a.out_dir, exist_ok=True)
    j = lambda name: os.path.join(a.out_dir, name)  # noqa: E731
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(a.threads)
    run = Runner(a.out_dir)
    wall0 = time.perf_counter()

    sweep_dir = j("family")
    t_sweep = run.sweep(a.spec, sweep_dir, a.workers)
    if not a.skip_data_check:
        check_training_data(sweep_dir)
    ckpt = j(f"sampler_family_seed{a.seed}_s{a.steps}.pt")
    if a.continue_from:  # a new one-cycle run of the remaining steps from a finished run
        start = j(f"sampler_family_seed{a.seed}_s{a.continue_from}.pt")
        if not os.path.exists(ckpt) and not os.path.exists(start):
            sys.exit(f"--continue-from {a.continue_from}: no checkpoint {start}")
        t_start = run.data.get(os.path.basename(start))
        t_train = run.once(ckpt, "train", "sampler", "--resume", start, "--steps", a.steps,
                           "--threads", a.threads, "--out", ckpt)
        print(f"train sampler, the first {a.continue_from} steps: {_t(t_start)}")
    else:
        t_train = run.once(ckpt, "train", "sampler", "--data", sweep_dir, "--steps", a.steps,
                           "--seed", a.seed, "--threads", a.threads, "--out", ckpt)

    rows, t_samples = [], []
    for label, text, c, T, why in points:
        print(f"\n-- {label}: {text}; T = {T} ({why}; nearest training T "
              f"{min(spec.T, key=lambda t: abs(t - T))})", flush=True)
        safe = label.replace("=", "").replace(",", "_")
        out = j(f"samples_seed{a.seed}_s{a.steps}_{safe}_n{a.n}.h5")
        t_samples.append(run.once(out, "sample", ckpt, "--T", T, "--L", L, "--Jx", c[0],
                                  "--Jy", c[1], "--J2", c[2], "--h", c[3], "--n", a.n,
                                  "--seed", a.seed, "--threads", a.threads, "--out", out))
        rows.append((label, c, T, check(analyze(out), c, T, a.n)))

    print(f"\n== one sampler ({a.steps} steps) at held-out couplings, L = {L}, n = {a.n} per "
          "point, MH, against the exact transfer matrix ==")
    head = (f"{'point':>14} {'couplings':>22} {'T':>8} | {'e/site':>19} {'exact':>9} "
            f"{'rel':>8} {'z':>6} | {'F/site':>19} {'exact':>9} {'rel':>9} {'z':>6} | "
            f"{'bound':>9} | {'acc':>5} {'ESS/n':>6} {'IS-ESS':>6}")
    print(head)
    print("-" * len(head))
    for label, c, T, r in rows:
        print(f"{label:>14} {_fmt_c(c):>22} {T:8.4f} | {r['e']:9.5f} ± {r['de']:7.5f} "
              f"{r['e_ex']:9.5f} {r['e_rel']:+8.3%} {r['e_z']:+6.2f} | {r['f']:9.5f} ± "
              f"{r['df']:7.5f} {r['f_ex']:9.5f} {r['f_rel']:+9.4%} {r['f_z']:+6.2f} | "
              f"{r['bound']:9.5f} | {r['acc']:5.3f} {r['ess']:6.3f} {r['is_ess']:6.3f}")

    print("\ncriteria (issue 9's L = 16 criteria, applied here at L = 8 as a yardstick):")
    ok = True
    for label, c, T, r in rows:
        for name, passed in r["crit"].items():
            print(f"  {'PASS' if passed else 'FAIL'}  {label} (T = {T}): {CRITERIA[name]}")
            ok = ok and passed

    print("\nMarkdown:\n")
    print("| held-out point | T | Δe | z(e) | ΔF | z(F) | MH acc. | ESS/n | IS-ESS/n | verdict |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label, c, T, r in rows:
        failed = [k for k, v in r["crit"].items() if not v]
        verdict = "PASS" if not failed else "FAIL: " + ", ".join(failed)
        print(f"| {_fmt_c(c)} | {T:g} | {r['e_rel']:+.2%} | {r['e_z']:+.2f} | "
              f"{r['f_rel']:+.3%} | {r['f_z']:+.2f} | {r['acc']:.2f} | {r['ess']:.2f} | "
              f"{r['is_ess']:.2f} | {verdict} |")

    more = f" (steps {a.continue_from}-{a.steps})" if a.continue_from else ""
    print(f"\nsweep: {_t(t_sweep)}\ntrain sampler{more}: {_t(t_train)}")
    timed = [t for t in t_samples if t is not None]
    if timed:
        cpu, wall = sum(t["cpu_s"] for t in timed), sum(t["wall_s"] for t in timed)
        print(f"sample ({len(timed)} of {len(t_samples)} points timed): CPU {cpu:.0f} s, "
              f"wall {wall:.0f} s")
    print(f"wall time of this invocation: {time.perf_counter() - wall0:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
