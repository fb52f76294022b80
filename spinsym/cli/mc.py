"""Commands of the physics half: simulate, analyze, plot observables / snapshots."""

from __future__ import annotations

import json
import sys
from typing import Optional

import typer

from .app import app, plot_app, plural


@app.command()
def simulate(
    ctx: typer.Context,
    model: Optional[str] = typer.Argument(None, help="ising or xy (not with --resume)"),
    L: int = typer.Option(8, "--L", help="Linear lattice size (L × L torus)."),
    T: str = typer.Option("2.0,2.269,2.5", "--T",
                          help="Temperatures: a list 2.0,2.269,2.5, a range start:stop:step "
                               "(inclusive, e.g. 1.6:3.5:0.1) or a,b,...,z (step b - a)."),
    Jx: Optional[float] = typer.Option(None, "--Jx", help="Coupling along x.  [default: 1]"),
    Jy: Optional[float] = typer.Option(None, "--Jy", help="Coupling along y.  [default: 1]"),
    J2: Optional[float] = typer.Option(None, "--J2",
                                       help="Diagonal (next-nearest) coupling, both diagonals. "
                                            " [default: 0]"),
    h: Optional[float] = typer.Option(None, "--h",
                                      help="Magnetic field (along θ = 0 for xy).  [default: 0]"),
    couplings: Optional[str] = typer.Option(
        None, "--couplings",
        help="JSON file with per-bond couplings: one object with Jx, Jy, J2p, J2m (or J2) and "
             "h, each a number or an L × L nested list (docs/conventions.md). Excludes "
             "--Jx/--Jy/--J2/--h."),
    algorithm: str = typer.Option("metropolis", "--algorithm",
                                  help="metropolis, heatbath (fastest exact kernel: multi-spin "
                                       "where it applies), metropolis-scalar, heatbath-scalar, "
                                       "wolff, swendsen-wang (ising); "
                                       "metropolis, wolff (xy)."),
    sweeps: Optional[int] = typer.Option(
        None, "--sweeps", help="Measurement sweeps per temperature [default: 10000]; with "
                               "--resume: further sweeps [default: 0, only complete a "
                               "checkpoint]."),
    thermalize: int = typer.Option(1000, "--thermalize", help="Sweeps discarded first."),
    every: int = typer.Option(10, "--every", help="Store a configuration every K sweeps."),
    seed: int = typer.Option(0, "--seed", help="Root seed (one stream per temperature)."),
    overrelax: int = typer.Option(0, "--overrelax",
                                  help="xy metropolis: over-relaxation passes per sweep."),
    exchange: bool = typer.Option(False, "--exchange",
                                  help="Replica exchange (parallel tempering) between "
                                       "neighbouring temperatures of --T."),
    exchange_every: int = typer.Option(1, "--exchange-every",
                                       help="With --exchange: propose swaps every K sweeps."),
    replicas: int = typer.Option(1, "--replicas",
                                 help="Independent chains per temperature: 2 for the overlap "
                                      "q (ising; analyze pairs them)."),
    resume: Optional[str] = typer.Option(
        None, "--resume",
        help="Continue the run in this file (or its checkpoint FILE.partial) for --sweeps "
             "more sweeps; everything else comes from the file. Writes --out [default: the "
             "file, replaced when complete; FILE for FILE.partial]."),
    checkpoint_every: float = typer.Option(
        10.0, "--checkpoint-every",
        help="Seconds of work between checkpoints OUT.partial (0: none)."),
    threads: int = typer.Option(
        0, "--threads",
        help="Threads in all (0: one per core; 1: everything in one thread). Several chains "
             "(temperatures, replicas): one per thread. One chain: the threads share the "
             "lattice (ising metropolis/heatbath at L >= 1024). Same bits either way."),
    device: str = typer.Option("cpu", "--device",
                               help="cpu, or cuda: ising metropolis/heatbath with J2 = 0, "
                                    "all temperatures at once on an NVIDIA GPU."),
    out: Optional[str] = typer.Option(None, "--out", help="Output HDF5 file."),
):
    """Run Monte Carlo at each temperature and write the configurations to an HDF5 file."""
    from .. import validate
    from ..api import check_device, resume_run, run_config, simulation_config
    from ..errors import ParameterError
    from ..fileio import check_out_path

    validate.choice(device, "device", ("cpu", "cuda"))
    checkpoint = validate.finite_float(checkpoint_every, "--checkpoint-every", minimum=0.0)
    if resume is not None:
        shaping = [f"--{name.replace('_', '-')}" for name in (
            "L", "T", "Jx", "Jy", "J2", "h", "couplings", "algorithm", "thermalize", "every",
            "seed", "overrelax", "exchange", "exchange_every", "replicas", "device")
            if _given(ctx, name)]
        if model is not None or shaping:
            what = ", ".join(([model] if model is not None else []) + shaping)
            raise ParameterError(f"--resume continues the run as the file describes it; "
                                 f"leave out {what}")
        validate.input_file(resume, "file to resume")
        if out is None:
            out = resume[:-len(".partial")] if resume.endswith(".partial") else resume
        check_out_path(out)
        path = resume_run(resume, sweeps=0 if sweeps is None else sweeps, out=out,
                          threads=threads, progress=sys.stderr.isatty(),
                          checkpoint_seconds=checkpoint)
        from ..data import read

        ds = read(path)
        typer.echo(f"wrote {path}: {ds.model} L={ds.L}, {plural(len(ds), 'group')}, "
                   f"{plural(ds.temperatures[0].n_samples, 'sample')} each (resumed from "
                   f"{resume})")
        return
    if model is None:
        raise ParameterError("give the model (ising or xy), or --resume FILE")
    if out is None:
        raise ParameterError("give the output file (--out FILE.h5)")
    scalars = {k: v for k, v in (("Jx", Jx), ("Jy", Jy), ("J2", J2), ("h", h)) if v is not None}
    inputs = []
    if couplings is not None:
        from ..couplings import BondCouplings

        if scalars:
            raise ParameterError(f"--couplings and --{'/--'.join(scalars)} exclude each other: "
                                 "put every coupling in the JSON file")
        validate.input_file(couplings, "couplings JSON file")
        inputs.append(couplings)
        bonds = BondCouplings.load(couplings, L=validate.positive_int(L, "--L"))
    else:
        bonds = {k: validate.finite_float(v, f"--{k}") for k, v in scalars.items()}
    if not exchange and _given(ctx, "exchange_every"):
        raise ParameterError("--exchange-every needs --exchange")
    cfg = simulation_config(model, L=L, T=T, couplings=bonds, algorithm=algorithm,
                            sweeps=10000 if sweeps is None else sweeps, thermalize=thermalize,
                            every=every, seed=seed, overrelax=overrelax, threads=threads,
                            exchange=exchange, exchange_every=exchange_every,
                            replicas=replicas)
    check_device(cfg, device)
    check_out_path(out, inputs=inputs)
    path = run_config(cfg, device=device, out=out, progress=sys.stderr.isatty(),
                      checkpoint_seconds=checkpoint)
    nT = len(cfg.temperatures)
    typer.echo(f"wrote {path}: {model} L={cfg.L}, {plural(nT, 'temperature')}, "
               f"{plural(cfg.n_samples, 'sample')} each ({cfg.algorithm})")


def _given(ctx, name: str) -> bool:
    """Whether option ``name`` was given on the command line (not its default)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


@app.command()
def analyze(
    path: str = typer.Argument(..., help="HDF5 file written by simulate or sample."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
):
    """Observables with error bars (τ_int, jackknife) for every temperature of a file."""
    from ..analysis import analyze_file, format_table

    results = analyze_file(path)
    if as_json:
        typer.echo(json.dumps({"file": path, "results": results}, indent=1, allow_nan=False))
    else:
        typer.echo(format_table(results))


@plot_app.command("observables")
def plot_observables(
    path: str = typer.Argument(..., help="HDF5 file written by simulate or sample."),
    out: str = typer.Option(..., "--out", help="Output PNG."),
    snapshots: Optional[str] = typer.Option(None, "--snapshots",
                                            help="Also write a snapshot panel to this PNG."),
):
    """Energy, order parameter, specific heat, susceptibility and Binder cumulant versus T."""
    from ..analysis import analyze_dataset
    from ..data import read
    from ..fileio import check_out_path
    from ..plot.observables import plot_observables as draw, plot_snapshots

    if snapshots is not None:
        check_out_path(snapshots, inputs=[path, out], reserve=False)
    check_out_path(out, inputs=[path] + ([snapshots] if snapshots is not None else []))
    dataset = read(path)
    results = analyze_dataset(dataset)
    typer.echo(f"wrote {draw(dataset, results, out)}")
    if snapshots is not None:
        typer.echo(f"wrote {plot_snapshots(dataset, snapshots)}")


@plot_app.command("snapshots")
def plot_snapshots_cmd(
    path: str = typer.Argument(..., help="HDF5 file written by simulate or sample."),
    out: str = typer.Option(..., "--out", help="Output PNG."),
    per_temperature: int = typer.Option(3, "--per-T",
                                        help="Snapshots per temperature (1 to 12)."),
):
    """A panel of configuration snapshots (last samples of each temperature)."""
    from ..data import read
    from ..fileio import check_out_path
    from ..plot.observables import check_per_temperature, plot_snapshots

    check_per_temperature(per_temperature)
    check_out_path(out, inputs=[path])
    typer.echo(f"wrote {plot_snapshots(read(path), out, per_temperature)}")
