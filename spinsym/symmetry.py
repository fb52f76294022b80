"""The symmetry group of the L × L torus: translations × point group × spin flip.

One group object, :class:`TorusGroup`, used by the physics half (numpy) and, through thin
adapters in :mod:`spinsym.nn.fields`, by the networks (torch).  This module imports neither
torch nor escnn: every action takes numpy arrays *or* torch tensors (anything with the numpy /
torch array interface), chosen by the type of the argument.

Elements
--------
``g = (ty, tx, d, z)``: a translation ``(ty, tx)`` (mod L), a point-group element ``d`` and a
spin flip ``z`` ∈ {0, 1}.  The point group is D4 (default) or its rotation subgroup C4 (p4,
for ablations).  Its elements are numbered as escnn's ``dihedral_group(4)`` /
``cyclic_group(4)`` (the order of ``gspace.fibergroup.elements``): ``d = 4·f + k`` means the
mirror x → −x if f = 1, then k quarter turns (dy, dx) → (−dx, dy) (counter-clockwise for an
array drawn with y down, like ``np.rot90``).  C4 is d = 0..3, the same indices.

The point group acts *about the site (0, 0)*, so the group law is
``g1 g2 = (t1 + R_d1 t2, d1 d2, z1 ⊕ z2)`` and a site field moves as

    (g·a)(p) = (−1)^(z·odd) a(R_d⁻¹ (p − t)).

The flat index of an element (the layout of the SymPE logits and of saved checkpoints, never
to be reordered) is ``((ty·L + tx)·|P| + d)·|Z| + z`` with |P| = ``len(point_group)`` and
|Z| = 2.

Bond fields
-----------
A bond field has one channel per bond type, ``BOND_TYPES`` = x, y, d+, d−: site (y, x) owns
the bond to (y, x) + e with e = (0, 1), (1, 0), (1, 1), (1, −1), the convention of
:func:`spinsym.hamiltonians.ising_energy` (docs/conventions.md).  Under g the bond (p, p + e)
goes to (R p + t, R p + t + R e).  R e = ±e' for one bond type e': the new owner is R p + t
(sign +) or R p + t − e' (sign −).  So a quarter turn maps x-bonds to y-bonds at shifted sites
and swaps the two diagonals; a mirror keeps x and y and swaps the diagonals.  The tests check
E(g·s; g·J) = E(s; J) for random per-bond couplings.
"""

from __future__ import annotations

import contextlib
import functools
import sys

import numpy as np

from .errors import ParameterError

POINT_GROUPS = ("D4", "C4")
#: bond types, each the displacement (dy, dx) from the owning site to its partner
BOND_TYPES = ("x", "y", "d+", "d-")
BOND_VECTORS = ((0, 1), (1, 0), (1, 1), (1, -1))
#: size of the internal (spin-flip) factor
N_FLIP = 2


# ---------------------------------------------------------------------------------------------
# numpy / torch without importing torch


def _is_numpy(a) -> bool:
    return isinstance(a, np.ndarray) or np.isscalar(a)


def _torch():
    return sys.modules["torch"]  # only reached with a torch tensor in hand


def _roll(a, shift, axes):
    if _is_numpy(a):
        return np.roll(a, shift, axis=axes)
    return a.roll(shift, axes)


def _stack(arrays, axis):
    if _is_numpy(arrays[0]):
        return np.stack(arrays, axis=axis)
    return _torch().stack(arrays, dim=axis)


# ---------------------------------------------------------------------------------------------
# the point group


class PointGroup:
    """D4 or C4 acting on lattice displacements (dy, dx) about a site, in escnn's element order.

    ``mul[a, b]`` is the index of a·b, ``inv[a]`` of a⁻¹; ``flip[d]``, ``rot[d]`` the mirror bit
    and the number of quarter turns of d."""

    def __init__(self, name: str = "D4"):
        if name not in POINT_GROUPS:
            raise ParameterError(f"unknown point group {name!r}; choose one of "
                                 f"{', '.join(POINT_GROUPS)}")
        self.name = name
        flips = (0, 1) if name == "D4" else (0,)
        self.flip = np.array([f for f in flips for _ in range(4)], dtype=np.int64)
        self.rot = np.array([k for _ in flips for k in range(4)], dtype=np.int64)
        n = len(self.flip)
        # (f1, k1)(f2, k2) = (f1 ⊕ f2, k1 + (−1)^f1 k2): R^k1 M^f1 R^k2 M^f2 = R^(k1 ± k2) M^(f1 ⊕ f2)
        self.mul = np.empty((n, n), dtype=np.int64)
        for a in range(n):
            for b in range(n):
                f = self.flip[a] ^ self.flip[b]
                k = (self.rot[a] + (-1) ** self.flip[a] * self.rot[b]) % 4
                self.mul[a, b] = 4 * f + k
        self.inv = np.array([int(np.flatnonzero(self.mul[a] == 0)[0]) for a in range(n)],
                            dtype=np.int64)
        for t in (self.flip, self.rot, self.mul, self.inv):
            t.setflags(write=False)

    @property
    def order(self) -> int:
        return len(self.flip)

    def __len__(self) -> int:
        return self.order

    def __repr__(self) -> str:
        return f"PointGroup({self.name!r})"

    def rotate_vec(self, d, dy, dx):
        """R_d applied to displacements (dy, dx) (ints or integer arrays): mirror x → −x first
        (if any), then the quarter turns (dy, dx) → (−dx, dy)."""
        d = int(d)
        if self.flip[d]:
            dx = -dx
        for _ in range(int(self.rot[d])):
            dy, dx = -dx, dy
        return dy, dx

    def swaps_axes(self, d) -> bool:
        """Whether d maps the x axis onto the y axis (then Jx and Jy swap)."""
        return self.rotate_vec(d, 0, 1)[0] != 0

    @functools.cached_property
    def bond_maps(self) -> tuple:
        """For each d and output bond type b': (input type b, shift (sy, sx)) with
        (g·J)_b' = translate(R_d-moved J_b, t + shift)."""
        out = []
        for d in range(self.order):
            row = [None] * len(BOND_VECTORS)
            for b, (ey, ex) in enumerate(BOND_VECTORS):
                ry, rx = self.rotate_vec(d, ey, ex)
                for b2, (fy, fx) in enumerate(BOND_VECTORS):
                    if (ry, rx) == (fy, fx):
                        row[b2] = (b, (0, 0))
                    elif (ry, rx) == (-fy, -fx):
                        row[b2] = (b, (-fy, -fx))
            out.append(tuple(row))
        return tuple(out)


@functools.lru_cache(maxsize=None)
def point_group(name: str = "D4") -> PointGroup:
    """The shared :class:`PointGroup` of that name."""
    return PointGroup(name)


# ---------------------------------------------------------------------------------------------
# the torus group


class TorusGroup:
    """G = T_L ⋊ P × Z2 (P = D4 or C4) acting on fields ``a[..., L, L]`` (see the module
    docstring).  Index tables are numpy; actions accept numpy arrays and torch tensors."""

    def __init__(self, L: int, point: str = "D4"):
        from .lattice import check_size

        self.L = check_size(L)
        self.point_group = point_group(point)
        P = self.point_group
        self.mul, self.inv, self.rot, self.flip = P.mul, P.inv, P.rot, P.flip
        L = self.L
        # spatial index maps: out[p] = in[src[d, p]] with src_d = R_d⁻¹ p (about site 0)
        yy, xx = np.indices((L, L))
        src = np.empty((len(P), L * L), dtype=np.int64)
        for d in range(len(P)):
            sy, sx = P.rotate_vec(P.inv[d], yy, xx)
            src[d] = ((sy % L) * L + (sx % L)).reshape(-1)
        src.setflags(write=False)
        self.src = src

    def __repr__(self) -> str:
        return f"TorusGroup(L={self.L}, point={self.point_group.name!r})"

    # -- size and indexing -------------------------------------------------------------------
    @property
    def n_local(self) -> int:
        """|P|·|Z2|: the elements that fix site (0, 0); the fastest-varying part of an index."""
        return len(self.point_group) * N_FLIP

    @property
    def order(self) -> int:
        return self.L * self.L * self.n_local

    def __len__(self) -> int:
        return self.order

    def index(self, g) -> int:
        ty, tx, d, z = (int(v) for v in g)
        return ((ty * self.L + tx) * len(self.point_group) + d) * N_FLIP + z

    def element(self, i: int) -> tuple:
        return tuple(int(v) for v in self.decompose(int(i)))

    def decompose(self, i):
        """Flat indices (an int or an integer numpy / torch array) to (ty, tx, d, z)."""
        z = i % N_FLIP
        d = (i // N_FLIP) % len(self.point_group)
        t = i // self.n_local
        return t // self.L, t % self.L, d, z

    def elements(self):
        """All elements, in index order."""
        return [self.element(i) for i in range(self.order)]

    def random_element(self, rng: np.random.Generator) -> tuple:
        return (int(rng.integers(self.L)), int(rng.integers(self.L)),
                int(rng.integers(len(self.point_group))), int(rng.integers(N_FLIP)))

    # -- the group law -----------------------------------------------------------------------
    def rotate_vec(self, d, dy, dx):
        """R_d applied to a displacement (see :meth:`PointGroup.rotate_vec`)."""
        return self.point_group.rotate_vec(d, dy, dx)

    def compose(self, g1, g2) -> tuple:
        ty1, tx1, d1, z1 = (int(v) for v in g1)
        ty2, tx2, d2, z2 = (int(v) for v in g2)
        ry, rx = self.rotate_vec(d1, ty2, tx2)
        return ((ty1 + ry) % self.L, (tx1 + rx) % self.L, int(self.mul[d1, d2]), z1 ^ z2)

    def inverse(self, g) -> tuple:
        ty, tx, d, z = (int(v) for v in g)
        di = int(self.inv[d])
        ry, rx = self.rotate_vec(di, -ty, -tx)
        return (ry % self.L, rx % self.L, di, z)

    def left_mult_table(self) -> np.ndarray:
        """(n_local, n_local): index of (d_s, z_s)·(d, z) in the (d, z) layout (translations
        apart)."""
        n = N_FLIP
        out = np.empty((self.n_local, self.n_local), dtype=np.int64)
        for ds in range(len(self.point_group)):
            for zs in range(n):
                for d in range(len(self.point_group)):
                    for z in range(n):
                        out[ds * n + zs, d * n + z] = self.mul[ds, d] * n + (zs ^ z)
        return out

    def left_perm(self, s) -> np.ndarray:
        """Index vector P with P[index(g)] = index(s·g) over all |G| elements."""
        L = self.L
        ty, tx, d, z = np.meshgrid(np.arange(L), np.arange(L), np.arange(len(self.point_group)),
                                   np.arange(N_FLIP), indexing="ij")
        sty, stx, sd, sz = (int(v) for v in s)
        ry, rx = self.rotate_vec(sd, ty, tx)
        nty, ntx = (sty + ry) % L, (stx + rx) % L
        nd = self.mul[sd][d]
        nz = z ^ sz
        idx = ((nty * L + ntx) * len(self.point_group) + nd) * N_FLIP + nz
        return idx.reshape(-1)

    # -- actions -----------------------------------------------------------------------------
    def spatial(self, a, d: int):
        """Move the sites of ``a[..., L, L]`` by R_d about site (0, 0)."""
        if d == 0:
            return a
        shape = a.shape
        flat = a.reshape(tuple(shape[:-2]) + (self.L * self.L,))
        if _is_numpy(a):
            return flat[..., self.src[d]].reshape(shape)
        idx = _torch().tensor(self.src[d], device=a.device)
        return flat.index_select(-1, idx).reshape(shape)

    def act(self, g, a, rho=None, odd=None):
        """g·a for one element ``g = (ty, tx, d, z)`` on ``a[..., C, L, L]`` (or ``a[..., L, L]``
        with ``rho`` None).  ``rho``: (|P|, C, C) matrices of the channels' representation (None:
        trivial); ``odd``: bool mask (C,) of the spin-flip-odd channels, True / False for all
        (None: all odd, as for spins)."""
        ty, tx, d, z = (int(v) for v in g)
        y = self.spatial(a, d)
        if rho is not None:
            if _is_numpy(a):
                y = np.einsum("ij,...jyx->...iyx", np.asarray(rho[d], dtype=a.dtype), y)
            else:
                R = rho[d].to(dtype=a.dtype, device=a.device)
                y = _torch().einsum("ij,...jyx->...iyx", R, y)
        if z:
            if odd is None or odd is True:
                y = -y
            elif odd is not False:
                if _is_numpy(a):
                    sign = np.where(np.asarray(odd), -1.0, 1.0).astype(a.dtype)
                else:
                    sign = _torch().where(odd, -1.0, 1.0).to(dtype=a.dtype, device=a.device)
                y = y * sign[:, None, None]
        return _roll(y, (ty, tx), (-2, -1))

    def act_bonds(self, g, bonds):
        """g acting on bond fields ``bonds[..., n, L, L]`` with n = 4 channels (J_x, J_y, J_d+,
        J_d−) or n = 2 (J_x, J_y); even under the spin flip.  See the module docstring."""
        n = bonds.shape[-3]
        if n not in (2, 4):
            raise ParameterError(f"bond fields need 2 or 4 channels, got {n}")
        ty, tx, d, _ = (int(v) for v in g)
        maps = self.point_group.bond_maps[d][:n]
        out = []
        for b, (sy, sx) in maps:
            moved = self.spatial(bonds[..., b, :, :], d)
            out.append(_roll(moved, ((ty + sy) % self.L, (tx + sx) % self.L), (-2, -1)))
        return _stack(out, -3)

    def act_couplings(self, g, couplings):
        """g acting on homogeneous :class:`spinsym.hamiltonians.Couplings` (Jx ↔ Jy when d swaps
        the axes, h → −h under the flip; a scalar J2 sets both diagonals, which d permutes)."""
        c = couplings
        if self.point_group.swaps_axes(int(g[2])):
            c = c.rotated90()
        return c.spin_flipped() if int(g[3]) else c

    def centred(self, d: int) -> tuple:
        """The element that applies R_d about the *array centre* ((L−1)/2, (L−1)/2), i.e. what
        ``np.rot90`` / ``np.flip`` do: R_d about site 0, then the translation c − R_d c."""
        c2 = self.L - 1  # 2c, an integer
        ry, rx = self.rotate_vec(d, c2, c2)
        return (((c2 - ry) // 2) % self.L, ((c2 - rx) // 2) % self.L, int(d), 0)


@functools.lru_cache(maxsize=32)
def torus_group(L: int, point: str = "D4") -> TorusGroup:
    """The shared :class:`TorusGroup` of that size and point group (cached)."""
    return TorusGroup(L, point)


# ---------------------------------------------------------------------------------------------
# equivariance checks


def _errors(fn, x, group, elements, rho_in, odd_in, rho_out, odd_out) -> list:
    ctx = contextlib.nullcontext() if _is_numpy(x) else _torch().no_grad()
    with ctx:
        y = fn(x)
        return [float(abs(fn(group.act(g, x, rho_in, odd_in))
                          - group.act(g, y, rho_out, odd_out)).max()) for g in elements]


def equivariance_error(fn, x, group: TorusGroup, elements, rho_in=None, odd_in=None,
                       rho_out=None, odd_out=None) -> float:
    """max over ``elements`` of |fn(g·x) − g·fn(x)| (numpy arrays or torch tensors; torch runs
    without gradients).  ``rho_*`` / ``odd_*`` as in :meth:`TorusGroup.act`."""
    return max(_errors(fn, x, group, elements, rho_in, odd_in, rho_out, odd_out), default=0.0)


def generators(group: TorusGroup) -> list:
    """One generator of each factor: a unit translation along y and x, a quarter turn, the
    mirror (D4 only) and the spin flip."""
    out = [(1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0)]
    if len(group.point_group) > 4:
        out.append((0, 0, 4, 0))
    return out + [(0, 0, 0, 1)]


def assert_equivariant(fn, x, group: TorusGroup, *, rho_in=None, odd_in=None, rho_out=None,
                       odd_out=None, n: int = 8, rng=None, atol: float = 1e-5,
                       elements=None) -> float:
    """Assert fn(g·x) == g·fn(x) to ``atol`` for the generators of ``group`` and ``n`` random
    elements drawn from ``rng`` (default ``numpy.random.default_rng(0)``), or for the given
    ``elements``.  Returns the largest deviation.  The equivariance test helper of the tests."""
    if elements is None:
        rng = np.random.default_rng(0) if rng is None else rng
        elements = generators(group) + [group.random_element(rng) for _ in range(n)]
    errors = _errors(fn, x, group, elements, rho_in, odd_in, rho_out, odd_out)
    i = int(np.argmax(errors)) if errors else 0
    worst, where = (errors[i], elements[i]) if errors else (0.0, None)
    if not worst <= atol:
        raise AssertionError(f"not equivariant: |f(g·x) − g·f(x)| = {worst:.3g} > {atol:.3g} "
                             f"at g = {where}")
    return worst
