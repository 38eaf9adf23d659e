"""Quiet, clear errors: a failing command prints one message (what happened, the file, what to do) and the place
of its log — never a traceback, never Prefect's logs. Tracebacks go to the run's log file.

One test runs the real `ess` program on a bad input and counts the lines it prints; the others call the CLI's
main() in this process, with stand-in steps that fail the way a full disk, a read-only warehouse, a missing
permission or a bug do.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

import bad_inputs
from flows.cli import main
from test_flows import inputs, prefect_harness, stubs  # noqa: F401 — fixtures

VENV_BIN = Path(sys.executable).parent


def test_the_ess_program_prints_a_few_lines_for_a_refused_run(prefect_harness, tmp_path):
    """`ess run` on an establishments file with a header and no row, as a user would type it, with Prefect logging
    at INFO (against the tests' Prefect server, to spare the start of a temporary one): 5 lines on the console, the
    traceback in the run's log."""
    from prefect.settings import PREFECT_API_URL

    folder = bad_inputs.copy_of(bad_inputs.sample(tmp_path / "sample"), tmp_path / "entree")
    bad_inputs.empty_establishments(folder)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_LOGGING", "PYTEST"))}
    env.update(ESS_DATA_DIR=str(tmp_path / "data"), PREFECT_API_URL=PREFECT_API_URL.value())
    done = subprocess.run([str(VENV_BIN / "ess"), "run", "--input", str(folder), "--out", str(tmp_path / "entrepot"),
                           "--run-id", "essai"], capture_output=True, text=True, env=env, timeout=300)
    printed = (done.stdout + done.stderr).splitlines()
    log = tmp_path / "data" / "runs" / "dep38" / "essai" / "run.log"
    assert done.returncode == 2
    assert printed == [
        f"ess run: publication refused — nothing was published, {tmp_path / 'entrepot'} is unchanged:",
        f"- {folder}/sirene/2026-10/StockEtablissement_utf8.parquet has no row (a header at most): it feeds "
        "staging_sirene_etablissements. Download it again (`ess fetch --source sirene` serves the latest millésime "
        "only) or put the complete file in place",
        f"- none of the rows of StockUniteLegale_utf8.parquet (3 266), StockEtablissementHistorique_utf8.parquet "
        f"(6 506), StockUniteLegaleHistorique_utf8.parquet (6 644) in {folder}/sirene/2026-10 is of département 38 "
        "(all out of scope). Check that these files cover 38",
        "Thresholds: data/reference/seuils_publication.csv. `--force` publishes anyway (the manifest and the report "
        "then say so).",
        f"  details: {log}",
    ]
    text = log.read_text(encoding="utf-8")
    assert "Traceback" in text and "PublicationRefused" in text and "[guard-inputs" in text
    assert "stage_sirene (départements 38): computed" in text  # Prefect's INFO logs went to the file, not the console


def run_cli(inputs_root: Path, warehouse: Path, *extra: str) -> int:
    return main(["run", "--input", str(inputs_root), "--out", str(warehouse), "--no-report", "--run-id", "essai",
                 *extra])


def failing_core(exc: BaseException):
    def core(tables, params, out_dir):
        raise exc
    return core


def console(capfd) -> list[str]:
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err
    return (out + err).splitlines()


SYSTEM_FAILURES = [
    # (the folder to look at is the nearest that exists: a failed step's temporary folder is gone)
    (OSError(errno.ENOSPC, "No space left on device", "/tmp/ess-absent-folder/core/x.parquet"),
     "disk full: could not write /tmp/ess-absent-folder/core/x.parquet. Free space on that disk (`df -h /tmp`) "
     "or point --out / ESS_DATA_DIR at a disk with room, then run again"),
    (__import__("duckdb").IOException('IO Error: Could not write file "/srv/ess/entrepot/t.parquet": Read-only file '
                                      'system'),
     "read-only file system: could not write /srv/ess/entrepot/t.parquet. Give --out (or ESS_DATA_DIR) a writable "
     "folder, or remount the disk read-write, then run again"),
    (PermissionError(errno.EACCES, "Permission denied", "/srv/ess/entrepot"),
     "permission denied: user {user} cannot write /srv/ess/entrepot. Fix its owner or permissions (`ls -ld /srv/ess`), "
     "or choose another folder with --out / ESS_DATA_DIR, then run again"),
]


@pytest.mark.parametrize("exc, message", SYSTEM_FAILURES, ids=["disk-full", "read-only", "permission"])
def test_system_problems_get_their_own_message(prefect_harness, stubs, inputs, data_dir, capfd, monkeypatch, exc,
                                               message):
    import getpass

    import test_flows

    monkeypatch.setattr(test_flows, "fake_core", failing_core(exc))
    warehouse = data_dir / "entrepot"
    assert run_cli(inputs, warehouse) == 3
    log = data_dir / "runs" / "dep38" / "essai" / "run.log"
    assert console(capfd) == [f"ess run: {message.format(user=getpass.getuser())}. Nothing was published: "
                              f"{warehouse} is as it was before the run", f"  details: {log}"]
    assert "Traceback" in log.read_text(encoding="utf-8")


def test_a_query_interrupted_by_ctrl_c_ends_the_run_as_interrupted(prefect_harness, stubs, inputs, data_dir, capfd,
                                                                   monkeypatch):
    """Not as a file that cannot be read (exit 2) nor a bug (exit 1), whatever wrapped DuckDB's error on the way:
    DuckDB's Python client (2.0) ends a query that Ctrl-C interrupts with RuntimeError('Query interrupted')."""
    import test_flows
    from ess.errors import InputFileError

    try:
        try:
            raise RuntimeError("Query interrupted")
        except RuntimeError as duckdb_error:
            raise InputFileError("/in/StockEtablissement_utf8.parquet: cannot be read (Query interrupted)") \
                from duckdb_error
    except InputFileError as wrapped:
        monkeypatch.setattr(test_flows, "fake_core", failing_core(wrapped))
    assert run_cli(inputs, data_dir / "entrepot") == 130
    assert console(capfd)[0].startswith("ess run: interrupted")


def test_a_full_disk_behind_a_file_error_gets_the_disks_message(prefect_harness, stubs, inputs, data_dir, capfd,
                                                               monkeypatch):
    """Exit 3 and the disk's message, not the file's: a reader that took DuckDB's write error for its file's fault
    wrapped it (DuckDB quotes the path in JSON, with escaped quotes)."""
    import duckdb

    import test_flows
    from ess.errors import InputFileError

    tmp = "/tmp/ess-absent-folder/stage-sirene-x/raw_sirene_etablissements.0.parquet.tmp"
    try:
        try:
            raise duckdb.IOException('IO Error: Async write failed: {"exception_message":"Could not write file \\"'
                                     + tmp + '\\": No space left on device","errno":"28"}')
        except duckdb.IOException as duckdb_error:
            raise InputFileError(f"/in/StockEtablissement_utf8.parquet: cannot be read ({duckdb_error})") \
                from duckdb_error
    except InputFileError as wrapped:
        monkeypatch.setattr(test_flows, "fake_core", failing_core(wrapped))
    warehouse = data_dir / "entrepot"
    assert run_cli(inputs, warehouse) == 3
    assert console(capfd)[0] == (
        f"ess run: disk full: could not write {tmp}. Free space on that disk (`df -h /tmp`) or point --out / "
        f"ESS_DATA_DIR at a disk with room, then run again. Nothing was published: {warehouse} is as it was before "
        "the run")


def test_duckdb_out_of_room_to_spill_is_a_full_disk(prefect_harness, stubs, inputs, data_dir, capfd, monkeypatch,
                                                    spill_failure):
    """DuckDB's « Out of Memory Error: failed to offload data block … max_temp_directory_size » is its temporary
    folder's disk, full: exit 3 with what to free, not a bug."""
    import test_flows

    monkeypatch.setattr(test_flows, "fake_core", failing_core(spill_failure))
    warehouse = data_dir / "entrepot"
    assert run_cli(inputs, warehouse) == 3
    assert console(capfd)[0] == (
        "ess run: disk full: a query could not spill to disk (DuckDB's temporary folder: in the step's folder under "
        "the data folder for the staging and the core, `.tmp` in the current folder for the other steps). Free space "
        f"there (`df -h`) or point --out / ESS_DATA_DIR at a disk with room, then run again. Nothing was published: "
        f"{warehouse} is as it was before the run")


def test_each_failed_departement_is_said_as_a_run_of_one_would_say_it():
    """`ess run -d …` and `ess france` list each failed département: a full disk by the disk's message (whatever
    wrapped it), a refused input by its message, anything else (a bug) by its type and message."""
    from ess.errors import InputFileError, UserError
    from flows.pipeline import failure_report

    wrapped = InputFileError("/in/StockEtablissement_utf8.parquet: cannot be read (No space left on device)")
    wrapped.__cause__ = OSError(errno.ENOSPC, "No space left on device", "/tmp/ess-absent-folder/x.parquet")
    report = failure_report({"73": wrapped, "26": UserError("département 26 : refusé pour l'essai"),
                             "38": KeyError("effectif_central")}, 4)
    assert report.splitlines() == [
        "3 of 4 départements failed (the others were published):",
        "- 26: département 26 : refusé pour l'essai",
        "- 38: KeyError: 'effectif_central'",
        "- 73: disk full: could not write /tmp/ess-absent-folder/x.parquet. Free space on that disk (`df -h /tmp`) or "
        "point --out / ESS_DATA_DIR at a disk with room, then run again"]


def test_a_real_missing_permission(prefect_harness, stubs, inputs, data_dir, capfd):
    """/sys refuses new folders, even to root: the run cannot take its lock in a warehouse there."""
    try:
        os.mkdir("/sys/ess-probe")
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EACCES):
            pytest.skip(f"/sys answers {exc} here")
    else:
        os.rmdir("/sys/ess-probe")
        pytest.skip("/sys accepts new folders here")
    assert run_cli(inputs, Path("/sys/ess-entrepot")) == 3
    first = console(capfd)[0]
    assert first.startswith("ess run: permission denied: user ") and "cannot write /sys/ess-entrepot" in first
    assert not stubs  # refused before any step


def test_a_bug_prints_one_line_with_the_log_holding_its_traceback(prefect_harness, stubs, inputs, data_dir, capfd,
                                                                  monkeypatch):
    import test_flows

    monkeypatch.setattr(test_flows, "fake_core", failing_core(KeyError("effectif_central")))
    assert run_cli(inputs, data_dir / "entrepot") == 1
    log = data_dir / "runs" / "dep38" / "essai" / "run.log"
    assert console(capfd) == [
        "ess run: unexpected error (a bug, not a problem with your files): KeyError: 'effectif_central' — the "
        f"traceback is in {log}; please report it with that file. Nothing was published: {data_dir / 'entrepot'} is "
        "as it was before the run"]
    text = log.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in text and "KeyError: 'effectif_central'" in text


def test_a_failure_after_the_publication_says_so_and_the_next_run_repairs(prefect_harness, stubs, inputs, data_dir,
                                                                         capfd, monkeypatch):
    """Killed or failing between the switch of the warehouse and the run's own manifest: the publication is in
    place (and says so); the next run copies the published manifest back into the run folder."""
    import flows.pipeline as tp  # where the provenance task writes the manifest

    real = tp.write_json_atomic

    def full_disk(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(tp, "write_json_atomic", full_disk)
    assert run_cli(inputs, data_dir / "entrepot") == 3
    first = console(capfd)[0]
    assert "disk full: could not write" in first and "This run's publication is in place (version " in first
    assert not (data_dir / "runs" / "dep38" / "essai" / "manifest.json").exists()
    monkeypatch.setattr(tp, "write_json_atomic", real)
    assert main(["run", "--input", str(inputs), "--out", str(data_dir / "entrepot"), "--no-report"]) == 0
    restored = data_dir / "runs" / "dep38" / "essai" / "manifest.json"
    assert restored.is_file() and '"run_id": "essai"' in restored.read_text(encoding="utf-8")


def test_a_restored_run_manifest_is_its_published_copy_byte_for_byte(data_dir):
    from ess.settings import Settings
    from flows.manifest import restore_run_manifests
    from transforms.publish import MANIFEST, PUBLICATIONS
    from transforms.warehouse import write_json_atomic

    warehouse = data_dir / "entrepot"
    published = warehouse / PUBLICATIONS / "departement=38" / "millesime=2026-10" / "perimetre=insee" / MANIFEST
    write_json_atomic(published, {"run_id": "essai", "chiffres": {"etablissements": 8003}})
    run_dir = data_dir / "runs" / "dep38" / "essai"
    run_dir.mkdir(parents=True)
    assert restore_run_manifests(Settings(departement="38", warehouse_dir=str(warehouse))) == [run_dir / MANIFEST]
    assert (run_dir / MANIFEST).read_bytes() == published.read_bytes()


def test_a_bug_outside_a_run_gets_a_log_of_its_own(data_dir, capfd, monkeypatch):
    import sources.sample

    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(sources.sample, "write_sample", broken)
    assert main(["sample", "--out", str(data_dir / "s")]) == 1
    line = console(capfd)
    assert len(line) == 1 and line[0].startswith("ess sample: unexpected error (a bug, not a problem with your "
                                                 "files): ZeroDivisionError: division by zero — the traceback is in ")
    log = Path(line[0].split("the traceback is in ")[1].split(";")[0])
    assert log.parent == data_dir / "logs" and "ZeroDivisionError" in log.read_text(encoding="utf-8")


def test_user_errors_stay_one_line(data_dir, capfd):
    assert main(["run", "--departement", "99"]) == 2
    assert console(capfd) == ["ess run: unknown département '99': use an INSEE code of the COG such as 38, 01, "
                              "2A, 971 (Corsica is 2A/2B, not 20)"]


def test_a_second_run_of_the_departement_is_refused_before_prefect_starts(stubs, inputs, data_dir, capfd,
                                                                          monkeypatch):
    """Refused at once: no Prefect server started, no run folder left behind."""
    from ess import locking, prefect_server

    def no_prefect():
        raise AssertionError("Prefect started for a refused run")

    monkeypatch.setattr(prefect_server, "early_server", no_prefect)
    warehouse = data_dir / "entrepot"
    with locking.departement_lock(warehouse, "38"):  # another run of 38 (here, in this process)
        assert run_cli(inputs, warehouse) == 2
    printed = console(capfd)
    assert len(printed) == 1 and printed[0].startswith(
        f"ess run: a run of département 38 into {warehouse} is already in progress: another run is writing "
        f"{warehouse}/.verrous/departement=38 (pid {os.getpid()} since ")
    assert not (data_dir / "runs").exists() and not stubs


def test_an_existing_run_id_is_refused_and_its_folder_left_alone(prefect_harness, stubs, inputs, data_dir, capfd):
    warehouse = data_dir / "entrepot"
    assert run_cli(inputs, warehouse) == 0
    log = data_dir / "runs" / "dep38" / "essai" / "run.log"
    before = log.read_bytes()
    capfd.readouterr()
    assert run_cli(inputs, warehouse) == 2
    assert console(capfd) == [f"ess run: --run-id essai: the run folder {log.parent} already exists (an earlier run); "
                              "choose another name, or leave --run-id out (the default is the time of the run)"]
    assert log.read_bytes() == before and stubs["core"] == 1


def test_a_file_given_for_a_folder_is_a_user_error_naming_the_option(data_dir, capfd, monkeypatch):
    a_file = data_dir / "fichier.txt"
    a_file.parent.mkdir(parents=True, exist_ok=True)
    a_file.write_text("pas un dossier\n", encoding="utf-8")
    for argv, flag in ((["run", "--out", str(a_file)], "--out"), (["run", "--input", str(a_file)], "--input"),
                       (["run", "--reference-dir", str(a_file)], "--reference-dir"),
                       (["fetch", "--out", str(a_file)], "--out"), (["sample", "--out", str(a_file)], "--out")):
        assert main(argv) == 2, argv
        assert console(capfd) == [f"ess {argv[0]}: {flag} {a_file} is a file, not a folder: give a folder"]
    assert main(["run", "--out", str(a_file / "entrepot")]) == 2
    assert console(capfd) == [f"ess run: --out {a_file / 'entrepot'} goes through {a_file}, which is a file, not a "
                              "folder: give a folder"]


def test_a_data_folder_that_is_a_file_is_a_user_error(stubs, inputs, data_dir, capfd, monkeypatch):
    """ESS_DATA_DIR is met only when the run writes its folder: named too, not reported as a bug."""
    a_file = data_dir / "fichier.txt"
    a_file.write_text("pas un dossier\n", encoding="utf-8")
    monkeypatch.setenv("ESS_DATA_DIR", str(a_file))
    warehouse = data_dir / "entrepot"
    assert run_cli(inputs, warehouse) == 2
    assert console(capfd) == [f"ess run: ESS_DATA_DIR {a_file} is a file, not a folder: give a folder. Nothing was "
                              f"published: {warehouse} is as it was before the run"]


def test_every_refusal_of_a_run_says_that_nothing_was_published(prefect_harness, stubs, inputs, data_dir, capfd,
                                                                monkeypatch):
    """An empty file refused by its reader says it like the guards' refusals do (once)."""
    import test_flows
    from ess.errors import InputFileError

    empty = inputs / "sirene" / "2026-10" / "StockEtablissement_utf8.csv"

    def reader(source, snapshot, params, out_dir):
        raise InputFileError(f"{empty}: the file is empty (no header line); download it again")

    monkeypatch.setattr(test_flows, "fake_stage", reader)
    warehouse = data_dir / "entrepot"
    assert run_cli(inputs, warehouse) == 2
    log = data_dir / "runs" / "dep38" / "essai" / "run.log"
    assert console(capfd) == [f"ess run: {empty}: the file is empty (no header line); download it again. Nothing was "
                              f"published: {warehouse} is as it was before the run", f"  details: {log}"]


def test_several_departements_failing_name_every_log_and_say_none_was_published(prefect_harness, stubs, inputs,
                                                                                data_dir, capfd, monkeypatch):
    import test_flows
    from ess.errors import UserError

    def core(tables, params, out_dir):
        raise UserError(f"département {params['departement']}: refusé pour l'essai")

    real_core = test_flows.fake_core
    monkeypatch.setattr(test_flows, "fake_core", core)
    warehouse = data_dir / "entrepot"
    assert run_cli(inputs, warehouse, "-d", "38", "73") == 2
    lines = console(capfd)
    assert lines[0] == "ess run: 2 of 2 départements failed (none was published):"
    assert not any("others were published" in line for line in lines)
    logs = [f"  details for {dep}: {data_dir / 'runs' / f'dep{dep}' / 'essai' / 'run.log'}" for dep in ("38", "73")]
    assert lines[-2:] == logs

    # one of two fails: the other is published, and only the failed one's log is named
    monkeypatch.setattr(test_flows, "fake_core", lambda tables, params, out_dir: (
        core if params["departement"] == "73" else real_core)(tables, params, out_dir))
    assert run_cli(inputs, warehouse, "-d", "38", "73", "--run-id", "essai2") == 2
    lines = console(capfd)
    assert lines[0] == "ess run: 1 of 2 départements failed (the others were published):"
    assert lines[-1] == f"  details for 73: {data_dir / 'runs' / 'dep73' / 'essai2' / 'run.log'}"
    assert not any("details for 38" in line for line in lines)
