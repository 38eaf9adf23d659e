"""ESS observatory: command line and the few helpers every step shares (paths, DuckDB, run accounting)."""

__version__ = "0.1.0"
