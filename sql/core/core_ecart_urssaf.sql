-- core_ecart_urssaf: employment of URSSAF's private field on 31/12 of the employment year Y by commune (COG of the
-- run) and for the département — URSSAF's commune × APE total against the model's estimate for the establishments
-- of the field open on that date, before calibration (prior) and after. The calibrated estimate follows URSSAF
-- closely where SIRENE places establishments in URSSAF's cells; the remaining gaps are URSSAF employment no SIRENE
-- establishment of the commune can take, or estimates URSSAF does not confirm.
-- Parameters: $departement, $annee_effectifs.
WITH urssaf AS (
    SELECT code_commune, sum(effectif) AS effectif_urssaf, sum(nb_etablissements) AS nb_etablissements_urssaf,
           count(*) FILTER (WHERE effectif IS NULL) AS cellules_inconnues
    FROM core_cellules_urssaf
    WHERE annee = $annee_effectifs
    GROUP BY code_commune
),

sirene AS (
    SELECT e.code_commune, count(*) AS nb_etablissements_sirene,
           count(*) FILTER (WHERE f.effectif_central >= 0.5) AS nb_etablissements_employeurs_sirene,
           sum(f.effectif_a_priori) AS effectif_a_priori, sum(f.effectif_central) AS effectif_central
    FROM core_effectifs AS f
    JOIN core_effectifs_entrees AS e USING (siret, annee)
    WHERE f.annee = $annee_effectifs AND e.champ_urssaf AND e.code_commune IS NOT NULL
    GROUP BY e.code_commune
),

communes AS (
    SELECT 'commune' AS niveau, coalesce(s.code_commune, u.code_commune) AS code_territoire,
           s.nb_etablissements_sirene, s.nb_etablissements_employeurs_sirene, u.nb_etablissements_urssaf,
           s.effectif_a_priori, s.effectif_central, u.effectif_urssaf, u.cellules_inconnues
    FROM sirene AS s
    FULL JOIN urssaf AS u USING (code_commune)
),

departement AS (
    SELECT 'departement' AS niveau, CAST($departement AS VARCHAR) AS code_territoire,
           sum(nb_etablissements_sirene), sum(nb_etablissements_employeurs_sirene), sum(nb_etablissements_urssaf),
           sum(effectif_a_priori), sum(effectif_central), sum(effectif_urssaf), sum(cellules_inconnues)
    FROM communes
)

SELECT CAST($annee_effectifs AS INTEGER) AS annee, niveau, code_territoire,
       coalesce(nb_etablissements_sirene, 0)::BIGINT AS nb_etablissements_sirene,
       coalesce(nb_etablissements_employeurs_sirene, 0)::BIGINT AS nb_etablissements_employeurs_sirene,
       nb_etablissements_urssaf,
       coalesce(effectif_a_priori, 0) AS effectif_a_priori, coalesce(effectif_central, 0) AS effectif_central,
       effectif_urssaf, coalesce(cellules_inconnues, 0)::BIGINT AS cellules_urssaf_inconnues,
       coalesce(effectif_a_priori, 0) - effectif_urssaf AS ecart_a_priori,
       coalesce(effectif_central, 0) - effectif_urssaf AS ecart_central
FROM (SELECT * FROM communes UNION ALL SELECT * FROM departement)
