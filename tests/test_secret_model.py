"""The secrecy model knows what a reader who knows NAF knows: the A21 sections and the ESS sectors group the same NAF
divisions, so published cells of one breakdown bound the cells of the other. Found by an adversarial re-reading of
the sample's publication: with the two breakdowns tied only through their total, primary cells of 2025 could be
bounded within their protection interval (one recomputed exactly).

Hand-made département of two communes (in two EPCIs), one family: « soutien aux entreprises » = sections M + N.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pandas as pd
import pytest

from transforms import confidentiality as conf
from transforms import outputs, secret_lp, secret_model
from transforms.outputs import UrssafKnown

# commune, section, ESS sector, size, employment (« soutien aux entreprises » = M + N; c1 and c2 in other EPCIs)
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


def cube(est: pd.DataFrame, communes: pd.DataFrame = COMMUNES) -> pd.DataFrame:
    """out_indicateurs of the year, by hand: every territory × (ensemble, each section, each sector, each size)."""
    rows = []
    for niveau, code in communes[["niveau", "code_territoire"]].drop_duplicates().itertuples(index=False):
        inside = est[est["code_commune"].isin(communes.loc[communes["code_territoire"] == code, "code_commune"])]
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


# --- URSSAF's commune × APE detail: a lower bound of each (section, sector) pair of a commune -------------------------

# The review's example (review_diff4 M2): c1's total of 100 is published; URSSAF publishes 60 in Q and 38 in G for it.
# Then c1's employment in G is in [38, 40] (100 − Q's 60 at most), and c1's associations, all in G (39, sensitive,
# upper requirement 44.85), cannot reach it. c2 keeps the département's figures from giving c1's away.
REVIEW = [("c1", "associations", "G", "commerce", 39.0), ("c1", "hors_ess", "G", "commerce", 1.0),
          ("c1", "hors_ess", "Q", "action_sociale", 60.0),
          ("c2", "associations", "G", "commerce", 50.0), ("c2", "hors_ess", "G", "commerce", 30.0),
          ("c2", "hors_ess", "Q", "action_sociale", 20.0)]
URSSAF_C1 = UrssafKnown((), (("c1", 98.0),), (("c1", "Q", "action_sociale", 60.0), ("c1", "G", "commerce", 38.0)))


def review_units() -> pd.DataFrame:
    rows = pd.DataFrame(REVIEW, columns=["code_commune", "type", "section_a21", "secteur_ess", "effectif_central"])
    return rows.assign(classe_taille="10_49", nb_etablissements=1)


def review_cube(est: pd.DataFrame, communes: pd.DataFrame = COMMUNES) -> pd.DataFrame:
    """Every territory × family (associations, hors ESS, ESS, all) × (all, each section, each sector)."""
    rows = []
    families = {"associations": ["associations"], "ess": ["associations"], "hors_ess": ["hors_ess"],
                "ensemble": ["associations", "hors_ess"]}
    for niveau, code in communes[["niveau", "code_territoire"]].drop_duplicates().itertuples(index=False):
        inside = est[est["code_commune"].isin(communes.loc[communes["code_territoire"] == code, "code_commune"])]
        for famille, types in families.items():
            part = inside[inside["type"].isin(types)]
            rows.append((niveau, code, famille, "ensemble", "ensemble", "ensemble", part["effectif_central"].sum()))
            for nomenclature, column in (("a21", "section_a21"), ("ess", "secteur_ess")):
                for secteur, value in part.groupby(column)["effectif_central"].sum().items():
                    rows.append((niveau, code, famille, nomenclature, secteur, "ensemble", value))
    return pd.DataFrame(rows, columns=[*secret_model.ROW_KEY[:-1], "effectif_central"]).assign(perimetre="p")


def test_urssafs_detail_and_a_published_commune_total_bound_a_sector_from_above():
    est = review_units()
    model = secret_model.build(est, review_cube(est), COMMUNES, ["p"])
    assets = cell(model, niveau="commune", code_territoire="c1", famille="associations",
                  nomenclature_secteur="ensemble")
    cells = model.cells
    # published: every territory's total of all employers and the département's detail; the families of c1 and c2
    # (and of their EPCIs, the same units) masked
    published = published_as_by_the_pipeline(model)
    published &= ~((cells["niveau"] != "departement") & (cells["label"] != model.label_of("p", "ensemble"))).to_numpy()
    upper, lower = np.full(len(cells), np.nan), np.full(len(cells), np.nan)
    upper[assets], lower[assets] = 39.0 * 1.15, 39.0 * 0.85
    table = outputs._reader_table(model, URSSAF_C1, "effectif_central")
    assert table.values[assets] == 39.0 and table.row_floors.tolist() == [38.0, 60.0]  # (G, then Q: sorted)
    # the reader of the commune totals alone (URSSAF's 98 under our published 100) finds c1's associations protected
    only_totals = dataclasses.replace(table, floor_rows=None, row_floors=None)
    assert secret_lp.audit(only_totals, published, upper, lower, deadline=time.perf_counter() + 60).ok
    # the reader of the detail does not: at most 100 − 60
    found = secret_lp.audit(table, published, upper, lower, deadline=time.perf_counter() + 60)
    assert set(found.failed) == {assets} and set(found.failed[assets]) == {"haut"}
    assert found.failed[assets]["haut"]["borne"] == pytest.approx(40.0, abs=1e-4)
    # the protection masks c1's total (and what would give it back), and the check's audit agrees
    done = secret_lp.protect(table, published, upper, lower, _weights(model), deadline=time.perf_counter() + 60)
    total_c1 = cell(model, niveau="commune", code_territoire="c1", famille="ensemble", nomenclature_secteur="ensemble")
    assert done.audit.ok and not done.published[total_c1]
    final, _ = secret_lp.certified_audit(table, done.published, upper, lower, done.certificates,
                                         deadline=time.perf_counter() + 60)
    assert final.ok and final.n_certified == final.n_required


def _weights(model) -> np.ndarray:
    return np.where(model.cells["niveau"] == "departement", 10.0, 1.0)


def test_a_swap_takes_from_a_bounded_pair_no_more_than_its_slack():
    """The closed-form proof moves employment between pairs inside a commune: against a reader who knows a lower
    bound of a pair (URSSAF's figure of its APE codes), it may take only the pair's slack above that bound."""
    est = units()
    model = secret_model.build(est, cube(est), COMMUNES, ["p"])
    which = np.zeros(len(model.cells), bool)
    p_c2 = cell(model, niveau="commune", famille="associations", nomenclature_secteur="a21", code_territoire="c2",
                secteur="P")
    which[p_c2] = True
    # c1's (N, soutien) holds 55: URSSAF says 50 → slack 5; its (P, enseignement) holds 30: URSSAF says 45 → the bound
    # is ours (30), slack 0
    known = pd.DataFrame([("c1", "N", "soutien_entreprises", 50.0), ("c1", "P", "enseignement", 45.0)],
                         columns=["code_commune", "section_a21", "secteur_ess", "effectif"])
    rows, floors, pairs = secret_model.pair_floor_rows(model, known, "effectif_central")
    assert floors.tolist() == [50.0, 30.0] and pairs["plancher"].tolist() == [50.0, 30.0]
    assert (rows @ model.tables["effectif_central"].x).tolist() == [55.0, 30.0]
    # unbounded: up = min(c2's N 6, c1's P 30), down = min(c2's P 120, c1's N 55) (test above); bounded, c1 lends
    # only its slack: P nothing, N 5
    up, down = secret_model.swap_capacity(model, which, "effectif_central", pairs)
    assert (up[p_c2], down[p_c2]) == (0.0, 5.0)


def _with_contributors(est: pd.DataFrame, rows: pd.DataFrame, communes: pd.DataFrame) -> pd.DataFrame:
    """A hand-made cube (one family) with the contributor figures the primary rules read, one legal unit per row of
    `est`."""
    rows = rows.drop(columns="effectif_central")
    for column, how in (("effectif_central", "sum"), ("nb_etablissements", "size"), ("nb_unites_legales", "size"),
                        ("effectif_max_unite_legale", "max")):
        rows[column] = [_units_of(est, communes, row).agg({"effectif_central": how})["effectif_central"]
                        for row in rows.itertuples()]
    return rows


def test_a_commune_without_establishments_of_a_size_gives_none_of_it_to_its_neighbour():
    """The reader knows each commune's number of establishments by size (published counts, SIRENE): a commune without
    one of a size holds none of its employment. c1 and c2 share their EPCI; c1 has one association of 10 to 49
    employees (30, sensitive) and three small ones, c2 only small ones, c3 (another EPCI) only three of 10 to 49. The
    département's 10–49 (90) less c3's total (60, all of that size) gives c1's 30 exactly. Unknowns shared by c1 and
    c2 (the class model until 30/11/2026) could not even express c1's cell, and no published cell holding it bounds
    it (c1's total 36, the département's 90): it was only counted. Every commune now has its own unknowns: the audit
    finds the cell recomputed, and the protection masks what gives it away."""
    together = COMMUNES.assign(code_territoire=COMMUNES["code_territoire"].replace({"e2": "e1"}))
    three = pd.concat([together, pd.DataFrame([("c3", "commune", "c3"), ("c3", "epci", "e3"),
                                               ("c3", "departement", "38")], columns=together.columns)],
                      ignore_index=True)
    units = ([("c1", "10_49", 30.0)] + [("c1", "1_9", 2.0)] * 3 + [("c2", "1_9", 3.0)] * 3
             + [("c3", "10_49", 20.0)] * 3)
    est = pd.DataFrame(units, columns=["code_commune", "classe_taille", "effectif_central"]).assign(
        type="associations", section_a21="Q", secteur_ess="action_sociale", nb_etablissements=1)
    rows = _with_contributors(est, cube(est, three), three)
    rules, scope_fn = conf.Rules(), outputs.in_scope
    model = secret_model.build(est, rows, three, ["p"], scope=scope_fn)
    mid_c1, mid_e1 = (cell(model, niveau=niveau, code_territoire=code, famille="associations", classe_taille="10_49")
                      for niveau, code in (("commune", "c1"), ("epci", "e1")))
    sensitive = outputs.primary_status(model.cells, rules) != None  # noqa: E711
    assert np.flatnonzero(sensitive).tolist() == sorted([mid_c1, mid_e1])  # (the EPCI's: the same single unit)
    # c1 and c2 have their own size unknowns: four, where one per size of their EPCI made two
    sizes = model._parts["det_vars"].query("groupe == 'taille'")
    assert sorted(zip(sizes["code_commune"], sizes["classe_taille"])) == [
        ("c1", "10_49"), ("c1", "1_9"), ("c2", "1_9"), ("c3", "10_49")]
    model.materialise(np.ones(len(model.cells), bool))
    table = model.tables["effectif_central"]
    assert not len(secret_model.additivity_gaps(table, model.rows_in_matrix))
    # no swap proves it: no commune outside c1 holds both sizes
    up, down = secret_model.swap_capacity(model, sensitive, "effectif_central")
    assert (up[mid_c1], down[mid_c1]) == (0.0, 0.0)
    upper, lower = outputs.requirements(table.values, sensitive, rules)
    published = scope_fn(model.cells) & ~sensitive
    found = secret_lp.audit(table, published, upper, lower, deadline=time.perf_counter() + 60)
    assert set(found.failed) == {mid_c1, mid_e1} and set(found.failed[mid_c1]) == {"haut", "bas"}
    assert found.failed[mid_c1]["haut"]["borne"] == pytest.approx(30.0, abs=1e-4)
    assert found.failed[mid_c1]["bas"]["borne"] == pytest.approx(30.0, abs=1e-4)
    done = secret_lp.protect(table, published, upper, lower, _weights(model), deadline=time.perf_counter() + 60)
    assert done.audit.ok and len(done.suppressed) > 0


def test_the_sector_of_a_bounded_commune_that_shares_its_territories_is_audited_and_protected():
    """The review's example with c1 and c2 in one EPCI (review_diff6 § 1, HIGH): c1's employment in G (40, all
    employers) is at most 100 − URSSAF's 60 in Q. No swap can prove it (c1's Q is pinned by URSSAF's figure), and it
    used to be no sum of the model's unknowns: only counted, never audited. It is now a row of the LPs: the audit
    bounds it at 40, and the protection masks c1's total."""
    together = COMMUNES.assign(code_territoire=COMMUNES["code_territoire"].replace({"e2": "e1"}))
    est = review_units()
    model = secret_model.build(est, review_cube(est, together), together, ["p"])
    cells = model.cells
    g_c1 = cell(model, niveau="commune", code_territoire="c1", famille="ensemble", nomenclature_secteur="a21",
                secteur="G")
    assert cells["effectif_central"][g_c1] == 40.0
    sensitive = np.arange(len(cells)) == g_c1
    rules = conf.Rules()
    unproven = outputs._unproven_outside(model, sensitive, rules, URSSAF_C1)
    assert unproven[g_c1]
    published = published_as_by_the_pipeline(model)
    published &= ~((cells["niveau"] != "departement") & (cells["label"] != model.label_of("p", "ensemble"))).to_numpy()
    upper, lower = outputs.requirements(cells["effectif_central"].to_numpy(float), sensitive, rules)
    table = outputs._reader_table(model, URSSAF_C1, "effectif_central")
    found = secret_lp.audit(table, published, upper, lower, deadline=time.perf_counter() + 60)
    assert set(found.failed) == {g_c1} and found.failed[g_c1]["haut"]["borne"] == pytest.approx(40.0, abs=1e-4)
    # URSSAF's 38 in G gives the lower side alone: relaxed to it, as the pipeline does; the upper side is ours
    nothing_known = np.zeros(len(cells), bool)
    upper, lower, relaxed = outputs.disclosed_elsewhere(table, nothing_known, upper, lower,
                                                        deadline=time.perf_counter() + 60)
    assert relaxed == 1 and upper[g_c1] == pytest.approx(46.0)
    done = secret_lp.protect(table, published, upper, lower, _weights(model), deadline=time.perf_counter() + 60)
    total_c1 = cell(model, niveau="commune", code_territoire="c1", famille="ensemble", nomenclature_secteur="ensemble")
    assert done.audit.ok and not done.published[total_c1]


def test_urssafs_floors_alone_bound_a_sector_that_holds_its_whole_pairs():
    """A cell that holds every type of a commune's pair is at least the pair's floor, whatever we publish: what a
    swap must prove on that side is only what our publication adds. A pair shared with a type outside the cell's
    family can put its floor on that type: it bounds nothing."""
    est = review_units()
    model = secret_model.build(est, review_cube(est), COMMUNES, ["p"])
    _, _, pairs = outputs._pair_floors(model, URSSAF_C1)
    everyone, associations = ({"niveau": "commune", "code_territoire": "c1", "famille": f} for f in ("ensemble",
                                                                                                    "associations"))
    g_all, q_all, g_assoc = (cell(model, **everyone, nomenclature_secteur="a21", secteur="G"),
                             cell(model, **everyone, nomenclature_secteur="ess", secteur="action_sociale"),
                             cell(model, **associations, nomenclature_secteur="a21", secteur="G"))
    which = np.zeros(len(model.cells), bool)
    which[[g_all, q_all, g_assoc]] = True
    bound = secret_model.floored_minimum(model, which, pairs)
    assert bound[[g_all, q_all, g_assoc]].tolist() == [38.0, 60.0, 0.0]
    assert bound[~which].sum() == 0.0
    # the département's G holds c2's unbounded pair too: c1's floor still counts
    g_dep = cell(model, niveau="departement", famille="ensemble", nomenclature_secteur="a21", secteur="G")
    which[g_dep] = True
    assert secret_model.floored_minimum(model, which, pairs)[g_dep] == 38.0


def test_a_commune_total_that_urssafs_floors_turn_into_a_sectors_bound_is_masked_first():
    """The review's example: c1's total of all employers (100) less URSSAF's 60 in Q bounds c1's employment in G
    (40, sensitive) at 40, short of its 46: that total cannot be published, whatever else is; c2's can. The
    associations' own total (39, all in G) is the associations' G cell itself, bounded the same way."""
    est = review_units()
    model = secret_model.build(est, review_cube(est), COMMUNES, ["p"])
    cells = model.cells
    g_c1 = cell(model, niveau="commune", code_territoire="c1", famille="ensemble", nomenclature_secteur="a21",
                secteur="G")
    sensitive = np.zeros(len(cells), bool)
    sensitive[g_c1] = True
    totals = {(c, f): cell(model, niveau="commune", code_territoire=c, famille=f, nomenclature_secteur="ensemble")
              for c in ("c1", "c2") for f in ("ensemble", "associations", "hors_ess")}
    masked = outputs._totals_bounding_their_sectors(model, sensitive, conf.Rules(), URSSAF_C1)
    assert sorted(k for k, j in totals.items() if masked[j]) == [("c1", "ensemble")]
    g_assoc = cell(model, niveau="commune", code_territoire="c1", famille="associations", nomenclature_secteur="a21",
                   secteur="G")
    sensitive[g_assoc] = True
    masked = outputs._totals_bounding_their_sectors(model, sensitive, conf.Rules(), URSSAF_C1)
    assert sorted(k for k, j in totals.items() if masked[j]) == [("c1", "associations"), ("c1", "ensemble")]
    assert masked.sum() == 2  # (the ESS is the associations here: one cell)


def test_a_size_cell_under_a_published_total_of_its_commune_is_audited_and_protected():
    """The second review of 30/11/2026 (rv8 H1): c1 and c2 share their EPCI. c1's associations of 250 employees or
    more (two legal units, 700: sensitive by frequency, upper requirement 805) lie under c1's total of the family
    (five units, 710, not sensitive, publishable): at most 710 for whoever reads that total. The cell is a sum of c1's
    own unknowns: the audit bounds it at 710, and the protection masks the total. c2's cell of the same size (600 of
    605, a sensitive total) needs nothing."""
    together = COMMUNES.assign(code_territoire=COMMUNES["code_territoire"].replace({"e2": "e1"}))
    big = [("c1", "250_plus", 350.0)] * 2 + [("c1", "1_9", 10.0 / 3)] * 3 + [("c2", "250_plus", 600.0),
                                                                          ("c2", "1_9", 5.0)]
    est = pd.DataFrame(big, columns=["code_commune", "classe_taille", "effectif_central"]).assign(
        type="associations", section_a21="Q", secteur_ess="action_sociale", nb_etablissements=1)
    rows = _with_contributors(est, cube(est, together), together)
    rules, scope_fn = conf.Rules(), outputs.in_scope
    model = secret_model.build(est, rows, together, ["p"], scope=scope_fn)
    big_c1 = cell(model, niveau="commune", code_territoire="c1", famille="associations", classe_taille="250_plus")
    total_c1 = cell(model, niveau="commune", code_territoire="c1", famille="associations",
                    nomenclature_secteur="ensemble", classe_taille="ensemble")
    sensitive = outputs.primary_status(model.cells, rules) != None  # noqa: E711
    assert sensitive[big_c1] and not sensitive[total_c1]
    model.materialise(np.ones(len(model.cells), bool))
    table = model.tables["effectif_central"]
    upper, lower = outputs.requirements(table.values, sensitive & (np.arange(len(sensitive)) == big_c1), rules)
    published = scope_fn(model.cells) & ~sensitive
    found = secret_lp.audit(table, published, upper, lower, deadline=time.perf_counter() + 60)
    assert set(found.failed) == {big_c1} and found.failed[big_c1]["haut"]["borne"] == pytest.approx(710.0, abs=1e-3)
    done = secret_lp.protect(table, published, upper, lower, _weights(model), deadline=time.perf_counter() + 60)
    assert done.audit.ok and not done.published[total_c1]


def _units_of(est: pd.DataFrame, communes: pd.DataFrame, row) -> pd.DataFrame:
    """The units of a hand-made cube row (one family: associations)."""
    inside = est[est["code_commune"].isin(communes.loc[communes["code_territoire"] == row.code_territoire,
                                                       "code_commune"])]
    if row.classe_taille != "ensemble":
        inside = inside[inside["classe_taille"] == row.classe_taille]
    if row.nomenclature_secteur != "ensemble":
        column = {"a21": "section_a21", "ess": "secteur_ess"}[row.nomenclature_secteur]
        inside = inside[inside[column] == row.secteur]
    return inside
