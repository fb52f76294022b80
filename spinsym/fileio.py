"""Output files: the destination checks, temporaries and the write-then-rename discipline.

Every file spinsym writes (HDF5 datasets, figures, checkpoints, indexes) goes through
:func:`atomic_path` (or :class:`spinsym.data.AtomicH5Writer`): it is written under a temporary
name in the destination folder and renamed into place only when complete, so the final path
never holds a half-written file, and an old file at that path stays whole until the new one
replaces it.

* :func:`check_out_path` ``(out, inputs=[...])`` is the one destination check, run by every
  command BEFORE any work starts.  It refuses an empty path, a missing or unwritable folder, an
  existing output that is not a regular file (a symlink, FIFO, device or folder: never written
  through, never replaced) and an output that is the same file as one of the inputs (same
  resolved path or same inode, so hard links and symlinked folders are caught).  It proves the
  folder writable by creating the run's temporary file there (a *reservation*), which the
  later write then uses.
* Temporaries are named ``.{basename}.{pid}.{token}.tmp``, so a process can tell its own (and
  those of dead processes) from those of live ones (:func:`parse_temporary`,
  :func:`pid_alive`).  Every temporary this process creates is registered and removed on
  success (renamed), on an exception, on Ctrl-C / SIGTERM (:func:`remove_temporaries`, called
  by ``spinsym.cli.main``) and, as a safety net, at interpreter exit.
* :func:`check_free_space` compares the free space of the destination with an expected size;
  :func:`is_disk_full` recognizes ENOSPC, also inside h5py's error messages.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import os
import secrets
import shutil
import stat
import threading

from .errors import DataError, ParameterError

# finished files get the usual permissions (the temporary is created 0600 first)
_UMASK = os.umask(0)
os.umask(_UMASK)

#: temporaries created by this process: path -> final path
_TEMPS: dict = {}
#: reservations made by check_out_path: absolute final path -> temporary
_RESERVED: dict = {}
_LOCK = threading.Lock()
_PID = os.getpid()


class Interrupted(KeyboardInterrupt):
    """A stop request by signal (SIGINT or SIGTERM); ``signum`` sets the exit status 128 + n.

    ``Interrupted.last`` keeps the signal of the latest one raised in this process: the CLI
    framework turns any KeyboardInterrupt into exit code 130, and the CLI's entry point reads
    it to exit with 128 + the real signal number."""

    last: int | None = None
    #: the note of the latest one (e.g. where a checkpoint was saved), for the final message
    last_note: str = ""
    #: a SIGTERM the command line's handler saw, whether or not its exception got through
    pending: int | None = None

    def __init__(self, signum: int, note: str = ""):
        super().__init__(signum)
        self.signum = int(signum)
        self.note = note
        Interrupted.last = self.signum
        Interrupted.last_note = note


# --------------------------------------------------------------------------- destination checks


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _same_file(a: str, b: str) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_out_path(path, inputs=(), reserve: bool = True) -> str:
    """Check an output path before any work starts; return it (as given, as a str).

    ``inputs``: the files (or folders) the command reads; an output that is one of them is
    refused.  ``reserve``: create the run's temporary file in the destination folder now (the
    proof that it is writable); :func:`temporary_name` and :func:`atomic_path` then use it.
    Raises :class:`ParameterError` with one clear line.
    """
    path = os.fspath(path)
    if not isinstance(path, str) or path.strip() == "":
        raise ParameterError("the output path is empty")
    if path.endswith(os.sep) or os.path.basename(path) in (".", ".."):
        raise ParameterError(f"output path is a directory: {path}")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ParameterError(f"output directory does not exist: {directory}")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise ParameterError(f"cannot use output path {path}: {exc.strerror or exc}") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        what = _kind(st.st_mode)
        if stat.S_ISDIR(st.st_mode):
            raise ParameterError(f"output path is a directory: {path}")
        raise ParameterError(f"output path {path} is {what}, not a regular file; "
                             "refusing to replace it (choose another path)")
    for item in inputs or ():
        if item is None:
            continue
        item = os.fspath(item)
        if item and _same_file(path, item):
            raise ParameterError(f"output {path} is the input {item}; choose another output "
                                 "path (the input would be destroyed)")
    if reserve:
        reserve_temporary(path)
    return path


def reserve_temporary(path) -> str:
    """The reserved temporary of ``path`` (created now if there is none): proves that the
    folder takes a new file, before the work starts."""
    key = os.path.abspath(os.fspath(path))
    with _LOCK:
        tmp = _RESERVED.get(key)
        if tmp is not None and os.path.exists(tmp):
            return tmp
    tmp = _create_temporary(path)
    with _LOCK:
        _RESERVED[key] = tmp
    return tmp


# --------------------------------------------------------------------------- temporaries


def temporary_pattern(basename: str, pid: int | None = None) -> str:
    return f".{basename}.{os.getpid() if pid is None else pid}."


def parse_temporary(name: str):
    """``.{basename}.{pid}.{token}.tmp`` -> (basename, pid); None for any other name."""
    if not (name.startswith(".") and name.endswith(".tmp")):
        return None
    parts = name[1:-4].rsplit(".", 2)
    if len(parts) != 3 or not parts[0] or not parts[1].isdigit() or not parts[2]:
        return None
    return parts[0], int(parts[1])


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (a zombie counts as dead)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _create_temporary(path) -> str:
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    for _ in range(100):
        tmp = os.path.join(folder, f".{base}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        except OSError as exc:
            raise ParameterError(f"cannot write in {folder}: {exc.strerror or exc}") from None
        with _LOCK:
            _TEMPS[tmp] = path
        try:
            try:  # a real write: a full or read-only filesystem is found now, not at the end
                os.write(fd, b"\0")
                os.ftruncate(fd, 0)
            finally:
                os.close(fd)
            os.chmod(tmp, 0o666 & ~_UMASK)
        except OSError as exc:
            discard(tmp)
            if exc.errno == errno.ENOSPC:
                raise DataError(f"disk full: cannot write in {folder}") from None
            raise ParameterError(f"cannot write in {folder}: {exc.strerror or exc}") from None
        return tmp
    raise ParameterError(f"cannot create a temporary file in {folder}")  # pragma: no cover


def temporary_name(path) -> str:
    """The temporary file of ``path`` (hidden name ``.{basename}.{pid}.{token}.tmp`` beside it):
    the reservation made by :func:`check_out_path` if there is one, else a new empty file."""
    path = os.fspath(path)
    key = os.path.abspath(path)
    with _LOCK:
        tmp = _RESERVED.pop(key, None)
    if tmp is not None and os.path.exists(tmp):
        return tmp
    check_out_path(path, reserve=False)
    return _create_temporary(path)


def finish(tmp: str, path) -> str:
    """Rename the complete temporary ``tmp`` onto ``path`` (checked again: an output that became
    a symlink, FIFO or device meanwhile is not replaced)."""
    path = os.fspath(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        discard(tmp)
        raise ParameterError(f"output path {path} is {_kind(st.st_mode)}, not a regular file; "
                             "refusing to replace it")
    os.replace(tmp, path)
    with _LOCK:
        _TEMPS.pop(tmp, None)
    return path


def discard(tmp: str):
    """Delete a temporary (if it still exists) and forget it."""
    with _LOCK:
        _TEMPS.pop(tmp, None)
        for key in [k for k, v in _RESERVED.items() if v == tmp]:
            del _RESERVED[key]
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)


def registered_temporaries() -> list:
    with _LOCK:
        return list(_TEMPS)


def remove_temporaries():
    """Delete every temporary this process created and has not renamed (and no other)."""
    if os.getpid() != _PID:  # a forked child holds a copy of the parent's registry
        return
    for tmp in registered_temporaries():
        with contextlib.suppress(OSError):
            discard(tmp)


atexit.register(remove_temporaries)


@contextlib.contextmanager
def atomic_path(path, inputs=()):
    """``with atomic_path(out) as tmp:`` write ``tmp``; on success it is renamed to ``out``.

    ``inputs`` as for :func:`check_out_path`.  On an exception (or Ctrl-C) the temporary is
    deleted and an old file at ``out`` is left as it was.  ENOSPC becomes a
    :class:`DataError` ``disk full writing OUT``.
    """
    if inputs:
        check_out_path(path, inputs, reserve=False)
    tmp = temporary_name(path)
    try:
        try:
            yield tmp
        except Exception as exc:
            if is_disk_full(exc):
                raise DataError(f"disk full writing {os.fspath(path)}") from None
            raise
        finish(tmp, path)
    finally:
        discard(tmp)


# --------------------------------------------------------------------------- disk space


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it wraps) is 'no space left on device' / quota."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(exc)
        if "No space left on device" in text or "errno = 28," in text \
                or "Disk quota exceeded" in text:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _size(nbytes: float) -> str:
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if nbytes < 1000 or unit == "TB":
            return f"{nbytes:.0f} {unit}" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
    return ""  # pragma: no cover


def check_free_space(path, nbytes: int, margin: float = 1.02) -> int:
    """Refuse (DataError, one line) if the folder of ``path`` has less free space than
    ``nbytes`` (times ``margin``); return the free bytes.  An old file at ``path`` is replaced
    only after the new one is complete, so its space does not count."""
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return -1  # no way to tell: the write itself reports a full disk
    need = int(nbytes * margin) + 65536
    if free < need:
        raise DataError(f"not enough free disk space in {folder}: the output needs about "
                        f"{_size(need)}, {_size(free)} free")
    return free
