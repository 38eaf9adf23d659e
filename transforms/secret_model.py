"""The indicator cube of one year, every perimeter at once, as sums of non-negative unknowns (for secret_lp).

Why unknowns and not cells: perimeters overlap. A cell « associations, perimeter loi2014 » and a cell
« associations, perimeter flag » share most of their establishments; published side by side, their difference
is a set of establishments that neither table shows. So every establishment gets a *type*: its family in each
perimeter, e.g. `associations|hors_ess|associations` for (flag, insee, loi2014) in that order. A cell of any
perimeter and family is the sum of some types (its *label*); the cell « ensemble » is the sum of all types and is
the same cell whatever the perimeter; two perimeters whose family holds the same types share that cell too (one
cell, one status). The unknowns are then, for each commune and type:

    X[c, t]                    its employment (all sectors, all sizes),
    x[c, t, secteur, (s, e)]   its employment in A21 section s and ESS sector e: a cell of section s sums the pairs
                               (s, ·), a cell of sector e the pairs (·, e) — both group the same NAF divisions,
    x[c, t, taille, k]         its employment in size class k,
    with Σ x[c, t, g, ·] = X[c, t] for each group g (the links); a (c, t) with a single code in a group has that
    detail equal to X[c, t] and no unknown of its own. The département's cells go through sums
    T[t] = Σ_c X[c, t] and D[t, g, ·] = Σ_c x[c, t, g, ·], each defined by a link (LinearTable.sums): they are the
    same cells, with far fewer non-zeros.

Only non-empty (commune, type[, pair or size]) exist as unknowns: SIRENE gives every establishment's commune, legal
category, ESS flag, NAF code and size band, so whoever reads it knows which of them is empty, a known 0. Every row
of out_indicateurs of the year maps to one cell: its territory's communes × its label's types × its code.
Relations between territories (every level of out_cube_communes: the COG's and the zonings', non-nested),
families, perimeters, sectors and sizes all follow from these sums; nothing else links the cells.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ess import db
from transforms.secret_lp import LinearTable

NOMENCLATURES = {"a21": "section_a21", "ess": "secteur_ess", "taille": "classe_taille"}
# The A21 sections and the ESS sectors group the same NAF divisions (data/reference/secteurs_ess.csv: « soutien aux
# entreprises » is M + N, « organisations associatives » lies inside S…): a reader who knows NAF ties the two
# breakdowns together, so their unknowns are per (section, ESS sector) pair. Sizes are a breakdown of their own.
DETAIL_GROUPS = {"secteur": ("a21", "ess"), "taille": ("taille",)}
CELL_KEY = ["niveau", "code_territoire", "label", "nomenclature", "code"]
ROW_KEY = ["niveau", "code_territoire", "famille", "nomenclature_secteur", "secteur", "classe_taille", "perimetre"]
MEASURES = ("effectif_central",)


@dataclass
class YearModel:
    cells: pd.DataFrame  # one row per cell: CELL_KEY + first cube row's columns (values, contributor figures)
    rows: pd.DataFrame  # the cube rows of the year (ROW_KEY) with their cell index `cellule`
    labels: dict[int, frozenset]  # label -> its types
    perimeters: list[str]
    tables: dict[str, LinearTable]  # per measure

    def label_of(self, perimetre: str, famille: str) -> int | None:
        return self._label_index.get((perimetre, famille))


def write_units(con, perimeters: list[str], years: list[int]) -> None:
    """Create out_secret_unites in `con` from out_cube_etablissements: the establishments of `years` grouped by
    year, commune, type (family in each perimeter, '|'-joined in sorted perimeter order) and sector codes, with
    their employment — the protection's unknowns, and what the check step re-audits the public table with.

    One query for every year, on one DuckDB thread and over establishments in siret order (sums in a fixed order,
    whatever the aggregate's hash order, ess.db.one_thread): per year in pandas,
    with each year's establishments handed to a worker process, it cost 15 CPU-s on the sample against 4."""
    perimeters = sorted(perimeters)
    with db.one_thread(con):
        con.execute(
            """CREATE OR REPLACE TEMP TABLE _secret_sirets AS
               SELECT annee::BIGINT AS annee, siret, any_value(code_commune) AS code_commune,
                      any_value(section_a21) AS section_a21, any_value(secteur_ess) AS secteur_ess,
                      any_value(classe_taille) AS classe_taille, any_value(effectif_central) AS effectif_central,
                      string_agg(famille, '|' ORDER BY perimetre) AS type,
                      string_agg(perimetre, '|' ORDER BY perimetre) AS perimetres
               FROM out_cube_etablissements
               WHERE list_contains($perimetres, perimetre) AND list_contains($years, annee)
               GROUP BY annee, siret
               ORDER BY annee, siret""", {"perimetres": perimeters, "years": [int(y) for y in years]})
        try:
            expected = "|".join(perimeters)
            bad = con.execute("SELECT count(*), min(siret) FROM _secret_sirets WHERE perimetres <> ?",
                              [expected]).fetchone()
            if bad[0]:
                raise RuntimeError(f"out_cube_etablissements: {bad[0]} establishment-year(s) lack a row for one of "
                                   f"the perimeters {perimeters} (e.g. {bad[1]}): the cube must hold every perimeter "
                                   "that is published")
            con.execute(
                """CREATE OR REPLACE TABLE out_secret_unites AS
                   SELECT annee, code_commune, type, section_a21, secteur_ess, classe_taille,
                          count(*) AS nb_etablissements, sum(effectif_central) AS effectif_central
                   FROM _secret_sirets GROUP BY ALL ORDER BY ALL""")
        finally:
            con.execute("DROP TABLE IF EXISTS _secret_sirets")


def year_units(con, year: int) -> pd.DataFrame:
    """The rows of out_secret_unites (write_units) of one year: `build`'s `est`."""
    return con.execute("SELECT * FROM out_secret_unites WHERE annee = ? ORDER BY ALL", [year]).df()


def _label_types(types: list[str], perimeters: list[str], famille: str, perimetre: str) -> frozenset:
    k = perimeters.index(perimetre)
    fam = [t.split("|")[k] for t in types]
    if famille == "ensemble":
        return frozenset(types)
    if famille == "ess":
        return frozenset(t for t, f in zip(types, fam) if f != "hors_ess")
    return frozenset(t for t, f in zip(types, fam) if f == famille)


def build(est: pd.DataFrame, cube: pd.DataFrame, communes: pd.DataFrame, perimeters: list[str],
          measures=MEASURES, scope=None) -> YearModel:
    """est: `year_units` of one year; cube: out_indicateurs rows of that year (those perimeters);
    communes: out_cube_communes (long: code_commune, niveau, code_territoire); scope(cells) -> bool mask of the cells
    to put in the tables' matrix (default all: `materialise` adds more later)."""
    perimeters = sorted(perimeters)
    types = sorted(est["type"].unique())
    # --- unknowns
    # Every commune has its own detail unknowns. The public table tells the communes of a territory apart only by
    # their totals, but SIRENE, a public register, gives each commune's number of establishments by type and code:
    # the reader knows which commune holds no establishment of a code, hence which unknowns are 0. Unknowns shared by
    # the communes of a class (as until 30/11/2026) were exact only for a reader without those counts: with them, a
    # per-commune audit bounded 34 masked cells of the sample's 2025 within their interval (METHOD.md § 6).
    known_communes = set(communes["code_commune"])
    missing = sorted(set(est["code_commune"]) - known_communes)
    if missing:
        raise RuntimeError(f"out_cube_communes lacks communes of out_cube_etablissements: {missing[:5]}")
    tot = est.groupby(["code_commune", "type"], sort=True)[list(measures)].sum().reset_index()
    tot["var"] = np.arange(len(tot))
    # Detail unknowns, per group of nomenclatures (DETAIL_GROUPS): one per commune × type × combination of the
    # group's codes, counted in one cell of each nomenclature of the group. A unit without a code still sums to its
    # total.
    est = est.fillna({col: "" for col in NOMENCLATURES.values()})
    det_vars = pd.concat([est.groupby(["code_commune", "type", *(NOMENCLATURES[n] for n in noms)], sort=True)
                          [list(measures)].sum().reset_index().assign(groupe=group)
                          for group, noms in DETAIL_GROUPS.items()], ignore_index=True)
    det_vars["parent"] = det_vars.merge(tot[["code_commune", "type", "var"]].rename(columns={"var": "_p"}),
                                        on=["code_commune", "type"], how="left")["_p"].to_numpy()
    # A commune × type with a single code in a group (one size, one pair: most small communes) has that detail
    # equal to its total: the detail is the total's unknown, with no link (an exact substitution, 10 % fewer columns
    # and rows on the sample's 2025).
    alone = ~det_vars.duplicated(["parent", "groupe"], keep=False).to_numpy()
    det_vars["var"] = det_vars["parent"]
    det_vars.loc[~alone, "var"] = len(tot) + np.arange(int((~alone).sum()))
    # memberships: (commune, type, nomenclature, code) -> unknown
    det = _memberships(det_vars, ["code_commune", "type"])
    # Département sums: per type, one unknown for its communes' totals and one per combination of each group's
    # codes, tied to them by a link. The département's cells (sums over every commune: 126 509 of the 177 729
    # non-zeros of the published cells on the sample's 2025) become sums of a few unknowns each.
    n_own = int((~alone).sum())
    codes = list(NOMENCLATURES.values())
    agg_tot = tot.groupby("type", sort=True)[list(measures)].sum().reset_index()
    agg_tot["var"] = len(tot) + n_own + np.arange(len(agg_tot))
    agg_det = det_vars.groupby(["type", "groupe", *codes], sort=True, dropna=False)[list(measures)].sum().reset_index()
    agg_det["var"] = len(tot) + n_own + len(agg_tot) + np.arange(len(agg_det))
    n_vars = len(tot) + n_own + len(agg_tot) + len(agg_det)
    agg = _memberships(agg_det, ["type"])
    # links: Σ_group's unknowns of (c, t) − X[c, t] = 0, then Σ_c X[c, t] − T[t] = 0 and Σ_c x[c, t, ·] − D[t, ·] = 0
    groups = det_vars.loc[~alone, ["parent", "groupe"]].drop_duplicates().reset_index(drop=True)
    groups["link"] = np.arange(len(groups))
    plus = det_vars[~alone].merge(groups, on=["parent", "groupe"])
    of_tot = tot[["type", "var"]].merge(agg_tot[["type", "var"]].rename(columns={"var": "sum"}), on="type")
    key = ["type", "groupe", *codes]
    of_det = det_vars[[*key, "var"]].merge(agg_det[[*key, "var"]].rename(columns={"var": "sum"}), on=key)
    sums = pd.concat([of_tot, of_det], ignore_index=True)
    sums["link"] = len(groups) + sums["sum"].rank(method="dense").astype(np.int64) - 1
    n_links = len(groups) + sums["sum"].nunique()
    ends = sums.drop_duplicates("sum")
    links = sp.csr_matrix(
        (np.concatenate([np.ones(len(plus)), -np.ones(len(groups)), np.ones(len(sums)), -np.ones(len(ends))]),
         (np.concatenate([plus["link"], groups["link"], sums["link"], ends["link"]]),
          np.concatenate([plus["var"], groups["parent"], sums["var"], ends["sum"]]))),
        shape=(n_links, n_vars))
    link_sums = np.full(n_links, -1, dtype=np.int64)
    link_sums[ends["link"].to_numpy()] = ends["sum"].to_numpy()
    # --- cells of the cube rows
    rows = cube.copy()
    label_index: dict[tuple[str, str], int] = {}
    labels: dict[frozenset, int] = {}
    for perimetre, famille in rows[["perimetre", "famille"]].drop_duplicates().itertuples(index=False):
        members = _label_types(types, perimeters, famille, perimetre)
        label_index[(perimetre, famille)] = labels.setdefault(members, len(labels))
    keys = pd.DataFrame([(p, f, i) for (p, f), i in label_index.items()], columns=["perimetre", "famille", "label"])
    rows = rows.merge(keys, on=["perimetre", "famille"], how="left", validate="many_to_one")
    rows["nomenclature"] = np.where(rows["nomenclature_secteur"] != "ensemble", rows["nomenclature_secteur"],
                                    np.where(rows["classe_taille"] != "ensemble", "taille", "ensemble"))
    rows["code"] = np.where(rows["nomenclature_secteur"] != "ensemble", rows["secteur"],
                            np.where(rows["classe_taille"] != "ensemble", rows["classe_taille"], "ensemble"))
    rows["cellule"] = rows.groupby(CELL_KEY, sort=True).ngroup()
    cells = rows.sort_values("cellule").drop_duplicates("cellule").reset_index(drop=True)
    terr = communes[["code_commune", "code_territoire", "niveau"]].reset_index(drop=True)
    # sorted: a frozenset of text iterates in an order that changes with each process (hash randomisation)
    lab = pd.DataFrame([(i, t) for members, i in labels.items() for t in sorted(members)], columns=["label", "type"])
    model = YearModel(cells, rows, {i: members for members, i in labels.items()}, perimeters, {})
    model._label_index = label_index
    model._parts = {"terr": terr, "lab": lab, "tot": tot, "det": det, "det_vars": det_vars, "links": links,
                    "agg_tot": agg_tot, "agg_det": agg_det, "agg": agg, "link_sums": link_sums, "n_vars": n_vars,
                    "measures": list(measures)}
    model.materialise(np.ones(len(cells), bool) if scope is None else np.asarray(scope(cells), bool))
    return model


def _memberships(unknowns: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """(keys…, var, code, nomenclature): each detail unknown once per nomenclature of its group that gives it a code
    (a sector pair counts in its section's cell and in its ESS sector's)."""
    return pd.concat([unknowns.loc[unknowns[col].notna(), [*keys, "var", col]].rename(columns={col: "code"})
                      .assign(nomenclature=nom) for nom, col in NOMENCLATURES.items()], ignore_index=True)


def label_inclusions(model: YearModel) -> pd.DataFrame:
    """(label, label_total) for every pair of labels where the second holds every type of the first (itself
    included): the families whose cells contain a cell's units."""
    members = model.labels
    return pd.DataFrame([(a, b) for a in members for b in members if members[a] <= members[b]],
                        columns=["label", "label_total"])


def _pairs(model: YearModel, which: np.ndarray) -> pd.DataFrame:
    """(cellule, var) for the cells `which`: territory's communes × label's types × code -> unknowns."""
    parts = model._parts
    con = db.connect(threads=1)  # sums in a fixed order (ess.db.one_thread)
    try:
        con.register("_cells", model.cells.loc[which, ["cellule", "niveau", "code_territoire", "label",
                                                        "nomenclature", "code"]])
        con.register("_terr", parts["terr"])
        con.register("_lab", parts["lab"])
        con.register("_tot", parts["tot"][["code_commune", "type", "var"]])
        con.register("_det", parts["det"][["code_commune", "type", "nomenclature", "code", "var"]])
        con.register("_agg_tot", parts["agg_tot"][["type", "var"]])
        con.register("_agg", parts["agg"][["type", "nomenclature", "code", "var"]])
        # the département's cells sum its sums' unknowns, the others their communes'
        return con.execute(
            """SELECT c.cellule, v.var
               FROM _cells c JOIN _terr t USING (niveau, code_territoire) JOIN _lab l USING (label)
                    JOIN _tot v ON v.code_commune = t.code_commune AND v.type = l.type
               WHERE c.nomenclature = 'ensemble' AND c.niveau <> 'departement'
               UNION ALL
               SELECT c.cellule, x.var
               FROM _cells c JOIN _terr t USING (niveau, code_territoire) JOIN _lab l USING (label)
                    JOIN _det x ON x.code_commune = t.code_commune AND x.type = l.type
                                   AND x.nomenclature = c.nomenclature AND x.code = c.code
               WHERE c.nomenclature <> 'ensemble' AND c.niveau <> 'departement'
               UNION ALL
               SELECT c.cellule, a.var FROM _cells c JOIN _lab l USING (label) JOIN _agg_tot a ON a.type = l.type
               WHERE c.nomenclature = 'ensemble' AND c.niveau = 'departement'
               UNION ALL
               SELECT c.cellule, a.var FROM _cells c JOIN _lab l USING (label)
                    JOIN _agg a ON a.type = l.type AND a.nomenclature = c.nomenclature AND a.code = c.code
               WHERE c.nomenclature <> 'ensemble' AND c.niveau = 'departement'""").df()
    finally:
        con.close()


def _materialise(self: YearModel, which: np.ndarray) -> None:
    """(Re)build the tables with the cells `which` as rows (other cells: empty rows, outside the LPs)."""
    parts = self._parts
    which = np.asarray(which, bool)
    pairs = _pairs(self, which)
    matrix = sp.csr_matrix((np.ones(len(pairs)), (pairs["cellule"].to_numpy(), pairs["var"].to_numpy())),
                           shape=(len(self.cells), parts["n_vars"]))
    self.rows_in_matrix = np.asarray(which, bool).copy()
    for measure in parts["measures"]:
        self.tables[measure] = LinearTable(matrix, parts["links"], self.cells[measure].fillna(0.0).to_numpy(float),
                                           _unknowns(parts, measure), sums=parts["link_sums"])


def _unknowns(parts: dict, measure: str) -> np.ndarray:
    """The true value of every unknown: the commune × type totals, the details that are unknowns of their own, the
    département's sums."""
    x = np.zeros(parts["n_vars"])
    x[parts["tot"]["var"].to_numpy()] = parts["tot"][measure].to_numpy(float)
    det = parts["det_vars"]
    own = (det["var"] >= len(parts["tot"])).to_numpy()
    x[det.loc[own, "var"].to_numpy()] = det.loc[own, measure].to_numpy(float)
    for sums in (parts["agg_tot"], parts["agg_det"]):
        x[sums["var"].to_numpy()] = sums[measure].to_numpy(float)
    return x


YearModel.materialise = _materialise


PAIR = [NOMENCLATURES[n] for n in DETAIL_GROUPS["secteur"]]


def pair_floor_rows(model: YearModel, known: pd.DataFrame, measure: str) -> tuple[sp.csr_matrix, np.ndarray,
                                                                                 pd.DataFrame]:
    """Lower bounds of commune × (section, sector) pairs, all kinds of units together: `known` (code_commune,
    section_a21, secteur_ess, effectif) gives a figure another publication holds for the pair. The bound is the
    smaller of that figure and ours (the true table stays feasible); a pair we hold nothing of, or a bound of 0,
    says nothing. Returns the rows over the unknowns
    (LinearTable.floor_rows), the bounds (row_floors) and the pairs bounded, with their `plancher`."""
    parts = model._parts
    det = parts["det_vars"]
    det = det[det["groupe"] == "secteur"]
    members = det[["code_commune", *PAIR, "var", measure]].merge(known[["code_commune", *PAIR]].drop_duplicates(),
                                                                on=["code_commune", *PAIR])
    ours = members.groupby(["code_commune", *PAIR], sort=True)[measure].sum().rename("ours").reset_index()
    pairs = known.groupby(["code_commune", *PAIR], sort=True)["effectif"].sum().reset_index().merge(
        ours, on=["code_commune", *PAIR])
    pairs["plancher"] = np.minimum(pairs["effectif"], pairs["ours"])
    pairs = pairs[pairs["plancher"] > 0].reset_index(drop=True)
    pairs["row"] = np.arange(len(pairs))
    entries = members.merge(pairs[["code_commune", *PAIR, "row"]], on=["code_commune", *PAIR])
    rows = sp.csr_matrix((np.ones(len(entries)), (entries["row"].to_numpy(), entries["var"].to_numpy())),
                         shape=(len(pairs), parts["n_vars"]))
    # the bound on the same sum as the rows give, so that the true table meets it exactly
    ours_exact = rows @ _unknowns(parts, measure)
    floors = np.minimum(pairs["effectif"].to_numpy(float), ours_exact)
    return rows, floors, pairs[["code_commune", *PAIR]].assign(plancher=floors)


def unknowns_fingerprint(model: YearModel) -> str:
    """What the model's unknowns are, in order (commune × type totals, then commune × type × code details; the
    département's sums follow from them): a table of unknowns (a certificate of secret_lp) found on one model is read
    on another only when both give the same fingerprint."""
    parts = model._parts
    digest = hashlib.sha256()
    for frame, key in ((parts["tot"], ["code_commune", "type"]),
                       (parts["det_vars"], ["code_commune", "type", "groupe", *NOMENCLATURES.values()])):
        # pandas' row hashes use a fixed key: the same rows give the same bytes in every process
        digest.update(pd.util.hash_pandas_object(frame[key].astype(str), index=False).to_numpy().tobytes())
        digest.update(b"\0")
    return digest.hexdigest()[:32]


# The code a swap moves, and the other code of its group, if any (DETAIL_GROUPS: a section and a sector make a pair).
SWAP_CODES = {nom: (NOMENCLATURES[nom], next((NOMENCLATURES[o] for o in noms if o != nom), None))
              for noms in DETAIL_GROUPS.values() for nom in noms}


def _codes(values: pd.Series, universe: pd.Index) -> np.ndarray:
    """Positions of `values` in `universe` (-1 when absent): integer keys join and group far faster than text."""
    return universe.get_indexer(values)


def _movable(det: pd.DataFrame, measure: str, pair_floors: pd.DataFrame | None) -> pd.DataFrame:
    """det_vars with `measure` replaced by how far each unknown may go down: a pair of a commune bounded from
    below (pair_floor_rows' `plancher`) lends only its slack above the bound, shared among its kinds of units in
    proportion to their employment (so that all of them together never take more than the slack)."""
    if pair_floors is None or pair_floors.empty:
        return det
    key = ["code_commune", *PAIR]
    sector = (det["groupe"] == "secteur").to_numpy()
    pair_total = det[sector].groupby(key, sort=False)[measure].sum().rename("_total")
    bounded = det[key].join(pair_total, on=key).join(pair_floors.set_index(key)["plancher"], on=key)
    total = bounded["_total"].to_numpy(float)
    slack = np.clip(total - bounded["plancher"].to_numpy(float), 0.0, None)
    x = det[measure].to_numpy(float)
    limited = sector & bounded["plancher"].notna().to_numpy() & (total > 0)
    return det.assign(**{measure: np.where(limited, x * slack / np.where(limited, total, 1.0), x)})


def swap_capacity(model: YearModel, which: np.ndarray, measure: str,
                  pair_floors: pd.DataFrame | None = None) -> tuple[np.ndarray, np.ndarray]:
    """How far each sector / size cell of a territory below the département can move up and down, whatever is
    published among territory totals and département cells: a closed-form feasible table.

    For a type t, a cell's code k (nomenclature n) and a detail unknown P = (k, f) of its group (f: the other code
    of the pair, SWAP_CODES), pick a partner Q = (q, g) with q ≠ k: move δ from Q to P in communes of the territory T
    and from P to Q in communes outside it, each commune holding both. Every commune total and every unknown's total
    over the département, hence every published cell at those levels, stays as it is. Per (T, t, P, Q):
        up   = min(Σ_{c in T} x[c, Q],  Σ_{c outside T} x[c, P])
        down = min(Σ_{c in T} x[c, P],  Σ_{c outside T} x[c, Q])
    over the communes holding both. A type's capacity is its best single swap, or the sum over f of the best swap
    with a partner of the same f (those move other unknowns and add up), whichever is larger; two partners could
    draw on the same mass, so no other sum is taken. A cell sums over its label's types (other unknowns). Every term
    above is mass that goes down; a commune's (section, sector) pair that the reader bounds from below
    (`pair_floors`: code_commune, section_a21, secteur_ess, plancher, from pair_floor_rows) lends only its slack above
    the bound (_movable). Returns (up, down) per cell of `which` (0 for the others, and for cells at the département
    or without a code)."""
    parts = model._parts
    cells = model.cells
    up = np.zeros(len(cells))
    down = np.zeros(len(cells))
    sel = which & (cells["nomenclature"] != "ensemble").to_numpy() & (cells["niveau"] != "departement").to_numpy()
    if not sel.any():
        return up, down
    det = _movable(parts["det_vars"], measure, pair_floors)
    communes = pd.Index(det["code_commune"].unique())
    types = pd.Index(det["type"].unique())
    terr = parts["terr"]
    territories = pd.MultiIndex.from_frame(terr[["niveau", "code_territoire"]].drop_duplicates())
    # the territory's communes, the label's types, as integer keys
    in_territory = pd.DataFrame({"territoire": territories.get_indexer(pd.MultiIndex.from_frame(
        terr[["niveau", "code_territoire"]])), "c": _codes(terr["code_commune"], communes)})
    in_territory = in_territory[in_territory["c"] >= 0]
    lab = parts["lab"].assign(t=_codes(parts["lab"]["type"], types))[["label", "t"]]
    lab = lab[lab["t"] >= 0]  # a type without detail has nothing to swap (and -1 would alias another key)
    targets = cells.loc[sel, ["cellule", "nomenclature", "code", "label"]].assign(
        territoire=territories.get_indexer(pd.MultiIndex.from_frame(cells.loc[sel, ["niveau", "code_territoire"]])))
    n_types = len(types)
    by_type = []
    for nom, (moving, other) in SWAP_CODES.items():
        wanted = targets[targets["nomenclature"] == nom]
        if wanted.empty:
            continue
        held = det.loc[det[moving].notna(), ["code_commune", "type", moving, *([other] if other else []), measure]]
        k_codes = pd.Index(held[moving].unique())
        f_codes = pd.Index(held[other].unique()) if other else pd.Index([""])
        n_k, n_f = len(k_codes), len(f_codes)
        one = pd.DataFrame({
            "ct": _codes(held["code_commune"], communes).astype(np.int64) * n_types + _codes(held["type"], types),
            "t": _codes(held["type"], types), "k": _codes(held[moving], k_codes),
            "f": _codes(held[other], f_codes) if other else 0, "x": held[measure].to_numpy(float)})
        both = one.merge(one[["ct", "k", "f", "x"]].rename(columns={"k": "q", "f": "g", "x": "x_q"}), on="ct")
        both = both[both["k"] != both["q"]]
        # one integer per swap (t, f, k, g, q)
        both["swap"] = (((both["t"].astype(np.int64) * n_f + both["f"]) * n_k + both["k"]) * n_f
                        + both["g"]) * n_k + both["q"]
        everywhere = both.groupby("swap", sort=False)[["x", "x_q"]].sum().rename(
            columns={"x": "all_x", "x_q": "all_xq"})
        wanted = wanted.assign(k=_codes(wanted["code"], k_codes))
        wanted = wanted[wanted["k"] >= 0].merge(lab, on="label").merge(in_territory, on="territoire")
        wanted["ct"] = wanted["c"].astype(np.int64) * n_types + wanted["t"]
        inside = wanted[["cellule", "ct", "k"]].merge(both, on=["ct", "k"]).groupby(
            ["cellule", "swap"], sort=False)[["x", "x_q"]].sum().reset_index()
        inside = inside.join(everywhere, on="swap")
        inside["up"] = np.minimum(inside["x_q"], inside["all_x"] - inside["x"]).clip(lower=0)
        inside["down"] = np.minimum(inside["x"], inside["all_xq"] - inside["x_q"]).clip(lower=0)
        swap = inside["swap"].to_numpy()
        inside["t"] = swap // (n_f * n_k * n_f * n_k)
        inside["f"] = swap // (n_k * n_f * n_k) % n_f
        inside["g"] = swap // n_k % n_f
        single = inside.groupby(["cellule", "t"], sort=False)[["up", "down"]].max()
        same_f = inside[inside["f"] == inside["g"]].groupby(["cellule", "t", "f"], sort=False)[["up", "down"]].max()
        by_f = same_f.groupby(level=["cellule", "t"]).sum().reindex(single.index, fill_value=0.0)
        by_type.append(np.maximum(single, by_f))
    if by_type:
        total = pd.concat(by_type).groupby(level="cellule").sum()
        up[total.index.to_numpy()] = total["up"].to_numpy()
        down[total.index.to_numpy()] = total["down"].to_numpy()
    return up, down


def floored_minimum(model: YearModel, which: np.ndarray, pair_floors: pd.DataFrame | None) -> np.ndarray:
    """Per sector cell of `which`, a lower bound of its value that the pair floors alone give (0 elsewhere): the sum
    of the floors (pair_floor_rows' `plancher`) of its territory's commune × pair whose pair holds the cell's code and
    whose every type is in the cell's label — then the cell holds the whole pair, which is at least its floor. (A pair
    that also holds other types can put its floor on them: it bounds nothing.) What a reader of URSSAF's file knows
    without anything of ours: a side proven down to this bound is all our publication leaves."""
    out = np.zeros(len(model.cells))
    cells = model.cells
    sel = which & cells["nomenclature"].isin(list(DETAIL_GROUPS["secteur"])).to_numpy()
    if pair_floors is None or pair_floors.empty or not sel.any():
        return out
    parts = model._parts
    key = ["code_commune", *PAIR]
    det = parts["det_vars"]
    held = det.loc[det["groupe"] == "secteur", [*key, "type"]].merge(pair_floors[[*key, "plancher"]], on=key)
    targets = cells.loc[sel, ["cellule", "niveau", "code_territoire", "label", "nomenclature", "code"]].merge(
        parts["terr"], on=["niveau", "code_territoire"])
    found = []
    for nom, (column, _) in ((n, SWAP_CODES[n]) for n in DETAIL_GROUPS["secteur"]):
        wanted = targets[targets["nomenclature"] == nom]
        if wanted.empty:
            continue
        rows = wanted[["cellule", "label", "code_commune", "code"]].merge(
            held.assign(code=held[column]), on=["code_commune", "code"])
        inside = rows.merge(parts["lab"].assign(_in=True), on=["label", "type"], how="left")["_in"].fillna(False)
        rows = rows.assign(_in=inside.to_numpy(bool))
        per_pair = rows.groupby(["cellule", *key], sort=False).agg(whole=("_in", "all"), plancher=("plancher", "first"))
        found.append(per_pair.loc[per_pair["whole"], "plancher"].groupby(level="cellule").sum())
    if found:
        total = pd.concat(found).groupby(level=0).sum()
        out[total.index.to_numpy()] = total.to_numpy()
    return out


def additivity_gaps(table: LinearTable, which: np.ndarray, rtol: float = 1e-7) -> np.ndarray:
    """Cells (among `which`, the rows in the matrix) whose value is not the sum of their unknowns: the model does not
    describe the cube (a bug)."""
    s = table.cells @ table.x
    bad = np.abs(s - table.values) > rtol * np.maximum(1.0, np.abs(table.values)) + 1e-6
    return np.flatnonzero(bad & which)
