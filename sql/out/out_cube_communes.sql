-- The territorial dimension, long: each commune's territory at every level, one row per commune × niveau. Levels
-- of the COG (commune, EPCI, arrondissement, zone d'emploi, département) come from core_communes; every zoning of
-- the reference folder covering the département adds its level (ref_zonages, transforms/zonages.py: it covers
-- every commune). The communes are the frame's (COG of the run) plus any commune seen on establishments (e.g.
-- 'non_renseigne'), whose levels are all 'non_renseigne' but the département. The cube (out_indicateurs.sql), its
-- frame (out_cube_territoires.sql) and the confidentiality relations (each territory = Σ its communes) read the
-- levels from here only; transforms/outputs.py checks one row per commune and level.
-- Parameters: $departement.
WITH frame AS (
    SELECT code_commune, siren_epci, code_arrondissement, code_zone_emploi
    FROM core_communes
    WHERE code_departement = $departement
),
cog AS (
    SELECT code_commune, 'commune' AS niveau, code_commune AS code_territoire FROM frame
    UNION ALL
    SELECT code_commune, 'epci', coalesce(siren_epci, 'non_renseigne') FROM frame
    UNION ALL
    SELECT code_commune, 'arrondissement', coalesce(code_arrondissement, 'non_renseigne') FROM frame
    UNION ALL
    SELECT code_commune, 'zone_emploi', coalesce(code_zone_emploi, 'non_renseigne') FROM frame
    UNION ALL
    SELECT code_commune, 'departement', $departement FROM frame
),
zonages AS (
    SELECT z.code_commune, z.niveau, z.code_territoire
    FROM ref_zonages AS z
    JOIN frame USING (code_commune)
),
niveaux AS (
    SELECT DISTINCT niveau FROM cog
    UNION
    SELECT DISTINCT niveau FROM zonages
),
-- communes of establishments outside the frame: 'non_renseigne' at every level but their own and the département
hors_cadre AS (
    SELECT DISTINCT e.code_commune
    FROM out_cube_etablissements AS e
    ANTI JOIN frame AS f USING (code_commune)
),
inconnues AS (
    SELECT h.code_commune, n.niveau,
           CASE n.niveau WHEN 'commune' THEN h.code_commune WHEN 'departement' THEN $departement
                ELSE 'non_renseigne' END AS code_territoire
    FROM hors_cadre AS h
    CROSS JOIN niveaux AS n
)
SELECT code_commune, niveau, code_territoire FROM cog
UNION ALL
SELECT code_commune, niveau, code_territoire FROM zonages
UNION ALL
SELECT code_commune, niveau, code_territoire FROM inconnues
ORDER BY code_commune, niveau
