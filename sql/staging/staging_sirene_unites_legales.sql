-- staging_sirene_unites_legales: legal units of the staged establishments (current SIRENE stock), all requested
-- départements together (sources/sirene.py gives each its own copy afterwards).
-- Reads raw_sirene_unites_legales, a view created by sources/sirene.py over the rows of StockUniteLegale whose
-- siren is one of the staged establishments', every column as text, plus _ligne (line in the CSV, header = 1, or
-- row number in the Parquet file) and _colonne_trop_longue / _valeur_trop_longue (see the establishments' file).
-- Reference tables: ref_formats_activite, ref_codes_activite, ref_tranches_codes (loaded by the loader).
-- Outputs the contract columns (docs/CONTRIBUTING.md) and, for rejects, _motif_rejet, _colonne_rejet, _valeur_rejet.
-- Not rejected on purpose: unknown or padded legal forms ('5400', '2200') and empty size bands — they are data that
-- other steps count.
-- A siren held by several valid rows: sources/sirene.py keeps the most recently processed one (then the first in
-- the file) and rejects the others as « siren en double » on the materialised rows (ess.db.Duplicates).
WITH source AS (
    SELECT * FROM raw_sirene_unites_legales
),

renamed AS (
    SELECT
        _ligne,
        _colonne_trop_longue,
        _valeur_trop_longue,
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
        try_cast(annee_effectifs_texte AS INTEGER) AS annee_effectifs,
        -- the activity code against its nomenclature (sql/staging/macros_activite.sql)
        defaut_activite(activite_principale, nomenclature_activite, 'activitePrincipaleUniteLegale',
                        'nomenclatureActivitePrincipaleUniteLegale') AS defaut_activite,
        defaut_naf25(activite_principale_naf25, 'activitePrincipaleNAF25UniteLegale') AS defaut_naf25
    FROM renamed
),

-- The first failing check is reported, with the file column at fault and its value.
checked AS (
    SELECT
        t.*,
        coalesce(
            defaut_trop_long(t._colonne_trop_longue, t._valeur_trop_longue, t.statut_diffusion),
            defaut_identifiant(t.siren, '[0-9]{9}', true, 'siren invalide', 'siren'),
            defaut_identifiant(t.nic_siege, '[0-9]{5}', false, 'nic du siège invalide', 'nicSiegeUniteLegale'),
            -- every unit of the register has one (1000: a sole trader) and the ESS perimeter is decided on it: an
            -- empty or malformed one is rejected and counted, so that a damaged file trips the reject-rate guard
            -- (its establishments then count as units absent from the stock, outside the ESS)
            defaut_identifiant(t.categorie_juridique, '[0-9]{4}', true, 'catégorie juridique absente ou invalide',
                               'categorieJuridiqueUniteLegale'),
            defaut_illisible(t.date_creation_texte, t.date_creation, 'date de création illisible',
                             'dateCreationUniteLegale'),
            defaut_illisible(t.date_debut_texte, t.date_debut, 'date de début illisible', 'dateDebut'),
            defaut_illisible(t.annee_effectifs_texte, t.annee_effectifs, 'année des effectifs illisible',
                             'anneeEffectifsUniteLegale'),
            defaut_tranche(t.tranche_effectifs, 'trancheEffectifsUniteLegale'),
            t.defaut_activite,
            t.defaut_naf25
        ) AS defaut
    FROM typed AS t
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
