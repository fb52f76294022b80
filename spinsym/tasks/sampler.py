"""Train equivariant samplers on Monte Carlo data, draw samples, correct them exactly with MH.

Training: maximum likelihood on the configurations of one or more HDF5 files (any temperatures
and homogeneous couplings in them), read through :class:`spinsym.torchdata.SpinConfigs`.  Each
configuration is moved by a uniformly random lattice element (translation, D4; the data
distribution is invariant, so this is data augmentation) and enters the canonical-frame
generator of :mod:`spinsym.nn.sampler` with its own β and couplings.  The loss is the exact
negative log-likelihood per site:

* ``sympe``: the spin flip of the frame is an exact canonicalization (h = 0: the
  canonical configuration has s_00 = +1, the mixture over the flip is ½ P_e(s_00·s)); XY:
  θ_00 = 0 and a random reflection.  Loss −log P(s), exact;
* ``gcnn``: −log P_e(s | x) (flip / reflection by augmentation, antisymmetry does the rest);
* ``noise``: −log P_e(s | x, ε) with fresh ε ~ N(0, 1) (a bound on the mixture likelihood).

Sampling writes the schema of :mod:`spinsym.data` (the same group attributes as
:mod:`spinsym.mc.run`, algorithm ``sampler:<kind>`` or ``sampler:<kind>+mh``) with the
energies from :func:`spinsym.hamiltonians.energy`.

``mh=True``: an independence Metropolis–Hastings chain on the extended space (frame g or noise
ε, configuration s) with target π(s)·q(g): a proposal (g', s') ~ q(g')P_g'(s') is accepted with
probability min(1, π(s') P_g(s) / (π(s) P_g'(s'))), π ∝ exp(−βE) with E from
:func:`spinsym.hamiltonians.energy`.  Only exact component likelihoods enter, so π is invariant
and long runs are asymptotically exact.  Recorded: ``acceptance``, ``ess`` (n / 2τ_int of the
energy series, :func:`spinsym.stats.tau_int`) and, for every run, ``is_ess_fraction``: the
Kish effective sample size of the importance weights exp(−βE − log P_g), divided by n.
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
KINDS = ("sympe", "gcnn", "noise")


def _torch():
    import torch

    return torch


@dataclass(frozen=True)
class SamplerTrainConfig(TrainingConfig):
    """Training settings (frozen: override with ``dataclasses.replace`` or ``.override``);
    the same keys make a ``--config`` TOML file."""

    arch: str = "sympe"      # the network: sympe, gcnn or noise (--model)
    steps: int = 1500
    batch: int = 32
    width: int = 4
    pe_period: int = 4
    init_scale: float = 0.1

    ARCHS: ClassVar[tuple] = KINDS
    INT_LIMITS: ClassVar[dict] = {**TrainingConfig.INT_LIMITS, "pe_period": (1, 64)}
    FLOAT_LIMITS: ClassVar[dict] = {**TrainingConfig.FLOAT_LIMITS, "init_scale": (0.0, 100.0)}

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
    return f"step {rec['step']:5d}  nll/site {rec['nll_per_site']:.4f}  {rec['seconds']:.0f}s"


def train(cfg: SamplerTrainConfig, paths, log=None, out: str | None = None,
          resume: str | None = None) -> dict:
    """Train a sampler on the HDF5 files ``paths``; returns the final checkpoint dictionary.

    ``out``: checked before any work (it must not be one of ``paths``), then written every
    ``cfg.checkpoint_every`` steps (``complete: False``) and at the end.  ``resume``: a sampler
    checkpoint to continue (same config except the run fields, same training data); the
    result is bit for bit that of the uninterrupted run."""
    from .. import training
    from ..fileio import check_out_path
    from ..torchdata import SpinConfigs

    cfg = cfg.validate()
    paths = [os.fspath(p) for p in paths]
    if out is not None:
        check_out_path(out, inputs=paths)
    prev = None
    if resume is not None:
        prev, stored = training.read_checkpoint(resume, CHECKPOINT_KIND, SamplerTrainConfig)
        training.check_model_config(prev, stored.model_config(prev["model"]), resume)
        training.resume_config(stored, cfg.to_dict(), resume)
        training.check_resumable(prev, cfg, resume)
    ds = SpinConfigs(paths)
    check_data(ds, cfg)
    if prev is not None and (ds.model != prev["model"] or int(ds.L) != int(prev["L"])
                             or len(ds) != int(prev["n_train_configs"])):
        raise DataError(f"--resume {resume}: the training data differ from the checkpoint's "
                        f"({prev['model']}, L={prev['L']}, {prev['n_train_configs']} "
                        f"configurations; given {ds.model}, L={ds.L}, {len(ds)})")
    torch = _torch()
    from ..nn.sampler import MaskedSampler

    device = resolve_device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    init_ss, data_ss, noise_ss = _seeds(cfg.seed, 3)
    torch.manual_seed(_int_seed(init_ss))
    model = MaskedSampler(**cfg.model_config(ds.model)).to(device)
    rng = np.random.default_rng(data_ss)
    gen = torch.Generator(device=device).manual_seed(_int_seed(noise_ss))
    trainer = training.Trainer(CHECKPOINT_KIND, cfg, model, np_rngs={"batches": rng},
                               torch_gens={"noise": gen}, clip=10.0,
                               extra={"running": None})
    if prev is not None:
        trainer.restore(prev, resume)
    L, N = ds.L, ds.L * ds.L
    fr = model.frames(L)

    def step_fn(step: int) -> training.Step:
        idx = np.sort(rng.integers(0, len(ds), cfg.batch))
        item = ds.batch(idx)
        s = item["config"].to(device)
        cond = _cond(torch, item["beta"], item["couplings"], device)
        B = s.shape[0]
        ty, tx, d, z = (torch.as_tensor(rng.integers(0, m, B))
                        for m in (L, L, len(point_group()), N_FLIP))
        s = fr.act(s, ty, tx, d)
        cond = fr.transform_couplings(cond, d)
        loss = _loss(torch, model, s, cond, z, gen)

        def report():
            value = float(loss.detach()) / N
            running = trainer.extra["running"]
            running = value if running is None else 0.9 * running + 0.1 * value
            trainer.extra["running"] = running
            if step % 25 == 0 or step == cfg.steps - 1:
                return dict(nll_per_site=running)
            return None
        return training.Step(loss / N, report)

    data = [dict(path=os.path.abspath(p)) for p in ds.paths]
    temps = sorted(float(t) for t in ds.temperatures())
    couplings = [list(map(float, c)) for c in ds.coupling_sets()]

    def meta() -> dict:
        return {"arch": cfg.arch, "model": ds.model, "L": int(L),
                "model_config": cfg.model_config(ds.model), "data": data,
                "temperatures": temps, "couplings": couplings,
                "n_train_configs": int(len(ds))}

    hint = f"spinsym train sampler --resume {out} --out {out}"
    ckpt = trainer.run(step_fn, meta, out=out, log=log, fmt=_format, resume_hint=hint)
    model.eval()
    return ckpt


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
    if model.kind == "sympe":  # the canonical frame: s_00 = +1 (h = 0) or h >= 0
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
        raise DataError(f"{path}: checkpoint weights do not match its config "
                        f"({type(exc).__name__})") from None
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
                        cfg.device, int(cfg.threads))


def generate(model, spin: str, cfg: SampleConfig, T: float, ss) -> dict:
    """n configurations at temperature T: independent sampler draws, or the MH chain."""
    torch = _torch()
    from ..hamiltonians import energy
    from ..stats import tau_int

    c, L, n = cfg.couplings, cfg.L, cfg.n
    device = cfg.device
    frame_ss, torch_ss, mh_ss = ss.spawn(3)
    rng = np.random.default_rng(frame_ss)
    gen = torch.Generator(device=device).manual_seed(_int_seed(torch_ss))
    beta = 1.0 / T
    dtype = np.int8 if spin == "ising" else np.float32
    configs = np.empty((n, L, L), dtype=dtype)
    logq = np.empty(n)
    done = 0
    while done < n:
        b = min(cfg.batch, n - done)
        cond = _cond(torch, [beta] * b, [[c.Jx, c.Jy, c.J2, c.h]] * b, device)
        frames = model.draw_frames(b, L, rng)
        noise = model.draw_noise(b, L, gen, device)
        x, lq = model.sample(cond, L, gen, frames, noise)
        configs[done:done + b] = x.cpu().numpy().astype(dtype)
        logq[done:done + b] = lq.cpu().numpy()
        done += b
    E = np.asarray(energy(spin, configs, c), dtype=np.float64)
    logw = -beta * E - logq
    w = np.exp(logw - logw.max())
    stats = {"is_ess_fraction": float(w.sum() ** 2 / (w * w).sum() / n)}
    if cfg.mh:
        chain, accepted = mh_chain(logw, np.random.default_rng(mh_ss).random(n))
        configs, E = configs[chain], E[chain]
        tau = tau_int(E / (L * L))[0]
        stats.update(acceptance=accepted / (n - 1), tau_int_energy=float(tau),
                     ess=float(n / max(2 * tau, 1.0)))
    else:
        stats["ess"] = float(n)
    return {"configs": configs, "energy": E, "stats": stats}


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
    set_attrs / commit interface of :class:`spinsym.data.AtomicH5Writer`, such as
    :class:`spinsym.runs.RunBuilder`); returns ``writer.commit()``."""
    torch = _torch()

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    spin, c = ckpt["model"], cfg.couplings
    algorithm = f"sampler:{ckpt['arch']}" + ("+mh" if cfg.mh else "")
    children = _seeds(cfg.seed, len(cfg.temperatures))
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
        if log:
            extra = "".join(f"  {k} {v:.3g}" for k, v in res["stats"].items())
            log(f"T = {T:g}: {cfg.n} samples{extra}")
    return writer.commit()


def sample_to_file(model, ckpt: dict, cfg: SampleConfig, out: str, checkpoint_path: str = "",
                   log=None) -> str:
    """Sample every temperature of ``cfg`` and write ``out`` atomically (data.AtomicH5Writer)."""
    from ..data import AtomicH5Writer

    with AtomicH5Writer(out, ckpt["model"], cfg.L) as writer:
        return sample_into(model, ckpt, cfg, writer, checkpoint_path, log)


def config_fields() -> list:
    return [f.name for f in fields(SamplerTrainConfig)]
