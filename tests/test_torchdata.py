"""The torch Dataset over the HDF5 schema: indexing across files and groups, T and couplings
of every configuration, batched reads, lazy handles, pickling, model / L mismatches."""

import pickle

import h5py
import numpy as np
import pytest
import torch

from spinsym.data import AtomicH5Writer
from spinsym.errors import DataError
from spinsym.hamiltonians import Couplings, energy
from spinsym.torchdata import SpinConfigs, collate


def _write(path, model, L, temps, n, couplings=Couplings(), seed=0):
    rng = np.random.default_rng(seed)
    arrays = []
    with AtomicH5Writer(str(path), model, L) as w:
        for i, T in enumerate(temps):
            c = couplings
            w.group(i, dict(model=model, L=L, Jx=c.Jx, Jy=c.Jy, J2=c.J2, h=c.h, T=T,
                            algorithm="test", sweeps=n, thermalize=0, every=1, seed=seed))
            if model == "ising":
                cfg = rng.choice(np.array([-1, 1], dtype=np.int8), size=(n, L, L))
            else:
                cfg = rng.uniform(0, 2 * np.pi, size=(n, L, L)).astype(np.float32)
            w.append(i, cfg, np.asarray(energy(model, cfg, c), dtype=np.float64))
            arrays.append(cfg)
        w.commit()
    return arrays


def test_indexing_across_files_and_groups(tmp_path):
    a = _write(tmp_path / "a.h5", "ising", 4, [2.0, 3.0], 5, Couplings(1.0, 0.5, 0.0, 0.1))
    b = _write(tmp_path / "b.h5", "ising", 4, [2.5], 3, seed=1)
    ds = SpinConfigs([tmp_path / "a.h5", tmp_path / "b.h5"])
    assert len(ds) == 13 and ds.model == "ising" and ds.L == 4
    item = ds[6]  # file a, second group, row 1
    assert torch.equal(item["config"], torch.tensor(a[1][1], dtype=torch.float32))
    assert float(item["T"]) == 3.0 and float(item["beta"]) == pytest.approx(1 / 3)
    assert item["couplings"].tolist() == [1.0, 0.5, 0.0, 0.1]
    last = ds[-1]
    assert torch.equal(last["config"], torch.tensor(b[0][2], dtype=torch.float32))
    assert last["couplings"].tolist() == [1.0, 1.0, 0.0, 0.0]
    # batched reads: any order, repeats, same values as single reads
    idx = [12, 0, 6, 6, 3]
    batch = ds.batch(idx)
    assert len(ds.__getitems__(idx)) == 5
    assert batch["config"].shape == (5, 4, 4)
    for j, i in enumerate(idx):
        assert torch.equal(batch["config"][j], ds[i]["config"])
        assert float(batch["T"][j]) == float(ds[i]["T"])
    assert collate(batch) is batch
    assert sorted(ds.temperatures().tolist()) == [2.0, 2.5, 3.0]
    with pytest.raises(IndexError):
        ds[13]


def test_lazy_handles_pickle_and_dataloader(tmp_path):
    _write(tmp_path / "x.h5", "xy", 4, [0.9], 8)
    ds = SpinConfigs(tmp_path / "x.h5")
    assert ds._handles == {}  # nothing opened until an item is read
    x = ds[3]["config"]
    assert x.dtype == torch.float32 and float(x.min()) >= 0 and float(x.max()) < 2 * np.pi
    ds2 = pickle.loads(pickle.dumps(ds))
    assert ds2._handles == {} and torch.equal(ds2[3]["config"], x)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, shuffle=False)
    batches = list(loader)
    assert len(batches) == 2 and batches[0]["config"].shape == (4, 4, 4)
    ds.close()


def test_mismatched_files_are_refused(tmp_path):
    _write(tmp_path / "i.h5", "ising", 4, [2.0], 2)
    _write(tmp_path / "x.h5", "xy", 4, [1.0], 2)
    _write(tmp_path / "i8.h5", "ising", 8, [2.0], 2)
    with pytest.raises(DataError, match="xy"):
        SpinConfigs([tmp_path / "i.h5", tmp_path / "x.h5"])
    with pytest.raises(DataError, match="L = 8"):
        SpinConfigs([tmp_path / "i.h5", tmp_path / "i8.h5"])
    with pytest.raises(DataError):
        SpinConfigs([tmp_path / "missing.h5"])


@pytest.mark.parametrize("model, dataset, value, words", [
    ("ising", "configs", 3, "spins must be -1 or \\+1"),
    ("ising", "energy", np.nan, "energies must be finite"),
    ("xy", "configs", np.inf, "angles must be finite"),
])
def test_bad_content_is_refused_before_training(tmp_path, model, dataset, value, words):
    # the same content check as analyze (spinsym.validate.check_data), before any batch is read
    path = tmp_path / "bad.h5"
    _write(path, model, 4, [2.0, 3.0], 6)
    with h5py.File(path, "r+") as f:
        f[f"T_001/{dataset}"][(5, 3, 3) if dataset == "configs" else 5] = value
    with pytest.raises(DataError, match=words):
        SpinConfigs(path)


def test_bad_temperature_attribute_is_refused(tmp_path):
    path = tmp_path / "cold.h5"
    _write(path, "ising", 4, [2.0], 2)
    with h5py.File(path, "r+") as f:
        f["T_000"].attrs["T"] = 1e-300
    with pytest.raises(DataError, match="too low"):
        SpinConfigs(path)
