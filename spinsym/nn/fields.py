"""How the Ising couplings enter the networks, and the group G = p4m(torus) × Z2 acting on fields.

Group
-----
G = T ⋊ D4 × Z2 on the L × L torus is the one group object of :mod:`spinsym.symmetry`
(elements ``g = (ty, tx, d, z)``, D4 acting about the site (0, 0), escnn's element order);
:class:`TorusGroup` here only keeps its index tables as torch tensors.  A field of escnn type ρ
transforms as

    (g·f)(p) = (−1)^(z·odd) ρ(d) f(R_d⁻¹ (p − t)),

which is exactly how escnn's own ``GeometricTensor.transform`` moves pixels (``np.rot90`` about
the array centre; the two differ by a translation, also a symmetry of the torus).

Input fields
------------
A bond coupling sits on a bond centre, half a lattice spacing from a site, so it is not a
site field under a site-centred D4.  We feed the exact site-centred combinations

    a = Jx(y, x) + Jx(y, x−1),  b = Jy(y, x) + Jy(y−1, x),
    s = (a + b)/2  (trivial),  δ = (a − b)/2  (escnn irrep_0,2: −1 under 90°, +1 under the
    axis mirror, so −1 under the diagonal mirrors: a 90° rotation swaps Jx and Jy),
    d = sum of the four diagonal bonds touching the site (trivial),
    h (trivial under p4m, odd under the spin flip).

For constant couplings nothing is lost (s = Jx + Jy, δ = Jx − Jy, d = 4 J2).  Per-site
(inhomogeneous) couplings go through the same network.  The energy always comes from
:func:`spinsym.hamiltonians.ising_energy` with the original bond fields.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import torch

from .. import symmetry
from ..errors import ParameterError

EVEN_CHANNELS = 3  # s, δ, d
ODD_CHANNELS = 1   # h


def escnn():
    """Import escnn with its py3nj warning silenced (py3nj is only used for SO(3))."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*py3nj.*")
        import escnn as _escnn  # noqa: F401
        import escnn.gspaces  # noqa: F401
        import escnn.nn  # noqa: F401
    return _escnn


@functools.lru_cache(maxsize=None)
def gspace():
    """The escnn gspace flipRot2dOnR2(4) (D4 acting on the plane), shared by every module."""
    return escnn().gspaces.flipRot2dOnR2(4)


def d4_elements():
    """escnn's D4 elements, in the order of :class:`spinsym.symmetry.PointGroup` indices."""
    return list(gspace().fibergroup.elements)


def point_group() -> symmetry.PointGroup:
    """The point group of :func:`gspace` as a :class:`spinsym.symmetry.PointGroup` (D4)."""
    return symmetry.point_group("D4")


def d4_tables():
    """(mul, inv, rot_k, flip) of D4 in escnn's element order (the tables of
    :func:`point_group`; the tests check them against escnn's own composition)."""
    P = point_group()
    return P.mul, P.inv, P.rot, P.flip


def input_types(n_odd_regular: int = 0, n_odd_trivial: int = 0):
    """escnn field types (even part, odd part) of the network input.

    Even: s (trivial), δ (irrep_0,2), d (trivial).  Odd: h (trivial), then ``n_odd_trivial``
    trivial channels and ``n_odd_regular`` regular fields (the positional encoding g̃·v).
    """
    gs = gspace()
    enn = escnn().nn
    G = gs.fibergroup
    even = enn.FieldType(gs, [gs.trivial_repr, G.irrep(0, 2), gs.trivial_repr])
    odd = enn.FieldType(gs, [gs.trivial_repr] * (1 + n_odd_trivial)
                        + [gs.regular_repr] * n_odd_regular)
    return even, odd


def fiber_matrices(field_type) -> torch.Tensor:
    """ρ(d) for the D4 elements, stacked: (|D4|, C, C) float64."""
    return torch.tensor(np.stack([field_type.fiber_representation(e) for e in d4_elements()]),
                        dtype=torch.float64)


# ---------------------------------------------------------------------------------------------
# inputs


def bond_fields(params, L: int, dtype=torch.float32, device="cpu") -> torch.Tensor:
    """Constant couplings ``params`` (n, 4) = (Jx, Jy, J2, h) as bond fields (n, 4, L, L)."""
    p = torch.as_tensor(np.asarray(params, dtype=np.float64), dtype=dtype, device=device)
    if p.ndim != 2 or p.shape[1] != 4:
        raise ParameterError(f"params must have shape (n, 4), got {tuple(p.shape)}")
    return p[:, :, None, None].expand(-1, -1, L, L).contiguous()


def site_fields(bonds: torch.Tensor) -> torch.Tensor:
    """Bond fields (..., 4, L, L) = (Jx, Jy, J2, h), in the ``ising_energy`` convention (a bond
    value sits on the site that owns it), to the site fields (..., 4, L, L) = (s, δ, d, h)."""
    Jx, Jy, J2, h = bonds.unbind(-3)
    a = Jx + Jx.roll(1, -1)
    b = Jy + Jy.roll(1, -2)
    d = 2 * J2 + J2.roll((1, 1), (-2, -1)) + J2.roll((1, -1), (-2, -1))
    return torch.stack([(a + b) / 2, (a - b) / 2, d, h], dim=-3)


def normalize(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Divide each sample by one G-invariant scale (mean |x| over sites and channels): the
    ground state does not change when H is multiplied by a positive number."""
    scale = x.abs().mean(dim=(-3, -2, -1), keepdim=True)
    return x / (scale + eps)


# ---------------------------------------------------------------------------------------------
# the group acting on arrays


class TorusGroup(symmetry.TorusGroup):
    """:class:`spinsym.symmetry.TorusGroup` (the one group object) with its index tables as torch
    tensors, for the networks: ``x[..., C, L, L]`` fields of given escnn types."""

    @functools.cached_property
    def _src(self) -> torch.Tensor:
        return torch.tensor(self.src).reshape(len(self.point_group), self.L, self.L)

    def spatial(self, a, d: int):
        """Move the sites of ``a[..., L, L]`` by R_d about site (0, 0)."""
        if d == 0 or not isinstance(a, torch.Tensor):
            return super().spatial(a, d)
        flat = a.reshape(a.shape[:-2] + (self.L * self.L,))
        idx = self._src[d].to(a.device).reshape(-1)
        return flat.index_select(-1, idx).reshape(a.shape)

    @functools.cached_property
    def left_mult_index(self) -> torch.Tensor:
        """Table (n_local, n_local): index of (d_s, z_s)·(d, z) in the (d, z) layout."""
        return torch.as_tensor(self.left_mult_table())

    def left_perm(self, s) -> torch.Tensor:
        """Index vector P with P[g] = index(s·g) over all |G| elements (for logits ℓ(s·g))."""
        return torch.as_tensor(super().left_perm(s), dtype=torch.long)


def transform_bonds(group: TorusGroup, g, bonds: torch.Tensor) -> torch.Tensor:
    """g acting on bond fields (..., 4, L, L) = (Jx, Jy, J2, h) with J2 *constant* (the per-site
    J2 convention of ``ising_energy`` ties both diagonals of a site together, which a mirror
    does not preserve): Jx, Jy move by :meth:`spinsym.symmetry.TorusGroup.act_bonds`, h as an
    odd site field.  Used by tests: ising_energy(g·s, g·J) = ising_energy(s, J)."""
    Jx, Jy, J2, h = bonds.unbind(-3)
    nn_bonds = group.act_bonds(g, torch.stack([Jx, Jy], -3))
    h2 = group.act(g, h)
    J2 = J2.roll((int(g[0]), int(g[1])), (-2, -1))
    return torch.stack([nn_bonds[..., 0, :, :], nn_bonds[..., 1, :, :], J2, h2], dim=-3)


def equivariance_error(fn, x: torch.Tensor, group: TorusGroup, elements, rho_in=None,
                       odd_in=None, rho_out=None, odd_out=None) -> float:
    """max over ``elements`` of |fn(g·x) − g·fn(x)|: :func:`spinsym.symmetry.equivariance_error`.

    ``fn`` maps (B, C, L, L) → (B, C', L, L) (or (B, L, L): a scalar, spin-odd output)."""
    return symmetry.equivariance_error(fn, x, group, elements, rho_in, odd_in, rho_out, odd_out)
