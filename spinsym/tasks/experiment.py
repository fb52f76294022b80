"""The multi-seed ground-state experiment (``spinsym experiment groundstate SPEC.toml --out DIR``).

Every network model of the spec is trained for each seed with the same training settings
(same steps and batch: equal budgets; wall and CPU time are recorded), then evaluated on every
Hamiltonian set of the spec, raw (``refine_output=False``) and refined; simulated annealing
(:mod:`spinsym.mc.anneal`) runs on the same sets with one stream per seed, and at a range of
sweep budgets for the gap-versus-wall-time curve.  The refinement is the equivariant descent of
``groundstate.refine``, with pair flips unless ``refine_pairs = false`` and line-block flips
if ``refine_lines = true``.  The model-free
``descent`` control (``groundstate.descent``) sends uniformly random spins through the same
descent and keeps the best of ``[descent] restarts`` starts per sample: what a network's
output adds to the refinement is measured against it.

References.  On a set with L ≤ 10 every Hamiltonian gets its exact minimum
(:func:`spinsym.exact.ground_state_bonds`).  Homogeneous Hamiltonians at L divisible by 4 get
the minimum over 4 × 4-periodic configurations (exact for that family: all its ground states
are 4 × 4-periodic).  Everywhere else no exact minimum is available, and the reference is the
best energy found by anything in the experiment: SA with the large reference budget, SA at every
budget, every network sample and every descent sample of every seed.  Such gaps are ≥ 0 by construction and are
labelled ``best-known`` in every output.

The gap of one output is (E − E_ref) / |E_ref|.  A network's per-Hamiltonian gap is the mean
over its samples (``mean``) and the best of its samples (``best``).  For each model, variant
(raw, refined; SA: one), set and family, each seed gives the mean gap over the Hamiltonians;
the table reports the mean over seeds and the 95 % confidence half-width of the
t-distribution with (seeds − 1) degrees of freedom.

Resuming: ``DIR/checkpoints/<model>-seed<s>.pt`` is skipped when complete, continued with the
training layer's resume when partial; ``DIR/evals`` and ``DIR/references`` hold each
evaluation, keyed by a hash of what determines it, so a rerun recomputes only what is missing
or out of date.

The spec (TOML; unknown keys are errors, everything is checked before any work)::

    [experiment]
    L = 8                 # training lattice of every network
    seeds = [0, 1, 2]     # training seeds (also the SA seeds); at least 2
    samples = 16          # samples per Hamiltonian at evaluation
    eval_seed = 1         # seed of the network samples
    refine_pairs = true   # the refined variant's descent also flips bond pairs
    refine_lines = true   # ... and blocks of whole rows or columns (absent: false)
    best_of = 1           # each sample: the lowest-energy of this many draws (raw and refined)
    sampling = "uniform"  # how SymPE models draw g̃ (canonical, gumbel, uniform); absent: their
                          # own canonical draw.  The other models draw no g̃.
    decode = "sample"     # logits → spins: a draw from the network's product distribution
                          # (every model); absent: "sign", the most likely configuration
    [train]               # TrainConfig fields shared by every network (steps, batch, width, …)
    steps = 300
    [[models]]            # networks; name unique, arch one of sympe, gcnn, noise, cnn
    name = "sympe"
    arch = "sympe"
    overrides = {}        # per-model TrainConfig fields (ablations); never steps or batch
    [anneal]              # the SA baseline: budget per Hamiltonian
    sweeps = 1000
    restarts = 4
    curve = [1, 4, 16, 64, 256, 1024]   # sweeps per restart for the time curve
    reference_sweeps = 20000            # the best-known reference (large L)
    reference_restarts = 8
    [descent]             # the model-free control: random starts through the same descent
    restarts = 4          # best of this many per sample; 0: no descent row
    [[sets]]              # evaluation sets
    name = "in-distribution"
    L = 8
    source = "heldout"    # heldout (groundstate.heldout_set), family (the training
                          # generator), file (params = "x.json", relative to the spec)
    n = 100               # the first n (heldout, file) / how many to draw (family)
    seed = 0              # family only
    disorder = 1.0        # each per-bond field's deviation from its mean, times this
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError, ParameterError
from .. import validate as V

SPEC_FORMAT = "spinsym/experiment-groundstate-v1"
NETWORK_ARCHS = ("sympe", "gcnn", "noise", "cnn")
SA_NAME = "sa"
DESCENT_NAME = "descent"
#: fields shared by every network that a model entry may not override (equal budgets)
SHARED_ONLY = ("steps", "batch", "seed", "L", "arch", "threads", "device")
SOURCES = ("heldout", "family", "file")
EXACT_MAX_L = 10


# ---------------------------------------------------------------------------------------------
# the spec


@dataclass(frozen=True)
class ModelEntry:
    name: str
    arch: str
    overrides: dict


@dataclass(frozen=True)
class SetEntry:
    name: str
    L: int
    source: str
    n: int | None = None
    seed: int = 0
    params: str | None = None
    disorder: float = 1.0
    families: tuple | None = None

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["families"] = list(self.families) if self.families is not None else None
        return d


@dataclass(frozen=True)
class AnnealSpec:
    sweeps: int = 1000
    restarts: int = 4
    curve: tuple = (1, 4, 16, 64, 256, 1024)
    reference_sweeps: int = 20000
    reference_restarts: int = 8


@dataclass(frozen=True)
class DescentSpec:
    restarts: int = 4      # random starts per sample (the best one is kept); 0: no such row


@dataclass(frozen=True)
class Spec:
    path: str
    L: int
    seeds: tuple
    samples: int
    eval_seed: int
    train: dict
    models: tuple
    anneal: AnnealSpec
    sets: tuple
    configs: dict = field(default_factory=dict)   # model name -> validated TrainConfig (seed 0)
    refine_pairs: bool = True                     # the refined variant also flips bond pairs
    refine_lines: bool = False                    # ... and blocks of rows / columns
    descent: DescentSpec = DescentSpec()
    best_of: int = 1                              # draws per sample (the lowest energy kept)
    sampling: str | None = None                   # SymPE's g̃ draws (None: canonical)
    decode: str = "sign"                          # logits → spins: sign or sample

    def sampling_for(self, model: "ModelEntry") -> str | None:
        """The sampling mode for ``model``: the spec's for SymPE models (uniform for one
        trained without a canonicalizer, whose g̃ is always uniform), none otherwise."""
        if model.arch != "sympe" or self.sampling is None:
            return None
        if model.name in self.configs and self.configs[model.name].canonicalizer == "uniform":
            return "uniform"
        return self.sampling

    def as_dict(self) -> dict:
        return {"format": SPEC_FORMAT, "L": self.L, "seeds": list(self.seeds),
                "samples": self.samples, "eval_seed": self.eval_seed, "train": dict(self.train),
                "models": [dataclasses.asdict(m) for m in self.models],
                "anneal": {**dataclasses.asdict(self.anneal), "curve": list(self.anneal.curve)},
                "sets": [s.as_dict() for s in self.sets], "refine_pairs": self.refine_pairs,
                "refine_lines": self.refine_lines,
                "descent": dataclasses.asdict(self.descent), "best_of": self.best_of,
                "sampling": self.sampling, "decode": self.decode}

    def config(self, model: ModelEntry, seed: int):
        return dataclasses.replace(self.configs[model.name], seed=int(seed))


def _table(data, name: str, keys: tuple, where: str, required=()) -> dict:
    if not isinstance(data, dict):
        raise ParameterError(f"{where}: [{name}] must be a table")
    unknown = sorted(set(data) - set(keys))
    if unknown:
        raise ParameterError(f"{where}: unknown key(s) {', '.join(unknown)} in [{name}]; "
                             f"known: {', '.join(keys)}")
    missing = [k for k in required if k not in data]
    if missing:
        raise ParameterError(f"{where}: [{name}] needs {', '.join(missing)}")
    return data


def _int(v, name, minimum=0, maximum=10 ** 9):
    if isinstance(v, float):  # TOML integers only
        raise ParameterError(f"{name} must be an integer, got {v!r}")
    return V.integer(v, name, minimum=minimum, maximum=maximum)


def _name(v, what: str) -> str:
    if not isinstance(v, str) or not v or len(v) > 64 or not all(
            c.isalnum() or c in "-_." for c in v) or v[0] == ".":
        raise ParameterError(f"{what} must be a name of letters, digits, '-', '_' or '.', "
                             f"got {v!r}")
    return v


def parse_spec(data: dict, path: str = "spec") -> Spec:
    """Validate a parsed spec completely (one-line ParameterError / DataError)."""
    from .groundstate import DECODE_MODES, SAMPLING_MODES, TrainConfig

    where = path
    _table(data, "top level", ("experiment", "train", "models", "anneal", "descent", "sets"),
           where, required=("experiment", "models", "sets"))
    ex = _table(data["experiment"], "experiment",
                ("L", "seeds", "samples", "eval_seed", "refine_pairs", "refine_lines", "best_of",
                 "sampling", "decode"),
                where,
                required=("seeds",))
    L = _int(ex.get("L", 8), "experiment.L", minimum=4, maximum=1024)
    seeds = ex["seeds"]
    if not isinstance(seeds, list) or len(seeds) < 2:
        raise ParameterError(f"{where}: experiment.seeds must be a list of at least 2 seeds "
                             "(a confidence interval needs two)")
    seeds = tuple(V.seed(_int(s, "experiment.seeds", 0, V.SEED_MAX), "experiment.seeds")
                  for s in seeds)
    if len(set(seeds)) != len(seeds):
        raise ParameterError(f"{where}: experiment.seeds repeats a seed: {list(seeds)}")
    samples = _int(ex.get("samples", 16), "experiment.samples", 1, 4096)
    eval_seed = V.seed(_int(ex.get("eval_seed", 1), "experiment.eval_seed", 0, V.SEED_MAX),
                       "experiment.eval_seed")
    refine_pairs, refine_lines = ex.get("refine_pairs", True), ex.get("refine_lines", False)
    for name, value in (("refine_pairs", refine_pairs), ("refine_lines", refine_lines)):
        if not isinstance(value, bool):
            raise ParameterError(f"{where}: experiment.{name} must be true or false, got "
                                 f"{value!r}")
    best_of = _int(ex.get("best_of", 1), "experiment.best_of", 1, 4096)
    sampling = ex.get("sampling")
    if sampling is not None and sampling not in SAMPLING_MODES:
        raise ParameterError(f"{where}: experiment.sampling must be one of "
                             f"{', '.join(SAMPLING_MODES)}, got {sampling!r}")
    decode = ex.get("decode", "sign")
    if decode not in DECODE_MODES:
        raise ParameterError(f"{where}: experiment.decode must be one of "
                             f"{', '.join(DECODE_MODES)}, got {decode!r}")

    train = data.get("train", {})
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    _table(train, "train", tuple(sorted(known - {"arch", "seed", "L"})), where)
    if not isinstance(data["models"], list) or not data["models"]:
        raise ParameterError(f"{where}: [[models]] must list at least one network")
    models, configs = [], {}
    for i, m in enumerate(data["models"]):
        _table(m, f"models #{i + 1}", ("name", "arch", "overrides"), where,
               required=("name", "arch"))
        name = _name(m["name"], f"models #{i + 1} name")
        if name in (SA_NAME, DESCENT_NAME) or name in configs:
            raise ParameterError(f"{where}: model name {name!r} is "
                                 + ("repeated" if name in configs else
                                    "reserved for a baseline (sa, descent)"))
        arch = V.choice(m["arch"], f"arch of model {name!r}", NETWORK_ARCHS)
        over = m.get("overrides", {})
        if not isinstance(over, dict):
            raise ParameterError(f"{where}: overrides of model {name!r} must be a table")
        bad = sorted(set(over) - known)
        if bad:
            raise ParameterError(f"{where}: model {name!r}: unknown override(s) "
                                 f"{', '.join(bad)}; known: {', '.join(sorted(known))}")
        shared = sorted(set(over) & set(SHARED_ONLY))
        if shared:
            raise ParameterError(f"{where}: model {name!r} may not override {', '.join(shared)} "
                                 "(equal budgets: set them in [train] or [experiment])")
        values = {**train, **over, "arch": arch, "L": L, "seed": 0}
        try:
            cfg = TrainConfig.from_dict(values, where=f"model {name!r}").validate()
        except TypeError as exc:
            raise ParameterError(f"{where}: model {name!r}: {exc}") from None
        configs[name] = cfg
        models.append(ModelEntry(name, arch, dict(over)))

    an = data.get("anneal", {})
    _table(an, "anneal", tuple(f.name for f in dataclasses.fields(AnnealSpec)), where)
    curve = an.get("curve", list(AnnealSpec.curve))
    if not isinstance(curve, list) or not curve:
        raise ParameterError(f"{where}: anneal.curve must be a non-empty list of sweep counts")
    curve = tuple(_int(c, "anneal.curve", 1) for c in curve)
    if len(set(curve)) != len(curve):
        raise ParameterError(f"{where}: anneal.curve repeats a value: {list(curve)}")
    anneal = AnnealSpec(sweeps=_int(an.get("sweeps", 1000), "anneal.sweeps", 1),
                        restarts=_int(an.get("restarts", 4), "anneal.restarts", 1, 10 ** 6),
                        curve=tuple(sorted(curve)),
                        reference_sweeps=_int(an.get("reference_sweeps", 20000),
                                              "anneal.reference_sweeps", 1),
                        reference_restarts=_int(an.get("reference_restarts", 8),
                                                "anneal.reference_restarts", 1, 10 ** 6))

    de = _table(data.get("descent", {}), "descent", ("restarts",), where)
    descent = DescentSpec(restarts=_int(de.get("restarts", DescentSpec.restarts),
                                        "descent.restarts", 0, 4096))

    if not isinstance(data["sets"], list) or not data["sets"]:
        raise ParameterError(f"{where}: [[sets]] must list at least one evaluation set")
    sets, names = [], set()
    for i, s in enumerate(data["sets"]):
        keys = ("name", "L", "source", "n", "seed", "params", "disorder", "families")
        _table(s, f"sets #{i + 1}", keys, where, required=("name", "L", "source"))
        name = _name(s["name"], f"sets #{i + 1} name")
        if name in names:
            raise ParameterError(f"{where}: set name {name!r} is repeated")
        names.add(name)
        src = V.choice(s["source"], f"source of set {name!r}", SOURCES)
        sL = V.lattice_size(_int(s["L"], f"set {name!r} L", 2, 1024), f"set {name!r} L",
                            even=True)
        n = s.get("n")
        if n is not None:
            n = _int(n, f"set {name!r} n", 1, 100000)
        if src == "family" and n is None:
            raise ParameterError(f"{where}: set {name!r} draws from the family: give n")
        if src == "file":
            if "params" not in s or not isinstance(s["params"], str):
                raise ParameterError(f"{where}: set {name!r} has source = \"file\": give "
                                     "params = \"FILE.json\"")
        elif "params" in s:
            raise ParameterError(f"{where}: set {name!r}: params is for source = \"file\"")
        if "seed" in s and src != "family":
            raise ParameterError(f"{where}: set {name!r}: seed is for source = \"family\"")
        fam = s.get("families")
        if fam is not None:
            if src != "family" or not isinstance(fam, list) or not fam or not all(
                    isinstance(f, str) for f in fam):
                raise ParameterError(f"{where}: set {name!r}: families must be a non-empty "
                                     "list of names, for source = \"family\"")
            fam = tuple(fam)
        disorder = V.finite_float(s.get("disorder", 1.0), f"set {name!r} disorder", minimum=0.0,
                                  maximum=1e3)
        params = None
        if src == "file":
            params = s["params"]
            if not os.path.isabs(params):
                params = os.path.join(os.path.dirname(os.path.abspath(path)), params)
        sets.append(SetEntry(name, sL, src, n,
                             V.seed(_int(s.get("seed", 0), f"set {name!r} seed", 0, V.SEED_MAX)),
                             params, disorder, fam))
    spec = Spec(path, L, seeds, samples, eval_seed, dict(train), tuple(models), anneal,
                tuple(sets), configs, refine_pairs, refine_lines, descent, best_of, sampling,
                decode)
    return spec


def load_spec(path: str) -> Spec:
    import tomllib

    V.input_file(path, "experiment spec")
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ParameterError(f"malformed TOML in {path}: {exc}") from None
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    return parse_spec(data, path)


# ---------------------------------------------------------------------------------------------
# Hamiltonian sets


@dataclass
class HamiltonianSet:
    entry: SetEntry
    couplings: list          # Couplings (homogeneous) or BondCouplings
    families: list           # family tag of each

    @property
    def homogeneous(self) -> bool:
        from ..hamiltonians import Couplings

        return all(isinstance(c, Couplings) for c in self.couplings)

    def key(self) -> str:
        return _digest([self.entry.L, [_couplings_json(c) for c in self.couplings],
                        self.families])


def _couplings_json(c):
    from ..hamiltonians import Couplings

    if isinstance(c, Couplings):
        return [c.Jx, c.Jy, c.J2, c.h]
    return c.as_json()


def _digest(obj) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _scale_disorder(c, a: float):
    """Each per-bond field's deviation from its mean, times a (homogeneous: unchanged)."""
    from ..couplings import BondCouplings, as_couplings

    if a == 1.0 or not isinstance(c, BondCouplings):
        return c
    fields = []
    for v in (c.Jx, c.Jy, c.J2p, c.J2m, c.h):
        if np.ndim(v):
            m = float(np.mean(v))
            v = m + a * (np.asarray(v) - m)
        fields.append(v)
    return as_couplings(BondCouplings(*fields))


def _read_file(entry: SetEntry) -> tuple:
    """Entries {Jx, Jy, J2, h} or per-bond {Jx, Jy, J2p, J2m (or J2), h} (numbers or L × L
    lists), each with an optional "family" tag."""
    from ..couplings import BondCouplings, as_couplings

    path = entry.params
    V.input_file(path, f"Hamiltonian file of set {entry.name!r}")

    def no_constant(name):
        raise ValueError(f"{name} is not a number JSON allows")

    try:
        with open(path, "rb") as f:
            obj = json.loads(f.read().decode("utf-8"), parse_constant=no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise DataError(f"malformed JSON in {path}: {exc}") from None
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    if isinstance(obj, dict) and "hamiltonians" in obj:
        obj = obj["hamiltonians"]
    if not isinstance(obj, list) or not obj:
        raise DataError(f"{path}: expected a non-empty JSON list of Hamiltonians")
    cs, fams = [], []
    for i, item in enumerate(obj):
        if not isinstance(item, dict):
            raise DataError(f"{path}: Hamiltonian #{i} is not a JSON object")
        item = dict(item)
        fam = item.pop("family", "file")
        if not isinstance(fam, str) or not fam:
            raise DataError(f"{path}: Hamiltonian #{i}: family must be a non-empty string")
        try:
            if set(item) == {"Jx", "Jy", "J2", "h"} and all(np.ndim(v) == 0 for v in
                                                             item.values()):
                V.validate_params([item])
            c = as_couplings(BondCouplings.from_mapping(item, entry.L, where=f"{path} #{i}"),
                             entry.L)
        except ParameterError as exc:
            raise DataError(f"{path}: Hamiltonian #{i}: {exc}") from None
        cs.append(c)
        fams.append(fam)
    return cs, fams


def training_families() -> tuple:
    """The family names of the ground-state training generator."""
    from . import groundstate as gs

    return tuple(getattr(gs, "FAMILIES", ("homogeneous",)))


def _generate(entry: SetEntry) -> tuple:
    """n draws from the training generator (``groundstate.sample_bonds`` where it exists, else
    the homogeneous ``sample_family``) at the set's L, seeded by the set's seed."""
    from ..couplings import BondCouplings, as_couplings
    from ..hamiltonians import Couplings
    from . import groundstate as gs

    known = training_families()
    wanted = entry.families or known
    bad = [f for f in wanted if f not in known]
    if bad:
        raise ParameterError(f"set {entry.name!r}: unknown famil{'ies' if len(bad) > 1 else 'y'} "
                             f"{', '.join(map(repr, bad))}; the training generator has "
                             f"{', '.join(known)}")
    rng = np.random.default_rng(np.random.SeedSequence(entry.seed))
    if hasattr(gs, "sample_bonds"):
        bonds, names = gs.sample_bonds(rng, entry.n, entry.L, families=tuple(wanted))
        return [as_couplings(BondCouplings(*b), entry.L) for b in bonds], list(names)
    p = gs.sample_family(rng, entry.n)
    return [Couplings(*row) for row in p], ["homogeneous"] * len(p)


def build_set(entry: SetEntry) -> HamiltonianSet:
    """The Hamiltonians of a set (DataError / ParameterError for bad input)."""
    from ..hamiltonians import Couplings
    from . import groundstate as gs

    if entry.source == "heldout":
        p = gs.heldout_set()
        cs = [Couplings(*row) for row in p]
        fams = ["homogeneous"] * len(cs)
    elif entry.source == "family":
        cs, fams = _generate(entry)
    else:
        cs, fams = _read_file(entry)
    if entry.n is not None and entry.source != "family":
        if entry.n > len(cs):
            raise ParameterError(f"set {entry.name!r}: n = {entry.n}, but the source has only "
                                 f"{len(cs)} Hamiltonians")
        cs, fams = cs[:entry.n], fams[:entry.n]
    cs = [_scale_disorder(c, entry.disorder) for c in cs]
    return HamiltonianSet(entry, cs, fams)


def energies(spins: np.ndarray, hset: HamiltonianSet) -> np.ndarray:
    """Total energies (n, K) of spins (n, K, L, L), from THE energy function."""
    from ..mc.anneal import bond_arrays
    from ..hamiltonians import ising_energy

    L = spins.shape[-1]
    out = np.empty(spins.shape[:2])
    for i, c in enumerate(hset.couplings):
        Jx, Jy, J2p, J2m, h = bond_arrays(c, L)
        out[i] = ising_energy(np.ascontiguousarray(spins[i]), Jx, Jy, J2p, h, J2m=J2m)
    return out


# ---------------------------------------------------------------------------------------------
# references


def exact_kind(hset: HamiltonianSet) -> str | None:
    """How a set's exact minima are computed, or None (best-known reference): homogeneous
    sets at L divisible by 4 by the 4 × 4-periodic minimum (fast, batched), others at
    L ≤ 10 by ground_state_bonds."""
    if hset.homogeneous and hset.entry.L % 4 == 0:
        return "exact-periodic"
    if hset.entry.L <= EXACT_MAX_L:
        return "exact"
    return None


def exact_energies(hset: HamiltonianSet) -> np.ndarray:
    """Exact minimum total energies of a set (see :func:`exact_kind`)."""
    from ..exact import ground_state_bonds, ground_state_energies
    from ..couplings import BondCouplings
    from ..hamiltonians import Couplings

    L = hset.entry.L
    if exact_kind(hset) == "exact-periodic":
        p = np.array([[c.Jx, c.Jy, c.J2, c.h] for c in hset.couplings])
        return ground_state_energies(p) * L * L
    out = []
    for c in hset.couplings:
        if isinstance(c, Couplings):
            c = BondCouplings.from_scalar(c)
        out.append(ground_state_bonds(c, L)["energy"])
    return np.array(out)


# ---------------------------------------------------------------------------------------------
# the run directory


class _Lock:
    """An exclusive, non-blocking flock on DIR/.experiment.lock."""

    def __init__(self, out_dir: str):
        self.path = os.path.join(out_dir, ".experiment.lock")
        self.fd = None

    def __enter__(self):
        import fcntl

        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self.fd)
            raise ParameterError(f"another experiment is running in "
                                 f"{os.path.dirname(self.path)}") from None
        return self

    def __exit__(self, *exc):
        os.close(self.fd)
        return False


def check_out_dir(out_dir: str, spec_path: str | None = None, create: bool = True) -> str:
    """DIR as an absolute path: its parent exists, it is not a file or a symlink, and (with
    ``create``) it is created with its subfolders and proved writable by a temporary file."""
    from ..fileio import check_out_path, discard, reserve_temporary

    if not isinstance(out_dir, str) or not out_dir.strip():
        raise ParameterError("--out is empty; give a directory")
    path = os.path.abspath(out_dir)
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise ParameterError(f"output directory's parent does not exist: {parent}")
    if os.path.islink(path):
        raise ParameterError(f"--out {out_dir} is a symbolic link; give a directory")
    if os.path.exists(path) and not os.path.isdir(path):
        raise ParameterError(f"--out {out_dir} exists and is not a directory")
    target = path if os.path.isdir(path) else parent
    if not os.access(target, os.W_OK | os.X_OK):
        raise ParameterError(f"cannot write in {target}")
    if not create:
        return path
    os.makedirs(path, exist_ok=True)
    probe = os.path.join(path, "experiment.json")
    check_out_path(probe, inputs=[spec_path] if spec_path else (), reserve=False)
    discard(reserve_temporary(probe))
    for sub in ("checkpoints", "evals", "references"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    return path


def _write_json(path: str, obj) -> None:
    from ..fileio import atomic_path

    text = json.dumps(obj, indent=1, allow_nan=False) + "\n"
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            f.write(text)


def _read_json(path: str):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _cached(path: str, key: str):
    obj = _read_json(path)
    if isinstance(obj, dict) and obj.get("key") == key:
        return obj
    return None


# ---------------------------------------------------------------------------------------------
# the work


def _log_default(msg: str) -> None:
    pass


def train_one(spec: Spec, model: ModelEntry, seed: int, out_dir: str, log=_log_default) -> dict:
    """Train (or skip, or resume) one (model, seed); returns the checkpoint's timing record."""
    from . import groundstate as gs
    from .. import training
    from ..fileio import Interrupted

    cfg = spec.config(model, seed)
    path = os.path.join(out_dir, "checkpoints", f"{model.name}-seed{seed}.pt")
    resume = None
    if os.path.exists(path):
        try:
            ckpt, stored = training.read_checkpoint(path, gs.CHECKPOINT_KIND, gs.TrainConfig)
        except DataError as exc:
            raise DataError(f"{exc} (delete it to train again)") from None
        fixed = {k: v for k, v in cfg.to_dict().items()
                 if k not in ("checkpoint_every", "time_limit", "device", "threads")}
        if fixed.get("teacher") == "none":  # the teacher's settings do not act without one
            fixed = {k: v for k, v in fixed.items()
                     if k not in ("teacher_sweeps", "teacher_weight")}
        if {k: getattr(stored, k) for k in fixed} != fixed:
            diff = sorted(k for k in fixed if getattr(stored, k) != fixed[k])
            raise ParameterError(f"{path} was trained with other settings "
                                 f"({', '.join(diff)}); use a new --out or delete it")
        if ckpt.get("complete", False):
            log(f"{model.name} seed {seed}: trained (skipped)")
            return _timing(ckpt)
        resume = path
        log(f"{model.name} seed {seed}: resuming at step {ckpt.get('steps_done')}")
    else:
        log(f"{model.name} seed {seed}: training {cfg.steps} steps")
    try:
        ckpt = gs.train(cfg, out=path, resume=resume)
    except Interrupted as exc:  # the checkpoint is saved: the same command continues it
        where = exc.note.split(";")[0] or "stopped"
        raise Interrupted(exc.signum, f"{where} (model {model.name}, seed {seed}); run the same "
                                      "'spinsym experiment groundstate' command again to "
                                      "continue") from None
    return _timing(ckpt)


def _timing(ckpt: dict) -> dict:
    return {"steps": int(ckpt.get("steps_done", 0)),
            "train_seconds": float(ckpt.get("train_seconds", 0.0)),
            "train_cpu_seconds": float(ckpt.get("train_cpu_seconds", 0.0))}


def _network_input(hset: HamiltonianSet):
    """What ``groundstate.predict`` takes: (n, 4) rows for homogeneous sets, else the bond
    fields (n, 5, L, L) of ``groundstate.as_bonds`` where the networks take per-bond input."""
    from . import groundstate as gs

    if hset.homogeneous:
        return np.array([[c.Jx, c.Jy, c.J2, c.h] for c in hset.couplings])
    if hasattr(gs, "as_bonds"):
        return gs.as_bonds(hset.couplings, hset.entry.L)
    raise ParameterError(f"set {hset.entry.name!r} holds per-bond Hamiltonians, which this "
                         "spinsym's ground-state networks do not take")


def evaluate_one(spec: Spec, model: ModelEntry, seed: int, hset: HamiltonianSet, out_dir: str,
                 log=_log_default) -> dict:
    """The energies (raw and refined) of one trained (model, seed) on one set, cached."""
    from . import groundstate as gs

    ck = os.path.join(out_dir, "checkpoints", f"{model.name}-seed{seed}.pt")
    cfg = spec.config(model, seed)
    sampling = spec.sampling_for(model)
    # (single flips, no line flips, one canonical draw, sign of the logits: the older keys)
    key = _digest(["net", cfg.to_dict(), hset.key(), spec.samples, spec.eval_seed]
                  + (["pairs"] if spec.refine_pairs else [])
                  + (["lines"] if spec.refine_lines else [])
                  + ([["best_of", spec.best_of]] if spec.best_of != 1 else [])
                  + ([["sampling", sampling]] if sampling is not None else [])
                  + ([["decode", spec.decode]] if spec.decode != "sign" else []))
    path = os.path.join(out_dir, "evals", f"{model.name}-seed{seed}-{hset.entry.name}.json")
    rec = _cached(path, key)
    if rec is not None:
        return rec
    net, ckpt = gs.load_checkpoint(ck)
    params = _network_input(hset)
    L = hset.entry.L
    rec = {"key": key, "model": model.name, "seed": seed, "set": hset.entry.name,
           **_timing(ckpt)}
    import torch

    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    for variant, refine in (("raw", False), ("refined", True)):
        # warm-up (first-call costs are not inference time), then the timed run
        pairs, lines = refine and spec.refine_pairs, refine and spec.refine_lines
        gs.predict(net, params[:1], L, samples=1, seed=spec.eval_seed, refine_output=refine,
                   refine_pairs=pairs, refine_lines=lines, best_of=spec.best_of,
                   sampling=sampling, decode=spec.decode)
        t0, c0 = time.perf_counter(), time.thread_time()
        out = gs.predict(net, params, L, samples=spec.samples, seed=spec.eval_seed,
                         refine_output=refine, refine_pairs=pairs, refine_lines=lines,
                         best_of=spec.best_of, sampling=sampling, decode=spec.decode)
        sec, cpu = time.perf_counter() - t0, time.thread_time() - c0
        rec[variant] = {"energies": energies(out["spins"], hset).tolist(),
                        "seconds_per_hamiltonian": sec / len(params),
                        "cpu_seconds_per_hamiltonian": cpu / len(params)}
    log(f"{model.name} seed {seed}: evaluated on {hset.entry.name}")
    _write_json(path, rec)
    return rec


def descent_one(spec: Spec, seed: int, hset: HamiltonianSet, out_dir: str,
                log=_log_default) -> dict:
    """The model-free control on one set for one seed (:func:`groundstate.descent`): uniformly
    random starts through the networks' refinement, best of ``descent.restarts`` per sample,
    ``samples`` samples per Hamiltonian; cached like the network evaluations."""
    from . import groundstate as gs

    R = spec.descent.restarts
    key = _digest(["descent", R, spec.refine_pairs, spec.samples, seed, hset.key()]
                  + (["lines"] if spec.refine_lines else []))
    path = os.path.join(out_dir, "evals", f"{DESCENT_NAME}-seed{seed}-{hset.entry.name}.json")
    rec = _cached(path, key)
    if rec is not None:
        return rec
    params = _network_input(hset)
    L = hset.entry.L
    threads = spec.train.get("threads")
    if threads:  # the networks' thread count: comparable times
        import torch

        torch.set_num_threads(int(threads))
    gs.descent(params[:1], L, samples=1, seed=seed, restarts=1, pairs=spec.refine_pairs,
               lines=spec.refine_lines)
    t0, c0 = time.perf_counter(), time.thread_time()
    spins = gs.descent(params, L, samples=spec.samples, seed=seed, restarts=R,
                       pairs=spec.refine_pairs, lines=spec.refine_lines)
    sec, cpu = time.perf_counter() - t0, time.thread_time() - c0
    rec = {"key": key, "seed": seed, "set": hset.entry.name, "restarts": R,
           "energies": energies(spins, hset).tolist(),
           "seconds_per_hamiltonian": sec / len(params),
           "cpu_seconds_per_hamiltonian": cpu / len(params)}
    log(f"descent seed {seed}: {hset.entry.name}")
    _write_json(path, rec)
    return rec


def _sa_seed(seed: int, salt: str) -> int:
    h = hashlib.sha256(f"{seed}/{salt}".encode()).digest()
    return int.from_bytes(h[:8], "little") % (2 ** 63)


def anneal_set(hset: HamiltonianSet, sweeps: int, restarts: int, seed: int) -> dict:
    """SA of every Hamiltonian of a set; wall and CPU seconds per Hamiltonian (after a warm-up
    call, so no compilation is timed)."""
    from ..mc.anneal import anneal, anneal_many

    anneal(hset.couplings[0], hset.entry.L, sweeps=1, restarts=1)  # warm-up: compile / load
    res = anneal_many(hset.couplings, hset.entry.L, sweeps=sweeps, restarts=restarts,
                      seed=seed)
    return {"energies": [r.energy for r in res], "seconds": [r.seconds for r in res],
            "cpu_seconds": [r.cpu_seconds for r in res]}


def anneal_one(spec: Spec, seed: int, hset: HamiltonianSet, out_dir: str,
               log=_log_default) -> dict:
    a = spec.anneal
    key = _digest(["sa", a.sweeps, a.restarts, seed, hset.key()])
    path = os.path.join(out_dir, "evals", f"{SA_NAME}-seed{seed}-{hset.entry.name}.json")
    rec = _cached(path, key)
    if rec is None:
        rec = {"key": key, "seed": seed, "set": hset.entry.name, "sweeps": a.sweeps,
               "restarts": a.restarts,
               **anneal_set(hset, a.sweeps, a.restarts, _sa_seed(seed, "main"))}
        log(f"sa seed {seed}: annealed {hset.entry.name}")
        _write_json(path, rec)
    return rec


def anneal_curve(spec: Spec, hset: HamiltonianSet, out_dir: str, log=_log_default) -> dict:
    a = spec.anneal
    seed = spec.seeds[0]
    key = _digest(["sa-curve", list(a.curve), a.restarts, seed, hset.key()])
    path = os.path.join(out_dir, "evals", f"{SA_NAME}-curve-{hset.entry.name}.json")
    rec = _cached(path, key)
    if rec is None:
        rec = {"key": key, "seed": seed, "restarts": a.restarts, "points": []}
        for sw in a.curve:
            rec["points"].append({"sweeps": sw, **anneal_set(hset, sw, a.restarts,
                                                             _sa_seed(seed, f"curve{sw}"))})
        log(f"sa: time curve on {hset.entry.name}")
        _write_json(path, rec)
    return rec


def reference(hset: HamiltonianSet, spec: Spec, out_dir: str, log=_log_default) -> dict:
    """Exact minima where they exist, else the large-budget SA energies (to be combined with
    everything else into the best-known reference)."""
    kind = exact_kind(hset)
    a = spec.anneal
    if kind is not None:
        key = _digest(["exact", kind, hset.key()])
    else:
        key = _digest(["sa-ref", a.reference_sweeps, a.reference_restarts, hset.key()])
    path = os.path.join(out_dir, "references", f"{hset.entry.name}.json")
    rec = _cached(path, key)
    if rec is None:
        if kind is not None:
            rec = {"key": key, "kind": kind, "energies": exact_energies(hset).tolist()}
        else:
            sa = anneal_set(hset, a.reference_sweeps, a.reference_restarts,
                            _sa_seed(0, "reference"))
            rec = {"key": key, "kind": "best-known", "sa_energies": sa["energies"],
                   "sa_seconds": sa["seconds"]}
        log(f"reference for {hset.entry.name}: {rec['kind']}")
        _write_json(path, rec)
    return rec


# ---------------------------------------------------------------------------------------------
# statistics and outputs


def t_interval(values) -> tuple:
    """(mean, 95 % half-width) of the t-distribution with len − 1 degrees of freedom."""
    from scipy import stats

    x = np.asarray(values, dtype=np.float64)
    m = float(x.mean())
    if len(x) < 2:
        return m, math.nan
    half = float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return m, half


def _gaps(E: np.ndarray, ref: np.ndarray) -> np.ndarray:
    g = (E - ref.reshape((-1,) + (1,) * (E.ndim - 1))) / np.maximum(
        np.abs(ref.reshape((-1,) + (1,) * (E.ndim - 1))), 1e-12)
    g[np.abs(g) < 1e-12] = 0.0
    return g


def summarize(spec: Spec, sets: list, net: dict, sa: dict, curves: dict, refs: dict,
              timings: dict, desc: dict | None = None) -> dict:
    """The experiment's results: references, per-(model, variant, set, family) gaps with
    confidence intervals, timings and the time curves."""
    out = {"format": SPEC_FORMAT, "spec": spec.as_dict(), "sets": {}, "results": [],
           "curves": {}, "confidence": "95% t-interval over seeds (dof = seeds - 1)"}
    for hset in sets:
        name = hset.entry.name
        r = refs[name]
        if r["kind"] == "best-known":
            cands = [np.array(r["sa_energies"])]
            for s in spec.seeds:
                cands.append(np.array(sa[(s, name)]["energies"]))
                for m in spec.models:
                    for v in ("raw", "refined"):
                        cands.append(np.array(net[(m.name, s, name)][v]["energies"]).min(1))
                if desc:
                    cands.append(np.array(desc[(s, name)]["energies"]).min(1))
            for p in curves[name]["points"]:
                cands.append(np.array(p["energies"]))
            ref = np.min(np.stack(cands), axis=0)
        else:
            ref = np.array(r["energies"])
        fams = np.array(hset.families)
        groups = sorted(set(hset.families))
        out["sets"][name] = {**hset.entry.as_dict(), "params": None if hset.entry.params is None
                             else os.path.relpath(hset.entry.params), "n": len(ref),
                             "reference": r["kind"], "families": {g: int((fams == g).sum())
                                                                  for g in groups}}

        def record(model, variant, per_seed_gaps, per_seed_best, seconds, cpu, extra):
            row = {"model": model, "variant": variant, "set": name, "reference": r["kind"],
                   "families": {}, **extra}
            for g in ["all"] + (groups if len(groups) > 1 else []):
                sel = np.ones(len(ref), bool) if g == "all" else fams == g
                m, h = t_interval([gp[sel].mean() for gp in per_seed_gaps])
                entry = {"n": int(sel.sum()), "mean_gap": m, "ci95": h,
                         "per_seed": [float(gp[sel].mean()) for gp in per_seed_gaps],
                         "worst": float(max(gp[sel].max() for gp in per_seed_gaps))}
                if per_seed_best is not None:
                    bm, bh = t_interval([gb[sel].mean() for gb in per_seed_best])
                    entry.update(best_of_samples_gap=bm, best_ci95=bh)
                row["families"][g] = entry
            row["seconds_per_hamiltonian"] = t_interval(seconds)
            row["cpu_seconds_per_hamiltonian"] = t_interval(cpu)
            out["results"].append(row)

        for m in spec.models:
            for v in ("raw", "refined"):
                recs = [net[(m.name, s, name)] for s in spec.seeds]
                E = [np.array(rc[v]["energies"]) for rc in recs]
                gaps = [_gaps(e, ref) for e in E]
                record(m.name, v, [g.mean(1) for g in gaps], [g.min(1) for g in gaps],
                       [rc[v]["seconds_per_hamiltonian"] for rc in recs],
                       [rc[v]["cpu_seconds_per_hamiltonian"] for rc in recs],
                       {"arch": m.arch, "overrides": m.overrides,
                        "steps": [timings[(m.name, s)]["steps"] for s in spec.seeds],
                        "train_seconds": t_interval([timings[(m.name, s)]["train_seconds"]
                                                     for s in spec.seeds]),
                        "train_cpu_seconds": t_interval(
                            [timings[(m.name, s)]["train_cpu_seconds"] for s in spec.seeds])})
        if desc:
            recs = [desc[(s, name)] for s in spec.seeds]
            gaps = [_gaps(np.array(rc["energies"]), ref) for rc in recs]
            record(DESCENT_NAME, f"best of {spec.descent.restarts}",
                   [g.mean(1) for g in gaps], [g.min(1) for g in gaps],
                   [rc["seconds_per_hamiltonian"] for rc in recs],
                   [rc["cpu_seconds_per_hamiltonian"] for rc in recs],
                   {"restarts": spec.descent.restarts})
        recs = [sa[(s, name)] for s in spec.seeds]
        record(SA_NAME, f"{spec.anneal.sweeps}x{spec.anneal.restarts}",
               [_gaps(np.array(rc["energies"]), ref) for rc in recs], None,
               [float(np.mean(rc["seconds"])) for rc in recs],
               [float(np.mean(rc["cpu_seconds"])) for rc in recs],
               {"sweeps": spec.anneal.sweeps, "restarts": spec.anneal.restarts})
        out["curves"][name] = [
            {"sweeps": p["sweeps"], "restarts": curves[name]["restarts"],
             "seconds_per_hamiltonian": float(np.mean(p["seconds"])),
             "mean_gap": float(_gaps(np.array(p["energies"]), ref).mean()),
             "solved_fraction": float((_gaps(np.array(p["energies"]), ref) <= 1e-9).mean())}
            for p in curves[name]["points"]]
    return out


def _pct(m, h=None) -> str:
    if m is None or not math.isfinite(m):
        return "—"
    s = f"{100 * m:.2f}%"
    if h is not None and math.isfinite(h):
        s += f" ± {100 * h:.2f}"
    return s


def markdown(result: dict) -> str:
    """The Markdown tables: one per set; rows model × variant, columns per family."""
    spec = result["spec"]
    R, mode = spec.get("best_of", 1), spec.get("sampling")
    decode = {"sign": "; spins: sign of the logits",
              "sample": "; spins drawn from the network's output"}[spec.get("decode", "sign")]
    draws = (f" (networks: each the lowest-energy of {R} draws" if R > 1 else " (networks: one "
             "draw each") + (f"; SymPE draws g̃ {mode}" if mode else "; SymPE's canonical g̃") \
        + decode + ")"
    kinds = ["single"] + (["pair"] if spec.get("refine_pairs", True) else []) \
        + (["line-block"] if spec.get("refine_lines") else [])
    moves = ", ".join(kinds[:-1]) + " and " + kinds[-1] if len(kinds) > 1 else kinds[0]
    lines = [f"Seeds {spec['seeds']}; {spec['samples']} samples per Hamiltonian{draws}; "
             f"refined: descent by {moves} flips; gaps are (E − E_ref)/|E_ref|, mean over "
             "seeds ± 95% t-interval half-width.", ""]
    for name, s in result["sets"].items():
        rows = [r for r in result["results"] if r["set"] == name]
        fams = list(rows[0]["families"])
        ref = {"exact": "exact minimum (ground_state_bonds)",
               "exact-periodic": "exact minimum (4 × 4-periodic, homogeneous family)",
               "best-known": "BEST-KNOWN energy (no exact reference at this L: the lowest "
                             "energy found by SA with the reference budget, SA at every budget, "
                             "every network sample and every descent sample)"}[s["reference"]]
        lines.append(f"**{name}** (L = {s['L']}, {s['n']} Hamiltonians, source {s['source']}"
                     + (f", disorder × {s['disorder']:g}" if s["disorder"] != 1 else "")
                     + "; families: " + ", ".join(f"{k} {v}" for k, v in s["families"].items())
                     + f"; reference: {ref})")
        lines.append("")
        head = ["model", "variant"] + [f"{f} (n={rows[0]['families'][f]['n']})" for f in fams] \
            + ["best of samples", "worst", "ms / Hamiltonian", "train wall s", "train CPU s"]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for r in rows:
            a = r["families"]["all"]
            t = r["seconds_per_hamiltonian"]
            train = [f"{r['train_seconds'][0]:.0f}", f"{r['train_cpu_seconds'][0]:.0f}"] \
                if "train_seconds" in r else ["—", "—"]
            cells = [r["model"], r["variant"]] + [
                _pct(r["families"][f]["mean_gap"], r["families"][f]["ci95"]) for f in fams] + [
                _pct(a.get("best_of_samples_gap"), a.get("best_ci95")), _pct(a["worst"]),
                f"{1e3 * t[0]:.2f}"] + train
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _grid(n: int):
    from ..plot.style import plt

    cols = min(3, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.0 * cols, 3.9 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def _legend(fig, axes):
    """One legend for the whole figure, right of the panels (the panels share their models)."""
    handles, labels = {}, []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in handles:
                handles[lab] = h
                labels.append(lab)
    fig.legend([handles[lab] for lab in labels], labels, loc="center left",
               bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)


def figures(result: dict, out_dir: str) -> list:
    """gap_per_family.png (bars with CIs, refined networks and SA) and gap_vs_time.png (the SA
    curve and each network's raw and refined point: amortized inference time per Hamiltonian;
    one colour per model), one panel per set."""
    from ..plot.style import save_figure

    sets = list(result["sets"])
    models = list(dict.fromkeys(r["model"] for r in result["results"]))
    if len(models) <= 10:
        colour = {m: f"C{i}" for i, m in enumerate(models)}
    else:  # one distinct colour per model beyond the 10 of the default cycle
        from ..plot.style import plt

        cmap = plt.get_cmap("tab20")
        colour = {m: cmap(i % 20) for i, m in enumerate(models)}
    paths = []
    fig, axes = _grid(len(sets))
    for ax, name in zip(axes, sets):
        rows = [r for r in result["results"] if r["set"] == name and r["variant"] != "raw"]
        fams = list(rows[0]["families"])
        width = 0.8 / len(rows)
        for j, r in enumerate(rows):
            x = np.arange(len(fams)) + (j - (len(rows) - 1) / 2) * width
            m = np.array([100 * r["families"][f]["mean_gap"] for f in fams])
            h = np.array([100 * np.nan_to_num(r["families"][f]["ci95"]) for f in fams])
            ax.bar(x, m, width, yerr=h, capsize=2, color=colour[r["model"]],
                   label=r["model"] + (" (refined)" if r["variant"] == "refined" else ""))
        ax.set_xticks(np.arange(len(fams)), fams, rotation=30, ha="right")
        ax.set_ylabel("mean gap (%)")
        ax.set_ylim(bottom=0)  # gaps are >= 0; a t-interval may reach below
        ax.set_title(f"{name} (L = {result['sets'][name]['L']}, "
                     f"{result['sets'][name]['reference']})")
    _legend(fig, axes)
    fig.tight_layout()
    paths.append(save_figure(fig, os.path.join(out_dir, "gap_per_family.png")))

    fig, axes = _grid(len(sets))
    for ax, name in zip(axes, sets):
        c = result["curves"][name]
        ax.plot([p["seconds_per_hamiltonian"] * 1e3 for p in c],
                [100 * p["mean_gap"] for p in c], ".-", color=colour.get(SA_NAME, "k"),
                label=f"SA ({', '.join(str(p['sweeps']) for p in c)} sweeps × "
                      f"{c[0]['restarts']})")
        for r in [r for r in result["results"] if r["set"] == name and r["model"] != SA_NAME]:
            t, th = r["seconds_per_hamiltonian"]
            a = r["families"]["all"]
            ax.errorbar([1e3 * t], [100 * a["mean_gap"]], xerr=[1e3 * np.nan_to_num(th)],
                        yerr=[100 * np.nan_to_num(a["ci95"])], color=colour[r["model"]],
                        fmt={"refined": "o", "raw": "x"}.get(r["variant"], "s"), capsize=2,
                        label=f"{r['model']} {r['variant']}")
        ax.set_xscale("log")
        ax.set_yscale("symlog", linthresh=0.1)
        ax.set_ylim(bottom=0)
        ax.set_xlabel("wall time per Hamiltonian (ms)")
        ax.set_ylabel("mean gap (%)")
        ax.set_title(f"{name} (L = {result['sets'][name]['L']}, "
                     f"{result['sets'][name]['reference']})")
    _legend(fig, axes)
    fig.tight_layout()
    paths.append(save_figure(fig, os.path.join(out_dir, "gap_vs_time.png")))
    return paths


def prepare(spec: Spec) -> list:
    """The Hamiltonian sets of a spec, with every check that needs them: every set loads and
    every network can run on every set's L.  Nothing is written."""
    from ..nn import build_model
    from . import groundstate as gs

    sets = [build_set(e) for e in spec.sets]
    for hset in sets:  # every network can run on every set, before any work
        for m in spec.models:
            net = build_model(m.arch, **gs.model_config(spec.configs[m.name]))
            try:
                net.check_L(hset.entry.L)
            except ParameterError as exc:
                raise ParameterError(f"set {hset.entry.name!r}, model {m.name!r}: {exc}") \
                    from None
            _network_input(hset)
    return sets


def run_experiment(spec: Spec, out_dir: str, log=_log_default, sets: list | None = None) -> dict:
    """Everything: check the sets (:func:`prepare`, unless given), then train, evaluate,
    anneal, summarize and write DIR/experiment.json, DIR/table.md and the figures.  Returns the
    result dictionary."""
    if sets is None:
        sets = prepare(spec)
    out_dir = check_out_dir(out_dir, spec.path)
    with _Lock(out_dir):
        _write_json(os.path.join(out_dir, "spec.json"), spec.as_dict())
        refs = {h.entry.name: reference(h, spec, out_dir, log) for h in sets
                if exact_kind(h) is not None}
        timings = {}
        for m in spec.models:
            for s in spec.seeds:
                timings[(m.name, s)] = train_one(spec, m, s, out_dir, log)
        net = {(m.name, s, h.entry.name): evaluate_one(spec, m, s, h, out_dir, log)
               for m in spec.models for s in spec.seeds for h in sets}
        desc = {(s, h.entry.name): descent_one(spec, s, h, out_dir, log)
                for s in spec.seeds for h in sets} if spec.descent.restarts else {}
        sa = {(s, h.entry.name): anneal_one(spec, s, h, out_dir, log)
              for s in spec.seeds for h in sets}
        curves = {h.entry.name: anneal_curve(spec, h, out_dir, log) for h in sets}
        for h in sets:
            if h.entry.name not in refs:
                refs[h.entry.name] = reference(h, spec, out_dir, log)
        result = summarize(spec, sets, net, sa, curves, refs, timings, desc)
        _write_json(os.path.join(out_dir, "experiment.json"), result)
        from ..fileio import atomic_path

        with atomic_path(os.path.join(out_dir, "table.md")) as tmp:
            with open(tmp, "w") as f:
                f.write(markdown(result))
        result["figures"] = figures(result, out_dir)
    return result
