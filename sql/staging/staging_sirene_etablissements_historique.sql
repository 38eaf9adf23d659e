-- staging_sirene_etablissements_historique: periods [date_debut, date_fin) of the staged establishments (all
-- requested départements together; sources/sirene.py gives each its own part afterwards).
-- Reads raw_sirene_etablissements_historique, a view created by sources/sirene.py over the rows of
-- StockEtablissementHistorique whose siret is a staged establishment's, every column as text, plus _ligne and
-- _colonne_trop_longue / _valeur_trop_longue (see the establishments' file). Reference tables: ref_formats_activite,
-- ref_codes_activite. Outputs the contract columns (docs/CONTRIBUTING.md) and, for rejects, _motif_rejet,
-- _colonne_rejet, _valeur_rejet.
-- An empty dateDebut is legal (start of the oldest period unknown); an empty dateFin is the current period.
-- The same period (siret, dateDebut, dateFin) twice among the valid rows: sources/sirene.py keeps the first in the
-- file and rejects the others as « période en double » on the materialised rows (ess.db.Duplicates).
WITH source AS NOT MATERIALIZED (
    SELECT * FROM raw_sirene_etablissements_historique
),

-- (not materialized: read again, two columns only, by `activites`)
renamed AS NOT MATERIALIZED (
    SELECT
        _ligne,
        _colonne_trop_longue,
        _valeur_trop_longue,
        nullif(trim(siret), '') AS siret,
        nullif(trim(siren), '') AS siren,
        nullif(trim(nic), '') AS nic,
        nullif(trim(dateDebut), '') AS date_debut_texte,
        nullif(trim(dateFin), '') AS date_fin_texte,
        nullif(trim(etatAdministratifEtablissement), '') AS etat_administratif,
        nullif(trim(activitePrincipaleEtablissement), '') AS activite_principale,
        nullif(trim(nomenclatureActivitePrincipaleEtablissement), '') AS nomenclature_activite,
        nullif(trim(caractereEmployeurEtablissement), '') AS caractere_employeur
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
        CAST(try_strptime(date_debut_texte, '%Y-%m-%d') AS DATE) AS date_debut,
        CAST(try_strptime(date_fin_texte, '%Y-%m-%d') AS DATE) AS date_fin,
        a.defaut_activite
    FROM renamed AS r
    LEFT JOIN activites AS a ON r.activite_principale IS NOT DISTINCT FROM a.activite_principale
        AND r.nomenclature_activite IS NOT DISTINCT FROM a.nomenclature_activite
),

-- The first failing check is reported, with the file column at fault and its value.
checked AS (
    SELECT
        t.*,
        coalesce(
            defaut_trop_long(t._colonne_trop_longue, t._valeur_trop_longue, NULL),
            defaut_siret(t.siren, t.nic, t.siret),
            defaut_illisible(t.date_debut_texte, t.date_debut, 'date de début illisible', 'dateDebut'),
            defaut_illisible(t.date_fin_texte, t.date_fin, 'date de fin illisible', 'dateFin'),
            t.defaut_activite
        ) AS defaut
    FROM typed AS t
),

final AS (
    SELECT
        siret,
        siren,
        nic,
        date_debut,
        date_fin,
        etat_administratif,
        activite_principale,
        nomenclature_activite,
        caractere_employeur,
        _ligne,
        defaut.motif AS _motif_rejet,
        defaut.colonne AS _colonne_rejet,
        defaut.valeur AS _valeur_rejet
    FROM checked
)

SELECT * FROM final
