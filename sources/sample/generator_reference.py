"""The committed reference tables the generator draws from (data/reference/), read defensively.

The communes table is required; the NAF list and the table of old commune codes are optional (the generator then
falls back to its own short list, or writes no old codes and says so in its summary).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ess.errors import UserError

COMMUNES_FILE = "communes_2026.csv"
CJ_FILE = "categories_juridiques.csv"
NAF_FILE = "naf_rev2.csv"
PASSAGE_FILE = "communes_passage_2026.csv"


@dataclass
class Reference:
    communes: pd.DataFrame  # every commune of the file (all départements it holds)
    departement: pd.DataFrame  # communes of the chosen département, population > 0 guaranteed
    cj_codes: frozenset[str]
    naf: pd.DataFrame | None  # code ('94.99Z'), libelle; None when the table is not there yet
    passage: pd.DataFrame | None  # ancien_code, code_commune
    departement_names: dict[str, str]  # code -> name (empty when the table is absent)
    rules: "Rules"


@dataclass
class Rules:
    """The perimeter and URSSAF-field rules the ground truth is computed with: the generator's own (model.py, from
    the domain notes), never the pipeline's editable tables of data/reference/ — so that a wrong or edited
    reference table shows in the benchmark instead of being reproduced by the truth."""

    famille_of_cj: dict[str, str]
    included_cj: frozenset[str]  # legal forms of the default (INSEE-like) perimeter
    excluded_naf_prefixes: tuple[str, ...]
    urssaf_excluded_cj_prefixes: tuple[str, ...]
    urssaf_excluded_cj: frozenset[str]
    urssaf_excluded_naf_divisions: tuple[str, ...]
    # (legal-form prefixes, activity prefixes, share): units under the MSA although the rule puts them in the field
    urssaf_field_exceptions: tuple = ()


def _first_column(df: pd.DataFrame, candidates: tuple[str, ...]) -> str | None:
    for c in candidates:
        if c in df.columns:
            return c
    return None


def load_reference(reference_dir: Path, departement: str) -> Reference:
    reference_dir = Path(reference_dir)
    path = reference_dir / COMMUNES_FILE
    if not path.is_file():
        raise UserError(
            f"{path} is missing: the sample generator draws its communes from it. Rebuild the reference tables "
            "with `ess build-reference` (or restore the file from git)."
        )
    communes = pd.read_csv(path, dtype=str, keep_default_na=False)
    required = ["code_commune", "nom_commune", "code_departement", "code_region", "population"]
    missing = [c for c in required if c not in communes.columns]
    if missing:
        raise UserError(f"{path}: missing column(s) {missing}; expected at least {required}")
    kind = _first_column(communes, ("type_commune", "type", "typecom"))
    if kind is not None:
        # Only current communes carry establishments (delegated ones and municipal arrondissements are not).
        keep = communes[kind].str.lower().isin(["", "commune-actuelle", "com", "commune"])
        communes = communes[keep]
    epci_path = reference_dir / "epci_2026.csv"
    if epci_path.is_file() and "nom_epci" not in communes.columns:
        epci = pd.read_csv(epci_path, dtype=str, keep_default_na=False)
        cols = [c for c in ("siren_epci", "nom_epci", "nature_epci") if c in epci.columns]
        communes = communes.merge(epci[cols].drop_duplicates("siren_epci"), on="siren_epci", how="left")
        communes[cols[1:]] = communes[cols[1:]].fillna("")
    communes = communes.copy()
    communes["population"] = pd.to_numeric(communes["population"], errors="coerce").fillna(0).astype(np.int64)
    for col in ("siren_epci", "code_arrondissement", "nom_epci", "code_zone_emploi"):
        if col not in communes.columns:
            communes[col] = ""
    dep = communes[communes["code_departement"] == departement].sort_values("code_commune").reset_index(drop=True)
    if dep.empty:
        known = sorted(communes["code_departement"].unique())
        raise UserError(
            f"département {departement!r} has no commune in {path}; départements in the file: "
            f"{', '.join(known[:20])}{'…' if len(known) > 20 else ''}"
        )
    # A commune with no population still exists (e.g. villages of Verdun): give it a token weight.
    dep["population"] = dep["population"].clip(lower=1)

    cj_path = reference_dir / CJ_FILE
    if not cj_path.is_file():
        raise UserError(f"{cj_path} is missing: restore it from git (it is committed reference data)")
    cj = pd.read_csv(cj_path, dtype=str, keep_default_na=False)
    cj_codes = frozenset(cj["code"].str.strip())

    naf = None
    naf_path = reference_dir / NAF_FILE
    if naf_path.is_file():
        raw = pd.read_csv(naf_path, dtype=str, keep_default_na=False)
        code_col = _first_column(raw, ("code", "code_naf", "sous_classe", "code_sous_classe")) or raw.columns[0]
        label_col = _first_column(raw, ("libelle", "libelle_naf", "intitule", "description", "label"))
        naf = pd.DataFrame({"code": raw[code_col].str.strip()})
        naf["libelle"] = raw[label_col] if label_col else ""
        if "libelle_division" in raw.columns:
            naf["libelle_division"] = raw["libelle_division"]
        naf = naf[naf["code"].str.fullmatch(r"\d\d\.\d\d[A-Z]")].drop_duplicates("code").reset_index(drop=True)

    passage = None
    passage_path = reference_dir / PASSAGE_FILE
    if passage_path.is_file():
        raw = pd.read_csv(passage_path, dtype=str, keep_default_na=False)
        old = _first_column(raw, ("ancien_code", "code_ancien", "ancien_code_commune"))
        new = _first_column(raw, ("code_commune", "code_commune_actuel", "nouveau_code"))
        if old and new:
            passage = raw[[old, new]].rename(columns={old: "ancien_code", new: "code_commune"})
            passage = passage[passage["ancien_code"] != passage["code_commune"]].reset_index(drop=True)
    names: dict[str, str] = {}
    dep_path = reference_dir / "departements_2026.csv"
    if dep_path.is_file():
        deps = pd.read_csv(dep_path, dtype=str, keep_default_na=False)
        if {"code_departement", "nom_departement"} <= set(deps.columns):
            names = dict(zip(deps["code_departement"], deps["nom_departement"]))
    return Reference(communes=communes.reset_index(drop=True), departement=dep, cj_codes=cj_codes, naf=naf,
                     passage=passage, departement_names=names, rules=load_rules(reference_dir))


def load_rules(reference_dir: Path | None = None) -> Rules:
    """The generator's rules (model.py); `reference_dir` is accepted for compatibility and not read."""
    from sources.sample import model as m

    famille = {cj: fam for fam, codes in m.FAMILY_CJ.items() for cj in codes}
    included = frozenset(cj for fam, codes in m.FAMILY_CJ.items() if fam in m.ESS_FAMILIES_INSEE for cj in codes)
    return Rules(famille, included, tuple(m.EXCLUDED_NAF_PREFIXES), tuple(m.URSSAF_EXCLUDED_CJ_PREFIXES),
                 frozenset(m.URSSAF_EXCLUDED_CJ), tuple(m.URSSAF_EXCLUDED_NAF_DIVISIONS),
                 tuple(m.URSSAF_FIELD_EXCEPTIONS))


def sirene_label(name: str) -> str:
    """How SIRENE writes a commune name: upper case, no accents ('Saint-Martin-d'Hères' -> SAINT-MARTIN-D'HERES)."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return plain.upper().replace("’", "'")
