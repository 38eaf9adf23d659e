-- staging_territoires: the commune -> territoire table of the département (e.g. the Département de l'Isère's 13
-- territoires), from a user-provided table or the committed approximation. Old commune codes are mapped to the
-- current commune (staging_communes and staging_communes_passage must exist). A commune given two different
-- territoires keeps the first one; the other lines are rejected.
WITH lignes AS (
    SELECT
        t.*,
        coalesce(s.code_commune, p.code_commune) AS code_actuel,
        coalesce(
            t.code_territoire,
            trim(regexp_replace(lower(strip_accents(t.nom_territoire)), '[^a-z0-9]+', '_', 'g'), '_')
        ) AS code_territoire_calcule
    FROM raw_territoires AS t
    LEFT JOIN staging_communes AS s ON s.code_commune = t.code_commune
    LEFT JOIN staging_communes_passage AS p ON p.ancien_code = t.code_commune
    WHERE s.code_commune IS NOT NULL OR p.code_commune IS NOT NULL
       OR left(coalesce(t.code_commune, ''), length($departement)) = $departement
),
motifs AS (
    SELECT
        *,
        CASE
            WHEN NOT regexp_full_match(coalesce(code_commune, ''), '[0-9]{5}|2[AB][0-9]{3}')
                THEN 'code commune mal formé'
            WHEN code_actuel IS NULL THEN 'commune absente du COG'
            WHEN nom_territoire IS NULL THEN 'territoire manquant'
        END AS motif
    FROM lignes
),
premier AS (
    SELECT code_actuel, arg_min(code_territoire_calcule, ligne) AS code_territoire
    FROM motifs
    WHERE motif IS NULL
    GROUP BY code_actuel
),
gardees AS (
    SELECT
        m.code_actuel AS code_commune,
        m.code_territoire_calcule AS code_territoire,
        arg_min(m.nom_territoire, m.ligne) AS nom_territoire,
        arg_min(m.source_territoire, m.ligne) AS source_territoire,
        list({'fichier': m.fichier, 'ligne': m.ligne}) AS _sources,
        CAST(NULL AS VARCHAR) AS _motif_rejet
    FROM motifs AS m
    JOIN premier AS f ON f.code_actuel = m.code_actuel AND f.code_territoire = m.code_territoire_calcule
    WHERE m.motif IS NULL
    GROUP BY m.code_actuel, m.code_territoire_calcule
)
SELECT * FROM gardees
UNION ALL BY NAME
SELECT
    m.code_commune,
    [{'fichier': m.fichier, 'ligne': m.ligne}] AS _sources,
    coalesce(m.motif, 'commune affectée à plusieurs territoires') AS _motif_rejet
FROM motifs AS m
LEFT JOIN premier AS f ON f.code_actuel = m.code_actuel AND f.code_territoire = m.code_territoire_calcule
WHERE m.motif IS NOT NULL OR f.code_actuel IS NULL
