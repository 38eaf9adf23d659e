-- staging_urssaf_ess_departement: URSSAF's official ESS employment of the requested départements, one row per file
-- row (département × annee × champ ESS × famille ESS), typed; champ and famille as our codes.
-- Prepared by sources/urssaf.py: raw_urssaf_ess_departement (the file's rows of the départements and those without
-- a valid département code, every column VARCHAR, plus _ligne — line in the file — and _departement — NULL when
-- the row has no valid code: rejected here, once), ref_urssaf_familles(cle, famille) from
-- data/reference/urssaf_familles.csv, and the macro urssaf_cle_libelle() (label match key: case, accents and
-- spaces ignored). Parameter: $separateur_decimal (',' for French exports, '.' otherwise; no thousands separator).
-- Output codes: champ_ess in ('ess', 'hors_ess', 'ensemble'); famille_ess in ('associations', 'cooperatives',
-- 'mutuelles', 'fondations') or, for a total row, the champ's code ('ess', 'hors_ess', 'ensemble').
-- Empty numbers stay NULL (not 0).
WITH brut AS (
    SELECT
        _ligne,
        _departement,
        nullif(trim(code_departement), '') AS code_departement_texte,
        nullif(trim(annee), '') AS annee_texte,
        nullif(trim(champ_ess), '') AS champ_texte,
        nullif(trim(famille_ess), '') AS famille_texte,
        nullif(trim(nombre_d_etablissements), '') AS nb_texte,
        nullif(trim(effectifs_salaries_moyens), '') AS eff_texte,
        nullif(trim(masse_salariale), '') AS masse_texte
    FROM raw_urssaf_ess_departement
),

typee AS (
    SELECT
        b.*,
        -- 'YYYY' (or a date 'YYYY-MM-DD' if the portal ever exports the year as a date)
        CASE WHEN regexp_full_match(b.annee_texte, '[0-9]{4}(-[0-9]{2}-[0-9]{2})?')
             THEN CAST(left(b.annee_texte, 4) AS INTEGER) END AS annee,
        TRY_CAST(replace(b.nb_texte, $separateur_decimal, '.') AS DOUBLE)
            AS nb_etablissements,
        TRY_CAST(replace(b.eff_texte, $separateur_decimal, '.') AS DOUBLE)
            AS effectifs_salaries,
        TRY_CAST(replace(b.masse_texte, $separateur_decimal, '.') AS DOUBLE)
            AS masse_salariale,
        c.famille AS champ_code,
        f.famille AS famille_code,
        -- the champ a family belongs to
        CASE WHEN f.famille IN ('associations', 'cooperatives', 'mutuelles', 'fondations', 'ess') THEN 'ess'
             WHEN f.famille = 'hors_ess' THEN 'hors_ess' END AS champ_de_famille
    FROM brut AS b
    LEFT JOIN ref_urssaf_familles AS c ON c.cle = urssaf_cle_libelle(b.champ_texte)
    LEFT JOIN ref_urssaf_familles AS f ON f.cle = urssaf_cle_libelle(b.famille_texte)
),

codee AS (
    SELECT
        *,
        -- champ from the champ label, else from the family; an empty or 'ensemble' famille is the champ's total
        CASE WHEN champ_code IN ('ess', 'hors_ess') THEN champ_code
             ELSE coalesce(champ_de_famille, champ_code, CASE WHEN famille_code = 'ensemble' THEN 'ensemble' END)
        END AS champ_ess
    FROM typee
),

controlee AS (
    SELECT
        *,
        CASE WHEN famille_code IS NULL OR famille_code = 'ensemble' THEN champ_ess ELSE famille_code END
            AS famille_ess,
        CASE
            WHEN code_departement_texte IS NULL THEN 'code_departement manquant'
            WHEN _departement IS NULL THEN 'code_departement invalide'
            WHEN annee IS NULL THEN 'annee invalide'
            WHEN champ_texte IS NULL AND famille_texte IS NULL THEN 'champ_ess et famille_ess manquants'
            WHEN champ_code NOT IN ('ess', 'hors_ess', 'ensemble') THEN 'champ_ess inattendu'
            WHEN champ_code IN ('ess', 'hors_ess') AND champ_de_famille IS NOT NULL AND champ_de_famille <> champ_code
                THEN 'champ_ess et famille_ess incohérents'
            WHEN (nb_texte IS NOT NULL AND (nb_etablissements IS NULL OR NOT isfinite(nb_etablissements)))
              OR (eff_texte IS NOT NULL AND (effectifs_salaries IS NULL OR NOT isfinite(effectifs_salaries)))
              OR (masse_texte IS NOT NULL AND (masse_salariale IS NULL OR NOT isfinite(masse_salariale)))
                THEN 'valeur non numérique'
            WHEN nb_etablissements < 0 OR effectifs_salaries < 0 OR masse_salariale < 0 THEN 'valeur négative'
        END AS motif
    FROM codee
),

-- Two usable rows for the same (annee, champ, famille) would be counted twice by the calibration. When they carry
-- the same figures they are one figure under two labels (a champ of a single family: « Hors ESS » and its total
-- « Ensemble » both become hors_ess/hors_ess once labels are normalised): the row labelled with the family itself
-- is staged, the other rejected as a copy — rejecting both would lose the « Hors ESS » target. Rows that disagree,
-- or a line repeated under the same label, are all rejected: there is no telling which one is right.
groupes AS (
    SELECT
        *,
        count(*) FILTER (WHERE motif IS NULL) OVER w AS nb_utilisables,
        count(DISTINCT (nb_etablissements, effectifs_salaries, masse_salariale)) FILTER (WHERE motif IS NULL) OVER w
            AS nb_versions,
        count(DISTINCT (urssaf_cle_libelle(coalesce(champ_texte, '')), urssaf_cle_libelle(coalesce(famille_texte, ''))))
            FILTER (WHERE motif IS NULL) OVER w AS nb_libelles,
        row_number() OVER (PARTITION BY _departement, annee, champ_ess, famille_ess, motif IS NULL
                           ORDER BY coalesce(famille_code = 'ensemble', TRUE), _ligne) AS rang
    FROM controlee
    WINDOW w AS (PARTITION BY _departement, annee, champ_ess, famille_ess)
),

dedoublonnee AS (
    SELECT
        * EXCLUDE (nb_utilisables, nb_versions, nb_libelles, rang),
        CASE WHEN motif IS NOT NULL OR nb_utilisables = 1 THEN motif
             WHEN nb_versions > 1 OR nb_libelles < nb_utilisables THEN 'doublon (annee, champ_ess, famille_ess)'
             WHEN rang > 1 THEN 'doublon identique (même chiffre sous un autre libellé)'
        END AS _motif_rejet
    FROM groupes
)

SELECT
    annee,
    _departement AS code_departement,
    champ_ess,
    famille_ess,
    nb_etablissements,
    effectifs_salaries,
    masse_salariale,
    _departement,
    _ligne,
    _motif_rejet,
    CASE _motif_rejet
        WHEN 'code_departement manquant' THEN 'code_departement' WHEN 'code_departement invalide' THEN 'code_departement'
        WHEN 'annee invalide' THEN 'annee' WHEN 'champ_ess et famille_ess manquants' THEN 'famille_ess'
        WHEN 'champ_ess inattendu' THEN 'champ_ess' WHEN 'champ_ess et famille_ess incohérents' THEN 'famille_ess'
        WHEN 'doublon identique (même chiffre sous un autre libellé)' THEN 'famille_ess'
        WHEN 'valeur non numérique' THEN CASE WHEN nb_texte IS NOT NULL AND nb_etablissements IS NULL
            THEN 'nombre_d_etablissements' WHEN eff_texte IS NOT NULL AND effectifs_salaries IS NULL
            THEN 'effectifs_salaries_moyens' ELSE 'masse_salariale' END
        WHEN 'valeur négative' THEN CASE WHEN nb_etablissements < 0 THEN 'nombre_d_etablissements'
            WHEN effectifs_salaries < 0 THEN 'effectifs_salaries_moyens' ELSE 'masse_salariale' END
    END AS _colonne_rejet,
    CASE _motif_rejet
        WHEN 'code_departement manquant' THEN NULL WHEN 'code_departement invalide' THEN code_departement_texte
        WHEN 'annee invalide' THEN annee_texte WHEN 'champ_ess inattendu' THEN champ_texte
        WHEN 'champ_ess et famille_ess incohérents' THEN famille_texte
        WHEN 'doublon identique (même chiffre sous un autre libellé)' THEN famille_texte
        WHEN 'valeur non numérique' THEN CASE WHEN nb_texte IS NOT NULL AND nb_etablissements IS NULL THEN nb_texte
            WHEN eff_texte IS NOT NULL AND effectifs_salaries IS NULL THEN eff_texte ELSE masse_texte END
        WHEN 'valeur négative' THEN CASE WHEN nb_etablissements < 0 THEN nb_texte
            WHEN effectifs_salaries < 0 THEN eff_texte ELSE masse_texte END
    END AS _valeur_rejet
FROM dedoublonnee
ORDER BY _departement, annee, champ_ess, famille_ess, _ligne
