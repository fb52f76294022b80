"""What a spin model provides: :class:`SpinModel`, its :class:`Algorithm` table and the one
kernel signature :class:`Kernel` that the Monte Carlo driver (:mod:`spinsym.mc.run`) calls.

A kernel is made once per chain (``Algorithm.make(config, beta)``) and then called as

    count = kernel(state, rng_state, n_out, every, out, adapt)

where ``state`` is the chain's configuration (updated in place), ``rng_state`` its xoshiro256**
state (uint64[4], advanced in place; see :mod:`spinsym.mc.rng`), ``out`` an array
``(n_out, L, L)`` that receives a copy of the state after every ``every`` sweeps, ``adapt`` is
true while thermalizing (a kernel may tune its proposals then and must not afterwards), and
``count`` the number of accepted moves (or flipped spins, or clusters) that the driver turns
into the per-update statistic ``Algorithm.counter``.  ``kernel.stats()`` returns the extra
attributes stored with each temperature group (e.g. the XY step, the kernel variant).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import DataError


class Kernel:
    """A prepared Monte Carlo kernel of one chain (see the module docstring).

    Optional hooks, used by the driver where a kernel has them:

    * ``observes = True``: ``__call__`` also takes ``obs=`` (float64 (n_out, 2)) and fills it
      with the energy and magnetization of each stored configuration, equal bit for bit to
      the model's ``energy`` and ``magnetization`` (the driver then skips its own pass).
    * ``batches = True``: one call storing ``n_out`` samples equals, bit for bit (samples,
      state, random stream, count), ``n_out`` calls storing one each; the driver then runs
      the samples of a block in one call.  Leave it False where a call boundary changes the
      chain (the XY kernels start each call from the stored angles).
    * ``threads``: the threads the kernel may use for one lattice (set by the driver; 1 when
      the threads go to the chains).
    * ``seed(ss)``: called once with the chain's ``numpy.random.SeedSequence`` by kernels that
      keep random streams of their own; those streams go into ``adaptive_state()``, the
      kernel's own arrays stored in the resume state and restored in place.
    """

    name: str = ""
    observes: bool = False
    batches: bool = False
    threads: int = 1

    def seed(self, ss) -> None:
        pass

    def __call__(self, state, rng_state, n_out: int, every: int, out, adapt: bool) -> int:
        raise NotImplementedError

    def stats(self) -> dict:
        return {}


@dataclass(frozen=True)
class Algorithm:
    """One Monte Carlo algorithm of a model.

    ``make(config, beta) -> Kernel``; ``even_L``: needs an even L (sublattice updates);
    ``zero_field``: valid only at h = 0 (cluster algorithms); ``counter``: the name of the
    per-site-update statistic stored in the group attributes; ``overrelax``: takes
    ``SimulationConfig.overrelax``."""

    name: str
    make: Callable
    even_L: bool = False
    zero_field: bool = False
    counter: str = "acceptance"
    overrelax: bool = False


class SpinModel:
    """Base class of a spin model.  Subclasses set ``name``, ``dtype`` (the stored dtype),
    ``magnetization_shape`` (``()`` for a scalar per configuration, ``(2,)`` for a vector) and
    ``algorithms`` ({name: Algorithm}), and implement :meth:`random_state` and
    :meth:`energy`; the rest has generic defaults."""

    name: str = ""
    dtype = np.int8
    magnetization_shape: tuple = ()
    algorithms: dict = {}
    #: smallest L the model's kernels accept
    min_L: int = 2
    #: memory per site of one running chain (state, a block of samples, the energy pass)
    bytes_per_site: int = 24

    # -- states and energies
    def random_state(self, rng: np.random.Generator, L: int) -> np.ndarray:
        raise NotImplementedError

    def energy(self, configs, couplings):
        """THE total energy of ``configs[..., L, L]`` (numpy or torch)."""
        raise NotImplementedError

    def stored(self, configs: np.ndarray) -> np.ndarray:
        """Configurations as stored in files (the model's dtype)."""
        return np.asarray(configs).astype(self.dtype, copy=False)

    def magnetization(self, configs: np.ndarray) -> np.ndarray:
        """The magnetization stored beside each configuration: the mean spin (n,), or for
        vector spins the mean vector (n, k)."""
        configs = np.asarray(configs)
        return configs.reshape(configs.shape[0], -1).mean(axis=1, dtype=np.float64)

    def check_configs(self, configs: np.ndarray, where: str = "data") -> None:
        """DataError (``"WHERE: ..."``) unless every configuration is a valid state."""
        a = np.asarray(configs)
        if a.size and not np.all(np.isfinite(a.astype(np.float64, copy=False))):
            raise DataError(f"{where}: configurations must be finite, found non-finite values")

    # -- measurements
    def series(self, configs: np.ndarray, couplings) -> dict:
        """Per-sample series for :func:`spinsym.observables.summarize`: at least ``m`` (the
        signed order parameter, ``mx`` for a vector), ``abs_m`` and ``m2``; a model adds
        its own (staggered, helicity, ...)."""
        m = self.magnetization(configs)
        return {"m": m, "abs_m": np.abs(m), "m2": m * m}

    def binder(self, m2: float, m4: float) -> float:
        """Binder cumulant of the order parameter (scalar form; vectors override)."""
        return 1.0 - m4 / (3.0 * m2 * m2)

    def extra_observables(self, series: dict, beta: float, N: int, me, jk) -> dict:
        """Model-specific entries of the summary, name → :class:`spinsym.stats.Estimate`
        (``me(x)``: the mean with its τ-corrected error, :func:`spinsym.stats.estimate`;
        ``jk(f, *x)``: the blocked-jackknife estimate, :func:`spinsym.stats.jackknife_estimate`)."""
        return {}

    def __repr__(self):
        return f"<SpinModel {self.name}: {', '.join(self.algorithms)}>"
