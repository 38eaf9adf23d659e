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


# Territorial levels are data (the COG's and one per zoning file, transforms/zonages.py): an open list.
NIVEAU = r"^[a-z][a-z0-9_]*$"
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
    Column("annee_effectifs", "INTEGER", "Année de validité de la tranche d'effectifs (SIRENE) : l'effectif au 31/12 "
           "de cette année tombait dans la tranche", unit="année"),
    Column("classe_taille", "VARCHAR", "Classe de taille (regroupement des tranches d'effectifs)"),
    Column("effectif_tranche_bas", "DOUBLE", "Borne basse de la tranche d'effectifs, pour l'année de la tranche "
           "(contrôle ; ne borne pas l'effectif des autres années)", unit="salariés", minimum=0),
    Column("effectif_tranche_haut", "DOUBLE", "Borne haute de la tranche d'effectifs, pour l'année de la tranche "
           "(contrôle) ; NULL pour la tranche ouverte 53 (10 000 et plus)", unit="salariés", minimum=0),
    Column("tranche_ouverte", "BOOLEAN", "Tranche 53 (10 000 salariés et plus), sans borne haute : effectif estimé "
           "avec une échelle de travail (data/reference/emploi_modele.csv), à lire avec précaution"),
    Column("annee_effectif_estime", "INTEGER", "Année de l'effectif estimé de la ligne (effectif au 31/12 de cette "
           "année, année du calage sur l'URSSAF)", unit="année"),
    Column("actif_fin_annee_effectif", "BOOLEAN", "Établissement ouvert au 31/12 de annee_effectif_estime (les "
           "établissements fermés depuis comptent, ceux créés après non)"),
    Column("effectif_central", "DOUBLE", "Effectif salarié estimé au 31/12 de annee_effectif_estime (0 si "
           "l'établissement n'était pas ouvert à cette date) : estimation calée sur l'URSSAF", unit="salariés",
           minimum=0),
    Column("effectif_ic90_bas", "DOUBLE", "Borne basse de l'intervalle à 90 % de l'effectif estimé de "
           "l'établissement", unit="salariés", minimum=0),
    Column("effectif_ic90_haut", "DOUBLE", "Borne haute de l'intervalle à 90 % de l'effectif estimé de "
           "l'établissement", unit="salariés", minimum=0),
    Column("effectif_a_priori", "DOUBLE", "Effectif attendu au 31/12 de annee_effectif_estime d'après ce que SIRENE "
           "dit de l'établissement (classe du modèle), avant calage", unit="salariés", minimum=0),
    Column("classe_modele", "VARCHAR", "Classe du modèle d'emploi : tranche:ancienneté de la tranche (0 : 0-1 an, "
           "1 : 2-4 ans, 2 : plus), 00, NN ou vide × caractère employeur × création récente ; |c cellule URSSAF, "
           "|p commune, melange: hors cellule"),
    Column("cellule_calage", "VARCHAR", "Cellule URSSAF de calage (commune|APE) ou commune: (emploi que l'URSSAF "
           "range sous d'autres APE) ; NULL hors contrainte"),
    Column("statut_calage", "VARCHAR", "cale, hors_champ_urssaf (employeur public, agriculture : a priori seul), "
           "cellule_urssaf_inconnue, sans_commune, non_cale, ferme_fin_annee_effectif"),
    Column("denomination", "VARCHAR", "Dénomination (interne ; NULL si diffusion partielle)", internal=True),
    Column("enseigne", "VARCHAR", "Enseigne (interne ; NULL si diffusion partielle)", internal=True),
    Column("motif_placement", "VARCHAR", "Pourquoi la commune n'a pas pu être rattachée au COG du millésime "
           "(commune_absente, commune_inconnue, hors_departement ; passage_ambigu : rattachée malgré tout)"),
    Column("categorie_juridique_connue", "BOOLEAN", "La catégorie juridique figure dans la liste INSEE"),
    Column("perimetre", "VARCHAR", "Périmètre nommé de la ligne (celui du run)"),
    Column("dans_perimetre", "BOOLEAN", "Dans le périmètre du run"),
    Column("caractere_employeur", "VARCHAR", "Caractère employeur déclaré dans SIRENE", values=("O", "N")),
    Column("tranche_connue", "BOOLEAN", "La tranche d'effectifs figure dans data/reference/tranches_effectifs.csv"),
    Column("champ_urssaf", "BOOLEAN", "Dans le champ URSSAF (secteur privé, régime général, hors agriculture) à "
           "la date du millésime"),
    Column("motif_hors_champ_urssaf", "VARCHAR", "Règle de data/reference/champ_urssaf.csv qui l'exclut du champ"),
]

CORE_CALIBRATION = [
    Column("annee", "INTEGER", "Année des effectifs (au 31/12) et des chiffres URSSAF de la ligne", unit="année",
           nullable=False, key=True),
    Column("groupe", "VARCHAR", "Groupe : une famille de l'ESS (cible du fichier ESS de l'URSSAF), hors_ess (reste "
           "du champ privé), ensemble_prive (total commune × APE), hors_champ_urssaf (non calé)", nullable=False,
           key=True),
    Column("source_cible", "VARCHAR", "Fichier URSSAF de la cible"),
    Column("definition_cible", "VARCHAR", "Ce que mesure la cible publiée : moyenne_annuelle (effectif moyen des "
           "quatre trimestres, fichier ESS) ou fin_annee (effectif au 31/12, fichier commune × APE)"),
    Column("cible_publiee", "DOUBLE", "Effectif publié par l'URSSAF pour le groupe", unit="salariés", minimum=0),
    Column("facteur_conversion", "DOUBLE", "Conversion d'un effectif moyen annuel en effectif au 31/12 : total "
           "commune × APE au 31/12 / total du fichier ESS (ESS + hors ESS) de la même année", unit="ratio"),
    Column("cible_fin_annee", "DOUBLE", "Cible au 31/12 visée par le calage (cible publiée × facteur)",
           unit="salariés", minimum=0),
    Column("ecart_type_cible", "DOUBLE", "Incertitude (écart-type) donnée à la cible au 31/12", unit="salariés",
           minimum=0),
    Column("cible_autre_source", "DOUBLE", "Pour hors_ess : la même grandeur vue par le fichier commune × APE "
           "(total au 31/12 moins les cibles converties des familles)", unit="salariés"),
    Column("desaccord_relatif", "DOUBLE", "Pour hors_ess : écart relatif entre les deux cibles du reste de "
           "l'économie après conversion (nul par construction du facteur)", unit="ratio"),
    Column("desaccord_relatif_avant_conversion", "DOUBLE", "Pour hors_ess : écart relatif entre la ligne « Hors "
           "ESS » du fichier ESS (moyenne annuelle) et le total commune × APE (31/12) moins les familles : les deux "
           "fichiers ne mesurent pas la même chose", unit="ratio"),
    Column("nb_etablissements", "BIGINT", "Établissements du groupe ouverts au 31/12", unit="établissements",
           minimum=0),
    Column("total_a_priori", "DOUBLE", "Somme des effectifs attendus avant calage", unit="salariés", minimum=0),
    Column("total_cale", "DOUBLE", "Somme des effectifs calés", unit="salariés", minimum=0),
    Column("ecart_cale_cible", "DOUBLE", "Résidu : total calé − cible au 31/12", unit="salariés"),
    Column("ecart_relatif", "DOUBLE", "Résidu relatif à la cible", unit="ratio"),
    Column("nb_cellules", "BIGINT", "Cellules commune × APE de l'URSSAF servant au calage", minimum=0),
    Column("nb_communes_rattrapage", "BIGINT", "Communes dont l'emploi URSSAF rangé sous d'autres APE est réparti "
           "sur leurs établissements absents des cellules", minimum=0),
    Column("emploi_urssaf_sans_etablissement", "DOUBLE", "Emploi URSSAF de cellules où SIRENE n'a aucun "
           "établissement du champ (APE enregistrées différemment…)", unit="salariés", minimum=0),
    Column("emploi_urssaf_non_attribue", "DOUBLE", "Part de cet emploi qu'aucun établissement de la commune ne peut "
           "recevoir (absente des estimations)", unit="salariés", minimum=0),
    Column("nb_etablissements_cellule_inconnue", "BIGINT", "Établissements dont la cellule URSSAF est publiée vide",
           minimum=0),
    Column("nb_valeurs_negatives_ramenees_a_zero", "BIGINT", "Établissements fixés à 0 par le calage (un effectif "
           "n'est pas négatif)", minimum=0),
    Column("nb_classes", "BIGINT", "Classes du modèle estimées sur les cellules", minimum=0),
    Column("nb_cellules_mono_etablissement", "BIGINT", "Cellules à un seul établissement (variances des classes)",
           minimum=0),
    Column("statut", "VARCHAR", "cale, sans_cible, non_cale"),
    Column("annee_effectifs", "INTEGER", "Année d'emploi du run (la plus récente estimée)", unit="année"),
    Column("choix_annee", "VARCHAR", "Comment l'année d'emploi a été choisie"),
    Column("calage", "BOOLEAN", "Le run cale l'emploi sur l'URSSAF (faux : --sans-calage, « non calé »)"),
]

CORE_ECART_URSSAF = [
    Column("annee", "INTEGER", "Année comparée (effectifs au 31/12, année d'emploi du run)", unit="année",
           key=True),
    Column("niveau", "VARCHAR", "Niveau géographique", key=True),
    Column("code_territoire", "VARCHAR", "Code du territoire", key=True),
    Column("nb_etablissements_sirene", "BIGINT", "Établissements du champ URSSAF ouverts au 31/12 selon SIRENE",
           unit="établissements", minimum=0),
    Column("nb_etablissements_employeurs_sirene", "BIGINT", "Établissements du champ d'effectif estimé d'au moins "
           "un salarié", unit="établissements", minimum=0),
    Column("nb_etablissements_urssaf", "DOUBLE", "Établissements employeurs selon l'URSSAF (commune × APE)",
           unit="établissements", minimum=0),
    Column("effectif_a_priori", "DOUBLE", "Effectif attendu d'après SIRENE, avant calage", unit="salariés",
           minimum=0),
    Column("effectif_central", "DOUBLE", "Effectif estimé, calé", unit="salariés", minimum=0),
    Column("effectif_urssaf", "DOUBLE", "Effectif salarié au 31/12 selon l'URSSAF (commune × APE)", unit="salariés",
           minimum=0),
    Column("cellules_urssaf_inconnues", "BIGINT", "Cellules URSSAF publiées vides", minimum=0),
    Column("ecart_a_priori", "DOUBLE", "Écart effectif attendu − effectif URSSAF", unit="salariés"),
    Column("ecart_central", "DOUBLE", "Écart effectif calé − effectif URSSAF", unit="salariés"),
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
    Column("niveau", "VARCHAR", "Niveau géographique de la ligne (commune, epci, arrondissement, zone_emploi, "
           "departement, ou le nom d'un zonage : fichier zonages/<niveau>.csv des données de référence)",
           nullable=False, pattern=NIVEAU, key=True),
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
    Column("annee", "INTEGER", "Année de la ligne : ses établissements sont comptés au 31/12 de l'année (à la fin "
           "du mois du millésime pour l'année du millésime, voir date_reference_etablissements) et son emploi est "
           "l'effectif salarié au 31/12 de l'année (date_reference_effectifs), pour les années jusqu'à l'année "
           "d'emploi du run ; la ligne de l'année du millésime n'a pas d'emploi", unit="année", nullable=False,
           minimum=2012, key=True),
    Column("perimetre", "VARCHAR", "Périmètre de l'ESS retenu (voir l'audit du périmètre)", nullable=False, key=True),
]

_CUBE_COUNTS = [
    Column("nb_etablissements", "BIGINT", "Nombre d'établissements actifs à date_reference_etablissements",
           unit="établissements", minimum=0),
    Column("nb_etablissements_employeurs", "BIGINT", "Nombre d'établissements actifs employeurs selon leur tranche "
           "SIRENE, pour l'année du millésime (NULL pour les autres années)", unit="établissements", minimum=0),
]

_EFFECTIF = ("Effectif salarié au 31/12 de l'année de la ligne (date_reference_effectifs) des établissements "
             "ouverts à cette date, estimé à partir de SIRENE et calé sur l'URSSAF (statut_effectifs) ; NULL pour "
             "l'année du millésime et les années sans estimation")
_IC90 = (" de l'intervalle à 90 % : la vraie valeur a 90 % de chances d'être dans l'intervalle si le modèle d'emploi "
         "est juste (METHOD.md, § 3)")

_CUBE_EMPLOYMENT = [
    Column("effectif_central", "DOUBLE", _EFFECTIF + " : estimation centrale.", unit="salariés", minimum=0),
    Column("effectif_ic90_bas", "DOUBLE", _EFFECTIF + " : borne basse" + _IC90 + ".", unit="salariés", minimum=0),
    Column("effectif_ic90_haut", "DOUBLE", _EFFECTIF + " : borne haute" + _IC90 + ".", unit="salariés", minimum=0),
]

_PART = "Part de la ligne dans la ligne « ensemble » du même territoire, secteur, taille et année"
_PART_TOTAL = (_PART + " : effectif salarié de TOUS les employeurs (publics compris, définition d'ESS France et des "
               "CRESS), au 31/12 de l'année")
_PART_PRIVE = (_PART + " : effectif salarié du champ privé de l'URSSAF (régime général hors agriculture ; "
               "numérateur et dénominateur limités à ce champ), au 31/12 de l'année")

_CUBE_RATIOS = [
    Column("part_ess_etablissements_employeurs", "DOUBLE", _PART + " : établissements employeurs (année du "
           "millésime).", unit="ratio (0-1)", minimum=0, maximum=1),
    Column("part_effectif_total_central", "DOUBLE", _PART_TOTAL + " : estimation centrale.", unit="ratio (0-1)",
           minimum=0, maximum=1),
    Column("part_effectif_total_ic90_bas", "DOUBLE", _PART_TOTAL + " : borne basse" + _IC90 + ".",
           unit="ratio (0-1)", minimum=0, maximum=1),
    Column("part_effectif_total_ic90_haut", "DOUBLE", _PART_TOTAL + " : borne haute" + _IC90 + ".",
           unit="ratio (0-1)", minimum=0, maximum=1),
    Column("part_effectif_prive_central", "DOUBLE", _PART_PRIVE + " : estimation centrale.", unit="ratio (0-1)",
           minimum=0, maximum=1),
    Column("part_effectif_prive_ic90_bas", "DOUBLE", _PART_PRIVE + " : borne basse" + _IC90 + ".",
           unit="ratio (0-1)", minimum=0, maximum=1),
    Column("part_effectif_prive_ic90_haut", "DOUBLE", _PART_PRIVE + " : borne haute" + _IC90 + ".",
           unit="ratio (0-1)", minimum=0, maximum=1),
    Column("etablissements_pour_1000_hab", "DOUBLE", "Établissements actifs pour 1 000 habitants (population "
           "municipale du territoire, partie dans le département)", unit="établissements pour 1 000 habitants",
           minimum=0),
    Column("effectif_pour_1000_hab", "DOUBLE", "Effectif salarié central au 31/12 de l'année pour 1 000 habitants",
           unit="salariés pour 1 000 habitants", minimum=0),
    Column("population", "BIGINT", "Population municipale du territoire (communes du département seulement), "
           "COG du millésime", unit="habitants", minimum=0),
]

_CUBE_PROVENANCE = [
    Column("date_reference_etablissements", "DATE", "Date à laquelle les établissements sont comptés : 31/12 de "
           "l'année, ou dernier jour du mois du millésime SIRENE pour l'année du millésime", nullable=False),
    Column("date_reference_effectifs", "DATE", "Date que mesure l'emploi de la ligne : 31/12 de l'année (NULL sans "
           "emploi)"),
    Column("statut_effectifs", "VARCHAR", "cale : emploi calé sur l'URSSAF de l'année ; non_cale : estimé sans "
           "calage (à lire comme un ordre de grandeur) ; NULL sans emploi", values=("cale", "non_cale")),
    Column("sources", "VARCHAR", "Sources et millésimes de la ligne (SIRENE, URSSAF pour le calage, COG)",
           nullable=False),
]

_CUBE_INTERNAL = [
    Column("effectif_prive_central", "DOUBLE", "Partie de l'effectif central au 31/12 de l'année dans le champ "
           "privé de l'URSSAF", unit="salariés", minimum=0, internal=True),
    Column("variance_effectif", "DOUBLE", "Variance a posteriori de l'effectif au 31/12 de la ligne (intervalles)",
           unit="salariés²", minimum=0, internal=True),
    Column("variance_effectif_prive", "DOUBLE", "Variance a posteriori de sa partie dans le champ privé (31/12)",
           unit="salariés²", minimum=0, internal=True),
    Column("nb_contributeurs", "BIGINT", "Nombre d'établissements contribuant à l'effectif au 31/12 de l'année "
           "(effectif estimé d'au moins 0,5 salarié)", unit="établissements", minimum=0, internal=True),
    Column("effectif_max_contributeur", "DOUBLE", "Effectif central au 31/12 du plus gros établissement de la "
           "cellule", unit="salariés", minimum=0, internal=True),
    Column("nb_unites_legales_contributrices", "BIGINT", "Nombre d'unités légales contribuant à l'effectif",
           unit="unités légales", minimum=0, internal=True),
    Column("effectif_max_unite_legale", "DOUBLE", "Effectif central au 31/12 de la plus grosse unité légale de la "
           "cellule (somme de ses établissements dans la cellule) : base de la règle de dominance",
           unit="salariés", minimum=0, internal=True),
    Column("nb_unites_legales", "BIGINT", "Nombre d'unités légales (SIREN) ayant au moins un établissement dans la "
           "cellule, employeuses ou non : base de la règle de fréquence des effectifs", unit="unités légales",
           minimum=0, internal=True),
]

OUT_INDICATEURS = (_CUBE_KEYS + _CUBE_COUNTS + _CUBE_EMPLOYMENT + _CUBE_RATIOS
                   + _CUBE_INTERNAL + _CUBE_PROVENANCE)

_SECRET_COLUMNS = [
    Column("statut_secret_etablissements", "VARCHAR", "Secret des nombres d'établissements : toujours NULL. Les "
           "nombres d'établissements viennent d'un répertoire public (SIRENE) et sont diffusés comme l'INSEE le "
           "fait pour ses dénombrements d'établissements (METHOD.md § 6)", values=STATUTS_SECRET),
    Column("statut_secret_effectifs", "VARCHAR", "Secret statistique des effectifs (central, intervalle à 90 %, pour 1 000 "
           "habitants) : NULL si diffusés, sinon le motif (frequence : moins de 3 unités légales dans la cellule ; "
           "dominance : une unité légale fait plus de 85 % de l'effectif central ; secondaire : masqué pour qu'aucune "
           "cellule sensible ne puisse être recalculée ou encadrée de trop près ; non_diffuse : effectif par "
           "secteur ou taille publié au niveau départemental seulement, ou, pour les années antérieures à l'année "
           "de l'emploi du run, emploi communal ou par secteur, gardé dans le cube interne)", values=STATUTS_SECRET_EFFECTIFS),
    Column("statut_secret_part_etablissements", "VARCHAR", "Secret de part_ess_etablissements_employeurs : le "
           "motif de la ligne, ou « denominateur » si la ligne « ensemble » correspondante est masquée",
           values=STATUTS_SECRET_PARTS),
    Column("statut_secret_part_effectifs", "VARCHAR", "Secret des parts d'effectif (des deux dénominateurs) : le "
           "motif de la ligne, ou "
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
                           "famille de l'ESS, périmètres, activité, territoires, tranche SIRENE et effectif "
                           "salarié estimé au 31/12 de l'année d'emploi avec son intervalle à 90 %.",
    "core_calibration": "Calage de l'emploi sur l'URSSAF, par année (effectifs au 31/12) et groupe : cible publiée, "
                        "conversion moyenne annuelle → 31/12, totaux avant et après calage, résidus, désaccord "
                        "des deux fichiers URSSAF sur le reste de l'économie.",
    "core_ecart_urssaf": "Écart entre l'effectif estimé (avant et après calage) et l'effectif URSSAF (commune × "
                         "APE) au 31/12 de l'année d'emploi, par commune.",
    "out_audit_perimetre": "Audit du périmètre : ce que chaque catégorie juridique et chaque règle d'exclusion "
                           "fait entrer ou sortir, et le recouvrement des périmètres nommés.",
    "out_indicateurs": "Cube des indicateurs (interne, non protégé) : territoire × famille × secteur ou taille "
                       "× année × périmètre.",
    "out_indicateurs_public": "Cube des indicateurs publiable : secret statistique appliqué (fréquence, "
                              "dominance, secret secondaire) ; les communes n'y figurent qu'en totaux par famille.",
}
# Columns every published file carries besides the table's own (written by transforms/publish.py): the keys of its
# partition, as text in the file itself (so that « 01 » or « 2A » stay codes in pandas, pyarrow and DuckDB, whose
# readers would guess integers from `key=value` folder names), and the synthetic flag of the data.
PUBLICATION_COLUMNS = [
    Column("departement", "VARCHAR", "Département du run qui a publié la ligne (code INSEE en texte : « 01 », "
           "« 2A », « 38 »)", nullable=False, key=True),
    Column("millesime", "VARCHAR", "Millésime SIRENE du run, AAAA-MM. La vue du catalogue au nom de la table ne "
           "garde que le dernier millésime publié de chaque département ; la vue <table>_historique les garde tous",
           nullable=False, key=True),
    Column("donnees_synthetiques", "BOOLEAN", "Vrai si la ligne est calculée sur des données synthétiques "
           "(échantillon généré) : elle ne décrit pas la réalité", nullable=False),
]

# What a query of each table must filter on to count each thing once (the catalog's view comments and the
# dictionary carry it). The cube is a grid of overlapping totals: forgetting a dimension adds up its levels.
_CUBE_GUIDE = (
    "Filtres à poser pour compter chaque chose une fois : niveau (un seul niveau géographique) ; perimetre (les "
    "trois périmètres insee, loi2014, flag sont dans la même table) ; famille (« ess » = total des familles, "
    "« ensemble » = toute l'économie) ; nomenclature_secteur ET secteur (« ensemble »/« ensemble » pour le total "
    "tous secteurs, sinon chaque secteur revient une fois par nomenclature) ; classe_taille = « ensemble » sauf "
    "pour le détail par taille ; annee (l'emploi n'existe que pour les années jusqu'à l'année d'emploi du run, "
    "les nombres d'établissements pour toutes). ")
_PUBLIC_GUIDE = (
    "Les effectifs masqués par le secret statistique sont NULL (statut_secret_effectifs = frequence, dominance "
    "ou secondaire) : la somme des communes ou des secteurs publiés n'égale donc pas le total du département, "
    "lisez le total sur sa propre ligne. statut_secret_effectifs = « non_diffuse » n'est PAS un secret : "
    "l'effectif n'est simplement pas publié à ce niveau ou pour cette année. ")
QUERY_GUIDES = {
    "out_indicateurs_public": _CUBE_GUIDE + _PUBLIC_GUIDE,
    "out_indicateurs": _CUBE_GUIDE + "Table interne : aucun secret appliqué, ne pas diffuser.",
    "out_audit_perimetre": "Filtrer sur perimetre et rubrique : une ligne compte des unités de la rubrique "
                           "seulement ; les rubriques se recouvrent.",
    "core_etablissements": "Un établissement par ligne et par périmètre du run : filtrer sur perimetre ; "
                           "actifs et fermés sont présents (filtrer sur l'état administratif pour un stock). "
                           "Table interne, à ne pas diffuser.",
    "core_calibration": "Une ligne par année et groupe de calage : filtrer sur annee.",
    "core_ecart_urssaf": "Une ligne par commune : filtrer sur la commune ou sommer sur le département.",
}


def describe_table(table: str) -> tuple[str, dict[str, str]]:
    """The table's French description and, per column, 'description [unité] (contrainte)' for COMMENTs."""
    docs = {}
    for c in columns(table) + PUBLICATION_COLUMNS:
        text = c.description + (f" [{c.unit}]" if c.unit else "")
        docs[c.name] = text + (f" ({c.constraint})" if c.constraint else "")
    return TABLE_DOCS.get(table, table), docs


def query_guide(table: str) -> str:
    """What a query of `table` must filter on (French), empty when nothing special."""
    return QUERY_GUIDES.get(table, "")


def dictionary_rows() -> list[dict[str, str]]:
    """One row per column of every described table, as published (with the publication columns): the data
    dictionary."""
    return [
        {"table": table, "colonne": c.name, "type": c.type, "unite": c.unit or "", "description": c.description,
         "contrainte": c.constraint}
        for table in TABLES for c in PUBLICATION_COLUMNS + columns(table)
    ]


def columns(table: str) -> list[Column]:
    """The column records of a table (KeyError names the tables described here)."""
    try:
        return TABLES[table]
    except KeyError:
        raise KeyError(f"no column definitions for table {table!r}; described: {sorted(TABLES)}") from None


def names(table: str) -> list[str]:
    return [c.name for c in columns(table)]
