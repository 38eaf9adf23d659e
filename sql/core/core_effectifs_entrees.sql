-- core_effectifs_entrees: what the employment model knows of each establishment of the département's stock open on
-- 31 December of each year from 2012 to the employment year ($annee_effectifs): the year's situation (activity,
-- ESS family, URSSAF field, from core_situations) and what SIRENE says of its size (band and band year, employer
-- flag of the stock, creation date). One row per establishment and year; the employment of that year is estimated
-- for exactly these rows (closed since: counted in the years they were open; created after: not).
--   champ_urssaf: the year's legal form and activity are in URSSAF's private field (ref_champ_urssaf);
--   famille_urssaf: the family URSSAF's ESS table counts it in (in the perimeter marked calage_urssaf in
--     ref_perimetres — INSEE's definition, which URSSAF uses — and one of the four families), 'hors_ess' for the
--     rest of the field, NULL outside the field;
--   code_ape: the year's activity without the dot ('9499Z'), as URSSAF's commune × APE file writes it;
--   regle_hors_urssaf: in the field, the rule of ref_emploi_hors_urssaf its legal form and activity match (part of
--     such employment is under the MSA, absent from URSSAF's files: transforms/employment.py, unseen_employment);
--     the file's check lets at most one rule match.
-- Parameters: $annee_effectifs.
WITH annees AS (
    SELECT s.siret, s.annee, s.categorie_juridique, s.categorie_juridique_niveau1, s.famille_ess, s.activite,
           list_contains(s.perimetres_inclus, (SELECT perimetre FROM ref_perimetres WHERE calage_urssaf))
               AS perimetre_urssaf
    FROM core_situations AS s
    WHERE NOT s.courant AND s.actif AND s.annee BETWEEN 2012 AND $annee_effectifs
),

hors_champ AS (
    SELECT a.siret, a.annee
    FROM annees AS a
    JOIN ref_champ_urssaf AS ch
      ON (ch.critere = 'categorie_juridique_niveau1' AND ch.code = a.categorie_juridique_niveau1)
      OR (ch.critere = 'categorie_juridique' AND ch.code = a.categorie_juridique)
      OR (ch.critere = 'naf_division' AND ch.code = left(a.activite, 2))
    GROUP BY ALL
),

regles AS (
    SELECT regle, prefixe_cj, unnest(string_split(activites, ' ')) AS prefixe_naf
    FROM (SELECT regle, activites, unnest(string_split(categories_juridiques, ' ')) AS prefixe_cj
          FROM ref_emploi_hors_urssaf)
),

hors_urssaf AS (
    SELECT a.siret, a.annee, min(r.regle) AS regle
    FROM annees AS a
    JOIN regles AS r
      ON starts_with(a.categorie_juridique, r.prefixe_cj) AND starts_with(a.activite, r.prefixe_naf)
    GROUP BY ALL
)

SELECT a.siret, a.annee, p.code_commune,
       replace(a.activite, '.', '') AS code_ape,
       h.siret IS NULL AS champ_urssaf,
       CASE WHEN h.siret IS NOT NULL THEN NULL
            WHEN a.perimetre_urssaf AND a.famille_ess IN ('associations', 'cooperatives', 'mutuelles', 'fondations')
                THEN a.famille_ess
            ELSE 'hors_ess' END AS famille_urssaf,
       p.tranche_effectifs AS tranche, p.annee_effectifs AS annee_tranche,
       p.caractere_employeur, year(e.date_creation) AS annee_creation,
       CASE WHEN h.siret IS NULL THEN u.regle END AS regle_hors_urssaf
FROM annees AS a
JOIN core_etablissements_prep AS p USING (siret)
JOIN staging_sirene_etablissements AS e USING (siret)
LEFT JOIN hors_champ AS h USING (siret, annee)
LEFT JOIN hors_urssaf AS u USING (siret, annee)
