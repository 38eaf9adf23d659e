"""The core step as a whole: territory placement, the output contract, Parquet export and provenance."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from core_fixtures import PARAMS, build, by_siret, siret, write_fixture
from ess import db
from ess.errors import UserError
from transforms.columns import names
from transforms.core import OUTPUTS, build_core


def S(n, unit=None):
    return siret(n, unit if unit is not None else n)


@pytest.fixture(scope="module")
def core(tmp_path_factory):
    return build(tmp_path_factory.mktemp("core"))


def test_old_commune_codes_are_mapped_to_the_current_cog(core):
    con, _ = core
    t = by_siret(con, "SELECT siret, code_commune_source, code_commune, code_epci, code_arrondissement, "
                      "code_zone_emploi, motif_placement FROM core_etablissements")
    # Les Abrets (38174) and La Bâtie-Divisin (38113) merged into Les Abrets en Dauphiné (38001)
    assert t[S(2)] == ("38174", "38001", "200068567", "382", "8411", None)
    assert t[S(6)][1:3] == ("38001", "200068567")
    assert t[S(1)] == ("38185", "38185", "200040715", "381", "8405", None)


def test_epci_across_the_border(core):
    con, _ = core
    t = by_siret(con, "SELECT siret, code_commune, code_epci, code_departement, motif_placement "
                      "FROM core_etablissements")
    # Vienne is in Vienne Condrieu Agglomération, which extends into the Rhône: the establishment is placed in the
    # EPCI and stays in the département
    assert t[S(3)] == ("38544", "200077014", "38", None)
    # an establishment whose commune lies in the Rhône part of that EPCI is not placed in the département
    assert t[S(14, 1)] == (None, None, "38", "hors_departement")


def test_unplaceable_establishments_are_kept_with_a_reason(core):
    con, stats = core
    t = by_siret(con, "SELECT siret, code_commune_source, code_commune, motif_placement FROM core_etablissements")
    assert t[S(10)] == (None, None, "commune_absente")
    assert t[S(11)] == ("38998", None, "commune_inconnue")
    assert t[S(13)] == ("38999", "38185", "passage_ambigu")  # split between two communes: first one, flagged
    assert stats["motifs_placement"] == {"commune_absente": 1, "commune_inconnue": 1, "hors_departement": 1,
                                         "passage_ambigu": 1}
    assert stats["etablissements"] == 18  # nobody dropped


def test_partial_diffusion_hides_identifying_fields(core):
    con, _ = core
    names_ = by_siret(con, "SELECT siret, statut_diffusion, denomination, enseigne FROM core_etablissements")
    assert names_[S(4)] == ("P", None, None)
    assert names_[S(1)] == ("O", "Etab 1", "Enseigne 1")


def test_core_etablissements_has_the_contract_columns(core):
    con, _ = core
    cols = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE core_etablissements)").fetchall())
    # issue 11: perimeters are rows of perimetres.csv, listed per establishment in perimetres_inclus; the three
    # per-perimeter columns leave transforms/columns.py when the branches are merged
    retired = {"perimetre_insee", "perimetre_loi2014", "perimetre_flag"}
    assert not retired & set(cols)
    assert set(names("core_etablissements")) - retired <= set(cols)
    assert cols["perimetres_inclus"] == "VARCHAR[]"
    assert con.execute("SELECT count(*) FROM core_etablissements WHERE perimetres_inclus IS NULL "
                       "OR dans_perimetre IS NULL OR actif IS NULL").fetchone()[0] == 0
    # every estimate lies in its 90 % interval, is never negative, and is 0 for establishments closed at 31/12/Y
    assert con.execute("SELECT count(*) FROM core_etablissements WHERE NOT (0 <= effectif_ic90_bas "
                       "AND effectif_ic90_bas <= effectif_central + 1e-9 AND effectif_central <= effectif_ic90_haut "
                       "+ 1e-9)").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM core_etablissements WHERE NOT actif_fin_annee_effectif "
                       "AND effectif_central <> 0").fetchone()[0] == 0


def test_build_core_writes_parquet_with_provenance_and_same_bytes_twice(tmp_path):
    tables = write_fixture(tmp_path / "staging")
    first = build_core(tables, PARAMS, tmp_path / "out1")
    second = build_core(tables, PARAMS, tmp_path / "out2")
    assert set(first.tables) == set(OUTPUTS)
    json.dumps(first.to_dict())  # Prefect must be able to persist it
    meta = pq.read_schema(first.tables["core_etablissements"]).metadata
    assert meta[b"ess:synthetic"] == b"true" and meta[b"ess:perimetre"] == b"insee"
    for name in OUTPUTS:
        a = open(first.tables[name], "rb").read()
        b = open(second.tables[name], "rb").read()
        assert a == b, name
    assert not list((tmp_path / "out1").glob("*.duckdb")) and not list((tmp_path / "out1").glob("ess-core-*"))


def test_missing_required_table_is_a_user_error(tmp_path):
    tables = write_fixture(tmp_path / "staging")
    del tables["staging_sirene_unites_legales"]
    with pytest.raises(UserError, match="staging_sirene_unites_legales"):
        build_core(tables, PARAMS, tmp_path / "out")


def test_optional_tables_may_be_absent(tmp_path):
    con, stats = build(tmp_path, without=("staging_sirene_etablissements_historique",
                                          "staging_sirene_unites_legales_historique"))
    assert con.execute("SELECT count(*) FROM core_etablissements_annuel").fetchone()[0] == 0
    assert "staging_sirene_etablissements_historique" in stats["tables_absentes"]


def test_sql_parameters_are_bound_not_pasted(tmp_path):
    # a département code that is not in the COG simply places nobody (no SQL error, no injection)
    con, _ = build(tmp_path)
    n = db.build_table(con, "core_etablissements_prep", departement="38' OR '1'='1", perimetre="insee")
    assert n == 18
    assert con.execute("SELECT count(*) FROM core_etablissements_prep WHERE code_commune IS NOT NULL"
                       ).fetchone()[0] == 0


def test_duplicate_siret_in_staging_stops_the_run(tmp_path):
    from core_fixtures import ETABLISSEMENTS

    tables = write_fixture(tmp_path / "staging", etablissements=ETABLISSEMENTS + ETABLISSEMENTS[:1])
    with pytest.raises(UserError, match=r"1 duplicate siret value\(s\), e.g. \['00000000100001'\]"):
        build_core(tables, PARAMS, tmp_path / "out")


def test_zone_emploi_comes_from_urssaf_when_the_cog_has_none(tmp_path):
    from transforms.core import run_core

    tables = write_fixture(tmp_path / "staging")
    con = db.connect()
    # the committed COG reference has no zone d'emploi; URSSAF's commune × APE table gives 38185 two rows in 8405
    # and one in 8499: the most frequent wins; the zone's name is the one its rows give
    for name, sql in {
        "staging_communes": "SELECT * REPLACE (NULL::VARCHAR AS code_zone_emploi) FROM read_parquet(?)",
        "staging_urssaf_commune_ape": "SELECT * REPLACE (CASE WHEN code_commune = '38185' THEN "
                                      "(CASE WHEN row_number() OVER (ORDER BY code_ape) = 1 THEN '8499' ELSE '8405' "
                                      "END) END AS code_zone_emploi, CASE WHEN code_commune = '38185' THEN "
                                      "(CASE WHEN row_number() OVER (ORDER BY code_ape) = 1 THEN 'Ailleurs' ELSE "
                                      "'Voiron' END) END AS libelle_zone_emploi) FROM read_parquet(?)",
    }.items():
        frame = con.execute(sql, [str(tables[name])]).df()
        frame.to_parquet(tables[name], index=False)
    n_38185 = con.execute("SELECT count(*) FROM read_parquet(?) WHERE code_commune = '38185'",
                          [str(tables["staging_urssaf_commune_ape"])]).fetchall()[0][0]
    assert n_38185 >= 3, "the fixture needs three URSSAF rows in 38185 for this test"
    run_core(con, tables, PARAMS)
    zones = by_siret(con, "SELECT siret, code_zone_emploi FROM core_etablissements")
    assert zones[S(1)] == "8405"
    assert con.execute("SELECT code_zone_emploi, libelle_zone_emploi FROM core_communes "
                       "WHERE code_commune = '38185'").fetchall() == [("8405", "Voiron")]
    # a commune URSSAF does not know keeps no zone (the cube files it under 'non_renseigne')
    assert zones[S(2)] is None
