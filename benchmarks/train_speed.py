"""Training throughput of the SymPE ground-state predictor and of the SymPE sampler.

    .venv/bin/python benchmarks/train_speed.py [--device cuda] [--steps 40]

Runs the real training loops (spinsym.tasks.groundstate.train, spinsym.tasks.sampler.train)
for a few steps after a warm-up and prints training samples per second: Hamiltonians per
second for the predictor (its defaults: batch 64, L = 8, computed exactly on the 4 × 4 torus),
configurations per second for the sampler (batch 32, L = 8), and, as the baseline measured in
the same run, the plain G-CNN predictor of the same width.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def predictor(model: str, steps: int, device: str, L: int, batch: int) -> float:
    from spinsym.tasks.groundstate import TrainConfig, train

    train(TrainConfig(arch=model, L=L, steps=2, batch=batch, device=device))  # warm-up
    t0 = time.perf_counter()
    train(TrainConfig(arch=model, L=L, steps=steps, batch=batch, device=device))
    return steps * batch / (time.perf_counter() - t0)


def sampler(steps: int, device: str, folder: str) -> float:
    from spinsym.hamiltonians import Couplings
    from spinsym.mc.run import SimulationConfig, simulate
    from spinsym.tasks.sampler import SamplerTrainConfig, train

    data = os.path.join(folder, "train.h5")
    simulate(SimulationConfig(model="ising", L=8, temperatures=(1.8, 2.3, 3.0),
                              couplings=Couplings(), algorithm="wolff", sweeps=2000,
                              thermalize=100, every=2), data)
    cfg = SamplerTrainConfig(steps=2, device=device)
    train(cfg, [data])  # warm-up
    cfg = SamplerTrainConfig(steps=steps, device=device)
    t0 = time.perf_counter()
    train(cfg, [data])
    return steps * cfg.batch / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--L", type=int, default=8)
    ap.add_argument("--batch", type=int, default=64)
    a = ap.parse_args()
    import torch

    name = torch.cuda.get_device_name() if a.device == "cuda" else f"CPU ({os.cpu_count()} cores)"
    print(f"device: {name}")
    base = predictor("gcnn", a.steps, a.device, a.L, a.batch)
    sym = predictor("sympe", a.steps, a.device, a.L, a.batch)
    print(f"ground-state predictor, L = {a.L}, batch {a.batch}:")
    print(f"  plain G-CNN : {base:9.1f} Hamiltonians/s")
    print(f"  SymPE       : {sym:9.1f} Hamiltonians/s   (step cost {base / sym:.2f}x the G-CNN)")
    with tempfile.TemporaryDirectory() as folder:
        smp = sampler(a.steps, a.device, folder)
    print(f"SymPE sampler, L = 8, batch 32: {smp:9.1f} configurations/s")


if __name__ == "__main__":
    main()
