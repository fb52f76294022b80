"""From an HDF5 file to observables with error bars (the ``analyze`` command's engine).

Runs with two replicas per temperature (``simulate --replicas 2``) get, in the entry of each
group, ``replica`` (0 or 1) and ``overlap``: the overlap q = (1/N) Σ_i s_i^a s_i^b of the
two replicas' configurations sampled at the same sweeps, with ⟨|q|⟩, ⟨q²⟩ (τ-corrected
errors), the spin-glass susceptibility χ_SG = N⟨q²⟩, the Binder cumulant of q,
1 − ⟨q⁴⟩/(3⟨q²⟩²) (blocked jackknife), and the histogram of q (its N + 1 values and counts).
"""

from __future__ import annotations

import numpy as np

from .data import read
from .errors import DataError
from .observables import summarize
from .validate import check_data


def analyze_group(model: str, configs, energies, attrs: dict, couplings,
                  where: str = "data") -> dict:
    """The JSON-ready summary of one temperature group (arrays and its attributes).

    The content is validated first (:func:`spinsym.validate.check_data`: valid states of the
    model, finite energies, a temperature valid for the couplings): DataError."""
    check_data(model, configs, energies, where=where, T=attrs["T"], couplings=couplings)
    res = summarize(model, configs, energies, float(attrs["T"]), couplings)
    res.update(algorithm=attrs["algorithm"],
               couplings={k: attrs[k] for k in ("Jx", "Jy", "J2", "h")},
               sweeps=int(attrs["sweeps"]), every=int(attrs["every"]), seed=int(attrs["seed"]))
    for key in ("acceptance", "flipped_fraction", "clusters_per_site", "step"):
        if key in attrs:
            res[key] = float(attrs[key])
    # replica exchange (NaN, e.g. the acceptance of the highest T, becomes None)
    for key in ("exchange_acceptance", "round_trip_time"):
        if key in attrs:
            v = float(attrs[key])
            res[key] = v if np.isfinite(v) else None
    if "round_trips" in attrs:
        res["round_trips"] = int(attrs["round_trips"])
    return res


def analyze_dataset(dataset) -> list:
    """One JSON-ready dict per temperature group of a file (:func:`spinsym.data.read`) or of
    an in-memory :class:`spinsym.runs.Run`, in order (with the overlaps of replica pairs)."""
    from .runs import Run

    if isinstance(dataset, Run):
        groups = [(g.configs, g.attrs) for g in dataset]
        results = [analyze_group(g.model, g.configs, g.energy, g.attrs, g.couplings,
                                 where=f"run[{i}]") for i, g in enumerate(dataset)]
        where = "run"
    else:
        groups = [(g.configs, g.attrs) for g in dataset]
        results = [analyze_group(g.model, g.configs(), g.energy(), g.attrs, g.couplings,
                                 where=f"{g.path} {g.name}") for g in dataset]
        where = dataset.path
    _add_overlaps(groups, results, where)
    return results


def overlap(a, b):
    """The overlap series q_k = (1/N) Σ_i a_ki b_ki of two Ising replicas (n, L, L)."""
    a, b = np.asarray(a), np.asarray(b)
    n = a.shape[0]
    prod = a.reshape(n, -1).astype(np.int64) * b.reshape(n, -1)
    return prod.sum(axis=1) / prod.shape[1]


def overlap_summary(q, N: int) -> dict:
    """⟨|q|⟩, ⟨q²⟩, χ_SG = N⟨q²⟩, the Binder cumulant of q and its histogram (JSON-ready)."""
    from .stats import Estimate, estimate, jackknife_estimate

    q = np.asarray(q, dtype=np.float64)
    q2 = q * q
    m2 = estimate(q2)
    counts = np.bincount(np.rint((q + 1.0) * N / 2).astype(np.int64), minlength=N + 1)
    return {"abs_q": estimate(np.abs(q)).as_dict(), "q2": m2.as_dict(),
            "chi_sg": Estimate(N * m2.mean, N * m2.err).as_dict(),
            "binder_q": jackknife_estimate(lambda b, c: 1.0 - c / (3.0 * b * b), q2,
                                           q2 * q2).as_dict(),
            "q_histogram": {"q": (np.arange(N + 1) * 2.0 / N - 1.0).tolist(),
                            "count": counts.tolist()}}


def _add_overlaps(groups: list, results: list, where: str):
    """Pair the groups of a two-replica run (attribute ``replica``) and add the overlaps."""
    if not any("replica" in attrs for _, attrs in groups):
        return
    n = len(groups)
    if n % 2 or any(int(attrs.get("replica", -1)) != (g >= n // 2)
                    for g, (_, attrs) in enumerate(groups)):
        raise DataError(f"{where}: the replica groups do not pair up (replica 0 groups first, "
                        "then replica 1 at the same temperatures)")
    nT = n // 2
    for i in range(nT):
        (ca, aa), (cb, ab) = groups[i], groups[i + nT]
        a = ca() if callable(ca) else ca
        b = cb() if callable(cb) else cb
        if aa["T"] != ab["T"] or a.shape != b.shape or aa.get("model") != "ising":
            raise DataError(f"{where}: groups {i} and {i + nT} are not two ising replicas at "
                            "one temperature with as many samples")
        summary = overlap_summary(overlap(a, b), a.shape[-1] * a.shape[-2])
        for r, g in ((0, i), (1, i + nT)):
            results[g]["replica"] = r
            results[g]["overlap"] = summary


def analyze_file(path: str) -> list:
    return analyze_dataset(read(path))


_TABLE_KEYS = ("energy_per_site", "abs_m", "m2", "specific_heat", "susceptibility", "binder")


def _fmt(v: dict) -> str:
    if v["mean"] is None:
        return "nan"
    return f"{v['mean']:.5f}±{(v['err'] if v['err'] is not None else float('nan')):.5f}"


def format_table(results: list) -> str:
    """A readable fixed-width table of the main observables."""
    extra = []
    if results and "helicity" in results[0]:
        extra = ["helicity", "vortex_density"]
    elif results and "staggered_m2" in results[0]:
        extra = ["staggered_m2", "stripe_m2"]
    keys = list(_TABLE_KEYS) + extra
    header = ["T"] + keys + ["tau_E", "tau_|m|"]
    rows = [header]
    for r in results:
        rows.append([f"{r['T']:.4f}"] + [_fmt(r[k]) for k in keys]
                    + [f"{r['tau_int']['energy']:.2f}", f"{r['tau_int']['abs_m']:.2f}"])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in rows)
