-- Published reference table referentiel_exclusions_activite: the activity exclusions of the perimeters, as the run
-- read them (perimetre_exclusions_naf.csv of its reference folder, ref_perimetre_exclusions_naf), one row per rule,
-- nomenclature and code, with the perimeters of the cube that apply the rule (perimetres.csv, exclusions_naf, and the
-- rule active: core_situations matches the active rules only). A rule takes out a unit its legal form or SIRENE's ESS
-- flag made a candidate when the code begins its activity code of the same nomenclature (motif_exclusion of the
-- establishment tables). The code's label is the file's, else NAF rév. 2's of its level (naf_rev2.csv; none offline
-- for NAF 2025).
-- Parameters: $perimetres_cube (the perimeters of the cube, NULL: every one of the file).
WITH perimetres AS (
    SELECT perimetre, exclusions_naf
    FROM ref_perimetres
    WHERE $perimetres_cube::VARCHAR[] IS NULL OR list_contains($perimetres_cube::VARCHAR[], perimetre)
),
libelles_naf AS (
    SELECT niveau, code, min(libelle) AS libelle
    FROM (SELECT 'division' AS niveau, code_division AS code, libelle_division AS libelle FROM ref_naf_rev2
          UNION ALL SELECT 'groupe', code_groupe, libelle_groupe FROM ref_naf_rev2
          UNION ALL SELECT 'classe', code_classe, libelle_classe FROM ref_naf_rev2
          UNION ALL SELECT 'sous_classe', code, libelle FROM ref_naf_rev2)
    GROUP BY niveau, code
)
SELECT
    x.regle AS regle_exclusion,
    x.nomenclature AS nomenclature_activite,
    x.niveau AS niveau_naf,
    x.code AS code_naf,
    coalesce(x.libelle, CASE WHEN x.nomenclature = 'NAFRev2' THEN n.libelle END) AS libelle_code_naf,
    x.actif AS regle_active,
    coalesce((SELECT list(p.perimetre ORDER BY p.perimetre) FROM perimetres AS p WHERE p.exclusions_naf AND x.actif),
             []::VARCHAR[]) AS perimetres_appliquant,
    x.commentaire
FROM ref_perimetre_exclusions_naf AS x
LEFT JOIN libelles_naf AS n ON n.niveau = x.niveau AND n.code = x.code
