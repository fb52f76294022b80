"""The Monte Carlo driver: validated configuration, one chain per temperature, parallel scan.

``simulate(config, out_path)`` thermalizes and samples every temperature of ``config`` and
streams the samples into the HDF5 schema of :mod:`spinsym.data`.  Temperatures run on a
thread pool (the Numba kernels release the GIL), so a scan uses every core.  Each
temperature's chain gets its own streams spawned from one root ``SeedSequence(seed)``: the
output is identical bit for bit whatever the number of threads or their timing.

Interruption (Ctrl-C or SIGTERM) sets a stop flag that the workers check between blocks of at
most a fraction of a second; the temporary file is deleted and nothing is left at the output path.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import queue
import threading
from dataclasses import dataclass, field

import numpy as np

from .. import validate
from ..errors import ParameterError
from ..fileio import Interrupted
from .. import models
from ..couplings import BondCouplings, as_couplings
from ..hamiltonians import Couplings, energy
from ..lattice import check_size
from .rng import state_from_seedsequence

#: site updates per block between stop-flag checks and progress updates
BLOCK_UPDATES = 1 << 24


def parse_temperatures(text, couplings=None) -> tuple:
    """'2.0,2.269,2.5' -> (2.0, 2.269, 2.5); also the ranges 'a:b:step' and 'a,b,...,z'.

    See :func:`spinsym.validate.temperatures`: every T positive, finite and above the
    overflow-safe floor for ``couplings``; no temperature twice."""
    return validate.temperatures(text, "T", couplings)


#: the largest over-relaxation count per sweep
MAX_OVERRELAX = 1000


@dataclass(frozen=True)
class SimulationConfig:
    model: str
    L: int
    temperatures: tuple
    #: homogeneous :class:`~spinsym.hamiltonians.Couplings` or per-bond
    #: :class:`~spinsym.couplings.BondCouplings` (homogeneous ones become Couplings)
    couplings: object = field(default_factory=Couplings)
    algorithm: str = "metropolis"
    sweeps: int = 10000
    thermalize: int = 1000
    every: int = 10
    seed: int = 0
    overrelax: int = 0
    threads: int = 0  # 0: one per core

    def __post_init__(self):
        model = models.get(self.model)
        validate.choice(self.algorithm, f"algorithm for {self.model}", tuple(model.algorithms))
        algorithm = model.algorithms[self.algorithm]
        L = check_size(self.L, even=algorithm.even_L, minimum=model.min_L)
        object.__setattr__(self, "L", L)
        object.__setattr__(self, "couplings", as_couplings(self.couplings, L))
        temps = parse_temperatures(self.temperatures, self.couplings)
        object.__setattr__(self, "temperatures", temps)
        for name in ("sweeps", "thermalize", "every"):
            object.__setattr__(self, name, validate.nonnegative_int(getattr(self, name), name))
        object.__setattr__(self, "seed", validate.seed(self.seed))
        object.__setattr__(self, "threads", validate.threads(self.threads))
        object.__setattr__(self, "overrelax", validate.nonnegative_int(
            self.overrelax, "overrelax", maximum=MAX_OVERRELAX))
        if self.every < 1:
            raise ParameterError("every must be at least 1")
        if self.sweeps < self.every:
            raise ParameterError(f"sweeps ({self.sweeps}) must be at least every ({self.every})")
        N = L * L
        site_updates = (self.thermalize + self.sweeps) * N * (1 + self.overrelax)
        if site_updates > validate.INT64_MAX:
            raise ParameterError(f"(thermalize + sweeps) x L² = {site_updates:.3g} site updates "
                                 "per temperature does not fit a 64-bit counter; use fewer "
                                 "sweeps")
        if algorithm.zero_field and self.couplings.has_field:
            raise ParameterError(f"{self.algorithm} needs h = 0; use metropolis or heatbath in "
                                 "a field")
        if self.overrelax and not algorithm.overrelax:
            raise ParameterError(f"over-relaxation is not available for {self.model} "
                                 f"{self.algorithm}")
        chains = min(len(temps), self.threads or os.cpu_count() or 1)
        validate.check_memory(chains * float(N) * model.bytes_per_site, f"L={L}")

    @property
    def n_samples(self) -> int:
        return self.sweeps // self.every

    @property
    def bond_couplings(self):
        """The per-bond couplings (stored as datasets), or None when homogeneous."""
        return self.couplings if isinstance(self.couplings, BondCouplings) else None

    def group_attrs(self, index: int) -> dict:
        """Attributes of temperature group ``index``; for per-bond couplings Jx, Jy, J2 and h
        are the means over bonds (J2 over both diagonals) and ``couplings`` is "per-bond"."""
        c = self.couplings
        if isinstance(c, BondCouplings):
            Jx, Jy, J2p, J2m, h = c.arrays(self.L)
            extra = dict(Jx=float(Jx.mean()), Jy=float(Jy.mean()),
                         J2=float((J2p.mean() + J2m.mean()) / 2), h=float(h.mean()),
                         couplings="per-bond")
        else:
            extra = dict(Jx=c.Jx, Jy=c.Jy, J2=c.J2, h=c.h)
        return dict(model=self.model, L=self.L, **extra,
                    T=self.temperatures[index], algorithm=self.algorithm, sweeps=self.sweeps,
                    thermalize=self.thermalize, every=self.every, seed=self.seed, stream=index,
                    overrelax=self.overrelax)


class Chain:
    """One Markov chain at one temperature, with its own random streams, driving the kernel
    that the model's algorithm table makes (:class:`spinsym.models.Kernel`)."""

    def __init__(self, config: SimulationConfig, index: int, ss: np.random.SeedSequence):
        self.config = config
        self.T = config.temperatures[index]
        self.beta = 1.0 / self.T
        init_ss, chain_ss = ss.spawn(2)
        model = models.get(config.model)
        self.state_array = model.random_state(np.random.default_rng(init_ss), config.L)
        self.rng_state = state_from_seedsequence(chain_ss)
        algorithm = model.algorithms[config.algorithm]
        self.counter_name = algorithm.counter
        self.kernel = algorithm.make(config, self.beta)
        self.counter = 0  # accepted moves / flipped spins / clusters during measurement
        self.sweeps_done = 0

    def run(self, n_out: int, every: int, adapt: bool = False, measure: bool = True) -> np.ndarray:
        out = np.empty((n_out,) + self.state_array.shape, dtype=self.state_array.dtype)
        count = self.kernel(self.state_array, self.rng_state, n_out, every, out, adapt)
        if measure:
            self.counter += int(count)
            self.sweeps_done += n_out * every
        return out

    def statistics(self) -> dict:
        """Algorithm statistics recorded in the group attributes."""
        N = self.config.L ** 2
        return {self.counter_name: self.counter / max(1, self.sweeps_done * N),
                **self.kernel.stats()}


def stored(model: str, configs: np.ndarray) -> np.ndarray:
    """Configurations as stored (the model's dtype); energies are computed from these."""
    return models.get(model).stored(configs)


def _block(total_sweeps_left: int, every: int, N: int) -> int:
    """Measurements per block so that one block is about BLOCK_UPDATES site updates."""
    return max(1, min(total_sweeps_left // every, BLOCK_UPDATES // max(1, every * N)))


def simulate(config: SimulationConfig, out_path: str | None, progress=None, sink=None):
    """Run every temperature of ``config`` and write ``out_path`` atomically; returns the path.

    ``sink``: instead of a file, any writer with the interface of
    :class:`spinsym.data.AtomicH5Writer` (e.g. :class:`spinsym.runs.RunBuilder`, which keeps
    the run in memory); then ``out_path`` is None and ``sink.commit()`` is returned.
    ``progress(n_sweeps)`` is called from the main thread as sweeps complete.
    """

    nT = len(config.temperatures)
    children = np.random.SeedSequence(config.seed).spawn(nT)
    threads = config.threads or os.cpu_count() or 1
    threads = max(1, min(threads, nT))
    stop = threading.Event()
    messages: queue.Queue = queue.Queue(maxsize=4 * threads)
    next_index = iter(range(nT))
    index_lock = threading.Lock()

    def put(item):
        while not stop.is_set():
            try:
                messages.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work():
        try:
            while not stop.is_set():
                with index_lock:
                    i = next(next_index, None)
                if i is None:
                    return
                _run_temperature(config, i, children[i], stop, put)
        except BaseException as exc:  # report to the main thread
            put(("error", None, exc))
        finally:
            put(("exit", None, None))

    if sink is None:
        from ..data import AtomicH5Writer, expected_size  # h5py only where files are written
        from ..fileio import check_free_space

        check_free_space(out_path, expected_size(config.model, config.L, nT, config.n_samples))
        sink = AtomicH5Writer(out_path, config.model, config.L)
    with sink as writer, _interrupt_flag(stop) as hit:
        for i in range(nT):
            writer.group(i, config.group_attrs(i), couplings=config.bond_couplings)
        pool = [threading.Thread(target=work, daemon=True) for _ in range(threads)]
        for t in pool:
            t.start()
        try:
            alive = threads
            while alive:
                if hit():
                    raise Interrupted(hit())
                try:
                    kind, i, payload = messages.get(timeout=0.2)
                except queue.Empty:
                    continue
                if kind == "data":
                    # measured here, in the main thread, while the workers keep sweeping
                    energies = np.asarray(energy(config.model, payload, config.couplings),
                                          dtype=np.float64)
                    writer.append(i, payload, energies)
                elif kind == "progress":
                    if progress is not None:
                        progress(payload)
                elif kind == "done":
                    writer.set_attrs(i, **payload)
                elif kind == "error":
                    raise payload
                elif kind == "exit":
                    alive -= 1
        finally:
            stop.set()
            # Workers check the stop flag between blocks (a fraction of a second), but one may
            # still be compiling a kernel (seconds, on a cold Numba cache): wait a little, then
            # leave it — the threads are daemons and write nothing; the writer here aborts.
            for t in pool:
                t.join(timeout=2.0)
        return writer.commit()


@contextlib.contextmanager
def _interrupt_flag(stop: threading.Event):
    """While active (main thread only), Ctrl-C and SIGTERM set ``stop`` and a flag that the
    caller checks at a safe point, instead of raising KeyboardInterrupt wherever the interpreter
    happens to be (inside a weakref callback it would be swallowed and the run would go on).
    The flag function returns the signal number (0 while none came); the caller raises
    :class:`spinsym.fileio.Interrupted` with it."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: 0
        return
    flag = []

    def handler(signum, frame):
        flag.append(signum)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield lambda: flag[0] if flag else 0
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)


def _run_temperature(config: SimulationConfig, i: int, ss, stop: threading.Event, put):
    chain = Chain(config, i, ss)
    N = config.L ** 2
    left = config.thermalize
    while left > 0 and not stop.is_set():
        n = min(left, max(1, BLOCK_UPDATES // N))
        chain.run(1, n, adapt=True, measure=False)
        left -= n
        put(("progress", i, n))
    left = config.n_samples * config.every
    while left > 0 and not stop.is_set():
        nb = _block(left, config.every, N)
        configs = stored(config.model, chain.run(nb, config.every))
        if not put(("data", i, configs)):
            return
        left -= nb * config.every
        put(("progress", i, nb * config.every))
    if not stop.is_set():
        put(("done", i, chain.statistics()))
