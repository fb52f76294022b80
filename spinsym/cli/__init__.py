"""Command-line entry point ``spinsym``.

Bad input raises :class:`spinsym.errors.SpinsymError`; :func:`main` turns it into one line on
stderr and exit status 2, never a traceback.  Ctrl-C exits with status 130 (one line); SIGTERM
is a stopped run: one ``spinsym: error:`` line and status 2.  Both delete every temporary file
the run created first.
"""

from __future__ import annotations

import signal
import sys
import threading

import typer

try:  # typer >= 0.20 vendors click; its exceptions live here
    from typer._click import exceptions as _click_exc
except ImportError:  # pragma: no cover - older typer on plain click
    from click import exceptions as _click_exc

from ..errors import SpinsymError
from ..fileio import Interrupted, remove_temporaries
from .app import app, evaluate_app, plot_app, train_app  # noqa: F401
from . import mc  # noqa: F401  (registers simulate, analyze, plot observables)
from . import groundstate  # noqa: F401
from . import sampler  # noqa: F401
from . import sweep  # noqa: F401
from . import experiment  # noqa: F401

_SIGNAL_NAMES = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated by SIGTERM"}


def _raise_interrupted(signum, frame):
    """SIGTERM takes the Ctrl-C path: the work stops, the temporaries go, exit 2.  The signal
    is also recorded (``Interrupted.pending``): raised inside a finalizer (h5py frees objects
    in weakref callbacks) the exception is swallowed, and the run checks the record when it
    installs its own handlers."""
    Interrupted.pending = signum
    raise Interrupted(signum)


def _quiet():
    """From here on a second signal must not cut the cleanup short."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(sig, signal.SIG_IGN)
        except (ValueError, OSError):  # pragma: no cover - not the main thread
            pass


def _interrupt_of(exc: BaseException):
    """The KeyboardInterrupt (or :class:`Interrupted`) behind ``exc``, if any."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, KeyboardInterrupt):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def _interrupted(exc: KeyboardInterrupt, main_thread: bool) -> int:
    """Ctrl-C: one line, exit 130.  SIGTERM (a scheduler, ``timeout``, ``kill``): a run that
    was stopped, so an error: one ``spinsym: error:`` line and exit 2.  Either way every
    temporary file of the run is removed first."""
    signum = exc.signum if isinstance(exc, Interrupted) else int(signal.SIGINT)
    note = exc.note if isinstance(exc, Interrupted) else ""
    if main_thread:
        _quiet()
    remove_temporaries()
    what = _SIGNAL_NAMES.get(signum, "interrupted")
    if signum == signal.SIGTERM:
        print(f"spinsym: error: {what}" + (f"; {note}" if note else "; nothing was written"),
              file=sys.stderr)
        return 2
    print(f"spinsym: {what}" + (f"; {note}" if note else ""), file=sys.stderr)
    return 128 + signum


def main(argv=None) -> int:
    """Run the CLI; return the exit status (usage errors: 2, bad input: 2, Ctrl-C: 130,
    SIGTERM: 2)."""
    main_thread = threading.current_thread() is threading.main_thread()
    # both handlers come back on return (an interrupted run ignores signals while it cleans
    # up; a caller in the same process, e.g. a test, must get its own handlers back)
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)} \
        if main_thread else {}
    if main_thread:
        signal.signal(signal.SIGTERM, _raise_interrupted)
    hook = sys.unraisablehook

    def quiet_unraisable(unraisable):
        # a stop raised inside a callback (Numba's compiler, h5py's finalizers) is swallowed
        # there; it is recorded in Interrupted.pending and acted on, so no traceback is shown
        if not isinstance(unraisable.exc_value, Interrupted):
            hook(unraisable)

    sys.unraisablehook = quiet_unraisable
    try:
        Interrupted.last, Interrupted.last_note, Interrupted.pending = None, "", None
        code = app(args=argv, prog_name="spinsym", standalone_mode=False)
        if code == 130:  # typer turned a KeyboardInterrupt (or an Interrupted) into Exit(130)
            return _interrupted(Interrupted(Interrupted.last or signal.SIGINT,
                                            Interrupted.last_note), main_thread)
        if isinstance(code, int) and code:  # an Exit(n)
            remove_temporaries()
            return code
    except _click_exc.NoArgsIsHelpError as exc:
        exc.show()  # a bare command group prints its help
        return 2
    except _click_exc.ClickException as exc:
        # a usage error (unknown option, '--L abc', a missing argument): one line, no box
        remove_temporaries()
        message = " ".join(exc.format_message().split())
        ctx = getattr(exc, "ctx", None)
        where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        print(f"spinsym: error: {message}{where}", file=sys.stderr)
        return exc.exit_code
    except typer.Abort:  # end of input at a prompt
        remove_temporaries()
        print("spinsym: aborted", file=sys.stderr)
        return 1
    except SpinsymError as exc:
        remove_temporaries()
        print(f"spinsym: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        return _interrupted(exc, main_thread)
    except SystemExit as exc:
        stop = _interrupt_of(exc)  # typer turns KeyboardInterrupt into Exit(130)
        if stop is not None:
            return _interrupted(stop, main_thread)
        remove_temporaries()
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    finally:
        Interrupted.pending = None
        sys.unraisablehook = hook
        for sig, handler in saved.items():
            if handler is not None:
                try:
                    signal.signal(sig, handler)
                except (ValueError, OSError):  # pragma: no cover
                    pass
    remove_temporaries()
    return 0


def run():  # pragma: no cover - console script shim
    sys.exit(main())
