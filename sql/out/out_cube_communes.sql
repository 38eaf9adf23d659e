-- Each commune's code at every level, as the cube groups them: the frame's communes (COG of the run) plus any
-- attachment seen on establishments (e.g. 'non_renseigne'). The confidentiality step builds its territorial
-- relations (EPCI, arrondissement, zone d'emploi, territoire, département = Σ communes) from this table, so it must
-- hold one row per commune; transforms/outputs.py checks it.
-- Parameters: $departement.
WITH frame AS (
    SELECT
        c.code_commune,
        coalesce(c.siren_epci, 'non_renseigne') AS code_epci,
        coalesce(c.code_arrondissement, 'non_renseigne') AS code_arrondissement,
        coalesce(c.code_zone_emploi, 'non_renseigne') AS code_zone_emploi,
        coalesce(t.code_territoire, 'non_renseigne') AS code_territoire
    FROM core_communes AS c
    LEFT JOIN staging_territoires AS t USING (code_commune)
    WHERE c.code_departement = $departement
)
SELECT DISTINCT code_commune, code_epci, code_arrondissement, code_zone_emploi, code_territoire,
       $departement AS code_departement
FROM (
    SELECT * FROM frame
    UNION ALL
    SELECT code_commune, code_epci, code_arrondissement, code_zone_emploi, code_territoire
    FROM out_cube_etablissements
)
