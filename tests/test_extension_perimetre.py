"""The worked change « a new perimeter »: a researcher copies perimetres.csv into their own reference folder, adds ONE
row, and runs with that folder as `reference_dir` — no code change, the committed data/reference/ untouched.

The new row, `insee_sans_exclusions`, is the `insee` perimeter without the NAF exclusions (familles_cj = defaut,
unites_flag_o = false, exclusions_naf = false). Expected answers, by hand from tests/core_fixtures.py: `insee` holds
the active E01, E02, E03, E04, E14, E18 (6); the new perimeter adds the four active associations (9220, in the
default families) that an exclusion took out — E08 (94.20Z syndicats), E11 (94.91Y religious, NAF 2025), E13
(94.92Z political, from its legal unit) and E17 (84.13Z, division 84) — 10 establishments of 9 legal units (E14
belongs to U01 with E01). On the generated sample the same relation must hold: the new perimeter is `insee` plus
exactly the active establishments of a default family taken out by an exclusion.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import core_fixtures as CF
from ess import db, paths
from ess.errors import UserError
from transforms import core, outputs, reference

NEW = "insee_sans_exclusions"
NEW_ROW = (f"{NEW},Périmètre statistique sans exclusion d'activité,false,defaut,false,false,false,"
           "\"insee, sans retirer les activités de perimetre_exclusions_naf.csv\"\n")


def researcher_folder(tmp: Path) -> Path:
    """The researcher's change: a copy of perimetres.csv plus one row, in a folder of their own."""
    folder = tmp / "ma_reference"
    folder.mkdir()
    text = paths.reference_file("perimetres.csv").read_text(encoding="utf-8")
    (folder / "perimetres.csv").write_text(text + NEW_ROW, encoding="utf-8")
    return folder


def hand_built_territoires(folder: Path) -> None:
    """Not the researcher's change: the hand-built département's own `territoire` zoning (the committed one covers
    the real Isère communes, which its three-commune COG does not have)."""
    lines = ["code_commune,code_zone,libelle_zone"]
    lines += [f"{code},T{i % 2},Territoire {i % 2}" for i, (code, *_rest) in enumerate(CF.COMMUNES)
              if code.startswith("38")]
    (folder / "zonages").mkdir()
    (folder / "zonages" / "territoire.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def committed_digest() -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(paths.REFERENCE_DIR.glob("*.csv"))}


@pytest.fixture(scope="module")
def fixture_run(tmp_path_factory):
    """Core and outputs steps (protection included) on the hand-built département, with the researcher's folder."""
    tmp = tmp_path_factory.mktemp("extension")
    before = committed_digest()
    folder = researcher_folder(tmp)
    hand_built_territoires(folder)
    params = {**CF.PARAMS, "reference_dir": str(folder), "secret_processus": 1}
    tables = {k: Path(v) for k, v in CF.write_fixture(tmp / "staging").items()}
    built = core.build_core(tables, params, tmp / "core")
    tables.update({k: Path(v) for k, v in built.tables.items()})
    result = outputs.build_outputs(tables, params, tmp / "out")
    return {"core": built, "outputs": result, "before": before, "folder": folder, "params": params}


def test_the_new_perimeter_is_built_in_core(fixture_run):
    stats = fixture_run["core"].stats["core"]
    assert stats["actifs_par_perimetre"] == {"insee": 6, "loi2014": 7, "flag": 6, NEW: 10, "retenu": 6}
    etabs = pq.read_table(fixture_run["core"].tables["core_etablissements"]).to_pylist()
    members = {r["siret"] for r in etabs if r["actif"] and NEW in r["perimetres_inclus"]}
    insee = {r["siret"] for r in etabs if r["actif"] and "insee" in r["perimetres_inclus"]}
    S = CF.siret
    assert members - insee == {S(8, 8), S(11, 11), S(13, 13), S(17, 17)}
    assert insee <= members


def test_the_new_perimeter_is_in_the_cube_and_the_public_table(fixture_run):
    con = db.connect()
    tables = fixture_run["outputs"].tables
    for name in ("out_indicateurs", "out_indicateurs_public"):
        rows = con.execute(
            "SELECT perimetre, nb_etablissements FROM read_parquet(?) WHERE niveau = 'departement' AND famille = "
            "'ess' AND secteur = 'ensemble' AND classe_taille = 'ensemble' AND annee = 2026 ORDER BY perimetre",
            [str(tables[name])]).fetchall()
        assert rows == [("flag", 6), ("insee", 6), (NEW, 10), ("loi2014", 7)], name
    # protected with the others: in the employment year, an employment figure of the new perimeter is either
    # published or masked with its reason, and the primary rules did mask some of its small cells
    year = fixture_run["core"].stats["core"]["emploi"]["annee_effectifs"]
    unexplained, primary = con.execute(
        "SELECT count(*) FILTER (WHERE statut_secret_effectifs IS NULL "
        "OR (effectif_central IS NULL) = (statut_secret_effectifs = 'publie')), "
        "count(*) FILTER (WHERE effectif_central IS NULL AND statut_secret_effectifs IN ('frequence', 'dominance')) "
        "FROM read_parquet(?) WHERE perimetre = ? AND annee = ?",
        [str(tables["out_indicateurs_public"]), NEW, year]).fetchone()
    assert unexplained == 0 and primary > 0
    assert fixture_run["outputs"].stats["out_indicateurs_public"]["par_annee"]["perimetres"] == sorted(
        ["insee", "loi2014", "flag", NEW])


def test_the_new_perimeter_is_audited_against_every_other(fixture_run):
    con = db.connect()
    audit = str(fixture_run["outputs"].tables["out_audit_perimetre"])

    def count(code, perimetre=None):
        return con.execute("SELECT nb_unites_legales, nb_etablissements FROM read_parquet(?) WHERE code = ? "
                           "AND perimetre IS NOT DISTINCT FROM ?", [audit, code, perimetre]).fetchall()

    assert count(f"{NEW}_sans_insee") == [(4, 4)]  # E08, E11, E13, E17
    assert count(f"insee_sans_{NEW}") == [(0, 0)]
    assert count(f"insee_et_{NEW}") == [(5, 6)]
    assert count(f"loi2014_et_{NEW}") == [(5, 6)] and count(f"{NEW}_sans_loi2014") == [(4, 4)]
    # by legal form: the nine 9220 associations of the fixture that are active, seven of them in (E01, E14, E08,
    # E11, E13, E17, E18: units U01, U08, U11, U13, U17, U18)
    assert count("9220", NEW) == [(6, 7)]
    # the NAF rules it does not apply are not audited for it
    assert not con.execute("SELECT count(*) FROM read_parquet(?) WHERE rubrique = 'exclusion_naf' AND perimetre = ?",
                           [audit, NEW]).fetchone()[0]


def test_the_report_names_it_and_the_committed_reference_is_unchanged(fixture_run):
    assert reference.perimetre_labels(NEW, fixture_run["folder"]) == (
        "Périmètre statistique sans exclusion d'activité",
        "insee, sans retirer les activités de perimetre_exclusions_naf.csv")
    assert NEW in reference.perimetres(fixture_run["folder"])
    assert NEW not in reference.perimetres()  # the committed file does not know it
    assert committed_digest() == fixture_run["before"]


def test_outputs_refuse_a_perimeter_the_core_step_did_not_build(fixture_run, tmp_path):
    """The core step ran on the committed reference, the outputs step with the researcher's folder: the new
    perimeter would be published empty (nobody in it), so the step stops and says what to do."""
    assert outputs.core_perimetres(fixture_run["core"].tables["core_etablissements"]) == [
        "insee", "loi2014", "flag", NEW]
    tables = {k: Path(v) for k, v in CF.write_fixture(tmp_path / "staging").items()}
    built = core.build_core(tables, CF.PARAMS, tmp_path / "core")
    tables.update({k: Path(v) for k, v in built.tables.items()})
    with pytest.raises(UserError, match=r"core_etablissements was built with the perimeters \['insee', 'loi2014', "
                                        r"'flag'\], without \['insee_sans_exclusions'\]: run the core step again "
                                        r"with the same reference folder \(reference_dir\) as this step"):
        outputs.build_outputs(tables, fixture_run["params"], tmp_path / "out")


def test_on_the_generated_sample(tmp_path):
    """Staging, core and the cube with the audit on the tiny sample (scale 0.02), with the researcher's folder."""
    from bad_inputs import sample
    from transforms.staging import departement_tables, snapshot_dir, stage_source

    before = committed_digest()
    root = sample(tmp_path / "echantillon")
    folder = researcher_folder(tmp_path)
    sirene, urssaf = snapshot_dir(root, "sirene", None), snapshot_dir(root, "urssaf", None)
    params = {"departement": "38", "departements": ["38"], "millesime": sirene.name, "annee_urssaf": int(urssaf.name),
              "annee_cog": 2026, "perimetre": "insee", "synthetic": True, "run_id": "extension",
              "reference_dir": str(folder)}
    tables: dict[str, Path] = {}
    for source, snapshot in (("sirene", sirene), ("urssaf", urssaf), ("territoires", None)):
        staged = stage_source(source, snapshot, params, tmp_path / "staging" / source)
        tables.update({k: Path(v) for k, v in departement_tables(staged, "38").items()})
    built = core.build_core(tables, params, tmp_path / "core")
    tables.update({k: Path(v) for k, v in built.tables.items()})
    con = db.connect()
    db.attach_tables(con, {k: v for k, v in tables.items() if k.startswith(("core_", "staging_"))})
    outputs.build_cube(con, params)
    reference.load_reference(con, directory=folder)
    db.build_table(con, "out_audit_perimetre")

    # the relation, from core_etablissements: insee + the default-family establishments an exclusion took out
    insee, taken_out, new = con.execute(
        """SELECT count(*) FILTER (WHERE list_contains(perimetres_inclus, 'insee')),
                  count(*) FILTER (WHERE motif_exclusion IS NOT NULL AND f.inclus_par_defaut),
                  count(*) FILTER (WHERE list_contains(perimetres_inclus, $new))
           FROM core_etablissements AS e
           LEFT JOIN ref_perimetre_familles AS f USING (categorie_juridique)
           WHERE e.actif""", {"new": NEW}).fetchone()
    assert taken_out > 0 and new == insee + taken_out
    assert built.stats["core"]["actifs_par_perimetre"][NEW] == new
    cube = dict(con.execute(
        "SELECT perimetre, nb_etablissements FROM out_indicateurs WHERE niveau = 'departement' AND famille = 'ess' "
        "AND secteur = 'ensemble' AND classe_taille = 'ensemble' AND annee = 2026").fetchall())
    assert set(cube) == {"insee", "loi2014", "flag", NEW} and (cube["insee"], cube[NEW]) == (insee, new)
    audit = dict(con.execute("SELECT code, nb_etablissements FROM out_audit_perimetre WHERE rubrique = 'recouvrement'"
                             ).fetchall())
    assert audit[f"{NEW}_sans_insee"] == taken_out and audit[f"insee_sans_{NEW}"] == 0
    assert committed_digest() == before
