-- Catalog view ess_secteurs_a21_departement: the département's rows by sector of nomenclature 'a21', all sizes, in the
-- perimeter of the run (sql/catalog/cube_du_run.sql): one row per departement × millesime × famille × secteur × annee
-- (each sector once: the other nomenclature is in its own view).
SELECT * EXCLUDE (niveau, code_territoire, libelle_territoire, epci_partiel, nomenclature_secteur, classe_taille,
                  libelle_classe_taille)
FROM {cube_du_run} AS i
WHERE niveau = 'departement' AND nomenclature_secteur = 'a21' AND classe_taille = 'ensemble'
