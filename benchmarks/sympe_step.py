"""Cost of one SymPE training step relative to a plain G-CNN step of the same width.

    python benchmarks/sympe_step.py [--L 8] [--batch 64] [--width 12] [--depth 4] [--reps 30]

A step = forward (canonicalizer, stabilizer, Gumbel straight-through draw, g̃·v, G-CNN) +
ising_energy loss + backward + Adam update, with the training defaults.  The two models are
timed interleaved (A, B, A, B, ...) so load from other processes hits both alike; the ratio of
medians and the ratio of minima are printed.  On a shared machine use --cpu-time (one thread,
process CPU time).  --L 4 measures the folded training computation (see
spinsym.tasks.groundstate.compute_size).  Target (issue 3): ratio <= 1.1.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from spinsym.nn import build_model
from spinsym.nn.fields import bond_fields
from spinsym.tasks.groundstate import TrainConfig, expected_energy_loss, model_config, sample_family


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--L", type=int, default=8)
    ap.add_argument("--batch", type=int, default=TrainConfig.batch)
    ap.add_argument("--width", type=int, default=TrainConfig.width)
    ap.add_argument("--depth", type=int, default=TrainConfig.depth)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--canon-depth", type=int, default=TrainConfig.canon_depth)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--cpu-time", action="store_true",
                    help="one thread, time.process_time (robust on a shared, loaded machine)")
    a = ap.parse_args(argv)
    if a.cpu_time:
        a.threads = 1
    if a.threads:
        torch.set_num_threads(a.threads)
    clock = time.process_time if a.cpu_time else time.perf_counter
    dev = a.device
    rng = np.random.default_rng(0)
    steps = {}
    for kind in ("gcnn", "sympe"):
        cfg = TrainConfig(arch=kind, width=a.width, depth=a.depth, batch=a.batch, L=a.L,
                          canon_depth=a.canon_depth)
        torch.manual_seed(0)
        m = build_model(kind, **model_config(cfg)).to(dev).train()
        opt = torch.optim.Adam(m.parameters(), 1e-3)
        gen = torch.Generator().manual_seed(0)

        def step(m=m, opt=opt, gen=gen):
            p = sample_family(rng, a.batch, 0.3)
            pt = torch.tensor(p, dtype=torch.float32, device=dev)
            out = m(bond_fields(p, a.L, device=dev), samples=1, generator=gen)
            loss = expected_energy_loss(out["logits"], pt, 0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if dev != "cpu":
                torch.cuda.synchronize()
        steps[kind] = step
    times = {k: [] for k in steps}
    for k in steps:  # warm-up
        for _ in range(3):
            steps[k]()
    for _ in range(a.reps):
        for k, f in steps.items():
            t = clock()
            f()
            times[k].append(clock() - t)
    med = {k: float(np.median(v)) for k, v in times.items()}
    mn = {k: float(np.min(v)) for k, v in times.items()}
    print(f"L={a.L} batch={a.batch} width={a.width} depth={a.depth} device={dev} "
          f"canon_depth={a.canon_depth} threads={torch.get_num_threads()} clock={'cpu' if a.cpu_time else 'wall'}")
    for k in steps:
        print(f"  {k:6s} step: median {med[k] * 1e3:8.2f} ms   min {mn[k] * 1e3:8.2f} ms")
    print(f"  ratio sympe/gcnn: median {med['sympe'] / med['gcnn']:.3f}   "
          f"min {mn['sympe'] / mn['gcnn']:.3f}   (target <= 1.1)")


if __name__ == "__main__":
    main()
