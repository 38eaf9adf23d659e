-- The units the cube counts: one row per establishment, year and perimeter, with everything the cube groups on,
-- unknown attributes spelled 'non_renseigne' (so that every margin still adds up). A unit's territory is its commune:
-- its territories at every level are the commune's (out_cube_communes).
-- * The millésime year ($annee) comes from core_etablissements: establishments active at the end of the millésime
--   month, with their size class. It carries counts only: employment is measured at 31 December of years up to
--   the employment year ($annee_effectifs), never at the millésime date.
-- * Past years (2012 …, before $annee) come from core_etablissements_annuel (one row per establishment of the
--   current stock and year, at 31 December, `actif` saying whether it was active). Family, perimeter membership
--   and activity are the year's own when the yearly table carries them ($annuel_situations), else the current ones.
--   Territory is the current one (a SIRET never moves). The employer flag is used when the yearly table carries it
--   ($employeur_passe).
-- * Employment of years up to $annee_effectifs comes from core_effectifs (transforms/employment.py): the estimate
--   of each establishment open on 31/12 of the year, its prior variance, its calibration cell (and the cell's
--   denominator D_c) and the projections of the family term of the posterior variance (out_indicateurs.sql).
--   Size classes are given to the millésime year and the employment year (the class of the SIRENE band), not to
--   other years.
-- * effectif_central is the employment published: the calibrated estimate plus the employment URSSAF does not see
--   inside its field by rule (core_effectifs.effectif_hors_urssaf: employers under the MSA by their object,
--   data/reference/emploi_hors_urssaf.csv); effectif_prive, the part in URSSAF's field as URSSAF sees it, leaves
--   it out (the private share's denominator is URSSAF's field). Its uncertainty: ecart_type_hors_urssaf (the
--   share's, fully correlated: out_indicateurs.sql sums it, then squares) and variance_hors_urssaf (independent).
-- Parameters: $annee, $annee_effectifs, $perimetres (list of perimeter names, rows of perimetres.csv; each
-- establishment's perimetres_inclus lists those it is in), $employeur_passe, $annuel_situations, $annees (the years
-- built: every row depends on its own year's units only, and transforms/outputs.py builds the years in two groups
-- side by side).
WITH perimetres AS (
    -- One row per establishment and requested perimeter, with its membership.
    SELECT e.siret, p.perimetre, list_contains(e.perimetres_inclus, p.perimetre) AS dans_perimetre
    FROM core_etablissements AS e
    CROSS JOIN (SELECT unnest($perimetres::VARCHAR[]) AS perimetre) AS p
),
perimetres_annuels AS (
    SELECT a.siret, a.annee, p.perimetre, list_contains(a.perimetres_inclus, p.perimetre) AS dans_perimetre
    FROM core_etablissements_annuel AS a
    CROSS JOIN (SELECT unnest($perimetres::VARCHAR[]) AS perimetre) AS p
    WHERE list_contains($annees::INTEGER[], a.annee)
),
etablissements AS (
    SELECT
        e.siret, e.siren, e.code_commune, e.code_departement, e.famille_ess, e.section_a21, e.secteur_ess, e.actif,
        e.employeur, e.classe_taille, e.annee_effectifs,
        p.perimetre,
        coalesce(p.dans_perimetre, false) AS dans_perimetre
    FROM core_etablissements AS e
    JOIN perimetres AS p USING (siret)
),
courant AS (
    SELECT
        $annee::INTEGER AS annee, perimetre, siret, siren,
        code_commune, code_departement,
        dans_perimetre, famille_ess, section_a21, secteur_ess, classe_taille,
        coalesce(employeur, false) AS employeur,
        -- the employer flag comes from the SIRENE band of this year, not from the millésime date
        annee_effectifs AS annee_tranche
    FROM etablissements
    WHERE actif AND list_contains($annees::INTEGER[], $annee)
),
passe AS (
    SELECT
        a.annee::INTEGER AS annee, e.perimetre, e.siret, e.siren,
        e.code_commune, e.code_departement,
        CASE WHEN $annuel_situations THEN coalesce(pa.dans_perimetre, false) ELSE e.dans_perimetre END
            AS dans_perimetre,
        CASE WHEN $annuel_situations THEN a.famille_ess ELSE e.famille_ess END AS famille_ess,
        CASE WHEN $annuel_situations THEN a.section_a21 ELSE e.section_a21 END AS section_a21,
        CASE WHEN $annuel_situations THEN a.secteur_ess ELSE e.secteur_ess END AS secteur_ess,
        CASE WHEN a.annee = $annee_effectifs THEN e.classe_taille END AS classe_taille,
        CASE WHEN $employeur_passe THEN coalesce(a.employeur, false) END AS employeur,
        NULL::INTEGER AS annee_tranche
    FROM core_etablissements_annuel AS a
    JOIN etablissements AS e USING (siret)
    LEFT JOIN perimetres_annuels AS pa
        ON pa.siret = a.siret AND pa.annee = a.annee AND pa.perimetre = e.perimetre
    WHERE a.actif AND a.annee >= 2012 AND a.annee < $annee AND list_contains($annees::INTEGER[], a.annee)
),
unites AS (
    SELECT
        annee, perimetre, siret, siren,
        coalesce(code_commune, 'non_renseigne') AS code_commune,
        code_departement,
        dans_perimetre,
        CASE WHEN dans_perimetre THEN coalesce(famille_ess, 'non_renseigne') ELSE 'hors_ess' END AS famille,
        coalesce(section_a21, 'non_renseigne') AS section_a21,
        coalesce(secteur_ess, 'non_renseigne') AS secteur_ess,
        CASE WHEN annee IN ($annee, $annee_effectifs) THEN coalesce(classe_taille, 'non_renseigne') END
            AS classe_taille,
        employeur, annee_tranche
    FROM (SELECT * FROM courant UNION ALL SELECT * FROM passe)
),
-- employment of the years it measures (never the millésime year's rows)
avec_effectifs AS (
    SELECT u.*,
           f.effectif_central + f.effectif_hors_urssaf AS effectif_central, f.effectif_central AS effectif_vu,
           f.effectif_hors_urssaf, f.ecart_type_hors_urssaf, f.variance_hors_urssaf,
           CASE WHEN f.siret IS NOT NULL THEN f.statut_calage <> 'hors_champ_urssaf' END AS champ_urssaf,
           f.variance_a_priori AS variance, f.cellule_calage, f.denominateur_calage,
           f.projection_1, f.projection_2, f.projection_3, f.projection_4, f.projection_5,
           f.statut_calage
    FROM unites AS u
    LEFT JOIN core_effectifs AS f ON f.siret = u.siret AND f.annee = u.annee AND u.annee < $annee
),
-- each legal unit's establishments and contributors per year: every establishment has one row per perimeter (in
-- it or not) with the same employment, so one perimeter's rows count them (an aggregate, cheaper than a window over
-- every perimeter's rows)
par_unite AS (
    SELECT annee, siren, count(*) AS nb_etablissements,
           count(*) FILTER (WHERE effectif_central >= 0.5) AS nb_contributeurs
    FROM avec_effectifs
    WHERE perimetre = $perimetres[1]
    GROUP BY annee, siren
)
SELECT
    a.annee, perimetre, siret, CASE WHEN a.annee <= $annee_effectifs OR a.annee = $annee THEN a.siren END AS siren,
    code_commune, code_departement,
    dans_perimetre, famille, section_a21, secteur_ess, classe_taille, employeur, annee_tranche,
    effectif_central, CASE WHEN champ_urssaf THEN effectif_vu ELSE 0 END AS effectif_prive,
    variance, CASE WHEN NOT champ_urssaf THEN variance ELSE 0 END AS variance_hors_champ,
    effectif_hors_urssaf, ecart_type_hors_urssaf, variance_hors_urssaf,
    projection_1, projection_2, projection_3, projection_4, projection_5,
    cellule_calage, denominateur_calage, statut_calage,
    -- contributors to a cell's employment (confidentiality rules): estimated at one employee or more (a model
    -- gives tiny positive estimates to units that almost surely employ nobody); `unite_multiple`: the legal unit
    -- has several contributing establishments that year (its sum per cell is then needed for the dominance rule)
    coalesce(effectif_central >= 0.5, false) AS contributeur,
    coalesce(u.nb_contributeurs > 1, false) AS unite_multiple,
    -- `siren_multiple`: the legal unit has several establishments that year (the frequency rule counts units)
    a.siren IS NULL OR coalesce(u.nb_etablissements > 1, false) AS siren_multiple
FROM avec_effectifs AS a
LEFT JOIN par_unite AS u ON u.annee = a.annee AND u.siren = a.siren
