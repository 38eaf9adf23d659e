-- The communes of the run (COG of the run, from staging_communes) with their zone d'emploi filled in.
-- The committed COG reference carries no zone d'emploi: when no INSEE zone file was staged, each commune takes the
-- zone URSSAF's commune × APE table gives it (zones d'emploi 2020; its most frequent code for the commune).
-- Every later step reads the communes from here, so that all levels agree on each commune's zone.
WITH zones_urssaf AS (
    SELECT code_commune, mode(code_zone_emploi) AS code_zone_emploi
    FROM staging_urssaf_commune_ape
    WHERE code_zone_emploi IS NOT NULL
    GROUP BY code_commune
)
SELECT c.* REPLACE (coalesce(c.code_zone_emploi, z.code_zone_emploi) AS code_zone_emploi)
FROM staging_communes AS c
LEFT JOIN zones_urssaf AS z USING (code_commune)
