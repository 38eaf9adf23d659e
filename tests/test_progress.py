"""What `ess run` shows while it works and when it ends: each step when it starts and ends with its elapsed time, a
line while a long step goes on, the first line before any work, the step times in the manifest, and a French
summary with rounded figures, their dates and intervals, and the paths of the PDF and the catalog.

No assertion is about how long anything takes: only about the order of events and the text."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import test_flows
from ess import progress
from test_flows import inputs, prefect_harness, stubs  # noqa: F401 — fixtures
from ess.settings import Settings
from flows.manifest import RunResult


EVENTS: list[tuple[str, str]] = []


class Recorder(io.StringIO):
    """A console that records each line it receives in EVENTS, in order with the steps' work."""

    def write(self, text: str) -> int:
        EVENTS.append(("ligne", text.rstrip("\n")))
        return super().write(text)

    def isatty(self) -> bool:
        return False


def recording_stage(source, snapshot, params, out_dir):
    EVENTS.append(("travail", f"stage_{source}"))
    return test_flows.fake_stage(source, snapshot, params, out_dir)


def recording_core(tables, params, out_dir):
    EVENTS.append(("travail", "core"))
    return test_flows.fake_core(tables, params, out_dir)


def test_durations_read_in_french():
    assert [progress.duration(s) for s in (0.04, 4.25, 12.4, 59.6, 125.2, 3600)] == \
        ["0,0 s", "4,2 s", "12 s", "60 s", "2 min 05 s", "60 min 00 s"]


def test_a_step_says_when_it_starts_and_ends_and_records_its_time():
    out = Recorder()
    shown = progress.Progress(out, heartbeat=0)
    record: dict = {}
    with shown.step("build-core", progress.label("build-core"), record):
        pass
    lines = out.getvalue().splitlines()
    assert [line.split("] ", 1)[1] for line in lines] == [
        "▶ Périmètre de l'ESS et estimation de l'emploi…",
        f"✓ Périmètre de l'ESS et estimation de l'emploi — {progress.duration(record['build-core'])}"]
    assert set(record) == {"build-core"} and shown.durations == record
    with pytest.raises(ValueError), shown.step("check", progress.label("check")):
        raise ValueError("boom")
    assert out.getvalue().splitlines()[-1].split("] ", 1)[1].startswith("✗ Contrôles de qualité — arrêt après ")
    assert "check" not in shown.durations  # a failed step has no time


def test_a_step_records_its_cpu_time_with_the_children_it_waited_for():
    shown = progress.Progress(None, heartbeat=0)
    durations, cpu = {}, {}
    child = ("import resource, time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\n"
             "r = resource.getrusage(resource.RUSAGE_SELF)\nprint(r.ru_utime + r.ru_stime)")
    with shown.step("build-outputs", progress.label("build-outputs"), durations, cpu):
        spent = float(subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                                     check=True).stdout)
    # the child's CPU is the step's (a worker process of the protection is counted the same way)
    assert spent >= 0.3 and cpu["build-outputs"] >= spent - 0.1
    assert shown.cpu == cpu and set(durations) == set(cpu)
    with shown.step("check", progress.label("check"), durations, cpu):
        pass  # waiting costs no CPU: a second, idle step is not charged the first one's
    assert cpu["check"] < cpu["build-outputs"] / 2


def test_a_long_step_says_it_is_still_running():
    out = Recorder()
    shown = progress.Progress(out, heartbeat=0.01)
    beat = threading.Event()

    class Watch(Recorder):
        def write(self, text):
            if "en cours depuis" in text:
                beat.set()
            return super().write(text)

    shown.stream = Watch()
    with shown.step("stage-national-sirene", progress.label("stage-national", "sirene")):
        assert beat.wait(60), "no line while the step ran"
    lines = [line.split("] ", 1)[1] for line in shown.stream.getvalue().splitlines()]
    assert lines[0] == "▶ Lecture du fichier national SIRENE…"
    assert lines[1].startswith("  … Lecture du fichier national SIRENE : en cours depuis ")
    assert lines[-1].startswith("✓ Lecture du fichier national SIRENE — ")


def test_shown_on_a_terminal_or_when_asked(monkeypatch):
    monkeypatch.setattr("sys.stderr", Recorder())
    monkeypatch.delenv(progress.ENV, raising=False)
    assert not progress.enabled()  # not a terminal
    monkeypatch.setenv(progress.ENV, "1")
    assert progress.enabled()
    monkeypatch.setenv(progress.ENV, "0")
    assert not progress.enabled()


def test_ess_run_shows_its_first_line_before_any_work_then_every_step(prefect_harness, stubs, inputs, data_dir,
                                                                       monkeypatch):
    import flows.pipeline as fp
    from flows.cli import main

    monkeypatch.setitem(fp.STEPS, "stage", recording_stage)
    monkeypatch.setitem(fp.STEPS, "core", recording_core)
    monkeypatch.setenv(progress.ENV, "1")
    monkeypatch.setattr("sys.stderr", Recorder())
    EVENTS.clear()
    assert main(["run", "--input", str(inputs), "--out", str(data_dir / "entrepot"), "--run-id", "suivi"]) == 0
    lines = [text.split("] ", 1)[1] for kind, text in EVENTS if kind == "ligne"]
    assert EVENTS[0][0] == "ligne" and EVENTS[0][1].split("] ", 1)[1].startswith("ess run — département 38, "
                                                                                 "périmètre insee (journal : ")
    assert lines[1] == "▶ Démarrage de Prefect (orchestrateur)…"
    # each step announced before its work and closed after it
    for work, step in (("stage_sirene", "Lecture du fichier national SIRENE"),
                       ("stage_territoires", "Lecture des fichiers des territoires (COG)"),
                       ("core", "Périmètre de l'ESS et estimation de l'emploi")):
        position = EVENTS.index(("travail", work))
        before = [text for kind, text in EVENTS[:position] if kind == "ligne"]
        after = [text for kind, text in EVENTS[position:] if kind == "ligne"]
        assert before[-1].endswith(f"▶ {step}…"), work
        assert any(f"✓ {step} — " in text for text in after), work
    closed = [line[2:].split(" — ")[0] for line in lines if line.startswith("✓ ")]
    assert closed == ["Démarrage de Prefect (orchestrateur)",
                      f"Recherche des fichiers d'entrée dans {inputs}",  # --input: no sample is involved
                      "Lecture du fichier national SIRENE", "Lecture du fichier national URSSAF",
                      "Lecture des fichiers des territoires (COG)", "Garde-fous sur les fichiers lus",
                      "Périmètre de l'ESS et estimation de l'emploi", "Garde-fous sur la complétude des entrées",
                      "Indicateurs par territoire et secret statistique", "Contrôles de qualité",
                      "Garde-fous sur les chiffres", "Préparation de la publication",
                      "Rapport annuel (graphiques et PDF)", "Publication (nouvelle version de l'entrepôt)",
                      "Manifeste et provenance"]
    assert lines[-1] == "Terminé."
    # the step times are in the run's manifest (the publication's own time in the run folder's copy only)
    run = json.loads((data_dir / "runs" / "dep38" / "suivi" / "manifest.json").read_text(encoding="utf-8"))
    assert set(run["durees_etapes"]) == {"prefect", "resolve-inputs", "stage-national-sirene",
                                         "stage-national-urssaf", "stage-territoires", "guard-inputs", "build-core",
                                         "guard-completeness", "build-outputs", "check", "guard-figures",
                                         "prepare-publication", "report", "publish"}
    assert set(run["cpu_etapes"]) == set(run["durees_etapes"])
    assert all(seconds >= 0 for seconds in run["cpu_etapes"].values())
    published = json.loads(Path(run["outputs"]["manifeste_publication"]).read_text(encoding="utf-8"))
    assert set(published["durees_etapes"]) == set(run["durees_etapes"]) - {"publish"}
    assert set(published["cpu_etapes"]) == set(published["durees_etapes"])


def test_the_run_log_has_the_steps_with_their_times_and_the_summary(prefect_harness, stubs, inputs, data_dir,
                                                                     monkeypatch):
    """Under `ess serve` nobody watches the console: the run's log tells the same story."""
    from flows.cli import main

    monkeypatch.setenv(progress.ENV, "0")
    assert main(["run", "--input", str(inputs), "--out", str(data_dir / "entrepot"), "--run-id", "journal"]) == 0
    text = (data_dir / "runs" / "dep38" / "journal" / "run.log").read_text(encoding="utf-8")
    for step in ("Lecture du fichier national SIRENE", "Périmètre de l'ESS et estimation de l'emploi",
                 "Publication (nouvelle version de l'entrepôt)", "Manifeste et provenance"):
        assert f"INFO    ess.progress: ▶ {step}…" in text
        assert f"INFO    ess.progress: ✓ {step} — " in text
    assert "Résumé\nRun journal — département 38, périmètre insee" in text
    assert "  Établissements de l'ESS au " in text and "  Entrepôt : " in text


def test_the_console_says_which_steps_were_reused_and_why_one_was_recomputed(prefect_harness, stubs, inputs,
                                                                              data_dir, monkeypatch):
    import flows.pipeline as fp
    from ess import caching
    from flows.cli import main

    monkeypatch.setenv(progress.ENV, "1")

    def ended(run_id: str) -> dict[str, str]:
        """{step label: what its end line says between the label and the time}."""
        monkeypatch.setattr("sys.stderr", Recorder())
        assert main(["run", "--input", str(inputs), "--out", str(data_dir / "entrepot"), "--run-id", run_id,
                     "--no-report"]) == 0
        ends = [line.split("] ✓ ", 1)[1].rsplit(" — ", 1)[0] for line in sys.stderr.getvalue().splitlines()
                if "] ✓ " in line]
        said = {}
        for end in ends:
            outcome = next((o for o in (progress.REUSED, *progress.RECOMPUTED.values()) if end.endswith(f" ({o})")),
                           "")
            said[end.removesuffix(f" ({outcome})") if outcome else end] = outcome
        return said

    first = ended("premier")
    assert first["Lecture du fichier national SIRENE"] == "" and first["Périmètre de l'ESS et estimation de "
                                                                      "l'emploi"] == ""
    again = ended("second")
    for step in ("Lecture du fichier national SIRENE", "Lecture du fichier national URSSAF",
                 "Lecture des fichiers des territoires (COG)", "Périmètre de l'ESS et estimation de l'emploi",
                 "Indicateurs par territoire et secret statistique"):
        assert again[step] == "réutilisé", step
    assert again["Contrôles de qualité"] == ""  # never cached
    real = caching.code_version
    monkeypatch.setattr(caching, "code_version", lambda modules, globs=(): real(modules, globs) + (
        "-v2" if globs == fp.STEP_FILES["core"] else ""))
    changed = ended("code")
    assert changed["Périmètre de l'ESS et estimation de l'emploi"] == "recalculé : code modifié"
    assert changed["Lecture du fichier national SIRENE"] == "réutilisé"


MANIFEST = {
    "synthetic": True,
    "millesimes": {"sirene": "2026-10", "urssaf": 2025, "cog": 2026},
    "sources": {"sirene": [{"file": "/in/sirene/2026-10/StockEtablissement_utf8.zip", "rows_read": 15349,
                            "rows_staged": 15000, "rows_rejected_total": 3, "rows_out_of_scope": 346,
                            "table": "staging_sirene_etablissements"}],
                "territoires": [{"file": "/in/territoires/2026/v_commune_2026.csv", "table": table, "rows_read": 549,
                                 "rows_staged": staged, "rows_rejected_total": 0, "rows_out_of_scope": 549 - staged}
                                for table, staged in (("staging_communes", 512), ("staging_communes_passage", 15))]},
    "tables": {"staging_rejets_sirene": "/runs/R1/staging/staging_rejets_sirene.parquet",
               "staging_rejets_territoires": "/runs/R1/staging/staging_rejets_territoires.parquet"},
    "checks": {"headline": {
        "date_etablissements": "2026-10-31", "nb_etablissements_ess": 8003, "nb_etablissements_employeurs_ess": 1520,
        "annees_tranches_employeurs_ess": "2018-2023", "date_effectifs": "2025-12-31", "statut_effectifs": "cale", "effectif_ess_central": 36412.7,
        "effectif_ess_ic90_bas": 35861.2, "effectif_ess_ic90_haut": 36950.0,
        "part_ess_effectif_total_central": 0.11234, "part_ess_effectif_total_ic90_bas": 0.1096,
        "part_ess_effectif_total_ic90_haut": 0.1151, "part_ess_effectif_prive_central": 0.131,
        "part_ess_effectif_prive_ic90_bas": 0.128, "part_ess_effectif_prive_ic90_haut": 0.1349},
        # the check step's shapes (transforms.checks.validate_tables): a count of expectations, a list of failures
        "expectations": {"core_calibration": {"lignes": 98, "expectations": 21, "echecs": [],
                                              "colonnes_absentes": []},
                         "out_indicateurs_public": {"lignes": 9000, "expectations": 1200, "echecs": [],
                                                    "colonnes_absentes": []}},
        "audit_secret": {f"{y}/effectif_central": {"n_sensibles": 40000, "n_sensibles_publiees": 0,
                                                   "n_recalculables_ou_encadrees": 0, "n_non_auditees": 0,
                                                   "n_secondaires_recalculables": 0, "n_secondaires_non_decidees": 0}
                         for y in range(2012, 2026)}},
    # the version's own files, and the same through the warehouse's stable entry points: the summary names those
    "rapport": {"fichiers": ["/w/versions/V1/rapports/departement=38/millesime=2026-10/perimetre=insee/carte.png",
                             "/w/versions/V1/rapports/departement=38/millesime=2026-10/perimetre=insee/"
                             "rapport_ess_38_2026-10.pdf"],
                "points_d_entree": {"fichiers": [
                    "/w/rapports/departement=38/millesime=2026-10/perimetre=insee/carte.png",
                    "/w/rapports/departement=38/millesime=2026-10/perimetre=insee/rapport_ess_38_2026-10.pdf"]}},
    "outputs": {"warehouse": "/w", "version": "V1", "catalog": "/w/ess.duckdb"},
    "publication": {"forcee": False},
    "durees_etapes": {"build-core": 70.4, "build-outputs": 100.0, "report": 20.2},
}


def test_the_summary_is_french_rounded_dated_and_says_where_things_are():
    config = Settings(departement="38", run_id="R1", perimetre="insee")
    text = RunResult(config, Path("/runs/R1/manifest.json"), MANIFEST).summary()
    nb = "\u202f"
    assert text.splitlines() == [
        "Run R1 — département 38, périmètre insee — DONNÉES SYNTHÉTIQUES (échantillon généré, ne décrit pas la "
        "réalité)",
        "  Millésimes : SIRENE 2026-10, URSSAF 2025, COG 2026",
        # employers are counted by their SIRENE bands, years older than the millésime date (review rv10 F1)
        f"  Établissements de l'ESS au 31/10/2026 : 8{nb}003 (dont 1{nb}520 employeurs selon leur tranche SIRENE "
        "de 2018 à 2023)",
        f"  Emploi salarié de l'ESS au 31/12/2025 (calé sur l'URSSAF, emploi relevant de la MSA estimé en plus) : "
        f"36{nb}400 (intervalle à 90 % : 35{nb}900 – 37{nb}000)",
        "  Part de l'ESS dans tout l'emploi salarié au 31/12/2025 : 11,2 % (intervalle à 90 % : 11,0 % – 11,5 %)",
        "  Part de l'ESS dans l'emploi salarié privé (URSSAF) au 31/12/2025 : 13,1 % (intervalle à 90 % : 12,8 % – "
        "13,5 %)",
        # what the checks verified (review ux4 C1): 21 + 1 200 expectations, 14 years × 40 000 sensitive cells
        f"  Contrôles : 1{nb}221 attentes sur 2 tables, 0 en échec ; secret audité sur 2012–2025 : 560{nb}000 "
        "cellules sensibles, 0 publiée, recalculable ou encadrée ; 0 cellule masquée recalculable",
        "  Rapport PDF : /w/rapports/departement=38/millesime=2026-10/perimetre=insee/rapport_ess_38_2026-10.pdf",
        "  Catalogue DuckDB : /w/ess.duckdb (depuis son dossier : cd /w && duckdb ess.duckdb ; d'ailleurs : "
        "SET file_search_path = '/w' avant la première requête)",
        "  Entrepôt : /w (version V1)",
        "  Manifeste : /runs/R1/manifest.json",
        # what was read of each file comes after the figures and the paths (review ux4 C4)
        "  Fichiers lus :",
        f"    sirene StockEtablissement_utf8.zip → staging_sirene_etablissements : 15{nb}349 lignes, 15{nb}000 "
        "retenues, 3 rejetées, 346 hors champ (lignes rejetées et leur motif : "
        "/runs/R1/staging/staging_rejets_sirene.parquet)",
        # one file, two tables: two lines told apart by their table; no rejected row, no rejects file
        "    territoires v_commune_2026.csv → staging_communes : 549 lignes, 512 retenues, 0 rejetées, 37 hors champ",
        "    territoires v_commune_2026.csv → staging_communes_passage : 549 lignes, 15 retenues, 0 rejetées, "
        "534 hors champ",
        "  Durée des étapes : 3 min 11 s",
    ]


def test_the_summary_says_which_rows_are_out_only_because_their_establishments_were_rejected():
    """review_ux3 L3: a forced run with 7 505 establishments rejected read `7 902 hors champ` for the legal units, as
    if they were of other départements; the units whose establishments were all rejected are said apart."""
    units = {"file": "/in/sirene/2026-10/StockUniteLegale_utf8.parquet", "table": "staging_sirene_unites_legales",
             "rows_read": 136932, "rows_staged": 129030, "rows_rejected_total": 0, "rows_out_of_scope": 7902,
             "rows_without_kept_establishment": 6527}
    establishments = {"file": "/in/sirene/2026-10/StockEtablissement_utf8.parquet",
                      "table": "staging_sirene_etablissements", "rows_read": 151755, "rows_staged": 142561,
                      "rows_rejected_total": 7505, "rows_out_of_scope": 1689, "rows_without_kept_establishment": 0}
    manifest = {"sources": {"sirene": [establishments, units]},
                "tables": {"staging_rejets_sirene": "/runs/R1/staging/staging_rejets_sirene.parquet"}}
    text = RunResult(Settings(departement="38", run_id="R1"), Path("/runs/R1/manifest.json"), manifest).summary()
    nb = "\u202f"
    lines = [line for line in text.splitlines() if line.startswith("    sirene ")]
    assert lines == [
        f"    sirene StockEtablissement_utf8.parquet → staging_sirene_etablissements : 151{nb}755 lignes, "
        f"142{nb}561 retenues, 7{nb}505 rejetées, 1{nb}689 hors champ (lignes rejetées et leur motif : "
        "/runs/R1/staging/staging_rejets_sirene.parquet)",
        f"    sirene StockUniteLegale_utf8.parquet → staging_sirene_unites_legales : 136{nb}932 lignes, "
        f"129{nb}030 retenues, 0 rejetées, 7{nb}902 hors champ, dont 6{nb}527 sans établissement retenu",
    ]


def test_a_heartbeat_fills_silences_only():
    # lines every 20 ms under a 0.5 s heartbeat: the step is seen alive, no heartbeat; then 1.2 s of silence: one
    shown = progress.Progress(Recorder(), heartbeat=0.5)
    with shown.step("build-outputs", progress.label("build-outputs")):
        for i in range(20):
            shown.say(f"  · année {i}")
            time.sleep(0.02)
        quiet = len(shown.stream.getvalue().splitlines())
        time.sleep(1.2)
    lines = shown.stream.getvalue().splitlines()
    assert not any("en cours depuis" in line for line in lines[:quiet])
    assert any("en cours depuis" in line for line in lines[quiet:])


def test_the_checks_line_counts_the_masked_cells_a_reader_gets_to_the_job():
    from flows.manifest import checks_lines

    year = {"n_sensibles": 10, "n_sensibles_publiees": 0, "n_recalculables_ou_encadrees": 0, "n_non_auditees": 0,
            "n_secondaires_recalculables": 0, "n_secondaires_non_decidees": 0}
    audit = {"2024/effectif_central": year,
             "2025/effectif_central": {**year, "n_secondaires_recalculables_protegeant": 2}}
    line, = checks_lines({"audit_secret": audit})
    assert line.endswith("secret audité sur 2024–2025 : 20 cellules sensibles, 0 publiée, recalculable ou encadrée ; "
                         "0 cellule masquée recalculable (et 2 qui le sont à l'emploi près mais protègent une cellule "
                         "sensible)")
