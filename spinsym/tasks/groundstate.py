"""Train, predict and evaluate ground-state predictors (SymPE and baselines).

Hamiltonians are per-bond Ising couplings on the L × L torus (:mod:`spinsym.couplings`: site
(y, x) owns Jx[y, x] to (y, x+1), Jy[y, x] to (y+1, x), J2p[y, x] to (y+1, x+1), J2m[y, x] to
(y+1, x−1) and h[y, x]); inside this module a set of n of them is a float64 array of bond
fields (n, 5, L, L) = (Jx, Jy, J2p, J2m, h) (:func:`as_bonds` makes one from (n, 4) scalar
rows, couplings objects or mappings).  Training draws them from :data:`FAMILIES`.

Training minimizes the expected energy of a factorized spin distribution: with independent
spins of means m = tanh(logit), E[H] = H(m) because H is multilinear, so the loss is
:func:`spinsym.hamiltonians.ising_energy` evaluated at the mean spins (no labels).  It is divided
by the coupling scale |Jx| + |Jy| + 2|J2| + |h| (the ground state does not depend on a positive
overall factor) and an annealed mean-field entropy term −T·S(m) (T → 0) keeps the early
network from freezing into single-spin-stable but wrong states.

``teacher = "anneal"`` (off by default) adds a second term: each training Hamiltonian also gets
one short simulated anneal (:func:`anneal_states`, the per-bond Metropolis kernel of
:mod:`spinsym.mc.anneal`); where its state has a lower energy than the network's own sample, the
state is moved within the input's exact stabilizer to the image closest to the network's output
(:func:`align_to`: the same energy, and the symmetry breaking the network chose) and the
network's spin distribution gets a cross-entropy term towards it (:func:`teacher_loss`).  No
exact ground state is used; the network stays exactly equivariant (only its training signal
changes).

The homogeneous family is Jx, Jy ∈ [−3, 3], J2 ∈ [−1, 1], h ∈ [−3, 3], randomly rotated
(Jx ↔ Jy) and spin-flipped (h → −h); a fraction sits exactly on the symmetric sub-families
(h = 0, Jx = Jy, J2 = 0) so that degenerate cases are trained on.  The other families (defects,
superlattices, dilution, random fields, ±J and Gaussian glasses, unequal diagonals, mixtures)
are built on it, see :func:`sample_bonds`.

Evaluation: the relative energy gap (E_pred − E_gs)/|E_gs| per Hamiltonian against the exact
minimum: over 4 × 4-periodic configurations for homogeneous couplings at 4 | L, else the exact
per-bond minimum :func:`spinsym.exact.ground_state_bonds` (L ≤ 10); phases (homogeneous
entries) from the order parameters m, m_s, m_x, m_y of the configurations; per family.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..errors import DataError, ParameterError
from ..fileio import atomic_path
from ..hamiltonians import Couplings, ising_energy
from ..lattice import check_size
from ..training import TrainingConfig
from ..nn import DECODE_MODES, SAMPLING_MODES  # noqa: F401  (torch-free; re-exported)
from ..training import resolve_device  # noqa: F401  (re-exported: the one device check)

CHECKPOINT_KIND = "groundstate"
FORMAT_VERSION = 1
MODELS = ("sympe", "gcnn", "noise", "cnn")
#: the training families (``--families``: a comma-separated subset, each optionally with a
#: weight, or "all")
FAMILIES = ("homogeneous", "defect", "superlattice", "diluted", "random_field", "pm_j",
            "gaussian_glass", "unequal_diagonals", "mixture")
#: the fields a stored config of an older spinsym (before per-bond input) gets
LEGACY_FIELDS = {"encoding": "sites", "pe_period": 4, "families": "homogeneous"}
#: the teacher fields of a stored config written before the teacher existed (no teacher)
LEGACY_TEACHER = {"teacher": "none", "teacher_sweeps": 64, "teacher_weight": 1.0}
FAMILY = {"Jx": (-3.0, 3.0), "Jy": (-3.0, 3.0), "J2": (-1.0, 1.0), "h": (-3.0, 3.0)}
BROKEN_PHASES = ("neel", "stripe", "m1/2", "other")
PHASES = ("ferro", "neel", "stripe", "m1/2", "other")


@dataclass(frozen=True)
class TrainConfig(TrainingConfig):
    """Training settings (frozen: override with ``dataclasses.replace`` or ``.override``);
    the same keys make a ``--config`` TOML file."""

    arch: str = "sympe"      # the network: sympe, gcnn, noise or cnn (--model)
    L: int = 8
    steps: int = 1500
    batch: int = 64
    width: int = 12
    canon_width: int = 1
    canon_depth: int = 1
    tau: float = 1.0
    canon_scale: float = 4.0
    T0: float = 0.3          # initial entropy temperature (in units of the coupling scale)
    anneal: float = 0.5      # fraction of the steps over which T goes linearly to 0
    special: float = 0.3     # fraction of Hamiltonians on symmetric sub-families
    hard: float = 0.1        # fraction from the all-antiferro sector in a field (m = 1/2 phases)
    fold: bool = True        # compute on the 4 × 4 torus when that is exact (see compute_size)
    families: str = "all"    # FAMILIES to draw, comma-separated (name or name:weight), or "all"
    pe_period: int = 0       # period of SymPE's / the CNN's encoding v; 0: the training L
    encoding: str = "bonds"  # network input: "bonds" (injective) or "sites" (older)
    # ablations (sympe only, except group): how v enters, how g̃ is drawn, the spatial group
    v: str = "learned"               # learned, fixed (random, never trained) or none
    canonicalizer: str = "learned"   # learned, or uniform (g̃ uniform on G)
    group: str = "p4m"               # p4m (flipRot2dOnR2(4)) or p4 (rot2dOnR2(4)); not cnn
    # the annealing teacher: "anneal" adds a cross-entropy term towards a short simulated
    # annealing run of each training Hamiltonian where it beats the network's own sample
    teacher: str = "anneal"
    teacher_sweeps: int = 256        # sweeps of the teacher's anneal
    teacher_weight: float = 1.0      # weight of the teacher's term (config key)

    ARCHS: ClassVar[tuple] = MODELS
    INT_LIMITS: ClassVar[dict] = {**TrainingConfig.INT_LIMITS, "L": (4, 1024),
                                  "canon_width": (1, 64), "canon_depth": (0, 16),
                                  "pe_period": (0, 1024), "teacher_sweeps": (1, 100000)}
    FLOAT_LIMITS: ClassVar[dict] = {**TrainingConfig.FLOAT_LIMITS, "tau": (1e-6, 100.0),
                                    "canon_scale": (1e-6, 1000.0), "T0": (0.0, 100.0),
                                    "anneal": (0.0, 1.0), "special": (0.0, 1.0),
                                    "hard": (0.0, 1.0), "teacher_weight": (0.0, 1000.0)}
    OPTIONS: ClassVar[dict] = {**TrainingConfig.OPTIONS, "L": "--L", "T0": "--T0",
                               "canon_depth": "--canon-depth", "canon_scale": "--canon-scale",
                               "fold": "--fold", "families": "--families",
                               "pe_period": "--pe-period", "encoding": "--encoding",
                               "v": "--v", "canonicalizer": "--canonicalizer",
                               "group": "--group", "teacher": "--teacher",
                               "teacher_sweeps": "--teacher-sweeps"}

    @classmethod
    def from_dict(cls, values: dict, where: str = "config"):
        # a checkpoint written before per-bond input: its network took the "sites" encoding
        if where == "stored training config" and isinstance(values, dict) \
                and "encoding" not in values:
            values = {**values, **LEGACY_FIELDS}
        # written before the annealing teacher existed: trained without one (now the default)
        if where == "stored training config" and isinstance(values, dict) \
                and "teacher" not in values:
            values = {**LEGACY_TEACHER, **values}
        return super().from_dict(values, where)

    @property
    def period(self) -> int:
        """The period of the positional encoding (pe_period, or L when 0)."""
        return self.pe_period or self.L

    def family_list(self) -> tuple:
        return parse_families(self.families)

    def validate(self) -> "TrainConfig":
        from ..validate import choice

        cfg = super().validate()
        if cfg.L % 2:
            raise ParameterError(f"--L must be even, got {cfg.L}")
        choice(cfg.encoding, "--encoding", ("bonds", "sites"))
        choice(cfg.v, "--v", ("learned", "fixed", "none"))
        choice(cfg.canonicalizer, "--canonicalizer", ("learned", "uniform"))
        choice(cfg.group, "--group", ("p4m", "p4"))
        choice(cfg.teacher, "--teacher", ("none", "anneal"))
        if cfg.arch != "sympe":
            for name, default in (("v", "learned"), ("canonicalizer", "learned")):
                if getattr(cfg, name) != default:
                    raise ParameterError(f"--{name} {getattr(cfg, name)} is a sympe ablation; "
                                         f"the {cfg.arch} model has no {name}")
        if cfg.group != "p4m" and cfg.arch == "cnn":
            raise ParameterError("--group p4 needs an equivariant model (sympe, gcnn, noise); "
                                 "the cnn model has no group")
        if cfg.group != "p4m" and cfg.encoding != "bonds":
            raise ParameterError("--group p4 needs --encoding bonds")
        if not isinstance(cfg.families, str):
            raise ParameterError(f"--families must be a string, got {cfg.families!r}")
        parse_families(cfg.families)
        if cfg.arch in ("sympe", "cnn") and cfg.L % cfg.period:
            raise ParameterError(f"the {cfg.arch} model trains at L divisible by its encoding's "
                                 f"period {cfg.period} (--pe-period), got L = {cfg.L}")
        return cfg


#: the most a family's weight in ``--families`` may be
MAX_FAMILY_WEIGHT = 100


def family_weights(text: str) -> dict:
    """``--families`` → {name: weight}, in draw order.  Comma-separated items: a name of
    :data:`FAMILIES` (weight 1), ``name:k`` (an integer weight 1 ≤ k ≤ 100: drawn k times as
    often as a weight-1 family), or ``all`` (every family not yet named, weight 1); a name given
    twice keeps its last weight."""
    items = [t.strip() for t in str(text).split(",")]
    weights: dict = {}
    for item in items:
        name, sep, k = item.partition(":")
        name = name.strip()
        if name == "all":
            if sep:
                raise ParameterError("--families: all takes no weight (give name:weight for "
                                     "the families to weight)")
            for f in FAMILIES:
                weights.setdefault(f, 1)
            continue
        if name not in FAMILIES:
            raise ParameterError(f"--families: unknown family {name or item!r}; choose from "
                                 f"{', '.join(FAMILIES)} or all (each optionally name:weight)")
        w = 1
        if sep:
            k = k.strip()
            if not (k.isascii() and k.isdigit()) or not 1 <= int(k) <= MAX_FAMILY_WEIGHT:
                raise ParameterError(f"--families: the weight of {name} must be an integer "
                                     f"from 1 to {MAX_FAMILY_WEIGHT}, got {k!r}")
            w = int(k)
        weights[name] = w
    return weights


def parse_families(text: str) -> tuple:
    """``--families`` (:func:`family_weights`) → the draw table: each name repeated by its
    weight, so a uniform draw from it draws the families with those weights.  "all" is
    :data:`FAMILIES` itself (the older draws, unchanged)."""
    return tuple(f for f, w in family_weights(text).items() for _ in range(w))


def model_config(cfg: TrainConfig) -> dict:
    base = dict(width=cfg.width, depth=cfg.depth, kernel=cfg.kernel)
    if cfg.arch == "sympe":
        base.update(pe_fields=cfg.pe_fields, pe_period=cfg.period, canon_width=cfg.canon_width,
                    canon_depth=cfg.canon_depth, tau=cfg.tau, canon_scale=cfg.canon_scale)
    elif cfg.arch == "noise":
        base.update(pe_fields=cfg.pe_fields)
    elif cfg.arch == "cnn":
        base.update(pe_fields=cfg.pe_fields, pe_period=cfg.period)
    if cfg.encoding != "sites":  # (older checkpoints store no encoding: "sites")
        base["encoding"] = cfg.encoding
    # the ablations, only where they differ from the defaults (older checkpoints have none)
    if cfg.arch == "sympe":
        if cfg.v != "learned":
            base["v"] = cfg.v
        if cfg.canonicalizer != "learned":
            base["canonicalizer"] = cfg.canonicalizer
    if cfg.group != "p4m":
        base["group"] = cfg.group
    return base


# ---------------------------------------------------------------------------------------------
# Hamiltonians


def sample_family(rng: np.random.Generator, n: int, special: float = 0.0,
                  hard: float = 0.0) -> np.ndarray:
    """n couplings (Jx, Jy, J2, h) from the family, randomly rotated and spin-flipped; a
    fraction ``special`` is put on h = 0, Jx = Jy or J2 = 0 (one chosen at random), and a
    fraction ``hard`` is drawn from the sector Jx, Jy, J2 < 0, |h| ≥ 1 where the rare m = ½
    ground states live (a small corner of the family, so otherwise almost never seen)."""
    lo = np.array([v[0] for v in FAMILY.values()])
    hi = np.array([v[1] for v in FAMILY.values()])
    p = lo + (hi - lo) * rng.random((n, 4))
    hd = rng.random(n) < hard
    p[hd, :3] = -np.abs(p[hd, :3])
    p[hd, 3] = np.sign(p[hd, 3] + 1e-300) * (1.0 + 2.0 * rng.random(int(hd.sum())))
    sp = rng.random(n) < special
    which = rng.integers(0, 3, n)
    p[sp & (which == 0), 3] = 0.0
    sel = sp & (which == 1)
    p[sel, 1] = p[sel, 0]
    p[sp & (which == 2), 2] = 0.0
    swap = rng.random(n) < 0.5
    p[swap, 0], p[swap, 1] = p[swap, 1].copy(), p[swap, 0].copy()
    flip = rng.random(n) < 0.5
    p[flip, 3] *= -1
    return p


def _constant_bonds(p: np.ndarray, L: int) -> np.ndarray:
    """(n, 4) rows (Jx, Jy, J2, h) → (n, 5, L, L) bond fields, J2 on both diagonals."""
    p = np.asarray(p, dtype=np.float64)
    return np.ascontiguousarray(np.broadcast_to(p[:, [0, 1, 2, 2, 3], None, None],
                                                (len(p), 5, L, L)))


def _modify(rng: np.random.Generator, b: np.ndarray, kind: str) -> None:
    """Apply one per-bond modification ``kind`` to bond fields b (5, L, L) in place."""
    L = b.shape[-1]
    y, x = (int(v) for v in rng.integers(0, L, 2))
    if kind == "defect":
        what = rng.integers(0, 4)
        if what == 0:    # a flipped bond
            c = rng.integers(0, 4)
            b[c, y, x] = -b[c, y, x] if b[c, y, x] != 0 else rng.choice([-1.0, 1.0])
        elif what == 1:  # a removed bond (or a strong one where there was none)
            c = rng.integers(0, 4)
            b[c, y, x] = 0.0 if b[c, y, x] != 0 else rng.uniform(-2, 2)
        elif what == 2:  # a vacancy: the site's eight bonds and its field
            b[:, y, x] = 0.0
            b[0, y, (x - 1) % L] = b[1, (y - 1) % L, x] = 0.0
            b[2, (y - 1) % L, (x - 1) % L] = b[3, (y - 1) % L, (x + 1) % L] = 0.0
        else:            # a line defect: the bonds crossing one row (or column), scaled
            f = rng.choice([-1.0, 0.0, 0.5, 2.0])
            if rng.random() < 0.5:
                b[1:4, y, :] *= f   # bonds from row y to row y + 1
            else:
                b[0, :, x] *= f     # x-bonds from column x to x + 1
                b[2, :, x] *= f
                b[3, :, (x + 1) % L] *= f
    elif kind == "superlattice":
        P = int(rng.choice([2, 4]))
        phase = np.arange(L) % P
        pattern = np.where(phase < P // 2, 1.0, -1.0) if rng.random() < 0.5 else \
            np.cos(2 * np.pi * phase / P).round(12)
        c = int(rng.integers(0, 5))
        amp = rng.uniform(-2, 2)
        mod = amp * pattern
        if rng.random() < 0.5:
            b[c] += mod[None, :]   # modulated along x
        else:
            b[c] += mod[:, None]   # along y
    elif kind == "diluted":
        keep = rng.random((4, L, L)) < rng.uniform(0.5, 0.9)
        b[:4] *= keep
    elif kind == "random_field":
        sigma = rng.uniform(0.3, 2.0)
        if rng.random() < 0.5:
            b[4] += sigma * rng.normal(size=(L, L))
        else:
            b[4] += sigma * rng.choice([-1.0, 1.0], size=(L, L))
    elif kind == "glass_noise":
        b[:2] *= rng.choice([-1.0, 1.0], size=(2, L, L))
    else:  # pragma: no cover - callers pass the names above
        raise ValueError(kind)


def sample_bonds(rng: np.random.Generator, n: int, L: int, families=FAMILIES,
                 special: float = 0.3, hard: float = 0.1) -> tuple[np.ndarray, list]:
    """n per-bond Hamiltonians (n, 5, L, L) and their family names, each entry of ``families``
    equally likely (a name repeated k times, as :func:`parse_families` gives for name:k, is
    drawn k times as often).

    * homogeneous: :func:`sample_family` (``special``, ``hard`` as there);
    * defect: a homogeneous one with a flipped or removed bond, a vacancy or a line defect;
    * superlattice: one coupling (or h) modulated with period 2 or 4 along x or y;
    * diluted: every bond kept with probability p ∈ [0.5, 0.9];
    * random_field: homogeneous bonds, h_i = h + σ·N(0, 1) or ± σ;
    * pm_j: ±J nearest-neighbour bonds (random signs, J ∈ [0.5, 2]), J2 ∈ [−0.3, 0.3];
    * gaussian_glass: N(0, 1) nearest-neighbour bonds, N(0, 0.3²) diagonals;
    * unequal_diagonals: homogeneous with J2p ≠ J2m (a third of them the triangular lattice,
      J2m = 0, J2p = Jx = Jy);
    * mixture: a homogeneous one with two modifications from the list above.
    Then a uniformly random element of G (translation, D4, spin flip) acts on each, and a
    fraction ``special`` of the non-homogeneous ones gets h = 0 (spin-flip symmetric)."""
    families = tuple(families)
    L = int(L)
    fam = [families[i] for i in rng.integers(0, len(families), n)]
    base = _constant_bonds(sample_family(rng, n, special, hard), L).copy()
    from ..symmetry import torus_group

    G = torus_group(L)
    for i, f in enumerate(fam):
        b = base[i]
        if f == "homogeneous":
            continue
        if f in ("defect", "superlattice", "diluted", "random_field"):
            _modify(rng, b, f)
        elif f == "pm_j":
            J = rng.uniform(0.5, 2.0)
            b[:2] = J * rng.choice([-1.0, 1.0], size=(2, L, L))
            b[2:4] = rng.uniform(-0.3, 0.3)
            b[4] = rng.uniform(-0.5, 0.5)
        elif f == "gaussian_glass":
            b[:2] = rng.normal(size=(2, L, L))
            b[2:4] = 0.3 * rng.normal(size=(2, L, L))
            b[4] = rng.uniform(-0.5, 0.5)
        elif f == "unequal_diagonals":
            if rng.random() < 1 / 3:
                J = rng.uniform(-3, 3)
                b[:3] = J
                b[3] = 0.0
            else:
                b[2] = rng.uniform(-2, 2)
                b[3] = rng.uniform(-2, 2)
        elif f == "mixture":
            kinds = ("defect", "superlattice", "diluted", "random_field", "glass_noise")
            for k in rng.choice(len(kinds), 2, replace=False):
                _modify(rng, b, kinds[int(k)])
        if rng.random() < special:
            b[4] = 0.0
        g = G.random_element(rng)
        moved = G.act_bonds(g, b[:4])
        b[:4] = moved
        b[4] = G.act(g, b[4])
    return base, fam


def as_bonds(params, L: int) -> np.ndarray:
    """Hamiltonians as bond fields (n, 5, L, L) float64, from (n, 4) scalar rows (Jx, Jy, J2,
    h), an (n, 5, L, L) array, or a sequence of :class:`~spinsym.hamiltonians.Couplings`,
    :class:`~spinsym.couplings.BondCouplings` or mappings (:func:`spinsym.couplings.as_couplings`)."""
    from ..couplings import BondCouplings, as_couplings
    from ..hamiltonians import Couplings as _C

    if isinstance(params, HamiltonianSet):
        params = params.bonds
    if isinstance(params, np.ndarray) or (isinstance(params, (list, tuple)) and params
                                          and np.ndim(params[0]) >= 1
                                          and not isinstance(params[0], dict)):
        a = np.asarray(params, dtype=np.float64)
        if a.ndim == 2 and a.shape[1] == 4:
            return _constant_bonds(a, L)
        if a.ndim == 4 and a.shape[1] == 5:
            if a.shape[2:] != (L, L):
                raise ParameterError(f"bond fields are {a.shape[2]} × {a.shape[3]}, not "
                                     f"{L} × {L}")
            return a
        raise ParameterError(f"Hamiltonians must be (n, 4) scalar rows or (n, 5, L, L) bond "
                             f"fields, got shape {a.shape}")
    out = np.empty((len(params), 5, L, L))
    for i, c in enumerate(params):
        c = as_couplings(c, L)
        if isinstance(c, _C):
            c = BondCouplings.from_scalar(c)
        out[i] = np.stack(c.arrays(L))
    return out


def scalar_rows(bonds: np.ndarray) -> np.ndarray:
    """(n, 4) rows (Jx, Jy, J2, h) of homogeneous entries with equal diagonals; NaN rows for
    the others."""
    b = np.asarray(bonds, dtype=np.float64)
    first = b[:, :, :1, :1]
    const = (b == first).all(axis=(1, 2, 3)) & (b[:, 2, 0, 0] == b[:, 3, 0, 0])
    rows = np.full((len(b), 4), np.nan)
    rows[const] = b[const][:, [0, 1, 2, 4], 0, 0]
    return rows


@dataclass
class HamiltonianSet:
    """Hamiltonians read from a params file: ``bonds`` (n, 5, L, L), a ``family`` tag each
    ("homogeneous" for scalar entries without a tag) and ``entries`` as given (JSON form)."""

    bonds: np.ndarray
    family: list
    entries: list

    def __len__(self) -> int:
        return len(self.bonds)

    @property
    def L(self) -> int:
        return int(self.bonds.shape[-1])


def parse_hamiltonians(obj, L: int, where: str = "params", check=None) -> HamiltonianSet:
    """A JSON list of Hamiltonians at lattice size L: scalar entries {"Jx", "Jy", "J2", "h"}
    (exactly these keys, as :func:`spinsym.validate.validate_params` checks) or per-bond
    entries {"Jx", "Jy", "J2p", "J2m" (or "J2"), "h"} with numbers or L × L nested lists
    (:meth:`spinsym.couplings.BondCouplings.from_mapping`); each may carry a string "family".
    ParameterError (one line, naming the entry) for anything else.  ``check(n)`` is called
    with the number of entries before any array is built (e.g. a memory check)."""
    from ..couplings import BondCouplings
    from ..validate import validate_params

    if isinstance(obj, dict):
        obj = [obj]
    if not isinstance(obj, list) or not obj:
        raise ParameterError(f"{where}: must hold a non-empty JSON list of Hamiltonians "
                             '({"Jx", "Jy", "J2", "h"} or per-bond {"Jx", "Jy", "J2p", "J2m", '
                             '"h"})')
    if len(obj) > 100000:
        raise ParameterError(f"{where}: {len(obj)} entries; at most 100000")
    if check is not None:
        check(len(obj))
    bonds = np.empty((len(obj), 5, L, L))
    family, entries = [], []
    for i, item in enumerate(obj):
        if not isinstance(item, dict):
            raise ParameterError(f"{where}: entry {i} is not a JSON object")
        item = dict(item)
        fam = item.pop("family", None)
        if fam is not None and not (isinstance(fam, str) and 0 < len(fam) <= 64):
            raise ParameterError(f"{where}: entry {i}: family must be a short string")
        scalar = set(item) == {"Jx", "Jy", "J2", "h"} and not any(
            isinstance(v, (list, tuple, np.ndarray)) for v in item.values())
        if scalar:
            row = validate_params([item])[0]
            bonds[i] = _constant_bonds(row[None], L)[0]
        else:
            try:
                c = BondCouplings.from_mapping(item, L, where=f"{where}: entry {i}")
            except ParameterError:
                raise
            except ValueError:  # numpy's own complaint about ragged nested lists
                raise ParameterError(f"{where}: entry {i}: an array is not rectangular "
                                     "(ragged rows)") from None
            bonds[i] = np.stack(c.arrays(L))
        family.append(fam or ("homogeneous" if scalar else "per-bond"))
        entries.append(obj[i])
    return HamiltonianSet(bonds, family, entries)


def load_hamiltonians(path: str, L: int, check=None) -> HamiltonianSet:
    """The Hamiltonians of a params JSON file at lattice size L (:func:`parse_hamiltonians`);
    DataError naming the file for anything unreadable or invalid."""
    from ..validate import input_file

    input_file(path, "Hamiltonian file")
    obj = _read_json(path)
    try:
        return parse_hamiltonians(obj, L, where=path, check=check)
    except ParameterError as exc:
        msg = str(exc)
        raise DataError(msg if msg.startswith(path) else f"{path}: {msg}") from None


def _read_json(path: str):
    def no_constant(name):  # NaN, Infinity: not JSON, and never a coupling
        raise ValueError(f"{name} is not a number JSON allows")

    try:
        with open(path, "rb") as f:
            return json.loads(f.read().decode("utf-8"), parse_constant=no_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"malformed JSON in {path}: {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise DataError(f"malformed JSON in {path}: {exc}") from None
    except OSError as exc:
        raise DataError(f"cannot read Hamiltonian file {path}: {exc.strerror or exc}") from None


#: the families of the shipped per-bond held-out set, and how many of each
HELDOUT_BONDS = {"homogeneous": 8, "defect": 16, "superlattice": 16, "diluted": 12,
                 "random_field": 12, "pm_j": 12, "gaussian_glass": 12,
                 "unequal_diagonals": 12, "mixture": 12}


def _family_draws(seed: int, L: int) -> tuple:
    """For each family of :data:`HELDOUT_BONDS` that many draws of :func:`sample_bonds` (half
    of the non-homogeneous ones at h = 0): a list of bond arrays and the family names."""
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    parts, fams = [], []
    for f, k in HELDOUT_BONDS.items():
        b, fam = sample_bonds(rng, k, L, (f,), special=0.5, hard=0.1)
        parts.append(b)
        fams += fam
    return parts, fams


def validation_bonds(seed: int = 20261130, L: int = 8) -> HamiltonianSet:
    """The shipped validation set (data/validation_bonds_L8.json), disjoint from the held-out
    set: the family draws of :func:`heldout_bonds` from another seed, without its hand-picked
    cases.  Inference settings (``predict``'s defaults) are chosen on this set, so the held-out
    set stays a test set."""
    parts, fams = _family_draws(seed, L)
    bonds = np.round(np.concatenate(parts), 6) + 0.0
    entries = [_entry_json(b, f) for b, f in zip(bonds, fams)]
    return HamiltonianSet(bonds, fams, entries)


def heldout_bonds(seed: int = 20260301, L: int = 8) -> HamiltonianSet:
    """The shipped per-bond held-out set (data/heldout_bonds_L8.json): for each family of
    :data:`HELDOUT_BONDS` that many draws of :func:`sample_bonds` (half of the non-homogeneous
    ones at h = 0), plus hand-picked cases: the triangular antiferromagnet, a ±J glass, the
    ferromagnet with one flipped bond, a vacancy in the Néel state, a period-2 dimerized chain
    lattice, all at h = 0.  Values rounded to 6 decimals."""
    parts, fams = _family_draws(seed, L)
    yy, xx = np.indices((L, L))
    extra = []
    tri = np.zeros((5, L, L))
    tri[:3] = -1.0
    extra.append(("unequal_diagonals", tri))
    pm = np.zeros((5, L, L))
    pm[:2] = np.random.default_rng(7).choice([-1.0, 1.0], size=(2, L, L))
    extra.append(("pm_j", pm))
    fb = np.zeros((5, L, L))
    fb[:2] = 1.0
    fb[0, 3, 4] = -1.0
    extra.append(("defect", fb))
    vac = np.zeros((5, L, L))
    vac[:2] = -1.0
    vac[:, 2, 2] = 0.0
    vac[0, 2, 1] = vac[1, 1, 2] = 0.0
    extra.append(("defect", vac))
    dim = np.zeros((5, L, L))
    dim[0] = np.where(xx % 2 == 0, 2.0, -0.5)
    dim[1] = 1.0
    extra.append(("superlattice", dim))
    parts.append(np.stack([b for _, b in extra]))
    fams += [f for f, _ in extra]
    bonds = np.round(np.concatenate(parts), 6) + 0.0
    entries = [_entry_json(b, f) for b, f in zip(bonds, fams)]
    return HamiltonianSet(bonds, fams, entries)


def _entry_json(b: np.ndarray, family: str) -> dict:
    out = {}
    for name, a in zip(("Jx", "Jy", "J2p", "J2m", "h"), b):
        out[name] = float(a.flat[0]) if np.all(a == a.flat[0]) else a.tolist()
    out["family"] = family
    return out


def write_hamiltonians(path: str, hset: HamiltonianSet) -> None:
    """Write a params file of per-bond entries (atomically)."""
    _atomic_write_text(path, json.dumps(hset.entries, separators=(",", ":")) + "\n")


def coupling_scale(params: np.ndarray) -> np.ndarray:
    p = np.asarray(params, dtype=np.float64)
    return np.abs(p[..., 0]) + np.abs(p[..., 1]) + 2 * np.abs(p[..., 2]) + np.abs(p[..., 3])


def parse_params(obj) -> np.ndarray:
    """A list of {"Jx", "Jy", "J2", "h"} dicts (or one dict) → (n, 4) float array."""
    if isinstance(obj, dict):
        obj = [obj]
    if not isinstance(obj, list) or not obj:
        raise DataError("Hamiltonian file must hold a non-empty JSON list of "
                        '{"Jx": .., "Jy": .., "J2": .., "h": ..} objects')
    rows = []
    for i, item in enumerate(obj):
        if not isinstance(item, dict):
            raise DataError(f"Hamiltonian #{i} is not a JSON object")
        unknown = set(item) - {"Jx", "Jy", "J2", "h"}
        if unknown:
            raise DataError(f"Hamiltonian #{i}: unknown keys {sorted(unknown)}")
        try:
            c = Couplings(**{k: item.get(k, d) for k, d in
                             (("Jx", 1.0), ("Jy", 1.0), ("J2", 0.0), ("h", 0.0))})
        except ParameterError as exc:
            raise DataError(f"Hamiltonian #{i}: {exc}") from None
        rows.append([c.Jx, c.Jy, c.J2, c.h])
    return np.array(rows, dtype=np.float64)


def load_params(path: str) -> np.ndarray:
    """The (n, 4) Hamiltonians of a params JSON file, validated by
    :func:`spinsym.validate.validate_params` (exactly the keys Jx, Jy, J2, h in each entry,
    finite numbers, no booleans, |value| <= 1e6).  DataError naming the file otherwise."""
    from ..validate import input_file, validate_params

    input_file(path, "Hamiltonian file")

    def no_constant(name):  # NaN, Infinity: not JSON, and never a coupling
        raise ValueError(f"{name} is not a number JSON allows")

    try:
        with open(path, "rb") as f:
            obj = json.loads(f.read().decode("utf-8"), parse_constant=no_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"malformed JSON in {path}: {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise DataError(f"malformed JSON in {path}: {exc}") from None
    except OSError as exc:
        raise DataError(f"cannot read Hamiltonian file {path}: {exc.strerror or exc}") from None
    try:
        return validate_params(obj)
    except ParameterError as exc:
        raise DataError(f"{path}: {exc}") from None


def write_params(path: str, params: np.ndarray) -> None:
    rows = [dict(zip(("Jx", "Jy", "J2", "h"), (round(float(v), 6) for v in r))) for r in params]
    _atomic_write_text(path, json.dumps(rows, indent=1) + "\n")


def _atomic_write_text(path: str, text: str) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            f.write(text)


def heldout_set(seed: int = 20250301, n: int = 200) -> np.ndarray:
    """The shipped held-out set: n uniform draws from the family (no special sub-family) plus
    degenerate test cases: ferro and Néel at h = 0 (isotropic and anisotropic)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    lo = np.array([v[0] for v in FAMILY.values()])
    hi = np.array([v[1] for v in FAMILY.values()])
    p = lo + (hi - lo) * rng.random((n, 4))
    extra = np.array([[1.0, 1.0, 0.0, 0.0], [2.0, 0.5, 0.2, 0.0], [-1.0, -1.0, 0.0, 0.0],
                      [-2.0, -1.5, 0.3, 0.0], [1.0, -2.0, 0.0, 0.0], [0.5, 0.5, -1.0, 0.0]])
    return np.round(np.concatenate([p, extra]), 6)


# ---------------------------------------------------------------------------------------------
# phases


def order_parameters(spins: np.ndarray) -> dict:
    """m, m_s (Néel), m_x, m_y (stripes) of configurations ``spins[..., L, L]``."""
    from ..lattice import sign_patterns

    s = np.asarray(spins, dtype=np.float64)
    uniform, staggered, stripe_x, stripe_y = sign_patterns(s.shape[-1])
    mean = lambda a: a.mean(axis=(-2, -1))  # noqa: E731
    return {"m": mean(s), "ms": mean(s * staggered), "mx": mean(s * stripe_x),
            "my": mean(s * stripe_y)}


def classify(spins: np.ndarray) -> np.ndarray:
    """Phase label of each configuration: ferro (|m| = 1: ferro or field-polarized), neel,
    stripe (|m_x| or |m_y| = 1), m1/2 (|m| = ½), other."""
    op = order_parameters(spins)
    tol = 1e-9
    out = np.full(np.shape(op["m"]), "other", dtype=object)
    out[np.abs(np.abs(op["m"]) - 0.5) < tol] = "m1/2"
    out[(np.abs(op["mx"]) > 1 - tol) | (np.abs(op["my"]) > 1 - tol)] = "stripe"
    out[np.abs(op["ms"]) > 1 - tol] = "neel"
    out[np.abs(op["m"]) > 1 - tol] = "ferro"
    return out


def exact_reference(params: np.ndarray) -> dict:
    """Exact ground-state energies per site and phases (minimum over 4 × 4-periodic states)."""
    from ..exact import ground_state_energies, ground_state_ising

    e = ground_state_energies(params)
    phases = []
    for p in params:
        cfgs = ground_state_ising(Couplings(*p), period=4)["configs"]
        labels = set(classify(cfgs).tolist())
        # a tie between phases (a boundary): report the most symmetric label found
        for name in PHASES:
            if name in labels:
                phases.append(name)
                break
    return {"energy_per_site": e, "phase": np.array(phases, dtype=object)}


# ---------------------------------------------------------------------------------------------
# torch side


def _torch():
    import torch

    from ..training import reuse_freed_memory

    reuse_freed_memory()  # before the first tensor (once per process)
    return torch


def _generator(seed: int, salt: int, device: str = "cpu"):
    torch = _torch()
    state = np.random.SeedSequence([int(seed), int(salt)]).generate_state(2, dtype=np.uint64)
    g = torch.Generator(device="cpu")
    g.manual_seed(int(state[0] % (2 ** 63)))
    return g


def _bond_energy(s, bonds):
    """ising_energy of s (B, K, L, L) with bond fields (B, 5, L, L) (numpy or torch)."""
    Jx, Jy, J2p, J2m, h = (bonds[:, i, None] for i in range(5))
    return ising_energy(s, Jx, Jy, J2p, h, J2m=J2m)


def bond_scale(bonds):
    """Per Hamiltonian, the mean over sites of |Jx| + |Jy| + |J2p| + |J2m| + |h| (for constant
    couplings |Jx| + |Jy| + 2|J2| + |h|, :func:`coupling_scale`); numpy or torch."""
    return abs(bonds).sum(-3).mean((-2, -1)) if not isinstance(bonds, np.ndarray) else \
        np.abs(bonds).sum(-3).mean((-2, -1))


def expected_energy_loss(logits, params_t, T: float):
    """Mean over the batch of [H(tanh(logit)) − T·S]/(N · scale), H from ising_energy.

    ``params_t``: bond fields (B, 5, L, L), or constant couplings (B, 4) = (Jx, Jy, J2, h)."""
    torch = _torch()
    m = torch.tanh(logits)  # (B, K, L, L)
    L = logits.shape[-1]
    N = logits.shape[-1] * logits.shape[-2]
    if params_t.ndim == 2:
        params_t = params_t[:, [0, 1, 2, 2, 3], None, None].expand(-1, -1, L, L)
    E = _bond_energy(m, params_t.to(m.dtype))  # (B, K)
    scale = bond_scale(params_t).to(m.dtype)
    loss = E / N / scale[:, None]
    if T > 0:
        p = ((1 + m) / 2).clamp(1e-7, 1 - 1e-7)
        S = -(p * p.log() + (1 - p) * (1 - p).log()).sum((-2, -1)) / N
        loss = loss - T * S
    return loss.mean()


def compute_size(cfg: TrainConfig) -> int:
    """Lattice on which training is computed.

    With only the homogeneous family the training Hamiltonians are translation invariant; if
    the SymPE / CNN encodings have period 4 (``--pe-period 4``; the plain G-CNN has none),
    every input of the network is 4-periodic: on the L × L torus (4 | L) the stride-1 circular
    convolutions give the 2-D tiling of the 4 × 4-torus computation, and the energy per site
    is the same.  Training "at L" is then *exactly* the computation on the 4 × 4 torus
    (tested).  Per-bond families, a full-lattice encoding and the noise baseline (i.i.d. noise
    per site) are computed at L."""
    homogeneous = set(cfg.family_list()) == {"homogeneous"}
    if cfg.fold and homogeneous and cfg.L % 4 == 0 and (
            cfg.arch == "gcnn" or (cfg.arch in ("sympe", "cnn") and 4 % cfg.period == 0)):
        return 4
    return cfg.L


def _format(rec: dict) -> str:
    return (f"step {rec['step']:5d}  loss {rec['loss']:+.4f}  T {rec['T']:.3f}  "
            f"gap {rec.get('gap', math.nan):.4f}  e/scale {rec.get('energy', math.nan):+.4f}  "
            + (f"taught {rec['taught']:.2f}  " if "taught" in rec else "")
            + f"{rec['seconds']:.0f}s")


def _network_config(mc: dict) -> dict:
    """build_model keywords of a stored model config (no "encoding": an older checkpoint,
    whose network took the "sites" encoding)."""
    return {**mc, "encoding": mc.get("encoding", "sites")}


def train(cfg: TrainConfig, log=None, out: str | None = None,
          resume: str | None = None) -> dict:
    """Train a predictor; returns the final checkpoint dictionary.

    ``out``: checked before any work, then written every ``cfg.checkpoint_every`` steps
    (``complete: False``) and at the end.  ``resume``: a checkpoint of this kind to continue
    (its config, except the run fields of :data:`spinsym.training.RUN_FIELDS`, must equal
    ``cfg``); the result is bit for bit that of the uninterrupted run."""
    from .. import training
    from ..exact import ground_state_energies
    from ..fileio import check_out_path

    cfg = cfg.validate()
    if out is not None:
        check_out_path(out)
    prev = None
    if resume is not None:
        prev, stored = training.read_checkpoint(resume, CHECKPOINT_KIND, TrainConfig)
        training.check_model_config(prev, model_config(stored), resume)
        training.resume_config(stored, cfg.to_dict(), resume)
        training.check_resumable(prev, cfg, resume)
    torch = _torch()
    from ..nn import build_model

    device = resolve_device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    init_seed, data_seed, sample_seed = np.random.SeedSequence(int(cfg.seed)).spawn(3)
    torch.manual_seed(int(init_seed.generate_state(1)[0]))
    model = build_model(cfg.arch, **_network_config(model_config(cfg))).to(device)
    rng = np.random.default_rng(data_seed)
    gen = _generator(int(sample_seed.generate_state(1)[0]), 1)
    np_rngs = {"hamiltonians": rng}
    if cfg.teacher != "none":  # its own stream (the other draws stay those of no teacher)
        np_rngs["teacher"] = teacher_rng = np.random.default_rng(
            np.random.SeedSequence([int(cfg.seed), 4]))
    trainer = training.Trainer(CHECKPOINT_KIND, cfg, model, np_rngs=np_rngs,
                               torch_gens={"frames": gen})
    if prev is not None:
        trainer.restore(prev, resume)
    Lc = compute_size(cfg)
    families = cfg.family_list()
    homogeneous_only = set(families) == {"homogeneous"}

    def step_fn(step: int) -> training.Step:
        if homogeneous_only:  # the older stream of draws (same Hamiltonians as before)
            params = sample_family(rng, cfg.batch, cfg.special, cfg.hard)
            bonds_np = _constant_bonds(params, Lc)
        else:
            bonds_np, _ = sample_bonds(rng, cfg.batch, Lc, families, cfg.special, cfg.hard)
        bt = torch.tensor(bonds_np, dtype=torch.float32, device=device)
        anneal = max(1.0, cfg.anneal * trainer.first_cycle_steps)
        T = cfg.T0 * max(0.0, 1.0 - step / anneal)
        x_in = model.encode_input(bt)
        out_ = model.forward_sites(x_in, samples=1, generator=gen)
        loss = expected_energy_loss(out_["logits"], bt, T)
        taught = None
        if cfg.teacher != "none":
            t_loss, taught = teacher_loss(out_["logits"], bonds_np, x_in, model,
                                          cfg.teacher_sweeps, teacher_rng)
            loss = loss + cfg.teacher_weight * t_loss

        def report():
            if not (step % 50 == 0 or step == cfg.steps - 1):
                return None
            with torch.no_grad():
                spins = torch.where(out_["logits"] >= 0, 1.0, -1.0)
                e = (_bond_energy(spins.double(), bt.double()) / Lc ** 2).mean(1).cpu().numpy()
            # the batch gap against the exact minimum, on its homogeneous entries
            rows = scalar_rows(bonds_np)
            hom = ~np.isnan(rows[:, 0])
            rec = dict(loss=float(loss.detach()), T=T,
                       energy=float(np.mean(e / bond_scale(bonds_np))))
            if hom.any():  # (no key otherwise: NaN would make equal histories unequal)
                egs = ground_state_energies(rows[hom])
                rec["gap"] = float(np.mean((e[hom] - egs) / np.abs(egs)))
            if taught is not None:  # the fraction of the batch the teacher improved on
                rec["taught"] = taught
            return rec
        return training.Step(loss, report)

    def meta() -> dict:
        return {"arch": cfg.arch, "model": "ising", "model_config": model_config(cfg),
                "compute_L": Lc}

    hint = f"spinsym train groundstate --resume {out} --out {out}"
    ckpt = trainer.run(step_fn, meta, out=out, log=log, fmt=_format, resume_hint=hint)
    model.eval()
    return ckpt


def save_checkpoint(ckpt: dict, path: str) -> str:
    """Write a checkpoint atomically (:func:`spinsym.training.save_checkpoint`)."""
    from ..training import save_checkpoint as save

    return save(ckpt, path)


def load_checkpoint(path: str, device: str = "cpu", warn: bool = True):
    """(model in eval mode, checkpoint dict); DataError for missing, foreign or damaged files
    (the stored config is validated before the network is built).  A partial checkpoint
    loads with a one-line warning on stderr (``warn``)."""
    from .. import training
    from ..nn import build_model

    ckpt, cfg = training.read_checkpoint(path, CHECKPOINT_KIND, TrainConfig)
    training.check_model_config(ckpt, model_config(cfg), path)
    try:
        model = build_model(cfg.arch, **_network_config(ckpt["model_config"]))
        model.load_state_dict(ckpt["state_dict"])
    except (RuntimeError, KeyError, TypeError, ParameterError) as exc:
        raise DataError(f"{path}: checkpoint weights do not match its config "
                        f"({type(exc).__name__})") from None
    model.to(device).eval()
    if warn:
        training.check_complete(ckpt, path)
    return model, ckpt


#: the 8 neighbours (nearest and diagonal) as rolls: every bond joins a site to one of them
_NEIGHBOUR_ROLLS = ((0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (1, -1), (-1, 1), (-1, -1))


def flip_gains(spins: np.ndarray, params) -> np.ndarray:
    """Energy decrease of flipping each single spin, (n, K, L, L), rounded to 1e-9 so that gains
    equal in exact arithmetic tie exactly.  H is multilinear, so E(s with s_i flipped) − E(s) =
    −2 s_i ∂H/∂s_i (autograd of hamiltonians.ising_energy, the one energy definition)."""
    torch = _torch()
    L = spins.shape[-1]
    b = torch.tensor(as_bonds(params, L))
    s = torch.tensor(np.ascontiguousarray(spins), dtype=torch.float64, requires_grad=True)
    with torch.enable_grad():
        grad, = torch.autograd.grad(_bond_energy(s, b).sum(), s)
    return (torch.round(2.0 * s.detach() * grad * 1e9) / 1e9).numpy()


def refine(spins: np.ndarray, params, max_iter: int = 1000, rng=None,
           priority: np.ndarray | None = None, pairs: bool = False,
           lines: bool = False) -> np.ndarray:
    """Equivariant zero-temperature descent of predicted configurations (n, K, L, L).

    Each round flips, simultaneously, every site whose flip lowers the energy (gain > 0) and
    whose (gain, priority) beats that of each of its eight neighbours (nearest and diagonal,
    the only sites it interacts with): such sites never interact, so the energy drops by the
    sum of their gains.

    ``rng`` (a numpy Generator): every configuration draws a priority field, a uniformly random
    order of its sites; it breaks ties between equal gains, so the site with the largest
    (gain, priority) always flips and the descent ends only at a single-flip local minimum (no
    flip lowers the energy).  The rule commutes with every translation, rotation, reflection
    and (with h → −h) the spin flip when the priorities move with the input, and the law of
    i.i.d. priorities is invariant under all of them: the output *distribution* stays exactly
    equivariant.  Without ``rng`` the priorities are all equal: ties block (the older
    deterministic rule, which cannot break a symmetry; a fixed point need not be a local
    minimum).  ``priority``: the priority fields themselves, shape of ``spins`` (instead of
    ``rng``; distinct values per configuration for the local-minimum guarantee).
    ``params``: anything :func:`as_bonds` takes.

    ``pairs`` (L > 2): then, repeatedly, each configuration flips the two spins of every bond (nearest
    or diagonal) whose joint flip lowers the energy and whose (gain, larger priority, smaller
    priority) beats that of every bond within one step of it (:func:`_pair_round`), and
    descends again by single flips; it ends at a minimum under single and pair flips.  The
    choice is a G-invariant rule on priorities that move with the input, so the output
    distribution stays equivariant; it needs distinct priorities (``rng`` or ``priority``),
    else bonds with tied keys block.

    ``lines``: when no single (or pair) flip lowers the energy, each configuration flips the
    block of whole rows, or of whole columns, whose flip lowers the energy most
    (:func:`_line_round`), and descends again; it ends at a minimum under single (pair) and
    line-block flips.  A block flip moves two parallel domain walls at once: the stacking
    errors of layered states (e.g. the period-4 ground states of sign-modulated superlattices)
    that no local flip can repair.  The best block is chosen by a G-invariant rule on
    priorities that move with the input (ties between equal gains go to the block whose
    sites' priorities hash highest: with ``rng``, each tied block almost exactly equally
    likely; without distinct priorities, ties block), so the output distribution stays
    equivariant."""
    spins = np.asarray(spins)
    prio = _dense_ranks(_priorities(spins, rng, priority))  # (same order, same ties)
    b = _torch().tensor(as_bonds(params, spins.shape[-1]))
    s = _single_descent(spins, b, max_iter, prio)
    pairs = pairs and spins.shape[-1] > 2  # (at L = 2 two bonds join the same two sites)
    # distinct priorities in every configuration: no two bonds share a key
    distinct = pairs and _all_distinct(prio)
    for _ in range(int(max_iter) if pairs or lines else 0):
        moved = False
        if pairs:
            s, moved = _pair_round(s, b, prio, distinct)
        if lines and not moved:
            s, moved = _line_round(s, b, prio)
        if not moved:
            break
        s = _single_descent(s, b, max_iter, prio)
    return s.to(_torch().int8).numpy()


def _line_round(s, b, prio):
    """One line round of :func:`refine`: in each configuration, flip the block of whole rows
    y = a, …, a + k − 1 (mod L; 1 ≤ k < L), or of whole columns, with the largest energy gain,
    if that gain is positive.  Flipping the block reverses the bonds across its two edges and
    the fields inside it: ΔE = 2 (I_{a−1} + I_{a+k−1} + Σ_block Σ h s), where I_y is the sum of
    J s s over the bonds from row y to row y + 1 (the energy is −Σ J s s − Σ h s), so every
    block's gain is a difference of prefix sums.  Gains are rounded to 1e-9 like the flip
    gains; among equal gains the block with the highest key wins, built from sums over its
    sites of hashed priority ranks (exact, in int64; with random priorities the tied blocks are
    almost exactly equally likely), and a tie there blocks; without distinct priorities any
    tie of gains blocks.  The rule is G-invariant (a rotation maps row blocks
    to column blocks, a reflection or translation maps blocks to blocks, and the hash moves with
    the priorities).  Returns (spins, whether anything flipped)."""
    torch = _torch()
    L = s.shape[-1]
    Jx, Jy, J2p, J2m, h = (b[:, i, None] for i in range(5))
    down = s.roll(-1, -2)
    down_right, down_left = down.roll(-1, -1), down.roll(1, -1)
    # the bonds across the cut below row y, and across the cut right of column x
    # (J2m at (y, x) joins (y, x) to (y + 1, x − 1): it crosses the cut right of column x − 1)
    rows = (Jy * s * down + J2p * s * down_right + J2m * s * down_left).sum(-1)
    cols = (Jx * s * s.roll(-1, -1) + J2p * s * down_right).sum(-2) \
        + (J2m * s * down_left).sum(-2).roll(-1, -1)
    hs = h * s
    # priorities of blocks: two sums over their sites of hashed priority ranks, each modulo
    # 2^31, packed in one int64 (exact): distinct blocks almost surely get distinct keys, and
    # blocks of every size get keys spread alike (a sum of the ranks would favour large blocks)
    key = 0
    for salt in (0x9E3779B9, 0x7F4A7C15):
        u = _hash32(prio.to(torch.int64) + salt)
        part = torch.stack([_block_sums(None, u.sum(-1)), _block_sums(None, u.sum(-2))], 2)
        key = key * (1 << 31) + part % (1 << 31)
    gain = torch.stack([_block_sums(rows, hs.sum(-1), True),
                        _block_sums(cols, hs.sum(-2), True)], 2)
    n, K = s.shape[:2]
    gain = torch.round(gain * 1e9).reshape(n, K, -1)
    key = key.reshape(n, K, -1)
    best = gain.amax(-1, keepdim=True)
    tied = gain == best
    key = torch.where(tied, key, torch.full_like(key, -1))
    top = key.amax(-1, keepdim=True)
    # without distinct priorities (dense ranks short of L² − 1) keys differ only by block
    # size: tied gains then block, as for single and pair flips
    distinct = prio.amax((-2, -1)) == L * L - 1
    move = (best[..., 0] > 0) & ((key == top).sum(-1) == 1) & (distinct | (tied.sum(-1) == 1))
    if not bool(move.any()):
        return s, False
    pick = key.argmax(-1)  # (direction, start a, length k − 1) flattened
    direction, rest = pick // (L * (L - 1)), pick % (L * (L - 1))
    a, k = rest // (L - 1), rest % (L - 1) + 1
    idx = torch.arange(L)
    inside = ((idx - a[..., None]) % L) < k[..., None]  # (n, K, L)
    flip = torch.where((direction == 0)[..., None, None], inside[..., :, None],
                       inside[..., None, :]) & move[..., None, None]
    return torch.where(flip, -s, s), True


def _hash32(x):
    """A 32-bit integer hash (xor-shift-multiply, in int64 without overflow) of int64 tensors
    with values in [0, 2^32): well-mixed pseudo-random values in [0, 2^32)."""
    x = x % (1 << 32)
    for _ in range(2):
        x = ((x ^ (x >> 16)) * 0x45D9F3B) % (1 << 32)
    return x ^ (x >> 16)


def _block_sums(cut, f, gain: bool = False):
    """Over the cyclic blocks y = a, …, a + k − 1 of L rows (a < L, 1 ≤ k < L), the sums of
    ``f`` (…, L) (…, L, L − 1); ``gain``: the energy gain −2 (cut[a − 1] + cut[a + k − 1] +
    sum) of flipping the block, from the cut terms ``cut`` (…, L)."""
    torch = _torch()
    L = f.shape[-1]
    a = torch.arange(L)[:, None]
    k = torch.arange(1, L)[None, :]
    prefix = torch.cat([torch.zeros_like(f[..., :1]), torch.cat([f, f], -1).cumsum(-1)], -1)
    total = prefix[..., a + k] - prefix[..., a.expand(L, L - 1)]
    if not gain:
        return total
    return -2.0 * (cut[..., (a - 1) % L].expand(total.shape) + cut[..., (a + k - 1) % L]
                   + total)


def _dense_ranks(prio):
    """Priorities (…, L, L) → their dense ranks 0, 1, … within each configuration (float64):
    the same order and the same ties, and small integers, so that (max, min) of two ranks
    packs exactly into max·L² + min."""
    torch = _torch()
    flat = prio.reshape(prio.shape[:-2] + (-1,))
    srt, order = torch.sort(flat, dim=-1)
    step = torch.cat([torch.zeros_like(srt[..., :1]),
                      (srt[..., 1:] != srt[..., :-1]).to(srt.dtype)], -1).cumsum(-1)
    return torch.empty_like(step).scatter_(-1, order, step).reshape(prio.shape)


def _all_distinct(ranks) -> bool:
    """Whether dense ranks (:func:`_dense_ranks`) are distinct in every configuration (they
    then run up to L² − 1), at L > 2: then distinct bonds have distinct priority pairs."""
    L = ranks.shape[-1]
    return L > 2 and bool((ranks.amax((-2, -1)) == L * L - 1).all())


def _priorities(spins: np.ndarray, rng, priority):
    torch = _torch()
    n, K, L = spins.shape[0], spins.shape[1], spins.shape[-1]
    if priority is not None:
        return torch.tensor(np.broadcast_to(priority, spins.shape), dtype=torch.float64)
    if rng is None:
        return torch.zeros(spins.shape, dtype=torch.float64)
    return torch.tensor(rng.random((n, K, L * L)).argsort(-1).reshape(spins.shape),
                        dtype=torch.float64)


def _single_descent(spins, b, max_iter, prio):
    """The single-flip rounds of :func:`refine`: spins (array or float64 tensor), bond fields
    ``b`` (tensor), priorities ``prio``; float64 ±1 tensor out."""
    torch = _torch()
    s = torch.as_tensor(np.ascontiguousarray(spins) if isinstance(spins, np.ndarray)
                        else spins, dtype=torch.float64)
    for _ in range(int(max_iter)):
        s.requires_grad_(True)
        with torch.enable_grad():
            grad, = torch.autograd.grad(_bond_energy(s, b).sum(), s)
        s = s.detach()
        # gains rounded to 1e-9 so that gains equal in exact arithmetic (e.g. in a rotated
        # frame, summed in another order) tie exactly
        gain = torch.round(2.0 * s * grad * 1e9)
        flip = gain > 0
        for r in _NEIGHBOUR_ROLLS:
            g_nb, p_nb = gain.roll(r, (-2, -1)), prio.roll(r, (-2, -1))
            flip &= (gain > g_nb) | ((gain == g_nb) & (prio > p_nb))
        if not bool(flip.any()):
            break
        s = torch.where(flip, -s, s)
    return s


#: the bond from site p to p + vector of each bond channel (Jx, Jy, J2p, J2m)
_BOND_VECTORS = ((0, 1), (1, 0), (1, 1), (1, -1))


def _pair_round(s, b, prio, distinct: bool = False):
    """One pair round of :func:`refine`.  Every bond (i, j) gets the key (gain, max priority,
    min priority) of flipping both of its spins, gains −ΔE_ij = g_i + g_j + 4 J_ij s_i s_j from
    the single-flip gains g (autograd of THE energy), rounded to 1e-9 like them.  A bond flips
    if its gain is positive and its key beats that of every other bond with an end within one
    step (nearest or diagonal) of one of its own ends.  Two bonds that both flip are then at
    least two steps apart, so they do not interact and the energy drops by the sum of their
    gains; the best bond of a configuration always flips.  The rule is G-invariant (Chebyshev
    distance on the torus), so the output distribution stays equivariant.  ``prio``: dense
    priority ranks (:func:`_dense_ranks`); ``distinct`` (:func:`_all_distinct`): each key is
    one int64 (the fast path); else keys are ranked by sorting, and bonds with a shared key
    never flip.  Returns (spins, whether anything flipped)."""
    torch = _torch()
    s = s.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        grad, = torch.autograd.grad(_bond_energy(s, b).sum(), s)
    s = s.detach()
    g = 2.0 * s * grad
    n, K, L = s.shape[0], s.shape[1], s.shape[-1]
    nb = len(_BOND_VECTORS)
    r = prio.to(torch.int64)
    gains, pairs = [], []
    for c, (dy, dx) in enumerate(_BOND_VECTORS):
        sj = s.roll((-dy, -dx), (-2, -1))
        gains.append(torch.round((g + g.roll((-dy, -dx), (-2, -1))
                                  + 4.0 * b[:, c, None] * s * sj) * 1e9))
        rj = r.roll((-dy, -dx), (-2, -1))
        pairs.append(torch.maximum(r, rj) * (L * L) + torch.minimum(r, rj))
    gain = torch.stack(gains, 2).reshape(n, K, -1)  # (n, K, 4·L²): bond (c, y, x)
    pm = torch.stack(pairs, 2).reshape(n, K, -1)  # (max rank, min rank), exact in int64
    bits = 2 * max(1, (L * L - 1).bit_length())
    big = float(gain.abs().max()) if gain.numel() else 0.0
    if distinct and big < 2.0 ** (62 - bits):
        # fast path: distinct priority ranks, so the key (gain, max rank, min rank) is one int64
        key = gain.to(torch.int64) * (1 << bits) + pm
        return _flip_best_pairs(s, gain, key, None, nb, L)
    # the dense lexicographic rank of (gain, max priority, min priority) among a
    # configuration's bonds (equal keys, equal rank), and which keys are shared by two bonds
    order = torch.sort(pm, dim=-1, stable=True).indices
    order = order.gather(-1, torch.sort(gain.gather(-1, order), dim=-1, stable=True).indices)
    gs_, ps_ = gain.gather(-1, order), pm.gather(-1, order)
    same = (gs_[..., 1:] == gs_[..., :-1]) & (ps_[..., 1:] == ps_[..., :-1])
    dense = torch.cat([torch.zeros_like(same[..., :1], dtype=torch.int64),
                       (~same).long().cumsum(-1)], -1)
    shared = torch.zeros_like(dense, dtype=torch.bool)
    shared[..., 1:] |= same
    shared[..., :-1] |= same
    rank = torch.empty_like(dense).scatter_(-1, order, dense)
    # a bond whose key another bond shares never flips (equal priorities: ties block)
    unique = ~torch.empty_like(shared).scatter_(-1, order, shared)
    return _flip_best_pairs(s, gain, rank, unique, nb, L)


def _flip_best_pairs(s, gain, key, unique, nb: int, L: int):
    """The selection of :func:`_pair_round` from the bonds' totally ordered keys (n, K, 4·L²):
    flip both ends of every bond with a positive gain whose key is the largest of all bonds
    with an end within one step of one of its ends (``unique``: which keys no other bond
    shares; None: all)."""
    torch = _torch()
    n, K = s.shape[:2]
    rank = key.reshape(n, K, nb, L, L)
    # the best rank of a bond touching each site (its own four and the four it receives)
    site = rank.max(2).values
    for c, (dy, dx) in enumerate(_BOND_VECTORS):
        site = torch.maximum(site, rank[:, :, c].roll((dy, dx), (-2, -1)))
    box = site  # ... then of a bond with an end in each site's 3 × 3 neighbourhood
    for r in ((0, 1), (0, -1)):
        box = torch.maximum(box, site.roll(r, (-2, -1)))
    row = box
    for r in ((1, 0), (-1, 0)):
        box = torch.maximum(box, row.roll(r, (-2, -1)))
    gain = gain.reshape(n, K, nb, L, L)
    move = torch.zeros_like(rank, dtype=torch.bool)
    for c, (dy, dx) in enumerate(_BOND_VECTORS):
        region = torch.maximum(box, box.roll((-dy, -dx), (-2, -1)))
        move[:, :, c] = (rank[:, :, c] == region) & (gain[:, :, c] > 0)
    if unique is not None:
        move &= unique.reshape(move.shape)
    if not bool(move.any()):
        return s, False
    flip = move.any(2).clone()
    for c, (dy, dx) in enumerate(_BOND_VECTORS):
        flip |= move[:, :, c].roll((dy, dx), (-2, -1))  # the partner p + vector
    return torch.where(flip, -s, s), True


def _priority_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), 3]))


#: the inference defaults of ``spinsym predict``, ``evaluate groundstate`` and the API
#: (chosen on data/validation_bonds_L8.json, not on the held-out set): each sample is the
#: lowest-energy of PREDICT_BEST_OF refined draws, SymPE drawing g̃ uniformly on G for them
#: (the canonical draw is the best single guess; for a best-of selection the candidates
#: should differ); and the spins are drawn from the network's output distribution
#: (PREDICT_DECODE).  :func:`predict` itself defaults to one canonical draw, its sign.
PREDICT_BEST_OF = 4
PREDICT_SAMPLING = "uniform"
PREDICT_DECODE = "sample"


def default_sampling(model) -> str | None:
    """The inference default of ``sampling`` for ``model``: :data:`PREDICT_SAMPLING` for a
    model that draws g̃ (SymPE), None for the others."""
    return PREDICT_SAMPLING if getattr(model, "kind", None) == "sympe" else None


def predict(model, params, L: int, samples: int = 1, seed: int = 0,
            device: str = "cpu", batch: int = 64, best_of: int = 1,
            refine_output: bool = True, refine_pairs: bool = True,
            sampling: str | None = None, refine_lines: bool = True,
            decode: str = "sign") -> dict:
    """Spins int8 (n, K, L, L) and, for SymPE, the sampled g̃ (n, K, 4) = (ty, tx, d, z).  Each
    sample draws its own g̃; same seed → same output.

    ``decode`` (:data:`DECODE_MODES`): "sign" takes the sign of each logit (0 → +1), the
    most likely configuration of the network's product distribution; "sample" draws each spin
    from it, +1 with probability (1 + tanh l) / 2 (the mean spin tanh l is what the training
    loss uses), from a stream of the seed.  Both are equivariant (in distribution).

    ``params``: (n, 4) scalar rows (Jx, Jy, J2, h), (n, 5, L, L) bond fields, a
    :class:`HamiltonianSet`, or a sequence of couplings (:func:`as_bonds`).

    ``best_of = R > 1``: each of the K samples is the lowest-energy one of R independent draws
    (the first among ties).  The energy is G-invariant, so this selection keeps the
    distribution equivariant and degenerate ground states equally likely; R = 1 is the plain
    sampler.  ``refine_output``: each configuration goes through :func:`refine` with
    priorities drawn from the seed (equivariant in distribution; ends at single-flip local
    minima); ``refine_pairs`` (the default): the refinement also makes pair flips
    (:func:`refine`, ``pairs``); False: single flips only.  ``refine_lines`` (the default):
    it also flips blocks of whole rows or columns (:func:`refine`, ``lines``).

    ``sampling``: how SymPE draws g̃ (one of :data:`SAMPLING_MODES`; None: the model's own
    default, the canonical draw).  Every mode is equivariant in distribution.  Models that
    draw no g̃ take only None."""
    torch = _torch()

    L = check_size(L, minimum=2)
    if L % 2:
        raise ParameterError(f"L must be even, got {L}")
    model.check_L(L)
    if int(samples) < 1 or int(best_of) < 1:
        raise ParameterError("samples and best_of must be at least 1")
    kw = {}
    if sampling is not None:
        if sampling not in SAMPLING_MODES:
            raise ParameterError(f"sampling must be one of {', '.join(SAMPLING_MODES)}, "
                                 f"got {sampling!r}")
        if getattr(model, "kind", None) != "sympe":
            raise ParameterError(f"sampling applies to models that draw g̃ (sympe), not "
                                 f"{getattr(model, 'kind', type(model).__name__)}")
        if getattr(model, "canonicalizer", "learned") == "uniform" and sampling != "uniform":
            raise ParameterError(f"sampling {sampling!r} needs a canonicalizer; this model was "
                                 "trained without one (--canonicalizer uniform): its g̃ is "
                                 "always uniform")
        kw["mode"] = sampling
    if decode not in DECODE_MODES:
        raise ParameterError(f"decode must be one of {', '.join(DECODE_MODES)}, got {decode!r}")
    K, R = int(samples), int(best_of)
    bonds = as_bonds(params, L)
    gen = _generator(seed, 2)
    spin_gen = _generator(seed, 6) if decode == "sample" else None
    prio_rng = _priority_rng(seed)
    spins, gs = [], []
    step = max(1, batch // R)
    with torch.no_grad():
        for i in range(0, len(bonds), step):
            chunk = bonds[i:i + step]
            bt = torch.tensor(chunk, dtype=torch.float32, device=device)
            out = model(bt, samples=K * R, generator=gen, **kw)
            s = _decode(out["logits"].cpu(), spin_gen).numpy()
            if refine_output:
                s = refine(s, chunk, rng=prio_rng, pairs=refine_pairs, lines=refine_lines)
            g = out["g"].cpu().numpy() if out.get("g") is not None else None
            if R > 1:
                s, g = _best_of(s, chunk, K, R, g)
            spins.append(s)
            if g is not None:
                gs.append(g)
    res = {"spins": np.concatenate(spins)}
    if gs:
        res["g"] = np.concatenate(gs)
    return res


def _decode(logits, gen=None):
    """Spins int8 from logits: their sign (0 → +1), or with a torch Generator ``gen`` a draw
    of independent spins, +1 with probability (1 + tanh l) / 2 = sigmoid(2 l)."""
    torch = _torch()
    if gen is None:
        return torch.where(logits >= 0, 1, -1).to(torch.int8)
    u = torch.rand(logits.shape, generator=gen, dtype=torch.float64)
    return torch.where(u < torch.sigmoid(2.0 * logits.to(torch.float64)), 1, -1).to(torch.int8)


#: relative energy difference below which two configurations count as equally good (far
#: above float64 round-off of a sum over bonds, far below any real energy difference)
ENERGY_TIE = 1e-12


def _best_of(s: np.ndarray, bonds: np.ndarray, K: int, R: int, g=None) -> tuple:
    """Spins (n, K·R, L, L) → the lowest-energy one of each group of R (the first among ties),
    (n, K, L, L), and the same pick of the draws' g̃ (n, K·R, 4) → (n, K, 4) (None stays None).

    Energies within :data:`ENERGY_TIE` (relative) of the minimum are ties: the float sum over
    bonds runs in site order, so a configuration and its image under a symmetry of the input
    can differ in the last bit, and an exact argmin would then prefer one image over the other
    (the selection would not be equivariant)."""
    n = len(bonds)
    e = energies_per_site(s, bonds).reshape(n, K, R)
    low = e.min(-1, keepdims=True)
    pick = (e <= low + ENERGY_TIE * np.maximum(1.0, np.abs(low))).argmax(-1)  # first tie
    rows, cols = np.arange(n)[:, None], np.arange(K)[None, :]
    s = s.reshape((n, K, R) + s.shape[-2:])[rows, cols, pick]
    return s, None if g is None else g.reshape(n, K, R, -1)[rows, cols, pick]


def descent(params, L: int, samples: int = 1, seed: int = 0, restarts: int = 1,
            pairs: bool = True, batch: int = 64, lines: bool = True) -> np.ndarray:
    """The model-free control of the networks: uniformly random spins through the same
    equivariant descent as :func:`predict`'s refinement (:func:`refine`; ``pairs``: also pair
    flips; ``lines``: also line-block flips), the lowest-energy of ``restarts`` such starts per
    sample.  int8 (n, samples, L, L); same seed → same output.  What a network adds is
    measured against this."""
    L = check_size(L, minimum=2)
    if int(samples) < 1 or int(restarts) < 1:
        raise ParameterError("samples and restarts must be at least 1")
    K, R = int(samples), int(restarts)
    bonds = as_bonds(params, L)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 5]))
    prio_rng = _priority_rng(seed)
    out = []
    step = max(1, batch // R)
    for i in range(0, len(bonds), step):
        chunk = bonds[i:i + step]
        s = rng.choice(np.array([-1, 1], np.int8), size=(len(chunk), K * R, L, L))
        s = refine(s, chunk, rng=prio_rng, pairs=pairs, lines=lines)
        if R > 1:
            s, _ = _best_of(s, chunk, K, R)
        out.append(s)
    return np.concatenate(out)


def energies_per_site(spins: np.ndarray, params) -> np.ndarray:
    """ising_energy per site of spins (n, K, L, L) for Hamiltonians ``params`` (anything
    :func:`as_bonds` takes)."""
    L = spins.shape[-1]
    p = params if isinstance(params, np.ndarray) else None
    if p is not None and p.ndim == 2 and p.shape[1] == 4:  # scalar rows: the integer path
        cols = [p[:, i].reshape(-1, 1, 1, 1) for i in range(4)]
        return ising_energy(spins.astype(np.float64), *cols).reshape(spins.shape[:2]) / (L * L)
    b = as_bonds(params, L)
    return np.asarray(_bond_energy(spins.astype(np.float64), b)).reshape(spins.shape[:2]) \
        / (L * L)


def exact_bonds_reference(bonds: np.ndarray) -> dict:
    """Exact ground states of bond fields (n, 5, L, L): energies per site and one minimizing
    configuration each.  Homogeneous entries with equal diagonals at 4 | L: the minimum over
    4 × 4-periodic states (exact for this family); everything else:
    :func:`spinsym.exact.ground_state_bonds` (L ≤ 10)."""
    from ..couplings import BondCouplings
    from ..exact import GROUND_STATE_BONDS_MAX_L, ground_state_bonds, ground_state_ising, tile

    bonds = np.asarray(bonds, dtype=np.float64)
    L = bonds.shape[-1]
    rows = scalar_rows(bonds)
    e = np.empty(len(bonds))
    configs = np.empty((len(bonds), L, L), dtype=np.int8)
    for i, b in enumerate(bonds):
        if not np.isnan(rows[i, 0]) and L % 4 == 0:
            r = ground_state_ising(Couplings(*rows[i]), period=4)
            e[i] = float(r["energy_per_site"])
            configs[i] = tile(r["configs"][0], L)
            continue
        if L > GROUND_STATE_BONDS_MAX_L:
            raise ParameterError(f"the exact reference of per-bond Hamiltonians needs L <= "
                                 f"{GROUND_STATE_BONDS_MAX_L}, got L = {L}")
        r = ground_state_bonds(BondCouplings(*b), L)
        e[i] = r["energy_per_site"]
        configs[i] = r["config"]
    return {"energy_per_site": e, "config": configs}


def evaluate(spins: np.ndarray, params, reference: dict | None = None,
             families=None) -> dict:
    """Relative energy gaps and phases of predicted spins against the exact reference.

    ``params``: (n, 4) scalar rows (the older form, phases from the 4 × 4-periodic reference)
    or anything :func:`as_bonds` takes.  Entries that are homogeneous with equal diagonals are
    also classified by phase; ``families`` (a tag per entry) adds a per-family summary; every
    entry with h = 0 everywhere adds to the spin-flip balance (``z2``)."""
    L = spins.shape[-1]
    if isinstance(params, HamiltonianSet):
        families = params.family if families is None else families
    bonds = as_bonds(params, L)
    rows = scalar_rows(bonds)
    hom = ~np.isnan(rows[:, 0])
    if reference is None:
        reference = exact_bonds_reference(bonds)
    if "phase" not in reference:
        phase = np.full(len(bonds), None, dtype=object)
        if hom.any() and L % 4 == 0:
            phase[hom] = exact_reference(rows[hom])["phase"]
        reference = {**reference, "phase": phase}
    e = energies_per_site(spins, bonds)  # (n, K)
    egs = reference["energy_per_site"]
    gap = (e - egs[:, None]) / np.maximum(np.abs(egs[:, None]), 1e-12)
    gap[np.abs(gap) < 1e-12] = 0.0  # round-off of exact hits (no "-0.0000%")
    gap_mean = gap.mean(1)
    pred_phase = classify(spins)  # (n, K)
    ref_phase = reference["phase"]
    has_phase = np.array([p is not None for p in ref_phase])
    per_phase = {}
    for ph in PHASES:
        sel = has_phase & (ref_phase == ph)
        if sel.any():
            per_phase[ph] = {"n": int(sel.sum()), "mean_gap": float(gap_mean[sel].mean()),
                             "max_gap": float(gap[sel].max()),
                             "phase_accuracy": float((pred_phase[sel] == ph).mean())}
    broken = has_phase & np.isin(ref_phase, BROKEN_PHASES)
    z2sym = np.all(bonds[:, 4] == 0, axis=(1, 2))
    rows_out = []
    for i in range(len(bonds)):
        row = {"e_gs": float(egs[i]), "e_pred_mean": float(e[i].mean()),
               "gap_mean": float(gap_mean[i]), "gap_max": float(gap[i].max()),
               "z2_symmetric": bool(z2sym[i])}
        if hom[i]:
            row.update(Jx=float(rows[i, 0]), Jy=float(rows[i, 1]), J2=float(rows[i, 2]),
                       h=float(rows[i, 3]))
        if families is not None:
            row["family"] = families[i]
        if has_phase[i]:
            row["exact_phase"] = ref_phase[i]
            row["pred_phases"] = {k: int(v) for k, v in
                                  zip(*np.unique(pred_phase[i], return_counts=True))}
        rows_out.append(row)
    rep = {"n_hamiltonians": int(len(bonds)), "samples": int(spins.shape[1]),
           "mean_gap": float(gap_mean.mean()), "max_gap": float(gap.max()),
           "max_hamiltonian_gap": float(gap_mean.max()),
           "median_gap": float(np.median(gap_mean)),
           "broken_mean_gap": float(gap_mean[broken].mean()) if broken.any() else math.nan,
           "phase_accuracy": (float((pred_phase[has_phase] == ref_phase[has_phase][:, None])
                                    .mean()) if has_phase.any() else math.nan),
           "per_phase": per_phase, "per_hamiltonian": rows_out}
    if families is not None:
        per_family = {}
        for f in dict.fromkeys(families):
            sel = np.array([x == f for x in families])
            per_family[f] = {"n": int(sel.sum()), "mean_gap": float(gap_mean[sel].mean()),
                             "worst": float(gap_mean[sel].max()),
                             "max_gap": float(gap[sel].max())}
        rep["per_family"] = per_family
    rep["z2"] = z2_balance(spins, reference.get("config"), z2sym, gap_mean)
    return rep


def canonical_ties(model, params, L: int, batch: int = 64) -> dict | None:
    """For a SymPE model: on how many inputs the near-maximizers of its symmetrized logits
    exceed the input's stabilizer (the canonicalizer cannot tell cosets apart, so the draw
    would be uniform over more than one coset), and on how many the drawn set still exceeds it
    after the exact canonical tie-break (0 by construction).  None for other models and for
    the uniform-canonicalizer ablation (its draw is uniform on G by design)."""
    if getattr(model, "kind", None) != "sympe" or model.canonicalizer != "learned":
        return None
    torch = _torch()
    bonds = as_bonds(params, L)
    before = after = 0
    excess = []
    with torch.no_grad():
        for i in range(0, len(bonds), batch):
            bt = torch.tensor(bonds[i:i + batch], dtype=torch.float32,
                              device=next(model.parameters()).device)
            _, sizes = model.canonical_sets(model.encode_input(bt))
            for n_top, n_chosen, n_stab in sizes:
                before += n_top > n_stab
                after += n_chosen > n_stab
                excess.append(n_top / n_stab)
    n = len(bonds)
    return {"n": n, "argmax_exceeds_stabilizer": before / n,
            "after_tiebreak": after / n, "mean_argmax_cosets": float(np.mean(excess))}


def z2_balance(spins: np.ndarray, configs, z2sym: np.ndarray, gap_mean: np.ndarray) -> dict:
    """Spin-flip balance on the Z2-symmetric (h = 0) entries: each sample counts as + or −
    by the sign of its overlap with that entry's exact ground state (overlap 0: neither).
    Reports the totals, how many entries saw both signs, a two-sided binomial p-value of the
    totals against ½, and the mean gap on these entries."""
    sel = np.flatnonzero(z2sym)
    out = {"n_hamiltonians": int(len(sel)),
           "mean_gap": float(gap_mean[sel].mean()) if len(sel) else math.nan}
    if configs is None or not len(sel):
        return out
    q = np.einsum("nkyx,nyx->nk", spins[sel].astype(np.int64),
                  np.asarray(configs)[sel].astype(np.int64))
    plus, minus = (q > 0).sum(1), (q < 0).sum(1)
    out.update(plus=int(plus.sum()), minus=int(minus.sum()), zero=int((q == 0).sum()),
               both_seen=int(((plus > 0) & (minus > 0)).sum()))
    tot = out["plus"] + out["minus"]
    if tot:
        from scipy.stats import binomtest

        out["binomial_p"] = float(binomtest(out["plus"], tot, 0.5).pvalue)
    return out


def degeneracy_balance(spins: np.ndarray) -> dict:
    """For each Hamiltonian, the counts of the two degenerate ordered states among the samples:
    up/down (sign of m) for ferro samples, the two Néel sublattices (sign of m_s) for Néel."""
    op = order_parameters(spins)
    ph = classify(spins)
    out = []
    for i in range(spins.shape[0]):
        f = ph[i] == "ferro"
        n = ph[i] == "neel"
        out.append({"ferro_up": int((f & (op["m"][i] > 0)).sum()),
                    "ferro_down": int((f & (op["m"][i] < 0)).sum()),
                    "neel_plus": int((n & (op["ms"][i] > 0)).sum()),
                    "neel_minus": int((n & (op["ms"][i] < 0)).sum())})
    return out


# ---------------------------------------------------------------------------------------------
# the annealing teacher (training option ``teacher = "anneal"``)


def anneal_states(bonds: np.ndarray, sweeps: int, rng: np.random.Generator) -> np.ndarray:
    """One simulated-annealing run per Hamiltonian of bond fields (n, 5, L, L): uniformly
    random initial spins, ``sweeps`` sweeps of the per-bond Metropolis kernel on the default
    geometric schedule of :mod:`spinsym.mc.anneal`; int8 (n, L, L).  Spins and streams come
    from ``rng`` (so a resumed training run draws the same)."""
    from ..mc import ising
    from ..mc.anneal import anneal_chain, default_temperatures, schedule
    from ..mc.rng import state_from_seedsequence

    n, L = len(bonds), bonds.shape[-1]
    out = np.empty((n, L, L), dtype=np.int8)
    for i in range(n):
        arrays = tuple(np.ascontiguousarray(a) for a in bonds[i])
        t_hi, t_lo = default_temperatures(arrays)
        four, rows, T = ising.bond_tables(*arrays)
        spins = rng.choice(np.array([-1, 1], np.int8), size=(L, L))
        state = state_from_seedsequence(np.random.SeedSequence(
            int(rng.integers(0, 2 ** 63, dtype=np.int64))))
        anneal_chain(spins, state, schedule(t_hi, t_lo, int(sweeps)), four, rows, T, False)
        out[i] = spins
    return out


def align_to(states: np.ndarray, means: np.ndarray, x: np.ndarray, group, rho, odd) -> np.ndarray:
    """Each state (n, L, L) moved by the element of the input's exact stabilizer Stab(x_i)
    (:class:`spinsym.nn.stabilizer.Orbit`) that maximizes its overlap with ``means`` (n, L, L),
    the network's mean spins.  A stabilizer element maps the Hamiltonian to itself, so the
    energy is unchanged; the target then follows the symmetry breaking the network chose (for
    SymPE: the one g̃ selected) instead of an arbitrary one."""
    from ..nn.stabilizer import Orbit

    out = np.empty_like(states)
    L = states.shape[-1]
    n_point = len(group.point_group)
    for i in range(len(states)):
        S = states[i].astype(np.float64)
        F_m = np.fft.fft2(means[i])
        # corr[d][t] = Σ_p m(p) (R_d S)(p − t) = overlap of m with the translate of R_d·S
        corr = np.stack([np.fft.ifft2(np.conj(np.fft.fft2(group.spatial(S, d))) * F_m).real
                         for d in range(n_point)])
        el = Orbit(x[i], group, rho, odd).elements()
        score = corr[el[:, 2], el[:, 0] % L, el[:, 1] % L] * np.where(el[:, 3] == 1, -1.0, 1.0)
        best = tuple(int(v) for v in el[int(np.argmax(score))])
        out[i] = group.act(best, states[i])
    return out


def teacher_loss(logits, bonds_np: np.ndarray, x, model, sweeps: int,
                 rng: np.random.Generator):
    """The annealing teacher's term: for each Hamiltonian whose annealed state (aligned by
    :func:`align_to`) has a lower energy than the network's own sample (the sign of its logits),
    the binary cross-entropy of the network's spin distribution P(s_i = +1) = σ(2·logit_i)
    towards that state; averaged over the batch (0 where the network's sample is as good).
    No exact ground state is used: the teacher is a short anneal of the training Hamiltonian."""
    torch = _torch()
    L = logits.shape[-1]
    with torch.no_grad():
        hard = torch.where(logits[:, 0] >= 0, 1.0, -1.0).double().cpu().numpy()
        means = torch.tanh(logits[:, 0]).double().cpu().numpy()
    states = anneal_states(bonds_np, sweeps, rng)
    e_net = energies_per_site(hard[:, None].astype(np.int8), bonds_np)[:, 0]
    e_sa = energies_per_site(states[:, None], bonds_np)[:, 0]
    better = e_sa < e_net - 1e-9 * np.maximum(1.0, np.abs(e_net))
    zero = logits.sum() * 0.0
    if not better.any():
        return zero, 0.0
    idx = np.flatnonzero(better)
    group = model.group(L)
    target = align_to(states[idx], means[idx], x[idx].detach().cpu().numpy(), group,
                      model.rho_in.cpu().numpy(), model.odd_in.cpu().numpy())
    t = torch.tensor((target + 1) / 2, dtype=logits.dtype, device=logits.device)
    sel = torch.as_tensor(idx, device=logits.device)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(
        2.0 * logits[sel, 0], t, reduction="none").mean((-2, -1))
    return bce.sum() / logits.shape[0], float(better.mean())
