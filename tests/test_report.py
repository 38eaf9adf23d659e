"""The annual report (reports/): on a small hand-built public cube with suppressed cells.

Fixture: département 38 with three real Isère communes (so the committed contours draw a map), two territoires, two
EPCIs, the four URSSAF families + ess/hors_ess/ensemble, two ESS sectors and two size classes, years 2024–2026
(millésime 2026-01: establishments counted on 31/01/2026, no employment that year). Employment is measured on
31 December of 2024 and 2025 (the employment year). Suppressed cells (statut_secret_*), chosen by hand:
    département, fondations, 2026      frequence (establishments) — its nb_etablissements is left at 2 in the file
                                       on purpose: the report must blank it anyway
    département, fondations, 2025      frequence (employment)
    département, fondations, 2024      frequence (establishments)
    territoire T1, ess, 2026           secondaire (establishments)
    EPCI 200000002, ess, 2025          dominance (employment, hence its shares)
    commune 38003, ess, 2026           frequence (establishments)
    secteur ess:commerce, ess, 2025    secondaire (employment)
"""

from __future__ import annotations

import datetime as dt
import re
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ess.errors import UserError
from reports import annual, charts, export, maps, messages, style, synthesis_pages, urssaf_compare
from reports import selection as sel
from reports.context import load_context
from reports.ewkb import parse_polygons
from reports.simplify import douglas_peucker
from transforms import columns as cols

PARAMS = {"departement": "38", "millesime": "2026-01", "annee_urssaf": 2025, "annee_cog": 2026,
          "perimetre": "insee", "synthetic": True, "run_id": "test"}
Y = 2025  # the employment year
TERRITOIRES = [  # niveau, code, libellé, epci_partiel, population
    ("departement", "38", "Isère", None, 3500),
    ("territoire", "T1", "Voironnais-Chartreuse", None, 1000),
    ("territoire", "T2", "Grésivaudan", None, 2500),
    ("epci", "200000001", "CC Une", False, 3000),
    ("epci", "200000002", "CC Deux", True, 500),
    ("commune", "38001", "Les Abrets en Dauphiné", None, 1000),
    ("commune", "38002", "Les Adrets", None, 2000),
    ("commune", "38003", "Agnin", None, 500),
]
FAMILLES = {"associations": 40, "cooperatives": 8, "mutuelles": 5, "fondations": 2, "ess": 55, "hors_ess": 300,
            "ensemble": 355}
CUTS = [("ensemble", "ensemble", "ensemble", "Ensemble des secteurs"), ("ess", "sante", "ensemble", "Santé humaine"),
        ("ess", "commerce", "ensemble", "Commerce"), ("ensemble", "ensemble", "1_9", None),
        ("ensemble", "ensemble", "10_49", None)]
# the cube's size labels (data/reference/classes_taille.csv, written out by hand)
TAILLES = {"ensemble": "Toutes tailles", "1_9": "1 à 9 salariés", "10_49": "10 à 49 salariés"}
YEARS = (2024, 2025, 2026)
WAGE = {"associations": 25000.0, "cooperatives": 30000.0, "mutuelles": 30000.0, "fondations": 30000.0,
        "hors_ess": 32000.0}
SUPPRESSED = [  # niveau, code, famille, nomenclature, secteur, classe, year, column, reason
    ("departement", "38", "fondations", "ensemble", "ensemble", "ensemble", 2026, "etablissements", "frequence"),
    ("departement", "38", "fondations", "ensemble", "ensemble", "ensemble", Y, "effectifs", "frequence"),
    ("departement", "38", "fondations", "ensemble", "ensemble", "ensemble", 2024, "etablissements", "frequence"),
    ("territoire", "T1", "ess", "ensemble", "ensemble", "ensemble", 2026, "etablissements", "secondaire"),
    ("epci", "200000002", "ess", "ensemble", "ensemble", "ensemble", Y, "effectifs", "dominance"),
    ("commune", "38003", "ess", "ensemble", "ensemble", "ensemble", 2026, "etablissements", "frequence"),
    ("departement", "38", "ess", "ess", "commerce", "ensemble", Y, "effectifs", "secondaire"),
    ("territoire", "T2", "ess", "ensemble", "ensemble", "ensemble", 2024, "effectifs", "secondaire"),
]
# key messages, cover, territoires, EPCI, territoires en chiffres, familles, secteurs, tailles, évolution, emploi
# depuis 2024, cartes, comparaison URSSAF, ce que les données ne disent pas, méthode, tables
N_PAGES = 15
EMPLOYMENT = ["effectif_central", "effectif_ic90_bas", "effectif_ic90_haut", "effectif_pour_1000_hab"] + [
    f"part_effectif_{d}_{p}" for d in ("total", "prive") for p in ("central", "ic90_bas", "ic90_haut")]


def _cube() -> pd.DataFrame:
    rows = []
    for niveau, code, libelle, partiel, population in TERRITOIRES:
        weight = population / 3500
        for famille, base in FAMILLES.items():
            for k, (nomenclature, secteur, classe, libelle_secteur) in enumerate(CUTS):
                share = 1.0 if k == 0 else (0.6 if k in (1, 3) else 0.4)
                for year in YEARS:
                    current = year == 2026  # the millésime: counts only
                    jobs = not current  # employment on 31 December of 2024 and 2025
                    sized = year in (2025, 2026) or classe == "ensemble"
                    if not sized:
                        continue
                    n = round(base * weight * share * (1 + 0.05 * (year - 2024)))
                    central = 9.0 * n + 0.4
                    rows.append({
                        "niveau": niveau, "code_territoire": code, "libelle_territoire": libelle,
                        "epci_partiel": partiel, "famille": famille, "nomenclature_secteur": nomenclature,
                        "secteur": secteur, "libelle_secteur": libelle_secteur, "classe_taille": classe,
                        "libelle_classe_taille": TAILLES[classe],
                        "annee": year, "perimetre": "insee", "nb_etablissements": n,
                        "nb_etablissements_employeurs": (n // 2) if current else None,
                        "annee_tranche_employeurs_min": 2019 if current else None,
                        "annee_tranche_employeurs_max": 2023 if current else None,
                        "effectif_central": central if jobs else None,
                        "effectif_ic90_bas": 0.8 * central if jobs else None,
                        "effectif_ic90_haut": 1.3 * central if jobs else None,
                        "part_ess_etablissements_employeurs": 0.15 if current else None,
                        "part_effectif_total_central": 0.10 if jobs else None,
                        "part_effectif_total_ic90_bas": 0.08 if jobs else None,
                        "part_effectif_total_ic90_haut": 0.15 if jobs else None,
                        "part_effectif_prive_central": 0.12 if jobs else None,
                        "part_effectif_prive_ic90_bas": 0.11 if jobs else None,
                        "part_effectif_prive_ic90_haut": 0.13 if jobs else None,
                        "etablissements_pour_1000_hab": 1000 * n / population,
                        "effectif_pour_1000_hab": 1000 * central / population if jobs else None,
                        "population": population,
                        "annee_population": 2023,
                        # a code on every row: « publie » where the figure is shown (transforms/outputs.py)
                        "statut_secret_etablissements": "publie",
                        "statut_secret_effectifs": "publie" if jobs else "non_mesure",
                        "statut_secret_part_etablissements": "publie" if current else "non_mesure",
                        "statut_secret_part_effectifs": "publie" if jobs else "non_mesure",
                        "statut_secret_part_effectifs_prive": "publie" if jobs else "non_mesure",
                        "date_reference_etablissements": dt.date(2026, 1, 31) if current else dt.date(year, 12, 31),
                        "date_reference_effectifs": dt.date(year, 12, 31) if jobs else None,
                        "statut_effectifs": "cale" if jobs else None,
                        "sources": ("Établissements au 31/01/2026 : SIRENE stock 2026-01 ; COG 2026"
                                    if current else "Établissements au 31/12 : SIRENE historique ; effectifs "
                                    "salariés au 31/12 de l'année calés sur l'URSSAF ; COG 2026"),
                    })
    cube = pd.DataFrame(rows)
    # the département's ESS rows: counts of the millésime and employment of 2025, figures checked by hand below
    dep_ess = ((cube["niveau"] == "departement") & (cube["famille"] == "ess")
               & (cube["nomenclature_secteur"] == "ensemble") & (cube["classe_taille"] == "ensemble"))
    cube.loc[dep_ess & (cube["annee"] == 2026), ["nb_etablissements", "nb_etablissements_employeurs",
                                                 "part_ess_etablissements_employeurs"]] = [61, 30, 0.2]
    cube.loc[dep_ess & (cube["annee"] == Y), ["effectif_central", "effectif_ic90_bas", "effectif_ic90_haut",
                                              "part_effectif_total_central", "part_effectif_total_ic90_bas",
                                              "part_effectif_total_ic90_haut", "part_effectif_prive_central",
                                              "part_effectif_prive_ic90_bas", "part_effectif_prive_ic90_haut"]] = [
        1234.4, 1000.0, 1500.0, 0.1234, 0.081, 0.15, 0.16, 0.155, 0.166]
    # Grésivaudan has the highest ESS share of employment in 2025 (Voironnais-Chartreuse keeps 10 %)
    t2 = ((cube["niveau"] == "territoire") & (cube["code_territoire"] == "T2") & (cube["famille"] == "ess")
          & (cube["nomenclature_secteur"] == "ensemble") & (cube["classe_taille"] == "ensemble")
          & (cube["annee"] == Y))
    cube.loc[t2, ["part_effectif_total_central", "part_effectif_total_ic90_bas", "part_effectif_total_ic90_haut"]] = [
        0.14, 0.12, 0.16]
    for niveau, code, famille, nomenclature, secteur, classe, year, column, reason in SUPPRESSED:
        mask = ((cube["niveau"] == niveau) & (cube["code_territoire"] == code) & (cube["famille"] == famille)
                & (cube["nomenclature_secteur"] == nomenclature) & (cube["secteur"] == secteur)
                & (cube["classe_taille"] == classe) & (cube["annee"] == year))
        assert mask.sum() == 1
        cube.loc[mask, f"statut_secret_{column}"] = reason
        cube.loc[mask, f"statut_secret_part_{column}"] = reason
        if column == "effectifs":
            cube.loc[mask, "statut_secret_part_effectifs_prive"] = reason
        masked = (["nb_etablissements_employeurs", "etablissements_pour_1000_hab", "part_ess_etablissements_employeurs"]
                  if column == "etablissements" else EMPLOYMENT)
        cube.loc[mask, masked] = None
        if column == "etablissements" and reason != "frequence" or year != 2026 or famille != "fondations":
            cube.loc[mask, "nb_etablissements"] = None if column == "etablissements" else cube.loc[
                mask, "nb_etablissements"]
    # the leak kept on purpose: département × fondations × 2026 still holds nb_etablissements = 2
    return cube


def _write(frame: pd.DataFrame, path: Path, schema: pa.Schema | None = None, synthetic: bool | None = True) -> Path:
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    if synthetic is not None:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                               "ess:synthetic": str(synthetic).lower()})
    pq.write_table(table, path)
    return path


def _public_schema() -> pa.Schema:
    types = {"VARCHAR": pa.string(), "BIGINT": pa.int64(), "DOUBLE": pa.float64(), "INTEGER": pa.int32(),
             "BOOLEAN": pa.bool_(), "DATE": pa.date32()}
    return pa.schema([(c.name, types[c.type]) for c in cols.columns("out_indicateurs_public")])


def make_tables(folder: Path, *, synthetic_metadata: bool | None = True) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    cube = _cube()[cols.names("out_indicateurs_public")]
    tables = {"out_indicateurs_public": _write(cube, folder / "out_indicateurs_public.parquet", _public_schema(),
                                               synthetic_metadata)}
    calibration = pd.DataFrame([
        {"annee": Y, "groupe": "associations", "definition_cible": "moyenne_annuelle", "cible_publiee": 900.0,
         "cible_fin_annee": 912.3, "total_cale": 915.1, "statut": "cale"},
        {"annee": Y, "groupe": "fondations", "definition_cible": "moyenne_annuelle", "cible_publiee": 40.0,
         "cible_fin_annee": 41.0, "total_cale": 41.2, "statut": "cale"},
        {"annee": Y, "groupe": "ensemble_prive", "definition_cible": "fin_annee", "cible_publiee": 9000.0,
         "cible_fin_annee": 9000.0, "total_cale": 9010.0, "statut": "cale"},
        {"annee": Y, "groupe": "hors_champ_urssaf", "definition_cible": None, "cible_publiee": None,
         "cible_fin_annee": None, "total_cale": 500.0, "statut": "non_cale"},
        {"annee": 2024, "groupe": "associations", "definition_cible": "moyenne_annuelle", "cible_publiee": 880.0,
         "cible_fin_annee": 890.0, "total_cale": 891.0, "statut": "cale"},
    ])
    tables["core_calibration"] = _write(calibration, folder / "core_calibration.parquet", synthetic=synthetic_metadata)
    audit = pd.DataFrame([
        {"rubrique": "exclusion_naf", "code": "r1", "perimetre": "insee", "regle_active": True, "nb_etablissements": 1},
        {"rubrique": "exclusion_naf", "code": "r2", "perimetre": "insee", "regle_active": False,
         "nb_etablissements": 40},
    ])
    tables["out_audit_perimetre"] = _write(audit, folder / "out_audit_perimetre.parquet", synthetic=synthetic_metadata)
    # URSSAF's ESS file: the four families (fondations unpublished in 2013) and the rest of its field; wage bill
    # 25 000 € per association employee, 30 000 € in the other families, 32 000 € outside the ESS
    urssaf = pd.DataFrame([
        {"annee": y, "code_departement": "38", "champ_ess": "hors_ess" if f == "hors_ess" else "ess",
         "famille_ess": f, "nb_etablissements": 10.0, "effectifs_salaries": v,
         "masse_salariale": None if v is None else v * WAGE[f]}
        for y in range(2012, 2025) for f, v in (("associations", 800.0 + y - 2012), ("cooperatives", 150.0),
                                                 ("mutuelles", 60.0), ("fondations", None if y == 2013 else 20.0),
                                                 ("hors_ess", 5000.0 + 10 * (y - 2012)))
    ])
    tables["staging_urssaf_ess_departement"] = _write(urssaf, folder / "staging_urssaf_ess_departement.parquet",
                                                      synthetic=synthetic_metadata)
    communes = pd.DataFrame({"code_commune": ["38001", "38002", "38003"], "code_departement": "38",
                             "nom_commune": ["Les Abrets en Dauphiné", "Les Adrets", "Agnin"],
                             "population": [1000, 2000, 500], "siren_epci": ["200000001", "200000001", "200000002"]})
    tables["staging_communes"] = _write(communes, folder / "staging_communes.parquet", synthetic=synthetic_metadata)
    # the size bands of the establishments: ESS employers of the insee perimeter with bands of 2023 (3) and 2021 (1);
    # a closed one (2015), a non-employer (2010) and an employer outside the perimeter (2019) do not count
    establishments = pd.DataFrame({
        "actif": [True, True, True, True, False, True, True],
        "employeur": [True, True, True, True, True, False, True],
        "perimetres_inclus": [["insee", "flag"], ["insee"], ["insee"], ["insee", "loi2014"], ["insee"], ["insee"],
                              ["flag"]],
        "annee_effectifs": [2023, 2023, 2023, 2021, 2015, 2010, 2019]})
    tables["core_etablissements"] = _write(establishments, folder / "core_etablissements.parquet",
                                           synthetic=synthetic_metadata)
    return tables


# --- helpers ------------------------------------------------------------------------------------------------------
def _unescape(raw: bytes) -> bytes:
    def one(m):
        code = m.group(1)
        if code[:1].isdigit():
            return bytes([int(code, 8) & 255])
        return {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}.get(code, code)
    return re.sub(rb"\\([0-7]{1,3}|.)", one, raw, flags=re.S)


def pdf_page_texts(path: Path) -> list[str]:
    """The text of each page of a matplotlib PDF: with pdf.fonttype 42 the content streams hold the characters
    as UTF-16BE strings, so decompressing them and decoding the string operands is enough."""
    data = path.read_bytes()
    streams = {}
    for m in re.finditer(rb"(\d+) 0 obj\n<<((?:(?!endobj).)*?)>>\nstream\n", data, re.S):
        streams[m.group(1)] = data[m.end():data.index(b"\nendstream", m.end())]
    texts = []
    for ref in re.findall(rb"/Type /Page /Parent[^>]*?/Contents (\d+) 0 R", data, re.S):
        content = zlib.decompress(streams[ref])
        blocks = re.findall(rb"\bBT\b(.*?)\bET\b", content, re.S)
        texts.append("\n".join("".join(_unescape(s).decode("utf-16-be", "replace")
                                       for s in re.findall(rb"\(((?:\\.|[^\\)])*)\)", b)) for b in blocks))
    return texts


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    tables = make_tables(root / "in")
    result = annual.build_report(tables, PARAMS, root / "out")
    return {"tables": tables, "root": root, "stats": result.stats["rapport"], "out": root / "out"}


def _chart_data(report, name: str) -> pd.DataFrame:
    """The machine-friendly data of a chart (Parquet beside the CSV): as drawn, with how each value was drawn."""
    return pd.read_parquet(report["out"] / "graphiques" / f"{name}.parquet")


# --- the PDF ------------------------------------------------------------------------------------------------------
def test_pdf_has_the_expected_pages_and_is_byte_identical_between_runs(report, tmp_path):
    pdf = report["out"] / "rapport_ess_38_2026-01.pdf"
    assert pdf.exists() and report["stats"]["pdf"] == str(pdf)
    data = pdf.read_bytes()
    assert len(re.findall(rb"/Type /Page\b(?!s)", data)) == N_PAGES == report["stats"]["pages"]
    assert report["stats"]["cartes"] is True

    # a second run on the same inputs: same bytes (the PDF, and a chart with a map and suppressed cells)
    style.apply()
    ctx = load_context(report["tables"], PARAMS)
    figures, specs = annual.render(ctx)
    assert annual.write_pdf(ctx, figures, tmp_path / "again.pdf").read_bytes() == data
    for name in ("carte_communes_etablissements_1000_hab", "familles_etablissements"):
        png, _, _ = annual.write_chart(ctx, specs[name], tmp_path)
        assert png.read_bytes() == Path(report["stats"]["graphiques"][name]["png"]).read_bytes()


def test_every_pdf_page_says_synthetic_and_french_text_is_kept(report):
    texts = pdf_page_texts(report["out"] / "rapport_ess_38_2026-01.pdf")
    assert len(texts) == N_PAGES
    for number, text in enumerate(texts, start=1):
        assert style.SYNTHETIC_MENTION in text, f"page {number} lacks the synthetic mention"
        # no ligature glyph (« ﬁ », « ﬀ ») anywhere, wrapped notes and table cells included: the text is searchable
        assert not re.search(r"[\x00-\x08]", text), (number, re.findall(r".{12}[\x00-\x08].{12}", text)[:3])
    everything = "\n".join(texts)
    for phrase in ("Chiffres clés", "L'économie sociale et solidaire en Isère", "Établissements actifs de l'ESS",
                   "Méthode et précautions de lecture", "«\u00a0s\u00a0»", "s — fréquence (moins de 3 unités légales)",
                   "s — secret secondaire", "Coopératives", "Grésivaudan", "1 à 9 salariés",
                   "loi n° 51-711 du 7 juin 1951", "Intervalle à 90 %", "L'emploi salarié de l'ESS depuis 2024"):
        assert phrase in everything, phrase
    # guillemets keep their words on their line (non-breaking spaces inside « »), and no code reaches the reader
    assert "« " not in everything and " »" not in everything
    assert "périmètre insee" not in everything and "Périmètre statistique (type INSEE" in everything
    # known answers of the cover table (hand-set département rows; NBSP as thousands separator)
    cover = texts[1]
    # (estimated headcounts rounded like the run's summary: 1 234.4 -> 1 200, 3 357.4 -> 3 400)
    for value in ("61", "1\u00a0200", "1\u00a0000 – 1\u00a0500", "12,3\u00a0%", "8,1\u00a0% – 15,0\u00a0%",
                  "16,0\u00a0%", "15,5\u00a0% – 16,6\u00a0%", "3\u00a0400", "2\u00a0700 – 4\u00a0400"):
        assert value in cover, value


def test_the_years_of_the_size_bands_are_said(report):
    ctx = load_context(report["tables"], PARAMS)
    # 3 of the 4 ESS employers hold a band of 2023, one of 2021 (computed from core_etablissements)
    assert ctx.band_years_text() == "tranches de 2021 à 2023, 75\u00a0% de 2023"
    words = "employeurs selon leur dernière tranche d'effectifs SIRENE (tranches de 2021 à 2023, 75\u00a0% de 2023)"
    assert ctx.employers_words() == words
    caveat = ("Employeurs : établissements dont la dernière tranche d'effectifs SIRENE indique des salariés (tranches "
              "de 2021 à 2023, 75\u00a0% de 2023), et non les employeurs au 31/01/2026 ; un établissement créé après "
              "2023 n'a pas encore de tranche et compte comme non employeur.")
    assert ctx.employers_caveat() == caveat
    from reports.pages import size_note
    from reports.text_pages import cover_page, headline_rows

    assert caveat in size_note(ctx)
    cover = " ".join(t.get_text() for t in cover_page(ctx, 2).texts).replace("\n", " ")
    assert caveat in cover
    # the employer counts are not dated by the millésime: their rows name the bands' years instead
    employer_rows = [r[0] for r in headline_rows(ctx) if "employeurs" in r[0] and "emploi salarié" not in r[0]]
    assert employer_rows[0] == "dont " + words
    assert not [r for r in employer_rows if "31/01/2026" in r], employer_rows
    # without the establishments table the report says nothing of the years, still what an employer is
    without = load_context({k: v for k, v in report["tables"].items() if k != "core_etablissements"}, PARAMS)
    assert without.band_years_text() == ""
    assert without.employers_words() == "employeurs selon leur dernière tranche d'effectifs SIRENE"
    assert "un établissement créé depuis la dernière mise à jour de sa tranche" in size_note(without)


def test_the_private_share_caveat_says_whether_unpublished_values_were_counted(report):
    from reports.text_pages import cover_page

    def cover(ctx):
        return " ".join(t.get_text() for t in cover_page(ctx, 2).texts).replace("\n", " ")

    ctx = load_context(report["tables"], PARAMS)
    assert not ctx.blanks_imputed  # the fixture's private total is the published one (9 000)
    assert "ne compte ni les valeurs que l'URSSAF n'a pas publiées" in cover(ctx)
    ctx.calibration.loc[ctx.calibration["groupe"] == "ensemble_prive", "cible_fin_annee"] = 9100.0
    assert ctx.blanks_imputed
    assert "compte les valeurs que l'URSSAF n'a pas publiées cette année-là" in cover(ctx)


def test_headline_rows_known_answers(report):
    ctx = load_context(report["tables"], PARAMS)
    from reports.text_pages import headline_rows

    rows = {r[0]: r[1:] for r in headline_rows(ctx)}
    etab, emp = "au 31/01/2026", "au 31/12/2025"
    assert rows[f"Établissements actifs de l'ESS, {etab}"] == ["61", ""]
    employers = ("dont employeurs selon leur dernière tranche d'effectifs SIRENE (tranches de 2021 à 2023, "
                 "75\u00a0% de 2023)")
    assert rows[employers] == ["30", ""]
    # both shares say their denominator: 30 of the 61 ESS establishments; the cube's share of ESS among employers
    assert rows["Part des établissements de l'ESS qui sont employeurs (même définition)"] == ["49,2\u00a0%", ""]
    assert rows[f"Emploi salarié de l'ESS (estimation centrale), {emp}"] == ["1\u00a0200", "1\u00a0000 – 1\u00a0500"]
    assert rows[f"Part de l'ESS dans l'emploi salarié (tous employeurs), {emp}"] == [
        "12,3\u00a0%", "8,1\u00a0% – 15,0\u00a0%"]
    assert rows[f"Part de l'ESS dans l'emploi salarié privé (champ URSSAF), {emp}"] == [
        "16,0\u00a0%", "15,5\u00a0% – 16,6\u00a0%"]
    assert rows["Part de l'ESS parmi les établissements employeurs du département (même définition)"] == [
        "20,0\u00a0%", ""]
    # 61 establishments for 3 500 inhabitants: 17.43 per 1 000
    # the population of the 2023 census, INSEE's legal population in force on 1 January of the COG year 2026
    per_1000 = ("Établissements de l'ESS pour 1 000 habitants (population municipale 2023, en vigueur au 1er janvier "
                f"2026), {etab}")
    assert rows[per_1000] == ["17,4", ""]
    # ensemble: round(355 × 1.1) = 391 establishments in 2026 (a count: exact); in 2025 round(355 × 1.05) = 373,
    # 9 × 373 + 0.4 = 3 357.4 employees, × 0.8 and × 1.3 = 2 685.9 and 4 364.6, rounded to the hundred
    assert rows[f"Ensemble de l'économie : établissements actifs, {etab}"] == ["391", ""]
    assert rows[f"Ensemble de l'économie : emploi salarié, {emp}"] == ["3\u00a0400", "2\u00a0700 – 4\u00a0400"]


def test_estimated_headcounts_are_rounded_like_the_run_summary():
    """One rounding for the console and the PDF (ess.rounding): tens below 1 000, hundreds above; the unit below 10."""
    from flows.manifest import arrondi

    nb = "\u00a0"
    assert [style.fmt_estimate(v) for v in (38152.1, 37728.3, 38578.9, 253.0, 144.4, 7.4)] == [
        f"38{nb}200", f"37{nb}700", f"38{nb}600", "250", "140", "7"]
    assert arrondi(38152.1) == "38\u202f200" and arrondi(None) == "n.d." and style.fmt_estimate(None) == "n.d."


def test_every_png_says_synthetic(report):
    from PIL import Image

    charts_written = report["stats"]["graphiques"]
    assert len(charts_written) == 17
    for name, files in charts_written.items():
        with Image.open(files["png"]) as image:
            assert style.SYNTHETIC_MENTION in image.text["Title"], name
            assert image.text["Description"] == style.SYNTHETIC_MENTION, name
        # the data beside it says so too: in a column and in the file's metadata
        data = pq.read_table(files["donnees_parquet"])
        assert data.column("donnees_synthetiques").to_pylist() == [True] * data.num_rows, name
        assert data.schema.metadata[b"ess:avertissement"].decode() == style.SYNTHETIC_MENTION, name
    ctx = load_context(report["tables"], PARAMS)
    _, specs = annual.render(ctx)
    from reports.pages import chart_figure

    for spec in specs.values():
        fig, _ = chart_figure(ctx, spec)
        assert any(t.get_text() == style.SYNTHETIC_MENTION for t in fig.texts), spec.name
        # a PNG shared alone says what its marks mean (« Trait fin : intervalle… », « s »), bars included
        text = " ".join(" ".join(t.get_text().split()) for t in fig.texts)
        assert " ".join(spec.note.split())[:80] in text, spec.name


# --- statistical confidentiality ------------------------------------------------------------------------------------
def test_suppressed_cells_are_drawn_as_suppressed_never_as_zero(report):
    fam = _chart_data(report, "familles_etablissements").set_index("code")
    # the file still held 2 for this cell: the report blanks any value under secret
    assert fam.at["fondations", "trace"] == "masque"
    assert fam.at["fondations", "statut"] == "frequence"
    assert np.isnan(fam.at["fondations", "valeur"]) and np.isnan(fam.at["fondations", "longueur_dessinee"])
    assert fam.loc[["associations", "cooperatives", "mutuelles"], "valeur"].tolist() == [44, 9, 6]
    assert (fam.loc[["associations", "cooperatives", "mutuelles"], "trace"] == "barre").all()

    ter = _chart_data(report, "territoires_etablissements").set_index("etiquette")
    assert ter.at["Voironnais-Chartreuse", "trace"] == "masque"
    assert ter.at["Voironnais-Chartreuse", "statut"] == "secondaire"
    assert ter.at["Grésivaudan", "valeur"] == round(55 * 2500 / 3500 * 1.1)  # 43

    epci = _chart_data(report, "epci_part_emploi").set_index("etiquette")
    assert epci.at["CC Deux (partie)", "trace"] == "masque" and epci.at["CC Deux (partie)", "statut"] == "dominance"
    assert epci.at["CC Une", "valeur"] == pytest.approx(0.10)

    sec = _chart_data(report, "secteurs_part_emploi").set_index("code")
    assert sec.at["commerce", "trace"] == "masque"

    evo = _chart_data(report, "evolution_etablissements").set_index(["serie", "annee"])
    assert evo.loc[("fondations", 2024), "trace"] == "masque"
    assert evo.loc[("fondations", 2026), "trace"] == "masque"
    assert evo.loc[("fondations", 2025), "valeur"] == 2

    # the EPCI map colours each commune with its EPCI's share: its data names the EPCI on each commune's row
    carte_epci = _chart_data(report, "carte_epci_part_emploi").set_index("code_commune")
    for code, row in carte_epci.iterrows():
        label = row["nom_epci"]
        assert label in epci.index, (code, label)
        if epci.at[label, "trace"] != "masque":
            assert row["valeur"] == pytest.approx(epci.at[label, "valeur"]), code
    assert carte_epci["code_epci"].notna().all() and carte_epci["nom_epci"].nunique() >= 2
    carte = _chart_data(report, "carte_communes_etablissements_1000_hab").set_index("code_commune")
    assert carte.at["38003", "trace"] == "masque" and np.isnan(carte.at["38003", "valeur"])
    assert carte.at["38001", "trace"] == "couleur"
    assert carte.at["38001", "valeur"] == pytest.approx(1000 * round(55 * 1000 / 3500 * 1.1) / 1000)


def test_a_suppressed_bar_has_no_length(report):
    """On the Axes itself: the suppressed family is a hatched, unfilled band with the « s » label, no bar."""
    import matplotlib.pyplot as plt

    from reports import charts

    ctx = load_context(report["tables"], PARAMS)
    rows = sel.cells(ctx.cube, annee=2026, famille=("associations", "fondations"))
    data = sel.series(rows, "nb_etablissements", "famille")
    fig, ax = plt.subplots()
    try:
        drawn = charts.hbar(ax, data, title="t", fmt=style.fmt_number)
        patches = {p.get_gid(): p for p in ax.patches}
        k = drawn.index[drawn["code"] == "fondations"][0]
        masked = patches[f"masque_{k}"]
        assert masked.get_hatch() == "////" and masked.get_facecolor()[3] == 0
        assert f"barre_{k}" not in patches
        assert any(t.get_text() == "s — fréquence (moins de 3 unités légales)" for t in ax.texts)
    finally:
        plt.close(fig)


def test_only_the_run_perimeter_and_the_employment_year_are_read(report):
    ctx = load_context(report["tables"], PARAMS)
    assert set(ctx.cube["perimetre"]) == {"insee"}
    assert (ctx.year, ctx.year_effectifs) == (2026, 2025)
    from reports.text_pages import calibration_rows

    rows = calibration_rows(ctx)  # the calibration of 2025, not of 2024
    assert [r[0] for r in rows] == ["Associations", "Fondations", "Ensemble du champ privé (URSSAF)",
                                    "Hors champ URSSAF (non calé)"]
    # URSSAF's own figures and the status only: a calibrated total (or its target at 31/12, which it meets) covers
    # the URSSAF field, and beside the family's published employment (every employer) would give that of its
    # employers outside the field — whether the public table masks the family (fondations) or not (associations)
    # the figure, then what it measures in a column of its own (R11)
    assert rows[0][1:3] == ["900", "moyenne annuelle 2025"] and rows[1][1:3] == ["40", "moyenne annuelle 2025"]
    assert rows[2][1:3] == ["9\u00a0000", "au 31/12/2025"]
    cal = ctx.calibration[ctx.calibration["annee"] == 2025].set_index("groupe")
    for row, groupe in zip(rows, ("associations", "fondations")):
        assert len(row) == 4
        assert style.fmt_number(cal.at[groupe, "total_cale"]) not in row
        assert style.fmt_number(cal.at[groupe, "cible_fin_annee"]) not in row
    assert rows[3][1:] == ["—", "—", "non calé"]  # a status in words, not its code
    from reports.text_pages import secret_rows

    # the cells of the employment year, the year whose masks are counted
    counts = {r[0]: r[1:] for r in secret_rows(ctx)}
    assert counts["Département"][0] == str(int((ctx.employment["niveau"] == "departement").sum()))
    assert counts["Département"][1:4] == ["1", "0", "1"]  # fondations (fréquence), commerce (secondaire)


# --- what each figure measures and when --------------------------------------------------------------------------
def test_no_employment_is_labelled_with_a_year_it_does_not_measure(report):
    """The PDF, the charts' data and the catalog comments: establishments are dated at the millésime (31/01/2026)
    or 31 December of a past year; employment only ever at 31 December of the year it measures."""
    texts = pdf_page_texts(report["out"] / "rapport_ess_38_2026-01.pdf")
    for number, text in enumerate(texts, start=1):
        flat = " ".join(text.split())
        # the old labels: a first day of month for the stock, the URSSAF snapshot's year for employment
        assert "situation au 01/" not in flat and "01/01/2026" not in flat and "URSSAF 2024" not in flat, number
        # every page says when its establishments and its employment are measured
        assert "établissements au 31/01/2026" in flat and "emploi salarié au 31/12/2025" in flat, number
        # employment is never dated at the millésime
        for bad in ("emploi salarié au 31/01/2026", "(estimation centrale), au 31/01/2026"):
            assert bad not in flat, (number, bad)
    for name, files in report["stats"]["graphiques"].items():
        assert "Date de référence" in export.read_csv(files["donnees"])[0].columns, name
        data = pd.read_parquet(files["donnees_parquet"]).astype(str)
        assert "date_reference" in data.columns, name
        if "mesure" in data.columns:
            for measure, date in zip(data["mesure"], data["date_reference"]):
                expected = "2025-12-31" if "effectif" in measure else "2026-01-31"
                assert date == expected, (name, measure, date)
        if "annee" in data.columns and "urssaf" in name:
            # URSSAF's own series: annual averages, said so
            assert (data["date_reference"] == data["annee"] + " (moyenne annuelle)").all(), name
        elif "annee" in data.columns:
            last = data["annee"] == "2026"  # the millésime year: establishments at the end of its month
            assert (data.loc[~last, "date_reference"] == data.loc[~last, "annee"] + "-12-31").all(), name
            assert (data.loc[last, "date_reference"] == "2026-01-31").all() and not ("emploi" in name and last.any())
        if name.startswith("carte_epci"):
            assert set(data["date_reference"]) == {"2025-12-31"}, name
    for table in ("out_indicateurs", "out_indicateurs_public"):
        _, docs = cols.describe_table(table)
        for column, text in docs.items():
            assert "01/10" not in text and "situation au 01/" not in text, column
            if ("effectif" in column and column not in ("nb_etablissements_employeurs", "statut_secret_effectifs",
                                                        "statut_secret_part_effectifs",
                                                        "statut_secret_part_effectifs_prive", "statut_effectifs")):
                assert "31/12" in text, column


# --- synthetic or not -----------------------------------------------------------------------------------------------
def _all_texts(figures) -> str:
    from matplotlib.table import Table
    from matplotlib.text import Text

    out = []
    for fig in figures:
        out += [t.get_text() for t in fig.findobj(Text)]
        for table in fig.findobj(Table):
            out += [c.get_text().get_text() for c in table.get_celld().values()]
    return "\n".join(out)


def test_real_data_has_no_synthetic_mention(tmp_path):
    tables = make_tables(tmp_path, synthetic_metadata=False)
    ctx = load_context(tables, {**PARAMS, "synthetic": False})
    figures, _ = annual.render(ctx)
    assert len(figures) == N_PAGES
    assert "SYNTHÉTIQUES" not in _all_texts(figures)


def test_a_file_marked_synthetic_makes_the_report_synthetic(tmp_path):
    tables = make_tables(tmp_path, synthetic_metadata=True)
    ctx = load_context(tables, {**PARAMS, "synthetic": False})
    assert ctx.synthetic
    figures, _ = annual.render(ctx)
    for fig in figures:
        assert any(t.get_text() == style.SYNTHETIC_MENTION for t in fig.texts)


def test_charts_drawn_in_their_own_process_are_the_same_files(report, tmp_path, monkeypatch):
    # a large cube draws its charts in a spawned process beside the PDF: same charts, same bytes, same PDF
    monkeypatch.setattr(annual, "MIN_ROWS_FOR_CHARTS_PROCESS", 0)
    stats = annual.build_report(report["tables"], PARAMS, tmp_path / "out").stats["rapport"]
    assert set(stats["graphiques"]) == set(report["stats"]["graphiques"])
    for name, files in stats["graphiques"].items():
        for kind in ("png", "donnees", "donnees_parquet"):
            assert Path(files[kind]).read_bytes() == Path(report["stats"]["graphiques"][name][kind]).read_bytes()
    assert Path(stats["pdf"]).read_bytes() == Path(report["stats"]["pdf"]).read_bytes()
    assert stats["valeurs_masquees_dans_les_graphiques"] == report["stats"]["valeurs_masquees_dans_les_graphiques"]


def test_a_failure_in_the_chart_process_is_raised_by_the_report(tmp_path):
    # the chart process reads its inputs itself: its error (here a missing public cube) reaches the caller
    from transforms import yearly

    tables = make_tables(tmp_path / "in")
    del tables["out_indicateurs_public"]
    with pytest.raises(UserError, match="out_indicateurs_public"):
        with yearly.in_child(annual.write_charts, tables, PARAMS, tmp_path / "g") as charts:
            charts.result()


def test_without_contours_there_is_no_map_page(tmp_path, monkeypatch):
    from reports import maps

    monkeypatch.setattr(maps, "contours_file", lambda annee_cog=None: None)
    ctx = load_context(make_tables(tmp_path), PARAMS)
    figures, specs = annual.render(ctx)
    assert len(figures) == N_PAGES - 1
    assert not any(s.kind == "map" for s in specs.values())


# --- bad input ------------------------------------------------------------------------------------------------------
def test_missing_public_cube_is_a_clear_error(tmp_path):
    tables = make_tables(tmp_path)
    del tables["out_indicateurs_public"]
    with pytest.raises(UserError, match="out_indicateurs_public"):
        annual.build_report(tables, PARAMS, tmp_path / "out")


def test_missing_column_names_the_file_and_column(tmp_path):
    tables = make_tables(tmp_path)
    cube = pd.read_parquet(tables["out_indicateurs_public"]).drop(columns=["statut_secret_effectifs"])
    cube.to_parquet(tables["out_indicateurs_public"])
    with pytest.raises(UserError, match=r"out_indicateurs_public\.parquet: columns \['statut_secret_effectifs'\]"):
        load_context(tables, PARAMS)


def test_perimeter_absent_from_the_cube_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="no row for perimeter 'flag'"):
        load_context(make_tables(tmp_path), {**PARAMS, "perimetre": "flag"})


# --- contours -------------------------------------------------------------------------------------------------------
def test_ewkb_polygon_and_multipolygon():
    import struct

    ring = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 0.0)]
    body = struct.pack("<I", 1) + struct.pack("<I", 4) + b"".join(struct.pack("<dd", *p) for p in ring)
    polygon = b"\x01" + struct.pack("<I", 3) + body
    ewkb = b"\x01" + struct.pack("<I", 6 | 0x20000000) + struct.pack("<I", 4326) + struct.pack("<I", 2) + polygon * 2
    parsed = parse_polygons(ewkb.hex().upper())
    assert len(parsed) == 2 and len(parsed[0]) == 1
    assert parsed[1][0].tolist() == [list(p) for p in ring]
    big_endian = b"\x00" + struct.pack(">I", 3) + struct.pack(">I", 1) + struct.pack(">I", 4) + b"".join(
        struct.pack(">dd", *p) for p in ring)
    assert parse_polygons(big_endian.hex())[0][0].tolist() == [list(p) for p in ring]
    with pytest.raises(ValueError, match="neither a polygon"):
        parse_polygons((b"\x01" + struct.pack("<I", 1) + struct.pack("<dd", 0, 0)).hex())


def test_douglas_peucker_known_answer():
    line = np.array([[0, 0], [1, 0.05], [2, -0.05], [3, 0], [4, 2], [5, 0]], dtype=float)
    # the small wiggles go (0.05 < 0.1), the peak at (4, 2) stays
    assert douglas_peucker(line, 0.1).tolist() == [[0, 0], [3, 0], [4, 2], [5, 0]]
    square = np.array([[0, 0], [1, 0], [1, 0.001], [1, 1], [0, 1], [0, 0]], dtype=float)
    assert douglas_peucker(square, 0.01).tolist() == [[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]


def test_committed_contours_cover_isere():
    from ess import paths
    from reports import maps

    path = maps.contours_file(2026)
    assert path is not None and path.name == "contours_communes_2026.parquet"
    communes = pd.read_csv(paths.REFERENCE_DIR / "communes_2026.csv", dtype=str, keep_default_na=False)
    isere = communes[(communes["code_departement"] == "38") & (communes["type"] == "commune")]["code_commune"]
    rings = maps.load_contours(path, isere.tolist())
    assert set(rings) == set(isere)
    ring = rings["38185"][0]  # Grenoble
    assert (ring[0] == ring[-1]).all() and len(ring) >= 4
    assert 5.6 < ring[:, 0].mean() < 5.8 and 45.1 < ring[:, 1].mean() < 45.25


# --- the `ess report` verb ------------------------------------------------------------------------------------------
def test_report_verb_parses_and_finds_runs(data_dir):
    import argparse
    import json

    from reports import cli

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="verb")
    cli.add_report_parser(sub)
    args = parser.parse_args(["report", "-d", "38", "--out", "x"])
    assert args.func is cli.cmd_report and args.departement == "38" and args.run is None

    with pytest.raises(UserError, match="no finished run for département 38"):
        cli.find_run("38", None)
    older, newer = (data_dir / "runs" / "dep38" / n for n in ("20260101T000000Z", "20260201T000000Z"))
    for folder in (older, newer):
        (folder / "out").mkdir(parents=True)
        (folder / "manifest.json").write_text(json.dumps({"synthetic": True, "parametres": PARAMS}))
    assert cli.find_run("38", None) == newer
    assert cli.run_params(newer)["synthetic"] is True
    with pytest.raises(UserError, match="did not reach the outputs step"):
        cli.run_tables(newer)


def test_report_verb_builds_the_report_of_a_run_into_the_warehouse(data_dir, monkeypatch):
    """The verb finds the run's tables and parameters and swaps the report into the warehouse (the build itself is
    stubbed: it is tested above)."""
    import json

    from reports import cli
    from transforms.steps import StepOutput

    run = data_dir / "runs" / "dep38" / "20260101T000000Z"
    tables = make_tables(run / "out")
    (run / "manifest.json").write_text(json.dumps({"synthetic": True, "parametres": PARAMS}))
    assert set(cli.run_tables(run)) == set(tables)
    seen = {}

    def fake_build(given, params, out):
        seen.update(tables=given, params=params)
        (Path(out) / annual.report_name(params)).write_bytes(b"%PDF")
        return StepOutput(stats={"rapport": {"pdf": str(Path(out) / annual.report_name(params)), "pages": 1,
                                             "graphiques": {}, "synthetique": True}})

    monkeypatch.setattr(annual, "build_report", fake_build)
    args = argparse_namespace(departement="38", run=None, perimetre="insee", out=None, warehouse=None)
    assert cli.cmd_report(args) == 0
    assert seen["tables"] == tables and seen["params"]["synthetic"] is True
    folder = data_dir / "warehouse" / "rapports" / "departement=38" / "millesime=2026-01" / "perimetre=insee"
    assert (folder / "rapport_ess_38_2026-01.pdf").read_bytes() == b"%PDF"
    with pytest.raises(UserError, match="built for perimeter 'insee', not 'flag'"):
        cli.cmd_report(argparse_namespace(departement="38", run=str(run), perimetre="flag", out=None, warehouse=None))


def argparse_namespace(**kwargs):
    import argparse

    return argparse.Namespace(**kwargs)


# --- issue 9: a report a CRESS would sign ---------------------------------------------------------------------------
def test_key_messages_are_the_figures_with_their_dates_and_ranges(report):
    ctx = load_context(report["tables"], PARAMS)
    got = {m.key: (m.figure, m.text) for m in messages.key_messages(ctx)}
    nb = "\u00a0"
    assert got["etablissements"] == ("61", "établissements de l'ESS actifs au 31/01/2026, dont 30 employeurs selon "
                                           "leur dernière tranche d'effectifs SIRENE (tranches de 2021 à 2023, "
                                           f"75{nb}% de 2023), soit 49,2{nb}% des établissements de l'ESS.")
    assert got["emploi"][0] == f"1{nb}200"  # 1 234.4 rounded to the hundred
    assert "au 31/12/2025" in got["emploi"][1]
    # the interval, then how often such an interval held the truth when tested (the reference file's figures:
    # tests/test_report_coverage.py)
    assert f"intervalle à 90 % : entre 1{nb}000 et 1{nb}500 ; il a contenu la vraie valeur dans " in got["emploi"][1]
    assert got["part"][0] == f"12,3{nb}%"
    assert f"entre 8,1{nb}% et 15,0{nb}%" in got["part"][1] and f"16,0{nb}% de l'emploi salarié privé" in got["part"][1]
    # Grésivaudan 14 % [12–16], Voironnais-Chartreuse 10 % [8–15]; the EPCI approximation is stated
    assert got["territoires"][0] == f"14,0{nb}%"
    text = got["territoires"][1]
    assert f"la plus forte : Grésivaudan (14,0{nb}%, entre 12,0{nb}% et 16,0{nb}% à 90 %)" in text
    assert f"la plus faible : Voironnais-Chartreuse (10,0{nb}%" in text and "approximation" in text
    # like with like: 55 ESS establishments on 31/12/2024 (the first year of the fixture), round(55 × 1.05) = 58 on
    # 31/12/2025: +5.5 %; then the 61 of 31/01/2026 (the millésime), not compared with a year end
    assert got["evolution_etablissements"] == (
        f"+5,5{nb}%", "d'établissements de l'ESS actifs entre le 31/12/2024 (55) et le 31/12/2025 (58) ; 61 au "
        "31/01/2026.")
    # URSSAF: ESS 1 030 -> 1 042 (+1.2 %), rest of the private economy 5 000 -> 5 120 (+2.4 %), 2012 -> 2024
    assert got["evolution_urssaf"][0] == f"+1,2{nb}%"
    assert f"entre 2012 et 2024" in got["evolution_urssaf"][1] and f"+2,4{nb}%" in got["evolution_urssaf"][1]
    first = " ".join(pdf_page_texts(report["out"] / "rapport_ess_38_2026-01.pdf")[0].split())
    assert "L'essentiel" in first and "conçu pour contenir la vraie valeur 9 fois sur 10" in first and "+5,5" in first


def test_the_last_point_of_the_establishments_series_is_dated_by_its_month(report):
    from matplotlib.figure import Figure

    from reports import pages

    ctx = load_context(report["tables"], PARAMS)
    spec = next(s for s in pages.chart_specs(ctx)["evolution"] if s.name == "evolution_etablissements")
    ax = Figure().add_subplot()
    spec.draw(ax)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2024", "2025", "janv. 2026"]  # millésime 2026-01
    assert style.fmt_month(dt.date(2026, 10, 31)) == "oct. 2026"


def test_a_masked_employment_is_said_masked_in_the_key_messages(report):
    ctx = load_context(report["tables"], PARAMS)
    dep = ((ctx.cube["niveau"] == "departement") & (ctx.cube["famille"] == "ess") & (ctx.cube["annee"] == Y)
           & (ctx.cube["nomenclature_secteur"] == "ensemble") & (ctx.cube["classe_taille"] == "ensemble"))
    ctx.cube.loc[dep, "statut_secret_effectifs"] = "dominance"
    ctx.cube.loc[dep, "effectif_central"] = np.nan
    got = {m.key: m for m in messages.key_messages(ctx)}
    assert got["emploi"].figure == "s" and "secret statistique" in got["emploi"].text
    assert "1\u00a0234" not in got["emploi"].text


def test_each_share_is_read_under_its_own_status_code(report):
    """The status columns hold a code on every row: « publie » shows the figure, a withholding code (a secret,
    « non_diffuse ») shows « s » and why, « non_mesure » is no secret. The private field's share has its own status:
    withheld, it leaves the share of all employers shown."""
    from reports.text_pages import headline_rows

    ctx = load_context(report["tables"], PARAMS)
    cube = ctx.cube
    dep = ((cube["niveau"] == "departement") & (cube["famille"] == "ess")
           & (cube["nomenclature_secteur"] == "ensemble") & (cube["classe_taille"] == "ensemble"))
    cube.loc[dep & (cube["annee"] == Y), "statut_secret_part_effectifs_prive"] = "non_diffuse"
    cube.loc[dep & (cube["annee"] == Y), "part_effectif_prive_central"] = np.nan
    cube.loc[dep & (cube["annee"] == 2026), "statut_secret_part_etablissements"] = "non_mesure"
    cube.loc[dep & (cube["annee"] == 2026), "part_ess_etablissements_employeurs"] = np.nan
    rows = {r[0]: r[1:] for r in headline_rows(ctx)}
    etab, emp = "au 31/01/2026", "au 31/12/2025"
    assert rows[f"Part de l'ESS dans l'emploi salarié (tous employeurs), {emp}"][0] == "12,3\u00a0%"
    assert rows[f"Part de l'ESS dans l'emploi salarié privé (champ URSSAF), {emp}"] == [
        style.fmt_secret("non_diffuse"), ""]
    assert rows["Part de l'ESS parmi les établissements employeurs du département (même définition)"] == [
        style.UNAVAILABLE, ""]
    got = {m.key: m for m in messages.key_messages(ctx)}
    assert got["part"].figure == "12,3\u00a0%" and "emploi salarié privé" not in got["part"].text
    assert sel.withheld("non_diffuse") and not sel.withheld("publie") and not sel.withheld("non_mesure")


def test_territories_and_sectors_in_numbers(report):
    ctx = load_context(report["tables"], PARAMS)
    nb = "\u00a0"
    rows = synthesis_pages.territory_table(ctx)
    # largest ESS employment first: Grésivaudan round(55 × 2500/3500 × 1.05) = 41 establishments in 2025, 9 × 41 +
    # 0.4 = 369.4 jobs (× 0.8, × 1.3); Voironnais-Chartreuse 16 -> 144.4; its 2026 counts are under secret
    # (estimates rounded to the ten, counts exact)
    assert rows[0] == ["Grésivaudan", "43", "21", "370", "300 – 480", f"14,0{nb}%", f"12,0{nb}% – 16,0{nb}%"]
    assert rows[1] == ["Voironnais-Chartreuse", "s (secondaire)", "s (secondaire)", "140", "120 – 190", f"10,0{nb}%",
                       f"8,0{nb}% – 15,0{nb}%"]
    # the table's motifs in words, under it
    assert synthesis_pages.territory_glossary(ctx) == (
        " Motifs — secret secondaire : masqué pour qu'aucune case protégée ne puisse être recalculée à partir des "
        "chiffres publiés.")
    # commerce is masked in 2025: not ranked; santé round(55 × 0.6 × 1.05) = 35 -> 315.4
    assert synthesis_pages.sector_table(ctx) == [["Santé humaine", "320", "250 – 410", f"10,0{nb}%",
                                                  f"8,0{nb}% – 15,0{nb}%"]]
    text = "\n".join(pdf_page_texts(report["out"] / "rapport_ess_38_2026-01.pdf"))
    assert "Les territoires et les secteurs en chiffres" in text and "Les secteurs qui emploient le plus" in text


def test_comparison_with_the_rest_of_the_private_economy_known_answers(report):
    ctx = load_context(report["tables"], PARAMS)
    frame = urssaf_compare.yearly(ctx.urssaf_rows).set_index("annee")
    # 2013: fondations not published -> no ESS total (a sum over a missing family would understate it)
    assert np.isnan(frame.at[2013, "effectifs_salaries_ess"]) and np.isnan(frame.at[2013, "part_ess_emploi_prive"])
    assert frame.at[2012, "effectifs_salaries_ess"] == 1030 and frame.at[2024, "effectifs_salaries_ess"] == 1042
    assert frame.at[2024, "indice_ess"] == pytest.approx(100 * 1042 / 1030)
    assert frame.at[2024, "indice_hors_ess"] == pytest.approx(100 * 5120 / 5000)
    # (800 × 25 000 + 230 × 30 000) / 1 030
    assert frame.at[2012, "salaire_moyen_ess"] == pytest.approx(26_900_000 / 1030)
    nb = "\u00a0"
    rows = synthesis_pages.comparison_rows(ctx)
    assert [r[0] for r in rows] == ["2012", "2022", "2023", "2024"]
    assert rows[0] == ["2012", f"1{nb}030", f"5{nb}000", f"17,1{nb}%", f"26{nb}117{nb}€", f"32{nb}000{nb}€"]
    assert rows[-1] == ["2024", f"1{nb}042", f"5{nb}120", f"16,9{nb}%", f"26{nb}104{nb}€", f"32{nb}000{nb}€"]
    text = " ".join("\n".join(pdf_page_texts(report["out"] / "rapport_ess_38_2026-01.pdf")).split())
    assert "L'ESS et le reste de l'économie privée (URSSAF)" in text
    # the région / France comparison is not available to the report: said, not invented
    assert "ces comparaisons ne sont donc pas présentées" in text
    idx = _chart_data(report, "comparaison_indice_emploi_urssaf").set_index(["serie", "annee"])
    assert idx.loc[("indice_ess", 2012), "valeur"] == pytest.approx(100.0)
    assert np.isnan(idx.loc[("indice_ess", 2013), "valeur"])


def test_each_masking_reason_is_explained_in_words_where_it_is_shown(report):
    from reports import pages

    ctx = load_context(report["tables"], PARAMS)
    reasons = pages.secret_reasons(ctx)
    # thresholds of the run's secret_statistique.csv (3 legal units, 85 %)
    assert reasons["frequence"].startswith("fréquence : moins de 3 unités légales dans la case")
    assert reasons["dominance"] == "dominance : une seule unité légale y fait plus de 85\u00a0% de l'emploi"
    assert pages.secret_glossary(ctx, ["publie", "non_mesure", None]) == ""
    both = pages.secret_glossary(ctx, pd.DataFrame({"a": ["denominateur", "publie"], "b": ["frequence", None]}))
    assert both == " Motifs — " + reasons["frequence"] + " ; " + reasons["denominateur"] + "."
    assert "la part de l'ESS ne peut donc pas être publiée" in reasons["denominateur"]
    specs = {s.name: s for specs in pages.chart_specs(ctx).values() for s in specs}
    # EPCI 200000002 is under dominance in 2025, the fondations under frequency: each chart explains its own motif
    assert specs["epci_part_emploi"].note.endswith(" Motifs — " + reasons["dominance"] + ".")
    assert specs["familles_emploi"].note.endswith(" Motifs — " + reasons["frequence"] + ".")
    assert "Motifs" not in specs["epci_etablissements"].note  # nothing masked there
    text = " ".join("\n".join(pdf_page_texts(report["out"] / "rapport_ess_38_2026-01.pdf")).split())
    assert "secret secondaire : masqué pour qu'aucune case protégée" in text


def test_every_chart_has_its_source_line_and_the_text_speaks_french(report):
    ctx = load_context(report["tables"], PARAMS)
    _, specs = annual.render(ctx)
    for spec in specs.values():
        assert spec.source.startswith("Source : "), spec.name
    pages_text = pdf_page_texts(report["out"] / "rapport_ess_38_2026-01.pdf")
    flat = [" ".join(t.split()) for t in pages_text]
    charts_in_pdf = len(specs)
    assert sum(t.count("Source : ") for t in flat) >= charts_in_pdf
    everything = "\n".join(flat)
    assert "intervalle à 90 %, conçu pour contenir la vraie valeur 9 fois sur 10 ; éprouvé sur" in everything
    assert "Ce que les données ouvertes ne disent pas" in everything
    for phrase in ("femmes", "bénévoles", "MSA", "salaires"):
        assert phrase in everything, phrase
    # the territoires page states the EPCI approximation
    territoires = next(t for t in flat if "Établissements de l'ESS par territoire du Département" in t)
    assert "approximation" in territoires
    # no file or column names: no snake_case identifier, no file extension
    identifiers = set(re.findall(r"\b[a-z0-9]+_[a-z0-9_]+\b", everything))
    assert not identifiers, identifiers
    assert ".csv" not in everything and ".parquet" not in everything


def test_no_type_smaller_than_8_points(report):
    from matplotlib.table import Table
    from matplotlib.text import Text

    ctx = load_context(report["tables"], PARAMS)
    figures, specs = annual.render(ctx)
    figures += [pages_module_chart_figure(ctx, spec) for spec in specs.values()]
    for number, fig in enumerate(figures, start=1):
        texts = [t for t in fig.findobj(Text) if t.get_text().strip()]
        for table in fig.findobj(Table):
            texts += [cell.get_text() for cell in table.get_celld().values()]
        small = {(t.get_text()[:40], t.get_fontsize()) for t in texts if t.get_fontsize() < 8}
        assert not small, (number, sorted(small)[:5])


def pages_module_chart_figure(ctx, spec):
    from reports.pages import chart_figure

    return chart_figure(ctx, spec)[0]


def test_bars_are_sorted_largest_first_with_masked_and_unknown_last(report):
    epci = _chart_data(report, "epci_etablissements")
    # alphabetical order would put « CC Deux » first: 52 establishments for CC Une, 9 for CC Deux
    assert epci["etiquette"].tolist() == ["CC Une", "CC Deux (partie)"]
    data = pd.DataFrame({"code": ["a", "b", "c", "non_renseigne", "d"], "valeur": [5.0, np.nan, 9.0, 20.0, 9.0],
                         "disponible": [True, False, True, True, True]})
    assert sel.largest_first(data)["code"].tolist() == ["c", "d", "a", "b", "non_renseigne"]
    sizes = _chart_data(report, "tailles_etablissements")  # an ordinal dimension keeps its order
    assert sizes["code"].tolist() == ["1_9", "10_49"]
    assert sizes["etiquette"].tolist() == ["1 à 9 salariés", "10 à 49 salariés"]  # the cube's labels


def test_the_no_employee_class_says_its_employers_and_employees(report):
    """« 0 salarié selon la tranche SIRENE » beside employees read as an error: the note gives the class's employers
    (band 00) and estimated employees, from the cube."""
    from reports.pages import size_note

    ctx = load_context(report["tables"], PARAMS)
    assert "0 salarié" not in size_note(ctx)  # the fixture has no such class
    cube = ctx.cube
    sized = cube[(cube["classe_taille"] == "1_9")].assign(classe_taille="sans_salarie",
                                                          libelle_classe_taille="0 salarié selon la tranche SIRENE")
    ctx.cube = pd.concat([cube, sized], ignore_index=True)
    # département × ESS × 1 à 9: round(55 × 0.6 × 1.1) = 36 establishments in 2026, 18 employers; round(55 × 0.6 ×
    # 1.05) = 35 in 2025, 9 × 35 + 0.4 = 315.4 employees, rounded to 320
    nb = "\u00a0"
    assert (f"«{nb}0 salarié selon la tranche SIRENE{nb}» : tranches sans salarié au 31/12 de leur année (souvent "
            "ancienne) ; elle compte 18 employeurs (salariés dans l'année de la tranche, aucun au 31/12) et 320 "
            "salariés estimés au 31/12/2025 (embauches depuis la tranche). ") in size_note(ctx)
    label = pd.read_csv(Path(__file__).parents[1] / "data" / "reference" / "classes_taille.csv").set_index(
        "classe_taille").at["sans_salarie", "libelle"]
    assert label == "0 salarié selon la tranche SIRENE"


def test_sizes_follow_the_order_of_the_reference_file(report, tmp_path):
    """The size chart's order is classes_taille.csv's `ordre` (the run's reference folder), its labels the cube's."""
    from reports.pages import _size_rows

    ctx = load_context(report["tables"], PARAMS)
    assert _size_rows(ctx)["classe_taille"].tolist() == ["1_9", "10_49"]
    text = (Path(__file__).parents[1] / "data" / "reference" / "classes_taille.csv").read_text(encoding="utf-8")
    swapped = text.replace("1_9,1 à 9 salariés,2,", "1_9,1 à 9 salariés,30,")
    assert swapped != text
    (tmp_path / "classes_taille.csv").write_text(swapped, encoding="utf-8")
    ctx = load_context(report["tables"], {**PARAMS, "reference_dir": str(tmp_path)})
    rows = _size_rows(ctx)
    assert rows["classe_taille"].tolist() == ["10_49", "1_9"]
    assert rows["_label"].tolist() == ["10 à 49 salariés", "1 à 9 salariés"]


def test_chart_csv_opens_in_french_excel(report, tmp_path):
    headers = set(export.HEADERS.values()) | {"Mesure", "Unité", "Publication"}
    for name, files in report["stats"]["graphiques"].items():
        raw = Path(files["donnees"]).read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf"), name  # UTF-8 with BOM
        frame, comment = export.read_csv(files["donnees"])
        assert comment == style.SYNTHETIC_MENTION, name
        assert len(frame.columns) > 3, name  # read with « ; »: columns, not one
        assert set(frame.columns) <= headers, (name, set(frame.columns) - headers)
        for column in ("Valeur", "Borne basse de l'intervalle à 90 %", "Borne haute de l'intervalle à 90 %"):
            if column in frame.columns:
                bad = [v for v in frame[column] if v and not re.fullmatch(r"-?\d+(,\d)?", v)]
                assert not bad, (name, column, bad[:3])  # rounded, French decimals, no float noise
    fam, _ = export.read_csv(report["out"] / "graphiques" / "familles_emploi.csv")
    row = fam.set_index("Code").loc["associations"]
    # round(40 × 1.05) = 42 establishments -> 378.4 jobs, interval × 0.8 and × 1.3
    assert (row["Valeur"], row["Borne basse de l'intervalle à 90 %"], row["Borne haute de l'intervalle à 90 %"],
            row["Unité"], row["Publication"]) == ("378", "303", "492", "salariés", "publiée")
    assert fam.set_index("Code").at["fondations", "Secret statistique"] == "s — fréquence (moins de 3 unités légales)"
    assert fam.set_index("Code").at["fondations", "Valeur"] == "" and fam.set_index("Code").at[
        "fondations", "Publication"] == "s"
    epci, _ = export.read_csv(report["out"] / "graphiques" / "epci_part_emploi.csv")
    epci = epci.set_index("Libellé")
    assert (epci.at["CC Une", "Valeur"], epci.at["CC Une", "Unité"]) == ("10,0", "%")  # 0.10 as a percentage
    evo, _ = export.read_csv(report["out"] / "graphiques" / "evolution_emploi_ess.csv")
    assert set(evo.loc[evo["Année"] == "2024", "Publication"]) <= {"publiée", "n.d."}
    # one row per year, its interval beside it
    assert evo["Année"].is_unique and (evo.loc[evo["Publication"] == "publiée",
                                               "Borne haute de l'intervalle à 90 %"] != "").all()
    # the territories' series: its note sends the reader to the CSV for each value's interval
    terr, _ = export.read_csv(report["out"] / "graphiques" / "evolution_emploi_territoires.csv")
    shown = terr[terr["Publication"] == "publiée"]
    assert len(shown) and (shown["Borne basse de l'intervalle à 90 %"] != "").all()
    assert (shown["Borne haute de l'intervalle à 90 %"] != "").all()
    # real data: no synthetic line
    path = export.write_csv(pd.DataFrame({"code": ["x"], "etiquette": ["X"], "valeur": [0.1234], "statut": [None]}),
                            tmp_path / "x.csv", unit="part", measure_label="m", synthetic=False)
    frame, comment = export.read_csv(path)
    assert comment is None and frame.at[0, "Valeur"] == "12,3"
    assert pq.read_schema(Path(report["stats"]["graphiques"]["familles_emploi"]["donnees_parquet"])).metadata[
        b"ess:synthetic"] == b"true"


def test_maps_name_places_and_tell_no_data_from_the_lightest_class(report):
    from matplotlib.colors import to_rgba

    lightest = maps._palette("Greens")(0)
    assert min(lightest[:3]) < 0.85  # not near-white
    assert to_rgba(maps.NO_DATA["facecolor"]) == (1.0, 1.0, 1.0, 1.0) and maps.NO_DATA["hatch"]
    ctx = load_context(report["tables"], PARAMS)
    rings = maps.load_contours(maps.contours_file(2026), ["38001", "38002", "38003"])
    assert [p[0] for p in maps.place_names(rings, ctx.communes, 2)] == ["Les Adrets", "Les Abrets en Dauphiné"]
    text = "\n".join(pdf_page_texts(report["out"] / "rapport_ess_38_2026-01.pdf"))
    assert "Les Adrets" in text
    # the legend explains what the map shows, and only that: a commune without a value, a masked one
    import matplotlib.pyplot as plt

    def legend(statuses: dict) -> list[str]:
        values = pd.DataFrame({"code_commune": list(statuses), "statut": list(statuses.values()),
                               "valeur": [None if s == "vide" else 1.0 + i for i, s in enumerate(statuses.values())]})
        values["statut"] = values["statut"].where(values["statut"].isin(["secondaire"]), None)
        fig, ax = plt.subplots()
        try:
            maps.choropleth(ax, rings, values, title="t", fmt=str, legend_title="l")
            return [t.get_text() for t in ax.get_legend().get_texts()]
        finally:
            plt.close(fig)

    both = legend({"38001": "vide", "38002": "secondaire", "38003": None})
    assert "pas de donnée" in both and "«\u00a0s\u00a0» secret statistique" in both
    neither = legend({"38001": None, "38002": None, "38003": None})
    assert "pas de donnée" not in neither and "«\u00a0s\u00a0» secret statistique" not in neither


def test_a_many_series_chart_names_its_masked_values_in_its_note():
    """An « s » in a series' colour cannot say whose value it hides when colours repeat: the note says it."""
    from reports.pages import _masked_in_words

    status = pd.DataFrame({"vercors": [None, "secondaire", "secondaire"], "oisans": [None, None, None],
                           "grenoble": ["dominance", None, "non_diffuse"]}, index=[2012, 2013, 2014])
    text = _masked_in_words(status, {"vercors": "Vercors", "grenoble": "Agglomération grenobloise"})
    assert text == (" Valeurs masquées : Vercors 2013–2014 (secret secondaire) ; Agglomération grenobloise 2012 "
                    "(dominance (une unité légale fait plus de 85 %))."), text
    assert _masked_in_words(status[["oisans"]], {}) == ""
    # many masked series: every one is listed (the table shows three years; a reader cannot open the CSV)
    many = pd.DataFrame({f"t{k}": ["secondaire", None, "secondaire", "secondaire"] for k in range(9)},
                        index=[2012, 2013, 2014, 2015])
    text = _masked_in_words(many, {})
    assert text.startswith(" Valeurs masquées : t0 2012, 2014–2015 (secret secondaire) ; t1 ")
    assert text.endswith(" ; t8 2012, 2014–2015 (secret secondaire).") and "autres" not in text


def test_the_territories_employment_series_is_a_table_of_milestone_years(report):
    """Thirteen lines on one axis could not be read: a table of the first, middle and last years, the change where
    both ends are published; every year stays in the chart's data."""
    from reports import pages

    assert pages._milestones(range(2012, 2026)) == [2012, 2019, 2025]
    assert pages._milestones([2024, 2025]) == [2024, 2025]
    values = pd.DataFrame({"a": [100.0, 120.0, 150.4], "b": [np.nan, 52.0, 60.0]}, index=[2012, 2013, 2014])
    status = pd.DataFrame({"a": [None, None, None], "b": ["secondaire", None, None]}, index=[2012, 2013, 2014])
    rows = pages.milestone_rows(values, status, {"a": "Alpha", "b": "Bêta"}, [2012, 2013, 2014])
    assert rows == [["Alpha", "100", "120", "150", "+50,4\u00a0%"], ["Bêta", "s (secondaire)", "50", "60", "n.d."]]
    ctx = load_context(report["tables"], PARAMS)
    spec = next(s for s in pages.chart_specs(ctx)["evolution_emploi"] if s.name == "evolution_emploi_territoires")
    assert spec.kind == "table"
    # T1 Voironnais-Chartreuse: 16 establishments both years -> 144.4 employees; T2 Grésivaudan masked in 2024
    texts = pdf_page_texts(report["out"] / "rapport_ess_38_2026-01.pdf")
    page = next(t for t in texts if "Emploi salarié de l'ESS par territoire du Département, au 31/12, 2024 – 2025" in t)
    assert "s (secondaire)" in page and "Évolution" in page
    data = _chart_data(report, "evolution_emploi_territoires")
    assert set(data["annee"]) == {2024, 2025} and (data["trace"] == "masque").sum() == 1


def test_line_charts_keep_many_series_apart():
    """13 territories on ten colours: the series past the tenth are dashed, and two values masked the same year get
    their « s » one below the other (an adversarial reading found pairs of territories drawn alike, and 8 masked
    values showing as 4 marks)."""
    from matplotlib.figure import Figure

    years = list(range(2012, 2016))
    frame = pd.DataFrame({f"t{k}": [float(k)] * len(years) for k in range(13)}, index=years)
    statuses = pd.DataFrame({c: [None] * len(years) for c in frame.columns}, index=years, dtype=object)
    statuses.loc[2012, ["t0", "t1"]] = "secondaire"
    ax = Figure().add_subplot()
    charts.lines(ax, frame, statuses, title="t", fmt=str)
    looks = [(line.get_color(), line.get_linestyle(), line.get_marker()) for line in ax.get_lines()]
    assert len(set(looks)) == len(looks) == 13
    marks = [t.get_position()[1] for t in ax.texts if t.get_text() == style.SUPPRESSED]
    assert len(marks) == 2 and marks[0] != marks[1]


def test_an_interval_is_one_shaded_band_behind_its_line():
    """The ESS series' 90 % interval read as three lines of the same weight: it is one band, the bounds stay in the
    chart's data, and a masked year gets one « s », not three."""
    from matplotlib.figure import Figure

    years = list(range(2012, 2016))
    frame = pd.DataFrame({"central": [10.0, np.nan, 12.0, 13.0], "bas": [9.0, np.nan, 11.0, 12.0],
                          "haut": [11.0, np.nan, 13.0, 14.0]}, index=years)
    statuses = pd.DataFrame({c: [None, "secondaire", None, None] for c in frame.columns}, index=years, dtype=object)
    ax = Figure().add_subplot()
    data = charts.lines(ax, frame, statuses, title="t", fmt=str, band=("bas", "haut", "intervalle à 90 %"))
    assert [line.get_label() for line in ax.get_lines()] == ["central"]
    assert [c.get_label() for c in ax.collections] == ["intervalle à 90 %"]
    assert sorted(ax.get_legend_handles_labels()[1]) == ["central", "intervalle à 90 %"]
    # one row per year, the bounds beside the value (rows of their own tripled a sum by year), none when masked
    assert data["serie"].tolist() == ["central"] * 4
    assert data["haut"].tolist()[::2] == [11.0, 13.0] and np.isnan(data["haut"].tolist()[1])
    assert data["bas"].tolist()[3] == 12.0
    assert [t.get_text() for t in ax.texts].count(style.SUPPRESSED) == 1


def test_a_line_chart_png_makes_room_for_its_legend():
    """A long legend under a line chart ran into the note of the standalone PNG: the figure grows at the bottom."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from reports import pages

    years = list(range(2012, 2026))
    frame = pd.DataFrame({f"territoire {k}": [float(k)] * len(years) for k in range(13)}, index=years)
    fig = Figure(figsize=(8.0, 6.0))
    ax = fig.add_axes((0.10, 0.42, 0.86, 0.46))
    charts.lines(ax, frame, None, title="t", fmt=str)
    note = 8 * 8.0 * 1.25 / 72  # eight lines of note
    top_before = ax.get_position().y1 * 6.0
    pages._room_for_legend(fig, ax, note)
    height = fig.get_size_inches()[1]
    assert height > 6.0
    legend = ax.get_legend().get_window_extent(FigureCanvasAgg(fig).get_renderer()).y0 / fig.dpi
    assert legend >= 0.01 * height + note + 0.1
    assert abs((height - ax.get_position().y1 * height) - (6.0 - top_before)) < 1e-6  # same place from the top


def test_table_figures_are_right_aligned_and_words_left_aligned():
    from matplotlib.figure import Figure

    ax = Figure(figsize=style.A4_PORTRAIT).add_axes((0.06, 0.5, 0.88, 0.4))
    charts.table(ax, ["Territoire", "Salariés"], [["Isère", "38\u00a0200"], ["Trièves", "250"]])
    cells = ax.tables[0].get_celld()
    assert [cells[(r, 0)].get_text().get_horizontalalignment() for r in (0, 1, 2)] == ["left"] * 3
    assert [cells[(r, 1)].get_text().get_horizontalalignment() for r in (0, 1, 2)] == ["right"] * 3


# --- labels that do not collide (review ux4 R6) ---------------------------------------------------------------------
def _boxes_overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_place_names_are_printed_with_french_typography_only():
    assert style.display_label("CC Coeur de Chartreuse") == "CC Cœur de Chartreuse"
    assert style.display_label("Sacré-Coeur, OEUVRE") == "Sacré-Cœur, ŒUVRE"
    for untouched in ("Coexistence", "Noé", "Moelle-sur-Loire", "Boën-sur-Lignon", "Saint-Égrève"):
        assert style.display_label(untouched) == untouched


def test_long_epci_names_fit_beside_their_bars_without_touching(tmp_path):
    """Eighteen EPCIs on a page's bar chart, some with names too long for one line (invented names, any
    département's): each label is shortened by the rules only when needed, else wrapped on a taller row, and no two
    labels' boxes on the drawn figure overlap or leave the page."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = ["CC Une", "CA du Pays de Saint-Martin-des-Vignes et de la Vallée Haute",
             "Communauté de communes du Pays de Sainte-Colombe-sur-Orbe et des Vals",
             "CC Saint-Marcellin Vercors Isère Communauté", "CC Deux"]
    names += [f"CC Nom de territoire numéro {k}" for k in range(13)]
    data = pd.DataFrame({"etiquette": names, "valeur": np.arange(18, 0, -1) * 10.0, "bas": np.nan, "haut": np.nan,
                         "statut": None, "disponible": True})
    fig = Figure(figsize=style.A4_PORTRAIT)
    ax = fig.add_axes((0.38, 0.62, 0.56, 0.26))  # a bar chart's place on a page (pages.chart_page)
    charts.hbar(ax, data, title="t", fmt=str)
    renderer = FigureCanvasAgg(fig).get_renderer()
    labels = [t for t in ax.get_yticklabels() if t.get_text()]
    texts = [t.get_text() for t in labels]
    assert texts[0] == "CC Une" and texts[3] == "CC Saint-Marcellin Vercors Isère Communauté"  # fits: untouched
    # « Communauté de communes » → CC, and Sainte → Ste only because it was still too long
    assert texts[2] == "CC du Pays de Ste-Colombe-sur-Orbe et des Vals", texts[2]
    assert "St-Martin" in texts[1] and "\n" in texts[1]  # still too long: shortened, then wrapped
    boxes = [t.get_window_extent(renderer) for t in labels]
    for i, a in enumerate(boxes):
        assert a.x0 >= 0, texts[i]
        for j in range(i + 1, len(boxes)):
            assert not _boxes_overlap(a, boxes[j]), (texts[i], texts[j])
    # and each label stays beside its own bar
    for text, box, bar in zip(texts, boxes, [p for p in ax.patches if (p.get_gid() or "").startswith("barre_")]):
        centre = bar.get_window_extent(renderer)
        assert box.y0 <= (centre.y0 + centre.y1) / 2 <= box.y1, text


def test_map_names_of_close_towns_do_not_touch():
    """Two towns a few kilometres apart (like Saint-Marcellin and Grenoble on Isère's map): the second name moves
    to a free spot around its point."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rings = maps.load_contours(maps.contours_file(2026), ["38001", "38002", "38003"])
    x, y = np.vstack([r for rs in rings.values() for r in rs]).mean(axis=0)
    places = [("Grande-Ville-sur-Rivière", x, y), ("Saint-Petit-Bourg", x - 0.004, y - 0.003),
              ("Troisième", x + 0.002, y + 0.002), ("Ailleurs", x + 0.05, y)]
    values = pd.DataFrame({"code_commune": ["38001", "38002", "38003"], "valeur": [1.0, 2.0, 3.0],
                           "statut": [None] * 3})
    fig = Figure(figsize=style.A4_PORTRAIT)
    ax = fig.add_axes((0.04, 0.60, 0.60, 0.28))  # a map's place on a page
    maps.choropleth(ax, rings, values, title="t", fmt=str, legend_title="l", places=places)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()  # the boxes around the names are sized when drawn
    renderer = canvas.get_renderer()
    names = [t for t in ax.texts if t.get_gid() == "place_name"]
    assert [t.get_text() for t in names] == [p[0] for p in places]
    boxes = [t.get_bbox_patch().get_window_extent(renderer) for t in names]
    for i, a in enumerate(boxes):
        for j in range(i + 1, len(boxes)):
            assert not _boxes_overlap(a, boxes[j]), (names[i].get_text(), names[j].get_text())


# --- small families on a scale of their own (review ux4 R9) --------------------------------------------------------
@pytest.mark.parametrize("name", ["evolution_etablissements", "evolution_emploi_urssaf"])
def test_small_families_get_a_panel_with_their_own_scale_and_names_at_line_ends(report, name):
    """Beside 55 establishments of the ESS, 2 to 8 fondations, mutuelles or coopératives were flat lines at 0: they
    get a second panel whose axis fits their values, and every line is named at its end, names apart."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from reports import pages

    ctx = load_context(report["tables"], PARAMS)
    spec = annual.charts_of(ctx)[name]
    fig = Figure(figsize=style.A4_PORTRAIT)
    data = spec.draw(fig.add_axes((0.10, 0.70, 0.84, 0.18)))  # a line chart's place on a page (pages.chart_page)
    large, small = fig.axes
    values = data.dropna(subset=["valeur"])
    peaks = values.groupby("serie")["valeur"].max()
    small_series = {line.get_label() for line in small.get_lines()}
    assert small_series == {style.label("famille", f) for f in ("cooperatives", "mutuelles", "fondations")}
    top = peaks[[f for f in ("cooperatives", "mutuelles", "fondations")]].max()
    low, high = small.get_ylim()
    assert low == 0 and top <= high <= 1.3 * top  # the axis fits the small families, not the largest
    assert large.get_ylim()[1] >= peaks.max()
    assert "échelle agrandie" in " ".join(pages.note_lines(spec))
    # every series once in the data, in the frame's order; every line named at its end, no two names touching
    assert data["serie"].drop_duplicates().tolist() == [s for s in data["serie"].unique()]
    renderer = FigureCanvasAgg(fig).get_renderer()
    names = [t for ax in fig.axes for t in ax.texts if t.get_gid() == "fin_de_courbe"]
    assert sorted(t.get_text() for t in names) == sorted(line.get_label() for ax in fig.axes for line in ax.get_lines())
    for ax in fig.axes:
        boxes = [t.get_window_extent(renderer) for t in ax.texts if t.get_gid() == "fin_de_courbe"]
        assert all(not _boxes_overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert max(b.x1 for b in (t.get_window_extent(renderer) for t in names)) <= fig.bbox.x1  # inside the page
    assert large.get_window_extent(renderer).x1 < small.get_window_extent(renderer).x0


def test_series_of_one_scale_stay_on_one_panel():
    from matplotlib.figure import Figure

    frame = pd.DataFrame({"a": [10.0, 12.0], "b": [6.0, 7.0]}, index=[2020, 2021])
    fig = Figure()
    charts.lines_two_scales(fig.add_subplot(), frame, None, title="t", fmt=str, ylabel="y", colors={})
    assert len(fig.axes) == 1 and charts.small_series(frame) == []
    assert charts.small_series(frame.assign(c=[1.0, 2.0])) == ["c"]


# --- contents, bookmarks and edition date (review ux4 R12) ---------------------------------------------------------
def test_one_bookmark_per_page_and_a_contents_with_the_pages_that_exist(report):
    from reports.outline import read_outline

    pdf = report["out"] / "rapport_ess_38_2026-01.pdf"
    texts = pdf_page_texts(pdf)
    bookmarks = read_outline(pdf)
    assert [page for _, page in bookmarks] == list(range(N_PAGES))
    for (title, page) in bookmarks:  # each bookmark is its page's title
        assert title in texts[page], (title, page)
    assert bookmarks[0][0] == "L'essentiel : l'ESS en Isère" and bookmarks[-1][0].startswith("Calage")
    # the contents on page 1: every other page, by its title and number, and no page that does not exist
    first = texts[0]
    assert "Sommaire" in first
    contents = first.split("Sommaire", 1)[1]
    pairs = re.findall(r"^(.+)\n(\d+)$", contents, re.M)
    assert [(t, int(n)) for t, n in pairs] == [(title, page + 1) for title, page in bookmarks[1:]]


def test_the_edition_date_is_the_runs_not_the_clocks(report, tmp_path):
    """Printed on pages 1 and 2 and written as the PDF's CreationDate: from the run id (the day `ess run` started)
    or, for an id chosen by hand like the fixture's « test », the millésime's date; never today's."""
    texts = pdf_page_texts(report["out"] / "rapport_ess_38_2026-01.pdf")
    assert "Édition du 31 janvier 2026" in texts[0] and "édition du 31 janvier 2026" in texts[1]
    assert b"/CreationDate (D:20260131000000Z)" in (report["out"] / "rapport_ess_38_2026-01.pdf").read_bytes()
    ctx = load_context(report["tables"], {**PARAMS, "run_id": "20261130T160727-721619Z"})
    assert ctx.edition_date() == dt.date(2026, 11, 30)
    assert style.fmt_day(dt.date(2026, 3, 1)) == "1er mars 2026"
    assert load_context(report["tables"], {**PARAMS, "run_id": "20261399T000000"}).edition_date() == dt.date(2026, 1,
                                                                                                              31)
