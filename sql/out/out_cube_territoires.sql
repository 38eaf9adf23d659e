-- The territorial frame of the cube: every territory of every level, with its label, its population (communes of
-- the département only) and, for EPCIs, whether it extends beyond the département (then only its part inside is
-- counted). Communes come from the run's COG, so a commune without any establishment still gets its rows, and
-- populations add up to the département's. Unknown attachments are grouped under 'non_renseigne' exactly as the
-- establishments are in out_cube_etablissements, so every level sums to the département.
-- Labels of arrondissements and of the département come from ref_libelles_territoires (committed COG reference,
-- loaded by transforms/outputs.py); zones d'emploi have no label source yet (NULL).
-- Parameters: $departement, $avec_territoires (staging_territoires was given).
WITH communes AS (
    SELECT
        c.code_commune,
        c.nom_commune,
        coalesce(c.siren_epci, 'non_renseigne') AS code_epci,
        coalesce(c.code_arrondissement, 'non_renseigne') AS code_arrondissement,
        coalesce(c.code_zone_emploi, 'non_renseigne') AS code_zone_emploi,
        coalesce(t.code_territoire, 'non_renseigne') AS code_territoire,
        t.nom_territoire,
        c.population
    FROM core_communes AS c
    LEFT JOIN staging_territoires AS t USING (code_commune)
    WHERE c.code_departement = $departement
),
-- An EPCI is partial when it has member communes outside the département: staging_epci says so when it carries
-- the counts; otherwise a whole-France staging_communes shows it.
epci_hors_departement AS (
    SELECT siren_epci, count(*) FILTER (WHERE code_departement <> $departement) AS nb_communes_hors
    FROM staging_communes
    WHERE siren_epci IS NOT NULL
    GROUP BY siren_epci
),
epci AS (
    SELECT
        c.code_epci,
        any_value(e.nom_epci) AS nom_epci,
        coalesce(
            bool_or(e.nb_communes > e.nb_communes_departement),
            bool_or(h.nb_communes_hors > 0),
            false
        ) AS epci_partiel,
        sum(c.population) AS population
    FROM communes AS c
    LEFT JOIN staging_epci AS e ON e.siren_epci = c.code_epci
    LEFT JOIN epci_hors_departement AS h ON h.siren_epci = c.code_epci
    GROUP BY c.code_epci
)
SELECT 'commune' AS niveau, code_commune AS code_territoire, nom_commune AS libelle_territoire,
       NULL::BOOLEAN AS epci_partiel, population::BIGINT AS population
FROM communes
UNION ALL
SELECT 'epci', code_epci, nom_epci, CASE WHEN code_epci <> 'non_renseigne' THEN epci_partiel END, population::BIGINT
FROM epci
UNION ALL
SELECT 'arrondissement', code_arrondissement,
       (SELECT any_value(libelle) FROM ref_libelles_territoires AS r
        WHERE r.niveau = 'arrondissement' AND r.code_territoire = code_arrondissement),
       NULL, sum(population)::BIGINT
FROM communes GROUP BY code_arrondissement
UNION ALL
SELECT 'zone_emploi', code_zone_emploi, NULL, NULL, sum(population)::BIGINT
FROM communes GROUP BY code_zone_emploi
UNION ALL
SELECT 'territoire', code_territoire, any_value(nom_territoire), NULL, sum(population)::BIGINT
FROM communes WHERE $avec_territoires GROUP BY code_territoire
UNION ALL
SELECT 'departement', $departement,
       (SELECT any_value(libelle) FROM ref_libelles_territoires AS r
        WHERE r.niveau = 'departement' AND r.code_territoire = $departement),
       NULL, sum(population)::BIGINT
FROM communes
