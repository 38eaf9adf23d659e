-- core_cibles_urssaf: URSSAF employment figures the calibration can aim at, by year (long):
--   cible = a family ('associations', 'cooperatives', 'mutuelles', 'fondations'): ESS employment of that family in
--           the département (staging_urssaf_ess_departement; labels mapped by ref_urssaf_familles, ignoring case
--           and accents);
--   cible = 'ess', 'hors_ess': the same table's ESS total and private-outside-ESS rows, when published (cross-checks);
--   cible = 'ensemble_prive': all private régime général employment of the département's communes
--           (staging_urssaf_commune_ape; old commune codes mapped to the COG; APE divisions outside the URSSAF field
--           of ref_champ_urssaf left out, as on the SIRENE side).
-- Parameters: $departement.
WITH libelles AS (
    SELECT strip_accents(lower(trim(libelle_urssaf))) AS libelle, famille FROM ref_urssaf_familles
),

ess AS (
    SELECT u.annee, u.champ_ess, u.famille_ess, u.effectifs_salaries, u.nb_etablissements,
           lc.famille AS champ, lf.famille AS famille
    FROM staging_urssaf_ess_departement AS u
    LEFT JOIN libelles AS lc ON lc.libelle = strip_accents(lower(trim(u.champ_ess)))
    LEFT JOIN libelles AS lf ON lf.libelle = strip_accents(lower(trim(u.famille_ess)))
    WHERE u.code_departement = $departement
),

familles AS (
    SELECT annee, famille AS cible, sum(effectifs_salaries) AS effectif, sum(nb_etablissements) AS nb_etablissements,
           'urssaf_ess_departement' AS source, string_agg(DISTINCT famille_ess, ' | ') AS libelles_source
    FROM ess
    WHERE famille IN ('associations', 'cooperatives', 'mutuelles', 'fondations')
      AND coalesce(champ, 'ess') IN ('ess', 'ensemble')
    GROUP BY ALL
),

-- totals may be published as one row or split: the largest row is taken so that a total and its parts are never
-- added together
totaux AS (
    SELECT annee,
           CASE WHEN famille = 'hors_ess' OR champ = 'hors_ess' THEN 'hors_ess' ELSE 'ess' END AS cible,
           max(effectifs_salaries) AS effectif, max(nb_etablissements) AS nb_etablissements,
           'urssaf_ess_departement' AS source,
           string_agg(DISTINCT coalesce(champ_ess, '') || ' / ' || coalesce(famille_ess, ''), ' | ') AS libelles_source
    FROM ess
    WHERE famille = 'hors_ess' OR champ = 'hors_ess'
       OR (famille IN ('ess', 'ensemble') AND coalesce(champ, 'ess') = 'ess')
    GROUP BY ALL
),

passage AS (
    SELECT upper(trim(ancien_code)) AS ancien_code, min(code_commune) AS code_commune
    FROM staging_communes_passage GROUP BY 1
),

communes_ape AS (
    SELECT u.annee, u.effectifs_salaries, u.nb_etablissements,
           coalesce(c.code_departement, cp.code_departement) AS code_departement,
           left(replace(u.code_ape, '.', ''), 2) AS division
    FROM staging_urssaf_commune_ape AS u
    LEFT JOIN core_communes AS c ON c.code_commune = u.code_commune
    LEFT JOIN passage AS p ON c.code_commune IS NULL AND p.ancien_code = u.code_commune
    LEFT JOIN core_communes AS cp ON cp.code_commune = p.code_commune
),

ensemble AS (
    SELECT annee, 'ensemble_prive' AS cible, sum(effectifs_salaries) AS effectif,
           sum(nb_etablissements) AS nb_etablissements, 'urssaf_commune_ape' AS source,
           CAST(NULL AS VARCHAR) AS libelles_source
    FROM communes_ape
    WHERE code_departement = $departement
      AND division NOT IN (SELECT code FROM ref_champ_urssaf WHERE critere = 'naf_division')
    GROUP BY ALL
)

SELECT * FROM familles
UNION ALL SELECT * FROM totaux
UNION ALL SELECT * FROM ensemble
