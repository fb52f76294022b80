"""Equivariant samplers with an exact likelihood: a multi-scale masked generator + SymPE frames.

Model
-----
The sites of the L × L torus (L a power of two) are split into K ordered sets A_0, …, A_{K−1}
by a dyadic coarse-to-fine hierarchy (:func:`hierarchy`): site (0, 0); then, for each spacing
a = L, L/2, …, 2, the centres (a/2, a/2) + aZ² (in two checkerboard halves) and the edge
midpoints (0, a/2), (a/2, 0) + aZ².  For L = 8 that is K = 9 steps of 1, 1, 2, 2, 2, 8, 8, 8,
32 sites.  In the *canonical frame* a configuration is generated set by set, each set
conditionally independent given the sites already generated:

    P_e(s | x) = Π_k Π_{i ∈ A_k} p_i(s_i | s_{A_<k}, x, v),

with every conditional from one p4m-equivariant escnn G-CNN (circular padding), exactly
antisymmetric under the odd inputs (spin flip), fed with

* even fields: β(Jx+Jy), β(Jx−Jy) (irrep_0,2: a 90° turn swaps Jx and Jy), 4βJ2, the mask of
  generated sites, the mask of the current set, the step k/(K−1);
* odd fields: βh, the generated spins (0 elsewhere), the exact local field of the generated
  spins β(Σ_j J_ij s_j + h), the mean of the generated spins (a global, invariant summary
  that the coarse steps need near T_c) and the SymPE encoding v (learned D4-regular fields of
  period P);
* FiLM: every hidden regular field is scaled and shifted by functions of the invariant scalars
  (β, βJ…) — the temperature dependence of the conditionals is multiplicative.

Ising: p_i(s_i) = σ(s_i ℓ_i) with ℓ_i = 2β(Σ_j J_ij s_j + h) + net_i.  The first term is the
exact Boltzmann conditional once all neighbours are known (the last set, for nearest-neighbour
couplings), so the network learns a correction.  XY: von Mises conditionals
p_i(θ_i) = exp(η_i·(cos θ_i, sin θ_i)) / (2π I0(|η_i|)) with η_i = β Σ_j J_ij (cos θ_j, sin θ_j)
+ net_i (two odd output channels), h = 0.

Symmetry (SymPE)
----------------
The fixed partition and v break the symmetries of the Hamiltonian.  A frame g̃ is drawn from
the inversion kernel, which for a homogeneous Hamiltonian is uniform on G = T_L ⋊ D4 × Z2
(translations, rotations/mirrors, spin flip), and the sampler is the mixture

    P(s | x) = (1/|G|) Σ_g P_g(s | x),      P_g(s | x) = P_e(g⁻¹·s | g⁻¹·x)

(g⁻¹·x: Jx ↔ Jy for odd quarter turns and diagonal mirrors, h → −h for the flip).  Sampling:
draw g̃, generate s' ~ P_e(· | g̃⁻¹·x), return g̃·s'.  By the exact equivariance of the G-CNN this
is the same as feeding g̃·v (and the transformed partition) to the network, f(x ⊕ g̃·v); the
mixture is exactly invariant, P(h·s | h·x) = P(s | x), for *any* network weights, while every
sample breaks the symmetry (e.g. picks a magnetization sign).

The spin flip is part of the same inversion kernel, taken as an exact canonicalization: for
h = 0 (flip in the stabilizer) the canonical configuration has s'_00 = +1 and the flip frame
z is uniform, so the flip part of the mixture is ½ P_e(s_00·s) — summed exactly, no extra
evaluation; each sample picks a magnetization sign.  For h ≠ 0 the flip is no symmetry and is
not used.  The frame mixture that remains is over the lattice part (t, d).

XY: the internal O(2) is handled the same way.  The canonical configuration has θ'_00 = 0; a
uniform global rotation α and a reflection r ∈ {±1} give θ = g·(rθ' + α).  The map
(α, θ'_rest) ↦ θ has unit Jacobian, so P_g(θ) = P_e(θ'_rest) / 2π exactly (the rotation part
of the mixture is integrated analytically); the frame is (t, d, r) (every kind uses the
internal rotation and reflection frames; only sympe uses the lattice frame and v).

Baselines: ``gcnn`` — the same generator with no frame and no v (fixed partition and no sign
choice: at h = 0 the antisymmetric network gives s_00 probability ½ exactly and the
distribution is flip invariant, but not translation invariant); ``noise`` — i.i.d. N(0, 1) fields in place of g̃·v, fixed partition.

Likelihoods: ``log_prob`` (canonical frame) is exact; a frame component log P_g is exact; the
full mixture (:meth:`MaskedSampler.mixture_log_prob`) is exact but costs |G| component
evaluations (used by the tests on small lattices).  For ``noise`` the component is P(s | ε).
Metropolis–Hastings on the extended space (frame or noise, s) needs only component
likelihoods (see :mod:`spinsym.tasks.sampler`).
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
KINDS = ("sympe", "gcnn", "noise")
LOG_2PI = math.log(2.0 * math.pi)
TWO_PI = 2.0 * math.pi


def check_L(L, pe_period: int = 1) -> int:
    """L must be a power of two (the dyadic hierarchy) and a multiple of the encoding period."""
    try:
        L = int(L)
    except (TypeError, ValueError):
        raise ParameterError(f"L must be an integer, got {L!r}") from None
    if L < 2 or L & (L - 1):
        raise ParameterError(f"the sampler needs L a power of two (>= 2), got {L}")
    if pe_period > 1 and L % pe_period:
        raise ParameterError(f"this sampler's positional encoding has period {pe_period}; "
                             f"L must be a multiple of it, got {L}")
    return L


@functools.lru_cache(maxsize=None)
def hierarchy(L: int) -> tuple:
    """``(order, K)``: order[y, x] is the step at which site (y, x) is generated."""
    check_L(L)
    ys, xs = np.indices((L, L))
    order = -np.ones((L, L), dtype=np.int64)
    order[0, 0] = 0
    k, a = 1, L
    while a > 1:
        h = a // 2
        centre = (ys % a == h) & (xs % a == h)
        parity = ((ys - h) // a + (xs - h) // a) % 2
        for p in (0, 1):
            m = centre & (parity == p)
            if m.any():
                order[m] = k
                k += 1
        edge = ((ys % a == 0) & (xs % a == h)) | ((ys % a == h) & (xs % a == 0))
        order[edge] = k
        k += 1
        a = h
    assert (order >= 0).all()
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


class MaskedSampler(nn.Module):
    """The generator of the module docstring: ``spin`` ising/xy, ``kind`` sympe/gcnn/noise."""

    def __init__(self, spin: str = "ising", kind: str = "sympe", width: int = 8, depth: int = 4,
                 kernel: int = 3, pe_fields: int = 1, pe_period: int = 4,
                 init_scale: float = 0.1):
        super().__init__()
        if spin not in SPINS:
            raise ParameterError(f"unknown spin model {spin!r}; choose one of {', '.join(SPINS)}")
        if kind not in KINDS:
            raise ParameterError(f"unknown sampler model {kind!r}; choose one of "
                                 f"{', '.join(KINDS)}")
        if int(width) < 1 or int(depth) < 1 or int(kernel) < 1 or int(kernel) % 2 == 0:
            raise ParameterError("width and depth must be >= 1 and kernel odd")
        self.spin, self.kind = spin, kind
        self.pe_fields = int(pe_fields) if kind != "gcnn" else 0
        self.pe_period = int(pe_period) if kind == "sympe" else 1
        self._cfg = dict(spin=spin, kind=kind, width=int(width), depth=int(depth),
                         kernel=int(kernel), pe_fields=int(pe_fields), pe_period=int(pe_period),
                         init_scale=float(init_scale))
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
            self.v = nn.Parameter(torch.randn(self.n_extra, self.pe_period, self.pe_period))
        self._plain = None
        self._frames: dict = {}

    def config(self) -> dict:
        return dict(self._cfg)

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
    def extra(self, B: int, L: int, noise: torch.Tensor | None = None) -> torch.Tensor | None:
        """The extra odd channels: v (sympe, canonical frame), ε (noise), none (gcnn)."""
        if self.kind == "sympe":
            P = self.pe_period
            v = self.v.repeat(1, L // P, L // P)
            return v[None].expand(B, -1, -1, -1)
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
        even = [beta * (Jx + Jy) * ones, beta * (Jx - Jy) * ones, 4 * beta * J2 * ones,
                done, now, ones * (k / max(1, K - 1))]
        n_done = max(1, int((order < k).sum()))
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
        total = torch.zeros(B, dtype=out.dtype, device=state.device)
        for j, (k, (_, prior, now)) in enumerate(zip(steps, parts)):
            o = out[j * B:(j + 1) * B]
            site = (self._site_logp(state, prior, o) * now).sum((-2, -1))
            if k == 0 and self.spin == "ising":
                site = torch.where(pinned, torch.zeros_like(site), site)
            total = total + site
        if self.spin == "ising" and bool(pinned.any()):
            bad = pinned & (state[:, 0, 0] < 0)
            total = torch.where(bad, torch.full_like(total, -math.inf), total)
        return total

    def pinned(self, cond: torch.Tensor) -> torch.Tensor:
        """(B,) bool: samples whose canonical frame pins s_00 = +1 (sympe, Ising, h = 0: the
        spin-flip part of the inversion kernel is the exact canonicalization by the sign of
        s_00; for h ≠ 0 the flip is no symmetry and nothing is pinned)."""
        if self.spin != "ising" or self.kind != "sympe":
            return torch.zeros(cond.shape[0], dtype=torch.bool, device=cond.device)
        return cond[:, 4] == 0

    def flip_frame(self, cond: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The flip part of the inversion kernel (Ising): uniform ``z`` where h = 0 (sympe),
        else the canonicalizing z = [h < 0] (sympe: the canonical frame has h ≥ 0); gcnn and
        noise use no flip frame (z = 0)."""
        z = torch.as_tensor(z).to(cond.device)
        if self.kind != "sympe" or self.spin != "ising":
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
                         noise: torch.Tensor | None = None):
        """Draw from P_e(· | cond): (states (B, L, L), log P_e (B,)) in float64 log-space."""
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
                u = _uniform((B, L, L), generator, device)
                new = torch.where(u < torch.sigmoid(logit), 1.0, -1.0).to(torch.float64)
                site = nn.functional.logsigmoid(new * logit)
                if k == 0:
                    new = torch.where(pinned, torch.ones_like(new), new)
                    site = torch.where(pinned, torch.zeros_like(site), site)
            else:
                eta = (prior + out).double()
                mu = torch.atan2(eta[:, 1], eta[:, 0])
                kappa = torch.sqrt(eta[:, 0] ** 2 + eta[:, 1] ** 2)
                new = torch.remainder(von_mises(mu, kappa, generator), TWO_PI)
                site = self._site_logp(new, eta, torch.zeros_like(eta))
            mask = now.bool()
            state = torch.where(mask, new.to(state.dtype), state)
            logp = logp + (site.double() * now.double()).sum((-2, -1))
        return state, logp

    # -- frames ---------------------------------------------------------------------------------
    def draw_frames(self, B: int, L: int, rng: np.random.Generator) -> dict:
        """Frame of each sample: sympe uniform on G (translations, D4, flip / reflection);
        gcnn and noise: the identity (their partition is fixed)."""
        if self.kind == "sympe":
            f = dict(ty=rng.integers(0, L, B), tx=rng.integers(0, L, B),
                     d=rng.integers(0, len(point_group()), B), z=rng.integers(0, N_FLIP, B))
        else:
            zeros = np.zeros(B, dtype=np.int64)
            f = dict(ty=zeros, tx=zeros, d=zeros, z=zeros)
        if self.spin == "xy":  # uniform global rotation (every kind: O(2) is internal)
            f["alpha"] = rng.uniform(0.0, TWO_PI, B)
            if self.kind != "sympe":
                f["z"] = rng.integers(0, 2, B)  # reflection frame for every kind (h = 0)
        return {k: torch.as_tensor(v) for k, v in f.items()}

    @torch.no_grad()
    def sample(self, cond: torch.Tensor, L: int, generator: torch.Generator | None,
               frames: dict, noise: torch.Tensor | None = None):
        """Samples in the lab frame: (configs (B, L, L), component log-likelihood log P_g (B,)).

        Ising configs are float ±1; XY angles in [0, 2π) (float64)."""
        fr = self.frames(L)
        ty, tx, d, z = frames["ty"], frames["tx"], frames["d"], frames["z"]
        if self.spin == "ising":
            pinned = self.pinned(cond).cpu()
            z = self.flip_frame(cond, z).cpu()
            state, logp = self.sample_canonical(fr.transform_couplings(cond, d, z), L,
                                                generator, noise)
            state = state * (1.0 - 2.0 * z.to(state.dtype).to(state.device))[:, None, None]
            logp = logp - math.log(2.0) * pinned.to(logp.device)
            return fr.act(state, ty, tx, d), logp
        state, logp = self.sample_canonical(fr.transform_couplings(cond, d), L, generator, noise)
        sign = (1.0 - 2.0 * z.double().to(state.device))[:, None, None]
        th = torch.remainder(sign * state + frames["alpha"].double().to(state.device)[:, None, None],
                             TWO_PI)
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
        """Every frame of the mixture (sympe: L²·|D4|, XY ·2 reflections; gcnn/noise: the identity,
        XY the 2 reflections).  The Ising flip is inside the component (pinned, exact)."""
        if self.kind == "sympe":
            ty, tx, d, z = np.meshgrid(np.arange(L), np.arange(L), np.arange(len(point_group())),
                                       np.arange(2 if self.spin == "xy" else 1), indexing="ij")
        else:
            ty = tx = d = np.zeros(2 if self.spin == "xy" else 1, dtype=np.int64)
            z = np.arange(len(ty))
        return {k: torch.as_tensor(v.reshape(-1)) for k, v in
                dict(ty=ty, tx=tx, d=d, z=z).items()}

    @torch.no_grad()
    def mixture_log_prob(self, configs: torch.Tensor, cond: torch.Tensor,
                         noise: torch.Tensor | None = None) -> torch.Tensor:
        """Exact log P(configs | cond) of the whole mixture over frames (|G| evaluations per
        configuration: for tests on small lattices).  For noise, conditional on the given ε."""
        B, L = configs.shape[0], configs.shape[-1]
        frames = self.all_frames(L)
        F = len(frames["d"])
        rep = {k: v.repeat(B) for k, v in frames.items()}
        cfg = configs.repeat_interleave(F, 0)
        cnd = cond.repeat_interleave(F, 0)
        nz = noise.repeat_interleave(F, 0) if noise is not None else None
        lp = self.component_log_prob(cfg, cnd, rep, nz).reshape(B, F)
        return torch.logsumexp(lp, 1) - math.log(F)


# ---------------------------------------------------------------------------------------------
# random numbers from an explicit generator (bit-reproducible)


def _uniform(shape, generator, device, dtype=torch.float64):
    gd = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=gd, dtype=dtype).to(device)


def von_mises(mu: torch.Tensor, kappa: torch.Tensor, generator) -> torch.Tensor:
    """Von Mises draws (Best & Fisher 1979 rejection), float64, from ``generator``."""
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
        u1 = _uniform(shape, generator, device)
        u2 = _uniform(shape, generator, device)
        u3 = _uniform(shape, generator, device)
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
