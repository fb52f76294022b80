"""Simulated annealing for Ising ground states: the heuristic baseline of the ground-state
experiment (``spinsym experiment groundstate``).

Each restart starts from uniformly random spins and runs ``sweeps`` single-spin sweeps of the
per-bond Metropolis kernel (:func:`spinsym.mc.ising.bond_chain`, or its heat-bath variant), one
sweep per temperature of the geometric schedule

    T_k = T_start · (T_end / T_start)^(k / (sweeps − 1)),   k = 0 … sweeps − 1,

so the whole schedule runs in one Numba call.  Homogeneous couplings take the same kernel (it
reproduces the scalar kernel bit for bit on constant arrays).  The result is the lowest-energy
final configuration over the restarts, with its energy from THE energy function
(:func:`spinsym.hamiltonians.ising_energy`).

Budgets: ``sweeps`` (per restart) and ``restarts`` fix the work; ``seconds`` is a wall-clock
budget per Hamiltonian: no new restart starts once it is spent (the first always runs to the
end, and a started restart is never cut), so with ``seconds`` the number of restarts, and hence
the result, depends on the machine's speed.  With ``seconds = None`` the result depends only on
the seed.  Restart r draws its initial spins and its xoshiro256** stream from
``SeedSequence(seed, spawn_key=(r,))``.

Default temperatures come from the largest local field s = max_i (Σ_j |J_ij| + |h_i|) (half the
largest single-flip |ΔE|): T_start = s (hot enough that every move is accepted with probability
≥ e^−2), T_end = s / 100.  The Hamiltonians must live on an even L (sublattice sweeps).

This is a heuristic: it gives an upper bound on the ground-state energy, not the minimum.  The
tests check that it reaches the exact minimum of small instances with enough budget.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from numba import njit

from ..errors import ParameterError
from . import ising
from .rng import state_from_seedsequence

#: the default ratio T_start / T_end of the geometric schedule
T_RATIO = 100.0


@njit(nogil=True, cache=True)
def anneal_chain(spins, state, betas, four, rows, T, heatbath):
    """One annealing run: one sweep of :func:`spinsym.mc.ising.bond_chain` at each inverse
    temperature of ``betas`` in turn (per-bond tables from :func:`spinsym.mc.ising.bond_tables`);
    ``spins`` and ``state`` are updated in place.  Returns the number of accepted flips."""
    L = spins.shape[0]
    out = np.empty((1, L, L), np.int8)
    acc = np.int64(0)
    for k in range(betas.shape[0]):
        acc += ising.bond_chain(spins, state, betas[k], four, rows, T, heatbath, 1, out)
    return acc


@dataclass(frozen=True)
class AnnealResult:
    """The best configuration over the restarts and what it cost."""

    spins: np.ndarray            # int8 (L, L), the lowest-energy final configuration
    energy: float                # its total energy (hamiltonians.ising_energy)
    restart_energies: tuple      # the final energy of each restart, in order
    sweeps: int                  # sweeps run in all (restarts × sweeps per restart)
    seconds: float               # wall time
    cpu_seconds: float           # CPU time of this thread

    @property
    def energy_per_site(self) -> float:
        return self.energy / self.spins.size

    @property
    def restarts(self) -> int:
        return len(self.restart_energies)


def bond_arrays(couplings, L: int) -> tuple:
    """The five (L, L) float64 per-bond fields (Jx, Jy, J2p, J2m, h) of any couplings that
    :func:`spinsym.couplings.as_couplings` accepts (Couplings, BondCouplings, a mapping), or a
    homogeneous (Jx, Jy, J2, h) sequence."""
    from ..couplings import BondCouplings, as_couplings
    from ..hamiltonians import Couplings

    if not isinstance(couplings, (Couplings, BondCouplings, dict)):
        values = np.asarray(couplings, dtype=np.float64)
        if values.shape != (4,):
            raise ParameterError("couplings must be a Couplings, a BondCouplings, a mapping or "
                                 f"(Jx, Jy, J2, h); got shape {values.shape}")
        couplings = Couplings(*values)
    c = as_couplings(couplings, L)
    if isinstance(c, Couplings):
        c = BondCouplings.from_scalar(c)
    return c.arrays(L)


def default_temperatures(arrays: tuple) -> tuple:
    """(T_start, T_end) of the default schedule: s and s / 100, s the largest local field."""
    from ..couplings import BondCouplings

    s = BondCouplings(*arrays).max_flip_energy() / 2.0
    if s <= 0.0:  # no couplings at all: every state is a ground state
        s = 1.0
    return s, s / T_RATIO


def schedule(T_start: float, T_end: float, sweeps: int) -> np.ndarray:
    """The inverse temperatures of the geometric schedule (one per sweep)."""
    if sweeps == 1:
        return np.array([1.0 / T_end])
    k = np.arange(sweeps) / (sweeps - 1)
    return 1.0 / (T_start * (T_end / T_start) ** k)


def _check(L, sweeps, restarts, seconds, T_start, T_end):
    from .. import validate as V

    L = V.lattice_size(L, "L", even=True)
    sweeps = V.positive_int(sweeps, "sweeps", maximum=10 ** 9)
    restarts = V.nonnegative_int(restarts, "restarts", maximum=10 ** 9)
    if seconds is not None:
        seconds = V.finite_float(seconds, "seconds", minimum=0.0, maximum=1e9)
    if restarts == 0 and not seconds:
        raise ParameterError("restarts = 0 (unlimited) needs a time budget (seconds > 0)")
    for name, v in (("T_start", T_start), ("T_end", T_end)):
        if v is not None:
            V.positive_float(v, name, maximum=1e12)
    return L, sweeps, restarts, seconds


def anneal(couplings, L: int, *, sweeps: int = 1000, restarts: int = 4,
           seconds: float | None = None, T_start: float | None = None,
           T_end: float | None = None, seed: int = 0, heatbath: bool = False) -> AnnealResult:
    """Simulated annealing of one Ising Hamiltonian on the L × L torus (L even).

    ``sweeps``: schedule length of one restart; ``restarts``: at most this many (0 = as many as
    ``seconds`` allows); ``seconds``: wall budget (no new restart once spent).  ``T_start`` /
    ``T_end``: the schedule's ends (defaults: :func:`default_temperatures`).  ``heatbath``:
    Glauber acceptance instead of Metropolis.  Same seed and no ``seconds``: same result."""
    from ..hamiltonians import ising_energy
    from .. import validate as V

    L, sweeps, restarts, seconds = _check(L, sweeps, restarts, seconds, T_start, T_end)
    seed = V.seed(seed)
    arrays = bond_arrays(couplings, L)
    t_hi, t_lo = default_temperatures(arrays)
    T_start = t_hi if T_start is None else float(T_start)
    T_end = t_lo if T_end is None else float(T_end)
    betas = schedule(T_start, T_end, sweeps)
    four, rows, T = ising.bond_tables(*arrays)
    Jx, Jy, J2p, J2m, h = arrays
    t0, c0 = time.perf_counter(), time.thread_time()
    best, best_e, energies = None, math.inf, []
    r = 0
    while True:
        ss = np.random.SeedSequence(seed, spawn_key=(r,))
        init, stream = ss.spawn(2)
        spins = np.random.default_rng(init).choice(np.array([-1, 1], np.int8), size=(L, L))
        state = state_from_seedsequence(stream)
        anneal_chain(spins, state, betas, four, rows, T, heatbath)
        e = float(ising_energy(spins, Jx, Jy, J2p, h, J2m=J2m))
        energies.append(e)
        if e < best_e:
            best, best_e = spins.copy(), e
        r += 1
        if restarts and r >= restarts:
            break
        if seconds is not None and time.perf_counter() - t0 >= seconds:
            break
    return AnnealResult(spins=best, energy=best_e, restart_energies=tuple(energies),
                        sweeps=r * sweeps, seconds=time.perf_counter() - t0,
                        cpu_seconds=time.thread_time() - c0)


def anneal_many(hamiltonians, L: int, *, seed: int = 0, **kw) -> list:
    """:func:`anneal` of each Hamiltonian of a list, Hamiltonian i with seed
    ``SeedSequence(seed, spawn_key=(i,))`` (so a set's results do not depend on its order of
    evaluation or its other members).  Returns the list of AnnealResults."""
    from .. import validate as V

    seed = V.seed(seed)
    out = []
    for i, c in enumerate(hamiltonians):
        s = int(np.random.SeedSequence(seed, spawn_key=(i,)).generate_state(1, np.uint64)[0]
                % (2 ** 63))
        out.append(anneal(c, L, seed=s, **kw))
    return out
