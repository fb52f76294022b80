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
Couplings arrive as bond fields ``bonds[..., 5, L, L]`` = (Jx, Jy, J2p, J2m, h) in the
per-bond convention of :mod:`spinsym.couplings` (site (y, x) owns Jx to (y, x+1), Jy to
(y+1, x), J2p to (y+1, x+1), J2m to (y+1, x−1) and h[y, x]).

``encoding="bonds"`` (the default, :func:`bond_input`): each site gets the couplings of its
eight bonds, owned and received, lifted to two D4-*regular* fields: channel k of the first is
the coupling of the bond from the site in direction R_k·(0, 1), channel k of the second the one
in direction R_k·(1, 1) (k the D4 element in escnn's order).  A bond moved by g lands exactly
where the regular representation puts it, so the encoding is exactly equivariant under
p4m × Z2 acting on bonds (:meth:`spinsym.symmetry.TorusGroup.act_bonds`; h odd under the flip),
and injective: channel 0 at (y, x) is Jx[y, x], and the directions (1, 0), (1, 1), (1, −1) read
Jy, J2p and J2m at the site itself.  A rotation maps x-bonds to y-bonds and swaps the
diagonals; a mirror keeps x and y and swaps the diagonals: both are channel permutations here.

``encoding="sites"`` (checkpoints written before per-bond input; :func:`site_fields`): the
site-centred sums s = (a + b)/2, δ = (a − b)/2 (irrep_0,2), d (sum of the four diagonal
bonds at the site), h, with a = Jx(y, x) + Jx(y, x−1), b = Jy(y, x) + Jy(y−1, x).  Exact for
homogeneous couplings but not injective for per-site ones (a dimerized Jx = ±2 gives the
input of Jx = 0).

The energy always comes from :func:`spinsym.hamiltonians.ising_energy` with the bond fields.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import torch

from .. import symmetry
from ..errors import ParameterError

EVEN_CHANNELS = 3  # s, δ, d (legacy "sites" encoding)
ODD_CHANNELS = 1   # h
ENCODINGS = ("bonds", "sites")
#: number of bond channels: Jx, Jy, J2p, J2m, h
BOND_CHANNELS = 5


def even_channels(encoding: str = "bonds") -> int:
    """Spin-flip-even input channels of an encoding (16: two regular fields; 3: s, δ, d)."""
    return 16 if encoding == "bonds" else EVEN_CHANNELS


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


def input_types(n_odd_regular: int = 0, n_odd_trivial: int = 0, encoding: str = "bonds"):
    """escnn field types (even part, odd part) of the network input.

    Even: two regular fields (``encoding="bonds"``: nearest and diagonal bonds, see
    :func:`bond_input`) or s (trivial), δ (irrep_0,2), d (trivial) (``"sites"``).  Odd: h
    (trivial), then ``n_odd_trivial`` trivial channels and ``n_odd_regular`` regular fields (the
    positional encoding g̃·v).
    """
    if encoding not in ENCODINGS:
        raise ParameterError(f"unknown input encoding {encoding!r}; choose one of "
                             f"{', '.join(ENCODINGS)}")
    gs = gspace()
    enn = escnn().nn
    G = gs.fibergroup
    if encoding == "bonds":
        even = enn.FieldType(gs, [gs.regular_repr] * 2)
    else:
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
    """Constant couplings ``params`` (n, 4) = (Jx, Jy, J2, h) as bond fields (n, 5, L, L) =
    (Jx, Jy, J2p, J2m, h), J2 on both diagonals."""
    p = torch.as_tensor(np.asarray(params, dtype=np.float64), dtype=dtype, device=device)
    if p.ndim != 2 or p.shape[1] != 4:
        raise ParameterError(f"params must have shape (n, 4), got {tuple(p.shape)}")
    p = p[:, [0, 1, 2, 2, 3]]
    return p[:, :, None, None].expand(-1, -1, L, L).contiguous()


def _bond_parts(bonds: torch.Tensor):
    if bonds.shape[-3] == 4:  # (Jx, Jy, J2, h): one J2 per site for both diagonals
        Jx, Jy, J2, h = bonds.unbind(-3)
        return Jx, Jy, J2, J2, h
    if bonds.shape[-3] != BOND_CHANNELS:
        raise ParameterError(f"bond fields need 5 channels (Jx, Jy, J2p, J2m, h), got "
                             f"{bonds.shape[-3]}")
    return bonds.unbind(-3)


@functools.lru_cache(maxsize=None)
def _lift_table():
    """For each D4 element k (escnn order) and each of the two lifts (nearest, diagonal): the
    bond type b and the roll (sy, sx) with value(site) = roll(J_b, (sy, sx))[site]."""
    P = point_group()
    out = []
    for base in ((0, 1), (1, 1)):
        row = []
        for k in range(P.order):
            ey, ex = P.rotate_vec(k, *base)
            for b, (fy, fx) in enumerate(symmetry.BOND_VECTORS):
                if (ey, ex) == (fy, fx):  # the site owns it
                    row.append((b, (0, 0)))
                    break
                if (ey, ex) == (-fy, -fx):  # owned by the partner p + e: J_b[p + e]
                    row.append((b, (-ey, -ex)))
                    break
        out.append(tuple(row))
    return tuple(out)


def bond_input(bonds: torch.Tensor) -> torch.Tensor:
    """Bond fields (..., 5, L, L) = (Jx, Jy, J2p, J2m, h) → the injective, exactly equivariant
    site fields (..., 17, L, L): two D4-regular fields (nearest / diagonal bonds of each site
    in the directions R_k·(0, 1) and R_k·(1, 1)), then h (odd).  See the module docstring."""
    parts = _bond_parts(bonds)
    chans = []
    for row in _lift_table():
        for b, shift in row:
            a = parts[b]
            chans.append(a if shift == (0, 0) else a.roll(shift, (-2, -1)))
    chans.append(parts[4])
    return torch.stack(chans, dim=-3)


def site_fields(bonds: torch.Tensor) -> torch.Tensor:
    """Bond fields (..., 5, L, L) = (Jx, Jy, J2p, J2m, h) (or the older (..., 4, L, L) with one
    J2 for both diagonals), in the ``ising_energy`` convention, to the legacy site fields
    (..., 4, L, L) = (s, δ, d, h)."""
    Jx, Jy, J2p, J2m, h = _bond_parts(bonds)
    a = Jx + Jx.roll(1, -1)
    b = Jy + Jy.roll(1, -2)
    d = J2p + J2m + J2p.roll((1, 1), (-2, -1)) + J2m.roll((1, -1), (-2, -1))
    return torch.stack([(a + b) / 2, (a - b) / 2, d, h], dim=-3)


def encode(bonds: torch.Tensor, encoding: str = "bonds") -> torch.Tensor:
    """The network input of bond fields in the given encoding."""
    return bond_input(bonds) if encoding == "bonds" else site_fields(bonds)


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


def transform_bonds(group: TorusGroup, g, bonds):
    """g acting on bond fields (..., 5, L, L) = (Jx, Jy, J2p, J2m, h) (numpy or torch): the four
    bond channels move by :meth:`spinsym.symmetry.TorusGroup.act_bonds` (a quarter turn maps
    x-bonds to y-bonds and swaps the diagonals), h as an odd site field.  The older
    (..., 4, L, L) = (Jx, Jy, J2, h) form needs a *constant* J2 (one J2 per site ties both
    diagonals together, which a mirror does not preserve)."""
    if bonds.shape[-3] == BOND_CHANNELS:
        moved = group.act_bonds(g, bonds[..., :4, :, :])
        h2 = group.act(g, bonds[..., 4, :, :])
        return symmetry._stack([moved[..., i, :, :] for i in range(4)] + [h2], -3)
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
