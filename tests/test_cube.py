"""The indicator cube and its public version, on hand-built fixtures (tests/cube_fixtures.py: figures by hand)."""

from __future__ import annotations

import collections
import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

import cube_fixtures as F
from ess import db
from ess.errors import UserError
from transforms import columns as cols
from transforms import confidentiality as conf
from transforms import outputs

TOTAL = {"nomenclature_secteur": "ensemble", "secteur": "ensemble", "classe_taille": "ensemble"}
KEY = ["niveau", "code_territoire", "famille", "nomenclature_secteur", "secteur", "classe_taille", "annee",
       "perimetre"]
MEASURES = ["nb_etablissements", "nb_etablissements_employeurs", "effectif_bas", "effectif_central",
            "effectif_haut"]


def _cube(tmp_path, frames=None, params=None, territoires=True):
    frames = frames if frames is not None else F.default_frames()
    if not territoires:
        frames = {k: v for k, v in frames.items() if k != "staging_territoires"}
    tables = F.write_tables(tmp_path / "in", frames)
    con = db.connect()
    db.attach_tables(con, tables)
    outputs.build_cube(con, {**F.PARAMS, **(params or {})}, has_territoires=territoires)
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
    # insee perimeter, so hors_ess); S11 is closed.
    ess = _row(cube, "commune", "38001", "ess")
    assert (ess.nb_etablissements, ess.nb_etablissements_employeurs) == (2, 2)
    assert (ess.effectif_bas, ess.effectif_central, ess.effectif_haut) == (11, 15.5, 21)
    hors = _row(cube, "commune", "38001", "hors_ess")
    assert (hors.nb_etablissements, hors.effectif_bas, hors.effectif_central, hors.effectif_haut) == (2, 9, 11, 14)
    ens = _row(cube, "commune", "38001", "ensemble")
    assert (ens.nb_etablissements, ens.effectif_bas, ens.effectif_central, ens.effectif_haut) == (4, 20, 26.5, 35)
    # shares: low = 11 / (11 + (35 - 21)), central = 15.5 / 26.5, high = 21 / (21 + (20 - 11))
    assert ess.part_ess_effectif_bas == pytest.approx(11 / 25)
    assert ess.part_ess_effectif_central == pytest.approx(15.5 / 26.5)
    assert ess.part_ess_effectif_haut == pytest.approx(21 / 30)
    assert ess.part_ess_effectif_bas <= ess.part_ess_effectif_central <= ess.part_ess_effectif_haut
    assert ess.part_ess_etablissements_employeurs == pytest.approx(0.5)
    assert ens.part_ess_effectif_central == 1.0
    # per 1000 inhabitants (population 1000)
    assert ess.population == 1000
    assert ess.etablissements_pour_1000_hab == pytest.approx(2.0)
    assert ess.effectif_pour_1000_hab == pytest.approx(15.5)
    # contributors: both A1 establishments employ; one legal unit holds all 15.5
    assert (ess.nb_contributeurs, ess.effectif_max_contributeur) == (2, 14)
    assert (ess.nb_unites_legales_contributrices, ess.effectif_max_unite_legale) == (1, 15.5)
    assert ess.date_reference == pd.Timestamp(dt.date(2026, 1, 1))
    assert "SIRENE stock 2026-01" in ess.sources and "URSSAF 2024" in ess.sources and "COG 2026" in ess.sources


def test_departement_totals_and_share_range_by_hand(cube):
    ens = _row(cube, "departement", "38", "ensemble")
    # 10 active establishments, 8 employers (S03 is NN, S08 has no band)
    assert (ens.nb_etablissements, ens.nb_etablissements_employeurs) == (10, 8)
    assert (ens.effectif_bas, ens.effectif_central, ens.effectif_haut) == (45, 63.5, 93)
    ess = _row(cube, "departement", "38", "ess")
    assert (ess.nb_etablissements, ess.effectif_bas, ess.effectif_central, ess.effectif_haut) == (5, 34, 49.5, 75)
    assert ess.part_ess_effectif_bas == pytest.approx(34 / (34 + 93 - 75))
    assert ess.part_ess_effectif_haut == pytest.approx(75 / (75 + 45 - 34))
    assert ess.population == 3500
    assert ess.libelle_territoire == "Isère"
    # the excluded association (S09, NAF 94.91) is counted outside the ESS, in its own commune
    assert _row(cube, "commune", "38003", "hors_ess").nb_etablissements == 2
    assert _row(cube, "commune", "38003", "ess").nb_etablissements == 1


def test_families_sectors_and_sizes_by_hand(cube):
    assert _row(cube, "departement", "38", "associations").nb_etablissements == 3
    assert _row(cube, "departement", "38", "cooperatives").effectif_central == 30
    k = _row(cube, "departement", "38", "ess", nomenclature_secteur="a21", secteur="K")
    assert (k.nb_etablissements, k.effectif_central) == (2, 34)
    assert k.libelle_secteur == "Activités financières et d'assurance"
    unknown = _row(cube, "commune", "38003", "hors_ess", nomenclature_secteur="a21", secteur="non_renseigne")
    assert unknown.nb_etablissements == 1
    small = _row(cube, "departement", "38", "ensemble", classe_taille="1_9")
    assert (small.nb_etablissements, small.effectif_central) == (6, 19.5)
    assert _row(cube, "departement", "38", "hors_ess", classe_taille="non_renseigne").nb_etablissements == 1
    # no sector × size cross cells
    crossed = cube.execute("SELECT count(*) FROM out_indicateurs WHERE secteur <> 'ensemble' "
                           "AND classe_taille <> 'ensemble'").fetchone()[0]
    assert crossed == 0


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


def test_past_years_counts_only(cube):
    # 2024: S01 (ESS), S06, S11 (closed since) all in 38001; 2025: S01, S03 (ESS), S06
    r = _row(cube, "commune", "38001", "ensemble", annee=2024)
    assert r.nb_etablissements == 3
    assert _row(cube, "commune", "38001", "ess", annee=2024).nb_etablissements == 1
    assert _row(cube, "departement", "38", "ess", annee=2025).nb_etablissements == 2
    for m in ["nb_etablissements_employeurs", "effectif_bas", "effectif_central", "effectif_haut",
              "part_ess_effectif_central", "nb_contributeurs", "effectif_max_unite_legale"]:
        assert pd.isna(r[m]), m
    assert r.date_reference == pd.Timestamp(dt.date(2024, 12, 31))
    assert "historique" in r.sources
    # size classes exist at the millésime only
    sizes = cube.execute("SELECT DISTINCT classe_taille FROM out_indicateurs WHERE annee < 2026").fetchall()
    assert sizes == [("ensemble",)]
    years = [y for (y,) in cube.execute("SELECT DISTINCT annee FROM out_indicateurs ORDER BY 1").fetchall()]
    assert years == [2024, 2025, 2026]


def test_zero_totals_for_every_territory_and_year(cube):
    # 38002 has no active establishment in 2024: its totals are there, at 0 (employment unknown in the past)
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
    sc = _row(con, "commune", "38001", "societes_commerciales_ess", perimetre="loi2014")
    assert (sc.nb_etablissements, sc.effectif_central) == (1, 4)
    assert _row(con, "commune", "38001", "ess", perimetre="insee").nb_etablissements == 2


def test_unknown_perimeter_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="must include the run's perimeter 'cress'"):
        _cube(tmp_path, params={"perimetre": "cress"})
    with pytest.raises(UserError, match="perimetre_<name>"):
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
    compare(total[total.annee == F.ANNEE], sizes, keys, "sizes -> ensemble")
    return errors


def test_totals_add_up(cube):
    assert _reconciliation_errors(cube) == []


def test_totals_add_up_on_a_bigger_stock(tmp_path):
    frames = F.default_frames()
    frames["core_etablissements"] = F.core_etablissements(F.many_etablissements())
    frames["core_etablissements_annuel"] = F.core_etablissements_annuel([], F.many_etablissements())
    con = _cube(tmp_path, frames=frames, params={"perimetres_cube": ["insee", "flag"]})
    assert _reconciliation_errors(con) == []
    assert _row(con, "departement", "38", "ensemble").nb_etablissements == 72


def test_columns_match_their_definitions(cube):
    got = cube.execute("DESCRIBE out_indicateurs").fetchall()
    assert [(r[0], r[1]) for r in got] == [(c.name, c.type) for c in cols.columns("out_indicateurs")]
    names = cols.names("core_etablissements")
    assert {"siret", "famille_ess", "perimetre_insee", "effectif_central"} <= set(names)
    assert all(c.description for c in cols.columns("out_indicateurs_public"))


# --- the public cube --------------------------------------------------------------------------------------------


def _bigger_frames():
    frames = F.default_frames()
    rows = F.many_etablissements()
    frames["core_etablissements"] = F.core_etablissements(rows)
    frames["core_etablissements_annuel"] = F.core_etablissements_annuel([(r[0], 2025) for r in rows[::2]], rows)
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


def test_past_years_public_as_totals_by_default(tmp_path, data_dir):
    tables = F.write_tables(tmp_path / "in", _bigger_frames())
    result = outputs.build_outputs(tables, F.PARAMS, tmp_path / "out")
    con = db.connect()
    db.attach_tables(con, result.tables)
    # the same cells, except the sector and size detail of past years (internal only by default)
    expected = con.execute("SELECT count(*) FROM out_indicateurs WHERE (annee = 2026 AND niveau <> 'commune') "
                           "OR (secteur = 'ensemble' AND classe_taille = 'ensemble')").fetchone()[0]
    assert result.stats["out_indicateurs_public"]["lignes"] == expected
    assert all(a["ok"] for a in outputs.audit_public(con).values())


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
    assert df["statut_secret_etablissements"].isna().all()
    assert df["nb_etablissements"].notna().all()
    cube = con.execute("SELECT * FROM out_indicateurs WHERE niveau <> 'commune' OR secteur = 'ensemble'").df()
    merged = cube.merge(df, on=KEY, suffixes=("", "_pub"))
    assert (merged["nb_etablissements"] == merged["nb_etablissements_pub"]).all()


def test_suppressed_cells_are_null_with_a_reason_never_zero(built):
    _, con = built
    df = con.execute("SELECT * FROM out_indicateurs_public").df()
    assert set(df.statut_secret_effectifs.dropna()) <= {"frequence", "dominance", "secondaire", "non_diffuse"}
    hidden_e = df.statut_secret_effectifs.notna()
    for c in ("effectif_bas", "effectif_central", "effectif_haut", "effectif_pour_1000_hab",
              "part_ess_effectif_central"):
        assert df.loc[hidden_e, c].isna().all(), c
    current = df.annee == F.ANNEE
    assert df.loc[~hidden_e & current, "effectif_central"].notna().all()
    # past years carry counts only, without an employment status
    assert df.loc[~current, "statut_secret_effectifs"].isna().all()
    # employment by sector or size: the département only
    detail = current & ((df.nomenclature_secteur != "ensemble") | (df.classe_taille != "ensemble"))
    assert (df.loc[detail & (df.niveau != "departement"), "statut_secret_effectifs"] == "non_diffuse").all()
    assert not (df.loc[detail & (df.niveau == "departement"), "statut_secret_effectifs"] == "non_diffuse").any()
    assert (hidden_e & current & (df.statut_secret_effectifs != "non_diffuse")).any()


def test_primary_rules_on_legal_units_and_every_bound(built):
    _, con = built
    df = con.execute(
        f"""SELECT i.*, p.statut_secret_effectifs AS sf
           FROM out_indicateurs i JOIN out_indicateurs_public p USING ({", ".join(KEY)})
           WHERE i.annee = {F.ANNEE} AND p.statut_secret_effectifs IS DISTINCT FROM 'non_diffuse'"""
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
    assert df.loc[df.nb_etablissements == 0, "sf"].isna().all()


def test_one_cell_one_status_across_perimeters(built):
    _, con = built
    df = con.execute(f"SELECT * FROM out_indicateurs_public WHERE annee = {F.ANNEE}").df()
    key = ["niveau", "code_territoire", "nomenclature_secteur", "secteur", "classe_taille"]
    ens = df[df.famille == "ensemble"].groupby(key)["statut_secret_effectifs"].agg(
        lambda s: len(set(s.fillna("publie"))))
    assert (ens == 1).all()
    # in this stock insee, loi2014 and flag hold the same establishments: every family cell is one cell
    fam = df[df.famille.isin(["associations", "cooperatives", "ess", "hors_ess"])]
    n_status = fam.groupby(key + ["famille"])["statut_secret_effectifs"].agg(lambda s: len(set(s.fillna("publie"))))
    assert (n_status == 1).all()


def test_shares_hidden_when_their_denominator_is(built):
    _, con = built
    df = con.execute("SELECT * FROM out_indicateurs_public").df()
    key = ["niveau", "code_territoire", "nomenclature_secteur", "secteur", "classe_taille", "annee", "perimetre"]
    ens = df[df.famille == "ensemble"][key + ["statut_secret_effectifs", "effectif_central"]].rename(
        columns={"statut_secret_effectifs": "den", "effectif_central": "den_value"})
    m = df.merge(ens, on=key)
    den_hidden = m.den.notna() & m.statut_secret_effectifs.isna()
    assert (m.loc[den_hidden, "statut_secret_part_effectifs"] == "denominateur").all()
    assert m.loc[den_hidden, "part_ess_effectif_central"].isna().all()
    ok = m.den.isna() & m.statut_secret_effectifs.isna() & (m.annee == F.ANNEE) & (m.den_value > 0)
    assert ok.any() and m.loc[ok, "part_ess_effectif_central"].notna().all()


def test_audit_public_helper(built):
    result, con = built
    audit = outputs.audit_public(con)
    assert set(audit) == {f"{F.ANNEE}/{m}" for m in ("effectif_bas", "effectif_central", "effectif_haut")}
    for a in audit.values():
        assert a["ok"] and a["n_recalculables_ou_encadrees"] == 0 and a["n_sensibles_publiees"] == 0
        assert a["n_non_auditees"] == 0 and a["n_sensibles"] > 0
    stats = result.stats["out_indicateurs_public"]["par_annee"][str(F.ANNEE)]
    assert all(s["audit"]["ok"] for s in stats["lp"].values())
    # the audit does detect a leak: publish one sensitive cell's employment
    public = con.execute("SELECT * FROM out_indicateurs_public").df()
    cube = con.execute("SELECT * FROM out_indicateurs").df()
    j = public.index[public.statut_secret_effectifs == "frequence"][0]
    row = cube.merge(public.loc[[j], KEY], on=KEY).iloc[0]
    public.loc[j, ["effectif_central", "effectif_bas", "effectif_haut"]] = [row.effectif_central, row.effectif_bas,
                                                                           row.effectif_haut]
    public.loc[j, "statut_secret_effectifs"] = None
    con.register("_leaky", public)
    con.execute("CREATE OR REPLACE VIEW out_indicateurs_public AS SELECT * FROM _leaky")
    leaky = outputs.audit_public(con)
    assert not leaky[f"{F.ANNEE}/effectif_central"]["ok"]
    assert leaky[f"{F.ANNEE}/effectif_central"]["n_sensibles_publiees"] >= 1
    db.attach_tables(con, {"out_indicateurs_public": result.tables["out_indicateurs_public"]})


def test_past_years_use_the_years_own_situation_when_given(tmp_path):
    # The yearly table of the core step carries each year's family, sector and perimeters: S01 was not yet an
    # association in 2024 (say a company that became one), so 2024 has no ESS establishment in 38001.
    frames = F.default_frames()
    annuel = frames["core_etablissements_annuel"]
    core = frames["core_etablissements"].set_index("siret")
    for c in ("famille_ess", "section_a21", "secteur_ess", "perimetre_insee", "perimetre_loi2014",
              "perimetre_flag"):
        annuel[c] = core.loc[annuel["siret"], c].to_numpy()
    s01_2024 = (annuel["siret"] == F.siret("01", "A1")) & (annuel["annee"] == 2024)
    annuel.loc[s01_2024, ["famille_ess", "perimetre_insee", "section_a21"]] = [None, False, "M"]
    frames["core_etablissements_annuel"] = annuel.astype({"famille_ess": "string", "section_a21": "string"})
    con = _cube(tmp_path, frames=frames)
    assert _row(con, "commune", "38001", "ess", annee=2024).nb_etablissements == 0
    assert _row(con, "commune", "38001", "hors_ess", annee=2024).nb_etablissements == 3
    assert _row(con, "commune", "38001", "hors_ess", annee=2024, nomenclature_secteur="a21",
                secteur="M").nb_etablissements == 1
    assert _row(con, "commune", "38001", "ess", annee=2025).nb_etablissements == 1
    assert _reconciliation_errors(con) == []
