"""The one typer application and its command groups.

Command modules (``spinsym/cli/*.py``) register their commands on these objects; they must
not import torch or escnn at module level (``spinsym --help`` stays fast).
"""

from __future__ import annotations

import typer

from .. import __version__

app = typer.Typer(
    name="spinsym",
    help="Lattice spin Monte Carlo and symmetry-breaking (SymPE) equivariant networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
train_app = typer.Typer(help="Train a model (ground-state predictor, sampler).", no_args_is_help=True)
evaluate_app = typer.Typer(help="Evaluate a trained model.", no_args_is_help=True)
plot_app = typer.Typer(help="Make figures (PNG).", no_args_is_help=True)
app.add_typer(train_app, name="train")
app.add_typer(evaluate_app, name="evaluate")
app.add_typer(plot_app, name="plot")


def _version(value: bool):
    if value:
        typer.echo(f"spinsym {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
):
    """Lattice spin Monte Carlo and symmetry-breaking (SymPE) equivariant networks."""


def plural(n: int, word: str) -> str:
    """'1 temperature', '3 temperatures' (for the commands' one-line summaries)."""
    return f"{n} {word}{'' if n == 1 else 's'}"
