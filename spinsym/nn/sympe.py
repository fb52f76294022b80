"""SymPE: symmetry-breaking positional encodings sampled through an inversion kernel.

Pieces (Lawrence et al., ICLR 2025, adapted to G = T_L ⋊ D4 × Z2 on the torus):

* a learned field ``v`` (``pe_fields`` D4-regular fields, odd under the spin flip) of period
  ``P``, tiled to the lattice (so the same parameters work at every L with P | L).  G acts on
  it by g·v (translation, rotation/mirror with the regular representation on the channels, sign
  flip).  For generic v the stabilizer of v is exactly the translations by P·Z² (the action of
  G' = G / (P·Z²) on v is free): v can break every symmetry *down to period P*.  Training sets
  P to the training L (a full-lattice v: at that L it can break every translation of the torus,
  whatever the period of the answer); ``pe_period=4`` is the older choice, enough for the
  homogeneous family (whose ground states are all 4 × 4-periodic), kept as an ablation.
* a small equivariant canonicalizer (escnn, out: one regular field per sign of the odd input),
  read as logits over the group: ℓ_x(t, d, z) = Φ_z(x)[d](t).  Equivariance of Φ gives
  ℓ_{h·x}(h·g) = ℓ_x(g), i.e. q(h·g | h·x) = q(g | x) for q = softmax(ℓ).
* exact stabilizer: the stabilizer Stab(x) of the input is found by exact comparison,
  vectorized (:class:`spinsym.nn.stabilizer.Orbit`: translation lattice T_x plus one coset
  representative per point-group × flip element), and the logits are replaced by
  ℓ̄(g) = max_{s ∈ Stab} ℓ(s·g) (a max over T_x by its two generators, then over the coset
  representatives).  In exact arithmetic ℓ(s·g) = ℓ(g) already; the max makes the ties exact
  in floating point, so draws are *exactly* uniform on each coset Stab(x)·γ.
* canonical draw (inference): the near-maximizers of ℓ̄ (within a relative 1e-4: the learned
  logits often tie, exactly or to rounding, across cosets they cannot tell apart — e.g. a
  canonicalizer that cannot see a distant defect) are cut down to one coset by an exact
  canonical order, the lexicographically least g⁻¹·x (:meth:`Orbit.canonical`; equivariant,
  and constant exactly on stabilizer cosets).  g̃ is then γ(x)·s with s uniform on Stab(x):
  the inversion kernel proper, whatever the canonicalizer learned.
* sampling: Gumbel-max (g̃ exact, any number of samples each with its own draw); in training a
  straight-through Gumbel-softmax passes gradients to the canonicalizer (forward: the hard
  one-hot, backward: the softmax weights).  The encoding g̃·v is a linear map of the one-hot,
  so e = Σ_g w_g (g·v) costs one small matrix product.
* the main network f(x ⊕ g̃·v) is the antisymmetrized G-CNN of :mod:`spinsym.nn.gcnn` with the
  encoding as extra odd regular channels, so f(g·x, g·g̃) = g·f(x, g̃) exactly.

Ablations (constructor keywords, training-config fields of the same names):

* ``v="fixed"``: v is a random buffer drawn at initialization (from the same stream as a
  learned v) and never trained; ``v="none"``: no encoding channels at all, the network is the
  plain antisymmetrized G-CNN and g̃ (still drawn and reported) never reaches it;
* ``canonicalizer="uniform"``: no canonicalizer network; g̃ is uniform on G for every input
  (Gumbel-max over zero logits; in training the hard one-hot, no gradient);
* ``group="p4"``: every network (and G, the stabilizer and the canonical order) uses the
  point group C4 instead of D4: G = T_L ⋊ C4 × Z2, escnn's ``rot2dOnR2(4)``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..errors import ParameterError
from ..symmetry import N_FLIP, point_group
from . import SAMPLING_MODES
from .fields import TorusGroup, encode, escnn, even_channels, normalize
from .gcnn import GCNN, GROUPS, check_group, group_fiber_matrices, group_input_types, group_space
from .stabilizer import Orbit

#: relative tolerance under which two symmetrized logits count as tied in a canonical draw
TIE_TOLERANCE = 1e-4


def gumbel(shape, generator: torch.Generator | None, device, dtype=torch.float64):
    gen_device = generator.device if generator is not None else device
    # float64 uniforms: ties between noise values (which would favour the lower index among
    # exactly tied logits) have probability ~|G|² 2^-53, not ~|G|² 2^-24 as with float32.
    u = torch.rand(shape, generator=generator, device=gen_device, dtype=torch.float64)
    u = u.clamp_(1e-300, 1.0 - 1e-16)
    return (-torch.log(-torch.log(u))).to(device=device, dtype=dtype)


class Predictor(nn.Module):
    """Common interface: bonds (B, 5, L, L) = (Jx, Jy, J2p, J2m, h) → spin logits (B, K, L, L)
    (+ sampled g̃).  ``encoding``: how bonds become network input (:mod:`spinsym.nn.fields`)."""

    kind = "base"
    period = 1  # L must be a multiple of this

    def __init__(self, encoding: str = "bonds", group: str = "p4m"):
        super().__init__()
        self.encoding = encoding
        #: the spatial group of the networks: "p4m" (D4) or "p4" (C4, an ablation)
        self.group_name = check_group(group)
        self.point = GROUPS[group]
        self._groups: dict[int, TorusGroup] = {}
        rho = group_fiber_matrices(_in_type(encoding, group))
        self.register_buffer("rho_in", rho.round(), persistent=False)
        n_even = even_channels(encoding)
        self.register_buffer("odd_in", torch.tensor([False] * n_even + [True]),
                             persistent=False)

    def group(self, L: int) -> TorusGroup:
        """G = T_L ⋊ P × Z2 with the network's point group P (D4 for p4m, C4 for p4)."""
        if L not in self._groups:  # (also caches other per-L tables under tuple keys)
            self._groups[L] = TorusGroup(L, self.point)
        return self._groups[L]

    def _group_config(self) -> dict:
        return {} if self.group_name == "p4m" else {"group": self.group_name}

    def check_L(self, L: int) -> int:
        if L % 2:
            raise ParameterError(f"L must be even, got {L}")
        if L % self.period:
            raise ParameterError(f"the {self.kind} model needs L divisible by {self.period} "
                                 f"(its positional encoding has period {self.period}), got {L}")
        return L

    def encode_input(self, bonds: torch.Tensor) -> torch.Tensor:
        """The network input (site fields) of bond fields (B, 5, L, L)."""
        return encode(bonds, self.encoding)

    def forward(self, bonds: torch.Tensor, samples: int = 1,
                generator: torch.Generator | None = None, **kw) -> dict:
        return self.forward_sites(self.encode_input(bonds), samples, generator, **kw)

    def split(self, x: torch.Tensor):
        xn = normalize(x)
        n = even_channels(self.encoding)
        return xn[:, :n], xn[:, n:]


def _in_type(encoding: str = "bonds", group: str = "p4m"):
    even, odd = group_input_types(encoding=encoding, group=group)
    return even + odd


#: how v enters (``v``): "learned" (a parameter), "fixed" (a random buffer drawn at
#: initialization, never trained) or "none" (no encoding channels: the network never sees g̃)
V_MODES = ("learned", "fixed", "none")
#: how g̃ is drawn (``canonicalizer``): "learned" (the equivariant canonicalizer and the
#: inversion kernel) or "uniform" (g̃ uniform on G whatever the input; no canonicalizer)
CANONICALIZERS = ("learned", "uniform")


class SymPE(Predictor):
    kind = "sympe"

    def __init__(self, width: int = 12, depth: int = 4, kernel: int = 3, pe_fields: int = 2,
                 pe_period: int = 4, canon_width: int = 2, canon_depth: int = 2,
                 tau: float = 1.0, canon_scale: float = 4.0, encoding: str = "bonds",
                 v: str = "learned", canonicalizer: str = "learned", group: str = "p4m"):
        super().__init__(encoding, group)
        if int(pe_period) < 1:
            raise ParameterError(f"pe_period must be at least 1, got {pe_period}")
        if v not in V_MODES:
            raise ParameterError(f"unknown v {v!r}; choose one of {', '.join(V_MODES)}")
        if canonicalizer not in CANONICALIZERS:
            raise ParameterError(f"unknown canonicalizer {canonicalizer!r}; choose one of "
                                 f"{', '.join(CANONICALIZERS)}")
        self.canon_scale0 = float(canon_scale)
        self.period = int(pe_period)
        self.pe_fields = int(pe_fields)
        self.tau = float(tau)
        self.v_mode, self.canonicalizer = v, canonicalizer
        self._canon_cfg = dict(canon_width=int(canon_width), canon_depth=int(canon_depth))
        n_point = len(point_group(self.point))
        self.net = GCNN(n_odd_regular=0 if v == "none" else pe_fields, width=width,
                        depth=depth, kernel=kernel, encoding=encoding, group=group)
        self.canon = GCNN(width=canon_width, depth=canon_depth, kernel=kernel, out="regular",
                          encoding=encoding, group=group) if canonicalizer == "learned" else None
        v0 = torch.randn(pe_fields * n_point, self.period, self.period)
        if v == "learned":
            self.v = nn.Parameter(v0)
        elif v == "fixed":  # drawn from the same stream as a learned v, then never trained
            self.register_buffer("v", v0)
        else:
            self.v = None
        if self.canon is not None:
            # learnable inverse temperature of q(g | x): lets the canonicalizer become
            # decisive about which coset of the stabilizer to present (an invariant scalar: no
            # effect on equivariance)
            self.canon_log_scale = nn.Parameter(torch.tensor(float(np.log(canon_scale))))
        enn = escnn().nn
        gs = group_space(group)
        v_type = enn.FieldType(gs, [gs.regular_repr] * pe_fields)
        self.register_buffer("rho_v", group_fiber_matrices(v_type).round(), persistent=False)

    # -- the positional encodings --------------------------------------------------------------
    def _encoding_index(self, L: int) -> torch.Tensor:
        """Gather index (P, P, |D4|, C, L, L) into v.flatten(): g·v for every (t mod P, d).

        The regular representation permutes channels, so every g·v is a gather of v; the index
        is found once per L by acting on a tensor holding the flat indices themselves."""
        key = ("enc", L)
        if key not in self._groups:
            G = self.group(L)
            P = self.period
            C = self.v.shape[0]
            ids = torch.arange(C * P * P, dtype=torch.float64).reshape(C, P, P)
            ids = ids.repeat(1, L // P, L // P)
            rot = torch.stack([G.act((0, 0, d, 0), ids, self.rho_v.double().cpu())
                               for d in range(len(G.point_group))])
            sh = torch.stack([rot.roll((ty, tx), (-2, -1)) for ty in range(P) for tx in range(P)])
            idx = sh.round().long().reshape((P, P) + rot.shape)
            assert torch.equal(idx.double(), sh.reshape(idx.shape))  # a pure permutation
            self._groups[key] = idx
        return self._groups[key]

    def encodings(self, L: int) -> torch.Tensor:
        """All distinct g·v with z = 0: (P, P, |D4|, C, L, L), indexed by (t mod P, d)."""
        idx = self._encoding_index(L).to(self.v.device)
        # index_select, not v[idx]: its gradient is an index_add, summed in a fixed order (the
        # gradient of advanced indexing, an accumulating index_put, is not reproducible with
        # several CPU threads)
        return torch.index_select(self.v.reshape(-1), 0, idx.reshape(-1)).reshape(idx.shape)

    def encode(self, g: torch.Tensor, L: int) -> torch.Tensor:
        """g̃·v for integer elements g (..., 4) = (ty, tx, d, z)."""
        V = self.encodings(L)
        P = self.period
        n_point = V.shape[2]
        row = ((g[..., 0] % P) * P + g[..., 1] % P) * n_point + g[..., 2] % n_point
        # (a row gather by index_select: a reproducible gradient, as in encodings)
        e = torch.index_select(V.reshape((-1,) + V.shape[3:]), 0, row.reshape(-1))
        e = e.reshape(row.shape + V.shape[3:])
        sign = 1.0 - 2.0 * g[..., 3].to(e.dtype)
        return e * sign.reshape(sign.shape + (1, 1, 1))

    # -- the canonicalizer -----------------------------------------------------------------------
    def group_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Equivariant logits ℓ_x(g), shape (B, L, L, |P|, 2) (all zero without a learned
        canonicalizer: q uniform on G)."""
        if self.canon is None:
            L = x.shape[-1]
            return x.new_zeros((x.shape[0], L, L, len(self.group(L).point_group), N_FLIP))
        u, w = self.split(x)
        plus, minus = self.canon(u, w)
        ell = torch.stack([plus, minus], -1).permute(0, 2, 3, 1, 4)
        return ell * self.canon_log_scale.exp()

    def orbit(self, x: torch.Tensor) -> Orbit:
        """The exact stabilizer / canonical-order structure of one input x (C, L, L)."""
        G = self.group(x.shape[-1])
        return Orbit(x.detach().cpu().numpy(), G, self.rho_in.cpu().numpy(),
                     self.odd_in.cpu().numpy())

    def stabilizer(self, x: torch.Tensor) -> list:
        """All elements s with s·x == x exactly (x one sample (C, L, L)), as tuples."""
        return [tuple(e) for e in self.orbit(x).elements().tolist()]

    def symmetrize(self, ell: torch.Tensor, x: torch.Tensor, orbits=None) -> torch.Tensor:
        """ℓ̄(g) = max over s in Stab(x) of ℓ(s·g): exact ties on stabilizer cosets.

        Stab = ∪_r r·T_x (T_x the translations fixing x, normal in Stab), so
        ℓ̄(g) = max_r M(r·g) with M(h) = max_{τ ∈ T_x} ℓ(τ·h), a max over rolls of the
        translation grid by T_x's two generators."""
        B, L = x.shape[0], x.shape[-1]
        G = self.group(L)
        if orbits is None:
            orbits = [self.orbit(x[b]) for b in range(B)]
        out = []
        for b, o in enumerate(orbits):
            M = ell[b].reshape(L, L, G.n_local)
            if o.translation_order > 1:
                q, s_ = o.q, o.s
                acc = M
                for k in range(1, L // o.px):
                    acc = torch.maximum(acc, M.roll(-k * o.px, 1))
                M = acc
                for k in range(1, L // q):
                    acc = torch.maximum(acc, M.roll((-k * q, -k * s_), (0, 1)))
                M = acc
            flat = M.reshape(-1)
            best = flat
            for r in o.coset_reps:
                if r == (0, 0, 0, 0):
                    continue
                key = ("perm", L, r)
                if key not in self._groups:
                    self._groups[key] = G.left_perm(r)
                best = torch.maximum(best, flat[self._groups[key].to(flat.device)])
            out.append(best)
        return torch.stack(out).reshape(ell.shape)

    def canonical_sets(self, x: torch.Tensor, tiebreak: bool = True) -> list:
        """Per input, a bool mask over G of the elements a canonical draw picks from: the
        near-maximizers of ℓ̄ (within :data:`TIE_TOLERANCE`, relative), cut down to one
        stabilizer coset by the exact canonical order (``tiebreak``).  Also returns, per
        input, (number of near-maximizers, size of the chosen set, |Stab(x)|)."""
        B = x.shape[0]
        orbits = [self.orbit(x[b]) for b in range(B)]
        with torch.no_grad():  # a support, not a weight: no gradient flows through it
            ell = self.symmetrize(self.group_logits(x), x, orbits).reshape(B, -1)
        masks, sizes = [], []
        for b, o in enumerate(orbits):
            e = ell[b].double()
            top = e >= e.max() - TIE_TOLERANCE * max(1.0, float(e.abs().max()))
            idx = torch.nonzero(top).flatten().cpu().numpy()
            chosen = o.canonical(idx) if tiebreak else idx
            m = torch.zeros_like(top)
            m[torch.as_tensor(chosen, device=m.device)] = True
            masks.append(m)
            sizes.append((len(idx), len(chosen), o.order))
        return torch.stack(masks), sizes

    #: how g̃ is drawn outside training: "canonical" (the inversion kernel proper: the
    #: canonicalizing element composed with a uniform element of the stabilizer, see
    #: :meth:`canonical_sets`) or "gumbel" (g̃ ~ softmax(ℓ̄)).  Training always draws with
    #: Gumbel noise (exploration, straight-through gradients).
    sampling = "canonical"
    #: whether canonical draws cut the near-maximizers of ℓ̄ down to one coset (the exact
    #: canonical order); False: uniform over all near-maximizers (the older behaviour)
    tiebreak = True

    def sample_group(self, x: torch.Tensor, samples: int, generator=None, soft: bool = False,
                     mode: str | None = None):
        """Draw g̃ ~ q(· | x): integer elements (B, K, 4) and (if soft) straight-through weights
        over G' = G / (P·Z²) with the spin flip folded in, (B, K, P, P, |D4|).

        ``mode`` (default: "gumbel" when ``soft``, else :attr:`sampling`): "gumbel" draws from
        softmax(ℓ̄); "canonical" draws uniformly among the maximizers of ℓ̄, which are exact ties
        on the stabilizer cosets, so the draw is γ(x)·s with s uniform on Stab(x).  Both are
        exactly equivariant: q(h·g | h·x) = q(g | x)."""
        if self.canonicalizer == "uniform":
            mode = "uniform"  # no canonicalizer: every draw is uniform on G
        mode = ("gumbel" if soft else self.sampling) if mode is None else mode
        if mode not in SAMPLING_MODES or (
                soft and mode not in ("gumbel", "uniform")):
            raise ValueError(f"unknown sampling mode {mode!r} (soft draws are gumbel)")
        B, L = x.shape[0], x.shape[-1]
        G = self.group(L)
        if mode == "uniform":
            # g̃ uniform on G: the argmax of i.i.d. Gumbel noise (the same stream as the other
            # modes); q(h·g | h·x) = q(g | x) = 1/|G| trivially
            ell = torch.zeros((B, 1, G.order), dtype=torch.float64, device=x.device)
            noisy = gumbel((B, samples, G.order), generator, x.device)
            noise = noisy
        elif mode == "gumbel":
            ell = self.group_logits(x)
            if not soft:
                # exact ties on stabilizer cosets (the draw is then exactly equivariant);
                # training draws (soft) skip it: equivariant up to rounding is enough there
                ell = self.symmetrize(ell, x)
            ell = ell.reshape(B, 1, -1)
            noise = gumbel((B, samples, ell.shape[-1]), generator, x.device)
            noisy = ell.double() + noise
        else:
            top = self.canonical_sets(x, self.tiebreak)[0][:, None, :]
            noise = gumbel((B, samples, G.order), generator, x.device)
            noisy = torch.where(top, noise, torch.full_like(noise, -float("inf")))
        idx = noisy.argmax(-1)  # (B, K): exact ties in ℓ̄ are broken by the noise alone
        G = self.group(L)
        g = torch.stack(G.decompose(idx), -1)
        if not soft:
            return g, None
        P = self.period
        if mode == "uniform":  # nothing to learn: the hard one-hot, no gradient
            w = torch.nn.functional.one_hot(idx, G.order).to(torch.float32)
        else:
            w_soft = torch.softmax((ell.double() + noise).to(ell.dtype) / self.tau, -1)
            hard = torch.nn.functional.one_hot(idx, ell.shape[-1]).to(w_soft.dtype)
            w = hard + w_soft - w_soft.detach()
        w = w.reshape(B, samples, L // P, P, L // P, P, len(G.point_group), N_FLIP).sum((2, 4))
        return g, w[..., 0] - w[..., 1]

    def forward_sites(self, x: torch.Tensor, samples: int = 1, generator=None, g=None,
                      soft: bool | None = None, mode: str | None = None) -> dict:
        B, L = x.shape[0], x.shape[-1]
        K = samples
        if soft is None:
            soft = self.training and torch.is_grad_enabled()
        if g is None:
            g, w = self.sample_group(x, K, generator, soft=soft, mode=mode)
        else:
            g = torch.as_tensor(g, dtype=torch.long, device=x.device).reshape(B, -1, 4)
            K = g.shape[1]
            w = None
        u, w0 = self.split(x)
        uK = u[:, None].expand(-1, K, -1, -1, -1).reshape((B * K,) + u.shape[1:])
        wK = w0[:, None].expand(-1, K, -1, -1, -1)
        if self.v is not None:  # (v = "none": g̃ is drawn but never reaches the network)
            if w is not None:
                V = self.encodings(L)
                e = torch.einsum("bkstd,stdcyx->bkcyx", w.to(V.dtype), V)
            else:
                e = self.encode(g, L)
            wK = torch.cat([wK, e.to(w0.dtype)], 2)
        wK = wK.reshape((B * K,) + wK.shape[2:])
        logits = self.net(uK, wK).reshape(B, K, L, L)
        return {"logits": logits, "g": g}

    def config(self) -> dict:
        c = dict(width=self.net.config["width"], depth=self.net.config["depth"],
                 kernel=self.net.config["kernel"], pe_fields=self.pe_fields,
                 pe_period=self.period, canon_width=self._canon_cfg["canon_width"],
                 canon_depth=self._canon_cfg["canon_depth"], tau=self.tau,
                 canon_scale=self.canon_scale0, encoding=self.encoding)
        if self.v_mode != "learned":
            c["v"] = self.v_mode
        if self.canonicalizer != "learned":
            c["canonicalizer"] = self.canonicalizer
        return {**c, **self._group_config()}
