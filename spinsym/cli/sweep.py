"""sweep / plot binder (and the sweep-directory half of plot phase-diagram).

``plot phase-diagram`` is registered by :mod:`spinsym.cli.groundstate` (a ground-state
checkpoint); a sweep directory is drawn by :func:`spinsym.plot.sweep.plot_sweep_phase_diagram`.
Only if no ``phase-diagram`` command exists is one registered here (sweep directories only).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Optional

import typer

from .app import app, plot_app


@app.command("sweep")
def sweep(
    spec: str = typer.Argument(..., help="Sweep file (TOML): the grid of L, T, couplings, seeds; "
                                       "device = \"cpu\" or \"cuda\"."),
    out: str = typer.Option(..., "--out", help="Sweep directory (created if its parent exists): "
                                               "jobs/<id>.h5 and index.json."),
    workers: int = typer.Option(0, "--workers", help="Local worker processes (0: one per core)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler",
                                            help="Dask scheduler address tcp://HOST:PORT "
                                                 "(needs the dask extra; DIR on a shared "
                                                 "filesystem)."),
    retries: int = typer.Option(2, "--retries", help="Resubmissions of a job whose worker died."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the jobs and what is done; "
                                                          "run nothing."),
):
    """Run a grid of Monte Carlo jobs (one HDF5 file per temperature), resumably."""
    from .. import validate
    from ..errors import ParameterError, SpinsymError
    from ..sweep import load_spec, plan, run_sweep

    validate.threads(workers, "--workers")
    validate.nonnegative_int(retries, "--retries", maximum=100)
    if scheduler is not None and not scheduler.strip():
        raise ParameterError("--scheduler is empty; give tcp://HOST:PORT")
    validate.input_file(spec, "sweep file")
    if os.path.abspath(out) == os.path.abspath(spec):
        raise ParameterError(f"--out {out} is the sweep file itself; give a directory")
    grid = load_spec(spec)
    if dry_run:
        jobs, todo = plan(grid, out)
        waiting = {j.id for j in todo}
        for j in jobs:
            c = j.coords
            typer.echo(f"{j.id}  L={c['L']} T={c['T']:g} Jx={c['Jx']:g} Jy={c['Jy']:g} "
                       f"J2={c['J2']:g} h={c['h']:g} seed={c['seed']}  "
                       f"{'todo' if j.id in waiting else 'done'}")
        typer.echo(f"{len(jobs)} jobs, {len(jobs) - len(todo)} done, {len(todo)} to run")
        return
    if sys.stderr.isatty():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        with Progress("[bold]sweep", BarColumn(), MofNCompleteColumn(),
                      TimeRemainingColumn(), transient=True) as bar:
            task = bar.add_task("sweep", total=None)

            def progress(n, total):
                bar.update(task, completed=n, total=total)

            report = run_sweep(grid, out, workers=workers, scheduler=scheduler, retries=retries,
                               progress=progress)
    else:
        report = run_sweep(grid, out, workers=workers, scheduler=scheduler, retries=retries)
    typer.echo(report.summary())
    if report.failed:
        for job_id, message in list(report.failed.items())[:5]:
            typer.echo(f"  failed {job_id}: {message}", err=True)
        raise SpinsymError(f"{len(report.failed)} job(s) failed; rerun the same command to "
                           "retry them")


@plot_app.command("binder")
def plot_binder(
    path: str = typer.Argument(..., help="Sweep directory (from spinsym sweep)."),
    out: str = typer.Option(..., "--out", help="Output PNG."),
    order: Optional[str] = typer.Option(None, "--order",
                                        help="m, staggered or stripe (default: the largest "
                                             "order parameter at the lowest T)."),
    as_json: bool = typer.Option(False, "--json", help="Print the crossings as JSON."),
):
    """Binder cumulant U(T) for every L of a sweep, with the crossings and the exact Tc."""
    from ..fileio import check_out_path
    from ..plot.sweep import check_sweep_dir, format_binder, plot_binder as draw

    if order is not None:
        from .. import validate
        validate.choice(order, "--order", ("m", "staggered", "stripe"))
    check_out_path(out, inputs=[path])
    result = draw(check_sweep_dir(path), out, order)
    if as_json:
        from ..observables import json_form

        typer.echo(json.dumps(json_form(
            {"path": result["path"], "order": result["order"], "Tc": result["Tc"],
             "couplings": result["couplings"], "crossings": result["crossings"],
             "xi_crossings": result["xi_crossings"]}), allow_nan=False))
    else:
        typer.echo(format_binder(result))
        typer.echo(f"wrote {result['path']}")


def _phase_diagram_registered() -> bool:
    for info in plot_app.registered_commands:
        name = info.name or (info.callback.__name__.replace("_", "-") if info.callback else "")
        if name == "phase-diagram":
            return True
    return False


if not _phase_diagram_registered():  # pragma: no cover - groundstate.py registers it
    @plot_app.command("phase-diagram")
    def plot_phase_diagram(
        path: str = typer.Argument(..., help="Sweep directory (from spinsym sweep)."),
        out: str = typer.Option(..., "--out", help="Output PNG."),
        L: Optional[int] = typer.Option(None, "--L", help="Lattice size (default: largest)."),
    ):
        """Finite-temperature phase diagram of a sweep over Jy/Jx and T, exact line overlaid."""
        from ..plot.sweep import check_sweep_dir, plot_sweep_phase_diagram

        typer.echo(f"wrote {plot_sweep_phase_diagram(check_sweep_dir(path), out, L=L)}")
