-- Published reference table referentiel_formes_juridiques: the legal forms (catégories juridiques, niveau III) that
-- put a legal unit in an ESS family, as the run read them (perimetre_familles.csv of its reference folder,
-- ref_perimetre_familles: the file core_situations joins on the unit's code), one row per form, with the perimeters of
-- the cube that take a unit in by its form (perimetres.csv, familles_cj: 'toutes' every form of the file, 'defaut'
-- those marked inclus_par_defaut, 'aucune' none — core_situations' candidates, before the activity exclusions). The
-- label is the file's (what its editor wrote), else INSEE's (categories_juridiques.csv). A form absent from the
-- table is in no family: its units enter only the perimeters that take SIRENE's ESS flag (unites_flag_o).
-- Parameters: $perimetres_cube (the perimeters of the cube, NULL: every one of the file).
WITH perimetres AS (
    SELECT perimetre, familles_cj
    FROM ref_perimetres
    WHERE $perimetres_cube::VARCHAR[] IS NULL OR list_contains($perimetres_cube::VARCHAR[], perimetre)
)
SELECT
    f.categorie_juridique,
    coalesce(f.libelle, cj.libelle) AS libelle_categorie_juridique,
    f.famille AS famille_ess,
    f.confiance,
    f.inclus_par_defaut,
    coalesce((SELECT list(p.perimetre ORDER BY p.perimetre) FROM perimetres AS p
              WHERE p.familles_cj = 'toutes' OR (p.familles_cj = 'defaut' AND f.inclus_par_defaut)),
             []::VARCHAR[]) AS perimetres_retenant,
    f.commentaire
FROM ref_perimetre_familles AS f
LEFT JOIN ref_categories_juridiques AS cj ON cj.code = f.categorie_juridique
