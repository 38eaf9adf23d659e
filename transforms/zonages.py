"""Zonings as data: one CSV file per zoning, mapping communes to zones (bassins de vie, quartiers, the Département's
territoires…), read from the reference folder (`zonages/<niveau>.csv`, a user's `reference_dir` layered over
data/reference/ by ess.paths.reference_files).

A zoning's level name (`niveau` of the cube) is its file's stem. Its format (data/reference/README.md):

    code_commune,code_zone,libelle_zone[,libelle_niveau][,source][,any other column, ignored]

one row per commune. `libelle_niveau` (the report's wording after « par », e.g. « bassin de vie »; the same on every
row that gives it) and `source` (its provenance, e.g. `approximation_epci`, shown to users) are optional.

`read_zonings` checks each file on its own (header, level name, commune codes, duplicates, empty zone codes);
`load_zonings` then checks the zonings against the run's communes — a zoning that covers the run's département
must cover every commune of it with known codes; one that covers none of them is absent from the run — and
materialises them as the table `ref_zonages` (niveau, code_commune, code_territoire, libelle_territoire), which
sql/out/out_cube_communes.sql (the levels) and out_cube_territoires.sql (the zones' labels) read. The report reads
the levels' wording and provenance from the files themselves (reports/context.py).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ess import paths
from ess.errors import UserError

PATTERN = "zonages/*.csv"
REQUIRED = ("code_commune", "code_zone", "libelle_zone")
OPTIONAL = ("libelle_niveau", "source")
LEVEL_NAME = re.compile(r"[a-z][a-z0-9_]*")
COMMUNE_CODE = re.compile(r"\d{5}|2[AB]\d{3}")
# The levels sql/out/out_cube_communes.sql derives from the COG (tests/test_zonages.py checks that they agree): a
# zoning may not take their names.
NIVEAUX_COG = ("commune", "epci", "arrondissement", "zone_emploi", "departement")
EXAMPLES = 5  # missing communes named in a message
# The zone of establishments without a commune at every level (sql/out/out_cube_communes.sql): not a zone's code.
NON_RENSEIGNE = "non_renseigne"


@dataclass
class Zoning:
    niveau: str
    path: Path
    libelle_niveau: str
    source: str | None
    # (line number in the file, commune code, zone code, zone label or None)
    rows: list[tuple[int, str, str, str | None]] = field(default_factory=list)


def _clean(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def read_zoning(path: Path) -> Zoning:
    """One zoning file, checked on its own; UserError naming the file, the line and the value otherwise."""
    niveau = path.stem
    if not LEVEL_NAME.fullmatch(niveau):
        raise UserError(f"{path}: the zoning's name {niveau!r} (its file name) must be lower-case letters, digits "
                        "and '_', starting with a letter (e.g. bassins_vie.csv): rename the file")
    if niveau in NIVEAUX_COG:
        raise UserError(f"{path}: the zoning's name {niveau!r} (its file name) is a level the pipeline builds from "
                        f"the COG ({', '.join(NIVEAUX_COG)}): rename the file")
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader, [])]
        missing = [c for c in REQUIRED if c not in header]
        doubled = sorted({h for h in header if h and header.count(h) > 1})
        if missing or doubled:
            problem = f"lacks the column(s) {missing}" if missing else f"repeats the column(s) {doubled}"
            raise UserError(f"{path}, line 1: the header {header} {problem}; a zoning file's header is "
                            f"{','.join(REQUIRED)} (optional: {', '.join(OPTIONAL)})")
        at = {c: header.index(c) for c in (*REQUIRED, *OPTIONAL) if c in header}
        zoning = Zoning(niveau, path, niveau.replace("_", " "), None)
        seen: dict[str, int] = {}
        labels: dict[str, dict[str, int]] = {"libelle_niveau": {}, "source": {}}
        for line, values in enumerate(reader, start=2):
            if not any(v.strip() for v in values):
                continue  # a blank line
            get = lambda c: _clean(values[at[c]]) if c in at and at[c] < len(values) else None  # noqa: E731
            commune, zone = get("code_commune"), get("code_zone")
            if commune is None or not COMMUNE_CODE.fullmatch(commune):
                raise UserError(f"{path}, line {line}: code_commune {commune or ''!r} is not a commune code (5 "
                                "characters, e.g. 38185 or 2A004): correct it")
            if commune in seen:
                raise UserError(f"{path}, line {line}: commune {commune} is already given a zone line "
                                f"{seen[commune]}: keep one line per commune")
            if zone is None:
                raise UserError(f"{path}, line {line}: commune {commune} has an empty code_zone: give it its "
                                "zone's code")
            if zone == NON_RENSEIGNE:
                raise UserError(f"{path}, line {line}: code_zone {zone!r} is kept for establishments without a "
                                "commune: choose another code")
            seen[commune] = line
            for column, found in labels.items():
                value = get(column)
                if value is not None:
                    found.setdefault(value, line)
            zoning.rows.append((line, commune, zone, get("libelle_zone")))
    for column, found in labels.items():
        if len(found) > 1:
            (first, l1), (second, l2) = list(found.items())[:2]
            raise UserError(f"{path}, line {l2}: {column} {second!r} differs from {first!r} (line {l1}): a zoning "
                            f"has one {column}; give the same value on every line or leave it empty")
    if labels["libelle_niveau"]:
        zoning.libelle_niveau = next(iter(labels["libelle_niveau"]))
    if labels["source"]:
        zoning.source = next(iter(labels["source"]))
    return zoning


def read_zonings(reference_dir: str | Path | None = None) -> list[Zoning]:
    """Every zoning file of the reference folder (the user's layered over data/reference/), each checked."""
    return [read_zoning(p) for p in paths.reference_files(PATTERN, reference_dir)]


def of_departement(commune: str, departement: str) -> bool:
    """A commune code belongs to the département whose code it starts with (38185, 2A004, 97411)."""
    return commune.startswith(departement)


def for_run(zoning: Zoning, communes: set[str], departement: str) -> list[tuple[str, str, str | None]]:
    """The zoning's rows for the run's département: [] when it covers none of its communes; UserError when a code of
    the département is not a commune of the run's COG or when it leaves communes of the département out."""
    rows = [r for r in zoning.rows if of_departement(r[1], departement)]
    if not rows:
        return []
    for line, commune, _, _ in rows:
        if commune not in communes:
            raise UserError(f"{zoning.path}, line {line}: commune {commune} is not a commune of département "
                            f"{departement} in the run's COG: correct the code (an old code must be replaced by the "
                            "current commune's) or remove the line")
    missing = sorted(communes - {r[1] for r in rows})
    if missing:
        raise UserError(f"{zoning.path}: the zoning covers département {departement} but leaves out {len(missing)} "
                        f"of its {len(communes)} communes (e.g. {', '.join(missing[:EXAMPLES])}): give every commune "
                        "of the département a zone")
    return [(commune, zone, label) for _, commune, zone, label in rows]


def load_zonings(con, params: dict, communes_table: str = "core_communes") -> list[str]:
    """Create ref_zonages in `con` for the run's département (communes of `communes_table`); returns the levels
    present in the run."""
    departement = str(params["departement"])
    communes = {r[0] for r in con.execute(
        f"SELECT code_commune FROM {communes_table} WHERE code_departement = ?", [departement]).fetchall()}
    long, levels = [], []
    for zoning in read_zonings(params.get("reference_dir")):
        rows = for_run(zoning, communes, departement)
        if rows:
            long += [(zoning.niveau, c, z, lab) for c, z, lab in rows]
            levels.append(zoning.niveau)
    frame = pd.DataFrame(long, columns=["niveau", "code_commune", "code_territoire", "libelle_territoire"],
                         dtype=object)
    con.register("_zonage", frame)
    try:
        casts = ", ".join(f"{c}::VARCHAR AS {c}" for c in frame.columns)
        con.execute(f"CREATE OR REPLACE TABLE ref_zonages AS SELECT {casts} FROM _zonage")
    finally:
        con.unregister("_zonage")
    return levels
