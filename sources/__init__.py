"""One module per source. Each describes itself once (a `Source`) and exposes the same small surface:
`fetch(...)` downloads the official file unchanged into data/raw/<source>/<millésime>/, and `load(...)` reads it,
typed and restricted to the département, into DuckDB. The network is touched only here."""
