"""The field dictionary (sql/dictionnaire/, ess/dictionary.py): one entry per column name, its table-scoped facts,
and a clear refusal of a bad file (file, line, value)."""

from __future__ import annotations

import csv
import shutil

import pytest

from ess import db, dictionary, paths
from ess.errors import UserError
from transforms import columns as cols

HEADER = ("colonne,type,unite,tables,cle,non_nul,valeurs,minimum,maximum,motif,sauf,interne,description\n")
TABLES = ("table,acces,description,guide\n"
          "core_a,interne,Table A,\n"
          "out_b,public,Table B,Filtrer sur niveau\n"
          "staging_rejets*,,Rejets,\n")


def _folder(tmp_path, columns: str, tables: str = TABLES):
    folder = tmp_path / "dictionnaire"
    folder.mkdir(exist_ok=True)
    (folder / "colonnes.csv").write_text(HEADER + columns, encoding="utf-8")
    (folder / "tables.csv").write_text(tables, encoding="utf-8")
    return folder


def test_one_entry_resolves_per_table_type_key_nullability_and_unchecked_constraints(tmp_path):
    d = dictionary.load(_folder(tmp_path, (
        "annee,INTEGER,année,core_a:BIGINT out_b,out_b,out_b,,2012,,,core_a,,Année de la ligne\n"
        "famille,VARCHAR,,out_b,oui,oui,@familles_cube|autre,,,,,,Famille\n"
        "motif_rejet,VARCHAR,,staging_rejets*,,,,,,,,,Pourquoi\n"
        "departement,VARCHAR,,@publiees,oui,oui,,,,^[0-9]{2}$,,,Département\n")))
    a, = d.columns("core_a")
    assert (a.name, a.type, a.key, a.nullable, a.minimum) == ("annee", "BIGINT", False, True, None)
    b = {c.name: c for c in d.columns("out_b")}
    assert (b["annee"].type, b["annee"].key, b["annee"].nullable, b["annee"].minimum) == ("INTEGER", True, False, 2012)
    assert b["annee"].constraint == "non nul; clé; >= 2012"
    assert b["famille"].values == cols.familles() + ("ess", "hors_ess", "ensemble", "non_renseigne", "autre")
    assert [c.name for c in d.columns("staging_rejets_urssaf")] == ["motif_rejet"]  # a family of tables
    assert [c.name for c in d.publication_columns()] == ["departement"]
    assert d.published == ("core_a", "out_b")
    assert d.undescribed("out_b", ["annee", "_ligne", "autre"]) == [
        ("autre", f"column autre of table out_b has no entry in {d.folder / 'colonnes.csv'}: add one line (type, "
                  "unit, French description, constraints, tables)")]
    with pytest.raises(KeyError, match="table 'core_z' is not in"):
        d.columns("core_z")


@pytest.mark.parametrize("line, message", [
    ("annee,INTEGER,,core_a,,,,,,,,,A\nannee,INTEGER,,out_b,,,,,,,,,B\n",
     r"colonnes.csv, line 3: column annee is already described line 2: a name has one entry"),
    ("annee,ENTIER,,core_a,,,,,,,,,A\n", r"line 2 \(annee\): type 'ENTIER' is not one of VARCHAR"),
    ("annee,INTEGER,,core_x,,,,,,,,,A\n", r"line 2 \(annee\): table 'core_x' is not in .*tables.csv"),
    ("annee,INTEGER,,core_a,out_b,,,,,,,,A\n", r"line 2 \(annee\): cle names \['out_b'\], which are not in its"),
    ("annee,INTEGER,,core_a,,,,zéro,,,,,A\n", r"line 2 \(annee\): minimum 'zéro' is not a number"),
    ("annee,INTEGER,,core_a,,,,,,[0-9,,,A\n", r"line 2 \(annee\): motif '\[0-9' is not a regular expression"),
    ("annee,INTEGER,,core_a,,,,,,,,,\n", r"line 2 \(annee\): the description is empty"),
    ("annee,INTEGER,,core_a,,,@inconnue,,,,,,A\n", r"line 2 \(annee\): valeurs '@inconnue': the lists known are"),
    ("secret,DOUBLE,,out_b,,,,,,,,oui,S\n", r"line 2 \(secret\): an interne column cannot be in the public table"),
    ("Annee,INTEGER,,core_a,,,,,,,,,A\n", r"line 2 \(Annee\): the column name must be lower case"),
    ("annee,INTEGER,,core_a,,,,,,,,,Année, civile\n",
     r"colonnes.csv, line 2: more fields than the header's 13 \(extra: \[' civile'\]\): put a value holding a comma"),
])
def test_a_bad_line_is_refused_with_file_line_and_value(tmp_path, line, message):
    with pytest.raises(UserError, match=message):
        dictionary.load(_folder(tmp_path, line))


def test_a_bad_header_or_table_line_is_refused(tmp_path):
    folder = _folder(tmp_path, "")
    (folder / "colonnes.csv").write_text("colonne,type\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"colonnes.csv: columns \['unite', 'tables', .*\] are missing from its "
                                        r"header \['colonne', 'type'\]"):
        dictionary.load(folder)
    folder = _folder(tmp_path, "", TABLES + "core_a,,Encore,\n")
    with pytest.raises(UserError, match=r"tables.csv, line 5: table core_a is already described"):
        dictionary.load(folder)
    folder = _folder(tmp_path, "", TABLES + "core_c,secret,C,\n")
    with pytest.raises(UserError, match=r"tables.csv, line 5: acces 'secret' must be public, interne or empty"):
        dictionary.load(folder)


def test_the_repository_dictionary_reads_and_keeps_one_entry_per_name():
    d = dictionary.load()
    with open(paths.SQL_DIR / "dictionnaire" / "colonnes.csv", encoding="utf-8", newline="") as f:
        names = [r["colonne"] for r in csv.DictReader(f)]
    assert len(names) == len(set(names)) == len(d.entries)
    assert all(e.description for e in d.entries.values())
    # what publish, checks and the report used to list by hand
    assert set(cols.published_tables()) == {"out_indicateurs_public", "out_indicateurs", "out_audit_perimetre",
                                            "core_etablissements", "core_calibration", "core_ecart_urssaf",
                                            "referentiel_perimetres", "referentiel_territoires",
                                            "referentiel_secteurs", "referentiel_classes_taille",
                                            "referentiel_couverture_intervalles", "referentiel_formes_juridiques",
                                            "referentiel_exclusions_activite", "referentiel_champ_urssaf",
                                            "referentiel_emploi_hors_urssaf", "urssaf_ess_departement"}
    assert {t for t in cols.published_tables() if cols.published_tables()[t] == "public"} == {
        "out_indicateurs_public", "referentiel_perimetres", "referentiel_territoires", "referentiel_secteurs",
        "referentiel_classes_taille", "referentiel_couverture_intervalles", "referentiel_formes_juridiques",
        "referentiel_exclusions_activite", "referentiel_champ_urssaf", "referentiel_emploi_hors_urssaf",
        "urssaf_ess_departement"}
    public = cols.columns("out_indicateurs_public")
    assert not any(c.internal for c in public)
    internal = {c.name for c in cols.columns("out_indicateurs") if c.internal}
    assert {"variance_effectif", "nb_unites_legales", "effectif_max_unite_legale"} <= internal
    niveau = next(c for c in public if c.name == "niveau")
    assert niveau.values is None and niveau.pattern == "^[a-z][a-z0-9_]*$"  # a zoning adds levels without code
    assert cols.FAMILLES[-1] == "societes_commerciales_ess" and "associations" in cols.FAMILLES


def test_the_rejects_table_takes_its_columns_from_the_dictionary(tmp_path, monkeypatch):
    con = db.connect()
    db.ensure_rejects_table(con)
    got = [(r[0], r[1]) for r in con.execute(f"DESCRIBE {db.REJECTS_TABLE}").fetchall()]
    assert got == [(c.name, c.type) for c in cols.columns("staging_rejets")]
    assert ("departements", "VARCHAR[]") in got and ("ligne", "JSON") in got
    # one more column in the dictionary is one more column of every rejects table
    sql = tmp_path / "sql"
    shutil.copytree(paths.SQL_DIR / "dictionnaire", sql / "dictionnaire")
    with open(sql / "dictionnaire" / "colonnes.csv", "a", encoding="utf-8") as f:
        f.write("source_rejet,VARCHAR,,staging_rejets*,,,,,,,,,Source du fichier rejeté\n")
    monkeypatch.setattr(paths, "SQL_DIR", sql)
    con = db.connect()
    db.ensure_rejects_table(con)
    assert con.execute(f"DESCRIBE {db.REJECTS_TABLE}").fetchall()[-1][:2] == ("source_rejet", "VARCHAR")
