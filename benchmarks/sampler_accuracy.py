"""Accuracy of sampler output against exact values (Ising, transfer matrix) or a reference MC
file (XY): the numbers of the README's sampler table.

    python benchmarks/sampler_accuracy.py SAMPLES.h5 [--ref MC.h5] [--json]

For each temperature: energy per site (relative error), ⟨m²⟩ (relative error), signed ⟨m⟩,
⟨|m|⟩, helicity (XY), and for MH runs the acceptance and the effective sample size.  Errors
are in units of the combined statistical error too (z = Δ / σ), so a deviation can be told
from noise.  Ising references come from spinsym.exact.transfer_matrix_ising; XY references
from the MC file given with --ref (same T required).
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from spinsym import exact
from spinsym.analysis import analyze_file
from spinsym.data import read


def _rel(value, ref):
    return 100.0 * (value - ref) / abs(ref)


def rows(samples: str, ref_path: str | None = None) -> list:
    ds = read(samples)
    res = analyze_file(samples)
    ref = {}
    if ref_path:
        ref = {round(r["T"], 9): r for r in analyze_file(ref_path)}
    out = []
    for r, g in zip(res, ds.temperatures):
        T = r["T"]
        row = {"T": T, "algorithm": r["algorithm"], "n": r["n_samples"],
               "e": r["energy_per_site"]["mean"], "e_err": r["energy_per_site"]["err"],
               "m2": r["m2"]["mean"], "m2_err": r["m2"]["err"], "m": r["m"]["mean"],
               "m_err": r["m"]["err"], "abs_m": r["abs_m"]["mean"]}
        for key in ("acceptance", "ess", "is_ess_fraction"):
            if key in g.attrs:
                row[key] = float(g.attrs[key])
        if "helicity" in r:
            row["helicity"] = r["helicity"]["mean"]
            row["helicity_err"] = r["helicity"]["err"]
        if ds.model == "ising" and ds.L <= exact.TRANSFER_MATRIX_MAX_L:
            ex = exact.transfer_matrix_ising(ds.L, g.couplings, T)
            row.update(e_ref=ex["energy_per_site"], e_ref_err=0.0, m2_ref=ex["m2"],
                       m2_ref_err=0.0, ref="exact")
        elif round(T, 9) in ref:
            q = ref[round(T, 9)]
            row.update(e_ref=q["energy_per_site"]["mean"], e_ref_err=q["energy_per_site"]["err"],
                       m2_ref=q["m2"]["mean"], m2_ref_err=q["m2"]["err"], ref="MC")
            if "helicity" in q:
                row["helicity_ref"] = q["helicity"]["mean"]
                row["helicity_ref_err"] = q["helicity"]["err"]
        if "e_ref" in row:
            row["e_rel_pct"] = _rel(row["e"], row["e_ref"])
            row["e_z"] = (row["e"] - row["e_ref"]) / math.hypot(row["e_err"], row["e_ref_err"])
            row["m2_rel_pct"] = _rel(row["m2"], row["m2_ref"])
        out.append(row)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("samples")
    ap.add_argument("--ref", help="reference MC file (XY)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    rs = rows(a.samples, a.ref)
    if a.json:
        print(json.dumps(rs, indent=1))
        return 0
    head = (f"{'T':>6} {'e':>9} {'e_ref':>9} {'Δe %':>7} {'z':>6} {'m2':>7} {'Δm2 %':>7} "
            f"{'<m>':>7} {'<|m|>':>6} {'acc':>5} {'ESS':>7} {'IS-ESS':>6}")
    print(head)
    for r in rs:
        def f(key, fmt):
            return format(r[key], fmt) if key in r else "-"
        print(f"{r['T']:6.3f} {r['e']:9.5f} {f('e_ref', '9.5f'):>9} {f('e_rel_pct', '+7.2f'):>7} "
              f"{f('e_z', '+6.1f'):>6} {r['m2']:7.4f} {f('m2_rel_pct', '+7.2f'):>7} "
              f"{r['m']:+7.3f} {r['abs_m']:6.3f} {f('acceptance', '5.2f'):>5} "
              f"{f('ess', '7.0f'):>7} {f('is_ess_fraction', '6.2f'):>6}"
              + (f"  Υ {r['helicity']:.4f}" + (f" (MC {r['helicity_ref']:.4f})"
                                             if "helicity_ref" in r else "")
                 if "helicity" in r else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
