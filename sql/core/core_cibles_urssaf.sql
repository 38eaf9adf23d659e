-- core_cibles_urssaf: URSSAF employment figures of the département, by year (long), as the calibration reads them.
--   cible = a family ('associations', 'cooperatives', 'mutuelles', 'fondations'), 'hors_ess' (the rest of URSSAF's
--           private field) or 'ess' (total, when published as a row): ANNUAL AVERAGE headcount
--           (staging_urssaf_ess_departement, codes mapped by the staging step); definition = 'moyenne_annuelle';
--   cible = 'ensemble_prive': all private employment of the département's communes ON 31 DECEMBER
--           (core_cellules_urssaf: commune × APE, old codes mapped, divisions outside the field left out);
--           definition = 'fin_annee'; cellules_inconnues counts its cells with an unknown value.
-- The two files measure different things (annual average vs 31 December): transforms/employment.py converts.
-- Parameters: $departement.
WITH ess AS (
    SELECT annee, famille_ess AS cible, effectifs_salaries AS effectif, nb_etablissements
    FROM staging_urssaf_ess_departement
    WHERE code_departement = $departement
      AND famille_ess IN ('associations', 'cooperatives', 'mutuelles', 'fondations', 'hors_ess', 'ess')
),

ensemble AS (
    SELECT annee, 'ensemble_prive' AS cible, sum(effectif) AS effectif, sum(nb_etablissements) AS nb_etablissements,
           count(*) FILTER (WHERE effectif IS NULL) AS cellules_inconnues
    FROM core_cellules_urssaf
    GROUP BY annee
)

SELECT annee, cible, effectif, nb_etablissements, 'moyenne_annuelle' AS definition,
       'urssaf_ess_departement' AS source, 0::BIGINT AS cellules_inconnues
FROM ess
UNION ALL
SELECT annee, cible, effectif, nb_etablissements, 'fin_annee', 'urssaf_commune_ape', cellules_inconnues
FROM ensemble
