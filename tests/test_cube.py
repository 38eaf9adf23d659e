"""The indicator cube and its public version, on hand-built fixtures (tests/cube_fixtures.py: figures by hand)."""

from __future__ import annotations

import collections
import datetime as dt
import json
import shutil

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import cube_fixtures as F
from ess import db, paths
from ess.errors import UserError
from transforms import checks
from transforms import columns as cols
from transforms import confidentiality as conf
from transforms import outputs, reference

TOTAL = {"nomenclature_secteur": "ensemble", "secteur": "ensemble", "classe_taille": "ensemble"}
KEY = ["niveau", "code_territoire", "famille", "nomenclature_secteur", "secteur", "classe_taille", "annee",
       "perimetre"]
MEASURES = ["nb_etablissements", "nb_etablissements_employeurs", "effectif_central"]
Y = F.ANNEE_EFFECTIFS
Z = outputs.employment_z(F.PARAMS)


def lognormal(c, v):
    """The 90 % interval of sql/macros/intervalles.sql, computed again."""
    s = np.sqrt(np.log(1 + v / c ** 2))
    low = c * np.exp(-s * s / 2 - Z * s)
    low = np.where(low < 1, 0.0, low)  # under one job: 0
    return (float(low) if np.ndim(low) == 0 else low), c * np.exp(-s * s / 2 + Z * s)


def _cube(tmp_path, frames=None, params=None, territoires=True):
    """The cube of the fixtures; without territoires: a reference folder whose `territoire` zoning covers another
    département only (the level is then absent from the run)."""
    frames = frames if frames is not None else F.default_frames()
    params = {**F.PARAMS, **(params or {})}
    if not territoires:
        ref = tmp_path / "ref"
        (ref / "zonages").mkdir(parents=True)
        (ref / "zonages" / "territoire.csv").write_text("code_commune,code_zone,libelle_zone\n73001,S1,Savoie un\n")
        params["reference_dir"] = str(ref)
    tables = F.write_tables(tmp_path / "in", frames)
    con = db.connect()
    db.attach_tables(con, tables)
    outputs.build_cube(con, params)
    return con


@pytest.fixture
def cube(tmp_path):
    con = _cube(tmp_path)
    yield con
    con.close()


def _row(con, niveau, code, famille, annee=F.ANNEE, perimetre="insee", **dims):
    where = {**TOTAL, **dims}
    df = con.execute(
        """SELECT * FROM out_indicateurs WHERE niveau = ? AND code_territoire = ? AND famille = ? AND annee = ?
           AND perimetre = ? AND nomenclature_secteur = ? AND secteur = ? AND classe_taille = ?""",
        [niveau, code, famille, annee, perimetre, where["nomenclature_secteur"], where["secteur"],
         where["classe_taille"]],
    ).df()
    assert len(df) == 1, (niveau, code, famille, annee, dims, len(df))
    return df.iloc[0]


# --- known answers ---------------------------------------------------------------------------------------------


def test_commune_counts_employment_shares_by_hand(cube):
    # 38001 at the millésime: S01+S02 (association A1), S06 (not ESS), S10 (commercial ESS company: not in the
    # insee perimeter, so hors_ess); S11 is closed. The millésime's rows carry counts only.
    ess = _row(cube, "commune", "38001", "ess")
    assert (ess.nb_etablissements, ess.nb_etablissements_employeurs) == (2, 2)
    assert pd.isna(ess.effectif_central) and pd.isna(ess.part_effectif_total_central)
    assert ess.date_reference_etablissements == pd.Timestamp(dt.date(2026, 1, 31))  # end of the millésime month
    assert pd.isna(ess.date_reference_effectifs) and pd.isna(ess.statut_effectifs)
    assert "SIRENE stock 2026-01" in ess.sources and "31/01/2026" in ess.sources and "COG 2026" in ess.sources
    # employment: on 31/12/2025, the same establishments (all open then)
    ess = _row(cube, "commune", "38001", "ess", annee=Y)
    assert ess.effectif_central == 15.5
    # S01 and S02 share one cell (variances 1 and 1, denominator 3): 2 − 2² / 3
    assert ess.variance_effectif == pytest.approx(2 / 3)
    assert (ess.effectif_ic90_bas, ess.effectif_ic90_haut) == pytest.approx(lognormal(15.5, 2 / 3))
    hors = _row(cube, "commune", "38001", "hors_ess", annee=Y)
    # S06 and S10 each alone in its cell: 1 − 1 / 2 each
    assert (hors.nb_etablissements, hors.effectif_central, hors.variance_effectif) == (2, 11, pytest.approx(1))
    ens = _row(cube, "commune", "38001", "ensemble", annee=Y)
    assert (ens.nb_etablissements, ens.effectif_central) == (4, 26.5)
    assert ens.variance_effectif == pytest.approx(2 / 3 + 1)
    # share of all employment, its variance by the delta method: the ESS part is all of its cell, so its covariance
    # with the total is its own variance
    s = 15.5 / 26.5
    assert ess.part_effectif_total_central == pytest.approx(s)
    var_s = (2 / 3 - 2 * s * 2 / 3 + s * s * 5 / 3) / 26.5 ** 2
    logit, half = np.log(s / (1 - s)), Z * np.sqrt(var_s) / (s * (1 - s))
    assert ess.part_effectif_total_ic90_bas == pytest.approx(1 / (1 + np.exp(-(logit - half))))
    assert ess.part_effectif_total_ic90_haut == pytest.approx(1 / (1 + np.exp(-(logit + half))))
    # every establishment here is in URSSAF's field: the private share is the same
    assert ess.part_effectif_prive_central == pytest.approx(s)
    assert ens.part_effectif_total_central == 1.0
    assert ess.date_reference_effectifs == pd.Timestamp(dt.date(2025, 12, 31))
    assert ess.date_reference_etablissements == pd.Timestamp(dt.date(2025, 12, 31))
    assert ess.statut_effectifs == "cale" and "31/12" in ess.sources and "URSSAF" in ess.sources
    # per 1000 inhabitants (population 1000)
    assert ess.population == 1000
    assert ess.etablissements_pour_1000_hab == pytest.approx(2.0)
    assert ess.effectif_pour_1000_hab == pytest.approx(15.5)
    # contributors: both A1 establishments employ; one legal unit holds all 15.5
    assert (ess.nb_contributeurs, ess.effectif_max_contributeur) == (2, 14)
    assert (ess.nb_unites_legales_contributrices, ess.effectif_max_unite_legale) == (1, 15.5)


def test_departement_totals_and_variance_by_hand(cube):
    assert (_row(cube, "departement", "38", "ensemble").nb_etablissements,
            _row(cube, "departement", "38", "ensemble").nb_etablissements_employeurs) == (10, 8)
    ens = _row(cube, "departement", "38", "ensemble", annee=Y)
    assert ens.effectif_central == 63.5
    # the S01+S02 cell (2/3) and six employers alone in their cells (1/2 each); S03 (NN) and S08 (no band): none
    assert ens.variance_effectif == pytest.approx(2 / 3 + 6 * 0.5)
    ess = _row(cube, "departement", "38", "ess", annee=Y)
    assert (ess.nb_etablissements, ess.effectif_central) == (5, 49.5)
    assert ess.population == 3500
    assert ess.libelle_territoire == "Isère"
    # the excluded association (S09, NAF 94.91) is counted outside the ESS, in its own commune
    assert _row(cube, "commune", "38003", "hors_ess").nb_etablissements == 2
    assert _row(cube, "commune", "38003", "ess").nb_etablissements == 1


def test_the_family_term_enters_the_variance(tmp_path):
    # a projection of 0.5 on S01 (the family constraints' term): the rows holding S01 lose 0.5² of variance
    frames = F.default_frames()
    frames["core_effectifs"] = F.core_effectifs(projections={"01": 0.5})
    con = _cube(tmp_path, frames=frames)
    assert _row(con, "commune", "38001", "ess", annee=Y).variance_effectif == pytest.approx(2 / 3 - 0.25)
    assert _row(con, "commune", "38001", "hors_ess", annee=Y).variance_effectif == pytest.approx(1)


def test_employers_carry_the_years_of_their_sirene_bands_and_populations_their_census(tmp_path):
    """Review rv10 F1, F2: an employer is one whose latest SIRENE band shows employees — a band of its own year, not
    of the millésime date — and the population is a census's, three years before the COG's."""
    frames = F.default_frames()
    etab = frames["core_etablissements"]
    etab.loc[etab["siret"] == F.siret("02", "A1"), "annee_effectifs"] = 2019  # the association of 1-2 employees
    con = _cube(tmp_path, frames)
    try:
        # employers at the millésime date: S01 (2023) and S02 (2019) in 38001's associations; S04 (2023) alone
        s01_s02 = _row(con, "commune", "38001", "associations")
        assert (s01_s02.nb_etablissements_employeurs, s01_s02.annee_tranche_employeurs_min,
                s01_s02.annee_tranche_employeurs_max) == (2, 2019, 2023)
        s04 = _row(con, "commune", "38002", "cooperatives")
        assert (s04.annee_tranche_employeurs_min, s04.annee_tranche_employeurs_max) == (2023, 2023)
        ess = _row(con, "departement", "38", "ess")
        assert (ess.annee_tranche_employeurs_min, ess.annee_tranche_employeurs_max) == (2019, 2023)
        # the run's headline (console summary, manifest) says them too, as text: a new campaign is no « move »
        assert checks.headline(con, F.PARAMS)["annees_tranches_employeurs_ess"] == "2019-2023"
        # no employer (S03: band NN): no band year; other years: no employer count, no band year
        none = _row(con, "commune", "38002", "associations")
        assert none.nb_etablissements_employeurs == 0 and pd.isna(none.annee_tranche_employeurs_min)
        assert pd.isna(_row(con, "departement", "38", "ess", annee=Y).annee_tranche_employeurs_max)
        # the populations in force on 1 January of the COG's year are those of its census three years before
        assert {r[0] for r in con.execute("SELECT DISTINCT annee_population FROM out_indicateurs").fetchall()} == {
            int(F.PARAMS["annee_cog"]) - 3}
    finally:
        con.close()


def test_families_sectors_and_sizes_by_hand(cube):
    assert _row(cube, "departement", "38", "associations").nb_etablissements == 3
    assert _row(cube, "departement", "38", "cooperatives", annee=Y).effectif_central == 30
    k = _row(cube, "departement", "38", "ess", annee=Y, nomenclature_secteur="a21", secteur="K")
    assert (k.nb_etablissements, k.effectif_central) == (2, 34)
    assert k.libelle_secteur == "Activités financières et d'assurance"
    unknown = _row(cube, "commune", "38003", "hors_ess", nomenclature_secteur="a21", secteur="non_renseigne")
    assert unknown.nb_etablissements == 1
    small = _row(cube, "departement", "38", "ensemble", annee=Y, classe_taille="1_9")
    assert (small.nb_etablissements, small.effectif_central) == (6, 19.5)
    assert _row(cube, "departement", "38", "ensemble", classe_taille="1_9").nb_etablissements == 6
    assert _row(cube, "departement", "38", "hors_ess", classe_taille="non_renseigne").nb_etablissements == 1
    # no sector × size cross cells
    crossed = cube.execute("SELECT count(*) FROM out_indicateurs WHERE secteur <> 'ensemble' "
                           "AND classe_taille <> 'ensemble'").fetchone()[0]
    assert crossed == 0


def test_every_size_class_has_its_label_from_the_reference(cube):
    """libelle_classe_taille, right after classe_taille, is the label of data/reference/classes_taille.csv on every
    row, the total's included."""
    pairs = cube.execute("SELECT DISTINCT classe_taille, libelle_classe_taille FROM out_indicateurs").fetchall()
    got = dict(pairs)
    assert len(got) == len(pairs)  # one label per class
    assert set(got) == {"sans_salarie", "1_9", "10_49", "non_renseigne", "ensemble"}
    labels = reference.size_classes()
    assert got == {code: labels[code] for code in got}
    assert (got["10_49"], got["sans_salarie"], got["non_renseigne"], got["ensemble"]) == (
        "10 à 49 salariés", "0 salarié selon la tranche SIRENE", "Tranche d'effectifs non renseignée", "Toutes tailles")
    assert list(labels)[:5] == ["sans_salarie", "1_9", "10_49", "50_249", "250_et_plus"]  # in the file's `ordre`
    for table in ("out_indicateurs", "out_indicateurs_public"):
        names = cols.names(table)
        assert names[names.index("classe_taille") + 1] == "libelle_classe_taille", table
    produced = [r[0] for r in cube.execute("DESCRIBE out_indicateurs").fetchall()]
    assert produced[produced.index("classe_taille") + 1] == "libelle_classe_taille"


def test_a_size_class_without_label_stops_the_run_naming_the_file_and_the_class(tmp_path):
    # a class of the data that classes_taille.csv does not list (a band regrouped by a researcher's
    # tranches_effectifs.csv, say)
    frames = F.default_frames()
    frames["core_etablissements"] = F.core_etablissements(
        [r[:11] + ("micro",) + r[12:] if r[0] == "02" else r for r in F.ETABLISSEMENTS])
    with pytest.raises(UserError, match=r"data/reference/classes_taille\.csv: no label for the size class\(es\) "
                                        r"\['micro'\] of out_indicateurs"):
        _cube(tmp_path / "a", frames=frames)
    # the run's reference folder: its file is the one named
    ref = tmp_path / "ref"
    shutil.copytree(F.PARAMS["reference_dir"], ref)
    text = paths.reference_file("classes_taille.csv").read_text(encoding="utf-8")
    (ref / "classes_taille.csv").write_text("\n".join(line for line in text.split("\n")
                                                      if not line.startswith("1_9,")), encoding="utf-8")
    with pytest.raises(UserError, match=rf"{ref}/classes_taille\.csv: no label for the size class\(es\) \['1_9'\]"):
        _cube(tmp_path / "b", params={"reference_dir": str(ref)})


def test_epci_partial_territoires_and_populations(cube):
    e2 = _row(cube, "epci", "200000002", "ensemble")
    assert bool(e2.epci_partiel) is True
    assert e2.population == 500  # only its commune in the département, not 73001
    assert e2.libelle_territoire == "CC Deux"
    e1 = _row(cube, "epci", "200000001", "ensemble")
    assert bool(e1.epci_partiel) is False and e1.population == 3000
    # T2 cuts EPCI 200000001: 38002 (3 active) + 38003 (3 active)
    t2 = _row(cube, "territoire", "T2", "ensemble")
    assert (t2.nb_etablissements, t2.population) == (6, 2500)
    assert _row(cube, "zone_emploi", "8402", "ensemble").nb_etablissements == 6
    assert _row(cube, "arrondissement", "382", "ensemble").nb_etablissements == 3
    assert pd.isna(_row(cube, "commune", "38001", "ensemble").epci_partiel)


def test_zones_d_emploi_are_named_from_the_core_communes(tmp_path):
    """The core step's communes carry the zone's name (URSSAF's commune × APE table): the cube labels its zones with
    it; without that table (the staged communes) a zone stays unnamed, never named wrong."""
    unnamed = _cube(tmp_path / "a")
    assert pd.isna(_row(unnamed, "zone_emploi", "8402", "ensemble").libelle_territoire)
    frames = F.default_frames()
    communes = frames["staging_communes"]
    frames["core_communes"] = communes.assign(
        libelle_zone_emploi=communes["code_zone_emploi"].map({"8402": "Zone deux"}))
    named = _cube(tmp_path / "b", frames)
    assert _row(named, "zone_emploi", "8402", "ensemble").libelle_territoire == "Zone deux"
    assert _row(named, "commune", "38001", "ensemble").libelle_territoire == "Aval"


def test_past_years_before_the_employment_year(cube):
    # 2024: S01 (ESS), S06, S11 (closed since) all in 38001; 2025: every establishment active now
    r = _row(cube, "commune", "38001", "ensemble", annee=2024)
    assert r.nb_etablissements == 3
    assert _row(cube, "commune", "38001", "ess", annee=2024).nb_etablissements == 1
    assert _row(cube, "departement", "38", "ess", annee=Y).nb_etablissements == 5
    # no employment estimated for 2024 in this fixture: NULL, never 0
    for m in ["nb_etablissements_employeurs", "effectif_central", "effectif_ic90_bas", "effectif_prive_central",
              "part_effectif_total_central", "nb_contributeurs", "effectif_max_unite_legale"]:
        assert pd.isna(r[m]), m
    # nor at the millésime date (review rv10 F6: its private employment read 0)
    assert pd.isna(_row(cube, "departement", "38", "ess").effectif_prive_central)
    assert r.date_reference_etablissements == pd.Timestamp(dt.date(2024, 12, 31))
    assert pd.isna(r.date_reference_effectifs)
    assert "historique" in r.sources
    # size classes exist at the millésime and in the employment year only
    sizes = cube.execute("SELECT DISTINCT annee FROM out_indicateurs WHERE classe_taille <> 'ensemble' "
                         "ORDER BY 1").fetchall()
    assert sizes == [(2025,), (2026,)]
    years = [y for (y,) in cube.execute("SELECT DISTINCT annee FROM out_indicateurs ORDER BY 1").fetchall()]
    assert years == [2024, 2025, 2026]


def test_zero_totals_for_every_territory_and_year(cube):
    # 38002 has no active establishment in 2024: its totals are there, at 0 (no employment estimated then)
    for famille in ("ess", "hors_ess", "ensemble"):
        r = _row(cube, "commune", "38002", famille, annee=2024)
        assert r.nb_etablissements == 0 and pd.isna(r.effectif_central)
        assert r.etablissements_pour_1000_hab == 0
    # every territory of the frame has its three totals every year
    n = cube.execute("""SELECT count(*) FROM out_indicateurs WHERE secteur = 'ensemble' AND classe_taille =
                        'ensemble' AND famille IN ('ess', 'hors_ess', 'ensemble') AND perimetre = 'insee'""").fetchone()[0]
    assert n == 12 * 3 * 3  # 12 territories × 3 totals × 3 years (per perimeter)
    # every perimeter of data/reference/perimetres.csv is in the cube
    assert {r[0] for r in cube.execute("SELECT DISTINCT perimetre FROM out_indicateurs").fetchall()} == {
        "insee", "loi2014", "flag"}
    # otherwise rows only where establishments are
    assert cube.execute("SELECT count(*) FROM out_indicateurs WHERE nb_etablissements = 0 AND NOT "
                        "(secteur = 'ensemble' AND classe_taille = 'ensemble')").fetchone()[0] == 0


def test_loi2014_perimeter_counts_commercial_ess_companies(tmp_path):
    con = _cube(tmp_path, params={"perimetres_cube": ["insee", "loi2014"]})
    assert _row(con, "commune", "38001", "ess", perimetre="loi2014").nb_etablissements == 3
    sc = _row(con, "commune", "38001", "societes_commerciales_ess", perimetre="loi2014", annee=Y)
    assert (sc.nb_etablissements, sc.effectif_central) == (1, 4)
    assert _row(con, "commune", "38001", "ess", perimetre="insee").nb_etablissements == 2


def test_unknown_perimeter_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="must include the run's perimeter 'cress'"):
        _cube(tmp_path, params={"perimetre": "cress"})
    with pytest.raises(UserError, match=r"perimeter \['cress'\] is not defined in .*data/reference/perimetres.csv "
                                        r"\(defined: \['insee', 'loi2014', 'flag'\]\): choose among those, or add "
                                        "one row per new perimeter to that file"):
        _cube(tmp_path, params={"perimetre": "cress", "perimetres_cube": ["insee", "cress"]})


def test_without_territoires_table(tmp_path):
    con = _cube(tmp_path, territoires=False)
    assert con.execute("SELECT count(*) FROM out_indicateurs WHERE niveau = 'territoire'").fetchone()[0] == 0
    assert _reconciliation_errors(con) == []


# --- totals add up ------------------------------------------------------------------------------------------------


def _reconciliation_errors(con) -> list:
    """Every level sums to the département; families to 'ess'; ess + hors_ess = ensemble; each sector
    nomenclature and the size classes sum to 'ensemble'. Absent rows count as 0."""
    df = con.execute("SELECT * FROM out_indicateurs").df()
    errors = []
    dims = ["famille", "nomenclature_secteur", "secteur", "classe_taille", "annee", "perimetre"]

    def compare(total: pd.DataFrame, parts: pd.DataFrame, on: list[str], what: str):
        agg = parts.groupby(on, dropna=False)[MEASURES].sum(min_count=1).reset_index()
        m = total.merge(agg, on=on, how="outer", suffixes=("", "_parts"), indicator=True)
        for measure in MEASURES:
            a, b = m[measure], m[f"{measure}_parts"]
            both_null = a.isna() & b.isna()
            zero_vs_missing = (a.fillna(0) == 0) & b.isna() | a.isna() & (b.fillna(0) == 0)
            bad = ~both_null & ~zero_vs_missing & ~np.isclose(a.fillna(-1), b.fillna(-2))
            if bad.any():
                errors.append((what, measure, m.loc[bad, on + [measure, f"{measure}_parts"]].head(3).to_dict("records")))

    dep = df[df.niveau == "departement"]
    for niveau in ("commune", "epci", "arrondissement", "zone_emploi", "territoire"):
        part = df[df.niveau == niveau]
        if len(part):
            compare(dep[dims + MEASURES], part, dims, f"{niveau} -> departement")
    terr = ["niveau", "code_territoire", "nomenclature_secteur", "secteur", "classe_taille", "annee", "perimetre"]
    fams = df[~df.famille.isin(["ess", "hors_ess", "ensemble"])]
    compare(df[df.famille == "ess"][terr + MEASURES], fams, terr, "families -> ess")
    compare(df[df.famille == "ensemble"][terr + MEASURES], df[df.famille.isin(["ess", "hors_ess"])], terr,
            "ess + hors_ess -> ensemble")
    keys = ["niveau", "code_territoire", "famille", "annee", "perimetre"]
    total = df[(df.nomenclature_secteur == "ensemble") & (df.classe_taille == "ensemble")][keys + MEASURES]
    for nom in ("a21", "ess"):
        compare(total, df[df.nomenclature_secteur == nom], keys, f"{nom} sectors -> ensemble")
    sizes = df[df.classe_taille != "ensemble"]
    compare(total[total.annee.isin([F.ANNEE, Y])], sizes, keys, "sizes -> ensemble")
    return errors


def test_totals_add_up(cube):
    assert _reconciliation_errors(cube) == []


def test_totals_add_up_on_a_bigger_stock(tmp_path):
    frames = F.default_frames()
    rows = F.many_etablissements()
    annuel = [(r[0], Y) for r in rows]
    frames["core_etablissements"] = F.core_etablissements(rows)
    frames["core_etablissements_annuel"] = F.core_etablissements_annuel(annuel, rows)
    frames["core_effectifs"] = F.core_effectifs(annuel, rows)
    con = _cube(tmp_path, frames=frames, params={"perimetres_cube": ["insee", "flag"]})
    assert _reconciliation_errors(con) == []
    assert _row(con, "departement", "38", "ensemble").nb_etablissements == 72


def test_columns_match_their_definitions(cube):
    got = cube.execute("DESCRIBE out_indicateurs").fetchall()
    # the SQL file decides the order, the field dictionary the names and types
    assert sorted((r[0], r[1]) for r in got) == sorted((c.name, c.type) for c in cols.columns("out_indicateurs"))
    names = cols.names("core_etablissements")
    assert {"siret", "famille_ess", "effectif_central"} <= set(names)
    assert all(c.description for c in cols.columns("out_indicateurs_public"))


# --- the public cube --------------------------------------------------------------------------------------------


def _bigger_frames():
    frames = F.default_frames()
    rows = F.many_etablissements()
    annuel = [(r[0], 2024) for r in rows[::2]] + [(r[0], Y) for r in rows]
    frames["core_etablissements"] = F.core_etablissements(rows)
    frames["core_etablissements_annuel"] = F.core_etablissements_annuel(annuel, rows)
    frames["core_effectifs"] = F.core_effectifs(annuel, rows)
    return frames


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    # build_outputs writes only to its out_dir (never under the data dir): built once for the module's tests
    tmp_path = tmp_path_factory.mktemp("built")
    tables = F.write_tables(tmp_path / "in", _bigger_frames())
    result = outputs.build_outputs(tables, {**F.PARAMS, "secret_passe_detail": True}, tmp_path / "out")
    con = db.connect()
    db.attach_tables(con, result.tables)
    yield result, con
    con.close()


def test_build_outputs_writes_both_tables(built):
    result, con = built
    assert set(result.tables) >= {"out_indicateurs", "out_indicateurs_public", "out_secret_unites"}
    json.dumps(result.to_dict())  # Prefect persists it
    stats = result.stats["out_indicateurs_public"]
    # every cell of every perimeter, except the sector and size detail of communes (family totals only)
    assert stats["lignes"] == con.execute(
        "SELECT count(*) FROM out_indicateurs WHERE niveau <> 'commune' OR (secteur = 'ensemble' "
        "AND classe_taille = 'ensemble')").fetchone()[0]
    assert stats["effectifs_masques"] > 0
    got = con.execute("DESCRIBE out_indicateurs_public").fetchall()
    assert [(r[0], r[1]) for r in got] == [(c.name, c.type) for c in cols.columns("out_indicateurs_public")]
    perimetres = {r[0] for r in con.execute("SELECT DISTINCT perimetre FROM out_indicateurs_public").fetchall()}
    assert perimetres == {"insee", "loi2014", "flag"}
    # the cube tables say they hold every perimeter; the others keep the run's
    for table, said in (("out_indicateurs", "flag,insee,loi2014"), ("out_indicateurs_public", "flag,insee,loi2014"),
                        ("out_secret_unites", F.PARAMS["perimetre"])):
        meta = pq.read_schema(result.tables[table]).metadata
        assert meta[b"ess:perimetre"].decode() == said, table
    assert pq.read_schema(result.tables["out_indicateurs"]).metadata[b"ess:perimetre_du_run"].decode() == \
        F.PARAMS["perimetre"]


def test_past_years_public_as_totals_by_default(tmp_path, data_dir):
    tables = F.write_tables(tmp_path / "in", _bigger_frames())
    result = outputs.build_outputs(tables, F.PARAMS, tmp_path / "out")
    con = db.connect()
    db.attach_tables(con, result.tables)
    # the same cells, except the sector and size detail of past years other than the employment year (internal
    # only by default)
    expected = con.execute("SELECT count(*) FROM out_indicateurs WHERE (annee IN (2025, 2026) AND niveau <> "
                           "'commune') OR (secteur = 'ensemble' AND classe_taille = 'ensemble')").fetchone()[0]
    assert result.stats["out_indicateurs_public"]["lignes"] == expected
    assert all(a["ok"] for a in outputs.audit_public(con).values())


def test_public_rows_carry_their_size_label(built):
    _, con = built
    pairs = con.execute("SELECT DISTINCT classe_taille, libelle_classe_taille FROM out_indicateurs_public").fetchall()
    labels = reference.size_classes()
    assert {code for code, _ in pairs} >= {"1_9", "10_49", "ensemble"}
    assert all(label == labels[code] for code, label in pairs)


def test_public_has_no_internal_or_identifying_column(built):
    _, con = built
    public = set(cols.names("out_indicateurs_public"))
    for c in ("nb_contributeurs", "effectif_max_contributeur", "effectif_max_unite_legale", "nb_unites_legales",
              "effectif_bas_max_unite_legale", "effectif_haut_max_unite_legale", "siret", "siren", "denomination",
              "enseigne"):
        assert c not in public
    sirets = set(F.core_etablissements(F.many_etablissements())["siret"])
    text = con.execute("SELECT DISTINCT code_territoire FROM out_indicateurs_public").fetchall()
    assert not sirets.intersection(t for (t,) in text)
    units = set(cols.names("out_indicateurs")) & {"siret", "siren"}
    assert not units
    assert not {"siret", "siren"} & {r[0] for r in con.execute("DESCRIBE out_secret_unites").fetchall()}


def test_counts_are_published_everywhere(built):
    # counts come from a public register: never masked, whatever the employment status
    _, con = built
    df = con.execute("SELECT * FROM out_indicateurs_public").df()
    assert (df["statut_secret_etablissements"] == "publie").all()
    assert df["nb_etablissements"].notna().all()
    cube = con.execute("SELECT * FROM out_indicateurs WHERE niveau <> 'commune' OR secteur = 'ensemble'").df()
    merged = cube.merge(df, on=KEY, suffixes=("", "_pub"))
    assert (merged["nb_etablissements"] == merged["nb_etablissements_pub"]).all()


def test_suppressed_cells_are_null_with_a_reason_never_zero(built):
    _, con = built
    df = con.execute("SELECT * FROM out_indicateurs_public").df()
    assert set(df.statut_secret_effectifs) == {"publie", "non_mesure", "frequence", "dominance", "secondaire",
                                               "non_diffuse"}
    hidden_e = df.statut_secret_effectifs != "publie"
    for c in ("effectif_central", "effectif_ic90_bas", "effectif_ic90_haut", "effectif_pour_1000_hab",
              "part_effectif_total_central", "part_effectif_total_ic90_haut", "part_effectif_prive_central"):
        assert df.loc[hidden_e, c].isna().all(), c
    current = df.annee == Y
    assert df.loc[~hidden_e & current, "effectif_central"].notna().all()
    # other years carry counts only (in this fixture): no employment is measured
    assert (df.loc[~current, "statut_secret_effectifs"] == "non_mesure").all()
    # employment by sector or size: the département only
    detail = current & ((df.nomenclature_secteur != "ensemble") | (df.classe_taille != "ensemble"))
    assert (df.loc[detail & (df.niveau != "departement"), "statut_secret_effectifs"] == "non_diffuse").all()
    assert not (df.loc[detail & (df.niveau == "departement"), "statut_secret_effectifs"] == "non_diffuse").any()
    assert (hidden_e & current & (df.statut_secret_effectifs != "non_diffuse")).any()
    assert not (current & (df.statut_secret_effectifs == "non_mesure")).any()


def test_primary_rules_on_legal_units_and_every_bound(built):
    _, con = built
    df = con.execute(
        f"""SELECT i.*, p.statut_secret_effectifs AS sf
           FROM out_indicateurs i JOIN out_indicateurs_public p USING ({", ".join(KEY)})
           WHERE i.annee = {Y} AND p.statut_secret_effectifs IS DISTINCT FROM 'non_diffuse'"""
    ).df()
    few = (df.nb_etablissements > 0) & (df.nb_unites_legales < 3)
    assert few.any() and (df.loc[few, "sf"] == "frequence").all()
    # a cell of 1-2 legal units publishes no employment, even 0
    assert (df.loc[few & (df.effectif_central == 0), "sf"] == "frequence").all()
    dominant = np.zeros(len(df), bool)
    for bound, largest in outputs.DOMINANCE_BOUNDS.items():
        dominant |= (df[bound] > 0) & (df[largest] > 0.85 * df[bound])
    assert (df.loc[dominant & ~few, "sf"] == "dominance").all()
    assert not df.loc[~dominant & ~few, "sf"].isin(["frequence", "dominance"]).any()
    # structural zeros (no establishment) are published
    assert (df.loc[df.nb_etablissements == 0, "sf"] == "publie").all()


def test_one_cell_one_status_across_perimeters(built):
    _, con = built
    df = con.execute(f"SELECT * FROM out_indicateurs_public WHERE annee = {Y}").df()
    key = ["niveau", "code_territoire", "nomenclature_secteur", "secteur", "classe_taille"]
    ens = df[df.famille == "ensemble"].groupby(key)["statut_secret_effectifs"].agg(
        lambda s: len(set(s.fillna("publie"))))
    assert (ens == 1).all()
    # in this stock insee, loi2014 and flag hold the same establishments: every family cell is one cell
    fam = df[df.famille.isin(["associations", "cooperatives", "ess", "hors_ess"])]
    n_status = fam.groupby(key + ["famille"])["statut_secret_effectifs"].agg(lambda s: len(set(s.fillna("publie"))))
    assert (n_status == 1).all()


def test_dominance_by_hand(tmp_path, data_dir):
    # 38002 gets one big association (120 employees) and two small ones: 3 contributors (frequency passes),
    # the big unit holds 120 / 123 > 85 % of the cell: dominance; the count (3) is publishable.
    rows = list(F.ETABLISSEMENTS) + [
        ("21", "B1", "38002", "associations", True, True, True, None, "Q", "sante", "22", "50_249", 100, 120, 199,
         True, True),
        ("22", "B2", "38002", "associations", True, True, True, None, "Q", "sante", "01", "1_9", 1, 1.5, 2, True,
         True),
        ("23", "B3", "38002", "associations", True, True, True, None, "Q", "sante", "01", "1_9", 1, 1.5, 2, True,
         True),
    ]
    frames = F.default_frames()
    frames["core_etablissements"] = F.core_etablissements(rows)
    annuel = F.ANNUEL + [(s, Y) for s in ("21", "22", "23")]
    frames["core_etablissements_annuel"] = F.core_etablissements_annuel(annuel, rows)
    frames["core_effectifs"] = F.core_effectifs(annuel, rows)
    con = _cube(tmp_path, frames=frames)
    cell = _row(con, "commune", "38002", "ess", annee=Y, nomenclature_secteur="a21", secteur="Q")
    assert (cell.nb_etablissements, cell.nb_contributeurs, cell.effectif_central) == (3, 3, 123)
    public, _ = outputs.protect_cube(con, {**F.PARAMS, "annee_effectifs": Y})
    # the cells made of exactly these 3 establishments (zone d'emploi, territoire of 38002) are dominated: the
    # largest legal unit holds 120 of 123 …
    same = con.execute(
        "SELECT * FROM out_indicateurs WHERE famille = 'ess' AND secteur = 'Q' "
        "AND annee = ? AND niveau <> 'commune' AND nb_contributeurs = 3 AND effectif_central = 123", [Y]).df()
    assert len(same) and (same.effectif_max_unite_legale == 120).all() and (same.nb_unites_legales == 3).all()
    assert (outputs.primary_status(same, conf.load_rules()) == conf.DOMINANCE).all()
    # … but employment by sector is public at the département only: those cells publish counts only
    for row in same.itertuples():
        p = public[(public.niveau == row.niveau) & (public.code_territoire == row.code_territoire)
                   & (public.famille == "ess") & (public.secteur == "Q") & (public.annee == Y)].iloc[0]
        assert p.statut_secret_effectifs == "non_diffuse" and pd.isna(p.effectif_central)
        assert p.nb_etablissements == 3
        assert pd.isna(p.part_effectif_total_ic90_bas) and p.statut_secret_part_effectifs == "non_diffuse"
    assert not ((public.niveau == "commune") & (public.secteur == "Q")).any()


def test_the_private_field_share_is_published_for_the_whole_ess_at_the_departement_only(built):
    """Beside a cell's published employment, its share of URSSAF's private field would give its employment outside
    that field (a family without such employers gives the field's total): the public table keeps it for the ESS of
    the département only; the internal cube keeps every one."""
    _, con = built
    public = con.execute("SELECT * FROM out_indicateurs_public").df()
    headline = ((public.niveau == "departement") & (public.famille == "ess")
                & (public.nomenclature_secteur == "ensemble") & (public.classe_taille == "ensemble"))
    for col in ("part_effectif_prive_central", "part_effectif_prive_ic90_bas", "part_effectif_prive_ic90_haut"):
        assert public.loc[~headline, col].isna().all(), col
    # its own status: « non_diffuse » where the share of all employers is published, that share's status elsewhere
    total_shown = public.statut_secret_part_effectifs == "publie"
    assert (public.loc[~headline & total_shown, "statut_secret_part_effectifs_prive"] == "non_diffuse").all()
    assert (public.loc[~total_shown, "statut_secret_part_effectifs_prive"]
            == public.loc[~total_shown, "statut_secret_part_effectifs"]).all()
    shown = headline & (public.annee == Y) & total_shown
    assert shown.any() and public.loc[shown, "part_effectif_prive_central"].notna().all()
    assert (public.loc[shown, "statut_secret_part_effectifs_prive"] == "publie").all()
    internal = con.execute("SELECT count(part_effectif_prive_central) FROM out_indicateurs "
                           "WHERE niveau <> 'departement' AND annee = ?", [Y]).fetchone()[0]
    assert internal > 0


def test_shares_hidden_when_their_denominator_is(built):
    _, con = built
    df = con.execute("SELECT * FROM out_indicateurs_public").df()
    key = ["niveau", "code_territoire", "nomenclature_secteur", "secteur", "classe_taille", "annee", "perimetre"]
    ens = df[df.famille == "ensemble"][key + ["statut_secret_effectifs", "effectif_central"]].rename(
        columns={"statut_secret_effectifs": "den", "effectif_central": "den_value"})
    m = df.merge(ens, on=key)
    den_hidden = (m.den != "publie") & (m.statut_secret_effectifs == "publie")
    assert den_hidden.any() and (m.loc[den_hidden, "statut_secret_part_effectifs"] == "denominateur").all()
    assert m.loc[den_hidden, "part_effectif_total_central"].isna().all()
    assert m.loc[den_hidden, "part_effectif_prive_central"].isna().all()
    ok = (m.den == "publie") & (m.statut_secret_effectifs == "publie") & (m.den_value > 0)
    assert ok.any() and m.loc[ok, "part_effectif_total_central"].notna().all()
    assert (m.loc[ok, "statut_secret_part_effectifs"] == "publie").all()


def test_every_status_is_a_code_and_a_figure_is_null_exactly_when_not_published(tmp_path):
    """Review WH3 M2: NULL meant both « published » and « no figure » (the millésime year's employment), so
    `statut <> 'non_diffuse'` dropped every published figure. Known answers on the fixtures' cube: employment of
    2025 only (2024 and 2026 have counts), the 10 establishments open on 31/12/2025 employ 14 + 1.5 + 0 + 30 + 4 + 7
    + 1.5 + 0 + 1.5 + 4 = 63.5, and 8 of them employ in 2026 (S03 and S08 do not, S11 is closed)."""
    con = _cube(tmp_path)
    public, _ = outputs.protect_cube(con, {**F.PARAMS, "annee_effectifs": Y})
    statuses = [c for c in public.columns if c.startswith("statut_secret_")]
    assert statuses == list(outputs.STATUS_FIGURES) and public[statuses].notna().all().all()
    for status, figures in outputs.STATUS_FIGURES.items():
        for figure in figures:
            assert (public[figure].isna() == (public[status] != "publie")).all(), (status, figure)
    year = public["annee"]
    per_year = year.value_counts()

    def counts(status: str, annee: int) -> dict:
        return public.loc[year == annee, status].value_counts().to_dict()
    # counts come from a public register: always published
    assert (public["statut_secret_etablissements"] == "publie").all()
    # employment: measured in 2025 only
    assert counts("statut_secret_effectifs", 2024) == {"non_mesure": per_year[2024]}
    assert counts("statut_secret_effectifs", F.ANNEE) == {"non_mesure": per_year[F.ANNEE]}
    y = public[year == Y]
    shown = y[y["statut_secret_effectifs"] == "publie"]
    # the whole economy of the département, one cell for the three perimeters; every other cell is masked
    assert sorted(shown["perimetre"]) == ["flag", "insee", "loi2014"] and (shown["famille"] == "ensemble").all()
    assert (shown["niveau"] == "departement").all() and (shown["effectif_central"] == 63.5).all()
    assert (shown["part_effectif_total_central"] == 1.0).all()
    detail = (y["niveau"] != "departement") & ((y["nomenclature_secteur"] != "ensemble")
                                               | (y["classe_taille"] != "ensemble"))
    assert (y.loc[detail, "statut_secret_effectifs"] == "non_diffuse").all()
    secret = ~detail & (y["statut_secret_effectifs"] != "publie")
    assert set(y.loc[secret, "statut_secret_effectifs"]) <= set(conf.STATUSES)
    assert counts("statut_secret_effectifs", Y)["non_diffuse"] == detail.sum()
    assert sum(counts("statut_secret_effectifs", Y).values()) == 3 + detail.sum() + secret.sum()
    # shares of employment: the row's own status (no published cell here has a masked « ensemble »)
    assert (public["statut_secret_part_effectifs"] == public["statut_secret_effectifs"]).all()
    # the private field's share: the ESS of the département only (masked here); the whole economy's is not published
    private = public["statut_secret_part_effectifs_prive"]
    assert (private[shown.index] == "non_diffuse").all() and not (private == "publie").any()
    assert (private.drop(shown.index) == public["statut_secret_part_effectifs"].drop(shown.index)).all()
    # employers are counted for the millésime year only; a share over an « ensemble » without employer is undefined
    assert counts("statut_secret_part_etablissements", 2024) == {"non_mesure": per_year[2024]}
    assert counts("statut_secret_part_etablissements", Y) == {"non_mesure": per_year[Y]}
    now = public[year == F.ANNEE]
    key = ["perimetre", "niveau", "code_territoire", "nomenclature_secteur", "secteur", "classe_taille"]
    den = now.merge(now.loc[now["famille"] == "ensemble", key + ["nb_etablissements_employeurs"]], on=key,
                    suffixes=("", "_ensemble"))
    undefined = den["nb_etablissements_employeurs_ensemble"] == 0
    assert undefined.any() and (~undefined).any()
    assert (den.loc[undefined, "statut_secret_part_etablissements"] == "denominateur_nul").all()
    assert (den.loc[~undefined, "statut_secret_part_etablissements"] == "publie").all()
    dep = den[(den["niveau"] == "departement") & (den["perimetre"] == "insee") & (den["famille"] == "associations")
              & (den["nomenclature_secteur"] == "ensemble") & (den["classe_taille"] == "ensemble")].iloc[0]
    assert (dep["nb_etablissements_employeurs"], dep["part_ess_etablissements_employeurs"]) == (2, 0.25)


def test_audit_public_helper(built):
    result, con = built
    audit = outputs.audit_public(con)
    assert set(audit) == {f"{Y}/effectif_central"}
    for a in audit.values():
        assert a["ok"] and a["n_recalculables_ou_encadrees"] == 0 and a["n_sensibles_publiees"] == 0
        assert a["n_non_auditees"] == 0 and a["n_sensibles"] > 0
    stats = result.stats["out_indicateurs_public"]["par_annee"][str(Y)]
    assert all(s["audit"]["ok"] for s in stats["lp"].values())
    # the audit does detect a leak: publish one sensitive cell's employment
    public = con.execute("SELECT * FROM out_indicateurs_public").df()
    cube = con.execute("SELECT * FROM out_indicateurs").df()
    j = public.index[public.statut_secret_effectifs == "frequence"][0]
    row = cube.merge(public.loc[[j], KEY], on=KEY).iloc[0]
    public.loc[j, "effectif_central"] = row.effectif_central
    public.loc[j, "statut_secret_effectifs"] = "publie"
    con.register("_leaky", public)
    con.execute("CREATE OR REPLACE VIEW out_indicateurs_public AS SELECT * FROM _leaky")
    leaky = outputs.audit_public(con)
    assert not leaky[f"{Y}/effectif_central"]["ok"]
    assert leaky[f"{Y}/effectif_central"]["n_sensibles_publiees"] >= 1
    assert a["n_secondaires_recalculables"] == a["n_secondaires_non_decidees"] == 0
    # and a masked cell the published ones give: the département's employment of all establishments, masked in
    # every perimeter, is the sum of its ESS and non-ESS figures shown beside it
    db.attach_tables(con, {"out_indicateurs_public": result.tables["out_indicateurs_public"]})
    public = con.execute("SELECT * FROM out_indicateurs_public").df()
    total = ((public.annee == Y) & (public.niveau == "departement") & (public.famille == "ensemble")
             & (public.nomenclature_secteur == "ensemble") & (public.classe_taille == "ensemble"))
    parts = ((public.annee == Y) & (public.niveau == "departement") & public.famille.isin(["ess", "hors_ess"])
             & (public.nomenclature_secteur == "ensemble") & (public.classe_taille == "ensemble"))
    assert total.sum() == public.perimetre.nunique()
    assert (public.loc[parts, "statut_secret_effectifs"] == "publie").all()
    public.loc[total, "effectif_central"] = np.nan
    public.loc[total, "statut_secret_effectifs"] = "secondaire"
    con.register("_masked", public)
    con.execute("CREATE OR REPLACE VIEW out_indicateurs_public AS SELECT * FROM _masked")
    masked = outputs.audit_public(con)[f"{Y}/effectif_central"]
    assert not masked["ok"] and masked["n_secondaires_recalculables"] == 1
    assert masked["n_recalculables_ou_encadrees"] == masked["n_sensibles_publiees"] == 0
    db.attach_tables(con, {"out_indicateurs_public": result.tables["out_indicateurs_public"]})


def test_the_re_audit_checks_the_protections_certificates_against_what_is_published(built):
    result, con = built
    audit = outputs.audit_public(con)[f"{Y}/effectif_central"]
    # every side proven by a certificate of the protection, checked against the re-audit's own model: no LP
    assert audit["ok"] and audit["n_certificats"] > 0 and audit["n_certificats_illisibles"] == 0
    assert audit["detail"]["n_prouvees_par_certificat"] == audit["detail"]["n_exigences"] > 0
    assert audit["detail"]["lp_groupes"] == audit["detail"]["lp_cellule"] == 0
    public = con.execute("SELECT * FROM out_indicateurs_public").df()
    cube = con.execute("SELECT * FROM out_indicateurs").df()
    certificates = con.execute("SELECT * FROM out_secret_certificats").df()
    try:
        # a secondary cell published after the protection: the certificates that moved it no longer hold, and the
        # LPs find what it gives away, as they do with no certificate at all
        for j in public.index[(public.statut_secret_effectifs == "secondaire") & (public.annee == Y)][:40]:
            leaky = public.copy()
            leaky.loc[j, "effectif_central"] = cube.merge(public.loc[[j], KEY], on=KEY).iloc[0].effectif_central
            leaky.loc[j, "statut_secret_effectifs"] = "publie"
            con.register("_leaky", leaky)
            con.execute("CREATE OR REPLACE VIEW out_indicateurs_public AS SELECT * FROM _leaky")
            found = outputs.audit_public(con)[f"{Y}/effectif_central"]
            if found["n_recalculables_ou_encadrees"]:  # (not merely a masked cell it makes recomputable)
                break
        else:
            pytest.fail("no secondary cell of the fixture protects a sensitive one")
        assert found["n_recalculables_ou_encadrees"] >= 1 and found["n_sensibles_publiees"] == 0
        assert found["detail"]["n_prouvees_par_certificat"] < audit["detail"]["n_exigences"]
        con.execute("DROP VIEW out_secret_certificats")
        without = outputs.audit_public(con)[f"{Y}/effectif_central"]
        assert without["n_certificats"] == 0
        assert without["n_recalculables_ou_encadrees"] == found["n_recalculables_ou_encadrees"]
        # certificates of another model (unknowns in another order) are not read: the LPs decide alone
        con.register("_foreign", certificates.assign(modele="0" * 32))
        con.execute("CREATE VIEW out_secret_certificats AS SELECT * FROM _foreign")
        db.attach_tables(con, {"out_indicateurs_public": result.tables["out_indicateurs_public"]})
        foreign = outputs.audit_public(con)[f"{Y}/effectif_central"]
        assert foreign["ok"] and foreign["n_certificats"] == 0 and foreign["n_certificats_illisibles"] > 0
        assert foreign["detail"]["n_prouvees_par_certificat"] == 0 and foreign["detail"]["lp_groupes"] > 0
    finally:
        db.attach_tables(con, {name: result.tables[name]
                               for name in ("out_indicateurs_public", "out_secret_certificats")})


def test_past_years_use_the_years_own_situation_when_given(tmp_path):
    # The yearly table of the core step carries each year's family, sector and perimeters: S01 was not yet an
    # association in 2024 (say a company that became one), so 2024 has no ESS establishment in 38001.
    frames = F.default_frames()
    annuel = frames["core_etablissements_annuel"]
    core = frames["core_etablissements"].set_index("siret")
    for c in ("famille_ess", "section_a21", "secteur_ess", "perimetres_inclus"):
        annuel[c] = core.loc[annuel["siret"], c].to_numpy()
    s01_2024 = (annuel["siret"] == F.siret("01", "A1")) & (annuel["annee"] == 2024)
    annuel.loc[s01_2024, ["famille_ess", "section_a21"]] = [None, "M"]
    annuel["perimetres_inclus"] = [[] if now else inside for now, inside in zip(s01_2024, annuel["perimetres_inclus"])]
    frames["core_etablissements_annuel"] = annuel.astype({"famille_ess": "string", "section_a21": "string"})
    con = _cube(tmp_path, frames=frames)
    assert _row(con, "commune", "38001", "ess", annee=2024).nb_etablissements == 0
    assert _row(con, "commune", "38001", "hors_ess", annee=2024).nb_etablissements == 3
    assert _row(con, "commune", "38001", "hors_ess", annee=2024, nomenclature_secteur="a21",
                secteur="M").nb_etablissements == 1
    assert _row(con, "commune", "38001", "ess", annee=2025).nb_etablissements == 2
    assert _reconciliation_errors(con) == []


def test_the_check_step_refuses_a_public_table_that_shows_a_sensitive_cell(built, tmp_path):
    """The re-audit runs beside the expectations (transforms/checks.py): its verdict still decides."""
    result, con = built
    params = {**F.PARAMS, "secret_passe_detail": True, "secret_processus": 1}
    report = checks.check(result.tables, params)
    assert report["audit_secret"] and all(a["ok"] for a in report["audit_secret"].values())
    assert report["cellules_recalculables"] == 0
    key = ["annee", "perimetre", "niveau", "code_territoire", "famille", "nomenclature_secteur", "secteur",
           "classe_taille"]
    public = pd.read_parquet(result.tables["out_indicateurs_public"])
    hidden = public.index[public["statut_secret_effectifs"].isin(["frequence", "dominance"])]
    assert len(hidden)
    row = public.loc[hidden[0], key]
    where = " AND ".join(f"{k} = ?" for k in key)
    true_value = con.execute(f"SELECT effectif_central FROM out_indicateurs WHERE {where}",
                             [row[k].item() if hasattr(row[k], "item") else row[k] for k in key]).fetchone()[0]
    public.loc[hidden[0], "effectif_central"] = true_value  # the sensitive figure published
    public.loc[hidden[0], "statut_secret_effectifs"] = "publie"
    leaked = tmp_path / "out_indicateurs_public.parquet"
    public.to_parquet(leaked, index=False)
    with pytest.raises(checks.CheckError, match="sensitive employment cells of the public cube are published"):
        checks.check({**result.tables, "out_indicateurs_public": str(leaked)}, params)


def test_the_figures_of_the_other_perimeters_of_the_millesime_are_compared_too(built):
    """The cube tables hold every perimeter: publishing one perimeter replaces the others' figures of the millésime
    too, so each is compared with its own publication (an adversarial test published a half-read input with exit 0
    under a perimeter never published before: nothing was compared). A perimeter the new cube lacks would lose its
    figures: they count as moved to 0."""
    from transforms import guards

    result, con = built
    params = {**F.PARAMS, "secret_processus": 1}
    theirs = checks.headline(con, {**params, "perimetre": "loi2014"})
    published = {**theirs, "nb_etablissements_ess": 2 * theirs["nb_etablissements_ess"]}
    others = [{"run_id": "R-loi", "millesime": params["millesime"], "perimetre": "loi2014", "manifeste": "/w/l.json",
               "table_publique": result.tables["out_indicateurs_public"], "headline": published},
              {"run_id": "R-x", "millesime": params["millesime"], "perimetre": "disparu", "manifeste": "/w/x.json",
               "table_publique": result.tables["out_indicateurs_public"], "headline": {"nb_etablissements_ess": 7}}]
    report = checks.check(result.tables, params, None, others)
    moves = {(m["perimetre"], m["indicateur"]): m for m in report["variations"]}
    assert set(moves) == {("loi2014", "nb_etablissements_ess"), ("disparu", "nb_etablissements_ess")}
    assert (moves["loi2014", "nb_etablissements_ess"]["variation"], moves["disparu", "nb_etablissements_ess"][
        "variation"]) == (-0.5, -1.0)
    # the public table replaced is the loi2014 publication's (this perimeter has none of the millésime): the same
    assert report["secret_publication_precedente"]["n_statuts_differents"] == 0
    assert report["secret_publication_precedente"]["run_id"] == "R-loi"
    findings = guards.check_indicators(report)
    assert [f.regle for f in findings] == ["variation_max", "variation_max"]
    assert findings[0].message.startswith("nb_etablissements_ess moved by -50.0% since the publication of run R-loi "
                                          f"(millésime {params['millesime']}, perimeter loi2014)")
    assert findings[0].fichier == "/w/l.json" and findings[1].fichier == "/w/x.json"
