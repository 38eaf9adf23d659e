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
--   recouvrement              overlaps between every pair of perimeters of ref_perimetres, a before b in the file:
--                             code a_et_b (in both), a_sans_b (in a, not in b), b_sans_a (in b, not in a);
--   activite                  which nomenclature and which level (establishment / legal unit) gave the activity,
--                             for all active establishments and for those with an ESS family.
--   indicateur_ess_reconstitue  per year (code) and per perimeter taking the units flagged 'O': the establishments
--                             active at 31/12 that the perimeter counts only through a flag SIRENE recorded after
--                             that date (core_etablissements_annuel.ess_flag_reconstitue; METHOD.md § 2).
-- Every perimeter comes from ref_perimetres (the run's perimetres.csv): a new row there is audited like the others.
-- Needs the ref_* tables (transforms.reference.load_reference), core_etablissements (perimetres_inclus) and
-- core_etablissements_annuel (empty when absent).
WITH actifs AS (
    SELECT * FROM core_etablissements WHERE actif
),

-- the defined perimeters, in the order of the file
definis AS (
    SELECT perimetre, row_number() OVER () AS rang FROM ref_perimetres
),

par_perimetre AS (
    SELECT a.siret, a.siren, a.categorie_juridique, a.famille_ess, a.ess_flag, a.activite, a.nomenclature_activite,
           d.perimetre, coalesce(list_contains(a.perimetres_inclus, d.perimetre), FALSE) AS inclus
    FROM actifs AS a
    CROSS JOIN definis AS d
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
    CROSS JOIN definis AS per
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
-- every pair (a, b) of defined perimeters, a before b in the file, read three ways
paires AS (
    SELECT a.perimetre AS a, b.perimetre AS b, a.rang AS rang_a, b.rang AS rang_b
    FROM definis AS a
    JOIN definis AS b ON a.rang < b.rang
),

comparaisons AS (
    SELECT a || '_et_' || b AS code, 'dans ' || a || ' et dans ' || b AS libelle, a AS dans, b AS aussi,
           CAST(NULL AS VARCHAR) AS pas_dans, rang_a, rang_b, 1 AS sens
    FROM paires
    UNION ALL
    SELECT a || '_sans_' || b, 'dans ' || a || ', pas dans ' || b, a, NULL, b, rang_a, rang_b, 2
    FROM paires
    UNION ALL
    SELECT b || '_sans_' || a, 'dans ' || b || ', pas dans ' || a, b, NULL, a, rang_a, rang_b, 3
    FROM paires
),

recouvrements AS (
    SELECT 'recouvrement' AS rubrique, c.code, c.libelle,
           CAST(NULL AS VARCHAR) AS famille, CAST(NULL AS VARCHAR) AS nomenclature, CAST(NULL AS VARCHAR) AS perimetre,
           CAST(NULL AS VARCHAR) AS confiance, CAST(NULL AS BOOLEAN) AS inclus_par_defaut,
           CAST(NULL AS BOOLEAN) AS regle_active,
           count(DISTINCT a.siren) AS nb_unites_legales, count(a.siret) AS nb_etablissements,
           CAST(NULL AS BIGINT) AS nb_unites_legales_hors, CAST(NULL AS BIGINT) AS nb_etablissements_hors
    FROM comparaisons AS c
    LEFT JOIN actifs AS a
      ON coalesce(list_contains(a.perimetres_inclus, c.dans), FALSE)
     AND (c.aussi IS NULL OR coalesce(list_contains(a.perimetres_inclus, c.aussi), FALSE))
     AND (c.pas_dans IS NULL OR NOT coalesce(list_contains(a.perimetres_inclus, c.pas_dans), FALSE))
    GROUP BY c.code, c.libelle, c.rang_a, c.rang_b, c.sens
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
),

-- past years' flags recorded later ------------------------------------------------------------------------------------
-- in the perimeter that year, flagged 'O' by a later record, and not a candidate through its legal form
reconstitues AS (
    SELECT 'indicateur_ess_reconstitue' AS rubrique, CAST(a.annee AS VARCHAR) AS code,
           'établissements actifs au 31/12 comptés par un indicateur ESS que SIRENE a enregistré après cette date'
               AS libelle,
           CAST(NULL AS VARCHAR) AS famille, CAST(NULL AS VARCHAR) AS nomenclature, a.perimetre_audite AS perimetre,
           CAST(NULL AS VARCHAR) AS confiance, CAST(NULL AS BOOLEAN) AS inclus_par_defaut,
           CAST(NULL AS BOOLEAN) AS regle_active,
           count(DISTINCT a.siren) FILTER (WHERE a.ess_flag_reconstitue AND NOT a.cj_candidat) AS nb_unites_legales,
           count(a.siret) FILTER (WHERE a.ess_flag_reconstitue AND NOT a.cj_candidat) AS nb_etablissements,
           CAST(NULL AS BIGINT) AS nb_unites_legales_hors, CAST(NULL AS BIGINT) AS nb_etablissements_hors
    FROM (SELECT a.siret, left(a.siret, 9) AS siren, a.annee, a.ess_flag_reconstitue,
                 p.perimetre AS perimetre_audite,
                 CASE p.familles_cj WHEN 'defaut' THEN coalesce(f.inclus_par_defaut, FALSE)
                                    WHEN 'toutes' THEN f.famille IS NOT NULL ELSE FALSE END AS cj_candidat
          FROM core_etablissements_annuel AS a
          CROSS JOIN ref_perimetres AS p
          LEFT JOIN ref_perimetre_familles AS f ON f.categorie_juridique = a.categorie_juridique
          WHERE a.actif AND p.unites_flag_o AND coalesce(list_contains(a.perimetres_inclus, p.perimetre), FALSE)) AS a
    GROUP BY a.annee, a.perimetre_audite
)

SELECT * FROM categories
UNION ALL BY NAME SELECT * FROM exclusions
UNION ALL BY NAME SELECT * FROM inconnues
UNION ALL BY NAME SELECT * FROM recouvrements
UNION ALL BY NAME SELECT * FROM activites
UNION ALL BY NAME SELECT * FROM reconstitues
