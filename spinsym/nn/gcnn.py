"""The p4m G-CNN on the torus (escnn, circular padding), made exactly spin-flip equivariant.

Spatial symmetry: every layer is an escnn ``R2Conv`` on ``flipRot2dOnR2(4)`` with
``padding_mode='circular'`` and stride 1, so the network commutes with every translation of the
torus and with the D4 rotations/mirrors (any L, trained at one L and applied at another).
``group="p4"`` (an ablation) builds the same network on ``rot2dOnR2(4)``: equivariant under the
translations and the quarter turns only (point group C4 of :mod:`spinsym.symmetry`).  Its bond
input is the same 16 channels: a D4-regular field restricted to C4 is two C4-regular fields
(channels 0–3 and 4–7, escnn's element order), so the p4 network reads two regular fields per
D4-regular one.

Spin flip: the input splits into an even part u (the bond couplings, see
:mod:`spinsym.nn.fields`) and an odd part w (h and any positional-encoding channels).  The
logit is antisymmetrized,

    logit(u, w) = F(u, w) − F(u, −w),

evaluated as one batch of size 2B, so logit(u, −w) = −logit(u, w) exactly (the spin flip maps
h → −h and σ → −σ).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn

from ..errors import ParameterError
from .fields import escnn, gspace, input_types

#: the spatial groups of the networks and their point groups (:mod:`spinsym.symmetry` names)
GROUPS = {"p4m": "D4", "p4": "C4"}


def check_group(group: str) -> str:
    if group not in GROUPS:
        raise ParameterError(f"unknown group {group!r}; choose one of {', '.join(GROUPS)}")
    return group


@functools.lru_cache(maxsize=None)
def group_space(group: str = "p4m"):
    """The escnn gspace of a network group: flipRot2dOnR2(4) (p4m, the shared
    :func:`spinsym.nn.fields.gspace`) or rot2dOnR2(4) (p4)."""
    check_group(group)
    return gspace() if group == "p4m" else escnn().gspaces.rot2dOnR2(4)


def group_input_types(n_odd_regular: int = 0, n_odd_trivial: int = 0,
                      encoding: str = "bonds", group: str = "p4m"):
    """(even, odd) escnn field types of the network input for a group:
    :func:`spinsym.nn.fields.input_types` for p4m; for p4 the same channels with each
    D4-regular field read as two C4-regular ones (bond encoding only)."""
    if check_group(group) == "p4m":
        return input_types(n_odd_regular, n_odd_trivial, encoding)
    if encoding != "bonds":
        raise ParameterError(f"the p4 group needs the bonds encoding, got {encoding!r}")
    enn = escnn().nn
    gs = group_space(group)
    even = enn.FieldType(gs, [gs.regular_repr] * 4)
    odd = enn.FieldType(gs, [gs.trivial_repr] * (1 + n_odd_trivial)
                        + [gs.regular_repr] * n_odd_regular)
    return even, odd


def group_fiber_matrices(field_type) -> torch.Tensor:
    """ρ(d) of a field type for the elements of its own point group (escnn order, the order of
    :class:`spinsym.symmetry.PointGroup`), stacked: (|P|, C, C) float64."""
    return torch.tensor(np.stack([field_type.fiber_representation(e)
                                  for e in field_type.fibergroup.elements]),
                        dtype=torch.float64)


def _body(in_type, width: int, depth: int, kernel: int, out_type):
    enn = escnn().nn
    gs = in_type.gspace
    hidden = enn.FieldType(gs, [gs.regular_repr] * width)
    layers = []
    t = in_type
    for _ in range(depth):
        layers.append(enn.R2Conv(t, hidden, kernel_size=kernel, padding=kernel // 2,
                                 padding_mode="circular"))
        layers.append(enn.ReLU(hidden, inplace=True))
        t = hidden
    layers.append(enn.R2Conv(t, out_type, kernel_size=1))
    return enn.SequentialModule(*layers)


class GCNN(nn.Module):
    """p4m- (or, with ``group="p4"``, p4-) equivariant body with even input u, odd input w.

    ``out='trivial'``: one spin logit per site, antisymmetrized (odd under the spin flip).
    ``out='regular'``: one D4-regular field per site for each sign of w, returned as
    ``(Φ(u, w), Φ(u, −w))`` (the canonicalizer's logits for z = 0 and z = 1).
    """

    def __init__(self, n_odd_regular: int = 0, n_odd_trivial: int = 0, width: int = 8,
                 depth: int = 4, kernel: int = 3, out: str = "trivial", encoding: str = "bonds",
                 group: str = "p4m"):
        super().__init__()
        enn = escnn().nn
        gs = group_space(group)
        self.even_type, self.odd_type = group_input_types(n_odd_regular, n_odd_trivial,
                                                          encoding, group)
        self.in_type = self.even_type + self.odd_type
        self.out = out
        out_type = enn.FieldType(gs, [gs.trivial_repr] if out == "trivial" else [gs.regular_repr])
        self.body = _body(self.in_type, width, depth, kernel, out_type)
        self.config = dict(n_odd_regular=n_odd_regular, n_odd_trivial=n_odd_trivial, width=width,
                           depth=depth, kernel=kernel, out=out, encoding=encoding)
        if group != "p4m":  # (older configs have no group: p4m)
            self.config["group"] = group

    def _both(self, u: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        enn = escnn().nn
        B = u.shape[0]
        x = torch.cat([torch.cat([u, w], 1), torch.cat([u, -w], 1)], 0)
        y = self.body(enn.GeometricTensor(x, self.in_type)).tensor
        return y[:B], y[B:]

    def forward(self, u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        plus, minus = self._both(u, w)
        if self.out == "trivial":
            return (plus - minus)[:, 0]
        return plus, minus

    def export(self) -> "ExportedGCNN":
        """A plain-torch copy (no escnn at run time), circular padding preserved."""
        return ExportedGCNN(self)


def fix_circular(module: nn.Module, padding_mode: str = "circular") -> nn.Module:
    """escnn's ``export()`` builds ``nn.Conv2d`` with zero padding whatever the R2Conv had:
    put the circular padding back on every exported convolution that pads."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d) and any(p > 0 for p in m.padding):
            m.padding_mode = padding_mode
    return module


class ExportedGCNN(nn.Module):
    """The exported (pure torch) network with the same antisymmetrization."""

    def __init__(self, gcnn: GCNN):
        super().__init__()
        was_training = gcnn.training
        gcnn.eval()
        with torch.no_grad():
            self.body = fix_circular(gcnn.body.export())  # export() builds new modules
        gcnn.train(was_training)
        self.out = gcnn.out

    def forward(self, u: torch.Tensor, w: torch.Tensor):
        B = u.shape[0]
        x = torch.cat([torch.cat([u, w], 1), torch.cat([u, -w], 1)], 0)
        y = self.body(x)
        if self.out == "trivial":
            return (y[:B] - y[B:])[:, 0]
        return y[:B], y[B:]
