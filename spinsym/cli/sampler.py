"""train sampler / sample / plot compare.

torch and escnn are imported inside the command functions only (``spinsym --help`` stays fast).
"""

from __future__ import annotations

from typing import List, Optional

import typer

from ..errors import ParameterError
from .app import app, plot_app, plural, train_app


def _check_out(path: str, inputs=()) -> str:
    from ..fileio import check_out_path
    return check_out_path(path, inputs=list(inputs))


#: sampler files one comparison figure shows (one snapshot row each)
MAX_COMPARE = 6
#: bytes per site of one configuration in a network batch (a rough floor of activations)
_NET_BYTES_PER_SITE = 512


def _err(msg: str):
    typer.echo(msg, err=True)


from ..tasks.sampler import SamplerTrainConfig as _S  # noqa: E402  (defaults for --help; no torch)


@train_app.command("sampler")
def train_sampler(
    data: Optional[List[str]] = typer.Option(None, "--data",
                                             help="MC HDF5 file or sweep directory (all its "
                                                  "finished files; repeat for several); with "
                                                  "--resume: default the checkpoint's files."),
    model: Optional[str] = typer.Option(None, "--model", help="sympe, frames, gcnn or noise (the "
                                                              f"network) (default: {_S.arch})"),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed (initialization, batches, "
                                                            f"augmentation) (default: {_S.seed})"),
    out: str = typer.Option(..., "--out", help="Checkpoint path (.pt); also written every "
                                               "--checkpoint-every steps (marked partial)."),
    steps: Optional[int] = typer.Option(None, "--steps",
                                        help=f"Optimizer steps (default: {_S.steps})"),
    batch: Optional[int] = typer.Option(None, "--batch", help="Configurations per step "
                                                              f"(default: {_S.batch})"),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate (one-cycle) "
                                                          f"(default: {_S.lr:g})"),
    width: Optional[int] = typer.Option(None, "--width", help="Regular fields per layer "
                                                              f"(default: {_S.width})"),
    depth: Optional[int] = typer.Option(None, "--depth",
                                        help=f"Hidden layers (default: {_S.depth})"),
    pe_fields: Optional[int] = typer.Option(None, "--pe-fields",
                                            help="Regular fields of v (sympe) or ε (noise) "
                                                 f"(default: {_S.pe_fields})"),
    time_limit: Optional[float] = typer.Option(None, "--time-limit",
                                               help="Stop after this many seconds; the "
                                                    "checkpoint stays resumable (0: no limit) "
                                                    "(default: 0)"),
    device: Optional[str] = typer.Option(None, "--device", help="cpu or cuda (default: cpu)"),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch CPU threads (0: torch "
                                                                  "default) (default: 0)"),
    checkpoint_every: Optional[int] = typer.Option(
        None, "--checkpoint-every", help="Write the checkpoint to --out every N steps (and "
                                         "every 5 minutes); 0: only at the end "
                                         f"(default: {_S.checkpoint_every})"),
    config: Optional[str] = typer.Option(None, "--config",
                                         help="TOML file of settings (the SamplerTrainConfig "
                                              "field names; 'arch' is --model); options given "
                                              "here override it."),
    resume: Optional[str] = typer.Option(None, "--resume",
                                         help="Continue this checkpoint's run (partial, or "
                                              "complete with a larger --steps)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress lines."),
    objective: Optional[str] = typer.Option(
        None, "--objective",
        help="forward: maximum likelihood on --data; reverse: the variational free energy "
             "E_q[βE + log q] (score-function gradient, no data needed: give --L, --T and "
             "the couplings, or --data to take them from); mix: both "
             f"(default: {_S.objective})"),
    init: Optional[str] = typer.Option(
        None, "--init", help="Start from this sampler checkpoint's weights (same network; "
                             "any L: progressive training 8 → 16 → 32 → 64). Its --model, "
                             "--width, --depth, --pe-fields are the defaults."),
    L: Optional[int] = typer.Option(None, "--L", help="Lattice size of --objective reverse "
                                                      "without --data."),
    T: Optional[str] = typer.Option(None, "--T",
                                    help="Training temperatures of --objective reverse "
                                         "without --data (drawn per batch element): a list "
                                         "2.0,2.269,2.5, a range start:stop:step or "
                                         "a,b,...,z."),
    Jx: Optional[float] = typer.Option(None, "--Jx", help="Coupling along x (reverse without "
                                                          "--data).  [default: 1]"),
    Jy: Optional[float] = typer.Option(None, "--Jy", help="Coupling along y.  [default: 1]"),
    J2: Optional[float] = typer.Option(None, "--J2", help="Diagonal coupling.  [default: 0]"),
    h: Optional[float] = typer.Option(None, "--h", help="Magnetic field.  [default: 0]"),
):
    """Train an equivariant sampler P(configuration | T, couplings): on Monte Carlo data
    (--objective forward), on the Boltzmann weight alone (reverse), or both (mix)."""
    from .. import validate
    from ..training import build_config, read_checkpoint
    from ..tasks.sampler import CHECKPOINT_KIND, Target, describe_losses, train

    given = dict(arch=model, seed=seed, steps=steps, batch=batch, lr=lr, width=width,
                 depth=depth, pe_fields=pe_fields, time_limit=time_limit, device=device,
                 threads=threads, checkpoint_every=checkpoint_every, objective=objective)
    scalars = {k: v for k, v in (("Jx", Jx), ("Jy", Jy), ("J2", J2), ("h", h))
               if v is not None}
    for k, v in scalars.items():
        validate.finite_float(v, f"--{k}")
    if L is not None:
        validate.lattice_size(L, "--L")
    if T is not None:
        validate.temperatures(T, "--T")
    if init is not None:
        if resume:
            raise ParameterError("--init starts a new run; --resume continues one (give one)")
        validate.input_file(init, "--init checkpoint")
        stored = read_checkpoint(init, CHECKPOINT_KIND, _S)[1]
        for k in _S.NETWORK_FIELDS:  # the network of --init, unless given
            if given.get(k) is None:
                given[k] = getattr(stored, k)
    cfg = build_config(_S, CHECKPOINT_KIND, given, config, resume)
    target = None
    prev = read_checkpoint(resume, CHECKPOINT_KIND, _S)[0] if resume else None
    reverse_options = [f"--{k}" for k in scalars] + (["--L"] if L is not None else []) \
        + (["--T"] if T is not None else [])
    if reverse_options and (cfg.objective != "reverse" or data or resume):
        raise ParameterError(f"{'/'.join(reverse_options)} set the target of --objective "
                             "reverse without --data (and without --resume)")
    if not data and prev is not None:
        data = [d["path"] for d in prev.get("data", [])]
        if not data:  # a reverse run without data: its target is in the checkpoint
            rows = prev.get("targets") or []
            target = Target(prev["model"], int(prev["L"]),
                            tuple(sorted({r[0] for r in rows})),
                            tuple(sorted({tuple(r[1:]) for r in rows})))
    elif not data:
        if cfg.objective != "reverse":
            raise ParameterError("give the training data with --data FILE.h5 or a sweep "
                                 "directory (or --objective reverse with --L and --T, or "
                                 "--resume CKPT to continue a run)")
        if L is None or T is None:
            raise ParameterError("--objective reverse without --data needs --L and --T")
        target = Target("ising", L, validate.temperatures(T, "--T"), (
            (scalars.get("Jx", 1.0), scalars.get("Jy", 1.0), scalars.get("J2", 0.0),
             scalars.get("h", 0.0)),))
    paths = expand_data(data or [])
    ckpt = train(cfg, paths, log=None if quiet else _err, out=out, resume=resume,
                 target=target, init=init)
    state = "" if ckpt["complete"] else (f" (partial: step {ckpt['steps_done']} of "
                                         f"{ckpt['steps']}; continue with --resume {out})")
    final = describe_losses(ckpt["history"][-1]) if ckpt["history"] else ""
    typer.echo(f"wrote {out}: {ckpt['model']} sampler ({ckpt['arch']}, {cfg.objective}), "
               f"L={ckpt['L']}, {ckpt['steps_done']} steps in {ckpt['train_seconds']:.0f} s, "
               f"final {final}{state}")


def expand_data(data) -> list:
    """The HDF5 files of --data: files as given, and for a sweep directory (``spinsym sweep``)
    every finished job's file in the order of its index.  Each file is read once here (one
    clear line for a missing / foreign / corrupt file, before torch loads)."""
    import os

    from ..data import read
    from ..sweep.index import load_sweep

    paths = []
    for item in data:
        if os.path.isdir(item):
            paths.extend(row["file"] for row in load_sweep(item))
        else:
            paths.append(item)
    for path in paths:
        read(path)
    return paths


@app.command()
def sample(
    checkpoint: str = typer.Argument(..., help="Sampler checkpoint (train sampler)."),
    T: str = typer.Option(..., "--T", help="Comma-separated temperatures."),
    L: Optional[int] = typer.Option(None, "--L", help="Lattice size.",
                                    show_default="the training L"),
    n: int = typer.Option(1000, "--n", help="Configurations per temperature."),
    seed: int = typer.Option(0, "--seed", help="Seed (one stream per temperature)."),
    out: str = typer.Option(..., "--out", help="Output HDF5 file (the simulate schema)."),
    mh: bool = typer.Option(True, "--mh/--no-mh",
                            help="Independence Metropolis–Hastings with the Boltzmann weight "
                                 "(asymptotically exact; the default). --no-mh: the network's "
                                 "own samples."),
    Jx: Optional[float] = typer.Option(None, "--Jx", help="Couplings (each defaults to the "
                                                          "training data's).",
                                       show_default="training data"),
    Jy: Optional[float] = typer.Option(None, "--Jy", show_default="training data"),
    J2: Optional[float] = typer.Option(None, "--J2", show_default="training data"),
    h: Optional[float] = typer.Option(None, "--h", show_default="training data"),
    batch: int = typer.Option(500, "--batch", help="Configurations per network batch."),
    burn_in: int = typer.Option(0, "--burn-in",
                                help="With --mh: proposals drawn first whose part of the chain "
                                     "is discarded (0 is fine: the independence chain starts "
                                     "at a sampler draw)."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    threads: int = typer.Option(0, "--threads", help="torch CPU threads (0: torch default)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress lines."),
):
    """Draw configurations from a trained sampler into the HDF5 schema of simulate."""
    from .. import validate

    temps = validate.temperatures(T, "--T")  # one clear line before anything loads
    if L is not None:
        validate.lattice_size(L, "--L")
    validate.samples(n, "--n", maximum=10**8)
    validate.seed(seed, "--seed")
    validate.positive_int(batch, "--batch", maximum=10**6)
    validate.nonnegative_int(burn_in, "--burn-in", maximum=10**8)
    if burn_in and not mh:
        raise ParameterError("--burn-in discards the start of the MH chain; it needs --mh")
    validate.choice(device.split(":")[0], "device", ("cpu", "cuda"))
    validate.threads(threads, "--threads")
    for name, value in (("Jx", Jx), ("Jy", Jy), ("J2", J2), ("h", h)):
        if value is not None:
            validate.finite_float(value, f"--{name}")
    validate.input_file(checkpoint, "checkpoint")
    if L is not None:
        validate.check_memory(float(L) ** 2 * min(n, batch) * _NET_BYTES_PER_SITE,
                              f"--L {L} with --batch {min(n, batch)}")
    _check_out(out, inputs=[checkpoint])
    from ..hamiltonians import Couplings
    from ..tasks.sampler import (SampleConfig, check_sample_config, load_checkpoint,
                                 resolve_device, sample_to_file)

    resolve_device(device)
    model, ckpt = load_checkpoint(checkpoint, device)
    couplings = None
    if any(v is not None for v in (Jx, Jy, J2, h)):
        base = ckpt["couplings"][0] if len(ckpt["couplings"]) == 1 else [1.0, 1.0, 0.0, 0.0]
        couplings = Couplings(*(b if v is None else v for v, b in zip((Jx, Jy, J2, h), base)))
    cfg = check_sample_config(SampleConfig(temps, ckpt["L"] if L is None else L, n, seed, mh,
                                           couplings, batch, device, threads, burn_in), ckpt)
    lo, hi = min(ckpt["temperatures"]), max(ckpt["temperatures"])
    outside = [t for t in cfg.temperatures if not lo <= t <= hi]
    if outside and not quiet:
        _err(f"note: T = {', '.join(f'{t:g}' for t in outside)} outside the training range "
             f"[{lo:g}, {hi:g}] (extrapolation)")
    path = sample_to_file(model, ckpt, cfg, out, checkpoint, log=None if quiet else _err)
    typer.echo(f"wrote {path}: {ckpt['model']} L={cfg.L}, "
               f"{plural(len(cfg.temperatures), 'temperature')}, {plural(cfg.n, 'sample')} each "
               f"(sampler:{ckpt['arch']}{'+mh' if cfg.mh else ''})")


@plot_app.command("compare")
def plot_compare(
    mc: str = typer.Argument(..., help="Monte Carlo HDF5 file (simulate)."),
    samples: List[str] = typer.Argument(..., help="Sampler HDF5 file(s) (sample)."),
    out: str = typer.Option(..., "--out", help="Output PNG."),
):
    """Sampler output against Monte Carlo and exact curves: e, order parameter, c, Binder,
    helicity (XY), and snapshots."""
    from ..plot.compare import plot_compare as draw

    if len(samples) > MAX_COMPARE:
        raise ParameterError(f"at most {MAX_COMPARE} sampler files per figure, got "
                             f"{len(samples)}")
    _check_out(out, inputs=[mc, *samples])
    typer.echo(f"wrote {draw(mc, samples, out)}")
