"""Publish a run: its tables (Parquet partitions), the DuckDB catalog, the data dictionary, its report (charts and
PDF) and its publication manifest appear together, as one new version of the warehouse, or not at all
(transforms/warehouse.py makes a version current with one atomic rename).

Paths inside a version, and the same under the warehouse's stable entry points (`<warehouse>/<path>`):
    <access>/<table>/departement_<dep>/millesime_<YYYY-MM>[/perimetre_<p>]/<table>.parquet
    rapports/departement=<dep>/millesime=<YYYY-MM>/perimetre=<p>/               charts (PNG + CSV) and the PDF
    publications/departement=<dep>/millesime=<YYYY-MM>/perimetre=<p>/manifest.json   the run's manifest, as published
                                   (its outputs: the version id, each path in that version's folder, relative to it,
                                   and through the entry points — recorded_paths)
    ess.duckdb                     views `<table>` (latest millésime of each département) and `<table>_historique`
                                   (every millésime) over the version's files, by relative path, with comments;
                                   views ready to use over them (CONVENIENCE_VIEWS, sql/catalog/vues/)
    dictionnaire_donnees.md / .csv
    METHOD.md                      the method (METHOD.md of the repository): how every figure is estimated, dated and
                                   protected; the dictionary's descriptions refer to its sections
    publication.json               the version's index: what changed, from which run, the previous version
    historique.json                every version made current in this warehouse until this one (transforms/warehouse.py)
`access` is `public` for protected tables (statistical confidentiality applied) and `interne` for the rest, which
must not leave the research team. Table folders are NOT `key=value` (hive) folders: pandas and pyarrow would read
« 01 » as the integer 1 from a folder name. Every file carries its keys as text columns instead (`departement`,
`millesime`, and `perimetre` for tables published per perimeter) plus `donnees_synthetiques`, so any reader with no
options gets them right (the `@publiees` columns of the field dictionary, sql/dictionnaire/colonnes.csv). Each
column is written with the type of its dictionary entry, and the file's metadata `dictionnaire:colonnes` carries the
entries of its columns (type, unit, description).

Besides the run's tables, a publication carries the reference tables of the cube's codes and of the rules behind
them (transforms/referentiels.py: perimeters, territories, sectors, size classes, legal forms, activity exclusions,
URSSAF's field and the employment it does not see, the intervals' measured coverage, as the run used them),
published like the cube.

The three moves of a publication: prepare() writes the run's tables with their provenance metadata into a private
staging folder (outside the warehouse lock, so départements prepare in parallel); the report is built in the same
folder from those very files; commit() makes the new version current. publish() chains them in one call.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from ess import db, paths, version
from ess.errors import UserError
from ess.settings import millesime_date
from transforms import columns as cols
from transforms import referentiels
from transforms import warehouse as wh

# Tables published, with their access level, are the tables of sql/dictionnaire/tables.csv with an `acces`
# (`_published()`, also `PUBLISHED` below); any other table of the run stays in the run folder.


def _published() -> dict[str, str]:
    return cols.published_tables()


def __getattr__(name: str):
    if name == "PUBLISHED":
        return _published()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Tables that hold every perimeter (published and protected together, transforms/outputs.py): one partition per
# département and millésime, whatever the run's perimeter.
ALL_PERIMETERS = {"out_indicateurs_public", "out_indicateurs"}
# Tables published in one partition per département and millésime (the others with a `perimetre` column have one
# per perimeter too): the cube, and the reference tables that describe its codes (transforms/referentiels.py),
# replaced with it by the next run of the same département and millésime, whatever its perimeter.
ONE_PARTITION = ALL_PERIMETERS | set(referentiels.TABLES)
CATALOG = "ess.duckdb"
DICTIONARY = "dictionnaire_donnees"
REPORTS = "rapports"
PUBLICATIONS = "publications"
MANIFEST = "manifest.json"
CATALOG_SQL = Path(__file__).resolve().parent.parent / "sql" / "catalog"
HISTORY_SUFFIX = "_historique"
# The layout before files carried their keys: `key=value` folders, keys absent from the files (migrated on commit).
LEGACY_KEYS = ("departement", "millesime", "perimetre")
METHOD = "METHOD.md"
REGENERATED = (CATALOG, f"{DICTIONARY}.md", f"{DICTIONARY}.csv", METHOD)
# What a publication manifest says of its report besides where it is (from the report step's stats).
REPORT_FACTS = ("pages", "synthetique", "annee", "cartes", "valeurs_masquees_dans_les_graphiques")


# --- where things go ---------------------------------------------------------------------------------------------


def _keys(params: dict, with_perimetre: bool = True) -> PurePosixPath:
    path = PurePosixPath(f"departement={params['departement']}", f"millesime={params['millesime']}")
    return path / f"perimetre={params['perimetre']}" if with_perimetre else path


def partition_path(table: str, params: dict, has_perimetre: bool) -> PurePosixPath:
    """<access>/<table>/departement_…/millesime_…[/perimetre_…], relative to a version (or the warehouse)."""
    path = PurePosixPath(_published()[table], table, f"departement_{params['departement']}",
                         f"millesime_{params['millesime']}")
    return path / f"perimetre_{params['perimetre']}" if has_perimetre else path


def report_path(params: dict) -> PurePosixPath:
    return PurePosixPath(REPORTS) / _keys(params)


def manifest_path(params: dict) -> PurePosixPath:
    return PurePosixPath(PUBLICATIONS) / _keys(params) / MANIFEST


def report_dir(warehouse: Path, params: dict) -> Path:
    """<warehouse>/rapports/departement=<dep>/millesime=<YYYY-MM>/perimetre=<p>/ (through the entry point)."""
    return Path(warehouse) / report_path(params)


def file_checksums(files) -> dict[str, str | None]:
    """{file name: sha256} of a snapshot manifest's files: a list of entries with a name, as sources.download
    writes it (also accepted: a mapping name -> entry)."""
    if isinstance(files, dict):
        return {name: (f or {}).get("sha256") for name, f in files.items()}
    return {f["name"]: f.get("sha256") for f in files or [] if isinstance(f, dict) and "name" in f}


def provenance_metadata(params: dict, manifest: dict) -> dict[str, str]:
    """What every published Parquet file says about itself (read with pyarrow or DuckDB's parquet_kv_metadata).
    `ess:sources`: per source, its snapshot as <source>/<millésime> (no path of the machine that built it) and the
    sha256 of every file the run read — downloaded, generated or laid out by hand."""
    read: dict[str, dict[str, str]] = {}
    for source, files in (manifest.get("sources") or {}).items():
        for f in files or []:
            if f.get("file") and f.get("sha256"):
                read.setdefault(source, {})[Path(f["file"]).name] = f["sha256"]
    snapshots = {
        source: {"dossier": "/".join(Path(s["dossier"]).parts[-2:]) if s.get("dossier") else None,
                 "fichiers": {**file_checksums((s.get("manifest") or {}).get("files")), **read.get(source, {})}}
        for source, s in manifest.get("snapshots", {}).items()
    }
    forced = bool((manifest.get("garde_fous") or {}).get("publication_forcee"))
    return {
        "ess:synthetic": str(bool(params.get("synthetic"))).lower(),
        "ess:avertissement": (
            "DONNÉES SYNTHÉTIQUES — échantillon généré, ne décrit pas la réalité" if params.get("synthetic") else ""
        ),
        "ess:publication_forcee": str(forced).lower(),
        "ess:departement": params["departement"],
        "ess:millesime_sirene": str(params["millesime"]),
        "ess:annee_urssaf": str(params["annee_urssaf"]),
        **measured_dates(params, manifest),
        "ess:annee_cog": str(params["annee_cog"]),
        "ess:perimetre": params["perimetre"],
        "ess:sources": json.dumps(snapshots, ensure_ascii=False, sort_keys=True),
        **({"ess:version_pipeline": version.short(manifest["version_pipeline"])}
           if manifest.get("version_pipeline") else {}),
    }


def measured_dates(params: dict, manifest: dict) -> dict[str, str]:
    """What the published figures measure and when: establishments at the end of the millésime month, employment on
    31 December of the employment year (« non calé » when not calibrated on URSSAF)."""
    emploi = ((manifest.get("steps") or {}).get("core") or {}).get("emploi") or {}
    year = emploi.get("annee_effectifs")
    calage = emploi.get("calage", params.get("calage", True))
    out = {"ess:date_reference_etablissements": millesime_date(str(params["millesime"])).isoformat()}
    if year:
        out["ess:annee_effectifs"] = str(year)
        out["ess:date_reference_effectifs"] = f"{year}-12-31"
        # (a file may hold past years too, the public cube from 2012: each row says its own date)
        out["ess:effectifs"] = (f"effectif salarié au 31/12 de l'année qu'il mesure (date_reference_effectifs de "
                                f"chaque ligne), au plus tard le 31/12/{year}, "
                                + ("calé sur l'URSSAF de cette année, plus l'emploi relevant de la MSA que "
                                   "l'URSSAF ne voit pas, estimé" if calage else "non calé"))
    return out


# --- the three moves ---------------------------------------------------------------------------------------------


def prepare(tables: dict[str, str], params: dict, manifest: dict, staging: Path) -> dict:
    """Write the run's published tables, with their provenance metadata, into `staging` laid out as in a version,
    and the reference tables that say what their codes mean (transforms/referentiels.py, built from the run's
    tables and reference files). Returns {"tables": {table: staged file}, "partitions": {table: partition path}}."""
    staging = Path(staging)
    metadata = provenance_metadata(params, manifest)
    staged, partitions = {}, {}
    staging.mkdir(parents=True, exist_ok=True)
    built = Path(tempfile.mkdtemp(prefix="referentiels-", dir=staging))
    con = db.connect()
    try:
        tables = {**referentiels.build(tables, params, built), **tables}
        for table in _published():
            if table not in tables:
                continue
            db.attach_tables(con, {table: tables[table]})
            columns = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
            rel = partition_path(table, params, "perimetre" in columns and table not in ONE_PARTITION)
            own = {**metadata, "dictionnaire:colonnes": column_metadata(table, columns)}
            if table in ALL_PERIMETERS:
                own.update(perimeters_metadata(con, table, params))
            staged[table] = db.export_select(con, published_select(table, columns), {
                "departement": str(params["departement"]), "millesime": str(params["millesime"]),
                "synthetique": bool(params.get("synthetic"))}, staging / rel / f"{table}.parquet", own)
            partitions[table] = str(rel)
    finally:
        con.close()
        for path in built.iterdir():  # (files only: the staging area's own removal is the one rmtree)
            path.unlink()
        built.rmdir()
    return {"tables": staged, "partitions": partitions}


def perimeters_metadata(con, table: str, params: dict) -> dict[str, str]:
    """A table holding every perimeter says so: `ess:perimetre` lists the perimeters of its rows (its `perimetre`
    column tells them apart), `ess:perimetre_du_run` is the run's (that of its report and headline figures)."""
    found = [r[0] for r in con.execute(f"SELECT DISTINCT perimetre FROM {db.identifier(table)} ORDER BY 1").fetchall()]
    return {"ess:perimetre": ",".join(found), "ess:perimetre_du_run": params["perimetre"]}


def published_select(table: str, columns: list[str], *, strict: bool = True) -> str:
    """The rows of `table` as published: the partition keys first, as text, then the table's own columns (in their
    order) cast to their type in the field dictionary, then the synthetic flag (parameters $departement, $millesime,
    $synthetique). A column without its entry is refused (UserError naming table and column); with strict=False
    (files of an older layout) it is kept as it is."""
    problems = cols.undescribed(table, [c for c in columns if c not in PUBLICATION_KEYS])
    if problems and strict:
        raise UserError(f"{table} cannot be published: " + "; ".join(m for _, m in problems))
    types = {c.name: c.type for c in cols.columns(table)} if cols.known_table(table) else {}
    own = [f"CAST({db.identifier(c)} AS {types[c]}) AS {c}" if c in types else db.identifier(c)
           for c in columns if c not in PUBLICATION_KEYS]
    return (f"SELECT $departement::VARCHAR AS departement, $millesime::VARCHAR AS millesime, {', '.join(own)}, "
            f"$synthetique::BOOLEAN AS donnees_synthetiques FROM {db.identifier(table)}")


def column_metadata(table: str, columns: list[str]) -> str:
    """The dictionary entries of a published file's columns (JSON for its `dictionnaire:colonnes` metadata)."""
    described = {c.name: c for c in cols.publication_columns() + cols.columns(table)}
    return json.dumps({name: {"type": c.type, "unite": c.unit or "", "description": c.description,
                              "contrainte": c.constraint}
                       for name in ["departement", "millesime", *columns, "donnees_synthetiques"]
                       if (c := described.get(name))}, ensure_ascii=False)


PUBLICATION_KEYS = {"departement", "millesime", "donnees_synthetiques"}


def commit(staging: Path, params: dict, manifest: dict, warehouse: Path, *, report: bool,
           wait_seconds: float = 0.0) -> dict:
    """Make the staged tables (and the staged report, if any) part of a new current version, with the run's
    manifest completed by where everything went. Without a staged report, `report=False` removes the partition's
    previous report: a report describing another run's tables must not stay beside these. Returns the manifest
    the run folder keeps; the warehouse's copy is its publishable_manifest (no figure left unprotected)."""
    staging = Path(staging)
    warehouse = Path(warehouse)
    partitions = sorted(str(p.parent.relative_to(staging)) for table, access in _published().items()
                        for p in (staging / access / table).glob(f"**/{table}.parquet"))
    changes: dict[str, Path | None] = {rel: staging / rel for rel in partitions}
    for table in referentiels.TABLES:  # one the run could not build must not describe its tables with another's
        changes.setdefault(str(partition_path(table, params, False)), None)
    staged_report = staging / report_path(params)
    has_report = staged_report.is_dir()
    if has_report:
        changes[str(report_path(params))] = staged_report
    elif not report:
        changes[str(report_path(params))] = None
    changes[str(manifest_path(params))] = None  # written by finish, once the version is known
    published: dict = {}

    def finish(root: Path, version_id: str) -> dict:
        published.update(_completed(manifest, params, warehouse, root, version_id, partitions, has_report))
        wh.write_json_atomic(root / manifest_path(params), publishable_manifest(published))
        regenerate(root)
        return {}

    description = {"changement": {"type": "publication", "run_id": manifest.get("run_id"),
                                  "departement": params["departement"], "millesime": params["millesime"],
                                  "perimetre": params["perimetre"],
                                  "forcee": bool((manifest.get("garde_fous") or {}).get("publication_forcee")),
                                  "donnees_synthetiques": bool(params.get("synthetic")),
                                  "version_pipeline": manifest.get("version_pipeline")}}
    wh.commit(warehouse, changes, finish, regenerated=REGENERATED, description=description,
              wait_seconds=wait_seconds)
    return published


# Figures of the run's manifest that no statistical protection covers: the employment of each family in the
# département before secrecy (the calibration's totals) equals cells the public table may mask. They stay in the run
# folder's manifest (research team only) and are left out of the warehouse's copy.
UNPROTECTED_FIGURES = (("steps", "core", "emploi", "groupes"),)


def publishable_manifest(manifest: dict) -> dict:
    """The manifest without UNPROTECTED_FIGURES, saying which were left out (`chiffres_non_publies`)."""
    out = json.loads(json.dumps(manifest))
    removed = []
    for path in UNPROTECTED_FIGURES:
        parent = out
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and path[-1] in parent:
            del parent[path[-1]]
            removed.append(".".join(path))
    if removed:
        out["chiffres_non_publies"] = removed
    return out


def version_folder(warehouse: Path, version_id: str) -> Path:
    """Where a version's files are: the paths a manifest records (those through the entry points would name another
    run's files after the next publication). The same path relative to it, under the warehouse, is the current
    version's."""
    return Path(warehouse) / wh.VERSIONS / version_id


def recorded_paths(warehouse: Path, version_id: str, rels: dict) -> dict:
    """How a manifest records where its outputs are, for `rels` ({name: path relative to a version, or a list or
    mapping of them}): in the folder of its version (these very files, while the retention keeps that version), the
    same paths relative to that folder (`chemins_relatifs`: with the version id, what they were whatever became of
    the folder), and through the stable entry points (`points_d_entree`: the current version's files)."""
    def under(base: Path, value):
        if isinstance(value, dict):
            return {k: under(base, v) for k, v in value.items()}
        if isinstance(value, list):
            return [under(base, v) for v in value]
        return str(base / value)

    return {**under(version_folder(warehouse, version_id), rels), "chemins_relatifs": under(PurePosixPath(), rels),
            "points_d_entree": under(Path(warehouse), rels)}


def _completed(manifest: dict, params: dict, warehouse: Path, root: Path, version_id: str, partitions: list[str],
               with_report: bool) -> dict:
    """The run's manifest plus its version and where its outputs are (recorded_paths)."""
    tables = {}
    for rel in partitions:
        table = PurePosixPath(rel).parts[1]
        tables[table] = str(PurePosixPath(rel, f"{table}.parquet"))
    tables = {t: tables[t] for t in _published() if t in tables}
    out = dict(manifest)
    out["outputs"] = {"warehouse": str(warehouse), "version": version_id,
                      "dossier_version": str(version_folder(warehouse, version_id)),
                      **recorded_paths(warehouse, version_id, {"tables": tables, "catalog": CATALOG,
                                                               "manifeste_publication": str(manifest_path(params))})}
    if with_report:
        out["rapport"] = {**(manifest.get("rapport") or {}), **report_files(root, warehouse, version_id, params)}
    else:
        out.pop("rapport", None)
    if "durees_etapes" in manifest:
        # this copy is written by the publication itself: its time and the provenance's are not known yet
        out["durees_etapes_arretees_avant"] = "publish"
    garde_fous = manifest.get("garde_fous") or {}
    out["publication"] = {"version": version_id,
                          "publie_le": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                          "forcee": bool(garde_fous.get("publication_forcee")),
                          "garde_fous_outrepasses": [c.get("message") for c in garde_fous.get("constats", [])]
                          if garde_fous.get("publication_forcee") else []}
    return out


def publish(tables: dict[str, str], params: dict, manifest: dict, warehouse: Path, *,
            build_report: Callable[[dict[str, str], Path], Any] | None = None, wait_seconds: float = 0.0) -> dict:
    """prepare + build_report(staged tables, report folder) + commit, in a staging folder deleted afterwards.
    Returns the manifest as published."""
    with wh.staging_area(Path(warehouse)) as staging:
        prepared = prepare(tables, params, manifest, staging)
        if build_report is not None:
            folder = staging / report_path(params)
            folder.mkdir(parents=True)
            build_report(prepared["tables"], folder)
        return commit(staging, params, manifest, warehouse, report=build_report is not None,
                      wait_seconds=wait_seconds)


def publish_report(staged_report: Path, params: dict, warehouse: Path, *, run_id: str, facts: dict | None = None,
                   wait_seconds: float = 0.0) -> dict:
    """Put a report rebuilt by `ess report` in place, as a new version, next to the tables of the run it was built
    from — refused if another run's tables are published there. Returns the updated publication manifest."""
    warehouse = Path(warehouse)
    rel = report_path(params)
    updated: dict = {}

    def finish(root: Path, version_id: str) -> dict:
        path = root / manifest_path(params)
        current = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
        if current is not None and current.get("run_id") != run_id:
            raise UserError(
                f"the tables published for département {params['departement']}, millésime {params['millesime']}, "
                f"perimeter {params['perimetre']} come from run {current.get('run_id')}, not {run_id}: a report of "
                f"run {run_id} would not describe them. Use --run with that run, or --out to write elsewhere")
        if current is not None:
            current["rapport"] = {**(facts or {}), **report_files(root, warehouse, version_id, params)}
            wh.write_json_atomic(path, current)
            updated.update(current)
        regenerate(root)
        return {}

    description = {"changement": {"type": "rapport", "run_id": run_id, "departement": params["departement"],
                                  "millesime": params["millesime"], "perimetre": params["perimetre"]}}
    wh.commit(warehouse, {str(rel): Path(staged_report)}, finish, regenerated=REGENERATED,
              description=description, wait_seconds=wait_seconds)
    return updated


def report_files(root: Path, warehouse: Path, version_id: str, params: dict) -> dict:
    """The report's version, folder and files as a manifest records them (recorded_paths; `root` is the version
    while it is being built)."""
    rel = report_path(params)
    files = sorted(str(rel / p.relative_to(root / rel)) for p in (root / rel).rglob("*") if p.is_file())
    return {"version": version_id, **recorded_paths(warehouse, version_id, {"dossier": str(rel), "fichiers": files})}


# --- reading publications ----------------------------------------------------------------------------------------


def published_manifests(warehouse: Path, departement: str, perimetre: str) -> dict[str, Path]:
    """{millésime: publication manifest} of a département and perimeter in the current version, oldest millésime
    first. The paths are in the current version's folder: they keep naming these manifests after the next
    publication (a run's manifest records the one it was compared with)."""
    root = wh.current_dir(Path(warehouse))
    if root is None:
        return {}
    folder = root / PUBLICATIONS / f"departement={departement}"
    found = {p.parent.parent.name.partition("=")[2]: p
             for p in folder.glob(f"millesime=*/perimetre={perimetre}/{MANIFEST}")}
    return dict(sorted(found.items()))


def published_perimeters(warehouse: Path, departement: str, millesime: str) -> dict[str, Path]:
    """{perimeter: publication manifest} of a département and millésime in the current version (paths in its
    folder, as published_manifests)."""
    root = wh.current_dir(Path(warehouse))
    if root is None:
        return {}
    folder = root / PUBLICATIONS / f"departement={departement}" / f"millesime={millesime}"
    return {p.parent.name.partition("=")[2]: p for p in sorted(folder.glob(f"perimetre=*/{MANIFEST}"))}


def run_version(warehouse: Path, departement: str, run_id: str) -> str | None:
    """The version in which run `run_id` is published, if its publication is current."""
    warehouse = Path(warehouse)
    if wh.current_dir(warehouse) is None:
        return None
    for path in (warehouse / PUBLICATIONS / f"departement={departement}").glob(f"*/*/{MANIFEST}"):
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("run_id") == run_id:
            return (data.get("publication") or {}).get("version")
    return None


def published_manifest(warehouse: Path, params: dict) -> dict | None:
    """The publication manifest of exactly this département, millésime and perimeter (None if unpublished)."""
    path = published_manifests(warehouse, params["departement"], params["perimetre"]).get(str(params["millesime"]))
    return json.loads(path.read_text(encoding="utf-8")) if path else None


# --- files derived from the whole version ------------------------------------------------------------------------


# Opened from another folder, the catalog's views find no file and DuckDB's error does not say why.
OPENING_HINT = ("Les chemins des vues sont relatifs au dossier du catalogue : ouvrir ess.duckdb depuis ce dossier, "
                "ou d'ailleurs exécuter d'abord SET file_search_path = '<dossier du catalogue>'.")


# Views of the catalog over other views, ready to use (sql/catalog/vues/<view>.sql), in the order they are created,
# each with the published table whose column descriptions it keeps (its own columns are described in the field
# dictionary like a table's, its description and guide in tables.csv). A view over a table this version does not
# have, or of an older layout without the columns it reads, is left out.
CONVENIENCE_VIEWS = (
    ("ess_territoires", "out_indicateurs_public"),
    ("ess_secteurs_a21_departement", "out_indicateurs_public"),
    ("ess_secteurs_ess_departement", "out_indicateurs_public"),
    ("ess_tailles_departement", "out_indicateurs_public"),
    ("referentiel_territoires_epci", "referentiel_territoires"),
)
VIEWS_SQL = CATALOG_SQL / "vues"
# The ess_* views read the perimeter of each département's run from this table: a département whose latest
# millésime was published before it existed is not in them (their comment names it).
RUN_PERIMETER = "referentiel_perimetres"
SHARE_UNIT = "ratio (0-1)"
SHARES_NOTE = "Parts (colonnes part_*) en ratio 0–1 : ×100 pour des %."
# Placeholders of the guides (sql/dictionnaire/tables.csv) filled from the version's data when the catalog is built
# (_guide_values): the ready-to-paste WHERE clause names the run's perimeter and employment year.
GUIDE_PLACEHOLDERS = {"{perimetre}": "<périmètre du run : referentiel_perimetres WHERE perimetre_du_run>",
                      "{annee}": "<année d'emploi>"}


def build_catalog(root: Path) -> Path:
    """(Re)build <root>/ess.duckdb: for each published table, a view `<table>_historique` over every file of the
    version and a view `<table>` keeping the latest millésime of each département, with comments saying what the
    table is, which filters a query needs and whether the data are synthetic; then the views ready to use
    (CONVENIENCE_VIEWS: the cube with its filters set, the territories' EPCI). Paths are relative to the catalog's
    folder (open it from there, or SET file_search_path to it: open_catalog does), so a copied warehouse reads its
    own files."""
    root = Path(root).absolute()
    final = root / CATALOG
    tmp = root / f".{CATALOG}.tmp"
    tmp.unlink(missing_ok=True)
    con = db.connect(tmp)
    try:
        present = [(table, access) for table, access in _published().items()
                   if any((root / access / table).glob("**/*.parquet"))]
        for table, access in present:
            create_views(con, root, table, access)
        values = _guide_values(con)
        for table, access in present:
            comment_views(con, table, access, values)
        create_convenience_views(con, values)
    finally:
        con.close()
    tmp.replace(final)
    return final


def open_catalog(folder: Path):
    """A read-only DuckDB connection to the catalog of a warehouse (or of one version's folder), whose relative
    paths resolve against that folder whatever the current directory."""
    import duckdb

    folder = Path(folder).absolute()
    con = duckdb.connect(str(folder / CATALOG), read_only=True)
    con.execute("SET file_search_path = $1", [str(folder)])
    return con


def _catalog_sql(name: str, **parts: str) -> str:
    return (CATALOG_SQL / f"{name}.sql").read_text(encoding="utf-8").format(**parts)


def create_views(con, root: Path, table: str, access: str) -> None:
    history = f"{table}{HISTORY_SUFFIX}"
    pattern = PurePosixPath(access, table, "**", "*.parquet")
    # DuckDB resolves a relative glob from the current directory, then file_search_path (a setting of this
    # session only, not stored in the catalog): bind it to this version while building
    con.execute("SET file_search_path = $1", [str(root)])
    con.execute(f"CREATE VIEW {history} AS " + _catalog_sql("historique", chemin=_literal(str(pattern))))
    columns = _view_columns(con, history)
    groups = ["departement"] + (["perimetre"] if "perimetre" in columns and table not in ONE_PARTITION else [])
    con.execute(f"CREATE VIEW {table} AS " + _catalog_sql("dernier_millesime", historique=history,
                                                           groupes=", ".join(groups)))


def comment_views(con, table: str, access: str, values: dict[str, str]) -> None:
    """The comments of a table's two views and of their columns (field dictionary)."""
    history = f"{table}{HISTORY_SUFFIX}"
    columns = _view_columns(con, history)
    table_doc, column_docs = _table_docs(table)
    flag = _synthetic_flag(con, history, columns)
    guide = " ".join(filter(None, [fill_guide(cols.query_guide(table), values), _shares_note([table], columns)]))
    for view, scope in ((table, f"Dernier millésime publié de chaque département (tous : {history})."),
                        (history, f"Tous les millésimes publiés : filtrer sur millesime (le dernier : {table}).")):
        _comment_view(con, view, f"{flag}{_access_label(access)} — {table_doc} {scope} {guide}", columns,
                      column_docs)


def create_convenience_views(con, values: dict[str, str]) -> list[str]:
    """Create the CONVENIENCE_VIEWS whose tables and columns this version has, with their comments; returns their
    names. They filter and rename published rows (and flag the years the report reads): no figure appears that is
    not in the table they read."""
    import duckdb

    created = []
    cube_du_run = _cube_du_run()
    for view, base in CONVENIENCE_VIEWS:
        sql = (VIEWS_SQL / f"{view}.sql").read_text(encoding="utf-8").replace("{cube_du_run}", cube_du_run)
        try:
            con.execute(f"CREATE VIEW {db.identifier(view)} AS {sql}")
        except (duckdb.CatalogException, duckdb.BinderException):
            continue  # a table it reads is not published in this version, or without the columns it reads
        created.append(view)
        columns = _view_columns(con, view)
        description, own = _table_docs(view)
        docs = {**_table_docs(base)[1], **own}
        flag = _synthetic_flag(con, view, columns)
        access = _published().get(base, "public")
        missing = _missing_run_perimeter(con, base) if RUN_PERIMETER in sql else ""
        guide = " ".join(filter(None, [fill_guide(cols.query_guide(view), values), missing,
                                       _shares_note([base, view], columns)]))
        _comment_view(con, view, f"{flag}{_access_label(access)} — {description} {guide}", columns, docs)
    return created


def _cube_du_run() -> str:
    """The cube in each département's run perimeter with the report's years flagged: what the ess_* views filter
    (sql/catalog/cube_du_run.sql), without its comment lines."""
    text = (CATALOG_SQL / "cube_du_run.sql").read_text(encoding="utf-8")
    return "\n".join(line for line in text.splitlines() if not line.startswith("--"))


def _view_columns(con, view: str) -> list[str]:
    return [r[0] for r in con.execute(f"DESCRIBE {db.identifier(view)}").fetchall()]


def _comment_view(con, view: str, text: str, columns: list[str], docs: dict[str, str]) -> None:
    """A catalog view's comment (`text`, then how to open the catalog) and its columns' (field dictionary)."""
    con.execute(f"COMMENT ON VIEW {view} IS {_literal(f'{text} {OPENING_HINT}'.strip())}")
    for column in columns:
        if column in docs:
            con.execute(f"COMMENT ON COLUMN {view}.{db.identifier(column)} IS {_literal(docs[column])}")


def _access_label(access: str) -> str:
    return "PUBLIC (secret statistique appliqué)" if access == "public" else "INTERNE (non protégé, ne pas diffuser)"


def _synthetic_flag(con, view: str, columns) -> str:
    synthetic = (con.execute(f"SELECT bool_or(donnees_synthetiques) FROM {db.identifier(view)}").fetchone()[0]
                 if "donnees_synthetiques" in columns else None)
    return "DONNÉES SYNTHÉTIQUES (échantillon généré, ne décrit pas la réalité) — " if synthetic else ""


def _shares_note(tables: list[str], columns) -> str:
    """SHARES_NOTE when a column of the view is a share (unit SHARE_UNIT in the field dictionary)."""
    units = {c.name: c.unit for t in tables if cols.known_table(t) for c in cols.columns(t)}
    return SHARES_NOTE if any(units.get(c) == SHARE_UNIT for c in columns) else ""


def _missing_run_perimeter(con, base: str) -> str:
    """Which départements' latest millésime of `base` the ess_* views leave out (published before the reference
    tables: no perimeter of the run to read), as a sentence of the view's comment."""
    rows = con.execute(f"SELECT DISTINCT departement, millesime FROM {db.identifier(base)} "
                       f"ANTI JOIN {RUN_PERIMETER} USING (departement, millesime) ORDER BY ALL").fetchall()
    if not rows:
        return ""
    listed = ", ".join(f"{d} ({m})" for d, m in rows)
    return (f"ABSENTS de cette vue, publiés avant {RUN_PERIMETER} : {listed} ; lisez-les dans {base} avec les "
            "filtres de son commentaire.")


def _guide_values(con) -> dict[str, str]:
    """GUIDE_PLACEHOLDERS' values in this catalog: the perimeter of the runs of the latest millésimes (when they
    all have the same) and the latest year with employment of the cube."""
    names = db.table_names(con)
    values = dict(GUIDE_PLACEHOLDERS)
    if RUN_PERIMETER in names:
        found = con.execute(f"SELECT DISTINCT perimetre FROM {RUN_PERIMETER} WHERE perimetre_du_run").fetchall()
        if len(found) == 1:
            values["{perimetre}"] = found[0][0]
    for cube in ("out_indicateurs_public", "out_indicateurs"):
        if cube in names and {"annee", "date_reference_effectifs"} <= set(_view_columns(con, cube)):
            year = con.execute(f"SELECT max(annee) FROM {cube} WHERE date_reference_effectifs IS NOT NULL"
                               ).fetchone()[0]
            if year is not None:
                values["{annee}"] = str(year)
                break
    return values


def fill_guide(guide: str, values: dict[str, str] | None = None) -> str:
    """A guide of the field dictionary with its placeholders replaced (by GUIDE_PLACEHOLDERS' wording when the
    value is not known)."""
    for placeholder, default in GUIDE_PLACEHOLDERS.items():
        guide = guide.replace(placeholder, (values or {}).get(placeholder, default))
    return guide


def migrate_legacy_partitions(root: Path) -> list[str]:
    """Rewrite the table files of the layout before this one (`key=value` folders, keys absent from the files) into
    the current one, inside a version being built (its files are hard links: the previous version keeps its own).
    A partition the run has just published in the new layout wins over its old copy. Returns the files rewritten."""
    rewritten = []
    con = None
    try:
        for table, access in _published().items():
            folder = Path(root) / access / table
            for old in sorted(folder.glob("departement=*/**/*.parquet")) if folder.is_dir() else []:
                keys = dict(part.split("=", 1) for part in old.relative_to(folder).parent.parts if "=" in part)
                if set(keys) - set(LEGACY_KEYS) or "departement" not in keys or "millesime" not in keys:
                    continue
                params = {"departement": keys["departement"], "millesime": keys["millesime"],
                          "perimetre": keys.get("perimetre")}
                target = Path(root) / partition_path(table, params, "perimetre" in keys) / old.name
                if not target.exists():
                    con = con or db.connect()
                    metadata = {k.decode(): v.decode() for k, v in (_kv_metadata(old) or {}).items()
                                if not k.startswith(b"ARROW")}
                    con.execute(f"CREATE OR REPLACE VIEW {db.identifier(table)} AS SELECT * FROM "
                                f"read_parquet({_literal(str(old))}, hive_partitioning = false)")
                    columns = [r[0] for r in con.execute(f"DESCRIBE {db.identifier(table)}").fetchall()]
                    db.export_select(con, published_select(table, columns, strict=False), {
                        "departement": params["departement"], "millesime": params["millesime"],
                        "synthetique": metadata.get("ess:synthetic") == "true"}, target, metadata)
                    rewritten.append(str(target))
                old.unlink()
            for empty in sorted(folder.glob("departement=*"), reverse=True) if folder.is_dir() else []:
                shutil.rmtree(empty, ignore_errors=True)
    finally:
        if con is not None:
            con.close()
    return rewritten


def _kv_metadata(path: Path) -> dict[bytes, bytes] | None:
    import pyarrow.parquet as pq

    return pq.read_schema(path).metadata


def _table_docs(table: str) -> tuple[str, dict[str, str]]:
    """(table description, {column: description}) from the field dictionary, the one definition of columns."""
    try:
        return cols.describe_table(table)
    except KeyError:
        return table, {}


def write_dictionary(root: Path) -> list[Path]:
    """The data dictionary (every column: table, type, unit, French description, constraint), as CSV and Markdown,
    generated from the field dictionary (sql/dictionnaire/)."""
    rows = cols.dictionary_rows()
    values = _catalog_guide_values(root)
    views = [(view, base) for view, base in CONVENIENCE_VIEWS if cols.known_table(view)]
    rows += [{**row, "table": view} for view, _ in views for row in cols.dictionary_rows([view])
             if row["colonne"] not in PUBLICATION_KEYS]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    lines = ["# Dictionnaire des données", "",
             "Généré depuis le dictionnaire des champs `sql/dictionnaire/colonnes.csv` (ne pas modifier à la main). "
             "Les vues du catalogue `ess.duckdb` "
             "portent les mêmes descriptions (`SELECT * FROM duckdb_columns()`).", "",
             f"{OPENING_HINT}", "",
             f"La méthode — comment chaque chiffre est estimé, daté et protégé par le secret statistique, et les "
             f"limites de ces choix — est dans `{METHOD}`, à côté de ce dictionnaire : ses descriptions renvoient à "
             "ses sections (« METHOD.md § 3 »).", "",
             f"Chaque table a deux vues : `<table>` ne garde que le dernier millésime publié de chaque département "
             f"(à utiliser par défaut) et `<table>{HISTORY_SUFFIX}` les garde tous (filtrer alors sur `millesime`). "
             "Les fichiers Parquet portent les colonnes `departement` et `millesime` (texte) et "
             "`donnees_synthetiques` ; ils se lisent sans option avec pandas, pyarrow ou DuckDB.", ""]
    for table, access in _published().items():
        guide = " ".join(filter(None, [fill_guide(cols.query_guide(table), values),
                                       _shares_note([table], cols.names(table))]))
        lines += [f"## {table} ({access})", "", cols.describe_table(table)[0], ""]
        lines += [f"**Filtres nécessaires.** {guide}", ""] if guide else []
        lines += _column_table(r for r in rows if r["table"] == table)
    if views:
        lines += ["# Vues prêtes à l'emploi", "",
                  "Vues du catalogue sur les vues des tables (dernier millésime de chaque département), filtres déjà "
                  "posés : elles ne font que filtrer et renommer des lignes publiées (aucun chiffre nouveau). Leurs "
                  "colonnes sont celles de la table qu'elles lisent (décrites ci-dessus), moins celles que leurs "
                  "filtres fixent, plus les leurs :", ""]
        for view, base in views:
            guide = " ".join(filter(None, [fill_guide(cols.query_guide(view), values),
                                           _shares_note([base], cols.names(base))]))
            lines += [f"## {view} (vue sur {base})", "", cols.describe_table(view)[0], ""]
            lines += [f"**Lecture.** {guide}", ""] if guide else []
            lines += _column_table(r for r in rows if r["table"] == view)
    written = []
    for suffix, text in ((".csv", buffer.getvalue()), (".md", "\n".join(lines))):
        path = Path(root) / f"{DICTIONARY}{suffix}"
        wh.write_atomic(path, text)
        written.append(path)
    return written


def write_method(root: Path) -> Path:
    """The method (the repository's METHOD.md) beside the dictionary, whose descriptions cite its sections: an
    analyst given the warehouse alone has what they refer to."""
    path = Path(root) / METHOD
    wh.write_atomic(path, (paths.ROOT / METHOD).read_bytes())
    return path


def regenerate(root: Path) -> None:
    """What every new version rebuilds from its files (REGENERATED), after the legacy layout is migrated."""
    migrate_legacy_partitions(root)
    build_catalog(root)
    write_dictionary(root)
    write_method(root)


def _column_table(rows) -> list[str]:
    return (["| colonne | type | unité | description | contrainte |", "|---|---|---|---|---|"]
            + [f"| {r['colonne']} | {r['type']} | {r['unite']} | {r['description']} | {r['contrainte']} |"
               for r in rows] + [""])


def _catalog_guide_values(root: Path) -> dict[str, str]:
    """_guide_values of the catalog built in `root` (the placeholders' wording without one)."""
    if not (Path(root) / CATALOG).is_file():
        return dict(GUIDE_PLACEHOLDERS)
    con = open_catalog(Path(root))
    try:
        return _guide_values(con)
    finally:
        con.close()


def _literal(text: str) -> str:
    """A SQL string literal (COMMENT ON takes no bound parameters); the texts come from the field dictionary."""
    return "'" + text.replace("'", "''") + "'"
