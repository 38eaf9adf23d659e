-- The territorial frame of the cube: every territory of every level (out_cube_communes: the COG's and the
-- zonings'), with its label, its population (communes of the département only) and, for EPCIs, whether it extends
-- beyond the département (then only its part inside is counted). Communes come from the run's COG, so a commune
-- without any establishment still gets its rows, and populations add up to the département's. Unknown attachments
-- are 'non_renseigne' exactly as in out_cube_communes, so every level sums to the département.
-- Labels: communes and EPCIs from the COG, arrondissements and the département from ref_libelles_territoires
-- (committed COG reference, loaded by transforms/outputs.py), zonings from their file (ref_zonages), zones d'emploi
-- from URSSAF's commune × APE table (core_communes; NULL when it gives none).
-- Parameters: $departement.
WITH communes AS (
    SELECT m.niveau, m.code_territoire, m.code_commune, c.nom_commune, c.population
    FROM out_cube_communes AS m
    JOIN core_communes AS c USING (code_commune)
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
        e.siren_epci AS code_territoire,
        any_value(e.nom_epci) AS libelle,
        bool_or(e.nb_communes > e.nb_communes_departement) AS partiel_selon_epci
    FROM staging_epci AS e
    GROUP BY e.siren_epci
),
libelles AS (
    SELECT 'epci' AS niveau, code_territoire, libelle FROM epci
    UNION ALL
    SELECT niveau, code_territoire, any_value(libelle) FROM ref_libelles_territoires GROUP BY ALL
    UNION ALL
    SELECT niveau, code_territoire, any_value(libelle_territoire) FROM ref_zonages GROUP BY ALL
    UNION ALL
    SELECT 'zone_emploi', code_zone_emploi, any_value(libelle_zone_emploi) FROM core_communes
    WHERE code_zone_emploi IS NOT NULL AND libelle_zone_emploi IS NOT NULL
    GROUP BY ALL
),
territoires AS (
    SELECT niveau, code_territoire,
           CASE WHEN niveau = 'commune' THEN any_value(nom_commune) END AS nom_commune,
           sum(population) AS population
    FROM communes
    GROUP BY niveau, code_territoire
)
SELECT
    t.niveau,
    t.code_territoire,
    CASE WHEN t.niveau = 'commune' THEN t.nom_commune ELSE l.libelle END AS libelle_territoire,
    CASE WHEN t.niveau = 'epci' AND t.code_territoire <> 'non_renseigne'
         THEN coalesce(e.partiel_selon_epci, h.nb_communes_hors > 0, false) END AS epci_partiel,
    t.population::BIGINT AS population
FROM territoires AS t
LEFT JOIN libelles AS l ON l.niveau = t.niveau AND l.code_territoire = t.code_territoire
LEFT JOIN epci AS e ON t.niveau = 'epci' AND e.code_territoire = t.code_territoire
LEFT JOIN epci_hors_departement AS h ON t.niveau = 'epci' AND h.siren_epci = t.code_territoire
