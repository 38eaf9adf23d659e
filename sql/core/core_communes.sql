-- The communes of the run (COG of the run, from staging_communes) with their zone d'emploi filled in.
-- The committed COG reference carries no zone d'emploi: when no INSEE zone file was staged, each commune takes the
-- zone URSSAF's commune × APE table gives it (zones d'emploi 2020; its most frequent code for the commune).
-- The zone's name comes from that table too (its most frequent name for the code; NULL when the file has none).
-- Every later step reads the communes from here, so that all levels agree on each commune's zone.
WITH zones_urssaf AS (
    SELECT code_commune, mode(code_zone_emploi) AS code_zone_emploi
    FROM staging_urssaf_commune_ape
    WHERE code_zone_emploi IS NOT NULL
    GROUP BY code_commune
),
noms_zones AS (
    SELECT code_zone_emploi, libelle_zone_emploi, count(*) AS n
    FROM staging_urssaf_commune_ape
    WHERE code_zone_emploi IS NOT NULL AND libelle_zone_emploi IS NOT NULL
    GROUP BY ALL
),
libelles_zones AS (
    SELECT code_zone_emploi, arg_max(libelle_zone_emploi, (n, libelle_zone_emploi)) AS libelle_zone_emploi
    FROM noms_zones
    GROUP BY code_zone_emploi
),
communes AS (
    SELECT c.* REPLACE (coalesce(c.code_zone_emploi, z.code_zone_emploi) AS code_zone_emploi)
    FROM staging_communes AS c
    LEFT JOIN zones_urssaf AS z USING (code_commune)
)
SELECT c.*, l.libelle_zone_emploi
FROM communes AS c
LEFT JOIN libelles_zones AS l USING (code_zone_emploi)
