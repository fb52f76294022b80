"""Sampler ablations (issue 9): sympe, frames without v, gcnn (no frames), noise, over seeds.

    .venv/bin/python benchmarks/sampler_ablation.py [--L 8] [--steps 300] [--seeds 3]
        [--kinds sympe,frames,gcnn,noise] [--n 1000] [--sets iso,aniso,field]
        [--out-dir DIR] [--json OUT] [--no-kl]

1. Training data, one file per coupling set, at L (default 8), five temperatures
   T = τ·T_c(set)/T_c(iso) for τ = 1.8, 2.1, 2.4, 2.7, 3.0 (``spinsym.simulate``):
   ``iso`` Jx = Jy = 1 (Wolff), ``aniso`` Jx = 1, Jy = 0.5 (Wolff; a stabilizer without the
   90° turns), ``field`` h = 0.1 (multi-spin Metropolis; no spin flip in the stabilizer).
2. Every kind × seed is trained on all sets together (``spinsym.tasks.sampler.train``, the
   default forward objective) with identical steps, batch, width and one torch thread, so the
   budgets are equal; the training seed is the seed, so the kinds see the same data batches.
   Training CPU seconds (``time.process_time``) and wall seconds are recorded.
3. Each sampler draws n independent configurations (``Sampler.sample(..., mh=False)``) at
   temperatures it was not trained on, near T_c of each set (τ = 2.25 and 2.55 scaled as
   above; one τ = 2.25 for aniso and field).  The MH columns run the package's independence
   chain (``spinsym.tasks.sampler.mh_chain``) over the same n proposals and their stored log
   weights (what ``sample --mh`` does, with its own uniforms), so raw and MH share proposals.
4. Metrics per (kind, seed, set, T), against the exact transfer matrix
   (``spinsym.exact.transfer_matrix_ising`` at L): the raw energy error Δe (in % of |e| and in
   its own standard errors), the same after MH, the importance-sampling free energy error
   F_IS − F (``spinsym.analysis.importance_free_energy``) in units of 1e-3 per site and in its
   delta-method errors, the variational bound gap F_bound − F ≥ 0 (= (T/N) KL on the extended
   space), the MH acceptance, the Kish IS-ESS / n, and the symmetry-violation z-scores of
   ``spinsym.tasks.sampler_eval.symmetry_report`` on the raw draws: the largest site-map z
   (translations; every set) and the largest C_x − C_y z (90° turns; iso and field only, where
   Jx = Jy makes it a symmetry).  Bonferroni thresholds (family-wise 1e-3) are printed with
   them.  Optionally (default on) the exact KL(q‖π) at L = 4 (``sampler_kl``; the L-trained
   network runs at L = 4), iso couplings, T = 2.4, for every kind with an exact likelihood
   (not noise).  It also measures the transfer from L to L = 4: sympe's learned v (Fourier
   modes of the torus coordinates) is a different field at L = 4, and one seed of the
   default run transferred badly (KL 0.75 against 0.03; at L = 8 the same seed is as good
   as the others).
5. The per-seed rows and, per kind and evaluation point, the mean over seeds with a 95 %
   Student-t interval (``scipy.stats.t``; a small table without scipy), then the same for the
   per-seed averages over all evaluation points, as Markdown.

Same arguments, same output bits (apart from the timings).  The default run (200 steps,
batch 32, width 4, 3 seeds, 4 kinds, n = 1000) took 20 minutes on the 2-core development
machine at load 4–8 (training ≈ 33 CPU s, 35–80 s wall per sampler; the exact KL 33–79 s per
sampler; log: benchmarks/results/sampler_ablation_L8.txt): 200 steps is what fitted the budget; ``--steps 1500`` matches the README's sampler table but
trains 7.5 times as long.  The first training pays no import costs (torch, escnn and the
sampler module are loaded before any timing).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import tempfile
import time
from datetime import datetime, timezone

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

#: the coupling sets: (Jx, Jy, J2, h), Monte Carlo algorithm
SETS = {
    "iso": ((1.0, 1.0, 0.0, 0.0), "wolff"),
    "aniso": ((1.0, 0.5, 0.0, 0.0), "wolff"),
    "field": ((1.0, 1.0, 0.0, 0.1), "metropolis"),
}
KINDS = ("sympe", "frames", "gcnn", "noise")
TRAIN_TAU = (1.8, 2.1, 2.4, 2.7, 3.0)
#: evaluation temperatures per set (in units of the iso set's scale; none is a training T)
EVAL_TAU = {"iso": (2.25, 2.55), "aniso": (2.25,), "field": (2.25,)}
KL_T = 2.4
KL_L = 4
#: two-sided 95 % Student-t quantiles for 1 … 10 degrees of freedom (used without scipy)
T_TABLE = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228)


def t_quantile(df: int) -> float:
    try:
        from scipy.stats import t
    except ImportError:
        return T_TABLE[df - 1] if df <= len(T_TABLE) else 1.96 + 2.5 / df
    return float(t.ppf(0.975, df))


def mean_ci(values) -> tuple[float, float]:
    """(mean, half-width of the 95 % t-interval) of the finite values (NaN if none; half-width
    NaN for one)."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return float("nan"), float("nan")
    if v.size == 1:
        return float(v[0]), float("nan")
    return float(v.mean()), t_quantile(v.size - 1) * float(v.std(ddof=1)) / math.sqrt(v.size)


def scale(name: str) -> float:
    """T_c of the set over T_c of iso (the field set keeps iso's temperatures)."""
    from spinsym.exact import critical_temperature

    if name == "aniso":
        c = SETS[name][0]
        return critical_temperature(c[0], c[1]) / critical_temperature(1.0, 1.0)
    return 1.0


def make_data(sets, L: int, out_dir: str, log) -> list:
    import spinsym

    paths = []
    for k, name in enumerate(sets):
        (Jx, Jy, J2, h), algorithm = SETS[name]
        temps = [round(t * scale(name), 4) for t in TRAIN_TAU]
        every = 2 if algorithm == "wolff" else 10
        t0 = time.perf_counter()
        run = spinsym.simulate("ising", L=L, T=temps, Jx=Jx, Jy=Jy, J2=J2, h=h,
                               algorithm=algorithm, sweeps=2000 * every, thermalize=1000,
                               every=every, seed=100 + k, threads=1)
        path = os.path.join(out_dir, f"data_{name}_L{L}.h5")
        run.save(path)
        paths.append(path)
        log(f"data {name}: {algorithm}, T = {temps}, 2000 configurations per T "
            f"({time.perf_counter() - t0:.0f} s)")
    return paths


def train_one(kind: str, seed: int, args, paths, out_dir: str):
    from spinsym.tasks.sampler import SamplerTrainConfig, train

    cfg = SamplerTrainConfig(arch=kind, seed=seed, steps=args.steps, batch=args.batch,
                             width=args.width, threads=1, checkpoint_every=0)
    out = os.path.join(out_dir, f"{kind}_seed{seed}.pt")
    w0, c0 = time.perf_counter(), time.process_time()
    train(cfg, paths, out=out)
    return out, time.process_time() - c0, time.perf_counter() - w0


def exact_reference(L: int, c, T: float) -> dict:
    from spinsym.exact import transfer_matrix_ising

    ex = transfer_matrix_ising(L, c, T)
    return {"e": ex["energy_per_site"], "f": -T * ex["log_z"] / (L * L)}


def evaluate(sampler, name: str, T: float, args, seed: int) -> dict:
    """The metrics of one sampler at one (set, T) (see the module docstring)."""
    from spinsym.analysis import LOG_WEIGHT, importance_free_energy
    from spinsym.hamiltonians import Couplings
    from spinsym.stats import mean_err
    from spinsym.tasks.sampler import mh_chain
    from spinsym.tasks.sampler_eval import symmetry_report

    c = Couplings(*SETS[name][0])
    L, N = args.L, args.L * args.L
    ex = exact_reference(L, c, T)
    run = sampler.sample([T], L=L, n=args.n, seed=seed, mh=False, couplings=c, threads=1)
    g = run[0]
    e = np.asarray(g.energy, dtype=np.float64) / N
    e_mean, e_err, _ = mean_err(e)
    logw = run.resume["arrays"][f"T_000/{LOG_WEIGHT}"]
    fe = importance_free_energy(logw, T, N)
    chain, accepted = mh_chain(logw, np.random.default_rng([seed, 7]).random(len(logw)))
    mh_mean, mh_err, _ = mean_err(e[chain])
    sym = symmetry_report(run)[0]
    f_is, f_is_err = fe["free_energy_per_site"]["mean"], fe["free_energy_per_site"]["err"]
    f_b = fe["free_energy_bound_per_site"]["mean"]
    iso_turn = c.Jx == c.Jy
    return {
        "de_pct": 100.0 * (e_mean - ex["e"]) / abs(ex["e"]),
        "de_z": (e_mean - ex["e"]) / e_err,
        "de_mh_pct": 100.0 * (mh_mean - ex["e"]) / abs(ex["e"]),
        "df_is_milli": 1e3 * (f_is - ex["f"]),
        "df_is_z": (f_is - ex["f"]) / f_is_err if f_is_err else float("nan"),
        "bound_gap_milli": 1e3 * (f_b - ex["f"]),
        "acceptance": accepted / (len(logw) - 1),
        "is_ess_fraction": fe["is_ess"] / len(logw),
        "site_z": sym["site_max_z"], "site_z_crit": sym["site_z_crit"],
        "corr_z": sym["corr_max_z"] if iso_turn else float("nan"),
        "corr_z_crit": sym["corr_z_crit"],
    }


def kl(sampler) -> float:
    from spinsym.tasks.sampler_eval import sampler_kl

    return sampler_kl(sampler, KL_T, SETS["iso"][0], L=KL_L)["kl_q_pi"]


# ---------------------------------------------------------------------------------------------
# output

COLUMNS = [  # key, header, format
    ("de_pct", "Δe raw %", "{:+.2f}"),
    ("de_z", "Δe raw /σ", "{:+.1f}"),
    ("de_mh_pct", "Δe MH %", "{:+.2f}"),
    ("df_is_milli", "F_IS−F ×1e3", "{:+.2f}"),
    ("df_is_z", "F_IS−F /σ", "{:+.1f}"),
    ("bound_gap_milli", "bound gap ×1e3", "{:.2f}"),
    ("acceptance", "MH acc", "{:.3f}"),
    ("is_ess_fraction", "IS-ESS/n", "{:.3f}"),
    ("site_z", "site max z", "{:.2f}"),
    ("corr_z", "Cx−Cy max z", "{:.2f}"),
]


def fmt(v, f: str) -> str:
    return "—" if v is None or not np.isfinite(v) else f.format(v)


def fmt_ci(values, f: str) -> str:
    m, h = mean_ci(values)
    if not np.isfinite(m):
        return "—"
    return f.format(m) + ("" if not np.isfinite(h) else " ± " + f.format(h).lstrip("+"))


def table(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def report(results: dict, kinds, seeds, points, with_kl: bool) -> str:
    out = []
    crit = {}
    for kind in kinds:
        for s in seeds:
            for p in points:
                m = results["eval"][kind][s][p]
                crit[p] = (m["site_z_crit"], m["corr_z_crit"])
    out.append("### Per seed\n")
    rows = []
    for kind in kinds:
        for s in seeds:
            for p in points:
                m = results["eval"][kind][s][p]
                rows.append([kind, str(s), p] + [fmt(m[k], f) for k, _, f in COLUMNS])
    out.append(table(["kind", "seed", "set@T"] + [h for _, h, _ in COLUMNS], rows))
    out.append("\nBonferroni thresholds (family-wise 1e-3): "
               + "; ".join(f"{p}: site {a:.2f}, Cx−Cy {b:.2f}" for p, (a, b) in crit.items()))
    out.append("\n### Mean ± 95 % t-interval over seeds, per evaluation point\n")
    rows = []
    for p in points:
        for kind in kinds:
            ms = [results["eval"][kind][s][p] for s in seeds]
            rows.append([p, kind] + [fmt_ci([m[k] for m in ms], f) for k, _, f in COLUMNS])
    out.append(table(["set@T", "kind"] + [h for _, h, _ in COLUMNS], rows))
    out.append("\n### Per kind: each seed's average over the evaluation points (|Δe|, |F_IS−F| "
               "absolute; max z the largest over the points), then mean ± 95 % t over seeds\n")
    rows = []
    for kind in kinds:
        per_seed = {}
        for s in seeds:
            ms = [results["eval"][kind][s][p] for p in points]
            per_seed.setdefault("abs_de", []).append(np.mean([abs(m["de_pct"]) for m in ms]))
            per_seed.setdefault("abs_de_mh", []).append(
                np.mean([abs(m["de_mh_pct"]) for m in ms]))
            per_seed.setdefault("abs_df", []).append(
                np.mean([abs(m["df_is_milli"]) for m in ms]))
            per_seed.setdefault("gap", []).append(np.mean([m["bound_gap_milli"] for m in ms]))
            per_seed.setdefault("acc", []).append(np.mean([m["acceptance"] for m in ms]))
            per_seed.setdefault("ess", []).append(np.mean([m["is_ess_fraction"] for m in ms]))
            per_seed.setdefault("site", []).append(max(m["site_z"] for m in ms))
            cz = [m["corr_z"] for m in ms if np.isfinite(m["corr_z"])]
            per_seed.setdefault("corr", []).append(max(cz) if cz else float("nan"))
            per_seed.setdefault("flags", []).append(sum(
                int(m["site_z"] > m["site_z_crit"])
                + int(np.isfinite(m["corr_z"]) and m["corr_z"] > m["corr_z_crit"])
                for m in ms))
            tr = results["train"][kind][s]
            per_seed.setdefault("cpu", []).append(tr["cpu_s"])
            per_seed.setdefault("kl", []).append(tr.get("kl_q_pi", float("nan")))
        row = [kind, fmt_ci(per_seed["abs_de"], "{:.2f}"), fmt_ci(per_seed["abs_de_mh"], "{:.2f}"),
               fmt_ci(per_seed["abs_df"], "{:.2f}"), fmt_ci(per_seed["gap"], "{:.2f}"),
               fmt_ci(per_seed["acc"], "{:.3f}"), fmt_ci(per_seed["ess"], "{:.3f}"),
               fmt_ci(per_seed["site"], "{:.2f}"), fmt_ci(per_seed["corr"], "{:.2f}"),
               f"{sum(per_seed['flags'])} / {len(seeds) * len(points)}"]
        if with_kl:
            row.append(fmt_ci(per_seed["kl"], "{:.4f}"))
        row.append(fmt_ci(per_seed["cpu"], "{:.0f}"))
        rows.append(row)
    header = ["kind", "\\|Δe\\| raw %", "\\|Δe\\| MH %", "\\|F_IS−F\\| ×1e3", "bound gap ×1e3",
              "MH acc", "IS-ESS/n", "max site z", "max Cx−Cy z", "points flagged"]
    if with_kl:
        header.append(f"KL(q‖π) L={KL_L}, T={KL_T}")
    header.append("train CPU s")
    out.append(table(header, rows))
    return "\n".join(out)


def write_json(path: str, obj) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, default=float)
    os.replace(tmp, path)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--L", type=int, default=8)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--kinds", default=",".join(KINDS))
    p.add_argument("--sets", default=",".join(SETS))
    p.add_argument("--n", type=int, default=1000, help="draws per evaluation point")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--width", type=int, default=4)
    p.add_argument("--out-dir", default=None,
                   help="keep the data and checkpoints here (default: a temporary directory)")
    p.add_argument("--json", default=None, help="also write all numbers to this JSON file")
    p.add_argument("--no-kl", action="store_true", help="skip the exact KL at L = 4")
    args = p.parse_args(argv)
    kinds = [k for k in args.kinds.split(",") if k]
    sets = [s for s in args.sets.split(",") if s]
    bad = [k for k in kinds if k not in KINDS] + [s for s in sets if s not in SETS]
    if bad or not kinds or not sets:
        p.error(f"unknown or empty --kinds/--sets: {bad}; kinds {KINDS}, sets {tuple(SETS)}")
    if args.seeds < 2:
        p.error("--seeds must be at least 2 (an interval needs two)")
    if args.steps < 1 or args.n < 2 or args.L < 2:
        p.error("--steps must be >= 1, --n >= 2, --L >= 2")
    args.kinds, args.sets = kinds, sets
    return args


def run(args, log=print) -> dict:
    import spinsym

    import spinsym.nn.sampler  # noqa: F401  (imports torch and escnn outside every timing)

    with tempfile.TemporaryDirectory(prefix="sampler_ablation_") as tmp:
        out_dir = args.out_dir or tmp
        os.makedirs(out_dir, exist_ok=True)
        paths = make_data(args.sets, args.L, out_dir, log)
        seeds = list(range(args.seeds))
        points = [(name, round(t * scale(name), 4)) for name in args.sets
                  for t in EVAL_TAU[name]]
        keys = [f"{name}@{T:g}" for name, T in points]
        res = {"train": {}, "eval": {}, "points": keys}
        for s in seeds:  # seed-major: an interrupted run still has every kind for some seeds
            for kind in args.kinds:
                ckpt, cpu, wall = train_one(kind, s, args, paths, out_dir)
                sampler = spinsym.Sampler.load(ckpt)
                tr = {"cpu_s": cpu, "wall_s": wall}
                w0 = time.perf_counter()
                ev = {}
                for key, (name, T) in zip(keys, points):
                    ev[key] = evaluate(sampler, name, T, args, seed=1000 + s)
                tr["eval_wall_s"] = time.perf_counter() - w0
                if not args.no_kl and kind != "noise":
                    w0 = time.perf_counter()
                    tr["kl_q_pi"] = kl(sampler)
                    tr["kl_wall_s"] = time.perf_counter() - w0
                res["train"].setdefault(kind, {})[s] = tr
                res["eval"].setdefault(kind, {})[s] = ev
                log(f"{kind} seed {s}: train {cpu:.0f} CPU s ({wall:.0f} s wall), eval "
                    f"{tr['eval_wall_s']:.0f} s" + (f", KL {tr['kl_q_pi']:.4f} "
                                                     f"({tr['kl_wall_s']:.0f} s)"
                                                     if "kl_q_pi" in tr else ""))
        res["seeds"] = seeds
        return res


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from spinsym.errors import SpinsymError

    def log(msg):
        print(msg, flush=True)

    cmd = "benchmarks/sampler_ablation.py " + " ".join(shlex.quote(a) for a in
                                                        (sys.argv[1:] if argv is None else argv))
    log(f"$ .venv/bin/python {cmd}")
    log(f"date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}; load average "
        f"{os.getloadavg()[0]:.1f}; L = {args.L}, steps {args.steps}, batch {args.batch}, "
        f"width {args.width}, seeds {args.seeds}, n = {args.n}, sets {','.join(args.sets)}")
    t0 = time.perf_counter()
    try:
        res = run(args, log)
    except SpinsymError as exc:
        print(f"spinsym: error: {exc}", file=sys.stderr)
        return 2
    log("")
    log(report(res, args.kinds, res["seeds"], res["points"], not args.no_kl))
    log(f"\ntotal {time.perf_counter() - t0:.0f} s wall; load average "
        f"{os.getloadavg()[0]:.1f} at the end")
    if args.json:
        write_json(args.json, {"args": vars(args), **res})
    return 0


if __name__ == "__main__":
    sys.exit(main())
