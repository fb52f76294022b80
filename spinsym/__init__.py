"""spinsym: lattice spin Monte Carlo and symmetry-breaking equivariant networks.

The physics half (lattice, hamiltonians, mc, observables, exact, data) imports no torch;
the learning half lives in :mod:`spinsym.nn` and :mod:`spinsym.tasks`.
"""

__version__ = "0.1.0"
