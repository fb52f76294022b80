"""Command-line entry point ``spinsym``.

Bad input raises :class:`spinsym.errors.SpinsymError`; :func:`main` turns it into one line on
stderr and exit status 2, never a traceback.  Ctrl-C exits with status 130.
"""

from __future__ import annotations

import sys

from ..errors import SpinsymError
from .app import app, evaluate_app, plot_app, train_app  # noqa: F401
from . import mc  # noqa: F401  (registers simulate, analyze, plot observables)
from . import groundstate  # noqa: F401
from . import sampler  # noqa: F401
from . import sweep  # noqa: F401


def main(argv=None) -> int:
    """Run the CLI; return the exit status (usage errors: 2, bad input: 2, Ctrl-C: 130)."""
    try:
        app(args=argv, prog_name="spinsym", standalone_mode=True)
    except SpinsymError as exc:
        print(f"spinsym: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("spinsym: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


def run():  # pragma: no cover - console script shim
    sys.exit(main())
