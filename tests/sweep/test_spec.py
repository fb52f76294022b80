"""The sweep spec: TOML forms, validation, job ids, seeds and configuration hashes, devices."""

import glob
import os

import pytest

from spinsym import sweep as sw
from spinsym.errors import ParameterError
from tests.sweep.conftest import spec_dict, tiny_spec

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))), "examples", "sweeps")


def test_spec_forms_and_expansion():
    spec = sw.parse_spec({"sweep": {"model": "ising", "algorithm": "metropolis", "L": [4, 8],
                                    "T": {"start": 2.0, "stop": 2.4, "num": 5}, "sweeps": 100,
                                    "every": 2, "seeds": [1, 2]},
                          "couplings": {"Jx": 1.0, "Jy": [-1, 1], "h": 0.5}})
    assert spec.T == (2.0, 2.1, 2.2, 2.3, 2.4)  # rounded: no 2.1000000000000001
    assert spec.couplings == {"Jx": (1.0,), "Jy": (-1.0, 1.0), "J2": (0.0,), "h": (0.5,)}
    jobs = sw.expand(spec)
    assert len(jobs) == 2 * 5 * 2 * 2
    assert len({j.id for j in jobs}) == len(jobs)
    assert len({j.config.seed for j in jobs}) == len(jobs)
    assert all(j.config.temperatures == (j.coords["T"],) for j in jobs)
    assert all(j.id.startswith(f"L{j.config.L}-") for j in jobs)
    # stable: same grid in another order, or extended, keeps ids, seeds and config hashes
    again = sw.parse_spec({"sweep": {"model": "ising", "algorithm": "metropolis", "L": [8, 4],
                                     "T": [2.4, 2.3, 2.2, 2.1, 2.0, 2.5], "sweeps": 100,
                                     "every": 2, "seeds": [2, 1]},
                           "couplings": {"Jx": 1.0, "Jy": [1, -1], "h": 0.5}})
    old = {j.id: (j.config.seed, j.config_hash) for j in jobs}
    new = {j.id: (j.config.seed, j.config_hash) for j in sw.expand(again)}
    assert set(old) < set(new) and all(new[k] == v for k, v in old.items())
    # more sweeps: the same jobs (ids, seeds) but a different configuration hash
    longer, longer2 = tiny_spec(), tiny_spec(sweeps=400)
    a = {j.id: j for j in sw.expand(longer)}
    b = {j.id: j for j in sw.expand(longer2)}
    assert a.keys() == b.keys()
    assert all(a[k].config.seed == b[k].config.seed for k in a)
    assert all(a[k].config_hash != b[k].config_hash for k in a)


@pytest.mark.parametrize("change, words", [
    (lambda d: d["sweep"].update(Lx=4), "unknown key"),
    (lambda d: d["couplings"].update(J3=1), "unknown key"),
    (lambda d: d.update(extra={}), "unknown table"),
    (lambda d: d["sweep"].pop("T"), "needs T"),
    (lambda d: d["sweep"].update(model="potts"), "unknown model"),
    (lambda d: d["sweep"].update(algorithm="glauber"), "unknown algorithm"),
    (lambda d: d["sweep"].update(T=[2.0, 2.0]), "repeated"),
    (lambda d: d["sweep"].update(T=[2.0, -1.0]), "positive"),
    (lambda d: d["sweep"].update(T={"start": 1, "stop": 2}), "start, stop and num"),
    (lambda d: d["sweep"].update(L=[4.5]), "not an integer"),
    (lambda d: d["sweep"].update(L=[3], algorithm="metropolis"), "even"),
    (lambda d: d["sweep"].update(sweeps=-5), "non-negative"),
    (lambda d: d["couplings"].update(h=0.5), "h = 0"),  # wolff in a field
    (lambda d: d["couplings"].update(Jy="one"), "not a number"),
])
def test_spec_errors(change, words):
    d = spec_dict()
    change(d)
    with pytest.raises(ParameterError, match=words):
        sw.parse_spec(d)


def test_load_spec_file(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text('[sweep]\nmodel = "ising"\nL = 4\nT = { start = 2.0, stop = 3.0, num = 3 }\n'
                 '[couplings]\nJy = [0.5, 1.0]\n')
    spec = sw.load_spec(str(p))
    assert spec.L == (4,) and spec.T == (2.0, 2.5, 3.0) and spec.couplings["Jy"] == (0.5, 1.0)
    assert spec.algorithm == "metropolis" and spec.seeds == (0,)
    p.write_text("[sweep\n")
    with pytest.raises(ParameterError, match="not valid TOML"):
        sw.load_spec(str(p))
    with pytest.raises(ParameterError, match="no such sweep file"):
        sw.load_spec(str(tmp_path / "missing.toml"))


def test_ids_seeds_and_hashes_are_stable_across_versions():
    """The values written by earlier versions (before the device key): resuming an old sweep
    directory skips its finished jobs."""
    jobs = sw.expand(sw.parse_spec({
        "sweep": {"model": "ising", "algorithm": "metropolis", "L": [4, 8],
                  "T": {"start": 2.0, "stop": 2.4, "num": 5}, "sweeps": 100, "every": 2,
                  "seeds": [1, 2]},
        "couplings": {"Jx": 1.0, "Jy": [-1, 1], "h": 0.5}}))
    assert len(jobs) == 40
    assert (jobs[0].id, jobs[0].config.seed, jobs[0].config_hash) == (
        "L4-f1f3ad9002ff", 8170302503110424790,
        "8fdddac0d3a8a0e875f6b71edff7d6b510b870c63911da134561e081e36bdc72")
    assert (jobs[-1].id, jobs[-1].config.seed, jobs[-1].config_hash) == (
        "L8-2c4c7614a310", 7636125740911988037,
        "ee146275dfb3156e574a692cde9186a30c5edf810ef223f8cc64e6e260a54255")


# --------------------------------------------------------------------------- device


def test_device_key():
    """cpu is the default; cuda keeps every job's id and seed but not its configuration hash (a
    GPU chain is another chain from the same seed)."""
    gpu_ok = dict(algorithm="metropolis", L=[4, 6])
    default, cpu, cuda = (tiny_spec(**gpu_ok), tiny_spec(**gpu_ok, device="cpu"),
                          tiny_spec(**gpu_ok, device="cuda"))
    assert default.device == cpu.device == "cpu" and cuda.device == "cuda"
    assert default.as_dict()["device"] == "cpu" and cuda.as_dict()["device"] == "cuda"
    a, b, c = sw.expand(default), sw.expand(cpu), sw.expand(cuda)
    assert [(j.id, j.config.seed, j.config_hash) for j in a] == \
        [(j.id, j.config.seed, j.config_hash) for j in b]
    assert [(j.id, j.config.seed, j.config) for j in a] == [(j.id, j.config.seed, j.config)
                                                            for j in c]
    assert all(x.config_hash != y.config_hash for x, y in zip(a, c))
    assert {j.device for j in a} == {"cpu"} and {j.device for j in c} == {"cuda"}


@pytest.mark.parametrize("over, words", [
    (dict(device="gpu"), ["unknown device 'gpu'", "cpu, cuda"]),
    (dict(device="CUDA"), ["unknown device 'CUDA'"]),
    (dict(device=1), ["unknown device 1"]),
    (dict(device=["cuda"]), ["unknown device"]),
    # what the GPU path cannot run is refused when the spec is read, GPU or not
    (dict(device="cuda"), ["wolff"]),  # spec_dict's algorithm
    (dict(device="cuda", algorithm="metropolis", L=[4, 6], model="xy"), ["ising model only"]),
    (dict(device="cuda", algorithm="heatbath-scalar"), ["metropolis, heatbath"]),
])
def test_device_errors(over, words):
    with pytest.raises(ParameterError) as exc:
        tiny_spec(**over)
    for w in words:
        assert w in str(exc.value)


def test_cuda_needs_nearest_neighbour_couplings():
    d = spec_dict(device="cuda", algorithm="metropolis")
    d["couplings"]["J2"] = [0.0, 0.5]
    with pytest.raises(ParameterError, match=r"^sweep spec: .*J2 = 0"):
        sw.parse_spec(d)
    d["couplings"]["J2"] = 0.0
    d["couplings"]["h"] = [0.0, 0.3]  # any field on the GPU (unlike wolff)
    assert len(sw.expand(sw.parse_spec(d))) == 4


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(EXAMPLES, "*.toml"))))
def test_example_sweeps_load(path):
    spec = sw.load_spec(path)
    assert len(sw.expand(spec)) >= 10
