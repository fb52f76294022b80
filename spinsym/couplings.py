"""Per-bond couplings on the L × L torus, validated once (docs/conventions.md).

Site (y, x) owns ``Jx[y, x]`` to (y, x+1), ``Jy[y, x]`` to (y+1, x), ``J2p[y, x]`` to
(y+1, x+1), ``J2m[y, x]`` to (y+1, x−1), and the field ``h[y, x]``; all periodic.  Each of the
five is a number (it broadcasts) or an (L, L) array; a scalar ``J2`` sets both diagonals.
The triangular lattice is one diagonal (``J2m = 0``), the honeycomb lattice a brick wall
(``Jy[y, x] = 0`` where x + y is odd).

:class:`BondCouplings` is the per-bond counterpart of :class:`spinsym.hamiltonians.Couplings`
(homogeneous Jx, Jy, J2, h): :func:`as_couplings` turns any accepted form (a Couplings, a
mapping, a BondCouplings) into one of the two, and a BondCouplings that is homogeneous with
equal diagonals becomes a plain Couplings, so homogeneous input takes the scalar path.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from .errors import DataError, ParameterError

#: the five per-bond fields, in storage order
FIELDS = ("Jx", "Jy", "J2p", "J2m", "h")
#: the largest |coupling| accepted (larger values make every exp(-βΔE) degenerate)
MAX_ABS = 1e6


def _field(value, name: str, L: int | None, where: str):
    if isinstance(value, (bool, np.bool_)):
        raise ParameterError(f"{where}: {name} must be a number or an L × L array, got {value!r}")
    try:
        ndim = np.ndim(value)
    except ValueError:  # a ragged nested list
        raise ParameterError(f"{where}: {name} is not a rectangular array of numbers "
                             "(ragged rows)") from None
    if ndim == 0:
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ParameterError(f"{where}: {name} must be a number or an L × L array, "
                                 f"got {value!r}") from None
        if not math.isfinite(v) or abs(v) > MAX_ABS:
            raise ParameterError(f"{where}: {name} must be finite with |{name}| <= {MAX_ABS:g}, "
                                 f"got {v!r}")
        return v
    try:
        a = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ParameterError(f"{where}: {name} is not a rectangular array of numbers "
                             "(ragged or non-numeric rows)") from None
    if a.dtype == object or a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ParameterError(f"{where}: {name} must be an L × L array, got shape {a.shape}")
    if L is not None and a.shape != (L, L):
        raise ParameterError(f"{where}: {name} has shape {a.shape}, expected ({L}, {L})")
    if a.shape[0] < 2:
        raise ParameterError(f"{where}: {name} must be at least 2 × 2")
    if not np.all(np.isfinite(a)) or np.abs(a).max() > MAX_ABS:
        raise ParameterError(f"{where}: {name} must hold finite numbers with |value| <= "
                             f"{MAX_ABS:g}")
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class BondCouplings:
    """Per-bond couplings: each field a float or a read-only (L, L) float64 array."""

    Jx: object = 1.0
    Jy: object = 1.0
    J2p: object = 0.0
    J2m: object = 0.0
    h: object = 0.0

    def __post_init__(self):
        L = None
        for name in FIELDS:
            v = _field(getattr(self, name), name, L, "couplings")
            if isinstance(v, np.ndarray):
                L = v.shape[0]
            object.__setattr__(self, name, v)

    # -- construction
    @classmethod
    def from_mapping(cls, obj, L: int | None = None, where: str = "couplings"):
        """From ``{"Jx", "Jy", "J2p", "J2m" (or "J2"), "h"}``: every key given (no defaults),
        numbers or L × L nested lists.  ParameterError with one clear line otherwise."""
        if not isinstance(obj, Mapping):
            raise ParameterError(f"{where}: expected an object with Jx, Jy, J2p, J2m (or J2) "
                                 f"and h, got {type(obj).__name__}")
        keys = set(obj)
        unknown = keys - set(FIELDS) - {"J2"}
        if unknown:
            raise ParameterError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}"
                                 "; expected Jx, Jy, J2p, J2m (or J2), h")
        if "J2" in keys and keys & {"J2p", "J2m"}:
            raise ParameterError(f"{where}: give either J2 (both diagonals) or J2p and J2m, "
                                 "not both")
        needed = ("Jx", "Jy", "h") + (("J2",) if "J2" in keys else ("J2p", "J2m"))
        missing = [k for k in needed if k not in keys]
        if missing:
            raise ParameterError(f"{where}: missing key(s) {', '.join(missing)}")
        values = {k: _field(obj[k], k, L, where) for k in needed}
        if "J2" in values:
            values["J2p"] = values["J2m"] = values.pop("J2")
        shapes = {np.shape(v) for v in values.values() if np.ndim(v)}
        if len(shapes) > 1:
            raise ParameterError(f"{where}: arrays of different shapes {sorted(shapes)}")
        return cls(**values)

    @classmethod
    def load(cls, path, L: int | None = None):
        """A JSON file holding one object (see :meth:`from_mapping`)."""
        path = os.fspath(path)
        if os.path.isdir(path):
            raise DataError(f"{path} is a directory, not a couplings JSON file")
        try:
            with open(path, encoding="utf-8") as f:
                obj = json.load(f, parse_constant=_refuse_constant)
        except FileNotFoundError:
            raise DataError(f"no such file: {path}") from None
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise DataError(f"{path} is not a valid couplings JSON file: "
                            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") \
                from None
        return cls.from_mapping(obj, L, where=path)

    @classmethod
    def from_scalar(cls, c) -> "BondCouplings":
        """From a homogeneous :class:`spinsym.hamiltonians.Couplings` (J2 on both diagonals)."""
        return cls(c.Jx, c.Jy, c.J2, c.J2, c.h)

    # -- views
    @property
    def L(self) -> int | None:
        """The lattice size of the arrays (None when every field is a number)."""
        for name in FIELDS:
            v = getattr(self, name)
            if isinstance(v, np.ndarray):
                return v.shape[0]
        return None

    def arrays(self, L: int | None = None) -> tuple:
        """The five fields as (L, L) float64 arrays (Jx, Jy, J2p, J2m, h)."""
        L = self.L if L is None else L
        if L is None:
            raise ParameterError("these couplings are all numbers: give L")
        if self.L is not None and self.L != L:
            raise ParameterError(f"the couplings are {self.L} × {self.L} arrays, not {L} × {L}")
        return tuple(np.ascontiguousarray(np.broadcast_to(getattr(self, n), (L, L)),
                                          dtype=np.float64) for n in FIELDS)

    @property
    def uniform(self) -> bool:
        """Every field constant over the lattice."""
        return all(np.ndim(v) == 0 or np.all(v == v.flat[0])
                   for v in (getattr(self, n) for n in FIELDS))

    def value(self, name: str) -> float:
        """The constant value of a uniform field (ParameterError when it varies)."""
        v = getattr(self, name)
        if np.ndim(v) == 0:
            return float(v)
        if not np.all(v == v.flat[0]):
            raise ParameterError(f"{name} varies over the lattice")
        return float(v.flat[0])

    def to_scalar(self):
        """The equivalent homogeneous Couplings, or None when the couplings vary or the two
        diagonals differ."""
        from .hamiltonians import Couplings

        if not self.uniform or self.value("J2p") != self.value("J2m"):
            return None
        return Couplings(self.value("Jx"), self.value("Jy"), self.value("J2p"), self.value("h"))

    @property
    def has_diagonals(self) -> bool:
        return bool(np.any(np.asarray(self.J2p) != 0) or np.any(np.asarray(self.J2m) != 0))

    @property
    def nearest_neighbour_only(self) -> bool:
        return not self.has_diagonals

    @property
    def has_field(self) -> bool:
        return bool(np.any(np.asarray(self.h) != 0))

    def max_flip_energy(self) -> float:
        """The largest |ΔE| of one Ising spin flip: 2 max_i (Σ_j |J_ij| + |h_i|) (XY local
        changes are no larger)."""
        if self.L is None:
            a = [abs(float(getattr(self, n))) for n in FIELDS]
            return 2.0 * (2 * a[0] + 2 * a[1] + 2 * a[2] + 2 * a[3] + a[4])
        Jx, Jy, J2p, J2m, h = (np.abs(a) for a in self.arrays())
        roll = np.roll
        per_site = (Jx + roll(Jx, 1, 1) + Jy + roll(Jy, 1, 0) + J2p + roll(roll(J2p, 1, 0), 1, 1)
                    + J2m + roll(roll(J2m, 1, 0), -1, 1) + h)
        return 2.0 * float(per_site.max())

    def as_json(self) -> dict:
        return {n: (v.tolist() if isinstance(v, np.ndarray) else v)
                for n, v in ((n, getattr(self, n)) for n in FIELDS)}

    def __eq__(self, other):
        if not isinstance(other, BondCouplings):
            return NotImplemented
        return all(np.array_equal(getattr(self, n), getattr(other, n)) for n in FIELDS)

    __hash__ = None

    def __repr__(self):
        parts = []
        for n in FIELDS:
            v = getattr(self, n)
            parts.append(f"{n}={v:g}" if np.ndim(v) == 0 else f"{n}=array{v.shape}")
        return f"BondCouplings({', '.join(parts)})"


def _refuse_constant(name):
    raise ValueError(f"{name} is not a number")


def as_couplings(value, L: int | None = None):
    """A Couplings (homogeneous, equal diagonals) or a BondCouplings (anything else), from a
    Couplings, a BondCouplings or a mapping (:meth:`BondCouplings.from_mapping`; a mapping
    of numbers with ``J2`` may omit keys, which default to Jx = Jy = 1, J2 = h = 0)."""
    from .hamiltonians import Couplings

    if isinstance(value, Couplings):
        return value
    if isinstance(value, Mapping):
        scalars = all(not isinstance(v, (list, tuple, np.ndarray)) for v in value.values())
        if scalars and not set(value) & {"J2p", "J2m"}:
            unknown = set(value) - {"Jx", "Jy", "J2", "h"}
            if unknown:
                raise ParameterError(f"couplings: unknown key(s) "
                                     f"{', '.join(sorted(map(str, unknown)))}; expected Jx, Jy, "
                                     "J2p, J2m (or J2), h")
            return Couplings(**value)
        full = {"Jx": 1.0, "Jy": 1.0, "h": 0.0, **value}
        if not set(value) & {"J2", "J2p", "J2m"}:
            full["J2"] = 0.0
        value = BondCouplings.from_mapping(full, L)
    if not isinstance(value, BondCouplings):
        raise ParameterError("couplings must be a Couplings, a BondCouplings or a mapping of "
                             f"Jx, Jy, J2p, J2m (or J2), h; got {type(value).__name__}")
    if L is not None and value.L is not None and value.L != L:
        raise ParameterError(f"the couplings are {value.L} × {value.L} arrays, but L = {L}")
    scalar = value.to_scalar()
    return scalar if scalar is not None else value
