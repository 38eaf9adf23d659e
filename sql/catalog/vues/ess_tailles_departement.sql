-- Catalog view ess_tailles_departement: the département's rows by size class (without the « ensemble » total), all
-- sectors, in the perimeter of the run that published each département's latest millésime: one row per
-- departement × millesime × famille × classe_taille × annee. Rows of the latest millésime view filtered, nothing
-- computed but the two flags of the years the report reads.
SELECT
    i.* EXCLUDE (niveau, code_territoire, libelle_territoire, epci_partiel, nomenclature_secteur, secteur,
                 libelle_secteur),
    i.annee = CAST(left(i.millesime, 4) AS INTEGER) AS rapport_etablissements,
    i.annee = max(i.annee) FILTER (WHERE i.date_reference_effectifs IS NOT NULL)
        OVER (PARTITION BY i.departement, i.millesime) AS rapport_emploi
FROM out_indicateurs_public AS i
JOIN referentiel_perimetres AS p
  ON p.departement = i.departement AND p.millesime = i.millesime AND p.perimetre = i.perimetre
WHERE p.perimetre_du_run
  AND i.niveau = 'departement' AND i.nomenclature_secteur = 'ensemble' AND i.secteur = 'ensemble'
  AND i.classe_taille <> 'ensemble'
