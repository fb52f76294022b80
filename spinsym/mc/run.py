"""The Monte Carlo driver: validated configuration, one chain per temperature (and replica),
replica exchange, checkpoints and resumable chains.

``simulate(config, out_path)`` thermalizes and samples every temperature of ``config`` and
streams the samples into the HDF5 schema of :mod:`spinsym.data`.  Every chain gets its own
streams from one root ``SeedSequence(seed)`` (chain ``g`` = ``replica * n_T + index`` gets
``spawn_key=(g,)``; replica ``r``'s exchange decisions get ``spawn_key=(R * n_T + r,)``), so
the output is identical bit for bit whatever the number of threads or their timing.

The chains run in lockstep on an absolute grid of sweeps: a kernel call ends at every
measurement (each ``every`` sweeps), at every exchange (each ``exchange_every`` sweeps, when
replica exchange is on), at the end of each thermalization block and at the end of
thermalization.  Between those points the chains are independent and run in parallel on a
thread pool (the Numba kernels release the GIL) when the work is large enough.  Because
the calls depend only on the configuration, a run continued from its file (:func:`resume`)
makes exactly the calls of one uninterrupted run and gives the same bits.

**Threads** (``threads``, 0: one per core).  With several chains (temperatures × replicas)
the threads go to the chains, one chain per thread at a time.  With one chain they go to its
kernel, which may split one lattice over them (the multi-spin strip kernel at
L >= :data:`spinsym.mc.msc.STRIP_MIN_L`; its strips and their streams depend on L only, so
the bits do not depend on the number of threads).  ``threads = 1`` is one thread in all:
the kernels, the per-sample energies and the HDF5 appends run in the calling thread.  With
more than one thread the appends run in one background thread (:class:`_Writes`), beside the
chains, so that writing overlaps sweeping.

**Samples.**  Where the kernel counts each stored configuration's energy and magnetization
itself (:attr:`spinsym.models.Kernel.observes`: the Ising multi-spin kernels and the XY
kernels with homogeneous couplings, bit for bit the model's ``energy`` and
``magnetization``), the driver stores those; otherwise it computes them with the model.
Where one kernel call storing n samples equals n calls storing one
(:attr:`spinsym.models.Kernel.batches`: the Ising kernels), the samples of a block take one
call.  The kernels write the samples straight into per-chain blocks, appended in blocks of
about ``FLUSH_SITES`` sites; for a run kept in memory (:class:`spinsym.runs.RunBuilder`) the
blocks are slices of the run's own arrays, so no sample is copied.

**Replica exchange** (``exchange_every = K > 0``): after every K sweeps, neighbouring
temperatures of the sorted ladder (pairs (0,1), (2,3), ... and (1,2), (3,4), ... in turn)
swap configurations with probability min(1, exp((β_i − β_j)(E_i − E_j))), E being THE
energy (:func:`spinsym.hamiltonians.energy`) of the current configurations.  A group keeps
its temperature (and its kernel, adaptive step and random stream); the configurations move.
Recorded per group: ``exchange_acceptance`` (the swap acceptance with the next higher T,
NaN for the highest), ``round_trips`` and ``round_trip_time`` (mean sweeps between a
walker's arrivals at the lowest T with a visit to the highest in between) of its replica;
both are counted during the measurement sweeps.

**Replicas** (``replicas = 2``): two independent ladders from independent streams, groups
``T_{g}`` with g = r * n_T + i (attribute ``replica`` = r), for overlaps (Ising only).

**Resumable chains.**  Every file ends with the resume state (``/resume``, see
:mod:`spinsym.data`): each chain's configuration, xoshiro state, adaptive kernel state and
counter, each ladder's exchange state, and the sweeps done.  While a run writes a file it
also writes the checkpoint ``OUT.partial`` (the file so far, atomically) every
``checkpoint_seconds`` of work, and once more on Ctrl-C / SIGTERM if one exists; a finished
run removes it.  :func:`resume` continues a finished file (more sweeps) or a checkpoint.

Interruption (Ctrl-C or SIGTERM) sets a stop flag checked between blocks of at most a
fraction of a second; the temporary file is deleted and only the checkpoint (if any) is left.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import queue
import sys
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from .. import validate
from ..errors import DataError, ParameterError
from ..fileio import Interrupted
from .. import models
from ..couplings import BondCouplings, as_couplings
from ..hamiltonians import Couplings, energy
from ..lattice import check_size
from .rng import state_from_seedsequence

#: site updates per block between stop-flag checks and progress updates
BLOCK_UPDATES = 1 << 24
#: while measuring, where every chain's kernel stores several samples in one call
#: (:attr:`Chain.batches`), blocks of this many times BLOCK_UPDATES per chain: twice as many
#: samples per call halves the per-call costs (L = 512, every 10: 12 samples a call, about
#: 2 % of the time through simulate)
SAMPLE_BLOCK_FACTOR = 2
#: buffered sites (all chains) that trigger an HDF5 append: few, large writes
FLUSH_SITES = 1 << 24


def parse_temperatures(text, couplings=None) -> tuple:
    """'2.0,2.269,2.5' -> (2.0, 2.269, 2.5); also the ranges 'a:b:step' and 'a,b,...,z'.

    See :func:`spinsym.validate.temperatures`: every T positive, finite and above the
    overflow-safe floor for ``couplings``; no temperature twice."""
    return validate.temperatures(text, "T", couplings)


#: the largest over-relaxation count per sweep
MAX_OVERRELAX = 1000
#: the most replicas per temperature
MAX_REPLICAS = 2


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
    #: replica exchange every K sweeps (0: none); fields marked ``omit_default`` are left out
    #: of sweep config hashes at their default, so older hashes stay valid
    exchange_every: int = field(default=0, metadata={"omit_default": True})
    #: independent chains per temperature (2: for overlaps)
    replicas: int = field(default=1, metadata={"omit_default": True})

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
        object.__setattr__(self, "exchange_every", validate.nonnegative_int(
            self.exchange_every, "exchange_every"))
        object.__setattr__(self, "replicas", validate.integer(self.replicas, "replicas",
                                                              minimum=1, maximum=MAX_REPLICAS))
        if self.exchange_every and len(temps) < 2:
            raise ParameterError("replica exchange needs at least two temperatures")
        if self.replicas > 1 and self.model != "ising":
            raise ParameterError(f"replicas (overlaps) are available for the ising model only, "
                                 f"not {self.model}")
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
        chains = len(temps) * self.replicas  # the chains run in lockstep: all in memory
        validate.check_memory(chains * float(N) * model.bytes_per_site, f"L={L}")

    @property
    def n_samples(self) -> int:
        return self.sweeps // self.every

    @property
    def bond_couplings(self):
        """The per-bond couplings (stored as datasets), or None when homogeneous."""
        return self.couplings if isinstance(self.couplings, BondCouplings) else None

    @property
    def n_chains(self) -> int:
        return len(self.temperatures) * self.replicas

    def group_attrs(self, index: int) -> dict:
        """Attributes of group ``index`` (= replica * n_T + temperature index); for per-bond
        couplings Jx, Jy, J2 and h are the means over bonds (J2 over both diagonals) and
        ``couplings`` is "per-bond"."""
        c = self.couplings
        if isinstance(c, BondCouplings):
            Jx, Jy, J2p, J2m, h = c.arrays(self.L)
            extra = dict(Jx=float(Jx.mean()), Jy=float(Jy.mean()),
                         J2=float((J2p.mean() + J2m.mean()) / 2), h=float(h.mean()),
                         couplings="per-bond")
        else:
            extra = dict(Jx=c.Jx, Jy=c.Jy, J2=c.J2, h=c.h)
        nT = len(self.temperatures)
        attrs = dict(model=self.model, L=self.L, **extra,
                     T=self.temperatures[index % nT], algorithm=self.algorithm,
                     sweeps=self.sweeps, thermalize=self.thermalize, every=self.every,
                     seed=self.seed, stream=index, overrelax=self.overrelax)
        if self.exchange_every:
            attrs["exchange_every"] = self.exchange_every
        if self.replicas > 1:
            attrs.update(replica=index // nT, replicas=self.replicas)
        return attrs


def adaptive_state(kernel) -> dict:
    """The kernel's own state, name -> array updated in place by the kernel (the XY Metropolis
    ``step``, the strip kernel's random streams ``strip_rng``): ``kernel.adaptive_state()``
    where the kernel defines it, else its ``step`` array if it has one.  Stored in the resume
    state and restored in place."""
    get = getattr(kernel, "adaptive_state", None)
    if callable(get):
        return dict(get())
    step = getattr(kernel, "step", None)
    return {"step": step} if isinstance(step, np.ndarray) else {}


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
        seed = getattr(self.kernel, "seed", None)
        if seed is not None:  # kernels with random streams of their own (Kernel.seed)
            seed(chain_ss)
        #: whether the kernel computes each stored configuration's energy and magnetization
        self.observes = bool(getattr(self.kernel, "observes", False))
        #: whether one call storing n samples equals n calls storing one, bit for bit
        self.batches = bool(getattr(self.kernel, "batches", False))
        self.counter = 0  # accepted moves / flipped spins / clusters during measurement
        self.sweeps_done = 0

    def run(self, n_out: int, every: int, adapt: bool = False, measure: bool = True) -> np.ndarray:
        out = np.empty((n_out,) + self.state_array.shape, dtype=self.state_array.dtype)
        count = self.kernel(self.state_array, self.rng_state, n_out, every, out, adapt)
        if measure:
            self.counter += int(count)
            self.sweeps_done += n_out * every
        return out

    def run_into(self, out, sweeps: int, adapt: bool, measure: bool, obs=None):
        """One kernel call of ``len(out) * sweeps`` sweeps: the state after each ``sweeps``
        goes to ``out[i]`` (one call for several samples only where :attr:`batches`), and
        with ``obs`` (float64 (len(out), 1 + magnetization size), only where
        :attr:`observes`) its energy and magnetization as the kernel counted them."""
        n = out.shape[0]
        if obs is None:
            count = self.kernel(self.state_array, self.rng_state, n, sweeps, out, adapt)
        else:
            count = self.kernel(self.state_array, self.rng_state, n, sweeps, out, adapt, obs=obs)
        if measure:
            self.counter += int(count)
            self.sweeps_done += n * sweeps

    def statistics(self) -> dict:
        """Algorithm statistics recorded in the group attributes."""
        N = self.config.L ** 2
        return {self.counter_name: self.counter / max(1, self.sweeps_done * N),
                **self.kernel.stats()}

    # -- resume state
    def state(self, prefix: str) -> dict:
        out = {f"{prefix}/state": self.state_array.copy(),
               f"{prefix}/rng_state": self.rng_state.copy(),
               f"{prefix}/counter": np.array([self.counter, self.sweeps_done], np.int64)}
        for name, arr in adaptive_state(self.kernel).items():
            out[f"{prefix}/adaptive/{name}"] = np.array(arr, copy=True)
        return out

    def restore(self, arrays: dict, prefix: str, where: str):
        try:
            state = arrays[f"{prefix}/state"]
            rng = arrays[f"{prefix}/rng_state"]
            counter = arrays[f"{prefix}/counter"]
        except KeyError as exc:
            raise DataError(f"{where}: the resume state lacks {exc.args[0]}") from None
        if state.shape != self.state_array.shape or rng.shape != (4,) \
                or rng.dtype != np.uint64 or not rng.any() or counter.shape != (2,):
            raise DataError(f"{where}: corrupt resume state of {prefix}")
        models.get(self.config.model).check_configs(state, where=f"{where} {prefix}")
        self.state_array = np.array(state, dtype=self.state_array.dtype)
        self.rng_state = np.array(rng, dtype=np.uint64)
        self.counter, self.sweeps_done = int(counter[0]), int(counter[1])
        for name, arr in adaptive_state(self.kernel).items():
            saved = arrays.get(f"{prefix}/adaptive/{name}")
            if saved is None or saved.shape != arr.shape:
                raise DataError(f"{where}: the resume state lacks {prefix}/adaptive/{name}")
            arr[...] = saved


class Exchange:
    """Replica exchange along one ladder of chains (one replica), with its own random stream
    (numpy PCG64 from a SeedSequence child), the walkers' labels and the statistics."""

    def __init__(self, chains: list, ss: np.random.SeedSequence):
        self.chains = chains
        nT = len(chains)
        self.order = np.argsort([c.T for c in chains], kind="stable")  # ladder position -> index
        self.rng = np.random.Generator(np.random.PCG64(ss))
        self.walker = np.arange(nT, dtype=np.int64)        # walker at each temperature index
        self.trip_start = np.full(nT, -1, dtype=np.int64)  # per walker: arrival at lowest T
        self.seen_high = np.zeros(nT, dtype=np.int64)      # per walker: visited highest since
        self.tried = np.zeros(nT - 1, dtype=np.int64)      # per ladder pair (p, p + 1)
        self.accepted = np.zeros(nT - 1, dtype=np.int64)
        self.trips = np.zeros(2, dtype=np.int64)           # round trips, their summed sweeps
        self._track(0, False)

    def _track(self, t: int, measuring: bool):
        low, high = self.walker[self.order[0]], self.walker[self.order[-1]]
        self.seen_high[high] = self.seen_high[high] or self.trip_start[high] >= 0
        if self.trip_start[low] < 0:
            self.trip_start[low] = t
        elif self.seen_high[low]:
            if measuring:
                self.trips += (1, t - self.trip_start[low])
            self.trip_start[low], self.seen_high[low] = t, 0

    def step(self, model: str, couplings, t: int, K: int, measuring: bool):
        """Propose the swaps of round t / K (even pairs, then odd pairs, in turn)."""
        chains, order = self.chains, self.order
        E = np.asarray(energy(model, np.stack([c.state_array for c in chains]), couplings),
                       dtype=np.float64)
        first = (t // K - 1) % 2
        pairs = range(first, len(chains) - 1, 2)
        u = self.rng.random(len(pairs))
        for p, r in zip(pairs, u):
            i, j = order[p], order[p + 1]
            delta = (chains[i].beta - chains[j].beta) * (E[i] - E[j])
            ok = delta >= 0.0 or r < math.exp(delta)
            if measuring:
                self.tried[p] += 1
                self.accepted[p] += ok
            if ok:
                chains[i].state_array, chains[j].state_array = \
                    chains[j].state_array, chains[i].state_array
                self.walker[i], self.walker[j] = self.walker[j], self.walker[i]
        self._track(t, measuring)

    def attrs(self, index: int) -> dict:
        """The exchange statistics stored with the group of temperature ``index``."""
        p = int(np.nonzero(self.order == index)[0][0])
        acc = (self.accepted[p] / self.tried[p] if p < len(self.tried) and self.tried[p]
               else float("nan"))
        n, total = int(self.trips[0]), int(self.trips[1])
        return {"exchange_acceptance": float(acc), "round_trips": n,
                "round_trip_time": total / n if n else float("nan")}

    # -- resume state
    _ARRAYS = ("walker", "trip_start", "seen_high", "tried", "accepted", "trips")

    def state(self, prefix: str) -> dict:
        s = self.rng.bit_generator.state
        words = [s["state"]["state"] >> 64, s["state"]["state"] & (2**64 - 1),
                 s["state"]["inc"] >> 64, s["state"]["inc"] & (2**64 - 1),
                 s["has_uint32"], s["uinteger"]]
        out = {f"{prefix}/rng_state": np.array(words, dtype=np.uint64)}
        out.update({f"{prefix}/{k}": getattr(self, k).copy() for k in self._ARRAYS})
        return out

    def restore(self, arrays: dict, prefix: str, where: str):
        try:
            w = [int(v) for v in arrays[f"{prefix}/rng_state"]]
            saved = {k: arrays[f"{prefix}/{k}"] for k in self._ARRAYS}
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{where}: the resume state lacks the exchange state {prefix}") \
                from None
        if len(w) != 6 or any(saved[k].shape != getattr(self, k).shape for k in saved) \
                or sorted(saved["walker"].tolist()) != list(range(len(self.chains))):
            raise DataError(f"{where}: corrupt exchange state {prefix}")
        self.rng.bit_generator.state = {
            "bit_generator": "PCG64", "state": {"state": (w[0] << 64) | w[1],
                                                "inc": (w[2] << 64) | w[3]},
            "has_uint32": w[4], "uinteger": w[5]}
        for k, v in saved.items():
            getattr(self, k)[...] = v


def stored(model: str, configs: np.ndarray) -> np.ndarray:
    """Configurations as stored (the model's dtype); energies are computed from these."""
    return models.get(model).stored(configs)


#: site updates per chain and segment above which the chains of a segment run in parallel
PARALLEL_UPDATES = 1 << 15
#: default seconds of work between checkpoints (``OUT.partial``); 0: no checkpoints
CHECKPOINT_SECONDS = 10.0
#: the format of the resume state
RESUME_FORMAT = 1


def checkpoint_path(out_path: str) -> str:
    """The checkpoint written beside ``out_path`` while a run is under way."""
    return os.fspath(out_path) + ".partial"


class _Pool:
    """Daemon worker threads: ``map(fn, items)`` runs fn on every item and waits (a worker
    still compiling a kernel when the run is interrupted never blocks the exit)."""

    def __init__(self, n: int):
        self.tasks: queue.Queue = queue.Queue()
        self.threads = [threading.Thread(target=self._work, daemon=True) for _ in range(n)]
        for t in self.threads:
            t.start()

    def _work(self):
        while True:
            item = self.tasks.get()
            if item is None:
                return
            fn, arg, done, slot = item
            try:
                slot.append(("ok", fn(arg)))
            except BaseException as exc:  # reported to the caller
                slot.append(("error", exc))
            done.release()

    def map(self, fn, items, interrupted):
        """Results in order; ``interrupted()`` is polled while waiting: when true, map returns
        None at once (the tasks finish in the background) unless ``wait`` is requested."""
        done = threading.Semaphore(0)
        slots = [[] for _ in items]
        for arg, slot in zip(items, slots):
            self.tasks.put((fn, arg, done, slot))
        for _ in items:
            while not done.acquire(timeout=0.2):
                if interrupted():
                    return None
        for slot in slots:
            if slot[0][0] == "error":
                raise slot[0][1]
        return [slot[0][1] for slot in slots]

    def close(self):
        for _ in self.threads:
            self.tasks.put(None)


class _Driver:
    """The chains of a run in lockstep, the ladders' exchanges, the grid of kernel calls, the
    samples' buffers and the resume state."""

    def __init__(self, config: SimulationConfig):
        self.config = config
        nT, R = len(config.temperatures), config.replicas
        self.model = models.get(config.model)
        self.N = config.L ** 2
        self.chains = [Chain(config, g % nT, np.random.SeedSequence(config.seed, spawn_key=(g,)))
                       for g in range(nT * R)]
        K = config.exchange_every
        self.ladders = [Exchange(self.chains[r * nT:(r + 1) * nT],
                                 np.random.SeedSequence(config.seed, spawn_key=(R * nT + r,)))
                        for r in range(R)] if K else []
        self.t = 0  # sweeps done by every chain (thermalization + measurement)
        # the samples since the last flush: one block per chain (configurations as stored,
        # and the kernel's energy and magnetization where it counts them), filled in place
        # by the kernels, so a sample costs no allocation and no copy.  The blocks are
        # reused, or, where the sink keeps the run in memory (:meth:`reserve`), they are the
        # next slices of the run's own arrays, so that an append copies nothing.
        c = config
        block = BLOCK_UPDATES * (SAMPLE_BLOCK_FACTOR if all(ch.batches for ch in self.chains)
                                 else 1)
        #: sweeps per block while measuring (:meth:`plan`)
        self.limit = max(c.every, block // self.N)
        self._end = c.thermalize + c.n_samples * c.every
        per_step = self.limit // c.every + 2
        self.capacity = max(1, FLUSH_SITES // (self.N * len(self.chains))) + per_step
        self.per_step = per_step
        self.obs_width = 1 + int(np.prod(self.model.magnetization_shape, dtype=np.int64))
        self.blocks = [None] * len(self.chains)
        self.obs = [None] * len(self.chains)
        self._spare_blocks = [None] * len(self.chains)  # for flushes in the background
        self._spare_obs = [None] * len(self.chains)
        self.filled = [0] * len(self.chains)
        self.regions = None  # per chain: the sink's room for the samples to come
        self.used = [0] * len(self.chains)  # per chain: samples of its region appended

    def reserve(self, writer):
        """Where the sink has ``reserve(index, n)`` (:class:`spinsym.runs.RunBuilder`), ask it
        for the room of every chain's samples to come and let the kernels write there."""
        reserve = getattr(writer, "reserve", None)
        if reserve is None:
            return
        c = self.config
        n = c.n_samples - _measured(c, self.t) // c.every
        self.regions = [reserve(g, n) for g in range(len(self.chains))]
        self.blocks = [None] * len(self.chains)
        self.used = [0] * len(self.chains)

    # -- the grid of kernel calls
    def end(self) -> int:
        return self._end

    def _segment_end(self, t: int) -> int:
        """The next grid point after ``t``."""
        c = self.config
        ends = [self.end()]
        if t < c.thermalize:
            tb = max(1, BLOCK_UPDATES // self.N)
            ends += [c.thermalize, (t // tb + 1) * tb]
        else:
            m = t - c.thermalize
            ends.append(c.thermalize + (m // c.every + 1) * c.every)
        if c.exchange_every:
            ends.append((t // c.exchange_every + 1) * c.exchange_every)
        return min(ends)

    def plan(self) -> list:
        """The grid points of the next block: one segment while thermalizing or when the
        ladders exchange, else the measurement grid points (every ``every`` sweeps) of about
        ``limit`` sweeps per chain (BLOCK_UPDATES site updates, times SAMPLE_BLOCK_FACTOR
        where the kernels batch), at least one."""
        c = self.config
        if c.exchange_every or self.t < c.thermalize:
            return [self._segment_end(self.t)]
        t, th, ev = self.t, c.thermalize, c.every
        if t >= self._end:
            return []
        first = th + ((t - th) // ev + 1) * ev  # the grid ends at _end, a grid point
        last = max(first, th + ((min(self._end, t + self.limit) - th) // ev) * ev)
        return list(range(first, last + 1, ev))

    def _advance(self, job):
        """Run chain ``g`` through the segments ending at ``points``; the stored samples.
        Consecutive samples one ``every`` apart take one kernel call where the kernel
        :attr:`~Chain.batches` and writes the stored dtype itself."""
        g, points = job
        c, chain, t = self.config, self.chains[g], self.t
        block, obs, k = self._block(g), self.obs[g], self.filled[g]
        direct = block.dtype == chain.state_array.dtype  # the kernel writes the block itself
        batch = direct and chain.batches
        out = None if direct else np.empty((1,) + chain.state_array.shape,
                                           dtype=chain.state_array.dtype)
        i = 0
        while i < len(points):
            p = points[i]
            thermal = t < c.thermalize
            sample = not thermal and (p - c.thermalize) % c.every == 0
            m = 1
            if sample and batch:
                while i + m < len(points) and points[i + m] - points[i + m - 1] == p - t:
                    m += 1
            if k + m > block.shape[0]:  # must_flush() leaves room for a whole step
                raise RuntimeError("sample block overflow")
            # (a segment without a sample writes the next free slot, overwritten later)
            target = block[k:k + m] if direct else out
            chain.run_into(target, p - t, adapt=thermal, measure=not thermal,
                           obs=obs[k:k + m] if sample and chain.observes else None)
            if sample:
                if not direct:
                    block[k] = stored(c.model, out[0])
                k += m
            t = points[i + m - 1]
            i += m
        return k

    def step(self, points: list, pool, interrupted) -> bool:
        """Advance every chain to ``points[-1]`` and exchange there if due; False if
        interrupted before the block completed (the chains are then in an unknown state)."""
        jobs = [(g, points) for g in range(len(self.chains))]
        if pool is not None and self.N * (points[-1] - self.t) >= PARALLEL_UPDATES:
            results = pool.map(self._advance, jobs, interrupted)
            if results is None:
                return False
        else:
            results = [self._advance(job) for job in jobs]
        for g, k in enumerate(results):
            self.filled[g] = k
        self.t = points[-1]
        K = self.config.exchange_every
        if K and self.t % K == 0:
            measuring = self.t > self.config.thermalize
            for ladder in self.ladders:
                ladder.step(self.config.model, self.config.couplings, self.t, K, measuring)
        return True

    # -- output
    def _block(self, g: int) -> np.ndarray:
        if self.blocks[g] is None:
            if self.regions is not None:
                a = self.used[g]
                self.blocks[g] = self.regions[g][a:a + self.capacity]
            else:
                shape = (self.capacity,) + self.chains[g].state_array.shape
                self.blocks[g] = np.empty(shape, dtype=self.model.dtype)
        if self.obs[g] is None:
            self.obs[g] = np.empty((self.capacity, self.obs_width), np.float64)
        return self.blocks[g]

    def buffered(self) -> int:
        """Sites of the samples waiting to be appended."""
        return sum(self.filled) * self.N

    def must_flush(self) -> bool:
        """Whether to append now: about FLUSH_SITES buffered, or a block with no room for
        another step's samples."""
        return self.buffered() >= FLUSH_SITES or any(
            k + self.per_step > (self.capacity if b is None else b.shape[0])
            for k, b in zip(self.filled, self.blocks))

    def flush(self, writer, writes=None):
        """Append the buffered samples, one append per chain.  Energies and magnetizations
        come from the kernel where it counted them (:attr:`Chain.observes`: bit for bit the
        model's), else from the model's ``energy`` and ``magnetization``.  Reused blocks are
        copied by the writer; blocks in the sink's reserved room are recorded in place, and
        the next samples go to the room after them.

        ``writes``: a :class:`_Writes` that runs the appends (and the model's energy pass) in
        its background thread; reused blocks are then swapped for a spare set, which the
        previous background flush has released (one flush in flight at most)."""
        items = []
        for g, k in enumerate(self.filled):
            if k:
                obs = self.obs[g][:k].copy() if self.chains[g].observes else None
                items.append((g, self.blocks[g][:k], obs))
                self.filled[g] = 0
                if self.regions is not None:  # the next samples: the room after these
                    self.used[g] += k
                    self.blocks[g] = None
        if not items:
            return

        def write():
            for g, configs, obs in items:
                if obs is not None:
                    energies = obs[:, 0].copy()
                    mag = obs[:, 1].copy() if obs.shape[1] == 2 else obs[:, 1:].copy()
                else:
                    energies = np.asarray(energy(self.config.model, configs,
                                                 self.config.couplings), dtype=np.float64)
                    mag = None
                writer.append(g, configs, energies, magnetization=mag)

        if writes is None or writes.pool is None:
            write()
            return
        writes.wait()  # the spare blocks are free again
        if self.regions is None:
            self.blocks, self._spare_blocks = self._spare_blocks, self.blocks
        self.obs, self._spare_obs = self._spare_obs, self.obs
        writes.submit(write)

    def statistics(self, g: int) -> dict:
        nT = len(self.config.temperatures)
        out = self.chains[g].statistics()
        if self.ladders:
            out.update(self.ladders[g // nT].attrs(g % nT))
        return out

    def resume_state(self) -> dict:
        c, nT = self.config, len(self.config.temperatures)
        arrays = {}
        for g, chain in enumerate(self.chains):
            arrays.update(chain.state(f"T_{g:03d}/resume"))
            arrays[f"T_{g:03d}/resume/position"] = np.array(
                [RESUME_FORMAT, self.t, c.thermalize, c.n_samples * c.every], dtype=np.int64)
        for r, ladder in enumerate(self.ladders):
            arrays.update(ladder.state(f"T_{r * nT:03d}/resume/exchange"))
        return {"arrays": arrays}

    def restore(self, state: dict, where: str):
        arrays = state.get("arrays", {})
        nT = len(self.config.temperatures)
        positions = [arrays.get(f"T_{g:03d}/resume/position") for g in range(len(self.chains))]
        if any(p is None or p.shape != (4,) or int(p[0]) != RESUME_FORMAT for p in positions) \
                or any(not np.array_equal(p, positions[0]) for p in positions):
            raise DataError(f"{where}: no resume state of format {RESUME_FORMAT} in every group")
        t = int(positions[0][1])
        if not 0 <= t <= self.end():
            raise DataError(f"{where}: corrupt resume state (position {t})")
        self.t = t
        for g, chain in enumerate(self.chains):
            chain.restore(arrays, f"T_{g:03d}/resume", where)
        for r, ladder in enumerate(self.ladders):
            ladder.restore(arrays, f"T_{r * nT:03d}/resume/exchange", where)

    def write_statistics(self, writer):
        for g in range(len(self.chains)):
            writer.set_attrs(g, **self.statistics(g))
        writer.write_state(self.resume_state())


class _Writes:
    """Where the driver's appends run: in the calling thread (``background`` false: one
    thread in all), or in one background thread, one flush in flight at most, so that the
    HDF5 writes overlap the next sweeps.  Errors (a full disk) are raised by :meth:`wait`,
    which the driver calls before any other use of the writer."""

    def __init__(self, background: bool):
        self.pool = _Pool(1) if background else None
        self.pending = None

    def submit(self, fn):
        self.wait()
        done, slot = threading.Semaphore(0), []
        self.pool.tasks.put((lambda _: fn(), None, done, slot))
        self.pending = (done, slot)

    def wait(self):
        if self.pending is not None:
            (done, slot), self.pending = self.pending, None
            done.acquire()
            if slot[0][0] == "error":
                raise slot[0][1]

    def close(self):
        """Wait for the flush in flight (its error, if any, is left to the caller's own)
        and stop the thread."""
        if self.pool is not None:
            with contextlib.suppress(Exception):
                self.wait()
            self.pool.close()


def _measured(config, t: int) -> int:
    return max(0, t - config.thermalize)


def simulate(config: SimulationConfig, out_path: str | None, progress=None, sink=None,
             checkpoint_seconds: float = CHECKPOINT_SECONDS, _source=None):
    """Run every temperature of ``config`` and write ``out_path`` atomically; returns the path.

    ``sink``: instead of a file, any writer with the interface of
    :class:`spinsym.data.AtomicH5Writer` (e.g. :class:`spinsym.runs.RunBuilder`, which keeps
    the run in memory); then ``out_path`` is None and ``sink.commit()`` is returned.
    ``progress(n_sweeps)`` is called from the main thread as sweeps complete.
    ``checkpoint_seconds``: seconds of work between checkpoints ``OUT.partial`` (file output
    only; 0: none).  See the module docstring.
    """
    driver = _Driver(config)
    nG = len(driver.chains)
    if _source is not None:
        driver.restore(_source.state, _source.where)
    partial = None
    if sink is None:
        from ..data import AtomicH5Writer, expected_size  # h5py only where files are written
        from ..fileio import check_free_space

        size = expected_size(config.model, config.L, nG, config.n_samples)
        check_free_space(out_path, size)
        sink = AtomicH5Writer(out_path, config.model, config.L,
                              inputs=[_source.path] if _source is not None and
                              _source.path and not _source.replaces else (), size=size)
        if checkpoint_seconds and checkpoint_seconds > 0:
            partial = checkpoint_path(out_path)
    threads = config.threads or os.cpu_count() or 1
    if nG == 1:  # one chain: its kernel may split the lattice over the threads (strips)
        driver.chains[0].kernel.threads = threads
    writes = _Writes(background=threads > 1)
    threads = max(1, min(threads, nG))  # several chains: the threads go to the chains
    stop = threading.Event()
    pool = _Pool(threads) if threads > 1 else None
    written = [False]
    last = [time.monotonic(), 0.0]  # time of the last checkpoint, its cost

    def checkpoint(writer):
        t0 = time.monotonic()
        writes.wait()
        driver.flush(writer)
        driver.write_statistics(writer)
        writer.snapshot(partial)
        written[0] = True
        last[:] = [time.monotonic(), time.monotonic() - t0]

    with sink as writer, _interrupt_flag(stop) as hit:
        try:
            for g in range(nG):
                writer.group(g, config.group_attrs(g), couplings=config.bond_couplings)
                if _source is not None:
                    _source.copy_group(g, writer)
            driver.reserve(writer)
            if _source is not None and _source.checkpoint and partial is not None \
                    and os.path.abspath(_source.path) == os.path.abspath(partial):
                written[0] = True  # the checkpoint being continued: kept up to date
            complete = True
            while driver.t < driver.end():
                if hit():
                    break
                t0 = driver.t
                # with a checkpoint to update, an interrupted block is finished first
                complete = driver.step(driver.plan(), pool, lambda: hit() and not written[0])
                if not complete:
                    break
                if progress is not None:
                    progress((driver.t - t0) * nG)
                if driver.must_flush() \
                        or driver.t == driver.end():
                    driver.flush(writer, writes)
                if partial is not None and driver.t < driver.end():
                    now = time.monotonic()
                    if now - last[0] >= max(checkpoint_seconds, 10 * last[1]):
                        checkpoint(writer)
            if hit():
                note = ""
                if partial is not None and written[0] and complete:
                    checkpoint(writer)  # the chains stopped at a grid point: all work so far
                    note = (f"checkpoint {partial} holds {_measured(config, driver.t)} of "
                            f"{config.n_samples * config.every} measurement sweeps; continue "
                            f"with 'spinsym simulate --resume {partial}'")
                raise Interrupted(hit(), note)
            writes.wait()
            driver.flush(writer)
            driver.write_statistics(writer)
            result = writer.commit()
        finally:
            writes.close()
            stop.set()
            if pool is not None:
                pool.close()
    if partial is not None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
    return result


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
    from ..fileio import Interrupted

    if Interrupted.pending:  # a signal came before, and its exception was swallowed
        handler(Interrupted.pending, None)
    try:
        yield lambda: flag[0] if flag else 0
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)




# --------------------------------------------------------------------------- resuming


class _Source:
    """A run to continue: the groups of a file (read in chunks) or of an in-memory Run, its
    resume state and the configuration it was made with."""

    def __init__(self, source):
        from ..data import read, read_state
        from ..runs import Run

        if isinstance(source, Run):
            self.path, self.where, self.run = None, "run", source
            model, L, attrs = source.model, source.L, [dict(g.attrs) for g in source]
            counts = [g.n_samples for g in source]
            self.state = source.resume
            couplings = source[0].couplings
        else:
            self.path = os.fspath(source)
            self.where, self.run = self.path, None
            ds = read(self.path)
            model, L = ds.model, ds.L
            attrs = [g.attrs for g in ds]
            counts = [g.n_samples for g in ds]
            self.names = [g.name for g in ds]
            self.state = read_state(self.path)
            couplings = ds.temperatures[0].couplings
        self.checkpoint = False
        self.replaces = False
        if not self.state:
            raise DataError(f"{self.where} holds no resume state (not written by spinsym "
                            "simulate, or by an older version)")
        self.config = _config_from_attrs(model, L, attrs, couplings, self.where)
        self.counts = counts

    def check(self, driver):
        """The samples agree with the chains' position and last configurations."""
        c = driver.config
        measured = _measured(c, driver.t)
        want = measured // c.every
        if any(n != want for n in self.counts):
            raise DataError(f"{self.where}: corrupt resume state ({measured} measurement "
                            f"sweeps done, but {self.counts} samples stored)")
        if want and measured % c.every == 0:
            nT = len(c.temperatures)
            for r in range(c.replicas):
                groups = range(r * nT, (r + 1) * nT)
                last = sorted(self.last(g).tobytes() for g in groups)
                now = sorted(stored(c.model, driver.chains[g].state_array).tobytes()
                             for g in groups)
                if last != now:
                    raise DataError(f"{self.where}: the resume state does not match the last "
                                    "stored configurations (tampered or corrupt file)")

    def last(self, g: int) -> np.ndarray:
        if self.run is not None:
            return self.run[g].configs[-1]
        import h5py

        with h5py.File(self.path, "r") as f:
            return f[self.names[g]]["configs"][-1]

    def copy_group(self, g: int, writer):
        if self.run is not None:
            grp = self.run[g]
            if grp.n_samples:
                writer.append(g, grp.configs, grp.energy, magnetization=grp.magnetization)
            return
        import h5py

        chunk = max(1, (1 << 24) // max(1, self.config.L ** 2))
        with h5py.File(self.path, "r") as f:
            h = f[self.names[g]]
            n = h["configs"].shape[0]
            for a in range(0, n, chunk):
                b = min(n, a + chunk)
                writer.append(g, h["configs"][a:b], h["energy"][a:b],
                              magnetization=h["magnetization"][a:b])


def _config_from_attrs(model: str, L: int, attrs: list, couplings, where: str):
    """The SimulationConfig that wrote these groups (DataError when they disagree)."""
    a0 = attrs[0]
    try:
        R = int(a0.get("replicas", 1))
        nT = len(attrs) // max(1, R)
        cfg = SimulationConfig(
            model=model, L=L, temperatures=tuple(float(a["T"]) for a in attrs[:nT]),
            couplings=couplings, algorithm=str(a0["algorithm"]), sweeps=int(a0["sweeps"]),
            thermalize=int(a0["thermalize"]), every=int(a0["every"]), seed=int(a0["seed"]),
            overrelax=int(a0.get("overrelax", 0)),
            exchange_every=int(a0.get("exchange_every", 0)), replicas=R)
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{where}: cannot continue this run ({exc})") from None
    except ParameterError as exc:
        raise DataError(f"{where}: cannot continue this run ({exc})") from None
    if len(attrs) != cfg.n_chains:
        raise DataError(f"{where}: {len(attrs)} groups, expected {cfg.n_chains}")
    for g, a in enumerate(attrs):
        want = cfg.group_attrs(g)
        for key in ("T", "algorithm", "sweeps", "thermalize", "every", "seed", "stream",
                    "exchange_every", "replica"):
            if key in want and a.get(key) != want[key]:
                raise DataError(f"{where}: group {g} does not belong to this run ({key} = "
                                f"{a.get(key)!r}, expected {want[key]!r})")
    return cfg


def resume(source, sweeps: int = 0, out_path: str | None = None, progress=None, sink=None,
           threads: int = 0, checkpoint_seconds: float = CHECKPOINT_SECONDS):
    """Continue a run: ``source`` is a file written by :func:`simulate` (finished, or its
    checkpoint ``OUT.partial``) or an in-memory :class:`spinsym.runs.Run`.  The run first
    completes its configured sweeps, then does ``sweeps`` more measurement sweeps (no new
    thermalization).  The result (written to ``out_path``, or to ``sink``) equals, dataset for
    dataset and bit for bit, one uninterrupted run with the total sweeps."""
    import dataclasses

    src = source if isinstance(source, _Source) else _Source(source)
    more = validate.nonnegative_int(sweeps, "sweeps")
    cfg = dataclasses.replace(src.config, sweeps=src.config.sweeps + more,
                              threads=validate.threads(threads))
    probe = _Driver(src.config)
    probe.restore(src.state, src.where)
    src.check(probe)
    if probe.t >= probe.end() and cfg.n_samples == src.config.n_samples:
        raise ParameterError(f"{src.where} is complete ({src.config.sweeps} sweeps): give the "
                             "number of further sweeps (--sweeps N)")
    if src.path is not None and out_path is not None:
        src.replaces = os.path.abspath(out_path) == os.path.abspath(src.path)
        src.checkpoint = src.path.endswith(".partial")
    return simulate(cfg, out_path, progress=progress, sink=sink,
                    checkpoint_seconds=checkpoint_seconds, _source=src)


def remaining_sweeps(source, sweeps: int = 0) -> int:
    """Sweeps per chain that :func:`resume` will run (for progress bars)."""
    src = source if isinstance(source, _Source) else _Source(source)
    t = int(src.state["arrays"]["T_000/resume/position"][1])
    c = src.config
    return c.thermalize + ((c.sweeps + sweeps) // c.every) * c.every - t
