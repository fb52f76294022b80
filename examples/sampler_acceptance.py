"""Issue 9's held-out acceptance run for the equivariant sampler, through the command line.

    python examples/sampler_acceptance.py --out-dir runs/acc16 [--L 16] [--steps 1000]
        [--n 4000] [--seed 0] [--mix-steps 400]

The protocol: a Wolff scan of the isotropic Ising model (Jx = Jy = 1, J2 = h = 0) at
``--train-T`` (default 2.0, 2.1, …, 2.6: 4000 samples each, one every 2 Wolff sweeps), ``train
sampler`` with its defaults (``--steps`` overrides), then ``sample`` with Metropolis–Hastings at
temperatures the training never saw (``--sample-T``, default 2.15, T_c, 2.35) with ``--n``
configurations each, and ``analyze --json``.  Each sampled temperature is checked against
Kaufman's exact finite-torus values (:func:`spinsym.exact.kaufman_ising`):

* energy per site within 1 % and within 4.5 error bars;
* free energy per site (importance sampling, ``free_energy_per_site``) within 0.1 % and within
  4.5 error bars;
* Metropolis–Hastings acceptance ≥ 0.3 at the temperature closest to T_c;
* the whole protocol (simulate + train + sample + analyze) within 30 CPU-minutes
  (the CPU time of the child processes: user + system, summed over both cores).

``--mix-steps K`` adds a variation: K more steps of ``--objective mix`` started from the forward
checkpoint (``--init``), sampled and checked the same way.

Every step is a ``spinsym`` command, printed before it runs.  Existing outputs in ``--out-dir``
are reused (their timing, recorded beside them in ``timing.json`` when this script made them, is
reported; otherwise "not timed"); a partial sampler checkpoint (an interrupted training run) is
finished first with ``train sampler --resume``.  The exit status is 0 when every criterion passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time

TRAIN_T = "2.0,2.1,2.2,2.3,2.4,2.5,2.6"
CPU_LIMIT_S = 30 * 60


def _child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def spinsym(*args, capture: bool = False):
    """Run one ``spinsym`` command (printed first); returns (stdout or None, wall s, CPU s)."""
    print("$ spinsym " + " ".join(map(str, args)), flush=True)
    cmd = [sys.executable, "-m", "spinsym", *map(str, args)]
    c0, t0 = _child_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, check=True, text=True,
                          stdout=subprocess.PIPE if capture else None)
    return proc.stdout, time.perf_counter() - t0, _child_cpu() - c0


class Timings:
    """Wall and CPU seconds per produced file, kept in ``timing.json`` in the output folder."""

    def __init__(self, folder: str):
        self.path = os.path.join(folder, "timing.json")
        self.data = {}
        if os.path.exists(self.path):
            with open(self.path) as f:
                self.data = json.load(f)

    def once(self, out: str, *args) -> dict | None:
        """Run the command unless ``out`` exists; the timing of ``out`` (None: not timed).
        A partial sampler checkpoint (an interrupted training run: checkpoints are written as
        it goes) is finished with ``train sampler --resume`` (keeping ``--threads``)."""
        key = os.path.basename(out)
        resumed = False
        if os.path.exists(out):
            if not (out.endswith(".pt") and _partial(out)):
                print(f"(reusing {out})", flush=True)
                return self.data.get(key)
            args, resumed = ("train", "sampler", "--resume", out, "--out", out,
                             *_threads_option(args)), True
        _, wall, cpu = spinsym(*args)
        return self.record(key, wall, cpu, resumed)

    def record(self, key: str, wall: float, cpu: float, resumed: bool = False) -> dict:
        """Keep one output's timing (``timing.json`` rewritten atomically)."""
        self.data[key] = {"wall_s": wall, "cpu_s": cpu}
        if resumed:
            self.data[key]["resumed"] = True
        tmp = f"{self.path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(self.data, f, indent=1)
        os.replace(tmp, self.path)
        return self.data[key]


def _threads_option(args) -> list:
    """The ``--threads N`` of a command's arguments, or []."""
    args = list(args)
    return args[args.index("--threads"):args.index("--threads") + 2] if "--threads" in args else []


def _partial(path: str) -> bool:
    """Whether a sampler checkpoint is a partial one (training interrupted)."""
    import torch

    return not torch.load(path, map_location="cpu", weights_only=True).get("complete", False)


def analyze(path: str) -> list:
    out, _, _ = spinsym("analyze", path, "--json", capture=True)
    return json.loads(out)["results"]


def _t(timing) -> str:
    if timing is None:
        return "not timed (reused output)"
    part = " (only the resumed part of an interrupted run)" if timing.get("resumed") else ""
    return f"CPU {timing['cpu_s']:.0f} s, wall {timing['wall_s']:.0f} s{part}"


def check(label: str, path: str, L: int, n: int, Tc: float) -> list:
    """Print the table of one sample file against Kaufman; return [(criterion, passed)]."""
    from spinsym.exact import kaufman_ising

    N = L * L
    rows = analyze(path)
    print(f"\n== {label}: {path} (n = {n} per T, MH) ==")
    head = (f"{'T':>9} | {'e/site':>19} {'exact':>9} {'rel':>8} {'z':>6} | "
            f"{'F/site':>19} {'exact':>9} {'rel':>9} {'z':>6} | {'bound':>9} | "
            f"{'acc':>5} {'ESS/n':>6} {'IS-ESS':>6} {'distinct':>8}")
    print(head)
    print("-" * len(head))
    results = []
    i_c = min(range(len(rows)), key=lambda i: abs(float(rows[i]["T"]) - Tc))
    for i, r in enumerate(rows):
        T = float(r["T"])
        ex = kaufman_ising(L, T)
        e, de = r["energy_per_site"]["mean"], r["energy_per_site"]["err"]
        f, df = r["free_energy_per_site"]["mean"], r["free_energy_per_site"]["err"]
        fb = r["free_energy_bound_per_site"]["mean"]
        e_ex, f_ex = ex["energy_per_site"], -T * ex["log_z"] / N
        e_rel, f_rel = (e - e_ex) / abs(e_ex), (f - f_ex) / abs(f_ex)
        e_z = (e - e_ex) / de if de > 0 else math.inf
        f_z = (f - f_ex) / df if df > 0 else math.inf
        acc = r.get("acceptance", float("nan"))
        print(f"{T:9.6f} | {e:9.5f} ± {de:7.5f} {e_ex:9.5f} {e_rel:+8.3%} {e_z:+6.2f} | "
              f"{f:9.5f} ± {df:7.5f} {f_ex:9.5f} {f_rel:+9.4%} {f_z:+6.2f} | {fb:9.5f} | "
              f"{acc:5.3f} {r.get('ess', float('nan')) / n:6.3f} "
              f"{r.get('is_ess_fraction', float('nan')):6.3f} {r.get('distinct', -1):8d}")
        results += [(f"T={T:g}: |e - exact| < 1 %", abs(e_rel) < 0.01),
                    (f"T={T:g}: |e - exact| < 4.5 err", abs(e_z) < 4.5),
                    (f"T={T:g}: |F - exact| < 0.1 %", abs(f_rel) < 0.001),
                    (f"T={T:g}: |F - exact| < 4.5 err", abs(f_z) < 4.5)]
        if i == i_c:
            results.append((f"T={T:g} (closest to T_c): MH acceptance >= 0.3", acc >= 0.3))
    return results


def report(results: list) -> bool:
    for name, ok in results:
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    return all(ok for _, ok in results)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", default="sampler_acceptance")
    ap.add_argument("--L", type=int, default=16)
    ap.add_argument("--steps", type=int, default=None,
                    help="forward training steps (default: train sampler's default)")
    ap.add_argument("--n", type=int, default=4000, help="samples per temperature")
    ap.add_argument("--seed", type=int, default=0, help="training and sampling seed")
    ap.add_argument("--train-T", default=TRAIN_T, help="Wolff training temperatures")
    ap.add_argument("--sample-T", default=None,
                    help="held-out sampling temperatures (default: 2.15, T_c, 2.35)")
    ap.add_argument("--mix-steps", type=int, default=0,
                    help="also fine-tune --init FORWARD --objective mix for this many steps")
    a = ap.parse_args(argv)
    from spinsym.exact import critical_temperature

    Tc = critical_temperature(1.0, 1.0)
    sample_T = a.sample_T or f"2.15,{Tc:.6f},2.35"
    train_T = {float(t) for t in a.train_T.split(",")}
    if train_T & {float(t) for t in sample_T.split(",")}:
        ap.error("the sampling temperatures must not be training temperatures")
    os.makedirs(a.out_dir, exist_ok=True)
    j = lambda name: os.path.join(a.out_dir, name)  # noqa: E731
    timings = Timings(a.out_dir)
    steps = [] if a.steps is None else ["--steps", a.steps]
    wall0 = time.perf_counter()

    data = j(f"wolff_L{a.L}.h5")
    t_sim = timings.once(data, "simulate", "ising", "--L", a.L, "--T", a.train_T,
                         "--algorithm", "wolff", "--sweeps", 8000, "--every", 2,
                         "--thermalize", 1000, "--seed", 1, "--out", data)
    fwd = j("sampler_fwd.pt")
    t_train = timings.once(fwd, "train", "sampler", "--data", data, "--seed", a.seed,
                           *steps, "--out", fwd)
    samples = j(f"samples_fwd_n{a.n}.h5")
    t_sample = timings.once(samples, "sample", fwd, "--T", sample_T, "--n", a.n,
                            "--seed", a.seed, "--out", samples)
    results = check("forward (train sampler defaults)", samples, a.L, a.n, Tc)
    parts = [t_sim, t_train, t_sample]
    print(f"\nsimulate: {_t(t_sim)}\ntrain sampler: {_t(t_train)}\nsample: {_t(t_sample)}")
    if all(p is not None and not p.get("resumed") for p in parts):
        cpu = sum(p["cpu_s"] for p in parts)
        print(f"protocol total (without analyze): CPU {cpu:.0f} s "
              f"= {cpu / 60:.1f} CPU-min, wall {sum(p['wall_s'] for p in parts):.0f} s")
        results.append(("simulate + train + sample within 30 CPU-minutes", cpu <= CPU_LIMIT_S))
    print("\ncriteria (forward):")
    ok = report(results)

    if a.mix_steps:
        mix = j(f"sampler_mix{a.mix_steps}.pt")
        t_mix = timings.once(mix, "train", "sampler", "--data", data, "--seed", a.seed,
                             "--init", fwd, "--objective", "mix", "--steps", a.mix_steps,
                             "--out", mix)
        mix_samples = j(f"samples_mix{a.mix_steps}_n{a.n}.h5")
        t_ms = timings.once(mix_samples, "sample", mix, "--T", sample_T, "--n", a.n,
                            "--seed", a.seed, "--out", mix_samples)
        res_mix = check(f"forward + {a.mix_steps} steps --objective mix (--init)",
                        mix_samples, a.L, a.n, Tc)
        print(f"\ntrain (mix fine-tuning): {_t(t_mix)}\nsample: {_t(t_ms)}")
        print("\ncriteria (forward + mix):")
        ok = report(res_mix) and ok
    print(f"\nwall time of this invocation: {time.perf_counter() - wall0:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
