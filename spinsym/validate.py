"""The one shared set of input validators (command-line options, configs, data content).

Every validator takes the value and the name of the option it came from, and returns the
cleaned value or raises :class:`spinsym.errors.ParameterError` (bad options) or
:class:`spinsym.errors.DataError` (bad file content) with a one-line message that names the
option.  They are small and composable, so every command checks every limit BEFORE any work
starts.  numpy only (the physics core never imports torch).

Limits, and why:

* integers fit int64 (HDF5 attributes, Numba kernels); seeds lie in [0, 2**63 - 1];
* floats are finite (``nan``, ``inf`` and overflowing literals are refused);
* temperatures are positive, finite and at least :func:`min_temperature` of the couplings, so
  that β = 1/T is finite, every Boltzmann factor exp(±βΔE) of a local move is finite, and
  β²N·var(e) in the specific heat cannot overflow;
* lattice sizes that would not fit in memory are refused with the estimate
  (:func:`check_memory` compares with ``MemAvailable`` of /proc/meminfo).
"""

from __future__ import annotations

import math
import numbers
import os

import numpy as np

from .errors import DataError, ParameterError

__all__ = [
    "INT64_MAX", "SEED_MAX", "MAX_THREADS", "MAX_TEMPERATURES", "PARAM_KEYS", "PARAM_MAX",
    "integer", "positive_int", "nonnegative_int", "finite_float", "positive_float", "seed",
    "threads", "choice", "learning_rate", "time_limit", "samples", "min_temperature",
    "temperature", "temperatures", "lattice_size", "available_memory", "format_bytes",
    "check_memory", "input_file", "validate_params", "check_configs", "check_energies",
    "check_data",
]

INT64_MAX = 2**63 - 1
#: seeds: SeedSequence takes any non-negative int, but HDF5 attributes and Numba need int64
SEED_MAX = INT64_MAX
#: worker threads (0 always means "the default")
MAX_THREADS = 4096
#: temperatures of one scan (a range syntax could otherwise ask for billions)
MAX_TEMPERATURES = 10000
#: keys of one ground-state Hamiltonian in a params JSON file, and the largest |value|
PARAM_KEYS = ("Jx", "Jy", "J2", "h")
PARAM_MAX = 1e6
#: largest β·ΔE of a local move: exp(700) ≈ 1e304 is still finite
_MAX_BETA_DE = 700.0
#: a floor on T that holds for any couplings (all-zero couplings included)
_T_FLOOR = 1e-6


# ---------------------------------------------------------------------------------------------
# numbers


def integer(value, name: str, *, minimum: int | None = None, maximum: int = INT64_MAX) -> int:
    """An int (not a bool, not a non-integral float) in [minimum, maximum]."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, float,
                                                                      np.floating)):
        raise ParameterError(f"{name} must be an integer, got {value!r}")
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value) or value != int(value):
            raise ParameterError(f"{name} must be an integer, got {value!r}")
    v = int(value)
    if minimum is not None and v < minimum:
        raise ParameterError(f"{name} must be at least {minimum}, got {v}")
    if v > maximum:
        raise ParameterError(f"{name} must be at most {maximum}, got {v}")
    return v


def positive_int(value, name: str, *, maximum: int = INT64_MAX) -> int:
    """An integer in [1, maximum]."""
    return integer(value, name, minimum=1, maximum=maximum)


def nonnegative_int(value, name: str, *, maximum: int = INT64_MAX) -> int:
    """An integer in [0, maximum]."""
    return integer(value, name, minimum=0, maximum=maximum)


def finite_float(value, name: str, *, minimum: float | None = None,
                 maximum: float | None = None) -> float:
    """A finite float (not a bool) in [minimum, maximum]."""
    if isinstance(value, (bool, np.bool_)):
        raise ParameterError(f"{name} must be a number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ParameterError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ParameterError(f"{name} must be finite, got {value!r}")
    if minimum is not None and v < minimum:
        raise ParameterError(f"{name} must be at least {minimum:g}, got {v:g}")
    if maximum is not None and v > maximum:
        raise ParameterError(f"{name} must be at most {maximum:g}, got {v:g}")
    return v


def positive_float(value, name: str, *, maximum: float | None = None) -> float:
    """A finite float > 0."""
    v = finite_float(value, name, maximum=maximum)
    if v <= 0:
        raise ParameterError(f"{name} must be positive, got {v:g}")
    return v


def seed(value, name: str = "seed") -> int:
    """A seed in [0, 2**63 - 1]."""
    return integer(value, name, minimum=0, maximum=SEED_MAX)


def threads(value, name: str = "threads") -> int:
    """A thread count in [0, MAX_THREADS]; 0 means the default."""
    return integer(value, name, minimum=0, maximum=MAX_THREADS)


def choice(value, name: str, choices) -> str:
    """One of ``choices``; the message lists them."""
    choices = tuple(choices)
    if value not in choices:
        raise ParameterError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")
    return value


def learning_rate(value, name: str = "lr", *, maximum: float = 10.0) -> float:
    """A finite learning rate in (0, maximum]."""
    if isinstance(value, (bool, np.bool_)):
        raise ParameterError(f"{name} must be a number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ParameterError(f"{name} must be a number, got {value!r}") from None
    if not (math.isfinite(v) and 0 < v <= maximum):
        raise ParameterError(f"{name} must be finite and in (0, {maximum:g}], got {value!r}")
    return v


def time_limit(value, name: str = "time-limit") -> float:
    """Seconds, finite and >= 0 (0: no limit)."""
    return finite_float(value, name, minimum=0.0)


def samples(value, name: str = "samples", *, maximum: int = 10**9) -> int:
    """A positive sample count (at most ``maximum``)."""
    return positive_int(value, name, maximum=maximum)


# ---------------------------------------------------------------------------------------------
# temperatures


def min_temperature(couplings=None) -> float:
    """The lowest accepted T for these couplings (``Couplings`` or (Jx, Jy, J2, h)).

    The largest energy change of one Ising spin flip is ΔE = 2(2|Jx| + 2|Jy| + 4|J2| + |h|);
    T >= ΔE/700 keeps every exp(±ΔE/T) finite (XY local changes are no larger).  Never below
    1e-6, so β, β² and β²N·var(e) stay finite whatever the couplings.
    """
    if couplings is None:
        return _T_FLOOR
    if hasattr(couplings, "max_flip_energy"):  # Couplings or couplings.BondCouplings
        de = couplings.max_flip_energy()
    else:
        Jx, Jy, J2, h = (float(v) for v in couplings)
        de = 2.0 * (2 * abs(Jx) + 2 * abs(Jy) + 4 * abs(J2) + abs(h))
    return max(_T_FLOOR, de / _MAX_BETA_DE)


def temperature(value, name: str = "T", couplings=None) -> float:
    """One temperature: a finite number >= :func:`min_temperature` (positive)."""
    if isinstance(value, (bool, np.bool_)):
        raise ParameterError(f"{name} must be a number, got {value!r}")
    try:
        T = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError, OverflowError):
        raise ParameterError(f"temperature {str(value).strip()!r} is not a number") from None
    if not math.isfinite(T) or T <= 0:
        raise ParameterError(f"temperatures must be positive and finite, got {T:g}")
    lo = min_temperature(couplings)
    if T < lo:
        what = "" if couplings is None else " for these couplings"
        raise ParameterError(f"temperature {T:g} is too low{what}: T must be at least {lo:.3g} "
                             "(exp(ΔE/T) would overflow)")
    return T


def _decimals(token: str) -> int:
    """Decimal places of a number as written ('2.25' -> 2, '1e-3' -> 3, '3' -> 0)."""
    t = token.strip().lower()
    mant, _, exp = t.partition("e")
    places = len(mant.partition(".")[2])
    return max(0, places - (int(exp) if exp else 0))


def _arithmetic(a: str, b: str, step_text: str | None, z: str, name: str) -> list:
    """a, a+step, ..., z (inclusive); step from the text or b - a; z must be on the grid."""
    A = temperature(a, name)
    Z = temperature(z, name)
    if step_text is not None:
        step = finite_float(step_text, f"{name} step")
        places = max(_decimals(a), _decimals(step_text), _decimals(z))
    else:
        B = temperature(b, name)
        places = max(_decimals(a), _decimals(b), _decimals(z))
        step = round(B - A, places)
    if step <= 0 or Z < A:
        raise ParameterError(f"{name} range must increase with a positive step, "
                             f"got {A:g} to {Z:g} step {step:g}")
    count = (Z - A) / step
    n = round(count)
    if abs(count - n) > 1e-6 * max(1.0, abs(count)):
        raise ParameterError(f"{name} range: {Z:g} is not {A:g} plus a whole number of steps "
                             f"{step:g}")
    if n + 1 > MAX_TEMPERATURES:
        raise ParameterError(f"{name} range gives {n + 1} temperatures; at most "
                             f"{MAX_TEMPERATURES}")
    return [round(A + k * step, places) if k < n else Z for k in range(n + 1)]


def temperatures(text, name: str = "T", couplings=None) -> tuple:
    """Parse a temperature list: '2.0,2.269,2.5', a range 'a:b:step' (inclusive) or an explicit
    arithmetic list 'a,b,...,z' (step b - a, inclusive of z); or a list/tuple of numbers.

    Every T is validated by :func:`temperature`; repeated temperatures are refused.
    """
    if isinstance(text, (list, tuple, np.ndarray)):
        values = [temperature(v, name, couplings) for v in text]
    else:
        s = str(text).strip()
        parts = [p.strip() for p in s.split(",")]
        if ":" in s:
            bits = s.split(":")
            if len(bits) != 3 or "," in s:
                raise ParameterError(f"{name} range must be start:stop:step, got {s!r}")
            values = _arithmetic(bits[0], None, bits[2], bits[1], name)
        elif "..." in parts:
            k = parts.index("...")
            if k != 2 or len(parts) != 4:
                raise ParameterError(f"{name} range must be written a,b,...,z, got {s!r}")
            values = _arithmetic(parts[0], parts[1], None, parts[3], name)
        else:
            if parts and parts[-1] == "":
                parts = parts[:-1]  # one trailing comma is harmless
            if s and "" in parts:
                raise ParameterError(f"{name} has an empty item in {s!r} (two commas in a row, "
                                     "or a leading comma)")
            values = parts if s else []
        values = [temperature(v, name, couplings) for v in values]
    if not values:
        raise ParameterError("no temperatures given")
    if len(values) > MAX_TEMPERATURES:
        raise ParameterError(f"{len(values)} temperatures given; at most {MAX_TEMPERATURES}")
    seen = set()
    for T in values:
        if T in seen:
            raise ParameterError(f"temperature {T:g} is given twice")
        seen.add(T)
    return tuple(values)


def input_file(path, what: str = "input file") -> str:
    """An existing regular file to read (DataError: missing, a directory, a FIFO/device)."""
    import stat

    path = os.fspath(path)
    try:
        st_mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise DataError(f"{what} not found: {path}") from None
    except OSError as exc:
        raise DataError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st_mode):
        raise DataError(f"{path} is a directory, not a {what}")
    if not stat.S_ISREG(st_mode):
        raise DataError(f"{path} is not a regular file (expected a {what})")
    return path


# ---------------------------------------------------------------------------------------------
# lattice sizes and memory


def available_memory() -> int | None:
    """Bytes of memory available now (MemAvailable of /proc/meminfo), or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def format_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'; 8e12 -> '7.3 TiB'."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2g} {unit}" if n < 10 \
                else f"{n:.0f} {unit}"
        n /= 1024
    return f"{n:.0f} PiB"  # pragma: no cover


def check_memory(nbytes: float, what: str) -> None:
    """Refuse a job whose arrays need more than the memory available now.

    ``what`` names the cause, e.g. 'L=1000000' -> "L=1000000 needs ~7.3 TiB, only 22 GiB
    available".  Skipped where the available memory cannot be read.
    """
    avail = available_memory()
    if avail is not None and nbytes > avail:
        raise ParameterError(f"{what} needs ~{format_bytes(nbytes)}, only "
                             f"{format_bytes(avail)} available")


def lattice_size(L, name: str = "L", *, even: bool = False, multiple: int = 1,
                 minimum: int = 2, maximum: int = 2**31 - 1, bytes_per_site: float = 0,
                 copies: float = 1) -> int:
    """A linear size L: an integer >= minimum, even / a multiple of ``multiple`` where needed,
    and, when ``bytes_per_site`` is given, ``copies · L² · bytes_per_site`` within memory."""
    v = integer(L, name, minimum=minimum, maximum=maximum)
    if even and v % 2:
        raise ParameterError(f"{name} must be even for this algorithm (sublattice updates), "
                             f"got {v}")
    if multiple > 1 and v % multiple:
        need = "even" if multiple == 2 else f"divisible by {multiple}"
        raise ParameterError(f"{name} must be {need}, got {v}")
    if bytes_per_site:
        check_memory(float(copies) * float(v) ** 2 * float(bytes_per_site), f"{name}={v}")
    return v


# ---------------------------------------------------------------------------------------------
# ground-state params JSON


def validate_params(obj, *, maximum: float = PARAM_MAX, max_entries: int = 100000) -> np.ndarray:
    """A JSON list of {"Jx", "Jy", "J2", "h"} objects -> (n, 4) float64 array.

    Every entry must have exactly these four keys (missing or unknown keys are errors), each a
    finite number (not a boolean) with |value| <= ``maximum``.
    """
    if not isinstance(obj, list) or not obj:
        raise ParameterError('params must be a non-empty JSON list of {"Jx": .., "Jy": .., '
                             '"J2": .., "h": ..} objects')
    if len(obj) > max_entries:
        raise ParameterError(f"params holds {len(obj)} entries; at most {max_entries}")
    rows = np.empty((len(obj), 4), dtype=np.float64)
    for i, item in enumerate(obj):
        if not isinstance(item, dict):
            raise ParameterError(f"params entry {i} is not a JSON object")
        unknown = sorted(set(item) - set(PARAM_KEYS))
        if unknown:
            raise ParameterError(f"params entry {i}: unknown keys {', '.join(unknown)} "
                                 f"(expected exactly {', '.join(PARAM_KEYS)})")
        missing = [k for k in PARAM_KEYS if k not in item]
        if missing:
            raise ParameterError(f"params entry {i}: missing keys {', '.join(missing)}")
        for j, key in enumerate(PARAM_KEYS):
            v = item[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ParameterError(f"params entry {i}: {key} must be a number, got "
                                     f"{v!r}")
            try:
                f = float(v)
            except OverflowError:
                f = math.inf
            if not math.isfinite(f) or abs(f) > maximum:
                raise ParameterError(f"params entry {i}: {key} must be finite with "
                                     f"|{key}| <= {maximum:g}, got {v!r}")
            rows[i, j] = f
    return rows


# ---------------------------------------------------------------------------------------------
# data content (analyze and the training data path)


def check_configs(model: str, configs, where: str = "data") -> None:
    """Every configuration must be a valid state of ``model`` (the registered model's own
    check: Ising spins -1 or +1, finite XY angles, ...).  DataError otherwise."""
    from . import models

    try:
        spin_model = models.get(model)
    except ParameterError:
        raise DataError(f"{where}: unknown model {model!r}") from None
    spin_model.check_configs(configs, where)


def check_energies(energies, where: str = "data") -> None:
    """Stored energies must be finite.  DataError otherwise."""
    e = np.asarray(energies, dtype=np.float64)
    if e.size and not np.all(np.isfinite(e)):
        raise DataError(f"{where}: energies must be finite, found non-finite values")


def check_data(model: str, configs, energies=None, where: str = "data", T=None,
               couplings=None) -> None:
    """Everything a data reader relies on, as DataError: the couplings finite, T a valid
    temperature for them (:func:`temperature`), then :func:`check_configs` and, if given,
    :func:`check_energies`.  ``couplings``: a ``Couplings`` or (Jx, Jy, J2, h)."""
    if couplings is not None and hasattr(couplings, "J2p"):
        pass  # a couplings.BondCouplings is validated when it is made
    elif couplings is not None:
        values = (couplings.Jx, couplings.Jy, couplings.J2, couplings.h) \
            if hasattr(couplings, "Jx") else tuple(couplings)
        for key, v in zip(PARAM_KEYS, values):
            try:
                finite_float(v, f"coupling {key}")
            except ParameterError as exc:
                raise DataError(f"{where}: {exc}") from None
        couplings = values
    if T is not None:
        try:
            temperature(T, "T", couplings)
        except ParameterError as exc:
            raise DataError(f"{where}: {exc}") from None
    check_configs(model, configs, where)
    if energies is not None:
        check_energies(energies, where)
