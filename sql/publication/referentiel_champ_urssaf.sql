-- Published reference table referentiel_champ_urssaf: what is outside URSSAF's private field (régime général,
-- without agriculture), as the run read it (champ_urssaf.csv of its reference folder, ref_champ_urssaf), one row per
-- criterion and code. An establishment whose legal form, level-I legal form or NAF division (the first two
-- characters of its activity code, whatever the nomenclature) is listed is out of the field: URSSAF's files do not
-- count its employees, so its employment is the model's a priori estimate from its SIRENE size band, not calibrated
-- (statut_calage 'hors_champ_urssaf'), and left out of the private field's shares (effectif_prive).
-- motif_hors_champ_urssaf is written as core_etablissements_prep writes it (critere:code). Labels from INSEE's legal
-- forms (categories_juridiques.csv, categories_juridiques_niveaux.csv) and NAF rév. 2's divisions (naf_rev2.csv).
-- Parameters: none.
WITH divisions AS (
    SELECT code_division, min(libelle_division) AS libelle_division
    FROM ref_naf_rev2
    GROUP BY code_division
)
SELECT
    c.critere || ':' || c.code AS motif_hors_champ_urssaf,
    c.critere AS critere_champ_urssaf,
    c.code AS code_critere,
    CASE c.critere
        WHEN 'categorie_juridique_niveau1' THEN n.libelle
        WHEN 'categorie_juridique' THEN cj.libelle
        WHEN 'naf_division' THEN d.libelle_division END AS libelle_code_critere,
    c.commentaire
FROM ref_champ_urssaf AS c
LEFT JOIN ref_categories_juridiques_niveaux AS n ON n.niveau = '1' AND n.code = c.code
LEFT JOIN ref_categories_juridiques AS cj ON cj.code = c.code
LEFT JOIN divisions AS d ON d.code_division = c.code
