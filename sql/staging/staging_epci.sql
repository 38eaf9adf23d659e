-- staging_epci: the EPCI à fiscalité propre having at least one commune in the département (staging_communes must
-- exist), with their whole size (nb_communes, population: all member communes, in or out of the département) and the
-- département's part (nb_communes_departement, population_departement) so that outputs can say "Isère part only".
-- population is NULL when a member commune has no population. Membership lines that concern the département but
-- cannot be used are rejected with their reason.
WITH epci AS (
    SELECT *
    FROM raw_epci
    WHERE regexp_full_match(coalesce(siren_epci, ''), '[0-9]{9}')
    QUALIFY row_number() OVER (PARTITION BY siren_epci ORDER BY fichier, ligne) = 1
),
populations AS (
    SELECT code_commune, TRY_CAST(replace(replace(population, ' ', ''), chr(160), '') AS BIGINT) AS population
    FROM raw_populations
    QUALIFY row_number() OVER (PARTITION BY code_commune ORDER BY fichier, ligne) = 1
),
membres AS (
    SELECT
        m.*,
        s.code_commune IS NOT NULL AS dans_departement,
        p.population,
        coalesce(m.code_departement, left(m.code_commune, length($departement))) = $departement
            OR s.code_commune IS NOT NULL AS concerne_departement,
        CASE
            WHEN NOT regexp_full_match(coalesce(m.code_commune, ''), '[0-9]{5}|2[AB][0-9]{3}')
                THEN 'code commune mal formé'
            WHEN NOT regexp_full_match(coalesce(m.siren_epci, ''), '[0-9]{9}') THEN 'SIREN EPCI mal formé'
            WHEN m.siren_epci NOT IN (SELECT siren_epci FROM epci) THEN 'EPCI inconnu'
            WHEN row_number() OVER (PARTITION BY m.code_commune ORDER BY m.fichier, m.ligne) > 1
                THEN 'commune membre de plusieurs EPCI'
            WHEN s.code_commune IS NULL
                 AND coalesce(m.code_departement, left(m.code_commune, length($departement))) = $departement
                THEN 'commune absente du COG'
        END AS motif
    FROM raw_epci_membres AS m
    LEFT JOIN staging_communes AS s USING (code_commune)
    LEFT JOIN populations AS p USING (code_commune)
),
epci_du_departement AS (
    SELECT DISTINCT siren_epci FROM membres WHERE motif IS NULL AND dans_departement
),
agregats AS (
    SELECT
        siren_epci,
        CAST(count(*) AS INTEGER) AS nb_communes,
        CAST(count(*) FILTER (WHERE dans_departement) AS INTEGER) AS nb_communes_departement,
        CASE WHEN count(population) = count(*) THEN CAST(sum(population) AS BIGINT) END AS population,
        CASE WHEN count(population) FILTER (WHERE dans_departement) = count(*) FILTER (WHERE dans_departement)
             THEN CAST(sum(population) FILTER (WHERE dans_departement) AS BIGINT) END AS population_departement,
        list({'fichier': fichier, 'ligne': ligne}) AS sources_membres
    FROM membres
    WHERE motif IS NULL AND siren_epci IN (SELECT siren_epci FROM epci_du_departement)
    GROUP BY siren_epci
)
SELECT
    e.siren_epci,
    e.nom_epci,
    e.nature_epci,
    a.nb_communes,
    a.nb_communes_departement,
    a.population,
    a.population_departement,
    -- the EPCI's own line, unless it is also a membership line (DGCL's file: its first member), which then counts
    -- as that membership says (used, or rejected with its reason): a line is staged or rejected, never both
    list_concat(CASE WHEN l.ligne IS NULL THEN [{'fichier': e.fichier, 'ligne': e.ligne}] ELSE [] END,
                a.sources_membres) AS _sources,
    CAST(NULL AS VARCHAR) AS _motif_rejet
FROM epci AS e
JOIN agregats AS a USING (siren_epci)
LEFT JOIN (SELECT DISTINCT fichier, ligne FROM raw_epci_membres) AS l ON l.fichier = e.fichier AND l.ligne = e.ligne
UNION ALL BY NAME
SELECT
    siren_epci,
    [{'fichier': fichier, 'ligne': ligne}] AS _sources,
    motif AS _motif_rejet,
    -- the column at fault and its value (the member's commune is not a column of the table)
    CASE WHEN motif IN ('SIREN EPCI mal formé', 'EPCI inconnu') THEN 'siren_epci' ELSE 'code_commune' END
        AS _colonne_rejet,
    CASE WHEN motif IN ('SIREN EPCI mal formé', 'EPCI inconnu') THEN siren_epci ELSE code_commune END
        AS _valeur_rejet
FROM membres
WHERE motif IS NOT NULL AND concerne_departement
