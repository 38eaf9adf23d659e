-- The indicator cube (internal): one row per territory (every level), family, sector or size class, year and
-- perimeter. Not a full cross product: GROUPING SETS give famille × secteur (two nomenclatures) and
-- famille × classe_taille, each with its 'ensemble' total, at every level. Rows exist where establishments exist,
-- plus zero rows for the totals ('ess', 'hors_ess', 'ensemble' × all sectors × all sizes) of every territory of the
-- frame and every year, so that each territory has its ESS share (0 %) and every population is present; any other
-- absent cell is a structural zero (the confidentiality step treats it as a published 0).
-- What each row measures and when: establishment counts at date_reference_etablissements (31 December of a past
-- year, the end of the millésime month for the millésime year); salaried employment on 31 December of the row's
-- year (date_reference_effectifs), for the years up to the employment year only — the millésime year's rows carry
-- no employment.
-- Employment: the sum of the establishments' estimates (calibrated on URSSAF, plus the employment under the MSA that
-- URSSAF's field rule keeps in, out_cube_etablissements.sql), and a 90 % interval from its variance: the posterior
-- variance of the calibrated part (transforms/calibration.py) Σ v − Σ_c x_c² / D_c − |Σ projections|², plus that of
-- the unseen part, (Σ ecart_type_hors_urssaf)² + Σ variance_hors_urssaf (the share of a rule is one unknown for all
-- its establishments: their standard deviations add up before squaring). In the posterior variance, the middle term
-- uses, for each
-- establishment, the coefficient of its cell for the row's family level (famille: the family, total: 'ess' or
-- 'hors_ess', 'ensemble') and size cut (the size rows use the class's, the others all sizes). Shares: of all
-- salaried employment (public employers included: part_effectif_total_*; the unseen employment in numerator and
-- denominator) and of the private employment of URSSAF's field (part_effectif_prive_*, numerator and denominator
-- restricted to the field as URSSAF sees it: without the unseen employment), with the delta-method variance
-- of a ratio whose numerator is part of its denominator (their covariance from the same formula).
-- Every row depends on its own year's units only: the cube is built for the years $annees (transforms/outputs.py
-- builds it a few years at a time, in parallel, and stacks them).
-- Parameters: $annee, $annees, $annee_effectifs, $employeur_passe, $perimetres, $z, $annee_population,
-- $date_reference, $sources_courant, $sources_passe, $sources_effectifs.
-- Labels: libelle_secteur from ref_libelles_secteurs, libelle_classe_taille from ref_classes_taille
-- (data/reference/classes_taille.csv; transforms/outputs.py stops the run when a size class has none).
WITH etab AS (
    SELECT * FROM out_cube_etablissements WHERE list_contains($annees::INTEGER[], annee)
),
-- Everything but the dominance statistics adds up, so establishments are first summed into atoms (commune × family × sector × size × calibration cell): the territorial and family expansions below then work
-- on far fewer rows. A cell lies in one commune and one activity, so an atom holds the members of its cell of one
-- family and size; the variance of a cube row needs, for each atom, the prior variance of the members of its cell
-- the row takes — same family (f), same total ess / hors_ess (t) or all (e); same size (s) or all (a) — over the
-- cell's denominator: x_c / D_c of transforms/calibration.py, times the atom's variance (vk_**).
atomes_bruts AS (
    SELECT
        annee, perimetre, code_commune, famille, section_a21, secteur_ess, classe_taille, cellule_calage,
        any_value(denominateur_calage) AS d,
        count(*) AS n, count(*) FILTER (WHERE employeur) AS n_employeurs,
        -- the years of the SIRENE bands that make the employers (a band is years older than the millésime)
        min(annee_tranche) FILTER (WHERE employeur) AS min_annee_tranche,
        max(annee_tranche) FILTER (WHERE employeur) AS max_annee_tranche,
        sum(effectif_central) AS central, sum(effectif_prive) AS prive,
        sum(variance) AS v, sum(variance_hors_champ) AS v_hors_champ,
        coalesce(sum(ecart_type_hors_urssaf), 0) AS s_hu, coalesce(sum(variance_hors_urssaf), 0) AS v_hu,
        sum(projection_1) AS p1, sum(projection_2) AS p2, sum(projection_3) AS p3, sum(projection_4) AS p4,
        sum(projection_5) AS p5,
        -- dominance statistics of the contributors whose legal unit has no other contributing establishment:
        -- their unit's employment in any cell is their own, so maxima and counts roll up without the unit
        count(*) FILTER (WHERE contributeur) AS n_contrib, max(effectif_central) FILTER (WHERE contributeur)
            AS max_contrib,
        count(*) FILTER (WHERE contributeur AND NOT unite_multiple) AS n_unites_seules,
        -- legal units of the frequency rule (every establishment, employing or not): those with one establishment
        -- that year count here, the others (siren_multiple) once per cell below
        count(*) FILTER (WHERE NOT siren_multiple) AS n_ul_seules,
        max(effectif_central) FILTER (WHERE contributeur AND NOT unite_multiple) AS max_unites_seules
    FROM etab
    GROUP BY annee, perimetre, code_commune, famille, section_a21, secteur_ess, classe_taille, cellule_calage
),
atomes AS (
    SELECT * EXCLUDE (d, cellule_calage),
           coalesce(v * v / d, 0) AS vk_fs,
           coalesce(v * sum(v) OVER (PARTITION BY annee, perimetre, cellule_calage, famille) / d, 0) AS vk_fa,
           coalesce(v * sum(v) OVER (PARTITION BY annee, perimetre, cellule_calage, famille = 'hors_ess',
                                     classe_taille) / d, 0) AS vk_ts,
           coalesce(v * sum(v) OVER (PARTITION BY annee, perimetre, cellule_calage, famille = 'hors_ess') / d, 0)
               AS vk_ta,
           coalesce(v * sum(v) OVER (PARTITION BY annee, perimetre, cellule_calage, classe_taille) / d, 0) AS vk_es,
           coalesce(v * sum(v) OVER (PARTITION BY annee, perimetre, cellule_calage) / d, 0) AS vk_ea
    FROM atomes_bruts
),
-- Each atom counts in its family, its family's total ('ess' or 'hors_ess') and 'ensemble', with the cell-variance
-- sums of that family level; atoms of the same commune, family, sector and size are then merged (their cells no
-- longer matter)…
familles AS (
    SELECT
        * EXCLUDE (famille, vk_fs, vk_fa, vk_ts, vk_ta),
        unnest(CASE WHEN famille = 'hors_ess'
                    THEN [{'famille': 'hors_ess', 'q_s': vk_ts, 'q_a': vk_ta},
                          {'famille': 'ensemble', 'q_s': vk_es, 'q_a': vk_ea}]
                    ELSE [{'famille': famille, 'q_s': vk_fs, 'q_a': vk_fa},
                          {'famille': 'ess', 'q_s': vk_ts, 'q_a': vk_ta},
                          {'famille': 'ensemble', 'q_s': vk_es, 'q_a': vk_ea}] END, recursive := true)
    FROM atomes
),
communes_fines AS (
    SELECT annee, perimetre, code_commune, famille, section_a21, secteur_ess, classe_taille,
           sum(COLUMNS(* EXCLUDE (annee, perimetre, code_commune, famille, section_a21, secteur_ess, classe_taille,
                                  max_contrib, max_unites_seules, min_annee_tranche, max_annee_tranche))),
           max(COLUMNS('^max_')), min(COLUMNS('^min_'))
    FROM familles
    GROUP BY ALL
),
-- … then counted once in each level (the commune's territory at every level of out_cube_communes: the COG's and
-- the zonings'), and summed per territory, family, sector and size (the finest cells), whose totals the grouping
-- sets below make
niveaux AS (
    SELECT f.* EXCLUDE (code_commune), m.niveau, m.code_territoire AS code
    FROM communes_fines AS f
    JOIN out_cube_communes AS m USING (code_commune)
),
fines AS (
    SELECT annee, perimetre, niveau, code, famille, section_a21, secteur_ess, classe_taille,
           sum(COLUMNS(* EXCLUDE (annee, perimetre, niveau, code, famille, section_a21, secteur_ess, classe_taille,
                                  max_contrib, max_unites_seules, min_annee_tranche, max_annee_tranche))),
           max(COLUMNS('^max_')), min(COLUMNS('^min_'))
    FROM niveaux
    GROUP BY ALL
),
sommes AS (
    SELECT
        annee, perimetre, niveau, code AS code_territoire, famille,
        -- GROUPING bitmask: a bit is set for each column NOT grouped (section_a21, secteur_ess, classe_taille).
        CASE GROUPING(section_a21, secteur_ess, classe_taille) WHEN 3 THEN 'a21' WHEN 5 THEN 'ess'
             ELSE 'ensemble' END AS nomenclature_secteur,
        CASE GROUPING(section_a21, secteur_ess, classe_taille) WHEN 3 THEN section_a21 WHEN 5 THEN secteur_ess
             ELSE 'ensemble' END AS secteur,
        CASE GROUPING(section_a21, secteur_ess, classe_taille) WHEN 6 THEN classe_taille ELSE 'ensemble' END
            AS classe_taille,
        GROUPING(section_a21, secteur_ess, classe_taille) = 6 AS par_taille,
        GROUPING(section_a21, secteur_ess, classe_taille) = 6 AND classe_taille IS NULL AS taille_absente,
        sum(n)::BIGINT AS nb_etablissements,
        CASE WHEN annee = $annee OR $employeur_passe THEN sum(n_employeurs) END::BIGINT
            AS nb_etablissements_employeurs,
        CASE WHEN annee = $annee OR $employeur_passe THEN min(min_annee_tranche) END AS annee_tranche_employeurs_min,
        CASE WHEN annee = $annee OR $employeur_passe THEN max(max_annee_tranche) END AS annee_tranche_employeurs_max,
        sum(central) AS effectif_central,
        sum(prive) AS effectif_prive,
        sum(v) AS v,
        sum(v_hors_champ) AS v_hors_champ,
        sum(s_hu) AS s_hu, sum(v_hu) AS v_hu,
        CASE WHEN GROUPING(section_a21, secteur_ess, classe_taille) = 6 THEN sum(q_s) ELSE sum(q_a) END AS q,
        CASE WHEN GROUPING(section_a21, secteur_ess, classe_taille) = 6 THEN sum(vk_es) ELSE sum(vk_ea) END AS r,
        sum(p1) AS p1, sum(p2) AS p2, sum(p3) AS p3, sum(p4) AS p4, sum(p5) AS p5,
        sum(n_contrib) AS n_contrib, max(max_contrib) AS max_contrib, sum(n_unites_seules) AS n_unites_seules,
        max(max_unites_seules) AS max_unites_seules, sum(n_ul_seules) AS n_ul_seules
    FROM fines
    GROUP BY annee, perimetre, niveau, code, famille,
        GROUPING SETS ((section_a21), (secteur_ess), (classe_taille), ())
),
-- The secret rules look at legal units, which may have several establishments in a cell: the units with several
-- establishments that year are followed per unit on their own rows (frequency: every unit of the cell; dominance:
-- the units with several contributing establishments, summed per cell).
contributeurs AS (
    SELECT e.annee, e.perimetre, e.siren, e.famille, e.section_a21, e.secteur_ess, e.classe_taille,
           CASE WHEN e.contributeur THEN e.effectif_central ELSE 0 END AS effectif_central,
           e.contributeur AND e.unite_multiple AS contributeur_multiple,
           m.niveau, m.code_territoire AS code
    FROM etab AS e
    JOIN out_cube_communes AS m USING (code_commune)
    WHERE e.siren_multiple AND e.effectif_central IS NOT NULL
),
contributeurs_familles AS (
    SELECT * EXCLUDE (famille),
           unnest(CASE WHEN famille = 'hors_ess' THEN ['hors_ess', 'ensemble']
                       ELSE [famille, 'ess', 'ensemble'] END) AS famille
    FROM contributeurs
),
fines_unites AS (
    SELECT annee, perimetre, niveau, code, famille, siren, section_a21, secteur_ess, classe_taille,
           sum(effectif_central) AS central, bool_or(contributeur_multiple) AS contributeur_multiple
    FROM contributeurs_familles
    GROUP BY ALL
),
par_unite AS (
    SELECT annee, perimetre, niveau, code, famille, siren,
           GROUPING(section_a21, secteur_ess, classe_taille) AS ensemble_groupe,
           section_a21 AS g_a21, secteur_ess AS g_ess, classe_taille AS g_taille,
           sum(central) AS central, bool_or(contributeur_multiple) AS contributeur_multiple
    FROM fines_unites
    GROUP BY annee, perimetre, niveau, code, famille, siren,
        GROUPING SETS ((section_a21), (secteur_ess), (classe_taille), ())
),
dominance AS (
    SELECT annee, perimetre, niveau, code AS code_territoire, famille,
           CASE ensemble_groupe WHEN 3 THEN 'a21' WHEN 5 THEN 'ess' ELSE 'ensemble' END AS nomenclature_secteur,
           CASE ensemble_groupe WHEN 3 THEN g_a21 WHEN 5 THEN g_ess ELSE 'ensemble' END AS secteur,
           CASE ensemble_groupe WHEN 6 THEN g_taille ELSE 'ensemble' END AS classe_taille,
           count(*) FILTER (WHERE contributeur_multiple)::BIGINT AS nb_unites_multiples,
           max(central) FILTER (WHERE contributeur_multiple) AS max_unites_multiples,
           count(*)::BIGINT AS nb_ul_multiples
    FROM par_unite
    WHERE NOT (ensemble_groupe = 6 AND g_taille IS NULL)
    GROUP BY ALL
),
cellules AS (
    SELECT s.* EXCLUDE (par_taille, taille_absente, n_contrib, max_contrib, n_unites_seules, max_unites_seules,
                        n_ul_seules),
           CASE WHEN s.effectif_central IS NOT NULL THEN coalesce(s.n_contrib, 0) END::BIGINT AS nb_contributeurs,
           CASE WHEN s.effectif_central IS NOT NULL THEN coalesce(s.max_contrib, 0) END
               AS effectif_max_contributeur,
           CASE WHEN s.effectif_central IS NOT NULL
                THEN coalesce(s.n_unites_seules, 0) + coalesce(d.nb_unites_multiples, 0) END::BIGINT
               AS nb_unites_legales_contributrices,
           CASE WHEN s.effectif_central IS NOT NULL
                THEN greatest(coalesce(s.max_unites_seules, 0), coalesce(d.max_unites_multiples, 0)) END
               AS effectif_max_unite_legale,
           CASE WHEN s.effectif_central IS NOT NULL
                THEN coalesce(s.n_ul_seules, 0) + coalesce(d.nb_ul_multiples, 0) END::BIGINT AS nb_unites_legales
    FROM sommes AS s
    LEFT JOIN dominance AS d
        USING (annee, perimetre, niveau, code_territoire, famille, nomenclature_secteur, secteur, classe_taille)
    -- size classes exist at the millésime and for the employment year only
    WHERE NOT s.taille_absente
),
-- Zero totals for every territory of the frame (and any territory seen in the data of any year) and every year.
totaux_requis AS (
    SELECT t.niveau, t.code_territoire, y.annee, y.perimetre, f.famille,
           'ensemble' AS nomenclature_secteur, 'ensemble' AS secteur, 'ensemble' AS classe_taille
    FROM (SELECT niveau, code_territoire FROM out_cube_territoires
          UNION SELECT DISTINCT m.niveau, m.code_territoire
                FROM out_cube_communes AS m SEMI JOIN out_cube_etablissements AS e USING (code_commune)) AS t
    CROSS JOIN (SELECT DISTINCT annee, perimetre FROM etab
                UNION SELECT $annee::INTEGER, unnest($perimetres) WHERE list_contains($annees::INTEGER[], $annee)) AS y
    CROSS JOIN (VALUES ('ess'), ('hors_ess'), ('ensemble')) AS f(famille)
),
-- the years whose employment is estimated (their zero totals carry a zero employment, the others none)
annees_emploi AS (
    SELECT DISTINCT annee FROM core_effectifs
),
zeros AS (
    SELECT
        r.*,
        0::BIGINT AS nb_etablissements,
        CASE WHEN r.annee = $annee OR $employeur_passe THEN 0 END::BIGINT AS nb_etablissements_employeurs,
        CASE WHEN r.emploi THEN 0.0 END AS effectif_central,
        CASE WHEN r.emploi THEN 0.0 END AS effectif_prive,
        0.0 AS v, 0.0 AS v_hors_champ, 0.0 AS s_hu, 0.0 AS v_hu, 0.0 AS q, 0.0 AS r, 0.0 AS p1, 0.0 AS p2,
        0.0 AS p3, 0.0 AS p4, 0.0 AS p5,
        CASE WHEN r.emploi THEN 0 END::BIGINT AS nb_contributeurs,
        CASE WHEN r.emploi THEN 0.0 END AS effectif_max_contributeur,
        CASE WHEN r.emploi THEN 0 END::BIGINT AS nb_unites_legales_contributrices,
        CASE WHEN r.emploi THEN 0.0 END AS effectif_max_unite_legale,
        CASE WHEN r.emploi THEN 0 END::BIGINT AS nb_unites_legales
    FROM (SELECT *, annee < $annee AND annee IN (SELECT annee FROM annees_emploi) AS emploi
          FROM totaux_requis) AS r
    ANTI JOIN cellules AS c
        USING (niveau, code_territoire, annee, perimetre, famille, nomenclature_secteur, secteur, classe_taille)
),
complet AS (
    SELECT * FROM cellules
    UNION ALL BY NAME
    SELECT * EXCLUDE (emploi) FROM zeros
),
-- variances of the row's employment (posterior variance of the calibrated part, plus the unseen part's), of its
-- part in URSSAF's field (calibrated only), and their family term
variances AS (
    SELECT *,
           p1 * p1 + p2 * p2 + p3 * p3 + p4 * p4 + p5 * p5 AS pp,
           greatest(v - q - (p1 * p1 + p2 * p2 + p3 * p3 + p4 * p4 + p5 * p5), 0) + s_hu * s_hu + v_hu
               AS variance_effectif,
           greatest(v - v_hors_champ - q - (p1 * p1 + p2 * p2 + p3 * p3 + p4 * p4 + p5 * p5), 0)
               AS variance_effectif_prive
    FROM complet
),
-- The 'ensemble' row of the same territory, sector, size and year is every share's denominator.
avec_ensemble AS (
    SELECT
        c.*,
        e.nb_etablissements_employeurs AS ens_employeurs,
        e.effectif_central AS ens_central, e.effectif_prive AS ens_prive,
        e.variance_effectif AS ens_variance, e.variance_effectif_prive AS ens_variance_prive,
        -- covariance of the row with its 'ensemble' (the row is part of it; the unseen part: the row's independent
        -- variance, and the product of the two sums of correlated standard deviations)
        c.v - c.r - (c.p1 * e.p1 + c.p2 * e.p2 + c.p3 * e.p3 + c.p4 * e.p4 + c.p5 * e.p5) + c.v_hu + c.s_hu * e.s_hu
            AS covariance,
        c.v - c.v_hors_champ - c.r - (c.p1 * e.p1 + c.p2 * e.p2 + c.p3 * e.p3 + c.p4 * e.p4 + c.p5 * e.p5)
            AS covariance_prive
    FROM variances AS c
    LEFT JOIN variances AS e
        ON e.famille = 'ensemble'
        AND e.annee = c.annee AND e.perimetre = c.perimetre AND e.niveau = c.niveau
        AND e.code_territoire = c.code_territoire AND e.nomenclature_secteur = c.nomenclature_secteur
        AND e.secteur = c.secteur AND e.classe_taille = c.classe_taille
),
parts AS (
    SELECT *,
           -- Shares are rounded to 10 decimals: sums of floating-point values can exceed their total by a rounding
           -- error (1.0000000000000002).
           round(effectif_central / nullif(ens_central, 0), 10) AS part_total,
           round(effectif_prive / nullif(ens_prive, 0), 10) AS part_prive
    FROM avec_ensemble
),
variances_parts AS (
    SELECT *,
           greatest(variance_effectif - 2 * part_total * covariance + part_total * part_total * ens_variance, 0)
               / (ens_central * ens_central) AS variance_part_total,
           greatest(variance_effectif_prive - 2 * part_prive * covariance_prive
                    + part_prive * part_prive * ens_variance_prive, 0) / (ens_prive * ens_prive)
               AS variance_part_prive
    FROM parts
),
statuts AS (
    SELECT annee, CASE WHEN bool_and(statut_calage = 'non_cale') THEN 'non_cale' ELSE 'cale' END AS statut_effectifs
    FROM core_effectifs
    GROUP BY annee
)
SELECT
    a.niveau, a.code_territoire, t.libelle_territoire, t.epci_partiel,
    a.famille, a.nomenclature_secteur, a.secteur, l.libelle_secteur, a.classe_taille,
    ct.libelle AS libelle_classe_taille, a.annee, a.perimetre,
    a.nb_etablissements, a.nb_etablissements_employeurs, a.annee_tranche_employeurs_min,
    a.annee_tranche_employeurs_max,
    a.effectif_central,
    ic_bas(a.effectif_central, a.variance_effectif, $z) AS effectif_ic90_bas,
    ic_haut(a.effectif_central, a.variance_effectif, $z) AS effectif_ic90_haut,
    a.nb_etablissements_employeurs / nullif(a.ens_employeurs, 0) AS part_ess_etablissements_employeurs,
    a.part_total AS part_effectif_total_central,
    ic_part_bas_emploi(a.part_total, a.variance_part_total, $z, a.effectif_central, a.variance_effectif)
        AS part_effectif_total_ic90_bas,
    ic_part_haut(a.part_total, a.variance_part_total, $z) AS part_effectif_total_ic90_haut,
    a.part_prive AS part_effectif_prive_central,
    ic_part_bas_emploi(a.part_prive, a.variance_part_prive, $z, a.effectif_prive, a.variance_effectif_prive)
        AS part_effectif_prive_ic90_bas,
    ic_part_haut(a.part_prive, a.variance_part_prive, $z) AS part_effectif_prive_ic90_haut,
    a.nb_etablissements * 1000.0 / nullif(t.population, 0) AS etablissements_pour_1000_hab,
    a.effectif_central * 1000.0 / nullif(t.population, 0) AS effectif_pour_1000_hab,
    t.population, $annee_population::INTEGER AS annee_population,
    -- no employment on the row (the millésime year): no private employment either, not 0
    CASE WHEN a.effectif_central IS NOT NULL THEN a.effectif_prive END AS effectif_prive_central,
    CASE WHEN a.effectif_central IS NOT NULL THEN a.variance_effectif END AS variance_effectif,
    CASE WHEN a.effectif_central IS NOT NULL THEN a.variance_effectif_prive END AS variance_effectif_prive,
    a.nb_contributeurs, a.effectif_max_contributeur, a.nb_unites_legales_contributrices,
    a.effectif_max_unite_legale, a.nb_unites_legales,
    CASE WHEN a.annee = $annee THEN $date_reference::DATE ELSE make_date(a.annee, 12, 31) END
        AS date_reference_etablissements,
    CASE WHEN a.effectif_central IS NOT NULL THEN make_date(a.annee, 12, 31) END AS date_reference_effectifs,
    CASE WHEN a.effectif_central IS NOT NULL THEN s.statut_effectifs END AS statut_effectifs,
    CASE WHEN a.annee = $annee THEN $sources_courant
         WHEN a.annee <= $annee_effectifs THEN $sources_effectifs ELSE $sources_passe END AS sources
FROM variances_parts AS a
LEFT JOIN out_cube_territoires AS t USING (niveau, code_territoire)
LEFT JOIN ref_libelles_secteurs AS l USING (nomenclature_secteur, secteur)
LEFT JOIN ref_classes_taille AS ct USING (classe_taille)
LEFT JOIN statuts AS s USING (annee)
