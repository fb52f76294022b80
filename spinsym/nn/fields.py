"""How the Ising couplings enter the networks, and the group G = p4m(torus) × Z2 acting on fields.

Group
-----
G = T ⋊ D4 × Z2 on the L × L torus.  An element is ``g = (ty, tx, d, z)``: a translation
``(ty, tx)`` (mod L), a D4 element with escnn index ``d`` (``d = 4·f + k``: optional mirror
x → −x, then k quarter turns, the order of ``gspace.fibergroup.elements``) and a spin flip
``z`` ∈ {0, 1}.  D4 acts on the sites *about the site (0, 0)* (so site positions and
translations are the same thing), and a field of escnn type ρ transforms as

    (g·f)(p) = (−1)^(z·odd) ρ(d) f(R_d⁻¹ (p − t)),

which is exactly how escnn's own ``GeometricTensor.transform`` moves pixels (``np.rot90`` about
the array centre; the two differ by a translation, also a symmetry of the torus).  Because D4
acts about a site, the group law is ``g1 g2 = (t1 + R_d1 t2, d1 d2, z1 ⊕ z2)``.

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

from ..errors import ParameterError

N_D4 = 8
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
    return list(gspace().fibergroup.elements)


@functools.lru_cache(maxsize=None)
def d4_tables():
    """(mul[8, 8], inv[8], rot_k[8], flip[8]) in escnn's element order."""
    els = d4_elements()
    index = {e: i for i, e in enumerate(els)}
    mul = np.array([[index[a @ b] for b in els] for a in els], dtype=np.int64)
    inv = np.array([index[~a] for a in els], dtype=np.int64)
    params = [e.to("int") for e in els]
    flip = np.array([p[0] for p in params], dtype=np.int64)
    rot = np.array([p[1] for p in params], dtype=np.int64)
    return mul, inv, rot, flip


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
    """ρ(d) for the 8 D4 elements, stacked: (8, C, C) float64."""
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


class TorusGroup:
    """G = T_L ⋊ D4 × Z2 acting on torch fields ``x[..., C, L, L]`` of given escnn types."""

    def __init__(self, L: int):
        self.L = int(L)
        self.mul, self.inv, self.rot, self.flip = d4_tables()
        L = self.L
        # spatial index maps: out[p] = in[src_d[p]] with src_d = R_d⁻¹ p (about site 0)
        yy, xx = np.indices((L, L))
        self._src = []
        for d in range(N_D4):
            dinv = self.inv[d]
            sy, sx = self.rotate_vec(dinv, yy, xx)
            self._src.append((sy % L) * L + (sx % L))
        self._src = torch.tensor(np.stack(self._src), dtype=torch.long)  # (8, L, L)

    @property
    def order(self) -> int:
        return self.L * self.L * N_D4 * 2

    def rotate_vec(self, d, dy, dx):
        """R_d applied to a displacement (dy, dx): mirror x → −x first (if any), then k quarter
        turns (dy, dx) → (−dx, dy) (escnn's counter-clockwise turn of an array drawn with
        y down, ``np.rot90``)."""
        d = int(d)
        if self.flip[d]:
            dx = -dx
        for _ in range(int(self.rot[d])):
            dy, dx = -dx, dy
        return dy, dx

    def spatial(self, a: torch.Tensor, d: int) -> torch.Tensor:
        """Move the sites of ``a[..., L, L]`` by R_d about site (0, 0)."""
        if d == 0:
            return a
        flat = a.reshape(a.shape[:-2] + (self.L * self.L,))
        idx = self._src[d].to(a.device).reshape(-1)
        return flat.index_select(-1, idx).reshape(a.shape)

    def act(self, g, x: torch.Tensor, rho: torch.Tensor | None = None,
            odd: torch.Tensor | None = None) -> torch.Tensor:
        """g·x for one element ``g = (ty, tx, d, z)``; ``rho`` (8, C, C) the fiber matrices of
        the channels (None: trivial), ``odd`` a bool mask of Z2-odd channels (None: all odd)."""
        ty, tx, d, z = (int(v) for v in g)
        y = self.spatial(x, d)
        if rho is not None:
            R = rho[d].to(dtype=x.dtype, device=x.device)
            y = torch.einsum("ij,...jyx->...iyx", R, y)
        if z:
            if odd is None:
                y = -y
            else:
                sign = torch.where(odd, -1.0, 1.0).to(dtype=x.dtype, device=x.device)
                y = y * sign[:, None, None]
        return y.roll((ty, tx), (-2, -1))

    def compose(self, g1, g2):
        ty1, tx1, d1, z1 = (int(v) for v in g1)
        ty2, tx2, d2, z2 = (int(v) for v in g2)
        ry, rx = self.rotate_vec(d1, ty2, tx2)
        return ((ty1 + ry) % self.L, (tx1 + rx) % self.L, int(self.mul[d1, d2]), z1 ^ z2)

    def inverse(self, g):
        ty, tx, d, z = (int(v) for v in g)
        di = int(self.inv[d])
        ry, rx = self.rotate_vec(di, -ty, -tx)
        return (ry % self.L, rx % self.L, di, z)

    def index(self, g) -> int:
        ty, tx, d, z = (int(v) for v in g)
        return ((ty * self.L + tx) * N_D4 + d) * 2 + z

    def element(self, i: int):
        i = int(i)
        z = i % 2
        i //= 2
        d = i % N_D4
        i //= N_D4
        return (i // self.L, i % self.L, d, z)

    def random_element(self, rng: np.random.Generator):
        return (int(rng.integers(self.L)), int(rng.integers(self.L)),
                int(rng.integers(N_D4)), int(rng.integers(2)))

    @functools.cached_property
    def left_mult_index(self) -> torch.Tensor:
        """Table (16, 16): index of (d_s, z_s)·(d, z) in the (d, z) layout (translations apart)."""
        out = np.empty((16, 16), dtype=np.int64)
        for ds in range(N_D4):
            for zs in range(2):
                for d in range(N_D4):
                    for z in range(2):
                        out[ds * 2 + zs, d * 2 + z] = self.mul[ds, d] * 2 + (zs ^ z)
        return torch.tensor(out)

    def left_perm(self, s) -> torch.Tensor:
        """Index vector P with P[g] = index(s·g) over all |G| elements (for logits ℓ(s·g))."""
        L = self.L
        ty, tx, d, z = np.meshgrid(np.arange(L), np.arange(L), np.arange(N_D4), np.arange(2),
                                   indexing="ij")
        sty, stx, sd, sz = (int(v) for v in s)
        ry, rx = self.rotate_vec(sd, ty, tx)
        nty, ntx = (sty + ry) % L, (stx + rx) % L
        nd = self.mul[sd][d]
        nz = z ^ sz
        idx = ((nty * L + ntx) * N_D4 + nd) * 2 + nz
        return torch.tensor(idx.reshape(-1), dtype=torch.long)


def transform_bonds(group: TorusGroup, g, bonds: torch.Tensor) -> torch.Tensor:
    """g acting on bond fields (..., 4, L, L) = (Jx, Jy, J2, h) with J2 *constant* (the per-site
    J2 convention of ``ising_energy`` ties both diagonals of a site together, which a mirror
    does not preserve).  Used by tests: ising_energy(g·s, g·J) = ising_energy(s, J)."""
    ty, tx, d, z = (int(v) for v in g)
    Jx, Jy, J2, h = bonds.unbind(-3)
    # a bond owned by p along +e sits at p + e/2; after R_d it sits at R p + R e/2.
    # site-centred bond values: move the bond centre, then find the new owner.
    L = group.L
    out_x = torch.empty_like(Jx)
    out_y = torch.empty_like(Jy)
    yy, xx = np.indices((L, L))
    for field, (ey, ex) in ((Jx, (0, 1)), (Jy, (1, 0))):
        ry, rx = group.rotate_vec(d, yy, xx)
        Ey, Ex = group.rotate_vec(d, ey, ex)
        # new bond goes from R p to R p + E; owner is the endpoint with the bond at +e'
        if Ey + Ex > 0:
            oy, ox = ry, rx
        else:
            oy, ox = ry + Ey, rx + Ex
        target = out_x if Ey == 0 else out_y
        target[..., oy % L, ox % L] = field[..., yy, xx]
    h2 = group.spatial(h, d)
    if z:
        h2 = -h2
    res = torch.stack([out_x, out_y, J2, h2], dim=-3)
    return res.roll((ty, tx), (-2, -1))


def equivariance_error(fn, x: torch.Tensor, group: TorusGroup, elements, rho_in=None,
                       odd_in=None, rho_out=None, odd_out=None) -> float:
    """max over ``elements`` of |fn(g·x) − g·fn(x)| (the shared equivariance check of the tests).

    ``fn`` maps (B, C, L, L) → (B, C', L, L) (or (B, L, L): a scalar, spin-odd output)."""
    with torch.no_grad():
        y = fn(x)
        err = 0.0
        for g in elements:
            gy = group.act(g, y, rho_out, odd_out)
            yg = fn(group.act(g, x, rho_in, odd_in))
            err = max(err, float((yg - gy).abs().max()))
    return err
