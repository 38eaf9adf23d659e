-- Catalog view ess_territoires: the cube's rows of every territory, all sectors and all sizes, in the perimeter of the
-- run that published each département's latest millésime, with the flags of the years the report reads
-- (sql/catalog/cube_du_run.sql): one row per departement × millesime × niveau × code_territoire × famille × annee.
SELECT * EXCLUDE (nomenclature_secteur, secteur, libelle_secteur, classe_taille, libelle_classe_taille)
FROM {cube_du_run} AS i
WHERE nomenclature_secteur = 'ensemble' AND secteur = 'ensemble' AND classe_taille = 'ensemble'
