-- staging_sirene_unites_legales: legal units of the département's establishments (current SIRENE stock).
-- Reads raw_sirene_unites_legales, a view created by sources/sirene.py over the rows of StockUniteLegale whose
-- siren is one of the staged establishments', every column as text.
-- Outputs the contract columns (docs/CONTRIBUTING.md) and _motif_rejet: NULL for a kept row, else the reason.
-- Not rejected on purpose: unknown or padded legal forms ('5400', '2200'), empty size bands — they are data that
-- other steps count.
WITH source AS (
    SELECT * FROM raw_sirene_unites_legales
),

renamed AS (
    SELECT
        _ligne,
        nullif(trim(siren), '') AS siren,
        nullif(trim(statutDiffusionUniteLegale), '') AS statut_diffusion,
        nullif(trim(dateCreationUniteLegale), '') AS date_creation_texte,
        nullif(trim(categorieJuridiqueUniteLegale), '') AS categorie_juridique,
        nullif(trim(activitePrincipaleUniteLegale), '') AS activite_principale,
        nullif(trim(nomenclatureActivitePrincipaleUniteLegale), '') AS nomenclature_activite,
        nullif(trim(activitePrincipaleNAF25UniteLegale), '') AS activite_principale_naf25,
        nullif(trim(economieSocialeSolidaireUniteLegale), '') AS economie_sociale_solidaire,
        nullif(trim(societeMissionUniteLegale), '') AS societe_mission,
        nullif(trim(caractereEmployeurUniteLegale), '') AS caractere_employeur,
        nullif(trim(trancheEffectifsUniteLegale), '') AS tranche_effectifs,
        nullif(trim(anneeEffectifsUniteLegale), '') AS annee_effectifs_texte,
        nullif(trim(etatAdministratifUniteLegale), '') AS etat_administratif,
        nullif(trim(nicSiegeUniteLegale), '') AS nic_siege,
        nullif(trim(categorieEntreprise), '') AS categorie_entreprise,
        nullif(trim(dateDebut), '') AS date_debut_texte,
        -- A legal person has a denomination; a natural person (entrepreneur individuel) has names instead.
        coalesce(
            nullif(trim(denominationUniteLegale), ''),
            nullif(trim(concat_ws(' ',
                coalesce(nullif(trim(prenomUsuelUniteLegale), ''), nullif(trim(prenom1UniteLegale), '')),
                coalesce(nullif(trim(nomUsageUniteLegale), ''), nullif(trim(nomUniteLegale), '')))), '')
        ) AS denomination_fichier,
        nullif(trim(dateDernierTraitementUniteLegale), '') AS date_dernier_traitement
    FROM source
),

typed AS (
    SELECT
        *,
        CAST(try_strptime(date_creation_texte, '%Y-%m-%d') AS DATE) AS date_creation,
        CAST(try_strptime(date_debut_texte, '%Y-%m-%d') AS DATE) AS date_debut,
        try_cast(annee_effectifs_texte AS INTEGER) AS annee_effectifs
    FROM renamed
),

checked AS (
    SELECT
        *,
        CASE
            WHEN siren IS NULL OR NOT regexp_full_match(siren, '[0-9]{9}') THEN 'siren invalide'
            WHEN nic_siege IS NOT NULL AND NOT regexp_full_match(nic_siege, '[0-9]{5}') THEN 'nic du siège invalide'
            WHEN date_creation_texte IS NOT NULL AND date_creation IS NULL THEN 'date de création illisible'
            WHEN date_debut_texte IS NOT NULL AND date_debut IS NULL THEN 'date de début illisible'
            WHEN annee_effectifs_texte IS NOT NULL AND annee_effectifs IS NULL THEN 'année des effectifs illisible'
        END AS motif_ligne
    FROM typed
),

deduplicated AS (
    -- One row per siren among the valid rows: the most recently processed one, then the first in the file.
    SELECT
        *,
        CASE WHEN motif_ligne IS NULL THEN
            row_number() OVER (PARTITION BY siren, motif_ligne IS NULL
                               ORDER BY date_dernier_traitement DESC NULLS LAST, _ligne)
        END AS rang_siren
    FROM checked
),

final AS (
    SELECT
        siren,
        statut_diffusion,
        date_creation,
        categorie_juridique,
        activite_principale,
        nomenclature_activite,
        activite_principale_naf25,
        economie_sociale_solidaire,
        societe_mission,
        caractere_employeur,
        tranche_effectifs,
        annee_effectifs,
        etat_administratif,
        nic_siege,
        categorie_entreprise,
        date_debut,
        -- Partial diffusion: no identifying field may leave the file, whatever it holds ('[ND]' or not).
        CASE WHEN statut_diffusion = 'P' OR denomination_fichier LIKE '%[ND]%' THEN NULL
             ELSE denomination_fichier END AS denomination,
        coalesce(motif_ligne, CASE WHEN rang_siren > 1 THEN 'siren en double' END) AS _motif_rejet
    FROM deduplicated
)

SELECT * FROM final
