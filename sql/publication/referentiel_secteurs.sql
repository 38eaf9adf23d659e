-- Published reference table referentiel_secteurs: how the run placed an activity code in the cube's sectors — one
-- row per nomenclature and NAF division of secteurs_ess.csv (ref_secteurs_ess, the file the core step joins on the
-- first two characters of the code), with its A21 section (nomenclature_secteur 'a21' of the cube) and its ESS
-- sector ('ess'). Labels as the cube gives them (transforms/outputs.py, load_labels): ESS sectors from the same
-- file, sections and divisions from naf_rev2.csv, a section label in capitals put in sentence case.
-- Parameters: none.
WITH divisions AS (
    SELECT code_division, min(libelle_division) AS libelle_division
    FROM ref_naf_rev2
    GROUP BY code_division
),
sections AS (
    SELECT section, min(libelle_section) AS libelle_section
    FROM ref_naf_rev2
    GROUP BY section
)
SELECT
    s.nomenclature AS nomenclature_activite,
    s.division AS division_naf,
    CASE WHEN s.nomenclature = 'NAFRev2' THEN d.libelle_division END AS libelle_division_naf,
    s.section_a21,
    CASE WHEN x.libelle_section = upper(x.libelle_section)
         THEN upper(left(x.libelle_section, 1)) || lower(substr(x.libelle_section, 2))
         ELSE x.libelle_section END AS libelle_section_a21,
    s.secteur_ess,
    s.libelle_secteur_ess
FROM ref_secteurs_ess AS s
LEFT JOIN divisions AS d ON d.code_division = s.division
LEFT JOIN sections AS x ON x.section = s.section_a21
