-- Published reference table referentiel_perimetres: the named perimeters of the run's cube, as the run read them
-- (perimetres.csv of its reference folder, ref_perimetres), and which one is the run's — the perimeter of its report,
-- of its headline figures (Parquet metadata ess:perimetre_du_run) and of the catalog's ess_* views.
-- Parameters: $perimetre (the run's), $perimetres_cube (the perimeters of the cube, NULL: every one of the file).
SELECT
    perimetre,
    libelle AS libelle_perimetre,
    description AS description_perimetre,
    perimetre = $perimetre AS perimetre_du_run,
    par_defaut AS perimetre_par_defaut,
    familles_cj,
    unites_flag_o,
    exclusions_naf,
    calage_urssaf
FROM ref_perimetres
WHERE $perimetres_cube::VARCHAR[] IS NULL OR list_contains($perimetres_cube::VARCHAR[], perimetre)
