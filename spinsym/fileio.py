"""Output files: the destination checks and the temporary-name-then-rename discipline.

Every file spinsym writes (HDF5 datasets, PNG figures, checkpoints, indexes) goes through
:func:`atomic_path`: it is written under a temporary name in the destination folder and
renamed into place only when complete, so the final path never holds a half-written file, and
an exception or Ctrl-C leaves no temporary file behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

from .errors import ParameterError

# mkstemp creates files readable by the owner only; finished files get the usual permissions
_UMASK = os.umask(0)
os.umask(_UMASK)


def check_out_path(path) -> str:
    """The destination folder must exist (never created silently) and the path not be a folder."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ParameterError(f"output directory does not exist: {directory}")
    if os.path.isdir(path):
        raise ParameterError(f"output path is a directory: {path}")
    return path


def temporary_name(path) -> str:
    """A new, empty temporary file beside ``path`` (hidden name, ``.tmp`` suffix)."""
    path = check_out_path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                               dir=os.path.dirname(os.path.abspath(path)))
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)
    return tmp


@contextlib.contextmanager
def atomic_path(path):
    """``with atomic_path(out) as tmp:`` write ``tmp``; on success it is renamed to ``out``."""
    tmp = temporary_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
