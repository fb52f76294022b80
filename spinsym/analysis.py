"""From an HDF5 file to observables with error bars (the ``analyze`` command's engine)."""

from __future__ import annotations

from .data import read
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
    return res


def analyze_dataset(dataset) -> list:
    """One JSON-ready dict per temperature group of a file (:func:`spinsym.data.read`) or of
    an in-memory :class:`spinsym.runs.Run`, in order."""
    from .runs import Run

    if isinstance(dataset, Run):
        return [analyze_group(g.model, g.configs, g.energy, g.attrs, g.couplings,
                              where=f"run[{i}]") for i, g in enumerate(dataset)]
    return [analyze_group(g.model, g.configs(), g.energy(), g.attrs, g.couplings,
                          where=f"{g.path} {g.name}") for g in dataset]


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
