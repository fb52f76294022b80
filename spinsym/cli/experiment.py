"""experiment groundstate: the multi-seed ground-state comparison (spinsym.tasks.experiment).

torch and escnn are imported inside the command only (``spinsym --help`` stays fast).
"""

from __future__ import annotations

import typer

from .app import app

experiment_app = typer.Typer(help="Run a multi-seed experiment from a spec file.",
                             no_args_is_help=True)
app.add_typer(experiment_app, name="experiment")


@experiment_app.command("groundstate")
def experiment_groundstate(
    spec: str = typer.Argument(..., help="Experiment spec (TOML): models, seeds, training "
                                         "budget, annealing budgets, evaluation sets."),
    out: str = typer.Option(..., "--out", help="Run directory (created if its parent exists): "
                                               "checkpoints/, evals/, references/, "
                                               "experiment.json, table.md, figures."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress lines."),
):
    """Train every model for every seed at equal budgets, evaluate raw and refined outputs and
    simulated annealing on every set, and write the table, JSON and figures (resumable)."""
    from ..tasks.experiment import check_out_dir, load_spec, prepare, run_experiment

    s = load_spec(spec)
    check_out_dir(out, spec, create=False)
    sets = prepare(s)

    def log(msg):
        if not quiet:
            typer.echo(msg, err=True)

    result = run_experiment(s, out, log=log, sets=sets)
    typer.echo(f"wrote {out}/experiment.json, {out}/table.md and "
               + ", ".join(result["figures"]))
