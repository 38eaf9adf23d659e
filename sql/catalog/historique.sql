-- Catalog view <table>_historique: every row of every file of a published table, all millésimes.
-- {chemin} is the files' glob RELATIVE to the catalog's folder (DuckDB resolves it from the current directory, then
-- from file_search_path): a copied or moved warehouse reads its own files. The files carry their partition keys
-- (departement, millesime) as text columns, so no key is taken from folder names.
SELECT *
FROM read_parquet({chemin}, hive_partitioning = false, union_by_name = true)
