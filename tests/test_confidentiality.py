"""Statistical confidentiality: primary rules, secondary suppression and the exact audit.

Known answers are worked out by hand in the comments; the property tests check the module against an
independent brute force (null space of the equations by SVD, with equations rebuilt here from the hierarchies).
"""

from __future__ import annotations

import itertools
import os
import time

import numpy as np
import pandas as pd
import pytest

from ess.errors import UserError
from transforms.confidentiality import (
    DOMINANCE,
    FREQUENCE,
    SECONDAIRE,
    Rules,
    audit,
    build_relations,
    load_rules,
    protect,
    relation_gaps,
    territory_groups,
)

RULES = Rules(frequency_threshold=3, dominance_share=0.85)


@pytest.fixture(autouse=True, scope="module")
def single_threaded_blas():
    """The brute-force SVDs are small: OpenBLAS threads only fight the other xdist worker (10-100× slower)."""
    try:
        import ctypes
        from pathlib import Path

        lib = ctypes.CDLL(str(next((Path(np.__file__).parent.parent / "numpy.libs").glob("libscipy_openblas*"))))
        get, put = lib.scipy_openblas_get_num_threads64_, lib.scipy_openblas_set_num_threads64_
        get.restype = ctypes.c_int
    except (OSError, StopIteration, AttributeError):
        yield  # another BLAS build: just slower
        return
    before = get()
    put(1)
    yield
    put(before)


# ------------------------------------------------------------------------------------------- helpers


def table(dims: list[str], leaves: dict[tuple, float], hierarchies: dict) -> pd.DataFrame:
    """A full table: the leaf values plus every total, computed by summing (totals of totals included)."""
    codes = {d: set() for d in dims}
    for key in leaves:
        for d, c in zip(dims, key):
            codes[d].add(c)
    parents = {d: {p: list(ch) for p, ch in hierarchies.get(d, [])} for d in dims}
    for d in dims:
        codes[d] |= set(parents[d])

    def leaf_codes(d, c):
        if c not in parents[d]:
            return [c]
        return [x for ch in parents[d][c] for x in leaf_codes(d, ch)]

    rows = []
    for key in itertools.product(*(sorted(codes[d]) for d in dims)):
        expanded = itertools.product(*(leaf_codes(d, c) for d, c in zip(dims, key)))
        rows.append((*key, float(sum(leaves.get(k, 0.0) for k in expanded))))
    df = pd.DataFrame(rows, columns=[*dims, "valeur"])
    df["unites"] = df["valeur"]  # a count: each unit counts 1
    return df


def dense_equations(df: pd.DataFrame, dims: list[str], hierarchies: dict) -> np.ndarray:
    """The equations total - Σ parts = 0 rebuilt independently of the module (dicts, no pandas merges)."""
    index = {tuple(r): i for i, r in enumerate(df[dims].astype(str).itertuples(index=False, name=None))}
    rows = []
    for d_pos, d in enumerate(dims):
        others = sorted({k[:d_pos] + k[d_pos + 1 :] for k in index})
        for parent, children in hierarchies.get(d, []):
            for o in others:
                row = np.zeros(len(df))
                for code, coef in [(parent, 1.0)] + [(c, -1.0) for c in children]:
                    i = index.get(o[:d_pos] + (code,) + o[d_pos:])
                    if i is not None:
                        row[i] = coef
                if row.any():
                    rows.append(row)
    return np.array(rows)


def svd_recoverable(A: np.ndarray, hidden: np.ndarray) -> set[int]:
    """Suppressed cells fixed by the published ones: zero rows of a null-space basis of A restricted to them."""
    idx = np.flatnonzero(hidden)
    if len(idx) == 0:
        return set()
    AH = A[:, idx]
    AH = AH[np.abs(AH).sum(axis=1) > 0]
    if len(AH) == 0:
        return set()
    if len(AH) < AH.shape[1]:  # pad so that vt is square: the null space needs all of V
        AH = np.vstack([AH, np.zeros((AH.shape[1] - len(AH), AH.shape[1]))])
    _, s, vt = np.linalg.svd(AH, full_matrices=False)
    rank = int((s > 1e-9 * max(s.max(), 1.0)).sum())
    null = vt[rank:].T  # columns span the null space
    if null.shape[1] == 0:
        return set(idx.tolist())
    return set(idx[np.linalg.norm(null, axis=1) < 1e-8].tolist())


def statuses(result, dims):
    out = result.cells
    return {tuple(r[d] for d in dims): r["statut_secret"] for _, r in out.iterrows() if r["statut_secret"] is not None}


TWO_BY_TWO = {"ligne": [("T", ["r1", "r2"])], "colonne": [("T", ["c1", "c2"])]}


# ---------------------------------------------------------------------------------------------- rules


def test_rules_come_from_the_reference_file():
    rules = load_rules()
    assert rules == Rules(frequency_threshold=3, dominance_share=0.85, protection_share=0.15, protection_minimum=1.0,
                         protection_floor=0.01)
    # protection interval: 15 % of the value on each side, at least 1 job
    assert rules.protection(np.array([0.0, 4.0, 100.0])).tolist() == [1.0, 1.0, 15.0]
    # what a reader's minimum must reach: value − protection, down to 0.01 job (a cell of less has no requirement)
    assert rules.lower_requirement(np.array([0.005, 0.5, 4.0, 100.0])).tolist() == [0.005, 0.01, 3.0, 85.0]


PROTECTION_LINES = "protection,part_valeur,0.15\nprotection,minimum_absolu,1\nprotection,plancher,0.01\n"


def test_bad_rules_file_names_the_file(tmp_path):
    bad = tmp_path / "secret.csv"
    bad.write_text("regle,parametre,valeur\nfrequence,seuil_unites,trois\ndominance,part_max_contributeur,0.85\n"
                   + PROTECTION_LINES)
    with pytest.raises(UserError, match="secret.csv.*not a number"):
        load_rules(bad)
    bad.write_text("regle,parametre,valeur\nfrequence,seuil_unites,3\n" + PROTECTION_LINES)
    with pytest.raises(UserError, match="dominance/part_max_contributeur"):
        load_rules(bad)
    bad.write_text("regle,parametre,valeur\nfrequence,seuil_unites,3\ndominance,part_max_contributeur,0.85\n"
                   "protection,part_valeur,1.5\nprotection,minimum_absolu,1\nprotection,plancher,0.01\n")
    with pytest.raises(UserError, match="part_valeur must be in"):
        load_rules(bad)


# ------------------------------------------------------------------------------------------ primary


def test_two_by_two_with_margins_suppresses_the_four_inner_cells():
    # inner cells r1c1=2 (< 3 units), r1c2=5, r2c1=7, r2c2=9; margins r1=7, r2=16, c1=9, c2=14, T=23.
    df = table(["ligne", "colonne"], {("r1", "c1"): 2, ("r1", "c2"): 5, ("r2", "c1"): 7, ("r2", "c2"): 9}, TWO_BY_TWO)
    res = protect(df, dimensions=["ligne", "colonne"], value="valeur", contributors="unites",
                  hierarchies=TWO_BY_TWO, rules=RULES)
    assert statuses(res, ["ligne", "colonne"]) == {
        ("r1", "c1"): FREQUENCE, ("r1", "c2"): SECONDAIRE, ("r2", "c1"): SECONDAIRE, ("r2", "c2"): SECONDAIRE,
    }
    out = res.cells.set_index(["ligne", "colonne"])
    assert out.loc[("r1", "T"), "valeur"] == 7 and out.loc[("T", "c2"), "valeur"] == 14
    assert out.loc[("r1", "c1"), "valeur"] != out.loc[("r1", "c1"), "valeur"]  # NaN
    # Proof of non-recoverability: v = (+1 r1c1, -1 r1c2, -1 r2c1, +1 r2c2) leaves every margin unchanged, so
    # (x + t·v) is consistent with the published cells for every t: each inner cell can take infinitely many values.
    hidden = res.cells["statut_secret"].notna().to_numpy()
    A = dense_equations(df, ["ligne", "colonne"], TWO_BY_TWO)
    v = np.zeros(len(df))
    for (r, c), sign in {("r1", "c1"): 1, ("r1", "c2"): -1, ("r2", "c1"): -1, ("r2", "c2"): 1}.items():
        v[df.index[(df.ligne == r) & (df.colonne == c)][0]] = sign
    assert np.allclose(A @ v, 0) and np.all(v[hidden] != 0)
    assert svd_recoverable(A, hidden) == set()
    assert res.audit.ok and res.audit.n_recoverable == 0
    # Fewer than 4 cannot work: with 2 or 3 inner cells suppressed some row or column holds a single one.


def test_dominance_rule_and_its_threshold():
    # employment cells: (value, contributing establishments, largest establishment)
    df = pd.DataFrame({
        "cellule": ["dominee", "limite", "petite", "vide"],
        "effectif": [10.0, 10.0, 10.0, 0.0],
        "nb": [5, 5, 2, 0],
        "max_etab": [9.0, 8.5, 9.0, 0.0],
    })
    res = protect(df, dimensions=["cellule"], value="effectif", contributors="nb", max_contributor="max_etab",
                  hierarchies={}, rules=RULES)
    # 9 > 85 % of 10 -> dominance; exactly 85 % is allowed; frequency wins over dominance; 0/0 is a structural zero
    assert res.cells["statut_secret"].tolist() == [DOMINANCE, None, FREQUENCE, None]
    assert res.stats["n_dominance"] == 1 and res.stats["n_frequence"] == 1


def test_structural_zero_is_published_and_not_used_as_partner():
    # one line a + b + c = T: a has 1 unit; b is empty (0 units, 0 value); c = 5.
    h = {"col": [("T", ["a", "b", "c"])]}
    df = table(["col"], {("a",): 1, ("b",): 0, ("c",): 5}, h)
    res = protect(df, dimensions=["col"], value="valeur", contributors="unites", hierarchies=h, rules=RULES)
    assert statuses(res, ["col"]) == {("a",): FREQUENCE, ("c",): SECONDAIRE}
    # a cell with a value of 0 but 2 contributing units (2 establishments without employees) is not a structural zero
    df2 = pd.DataFrame({"k": ["x"], "effectif": [0.0], "nb": [2]})
    res2 = protect(df2, dimensions=["k"], value="effectif", contributors="nb", hierarchies={}, rules=RULES)
    assert res2.cells["statut_secret"].tolist() == [FREQUENCE]


# --------------------------------------------------------------------------------------- secondary


NON_NESTED = {
    "territoire": [
        ("epci:E1", ["commune:a", "commune:b"]),
        ("epci:E2", ["commune:c", "commune:d"]),
        ("territoire:T1", ["commune:a", "commune:b", "commune:c"]),  # T1 cuts EPCI E2
        ("territoire:T2", ["commune:d"]),
        ("departement:D", ["commune:a", "commune:b", "commune:c", "commune:d"]),
    ]
}


def non_nested_table():
    return table(["territoire"], {("commune:a",): 5, ("commune:b",): 6, ("commune:c",): 1, ("commune:d",): 4},
                 NON_NESTED)


def test_non_nested_hierarchies_heuristic_alone_leaves_a_cell_recoverable():
    # Heuristic by hand: c (1 unit) is alone in E2, T1 and D. D: partners a, b, d all complete one equation,
    # d is the smallest (4) -> d; T2 = d then holds d alone -> T2; T1 holds c alone -> a (5 < 6); E1 holds a
    # alone -> b. Every equation now has 0 or >= 2 suppressed cells, yet c = T1 - E1, d = E2 - c, T2 = d.
    df = non_nested_table()
    res = protect(df, dimensions=["territoire"], value="valeur", contributors="unites",
                  hierarchies=NON_NESTED, rules=RULES, audit=False)
    assert set(statuses(res, ["territoire"])) == {("commune:a",), ("commune:b",), ("commune:c",), ("commune:d",),
                                                 ("territoire:T2",)}
    check = audit(res.cells, dimensions=["territoire"], hierarchies=NON_NESTED)
    bad = set(df["territoire"].iloc[check.recoverable])
    assert bad == {"commune:c", "commune:d", "territoire:T2"} and not check.ok
    hidden = res.cells["statut_secret"].notna().to_numpy()
    assert set(df["territoire"].iloc[sorted(svd_recoverable(dense_equations(df, ["territoire"], NON_NESTED), hidden))]) == bad


def test_non_nested_hierarchies_audit_fixes_it():
    # The audit certifies c = T1 - E1; E1 is pinned by E1 + E2 = D (all published), T1 is not: suppress T1.
    # Null space then: (a, b) = (1, -1) and (c, d, T1, T2) = (1, -1, 1, -1): every suppressed cell can move.
    df = non_nested_table()
    res = protect(df, dimensions=["territoire"], value="valeur", contributors="unites",
                  hierarchies=NON_NESTED, rules=RULES)
    assert statuses(res, ["territoire"]) == {
        ("commune:c",): FREQUENCE, ("commune:a",): SECONDAIRE, ("commune:b",): SECONDAIRE,
        ("commune:d",): SECONDAIRE, ("territoire:T1",): SECONDAIRE, ("territoire:T2",): SECONDAIRE,
    }
    assert res.audit.ok and res.stats["n_secondaire_audit"] == 1 and res.stats["tours_audit"] == 1
    hidden = res.cells["statut_secret"].notna().to_numpy()
    assert svd_recoverable(dense_equations(df, ["territoire"], NON_NESTED), hidden) == set()
    assert audit(res.cells, dimensions=["territoire"], hierarchies=NON_NESTED).ok


THREE_BY_THREE = {"ligne": [("T", ["r1", "r2", "r3"])], "colonne": [("T", ["c1", "c2", "c3"])]}
LEAVES_3X3 = {("r1", "c1"): 1, ("r1", "c2"): 4, ("r1", "c3"): 10, ("r2", "c1"): 6, ("r2", "c2"): 5,
              ("r2", "c3"): 20, ("r3", "c1"): 7, ("r3", "c2"): 9, ("r3", "c3"): 30}


def test_must_publish_cells_are_avoided():
    dims = ["ligne", "colonne"]
    df = table(dims, LEAVES_3X3, THREE_BY_THREE)
    # Without flags: r1c1 (1 unit) -> r1c2 (4, smallest in its row) and r2c1 (6, smallest in its column), then
    # r2c2 (5) closes both the column c2 and the row r2: the rectangle r1-r2 × c1-c2.
    free = protect(df, dimensions=dims, value="valeur", contributors="unites", hierarchies=THREE_BY_THREE, rules=RULES)
    assert set(statuses(free, dims)) == {("r1", "c1"), ("r1", "c2"), ("r2", "c1"), ("r2", "c2")}
    # r1c2 must be published: the row partner becomes r1c3 (10), and r2c3 (20) closes column c3 and row r2.
    df["obligatoire"] = (df.ligne == "r1") & (df.colonne == "c2")
    res = protect(df, dimensions=dims, value="valeur", contributors="unites", hierarchies=THREE_BY_THREE,
                  must_publish="obligatoire", rules=RULES)
    assert set(statuses(res, dims)) == {("r1", "c1"), ("r1", "c3"), ("r2", "c1"), ("r2", "c3")}
    assert res.stats["n_publication_obligatoire_supprimees"] == 0
    hidden = res.cells["statut_secret"].notna().to_numpy()
    assert svd_recoverable(dense_equations(df, dims, THREE_BY_THREE), hidden) == set()


def test_must_publish_yields_to_the_law():
    # a (1 unit) + b = T with b and T both flagged: a stays primary, and one flagged cell has to go (b, a part).
    h = {"col": [("T", ["a", "b"])]}
    df = table(["col"], {("a",): 1, ("b",): 5}, h)
    df["obligatoire"] = True
    res = protect(df, dimensions=["col"], value="valeur", contributors="unites", hierarchies=h,
                  must_publish="obligatoire", rules=RULES)
    assert statuses(res, ["col"]) == {("a",): FREQUENCE, ("b",): SECONDAIRE}
    assert res.stats["n_publication_obligatoire_supprimees"] == 2
    assert res.audit.ok


# ------------------------------------------------------------------------------------ random tables


def random_case(rng):
    """A random small table: communes in two non-nested groupings + total, families, sometimes sectors."""
    n_comm = int(rng.integers(3, 7))
    communes = [f"commune:{i}" for i in range(n_comm)]
    cut = int(rng.integers(1, n_comm))
    cut2 = int(rng.integers(1, n_comm))
    perm = rng.permutation(n_comm)
    g2a = sorted(communes[i] for i in perm[:cut2])
    g2b = sorted(communes[i] for i in perm[cut2:])
    terr = [("epci:A", communes[:cut]), ("epci:B", communes[cut:]),
            ("territoire:X", g2a), ("territoire:Y", g2b), ("departement:D", communes)]
    fams = ["f1", "f2"] if rng.random() < 0.5 else ["f1", "f2", "f3"]
    h = {"territoire": terr, "famille": [("ess", fams), ("ensemble", ["ess", "hors"])]}
    dims = ["territoire", "famille"]
    leaf_dims = [communes, fams + ["hors"]]
    if rng.random() < 0.4:
        h["secteur"] = [("tous", ["s1", "s2"])]
        dims.append("secteur")
        leaf_dims.append(["s1", "s2"])
    leaves = {k: float(rng.poisson(rng.choice([1.0, 3.0, 8.0]))) for k in itertools.product(*leaf_dims)}
    df = table(dims, leaves, h)
    df["obligatoire"] = rng.random(len(df)) < 0.1
    return df, dims, h


@pytest.mark.parametrize("seed", range(30))
def test_random_tables_leave_no_suppressed_cell_recoverable(seed):
    rng = np.random.default_rng(seed)
    df, dims, h = random_case(rng)
    res = protect(df, dimensions=dims, value="valeur", contributors="unites", hierarchies=h,
                  must_publish="obligatoire", rules=RULES)
    status = res.cells["statut_secret"]
    hidden = status.notna().to_numpy()
    # primary cells are all suppressed, with the frequency reason
    primary = (df["unites"] < 3) & ~((df["unites"] == 0) & (df["valeur"] == 0))
    assert (status[primary] == FREQUENCE).all() and (status[~primary & status.notna()] == SECONDAIRE).all()
    # published values untouched, suppressed ones masked
    assert res.cells.loc[~hidden, "valeur"].equals(df.loc[~hidden, "valeur"].astype(float))
    assert res.cells.loc[hidden, "valeur"].isna().all()
    # independent brute force: nothing recoverable
    A = dense_equations(df, dims, h)
    assert svd_recoverable(A, hidden) == set()
    assert res.audit.ok and audit(res.cells, dimensions=dims, hierarchies=h).ok
    # and no equation with exactly one suppressed cell
    assert not ((np.abs(A[:, hidden]) > 0).sum(axis=1) == 1).any()


@pytest.mark.parametrize("seed", range(20))
def test_audit_agrees_with_brute_force_on_arbitrary_patterns(seed):
    rng = np.random.default_rng(1000 + seed)
    df, dims, h = random_case(rng)
    df["statut_secret"] = np.where(rng.random(len(df)) < rng.uniform(0.1, 0.7), SECONDAIRE, None)
    result = audit(df, dimensions=dims, hierarchies=h)
    hidden = df["statut_secret"].notna().to_numpy()
    assert set(result.recoverable) == svd_recoverable(dense_equations(df, dims, h), hidden)
    assert result.n_suppressed == int(hidden.sum())


# -------------------------------------------------------------------------------- relations & errors


def test_relations_expand_over_the_other_dimensions():
    df = table(["ligne", "colonne"], {("r1", "c1"): 2, ("r1", "c2"): 5, ("r2", "c1"): 7, ("r2", "c2"): 9}, TWO_BY_TWO)
    rel = build_relations(df, ["ligne", "colonne"], TWO_BY_TWO)
    # T = r1 + r2 for each of the 3 column codes, and T = c1 + c2 for each of the 3 row codes
    assert rel.n_equations == 6 and len(rel.eq_cells) == 18
    assert sorted(rel.level.tolist()) == [0, 0, 0, 0, 1, 1, 1, 1, 2]
    assert len(relation_gaps(rel, df["valeur"].to_numpy(float))) == 0
    broken = df["valeur"].to_numpy(float).copy()
    broken[(df.ligne == "T").to_numpy() & (df.colonne == "T").to_numpy()] += 1
    assert len(relation_gaps(rel, broken)) == 2  # the grand total is the total of two equations


def test_absent_cells_are_treated_as_known():
    # c2 absent from the table (an empty cell left out): r1 = c1 + c2 then pins c1 = r1 -> c1 must hide with r1.
    h = {"col": [("T", ["c1", "c2"])]}
    df = pd.DataFrame({"col": ["c1", "T"], "valeur": [2.0, 2.0], "unites": [2, 2]})
    res = protect(df, dimensions=["col"], value="valeur", contributors="unites", hierarchies=h, rules=RULES)
    assert res.cells["statut_secret"].tolist() == [FREQUENCE, FREQUENCE]
    assert res.audit.ok


def test_linked_tables_with_unpublished_cells():
    # Two linked 1-D tables sharing their grand total: rows (r1, r2, T) and columns (c1, c2, T); the inner cells
    # are not in the table. Read as known (zeros), r1 = r1c1 + r1c2 pins r1 and nothing can protect it; read as
    # unpublished, hiding r2 suffices: (r1, r2, r1c1, r2c1) = (t, -t, t, -t) moves no published cell.
    df = pd.DataFrame({
        "ligne": ["r1", "r2", "T", "T", "T"], "colonne": ["T", "T", "c1", "c2", "T"],
        "valeur": [2.0, 10.0, 5.0, 7.0, 12.0],
    })
    df["unites"] = df["valeur"]
    kw = dict(dimensions=["ligne", "colonne"], value="valeur", contributors="unites", hierarchies=TWO_BY_TWO,
              rules=RULES)
    linked = protect(df, absent="unpublished", **kw)
    assert linked.cells["statut_secret"].tolist() == [FREQUENCE, SECONDAIRE, None, None, None]
    assert linked.audit.ok and linked.stats["n_cellules_virtuelles"] == 4
    assert audit(linked.cells, dimensions=["ligne", "colonne"], hierarchies=TWO_BY_TWO, absent="unpublished").ok
    dense = protect(df, **kw)
    assert not dense.audit.ok and 0 in dense.audit.recoverable  # r1 stays recoverable: reported, not hidden


def test_territory_groups_from_a_commune_table():
    # out_cube_communes is long: one row per commune and level; any level name is a level (a zoning's too)
    communes = pd.DataFrame([
        ("38001", "commune", "38001"), ("38002", "commune", "38002"), ("38003", "commune", "38003"),
        ("38001", "epci", "200"), ("38002", "epci", "200"), ("38003", "epci", "201"),
        ("38001", "zone_emploi", "8401"), ("38002", "zone_emploi", None), ("38003", "zone_emploi", "8401"),
        ("38001", "bassins_vie", "B1"), ("38002", "bassins_vie", "B2"), ("38003", "bassins_vie", "B2"),
    ], columns=["code_commune", "niveau", "code_territoire"])
    groups = territory_groups(communes)
    assert groups == [
        ("bassins_vie:B1", ["commune:38001"]),
        ("bassins_vie:B2", ["commune:38002", "commune:38003"]),
        ("epci:200", ["commune:38001", "commune:38002"]),
        ("epci:201", ["commune:38003"]),
        ("zone_emploi:8401", ["commune:38001", "commune:38003"]),
    ]
    with pytest.raises(UserError, match=r"territory_groups: the commune table has no column \['niveau', "
                                        r"'code_territoire'\]"):
        territory_groups(communes.rename(columns={"niveau": "level", "code_territoire": "code"}))


def test_mask_columns_and_output_shape():
    df = table(["ligne", "colonne"], {("r1", "c1"): 2, ("r1", "c2"): 5, ("r2", "c1"): 7, ("r2", "c2"): 9}, TWO_BY_TWO)
    df["part"] = 0.5
    res = protect(df, dimensions=["ligne", "colonne"], value="valeur", contributors="unites",
                  hierarchies=TWO_BY_TWO, rules=RULES, mask_columns=["part"], status_column="statut_secret_effectifs")
    out = res.cells
    assert list(out.columns) == [*df.columns, "statut_secret_effectifs"] and len(out) == len(df)
    hidden = out["statut_secret_effectifs"].notna()
    assert out.loc[hidden, "part"].isna().all() and (out.loc[~hidden, "part"] == 0.5).all()
    assert out.loc[~hidden, "statut_secret_effectifs"].map(lambda s: s is None).all()


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: pd.concat([d, d.head(1)]), "share their dimension codes"),
        (lambda d: d.assign(valeur=d["valeur"].where(d.index != 2)), "'valeur' is empty or not a number"),
        (lambda d: d.drop(columns="unites"), "no column"),
        (lambda d: d.assign(ligne=d["ligne"].where(d.index != 0)), "dimension column 'ligne' is NULL"),
    ],
)
def test_bad_tables_get_clear_errors(mutate, message):
    df = table(["ligne", "colonne"], {("r1", "c1"): 2, ("r1", "c2"): 5, ("r2", "c1"): 7, ("r2", "c2"): 9}, TWO_BY_TWO)
    with pytest.raises(UserError, match=message):
        protect(mutate(df), dimensions=["ligne", "colonne"], value="valeur", contributors="unites",
                hierarchies=TWO_BY_TWO, rules=RULES)


def test_bad_relations_get_clear_errors():
    df = table(["ligne", "colonne"], {("r1", "c1"): 2, ("r1", "c2"): 5, ("r2", "c1"): 7, ("r2", "c2"): 9}, TWO_BY_TWO)
    with pytest.raises(UserError, match="not a dimension"):
        build_relations(df, ["ligne", "colonne"], {"secteur": [("T", ["a"])]})
    with pytest.raises(UserError, match="part\\s+twice|a part twice"):
        build_relations(df, ["ligne", "colonne"], {"ligne": [("T", ["r1", "r1"])]})


# ------------------------------------------------------------------------------------ synthetic cube


def synthetic_cube(n_communes: int, n_sectors: int = 21, seed: int = 0):
    """Communes (EPCI, non-nested territoires, arrondissements, zones d'emploi, département) × 8 family codes ×
    (n_sectors + 1) sector codes, establishment counts drawn from a skewed commune size."""
    rng = np.random.default_rng(seed)
    i = np.arange(n_communes)
    n_epci = max(2, n_communes * 33 // 500)
    n_terr = max(2, n_communes * 8 // 500)
    shift = max(1, n_communes // (3 * n_terr))
    communes = pd.DataFrame({
        "code_commune": [f"{38000 + k:05d}" for k in i],
        "code_epci": (i * n_epci // n_communes).astype(str),
        "code_territoire": np.minimum((i + shift) * n_terr // n_communes, n_terr - 1).astype(str),
        "code_arrondissement": (i * 3 // n_communes).astype(str),
        "code_zone_emploi": ((i * 7 // max(1, n_communes // 30)) % 6).astype(str),
        "code_departement": "38",
    })
    levels = {"epci": "code_epci", "territoire": "code_territoire", "arrondissement": "code_arrondissement",
              "zone_emploi": "code_zone_emploi", "departement": "code_departement"}
    groups = territory_groups(pd.concat([
        pd.DataFrame({"code_commune": communes["code_commune"], "niveau": lvl, "code_territoire": communes[col]})
        for lvl, col in levels.items()], ignore_index=True))
    fams = ["associations", "cooperatives", "mutuelles", "fondations", "autres_organismes"]
    sects = [chr(ord("A") + k) for k in range(n_sectors)]
    size = rng.lognormal(0.0, 1.3, n_communes)
    weight = np.array([3.0, 0.5, 0.2, 0.1, 0.1, 12.0])  # 5 families then hors_ess
    leaf = rng.poisson(size[:, None, None] * weight[None, :, None] * rng.dirichlet(np.full(n_sectors, 0.7))[None, None, :] * 4)
    ess = leaf[:, :5].sum(axis=1, keepdims=True)
    by_family = np.concatenate([leaf[:, :5], ess, leaf[:, 5:6], ess + leaf[:, 5:6]], axis=1)
    full = np.concatenate([by_family, by_family.sum(axis=2, keepdims=True)], axis=2)
    pos = {f"commune:{c}": k for k, c in enumerate(communes["code_commune"])}
    member = np.zeros((len(groups), n_communes))
    for g, (_, children) in enumerate(groups):
        member[g, [pos[c] for c in children]] = 1
    full = np.concatenate([full, np.einsum("gc,cfs->gfs", member, full)], axis=0)
    terr_codes = list(pos) + [p for p, _ in groups]
    fam_codes = fams + ["ess", "hors_ess", "ensemble"]
    sec_codes = sects + ["ensemble"]
    t, f, s = np.meshgrid(np.arange(len(terr_codes)), np.arange(len(fam_codes)), np.arange(len(sec_codes)),
                          indexing="ij")
    df = pd.DataFrame({
        "territoire": np.array(terr_codes)[t.ravel()],
        "famille": np.array(fam_codes)[f.ravel()],
        "secteur": np.array(sec_codes)[s.ravel()],
        "nb_etablissements": full.ravel().astype(float),
    })
    df["nb_unites"] = df["nb_etablissements"]
    hierarchies = {
        "territoire": groups,
        "famille": [("ess", fams), ("ensemble", ["ess", "hors_ess"])],
        "secteur": [("ensemble", sects)],
    }
    return df, hierarchies


def test_small_synthetic_cube_is_protected():
    df, h = synthetic_cube(8, n_sectors=4)
    dims = ["territoire", "famille", "secteur"]
    res = protect(df, dimensions=dims, value="nb_etablissements", contributors="nb_unites", hierarchies=h, rules=RULES)
    assert res.stats["n_relations_non_additives"] == 0
    assert res.audit.ok
    hidden = res.cells["statut_secret"].notna().to_numpy()
    assert svd_recoverable(dense_equations(df, dims, h), hidden) == set()
    print(f"\n{len(df)} cells: {res.stats}")


@pytest.mark.skipif(not os.environ.get("ESS_BENCH_CONFIDENTIALITY"), reason="benchmark: set ESS_BENCH_CONFIDENTIALITY=<n communes>")
def test_benchmark_synthetic_cube():
    n = int(os.environ["ESS_BENCH_CONFIDENTIALITY"])
    t0 = time.perf_counter()
    df, h = synthetic_cube(n)
    res = protect(df, dimensions=["territoire", "famille", "secteur"], value="nb_etablissements",
                  contributors="nb_unites", hierarchies=h, rules=RULES)
    stats = {k: v for k, v in res.stats.items() if k != "audit"}
    print(f"\n{n} communes, {len(df)} cells, {time.perf_counter() - t0:.1f} s: {stats}")
    print(f"audit: {res.audit.to_dict() if res.audit else None}")
