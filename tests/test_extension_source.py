"""Worked change: a new source. A developer adds
  1. its module (here written to a temporary folder: `agrements_esus`, the list of companies holding the ESUS
     agrément — « entreprise solidaire d'utilité sociale » — by SIREN), which declares its files and exposes
     find_snapshot, stage, fetch and write_sample;
  2. its staging SQL, sql/staging/staging_agrements_esus.sql (here in a copy of sql/);
  3. one line in sources/registry.py (here: monkeypatch.setitem on registry.SOURCES);
  4. its columns in the field dictionary, sql/dictionnaire/colonnes.csv (here in the copy of sql/): two new lines,
     and its table added to the lines of two columns it shares with other tables (siren, code_departement).
Nothing else: the sample writes its file, the pipeline stages it with its row accounting (read = staged + rejected
+ out of scope), its table reaches the step outputs and the run's manifest, and it passes the check step's
expectations, derived from the dictionary like every table's.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ess import db, paths
from sources import registry
from test_flows import STUBS, prefect_harness  # noqa: F401 — the session's Prefect server


MODULE = '''
"""Agréments ESUS: the companies holding the agrément « entreprise solidaire d'utilité sociale », by SIREN
(one CSV a year, `;`-separated: siren;raison_sociale;departement;date_agrement)."""

from pathlib import Path

from ess import db
from ess.accounting import FileStats
from sources.base import Source, SourceFile

FILENAME = "liste-agrements-esus.csv"
TABLE = "staging_agrements_esus"
SOURCE = Source(
    name="agrements_esus",
    title="Liste des entreprises agréées ESUS",
    producer="DREETS",
    licence="Licence Ouverte 2.0",
    homepage="https://www.economie.gouv.fr/entreprises/agrement-esus",
    cadence="yearly",
    millesime_format="YYYY",
    files=(SourceFile(key="agrements", filename=FILENAME, url="https://example.invalid/agrements-esus.csv"),),
    stage_params=("departement", "synthetic", "reference_dir"),
)


def find_snapshot(root, settings):
    return SOURCE.snapshot(root, None), {}


def stage(con, snapshot, params, work_dir):
    path = Path(snapshot) / FILENAME
    con.execute("CREATE TABLE raw_agrements_esus AS SELECT *, CAST(row_number() OVER () + 1 AS BIGINT) AS _ligne "
                "FROM read_csv(?, delim=';', header=true, all_varchar=true)", [str(path)])
    read = con.execute("SELECT count(*) FROM raw_agrements_esus").fetchone()[0]
    elsewhere = con.execute("SELECT count(*) FROM raw_agrements_esus WHERE trim(departement) IS DISTINCT FROM ?",
                            [params["departement"]]).fetchone()[0]
    result = db.build_staging_table(con, TABLE, key="siren", fichier=str(path), departement=params["departement"])
    return [FileStats(source=SOURCE.name, table=TABLE, file=str(path), millesime=Path(snapshot).name,
                      rows_read=read, rows_out_of_scope=elsewhere, rows_staged=result["staged"],
                      rows_rejected=result["rejected"])]


def fetch(root, request):
    return []  # no stable address: the file is put in place by hand


def write_sample(source_root, sample):
    """Five agreed companies of the sample, one unreadable SIREN, one company of another département."""
    sirens = sorted(sample.tables.unites_legales.column("siren").to_pylist())[:5]
    other = "01" if sample.departement != "01" else "02"
    lines = ["siren;raison_sociale;departement;date_agrement"]
    lines += [f"{s};Entreprise {i};{sample.departement};2024-0{i + 1}-15" for i, s in enumerate(sirens)]
    lines += [f"12345;Siren trop court;{sample.departement};2024-06-01", f"987654321;Ailleurs;{other};2024-06-01"]
    folder = Path(source_root) / "2025"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / FILENAME).write_text("\\n".join(lines) + "\\n", encoding="utf-8")
'''

SQL = """-- staging_agrements_esus: the ESUS agréments of the département, typed; an unreadable SIREN or date is
-- rejected.
WITH brut AS (
    SELECT _ligne, trim(siren) AS siren, nullif(trim(raison_sociale), '') AS raison_sociale,
           trim(departement) AS code_departement, nullif(trim(date_agrement), '') AS date_texte
    FROM raw_agrements_esus
    WHERE trim(departement) = $departement
)
SELECT siren, raison_sociale, code_departement, TRY_CAST(date_texte AS DATE) AS date_agrement, _ligne,
       CASE WHEN NOT regexp_full_match(siren, '[0-9]{9}') THEN 'siren invalide'
            WHEN TRY_CAST(date_texte AS DATE) IS NULL THEN 'date d''agrément illisible' END AS _motif_rejet,
       CASE WHEN NOT regexp_full_match(siren, '[0-9]{9}') THEN 'siren'
            WHEN TRY_CAST(date_texte AS DATE) IS NULL THEN 'date_agrement' END AS _colonne_rejet,
       CASE WHEN NOT regexp_full_match(siren, '[0-9]{9}') THEN siren
            WHEN TRY_CAST(date_texte AS DATE) IS NULL THEN date_texte END AS _valeur_rejet
FROM brut
"""


@pytest.fixture
def esus(tmp_path, monkeypatch):
    """The new source: its module, its SQL file, its registry line."""
    folder = tmp_path / "extension"
    folder.mkdir()
    (folder / "agrements_esus.py").write_text(MODULE, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("agrements_esus", folder / "agrements_esus.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "agrements_esus", module)
    spec.loader.exec_module(module)
    sql = tmp_path / "sql"
    shutil.copytree(paths.SQL_DIR, sql)
    (sql / "staging" / "staging_agrements_esus.sql").write_text(SQL, encoding="utf-8")
    _dictionary_lines(sql)
    monkeypatch.setattr(db, "SQL_DIR", sql)
    monkeypatch.setattr(paths, "SQL_DIR", sql)  # the field dictionary, sql/dictionnaire/
    monkeypatch.setitem(registry.SOURCES, "agrements_esus", module)
    return module


def _dictionary_lines(sql: Path) -> None:
    """The new columns' lines, and the new table added to the lines of the columns it shares."""
    path = sql / "dictionnaire" / "colonnes.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        header, rows = reader.fieldnames, list(reader)
    for row in rows:
        if row["colonne"] in ("siren", "code_departement"):
            row["tables"] += " staging_agrements_esus"
    blank = dict.fromkeys(header, "")
    rows += [{**blank, "colonne": "raison_sociale", "type": "VARCHAR", "tables": "staging_agrements_esus",
              "description": "Raison sociale de l'entreprise agréée ESUS"},
             {**blank, "colonne": "date_agrement", "type": "DATE", "tables": "staging_agrements_esus",
              "non_nul": "oui", "description": "Date de l'agrément « entreprise solidaire d'utilité sociale »"}]
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def stand_ins(monkeypatch):
    """Real sample, staging, guards and publication; stand-ins for core, outputs, check and report (their own tests
    cover them), which receive every staging table."""
    import flows.pipeline as fp

    for name in ("core", "completeness", "outputs", "check", "report"):
        monkeypatch.setitem(fp.STEPS, name, STUBS[name])


def test_a_new_source_is_sampled_staged_accounted_and_reaches_the_outputs(prefect_harness, esus, stand_ins,
                                                                          data_dir):
    from flows.pipeline import ess_pipeline

    assert "agrements_esus" in registry.names() and "agrements_esus" not in registry.national()
    out = ess_pipeline(settings={"departement": "38", "sample_scale": 0.02, "report": False,
                                 "warehouse_dir": str(data_dir / "entrepot"), "run_id": "esus"})
    manifest = out["manifest"]

    # the sample wrote its file, like the official snapshot: <sample>/agrements_esus/2025/liste-agrements-esus.csv
    sample = data_dir / "sample" / "dep38-x0.02"
    written = sample / "agrements_esus" / "2025" / "liste-agrements-esus.csv"
    assert written.is_file()
    assert manifest["snapshots"]["agrements_esus"]["dossier"] == str(written.parent)

    # its accounting: 7 rows read = 5 staged + 1 rejected (the short SIREN) + 1 out of scope (another département)
    (stats,) = manifest["sources"]["agrements_esus"]
    assert (stats["rows_read"], stats["rows_staged"], stats["rows_rejected"], stats["rows_out_of_scope"]) == (
        7, 5, {"siren invalide": 1}, 1)

    # its table reached the step outputs (the core step received it) and the run's manifest
    table = manifest["tables"]["staging_agrements_esus"]
    staged = pq.read_table(table).to_pandas()
    expected = sorted(line.split(";")[0] for line in written.read_text(encoding="utf-8").splitlines()[1:6])
    assert sorted(staged["siren"]) == expected
    assert str(staged["date_agrement"].min())[:10] == "2024-01-15"
    assert "_motif_rejet" not in staged.columns
    # the check step's expectations, from the dictionary, hold for it (and would name an undescribed column)
    from transforms import checks

    con = db.connect()
    db.attach_tables(con, {"staging_agrements_esus": Path(table)})
    found = checks.validate_tables(con, ["staging_agrements_esus"])["staging_agrements_esus"]
    assert found["echecs"] == [] and found["colonnes_absentes"] == [] and found["expectations"] >= 2
    rejects = pq.read_table(manifest["tables"]["staging_rejets_agrements_esus"]).to_pylist()
    assert [(r["motif_rejet"], r["numero_ligne"], r["colonne"], r["valeur"]) for r in rejects] == [
        ("siren invalide", 7, "siren", "12345")]
    assert manifest["cache"]["stage_agrements_esus"]["reutilise"] is False

    # the run's summary names it, like the built-in sources
    run = json.loads(Path(out["manifest_path"]).read_text(encoding="utf-8"))
    assert run["sources"]["agrements_esus"] == manifest["sources"]["agrements_esus"]

    # `ess fetch` iterates the registry too: the new source is asked (and has nothing to download)
    assert registry.fetch(data_dir / "raw", departement="38", sources=["agrements_esus"]) == []
