-- staging_urssaf_ess_comparaison: URSSAF's published ESS and rest-of-economy employment and wage bill, for each
-- requested département (_departement) × year × niveau: the département itself ('departement'), its région
-- ('region': the départements of its région present in the file) and France ('france': every département of the
-- file). Comparisons for the report; public figures (no secrecy applies).
-- Prepared by sources/urssaf.py: raw_urssaf_ess_france (every row of the file, columns VARCHAR, _departement the
-- row's normalised département code, NULL when it has none: left out here, the rows of the requested départements
-- are checked and rejected by staging_urssaf_ess_departement), ref_urssaf_familles(cle, famille),
-- ref_departements(code_departement, nom_departement, code_region, nom_region) from
-- data/reference/departements_<year>.csv and the macro urssaf_cle_libelle().
-- Parameters: $departements (requested codes), $separateur_decimal.
-- A sum is NULL as soon as one of its parts is not published or duplicated (never a partial sum);
-- nb_departements says how many départements of the file it covers, nb_departements_reference how many the
-- reference lists (URSSAF does not cover Mayotte).
WITH lignes AS (
    SELECT
        r._departement AS code_departement,
        CASE WHEN regexp_full_match(trim(r.annee), '[0-9]{4}(-[0-9]{2}-[0-9]{2})?')
             THEN CAST(left(trim(r.annee), 4) AS INTEGER) END AS annee,
        -- an empty or 'ensemble' family is the total of its champ
        coalesce(CASE WHEN f.famille <> 'ensemble' THEN f.famille END, c.famille) AS famille,
        TRY_CAST(replace(nullif(trim(r.effectifs_salaries_moyens), ''), $separateur_decimal, '.') AS DOUBLE)
            AS effectifs,
        TRY_CAST(replace(nullif(trim(r.masse_salariale), ''), $separateur_decimal, '.') AS DOUBLE) AS masse,
        urssaf_cle_libelle(coalesce(r.champ_ess, '')) || '|' || urssaf_cle_libelle(coalesce(r.famille_ess, ''))
            AS libelle
    FROM raw_urssaf_ess_france AS r
    LEFT JOIN ref_urssaf_familles AS c ON c.cle = urssaf_cle_libelle(r.champ_ess)
    LEFT JOIN ref_urssaf_familles AS f ON f.cle = urssaf_cle_libelle(r.famille_ess)
    WHERE r._departement IS NOT NULL
),

-- one value per département, year and family; a duplicated line makes it unknown, unless it is the same figure
-- under two labels (« Hors ESS » and its champ's total « Ensemble »: staging_urssaf_ess_departement.sql)
uniques AS (
    SELECT
        code_departement,
        annee,
        famille,
        CASE WHEN count(*) = 1 OR (count(DISTINCT libelle) = count(*) AND count(DISTINCT (effectifs, masse)) = 1)
             THEN any_value(effectifs) END AS effectifs,
        CASE WHEN count(*) = 1 OR (count(DISTINCT libelle) = count(*) AND count(DISTINCT (effectifs, masse)) = 1)
             THEN any_value(masse) END AS masse
    FROM lignes
    WHERE annee IS NOT NULL
      AND famille IN ('associations', 'cooperatives', 'mutuelles', 'fondations', 'ess', 'hors_ess')
    GROUP BY code_departement, annee, famille
),

-- a département's ESS: its own ESS line when the file has one, else its four families when all are published
par_departement AS (
    SELECT
        code_departement,
        annee,
        coalesce(max(effectifs) FILTER (WHERE famille = 'ess'),
                 CASE WHEN count(effectifs) FILTER (WHERE famille <> 'ess' AND famille <> 'hors_ess') = 4
                      THEN sum(effectifs) FILTER (WHERE famille <> 'ess' AND famille <> 'hors_ess') END)
            AS effectifs_ess,
        coalesce(max(masse) FILTER (WHERE famille = 'ess'),
                 CASE WHEN count(masse) FILTER (WHERE famille <> 'ess' AND famille <> 'hors_ess') = 4
                      THEN sum(masse) FILTER (WHERE famille <> 'ess' AND famille <> 'hors_ess') END)
            AS masse_salariale_ess,
        max(effectifs) FILTER (WHERE famille = 'hors_ess') AS effectifs_hors_ess,
        max(masse) FILTER (WHERE famille = 'hors_ess') AS masse_salariale_hors_ess
    FROM uniques
    GROUP BY code_departement, annee
),

avec_region AS (
    SELECT p.*, d.code_region
    FROM par_departement AS p
    LEFT JOIN ref_departements AS d USING (code_departement)
),

demandes AS (
    SELECT
        q.code AS _departement,
        d.code_region,
        d.nom_region,
        d.nom_departement
    FROM (SELECT unnest($departements) AS code) AS q
    LEFT JOIN ref_departements AS d ON d.code_departement = q.code
),

niveaux AS (
    SELECT * FROM (VALUES ('departement'), ('region'), ('france')) AS n(niveau)
),

membres AS (
    SELECT q._departement, n.niveau, q.code_region AS region_demandee, q.nom_region, q.nom_departement, a.*
    FROM demandes AS q
    CROSS JOIN niveaux AS n
    JOIN avec_region AS a
      ON CASE n.niveau WHEN 'departement' THEN a.code_departement = q._departement
                       WHEN 'region' THEN a.code_region = q.code_region
                       ELSE TRUE END
),

attendus AS (
    SELECT
        q._departement,
        n.niveau,
        CASE n.niveau WHEN 'departement' THEN 1
                      WHEN 'region' THEN (SELECT count(*) FROM ref_departements AS r WHERE r.code_region = q.code_region)
                      ELSE (SELECT count(*) FROM ref_departements) END AS nb_departements_reference
    FROM demandes AS q
    CROSS JOIN niveaux AS n
)

SELECT
    m._departement,
    m.annee,
    m.niveau,
    CASE m.niveau WHEN 'departement' THEN m._departement WHEN 'region' THEN any_value(m.region_demandee)
                  ELSE 'FR' END AS code_territoire,
    CASE m.niveau WHEN 'departement' THEN any_value(m.nom_departement) WHEN 'region' THEN any_value(m.nom_region)
                  ELSE 'France' END AS libelle_territoire,
    count(DISTINCT m.code_departement) AS nb_departements,
    any_value(r.nb_departements_reference) AS nb_departements_reference,
    CASE WHEN count(m.effectifs_ess) = count(*) THEN sum(m.effectifs_ess) END AS effectifs_ess,
    CASE WHEN count(m.masse_salariale_ess) = count(*) THEN sum(m.masse_salariale_ess) END AS masse_salariale_ess,
    CASE WHEN count(m.effectifs_hors_ess) = count(*) THEN sum(m.effectifs_hors_ess) END AS effectifs_hors_ess,
    CASE WHEN count(m.masse_salariale_hors_ess) = count(*) THEN sum(m.masse_salariale_hors_ess) END
        AS masse_salariale_hors_ess
FROM membres AS m
JOIN attendus AS r ON r._departement = m._departement AND r.niveau = m.niveau
GROUP BY m._departement, m.annee, m.niveau
ORDER BY m._departement, m.niveau, m.annee
