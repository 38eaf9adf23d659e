"""One definition of every column of the core and output tables: name, DuckDB type, unit, meaning, constraint.

The publication step derives the data dictionary, the DuckDB COMMENTs and the expectations from these records, so a
column is described once, here. Descriptions are in French (they are shown to users); the structured constraint
fields (nullable, values, minimum, maximum, pattern) are what checks can enforce; `constraint` is the same in words.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # DuckDB type
    description: str  # French, for the data dictionary
    unit: str | None = None  # 'établissements', 'salariés', 'habitants', 'ratio (0-1)', …
    nullable: bool = True
    values: tuple[str, ...] | None = None  # closed list of allowed values (NULL allowed iff nullable)
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None  # regular expression a text value matches
    key: bool = False  # part of the table's key
    internal: bool = False  # dropped from public tables

    @property
    def constraint(self) -> str:
        """The constraint in words, for the dictionary."""
        parts = []
        if not self.nullable:
            parts.append("non nul")
        if self.key:
            parts.append("clé")
        if self.values:
            parts.append("valeurs : " + ", ".join(self.values))
        if self.minimum is not None:
            parts.append(f">= {self.minimum:g}")
        if self.maximum is not None:
            parts.append(f"<= {self.maximum:g}")
        if self.pattern:
            parts.append(f"motif {self.pattern}")
        if self.internal:
            parts.append("interne (absent des tables publiques)")
        return "; ".join(parts)


NIVEAUX = ("commune", "epci", "arrondissement", "zone_emploi", "territoire", "departement")
FAMILLES = (
    "associations", "cooperatives", "mutuelles", "fondations", "autres_organismes", "societes_commerciales_ess",
)
FAMILLES_CUBE = FAMILLES + ("ess", "hors_ess", "ensemble", "non_renseigne")
NOMENCLATURES_SECTEUR = ("a21", "ess", "ensemble")
STATUTS_SECRET = ("frequence", "dominance", "secondaire")
# Employment by sector or size is published at the département level only (transforms/outputs.py, policy in
# METHOD.md § 6): the other rows carry their counts and « non_diffuse » for employment.
NON_DIFFUSE = "non_diffuse"
STATUTS_SECRET_EFFECTIFS = STATUTS_SECRET + (NON_DIFFUSE,)
STATUTS_SECRET_PARTS = STATUTS_SECRET_EFFECTIFS + ("denominateur",)
# Value used in key columns when the establishment's attribute is unknown, so that totals still add up.
NON_RENSEIGNE = "non_renseigne"

_CODE_COMMUNE = r"^([0-9]{5}|2[AB][0-9]{3})$"

CORE_ETABLISSEMENTS = [
    Column("siret", "VARCHAR", "Numéro SIRET de l'établissement", nullable=False, pattern=r"^[0-9]{14}$", key=True),
    Column("siren", "VARCHAR", "Numéro SIREN de l'unité légale", nullable=False, pattern=r"^[0-9]{9}$"),
    Column("statut_diffusion", "VARCHAR", "Statut de diffusion SIRENE de l'établissement (P : diffusion partielle)",
           values=("O", "P", "N")),
    Column("code_commune", "VARCHAR", "Code de la commune (COG du millésime, anciens codes convertis)",
           pattern=_CODE_COMMUNE),
    Column("code_commune_source", "VARCHAR", "Code commune tel que lu dans SIRENE"),
    Column("code_epci", "VARCHAR", "SIREN de l'EPCI à fiscalité propre de la commune", pattern=r"^[0-9]{9}$"),
    Column("code_arrondissement", "VARCHAR", "Code de l'arrondissement départemental"),
    Column("code_zone_emploi", "VARCHAR", "Code de la zone d'emploi 2020"),
    Column("code_territoire", "VARCHAR", "Code du territoire du Département (regroupement départemental, facultatif)"),
    Column("code_departement", "VARCHAR", "Code du département", nullable=False),
    Column("categorie_juridique", "VARCHAR", "Catégorie juridique (niveau III) de l'unité légale"),
    Column("famille_ess", "VARCHAR", "Famille de l'ESS de l'unité légale (NULL hors familles)", values=FAMILLES),
    Column("ess_flag", "BOOLEAN", "Indicateur ESS de SIRENE (economieSocialeSolidaireUniteLegale = 'O')"),
    Column("perimetre_insee", "BOOLEAN", "Dans le périmètre « insee » (familles par catégorie juridique, "
           "exclusions d'activités appliquées)", nullable=False),
    Column("perimetre_loi2014", "BOOLEAN", "Dans le périmètre « loi2014 » (insee + sociétés commerciales de l'ESS)",
           nullable=False),
    Column("perimetre_flag", "BOOLEAN", "Dans le périmètre « flag » (indicateur ESS de SIRENE seul)", nullable=False),
    Column("motif_exclusion", "VARCHAR", "Règle d'exclusion d'activité (NAF) qui a retiré l'établissement, sinon NULL"),
    Column("activite", "VARCHAR", "Code d'activité retenu (APE de l'établissement, sinon de l'unité légale)"),
    Column("nomenclature_activite", "VARCHAR", "Nomenclature du code d'activité", values=("NAFRev2", "NAF2025")),
    Column("source_activite", "VARCHAR", "Origine du code d'activité", values=("etablissement", "unite_legale")),
    Column("section_a21", "VARCHAR", "Section de la NAF en 21 postes (lettre A à U)", pattern=r"^[A-U]$"),
    Column("secteur_ess", "VARCHAR", "Secteur d'activité selon le regroupement usuel des observatoires de l'ESS"),
    Column("actif", "BOOLEAN", "Établissement actif à la date du millésime", nullable=False),
    Column("employeur", "BOOLEAN", "Établissement employeur (tranche d'effectifs salariés renseignée)"),
    Column("tranche_effectifs", "VARCHAR", "Tranche d'effectifs salariés SIRENE", pattern=r"^(NN|[0-9]{2})$"),
    Column("annee_effectifs", "INTEGER", "Année de validité de la tranche d'effectifs", unit="année"),
    Column("classe_taille", "VARCHAR", "Classe de taille (regroupement des tranches d'effectifs)"),
    Column("effectif_bas", "DOUBLE", "Borne basse de l'effectif salarié (borne basse de la tranche)",
           unit="salariés", minimum=0),
    Column("effectif_haut", "DOUBLE", "Borne haute de l'effectif salarié (borne haute de la tranche)",
           unit="salariés", minimum=0),
    Column("effectif_central_brut", "DOUBLE", "Effectif salarié central avant calage", unit="salariés", minimum=0),
    Column("effectif_central", "DOUBLE", "Effectif salarié central calé sur l'URSSAF (borné par la tranche)",
           unit="salariés", minimum=0),
    Column("denomination", "VARCHAR", "Dénomination (interne ; NULL si diffusion partielle)", internal=True),
    Column("enseigne", "VARCHAR", "Enseigne (interne ; NULL si diffusion partielle)", internal=True),
    Column("motif_placement", "VARCHAR", "Pourquoi la commune n'a pas pu être rattachée au COG du millésime "
           "(commune_absente, commune_inconnue, hors_departement ; passage_ambigu : rattachée malgré tout)"),
    Column("categorie_juridique_connue", "BOOLEAN", "La catégorie juridique figure dans la liste INSEE"),
    Column("perimetre", "VARCHAR", "Périmètre nommé de la ligne (celui du run)"),
    Column("dans_perimetre", "BOOLEAN", "Dans le périmètre du run"),
    Column("caractere_employeur", "VARCHAR", "Caractère employeur déclaré dans SIRENE", values=("O", "N")),
    Column("tranche_connue", "BOOLEAN", "La tranche d'effectifs figure dans data/reference/tranches_effectifs.csv"),
    Column("champ_urssaf", "BOOLEAN", "Dans le champ URSSAF (secteur privé, régime général, hors agriculture)"),
    Column("motif_hors_champ_urssaf", "VARCHAR", "Règle de data/reference/champ_urssaf.csv qui l'exclut du champ"),
    Column("groupe_calibration", "VARCHAR", "Groupe de calage de l'effectif central (famille ou reste_economie)"),
    Column("statut_calibration", "VARCHAR", "Résultat du calage pour l'établissement (calibre, borne, non_calibre…)"),
]

CORE_CALIBRATION = [
    Column("perimetre", "VARCHAR", "Périmètre nommé", nullable=False, key=True),
    Column("famille", "VARCHAR", "Famille de l'ESS, hors_ess, hors_champ_urssaf ou ensemble", nullable=False,
           key=True),
    Column("groupe_calibration", "VARCHAR", "Groupe de calage (NULL pour les lignes de synthèse)"),
    Column("annee_cible", "INTEGER", "Année URSSAF de la cible", unit="année"),
    Column("choix_annee", "VARCHAR", "Comment l'année de la cible a été choisie"),
    Column("annee_effectifs_modale", "INTEGER", "Année des tranches d'effectifs la plus fréquente", unit="année"),
    Column("annees_effectifs", "VARCHAR", "Répartition des années des tranches utilisées"),
    Column("source_cible", "VARCHAR", "Table URSSAF de la cible"),
    Column("cible_urssaf", "DOUBLE", "Effectif salarié publié par l'URSSAF pour le groupe", unit="salariés",
           minimum=0),
    Column("cible_groupe", "DOUBLE", "Cible effectivement visée pour le groupe", unit="salariés", minimum=0),
    Column("nb_etablissements", "BIGINT", "Établissements du groupe", unit="établissements", minimum=0),
    Column("nb_etablissements_employeurs", "BIGINT", "Établissements employeurs du groupe", unit="établissements",
           minimum=0),
    Column("total_bas", "DOUBLE", "Somme des bornes basses des tranches", unit="salariés", minimum=0),
    Column("total_brut", "DOUBLE", "Somme des valeurs centrales avant calage", unit="salariés", minimum=0),
    Column("total_haut", "DOUBLE", "Somme des bornes hautes des tranches", unit="salariés", minimum=0),
    Column("facteur", "DOUBLE", "Facteur de calage (cible / total brut) avant bornage", unit="ratio"),
    Column("total_calibre", "DOUBLE", "Somme des valeurs centrales après calage et bornage", unit="salariés",
           minimum=0),
    Column("facteur_global", "DOUBLE", "Total calibré / total brut", unit="ratio"),
    Column("ecart_brut_cible", "DOUBLE", "Écart relatif entre le total brut et la cible", unit="ratio"),
    Column("nb_borne_basse", "BIGINT", "Établissements ramenés à la borne basse de leur tranche", minimum=0),
    Column("nb_borne_haute", "BIGINT", "Établissements ramenés à la borne haute de leur tranche", minimum=0),
    Column("iterations", "INTEGER", "Itérations de redistribution après bornage", minimum=0),
    Column("statut", "VARCHAR", "calibre, cible_inatteignable, non_calibre…"),
]

CORE_ECART_URSSAF = [
    Column("annee", "INTEGER", "Année comparée (celle du calage)", unit="année", key=True),
    Column("niveau", "VARCHAR", "Niveau géographique", key=True),
    Column("code_territoire", "VARCHAR", "Code du territoire", key=True),
    Column("nb_etablissements_sirene", "BIGINT", "Établissements actifs du champ URSSAF selon SIRENE",
           unit="établissements", minimum=0),
    Column("nb_etablissements_employeurs_sirene", "BIGINT", "Établissements employeurs du champ selon SIRENE",
           unit="établissements", minimum=0),
    Column("nb_etablissements_urssaf", "DOUBLE", "Établissements employeurs selon l'URSSAF (commune × APE)",
           unit="établissements", minimum=0),
    Column("effectif_bas", "DOUBLE", "Effectif SIRENE, borne basse", unit="salariés", minimum=0),
    Column("effectif_central_brut", "DOUBLE", "Effectif SIRENE central avant calage", unit="salariés", minimum=0),
    Column("effectif_haut", "DOUBLE", "Effectif SIRENE, borne haute", unit="salariés", minimum=0),
    Column("effectif_central", "DOUBLE", "Effectif SIRENE central calé", unit="salariés", minimum=0),
    Column("effectif_urssaf", "DOUBLE", "Effectif salarié selon l'URSSAF (commune × APE)", unit="salariés",
           minimum=0),
    Column("ecart_central_brut", "DOUBLE", "Écart effectif SIRENE central brut − effectif URSSAF", unit="salariés"),
    Column("ecart_central", "DOUBLE", "Écart effectif SIRENE central calé − effectif URSSAF", unit="salariés"),
    Column("urssaf_dans_fourchette", "BOOLEAN", "L'effectif URSSAF est dans la fourchette SIRENE [bas, haut]"),
]

OUT_AUDIT_PERIMETRE = [
    Column("rubrique", "VARCHAR", "categorie_juridique, categorie_juridique_inconnue, exclusion_naf, activite "
           "(nomenclature utilisée) ou recouvrement (comparaison des périmètres)", nullable=False, key=True),
    Column("code", "VARCHAR", "Catégorie juridique, règle d'exclusion, nomenclature ou paire de périmètres",
           key=True),
    Column("libelle", "VARCHAR", "Libellé du code"),
    Column("famille", "VARCHAR", "Famille de l'ESS associée"),
    Column("nomenclature", "VARCHAR", "Nomenclature d'activité de la règle (NAFRev2, NAF2025)"),
    Column("perimetre", "VARCHAR", "Périmètre concerné", key=True),
    Column("confiance", "VARCHAR", "Confiance dans le rattachement (haute, moyenne, faible)"),
    Column("inclus_par_defaut", "BOOLEAN", "La catégorie est dans le périmètre par défaut"),
    Column("regle_active", "BOOLEAN", "La règle d'exclusion est active"),
    Column("nb_unites_legales", "BIGINT", "Unités légales actives que la ligne fait entrer (ou concerne)",
           unit="unités légales", minimum=0),
    Column("nb_etablissements", "BIGINT", "Établissements actifs que la ligne fait entrer (ou concerne)",
           unit="établissements", minimum=0),
    Column("nb_unites_legales_hors", "BIGINT", "Unités légales actives que la ligne fait sortir",
           unit="unités légales", minimum=0),
    Column("nb_etablissements_hors", "BIGINT", "Établissements actifs que la ligne fait sortir",
           unit="établissements", minimum=0),
]

# --- the indicator cube -------------------------------------------------------------------------------------------
_CUBE_KEYS = [
    Column("niveau", "VARCHAR", "Niveau géographique de la ligne", nullable=False, values=NIVEAUX, key=True),
    Column("code_territoire", "VARCHAR", "Code du territoire dans son niveau (code commune, SIREN d'EPCI, code "
           f"d'arrondissement, de zone d'emploi, de territoire du Département, de département ; "
           f"« {NON_RENSEIGNE} » pour les établissements sans rattachement connu)", nullable=False, key=True),
    Column("libelle_territoire", "VARCHAR", "Nom du territoire (NULL si la source n'en fournit pas)"),
    Column("epci_partiel", "BOOLEAN", "Vrai pour un EPCI débordant du département : seule sa partie dans le "
           "département est comptée (établissements et population)"),
    Column("famille", "VARCHAR", "Famille de l'ESS, « ess » (total des familles du périmètre), « hors_ess » "
           "(établissements hors périmètre) ou « ensemble » (toute l'économie)", nullable=False,
           values=FAMILLES_CUBE, key=True),
    Column("nomenclature_secteur", "VARCHAR", "Nomenclature du secteur : « a21 » (sections NAF), « ess » "
           "(regroupement des observatoires de l'ESS) ou « ensemble » (tous secteurs)", nullable=False,
           values=NOMENCLATURES_SECTEUR, key=True),
    Column("secteur", "VARCHAR", f"Secteur dans sa nomenclature ; « ensemble » pour le total, « {NON_RENSEIGNE} » "
           "si l'activité est inconnue", nullable=False, key=True),
    Column("libelle_secteur", "VARCHAR", "Libellé du secteur (sections NAF rév. 2, secteurs ESS de "
           "data/reference/secteurs_ess.csv)"),
    Column("classe_taille", "VARCHAR", f"Classe de taille de l'établissement ; « ensemble » pour le total, "
           f"« {NON_RENSEIGNE} » si inconnue. Les lignes par taille ont secteur = « ensemble » (le cube croise "
           "famille × secteur et famille × taille, pas secteur × taille)", nullable=False, key=True),
    Column("annee", "INTEGER", "Année : celle du millésime SIRENE (effectifs disponibles) ou une année passée "
           "depuis 2012 (nombres d'établissements seulement)", unit="année", nullable=False, minimum=2012, key=True),
    Column("perimetre", "VARCHAR", "Périmètre de l'ESS retenu (voir l'audit du périmètre)", nullable=False, key=True),
]

_CUBE_COUNTS = [
    Column("nb_etablissements", "BIGINT", "Nombre d'établissements actifs", unit="établissements", minimum=0),
    Column("nb_etablissements_employeurs", "BIGINT", "Nombre d'établissements actifs employeurs (NULL pour les "
           "années passées : la tranche d'effectifs n'est connue qu'au millésime)", unit="établissements",
           minimum=0),
]

_EFFECTIF_NULL_PASSE = ("NULL pour les années passées : SIRENE ne donne la tranche d'effectifs qu'au millésime, "
                        "l'historique n'en garde pas trace")

_CUBE_EMPLOYMENT = [
    Column("effectif_bas", "DOUBLE", "Effectif salarié, borne basse (somme des bornes basses des tranches). "
           + _EFFECTIF_NULL_PASSE, unit="salariés", minimum=0),
    Column("effectif_central", "DOUBLE", "Effectif salarié, estimation centrale calée sur l'URSSAF. "
           + _EFFECTIF_NULL_PASSE, unit="salariés", minimum=0),
    Column("effectif_haut", "DOUBLE", "Effectif salarié, borne haute (somme des bornes hautes des tranches). "
           + _EFFECTIF_NULL_PASSE, unit="salariés", minimum=0),
]

_PART = ("Part de la ligne dans la ligne « ensemble » du même territoire, secteur, taille et année")
_FOURCHETTE = (" La fourchette d'une part x / (x + y), où x est l'effectif de la ligne et y celui du reste de "
               "l'économie, tient compte de ce que les deux sont incertains : la part est croissante en x et "
               "décroissante en y, donc la borne basse est x_bas / (x_bas + y_haut) et la borne haute "
               "x_haut / (x_haut + y_bas), avec y = ensemble − ligne pour chaque borne.")

_CUBE_RATIOS = [
    Column("part_ess_etablissements_employeurs", "DOUBLE", _PART + " : établissements employeurs.",
           unit="ratio (0-1)", minimum=0, maximum=1),
    Column("part_ess_effectif_bas", "DOUBLE", _PART + " : effectif salarié, borne basse." + _FOURCHETTE,
           unit="ratio (0-1)", minimum=0, maximum=1),
    Column("part_ess_effectif_central", "DOUBLE", _PART + " : effectif salarié central (rapport des effectifs "
           "centraux).", unit="ratio (0-1)", minimum=0, maximum=1),
    Column("part_ess_effectif_haut", "DOUBLE", _PART + " : effectif salarié, borne haute." + _FOURCHETTE,
           unit="ratio (0-1)", minimum=0, maximum=1),
    Column("etablissements_pour_1000_hab", "DOUBLE", "Établissements actifs pour 1 000 habitants (population "
           "municipale du territoire, partie dans le département)", unit="établissements pour 1 000 habitants",
           minimum=0),
    Column("effectif_pour_1000_hab", "DOUBLE", "Effectif salarié central pour 1 000 habitants",
           unit="salariés pour 1 000 habitants", minimum=0),
    Column("population", "BIGINT", "Population municipale du territoire (communes du département seulement), "
           "COG du millésime", unit="habitants", minimum=0),
]

_CUBE_PROVENANCE = [
    Column("date_reference", "DATE", "Date à laquelle l'état des établissements est observé", nullable=False),
    Column("sources", "VARCHAR", "Sources et millésimes (SIRENE, URSSAF pour le calage, COG)", nullable=False),
]

_CUBE_INTERNAL = [
    Column("nb_contributeurs", "BIGINT", "Nombre d'établissements contribuant à l'effectif (effectif central > 0)",
           unit="établissements", minimum=0, internal=True),
    Column("effectif_max_contributeur", "DOUBLE", "Effectif central du plus gros établissement de la cellule",
           unit="salariés", minimum=0, internal=True),
    Column("nb_unites_legales_contributrices", "BIGINT", "Nombre d'unités légales contribuant à l'effectif",
           unit="unités légales", minimum=0, internal=True),
    Column("effectif_max_unite_legale", "DOUBLE", "Effectif central de la plus grosse unité légale de la cellule "
           "(somme de ses établissements dans la cellule) : base de la règle de dominance",
           unit="salariés", minimum=0, internal=True),
    Column("nb_unites_legales", "BIGINT", "Nombre d'unités légales (SIREN) ayant au moins un établissement dans la "
           "cellule, employeuses ou non : base de la règle de fréquence des effectifs", unit="unités légales",
           minimum=0, internal=True),
    Column("effectif_bas_max_unite_legale", "DOUBLE", "Borne basse d'effectif de la plus grosse unité légale de la "
           "cellule (règle de dominance sur la borne basse publiée)", unit="salariés", minimum=0, internal=True),
    Column("effectif_haut_max_unite_legale", "DOUBLE", "Borne haute d'effectif de la plus grosse unité légale de la "
           "cellule (règle de dominance sur la borne haute publiée)", unit="salariés", minimum=0, internal=True),
]

OUT_INDICATEURS = (_CUBE_KEYS + _CUBE_COUNTS + _CUBE_EMPLOYMENT + _CUBE_RATIOS
                   + _CUBE_INTERNAL + _CUBE_PROVENANCE)

_SECRET_COLUMNS = [
    Column("statut_secret_etablissements", "VARCHAR", "Secret des nombres d'établissements : toujours NULL. Les "
           "nombres d'établissements viennent d'un répertoire public (SIRENE) et sont diffusés comme l'INSEE le "
           "fait pour ses dénombrements d'établissements (METHOD.md § 6)", values=STATUTS_SECRET),
    Column("statut_secret_effectifs", "VARCHAR", "Secret statistique des effectifs (bas, central, haut, pour 1 000 "
           "habitants) : NULL si diffusés, sinon le motif (frequence : moins de 3 unités légales dans la cellule ; "
           "dominance : une unité légale fait plus de 85 % d'une borne publiée ; secondaire : masqué pour qu'aucune "
           "cellule sensible ne puisse être recalculée ou encadrée de trop près ; non_diffuse : effectif par "
           "secteur ou taille publié au niveau départemental seulement)", values=STATUTS_SECRET_EFFECTIFS),
    Column("statut_secret_part_etablissements", "VARCHAR", "Secret de part_ess_etablissements_employeurs : le "
           "motif de la ligne, ou « denominateur » si la ligne « ensemble » correspondante est masquée",
           values=STATUTS_SECRET_PARTS),
    Column("statut_secret_part_effectifs", "VARCHAR", "Secret des parts d'effectif : le motif de la ligne, ou "
           "« denominateur » si la ligne « ensemble » correspondante est masquée", values=STATUTS_SECRET_PARTS),
]

OUT_INDICATEURS_PUBLIC = ([c for c in OUT_INDICATEURS if not c.internal and c not in _CUBE_PROVENANCE]
                          + _SECRET_COLUMNS + _CUBE_PROVENANCE)

TABLES: dict[str, list[Column]] = {
    "core_etablissements": CORE_ETABLISSEMENTS,
    "core_calibration": CORE_CALIBRATION,
    "core_ecart_urssaf": CORE_ECART_URSSAF,
    "out_audit_perimetre": OUT_AUDIT_PERIMETRE,
    "out_indicateurs": OUT_INDICATEURS,
    "out_indicateurs_public": OUT_INDICATEURS_PUBLIC,
}

TABLE_DOCS = {
    "core_etablissements": "Un établissement du département par ligne (stock courant, actifs et fermés) : "
                           "famille de l'ESS, périmètres, activité, territoires, fourchette d'effectif salarié.",
    "core_calibration": "Calage des effectifs centraux sur les effectifs URSSAF, par famille de l'ESS : cible, "
                        "totaux bas / brut / haut, facteur, établissements aux bornes.",
    "core_ecart_urssaf": "Écart entre l'effectif estimé depuis SIRENE et l'effectif URSSAF (commune × APE), "
                         "par territoire.",
    "out_audit_perimetre": "Audit du périmètre : ce que chaque catégorie juridique et chaque règle d'exclusion "
                           "fait entrer ou sortir, et le recouvrement des périmètres nommés.",
    "out_indicateurs": "Cube des indicateurs (interne, non protégé) : territoire × famille × secteur ou taille "
                       "× année × périmètre.",
    "out_indicateurs_public": "Cube des indicateurs publiable : secret statistique appliqué (fréquence, "
                              "dominance, secret secondaire) ; les communes n'y figurent qu'en totaux par famille.",
}
# Columns added by the warehouse's partition folders (hive partitioning), for the dictionary and the catalog.
PARTITIONS = [
    Column("departement", "VARCHAR", "Département du run (dossier de partition)"),
    Column("millesime", "VARCHAR", "Millésime SIRENE du run, AAAA-MM (dossier de partition)"),
]


def describe_table(table: str) -> tuple[str, dict[str, str]]:
    """The table's French description and, per column, 'description [unité] (contrainte)' for COMMENTs."""
    docs = {}
    for c in columns(table) + PARTITIONS:
        text = c.description + (f" [{c.unit}]" if c.unit else "")
        docs[c.name] = text + (f" ({c.constraint})" if c.constraint else "")
    return TABLE_DOCS.get(table, table), docs


def dictionary_rows() -> list[dict[str, str]]:
    """One row per column of every described table: the data dictionary."""
    return [
        {"table": table, "colonne": c.name, "type": c.type, "unite": c.unit or "", "description": c.description,
         "contrainte": c.constraint}
        for table in TABLES for c in columns(table)
    ]


def columns(table: str) -> list[Column]:
    """The column records of a table (KeyError names the tables described here)."""
    try:
        return TABLES[table]
    except KeyError:
        raise KeyError(f"no column definitions for table {table!r}; described: {sorted(TABLES)}") from None


def names(table: str) -> list[str]:
    return [c.name for c in columns(table)]
