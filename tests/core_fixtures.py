"""A tiny hand-built département 38 for the core tests: staging tables with the CONTRIBUTING.md columns.

Every establishment is there for one rule; the expected answers in the tests are worked out by hand from this list.

  siret suffix / legal unit         rule exercised
  E01  U01 9220 assoc, flag O        association; band 11 [10, 19]; history (flag set in 2020)
  E02  U02 5458 SCOP                 cooperative; band 02; old commune code 38174 → 38001
  E03  U03 8210 mutuelle, flag NULL  mutual; band 32 [250, 499]; commune of a cross-border EPCI (Vienne Condrieu)
  E04  U04 9300 fondation            foundation; band 01
  E05  U05 8310 CSE                  autres_organismes (off by default); band NN
  E06  U06 5710 SAS flag O           commercial ESS company (loi2014, flag); band 00; old code 38113; created 2021
  E07  U07 5710 SAS flag N           not ESS; band 53 [10 000, 20 000], band year 2022
  E08  U08 9220 assoc flag O 94.20Z  NAF rév. 2 exclusion (syndicats), in `flag` only; band 03
  E09  U09 9223 groupement d'empl.   association code left out by default; empty band
  E10  U10 '5400' padded code        unknown legal form; band 12; no commune code
  E11  U11 9220 assoc, NAF 2025 only NAF 2025 exclusion (94.91 religious); band 01; unknown commune 38998
  E12  U12 7210 commune              public law: outside the URSSAF field; band 21
  E13  U13 9220 assoc, no etab APE   fallback to the legal unit's 94.92Z (political: excluded); ambiguous old code
  E14  U01 assoc, no etab APE        fallback to the legal unit's 88.99B (kept); band 02; commune in Rhône
  E15  U01 assoc, closed             closed establishment; band 12
  E16  U07 SAS                       band code '99' missing from the reference
  E17  U17 9220 assoc 84.13Z         division 84 exclusion
  E18  U18 9220 assoc 94.12Z         94.12 rule inactive by default: kept
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

D = dt.date
PARAMS = {"departement": "38", "millesime": "2026-10", "annee_urssaf": 2023, "annee_cog": 2026,
          "perimetre": "insee", "synthetic": True, "run_id": "test"}


def siren(n: int) -> str:
    return f"{n:09d}"


def siret(n: int, unit: int) -> str:
    return f"{siren(unit)}{n:05d}"


# (n, unit, tranche, annee_effectifs, commune, etat, activite etab, nomenclature, naf25 etab)
ETABLISSEMENTS = [
    (1, 1, "11", 2023, "38185", "A", "88.99B", "NAFRev2", "88.99Y"),
    (2, 2, "02", 2023, "38174", "A", "71.12B", "NAFRev2", None),
    (3, 3, "32", 2023, "38544", "A", "65.12Z", "NAFRev2", None),
    (4, 4, "01", 2023, "38185", "A", "86.10Z", "NAFRev2", None),
    (5, 5, "NN", None, "38185", "A", "94.99Z", "NAFRev2", None),
    (6, 6, "00", 2023, "38113", "A", "56.10A", "NAFRev2", None),
    (7, 7, "53", 2022, "38185", "A", "62.01Z", "NAFRev2", None),
    (8, 8, "03", 2023, "38185", "A", "94.20Z", "NAFRev2", None),
    (9, 9, None, None, "38185", "A", "78.30Z", "NAFRev2", None),
    (10, 10, "12", 2023, None, "A", "46.90Z", "NAFRev2", None),
    (11, 11, "01", 2023, "38998", "A", None, None, "94.91Y"),
    (12, 12, "21", 2023, "38185", "A", "84.11Z", "NAFRev2", None),
    (13, 13, "01", 2023, "38999", "A", None, None, None),
    (14, 1, "02", 2023, "69064", "A", None, None, None),
    (15, 1, "12", 2021, "38185", "F", "88.99B", "NAFRev2", None),
    (16, 7, "99", 2023, "38185", "A", "62.01Z", "NAFRev2", None),
    (17, 17, "01", 2023, "38185", "A", "84.13Z", "NAFRev2", None),
    (18, 18, "01", 2023, "38185", "A", "94.12Z", "NAFRev2", None),
]

# (unit, categorie_juridique, flag ESS, activite UL)
UNITES = [
    (1, "9220", "O", "88.99B"), (2, "5458", "O", "71.12B"), (3, "8210", None, "65.12Z"), (4, "9300", "O", "86.10Z"),
    (5, "8310", "N", "94.99Z"), (6, "5710", "O", "56.10A"), (7, "5710", "N", "62.01Z"), (8, "9220", "O", "94.20Z"),
    (9, "9223", "N", "78.30Z"), (10, "5400", "N", "46.90Z"), (11, "9220", "N", None), (12, "7210", None, "84.11Z"),
    (13, "9220", "N", "94.92Z"), (17, "9220", "N", "84.13Z"), (18, "9220", "N", "94.12Z"),
]

COMMUNES = [
    # code, nom, dep, arrondissement, epci, zone d'emploi
    ("38185", "Grenoble", "38", "381", "200040715", "8405"),
    ("38001", "Les Abrets en Dauphiné", "38", "382", "200068567", "8411"),
    ("38544", "Vienne", "38", "383", "200077014", "8418"),
    ("69064", "Condrieu", "69", "691", "200077014", "8418"),  # same EPCI, other département
]
PASSAGE = [("38174", "38001"), ("38113", "38001"), ("38999", "38185"), ("38999", "38544")]
URSSAF_ESS = [
    # annee, dep, champ, famille (the staging step's codes), effectifs (annual averages)
    (2023, "38", "ess", "associations", 25.0), (2023, "38", "ess", "cooperatives", 10.0),
    (2023, "38", "ess", "mutuelles", 300.0), (2023, "38", "ess", "fondations", 0.0),
    (2023, "38", "hors_ess", "hors_ess", 11665.0),
    (2022, "38", "ess", "associations", 24.0), (2023, "69", "ess", "associations", 999.0),
]
URSSAF_COMMUNE_APE = [
    # commune, ape, annee, effectifs (31 December)
    ("38185", "8899B", 2023, 11000.0), ("38174", "7112B", 2023, 1000.0), ("38185", "0111Z", 2023, 500.0),
    ("38185", "8899B", 2022, 10500.0),
]

ETAB_HISTORIQUE = [
    # n, unit, debut, fin, etat, activite
    (1, 1, D(2010, 1, 1), D(2015, 12, 31), "A", "88.99B"), (1, 1, D(2016, 1, 1), None, "A", "88.99B"),
    (15, 1, D(2012, 6, 1), D(2018, 3, 31), "A", "88.99B"), (15, 1, D(2018, 4, 1), None, "F", "88.99B"),
    (6, 6, D(2021, 3, 1), None, "A", "56.10A"),
    (8, 8, D(2010, 1, 1), D(2018, 1, 1), "A", "88.99B"), (8, 8, D(2018, 1, 1), None, "A", "94.20Z"),
]


# E02 keeps no history at all: its past is unknown (test_perimeter checks no yearly row is invented for it)
WITHOUT_HISTORY = {2}


def default_history(etablissements, explicit) -> list[tuple]:
    """One open period since 2005 for every establishment without explicit history (SIRENE gives every
    establishment at least one period), but those of WITHOUT_HISTORY."""
    have = {h[0] for h in explicit} | WITHOUT_HISTORY
    return list(explicit) + [(e[0], e[1], D(2005, 1, 1), None, e[5], e[6]) for e in etablissements
                             if e[0] not in have]
UL_HISTORIQUE = [
    # unit, debut, fin, cj, flag, activite
    (1, D(2010, 1, 1), D(2019, 12, 31), "9220", None, "88.99B"), (1, D(2020, 1, 1), None, "9220", "O", "88.99B"),
    (6, D(2021, 3, 1), D(2022, 12, 31), "5710", "N", "56.10A"), (6, D(2023, 1, 1), None, "5710", "O", "56.10A"),
    (8, D(2010, 1, 1), D(2020, 1, 1), "9220", None, "88.99B"), (8, D(2020, 1, 1), None, "9220", "O", "94.20Z"),
]


def _write(out: Path, name: str, columns: dict[str, tuple[pa.DataType, list]]) -> Path:
    table = pa.table({c: pa.array(values, type=t) for c, (t, values) in columns.items()})
    path = out / f"{name}.parquet"
    pq.write_table(table, path)
    return path


def write_fixture(out: Path, *, etablissements=None, unites=None, urssaf_ess=None, urssaf_commune_ape=None,
                  historique=None, unites_historique=None, communes=None, passage=None,
                  creations=None, non_sieges=(), without: tuple[str, ...] = ()) -> dict[str, Path]:
    """Write the staging tables as Parquet files under `out`; returns {table: path}."""
    out.mkdir(parents=True, exist_ok=True)
    etabs = ETABLISSEMENTS if etablissements is None else etablissements
    units = UNITES if unites is None else unites
    ess = URSSAF_ESS if urssaf_ess is None else urssaf_ess
    cape = URSSAF_COMMUNE_APE if urssaf_commune_ape is None else urssaf_commune_ape
    hist = default_history(etabs, ETAB_HISTORIQUE if historique is None else historique)
    ul_hist = UL_HISTORIQUE if unites_historique is None else unites_historique
    communes = COMMUNES if communes is None else communes
    passage = PASSAGE if passage is None else passage
    # creation dates: E06 in 2021, the others in 2005, unless given (n -> date; None: unknown)
    creations = {6: D(2021, 3, 1)} if creations is None else creations
    s, i, b, d, f = pa.string(), pa.int32(), pa.bool_(), pa.date32(), pa.float64()
    tables = {}
    tables["staging_sirene_etablissements"] = _write(out, "staging_sirene_etablissements", {
        "siret": (s, [siret(e[0], e[1]) for e in etabs]),
        "siren": (s, [siren(e[1]) for e in etabs]),
        "nic": (s, [f"{e[0]:05d}" for e in etabs]),
        "statut_diffusion": (s, ["P" if e[0] == 4 else "O" for e in etabs]),
        "date_creation": (d, [creations.get(e[0], D(2005, 1, 1)) for e in etabs]),
        "tranche_effectifs": (s, [e[2] for e in etabs]),
        "annee_effectifs": (i, [e[3] for e in etabs]),
        "etablissement_siege": (b, [e[0] not in non_sieges for e in etabs]),
        "code_commune": (s, [e[4] for e in etabs]),
        "code_postal": (s, [None for _ in etabs]),
        "etat_administratif": (s, [e[5] for e in etabs]),
        "date_debut": (d, [D(2020, 1, 1) for _ in etabs]),
        "activite_principale": (s, [e[6] for e in etabs]),
        "nomenclature_activite": (s, [e[7] for e in etabs]),
        "activite_principale_naf25": (s, [e[8] for e in etabs]),
        "caractere_employeur": (s, [None for _ in etabs]),
        "denomination_usuelle": (s, [f"Etab {e[0]}" for e in etabs]),
        "enseigne": (s, [f"Enseigne {e[0]}" for e in etabs]),
    })
    tables["staging_sirene_unites_legales"] = _write(out, "staging_sirene_unites_legales", {
        "siren": (s, [siren(u[0]) for u in units]),
        "statut_diffusion": (s, ["O" for _ in units]),
        "date_creation": (d, [D(2005, 1, 1) for _ in units]),
        "categorie_juridique": (s, [u[1] for u in units]),
        "activite_principale": (s, [u[3] for u in units]),
        "nomenclature_activite": (s, ["NAFRev2" if u[3] else None for u in units]),
        "activite_principale_naf25": (s, [None for _ in units]),
        "economie_sociale_solidaire": (s, [u[2] for u in units]),
        "societe_mission": (s, [None for _ in units]),
        "caractere_employeur": (s, [None for _ in units]),
        "tranche_effectifs": (s, [None for _ in units]),
        "annee_effectifs": (i, [None for _ in units]),
        "etat_administratif": (s, ["A" for _ in units]),
        "nic_siege": (s, ["00001" for _ in units]),
        "categorie_entreprise": (s, [None for _ in units]),
        "date_debut": (d, [D(2020, 1, 1) for _ in units]),
        "denomination": (s, [f"Unite {u[0]}" for u in units]),
    })
    tables["staging_sirene_etablissements_historique"] = _write(out, "staging_sirene_etablissements_historique", {
        "siret": (s, [siret(h[0], h[1]) for h in hist]),
        "siren": (s, [siren(h[1]) for h in hist]),
        "nic": (s, [f"{h[0]:05d}" for h in hist]),
        "date_debut": (d, [h[2] for h in hist]),
        "date_fin": (d, [h[3] for h in hist]),
        "etat_administratif": (s, [h[4] for h in hist]),
        "activite_principale": (s, [h[5] for h in hist]),
        "nomenclature_activite": (s, ["NAFRev2" for _ in hist]),
        "caractere_employeur": (s, [None for _ in hist]),
    })
    tables["staging_sirene_unites_legales_historique"] = _write(out, "staging_sirene_unites_legales_historique", {
        "siren": (s, [siren(h[0]) for h in ul_hist]),
        "date_debut": (d, [h[1] for h in ul_hist]),
        "date_fin": (d, [h[2] for h in ul_hist]),
        "etat_administratif": (s, ["A" for _ in ul_hist]),
        "categorie_juridique": (s, [h[3] for h in ul_hist]),
        "activite_principale": (s, [h[5] for h in ul_hist]),
        "nomenclature_activite": (s, ["NAFRev2" for _ in ul_hist]),
        "economie_sociale_solidaire": (s, [h[4] for h in ul_hist]),
        "caractere_employeur": (s, [None for _ in ul_hist]),
        "nic_siege": (s, ["00001" for _ in ul_hist]),
    })
    tables["staging_communes"] = _write(out, "staging_communes", {
        "code_commune": (s, [c[0] for c in communes]),
        "nom_commune": (s, [c[1] for c in communes]),
        "code_departement": (s, [c[2] for c in communes]),
        "code_region": (s, ["84" for _ in communes]),
        "code_arrondissement": (s, [c[3] for c in communes]),
        "siren_epci": (s, [c[4] for c in communes]),
        "code_zone_emploi": (s, [c[5] for c in communes]),
        "population": (i, [1000 for _ in communes]),
        "annee_cog": (i, [2026 for _ in communes]),
    })
    tables["staging_communes_passage"] = _write(out, "staging_communes_passage", {
        "ancien_code": (s, [p[0] for p in passage]), "code_commune": (s, [p[1] for p in passage])})
    tables["staging_urssaf_ess_departement"] = _write(out, "staging_urssaf_ess_departement", {
        "annee": (i, [r[0] for r in ess]), "code_departement": (s, [r[1] for r in ess]),
        "champ_ess": (s, [r[2] for r in ess]), "famille_ess": (s, [r[3] for r in ess]),
        "nb_etablissements": (f, [1.0 for _ in ess]), "effectifs_salaries": (f, [r[4] for r in ess]),
        "masse_salariale": (f, [0.0 for _ in ess])})
    tables["staging_urssaf_commune_ape"] = _write(out, "staging_urssaf_commune_ape", {
        "code_commune": (s, [r[0] for r in cape]), "code_epci": (s, [None for _ in cape]),
        "code_zone_emploi": (s, [None for _ in cape]), "libelle_zone_emploi": (s, [None for _ in cape]),
        "code_ape": (s, [r[1] for r in cape]),
        "annee": (i, [r[2] for r in cape]), "nb_etablissements": (f, [1.0 for _ in cape]),
        "effectifs_salaries": (f, [r[3] for r in cape])})
    for name in without:
        tables.pop(name).unlink()
    return tables


def build(tmp: Path, params: dict | None = None, **fixture_kwargs):
    """Write the fixture under `tmp` and build every core table in an in-memory DuckDB; returns (con, stats)."""
    from ess import db
    from transforms.core import run_core

    tables = write_fixture(tmp / "staging", **fixture_kwargs)
    con = db.connect()
    stats = run_core(con, tables, {**PARAMS, **(params or {})})
    return con, stats


def by_siret(con, sql: str) -> dict:
    """{siret: value} or {siret: tuple} from a query whose first column is the siret."""
    out = {}
    for row in con.execute(sql).fetchall():
        out[row[0]] = row[1] if len(row) == 2 else tuple(row[1:])
    return out


def edited_reference(tmp: Path, name: str, replace: tuple[str, str]) -> Path:
    """A reference folder holding one edited copy of data/reference/<name>.csv (a researcher's change)."""
    from ess import paths

    folder = tmp / "reference"
    folder.mkdir(exist_ok=True)
    text = (paths.REFERENCE_DIR / f"{name}.csv").read_text(encoding="utf-8")
    assert replace[0] in text, f"{replace[0]!r} not in {name}.csv"
    (folder / f"{name}.csv").write_text(text.replace(replace[0], replace[1]), encoding="utf-8")
    return folder
