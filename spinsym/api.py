"""The public Python API: everything the command line does, returning objects in memory.

    import spinsym
    run = spinsym.simulate("ising", L=16, T=[2.0, 2.269, 2.5], sweeps=20000, seed=1)
    run[1].configs            # (n, 16, 16) int8
    res = spinsym.analyze(run)            # the keys of `spinsym analyze --json`
    res[1]["energy_per_site"]["mean"]
    run.save("ising.h5"); run2 = spinsym.load("ising.h5")

    gs = spinsym.GroundStatePredictor.load("sympe.pt")
    spins = gs.predict([{"Jx": 1, "Jy": -1, "J2": 0, "h": 0}], L=8, samples=4, seed=0)

    sampler = spinsym.Sampler.load("sampler.pt")
    run = sampler.sample(T=[2.269], L=8, n=2000, seed=0)   # MH-corrected by default

Bad input raises :class:`spinsym.SpinsymError` (``ParameterError``, ``DataError``) with the
same one-line messages the command line prints.  torch and escnn load only when a learning
class is used.
"""

from __future__ import annotations

import os
import sys
from typing import Iterable, Mapping

import numpy as np

from .errors import ParameterError
from .runs import Run, RunBuilder, load


def _couplings(Jx, Jy, J2, h, couplings, L=None):
    """Scalar keywords, or ``couplings``: a Couplings, a BondCouplings or a mapping of Jx,
    Jy, J2p, J2m (or J2), h with numbers or L × L arrays (docs/conventions.md)."""
    from .couplings import as_couplings
    from .hamiltonians import Couplings

    if couplings is None:
        return Couplings(Jx, Jy, J2, h)
    return as_couplings(couplings, L)


def _progress_bar(enabled: bool, total: int, label: str):
    """A rich progress bar on stderr (a no-op context when disabled)."""
    import contextlib

    if not enabled:
        return contextlib.nullcontext(None)
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeRemainingColumn)

    @contextlib.contextmanager
    def bar():
        with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("sweeps"),
                      TimeRemainingColumn(), transient=True,
                      console=Console(file=sys.stderr)) as p:
            task = p.add_task(label, total=total)
            yield lambda n: p.advance(task, n)

    return bar()


def simulation_config(model: str, *, L: int, T, Jx: float = 1.0, Jy: float = 1.0,
                      J2: float = 0.0, h: float = 0.0, couplings=None,
                      algorithm: str = "metropolis", sweeps: int = 10000, thermalize: int = 1000,
                      every: int = 10, seed: int = 0, overrelax: int = 0,
                      threads: int | None = None, exchange: bool = False,
                      exchange_every: int = 1, replicas: int = 1):
    """The validated :class:`spinsym.mc.run.SimulationConfig` of a :func:`simulate` call."""
    from . import validate
    from .mc.run import SimulationConfig

    if not isinstance(exchange, (bool, np.bool_)):
        raise ParameterError(f"exchange must be True or False, got {exchange!r}")
    K = validate.positive_int(exchange_every, "exchange_every")
    temps = [T] if np.ndim(T) == 0 and not isinstance(T, str) else T
    return SimulationConfig(model=model, L=L, temperatures=temps,
                            couplings=_couplings(Jx, Jy, J2, h, couplings, L), algorithm=algorithm,
                            sweeps=sweeps, thermalize=thermalize, every=every, seed=seed,
                            overrelax=overrelax, threads=threads or 0,
                            exchange_every=K if exchange else 0, replicas=replicas)


def check_device(cfg, device: str):
    """ParameterError unless ``device`` runs ``cfg`` (the GPU path has no replica exchange,
    replicas or resume state)."""
    from . import validate

    validate.choice(device, "device", ("cpu", "cuda"))
    if device == "cuda":
        from .mc.gpu import check_config

        if cfg.exchange_every or cfg.replicas > 1:
            raise ParameterError("--device cuda runs neither replica exchange nor replicas; "
                                 "use the CPU")
        check_config(cfg)


def run_config(cfg, *, device: str = "cpu", out=None, progress: bool = False,
               checkpoint_seconds: float | None = None):
    """Run a :class:`~spinsym.mc.run.SimulationConfig` on ``device``: into the file ``out``
    (returns its path; the ``simulate`` command) or, without ``out``, in memory (a Run).
    ``checkpoint_seconds``: seconds of work between checkpoints ``OUT.partial`` (files only;
    0: none; default :data:`spinsym.mc.run.CHECKPOINT_SECONDS`)."""
    from .mc import run as mc_run

    check_device(cfg, device)
    total = cfg.n_chains * (cfg.thermalize + cfg.n_samples * cfg.every)
    sink = None if out is not None else RunBuilder(cfg.model, cfg.L)
    with _progress_bar(progress, total, f"{cfg.model} L={cfg.L} {cfg.algorithm}") as advance:
        path = None if out is None else os.fspath(out)
        if device == "cuda":
            from .mc.gpu import simulate_gpu

            return simulate_gpu(cfg, path, progress=advance, sink=sink)
        return mc_run.simulate(cfg, path, progress=advance, sink=sink,
                               checkpoint_seconds=_checkpoint(checkpoint_seconds))


def _checkpoint(seconds):
    from . import validate
    from .mc.run import CHECKPOINT_SECONDS

    if seconds is None:
        return CHECKPOINT_SECONDS
    return validate.finite_float(seconds, "checkpoint_every", minimum=0.0)


def resume_run(source, *, sweeps: int = 0, out=None, threads: int | None = None,
               progress: bool = False, checkpoint_seconds: float | None = None):
    """Continue ``source`` (a file of ``simulate``, its checkpoint ``OUT.partial``, or a Run
    with its resume state) for ``sweeps`` more measurement sweeps: into the file ``out``
    (returns its path) or in memory (a Run).  Bit for bit one uninterrupted run."""
    from .mc import run as mc_run

    src = mc_run._Source(source if isinstance(source, Run) else os.fspath(source))
    total = src.config.n_chains * mc_run.remaining_sweeps(src, sweeps)
    sink = None if out is not None else RunBuilder(src.config.model, src.config.L)
    c = src.config
    with _progress_bar(progress, max(0, total), f"{c.model} L={c.L} {c.algorithm}") as advance:
        return mc_run.resume(src, sweeps, None if out is None else os.fspath(out),
                             progress=advance, sink=sink, threads=threads or 0,
                             checkpoint_seconds=_checkpoint(checkpoint_seconds))


def simulate(model: str | None = None, *, L: int | None = None, T=None, Jx: float = 1.0,
             Jy: float = 1.0, J2: float = 0.0, h: float = 0.0, couplings=None,
             algorithm: str = "metropolis", sweeps: int | None = None, thermalize: int = 1000,
             every: int = 10, seed: int = 0, overrelax: int = 0, device: str = "cpu",
             threads: int | None = None, progress: bool = False, exchange: bool = False,
             exchange_every: int = 1, replicas: int = 1, resume=None) -> Run:
    """Monte Carlo at each temperature of ``T`` (a number or a sequence), in memory.

    The same chains, bit for bit, as ``spinsym simulate`` with the same arguments; ``device=
    "cuda"`` runs the GPU path (Ising Metropolis/heat bath, J2 = 0).  Returns a :class:`Run`.

    ``exchange=True``: replica exchange (parallel tempering) between neighbouring
    temperatures every ``exchange_every`` sweeps.  ``replicas=2``: two independent chains
    (ladders) per temperature, for the overlaps that :func:`analyze` adds (Ising).
    ``resume``: a Run returned by ``simulate`` (or ``load``) or the path of a file or
    checkpoint that ``simulate`` wrote; the run continues for ``sweeps`` more measurement
    sweeps (default 0: only complete an interrupted run) and nothing else may be given.  The
    result equals one uninterrupted run with the total sweeps, bit for bit.
    """
    if resume is not None:
        given = [k for k, v in (("model", model), ("L", L), ("T", T), ("couplings", couplings))
                 if v is not None]
        if given or exchange or replicas != 1:
            what = ", ".join(given) or "exchange/replicas"
            raise ParameterError(f"resume continues a run as it was made: give only sweeps "
                                 f"(and threads, progress), not {what}")
        if device != "cpu":
            raise ParameterError("resume runs on the CPU")
        return resume_run(resume, sweeps=sweeps or 0, threads=threads, progress=progress)
    if model is None or L is None or T is None:
        raise ParameterError("simulate needs model, L and T (or resume=...)")
    cfg = simulation_config(model, L=L, T=T, Jx=Jx, Jy=Jy, J2=J2, h=h, couplings=couplings,
                            algorithm=algorithm,
                            sweeps=10000 if sweeps is None else sweeps, thermalize=thermalize,
                            every=every, seed=seed, overrelax=overrelax, threads=threads,
                            exchange=exchange, exchange_every=exchange_every, replicas=replicas)
    return run_config(cfg, device=device, progress=progress)


def analyze(run_or_path) -> list:
    """Observables with error bars per temperature: the list ``analyze --json`` prints under
    ``results`` (``res[i]["energy_per_site"]["mean"]``, ``["err"]``, ...)."""
    from .analysis import analyze_dataset, analyze_file

    if isinstance(run_or_path, Run):
        return analyze_dataset(run_or_path)
    if isinstance(run_or_path, (str, os.PathLike)):
        return analyze_file(os.fspath(run_or_path))
    raise ParameterError("analyze takes a Run or the path of a spinsym HDF5 file")


def SpinConfigs(path_or_run, **kw):
    """The torch Dataset over one or more files or Runs (see :mod:`spinsym.torchdata`)."""
    from .torchdata import SpinConfigs as _SpinConfigs

    return _SpinConfigs(path_or_run, **kw)


def _hamiltonians(hamiltonians, L: int):
    """Hamiltonians in any accepted form -> :class:`spinsym.tasks.groundstate.HamiltonianSet`:
    a dict or a list of dicts ({Jx, Jy, J2, h} or per-bond {Jx, Jy, J2p, J2m (or J2), h} with
    numbers or L × L lists), Couplings / BondCouplings objects, or an array (P, 4)."""
    from .couplings import BondCouplings
    from .hamiltonians import Couplings
    from .tasks.groundstate import parse_hamiltonians

    if isinstance(hamiltonians, (Mapping, Couplings, BondCouplings)):
        hamiltonians = [hamiltonians]
    if isinstance(hamiltonians, np.ndarray):
        arr = np.asarray(hamiltonians, dtype=np.float64)
        if arr.ndim == 1:
            arr = arr[None]
        if arr.ndim != 2 or arr.shape[1] != 4:
            raise ParameterError("hamiltonians as an array must have shape (P, 4): Jx, Jy, J2, h")
        hamiltonians = [dict(zip(("Jx", "Jy", "J2", "h"), map(float, row))) for row in arr]
    entries = []
    for item in hamiltonians:
        if isinstance(item, Couplings):
            item = item.as_dict()
        elif isinstance(item, BondCouplings):
            item = item.as_json()
        entries.append(item)
    return parse_hamiltonians(entries, L, where="hamiltonians")


class GroundStatePredictor:
    """A trained ground-state predictor (``spinsym train groundstate``)."""

    def __init__(self, network, meta: dict, device: str):
        self.network, self.meta, self.device = network, meta, device

    @classmethod
    def load(cls, path, device: str = "cpu") -> "GroundStatePredictor":
        from .tasks.groundstate import load_checkpoint, resolve_device

        device = resolve_device(device)
        network, meta = load_checkpoint(os.fspath(path), device)
        return cls(network, meta, device)

    @property
    def arch(self) -> str:
        return self.meta.get("arch", self.meta.get("model"))

    def predict(self, hamiltonians: Iterable, *, L: int = 8, samples: int = 1, seed: int = 0,
                refine: bool = True, best_of: int | None = None, refine_pairs: bool = True,
                sampling: str | None = None, refine_lines: bool = True,
                decode: str | None = None) -> np.ndarray:
        """Spins int8 (P, samples, L, L) for P Hamiltonians (dicts of Jx, Jy, J2, h or per-bond
        dicts of Jx, Jy, J2p, J2m, h with numbers or L × L lists, Couplings / BondCouplings
        objects, or an array (P, 4)); each sample draws its own symmetry-breaking frame.
        ``refine``: the equivariant local descent of the output; ``refine_pairs`` (the default):
        it also flips improving bond pairs (``refine_pairs=False``: single flips only, the CLI's
        ``--single-flips``); ``refine_lines`` (the default): also blocks of whole rows or
        columns (``False``: the CLI's ``--no-refine-lines``).  ``best_of`` (default
        ``groundstate.PREDICT_BEST_OF``): each sample is the lowest-energy of that many refined
        draws.  ``sampling`` (SymPE only; default ``groundstate.PREDICT_SAMPLING``): how g̃ is
        drawn, one of ``groundstate.SAMPLING_MODES``.  ``decode`` (default
        ``groundstate.PREDICT_DECODE``): how logits become spins, one of
        ``groundstate.DECODE_MODES``.  The defaults are the CLI's."""
        from .tasks.groundstate import PREDICT_BEST_OF, PREDICT_DECODE, default_sampling, predict

        if best_of is None:
            best_of = PREDICT_BEST_OF
        if sampling is None:
            sampling = default_sampling(self.network)
        if decode is None:
            decode = PREDICT_DECODE

        for name, value, low in (("L", L, 2), ("samples", samples, 1), ("best_of", best_of, 1)):
            if int(value) != value or value < low:
                raise ParameterError(f"{name} must be an integer >= {low}, got {value}")
        if L % 2:
            raise ParameterError(f"L must be even, got {L}")
        P = _hamiltonians(hamiltonians, int(L))
        res = predict(self.network, P, int(L), samples=int(samples), seed=int(seed),
                      device=self.device, best_of=int(best_of), refine_output=bool(refine),
                      refine_pairs=bool(refine) and bool(refine_pairs),
                      refine_lines=bool(refine) and bool(refine_lines), sampling=sampling,
                      decode=decode)
        return res["spins"]


class Sampler:
    """A trained equivariant sampler (``spinsym train sampler``)."""

    def __init__(self, network, ckpt: dict, path: str, device: str):
        self.network, self.ckpt, self.path, self.device = network, ckpt, path, device

    @classmethod
    def load(cls, path, device: str = "cpu") -> "Sampler":
        from .tasks.sampler import load_checkpoint, resolve_device

        path = os.fspath(path)
        device = resolve_device(device)
        network, ckpt = load_checkpoint(path, device)
        return cls(network, ckpt, path, device)

    def sample(self, T, *, L: int | None = None, n: int = 1000, seed: int = 0, mh: bool = True,
               couplings=None, batch: int = 500, threads: int = 0, burn_in: int = 0) -> Run:
        """``n`` configurations per temperature, as a :class:`Run` (the ``sample`` command's
        output in memory): MH-corrected with the Boltzmann weight unless ``mh=False``
        (``burn_in``: proposals drawn first whose part of the chain is discarded)."""
        from .tasks.sampler import SampleConfig, check_sample_config, sample_into

        temps = [T] if np.ndim(T) == 0 and not isinstance(T, str) else T
        c = None if couplings is None else _couplings(1.0, 1.0, 0.0, 0.0, couplings)
        cfg = check_sample_config(SampleConfig(temps, self.ckpt["L"] if L is None else L, n,
                                               seed, mh, c, batch, self.device, threads,
                                               burn_in),
                                  self.ckpt)
        builder = RunBuilder(self.ckpt["model"], cfg.L)
        return sample_into(self.network, self.ckpt, cfg, builder, self.path)


__all__ = ["simulate", "analyze", "load", "Run", "SpinConfigs", "GroundStatePredictor",
           "Sampler"]
