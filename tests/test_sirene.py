"""SIRENE loader: both deliverables, every layout, département filter, staging checks and row accounting.

Known answers are counted by hand on the small snapshot below (département 38).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from sirene_fixtures import (
    etablissement,
    etablissement_periode,
    unite_legale,
    unite_legale_periode,
    write_parquet,
    write_snapshot,
    write_zip,
)

from ess.accounting import FileStats
from ess.db import connect
from ess.errors import InputFileError, UserError
from sources import sirene
from sources.sirene_layouts import (
    ETABLISSEMENT_48,
    ETABLISSEMENT_53,
    ETABLISSEMENT_54,
    UNITE_LEGALE_33,
    UNITE_LEGALE_34,
    UNITE_LEGALE_35,
    csv_member_name,
)

ETAB = "staging_sirene_etablissements"
UL = "staging_sirene_unites_legales"
ETAB_H = "staging_sirene_etablissements_historique"
UL_H = "staging_sirene_unites_legales_historique"

ETABLISSEMENTS = [
    # Staged (6): leading-zero siren, closed, partial diffusion, old commune code, duplicate winner, plain.
    etablissement("01234567800011", "38185", denominationUsuelleEtablissement="ALPHA",
                  enseigne1Etablissement='LE "BON", COIN', trancheEffectifsEtablissement="00"),
    etablissement("01234567800029", "38185", etatAdministratifEtablissement="F", etablissementSiege="false",
                  trancheEffectifsEtablissement="NN", caractereEmployeurEtablissement="N"),
    etablissement("11111111100014", "38053", statutDiffusionEtablissement="P",
                  denominationUsuelleEtablissement="[ND]", enseigne1Etablissement="SECRET",
                  trancheEffectifsEtablissement=""),
    etablissement("22222222200012", "38225"),  # a code as found in the file (e.g. merged commune): kept
    etablissement("99999999900011", "38421", dateDernierTraitementEtablissement="2023-01-01T00:00:00",
                  enseigne1Etablissement="ANCIENNE"),
    etablissement("99999999900011", "38421", dateDernierTraitementEtablissement="2024-06-01T00:00:00",
                  enseigne1Etablissement="NOUVELLE"),
    etablissement("15151515100013", "38185"),
    # Out of scope (5): other départements, abroad, Corsica, overseas, a siren starting with 38 elsewhere.
    etablissement("33333333300015", "69123"),
    etablissement("44444444400018", "", codePaysEtrangerEtablissement="99134"),
    etablissement("55555555500011", "2A004"),
    etablissement("66666666600013", "97101"),
    etablissement("38383838300019", "13055"),
    # Rejected in the département (5, plus the duplicate loser above).
    etablissement("0777777700016", "38185", siren="07777777", nic="00016"),
    etablissement("88888888800099", "38185", siren="888888888", nic="00010"),
    etablissement("12121212100010", "38185", dateCreationEtablissement="2020-13-45"),
    etablissement("13131313100011", "38A85"),
    etablissement("14141414100012", ""),
]
UNITES_LEGALES = [
    unite_legale("012345678", denominationUniteLegale="ASSOCIATION ALPHA"),
    unite_legale("111111111", statutDiffusionUniteLegale="P", denominationUniteLegale="[ND]",
                 categorieJuridiqueUniteLegale="5400", trancheEffectifsUniteLegale=""),
    unite_legale("222222222", categorieJuridiqueUniteLegale="9999", economieSocialeSolidaireUniteLegale=""),
    unite_legale("999999999", dateDernierTraitementUniteLegale="2024-02-02T00:00:00",
                 denominationUniteLegale="NOUVEAU NOM"),
    unite_legale("999999999", dateDernierTraitementUniteLegale="2020-02-02T00:00:00",
                 denominationUniteLegale="ANCIEN NOM"),
    unite_legale("151515151", dateDebut="2020-02-30"),
    unite_legale("333333333"),
    unite_legale("888888888"),  # its establishment was rejected: not needed
    unite_legale("383838383"),
    unite_legale("121212121"),
]
ETABLISSEMENTS_HISTORIQUE = [
    etablissement_periode("01234567800011", "2001-02-03", "2010-01-01"),
    etablissement_periode("01234567800011", "2010-01-01", activitePrincipaleEtablissement="88.99B"),
    etablissement_periode("01234567800029", "2001-02-03", "2020-05-01"),
    etablissement_periode("01234567800029", "2020-05-01", etatAdministratifEtablissement="F"),
    etablissement_periode("22222222200012", ""),  # start unknown: legal
    etablissement_periode("15151515100013", "2019-01-01"),
    etablissement_periode("15151515100013", "2019-01-01"),  # same period twice
    etablissement_periode("11111111100014", "2019-13-01"),
    etablissement_periode("33333333300015", "2019-01-01"),
    etablissement_periode("99999999900011", "2018-01-01"),
    etablissement_periode("12121212100010", "2018-01-01"),
]
UNITES_LEGALES_HISTORIQUE = [
    unite_legale_periode("012345678", "1999-12-31", "2015-01-01", economieSocialeSolidaireUniteLegale=""),
    unite_legale_periode("012345678", "2015-01-01"),
    unite_legale_periode("111111111", "", categorieJuridiqueUniteLegale="5400"),
    unite_legale_periode("999999999", "2001-01-01", "2000-13-01"),
    unite_legale_periode("333333333", "2001-01-01"),
    unite_legale_periode("222222222", "2010-01-01", nicSiegeUniteLegale="1234"),
]
DATA = {
    "etablissements": ETABLISSEMENTS,
    "unites_legales": UNITES_LEGALES,
    "etablissements_historique": ETABLISSEMENTS_HISTORIQUE,
    "unites_legales_historique": UNITES_LEGALES_HISTORIQUE,
}

# (read, out of scope, staged, {reason: rows}) per table for département 38, counted by hand. The two
# establishments that cannot be placed anywhere (commune '38A85', no commune and no country) are rejected once,
# nationally (NATIONAL below): for 38 they are rows of no département, like those of 69 or 2A.
EXPECTED = {
    ETAB: (17, 7, 6, {
        "siren invalide": 1, "siret différent de siren + nic": 1, "date de création illisible": 1,
        "siret en double": 1,
    }),
    UL: (10, 4, 4, {"siren en double": 1, "date de début illisible": 1}),
    ETAB_H: (11, 2, 7, {"période en double": 1, "date de début illisible": 1}),
    UL_H: (6, 1, 3, {"date de fin illisible": 1, "nic du siège invalide": 1}),
}
NATIONAL = dict(EXPECTED, **{ETAB: (17, 5, 6, {
    **EXPECTED[ETAB][3], "code commune invalide": 1, "code commune absent (établissement non localisable)": 1})})
STAGED_SIRETS = {"01234567800011", "01234567800029", "11111111100014", "22222222200012", "99999999900011",
                 "15151515100013"}


def _load(folder: Path, tmp_path: Path, departement: str = "38"):
    con = connect()
    stats = sirene.load(con, folder, departement=departement, millesime="2025-12", work_dir=tmp_path / "work")
    return con, {s.table: s for s in stats}


def _rows(con, table: str, order: str) -> list[dict]:
    cur = con.execute(f"SELECT * FROM {table} ORDER BY {order}")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def _one(con, table: str, where: str) -> dict:
    rows = _rows(con, f"(SELECT * FROM {table} WHERE {where})", "1")
    assert len(rows) == 1, rows
    return rows[0]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """The reference snapshot, zipped CSV in the newest layouts."""
    tmp = tmp_path_factory.mktemp("sirene")
    return _load(write_snapshot(tmp / "snap", DATA, fmt="csv"), tmp)


@pytest.mark.parametrize("fmt,typed", [("csv", False), ("parquet", False), ("parquet", True)])
def test_accounting_known_answers(tmp_path, fmt, typed):
    _, stats = _load(write_snapshot(tmp_path / "snap", DATA, fmt=fmt, typed=typed), tmp_path)
    assert list(stats) == [ETAB, UL, ETAB_H, UL_H]  # the loading order
    for table, (read, out, staged, rejected) in EXPECTED.items():
        s = stats[table]
        assert isinstance(s, FileStats) and s.source == "sirene" and s.millesime == "2025-12"
        assert (s.rows_read, s.rows_out_of_scope, s.rows_staged, s.rows_rejected) == (read, out, staged, rejected)
        s.check()  # the identity read = staged + rejected + out of scope
        assert s.rows_read == s.rows_staged + s.rejected_total + s.rows_out_of_scope


def test_staged_establishments_and_units(loaded):
    con, _ = loaded
    assert {r[0] for r in con.execute(f"SELECT siret FROM {ETAB}").fetchall()} == STAGED_SIRETS
    assert {r[0] for r in con.execute(f"SELECT siren FROM {UL}").fetchall()} == {
        "012345678", "111111111", "222222222", "999999999"}
    # Types of the contract.
    types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {ETAB})").fetchall())
    assert list(types) == [
        "siret", "siren", "nic", "statut_diffusion", "date_creation", "tranche_effectifs", "annee_effectifs",
        "etablissement_siege", "code_commune", "code_postal", "etat_administratif", "date_debut",
        "activite_principale", "nomenclature_activite", "activite_principale_naf25", "caractere_employeur",
        "denomination_usuelle", "enseigne"]
    assert (types["date_creation"], types["annee_effectifs"], types["etablissement_siege"]) == (
        "DATE", "INTEGER", "BOOLEAN")
    assert [r[0] for r in con.execute(f"DESCRIBE {UL}").fetchall()] == [
        "siren", "statut_diffusion", "date_creation", "categorie_juridique", "activite_principale",
        "nomenclature_activite", "activite_principale_naf25", "economie_sociale_solidaire", "societe_mission",
        "caractere_employeur", "tranche_effectifs", "annee_effectifs", "etat_administratif", "nic_siege",
        "categorie_entreprise", "date_debut", "denomination"]
    assert [r[0] for r in con.execute(f"DESCRIBE {ETAB_H}").fetchall()] == [
        "siret", "siren", "nic", "date_debut", "date_fin", "etat_administratif", "activite_principale",
        "nomenclature_activite", "caractere_employeur"]
    assert [r[0] for r in con.execute(f"DESCRIBE {UL_H}").fetchall()] == [
        "siren", "date_debut", "date_fin", "etat_administratif", "categorie_juridique", "activite_principale",
        "nomenclature_activite", "economie_sociale_solidaire", "caractere_employeur", "nic_siege"]


def test_leading_zeros_dates_and_booleans(loaded):
    con, _ = loaded
    row = _one(con, ETAB, "siret = '01234567800011'")
    assert (row["siren"], row["nic"], row["code_postal"]) == ("012345678", "00011", "38000")
    assert str(row["date_creation"]) == "2001-02-03" and row["annee_effectifs"] == 2023
    assert row["etablissement_siege"] is True
    assert row["enseigne"] == 'LE "BON", COIN' and row["denomination_usuelle"] == "ALPHA"
    closed = _one(con, ETAB, "siret = '01234567800029'")
    assert (closed["etat_administratif"], closed["etablissement_siege"]) == ("F", False)
    assert _one(con, ETAB, "siret = '22222222200012'")["code_commune"] == "38225"


def test_partial_diffusion_hides_identifying_fields(loaded):
    con, _ = loaded
    etab = _one(con, ETAB, "siret = '11111111100014'")
    assert etab["statut_diffusion"] == "P"
    assert etab["denomination_usuelle"] is None and etab["enseigne"] is None  # '[ND]' and even a real value
    ul = _one(con, UL, "siren = '111111111'")
    assert ul["denomination"] is None and ul["statut_diffusion"] == "P"
    # Nothing identifying leaks through the rejects either.
    assert "SECRET" not in str(con.execute("SELECT list(ligne) FROM staging_rejets").fetchone()[0])


def test_legal_forms_and_size_bands_are_data_not_rejects(loaded):
    con, _ = loaded
    forms = dict(con.execute(f"SELECT siren, categorie_juridique FROM {UL}").fetchall())
    assert forms == {"012345678": "9220", "111111111": "5400", "222222222": "9999", "999999999": "9220"}
    bands = dict(con.execute(f"SELECT siret, tranche_effectifs FROM {ETAB}").fetchall())
    assert bands["01234567800011"] == "00" and bands["01234567800029"] == "NN"
    assert bands["11111111100014"] is None  # empty in the file
    assert _one(con, UL, "siren = '111111111'")["tranche_effectifs"] is None


def test_duplicates_keep_the_latest_processed_row(loaded):
    con, _ = loaded
    assert _one(con, ETAB, "siret = '99999999900011'")["enseigne"] == "NOUVELLE"
    assert _one(con, UL, "siren = '999999999'")["denomination"] == "NOUVEAU NOM"


def test_rejects_keep_key_and_reason(loaded):
    con, _ = loaded
    rejects = con.execute(
        "SELECT table_staging, cle, motif_rejet FROM staging_rejets ORDER BY 1, 2, 3").fetchall()
    assert rejects == sorted([
        (ETAB, "0777777700016", "siren invalide"),
        (ETAB, "88888888800099", "siret différent de siren + nic"),
        (ETAB, "12121212100010", "date de création illisible"),
        (ETAB, "13131313100011", "code commune invalide"),
        (ETAB, "14141414100012", "code commune absent (établissement non localisable)"),
        (ETAB, "99999999900011", "siret en double"),
        (UL, "999999999", "siren en double"),
        (UL, "151515151", "date de début illisible"),
        (ETAB_H, "15151515100013", "période en double"),
        (ETAB_H, "11111111100014", "date de début illisible"),
        (UL_H, "999999999", "date de fin illisible"),
        (UL_H, "222222222", "nic du siège invalide"),
    ])
    fichier = con.execute(f"SELECT DISTINCT fichier FROM staging_rejets WHERE table_staging = '{ETAB}'").fetchall()
    assert fichier[0][0].endswith("StockEtablissement_utf8.zip")


def test_histories_are_restricted_and_typed(loaded):
    con, _ = loaded
    periods = con.execute(f"SELECT siret, CAST(date_debut AS VARCHAR), CAST(date_fin AS VARCHAR), "
                          f"activite_principale FROM {ETAB_H} ORDER BY 1, 2 NULLS FIRST").fetchall()
    assert periods == [
        ("01234567800011", "2001-02-03", "2010-01-01", "94.99Z"),
        ("01234567800011", "2010-01-01", None, "88.99B"),
        ("01234567800029", "2001-02-03", "2020-05-01", "94.99Z"),
        ("01234567800029", "2020-05-01", None, "94.99Z"),
        ("15151515100013", "2019-01-01", None, "94.99Z"),
        ("22222222200012", None, None, "94.99Z"),
        ("99999999900011", "2018-01-01", None, "94.99Z"),
    ]
    ul_periods = con.execute(f"SELECT siren, CAST(date_debut AS VARCHAR), economie_sociale_solidaire, "
                             f"categorie_juridique FROM {UL_H} ORDER BY 1, 2 NULLS FIRST").fetchall()
    assert ul_periods == [("012345678", "1999-12-31", None, "9220"), ("012345678", "2015-01-01", "O", "9220"),
                          ("111111111", None, "O", "5400")]


LAYOUT_PAIRS = [(ETABLISSEMENT_54, UNITE_LEGALE_35), (ETABLISSEMENT_53, UNITE_LEGALE_34),
                (ETABLISSEMENT_48, UNITE_LEGALE_33)]


@pytest.mark.parametrize("fmt,typed", [("csv", False), ("parquet", False), ("parquet", True)])
@pytest.mark.parametrize("etab_layout,ul_layout", LAYOUT_PAIRS, ids=["54-35", "53-34", "48-33"])
def test_every_layout_and_deliverable_gives_the_same_rows(tmp_path, loaded, fmt, typed, etab_layout, ul_layout):
    ref_con, _ = loaded
    # An unknown extra column, in the middle of the header, is ignored.
    etab_layout = etab_layout[:10] + ("colonneInconnue",) + etab_layout[10:]
    rows = [dict(r, colonneInconnue="x") for r in ETABLISSEMENTS]
    folder = write_snapshot(tmp_path / "snap", dict(DATA, etablissements=rows), fmt=fmt, typed=typed,
                            layouts={"etablissements": etab_layout, "unites_legales": ul_layout})
    con, stats = _load(folder, tmp_path)
    for table, (read, out, staged, rejected) in EXPECTED.items():
        s = stats[table]
        assert (s.rows_read, s.rows_out_of_scope, s.rows_staged, s.rows_rejected) == (read, out, staged, rejected)
    # Columns that older layouts lack: NULL there, the reference value otherwise.
    optional = {(ETAB, "activite_principale_naf25"): "activitePrincipaleNAF25Etablissement" in etab_layout,
                (UL, "activite_principale_naf25"): "activitePrincipaleNAF25UniteLegale" in ul_layout,
                (UL, "societe_mission"): "societeMissionUniteLegale" in ul_layout}
    for table, order in [(ETAB, "siret"), (UL, "siren"), (ETAB_H, "siret, date_debut"), (UL_H, "siren, date_debut")]:
        got, ref = _rows(con, table, order), _rows(ref_con, table, order)
        assert len(got) == len(ref)
        for g, r in zip(got, ref):
            for (t, col), present in optional.items():
                if t == table:
                    reference = r.pop(col)
                    assert g.pop(col) == (reference if present else None), (table, col)
        assert got == ref, table
    naf25 = _one(con, ETAB, "siret = '01234567800011'")["activite_principale_naf25"]
    assert naf25 == ("94.99Y" if len(etab_layout) == 55 else None)


def test_integer_typed_parquet_codes_get_their_zeros_back(tmp_path):
    folder = write_snapshot(tmp_path / "snap", DATA, fmt="parquet", typed=True)
    import pyarrow.parquet as pq

    assert str(pq.read_schema(folder / "StockUniteLegale_utf8.parquet").field("siren").type) == "int64"
    con, _ = _load(folder, tmp_path)
    row = _one(con, ETAB, "siret = '01234567800011'")
    assert (row["siren"], row["nic"]) == ("012345678", "00011")
    assert _one(con, UL, "siren = '012345678'")["nic_siege"] == "00011"
    assert con.execute(f"SELECT count(*) FROM {UL} WHERE siren = '012345678'").fetchone()[0] == 1


def test_corsica(tmp_path):
    rows = [etablissement("10000000000001", "2A004"), etablissement("20000000000002", "2B033"),
            etablissement("30000000000003", "20004"), etablissement("40000000000004", "38185")]
    folder = write_snapshot(tmp_path / "snap", {"etablissements": rows, "unites_legales": [],
                                                 "etablissements_historique": [],
                                                 "unites_legales_historique": []})
    con, stats = _load(folder, tmp_path, departement="2a")
    assert con.execute(f"SELECT siret, code_commune FROM {ETAB}").fetchall() == [("10000000000001", "2A004")]
    assert (stats[ETAB].rows_read, stats[ETAB].rows_out_of_scope) == (4, 3)
    con2, stats2 = _load(folder, tmp_path / "b", departement="2B")
    assert con2.execute(f"SELECT code_commune FROM {ETAB}").fetchall() == [("2B033",)]


def test_overseas_prefix_is_the_full_code(tmp_path):
    rows = [etablissement("10000000000001", "97101"), etablissement("20000000000002", "97209"),
            etablissement("30000000000003", "97411"), etablissement("40000000000004", "97")]
    folder = write_snapshot(tmp_path / "snap", {"etablissements": rows, "unites_legales": [],
                                                 "etablissements_historique": [],
                                                 "unites_legales_historique": []}, fmt="parquet")
    con, stats = _load(folder, tmp_path, departement="971")
    assert con.execute(f"SELECT code_commune FROM {ETAB}").fetchall() == [("97101",)]
    assert (stats[ETAB].rows_read, stats[ETAB].rows_out_of_scope, stats[ETAB].rows_staged) == (4, 3, 1)


@pytest.mark.parametrize("departement", ["20", "97", "96", "3A", "2C", ""])
def test_departement_must_be_a_real_code(tmp_path, departement):
    with pytest.raises(UserError, match="not a département code"):
        sirene.load(connect(), tmp_path, departement=departement, millesime="2025-12", work_dir=tmp_path)


def test_every_size_band_is_kept_as_text(tmp_path):
    bands = ["NN", "00", "01", "02", "03", "11", "12", "21", "22", "31", "32", "41", "42", "51", "52", "53", ""]
    rows = [etablissement(f"1000000000{i:04d}", "38185", trancheEffectifsEtablissement=b)
            for i, b in enumerate(bands)]
    folder = write_snapshot(tmp_path / "snap", {"etablissements": rows, "unites_legales": [],
                                                 "etablissements_historique": [],
                                                 "unites_legales_historique": []})
    con, _ = _load(folder, tmp_path)
    got = [r[0] for r in con.execute(f"SELECT tranche_effectifs FROM {ETAB} ORDER BY siret").fetchall()]
    assert got == bands[:-1] + [None]


def test_malformed_csv_record_is_rejected_and_counted(tmp_path):
    folder = write_snapshot(tmp_path / "snap", DATA)
    write_zip(folder, "etablissements", ETABLISSEMENTS, extra_lines=["1,2,3,too,many," * 20])
    con, stats = _load(folder, tmp_path)
    s = stats[ETAB]
    assert s.rows_read == 18 and s.rows_staged == 6 and s.rows_out_of_scope == 5
    bad = {k: v for k, v in s.rows_rejected.items() if k.startswith(sirene.CSV_REJECT_REASON)}
    assert sum(bad.values()) == 1
    assert con.execute("SELECT count(*) FROM staging_rejets WHERE motif_rejet LIKE 'ligne CSV%'").fetchone()[0] == 1


# --- files that cannot be read -----------------------------------------------------------------------------


def test_find_stock_prefers_parquet_and_lists_what_is_there(tmp_path):
    folder = tmp_path / "snap"
    write_zip(folder, "etablissements", ETABLISSEMENTS)
    assert sirene.find_stock(folder, "etablissements").name == "StockEtablissement_utf8.zip"
    write_parquet(folder, "etablissements", ETABLISSEMENTS)
    assert sirene.find_stock(folder, "etablissements").name == "StockEtablissement_utf8.parquet"
    with pytest.raises(InputFileError, match=r"StockUniteLegale_utf8\.parquet or StockUniteLegale_utf8\.zip.*"
                                             r"StockEtablissement_utf8\.parquet"):
        sirene.find_stock(folder, "unites_legales")
    with pytest.raises(InputFileError, match="does not exist"):
        sirene.find_stock(tmp_path / "nowhere", "etablissements")


def test_zip_without_the_member(tmp_path):
    folder = write_snapshot(tmp_path / "snap", DATA)
    write_zip(folder, "etablissements", ETABLISSEMENTS, member="autre.csv")
    with pytest.raises(InputFileError, match=r"\['autre\.csv'\].*StockEtablissement_utf8\.csv"):
        _load(folder, tmp_path)


def test_truncated_zip(tmp_path):
    folder = write_snapshot(tmp_path / "snap", DATA)
    path = folder / "StockEtablissement_utf8.zip"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(InputFileError, match="StockEtablissement_utf8.zip.*download it again"):
        _load(folder, tmp_path)


def test_corrupt_member_surfaces_the_decompression_error(tmp_path):
    folder = write_snapshot(tmp_path / "snap", DATA)
    # Enough varied rows that damage in the middle of the deflate stream hits after DuckDB started reading.
    rows = [etablissement(f"{i:09d}{i % 100000:05d}", f"{i % 95 + 1:02d}{i % 900 + 100:03d}",
                          enseigne1Etablissement=f"ENSEIGNE {i * 7919 % 100003}") for i in range(1, 20000)]
    path = write_zip(folder, "etablissements", rows)
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(csv_member_name("etablissements"))
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    middle = start + info.compress_size // 2
    data[middle:middle + 64] = bytes(64)
    path.write_bytes(bytes(data))
    with pytest.raises(InputFileError, match="corrupt or truncated"):
        _load(folder, tmp_path)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_missing_required_column_is_named(tmp_path, fmt):
    folder = write_snapshot(tmp_path / "snap", DATA, fmt=fmt)
    layout = tuple(c for c in ETABLISSEMENT_54 if c != "codeCommuneEtablissement")
    (write_zip if fmt == "csv" else write_parquet)(folder, "etablissements", ETABLISSEMENTS, layout)
    with pytest.raises(InputFileError, match=r"StockEtablissement_utf8\.(zip|parquet).*codeCommuneEtablissement"):
        _load(folder, tmp_path)


def test_missing_optional_column_is_null(tmp_path):
    """societeMission appeared mid-2023: a 33-column file loads with it NULL (checked in the layout test too)."""
    assert "societeMissionUniteLegale" not in UNITE_LEGALE_33
    folder = write_snapshot(tmp_path / "snap", DATA, layouts={"unites_legales": UNITE_LEGALE_33})
    con, _ = _load(folder, tmp_path)
    assert con.execute(f"SELECT count(*) FROM {UL} WHERE societe_mission IS NOT NULL").fetchone()[0] == 0


def test_empty_csv_file_is_an_input_error(tmp_path):
    folder = write_snapshot(tmp_path / "snap", DATA)
    with zipfile.ZipFile(folder / "StockEtablissement_utf8.zip", "w") as z:
        z.writestr(csv_member_name("etablissements"), b"")
    with pytest.raises(InputFileError, match="empty"):
        _load(folder, tmp_path)


def test_raw_rows_of_the_department_are_left_in_work_dir(tmp_path):
    """The in-scope rows of each file stay in work_dir as text (for tracing): 12 establishments of 17."""
    folder = write_snapshot(tmp_path / "snap", DATA)
    _load(folder, tmp_path)
    con = connect()
    raw = tmp_path / "work" / "raw_sirene_etablissements.parquet"
    assert con.execute(f"SELECT count(*), min(_ligne), max(_ligne) FROM '{raw}'").fetchone() == (12, 1, 17)


def test_checksum_from_the_manifest_or_computed(tmp_path):
    import hashlib
    import json

    folder = write_snapshot(tmp_path / "snap", DATA, fmt="parquet")
    path = folder / "StockEtablissement_utf8.parquet"
    (folder / "manifest.json").write_text(json.dumps({"files": [
        {"name": path.name, "size": path.stat().st_size, "sha256": "a" * 64}]}))
    _, stats = _load(folder, tmp_path)
    assert stats[ETAB].sha256 == "a" * 64  # recorded at download: not recomputed
    ul_path = folder / "StockUniteLegale_utf8.parquet"
    assert stats[UL].sha256 == hashlib.sha256(ul_path.read_bytes()).hexdigest()  # not in the manifest
