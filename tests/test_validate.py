"""The shared validators: every limit, every message names the option, property tests."""

import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from spinsym import validate as v
from spinsym.errors import DataError, ParameterError
from spinsym.hamiltonians import Couplings


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_every_int64_seed_is_accepted(s):
    assert v.seed(s) == s


@given(st.one_of(st.integers(max_value=-1), st.integers(min_value=2**63)))
def test_seeds_outside_int64_are_refused(s):
    with pytest.raises(ParameterError, match="seed must be at"):
        v.seed(s)


@pytest.mark.parametrize("bad", [True, 1.5, float("nan"), float("inf"), "3", None])
def test_integers_refuse_non_integers_and_booleans(bad):
    with pytest.raises(ParameterError, match="sweeps must be an integer"):
        v.integer(bad, "sweeps")


def test_integer_bounds_and_names():
    assert v.integer(3.0, "n") == 3 and isinstance(v.integer(np.int64(3), "n"), int)
    assert v.positive_int(1, "n") == 1 and v.nonnegative_int(0, "n") == 0
    with pytest.raises(ParameterError, match="--batch must be at least 1, got 0"):
        v.positive_int(0, "--batch")
    with pytest.raises(ParameterError, match="sweeps must be at most 9223372036854775807"):
        v.nonnegative_int(2**63, "sweeps")
    with pytest.raises(ParameterError, match="n must be at most 5"):
        v.positive_int(6, "n", maximum=5)
    assert v.threads(0) == 0 and v.threads(v.MAX_THREADS) == v.MAX_THREADS
    with pytest.raises(ParameterError, match="threads must be at least 0, got -3"):
        v.threads(-3)
    assert v.samples(7) == 7
    with pytest.raises(ParameterError, match="samples must be at least 1"):
        v.samples(0)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_finite_floats_round_trip(x):
    assert v.finite_float(x, "x") == x


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), "1e400", True, "x"])
def test_finite_float_refusals(bad):
    with pytest.raises(ParameterError, match="--Jx must be"):
        v.finite_float(bad, "--Jx")


def test_float_ranges_lr_and_time_limit():
    assert v.positive_float("2.5", "x") == 2.5
    with pytest.raises(ParameterError, match="x must be positive"):
        v.positive_float(0.0, "x")
    with pytest.raises(ParameterError, match="x must be at most 1"):
        v.finite_float(2.0, "x", maximum=1.0)
    assert v.learning_rate(3e-3) == 3e-3
    for bad in (float("inf"), float("nan"), 0.0, -1e-3, 11.0, True):
        with pytest.raises(ParameterError, match="lr must be"):
            v.learning_rate(bad)
    with pytest.raises(ParameterError, match="finite"):
        v.learning_rate(float("inf"))
    assert v.time_limit(0) == 0.0 and v.time_limit(12.5) == 12.5
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ParameterError, match="time-limit must be"):
            v.time_limit(bad)


def test_choice_lists_the_options():
    assert v.choice("xy", "model", ("ising", "xy")) == "xy"
    with pytest.raises(ParameterError, match=r"unknown device 'tpu'; choose one of cpu, cuda"):
        v.choice("tpu", "device", ("cpu", "cuda"))


def test_temperature_lists_and_ranges():
    assert v.temperatures("2.0,2.269,2.5") == (2.0, 2.269, 2.5)
    assert v.temperatures(" 2.0 , 3 ,") == (2.0, 3.0)
    assert v.temperatures([1, 2.5]) == (1.0, 2.5)
    assert v.temperatures("2:3:0.25") == (2.0, 2.25, 2.5, 2.75, 3.0)
    assert v.temperatures("2:2:0.1") == (2.0,)
    grid = v.temperatures("1.6,1.7,...,3.5")  # the README's literal form
    assert len(grid) == 20 and grid[0] == 1.6 and grid[-1] == 3.5
    assert grid == tuple(round(1.6 + 0.1 * k, 1) for k in range(20))  # exact decimals
    assert v.temperatures("0.5:1.5:1e-1")[1] == 0.6


@pytest.mark.parametrize("text, words", [
    ("2,2", "given twice"), ("2.0,2.00", "given twice"), ("", "no temperatures"),
    ("nan", "positive and finite"), ("-1", "positive and finite"), ("0", "positive and finite"),
    ("1e-300", "too low"), ("abc", "not a number"), ("1:2:-0.5", "positive step"),
    ("2:1:0.5", "positive step"), ("1:2:0.3", "whole number of steps"),
    ("1,2,...,2.5", "whole number of steps"), ("1:1e7:1e-3", "at most 10000"),
    ("1:2", "start:stop:step"), ("1,...,3", "a,b,...,z"), ("1,1.5,...,3,4", "a,b,...,z"),
    ("1,,2", "empty item"), (",1", "empty item"),
])
def test_bad_temperatures(text, words):
    with pytest.raises(ParameterError, match=words):
        v.temperatures(text)


@given(st.floats(min_value=-1e6, max_value=1e6), st.floats(min_value=-1e6, max_value=1e6),
       st.floats(min_value=-1e6, max_value=1e6), st.floats(min_value=-1e6, max_value=1e6))
def test_min_temperature_keeps_every_boltzmann_factor_finite(Jx, Jy, J2, h):
    T = v.min_temperature(Couplings(Jx, Jy, J2, h))
    de = 2 * (2 * abs(Jx) + 2 * abs(Jy) + 4 * abs(J2) + abs(h))
    assert math.isfinite(math.exp(de / T)) and math.isfinite((1 / T) ** 2 * 1e9)
    assert v.temperature(T, couplings=(Jx, Jy, J2, h)) == T
    with pytest.raises(ParameterError, match="too low"):
        v.temperature(T * 0.999, couplings=(Jx, Jy, J2, h))


def test_lattice_size_and_memory():
    assert v.lattice_size(8, even=True, multiple=4) == 8
    with pytest.raises(ParameterError, match="L must be even"):
        v.lattice_size(7, even=True)
    with pytest.raises(ParameterError, match="L must be divisible by 4, got 6"):
        v.lattice_size(6, multiple=4)
    with pytest.raises(ParameterError, match="L must be at least 2, got 1"):
        v.lattice_size(1)
    with pytest.raises(ParameterError, match="L must be an integer"):
        v.lattice_size(True)
    avail = v.available_memory()
    assert avail is None or avail > 0
    assert v.lattice_size(64, bytes_per_site=8) == 64
    if avail is not None:
        with pytest.raises(ParameterError, match=r"L=1000000 needs ~7\.3 TiB, only .* available"):
            v.lattice_size(10**6, bytes_per_site=8)
    assert v.format_bytes(100) == "100 B" and v.format_bytes(1536) == "1.5 KiB"
    assert v.format_bytes(22 * 2**30) == "22 GiB"


def _entry(**kw):
    return {"Jx": 1.0, "Jy": -1, "J2": 0.5, "h": 0, **kw}


def test_params_accepts_exact_entries():
    P = v.validate_params([_entry(), _entry(h=2.5)])
    assert P.dtype == np.float64 and P.tolist() == [[1, -1, 0.5, 0], [1, -1, 0.5, 2.5]]


@pytest.mark.parametrize("obj, words", [
    ([], "non-empty JSON list"), ({"Jx": 1}, "non-empty JSON list"), ([1], "entry 0 is not"),
    ([{"Jx": 1, "Jy": 1, "J2": 0}], "entry 0: missing keys h"),
    ([_entry(), _entry(Jz=1)], "entry 1: unknown keys Jz"),
    ([_entry(Jx=True)], "entry 0: Jx must be a number, got True"),
    ([_entry(h="1")], "h must be a number"), ([_entry(h=None)], "h must be a number"),
    ([_entry(J2=1e300)], r"J2 must be finite with \|J2\| <= 1e\+06"),
    ([_entry(Jy=float("nan"))], "Jy must be finite"), ([_entry(h=10**400)], "h must be finite"),
])
def test_params_refusals_name_entry_and_key(obj, words):
    with pytest.raises(ParameterError, match=words):
        v.validate_params(obj)


def test_data_content():
    v.check_data("ising", np.array([[1, -1], [-1, 1]], np.int8), np.zeros(3), T=2.0,
                 couplings=Couplings())
    v.check_data("xy", np.zeros((2, 2), np.float32), None)
    with pytest.raises(DataError, match=r"f.h5: Ising spins must be -1 or \+1, found 3"):
        v.check_data("ising", np.array([1, 3, 0]), where="f.h5")
    with pytest.raises(DataError, match="angles must be finite"):
        v.check_configs("xy", np.array([0.0, np.nan]))
    with pytest.raises(DataError, match="energies must be finite"):
        v.check_data("ising", np.ones(2), np.array([0.0, np.inf]))
    with pytest.raises(DataError, match="too low"):
        v.check_data("ising", np.ones(2), T=1e-300, couplings=(1, 1, 0, 0))
    with pytest.raises(DataError, match="coupling Jx must be finite"):
        v.check_data("ising", np.ones(2), T=1.0, couplings=(np.nan, 1, 0, 0))
    with pytest.raises(DataError, match="unknown model"):
        v.check_configs("potts", np.ones(2))
