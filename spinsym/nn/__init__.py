"""The learning half: escnn G-CNNs, SymPE and baselines (imports torch and escnn).

``build_model(kind, **config)`` makes any of the four ground-state predictors.
"""

from __future__ import annotations

from ..errors import ParameterError

MODELS = ("sympe", "gcnn", "noise", "cnn")
#: how SymPE may draw g̃ outside training (``SymPE.sample_group``'s modes)
SAMPLING_MODES = ("canonical", "gumbel", "uniform")
#: how a predictor's logits l become spins at inference: "sign" (the most likely configuration
#: of its product distribution, s = sign l) or "sample" (a draw from it: independent spins with
#: mean tanh l, the distribution whose energy the training loss takes)
DECODE_MODES = ("sign", "sample")


def build_model(kind: str, **config):
    from .baselines import CNNPredictor, GCNNPredictor, NoisePredictor
    from .sympe import SymPE

    table = {"sympe": SymPE, "gcnn": GCNNPredictor, "noise": NoisePredictor, "cnn": CNNPredictor}
    if kind not in table:
        raise ParameterError(f"unknown model {kind!r}; choose one of {', '.join(MODELS)}")
    try:
        return table[kind](**config)
    except TypeError as exc:
        raise ParameterError(f"bad {kind} model config: {exc}") from None
