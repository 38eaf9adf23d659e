"""The secrecy model knows what a reader who knows NAF knows: the A21 sections and the ESS sectors group the same NAF
divisions, so published cells of one breakdown bound the cells of the other. Found by an adversarial re-reading of
the sample's publication: with the two breakdowns tied only through their total, primary cells of 2025 could be
bounded within their protection interval (one recomputed exactly).

Hand-made département of two communes (one class each), one family: « soutien aux entreprises » = sections M + N.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from transforms import secret_lp, secret_model

# commune, section, ESS sector, size, employment (« soutien aux entreprises » = M + N; c1 and c2 in other EPCIs: one
# class each)
UNITS = [("c1", "M", "soutien_entreprises", "10_49", 19.0), ("c1", "N", "soutien_entreprises", "10_49", 55.0),
         ("c1", "P", "enseignement", "50_249", 30.0),
         ("c2", "N", "soutien_entreprises", "1_9", 6.0), ("c2", "P", "enseignement", "50_249", 120.0)]
COMMUNES = pd.DataFrame([(c, niveau, code) for c, epci in (("c1", "e1"), ("c2", "e2"))
                         for niveau, code in (("commune", c), ("epci", epci), ("departement", "38"))],
                        columns=["code_commune", "niveau", "code_territoire"])


def units() -> pd.DataFrame:
    rows = pd.DataFrame(UNITS, columns=["code_commune", "section_a21", "secteur_ess", "classe_taille",
                                        "effectif_central"])
    return rows.assign(type="associations", nb_etablissements=1)


def cube(est: pd.DataFrame) -> pd.DataFrame:
    """out_indicateurs of the year, by hand: every territory × (ensemble, each section, each sector, each size)."""
    rows = []
    for niveau, code in COMMUNES[["niveau", "code_territoire"]].drop_duplicates().itertuples(index=False):
        inside = est[est["code_commune"].isin(COMMUNES.loc[COMMUNES["code_territoire"] == code, "code_commune"])]
        for famille in ("associations", "ess", "ensemble"):
            rows.append((niveau, code, famille, "ensemble", "ensemble", "ensemble", inside["effectif_central"].sum()))
            for nomenclature, column in (("a21", "section_a21"), ("ess", "secteur_ess")):
                for secteur, value in inside.groupby(column)["effectif_central"].sum().items():
                    rows.append((niveau, code, famille, nomenclature, secteur, "ensemble", value))
            for taille, value in inside.groupby("classe_taille")["effectif_central"].sum().items():
                rows.append((niveau, code, famille, "ensemble", "ensemble", taille, value))
    return pd.DataFrame(rows, columns=[*secret_model.ROW_KEY[:-1], "effectif_central"]).assign(perimetre="p")


def cell(model, **key) -> int:
    rows = model.rows
    match = np.ones(len(rows), bool)
    for column, value in key.items():
        match &= (rows[column] == value).to_numpy()
    return int(rows.loc[match, "cellule"].iloc[0])


def published_as_by_the_pipeline(model) -> np.ndarray:
    """Territory totals everywhere, the sector and size detail at the département only."""
    cells = model.cells
    return ((cells["nomenclature"] == "ensemble") | (cells["niveau"] == "departement")).to_numpy().copy()


def test_a_section_is_bounded_by_the_ess_sector_that_holds_it():
    est = units()
    model = secret_model.build(est, cube(est), COMMUNES, ["p"])
    table = model.tables["effectif_central"]
    assert not len(secret_model.additivity_gaps(table, model.rows_in_matrix))
    dep = {"niveau": "departement", "famille": "associations"}
    m, p = (cell(model, **dep, nomenclature_secteur="a21", secteur=s) for s in ("M", "P"))
    soutien, enseignement = (cell(model, **dep, nomenclature_secteur="ess", secteur=s)
                             for s in ("soutien_entreprises", "enseignement"))
    assert table.values[[m, p, soutien, enseignement]].tolist() == [19.0, 150.0, 80.0, 150.0]
    upper, lower = np.full(len(model.cells), np.nan), np.full(len(model.cells), np.nan)
    upper[m], lower[m] = 19.0 * 1.15, 19.0 * 0.85
    # M and P masked: by sections alone M + P = 169, M anywhere in [0, 104] (c1's total); but M = soutien − N =
    # 80 − 61, exactly, for whoever knows that « soutien aux entreprises » is sections M and N
    published = published_as_by_the_pipeline(model)
    published[[m, p]] = False
    audit = secret_lp.audit(table, published, upper, lower, deadline=time.perf_counter() + 60)
    assert not audit.ok and sorted(audit.failed[m]) == ["bas", "haut"]
    # the two ESS sectors masked too: M + N1 + P1 = 104 in c1, N = 61 over both communes… M spans [0, 104]
    published[[soutien, enseignement]] = False
    audit = secret_lp.audit(table, published, upper, lower, deadline=time.perf_counter() + 60)
    assert audit.ok, audit.to_dict(5)


def test_swaps_keep_every_pair_of_the_departement():
    """The closed-form proof of a commune's section cell moves mass from another pair to the cell's pair in the
    commune, and back in a commune outside that holds both pairs: every pair's département total stays."""
    est = units()
    model = secret_model.build(est, cube(est), COMMUNES, ["p"])
    which = np.zeros(len(model.cells), bool)
    com = {"niveau": "commune", "famille": "associations", "nomenclature_secteur": "a21"}
    m_c1, p_c2 = cell(model, **com, code_territoire="c1", secteur="M"), cell(model, **com, code_territoire="c2",
                                                                            secteur="P")
    which[[m_c1, p_c2]] = True
    up, down = secret_model.swap_capacity(model, which, "effectif_central")
    # c1's (M, soutien): no other commune holds it, nothing can give it back
    assert (up[m_c1], down[m_c1]) == (0.0, 0.0)
    # c2's (P, enseignement) with partner (N, soutien), both held by c1 too: up = min(c2's N 6, c1's P 30),
    # down = min(c2's P 120, c1's N 55)
    assert (up[p_c2], down[p_c2]) == (6.0, 55.0)
