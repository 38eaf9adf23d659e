-- core_ecart_urssaf: SIRENE's employment estimate against URSSAF's private employment (commune × APE), for the
-- calibration year, by commune (COG of the run) and for the département. Both sides are restricted to the URSSAF
-- field: active SIRENE establishments with champ_urssaf, URSSAF rows outside the excluded APE divisions.
-- ecart_central_brut = SIRENE raw central − URSSAF (before calibration); the calibrated central matches URSSAF at
-- département level only (by construction), communes keep their own gaps.
-- Parameters: $departement, $annee_calage.
WITH passage AS (
    SELECT upper(trim(ancien_code)) AS ancien_code, min(code_commune) AS code_commune
    FROM staging_communes_passage GROUP BY 1
),

urssaf AS (
    SELECT coalesce(c.code_commune, cp.code_commune) AS code_commune,
           coalesce(c.code_departement, cp.code_departement) AS code_departement,
           u.effectifs_salaries, u.nb_etablissements
    FROM staging_urssaf_commune_ape AS u
    LEFT JOIN core_communes AS c ON c.code_commune = u.code_commune
    LEFT JOIN passage AS p ON c.code_commune IS NULL AND p.ancien_code = u.code_commune
    LEFT JOIN core_communes AS cp ON cp.code_commune = p.code_commune
    WHERE u.annee = $annee_calage
      AND left(replace(u.code_ape, '.', ''), 2) NOT IN (SELECT code FROM ref_champ_urssaf WHERE critere = 'naf_division')
),

urssaf_communes AS (
    SELECT code_commune, sum(effectifs_salaries) AS effectif_urssaf, sum(nb_etablissements) AS nb_etablissements_urssaf
    FROM urssaf
    WHERE code_departement = $departement
    GROUP BY ALL
),

sirene_communes AS (
    SELECT code_commune,
           count(*) AS nb_etablissements_sirene,
           count(*) FILTER (WHERE employeur) AS nb_etablissements_employeurs_sirene,
           sum(effectif_bas) AS effectif_bas, sum(effectif_central_brut) AS effectif_central_brut,
           sum(effectif_haut) AS effectif_haut, sum(effectif_central) AS effectif_central
    FROM core_etablissements
    WHERE actif AND champ_urssaf AND code_commune IS NOT NULL
    GROUP BY ALL
),

communes AS (
    SELECT 'commune' AS niveau, code_commune AS code_territoire, s.*, u.* EXCLUDE (code_commune)
    FROM sirene_communes AS s
    FULL JOIN urssaf_communes AS u USING (code_commune)
),

departement AS (
    SELECT 'departement' AS niveau, CAST($departement AS VARCHAR) AS code_territoire,
           CAST(NULL AS VARCHAR) AS code_commune,
           (SELECT count(*) FROM core_etablissements WHERE actif AND champ_urssaf) AS nb_etablissements_sirene,
           (SELECT count(*) FROM core_etablissements WHERE actif AND champ_urssaf AND employeur)
               AS nb_etablissements_employeurs_sirene,
           (SELECT sum(effectif_bas) FROM core_etablissements WHERE actif AND champ_urssaf) AS effectif_bas,
           (SELECT sum(effectif_central_brut) FROM core_etablissements WHERE actif AND champ_urssaf)
               AS effectif_central_brut,
           (SELECT sum(effectif_haut) FROM core_etablissements WHERE actif AND champ_urssaf) AS effectif_haut,
           (SELECT sum(effectif_central) FROM core_etablissements WHERE actif AND champ_urssaf) AS effectif_central,
           (SELECT sum(effectif_urssaf) FROM urssaf_communes) AS effectif_urssaf,
           (SELECT sum(nb_etablissements_urssaf) FROM urssaf_communes) AS nb_etablissements_urssaf
)

SELECT CAST($annee_calage AS INTEGER) AS annee, niveau, code_territoire,
       coalesce(nb_etablissements_sirene, 0) AS nb_etablissements_sirene,
       coalesce(nb_etablissements_employeurs_sirene, 0) AS nb_etablissements_employeurs_sirene,
       nb_etablissements_urssaf,
       coalesce(effectif_bas, 0) AS effectif_bas, coalesce(effectif_central_brut, 0) AS effectif_central_brut,
       coalesce(effectif_haut, 0) AS effectif_haut, coalesce(effectif_central, 0) AS effectif_central,
       effectif_urssaf,
       coalesce(effectif_central_brut, 0) - effectif_urssaf AS ecart_central_brut,
       coalesce(effectif_central, 0) - effectif_urssaf AS ecart_central,
       effectif_urssaf BETWEEN coalesce(effectif_bas, 0) AND coalesce(effectif_haut, 0) AS urssaf_dans_fourchette
FROM (SELECT * EXCLUDE (code_commune) FROM communes UNION ALL BY NAME SELECT * EXCLUDE (code_commune) FROM departement)
