"""SIRENE loader: both deliverables, every layout, département filter, staging checks and row accounting.

Known answers are counted by hand on the small snapshot below (département 38).
"""

from __future__ import annotations

import zipfile
from datetime import date
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
    official_filename,
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
    """2A/2B are the département codes; a code of the old département 20 (before 1976) is placed through the
    committed list of old codes (20004 is Ajaccio, 2A004), and one that list does not know is rejected, once."""
    rows = [etablissement("10000000000001", "2A004"), etablissement("20000000000002", "2B033"),
            etablissement("30000000000003", "20004"), etablissement("40000000000004", "38185"),
            etablissement("50000000000005", "20999")]
    folder = write_snapshot(tmp_path / "snap", {"etablissements": rows, "unites_legales": [],
                                                 "etablissements_historique": [],
                                                 "unites_legales_historique": []})
    con, stats = _load(folder, tmp_path, departement="2a")
    assert con.execute(f"SELECT siret, code_commune FROM {ETAB} ORDER BY 1").fetchall() == [
        ("10000000000001", "2A004"), ("30000000000003", "20004")]
    assert (stats[ETAB].rows_read, stats[ETAB].rows_out_of_scope) == (5, 3)
    assert con.execute("SELECT cle, motif_rejet, departements FROM staging_rejets").fetchall() == [
        ("50000000000005", "ancien code commune de Corse inconnu", [])]
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
    """A record with too many fields cannot be placed: rejected once, nationally, with its line and its key."""
    folder = write_snapshot(tmp_path / "snap", DATA)
    write_zip(folder, "etablissements", ETABLISSEMENTS,
              extra_lines=["161616161,00016,16161616100016,too,many," * 20, "1,2,3,4," * 20])
    con, stats = _load(folder, tmp_path)
    s = stats[ETAB]
    assert s.rows_read == 19 and s.rows_staged == 6 and s.rows_out_of_scope == 9  # for 38: rows of nowhere
    assert con.execute("SELECT cle, numero_ligne, motif_rejet, departements FROM staging_rejets "
                       "WHERE motif_rejet LIKE 'ligne CSV%' ORDER BY numero_ligne").fetchall() == [
        ("16161616100016", 19, "ligne CSV illisible : trop de champs", []),
        (None, 20, "ligne CSV illisible : trop de champs", []),  # '3' is not a siret: no key
    ]


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
    # `ess fetch` serves only the latest millésime: the advice says so and names where older files go
    with pytest.raises(InputFileError, match=r"latest millésime only.*official files of 2019-01 you have in "
                                             r".*in/sirene/2019-01/"):
        sirene.find_stock(tmp_path / "in" / "sirene" / "2019-01", "etablissements")


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
    """The rows kept by the read stay in work_dir as text (for tracing), a folder per reader: the 10 establishments
    of 38, the 3 without a commune (abroad or nowhere) and the malformed code, numbered as read in their pipe, plus
    the block markers (one block here: block 0 in the first pipe, an end marker in each)."""
    folder = write_snapshot(tmp_path / "snap", DATA)
    _load(folder, tmp_path)
    con = connect()
    raw = sorted((tmp_path / "work").glob("raw_sirene_etablissements.*"))
    assert [p.name for p in raw] == ["raw_sirene_etablissements.0", "raw_sirene_etablissements.1"]
    paths = [str(p / "*.parquet") for p in raw]
    assert con.execute("SELECT _tube, _ligne, split_part(_marque, ':', 2) FROM read_parquet(?) "
                       "WHERE _marque IS NOT NULL ORDER BY ALL", [paths]).fetchall() == [
        (0, 1, "0"), (0, 19, "end"), (1, 1, "end")]
    assert con.execute("SELECT count(*), min(_ligne), max(_ligne), count(*) FILTER (codeCommuneEtablissement "
                       "LIKE '38%') FROM read_parquet(?) WHERE _marque IS NULL", [paths]).fetchone() == (
        13, 2, 18, 11)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_readers_kept_rows_span_several_files_with_the_same_result(tmp_path, monkeypatch, fmt):
    """A part's kept rows are written as a folder of files of at most RAW_GROUPS_PER_FILE row groups (DuckDB holds a
    file's footer until it closes it: one file per reader grew with the national file): here 6 000 more
    establishments of 38, row groups of 2 048 rows (DuckDB's least), one a file — the same staged rows, rejects and
    accounting as in one file."""
    from sources import sirene_read

    bulk = [etablissement(f"{800000000 + i:09d}00011", "38185") for i in range(6000)]
    folder = write_snapshot(tmp_path / "snap", {**DATA, "etablissements": ETABLISSEMENTS + bulk}, fmt=fmt)
    one_con, one_stats = _load(folder, tmp_path / "one")
    assert len(list((tmp_path / "one" / "work" / "raw_sirene_etablissements.0").glob("*.parquet"))) == 1
    monkeypatch.setattr(sirene_read, "RAW_ROW_GROUP", 2048)
    monkeypatch.setattr(sirene_read, "RAW_GROUPS_PER_FILE", 1)
    con, stats = _load(folder, tmp_path / "many")
    files = sorted((tmp_path / "many" / "work" / "raw_sirene_etablissements.0").glob("*.parquet"))
    assert len(files) > 1
    for table in (*sirene.TABLES, "staging_rejets"):
        assert con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall() == one_con.execute(
            f"SELECT * FROM {table} ORDER BY ALL").fetchall(), table
    assert {t: s.to_dict() for t, s in stats.items()} == {t: s.to_dict() for t, s in one_stats.items()}


def test_a_partitioned_write_buffers_fewer_rows_a_partition_when_there_are_many():
    """DuckDB buffers up to its flush threshold of rows in every partition: 44 key shares (every département at
    100 % of France) at a row group's worth each ran out of the frugal bound; the threshold shrinks with the
    partitions, down to one vector."""
    from sources.sirene_read import PARTITION_BUFFER_ROWS, RAW_ROW_GROUP, partition_flush_rows

    assert [partition_flush_rows(n) for n in (1, 14, 16, 44, 1000)] == [
        RAW_ROW_GROUP, RAW_ROW_GROUP, RAW_ROW_GROUP, PARTITION_BUFFER_ROWS // 44, 2048]
    assert PARTITION_BUFFER_ROWS // 44 == 5957


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


# --- every reject traceable: format before scope, line, column and value -------------------------------------


def _snapshot(folder: Path, fmt: str = "csv", **files) -> Path:
    data = {"etablissements": [], "unites_legales": [], "etablissements_historique": [],
            "unites_legales_historique": []}
    data.update(files)
    return write_snapshot(folder, data, fmt=fmt)


def _rejects(con, table: str = ETAB) -> list[tuple]:
    return con.execute("SELECT cle, numero_ligne, colonne, valeur, motif_rejet, departements FROM staging_rejets "
                       "WHERE table_staging = ? ORDER BY numero_ligne", [table]).fetchall()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_malformed_commune_code_is_rejected_never_out_of_scope(tmp_path, fmt):
    """'ABCDE' says nothing about where the establishment is: it is rejected (once, for no département), whichever
    département is asked for — before the fix it was counted among the other départements' rows."""
    rows = [etablissement("10000000000001", "38185"), etablissement("20000000000002", "ABCDE"),
            etablissement("30000000000003", "73065")]
    folder = _snapshot(tmp_path / "snap", fmt, etablissements=rows)
    for dep in ("38", "73"):
        con = connect()
        result = sirene.load_national(con, folder, departements=[dep], millesime="2025-12", work_dir=tmp_path / dep)
        national = result.national[0]
        assert (national.rows_read, national.rows_staged, national.rows_out_of_scope) == (3, 1, 1)
        assert national.rows_rejected == {"code commune invalide": 1}
        assert result.par_departement[dep][0].rows_rejected == {}  # the reject belongs to no département
        # line 3 of the CSV (header = 1), row 2 of the Parquet file
        line = 3 if fmt == "csv" else 2
        assert _rejects(con) == [("20000000000002", line, "codeCommuneEtablissement", "ABCDE",
                                  "code commune invalide", [])]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("matching", ["text", "integers", "frugal", "shares"])
def test_a_key_is_matched_on_its_trimmed_text_whichever_way_the_keys_are_held(tmp_path, monkeypatch, fmt, matching):
    """' 100000000' in the legal units' file is the staged establishment's unit 100000000 (kept, trimmed, staged); a
    key that only turns into the same integer ('0100000000', '1e8') is another key, out of scope — whether the keys
    are few (matched as text), more (as integers, then checked), many (a frugal read) or split by share. Before, few keys were
    matched as integers too, and those two rows were staged then rejected as the unit's own."""
    if matching == "integers":
        monkeypatch.setattr(sirene, "TEXT_KEYS_MAX", 0)
    elif matching == "frugal":
        monkeypatch.setattr(sirene, "PARALLEL_KEYS_MAX", 0)
    elif matching == "shares":
        monkeypatch.setattr(sirene, "MATCHED_KEYS_PER_SHARE", 1)  # two keys: two shares
    folder = _snapshot(
        tmp_path / "snap", fmt,
        etablissements=[etablissement("10000000000001", "38185"), etablissement("30000000000003", "38185")],
        unites_legales=[unite_legale(" 100000000"), unite_legale("200000000"), unite_legale("0100000000"),
                        unite_legale("1e8")],
        etablissements_historique=[etablissement_periode("10000000000001", "2020-01-01"),
                                   etablissement_periode("010000000000001", "2020-01-01"),
                                   etablissement_periode("10000000000001 ", "2019-01-01", "2020-01-01")])
    con = connect()
    result = sirene.load_national(con, folder, departements=["38"], millesime="2025-12", work_dir=tmp_path / "w")
    units, periods = (next(s for s in result.national if s.table == t) for t in (UL, ETAB_H))
    assert (units.rows_read, units.rows_staged, units.rejected_total, units.rows_out_of_scope) == (4, 1, 0, 3)
    assert con.execute(f"SELECT siren FROM {UL}").fetchall() == [("100000000",)]
    assert (periods.rows_read, periods.rows_staged, periods.rejected_total,
            periods.rows_out_of_scope) == (3, 2, 0, 1)
    assert con.execute(f"SELECT siret, date_debut FROM {ETAB_H} ORDER BY 2").fetchall() == [
        ("10000000000001", date(2019, 1, 1)), ("10000000000001", date(2020, 1, 1))]
    assert result.par_departement["38"][1].rows_out_of_scope == 3  # the département's own accounting alike
    assert con.execute("SELECT count(*) FROM staging_rejets").fetchone() == (0,)


def test_a_damaged_parquet_stock_is_named_in_one_line(tmp_path):
    """An empty or truncated Parquet deliverable: the file and DuckDB's reason in one line, not DuckDB's SQL echo."""
    folder = _snapshot(tmp_path / "snap", "parquet", etablissements=[etablissement("10000000000001", "38185")])
    path = sirene.find_stock(folder, "etablissements")
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(InputFileError) as error:
        sirene.load_national(connect(), folder, departements=["38"], millesime="2025-12", work_dir=tmp_path / "w")
    message = str(error.value)
    assert message.startswith(f"{path}: cannot be read as Parquet (") and message.endswith("download the file again")
    assert "\n" not in message and "LINE 1" not in message


def test_a_parquet_stock_interrupted_while_opened_is_not_blamed_on_the_file(tmp_path):
    """A failure behind the reads interrupts the read in progress (sources/sirene.py, _Behind), maybe while the next
    file is being opened: that interruption must reach the load as such — the failure's own error then comes out —,
    never as « cannot be read as Parquet; download the file again » about a sound file."""
    import duckdb

    from sources.sirene_read import open_stock

    folder = _snapshot(tmp_path / "snap", "parquet", etablissements=[etablissement("10000000000001", "38185")])
    path = sirene.find_stock(folder, "etablissements")

    class Interrupted:
        def execute(self, *args):
            raise duckdb.InterruptException("INTERRUPT Error: Interrupted!")

    with pytest.raises(duckdb.InterruptException):
        with open_stock(Interrupted(), path, "etablissements"):
            pass


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_legal_unit_without_legal_category_is_rejected(tmp_path, fmt):
    """The perimeter is decided on the legal category: a unit whose category is empty (a damaged file) is rejected
    with its reason and counted — it was staged, and silently read as outside the ESS."""
    rows = [etablissement("10000000000001", "38185"), etablissement("20000000000002", "38185")]
    units = [unite_legale("100000000", categorieJuridiqueUniteLegale=""), unite_legale("200000000")]
    folder = _snapshot(tmp_path / "snap", fmt, etablissements=rows, unites_legales=units)
    con = connect()
    result = sirene.load_national(con, folder, departements=["38"], millesime="2025-12", work_dir=tmp_path / "w")
    stats = next(s for s in result.national if s.table == UL)
    assert (stats.rows_staged, stats.rows_rejected) == (1, {"catégorie juridique absente ou invalide": 1})
    assert [(r[0], r[2], r[4]) for r in _rejects(con, UL)] == [
        ("100000000", "categorieJuridiqueUniteLegale", "catégorie juridique absente ou invalide")]


def test_activity_codes_are_checked_against_their_nomenclature(tmp_path):
    rows = [
        etablissement("10000000000001", "38185", activitePrincipaleEtablissement="XX.XXX"),  # malformed
        etablissement("20000000000002", "38185", activitePrincipaleEtablissement="99.99Z"),  # not a NAF rév. 2 code
        etablissement("30000000000003", "38185", activitePrincipaleEtablissement="52.1D",
                      nomenclatureActivitePrincipaleEtablissement="NAFRev1"),  # old nomenclature: kept
        etablissement("40000000000004", "38185", nomenclatureActivitePrincipaleEtablissement=""),  # kept
        etablissement("50000000000005", "38185", nomenclatureActivitePrincipaleEtablissement="NAFRev9"),
        etablissement("60000000000006", "38185", activitePrincipaleNAF25Etablissement="94.99"),
        etablissement("70000000000007", "38185", activitePrincipaleEtablissement="52.1D"),  # NAFRev1 shape as rév. 2
    ]
    units = [unite_legale("100000000", activitePrincipaleUniteLegale="XX.XXX"), unite_legale("300000000")]
    con, stats = _load(_snapshot(tmp_path / "snap", etablissements=rows, unites_legales=units), tmp_path)
    assert {r[0] for r in con.execute(f"SELECT siret FROM {ETAB}").fetchall()} == {"30000000000003",
                                                                                   "40000000000004"}
    assert [(r[0], r[2], r[3], r[4]) for r in _rejects(con)] == [
        ("10000000000001", "activitePrincipaleEtablissement", "XX.XXX", "code d'activité mal formé"),
        ("20000000000002", "activitePrincipaleEtablissement", "99.99Z", "code d'activité inconnu de la nomenclature"),
        ("50000000000005", "nomenclatureActivitePrincipaleEtablissement", "NAFRev9",
         "nomenclature d'activité inconnue"),
        ("60000000000006", "activitePrincipaleNAF25Etablissement", "94.99", "code d'activité mal formé"),
        ("70000000000007", "activitePrincipaleEtablissement", "52.1D", "code d'activité mal formé"),
    ]
    # the legal unit of a rejected establishment is not needed; the one of a staged establishment is checked too
    assert stats[UL].rows_staged == 1
    units = [unite_legale("300000000", activitePrincipaleUniteLegale="XX.XXX")]
    con, stats = _load(_snapshot(tmp_path / "snap2", etablissements=rows[2:3], unites_legales=units),
                       tmp_path / "b")
    assert [(r[0], r[2], r[4], r[5]) for r in _rejects(con, UL)] == [
        ("300000000", "activitePrincipaleUniteLegale", "code d'activité mal formé", ["38"])]


def test_an_unknown_size_band_is_rejected_at_staging_with_its_file_row(tmp_path):
    """Two rows with band 'ZZ' used to block the whole publication with a message naming an internal table."""
    rows = [etablissement("10000000000001", "38185", trancheEffectifsEtablissement="ZZ"),
            etablissement("20000000000002", "38185", trancheEffectifsEtablissement="12"),
            etablissement("30000000000003", "38185", trancheEffectifsEtablissement="ZZ")]
    units = [unite_legale("200000000", trancheEffectifsUniteLegale="ZZ")]
    con, stats = _load(_snapshot(tmp_path / "snap", etablissements=rows, unites_legales=units), tmp_path)
    assert stats[ETAB].rows_rejected == {"tranche d'effectifs inconnue": 2} and stats[ETAB].rows_staged == 1
    assert [r[:5] for r in _rejects(con)] == [
        ("10000000000001", 2, "trancheEffectifsEtablissement", "ZZ", "tranche d'effectifs inconnue"),
        ("30000000000003", 4, "trancheEffectifsEtablissement", "ZZ", "tranche d'effectifs inconnue")]
    assert [r[:5] for r in _rejects(con, UL)] == [
        ("200000000", 2, "trancheEffectifsUniteLegale", "ZZ", "tranche d'effectifs inconnue")]
    json_line = con.execute("SELECT ligne FROM staging_rejets WHERE cle = '10000000000001'").fetchone()[0]
    assert '"tranche_effectifs":"ZZ"' in json_line.replace(" ", "")


def test_a_five_megabyte_field_is_rejected_with_its_key_and_a_longer_line_with_its_number(tmp_path):
    huge = "X" * (5 << 20)
    rows = [etablissement("10000000000001", "38185"),
            etablissement("20000000000002", "38185", enseigne1Etablissement=huge),
            etablissement("30000000000003", "38185", statutDiffusionEtablissement="P",
                          denominationUsuelleEtablissement="SECRET" * 400),
            etablissement("40000000000004", "38185")]
    folder = _snapshot(tmp_path / "snap", etablissements=rows)
    too_long_line = "50000000000005," + "Y" * (9 << 20)  # over the reader's 8 MiB line limit
    write_zip(folder, "etablissements", rows, extra_lines=[too_long_line])
    con, stats = _load(folder, tmp_path)
    assert stats[ETAB].rows_staged == 2 and stats[ETAB].rows_read == 5
    rejects = _rejects(con)
    assert [(r[0], r[1], r[2], r[4]) for r in rejects] == [
        ("20000000000002", 3, "enseigne1Etablissement", "valeur trop longue"),
        ("30000000000003", 4, "denominationUsuelleEtablissement", "valeur trop longue"),
        (None, 6, None, "ligne CSV illisible : ligne de plus de 8 Mio"),
    ]
    assert rejects[0][3] == "X" * 200 + f"… ({5 << 20} caractères)"
    assert rejects[1][3] == "[ND]"  # partial diffusion: nothing identifying, even in a reject
    assert "SECRET" not in str(con.execute("SELECT list(ligne) FROM staging_rejets").fetchone()[0])
    assert max(len(r[0]) for r in con.execute("SELECT CAST(ligne AS VARCHAR) FROM staging_rejets").fetchall()) < 5000


def test_a_typed_parquet_checks_the_length_of_its_text_columns_only(tmp_path):
    """Typed columns (dates, numbers, flags) have short texts: only the file's text columns are measured, and an
    over-long one is rejected with its column and row number as in a zip."""
    from sources.sirene_read import open_stock

    rows = [etablissement("10000000000001", "38185"),
            etablissement("20000000000002", "38185", enseigne2Etablissement="Z" * 1500)]
    folder = write_snapshot(tmp_path / "snap", {"etablissements": rows, "unites_legales": [],
                                                "etablissements_historique": [], "unites_legales_historique": []},
                            fmt="parquet", typed=True)
    with open_stock(connect(), folder / "StockEtablissement_utf8.parquet", "etablissements") as stock:
        unbounded = stock.unbounded()
    assert "enseigne2Etablissement" in unbounded and "siret" not in unbounded
    assert "dateCreationEtablissement" not in unbounded and "etablissementSiege" not in unbounded
    con, stats = _load(folder, tmp_path)
    assert stats[ETAB].rows_staged == 1 and stats[ETAB].rows_rejected == {"valeur trop longue": 1}
    assert [(r[0], r[1], r[2], r[4]) for r in _rejects(con)] == [
        ("20000000000002", 2, "enseigne2Etablissement", "valeur trop longue")]  # its row number in the file


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_read_split_by_key_share_buffers_a_row_group_on_the_cursor_that_writes(tmp_path, fmt):
    """A partitioned write buffers DuckDB's partitioned_write_flush_threshold rows, a connection's own setting: a
    zip's part is written on its reader's cursor, where the default (524 288 wide rows) ran every département at 10 %
    of France out of memory. The query below reports the setting it runs under; the connection gets its own back."""
    from sources.sirene_read import RAW_ROW_GROUP, copy_parts, open_stock

    folder = write_snapshot(tmp_path / "snap", {"etablissements": ETABLISSEMENTS, "unites_legales": [],
                                                "etablissements_historique": [], "unites_legales_historique": []},
                            fmt=fmt)
    con = connect()
    setting = "current_setting('partitioned_write_flush_threshold')"
    default = con.execute(f"SELECT {setting}").fetchone()[0]
    path = folder / f"StockEtablissement_utf8.{'zip' if fmt == 'csv' else 'parquet'}"
    with open_stock(con, path, "etablissements", 1) as stock:
        targets = [tmp_path / f"part{i}" for i in range(len(stock.parts))]
        copy_parts(con, stock, f"SELECT {setting} AS seuil, 0 AS _part FROM {{part}}", targets, {},
                   partition_by="_part")
        seen = {r[0] for t in targets for r in con.execute(
            f"SELECT DISTINCT seuil FROM read_parquet('{t}/*/*.parquet')").fetchall()}
        assert seen == {RAW_ROW_GROUP}
        assert {c.execute(f"SELECT {setting}").fetchone()[0] for c in [con, *stock.cursors]} == {default}


def test_a_zip_with_a_second_member_is_refused_naming_it(tmp_path):
    """Half the rows sat in a second member and were never read, without a word: now the zip is refused."""
    folder = _snapshot(tmp_path / "snap", etablissements=ETABLISSEMENTS)
    path = folder / "StockEtablissement_utf8.zip"
    with zipfile.ZipFile(path, "a") as z:
        z.writestr("StockEtablissement_utf8_2.csv", "siren,nic\n")
    with pytest.raises(InputFileError, match=r"StockEtablissement_utf8\.zip: the zip holds 2 members "
                                             r"\(\['StockEtablissement_utf8_2\.csv'\] besides "
                                             r"'StockEtablissement_utf8\.csv'\).*serves the latest millésime "
                                             r"only\) or put the complete file in place"):
        _load(folder, tmp_path)


@pytest.mark.parametrize("column,arrow_type,type_name", [
    ("dateCreationEtablissement", "int64", "BIGINT"),
    ("dateDebut", "float64", "DOUBLE"),
    ("activitePrincipaleEtablissement", "int32", "INTEGER"),
])
def test_a_parquet_column_of_the_wrong_type_is_named_with_its_type(tmp_path, column, arrow_type, type_name):
    """A Parquet stock whose dateCreationEtablissement is typed as an integer lost 15 316 of 15 349 rows as
    « date de création illisible », the type never named: now a clear error, before any row is read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = _snapshot(tmp_path / "snap", "parquet", etablissements=ETABLISSEMENTS)
    path = folder / "StockEtablissement_utf8.parquet"
    table = pq.read_table(path)
    values = pa.array([20010203 + i for i in range(table.num_rows)]).cast(arrow_type)
    pq.write_table(table.set_column(table.schema.get_field_index(column), column, values), path)
    with pytest.raises(InputFileError, match=rf"StockEtablissement_utf8\.parquet: column {column} is typed "
                                             rf"{type_name}; SIRENE's {column} is read as"):
        _load(folder, tmp_path)


def test_line_numbers_follow_the_file_after_a_malformed_record(tmp_path):
    """A CSV record's line counts the header and every record before it, malformed ones included."""
    rows = [etablissement("10000000000001", "38185"), etablissement("20000000000002", "38185")]
    folder = _snapshot(tmp_path / "snap", etablissements=rows)
    late = etablissement("30000000000003", "38185", dateDebut="2020-02-30")
    from sirene_fixtures import csv_bytes
    from sources.sirene_layouts import ETABLISSEMENT_54

    bad_then_late = ["1,2", csv_bytes([late], ETABLISSEMENT_54).decode().splitlines()[1]]
    write_zip(folder, "etablissements", rows, extra_lines=bad_then_late)
    con, _ = _load(folder, tmp_path)
    assert [(r[0], r[1], r[4]) for r in _rejects(con)] == [
        (None, 4, "ligne CSV illisible : champs manquants"),
        ("30000000000003", 5, "date de début illisible"),
    ]


# --- one read of the national files for several départements ------------------------------------------------

NATIONAL_ETABLISSEMENTS = [
    etablissement("10000000100011", "38185"),  # one legal unit with establishments in 38 and 73
    etablissement("10000000100029", "73065", etablissementSiege="false"),
    etablissement("20000000200012", "2A004"),
    etablissement("30000000300015", "69123"),  # another département
    etablissement("40000000400018", ""),  # nowhere: rejected once
    etablissement("50000000500011", "ABCDE"),  # malformed: rejected once
    etablissement("60000000600013", "38421", dateCreationEtablissement="2020-13-45"),  # rejected, in 38
]
NATIONAL_DATA = {
    "etablissements": NATIONAL_ETABLISSEMENTS,
    "unites_legales": [unite_legale("100000001"), unite_legale("200000002"), unite_legale("300000003"),
                       unite_legale("600000006"), unite_legale("999999999")],
    "etablissements_historique": [etablissement_periode("10000000100011", "2001-02-03"),
                                  etablissement_periode("10000000100029", "2001-02-03"),
                                  etablissement_periode("20000000200012", "2001-02-03"),
                                  etablissement_periode("30000000300015", "2001-02-03")],
    "unites_legales_historique": [unite_legale_periode("100000001", "1999-12-31", "2015-01-01"),
                                  unite_legale_periode("100000001", "2015-01-01"),
                                  unite_legale_periode("200000002", "2010-01-01"),
                                  unite_legale_periode("300000003", "2010-01-01")],
}


@pytest.mark.parametrize("fmt,per_share", [("csv", None), ("parquet", None), ("parquet", 1), ("csv", 1)])
def test_one_read_stages_every_departement_with_exact_accounting(tmp_path, monkeypatch, fmt, per_share):
    """per_share: the legal units and histories get their départements by joins on shares of the establishments'
    keys (all of France), here one establishment per share, each share's rows written apart once (_by_share): the
    same rows and the same accounting."""
    from sources import sirene_read

    if per_share:
        monkeypatch.setattr(sirene, "JOIN_KEYS_PER_SHARE", per_share)
        shares = []
        real_shares = sirene._key_shares
        monkeypatch.setattr(sirene, "_key_shares", lambda con: shares.append(real_shares(con)) or shares[-1])

    opened = []
    real_open = sirene.open_stock

    def counting_open(con, path, key, *args):
        opened.append(Path(path).name)
        return real_open(con, path, key, *args)

    monkeypatch.setattr(sirene, "open_stock", counting_open)
    assert sirene_read.open_stock is real_open
    folder = write_snapshot(tmp_path / "snap", NATIONAL_DATA, fmt=fmt)
    con = connect()
    result = sirene.load_national(con, folder, departements=["73", "2A", "38", "971"], millesime="2025-12",
                                  work_dir=tmp_path / "work")
    assert sorted(opened) == sorted(p.name for p in folder.glob("Stock*"))  # each national file once
    national = {s.table: (s.rows_read, s.rows_staged, s.rows_rejected, s.rows_out_of_scope) for s in result.national}
    assert national == {
        ETAB: (7, 3, {"code commune absent (établissement non localisable)": 1, "code commune invalide": 1,
                      "date de création illisible": 1}, 1),
        UL: (5, 2, {}, 3),  # the unit of 38 and 73 is staged once nationally…
        ETAB_H: (4, 3, {}, 1),
        UL_H: (4, 3, {}, 1),
    }
    per = {d: [(s.rows_staged, s.rejected_total, s.rows_out_of_scope) for s in stats]
           for d, stats in result.par_departement.items()}
    assert per == {
        "38": [(1, 1, 5), (1, 0, 4), (1, 0, 3), (2, 0, 2)],  # …and in both départements' shares
        "73": [(1, 0, 6), (1, 0, 4), (1, 0, 3), (2, 0, 2)],
        "2A": [(1, 0, 6), (1, 0, 4), (1, 0, 3), (1, 0, 3)],
        "971": [(0, 0, 7), (0, 0, 5), (0, 0, 4), (0, 0, 4)],
    }
    assert result.absents == ["971"]
    result.check()
    if per_share:
        assert shares and all(s == 3 for s in shares)  # 3 staged establishments, one per share
        assert not list((tmp_path / "work").glob("_staging_*"))  # the split rows removed once joined
    assert sorted(con.execute(f"SELECT _departement, siren FROM {UL}").fetchall()) == [
        ("2A", "200000002"), ("38", "100000001"), ("73", "100000001")]
    # the reject of 38 says so; those of no département say it too
    assert sorted(con.execute(f"SELECT cle, departements FROM staging_rejets").fetchall()) == [
        ("40000000400018", []), ("50000000500011", []), ("60000000600013", ["38"])]


# --- a zip parsed by several readers (the CSV dealt in blocks to several pipes) -------------------------------------

def _zip_bytes(folder: Path, key: str, content: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / official_filename(key, "csv")
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(csv_member_name(key), content)
    return path


def _split_snapshot(folder: Path, *, final_newline: bool = True) -> Path:
    """40 establishments of 38 with quoted commas, doubled quotes and quoted newlines, three malformed records at
    known lines (7, 20 and 33), and one record rejected by staging (line 13: 12 + the malformed one before it)."""
    from sirene_fixtures import csv_bytes
    from sources.sirene_layouts import ETABLISSEMENT_54

    signs = ['LES "AMIS", DU PARC', "SUR\nDEUX LIGNES", 'A, B et "C"\n"D"', "SIMPLE"]
    rows = [etablissement(f"{i:09d}{i % 90000 + 10000:05d}", "38185", enseigne1Etablissement=signs[i % 4],
                          dateCreationEtablissement="2020-13-45" if i == 110 else "2001-02-03")
            for i in range(100, 140)]
    lines = csv_bytes(rows, ETABLISSEMENT_54).decode().split("\n")  # quoted newlines split records too: rebuild
    header, records, current = lines[0], [], ""
    for part in lines[1:]:
        current = f"{current}\n{part}" if current else part
        if current.count('"') % 2 == 0:
            records.append(current)
            current = ""
    records = [r for r in records if r]
    assert len(records) == 40
    for line in (7, 20, 33):  # line n is the (n - 1)-th record
        records.insert(line - 2, "1,2" if line != 20 else "999,too,many," * 30)
    content = header + "\n" + "\n".join(records) + ("\n" if final_newline else "")
    _zip_bytes(folder, "etablissements", content.encode())
    for key, data in (("unites_legales", []), ("etablissements_historique", []), ("unites_legales_historique", [])):
        write_zip(folder, key, data)
    return folder


def _everything(con) -> dict:
    return {table: con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
            for table in (ETAB, "staging_rejets")} | {
        "lignes": con.execute("SELECT numero_ligne, motif_rejet FROM staging_rejets ORDER BY 1").fetchall()}


@pytest.mark.parametrize("readers,block", [(2, 64), (3, 700), (2, 1 << 21)])
def test_several_readers_stage_exactly_what_one_reader_stages(tmp_path, monkeypatch, readers, block):
    from sources import sirene_read

    folder = _split_snapshot(tmp_path / "snap")
    monkeypatch.setenv("ESS_SIRENE_LECTEURS", "1")
    one, one_stats = _load(folder, tmp_path / "one")
    expected = _everything(one)
    assert expected["lignes"] == [
        (7, "ligne CSV illisible : champs manquants"), (13, "date de création illisible"),
        (20, "ligne CSV illisible : trop de champs"), (33, "ligne CSV illisible : champs manquants")]
    assert len(expected[ETAB]) == 39 and one_stats[ETAB].rows_read == 43
    assert sorted({r[0] for r in one.execute(f"SELECT enseigne FROM {ETAB}").fetchall()}) == sorted(
        ['A, B et "C"\n"D"', 'LES "AMIS", DU PARC', "SIMPLE", "SUR\nDEUX LIGNES"])

    monkeypatch.setenv("ESS_SIRENE_LECTEURS", str(readers))
    monkeypatch.setattr(sirene_read, "BLOCK_BYTES", block)
    con, stats = _load(folder, tmp_path / "many")
    assert _everything(con) == expected
    assert stats[ETAB].to_dict() == one_stats[ETAB].to_dict()
    blocks, pipes = con.execute(
        "SELECT count(*), count(DISTINCT _tube) FROM read_parquet(?) WHERE _marque NOT LIKE '%:end:%'",
        [[str(p / "*.parquet") for p in sorted((tmp_path / "many" / "work").glob("raw_sirene_etablissements.*"))]]
    ).fetchone()
    if block == 64:  # a block per record, but the short "1,2" ones share the next record's block, and the last
        assert (blocks, pipes) == (42, readers)  # block is empty (the last cut falls on the file's last newline)


def test_a_last_record_without_newline_is_read_by_several_readers(tmp_path, monkeypatch):
    from sources import sirene_read

    monkeypatch.setattr(sirene_read, "BLOCK_BYTES", 64)
    con, stats = _load(_split_snapshot(tmp_path / "snap", final_newline=False), tmp_path)
    assert stats[ETAB].rows_read == 43 and stats[ETAB].rows_staged == 39
    assert con.execute(f"SELECT count(*) FROM {ETAB} WHERE siret = '00000013910139'").fetchone()[0] == 1


def test_a_stray_quote_that_hides_the_blocks_is_named_and_one_reader_reads_the_file(tmp_path, monkeypatch):
    """A quote inside an unquoted field flips the parity the child cuts by: the next cut lands inside a quoted
    field and a block marker is swallowed. The read stops with what to do; one reader never cuts the file."""
    from sirene_fixtures import csv_bytes
    from sources import sirene_read
    from sources.sirene_layouts import ETABLISSEMENT_54

    rows = [etablissement(f"{i:09d}{i + 10000:05d}", "38185", enseigne1Etablissement="SIMPLE") for i in range(100, 110)]
    rows[3]["enseigne1Etablissement"] = "ABXC"
    rows[6]["enseigne1Etablissement"] = "X\n" + "Y" * 300
    content = csv_bytes(rows, ETABLISSEMENT_54).decode().replace("ABXC", 'AB"C')
    folder = tmp_path / "snap"
    _zip_bytes(folder, "etablissements", content.encode())
    for key in ("unites_legales", "etablissements_historique", "unites_legales_historique"):
        write_zip(folder, key, [])
    monkeypatch.setattr(sirene_read, "BLOCK_BYTES", 64)
    with pytest.raises(InputFileError, match=r"StockEtablissement_utf8\.zip: a misplaced quote character .*"
                                             r"\(set ESS_SIRENE_LECTEURS=1 and run again"):
        _load(folder, tmp_path / "two")
    monkeypatch.setenv("ESS_SIRENE_LECTEURS", "1")
    con, stats = _load(folder, tmp_path / "one")
    # DuckDB reads the stray quote as a character and the quoted newline as part of its field
    assert (stats[ETAB].rows_read, stats[ETAB].rows_staged) == (10, 10)
    assert con.execute(f"SELECT enseigne FROM {ETAB} WHERE siret = '00000010310103'").fetchone() == ('AB"C',)
    assert con.execute(f"SELECT enseigne FROM {ETAB} WHERE siret = '00000010610106'").fetchone() == (
        "X\n" + "Y" * 300,)


def test_the_number_of_readers_must_be_a_number(tmp_path, monkeypatch):
    monkeypatch.setenv("ESS_SIRENE_LECTEURS", "deux")
    with pytest.raises(InputFileError, match="ESS_SIRENE_LECTEURS='deux': expected a number of readers from 1 to 16"):
        _load(write_snapshot(tmp_path / "snap", DATA), tmp_path)


def test_staging_out_of_memory_says_how_to_give_it_more(tmp_path, monkeypatch):
    # a national file too large for DuckDB's bound (e.g. a larger one than measured): the user is told the setting
    import duckdb

    from transforms import staging

    def out_of_memory(*args, **kwargs):
        raise duckdb.OutOfMemoryException("Out of Memory Error: could not allocate block of size 256.0 KiB")

    monkeypatch.setattr(sirene, "load_national", out_of_memory)
    folder = write_snapshot(tmp_path / "snap", NATIONAL_DATA, fmt="parquet")
    params = {"departements": ["73", "38"], "millesime": "2025-12"}
    with pytest.raises(UserError, match=r"staging sirene for 2 département\(s\) of .*snap.* needs more memory than "
                                        r"DuckDB's bound for staging \(183\.1 MiB\): set ESS_STAGING_MEMOIRE=1GB"):
        staging.stage_national("sirene", folder, params, tmp_path / "out")
    assert not list((tmp_path / "out").rglob("*.parquet"))  # nothing staged


def test_a_read_out_of_memory_is_not_blamed_on_the_file(tmp_path, monkeypatch):
    # the single read itself hits DuckDB's bound (11 large départements of a national file at 10 % of France did):
    # the message says how to give it more, and does not call a sound file unreadable
    import duckdb

    from transforms import staging

    def out_of_memory(*args, **kwargs):
        raise duckdb.OutOfMemoryException("Out of Memory Error: failed to pin block of size 256.0 KiB")

    monkeypatch.setattr(sirene, "copy_parts", out_of_memory)
    folder = write_snapshot(tmp_path / "snap", NATIONAL_DATA, fmt="parquet")
    with pytest.raises(UserError, match=r"needs more memory than DuckDB's bound for staging .*ESS_STAGING_MEMOIRE") as e:
        staging.stage_national("sirene", folder, {"departements": ["73", "38"], "millesime": "2025-12"},
                               tmp_path / "out")
    assert not isinstance(e.value, InputFileError) and "cannot be read" not in str(e.value)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_full_disk_during_the_read_is_not_blamed_on_the_file(tmp_path, fmt):
    """The read's first output file is /dev/full, which answers every write with the system's « No space left on
    device »: the error that comes out is the disk's, naming the file that could not be written (flows/cli.py prints
    the disk's message), not « cannot be read » of a sound national file (it said so before: exit 2, the file
    blamed)."""
    from ess.errors import system_problem

    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this machine")
    folder = write_snapshot(tmp_path / "snap", NATIONAL_DATA, fmt=fmt)
    work = tmp_path / "work"
    work.mkdir()
    full = work / "raw_sirene_etablissements.0.tmp" / "data_0.parquet"  # (a part is a folder: copy_parts)
    full.parent.mkdir()
    full.symlink_to("/dev/full")
    with pytest.raises(Exception) as e:
        sirene.load_national(connect(), folder, departements=["73", "38"], millesime="2025-12", work_dir=work)
    assert not isinstance(e.value, InputFileError) and "cannot be read" not in str(e.value)
    assert system_problem(e.value) == ("disk_full", str(full))


def test_no_room_to_spill_is_not_called_a_memory_bound(tmp_path, monkeypatch, spill_failure):
    """DuckDB reports a full disk under its temporary folder as an out-of-memory error: the staging does not turn it
    into « set ESS_STAGING_MEMOIRE » (more memory would not give the disk room)."""
    from ess.errors import system_problem
    from transforms import staging

    def no_room(*args, **kwargs):
        raise spill_failure

    monkeypatch.setattr(sirene, "load_national", no_room)
    folder = write_snapshot(tmp_path / "snap", NATIONAL_DATA, fmt="parquet")
    with pytest.raises(Exception) as e:
        staging.stage_national("sirene", folder, {"departements": ["73", "38"], "millesime": "2025-12"},
                               tmp_path / "out")
    assert e.value is spill_failure
    assert system_problem(e.value) == ("spill_full", None)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_frugal_staging_stages_exactly_what_the_parallel_one_stages(tmp_path, monkeypatch, fmt):
    """Many keys to match or many kept rows (every département) run a file's queries on one DuckDB thread with
    half of its memory bound: same rows, rejects and accounting, and the settings are restored after."""
    folder = write_snapshot(tmp_path / "snap", DATA, fmt=fmt)
    tables = (ETAB, UL, ETAB_H, UL_H, "staging_rejets")
    con, stats = _load(folder, tmp_path / "parallel")
    expected = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables}

    settings = "SELECT current_setting('threads'), current_setting('memory_limit')"
    real, frugal_files = sirene.frugal, []

    def spy(con, on):
        frugal_files.append(on)
        return real(con, on)

    monkeypatch.setattr(sirene, "PARALLEL_KEYS_MAX", 0)
    monkeypatch.setattr(sirene, "FRUGAL_KEPT_ROWS", 0)
    monkeypatch.setattr(sirene, "frugal", spy)
    frugal_con = connect(memory_limit="192MB")
    frugal_con.execute("SET threads = 2")
    frugal_stats = {s.table: s for s in sirene.load(frugal_con, folder, departement="38", millesime="2025-12",
                                                    work_dir=tmp_path / "frugal" / "work")}
    # each file once (the establishments after their read, the others from it), and the keys the others match
    assert frugal_files.count(True) == 5
    assert frugal_con.execute(settings).fetchone() == (2, "183.1 MiB")  # restored
    with real(frugal_con, True):
        assert frugal_con.execute(settings).fetchone() == (1, "91.5 MiB")  # one thread, half of 183.1 MiB
    assert {t: frugal_con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables} == expected
    assert {t: s.to_dict() for t, s in frugal_stats.items()} == {t: s.to_dict() for t, s in stats.items()}


@pytest.mark.parametrize("shown,expected", [("183.1 MiB", 192_046_694), ("1.0 GiB", 1_127_428_915),
                                            ("500.0 KiB", 512_051), ("134217728B", 134_217_728)])
def test_memory_limit_is_read_in_bytes(shown, expected):
    class Con:
        def execute(self, sql):
            return self

        def fetchone(self):
            return (shown,)

    from ess.db import memory_limit_bytes

    assert memory_limit_bytes(Con()) == expected
