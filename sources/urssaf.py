"""URSSAF open data (open.urssaf.fr): private-sector employers of the régime général, outside agriculture.

Two deliverables, both the portal's CSV export (`;`-separated, UTF-8, sometimes with a BOM, field names as headers):
- `ess_departement`: official ESS employment by département × champ ESS × famille ESS × year (long, since 1998): the
  calibration target of the SIRENE estimate and the long time series.
- `commune_ape`: every employer by commune × APE, wide by year (`nombre_d_etablissements_YYYY`,
  `effectifs_salaries_YYYY` for 2006…latest; the latest year moves with each release): the denominator.

`load_national()` reads each file ONCE for any set of départements (the files are national): the rows of the
requested départements are kept (the others counted as out of scope), and rows whose département cannot be told
(code missing or malformed) are kept too and rejected once, nationally. The SQL files in sql/staging/ then type the
text and give each unusable row its reason, for all the départements at once; every staged row and every reject
carries its département. `load()` does the same for one département. Empty values stay NULL (secret or no data),
never 0. Numbers are read with the file's decimal separator (`,` in French exports, `.` otherwise); a file mixing
both is refused.

Accounting of the wide file is per FILE row, before unpivoting: a file row is staged (it becomes one long row per
year, values NULL where empty) or rejected as a whole (one entry in staging_rejets), and the long table is checked
to hold exactly (staged file rows × years) rows.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import logging
import re
from collections.abc import Iterable
from pathlib import Path

import duckdb

from ess import db
from ess.accounting import FileStats, NationalStaging, ReconciliationError
from ess.errors import InputFileError, UserError, write_failure
from ess.paths import REFERENCE_DIR
from sources.base import DEPARTEMENT, Source, SourceFile, normalise_departement
from transforms.reference import FAMILLES_URSSAF, read_reference, reference_path

log = logging.getLogger(__name__)

PORTAL = "https://open.urssaf.fr"
# Explicit delimiter and field names (not labels) as headers, whatever the portal's defaults become.
EXPORT_URL = PORTAL + "/api/explore/v2.1/catalog/datasets/{dataset}/exports/csv?delimiter=%3B&use_labels=false"
ESS_DEPARTEMENT_DATASET = "nombre-etab-effectifs-salaries-et-masse-salariale-ess-departements"
COMMUNE_APE_DATASET = "etablissements-et-effectifs-salaries-au-niveau-commune-x-ape-last"
COMMUNE_APE_DATA_GOUV_ID = "5efd242c72595ba1a48628f2"

SOURCE = Source(
    name="urssaf",
    title="Open data Urssaf — établissements employeurs et effectifs salariés du secteur privé "
          "(ESS par département ; commune × APE)",
    producer="URSSAF (Urssaf Caisse nationale, ex-Acoss)",
    # What the portal and its data.gouv.fr mirror display for URSSAF datasets; the project notes also mention the
    # Licence Ouverte for some mirrors: check the dataset page before republishing the raw files.
    licence="Open Database License (ODbL) 1.0, as displayed by open.urssaf.fr (to re-check per dataset)",
    homepage=PORTAL,
    cadence="yearly (ESS table: end of year + ~250 days; commune × APE table: one new year column per release)",
    millesime_format="YYYY",
    dataset_id=COMMUNE_APE_DATA_GOUV_ID,
    national=True,
    stage_params=("departements", "annee_urssaf", "synthetic", "reference_dir"),
    fetched_by_departement=True,  # data.gouv.fr mirror of the commune × APE table
    fetch_serves="latest_with_earlier",
    files=(
        SourceFile(
            key="ess_departement",
            filename=f"{ESS_DEPARTEMENT_DATASET}.csv",
            url=EXPORT_URL.format(dataset=ESS_DEPARTEMENT_DATASET),
            description="Nombre d'établissements, effectifs salariés moyens et masse salariale de l'ESS par "
                        "département × famille ESS × année, depuis 1998 (long)",
        ),
        SourceFile(
            key="commune_ape",
            filename=f"{COMMUNE_APE_DATASET}.csv",
            url=EXPORT_URL.format(dataset=COMMUNE_APE_DATASET),
            description="Établissements et effectifs salariés (fin d'année) par commune × APE, large par année "
                        f"depuis 2006 (data.gouv.fr dataset {COMMUNE_APE_DATA_GOUV_ID})",
        ),
    ),
)

# Headers of the portal export (field names). The sample generator writes exactly these.
ESS_DEPARTEMENT_COLUMNS = (
    "region", "ancienne_region", "departement", "champ_ess", "famille_ess", "annee", "code_region",
    "code_ancienne_region", "code_departement", "nombre_d_etablissements", "effectifs_salaries_moyens",
    "masse_salariale",
)
COMMUNE_APE_ID_COLUMNS = (
    "region", "ancienne_region", "departement", "zone_d_emploi", "epci", "commune", "intitule_commune",
    "grand_secteur_d_activite", "secteur_na17", "secteur_na38", "secteur_na88", "ape", "code_region",
    "code_ancienne_region", "code_departement", "code_zone_d_emploi", "code_epci", "code_commune", "code_ape",
)
COMMUNE_APE_MEASURES = ("nombre_d_etablissements", "effectifs_salaries")
COMMUNE_APE_FIRST_YEAR = 2006
CSV_DELIMITER = ";"

# The columns load() actually uses (the others may be missing without harm).
_ESS_REQUIRED = (
    "code_departement", "champ_ess", "famille_ess", "annee", "nombre_d_etablissements", "effectifs_salaries_moyens",
    "masse_salariale",
)
_COMMUNE_APE_REQUIRED = ("code_departement", "code_zone_d_emploi", "code_epci", "code_commune", "code_ape")
# Read when the file has them, NULL otherwise: the zone d'emploi's name labels the cube's zones (nothing else names
# them offline).
_COMMUNE_APE_OPTIONAL = ("zone_d_emploi",)
_YEAR_COLUMN = re.compile(r"^(nombre_d_etablissements|effectifs_salaries)_(\d{4})$")

FAMILLES_FILE = "urssaf_familles.csv"  # read through transforms/reference.py, from the run's reference folder
FAMILLE_CODES = FAMILLES_URSSAF

# Labels are matched ignoring case, accents and repeated spaces ('COOPERATIVES' = 'Coopératives').
_LABEL_KEY_MACRO = (
    "CREATE OR REPLACE TEMP MACRO urssaf_cle_libelle(x) AS "
    r"lower(strip_accents(trim(regexp_replace(x, '\s+', ' ', 'g'))))"
)
# The file's département code, as we compare it: '1' (leading zero lost by a spreadsheet) -> '01', '2a' -> '2A'.
# NULL when it is not a département code: such a row cannot be placed and is rejected once, nationally.
_DEPARTEMENT_CODE = DEPARTEMENT.pattern.strip("^$")
_DEPARTEMENT_OF_ROW = (
    "CASE WHEN regexp_full_match(trim(code_departement), '[0-9]') THEN '0' || trim(code_departement) "
    f"WHEN regexp_full_match(upper(trim(code_departement)), '{_DEPARTEMENT_CODE}') THEN upper(trim(code_departement)) "
    "END"
)
TABLES = ("staging_urssaf_ess_departement", "staging_urssaf_commune_ape")


def commune_ape_year_columns(years: Iterable[int]) -> tuple[str, ...]:
    """The wide value columns for these years, in the order the sample writes them."""
    return tuple(f"{measure}_{year}" for year in years for measure in COMMUNE_APE_MEASURES)


def commune_ape_columns(last_year: int, first_year: int = COMMUNE_APE_FIRST_YEAR) -> tuple[str, ...]:
    """Full header of the commune × APE export whose year columns run first_year…last_year."""
    return COMMUNE_APE_ID_COLUMNS + commune_ape_year_columns(range(first_year, last_year + 1))




def source_path(snapshot_dir: Path, key: str) -> Path:
    path = Path(snapshot_dir) / SOURCE.file(key).filename
    if not path.is_file():
        raise InputFileError(
            f"URSSAF file missing: {path}. Download it with `ess fetch --source urssaf` "
            f"(or generate the sample with `ess sample`); it is the portal export {SOURCE.file(key).url}"
        )
    return path


def read_header(path: Path) -> list[str]:
    """The header of a portal export: `;`-separated, UTF-8 with or without BOM. The whole file is checked to be
    UTF-8 first: a spreadsheet re-saves it as Windows-1252, whose accents DuckDB would otherwise read as garbage
    names without a word, and the header alone (often plain ASCII) would not show it."""
    bad = _first_non_utf8_byte(Path(path))
    if bad is not None:
        byte, line_number = bad
        raise InputFileError(
            f"{path}: the file is not UTF-8 (byte 0x{byte:02X} on line {line_number}, e.g. an accent saved as "
            "Windows-1252); download the file again from the portal (`ess fetch --source urssaf`), do not re-save "
            "it from a spreadsheet"
        )
    with Path(path).open(encoding="utf-8-sig", newline="") as fh:
        line = fh.readline()
    if not line.strip():
        raise InputFileError(f"{path}: the file is empty (no header line); download it again")
    header = [name.strip() for name in next(csv.reader([line], delimiter=CSV_DELIMITER))]
    if len(header) == 1 and "," in header[0]:
        raise InputFileError(
            f"{path}: the header is ','-separated; the pipeline expects the portal's ';'-separated CSV export "
            f"(`ess fetch --source urssaf`, or {EXPORT_URL.format(dataset='<dataset>')})"
        )
    dupes = sorted({name for name in header if name and header.count(name) > 1})
    if dupes:
        raise InputFileError(f"{path}: column(s) {dupes} appear more than once in the header")
    return header


def _first_non_utf8_byte(path: Path, chunk_size: int = 1 << 20) -> tuple[int, int] | None:
    """(value, line number) of the first byte of `path` that is not UTF-8, or None (≈ 0.1 s per 100 MB)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines_before = 0  # newlines in the bytes already decoded
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(chunk_size)
            pending = decoder.getstate()[0]  # the start of a character cut by the previous chunk
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                data = pending + chunk
                return data[exc.start], lines_before + data.count(b"\n", 0, exc.start) + 1
            if not chunk:
                return None
            lines_before += chunk.count(b"\n")


def _require(path: Path, header: list[str], required: Iterable[str]) -> None:
    missing = [c for c in required if c not in header]
    if missing:
        raise InputFileError(
            f"{path}: missing column(s) {missing} (header starts with {header[:6]}). The pipeline reads the "
            "portal's CSV export with field names as headers (use_labels=false), "
            "e.g. `ess fetch --source urssaf`"
        )


def year_columns(path: Path, header: list[str]) -> list[int]:
    """The years of a commune × APE header; both measures must exist for every year."""
    found: dict[str, set[int]] = {m: set() for m in COMMUNE_APE_MEASURES}
    for name in header:
        match = _YEAR_COLUMN.match(name)
        if match:
            found[match.group(1)].add(int(match.group(2)))
    nb, eff = (found[m] for m in COMMUNE_APE_MEASURES)
    if nb != eff:
        lonely = [f"{m}_{y}" for m in COMMUNE_APE_MEASURES for y in sorted(found[m] - (nb & eff))]
        raise InputFileError(
            f"{path}: year column(s) {lonely} have no counterpart (every year needs both "
            f"{COMMUNE_APE_MEASURES[0]}_YYYY and {COMMUNE_APE_MEASURES[1]}_YYYY)"
        )
    if not nb:
        raise InputFileError(
            f"{path}: no year column (expected {COMMUNE_APE_MEASURES[0]}_YYYY and {COMMUNE_APE_MEASURES[1]}_YYYY)"
        )
    return sorted(nb)


def latest_year(snapshot_dir: Path) -> int:
    """Latest year of the commune × APE table of a snapshot, read from its header."""
    path = source_path(snapshot_dir, "commune_ape")
    return year_columns(path, read_header(path))[-1]


def read_familles(reference_dir: str | Path | None = None) -> dict[str, str]:
    """libelle_urssaf -> famille code, from urssaf_familles.csv of the run's reference folder (checked by
    transforms/reference.py: header, allowed codes, one row per label)."""
    return {r["libelle_urssaf"]: r["famille"] for r in read_reference("urssaf_familles", reference_dir)}


def _load_familles(con, reference_dir: str | Path | None = None) -> None:
    """ref_urssaf_familles(cle, famille): one row per match key; two labels with the same key must agree."""
    path = reference_path("urssaf_familles", reference_dir)
    con.execute(_LABEL_KEY_MACRO)
    con.execute("CREATE OR REPLACE TEMP TABLE _urssaf_familles_csv (libelle_urssaf VARCHAR, famille VARCHAR)")
    con.executemany("INSERT INTO _urssaf_familles_csv VALUES (?, ?)", list(read_familles(reference_dir).items()))
    clash = con.execute(
        """SELECT urssaf_cle_libelle(libelle_urssaf) AS cle, list(DISTINCT famille ORDER BY famille),
                  list(libelle_urssaf ORDER BY libelle_urssaf)
           FROM _urssaf_familles_csv GROUP BY 1 HAVING count(DISTINCT famille) > 1 ORDER BY 1"""
    ).fetchall()
    if clash:
        raise UserError(f"{path}: labels {clash[0][2]} are the same label (case and accents aside) but map to "
                        f"different familles {clash[0][1]}; keep one")
    con.execute(
        """CREATE OR REPLACE TEMP TABLE ref_urssaf_familles AS
           SELECT DISTINCT urssaf_cle_libelle(libelle_urssaf) AS cle, famille FROM _urssaf_familles_csv"""
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _reader(header: list[str]) -> tuple[str, dict]:
    """read_csv(...) of a portal export, every column as VARCHAR, named from its own header (no sniffing)."""
    columns = {(name or f"_colonne_vide_{i}"): "VARCHAR" for i, name in enumerate(header)}
    sql = (
        f"read_csv($path, delim='{CSV_DELIMITER}', quote='\"', escape='\"', header=true, auto_detect=false, "
        "columns=$columns, encoding='utf-8')"
    )
    return sql, columns


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def read_file(con, path: Path, header: list[str], columns: list[str], table: str,
              departements: list[str]) -> tuple[int, int]:
    """The one read of a national file: copy the rows of the requested départements, and those whose département
    cannot be told (to be rejected), into a temp table with their line number (header = line 1) and département.
    A column of `columns` the header lacks is NULL (the caller requires the ones it cannot do without).

    Returns (rows in the file, rows kept). The last row is numbered too, which gives the count in the same pass.
    """
    reader, types = _reader(header)
    params = {"path": str(path), "columns": types, "departements": departements}
    select = ", ".join(_quote(c) if c in header else f"CAST(NULL AS VARCHAR) AS {_quote(c)}" for c in columns)
    try:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {db.identifier(table)} AS
                SELECT * EXCLUDE (_dernier) FROM (
                    SELECT row_number() OVER () + 1 AS _ligne, lead(1) OVER () IS NULL AS _dernier,
                           {_DEPARTEMENT_OF_ROW} AS _departement, {select} FROM {reader})
                WHERE list_contains($departements, _departement) OR _departement IS NULL OR _dernier""",
            params,
        )
    except duckdb.Error as exc:
        if write_failure(exc):  # a full disk, not the file's fault (flows/cli.py says so)
            raise
        detail = str(exc).split("\nPossible fixes")[0].strip()  # DuckDB's fixes are reader options, not user actions
        raise InputFileError(
            f"{path}: cannot be read as the portal's ';'-separated UTF-8 CSV export ({detail}). "
            "Download it again with `ess fetch --source urssaf`."
        ) from None
    total = con.execute(f"SELECT coalesce(max(_ligne) - 1, 0) FROM {table}").fetchone()[0]
    # The last row was kept for its number only when it belongs to no requested département.
    con.execute(f"DELETE FROM {table} WHERE _ligne = ? AND _departement IS NOT NULL "
                "AND NOT list_contains(?, _departement)", [total + 1, departements])
    kept = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return total, kept


def decimal_separator(con, path: Path, table: str, columns: Iterable[str]) -> str:
    """',' when the file writes decimals the French way, '.' otherwise; a file using both is refused (there would
    be no telling what '1,234' means)."""
    cols = list(columns)
    if not cols:
        return "."
    values = " UNION ALL ".join(f"SELECT {db.identifier(c)} AS v FROM {db.identifier(table)}" for c in cols)
    comma, dot, example_comma, example_dot = con.execute(
        f"""SELECT count(*) FILTER (regexp_matches(v, '[0-9],[0-9]')), count(*) FILTER (regexp_matches(v, '[0-9][.][0-9]')),
                   min(v) FILTER (regexp_matches(v, '[0-9],[0-9]')), min(v) FILTER (regexp_matches(v, '[0-9][.][0-9]'))
            FROM ({values})"""
    ).fetchone()
    if comma and dot:
        raise InputFileError(
            f"{path}: numbers are written with both decimal separators ({comma} values with ',' such as "
            f"{example_comma!r}, {dot} with '.' such as {example_dot!r}); there is no telling which is a thousands "
            "separator. Download the file again from the portal (`ess fetch --source urssaf`), do not re-save it "
            "from a spreadsheet."
        )
    return "," if comma else "."


def _check_labels(con, path: Path, reference_dir: str | Path | None = None) -> None:
    unknown = [
        r[0]
        for r in con.execute(
            """SELECT DISTINCT trim(label) FROM (
                   SELECT champ_ess AS label FROM raw_urssaf_ess_departement
                   UNION ALL SELECT famille_ess FROM raw_urssaf_ess_departement)
               WHERE nullif(trim(label), '') IS NOT NULL
                 AND urssaf_cle_libelle(label) NOT IN (SELECT cle FROM ref_urssaf_familles)
               ORDER BY 1"""
        ).fetchall()
    ]
    if unknown:
        raise UserError(
            f"{path.name}: URSSAF label(s) {unknown} (columns champ_ess / famille_ess) are not in "
            f"{reference_path('urssaf_familles', reference_dir)}. "
            f"Add one line per label (libelle_urssaf,famille,comment) with famille among {list(FAMILLE_CODES)}, "
            "then run again."
        )


def null_counts(con, table: str, columns: Iterable[str]) -> dict[str, int]:
    """How many NULLs (empty in the file: secret or no data) each measure column holds."""
    cols = list(columns)
    exprs = ", ".join(f"count(*) - count({db.identifier(c)})" for c in cols)
    values = con.execute(f"SELECT {exprs} FROM {db.identifier(table)}").fetchone()
    return dict(zip(cols, values))


def _national_stats(table: str, path: Path, snapshot_dir: Path, total: int, kept: int, staged: int,
                    rejected: dict[str, int], departement: str | None = None) -> FileStats:
    stats = FileStats(source=SOURCE.name, table=table, file=str(path), millesime=Path(snapshot_dir).name,
                      sha256=_sha256(path), rows_read=total, rows_out_of_scope=total - kept, rows_staged=staged,
                      rows_rejected=rejected, departement=departement)
    stats.check()
    return stats


def _rejected(con, table: str, departement: str | None = None) -> dict[str, int]:
    where = "" if departement is None else " AND list_contains(departements, ?)"
    return dict(con.execute(
        f"SELECT motif_rejet, count(*) FROM {db.REJECTS_TABLE} WHERE table_staging = ?{where} GROUP BY 1 ORDER BY 1",
        [table] + ([departement] if departement else [])).fetchall())


def _rows_of(con, raw: str, departement: str) -> int:
    """Rows of a département as counted by the read (independently of what staging made of them)."""
    return con.execute(f"SELECT count(*) FROM {db.identifier(raw)} WHERE _departement = ?",
                       [departement]).fetchone()[0]


def _numbers(con, path: Path, raw: str, columns: Iterable[str]) -> dict:
    """The parameters the staging SQL reads numbers with."""
    return {"separateur_decimal": decimal_separator(con, path, raw, columns)}


def load_ess_departement(con, snapshot_dir: Path, *, departements: list[str],
                         reference_dir: str | Path | None = None) -> tuple[FileStats, dict]:
    """staging_urssaf_ess_departement: the rows of the départements, every year, families mapped to our codes.
    Returns the national accounting and {département: its accounting}."""
    table, raw = "staging_urssaf_ess_departement", "raw_urssaf_ess_departement"
    path = source_path(snapshot_dir, "ess_departement")
    header = read_header(path)
    _require(path, header, _ESS_REQUIRED)
    _load_familles(con, reference_dir)
    total, kept = read_file(con, path, header, list(_ESS_REQUIRED), raw, departements)
    _check_labels(con, path, reference_dir)
    numbers = _numbers(con, path, raw, ("nombre_d_etablissements", "effectifs_salaries_moyens", "masse_salariale"))
    result = db.build_staging_table(con, table, key="annee", fichier=str(path), **numbers)
    _build_comparison(con, path, header, departements, numbers)
    national = _national_stats(table, path, snapshot_dir, total, kept, result["staged"], result["rejected"])
    per_dep = {}
    for dep in departements:
        staged = con.execute(f"SELECT count(*) FROM {table} WHERE _departement = ?", [dep]).fetchone()[0]
        per_dep[dep] = _national_stats(table, path, snapshot_dir, total, _rows_of(con, raw, dep), staged,
                                       _rejected(con, table, dep), dep)
        if per_dep[dep].rows_out_of_scope == total:
            log.warning("%s: no row for département %s (URSSAF covers neither Mayotte nor the MSA)", path.name, dep)
    log.info("%s: %d rows staged for %s; empty values kept as NULL: %s", path.name, national.rows_staged,
             departements, null_counts(con, table, ("nb_etablissements", "effectifs_salaries", "masse_salariale")))
    return national, per_dep


COMPARISON_TABLE = "staging_urssaf_ess_comparaison"


def _build_comparison(con, path: Path, header: list[str], departements: list[str], numbers: dict) -> None:
    """staging_urssaf_ess_comparaison: each requested département beside its région and France, from every row
    of the ESS file (a second read of a file of a few thousand rows; the report's comparisons). Rows are not
    accounted here: those of the requested départements are staged and rejected by staging_urssaf_ess_departement."""
    reader, types = _reader(header)
    select = ", ".join(_quote(c) for c in ("annee", "champ_ess", "famille_ess", "effectifs_salaries_moyens",
                                           "masse_salariale"))
    con.execute(f"CREATE OR REPLACE TEMP TABLE raw_urssaf_ess_france AS "
                f"SELECT {_DEPARTEMENT_OF_ROW} AS _departement, {select} FROM {reader}",
                {"path": str(path), "columns": types})
    reference = sorted(REFERENCE_DIR.glob("departements_[0-9][0-9][0-9][0-9].csv"))
    if reference:
        con.execute("CREATE OR REPLACE TEMP TABLE ref_departements AS SELECT code_departement, nom_departement, "
                    "code_region, nom_region FROM read_csv($p, header=true, all_varchar=true)",
                    {"p": str(reference[-1])})
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE ref_departements (code_departement VARCHAR, "
                    "nom_departement VARCHAR, code_region VARCHAR, nom_region VARCHAR)")
    db.build_table(con, COMPARISON_TABLE, departements=list(departements), **numbers)


def load_commune_ape(con, snapshot_dir: Path, *, departements: list[str],
                     annee: int | None = None) -> tuple[FileStats, dict]:
    """staging_urssaf_commune_ape: the commune × APE rows of the départements, one long row per year (or only
    `annee`). Returns the national accounting and {département: its accounting}."""
    table, raw = "staging_urssaf_commune_ape", "raw_urssaf_commune_ape"
    path = source_path(snapshot_dir, "commune_ape")
    header = read_header(path)
    _require(path, header, _COMMUNE_APE_REQUIRED)
    years = year_columns(path, header)
    if annee is not None:
        if int(annee) not in years:
            raise UserError(
                f"{path.name} has no column for year {annee}: its years are {years[0]}…{years[-1]}. "
                "Choose one of those or download a newer release (`ess fetch --source urssaf`)."
            )
        years = [int(annee)]
    value_columns = list(commune_ape_year_columns(years))
    total, kept = read_file(con, path, header, [*_COMMUNE_APE_REQUIRED, *_COMMUNE_APE_OPTIONAL, *value_columns], raw,
                            departements)
    result = db.build_staging_table(con, table, key="code_commune", fichier=str(path),
                                    **_numbers(con, path, raw, value_columns))
    # The SQL emits one reject per rejected FILE row, so file rows staged = kept - rejected; each staged file row
    # is one (commune, APE) — duplicates are rejected — which the long table must show, year after year.
    national = _national_stats(table, path, snapshot_dir, total, kept, kept - sum(result["rejected"].values()),
                               result["rejected"])
    _check_long(con, path, table, years, national.rows_staged, result["staged"])
    per_dep = {}
    for dep in departements:
        rejected = _rejected(con, table, dep)
        rows = _rows_of(con, raw, dep)
        staged_pairs, staged_long = con.execute(
            f"SELECT count(DISTINCT (code_commune, code_ape)), count(*) FROM {table} WHERE _departement = ?",
            [dep]).fetchone()
        _check_long(con, path, table, years, staged_pairs, staged_long)
        per_dep[dep] = _national_stats(table, path, snapshot_dir, total, rows, staged_pairs, rejected, dep)
        if rows == 0:
            log.warning("%s: no row for département %s (URSSAF does not cover Mayotte)", path.name, dep)
    log.info("%s: %d file rows -> %d rows (%d years %s…%s) for %s; empty values kept as NULL: %s", path.name,
             national.rows_staged, result["staged"], len(years), years[0], years[-1], departements,
             null_counts(con, table, ("nb_etablissements", "effectifs_salaries")))
    return national, per_dep


def _check_long(con, path: Path, table: str, years: list[int], file_rows: int, long_rows: int) -> None:
    if long_rows != file_rows * len(years):
        raise ReconciliationError(
            f"{path}: {file_rows} file rows staged × {len(years)} years should give {file_rows * len(years)} rows "
            f"in {table}, found {long_rows}; this is a bug, please report it with this file"
        )


def load_national(con, snapshot_dir: Path, *, departements, annee: int | None = None,
                  reference_dir: str | Path | None = None) -> NationalStaging:
    """Stage both URSSAF files of a snapshot for every département of `departements`, reading each file once.

    `annee` keeps only that year of the commune × APE table (None: every year of the file); the ESS département
    series is small and always staged whole, being the long time series and the calibration target.
    Leaves staging_urssaf_ess_departement and staging_urssaf_commune_ape with a `_departement` column.
    `reference_dir`: the run's reference folder (its urssaf_familles.csv maps the labels), over data/reference/.
    """
    deps = sorted({normalise_departement(d) for d in departements})
    result = NationalStaging(deps, par_departement={d: [] for d in deps})
    for national, per_dep in (load_ess_departement(con, snapshot_dir, departements=deps, reference_dir=reference_dir),
                              load_commune_ape(con, snapshot_dir, departements=deps, annee=annee)):
        result.national.append(national)
        for dep in deps:
            result.par_departement[dep].append(per_dep[dep])
    return result


def load(con, snapshot_dir: Path, *, departement: str, annee: int | None = None,
         reference_dir: str | Path | None = None) -> list[FileStats]:
    """Both URSSAF staging tables of ONE département (without `_departement`), and its accounting."""
    dep = normalise_departement(departement)
    result = load_national(con, snapshot_dir, departements=[dep], annee=annee, reference_dir=reference_dir)
    for table in (*TABLES, COMPARISON_TABLE):
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * EXCLUDE (_departement) FROM {table} "
                    "WHERE _departement = ?", [dep])
    return result.par_departement[dep]


# --- the source's registry surface (sources/registry.py) ---------------------------------------------------------


def find_snapshot(root: Path, settings) -> tuple[Path | None, dict]:
    """The URSSAF snapshot of the run. `annee_urssaf` is the employment year: the snapshot of that name when there
    is one, else the oldest later one (its files hold the earlier years too); without calibration the files are
    optional. A snapshot is filed under the latest year both its files cover: that year is the default."""
    found = SOURCE.millesimes(root)
    year = settings.annee_urssaf
    if not settings.calage and not found:
        return None, {}
    if year is None or str(year) in found:
        snapshot = SOURCE.snapshot(root, year and str(year))
    else:
        later = [y for y in found if int(y) > int(year)]
        snapshot = SOURCE.snapshot(root, later[0] if later else str(year))  # else the clear "no snapshot" message
    return snapshot, {"annee_urssaf": int(snapshot.name) if year is None else year}


def stage(con, snapshot: Path, params: dict, work_dir: Path) -> NationalStaging:
    """Both files once for every département of params["departements"]; every year of the commune × APE table
    (calibration picks the year of the size bands)."""
    return load_national(con, snapshot, departements=params["departements"],
                         reference_dir=params.get("reference_dir"))


def fetch(root: Path, request) -> list[Path]:
    """Both exports of open.urssaf.fr, filtered on the département (sources/fetch.py)."""
    from sources import fetch as portals

    return portals.fetch_urssaf(root, departement=request.departement, source=SOURCE)
