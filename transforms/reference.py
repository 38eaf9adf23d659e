"""Load the reference CSVs of data/reference/ into DuckDB as typed, checked tables named `ref_<name>`.

The ESS perimeter, the NAF exclusions, the size-band intervals, the sector grouping and the URSSAF field are data a
researcher edits; this module is the one place that reads them. Every file is checked before use (columns, types,
allowed values, unique keys) and a bad row stops the run with a message naming the file, the row and the column.
A run may point at another folder (`reference_dir`): files found there replace the committed ones, the others are
taken from data/reference/.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import pyarrow as pa

from ess import db, paths
from ess.errors import UserError

FAMILLES_CJ = ("associations", "cooperatives", "mutuelles", "fondations", "autres_organismes")
# Codes a URSSAF label may map to (urssaf_familles.csv): URSSAF's four ESS families, the ESS total, the private
# sector outside the ESS, and a total ('ensemble'; as famille_ess it means "total of the row's champ").
FAMILLES_URSSAF = ("associations", "cooperatives", "mutuelles", "fondations", "ess", "hors_ess", "ensemble")
_ID = r"^[a-z][a-z0-9_]*$"
_NAF_CODE = {
    "division": r"^[0-9]{2}$",
    "groupe": r"^[0-9]{2}\.[0-9]$",
    "classe": r"^[0-9]{2}\.[0-9]{2}$",
    "sous_classe": r"^[0-9]{2}\.[0-9]{2}[A-Z]$",
}


@dataclass(frozen=True)
class Col:
    name: str
    type: str = "VARCHAR"  # VARCHAR | BOOLEAN | DOUBLE | INTEGER
    pattern: str | None = None
    values: tuple[str, ...] | None = None
    required: bool = True  # empty cell is an error
    minimum: float | None = None


@dataclass(frozen=True)
class Known:
    """A code of this file must be listed in another reference file (the legal forms of INSEE, the NAF)."""
    column: str  # the column of this file holding the code
    file: str  # the reference file that lists the known codes
    among: Callable[[dict], str | None]  # the column of `file` to look the row's code up in; None: not checked


@dataclass(frozen=True)
class RefSpec:
    file: str
    columns: tuple[Col, ...]
    key: tuple[str, ...]
    row_check: Callable[[dict], str | None] | None = None  # returns an error message or None
    table_check: Callable[[list[dict]], str | None] | None = None
    known: tuple[Known, ...] = ()


def _check_band(row: dict) -> str | None:
    lo, hi, mid = row["effectif_bas"], row["effectif_haut"], row["effectif_central"]
    if hi is None or mid is None:
        # an open band (10 000 and more): no upper bound, no reference value — both empty
        if hi is not None or mid is not None:
            return "an open band leaves both effectif_haut and effectif_central empty"
        return None
    if not lo <= mid <= hi:
        return f"effectif_central {mid} must lie within [effectif_bas {lo}, effectif_haut {hi}]"
    return None


def _check_bands(rows: list[dict]) -> str | None:
    missing = {"NN", "00", "VIDE"} - {r["tranche"] for r in rows}
    if missing:
        return f"bands {sorted(missing)} are missing (NN, 00 and VIDE — the empty band — are required)"
    return None


# The size classes the cube makes itself, whatever tranches_effectifs.csv says: the total of all sizes and the class
# of an empty or unknown band (sql/core/core_etablissements_prep.sql, sql/out/out_indicateurs.sql).
CLASSES_TAILLE_CUBE = ("ensemble", "non_renseigne")


def _check_size_classes(rows: list[dict]) -> str | None:
    missing = [c for c in CLASSES_TAILLE_CUBE if c not in {r["classe_taille"] for r in rows}]
    if missing:
        return f"size classes {missing} are missing (the cube always has {list(CLASSES_TAILLE_CUBE)})"
    orders = [r["ordre"] for r in rows]
    twice = sorted({o for o in orders if orders.count(o) > 1})
    if twice:
        return f"ordre {twice} given to more than one size class; give each class its own rank"
    return None


def _check_exclusion(row: dict) -> str | None:
    if not re.match(_NAF_CODE[row["niveau"]], row["code"]):
        return f"code {row['code']!r} is not a NAF {row['niveau']} code (expected like {_example(row['niveau'])})"
    return None


def _example(niveau: str) -> str:
    return {"division": "84", "groupe": "94.9", "classe": "94.91", "sous_classe": "94.91Z"}[niveau]


EMPLOI_PARAMETRES = ("niveau_intervalle", "distance_proche_max", "distance_moyenne_max", "classe_min_etablissements",
                     "conversion_incertitude_relative", "tranche_ouverte_borne_haute", "variance_minimale_cellule",
                     "sans_calage_derive_annuelle", "vide_effectif_sur_min", "vide_cellules_min",
                     "fermeture_tranche_max", "conversion_ajustement_max")


def _check_emploi_modele(rows: list[dict]) -> str | None:
    names = {r["parametre"] for r in rows}
    missing = [p for p in EMPLOI_PARAMETRES if p not in names]
    if missing:
        return f"parameters {missing} are missing (the employment model needs {list(EMPLOI_PARAMETRES)})"
    level = next(r["valeur"] for r in rows if r["parametre"] == "niveau_intervalle")
    if not 0.5 <= level < 1:
        return f"niveau_intervalle = {level} must be in [0.5, 1) (e.g. 0.9 for 90 % intervals)"
    return None


def _check_perimetres(rows: list[dict]) -> str | None:
    for column, why in (("par_defaut", "the run's perimeter when none is asked for"),
                        ("calage_urssaf", "the definition of URSSAF's ESS families, on which employment is "
                                          "calibrated")):
        chosen = [r["perimetre"] for r in rows if r[column]]
        if len(chosen) != 1:
            return f"exactly one perimeter must have {column} = true ({why}); found {chosen or 'none'}"
    return None


# Rules of emploi_hors_urssaf.csv: prefixes of the 4-digit legal-form code and of the NAF rév. 2 activity ("85",
# "94.12", "64.19Z"), space-separated; the share of the employment URSSAF does not see is a range [part_min, part_max].
_CJ_PREFIXES = r"^[0-9]{1,4}( [0-9]{1,4})*$"
_NAF_PREFIX = r"[0-9]{2}(\.[0-9]{1,2}[A-Z]?)?"
_NAF_PREFIXES = rf"^{_NAF_PREFIX}( {_NAF_PREFIX})*$"


def _check_hors_urssaf(row: dict) -> str | None:
    lo, hi = row["part_min"], row["part_max"]
    if not lo <= hi < 1:
        return (f"part_min {lo:g} and part_max {hi:g} must satisfy 0 <= part_min <= part_max < 1 (shares of the "
                "employment URSSAF does not see, e.g. 0.01 and 0.10)")
    return None


def _prefixes_meet(a: str, b: str) -> bool:
    """Some prefix of list a and some prefix of list b can match the same code (one starts the other)."""
    return any(x.startswith(y) or y.startswith(x) for x in a.split() for y in b.split())


def _check_hors_urssaf_rules(rows: list[dict]) -> str | None:
    # an establishment takes one rule's share: two rules must not both match one legal form and activity
    for i, r in enumerate(rows):
        for s in rows[:i]:
            if (_prefixes_meet(r["categories_juridiques"], s["categories_juridiques"])
                    and _prefixes_meet(r["activites"], s["activites"])):
                return (f"rules {s['regle']!r} and {r['regle']!r} can both match one establishment (legal forms "
                        f"{s['categories_juridiques']!r} / {r['categories_juridiques']!r}, activities "
                        f"{s['activites']!r} / {r['activites']!r}); narrow one of them so that each establishment "
                        "has one rule")
    return None


# The millésime from which SIRENE's reference APE is NAF 2025 (NAF rév. 2 before): the core step prefers that
# nomenclature's code (sql/core/core_situations.sql, parameter $naf2025_depuis), and URSSAF's APE codes are read in it
# for the secrecy (transforms/outputs.py), so that both place a code in the same sector.
NAF2025_REFERENCE_FROM = "2027-01"


def reference_nomenclature(millesime: str | None) -> str:
    """The nomenclature of the reference APE for a millésime ('YYYY-MM')."""
    return "NAF2025" if millesime and str(millesime) >= NAF2025_REFERENCE_FROM else "NAFRev2"


# The NAF rév. 2 column of naf_rev2.csv that lists the codes of each level; NAF 2025 has no offline list yet (the
# shape of its codes is checked only, as for SIRENE's activity codes: formats_activite.csv).
_NAF_LEVEL_COLUMN = {"division": "code_division", "groupe": "code_groupe", "classe": "code_classe",
                     "sous_classe": "code"}


SPECS: dict[str, RefSpec] = {
    "perimetre_familles": RefSpec(
        "perimetre_familles.csv",
        (Col("categorie_juridique", pattern=r"^[0-9]{4}$"), Col("libelle", required=False),
         Col("famille", values=FAMILLES_CJ), Col("confiance", values=("haute", "moyenne", "faible")),
         Col("inclus_par_defaut", "BOOLEAN"), Col("commentaire", required=False)),
        key=("categorie_juridique",),
        known=(Known("categorie_juridique", "categories_juridiques.csv", lambda row: "code"),),
    ),
    "perimetre_exclusions_naf": RefSpec(
        "perimetre_exclusions_naf.csv",
        (Col("regle", pattern=_ID), Col("nomenclature", values=("NAFRev2", "NAF2025")),
         Col("niveau", values=tuple(_NAF_CODE)), Col("code"), Col("libelle", required=False),
         Col("actif", "BOOLEAN"), Col("commentaire", required=False)),
        key=("regle", "nomenclature", "code"),
        row_check=_check_exclusion,
        known=(Known("code", "naf_rev2.csv",
                     lambda row: _NAF_LEVEL_COLUMN[row["niveau"]] if row["nomenclature"] == "NAFRev2" else None),),
    ),
    "perimetres": RefSpec(
        "perimetres.csv",
        (Col("perimetre", pattern=_ID), Col("libelle", required=False), Col("par_defaut", "BOOLEAN"),
         Col("familles_cj", values=("defaut", "toutes", "aucune")), Col("unites_flag_o", "BOOLEAN"),
         Col("exclusions_naf", "BOOLEAN"), Col("calage_urssaf", "BOOLEAN"), Col("description", required=False)),
        key=("perimetre",),
        table_check=_check_perimetres,
    ),
    "tranches_effectifs": RefSpec(
        "tranches_effectifs.csv",
        (Col("tranche", pattern=r"^(NN|[0-9]{2}|VIDE)$"), Col("libelle", required=False),
         Col("effectif_bas", "DOUBLE", minimum=0), Col("effectif_haut", "DOUBLE", required=False, minimum=0),
         Col("effectif_central", "DOUBLE", required=False, minimum=0), Col("employeur", "BOOLEAN"),
         Col("classe_taille", pattern=r"^[a-z0-9_]+$"), Col("commentaire", required=False)),
        key=("tranche",),
        row_check=_check_band,
        table_check=_check_bands,
    ),
    "classes_taille": RefSpec(
        "classes_taille.csv",
        (Col("classe_taille", pattern=r"^[a-z0-9_]+$"), Col("libelle"), Col("ordre", "INTEGER", minimum=1),
         Col("commentaire", required=False)),
        key=("classe_taille",),
        table_check=_check_size_classes,
    ),
    "secteurs_ess": RefSpec(
        "secteurs_ess.csv",
        (Col("nomenclature", values=("NAFRev2", "NAF2025")), Col("division", pattern=r"^[0-9]{2}$"),
         Col("section_a21", pattern=r"^[A-U]$"), Col("secteur_ess", pattern=_ID),
         Col("libelle_secteur_ess", required=False)),
        key=("nomenclature", "division"),
    ),
    "champ_urssaf": RefSpec(
        "champ_urssaf.csv",
        (Col("critere", values=("categorie_juridique_niveau1", "categorie_juridique", "naf_division")),
         Col("code", pattern=r"^[0-9]{1,4}$"), Col("commentaire", required=False)),
        key=("critere", "code"),
    ),
    "emploi_modele": RefSpec(
        "emploi_modele.csv",
        (Col("parametre", pattern=_ID), Col("valeur", "DOUBLE"), Col("commentaire", required=False)),
        key=("parametre",),
        table_check=_check_emploi_modele,
    ),
    "emploi_hors_urssaf": RefSpec(
        "emploi_hors_urssaf.csv",
        (Col("regle", pattern=_ID), Col("categories_juridiques", pattern=_CJ_PREFIXES),
         Col("activites", pattern=_NAF_PREFIXES), Col("part_min", "DOUBLE", minimum=0),
         Col("part_max", "DOUBLE", minimum=0), Col("source"), Col("commentaire", required=False)),
        key=("regle",),
        row_check=_check_hors_urssaf,
        table_check=_check_hors_urssaf_rules,
    ),
    # Files owned by other parts of the project, read here with the same checks.
    "categories_juridiques": RefSpec(
        "categories_juridiques.csv",
        (Col("code", pattern=r"^[0-9]{4}$"), Col("libelle", required=False), Col("code_niveau2", required=False),
         Col("libelle_niveau2", required=False), Col("code_niveau1", required=False),
         Col("libelle_niveau1", required=False)),
        key=("code",),
    ),
    "urssaf_familles": RefSpec(
        "urssaf_familles.csv",
        (Col("libelle_urssaf"), Col("famille", values=FAMILLES_URSSAF), Col("comment", required=False)),
        key=("libelle_urssaf",),
    ),
    "formats_activite": RefSpec(
        "formats_activite.csv",
        (Col("nomenclature", pattern=r"^[A-Za-z][A-Za-z0-9]*$"), Col("forme", pattern=r"^[9A.]+$"),
         Col("liste", required=False, pattern=r"^[a-z0-9_]+\.csv$"), Col("commentaire", required=False)),
        key=("nomenclature", "forme"),
    ),
}

_ARROW = {"VARCHAR": pa.string(), "BOOLEAN": pa.bool_(), "DOUBLE": pa.float64(), "INTEGER": pa.int32()}
_TRUE = {"true", "1", "oui", "vrai", "yes"}
_FALSE = {"false", "0", "non", "faux", "no"}


def reference_path(name: str | RefSpec, directory: str | Path | None = None) -> Path:
    """The file of a reference table: the run's folder when it holds one, else data/reference/."""
    spec = name if isinstance(name, RefSpec) else SPECS[name]
    return paths.reference_file(spec.file, directory)


def _convert(value: str, col: Col, where: str):
    value = value.strip()
    if value == "":
        if col.required:
            raise UserError(f"{where}: column {col.name!r} is empty; fill it in")
        return None
    if col.type == "BOOLEAN":
        low = value.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise UserError(f"{where}: column {col.name!r} = {value!r} is not a boolean; write true or false")
    if col.type in ("DOUBLE", "INTEGER"):
        try:
            number = float(value) if col.type == "DOUBLE" else int(value)
        except ValueError:
            raise UserError(f"{where}: column {col.name!r} = {value!r} is not a number") from None
        if col.minimum is not None and number < col.minimum:
            raise UserError(f"{where}: column {col.name!r} = {value!r} must be >= {col.minimum:g}")
        return number
    if col.values is not None and value not in col.values:
        raise UserError(f"{where}: column {col.name!r} = {value!r} is not allowed; use one of {list(col.values)}")
    if col.pattern is not None and not re.match(col.pattern, value):
        raise UserError(f"{where}: column {col.name!r} = {value!r} does not match {col.pattern}")
    return value


def read_reference(name: str | RefSpec, directory: str | Path | None = None) -> list[dict]:
    """Read and check one reference CSV (by its name in SPECS, or a RefSpec of a file read elsewhere, such as the
    publication thresholds of transforms/guards.py); returns typed rows (dicts)."""
    spec = name if isinstance(name, RefSpec) else SPECS[name]
    path = reference_path(spec, directory)
    if not path.exists():
        raise UserError(f"reference file {path} is missing: restore it from the repository (git checkout -- {path})")
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in reader.fieldnames or []]
        reader.fieldnames = header
        twice = sorted({h for h in header if header.count(h) > 1})
        if twice:
            raise UserError(f"{path}, line 1: columns {twice} appear more than once in the header; keep one of each")
        missing = [c.name for c in spec.columns if c.name not in header]
        if missing:
            raise UserError(f"{path}, line 1: columns {missing} are missing from the header {header} (expected "
                            f"{[c.name for c in spec.columns]})")
        known = _KnownCodes(directory)
        rows, seen = [], {}
        for lineno, raw in enumerate(reader, start=2):
            where = f"{path}, line {lineno}"
            if None in raw:  # csv puts the values beyond the header under the key None
                raise UserError(f"{where}: {len(header) + len(raw[None])} values for {len(header)} columns "
                                f"(extra {raw[None]}); quote a value that holds a comma")
            if not any((v or "").strip() for v in raw.values()):
                continue  # blank line
            row = {c.name: _convert(raw.get(c.name) or "", c, where) for c in spec.columns}
            if spec.row_check and (message := spec.row_check(row)):
                raise UserError(f"{where}: {message}")
            for rule in spec.known:
                known.check(rule, row, where)
            key = tuple(row[k] for k in spec.key)
            if key in seen:
                raise UserError(f"{where}: duplicate {dict(zip(spec.key, key))} (first seen line {seen[key]}); "
                                "keep one row per key")
            seen[key] = lineno
            rows.append(row)
    if spec.table_check and (message := spec.table_check(rows)):
        raise UserError(f"{path}: {message}")
    return rows


class _KnownCodes:
    """The codes listed by other reference files (read once per file and column, from the run's folder)."""

    def __init__(self, directory: str | Path | None):
        self.directory = directory
        self.codes: dict[tuple[str, str], set[str]] = {}

    def check(self, rule: Known, row: dict, where: str) -> None:
        column = rule.among(row)
        value = row[rule.column]
        if column is None or value is None:
            return
        path = paths.reference_file(rule.file, self.directory)
        if (rule.file, column) not in self.codes:
            if not path.exists():
                raise UserError(f"{where}: cannot check {rule.column!r} = {value!r}: reference file {path} is "
                                f"missing; restore it from the repository (git checkout -- {path})")
            with path.open(encoding="utf-8-sig", newline="") as fh:
                reader = csv.DictReader(fh)
                if column not in (reader.fieldnames or []):
                    raise UserError(f"{path}, line 1: column {column!r} is missing (needed to check {where})")
                self.codes[(rule.file, column)] = {(r[column] or "").strip() for r in reader}
        if value not in self.codes[(rule.file, column)]:
            raise UserError(f"{where}: column {rule.column!r} = {value!r} is not a code of {path} (column "
                            f"{column!r}); use a code listed there, or add it to that file first")


def load_reference(con, names: Iterable[str] | None = None, directory: str | Path | None = None) -> dict[str, int]:
    """Create `ref_<name>` tables in `con` for the given reference files (all by default); returns row counts."""
    counts = {}
    for name in names or SPECS:
        spec = SPECS[name]
        rows = read_reference(name, directory)
        arrow = pa.table({c.name: pa.array([r[c.name] for r in rows], type=_ARROW[c.type]) for c in spec.columns})
        table = db.identifier(f"ref_{name}")
        con.register("_ref_upload", arrow)
        try:
            con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _ref_upload")
        finally:
            con.unregister("_ref_upload")
        counts[table] = len(rows)
    return counts


def perimetres(directory: str | Path | None = None) -> list[str]:
    """Names of the defined perimeters of the run's reference folder, in file order (the CLI offers them)."""
    return [r["perimetre"] for r in read_reference("perimetres", directory)]


def perimetre_labels(perimetre: str, directory: str | Path | None = None) -> tuple[str, str]:
    """(libelle, description) of a perimeter, for the report; the name itself when it is not defined."""
    row = next((r for r in read_reference("perimetres", directory) if r["perimetre"] == perimetre), None)
    return (row["libelle"] or perimetre, row["description"] or "") if row else (perimetre, "")


def default_perimetre(directory: str | Path | None = None) -> str:
    return next(r["perimetre"] for r in read_reference("perimetres", directory) if r["par_defaut"])


def calage_perimetre(directory: str | Path | None = None) -> str:
    """The perimeter whose families are URSSAF's (calage_urssaf: exactly one, checked when the file is read)."""
    return next(r["perimetre"] for r in read_reference("perimetres", directory) if r["calage_urssaf"])


def size_classes(directory: str | Path | None = None) -> dict[str, str]:
    """classe_taille -> French label of classes_taille.csv, in the file's `ordre` (the report's order of sizes)."""
    rows = sorted(read_reference("classes_taille", directory), key=lambda r: r["ordre"])
    return {r["classe_taille"]: r["libelle"] for r in rows}


# INSEE's populations légales of census year N come into force on 1 January N + 3: the COG's year gives them.
POPULATION_IN_FORCE_AFTER_YEARS = 3


def population_year(annee_cog) -> int | None:
    """The census year of the populations in force on 1 January of the COG's year (None when it is not known)."""
    return int(annee_cog) - POPULATION_IN_FORCE_AFTER_YEARS if annee_cog else None
