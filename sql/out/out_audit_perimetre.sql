-- out_audit_perimetre: what each choice of the ESS perimeter brings in or takes out, so that researchers can see
-- and defend it. Counts are of ACTIVE establishments of the département and of their legal units (distinct SIREN).
-- One long table, read by `rubrique`:
--   categorie_juridique       per legal-form code listed in ref_perimetre_familles or present in a perimeter, and per
--                             named perimeter: units/establishments in it (nb_*) and left out of it (nb_*_hors);
--   exclusion_naf             per NAF rule (both nomenclatures, active or not) and per perimeter applying the
--                             exclusions: the perimeter's candidates whose activity matches the rule — taken out when
--                             the rule is active, "would be taken out" when it is not (regle_active = false);
--   categorie_juridique_inconnue  codes absent from ref_categories_juridiques (old or padded codes like 5400), NULL
--                             code = no legal unit found;
--   recouvrement              overlaps between the perimeters (in one and not in the other, in both);
--   activite                  which nomenclature and which level (establishment / legal unit) gave the activity,
--                             for all active establishments and for those with an ESS family.
-- Needs the ref_* tables (transforms.reference.load_reference) and core_etablissements.
WITH actifs AS (
    SELECT * FROM core_etablissements WHERE actif
),

par_perimetre AS (
    SELECT siret, siren, categorie_juridique, famille_ess, ess_flag, activite, nomenclature_activite,
           replace(colonne, 'perimetre_', '') AS perimetre, inclus
    FROM (UNPIVOT actifs ON perimetre_insee, perimetre_loi2014, perimetre_flag INTO NAME colonne VALUE inclus)
),

-- legal forms -----------------------------------------------------------------------------------------------------
codes AS (
    SELECT categorie_juridique FROM ref_perimetre_familles
    UNION
    SELECT categorie_juridique FROM par_perimetre WHERE inclus AND categorie_juridique IS NOT NULL
),

categories AS (
    SELECT 'categorie_juridique' AS rubrique, c.categorie_juridique AS code,
           coalesce(f.libelle, cj.libelle) AS libelle, coalesce(f.famille, max(p.famille_ess)) AS famille,
           CAST(NULL AS VARCHAR) AS nomenclature, per.perimetre,
           f.confiance, f.inclus_par_defaut, CAST(NULL AS BOOLEAN) AS regle_active,
           count(DISTINCT p.siren) FILTER (WHERE p.inclus) AS nb_unites_legales,
           count(p.siret) FILTER (WHERE p.inclus) AS nb_etablissements,
           count(DISTINCT p.siren) FILTER (WHERE NOT p.inclus) AS nb_unites_legales_hors,
           count(p.siret) FILTER (WHERE NOT p.inclus) AS nb_etablissements_hors
    FROM codes AS c
    CROSS JOIN (SELECT UNNEST(['insee', 'loi2014', 'flag']) AS perimetre) AS per
    LEFT JOIN par_perimetre AS p ON p.categorie_juridique = c.categorie_juridique AND p.perimetre = per.perimetre
    LEFT JOIN ref_perimetre_familles AS f ON f.categorie_juridique = c.categorie_juridique
    LEFT JOIN ref_categories_juridiques AS cj ON cj.code = c.categorie_juridique
    GROUP BY c.categorie_juridique, f.libelle, cj.libelle, f.famille, per.perimetre, f.confiance, f.inclus_par_defaut
),

-- NAF exclusion rules: the candidates of each perimeter that applies them, judged again here for every rule -------
candidats AS (
    SELECT a.siret, a.siren, a.activite, a.nomenclature_activite, p.perimetre
    FROM actifs AS a
    LEFT JOIN ref_perimetre_familles AS f ON f.categorie_juridique = a.categorie_juridique
    CROSS JOIN ref_perimetres AS p
    WHERE p.exclusions_naf
      AND (CASE p.familles_cj WHEN 'defaut' THEN coalesce(f.inclus_par_defaut, FALSE)
                              WHEN 'toutes' THEN f.famille IS NOT NULL ELSE FALSE END
           OR (p.unites_flag_o AND coalesce(a.ess_flag, FALSE)))
),

exclusions AS (
    SELECT 'exclusion_naf' AS rubrique, x.regle AS code, x.libelle || ' (' || x.code || ')' AS libelle,
           CAST(NULL AS VARCHAR) AS famille, x.nomenclature, p.perimetre,
           CAST(NULL AS VARCHAR) AS confiance, CAST(NULL AS BOOLEAN) AS inclus_par_defaut, x.actif AS regle_active,
           count(DISTINCT c.siren) AS nb_unites_legales, count(c.siret) AS nb_etablissements,
           CAST(NULL AS BIGINT) AS nb_unites_legales_hors, CAST(NULL AS BIGINT) AS nb_etablissements_hors
    FROM ref_perimetre_exclusions_naf AS x
    CROSS JOIN (SELECT perimetre FROM ref_perimetres WHERE exclusions_naf) AS p
    LEFT JOIN candidats AS c
      ON c.perimetre = p.perimetre AND c.nomenclature_activite = x.nomenclature AND starts_with(c.activite, x.code)
    GROUP BY ALL
),

-- unknown legal forms ---------------------------------------------------------------------------------------------
inconnues AS (
    SELECT 'categorie_juridique_inconnue' AS rubrique, categorie_juridique AS code,
           CASE WHEN categorie_juridique IS NULL THEN 'unité légale absente du stock'
                ELSE 'code absent de la liste INSEE des catégories juridiques' END AS libelle,
           CAST(NULL AS VARCHAR) AS famille, CAST(NULL AS VARCHAR) AS nomenclature, CAST(NULL AS VARCHAR) AS perimetre,
           CAST(NULL AS VARCHAR) AS confiance, CAST(NULL AS BOOLEAN) AS inclus_par_defaut,
           CAST(NULL AS BOOLEAN) AS regle_active,
           count(DISTINCT siren) AS nb_unites_legales, count(*) AS nb_etablissements,
           CAST(NULL AS BIGINT) AS nb_unites_legales_hors, CAST(NULL AS BIGINT) AS nb_etablissements_hors
    FROM actifs
    WHERE NOT categorie_juridique_connue
    GROUP BY ALL
),

-- overlaps between perimeters ---------------------------------------------------------------------------------------
comparaisons AS (
    SELECT * FROM (VALUES
        ('insee_et_flag', 'dans insee et dans flag'), ('insee_sans_flag', 'dans insee, pas dans flag'),
        ('flag_sans_insee', 'dans flag, pas dans insee'), ('loi2014_sans_insee', 'dans loi2014, pas dans insee'),
        ('loi2014_et_flag', 'dans loi2014 et dans flag'), ('loi2014_sans_flag', 'dans loi2014, pas dans flag'),
        ('flag_sans_loi2014', 'dans flag, pas dans loi2014')) AS v(code, libelle)
),

recouvrements AS (
    SELECT 'recouvrement' AS rubrique, c.code, c.libelle,
           CAST(NULL AS VARCHAR) AS famille, CAST(NULL AS VARCHAR) AS nomenclature, CAST(NULL AS VARCHAR) AS perimetre,
           CAST(NULL AS VARCHAR) AS confiance, CAST(NULL AS BOOLEAN) AS inclus_par_defaut,
           CAST(NULL AS BOOLEAN) AS regle_active,
           count(DISTINCT a.siren) AS nb_unites_legales, count(a.siret) AS nb_etablissements,
           CAST(NULL AS BIGINT) AS nb_unites_legales_hors, CAST(NULL AS BIGINT) AS nb_etablissements_hors
    FROM comparaisons AS c
    LEFT JOIN actifs AS a ON CASE c.code
        WHEN 'insee_et_flag' THEN a.perimetre_insee AND a.perimetre_flag
        WHEN 'insee_sans_flag' THEN a.perimetre_insee AND NOT a.perimetre_flag
        WHEN 'flag_sans_insee' THEN a.perimetre_flag AND NOT a.perimetre_insee
        WHEN 'loi2014_sans_insee' THEN a.perimetre_loi2014 AND NOT a.perimetre_insee
        WHEN 'loi2014_et_flag' THEN a.perimetre_loi2014 AND a.perimetre_flag
        WHEN 'loi2014_sans_flag' THEN a.perimetre_loi2014 AND NOT a.perimetre_flag
        WHEN 'flag_sans_loi2014' THEN a.perimetre_flag AND NOT a.perimetre_loi2014
    END
    GROUP BY ALL
),

-- where the activity came from ------------------------------------------------------------------------------------------
activites AS (
    SELECT 'activite' AS rubrique,
           coalesce(nomenclature_activite || '/' || source_activite, 'inconnue') AS code,
           CASE WHEN famille_ess IS NULL THEN 'établissements sans famille de l''ESS'
                ELSE 'établissements d''une famille de l''ESS' END AS libelle,
           CASE WHEN famille_ess IS NULL THEN NULL ELSE 'ess' END AS famille,
           nomenclature_activite AS nomenclature, CAST(NULL AS VARCHAR) AS perimetre,
           CAST(NULL AS VARCHAR) AS confiance, CAST(NULL AS BOOLEAN) AS inclus_par_defaut,
           CAST(NULL AS BOOLEAN) AS regle_active,
           count(DISTINCT siren) AS nb_unites_legales, count(*) AS nb_etablissements,
           CAST(NULL AS BIGINT) AS nb_unites_legales_hors, CAST(NULL AS BIGINT) AS nb_etablissements_hors
    FROM actifs
    GROUP BY ALL
)

SELECT * FROM categories
UNION ALL BY NAME SELECT * FROM exclusions
UNION ALL BY NAME SELECT * FROM inconnues
UNION ALL BY NAME SELECT * FROM recouvrements
UNION ALL BY NAME SELECT * FROM activites
