-- Published reference table referentiel_territoires: the run's territorial dimension, one row per commune and level
-- (out_cube_communes: the COG's levels and one per zoning of the reference folder, so a new zoning file is published
-- without a code change), with the labels the cube published (out_indicateurs_public: the territory's, and at the
-- commune level the commune's name) and the COG year of the run.
-- Parameters: $annee_cog.
WITH libelles AS (
    SELECT niveau, code_territoire, max(libelle_territoire) AS libelle_territoire, bool_or(epci_partiel) AS epci_partiel
    FROM out_indicateurs_public
    GROUP BY niveau, code_territoire
)
SELECT
    m.niveau,
    m.code_territoire,
    t.libelle_territoire,
    t.epci_partiel,
    m.code_commune,
    c.libelle_territoire AS nom_commune,
    $annee_cog::INTEGER AS annee_cog
FROM out_cube_communes AS m
LEFT JOIN libelles AS t ON t.niveau = m.niveau AND t.code_territoire = m.code_territoire
LEFT JOIN libelles AS c ON c.niveau = 'commune' AND c.code_territoire = m.code_commune
