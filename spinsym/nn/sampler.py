"""Equivariant samplers with an exact likelihood: a multi-scale masked generator + SymPE frames.

Model
-----
The sites of the L × L torus (any even L) are split into K ordered sets A_0, …, A_{K−1} by a
coarse-to-fine hierarchy (:func:`hierarchy`): site (0, 0) alone; then the grid of stride 2 by
a nested bisection of each axis (for L a power of two: the dyadic centres (a/2, a/2) + aZ², in
two checkerboard halves, and edge midpoints (0, a/2), (a/2, 0) + aZ², a = L, L/2, …, 4); last
the centres (odd, odd) in two halves and the edges, the sites with x + y odd.  L = 8 gives
K = 9 steps of 1, 1, 2, 2, 2, 8, 8, 8, 32 sites; L = 6 gives K = 8 steps of 1, 1, 2, 1, 4, 5,
4, 18.  In the *canonical frame* a configuration is generated set by set, each set
conditionally independent given the sites already generated:

    P_e(s | x) = Π_k Π_{i ∈ A_k} p_i(s_i | s_{A_<k}, x, v),

with every conditional from one p4m-equivariant escnn G-CNN (circular padding), exactly
antisymmetric under the odd inputs (spin flip), fed with

* even fields: β(Jx+Jy), β(Jx−Jy) (irrep_0,2: a 90° turn swaps Jx and Jy), 4βJ2, the mask of
  generated sites, the mask of the current set, the step feature 2|A_<k|/N (the density of
  generated sites: 0 at the first step and 1 at the last at every L, and 2/a² or 4/a² at a
  stage of spacing a whatever L is, so one checkpoint runs at every even L);
* odd fields: βh, the generated spins (0 elsewhere), the exact local field of the generated
  spins β(Σ_j J_ij s_j + h), the mean of the generated spins (a global, invariant summary
  that the coarse steps need near T_c) and the SymPE encoding v (sympe only, below);
* FiLM: every hidden regular field is scaled and shifted by functions of the invariant scalars
  (β, βJ…) — the temperature dependence of the conditionals is multiplicative.

Ising: p_i(s_i) = σ(s_i ℓ_i) with ℓ_i = 2β(Σ_j J_ij s_j + h) + net_i.  The first term is the
exact Boltzmann conditional once all neighbours are known (the last set, x + y odd, for
nearest-neighbour couplings), so the network learns a correction.  XY: von Mises conditionals
p_i(θ_i) = exp(η_i·(cos θ_i, sin θ_i)) / (2π I0(|η_i|)) with η_i = β Σ_j J_ij (cos θ_j, sin θ_j)
+ net_i (two odd output channels), h = 0.

The encoding v (``pe_fields`` D4-regular fields, canonical frame) is a learned tile of period
``pe_period`` (P ≤ 2 runs at every even L) plus learned Fourier modes of the torus coordinates,
Σ_q a_q cos(2π q·r/L) + b_q sin(2π q·r/L) with q = n·(0, 1), n·(1, 0), n·(1, 1), n·(1, −1),
n = 1 … ``pe_modes``.  The n = 1 modes make v different from every translate of itself on
every L (a tile of period P is invariant under translations by P, and so is anything built
from it), and a mode is defined at every L, so one set of weights serves every lattice size.

Symmetry (SymPE, inversion kernel)
----------------------------------
The fixed partition and v break the symmetries of the Hamiltonian.  G = T_L ⋊ D4 × Z2
(translations, rotations/mirrors about site (0, 0), spin flip) acts on homogeneous couplings x
by Jx ↔ Jy (odd quarter turns and diagonal mirrors) and h → −h (flip).  A frame g̃ is drawn
from the inversion kernel g̃ = c(x)·u: c(x) is the canonicalizer (:meth:`MaskedSampler.
canonicalizer`: the quarter turn where Jx < Jy, the flip where h < 0), so x0 = c(x)⁻¹·x has
Jx ≥ Jy and h ≥ 0, and u is uniform on the stabilizer of x0: every translation × (D4 if
Jx = Jy, else D2 = {identity, half turn, the two axis mirrors}) × (the flip only if h = 0).
The sampler is the mixture

    P(s | x) = E_g̃ P_g̃(s | x),      P_g(s | x) = P_e(g⁻¹·s | g⁻¹·x) = P_e(g⁻¹·s | x0),

so the network always sees canonical couplings, and the mixture is exactly invariant,
P(h·s | h·x) = P(s | x), for *any* network weights: the frames of h·x are h times the frames
of x (the set {g : g⁻¹·x = x0} is c(x)·Stab(x0)), while every sample breaks the symmetry
(e.g. picks a magnetization sign).  ``draw_frames(B, L, rng)`` without the couplings draws g̃
uniformly on G instead (symmetrization, also exactly invariant; the network then sees Jx < Jy
too).  Sampling: draw g̃, generate s' ~ P_e(· | x0), return g̃·s'.  By the exact equivariance of
the G-CNN this is the network fed g̃·v and the transformed partition, f(x ⊕ g̃·v); the uniforms
are drawn for the lab-frame sites (the canonical site q uses the number of site g̃·q), so that
the sample is a function of (g̃, lab noise) as in f(x ⊕ g̃·v, ε) and the frame changes every
sample, not only its position.  (With the noise attached to the canonical sites, the sample
would be g̃·S(ε): at an input whose canonical form is the same for every frame — isotropic,
h = 0 — the energies and likelihoods of one random stream are then bit-identical for every
frame, whatever v; the distribution is the same either way.)

The spin flip is canonicalized exactly: for h = 0 (flip in the stabilizer) the canonical
configuration has s'_00 = +1 and the flip frame z is uniform, so the flip part of the mixture
is ½ P_e(s_00·s) — summed exactly, no extra evaluation; each sample picks a magnetization
sign.  For h ≠ 0 the flip is c(x)'s.  The frame mixture that remains is over the lattice part
(t, d).

XY: the internal O(2) is handled the same way.  The canonical configuration has θ'_00 = 0; a
uniform global rotation α and a reflection r ∈ {±1} give θ = g·(rθ' + α).  The map
(α, θ'_rest) ↦ θ has unit Jacobian, so P_g(θ) = P_e(θ'_rest) / 2π exactly (the rotation part
of the mixture is integrated analytically); the frame is (t, d, r) (every kind uses the
internal rotation and reflection frames; sympe and frames use the lattice frames).

Kinds: ``sympe`` — inversion-kernel frames and v; ``frames`` — the same frames, no v (the
ablation: what the frames and the partition do alone); ``gcnn`` — the same generator with no
frame and no v (fixed partition and no sign choice: at h = 0 the antisymmetric network gives
s_00 probability ½ exactly and the distribution is flip invariant, but not translation
invariant); ``noise`` — i.i.d. N(0, 1) fields in place of g̃·v, fixed partition.

Likelihoods: ``log_prob`` (canonical frame) is exact; a frame component log P_g is exact; the
full mixture (:meth:`MaskedSampler.mixture_log_prob`) is exact but costs |G| component
evaluations (used by the tests on small lattices).  For ``noise`` the component is P(s | ε).
Metropolis–Hastings on the extended space (frame or noise, s) needs only component
likelihoods (see :mod:`spinsym.tasks.sampler`).

Weights carry a format number (``net_format``, :data:`NET_FORMAT` = 2); weights of format 1
(power-of-two L, uniform frames, a period-P v only) are refused by ``load_state_dict``.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch import nn

from ..errors import ParameterError
from ..symmetry import N_FLIP
from .fields import TorusGroup, escnn, gspace, point_group

SPINS = ("ising", "xy")
KINDS = ("sympe", "frames", "gcnn", "noise")
#: the kinds that draw lattice frames from the inversion kernel (and pin the Ising flip)
FRAMED = ("sympe", "frames")
#: format of the network's weights (a buffer in every state dict): 2 = any even L, inversion
#: kernel frames, Fourier + tile v; weights of format 1 (no buffer) are refused
NET_FORMAT = 2
LOG_2PI = math.log(2.0 * math.pi)
TWO_PI = 2.0 * math.pi
#: the point-group elements that keep the x and y axes (identity, half turn, the two axis
#: mirrors): the D4 part of the stabilizer of homogeneous couplings with Jx != Jy
D2 = (0, 2, 4, 6)
QUARTER_TURN = 1


def check_L(L, pe_period: int = 1) -> int:
    """L must be even (the last set of :func:`hierarchy` is one checkerboard colour) and a
    multiple of the period of the encoding's tile (``pe_period`` ≤ 2 runs at every even L)."""
    try:
        L = int(L)
    except (TypeError, ValueError):
        raise ParameterError(f"L must be an integer, got {L!r}") from None
    if L < 2 or L % 2:
        raise ParameterError(f"the sampler needs an even L >= 2, got {L}")
    if pe_period > 1 and L % pe_period:
        raise ParameterError(f"this sampler's positional encoding has period {pe_period}; "
                             f"L must be a multiple of it, got {L}")
    return L


def _ring_levels(m: int) -> np.ndarray:
    """Nested bisection of the ring Z_m: lev[i] is the first n with i ∈ {⌊j·m/2ⁿ⌋ : j < 2ⁿ}.
    The sets are nested (⌊2j·m/2ⁿ⁺¹⌋ = ⌊j·m/2ⁿ⌋); for m a power of two they are the dyadic
    levels (the multiples of m/2ⁿ)."""
    lev = np.full(m, -1, dtype=np.int64)
    n = 0
    while (lev < 0).any():
        pts = (np.arange(2 ** n, dtype=np.int64) * m) >> n
        lev[pts[lev[pts] < 0]] = n
        n += 1
    return lev


@functools.lru_cache(maxsize=None)
def hierarchy(L: int) -> tuple:
    """``(order, K)``: order[y, x] is the step at which site (y, x) is generated (any even L).

    Each axis of Z_L gets a level: the even coordinates 2i the level of i in the nested
    bisection of Z_(L/2) (:func:`_ring_levels`), the odd coordinates one level more than all of
    them.  A site's level is the larger of its two; at each level the *centres* (both
    coordinates new) come first, in two checkerboard halves (parity of the ranks of the two
    coordinates among the new ones), then the *edges* (one coordinate new).  So site (0, 0) is
    alone at step 0, the last set is the odd checkerboard colour (x + y odd: all its nearest
    neighbours come earlier), and for L a power of two this is the dyadic coarse-to-fine order
    (spacings L, L/2, …, 2).  Empty sets are skipped."""
    L = check_L(L)
    m = L // 2
    lev = _ring_levels(m)
    rank = np.zeros(m, dtype=np.int64)
    for n in np.unique(lev):
        idx = np.flatnonzero(lev == n)
        rank[idx] = np.arange(len(idx))
    lev_l = np.empty(L, dtype=np.int64)
    rank_l = np.empty(L, dtype=np.int64)
    lev_l[0::2], lev_l[1::2] = lev, lev.max() + 1
    rank_l[0::2], rank_l[1::2] = rank, np.arange(m)
    ly, lx = lev_l[:, None], lev_l[None, :]
    level = np.maximum(ly, lx)
    centre = ly == lx
    parity = (rank_l[:, None] + rank_l[None, :]) % 2
    order = -np.ones((L, L), dtype=np.int64)
    k = 0
    for n in range(int(level.max()) + 1):
        at = level == n
        for mask in (at & centre & (parity == 0), at & centre & (parity == 1), at & ~centre):
            if mask.any():
                order[mask] = k
                k += 1
    assert (order >= 0).all() and order[0, 0] == 0 and (order == 0).sum() == 1
    order.setflags(write=False)
    return order, k


def neighbour_sum(f: torch.Tensor, Jx, Jy, J2) -> torch.Tensor:
    """Σ_j J_ij f_j over the bonds of site i (x, y, both diagonals) for homogeneous couplings
    given per sample (tensors broadcastable to (B, 1, 1)).  With f = spins, −2 s_i·(this + h)
    is the energy change of flipping s_i under :func:`spinsym.hamiltonians.ising_energy`
    (checked by the tests)."""
    out = Jx * (f.roll(1, -1) + f.roll(-1, -1)) + Jy * (f.roll(1, -2) + f.roll(-1, -2))
    d, u = f.roll(1, -2), f.roll(-1, -2)
    return out + J2 * (d.roll(1, -1) + d.roll(-1, -1) + u.roll(1, -1) + u.roll(-1, -1))


class Frames:
    """Batched action of the lattice part (t, d) of G on (B, L, L) site arrays, one element per
    sample: the index tables of :class:`spinsym.symmetry.TorusGroup` ((g·a)(p) = a(R_d⁻¹(p − t)))
    as torch tensors."""

    def __init__(self, L: int):
        self.L = L
        self.group = TorusGroup(L)
        P = self.group.point_group
        self.src = self.group._src  # (|P|, L, L): src[d, p] = flat index of R_d⁻¹ p
        # does d map the x axis onto the y axis (then Jx and Jy swap)?
        self.swap = torch.tensor([P.swaps_axes(d) for d in range(len(P))])

    def index(self, ty, tx, d) -> torch.Tensor:
        L = self.L
        yy, xx = torch.meshgrid(torch.arange(L), torch.arange(L), indexing="ij")
        py = (yy[None] - ty[:, None, None]) % L
        px = (xx[None] - tx[:, None, None]) % L
        src = self.src[d].reshape(len(d), -1)
        return torch.gather(src, 1, (py * L + px).reshape(len(d), -1))

    def act(self, a: torch.Tensor, ty, tx, d, inverse: bool = False) -> torch.Tensor:
        idx = self.index(ty, tx, d).to(a.device)
        if inverse:
            idx = torch.argsort(idx, dim=1)
        B = a.shape[0]
        return torch.gather(a.reshape(B, -1), 1, idx).reshape(a.shape)

    def transform_couplings(self, cond: torch.Tensor, d, z=None) -> torch.Tensor:
        """cond (B, 5) = (β, Jx, Jy, J2, h) after the D4 element d (and flip z): g·x and g⁻¹·x
        agree for homogeneous couplings."""
        out = cond.clone()
        sw = self.swap.to(cond.device)[d]
        out[sw, 1], out[sw, 2] = cond[sw, 2], cond[sw, 1]
        if z is not None:
            out[:, 4] = torch.where(z.to(cond.device).bool(), -cond[:, 4], cond[:, 4])
        return out


# ---------------------------------------------------------------------------------------------
# the network


class _Body(nn.Module):
    """p4m G-CNN (escnn R2Conv, circular padding) with FiLM conditioning on G-invariant
    scalars: after each hidden convolution, every regular field is scaled and shifted by
    (1 + γ, δ) computed from (β, β(Jx+Jy), β|Jx−Jy|, βJ2, β|h|) by a small MLP.  A scalar gain
    and shift per regular field commute with the permutation action of D4 on the field, so the
    body stays exactly equivariant, while the temperature can rescale every feature."""

    N_SCALARS = 5

    def __init__(self, in_type, width: int, depth: int, kernel: int, n_out: int,
                 init_scale: float, hidden_film: int = 32):
        super().__init__()
        enn = escnn().nn
        gs = gspace()
        hidden = enn.FieldType(gs, [gs.regular_repr] * width)
        convs, t = [], in_type
        for _ in range(depth):
            convs.append(enn.R2Conv(t, hidden, kernel_size=kernel, padding=kernel // 2,
                                    padding_mode="circular"))
            t = hidden
        last = enn.R2Conv(t, enn.FieldType(gs, [gs.trivial_repr] * n_out), kernel_size=1)
        with torch.no_grad():
            last.weights.mul_(init_scale)
        convs.append(last)
        self.convs = nn.ModuleList(convs)
        self.width, self.depth = width, depth
        self.n_point = gs.fibergroup.order()  # channels of one regular field
        self.film = nn.Sequential(nn.Linear(self.N_SCALARS, hidden_film), nn.Tanh(),
                                  nn.Linear(hidden_film, 2 * depth * width + 1))
        with torch.no_grad():
            self.film[-1].weight.zero_()
            self.film[-1].bias.zero_()
        self._plain = None

    def export(self):
        from .gcnn import fix_circular

        with torch.no_grad():
            return nn.ModuleList([fix_circular(c.export()) for c in self.convs])

    def forward(self, x: torch.Tensor, scalars: torch.Tensor, plain=None) -> torch.Tensor:
        B = x.shape[0]
        f = self.film(scalars.to(x.dtype))
        gains = f[:, :self.depth * self.width].reshape(B, self.depth, self.width)
        shifts = f[:, self.depth * self.width:-1].reshape(B, self.depth, self.width)
        t = x
        GT = escnn().nn.GeometricTensor
        for layer in range(self.depth + 1):
            if plain is not None:
                t = plain[layer](t)
            else:
                t = self.convs[layer](GT(t, self.convs[layer].in_type)).tensor
            if layer < self.depth:
                g = gains[:, layer].repeat_interleave(self.n_point, 1)[:, :, None, None]
                b = shifts[:, layer].repeat_interleave(self.n_point, 1)[:, :, None, None]
                t = torch.relu(t * (1.0 + g) + b)
        return t * (1.0 + f[:, -1])[:, None, None, None]


N_EVEN = 6  # β(Jx+Jy), β(Jx−Jy), 4βJ2, done, now, step


def wave_vectors(pe_modes: int) -> np.ndarray:
    """(4·pe_modes, 2) integer wave vectors (qy, qx) of the Fourier part of v: n·(0, 1),
    n·(1, 0), n·(1, 1), n·(1, −1) for n = 1 … pe_modes (in units of 2π/L)."""
    base = np.array([(0, 1), (1, 0), (1, 1), (1, -1)], dtype=np.int64)
    return np.concatenate([n * base for n in range(1, int(pe_modes) + 1)])


class MaskedSampler(nn.Module):
    """The generator of the module docstring: ``spin`` ising/xy, ``kind``
    sympe/frames/gcnn/noise; ``pe_period`` the period of v's tile, ``pe_modes`` the number of
    harmonics of its Fourier part (sympe)."""

    def __init__(self, spin: str = "ising", kind: str = "sympe", width: int = 8, depth: int = 4,
                 kernel: int = 3, pe_fields: int = 1, pe_period: int = 2,
                 init_scale: float = 0.1, pe_modes: int = 1):
        super().__init__()
        if spin not in SPINS:
            raise ParameterError(f"unknown spin model {spin!r}; choose one of {', '.join(SPINS)}")
        if kind not in KINDS:
            raise ParameterError(f"unknown sampler model {kind!r}; choose one of "
                                 f"{', '.join(KINDS)}")
        if int(width) < 1 or int(depth) < 1 or int(kernel) < 1 or int(kernel) % 2 == 0:
            raise ParameterError("width and depth must be >= 1 and kernel odd")
        if kind == "sympe" and (int(pe_period) < 1 or int(pe_modes) < 1 or int(pe_fields) < 1):
            raise ParameterError("sympe needs pe_fields, pe_period and pe_modes >= 1")
        self.spin, self.kind = spin, kind
        self.framed = kind in FRAMED
        self.pe_fields = int(pe_fields) if kind in ("sympe", "noise") else 0
        self.pe_period = int(pe_period) if kind == "sympe" else 1
        self.pe_modes = int(pe_modes) if kind == "sympe" else 0
        self._cfg = dict(spin=spin, kind=kind, width=int(width), depth=int(depth),
                         kernel=int(kernel), pe_fields=int(pe_fields), pe_period=int(pe_period),
                         init_scale=float(init_scale), pe_modes=int(pe_modes))
        gs = gspace()
        enn = escnn().nn
        G = gs.fibergroup
        self.n_odd_trivial = 4 if spin == "ising" else 6
        self.n_out = 1 if spin == "ising" else 2
        even = [gs.trivial_repr, G.irrep(0, 2), gs.trivial_repr] + [gs.trivial_repr] * 3
        odd = [gs.trivial_repr] * self.n_odd_trivial + [gs.regular_repr] * self.pe_fields
        self.in_type = enn.FieldType(gs, even + odd)
        self.n_extra = self.pe_fields * len(point_group())
        self.body = _Body(self.in_type, int(width), int(depth), int(kernel), self.n_out,
                          float(init_scale))
        if kind == "sympe":
            # v = a learned tile of period P + learned Fourier modes of the torus coordinates
            self.v = nn.Parameter(torch.randn(self.n_extra, self.pe_period, self.pe_period))
            nq = 4 * self.pe_modes
            self.v_modes = nn.Parameter(torch.randn(self.n_extra, nq, 2) / math.sqrt(nq))
            self.register_buffer("wave_vectors", torch.as_tensor(wave_vectors(self.pe_modes)),
                                 persistent=False)
        self.register_buffer("net_format", torch.tensor(NET_FORMAT))
        self._plain = None
        self._frames: dict = {}

    def config(self) -> dict:
        return dict(self._cfg)

    def load_state_dict(self, state_dict, strict: bool = True, **kw):
        """Refuses weights of another network format (format 1: before the any-even-L
        hierarchy, the inversion-kernel frames and the Fourier v) with one ParameterError."""
        found = state_dict.get("net_format")
        found = int(found) if found is not None else 1
        if found != NET_FORMAT:
            raise ParameterError(f"sampler weights of format {found}; this spinsym runs format "
                                 f"{NET_FORMAT} only (retrain the sampler)")
        return super().load_state_dict(state_dict, strict=strict, **kw)

    def frames(self, L: int) -> Frames:
        if L not in self._frames:
            self._frames[L] = Frames(L)
        return self._frames[L]

    # -- inference copy --------------------------------------------------------------------
    def prepare_inference(self) -> "MaskedSampler":
        """eval mode + a plain-torch export of the escnn body (same outputs, faster)."""
        self.eval()
        self._plain = self.body.export()
        return self

    def train(self, mode: bool = True):
        if mode:
            self._plain = None
        return super().train(mode)

    def _net(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Antisymmetrized body: F(u, w) − F(u, −w) on input (B, C, L, L), FiLM-conditioned on
        the invariant scalars of ``cond`` (B, 5) = (β, Jx, Jy, J2, h)."""
        B = x.shape[0]
        xm = torch.cat([x[:, :N_EVEN], -x[:, N_EVEN:]], 1)
        both = torch.cat([x, xm], 0)
        c = cond.to(x.dtype)
        beta = c[:, 0]
        sc = torch.stack([beta, beta * (c[:, 1] + c[:, 2]), beta * (c[:, 1] - c[:, 2]).abs(),
                          beta * c[:, 3], beta * c[:, 4].abs()], 1)
        sc = torch.cat([sc, sc], 0)
        plain = self._plain if (self._plain is not None and not self.training) else None
        y = self.body(both, sc, plain)
        return y[:B] - y[B:]

    # -- inputs ----------------------------------------------------------------------------
    def encoding(self, L: int) -> torch.Tensor:
        """v on the L × L torus in the canonical frame, (8·pe_fields, L, L) (sympe): the tile
        repeated, plus Σ_q a_q cos(2π q·r/L) + b_q sin(2π q·r/L) over :func:`wave_vectors`."""
        P = self.pe_period
        if L % P:
            raise ParameterError(f"this sampler's positional encoding has period {P}; L must "
                                 f"be a multiple of it, got {L}")
        v = self.v.repeat(1, L // P, L // P)
        yy, xx = torch.meshgrid(torch.arange(L, device=v.device),
                                torch.arange(L, device=v.device), indexing="ij")
        q = self.wave_vectors.to(v.device)
        # q·r mod L in integers, so the phase is exact for every L
        phase = ((q[:, 0, None, None] * yy + q[:, 1, None, None] * xx) % L).to(v.dtype)
        phase = phase * (TWO_PI / L)
        basis = torch.stack([torch.cos(phase), torch.sin(phase)], 1)  # (nq, 2, L, L)
        return v + torch.einsum("cqk,qkyx->cyx", self.v_modes, basis)

    def extra(self, B: int, L: int, noise: torch.Tensor | None = None) -> torch.Tensor | None:
        """The extra odd channels: v (sympe, canonical frame), ε (noise), none (frames, gcnn)."""
        if self.kind == "sympe":
            return self.encoding(L)[None].expand(B, -1, -1, -1)
        if self.kind == "noise":
            if noise is None:
                raise ParameterError("the noise sampler needs its noise fields")
            return noise
        return None

    def draw_noise(self, B: int, L: int, generator: torch.Generator | None,
                   device="cpu") -> torch.Tensor | None:
        if self.kind != "noise":
            return None
        gd = generator.device if generator is not None else device
        return torch.randn((B, self.n_extra, L, L), generator=generator, device=gd).to(device)

    def _inputs(self, k: int, K: int, order: torch.Tensor, state: torch.Tensor,
                cond: torch.Tensor, extra: torch.Tensor | None):
        """Network input at step k.  ``state``: spins (B, L, L) or angles (ising / xy)."""
        B, L = state.shape[0], state.shape[-1]
        dt = torch.float32
        done = (order < k).to(dt)[None].expand(B, -1, -1)
        now = (order == k).to(dt)[None].expand(B, -1, -1)
        beta, Jx, Jy, J2, h = (cond[:, i].to(dt).reshape(B, 1, 1) for i in range(5))
        ones = torch.ones((B, L, L), dtype=dt, device=state.device)
        n_gen = int((order < k).sum())
        even = [beta * (Jx + Jy) * ones, beta * (Jx - Jy) * ones, 4 * beta * J2 * ones,
                done, now, ones * (2.0 * n_gen / (L * L))]
        n_done = max(1, n_gen)
        if self.spin == "ising":
            s = state.to(dt) * done
            hloc = neighbour_sum(s, Jx, Jy, J2) + h
            mean = s.sum((-2, -1), keepdim=True) / n_done  # magnetization generated so far
            odd = [beta * h * ones, s, beta * hloc, mean * ones]
            prior = 2 * beta * hloc
        else:
            c, sn = torch.cos(state).to(dt) * done, torch.sin(state).to(dt) * done
            hx, hy = beta * neighbour_sum(c, Jx, Jy, J2), beta * neighbour_sum(sn, Jx, Jy, J2)
            mc = c.sum((-2, -1), keepdim=True) / n_done
            ms = sn.sum((-2, -1), keepdim=True) / n_done
            odd = [c, sn, hx, hy, mc * ones, ms * ones]
            prior = torch.stack([hx, hy], 1)
        chans = torch.stack(even + odd, 1)
        if extra is not None:
            chans = torch.cat([chans, extra.to(dt)], 1)
        return chans, prior, now

    def _steps(self, K: int):
        return range(K) if self.spin == "ising" else range(1, K)

    # -- exact log-likelihood in the canonical frame -----------------------------------------
    def log_prob(self, state: torch.Tensor, cond: torch.Tensor,
                 noise: torch.Tensor | None = None) -> torch.Tensor:
        """log P_e(state | cond) for a batch (B,): Ising spins ±1, or XY angles with
        θ_00 = 0 (the density of θ_rest; add −log 2π for the frame's rotation).  All steps are
        evaluated in one batched pass (teacher forcing)."""
        cols = self.step_log_probs(state, cond, noise)
        total = torch.zeros(cols.shape[0], dtype=cols.dtype, device=cols.device)
        for k in range(cols.shape[1]):
            total = total + cols[:, k]
        return total

    def step_log_probs(self, state: torch.Tensor, cond: torch.Tensor,
                       noise: torch.Tensor | None = None) -> torch.Tensor:
        """(B, K): column k is log Π_{i ∈ A_k} p_i(s_i | s_{A_<k}, x, v), the log-probability of
        the sites of step k given the earlier ones (0 for a step not modelled: XY step 0, the
        pinned Ising step 0, which is −inf where s_00 = −1); :meth:`log_prob` is their sum."""
        B, L = state.shape[0], state.shape[-1]
        order_np, K = hierarchy(L)
        order = torch.as_tensor(order_np.copy(), device=state.device)
        extra = self.extra(B, L, noise)
        pinned = self.pinned(cond)
        steps = list(self._steps(K))
        if self.spin == "ising" and bool(pinned.all()):
            steps = steps[1:]  # s_00 = +1 with probability 1 in the canonical frame
        parts = [self._inputs(k, K, order, state, cond, extra) for k in steps]
        x = torch.cat([p[0] for p in parts], 0)
        out = self._net(x, cond.repeat(len(parts), 1))
        cols = [torch.zeros(B, dtype=out.dtype, device=state.device) for _ in range(K)]
        for j, (k, (_, prior, now)) in enumerate(zip(steps, parts)):
            o = out[j * B:(j + 1) * B]
            site = (self._site_logp(state, prior, o) * now).sum((-2, -1))
            if k == 0 and self.spin == "ising":
                site = torch.where(pinned, torch.zeros_like(site), site)
            cols[k] = site
        if self.spin == "ising" and bool(pinned.any()):
            bad = pinned & (state[:, 0, 0] < 0)
            cols[0] = torch.where(bad, torch.full_like(cols[0], -math.inf), cols[0])
        return torch.stack(cols, 1)

    def pinned(self, cond: torch.Tensor) -> torch.Tensor:
        """(B,) bool: samples whose canonical frame pins s_00 = +1 (sympe, Ising, h = 0: the
        spin-flip part of the inversion kernel is the exact canonicalization by the sign of
        s_00; for h ≠ 0 the flip is no symmetry and nothing is pinned)."""
        if self.spin != "ising" or not self.framed:
            return torch.zeros(cond.shape[0], dtype=torch.bool, device=cond.device)
        return cond[:, 4] == 0

    def flip_frame(self, cond: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The flip part of the inversion kernel (Ising): uniform ``z`` where h = 0 (sympe),
        else the canonicalizing z = [h < 0] (sympe: the canonical frame has h ≥ 0); gcnn and
        noise use no flip frame (z = 0)."""
        z = torch.as_tensor(z).to(cond.device)
        if not self.framed or self.spin != "ising":
            return torch.zeros_like(z)
        return torch.where(self.pinned(cond), z, (cond[:, 4] < 0).to(z.dtype))

    def _site_logp(self, state, prior, out):
        if self.spin == "ising":
            logit = prior + out[:, 0]
            return nn.functional.logsigmoid(state.to(logit.dtype) * logit)
        eta = prior + out
        kappa = torch.sqrt(eta[:, 0] ** 2 + eta[:, 1] ** 2 + 1e-12)
        th = state.to(eta.dtype)
        return (eta[:, 0] * torch.cos(th) + eta[:, 1] * torch.sin(th) - LOG_2PI
                - (torch.log(torch.special.i0e(kappa)) + kappa))

    # -- sampling in the canonical frame ------------------------------------------------------
    @torch.no_grad()
    def sample_canonical(self, cond: torch.Tensor, L: int, generator: torch.Generator | None,
                         noise: torch.Tensor | None = None, remap: torch.Tensor | None = None):
        """Draw from P_e(· | cond): (states (B, L, L), log P_e (B,)) in float64 log-space.

        ``remap`` (B, L²): every uniform field u drawn from ``generator`` is read as
        u[remap] (a permutation of the sites per sample; :meth:`sample` passes the frame's, so
        each random number belongs to a lab-frame site)."""
        B = cond.shape[0]
        device = cond.device
        order_np, K = hierarchy(L)
        order = torch.as_tensor(order_np.copy(), device=device)
        extra = self.extra(B, L, noise)
        state = torch.zeros((B, L, L), dtype=torch.float32 if self.spin == "ising"
                            else torch.float64, device=device)
        logp = torch.zeros(B, dtype=torch.float64, device=device)
        pinned = self.pinned(cond)[:, None, None]
        for k in self._steps(K):
            x, prior, now = self._inputs(k, K, order, state, cond, extra)
            out = self._net(x, cond)
            if self.spin == "ising":
                logit = (prior + out[:, 0]).double()
                u = _uniform((B, L, L), generator, device, remap=remap)
                new = torch.where(u < torch.sigmoid(logit), 1.0, -1.0).to(torch.float64)
                site = nn.functional.logsigmoid(new * logit)
                if k == 0:
                    new = torch.where(pinned, torch.ones_like(new), new)
                    site = torch.where(pinned, torch.zeros_like(site), site)
            else:
                eta = (prior + out).double()
                mu = torch.atan2(eta[:, 1], eta[:, 0])
                kappa = torch.sqrt(eta[:, 0] ** 2 + eta[:, 1] ** 2)
                new = torch.remainder(von_mises(mu, kappa, generator, remap=remap), TWO_PI)
                site = self._site_logp(new, eta, torch.zeros_like(eta))
            mask = now.bool()
            state = torch.where(mask, new.to(state.dtype), state)
            logp = logp + (site.double() * now.double()).sum((-2, -1))
        return state, logp

    # -- frames ---------------------------------------------------------------------------------
    def canonicalizer(self, cond: torch.Tensor) -> tuple:
        """c(x) of the inversion kernel for homogeneous couplings ``cond`` (B, 5): (d_c, z_c),
        the quarter turn where Jx < Jy (so c(x)⁻¹·x has Jx ≥ Jy) and the flip where h < 0
        (so it has h ≥ 0); numpy int64 arrays."""
        c = torch.as_tensor(cond).detach().cpu().double().numpy().reshape(-1, 5)
        d = np.where(c[:, 1] < c[:, 2], QUARTER_TURN, 0).astype(np.int64)
        z = (c[:, 4] < 0).astype(np.int64)
        return d, z

    def kernel_support(self, cond: torch.Tensor, d) -> torch.Tensor:
        """(B, F) bool: whether a frame with point-group element d[f] can be drawn by the
        inversion kernel for input b, i.e. lies in c(x)·Stab(c(x)⁻¹·x): every d if Jx == Jy,
        else the d that swap the axes exactly when c(x) does (translations are all in the
        stabilizer; the flip and the XY reflection are handled inside the components)."""
        c = torch.as_tensor(cond).detach().cpu().double().reshape(-1, 5)
        P = point_group()
        swaps = torch.tensor([P.swaps_axes(e) for e in range(len(P))])
        swap = swaps[torch.as_tensor(d).long().cpu()]  # (F,)
        iso = (c[:, 1] == c[:, 2])[:, None]
        return iso | (swap[None, :] == (c[:, 1] < c[:, 2])[:, None])

    def draw_frames(self, B: int, L: int, rng: np.random.Generator, cond=None) -> dict:
        """Frame of each sample.  sympe and frames: with ``cond`` (B, 5) the inversion kernel
        g̃ = c(x)·u, u uniform on the stabilizer of the canonical input (every translation; D4
        if Jx == Jy, else D2 = {identity, half turn, axis mirrors}; the flip only if h = 0);
        without ``cond``, uniform on G (symmetrization, the frames of format 1).  gcnn and
        noise: the identity (their partition is fixed).  XY: a uniform global rotation α and a
        uniform reflection z for every kind.  The random numbers drawn are the same with and
        without ``cond``."""
        if self.framed:
            f = dict(ty=rng.integers(0, L, B), tx=rng.integers(0, L, B),
                     d=rng.integers(0, len(point_group()), B), z=rng.integers(0, N_FLIP, B))
            if cond is not None:
                dc, zc = self.canonicalizer(cond)
                if len(dc) != B:
                    raise ParameterError(f"draw_frames: {len(dc)} coupling rows for {B} frames")
                c = torch.as_tensor(cond).detach().cpu().double().numpy().reshape(-1, 5)
                P = point_group()
                u = np.where(c[:, 1] == c[:, 2], f["d"], np.asarray(D2)[f["d"] // 2])
                f["d"] = P.mul[dc, u]
                if self.spin == "ising":
                    f["z"] = np.where(c[:, 4] == 0, f["z"], zc)
        else:
            zeros = np.zeros(B, dtype=np.int64)
            f = dict(ty=zeros, tx=zeros, d=zeros, z=zeros)
        if self.spin == "xy":  # uniform global rotation (every kind: O(2) is internal)
            f["alpha"] = rng.uniform(0.0, TWO_PI, B)
            if not self.framed:
                f["z"] = rng.integers(0, 2, B)  # reflection frame for every kind (h = 0)
        return {k: torch.as_tensor(v) for k, v in f.items()}

    @torch.no_grad()
    def sample(self, cond: torch.Tensor, L: int, generator: torch.Generator | None,
               frames: dict, noise: torch.Tensor | None = None):
        """Samples in the lab frame: (configs (B, L, L), component log-likelihood log P_g (B,)).

        Computed in the canonical frame, with every uniform drawn for a lab-frame site (the
        one the frame moves the canonical site to): the sample is that of the network fed
        g̃·v and the moved partition, with its random numbers attached to the lab sites.
        Ising configs are float ±1; XY angles in [0, 2π) (float64)."""
        fr = self.frames(L)
        ty, tx, d, z = frames["ty"], frames["tx"], frames["d"], frames["z"]
        remap = torch.argsort(fr.index(ty, tx, d), dim=1).to(cond.device)
        if self.spin == "ising":
            pinned = self.pinned(cond).cpu()
            z = self.flip_frame(cond, z).cpu()
            state, logp = self.sample_canonical(fr.transform_couplings(cond, d, z), L,
                                                generator, noise, remap=remap)
            state = state * (1.0 - 2.0 * z.to(state.dtype).to(state.device))[:, None, None]
            logp = logp - math.log(2.0) * pinned.to(logp.device)
            return fr.act(state, ty, tx, d), logp
        state, logp = self.sample_canonical(fr.transform_couplings(cond, d), L, generator, noise,
                                            remap=remap)
        sign = (1.0 - 2.0 * z.double().to(state.device))[:, None, None]
        alpha = frames["alpha"].double().to(state.device)[:, None, None]
        th = torch.remainder(sign * state + alpha, TWO_PI)
        return fr.act(th, ty, tx, d), logp - LOG_2PI

    def canonical(self, configs: torch.Tensor, cond: torch.Tensor, frames: dict):
        """Inverse of :meth:`sample`'s frame map: (canonical states, canonical couplings)."""
        L = configs.shape[-1]
        fr = self.frames(L)
        ty, tx, d, z = frames["ty"], frames["tx"], frames["d"], frames["z"]
        s = fr.act(configs, ty, tx, d, inverse=True)
        if self.spin == "ising":
            pinned = self.pinned(cond).to(s.device)
            zc = self.flip_frame(cond, z).to(s.device)
            sign = torch.where(pinned, s[:, 0, 0].sign(), 1.0 - 2.0 * zc.to(s.dtype))
            return s * sign[:, None, None], fr.transform_couplings(cond, d, (sign < 0).long())
        s = s.double()
        s = torch.remainder(s - s[:, :1, :1], TWO_PI)
        s = torch.where(z.bool().to(s.device)[:, None, None], torch.remainder(-s, TWO_PI), s)
        return s, fr.transform_couplings(cond, d)

    def component_log_prob(self, configs, cond, frames, noise=None) -> torch.Tensor:
        """log P_g(configs | cond) for the given frames (exact).  The pinned spin flip (Ising)
        and the global rotation (XY) are summed / integrated exactly: −log 2, −log 2π."""
        s, c = self.canonical(configs, cond, frames)
        lp = self.log_prob(s, c, noise)
        if self.spin == "xy":
            return lp - LOG_2PI
        return lp - math.log(2.0) * self.pinned(cond).to(lp.dtype)

    def all_frames(self, L: int) -> dict:
        """Every lattice frame (sympe, frames: L²·|D4|, XY ·2 reflections; gcnn/noise: the
        identity, XY the 2 reflections): the support of the uniform kernel; the inversion
        kernel's is the part :meth:`kernel_support` allows.  The Ising flip is inside the
        component (pinned, exact)."""
        if self.framed:
            ty, tx, d, z = np.meshgrid(np.arange(L), np.arange(L), np.arange(len(point_group())),
                                       np.arange(2 if self.spin == "xy" else 1), indexing="ij")
        else:
            ty = tx = d = np.zeros(2 if self.spin == "xy" else 1, dtype=np.int64)
            z = np.arange(len(ty))
        return {k: torch.as_tensor(v.reshape(-1)) for k, v in
                dict(ty=ty, tx=tx, d=d, z=z).items()}

    @torch.no_grad()
    def mixture_log_prob(self, configs: torch.Tensor, cond: torch.Tensor,
                         noise: torch.Tensor | None = None, uniform: bool = False
                         ) -> torch.Tensor:
        """Exact log P(configs | cond) of the whole mixture over the frames that
        :meth:`draw_frames` draws with ``cond`` (the inversion kernel; ``uniform=True``: the
        uniform kernel of ``draw_frames`` without ``cond``).  |G| component evaluations per
        configuration: for tests on small lattices.  For noise, conditional on the given ε."""
        B, L = configs.shape[0], configs.shape[-1]
        frames = self.all_frames(L)
        F = len(frames["d"])
        rep = {k: v.repeat(B) for k, v in frames.items()}
        cfg = configs.repeat_interleave(F, 0)
        cnd = cond.repeat_interleave(F, 0)
        nz = noise.repeat_interleave(F, 0) if noise is not None else None
        lp = self.component_log_prob(cfg, cnd, rep, nz).reshape(B, F)
        if not self.framed or uniform:
            return torch.logsumexp(lp, 1) - math.log(F)
        ok = self.kernel_support(cond, frames["d"]).to(lp.device)
        lp = torch.where(ok, lp, torch.full_like(lp, -math.inf))
        return torch.logsumexp(lp, 1) - torch.log(ok.sum(1).to(lp.dtype))


# ---------------------------------------------------------------------------------------------
# random numbers from an explicit generator (bit-reproducible)


def _uniform(shape, generator, device, dtype=torch.float64, remap=None):
    """Uniforms from ``generator``; with ``remap`` (B, n) a (B, …) field read at those flat
    indices per sample."""
    gd = generator.device if generator is not None else device
    u = torch.rand(shape, generator=generator, device=gd, dtype=dtype).to(device)
    if remap is not None:
        u = torch.gather(u.reshape(shape[0], -1), 1, remap).reshape(shape)
    return u


def von_mises(mu: torch.Tensor, kappa: torch.Tensor, generator, remap=None) -> torch.Tensor:
    """Von Mises draws (Best & Fisher 1979 rejection), float64, from ``generator`` (every
    uniform field read through ``remap`` as in :func:`_uniform`)."""
    mu, kappa = mu.double(), kappa.double()
    device = mu.device
    shape = mu.shape
    out = torch.empty(shape, dtype=torch.float64, device=device)
    small = kappa < 1e-6
    k = torch.where(small, torch.ones_like(kappa), kappa)
    tau = 1.0 + torch.sqrt(1.0 + 4.0 * k * k)
    rho = (tau - torch.sqrt(2.0 * tau)) / (2.0 * k)
    r = (1.0 + rho * rho) / (2.0 * rho)
    todo = torch.ones(shape, dtype=torch.bool, device=device)
    while bool(todo.any()):
        u1 = _uniform(shape, generator, device, remap=remap)
        u2 = _uniform(shape, generator, device, remap=remap)
        u3 = _uniform(shape, generator, device, remap=remap)
        z = torch.cos(math.pi * u1)
        f = (1.0 + r * z) / (r + z)
        c = k * (r - f)
        u2c = u2.clamp_min(1e-300)
        ok = (c * (2.0 - c) - u2 > 0) | (torch.log(c.clamp_min(1e-300) / u2c) + 1.0 - c >= 0)
        theta = torch.sign(u3 - 0.5) * torch.acos(f.clamp(-1.0, 1.0))
        theta = torch.where(small, TWO_PI * u1 - math.pi, theta)
        ok = ok | small
        take = todo & ok
        out = torch.where(take, theta, out)
        todo = todo & ~take
    return mu + out
