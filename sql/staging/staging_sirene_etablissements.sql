-- staging_sirene_etablissements: establishments of the current SIRENE stock located in the département.
-- Reads raw_sirene_etablissements, a view created by sources/sirene.py over the rows of StockEtablissement whose
-- commune code starts with the département code (plus the rows located nowhere), every column as text.
-- Outputs the contract columns (docs/CONTRIBUTING.md) and _motif_rejet: NULL for a kept row, else the reason.
-- Not rejected on purpose: unknown codes (activity, size band), old commune codes — other steps count them.
WITH source AS (
    SELECT * FROM raw_sirene_etablissements
),

renamed AS (
    SELECT
        _ligne,
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

typed AS (
    SELECT
        *,
        CAST(try_strptime(date_creation_texte, '%Y-%m-%d') AS DATE) AS date_creation,
        CAST(try_strptime(date_debut_texte, '%Y-%m-%d') AS DATE) AS date_debut,
        try_cast(annee_effectifs_texte AS INTEGER) AS annee_effectifs,
        CASE etablissement_siege_texte WHEN 'true' THEN true WHEN 'false' THEN false END AS etablissement_siege
    FROM renamed
),

checked AS (
    SELECT
        *,
        CASE
            WHEN siren IS NULL OR NOT regexp_full_match(siren, '[0-9]{9}') THEN 'siren invalide'
            WHEN nic IS NULL OR NOT regexp_full_match(nic, '[0-9]{5}') THEN 'nic invalide'
            WHEN siret IS NULL OR NOT regexp_full_match(siret, '[0-9]{14}') THEN 'siret invalide'
            WHEN siret <> siren || nic THEN 'siret différent de siren + nic'
            WHEN code_commune IS NULL THEN 'code commune absent (établissement non localisable)'
            WHEN NOT regexp_full_match(code_commune, '[0-9]{5}|2[AB][0-9]{3}') THEN 'code commune invalide'
            WHEN date_creation_texte IS NOT NULL AND date_creation IS NULL THEN 'date de création illisible'
            WHEN date_debut_texte IS NOT NULL AND date_debut IS NULL THEN 'date de début illisible'
            WHEN annee_effectifs_texte IS NOT NULL AND annee_effectifs IS NULL THEN 'année des effectifs illisible'
            WHEN etablissement_siege_texte IS NOT NULL AND etablissement_siege IS NULL
                THEN 'indicateur de siège illisible'
        END AS motif_ligne
    FROM typed
),

deduplicated AS (
    -- One row per siret among the valid rows: the most recently processed one, then the first in the file.
    SELECT
        *,
        CASE WHEN motif_ligne IS NULL THEN
            row_number() OVER (PARTITION BY siret, motif_ligne IS NULL
                               ORDER BY date_dernier_traitement DESC NULLS LAST, _ligne)
        END AS rang_siret
    FROM checked
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
        coalesce(motif_ligne, CASE WHEN rang_siret > 1 THEN 'siret en double' END) AS _motif_rejet
    FROM deduplicated
)

SELECT * FROM final
