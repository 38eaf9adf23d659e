-- core_situations: the legal and activity situation of every establishment of the département's stock, today
-- (courant = true, at the end of the millésime month) and at 31 December of each year since 2012 (from the history
-- tables; the millésime year is observed at the end of the millésime month, not in the future).
-- One place decides the activity code and the ESS family, so that the current table and the yearly series agree.
--   activity: the establishment's APE, falling back to the legal unit's. NAF rév. 2 is preferred while it is the
--   reference APE (millésimes before 2027-01), NAF 2025 from then on; codes of older nomenclatures are not used.
--   family: the catégorie juridique's family in ref_perimetre_familles, else 'societes_commerciales_ess' when the
--   legal unit carries the SIRENE ESS flag 'O', else NULL.
--   regle_naf: the active exclusion rule of ref_perimetre_exclusions_naf matching the activity (same nomenclature).
-- Parameters: $millesime ('YYYY-MM').
WITH parametres AS (
    SELECT last_day(CAST($millesime || '-01' AS DATE)) AS date_millesime,
           $millesime >= '2027-01' AS naf2025_reference
),

annees AS (
    SELECT annee, least(make_date(annee, 12, 31), date_millesime) AS date_situation
    FROM (SELECT unnest(range(2012, year(date_millesime) + 1)) AS annee, date_millesime FROM parametres)
),

stock AS (
    SELECT siret, siren FROM staging_sirene_etablissements
),

-- current state ------------------------------------------------------------------------------------------------
etablissements_courants AS (
    SELECT e.siret, e.siren, TRUE AS courant, year(p.date_millesime) AS annee, p.date_millesime AS date_situation,
           e.etat_administratif = 'A' AS actif,
           e.activite_principale AS activite_etab, e.nomenclature_activite AS nomenclature_etab,
           e.activite_principale_naf25 AS naf25_etab
    FROM staging_sirene_etablissements AS e, parametres AS p
),

situations_courantes AS (
    SELECT e.*, u.categorie_juridique, u.economie_sociale_solidaire,
           u.activite_principale AS activite_ul, u.nomenclature_activite AS nomenclature_ul,
           u.activite_principale_naf25 AS naf25_ul,
           CASE WHEN u.siren IS NULL THEN 'absente' ELSE 'stock' END AS source_unite_legale
    FROM etablissements_courants AS e
    LEFT JOIN staging_sirene_unites_legales AS u USING (siren)
),

-- state at each 31 December: the history period holding that date. Periods are read as [date_debut, date_fin];
-- when two periods touch the date, the later one wins, which is right whether date_fin is inclusive or exclusive.
etablissements_annuels AS (
    SELECT h.siret, s.siren, FALSE AS courant, a.annee, a.date_situation,
           h.etat_administratif = 'A' AS actif,
           h.activite_principale AS activite_etab, h.nomenclature_activite AS nomenclature_etab,
           CAST(NULL AS VARCHAR) AS naf25_etab
    FROM staging_sirene_etablissements_historique AS h
    JOIN stock AS s USING (siret)
    JOIN annees AS a
      ON coalesce(h.date_debut, DATE '1900-01-01') <= a.date_situation
     AND (h.date_fin IS NULL OR h.date_fin >= a.date_situation)
    QUALIFY row_number() OVER (PARTITION BY h.siret, a.annee ORDER BY h.date_debut DESC NULLS LAST) = 1
),

unites_legales_annuelles AS (
    SELECT e.siret, e.annee, u.categorie_juridique, u.economie_sociale_solidaire,
           u.activite_principale AS activite_ul, u.nomenclature_activite AS nomenclature_ul
    FROM etablissements_annuels AS e
    JOIN staging_sirene_unites_legales_historique AS u
      ON u.siren = e.siren
     AND coalesce(u.date_debut, DATE '1900-01-01') <= e.date_situation
     AND (u.date_fin IS NULL OR u.date_fin >= e.date_situation)
    QUALIFY row_number() OVER (PARTITION BY e.siret, e.annee ORDER BY u.date_debut DESC NULLS LAST) = 1
),

-- a legal unit without a history period at that date keeps its current values (and says so)
situations_annuelles AS (
    SELECT e.*,
           coalesce(h.categorie_juridique, u.categorie_juridique) AS categorie_juridique,
           CASE WHEN h.siret IS NOT NULL THEN h.economie_sociale_solidaire ELSE u.economie_sociale_solidaire END
               AS economie_sociale_solidaire,
           CASE WHEN h.siret IS NOT NULL THEN h.activite_ul ELSE u.activite_principale END AS activite_ul,
           CASE WHEN h.siret IS NOT NULL THEN h.nomenclature_ul ELSE u.nomenclature_activite END AS nomenclature_ul,
           CAST(NULL AS VARCHAR) AS naf25_ul,
           CASE WHEN h.siret IS NOT NULL THEN 'historique' WHEN u.siren IS NOT NULL THEN 'stock' ELSE 'absente' END
               AS source_unite_legale
    FROM etablissements_annuels AS e
    LEFT JOIN unites_legales_annuelles AS h USING (siret, annee)
    LEFT JOIN staging_sirene_unites_legales AS u ON u.siren = e.siren
),

situations AS (
    SELECT * FROM situations_courantes
    UNION ALL BY NAME
    SELECT * FROM situations_annuelles
),

-- activity -------------------------------------------------------------------------------------------------------
-- candidates in order of preference; codes without the dot ('9499Z') are given one, nomenclature labels of NAF 2025
-- are unified to 'NAF2025'
candidats AS (
    SELECT siret, courant, annee, unnest([
        {rang: 1, source: 'etablissement', nomenclature: nomenclature_etab, code: activite_etab},
        {rang: 2, source: 'etablissement', nomenclature: 'NAF2025', code: naf25_etab},
        {rang: 3, source: 'unite_legale', nomenclature: nomenclature_ul, code: activite_ul},
        {rang: 4, source: 'unite_legale', nomenclature: 'NAF2025', code: naf25_ul}
    ]) AS c
    FROM situations
),

candidats_normalises AS (
    SELECT siret, courant, annee, c.rang, c.source,
           CASE WHEN c.nomenclature IN ('NAF2025', 'NAF25', 'NAFRev2.1', 'NAFRev2025') THEN 'NAF2025'
                ELSE c.nomenclature END AS nomenclature,
           CASE WHEN regexp_full_match(upper(trim(c.code)), '[0-9]{4}[A-Z]')
                THEN substr(upper(trim(c.code)), 1, 2) || '.' || substr(upper(trim(c.code)), 3)
                ELSE upper(trim(c.code)) END AS code
    FROM candidats
),

activites AS (
    SELECT siret, courant, annee, code AS activite, nomenclature AS nomenclature_activite, source AS source_activite
    FROM candidats_normalises, parametres AS p
    WHERE nomenclature IN ('NAFRev2', 'NAF2025') AND code IS NOT NULL AND code <> ''
    QUALIFY row_number() OVER (
        PARTITION BY siret, courant, annee
        ORDER BY source = 'etablissement' DESC,
                 (nomenclature = CASE WHEN p.naf2025_reference THEN 'NAF2025' ELSE 'NAFRev2' END) DESC,
                 rang) = 1
),

-- family and exclusion rule ----------------------------------------------------------------------------------------
regles AS (
    SELECT a.siret, a.courant, a.annee, min(x.regle) AS regle_naf
    FROM activites AS a
    JOIN ref_perimetre_exclusions_naf AS x
      ON x.actif AND x.nomenclature = a.nomenclature_activite AND starts_with(a.activite, x.code)
    GROUP BY ALL
)

SELECT s.siret, s.siren, s.courant, s.annee, s.date_situation, s.actif,
       s.categorie_juridique,
       cj.code IS NOT NULL AS categorie_juridique_connue,
       coalesce(cj.code_niveau1, left(s.categorie_juridique, 1)) AS categorie_juridique_niveau1,
       CASE s.economie_sociale_solidaire WHEN 'O' THEN TRUE WHEN 'N' THEN FALSE END AS ess_flag,
       f.famille AS famille_cj,
       coalesce(f.inclus_par_defaut, FALSE) AS famille_cj_par_defaut,
       coalesce(f.famille, CASE WHEN s.economie_sociale_solidaire = 'O' THEN 'societes_commerciales_ess' END)
           AS famille_ess,
       a.activite, a.nomenclature_activite, a.source_activite,
       r.regle_naf,
       s.source_unite_legale
FROM situations AS s
LEFT JOIN activites AS a USING (siret, courant, annee)
LEFT JOIN regles AS r USING (siret, courant, annee)
LEFT JOIN ref_perimetre_familles AS f ON f.categorie_juridique = s.categorie_juridique
LEFT JOIN ref_categories_juridiques AS cj ON cj.code = s.categorie_juridique
