-- staging_urssaf_commune_ape (long): every private employer of the requested départements by commune × APE × year,
-- from the URSSAF table that is wide by year (nombre_d_etablissements_YYYY, effectifs_salaries_YYYY).
-- Prepared by sources/urssaf.py: raw_urssaf_commune_ape (the file's rows of the départements and those without a
-- valid département code, every column VARCHAR, plus _ligne — line in the file — and _departement — NULL when the
-- row has no valid code: rejected here, once; only the year columns to stage; zone_d_emploi, the zone's name, is
-- NULL when the file lacks that column).
-- Parameter: $separateur_decimal (',' for French exports, '.' otherwise; no thousands separator).
-- A file row is staged whole (one output row per year, values NULL where the file is empty: secret or no data) or
-- rejected whole: then exactly one row carries its reason, with annee = the first faulty year for a value problem.
WITH brut AS (
    SELECT
        _ligne,
        _departement,
        nullif(trim(code_departement), '') AS code_departement_texte,
        -- départements 01-09: a 4-digit commune code lost its leading zero in a spreadsheet ('1004' -> '01004')
        CASE WHEN starts_with(_departement, '0') AND regexp_full_match(trim(code_commune), '[0-9]{4}')
             THEN '0' || trim(code_commune)
             ELSE upper(nullif(trim(code_commune), '')) END AS code_commune,
        nullif(trim(code_epci), '') AS code_epci,
        CASE WHEN regexp_full_match(trim(code_zone_d_emploi), '[0-9]{1,3}') THEN lpad(trim(code_zone_d_emploi), 4, '0')
             ELSE nullif(trim(code_zone_d_emploi), '') END AS code_zone_emploi,
        nullif(trim(zone_d_emploi), '') AS libelle_zone_emploi,
        upper(replace(nullif(trim(code_ape), ''), '.', '')) AS code_ape
    FROM raw_urssaf_commune_ape
),

cellules AS (
    SELECT _ligne, colonne, nullif(trim(valeur), '') AS texte
    FROM raw_urssaf_commune_ape
    UNPIVOT INCLUDE NULLS (
        valeur FOR colonne IN (COLUMNS('^(nombre_d_etablissements|effectifs_salaries)_[0-9]{4}$'))
    )
),

valeurs AS (
    SELECT
        _ligne,
        CAST(right(colonne, 4) AS INTEGER) AS annee,
        colonne,
        starts_with(colonne, 'nombre_d_etablissements_') AS est_nb_etablissements,
        texte,
        TRY_CAST(replace(texte, $separateur_decimal, '.') AS DOUBLE)
            AS valeur
    FROM cellules
),

defauts AS (
    SELECT
        _ligne,
        min(annee) FILTER (WHERE texte IS NOT NULL AND (valeur IS NULL OR NOT isfinite(valeur))) AS annee_non_numerique,
        arg_min(texte, annee) FILTER (WHERE texte IS NOT NULL AND (valeur IS NULL OR NOT isfinite(valeur)))
            AS texte_non_numerique,
        arg_min(colonne, annee) FILTER (WHERE texte IS NOT NULL AND (valeur IS NULL OR NOT isfinite(valeur)))
            AS colonne_non_numerique,
        min(annee) FILTER (WHERE valeur < 0) AS annee_negative,
        arg_min(texte, annee) FILTER (WHERE valeur < 0) AS texte_negatif,
        arg_min(colonne, annee) FILTER (WHERE valeur < 0) AS colonne_negative
    FROM valeurs
    GROUP BY _ligne
),

controlee AS (
    SELECT
        b.*,
        d.annee_non_numerique,
        d.annee_negative,
        CASE
            WHEN b.code_departement_texte IS NULL THEN {'motif': 'code_departement manquant', 'colonne': 'code_departement', 'valeur': NULL}
            WHEN b._departement IS NULL
                THEN {'motif': 'code_departement invalide', 'colonne': 'code_departement', 'valeur': b.code_departement_texte}
            WHEN b.code_commune IS NULL OR NOT regexp_full_match(b.code_commune, '[0-9]{5}|2[AB][0-9]{3}')
                THEN {'motif': 'code_commune invalide', 'colonne': 'code_commune', 'valeur': b.code_commune}
            WHEN NOT starts_with(b.code_commune, b._departement)
                THEN {'motif': 'code_commune hors du département', 'colonne': 'code_commune', 'valeur': b.code_commune}
            WHEN b.code_ape IS NULL OR NOT regexp_full_match(b.code_ape, '[0-9]{4}[A-Z]')
                THEN {'motif': 'code_ape invalide', 'colonne': 'code_ape', 'valeur': b.code_ape}
            WHEN d.annee_non_numerique IS NOT NULL
                THEN {'motif': 'valeur non numérique', 'colonne': d.colonne_non_numerique, 'valeur': d.texte_non_numerique}
            WHEN d.annee_negative IS NOT NULL
                THEN {'motif': 'valeur négative', 'colonne': d.colonne_negative, 'valeur': d.texte_negatif}
        END AS defaut
    FROM brut AS b
    LEFT JOIN defauts AS d USING (_ligne)
),

-- Two usable file rows for the same commune × APE would double the denominator: reject both.
lignes AS (
    SELECT
        *,
        CASE WHEN defaut IS NULL
                  AND sum(CASE WHEN defaut IS NULL THEN 1 ELSE 0 END) OVER (PARTITION BY code_commune, code_ape) > 1
             THEN {'motif': 'doublon (code_commune, code_ape)', 'colonne': 'code_ape', 'valeur': code_ape}
             ELSE defaut END AS rejet
    FROM controlee
),

mesures AS (
    SELECT
        _ligne,
        annee,
        max(valeur) FILTER (WHERE est_nb_etablissements) AS nb_etablissements,
        max(valeur) FILTER (WHERE NOT est_nb_etablissements) AS effectifs_salaries
    FROM valeurs
    GROUP BY _ligne, annee
),

sortie AS (
    SELECT l.code_commune, l.code_epci, l.code_zone_emploi, l.libelle_zone_emploi, l.code_ape, m.annee, m.nb_etablissements,
           m.effectifs_salaries, l._departement, l._ligne, NULL AS _motif_rejet, NULL AS _colonne_rejet,
           NULL AS _valeur_rejet
    FROM lignes AS l
    JOIN mesures AS m USING (_ligne)
    WHERE l.rejet IS NULL

    UNION ALL

    SELECT code_commune, code_epci, code_zone_emploi, libelle_zone_emploi, code_ape,
           CASE rejet.motif WHEN 'valeur non numérique' THEN annee_non_numerique
                            WHEN 'valeur négative' THEN annee_negative END,
           NULL, NULL, _departement, _ligne, rejet.motif, rejet.colonne, rejet.valeur
    FROM lignes
    WHERE rejet IS NOT NULL
)

SELECT
    code_commune,
    code_epci,
    code_zone_emploi,
    libelle_zone_emploi,
    code_ape,
    CAST(annee AS INTEGER) AS annee,
    CAST(nb_etablissements AS DOUBLE) AS nb_etablissements,
    CAST(effectifs_salaries AS DOUBLE) AS effectifs_salaries,
    _departement,
    _ligne,
    _motif_rejet,
    _colonne_rejet,
    _valeur_rejet
FROM sortie
ORDER BY code_commune, code_ape, annee
