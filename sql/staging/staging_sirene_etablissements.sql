-- staging_sirene_etablissements: establishments of the current SIRENE stock located in the requested départements.
-- Reads raw_sirene_etablissements, a view created by sources/sirene.py over the rows of StockEtablissement kept by
-- its single read: those located in a requested département and those that cannot be located at all (empty or
-- malformed commune code), every column as text, plus
--   _ligne        the row's line in the CSV (header = line 1) or its row number in the Parquet file,
--   _departement  the département of its commune code, NULL when it has none (such a row is rejected below, once),
--   _colonne_trop_longue / _valeur_trop_longue  the first needed column longer than the loader's limit, if any.
-- Prepared by the loader: the macros of macros_activite.sql over ref_formats_activite and ref_codes_activite,
-- and ref_tranches_codes (tranche).
-- Outputs the contract columns (docs/CONTRIBUTING.md), _departement, and for rejects _motif_rejet (the reason),
-- _colonne_rejet (the file column at fault) and _valeur_rejet (its value). Old commune codes are kept as found
-- (core maps them); legal forms are the legal units' business.
-- A siret held by several valid rows: sources/sirene.py keeps the most recently processed one (then the first in
-- the file) and rejects the others as « siret en double » on the materialised rows (ess.db.Duplicates).
WITH source AS NOT MATERIALIZED (
    SELECT * FROM raw_sirene_etablissements
),

-- (not materialized: read again, two columns only, by `activites`)
renamed AS NOT MATERIALIZED (
    SELECT
        _ligne,
        _departement,
        _colonne_trop_longue,
        _valeur_trop_longue,
        nullif(trim(siret), '') AS siret,
        nullif(trim(siren), '') AS siren,
        nullif(trim(nic), '') AS nic,
        nullif(trim(statutDiffusionEtablissement), '') AS statut_diffusion,
        nullif(trim(dateCreationEtablissement), '') AS date_creation_texte,
        nullif(trim(trancheEffectifsEtablissement), '') AS tranche_effectifs,
        nullif(trim(anneeEffectifsEtablissement), '') AS annee_effectifs_texte,
        nullif(lower(trim(etablissementSiege)), '') AS etablissement_siege_texte,
        nullif(upper(trim(codeCommuneEtablissement)), '') AS code_commune,
        nullif(trim(codePostalEtablissement), '') AS code_postal,
        nullif(trim(etatAdministratifEtablissement), '') AS etat_administratif,
        nullif(trim(dateDebut), '') AS date_debut_texte,
        nullif(trim(activitePrincipaleEtablissement), '') AS activite_principale,
        nullif(trim(nomenclatureActivitePrincipaleEtablissement), '') AS nomenclature_activite,
        nullif(trim(activitePrincipaleNAF25Etablissement), '') AS activite_principale_naf25,
        nullif(trim(caractereEmployeurEtablissement), '') AS caractere_employeur,
        nullif(trim(denominationUsuelleEtablissement), '') AS denomination_usuelle_fichier,
        -- The sign may span three lines in the file.
        nullif(trim(concat_ws(' ', nullif(trim(enseigne1Etablissement), ''), nullif(trim(enseigne2Etablissement), ''),
                              nullif(trim(enseigne3Etablissement), ''))), '') AS enseigne_fichier,
        nullif(trim(dateDernierTraitementEtablissement), '') AS date_dernier_traitement
    FROM source
),

-- The activity code against its nomenclature (sql/staging/macros_activite.sql), once per distinct pair: the
-- check's lookups then run on a few thousand pairs, not on every row (which DuckDB would first copy, and spill).
activites AS (
    SELECT
        activite_principale,
        nomenclature_activite,
        defaut_activite(activite_principale, nomenclature_activite, 'activitePrincipaleEtablissement',
                        'nomenclatureActivitePrincipaleEtablissement') AS defaut_activite
    FROM (SELECT DISTINCT activite_principale, nomenclature_activite FROM renamed)
),

typed AS (
    SELECT
        r.*,
        CAST(try_strptime(date_creation_texte, '%Y-%m-%d') AS DATE) AS date_creation,
        CAST(try_strptime(date_debut_texte, '%Y-%m-%d') AS DATE) AS date_debut,
        try_cast(annee_effectifs_texte AS INTEGER) AS annee_effectifs,
        CASE etablissement_siege_texte WHEN 'true' THEN true WHEN 'false' THEN false END AS etablissement_siege,
        a.defaut_activite,
        defaut_naf25(activite_principale_naf25, 'activitePrincipaleNAF25Etablissement') AS defaut_naf25
    FROM renamed AS r
    LEFT JOIN activites AS a ON r.activite_principale IS NOT DISTINCT FROM a.activite_principale
        AND r.nomenclature_activite IS NOT DISTINCT FROM a.nomenclature_activite
),

-- Every check names its reason, the column of the file at fault and the value found there. Order matters: the first
-- failing check is the one reported.
checked AS (
    SELECT
        t.*,
        coalesce(
            defaut_trop_long(t._colonne_trop_longue, t._valeur_trop_longue, t.statut_diffusion),
            defaut_siret(t.siren, t.nic, t.siret),
            CASE WHEN t.code_commune IS NULL
                THEN {'motif': 'code commune absent (établissement non localisable)',
                      'colonne': 'codeCommuneEtablissement', 'valeur': NULL::VARCHAR} END,
            defaut_identifiant(t.code_commune, '[0-9]{5}|2[AB][0-9]{3}', false, 'code commune invalide',
                               'codeCommuneEtablissement'),
            CASE WHEN t._departement IS NULL
                THEN {'motif': 'ancien code commune de Corse inconnu', 'colonne': 'codeCommuneEtablissement',
                      'valeur': t.code_commune} END,
            defaut_illisible(t.date_creation_texte, t.date_creation, 'date de création illisible',
                             'dateCreationEtablissement'),
            defaut_illisible(t.date_debut_texte, t.date_debut, 'date de début illisible', 'dateDebut'),
            defaut_illisible(t.annee_effectifs_texte, t.annee_effectifs, 'année des effectifs illisible',
                             'anneeEffectifsEtablissement'),
            defaut_tranche(t.tranche_effectifs, 'trancheEffectifsEtablissement'),
            defaut_illisible(t.etablissement_siege_texte, t.etablissement_siege, 'indicateur de siège illisible',
                             'etablissementSiege'),
            t.defaut_activite,
            t.defaut_naf25
        ) AS defaut
    FROM typed AS t
),

final AS (
    SELECT
        siret,
        siren,
        nic,
        statut_diffusion,
        date_creation,
        tranche_effectifs,
        annee_effectifs,
        etablissement_siege,
        code_commune,
        code_postal,
        etat_administratif,
        date_debut,
        activite_principale,
        nomenclature_activite,
        activite_principale_naf25,
        caractere_employeur,
        -- Partial diffusion: no identifying field may leave the file, whatever it holds ('[ND]' or not).
        CASE WHEN statut_diffusion = 'P' OR denomination_usuelle_fichier = '[ND]' THEN NULL
             ELSE denomination_usuelle_fichier END AS denomination_usuelle,
        CASE WHEN statut_diffusion = 'P' OR enseigne_fichier LIKE '%[ND]%' THEN NULL
             ELSE enseigne_fichier END AS enseigne,
        _departement,
        _ligne,
        -- the order of the duplicates of a key (sources/sirene.py rejects all but the first): the most recently
        -- processed one first
        date_dernier_traitement AS _ordre_doublon,
        defaut.motif AS _motif_rejet,
        defaut.colonne AS _colonne_rejet,
        defaut.valeur AS _valeur_rejet
    FROM checked
)

SELECT * FROM final
