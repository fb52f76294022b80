import numpy as np
import pytest

from spinsym.errors import ParameterError
from spinsym.lattice import check_size, checkerboard, four_sublattices, reflect_x, rotate90, translate


def test_check_size():
    assert check_size(8, even=True) == 8
    assert check_size(5) == 5
    for bad, even in ((1, False), (0, False), (7, True), (2.5, False), ("x", False)):
        with pytest.raises(ParameterError):
            check_size(bad, even=even)


def test_sublattices_separate_neighbours():
    L = 6
    cb, four = checkerboard(L), four_sublattices(L)
    for dy, dx in ((0, 1), (1, 0)):
        assert np.all(cb != np.roll(cb, (dy, dx), axis=(0, 1)))
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        assert np.all(four != np.roll(four, (dy, dx), axis=(0, 1)))


def test_group_actions_compose():
    a = np.arange(16).reshape(4, 4)
    assert np.array_equal(rotate90(a, 4), a)
    assert np.array_equal(reflect_x(reflect_x(a)), a)
    assert translate(a, 1, 0)[1, 0] == a[0, 0]
    # reflection conjugates a rotation into its inverse
    assert np.array_equal(reflect_x(rotate90(reflect_x(a))), rotate90(a, -1))
