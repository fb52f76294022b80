"""Baselines: the plain G-CNN, the G-CNN with noise injection, a non-equivariant CNN.

* ``gcnn``: the same antisymmetrized p4m G-CNN as SymPE, without positional encoding (``group``:
  "p4m", or "p4" for the rotations-only ablation; also for ``noise``).  Exactly
  equivariant and deterministic, so a symmetric input gives a symmetric output: a constant
  Hamiltonian gives a constant configuration (never Néel or stripes); at h = 0 its logit is
  exactly 0 (ties are read as spin up).
* ``noise``: the G-CNN with ``pe_fields`` regular fields of i.i.d. N(0, 1) noise as extra odd
  input channels (the paper's noise-injection alternative): an equivariant distribution, but
  the network must learn to turn noise into a consistent pattern.
* ``cnn``: a plain ``nn.Conv2d`` network with circular padding and a fixed learned positional
  encoding (period ``pe_period``, tiled) concatenated to the input: breaks every symmetry, always in the same
  way; not equivariant.
"""

from __future__ import annotations

import torch
from torch import nn

from ..symmetry import point_group
from .fields import normalize
from .gcnn import GCNN
from .sympe import Predictor


class GCNNPredictor(Predictor):
    kind = "gcnn"

    def __init__(self, width: int = 12, depth: int = 4, kernel: int = 3,
                 encoding: str = "bonds", group: str = "p4m"):
        super().__init__(encoding, group)
        self.net = GCNN(width=width, depth=depth, kernel=kernel, encoding=encoding, group=group)

    def forward_sites(self, x, samples: int = 1, generator=None, **kw):
        u, w = self.split(x)
        logits = self.net(u, w)
        return {"logits": logits[:, None].expand(-1, samples, -1, -1), "g": None}

    def config(self):
        c = self.net.config
        return dict(width=c["width"], depth=c["depth"], kernel=c["kernel"],
                    encoding=self.encoding, **self._group_config())


class NoisePredictor(Predictor):
    kind = "noise"

    def __init__(self, width: int = 12, depth: int = 4, kernel: int = 3, pe_fields: int = 2,
                 encoding: str = "bonds", group: str = "p4m"):
        super().__init__(encoding, group)
        self.pe_fields = int(pe_fields)
        self.net = GCNN(n_odd_regular=pe_fields, width=width, depth=depth, kernel=kernel,
                        encoding=encoding, group=group)

    def forward_sites(self, x, samples: int = 1, generator=None, noise=None, **kw):
        B, L = x.shape[0], x.shape[-1]
        K = samples
        C = self.pe_fields * len(point_group(self.point))
        if noise is None:
            gen_device = generator.device if generator is not None else x.device
            noise = torch.randn((B, K, C, L, L), generator=generator, device=gen_device,
                                dtype=x.dtype).to(x.device)
        u, w0 = self.split(x)
        uK = u[:, None].expand(-1, K, -1, -1, -1).reshape((B * K,) + u.shape[1:])
        wK = torch.cat([w0[:, None].expand(-1, K, -1, -1, -1), noise], 2)
        logits = self.net(uK, wK.reshape((B * K,) + wK.shape[2:])).reshape(B, K, L, L)
        return {"logits": logits, "g": None}

    def config(self):
        c = self.net.config
        return dict(width=c["width"], depth=c["depth"], kernel=c["kernel"],
                    pe_fields=self.pe_fields, encoding=self.encoding, **self._group_config())


class CNNPredictor(Predictor):
    kind = "cnn"

    def __init__(self, width: int = 12, depth: int = 4, kernel: int = 3, pe_fields: int = 2,
                 pe_period: int = 4, encoding: str = "bonds"):
        super().__init__(encoding)
        self.period = int(pe_period)
        self.pe_fields = int(pe_fields)
        channels = width * len(point_group())  # as many channels as the G-CNN's regular fields
        C = pe_fields * len(point_group())  # (D4: the CNN has no group, only the same sizes)
        self.pe = nn.Parameter(torch.randn(C, self.period, self.period))
        layers = []
        c_in = len(self.odd_in) + C
        for _ in range(depth):
            layers += [nn.Conv2d(c_in, channels, kernel, padding=kernel // 2,
                                 padding_mode="circular"), nn.ReLU(inplace=True)]
            c_in = channels
        layers.append(nn.Conv2d(c_in, 1, 1))
        self.body = nn.Sequential(*layers)
        self._cfg = dict(width=width, depth=depth, kernel=kernel, pe_fields=pe_fields,
                         pe_period=pe_period, encoding=encoding)

    def forward_sites(self, x, samples: int = 1, generator=None, **kw):
        B, L = x.shape[0], x.shape[-1]
        pe = self.pe.repeat(1, L // self.period, L // self.period)
        inp = torch.cat([normalize(x), pe[None].expand(B, -1, -1, -1).to(x.dtype)], 1)
        logits = self.body(inp)[:, 0]
        return {"logits": logits[:, None].expand(-1, samples, -1, -1), "g": None}

    def config(self):
        return dict(self._cfg)
