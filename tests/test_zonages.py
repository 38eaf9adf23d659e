"""Zoning files (transforms/zonages.py): the format, every refusal with its exact message (file, line, value), the
layering of a user's folder over data/reference/, and the run's share of a zoning."""

from __future__ import annotations

from pathlib import Path

import pytest

import cube_fixtures as F
from ess import db, paths
from ess.errors import UserError
from transforms import outputs, zonages

HEADER = "code_commune,code_zone,libelle_zone"


def _zoning(folder: Path, name: str, text: str) -> Path:
    path = folder / "zonages" / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    return path


def _refused(path: Path) -> str:
    with pytest.raises(UserError) as err:
        zonages.read_zoning(path)
    return str(err.value)


def test_a_zoning_file_is_read_with_its_lines_labels_and_provenance(tmp_path):
    path = _zoning(tmp_path, "bassins_vie", f"""
\ufeff{HEADER},libelle_niveau,source,population
38001,B1,Bassin un,bassin de vie,insee_2022,10

38002,B2,,,insee_2022,20
38003, B2 ,Bassin deux,bassin de vie,,30
""")
    z = zonages.read_zoning(path)
    assert (z.niveau, z.libelle_niveau, z.source) == ("bassins_vie", "bassin de vie", "insee_2022")
    # line numbers of the file (the blank line 3 is skipped), values trimmed, an empty label is NULL
    assert z.rows == [(2, "38001", "B1", "Bassin un"), (4, "38002", "B2", None), (5, "38003", "B2", "Bassin deux")]
    # without the optional columns: the level's wording is its name
    z = zonages.read_zoning(_zoning(tmp_path, "quartiers_prioritaires", f"{HEADER}\n38001,Q1,Q\n"))
    assert (z.libelle_niveau, z.source) == ("quartiers prioritaires", None)


def test_the_committed_territoires_are_a_zoning():
    (z,) = [z for z in zonages.read_zonings() if z.niveau == "territoire"]
    assert z.path == paths.REFERENCE_DIR / "zonages" / "territoire.csv"
    assert (len(z.rows), len({r[2] for r in z.rows})) == (512, 13)
    assert (z.libelle_niveau, z.source) == ("territoire du Département", "approximation_epci")


def test_a_users_folder_adds_zonings_and_replaces_a_committed_one(tmp_path):
    _zoning(tmp_path, "bassins_vie", f"{HEADER}\n38001,B1,Bassin un\n")
    _zoning(tmp_path, "territoire", f"{HEADER}\n38001,T,Officiel\n")
    found = {z.niveau: z for z in zonages.read_zonings(tmp_path)}
    assert set(found) == {"bassins_vie", "territoire"}
    assert found["territoire"].rows == [(2, "38001", "T", "Officiel")]  # the user's file, whole


def test_bad_header(tmp_path):
    path = _zoning(tmp_path, "bassins", "code_commune,zone,libelle_zone\n38001,B1,Bassin\n")
    assert _refused(path) == (
        f"{path}, line 1: the header ['code_commune', 'zone', 'libelle_zone'] lacks the column(s) ['code_zone']; a "
        "zoning file's header is code_commune,code_zone,libelle_zone (optional: libelle_niveau, source)")
    path = _zoning(tmp_path, "bassins", f"{HEADER},code_zone\n38001,B1,Bassin,B2\n")
    assert _refused(path) == (
        f"{path}, line 1: the header ['code_commune', 'code_zone', 'libelle_zone', 'code_zone'] repeats the column(s) "
        "['code_zone']; a zoning file's header is code_commune,code_zone,libelle_zone (optional: libelle_niveau, "
        "source)")
    path = _zoning(tmp_path, "vide", "")
    assert "lacks the column(s) ['code_commune', 'code_zone', 'libelle_zone']" in _refused(path)


def test_level_names(tmp_path):
    path = _zoning(tmp_path, "epci", f"{HEADER}\n38001,E,E\n")
    assert _refused(path) == (
        f"{path}: the zoning's name 'epci' (its file name) is a level the pipeline builds from the COG (commune, "
        "epci, arrondissement, zone_emploi, departement): rename the file")
    path = _zoning(tmp_path, "Bassins-Vie", f"{HEADER}\n38001,B,B\n")
    assert _refused(path) == (
        f"{path}: the zoning's name 'Bassins-Vie' (its file name) must be lower-case letters, digits and '_', "
        "starting with a letter (e.g. bassins_vie.csv): rename the file")


def test_malformed_commune_duplicate_commune_and_empty_zone(tmp_path):
    path = _zoning(tmp_path, "bassins", f"{HEADER}\n38001,B1,Un\n3802,B1,Un\n")
    assert _refused(path) == (f"{path}, line 3: code_commune '3802' is not a commune code (5 characters, e.g. 38185 "
                              "or 2A004): correct it")
    path = _zoning(tmp_path, "bassins", f"{HEADER}\n38001,B1,Un\n38002,B2,Deux\n38001,B2,Deux\n")
    assert _refused(path) == (f"{path}, line 4: commune 38001 is already given a zone line 2: keep one line per "
                              "commune")
    path = _zoning(tmp_path, "bassins", f"{HEADER}\n38001,B1,Un\n38002, ,Deux\n")
    assert _refused(path) == f"{path}, line 3: commune 38002 has an empty code_zone: give it its zone's code"
    path = _zoning(tmp_path, "bassins", f"{HEADER}\n38001,non_renseigne,Inconnu\n")
    assert _refused(path) == (f"{path}, line 2: code_zone 'non_renseigne' is kept for establishments without a "
                              "commune: choose another code")


def test_one_wording_and_one_provenance_per_zoning(tmp_path):
    path = _zoning(tmp_path, "bassins", f"{HEADER},libelle_niveau\n38001,B1,Un,bassin de vie\n38002,B2,Deux,bassin\n")
    assert _refused(path) == (f"{path}, line 3: libelle_niveau 'bassin' differs from 'bassin de vie' (line 2): a "
                              "zoning has one libelle_niveau; give the same value on every line or leave it empty")


def test_the_runs_share_unknown_and_missing_communes(tmp_path):
    communes = {"38001", "38002", "38003"}
    z = zonages.read_zoning(_zoning(tmp_path, "bassins", f"""
{HEADER}
73001,S,Savoie
38001,B1,Un
38002,B2,Deux
38003,B2,Deux
"""))
    # a zoning of several départements: each run takes its own communes
    assert zonages.for_run(z, communes, "38") == [("38001", "B1", "Un"), ("38002", "B2", "Deux"),
                                                  ("38003", "B2", "Deux")]
    assert zonages.for_run(z, {"73001"}, "73") == [("73001", "S", "Savoie")]
    assert zonages.for_run(z, {"2A004"}, "2A") == []  # covers none of Corse-du-Sud's communes: absent
    path = _zoning(tmp_path, "bassins", f"{HEADER}\n38001,B1,Un\n38999,B1,Un\n38002,B2,Deux\n38003,B2,Deux\n")
    with pytest.raises(UserError) as err:
        zonages.for_run(zonages.read_zoning(path), communes, "38")
    assert str(err.value) == (f"{path}, line 3: commune 38999 is not a commune of département 38 in the run's COG: "
                              "correct the code (an old code must be replaced by the current commune's) or remove "
                              "the line")
    many = {f"380{k:02d}" for k in range(1, 21)}
    path = _zoning(tmp_path, "bassins", f"{HEADER}\n38001,B1,Un\n38002,B2,Deux\n")
    with pytest.raises(UserError) as err:
        zonages.for_run(zonages.read_zoning(path), many, "38")
    assert str(err.value) == (f"{path}: the zoning covers département 38 but leaves out 18 of its 20 communes (e.g. "
                              "38003, 38004, 38005, 38006, 38007): give every commune of the département a zone")


def test_a_refused_zoning_stops_the_outputs_step_before_any_figure(tmp_path):
    ref = tmp_path / "ref"
    path = _zoning(ref, "bassins", f"{HEADER}\n38001,B1,Un\n38002,B2,Deux\n")
    tables = F.write_tables(tmp_path / "in")
    with pytest.raises(UserError, match=r"bassins\.csv: the zoning covers département 38 but leaves out 1 of its 3 "
                                        r"communes \(e\.g\. 38003\)"):
        outputs.build_outputs(tables, {**F.PARAMS, "reference_dir": str(ref)}, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert path.exists()


def test_the_cog_levels_of_the_sql_are_those_a_zoning_may_not_take(tmp_path):
    """zonages.NIVEAUX_COG mirrors sql/out/out_cube_communes.sql: with no zoning, the levels are exactly those."""
    ref = tmp_path / "ref"
    _zoning(ref, "territoire", f"{HEADER}\n73001,S,Savoie\n")  # another département's only: absent here
    tables = F.write_tables(tmp_path / "in")
    con = db.connect()
    try:
        db.attach_tables(con, tables)
        outputs.build_cube(con, {**F.PARAMS, "reference_dir": str(ref)})
        levels = {r[0] for r in con.execute("SELECT DISTINCT niveau FROM out_cube_communes").fetchall()}
        cube = {r[0] for r in con.execute("SELECT DISTINCT niveau FROM out_indicateurs").fetchall()}
    finally:
        con.close()
    assert levels == cube == set(zonages.NIVEAUX_COG)


def test_the_report_takes_the_levels_their_order_and_wording_from_the_data(tmp_path):
    import pandas as pd

    from reports.context import ReportContext, niveaux_du_cube

    ref = tmp_path / "ref"
    _zoning(ref, "bassins_vie", f"{HEADER},libelle_niveau,source\n73001,B1,Un,bassin de vie,approximation_insee\n")
    rows = [("commune", c) for c in ("73001", "73002", "73003", "73004")] + [
        ("epci", "E1"), ("epci", "E2"), ("epci", "non_renseigne"), ("bassins_vie", "B1"), ("bassins_vie", "B2"),
        ("bassins_vie", "B3"), ("departement", "73")]
    cube = pd.DataFrame(rows, columns=["niveau", "code_territoire"])
    levels = niveaux_du_cube(cube, ref)
    # finest first by number of territories ('non_renseigne' is not one), the département last
    assert [(n.niveau, n.nb_territoires) for n in levels] == [
        ("commune", 4), ("bassins_vie", 3), ("epci", 2), ("departement", 1)]
    ctx = ReportContext(params={"departement": "73"}, cube=cube, year=2026, synthetic=True, nom_departement="Savoie",
                        libelle_perimetre="", description_perimetre="", niveaux=levels)
    # the territory pages show the zoning, in its file's words, and say it is an approximation
    assert (ctx.niveau_territoires.niveau, ctx.niveau_territoires.par, ctx.niveau_territoires.libelle) == (
        "bassins_vie", "bassin de vie", "Bassin de vie")
    assert ctx.territoires_approches
    # without a zoning: the arrondissements, with the report's own words
    ctx.niveaux = [n for n in levels if not n.zonage]
    assert (ctx.niveau_territoires.niveau, ctx.niveau_territoires.par) == ("arrondissement", "arrondissement")
    assert not ctx.territoires_approches
