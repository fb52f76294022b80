"""examples/sampler_amortized.py: its held-out points are off the shipped training grid, the
refusal of points on the grid or at a training temperature, the specific-heat maximum, and the
check of one sample file against the transfer matrix (the sweep, training and sampling are the
CLI's, tested there)."""

import pytest

from tests.conftest import load_example


@pytest.fixture(scope="module")
def amortized():
    return load_example("sampler_amortized")


def _spec(T, Jy, J2, h):
    from spinsym.sweep import parse_spec

    return parse_spec({"sweep": {"model": "ising", "algorithm": "metropolis", "L": 8, "T": T,
                                 "sweeps": 100, "thermalize": 10, "every": 10},
                       "couplings": {"Jx": 1.0, "Jy": Jy, "J2": J2, "h": h}})


def test_shipped_family_holds_out_every_point(amortized):
    from spinsym.sweep import load_spec

    spec = load_spec(amortized.SPEC)
    assert spec.model == "ising" and spec.L == (8,) and spec.algorithm == "metropolis"
    assert any(v < -0.5 for v in spec.couplings["J2"]) and any(v > 0 for v in spec.couplings["J2"])
    assert any(v != 0 for v in spec.couplings["h"])
    for label, _, c, _ in amortized.HELD_OUT:
        on_grid = [k for k, v in zip(("Jx", "Jy", "J2", "h"), c) if v in spec.couplings[k]]
        assert len(on_grid) < 4, label
    # the two exact-T_c points go all the way through (the others need the specific-heat scan)
    points = amortized.held_out_points(spec, {"iso", "aniso"})
    assert [p[0] for p in points] == ["iso", "aniso"]
    assert points[0][3] == pytest.approx(2.269185, abs=1e-6)
    assert points[1][3] == pytest.approx(1.641018, abs=1e-6)
    assert not {p[3] for p in points} & set(spec.T)


def test_refuses_points_on_the_grid_or_at_a_training_temperature(amortized):
    with pytest.raises(SystemExit, match="iso .* is on the training grid"):
        amortized.held_out_points(_spec([2.0], [1.0], [0.0], [0.0]), {"iso"})
    with pytest.raises(SystemExit, match="T = 2.269185 is a training temperature"):
        amortized.held_out_points(_spec([2.269185], [0.7], [0.0], [0.0]), {"iso"})
    assert amortized.held_out_points(_spec([2.0], [0.7], [0.0], [0.0]), {"iso"})


def test_peak_temperature_is_the_specific_heat_maximum(amortized):
    from spinsym.exact import transfer_matrix_ising

    c = (1.0, 1.0, -0.3, 0.1)
    T = amortized.peak_temperature(c)
    C = [transfer_matrix_ising(8, c, t)["specific_heat"] for t in (T - 0.01, T, T + 0.01)]
    assert C[1] > C[0] and C[1] > C[2]


@pytest.mark.parametrize("ze, zf, passed", [
    (2.0, -3.0, {"e 1 %": True, "e 4.5σ": True, "F 0.1 %": True, "F 4.5σ": True}),
    (5.0, 1.0, {"e 1 %": True, "e 4.5σ": False, "F 0.1 %": True, "F 4.5σ": True}),
    (40.0, -50.0, {"e 1 %": False, "e 4.5σ": False, "F 0.1 %": False, "F 4.5σ": False}),
])
def test_check_against_the_transfer_matrix(amortized, ze, zf, passed):
    """Values made from the exact ones, off by ze and zf error bars, read back as those
    z-scores, the right relative errors and the criteria they imply."""
    from spinsym.exact import transfer_matrix_ising

    c, T, n = (1.0, 0.5, -0.2, 0.3), 1.7, 2000
    ex = transfer_matrix_ising(8, c, T)
    e_ex, f_ex = ex["energy_per_site"], -T * ex["log_z"] / 64
    de, df = 0.001, 0.00015
    row = {"energy_per_site": {"mean": e_ex + ze * de, "err": de},
           "free_energy_per_site": {"mean": f_ex + zf * df, "err": df},
           "free_energy_bound_per_site": {"mean": f_ex + 0.01, "err": None},
           "acceptance": 0.5, "ess": 700.0, "is_ess_fraction": 0.6}
    r = amortized.check(row, c, T, n)
    assert r["e_z"] == pytest.approx(ze) and r["f_z"] == pytest.approx(zf)
    assert r["e_rel"] == pytest.approx(ze * de / abs(e_ex))
    assert r["f_rel"] == pytest.approx(zf * df / abs(f_ex))
    assert r["ess"] == pytest.approx(0.35) and r["acc"] == 0.5
    assert r["crit"] == passed
    assert set(r["crit"]) == set(amortized.CRITERIA)


def test_training_data_check_lists_the_jobs_off_the_exact_energy(amortized, tmp_path, capsys):
    """A fake sweep index: a job within its error bar and a frozen chain at the exact value
    pass; a job 10 error bars off and a frozen chain 0.4 off (ordered against the field) are
    listed, the larger deviation first."""
    import json

    from spinsym.exact import transfer_matrix_ising
    from spinsym.sweep import INDEX_NAME, INDEX_SCHEMA

    def job(T, c, shift, err):
        exact = transfer_matrix_ising(8, c, T)["energy_per_site"]
        coords = dict(model="ising", L=8, T=T, Jx=c[0], Jy=c[1], J2=c[2], h=c[3], seed=1)
        return {"file": "jobs/none.h5", "coords": coords, "config": {"algorithm": "metropolis"},
                "observables": {"energy_per_site": {"mean": exact + shift, "err": err}}}

    jobs = {"a": job(2.0, (1.0, 0.7, 0.0, 0.0), 0.002, 0.001),
            "b": job(1.5, (1.0, 0.7, -0.2, 0.0), 0.01, 0.001),
            "c": job(0.55, (1.0, 0.7, 0.0, 0.5), 1e-6, 0.0),
            "d": job(0.85, (1.0, 1.3, 0.2, 0.2), 0.4, 0.0)}
    (tmp_path / INDEX_NAME).write_text(json.dumps({"schema": INDEX_SCHEMA, "jobs": jobs}))
    off = amortized.check_training_data(str(tmp_path))
    assert [(T, c) for _, T, c, *_ in off] == [(0.85, (1.0, 1.3, 0.2, 0.2)),
                                               (1.5, (1.0, 0.7, -0.2, 0.0))]
    assert "2 of 4 jobs" in capsys.readouterr().out
