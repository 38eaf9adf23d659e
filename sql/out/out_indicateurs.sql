-- The indicator cube (internal): one row per territory (every level), family, sector or size class, year and
-- perimeter. Not a full cross product: GROUPING SETS give famille × secteur (two nomenclatures) and
-- famille × classe_taille, each with its 'ensemble' total, at every level. Rows exist where establishments exist,
-- plus zero rows for the totals ('ess', 'hors_ess', 'ensemble' × all sectors × all sizes) of every territory of the
-- frame and every year, so that each territory has its ESS share (0 %) and every population is present; any other
-- absent cell is a structural zero (the confidentiality step treats it as a published 0).
-- Parameters: $annee, $departement, $avec_territoires, $employeur_passe, $perimetres, $date_reference,
-- $sources_courant, $sources_passe.
WITH etab AS (
    SELECT * FROM out_cube_etablissements
),
-- Each establishment counts once in each level…
niveaux AS (
    SELECT
        annee, perimetre, siren, famille, section_a21, secteur_ess, classe_taille,
        employeur, effectif_bas, effectif_central, effectif_haut,
        unnest([
            {'niveau': 'commune', 'code': code_commune},
            {'niveau': 'epci', 'code': code_epci},
            {'niveau': 'arrondissement', 'code': code_arrondissement},
            {'niveau': 'zone_emploi', 'code': code_zone_emploi},
            {'niveau': 'territoire', 'code': code_territoire},
            {'niveau': 'departement', 'code': $departement}
        ], recursive := true)
    FROM etab
),
-- … and in its family, its family's total ('ess' or 'hors_ess') and 'ensemble'.
familles AS (
    SELECT
        * EXCLUDE (famille),
        unnest(CASE WHEN famille = 'hors_ess' THEN ['hors_ess', 'ensemble']
                    ELSE [famille, 'ess', 'ensemble'] END) AS famille
    FROM niveaux
    WHERE niveau <> 'territoire' OR $avec_territoires
),
-- First per legal unit within each cell: the dominance rule looks at units, which may have several
-- establishments in a cell (past years have no siren here: no employment, no dominance).
par_unite AS (
    SELECT
        annee, perimetre, niveau, code, famille, siren,
        GROUPING(section_a21, secteur_ess, classe_taille) AS ensemble_groupe,
        section_a21 AS g_a21, secteur_ess AS g_ess, classe_taille AS g_taille,
        count(*) AS n,
        count(*) FILTER (WHERE employeur) AS n_employeurs,
        sum(effectif_bas) AS bas,
        sum(effectif_central) AS central,
        sum(effectif_haut) AS haut,
        count(*) FILTER (WHERE effectif_central > 0) AS n_contributeurs,
        max(effectif_central) AS max_etablissement
    FROM familles
    GROUP BY annee, perimetre, niveau, code, famille, siren,
        GROUPING SETS ((section_a21), (secteur_ess), (classe_taille), ())
),
cellules AS (
    SELECT
        annee, perimetre, niveau, code AS code_territoire, famille,
        -- GROUPING bitmask: a bit is set for each column NOT grouped (section_a21, secteur_ess, classe_taille).
        CASE ensemble_groupe WHEN 3 THEN 'a21' WHEN 5 THEN 'ess' ELSE 'ensemble' END AS nomenclature_secteur,
        CASE ensemble_groupe WHEN 3 THEN g_a21 WHEN 5 THEN g_ess ELSE 'ensemble' END AS secteur,
        CASE ensemble_groupe WHEN 6 THEN g_taille ELSE 'ensemble' END AS classe_taille,
        sum(n)::BIGINT AS nb_etablissements,
        CASE WHEN annee = $annee OR $employeur_passe THEN sum(n_employeurs) END::BIGINT
            AS nb_etablissements_employeurs,
        sum(bas) AS effectif_bas,
        sum(central) AS effectif_central,
        sum(haut) AS effectif_haut,
        CASE WHEN annee = $annee THEN sum(n_contributeurs) END::BIGINT AS nb_contributeurs,
        CASE WHEN annee = $annee THEN coalesce(max(max_etablissement), 0) END AS effectif_max_contributeur,
        CASE WHEN annee = $annee THEN count(*) FILTER (WHERE central > 0) END::BIGINT
            AS nb_unites_legales_contributrices,
        CASE WHEN annee = $annee THEN coalesce(max(central), 0) END AS effectif_max_unite_legale,
        -- Contributors of the secret rules are legal units (SIREN): every unit with an establishment in the cell,
        -- employing or not; dominance is tested on each published bound with that bound's largest unit.
        CASE WHEN annee = $annee THEN count(DISTINCT siren) END::BIGINT AS nb_unites_legales,
        CASE WHEN annee = $annee THEN coalesce(max(bas), 0) END AS effectif_bas_max_unite_legale,
        CASE WHEN annee = $annee THEN coalesce(max(haut), 0) END AS effectif_haut_max_unite_legale
    FROM par_unite
    -- size classes exist at the millésime only
    WHERE NOT (ensemble_groupe = 6 AND g_taille IS NULL)
    GROUP BY annee, perimetre, niveau, code, famille, ensemble_groupe, g_a21, g_ess, g_taille
),
-- Zero totals for every territory of the frame (and any territory seen in the data) and every year.
totaux_requis AS (
    SELECT t.niveau, t.code_territoire, y.annee, y.perimetre, f.famille,
           'ensemble' AS nomenclature_secteur, 'ensemble' AS secteur, 'ensemble' AS classe_taille
    FROM (SELECT niveau, code_territoire FROM out_cube_territoires
          UNION SELECT DISTINCT niveau, code_territoire FROM cellules) AS t
    CROSS JOIN (SELECT DISTINCT annee, perimetre FROM etab
                UNION SELECT $annee::INTEGER, unnest($perimetres)) AS y
    CROSS JOIN (VALUES ('ess'), ('hors_ess'), ('ensemble')) AS f(famille)
),
zeros AS (
    SELECT
        r.*,
        0::BIGINT AS nb_etablissements,
        CASE WHEN r.annee = $annee OR $employeur_passe THEN 0 END::BIGINT AS nb_etablissements_employeurs,
        CASE WHEN r.annee = $annee THEN 0.0 END AS effectif_bas,
        CASE WHEN r.annee = $annee THEN 0.0 END AS effectif_central,
        CASE WHEN r.annee = $annee THEN 0.0 END AS effectif_haut,
        CASE WHEN r.annee = $annee THEN 0 END::BIGINT AS nb_contributeurs,
        CASE WHEN r.annee = $annee THEN 0.0 END AS effectif_max_contributeur,
        CASE WHEN r.annee = $annee THEN 0 END::BIGINT AS nb_unites_legales_contributrices,
        CASE WHEN r.annee = $annee THEN 0.0 END AS effectif_max_unite_legale,
        CASE WHEN r.annee = $annee THEN 0 END::BIGINT AS nb_unites_legales,
        CASE WHEN r.annee = $annee THEN 0.0 END AS effectif_bas_max_unite_legale,
        CASE WHEN r.annee = $annee THEN 0.0 END AS effectif_haut_max_unite_legale
    FROM totaux_requis AS r
    ANTI JOIN cellules AS c
        USING (niveau, code_territoire, annee, perimetre, famille, nomenclature_secteur, secteur, classe_taille)
),
complet AS (
    SELECT * FROM cellules
    UNION ALL BY NAME
    SELECT * FROM zeros
),
-- The 'ensemble' row of the same territory, sector, size and year is every share's denominator.
avec_ensemble AS (
    SELECT
        c.*,
        e.nb_etablissements_employeurs AS ens_employeurs,
        e.effectif_bas AS ens_bas, e.effectif_central AS ens_central, e.effectif_haut AS ens_haut
    FROM complet AS c
    LEFT JOIN complet AS e
        ON e.famille = 'ensemble'
        AND e.annee = c.annee AND e.perimetre = c.perimetre AND e.niveau = c.niveau
        AND e.code_territoire = c.code_territoire AND e.nomenclature_secteur = c.nomenclature_secteur
        AND e.secteur = c.secteur AND e.classe_taille = c.classe_taille
)
SELECT
    a.niveau, a.code_territoire, t.libelle_territoire, t.epci_partiel,
    a.famille, a.nomenclature_secteur, a.secteur, l.libelle_secteur, a.classe_taille, a.annee, a.perimetre,
    a.nb_etablissements, a.nb_etablissements_employeurs,
    a.effectif_bas, a.effectif_central, a.effectif_haut,
    -- Shares are rounded to 10 decimals: sums of calibrated (floating-point) values can exceed their total by a
    -- rounding error (1.0000000000000002).
    a.nb_etablissements_employeurs / nullif(a.ens_employeurs, 0) AS part_ess_etablissements_employeurs,
    -- Range of a share x / (x + y) with x (this row) and y (the rest of the economy) both uncertain: the share
    -- grows with x and falls with y, so its low end is x_bas / (x_bas + y_haut) and its high end
    -- x_haut / (x_haut + y_bas), the rest being y = ensemble − row for each bound (sums are additive).
    round(a.effectif_bas / nullif(a.effectif_bas + greatest(a.ens_haut - a.effectif_haut, 0), 0), 10)
        AS part_ess_effectif_bas,
    round(a.effectif_central / nullif(a.ens_central, 0), 10) AS part_ess_effectif_central,
    round(a.effectif_haut / nullif(a.effectif_haut + greatest(a.ens_bas - a.effectif_bas, 0), 0), 10)
        AS part_ess_effectif_haut,
    a.nb_etablissements * 1000.0 / nullif(t.population, 0) AS etablissements_pour_1000_hab,
    a.effectif_central * 1000.0 / nullif(t.population, 0) AS effectif_pour_1000_hab,
    t.population,
    a.nb_contributeurs, a.effectif_max_contributeur, a.nb_unites_legales_contributrices,
    a.effectif_max_unite_legale, a.nb_unites_legales, a.effectif_bas_max_unite_legale,
    a.effectif_haut_max_unite_legale,
    CASE WHEN a.annee = $annee THEN $date_reference::DATE ELSE make_date(a.annee, 12, 31) END AS date_reference,
    CASE WHEN a.annee = $annee THEN $sources_courant ELSE $sources_passe END AS sources
FROM avec_ensemble AS a
LEFT JOIN out_cube_territoires AS t USING (niveau, code_territoire)
LEFT JOIN ref_libelles_secteurs AS l USING (nomenclature_secteur, secteur)
