"""The Ising model: spins ±1 (int8), :func:`spinsym.hamiltonians.ising_energy`, and its kernels
(multi-spin or scalar Metropolis / heat bath, Wolff, Swendsen–Wang)."""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from .base import Algorithm, Kernel, SpinModel


def energy_from_sums(sums, couplings) -> np.ndarray:
    """THE energy (:func:`spinsym.hamiltonians.ising_energy`) of configurations from their
    integer sums (n, 4): Σ_x-bonds s_i s_j, Σ_y-bonds, Σ_diagonal-bonds and Σ s_i, combined
    with the arithmetic of ``ising_energy``'s integer path, so the result is the same float64,
    bit for bit (tests/mc/test_writer.py checks it for every coupling class)."""
    from ..hamiltonians import ising_energy_from_sums

    c, S = couplings, np.asarray(sums).T
    return ising_energy_from_sums(S[0], S[1], S[2], S[3], c.Jx, c.Jy, c.J2, c.h)


class _SingleSpin(Kernel):
    """Metropolis or heat bath: the multi-spin-coded kernel where it is the faster one
    (:func:`spinsym.mc.msc.preferred`), else the scalar kernel; ``*-scalar`` always scalar.

    Per-bond couplings (:class:`spinsym.couplings.BondCouplings`): the multi-spin ±J kernel
    where the couplings are ±J and it is preferred for their magnitudes
    (:func:`spinsym.mc.msc.preferred_bonds`), else the scalar per-bond kernel
    (:func:`spinsym.mc.ising.bond_chain`); ``*-scalar`` always the scalar per-bond kernel.
    The tables are made once per chain.  ``kernel`` records which ran: "multispin",
    "scalar", "multispin-pmJ" or "scalar-bonds", with "-strips" appended where the multi-spin
    kernel splits the lattice into strips of rows with streams of their own
    (L >= :data:`spinsym.mc.msc.STRIP_MIN_L`, :func:`spinsym.mc.msc.strips`).

    The multi-spin kernels run through :func:`spinsym.mc.msc.run_chain`: the packed lattice
    is kept between calls, and for homogeneous couplings the kernel counts each stored
    configuration's bond and spin sums, from which ``obs`` receives its energy and
    magnetization (equal, bit for bit, to the model's :meth:`IsingModel.energy` and
    :meth:`IsingModel.magnetization`).  The strip kernel uses ``threads`` threads."""

    batches = True  # the state between calls is the spins themselves

    def __init__(self, config, beta, heatbath: bool, scalar: bool):
        from ..couplings import BondCouplings
        from ..mc import ising, msc

        c = config.couplings
        self.packed = None  # the multi-spin kernels' cache (see run_chain)
        self.states = None  # the strip kernel's streams (seed())
        if isinstance(c, BondCouplings):
            arrays = c.arrays(config.L)
            mags = None if scalar else msc.preferred_bonds(config.L, *arrays, heatbath)
            if mags is not None:
                self._multispin(config.L, "multispin-pmJ", (beta, *mags), heatbath,
                                msc.sign_planes(*arrays[:4]), msc.pm_chain)
            else:
                self.name, self.fn = "scalar-bonds", ising.bond_chain
                self.args = (beta, *ising.bond_tables(*arrays), heatbath)
            return
        multispin = not scalar and msc.preferred(config.L, c.Jx, c.Jy, c.J2, c.h, heatbath)
        if multispin:
            self._multispin(config.L, "multispin", (beta, c.Jx, c.Jy, c.J2, c.h), heatbath,
                            None, msc.heatbath_chain if heatbath else msc.metropolis_chain)
            self.couplings, self.observes = c, True
            return
        self.name = "scalar"
        self.fn = ising.heatbath_chain if heatbath else ising.metropolis_chain
        self.args = (beta, c.Jx, c.Jy, c.J2, c.h)

    def _multispin(self, L, name, args, heatbath, neg, single):
        from ..mc import msc

        n, (_, W) = L // 2, msc.lanes(L)
        self.strips = msc.strips(L)
        # the chain, for the record: ``single`` (bit for bit) or the strip kernel
        self.fn = single if self.strips == 1 else msc.run_chain
        self.name = name + ("-strips" if self.strips > 1 else "")
        self.args, self.heatbath, self.neg = args, heatbath, neg
        self.packed = np.empty((4, n, W), np.uint64)
        self.last = np.zeros((L, L), np.int8)  # no valid state: the first call packs
        self.N = L * L

    def seed(self, ss):
        if self.packed is not None and self.strips > 1:
            from ..mc import msc

            self.states = msc.strip_states(ss, self.strips)

    def adaptive_state(self):
        return {"strip_rng": self.states} if self.states is not None else {}

    def __call__(self, state, rng_state, n_out, every, out, adapt, obs=None):
        if self.packed is None:
            return self.fn(state, rng_state, *self.args, every, out)
        from ..mc import msc

        if self.strips > 1 and self.states is None:
            raise RuntimeError("the strip kernel has no random streams: call seed(ss) first")
        states = self.states if self.strips > 1 else rng_state.reshape(1, 4)
        sums = np.empty((n_out, 4), np.int64) if obs is not None else None
        count = msc.run_chain(state, states, *self.args, every, out, self.heatbath, self.neg,
                              self.packed, self.last, sums, self.threads)
        if obs is not None:
            obs[:, 0] = energy_from_sums(sums, self.couplings)
            obs[:, 1] = sums[:, 3].astype(np.float64) / self.N
        return count

    def stats(self):
        return {"kernel": self.name}


class _Wolff(Kernel):
    """Single clusters; a sweep is a fixed number of clusters, a function of (L, β, couplings)
    only, computed once per chain (stopping on the flipped count would bias the samples)."""

    name = "wolff"
    batches = True  # the state between calls is the spins themselves

    def __init__(self, config, beta):
        from ..couplings import BondCouplings
        from ..mc import cluster

        c = config.couplings
        if isinstance(c, BondCouplings):  # per-bond tables, made once per chain
            Jx, Jy, J2p, J2m, _ = c.arrays(config.L)
            self.fn, self.args = cluster.wolff_chain_tables, cluster.bond_tables(
                beta, Jx, Jy, J2p, J2m)
            self.clusters = int(cluster.wolff_clusters_per_sweep_bonds(beta, Jx, Jy, J2p, J2m))
        else:
            self.fn, self.args = cluster.wolff_chain, (beta, c.Jx, c.Jy, c.J2)
            self.clusters = int(cluster.wolff_clusters_per_sweep(config.L, beta, c.Jx, c.Jy,
                                                                 c.J2))

    def __call__(self, state, rng_state, n_out, every, out, adapt):
        return self.fn(state, rng_state, *self.args, every, out, self.clusters)

    def stats(self):
        return {"clusters_per_sweep": self.clusters}


class _SwendsenWang(Kernel):
    name = "swendsen-wang"
    batches = True  # the state between calls is the spins themselves

    def __init__(self, config, beta):
        from ..couplings import BondCouplings
        from ..mc import cluster

        c = config.couplings
        if isinstance(c, BondCouplings):  # per-bond tables, made once per chain
            Jx, Jy, J2p, J2m, _ = c.arrays(config.L)
            self.fn, self.args = cluster.swendsen_wang_chain_tables, cluster.bond_tables(
                beta, Jx, Jy, J2p, J2m)
        else:
            self.fn, self.args = cluster.swendsen_wang_chain, (beta, c.Jx, c.Jy, c.J2)

    def __call__(self, state, rng_state, n_out, every, out, adapt):
        return self.fn(state, rng_state, *self.args, every, out)


def _single(heatbath, scalar):
    return lambda config, beta: _SingleSpin(config, beta, heatbath, scalar)


class IsingModel(SpinModel):
    name = "ising"
    dtype = np.int8
    magnetization_shape = ()
    algorithms = {
        "metropolis": Algorithm("metropolis", _single(False, False), even_L=True),
        "heatbath": Algorithm("heatbath", _single(True, False), even_L=True),
        "wolff": Algorithm("wolff", _Wolff, zero_field=True, counter="flipped_fraction"),
        "swendsen-wang": Algorithm("swendsen-wang", _SwendsenWang, zero_field=True,
                                   counter="clusters_per_site"),
        "metropolis-scalar": Algorithm("metropolis-scalar", _single(False, True), even_L=True),
        "heatbath-scalar": Algorithm("heatbath-scalar", _single(True, True), even_L=True),
    }

    def random_state(self, rng, L):
        return (2 * rng.integers(0, 2, size=(L, L)) - 1).astype(np.int8)

    def energy(self, configs, couplings):
        from ..couplings import BondCouplings
        from ..hamiltonians import ising_energy

        c = couplings
        if isinstance(c, BondCouplings):
            return ising_energy(configs, c.Jx, c.Jy, c.J2p, c.h, J2m=c.J2m)
        return ising_energy(configs, c.Jx, c.Jy, c.J2, c.h)

    def magnetization(self, configs):
        configs = np.asarray(configs)
        n = configs.shape[-1] * configs.shape[-2]
        return configs.reshape(configs.shape[0], -1).sum(axis=1, dtype=np.float64) / n

    def check_configs(self, configs, where="data"):
        a = np.asarray(configs)
        if a.size and not np.all((a == 1) | (a == -1)):
            bad = a[(a != 1) & (a != -1)].ravel()[0]
            raise DataError(f"{where}: Ising spins must be -1 or +1, found {bad!r}")

    def series(self, configs, couplings):
        from ..observables import ising_correlations, ising_series

        ser = ising_series(configs)
        return {**ser, "m2": ser["m"] ** 2, "correlations": ising_correlations(configs)}

    def extra_observables(self, ser, beta, N, me, jk):
        out = {}
        stag, sx, sy = ser["staggered"], ser["stripe_x"], ser["stripe_y"]
        stripe2 = sx ** 2 + sy ** 2
        stag_abs, stag2 = np.abs(stag), stag ** 2
        out["staggered_abs"] = me(stag_abs)
        out["staggered_m2"] = me(stag2)
        out["staggered_susceptibility"] = jk(lambda a, b: beta * N * (b - a * a), stag_abs, stag2)
        out["staggered_binder"] = jk(lambda b, c: 1.0 - c / (3.0 * b * b), stag2, stag2 ** 2)
        stripe_abs = np.sqrt(stripe2)
        out["stripe_abs"] = me(stripe_abs)
        out["stripe_m2"] = me(stripe2)
        out["stripe_susceptibility"] = jk(lambda a, b: beta * N * (b - a * a), stripe_abs,
                                          stripe2)
        # two-component order parameter (m_x, m_y): Binder as for XY, 0 disordered, 1 ordered
        out["stripe_binder"] = jk(lambda b, c: 2.0 - c / (b * b), stripe2, stripe2 ** 2)
        return out
