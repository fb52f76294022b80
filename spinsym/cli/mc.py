"""simulate / analyze / plot observables (filled in by the foundation issue)."""
