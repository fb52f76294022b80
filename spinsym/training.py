"""The one training layer of the learning tasks: configs, devices, checkpoints and the loop.

Both :mod:`spinsym.tasks.groundstate` and :mod:`spinsym.tasks.sampler` train through this
module:

* **Configs** are frozen dataclasses (subclasses of :class:`TrainingConfig`); override fields
  with :func:`dataclasses.replace` or :meth:`TrainingConfig.override`, load them from a TOML
  file with :func:`load_toml` (flat ``key = value`` lines, the field names; unknown keys are
  errors).  ``validate()`` gives one-line :class:`~spinsym.errors.ParameterError`\\ s.
  ``arch`` is the network (``--model`` on the command line); ``model`` is the spin model.
* **Devices**: :func:`resolve_device`.
* **Checkpoints**: :func:`save_checkpoint` (atomic, through :func:`spinsym.fileio.atomic_path`)
  and :func:`read_checkpoint` (``torch.load(weights_only=True)``, kind and format checks, the
  stored config validated before any network is built, format-1 files upgraded in memory).
* **The loop**: :class:`Trainer` (Adam + one-cycle), with periodic checkpoints to the output
  path (``complete: False`` until the last step), Ctrl-C / SIGTERM handling that saves the
  current step before exiting, and exact resumption: model, optimizer, scheduler, every RNG
  state (global torch, the task's torch generators and numpy generators), the step counter,
  the history and the task's own running state are restored, so a resumed run is bit for bit
  the uninterrupted one (on the same machine, device and thread count).

torch is imported inside functions only (``import spinsym`` and ``spinsym --help`` stay fast).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, fields
from typing import Callable, ClassVar

from . import __version__
from . import validate as V
from .errors import DataError, ParameterError, SpinsymError

#: format of the checkpoints written now (1: before resumable checkpoints, still readable)
FORMAT_VERSION = 2
KIND_NAMES = {"groundstate": "ground-state", "sampler": "sampler"}
#: fields a resumed run may change; every other field must match the checkpoint's
RUN_FIELDS = ("steps", "time_limit", "device", "threads", "checkpoint_every")
#: a checkpoint is also written when this many seconds passed since the last one
CHECKPOINT_SECONDS = 300.0


def _torch():
    import torch

    return torch


#: glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: both set to 1 GiB by :func:`reuse_freed_memory`
_KEEP_BYTES = 1 << 30
_ALLOCATOR = {"tuned": None}


def reuse_freed_memory() -> bool:
    """Let glibc's malloc keep freed blocks for reuse; once per process, before the first
    tensor.  Returns whether it applied (Linux with glibc, and no ``MALLOC_*`` tuning or
    ``SPINSYM_MALLOC=default`` in the environment).

    A training or sampling step allocates and frees activations of tens of MB.  By default
    glibc serves each block above its mmap threshold (at most 32 MiB, adjusted as it goes)
    with a fresh mapping and unmaps it at free, and trims the heap's top, so the next step
    faults every page in again; on large lattices those page faults can cost more CPU time
    than the computation.  With the mmap and trim thresholds at 1 GiB, freed blocks stay in the heap
    and are reused (same results, bit for bit); the price is a higher resident size, the heap
    keeping its peak."""
    if _ALLOCATOR["tuned"] is not None:
        return _ALLOCATOR["tuned"]
    _ALLOCATOR["tuned"] = False
    if (not sys.platform.startswith("linux") or os.environ.get("SPINSYM_MALLOC") == "default"
            or any(k.startswith("MALLOC_") for k in os.environ)):
        return False
    import ctypes
    import platform

    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, _KEEP_BYTES) == 1 and mallopt(_M_TRIM_THRESHOLD,
                                                                   _KEEP_BYTES) == 1
    _ALLOCATOR["tuned"] = ok
    return ok


def notice(message: str) -> None:
    """One line on stderr (warnings and the interruption note: shown even with --quiet)."""
    print(f"spinsym: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# configs


@dataclass(frozen=True)
class TrainingConfig:
    """Fields common to every task.  Subclasses change defaults and add fields and limits."""

    arch: str = "sympe"
    seed: int = 0
    steps: int = 1000
    batch: int = 32
    lr: float = 3e-3
    width: int = 4
    depth: int = 4
    kernel: int = 3
    pe_fields: int = 1
    time_limit: float = 0.0       # seconds of this session; 0 = none (the result then
                                  # depends on speed; the checkpoint stays resumable)
    device: str = "cpu"
    threads: int = 0              # torch CPU threads; 0 = torch default
    checkpoint_every: int = 100   # steps between checkpoints to the output; 0 = at the end

    ARCHS: ClassVar[tuple] = ()
    #: integer fields: (minimum, maximum)
    INT_LIMITS: ClassVar[dict] = {
        "seed": (0, V.SEED_MAX), "steps": (1, 10 ** 8), "batch": (1, 65536),
        "width": (1, 256), "depth": (1, 64), "kernel": (1, 15), "pe_fields": (1, 64),
        "threads": (0, V.MAX_THREADS), "checkpoint_every": (0, 10 ** 8)}
    #: float fields: (minimum, maximum); lr is checked by validate.learning_rate
    FLOAT_LIMITS: ClassVar[dict] = {"time_limit": (0.0, 1e9)}
    #: fields with a command-line option, by option name; the others are config-file keys
    OPTIONS: ClassVar[dict] = {"arch": "--model", "seed": "--seed", "steps": "--steps",
                               "batch": "--batch", "lr": "--lr", "width": "--width",
                               "depth": "--depth", "pe_fields": "--pe-fields",
                               "time_limit": "--time-limit", "device": "--device",
                               "threads": "--threads", "checkpoint_every": "--checkpoint-every"}

    def _name(self, field: str) -> str:
        return self.OPTIONS.get(field, f"{field} (config key)")

    def validate(self):
        """Type and range checks (spinsym.validate), one ParameterError line each; returns the
        checked config (integral floats become ints, ints for float fields become floats)."""
        V.choice(self.arch, "model", self.ARCHS)
        clean = {}
        for f in fields(self):
            v, name = getattr(self, f.name), self._name(f.name)
            if f.name in self.INT_LIMITS:
                lo, hi = self.INT_LIMITS[f.name]
                clean[f.name] = V.integer(v, name, minimum=lo, maximum=hi)
            elif f.name in self.FLOAT_LIMITS:
                lo, hi = self.FLOAT_LIMITS[f.name]
                clean[f.name] = V.finite_float(v, name, minimum=lo, maximum=hi)
            elif f.type in ("bool", bool) and not isinstance(v, bool):
                raise ParameterError(f"{name} must be true or false, got {v!r}")
        clean["lr"] = V.learning_rate(self.lr, self._name("lr"))
        if clean["kernel"] % 2 == 0:
            raise ParameterError(f"{self._name('kernel')} must be odd, got {self.kernel}")
        if not isinstance(self.device, str):
            raise ParameterError(f"--device must be cpu or cuda, got {self.device!r}")
        check_device_name(self.device)
        return dataclasses.replace(self, **clean)

    @classmethod
    def from_dict(cls, values: dict, where: str = "config"):
        """A config from a mapping of field names (TOML, checkpoint); unknown keys and wrong
        types are ParameterErrors naming ``where``.  Integers are accepted for floats."""
        if not isinstance(values, dict):
            raise ParameterError(f"{where}: expected a table of settings")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ParameterError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}; "
                                 f"known: {', '.join(known)}")
        clean = {}
        for k, v in values.items():
            if known[k].type in ("float", float) and isinstance(v, int) \
                    and not isinstance(v, bool):
                v = float(v)
            clean[k] = v
        return cls(**clean)

    def override(self, **values):
        """A copy with the given fields replaced; ``None`` values are ignored."""
        return dataclasses.replace(self, **{k: v for k, v in values.items() if v is not None})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def load_toml(cls, path: str) -> dict:
    """The settings of a TOML config file, checked against ``cls``'s fields (unknown keys and
    bad types: one-line ParameterError).  Returns the mapping of the keys that it sets."""
    import tomllib

    if not os.path.isfile(path):
        raise ParameterError(f"config file not found: {path}")
    try:
        with open(path, "rb") as f:
            values = tomllib.load(f)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ParameterError(f"malformed TOML in {path}: {exc}") from None
    cfg = cls.from_dict(values, where=path)  # unknown keys
    for k, v in values.items():  # only well-typed values (ranges are checked by validate())
        default = getattr(cls(), k)
        if isinstance(default, bool) != isinstance(v, bool) or (
                isinstance(default, (int, float)) and not isinstance(v, (int, float))) or (
                isinstance(default, str) and not isinstance(v, str)):
            raise ParameterError(f"{path}: {k} must be a {type(default).__name__}, got {v!r}")
    return {k: getattr(cfg, k) for k in values}


def check_device_name(device: str) -> str:
    if device not in ("cpu", "cuda") and not (device.startswith("cuda:")
                                              and device[5:].isdigit()):
        raise ParameterError(f"--device must be cpu or cuda (or cuda:N), got {device!r}")
    return device


def resolve_device(device: str) -> str:
    """``cpu``, ``cuda`` or ``cuda:N``; a CUDA device without a GPU is a one-line error."""
    check_device_name(str(device))
    if device != "cpu":
        torch = _torch()
        if not torch.cuda.is_available():
            raise ParameterError(f"--device {device}: no CUDA GPU available")
        index = int(device[5:]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise ParameterError(f"--device {device}: no such CUDA GPU "
                                 f"({torch.cuda.device_count()} available)")
    return device


# ---------------------------------------------------------------------------------------------
# checkpoints


def save_checkpoint(ckpt: dict, path: str) -> str:
    """Write ``ckpt`` to ``path`` atomically (temporary name, then rename)."""
    from .fileio import atomic_path

    torch = _torch()
    with atomic_path(path) as tmp:
        torch.save(ckpt, tmp)
    return path


def read_checkpoint(path: str, kind: str, config_cls) -> tuple[dict, TrainingConfig]:
    """Load a checkpoint (tensors on the CPU) and check it: kind, format, and a stored config
    that validates (so a tampered width is refused here, before any network is built).
    Format-1 checkpoints (``model`` = network, ``spin_model``) are upgraded in memory.
    Returns (checkpoint with ``arch`` = network and ``model`` = spin model, its config)."""
    torch = _torch()
    if not os.path.exists(path):
        raise DataError(f"checkpoint not found: {path}")
    if os.path.isdir(path):
        raise DataError(f"checkpoint is a directory, not a file: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a data error
        raise DataError(f"cannot read checkpoint {path}: not a spinsym checkpoint "
                        f"({type(exc).__name__})") from None
    want = KIND_NAMES[kind]
    found = ckpt.get("kind") if isinstance(ckpt, dict) else None
    if found in KIND_NAMES and found != kind:
        raise DataError(f"{path} is a {KIND_NAMES[found]} checkpoint, not a {want} checkpoint "
                        f"(train one with 'spinsym train {kind}')")
    if found != kind:
        raise DataError(f"{path} is not a {want} checkpoint (kind: {found!r})")
    version = ckpt.get("format_version")
    if version == 1:
        ckpt = _upgrade_v1(ckpt)
    elif version != FORMAT_VERSION:
        raise DataError(f"{path}: unsupported {want} checkpoint format {version!r} (this "
                        f"spinsym reads formats 1 and {FORMAT_VERSION})")
    for key in ("arch", "model", "train_config", "model_config", "state_dict"):
        if key not in ckpt:
            raise DataError(f"{path}: damaged {want} checkpoint (no {key!r})")
    try:
        cfg = config_cls.from_dict(ckpt["train_config"], where="stored training config")
        cfg = cfg.validate()
    except (ParameterError, TypeError) as exc:
        raise DataError(f"{path}: invalid stored training config: {exc}") from None
    if cfg.arch != ckpt["arch"]:
        raise DataError(f"{path}: the stored network {ckpt['arch']!r} does not match its "
                        f"training config ({cfg.arch!r})")
    return ckpt, cfg


def _upgrade_v1(ckpt: dict) -> dict:
    """A format-1 checkpoint (no resume state) in the names of format 2."""
    new = dict(ckpt)
    new["arch"] = ckpt.get("model")
    new["model"] = ckpt.pop("spin_model", "ising") if "spin_model" in ckpt else "ising"
    new.pop("spin_model", None)
    tc = dict(ckpt.get("train_config") or {})
    if "model" in tc:
        tc["arch"] = tc.pop("model")
    new["train_config"] = tc
    new["complete"] = True
    new["steps"] = int(ckpt.get("steps_done", tc.get("steps", 0)))
    new.setdefault("history", [])
    return new


def check_complete(ckpt: dict, path: str) -> None:
    """The choice for a partial checkpoint used for inference: allowed, with a warning."""
    if not ckpt.get("complete", True):
        notice(f"warning: {path} is a partial checkpoint (step {ckpt.get('steps_done')} of "
               f"{ckpt.get('steps')}); resume its training with --resume {path}")


def check_model_config(ckpt: dict, expected: dict, path: str) -> None:
    """The stored network config must be the one its training config gives."""
    if dict(ckpt["model_config"]) != expected:
        raise DataError(f"{path}: the stored network config does not match its training "
                        "config")


# ---------------------------------------------------------------------------------------------
# resuming


def resume_config(stored: TrainingConfig, given: dict, path: str) -> TrainingConfig:
    """The config of a resumed run: the checkpoint's, with only the run fields (steps, time
    limit, device, threads, checkpoint interval) changeable.  ``given`` holds the settings the
    user gave (None = not given); any other field that differs is a one-line error."""
    for k, v in given.items():
        if v is None or k in RUN_FIELDS:
            continue
        if v != getattr(stored, k):
            raise ParameterError(f"--resume continues {path}'s run, which has "
                                 f"{stored._name(k).lstrip('-')} = {getattr(stored, k)!r}; "
                                 f"got {v!r} (leave it out)")
    return stored.override(**{k: v for k, v in given.items() if k in RUN_FIELDS})


def build_config(cls, kind: str, given: dict, config_file: str | None = None,
                 resume: str | None = None) -> TrainingConfig:
    """The config of a command: the defaults of ``cls``, then the TOML ``config_file``, then
    the options the user gave (``given``: None = not given).  With ``resume`` the
    checkpoint's config is the base and only the run fields may change (see
    :func:`resume_config`).  Validated (one-line ParameterError)."""
    settings = load_toml(cls, config_file) if config_file else {}
    settings.update({k: v for k, v in given.items() if v is not None})
    if resume:
        _, stored = read_checkpoint(resume, kind, cls)
        return resume_config(stored, settings, resume).validate()
    return cls().override(**settings).validate()


def check_resumable(ckpt: dict, cfg: TrainingConfig, path: str) -> None:
    if "training" not in ckpt:
        raise DataError(f"{path} has no resume state (written by an older spinsym); it cannot "
                        "be resumed")
    done, target = int(ckpt["steps_done"]), int(ckpt["steps"])
    if not ckpt.get("complete", False):
        if cfg.steps != target:
            raise ParameterError(f"{path} is a partial run of {target} steps (at step {done}): "
                                 f"resume it with --steps {target} (or without --steps); "
                                 "extend it once it is complete")
    elif cfg.steps <= done:
        raise ParameterError(f"{path} is complete after {done} steps; give --steps larger "
                             f"than {done} to train further")


# ---------------------------------------------------------------------------------------------
# the loop


class _StopOnSignal:
    """While active (main thread only), SIGINT / SIGTERM set a flag checked between steps; the
    previous handlers come back at the first signal, so a second one acts at once.  A signal
    recorded in ``Interrupted.pending`` before (see :mod:`spinsym.cli`) counts as caught."""

    def __init__(self):
        self.signum = None
        self._previous = {}

    def _handler(self, signum, frame):
        self.signum = signum
        self._restore()

    def _restore(self):
        for s, h in self._previous.items():
            signal.signal(s, h)
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                previous = signal.getsignal(s)
                if previous is not signal.SIG_IGN and previous is not None:
                    self._previous[s] = previous
                    signal.signal(s, self._handler)
            from .fileio import Interrupted

            if Interrupted.pending and self.signum is None:
                # a SIGTERM came before, inside a callback that swallowed its exception (the
                # command line records it): stop at the first safe point, as simulate does
                self._handler(Interrupted.pending, None)
        return self

    def __exit__(self, *exc):
        self._restore()
        return False

    def stop(self, note: str = ""):
        """Stop the run as the caught signal asks: :class:`spinsym.fileio.Interrupted`, whose
        ``note`` (where the checkpoint is) the command line prints in its one final line."""
        from .fileio import Interrupted

        self._restore()
        raise Interrupted(self.signum, note)


@dataclass
class Step:
    """What a task's step function returns: the loss to back-propagate and a function called
    after the optimizer step that gives a history record (a dict) or None."""

    loss: object
    report: Callable[[], dict | None] = lambda: None


class Trainer:
    """Adam + one-cycle over ``cfg.steps`` optimizer steps, checkpointed and resumable.

    ``np_rngs`` / ``torch_gens``: the task's numpy Generators and torch Generators by name;
    their states go into every checkpoint together with torch's global RNG (and CUDA's).
    ``extra``: the task's own running state (plain Python values), saved and restored."""

    def __init__(self, kind: str, cfg: TrainingConfig, model, *, np_rngs: dict,
                 torch_gens: dict, clip: float | None = None, extra: dict | None = None):
        torch = _torch()
        self.kind, self.cfg, self.model, self.clip = kind, cfg, model, clip
        self.np_rngs, self.torch_gens = np_rngs, torch_gens
        self.extra = dict(extra or {})
        self.opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        self.sched = self._schedule(cfg.steps)
        self.schedule = [[0, int(cfg.steps)]]  # one-cycle runs: [first step, length]
        self.step = 0
        self.history: list = []
        self.seconds = 0.0
        self.cpu_seconds = 0.0

    def _schedule(self, total: int):
        torch = _torch()
        total = int(total)
        # warm-up 10 % of the run; short runs get at least two warm-up steps (torch divides by
        # pct_start * total - 1, which is zero at total = 10 with 10 %)
        pct = 0.1 if 0.1 * total >= 2 else min(0.75, 2.0 / total)
        return torch.optim.lr_scheduler.OneCycleLR(self.opt, max_lr=self.cfg.lr,
                                                   total_steps=total, pct_start=pct)

    @property
    def first_cycle_steps(self) -> int:
        """Length of the first one-cycle run (annealing schedules follow it)."""
        return int(self.schedule[0][1])

    # -- state ------------------------------------------------------------------------------

    def state(self) -> dict:
        torch = _torch()
        rng = {"torch": torch.get_rng_state(),
               "generators": {k: g.get_state() for k, g in self.torch_gens.items()},
               "numpy": {k: r.bit_generator.state for k, r in self.np_rngs.items()}}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {"optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
                "schedule": [list(map(int, s)) for s in self.schedule], "rng": rng,
                "extra": dict(self.extra), "cpu_seconds": self.cpu_seconds}

    def restore(self, ckpt: dict, path: str) -> None:
        """Continue from a checkpoint (already checked by :func:`check_resumable`)."""
        torch = _torch()
        tr = ckpt["training"]
        try:
            self.model.load_state_dict(ckpt["state_dict"])
            self.opt.load_state_dict(tr["optimizer"])
            self.step = int(ckpt["steps_done"])
            self.schedule = [list(map(int, s)) for s in tr["schedule"]]
            if ckpt.get("complete", False):  # extend a finished run: a new one-cycle run
                self.sched = self._schedule(self.cfg.steps - self.step)
                self.schedule.append([self.step, self.cfg.steps - self.step])
            else:
                self.sched.load_state_dict(tr["scheduler"])
            rng = tr["rng"]
            torch.set_rng_state(rng["torch"])
            for k, g in self.torch_gens.items():
                g.set_state(rng["generators"][k])
            for k, r in self.np_rngs.items():
                r.bit_generator.state = rng["numpy"][k]
            if "cuda" in rng and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(rng["cuda"])
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            raise DataError(f"{path}: cannot resume from this checkpoint ({type(exc).__name__}:"
                            f" {str(exc).splitlines()[0][:120]})") from None
        self.extra = dict(tr["extra"])
        self.history = list(ckpt.get("history", []))
        self.seconds = float(ckpt.get("train_seconds", 0.0))
        self.cpu_seconds = float(tr.get("cpu_seconds", 0.0))

    def checkpoint(self, meta: dict, complete: bool) -> dict:
        """The checkpoint dictionary: the task's ``meta`` plus the common keys."""
        torch = _torch()
        # the weights as an inference model holds them (escnn expands its filters into
        # buffers in eval mode); switching modes draws no random numbers
        was_training = self.model.training
        self.model.eval()
        weights = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
        self.model.train(was_training)
        return {"kind": self.kind, "format_version": FORMAT_VERSION,
                "spinsym_version": __version__, "torch_version": str(torch.__version__),
                **meta, "train_config": self.cfg.to_dict(), "state_dict": weights,
                "complete": bool(complete), "steps_done": int(self.step),
                "steps": int(self.cfg.steps), "history": list(self.history),
                "train_seconds": float(self.seconds), "train_cpu_seconds": self.cpu_seconds,
                "training": self.state()}

    # -- the loop ---------------------------------------------------------------------------

    def run(self, step_fn: Callable[[int], Step], meta: Callable[[], dict], *,
            out: str | None = None, log=None, fmt: Callable[[dict], str] = str,
            resume_hint: str = "") -> dict:
        """Train from ``self.step`` to ``cfg.steps`` (or the time limit / a signal).  Writes a
        partial checkpoint to ``out`` every ``cfg.checkpoint_every`` steps (and at least every
        :data:`CHECKPOINT_SECONDS`), and the final one at the end; returns the final one."""
        torch = _torch()
        cfg = self.cfg
        t0, c0 = time.perf_counter(), time.process_time()
        s0, cpu0 = self.seconds, self.cpu_seconds
        last_save = t0
        self.model.train()

        def tick():
            self.seconds = s0 + time.perf_counter() - t0
            self.cpu_seconds = cpu0 + time.process_time() - c0

        with _StopOnSignal() as stop:
            while self.step < cfg.steps:
                step = self.step
                st = step_fn(step)
                self.opt.zero_grad(set_to_none=True)
                st.loss.backward()
                if self.clip:
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
                self.opt.step()
                self.sched.step()
                self.step = step + 1
                tick()
                rec = st.report()
                if rec is not None:
                    rec = dict(step=step, **rec, seconds=self.seconds)
                    self.history.append(rec)
                    if log:
                        log(fmt(rec))
                if stop.signum is not None:
                    note = ""
                    if out:
                        save_checkpoint(self.checkpoint(meta(), complete=False), out)
                        note = (f"stopped at step {self.step} of {cfg.steps}; the checkpoint "
                                f"{out} holds it: continue with {resume_hint}")
                    stop.stop(note)
                if self.step >= cfg.steps:
                    break
                if cfg.time_limit and time.perf_counter() - t0 > cfg.time_limit:
                    if log:
                        log(f"time limit: stopped at step {self.step} of {cfg.steps}")
                    break
                now = time.perf_counter()
                if out and ((cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0)
                            or now - last_save > CHECKPOINT_SECONDS):
                    save_checkpoint(self.checkpoint(meta(), complete=False), out)
                    last_save = now
            tick()
            ckpt = self.checkpoint(meta(), complete=self.step >= cfg.steps)
            if out:
                save_checkpoint(ckpt, out)
        return ckpt
