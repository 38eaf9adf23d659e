"""The generator's picture of a département's economy: kinds of legal units, their legal forms, activities, sizes.

These are the knobs of a synthetic world, tuned so that the mix looks like a real French département (individual
entrepreneurs and SAS/SARL dominate the stock, associations dominate the ESS, the ESS weighs about 10 % of
salaried employment). They are NOT domain rules: the pipeline never reads them. The ESS families and the URSSAF
field below mirror /docs (ESS_PERIMETER.md, EMPLOYMENT.md) only to compute the ground truth the pipeline is
measured against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Reference dates of the sample: the SIRENE millésime, and the year of the URSSAF figures (= the truth's year).
MILLESIME = "2026-10"
MILLESIME_END = np.datetime64("2026-10-31")
URSSAF_YEAR = 2025
URSSAF_FIRST_YEAR_ESS = 2012
COMMUNE_APE_FIRST_YEAR = 2006
BAND_YEAR = 2023  # year of most size bands in the stock
HISTORY_FIRST_YEAR = 2006  # first year of the true headcounts (and of URSSAF's commune × APE series)
NAF2008 = np.datetime64("2008-01-01")

# (code|label) of the NAF rév. 2 sub-classes the generator uses when data/reference/naf_rev2.csv is absent, with
# weights for individual entrepreneurs (ei) and companies (soc).
_GENERAL_NAF = """
01.11Z|Culture de céréales, de légumineuses et de graines oléagineuses|20|3
01.41Z|Élevage de vaches laitières|12|2
10.71C|Boulangerie et boulangerie-pâtisserie|6|8
25.62B|Mécanique industrielle|2|8
26.11Z|Fabrication de composants électroniques|0|3
28.29B|Fabrication d'autres machines d'usage général|0|4
41.20A|Construction de maisons individuelles|4|12
43.21A|Travaux d'installation électrique dans tous locaux|22|20
43.22A|Travaux d'installation d'eau et de gaz en tous locaux|18|14
43.32A|Travaux de menuiserie bois et PVC|14|10
43.34Z|Travaux de peinture et vitrerie|18|9
43.99C|Travaux de maçonnerie générale et gros œuvre de bâtiment|16|18
45.20A|Entretien et réparation de véhicules automobiles légers|8|14
46.90Z|Commerce de gros (commerce interentreprises) non spécialisé|2|16
47.11B|Commerce d'alimentation générale|6|6
47.11D|Supermarchés|0|5
47.71Z|Commerce de détail d'habillement en magasin spécialisé|10|12
47.73Z|Commerce de détail de produits pharmaceutiques en magasin spécialisé|1|10
47.91B|Vente à distance sur catalogue spécialisé|30|10
49.32Z|Transports de voyageurs par taxis|12|4
49.41A|Transports routiers de fret interurbains|4|10
53.20Z|Autres activités de poste et de courrier|20|1
55.10Z|Hôtels et hébergement similaire|2|8
56.10A|Restauration traditionnelle|22|36
56.10C|Restauration de type rapide|14|14
62.01Z|Programmation informatique|26|26
62.02A|Conseil en systèmes et logiciels informatiques|16|20
66.22Z|Activités des agents et courtiers d'assurances|6|6
68.20A|Location de logements|30|6
68.31Z|Agences immobilières|10|12
69.10Z|Activités juridiques|8|4
69.20Z|Activités comptables|4|10
70.22Z|Conseil pour les affaires et autres conseils de gestion|40|40
71.11Z|Activités d'architecture|8|6
71.12B|Ingénierie, études techniques|10|22
73.11Z|Activités des agences de publicité|8|8
74.10Z|Activités spécialisées de design|24|6
74.20Z|Activités photographiques|12|2
74.90B|Activités spécialisées, scientifiques et techniques diverses|20|8
78.10Z|Activités des agences de placement de main-d'œuvre|1|3
81.21Z|Nettoyage courant des bâtiments|10|10
81.30Z|Services d'aménagement paysager|12|6
82.99Z|Autres activités de soutien aux entreprises n.c.a.|20|14
85.51Z|Enseignement de disciplines sportives et d'activités de loisirs|18|3
85.59A|Formation continue d'adultes|14|10
86.21Z|Activité des médecins généralistes|14|2
86.23Z|Pratique dentaire|6|3
86.90D|Activités des infirmiers et des sages-femmes|22|1
86.90E|Activités des professionnels de la rééducation, de l'appareillage et des pédicures-podologues|18|2
88.10A|Aide à domicile|3|2
90.01Z|Arts du spectacle vivant|16|2
93.13Z|Activités des centres de culture physique|2|3
96.02A|Coiffure|16|12
96.02B|Soins de beauté|18|4
96.09Z|Autres services personnels n.c.a.|24|4
"""


def _parse(block: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rows = [line.split("|") for line in block.strip().splitlines()]
    codes = np.array([r[0] for r in rows])
    labels = np.array([r[1] for r in rows])
    return codes, labels, np.array([float(r[2]) for r in rows]), np.array([float(r[3]) for r in rows])


GENERAL_NAF_CODES, GENERAL_NAF_LABELS, GENERAL_NAF_W_EI, GENERAL_NAF_W_SOC = _parse(_GENERAL_NAF)

# Labels of the other codes used below (for the URSSAF exports when the NAF table is absent).
EXTRA_NAF_LABELS = {
    "01.13Z": "Culture de légumes, de melons, de racines et de tubercules", "01.50Z": "Culture et élevage associés",
    "01.61Z": "Activités de soutien aux cultures", "10.51A": "Fabrication de lait liquide et de produits frais",
    "36.00Z": "Captage, traitement et distribution d'eau", "38.11Z": "Collecte des déchets non dangereux",
    "38.32Z": "Récupération de déchets triés",
    "46.21Z": "Commerce de gros de céréales, de tabac non manufacturé, "
    "de semences et d'aliments pour le bétail", "47.78A": "Commerces de détail d'optique",
    "55.20Z": "Hébergement touristique et autre hébergement de courte durée", "56.29B": "Autres services de "
    "restauration n.c.a.", "64.19Z": "Autres intermédiations monétaires", "65.11Z": "Assurance vie",
    "65.12Z": "Autres assurances", "65.20Z": "Réassurance", "68.10Z": "Activités des marchands de biens immobiliers",
    "68.20B": "Location de terrains et d'autres biens immobiliers", "68.32A": "Administration d'immeubles et autres "
    "biens immobiliers", "72.19Z": "Recherche-développement en autres sciences physiques et naturelles",
    "78.20Z": "Activités des agences de travail temporaire", "79.90Z": "Autres services de réservation et "
    "activités connexes", "81.10Z": "Activités combinées de soutien lié aux bâtiments",
    "84.11Z": "Administration publique générale", "84.12Z": "Administration publique (tutelle) de la santé, de la "
    "formation, de la culture et des services sociaux, autre que sécurité sociale",
    "84.13Z": "Administration publique (tutelle) des activités économiques",
    "84.25Z": "Services du feu et de secours", "84.30A": "Activités générales de sécurité sociale",
    "85.10Z": "Enseignement pré-primaire",
    "85.20Z": "Enseignement primaire", "85.31Z": "Enseignement secondaire général",
    "85.42Z": "Enseignement supérieur", "85.59B": "Autres enseignements", "86.10Z": "Activités hospitalières",
    "87.10A": "Hébergement médicalisé pour personnes âgées", "87.10B": "Hébergement médicalisé pour enfants "
    "handicapés", "87.20A": "Hébergement social pour handicapés mentaux et malades mentaux",
    "87.30A": "Hébergement social pour personnes âgées", "87.90B": "Hébergement social pour adultes et familles "
    "en difficultés et autre hébergement social", "88.10B": "Accueil ou accompagnement sans hébergement "
    "d'adultes handicapés ou de personnes âgées", "88.10C": "Aide par le travail",
    "88.91A": "Accueil de jeunes enfants", "88.91B": "Accueil ou accompagnement sans hébergement d'enfants "
    "handicapés", "88.99A": "Autre accueil ou accompagnement sans hébergement d'enfants et d'adolescents",
    "88.99B": "Action sociale sans hébergement n.c.a.", "90.04Z": "Gestion de salles de spectacles",
    "91.01Z": "Gestion des bibliothèques et des archives", "91.02Z": "Gestion des musées",
    "93.11Z": "Gestion d'installations sportives", "93.12Z": "Activités de clubs de sports",
    "93.29Z": "Autres activités récréatives et de loisirs", "94.11Z": "Activités des organisations patronales et "
    "consulaires", "94.12Z": "Activités des organisations professionnelles", "94.20Z": "Activités des syndicats "
    "de salariés", "94.91Z": "Activités des organisations religieuses", "94.92Z": "Activités des organisations "
    "politiques", "94.99Z": "Activités des organisations associatives n.c.a.",
}


@dataclass(frozen=True)
class Profile:
    """A kind of legal unit: its share of units, legal forms, activities and size."""

    name: str
    share: float  # of generated legal units (communes and other fixed public bodies come on top)
    cj: dict[str, float]
    naf: dict[str, float]
    p_employer: float  # probability that an active establishment employs
    mu: float  # log-normal headcount of an employer establishment (before the ×1 floor)
    sigma: float
    age_years: float  # mean age of units (exponential)
    p_closed: float  # share of establishments closed
    p_multi: float  # share of units with more than one establishment
    p_ess_flag: float  # share of active units flagged ESS 'O' in SIRENE (the others 'N' or empty)
    big_naf_boost: float = 0.0  # extra log-size for care, education and health activities


_CARE = {"86": 1.0, "87": 1.0, "88": 0.8, "85": 0.6}

PROFILES = (
    Profile("entrepreneur_individuel", 0.505, {"1000": 1.0}, {}, 0.08, 0.35, 0.75, 10, 0.50, 0.02, 0.0),
    Profile("societe", 0.265,
            {"5710": 0.50, "5499": 0.36, "5485": 0.03, "5785": 0.02, "5599": 0.03, "5699": 0.01, "5202": 0.01,
             "5308": 0.002, "6220": 0.004, "6589": 0.02, "5306": 0.002, "5800": 0.001, "5510": 0.001},
            {}, 0.62, 2.25, 1.35, 13, 0.40, 0.10, 0.004),
    Profile("societe_civile_immobiliere", 0.09,
            {"6540": 0.88, "6541": 0.04, "6599": 0.06, "2110": 0.02},
            {"68.20B": 0.7, "68.20A": 0.22, "68.10Z": 0.06, "68.32A": 0.02}, 0.006, 0.2, 0.5, 14, 0.25, 0.0, 0.0),
    Profile("agricole", 0.02, {"6533": 0.35, "6597": 0.3, "6598": 0.35},
            {"01.11Z": 0.3, "01.41Z": 0.3, "01.13Z": 0.1, "01.50Z": 0.2, "01.61Z": 0.1}, 0.25, 0.6, 0.8, 18, 0.3,
            0.02, 0.0),
    Profile("association", 0.085,
            {"9220": 0.945, "9221": 0.01, "9222": 0.004, "9230": 0.012, "9210": 0.012, "9240": 0.003,
             "9223": 0.01, "9260": 0.004},
            {"94.99Z": 0.50, "93.12Z": 0.13, "93.29Z": 0.05, "90.01Z": 0.05, "88.99B": 0.05, "85.59A": 0.03,
             "85.59B": 0.02, "88.10A": 0.006, "88.10B": 0.005, "88.10C": 0.004, "88.91A": 0.008, "88.91B": 0.003,
             "88.99A": 0.008, "87.10A": 0.004, "87.10B": 0.002, "87.20A": 0.004, "87.30A": 0.004, "87.90B": 0.004,
             "86.10Z": 0.002, "85.10Z": 0.003, "85.20Z": 0.008, "85.31Z": 0.004, "91.02Z": 0.005, "55.20Z": 0.005,
             "79.90Z": 0.005, "94.12Z": 0.02, "93.11Z": 0.01, "90.04Z": 0.008, "94.91Z": 0.015, "94.92Z": 0.004,
             "94.20Z": 0.004, "94.11Z": 0.002, "84.11Z": 0.001, "84.13Z": 0.001, "78.20Z": 0.002},
            0.11, 1.65, 1.2, 22, 0.30, 0.02, 0.88, big_naf_boost=1.7),
    Profile("cooperative_banque", 0.0012,
            {"5192": 0.15, "5196": 0.15, "6595": 0.35, "6596": 0.35}, {"64.19Z": 1.0}, 0.6, 2.9, 0.7, 45, 0.15,
            0.1, 0.75),
    Profile("cooperative_agricole", 0.0015, {"6316": 0.6, "6317": 0.3, "6318": 0.05, "6532": 0.05},
            {"01.61Z": 0.6, "46.21Z": 0.25, "10.51A": 0.15}, 0.35, 2.0, 1.2, 35, 0.25, 0.05, 0.6),
    Profile("cooperative_autre", 0.0013,
            {"5458": 0.3, "5558": 0.04, "5658": 0.02, "5460": 0.08, "5560": 0.06, "5453": 0.08, "5552": 0.06,
             "5443": 0.04, "5547": 0.03, "5559": 0.03, "5459": 0.03, "6543": 0.05, "6560": 0.05, "6558": 0.03,
             "5451": 0.03, "5455": 0.04, "5203": 0.01, "5307": 0.01, "5194": 0.01},
            {"43.21A": 0.1, "43.99C": 0.1, "62.01Z": 0.1, "71.12B": 0.1, "74.90B": 0.05, "47.11B": 0.1,
             "56.10A": 0.08, "68.20A": 0.07, "41.20A": 0.1, "49.41A": 0.05, "85.59A": 0.05, "38.32Z": 0.05,
             "88.99B": 0.05}, 0.6, 2.6, 1.2, 20, 0.25, 0.05, 0.85),
    Profile("mutuelle", 0.0007, {"8210": 0.6, "8290": 0.2, "8250": 0.1, "6411": 0.1},
            {"65.12Z": 0.55, "65.11Z": 0.1, "47.78A": 0.1, "86.23Z": 0.06, "86.10Z": 0.04, "88.10A": 0.05,
             "86.21Z": 0.05, "65.20Z": 0.05}, 0.65, 2.7, 1.2, 40, 0.25, 0.25, 0.8),
    Profile("fondation", 0.0004, {"9300": 1.0},
            {"88.99B": 0.25, "87.10A": 0.15, "86.10Z": 0.1, "72.19Z": 0.1, "94.99Z": 0.2, "85.59A": 0.1,
             "88.10C": 0.1}, 0.6, 2.9, 1.2, 30, 0.15, 0.2, 0.85),
    Profile("public", 0.006,
            {"7361": 0.18, "7331": 0.16, "7353": 0.1, "7354": 0.06, "7355": 0.03, "7362": 0.05, "7366": 0.05,
             "7364": 0.01, "7373": 0.04, "7379": 0.06, "7321": 0.08, "7172": 0.04, "7410": 0.02, "4140": 0.03,
             "7371": 0.01, "7372": 0.002, "7381": 0.008, "4110": 0.006, "7389": 0.02, "7367": 0.03},
            {}, 0.6, 2.6, 1.2, 40, 0.15, 0.15, 0.0),
    Profile("autre_prive", 0.0236,
            {"9110": 0.55, "9150": 0.12, "8410": 0.04, "8420": 0.02, "8310": 0.06, "8311": 0.02, "8510": 0.004,
             "8450": 0.01, "8490": 0.01, "9900": 0.05, "9970": 0.006, "2210": 0.02, "2310": 0.02, "6599": 0.05,
             "6901": 0.02, "8110": 0.004, "8190": 0.006, "3120": 0.02},
            {}, 0.12, 1.0, 1.2, 25, 0.2, 0.03, 0.0),
)

# Activities of the public and "other private" legal forms (by legal form, not by profile).
NAF_BY_CJ = {
    "7361": {"88.99B": 0.8, "87.30A": 0.2}, "7331": {"85.31Z": 1.0}, "7353": {"84.11Z": 0.5, "36.00Z": 0.5},
    "7354": {"38.11Z": 0.5, "84.11Z": 0.5}, "7355": {"84.13Z": 0.6, "38.11Z": 0.4}, "7362": {"56.29B": 1.0},
    "7366": {"87.10A": 0.8, "87.20A": 0.2}, "7364": {"86.10Z": 1.0}, "7373": {"90.04Z": 0.5, "91.01Z": 0.5},
    "7379": {"84.11Z": 0.6, "93.11Z": 0.4}, "7321": {"01.61Z": 0.5, "81.30Z": 0.5}, "7172": {"84.11Z": 1.0},
    "7410": {"84.13Z": 0.5, "72.19Z": 0.5}, "4140": {"36.00Z": 0.6, "49.41A": 0.4}, "7371": {"68.20A": 1.0},
    "7372": {"84.25Z": 1.0}, "7381": {"94.11Z": 1.0}, "4110": {"53.20Z": 1.0}, "7389": {"84.12Z": 1.0},
    "7367": {"88.99B": 1.0},
    "9110": {"81.10Z": 0.5, "68.32A": 0.5}, "9150": {"81.10Z": 0.6, "94.99Z": 0.4}, "8410": {"94.20Z": 1.0},
    "8420": {"94.11Z": 1.0}, "8310": {"94.99Z": 0.5, "88.99B": 0.5}, "8311": {"94.99Z": 1.0},
    "8510": {"65.12Z": 1.0}, "8450": {"94.12Z": 1.0}, "8490": {"94.12Z": 1.0}, "9900": {"94.99Z": 1.0},
    "9970": {"86.10Z": 1.0}, "2210": {"70.22Z": 0.5, "68.20B": 0.5}, "2310": {"68.20B": 1.0},
    "6599": {"68.20B": 0.6, "70.22Z": 0.4}, "6901": {"70.22Z": 1.0}, "8110": {"84.30A": 1.0},
    "8190": {"65.12Z": 1.0}, "3120": {"46.90Z": 0.5, "70.22Z": 0.5},
}

# Secondary establishments of communes and intercommunalities.
SECONDARY_NAF_BY_CJ = {
    "7210": {"85.20Z": 0.2, "56.29B": 0.2, "88.91A": 0.2, "93.11Z": 0.15, "91.01Z": 0.15, "84.11Z": 0.1},
    "7344": {"38.11Z": 0.5, "93.11Z": 0.3, "84.11Z": 0.2},
    "7348": {"38.11Z": 0.5, "93.11Z": 0.3, "84.11Z": 0.2},
    "7346": {"38.11Z": 0.5, "93.11Z": 0.3, "84.11Z": 0.2},
}

# Activities of commercial companies flagged ESS in SIRENE (SCOP/SCIC as SAS, ESUS companies).
ESS_COMPANY_NAF = {"62.01Z": 0.12, "43.99C": 0.1, "88.99B": 0.12, "38.32Z": 0.12, "56.10A": 0.1, "81.21Z": 0.14,
                   "78.20Z": 0.1, "71.12B": 0.1, "85.59A": 0.1}
CARE_DIVISIONS = _CARE
PROFILE_NAMES = tuple(p.name for p in PROFILES)

# Yearly growth of the headcount of a unit of each kind (trend of its random walk), and the years of the economy's
# dips (log change of every headcount at 31 December of that year).
GROWTH_BY_PROFILE = {"association": 0.012, "cooperative_banque": 0.003, "cooperative_agricole": 0.006,
                     "cooperative_autre": 0.01, "mutuelle": 0.004, "fondation": 0.02, "public": 0.005,
                     "default": 0.011}
MACRO_SHOCKS = {2008: -0.01, 2009: -0.03, 2020: -0.035}
# Yearly fall, since 2008, of the probability that a newly created establishment employs (creations boomed, the
# number of employers did not).
EMPLOYER_CREATION_DECAY = 0.06

# Legal forms by ESS family (ESS_PERIMETER.md), used to compute the ground truth only.
FAMILY_CJ = {
    "associations": {"9210", "9220", "9221", "9222", "9230", "9240", "9260"},
    "fondations": {"9300"},
    "mutuelles": {"8210", "8250", "8290", "6411"},
    "cooperatives": {
        "5191", "5192", "5193", "5194", "5195", "5196", "5203", "5307", "5309", "5443", "5451", "5453", "5454",
        "5455", "5458", "5459", "5460", "5543", "5547", "5551", "5552", "5553", "5554", "5555", "5558", "5559",
        "5560", "5643", "5647", "5651", "5652", "5653", "5654", "5655", "5658", "5659", "5660", "6316", "6317",
        "6318", "6532", "6543", "6551", "6554", "6558", "6560", "6595", "6596"},
    "autres_organismes": {"8310", "8311", "9150", "9970", "9900"},
}
ESS_FAMILIES_INSEE = ("associations", "cooperatives", "mutuelles", "fondations")
# Activities outside the ESS (reconstruction in ESS_PERIMETER.md): division 84 and these classes.
EXCLUDED_NAF_PREFIXES = ("84.", "94.11", "94.20", "94.91", "94.92")

# The URSSAF field: régime général private employers outside agriculture. Public-law bodies (7xxx) are out; so are
# the units affiliated to the MSA (agricultural cooperatives and groupings, Crédit Agricole, Groupama-type mutuals).
URSSAF_EXCLUDED_CJ_PREFIXES = ("7",)
URSSAF_EXCLUDED_CJ = {"6316", "6317", "6318", "6532", "6533", "6597", "6598", "6596", "8250", "8140"}
URSSAF_EXCLUDED_NAF_DIVISIONS = ("01", "02", "03")
# Exceptions to that rule, which the estimator does not know (its field is the rule, data/reference/champ_urssaf.csv):
# the MSA also covers the staff of bodies that are agricultural by purpose, whatever their legal form and activity
# code (Code rural, art. L722-20): maisons familiales rurales and private agricultural schools (associations, 85),
# agricultural professional bodies (associations, 94.12), agricultural development associations (CIVAM…, 94.99),
# agricultural employers' unions (8420, 94.11), subsidiaries of agricultural credit and insurance groups (companies,
# 64–66). Their jobs are in SIRENE and in the truth, not in URSSAF's files. (legal-form prefixes, activity prefixes,
# share of the legal units of those forms and activities under the MSA); a unit's draw is one uniform number of its
# own random stream (URSSAF_EXCEPTION_STREAM), so that every other draw of the generator stays as it was. Orders of
# magnitude (METHOD.md § 3): about 1 % of the associations' jobs, about one per mille of the private field's.
URSSAF_FIELD_EXCEPTIONS = (
    (("92",), ("85.",), 0.06),
    (("92",), ("94.12",), 0.15),
    (("92",), ("94.99",), 0.01),
    (("8420",), ("94.11",), 0.25),
    (("54", "55", "56", "57"), ("64.", "65.", "66."), 0.02),
)
URSSAF_EXCEPTION_STREAM = 3  # np.random.default_rng([seed, 3]); 1: URSSAF files, 2: ess_since

# Large employers always present (one per top band), so that every band code occurs even in a small sample.
# (label, profile kind, cj, naf, headcount)
ANCHORS = (
    ("CENTRE HOSPITALIER UNIVERSITAIRE", "public", "7364", "86.10Z", 10_240),
    ("UNIVERSITE", "public", "7383", "85.42Z", 5_600),
    ("MICROELECTRONIQUE ALPES", "societe", "5599", "26.11Z", 3_150),
    ("ASSOCIATION DEPARTEMENTALE D'AIDE A DOMICILE", "association", "9220", "88.10A", 1_240),
    ("ASSOCIATION DE PARENTS D'ENFANTS INADAPTES", "association", "9220", "88.10C", 640),
    ("MUTUELLE DE FRANCE ALPES", "mutuelle", "8210", "65.12Z", 310),
    ("FONDATION DE SANTE", "fondation", "9300", "87.10A", 220),
)
