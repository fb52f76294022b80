"""The model registry: a model defined only here (a two-state lattice gas on rings with its own
plain Metropolis kernel) runs through simulate, analyze and save/load without any change to
the package, and agrees with its exact transfer-matrix energy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numba import njit

import spinsym
from spinsym import models
from spinsym.mc.rng import uniform


@njit(cache=False)
def _gas_sweeps(n, state, beta, J, mu, every, out):
    """Plain sequential Metropolis on occupations n ∈ {0, 1}; x-bonds only (rings along x)."""
    L0, L1 = n.shape
    accepted = 0
    for k in range(out.shape[0]):
        for _ in range(every):
            for y in range(L0):
                for x in range(L1):
                    nb = n[y, (x + 1) % L1] + n[y, (x - 1) % L1]
                    d = 1 - 2 * n[y, x]             # change of n[y, x]
                    dE = -d * (J * nb + mu)
                    if dE <= 0 or uniform(state) < math.exp(-beta * dE):
                        n[y, x] += d
                        accepted += 1
        out[k] = n
    return accepted


class _GasKernel(models.Kernel):
    name = "gas-metropolis"

    def __init__(self, config, beta):
        self.beta, self.c = beta, config.couplings

    def __call__(self, state, rng_state, n_out, every, out, adapt):
        return _gas_sweeps(state, rng_state, self.beta, self.c.Jx, self.c.h, every, out)


class LatticeGas(models.SpinModel):
    """E = −Jx Σ_x-bonds n_i n_j − h Σ n_i, n ∈ {0, 1} (Jy and J2 unused)."""

    name = "toy-gas"
    dtype = np.int8
    algorithms = {"metropolis": models.Algorithm("metropolis", _GasKernel)}

    def random_state(self, rng, L):
        return rng.integers(0, 2, size=(L, L)).astype(np.int8)

    def energy(self, configs, couplings):
        n = np.asarray(configs, dtype=np.float64)
        return -(couplings.Jx * (n * np.roll(n, -1, axis=-1)).sum(axis=(-1, -2))
                 + couplings.h * n.sum(axis=(-1, -2)))

    def check_configs(self, configs, where="data"):
        if not np.all((np.asarray(configs) == 0) | (np.asarray(configs) == 1)):
            raise spinsym.DataError(f"{where}: occupations must be 0 or 1")


def _exact_energy_per_site(L, T, J, mu):
    """Rings of L sites: ln Z_ring = ln tr(M^L), M[a, b] = exp(β(J a b + μ(a + b)/2));
    e = −(1/L) ∂ ln Z_ring / ∂β (central difference)."""
    def lnz(beta):
        a = np.array([0.0, 1.0])
        M = np.exp(beta * (J * np.outer(a, a) + mu * (a[:, None] + a[None, :]) / 2))
        return math.log(np.trace(np.linalg.matrix_power(M, L)))
    b, d = 1.0 / T, 1e-5
    return -(lnz(b + d) - lnz(b - d)) / (2 * d) / L


@pytest.fixture
def gas():
    model = models.register(LatticeGas())
    yield model
    models.unregister(model.name)


def test_unknown_model_lists_the_registered_ones():
    with pytest.raises(spinsym.ParameterError, match="ising, xy"):
        models.get("potts")


def test_toy_model_runs_through_simulate_analyze_save_load(gas, tmp_path):
    L, T, J, mu = 6, 1.5, 1.0, -0.5
    run = spinsym.simulate("toy-gas", L=L, T=[T, 3.0], Jx=J, h=mu, sweeps=20000, every=2,
                           thermalize=500, seed=3)
    assert run[0].configs.dtype == np.int8 and set(np.unique(run[0].configs)) <= {0, 1}
    assert run[0].attrs["acceptance"] > 0
    res = spinsym.analyze(run)
    for r, t in zip(res, (T, 3.0)):
        exact = _exact_energy_per_site(L, t, J, mu)
        e = r["energy_per_site"]
        assert e["err"] < 0.01
        assert abs(e["mean"] - exact) < 4.5 * e["err"], (t, e, exact)
    path = tmp_path / "gas.h5"
    run.save(path)
    back = spinsym.load(path)
    assert back.model == "toy-gas" and back.temperatures == run.temperatures
    for a, b in zip(run, back):
        assert np.array_equal(a.configs, b.configs) and np.array_equal(a.energy, b.energy)
    assert spinsym.analyze(path) == res


def test_toy_model_refuses_what_it_does_not_support(gas):
    with pytest.raises(spinsym.ParameterError, match="algorithm"):
        spinsym.simulate("toy-gas", L=4, T=1.0, algorithm="wolff", sweeps=10)
