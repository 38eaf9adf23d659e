-- core_situations: the legal and activity situation of every establishment of the département's stock, today
-- (courant = true, at the end of the millésime month) and at 31 December of each year since 2012 (from the history
-- tables; the millésime year is observed at the end of the millésime month, not in the future).
-- One place decides the activity code, the ESS family and the perimeters, so that the current table and the yearly
-- series agree.
--   activity: the establishment's APE, falling back to the legal unit's. NAF rév. 2 is preferred while it is the
--   reference APE (millésimes before $naf2025_depuis: transforms/reference.py NAF2025_REFERENCE_FROM), NAF 2025 from
--   then on; codes of older nomenclatures are not used.
--   family: the catégorie juridique's family in ref_perimetre_familles, else 'societes_commerciales_ess' when the
--   legal unit carries the SIRENE ESS flag 'O', else NULL.
--   regle_naf: the active exclusion rule of ref_perimetre_exclusions_naf matching the activity (same nomenclature).
--   perimetres_inclus: the perimeters of ref_perimetres the situation is in. A situation is a candidate of a perimeter
--   when its catégorie juridique is selected (familles_cj: 'defaut' = codes marked inclus_par_defaut, 'toutes' =
--   every listed code, 'aucune') or when the perimeter takes the units flagged 'O' and the unit is flagged; a
--   candidate is in unless the perimeter applies the NAF exclusions and a rule matched (motif_exclusion = the rule).
-- Parameters: $millesime ('YYYY-MM'), $naf2025_depuis (the millésime from which NAF 2025 is the reference APE).
WITH parametres AS (
    SELECT last_day(CAST($millesime || '-01' AS DATE)) AS date_millesime,
           $millesime >= $naf2025_depuis AS naf2025_reference
),

annees AS (
    SELECT annee, least(make_date(annee, 12, 31), date_millesime) AS date_situation
    FROM (SELECT unnest(range(2012, year(date_millesime) + 1)) AS annee, date_millesime FROM parametres)
),

stock AS (
    SELECT e.siret, e.siren, e.date_creation, e.etablissement_siege, u.date_creation AS date_creation_unite
    FROM staging_sirene_etablissements AS e
    LEFT JOIN staging_sirene_unites_legales AS u USING (siren)
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
    SELECT e.*, u.categorie_juridique, u.economie_sociale_solidaire, FALSE AS ess_flag_reconstitue,
           u.activite_principale AS activite_ul, u.nomenclature_activite AS nomenclature_ul,
           u.activite_principale_naf25 AS naf25_ul,
           CASE WHEN u.siren IS NULL THEN 'absente' ELSE 'stock' END AS source_unite_legale
    FROM etablissements_courants AS e
    LEFT JOIN staging_sirene_unites_legales AS u USING (siren)
),

-- state at each 31 December. History periods are first made disjoint — a period ends the day before the next one
-- starts, which settles whether a delivery's date_fin is inclusive or exclusive — then each period is expanded to
-- the years whose situation date it holds (no date falls in two periods, so no tie-breaking is needed). Two periods
-- with the same start (a key's periods differ at least by their end: staging rejects the others) are ordered by their
-- end, an open one last: the shorter one is superseded and dropped, whatever the files' row order.
-- Establishments: the years active at 31/12, plus the first year seen closed after being active (so that closures
-- show); the years of a long-closed establishment would only repeat "closed" and are not written.
-- A first period without start date (SIRENE leaves it empty for some old or unknown dates) starts at the
-- establishment's creation date, or, for a siège, at its legal unit's creation; when neither is known the period is
-- not used (the establishment is counted from its next dated period on, or only in the current stock): reading an
-- unknown start as a very old date would count it in every early year.
periodes_datees AS (
    -- a period followed by another starting the same day (see above) is superseded: the establishment never was in
    -- that state, so it is neither its first period nor the state before the next one
    SELECT h.*, lead(h.date_debut) OVER (PARTITION BY h.siret ORDER BY h.date_debut NULLS FIRST, h.date_fin NULLS LAST)
                    = h.date_debut AS remplacee
    FROM staging_sirene_etablissements_historique AS h
),

periodes_brutes AS (
    SELECT h.siret, s.siren, h.etat_administratif = 'A' AS actif,
           h.activite_principale, h.nomenclature_activite,
           coalesce(h.date_debut,
                    CASE WHEN row_number() OVER w = 1
                         THEN coalesce(s.date_creation, CASE WHEN s.etablissement_siege THEN s.date_creation_unite END)
                    END) AS debut,
           coalesce(lead(h.date_debut) OVER w - 1, h.date_fin) AS fin,
           coalesce(lag(h.etat_administratif) OVER w = 'A', FALSE) AS actif_avant
    FROM periodes_datees AS h
    JOIN stock AS s USING (siret)
    WHERE NOT coalesce(h.remplacee, FALSE)
    WINDOW w AS (PARTITION BY h.siret ORDER BY h.date_debut NULLS FIRST, h.date_fin NULLS LAST)
),

periodes_etablissements AS (
    SELECT * FROM periodes_brutes WHERE debut IS NOT NULL
),

annees_etablissements AS (
    SELECT *, unnest(range(
               greatest(2012, year(debut)),
               CASE WHEN NOT actif THEN greatest(2012, year(debut))  -- closure: its first year only
                    ELSE least(year(p.date_millesime),
                               CASE WHEN fin IS NULL THEN year(p.date_millesime)
                                    WHEN fin >= make_date(year(fin), 12, 31) THEN year(fin)
                                    ELSE year(fin) - 1 END) END + 1)) AS annee
    FROM periodes_etablissements CROSS JOIN parametres AS p
    WHERE (actif OR actif_avant) AND (fin IS NULL OR fin >= debut)
),

etablissements_annuels AS (
    SELECT h.siret, h.siren, FALSE AS courant, h.annee, a.date_situation, h.actif,
           h.activite_principale AS activite_etab, h.nomenclature_activite AS nomenclature_etab,
           CAST(NULL AS VARCHAR) AS naf25_etab
    FROM annees_etablissements AS h
    JOIN annees AS a USING (annee)
    WHERE h.debut <= a.date_situation AND (h.fin IS NULL OR h.fin >= a.date_situation)
),

-- SIRENE began recording the ESS flag years after 2012: the periods of a unit before its flag was recorded have none,
-- so the flag read "as it was then" measures when SIRENE recorded it, not when the unit was of the ESS. A period
-- without a flag takes the first one recorded for the unit after it (in a later period, else in the current stock),
-- and says so (ess_flag_reconstitue). A unit closed before any flag was recorded stays without one (METHOD.md § 2).
periodes_unites_legales AS (
    SELECT *, coalesce(flag_periode, flag_suivant, flag_stock) AS economie_sociale_solidaire,
           flag_periode IS NULL AND coalesce(flag_suivant, flag_stock) IS NOT NULL AS ess_flag_reconstitue
    FROM (
        -- (the flag of a period that ends before it starts, superseded by another starting the same day, is not
        -- one the unit ever had: only the periods that hold a day are looked at)
        SELECT *, first_value(flag_periode IGNORE NULLS) OVER (
                      PARTITION BY siren ORDER BY debut, fin NULLS LAST
                      ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS flag_suivant
        FROM (
            SELECT u.siren, u.categorie_juridique, u.activite_principale, u.nomenclature_activite,
                   u.economie_sociale_solidaire AS flag_periode,
                   s.economie_sociale_solidaire AS flag_stock,
                   coalesce(u.date_debut, DATE '1900-01-01') AS debut,
                   coalesce(lead(u.date_debut) OVER (PARTITION BY u.siren ORDER BY u.date_debut NULLS FIRST,
                                                                  u.date_fin NULLS LAST) - 1,
                            u.date_fin) AS fin
            FROM staging_sirene_unites_legales_historique AS u
            LEFT JOIN staging_sirene_unites_legales AS s USING (siren)
            WHERE u.siren IN (SELECT siren FROM stock)
        )
        WHERE fin IS NULL OR fin >= debut
    )
),

unites_legales_annuelles AS (
    SELECT u.siren, a.annee, u.categorie_juridique, u.economie_sociale_solidaire, u.ess_flag_reconstitue,
           u.activite_principale AS activite_ul, u.nomenclature_activite AS nomenclature_ul
    FROM (SELECT *, unnest(range(greatest(2012, year(debut)),
                                 least(year(p.date_millesime),
                                       CASE WHEN fin IS NULL THEN year(p.date_millesime)
                                            WHEN fin >= make_date(year(fin), 12, 31) THEN year(fin)
                                            ELSE year(fin) - 1 END) + 1)) AS annee
          FROM periodes_unites_legales CROSS JOIN parametres AS p
          WHERE fin IS NULL OR fin >= debut) AS u
    JOIN annees AS a USING (annee)
    WHERE u.debut <= a.date_situation AND (u.fin IS NULL OR u.fin >= a.date_situation)
),

-- a legal unit without a history period at that date keeps its current values (and says so)
situations_annuelles AS (
    SELECT e.*,
           coalesce(h.categorie_juridique, u.categorie_juridique) AS categorie_juridique,
           CASE WHEN h.siren IS NOT NULL THEN h.economie_sociale_solidaire ELSE u.economie_sociale_solidaire END
               AS economie_sociale_solidaire,
           -- without a period at that date, the stock's flag is a later one too (but at the millésime's own date)
           CASE WHEN h.siren IS NOT NULL THEN h.ess_flag_reconstitue
                ELSE u.economie_sociale_solidaire IS NOT NULL
                     AND e.date_situation < (SELECT date_millesime FROM parametres) END AS ess_flag_reconstitue,
           CASE WHEN h.siren IS NOT NULL THEN h.activite_ul ELSE u.activite_principale END AS activite_ul,
           CASE WHEN h.siren IS NOT NULL THEN h.nomenclature_ul ELSE u.nomenclature_activite END AS nomenclature_ul,
           CAST(NULL AS VARCHAR) AS naf25_ul,
           CASE WHEN h.siren IS NOT NULL THEN 'historique' WHEN u.siren IS NOT NULL THEN 'stock' ELSE 'absente' END
               AS source_unite_legale
    FROM etablissements_annuels AS e
    LEFT JOIN unites_legales_annuelles AS h USING (siren, annee)
    LEFT JOIN staging_sirene_unites_legales AS u ON u.siren = e.siren
),

situations AS (
    SELECT * FROM situations_courantes
    UNION ALL BY NAME
    SELECT * FROM situations_annuelles
),

-- activity -------------------------------------------------------------------------------------------------------
-- codes without the dot ('9499Z') are given one; NAF 2025 nomenclature labels are unified to 'NAF2025'
codes AS (
    SELECT s.*,
           list_transform([activite_etab, naf25_etab, activite_ul, naf25_ul], lambda x:
               CASE WHEN length(x) = 5 AND strpos(x, '.') = 0 THEN substr(x, 1, 2) || '.' || substr(x, 3)
                    ELSE nullif(trim(x), '') END) AS c,
           list_transform([nomenclature_etab, nomenclature_ul], lambda n:
               CASE WHEN n IN ('NAF2025', 'NAF25', 'NAFRev2.1', 'NAFRev2025') THEN 'NAF2025' ELSE n END) AS n
    FROM situations AS s
),

-- candidates in order of preference: the establishment before the legal unit; within each, the reference
-- nomenclature of the millésime first; the first code present wins
candidats AS (
    SELECT c.*,
           {source: 'etablissement', nomenclature: 'NAFRev2', code: CASE WHEN n[1] = 'NAFRev2' THEN c[1] END} AS e2,
           {source: 'etablissement', nomenclature: 'NAF2025',
            code: coalesce(CASE WHEN n[1] = 'NAF2025' THEN c[1] END, c[2])} AS e25,
           {source: 'unite_legale', nomenclature: 'NAFRev2', code: CASE WHEN n[2] = 'NAFRev2' THEN c[3] END} AS u2,
           {source: 'unite_legale', nomenclature: 'NAF2025',
            code: coalesce(CASE WHEN n[2] = 'NAF2025' THEN c[3] END, c[4])} AS u25
    FROM codes AS c
),

activites AS (
    SELECT c.* EXCLUDE (c, n, e2, e25, u2, u25),
           list_filter(CASE WHEN p.naf2025_reference THEN [e25, e2, u25, u2] ELSE [e2, e25, u2, u25] END,
                       lambda x: x.code IS NOT NULL)[1] AS choix
    FROM candidats AS c, parametres AS p
),

-- family, exclusion rule, perimeters ------------------------------------------------------------------------------
-- the rules and perimeters are small reference tables, carried as constant lists so that each situation is judged
-- in one pass (no join that multiplies the rows)
classees AS (
    SELECT a.*, cj.code IS NOT NULL AS categorie_juridique_connue,
           coalesce(cj.code_niveau1, left(a.categorie_juridique, 1)) AS categorie_juridique_niveau1,
           CASE a.economie_sociale_solidaire WHEN 'O' THEN TRUE WHEN 'N' THEN FALSE END AS ess_flag,
           f.famille AS famille_cj,
           coalesce(f.inclus_par_defaut, FALSE) AS famille_cj_par_defaut,
           coalesce(f.famille, CASE WHEN a.economie_sociale_solidaire = 'O' THEN 'societes_commerciales_ess' END)
               AS famille_ess,
           list_sort(list_filter(
               (SELECT list({regle: regle, nomenclature: nomenclature, code: code}) FROM ref_perimetre_exclusions_naf
                WHERE actif),
               lambda r: r.nomenclature = a.choix.nomenclature AND starts_with(a.choix.code, r.code)))[1].regle
               AS regle_naf
    FROM activites AS a
    LEFT JOIN ref_perimetre_familles AS f ON f.categorie_juridique = a.categorie_juridique
    LEFT JOIN ref_categories_juridiques AS cj ON cj.code = a.categorie_juridique
),

jugees AS (
    SELECT c.*,
           list_filter(
               (SELECT list({perimetre: perimetre, familles_cj: familles_cj, unites_flag_o: unites_flag_o,
                             exclusions_naf: exclusions_naf}) FROM ref_perimetres),
               lambda p: CASE p.familles_cj WHEN 'defaut' THEN c.famille_cj_par_defaut
                                            WHEN 'toutes' THEN c.famille_cj IS NOT NULL ELSE FALSE END
                         OR (p.unites_flag_o AND coalesce(c.ess_flag, FALSE))) AS candidats
    FROM classees AS c
)

SELECT siret, siren, courant, annee, date_situation, actif,
       categorie_juridique, categorie_juridique_connue, categorie_juridique_niveau1, ess_flag,
       ess_flag_reconstitue AND ess_flag IS NOT NULL AS ess_flag_reconstitue,
       famille_cj, famille_cj_par_defaut, famille_ess,
       choix.code AS activite, choix.nomenclature AS nomenclature_activite, choix.source AS source_activite,
       regle_naf,
       -- the perimeters the situation is in: candidates, unless the perimeter applies the exclusions and a rule matched
       -- (sorted: the same inputs give the same list, whatever the order of the rows of perimetres.csv)
       list_sort(list_transform(list_filter(candidats, lambda p: NOT (p.exclusions_naf AND regle_naf IS NOT NULL)),
                                lambda p: p.perimetre)) AS perimetres_inclus,
       -- the rule that took it out of at least one perimeter it was a candidate of
       CASE WHEN len(list_filter(candidats, lambda p: p.exclusions_naf)) > 0 THEN regle_naf END AS motif_exclusion,
       source_unite_legale
FROM jugees
