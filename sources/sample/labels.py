"""Labels the URSSAF exports carry next to their codes (regions, former regions, départements, NA17/NA38 sectors).

Only used to make the synthetic exports read like the real ones; the pipeline keys on the codes.
"""

from __future__ import annotations

REGIONS = {
    "01": "Guadeloupe", "02": "Martinique", "03": "Guyane", "04": "La Réunion", "06": "Mayotte",
    "11": "Île-de-France", "24": "Centre-Val de Loire", "27": "Bourgogne-Franche-Comté", "28": "Normandie",
    "32": "Hauts-de-France", "44": "Grand Est", "52": "Pays de la Loire", "53": "Bretagne",
    "75": "Nouvelle-Aquitaine", "76": "Occitanie", "84": "Auvergne-Rhône-Alpes",
    "93": "Provence-Alpes-Côte d'Azur", "94": "Corse",
}

# Former regions (before 2016), as URSSAF still labels its network: code -> (name, départements).
_FORMER = {
    "11": ("Île-de-France", "75 77 78 91 92 93 94 95"),
    "21": ("Champagne-Ardenne", "08 10 51 52"),
    "22": ("Picardie", "02 60 80"),
    "23": ("Haute-Normandie", "27 76"),
    "24": ("Centre", "18 28 36 37 41 45"),
    "25": ("Basse-Normandie", "14 50 61"),
    "26": ("Bourgogne", "21 58 71 89"),
    "31": ("Nord-Pas-de-Calais", "59 62"),
    "41": ("Lorraine", "54 55 57 88"),
    "42": ("Alsace", "67 68"),
    "43": ("Franche-Comté", "25 39 70 90"),
    "52": ("Pays de la Loire", "44 49 53 72 85"),
    "53": ("Bretagne", "22 29 35 56"),
    "54": ("Poitou-Charentes", "16 17 79 86"),
    "72": ("Aquitaine", "24 33 40 47 64"),
    "73": ("Midi-Pyrénées", "09 12 31 32 46 65 81 82"),
    "74": ("Limousin", "19 23 87"),
    "82": ("Rhône-Alpes", "01 07 26 38 42 69 73 74"),
    "83": ("Auvergne", "03 15 43 63"),
    "91": ("Languedoc-Roussillon", "11 30 34 48 66"),
    "93": ("Provence-Alpes-Côte d'Azur", "04 05 06 13 83 84"),
    "94": ("Corse", "2A 2B"),
    "01": ("Guadeloupe", "971"), "02": ("Martinique", "972"), "03": ("Guyane", "973"),
    "04": ("La Réunion", "974"), "06": ("Mayotte", "976"),
}
FORMER_REGION_OF = {dep: (code, name) for code, (name, deps) in _FORMER.items() for dep in deps.split()}

DEPARTEMENTS = dict(
    item.split(":") for item in (
        "01:Ain;02:Aisne;03:Allier;04:Alpes-de-Haute-Provence;05:Hautes-Alpes;06:Alpes-Maritimes;07:Ardèche;"
        "08:Ardennes;09:Ariège;10:Aube;11:Aude;12:Aveyron;13:Bouches-du-Rhône;14:Calvados;15:Cantal;16:Charente;"
        "17:Charente-Maritime;18:Cher;19:Corrèze;21:Côte-d'Or;22:Côtes-d'Armor;23:Creuse;24:Dordogne;25:Doubs;"
        "26:Drôme;27:Eure;28:Eure-et-Loir;29:Finistère;2A:Corse-du-Sud;2B:Haute-Corse;30:Gard;31:Haute-Garonne;"
        "32:Gers;33:Gironde;34:Hérault;35:Ille-et-Vilaine;36:Indre;37:Indre-et-Loire;38:Isère;39:Jura;40:Landes;"
        "41:Loir-et-Cher;42:Loire;43:Haute-Loire;44:Loire-Atlantique;45:Loiret;46:Lot;47:Lot-et-Garonne;48:Lozère;"
        "49:Maine-et-Loire;50:Manche;51:Marne;52:Haute-Marne;53:Mayenne;54:Meurthe-et-Moselle;55:Meuse;"
        "56:Morbihan;57:Moselle;58:Nièvre;59:Nord;60:Oise;61:Orne;62:Pas-de-Calais;63:Puy-de-Dôme;"
        "64:Pyrénées-Atlantiques;65:Hautes-Pyrénées;66:Pyrénées-Orientales;67:Bas-Rhin;68:Haut-Rhin;69:Rhône;"
        "70:Haute-Saône;71:Saône-et-Loire;72:Sarthe;73:Savoie;74:Haute-Savoie;75:Paris;76:Seine-Maritime;"
        "77:Seine-et-Marne;78:Yvelines;79:Deux-Sèvres;80:Somme;81:Tarn;82:Tarn-et-Garonne;83:Var;84:Vaucluse;"
        "85:Vendée;86:Vienne;87:Haute-Vienne;88:Vosges;89:Yonne;90:Territoire de Belfort;91:Essonne;"
        "92:Hauts-de-Seine;93:Seine-Saint-Denis;94:Val-de-Marne;95:Val-d'Oise;971:Guadeloupe;972:Martinique;"
        "973:Guyane;974:La Réunion;976:Mayotte"
    ).split(";")
)

# NAF division -> A38 section code; A38 -> A17; A17 -> URSSAF "grand secteur".
_A38_RANGES = (
    ("AZ", 1, 3), ("BZ", 5, 9), ("CA", 10, 12), ("CB", 13, 15), ("CC", 16, 18), ("CD", 19, 19), ("CE", 20, 20),
    ("CF", 21, 21), ("CG", 22, 23), ("CH", 24, 25), ("CI", 26, 26), ("CJ", 27, 27), ("CK", 28, 28),
    ("CL", 29, 30), ("CM", 31, 33), ("DZ", 35, 35), ("EZ", 36, 39), ("FZ", 41, 43), ("GZ", 45, 47),
    ("HZ", 49, 53), ("IZ", 55, 56), ("JA", 58, 60), ("JB", 61, 61), ("JC", 62, 63), ("KZ", 64, 66),
    ("LZ", 68, 68), ("MA", 69, 71), ("MB", 72, 72), ("MC", 73, 75), ("NZ", 77, 82), ("OZ", 84, 84),
    ("PZ", 85, 85), ("QA", 86, 86), ("QB", 87, 88), ("RZ", 90, 93), ("SZ", 94, 96), ("TZ", 97, 98),
    ("UZ", 99, 99),
)
A38_OF_DIVISION = {d: code for code, lo, hi in _A38_RANGES for d in range(lo, hi + 1)}
A38_LABELS = {
    "AZ": "Agriculture, sylviculture et pêche", "BZ": "Industries extractives",
    "CA": "Fabrication de denrées alimentaires, de boissons et de produits à base de tabac",
    "CB": "Fabrication de textiles, industries de l'habillement, industrie du cuir et de la chaussure",
    "CC": "Travail du bois, industries du papier et imprimerie", "CD": "Cokéfaction et raffinage",
    "CE": "Industrie chimique", "CF": "Industrie pharmaceutique",
    "CG": "Fabrication de produits en caoutchouc et en plastique ainsi que d'autres produits minéraux non "
          "métalliques",
    "CH": "Métallurgie et fabrication de produits métalliques à l'exception des machines et des équipements",
    "CI": "Fabrication de produits informatiques, électroniques et optiques",
    "CJ": "Fabrication d'équipements électriques", "CK": "Fabrication de machines et équipements n.c.a.",
    "CL": "Fabrication de matériels de transport",
    "CM": "Autres industries manufacturières ; réparation et installation de machines et d'équipements",
    "DZ": "Production et distribution d'électricité, de gaz, de vapeur et d'air conditionné",
    "EZ": "Production et distribution d'eau ; assainissement, gestion des déchets et dépollution",
    "FZ": "Construction", "GZ": "Commerce ; réparation d'automobiles et de motocycles",
    "HZ": "Transports et entreposage", "IZ": "Hébergement et restauration", "JA": "Édition, audiovisuel et diffusion",
    "JB": "Télécommunications", "JC": "Activités informatiques et services d'information",
    "KZ": "Activités financières et d'assurance", "LZ": "Activités immobilières",
    "MA": "Activités juridiques, comptables, de gestion, d'architecture, d'ingénierie, de contrôle et d'analyses "
          "techniques",
    "MB": "Recherche-développement scientifique",
    "MC": "Autres activités spécialisées, scientifiques et techniques",
    "NZ": "Activités de services administratifs et de soutien", "OZ": "Administration publique",
    "PZ": "Enseignement", "QA": "Activités pour la santé humaine",
    "QB": "Hébergement médico-social et social et action sociale sans hébergement",
    "RZ": "Arts, spectacles et activités récréatives", "SZ": "Autres activités de services",
    "TZ": "Activités des ménages en tant qu'employeurs", "UZ": "Activités extra-territoriales",
}
A17_OF_A38 = {
    "AZ": "AZ", "CA": "C1", "CD": "C2", "CI": "C3", "CJ": "C3", "CK": "C3", "CL": "C4",
    "CB": "C5", "CC": "C5", "CE": "C5", "CF": "C5", "CG": "C5", "CH": "C5", "CM": "C5",
    "BZ": "DE", "DZ": "DE", "EZ": "DE", "FZ": "FZ", "GZ": "GZ", "HZ": "HZ", "IZ": "IZ",
    "JA": "JZ", "JB": "JZ", "JC": "JZ", "KZ": "KZ", "LZ": "LZ", "MA": "MN", "MB": "MN", "MC": "MN", "NZ": "MN",
    "OZ": "OQ", "PZ": "OQ", "QA": "OQ", "QB": "OQ", "RZ": "RU", "SZ": "RU", "TZ": "RU", "UZ": "RU",
}
A17_LABELS = {
    "AZ": "Agriculture, sylviculture et pêche",
    "C1": "Fabrication de denrées alimentaires, de boissons et de produits à base de tabac",
    "C2": "Cokéfaction et raffinage",
    "C3": "Fabrication d'équipements électriques, électroniques, informatiques ; fabrication de machines",
    "C4": "Fabrication de matériels de transport", "C5": "Fabrication d'autres produits industriels",
    "DE": "Industries extractives, énergie, eau, gestion des déchets et dépollution", "FZ": "Construction",
    "GZ": "Commerce ; réparation d'automobiles et de motocycles", "HZ": "Transports et entreposage",
    "IZ": "Hébergement et restauration", "JZ": "Information et communication",
    "KZ": "Activités financières et d'assurance", "LZ": "Activités immobilières",
    "MN": "Activités scientifiques et techniques ; services administratifs et de soutien",
    "OQ": "Administration publique, enseignement, santé humaine et action sociale",
    "RU": "Autres activités de services",
}
GRAND_SECTEUR_OF_A17 = {
    "AZ": "Agriculture", "C1": "Industrie", "C2": "Industrie", "C3": "Industrie", "C4": "Industrie",
    "C5": "Industrie", "DE": "Industrie", "FZ": "Construction", "GZ": "Commerce",
}  # everything else: "Services"
