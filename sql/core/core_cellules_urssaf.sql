-- core_cellules_urssaf: URSSAF's private employment by commune (COG of the run) × APE × year for the département:
-- headcount on 31 December and number of establishments, the cells the employment model is calibrated on.
-- Old commune codes are mapped to the COG; APE divisions outside the URSSAF field of ref_champ_urssaf are left out,
-- as on the SIRENE side.
-- An empty value of the file means "no employer that year" before the row's first and after its last published
-- year (the row exists because the cell had employers some year), and "unknown" between two published years (a
-- gap): unknown cells keep a NULL headcount, never 0. A cell absent from the file had no employer. A value left
-- empty the year right after the row's last published year cannot be told from the cell's last employer leaving
-- (in the file's last year nothing later can show it was a gap): it reads as 0, flagged `vide_apres_publication`
-- with the row's value of the year before (`effectif_avant_vide`); transforms/employment.py weighs, for the file's
-- last year, the chance that it hides employment (METHOD.md § 3). A cell gathering several file rows (communes
-- merged since) is flagged only when none of them is published that year; when some are published and another is
-- a gap, its headcount is unknown and `lacune_partielle` says that part of it is published (it is not imputed as a
-- gap: its published part is no hidden value).
-- Parameters: $departement.
WITH passage AS (
    SELECT upper(trim(ancien_code)) AS ancien_code, min(code_commune) AS code_commune
    FROM staging_communes_passage GROUP BY 1
),

lignes AS (
    SELECT u.annee, u.code_commune AS code_source, coalesce(c.code_commune, cp.code_commune) AS code_commune,
           coalesce(c.code_departement, cp.code_departement) AS code_departement,
           replace(u.code_ape, '.', '') AS code_ape, u.effectifs_salaries, u.nb_etablissements
    FROM staging_urssaf_commune_ape AS u
    LEFT JOIN core_communes AS c ON c.code_commune = u.code_commune
    LEFT JOIN passage AS p ON c.code_commune IS NULL AND p.ancien_code = u.code_commune
    LEFT JOIN core_communes AS cp ON cp.code_commune = p.code_commune
    WHERE left(replace(u.code_ape, '.', ''), 2) NOT IN (SELECT code FROM ref_champ_urssaf WHERE critere = 'naf_division')
),

-- the published years of each file row (code as in the file × APE)
bornes AS (
    SELECT *,
           min(annee) FILTER (WHERE effectifs_salaries IS NOT NULL) OVER r AS premiere_annee,
           max(annee) FILTER (WHERE effectifs_salaries IS NOT NULL) OVER r AS derniere_annee,
           lag(effectifs_salaries) OVER (PARTITION BY code_source, code_ape ORDER BY annee) AS precedent
    FROM lignes
    WINDOW r AS (PARTITION BY code_source, code_ape)
),

lues AS (
    SELECT annee, code_commune, code_departement, code_ape,
           CASE WHEN effectifs_salaries IS NOT NULL THEN effectifs_salaries
                WHEN annee < premiere_annee OR annee > derniere_annee OR premiere_annee IS NULL THEN 0 END
               AS effectif,
           CASE WHEN effectifs_salaries IS NOT NULL THEN coalesce(nb_etablissements, 0)
                WHEN annee < premiere_annee OR annee > derniere_annee OR premiere_annee IS NULL THEN 0 END
               AS nb_etablissements,
           effectifs_salaries IS NULL AND annee = derniere_annee + 1 AS vide_apres_publication,
           effectifs_salaries IS NOT NULL AS publie,
           CASE WHEN effectifs_salaries IS NULL AND annee = derniere_annee + 1 THEN precedent END AS effectif_avant_vide
    FROM bornes
)

SELECT annee, code_commune, code_ape,
       CASE WHEN count(*) = count(effectif) THEN sum(effectif) END AS effectif,
       CASE WHEN count(*) = count(nb_etablissements) THEN sum(nb_etablissements) END AS nb_etablissements,
       count(*) > count(effectif) AND bool_or(publie) AS lacune_partielle,
       -- a cell whose file rows (old communes merged into one) are partly published keeps its published value
       bool_or(vide_apres_publication) AND NOT bool_or(publie) AS vide_apres_publication,
       CASE WHEN NOT bool_or(publie) THEN sum(effectif_avant_vide) END AS effectif_avant_vide
FROM lues
WHERE code_departement = $departement
GROUP BY annee, code_commune, code_ape
