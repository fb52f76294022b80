"""Errors that the command line reports as one clear line (no traceback)."""


class SpinsymError(Exception):
    """Base class: anything a user can cause by bad input."""


class ParameterError(SpinsymError, ValueError):
    """Invalid model parameters, lattice size, temperature or option."""


class DataError(SpinsymError):
    """A missing, corrupt or foreign data file or checkpoint."""
