"""Tiny hand-built core and territory tables for the cube tests (columns from docs/CONTRIBUTING.md).

Three communes of département 38 in two EPCIs and two territoires that cut them (non-nested):

    commune  name   pop   EPCI        arr  zone  territoire
    38001    Aval   1000  200000001   381  8401  T1
    38002    Belle  2000  200000001   381  8402  T2
    38003    Combe   500  200000002   382  8402  T2      (EPCI 200000002 also has 73001 in Savoie: partial)

Establishments (millésime 2026-01; perimeter insee unless said):

    siret     siren  commune famille (in insee)         A21 secteur_ess        tranche   bas central haut  employer
    S01       A1     38001   associations (yes)          Q   sante               11        10  14     19    yes
    S02       A1     38001   associations (yes)          Q   sante               01         1   1.5    2    yes
    S03       A2     38002   associations (yes)          R   sports_loisirs      NN         0   0      0    no
    S04       C1     38002   cooperatives (yes)          K   finance_assurance   12        20  30     49    yes
    S05       M1     38003   mutuelles (yes)             K   finance_assurance   02         3   4      5    yes
    S06       H1     38001   - (no)                      G   commerce            03         6   7      9    yes
    S07       H2     38002   - (no)                      G   commerce            01         1   1.5    2    yes
    S08       H3     38003   - (no)                      -   -                   (none)     0   0      0    no
    S09       X1     38003   associations, excluded 94.91 S  organisations_assoc. 01        1   1.5    2    yes
    S10       SC     38001   societes_commerciales_ess   G   commerce            02         3   4      5    yes
                             (insee no, loi2014 yes)
    S11       H5     38001   - (no), CLOSED              G   commerce            11        10  14     19    yes

Yearly activity (core_etablissements_annuel): 2024: S01, S06, S11 (closed since); 2025: every establishment active at
the millésime (S01–S10).

Employment (core_effectifs) is that of the employment year 2025 (31/12/2025): each establishment open then has the
central value above, variance 1 if it employs (0 otherwise), and its calibration cell: S01 and S02 share the cell
38001|8610Z, every other employer is alone in its cell; a cell's denominator is its members' variance + 1. The
millésime year (2026) has counts only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ess.db import connect

MILLESIME = "2026-01"
ANNEE = 2026
ANNEE_EFFECTIFS = 2025
PARAMS = {
    "departement": "38",
    "millesime": MILLESIME,
    "annee_urssaf": 2024,
    "annee_cog": 2026,
    "perimetre": "insee",
    "synthetic": True,
    "run_id": "test",
    # the fixtures' own `territoire` zoning (T1, T2 below) replaces the committed Isère one
    "reference_dir": str(Path(__file__).parent / "reference_cube"),
}

COMMUNES = [
    # code, name, dep, arr, epci, zone, population
    ("38001", "Aval", "38", "381", "200000001", "8401", 1000),
    ("38002", "Belle", "38", "381", "200000001", "8402", 2000),
    ("38003", "Combe", "38", "382", "200000002", "8402", 500),
    ("73001", "Outre", "73", "731", "200000002", "8499", 700),
]
# the `territoire` zoning of reference_cube/zonages/territoire.csv
TERRITOIRES = {"38001": ("T1", "Territoire un"), "38002": ("T2", "Territoire deux"), "38003": ("T2", "Territoire deux")}
EPCI = [
    ("200000001", "CC Une", "CC", 2, 2, 3000, 3000),
    ("200000002", "CC Deux", "CC", 2, 1, 1200, 500),
]

_COMMUNE = {c[0]: c for c in COMMUNES}

# siret suffix, siren, commune, famille_ess, insee, loi2014, flag, motif, section, secteur, tranche, classe,
# bas, central, haut, employeur, actif
ETABLISSEMENTS = [
    ("01", "A1", "38001", "associations", True, True, True, None, "Q", "sante", "11", "10_49", 10, 14, 19, True, True),
    ("02", "A1", "38001", "associations", True, True, True, None, "Q", "sante", "01", "1_9", 1, 1.5, 2, True, True),
    ("03", "A2", "38002", "associations", True, True, True, None, "R", "sports_loisirs", "NN", "sans_salarie",
     0, 0, 0, False, True),
    ("04", "C1", "38002", "cooperatives", True, True, False, None, "K", "finance_assurance", "12", "10_49",
     20, 30, 49, True, True),
    ("05", "M1", "38003", "mutuelles", True, True, False, None, "K", "finance_assurance", "02", "1_9", 3, 4, 5, True,
     True),
    ("06", "H1", "38001", None, False, False, False, None, "G", "commerce", "03", "1_9", 6, 7, 9, True, True),
    ("07", "H2", "38002", None, False, False, False, None, "G", "commerce", "01", "1_9", 1, 1.5, 2, True, True),
    ("08", "H3", "38003", None, False, False, False, None, None, None, None, None, 0, 0, 0, False, True),
    ("09", "X1", "38003", "associations", False, False, True, "94.91", "S", "organisations_associatives", "01", "1_9",
     1, 1.5, 2, True, True),
    ("10", "SC", "38001", "societes_commerciales_ess", False, True, True, None, "G", "commerce", "02", "1_9",
     3, 4, 5, True, True),
    ("11", "H5", "38001", None, False, False, False, None, "G", "commerce", "11", "10_49", 10, 14, 19, True, False),
]
ANNUEL = [("01", 2024), ("06", 2024), ("11", 2024)] + [(f"{n:02d}", 2025) for n in range(1, 11)]


def siren(code: str) -> str:
    """Fixture legal units are named by two letters; the table holds 9-digit SIRENs."""
    return f"{sum(ord(ch) * 10 ** i for i, ch in enumerate(code)):09d}"


def siret(suffix: str, unit: str) -> str:
    return siren(unit) + f"000{suffix}"


def core_etablissements(rows=ETABLISSEMENTS) -> pd.DataFrame:
    records = []
    for (suffix, unit, commune, famille, insee, loi2014, flag, motif, section, secteur, tranche, classe,
         bas, central, haut, employeur, actif) in rows:
        c = _COMMUNE[commune]
        records.append({
            "siret": siret(suffix, unit), "siren": siren(unit), "statut_diffusion": "O",
            "code_commune": commune, "code_commune_source": commune, "code_epci": c[4],
            "code_arrondissement": c[3], "code_zone_emploi": c[5],
            "code_departement": "38", "categorie_juridique": "9220" if famille == "associations" else "5710",
            "famille_ess": famille, "ess_flag": flag,
            "perimetres_inclus": [p for p, inside in (("flag", flag), ("insee", insee), ("loi2014", loi2014))
                                  if inside],
            "motif_exclusion": motif, "activite": None, "nomenclature_activite": "NAFRev2",
            "source_activite": "etablissement", "section_a21": section, "secteur_ess": secteur, "actif": actif,
            "employeur": employeur, "tranche_effectifs": tranche, "annee_effectifs": 2023 if tranche else None,
            "classe_taille": classe, "effectif_tranche_bas": float(bas), "effectif_tranche_haut": float(haut),
            "tranche_ouverte": False, "annee_effectif_estime": ANNEE_EFFECTIFS, "actif_fin_annee_effectif": actif,
            "effectif_central": float(central) if actif else 0.0, "effectif_ic90_bas": float(bas),
            "effectif_ic90_haut": float(haut), "effectif_a_priori": float(central), "classe_modele": None,
            "cellule_calage": None, "statut_calage": "cale",
            # columns the core step adds beyond CONTRIBUTING.md (the perimeter audit reads some of them)
            "motif_placement": None, "categorie_juridique_connue": True, "perimetre": "insee",
            "dans_perimetre": insee, "caractere_employeur": "O" if employeur else "N",
            "tranche_connue": tranche is not None, "champ_urssaf": True, "motif_hors_champ_urssaf": None,
            "denomination": f"Unité {unit}", "enseigne": None,
        })
    return _typed(pd.DataFrame.from_records(records)).astype({"annee_effectifs": "Int32"})


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """Text columns as nullable strings, so that an all-NULL column is still VARCHAR in Parquet."""
    lists = {c for c in df.columns if df[c].map(lambda v: isinstance(v, list)).any()}
    return df.astype({c: "string" for c in df.columns
                      if c not in lists and (df[c].dtype == object or str(df[c].dtype) == "str")})


def core_etablissements_annuel(rows=ANNUEL, etablissements=ETABLISSEMENTS) -> pd.DataFrame:
    units = {e[0]: e[1] for e in etablissements}
    return pd.DataFrame(
        {"siret": [siret(s, units[s]) for s, _ in rows], "annee": [y for _, y in rows], "actif": True}
    ).astype({"annee": "int32"})


def cell_of(suffix: str, commune: str, section) -> str:
    """The calibration cell of a fixture establishment: S01 and S02 share one, the others are alone."""
    return f"{commune}|8610Z" if suffix in ("01", "02") else f"{commune}|{section}{suffix}"


def core_effectifs(rows=ANNUEL, etablissements=ETABLISSEMENTS, projections=None, hors_urssaf=None) -> pd.DataFrame:
    """Employment of the establishments open at 31/12/ANNEE_EFFECTIFS (the yearly rows of that year): the fixture's
    central value, variance 1 for employers, one cell per employer but S01 + S02; `projections`: suffix -> value of
    projection_1 (0 elsewhere); `hors_urssaf`: suffix -> (effectif_hors_urssaf, ecart_type_hors_urssaf,
    variance_hors_urssaf) of the employment URSSAF does not see (0 elsewhere)."""
    etab = {e[0]: e for e in etablissements}
    open_then = [s for s, y in rows if y == ANNEE_EFFECTIFS]
    records = []
    for s in open_then:
        e = etab[s]
        employer = e[15]
        records.append({"siret": siret(s, e[1]), "annee": ANNEE_EFFECTIFS, "central": float(e[13]),
                        "variance": 1.0 if employer else 0.0,
                        "cellule": cell_of(s, e[2], e[8]) if employer else None})
    df = pd.DataFrame(records)
    members = df.groupby("cellule")["variance"].transform("sum")
    out = pd.DataFrame({
        "siret": df["siret"], "annee": df["annee"].astype("int32"), "effectif_central": df["central"],
        "effectif_a_priori": df["central"], "variance_a_priori": df["variance"],
        "denominateur_calage": np.where(df["cellule"].notna(), members + 1.0, np.nan),
        "classe_modele": None, "cellule_calage": df["cellule"], "statut_calage": "cale",
        **{f"projection_{i}": 0.0 for i in range(1, 6)},
        "effectif_hors_urssaf": 0.0, "ecart_type_hors_urssaf": 0.0, "variance_hors_urssaf": 0.0,
        "regle_hors_urssaf": None,
    })
    for suffix, value in (projections or {}).items():
        out.loc[out["siret"] == siret(suffix, etab[suffix][1]), "projection_1"] = value
    for suffix, (central, sd, var) in (hors_urssaf or {}).items():
        row = out["siret"] == siret(suffix, etab[suffix][1])
        out.loc[row, ["effectif_hors_urssaf", "ecart_type_hors_urssaf", "variance_hors_urssaf"]] = (central, sd, var)
        out.loc[row, "regle_hors_urssaf"] = "essai"
    return _typed(out)


def staging_communes() -> pd.DataFrame:
    return pd.DataFrame.from_records(
        [
            {"code_commune": c, "nom_commune": n, "code_departement": d, "code_region": "84",
             "code_arrondissement": a, "siren_epci": e, "code_zone_emploi": z, "population": p, "annee_cog": 2026}
            for c, n, d, a, e, z, p in COMMUNES
        ]
    ).astype({"population": "int32", "annee_cog": "int32"})


def staging_epci() -> pd.DataFrame:
    cols = ["siren_epci", "nom_epci", "nature_epci", "nb_communes", "nb_communes_departement", "population",
            "population_departement"]
    return pd.DataFrame.from_records(EPCI, columns=cols)


def write_tables(directory: Path, frames: dict[str, pd.DataFrame] | None = None) -> dict[str, Path]:
    """Write the fixture tables (or `frames`) as Parquet files named after their tables."""
    frames = frames if frames is not None else default_frames()
    directory.mkdir(parents=True, exist_ok=True)
    con = connect()
    paths = {}
    for name, df in frames.items():
        path = directory / f"{name}.parquet"
        con.register("_df", df)
        con.execute(f"COPY (SELECT * FROM _df) TO '{path}' (FORMAT parquet)")
        con.unregister("_df")
        paths[name] = path
    con.close()
    return paths


def default_frames() -> dict[str, pd.DataFrame]:
    return {
        "core_etablissements": core_etablissements(),
        "core_etablissements_annuel": core_etablissements_annuel(),
        "core_effectifs": core_effectifs(),
        "staging_communes": staging_communes(),
        "staging_epci": staging_epci(),
    }


def many_etablissements(per_commune: int = 24) -> list[tuple]:
    """A bigger deterministic stock (same communes) where some cells pass the rules and others do not."""
    familles = [("associations", True), ("associations", True), ("cooperatives", True), (None, False),
                (None, False), ("mutuelles", True), (None, False), ("fondations", True)]
    secteurs = [("Q", "sante"), ("G", "commerce"), ("K", "finance_assurance"), ("P", "enseignement")]
    bands = [("01", "1_9", 1, 1.5, 2), ("02", "1_9", 3, 4, 5), ("11", "10_49", 10, 14, 19),
             ("NN", "sans_salarie", 0, 0, 0), ("03", "1_9", 6, 7, 9)]
    rows = []
    n = 0
    for commune in ("38001", "38002", "38003"):
        for i in range(per_commune):
            n += 1
            famille, ess = familles[(i + n // 7) % len(familles)]
            section, secteur = secteurs[(i // 2) % len(secteurs)]
            tranche, classe, bas, central, haut = bands[(i * 3 + n) % len(bands)]
            unit = chr(ord("A") + n // 10) + chr(ord("0") + n % 10)
            rows.append((f"{n:02d}"[-2:], unit, commune, famille, ess, ess, ess, None, section, secteur, tranche,
                         classe, bas, central, haut, tranche != "NN", True))
    return rows
