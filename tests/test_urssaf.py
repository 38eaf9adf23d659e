"""URSSAF loader: tiny hand-made files in the portal's export format, answers computed by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from ess import db
from ess.errors import InputFileError, UserError
from sources import urssaf

ESS_FILE = urssaf.SOURCE.file("ess_departement").filename
APE_FILE = urssaf.SOURCE.file("commune_ape").filename


def _write(path: Path, header, rows, *, bom: bool = False) -> Path:
    lines = [";".join(header)] + [";".join("" if v is None else str(v) for v in row) for row in rows]
    path.write_text(("\ufeff" if bom else "") + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def _ess_row(code_departement="38", champ="Oui", famille="Associations", annee=2023, nb="10", eff="100",
             masse="1000"):
    """A row of the ESS département table in ESS_DEPARTEMENT_COLUMNS order."""
    return ["Région", "Ancienne région", "Département", champ, famille, annee, "84", "82", code_departement, nb, eff,
            masse]


def _ape_row(years, code_commune="38185", code_ape="8899B", values=None, code_departement=None):
    """A row of the commune × APE table; values: {year: (nb, eff)}, missing years empty."""
    values = values or {}
    dep = code_departement if code_departement is not None else code_commune[:3 if code_commune[:2] == "97" else 2]
    ids = {name: "" for name in urssaf.COMMUNE_APE_ID_COLUMNS}
    ids.update(code_departement=dep, code_commune=code_commune, code_ape=code_ape, code_epci="200040715",
               code_zone_d_emploi="8416", zone_d_emploi="Grenoble", commune="Commune", ape="Libellé APE")
    row = [ids[name] for name in urssaf.COMMUNE_APE_ID_COLUMNS]
    for year in years:
        row += list(values.get(year, (None, None)))
    return row


def _snapshot(tmp_path: Path, *, ess_rows=None, ape_rows=None, years=(2022, 2023, 2024), bom=False) -> Path:
    snap = tmp_path / "urssaf" / "2025"
    snap.mkdir(parents=True, exist_ok=True)
    _write(snap / ESS_FILE, urssaf.ESS_DEPARTEMENT_COLUMNS, ess_rows if ess_rows is not None else [_ess_row()],
           bom=bom)
    header = urssaf.COMMUNE_APE_ID_COLUMNS + urssaf.commune_ape_year_columns(years)
    _write(snap / APE_FILE, header, ape_rows if ape_rows is not None else [_ape_row(years)], bom=bom)
    return snap


def _load(snap: Path, departement="38", annee=None):
    con = db.connect()
    stats = urssaf.load(con, snap, departement=departement, annee=annee)
    return con, {s.table: s for s in stats}


def _long(con):
    return con.execute(
        "SELECT code_commune, code_ape, annee, nb_etablissements, effectifs_salaries "
        "FROM staging_urssaf_commune_ape ORDER BY ALL"
    ).fetchall()


def _rejects(con, table):
    return con.execute(
        "SELECT cle, motif_rejet FROM staging_rejets WHERE table_staging = ? ORDER BY ALL", [table]
    ).fetchall()


# --- commune × APE: the long unpivot -------------------------------------------------------------------------

def test_unpivot_two_ape_three_years_gives_six_rows_with_their_values(tmp_path):
    years = (2022, 2023, 2024)
    snap = _snapshot(tmp_path, ape_rows=[
        _ape_row(years, "38185", "8899B", {2022: (3, 12), 2023: (4, 15), 2024: (4, 17)}),
        _ape_row(years, "38185", "6201Z", {2022: (1, 2), 2023: (2, 30), 2024: (2, 31.5)}),
    ])
    con, stats = _load(snap)
    assert _long(con) == [
        ("38185", "6201Z", 2022, 1.0, 2.0),
        ("38185", "6201Z", 2023, 2.0, 30.0),
        ("38185", "6201Z", 2024, 2.0, 31.5),
        ("38185", "8899B", 2022, 3.0, 12.0),
        ("38185", "8899B", 2023, 4.0, 15.0),
        ("38185", "8899B", 2024, 4.0, 17.0),
    ]
    row = con.execute("SELECT code_epci, code_zone_emploi, libelle_zone_emploi FROM staging_urssaf_commune_ape "
                      "LIMIT 1").fetchone()
    assert row == ("200040715", "8416", "Grenoble")
    s = stats["staging_urssaf_commune_ape"]
    assert (s.rows_read, s.rows_staged, s.rejected_total, s.rows_out_of_scope) == (2, 2, 0, 0)


def test_staging_columns_and_types_follow_the_contract(tmp_path):
    con, _ = _load(_snapshot(tmp_path))
    assert con.execute("DESCRIBE staging_urssaf_commune_ape").fetchall() == [
        (c, t, "YES", None, None, None) for c, t in [
            ("code_commune", "VARCHAR"), ("code_epci", "VARCHAR"), ("code_zone_emploi", "VARCHAR"),
            ("libelle_zone_emploi", "VARCHAR"), ("code_ape", "VARCHAR"), ("annee", "INTEGER"), ("nb_etablissements", "DOUBLE"),
            ("effectifs_salaries", "DOUBLE")]
    ]
    assert [r[:2] for r in con.execute("DESCRIBE staging_urssaf_ess_departement").fetchall()] == [
        ("annee", "INTEGER"), ("code_departement", "VARCHAR"), ("champ_ess", "VARCHAR"), ("famille_ess", "VARCHAR"),
        ("nb_etablissements", "DOUBLE"), ("effectifs_salaries", "DOUBLE"), ("masse_salariale", "DOUBLE"),
    ]


def test_a_file_without_the_zone_names_stages_them_as_null(tmp_path):
    """zone_d_emploi only names the zones: a file without that column stages as before, the name NULL."""
    years = (2022, 2023, 2024)
    snap = _snapshot(tmp_path)
    header = [c for c in urssaf.COMMUNE_APE_ID_COLUMNS if c != "zone_d_emploi"] + list(
        urssaf.commune_ape_year_columns(years))
    drop = urssaf.COMMUNE_APE_ID_COLUMNS.index("zone_d_emploi")
    row = _ape_row(years, values={2024: (2, 9)})
    _write(snap / APE_FILE, header, [row[:drop] + row[drop + 1:]])
    con, stats = _load(snap)
    assert con.execute("SELECT DISTINCT code_zone_emploi, libelle_zone_emploi FROM staging_urssaf_commune_ape"
                       ).fetchall() == [("8416", None)]
    assert stats["staging_urssaf_commune_ape"].rows_staged == 1


def test_empty_values_are_null_not_zero(tmp_path):
    years = (2022, 2023, 2024)
    snap = _snapshot(tmp_path, ape_rows=[
        _ape_row(years, "38185", "8899B", {2022: (None, None), 2023: (2, None), 2024: (0, 0)}),
    ])
    con, _ = _load(snap)
    assert _long(con) == [
        ("38185", "8899B", 2022, None, None),
        ("38185", "8899B", 2023, 2.0, None),
        ("38185", "8899B", 2024, 0.0, 0.0),  # a real zero stays a zero
    ]
    assert urssaf.null_counts(con, "staging_urssaf_commune_ape", ["nb_etablissements", "effectifs_salaries"]) == {
        "nb_etablissements": 1, "effectifs_salaries": 2}


def test_departement_filter_corsica_and_overseas(tmp_path):
    years = (2023, 2024)
    ape_rows = [
        _ape_row(years, "38185", values={2023: (1, 1)}),
        _ape_row(years, "2A004", values={2023: (2, 20)}),
        _ape_row(years, "2A004", "6201Z", values={2023: (3, 30)}),
        _ape_row(years, "2B033", values={2023: (4, 40)}),
        _ape_row(years, "97101", values={2023: (5, 50)}),
    ]
    ess_rows = [_ess_row("38"), _ess_row("2A", nb="7"), _ess_row("2B"), _ess_row("971", nb="9")]
    snap = _snapshot(tmp_path, ess_rows=ess_rows, ape_rows=ape_rows, years=years)

    con, stats = _load(snap, departement="2a")  # the parameter is normalised like the CLI does
    assert {r[0] for r in _long(con)} == {"2A004"}
    assert len(_long(con)) == 2 * 2
    assert (stats["staging_urssaf_commune_ape"].rows_out_of_scope, stats["staging_urssaf_commune_ape"].rows_staged) \
        == (3, 2)
    assert con.execute("SELECT code_departement, nb_etablissements FROM staging_urssaf_ess_departement").fetchall() \
        == [("2A", 7.0)]
    assert stats["staging_urssaf_ess_departement"].rows_out_of_scope == 3

    con, stats = _load(snap, departement="971")
    assert {r[0] for r in _long(con)} == {"97101"}
    assert con.execute("SELECT nb_etablissements FROM staging_urssaf_ess_departement").fetchall() == [(9.0,)]
    assert stats["staging_urssaf_commune_ape"].rows_out_of_scope == 4


def test_unknown_departement_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="unknown département '20'"):
        _load(_snapshot(tmp_path), departement="20")


def test_bom_is_ignored(tmp_path):
    years = (2023,)
    rows = [_ape_row(years, values={2023: (2, 5)})]
    con_plain, _ = _load(_snapshot(tmp_path / "plain", ape_rows=rows, years=years))
    con_bom, stats = _load(_snapshot(tmp_path / "bom", ape_rows=rows, years=years, bom=True))
    assert _long(con_bom) == _long(con_plain) == [("38185", "8899B", 2023, 2.0, 5.0)]
    assert con_bom.execute("SELECT count(*) FROM staging_urssaf_ess_departement").fetchone()[0] == 1
    assert stats["staging_urssaf_ess_departement"].rows_staged == 1


def test_malformed_commune_codes_are_rejected_with_their_reason(tmp_path):
    years = (2023, 2024)
    snap = _snapshot(tmp_path, years=years, ape_rows=[
        _ape_row(years, "38185", values={2023: (1, 1)}),
        _ape_row(years, "3818", code_departement="38"),  # truncated
        _ape_row(years, "38A85", code_departement="38"),
        _ape_row(years, "", code_departement="38"),
        _ape_row(years, "73065", code_departement="38"),  # says Isère, is in Savoie
        _ape_row(years, "38186", "88.99B"),  # a dotted APE is normalised, not rejected
        _ape_row(years, "38187", "889"),
    ])
    con, stats = _load(snap)
    assert _rejects(con, "staging_urssaf_commune_ape") == [
        ("3818", "code_commune invalide"),
        ("38187", "code_ape invalide"),
        ("38A85", "code_commune invalide"),
        ("73065", "code_commune hors du département"),
        (None, "code_commune invalide"),
    ]
    assert {r[0] for r in _long(con)} == {"38185", "38186"}
    assert {r[1] for r in _long(con)} == {"8899B"}
    s = stats["staging_urssaf_commune_ape"]
    assert s.rows_rejected == {"code_commune invalide": 3, "code_commune hors du département": 1,
                               "code_ape invalide": 1}
    assert (s.rows_read, s.rows_staged) == (7, 2)


def test_unparseable_and_negative_values_reject_the_whole_file_row(tmp_path):
    years = (2022, 2023, 2024)
    snap = _snapshot(tmp_path, years=years, ape_rows=[
        _ape_row(years, "38185", values={2022: (1, 1), 2023: (1, "n/a"), 2024: (1, "1,5")}),
        _ape_row(years, "38186", values={2022: (1, 1), 2023: (1, 1), 2024: (-1, 3)}),
        _ape_row(years, "38187", values={2024: (2, 3)}),
    ])
    con, stats = _load(snap)
    rejected = con.execute(
        "SELECT cle, motif_rejet, ligne->>'annee' FROM staging_rejets "
        "WHERE table_staging = 'staging_urssaf_commune_ape' ORDER BY cle"
    ).fetchall()
    # one reject per file row, pointing at the first faulty year
    assert rejected == [("38185", "valeur non numérique", "2023"), ("38186", "valeur négative", "2024")]
    assert len(_long(con)) == 3 and {r[0] for r in _long(con)} == {"38187"}
    assert stats["staging_urssaf_commune_ape"].rows_rejected == {"valeur non numérique": 1, "valeur négative": 1}


def test_duplicated_commune_ape_rows_are_both_rejected(tmp_path):
    years = (2023,)
    snap = _snapshot(tmp_path, years=years, ape_rows=[
        _ape_row(years, "38185", values={2023: (1, 1)}),
        _ape_row(years, "38185", values={2023: (2, 2)}),
        _ape_row(years, "38186", values={2023: (3, 3)}),
    ])
    con, stats = _load(snap)
    assert _long(con) == [("38186", "8899B", 2023, 3.0, 3.0)]
    assert stats["staging_urssaf_commune_ape"].rows_rejected == {"doublon (code_commune, code_ape)": 2}


def test_accounting_identity_counts_file_rows_not_long_rows(tmp_path):
    years = (2021, 2022, 2023, 2024)
    snap = _snapshot(tmp_path, years=years, ape_rows=[
        _ape_row(years, "38185", values={2021: (1, 2)}),
        _ape_row(years, "38185", "6201Z", values={2024: (1, 2)}),
        _ape_row(years, "38186", values={2022: ("x", 2)}),
        _ape_row(years, "38XYZ", code_departement="38"),
        _ape_row(years, "73065"),
        _ape_row(years, "01004"),
        _ape_row(years, "38187", code_departement=""),  # no département code: placed nowhere, rejected once
    ], ess_rows=[_ess_row("38"), _ess_row("38", famille="Fondations"), _ess_row("38", famille="Mutuelles",
                 eff="-3"), _ess_row("73"), _ess_row("")])
    con, stats = _load(snap)
    # For 38: the row without a département is a row of no département (rejected nationally, below).
    ape = stats["staging_urssaf_commune_ape"]
    assert (ape.rows_read, ape.rows_staged, ape.rejected_total, ape.rows_out_of_scope) == (7, 2, 2, 3)
    assert ape.rows_rejected == {"valeur non numérique": 1, "code_commune invalide": 1}
    assert con.execute("SELECT count(*) FROM staging_urssaf_commune_ape").fetchone()[0] == ape.rows_staged * 4
    ess = stats["staging_urssaf_ess_departement"]
    assert (ess.rows_read, ess.rows_staged, ess.rows_out_of_scope) == (5, 2, 2)
    assert ess.rows_rejected == {"valeur négative": 1}
    for s in stats.values():
        s.check()
        assert s.sha256 and len(s.sha256) == 64 and s.millesime == "2025" and s.departement == "38"
    # Nationally, for 38 and 73 read together: each row staged in a département, rejected once, or out of scope.
    national = urssaf.load_national(db.connect(), snap, departements=["73", "38"])
    ape, ess = national.national[1], national.national[0]
    assert (ape.rows_read, ape.rows_staged, ape.rows_out_of_scope) == (7, 3, 1)
    assert ape.rows_rejected == {"valeur non numérique": 1, "code_commune invalide": 1,
                                 "code_departement manquant": 1}
    assert (ess.rows_read, ess.rows_staged, ess.rows_out_of_scope) == (5, 3, 0)
    assert ess.rows_rejected == {"valeur négative": 1, "code_departement manquant": 1}
    assert [s.rows_staged for s in national.par_departement["73"]] == [1, 1]
    national.check()


@pytest.mark.parametrize("last_year", [2024, 2025])
def test_year_range_is_read_from_the_header(tmp_path, last_year):
    years = tuple(range(urssaf.COMMUNE_APE_FIRST_YEAR, last_year + 1))
    snap = tmp_path / "urssaf" / "2025"
    snap.mkdir(parents=True)
    _write(snap / ESS_FILE, urssaf.ESS_DEPARTEMENT_COLUMNS, [_ess_row()])
    _write(snap / APE_FILE, urssaf.commune_ape_columns(last_year), [
        _ape_row(years, "38185", values={2006: (1, 1), last_year: (9, 99)}),
        _ape_row(years, "38186"),
    ])
    assert urssaf.latest_year(snap) == last_year
    con, stats = _load(snap)
    n_years = last_year - 2006 + 1  # 19 or 20
    assert con.execute("SELECT count(*) FROM staging_urssaf_commune_ape").fetchone()[0] == 2 * n_years
    assert con.execute(
        "SELECT min(annee), max(annee), count(DISTINCT annee) FROM staging_urssaf_commune_ape"
    ).fetchone() == (2006, last_year, n_years)
    assert con.execute(
        "SELECT nb_etablissements, effectifs_salaries FROM staging_urssaf_commune_ape "
        "WHERE code_commune = '38185' AND annee = ?", [last_year]
    ).fetchone() == (9.0, 99.0)

    con, stats = _load(snap, annee=2024)  # only one year of the wide table
    assert con.execute("SELECT DISTINCT annee FROM staging_urssaf_commune_ape").fetchall() == [(2024,)]
    assert stats["staging_urssaf_commune_ape"].rows_staged == 2


def test_a_year_absent_from_the_file_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match=r"no column for year 2019: its years are 2022…2024"):
        _load(_snapshot(tmp_path), annee=2019)


def test_header_problems_are_input_file_errors(tmp_path):
    snap = _snapshot(tmp_path)
    header = [c for c in urssaf.COMMUNE_APE_ID_COLUMNS if c != "code_ape"] + ["nombre_d_etablissements_2023",
                                                                             "effectifs_salaries_2023"]
    _write(snap / APE_FILE, header, [])
    with pytest.raises(InputFileError, match=r"missing column\(s\) \['code_ape'\]"):
        _load(snap)

    _write(snap / APE_FILE, urssaf.COMMUNE_APE_ID_COLUMNS + ("nombre_d_etablissements_2023",), [])
    with pytest.raises(InputFileError, match=r"\['nombre_d_etablissements_2023'\] have no counterpart"):
        urssaf.latest_year(snap)

    (snap / APE_FILE).write_text(",".join(urssaf.commune_ape_columns(2024)) + "\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="','-separated"):
        _load(snap)

    header = urssaf.commune_ape_columns(2023)
    (snap / APE_FILE).write_text(";".join(header) + "\n" + ";".join(["38"] * (len(header) - 2)) + "\n",
                                 encoding="utf-8")
    with pytest.raises(InputFileError, match=r"(?s)cannot be read as the portal's.*Line: 2") as err:
        _load(snap)
    assert "strict_mode" not in str(err.value)

    (snap / APE_FILE).unlink()
    with pytest.raises(InputFileError, match=f"URSSAF file missing: .*{APE_FILE}.*ess fetch --source urssaf"):
        _load(snap)


def test_a_full_disk_is_not_called_an_unreadable_file(tmp_path, spill_failure):
    """The file is sound; the disk of DuckDB's temporary folder is full while it is read: that error comes out as
    it is (flows/cli.py prints the disk's message), not as « cannot be read as the portal's CSV export »."""

    class FullDisk:
        def __init__(self, con):
            self.con = con

        def execute(self, sql, *args):
            if "read_csv(" in sql:
                raise spill_failure
            return self.con.execute(sql, *args)

        def __getattr__(self, name):
            return getattr(self.con, name)

    with pytest.raises(Exception) as e:
        urssaf.load(FullDisk(db.connect()), _snapshot(tmp_path), departement="38")
    assert e.value is spill_failure


def _resave_as_windows_1252(path: Path) -> None:
    """What a spreadsheet does to the portal's file: same text, accents in Windows-1252."""
    path.write_bytes(path.read_text(encoding="utf-8").encode("cp1252"))


@pytest.mark.parametrize("rows_before", [0, 400], ids=["second-line", "far-in-the-body"])
def test_a_windows_1252_body_under_an_ascii_header_is_named_with_its_byte_and_line(tmp_path, rows_before):
    """The ESS file's header is plain ASCII: only its body's accents show the encoding, near the header or past
    the first read of the file (where DuckDB would have read them as garbage labels without a word)."""
    ascii_row = ["Auvergne-Rhone-Alpes", "Rhone-Alpes", "Isere", *_ess_row()[3:]]
    rows = [ascii_row] * rows_before + [[*ascii_row[:4], "Coopératives", *ascii_row[5:]]]
    snap = _snapshot(tmp_path, ess_rows=rows)
    _resave_as_windows_1252(snap / ESS_FILE)
    assert (snap / ESS_FILE).stat().st_size > 8192 or rows_before == 0
    with pytest.raises(InputFileError) as err:
        _load(snap)
    message = str(err.value)
    assert f"{ESS_FILE}: the file is not UTF-8 (byte 0xE9 on line {rows_before + 2}" in message
    assert "header" not in message
    assert "do not re-save it from a spreadsheet" in message and "ess fetch --source urssaf" in message


def test_the_utf8_check_follows_characters_cut_between_two_reads(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes("a;b\nRhône;é\nAin;x\n".encode("utf-8"))
    assert all(urssaf._first_non_utf8_byte(path, chunk_size=size) is None for size in (1, 2, 3, 5, 1 << 20))
    path.write_bytes("a;b\nRhône;é\n".encode("utf-8") + "Ardèche;x\n".encode("cp1252"))
    assert {urssaf._first_non_utf8_byte(path, chunk_size=size) for size in (1, 2, 3, 5, 1 << 20)} == {(0xE8, 3)}
    path.write_bytes("a;b\nRh".encode("utf-8") + "ô".encode("utf-8")[:1])  # cut at the very end
    assert urssaf._first_non_utf8_byte(path, chunk_size=2) == (0xC3, 2)


# --- ESS by département: families ------------------------------------------------------------------------------

def test_families_are_mapped_to_our_codes(tmp_path):
    snap = _snapshot(tmp_path, ess_rows=[
        _ess_row(champ="Oui", famille="Associations", nb="3000.5", eff="40000.25", masse="1200000000"),
        _ess_row(champ="OUI", famille="COOPERATIVES", nb="300", eff="5000", masse=""),  # case and accents ignored
        _ess_row(champ="Oui", famille="Mutuelles"),
        _ess_row(champ="Oui", famille="Fondations"),
        _ess_row(champ="Oui", famille=""),  # total of the ESS
        _ess_row(champ="Non", famille="Hors ESS", nb="30000"),
        _ess_row(champ="Non", famille="Associations"),  # inconsistent
        _ess_row(champ="Associations", famille="Associations", annee=2022),  # a family is not a champ
        _ess_row(champ="Oui", famille="Fondations", nb="1 234"),
        _ess_row(champ="Oui", famille="Fondations", annee="23"),
    ])
    con, stats = _load(snap)
    rows = con.execute(
        "SELECT annee, code_departement, champ_ess, famille_ess, nb_etablissements, effectifs_salaries, "
        "masse_salariale FROM staging_urssaf_ess_departement ORDER BY champ_ess, famille_ess"
    ).fetchall()
    assert rows == [
        (2023, "38", "ess", "associations", 3000.5, 40000.25, 1.2e9),
        (2023, "38", "ess", "cooperatives", 300.0, 5000.0, None),
        (2023, "38", "ess", "ess", 10.0, 100.0, 1000.0),
        (2023, "38", "ess", "fondations", 10.0, 100.0, 1000.0),
        (2023, "38", "ess", "mutuelles", 10.0, 100.0, 1000.0),
        (2023, "38", "hors_ess", "hors_ess", 30000.0, 100.0, 1000.0),
    ]
    assert stats["staging_urssaf_ess_departement"].rows_rejected == {
        "champ_ess et famille_ess incohérents": 1, "champ_ess inattendu": 1, "valeur non numérique": 1,
        "annee invalide": 1}


def test_unknown_family_label_names_the_label_and_the_csv(tmp_path):
    snap = _snapshot(tmp_path, ess_rows=[_ess_row(), _ess_row(famille="Sociétés commerciales de l'ESS")])
    with pytest.raises(UserError) as err:
        _load(snap)
    message = str(err.value)
    assert "Sociétés commerciales de l'ESS" in message
    assert "urssaf_familles.csv" in message and "libelle_urssaf,famille,comment" in message


def test_duplicated_ess_rows_are_rejected(tmp_path):
    snap = _snapshot(tmp_path, ess_rows=[_ess_row(), _ess_row(famille="associations"), _ess_row(annee=2022)])
    con, stats = _load(snap)
    assert con.execute("SELECT annee FROM staging_urssaf_ess_departement").fetchall() == [(2022,)]
    assert stats["staging_urssaf_ess_departement"].rows_rejected == {"doublon (annee, champ_ess, famille_ess)": 2}


def test_committed_family_mapping_is_valid():
    mapping = urssaf.read_familles()
    assert set(mapping.values()) <= set(urssaf.FAMILLE_CODES)
    for label, code in [("Associations", "associations"), ("Coopératives", "cooperatives"),
                        ("Mutuelles", "mutuelles"), ("Fondations", "fondations"), ("Oui", "ess"),
                        ("Non", "hors_ess"), ("Hors ESS", "hors_ess")]:
        assert mapping[label] == code


def test_source_describes_both_files():
    assert urssaf.SOURCE.name == "urssaf" and urssaf.SOURCE.millesime_format == "YYYY"
    assert urssaf.SOURCE.dataset_id == "5efd242c72595ba1a48628f2"
    assert urssaf.SOURCE.file("commune_ape").url.startswith(
        "https://open.urssaf.fr/api/explore/v2.1/catalog/datasets/"
        "etablissements-et-effectifs-salaries-au-niveau-commune-x-ape-last/exports/csv")
    assert urssaf.SOURCE.file("ess_departement").filename == (
        "nombre-etab-effectifs-salaries-et-masse-salariale-ess-departements.csv")


# --- national files: one read for several départements, French decimals, traceable rejects -------------------


def test_french_decimal_commas_are_read_as_numbers(tmp_path):
    """The ESS file exported with decimal commas: every value read, none rejected (1 234,5 would be refused as
    before: no thousands separator)."""
    years = (2023, 2024)
    snap = _snapshot(tmp_path, years=years, ess_rows=[
        _ess_row(famille="Associations", nb="3000,5", eff="40000,25", masse="1200000000"),
        _ess_row(famille="Fondations", nb="12", eff="7,5", masse="180000,75"),
    ], ape_rows=[_ape_row(years, "38185", values={2023: ("1", "2,5"), 2024: ("2", "3")})])
    con, stats = _load(snap)
    assert con.execute(
        "SELECT famille_ess, nb_etablissements, effectifs_salaries, masse_salariale "
        "FROM staging_urssaf_ess_departement ORDER BY 1").fetchall() == [
        ("associations", 3000.5, 40000.25, 1.2e9), ("fondations", 12.0, 7.5, 180000.75)]
    assert _long(con) == [("38185", "8899B", 2023, 1.0, 2.5), ("38185", "8899B", 2024, 2.0, 3.0)]
    assert all(s.rejected_total == 0 for s in stats.values())


def test_a_file_mixing_both_decimal_separators_is_refused(tmp_path):
    snap = _snapshot(tmp_path, ess_rows=[_ess_row(nb="3000,5"), _ess_row(famille="Fondations", eff="7.5")])
    with pytest.raises(InputFileError, match=r"nombre-etab.*both decimal separators \(1 values with ',' such as "
                                             r"'3000,5', 1 with '\.' such as '7\.5'\)"):
        _load(snap)


def test_an_invalid_departement_code_is_rejected_once_never_out_of_scope(tmp_path):
    """Format before scope: 'XX' is not a département code, so the row is rejected (nationally), with its line,
    column and value — not counted among the rows of other départements."""
    years = (2024,)
    snap = _snapshot(tmp_path, years=years, ess_rows=[_ess_row(), _ess_row("XX")],
                     ape_rows=[_ape_row(years, "38185"), _ape_row(years, "38186", code_departement="3B")])
    con, stats = _load(snap)
    assert stats["staging_urssaf_ess_departement"].rows_out_of_scope == 1  # a row of no département, for 38
    rejects = con.execute("SELECT table_staging, numero_ligne, colonne, valeur, motif_rejet, departements "
                          "FROM staging_rejets ORDER BY 1").fetchall()
    assert rejects == [
        ("staging_urssaf_commune_ape", 3, "code_departement", "3B", "code_departement invalide", []),
        ("staging_urssaf_ess_departement", 3, "code_departement", "XX", "code_departement invalide", []),
    ]


def test_each_national_file_is_read_once_for_several_departements(tmp_path, monkeypatch):
    years = (2024,)
    snap = _snapshot(tmp_path, years=years, ess_rows=[_ess_row("38"), _ess_row("2A"), _ess_row("73"),
                                                       _ess_row("01")],
                     ape_rows=[_ape_row(years, "38185"), _ape_row(years, "2A004"), _ape_row(years, "73065"),
                               _ape_row(years, "73065", "6201Z"), _ape_row(years, "2B033")])
    opened = []
    read_file = urssaf.read_file

    def counting(con, path, *args, **kwargs):
        opened.append(Path(path).name)
        return read_file(con, path, *args, **kwargs)

    monkeypatch.setattr(urssaf, "read_file", counting)
    con = db.connect()
    result = urssaf.load_national(con, snap, departements=["38", "73", "2A"])
    assert sorted(opened) == sorted([ESS_FILE, APE_FILE])
    per = {d: {s.table: (s.rows_read, s.rows_staged, s.rows_out_of_scope) for s in stats}
           for d, stats in result.par_departement.items()}
    assert per == {
        "38": {"staging_urssaf_ess_departement": (4, 1, 3), "staging_urssaf_commune_ape": (5, 1, 4)},
        "73": {"staging_urssaf_ess_departement": (4, 1, 3), "staging_urssaf_commune_ape": (5, 2, 3)},
        "2A": {"staging_urssaf_ess_departement": (4, 1, 3), "staging_urssaf_commune_ape": (5, 1, 4)},
    }
    assert [(s.rows_staged, s.rows_out_of_scope) for s in result.national] == [(3, 1), (4, 1)]
    assert con.execute("SELECT _departement, count(*) FROM staging_urssaf_commune_ape GROUP BY 1 ORDER BY 1"
                       ).fetchall() == [("2A", 1), ("38", 1), ("73", 2)]
    result.check()
