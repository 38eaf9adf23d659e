"""Guards before publication: refuse to publish a run whose inputs or figures are not to be trusted.

Two moments, two kinds of evidence:
- after staging, the per-file accounting (FileStats dicts: rows_read, rows_staged, rows_rejected {reason: n},
  rows_out_of_scope, of which rows_without_kept_establishment): an empty file, a file with no row of the département,
  the département absent from the input, a file the employment calibration needs with no row kept, too many rejected
  rows;
- after the checks, the headline figures against the last publication of the same département and perimeter in the
  same warehouse (transforms.checks.previous_publication): a move beyond its threshold, or no ESS establishment.

Thresholds are reference data (data/reference/seuils_publication.csv). A guard that fails stops the run with ONE
message naming the figures, the file to look at and what to do; nothing is published. `--force` publishes anyway,
and the manifest, the Parquet metadata and the report say so.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ess import db
from ess.errors import UserError
from transforms import columns as cols
from transforms.reference import Col, RefSpec, read_reference

ANY = "*"
RULES = ("lignes_lues_min", "lignes_en_champ_min", "departement_present", "calage_lignes_min", "taux_rejet_max",
         "rejets_toleres", "valeur_min", "variation_max", "statuts_secret_differents_max",
         "part_communes_sans_max", "part_etablissements_commune_inconnue_max", "ecart_fichiers_urssaf_max",
         "jours_sans_creation_max")
# The input file that gives the communes each value whose absence part_communes_sans_max measures.
COMMUNE_VALUE_FILES = {"siren_epci": ("epcicom", "the EPCI composition file (DGCL's epcicom<YYYY>.xlsx)"),
                       "population": ("donnees_communes", "the legal populations file (INSEE's donnees_communes.csv)")}
SPEC = RefSpec(
    "seuils_publication.csv",
    (Col("regle", values=RULES), Col("cible", pattern=r"^(\*|[a-z][a-z0-9_]*)$"), Col("seuil", "DOUBLE", minimum=0),
     Col("description", required=False)),
    key=("regle", "cible"),
)
MAX_LINES = 6  # findings shown in the message; the others are in the log and the manifest


class PublicationRefused(UserError):
    """A guard failed: nothing was published."""


@dataclass
class Finding:
    regle: str
    message: str  # English, for the console: the file, the figures, what to do
    libelle: str  # French, for the manifest, the artifact and the report
    fichier: str | None = None
    chiffres: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


class Thresholds:
    """The rows of seuils_publication.csv: a rule's value for a target, falling back on the rule's `*` row."""

    def __init__(self, rows: list[dict]):
        self.rows = {(r["regle"], r["cible"]): r["seuil"] for r in rows}

    def get(self, rule: str, target: str) -> float | None:
        return self.rows.get((rule, target), self.rows.get((rule, ANY)))

    def targets(self, rule: str) -> dict[str, float]:
        return {t: v for (r, t), v in self.rows.items() if r == rule and t != ANY}


def thresholds(directory: str | Path | None = None) -> Thresholds:
    return Thresholds(read_reference(SPEC, directory))


def _n(value) -> str:
    """Figures as people read them: 15 316, 38 112 (not 3.811e+04), 0.1234."""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.0f}".replace(",", " ") if abs(value) >= 1000 else f"{value:,.4g}".replace(",", " ")
    return f"{int(value):,}".replace(",", " ")


def _pct(ratio: float) -> str:
    return f"{100 * ratio:.1f} %"


def _reasons(rejected: dict[str, int], limit: int = 3) -> str:
    top = sorted(rejected.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return "; ".join(f"« {reason} »: {_n(n)}" for reason, n in top)


# --- the input -----------------------------------------------------------------------------------------------------


def check_inputs(sources: dict[str, list[dict]], params: dict, rejects: dict[str, str] | None = None,
                 seuils: Thresholds | None = None, national: dict[str, dict] | None = None) -> list[Finding]:
    """Findings on the staged files (at most one per file: the most telling). `rejects`: {source: the Parquet of
    its rejected rows} to point the user at. `national`: {source: {"fichiers": the national file accountings,
    "rejets": the national rejects Parquet}}: a row no département can claim (no or a malformed location) is
    rejected once, nationally, and counted in no département's share — so too many of them, against the rows the
    national file holds, are refused here (they may be the département's).
    A legal unit (or a history row) whose establishments of the département were all rejected is out of scope, yet
    of the département (rows_without_kept_establishment): its file is not said to miss the département — the
    rejects are judged on the establishments' file."""
    seuils = seuils or thresholds()
    dep = params["departement"]
    findings: list[Finding] = []
    absent: list[Finding] = []  # files with rows but none of the département
    for source, files in sources.items():
        for f in files:
            table, path = f["table"], f["file"]
            read, staged, oos = f["rows_read"], f["rows_staged"], f["rows_out_of_scope"]
            rejected = f.get("rows_rejected") or {}
            n_rejected = sum(rejected.values())
            in_scope = staged + n_rejected
            without = f.get("rows_without_kept_establishment") or 0
            figures = {"lues": read, "retenues": staged, "rejetees": n_rejected, "hors_champ": oos}
            if without:
                figures["sans_etablissement_retenu"] = without
            where = f" (rejected rows with their reason: {rejects[source]})" if rejects and source in rejects else ""
            if read < (seuils.get("lignes_lues_min", table) or 0):
                findings.append(Finding(
                    "lignes_lues_min",
                    f"{path} has no row (a header at most): it feeds {table}. {_refetch(source, sentence=True)}",
                    f"fichier vide : {Path(path).name}", path, figures))
            elif in_scope + without < (seuils.get("lignes_en_champ_min", table) or 0):
                absent.append(Finding(
                    "lignes_en_champ_min",
                    f"{path}: none of its {_n(read)} rows is of département {dep} (all out of scope); it feeds "
                    f"{table}. Check that the file covers {dep}",
                    f"aucune ligne du département {dep} dans {Path(path).name}", path, {**figures, "table": table}))
            elif table in seuils.targets("calage_lignes_min") and staged < seuils.get("calage_lignes_min", table):
                findings.append(Finding(
                    "calage_lignes_min",
                    f"{path}: {_n(staged)} of its {_n(in_scope)} rows of département {dep} kept, "
                    f"{_n(n_rejected)} rejected ({_reasons(rejected)}){where}. The employment calibration needs "
                    "this file: fix it or fetch it again",
                    f"calage impossible : {_n(n_rejected)} lignes sur {_n(in_scope)} rejetées dans "
                    f"{Path(path).name}", path, figures))
            elif (n_rejected > (seuils.get("rejets_toleres", table) or 0)
                  and n_rejected / in_scope > (seuils.get("taux_rejet_max", table) or 0)):
                findings.append(Finding(
                    "taux_rejet_max",
                    f"{path}: {_n(n_rejected)} of its {_n(in_scope)} rows of département {dep} rejected "
                    f"({_pct(n_rejected / in_scope)}, threshold {_pct(seuils.get('taux_rejet_max', table))}): "
                    f"{_reasons(rejected)}{where}. Fix the file or fetch it again",
                    f"{_pct(n_rejected / in_scope)} de lignes rejetées dans {Path(path).name} "
                    f"({_n(n_rejected)} sur {_n(in_scope)})", path, figures))
    findings += _unplaced(national or {}, dep, seuils, {f.fichier for f in findings})
    present = seuils.targets("departement_present")
    # one file may feed several tables (the communes file, the EPCI file): named once, with its first table's count
    files = {}
    for f in absent:
        files.setdefault(f.fichier, f.chiffres["lues"])
    for f in absent:
        if f.chiffres["table"] in present and f.chiffres["lues"] >= present[f.chiffres["table"]]:
            # one cause, one line: the other files without a row of the département are counted, not listed
            others = len(files) - 1
            return [Finding(
                "departement_present",
                f"département {dep} is absent from the input: none of the {_n(f.chiffres['lues'])} rows of "
                f"{f.fichier} is in {dep}" + (f" ({others} other input files have no row of {dep} either)"
                                              if others else "")
                + f". Check --departement, or give --input a folder whose files cover {dep}",
                f"département {dep} absent des fichiers d'entrée", f.fichier,
                {"lues": f.chiffres["lues"], "fichiers_sans_ligne": len(files)})] + findings
    if len(absent) > 1:  # often one cause (an empty stock leaves its legal units without scope): one line
        folder = Path(absent[0].fichier).parent
        here = ", ".join(f"{Path(p).name} ({_n(n)})" for p, n in files.items() if Path(p).parent == folder)
        elsewhere = ", ".join(f"{p} ({_n(n)})" for p, n in files.items() if Path(p).parent != folder)
        absent = [Finding(
            "lignes_en_champ_min",
            f"none of the rows of {here} in {folder}" + (f", nor of {elsewhere}," if elsewhere else "")
            + f" is of département {dep} (all out of scope). Check that these files cover {dep}",
            f"aucune ligne du département {dep} dans {len(files)} fichiers", str(folder),
            {"fichiers": {f.fichier: f.chiffres for f in absent}})]
    return findings + absent


def _status_word(status: str | None) -> str:
    """A public status in a message: « publié » for the code publie (or a publication older than the codes: None)."""
    return "publié" if status in (None, cols.PUBLIE) else status


def _unplaced(national: dict[str, dict], dep: str, seuils: Thresholds, seen: set) -> list[Finding]:
    """taux_rejet_max on the rows of each national file rejected without a département, against the rows read."""
    findings = []
    for source, info in national.items():
        path = info.get("rejets")
        if not path or not Path(path).exists():
            continue
        con = db.connect()
        try:
            counts = con.execute("SELECT table_staging, motif_rejet, count(*) FROM read_parquet(?) "
                                 "WHERE len(departements) = 0 GROUP BY ALL", [str(path)]).fetchall()
        finally:
            con.close()
        by_table: dict[str, dict[str, int]] = {}
        for table, reason, n in counts:
            by_table.setdefault(table, {})[reason] = n
        for f in info.get("fichiers") or []:
            table, file, read = f["table"], f["file"], f["rows_read"]
            rejected = by_table.get(table, {})
            n = sum(rejected.values())
            limit = seuils.get("taux_rejet_max", table) or 0
            if file in seen or not read or n <= (seuils.get("rejets_toleres", table) or 0) or n / read <= limit:
                continue
            findings.append(Finding(
                "taux_rejet_max",
                f"{file}: {_n(n)} of its {_n(read)} rows rejected without a département ({_pct(n / read)}, threshold "
                f"{_pct(limit)}): {_reasons(rejected)} (rejected rows with their reason: {path}). No département can "
                f"claim them, so they may be rows of {dep}. Fix the file or fetch it again",
                f"{_pct(n / read)} de lignes rejetées sans département dans {Path(file).name} ({_n(n)} sur {_n(read)})",
                file, {"lues": read, "rejetees_sans_departement": n}))
    return findings


# --- the figures ---------------------------------------------------------------------------------------------------


INPUT_MOVE_SHOWN = 0.05  # an input table's rows of the département named beside a figure's move beyond this change


def input_moves(sources: dict[str, list[dict]] | None, manifest: str | Path | None, limit: int = 3) -> str:
    """The input files whose rows of the département moved most since the run of a publication (its manifest's
    `sources`), as a sentence for a refusal: a half-read file shows there first. A table fed by several files (the
    COG's) is compared file by file, by name; when its file names changed (another millésime), by its total. ''
    when nothing can be compared."""
    try:
        before = _rows_by_table(json.loads(Path(manifest).read_text(encoding="utf-8"))["sources"])
    except (OSError, TypeError, ValueError, KeyError):
        return ""
    moves = []
    for table, files in _rows_by_table(sources or {}).items():
        then_files = before.get(table)
        if not then_files:
            continue
        pairs = ([(name, rows, then_files[name]) for name, rows in files.items()] if files.keys() <= then_files.keys()
                 else [(" + ".join(sorted(files)), sum(files.values()), sum(then_files.values()))])
        moves += [(rows / then - 1, name, table, rows, then) for name, rows, then in pairs if then]
    if not moves:
        return ""
    shown = sorted((m for m in moves if abs(m[0]) > INPUT_MOVE_SHOWN), key=lambda m: -abs(m[0]))[:limit]
    if not shown:
        return (f" No input file's rows of the département moved by more than {INPUT_MOVE_SHOWN:.0%} since that run: "
                "look at what they hold (legal forms, activity codes, size bands, employment).")
    return " Input rows of the département that moved most since that run: " + "; ".join(
        f"{name} ({table}) {_n(rows)} rows kept, {_n(then)} then ({change:+.1%})"
        for change, name, table, rows, then in shown) + "."


def _rows_by_table(sources: dict[str, list[dict]]) -> dict[str, dict[str, int]]:
    """{table: {file name: rows kept}} of a run's accounting (FileStats dicts by source)."""
    out: dict[str, dict[str, int]] = {}
    for s in (f for files in sources.values() for f in files):
        files = out.setdefault(s["table"], {})
        name = Path(s["file"]).name
        files[name] = files.get(name, 0) + int(s["rows_staged"])
    return out


def check_indicators(checks: dict, seuils: Thresholds | None = None,
                     sources: dict[str, list[dict]] | None = None) -> list[Finding]:
    """Findings on the headline figures of the check step's report (`headline`, `variations` since the previous
    publication, `publication_precedente`) and on the secrecy of a re-publication of the same millésime
    (`secret_publication_precedente`). `sources`: this run's accounting of the département's input files, whose
    moves since the publication compared with are named beside a figure's."""
    seuils = seuils or thresholds()
    findings = []
    headline = checks.get("headline") or {}
    for name, minimum in seuils.targets("valeur_min").items():
        value = headline.get(name)
        if isinstance(value, (int, float)) and value < minimum:
            findings.append(Finding(
                "valeur_min",
                f"{name} = {_n(value)} (minimum {_n(minimum)}): the run found no ESS establishment to publish. Look "
                "at the legal units and establishments files of the input and the perimeter chosen",
                f"{name} = {_n(value)} (minimum {_n(minimum)})", None, {name: value}))
    previous = checks.get("publication_precedente") or {}
    limits = seuils.targets("variation_max")
    for move in checks.get("variations") or []:
        name, change = move["indicateur"], move.get("variation")
        # each move says the publication it is measured against (another perimeter's, for the cube tables it shares)
        against = {k: move.get(k) or previous.get(k) for k in ("run_id", "millesime", "manifeste")}
        perimetre = f", perimeter {move['perimetre']}" if move.get("perimetre") else ""
        if name in limits and change is not None and abs(change) > limits[name]:
            findings.append(Finding(
                "variation_max",
                f"{name} moved by {change:+.1%} since the publication of run {against['run_id']} (millésime "
                f"{against['millesime']}{perimetre}): {_n(move['avant'])} → {_n(move['apres'])}, threshold "
                f"±{limits[name]:.0%}.{input_moves(sources, against['manifeste'])} Compare the input files with "
                "that run's (its manifest: "
                f"{against['manifeste']}); if the move is real, publish with --force",
                f"{name} : {_n(move['avant'])} → {_n(move['apres'])} ({change:+.1%}, seuil ±{limits[name]:.0%}) "
                f"depuis la publication du run {against['run_id']}"
                + (f" (périmètre {move['perimetre']})" if move.get("perimetre") else ""), against["manifeste"],
                {"avant": move["avant"], "apres": move["apres"], "variation": change}))
    changed = checks.get("secret_publication_precedente") or {}
    previous = {**previous, **{k: changed[k] for k in ("run_id", "millesime", "manifeste") if changed.get(k)}}
    most = seuils.get("statuts_secret_differents_max", "out_indicateurs_public")
    n = changed.get("n_statuts_differents") or 0
    if most is not None and changed.get("non_comparable"):
        findings.append(Finding(
            "statuts_secret_differents_max",
            f"the secrecy pattern of this run cannot be compared with that of the publication of the same millésime "
            f"{previous.get('millesime')} it would replace (run {previous.get('run_id')}): {changed['non_comparable']}. "
            "Read side by side, the two publications could each show what the other hides. If the new one must "
            "replace it, publish with --force and withdraw the old one wherever it was distributed",
            f"secret non comparable avec la publication du run {previous.get('run_id')} du même millésime",
            previous.get("manifeste"), {"non_comparable": changed["non_comparable"]}))
    elif most is not None and n > most:
        examples = "; ".join(f"{e['annee']} {e['niveau']} {e['code_territoire']} {e['famille']} {e['perimetre']}: "
                             f"{_status_word(e['avant'])} → {_status_word(e['apres'])}"
                             for e in changed.get("exemples", []))
        findings.append(Finding(
            "statuts_secret_differents_max",
            f"{_n(n)} public cells of millésime {previous.get('millesime')} would be masked in one publication and "
            f"shown in the other, against that of run {previous.get('run_id')} (e.g. {examples}). Read side by side, "
            "the two publications could each show what the other hides. Publish a millésime from one machine and one "
            "version of the pipeline; if the new one must replace it (corrected inputs), publish with --force and "
            "withdraw the old one wherever it was distributed",
            f"{_n(n)} cellules publiques seraient masquées dans une publication et diffusées dans l'autre (emploi), "
            f"par rapport à celle du run {previous.get('run_id')} du même millésime", previous.get("manifeste"),
            {"n_statuts_differents": n}))
    return findings


def _refetch(source: str, *, sentence: bool = False) -> str:
    """What to do about a damaged file of `source`: download it again only where `ess fetch` can."""
    from sources import registry

    advice = (registry.source(source).refetch_advice() if source in registry.SOURCES
              else "put the complete file in place")
    return advice[:1].upper() + advice[1:] if sentence else advice


def check_completeness(complete: dict, sources: dict[str, list[dict]] | None = None,
                       seuils: Thresholds | None = None) -> list[Finding]:
    """A half-read input that leaves no row to reject (transforms.checks.completeness, known once core is built):
    communes without an EPCI or a population, URSSAF's two files far apart, a SIRENE stock older than its
    millésime. Each a finding with the file to look at, also on a first publication (no earlier one to compare
    with). `sources`: the département's input accounting, where the file to name is found."""
    seuils = seuils or thresholds()
    sources = sources or {}
    findings = []
    files = [f["file"] for fs in sources.values() for f in fs]
    n = complete.get("communes") or 0
    for value, limit in seuils.targets("part_communes_sans_max").items():
        missing = complete.get(f"communes_sans_{value}")
        if not n or missing is None or missing / n <= limit:
            continue
        stem, what = COMMUNE_VALUE_FILES.get(value, (value, f"the file giving the communes' {value}"))
        path = next((f for f in files if stem in Path(f).name), None)
        findings.append(Finding(
            "part_communes_sans_max",
            f"{_n(missing)} of the département's {_n(n)} communes have no {value} ({_pct(missing / n)}, threshold "
            f"{_pct(limit)}): {what}{f' ({path})' if path else ''} lacks their lines — cut short, or of another year "
            f"than the COG. {_refetch('territoires', sentence=True)}",
            f"{_n(missing)} communes sur {_n(n)} sans {value} ({_pct(missing / n)})", path,
            {"communes": n, "sans_valeur": missing}))
    n, unknown = complete.get("etablissements") or 0, complete.get("etablissements_commune_inconnue")
    limit = seuils.get("part_etablissements_commune_inconnue_max", ANY)
    if n and unknown is not None and limit is not None and unknown / n > limit:
        path = next((f for f in files if Path(f).name.startswith("v_commune")), None)
        findings.append(Finding(
            "part_etablissements_commune_inconnue_max",
            f"{_n(unknown)} of the département's {_n(n)} establishments have a commune code that the COG does not "
            f"know, even through its changes ({_pct(unknown / n)}, threshold {_pct(limit)}): the COG "
            f"({path or 'v_commune_<YYYY>.csv'}) lacks communes, or is older than the SIRENE stock. Choose the COG "
            f"of the stock's year (--annee-cog), or {_refetch('territoires')}",
            f"{_n(unknown)} établissements sur {_n(n)} dans une commune inconnue du COG ({_pct(unknown / n)})", path,
            {"etablissements": n, "commune_inconnue": unknown}))
    gap, limit = complete.get("jours_sans_creation_avant_fin_millesime"), seuils.get("jours_sans_creation_max", ANY)
    if gap is not None and limit is not None and gap > limit:
        path = next((f for f in files if "StockEtablissement_" in Path(f).name), None)
        findings.append(Finding(
            "jours_sans_creation_max",
            f"the SIRENE stock's latest establishment creation in the département is of {complete['date_creation_max']}"
            f", {gap} days before the end of the millésime it is filed under ({complete['fin_millesime']}; allowed "
            f"{limit:g} days): the stock ({path or 'StockEtablissement'}) is older than its folder says. Put it under "
            "the folder of its own month (sirene/<YYYY-MM>/) or give --millesime",
            f"stock SIRENE plus ancien que son millésime : dernière création le {complete['date_creation_max']}, "
            f"{gap} jours avant le {complete['fin_millesime']}", path,
            {"date_creation_max": complete["date_creation_max"], "jours": gap}))
    ratio, limit = complete.get("rapport_fichiers_urssaf"), seuils.get("ecart_fichiers_urssaf_max", ANY)
    if ratio is not None and limit is not None and abs(ratio - 1) > limit:
        paths = [f["file"] for f in sources.get("urssaf", [])]
        findings.append(Finding(
            "ecart_fichiers_urssaf_max",
            f"URSSAF's two files of {complete.get('annee_urssaf')} disagree: the commune × APE file totals "
            f"{_n(complete['urssaf_commune_ape_31_12'])} employees on 31/12, the ESS file "
            f"{_n(complete['urssaf_ess_moyennes'])} on average over the year for the same field (ratio {ratio:.3f}, "
            f"allowed 1 ± {limit:g}). One of them is incomplete ({', '.join(paths) or 'the URSSAF snapshot'}): fetch "
            "it again (ess fetch --source urssaf); if the gap is real (seasonal jobs on 31/12), raise the threshold "
            "in seuils_publication.csv or publish with --force",
            f"fichiers URSSAF incohérents : {_n(complete['urssaf_commune_ape_31_12'])} au 31/12 contre "
            f"{_n(complete['urssaf_ess_moyennes'])} en moyenne annuelle (rapport {ratio:.3f})",
            paths[0] if paths else None, {"rapport": ratio}))
    return findings


# --- the decision --------------------------------------------------------------------------------------------------


def verdict(findings: list[Finding], *, force: bool, warehouse: Path, earlier: dict | None = None) -> dict:
    """Raise PublicationRefused with one message when a guard failed and --force was not given; otherwise the
    guards' record for the manifest (`earlier`: the record of the guards that already ran in this run)."""
    constats = list((earlier or {}).get("constats", [])) + [f.to_dict() for f in findings]
    if findings and not force:
        raise PublicationRefused(refusal_message(findings, warehouse))
    return {"force_demandee": bool(force), "constats": constats, "publication_forcee": bool(force and constats)}


def refusal_message(findings: list[Finding], warehouse: Path) -> str:
    from transforms.warehouse import current_dir

    try:
        current = current_dir(Path(warehouse))
    except UserError:
        current = None
    kept = (f"{warehouse} still holds version {current.name}" if current is not None
            else f"{warehouse} is unchanged")
    lines = [f"publication refused — nothing was published, {kept}:"]
    lines += [f"- {f.message}" for f in findings[:MAX_LINES]]
    if len(findings) > MAX_LINES:
        lines.append(f"- and {len(findings) - MAX_LINES} more (in the run log)")
    lines.append("Thresholds: data/reference/seuils_publication.csv. `--force` publishes anyway (the manifest and "
                 "the report then say so).")
    return "\n".join(lines)
