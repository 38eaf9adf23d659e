"""One module per source, listed once in sources/registry.py. Each describes itself once (a `sources.base.Source`:
its files, millésime format, whether it is national, the settings its staging reads) and exposes the same small
surface: `find_snapshot(root, settings)` picks its snapshot in an input folder, `stage(con, snapshot, params,
work_dir)` reads it, typed and restricted to the département(s), into DuckDB with its row accounting, and
`fetch(root, request)` downloads the official files unchanged into data/raw/<source>/<millésime>/ (the portals'
code is in sources/fetch.py). The sample writes every source's files (sources/sample/). The network is touched
only here."""
