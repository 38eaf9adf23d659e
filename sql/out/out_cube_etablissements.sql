-- The units the cube counts: one row per active establishment, year and perimeter, with everything the cube
-- groups on, unknown attributes spelled 'non_renseigne' (so that every margin still adds up).
-- * The millésime year ($annee) comes from core_etablissements: active establishments with their size band,
--   employer flag and employment interval (low / calibrated central / high).
-- * Past years (2012 …, before $annee) come from core_etablissements_annuel (one row per establishment of the
--   current stock and year, at 31 December, `actif` saying whether it was active). Only counts exist for them:
--   SIRENE gives an establishment's size band at the millésime only (the history files keep no band), so
--   employment, size class and dominance are NULL. The employer flag is used when the yearly table carries it
--   ($employeur_passe). Territory is the current one (a SIRET never moves). Family, perimeter membership and
--   activity are the year's own when the yearly table carries them ($annuel_situations: legal form, ESS flag and
--   activity as they were that year), else the current ones.
-- Parameters: $annee, $perimetres (list of perimeter names: columns perimetre_<name>), $employeur_passe,
-- $annuel_situations.
WITH perimetres AS (
    -- One row per establishment and requested perimeter, with its membership.
    SELECT siret, substr(nom, length('perimetre_') + 1) AS perimetre, dans_perimetre
    FROM (
        UNPIVOT (SELECT siret, COLUMNS('^perimetre_') FROM core_etablissements)
        ON COLUMNS('^perimetre_') INTO NAME nom VALUE dans_perimetre
    )
    WHERE list_contains($perimetres, substr(nom, length('perimetre_') + 1))
),
perimetres_annuels AS (
    SELECT siret, annee, substr(nom, length('perimetre_') + 1) AS perimetre, dans_perimetre
    FROM (
        UNPIVOT (SELECT siret, annee, COLUMNS('^perimetre_') FROM core_etablissements_annuel)
        ON COLUMNS('^perimetre_') INTO NAME nom VALUE dans_perimetre
    )
    WHERE list_contains($perimetres, substr(nom, length('perimetre_') + 1))
),
etablissements AS (
    SELECT
        e.siret, e.siren, e.code_commune, e.code_epci, e.code_arrondissement, e.code_zone_emploi,
        e.code_territoire, e.code_departement, e.famille_ess, e.section_a21, e.secteur_ess, e.actif,
        e.employeur, e.classe_taille, e.effectif_bas, e.effectif_central, e.effectif_haut,
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
        e.code_departement,
        CASE WHEN $annuel_situations THEN coalesce(pa.dans_perimetre, false) ELSE e.dans_perimetre END
            AS dans_perimetre,
        CASE WHEN $annuel_situations THEN a.famille_ess ELSE e.famille_ess END AS famille_ess,
        CASE WHEN $annuel_situations THEN a.section_a21 ELSE e.section_a21 END AS section_a21,
        CASE WHEN $annuel_situations THEN a.secteur_ess ELSE e.secteur_ess END AS secteur_ess,
        NULL::VARCHAR AS classe_taille,
        CASE WHEN $employeur_passe THEN coalesce(a.employeur, false) END AS employeur,
        NULL::DOUBLE AS effectif_bas, NULL::DOUBLE AS effectif_central, NULL::DOUBLE AS effectif_haut
    FROM core_etablissements_annuel AS a
    JOIN etablissements AS e USING (siret)
    LEFT JOIN perimetres_annuels AS pa
        ON pa.siret = a.siret AND pa.annee = a.annee AND pa.perimetre = e.perimetre
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
