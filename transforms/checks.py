"""Checks of a run, in the three places the design asks for:
1. declarative expectations (Great Expectations) derived from the field dictionary (sql/dictionnaire/colonnes.csv,
   read by ess/dictionary.py), validated on each column's distinct values read into pandas (GX's DuckDB datasource
   is broken upstream); a column without its entry in the dictionary fails the check;
2. invariants of the numbers: the cube reconciles (communes add up to the département) and the public cube
   leaves no suppressed cell recoverable;
3. a comparison with the last publication of the same département and perimeter in the same warehouse (its
   publication manifest), whose moves the guards of transforms/guards.py weigh against their thresholds.
A failed expectation or invariant raises CheckError (nothing is published).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pandas as pd

from ess import db, progress
from ess.errors import UserError
from ess.settings import millesime_date
from transforms import columns as cols

log = logging.getLogger(__name__)
RECONCILIATION_TOLERANCE = 1e-6


class CheckError(UserError):
    pass


def expectations_for(columns) -> list:
    """GX expectations for a list of transforms.columns.Column."""
    import great_expectations as gx

    out = []
    for c in columns:
        if not c.nullable:
            out.append(gx.expectations.ExpectColumnValuesToNotBeNull(column=c.name))
        if c.values:
            out.append(gx.expectations.ExpectColumnValuesToBeInSet(column=c.name, value_set=list(c.values)))
        if c.pattern:
            out.append(gx.expectations.ExpectColumnValuesToMatchRegex(column=c.name, regex=c.pattern))
        if c.minimum is not None or c.maximum is not None:
            out.append(gx.expectations.ExpectColumnValuesToBeBetween(
                column=c.name, min_value=c.minimum, max_value=c.maximum))
    return out


def validate_frames(frames: dict[str, pd.DataFrame], reference_dir=None) -> dict[str, dict]:
    """validate_tables on DataFrames."""
    con = db.connect()
    try:
        for name, frame in frames.items():
            con.register(name, frame)
        return validate_tables(con, list(frames), reference_dir=reference_dir)
    finally:
        con.close()


def validate_tables(con, tables: list[str], *, reference_dir=None) -> dict[str, dict]:
    """Validate each table of `con` against the expectations of its columns; returns a summary per table.

    A column without its entry in the field dictionary (or whose entry does not list the table) is a failure
    (expectation `colonne_decrite`), as is a table the dictionary does not know. `reference_dir`: the run's reference
    folder (the ESS families of a closed list come from its perimetre_familles.csv).

    Every expectation of the dictionary (not null, in a set, matching a pattern, between bounds) holds or
    fails on each value alone, so GX validates each column's distinct values (with NULL as one of them): on the
    cube that is a few hundred values for a key column instead of 1.6 M rows — GX's pandas engine maps its regular
    expressions value by value. The rows behind an unexpected value are counted from the distinct values' counts,
    so `nb_inattendus` is a number of rows, as on the whole table."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig


    # GX's pandas regex expectation warns about match groups in our patterns; the result is right, the warning noise
    warnings.filterwarnings("ignore", message="This pattern is interpreted as a regular expression")
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("ess")
    summary = {}
    for table in tables:
        produced = [r[0] for r in con.execute(f"DESCRIBE {db.identifier(table)}").fetchall()]
        undescribed = [{"expectation": "colonne_decrite", "column": column, "message": message, "exemples": [],
                        "nb_inattendus": None} for column, message in cols.undescribed(table, produced)]
        try:
            described = cols.columns(table, reference_dir)
        except KeyError:  # a table the dictionary does not know: failed above
            described = []
        present = [c for c in described if c.name in produced]
        missing = [c.name for c in described if c.name not in produced]
        n_rows = con.execute(f"SELECT count(*) FROM {db.identifier(table)}").fetchone()[0]
        batches = source.add_dataframe_asset(name=table).add_batch_definition_whole_dataframe("tout")
        results, failures = 0, list(undescribed)
        for column in present:
            expectations = expectations_for([column])
            if not expectations:
                continue
            name = db.identifier(column.name)
            values = con.execute(f"SELECT {name}, count(*) AS _lignes FROM {db.identifier(table)} GROUP BY {name}"
                                 ).df()
            suite = context.suites.add(gx.ExpectationSuite(name=f"{table}.{column.name}"))
            for expectation in expectations:
                suite.add_expectation(expectation)
            batch = batches.get_batch(batch_parameters={"dataframe": values[[column.name]]})
            outcome = batch.validate(suite, result_format="COMPLETE").results
            results += len(outcome)
            counts = values["_lignes"].to_numpy()
            for r in outcome:
                if r.success:
                    continue
                unexpected = r.result.get("unexpected_index_list") or []
                failures.append({
                    "expectation": r.expectation_config.type, "column": column.name,
                    "exemples": [str(v) for v in (r.result.get("partial_unexpected_list") or [])[:5]],
                    "nb_inattendus": int(counts[list(unexpected)].sum()) if len(unexpected) else None})
        summary[table] = {"lignes": int(n_rows), "expectations": results, "echecs": failures,
                          "colonnes_absentes": missing}
    return summary


def reconciliation_gaps(con) -> list[dict]:
    """Cells where the sum over the territories of a level (communes, EPCI, every zoning…) differs from the
    département (must be empty)."""
    rows = con.execute(
        """
        WITH niveaux AS (
            SELECT niveau, famille, nomenclature_secteur, secteur, classe_taille, annee, perimetre,
                   sum(nb_etablissements) AS n, sum(effectif_central) AS e
            FROM out_indicateurs WHERE niveau <> 'departement' GROUP BY ALL),
        dep AS (
            SELECT famille, nomenclature_secteur, secteur, classe_taille, annee, perimetre,
                   nb_etablissements AS n, effectif_central AS e
            FROM out_indicateurs WHERE niveau = 'departement'),
        tous AS (SELECT DISTINCT niveau FROM niveaux)
        SELECT tous.niveau, dep.famille, dep.secteur, dep.classe_taille, dep.annee, dep.n, niveaux.n, dep.e,
               niveaux.e
        FROM dep CROSS JOIN tous
        LEFT JOIN niveaux USING (niveau, famille, nomenclature_secteur, secteur, classe_taille, annee, perimetre)
        WHERE coalesce(niveaux.n, 0) <> dep.n
           OR abs(coalesce(niveaux.e, 0) - coalesce(dep.e, 0)) > $tol * greatest(1, abs(coalesce(dep.e, 0)))
        ORDER BY ALL
        LIMIT 20
        """,
        {"tol": RECONCILIATION_TOLERANCE},
    ).fetchall()
    keys = ("niveau", "famille", "secteur", "classe_taille", "annee", "n_departement", "n_niveau", "e_departement",
            "e_niveau")
    return [dict(zip(keys, r)) for r in rows]


def headline(con, params: dict) -> dict:
    """Headline figures of the run — also used by reports and artifacts: the département's ESS establishments at
    the millésime date (its employers by their SIRENE bands, of the years annees_tranches_employeurs_ess), and its
    ESS salaried employment on 31 December of the employment year with its 90 % interval and its shares (of all
    employment, public included, and of URSSAF's private field). Each group says the date it measures
    (date_etablissements, date_effectifs) and whether employment is calibrated (statut_effectifs)."""
    perimetre = params.get("perimetre")
    where = ("niveau = 'departement' AND famille = 'ess' AND nomenclature_secteur = 'ensemble' "
             "AND classe_taille = 'ensemble' AND perimetre = ?")
    counts = con.execute(
        f"""SELECT date_reference_etablissements, nb_etablissements, nb_etablissements_employeurs,
                   -- text, not figures: a later band campaign is not a move of the headline
                   annee_tranche_employeurs_min || '-' || annee_tranche_employeurs_max
            FROM out_indicateurs WHERE {where}
              AND annee = (SELECT max(annee) FROM out_indicateurs WHERE perimetre = ?)""",
        [perimetre, perimetre]).fetchone()
    jobs = con.execute(
        f"""SELECT date_reference_effectifs, statut_effectifs, effectif_central, effectif_ic90_bas, effectif_ic90_haut,
                   part_effectif_total_central, part_effectif_total_ic90_bas, part_effectif_total_ic90_haut,
                   part_effectif_prive_central, part_effectif_prive_ic90_bas, part_effectif_prive_ic90_haut
            FROM out_indicateurs WHERE {where}
              AND annee = (SELECT max(annee) FROM out_indicateurs WHERE perimetre = ? AND effectif_central IS NOT NULL)""",
        [perimetre, perimetre]).fetchone()
    out: dict = {}
    if counts is not None:
        out.update(zip(("date_etablissements", "nb_etablissements_ess", "nb_etablissements_employeurs_ess",
                        "annees_tranches_employeurs_ess"), counts))
    if jobs is not None:
        out.update(zip(("date_effectifs", "statut_effectifs", "effectif_ess_central", "effectif_ess_ic90_bas",
                        "effectif_ess_ic90_haut", "part_ess_effectif_total_central", "part_ess_effectif_total_ic90_bas",
                        "part_ess_effectif_total_ic90_haut", "part_ess_effectif_prive_central",
                        "part_ess_effectif_prive_ic90_bas", "part_ess_effectif_prive_ic90_haut"), jobs))
    return {k: (round(v, 4) if isinstance(v, float) else str(v) if hasattr(v, "isoformat") else v)
            for k, v in out.items()}


def previous_publication(warehouse: Path, params: dict) -> dict | None:
    """The last publication of the same département and perimeter in this warehouse (its current version): the
    same millésime when it was published (a re-run), else the latest earlier millésime, else the earliest later one.
    Returns {run_id, millesime, version, manifeste, headline}, or None when there is none."""
    from transforms.publish import published_manifests

    found = published_manifests(Path(warehouse), params["departement"], params["perimetre"])
    if not found:
        return None
    millesime = str(params["millesime"])
    earlier = [m for m in found if m <= millesime]
    chosen = earlier[-1] if earlier else next(iter(found))
    return _publication(Path(warehouse), found[chosen], chosen, params["perimetre"])


def other_perimeters(warehouse: Path, params: dict) -> list[dict]:
    """The publications of the same département and millésime in the other perimeters, as previous_publication
    gives them: the cube tables hold every perimeter, so this run's publication replaces their figures too."""
    from transforms.publish import published_perimeters

    found = published_perimeters(Path(warehouse), params["departement"], str(params["millesime"]))
    return [_publication(Path(warehouse), path, str(params["millesime"]), perimetre)
            for perimetre, path in found.items() if perimetre != params["perimetre"]]


def _publication(warehouse: Path, manifest: Path, millesime: str, perimetre: str) -> dict:
    data = json.loads(manifest.read_text(encoding="utf-8"))
    return {"run_id": data.get("run_id"), "millesime": millesime, "perimetre": perimetre,
            "version": (data.get("publication") or {}).get("version"), "manifeste": str(manifest),
            "table_publique": _in_warehouse(warehouse, data.get("outputs") or {}, "out_indicateurs_public"),
            "headline": (data.get("checks") or {}).get("headline") or {}}


def _in_warehouse(warehouse: Path, outputs: dict, table: str) -> str | None:
    """A published table's path in this warehouse's current version (the manifest's paths are where it was
    published: in the folder of a version that may be deleted since, or a warehouse copied or moved since)."""
    path = (outputs.get("tables") or {}).get(table)
    if not path:
        return None
    for root in (outputs.get("dossier_version"), outputs.get("warehouse")):
        if root and Path(path).is_relative_to(root):
            return str(warehouse / Path(path).relative_to(root))
    return path


# what a comparison names of the publication it was made against
PUBLICATION_REFERENCE = ("run_id", "millesime", "perimetre", "manifeste")
SECRET_KEY = ["annee", "niveau", "code_territoire", "famille", "nomenclature_secteur", "secteur", "classe_taille",
              "perimetre"]


def secrecy_changes(con, previous: dict | None, params: dict, limit: int = 5) -> dict | None:
    """A re-publication of the same millésime against the publication it replaces: the public cells whose employment
    is masked in one and shown in the other. Read side by side, two such publications could each show what the other
    hides (a cell masked in both, for whatever reason, shows nothing). None when there is no previous publication or
    it is of another millésime. When its public table is missing or lacks the columns to compare (a damaged
    warehouse, an older pipeline), the result says why under `non_comparable`: the guard then refuses, as for a
    difference, since nothing shows the two patterns agree."""
    if not previous or str(previous.get("millesime")) != str(params["millesime"]):
        return None
    reference = {k: previous.get(k) for k in PUBLICATION_REFERENCE}

    def not_comparable(why: str) -> dict:
        return {**reference, "n_statuts_differents": None, "non_comparable": why}

    path = previous.get("table_publique")
    status = "statut_secret_effectifs"
    if not path or not Path(path).exists():
        return not_comparable(f"its public table is not in this warehouse ({path or 'absent from its manifest'})")
    try:
        present = {r[0] for r in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()}
    except duckdb.Error as e:
        return not_comparable(f"its public table {path} cannot be read ({e})")
    missing = [c for c in [*SECRET_KEY, status] if c not in present]
    if missing:
        return not_comparable(f"its public table {path} lacks the columns {missing} (an older version of the "
                              "pipeline)")
    keys = ", ".join(SECRET_KEY)
    # withheld: a secret or « non_diffuse »; a publication older than the status codes says NULL for « publie » and
    # « non_mesure », which the new codes' side reads alike
    withheld = f"coalesce({{}}.{{}} NOT IN ('{cols.PUBLIE}', '{cols.NON_MESURE}'), false)"
    cursor = con.execute(
        f"""SELECT {keys}, p.{status} AS avant, n.{status} AS apres
            FROM read_parquet(?) AS p JOIN out_indicateurs_public AS n USING ({keys})
            WHERE {withheld.format("p", status)} <> {withheld.format("n", status)} ORDER BY ALL""", [str(path)])
    names = [column[0] for column in cursor.description]
    differ = cursor.fetchall()
    return {**reference, "n_statuts_differents": len(differ),
            "exemples": [dict(zip(names, row)) for row in differ[:limit]]}


def compare(current: dict, previous: dict | None) -> list[dict]:
    """Every headline figure that changed since the previous publication, with its relative change (figures that
    were 0 have none and are left out)."""
    moves = []
    for key, value in current.items():
        before = (previous or {}).get(key)
        if isinstance(value, (int, float)) and isinstance(before, (int, float)) and before and value != before:
            moves.append({"indicateur": key, "avant": before, "apres": value,
                          "variation": round((value - before) / abs(before), 4)})
    return moves


def _against(moves: list[dict], publication: dict) -> list[dict]:
    """The moves, each saying which publication it is measured against."""
    return [{**m, **{k: publication.get(k) for k in PUBLICATION_REFERENCE}} for m in moves]


# Creations dated after the millésime's last day are planned openings (SIRENE registers some ahead): those within a
# month count as the stock's latest; a date further ahead is a typo that must not hide a stale stock.
PLANNED_CREATION_DAYS = 31


def status_violations(con, table: str = "out_indicateurs_public") -> list[dict]:
    """Rows of the public table breaking its status convention (transforms/outputs.py STATUS_FIGURES), per status
    column: a NULL status (`statut_nul`), a « publie » status over a NULL figure (`publie_sans_valeur`), a figure
    shown under another status (`valeur_non_publiee`). Empty when every row keeps it: a figure is NULL exactly when
    its status is not « publie »."""
    from transforms.outputs import PUBLIE, STATUS_FIGURES, STATUS_RATES

    present = {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}
    found = []
    for status, figures in STATUS_FIGURES.items():
        if status not in present:
            found.append({"colonne": status, "probleme": "colonne absente"})
            continue
        shown = [f for f in figures if f in present]
        withheld = shown + [f for f in STATUS_RATES.get(status, []) if f in present]
        missing = " OR ".join(f"{f} IS NULL" for f in shown) or "false"
        leaked = " OR ".join(f"{f} IS NOT NULL" for f in withheld) or "false"
        counts = con.execute(
            f"""SELECT count(*) FILTER (WHERE {status} IS NULL),
                       count(*) FILTER (WHERE {status} = ? AND ({missing})),
                       count(*) FILTER (WHERE {status} <> ? AND ({leaked}))
                FROM {table}""", [PUBLIE, PUBLIE]).fetchall()[0]
        bad = dict(zip(("statut_nul", "publie_sans_valeur", "valeur_non_publiee"), counts))
        if any(bad.values()):
            found.append({"colonne": status, "chiffres": shown, **bad})
    return found


COMPLETENESS_TABLES = ("staging_sirene_etablissements", "staging_communes", "core_etablissements",
                       "core_calibration")


def input_completeness(tables: dict[str, str], millesime: str | None = None) -> dict:
    """completeness() over the staging and core tables of a run (paths): known once core is built, so that a
    half-read input is refused before the outputs' long protection."""
    con = db.connect()
    try:
        mine = {k: Path(v) for k, v in tables.items() if k in COMPLETENESS_TABLES}
        db.attach_tables(con, mine)
        return completeness(con, mine, millesime)
    finally:
        con.close()


def completeness(con, tables, millesime: str | None = None) -> dict:
    """What a half-read input leaves without a row to reject (transforms.guards bounds each):
    - the département's communes that no EPCI line or no population line reached (every French commune belongs to
      an EPCI but a few islands, and has a population);
    - the establishments whose commune code the COG does not know, even through its passage table (a COG cut short
      together with the files that follow it);
    - URSSAF's two files of the employment year: its commune × APE total on 31/12 (with the employment the estimate
      imputes to its empty values, as the calibration reads it) against its ESS file's annual averages (families
      and « Hors ESS »), the same field — a file cut short moves the ratio far from 1;
    - the latest creation date of the département's establishments against the last day of the millésime
      (`millesime`): a stock filed under a later month than its own has no creation in its last weeks."""
    out: dict = {}
    if "staging_sirene_etablissements" in tables and millesime:
        end = millesime_date(str(millesime))
        latest = con.execute("SELECT max(date_creation) FROM staging_sirene_etablissements WHERE date_creation <= ?",
                             [end + dt.timedelta(days=PLANNED_CREATION_DAYS)]).fetchone()[0]
        if latest is not None:
            out.update({"date_creation_max": latest.isoformat(), "fin_millesime": end.isoformat(),
                        "jours_sans_creation_avant_fin_millesime": (end - latest).days})
    if "staging_communes" in tables:
        n, no_epci, no_pop = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE siren_epci IS NULL), count(*) FILTER (WHERE population IS NULL) "
            "FROM staging_communes").fetchone()
        out.update({"communes": n, "communes_sans_siren_epci": no_epci, "communes_sans_population": no_pop})
    if "core_etablissements" in tables:
        n, unknown = con.execute("SELECT count(*), count(*) FILTER (WHERE motif_placement = 'commune_inconnue') "
                                 "FROM core_etablissements").fetchone()
        out.update({"etablissements": n, "etablissements_commune_inconnue": unknown})
    if "core_calibration" in tables:
        row = con.execute(
            """SELECT annee, sum(cible_fin_annee) FILTER (WHERE groupe = 'ensemble_prive'),
                      sum(cible_publiee) FILTER (WHERE groupe <> 'ensemble_prive'
                                                 AND definition_cible = 'moyenne_annuelle')
               FROM core_calibration WHERE annee = (SELECT max(annee) FROM core_calibration)
               GROUP BY annee""").fetchone()
        if row and row[1] and row[2]:
            out.update({"annee_urssaf": int(row[0]), "urssaf_commune_ape_31_12": float(row[1]),
                        "urssaf_ess_moyennes": float(row[2]), "rapport_fichiers_urssaf": float(row[1] / row[2])})
    return out


def unmapped_urssaf_years(audit: dict) -> list[str]:
    """The re-audit's years (« year/measure ») where URSSAF's commune × APE file has values and the secrecy's reader
    knows none of them as a pair floor: the mapping of its communes or codes to the model's came out empty, and the
    protection assumed a reader who knows less than the real one."""
    return sorted(k for k, a in audit.items()
                  if a.get("n_valeurs_urssaf_commune_ape") and not a.get("n_paires_minorees_urssaf"))


def check(tables: dict[str, str], params: dict, previous: dict | None = None, others: list[dict] = ()) -> dict:
    """Run every check; raise CheckError on a failed expectation or invariant. Returns the report (JSON-able).
    `previous`: the last publication to compare with (previous_publication); `others`: those of the same millésime
    in the other perimeters (other_perimeters), whose figures this run's cube tables replace too — each is compared
    with this run's figures of its perimeter, and the public table replaced is theirs when this perimeter has none
    of this millésime."""
    from transforms.outputs import RECOMPUTED, audit_public

    con = db.connect()
    try:
        db.attach_tables(con, {k: Path(v) for k, v in tables.items()})
        secret_inputs = {"out_indicateurs", "out_indicateurs_public", "out_cube_communes", "out_secret_unites"}
        # The re-audit (worker processes, its thread mostly waiting) runs while GX validates (one core, in pandas);
        # its cursor is closed only once the thread is done (the pool is left first).
        with contextlib.closing(con.cursor()) as cursor, ThreadPoolExecutor(max_workers=1) as pool:
            audit_run = (pool.submit(audit_public, cursor, params=params) if secret_inputs <= tables.keys()
                         else None)
            expectations = validate_tables(con, sorted(tables), reference_dir=params.get("reference_dir"))
            tested = sum(t["expectations"] for t in expectations.values())
            failing = sum(len(t["echecs"]) for t in expectations.values())
            progress.current().say(f"  · {progress.entier(tested)} attentes vérifiées sur {len(expectations)} "
                                   f"tables, {progress.entier(failing)} en échec")
            gaps = reconciliation_gaps(con) if "out_indicateurs" in tables else []
            figures, moves = {}, []
            if "out_indicateurs" in tables:
                figures = headline(con, params)
                moves = _against(compare(figures, (previous or {}).get("headline")), previous or {})
                for other in others:
                    # a perimeter the new cube lacks would lose its figures: every one of them moves to 0
                    theirs = headline(con, {**params, "perimetre": other["perimetre"]}) or {
                        k: 0 for k, v in other["headline"].items() if isinstance(v, (int, float))}
                    moves += _against(compare(theirs, other["headline"]), other)
            same = previous and str(previous.get("millesime")) == str(params["millesime"])
            replaced = previous if same else next(iter(others), previous)
            changed = secrecy_changes(con, replaced, params) if "out_indicateurs_public" in tables else None
            statuses = status_violations(con) if "out_indicateurs_public" in tables else []
            audit = audit_run.result() if audit_run else {}
    finally:
        con.close()
    for move in moves:
        log.info("since the publication of run %s (perimeter %s): %s %s → %s (%+.1f %%)", move["run_id"],
                 move["perimetre"], move["indicateur"], move["avant"], move["apres"], 100 * move["variation"])
    recoverable = sum(a["n_recalculables_ou_encadrees"] + a["n_sensibles_publiees"] for a in audit.values())
    unaudited = sum(a["n_non_auditees"] for a in audit.values())
    given_away = sum(a["n_secondaires_recalculables"] for a in audit.values())
    undecided = sum(a["n_secondaires_non_decidees"] for a in audit.values())
    unmapped = unmapped_urssaf_years(audit)
    report = {"expectations": expectations, "reconciliation": gaps, "cellules_recalculables": recoverable,
              "audit_secret": {k: {x: v for x, v in a.items() if x != "detail"} for k, a in audit.items()},
              "statuts_publics": statuses, "headline": figures, "variations": moves,
              "secret_publication_precedente": changed,
              "publication_precedente": {k: v for k, v in previous.items() if k != "headline"} if previous else None,
              "publications_autres_perimetres": [{k: v for k, v in o.items() if k != "headline"} for o in others]}
    failed = {t: s["echecs"] for t, s in expectations.items() if s["echecs"]}
    problems = []
    if failed:
        problems.append(f"expectations failed: {json.dumps(failed, ensure_ascii=False)[:2000]}")
    if gaps:
        problems.append(f"the cube does not reconcile (a level's territories vs the département): {gaps[:3]}")
    if statuses:
        problems.append("the public table's status columns must carry a code on every row and « publie » exactly "
                        f"where their figures are shown: {statuses}")
    if recoverable:
        problems.append(f"{recoverable} sensitive employment cells of the public cube are published, or can be "
                        "recomputed or bounded within their protection interval from the published cells")
    if unaudited:
        problems.append(f"{unaudited} sensitive employment cells could not be audited within the time budget "
                        "(params secret_budget_secondes)")
    if given_away:
        problems.append(f"{given_away} masked employment cells of the public cube can be recomputed to within "
                        f"{RECOMPUTED} job from the published cells and protect nothing (publishing them breaks no "
                        "requirement): shown « s », they mislead the reader — a bug of the protection "
                        "(transforms/outputs.py, publish_recomputable)")
    if undecided:
        problems.append(f"{undecided} masked employment cells could not be searched for a recomputed value within "
                        "the time budget (params secret_budget_secondes)")
    if unmapped:
        problems.append(f"URSSAF's commune × APE file (staging_urssaf_commune_ape) has values for {unmapped}, but "
                        "the statistical confidentiality bounds no commune's sector with them: its communes or APE codes "
                        "did not map to the cube's (COG, secteurs_ess.csv) — a bug, or a file of another département "
                        "or nomenclature")
    if problems:
        raise CheckError("checks failed — nothing was published:\n- " + "\n- ".join(problems))
    return report
