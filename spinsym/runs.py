"""Runs in memory: the Python face of the HDF5 schema of :mod:`spinsym.data`.

A :class:`Run` holds what one ``configs-v1`` file holds: root attributes and one
:class:`TemperatureRun` per temperature group, each with its configurations (``(n, L, L)``,
int8 Ising spins or float32 XY angles), energies, stored magnetizations and attributes.

* :func:`spinsym.simulate` and :meth:`spinsym.Sampler.sample` return a Run built in memory
  by :class:`RunBuilder`, which has the same ``group`` / ``append`` / ``set_attrs`` /
  ``commit`` / ``abort`` interface as the file writer :class:`spinsym.data.AtomicH5Writer`, so
  the Monte Carlo driver and the sampler fill either one with the same code.
* :meth:`Run.save` writes the schema (atomically) and :func:`load` reads any file that the
  command line writes; ``load(path).save(other)`` round-trips every array bit for bit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from .errors import DataError

#: root attributes that a writer sets itself (not copied by Run.save)
_WRITER_ROOT = ("schema", "spinsym_version", "model", "L", "created")


@dataclass
class TemperatureRun:
    """One temperature: ``configs`` (n, L, L), ``energy`` (n,), ``magnetization`` and attrs."""

    attrs: dict
    configs: np.ndarray
    energy: np.ndarray
    magnetization: np.ndarray
    #: per-bond couplings (:class:`spinsym.couplings.BondCouplings`), None when homogeneous
    bond_couplings: object = None

    @property
    def T(self) -> float:
        return float(self.attrs["T"])

    @property
    def model(self) -> str:
        return str(self.attrs["model"])

    @property
    def couplings(self):
        """:class:`~spinsym.hamiltonians.Couplings`, or the per-bond couplings."""
        from .hamiltonians import Couplings

        if self.bond_couplings is not None:
            return self.bond_couplings
        a = self.attrs
        return Couplings(a["Jx"], a["Jy"], a["J2"], a["h"])

    @property
    def n_samples(self) -> int:
        return int(self.configs.shape[0])

    def __repr__(self):
        return (f"TemperatureRun(T={self.T:g}, model={self.model!r}, "
                f"configs={self.configs.dtype}{tuple(self.configs.shape)})")


@dataclass
class Run:
    """A whole run: ``run.temperatures``, ``run[i]``, ``len(run)``, iteration, ``run.save``."""

    model: str
    L: int
    groups: list
    attrs: dict = field(default_factory=dict)
    #: the state that continues a Monte Carlo run (``spinsym.simulate(resume=run, ...)``):
    #: ``{"arrays": {path: array}}``, the ``T_xxx/resume`` datasets of files; None for others
    resume: dict | None = None

    @property
    def temperatures(self) -> list:
        return [g.T for g in self.groups]

    def __len__(self):
        return len(self.groups)

    def __getitem__(self, i) -> TemperatureRun:
        return self.groups[i]

    def __iter__(self):
        return iter(self.groups)

    def __repr__(self):
        temps = ", ".join(f"{t:g}" for t in self.temperatures)
        return f"Run(model={self.model!r}, L={self.L}, T=[{temps}])"

    def save(self, path) -> str:
        """Write the ``configs-v1`` schema to ``path`` (temporary name, then rename)."""
        from .data import AtomicH5Writer

        path = os.fspath(path)
        extra = {k: v for k, v in self.attrs.items() if k not in _WRITER_ROOT}
        with AtomicH5Writer(path, self.model, self.L, root_attrs=extra) as writer:
            for i, g in enumerate(self.groups):
                attrs = {k: v for k, v in g.attrs.items() if k != "n_samples"}
                writer.group(i, attrs, couplings=g.bond_couplings)
                writer.append(i, g.configs, g.energy, magnetization=g.magnetization)
            if self.resume:
                writer.write_state(self.resume)
            return writer.commit()


class RunBuilder:
    """Collects a run in memory through the writer interface of ``AtomicH5Writer``.

    :meth:`reserve` makes room for a group's samples to come and returns it, so that a
    producer (the Monte Carlo driver) can write the configurations there itself: an
    :meth:`append` of the slice of that room where the next samples go is then recorded
    without a copy, and :meth:`commit` hands over the room without a concatenation."""

    def __init__(self, model: str, L: int, root_attrs: dict | None = None):
        from . import __version__

        self.model, self.L = model, int(L)
        self.attrs = {"spinsym_version": __version__, "model": model, "L": self.L,
                      **(root_attrs or {})}
        self._groups: dict = {}
        self._state = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        return False

    def group(self, index: int, attrs: dict, couplings=None):
        from . import __version__

        self._groups[index] = {"attrs": {"spinsym_version": __version__, "n_samples": 0,
                                         **attrs},
                               "configs": [], "energy": [], "magnetization": [],
                               "couplings": couplings, "room": None}

    def reserve(self, index: int, n: int) -> np.ndarray:
        """Room for the next ``n`` samples of group ``index``: the (n, L, L) array of their
        configurations, for the caller to fill in place and :meth:`append` slice by slice
        in order."""
        from .data import config_dtype
        from .models import get

        g = self._groups[index]
        self._close_room(g)
        n = int(n)
        g["room"] = {"configs": np.empty((n, self.L, self.L), dtype=config_dtype(self.model)),
                     "energy": np.empty(n, np.float64),
                     "magnetization": np.empty((n,) + tuple(get(self.model).magnetization_shape),
                                               np.float64),
                     "used": 0}
        return g["room"]["configs"]

    @staticmethod
    def _close_room(g):
        """Move the filled part of the group's room to its parts (later appends go there)."""
        room, g["room"] = g["room"], None
        if room is not None and room["used"]:
            for key in ("configs", "energy", "magnetization"):
                g[key].append(room[key][:room["used"]])

    def append(self, index: int, configs: np.ndarray, energy: np.ndarray, magnetization=None):
        from .data import config_dtype, magnetization as stored_magnetization

        g = self._groups[index]
        n = np.shape(configs)[0]
        room = g["room"]
        if room is not None and room["used"] + n <= room["configs"].shape[0] \
                and np.shape(configs)[1:] == room["configs"].shape[1:]:
            a = room["used"]
            dest = room["configs"][a:a + n]
            if not _is_view(configs, dest):  # else the caller wrote it there itself
                dest[...] = configs
            room["energy"][a:a + n] = energy
            room["magnetization"][a:a + n] = (stored_magnetization(self.model, dest)
                                              if magnetization is None else magnetization)
            room["used"] = a + n
        else:
            self._close_room(g)
            configs = np.array(configs, dtype=config_dtype(self.model), copy=True)
            g["configs"].append(configs)
            g["energy"].append(np.array(energy, dtype=np.float64, copy=True))
            g["magnetization"].append(stored_magnetization(self.model, configs)
                                      if magnetization is None
                                      else np.array(magnetization, dtype=np.float64, copy=True))
        g["attrs"]["n_samples"] += n

    def set_attrs(self, index: int, **attrs):
        self._groups[index]["attrs"].update(attrs)

    def write_state(self, state: dict):
        self._state = {"arrays": {k: np.array(v, copy=True) for k, v in state["arrays"].items()}}

    def abort(self):
        self._groups.clear()

    def commit(self) -> Run:
        from .data import config_dtype

        L, groups = self.L, []
        from .models import get

        mshape = (0,) + tuple(get(self.model).magnetization_shape)
        for index in sorted(self._groups):
            g = self._groups[index]
            self._close_room(g)
            # one part (the reserved room) is taken as it is; several are joined
            cat = (lambda parts, empty: (parts[0] if len(parts) == 1 else np.concatenate(parts))
                   if parts else empty)
            groups.append(TemperatureRun(
                attrs=g["attrs"],
                configs=cat(g["configs"], np.empty((0, L, L), dtype=config_dtype(self.model))),
                energy=cat(g["energy"], np.empty(0)),
                magnetization=cat(g["magnetization"], np.empty(mshape)),
                bond_couplings=g["couplings"]))
        return Run(self.model, L, groups, dict(self.attrs), resume=self._state)


def _is_view(a, b) -> bool:
    """Whether ``a`` is the very array region ``b`` (same memory, shape, strides, dtype)."""
    if not isinstance(a, np.ndarray):
        return False
    ia, ib = a.__array_interface__, b.__array_interface__
    return (ia["data"][0] == ib["data"][0] and a.shape == b.shape and a.dtype == b.dtype
            and a.strides == b.strides)


#: the per-proposal dataset of sampler output (see :mod:`spinsym.analysis`)
LOG_WEIGHT = "log_weight"


def load(path) -> Run:
    """Read a spinsym HDF5 file (``simulate``, ``sample``, a sweep job) into memory."""
    import h5py

    from .data import read, read_state

    path = os.fspath(path)
    ds = read(path)  # validates the schema: DataError with one clear line otherwise
    state = read_state(path)
    groups = []
    try:
        with h5py.File(path, "r") as f:
            for g in ds.temperatures:
                h = f[g.name]
                # a sampler's per-proposal log importance weights (the free energy in analyze)
                if isinstance(h.get(LOG_WEIGHT), h5py.Dataset):
                    state = state or {"arrays": {}}
                    state["arrays"][f"{g.name}/{LOG_WEIGHT}"] = h[LOG_WEIGHT][()]
                groups.append(TemperatureRun(dict(g.attrs), h["configs"][()], h["energy"][()],
                                             h["magnetization"][()],
                                             g.couplings if g.per_bond else None))
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    return Run(ds.model, ds.L, groups, dict(ds.attrs), resume=state)
