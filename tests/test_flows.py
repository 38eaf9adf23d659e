"""The Prefect flow of one département: composition, caching, retries, lock, validation, provenance.

The steps are replaced by small stand-ins (module-level functions below, pointed at through
flows.pipeline.STEPS) that write tiny Parquet tables and count their calls; publication is the real
transforms.publish. The flows run under prefect_test_harness (one temporary Prefect server for the session).
Other test files (crash safety, Dask) import the stand-ins from here.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import sys
import time
import types
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ess import caching, db
from ess.errors import InputFileError, UserError
from ess.locking import LockedError
from transforms.steps import StepOutput


CALLS: collections.Counter = collections.Counter()
FLAKY = {"failures_left": 0, "error": ConnectionResetError}


# --- stand-in steps ----------------------------------------------------------------------------------------------


def fake_stage(source, snapshot, params, out_dir):
    """staging_<source>: one row per line of the snapshot's files (one row when there is no snapshot)."""
    CALLS[f"stage_{source}"] += 1
    lines, files = [], []
    if snapshot is not None:
        for f in sorted(Path(snapshot).iterdir()):
            if f.is_file() and f.name != "manifest.json":
                files.append(str(f))
                text = f.read_bytes().decode("utf-8", errors="replace")  # the sample has zip and Parquet files
                lines += [(f.name, line) for line in text.splitlines() if line]
    else:
        lines, files = [("reference", "cog")], ["data/reference"]
    con = db.connect()
    try:
        con.execute("CREATE TABLE t (fichier VARCHAR, ligne VARCHAR)")
        if lines:
            con.executemany("INSERT INTO t VALUES (?, ?)", lines)
        con.execute(f"CREATE TABLE staging_{source} AS SELECT * FROM t")
        written = db.export_tables(con, [f"staging_{source}"], out_dir)
    finally:
        con.close()
    stats = [{"source": source, "table": f"staging_{source}", "file": files[0], "rows_read": len(lines) + 1,
              "rows_staged": len(lines), "rows_rejected": {"ligne vide": 1}, "rows_rejected_total": 1,
              "rows_out_of_scope": 0}]
    return StepOutput(tables=written, stats={source: stats})


def fake_core(tables, params, out_dir):
    CALLS["core"] += 1
    if os.environ.get(RENDEZVOUS):
        rendezvous(Path(os.environ[RENDEZVOUS]), params["departement"])
    con = db.connect()
    try:
        db.attach_tables(con, tables)
        # columns of the field dictionary (the publication refuses others): the table read, its row count
        union = " UNION ALL ".join(f"SELECT '{t}' AS activite, count(*)::DOUBLE AS effectif_central FROM {t}"
                                   for t in sorted(tables))
        con.execute(f"CREATE TABLE core_etablissements AS SELECT $departement AS code_departement, * FROM ({union})",
                    {"departement": params["departement"]})
        written = db.export_tables(con, ["core_etablissements"], out_dir)
    finally:
        con.close()
    return StepOutput(tables=written, stats={"core": {"etablissements": len(tables)}})


def fake_outputs(tables, params, out_dir):
    CALLS["outputs"] += 1
    con = db.connect()
    try:
        db.attach_tables(con, {"core_etablissements": tables["core_etablissements"]})
        sql = ("SELECT 'departement' AS niveau, $departement AS code_territoire, $perimetre AS perimetre, "
               "sum(effectif_central)::BIGINT AS nb_etablissements FROM core_etablissements")
        bound = {"departement": params["departement"], "perimetre": params["perimetre"]}
        con.execute(f"CREATE TABLE out_indicateurs AS {sql}", bound)
        con.execute(f"CREATE TABLE out_indicateurs_public AS {sql}", bound)
        written = db.export_tables(con, ["out_indicateurs", "out_indicateurs_public"], out_dir)
    finally:
        con.close()
    return StepOutput(tables=written, stats={"out_indicateurs": {"cellules": 1}})


def fake_completeness(tables, millesime=None):
    """The stand-in tables have none of the columns the completeness figures read: nothing to say."""
    CALLS["completeness"] += 1
    return {}


def fake_check(tables, params, previous=None, others=()):
    """The headline of the stand-in cube, compared with the previous publication like the real check."""
    from transforms.checks import compare

    CALLS["check"] += 1
    con = db.connect()
    try:
        db.attach_tables(con, {"out_indicateurs": tables["out_indicateurs"]})
        total = con.execute("SELECT sum(nb_etablissements) FROM out_indicateurs").fetchone()[0]
    finally:
        con.close()
    headline = {"nb_etablissements_ess": int(total)}
    return {"headline": headline, "variations": compare(headline, (previous or {}).get("headline")),
            "publication_precedente": {k: v for k, v in previous.items() if k != "headline"} if previous else None}


def fake_report(tables, params, out_dir):
    CALLS["report"] += 1
    (Path(out_dir) / "rapport.txt").write_text(f"rapport {params['departement']} {sorted(tables)}\n",
                                               encoding="utf-8")
    return {"pdf": str(Path(out_dir) / "rapport.txt")}


def fake_fetch(root, *, millesime, departement, sources, formats):
    """Fails FLAKY['failures_left'] times, then lays out the snapshot like `ess fetch` would."""
    CALLS["fetch"] += 1
    if FLAKY["failures_left"] > 0:
        FLAKY["failures_left"] -= 1
        raise FLAKY["error"]("connection reset by peer")
    return write_inputs(Path(root))


RENDEZVOUS = "ESS_TEST_RENDEZVOUS"


def rendezvous(folder: Path, me: str, expected: int = 2, timeout: float = 60) -> None:
    """Wait until `expected` départements are inside their core step at the same time: proof that they run in
    parallel (run one after the other, the first one would wait in vain and fail)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / me).touch()
    deadline = time.monotonic() + timeout
    while len(list(folder.iterdir())) < expected:
        if time.monotonic() > deadline:
            raise TimeoutError(f"département {me} waited alone in its core step: the départements did not run "
                               "in parallel")
        time.sleep(0.1)


def _late(name: str):
    """The stand-in of this module named `name`, looked up when called (tests replace them with monkeypatch)."""
    def step(*args, **kwargs):
        return globals()[name](*args, **kwargs)
    step.__name__ = name
    return step


STUBS = {
    "fetch": _late("fake_fetch"),
    "stage": _late("fake_stage"),
    "core": _late("fake_core"),
    "outputs": _late("fake_outputs"),
    "completeness": _late("fake_completeness"),
    "check": _late("fake_check"),
    "report": _late("fake_report"),
}


def write_inputs(root: Path, *, urssaf_lines=("2025;associations;120",)) -> list[Path]:
    """A folder of 'official files': SIRENE 2026-10 and URSSAF 2025 (territories: the committed reference)."""
    sirene = root / "sirene" / "2026-10"
    urssaf = root / "urssaf" / "2025"
    sirene.mkdir(parents=True, exist_ok=True)
    urssaf.mkdir(parents=True, exist_ok=True)
    (sirene / "StockEtablissement_utf8.csv").write_text("siret\n12345678900011\n12345678900029\n", encoding="utf-8")
    (urssaf / "urssaf.csv").write_text("\n".join(["annee;famille;effectifs", *urssaf_lines]) + "\n",
                                       encoding="utf-8")
    return [sirene / "StockEtablissement_utf8.csv", urssaf / "urssaf.csv"]


# --- fixtures ----------------------------------------------------------------------------------------------------


_HARNESS: list[contextlib.ExitStack] = []


@pytest.fixture(scope="session")
def prefect_harness(request):
    """One temporary Prefect server for the whole session, shared by the test files that import this fixture
    (each import is a fixture of its own for pytest, hence the module-level stack)."""
    from prefect.testing.utilities import prefect_test_harness

    if not _HARNESS:
        stack = contextlib.ExitStack()
        stack.enter_context(prefect_test_harness(server_startup_timeout=90))
        _HARNESS.append(stack)
        request.session.config.add_cleanup(lambda: _HARNESS and _HARNESS.pop().close())
    yield


@pytest.fixture
def stubs(monkeypatch):
    import flows.pipeline as fp

    CALLS.clear()
    FLAKY["failures_left"] = 0
    FLAKY["error"] = ConnectionResetError
    for name, target in STUBS.items():
        monkeypatch.setitem(fp.STEPS, name, target)
    return CALLS


@pytest.fixture
def inputs(data_dir):
    root = data_dir / "officiel"
    write_inputs(root)
    return root


def run(inputs_root, warehouse, **extra):
    from flows.pipeline import ess_pipeline

    params = {"departement": "38", "input_dir": str(inputs_root), "warehouse_dir": str(warehouse)}
    params.update(extra)
    return ess_pipeline(settings=params)


# --- composition and provenance ----------------------------------------------------------------------------------


def test_flow_runs_every_step_once_and_publishes(prefect_harness, stubs, inputs, data_dir):
    warehouse = data_dir / "entrepot"
    out = run(inputs, warehouse)
    assert dict(stubs) == {"stage_territoires": 1, "stage_sirene": 1, "stage_urssaf": 1, "core": 1, "outputs": 1,
                           "completeness": 1, "check": 1, "report": 1}
    manifest = json.loads(Path(out["manifest_path"]).read_text(encoding="utf-8"))
    assert manifest["millesimes"] == {"sirene": "2026-10", "urssaf": 2025, "cog": manifest["millesimes"]["cog"]}
    # 3 SIRENE lines + 2 URSSAF lines + 1 reference row: the cube counts all the stand-in staging rows
    assert manifest["checks"]["headline"] == {"nb_etablissements_ess": 6}
    assert manifest["sources"]["sirene"][0]["rows_staged"] == 3  # header + 2 lines
    # the public cube holds every perimeter: one partition per département and millésime
    public = warehouse / "public" / "out_indicateurs_public" / "departement_38" / "millesime_2026-10" / \
        "out_indicateurs_public.parquet"
    assert manifest["outputs"]["tables"]["out_indicateurs_public"] == str(
        warehouse / "versions" / manifest["outputs"]["version"] / public.relative_to(warehouse))
    assert Path(manifest["outputs"]["tables"]["out_indicateurs_public"]).read_bytes() == public.read_bytes()
    assert manifest["durees_etapes_arretees_avant"] == "provenance"  # the step writing it can't be in it
    assert (warehouse / "ess.duckdb").is_file()
    assert (Path(manifest["rapport"]["dossier"]) / "rapport.txt").is_file()
    # tables travel as paths inside the run folder (hard links of the cache entries)
    run_dir = Path(out["manifest_path"]).parent
    assert (run_dir / "staging" / "staging_sirene.parquet").is_file()
    assert all(not c["reutilise"] for c in manifest["cache"].values())


def test_same_provenance_in_manifest_parquet_metadata_and_artifact(prefect_harness, stubs, inputs, data_dir):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows.artifact import artifact_key

    out = run(inputs, data_dir / "entrepot", perimetre="loi2014")
    manifest = out["manifest"]
    published = manifest["outputs"]["tables"]["out_indicateurs_public"]
    kv = {k.decode(): v.decode() for k, v in pq.read_metadata(published).metadata.items()
          if k.decode().startswith("ess:")}
    # the table holds every perimeter, and says so; the run's perimeter has its own key
    perimeters = pq.read_table(published, columns=["perimetre"]).column("perimetre").unique().to_pylist()
    assert kv["ess:perimetre"] == ",".join(sorted(perimeters))
    assert kv.pop("ess:perimetre_du_run") == "loi2014"
    assert kv == {**manifest["metadonnees_parquet"], "ess:perimetre": kv["ess:perimetre"]}
    # the file's own columns, from the field dictionary, under their own key
    columns = json.loads(pq.read_metadata(published).metadata[b"dictionnaire:colonnes"])
    assert set(columns) == set(pq.read_schema(published).names)
    assert manifest["metadonnees_parquet"]["ess:perimetre"] == "loi2014" and kv["ess:synthetic"] == "false"
    # any other table carries the manifest's metadata as it is
    per_perimeter = manifest["outputs"]["tables"]["core_etablissements"]
    assert {k.decode(): v.decode() for k, v in pq.read_metadata(per_perimeter).metadata.items()
            if k.decode().startswith("ess:")} == manifest["metadonnees_parquet"]
    sources = json.loads(kv["ess:sources"])
    assert set(sources) == {"sirene", "urssaf", "territoires"}
    # the code that built it: this checkout's commit and the checksum of its code, in the manifest and every file
    built = manifest["version_pipeline"]
    assert len(built["empreinte_code"]) == 64 and kv["ess:version_pipeline"].endswith(built["empreinte_code"][:12])
    # no path of the building machine; every file read with its checksum
    assert all(not (s["dossier"] or "").startswith("/") for s in sources.values())
    for source, files in manifest["sources"].items():
        for f in files:
            if f.get("sha256"):
                assert sources[source]["fichiers"][Path(f["file"]).name] == f["sha256"]

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[artifact_key("38", "loi2014")])))
    markdown = found[-1].data
    assert f"run {manifest['run_id']}" in markdown
    for key, value in kv.items():  # every Parquet key-value pair is in the artifact
        assert f"| {key} | {value.replace('|', chr(92) + '|')} |" in markdown
    assert "| sirene | StockEtablissement_utf8.csv | staging_sirene | 4 | 3 | 1 | 0 |" in markdown
    assert "| nb_etablissements_ess | 6 |" in markdown
    assert out["manifest_path"] in markdown


def test_artifact_text_from_a_hand_built_manifest():
    from flows.artifact import artifact_key, render_markdown

    manifest = {
        "run_id": "R1", "synthetic": True, "parametres": {"departement": "2A", "perimetre": "insee"},
        "millesimes": {"sirene": "2026-10", "urssaf": 2025, "cog": 2026},
        "snapshots": {"sirene": {"dossier": "/x/sirene/2026-10",
                                 "manifest": {"files": {"a.parquet": {"sha256": "ab" * 32}}}}},
        "sources": {"sirene": [{"file": "/x/a.parquet", "table": "staging_sirene_etablissements", "rows_read": 10,
                                "rows_staged": 7, "rows_rejected_total": 2, "rows_out_of_scope": 1,
                                "rows_rejected": {"siret invalide": 2}}]},
        "checks": {"headline": {"nb_etablissements_ess": 7}},
        "cache": {"core": {"cle": "k1", "reutilise": True}},
        "outputs": {"tables": {"out_indicateurs_public": "/w/p.parquet"}, "catalog": "/w/ess.duckdb"},
        "metadonnees_parquet": {"ess:synthetic": "true"},
    }
    md = render_markdown(manifest, "/r/manifest.json")
    assert artifact_key("2A", "loi2014") == "ess-dep2a-loi2014"
    assert "DONNÉES SYNTHÉTIQUES" in md
    assert "| sirene | 2026-10 | /x/sirene/2026-10 | a.parquet (sha256 abababababab…) |" in md
    assert "| sirene | a.parquet | staging_sirene_etablissements | 10 | 7 | 2 | 1 |" in md
    assert "| staging_sirene_etablissements | siret invalide | 2 |" in md
    assert "| core | k1 | réutilisé (entrées inchangées) |" in md
    assert "| catalogue DuckDB | /w/ess.duckdb |" in md
    assert "| ess:synthetic | true |" in md


def test_artifact_says_which_rows_are_out_only_because_their_establishments_were_rejected():
    from flows.artifact import render_markdown

    units = {"file": "/x/StockUniteLegale_utf8.parquet", "table": "staging_sirene_unites_legales", "rows_read": 10,
             "rows_staged": 4, "rows_rejected_total": 0, "rows_out_of_scope": 6, "rows_without_kept_establishment": 5}
    md = render_markdown({"parametres": {"departement": "38"}, "sources": {"sirene": [units]}})
    assert ("| sirene | StockUniteLegale_utf8.parquet | staging_sirene_unites_legales | 10 | 4 | 0 | "
            "6 (dont 5 sans établissement retenu) |") in md


# --- caching -----------------------------------------------------------------------------------------------------


def test_rerun_with_unchanged_inputs_calls_no_cached_step(prefect_harness, stubs, inputs, data_dir):
    warehouse = data_dir / "entrepot"
    first = run(inputs, warehouse)
    second = run(inputs, warehouse)
    assert dict(stubs) == {"stage_territoires": 1, "stage_sirene": 1, "stage_urssaf": 1, "core": 1, "outputs": 1,
                           "completeness": 2, "check": 2, "report": 2}  # checks, publication and report always run
    assert all(c["reutilise"] for c in second["manifest"]["cache"].values())
    assert first["manifest"]["cache"] == {
        k: {**v, "reutilise": False} for k, v in second["manifest"]["cache"].items()}
    assert second["manifest"]["checks"]["headline"] == first["manifest"]["checks"]["headline"]
    # the second run is compared with the first one's publication, in the same warehouse
    assert first["manifest"]["checks"]["publication_precedente"] is None
    previous = second["manifest"]["checks"]["publication_precedente"]
    assert previous["run_id"] == first["manifest"]["run_id"] and previous["millesime"] == "2026-10"
    assert previous["version"] == first["manifest"]["publication"]["version"]
    assert second["manifest"]["checks"]["variations"] == []
    assert first["manifest_path"] != second["manifest_path"]


def test_changed_input_file_reruns_exactly_its_dependants(prefect_harness, stubs, inputs, data_dir):
    warehouse = data_dir / "entrepot"
    run(inputs, warehouse)
    write_inputs(inputs, urssaf_lines=("2025;associations;120", "2025;cooperatives;30"))
    out = run(inputs, warehouse)
    assert dict(stubs) == {"stage_territoires": 1, "stage_sirene": 1, "stage_urssaf": 2, "core": 2, "outputs": 2,
                           "completeness": 2, "check": 2, "report": 2}
    cache = out["manifest"]["cache"]
    assert {k: v["reutilise"] for k, v in cache.items()} == {
        "stage_territoires": True, "stage_sirene": True, "stage_urssaf": False, "core": False, "outputs": False}
    assert out["manifest"]["checks"]["headline"] == {"nb_etablissements_ess": 7}


def test_changed_parameter_reruns_only_steps_that_use_it(prefect_harness, stubs, inputs, data_dir):
    warehouse = data_dir / "entrepot"
    run(inputs, warehouse)
    run(inputs, warehouse, perimetre="loi2014")  # staging does not depend on the perimeter
    assert stubs["stage_sirene"] == 1 and stubs["core"] == 2 and stubs["outputs"] == 2


def test_cache_key_follows_code_and_files(tmp_path, data_dir):
    closure = caching.module_closure(["transforms.staging", "sources.urssaf"])
    assert {"transforms.staging", "transforms.steps", "ess.db", "ess.accounting", "sources.urssaf"} <= set(closure)
    f = tmp_path / "a.csv"
    f.write_text("x\n1\n", encoding="utf-8")
    k1, _ = caching.step_key("s", {"in": f}, {"p": 1, "run_id": "A"}, "code1")
    assert caching.step_key("s", {"in": f}, {"p": 1, "run_id": "B"}, "code1")[0] == k1  # run_id is not a key
    assert caching.step_key("s", {"in": f}, {"p": 2}, "code1")[0] != k1
    assert caching.step_key("s", {"in": f}, {"p": 1}, "code2")[0] != k1
    f.write_text("x\n2\n", encoding="utf-8")
    assert caching.step_key("s", {"in": f}, {"p": 1}, "code1")[0] != k1


def test_a_recomputed_step_says_what_changed_since_its_closest_earlier_result(tmp_path, data_dir):
    f = tmp_path / "a.csv"
    f.write_text("x\n1\n", encoding="utf-8")
    root = tmp_path / "cache"

    def run(params, code):
        def compute(out):
            (out / "t.parquet").write_bytes(b"")
            return StepOutput({"t": str(out / "t.parquet")}, {})
        return caching.run_cached("s", compute, inputs={"in": f}, params=params, code=code, root=root)

    first = run({"p": 1}, "code1")
    assert (first.hit, first.changed) == (False, None)  # nothing to compare with
    assert run({"p": 1}, "code1").hit
    assert run({"p": 1}, "code2").changed == "code"
    assert run({"p": 2}, "code2").changed == "params"
    f.write_text("x\n2\n", encoding="utf-8")
    assert run({"p": 2}, "code2").changed == "inputs"
    assert run({"p": 3}, "code3").changed is None  # two things at once: no single reason
    assert run({"p": 3}, "code3").hit and run({"p": 3}, "code3").changed is None
    # another département's results are not earlier results of this one: its first run says no reason
    assert run({"p": 3, "departements": ["38"]}, "code3").changed is None
    assert run({"p": 3, "departements": ["73"]}, "code3").changed is None
    assert run({"p": 4, "departements": ["73"]}, "code3").changed == "params"


def test_manifest_json_of_a_snapshot_is_not_an_input(tmp_path, data_dir):
    snap = tmp_path / "snap"
    snap.mkdir()
    (snap / "data.csv").write_text("a\n", encoding="utf-8")
    before = caching.inputs_digest({"s": snap})
    (snap / "manifest.json").write_text('{"retrieved": "today"}', encoding="utf-8")
    assert caching.inputs_digest({"s": snap}) == before == {"s": {"data.csv": caching.file_sha256(snap / "data.csv")}}


# --- validation, retries, lock -----------------------------------------------------------------------------------


BAD_PARAMETERS = [
    ({"departement": "99"}, "unknown département '99'"),
    ({"perimetre": "tout"}, "unknown perimeter 'tout'"),
    ({"millesime": "2026-13"}, "not of the form YYYY-MM"),
    ({"annee_urssaf": 1900}, "annee urssaf 1900 is out of range"),
    ({"sample_scale": 0.0}, "sample scale 0.0 must be a number"),
    ({"input_dir": "/nonexistent/folder"}, "input folder /nonexistent/folder does not exist"),
    ({"run_id": "../x"}, "run id '../x' must be"),
]


@pytest.mark.parametrize("bad, message", BAD_PARAMETERS)
def test_invalid_parameters_are_named_in_the_error(data_dir, bad, message):
    from flows.pipeline import make_config

    with pytest.raises(UserError, match=message):
        make_config(**{"departement": "38", **bad})


@pytest.mark.parametrize("bad, message", [BAD_PARAMETERS[0], BAD_PARAMETERS[5]])
def test_invalid_parameters_fail_the_flow_before_any_work(prefect_harness, stubs, inputs, data_dir, bad, message):
    with pytest.raises(UserError, match=message):
        run(inputs, data_dir / "entrepot", **bad)
    assert not stubs
    assert not (data_dir / "entrepot").exists() and not (data_dir / "runs").exists()


def test_flaky_download_succeeds_on_second_attempt(prefect_harness, stubs, data_dir, monkeypatch):
    import flows.pipeline as fp

    monkeypatch.setattr(fp, "FETCH_BACKOFF_SECONDS", 0.01)
    FLAKY["failures_left"] = 1
    out = run(data_dir / "raw", data_dir / "entrepot", download=True)
    assert stubs["fetch"] == 4 and stubs["core"] == 1  # the first source twice, then each of the two others once
    assert out["manifest"]["synthetic"] is False


def test_several_departements_fetch_the_national_files_once_and_the_filtered_ones_for_each(prefect_harness,
                                                                                             stubs, data_dir,
                                                                                             monkeypatch):
    """SIRENE's stocks are national: fetched once; URSSAF's portal filters by département
    (Source.fetched_by_departement): its exports are fetched again for every other département."""
    import flows.pipeline as fp
    from ess.settings import Settings

    asked = []

    def fetch(root, *, millesime, departement, sources, formats):
        asked.append((departement, sources))
        return []

    monkeypatch.setitem(fp.STEPS, "fetch", fetch)
    settings = Settings(departements=["38", "73", "26"], download=True).validated()
    fp.download_inputs(settings.every_departement())
    assert asked == [("38", ["territoires"]), ("38", ["sirene"]), ("38", ["urssaf"]), ("73", ["urssaf"]),
                     ("26", ["urssaf"])]
    asked.clear()
    fp.download_inputs(settings.every_departement(), ["sirene"])
    assert asked == [("38", ["sirene"])]


def test_download_retries_are_exponential():
    import flows.pipeline as fp

    assert fp.fetch_retry_delays() == [60.0, 120.0, 240.0]


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed when the block ends: a connection there is refused


@pytest.fixture
def real_fetch(monkeypatch, stubs):
    """The real `ess fetch` in the flow, with no wait between attempts (the rounds' waits: 10 ms, 20 ms, 40 ms),
    and a console that keeps what the run prints."""
    import io

    import flows.pipeline as fp
    import sources.download
    from ess import progress
    from sources import registry

    monkeypatch.setitem(fp.STEPS, "fetch", registry.fetch)
    monkeypatch.setattr(sources.download, "BACKOFF_SECONDS", 0.0)
    monkeypatch.setattr(fp, "FETCH_BACKOFF_SECONDS", 0.01)
    console = io.StringIO()
    monkeypatch.setattr(progress, "_current", progress.Progress(console, heartbeat=0))
    return console


def test_an_address_where_nothing_answers_fails_at_once_with_every_attempt_shown(prefect_harness, real_fetch,
                                                                                   data_dir, monkeypatch):
    """A refused connection (a wrong mirror address, a stopped server) is tried a few times seconds apart, each
    failure shown under the step; then the run stops with the number of attempts made — no rounds minutes apart."""
    port = _closed_port()
    monkeypatch.setenv("ESS_DATA_GOUV_BASE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("ESS_URSSAF_BASE_URL", f"http://127.0.0.1:{port}")
    with pytest.raises(UserError) as err:
        run(data_dir / "raw", data_dir / "entrepot", download=True)
    message = str(err.value)
    assert f"SIRENE metadata: cannot read http://127.0.0.1:{port}/api/1/datasets/" in message
    assert f"connection refused by 127.0.0.1:{port} — after 4 attempts" in message
    assert f"ESS_DATA_GOUV_BASE_URL=http://127.0.0.1:{port}: check that variable" in message
    assert "does not try again later" in message
    console = real_fetch.getvalue()
    tries = [line.split("] ", 1)[1] for line in console.splitlines() if "tentative" in line]
    refused = f"connexion refusée par 127.0.0.1:{port}"
    assert tries == [f"  ✗ métadonnées SIRENE (data.gouv.fr) : tentative {n}/4 — {refused}"
                     + (" ; nouvel essai dans 0,0 s" if n < 4 else "") for n in (1, 2, 3, 4)]
    assert console.count("territoires : rien à télécharger") == 1
    assert "nouvel essai complet" not in console
    assert "✗ Téléchargement des fichiers officiels" in console


def test_a_portal_in_trouble_is_fetched_again_later_and_the_error_counts_every_attempt(prefect_harness, real_fetch,
                                                                                        data_dir, monkeypatch):
    """A 503 may pass: the source is fetched again in 3 more rounds (60 s, 120 s, 240 s later in production), each
    announced; the final message counts the attempts of all four rounds."""
    try:
        from tests.http_server import Fail, LocalServer
    except ImportError:
        from http_server import Fail, LocalServer
    from sources.sirene_layouts import SOURCE as SIRENE

    with LocalServer() as srv:
        api = f"/api/1/datasets/{SIRENE.dataset_id}/"
        srv.add_json(api, {"resources": []})
        srv.script(api, [Fail(503)] * 40)
        monkeypatch.setenv("ESS_DATA_GOUV_BASE_URL", srv.url())
        with pytest.raises(UserError) as err:
            run(data_dir / "raw", data_dir / "entrepot", download=True)
        assert len(srv.requests_for(api)) == 16
    assert "answered HTTP 503 Service Unavailable — after 16 attempts in 4 rounds" in str(err.value)
    console = real_fetch.getvalue()
    assert console.count("✗ métadonnées SIRENE (data.gouv.fr) : tentative") == 16
    rounds = [line.split("] ", 1)[1] for line in console.splitlines() if "nouvel essai complet" in line]
    assert rounds == [f"  ↻ sirene : échec du téléchargement (le serveur répond HTTP 503 Service Unavailable) ; "
                      f"nouvel essai complet {n}/4 dans {wait}" for n, wait in ((2, "0,0 s"), (3, "0,0 s"),
                                                                                 (4, "0,0 s"))]
    assert console.count("territoires : rien à télécharger") == 1


def test_a_file_in_the_wrong_format_is_not_retried(prefect_harness, stubs, data_dir, monkeypatch):
    import flows.pipeline as fp

    monkeypatch.setattr(fp, "FETCH_BACKOFF_SECONDS", 0.01)
    FLAKY["failures_left"], FLAKY["error"] = 5, InputFileError
    with pytest.raises(InputFileError):
        run(data_dir / "raw", data_dir / "entrepot", download=True)
    assert stubs["fetch"] == 1 and stubs["core"] == 0


def test_second_run_is_refused_while_first_holds_the_lock(prefect_harness, stubs, inputs, data_dir):
    from flows.pipeline import run_lock
    from ess.settings import Settings

    warehouse = data_dir / "entrepot"
    with run_lock(Settings(departement="38", warehouse_dir=str(warehouse))):
        with pytest.raises(LockedError, match="a run of département 38 .* already in progress"):
            run(inputs, warehouse)
        assert not stubs  # refused before any step
        run(inputs, warehouse, departement="73")  # another département may run meanwhile
    run(inputs, warehouse)  # free again
    assert stubs["core"] == 2


# --- input location and the CLI ----------------------------------------------------------------------------------


def test_sample_is_generated_at_the_requested_scale(prefect_harness, stubs, data_dir, monkeypatch):
    written = []

    def write_sample(root, *, departement, scale):
        written.append((Path(root), departement, scale))
        write_inputs(Path(root))
        (Path(root) / "SYNTHETIC.md").write_text("synthétique", encoding="utf-8")

    monkeypatch.setitem(sys.modules, "sources.sample", types.SimpleNamespace(write_sample=write_sample))
    from flows.pipeline import ess_pipeline

    out = ess_pipeline(settings={"departement": "73", "sample_scale": 0.05,
                                 "warehouse_dir": str(data_dir / "entrepot")})
    assert written == [(data_dir / "sample" / "dep73-x0.05", "73", 0.05)]
    assert out["manifest"]["synthetic"] is True
    assert out["manifest"]["metadonnees_parquet"]["ess:synthetic"] == "true"


def test_synthetic_is_decided_by_the_input_files(prefect_harness, stubs, inputs, data_dir, tmp_path):
    """Whatever the command line: a Parquet input carrying ess:synthetic=true, or the sample's marker file in the
    input folder or above it, makes every output synthetic; official files without either are not."""
    import pyarrow as pa

    from flows.inputs import synthetic_markers

    snapshots = {"sirene": inputs / "sirene" / "2026-10", "urssaf": inputs / "urssaf" / "2025", "territoires": None}
    assert synthetic_markers(inputs, snapshots) == []
    assert run(inputs, data_dir / "entrepot")["manifest"]["synthetic"] is False

    marked = inputs / "sirene" / "2026-10" / "StockUniteLegale_utf8.parquet"
    pq.write_table(pa.table({"siren": ["000000001"]}).replace_schema_metadata({"ess:synthetic": "true"}), marked)
    assert synthetic_markers(inputs, snapshots) == [str(marked)]
    out = run(inputs, data_dir / "autre_entrepot")["manifest"]  # (the stand-in counts the Parquet file's lines)
    assert out["synthetic"] is True and out["marqueurs_synthetiques"] == [str(marked)]
    published = pq.read_metadata(out["outputs"]["tables"]["out_indicateurs_public"]).metadata
    assert published[b"ess:synthetic"] == b"true"

    marked.unlink()
    (data_dir / "synthetic.json").write_text("{}", encoding="utf-8")  # a parent of the input folder
    assert synthetic_markers(inputs, snapshots) == [str(data_dir / "synthetic.json")]


def test_marker_names_are_the_samples():
    import sources.sample
    from flows.inputs import SYNTHETIC_MARKERS, SYNTHETIC_PARQUET_KEY, SYNTHETIC_ZIP_COMMENT
    from sources.sample.writers import SYNTHETIC_KEY, ZIP_COMMENT

    assert set(SYNTHETIC_MARKERS) == {sources.sample.MARKER_JSON, sources.sample.MARKER_FILE}
    assert SYNTHETIC_MARKERS[0] == sources.sample.MARKER_JSON  # the one whose checksums are read
    assert SYNTHETIC_PARQUET_KEY == SYNTHETIC_KEY
    assert ZIP_COMMENT.startswith(SYNTHETIC_ZIP_COMMENT)


def test_cli_run_runs_the_flow(prefect_harness, stubs, inputs, data_dir, capsys):
    from flows.cli import main

    code = main(["run", "--input", str(inputs), "--out", str(data_dir / "entrepot"), "--no-report"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "département 38" in printed and "SIRENE 2026-10" in printed and "Manifeste :" in printed
    assert stubs["core"] == 1 and stubs["report"] == 0


def test_cli_run_reports_bad_parameters_without_traceback(data_dir, capsys):
    from flows.cli import main

    assert main(["run", "--departement", "99"]) == 2
    assert "unknown département '99'" in capsys.readouterr().err


def test_code_version_follows_imports_even_inside_functions(tmp_path, monkeypatch):
    pkg = tmp_path / "essfake"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("", encoding="utf-8")
    (pkg / "step.py").write_text("def run():\n    from essfake import helper\n    return helper.X\n", encoding="utf-8")
    (pkg / "helper.py").write_text("X = 1\n", encoding="utf-8")
    (pkg / "unrelated.py").write_text("Y = 1\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(caching, "PROJECT_PACKAGES", ("essfake",))
    assert set(caching.module_closure(["essfake.step"])) == {"essfake", "essfake.step", "essfake.helper"}
    before = caching.code_version.__wrapped__(("essfake.step",))
    (pkg / "unrelated.py").write_text("Y = 2\n", encoding="utf-8")
    assert caching.code_version.__wrapped__(("essfake.step",)) == before
    (pkg / "helper.py").write_text("X = 2\n", encoding="utf-8")
    assert caching.code_version.__wrapped__(("essfake.step",)) != before


def test_pipeline_version_names_the_commit_and_the_code(tmp_path):
    import subprocess

    from ess import version
    from ess.paths import ROOT

    built = version.pipeline_version()
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    assert built["commit"] == (head.stdout.strip() if head.returncode == 0 else None)
    assert len(built["empreinte_code"]) == 64
    assert version.short({"commit": "a" * 40, "modifie": True, "empreinte_code": "b" * 64}) == \
        f"{'a' * 12} (modifié) · code {'b' * 12}"
    assert version.short({"commit": None, "modifie": False, "empreinte_code": "c" * 64}) == f"code {'c' * 12}"
