import os
import shutil
import stat
import subprocess
import sys

import pytest

from spinsym.errors import DataError, ParameterError
from spinsym.fileio import (atomic_path, check_free_space, check_out_path, parse_temporary,
                            pid_alive, registered_temporaries, remove_temporaries)


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


# --------------------------------------------------------------------------- hostile outputs


def _temporaries(folder):
    return [f for f in os.listdir(folder) if f.endswith(".tmp")]


def test_output_that_is_an_input_is_refused(tmp_path):
    data = tmp_path / "d.h5"
    data.write_bytes(b"precious")
    with pytest.raises(ParameterError, match="is the input"):
        check_out_path(data, inputs=[data])
    link = tmp_path / "hard.h5"  # another name of the same inode
    os.link(data, link)
    with pytest.raises(ParameterError, match="is the input"):
        check_out_path(link, inputs=[data])
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")  # a symlinked folder
    inside = tmp_path / "real" / "x.h5"
    inside.write_bytes(b"precious")
    with pytest.raises(ParameterError, match="is the input"):
        check_out_path(tmp_path / "alias" / "x.h5", inputs=[inside])
    with pytest.raises(ParameterError, match="is the input"):
        with atomic_path(tmp_path / "alias" / "x.h5", inputs=[inside]) as tmp:
            open(tmp, "w").write("clobbered")
    assert data.read_bytes() == inside.read_bytes() == b"precious"
    assert check_out_path(tmp_path / "other.h5", inputs=[data]) == str(tmp_path / "other.h5")
    remove_temporaries()
    assert _temporaries(tmp_path) == []


def test_special_files_are_refused_and_left_alone(tmp_path):
    target = tmp_path / "target.txt"
    target.write_text("keep")
    link = tmp_path / "link.png"
    link.symlink_to(target)
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    for path, what in ((link, "symbolic link"), (fifo, "FIFO"), ("/dev/null", "device"),
                       ("/dev/full", "device")):
        with pytest.raises(ParameterError, match=what):
            check_out_path(path)
        with pytest.raises(ParameterError, match=what):
            with atomic_path(path) as tmp:
                open(tmp, "w").write("x")
    assert link.is_symlink() and target.read_text() == "keep"
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)
    assert sorted(os.listdir(tmp_path)) == ["link.png", "pipe.png", "target.txt"]


@pytest.mark.parametrize("path, words", [("", "empty"), ("/proc/x.h5", "cannot write in /proc"),
                                         ("/", "is a directory")])
def test_unusable_paths(path, words):
    with pytest.raises(ParameterError, match=words):
        check_out_path(path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_unwritable_folder_is_found_up_front(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(ParameterError, match="cannot write in"):
            check_out_path(folder / "x.h5")
    finally:
        folder.chmod(0o700)


def test_reservation_is_the_run_temporary(tmp_path):
    out = tmp_path / "r.bin"
    out.write_text("old")
    check_out_path(out)
    (reserved,) = _temporaries(tmp_path)  # the test write, kept for the run
    name, pid = parse_temporary(reserved)
    assert (name, pid) == ("r.bin", os.getpid())
    assert reserved in [os.path.basename(t) for t in registered_temporaries()]
    with atomic_path(out) as tmp:
        assert os.path.basename(tmp) == reserved
        assert out.read_text() == "old"  # the old file stays until the new one is complete
        open(tmp, "w").write("new")
    assert out.read_text() == "new" and _temporaries(tmp_path) == []
    check_out_path(tmp_path / "never.bin")  # reserved, then the run fails before writing
    remove_temporaries()
    assert _temporaries(tmp_path) == []


def test_temporary_names_and_liveness():
    assert parse_temporary(".x.h5.123.ab12cd34.tmp") == ("x.h5", 123)
    assert parse_temporary(".index.json.7.z.tmp") == ("index.json", 7)
    for name in ("x.h5", ".x.h5.abc.tmp", ".x.h5.ab12.tmp", "x.h5.1.a.tmp"):
        assert parse_temporary(name) is None
    assert pid_alive(os.getpid())
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert not pid_alive(proc.pid)


def test_free_space_check(tmp_path):
    free = shutil.disk_usage(tmp_path).free
    assert check_free_space(tmp_path / "x", 1000) == free or check_free_space(tmp_path / "x", 0)
    with pytest.raises(DataError, match="not enough free disk space"):
        check_free_space(tmp_path / "x", free * 10 + 10**9)


def test_disk_full_while_writing_is_one_error(small_disk):
    with pytest.raises(DataError, match="disk full writing"):
        with atomic_path(small_disk / "big.bin") as tmp:
            with open(tmp, "wb") as f:
                for _ in range(64):
                    f.write(b"\0" * 65536)
                    f.flush()
                    os.fsync(f.fileno())
    assert os.listdir(small_disk) == []
