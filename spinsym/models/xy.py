"""The XY model: angles in [0, 2π) (float32 stored), :func:`spinsym.hamiltonians.xy_energy`,
and its kernels (Metropolis with over-relaxation, Wolff embedding)."""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from .base import Algorithm, Kernel, SpinModel


def _observe(kernel, out, obs):
    """The stored samples' energies and magnetizations (homogeneous couplings), bit for bit
    :meth:`XYModel.energy` and :meth:`XYModel.magnetization` of ``stored(out)``."""
    from ..mc import xy

    c = kernel.couplings
    xy.stored_observables(out, float(c.Jx), float(c.Jy), float(c.J2), float(c.h), obs,
                          np.getbufsize())


class _Metropolis(Kernel):
    """Symmetric proposals; the step adapts only while thermalizing (``adapt``).  Per-bond
    couplings (:class:`spinsym.couplings.BondCouplings`) run
    :func:`spinsym.mc.xy.metropolis_chain_bonds`.  With homogeneous couplings the kernel
    :attr:`~spinsym.models.Kernel.observes`: ``obs`` receives each stored sample's energy and
    magnetization (:func:`spinsym.mc.xy.stored_observables`)."""

    name = "metropolis"

    def __init__(self, config, beta):
        from ..couplings import BondCouplings
        from ..mc import xy

        c = config.couplings
        if isinstance(c, BondCouplings):
            self.fn, self.args = xy.metropolis_chain_bonds, (beta, *c.arrays(config.L))
        else:
            self.fn, self.args = xy.metropolis_chain, (beta, c.Jx, c.Jy, c.J2, c.h)
            self.couplings, self.observes = c, True
        self.overrelax = config.overrelax
        # the float32 kernel (even L, no over-relaxation) stores exactly the angles it holds,
        # so a call boundary does not change the chain; the float64 paths restart from angles
        # rounded to float32
        self.batches = (not isinstance(c, BondCouplings) and config.L % 2 == 0
                        and not config.overrelax)
        self.step = np.array([1.0])

    def __call__(self, state, rng_state, n_out, every, out, adapt, obs=None):
        count = self.fn(state, rng_state, *self.args, every, out, self.step, self.overrelax,
                        adapt)
        if obs is not None:
            _observe(self, out, obs)
        return count

    def stats(self):
        return {"step": float(self.step[0])}


class _Wolff(Kernel):
    name = "wolff"

    def __init__(self, config, beta):
        from ..couplings import BondCouplings
        from ..mc import xy

        c = config.couplings
        if isinstance(c, BondCouplings):  # per-bond: xy.wolff_chain_bonds
            Jx, Jy, J2p, J2m, _ = c.arrays(config.L)
            self.fn, self.args = xy.wolff_chain_bonds, (beta, Jx, Jy, J2p, J2m)
            self.clusters = int(xy.wolff_clusters_per_sweep_bonds(beta, Jx, Jy, J2p, J2m))
        else:
            self.fn, self.args = xy.wolff_chain, (beta, c.Jx, c.Jy, c.J2)
            self.clusters = int(xy.wolff_clusters_per_sweep(config.L, beta, c.Jx, c.Jy, c.J2))
            self.couplings, self.observes = c, True  # as _Metropolis

    def __call__(self, state, rng_state, n_out, every, out, adapt, obs=None):
        count = self.fn(state, rng_state, *self.args, every, out, self.clusters)
        if obs is not None:
            _observe(self, out, obs)
        return count

    def stats(self):
        return {"clusters_per_sweep": self.clusters}


class XYModel(SpinModel):
    name = "xy"
    dtype = np.float32
    magnetization_shape = (2,)
    bytes_per_site = 64
    algorithms = {
        "metropolis": Algorithm("metropolis", _Metropolis, overrelax=True),
        "wolff": Algorithm("wolff", _Wolff, zero_field=True, counter="flipped_fraction"),
    }

    def random_state(self, rng, L):
        return rng.uniform(0.0, 2.0 * np.pi, size=(L, L))

    def energy(self, configs, couplings):
        from ..couplings import BondCouplings
        from ..hamiltonians import xy_energy

        c = couplings
        if isinstance(c, BondCouplings):
            return xy_energy(configs, c.Jx, c.Jy, c.J2p, c.h, J2m=c.J2m)
        return xy_energy(configs, c.Jx, c.Jy, c.J2, c.h)

    def stored(self, configs):
        return np.asarray(configs).astype(np.float32)

    def magnetization(self, configs):
        configs = np.asarray(configs)
        n = configs.shape[-1] * configs.shape[-2]
        th = configs.reshape(configs.shape[0], -1).astype(np.float64)
        return np.stack([np.cos(th).sum(axis=1), np.sin(th).sum(axis=1)], axis=1) / n

    def check_configs(self, configs, where="data"):
        a = np.asarray(configs)
        if a.size and not np.all(np.isfinite(a)):
            raise DataError(f"{where}: XY angles must be finite, found non-finite values")

    def series(self, configs, couplings):
        from ..observables import xy_correlations, xy_series

        from ..couplings import BondCouplings

        c = couplings
        if isinstance(c, BondCouplings):
            Jx, Jy, J2p, J2m, _ = c.arrays(np.shape(configs)[-1])
            ser = xy_series(configs, Jx, Jy, J2p, J2m)
        else:
            ser = xy_series(configs, c.Jx, c.Jy, c.J2)
        return {**ser, "m": ser["mx"], "m2": ser["mx"] ** 2 + ser["my"] ** 2,
                "correlations": xy_correlations(configs)}

    def binder(self, m2, m4):
        return 2.0 - m4 / (m2 * m2)

    def extra_observables(self, ser, beta, N, me, jk):
        ups = 0.5 * (ser["helicity_cos_x"] - beta * ser["helicity_sin_x"] ** 2
                     + ser["helicity_cos_y"] - beta * ser["helicity_sin_y"] ** 2) / N
        return {"my": me(ser["my"]), "helicity": jk(lambda u: u, ups),
                "vortex_density": me(ser["vortex_density"])}
