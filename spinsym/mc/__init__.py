"""Monte Carlo: Numba kernels (one module per family) and the multi-temperature driver."""
