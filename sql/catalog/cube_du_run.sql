-- Fragment of the ess_* catalog views (sql/catalog/vues/, `{cube_du_run}` there): the latest millésime's cube rows in
-- the perimeter of the run that published each département's latest millésime (referentiel_perimetres
-- .perimetre_du_run, the perimeter of its report), flagged with the two years the report reads — establishments:
-- the millésime's year; employment: the latest year with employment, the run's employment year. Rows filtered,
-- nothing computed.
(
    SELECT
        i.*,
        i.annee = CAST(left(i.millesime, 4) AS INTEGER) AS rapport_etablissements,
        i.annee = max(i.annee) FILTER (WHERE i.date_reference_effectifs IS NOT NULL)
            OVER (PARTITION BY i.departement, i.millesime) AS rapport_emploi
    FROM out_indicateurs_public AS i
    JOIN referentiel_perimetres AS p
      ON p.departement = i.departement AND p.millesime = i.millesime AND p.perimetre = i.perimetre
    WHERE p.perimetre_du_run
)
