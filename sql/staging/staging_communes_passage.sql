-- staging_communes_passage: every code that is not a current commune (old code of a merged commune, commune
-- déléguée or associée, arrondissement municipal of Paris/Lyon/Marseille) -> the current commune it now belongs to,
-- for the communes of the département (staging_communes must exist).
-- Edges: the current parent (raw_cog_communes.code_commune_parent, v_commune's COMPARENT) first, else the latest
-- event of raw_cog_mouvements (v_mvt_commune) leading to a commune; chains of events are followed to the end.
WITH RECURSIVE actuelles AS (
    SELECT DISTINCT code_commune
    FROM raw_cog_communes
    WHERE typecom = 'COM' AND regexp_full_match(coalesce(code_commune, ''), '[0-9]{5}|2[AB][0-9]{3}')
),
aretes AS (
    SELECT fichier, ligne, code_commune AS ancien_code, code_commune_parent AS suivant, 1 AS priorite,
           CAST(NULL AS DATE) AS date_effet
    FROM raw_cog_communes
    WHERE typecom IN ('COMA', 'COMD', 'ARM') AND code_commune_parent IS NOT NULL
      AND code_commune IS DISTINCT FROM code_commune_parent
    UNION ALL
    SELECT fichier, ligne, code_av, code_ap, 2, TRY_CAST(date_effet AS DATE)
    FROM raw_cog_mouvements
    WHERE typecom_ap = 'COM' AND code_av IS DISTINCT FROM code_ap
),
aretes_motif AS (
    SELECT
        *,
        CASE
            WHEN NOT regexp_full_match(coalesce(ancien_code, ''), '[0-9]{5}|2[AB][0-9]{3}')
              OR NOT regexp_full_match(coalesce(suivant, ''), '[0-9]{5}|2[AB][0-9]{3}')
                THEN 'code commune mal formé'
        END AS motif
    FROM aretes
),
-- One way out of each old code: the current parent, else its latest event.
choix AS (
    SELECT *
    FROM aretes_motif
    WHERE motif IS NULL AND ancien_code NOT IN (SELECT code_commune FROM actuelles)
    QUALIFY row_number() OVER (
        PARTITION BY ancien_code ORDER BY priorite, date_effet DESC NULLS LAST, fichier, ligne DESC
    ) = 1
),
chaine(ancien_code, code, profondeur) AS (
    SELECT ancien_code, suivant, 1 FROM choix
    UNION ALL
    SELECT ch.ancien_code, c.suivant, ch.profondeur + 1
    FROM chaine AS ch
    JOIN choix AS c ON c.ancien_code = ch.code
    WHERE ch.profondeur < 50
),
resolus AS (
    SELECT ch.ancien_code, arg_min(ch.code, ch.profondeur) AS code_commune
    FROM chaine AS ch
    JOIN actuelles AS a ON a.code_commune = ch.code
    GROUP BY ch.ancien_code
),
passages AS (
    SELECT
        c.ancien_code,
        r.code_commune,
        [{'fichier': c.fichier, 'ligne': c.ligne}] AS _sources,
        CASE WHEN r.code_commune IS NULL THEN 'ancien code sans commune actuelle' END AS _motif_rejet
    FROM choix AS c
    LEFT JOIN resolus AS r USING (ancien_code)
    WHERE r.code_commune IN (SELECT code_commune FROM staging_communes)
       OR (r.code_commune IS NULL AND left(c.ancien_code, length($departement)) = $departement)
),
rejets_codes AS (
    SELECT
        coalesce(ancien_code, suivant) AS ancien_code,
        CAST(NULL AS VARCHAR) AS code_commune,
        [{'fichier': fichier, 'ligne': ligne}] AS _sources,
        motif AS _motif_rejet
    FROM aretes_motif
    WHERE motif IS NOT NULL
      AND (left(coalesce(ancien_code, ''), length($departement)) = $departement
           OR left(coalesce(suivant, ''), length($departement)) = $departement)
)
SELECT * FROM passages
UNION ALL BY NAME
SELECT * FROM rejets_codes
