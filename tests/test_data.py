"""The HDF5 schema: atomic writing, validation of foreign and corrupt files."""

import os

import h5py
import numpy as np
import pytest

from spinsym.data import SCHEMA, AtomicH5Writer, magnetization, read
from spinsym.errors import DataError, ParameterError
from spinsym.hamiltonians import Couplings, energy

ATTRS = dict(model="ising", L=4, Jx=1.0, Jy=1.0, J2=0.0, h=0.0, T=2.0, algorithm="metropolis",
             sweeps=10, thermalize=0, every=1, seed=0)


def _write(path, model="ising", n=6):
    rng = np.random.default_rng(0)
    if model == "ising":
        configs = rng.choice(np.array([-1, 1], np.int8), size=(n, 4, 4))
    else:
        configs = rng.uniform(0, 2 * np.pi, size=(n, 4, 4)).astype(np.float32)
    e = energy(model, configs, Couplings())
    with AtomicH5Writer(str(path), model, 4) as w:
        w.group(0, dict(ATTRS, model=model))
        w.append(0, configs[:2], e[:2])
        w.append(0, configs[2:], e[2:])
        w.commit()
    return configs, e


@pytest.mark.parametrize("model", ["ising", "xy"])
def test_roundtrip(tmp_path, model):
    path = tmp_path / "d.h5"
    configs, e = _write(path, model)
    ds = read(str(path))
    assert ds.model == model and ds.L == 4 and len(ds) == 1
    g = ds.temperatures[0]
    assert g.n_samples == 6 and g.T == 2.0 and g.couplings == Couplings()
    assert np.array_equal(g.configs(), configs)
    assert np.array_equal(g.energy(), e)
    np.testing.assert_allclose(g.magnetization(), magnetization(model, configs))
    assert g.configs().dtype == (np.int8 if model == "ising" else np.float32)
    assert os.listdir(tmp_path) == ["d.h5"]


def test_abort_leaves_nothing(tmp_path):
    path = tmp_path / "x.h5"
    with pytest.raises(RuntimeError):
        with AtomicH5Writer(str(path), "ising", 4) as w:
            w.group(0, ATTRS)
            raise RuntimeError("interrupted")
    assert os.listdir(tmp_path) == []


def test_missing_directory(tmp_path):
    with pytest.raises(ParameterError, match="directory does not exist"):
        AtomicH5Writer(str(tmp_path / "nope" / "x.h5"), "ising", 4)


def test_read_rejects_bad_files(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read(str(tmp_path / "missing.h5"))
    junk = tmp_path / "junk.h5"
    junk.write_text("hello")
    with pytest.raises(DataError, match="not an HDF5 file"):
        read(str(junk))
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f.attrs["schema"] = "something-else"
    with pytest.raises(DataError, match="foreign"):
        read(str(foreign))
    broken = tmp_path / "broken.h5"
    with h5py.File(broken, "w") as f:
        f.attrs.update(schema=SCHEMA, model="ising", L=4)
        g = f.create_group("T_000")
        g.attrs.update(ATTRS)
        g["configs"] = np.ones((3, 4, 4), np.int8)
        g["energy"] = np.zeros(2)
        g["magnetization"] = np.zeros(3)
    with pytest.raises(DataError, match="inconsistent"):
        read(str(broken))
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w") as f:
        f.attrs.update(schema=SCHEMA, model="ising", L=4)
    with pytest.raises(DataError, match="no temperature"):
        read(str(empty))


def test_disk_full_is_one_error_and_leaves_nothing(small_disk):
    path = small_disk / "full.h5"
    configs = np.ones((1000, 16, 16), np.int8)
    with pytest.raises(DataError, match="disk full writing") as info:
        with AtomicH5Writer(str(path), "ising", 16) as w:
            w.group(0, {**ATTRS, "L": 16})
            for _ in range(20):  # 20 × 272 kB into 1 MiB
                w.append(0, configs, np.zeros(1000))
    assert info.value.__cause__ is None
    with pytest.raises(DataError, match="disk full writing"):  # no further write is attempted
        w.append(0, configs, np.zeros(1000))
    assert os.listdir(small_disk) == []


def test_writer_refuses_its_input_and_special_files(tmp_path):
    src = tmp_path / "in.h5"
    _write(src)
    before = src.read_bytes()
    with pytest.raises(ParameterError, match="is the input"):
        AtomicH5Writer(str(src), "ising", 4, inputs=[str(src)])
    fifo = tmp_path / "pipe.h5"
    os.mkfifo(fifo)
    with pytest.raises(ParameterError, match="FIFO"):
        AtomicH5Writer(str(fifo), "ising", 4)
    with pytest.raises(DataError, match="not a regular file"):  # read would block on a FIFO
        read(str(fifo))
    assert src.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["in.h5", "pipe.h5"]
