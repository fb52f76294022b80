"""The model registry: one :class:`~spinsym.models.base.SpinModel` per spin model.

Everything that depends on the spin model (its configuration dtype, initial state, energy,
stored magnetization, measurements and Monte Carlo kernels) is asked of the registry, so a new
model is one file that subclasses ``SpinModel`` plus its kernels, registered with
:func:`register`.  ``get("potts")`` on an unknown name raises a ``ParameterError`` listing the
registered models; nothing treats "not Ising" as XY.
"""

from __future__ import annotations

from ..errors import ParameterError
from .base import Algorithm, Kernel, SpinModel

_REGISTRY: dict = {}


def register(model: SpinModel) -> SpinModel:
    """Add ``model`` (an instance) under ``model.name``; returns it (usable as a decorator
    on an instance factory).  Re-registering a name replaces the previous entry."""
    if not isinstance(model, SpinModel):
        raise TypeError(f"register expects a SpinModel instance, got {type(model).__name__}")
    if not model.name or not model.algorithms:
        raise ValueError("a SpinModel needs a name and at least one algorithm")
    _REGISTRY[model.name] = model
    return model


def unregister(name: str) -> None:
    """Remove a model (tests that register a toy model clean up with this)."""
    if name in ("ising", "xy"):
        raise ValueError(f"the built-in model {name!r} cannot be removed")
    _REGISTRY.pop(name, None)


def names() -> tuple:
    return tuple(_REGISTRY)


def get(name) -> SpinModel:
    """The registered model called ``name`` (ParameterError listing the choices otherwise)."""
    model = _REGISTRY.get(name) if isinstance(name, str) else None
    if model is None:
        raise ParameterError(f"unknown model {name!r}; choose one of {', '.join(_REGISTRY)}")
    return model


from . import ising as _ising, xy as _xy  # noqa: E402  (the built-in models register here)

register(_ising.IsingModel())
register(_xy.XYModel())

__all__ = ["Algorithm", "Kernel", "SpinModel", "register", "unregister", "names", "get"]
