-- The units the cube counts: one row per active establishment, year and perimeter, with everything the cube
-- groups on, unknown attributes spelled 'non_renseigne' (so that every margin still adds up).
-- * The millésime year ($annee) comes from core_etablissements: active establishments with their size band,
--   employer flag and employment interval (low / calibrated central / high).
-- * Past years (2012 …, before $annee) come from core_etablissements_annuel (one row per establishment and year,
--   `actif` saying whether it was active that year). Only counts exist for them: SIRENE gives an establishment's
--   size band at the millésime only (the history files keep no band), so employment, size class and dominance
--   are NULL. The employer flag is used when the yearly table carries it ($employeur_passe). Territory, family
--   and perimeter are the establishment's current ones (a SIRET never moves; a legal unit rarely changes its
--   legal category); the activity section is the year's one when the yearly table carries it.
-- Parameters: $annee, $perimetres (list of perimeter names: columns perimetre_<name>), $employeur_passe.
WITH perimetres AS (
    -- One row per establishment and requested perimeter, with its membership.
    SELECT siret, substr(nom, length('perimetre_') + 1) AS perimetre, dans_perimetre
    FROM (
        UNPIVOT (SELECT siret, COLUMNS('^perimetre_') FROM core_etablissements)
        ON COLUMNS('^perimetre_') INTO NAME nom VALUE dans_perimetre
    )
    WHERE list_contains($perimetres, substr(nom, length('perimetre_') + 1))
),
etablissements AS (
    SELECT
        e.*,
        p.perimetre,
        coalesce(p.dans_perimetre, false) AS dans_perimetre
    FROM core_etablissements AS e
    JOIN perimetres AS p USING (siret)
),
courant AS (
    SELECT
        $annee::INTEGER AS annee, perimetre, siret, siren,
        code_commune, code_epci, code_arrondissement, code_zone_emploi, code_territoire, code_departement,
        dans_perimetre, famille_ess, section_a21, secteur_ess, classe_taille,
        coalesce(employeur, false) AS employeur,
        effectif_bas, effectif_central, effectif_haut
    FROM etablissements
    WHERE actif
),
passe AS (
    SELECT
        a.annee::INTEGER AS annee, e.perimetre, e.siret, NULL::VARCHAR AS siren,
        e.code_commune, e.code_epci, e.code_arrondissement, e.code_zone_emploi, e.code_territoire,
        e.code_departement, e.dans_perimetre, e.famille_ess,
        coalesce(a.section_a21, e.section_a21) AS section_a21,
        coalesce(a.secteur_ess, e.secteur_ess) AS secteur_ess,
        NULL::VARCHAR AS classe_taille,
        CASE WHEN $employeur_passe THEN coalesce(a.employeur, false) END AS employeur,
        NULL::DOUBLE AS effectif_bas, NULL::DOUBLE AS effectif_central, NULL::DOUBLE AS effectif_haut
    FROM core_etablissements_annuel AS a
    JOIN etablissements AS e USING (siret)
    WHERE a.actif AND a.annee >= 2012 AND a.annee < $annee
)
SELECT
    annee, perimetre, siret, siren,
    coalesce(code_commune, 'non_renseigne') AS code_commune,
    coalesce(code_epci, 'non_renseigne') AS code_epci,
    coalesce(code_arrondissement, 'non_renseigne') AS code_arrondissement,
    coalesce(code_zone_emploi, 'non_renseigne') AS code_zone_emploi,
    coalesce(code_territoire, 'non_renseigne') AS code_territoire,
    code_departement,
    dans_perimetre,
    CASE WHEN dans_perimetre THEN coalesce(famille_ess, 'non_renseigne') ELSE 'hors_ess' END AS famille,
    coalesce(section_a21, 'non_renseigne') AS section_a21,
    coalesce(secteur_ess, 'non_renseigne') AS secteur_ess,
    CASE WHEN annee = $annee THEN coalesce(classe_taille, 'non_renseigne') END AS classe_taille,
    employeur, effectif_bas, effectif_central, effectif_haut
FROM (SELECT * FROM courant UNION ALL SELECT * FROM passe)
