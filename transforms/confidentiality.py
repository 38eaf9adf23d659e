"""Statistical confidentiality (secret statistique) of a long table of cells linked by additive relations.

What it does
------------
`protect()` takes a long table — one row per cell, dimension columns (territory, family, sector…), a value column
(a count or an employment figure), the number of contributing units and, optionally, the largest single unit's
value — and returns the same table with a status column and the value masked (NaN) where suppressed:

* primary secret (`frequence`, `dominance`): the rules of data/reference/secret_statistique.csv (`load_rules`);
  a cell with 0 contributors and value 0 is a *structural zero* (nobody is in it, nobody can be disclosed) and
  is published;
* secondary secret (`secondaire`): more cells, so that no suppressed cell can be recomputed exactly from the
  published cells through the additive relations (total = sum of its parts).

Relations are described per dimension as groups `(parent_code, [child_codes])`; `build_relations` expands each
group over every combination of the other dimensions present in the table (one equation each). A dimension may
carry several groupings of the same children (EPCI, territoires, arrondissements, zones d'emploi over the
communes; `territory_groups` builds them from a commune table): non-nested hierarchies are just more equations over
the same cells, and all the equations of all the dimensions are protected together.

Secondary secret, in two layers
-------------------------------
1. Heuristic, to a fixpoint: an equation with exactly one suppressed cell gives that cell away, so another cell
   of the equation is suppressed. The partner is chosen by, in order: not flagged must-publish; non-zero value
   (an empty cell is likely known to be empty); lowest level (number of dimensions in which the cell is a total:
   parts before totals); fewest equations it would turn into new single-suppression equations (minus those it
   completes); smallest value.
2. Exact audit: with H the suppressed cells and A the equation matrix, the published cells move to the
   right-hand side of A_H x_H = b; a suppressed cell j is recoverable iff e_j lies in the row space of A_H. The
   audit runs a sparse Gauss-Jordan elimination of A_H per connected component of suppressed cells, in exact
   arithmetic modulo the prime 2^61 - 1 (A has integer coefficients, so no tolerance is needed; a wrong answer
   would need the prime to divide one of the small integers the elimination produces, which does not happen for
   0/±1 matrices of this size). j is recoverable iff it is a pivot whose reduced row holds no other suppressed
   cell. The elimination also records which equations each reduced row combines, which gives
   - for a recoverable j, its certificate: the published cells whose values recompute it;
   - the derived relations: combinations of equations in which every suppressed cell cancels, i.e. relations among
     published cells only. A published cell in none of them is "free": suppressing it both hides j for sure (when
     it is in j's certificate) and stays hidden itself.
   Each round suppresses, per recoverable cell, a free cell of its certificate (else the least pinned one), then
   reruns the heuristic over the equations *and* the derived relations, and audits again until clean.

Cells absent from the table: by default (absent="known") the reader is assumed to know them (an absent part is
0, an absent total is published) — the safe reading for a dense cube or one that leaves out empty cells. With
absent="unpublished" (linked tables that share margins but not their inner cells) they are unknowns that are
never published, kept as virtual always-suppressed cells; their own confidentiality is not checked (put a cell in
the table if it has to be).

Limits (said plainly)
---------------------
* Protection is against *exact* recomputation through the linear relations given. It is not a τ-Argus-style
  guarantee of protection intervals: a reader who also uses non-negativity (counts ≥ 0) may narrow a suppressed
  cell to a small interval (e.g. a 2×2 pattern whose partner cells are small). Nothing enforces a minimum
  uncertainty around each primary cell. The public cube therefore uses this module only as its first, linear
  layer: transforms/secret_lp.py then audits protection intervals with non-negativity (LP) and suppresses more
  until they hold (transforms/outputs.py).
* No optimality: the pattern is greedy, not the minimum-loss pattern of a mixed-integer solver; on dense 3-D
  cubes of small cells it suppresses a lot (the synthetic cubes below lose about as many cells to secondary
  secret as to primary secret).
* Only the relations described are protected; links between tables that are not given (other years, other
  measures, differences between successive millésimes) are not.
* The rules apply to the value and contributor columns given: call `protect` once per measure (counts,
  employment) and mask derived columns (rates, densities) with `mask_columns` or the returned status.

Scaling (measured on the shared 2-core machine, loaded; synthetic cube of N communes with EPCI, non-nested
territoires, arrondissements, zones d'emploi and département × 8 family codes × 22 sector codes)
------------------------------------------------------------------------------------------------------------
* Building relations is vectorised (pandas merges, O(cells × groups a cell belongs to)); the heuristic is a Python
  work-queue, O(suppressions × equations per cell). N = 500 (96 976 cells, 16 200 primary): relations 1.0 s,
  heuristic 0.2 s; one exact audit of the resulting pattern (one component of 18 888 suppressed cells) 4-5 s — it
  finds 4 379 cells still recoverable after the heuristic, which is why the second layer matters.
* The audit-and-fix rounds are the expensive part: tracking the equation combinations and expanding certificates
  costs far more than the bare audit (fill-in of the reduced rows). N = 40 (9 504 cells): 6 rounds, 7 s;
  N = 80 (17 072 cells): 10 rounds, ~140 s; N = 150 (30 096 cells): 37 rounds, 420 s. The full N = 500 commune ×
  family × sector cube completes but slowly: 35 rounds, 1 613 s (27 min), 16 200 primary + 11 443 secondary
  cells, audit clean (first 2 rounds: 296 s, 4 379 -> 269 recoverable cells). Protect rather the tables actually published as linked tables (absent="unpublished"): all territory
  levels × famille (secteur ensemble) + all levels × secteur (famille ensemble) + département × famille × secteur
  for N = 500 is 16 126 cells (+ 80 850 virtual inner cells): 3 650 primary, 912 secondary, 35 rounds, 110 s,
  audit clean. Bound a run with `max_rounds` if needed — the audit then says `ok` False and the pipeline check
  must fail rather than publish.
* `max_component_cells` skips the elimination of larger components (reported in `n_unaudited`, `ok` False).
"""

from __future__ import annotations

import csv
import itertools
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ess import paths
from ess.errors import UserError

RULES_FILE = "secret_statistique.csv"  # in the run's reference folder, else data/reference/

FREQUENCE = "frequence"
DOMINANCE = "dominance"
SECONDAIRE = "secondaire"
STATUSES = (FREQUENCE, DOMINANCE, SECONDAIRE)

# Mersenne prime: products of two residues fit in Python ints cheaply; exact arithmetic for the audit.
_PRIME = (1 << 61) - 1
DEFAULT_MAX_COMPONENT_CELLS = 250_000

Groups = Sequence[tuple[str, Sequence[str]]]


# --------------------------------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class Rules:
    frequency_threshold: int = 3  # publish only cells with at least this many contributing units
    dominance_share: float = 0.85  # no unit may contribute more than this share of the cell's value
    # protection interval of a sensitive cell: what a reader can deduce must stay at least this far from its value
    protection_share: float = 0.15  # ... this share of the value, on each side
    protection_minimum: float = 1.0  # ... and at least this amount (jobs), on each side (down to 0)
    # a reader who can only prove a cell above this many jobs has learnt nothing (estimates of a few hundredths of a
    # job are model artefacts): the downward requirement of a smaller cell stops there, not at exactly 0
    protection_floor: float = 0.01

    def lower_requirement(self, values: np.ndarray) -> np.ndarray:
        """What the minimum a reader can deduce of a sensitive cell must reach (at most)."""
        values = np.asarray(values, float)
        return np.maximum(values - self.protection(values), np.minimum(values, self.protection_floor))

    def protection(self, values: np.ndarray) -> np.ndarray:
        """Required distance, on each side, between a sensitive cell's value and what can be deduced of it."""
        return np.maximum(self.protection_share * np.asarray(values, float), self.protection_minimum)


def load_rules(path: str | Path | None = None, *, reference_dir: str | Path | None = None) -> Rules:
    """Read the thresholds from secret_statistique.csv (columns regle, parametre, valeur): `path`, else the run's
    reference folder (`reference_dir`) layered over data/reference/."""
    path = Path(path) if path is not None else paths.reference_file(RULES_FILE, reference_dir)
    if not path.exists():
        raise UserError(f"{path}: confidentiality rules file not found; it is committed under data/reference/")
    wanted = {("frequence", "seuil_unites"), ("dominance", "part_max_contributeur"),
              ("protection", "part_valeur"), ("protection", "minimum_absolu"), ("protection", "plancher")}
    found: dict[tuple[str, str], str] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing_cols = {"regle", "parametre", "valeur"} - set(reader.fieldnames or ())
        if missing_cols:
            raise UserError(f"{path}: missing column(s) {sorted(missing_cols)}; expected regle,parametre,valeur,…")
        for lineno, row in enumerate(reader, start=2):
            key = (row["regle"].strip(), row["parametre"].strip())
            if key in found:
                raise UserError(f"{path}, line {lineno}: rule {key[0]}/{key[1]} given twice; keep one line")
            found[key] = row["valeur"].strip()
    missing = wanted - found.keys()
    if missing:
        raise UserError(f"{path}: no line for {sorted('/'.join(k) for k in missing)}; add it (regle,parametre,valeur)")
    try:
        threshold = int(found[("frequence", "seuil_unites")])
        share = float(found[("dominance", "part_max_contributeur")])
        p_share = float(found[("protection", "part_valeur")])
        p_min = float(found[("protection", "minimum_absolu")])
        p_floor = float(found[("protection", "plancher")])
    except ValueError as exc:
        raise UserError(f"{path}: a rule value is not a number ({exc}); write e.g. 3 and 0.85") from None
    if threshold < 1 or not 0 < share <= 1:
        raise UserError(f"{path}: seuil_unites must be ≥ 1 and part_max_contributeur in ]0, 1]; got {threshold}, {share}")
    if not 0 < p_share <= 1 or p_min < 0 or not 0 <= p_floor <= p_min:
        raise UserError(f"{path}: protection part_valeur must be in ]0, 1], minimum_absolu ≥ 0 and plancher in "
                        f"[0, minimum_absolu]; got {p_share}, {p_min}, {p_floor}")
    return Rules(frequency_threshold=threshold, dominance_share=share, protection_share=p_share,
                 protection_minimum=p_min, protection_floor=p_floor)


# ----------------------------------------------------------------------------------------------- relations


def territory_groups(
    communes: pd.DataFrame,
    *,
    commune_level: str = "commune",
    sep: str = ":",
) -> list[tuple[str, list[str]]]:
    """Groups of the territorial dimension, keyed '<niveau><sep><code>' ('epci:200040715' = Σ 'commune:38…').

    `communes` is the long territorial table (out_cube_communes): code_commune, niveau, code_territoire, one row
    per commune and level. Every level but the commune's gives one group per territory (the COG's levels and every
    zoning alike); communes with a NULL code at a level belong to no group of it. Levels need not nest (a zoning
    may cut EPCIs).
    """
    need = ["code_commune", "niveau", "code_territoire"]
    missing = [c for c in need if c not in communes.columns]
    if missing:
        raise UserError(f"territory_groups: the commune table has no column {missing} (has {list(communes.columns)}):"
                        " give it the long form of out_cube_communes")
    sub = communes.loc[communes["niveau"] != commune_level, need].dropna()
    groups: list[tuple[str, list[str]]] = []
    for (niveau, code), part in sub.groupby(["niveau", "code_territoire"], sort=True):
        children = sorted({f"{commune_level}{sep}{c}" for c in part["code_commune"]})
        groups.append((f"{niveau}{sep}{code}", children))
    return groups


@dataclass
class Relations:
    """The equations Σ coef·x = 0 over the cells (rows of the table), in compressed form.

    Equation e holds cells eq_cells[eq_ptr[e]:eq_ptr[e+1]] with coefficients eq_coef (+1 the total, -1 the parts);
    cell i is in equations cell_eqs[cell_ptr[i]:cell_ptr[i+1]]. level[i] = number of dimensions in which the
    cell's code is a total. complete[e] is True when all its cells are in the table (then it must add up).
    Cells n_cells - n_virtual … n_cells - 1 are virtual: absent from the table, unknown, never published.
    """

    n_cells: int
    eq_ptr: np.ndarray
    eq_cells: np.ndarray
    eq_coef: np.ndarray
    cell_ptr: np.ndarray
    cell_eqs: np.ndarray
    level: np.ndarray
    complete: np.ndarray
    n_virtual: int = 0

    @property
    def n_equations(self) -> int:
        return len(self.eq_ptr) - 1

    def members(self, e: int) -> np.ndarray:
        return self.eq_cells[self.eq_ptr[e] : self.eq_ptr[e + 1]]

    def equations_of(self, i: int) -> np.ndarray:
        return self.cell_eqs[self.cell_ptr[i] : self.cell_ptr[i + 1]]


def _check_cells(cells: pd.DataFrame, dimensions: Sequence[str], columns: Iterable[str]) -> None:
    missing = [c for c in [*dimensions, *columns] if c not in cells.columns]
    if missing:
        raise UserError(f"secret statistique: the table has no column(s) {missing} (has {list(cells.columns)})")
    if not dimensions:
        raise UserError("secret statistique: give at least one dimension column")
    for d in dimensions:
        nulls = cells[d].isna()
        if nulls.any():
            raise UserError(
                f"secret statistique: dimension column {d!r} is NULL on {int(nulls.sum())} row(s) "
                f"(first at row {int(np.flatnonzero(nulls.to_numpy())[0])}); give every cell a code"
            )
    dup = cells.duplicated(list(dimensions), keep=False)
    if dup.any():
        first = cells.loc[dup, list(dimensions)].head(3).to_dict("records")
        raise UserError(
            f"secret statistique: {int(dup.sum())} rows share their dimension codes {list(dimensions)}, "
            f"e.g. {first}; each cell must appear once"
        )


ABSENT_MODES = ("known", "unpublished")


def build_relations(
    cells: pd.DataFrame, dimensions: Sequence[str], hierarchies: Mapping[str, Groups], *, absent: str = "known"
) -> Relations:
    """Expand each group (parent, children) of each dimension over the other dimensions' code combinations.

    absent="known": a cell missing from the table is known to the reader (0 if a part, published if a total) —
    right for a dense cube, or one that leaves out empty cells. absent="unpublished": a missing cell is an unknown
    that is never published (linked tables: commune × famille and commune × secteur without the commune × famille ×
    secteur cells); such cells become extra, always-suppressed "virtual" cells numbered after the table's rows.
    """
    if absent not in ABSENT_MODES:
        raise UserError(f"secret statistique: absent must be one of {ABSENT_MODES}, not {absent!r}")
    _check_cells(cells, dimensions, [])
    n = len(cells)
    frames, missing = [], []
    parents_by_dim: dict[str, set[str]] = {}
    for d_idx, (dim, groups) in enumerate(hierarchies.items()):
        if dim not in dimensions:
            raise UserError(f"secret statistique: relations given for {dim!r}, which is not a dimension {list(dimensions)}")
        rows: list[tuple[int, str, int]] = []
        for g, group in enumerate(groups):
            try:
                parent, children = group
            except (TypeError, ValueError):
                raise UserError(
                    f"secret statistique: relation #{g} of {dim!r} must be (parent_code, [child_codes]); got {group!r}"
                ) from None
            children = [str(c) for c in children] if not isinstance(children, str) else [children]
            if str(parent) in children or len(set(children)) != len(children):
                raise UserError(
                    f"secret statistique: relation {parent!r} of {dim!r} lists its total among its parts or a part "
                    f"twice ({children}); fix the group"
                )
            rows.append((g, str(parent), 1))
            rows.extend((g, c, -1) for c in children)
        if not rows:
            continue
        gm = pd.DataFrame(rows, columns=["_g", "_code", "_coef"])
        parents_by_dim[dim] = set(gm.loc[gm["_coef"] == 1, "_code"])
        codes = cells[dim].astype(str).to_numpy()
        others = [x for x in dimensions if x != dim]
        other_key = (
            cells.groupby(others, sort=False, dropna=False).ngroup().to_numpy() if others else np.zeros(n, np.int64)
        )
        left = pd.DataFrame({"_cell": np.arange(n), "_code": codes, "_other": other_key})
        m = left.merge(gm, on="_code", how="inner")
        if absent == "unpublished":
            # every member of every equation instance; the ones not in the table get their full dimension codes
            full = m[["_g", "_other"]].drop_duplicates().merge(gm, on="_g")
            full = full.merge(m[["_g", "_other", "_code", "_cell"]], on=["_g", "_other", "_code"], how="left")
            absent_rows = full[full["_cell"].isna()].drop(columns="_cell")
            if len(absent_rows):
                first = pd.Series(np.arange(n)).groupby(other_key).first()
                ids = absent_rows.merge(
                    pd.DataFrame({"_other": first.index, "_row": first.to_numpy()}), on="_other", how="left"
                )
                coords = cells[others].iloc[ids["_row"].to_numpy()].reset_index(drop=True).astype(str)
                coords[dim] = ids["_code"].to_numpy()
                coords["_g"], coords["_other"], coords["_coef"] = ids["_g"].to_numpy(), ids["_other"].to_numpy(), ids["_coef"].to_numpy()
                coords["_dim"] = d_idx
                missing.append(coords)
        m["_dim"] = d_idx
        frames.append(m[["_dim", "_g", "_other", "_cell", "_coef"]])
    n_virtual = 0
    if missing:
        miss = pd.concat(missing, ignore_index=True)
        miss["_cell"] = n + miss.groupby(list(dimensions), sort=True).ngroup().to_numpy()
        n_virtual = int(miss["_cell"].max()) - n + 1
        frames.append(miss[["_dim", "_g", "_other", "_cell", "_coef"]])
        virtual_codes = miss.drop_duplicates("_cell").sort_values("_cell")
    n_all = n + n_virtual
    level = np.zeros(n_all, dtype=np.int64)
    for dim, parents in parents_by_dim.items():
        level[:n] += np.isin(cells[dim].astype(str).to_numpy(), list(parents))
        if n_virtual:
            level[n:] += np.isin(virtual_codes[dim].to_numpy(), list(parents))
    if frames:
        allm = pd.concat(frames, ignore_index=True)
        eq = allm.groupby(["_dim", "_g", "_other"], sort=True).ngroup().to_numpy()
        cell = allm["_cell"].to_numpy(np.int64)
        coef = allm["_coef"].to_numpy(np.int64)
    else:
        eq = cell = coef = np.zeros(0, np.int64)
    order = np.lexsort((cell, eq))
    eq, cell, coef = eq[order], cell[order], coef[order]
    n_eq = int(eq.max()) + 1 if len(eq) else 0
    eq_ptr = np.zeros(n_eq + 1, np.int64)
    np.cumsum(np.bincount(eq, minlength=n_eq), out=eq_ptr[1:])
    complete = np.zeros(n_eq, bool)
    complete[eq[coef == 1]] = True  # total present...
    complete[eq[cell >= n]] = False  # ...and no virtual member: the values must add up
    inv = np.argsort(cell, kind="stable")
    cell_ptr = np.zeros(n_all + 1, np.int64)
    np.cumsum(np.bincount(cell, minlength=n_all), out=cell_ptr[1:])
    return Relations(n_all, eq_ptr, cell, coef, cell_ptr, eq[inv], level, complete, n_virtual)


def relation_gaps(rel: Relations, values: np.ndarray, *, rtol: float = 1e-9) -> np.ndarray:
    """Equations (with their total present) whose cells do not add up: the relations do not describe the table."""
    if rel.n_equations == 0:
        return np.zeros(0, np.int64)
    contrib = rel.eq_coef * values[rel.eq_cells]
    sums = np.add.reduceat(contrib, rel.eq_ptr[:-1]) if len(contrib) else np.zeros(rel.n_equations)
    scale = np.add.reduceat(np.abs(contrib), rel.eq_ptr[:-1])
    bad = (np.abs(sums) > rtol * np.maximum(scale, 1.0)) & rel.complete
    return np.flatnonzero(bad)


# --------------------------------------------------------------------------------------------- primary secret


def primary_secret(
    values: np.ndarray, contributors: np.ndarray, max_contributor: np.ndarray | None, rules: Rules
) -> np.ndarray:
    """Status per cell: FREQUENCE, DOMINANCE or None. Frequency wins when both rules fail."""
    structural_zero = (contributors == 0) & (values == 0)
    frequency = (contributors < rules.frequency_threshold) & ~structural_zero
    status = np.full(len(values), None, dtype=object)
    if max_contributor is not None:
        dominance = (values > 0) & (max_contributor > rules.dominance_share * values)
        status[dominance] = DOMINANCE
    status[frequency] = FREQUENCE
    return status


# ------------------------------------------------------------------------------------------ secondary secret


def _segments(ptr: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated positions of segments ptr[i]:ptr[i+1] for i in ids, and the owner (index into ids) of each."""
    starts, ends = ptr[ids], ptr[ids + 1]
    lens = ends - starts
    owner = np.repeat(np.arange(len(ids)), lens)
    offsets = np.repeat(starts - np.concatenate(([0], np.cumsum(lens)[:-1])), lens)
    return offsets + np.arange(int(lens.sum())), owner


class _Chooser:
    """Picks the partner cell to suppress among candidates (the order documented in the module docstring)."""

    def __init__(self, rel: Relations, values: np.ndarray, must_publish: np.ndarray):
        self.rel, self.values, self.must_publish = rel, values, must_publish

    def best(self, cand: np.ndarray, hidden_count: np.ndarray, extra: np.ndarray | None = None) -> int:
        rel = self.rel
        pos, owner = _segments(rel.cell_ptr, cand)
        counts = hidden_count[rel.cell_eqs[pos]]
        net_new = np.bincount(owner, weights=(counts == 0).astype(float) - (counts == 1), minlength=len(cand))
        v = self.values[cand]
        pinned = extra[cand] if extra is not None else np.zeros(len(cand))
        order = np.lexsort((cand, v, net_new, pinned, rel.level[cand], v == 0, self.must_publish[cand]))
        return int(cand[order[0]])


def _heuristic(rel: Relations, hidden: np.ndarray, chooser: _Chooser) -> tuple[list[int], int]:
    """Suppress partners until no equation has exactly one suppressed cell. Returns (added cells, stuck equations)."""
    if rel.n_equations == 0:
        return [], 0
    count = np.add.reduceat(hidden[rel.eq_cells].astype(np.int64), rel.eq_ptr[:-1])
    stack = list(np.flatnonzero(count == 1))
    added: list[int] = []
    stuck = 0
    while stack:
        e = stack.pop()
        if count[e] != 1:
            continue
        members = rel.members(e)
        cand = members[~hidden[members]]
        if len(cand) == 0:  # a one-cell equation: the cell is known whatever we do
            stuck += 1
            continue
        k = chooser.best(cand, count)
        hidden[k] = True
        added.append(k)
        for e2 in rel.equations_of(k):
            count[e2] += 1
            if count[e2] == 1:
                stack.append(e2)
    return added, stuck


# ------------------------------------------------------------------------------------------------- audit


@dataclass
class AuditResult:
    n_cells: int
    n_suppressed: int
    n_recoverable: int  # suppressed cells that the published cells determine exactly (must be 0)
    n_components: int  # connected groups of suppressed cells linked by equations
    largest_component: int  # suppressed cells in the largest one
    n_unaudited: int  # suppressed cells in components larger than the bound, not checked
    recoverable: list[int] = field(default_factory=list)  # row positions (0-based) of recoverable cells
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.n_recoverable == 0 and self.n_unaudited == 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["recoverable"] = d["recoverable"][:100]
        d["ok"] = self.ok
        return d


def _components(rel: Relations, hidden: np.ndarray) -> np.ndarray:
    """Component label of each suppressed cell (-1 for published), by min-label propagation over equations."""
    label = np.where(hidden, np.arange(rel.n_cells), -1)
    if rel.n_equations == 0:
        return label
    h_mask = hidden[rel.eq_cells]
    eq_of_member = np.repeat(np.arange(rel.n_equations), np.diff(rel.eq_ptr))[h_mask]
    cells = rel.eq_cells[h_mask]
    big = np.iinfo(np.int64).max
    while True:
        eq_min = np.full(rel.n_equations, big)
        np.minimum.at(eq_min, eq_of_member, label[cells])
        new = label.copy()
        np.minimum.at(new, cells, eq_min[eq_of_member])
        new[hidden] = new[new[hidden]]  # pointer jumping: follow the label's own label
        if np.array_equal(new, label):
            return label
        label = new


def _axpy(dst: dict[int, int], f: int, src: dict[int, int], skip: int = -1, occ=None, owner: int = -1) -> None:
    """dst -= f * src (mod p), dropping zeros; keeps the column index `occ` of pivot rows up to date."""
    for c, v in src.items():
        if c == skip:
            continue
        old = dst.get(c, 0)
        nv = (old - f * v) % _PRIME
        if nv:
            dst[c] = nv
            if occ is not None and not old:
                occ.setdefault(c, set()).add(owner)
        elif old:
            del dst[c]
            if occ is not None:
                occ[c].discard(owner)


def _eliminate(
    rows: list[dict[int, int]], track: bool = False
) -> tuple[dict[int, tuple[dict[int, int], dict[int, int] | None]], list[dict[int, int]]]:
    """Gauss-Jordan elimination over GF(p) of rows {suppressed cell: coefficient}.

    Returns (pivots, left_null): pivots maps a pivot cell to (its reduced row — coefficient 1 on the pivot, no other
    pivot cell in it — and, with `track`, the combination {row index: coefficient} of input rows giving it);
    left_null holds, with `track`, the combinations of input rows that cancel every suppressed cell.
    """
    pivots: dict[int, tuple[dict[int, int], dict[int, int] | None]] = {}
    occ: dict[int, set[int]] = {}  # non-pivot cell -> pivot cells whose rows hold it
    left_null: list[dict[int, int]] = []
    for i, row in enumerate(rows):
        r = dict(row)
        w = {i: 1} if track else None
        for c in [c for c in r if c in pivots]:
            f = r.pop(c)
            pr, pw = pivots[c]
            _axpy(r, f, pr, skip=c)
            if track:
                _axpy(w, f, pw)
        if not r:
            if track:
                left_null.append(w)
            continue
        p = min(r, key=lambda c: (len(occ.get(c, ())), c))  # pivot touching the fewest rows: least fill-in
        inv = pow(r[p], _PRIME - 2, _PRIME)
        if inv != 1:
            r = {c: v * inv % _PRIME for c, v in r.items()}
            if track:
                w = {c: v * inv % _PRIME for c, v in w.items()}
        for q in occ.pop(p, ()):
            qr, qw = pivots[q]
            f = qr.pop(p)
            _axpy(qr, f, r, skip=p, occ=occ, owner=q)
            if track:
                _axpy(qw, f, w)
        pivots[p] = (r, w)
        for c in r:
            if c != p:
                occ.setdefault(c, set()).add(p)
    return pivots, left_null


def _combine(rel: Relations, eqs: list[int], w: dict[int, int], published: np.ndarray) -> list[int]:
    """Published cells with a non-zero coefficient in the combination Σ w[i]·equation eqs[i]."""
    acc: dict[int, int] = {}
    for i, f in w.items():
        e = eqs[i]
        for c, v in zip(rel.members(e).tolist(), rel.eq_coef[rel.eq_ptr[e] : rel.eq_ptr[e + 1]].tolist()):
            if published[c]:
                acc[c] = (acc.get(c, 0) + f * v) % _PRIME
    return sorted(c for c, v in acc.items() if v)


@dataclass
class _Certificates:
    support: dict[int, list[int]]  # recoverable cell -> published cells whose values recompute it
    bound: np.ndarray  # per published cell, how many published-only relations would recompute it if suppressed alone
    derived: list[list[int]]  # those relations: combinations of equations that cancel every suppressed cell


def _audit_mask(
    rel: Relations, hidden: np.ndarray, max_component_cells: int, *, certificates: bool = False
) -> tuple[AuditResult, _Certificates | None]:
    """Exact audit of a suppression pattern; with certificates, what to suppress to break each recomputation."""
    t0 = time.perf_counter()
    label = _components(rel, hidden)
    comp_ids, comp_sizes = np.unique(label[hidden], return_counts=True)
    too_big = comp_ids[comp_sizes > max_component_cells]
    recoverable: list[int] = []
    certs = _Certificates({}, np.zeros(rel.n_cells, np.int64), []) if certificates else None
    published = ~hidden
    if rel.n_equations:
        eq_hidden = _hidden_counts(rel, hidden)
        if certificates:  # a published cell in an all-published equation: suppressing it alone gives it away
            np.add.at(certs.bound, rel.eq_cells[np.repeat(eq_hidden == 0, np.diff(rel.eq_ptr))], 1)
        eqs = np.flatnonzero(eq_hidden > 0)
        # component of an equation = that of its first suppressed cell
        h_pos = np.flatnonzero(hidden[rel.eq_cells])
        eq_of_pos = np.searchsorted(rel.eq_ptr, h_pos, side="right") - 1
        first = np.full(rel.n_equations, -1)
        first[eq_of_pos[::-1]] = h_pos[::-1]
        eq_label = label[rel.eq_cells[first[eqs]]]
        keep = ~np.isin(eq_label, too_big)
        eqs, eq_label = eqs[keep], eq_label[keep]
        order = np.argsort(eq_label, kind="stable")
        eqs, eq_label = eqs[order], eq_label[order]
        bounds = np.flatnonzero(np.diff(eq_label)) + 1
        for comp_eqs in np.split(eqs, bounds) if len(eqs) else []:
            rows = []
            for e in comp_eqs:
                m, coef = rel.members(e), rel.eq_coef[rel.eq_ptr[e] : rel.eq_ptr[e + 1]]
                h = hidden[m]
                rows.append({int(c): int(v) % _PRIME for c, v in zip(m[h], coef[h])})
            order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
            rows = [rows[i] for i in order]
            comp_eqs = [int(comp_eqs[i]) for i in order]
            pivots, left_null = _eliminate(rows, track=certificates)
            for j, (r, w) in pivots.items():
                if len(r) == 1:
                    recoverable.append(j)
                    if certificates:
                        certs.support[j] = _combine(rel, comp_eqs, w, published)
            for w in left_null:
                support = _combine(rel, comp_eqs, w, published)
                certs.bound[support] += 1
                certs.derived.append(support)
    n_table = rel.n_cells - rel.n_virtual
    recoverable = [j for j in recoverable if j < n_table]  # virtual cells are never published: not checked
    result = AuditResult(
        n_cells=n_table,
        n_suppressed=int(hidden[:n_table].sum()),
        n_recoverable=len(recoverable),
        n_components=len(comp_ids),
        largest_component=int(comp_sizes.max()) if len(comp_sizes) else 0,
        n_unaudited=int(comp_sizes[comp_sizes > max_component_cells].sum()),
        recoverable=sorted(recoverable),
        seconds=round(time.perf_counter() - t0, 3),
    )
    return result, certs


def audit(
    cells: pd.DataFrame,
    *,
    dimensions: Sequence[str],
    hierarchies: Mapping[str, Groups],
    status_column: str = "statut_secret",
    absent: str = "known",
    max_component_cells: int = DEFAULT_MAX_COMPONENT_CELLS,
) -> AuditResult:
    """Check a protected table: how many suppressed cells (status not NULL) the published ones recompute exactly.

    For a pipeline check: `assert audit(...).ok` (no recoverable cell, every component audited).
    """
    _check_cells(cells, dimensions, [status_column])
    rel = build_relations(cells, dimensions, hierarchies, absent=absent)
    hidden = np.concatenate([cells[status_column].notna().to_numpy(), np.ones(rel.n_virtual, bool)])
    result, _ = _audit_mask(rel, hidden, max_component_cells)
    return result


# ---------------------------------------------------------------------------------------------- protect


@dataclass
class ProtectionResult:
    cells: pd.DataFrame  # input columns + status column, value (and mask_columns) NaN where suppressed
    audit: AuditResult | None  # final exact audit (None when audit=False)
    stats: dict  # JSON-serialisable counts and timings


def protect(
    cells: pd.DataFrame,
    *,
    dimensions: Sequence[str],
    value: str,
    contributors: str,
    hierarchies: Mapping[str, Groups],
    max_contributor: str | None = None,
    must_publish: str | None = None,
    rules: Rules | None = None,
    status_column: str = "statut_secret",
    mask_columns: Sequence[str] = (),
    absent: str = "known",
    audit: bool = True,
    max_component_cells: int = DEFAULT_MAX_COMPONENT_CELLS,
    max_rounds: int = 1000,
    primary: Sequence | None = None,
) -> ProtectionResult:
    """Apply primary and secondary secret to a long table of cells.

    cells: one row per cell, unique on `dimensions`; `value` the published measure; `contributors` the number of
    units in the cell; `max_contributor` the largest unit's value (dominance rule; omit for counts);
    `must_publish` a boolean column of cells to keep if at all possible (a must-publish cell failing a primary
    rule is still suppressed: the law wins; one is suppressed as secondary only when no other cell can protect);
    `hierarchies` {dimension: [(parent_code, [child_codes]), …]}; `absent` how to read cells missing from the
    table (see `build_relations`). `audit=False` stops after the heuristic layer (for diagnosis only: the result
    may leave cells recoverable). `max_rounds` bounds the audit-and-fix rounds; when reached, the returned audit
    says so (`ok` False) rather than the run hanging. `primary`: the primary statuses per cell (FREQUENCE,
    DOMINANCE or None) when the caller applies the rules itself; then `contributors` is not read.
    """
    t0 = time.perf_counter()
    rules = rules or load_rules()
    extra = [value, contributors] + ([max_contributor] if max_contributor else []) + ([must_publish] if must_publish else [])
    _check_cells(cells, dimensions, [*extra, *mask_columns])
    values = _numeric(cells, value)
    contrib = _numeric(cells, contributors)
    maxc = _numeric(cells, max_contributor) if max_contributor else None
    if (contrib < 0).any() or (values < 0).any():
        raise UserError(f"secret statistique: negative {value!r} or {contributors!r}; counts and employment are ≥ 0")
    mp = cells[must_publish].fillna(False).to_numpy(bool) if must_publish else np.zeros(len(cells), bool)

    rel = build_relations(cells, dimensions, hierarchies, absent=absent)
    n, nv = len(cells), rel.n_virtual
    values = np.concatenate([values, np.zeros(nv)])  # virtual cells: always suppressed, never chosen
    mp = np.concatenate([mp, np.zeros(nv, bool)])
    gaps = relation_gaps(rel, values)
    t_rel = time.perf_counter()

    if primary is None:
        status = primary_secret(values[:n], contrib, maxc, rules)
    else:  # the caller applied the rules itself (e.g. dominance on several bounds)
        status = np.array([s if s in (FREQUENCE, DOMINANCE) else None for s in primary], dtype=object)
        if len(status) != n:
            raise UserError(f"secret statistique: primary has {len(status)} statuses for {n} cells")
    hidden = np.concatenate([[s is not None for s in status], np.ones(nv, bool)]).astype(bool)
    primary = hidden.copy()
    chooser = _Chooser(rel, values, mp)
    added, stuck = _heuristic(rel, hidden, chooser)
    n_heuristic = len(added)
    t_heur = time.perf_counter()

    result = None
    rounds = 0
    n_from_audit = 0
    unfixable: set[int] = set()
    derived: set[tuple[int, ...]] = set()
    if audit:
        while True:
            result, certs = _audit_mask(rel, hidden, max_component_cells, certificates=True)
            todo = [j for j in result.recoverable if j not in unfixable]
            if not todo or rounds >= max_rounds:
                break
            rounds += 1
            picked: set[int] = set()
            counts = _hidden_counts(rel, hidden)
            for j in todo:
                support = certs.support.get(j, [])
                if not support:
                    unfixable.add(j)  # recomputed from absent (known) cells only: nothing to suppress
                    continue
                free = np.array([k for k in support if not certs.bound[k]], dtype=np.int64)
                if picked.intersection(free.tolist()):
                    continue  # a free cell picked this round already breaks this recomputation
                # a free cell both hides j for sure and stays hidden itself; a bound one needs partners:
                # take the one the fewest published-only relations pin down
                if len(free):
                    k = chooser.best(free, counts)
                else:
                    k = chooser.best(np.array(support, dtype=np.int64), counts, extra=certs.bound)
                hidden[k] = True
                picked.add(k)
                counts[rel.equations_of(k)] += 1
            if not picked:
                break
            n_from_audit += len(picked)
            # the heuristic again, now also over the derived relations among published cells: a cell picked above
            # that one of them pins down gets a partner there, instead of waiting for the next audit
            derived.update(tuple(r) for r in certs.derived if len(r) > 1)
            ext = _with_rows(rel, derived)
            more, more_stuck = _heuristic(ext, hidden, _Chooser(ext, values, mp))
            n_from_audit += len(more)
            stuck += more_stuck
    t_audit = time.perf_counter()

    hidden, primary = hidden[:n], primary[:n]
    status[hidden & ~primary] = SECONDAIRE
    out = cells.copy()
    out[status_column] = pd.Series(status, index=out.index, dtype=object)
    for col in [value, *mask_columns]:
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64").mask(hidden)
    stats = {
        "n_cellules": int(len(cells)),
        "n_relations": int(rel.n_equations),
        "n_relations_non_additives": int(len(gaps)),
        "n_frequence": int(np.sum(status == FREQUENCE)),
        "n_dominance": int(np.sum(status == DOMINANCE)),
        "n_secondaire": int(np.sum(status == SECONDAIRE)),
        "n_secondaire_heuristique": n_heuristic,
        "n_secondaire_audit": n_from_audit,
        "tours_audit": rounds,
        "n_relations_bloquees": int(stuck),
        "n_publication_obligatoire_supprimees": int(np.sum(mp[:n] & hidden)),
        "n_cellules_virtuelles": int(nv),
        "audit": result.to_dict() if result else None,
        "secondes": {
            "relations": round(t_rel - t0, 3),
            "heuristique": round(t_heur - t_rel, 3),
            "audit": round(t_audit - t_heur, 3),
            "total": round(time.perf_counter() - t0, 3),
        },
    }
    return ProtectionResult(out, result, stats)


def _with_rows(rel: Relations, rows: Iterable[Sequence[int]]) -> Relations:
    """The relations plus extra rows (membership only: coefficients +1), for the heuristic."""
    rows = list(rows)
    if not rows:
        return rel
    lens = np.array([len(r) for r in rows], np.int64)
    extra_cells = np.fromiter(itertools.chain.from_iterable(rows), np.int64, int(lens.sum()))
    n_eq = rel.n_equations + len(rows)
    eq_ptr = np.concatenate([rel.eq_ptr, rel.eq_ptr[-1] + np.cumsum(lens)])
    eq_cells = np.concatenate([rel.eq_cells, extra_cells])
    eq_of = np.repeat(np.arange(n_eq), np.diff(eq_ptr))
    inv = np.argsort(eq_cells, kind="stable")
    cell_ptr = np.zeros(rel.n_cells + 1, np.int64)
    np.cumsum(np.bincount(eq_cells, minlength=rel.n_cells), out=cell_ptr[1:])
    return Relations(rel.n_cells, eq_ptr, eq_cells, np.concatenate([rel.eq_coef, np.ones(len(extra_cells), np.int64)]),
                     cell_ptr, eq_of[inv], rel.level, np.concatenate([rel.complete, np.zeros(len(rows), bool)]),
                     rel.n_virtual)


def _hidden_counts(rel: Relations, hidden: np.ndarray) -> np.ndarray:
    if rel.n_equations == 0:
        return np.zeros(0, np.int64)
    return np.add.reduceat(hidden[rel.eq_cells].astype(np.int64), rel.eq_ptr[:-1])


def _numeric(cells: pd.DataFrame, column: str) -> np.ndarray:
    col = pd.to_numeric(cells[column], errors="coerce")
    bad = col.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise UserError(
            f"secret statistique: column {column!r} is empty or not a number on {int(bad.sum())} row(s) "
            f"(first at row {row}: {cells[column].iloc[row]!r}); every cell needs a value (0 if empty)"
        )
    return col.to_numpy(dtype=float)
