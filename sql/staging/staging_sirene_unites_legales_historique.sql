-- staging_sirene_unites_legales_historique: periods [date_debut, date_fin) of the legal units of the
-- département's establishments. Reads raw_sirene_unites_legales_historique, a view created by sources/sirene.py
-- over the rows of StockUniteLegaleHistorique whose siren is a staged establishment's, every column as text.
-- Outputs the contract columns (docs/CONTRIBUTING.md) and _motif_rejet: NULL for a kept row, else the reason.
-- An empty dateDebut is legal (start of the oldest period unknown); an empty dateFin is the current period.
-- Legal forms are kept as found (unknown or padded codes included).
WITH source AS (
    SELECT * FROM raw_sirene_unites_legales_historique
),

renamed AS (
    SELECT
        _ligne,
        nullif(trim(siren), '') AS siren,
        nullif(trim(dateDebut), '') AS date_debut_texte,
        nullif(trim(dateFin), '') AS date_fin_texte,
        nullif(trim(etatAdministratifUniteLegale), '') AS etat_administratif,
        nullif(trim(categorieJuridiqueUniteLegale), '') AS categorie_juridique,
        nullif(trim(activitePrincipaleUniteLegale), '') AS activite_principale,
        nullif(trim(nomenclatureActivitePrincipaleUniteLegale), '') AS nomenclature_activite,
        nullif(trim(economieSocialeSolidaireUniteLegale), '') AS economie_sociale_solidaire,
        nullif(trim(caractereEmployeurUniteLegale), '') AS caractere_employeur,
        nullif(trim(nicSiegeUniteLegale), '') AS nic_siege
    FROM source
),

typed AS (
    SELECT
        *,
        CAST(try_strptime(date_debut_texte, '%Y-%m-%d') AS DATE) AS date_debut,
        CAST(try_strptime(date_fin_texte, '%Y-%m-%d') AS DATE) AS date_fin
    FROM renamed
),

checked AS (
    SELECT
        *,
        CASE
            WHEN siren IS NULL OR NOT regexp_full_match(siren, '[0-9]{9}') THEN 'siren invalide'
            WHEN nic_siege IS NOT NULL AND NOT regexp_full_match(nic_siege, '[0-9]{5}') THEN 'nic du siège invalide'
            WHEN date_debut_texte IS NOT NULL AND date_debut IS NULL THEN 'date de début illisible'
            WHEN date_fin_texte IS NOT NULL AND date_fin IS NULL THEN 'date de fin illisible'
        END AS motif_ligne
    FROM typed
),

deduplicated AS (
    -- The same period twice: keep the first in the file.
    SELECT
        *,
        CASE WHEN motif_ligne IS NULL THEN
            row_number() OVER (PARTITION BY siren, date_debut, date_fin, motif_ligne IS NULL ORDER BY _ligne)
        END AS rang_periode
    FROM checked
),

final AS (
    SELECT
        siren,
        date_debut,
        date_fin,
        etat_administratif,
        categorie_juridique,
        activite_principale,
        nomenclature_activite,
        economie_sociale_solidaire,
        caractere_employeur,
        nic_siege,
        coalesce(motif_ligne, CASE WHEN rang_periode > 1 THEN 'période en double' END) AS _motif_rejet
    FROM deduplicated
)

SELECT * FROM final
