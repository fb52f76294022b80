"""train groundstate / predict / evaluate groundstate / plot phase-diagram.

torch and escnn are imported inside the command functions only (``spinsym --help`` stays fast).
"""

from __future__ import annotations

import json
import os
from typing import Optional

import typer

from ..errors import ParameterError
from .app import app, evaluate_app, plot_app, plural, train_app


def _check_out(path: str, inputs=()) -> str:
    from ..fileio import check_out_path
    return check_out_path(path, inputs=list(inputs))


def _check_L(L: int, multiple: int = 2, what: str = "") -> int:
    """Even L (``multiple`` = 4 where the exact reference needs it) that fits in memory."""
    from ..validate import lattice_size
    return lattice_size(L, "L", multiple=multiple, minimum=2 if multiple == 2 else multiple)


#: bytes per site of one network evaluation (a rough floor of escnn activations)
_NET_BYTES_PER_SITE = 512
#: Hamiltonians per network batch in tasks.groundstate.predict
_PREDICT_BATCH = 64


def _check_predict(L: int, n: int, samples: int, best_of: int) -> None:
    """Refuse a prediction whose spins or network activations cannot fit in memory."""
    from ..validate import check_memory

    items = min(n, max(1, _PREDICT_BATCH // best_of)) * samples * best_of
    # spins, the bond fields (5 float64 per site) and the network's activations
    need = float(L) ** 2 * (n * samples + 40 * n + items * _NET_BYTES_PER_SITE)
    check_memory(need, f"L={L} with {plural(n, 'Hamiltonian')} x {plural(samples, 'sample')}")


def _gs_inputs(ckpt: str, params: str, L: int, samples: int, seed: int, best_of: int,
               device: str, sampling: str | None = None, decode: str = "sign"):
    """The checks predict and evaluate share, before anything loads: options, the params
    file (scalar or per-bond entries, at this L) and the checkpoint path.  Returns the
    :class:`spinsym.tasks.groundstate.HamiltonianSet`."""
    from .. import validate
    from ..tasks.groundstate import load_hamiltonians

    validate.samples(samples, "--samples", maximum=100000)
    validate.positive_int(best_of, "--best-of", maximum=1000)
    validate.seed(seed, "--seed")
    validate.choice(device.split(":")[0], "device", ("cpu", "cuda"))
    if sampling is not None:
        validate.choice(sampling, "--sampling", SAMPLING_MODES)
    validate.choice(decode, "--decode", DECODE_MODES)
    validate.input_file(ckpt, "checkpoint")
    return load_hamiltonians(params, L, check=lambda n: _check_predict(L, n, samples, best_of))


#: the refinement options of predict and evaluate groundstate
_REFINE = typer.Option(True, "--refine/--no-refine",
                       help="Equivariant local descent of the network's output (single "
                            "flips and, by default, pair and line-block flips).")
_REFINE_PAIRS = typer.Option(
    None, "--refine-pairs/--single-flips",
    help="The descent also flips pairs of spins joined by a bond (the default; ends at a "
         "minimum under single and pair flips, and line-block flips unless "
         "--no-refine-lines); --single-flips: no pair flips.",
    show_default=False)


_REFINE_LINES = typer.Option(
    None, "--refine-lines/--no-refine-lines",
    help="The descent also flips blocks of whole rows or columns (the default; repairs the "
         "stacking of layered states, which no local flip can).",
    show_default=False)


def _refine_move(refine: bool, value, flag: str) -> bool:
    """Whether the refinement makes a kind of move (pair or line flips): by default when it
    runs; asking for it without the refinement is an error (not silently nothing)."""
    if value and not refine:
        raise ParameterError(f"{flag} needs the refinement: drop --no-refine")
    return refine and value is not False


_PARAMS_HELP = ('JSON list of Hamiltonians: {"Jx", "Jy", "J2", "h"} numbers, or per-bond '
                '{"Jx", "Jy", "J2p", "J2m" (or "J2"), "h"} with numbers or L x L lists; '
                'an optional "family" tag each.')


from ..tasks.groundstate import TrainConfig as _GS  # noqa: E402  (defaults for --help; no torch)
from ..tasks.groundstate import (DECODE_MODES, PREDICT_BEST_OF, PREDICT_DECODE,  # noqa: E402
                                 PREDICT_SAMPLING, SAMPLING_MODES)

#: the inference options of predict and evaluate groundstate
_BEST_OF = typer.Option(PREDICT_BEST_OF, help="Keep the lowest-energy of R refined draws per "
                                              "sample (an invariant selection; 1 = plain "
                                              "sampling).")
_SAMPLING = typer.Option(
    None, help=f"How SymPE draws g̃: {', '.join(SAMPLING_MODES)} (default: "
               f"{PREDICT_SAMPLING}; canonical is the canonicalizer's own draw). Only for "
               f"models that draw g̃.", show_default=False)


_DECODE = typer.Option(PREDICT_DECODE, help=f"How the network's logits become spins: "
                                             f"{' or '.join(DECODE_MODES)} (a draw from its "
                                             f"product distribution; sign: the most likely "
                                             f"configuration).")


def _predict(ckpt: str, H, L: int, samples: int, seed: int, best_of: int, refine: bool,
             pairs: bool, lines: bool, sampling, decode: str, device: str) -> tuple:
    """Load the checkpoint and predict (predict, evaluate groundstate): (model, meta, result,
    the sampling mode used).  ``sampling`` None: the inference default for this model."""
    from ..tasks.groundstate import default_sampling, load_checkpoint, predict, resolve_device

    device = resolve_device(device)
    model, meta = load_checkpoint(ckpt, device)
    if sampling is None:
        sampling = default_sampling(model)
    res = predict(model, H.bonds, L, samples=samples, seed=seed, device=device,
                  best_of=best_of, refine_output=refine, refine_pairs=pairs,
                  refine_lines=lines, sampling=sampling, decode=decode)
    return model, meta, res, sampling


@train_app.command("groundstate")
def train_groundstate(
    model: Optional[str] = typer.Option(None, help=f"sympe, gcnn, noise or cnn (the network) "
                                                   f"(default: {_GS.arch})"),
    L: Optional[int] = typer.Option(None, "--L", help=f"Training lattice size (sympe/cnn: "
                                                      f"divisible by 4) (default: {_GS.L})"),
    seed: Optional[int] = typer.Option(None, help="Seed (initialization, Hamiltonians, g̃ "
                                                  f"draws) (default: {_GS.seed})"),
    out: str = typer.Option(..., help="Checkpoint path (.pt); also written every "
                                      "--checkpoint-every steps (marked partial)."),
    steps: Optional[int] = typer.Option(None, help=f"Optimizer steps (default: {_GS.steps})"),
    batch: Optional[int] = typer.Option(None, help=f"Hamiltonians per step "
                                                   f"(default: {_GS.batch})"),
    lr: Optional[float] = typer.Option(None, help=f"Peak learning rate (one-cycle schedule) "
                                                  f"(default: {_GS.lr:g})"),
    width: Optional[int] = typer.Option(None, help=f"Regular fields per hidden layer "
                                                   f"(default: {_GS.width})"),
    depth: Optional[int] = typer.Option(None, help=f"Hidden layers (default: {_GS.depth})"),
    pe_fields: Optional[int] = typer.Option(None, help="Regular fields in the positional "
                                                       "encoding / noise "
                                                       f"(default: {_GS.pe_fields})"),
    T0: Optional[float] = typer.Option(None, "--T0", help="Initial entropy temperature "
                                                          f"(annealed to 0) (default: {_GS.T0:g})"),
    canon_depth: Optional[int] = typer.Option(None, help="SymPE canonicalizer hidden layers "
                                                         f"(0: linear) (default: "
                                                         f"{_GS.canon_depth})"),
    canon_scale: Optional[float] = typer.Option(None, help="SymPE initial inverse temperature "
                                                           f"of q(g|x) (default: "
                                                           f"{_GS.canon_scale:g})"),
    time_limit: Optional[float] = typer.Option(None, help="Stop after this many seconds; the "
                                                          "checkpoint stays resumable (0: no "
                                                          "limit) (default: 0)"),
    device: Optional[str] = typer.Option(None, help="cpu or cuda (default: cpu)"),
    threads: Optional[int] = typer.Option(None, help="torch CPU threads (0: torch default) "
                                                     "(default: 0)"),
    fold: Optional[bool] = typer.Option(None, "--fold/--no-fold",
                                        help="Compute on the 4x4 torus when exactly equivalent "
                                             "(--families homogeneous, period-4 encoding) "
                                             "(default: --fold)"),
    families: Optional[str] = typer.Option(None, help="Training families, comma-separated: "
                                                      "homogeneous, defect, superlattice, "
                                                      "diluted, random_field, pm_j, "
                                                      "gaussian_glass, unequal_diagonals, "
                                                      "mixture, each optionally name:weight "
                                                      "(drawn weight times as often); all: "
                                                      "every family not named, weight 1 "
                                                      f"(default: {_GS.families})"),
    pe_period: Optional[int] = typer.Option(None, help="Period of the sympe/cnn positional "
                                                       "encoding; 0: the training L, a "
                                                       "full-lattice encoding (default: 0)"),
    encoding: Optional[str] = typer.Option(None, help="Network input: bonds (injective "
                                                      "per-bond encoding) or sites (older, "
                                                      "site sums) (default: bonds)"),
    v: Optional[str] = typer.Option(None, "--v", help="SymPE ablation: the encoding field v is "
                                                      "learned, fixed (random, never trained) "
                                                      "or none (no encoding channels) "
                                                      f"(default: {_GS.v})"),
    canonicalizer: Optional[str] = typer.Option(None, help="SymPE ablation: learned "
                                                           "(equivariant canonicalizer) or "
                                                           "uniform (g̃ uniform on G) "
                                                           f"(default: {_GS.canonicalizer})"),
    group: Optional[str] = typer.Option(None, help="Spatial group of the sympe/gcnn/noise "
                                                   "networks: p4m (rotations and mirrors) or "
                                                   "p4 (rotations only; an ablation) "
                                                   f"(default: {_GS.group})"),
    teacher: Optional[str] = typer.Option(None, help="none, or anneal: add a cross-entropy "
                                                     "term towards a short simulated anneal of "
                                                     "each training Hamiltonian where it beats "
                                                     "the network's sample (default: "
                                                     f"{_GS.teacher})"),
    teacher_sweeps: Optional[int] = typer.Option(None, help="Sweeps of the teacher's anneal "
                                                            f"(default: {_GS.teacher_sweeps})"),
    checkpoint_every: Optional[int] = typer.Option(
        None, help="Write the checkpoint to --out every N steps (and every 5 minutes); 0: only "
                   f"at the end (default: {_GS.checkpoint_every})"),
    config: Optional[str] = typer.Option(None, "--config",
                                         help="TOML file of settings (the TrainConfig field "
                                              "names; 'arch' is --model); options given here "
                                              "override it."),
    resume: Optional[str] = typer.Option(None, "--resume",
                                         help="Continue this checkpoint's run (partial, or "
                                              "complete with a larger --steps)."),
    quiet: bool = typer.Option(False, help="No progress lines."),
):
    """Train a ground-state predictor by minimizing the expected energy (no labels)."""
    from ..training import build_config
    from ..tasks.groundstate import CHECKPOINT_KIND, train

    given = dict(arch=model, L=L, seed=seed, steps=steps, batch=batch, lr=lr, width=width,
                 depth=depth, pe_fields=pe_fields, T0=T0, canon_depth=canon_depth,
                 canon_scale=canon_scale, time_limit=time_limit, device=device,
                 threads=threads, fold=fold, checkpoint_every=checkpoint_every,
                 families=families, pe_period=pe_period, encoding=encoding, v=v,
                 canonicalizer=canonicalizer, group=group, teacher=teacher,
                 teacher_sweeps=teacher_sweeps)
    cfg = build_config(_GS, CHECKPOINT_KIND, given, config, resume)
    log = None if quiet else (lambda s: typer.echo(s, err=True))
    ckpt = train(cfg, log=log, out=out, resume=resume)
    last = ckpt["history"][-1] if ckpt["history"] else {}
    state = "" if ckpt["complete"] else (f" (partial: step {ckpt['steps_done']} of "
                                         f"{ckpt['steps']}; continue with --resume {out})")
    typer.echo(f"wrote {out}: {cfg.arch} at L={cfg.L} seed={cfg.seed}, {ckpt['steps_done']} "
               f"steps in {ckpt['train_seconds']:.1f}s, last batch gap "
               f"{last.get('gap', float('nan')):.4f}{state}")


@app.command("predict")
def predict_cmd(
    ckpt: str = typer.Argument(..., help="Ground-state checkpoint (.pt)."),
    params: str = typer.Option(..., help=_PARAMS_HELP),
    L: int = typer.Option(8, "--L", help="Lattice size (even; sympe/cnn: divisible by the "
                                         "encoding's period)."),
    samples: int = typer.Option(1, help="Samples per Hamiltonian (each draws its own g̃)."),
    seed: int = typer.Option(0, help="Seed of the g̃ / noise draws."),
    out: str = typer.Option(..., help="Output .npz (spins int8 (n, K, L, L))."),
    refine: bool = _REFINE,
    refine_pairs: Optional[bool] = _REFINE_PAIRS,
    refine_lines: Optional[bool] = _REFINE_LINES,
    best_of: int = _BEST_OF,
    sampling: Optional[str] = _SAMPLING,
    decode: str = _DECODE,
    device: str = typer.Option("cpu", help="cpu or cuda."),
):
    """Predict ground-state configurations for the Hamiltonians in a JSON file."""
    import numpy as np

    from ..fileio import atomic_path
    from ..tasks.groundstate import scalar_rows

    _check_L(L)
    pairs = _refine_move(refine, refine_pairs, "--refine-pairs")
    lines = _refine_move(refine, refine_lines, "--refine-lines")
    H = _gs_inputs(ckpt, params, L, samples, seed, best_of, device, sampling, decode)
    _check_out(out, inputs=[ckpt, params])
    _, meta, res, sampling = _predict(ckpt, H, L, samples, seed, best_of, refine, pairs, lines,
                                      sampling, decode, device)
    extra = {"g": res["g"]} if "g" in res else {}
    rows = scalar_rows(H.bonds)
    if not np.isnan(rows).any():
        extra["params"] = rows  # (n, 4) Jx, Jy, J2, h as before, when all are homogeneous
    with atomic_path(out) as tmp, open(tmp, "wb") as f:
        np.savez(f, spins=res["spins"], bonds=H.bonds, family=np.array(H.family), L=L,
                 seed=seed, samples=samples, best_of=best_of, sampling=sampling or "",
                 decode=decode, refine=refine, refine_pairs=pairs, refine_lines=lines,
                 model=meta["arch"], **extra)
    n = res["spins"].shape[0]
    typer.echo(f"wrote {out}: {plural(n, 'Hamiltonian')} x {plural(samples, 'sample')} "
               f"at L={L}")


@evaluate_app.command("groundstate")
def evaluate_groundstate(
    ckpt: str = typer.Argument(..., help="Ground-state checkpoint (.pt)."),
    params: str = typer.Option(..., help=_PARAMS_HELP),
    L: int = typer.Option(8, "--L", help="Lattice size (homogeneous entries: divisible by 4, "
                                         "or at most 10; per-bond entries: at most 10, the "
                                         "exact reference)."),
    samples: int = typer.Option(8, help="Samples per Hamiltonian."),
    seed: int = typer.Option(0, help="Seed of the g̃ / noise draws."),
    as_json: bool = typer.Option(False, "--json", help="Print the full report as JSON."),
    refine: bool = _REFINE,
    refine_pairs: Optional[bool] = _REFINE_PAIRS,
    refine_lines: Optional[bool] = _REFINE_LINES,
    best_of: int = _BEST_OF,
    sampling: Optional[str] = _SAMPLING,
    decode: str = _DECODE,
    device: str = typer.Option("cpu", help="cpu or cuda."),
):
    """Relative energy gaps to the exact ground state, per Hamiltonian, phase and family."""
    from ..tasks.groundstate import canonical_ties, evaluate

    _check_L(L)
    pairs = _refine_move(refine, refine_pairs, "--refine-pairs")
    lines = _refine_move(refine, refine_lines, "--refine-lines")
    H = _gs_inputs(ckpt, params, L, samples, seed, best_of, device, sampling, decode)
    _check_gs_L(L, H)
    model, meta, res, sampling = _predict(ckpt, H, L, samples, seed, best_of, refine, pairs,
                                          lines, sampling, decode, device)
    rep = evaluate(res["spins"], H)
    ties = canonical_ties(model, H.bonds, L)
    if ties is not None:
        rep["canonical_ties"] = ties
    rep["model"] = meta["arch"]
    rep["L"] = L
    rep["train_L"] = meta["train_config"]["L"]
    rep["best_of"] = best_of
    rep["sampling"] = sampling
    rep["decode"] = decode
    rep["refine"] = refine
    rep["refine_pairs"] = pairs
    rep["refine_lines"] = lines
    _print_report(rep, res["spins"], as_json,
                  f"model {meta['arch']} (trained at L={rep['train_L']}), L={L}, "
                  f"{rep['n_hamiltonians']} Hamiltonians x {samples} samples"
                  + (f" (best of {best_of} draws each)" if best_of > 1 else "")
                  + (f", g̃ {sampling}" if sampling else "") + f", spins by {decode}")


def _check_gs_L(L: int, H) -> None:
    """The exact reference's limits: L <= 10, or homogeneous entries at L divisible by 4."""
    import numpy as np

    from ..exact import GROUND_STATE_BONDS_MAX_L
    from ..tasks.groundstate import scalar_rows

    homogeneous = not np.isnan(scalar_rows(H.bonds)).any()
    if L > GROUND_STATE_BONDS_MAX_L and (L % 4 or not homogeneous):
        raise ParameterError(f"--L {L}: the exact reference needs L <= "
                             f"{GROUND_STATE_BONDS_MAX_L}" + ("" if not homogeneous else
                                                              " or L divisible by 4")
                             + (" (the file holds per-bond Hamiltonians)"
                                if not homogeneous else ""))


def _print_report(rep: dict, spins, as_json: bool, header: str) -> None:
    """The degenerate-state counts, then the report as JSON or as text (evaluate groundstate,
    evaluate descent)."""
    from ..tasks.groundstate import degeneracy_balance

    bal = degeneracy_balance(spins)
    deg = {"ferro_h0": [0, 0], "neel": [0, 0]}
    for row, b in zip(rep["per_hamiltonian"], bal):
        if row.get("exact_phase") == "ferro" and row.get("h") == 0.0:
            deg["ferro_h0"][0] += b["ferro_up"]
            deg["ferro_h0"][1] += b["ferro_down"]
        if row.get("exact_phase") == "neel":
            deg["neel"][0] += b["neel_plus"]
            deg["neel"][1] += b["neel_minus"]
    rep["degenerate_counts"] = deg
    ties = rep.get("canonical_ties")
    if as_json:
        typer.echo(json.dumps(rep, indent=1, default=str))
        return
    typer.echo(header)
    typer.echo(f"mean relative gap {rep['mean_gap']:.4%}   worst Hamiltonian (mean over "
               f"samples) {rep['max_hamiltonian_gap']:.4%}   worst sample {rep['max_gap']:.4%}")
    if rep["per_phase"]:
        typer.echo(f"symmetry-broken phases (neel, stripe, m1/2, other): mean gap "
                   f"{rep['broken_mean_gap']:.4%}   phase accuracy "
                   f"{rep['phase_accuracy']:.3f}")
        typer.echo(f"{'phase':8s} {'n':>4s} {'mean gap':>10s} {'worst':>10s} "
                   f"{'accuracy':>9s}   (worst: worst sample)")
        for ph, v in rep["per_phase"].items():
            typer.echo(f"{ph:8s} {v['n']:4d} {v['mean_gap']:10.4%} {v['max_gap']:10.4%} "
                       f"{v['phase_accuracy']:9.3f}")
    if set(rep.get("per_family", {})) - {"homogeneous"}:
        typer.echo(f"{'family':18s} {'n':>4s} {'mean gap':>10s} {'worst':>10s}"
                   "   (worst: worst Hamiltonian, mean over samples)")
        for f, v in rep["per_family"].items():
            typer.echo(f"{f:18s} {v['n']:4d} {v['mean_gap']:10.4%} {v['worst']:10.4%}")
    z = rep["z2"]
    if z.get("n_hamiltonians") and "plus" in z:
        typer.echo(f"spin-flip pairs (h = 0, {z['n_hamiltonians']} Hamiltonians): +/- "
                   f"{z['plus']}/{z['minus']} by overlap with the exact ground state, both "
                   f"signs seen for {z['both_seen']}; mean gap {z['mean_gap']:.4%}")
    if ties is not None:
        typer.echo(f"canonicalizer: near-maximizers exceed the stabilizer on "
                   f"{ties['argmax_exceeds_stabilizer']:.1%} of the inputs (mean "
                   f"{ties['mean_argmax_cosets']:.2f} cosets); after the exact tie-break on "
                   f"{ties['after_tiebreak']:.1%}")
    if deg["ferro_h0"] != [0, 0] or deg["neel"] != [0, 0]:
        typer.echo(f"degenerate states: ferro at h=0 up/down {deg['ferro_h0'][0]}/"
                   f"{deg['ferro_h0'][1]}, Neel sublattice +/- {deg['neel'][0]}/"
                   f"{deg['neel'][1]}")


@evaluate_app.command("descent")
def evaluate_descent(
    params: str = typer.Option(..., help=_PARAMS_HELP),
    L: int = typer.Option(8, "--L", help="Lattice size (the exact reference's limits, as for "
                                         "evaluate groundstate)."),
    samples: int = typer.Option(8, help="Samples per Hamiltonian."),
    seed: int = typer.Option(0, help="Seed of the random starts and priorities."),
    restarts: int = typer.Option(1, help="Random starts per sample; the lowest-energy one is "
                                         "kept."),
    refine_pairs: bool = typer.Option(True, "--refine-pairs/--single-flips",
                                      help="The descent also flips bond pairs (as the "
                                           "networks' refinement)."),
    refine_lines: bool = typer.Option(True, "--refine-lines/--no-refine-lines",
                                      help="The descent also flips blocks of whole rows or "
                                           "columns (as the networks' refinement)."),
    as_json: bool = typer.Option(False, "--json", help="Print the full report as JSON."),
):
    """The model-free control: uniformly random spins through the networks' refinement
    (best of --restarts per sample), evaluated exactly like evaluate groundstate."""
    from .. import validate
    from ..tasks.groundstate import descent, evaluate, load_hamiltonians

    _check_L(L)
    validate.samples(samples, "--samples", maximum=100000)
    validate.positive_int(restarts, "--restarts", maximum=1000)
    validate.seed(seed, "--seed")
    H = load_hamiltonians(params, L, check=lambda n: _check_predict(L, n, samples, restarts))
    _check_gs_L(L, H)
    spins = descent(H.bonds, L, samples=samples, seed=seed, restarts=restarts,
                    pairs=refine_pairs, lines=refine_lines)
    rep = evaluate(spins, H)
    rep.update(model="descent", L=L, restarts=restarts, refine=True,
               refine_pairs=refine_pairs, refine_lines=refine_lines)
    moves = ("single, pair" if refine_pairs else "single") + (", line" if refine_lines else "")
    _print_report(rep, spins, as_json,
                  f"descent (random starts, {moves} flips), L={L}, "
                  f"{rep['n_hamiltonians']} Hamiltonians x {samples} samples"
                  + (f" (best of {restarts} starts each)" if restarts > 1 else ""))
@plot_app.command("phase-diagram")
def plot_phase_diagram(
    ckpt: str = typer.Argument(..., help="Ground-state checkpoint (.pt), e.g. SymPE; or a "
                                         "sweep directory (from spinsym sweep)."),
    out: str = typer.Option(..., help="Output PNG."),
    baseline: Optional[str] = typer.Option(None, help="Second checkpoint (e.g. the plain "
                                                      "G-CNN) for the configuration panel.",
                                           show_default="none"),
    Jx: float = typer.Option(1.0, "--Jx", help="Fixed Jx."),
    J2: float = typer.Option(0.0, "--J2", help="Fixed J2."),
    jy_min: float = typer.Option(-3.0, help="Jy range."),
    jy_max: float = typer.Option(3.0),
    h_min: float = typer.Option(-3.0, help="h range."),
    h_max: float = typer.Option(3.0),
    n: int = typer.Option(31, help="Grid points per axis (2 to 201)."),
    L: int = typer.Option(8, "--L", help="Lattice size (divisible by 4)."),
    seed: int = typer.Option(0, help="Seed of the g̃ draws."),
):
    """Predicted phase over the (Jy, h) plane beside the exact one, plus configurations.

    Given a sweep directory instead: the finite-temperature phase diagram in the (Jy/Jx, T)
    plane (order parameter as colour, exact critical line); the other options are ignored."""
    from .. import validate

    log = (lambda s: typer.echo(s, err=True))
    if os.path.isdir(ckpt):
        from ..plot.sweep import plot_sweep_phase_diagram

        _check_out(out, inputs=[ckpt])
        log(f"reading the sweep {ckpt} ...")
        path = plot_sweep_phase_diagram(ckpt, out)
        typer.echo(f"wrote {path}")
        return
    from ..plot.groundstate import phase_diagram

    _check_L(L, multiple=4)
    validate.integer(n, "--n", minimum=2, maximum=201)
    validate.seed(seed, "--seed")
    values = {k: validate.finite_float(v, f"--{k}", minimum=-validate.PARAM_MAX,
                                       maximum=validate.PARAM_MAX)
              for k, v in (("Jx", Jx), ("J2", J2), ("jy-min", jy_min), ("jy-max", jy_max),
                           ("h-min", h_min), ("h-max", h_max))}
    if not (values["jy-min"] < values["jy-max"] and values["h-min"] < values["h-max"]):
        raise ParameterError("ranges must have min < max (--jy-min < --jy-max, "
                             "--h-min < --h-max)")
    validate.input_file(ckpt, "checkpoint")
    if baseline is not None:
        validate.input_file(baseline, "checkpoint")
    _check_predict(L, n * n, 1, 1)
    _check_out(out, inputs=[ckpt, baseline])
    path = phase_diagram(ckpt, out, baseline=baseline, Jx=Jx, J2=J2, jy=(jy_min, jy_max),
                         h=(h_min, h_max), n=n, L=L, seed=seed, log=log)
    typer.echo(f"wrote {path}")
