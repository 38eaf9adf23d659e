"""The synthetic sample: official names and layouts, text codes, determinism, truth vs bands, planted edge cases."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from ess.errors import UserError
from ess.paths import REFERENCE_DIR
from sources.sample import MARKER_FILE, MARKER_JSON, is_synthetic, write_sample
from sources.sample.ids import luhn_check_digit, luhn_valid, nics_for, public_siren
from sources.sample.truth import in_perimetre
from sources.sample.urssaf_files import employment_zones, masked
from sources.sirene_layouts import (ETABLISSEMENT_54, ETABLISSEMENT_HISTORIQUE, UNITE_LEGALE_35,
                                    UNITE_LEGALE_HISTORIQUE)

SCALE = 0.02
# sha256 of StockEtablissement_utf8.zip written by generator 2.3.0 (before the URSSAF field's exceptions) for seed 2012,
# scale 0.05, département 38: the exceptions come from a random stream of their own and leave SIRENE as it was
SIRENE_2_3_0_SHA256 = "c36318ae82f8e225d37fc9be87f20d04ac24c38f6d2a5c07c42d0ba5f7de3f1d"
STOCKS = {
    "StockEtablissement": ETABLISSEMENT_54,
    "StockUniteLegale": UNITE_LEGALE_35,
    "StockEtablissementHistorique": ETABLISSEMENT_HISTORIQUE,
    "StockUniteLegaleHistorique": UNITE_LEGALE_HISTORIQUE,
}
# Band intervals of EMPLOYMENT.md (headcount at 31/12); NN, 00 and empty mean 0.
BANDS = {"01": (1, 2), "02": (3, 5), "03": (6, 9), "11": (10, 19), "12": (20, 49), "21": (50, 99),
         "22": (100, 199), "31": (200, 249), "32": (250, 499), "41": (500, 999), "42": (1000, 1999),
         "51": (2000, 4999), "52": (5000, 9999), "53": (10000, 10**9), "NN": (0, 0), "00": (0, 0), "": (0, 0)}


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("sample38")
    return root, write_sample(root, departement="38", seed=2012, scale=SCALE)


def _csv(root: Path, stem: str) -> pd.DataFrame:
    with zipfile.ZipFile(root / "sirene" / "2026-10" / f"{stem}_utf8.zip") as zf:
        assert zf.namelist() == [f"{stem}_utf8.csv"]
        text = zf.read(f"{stem}_utf8.csv").decode("utf-8")
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def etabs(sample):
    return _csv(sample[0], "StockEtablissement")


@pytest.fixture(scope="module")
def units(sample):
    return _csv(sample[0], "StockUniteLegale")


@pytest.fixture(scope="module")
def truth(sample):
    return pd.read_parquet(sample[0] / "ground_truth" / "effectifs_etablissements.parquet")


def test_luhn_helpers_on_known_numbers():
    # 732 829 320 and 552 100 554 are well-known valid SIRENs; 38004's commune SIREN is 213 800 048.
    assert luhn_valid(np.array([732829320, 552100554]), 9).all()
    assert not luhn_valid(np.array([732829321]), 9).any()
    assert luhn_check_digit(np.array([73282932]), 8)[0] == 0
    assert public_siren(21380, 4, 5) == 213800048
    siret = 732829320 * 100000 + nics_for(np.array([732829320]), np.array([7]))[0]
    assert siret == 73282932000074 and luhn_valid(np.array([siret]), 14).all()


def test_official_names_and_exact_column_lists(sample):
    root, summary = sample
    for stem, columns in STOCKS.items():
        csv_header = list(_csv(root, stem).columns)
        assert csv_header == list(columns), stem
        table = pq.read_table(root / "sirene" / "2026-10" / f"{stem}_utf8.parquet")
        assert table.schema.names == list(columns), stem
        assert table.schema.metadata[b"ess:synthetic"] == b"true"
    assert len(STOCKS["StockEtablissement"]) == 54 and len(STOCKS["StockUniteLegale"]) == 35
    urssaf = root / "urssaf" / "2025"
    assert (urssaf / "nombre-etab-effectifs-salaries-et-masse-salariale-ess-departements.csv").is_file()
    assert (urssaf / "etablissements-et-effectifs-salaries-au-niveau-commune-x-ape-last.csv").is_file()
    assert summary["rows"]["sirene_etablissements"] == len(_csv(root, "StockEtablissement"))


def test_csv_codes_are_text_with_leading_zeros_and_parquet_is_typed_like_insee(sample, etabs, units):
    assert etabs["siren"].str.fullmatch(r"\d{9}").all()
    assert etabs["nic"].str.fullmatch(r"\d{5}").all()
    assert etabs["siret"].str.fullmatch(r"\d{14}").all()
    assert (etabs["siren"].str[0] == "0").any()
    assert (etabs["nic"].str[0] == "0").all()  # NICs like 00012 lose their zeros when typed as integers
    assert units["categorieJuridiqueUniteLegale"].str.fullmatch(r"\d{4}").all()
    communes = etabs["codeCommuneEtablissement"]
    assert communes[communes != ""].str.fullmatch(r"\d{5}|2[AB]\d{3}").all()
    assert set(etabs["etablissementSiege"]) == {"true", "false"}
    assert etabs["dateCreationEtablissement"].replace("", np.nan).dropna().str.fullmatch(r"\d{4}-\d\d-\d\d").all()
    assert etabs["dateDernierTraitementEtablissement"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d").all()
    # The CSV quotes only where needed (INSEE's flavour): no quoted plain code.
    with zipfile.ZipFile(sample[0] / "sirene" / "2026-10" / "StockEtablissement_utf8.zip") as zf:
        first_lines = zf.read("StockEtablissement_utf8.csv").decode()[:2000].splitlines()
    assert first_lines[0].startswith("siren,nic,siret,statutDiffusionEtablissement,")
    assert not first_lines[1].startswith('"')
    schema = pq.read_schema(sample[0] / "sirene" / "2026-10" / "StockEtablissement_utf8.parquet")
    assert str(schema.field("nic").type) == "int64"
    assert str(schema.field("siren").type) == "string"
    ul_schema = pq.read_schema(sample[0] / "sirene" / "2026-10" / "StockUniteLegale_utf8.parquet")
    assert str(ul_schema.field("categorieJuridiqueUniteLegale").type) == "int64"


def test_parquet_and_csv_hold_the_same_rows(sample, etabs):
    table = pd.read_parquet(sample[0] / "sirene" / "2026-10" / "StockEtablissement_utf8.parquet")
    assert len(table) == len(etabs)
    assert (table["nic"].astype(str).str.zfill(5) == etabs["nic"]).all()
    assert (table["siret"] == etabs["siret"]).all()


def test_identifiers_are_luhn_valid_except_the_planted_mismatches(etabs, units, truth):
    assert luhn_valid(units["siren"].astype(np.int64).to_numpy(), 9).all()
    assert luhn_valid(etabs["siret"].astype(np.int64).to_numpy(), 14).sum() >= len(etabs) - 2
    mismatch = etabs[etabs["siret"].str[:9] != etabs["siren"]]
    assert len(mismatch) == 2
    assert set(truth.loc[truth["defaut"] == "siret_incoherent_avec_siren", "siret_fichier"]) == set(mismatch["siret"])


def test_every_establishment_unit_exists_and_some_units_have_none(etabs, units):
    assert set(etabs["siren"]) <= set(units["siren"])
    assert len(set(units["siren"]) - set(etabs["siren"])) > 0
    assert units["siren"].is_unique


def test_bands_describe_their_year_and_headcounts_drift_out_of_them(etabs, truth):
    band = truth["tranche_effectifs"].fillna("")
    low = band.map(lambda b: BANDS[b][0])
    high = band.map(lambda b: BANDS[b][1])
    # a band is the band of the headcount of its band year…
    assert ((truth["effectif_annee_tranche"] >= low) & (truth["effectif_annee_tranche"] <= high)).all()
    # … and says little of a later year's: some employers of URSSAF_YEAR are outside their (older) band
    banded = truth["tranche_effectifs"].isin([b for b in BANDS if b not in ("NN", "00", "")])
    alive = truth["actif_fin_annee_urssaf"] & banded
    inside = (truth["effectif_vrai"] >= low) & (truth["effectif_vrai"] <= high)
    assert 0.5 < inside[alive].mean() < 0.95
    # closed since, open at the end of URSSAF_YEAR: their employment of that year is in the truth
    closed_since = truth["actif_fin_annee_urssaf"] & ~truth["actif"]
    assert truth.loc[closed_since, "effectif_vrai"].sum() > 0
    # created after the band year: no band, yet some employ
    recent = truth["annee_creation"] > 2023
    assert truth.loc[recent, "tranche_effectifs"].isin([None, "NN"]).all()
    assert (truth.loc[recent, "effectif_vrai"] > 0).any()
    assert (truth["employeur"] == (truth["effectif_vrai"] > 0)).all()
    # The band of the truth is the band written in the file for the same establishment.
    f = etabs.drop_duplicates("siret").set_index("siret")["trancheEffectifsEtablissement"]
    t = truth.set_index("siret_fichier")["tranche_effectifs"].fillna("")
    assert (f.reindex(t.index) == t).all()
    # The employer flag of the file follows the latest year's employment, with errors.
    flag = etabs.drop_duplicates("siret").set_index("siret")["caractereEmployeurEtablissement"].reindex(t.index)
    emp = truth.set_index("siret_fichier")["employeur"]
    open_now = truth.set_index("siret_fichier")["actif"]
    assert (flag[emp & open_now] == "O").mean() > 0.85
    assert (flag[~emp & open_now] == "O").mean() < 0.1


def test_every_band_code_occurs(etabs):
    bands = set(etabs["trancheEffectifsEtablissement"])
    assert set(BANDS) <= bands


def test_planted_edge_cases_are_present(sample, etabs, units):
    summary = sample[1]
    partial = etabs[etabs["statutDiffusionEtablissement"] == "P"]
    assert len(partial) > 0 and (partial["libelleVoieEtablissement"] == "[ND]").all()
    pu = units[units["statutDiffusionUniteLegale"] == "P"]
    assert len(pu) > 0
    assert ((pu["nomUniteLegale"] == "[ND]") | (pu["denominationUniteLegale"] == "[ND]")).all()
    closed = etabs[etabs["etatAdministratifEtablissement"] == "F"]
    assert len(closed) > len(etabs) * 0.2
    assert (units["etatAdministratifUniteLegale"] == "C").any()
    assert (etabs["activitePrincipaleNAF25Etablissement"].str.fullmatch(r"\d\d\.\d\d[A-Z]")).sum() > 100
    assert not (closed["activitePrincipaleNAF25Etablissement"] != "").any()
    assert (etabs["nomenclatureActivitePrincipaleEtablissement"] == "NAFRev1").any()
    cj = set(units["categorieJuridiqueUniteLegale"])
    assert {"5400", "2200", "5500"} <= cj
    known = set(pd.read_csv(REFERENCE_DIR / "categories_juridiques.csv", dtype=str)["code"])
    assert len(cj - known) >= 4
    assert {"O", "N", ""} <= set(units["economieSocialeSolidaireUniteLegale"])
    flagged = units[units["economieSocialeSolidaireUniteLegale"] == "O"]
    assert (flagged["categorieJuridiqueUniteLegale"] == "9220").mean() > 0.5
    assert flagged["categorieJuridiqueUniteLegale"].isin(["5710", "5499"]).any()
    excluded = etabs["activitePrincipaleEtablissement"].str.match(r"84\.|94\.(11|20|91|92)")
    assert excluded.any()
    # Out of the département, abroad, old commune codes, duplicated row.
    code = etabs["codeCommuneEtablissement"]
    abroad = etabs[etabs["codePaysEtrangerEtablissement"] != ""]
    assert len(abroad) >= 2 and (abroad["codeCommuneEtablissement"] == "").all()
    assert ((code != "") & ~code.str.startswith("38")).any()
    passage = pd.read_csv(REFERENCE_DIR / "communes_passage_2026.csv", dtype=str)
    assert code.isin(set(passage["ancien_code"])).any()
    assert summary["edge_cases"]["old_commune_codes"] > 0
    assert etabs["siret"].duplicated().sum() == 1
    sieges = etabs[(etabs["etablissementSiege"] == "true") & (etabs["etatAdministratifEtablissement"] == "A")]
    assert sieges.drop_duplicates("siret")["siren"].duplicated().any()
    assert (etabs["trancheEffectifsEtablissement"] == "").any()
    assert (units["dateCreationUniteLegale"] == "1900-01-01").any() or len(units) < 5000


def _current_vs_history(current: pd.DataFrame, history: pd.DataFrame, key: str, pairs: list[str]) -> None:
    last = history[history["dateFin"] == ""].set_index(key)
    assert last.index.is_unique
    cur = current.drop_duplicates(key).set_index(key)
    cur = cur[cur.index.isin(last.index)]
    assert len(cur) == len(current.drop_duplicates(key)) - (0 if key == "siren" else 2)
    for col in pairs + ["dateDebut"]:
        assert (cur[col] == last.loc[cur.index, col]).all(), col
    counts = history.groupby(key).size()
    periods = "nombrePeriodesEtablissement" if key == "siret" else "nombrePeriodesUniteLegale"
    assert (cur[periods].astype(int) == counts.loc[cur.index]).all()
    # Periods follow each other without gaps: each dateFin is the next period's dateDebut.
    h = history.sort_values([key, "dateDebut"])
    same = h[key].to_numpy()[1:] == h[key].to_numpy()[:-1]
    assert (h["dateFin"].to_numpy()[:-1][same] == h["dateDebut"].to_numpy()[1:][same]).all()


def test_history_agrees_with_the_current_stock(sample, etabs, units):
    eh = _csv(sample[0], "StockEtablissementHistorique")
    uh = _csv(sample[0], "StockUniteLegaleHistorique")
    _current_vs_history(etabs, eh, "siret", ["etatAdministratifEtablissement", "activitePrincipaleEtablissement",
                                             "nomenclatureActivitePrincipaleEtablissement",
                                             "caractereEmployeurEtablissement"])
    _current_vs_history(units, uh, "siren", ["etatAdministratifUniteLegale", "categorieJuridiqueUniteLegale",
                                             "activitePrincipaleUniteLegale",
                                             "economieSocialeSolidaireUniteLegale",
                                             "caractereEmployeurUniteLegale", "nicSiegeUniteLegale"])
    closed_units = units.loc[units["etatAdministratifUniteLegale"] == "C", "siren"]
    last = uh[uh["dateFin"] == ""].set_index("siren")
    assert (last.loc[closed_units, "etatAdministratifUniteLegale"] == "C").all()
    assert (uh["changementCategorieJuridiqueUniteLegale"] == "true").any()
    assert (uh["changementEconomieSocialeSolidaireUniteLegale"] == "true").any()
    assert (eh["changementActivitePrincipaleEtablissement"] == "true").any()


def test_urssaf_exports_are_built_from_the_truth_the_urssaf_way(sample, truth):
    root = sample[0]
    ess = pd.read_csv(root / "urssaf" / "2025" /
                      "nombre-etab-effectifs-salaries-et-masse-salariale-ess-departements.csv",
                      sep=";", dtype={"code_departement": str, "code_region": str})
    assert list(ess.columns) == ["region", "ancienne_region", "departement", "champ_ess", "famille_ess", "annee",
                                 "code_region", "code_ancienne_region", "code_departement",
                                 "nombre_d_etablissements", "effectifs_salaries_moyens", "masse_salariale"]
    assert set(ess["annee"]) == set(range(2012, 2026))
    assert ess["code_departement"].nunique() >= 2
    mine = ess[(ess["code_departement"] == "38") & (ess["annee"] == 2025)]
    assert set(mine["famille_ess"]) == {"Associations", "Coopératives", "Mutuelles", "Fondations", "Hors ESS"}
    # the ESS table holds ANNUAL AVERAGES of the field's establishments of URSSAF's family, whatever their state
    # on 31 December (those closed during the year count for the quarters they lived)
    d = truth[(truth["localisation"] == "departement") & truth["champ_urssaf"]]
    assoc = d[in_perimetre(d["perimetres"], "insee") & (d["famille_ess"] == "associations")]
    got = mine.loc[mine["famille_ess"] == "Associations", "effectifs_salaries_moyens"].iloc[0]
    assert got == pytest.approx(assoc["effectif_moyen_vrai"].sum(), abs=0.05 + 0.0005 * len(assoc))
    assert assoc.loc[~assoc["actif_fin_annee_urssaf"], "effectif_moyen_vrai"].sum() > 0

    # the other départements are not the own one scaled: the report's comparison page needs other shares and growth
    ess["ess"] = np.where(ess["famille_ess"] == "Hors ESS", "hors", "ess")
    by = ess.pivot_table(index=["code_departement", "annee"], columns="ess", values="effectifs_salaries_moyens",
                         aggfunc="sum")
    share = (by["ess"] / (by["ess"] + by["hors"])).unstack("annee")
    growth = by["ess"].unstack("annee")[2025] / by["ess"].unstack("annee")[2012]
    others = [code for code in share.index if code != "38"]
    assert others
    for code in others:
        assert abs(share.at[code, 2025] - share.at["38", 2025]) > 0.005, code
        assert abs(growth[code] - growth["38"]) > 0.01, code

    ape = pd.read_csv(root / "urssaf" / "2025" /
                      "etablissements-et-effectifs-salaries-au-niveau-commune-x-ape-last.csv", sep=";", dtype=str)
    years = [c for c in ape.columns if c.startswith("effectifs_salaries_")]
    assert years[0] == "effectifs_salaries_2006" and years[-1] == "effectifs_salaries_2025"
    assert list(ape.columns[:19]) == ["region", "ancienne_region", "departement", "zone_d_emploi", "epci", "commune",
                                      "intitule_commune", "grand_secteur_d_activite", "secteur_na17", "secteur_na38",
                                      "secteur_na88", "ape", "code_region", "code_ancienne_region",
                                      "code_departement", "code_zone_d_emploi", "code_epci", "code_commune",
                                      "code_ape"]
    assert ape["code_ape"].str.fullmatch(r"\d{4}[A-Z]").all()
    assert ape["effectifs_salaries_2006"].isna().any()
    assert (ape["code_departement"] != "38").any()
    # the commune × APE table holds the headcounts ON 31 DECEMBER of the field's establishments open then — those
    # closed since included — except the few values the file leaves empty
    dep = ape[ape["code_departement"] == "38"]
    total = pd.to_numeric(dep["effectifs_salaries_2025"]).sum()
    open_end = d[d["actif_fin_annee_urssaf"]]
    true_total = open_end["effectif_vrai"].sum()
    assert 0.97 * true_total <= total <= true_total
    assert open_end.loc[~open_end["actif"], "effectif_vrai"].sum() > 0
    # the two files measure different things: the ESS file's total is not the commune × APE total
    annual = mine["effectifs_salaries_moyens"].sum()
    assert abs(annual - true_total) > 0.001 * true_total


def test_urssaf_masks_small_cells_more_than_the_estimator_assumes():
    """The estimator measures the chance that a value is masked on cells of 10 employees or more only and applies
    it to every size (METHOD § 3): the sample must disagree with that, or its accuracy tables could not show what
    the assumption costs."""
    headcount = np.repeat([1.0, 2.0, 5.0, 12.0, 300.0], 200_000)
    hidden = masked(headcount, np.random.default_rng(7))
    rate = {h: hidden[headcount == h].mean() for h in (1.0, 2.0, 5.0, 12.0, 300.0)}
    assert rate[1.0] == pytest.approx(rate[2.0], rel=0.1)
    assert rate[12.0] == pytest.approx(rate[300.0], rel=0.15)
    assert rate[1.0] > 3 * rate[12.0]
    assert rate[12.0] < rate[5.0] < rate[1.0]


def test_made_up_zones_d_emploi_have_codes_of_their_own():
    """A zone code names one zone in all of France, numbered within its region as INSEE's are: 101 zones (one EPCI
    per département, each its own zone) whose first and last fall in one region get 101 codes. Numbered across
    France modulo 100, those two shared a code, and a zone of one département took a town of another as name."""
    deps = [f"{i:02d}" for i in range(1, 102)]
    region = {d: ("84" if d in ("01", "101") else "93") for d in deps}
    communes = pd.DataFrame({
        "code_commune": [f"{d}001" for d in deps], "nom_commune": [f"Ville {d}" for d in deps],
        "code_departement": deps, "code_region": [region[d] for d in deps],
        "code_arrondissement": [f"{d}1" for d in deps], "siren_epci": [f"2{int(d):08d}" for d in deps],
        "population": [1000 + int(d) for d in deps], "code_zone_emploi": [""] * len(deps)})

    class Ref:  # employment_zones reads the communes only
        pass

    ref = Ref()
    ref.communes = communes
    zones = employment_zones(ref)
    assert zones["zone"].nunique() == 101
    assert set(zones.loc[zones["code_commune"].isin(["01001", "101001"]), "zone"]) == {"8401", "8402"}
    assert (zones.set_index("code_commune")["nom_zone"] == communes.set_index("code_commune")["nom_commune"]).all()


def test_ground_truth_totals_and_marker(sample, truth):
    root, summary = sample
    communes = pd.read_csv(root / "ground_truth" / "totaux_communes.csv", dtype={"code_commune": str})
    ref = pd.read_csv(REFERENCE_DIR / "communes_2026.csv", dtype=str)
    assert set(communes["code_commune"]) == set(ref.loc[(ref["code_departement"] == "38")
                                                        & (ref["type"] == "commune"), "code_commune"])
    d = truth[truth["localisation"] == "departement"]
    a = d[d["actif_fin_annee_urssaf"]]  # employment is that of 31/12 of URSSAF_YEAR
    assert communes["nb_etablissements_actifs"].sum() == d["actif"].sum()  # counts: at the millésime
    assert communes["effectif_vrai"].sum() == a["effectif_vrai"].sum()
    assert communes["effectif_vrai_ess"].sum() == a.loc[in_perimetre(a["perimetres"], "insee"),
                                                        "effectif_vrai"].sum()
    fam = pd.read_csv(root / "ground_truth" / "totaux_familles_departement.csv").set_index("famille")
    parts = ["associations", "cooperatives", "mutuelles", "fondations"]
    assert fam.loc["ess_insee", "effectif_vrai"] <= fam.loc[parts, "effectif_vrai"].sum()
    assert fam.loc["ensemble", "effectif_vrai"] == a["effectif_vrai"].sum()
    yearly = pd.read_parquet(root / "ground_truth" / "effectifs_annuels.parquet")
    assert set(yearly["annee"]) == set(range(2012, 2026))
    y25 = yearly[(yearly["annee"] == 2025) & (yearly["localisation"] == "departement")]
    assert y25["effectif_fin_annee"].sum() == a["effectif_vrai"].sum()
    assert fam.loc["associations", "effectif_vrai"] > 0.5 * fam.loc["ess_insee", "effectif_vrai"]
    text = (root / MARKER_FILE).read_text(encoding="utf-8")
    assert "SYNTHETIC" in text and "seed\n2012" in text.replace(" ", "\n")
    meta = json.loads((root / MARKER_JSON).read_text(encoding="utf-8"))
    assert meta["synthetic"] is True and meta["seed"] == 2012
    assert is_synthetic(root / "sirene" / "2026-10")
    assert pq.read_schema(root / "ground_truth" / "effectifs_etablissements.parquet").metadata[b"ess:synthetic"]
    assert summary["territoires"].startswith("written")


def _digests(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_files(tmp_path):
    a = _digests(_written(tmp_path / "a", seed=7))
    b = _digests(_written(tmp_path / "b", seed=7))
    assert a.keys() == b.keys() and len(a) > 10
    assert [k for k in a if a[k] != b[k]] == []
    c = _digests(_written(tmp_path / "c", seed=8))
    assert c["sirene/2026-10/StockEtablissement_utf8.zip"] != a["sirene/2026-10/StockEtablissement_utf8.zip"]


def _written(root: Path, seed: int) -> Path:
    write_sample(root, departement="73", seed=seed, scale=0.01)
    return root


def test_another_departement_works(tmp_path):
    summary = write_sample(tmp_path, departement="2A", seed=3, scale=0.05)
    etabs = _csv(tmp_path, "StockEtablissement")
    codes = etabs["codeCommuneEtablissement"]
    assert codes.str.startswith("2A").mean() > 0.9
    truth = pd.read_parquet(tmp_path / "ground_truth" / "effectifs_etablissements.parquet")
    assert truth.loc[truth["localisation"] == "departement", "code_commune"].str.startswith("2A").all()
    ess = pd.read_csv(tmp_path / "urssaf" / "2025" /
                      "nombre-etab-effectifs-salaries-et-masse-salariale-ess-departements.csv", sep=";", dtype=str)
    assert "2A" in set(ess["code_departement"])
    assert summary["departement"] == "2A"


def test_unknown_departement_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match=r"département '99' has no commune in .*communes_2026.csv"):
        write_sample(tmp_path, departement="99", scale=0.01)


def test_commercial_companies_became_ess_after_their_creation_but_before_sirene_recorded_it():
    """The truth of the flag's past years must not be the pipeline's rule (a past year takes the first flag SIRENE
    recorded after it): some commercial ESS companies created before the 2014 law became so between the law and
    the day SIRENE recorded their flag, so the pipeline counts them too early (METHOD.md § 2)."""
    from types import SimpleNamespace

    from sources.sample.truth import LOI_ESS, ess_since

    n = 4000
    day = np.timedelta64(1, "D")
    created = np.array(["2010-05-01"] * 1000 + ["2016-01-01"] * 1000 + ["2010-05-01"] * 2000, dtype="datetime64[D]")
    closure = np.array(["NaT"] * 3000 + ["2017-06-30"] * 1000, dtype="datetime64[D]")
    company = np.r_[np.ones(2000, bool), np.zeros(1000, bool), np.ones(1000, bool)]
    recorded = np.array(["2020-01-01"] * n, dtype="datetime64[D]")
    recorded[3000:] = np.datetime64("NaT")  # closed before SIRENE recorded their flag
    world = SimpleNamespace(units=pd.DataFrame({"created": created, "closure": closure, "ess_company": company}))
    since = ess_since(world, SimpleNamespace(date_ess_flag_unite=recorded), np.random.default_rng(5))

    later = ~np.isnat(since)
    assert 0.4 < later[:1000].mean() < 0.6  # about half of the companies created before the law
    assert (since[:1000][later[:1000]] >= LOI_ESS).all() and (since[:1000][later[:1000]] <= recorded[0]).all()
    assert not later[1000:3000].any()  # created after the law, or not a company: of the ESS since their creation
    assert (since[3000:][later[3000:]] <= np.datetime64("2017-06-30")).all()  # before their closure
    assert (since[3000:][later[3000:]] - LOI_ESS).max() > 365 * day


def test_field_exceptions_known_answers():
    """The URSSAF field of the truth is the rule minus the units under the MSA the rule does not see: an association
    teaching (85) whose draw falls under its share (a maison familiale rurale) is out, the same association with a
    higher draw is in, and an association of another activity is in whatever its draw."""
    from sources.sample import model as m
    from sources.sample.generator_reference import load_rules
    from sources.sample.truth import membership

    rules = load_rules()
    share = dict(((c, n), s) for c, n, s in m.URSSAF_FIELD_EXCEPTIONS)[(("92",), ("85.",))]
    cj = np.array(["9220", "9220", "9220", "5710", "6317"])
    naf = np.array(["85.31Z", "85.31Z", "88.10A", "62.01Z", "85.31Z"], dtype=object)
    flag = np.array(["O", "O", "O", None, None], dtype=object)
    draw = np.array([share / 2, share * 2, 0.0, 0.0, 0.0])
    got = membership(cj, naf, flag, rules, draw)
    assert got["champ_urssaf"].tolist() == [False, True, True, True, False]
    # the agricultural cooperative is out by the rule, not an exception
    assert got["exception_champ_urssaf"].tolist() == [True, False, False, False, False]
    assert got["famille_ess"][0] == "associations"  # still of the ESS: its jobs count in the ESS's employment
    without = membership(cj, naf, flag, rules)  # no draw: the field is the rule (generator 2.3.0)
    assert without["champ_urssaf"].tolist() == [True, True, True, True, False]


def test_msa_exceptions_are_in_sirene_and_the_truth_but_not_in_the_urssaf_files(tmp_path):
    """Planted from a stream of their own: SIRENE's files are byte-identical with and without them (and to generator
    2.3.0's), and URSSAF's two files leave out exactly their jobs."""
    on, off = tmp_path / "avec", tmp_path / "sans"
    summary = write_sample(on, departement="38", seed=2012, scale=0.05)
    write_sample(off, departement="38", seed=2012, scale=0.05, exceptions_champ_urssaf=False)
    for stem in ("StockEtablissement", "StockUniteLegale", "StockEtablissementHistorique",
                 "StockUniteLegaleHistorique"):
        path = Path("sirene") / "2026-10" / f"{stem}_utf8.zip"
        assert (on / path).read_bytes() == (off / path).read_bytes(), stem
    # generator 2.3.0's StockEtablissement for this seed and scale (sha256 of the zip)
    import hashlib
    assert hashlib.sha256((on / "sirene" / "2026-10" / "StockEtablissement_utf8.zip").read_bytes()).hexdigest() \
        == SIRENE_2_3_0_SHA256
    yearly = pd.read_parquet(on / "ground_truth" / "effectifs_annuels.parquet")
    x = yearly[yearly["exception_champ_urssaf"] & (yearly["localisation"] == "departement")]
    assert (x["champ_urssaf"] == False).all()  # noqa: E712
    x25 = x[(x["annee"] == 2025) & (x["effectif_fin_annee"] > 0)]
    ess_x = x25[in_perimetre(x25["perimetres"], "insee") & (x25["famille_ess"] == "associations")]
    assert len(ess_x) >= 1 and ess_x["activite"].str[:2].isin(["85", "94"]).all()
    assert summary["truth"]["effectif_ess_insee_exception_champ_urssaf"] == int(
        x25.loc[in_perimetre(x25["perimetres"], "insee"), "effectif_fin_annee"].sum()) > 0
    etabs = _csv(on, "StockEtablissement")
    assert set(ess_x["siret"]) <= set(etabs["siret"])  # in SIRENE…
    # … but not in URSSAF's commune × APE file: each year's total is the rule's field minus their jobs
    ape_file = "urssaf/2025/etablissements-et-effectifs-salaries-au-niveau-commune-x-ape-last.csv"
    ape_on, ape_off = (pd.read_csv(r / ape_file, sep=";", dtype=str) for r in (on, off))
    for y in (2012, 2025):
        col = f"effectifs_salaries_{y}"
        own = [a[a["code_departement"] == "38"] for a in (ape_on, ape_off)]
        cells = pd.concat([o.set_index(["code_commune", "code_ape"])[col] for o in own], axis=1,
                          keys=["on", "off"]).apply(pd.to_numeric)
        # a cell that held only exceptions is not in the file (0); else values published in both files (the
        # masking may differ in the exceptions' cells)
        absent = ~cells.index.isin(own[0].set_index(["code_commune", "code_ape"]).index)
        cells.loc[absent, "on"] = 0.0
        both = cells.dropna()
        xy = x[(x["annee"] == y) & (x["effectif_fin_annee"] > 0)]
        assert (both["off"] - both["on"]).sum() == pytest.approx(xy["effectif_fin_annee"].sum(), abs=2 + len(xy))
        assert (both["off"] >= both["on"]).all()
    # … nor in the ESS file: its associations' annual average is the rule's minus theirs
    ess_file = "urssaf/2025/nombre-etab-effectifs-salaries-et-masse-salariale-ess-departements.csv"
    e_on, e_off = (pd.read_csv(r / ess_file, sep=";", dtype={"code_departement": str}) for r in (on, off))

    def assoc(e):
        return e.loc[(e["code_departement"] == "38") & (e["annee"] == 2025) & (e["famille_ess"] == "Associations"),
                     "effectifs_salaries_moyens"].iloc[0]

    assert assoc(e_off) - assoc(e_on) == pytest.approx(ess_x["effectif_moyen"].sum(), abs=0.1)
    assert assoc(e_off) > assoc(e_on)


def test_the_seasonal_profile_moves_annual_averages_off_the_linear_path_not_the_year_end_headcounts():
    """The truth's annual averages are not what a growth-based conversion assumes (the headcount moving linearly
    between two 31 December): each quarter is multiplied by its activity's profile (truth.SEASONS), so a family of
    seasonal activities has another 31/12 ÷ average ratio than the field at the same growth. Known answers on four
    establishments open all year, 100 on 31/12/2024 and 120 on 31/12/2025 (linear mid-quarter path 102.5, 107.5,
    112.5, 117.5: mean 110); the 31/12 headcounts (the commune × APE file's) are the world's, untouched."""
    from types import SimpleNamespace

    from sources.sample.employment import YEARS
    from sources.sample.truth import DEFAULT_SEASON, SEASONS, _annual_averages

    naf = ["55.10Z", "85.20Z", "62.01Z", "01.11Z"]  # hotels (summer peak), schools (summer trough), default, farming
    k = int(np.flatnonzero(YEARS == 2025)[0])
    h = np.zeros((len(naf), YEARS.size), np.int64)
    h[:, k - 1], h[:, k] = 100, 120
    world = SimpleNamespace(
        etabs=pd.DataFrame({"created": pd.to_datetime(["2000-01-01"] * 4), "closure": pd.to_datetime([None] * 4),
                            "naf": naf}),
        headcounts=h.copy())
    average, quarters = _annual_averages(world, np.array([2025]))
    linear = np.array([102.5, 107.5, 112.5, 117.5])
    assert average[:, 0] == pytest.approx([linear @ np.array(SEASONS["55"]) / 4, linear @ np.array(SEASONS["85"]) / 4,
                                           linear @ np.array(DEFAULT_SEASON) / 4, linear @ np.array(SEASONS["01"]) / 4])
    # hotels +4.1 % above the linear path (114.54), schools −2.05 % (107.74), the default −0.23 % (109.74)
    assert average[0, 0] == pytest.approx(114.5375)
    assert average[1, 0] == pytest.approx(107.75)
    assert average[2, 0] == pytest.approx(109.74375)
    # the stated amplitudes: a summer peak of 13 % in hotels, a summer trough of 8 % in schools
    assert max(SEASONS["55"]) == 1.13 and min(SEASONS["85"]) == 0.92
    # 31/12 ÷ average: 1.048 for hotels, 1.114 for schools, at the same growth (a linear path: 120 / 110 = 1.091)
    assert 120 / average[0, 0] < 120 / 110 < 120 / average[1, 0]
    assert (world.headcounts == h).all() and (quarters[:, 0] == 1).all()


def test_a_zip_that_fails_in_the_background_fails_the_sample(tmp_path, monkeypatch):
    """The SIRENE zips are compressed beside the next writers: a failure there (a full disk) is the sample's
    error, raised before the markers say the sample is complete."""
    import sources.sample as sample_module

    def full_disk(member, zip_path, *, arcname):
        raise OSError(28, "No space left on device", str(zip_path))

    monkeypatch.setattr(sample_module, "zip_single", full_disk)
    with pytest.raises(OSError, match="No space left on device"):
        write_sample(tmp_path / "echantillon", scale=0.01)
    assert not (tmp_path / "echantillon" / MARKER_JSON).exists()
