"""ESS observatory: the few helpers every layer shares (paths, settings, DuckDB, run accounting, caching). The
command line is flows/cli.py."""

__version__ = "0.1.0"
