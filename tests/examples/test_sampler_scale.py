"""examples/sampler_scale.py: its per-L option parsing, the row against Kaufman's exact values
and its one-line refusal of bad options (the training and sampling are the CLI's, tested there)."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import load_example


@pytest.fixture(scope="module")
def scale():
    return load_example("sampler_scale")


even_sizes = st.lists(st.integers(1, 64).map(lambda k: 2 * k), min_size=1, max_size=4,
                      unique=True)


@settings(max_examples=50, deadline=None)
@given(Ls=even_sizes, data=st.data())
def test_per_L_reads_back_what_was_written(scale, Ls, data):
    values = {L: data.draw(st.integers(0, 10**6)) for L in Ls}
    text = ",".join(f"{L}:{v}" for L, v in reversed(list(values.items())))
    assert scale.per_L(text, Ls, "steps", 0) == values
    assert list(scale.per_L(text, Ls, "steps", 0)) == Ls  # in training order
    assert scale.per_L(str(values[Ls[0]]), Ls, "n", 0) == {L: values[Ls[0]] for L in Ls}


@pytest.mark.parametrize("text, message", [
    ("32:200", "no value for L = 64"),
    ("32:200,32:100,64:5", "L = 32 given twice"),
    ("32=200,64:5", "expected L:value"),
    ("32:200,64:x", "expected L:value"),
    ("32:1,64:0", "for L = 64 must be at least 1"),
])
def test_per_L_refuses(scale, text, message):
    with pytest.raises(ValueError, match=message):
        scale.per_L(text, [32, 64], "batch", 1)


@pytest.mark.parametrize("text", ["32,63", "32,32", "0,2", "a,b"])
def test_sizes_must_be_distinct_and_even(scale, text):
    with pytest.raises(ValueError, match="--L"):
        scale.parse_Ls(text)


def test_row_values_against_kaufman(scale):
    """Errors of +2 and -3 error bars, made from Kaufman's exact values, read back as z = +2, -3
    with the right relative errors, F = -T log Z / N and the bound gap above the exact F."""
    from spinsym.exact import kaufman_ising

    L, T, n = 4, 2.269185, 500
    ex = kaufman_ising(L, T)
    e_ex, f_ex = ex["energy_per_site"], -T * ex["log_z"] / (L * L)
    r = {"T": T, "energy_per_site": {"mean": e_ex + 2 * 0.01, "err": 0.01},
         "free_energy_per_site": {"mean": f_ex - 3 * 0.002, "err": 0.002},
         "free_energy_bound_per_site": {"mean": f_ex + 0.05, "err": 0.001},
         "acceptance": 0.4, "ess": 125.0, "is_ess_fraction": 0.3}
    v = scale.row_values(r, L, n)
    assert v["e_z"] == pytest.approx(2.0) and v["F_z"] == pytest.approx(-3.0)
    assert v["e_rel"] == pytest.approx(0.02 / abs(e_ex))
    assert v["F_rel"] == pytest.approx(-0.006 / abs(f_ex))
    assert v["bound_gap"] == pytest.approx(0.05)
    assert v["ess_n"] == pytest.approx(0.25) and v["is_ess_n"] == 0.3
    r["energy_per_site"]["err"] = 0.0
    assert scale.row_values(r, L, n)["e_z"] == math.inf
    row = scale.table_row(L, "3 × 8", "5 (7)", 17.0, v)
    assert row.count("|") == scale.HEADER.count("|")
    assert "+2.0)" in row and "-3.0)" in row


@pytest.mark.parametrize("args, message", [
    (["--L", "32,64", "--steps", "32:5"], "no value for L = 64"),
    (["--L", "33"], "--L"),
    (["--train-T", "2.2,2.269185"], "must not include T_c"),
    (["--threads", "0"], "--threads"),
])
def test_main_refuses_in_one_line(scale, tmp_path, capsys, args, message):
    init = tmp_path / "init.pt"
    init.write_bytes(b"")
    with pytest.raises(SystemExit) as exc:
        scale.main(["--init", str(init), "--out-dir", str(tmp_path / "out"), *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "error: " in err[-1] and message in err[-1]
    assert not (tmp_path / "out").exists()
