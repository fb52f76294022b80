"""Metrics that tell a good sampler from a biased one: symmetry violations and the exact KL.

Configurations in, numbers out: the symmetry metrics take ``configs[n, L, L]`` (Ising spins
±1 or XY angles) in the order they were produced (a Monte Carlo chain, an MH chain or
independent draws) and use only numpy; the error bars are τ-corrected
(:func:`spinsym.stats.mean_err`), so they hold for correlated chains too.

* :func:`site_magnetization`: the site-resolved map ⟨s_i⟩ and its deviation from the
  uniform mean, d_i = ⟨s_i − m⟩ (m = the configuration's own mean spin), in units of its
  standard error.  Subtracting each sample's m first removes the global fluctuation (a chain
  that sits in one magnetization sign, or tunnels slowly) that a translation-invariant sampler
  is allowed to have, and leaves what it is not allowed: sites that differ on average.
* :func:`correlation_anisotropy`: C_x(r) and C_y(r), r = 1 … L/2, with
  C_a(r) = (1/N) Σ_i ⟨s_i · s_{i + r e_a}⟩ (XY: cos(θ_i − θ_{i + r e_a})), and the
  difference C_x − C_y in units of its standard error.  For Jx = Jy a 90° turn is a symmetry,
  so they must agree.

Each reports ``max_z`` (the largest |deviation| / err), the threshold ``z_crit`` that M
independent standard normal z values would exceed with probability :data:`ALPHA` (two-sided,
Bonferroni: ``norm.isf(ALPHA / (2 M))``) and ``flagged = max_z > z_crit``.  To test a
sampler's q itself, give it independent draws (``Sampler.sample(..., mh=False)``): an MH chain
with few distinct states has τ estimates, and so error bars, that cannot be trusted.

The exact KL (Ising, N = L² ≤ 16 sites): :func:`kl_divergences` sums over all 2^N
configurations (or, where q is invariant, over the orbits of the stabilizer of the couplings,
weighted by the orbit sizes):

    KL(q‖π) = Σ_s q(s) (log q(s) − log π(s)),
    KL(π‖q) = Σ_s π(s) (log π(s) − log q(s)),

with π ∝ exp(−βE), E from :func:`spinsym.hamiltonians.energy`, normalized by the same
enumeration, and q any function of configurations, e.g. :func:`sampler_log_prob`: the exact
mixture likelihood of a trained sampler
(:meth:`spinsym.nn.sampler.MaskedSampler.mixture_log_prob`).  The sympe mixture costs
|G| = 128 component evaluations per configuration at L = 4: all 65 536 configurations take
about half an hour of CPU even for a width-1, depth-1 network.  The mixture is exactly
invariant under the couplings' stabilizer (by construction, for any weights), so
:func:`sampler_kl` evaluates one configuration per orbit (433 orbits at L = 4 for Jx = Jy,
h = 0: 15 s for that small network) after checking, on random images, the invariance it relies
on.  Samplers with a fixed partition (gcnn) are not translation invariant and are summed over
every configuration.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..errors import DataError, ParameterError

#: family-wise false-alarm probability of the ``flagged`` verdicts
ALPHA = 1e-3
#: configurations per chunk of the per-sample correlation sums (elements L² · chunk)
_CHUNK_ELEMENTS = 1 << 22
#: the most sites :func:`kl_divergences` enumerates (2^16 configurations)
KL_MAX_SITES = 16
#: kinds whose mixture is exactly invariant under the stabilizer of the couplings
INVARIANT_KINDS = ("sympe", "frames")


# ---------------------------------------------------------------------------------------------
# configurations -> per-sample fields


def _components(configs, model: str):
    """(configs as an (n, L, L) array, L, f): ``f(part)`` gives the spin components of any
    slice of it as float64 arrays: Ising [s], XY [cos θ, sin θ].  Callers convert slices, so
    the whole series is never held in float64."""
    if model not in ("ising", "xy"):
        raise ParameterError(f"unknown spin model {model!r}; choose ising or xy")
    a = np.asarray(configs)
    if a.ndim != 3 or a.shape[1] != a.shape[2] or a.shape[1] < 2:
        raise ParameterError(f"configs must have shape (n, L, L) with L >= 2, got {a.shape}")
    if a.shape[0] < 2:
        raise ParameterError(f"need at least 2 configurations, got {a.shape[0]}")
    if model == "ising":
        return a, a.shape[1], lambda part: [part.astype(np.float64)]

    def xy(part):
        th = part.astype(np.float64)
        return [np.cos(th), np.sin(th)]
    return a, a.shape[1], xy


def _slices(n: int, per_item: int):
    step = max(1, _CHUNK_ELEMENTS // per_item)
    for lo in range(0, n, step):
        yield slice(lo, min(n, lo + step))


def _z_scores(series: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column means of ``series`` (n, M), their τ-corrected errors and z = |mean| / err
    (0 where both vanish, inf where only the error does).  The error is at least the
    uncorrelated one (τ floored at 1/2): a τ estimated near 0 for anticorrelated data would
    otherwise give an error near 0 and a false alarm."""
    from ..stats import mean_err

    n, M = series.shape
    mean, err = np.empty(M), np.empty(M)
    for j in range(M):
        mean[j], err[j], _ = mean_err(series[:, j])
    err = np.maximum(err, np.sqrt(series.var(axis=0, ddof=1) / n))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(err > 0, np.abs(mean) / err, np.where(mean == 0, 0.0, np.inf))
    return mean, err, z


def z_threshold(M: int, alpha: float = ALPHA) -> float:
    """|z| that the largest of M independent standard normals exceeds with probability ≈ α."""
    from scipy.stats import norm

    return float(norm.isf(alpha / (2.0 * M)))


def _verdict(z: np.ndarray, alpha: float) -> dict:
    zc = z_threshold(z.size, alpha)
    mz = float(np.max(z))
    return {"max_z": mz, "z_crit": zc, "flagged": bool(mz > zc)}


def site_magnetization(configs, model: str = "ising", alpha: float = ALPHA) -> dict:
    """The site-resolved magnetization and its non-uniformity (see the module docstring).

    Returns ``map`` (C, L, L): ⟨s_i⟩ per component (C = 1 Ising; 2 XY: cos, sin);
    ``deviation`` (C, L, L): ⟨s_i − m⟩; ``err`` its τ-corrected standard error; ``z`` =
    |deviation| / err; ``max_z``, ``z_crit``, ``flagged``."""
    a, L, comps = _components(configs, model)
    n, N = a.shape[0], L * L
    flat = a.reshape(n, N)
    C = len(comps(flat[:1]))
    m = np.empty((C, n))  # each sample's mean spin
    for sl in _slices(n, N):
        for k, c in enumerate(comps(flat[sl])):
            m[k, sl] = c.mean(axis=1)
    maps, devs, errs, zs = (np.empty((C, N)) for _ in range(4))
    for cols in _slices(N, n):  # blocks of sites: (n, sites) float64 at a time
        for k, c in enumerate(comps(flat[:, cols])):
            maps[k, cols] = c.mean(axis=0)
            devs[k, cols], errs[k, cols], zs[k, cols] = _z_scores(c - m[k][:, None])
    shape = (C, L, L)
    z = zs.reshape(shape)
    return {"map": maps.reshape(shape), "deviation": devs.reshape(shape),
            "err": errs.reshape(shape), "z": z, **_verdict(z, alpha)}


def correlation_series(configs, model: str = "ising") -> tuple[np.ndarray, np.ndarray]:
    """Per-sample C_x(r) and C_y(r) (each (n, L//2)), r = 1 … L//2:
    (1/N) Σ_i s_i · s_{i + r e_a} summed over the spin components; every r at once from the
    circular autocorrelation of each line (Wiener–Khinchin, one FFT per line)."""
    a, L, comps = _components(configs, model)
    n, R, N = a.shape[0], L // 2, L * L
    cx, cy = np.zeros((n, R)), np.zeros((n, R))
    for sl in _slices(n, N):
        for part in comps(a[sl]):
            for axis, out, lines in ((-1, cx, -2), (-2, cy, -1)):
                F = np.fft.rfft(part, axis=axis)
                corr = np.fft.irfft(F.real ** 2 + F.imag ** 2, n=L, axis=axis).sum(axis=lines)
                out[sl] += corr[:, 1:R + 1] / N
    return cx, cy


def correlation_anisotropy(configs, model: str = "ising", alpha: float = ALPHA) -> dict:
    """C_x(r) against C_y(r) (see the module docstring).

    Returns ``r`` (1 … L//2), ``Cx``, ``Cy`` (means), ``diff`` = ⟨C_x − C_y⟩, ``err`` its
    τ-corrected standard error, ``z``, ``max_abs_diff`` = max_r |diff|, and ``max_z``,
    ``z_crit``, ``flagged``."""
    cx, cy = correlation_series(configs, model)
    diff, err, z = _z_scores(cx - cy)
    return {"r": np.arange(1, cx.shape[1] + 1), "Cx": cx.mean(axis=0), "Cy": cy.mean(axis=0),
            "diff": diff, "err": err, "z": z, "max_abs_diff": float(np.max(np.abs(diff))),
            **_verdict(z, alpha)}


def symmetry_report(run, alpha: float = ALPHA) -> list:
    """Both metrics for every temperature of a :class:`spinsym.runs.Run` (``simulate``,
    ``Sampler.sample`` or ``load``): a list of plain dicts (T, the scalar verdicts)."""
    out = []
    for g in run:
        site = site_magnetization(g.configs, g.model, alpha)
        corr = correlation_anisotropy(g.configs, g.model, alpha)
        out.append({"T": g.T, "n": g.n_samples,
                    "site_max_z": site["max_z"], "site_z_crit": site["z_crit"],
                    "site_flagged": site["flagged"],
                    "corr_max_abs_diff": corr["max_abs_diff"], "corr_max_z": corr["max_z"],
                    "corr_z_crit": corr["z_crit"], "corr_flagged": corr["flagged"]})
    return out


# ---------------------------------------------------------------------------------------------
# exact KL by enumeration


def all_configs(L: int) -> np.ndarray:
    """All 2^(L²) Ising configurations (int8 ±1, shape (2^N, L, L), read-only); configuration
    i has spin −1 at flat site k iff bit k of i is set (so :func:`config_index` inverts it)."""
    from ..lattice import check_size

    L = check_size(L)
    if L * L > KL_MAX_SITES:
        raise ParameterError(f"exact enumeration needs L*L <= {KL_MAX_SITES}, got L = {L}")
    return _all_configs(L)


@functools.lru_cache(maxsize=4)
def _all_configs(L: int) -> np.ndarray:
    N = L * L
    idx = np.arange(1 << N, dtype=np.int64)
    bits = (idx[:, None] >> np.arange(N, dtype=np.int64)) & 1
    out = (1 - 2 * bits).astype(np.int8).reshape(-1, L, L)
    out.setflags(write=False)
    return out


def config_index(configs) -> np.ndarray:
    """The index of each Ising configuration in :func:`all_configs`."""
    a = np.asarray(configs)
    N = a.shape[-1] * a.shape[-2]
    bits = (a.reshape(a.shape[:-2] + (N,)) < 0).astype(np.int64)
    return bits @ (np.int64(1) << np.arange(N, dtype=np.int64))


def stabilizer(L: int, couplings) -> list:
    """The elements g = (ty, tx, d, z) of the torus group that leave the homogeneous
    ``couplings`` unchanged (all translations; D4, or the part that keeps the axes when
    Jx ≠ Jy; the spin flip only when h = 0)."""
    from ..symmetry import torus_group

    c = _homogeneous(couplings)
    G = torus_group(L)
    return [g for g in G.elements() if G.act_couplings(g, c) == c]


def orbits(L: int, couplings) -> tuple[np.ndarray, np.ndarray]:
    """The orbits of all 2^(L²) configurations under :func:`stabilizer`: (index of one
    representative per orbit (the smallest), orbit sizes); sizes sum to 2^(L²).  Read-only
    arrays, cached per (L, couplings)."""
    configs = all_configs(L)
    return _orbits(int(L), _homogeneous(couplings), len(configs))


@functools.lru_cache(maxsize=8)
def _orbits(L: int, couplings, n: int) -> tuple[np.ndarray, np.ndarray]:
    from ..symmetry import torus_group

    G = torus_group(L)
    configs = all_configs(L)
    canon = np.arange(n, dtype=np.int64)
    for g in stabilizer(L, couplings):
        canon = np.minimum(canon, config_index(G.act(g, configs)))
    reps, sizes = np.unique(canon, return_counts=True)
    for a in (reps, sizes):
        a.setflags(write=False)
    return reps, sizes


def _homogeneous(couplings):
    from ..hamiltonians import Couplings

    if isinstance(couplings, Couplings):
        return couplings
    if isinstance(couplings, dict):
        return Couplings(**couplings)
    try:
        return Couplings(*couplings)
    except TypeError:
        raise ParameterError("couplings must be Couplings, a dict of Jx, Jy, J2, h or a "
                             "sequence (Jx, Jy, J2, h)") from None


def boltzmann_log_prob(L: int, couplings, T: float) -> np.ndarray:
    """log π(s) of every configuration of :func:`all_configs`: −βE(s) − log Z, with E from
    :func:`spinsym.hamiltonians.energy` and Z summed over the same configurations."""
    from ..hamiltonians import energy

    T = _temperature(T)
    E = np.asarray(energy("ising", all_configs(L), _homogeneous(couplings)), dtype=np.float64)
    a = -E / T
    return a - _logsumexp(a)


def _temperature(T) -> float:
    from ..validate import finite_float

    T = finite_float(T, "T")
    if T <= 0:
        raise ParameterError(f"T must be positive, got {T}")
    return T


def _logsumexp(a: np.ndarray) -> float:
    m = float(np.max(a))
    return m + math.log(float(np.sum(np.exp(a - m))))


def kl_divergences(log_q, L: int, couplings, T: float, *, use_orbits: bool = False,
                   batch: int = 4096, check_invariance: int = 8, tol: float = 1e-4,
                   seed: int = 0) -> dict:
    """Exact KL(q‖π) and KL(π‖q) on the L × L torus (L² ≤ 16) by enumeration.

    ``log_q(configs)``: log q of a batch of int8 configurations (n, L, L), as a float array
    (called on at most ``batch`` at a time).  ``use_orbits``: evaluate q on one configuration
    per orbit of :func:`stabilizer` only (valid when q is invariant under it, as π is);
    ``check_invariance`` random (representative, group element) pairs are then evaluated
    too and a DataError is raised if log q moves by more than ``tol``.

    Returns ``kl_q_pi``, ``kl_pi_q``, ``q_total`` (Σ q, 1 for a normalized q), ``evaluated``
    (configurations passed to ``log_q``) and ``invariance_error`` (the largest |Δ log q| seen,
    NaN without orbits)."""
    configs = all_configs(L)
    log_pi = boltzmann_log_prob(L, couplings, T)
    if use_orbits:
        reps, weight = orbits(L, couplings)
    else:
        reps, weight = np.arange(len(configs)), np.ones(len(configs), dtype=np.int64)
    lq = _batched(log_q, configs[reps], batch)
    inv_err = float("nan")
    if use_orbits and check_invariance:
        from ..symmetry import torus_group

        G, stab = torus_group(L), stabilizer(L, couplings)
        rng = np.random.default_rng(seed)
        pick = rng.integers(0, len(reps), check_invariance)
        moved = np.stack([G.act(stab[int(rng.integers(len(stab)))], configs[reps[i]])
                          for i in pick])
        inv_err = float(np.max(np.abs(_batched(log_q, moved, batch) - lq[pick])))
        if not inv_err <= tol:
            raise DataError(f"q is not invariant under the stabilizer of the couplings "
                            f"(|Δ log q| up to {inv_err:.3g}); sum over every configuration "
                            f"instead (use_orbits=False)")
    lp = log_pi[reps]
    w = weight.astype(np.float64)
    q = np.exp(lq)
    p = np.exp(lp)
    with np.errstate(invalid="ignore"):
        kl_q_pi = float(np.sum(np.where(q > 0, w * q * (lq - lp), 0.0)))
        kl_pi_q = float(np.sum(w * p * (lp - lq)))  # inf where q = 0 < π
    return {"kl_q_pi": kl_q_pi, "kl_pi_q": kl_pi_q, "q_total": float(np.sum(w * q)),
            "evaluated": int(len(reps)) + (check_invariance if use_orbits else 0),
            "invariance_error": inv_err}


def _batched(fn, configs: np.ndarray, batch: int) -> np.ndarray:
    parts = [np.asarray(fn(configs[i:i + batch]), dtype=np.float64).reshape(-1)
             for i in range(0, len(configs), max(1, int(batch)))]
    out = np.concatenate(parts)
    if out.shape != (len(configs),):
        raise ParameterError(f"log_q returned {out.shape[0]} values for {len(configs)} "
                             "configurations")
    return out


def sampler_log_prob(sampler, T: float, couplings):
    """log q(configs) of a trained sampler (a :class:`spinsym.Sampler` or a
    :class:`spinsym.nn.sampler.MaskedSampler`) at temperature T and homogeneous couplings:
    the exact mixture likelihood over its frames, as a function of int8 configurations."""
    import torch

    model = getattr(sampler, "network", sampler)
    if model.spin != "ising":
        raise ParameterError("the exact KL is for Ising samplers (a sum over configurations)")
    if model.kind == "noise":
        raise ParameterError("the noise sampler's mixture over its noise fields has no exact "
                             "likelihood; the exact KL needs sympe, frames or gcnn")
    c = _homogeneous(couplings)
    row = torch.tensor([[1.0 / _temperature(T), c.Jx, c.Jy, c.J2, c.h]], dtype=torch.float32)
    device = next(model.parameters()).device

    def log_q(configs: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(np.asarray(configs, dtype=np.float32), device=device)
        cond = row.to(device).expand(x.shape[0], -1)
        with torch.no_grad():
            return model.mixture_log_prob(x, cond).double().cpu().numpy()

    return log_q


def sampler_kl(sampler, T: float, couplings=None, *, L: int = 4, use_orbits=None,
               batch: int = 1024) -> dict:
    """:func:`kl_divergences` of a trained sampler's exact mixture against Boltzmann at
    (L, T, couplings); ``couplings`` default to the checkpoint's single set (a
    :class:`spinsym.Sampler`) or (1, 1, 0, 0).  ``use_orbits`` None: the orbit sum for
    :data:`INVARIANT_KINDS` (checked), every configuration otherwise."""
    model = getattr(sampler, "network", sampler)
    if couplings is None:
        sets = getattr(sampler, "ckpt", {}).get("couplings", [[1.0, 1.0, 0.0, 0.0]])
        if len(sets) != 1:
            raise ParameterError("the sampler was trained on several coupling sets; give "
                                 "couplings")
        couplings = sets[0]
    if use_orbits is None:
        use_orbits = model.kind in INVARIANT_KINDS
    fn = sampler_log_prob(sampler, T, couplings)
    return kl_divergences(fn, L, couplings, T, use_orbits=bool(use_orbits), batch=batch)
