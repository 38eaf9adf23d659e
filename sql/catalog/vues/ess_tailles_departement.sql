-- Catalog view ess_tailles_departement: the département's rows by size class (without the « ensemble » total), all
-- sectors, in the perimeter of the run (sql/catalog/cube_du_run.sql): one row per departement × millesime × famille ×
-- classe_taille × annee.
SELECT * EXCLUDE (niveau, code_territoire, libelle_territoire, epci_partiel, nomenclature_secteur, secteur,
                  libelle_secteur)
FROM {cube_du_run} AS i
WHERE niveau = 'departement' AND nomenclature_secteur = 'ensemble' AND secteur = 'ensemble'
  AND classe_taille <> 'ensemble'
