"""The HDF5 schema: atomic writing, validation of foreign and corrupt files."""

import os

import h5py
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from spinsym.data import CHUNK_BYTES, SCHEMA, AtomicH5Writer, magnetization, read
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


@settings(max_examples=25, deadline=None)
@given(L=st.sampled_from([4, 300]), data=st.data())
def test_appends_in_any_blocks_with_snapshots_keep_every_sample(tmp_path_factory, L, data):
    """Blocks of any size, in whole chunks or not, with checkpoints (snapshots) between them:
    the file and every snapshot hold exactly the samples appended so far, in order; the
    arrays handed to append may be reused at once (rows short of a chunk are copied)."""
    folder = tmp_path_factory.mktemp("rows")
    sizes = data.draw(st.lists(st.integers(0, 40), min_size=1, max_size=8), label="sizes")
    snaps = data.draw(st.lists(st.booleans(), min_size=len(sizes), max_size=len(sizes)),
                      label="snapshots")
    rng = np.random.default_rng(L)
    total = sum(sizes)
    configs = rng.choice(np.array([-1, 1], np.int8), size=(total, L, L))
    e = rng.standard_normal(total)
    m = rng.standard_normal(total)
    buf = np.empty((40, L, L), np.int8)  # reused for every block, as the driver does
    path = folder / "d.h5"
    with AtomicH5Writer(str(path), "ising", L) as w:
        w.group(0, dict(ATTRS, L=L))
        rows = w.file["T_000"]["configs"].chunks[0]
        assert 1 <= rows and rows * L * L <= CHUNK_BYTES
        done = 0
        for i, (n, snap) in enumerate(zip(sizes, snaps)):
            buf[:n] = configs[done:done + n]
            w.append(0, buf[:n], e[done:done + n], magnetization=m[done:done + n])
            buf[:n] = 0  # the writer must not keep a view of the caller's block
            done += n
            if snap:
                part = str(folder / f"d{i}.h5.partial")
                w.snapshot(part)
                g = read(part).temperatures[0]
                assert g.n_samples == done and g.attrs["n_samples"] == done
                assert np.array_equal(g.configs(), configs[:done])
                assert g.energy().tobytes() == e[:done].tobytes()
        w.commit()
    g = read(str(path)).temperatures[0]
    assert g.attrs["n_samples"] == total
    assert np.array_equal(g.configs(), configs)
    assert g.energy().tobytes() == e.tobytes()
    assert g.magnetization().tobytes() == m.tobytes()


def test_append_refuses_unequal_lengths(tmp_path):
    with pytest.raises(DataError, match="2 configurations, 3 energies"), \
            AtomicH5Writer(str(tmp_path / "x.h5"), "ising", 4) as w:
        w.group(0, ATTRS)
        w.append(0, np.ones((2, 4, 4), np.int8), np.zeros(3))
    assert os.listdir(tmp_path) == []


def test_reserved_space_is_given_back_and_the_file_is_the_same(tmp_path):
    """``size`` reserves disk up front (fallocate, where supported); the committed file has
    the same size as without, and the blocks reserved past its end are freed."""
    configs = np.ones((40, 64, 64), np.int8)
    sizes = {}
    for name, size in (("plain.h5", None), ("reserved.h5", 8 << 20)):
        with AtomicH5Writer(str(tmp_path / name), "ising", 64, size=size) as w:
            w.group(0, {**ATTRS, "L": 64})
            w.append(0, configs, np.zeros(40))
            w.commit()
        st = os.stat(tmp_path / name)
        sizes[name] = st.st_size
        assert st.st_blocks * 512 < st.st_size + (1 << 20)  # not the 8 MiB reserved
        assert np.array_equal(read(str(tmp_path / name)).temperatures[0].configs(), configs)
    assert sizes["plain.h5"] == sizes["reserved.h5"]


def test_reserving_more_than_the_disk_is_disk_full_and_leaves_nothing(small_disk):
    with pytest.raises(DataError, match="disk full writing"):
        with AtomicH5Writer(str(small_disk / "big.h5"), "ising", 16, size=64 << 20):
            pass
    assert os.listdir(small_disk) == []


def test_commit_leaves_no_dataset_handles_of_the_closed_file(tmp_path):
    """h5py Datasets that outlive their closed file are freed at interpreter exit, after the
    library: the command then crashed (segfault) or hung after writing its file."""
    import gc

    import h5py

    from spinsym.data import AtomicH5Writer

    def stale():
        gc.collect()
        return [o for o in gc.get_objects() if issubclass(type(o), h5py.Dataset) and not o.id.valid]

    before = len(stale())
    w = AtomicH5Writer(str(tmp_path / "a.h5"), "ising", 4)
    w.group(0, {"T": 2.0})
    w.append(0, np.ones((3, 4, 4), np.int8), np.zeros(3))
    w.commit()
    assert len(stale()) == before
