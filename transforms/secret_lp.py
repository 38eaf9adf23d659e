"""Interval audit and LP-driven secondary suppression of a table of cells (HiGHS, through highspy).

The model
---------
A table is written as linear functions of non-negative unknowns x (the finest amounts the reader does not see:
for the indicator cube, the employment of one commune × one kind of unit × one sector code, see
transforms/secret_model.py): cell i = S[i] · x, and internal equations L · x = 0 tie the unknowns together (the
sector codes of a commune add up to its total). What a reader knows is exactly:

    x ≥ 0,   L x = 0,   S[k] · x = v_k for every published cell k,   S[f] · x ≥ floor_f for the cells f whose
    lower bound another publication gives (LinearTable.floors),   F x ≥ g for the sums of unknowns that are no
    cell but whose lower bound another publication gives too (LinearTable.floor_rows, row_floors).

Cells that hold no unknown are known zeros (rows exist where establishments exist: an absent row is a 0).

For a masked cell j the reader can compute min and max of S[j] · x over that set (two linear programs). Cell j is
*protected* when max ≥ upper[j] and min ≤ lower[j] (its protection interval, set by the caller from
data/reference/secret_statistique.csv). A cell with only one of the two requirements sets the other to NaN.

Auditing thousands of cells without thousands of LPs
----------------------------------------------------
Any feasible table proves the requirement of every cell it pushes far enough, so the audit first solves *batch*
LPs, maximising Σ_j min(S[j]·x − v_j, r_j) / r_j over the cells still unproven (one side at a time, r_j the
required move): one solve usually proves most cells, both sides count (a table that pushes a cell up may push
another down). Rounds alternate sides, each side's model re-solved warm with the proven cells out of its objective,
until two rounds in a row prove almost nothing (fewer than 10 sides; in protect's audits, also fewer than 5 % of those
pending: the tail of an audit proves a few sides per solve of seconds); the cells left get their own min / max LP
(same model, new objective, warm start). A cell whose exact min or max misses its requirement is reported, with that
bound.
Cells that sum the same unknowns (the same establishments under several perimeters, families or nomenclatures) are
one amount to the reader: the batch LPs and the protection LPs give each distinct amount one variable or row, the
exact LPs run once per amount and side (_same_rows); 2025's protection on the sample went 526–614 s → 237 s.
Everything runs against a deadline: cells not decided in time are reported as unaudited, never as safe.
What another publication's lower bounds alone give a cell (URSSAF's commune and APE figures) mostly has a closed form,
the floors of the disjoint bounded sums it holds whole (`minimum_from_floors`): asked that bound, an audit proves it
with its batch LPs instead of finding it by an exact LP per side (the sample's 2019: 192 LPs, 3.6 s → none).

Suppression driven by the audit
-------------------------------
For a cell j the audit could not prove (side s), `protect` solves the classic protection LP (Kelly, Golden &
Assad; Fischetti & Salazar — the attacker problem behind τ-ARGUS' and sdcTable's optimal and LP-based methods):
find a perturbation d of the table with S[j]·d ≥ r_j (or ≤ −r_j), L d = 0, x + d ≥ 0, changing published cells
as little as possible (cost w_k per unit of |S[k]·d|). The published cells it has to move are suppressed: d then
proves j's side for good (more suppression only widens what is feasible), and every other unproven cell that d
moves far enough is proven too. Rounds of audit → protection LPs (up to 5 % of the sides pending, at least 100) go on
until the audit passes or the deadline. Every protection LP starts from the basis of d = 0, the optimum with no
target: warm from the last target's optimum, the dual simplex also had to undo the last perturbation (≈ 680 iterations
an LP on the sample's 2025 against ≈ 50, 0.23 s against 0.05 s), and its perturbation depended on what was solved
before. With that, batch audits cut short of their tails and rounds of ≈ 300 LPs, the sample's 2025 took 109 s of CPU
instead of 250 (batch LPs 71 s instead of 127, protection LPs 26 s instead of 119; 4 rounds instead of 7; 536 cells
suppressed, not 533).
Cells the reader knows from another publication (`fixed`: URSSAF's family totals for the cube) are in the reader's
set for good: no perturbation may move them, and they are never suppressed.

Certificates: checking a proof costs far less than finding it
------------------------------------------------------------
Every table that proves a side (a batch LP's solution, x + t·d for a perturbation) is kept as a `Certificate`.
The final audit does not trust the rounds' bookkeeping: it checks each certificate afresh against the final
pattern — x ≥ 0, L x = 0, every published cell within its allowance — and a certificate that passes proves its
sides whatever produced it; the sides no certificate proves get the full LP audit. On the sample's employment year
that final audit went from 9.5 s of LPs to 0.2 s of matrix products, every side proven by 181 certificates.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

INF = float("inf")
MIN_BATCH_PROOFS = 10
# In protect's quick audits, a batch LP proving fewer than this share of the sides pending is a stall too: the tail of
# an audit proves a few sides per solve of several seconds (sample's 2025: the first audit spent 40 s of 65 proving
# 1 200 of its 47 477 sides), which the protection LPs prove for less. The other audits keep MIN_BATCH_PROOFS alone.
MIN_BATCH_SHARE = 0.05
MIN_WARM_ITERATIONS = 10_000  # the least simplex iterations a warm batch re-solve may take (_BatchModel.solve)
FEASIBILITY = 1e-7  # HiGHS' primal feasibility tolerance (its default)
PRESOLVE_RULES_OFF = 1 << 13  # HiGHS' kPresolveRuleParallelRowsAndCols (see _highs)
# A protection round stops after this many protection LPs: the next round's batch audit, on the pattern they made,
# proves most of the sides left at once (sample's 2025: 769 LPs in one round → 409 in five, 717 → 702 suppressed).
# Since the protection LPs start from d = 0's basis (≈ 0.05 s each instead of 0.23 s), a round's batch audit costs
# more than its LPs on a large table: 300 a round on the sample's 2025 (≈ 6 000 sides pending after the first audit)
# gave 4 rounds and 108 s of CPU (536 cells suppressed); 100 a round left 1 437 sides pending after 5 rounds; no
# limit, 3 rounds of 1 121 LPs and 127 s (540). On a past year (≈ 1 000–2 000 sides pending, batch audits of a
# second or two) 300 a round gave LPs the next batch audit would have spared: 2023 and 2024 took 13.7 and 10.8 s
# of CPU with 300, 7.3 and 7.6 s with 100 (262 → 266 and 253 → 257 cells suppressed). So a round runs up to
# ROUND_SHARE of the sides pending, at least LPS_PER_ROUND (_round_limit): 2025 unchanged (115.4 s against 114.8 s).
LPS_PER_ROUND = 100
ROUND_SHARE = 0.05
log = logging.getLogger(__name__)


@dataclass
class LinearTable:
    """Cells as sums of non-negative unknowns (see the module docstring)."""

    cells: sp.csr_matrix  # n_cells × n_vars, 0/1
    links: sp.csr_matrix  # n_links × n_vars, rows L·x = 0
    values: np.ndarray  # true value of every cell
    x: np.ndarray  # the true unknowns (values = cells @ x); protection perturbs them, the audit never reads them
    # What the reader knows of some cells from another publication, as a lower bound: S[k] · x ≥ floors[k] (NaN:
    # nothing). URSSAF's private field of a commune is part of its total of all employers (transforms/outputs.py).
    floors: np.ndarray | None = None
    # The same for sums of unknowns that are no cell of the table: floor_rows · x ≥ row_floors (a 0/1 row per bound).
    # URSSAF's employment of one APE code in a commune bounds that commune's unknowns of the code's (section, sector)
    # pair, summed over every kind of unit: no published or unpublished cell is that sum.
    floor_rows: sp.csr_matrix | None = None
    row_floors: np.ndarray | None = None
    # Per link row, the unknown it defines as the sum of the row's others (-1: a link of another kind). Such a row
    # binds nothing in an LP where no other row uses that unknown: the LPs leave it out (the département's sums of
    # secret_model couple every commune: with them, the cell LPs of an audit with little published ran 9× slower on
    # the sample's 2025) and complete their solutions' sums after (_complete).
    sums: np.ndarray | None = None
    # (links, sums, what _complete needs of them): computed once (_sum_links)
    _sum_links: tuple | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def n_cells(self) -> int:
        return self.cells.shape[0]

    @property
    def n_vars(self) -> int:
        return self.cells.shape[1]


@dataclass
class IntervalAudit:
    """Outcome of an interval audit; cell indices refer to the table's rows."""

    n_required: int  # requirements (cell sides) audited
    n_proven: int
    failed: dict[int, dict] = field(default_factory=dict)  # cell -> {"haut"|"bas": {exigence, borne, valeur}}
    unaudited: list[int] = field(default_factory=list)  # cells not decided before the deadline
    pending_sides: list[tuple[int, str]] = field(default_factory=list)  # their undecided sides ('haut' / 'bas')
    n_batch_lps: int = 0
    n_cell_lps: int = 0
    n_certified: int = 0  # sides proven by a certificate of the protection rounds, checked afresh (no LP)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed and not self.unaudited

    @property
    def n_failed_sides(self) -> int:
        return sum(len(sides) for sides in self.failed.values())

    def to_dict(self, limit: int = 50) -> dict:
        return {"n_exigences": self.n_required, "n_prouvees": self.n_proven, "n_echecs": len(self.failed),
                "n_non_auditees": len(self.unaudited), "echecs": {str(k): v for k, v in list(self.failed.items())[:limit]},
                "n_prouvees_par_certificat": self.n_certified, "lp_groupes": self.n_batch_lps,
                "lp_cellule": self.n_cell_lps, "secondes": round(self.seconds, 3),
                "ok": self.ok}


@dataclass
class Certificate:
    """A table the reader could not rule out when it proved some sides: `base` + `step` · d. More suppression only
    widens the reader's set, so it may prove them again on a later pattern — once checked against that pattern
    (`certified`)."""

    base: np.ndarray
    step: float = 0.0
    direction: tuple[np.ndarray, np.ndarray] | None = None  # d as (indices, values): the unknowns it moves

    @classmethod
    def along(cls, base: np.ndarray, step: float, d: np.ndarray) -> Certificate:
        moved = np.flatnonzero(d)
        return cls(base, step, (moved, d[moved].copy()))

    def table(self) -> np.ndarray:
        if self.direction is None:
            return self.base
        y = self.base.copy()
        idx, values = self.direction
        y[idx] += self.step * values
        return y


def _allowance(values: np.ndarray) -> np.ndarray:
    """How far from its published value the reader lets a published cell be (rounding of calibrated sums)."""
    return 1e-7 * np.maximum(1.0, np.abs(values))


def tolerance(values: np.ndarray) -> np.ndarray:
    """Floating sums of calibrated values: a bound within 1e-6 (relative) of its requirement meets it."""
    return 1e-6 * np.maximum(1.0, np.abs(values))


def _until(h, deadline: float) -> None:
    """Let the next run of `h` go on until `deadline` (time.perf_counter()). HiGHS checks its time_limit against the
    run time the object has accumulated over all its runs, not against this run's: a limit of just the time left
    stops every run at once as soon as an object re-solved many times has run longer than that (HiGHS issues #1331,
    #1477; it left 85 cells unaudited with 157 s of budget unused on a sample run)."""
    h.setOptionValue("time_limit", h.getRunTime() + max(deadline - time.perf_counter(), 0.01))


def _highs(time_left: float, *, warm: bool = False):
    """A quiet one-thread HiGHS.

    `warm`: a model re-solved many times after small changes. Devex pricing then: dual steepest-edge pricing
    recomputes its weights (one solve per row) whenever a warm re-solve needs an iteration, ≈ 40 ms per solve on the
    sample's protection model, most of the solve."""
    import highspy

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("time_limit", max(float(time_left), 0.01))  # (a new object: no run time yet)
    # Presolve without its parallel rows and columns rule (HiGHS' presolve_rule_off bit 13): with it, the basis
    # postsolve restores for the original LP was often far from optimal, and the simplex ran again from it — on the
    # sample's 2025, a batch LP of 13 111 iterations spent 6 150 of them after postsolve; its 16 batch models took
    # 151 494 iterations in all, 121 553 without the rule (same optima).
    h.setOptionValue("presolve_rule_off", PRESOLVE_RULES_OFF)
    if warm:
        h.setOptionValue("simplex_dual_edge_weight_strategy", 1)
    return h


def _primal_from_now(h) -> None:
    """After a model's cold solve, re-solves that change only its costs: the last basis stays primal feasible, so the
    primal simplex goes on from it where the dual starts over (dual phase 1). On the sample's 2025, 16 cell LPs took
    2 s instead of 60 s, almost all in the cold solve."""
    h.setOptionValue("simplex_strategy", 4)


def _pass(h, a: sp.spmatrix, col_lower, col_upper, row_lower, row_upper, cost) -> None:
    import highspy

    a = sp.csc_matrix(a)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = a.shape[1], a.shape[0]
    lp.col_cost_ = np.asarray(cost, float)
    lp.col_lower_ = np.asarray(col_lower, float)
    lp.col_upper_ = np.asarray(col_upper, float)
    lp.row_lower_ = np.asarray(row_lower, float)
    lp.row_upper_ = np.asarray(row_upper, float)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr
    lp.a_matrix_.index_ = a.indices
    lp.a_matrix_.value_ = a.data
    h.passModel(lp)


def _solved(h) -> bool:
    import highspy

    return h.getModelStatus() == highspy.HighsModelStatus.kOptimal


def _unbounded(h) -> bool:
    """The LP's objective is unbounded (the true table is feasible, so « unbounded or infeasible » is unbounded)."""
    import highspy

    return h.getModelStatus() in (highspy.HighsModelStatus.kUnbounded,
                                  highspy.HighsModelStatus.kUnboundedOrInfeasible)


def floored_cells(table: LinearTable) -> np.ndarray:
    """The cells the reader knows a lower bound of (LinearTable.floors)."""
    if table.floors is None:
        return np.zeros(table.n_cells, bool)
    return ~np.isnan(table.floors)


def has_floors(table: LinearTable) -> bool:
    """The reader knows a lower bound of some cell or sum of unknowns."""
    return bool(floored_cells(table).any()) or (table.floor_rows is not None and table.floor_rows.shape[0] > 0)


def lower_bounds(table: LinearTable, skip: np.ndarray | None = None) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Every lower bound the reader knows as rows F x ≥ g: the floored cells (but those of `skip`), then the
    floor_rows. Returns (F, g, the true table's F x): a cell's own value, which its floor never exceeds."""
    low = floored_cells(table)
    if skip is not None:
        low &= ~np.asarray(skip, bool)
    low = np.flatnonzero(low)
    rows = [table.cells[low]]
    bounds = [table.floors[low] if len(low) else np.zeros(0)]
    current = [table.values[low]]
    if table.floor_rows is not None and table.floor_rows.shape[0]:
        rows.append(table.floor_rows)
        bounds.append(np.asarray(table.row_floors, float))
        current.append(table.floor_rows @ table.x)
    return sp.vstack(rows).tocsr(), np.concatenate(bounds), np.concatenate(current)


def minimum_from_floors(table: LinearTable) -> np.ndarray:
    """Per cell, a least value the known lower bounds alone give, without an LP (0: none found): the sum of the floors
    (less the reader's allowance, as _published_rows) of the bounded sums the cell holds whole, these sums disjoint.

    Unknowns that a link makes the sum of others (a commune × type total, a département's sum) are first written as
    their parts (_leaf_expansion), so that a total holds the detail its bounds are on; bounded sums that nest (a
    commune's total within its APE pairs' rows, or around them) count the larger of the outer floor and the inner
    ones' sum. Valid whatever else the reader knows: every unknown is ≥ 0, so a cell is at least any set of disjoint
    sums inside it. On the sample's 2019 it gave exactly the bound of each of the 448 sides that URSSAF's figures
    narrow (192 exact LPs, 3.6 s, found them before). A cell or sum whose expansion is not 0/1 gets nothing."""
    out = np.zeros(table.n_cells)
    if not has_floors(table):
        return out
    rows, floors, _ = lower_bounds(table)
    expand = _leaf_expansion(table, rows)
    bounded, cells = (rows @ expand).tocsr(), (table.cells @ expand).tocsr()
    usable = _zero_one(bounded) & (floors > 0)
    floors = np.where(usable, floors - _allowance(floors), 0.0)
    # identical sums: the highest floor; then only sums that nest or are disjoint (a partial overlap drops both)
    first = _same_rows(bounded)
    best = np.zeros(len(floors))
    np.maximum.at(best, first, floors)
    keep = usable & (first == np.arange(len(first)))
    b = sp.csr_matrix((np.ones(bounded.nnz), bounded.indices, bounded.indptr), shape=bounded.shape)[keep]
    floors = best[keep]
    if not len(floors):
        return out
    size = np.diff(b.indptr)
    overlap = sp.triu(b @ b.T, k=1).tocoo()
    inner = np.minimum(size[overlap.row], size[overlap.col])
    partial = overlap.data < inner
    ok = np.ones(len(floors), bool)
    ok[overlap.row[partial]] = ok[overlap.col[partial]] = False
    # each sum's parent: the smallest sum holding it; a sum's value is its floor or its children's, the larger
    parent = np.full(len(floors), -1)
    nested = ~partial & ok[overlap.row] & ok[overlap.col]
    small = np.where(size[overlap.row] < size[overlap.col], overlap.row, overlap.col)[nested]
    large = np.where(size[overlap.row] < size[overlap.col], overlap.col, overlap.row)[nested]
    for s, g in sorted(zip(small.tolist(), large.tolist()), key=lambda p: -size[p[1]]):
        parent[s] = g  # the smallest holder last
    value, children = floors.copy(), np.zeros(len(floors))
    for f in np.argsort(size, kind="stable"):
        value[f] = max(floors[f], children[f])
        if parent[f] >= 0:
            children[parent[f]] += value[f]
    value[~ok] = 0.0
    # per cell, the sums it holds whole whose parent it does not hold
    hit = (b @ sp.csr_matrix((np.ones(cells.nnz), cells.indices, cells.indptr), shape=cells.shape).T).tocsr()
    rows_of = np.repeat(np.arange(hit.shape[0]), np.diff(hit.indptr))
    whole = hit.data == size[rows_of]
    held = sp.csr_matrix((whole.astype(float), hit.indices, hit.indptr), shape=hit.shape)
    held.eliminate_zeros()
    has_parent = parent >= 0
    outer = held[np.where(has_parent, parent, 0)].multiply(has_parent[:, None]).tocsr()
    maximal = held - held.multiply(outer > 0)
    out = np.asarray(maximal.T @ value).ravel()
    out[~_zero_one(cells)] = 0.0
    return out


def _zero_one(m: sp.csr_matrix) -> np.ndarray:
    """Rows of `m` whose every coefficient is 1."""
    bad = np.zeros(m.shape[0], bool)
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    bad[rows[np.abs(m.data - 1.0) > 1e-12]] = True
    return ~bad


def _leaf_expansion(table: LinearTable, rows: sp.csr_matrix) -> sp.csr_matrix:
    """n_vars × n_vars: each unknown as the unknowns it sums (itself when no link defines it), to the leaves. An
    unknown that several links define (a commune × type total is the sum of its sector codes and of its size
    classes) is written by the one holding most unknowns of `rows` (the bounds); a link that is no non-negative sum
    defines nothing."""
    n = table.n_vars
    links = sp.csr_matrix(table.links)
    in_rows = np.zeros(n, bool)
    in_rows[rows.indices] = True
    choice: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}
    for i in range(links.shape[0]):
        idx = links.indices[links.indptr[i]:links.indptr[i + 1]]
        data = links.data[links.indptr[i]:links.indptr[i + 1]]
        if table.sums is not None and table.sums[i] >= 0:
            k = int(table.sums[i])
        elif np.sum(data < 0) == 1:
            k = int(idx[data < 0][0])
        else:
            continue
        own = float(data[idx == k][0])
        parts = idx != k
        coef = -data[parts] / own
        if not len(coef) or np.any(coef <= 0):
            continue
        score = int(in_rows[idx[parts]].sum())
        if k not in choice or score > choice[k][0]:
            choice[k] = (score, idx[parts], coef)
    defined = np.zeros(n, bool)
    defined[list(choice)] = True
    keys = sorted(choice)
    r = np.concatenate([np.flatnonzero(~defined)] + [np.full(len(choice[k][1]), k) for k in keys])
    c = np.concatenate([np.flatnonzero(~defined)] + [choice[k][1] for k in keys])
    v = np.concatenate([np.ones(int((~defined).sum()))] + [choice[k][2] for k in keys])
    expand = sp.csr_matrix((v, (r, c)), shape=(n, n))
    for _ in range(16):  # sums of sums: a few levels (département ← commune ← codes)
        deeper = (expand @ expand).tocsr()
        if (deeper != expand).nnz == 0:
            return expand
        expand = deeper
    raise RuntimeError("the secret model's links define unknowns in a cycle (a bug)")


def _lp_rows(table: LinearTable, published: np.ndarray, interest: np.ndarray):
    """_published_rows for an LP, less the links defining sums (LinearTable.sums) that no other row uses, nor any
    cell of `interest` (those the LP may optimise or constrain)."""
    a, lower, upper = _published_rows(table, published)
    n_links = table.links.shape[0]
    keep = np.concatenate([_needed_links(table, a[n_links:], interest), np.ones(a.shape[0] - n_links, bool)])
    return a[keep], lower[keep], upper[keep]


def _needed_links(table: LinearTable, rows: sp.csr_matrix, interest: np.ndarray) -> np.ndarray:
    """The link rows an LP of `rows` whose objective or targets are cells of `interest` needs: all of them, less those
    defining a sum (LinearTable.sums) that neither uses."""
    if table.sums is None:
        return np.ones(table.links.shape[0], bool)
    used = np.zeros(table.n_vars, bool)
    used[sp.csr_matrix(rows).indices] = True
    used[table.cells[np.flatnonzero(interest)].indices] = True
    return (table.sums < 0) | used[np.maximum(table.sums, 0)]


def _complete(table: LinearTable, x: np.ndarray) -> np.ndarray:
    """x with every sum unknown (LinearTable.sums) set to the sum its link defines: a solution of an LP that left the
    link out (_lp_rows) is then a table of the whole model."""
    if table.sums is None:
        return x
    k, links, own = _sum_links(table)
    x = x.copy()
    x[k] = 0.0
    x[k] = -(links @ x) / own
    return x


def _sum_links(table: LinearTable) -> tuple[np.ndarray, sp.csr_matrix, np.ndarray]:
    """(the sum unknowns, the links defining them, each one's coefficient in its link), once per table: _complete
    runs after every LP (12 000 times for the tests' small samples, where selecting the rows each time took 2 s)."""
    cached = table._sum_links
    if cached is None or cached[0] is not table.links or cached[1] is not table.sums:
        rows = np.flatnonzero(table.sums >= 0)
        links = table.links[rows]
        own = np.asarray(links[np.arange(len(rows)), table.sums[rows]]).ravel()
        cached = table._sum_links = (table.links, table.sums, (table.sums[rows], links, own))
    return cached[2]


def _row(m: sp.csr_matrix, j: int) -> tuple[np.ndarray, np.ndarray]:
    """The columns and values of row j of a CSR matrix, as stored (scipy's row indexing costs ≈ 0.1 ms a call)."""
    lo, hi = m.indptr[j], m.indptr[j + 1]
    return m.indices[lo:hi], m.data[lo:hi]


def _row_value(m: sp.csr_matrix, j: int, x: np.ndarray) -> float:
    """(m @ x)[j] to the last bit: summed in the row's stored order, one term after the other, as scipy's product
    sums it (np.cumsum adds in sequence; np.dot and np.sum would not)."""
    columns, coefficients = _row(m, j)
    return float(np.cumsum(coefficients * x[columns])[-1]) if len(columns) else 0.0


def _published_rows(table: LinearTable, published: np.ndarray):
    """The reader's rows: links, published cells (with a rounding allowance), then the known lower bounds of the
    other cells and of the floor rows."""
    pub = np.flatnonzero(published)
    low, floors, _ = lower_bounds(table, skip=published)
    a = sp.vstack([table.links, table.cells[pub], low]).tocsr()
    v = table.values[pub]
    eps = _allowance(v)
    lower = np.concatenate([np.zeros(table.links.shape[0]), v - eps, floors - _allowance(floors)])
    upper = np.concatenate([np.zeros(table.links.shape[0]), v + eps, np.full(len(floors), INF)])
    return a, lower, upper


class _Proofs:
    """Which requirement sides are proven; any table (x) or perturbation (d) can prove some."""

    def __init__(self, table: LinearTable, upper: np.ndarray, lower: np.ndarray,
                 certificates: list[Certificate] | None = None, any_side: bool = False):
        self.table, self.upper, self.lower = table, upper, lower
        self.any_side = any_side  # one side proven settles the cell: its other side is no longer needed
        tol = tolerance(table.values)
        self.need_up = ~np.isnan(upper) & (upper > table.values + tol)
        self.need_low = ~np.isnan(lower) & (lower < table.values - tol)
        self.tol = tol
        self.certificates = certificates  # when given, every table that proves a side is kept there

    def _prove(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mark the sides the cell values `s` (of a table the reader cannot rule out) prove; the newly proven."""
        up = self.need_up & (s >= self.upper - self.tol)
        low = self.need_low & (s <= self.lower + self.tol)
        settled = (up | low) if self.any_side else None
        self.need_up &= ~(up if settled is None else settled)
        self.need_low &= ~(low if settled is None else settled)
        return up, low

    def from_table(self, x: np.ndarray) -> None:
        up, low = self._prove(self.table.cells @ x)
        if self.certificates is not None and (up.any() or low.any()):
            self.certificates.append(Certificate(x.copy()))

    def from_perturbation(self, d: np.ndarray, published: np.ndarray | None = None) -> None:
        """x + t·d is feasible for t in [t_lo, t_hi] (non-negativity, and every cell still `published` staying
        within the reader's rounding allowance); every cell moves by t·(S d)."""
        x = self.table.x
        neg, pos = d < -1e-12, d > 1e-12
        t_hi = np.min(x[neg] / -d[neg]) if neg.any() else INF
        t_lo = -np.min(x[pos] / d[pos]) if pos.any() else -INF
        move = self.table.cells @ d
        if has_floors(self.table):
            # a cell or sum the reader knows a lower bound of must stay above it (less the allowance of
            # _published_rows)
            rows, floors, current = lower_bounds(self.table)
            slack = current - floors + _allowance(floors) / 2
            m = rows @ d
            if (m < -1e-12).any():
                t_hi = min(t_hi, float(np.min(slack[m < -1e-12] / -m[m < -1e-12])))
            if (m > 1e-12).any():
                t_lo = max(t_lo, -float(np.min(slack[m > 1e-12] / m[m > 1e-12])))
        if published is not None and published.any():
            # a published cell the perturbation moves by less than the suppression threshold stays published:
            # scaling d must keep it within what the reader allows (_published_rows), or the table proves nothing
            moved = np.abs(move[published])
            allowance = _allowance(self.table.values[published])
            if (moved > 0).any():
                t_max = float(np.min(allowance[moved > 0] / moved[moved > 0]))
                t_hi, t_lo = min(t_hi, t_max), max(t_lo, -t_max)
        for t in (t_hi, t_lo):
            if not np.isfinite(t):
                t = 1e12 if t > 0 else -1e12
            up, low = self._prove(self.table.values + t * move)
            if self.certificates is not None and (up.any() or low.any()):
                # the table kept moves no further than the sides it proved need (a shorter step, better numbers)
                needed = np.concatenate([(self.upper - self.tol - self.table.values)[up] / move[up],
                                         (self.lower + self.tol - self.table.values)[low] / move[low]])
                step = min(abs(t), float(np.max(np.abs(needed))) * (1 + 1e-9))
                self.certificates.append(Certificate.along(x, np.sign(t) * step, d))

    def settle_unbounded(self, j: int) -> None:
        """The reader cannot bound cell j from above: its upper side is proven (and with any_side, the cell)."""
        self.need_up[j] = False
        if self.any_side:
            self.need_low[j] = False

    @property
    def pending(self) -> int:
        return int(self.need_up.sum() + self.need_low.sum())

    def requirements(self) -> tuple[np.ndarray, np.ndarray]:
        """(upper, lower) of the sides still unproven (NaN for the others), for an audit of those alone."""
        return np.where(self.need_up, self.upper, np.nan), np.where(self.need_low, self.lower, np.nan)

    def restrict_to(self, sides: list[tuple[int, str]]) -> None:
        """An audit left `sides` pending: every other side is proven."""
        up, low = np.zeros_like(self.need_up), np.zeros_like(self.need_low)
        for j, side in sides:
            (up if side == "haut" else low)[j] = True
        self.need_up &= up
        self.need_low &= low


def certified(table: LinearTable, published: np.ndarray, upper: np.ndarray, lower: np.ndarray,
              certificates: list[Certificate], kept: list[Certificate] | None = None, *,
              any_side: bool = False) -> _Proofs:
    """The sides proven by those certificates that are tables of the reader's set for `published`, each checked
    afresh against it: x ≥ 0, L x = 0, every published cell within its allowance (up to the feasibility tolerance
    HiGHS grants the LP solutions the audit accepts, relative to the row's magnitude). A certificate that fails
    proves nothing; how it was found does not matter. `kept` receives the tables that proved a side."""
    proofs = _Proofs(table, upper, lower, kept, any_side)
    if not certificates or not proofs.pending:
        return proofs
    a, row_lo, row_hi = _published_rows(table, published)
    magnitude = abs(a)
    for certificate in certificates:
        y = certificate.table()
        if np.any(y < -FEASIBILITY):
            continue
        r = a @ y
        slack = FEASIBILITY * np.maximum(1.0, magnitude @ np.abs(y))
        if np.any(r < row_lo - slack) or np.any(r > row_hi + slack):
            continue
        proofs.from_table(y)
        if not proofs.pending:
            break
    return proofs


def audit(table: LinearTable, published: np.ndarray, upper: np.ndarray, lower: np.ndarray, *,
          deadline: float, max_batch_rounds: int = 6, cell_lps: bool = True,
          certificates: list[Certificate] | None = None, min_share: float = 0.0,
          any_side: bool = False) -> IntervalAudit:
    """Check every requirement (max ≥ upper, min ≤ lower) of the cells given what `published` reveals.

    Uses only the published cells' values (and the structure): the true unknowns are not read. With
    `cell_lps=False` only the batch LPs run and what they leave is reported as unaudited (a quick first pass).
    `certificates`, when given, receives every table that proved a side. `min_share`: a batch LP proving fewer than
    this share of the sides pending counts as a stall (two in a row end the batch LPs), as one proving fewer than
    MIN_BATCH_PROOFS does. `any_side`: a cell is settled by either side proven (a search for cells the reader
    knows both ways, not an audit of requirements): its other side is neither solved nor reported."""
    t0 = time.perf_counter()
    proofs = _Proofs(table, upper, lower, certificates, any_side)
    n_required = proofs.pending
    if n_required == 0:
        return IntervalAudit(0, 0, seconds=time.perf_counter() - t0)
    a, row_lo, row_hi = _lp_rows(table, published, proofs.need_up | proofs.need_low)
    n_vars = table.n_vars
    result = IntervalAudit(n_required, 0)
    # batch LPs, one side at a time, each side's model kept and re-solved warm: its cells proven since leave the
    # objective (cost 0: their t is then free below and binds nothing)
    models: dict[str, _BatchModel] = {}
    stalled = 0  # rounds in a row that proved (almost) nothing
    for side in ("up", "low") * (2 * max_batch_rounds):  # sides alternate: a table pushed down proves cells up too
        need = proofs.need_up if side == "up" else proofs.need_low
        if stalled >= 2 or not proofs.pending or time.perf_counter() >= deadline:
            break
        if not need.any():
            continue
        before = proofs.pending
        if side not in models:
            models[side] = _BatchModel(table, a, row_lo, row_hi, need, upper if side == "up" else lower, side,
                                       deadline)
        x = models[side].solve(need, deadline)
        result.n_batch_lps += 1
        if x is not None:
            proofs.from_table(_complete(table, x))
        log.info("batch %s: %d still pending (%.1f s)", side, proofs.pending, time.perf_counter() - t0)
        # a round costs about as much as a few dozen single-cell LPs: one proving fewer is not worth repeating, nor
        # one proving a small share of what is pending (the protection LPs take those for less)
        stalled = stalled + 1 if before - proofs.pending < max(MIN_BATCH_PROOFS, min_share * before) else 0
    # the rest, one LP per cell side on the reader's model
    if cell_lps and proofs.pending and time.perf_counter() < deadline:
        log.info("cell LPs for %d requirements (%.1f s)", proofs.pending, time.perf_counter() - t0)
        h = _highs(deadline - time.perf_counter())  # cold first solve: steepest edge pays off
        _pass(h, a, np.zeros(n_vars), np.full(n_vars, INF), row_lo, row_hi, np.zeros(n_vars))
        last: np.ndarray | None = None
        # cells that sum the same unknowns share their min and max: one LP per amount and side (_same_rows)
        pending_cells = np.flatnonzero(proofs.need_up | proofs.need_low)
        amount = dict(zip(pending_cells.tolist(), pending_cells[_same_rows(table.cells[pending_cells])].tolist()))
        optimum: dict[tuple[int, str], np.ndarray | None] = {}  # None: unbounded
        for side in ("up", "low"):
            for j in np.flatnonzero(proofs.need_up if side == "up" else proofs.need_low):
                if not (proofs.need_up[j] if side == "up" else proofs.need_low[j]):
                    continue  # proven by an earlier solution
                if time.perf_counter() >= deadline:
                    break
                key = (amount[int(j)], side)
                if key in optimum:  # a copy of an amount already solved: the same optimum
                    x = optimum[key]
                    if x is None:
                        proofs.settle_unbounded(j)
                        continue
                else:
                    columns, _ = _row(table.cells, j)
                    if last is not None:
                        h.changeColsCost(len(last), last.astype(np.int32), np.zeros(len(last)))
                    _until(h, deadline)
                    h.changeColsCost(len(columns), columns.astype(np.int32),
                                     np.full(len(columns), -1.0 if side == "up" else 1.0))
                    last = columns
                    h.run()
                    if not result.n_cell_lps:
                        _primal_from_now(h)
                    result.n_cell_lps += 1
                    if side == "up" and _unbounded(h):
                        proofs.settle_unbounded(j)  # the reader cannot bound the cell from above at all
                        optimum[key] = None
                        continue
                    if not _solved(h):
                        log.warning("cell LP %d (%s): HiGHS status %s", j, side,
                                    h.modelStatusToString(h.getModelStatus()))
                        continue
                    x = _complete(table, np.asarray(h.getSolution().col_value))
                    optimum[key] = x
                    proofs.from_table(x)
                still = proofs.need_up[j] if side == "up" else proofs.need_low[j]
                if still:
                    bound = _row_value(table.cells, j, x)
                    required = float(upper[j] if side == "up" else lower[j])
                    result.failed.setdefault(int(j), {})["haut" if side == "up" else "bas"] = {
                        "exigence": required, "borne": bound, "valeur": float(table.values[j])}
                    if side == "up":
                        proofs.need_up[j] = False
                    else:
                        proofs.need_low[j] = False
    pending = np.flatnonzero(proofs.need_up | proofs.need_low)
    result.unaudited = [int(j) for j in pending if int(j) not in result.failed]
    result.pending_sides = ([(int(j), "haut") for j in np.flatnonzero(proofs.need_up)]
                            + [(int(j), "bas") for j in np.flatnonzero(proofs.need_low)])
    result.n_proven = n_required - result.n_failed_sides - len(result.unaudited)
    result.seconds = time.perf_counter() - t0
    return result


def _same_rows(rows: sp.csr_matrix) -> np.ndarray:
    """For each row of `rows`, the index of the first row with the same unknowns and coefficients (itself when
    none): cells that sum the same unknowns — the same establishments seen under several perimeters, families or
    nomenclatures — are one amount for the reader, proven together by any table."""
    rows = sp.csr_matrix(rows)
    rows.sort_indices()
    first: dict[tuple[bytes, bytes], int] = {}
    group = np.empty(rows.shape[0], np.int64)
    for i in range(rows.shape[0]):
        lo, hi = rows.indptr[i], rows.indptr[i + 1]
        group[i] = first.setdefault((rows.indices[lo:hi].tobytes(), rows.data[lo:hi].tobytes()), i)
    return group


class _BatchModel:
    """max Σ_g m_g t_g / r_g  s.t. the reader's equalities;  t_g − sgn·S_g x ≤ −sgn·v_g;  t_g ≤ r_g;  x ≥ 0.

    One t per distinct amount among the cells that needed this side when the model was built (_same_rows: on the
    sample's 2025, 27 177 cells needing their upper side are 5 628 amounts): r_g is the largest move its cells need
    (the one proving them all), m_g how many of them are still needed. `solve` gives weight only to those, so the
    same HiGHS model is re-solved from its last basis round after round."""

    def __init__(self, table: LinearTable, a, row_lo, row_hi, need: np.ndarray, target: np.ndarray, side: str,
                 deadline: float):
        self.cells = np.flatnonzero(need)
        self.n_vars = table.n_vars
        rows = table.cells[self.cells]
        first = _same_rows(rows)
        reps, self.group = np.unique(first, return_inverse=True)  # group of each cell, in order of first cell
        r_cell = np.abs(target[self.cells] - table.values[self.cells])
        self.r = np.zeros(len(reps))
        np.maximum.at(self.r, self.group, r_cell)
        v = table.values[self.cells[reps]]
        sgn = 1.0 if side == "up" else -1.0
        k = len(reps)
        t_rows = sp.hstack([-sgn * rows[reps], sp.identity(k, format="csr")])
        full = sp.vstack([sp.hstack([a, sp.csr_matrix((a.shape[0], k))]), t_rows]).tocsr()
        self.h = _highs(deadline - time.perf_counter())  # cold first solve: steepest edge pays off
        self.cold_iterations: int | None = None  # simplex iterations of the first solve
        _pass(self.h, full, np.concatenate([np.zeros(self.n_vars), np.full(k, -INF)]),
              np.concatenate([np.full(self.n_vars, INF), self.r]),
              np.concatenate([row_lo, np.full(k, -INF)]), np.concatenate([row_hi, -sgn * v]),
              np.concatenate([np.zeros(self.n_vars), self._cost(need)]))

    def _cost(self, need: np.ndarray) -> np.ndarray:
        still = np.bincount(self.group, weights=need[self.cells].astype(float), minlength=len(self.r))
        return -still / self.r

    def solve(self, need: np.ndarray, deadline: float) -> np.ndarray | None:
        """A table of the reader's set pushing the cells still in `need` as far as the model allows, or None."""
        cost = self._cost(need)
        idx = (self.n_vars + np.arange(len(self.r))).astype(np.int32)
        self.h.changeColsCost(len(idx), idx, cost)
        _until(self.h, deadline)
        if self.cold_iterations is not None:
            # A warm re-solve needing more simplex iterations than twice the cold solve is better given up (it
            # proves nothing: a stall): one with a single cell left in its objective ran over 3 min of dual phase 1 on
            # the sample's 2025 (a cold solve: ≈ 15 000 iterations, 3–7 s). Counted in iterations, not seconds:
            # the same inputs give the same pattern.
            self.h.setOptionValue("simplex_iteration_limit", max(2 * self.cold_iterations, MIN_WARM_ITERATIONS))
        self.h.run()
        if self.cold_iterations is None:
            self.cold_iterations = int(self.h.getInfo().simplex_iteration_count)
            _primal_from_now(self.h)
        if not _solved(self.h):
            return None
        return np.asarray(self.h.getSolution().col_value)[: self.n_vars]


@dataclass
class Protection:
    published: np.ndarray  # final pattern
    suppressed: list[int]  # cells suppressed by protection LPs, in order
    audit: IntervalAudit | None
    rounds: int
    n_protection_lps: int
    seconds: float
    certificates: list[Certificate] = field(default_factory=list, repr=False)  # tables proving the final pattern

    def to_dict(self) -> dict:
        return {"n_secondaire_lp": len(self.suppressed), "tours": self.rounds, "lp_protection": self.n_protection_lps,
                "secondes": round(self.seconds, 3), "audit": self.audit.to_dict() if self.audit else None}


def protect(table: LinearTable, published: np.ndarray, upper: np.ndarray, lower: np.ndarray,
            weights: np.ndarray, *, deadline: float, max_rounds: int = 1000, fixed: np.ndarray | None = None,
            _retried: bool = False) -> Protection:
    """Suppress more published cells (cost `weights` per unit of change) until every requirement holds.

    `published` is the starting pattern (True = shown). `fixed`: cells of `published` the reader knows whatever is
    suppressed (published elsewhere): they are never suppressed, and a perturbation must leave them where they are.
    Returns the final pattern and its audit; when the deadline passes first, that audit is not ok and the caller
    must not publish.

    Each round audits only the sides still unproven (batch LPs) and gives them, up to _round_limit, a protection
    LP whose perturbation proves it (suppressing the published cells it moves): a side proven by a table the reader
    cannot rule out stays proven as the pattern shrinks. Those proofs only steer the suppression: every requirement
    is audited again on the final pattern (the kept tables checked afresh against it, then batch LPs and exact
    per-cell LPs for the sides none proves), and the sides that audit refuses go back to protection rounds once."""
    t0 = time.perf_counter()
    published = published.copy()
    fixed = np.zeros(len(published), bool) if fixed is None else np.asarray(fixed, bool)
    if np.any(fixed & ~published):
        raise ValueError("protect: a fixed cell must be in the published pattern (the reader knows it)")
    certificates: list[Certificate] = []
    proofs = _Proofs(table, upper, lower, certificates)
    tol = tolerance(table.values)
    suppressed: list[int] = []
    n_lps, n_batch, rounds = 0, 0, 0
    while proofs.pending and rounds < max_rounds and time.perf_counter() < deadline:
        rounds += 1
        quick = audit(table, published, *proofs.requirements(), deadline=deadline, cell_lps=False,
                      certificates=certificates, min_share=MIN_BATCH_SHARE)
        n_batch += quick.n_batch_lps
        proofs.restrict_to(quick.pending_sides)
        if not proofs.pending or time.perf_counter() >= deadline:
            break
        pending = quick.pending_sides
        before = (proofs.pending, int(published.sum()))
        model = _ProtectionModel(table, published, weights, deadline, fixed, _cells_of(pending, len(published)))
        log.info("protection round %d: %d requirement sides (%.1f s)", rounds, len(pending), time.perf_counter() - t0)
        round_lps, limit = 0, _round_limit(len(pending))
        for j, side in pending:
            side = "up" if side == "haut" else "low"
            if not (proofs.need_up[j] if side == "up" else proofs.need_low[j]):
                continue  # proven by an earlier perturbation of this round
            if time.perf_counter() >= deadline or round_lps >= limit:
                break
            round_lps += 1
            target = upper[j] if side == "up" else lower[j]
            # half the audit's tolerance short of the requirement: asking for the exact bound fails on a cell whose
            # requirement is its own extreme (a lower bound of 0 reached only with every unknown at 0)
            d = model.solve(j, side, max(abs(target - table.values[j]) - tol[j] / 2, 0.0))
            n_lps += 1
            if d is None:
                continue
            move = np.abs(table.cells @ d)
            # a published cell the perturbation moves beyond half the reader's allowance is suppressed: a cell left
            # published must stay within what the reader allows, or the perturbation proves nothing
            changed = np.flatnonzero(published & ~fixed & (move > _allowance(table.values) / 2))
            published[changed] = False
            suppressed.extend(int(k) for k in changed)
            model.free(changed)
            proofs.from_perturbation(d, published)
        if (proofs.pending, int(published.sum())) == before:
            break  # nothing moved: the final audit's exact per-cell LPs decide what is left
    # The proof: every requirement audited again on the final pattern — the rounds' bookkeeping only steered the
    # suppression. Sides it refuses go back to protection rounds.
    final, kept = certified_audit(table, published, upper, lower, certificates, deadline=deadline)
    n_batch += final.n_batch_lps
    refused = [(j, side) for j, sides in final.failed.items() for side in sides] + final.pending_sides
    if refused and rounds < max_rounds and time.perf_counter() < deadline and not _retried:
        again_up, again_low = np.full(len(upper), np.nan), np.full(len(lower), np.nan)
        for j, side in refused:
            (again_up if side == "haut" else again_low)[j] = (upper if side == "haut" else lower)[j]
        again = protect(table, published, again_up, again_low, weights, deadline=deadline,
                        max_rounds=max_rounds - rounds, fixed=fixed, _retried=True)
        published, suppressed = again.published, suppressed + again.suppressed
        final, kept = certified_audit(table, published, upper, lower, certificates + kept + again.certificates,
                                      deadline=deadline)
        rounds, n_lps, n_batch = rounds + again.rounds, n_lps + again.n_protection_lps, n_batch + final.n_batch_lps
    final.n_batch_lps = n_batch
    final.seconds = time.perf_counter() - t0
    return Protection(published, suppressed, final, rounds, n_lps, time.perf_counter() - t0, kept)


def _round_limit(n_pending: int) -> int:
    """How many protection LPs a round runs at most, given the sides its batch audit left pending (see ROUND_SHARE)."""
    return max(LPS_PER_ROUND, int(np.ceil(ROUND_SHARE * n_pending)))


def _cells_of(sides: list[tuple[int, str]], n: int) -> np.ndarray:
    mask = np.zeros(n, bool)
    mask[[j for j, _ in sides]] = True
    return mask


def certified_audit(table: LinearTable, published: np.ndarray, upper: np.ndarray, lower: np.ndarray,
                    certificates: list[Certificate], *, deadline: float,
                    any_side: bool = False) -> tuple[IntervalAudit, list[Certificate]]:
    """The audit of every requirement given candidate proofs: each certificate checked afresh against `published`
    (`certified`), then the full audit (batch LPs, exact per-cell LPs) of the sides none of them proves. Also
    returns the tables that proved the sides, checked or found: the certificates of this pattern."""
    t0 = time.perf_counter()
    n_required = _Proofs(table, upper, lower).pending
    kept: list[Certificate] = []
    proofs = certified(table, published, upper, lower, certificates, kept, any_side=any_side)
    result = audit(table, published, *proofs.requirements(), deadline=deadline, certificates=kept,
                   any_side=any_side)
    result.n_certified = n_required - proofs.pending
    result.n_required, result.n_proven = n_required, result.n_proven + result.n_certified
    result.seconds = time.perf_counter() - t0
    return result, kept


class _ProtectionModel:
    """min Σ w_g (p_g + n_g)  s.t.  L d = 0;  S_g d − p_g + n_g = 0 (published amounts g);  S_f d ≥ floor_f − v_f
    (cells f with a known lower bound, and the floor rows likewise);  d ≥ −x;  target row.

    Published cells that sum the same unknowns (_same_rows) are one amount g, whose move costs the sum of their
    weights (exactly the LP with one row per cell, smaller). Masked and never-published cells have no row: they may
    move freely, down to their known lower bound. A cell suppressed during the round costs 0 from then on. An amount
    with a fixed cell (known to the reader from elsewhere) has p_g = n_g = 0: it cannot move."""

    def __init__(self, table: LinearTable, published: np.ndarray, weights: np.ndarray, deadline: float,
                 fixed: np.ndarray | None = None, targets: np.ndarray | None = None):
        self.table, self.deadline = table, deadline
        cells = np.flatnonzero(published)
        reps, group = np.unique(_same_rows(table.cells[cells]), return_inverse=True)
        self.rows = cells[reps]
        self.pos = {int(k): int(g) for k, g in zip(cells, group)}
        nv, nk = table.n_vars, len(self.rows)
        self.nv, self.nk = nv, nk
        self.weights = np.asarray(weights, float)
        self.cost = np.bincount(group, weights=self.weights[cells], minlength=nk)
        self.freed: set[int] = set()
        eye = sp.identity(nk, format="csr")
        low, floors, current = lower_bounds(table)
        # the links of sums that neither these rows nor the target cells use bind nothing (_lp_rows)
        links = table.links[_needed_links(table, sp.vstack([table.cells[self.rows], low]),
                                          np.ones(len(published), bool) if targets is None else targets)]
        a = sp.vstack([
            sp.hstack([links, sp.csr_matrix((links.shape[0], 2 * nk))]),
            sp.hstack([table.cells[self.rows], -eye, eye]),
            sp.hstack([low, sp.csr_matrix((low.shape[0], 2 * nk))]),
        ])
        stuck = np.zeros(nk, bool)
        if fixed is not None:
            stuck[group[np.asarray(fixed, bool)[cells]]] = True
        movable = np.where(stuck, 0.0, INF)
        n_eq = links.shape[0] + nk
        room = floors - current  # ≤ 0: how far down each may go
        self.h = _highs(deadline - time.perf_counter(), warm=True)
        _pass(self.h, a, np.concatenate([-table.x, np.zeros(2 * nk)]),
              np.concatenate([np.full(nv, INF), movable, movable]),
              np.concatenate([np.zeros(n_eq), room]), np.concatenate([np.zeros(n_eq), np.full(len(floors), INF)]),
              np.concatenate([np.zeros(nv), self.cost, self.cost]))
        # the untargeted optimum (d = 0): every protection LP starts from its basis (see solve)
        self.h.run()
        self.origin = self.h.getBasis() if _solved(self.h) else None

    def free(self, cells: np.ndarray) -> None:
        """Suppressed cells: moving them costs nothing any more."""
        touched = set()
        for k in cells:
            k = int(k)
            if k in self.pos and k not in self.freed:
                self.freed.add(k)
                g = self.pos[k]
                self.cost[g] = max(self.cost[g] - self.weights[k], 0.0)
                touched.add(g)
        if not touched:
            return
        pos = np.array(sorted(touched), dtype=np.int64)
        idx = np.concatenate([self.nv + pos, self.nv + self.nk + pos]).astype(np.int32)
        self.h.changeColsCost(len(idx), idx, np.concatenate([self.cost[pos], self.cost[pos]]))

    def solve(self, j: int, side: str, r: float) -> np.ndarray | None:
        """A perturbation moving cell j by at least r up ('up') or down ('low'), or None."""
        h = self.h
        _until(h, self.deadline)
        if self.origin is not None:
            # From the basis of d = 0, not from the last target's optimum: the dual simplex then only builds j's
            # perturbation instead of also undoing the last one (first 60 LPs of the sample's 2025: 40 138 simplex
            # iterations → 3 290, 24 s → 3 s)
            h.setBasis(self.origin)
        columns, coefficients = _row(self.table.cells, j)
        lo, hi = (r, INF) if side == "up" else (-INF, -r)
        h.addRow(lo, hi, len(columns), columns.astype(np.int32), coefficients.astype(float))
        h.run()
        ok = _solved(h)
        d = _complete(self.table, np.asarray(h.getSolution().col_value)[: self.nv]) if ok else None
        h.deleteRows(1, np.array([h.getNumRow() - 1], dtype=np.int32))
        return d
