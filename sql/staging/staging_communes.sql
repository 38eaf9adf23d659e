-- staging_communes: the current communes (TYPECOM = 'COM') of the département, with their EPCI, population and zone
-- d'emploi. Inputs are the loader's normalised temp tables raw_cog_communes, raw_epci, raw_epci_membres,
-- raw_populations and raw_zones_emploi (all VARCHAR, with fichier/ligne). `_sources` lists the file lines each row
-- used (for the accounting; dropped after staging). Arrondissements municipaux, communes déléguées and associées are
-- not communes: they feed staging_communes_passage.
WITH cog AS (
    SELECT
        *,
        row_number() OVER (PARTITION BY code_commune ORDER BY fichier, ligne) AS rang
    FROM raw_cog_communes
    WHERE typecom = 'COM'
      AND coalesce(code_departement, left(code_commune, length($departement))) = $departement
),
cog_motif AS (
    SELECT
        *,
        CASE
            WHEN NOT regexp_full_match(coalesce(code_commune, ''), '[0-9]{5}|2[AB][0-9]{3}')
                THEN 'code commune mal formé'
            WHEN nom_commune IS NULL THEN 'nom de commune manquant'
            WHEN rang > 1 THEN 'code commune en double'
        END AS motif
    FROM cog
),
tous_codes_cog AS (
    SELECT DISTINCT code_commune FROM raw_cog_communes WHERE code_commune IS NOT NULL
),
epci_connus AS (
    SELECT DISTINCT siren_epci FROM raw_epci WHERE regexp_full_match(coalesce(siren_epci, ''), '[0-9]{9}')
),
membres AS (
    SELECT m.*, row_number() OVER (PARTITION BY m.code_commune ORDER BY m.fichier, m.ligne) AS rang
    FROM raw_epci_membres AS m
    JOIN epci_connus USING (siren_epci)
),
populations AS (
    SELECT
        *,
        TRY_CAST(replace(replace(population, ' ', ''), chr(160), '') AS INTEGER) AS population_entiere,
        row_number() OVER (PARTITION BY code_commune ORDER BY fichier, ligne) AS rang
    FROM raw_populations
),
zones AS (
    SELECT *, row_number() OVER (PARTITION BY code_commune ORDER BY fichier, ligne) AS rang
    FROM raw_zones_emploi
    WHERE code_zone_emploi IS NOT NULL
),
communes AS (
    SELECT
        c.code_commune,
        c.nom_commune,
        c.code_departement,
        c.code_region,
        c.code_arrondissement,
        m.siren_epci,
        z.code_zone_emploi,
        p.population_entiere AS population,
        CAST($annee_cog AS INTEGER) AS annee_cog,
        list_filter(
            [{'fichier': c.fichier, 'ligne': c.ligne}, {'fichier': m.fichier, 'ligne': m.ligne},
             {'fichier': p.fichier, 'ligne': p.ligne}, {'fichier': z.fichier, 'ligne': z.ligne}],
            lambda s: s.ligne IS NOT NULL
        ) AS _sources,
        c.motif AS _motif_rejet
    FROM cog_motif AS c
    LEFT JOIN membres AS m ON c.motif IS NULL AND m.code_commune = c.code_commune AND m.rang = 1
    LEFT JOIN populations AS p
        ON c.motif IS NULL AND p.code_commune = c.code_commune AND p.rang = 1 AND p.population_entiere IS NOT NULL
    LEFT JOIN zones AS z ON c.motif IS NULL AND z.code_commune = c.code_commune AND z.rang = 1
),
communes_gardees AS (
    SELECT code_commune FROM communes WHERE _motif_rejet IS NULL
),
-- Lines of the population / zone d'emploi files that concern the département but cannot be used.
rejets_populations AS (
    SELECT
        p.code_commune,
        [{'fichier': p.fichier, 'ligne': p.ligne}] AS _sources,
        CASE
            WHEN p.code_commune NOT IN (SELECT code_commune FROM tous_codes_cog)
                THEN 'population : commune absente du COG'
            WHEN p.population_entiere IS NULL THEN 'population non numérique'
            WHEN p.rang > 1 THEN 'population en double'
        END AS _motif_rejet
    FROM populations AS p
    WHERE left(coalesce(p.code_commune, ''), length($departement)) = $departement
      AND (p.code_commune IN (SELECT code_commune FROM communes_gardees)
           OR p.code_commune NOT IN (SELECT code_commune FROM tous_codes_cog))
),
rejets_zones AS (
    SELECT
        z.code_commune,
        [{'fichier': z.fichier, 'ligne': z.ligne}] AS _sources,
        CASE
            WHEN z.code_commune NOT IN (SELECT code_commune FROM tous_codes_cog)
                THEN 'zone d''emploi : commune absente du COG'
            WHEN z.rang > 1 THEN 'zone d''emploi en double'
        END AS _motif_rejet
    FROM zones AS z
    WHERE left(coalesce(z.code_commune, ''), length($departement)) = $departement
)
SELECT * FROM communes
UNION ALL BY NAME
SELECT * FROM rejets_populations WHERE _motif_rejet IS NOT NULL
UNION ALL BY NAME
SELECT * FROM rejets_zones WHERE _motif_rejet IS NOT NULL
