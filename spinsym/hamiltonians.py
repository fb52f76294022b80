"""Model parameters and THE energy function of each model.

Conventions (docs/conventions.md): arrays are indexed ``s[..., y, x]`` on an L × L torus.

Ising:  H = -Jx Σ_x-bonds s_i s_j - Jy Σ_y-bonds s_i s_j - J2 Σ_diag-bonds s_i s_j - h Σ_i s_i
XY:     H = -Jx Σ_x-bonds cos(θ_i-θ_j) - Jy Σ_y-bonds cos(θ_i-θ_j) - J2 Σ_diag cos(θ_i-θ_j)
            - h Σ_i cos θ_i

Each bond is counted once: site (y, x) owns the x-bond to (y, x+1), the y-bond to (y+1, x)
and the two diagonal bonds to (y+1, x+1) and (y+1, x-1).  On a torus this gives N bonds of
each nearest-neighbour kind and 2N diagonal bonds.

The energy functions are written once for numpy arrays *and* torch tensors (anything with a
``roll`` method), batched over leading axes, and accept scalar couplings or per-site coupling
fields broadcastable to ``(..., L, L)`` (a bond field value sits on the site that owns the
bond).  Monte Carlo, exact solvers, training losses and evaluation all call these.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .errors import ParameterError



@dataclass(frozen=True)
class Couplings:
    """Homogeneous couplings of the Ising or XY family."""

    Jx: float = 1.0
    Jy: float = 1.0
    J2: float = 0.0
    h: float = 0.0

    def __post_init__(self):
        for name, value in asdict(self).items():
            try:
                v = float(value)
            except (TypeError, ValueError):
                raise ParameterError(f"coupling {name} must be a number, got {value!r}") from None
            if not math.isfinite(v):
                raise ParameterError(f"coupling {name} must be finite, got {value!r}")
            object.__setattr__(self, name, v)

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def nearest_neighbour_only(self) -> bool:
        return self.J2 == 0.0

    @property
    def has_field(self) -> bool:
        return self.h != 0.0

    def max_flip_energy(self) -> float:
        """The largest |ΔE| of one Ising spin flip (XY local changes are no larger)."""
        return 2.0 * (2 * abs(self.Jx) + 2 * abs(self.Jy) + 4 * abs(self.J2) + abs(self.h))

    def rotated90(self) -> "Couplings":
        """Couplings after a 90° rotation of the lattice (Jx and Jy swap)."""
        return Couplings(self.Jy, self.Jx, self.J2, self.h)

    def spin_flipped(self) -> "Couplings":
        """Couplings after the global spin flip (h -> -h)."""
        return Couplings(self.Jx, self.Jy, self.J2, -self.h)


def check_model(model: str) -> str:
    """``model`` if it is a registered spin model (:mod:`spinsym.models`), else ParameterError."""
    from . import models

    return models.get(model).name


def _roll(a, shift: int, axis: int):
    """np.roll for numpy arrays, Tensor.roll for torch tensors (no torch import here)."""
    if isinstance(a, np.ndarray):
        return np.roll(a, shift, axis=axis)
    return a.roll(shift, axis)


def _neighbours(a):
    """Values at the bond partners owned by each site: (x+1), (y+1), (y+1, x+1), (y+1, x-1)."""
    right = _roll(a, -1, -1)
    down = _roll(a, -1, -2)
    down_right = _roll(down, -1, -1)
    down_left = _roll(down, 1, -1)
    return right, down, down_right, down_left


def _as_float(a):
    if isinstance(a, np.ndarray):
        return a.astype(np.float64, copy=False)
    if not a.is_floating_point():
        return a.double()
    return a


def _site_sum(a):
    return a.sum(-1).sum(-1)


def _is_scalar(c) -> bool:
    return np.ndim(c) == 0


def _count_unequal(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per configuration (last two axes), the number of sites where a and b differ."""
    lead = a.shape[:-2]
    a2 = a.reshape((-1,) + a.shape[-2:])
    b2 = b.reshape(a2.shape)
    if a2.shape[-1] * a2.shape[-2] >= 4096:  # large lattices: one fast count per configuration
        counts = np.array([np.count_nonzero(x != y) for x, y in zip(a2, b2)], dtype=np.int64)
    else:
        counts = np.count_nonzero((a2 != b2).reshape(a2.shape[0], -1), axis=1).astype(np.int64)
    return counts.reshape(lead)


def ising_energy_from_sums(Sx, Sy, Sd, Sm, Jx, Jy, J2, h):
    """THE Ising energy from the integer sums of a configuration: Sx = Σ_x-bonds s_i s_j,
    Sy = Σ_y-bonds, Sd = Σ over both diagonals, Sm = Σ_i s_i (scalar couplings, equal
    diagonals).  :func:`ising_energy`'s integer path and the multi-spin kernel's own counts
    (:func:`spinsym.models.ising.energy_from_sums`) both end here, so they agree bit for bit."""
    return -(Jx * Sx + Jy * Sy + J2 * Sd + h * Sm).astype(np.float64)


def ising_energy(s, Jx=1.0, Jy=1.0, J2=0.0, h=0.0, J2m=None):
    """Total Ising energy of configurations ``s[..., L, L]`` (spins ±1, or mean spins in [-1, 1]).

    Couplings are numbers or per-bond fields broadcastable to ``(L, L)``: the value at (y, x)
    is the bond that site owns (docs/conventions.md).  ``J2`` is the diagonal to (y+1, x+1)
    and, unless ``J2m`` is given, also the one to (y+1, x−1); ``J2m`` sets the second.

    Multilinear in the spins, so for a factorized distribution with means ``m`` the expected
    energy is ``ising_energy(m, ...)`` (used as the training loss).

    Integer numpy arrays are spins ±1: with scalar couplings (equal diagonals) the four bond
    sums are then counted exactly in integers (Σ s_i s_j = bonds − 2·unsatisfied bonds) and
    combined once; with coupling fields each bond family is one dot product of the ±1 products
    with its field.  Float arrays and torch tensors are summed site by site.
    """
    same_diagonals = J2m is None or (_is_scalar(J2m) and _is_scalar(J2) and J2m == J2)
    if isinstance(s, np.ndarray) and s.dtype.kind in "iu" and same_diagonals and all(
            _is_scalar(c) for c in (Jx, Jy, J2, h)):
        N = s.shape[-1] * s.shape[-2]
        right, down, down_right, down_left = _neighbours(s)
        Sx = N - 2 * _count_unequal(s, right)
        Sy = N - 2 * _count_unequal(s, down)
        Sd = 2 * N - 2 * (_count_unequal(s, down_right) + _count_unequal(s, down_left))
        Sm = N - 2 * _count_unequal(s, np.ones_like(s))
        return ising_energy_from_sums(Sx, Sy, Sd, Sm, Jx, Jy, J2, h)
    if isinstance(s, np.ndarray) and s.dtype.kind in "iu" and s.ndim >= 2:
        return _ising_energy_fields(s, Jx, Jy, J2, J2 if J2m is None else J2m, h)
    s = _as_float(s)
    right, down, down_right, down_left = _neighbours(s)
    diagonal = J2 * (s * (down_right + down_left)) if J2m is None else \
        J2 * (s * down_right) + J2m * (s * down_left)
    local = Jx * (s * right) + Jy * (s * down) + diagonal + h * s
    return -_site_sum(local)


def _ising_energy_fields(s, Jx, Jy, J2p, J2m, h):
    """:func:`ising_energy` of integer spins ±1 with coupling fields: each bond family is one
    dot product of the ±1 products (exact in the spins' integer type) with the coupling
    field, in chunks of configurations; families whose couplings are all zero are skipped."""
    L0, L1 = s.shape[-2:]
    lead = s.shape[:-2]
    flat = s.reshape((-1, L0, L1))
    fields = [np.ascontiguousarray(np.broadcast_to(np.asarray(c, dtype=np.float64), (L0, L1)))
              .ravel() for c in (Jx, Jy, J2p, J2m, h)]
    used = [bool(np.any(f != 0.0)) for f in fields]
    out = np.zeros(flat.shape[0])
    step = max(1, (1 << 22) // (L0 * L1))  # float64 temporaries of at most 32 MiB
    for a in range(0, flat.shape[0], step):
        c = flat[a:a + step]
        right, down, down_right, down_left = _neighbours(c)
        partners = (right, down, down_right, down_left, None)
        E = np.zeros(c.shape[0])
        for field, partner, use in zip(fields, partners, used):
            if use:
                prod = c if partner is None else c * partner
                E -= prod.reshape(c.shape[0], -1).astype(np.float64) @ field
        out[a:a + step] = E
    return out.reshape(lead)[()]


def xy_energy(theta, Jx=1.0, Jy=1.0, J2=0.0, h=0.0, J2m=None):
    """Total XY energy of angle configurations ``theta[..., L, L]`` (couplings as in
    :func:`ising_energy`: numbers or per-bond fields, ``J2m`` the second diagonal)."""
    theta = _as_float(theta)
    right, down, down_right, down_left = _neighbours(theta)
    if isinstance(theta, np.ndarray):
        cos = np.cos
    else:
        cos = type(theta).cos
    diagonal = J2 * (cos(theta - down_right) + cos(theta - down_left)) if J2m is None else \
        J2 * cos(theta - down_right) + J2m * cos(theta - down_left)
    local = Jx * cos(theta - right) + Jy * cos(theta - down) + diagonal + h * cos(theta)
    return -_site_sum(local)


def energy(model: str, config, couplings: Couplings):
    """Total energy of ``config[..., L, L]`` for a registered ``model``: the model's own
    definition (:func:`ising_energy`, :func:`xy_energy`, or a registered model's)."""
    from . import models

    return models.get(model).energy(config, couplings)


def energy_per_site(model: str, config, couplings: Couplings):
    L = config.shape[-1]
    return energy(model, config, couplings) / (L * L)
