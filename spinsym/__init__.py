"""spinsym: lattice spin Monte Carlo and symmetry-breaking equivariant networks.

The public API (see the README's "Python" section)::

    spinsym.simulate, spinsym.analyze, spinsym.load, spinsym.Run, spinsym.SpinConfigs,
    spinsym.GroundStatePredictor, spinsym.Sampler, spinsym.SpinsymError (and its subclasses
    ParameterError, DataError)

The physics half (lattice, hamiltonians, mc, observables, exact, data) imports no torch;
the learning half lives in :mod:`spinsym.nn` and :mod:`spinsym.tasks`.  The names above are
loaded on first use, so ``import spinsym`` stays fast.
"""

__version__ = "0.1.0"

from .errors import DataError, ParameterError, SpinsymError  # noqa: E402

_LAZY = {
    "simulate": "api", "analyze": "api", "SpinConfigs": "api",
    "GroundStatePredictor": "api", "Sampler": "api",
    "load": "runs", "Run": "runs", "TemperatureRun": "runs",
}

__all__ = ["__version__", "SpinsymError", "ParameterError", "DataError", *_LAZY]


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'spinsym' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
