"""Territories of a département: communes (COG), old commune codes, EPCI, populations and zones d'emploi. Other
zonings (bassins de vie, the Département's territoires…) are reference data, one file each (transforms/zonages.py).

`load()` reads, in order of preference, the official files of a snapshot folder (`territoires/<YYYY>/`) and, for
whatever is missing there, the committed reference (data/reference/, built by `ess build-reference`):

| what                | official file in the snapshot                         | committed fallback               |
|---------------------|-------------------------------------------------------|----------------------------------|
| communes            | INSEE `v_commune_<YYYY>.csv`                          | `communes_<YYYY>.csv`            |
| old codes           | INSEE `v_mvt_commune_<YYYY>.csv`                      | `communes_passage_<YYYY>.csv`    |
| EPCI composition    | DGCL `epcicom<YYYY>.xlsx` (or `.csv`)                 | `epci_<YYYY>.csv` + communes     |
| populations         | INSEE populations légales `donnees_communes.csv`      | `communes_<YYYY>.csv` population |
| zones d'emploi 2020 | INSEE `ZE2020_au_01-01-<YYYY>.xlsx` (or `.csv`)       | `communes_<YYYY>.csv` (empty)    |

Every file is first normalised into a temp table `raw_*` (VARCHAR columns + fichier/ligne); the checks, the scope
(the département) and the mapping live in sql/staging/staging_{communes,communes_passage,epci}.sql.
Each staged or rejected row lists the file lines it came from, which gives the accounting of every file.
"""

from __future__ import annotations

import datetime as dt

import csv
import hashlib
import logging
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from ess import db
from ess.accounting import FileStats
from ess.errors import InputFileError, UserError
from ess.paths import REFERENCE_DIR
from sources.base import Source, SourceFile, normalise_departement

COG_PAGE = "https://www.insee.fr/fr/information/2560452"
SOURCE = Source(
    name="territoires",
    title="Code officiel géographique, composition des EPCI et populations légales",
    producer="INSEE (COG, populations légales, zones d'emploi); DGCL (EPCI)",
    licence="Licence Ouverte / Open Licence 2.0 (Etalab)",
    homepage=COG_PAGE,
    cadence="yearly",
    millesime_format="YYYY",
    stage_params=("departement", "annee_cog", "synthetic", "reference_dir"),
    fetch_serves="nothing",
    files=(
        SourceFile("communes", "v_commune_{YYYY}.csv", COG_PAGE,
                   description="INSEE COG: communes, communes déléguées/associées, arrondissements municipaux "
                               "at 1 January (inside the yearly COG zip; the file name carries the year)"),
        SourceFile("mouvements", "v_mvt_commune_{YYYY}.csv", COG_PAGE,
                   description="INSEE COG: commune events since 1943 (fusions, scissions, code changes)"),
        SourceFile("epci", "epcicom{YYYY}.xlsx",
                   "https://www.collectivites-locales.gouv.fr/institutions/"
                   "liste-et-composition-des-epci-fiscalite-propre",
                   description="DGCL: EPCI à fiscalité propre and their member communes at 1 January"),
        SourceFile("populations", "donnees_communes.csv",
                   "https://www.insee.fr/fr/information/2008354",
                   description="INSEE populations légales (population municipale PMUN), in force on 1 January"),
        SourceFile("zones_emploi", "ZE2020_au_01-01-{YYYY}.xlsx", "https://www.insee.fr/fr/information/4652957",
                   description="INSEE zonage en zones d'emploi 2020, commune composition in the COG of the year"),
    ),
)

log = logging.getLogger(__name__)
COMMUNE_CODE = re.compile(r"^(\d{5}|2[AB]\d{3})$")
STAGING_TABLES = ("staging_communes", "staging_communes_passage", "staging_epci")
# Raw temp tables and their columns (besides fichier, ligne).
RAW_COLUMNS = {
    "raw_cog_communes": ("typecom", "code_commune", "nom_commune", "code_departement", "code_region",
                         "code_arrondissement", "code_commune_parent"),
    "raw_cog_mouvements": ("date_effet", "typecom_av", "code_av", "typecom_ap", "code_ap"),
    "raw_epci": ("siren_epci", "nom_epci", "nature_epci"),
    "raw_epci_membres": ("siren_epci", "code_commune", "code_departement"),
    "raw_populations": ("code_commune", "population"),
    "raw_zones_emploi": ("code_commune", "code_zone_emploi"),
}
# Which raw tables each staging table reads (for the accounting of its files).
TABLE_INPUTS = {
    "staging_communes": ("raw_cog_communes", "raw_epci_membres", "raw_populations", "raw_zones_emploi"),
    "staging_communes_passage": ("raw_cog_communes", "raw_cog_mouvements"),
    "staging_epci": ("raw_epci", "raw_epci_membres"),
}
# The column each reason of the territory SQL is about (our normalised names).
REJECT_COLUMNS = {
    "code commune mal formé": "code_commune", "nom de commune manquant": "nom_commune",
    "code commune en double": "code_commune", "population : commune absente du COG": "code_commune",
    "population non numérique": "population", "population en double": "code_commune",
    "zone d'emploi : commune absente du COG": "code_commune", "zone d'emploi en double": "code_commune",
    "ancien code sans commune actuelle": "ancien_code",
}  # (staging_epci.sql names its own: a member's commune is not a column of the EPCI table)
TABLE_KEYS = {"staging_communes": "code_commune", "staging_communes_passage": "ancien_code",
              "staging_epci": "siren_epci"}




# ---------------------------------------------------------------------------------------------------------------
# Reading files: every data line keeps its line number; columns are found by name.


@dataclass
class Table:
    path: Path
    header: list[str]
    rows: list[tuple[int, list[str | None]]]  # (line number in the file, values)
    spreadsheet: bool = False  # codes of a spreadsheet may have been stored as numbers

    def pad(self, value: str | None, width: int) -> str | None:
        """A spreadsheet storing codes as numbers loses their leading zeros (1001 for 01001): restore them. Text
        files are taken as they are (a short code there is malformed, and rejected as such)."""
        if self.spreadsheet and value is not None and value.isdigit() and len(value) < width:
            return value.zfill(width)
        return value

    def column(self, *names: str, required: bool = True, contains: tuple[str, ...] = ()) -> int | None:
        """Index of the first header matching one of `names` (case and accents ignored), or containing all of
        `contains`."""
        keys = [_key(h) for h in self.header]
        for name in names:
            if _key(name) in keys:
                return keys.index(_key(name))
        if contains:
            for i, k in enumerate(keys):
                if all(c in k for c in contains):
                    return i
        if required:
            raise InputFileError(
                f"{self.path}: no column {' / '.join(names) or '*' + '*'.join(contains) + '*'} in its header "
                f"{self.header}; is it the right file?"
            )
        return None


def _key(name: str) -> str:
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


def _clean(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def read_table(path: Path, *, header_has: str | None = None) -> Table:
    """A CSV (`,` `;` or tab, UTF-8 or Windows-1252) or the first sheet of an .xlsx. `header_has` finds the header
    line when it is not the first (INSEE spreadsheets start with a title block)."""
    path = Path(path)
    if path.suffix.lower() == ".xlsx":
        return _read_xlsx(path, header_has)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    lines = text.splitlines()
    start = 0
    if header_has:
        start = next((i for i, line in enumerate(lines[:30]) if _key(header_has) in _key(line).split("_")
                      or _key(header_has) in [_key(x) for x in re.split(r"[,;\t]", line)]), 0)
    first = lines[start] if lines else ""
    delimiter = max([",", ";", "\t"], key=first.count)
    reader = csv.reader(text.splitlines(keepends=True)[start:], delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise InputFileError(f"{path}: the file is empty") from None
    rows = []
    for values in reader:
        if not any(v.strip() for v in values):
            continue
        values = values + [""] * (len(header) - len(values))
        rows.append((start + reader.line_num, [v.strip() or None for v in values[: len(header)]]))
    return Table(path, header, rows)


def _read_xlsx(path: Path, header_has: str | None) -> Table:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise InputFileError(f"{path}: cannot open it as an Excel workbook ({exc})") from None
    try:
        sheets = wb.worksheets
        header, rows, found = [], [], False
        for sheet in sheets:
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                values = [_cell(v) for v in values]
                if not found:
                    if header_has is None or _key(header_has) in [_key(v or "") for v in values]:
                        header, found = [v or "" for v in values], True
                    continue
                if any(v is not None for v in values):
                    values = values + [None] * (len(header) - len(values))
                    rows.append((number, values[: len(header)]))
            if found:
                break
    finally:
        wb.close()
    if not found:
        raise InputFileError(f"{path}: no header line with a {header_has!r} column in any sheet")
    return Table(path, header, rows, spreadsheet=True)


def _cell(value) -> str | None:
    # Excel stores some codes as numbers: a whole number keeps no decimal part; padding is done per column.
    return _clean(value)


# ---------------------------------------------------------------------------------------------------------------
# Official files -> raw tables


class _Raw:
    """Collects the rows of each raw table, and the files read."""

    def __init__(self) -> None:
        self.rows: dict[str, list[tuple]] = {name: [] for name in RAW_COLUMNS}
        self.files: dict[str, tuple[Path, set[int]]] = {}  # file key -> (path, line numbers of its data lines)
        self._sha: dict[str, str] = {}
        self.feeds: dict[str, set[str]] = {name: set() for name in RAW_COLUMNS}  # raw table -> file keys

    def file(self, table: Table) -> str:
        key = str(table.path)
        self.files[key] = (table.path, {ligne for ligne, _ in table.rows})
        return key

    def sha256(self, key: str) -> str:
        if key not in self._sha:
            self._sha[key] = hashlib.sha256(self.files[key][0].read_bytes()).hexdigest()
        return self._sha[key]

    def add(self, raw: str, fichier: str, ligne: int, *values) -> None:
        self.feeds[raw].add(fichier)
        self.rows[raw].append((fichier, ligne, *values))

    def register(self, con) -> None:
        for name, cols in RAW_COLUMNS.items():
            rows = self.rows[name]
            columns = {"fichier": [r[0] for r in rows], "ligne": [r[1] for r in rows]}
            for i, col in enumerate(cols):
                columns[col] = [r[2 + i] for r in rows]
            schema = pa.schema([("fichier", pa.string()), ("ligne", pa.int64())]
                               + [(c, pa.string()) for c in cols])
            arrow = pa.table(columns, schema=schema)
            con.register("_arrow_raw", arrow)
            con.execute(f"CREATE OR REPLACE TEMP TABLE {db.identifier(name)} AS SELECT * FROM _arrow_raw")
            con.unregister("_arrow_raw")


def _read_v_commune(raw: _Raw, path: Path) -> None:
    t = read_table(path)
    f = raw.file(t)
    cols = [t.column(n) for n in ("TYPECOM", "COM", "LIBELLE", "DEP", "REG", "ARR", "COMPARENT")]
    for ligne, v in t.rows:
        raw.add("raw_cog_communes", f, ligne, *(v[i] for i in cols))


def _read_v_mvt(raw: _Raw, path: Path) -> None:
    t = read_table(path)
    f = raw.file(t)
    cols = [t.column(n) for n in ("DATE_EFF", "TYPECOM_AV", "COM_AV", "TYPECOM_AP", "COM_AP")]
    for ligne, v in t.rows:
        raw.add("raw_cog_mouvements", f, ligne, *(v[i] for i in cols))


def _read_epcicom(raw: _Raw, path: Path) -> None:
    t = read_table(path, header_has="siren_membre")
    f = raw.file(t)
    siren, nom, nature = t.column("siren"), t.column("raison_sociale"), t.column("nature_juridique")
    insee, dep_com = t.column("insee"), t.column("dep_com", required=False)
    seen = set()
    for ligne, v in t.rows:
        s = t.pad(v[siren], 9)
        if s not in seen:  # one EPCI line per EPCI: its first member line
            seen.add(s)
            raw.add("raw_epci", f, ligne, s, v[nom], v[nature])
        dep = v[dep_com] if dep_com is not None else None
        raw.add("raw_epci_membres", f, ligne, s, t.pad(v[insee], 5), t.pad(dep, 2))


def _read_populations(raw: _Raw, path: Path) -> None:
    """INSEE populations légales: either a code column (DEPCOM / CODGEO / COM as a code) or DEP + CODCOM."""
    t = read_table(path, header_has="PMUN")
    f = raw.file(t)
    pmun = t.column("PMUN", "population_municipale", "population")
    code = t.column("DEPCOM", "CODGEO", "code_commune", required=False)
    dep, codcom = (None, None) if code is not None else (t.column("DEP"), t.column("CODCOM"))
    for ligne, v in t.rows:
        if code is not None:
            c = t.pad(v[code], 5)
        else:
            d, cc = v[dep] or "", v[codcom] or ""
            # DOM: DEP 971 + CODCOM 01, or DEP 971 + CODCOM 101; metropolitan: DEP 38 + CODCOM 185.
            if len(d) == 3:
                c = d + cc if len(cc) == 2 else d[:2] + cc.zfill(3)
            else:
                c = t.pad(d, 2) + cc.zfill(3) if d else None
        raw.add("raw_populations", f, ligne, c, v[pmun])


def _read_zones_emploi(raw: _Raw, path: Path) -> None:
    t = read_table(path, header_has="CODGEO")
    f = raw.file(t)
    code, ze = t.column("CODGEO"), t.column("ZE2020")
    for ligne, v in t.rows:
        raw.add("raw_zones_emploi", f, ligne, t.pad(v[code], 5), t.pad(v[ze], 4))


def _read_reference(raw: _Raw, annee: int, departement: str, *, communes: bool, passage: bool, epci: bool,
                    populations: bool, zones: bool, snapshot_dir: Path | None = None) -> None:
    """The committed reference, for whatever the snapshot does not provide."""
    needed = communes or epci or populations or zones
    ref_communes = REFERENCE_DIR / f"communes_{annee}.csv"
    files = ([ref_communes] if needed else []) + ([REFERENCE_DIR / f"communes_passage_{annee}.csv"] if passage
                                                   else []) + ([REFERENCE_DIR / f"epci_{annee}.csv"] if epci else [])
    missing = [p for p in files if not p.exists()]
    if missing:
        have = sorted(p.stem.split("_")[1] for p in REFERENCE_DIR.glob("communes_[0-9][0-9][0-9][0-9].csv"))
        where = (f"the snapshot folder {snapshot_dir} lacks some" if snapshot_dir is not None
                 else f"the input has no territory snapshot of {annee}")
        root = Path(snapshot_dir).parent.parent if snapshot_dir is not None else None
        raise UserError(
            f"no COG {annee} territory files: {where} and the committed reference has COG "
            f"{', '.join(have) or 'none'} only ({missing[0].name} missing). "
            f"{SOURCE.how_to_get(root, str(annee))}" + (f"; or choose --annee-cog {have[-1]}" if have else "")
        )
    if needed:
        t = read_table(ref_communes)
        f = raw.file(t)
        c = {n: t.column(n) for n in ("code_commune", "nom_commune", "type", "code_commune_parent",
                                      "code_departement", "code_region", "code_arrondissement", "siren_epci",
                                      "population", "code_zone_emploi")}
        for ligne, v in t.rows:
            is_commune = v[c["type"]] == "commune"
            code = v[c["code_commune"]]
            if communes:
                raw.add("raw_cog_communes", f, ligne, "COM" if is_commune else "ARM", code, v[c["nom_commune"]],
                        v[c["code_departement"]], v[c["code_region"]], v[c["code_arrondissement"]],
                        v[c["code_commune_parent"]])
            if epci and is_commune and v[c["siren_epci"]]:
                raw.add("raw_epci_membres", f, ligne, v[c["siren_epci"]], code, v[c["code_departement"]])
            if populations and is_commune and v[c["population"]]:
                raw.add("raw_populations", f, ligne, code, v[c["population"]])
            if zones and is_commune and v[c["code_zone_emploi"]]:
                raw.add("raw_zones_emploi", f, ligne, code, v[c["code_zone_emploi"]])
    if passage:
        t = read_table(REFERENCE_DIR / f"communes_passage_{annee}.csv")
        f = raw.file(t)
        old, new, kind = t.column("ancien_code"), t.column("code_commune"), t.column("type_passage")
        typecom = {"commune_deleguee": "COMD", "commune_associee": "COMA", "arrondissement_municipal": "ARM"}
        for ligne, v in t.rows:
            raw.add("raw_cog_mouvements", f, ligne, None, typecom.get(v[kind], "COM"), v[old], "COM", v[new])
    if epci:
        t = read_table(REFERENCE_DIR / f"epci_{annee}.csv")
        f = raw.file(t)
        cols = [t.column(n) for n in ("siren_epci", "nom_epci", "nature_epci")]
        for ligne, v in t.rows:
            raw.add("raw_epci", f, ligne, *(v[i] for i in cols))


def _find(snapshot_dir: Path | None, *patterns: str) -> Path | None:
    """The first file of the snapshot whose name matches a pattern (case-insensitive)."""
    if snapshot_dir is None or not Path(snapshot_dir).is_dir():
        return None
    files = sorted(p for p in Path(snapshot_dir).iterdir() if p.is_file())
    for pattern in patterns:
        rx = re.compile(pattern, re.IGNORECASE)
        for p in files:
            if rx.fullmatch(p.name):
                return p
    return None


def find_official_files(snapshot_dir: Path | None, annee: int) -> dict[str, Path | None]:
    return {
        "communes": _find(snapshot_dir, rf"v_commune_{annee}\.csv"),
        "mouvements": _find(snapshot_dir, rf"v_mvt_commune_{annee}\.csv"),
        "epci": _find(snapshot_dir, rf"epcicom_?{annee}\.xlsx", rf"epcicom_?{annee}\.csv"),
        "populations": _find(snapshot_dir, r".*donnees_communes.*\.csv", r"populations?_legales?.*\.csv"),
        "zones_emploi": _find(snapshot_dir, r"ze2020.*\.(xlsx|csv)"),
    }


# ---------------------------------------------------------------------------------------------------------------
# Loading


def _refuse_without_communes(snapshot_dir: Path | None, official: dict[str, Path | None], annee: int) -> None:
    """A snapshot holding COG files but not the communes one was damaged or half-fetched: its communes are not
    taken from the committed reference behind the user's back (the run would mix two sources and fail late)."""
    present = [p.name for key, p in official.items() if p is not None and key != "communes"]
    if official["communes"] is None and present:
        raise UserError(
            f"territory snapshot {snapshot_dir}: v_commune_{annee}.csv is missing while the folder holds "
            f"{', '.join(present)}. Put INSEE's v_commune_{annee}.csv back in that folder (`ess fetch` does not "
            "download the territory files), or remove the folder to run on the committed reference (data/reference) "
            "alone")


def load(con, snapshot_dir: Path | None, *, departement: str, annee_cog: int) -> list[FileStats]:
    """Create staging_communes, staging_communes_passage and staging_epci for the département
    (rejected rows go to staging_rejets); returns the accounting of every file read."""
    departement = normalise_departement(departement)
    annee = int(annee_cog)
    if snapshot_dir is not None and not Path(snapshot_dir).is_dir():
        raise UserError(f"territory snapshot folder {snapshot_dir} does not exist")
    official = find_official_files(snapshot_dir, annee)
    _refuse_without_communes(snapshot_dir, official, annee)
    ignored = _find(snapshot_dir, r".*territoire.*\.(csv|xlsx)")
    if ignored:  # the Département's table went into the snapshot before zonings were reference data
        log.warning("%s is not read: a commune → zone table is a zoning, one CSV file zonages/<niveau>.csv of your "
                    "reference folder (format: data/reference/README.md)", ignored)
    raw = _Raw()
    if official["communes"]:
        _read_v_commune(raw, official["communes"])
    if official["mouvements"]:
        _read_v_mvt(raw, official["mouvements"])
    if official["epci"]:
        _read_epcicom(raw, official["epci"])
    if official["populations"]:
        _read_populations(raw, official["populations"])
    if official["zones_emploi"]:
        _read_zones_emploi(raw, official["zones_emploi"])
    _read_reference(
        raw, annee, departement,
        communes=not official["communes"], passage=not official["mouvements"], epci=not official["epci"],
        populations=not official["populations"], zones=not official["zones_emploi"], snapshot_dir=snapshot_dir,
    )
    raw.register(con)
    db.ensure_rejects_table(con)
    params = {"departement": departement, "annee_cog": annee}
    stats: list[FileStats] = []
    for table in STAGING_TABLES:
        stats += _stage(con, raw, table, params, str(annee))
    return stats


def _stage(con, raw: _Raw, table: str, params: dict, millesime: str) -> list[FileStats]:
    files = sorted(set().union(*(raw.feeds[r] for r in TABLE_INPUTS[table])))
    db.build_staging_table(con, table, key=TABLE_KEYS[table], fichier=" + ".join(Path(f).name for f in files),
                           **params)
    # Rejects: name the precise file and line of each rejected row, the column at fault and its value (as the
    # loader normalised it: see RAW_COLUMNS), and the département they concern.
    con.execute(
        f"""UPDATE {db.REJECTS_TABLE}
            SET fichier = json_extract_string(ligne, '$._sources[0].fichier'),
                numero_ligne = CAST(json_extract(ligne, '$._sources[0].ligne') AS BIGINT),
                departements = [?]
            WHERE table_staging = ?""",
        [params["departement"], table],
    )
    con.execute("CREATE OR REPLACE TEMP TABLE _motifs_colonnes (motif VARCHAR, colonne VARCHAR)")
    con.executemany("INSERT INTO _motifs_colonnes VALUES (?, ?)", list(REJECT_COLUMNS.items()))
    # (unless the SQL named them itself: a column the staged table does not have, e.g. an EPCI member's commune)
    con.execute(
        f"""UPDATE {db.REJECTS_TABLE} AS r
            SET colonne = m.colonne, valeur = json_extract_string(r.ligne, '$.' || m.colonne)
            FROM _motifs_colonnes AS m WHERE r.motif_rejet = m.motif AND r.table_staging = ? AND r.colonne IS NULL""",
        [table],
    )
    staged = dict(con.execute(
        f"SELECT s.fichier, list(DISTINCT s.ligne) FROM (SELECT unnest(_sources) AS s FROM {table}) GROUP BY 1"
    ).fetchall())
    rejected_rows = con.execute(
        f"""SELECT s.fichier, s.ligne, motif_rejet FROM (
                SELECT unnest(from_json(ligne -> '_sources', '[{{"fichier": "VARCHAR", "ligne": "BIGINT"}}]')) AS s,
                       motif_rejet
                FROM {db.REJECTS_TABLE} WHERE table_staging = ?)""",
        [table],
    ).fetchall()
    for (col,) in con.execute(f"SELECT column_name FROM (DESCRIBE {table})").fetchall():
        if re.fullmatch(r"_[a-z_]+", col):  # helper columns (line provenance) are not part of the contract
            con.execute(f'ALTER TABLE {table} DROP COLUMN "{col}"')
    stats = []
    for f in files:
        path, lines = raw.files[f]
        staged_lines = set(staged.get(f, []))
        rejected = Counter(m for fichier, _, m in rejected_rows if fichier == f)
        rejected_lines = {ligne for fichier, ligne, _ in rejected_rows if fichier == f}
        stats.append(FileStats(
            source=SOURCE.name, table=table, file=str(path), millesime=millesime, sha256=raw.sha256(f),
            rows_read=len(lines), rows_staged=len(staged_lines), rows_rejected=dict(sorted(rejected.items())),
            # Independent of the two counts above, so that a line both staged and rejected fails the check.
            rows_out_of_scope=len(lines - staged_lines - rejected_lines),
        ))
    return stats


# ---------------------------------------------------------------------------------------------------------------
# Writing official-format files from the committed reference (for the synthetic sample)

V_COMMUNE_COLUMNS = ["TYPECOM", "COM", "REG", "DEP", "CTCD", "ARR", "TNCC", "NCC", "NCCENR", "LIBELLE", "CAN",
                     "COMPARENT"]
V_MVT_COLUMNS = ["MOD", "DATE_EFF", "TYPECOM_AV", "COM_AV", "TNCC_AV", "NCC_AV", "NCCENR_AV", "LIBELLE_AV",
                 "TYPECOM_AP", "COM_AP", "TNCC_AP", "NCC_AP", "NCCENR_AP", "LIBELLE_AP"]
POPULATION_COLUMNS = ["REG", "Région", "DEP", "CODARR", "CODCAN", "CODCOM", "COM", "PMUN", "PCAP", "PTOT"]
# Article that starts LIBELLE for each TNCC ("type de nom en clair") of the COG.
_ARTICLES = {"2": "Le ", "3": "La ", "4": "Les ", "5": "L'", "6": "Aux ", "7": "Las ", "8": "Los "}
_TYPECOM_OF_PASSAGE = {"commune_deleguee": "COMD", "commune_associee": "COMA"}


def _names(libelle: str, tncc: str | None) -> tuple[str, str, str]:
    """(TNCC, NCC, NCCENR) of a LIBELLE: NCCENR is the name without its article, NCC its upper-case ASCII form."""
    tncc = tncc or "0"
    article = _ARTICLES.get(tncc)
    if article is None:  # the reference may lack TNCC (communes déléguées): guess it from the name
        article = next((a for a in _ARTICLES.values() if libelle.startswith(a)), "")
        tncc = next((k for k, a in _ARTICLES.items() if a == article), tncc)
    enr = libelle[len(article):] if article and libelle.startswith(article) else libelle
    ncc = unicodedata.normalize("NFKD", enr).encode("ascii", "ignore").decode().upper()
    return tncc, ncc, enr


def _ctcd(departement: str, code_epci_nature: str | None) -> str:
    """Collectivité ayant les compétences départementales, as INSEE codes it (a few territories are special)."""
    special = {"2A": "20R", "2B": "20R", "67": "6AE", "68": "6AE", "75": "75C", "972": "972R", "973": "973R"}
    if departement == "69" and code_epci_nature == "MET69":
        return "69M"
    return special.get(departement, f"{departement}D")


def _reference_rows(name: str) -> list[dict]:
    path = REFERENCE_DIR / name
    if not path.exists():
        raise UserError(f"{path} is missing: run `ess build-reference`")
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def write_official_files(snapshot_dir: Path, *, departement: str, annee: int) -> list[Path]:
    """Write the territory files of a département in the official formats, from the committed reference, so that a
    sample exercises the same loader as official files: v_commune_<YYYY>.csv, v_mvt_commune_<YYYY>.csv,
    epcicom<YYYY>.xlsx and donnees_communes.csv (populations légales).

    Official files cover France; these cover the département plus every commune of the EPCIs that cross its border
    (so that EPCI totals stay right). Limits, because the reference only keeps the current state: the events of
    v_mvt_commune are written as MOD 31 (fusion) dated 1 January of the year; CAN (canton) is empty; PCAP/PTOT and
    ptot_<YYYY> are empty (only the population municipale is known).
    """
    departement = normalise_departement(departement)
    out = Path(snapshot_dir)
    out.mkdir(parents=True, exist_ok=True)
    communes = _reference_rows(f"communes_{annee}.csv")
    passage = _reference_rows(f"communes_passage_{annee}.csv")
    epcis = {e["siren_epci"]: e for e in _reference_rows(f"epci_{annee}.csv")}
    regions = {d["code_region"]: d["nom_region"] for d in _reference_rows(f"departements_{annee}.csv")}

    in_dep = [c for c in communes if c["code_departement"] == departement]
    if not in_dep:
        raise UserError(f"département {departement} has no commune in the COG {annee} reference")
    sirens = {c["siren_epci"] for c in in_dep if c["siren_epci"]}
    kept = [c for c in communes if c["code_departement"] == departement or c["siren_epci"] in sirens]
    by_code = {c["code_commune"]: c for c in kept if c["type"] == "commune"}

    def commune_line(typecom: str, code: str, libelle: str, tncc: str | None, parent: dict) -> dict:
        tncc, ncc, enr = _names(libelle, tncc)
        nature = epcis.get(parent["siren_epci"], {}).get("nature_epci")
        return {"TYPECOM": typecom, "COM": code, "REG": parent["code_region"], "DEP": parent["code_departement"],
                "CTCD": _ctcd(parent["code_departement"], nature), "ARR": parent["code_arrondissement"],
                "TNCC": tncc, "NCC": ncc, "NCCENR": enr, "LIBELLE": libelle, "CAN": "",
                "COMPARENT": "" if typecom == "COM" else parent["code_commune"]}

    v_commune = []
    for c in kept:
        parent = by_code.get(c["code_commune_parent"]) if c["type"] != "commune" else c
        if parent is None:
            continue
        typecom = "COM" if c["type"] == "commune" else "ARM"
        v_commune.append(commune_line(typecom, c["code_commune"], c["nom_commune"], c["type_liaison"], parent))
    v_mvt = []
    for p in passage:
        parent = by_code.get(p["code_commune"])
        if parent is None:
            continue
        if p["type_passage"] in _TYPECOM_OF_PASSAGE:
            v_commune.append(commune_line(_TYPECOM_OF_PASSAGE[p["type_passage"]], p["ancien_code"],
                                          p["nom_ancien"] or parent["nom_commune"], None, parent))
        elif p["type_passage"] == "ancien_code":
            av = _names(p["nom_ancien"] or parent["nom_commune"], None)
            ap = _names(parent["nom_commune"], parent["type_liaison"])
            v_mvt.append({"MOD": "31", "DATE_EFF": f"{annee}-01-01",
                          "TYPECOM_AV": "COM", "COM_AV": p["ancien_code"], "TNCC_AV": av[0], "NCC_AV": av[1],
                          "NCCENR_AV": av[2], "LIBELLE_AV": p["nom_ancien"] or parent["nom_commune"],
                          "TYPECOM_AP": "COM", "COM_AP": parent["code_commune"], "TNCC_AP": ap[0], "NCC_AP": ap[1],
                          "NCCENR_AP": ap[2], "LIBELLE_AP": parent["nom_commune"]})
    order = {"COM": 0, "COMA": 1, "COMD": 2, "ARM": 3}
    v_commune.sort(key=lambda r: (r["COM"], order[r["TYPECOM"]]))
    written = [
        _write_csv(out / f"v_commune_{annee}.csv", V_COMMUNE_COLUMNS, v_commune, ","),
        _write_csv(out / f"v_mvt_commune_{annee}.csv", V_MVT_COLUMNS, v_mvt, ","),
    ]

    populations = []
    for c in sorted(by_code.values(), key=lambda c: c["code_commune"]):
        dep = c["code_departement"]
        populations.append({"REG": c["code_region"], "Région": regions.get(c["code_region"], ""), "DEP": dep,
                            "CODARR": c["code_arrondissement"][len(dep):], "CODCAN": "",
                            "CODCOM": c["code_commune"][2:], "COM": c["nom_commune"], "PMUN": c["population"],
                            "PCAP": "", "PTOT": ""})
    written.append(_write_csv(out / "donnees_communes.csv", POPULATION_COLUMNS, populations, ";"))
    written.append(_write_epcicom(out / f"epcicom{annee}.xlsx", annee, sirens, epcis, by_code))
    return written


def _write_csv(path: Path, columns: list[str], rows: list[dict], delimiter: str) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, delimiter=delimiter, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _write_epcicom(path: Path, annee: int, sirens: set[str], epcis: dict, by_code: dict) -> Path:
    """DGCL layout: one line per member commune, the EPCI's columns repeated."""
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    wb.properties.created = wb.properties.modified = dt.datetime(annee, 1, 1)
    ws = wb.create_sheet(f"epcicom{annee}")
    ws.append(["dept", "siren", "raison_sociale", "nature_juridique", "mode_financ", "nb_membres", "total_pop_tot",
               "total_pop_mun", "dep_com", "insee", "siren_membre", "nom_membre", f"ptot_{annee}", f"pmun_{annee}"])
    for siren in sorted(sirens):
        e = epcis[siren]
        members = sorted((c for c in by_code.values() if c["siren_epci"] == siren), key=lambda c: c["code_commune"])
        seat = Counter(c["code_departement"] for c in members).most_common(1)[0][0]
        for c in members:
            ws.append([seat, siren, e["nom_epci"], e["nature_epci"], e["mode_financement"], len(members),
                       "", e["population"], c["code_departement"], c["code_commune"], c["siren_commune"],
                       c["nom_commune"], "", c["population"]])
    wb.save(path)
    _fix_zip_timestamps(path)
    return path


def _fix_zip_timestamps(path: Path) -> None:
    """An .xlsx is a zip whose entries (and docProps/core.xml, which openpyxl stamps on save) carry the time of
    writing: pin them so the same inputs give the same bytes."""
    import zipfile

    tmp = path.with_name(f".{path.name}.tmp")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>1980-01-01T00:00:00Z", data)
            dst.writestr(fixed, data)
    tmp.replace(path)


# --- the source's registry surface (sources/registry.py) ---------------------------------------------------------


def find_snapshot(root: Path, settings) -> tuple[Path | None, dict]:
    """The COG snapshot of the input when there is one; else the committed reference (no snapshot), of the year
    asked for or the latest. A COG year asked for with --input must be in the input."""
    from ess.settings import latest_reference_cog

    try:
        snapshot = SOURCE.snapshot(root, settings.annee_cog and str(settings.annee_cog))
    except UserError:
        if settings.annee_cog is not None and settings.input_dir is not None:
            raise
        return None, {"annee_cog": settings.annee_cog or latest_reference_cog(settings.reference_dir)}
    return snapshot, {"annee_cog": int(snapshot.name)}


def stage(con, snapshot: Path | None, params: dict, work_dir: Path) -> list[FileStats]:
    return load(con, snapshot, departement=params["departement"], annee_cog=params["annee_cog"])


def fetch(root: Path, request) -> list[Path]:
    """Nothing to download: the COG files move to a new address every year. The pipeline uses the committed
    reference, or the official files laid out by hand (sources/fetch.py downloads them when given addresses)."""
    from sources.download import notice

    have = sorted(p.stem.split("_")[1] for p in REFERENCE_DIR.glob("communes_[0-9][0-9][0-9][0-9].csv"))
    names = ", ".join(f.filename.replace("{YYYY}", "<année>") for f in SOURCE.files)
    notice(f"territoires : rien à télécharger — le pipeline lit le référentiel livré avec le projet "
           f"(data/reference/, COG {', '.join(have) or 'aucun'}), ou les fichiers officiels d'une autre année "
           f"déposés à la main dans {Path(root) / SOURCE.name}/<année>/ ({names}) et lus avec --input {root}")
    return []
