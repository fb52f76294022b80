"""The p4m G-CNN on the torus (escnn, circular padding), made exactly spin-flip equivariant.

Spatial symmetry: every layer is an escnn ``R2Conv`` on ``flipRot2dOnR2(4)`` with
``padding_mode='circular'`` and stride 1, so the network commutes with every translation of the
torus and with the D4 rotations/mirrors (any L, trained at one L and applied at another).

Spin flip: the input splits into an even part u (the bond couplings, see
:mod:`spinsym.nn.fields`) and an odd part w (h and any positional-encoding channels).  The
logit is antisymmetrized,

    logit(u, w) = F(u, w) − F(u, −w),

evaluated as one batch of size 2B, so logit(u, −w) = −logit(u, w) exactly (the spin flip maps
h → −h and σ → −σ).
"""

from __future__ import annotations

import torch
from torch import nn

from .fields import escnn, gspace, input_types


def _body(in_type, width: int, depth: int, kernel: int, out_type):
    enn = escnn().nn
    gs = gspace()
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
    """p4m-equivariant body with even input u, odd input w.

    ``out='trivial'``: one spin logit per site, antisymmetrized (odd under the spin flip).
    ``out='regular'``: one D4-regular field per site for each sign of w, returned as
    ``(Φ(u, w), Φ(u, −w))`` (the canonicalizer's logits for z = 0 and z = 1).
    """

    def __init__(self, n_odd_regular: int = 0, n_odd_trivial: int = 0, width: int = 8,
                 depth: int = 4, kernel: int = 3, out: str = "trivial", encoding: str = "bonds"):
        super().__init__()
        enn = escnn().nn
        gs = gspace()
        self.even_type, self.odd_type = input_types(n_odd_regular, n_odd_trivial, encoding)
        self.in_type = self.even_type + self.odd_type
        self.out = out
        out_type = enn.FieldType(gs, [gs.trivial_repr] if out == "trivial" else [gs.regular_repr])
        self.body = _body(self.in_type, width, depth, kernel, out_type)
        self.config = dict(n_odd_regular=n_odd_regular, n_odd_trivial=n_odd_trivial, width=width,
                           depth=depth, kernel=kernel, out=out, encoding=encoding)

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
