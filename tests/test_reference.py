"""The committed reference tables (known counts of the COG 2026, NAF rév. 2, legal forms, Isère's territoires) and
the builder that makes them, run on a tiny hand-made package folder (no network)."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from ess.errors import InputFileError
from ess.paths import REFERENCE_DIR
from sources.reference_build import build_reference, build_territoires


def rows(name: str, folder: Path = REFERENCE_DIR) -> list[dict]:
    with (folder / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def communes():
    return rows("communes_2026.csv")


def test_communes_of_france(communes):
    current = [c for c in communes if c["type"] == "commune"]
    assert 34_800 < len(current) < 35_000  # 34 875 communes, metropolitan France and DROM
    assert len({c["code_commune"] for c in communes}) == len(communes)
    assert all(re.fullmatch(r"\d{5}|2[AB]\d{3}", c["code_commune"]) for c in communes)
    assert all(c["population"].isdigit() for c in current)
    by_dep = Counter(c["code_departement"] for c in current)
    assert (by_dep["38"], by_dep["2A"], by_dep["2B"]) == (512, 124, 236)
    assert {d: by_dep[d] for d in ("971", "972", "973", "974", "976")} == {
        "971": 32, "972": 34, "973": 22, "974": 24, "976": 17}
    assert all(c["code_commune"].startswith(c["code_departement"]) for c in current)
    assert not any(c["code_departement"] in ("975", "977", "978") for c in communes)  # COM are not in the COG


def test_isere(communes):
    isere = [c for c in communes if c["code_departement"] == "38"]
    assert len(isere) == 512
    assert len({c["siren_epci"] for c in isere}) == 18
    assert Counter(c["code_arrondissement"] for c in isere) == {"381": 263, "382": 136, "383": 113}
    assert sum(c["siren_epci"] == "200040715" for c in isere) == 49  # Grenoble-Alpes-Métropole
    assert next(c for c in isere if c["code_commune"] == "38185")["nom_commune"] == "Grenoble"


def test_arrondissements_municipaux_belong_to_their_commune(communes):
    arm = [c for c in communes if c["type"] == "arrondissement_municipal"]
    assert Counter(c["code_commune_parent"] for c in arm) == {"75056": 20, "13055": 16, "69123": 9}
    paris = next(c for c in communes if c["code_commune"] == "75056")
    assert sum(int(c["population"]) for c in arm if c["code_commune_parent"] == "75056") == int(paris["population"])
    passage = {p["ancien_code"]: p for p in rows("communes_passage_2026.csv")}
    assert passage["75101"]["code_commune"] == "75056"
    assert passage["75101"]["type_passage"] == "arrondissement_municipal"


def test_passage_maps_old_codes_to_current_communes(communes):
    current = {c["code_commune"] for c in communes if c["type"] == "commune"}
    passage = rows("communes_passage_2026.csv")
    assert len({p["ancien_code"] for p in passage}) == len(passage)
    assert not {p["ancien_code"] for p in passage} & current
    assert {p["code_commune"] for p in passage} <= current
    mapping = {p["ancien_code"]: p["code_commune"] for p in passage}
    assert mapping["38028"] == "38001"  # Les Abrets -> Les Abrets en Dauphiné
    assert mapping["20004"] == "2A004"  # Ajaccio before the 1976 split of Corsica


def test_epci(communes):
    epci = {e["siren_epci"]: e for e in rows("epci_2026.csv")}
    assert 1_200 < len(epci) < 1_300
    assert {c["siren_epci"] for c in communes if c["siren_epci"]} <= set(epci)
    assert epci["200077014"]["departements"] == "38 69"  # Vienne Condrieu crosses into Rhône
    assert epci["200040111"]["departements"] == "38 73"  # Cœur de Chartreuse into Savoie
    assert epci["200040715"]["nb_communes"] == "49"


def test_naf():
    naf = rows("naf_rev2.csv")
    assert len(naf) == 732
    assert len({r["section"] for r in naf}) == 21
    assert {r["section"] for r in naf} == set("ABCDEFGHIJKLMNOPQRSTU")
    r = next(r for r in naf if r["code"] == "94.99Z")
    assert (r["code_classe"], r["code_groupe"], r["code_division"], r["section"]) == ("94.99", "94.9", "94", "S")
    assert all("\n" not in r["libelle"] and r["libelle"] == r["libelle"].strip() for r in naf)


def test_categories_juridiques():
    cj = rows("categories_juridiques.csv")
    assert len(cj) == 260
    assert all(re.fullmatch(r"\d{4}", r["code"]) for r in cj)
    assert {"0000", "1000", "9220", "5710"} <= {r["code"] for r in cj}
    niveaux = rows("categories_juridiques_niveaux.csv")
    level2 = {r["code"] for r in niveaux if r["niveau"] == "2"}
    assert {r["code_niveau2"] for r in cj} <= level2
    assert "00" in level2 and len([r for r in niveaux if r["niveau"] == "1"]) == 9


def test_territoires_38(communes):
    # Isère's 13 territoires: the committed zoning `territoire` (transforms/zonages.py), an EPCI approximation
    t = rows("zonages/territoire.csv")
    assert len(t) == 512 and len({r["code_commune"] for r in t}) == 512
    assert {r["code_commune"] for r in t} == {c["code_commune"] for c in communes if c["code_departement"] == "38"}
    assert len({r["code_zone"] for r in t}) == 13
    assert {r["source"] for r in t} == {"approximation_epci"}
    assert {r["libelle_niveau"] for r in t} == {"territoire du Département"}
    gam = {r["code_zone"] for r in t if r["siren_epci"] == "200040715"}
    assert gam == {"agglomeration_grenobloise"}


# --- the builder on a tiny package --------------------------------------------------------------------------


def _fake_package(root: Path, version: str = "6.0.0") -> Path:
    pkg = root / "package"
    (pkg / "data").mkdir(parents=True)
    (pkg / "package.json").write_text(json.dumps({"name": "@etalab/decoupage-administratif", "version": version}))
    communes = [
        {"code": "38185", "nom": "Grenoble", "type": "commune-actuelle", "zone": "metro", "departement": "38",
         "region": "84", "arrondissement": "381", "siren": "213801855", "population": 1000, "typeLiaison": 0,
         "codesPostaux": ["38000", "38100"], "anciensCodes": ["38999"]},
        {"code": "38500", "nom": "Ancienne", "type": "commune-deleguee", "zone": "metro", "departement": "38",
         "region": "84", "chefLieu": "38185"},
        {"code": "38185", "nom": "Grenoble", "type": "commune-deleguee", "zone": "metro", "departement": "38",
         "region": "84", "chefLieu": "38185"},
        {"code": "73001", "nom": "Savoyarde", "type": "commune-actuelle", "zone": "metro", "departement": "73",
         "region": "84", "arrondissement": "731", "population": 200},
        {"code": "75056", "nom": "Paris", "type": "commune-actuelle", "zone": "metro", "departement": "75",
         "region": "11", "arrondissement": "751", "population": 30},
        {"code": "75101", "nom": "Paris 1er", "type": "arrondissement-municipal", "commune": "75056",
         "zone": "metro", "departement": "75", "region": "11", "arrondissement": "751", "population": 30},
        {"code": "2A004", "nom": "Ajaccio", "type": "commune-actuelle", "zone": "metro", "departement": "2A",
         "region": "94", "arrondissement": "2A1", "population": 70, "anciensCodes": ["20004"]},
        {"code": "97501", "nom": "Miquelon", "type": "commune-actuelle", "zone": "com", "departement": "975",
         "region": "975", "population": 5},
    ]
    epci = [{"code": "200040715", "nom": "GAM", "type": "METRO", "modeFinancement": "FPU",
             "populationTotale": 9, "populationMunicipale": 8,
             "membres": [{"code": "38185"}, {"code": "73001"}]}]
    (pkg / "data" / "communes.json").write_text(json.dumps(communes))
    (pkg / "data" / "epci.json").write_text(json.dumps(epci))
    (pkg / "data" / "departements.json").write_text(json.dumps([
        {"code": "38", "nom": "Isère", "region": "84", "zone": "metro"},
        {"code": "975", "nom": "SPM", "region": "975", "zone": "com"}]))
    (pkg / "data" / "regions.json").write_text(json.dumps([{"code": "84", "nom": "Auvergne-Rhône-Alpes"}]))
    naf = root / "naf"
    naf.mkdir()
    entry = {"code": "94.99Z", "description": "Autres organisations \n fonctionnant par adhésion volontaire",
             "classe": {"code": "94.99", "description": "x"}, "groupe": {"code": "94.9", "description": "g"},
             "division": {"code": "94", "description": "d"}, "section": {"code": "S", "description": "s"}}
    (naf / "db").write_text(json.dumps({"94.99Z": entry}))
    return root


def test_builder_on_a_tiny_package(tmp_path):
    src = _fake_package(tmp_path / "src")
    out = tmp_path / "out"
    written = {p.name for p in build_reference(src, out_dir=out)}
    assert {"communes_2026.csv", "communes_passage_2026.csv", "epci_2026.csv", "departements_2026.csv",
            "naf_rev2.csv", "territoire.csv"} <= written

    communes = {c["code_commune"]: c for c in rows("communes_2026.csv", out)}
    assert set(communes) == {"2A004", "38185", "73001", "75056", "75101"}  # no collectivité d'outre-mer
    assert communes["38185"]["siren_epci"] == "200040715"
    assert communes["38185"]["codes_postaux"] == "38000 38100"
    assert communes["75101"]["type"] == "arrondissement_municipal"
    assert communes["75101"]["code_commune_parent"] == "75056"
    assert communes["2A004"]["code_departement"] == "2A"

    passage = {p["ancien_code"]: (p["code_commune"], p["type_passage"]) for p in rows("communes_passage_2026.csv", out)}
    assert passage == {
        "38999": ("38185", "ancien_code"),
        "38500": ("38185", "commune_deleguee"),  # the same-code délégué 38185 is no passage
        "75101": ("75056", "arrondissement_municipal"),
        "20004": ("2A004", "ancien_code"),
    }
    (epci,) = rows("epci_2026.csv", out)
    assert (epci["nb_communes"], epci["population"], epci["departements"]) == ("2", "1200", "38 73")
    assert epci["population_municipale_dgcl"] == "8"
    assert [d["code_departement"] for d in rows("departements_2026.csv", out)] == ["38"]
    (naf,) = rows("naf_rev2.csv", out)
    assert naf["libelle"] == "Autres organisations fonctionnant par adhésion volontaire"
    (terr,) = rows("zonages/territoire.csv", out)
    assert (terr["code_commune"], terr["code_zone"], terr["source"]) == (
        "38185", "agglomeration_grenobloise", "approximation_epci")


def test_builder_refuses_an_unknown_package_version(tmp_path):
    src = _fake_package(tmp_path / "src", version="9.9.9")
    with pytest.raises(InputFileError, match="9.9.9"):
        build_reference(src, out_dir=tmp_path / "out")


def test_unmapped_epci_is_an_error(tmp_path):
    mapping = tmp_path / "territoires_38_epci.csv"
    mapping.write_text("siren_epci,nom_epci,code_territoire,nom_territoire,source_territoire,note\n")
    communes = [{"code_commune": "38185", "nom_commune": "Grenoble", "code_departement": "38", "type": "commune",
                 "siren_epci": "200040715"}]
    with pytest.raises(InputFileError, match="200040715"):
        build_territoires(communes, mapping, "38")


def test_reference_folder_is_layered_over_the_committed_one(tmp_path):
    from ess import paths

    (tmp_path / "perimetres.csv").write_text("perimetre\n", encoding="utf-8")
    (tmp_path / "zonages").mkdir()
    (tmp_path / "zonages" / "bassins.csv").write_text("code_commune\n", encoding="utf-8")
    assert paths.reference_file("perimetres.csv", tmp_path) == tmp_path / "perimetres.csv"
    assert paths.reference_file("naf_rev2.csv", tmp_path) == paths.REFERENCE_DIR / "naf_rev2.csv"
    assert paths.reference_file("perimetres.csv") == paths.REFERENCE_DIR / "perimetres.csv"
    layered = paths.reference_files("perimetre*.csv", tmp_path)
    assert tmp_path / "perimetres.csv" in layered
    assert paths.REFERENCE_DIR / "perimetres.csv" not in layered
    assert paths.REFERENCE_DIR / "perimetre_familles.csv" in layered
    assert paths.reference_files("zonages/*.csv", tmp_path) == [tmp_path / "zonages" / "bassins.csv",
                                                                paths.REFERENCE_DIR / "zonages" / "territoire.csv"]
