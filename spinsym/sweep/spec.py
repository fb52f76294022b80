"""The sweep spec: the TOML grid, its validation, and the jobs it expands to (ids, seeds and
configuration hashes).  Nothing here touches the disk except :func:`load_spec` reading the
file."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import os
from dataclasses import dataclass, field

from ..errors import ParameterError
from ..hamiltonians import Couplings
from .. import models
from ..mc.run import SimulationConfig

JOBS_DIR = "jobs"
COUPLING_KEYS = ("Jx", "Jy", "J2", "h")
SWEEP_KEYS = ("model", "algorithm", "L", "T", "sweeps", "thermalize", "every", "overrelax",
              "seeds", "device")
#: where the jobs run: the CPU kernels (spinsym.mc.run.simulate) or the GPU path
#: (spinsym.mc.gpu.simulate_gpu)
DEVICES = ("cpu", "cuda")


# --------------------------------------------------------------------------- the spec


def _round(x: float) -> float:
    """12 significant digits: linspace values become the numbers one would type (2.2, not
    2.2000000000000006), so ids do not depend on the last bit of an arithmetic."""
    return float(f"{x:.12g}")


#: values on one axis of a grid, and jobs in one sweep (checked before any list is built)
MAX_AXIS = 10000
MAX_JOBS = 1_000_000


def _axis(value, name: str, kind=float) -> tuple:
    """A number, a list, or {start, stop, num} (inclusive) -> tuple of values."""
    if isinstance(value, dict):
        unknown = set(value) - {"start", "stop", "num"}
        if unknown or not {"start", "stop", "num"} <= set(value):
            raise ParameterError(f"{name}: a range needs exactly start, stop and num, "
                                 f"got {', '.join(sorted(value))}")
        try:
            start, stop, num = float(value["start"]), float(value["stop"]), value["num"]
        except (TypeError, ValueError):
            raise ParameterError(f"{name}: start and stop must be numbers") from None
        if isinstance(num, bool) or not isinstance(num, int) or num < 1:
            raise ParameterError(f"{name}: num must be a positive integer, got {num!r}")
        if num > MAX_AXIS:
            raise ParameterError(f"{name}: num = {num} values; at most {MAX_AXIS} per axis")
        if kind is int:
            raise ParameterError(f"{name} must be an integer or a list of integers")
        items = [start] if num == 1 else [start + (stop - start) * i / (num - 1)
                                          for i in range(num)]
    elif isinstance(value, list):
        items = value
        if len(items) > MAX_AXIS:
            raise ParameterError(f"{name}: {len(items)} values; at most {MAX_AXIS} per axis")
    else:
        items = [value]
    if not items:
        raise ParameterError(f"{name}: empty list")
    out = []
    for item in items:
        if isinstance(item, bool):
            raise ParameterError(f"{name}: {item!r} is not a number")
        if kind is int:
            if not isinstance(item, int):
                raise ParameterError(f"{name}: {item!r} is not an integer")
            out.append(int(item))
        else:
            if not isinstance(item, (int, float)):
                raise ParameterError(f"{name}: {item!r} is not a number")
            if not math.isfinite(item):
                raise ParameterError(f"{name}: {item!r} is not finite")
            out.append(_round(float(item)))
    if len(set(out)) != len(out):
        raise ParameterError(f"{name}: repeated values {out}")
    return tuple(out)


def _integer(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ParameterError(f"{name} must be a non-negative integer, got {value!r}")
    return value


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep grid (see the module docstring for the TOML form)."""

    model: str
    L: tuple
    T: tuple
    couplings: dict  # name -> tuple of values
    algorithm: str = "metropolis"
    sweeps: int = 10000
    thermalize: int = 1000
    every: int = 10
    overrelax: int = 0
    seeds: tuple = (0,)
    device: str = "cpu"

    def as_dict(self) -> dict:
        return {"model": self.model, "algorithm": self.algorithm, "L": list(self.L),
                "T": list(self.T), "couplings": {k: list(v) for k, v in self.couplings.items()},
                "sweeps": self.sweeps, "thermalize": self.thermalize, "every": self.every,
                "overrelax": self.overrelax, "seeds": list(self.seeds), "device": self.device}


def parse_spec(data: dict, source: str = "sweep spec") -> SweepSpec:
    """Validate the parsed TOML (a dict with tables ``sweep`` and ``couplings``)."""
    if not isinstance(data, dict):
        raise ParameterError(f"{source}: expected tables [sweep] and [couplings]")
    unknown = set(data) - {"sweep", "couplings"}
    if unknown:
        raise ParameterError(f"{source}: unknown table(s) {', '.join(sorted(unknown))}; "
                             "expected [sweep] and [couplings]")
    sweep = data.get("sweep")
    if not isinstance(sweep, dict):
        raise ParameterError(f"{source}: missing [sweep] table")
    couplings = data.get("couplings", {})
    if not isinstance(couplings, dict):
        raise ParameterError(f"{source}: [couplings] must be a table")
    unknown = set(sweep) - set(SWEEP_KEYS)
    if unknown:
        raise ParameterError(f"{source}: unknown key(s) in [sweep]: {', '.join(sorted(unknown))}"
                             f" (known: {', '.join(SWEEP_KEYS)})")
    unknown = set(couplings) - set(COUPLING_KEYS)
    if unknown:
        raise ParameterError(f"{source}: unknown key(s) in [couplings]: "
                             f"{', '.join(sorted(unknown))} (known: {', '.join(COUPLING_KEYS)})")
    for key in ("model", "L", "T"):
        if key not in sweep:
            raise ParameterError(f"{source}: [sweep] needs {key}")
    model = sweep["model"]
    if model not in models.names():
        raise ParameterError(f"{source}: unknown model {model!r}; choose one of "
                             f"{', '.join(models.names())}")
    algorithm = sweep.get("algorithm", "metropolis")
    algorithms = tuple(models.get(model).algorithms)
    if algorithm not in algorithms:
        raise ParameterError(f"{source}: unknown algorithm {algorithm!r} for {model}; choose one "
                             f"of {', '.join(algorithms)}")
    device = sweep.get("device", "cpu")
    if device not in DEVICES:
        raise ParameterError(f"{source}: unknown device {device!r}; choose one of "
                             f"{', '.join(DEVICES)}")
    defaults = Couplings()
    coupling_axes = {k: _axis(couplings.get(k, getattr(defaults, k)), k) for k in COUPLING_KEYS}
    T = _axis(sweep["T"], "T")
    if any(t <= 0 for t in T):
        raise ParameterError(f"{source}: temperatures must be positive, got {list(T)}")
    spec = SweepSpec(model=model, algorithm=algorithm, L=_axis(sweep["L"], "L", int), T=T,
                     couplings=coupling_axes,
                     sweeps=_integer(sweep.get("sweeps", 10000), "sweeps"),
                     thermalize=_integer(sweep.get("thermalize", 1000), "thermalize"),
                     every=_integer(sweep.get("every", 10), "every"),
                     overrelax=_integer(sweep.get("overrelax", 0), "overrelax"),
                     seeds=_axis(sweep.get("seeds", [0]), "seeds", int), device=device)
    for s in spec.seeds:
        _integer(s, "seeds")
    n_jobs = math.prod(len(axis) for axis in (spec.L, spec.T, spec.seeds,
                                               *spec.couplings.values()))
    if n_jobs > MAX_JOBS:
        raise ParameterError(f"{source}: the grid has {n_jobs} jobs; at most {MAX_JOBS}")
    jobs = expand(spec)  # every job's configuration is validated up front
    if device == "cuda":  # ... and is one the GPU path runs (whether a GPU is here or not)
        from ..mc.gpu import check_config

        for job in jobs:
            try:
                check_config(job.config)
            except ParameterError as exc:
                raise ParameterError(f"{source}: {exc}") from None
    return spec


def load_spec(path: str) -> SweepSpec:
    """Read and validate a SWEEP.toml file."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise ParameterError("reading a sweep file needs Python >= 3.11 "
                                 "(or the tomli package)") from None
    if not os.path.isfile(path):
        raise ParameterError(f"no such sweep file: {path}")
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ParameterError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ParameterError(f"cannot read {path}: {exc}") from None
    return parse_spec(data, source=path)


# --------------------------------------------------------------------------- jobs


def _digest(obj) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def job_seed(replica_seed: int, coords: dict) -> int:
    """The simulation seed of a job: SHA-256 of the replica seed and the job's coordinates,
    reduced to 63 bits (stored as an HDF5 int64 attribute)."""
    d = _digest({"seed": int(replica_seed), "coords": {k: v for k, v in coords.items()
                                                        if k != "seed"}})
    return int(d[:16], 16) & ((1 << 63) - 1)


@dataclass(frozen=True)
class Job:
    id: str
    coords: dict  # model, L, T, Jx, Jy, J2, h, seed (the replica seed)
    config: SimulationConfig
    config_hash: str = field(default="")
    device: str = "cpu"  # not a coordinate: it changes the chain (the hash), not the id

    @property
    def file(self) -> str:
        """Path of the job's HDF5 file relative to the sweep directory."""
        return f"{JOBS_DIR}/{self.id}.h5"

    def config_dict(self) -> dict:
        return config_to_dict(self.config)


def config_to_dict(cfg: SimulationConfig) -> dict:
    """Every field of the configuration except ``threads`` (which never changes a file), the
    couplings flattened: the input of the config hash, and what a worker receives."""
    out = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name == "threads" or (f.metadata.get("omit_default") and value == f.default):
            continue
        if f.name == "couplings":
            out.update(value.as_dict())
        elif f.name == "temperatures":
            out["temperatures"] = list(value)
        else:
            out[f.name] = value
    return out


def config_from_dict(d: dict) -> SimulationConfig:
    d = dict(d)
    couplings = Couplings(*(d.pop(k) for k in COUPLING_KEYS))
    return SimulationConfig(**{**d, "temperatures": tuple(d["temperatures"]),
                               "couplings": couplings, "threads": 1})


def expand(spec: SweepSpec) -> list:
    """All jobs of the grid, in a fixed order (L, couplings, seed, T); ids are unique.

    The device enters the config hash (a GPU chain is another chain than the CPU's, from the
    same seed) only when it is not the CPU, so that CPU jobs keep the hashes they had before
    the device key existed."""
    jobs, seen = [], set()
    cx = spec.couplings
    for L, Jx, Jy, J2, h, seed, T in itertools.product(spec.L, cx["Jx"], cx["Jy"], cx["J2"],
                                                       cx["h"], spec.seeds, spec.T):
        coords = {"model": spec.model, "L": L, "T": T, "Jx": Jx, "Jy": Jy, "J2": J2, "h": h,
                  "seed": seed}
        job_id = f"L{L}-{_digest(coords)[:12]}"
        if job_id in seen:  # pragma: no cover - needs a SHA-256 prefix collision
            raise ParameterError(f"two jobs share the id {job_id}")
        seen.add(job_id)
        cfg = SimulationConfig(model=spec.model, L=L, temperatures=(T,),
                               couplings=Couplings(Jx, Jy, J2, h), algorithm=spec.algorithm,
                               sweeps=spec.sweeps, thermalize=spec.thermalize, every=spec.every,
                               seed=job_seed(seed, coords), overrelax=spec.overrelax, threads=1)
        hashed = {"schema": "spinsym/configs-v1", "config": config_to_dict(cfg)}
        if spec.device != "cpu":
            hashed["device"] = spec.device
        jobs.append(Job(job_id, coords, cfg, _digest(hashed), spec.device))
    return jobs
