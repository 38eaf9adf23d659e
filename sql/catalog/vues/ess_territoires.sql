-- Catalog view ess_territoires: the cube's rows of every territory, all sectors and all sizes, in the perimeter of the
-- run that published each département's latest millésime (referentiel_perimetres.perimetre_du_run, the perimeter of
-- its report): one row per departement × millesime × niveau × code_territoire × famille × annee. Rows of the latest
-- millésime view filtered, nothing computed but the two flags of the years the report reads (establishments: the
-- millésime's year; employment: the latest year with employment, the run's employment year).
SELECT
    i.* EXCLUDE (nomenclature_secteur, secteur, libelle_secteur, classe_taille, libelle_classe_taille),
    i.annee = CAST(left(i.millesime, 4) AS INTEGER) AS rapport_etablissements,
    i.annee = max(i.annee) FILTER (WHERE i.date_reference_effectifs IS NOT NULL)
        OVER (PARTITION BY i.departement, i.millesime) AS rapport_emploi
FROM out_indicateurs_public AS i
JOIN referentiel_perimetres AS p
  ON p.departement = i.departement AND p.millesime = i.millesime AND p.perimetre = i.perimetre
WHERE p.perimetre_du_run
  AND i.nomenclature_secteur = 'ensemble' AND i.secteur = 'ensemble' AND i.classe_taille = 'ensemble'
