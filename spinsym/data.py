"""The one HDF5 schema for spin configurations (Monte Carlo output and sampler output).

Layout (schema ``spinsym/configs-v1``)::

    /                       attrs: schema, spinsym_version, model, L, created
    /T_000, /T_001, ...     one group per temperature (in the order given), attrs:
                              model, L, Jx, Jy, J2, h, T, algorithm, sweeps, thermalize,
                              every, seed, stream, spinsym_version, n_samples (+ extra
                              algorithm statistics such as acceptance, step, tau_hint)
        configs             int8 (n, L, L) Ising spins ±1, or float32 (n, L, L) XY angles in [0, 2π)
        energy              float64 (n,)   total energy of each configuration (hamiltonians.energy)
        magnetization       float64 (n,)   Ising: signed m = Σs/N;  (n, 2) XY: (Σcos θ, Σsin θ)/N

        resume/             (Monte Carlo output) the state that continues the run
                            (:func:`spinsym.mc.run.resume`):
            state           the chain's current configuration (the kernel's dtype: int8, or
                            float64 angles)
            rng_state       uint64 (4,)  its xoshiro256** state
            counter         int64 (2,)   the algorithm counter and the measured sweeps
            adaptive/NAME   the kernel's adaptive state (the XY step)
            position        int64 (4,)   format, sweeps done per chain, thermalize,
                            measurement sweeps planned
            exchange/...    (the lowest group of each replica, with replica exchange) the
                            exchange state: rng_state (PCG64 words), walker, trip_start,
                            seen_high, tried, accepted, trips

Replica exchange runs add the group attributes ``exchange_every``, ``exchange_acceptance``
(with the next higher T), ``round_trips`` and ``round_trip_time``.  Runs with two replicas
per temperature hold 2 n_T groups: T_000 ... T_{n_T-1} for replica 0 and then the same
temperatures again for replica 1; every group has the attributes ``replica`` (0 or 1) and
``replicas`` (2).  Each group is a complete group of its own, so readers that know nothing
of replicas read every group; :mod:`spinsym.analysis` pairs them for the overlaps.

Arrays are indexed ``configs[k, y, x]``.  Files are written to a temporary name in the
destination folder and renamed when complete, so a file at the final path is always whole.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone

import h5py
import numpy as np

from . import __version__
from .errors import DataError
from .fileio import check_out_path, discard, finish, is_disk_full, temporary_name
from .hamiltonians import Couplings

SCHEMA = "spinsym/configs-v1"
GROUP_ATTRS = ("model", "L", "Jx", "Jy", "J2", "h", "T", "algorithm", "sweeps", "thermalize",
               "every", "seed")
#: the subgroup of each temperature group holding the resume state of a Monte Carlo run
RESUME_GROUP = "resume"
#: the per-bond coupling datasets of a group whose ``couplings`` attribute is "per-bond"
COUPLING_FIELDS = ("Jx", "Jy", "J2p", "J2m", "h")


def _models():
    from . import models  # the registry imports the kernels' modules lazily

    return models


def config_dtype(model: str):
    """The stored dtype of ``model``'s configurations (asked of the model registry)."""
    return _models().get(model).dtype


def magnetization(model: str, configs: np.ndarray) -> np.ndarray:
    """Per-sample magnetization stored beside the configurations (see module docstring)."""
    return _models().get(model).magnetization(configs)


_magnetization = magnetization


# --------------------------------------------------------------------------- writing


#: bytes of configurations per HDF5 chunk (at most): L = 512 gives 4 configurations a chunk
CHUNK_BYTES = 1 << 20
#: rows per chunk of the energy and magnetization datasets (at least)
SERIES_CHUNK = 1024


class _Rows:
    """One growing dataset of the writer, written in whole chunks.

    Rows arrive in blocks of any size (:meth:`add`); they reach the file one whole chunk or
    more at a time, straight from the caller's array, and the rows short of a whole chunk wait
    in memory (a copy) until more arrive or :meth:`flush` writes them.  No chunk is written
    twice (HDF5 would read back a partial chunk to complete it), except the one chunk
    completed after a :meth:`flush` (at a checkpoint)."""

    def __init__(self, ds):
        self.ds = ds
        self.rows = int(ds.chunks[0])
        self.n = int(ds.shape[0])  # rows in the file
        self.tail = None           # rows waiting for a whole chunk (a copy), or None

    def __len__(self):
        return self.n + (0 if self.tail is None else len(self.tail))

    def add(self, arr: np.ndarray):
        if arr.shape[1:] != self.ds.shape[1:]:
            raise ValueError(f"rows of shape {arr.shape[1:]} for a dataset of rows "
                             f"{self.ds.shape[1:]}")
        if not len(arr):
            return
        t = 0 if self.tail is None else len(self.tail)
        room = (-self.n) % self.rows or self.rows  # rows up to the next chunk boundary
        if t + len(arr) < room:  # not enough for the chunk: wait
            self.tail = np.concatenate([self.tail, arr]) if t else np.array(arr, copy=True)
            return
        pieces, i = [], 0
        if t:  # complete the waiting chunk (copies fewer rows than one chunk)
            i = room - t
            pieces.append(np.concatenate([self.tail, arr[:i]]))
        elif self.n % self.rows:  # after a flush: first complete the flushed chunk
            i = room
            pieces.append(arr[:i])
        whole = (len(arr) - i) // self.rows * self.rows
        if whole:
            pieces.append(arr[i:i + whole])
            i += whole
        self.tail = np.array(arr[i:], copy=True) if i < len(arr) else None
        self._write(pieces)

    def flush(self):
        if self.tail is not None and len(self.tail):
            tail, self.tail = self.tail, None
            self._write([tail])

    def _write(self, pieces):
        total = sum(len(p) for p in pieces)
        self.ds.resize(self.n + total, axis=0)
        rows, rest = self.rows, (0,) * (self.ds.ndim - 1)
        for p in pieces:
            p = np.ascontiguousarray(p, dtype=self.ds.dtype)
            if self.n % rows == 0 and len(p) % rows == 0:
                # whole chunks, unfiltered: their bytes as they are (H5Dwrite_chunk), without
                # HDF5's selections and conversion pipeline
                for a in range(0, len(p), rows):
                    self.ds.id.write_direct_chunk((self.n + a,) + rest, p[a:a + rows])
            else:
                self.ds[self.n:self.n + len(p)] = p
            self.n += len(p)


def _fallocate():
    """libc's fallocate(fd, mode, offset, length), or None (not Linux, or no such call)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        fn = ctypes.CDLL(None, use_errno=True).fallocate
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    fn.restype = ctypes.c_int
    return fn


#: fallocate's mode: allocate without changing the file size
FALLOC_FL_KEEP_SIZE = 1


def preallocate(path: str, nbytes: int) -> bool:
    """Reserve ``nbytes`` of disk for the file at ``path`` without changing its size (Linux
    ``fallocate(FALLOC_FL_KEEP_SIZE)``): writes into reserved blocks skip the file system's
    block allocation, about a third of the cost of writing a new file's pages (ext4), and a
    disk too small fails here, at once (OSError ENOSPC).  False where the call or the file
    system does not support it (nothing is reserved then); :func:`release_reserve` gives
    back what the file did not use."""
    fn = _fallocate()
    if fn is None or nbytes <= 0:
        return False
    import ctypes

    fd = os.open(path, os.O_WRONLY)
    try:
        if fn(fd, FALLOC_FL_KEEP_SIZE, 0, int(nbytes)) == 0:
            return True
        err = ctypes.get_errno()
        if err in (errno.ENOSPC, errno.EDQUOT):
            raise OSError(err, os.strerror(err), path)
        return False  # EOPNOTSUPP (tmpfs before 3.5, some network file systems), ...
    finally:
        os.close(fd)


def release_reserve(path: str):
    """Free the blocks reserved past the end of the file (truncating to its own size)."""
    os.truncate(path, os.path.getsize(path))


class AtomicH5Writer:
    """Create an HDF5 file under a temporary name; ``commit()`` renames it into place.

    Used as a context manager: leaving the block without ``commit()`` (an exception, Ctrl-C)
    deletes the temporary file, so nothing half-written is ever left at the final path and an
    old file there stays as it was.  Datasets grow as blocks of samples arrive (:meth:`append`),
    in whole chunks (rows short of a chunk wait in memory until :meth:`snapshot` or
    :meth:`commit`, which write everything and the ``n_samples`` attributes).  A write that
    fails (a full disk: :class:`DataError` ``disk full writing PATH``) closes and deletes the
    temporary at once; the writer then refuses any further write.
    ``inputs``: files the caller reads, which the output must not be
    (:func:`spinsym.fileio.check_out_path`).  ``size``: the expected size of the file in
    bytes (:func:`expected_size`), reserved on disk up front (:func:`preallocate`; what is
    not used is given back at :meth:`commit`).
    """

    def __init__(self, path: str, model: str, L: int, inputs=(), root_attrs=None,
                 size: int | None = None):
        self.path = check_out_path(path, inputs)
        self.tmp = temporary_name(path)
        self.model, self.L = model, int(L)
        self.file = None
        self._committed = False
        self._failed = None
        self._rows = {}  # group index -> {dataset name: _Rows}
        self._reserved = False
        with self._writing():
            # no chunk cache: every write reaches the file at once, so a full disk raises here,
            # in the write, and not later while h5py frees a dataset (where the error would be
            # printed, not raised, and the library could crash)
            self.file = h5py.File(self.tmp, "w", rdcc_nbytes=0)
            self.file.attrs.update(schema=SCHEMA, spinsym_version=__version__, model=model,
                                   L=self.L, created=datetime.now(timezone.utc)
                                   .isoformat(timespec="seconds"))
            if root_attrs:
                self.file.attrs.update(root_attrs)
            self._reserved = bool(size) and preallocate(self.tmp, size)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if not self._committed:
            self.abort()
        return False

    @contextlib.contextmanager
    def _writing(self):
        """Every write goes through here: after the first failure nothing more is written."""
        if self._failed is not None:
            raise DataError(self._failed)
        if self._committed:
            raise DataError(f"{self.path} is already complete")
        try:
            yield
        except (OSError, RuntimeError, ValueError, KeyError) as exc:
            if is_disk_full(exc):
                self._failed = f"disk full writing {self.path}"
            elif isinstance(exc, OSError):
                self._failed = f"cannot write {self.path}: {_first_line(exc)}"
            else:
                raise
            self.abort()
            raise DataError(self._failed) from None

    def group(self, index: int, attrs: dict, couplings=None) -> h5py.Group:
        """Create temperature group ``index``; ``couplings``: per-bond couplings
        (:class:`spinsym.couplings.BondCouplings`), stored as the datasets ``couplings/Jx``,
        ``Jy``, ``J2p``, ``J2m`` and ``h`` (L × L float64)."""
        with self._writing():
            g = self.file.create_group(f"T_{index:03d}")
            if couplings is not None:
                c = g.create_group("couplings")
                for name, arr in zip(COUPLING_FIELDS, couplings.arrays(self.L)):
                    c.create_dataset(name, data=arr)
            L, dtype = self.L, config_dtype(self.model)
            # chunks of whole configurations, at most CHUNK_BYTES (L = 512: 4), written whole
            # (see _Rows); no fill values (every row is written before the file is complete)
            # and no modification times (a few system calls per write)
            rows = max(1, min(1024, CHUNK_BYTES // (L * L * np.dtype(dtype).itemsize)))
            fast = dict(fill_time="never", track_times=False)
            mshape = (0,) + tuple(_models().get(self.model).magnetization_shape)
            series = max(rows, SERIES_CHUNK)
            self._rows[index] = {
                "configs": _Rows(g.create_dataset(
                    "configs", shape=(0, L, L), maxshape=(None, L, L), dtype=dtype,
                    chunks=(rows, L, L), **fast)),
                "energy": _Rows(g.create_dataset(
                    "energy", shape=(0,), maxshape=(None,), dtype=np.float64,
                    chunks=(series,), **fast)),
                "magnetization": _Rows(g.create_dataset(
                    "magnetization", shape=mshape, maxshape=(None,) + mshape[1:],
                    dtype=np.float64, chunks=(series,) + mshape[1:], **fast))}
            g.attrs.update({"spinsym_version": __version__, "n_samples": 0, **attrs})
        return g

    def append(self, index: int, configs: np.ndarray, energy: np.ndarray, magnetization=None):
        """Append samples; ``magnetization`` defaults to the model's stored magnetization of
        ``configs`` (given, e.g. by :meth:`spinsym.Run.save`, it is written as it is).  The
        arrays may be reused once this returns (rows that wait for a whole chunk are
        copied)."""
        with self._writing():
            rows = self._rows[index]
            configs = np.asarray(configs).astype(config_dtype(self.model), copy=False)
            energy = np.asarray(energy, dtype=np.float64)
            mag = (_magnetization(self.model, configs) if magnetization is None
                   else np.asarray(magnetization, dtype=np.float64))
            if not len(configs) == len(energy) == len(mag):
                raise DataError(f"{len(configs)} configurations, {len(energy)} energies and "
                                f"{len(mag)} magnetizations in one append to {self.path}")
            rows["configs"].add(configs)
            rows["energy"].add(energy)
            rows["magnetization"].add(mag)

    def _flush(self):
        """Write the rows waiting for a whole chunk and every group's ``n_samples``."""
        for index, rows in self._rows.items():
            for r in rows.values():
                r.flush()
            self.file[f"T_{index:03d}"].attrs["n_samples"] = rows["configs"].n

    def set_attrs(self, index: int, **attrs):
        with self._writing():
            self.file[f"T_{index:03d}"].attrs.update(attrs)

    def write_state(self, state: dict):
        """Write the resume state ``{"arrays": {path: array}}`` (paths inside the temperature
        groups, e.g. ``T_000/resume/state``); datasets of the same shape are overwritten in
        place."""
        with self._writing():
            for path, arr in state["arrays"].items():
                arr = np.asarray(arr)
                ds = self.file.get(path)
                if ds is not None and (ds.shape != arr.shape or ds.dtype != arr.dtype):
                    del self.file[path]
                    ds = None
                if ds is None:
                    self.file.create_dataset(path, data=arr)
                else:
                    ds[...] = arr

    def snapshot(self, path: str) -> str:
        """Copy the file as it is now, every appended sample included, to ``path``,
        atomically (a checkpoint)."""
        import shutil

        from .fileio import atomic_path

        with self._writing():
            self._flush()
            self.file.flush()
            with atomic_path(path) as tmp:
                shutil.copyfile(self.tmp, tmp)
        return path

    def commit(self) -> str:
        with self._writing():
            self._flush()
            # drop the dataset handles before the file: h5py objects that outlive their closed
            # file are freed at interpreter exit, after the library, and crash it
            self._rows = {}
            self.file.close()  # flushes: a full disk shows up here at the latest
            self.file = None
            if self._reserved:
                release_reserve(self.tmp)
            finish(self.tmp, self.path)
        self._committed = True
        return self.path

    def abort(self):
        """Close the file (a failed flush is ignored) and delete the temporary."""
        f, self.file = self.file, None
        self._rows = {}
        if f is not None:
            hook = sys.unraisablehook
            sys.unraisablehook = lambda unraisable: None  # h5py's failed flushes, if any
            try:
                f.close()
            except Exception:
                pass
            finally:
                sys.unraisablehook = hook
        discard(self.tmp)


def expected_size(model: str, L: int, n_temperatures: int, n_samples: int) -> int:
    """Bytes that a file of ``n_temperatures`` groups of ``n_samples`` configurations takes
    (the datasets are uncompressed), plus a small allowance for the metadata."""
    m = _models().get(model)
    per_sample = L * L * np.dtype(m.dtype).itemsize + 8 \
        + 8 * int(np.prod(m.magnetization_shape, dtype=np.int64))
    return int(n_temperatures) * (int(n_samples) * per_sample + 16384) + 16384


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# --------------------------------------------------------------------------- reading


@dataclass
class TemperatureData:
    """One temperature group: attributes and (lazily read) arrays."""

    path: str
    name: str
    attrs: dict = field(repr=False)

    @property
    def T(self) -> float:
        return float(self.attrs["T"])

    @property
    def model(self) -> str:
        return str(self.attrs["model"])

    @property
    def per_bond(self) -> bool:
        return self.attrs.get("couplings") == "per-bond"

    @property
    def couplings(self):
        """:class:`Couplings`, or the stored per-bond :class:`spinsym.couplings.BondCouplings`."""
        if self.per_bond:
            from .couplings import BondCouplings

            with h5py.File(self.path, "r") as f:
                c = f[self.name]["couplings"]
                return BondCouplings(*(c[k][()] for k in COUPLING_FIELDS))
        a = self.attrs
        return Couplings(a["Jx"], a["Jy"], a["J2"], a["h"])

    @property
    def n_samples(self) -> int:
        return int(self.attrs["n_samples"])

    def _read(self, name, sl=slice(None)):
        with h5py.File(self.path, "r") as f:
            return f[self.name][name][sl]

    def configs(self, sl=slice(None)) -> np.ndarray:
        return self._read("configs", sl)

    def energy(self) -> np.ndarray:
        return self._read("energy")

    def magnetization(self) -> np.ndarray:
        return self._read("magnetization")


@dataclass
class SpinDataset:
    path: str
    model: str
    L: int
    attrs: dict
    temperatures: list

    def __len__(self):
        return len(self.temperatures)

    def __iter__(self):
        return iter(self.temperatures)


def read(path: str) -> SpinDataset:
    """Open and validate a spinsym HDF5 file (DataError with one clear line otherwise)."""
    if not os.path.exists(path):
        raise DataError(f"no such file: {path}")
    if os.path.isdir(path):
        raise DataError(f"is a directory, not an HDF5 file: {path}")
    if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO or device would block or mislead
        raise DataError(f"not a regular file: {path}")
    try:
        ok = h5py.is_hdf5(path)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    if not ok:
        raise DataError(f"not an HDF5 file (corrupt or wrong format): {path}")
    try:
        with h5py.File(path, "r") as f:
            root = dict(f.attrs)
            if root.get("schema") != SCHEMA:
                raise DataError(f"foreign HDF5 file (no {SCHEMA} schema): {path}")
            model, L = str(root.get("model")), int(root.get("L", 0))
            if model not in _models().names() or L < 2:
                raise DataError(f"corrupt spinsym file (bad model or L attributes): {path}")
            temps = []
            for name in sorted(k for k in f.keys() if k.startswith("T_")):
                g = f[name]
                attrs = dict(g.attrs)
                missing = [a for a in GROUP_ATTRS if a not in attrs]
                if missing or not all(d in g for d in ("configs", "energy", "magnetization")):
                    raise DataError(f"corrupt spinsym file: group {name} lacks "
                                    f"{', '.join(missing) or 'datasets'}: {path}")
                n = g["configs"].shape[0]
                if g["configs"].shape[1:] != (L, L) or g["energy"].shape[0] != n \
                        or g["magnetization"].shape[0] != n:
                    raise DataError(f"corrupt spinsym file: inconsistent shapes in {name}: {path}")
                if attrs.get("couplings") == "per-bond":
                    c = g.get("couplings")
                    if not isinstance(c, h5py.Group) or any(
                            k not in c or c[k].shape != (L, L) for k in COUPLING_FIELDS):
                        raise DataError(f"corrupt spinsym file: group {name} lacks its per-bond "
                                        f"couplings ({', '.join(COUPLING_FIELDS)}, {L} x {L}): "
                                        f"{path}")
                attrs["n_samples"] = n
                temps.append(TemperatureData(path, name, _plain(attrs)))
    except DataError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise DataError(f"corrupt spinsym file {path}: {exc}") from None
    if not temps:
        raise DataError(f"spinsym file holds no temperature groups: {path}")
    return SpinDataset(path, model, L, _plain(root), temps)


def read_state(path: str) -> dict | None:
    """The resume state of a file (``{"arrays": {path: array}}``, the ``resume`` subgroups of
    its temperature groups; see the module docstring), or None when it has none."""
    try:
        with h5py.File(path, "r") as f:
            arrays = {}
            for name in sorted(k for k in f.keys() if k.startswith("T_")):
                root = f[name].get(RESUME_GROUP)
                if not isinstance(root, h5py.Group):
                    continue

                def visit(sub, obj, prefix=f"{name}/{RESUME_GROUP}/"):
                    if isinstance(obj, h5py.Dataset):
                        arrays[prefix + sub] = obj[()]

                root.visititems(visit)
            return {"arrays": arrays} if arrays else None
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise DataError(f"corrupt resume state in {path}: {exc}") from None


def _plain(attrs: dict) -> dict:
    out = {}
    for k, v in attrs.items():
        if isinstance(v, bytes):
            v = v.decode()
        elif isinstance(v, np.generic):
            v = v.item()
        elif isinstance(v, np.ndarray):
            v = v.tolist()
        out[k] = v
    return out
