"""One atomic publication: tables, catalog, dictionary, report and publication manifest appear together or not at all.

A publication is run in a process of its own (tests/publication_driver.py) that is killed with SIGKILL at every
stage — before, during and after each one. After each kill the warehouse must show either the previous publication,
byte for byte, or the new one, whole; the next publication must then succeed and leave no leftover.

The tables are small hand-made Parquet files: what is tested is where they go, not what they hold.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from transforms import publish as pub
from transforms import warehouse as wh

TESTS = Path(__file__).resolve().parent
DRIVER = TESTS / "publication_driver.py"
PARAMS = {"departement": "38", "millesime": "2026-10", "annee_urssaf": 2025, "annee_cog": 2026,
          "perimetre": "insee", "synthetic": True, "run_id": "R38-NEW"}
LOCK = ".ess.lock"


def make_tables(folder: Path, departement: str, value: int) -> dict[str, str]:
    """Four published tables, one of them (core_ecart_urssaf) without a perimeter column; `value` makes them
    differ from one publication to the next."""
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    tables = {
        "out_indicateurs_public": f"SELECT 'departement' AS niveau, '{departement}' AS code_territoire, "
                                  f"'insee' AS perimetre, {value}::BIGINT AS nb_etablissements",
        "out_indicateurs": f"SELECT 'departement' AS niveau, '{departement}' AS code_territoire, 'insee' AS perimetre, "
                           f"{value}::BIGINT AS nb_etablissements, {value * 10}.5 AS effectif_central",
        "core_etablissements": f"SELECT '{departement}' AS code_departement, 'insee' AS perimetre, "
                               f"range::VARCHAR AS siret FROM range({value})",
        "core_ecart_urssaf": f"SELECT 'commune' AS niveau, '{departement}001' AS code_territoire, "
                             f"{value}.0 AS ecart_central",
    }
    out = {}
    for name, sql in tables.items():
        path = folder / f"{name}.parquet"
        con.execute(f"COPY ({sql}) TO '{path}' (FORMAT parquet)")
        out[name] = str(path)
    con.close()
    return out


def manifest_of(run_id: str, departement: str) -> dict:
    return {"run_id": run_id, "parametres": {**PARAMS, "departement": departement, "run_id": run_id},
            "synthetic": True, "snapshots": {}, "checks": {"headline": {"nb_etablissements_ess": 1}},
            "steps": {"core": {"emploi": {"calage": True, "groupes": {"fondations": {"total_cale": 1516.48}}}}},
            "garde_fous": {"force_demandee": False, "constats": [], "publication_forcee": False}}


def spec(warehouse: Path, tables: dict, run_id: str, departement: str = "38", **extra) -> dict:
    return {"warehouse": str(warehouse), "tables": tables, "params": {**PARAMS, "departement": departement,
                                                                        "run_id": run_id},
            "manifest": manifest_of(run_id, departement), "report": True, "wait_seconds": 0, **extra}


def drive(tmp: Path, s: dict) -> subprocess.CompletedProcess:
    path = tmp / f"spec-{os.urandom(4).hex()}.json"
    path.write_text(json.dumps(s), encoding="utf-8")
    return subprocess.run([sys.executable, str(DRIVER), str(path)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)])})


def in_process(s: dict) -> dict:
    import publication_driver

    return publication_driver.publish(s)


# --- what a warehouse shows ----------------------------------------------------------------------------------------


def tree(folder: Path) -> dict[str, bytes | str]:
    """Every file (bytes) and link (target) under `folder`, links not followed, lock files aside."""
    out: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if path.is_symlink():
                out[str(path.relative_to(folder))] = "-> " + os.readlink(path)
            elif path.is_file() and name != LOCK:
                out[str(path.relative_to(folder))] = path.read_bytes()
    return out


def current(warehouse: Path) -> str:
    return os.readlink(warehouse / wh.CURRENT).rpartition("/")[2]


VOLATILE = {"version", "dossier_version", "publie_le", "precedente", "creee_le", "durees_secondes"}


def _stable(data):
    if isinstance(data, dict):
        return {k: _stable(v) for k, v in data.items() if k not in VOLATILE}
    if isinstance(data, list):
        return [_stable(v) for v in data]
    # manifests name their warehouse by its path, and the tests copy warehouses: any test warehouse is the same one;
    # their files are in the folder of their version, whose name changes from one publication to the next
    if isinstance(data, str):
        return VERSION_PATH.sub("versions/<id>", WAREHOUSE_PATH.sub("<entrepôt>", data))
    return data


WAREHOUSE_PATH = re.compile(r"/\S*?/(template|reference|w)(?=/|$)")
VERSION_PATH = re.compile(r"versions/[^/]+")


def catalog_content(path: Path) -> dict:
    """Each view of a catalog: its comment, its column comments and its rows (its paths are relative to its
    folder)."""
    con = pub.open_catalog(path.parent)
    try:
        views = con.execute("SELECT view_name, comment FROM duckdb_views() WHERE NOT internal ORDER BY 1").fetchall()
        out = {}
        for name, comment in views:
            columns = con.execute("SELECT column_name, comment FROM duckdb_columns() WHERE table_name = ? "
                                  "ORDER BY 1", [name]).fetchall()
            out[name] = (comment, columns, con.execute(f"SELECT * FROM {name} ORDER BY ALL").fetchall())
        return out
    finally:
        con.close()


def published(warehouse: Path) -> dict:
    """What readers of the warehouse see, through its entry points, with what changes from one version to the next
    (version names, dates) left out: every file byte for byte, JSON files without their volatile keys, the catalog
    by content (a DuckDB file is not byte-reproducible)."""
    out = {}
    for name in wh.ENTRY_POINTS:
        path = warehouse / name
        assert path.is_symlink() and os.readlink(path) == f"courant/{name}", name
    root = warehouse / wh.CURRENT
    for rel, content in tree(root.resolve()).items():
        if rel in (wh.HISTORY, wh.PENDING_HISTORY):
            continue  # what came before this publication (a killed one may have come first): test_versions.py
        if rel == pub.CATALOG:
            out[rel] = catalog_content(root / rel)
        elif rel.endswith(".json"):
            out[rel] = _stable(json.loads(content))
        else:
            out[rel] = content
    return out


def assert_no_leftovers(warehouse: Path) -> None:
    hidden = sorted(p.name for p in warehouse.iterdir() if p.name.startswith(".") and p.name not in
                    (LOCK, wh.STAGING, ".verrous"))
    assert hidden == []
    assert list((warehouse / wh.STAGING).iterdir()) == []
    versions = sorted(p.name for p in (warehouse / wh.VERSIONS).iterdir())
    now = wh.read_index(warehouse / wh.CURRENT)
    assert versions == sorted([now["version"], now["precedente"]])  # the current one and the one before
    assert all((warehouse / wh.VERSIONS / v / wh.INDEX).is_file() for v in versions)


# --- fixtures: a warehouse with two publications, and what the third one must give -----------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("publication")
    old, new, other = (make_tables(tmp / n, d, v) for n, d, v in (("old", "38", 5), ("new", "38", 9),
                                                                    ("other", "73", 4)))
    template = tmp / "template"
    in_process(spec(template, other, "R73", "73"))
    in_process(spec(template, old, "R38-OLD"))
    reference = tmp / "reference"
    shutil.copytree(template, reference, symlinks=True)
    in_process(spec(reference, new, "R38-NEW"))
    return {"tmp": tmp, "old": old, "new": new, "template": template, "before": tree(template),
            "before_view": published(template), "after_view": published(reference)}


def test_a_publication_is_one_version_with_everything(world):
    view, root = world["after_view"], world["template"]
    # the new version carries the other département's partitions (hard links) and replaces 38's
    assert view["public/out_indicateurs_public/departement_73/millesime_2026-10/out_indicateurs_public.parquet"] == (
        root / "public/out_indicateurs_public/departement_73/millesime_2026-10/out_indicateurs_public.parquet"
    ).read_bytes()
    assert "interne/core_ecart_urssaf/departement_38/millesime_2026-10/core_ecart_urssaf.parquet" in view
    assert view["rapports/departement=38/millesime=2026-10/perimetre=insee/rapport.pdf"] != \
        world["before_view"]["rapports/departement=38/millesime=2026-10/perimetre=insee/rapport.pdf"]
    manifest = view["publications/departement=38/millesime=2026-10/perimetre=insee/manifest.json"]
    assert manifest["run_id"] == "R38-NEW" and manifest["publication"]["forcee"] is False
    # the families' employment before secrecy stays in the run folder: it equals cells the public table may mask
    assert manifest["steps"] == {"core": {"emploi": {"calage": True}}}
    assert manifest["chiffres_non_publies"] == ["steps.core.emploi.groupes"]
    # (no out_cube_communes nor URSSAF staging among the hand-made tables: no referentiel_territoires, no
    # urssaf_ess_departement)
    assert sorted(manifest["outputs"]["tables"]) == sorted(pub.PUBLISHED.keys() - {"out_audit_perimetre",
                                                                                   "core_calibration",
                                                                                   "referentiel_territoires",
                                                                                   "urssaf_ess_departement"})
    assert manifest["rapport"]["dossier"] == "<entrepôt>/versions/<id>/rapports/departement=38/millesime=2026-10/" \
                                             "perimetre=insee"
    assert manifest["outputs"]["tables"]["out_indicateurs_public"] == (
        "<entrepôt>/versions/<id>/public/out_indicateurs_public/departement_38/millesime_2026-10/"
        "out_indicateurs_public.parquet")
    assert manifest["outputs"]["catalog"] == "<entrepôt>/versions/<id>/ess.duckdb"
    index = view["publication.json"]
    assert index["changement"] == {"type": "publication", "run_id": "R38-NEW", "departement": "38",
                                   "millesime": "2026-10", "perimetre": "insee", "forcee": False,
                                   "donnees_synthetiques": True, "version_pipeline": None}  # (a hand-made manifest: a run's names its code)
    catalog = view["ess.duckdb"]
    # the files carry their keys as text, then the table's columns, then the synthetic flag
    assert catalog["out_indicateurs_public"][2] == [("38", "2026-10", "departement", "38", "insee", 9, True),
                                                    ("73", "2026-10", "departement", "73", "insee", 4, True)]
    assert catalog["out_indicateurs_public_historique"][2] == catalog["out_indicateurs_public"][2]
    assert catalog["out_indicateurs_public"][0].startswith("DONNÉES SYNTHÉTIQUES")
    assert "PUBLIC (secret statistique appliqué)" in catalog["out_indicateurs_public"][0]
    assert "dictionnaire_donnees.md" in view and "dictionnaire_donnees.csv" in view
    # every Parquet file says where it comes from
    kv = pq.read_metadata(world["template"] / "public/out_indicateurs_public/departement_38/millesime_2026-10/"
                          "out_indicateurs_public.parquet").metadata
    assert kv[b"ess:synthetic"] == b"true" and kv[b"ess:publication_forcee"] == b"false"


def test_unchanged_files_are_shared_between_versions(world, tmp_path):
    warehouse = tmp_path / "w"
    shutil.copytree(world["template"], warehouse, symlinks=True)
    before = current(warehouse)
    in_process(spec(warehouse, world["new"], "R38-NEW"))
    rel = Path("public/out_indicateurs_public/departement_73/millesime_2026-10/out_indicateurs_public.parquet")
    old_file, new_file = (warehouse / wh.VERSIONS / v / rel for v in (before, current(warehouse)))
    assert old_file.stat().st_ino == new_file.stat().st_ino  # a hard link, not a copy
    assert_no_leftovers(warehouse)


# Every stage of a publication, with the outcome a kill there must leave: the previous publication ("old") until the
# rename of the `courant` link, the new one ("new") after it.
KILLS = [
    ("before", "transforms.publish:prepare", 1, "old"),
    ("before", "ess.db:export_select", 2, "old"),  # during the tables' preparation
    ("after", "transforms.publish:prepare", 1, "old"),
    ("after", "publication_driver:write_file", 2, "old"),  # during the report
    ("before", "transforms.warehouse:recover", 1, "old"),  # holding the lock, nothing done yet
    ("after", "transforms.warehouse:recover", 1, "old"),
    ("before", "transforms.warehouse:link_file", 3, "old"),  # during the hard links of the unchanged files
    ("after", "transforms.warehouse:link_tree", 1, "old"),
    ("after", "transforms.warehouse:move_in", 1, "old"),  # during the moves of the new partitions
    ("after", "transforms.warehouse:move_in", 8, "old"),  # every partition (3 reference tables) and the report in
    ("after", "transforms.publish:create_views", 1, "old"),  # during the catalog
    ("after", "transforms.publish:build_catalog", 1, "old"),
    ("after", "transforms.publish:write_dictionary", 1, "old"),
    ("after", "transforms.warehouse:write_json_atomic", 2, "old"),  # manifest and index written, not current yet
    ("after", "os:symlink", 1, "old"),  # the new link exists, not yet renamed onto `courant`
    ("after", "transforms.warehouse:switch", 1, "new"),
    ("after", "transforms.warehouse:ensure_entry_points", 2, "new"),  # (the 1st call is recover's)
    ("before", "shutil:rmtree", 1, "new"),  # before the oldest version is deleted
    ("after", "shutil:rmtree", 1, "new"),  # the staging folder of the killed process is still there
]


@pytest.mark.parametrize("when, target, n, outcome", KILLS,
                         ids=[f"{w}-{t.rpartition(':')[2]}-{n}" for w, t, n, _ in KILLS])
def test_killed_at_every_stage_leaves_one_whole_publication(world, tmp_path, when, target, n, outcome):
    warehouse = tmp_path / "w"
    shutil.copytree(world["template"], warehouse, symlinks=True)
    before_version = current(warehouse)

    done = drive(tmp_path, spec(warehouse, world["new"], "R38-NEW", kill=[when, target, n]))
    assert done.returncode == -9, done.stderr  # it was killed there, not finished or failed

    if outcome == "old":
        assert current(warehouse) == before_version
        assert tree(warehouse / wh.VERSIONS / before_version) == {
            k.partition(f"{wh.VERSIONS}/{before_version}/")[2]: v for k, v in world["before"].items()
            if k.startswith(f"{wh.VERSIONS}/{before_version}/")}  # byte for byte
        assert published(warehouse) == world["before_view"]
    else:
        assert current(warehouse) != before_version
        assert published(warehouse) == world["after_view"]

    # the next publication finds a whole warehouse, cleans up, and publishes
    in_process(spec(warehouse, world["new"], "R38-NEW"))
    assert published(warehouse) == world["after_view"]
    assert_no_leftovers(warehouse)


def test_a_failure_inside_the_build_removes_the_unfinished_version(world, tmp_path, monkeypatch):
    warehouse = tmp_path / "w"
    shutil.copytree(world["template"], warehouse, symlinks=True)

    def broken(root):
        raise OSError(28, "No space left on device", str(root / pub.CATALOG))

    monkeypatch.setattr(pub, "build_catalog", broken)
    with pytest.raises(OSError, match="No space left"):
        in_process(spec(warehouse, world["new"], "R38-NEW"))
    assert tree(warehouse) == world["before"]


def test_concurrent_publications_of_two_departements_both_land(world, tmp_path):
    """Two processes prepare at the same time and reach the commit together: one waits for the lock, and starts
    from the version the other made (nothing lost); neither deletes the other's staging folder."""
    warehouse = tmp_path / "w"
    shutil.copytree(world["template"], warehouse, symlinks=True)
    t26 = make_tables(tmp_path / "t26", "26", 7)
    barrier = {"folder": str(tmp_path / "barrier"), "count": 2}
    specs = [spec(warehouse, world["new"], "R38-NEW", barrier=barrier, wait_seconds=60),
             spec(warehouse, t26, "R26", "26", barrier=barrier, wait_seconds=60)]
    paths = []
    for i, s in enumerate(specs):
        paths.append(tmp_path / f"spec{i}.json")
        paths[-1].write_text(json.dumps(s), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)])}
    procs = [subprocess.Popen([sys.executable, str(DRIVER), str(p)], env=env, stderr=subprocess.PIPE, text=True)
             for p in paths]
    for p in procs:
        assert p.wait(120) == 0, p.stderr.read()
    catalog = catalog_content(warehouse / pub.CATALOG)["out_indicateurs_public"][2]
    assert [(r[0], r[5]) for r in catalog] == [("26", 7), ("38", 9), ("73", 4)]
    now = wh.read_index(warehouse / wh.CURRENT)
    earlier = wh.read_index(warehouse / wh.VERSIONS / now["precedente"])
    assert {now["changement"]["run_id"], earlier["changement"]["run_id"]} == {"R38-NEW", "R26"}
    assert_no_leftovers(warehouse)


def test_a_live_preparation_is_never_taken_for_a_leftover(world, tmp_path):
    warehouse = tmp_path / "w"
    shutil.copytree(world["template"], warehouse, symlinks=True)
    with wh.staging_area(warehouse) as mine:
        (mine / "x").write_text("mine", encoding="utf-8")
        dead = warehouse / wh.STAGING / "999999-deadbeef"  # a killed process's folder: no lock held
        dead.mkdir()
        (warehouse / wh.STAGING / "999999-deadbeef.lock").touch()
        in_process(spec(warehouse, world["new"], "R38-NEW"))  # its commit cleans leftovers
        assert (mine / "x").read_text(encoding="utf-8") == "mine"
        assert not dead.exists() and not (warehouse / wh.STAGING / "999999-deadbeef.lock").exists()
    assert_no_leftovers(warehouse)


# --- the layout before versions ----------------------------------------------------------------------------------


def legacy_warehouse(root: Path, world) -> None:
    """The layout of earlier versions of this project: real folders and a real catalog at the top, tables in
    `key=value` folders without their keys in the files."""
    for table, path in world["old"].items():
        keys = "departement=38/millesime=2026-10" + ("" if table in {"core_ecart_urssaf", *pub.ALL_PERIMETERS}
                                                     else "/perimetre=insee")
        target = root / pub.PUBLISHED[table] / table / keys / f"{table}.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    (root / "rapports/departement=73/millesime=2026-10/perimetre=insee").mkdir(parents=True)
    (root / "rapports/departement=73/millesime=2026-10/perimetre=insee/rapport.pdf").write_text("73")
    (root / pub.CATALOG).write_bytes(b"old catalog")
    (root / ".transactions" / "123-abc").mkdir(parents=True)


@pytest.mark.parametrize("kill", [None, ["after", "transforms.warehouse:switch", 1], ["before", "shutil:rmtree", 3]],
                         ids=["uninterrupted", "killed-after-switch", "killed-while-moving-old-folders"])
def test_a_warehouse_of_the_old_layout_becomes_versioned(world, tmp_path, kill):
    warehouse = tmp_path / "w"
    legacy_warehouse(warehouse, world)
    t73 = make_tables(tmp_path / "t73", "73", 4)
    if kill:
        assert drive(tmp_path, spec(warehouse, t73, "R73", "73", kill=kill)).returncode == -9
    in_process(spec(warehouse, t73, "R73", "73"))
    view = published(warehouse)  # every entry point is now a link into the current version
    # the old layout's 38 partitions are carried over, rewritten with their keys as columns; the legacy report of
    # 73 replaced by the new one
    assert not [rel for rel in view if "departement=38" in rel and rel.startswith(("public", "interne"))]
    migrated = pq.read_table(warehouse / "public/out_indicateurs_public/departement_38/millesime_2026-10/"
                             "out_indicateurs_public.parquet").to_pylist()
    assert migrated == [{"departement": "38", "millesime": "2026-10", "niveau": "departement",
                         "code_territoire": "38", "perimetre": "insee", "nb_etablissements": 5,
                         "donnees_synthetiques": False}]
    assert (warehouse / "interne/core_etablissements/departement_38/millesime_2026-10/perimetre_insee/"
                        "core_etablissements.parquet").is_file()
    assert view["rapports/departement=73/millesime=2026-10/perimetre=insee/rapport.pdf"] != b"73"
    assert [(r[0], r[5]) for r in view[pub.CATALOG]["out_indicateurs_public"][2]] == [("38", 5), ("73", 4)]
    assert not [p for p in warehouse.iterdir() if p.name.startswith((".ancien", ".transactions"))]
    assert list((warehouse / wh.STAGING).iterdir()) == []


# --- reading publications, the report verb -------------------------------------------------------------------------


def test_published_manifests_and_the_run_of_a_version(world):
    found = pub.published_manifests(world["template"], "38", "insee")
    assert list(found) == ["2026-10"]
    assert found["2026-10"] == (world["template"] / wh.VERSIONS / current(world["template"]) / "publications" /
                                "departement=38/millesime=2026-10/perimetre=insee/manifest.json")
    assert pub.published_manifest(world["template"], PARAMS)["run_id"] == "R38-OLD"
    assert pub.run_version(world["template"], "38", "R38-OLD") == current(world["template"])
    assert pub.run_version(world["template"], "38", "R38-NEW") is None
    assert pub.published_manifests(world["tmp"] / "nowhere", "38", "insee") == {}
    # the cube tables hold every perimeter: a run of another perimeter is compared with this publication too
    assert list(pub.published_perimeters(world["template"], "38", "2026-10")) == ["insee"]
    from transforms.checks import other_perimeters

    others = other_perimeters(world["template"], {**PARAMS, "perimetre": "loi2014"})
    assert [(o["run_id"], o["perimetre"], o["millesime"]) for o in others] == [("R38-OLD", "insee", "2026-10")]
    assert other_perimeters(world["template"], PARAMS) == []  # its own perimeter is previous_publication's


def test_report_of_another_run_is_refused(world, tmp_path):
    from ess.errors import UserError

    warehouse = tmp_path / "w"
    shutil.copytree(world["template"], warehouse, symlinks=True)
    def staged() -> Path:
        folder = tmp_path / "rapport"
        folder.mkdir(exist_ok=True)
        (folder / "rapport.pdf").write_text("autre", encoding="utf-8")
        return folder

    with pytest.raises(UserError, match="come from run R38-OLD, not R38-X"):
        pub.publish_report(staged(), PARAMS, warehouse, run_id="R38-X")
    assert tree(warehouse) == world["before"]
    updated = pub.publish_report(staged(), PARAMS, warehouse, run_id="R38-OLD")
    assert (warehouse / pub.report_path(PARAMS) / "rapport.pdf").read_text(encoding="utf-8") == "autre"
    assert updated["rapport"]["version"] == current(warehouse)
    assert_no_leftovers(warehouse)


def test_every_file_of_a_version_is_on_disk_before_it_becomes_current(world, tmp_path, monkeypatch):
    """A power cut, unlike a kill, loses what the kernel has not written yet: every file and folder of the new
    version is flushed (fsync) before `courant` names it, and the switch itself is flushed after."""
    warehouse = tmp_path / "w"
    shutil.copytree(world["template"], warehouse, symlinks=True)
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def replace(src, dst, *args, **kwargs):
        events.append(("replace", str(dst)))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    in_process(spec(warehouse, world["new"], "R38-NEW"))
    root = wh.current_dir(warehouse).resolve()
    switched = events.index(("replace", str(warehouse / wh.CURRENT)))
    flushed = {path for kind, path in events[:switched] if kind == "fsync"}
    files = {str(p) for p in root.rglob("*") if not p.is_symlink()} | {str(root)}
    assert files and files <= flushed
    assert ("fsync", str(warehouse.resolve())) in events[switched:]


def test_the_warehouse_copy_of_a_manifest_leaves_out_the_unprotected_figures():
    """The calibration's family totals are employment before secrecy: in the run folder only."""
    manifest = {"run_id": "R", "steps": {"core": {"emploi": {"calage": True, "groupes": {
        "fondations": {"total_cale": 1516.48}}}, "lignes": {"core_effectifs": 3}}}}
    public = pub.publishable_manifest(manifest)
    assert public == {"run_id": "R", "steps": {"core": {"emploi": {"calage": True}, "lignes": {"core_effectifs": 3}}},
                      "chiffres_non_publies": ["steps.core.emploi.groupes"]}
    assert manifest["steps"]["core"]["emploi"]["groupes"]["fondations"]["total_cale"] == 1516.48  # not modified
    assert pub.publishable_manifest({"run_id": "R"}) == {"run_id": "R"}  # nothing to leave out, nothing said


# --- what a manifest names, after the next publication ---------------------------------------------------------------


def test_a_manifest_keeps_naming_its_own_files_after_the_next_publication(world, tmp_path):
    """A run's manifest (and the publication it was compared with) name files in its version's folder: the next
    publication of the same partition leaves them naming this run's tables, report, catalog and manifest."""
    from transforms.checks import previous_publication

    warehouse = tmp_path / "w"
    shutil.copytree(world["template"], warehouse, symlinks=True)
    first = in_process(spec(warehouse, world["old"], "R38-A"))  # 5 establishments
    compared = previous_publication(warehouse, PARAMS)  # what the next run of 38 is compared with
    assert compared["run_id"] == "R38-A"
    in_process(spec(warehouse, world["new"], "R38-B"))  # 9, in the same partition
    outputs = first["outputs"]

    assert pq.read_table(outputs["tables"]["out_indicateurs_public"]).column("nb_etablissements").to_pylist() == [5]
    assert json.loads(Path(outputs["manifeste_publication"]).read_text(encoding="utf-8"))["run_id"] == "R38-A"
    assert json.loads(Path(compared["manifeste"]).read_text(encoding="utf-8"))["run_id"] == "R38-A"
    pdf = next(Path(f) for f in first["rapport"]["fichiers"] if f.endswith(".pdf"))
    assert pdf.parent == Path(first["rapport"]["dossier"])
    # the stand-in report names the table it was built from: this run's
    table = hashlib.sha256(Path(outputs["tables"]["out_indicateurs_public"]).read_bytes()).hexdigest()[:16]
    assert pdf.read_text(encoding="utf-8") == f"rapport.pdf de la table {table}\n"
    assert outputs["catalog"] == str(Path(outputs["dossier_version"]) / pub.CATALOG)
    con = pub.open_catalog(Path(outputs["dossier_version"]))
    try:
        assert con.execute("SELECT nb_etablissements FROM out_indicateurs_public WHERE departement = '38'"
                           ).fetchall() == [(5,)]
    finally:
        con.close()
    # the stable entry points follow the current version
    assert pq.read_table(warehouse / Path(outputs["tables"]["out_indicateurs_public"]).relative_to(
        outputs["dossier_version"])).column("nb_etablissements").to_pylist() == [9]


def test_a_manifest_says_which_version_its_files_were_and_where_they_are_once_it_is_deleted(world, tmp_path):
    """Retention deletes a version two publications after it: the paths in its folder then name nothing, but the
    manifest still says which version and which path inside it each output was, and where the stable entry point
    is (the current version's file, another run's by then)."""
    warehouse = tmp_path / "w"
    shutil.copytree(world["template"], warehouse, symlinks=True)
    first = in_process(spec(warehouse, world["old"], "R38-A"))
    version = first["outputs"]["version"]
    for run in ("R38-B", "R38-C"):
        in_process(spec(warehouse, world["new"], run))
    assert not (warehouse / wh.VERSIONS / version).exists()
    from flows import versions as ver

    assert {v.id: v.state for v in ver.versions(warehouse)}[version] == "supprimée"  # what `ess versions` says

    outputs, report = first["outputs"], first["rapport"]
    rel = "public/out_indicateurs_public/departement_38/millesime_2026-10/out_indicateurs_public.parquet"
    assert outputs["chemins_relatifs"]["tables"]["out_indicateurs_public"] == rel
    assert outputs["tables"]["out_indicateurs_public"] == str(warehouse / wh.VERSIONS / version / rel)
    assert not Path(outputs["tables"]["out_indicateurs_public"]).exists()  # the version's own file: deleted
    entry = outputs["points_d_entree"]["tables"]["out_indicateurs_public"]
    assert entry == str(warehouse / rel)
    assert pq.read_table(entry).column("nb_etablissements").to_pylist() == [9]  # R38-C's, current
    assert outputs["chemins_relatifs"]["catalog"] == pub.CATALOG
    assert outputs["points_d_entree"]["catalog"] == str(warehouse / pub.CATALOG)
    manifest_rel = "publications/departement=38/millesime=2026-10/perimetre=insee/manifest.json"
    assert outputs["chemins_relatifs"]["manifeste_publication"] == manifest_rel
    assert json.loads(Path(outputs["points_d_entree"]["manifeste_publication"]).read_text(encoding="utf-8"))[
        "run_id"] == "R38-C"
    assert report["version"] == version
    assert report["chemins_relatifs"]["dossier"] == "rapports/departement=38/millesime=2026-10/perimetre=insee"
    assert "rapports/departement=38/millesime=2026-10/perimetre=insee/rapport.pdf" in report["chemins_relatifs"][
        "fichiers"]
    assert report["points_d_entree"]["fichiers"] == [str(warehouse / f) for f in report["chemins_relatifs"][
        "fichiers"]]
    # the warehouse's copy of a kept publication records the same
    published_copy = json.loads((warehouse / manifest_rel).read_text(encoding="utf-8"))
    current_version = published_copy["outputs"]["version"]
    assert current_version == current(warehouse)
    assert all(Path(path) == warehouse / wh.VERSIONS / current_version / rel_path
               for path, rel_path in zip(published_copy["outputs"]["tables"].values(),
                                         published_copy["outputs"]["chemins_relatifs"]["tables"].values()))


def test_a_previous_publication_is_read_in_the_current_version_once_its_own_is_deleted(world, tmp_path):
    """The manifest of 38 is carried into the versions of later publications (of 73): its version is deleted, the
    table it names is read at the same place in the current version."""
    from transforms.checks import previous_publication

    warehouse = tmp_path / "w"
    shutil.copytree(world["template"], warehouse, symlinks=True)
    t73 = make_tables(tmp_path / "t73", "73", 6)
    published_in = current(warehouse)  # R38-OLD's
    for run in ("R73-B", "R73-C"):
        in_process(spec(warehouse, t73, run, "73"))
    assert not (warehouse / wh.VERSIONS / published_in).exists()
    previous = previous_publication(warehouse, PARAMS)
    assert previous["run_id"] == "R38-OLD" and previous["version"] == published_in
    assert previous["table_publique"] == str(warehouse / "public/out_indicateurs_public/departement_38/"
                                                         "millesime_2026-10/out_indicateurs_public.parquet")
    assert Path(previous["table_publique"]).is_file()


def test_the_published_manifest_says_where_its_step_durations_stop(world, tmp_path):
    """The warehouse's copy is written by the publication itself: it cannot hold the publication's duration, and
    says so; the version's index holds the time the commit waited for the lock and built the version."""
    warehouse = tmp_path / "w"
    shutil.copytree(world["template"], warehouse, symlinks=True)
    s = spec(warehouse, world["new"], "R38-NEW")
    s["manifest"]["durees_etapes"] = {"check": 1.5, "report": 2.0}
    run_copy = in_process(s)
    copy = json.loads(Path(run_copy["outputs"]["manifeste_publication"]).read_text(encoding="utf-8"))
    assert copy["durees_etapes"] == {"check": 1.5, "report": 2.0}
    assert copy["durees_etapes_arretees_avant"] == "publish"
    index = wh.read_index(warehouse / wh.CURRENT)
    assert set(index["durees_secondes"]) == {"attente_du_verrou", "construction"}
    assert all(isinstance(v, float) and v >= 0 for v in index["durees_secondes"].values())
    assert "durees_etapes_arretees_avant" not in in_process(spec(warehouse, world["old"], "R38-OLD"))
