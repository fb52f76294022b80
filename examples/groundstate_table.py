"""Reproduce the README table: the four ground-state predictors by phase at L = 8 and L = 16.

    python examples/groundstate_table.py [--outdir runs/groundstate] [--seed 0] [--samples 16]

Trains ``sympe``, ``gcnn``, ``noise`` and ``cnn`` with the ``spinsym train groundstate``
defaults at L = 8 (a checkpoint already in --outdir is reused; --retrain forces training),
evaluates each on the shipped held-out set ``data/heldout_hamiltonians.json`` at L = 8 and
L = 16 (the models trained at 8) against the exact ground states, and prints a Markdown table
(mean relative energy gap per phase, worst gap, training time) plus the degenerate-state
counts.  Everything goes through the same commands a user runs:

    spinsym train groundstate --model M --L 8 --seed 0 --out M.pt
    spinsym evaluate groundstate M.pt --params data/heldout_hamiltonians.json --L 8 --samples 16 --json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HELDOUT = os.path.join(ROOT, "data", "heldout_hamiltonians.json")
MODELS = ("sympe", "gcnn", "noise", "cnn")


def spinsym(*args) -> str:
    proc = subprocess.run([sys.executable, "-m", "spinsym", *map(str, args)], text=True,
                          capture_output=True)
    if proc.returncode:
        sys.exit(f"spinsym {' '.join(map(str, args))} failed:\n{proc.stderr}")
    return proc.stdout


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--outdir", default=os.path.join(ROOT, "runs", "groundstate"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--retrain", action="store_true")
    ap.add_argument("--params", default=HELDOUT)
    ap.add_argument("--best-of", type=int, default=1)
    ap.add_argument("--sampling", default="canonical", help="SymPE's g̃ draws (the table: "
                    "one canonical draw, the plain sampler)")
    ap.add_argument("--decode", default="sign", help="logits to spins (the table: their sign)")
    ap.add_argument("--refine-lines", action="store_true", help="also line-block flips (the "
                    "table: single and pair flips)")
    a = ap.parse_args(argv)
    os.makedirs(a.outdir, exist_ok=True)
    rows = {}
    for m in a.models.split(","):
        ckpt = os.path.join(a.outdir, f"{m}.pt")
        if a.retrain or not os.path.exists(ckpt):
            print(f"training {m} ...", file=sys.stderr, flush=True)
            print(spinsym("train", "groundstate", "--model", m, "--L", 8, "--seed", a.seed,
                          "--out", ckpt, "--quiet").strip(), file=sys.stderr)
        import torch
        meta = torch.load(ckpt, weights_only=True)
        rows[m] = {"train_seconds": meta["train_seconds"], "steps": meta["steps_done"]}
        for L in (8, 16):
            rep = json.loads(spinsym("evaluate", "groundstate", ckpt, "--params", a.params, "--L",
                                     L, "--samples", a.samples, "--seed", a.seed, "--json",
                                     "--best-of", a.best_of, "--decode", a.decode,
                                     "--refine-lines" if a.refine_lines else "--no-refine-lines",
                                     *(["--sampling", a.sampling] if m == "sympe" else [])))
            rep.pop("per_hamiltonian")
            rows[m][L] = rep
    with open(os.path.join(a.outdir, "table.json"), "w") as f:
        json.dump(rows, f, indent=1)
    phases = ["ferro", "neel", "stripe", "m1/2"]
    first = rows[next(iter(rows))][8]["per_phase"]
    counts = ", ".join(f"{p} {first[p]['n']}" for p in phases if p in first)
    print(f"Held-out set: {first and sum(v['n'] for v in first.values())} Hamiltonians "
          f"({counts}), {a.samples} samples each; relative energy gap "
          f"(E - E_gs)/|E_gs|, mean over samples, then over Hamiltonians; worst H: the worst "
          f"Hamiltonian's mean over samples; worst sample: the worst single sample.\n")
    head = "| model | L | mean gap | worst H | worst sample | " + " | ".join(
        p for p in phases if p in first) + " | broken phases | phase acc. | train time |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for m, r in rows.items():
        for L in (8, 16):
            rep = r[L]
            cells = [f"{rep['per_phase'][p]['mean_gap']:.2%}" for p in phases if p in first]
            print(f"| {m} | {L} | {rep['mean_gap']:.2%} | {rep['max_hamiltonian_gap']:.2%} | "
                  f"{rep['max_gap']:.2%} | "
                  + " | ".join(cells) + f" | {rep['broken_mean_gap']:.2%} | "
                  f"{rep['phase_accuracy']:.3f} | "
                  + (f"{r['train_seconds']:.0f} s ({r['steps']} steps) |" if L == 8 else "(L=8) |"))
    print("\nDegenerate ground states hit by the samples (L = 8): ferro at h = 0 up/down, "
          "Néel sublattice +/-")
    for m, r in rows.items():
        d = r[8]["degenerate_counts"]
        print(f"  {m:6s} ferro {d['ferro_h0'][0]}/{d['ferro_h0'][1]}   "
              f"Néel {d['neel'][0]}/{d['neel'][1]}")


if __name__ == "__main__":
    main()
