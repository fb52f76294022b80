"""Train equivariant samplers on Monte Carlo data, draw samples, correct them exactly with MH.

Objectives (``SamplerTrainConfig.objective``, ``--objective``):

* ``forward`` (the default): maximum likelihood on Monte Carlo data (below);
* ``reverse``: the variational free energy, as in variational autoregressive networks (no data
  needed): minimize E_q[βE(s) + log P_g(s)] over proposals (g, s) ~ q(g) P_g(s) of the
  extended space (frame, configuration) — the bound −(T/N)·mean(log_weight) that ``analyze``
  reports (:func:`spinsym.analysis.importance_free_energy`), ≥ F with equality iff the
  sampler is exact.  Gradient: the score function (REINFORCE),
  E_q[(f − b) ∇ log P_g(s)] with f = βE + log P_g(s) and the baseline b the batch mean of f
  over the elements at the same (T, couplings) (a baseline changes no expectation since
  E_q[∇ log P_g] = 0).  The targets (T, couplings) are drawn uniformly per batch element from
  the training set: the temperatures × couplings of :class:`Target`, or the (T, couplings)
  of the data's groups when data are given;
* ``mix``: the sum of both per site, the reverse part at the data batch's (T, couplings).

``init``: start from the weights of another sampler checkpoint (the same network config),
e.g. one trained at a smaller L — the network is convolutional, so it runs at any L it
supports: progressive training L = 8 → 16 → 32 → 64.

Forward training: maximum likelihood on the configurations of one or more HDF5 files (any
temperatures and homogeneous couplings in them; a sweep directory stands for all its finished
files), read through :class:`spinsym.torchdata.SpinConfigs`.  The loss is an exact
negative log-likelihood per site:

* ``sympe``, ``frames``: the one-frame bound of the mixture the sampler draws from,
  −log P_g(s | x) with g drawn from the inversion kernel of each input
  (:meth:`~spinsym.nn.sampler.MaskedSampler.draw_frames` with the couplings); the spin flip
  (Ising, h = 0) and the XY rotation are summed / integrated exactly inside P_g;
* ``gcnn``: −log P_e(s | x) on configurations moved by a uniformly random lattice element
  (translation, D4; the data distribution is invariant, so this is data augmentation), with
  the flip / reflection by augmentation (antisymmetry does the rest);
* ``noise``: as gcnn, −log P_e(s | x, ε) with fresh ε ~ N(0, 1) (a bound on the mixture
  likelihood).

Sampling writes the schema of :mod:`spinsym.data` (the same group attributes as
:mod:`spinsym.mc.run`, algorithm ``sampler:<kind>`` or ``sampler:<kind>+mh``) with the
energies from :func:`spinsym.hamiltonians.energy`.

``mh=True``: an independence Metropolis–Hastings chain on the extended space (frame g or noise
ε, configuration s) with target π(s)·q(g): a proposal (g', s') ~ q(g')P_g'(s') is accepted with
probability min(1, π(s') P_g(s) / (π(s) P_g'(s'))), π ∝ exp(−βE) with E from
:func:`spinsym.hamiltonians.energy`.  Only exact component likelihoods enter, so π is invariant
and long runs are asymptotically exact.  ``burn_in`` proposals are drawn first and their
part of the chain is discarded (default 0: the independence chain starts at a proposal, an
exact-sampler draw, so there is no start-up transient unless the sampler is poor).
Recorded (:func:`mh_statistics`): ``acceptance`` (accepted moves / proposals − 1), ``distinct``
(distinct proposals the kept chain visits), ``ess`` = min(n / 2τ_int(E), n / 2τ_int(|m|),
distinct) — τ_int of the chain actually produced (:func:`spinsym.stats.tau_int`), capped by
the number of distinct states, so a chain that rejects everything has ESS 1, not n — and,
for every run, ``is_ess_fraction``: the Kish effective sample size of the importance weights
exp(−βE − log P_g) of the proposals, divided by their number.  Every group also stores
``log_weight`` (−βE − log P_g of every proposal, before the chain), from which ``analyze``
computes the free energy (:func:`spinsym.analysis.importance_free_energy`).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np

from ..errors import DataError, ParameterError
from ..symmetry import N_FLIP, point_group
from ..training import TrainingConfig
from ..training import resolve_device  # noqa: F401  (re-exported: the one device check)

LOG_2PI = math.log(2.0 * math.pi)

CHECKPOINT_KIND = "sampler"
FORMAT_VERSION = 1
KINDS = ("sympe", "frames", "gcnn", "noise")
OBJECTIVES = ("forward", "reverse", "mix")


def _torch():
    import torch

    from ..training import reuse_freed_memory

    reuse_freed_memory()  # before the first tensor (once per process)
    return torch


@dataclass(frozen=True)
class SamplerTrainConfig(TrainingConfig):
    """Training settings (frozen: override with ``dataclasses.replace`` or ``.override``);
    the same keys make a ``--config`` TOML file."""

    arch: str = "sympe"      # the network: sympe, frames, gcnn or noise (--model)
    steps: int = 1000
    batch: int = 32
    width: int = 4
    pe_period: int = 2
    init_scale: float = 0.1
    objective: str = "forward"  # forward (MC data), reverse (variational free energy), mix

    ARCHS: ClassVar[tuple] = KINDS
    INT_LIMITS: ClassVar[dict] = {**TrainingConfig.INT_LIMITS, "pe_period": (1, 64)}
    FLOAT_LIMITS: ClassVar[dict] = {**TrainingConfig.FLOAT_LIMITS, "init_scale": (0.0, 100.0)}
    OPTIONS: ClassVar[dict] = {**TrainingConfig.OPTIONS, "objective": "--objective"}
    #: the fields that make the network (an --init checkpoint must agree on them)
    NETWORK_FIELDS: ClassVar[tuple] = ("arch", "width", "depth", "kernel", "pe_fields",
                                       "pe_period", "init_scale")

    def validate(self):
        from .. import validate as V

        V.choice(self.objective, "objective", OBJECTIVES)
        return super().validate()

    def model_config(self, spin: str) -> dict:
        return dict(spin=spin, kind=self.arch, width=self.width, depth=self.depth,
                    kernel=self.kernel, pe_fields=self.pe_fields, pe_period=self.pe_period,
                    init_scale=self.init_scale)


def _seeds(seed: int, n: int):
    return np.random.SeedSequence(int(seed)).spawn(n)


def _int_seed(ss) -> int:
    return int(ss.generate_state(1, dtype=np.uint64)[0]) & ((1 << 63) - 1)


def _cond(torch, beta, couplings, device):
    """(B, 5) float32 rows (β, Jx, Jy, J2, h)."""
    b = torch.as_tensor(beta, dtype=torch.float64).reshape(-1, 1)
    c = torch.as_tensor(couplings, dtype=torch.float64).reshape(-1, 4)
    return torch.cat([b, c], 1).to(device=device, dtype=torch.float32)


def check_data(ds, cfg: SamplerTrainConfig):
    from ..nn.sampler import check_L

    check_L(ds.L, cfg.pe_period if cfg.arch == "sympe" else 1)
    if ds.model == "xy" and np.any(ds.couplings[:, 3] != 0):
        raise DataError("the XY sampler needs h = 0 data (its internal O(2) frame)")


def _format(rec: dict) -> str:
    return f"step {rec['step']:5d}  {describe_losses(rec)}  {rec['seconds']:.0f}s"


def describe_losses(rec: dict) -> str:
    """'nll/site 0.4123  βF_q/site -2.1034' for the losses a history record holds."""
    parts = []
    if "nll_per_site" in rec:
        parts.append(f"nll/site {rec['nll_per_site']:.4f}")
    if "beta_f_per_site" in rec:
        parts.append(f"βF_q/site {rec['beta_f_per_site']:.4f}")
    return "  ".join(parts)


@dataclass(frozen=True)
class Target:
    """The Boltzmann distributions of reverse-KL training without data: spin model, L, the
    training temperatures and the coupling sets (every T with every set)."""

    model: str
    L: int
    temperatures: tuple
    couplings: tuple = ((1.0, 1.0, 0.0, 0.0),)

    def rows(self) -> np.ndarray:
        """(G, 5) float64 rows (T, Jx, Jy, J2, h), sorted."""
        rows = [(float(T), *map(float, c)) for T in self.temperatures for c in self.couplings]
        return np.unique(np.array(rows, dtype=np.float64).reshape(-1, 5), axis=0)


def check_target(target: Target, cfg: SamplerTrainConfig) -> Target:
    from ..hamiltonians import Couplings
    from ..nn.sampler import check_L
    from ..validate import temperatures

    if target.model not in ("ising", "xy"):
        raise ParameterError(f"unknown spin model {target.model!r}; choose one of ising, xy")
    L = check_L(target.L, cfg.pe_period if cfg.arch == "sympe" else 1)
    sets = tuple(tuple(Couplings(*c).as_dict().values()) for c in target.couplings)
    if not sets:
        raise ParameterError("reverse training needs at least one coupling set")
    for c in sets:
        temperatures(target.temperatures, "--T", Couplings(*c))
        if target.model == "xy" and c[3] != 0:
            raise ParameterError("the XY sampler needs h = 0 (its internal O(2) frame)")
    temps = tuple(float(t) for t in temperatures(target.temperatures, "--T"))
    return Target(target.model, L, temps, sets)


def initial_model(cfg: SamplerTrainConfig, spin: str, device: str = "cpu"):
    """The network at step 0 of a training run with ``cfg`` (seeded by cfg.seed)."""
    torch = _torch()
    from ..nn.sampler import MaskedSampler

    init_ss = _seeds(cfg.seed, 3)[0]
    torch.manual_seed(_int_seed(init_ss))
    return MaskedSampler(**cfg.model_config(spin)).to(device)


def _read_init(path: str, cfg: SamplerTrainConfig, spin: str) -> dict:
    """The weights of an --init checkpoint, checked against this run's network and model."""
    from .. import training

    ckpt, stored = training.read_checkpoint(path, CHECKPOINT_KIND, SamplerTrainConfig)
    training.check_model_config(ckpt, stored.model_config(ckpt["model"]), path)
    if ckpt["model"] != spin:
        raise DataError(f"--init {path} is a {ckpt['model']} sampler; this run trains {spin}")
    if dict(ckpt["model_config"]) != cfg.model_config(spin):
        diff = [k for k in SamplerTrainConfig.NETWORK_FIELDS
                if getattr(stored, k) != getattr(cfg, k)]
        raise ParameterError(f"--init {path}: its network differs from this run's in "
                             f"{', '.join(diff) or 'its config'} (leave those options out "
                             "to take the checkpoint's)")
    return ckpt


def train(cfg: SamplerTrainConfig, paths=(), log=None, out: str | None = None,
          resume: str | None = None, *, target: Target | None = None,
          init: str | None = None) -> dict:
    """Train a sampler; returns the final checkpoint dictionary.

    ``paths``: the HDF5 files of the training data (``forward`` and ``mix``; with ``reverse``
    they only give the model, L, temperatures and couplings).  ``target``: the Boltzmann
    distributions of ``reverse`` training without data.  ``init``: a sampler checkpoint whose
    weights start the run (same network config, any L).

    ``out``: checked before any work (it must not be one of ``paths``), then written every
    ``cfg.checkpoint_every`` steps (``complete: False``) and at the end.  ``resume``: a sampler
    checkpoint to continue (same config except the run fields, same training data or
    target); the result is bit for bit that of the uninterrupted run."""
    from .. import training
    from ..fileio import check_out_path
    from ..torchdata import SpinConfigs

    cfg = cfg.validate()
    paths = [os.fspath(p) for p in paths]
    objective = cfg.objective
    if init is not None and resume is not None:
        raise ParameterError("--init starts a new run; --resume continues one (give one)")
    if out is not None:
        check_out_path(out, inputs=paths + ([init] if init else []))
    prev = None
    if resume is not None:
        prev, stored = training.read_checkpoint(resume, CHECKPOINT_KIND, SamplerTrainConfig)
        training.check_model_config(prev, stored.model_config(prev["model"]), resume)
        training.resume_config(stored, cfg.to_dict(), resume)
        training.check_resumable(prev, cfg, resume)
    if objective != "reverse" and not paths:
        raise ParameterError(f"--objective {objective} trains on data: give --data")
    if paths and target is not None:
        raise ParameterError("give either training data or a reverse-training target "
                             "(--L/--T/couplings), not both")
    if objective == "reverse" and not paths and target is None:
        raise ParameterError("--objective reverse needs --L and --T (or --data to take them "
                             "from)")
    ds = None
    if paths:
        ds = SpinConfigs(paths)
        check_data(ds, cfg)
        spin, L = ds.model, int(ds.L)
        rows = np.unique(np.column_stack([ds.T, ds.couplings]), axis=0)
        n_train = int(len(ds))
    else:
        target = check_target(target, cfg)
        spin, L, rows, n_train = target.model, target.L, target.rows(), 0
    if prev is not None:
        if spin != prev["model"] or L != int(prev["L"]) or n_train != int(prev["n_train_configs"]):
            raise DataError(f"--resume {resume}: the training data differ from the checkpoint's "
                            f"({prev['model']}, L={prev['L']}, {prev['n_train_configs']} "
                            f"configurations; given {spin}, L={L}, {n_train})")
        if "targets" in prev and not np.array_equal(np.asarray(prev["targets"]), rows):
            raise DataError(f"--resume {resume}: the training temperatures or couplings "
                            "differ from the checkpoint's")
    init_ckpt = _read_init(init, cfg, spin) if init is not None else None
    torch = _torch()

    device = resolve_device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    _, data_ss, noise_ss = _seeds(cfg.seed, 3)
    model = initial_model(cfg, spin, device)
    if init_ckpt is not None:
        model.load_state_dict(init_ckpt["state_dict"])
    rng = np.random.default_rng(data_ss)
    gen = torch.Generator(device=device).manual_seed(_int_seed(noise_ss))
    trainer = training.Trainer(CHECKPOINT_KIND, cfg, model, np_rngs={"batches": rng},
                               torch_gens={"noise": gen}, clip=10.0,
                               extra={"running": None, "running_reverse": None})
    if prev is not None:
        trainer.restore(prev, resume)
        trainer.extra.setdefault("running_reverse", None)
    N = L * L
    fr = model.frames(L)

    def running(key: str, value: float) -> float:
        r = trainer.extra[key]
        r = value if r is None else 0.9 * r + 0.1 * value
        trainer.extra[key] = r
        return r

    def step_fn(step: int) -> training.Step:
        loss, rec = None, {}
        if objective in ("forward", "mix"):
            idx = np.sort(rng.integers(0, len(ds), cfg.batch))
            item = ds.batch(idx)
            s = item["config"].to(device)
            cond = _cond(torch, item["beta"], item["couplings"], device)
            B = s.shape[0]
            if model.framed:
                # the one-frame bound of the mixture the sampler draws from: g from the
                # inversion kernel of each input, log P_g(s) (exact, pinned flip included)
                frames = model.draw_frames(B, L, rng, cond=cond)
                noise = model.draw_noise(B, L, gen, device)
                nll = -model.component_log_prob(s, cond, frames, noise).mean()
            else:
                ty, tx, d, z = (torch.as_tensor(rng.integers(0, m, B))
                                for m in (L, L, len(point_group()), N_FLIP))
                nll = _loss(torch, model, fr.act(s, ty, tx, d),
                            fr.transform_couplings(cond, d), z, gen)
            loss = nll / N
            rec["nll_per_site"] = float(nll.detach()) / N
        if objective in ("reverse", "mix"):
            if objective == "reverse":
                pick = rows[rng.integers(0, len(rows), cfg.batch)]
                cond = _cond(torch, 1.0 / pick[:, 0], pick[:, 1:], device)
            surrogate, f = reverse_loss(model, spin, L, cond, rng, gen)
            loss = surrogate / N if loss is None else loss + surrogate / N
            rec["beta_f_per_site"] = float(f.mean()) / N

        def report():
            out = {}
            if "nll_per_site" in rec:
                out["nll_per_site"] = running("running", rec["nll_per_site"])
            if "beta_f_per_site" in rec:
                out["beta_f_per_site"] = running("running_reverse", rec["beta_f_per_site"])
            if step % 25 == 0 or step == cfg.steps - 1:
                return out
            return None
        return training.Step(loss, report)

    data = [dict(path=os.path.abspath(p)) for p in (ds.paths if ds is not None else [])]
    temps = sorted(set(float(t) for t in rows[:, 0]))
    couplings = [list(map(float, c)) for c in np.unique(rows[:, 1:], axis=0)]

    def meta() -> dict:
        m = {"arch": cfg.arch, "model": spin, "L": int(L),
             "model_config": cfg.model_config(spin), "data": data,
             "temperatures": temps, "couplings": couplings,
             "targets": rows.tolist(), "n_train_configs": n_train}
        if init is not None:
            m["init"] = os.path.abspath(init)
        elif prev is not None and "init" in prev:
            m["init"] = prev["init"]
        return m

    hint = f"spinsym train sampler --resume {out} --out {out}"
    ckpt = trainer.run(step_fn, meta, out=out, log=log, fmt=_format, resume_hint=hint)
    model.eval()
    return ckpt


def reverse_loss(model, spin: str, L: int, cond, rng, gen):
    """The score-function surrogate of the variational free energy for one batch of targets
    ``cond`` (B, 5) = (β, Jx, Jy, J2, h): proposals (g, s) ~ q(g) P_g(s) drawn without
    gradients, f = βE(s) + log P_g(s) (float64, numpy), and the surrogate
    mean((f − b)·log P_g(s)) whose gradient is that of E_q[f] (b: the mean of f over the
    batch elements with the same target).  Returns (surrogate, f)."""
    torch = _torch()
    from ..hamiltonians import Couplings, energy

    B = cond.shape[0]
    device = cond.device
    frames = model.draw_frames(B, L, rng, cond=cond)
    noise = model.draw_noise(B, L, gen, device)
    x, logq = model.sample(cond, L, gen, frames, noise)
    logp = model.component_log_prob(x, cond, frames, noise)
    c64 = cond.detach().cpu().double().numpy()
    xs = x.cpu().numpy()
    xs = xs.astype(np.int8) if spin == "ising" else xs.astype(np.float64)
    E = np.empty(B)
    keys, group = np.unique(c64, axis=0, return_inverse=True)
    group = group.reshape(-1)
    for k, row in enumerate(keys):
        sel = group == k
        E[sel] = energy(spin, xs[sel], Couplings(*row[1:]))
    f = c64[:, 0] * E + logq.cpu().double().numpy()
    base = np.bincount(group, weights=f) / np.bincount(group)
    adv = torch.as_tensor(f - base[group], dtype=logp.dtype, device=logp.device)
    return (adv * logp).mean(), f


def _loss(torch, model, s, cond, z, gen):
    """Mean exact negative log-likelihood of a batch of lab-frame configurations that already
    carry a random lattice frame (see the module docstring)."""
    B = s.shape[0]
    if model.spin == "xy":
        s = torch.remainder(s - s[:, :1, :1], 2 * math.pi)  # θ_00 = 0 (rotation frame)
        s = torch.where(z.bool().to(s.device)[:, None, None], torch.remainder(-s, 2 * math.pi), s)
        noise = model.draw_noise(B, s.shape[-1], gen, s.device)
        return -(model.log_prob(s, cond, noise) - LOG_2PI).mean()
    pinned = model.pinned(cond)
    if model.framed:  # the canonical frame: s_00 = +1 (h = 0) or h >= 0
        zc = model.flip_frame(cond, z)
        sign = torch.where(pinned, s[:, 0, 0].sign(), 1.0 - 2.0 * zc.to(s.dtype))
    else:  # flip augmentation (s, h) -> (-s, -h)
        sign = 1.0 - 2.0 * z.to(s.dtype).to(s.device)
    s = s * sign[:, None, None]
    cond = cond.clone()
    cond[:, 4] = cond[:, 4] * sign.to(cond.dtype)
    noise = model.draw_noise(B, s.shape[-1], gen, s.device)
    return -(model.log_prob(s, cond, noise) - math.log(2.0) * pinned.to(s.dtype)).mean()


# ---------------------------------------------------------------------------------------------
# checkpoints


def save_checkpoint(ckpt: dict, path: str) -> str:
    """Write a checkpoint atomically (:func:`spinsym.training.save_checkpoint`)."""
    from ..training import save_checkpoint as save

    return save(ckpt, path)


def load_checkpoint(path: str, device: str = "cpu", warn: bool = True):
    """(model ready for sampling, checkpoint dict); DataError for missing, foreign or damaged
    files (the stored config is validated before the network is built).  A partial
    checkpoint loads with a one-line warning on stderr (``warn``)."""
    from .. import training
    from ..nn.sampler import MaskedSampler

    ckpt, cfg = training.read_checkpoint(path, CHECKPOINT_KIND, SamplerTrainConfig)
    for key in ("L", "temperatures", "couplings"):
        if key not in ckpt:
            raise DataError(f"{path}: damaged sampler checkpoint (no {key!r})")
    if ckpt["model"] not in ("ising", "xy"):
        raise DataError(f"{path}: unknown spin model {ckpt['model']!r} in the checkpoint")
    training.check_model_config(ckpt, cfg.model_config(ckpt["model"]), path)
    try:
        model = MaskedSampler(**ckpt["model_config"])
        model.load_state_dict(ckpt["state_dict"])
    except (RuntimeError, KeyError, TypeError, ParameterError) as exc:
        why = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise DataError(f"{path}: checkpoint weights do not match its config ({why})") from None
    model.to(device).prepare_inference()
    if warn:
        training.check_complete(ckpt, path)
    return model, ckpt


# ---------------------------------------------------------------------------------------------
# sampling


@dataclass(frozen=True)
class SampleConfig:
    temperatures: tuple
    L: int
    n: int = 1000
    seed: int = 0
    mh: bool = False
    couplings: object = None  # hamiltonians.Couplings
    batch: int = 500
    device: str = "cpu"
    threads: int = 0
    burn_in: int = 0  # MH: proposals whose part of the chain is discarded


def check_sample_config(cfg: SampleConfig, ckpt: dict) -> SampleConfig:
    from ..hamiltonians import Couplings
    from ..mc.run import parse_temperatures
    from ..nn.sampler import check_L

    temps = parse_temperatures(cfg.temperatures)
    mc = ckpt["model_config"]
    L = check_L(cfg.L, mc["pe_period"] if mc["kind"] == "sympe" else 1)
    if int(cfg.n) != cfg.n or cfg.n < 2:
        raise ParameterError(f"n must be an integer >= 2, got {cfg.n}")
    if int(cfg.batch) != cfg.batch or cfg.batch < 1:
        raise ParameterError(f"batch must be a positive integer, got {cfg.batch}")
    if cfg.seed < 0:
        raise ParameterError(f"seed must be non-negative, got {cfg.seed}")
    if int(cfg.burn_in) != cfg.burn_in or cfg.burn_in < 0:
        raise ParameterError(f"burn-in must be a non-negative integer, got {cfg.burn_in}")
    if cfg.burn_in and not cfg.mh:
        raise ParameterError("--burn-in discards the start of the MH chain; it needs --mh")
    c = cfg.couplings
    if c is None:
        sets = ckpt["couplings"]
        if len(sets) != 1:
            raise ParameterError("the sampler was trained on several coupling sets; give "
                                 "--Jx/--Jy/--J2/--h")
        c = Couplings(*sets[0])
    if ckpt["model"] == "xy" and c.h != 0:
        raise ParameterError("the XY sampler supports h = 0 only")
    return SampleConfig(temps, L, int(cfg.n), int(cfg.seed), bool(cfg.mh), c, int(cfg.batch),
                        cfg.device, int(cfg.threads), int(cfg.burn_in))


def generate(model, spin: str, cfg: SampleConfig, T: float, ss) -> dict:
    """n configurations at temperature T: independent sampler draws, or the MH chain over
    n + burn_in proposals with its first burn_in states discarded.  Returns ``configs``,
    ``energy``, ``stats`` (the group attributes) and ``log_weight`` (−βE − log P_g of every
    proposal, in the order drawn)."""
    torch = _torch()
    from ..data import magnetization
    from ..hamiltonians import energy

    c, L, n = cfg.couplings, cfg.L, cfg.n
    burn = cfg.burn_in if cfg.mh else 0
    total = n + burn
    device = cfg.device
    frame_ss, torch_ss, mh_ss = ss.spawn(3)
    rng = np.random.default_rng(frame_ss)
    gen = torch.Generator(device=device).manual_seed(_int_seed(torch_ss))
    beta = 1.0 / T
    dtype = np.int8 if spin == "ising" else np.float32
    configs = np.empty((total, L, L), dtype=dtype)
    logq = np.empty(total)
    done = 0
    while done < total:
        b = min(cfg.batch, total - done)
        cond = _cond(torch, [beta] * b, [[c.Jx, c.Jy, c.J2, c.h]] * b, device)
        frames = model.draw_frames(b, L, rng, cond=cond)
        noise = model.draw_noise(b, L, gen, device)
        x, lq = model.sample(cond, L, gen, frames, noise)
        configs[done:done + b] = x.cpu().numpy().astype(dtype)
        logq[done:done + b] = lq.cpu().numpy()
        done += b
    E = np.asarray(energy(spin, configs, c), dtype=np.float64)
    logw = -beta * E - logq
    w = np.exp(logw - logw.max())
    stats = {"is_ess_fraction": float(w.sum() ** 2 / (w * w).sum() / total),
             "proposals": int(total)}
    if cfg.mh:
        chain, accepted = mh_chain(logw, np.random.default_rng(mh_ss).random(total))
        keep = chain[burn:]
        configs, E = configs[keep], E[keep]
        m = np.asarray(magnetization(spin, configs), dtype=np.float64)
        absm = np.abs(m) if m.ndim == 1 else np.hypot(m[:, 0], m[:, 1])
        stats.update(mh_statistics(keep, [E / (L * L), absm], accepted, total), burn_in=int(burn))
    else:
        stats.update(ess=float(n), distinct=int(n))
    return {"configs": configs, "energy": E, "stats": stats, "log_weight": logw}


def mh_statistics(chain: np.ndarray, series, accepted: int, proposals: int) -> dict:
    """Statistics of the kept part ``chain`` (proposal indices) of an independence MH chain
    with ``accepted`` accepted moves over ``proposals`` proposals: ``acceptance``,
    ``distinct`` (distinct proposals visited), ``tau_int_energy`` (of the first series) and
    ``ess`` = min over ``series`` of n / 2τ_int, capped by ``distinct``: a chain that visits
    k states holds at most k independent draws, whatever τ_int of its (possibly constant)
    series says."""
    from ..stats import tau_int

    chain = np.asarray(chain)
    n = len(chain)
    distinct = int(np.unique(chain).size)
    taus = [float(tau_int(np.asarray(x, dtype=np.float64))[0]) for x in series]
    ess = min([n / max(2.0 * t, 1.0) for t in taus] + [float(distinct)])
    return {"acceptance": accepted / max(proposals - 1, 1), "tau_int_energy": taus[0],
            "ess": float(ess), "distinct": distinct}


def mh_chain(logw: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, int]:
    """Independence Metropolis–Hastings over proposals with log importance weights
    logw = log π(s) − log P_g(s) (unnormalized): the chain starts at proposal 0 and moves to
    proposal j with probability min(1, exp(logw[j] − logw[current])).  Returns the index of
    the state held at every step and the number of accepted moves."""
    n = len(logw)
    chain = np.empty(n, dtype=np.int64)
    cur, accepted = 0, 0
    chain[0] = 0
    for j in range(1, n):
        if math.log(u[j]) < logw[j] - logw[cur]:
            cur = j
            accepted += 1
        chain[j] = cur
    return chain, accepted


def sample_into(model, ckpt: dict, cfg: SampleConfig, writer, checkpoint_path: str = "",
                log=None):
    """Sample every temperature of ``cfg`` into ``writer`` (anything with the group / append /
    set_attrs / write_state / commit interface of :class:`spinsym.data.AtomicH5Writer`, such
    as :class:`spinsym.runs.RunBuilder`); returns ``writer.commit()``.

    The ``log_weight`` of every group goes in with one ``write_state`` call at the end, as
    the dataset ``T_xxx/log_weight`` (a file; a Run holds it in ``run.resume["arrays"]``,
    which :meth:`spinsym.Run.save` writes back to the same path)."""
    from ..analysis import LOG_WEIGHT

    torch = _torch()

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    spin, c = ckpt["model"], cfg.couplings
    algorithm = f"sampler:{ckpt['arch']}" + ("+mh" if cfg.mh else "")
    children = _seeds(cfg.seed, len(cfg.temperatures))
    weights = {}
    for i, T in enumerate(cfg.temperatures):
        attrs = dict(model=spin, L=cfg.L, Jx=c.Jx, Jy=c.Jy, J2=c.J2, h=c.h, T=float(T),
                     algorithm=algorithm, sweeps=cfg.n, thermalize=0, every=1,
                     seed=cfg.seed, stream=i, checkpoint=os.path.basename(checkpoint_path),
                     sampler_model=ckpt["arch"], mh=int(cfg.mh))
        writer.group(i, attrs)
        t0 = time.perf_counter()
        res = generate(model, spin, cfg, float(T), children[i])
        writer.append(i, res["configs"], res["energy"])
        writer.set_attrs(i, seconds=time.perf_counter() - t0, **res["stats"])
        weights[f"T_{i:03d}/{LOG_WEIGHT}"] = res["log_weight"]
        if log:
            extra = "".join(f"  {k} {v}" if isinstance(v, (int, np.integer))
                            else f"  {k} {v:.3g}" for k, v in res["stats"].items())
            log(f"T = {T:g}: {cfg.n} samples{extra}")
    writer.write_state({"arrays": weights})
    return writer.commit()


def sample_to_file(model, ckpt: dict, cfg: SampleConfig, out: str, checkpoint_path: str = "",
                   log=None) -> str:
    """Sample every temperature of ``cfg`` and write ``out`` atomically (data.AtomicH5Writer)."""
    from ..data import AtomicH5Writer

    with AtomicH5Writer(out, ckpt["model"], cfg.L) as writer:
        return sample_into(model, ckpt, cfg, writer, checkpoint_path, log)


def config_fields() -> list:
    return [f.name for f in fields(SamplerTrainConfig)]
