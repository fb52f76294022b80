"""A torch Dataset over the HDF5 schema of :mod:`spinsym.data` (lazy and memory-frugal).

``SpinConfigs([path_or_run, ...])`` indexes every configuration of every temperature group of
one or more files (or in-memory :class:`spinsym.Run` objects) without reading any of them: at
construction only the group attributes and sizes are read (via :func:`spinsym.data.read`,
which validates the schema).  Items are read on
demand from a per-process cache of open ``h5py.File`` handles (reopened after a fork, so
DataLoader workers each get their own).  ``dataset[i]`` returns a dict

    config   (L, L) tensor: float32 spins ±1 (Ising) or angles in [0, 2π) (XY)
    T        float64 scalar tensor
    couplings  float64 (4,) tensor (Jx, Jy, J2, h)
    beta     float64 scalar tensor (1/T)

``dataset.batch(indices)`` returns the same keys stacked (the trainer's path), reading each
group with one sorted h5py selection; ``__getitems__`` (used by ``DataLoader`` for batched
fetching in torch ≥ 2.2) does the same read and returns the list of per-item dicts that the
default collate expects.  Every file must hold the same model and L (DataError otherwise).

The content is validated once, at construction, in chunks (:func:`spinsym.validate.check_data`,
the check ``analyze`` runs): Ising spins ±1 or finite XY angles, finite energies, and a
temperature valid for the couplings.  Bad data is a DataError before any training starts.
"""

from __future__ import annotations

import os

import h5py
import numpy as np
import torch

from .data import read
from .errors import DataError
from .validate import check_data

#: configuration elements read at once while validating the content
_CHECK_ELEMENTS = 1 << 22


class SpinConfigs(torch.utils.data.Dataset):
    def __init__(self, paths, model: str | None = None, L: int | None = None):
        from .runs import Run

        if isinstance(paths, (str, os.PathLike, Run)):
            paths = [paths]
        paths = [p if isinstance(p, Run) else os.fspath(p) for p in paths]
        if not paths:
            raise DataError("no data files given")
        groups = []
        for k, path in enumerate(paths):
            if isinstance(path, Run):  # in memory: its groups hold the arrays themselves
                ds, path = path, f"run {k}"
            else:
                ds = read(path)
            if model is None:
                model = ds.model
            if L is None:
                L = ds.L
            if ds.model != model:
                raise DataError(f"{path} holds {ds.model} configurations, expected {model} "
                                "(all data files must be of one model)")
            if ds.L != L:
                raise DataError(f"{path} has L = {ds.L}, expected L = {L} "
                                "(all data files must have one lattice size)")
            for g in (ds.groups if isinstance(ds, Run) else ds.temperatures):
                if g.n_samples:
                    if isinstance(ds, Run):
                        check_data(model, g.configs, g.energy, path, T=g.attrs["T"],
                                   couplings=[g.attrs[c] for c in ("Jx", "Jy", "J2", "h")])
                    else:
                        _check_group(g, model)
                    groups.append(g)
        if not groups:
            raise DataError("the data files hold no configurations")
        self.paths = [p for p in paths if not isinstance(p, Run)]
        self.model, self.L = model, int(L)
        self.groups = groups
        self.sizes = np.array([g.n_samples for g in groups], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)])
        self.T = np.array([g.T for g in groups], dtype=np.float64)
        self.couplings = np.array([[g.couplings.Jx, g.couplings.Jy, g.couplings.J2,
                                    g.couplings.h] for g in groups], dtype=np.float64)
        self._handles: dict = {}
        self._pid = None

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getstate__(self):  # picklable for DataLoader workers: no open handles
        state = dict(self.__dict__)
        state["_handles"] = {}
        state["_pid"] = None
        return state

    def _file(self, path: str) -> h5py.File:
        if self._pid != os.getpid():
            self._handles = {}
            self._pid = os.getpid()
        f = self._handles.get(path)
        if f is None:
            f = self._handles[path] = h5py.File(path, "r")
        return f

    def close(self):
        for f in self._handles.values():
            try:
                f.close()
            except Exception:  # noqa: BLE001
                pass
        self._handles = {}

    def locate(self, indices) -> tuple[np.ndarray, np.ndarray]:
        """(group number, row within the group) of global indices."""
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"index out of range for a dataset of {len(self)} configurations")
        gi = np.searchsorted(self.offsets, idx, side="right") - 1
        return gi, idx - self.offsets[gi]

    def _configs(self, gi: int, rows: np.ndarray) -> np.ndarray:
        g = self.groups[gi]
        if isinstance(g.configs, np.ndarray):  # an in-memory Run
            return g.configs[rows]
        ds = self._file(g.path)[g.name]["configs"]
        uniq, inverse = np.unique(rows, return_inverse=True)
        return ds[uniq][inverse]

    def __getitem__(self, i):
        if isinstance(i, slice):
            return self.batch(range(*i.indices(len(self))))
        if not isinstance(i, (int, np.integer)):
            raise TypeError(f"index must be an integer, got {type(i).__name__}")
        if i < 0:
            i += len(self)
        gi, row = self.locate([i])
        cfg = self._configs(int(gi[0]), row)[0]
        return self._item(cfg[None], gi, single=True)

    def __getitems__(self, indices) -> list:
        b = self.batch(indices)
        return [{k: v[j] for k, v in b.items()} for j in range(len(b["config"]))]

    def batch(self, indices) -> dict:
        gi, rows = self.locate(list(indices))
        out = np.empty((len(gi), self.L, self.L), dtype=np.float32)
        for g in np.unique(gi):
            sel = np.nonzero(gi == g)[0]
            out[sel] = self._configs(int(g), rows[sel])
        return self._item(out, gi, single=False)

    def _item(self, cfg, gi, single: bool) -> dict:
        T = self.T[gi]
        item = {"config": torch.as_tensor(np.asarray(cfg, dtype=np.float32)),
                "T": torch.as_tensor(T), "beta": torch.as_tensor(1.0 / T),
                "couplings": torch.as_tensor(self.couplings[gi])}
        if single:
            item = {k: v[0] for k, v in item.items()}
        return item

    def temperatures(self) -> np.ndarray:
        return np.unique(self.T)

    def coupling_sets(self) -> np.ndarray:
        return np.unique(self.couplings, axis=0)


def _check_group(g, model: str) -> None:
    """Validate one group's attributes and content, reading ``_CHECK_ELEMENTS`` at a time."""
    where = f"{g.path} {g.name}"
    a = g.attrs
    couplings = [a[k] for k in ("Jx", "Jy", "J2", "h")]
    with h5py.File(g.path, "r") as f:
        configs, energies = f[g.name]["configs"], f[g.name]["energy"]
        n = configs.shape[0]
        step = max(1, _CHECK_ELEMENTS // max(1, int(np.prod(configs.shape[1:]))))
        check_data(model, configs[:0], None, where, T=a["T"], couplings=couplings)
        for i in range(0, n, step):
            check_data(model, configs[i:i + step], where=where)
        check_data(model, configs[:0], energies[:], where)  # the order analyze reports in


def collate(batch):
    """Stack a list of items (or pass through a dict that :meth:`SpinConfigs.batch` stacked)."""
    if isinstance(batch, dict):
        return batch
    return {k: torch.stack([b[k] for b in batch]) for k in batch[0]}
