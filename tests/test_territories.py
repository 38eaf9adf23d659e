"""The territories loader: known answers on tiny official-format files, the committed reference for any
département, the round trip through write_official_files, and the file accounting."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from ess import db
from ess.errors import InputFileError, UserError
from sources.territories import SOURCE, load, normalise_departement, write_official_files

TABLES = ("staging_communes", "staging_communes_passage", "staging_epci")


def _write(path: Path, text: str, encoding: str = "utf-8") -> None:
    path.write_text(text.strip() + "\n", encoding=encoding)


@pytest.fixture
def official(tmp_path) -> Path:
    """A hand-made snapshot: 2 Isère communes, a malformed one, Savoie and Corsica around them."""
    snap = tmp_path / "territoires" / "2026"
    snap.mkdir(parents=True)
    _write(snap / "v_commune_2026.csv", """
TYPECOM,COM,REG,DEP,CTCD,ARR,TNCC,NCC,NCCENR,LIBELLE,CAN,COMPARENT
COM,38001,84,38,38D,382,4,ABRETS EN DAUPHINE,Abrets en Dauphiné,Les Abrets en Dauphiné,3803,
COMD,38028,84,38,38D,382,4,ABRETS,Abrets,Les Abrets,,38001
COMD,38001,84,38,38D,382,4,ABRETS EN DAUPHINE,Abrets en Dauphiné,Les Abrets en Dauphiné,,38001
COM,38185,84,38,38D,381,0,GRENOBLE,Grenoble,Grenoble,3899,
COM,3818X,84,38,38D,381,0,BAD,Bad,Bad,,
COM,73001,84,73,73D,731,0,SAVOYARDE,Savoyarde,Savoyarde,7301,
COM,73002,84,73,73D,731,0,SAVOYARDE DEUX,Savoyarde deux,Savoyarde deux,7301,
COM,2A004,94,2A,20R,2A1,1,AJACCIO,Ajaccio,Ajaccio,2A98,
""")
    _write(snap / "v_mvt_commune_2026.csv", """
MOD,DATE_EFF,TYPECOM_AV,COM_AV,TNCC_AV,NCC_AV,NCCENR_AV,LIBELLE_AV,TYPECOM_AP,COM_AP,TNCC_AP,NCC_AP,NCCENR_AP,LIBELLE_AP
32,2015-01-01,COM,38165,0,FITILIEU,Fitilieu,Fitilieu,COM,38001,4,ABRETS,Abrets,Les Abrets en Dauphiné
32,2015-01-01,COM,38165,0,FITILIEU,Fitilieu,Fitilieu,COMD,38165,0,FITILIEU,Fitilieu,Fitilieu
31,1970-01-01,COM,38900,0,A,A,A,COM,38901,0,B,B,B
31,2000-01-01,COM,38901,0,B,B,B,COM,38185,0,GRENOBLE,Grenoble,Grenoble
10,2020-01-01,COM,38185,0,GRENOBLE,Grenoble,Grenoble,COM,38185,0,GRENOBLE,Grenoble,Grenoble
31,2000-01-01,COM,38777,0,C,C,C,COM,38778,0,D,D,D
31,2000-01-01,COM,73999,0,E,E,E,COM,73001,0,F,F,F
31,1976-01-01,COM,20004,1,AJACCIO,Ajaccio,Ajaccio,COM,2A004,1,AJACCIO,Ajaccio,Ajaccio
""")
    # DGCL's CSV variant: ';'-separated Windows-1252.
    _write(snap / "epcicom2026.csv", """
dept;siren;raison_sociale;nature_juridique;mode_financ;nb_membres;total_pop_tot;total_pop_mun;dep_com;insee;siren_membre;nom_membre;ptot_2026;pmun_2026
38;200040715;Grenoble-Alpes-Métropole;METRO;FPU;1;0;0;38;38185;213801855;Grenoble;0;0
38;2000407;Bad siren;METRO;FPU;1;0;0;38;38185;213801855;Grenoble;0;0
38;200040111;CC Cœur de Chartreuse;CC;FPU;3;0;0;38;38001;200060127;Les Abrets;0;0
38;200040111;CC Cœur de Chartreuse;CC;FPU;3;0;0;73;73001;217300011;Savoyarde;0;0
38;200040111;CC Cœur de Chartreuse;CC;FPU;3;0;0;73;73002;217300029;Savoyarde deux;0;0
2A;242010056;CA du Pays Ajaccien;CA;FPU;1;0;0;2A;2A004;212000046;Ajaccio;0;0
""", encoding="cp1252")
    _write(snap / "donnees_communes.csv", """
REG;Région;DEP;CODARR;CODCAN;CODCOM;COM;PMUN;PCAP;PTOT
84;ARA;38;2;03;001;Les Abrets en Dauphiné;6000;100;6100
84;ARA;38;1;99;185;Grenoble;150000;1000;151000
84;ARA;38;1;99;999;Disparue;10;0;10
84;ARA;73;1;01;001;Savoyarde;1000;0;1000
84;ARA;73;1;01;002;Savoyarde deux;500;0;500
94;Corse;2A;1;98;004;Ajaccio;70000;0;70000
""")
    # the Département's territoire table is a zoning of the reference folder now (transforms/zonages.py): a copy
    # left in the snapshot is not read
    _write(snap / "affectation_communes_territoires_38.csv", """
Code INSEE;Commune;Territoire
38001;Les Abrets en Dauphiné;Vals du Dauphiné
""")
    return snap


def _load(snapshot, departement="38"):
    con = db.connect()
    stats = load(con, snapshot, departement=departement, annee_cog=2026)
    for s in stats:
        s.check()  # read = staged + rejected + out of scope, for every (file, table)
    return con, {(Path(s.file).name, s.table): s for s in stats}


@functools.lru_cache(maxsize=None)
def _reference(departement):
    """The committed reference loaded once per département (tests only read from it)."""
    return _load(None, departement)


def _rows(con, sql):
    return sorted(con.execute(sql).fetchall())


def test_official_files_known_answers(official, caplog):
    con, stats = _load(official)
    assert "affectation_communes_territoires_38.csv is not read: a commune → zone table is a zoning" in caplog.text
    assert _rows(con, "SELECT code_commune, siren_epci, population, code_departement, annee_cog "
                      "FROM staging_communes") == [
        ("38001", "200040111", 6000, "38", 2026),
        ("38185", "200040715", 150000, "38", 2026),
    ]
    # COMD 38028 via COMPARENT; 38165 via its fusion; 38900 -> 38901 -> 38185 through a chain of events.
    assert _rows(con, "SELECT * FROM staging_communes_passage") == [
        ("38028", "38001"), ("38165", "38001"), ("38900", "38185"), ("38901", "38185"),
    ]
    # The EPCI crossing into Savoie: its whole size and the Isère part.
    assert _rows(con, "SELECT * FROM staging_epci") == [
        ("200040111", "CC Cœur de Chartreuse", "CC", 3, 1, 7500, 6000),
        ("200040715", "Grenoble-Alpes-Métropole", "METRO", 1, 1, 150000, 150000),
    ]
    rejects = _rows(con, f"SELECT table_staging, fichier, cle, motif_rejet FROM {db.REJECTS_TABLE}")
    assert [(t, Path(f).name, c, m) for t, f, c, m in rejects] == [
        ("staging_communes", "donnees_communes.csv", "38999", "population : commune absente du COG"),
        ("staging_communes", "v_commune_2026.csv", "3818X", "code commune mal formé"),
        ("staging_communes_passage", "v_mvt_commune_2026.csv", "38777", "ancien code sans commune actuelle"),
        ("staging_epci", "epcicom2026.csv", "2000407", "SIREN EPCI mal formé"),
    ]
    # every reject names its line in the file, the column at fault, its value and its département
    traced = _rows(con, f"SELECT motif_rejet, numero_ligne, colonne, valeur, departements FROM {db.REJECTS_TABLE} "
                        "WHERE motif_rejet IN ('code commune mal formé', 'SIREN EPCI mal formé')")
    assert [(m, n is not None and n > 1, c, v, d) for m, n, c, v, d in traced] == [
        ("SIREN EPCI mal formé", True, "siren_epci", "2000407", ["38"]),
        ("code commune mal formé", True, "code_commune", "3818X", ["38"]),
    ]

    s = stats["v_commune_2026.csv", "staging_communes"]
    assert (s.rows_read, s.rows_staged, s.rows_rejected, s.rows_out_of_scope) == (
        8, 2, {"code commune mal formé": 1}, 5)
    s = stats["v_mvt_commune_2026.csv", "staging_communes_passage"]
    assert (s.rows_read, s.rows_staged, s.rejected_total, s.rows_out_of_scope) == (8, 3, 1, 4)
    s = stats["epcicom2026.csv", "staging_epci"]
    assert (s.rows_read, s.rows_staged, s.rejected_total, s.rows_out_of_scope) == (6, 4, 1, 1)
    assert s.source == SOURCE.name == "territoires" and s.millesime == "2026" and len(s.sha256) == 64
    assert not any("affectation" in name for name, _ in stats)


def test_an_epci_whose_first_member_is_rejected_counts_that_line_once(official):
    """DGCL's file gives an EPCI on the line of its first member: when that membership is rejected (a commune
    absent from the COG) while the EPCI is staged through its other members, the line is rejected, not also
    staged (the accounting used to count it twice and stop the run as a bug)."""
    path = official / "epcicom2026.csv"
    lines = path.read_text(encoding="cp1252").splitlines()
    lines.insert(3, "38;200040111;CC Cœur de Chartreuse;CC;FPU;4;0;0;38;38002;200060128;Disparue du COG;0;0")
    path.write_text("\n".join(lines) + "\n", encoding="cp1252")
    con, stats = _load(official)  # checks read = staged + rejected + out of scope for every file
    assert ("200040111", "CC Cœur de Chartreuse", "CC", 3, 1, 7500, 6000) in _rows(
        con, "SELECT * FROM staging_epci")
    s = stats["epcicom2026.csv", "staging_epci"]
    assert (s.rows_read, s.rows_staged, s.rows_rejected, s.rows_out_of_scope) == (
        7, 4, {"SIREN EPCI mal formé": 1, "commune absente du COG": 1}, 1)
    assert _rows(con, f"SELECT cle, numero_ligne, colonne, valeur FROM {db.REJECTS_TABLE} "
                      "WHERE motif_rejet = 'commune absente du COG'") == [("200040111", 4, "code_commune", "38002")]


def test_official_files_for_corsica(official):
    con, stats = _load(official, "2a")
    assert _rows(con, "SELECT code_commune, siren_epci, population FROM staging_communes") == [
        ("2A004", "242010056", 70000)]
    assert _rows(con, "SELECT * FROM staging_communes_passage") == [("20004", "2A004")]
    assert _rows(con, "SELECT siren_epci, nb_communes_departement FROM staging_epci") == [("242010056", 1)]


def test_missing_column_is_a_clear_error(official):
    path = official / "v_commune_2026.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("COMPARENT", "PARENT"), encoding="utf-8")
    with pytest.raises(InputFileError, match="v_commune_2026.csv.*COMPARENT"):
        _load(official)


def test_reference_isere():
    con, stats = _reference("38")
    assert _rows(con, "SELECT count(*), count(DISTINCT siren_epci), count(population) FROM staging_communes") == [
        (512, 18, 512)]
    assert _rows(con, "SELECT count(*) FROM staging_epci") == [(18,)]
    assert _rows(con, "SELECT nb_communes_departement FROM staging_epci WHERE siren_epci = '200040715'") == [(49,)]
    # Vienne Condrieu: 30 communes, 18 in Isère; its population counts the Rhône part only in `population`.
    ((total, in_dep, pop, pop_dep),) = _rows(
        con, "SELECT nb_communes, nb_communes_departement, population, population_departement FROM staging_epci "
             "WHERE siren_epci = '200077014'")
    assert (total, in_dep) == (30, 18) and pop > pop_dep > 0
    assert _rows(con, "SELECT sum(nb_communes_departement) FROM staging_epci") == [(512,)]
    assert _rows(con, "SELECT code_commune FROM staging_communes_passage WHERE ancien_code = '38028'") == [
        ("38001",)]
    assert all(s.rejected_total == 0 for s in stats.values())


def test_reference_overseas_and_paris():
    con, _ = _reference("971")
    assert _rows(con, "SELECT count(*), min(code_commune) FROM staging_communes") == [(32, "97101")]
    con, _ = _reference("75")
    assert _rows(con, "SELECT code_commune, population > 2000000 FROM staging_communes") == [("75056", True)]
    assert _rows(con, "SELECT count(*), min(code_commune), max(code_commune) FROM staging_communes_passage "
                      "WHERE ancien_code LIKE '751%'") == [(20, "75056", "75056")]


@pytest.mark.parametrize("departement", ["38", "2A"])
def test_official_format_round_trip(tmp_path, departement):
    """Files written by write_official_files load to exactly what the committed reference gives."""
    written = write_official_files(tmp_path, departement=departement, annee=2026)
    names = {p.name for p in written}
    assert {"v_commune_2026.csv", "v_mvt_commune_2026.csv", "epcicom2026.xlsx", "donnees_communes.csv"} <= names
    assert not any("territoire" in name for name in names)  # zonings are reference data, not a source's files
    header = (tmp_path / "v_commune_2026.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "TYPECOM,COM,REG,DEP,CTCD,ARR,TNCC,NCC,NCCENR,LIBELLE,CAN,COMPARENT"
    con_ref, _ = _reference(departement)
    con_off, stats = _load(tmp_path, departement)
    assert {Path(s.file).parent for s in stats.values()} == {tmp_path}  # nothing came from the reference
    for table in TABLES:
        assert _rows(con_off, f"SELECT * FROM {table}") == _rows(con_ref, f"SELECT * FROM {table}"), table


def test_departement_codes():
    assert normalise_departement("2a") == "2A"
    assert normalise_departement("1") == "01"
    assert normalise_departement("974") == "974"
    for bad in ("20", "99x", "977", ""):
        with pytest.raises(UserError, match="département"):
            normalise_departement(bad)


def test_snapshot_without_its_communes_file_is_refused_at_once(official):
    # the other COG files are there: the communes must not silently come from the committed reference
    (official / "v_commune_2026.csv").unlink()
    with pytest.raises(UserError, match=r"v_commune_2026\.csv is missing while the folder holds .*v_mvt_commune_2026"
                                        r"\.csv.*\. Put INSEE's v_commune_2026\.csv back in that folder \(`ess fetch` "
                                        r"does not download the territory files\)"):
        _load(official)


def test_missing_millesime_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="v_commune_2031.csv"):
        load(db.connect(), tmp_path, departement="38", annee_cog=2031)
