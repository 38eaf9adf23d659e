"""SIRENE stock files: who publishes them, their stable addresses and their column layouts.

Facts from INSEE's documentation of the stock files (layouts in force since 16 Dec 2025, with the older ones).
Columns are always selected by NAME: real files of every layout below circulate.
"""

from __future__ import annotations

from sources.base import Source, SourceFile, data_gouv_url

UNITE_LEGALE_35 = (
    "siren", "statutDiffusionUniteLegale", "unitePurgeeUniteLegale", "dateCreationUniteLegale",
    "sigleUniteLegale", "sexeUniteLegale", "prenom1UniteLegale", "prenom2UniteLegale", "prenom3UniteLegale",
    "prenom4UniteLegale", "prenomUsuelUniteLegale", "pseudonymeUniteLegale", "identifiantAssociationUniteLegale",
    "trancheEffectifsUniteLegale", "anneeEffectifsUniteLegale", "dateDernierTraitementUniteLegale",
    "nombrePeriodesUniteLegale", "categorieEntreprise", "anneeCategorieEntreprise", "dateDebut",
    "etatAdministratifUniteLegale", "nomUniteLegale", "nomUsageUniteLegale", "denominationUniteLegale",
    "denominationUsuelle1UniteLegale", "denominationUsuelle2UniteLegale", "denominationUsuelle3UniteLegale",
    "categorieJuridiqueUniteLegale", "activitePrincipaleUniteLegale", "nomenclatureActivitePrincipaleUniteLegale",
    "nicSiegeUniteLegale", "economieSocialeSolidaireUniteLegale", "societeMissionUniteLegale",
    "caractereEmployeurUniteLegale", "activitePrincipaleNAF25UniteLegale",
)
# Mid-2023 to Dec 2025: without the NAF 2025 column. Before mid-2023: without societeMission either.
UNITE_LEGALE_34 = UNITE_LEGALE_35[:-1]
UNITE_LEGALE_33 = tuple(c for c in UNITE_LEGALE_34 if c != "societeMissionUniteLegale")

ETABLISSEMENT_54 = (
    "siren", "nic", "siret", "statutDiffusionEtablissement", "dateCreationEtablissement",
    "trancheEffectifsEtablissement", "anneeEffectifsEtablissement", "activitePrincipaleRegistreMetiersEtablissement",
    "dateDernierTraitementEtablissement", "etablissementSiege", "nombrePeriodesEtablissement",
    "complementAdresseEtablissement", "numeroVoieEtablissement", "indiceRepetitionEtablissement",
    "dernierNumeroVoieEtablissement", "indiceRepetitionDernierNumeroVoieEtablissement", "typeVoieEtablissement",
    "libelleVoieEtablissement", "codePostalEtablissement", "libelleCommuneEtablissement",
    "libelleCommuneEtrangerEtablissement", "distributionSpecialeEtablissement", "codeCommuneEtablissement",
    "codeCedexEtablissement", "libelleCedexEtablissement", "codePaysEtrangerEtablissement",
    "libellePaysEtrangerEtablissement", "identifiantAdresseEtablissement", "coordonneeLambertAbscisseEtablissement",
    "coordonneeLambertOrdonneeEtablissement", "complementAdresse2Etablissement", "numeroVoie2Etablissement",
    "indiceRepetition2Etablissement", "typeVoie2Etablissement", "libelleVoie2Etablissement",
    "codePostal2Etablissement", "libelleCommune2Etablissement", "libelleCommuneEtranger2Etablissement",
    "distributionSpeciale2Etablissement", "codeCommune2Etablissement", "codeCedex2Etablissement",
    "libelleCedex2Etablissement", "codePaysEtranger2Etablissement", "libellePaysEtranger2Etablissement",
    "dateDebut", "etatAdministratifEtablissement", "enseigne1Etablissement", "enseigne2Etablissement",
    "enseigne3Etablissement", "denominationUsuelleEtablissement", "activitePrincipaleEtablissement",
    "nomenclatureActivitePrincipaleEtablissement", "caractereEmployeurEtablissement",
    "activitePrincipaleNAF25Etablissement",
)
# Format "3.11" (March 2024 – Dec 2025): the first 53. Before March 2024: 48, without the five address columns below.
ETABLISSEMENT_53 = ETABLISSEMENT_54[:-1]
_ADDED_MARCH_2024 = {
    "dernierNumeroVoieEtablissement", "indiceRepetitionDernierNumeroVoieEtablissement",
    "identifiantAdresseEtablissement", "coordonneeLambertAbscisseEtablissement",
    "coordonneeLambertOrdonneeEtablissement",
}
ETABLISSEMENT_48 = tuple(c for c in ETABLISSEMENT_53 if c not in _ADDED_MARCH_2024)

UNITE_LEGALE_HISTORIQUE = (
    "siren", "dateFin", "dateDebut", "etatAdministratifUniteLegale", "changementEtatAdministratifUniteLegale",
    "nomUniteLegale", "changementNomUniteLegale", "nomUsageUniteLegale", "changementNomUsageUniteLegale",
    "denominationUniteLegale", "changementDenominationUniteLegale", "denominationUsuelle1UniteLegale",
    "denominationUsuelle2UniteLegale", "denominationUsuelle3UniteLegale",
    "changementDenominationUsuelleUniteLegale", "categorieJuridiqueUniteLegale",
    "changementCategorieJuridiqueUniteLegale", "activitePrincipaleUniteLegale",
    "nomenclatureActivitePrincipaleUniteLegale", "changementActivitePrincipaleUniteLegale", "nicSiegeUniteLegale",
    "changementNicSiegeUniteLegale", "economieSocialeSolidaireUniteLegale",
    "changementEconomieSocialeSolidaireUniteLegale", "societeMissionUniteLegale",
    "changementSocieteMissionUniteLegale", "caractereEmployeurUniteLegale",
    "changementCaractereEmployeurUniteLegale",
)

ETABLISSEMENT_HISTORIQUE = (
    "siren", "nic", "siret", "dateFin", "dateDebut", "etatAdministratifEtablissement",
    "changementEtatAdministratifEtablissement", "enseigne1Etablissement", "enseigne2Etablissement",
    "enseigne3Etablissement", "changementEnseigneEtablissement", "denominationUsuelleEtablissement",
    "changementDenominationUsuelleEtablissement", "activitePrincipaleEtablissement",
    "nomenclatureActivitePrincipaleEtablissement", "changementActivitePrincipaleEtablissement",
    "caractereEmployeurEtablissement", "changementCaractereEmployeurEtablissement",
)

LAYOUTS = {
    "unites_legales": (UNITE_LEGALE_35, UNITE_LEGALE_34, UNITE_LEGALE_33),
    "etablissements": (ETABLISSEMENT_54, ETABLISSEMENT_53, ETABLISSEMENT_48),
    "unites_legales_historique": (UNITE_LEGALE_HISTORIQUE,),
    "etablissements_historique": (ETABLISSEMENT_HISTORIQUE,),
}

# Code columns and their width: read as text, and left-padded with zeros when a Parquet file typed them as integers.
CODE_WIDTHS = {
    "siren": 9,
    "nic": 5,
    "siret": 14,
    "nicSiegeUniteLegale": 5,
    "categorieJuridiqueUniteLegale": 4,
    "trancheEffectifsUniteLegale": 2,
    "trancheEffectifsEtablissement": 2,
    "codePostalEtablissement": 5,
    "codePostal2Etablissement": 5,
    "codeCommuneEtablissement": 5,
    "codeCommune2Etablissement": 5,
    "codeCedexEtablissement": 5,
    "codeCedex2Etablissement": 5,
    "codePaysEtrangerEtablissement": 5,
    "codePaysEtranger2Etablissement": 5,
}

# (our key, official stem, zip resource id, parquet resource id) — verify the ids before a release.
_FILES = (
    ("unites_legales", "StockUniteLegale", "825f4199-cadd-486c-ac46-a65a8ea1a047",
     "350182c9-148a-46e0-8389-76c2ec1374a3"),
    ("unites_legales_historique", "StockUniteLegaleHistorique", "0835cd60-2c2a-497b-bc64-404de704ce89",
     "1b9290ed-d0bc-461f-ba31-0250a99cc140"),
    ("etablissements", "StockEtablissement", "0651fb76-bcf3-4f6a-a38d-bc04fa708576",
     "a29c1297-1f92-4e2a-8f6b-8c902ce96c5f"),
    ("etablissements_historique", "StockEtablissementHistorique", "88fbb6b4-0320-443e-b739-b4376a012c32",
     "2b3a0c79-f97b-46b8-ac02-8be6c1f01a8c"),
)


def _source_files() -> tuple[SourceFile, ...]:
    files = []
    for key, stem, zip_id, parquet_id in _FILES:
        files.append(SourceFile(f"{key}_csv", f"{stem}_utf8.zip", data_gouv_url(zip_id), zip_id,
                                f"{stem}: zipped CSV deliverable"))
        files.append(SourceFile(f"{key}_parquet", f"{stem}_utf8.parquet", data_gouv_url(parquet_id), parquet_id,
                                f"{stem}: Parquet deliverable"))
    return tuple(files)


SOURCE = Source(
    name="sirene",
    title="Base Sirene des entreprises et de leurs établissements (SIREN, SIRET) — fichiers stock",
    producer="INSEE",
    licence="Licence Ouverte / Open Licence 2.0",
    homepage="https://www.data.gouv.fr/datasets/base-sirene-des-entreprises-et-de-leurs-etablissements-siren-siret/",
    cadence="monthly (published on days 1–3: snapshot of the last day of the previous month)",
    millesime_format="YYYY-MM",
    dataset_id="5b7ffc618b4c4169d30727e0",
    national=True,
    stage_params=("departements", "millesime", "synthetic", "reference_dir"),
    files=_source_files(),
)


def official_filename(key: str, fmt: str) -> str:
    """Official file name of a stock: key in LAYOUTS, fmt 'csv' (zip) or 'parquet'."""
    return SOURCE.file(f"{key}_{fmt}").filename


def csv_member_name(key: str) -> str:
    """The CSV inside the zip: StockEtablissement_utf8.zip holds StockEtablissement_utf8.csv."""
    return official_filename(key, "csv").removesuffix(".zip") + ".csv"


# Columns the staging SQL uses, per file (official names). A column absent from an older layout is read as NULL;
# the others are REQUIRED: a file without one is not a SIRENE stock of that kind (see required_columns).
NEEDED_COLUMNS = {
    "etablissements": (
        "siren", "nic", "siret", "statutDiffusionEtablissement", "dateCreationEtablissement",
        "trancheEffectifsEtablissement", "anneeEffectifsEtablissement", "dateDernierTraitementEtablissement",
        "etablissementSiege", "codePostalEtablissement", "codeCommuneEtablissement",
        "codePaysEtrangerEtablissement", "dateDebut", "etatAdministratifEtablissement", "enseigne1Etablissement",
        "enseigne2Etablissement", "enseigne3Etablissement", "denominationUsuelleEtablissement",
        "activitePrincipaleEtablissement", "nomenclatureActivitePrincipaleEtablissement",
        "caractereEmployeurEtablissement", "activitePrincipaleNAF25Etablissement",
    ),
    "unites_legales": (
        "siren", "statutDiffusionUniteLegale", "dateCreationUniteLegale", "prenom1UniteLegale",
        "prenomUsuelUniteLegale", "trancheEffectifsUniteLegale", "anneeEffectifsUniteLegale",
        "dateDernierTraitementUniteLegale", "categorieEntreprise", "dateDebut", "etatAdministratifUniteLegale",
        "nomUniteLegale", "nomUsageUniteLegale", "denominationUniteLegale", "categorieJuridiqueUniteLegale",
        "activitePrincipaleUniteLegale", "nomenclatureActivitePrincipaleUniteLegale", "nicSiegeUniteLegale",
        "economieSocialeSolidaireUniteLegale", "societeMissionUniteLegale", "caractereEmployeurUniteLegale",
        "activitePrincipaleNAF25UniteLegale",
    ),
    "etablissements_historique": (
        "siren", "nic", "siret", "dateFin", "dateDebut", "etatAdministratifEtablissement",
        "activitePrincipaleEtablissement", "nomenclatureActivitePrincipaleEtablissement",
        "caractereEmployeurEtablissement",
    ),
    "unites_legales_historique": (
        "siren", "dateFin", "dateDebut", "etatAdministratifUniteLegale", "categorieJuridiqueUniteLegale",
        "activitePrincipaleUniteLegale", "nomenclatureActivitePrincipaleUniteLegale", "nicSiegeUniteLegale",
        "economieSocialeSolidaireUniteLegale", "caractereEmployeurUniteLegale",
    ),
}


def required_columns(key: str) -> tuple[str, ...]:
    """The needed columns present in every known layout of the file: their absence is an input error."""
    in_all = set.intersection(*(set(layout) for layout in LAYOUTS[key]))
    return tuple(c for c in NEEDED_COLUMNS[key] if c in in_all)
