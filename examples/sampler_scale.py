"""Issue 9 at L = 32 and 64: progressive training (L = 16 → 32 → 64) of the equivariant sampler,
sampled at T_c, through the command line.

    python examples/sampler_scale.py --init CKPT16 --out-dir DIR [--L 32,64]
        [--steps 32:80,64:50] [--batch 32:32,64:8] [--n 32:2000,64:1000] [--lr 0.001]
        [--objective forward|mix] [--seed 0] [--threads 1] [--row16 SAMPLES16.h5]

For each L in ``--L``, in order: a Wolff scan of the isotropic Ising model at L at ``--train-T``
(default 2.2, 2.25, 2.3, 2.35: around T_c but not at it; 2000 samples each, one every 2 Wolff
sweeps), ``train sampler --init PREVIOUS`` (the previous L's checkpoint; the first starts from
``--init``, e.g. the L = 16 checkpoint of ``examples/sampler_acceptance.py``) with
``--objective``, ``--steps``, ``--batch`` and ``--lr`` of that L, then ``sample`` (Metropolis–
Hastings) at T_c = 2/ln(1 + √2) with ``--n`` configurations and ``analyze --json``.  One row per
L, against Kaufman's exact finite-torus values (:func:`spinsym.exact.kaufman_ising`): training
CPU seconds (wall), sampling CPU seconds per 1000 configurations, MH acceptance, ESS/n,
IS-ESS/n, the energy and free energy per site (relative error and z-score) and the gap of the
variational bound ``free_energy_bound_per_site`` above the exact F.  ``--steps L:0`` samples the
incoming checkpoint at L as it is (no fine-tuning).  ``--row16 SAMPLES.h5`` adds a first row
from an L = 16 sample file (the temperature closest to T_c), its checkpoint read from the file's
``checkpoint`` attribute and its timing from the ``timing.json`` beside it (else the
checkpoint's own training record).  The defaults are sized for a single-threaded CPU run of
about half an hour (README, "Equivariant samplers").

Every step is a ``spinsym`` command, printed before it runs, with ``--threads`` (default 1)
torch / Numba threads and OMP_NUM_THREADS = MKL_NUM_THREADS = ``--threads`` in its environment;
CPU seconds are those of the child processes (user + system).  Existing outputs in ``--out-dir``
are reused, their timing read from ``timing.json`` there; a partial checkpoint (an interrupted
training run) is finished first with ``train sampler --resume``.  The file names carry the
objective, learning rate, seed and the steps and batch of every L up to their own, so a
different setting never reuses an output; a different ``--init`` needs a new ``--out-dir``.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sampler_acceptance import Timings, analyze, spinsym  # noqa: E402

TRAIN_T = "2.2,2.25,2.3,2.35"
DEFAULT_STEPS = "32:80,64:50"
DEFAULT_BATCH = "32:32,64:8"
DEFAULT_N = "32:2000,64:1000"


def per_L(text: str, Ls: list, name: str, minimum: int) -> dict:
    """``"32:200,64:150"`` (or one integer for every L) → {L: value} for each L of ``Ls``."""
    text = text.strip()
    try:
        if ":" not in text:
            out = {L: int(text) for L in Ls}
        else:
            out = {}
            for part in text.split(","):
                key, val = part.split(":")
                if int(key) in out:
                    raise ValueError(f"L = {int(key)} given twice")
                out[int(key)] = int(val)
    except ValueError as exc:
        raise ValueError(f"--{name} {text!r}: expected L:value,L:value,... or one integer "
                         f"({exc})") from None
    missing = [L for L in Ls if L not in out]
    if missing:
        raise ValueError(f"--{name} {text!r} gives no value for L = "
                         f"{', '.join(map(str, missing))}")
    bad = [L for L in Ls if out[L] < minimum]
    if bad:
        raise ValueError(f"--{name}: the value for L = {bad[0]} must be at least {minimum}")
    return {L: out[L] for L in Ls}


def parse_Ls(text: str) -> list:
    try:
        Ls = [int(x) for x in text.split(",")]
    except ValueError:
        raise ValueError(f"--L {text!r}: expected even sizes such as 32,64") from None
    if any(L < 2 or L % 2 for L in Ls) or len(set(Ls)) != len(Ls):
        raise ValueError(f"--L {text!r}: distinct even sizes >= 2, in training order")
    return Ls


def row_values(r: dict, L: int, n: int) -> dict:
    """One analyze result at T against Kaufman's exact torus values at (L, T)."""
    from spinsym.exact import kaufman_ising

    T = float(r["T"])
    N = L * L
    ex = kaufman_ising(L, T)
    e, de = r["energy_per_site"]["mean"], r["energy_per_site"]["err"]
    f, df = r["free_energy_per_site"]["mean"], r["free_energy_per_site"]["err"]
    e_ex, f_ex = ex["energy_per_site"], -T * ex["log_z"] / N
    z = lambda d, err: d / err if err and err > 0 else math.inf  # noqa: E731
    return {"T": T, "n": n, "e": e, "e_err": de, "e_exact": e_ex,
            "e_rel": (e - e_ex) / abs(e_ex), "e_z": z(e - e_ex, de),
            "F": f, "F_err": df, "F_exact": f_ex,
            "F_rel": (f - f_ex) / abs(f_ex), "F_z": z(f - f_ex, df),
            "bound_gap": r["free_energy_bound_per_site"]["mean"] - f_ex,
            "acceptance": r.get("acceptance", math.nan),
            "ess_n": r.get("ess", math.nan) / n,
            "is_ess_n": r.get("is_ess_fraction", math.nan)}


HEADER = ("| L | steps × batch | train CPU s (wall) | sample CPU s / 1000 | MH acceptance | "
          "ESS/n | IS-ESS/n | Δe/site (z) | ΔF/site (z) | bound gap/site |")


def table_row(L, steps: str, train: str, sample_per_1000: float, v: dict) -> str:
    per = "n/a" if sample_per_1000 is None else f"{sample_per_1000:.0f}"
    return (f"| {L} | {steps} | {train} | {per} | {v['acceptance']:.3f} | {v['ess_n']:.3f} | "
            f"{v['is_ess_n']:.3f} | {v['e_rel']:+.3%} ({v['e_z']:+.1f}) | "
            f"{v['F_rel']:+.4%} ({v['F_z']:+.1f}) | {v['bound_gap']:.5f} |")


def _cpu(timing) -> str:
    if timing is None:
        return "not timed"
    mark = " (resumed part)" if timing.get("resumed") else ""
    return f"{timing['cpu_s']:.0f} ({timing['wall_s']:.0f}){mark}"


def _load_ckpt(path: str) -> dict:
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


def row16(path: str, Tc: float) -> str:
    """The table row of an L = 16 sample file (its temperature closest to T_c)."""
    import h5py

    rows = analyze(path)
    i = min(range(len(rows)), key=lambda k: abs(float(rows[k]["T"]) - Tc))
    r = rows[i]
    L, n = int(r["L"]), int(r["n_samples"])
    total = sum(int(x["n_samples"]) for x in rows)
    with h5py.File(path, "r") as f:
        ck = f[sorted(f.keys())[i]].attrs["checkpoint"]
    ck = ck.decode() if isinstance(ck, bytes) else str(ck)
    if not os.path.isabs(ck):
        ck = os.path.join(os.path.dirname(os.path.abspath(path)), ck)
    timings = Timings(os.path.dirname(os.path.abspath(path))).data
    steps, train = "?", "not timed"
    if os.path.exists(ck):
        c = _load_ckpt(ck)
        steps = f"{c['steps_done']} × {c['train_config']['batch']}"
        if not c.get("complete", False):
            steps += f" (partial, of {c['steps']})"
        t = timings.get(os.path.basename(ck))
        if t is not None:
            train = _cpu(t)
        elif "train_cpu_seconds" in c:
            train = f"{c['train_cpu_seconds']:.0f} ({c['train_seconds']:.0f}) (checkpoint record)"
    t = timings.get(os.path.basename(path))
    per = None if t is None else t["cpu_s"] / total * 1000
    print(f"L = 16 row: {path} at T = {r['T']}, n = {n}, checkpoint {ck}")
    return table_row(16, steps + " (from scratch)", train, per, row_values(r, L, n))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--init", required=True, help="the sampler checkpoint to start from (L = 16)")
    ap.add_argument("--out-dir", default="sampler_scale")
    ap.add_argument("--L", default="32,64", help="lattice sizes, in training order")
    ap.add_argument("--steps", default=DEFAULT_STEPS, help="fine-tuning steps per L (0: none)")
    ap.add_argument("--batch", default=DEFAULT_BATCH, help="training batch per L")
    ap.add_argument("--n", default=DEFAULT_N, help="MH samples at T_c per L")
    ap.add_argument("--lr", type=float, default=0.001, help="peak learning rate of fine-tuning")
    ap.add_argument("--objective", default="forward", choices=("forward", "mix", "reverse"))
    ap.add_argument("--seed", type=int, default=0, help="training and sampling seed")
    ap.add_argument("--threads", type=int, default=1, help="threads of every command")
    ap.add_argument("--train-T", default=TRAIN_T, help="Wolff training temperatures")
    ap.add_argument("--row16", default=None, help="an L = 16 sample file for a first row")
    a = ap.parse_args(argv)
    try:
        Ls = parse_Ls(a.L)
        steps = per_L(a.steps, Ls, "steps", 0)
        batch = per_L(a.batch, Ls, "batch", 1)
        n = per_L(a.n, Ls, "n", 2)
    except ValueError as exc:
        ap.error(str(exc))
    if a.threads < 1:
        ap.error("--threads must be at least 1")
    if not os.path.exists(a.init):
        ap.error(f"--init {a.init}: no such file")
    from spinsym.exact import critical_temperature

    Tc = critical_temperature(1.0, 1.0)
    if any(abs(float(t) - Tc) < 1e-3 for t in a.train_T.split(",")):
        ap.error("the training temperatures must not include T_c")
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(a.threads)
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}, --threads {a.threads} "
          f"(OMP_NUM_THREADS=MKL_NUM_THREADS={a.threads}), T_c = {Tc:.6f}", flush=True)
    os.makedirs(a.out_dir, exist_ok=True)
    j = lambda name: os.path.join(a.out_dir, name)  # noqa: E731
    timings = Timings(a.out_dir)
    wall0 = time.perf_counter()
    th = ["--threads", a.threads]

    rows, prev, chain = [], a.init, ""
    try:
        for L in Ls:
            data = j(f"wolff_L{L}.h5")
            timings.once(data, "simulate", "ising", "--L", L, "--T", a.train_T,
                         "--algorithm", "wolff", "--sweeps", 4000, "--every", 2,
                         "--thermalize", 1000, "--seed", 1, *th, "--out", data)
            chain += f"{'-' if chain else ''}{L}s{steps[L]}b{batch[L]}"
            tag = f"{a.objective}_lr{a.lr:g}_seed{a.seed}_{chain}"
            if steps[L] > 0:
                ck = j(f"sampler_{tag}.pt")
                t_train = timings.once(ck, "train", "sampler", "--data", data, "--init", prev,
                                       "--objective", a.objective, "--steps", steps[L],
                                       "--batch", batch[L], "--lr", a.lr, "--seed", a.seed,
                                       *th, "--out", ck)
                train = _cpu(t_train)
            else:
                ck, train = prev, "0 (none)"
            samples = j(f"samples_{tag}_L{L}_n{n[L]}.h5")
            t_s = timings.once(samples, "sample", ck, "--T", f"{Tc:.6f}", "--L", L,
                               "--n", n[L], "--seed", a.seed, *th, "--out", samples)
            r = analyze(samples)[0]
            v = row_values(r, L, n[L])
            per = None if t_s is None else t_s["cpu_s"] / n[L] * 1000
            label = f"{steps[L]} × {batch[L]}" + ("" if steps[L] else " (init as is)")
            rows.append(table_row(L, label, train, per, v))
            print(rows[-1], flush=True)
            prev = ck
        if a.row16:
            rows.insert(0, row16(a.row16, Tc))
    except subprocess.CalledProcessError as exc:
        print(f"sampler_scale: error: {' '.join(map(str, exc.cmd[2:]))} exited with status "
              f"{exc.returncode}", file=sys.stderr)
        return 2

    print(f"\n== {a.objective}, --lr {a.lr:g}, seed {a.seed}, T_c = {Tc:.6f}, MH; errors "
          f"against Kaufman's exact torus values (z = error / its error bar) ==")
    print(HEADER)
    print("|" + "---|" * HEADER.count(" | ") + "---|")
    for row in rows:
        print(row)
    print(f"\nwall time of this invocation: {time.perf_counter() - wall0:.0f} s; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
