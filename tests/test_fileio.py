import os

import pytest

from spinsym.errors import ParameterError
from spinsym.fileio import atomic_path, check_out_path


def test_atomic_path_renames_on_success(tmp_path):
    out = tmp_path / "f.txt"
    with atomic_path(out) as tmp:
        assert os.path.dirname(tmp) == str(tmp_path) and not out.exists()
        with open(tmp, "w") as f:
            f.write("done")
    assert out.read_text() == "done"
    assert os.listdir(tmp_path) == ["f.txt"]


def test_atomic_path_leaves_old_file_and_no_temporary_on_failure(tmp_path):
    out = tmp_path / "f.txt"
    out.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(out) as tmp:
            with open(tmp, "w") as f:
                f.write("half")
            raise KeyboardInterrupt
    assert out.read_text() == "old"
    assert os.listdir(tmp_path) == ["f.txt"]


def test_check_out_path(tmp_path):
    with pytest.raises(ParameterError, match="directory does not exist"):
        check_out_path(tmp_path / "missing" / "x")
    with pytest.raises(ParameterError, match="is a directory"):
        check_out_path(tmp_path)


def test_finished_files_get_the_usual_permissions(tmp_path):
    out = tmp_path / "p.txt"
    with atomic_path(out) as tmp:
        open(tmp, "w").close()
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask
